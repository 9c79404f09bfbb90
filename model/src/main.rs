//! `backup-model`: runs the exhaustive model check of one design within chosen bounds, or
//! serves stateright's Explorer for it on a loopback address.

use backup_coordinator::config::FaultKinds;
use backup_coordinator::Variant;
use backup_model::{default_profiles, profile, BackupModel, CheckOptions, Profile, Search};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "backup-model",
    version,
    about = "Exhaustive model check of the backup coordinator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Explore every reachable state within the bounds and check every property.
    /// Exit status: 0 all hold, 1 a property is violated, a case is never reached or the
    /// search was cut short, 2 bad usage.
    Check {
        #[command(flatten)]
        bounds: Bounds,
        /// Search order: dfs (honours symmetry, little memory) or bfs.
        #[arg(long, value_enum, default_value = "dfs")]
        search: SearchArg,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Turn symmetry reduction off (it is on by default; stateright's BFS ignores it).
        #[arg(long)]
        no_symmetry: bool,
        /// Stop each search after this many seconds (the report then says it is incomplete).
        #[arg(long)]
        timeout: Option<u64>,
        /// Also write the reports as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Serve stateright's Explorer (a web UI to walk the state space) for the chosen design
    /// and bounds. Only loopback addresses are accepted.
    Explore {
        #[command(flatten)]
        bounds: Bounds,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SearchArg {
    Bfs,
    Dfs,
}

/// The design and the bounds. Without any bound flag every default profile is checked; bound
/// flags change the profile given with --profile (concurrency if none).
#[derive(Args)]
struct Bounds {
    /// Design: pg91, pg91-option2, pg96, pg15, recommended, recommended-option2.
    #[arg(long, default_value = "recommended")]
    variant: Variant,
    /// Start from this profile: concurrency (two SQL sessions and a WAL sender, no faults) or
    /// faults (a SQL session and a WAL sender with a fault, a crash and a page write).
    #[arg(long)]
    profile: Option<String>,
    /// SQL sessions.
    #[arg(long)]
    sql: Option<u8>,
    /// WAL senders.
    #[arg(long)]
    walsenders: Option<u8>,
    /// Backups each session may start.
    #[arg(long)]
    backups: Option<u32>,
    /// Crashes.
    #[arg(long)]
    crashes: Option<u32>,
    /// Faults in all (errors, cancels, disconnects).
    #[arg(long)]
    faults: Option<u32>,
    /// Page writes in all.
    #[arg(long)]
    page_writes: Option<u32>,
    /// Pages.
    #[arg(long)]
    pages: Option<u8>,
    /// Page-writing backends.
    #[arg(long)]
    writers: Option<u8>,
    /// Checkpoints that start on their own.
    #[arg(long)]
    timed_checkpoints: Option<u32>,
    /// WAL switches requested by someone else.
    #[arg(long)]
    wal_switches: Option<u32>,
    /// Turn full_page_writes on (it is off so that forcing is what protects backups).
    #[arg(long)]
    full_page_writes: bool,
    /// Turn archive_mode off (no archive wait at stop).
    #[arg(long)]
    no_archive: bool,
    /// Do not offer exclusive backups.
    #[arg(long)]
    no_exclusive: bool,
    /// Offer every label kind (too long, newline, carriage return, NUL), not only plain ones.
    #[arg(long)]
    hostile_labels: bool,
    /// Offer commands a careful client would not send.
    #[arg(long)]
    client_misuse: bool,
    /// Only these fault kinds (comma-separated: errors,cancels,disconnects).
    #[arg(long, value_delimiter = ',')]
    fault_kinds: Option<Vec<String>>,
}

impl Bounds {
    fn overridden(&self) -> bool {
        self.sql.is_some()
            || self.walsenders.is_some()
            || self.backups.is_some()
            || self.crashes.is_some()
            || self.faults.is_some()
            || self.page_writes.is_some()
            || self.pages.is_some()
            || self.writers.is_some()
            || self.timed_checkpoints.is_some()
            || self.wal_switches.is_some()
            || self.full_page_writes
            || self.no_archive
            || self.no_exclusive
            || self.hostile_labels
            || self.client_misuse
            || self.fault_kinds.is_some()
    }

    /// The profiles to check: every default profile, or one (possibly changed by flags).
    fn profiles(&self) -> Result<Vec<Profile>, String> {
        if self.profile.is_none() && !self.overridden() {
            return Ok(default_profiles().to_vec());
        }
        let name = self.profile.as_deref().unwrap_or("concurrency");
        let base = profile(name)
            .ok_or_else(|| format!("unknown profile {name:?}: expected concurrency or faults"))?;
        let mut c = base.config;
        c.sql_sessions = self.sql.unwrap_or(c.sql_sessions);
        c.walsenders = self.walsenders.unwrap_or(c.walsenders);
        c.backups_per_session = self.backups.unwrap_or(c.backups_per_session);
        c.crashes = self.crashes.unwrap_or(c.crashes);
        c.faults = self.faults.unwrap_or(c.faults);
        c.page_writes = self.page_writes.unwrap_or(c.page_writes);
        c.pages = self.pages.unwrap_or(c.pages);
        c.writers = self.writers.unwrap_or(c.writers);
        c.timed_checkpoints = self.timed_checkpoints.unwrap_or(c.timed_checkpoints);
        c.wal_switches = self.wal_switches.unwrap_or(c.wal_switches);
        c.full_page_writes |= self.full_page_writes;
        c.archive_mode &= !self.no_archive;
        c.exclusive_backups &= !self.no_exclusive;
        c.hostile_labels |= self.hostile_labels;
        c.client_misuse |= self.client_misuse;
        if let Some(kinds) = &self.fault_kinds {
            let mut k = FaultKinds::NONE;
            for kind in kinds {
                match kind.as_str() {
                    "errors" => k.errors = true,
                    "cancels" => k.cancels = true,
                    "disconnects" => k.disconnects = true,
                    other => {
                        return Err(format!(
                            "unknown fault kind {other:?}: expected errors, cancels or disconnects"
                        ))
                    }
                }
            }
            c.fault_kinds = k;
        }
        c.validate().map_err(|e| e.to_string())?;
        let name = if self.overridden() {
            "custom"
        } else {
            base.name
        };
        Ok(vec![Profile {
            name,
            purpose: base.purpose,
            config: c,
        }])
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("backup-model: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Check {
            bounds,
            search,
            threads,
            no_symmetry,
            timeout,
            json,
        } => {
            let options = CheckOptions {
                search: match search {
                    SearchArg::Bfs => Search::Bfs,
                    SearchArg::Dfs => Search::Dfs,
                },
                threads,
                symmetry: !no_symmetry,
                timeout: timeout.map(Duration::from_secs),
            };
            let mut reports = Vec::new();
            let mut failed = false;
            for profile in bounds.profiles()? {
                let model =
                    BackupModel::new(bounds.variant, profile.config).map_err(|e| e.to_string())?;
                let report = model.check(options).map_err(|e| e.to_string())?;
                println!("== profile {}: {}", profile.name, profile.purpose);
                print!("{}", report.render_text());
                failed |= report.failures().next().is_some() || !report.complete;
                reports.push(serde_json::json!({ "profile": profile.name, "report": report }));
            }
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&reports).map_err(|e| e.to_string())?;
                write_atomically(&path, &text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Explore { bounds, addr } => {
            if !addr.ip().is_loopback() {
                return Err(format!(
                    "{addr} is not a loopback address: the Explorer is served on loopback only"
                ));
            }
            let profiles = bounds.profiles()?;
            let [profile] = profiles.as_slice() else {
                return Err(
                    "choose the bounds to explore with --profile (or bound flags)".to_string(),
                );
            };
            let model =
                BackupModel::new(bounds.variant, profile.config).map_err(|e| e.to_string())?;
            eprintln!(
                "serving the Explorer for {} on http://{addr}/ (Ctrl-C to stop)",
                bounds.variant
            );
            use stateright::Model;
            model.checker().serve(addr);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
