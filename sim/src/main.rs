//! `backup-check`: the command line of the backup-coordinator harness. `check` is the CI gate;
//! `model`, `sim` and `replay` run one engine each; `variants` lists the designs; `bench`
//! measures the engines. Exit status: 0 all hold, 1 a safety violation, 3 a liveness failure,
//! 4 nothing checked, 5 a stale corpus entry,
//! 2 bad usage or input, 130 interrupted.

use backup_coordinator::config::FaultKinds;
use backup_coordinator::{Config, Design, Variant};
use backup_model::{
    default_profiles, incremental, profile, thorough_profiles, BackupModel, CheckOptions, Profile,
    Search, Verdict,
};
use backup_sim::campaign::{run_campaign, CampaignOptions, CampaignReport, SeedRange, Shard};
use backup_sim::gate::{render_campaign, run_gate, save_model_counterexamples, shows, GateOptions};
use backup_sim::kind::ActionKind;
use backup_sim::output;
use backup_sim::profile::{default_config, Weights, STEPS_DEFAULT};
use backup_sim::replay_file::{write_atomically, ReplayFile};
use backup_sim::run::{FailureClass, RunSpec};
use backup_sim::shrink::REPLAYS_MAX;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set by Ctrl-C: campaigns stop taking new seeds.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

const EXIT_SAFETY: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_LIVENESS: u8 = 3;

const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "backup-check",
    version,
    about = "Checks a concurrent base-backup coordinator (PostgreSQL's, in every design it shipped) with an exhaustive model, a seeded simulator and replayable counterexamples",
    after_help = "Exit status: 0 every property holds (check: nothing but the variant's reviewed known findings); 1 a safety property is violated (or a case the model's bounds never reach, or a known finding changed or gone); 3 a liveness failure (a backup never ends once faults stop); 2 bad usage or input; 4 nothing was checked; 5 a stale corpus entry (it no longer replays); 130 interrupted."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The CI gate: replay the regression corpus, check the model of the variant at the
    /// default bounds, then run the simulator over a seed range. Prints a one-screen summary
    /// and saves every failure as a replay file.
    Check(CheckArgs),
    /// Exhaustive model check of one variant within chosen bounds (every default profile if
    /// no bound is given), or its Explorer on a loopback address.
    Model(ModelArgs),
    /// Seeded simulation: one run per seed, faults then a liveness phase, failures shrunk and
    /// saved.
    Sim(SimArgs),
    /// Re-run a saved failure (from the simulator or the model) through the core and print
    /// its trace. Exit 0 if it still shows the failure it records, 1 if it does not.
    Replay(ReplayArgs),
    /// Run every seeded historical bug (b1 .. b19) through the model and the
    /// simulator, and the recommended designs too: a table of what caught what. Exit 0 only if
    /// every bug is caught and every recommended design passes.
    Mutants(MutantsArgs),
    /// List the protocol variants (designs, then seeded bugs), one line each; or show one
    /// design's rule switches and step plan as a design file to copy (`--show`); or print the
    /// step table (`--steps`).
    Variants(VariantsArgs),
    /// Compare two designs for a review: both through the model at the same bounds and the
    /// simulator over the same seeds, side by side (state counts, every property's verdict,
    /// what one violates and the other does not, with the shortest counterexample and where
    /// the other design's run of it first differs). Exit 0 when B violates nothing A does
    /// not, 1 otherwise.
    Diff(DiffArgs),
    /// Measure the engines on this machine: model states per second and state counts at the
    /// default bounds, simulator steps per second.
    Bench(BenchArgs),
    /// What the gate catches of a design's neighbours: every design that differs from it in
    /// one thing (a rule switch set to another value, a plan step dropped, two neighbouring
    /// steps swapped, the retry step moved), each checked by the gate stage by stage until a
    /// stage finds something. Exit 0 when every change is caught or reviewed as equivalent
    /// (equivalent-designs.toml), 1 when one survives unexplained or a reviewed entry is
    /// stale, 2 when a stage could not check a change.
    Sweep(SweepArgs),
}

#[derive(Args)]
struct SweepArgs {
    /// The base design: a variant's name or a design file. `--design` is the same.
    #[arg(long, visible_alias = "design", default_value = "recommended", value_parser = parse_variant)]
    variant: Variant,
    /// Only the changes whose name contains this text (`rules.`, `plan.stop`, `drop`...).
    #[arg(long)]
    only: Option<String>,
    /// The simulator stage's seeds, A..B (the gate's default).
    #[arg(long, default_value = "0..2000")]
    seeds: SeedRange,
    /// Skip the simulator stage (the model's profiles only).
    #[arg(long)]
    no_sim: bool,
    /// The reviewed equivalent survivors (default: ./equivalent-designs.toml, else the one in
    /// the source tree).
    #[arg(long)]
    equivalent: Option<PathBuf>,
    /// Where each change's design file, report and counterexamples are written.
    #[arg(long, default_value = "backup-check-sweep")]
    out: PathBuf,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No line per change on standard error (shown only on a terminal anyway).
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args)]
struct CheckArgs {
    /// The variant under test (see `backup-check variants`),
    /// or a design file (TOML; README, "Reviewing a protocol change"). `--design` is the same.
    #[arg(long, visible_alias = "design", default_value = "recommended", value_parser = parse_variant)]
    variant: Variant,
    /// Simulator seeds, A..B (A up to B-1) [default: 0..2000, with --thorough 0..10000].
    #[arg(long)]
    seeds: Option<SeedRange>,
    /// Simulator fault-phase steps per seed.
    #[arg(long, default_value_t = STEPS_DEFAULT)]
    steps: u32,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Also the model's thorough profile (concurrency-fault: the three racing sessions with a
    /// fault), which does not fit the gate's minute, and five times the simulator seeds: about
    /// three minutes on 2 cores (README, "Thorough bounds").
    #[arg(long)]
    thorough: bool,
    /// Write the machine-readable report here (JSON).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where failures are saved as replay files.
    #[arg(long, default_value = "backup-check-failures")]
    out: PathBuf,
    /// The regression corpus (default: ./regressions, else the one in the source tree).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Skip the regression corpus.
    #[arg(long)]
    no_corpus: bool,
    /// Skip the model stage.
    #[arg(long)]
    no_model: bool,
    /// Check only this model profile (repeatable; default: every profile: concurrency,
    /// faults, pages, standby, clients, lifecycle, concurrency-crash, and the incremental ones
    /// for a design that has incremental backups; a thorough profile runs when named).
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
    /// Skip the simulator stage.
    #[arg(long)]
    no_sim: bool,
    /// The reviewed known findings (default: ./expected-findings.toml, else the one in the
    /// source tree): the gate passes on exactly these.
    #[arg(long)]
    expected: Option<PathBuf>,
    /// Use no known findings: every finding fails the gate.
    #[arg(long, conflicts_with = "expected")]
    no_expected: bool,
    /// Run every simulator seed on the configuration as given (by default every 8th seed runs
    /// it as a standby on timeline 2).
    #[arg(long)]
    no_standby_seeds: bool,
    /// The simulator's bounds (the model profiles keep theirs).
    #[command(flatten)]
    bounds: BoundFlags,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// Bounds and settings shared by `model` and `sim`; each flag overrides the base
/// configuration (the model's profile, or the simulator's defaults).
#[derive(Args, Clone)]
struct BoundFlags {
    /// SQL sessions.
    #[arg(long)]
    sql: Option<u8>,
    /// WAL senders.
    #[arg(long)]
    walsenders: Option<u8>,
    /// `replication=database` sessions (SQL backup functions and BASE_BACKUP in one session).
    #[arg(long)]
    replication_sessions: Option<u8>,
    /// Queries whose JIT compilation registers an exit callback (SQL sessions).
    #[arg(long)]
    jit_queries: Option<u32>,
    /// The cluster is a standby in recovery (backups taken from it; no page writes), its
    /// primary running with full_page_writes on (with it off, a standby refuses every start:
    /// "WAL generated with full_page_writes=off was replayed").
    #[arg(long)]
    standby: bool,
    /// Times the standby's primary turns full_page_writes off while it runs (with
    /// `--standby`; default 1 there): a backup running across it fails at its stop ("WAL
    /// generated with full_page_writes=off was replayed during online backup").
    #[arg(long)]
    primary_fpw_offs: Option<u32>,
    /// The timeline the cluster runs on.
    #[arg(long)]
    timeline: Option<u32>,
    /// Backups each session may start.
    #[arg(long)]
    backups: Option<u32>,
    /// Crashes (each followed by restart and crash recovery).
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
    /// Checkpoints that start on their own (timed).
    #[arg(long)]
    timed_checkpoints: Option<u32>,
    /// WAL switches requested by someone else.
    #[arg(long)]
    wal_switches: Option<u32>,
    /// Times other backends' WAL fills a segment up to one backup-end record's room before
    /// its end (segment boundaries).
    #[arg(long)]
    wal_fills: Option<u32>,
    /// Fast shutdowns (each: terminations, the shutdown checkpoint, a clean restart).
    #[arg(long)]
    shutdowns: Option<u32>,
    /// OS crashes (power loss: unflushed WAL and files not made durable are lost, at worst).
    #[arg(long)]
    os_crashes: Option<u32>,
    /// Turn full_page_writes on (it is off so that forcing is what protects backups).
    #[arg(long)]
    full_page_writes: bool,
    /// Turn archive_mode off (no archive wait at stop).
    #[arg(long)]
    no_archive: bool,
    /// Do not offer exclusive backups.
    #[arg(long)]
    no_exclusive: bool,
    /// Offer every label kind (1024 bytes, too long, newline, carriage return, NUL).
    #[arg(long)]
    hostile_labels: bool,
    /// Commands each session's client may send, refused or not (every command is offered in
    /// every state while this lasts; the stop a careful client owes is always offered).
    #[arg(long)]
    commands: Option<u32>,
    /// Only these fault kinds (comma-separated: errors,cancels,disconnects).
    #[arg(long, value_delimiter = ',')]
    fault_kinds: Option<Vec<String>>,
}

impl BoundFlags {
    fn any(&self) -> bool {
        self.sql.is_some()
            || self.walsenders.is_some()
            || self.replication_sessions.is_some()
            || self.jit_queries.is_some()
            || self.standby
            || self.primary_fpw_offs.is_some()
            || self.timeline.is_some()
            || self.backups.is_some()
            || self.crashes.is_some()
            || self.faults.is_some()
            || self.page_writes.is_some()
            || self.pages.is_some()
            || self.writers.is_some()
            || self.timed_checkpoints.is_some()
            || self.wal_switches.is_some()
            || self.wal_fills.is_some()
            || self.shutdowns.is_some()
            || self.os_crashes.is_some()
            || self.full_page_writes
            || self.no_archive
            || self.no_exclusive
            || self.hostile_labels
            || self.commands.is_some()
            || self.fault_kinds.is_some()
    }

    fn apply(&self, base: Config) -> Result<Config, String> {
        let mut c = base;
        c.sql_sessions = self.sql.unwrap_or(c.sql_sessions);
        c.walsenders = self.walsenders.unwrap_or(c.walsenders);
        c.replication_sessions = self.replication_sessions.unwrap_or(c.replication_sessions);
        c.jit_queries = self.jit_queries.unwrap_or(c.jit_queries);
        c.standby |= self.standby;
        if c.standby && self.page_writes.is_none() {
            c.page_writes = 0;
        }
        if self.standby {
            c.primary_fpw_offs = 1;
        }
        c.primary_fpw_offs = self.primary_fpw_offs.unwrap_or(c.primary_fpw_offs);
        if let Some(timeline) = self.timeline {
            c.timeline = backup_coordinator::lsn::TimeLineId(timeline);
        }
        c.backups_per_session = self.backups.unwrap_or(c.backups_per_session);
        c.crashes = self.crashes.unwrap_or(c.crashes);
        c.faults = self.faults.unwrap_or(c.faults);
        c.page_writes = self.page_writes.unwrap_or(c.page_writes);
        c.pages = self.pages.unwrap_or(c.pages);
        c.writers = self.writers.unwrap_or(c.writers);
        c.timed_checkpoints = self.timed_checkpoints.unwrap_or(c.timed_checkpoints);
        c.wal_switches = self.wal_switches.unwrap_or(c.wal_switches);
        c.wal_fills = self.wal_fills.unwrap_or(c.wal_fills);
        c.shutdowns = self.shutdowns.unwrap_or(c.shutdowns);
        c.os_crashes = self.os_crashes.unwrap_or(c.os_crashes);
        c.full_page_writes |= self.full_page_writes || self.standby;
        c.archive_mode &= !self.no_archive;
        c.exclusive_backups &= !self.no_exclusive;
        c.hostile_labels |= self.hostile_labels;
        c.commands_per_session = self.commands.unwrap_or(c.commands_per_session);
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
        c.validate().map_err(|e| format!("invalid bounds: {e}"))?;
        Ok(c)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum SearchArg {
    Bfs,
    Dfs,
}

#[derive(Args)]
struct ModelArgs {
    /// The variant (see `backup-check variants`),
    /// or a design file (TOML; README, "Reviewing a protocol change"). `--design` is the same.
    #[arg(long, visible_alias = "design", default_value = "recommended", value_parser = parse_variant)]
    variant: Variant,
    /// Start from this profile (bound flags then change it): concurrency, faults, pages,
    /// standby, clients, lifecycle or concurrency-crash (`backup-check check` lists what each
    /// holds; concurrency-fault, the thorough one, also). Without a profile or bound flags,
    /// every default profile is checked.
    #[arg(long)]
    profile: Option<String>,
    #[command(flatten)]
    bounds: BoundFlags,
    /// Search order: dfs (honours symmetry, little memory) or bfs.
    #[arg(long, value_enum, default_value = "dfs")]
    search: SearchArg,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// No progress display (it is shown only on a terminal anyway).
    #[arg(long)]
    no_progress: bool,
    /// Turn symmetry reduction off (stateright's BFS ignores it anyway).
    #[arg(long)]
    no_symmetry: bool,
    /// Stop each search after this many seconds, fractions allowed (the report then says it
    /// is incomplete).
    #[arg(long, value_parser = parse_seconds)]
    timeout: Option<Duration>,
    /// Also write the reports as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where counterexamples are saved as replay files.
    #[arg(long, default_value = "backup-check-failures")]
    out: PathBuf,
    /// Instead of checking, serve stateright's Explorer (a web UI to walk the state space)
    /// on this loopback address, e.g. 127.0.0.1:3000 or localhost:3000.
    #[arg(long, value_parser = parse_loopback)]
    explore: Option<SocketAddr>,
}

#[derive(Args)]
struct SimArgs {
    /// The variant (see `backup-check variants`),
    /// or a design file (TOML; README, "Reviewing a protocol change"). `--design` is the same.
    #[arg(long, visible_alias = "design", default_value = "recommended", value_parser = parse_variant)]
    variant: Variant,
    /// Seeds, A..B (A up to B-1).
    #[arg(long, default_value = "0..1000", conflicts_with = "seed")]
    seeds: SeedRange,
    /// One seed (the same as --seeds N..N+1): what a failure report tells you to re-run.
    #[arg(long)]
    seed: Option<u64>,
    /// Fault-phase steps per seed (the liveness phase follows).
    #[arg(long, default_value_t = STEPS_DEFAULT)]
    steps: u32,
    /// Swarm testing: each seed also draws which action kinds are on and their weights.
    #[arg(long)]
    swarm: bool,
    /// Weight of an action kind, as kind=N (repeatable; 0 turns a kind off). Kinds:
    /// start-exclusive, start-non-exclusive, base-backup, stop, step, error, cancel,
    /// disconnect, checkpoint-begin, checkpoint-end, page-assemble, page-insert, wal-switch,
    /// crash.
    #[arg(long = "weight", value_name = "KIND=N")]
    weights: Vec<String>,
    #[command(flatten)]
    bounds: BoundFlags,
    /// Run only shard K of N (seeds s with s % N == K-1), to split a campaign across machines.
    #[arg(long, default_value = "1/1")]
    shard: Shard,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Where failures are saved as replay files.
    #[arg(long, default_value = "backup-check-failures")]
    out: PathBuf,
    /// Append results as JSON lines (one per failure group, then a summary) to this file.
    #[arg(long)]
    jsonl: Option<PathBuf>,
    /// Write the whole report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Most steps of the liveness phase (default: 200 + 60 per session).
    #[arg(long)]
    drain_steps: Option<u64>,
    /// Run every seed on the configuration as given (by default every 8th seed, those with
    /// seed % 8 == 7, runs it as a standby on timeline 2).
    #[arg(long)]
    no_standby_seeds: bool,
    /// The reviewed known findings whose properties do not end a run (default:
    /// ./expected-findings.toml, else the one in the source tree).
    #[arg(long)]
    expected: Option<PathBuf>,
    /// Use no known findings: every violation ends its run.
    #[arg(long, conflicts_with = "expected")]
    no_expected: bool,
    /// Run every seed twice and require identical runs.
    #[arg(long)]
    check_determinism: bool,
    /// Do not shrink failures (save the whole failing run).
    #[arg(long)]
    no_shrink: bool,
    /// Most replays spent shrinking one failure.
    #[arg(long, default_value_t = REPLAYS_MAX)]
    shrink_replays: u64,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Run only incremental-backup runs (a design with incremental backups: pg17,
    /// recommended): walks over the primary, its summarizing standby, the promotion and the
    /// two backups at the simulator's bounds (six blocks; three writes, two truncations and
    /// four checkpoints on the primary; three writes, a truncation and two checkpoints on the
    /// promoted standby). Takes --variant, --seeds or --seed, --expected or --no-expected and
    /// --json; failures are shrunk and printed with the seed that runs them again. Without
    /// it, such a design runs the coordinator's campaign and then these runs over the same
    /// seeds (in shard 1 of a sharded campaign).
    #[arg(long, conflicts_with = "no_incremental")]
    incremental: bool,
    /// On a design with incremental backups, run only the coordinator's campaign.
    #[arg(long)]
    no_incremental: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Mermaid,
    /// The Informal Trace Format (Apalache ADR-015): opens in ITF trace viewers.
    Itf,
}

#[derive(Args)]
struct ReplayArgs {
    /// The replay file.
    file: PathBuf,
    /// Output: numbered text, JSON, a Mermaid sequence diagram for a review, or ITF (the
    /// Informal Trace Format: every state, for trace viewers).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Args)]
struct MutantsArgs {
    /// Simulator seeds per bug, A..B.
    #[arg(long, default_value = "0..200")]
    seeds: SeedRange,
    /// Simulator fault-phase steps per seed.
    #[arg(long, default_value_t = STEPS_DEFAULT)]
    steps: u32,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Trials for the median time to the first failure (each from its own seed offset).
    #[arg(long, default_value_t = 5)]
    trials: u32,
    /// Also write the table as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress display (it is shown only on a terminal anyway).
    #[arg(long)]
    no_progress: bool,
    /// Instead, regenerate the generated part of each bug's page in this directory
    /// (docs/bugs): the model's shortest counterexample as text and Mermaid.
    #[arg(long)]
    write_docs: Option<PathBuf>,
    /// Only these bugs (repeatable, e.g. --bug b14 --bug b17); the recommended designs are
    /// still checked.
    #[arg(long = "bug", value_parser = parse_bug)]
    bugs: Vec<backup_coordinator::variant::Bug>,
}

fn parse_bug(text: &str) -> Result<backup_coordinator::variant::Bug, String> {
    use backup_coordinator::variant::Bug;
    Bug::ALL
        .into_iter()
        .find(|b| b.name() == text.to_ascii_lowercase())
        .ok_or_else(|| {
            format!(
                "unknown bug {text:?}: expected one of {}",
                Bug::ALL.map(|b| b.name()).join(", ")
            )
        })
}

#[derive(Args)]
struct DiffArgs {
    /// The design a change starts from: a variant's name or a design file.
    #[arg(value_parser = parse_variant, value_name = "A")]
    a: Variant,
    /// The changed design: a variant's name or a design file.
    #[arg(value_parser = parse_variant, value_name = "B")]
    b: Variant,
    /// How to print the comparison: text, or markdown (a review comment: tables and Mermaid
    /// diagrams of the counterexamples).
    #[arg(long, default_value = "text", value_parser = ["text", "markdown"])]
    format: String,
    /// Also write the comparison as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Simulator seeds, A..B (A up to B-1), the same for both designs.
    #[arg(long, default_value = "0..2000")]
    seeds: SeedRange,
    /// Simulator fault-phase steps per seed.
    #[arg(long, default_value_t = STEPS_DEFAULT)]
    steps: u32,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Check only this model profile (repeatable; default: every profile).
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
    /// Skip the model.
    #[arg(long)]
    no_model: bool,
    /// Skip the simulator.
    #[arg(long)]
    no_sim: bool,
    /// Where each design's failures are saved as replay files (a directory per design).
    #[arg(long, default_value = "backup-check-failures")]
    out: PathBuf,
    /// The simulator's bounds (the model profiles keep theirs).
    #[command(flatten)]
    bounds: BoundFlags,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args)]
struct VariantsArgs {
    /// Print this variant (a name, or a design file's path) as a design file: every rule
    /// switch and every plan list, a copy to start a proposal from.
    #[arg(long, value_name = "NAME|FILE", value_parser = parse_variant, conflicts_with = "steps")]
    show: Option<Variant>,
    /// Print the step table (each step's lock, I/O, waits and faults) as Markdown, as the
    /// README carries it.
    #[arg(long)]
    steps: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// The variant measured,
    /// or a design file (TOML; README, "Reviewing a protocol change"). `--design` is the same.
    #[arg(long, visible_alias = "design", default_value = "recommended", value_parser = parse_variant)]
    variant: Variant,
    /// Runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Simulator seeds per run, a range A..B as everywhere else (A up to B-1).
    #[arg(long, default_value = "0..200")]
    seeds: SeedRange,
    /// Simulator fault-phase steps per seed.
    #[arg(long, default_value_t = STEPS_DEFAULT)]
    steps: u32,
    /// Also write the table as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("backup-check: {}", one_line(&message));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// An error message as one line of bounded length: line breaks (from a label or a file name,
/// say) shown as `\n`, and anything past [`ONE_LINE_MAX`] characters cut with a note.
fn one_line(message: &str) -> String {
    const ONE_LINE_MAX: usize = 400;
    let flat = message.replace('\r', "\\r").replace('\n', "\\n");
    let count = flat.chars().count();
    if count <= ONE_LINE_MAX {
        return flat;
    }
    let cut: String = flat.chars().take(ONE_LINE_MAX).collect();
    format!("{cut}... ({} more characters)", count - ONE_LINE_MAX)
}

/// Help and version go to stdout with status 0; a usage error is one line on stderr with
/// status 2 (clap's own message, without its follow-up lines).
fn usage_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = error.print();
        return ExitCode::from(EXIT_USAGE);
    }
    let text = error.to_string();
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid usage")
        .trim_start_matches("error: ");
    eprintln!("backup-check: {} (see backup-check --help)", one_line(line));
    ExitCode::from(EXIT_USAGE)
}

fn run(cli: Cli) -> Result<u8, String> {
    match cli.command {
        Command::Check(args) => check(args),
        Command::Model(args) => model(args),
        Command::Sim(args) => sim(args),
        Command::Replay(args) => replay(args),
        Command::Mutants(args) => mutants(args),
        Command::Sweep(args) => sweep(args),
        Command::Variants(VariantsArgs {
            show: Some(variant),
            ..
        }) => {
            print!("{}", backup_coordinator::design_file::render(variant));
            Ok(0)
        }
        Command::Variants(VariantsArgs { steps: true, .. }) => {
            print!("{}", backup_coordinator::plan::step_table_markdown());
            Ok(0)
        }
        Command::Variants(_) => {
            for design in Design::ALL {
                let default = if Variant::of(design) == Variant::default() {
                    " (default)"
                } else {
                    ""
                };
                println!("{:<22} {}{default}", design.name(), design.summary());
            }
            for bug in backup_coordinator::variant::Bug::ALL {
                let variant = Variant::bug(bug);
                println!("{:<22} {}", bug.name(), variant.summary());
            }
            Ok(0)
        }
        Command::Diff(args) => diff(args),
        Command::Bench(args) => bench(args),
    }
}

/// Refuses a `--profile` that names no model profile.
fn check_profile_names(names: &[String]) -> Result<(), String> {
    for name in names {
        if profile(name).is_none() && incremental::profile(name).is_none() {
            return Err(format!(
                "--profile {name:?}: unknown profile; expected one of {}",
                all_profile_names().join(", ")
            ));
        }
    }
    Ok(())
}

/// The gate's simulator stage (of `check` and of each design `diff` compares): every seed of
/// `seeds`, failures shrunk and saved under `out`.
fn gate_campaign(
    spec: RunSpec,
    seeds: SeedRange,
    threads: usize,
    out: &Path,
    no_progress: bool,
) -> CampaignOptions {
    CampaignOptions {
        spec,
        seeds,
        shard: Shard::default(),
        threads,
        check_determinism: false,
        shrink: true,
        shrink_replays_max: REPLAYS_MAX,
        out: Some(out.to_path_buf()),
        progress: show_progress(no_progress),
    }
}

fn diff(args: DiffArgs) -> Result<u8, String> {
    let threads = threads(args.threads)?;
    check_profile_names(&args.profiles)?;
    if args.a == args.b {
        return Err(format!("A and B are the same design ({})", args.a));
    }
    if let Some(path) = &args.json {
        output::check_file("--json", path).map_err(|e| e.to_string())?;
    }
    output::check_dir("--out", &args.out).map_err(|e| e.to_string())?;
    let sim_config = args.bounds.apply(default_config())?;
    let sim = (!args.no_sim).then(|| {
        let spec = RunSpec {
            config: sim_config,
            ..RunSpec::new(args.a, args.steps)
        };
        gate_campaign(spec, args.seeds, threads, &args.out, args.no_progress)
    });
    let template = GateOptions {
        variant: args.a,
        corpus: None,
        model: !args.no_model,
        profiles: args.profiles.clone(),
        thorough: false,
        model_threads: threads.min(2),
        sim,
        out: args.out,
        expected: backup_sim::expected::ExpectedFindings::default(),
        progress: show_progress(args.no_progress),
    };
    let report = backup_sim::diff::run_diff(args.a, args.b, &template, &INTERRUPTED)
        .map_err(|e| e.to_string())?;
    if let Some(path) = &args.json {
        envelope("diff", &report, None).and_then(|v| write_json(path, &v))?;
    }
    if args.format == "markdown" {
        print!("{}", report.render_markdown());
    } else {
        print!("{}", report.render_text());
    }
    Ok(report.exit_code)
}

/// A built-in variant's name or a design file's path (which is loaded and checked here).
fn parse_variant(text: &str) -> Result<Variant, String> {
    backup_coordinator::design_file::variant_or_file(text)
}

/// A loopback address and port, by number or by name (`localhost:3000`): the name must
/// resolve to loopback addresses only.
fn parse_loopback(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("expected HOST:PORT on loopback, such as 127.0.0.1:3000 ({e})"))?
        .collect();
    match addrs.iter().find(|a| a.ip().is_loopback()) {
        Some(addr) if addrs.iter().all(|a| a.ip().is_loopback()) => Ok(*addr),
        _ => Err("not a loopback address; the Explorer is served on loopback only".to_string()),
    }
}

/// A number of seconds, whole or fractional, not negative.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("expected a number of seconds, such as 30 or 0.5, not {text:?}"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("expected a number of seconds from 0 up, not {text:?}"))
}

/// More worker threads than this is a typo, not a machine.
const THREADS_MAX: usize = 1024;

fn threads(requested: Option<usize>) -> Result<usize, String> {
    match requested {
        Some(0) => Err("--threads: expected at least 1".to_string()),
        Some(n) if n > THREADS_MAX => Err(format!(
            "--threads {n}: at most {THREADS_MAX} (this machine has {})",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        )),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

fn show_progress(disabled: bool) -> bool {
    !disabled && std::io::stderr().is_terminal()
}

/// The version of the JSON reports' layout (every report carries it with its `format`).
const REPORT_VERSION: u32 = 3;

/// A JSON report: `format` (`backup-check-<command>`), `version`, `tool_version`, then the
/// command's own fields (an array is put under `items`), with `verdict` and `exit_code`
/// where the body has none.
fn envelope(
    command: &str,
    body: &impl serde::Serialize,
    verdict: Option<(&str, u8)>,
) -> Result<serde_json::Value, String> {
    let body = serde_json::to_value(body).map_err(|e| e.to_string())?;
    let mut out = serde_json::Map::new();
    out.insert("format".into(), format!("backup-check-{command}").into());
    out.insert("version".into(), REPORT_VERSION.into());
    out.insert("tool_version".into(), env!("CARGO_PKG_VERSION").into());
    match body {
        serde_json::Value::Object(fields) => out.extend(fields),
        other => {
            out.insert("items".into(), other);
        }
    }
    if let Some((verdict, code)) = verdict {
        out.entry("verdict").or_insert_with(|| verdict.into());
        out.entry("exit_code").or_insert_with(|| code.into());
    }
    Ok(serde_json::Value::Object(out))
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    text.push('\n');
    write_atomically(path, &text).map_err(|e| e.to_string())
}

fn default_corpus() -> Option<PathBuf> {
    let here = PathBuf::from("regressions");
    if here.is_dir() {
        return Some(here);
    }
    let source = source_path("regressions");
    source.is_dir().then_some(source)
}

/// A file or directory of the source tree (where the binary was built), without `..` in it.
fn source_path(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::canonicalize(&path).unwrap_or(path)
}

/// The known findings: `--expected FILE`, or the default file where there is one, or none
/// with `--no-expected`.
fn load_expected(
    path: &Option<PathBuf>,
    none: bool,
) -> Result<backup_sim::expected::ExpectedFindings, String> {
    use backup_sim::expected::{ExpectedFindings, FILE_NAME};
    if none {
        return Ok(ExpectedFindings::default());
    }
    let profiles = all_profile_names();
    let path = match path {
        Some(path) => path.clone(),
        None => {
            let here = PathBuf::from(FILE_NAME);
            let source = source_path(FILE_NAME);
            if here.is_file() {
                here
            } else if source.is_file() {
                source
            } else {
                return Ok(ExpectedFindings::default());
            }
        }
    };
    ExpectedFindings::load(&path, &profiles).map_err(|e| e.to_string())
}

fn check(args: CheckArgs) -> Result<u8, String> {
    let threads = threads(args.threads)?;
    check_profile_names(&args.profiles)?;
    if let Some(path) = &args.json {
        output::check_file("--json", path).map_err(|e| e.to_string())?;
    }
    output::check_dir("--out", &args.out).map_err(|e| e.to_string())?;
    let expected = load_expected(&args.expected, args.no_expected)?;
    let sim_config = args.bounds.apply(default_config())?;
    let corpus = if args.no_corpus {
        None
    } else {
        match args.corpus {
            Some(dir) if !dir.is_dir() => {
                return Err(format!("--corpus {}: not a directory", dir.display()))
            }
            Some(dir) => Some(dir),
            None => default_corpus(),
        }
    };
    let sim = (!args.no_sim).then(|| {
        let spec = RunSpec {
            config: sim_config,
            standby_seeds: !args.no_standby_seeds,
            ..RunSpec::new(args.variant, args.steps)
        };
        let seeds = args.seeds.unwrap_or(if args.thorough {
            THOROUGH_SEEDS
        } else {
            GATE_SEEDS
        });
        gate_campaign(spec, seeds, threads, &args.out, args.no_progress)
    });
    let options = GateOptions {
        variant: args.variant,
        corpus,
        model: !args.no_model,
        profiles: args.profiles.clone(),
        thorough: args.thorough,
        model_threads: threads.min(2),
        sim,
        out: args.out,
        expected,
        progress: show_progress(args.no_progress),
    };
    let mut report = run_gate(&options, &INTERRUPTED).map_err(|e| e.to_string())?;
    // The report is written first, so that the verdict printed says whether it was.
    if let Some(path) = &args.json {
        if let Err(error) = envelope("check", &report, None).and_then(|v| write_json(path, &v)) {
            report.output_failed(error);
        }
    }
    print!("{}", report.render_text());
    if report.exit_code == 0 && INTERRUPTED.load(Ordering::SeqCst) {
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(report.exit_code)
}

/// Every profile's name: the coordinator's default ones, its thorough ones, then
/// incremental backup's.
fn all_profile_names() -> Vec<&'static str> {
    default_profiles()
        .iter()
        .chain(thorough_profiles().iter())
        .map(|p| p.name)
        .chain(incremental::profiles().iter().map(|p| p.name))
        .collect()
}

/// The gate's simulator seeds.
const GATE_SEEDS: SeedRange = SeedRange {
    start: 0,
    end: 2000,
};

/// `check --thorough`'s simulator seeds: five times the gate's.
const THOROUGH_SEEDS: SeedRange = SeedRange {
    start: 0,
    end: 10_000,
};

/// The profiles `backup-model` checks: the coordinator's, and incremental backup's (for a
/// variant that has it).
type ModelProfiles = (Vec<Profile>, Vec<incremental::IncrementalProfile>);

fn model_profiles(args: &ModelArgs) -> Result<ModelProfiles, String> {
    let has_incremental = incremental::applies(args.variant);
    if args.profile.is_none() && !args.bounds.any() {
        let incremental = if has_incremental {
            incremental::profiles().to_vec()
        } else {
            Vec::new()
        };
        return Ok((default_profiles().to_vec(), incremental));
    }
    let name = args.profile.as_deref().unwrap_or("concurrency");
    if let Some(p) = incremental::profile(name) {
        if args.bounds.any() {
            return Err(format!(
                "--profile {name}: the bound flags apply to the coordinator's profiles, not to incremental backup's"
            ));
        }
        if !has_incremental {
            return Err(format!(
                "--profile {name}: variant {} has no incremental backups (pg17 and the recommended designs have them)",
                args.variant
            ));
        }
        return Ok((Vec::new(), vec![p]));
    }
    let base = profile(name).ok_or_else(|| {
        format!(
            "unknown profile {name:?}: expected one of {}",
            all_profile_names().join(", ")
        )
    })?;
    let config = args.bounds.apply(base.config)?;
    let profile = if args.bounds.any() {
        // The base profile's purpose no longer describes bounds the flags changed (its "no
        // faults" may now have faults): say where they came from; the bounds line lists them.
        // Made once per run of the command: leaking it keeps `Profile` a table of constants.
        let purpose: &'static str =
            Box::leak(format!("the {} profile changed by bound flags", base.name).into_boxed_str());
        Profile {
            name: "custom",
            purpose,
            config,
        }
    } else {
        Profile { config, ..base }
    };
    Ok((vec![profile], Vec::new()))
}

fn model(args: ModelArgs) -> Result<u8, String> {
    let (profiles, incremental_profiles) = model_profiles(&args)?;
    if args.explore.is_some() && !incremental_profiles.is_empty() && profiles.is_empty() {
        return Err("--explore: the Explorer serves the coordinator's profiles only".to_string());
    }
    if let Some(addr) = args.explore {
        let [profile] = profiles.as_slice() else {
            return Err("--explore: choose the bounds with --profile or bound flags".to_string());
        };
        let model = BackupModel::new(args.variant, profile.config).map_err(|e| e.to_string())?;
        // The Explorer's own links go to the first violation its search met, not the shortest:
        // check first, and give the address of each shortest counterexample.
        let report = model
            .check(CheckOptions {
                search: Search::Dfs,
                threads: args.threads.max(1),
                symmetry: !args.no_symmetry,
                timeout: args.timeout,
                interrupt: Some(&INTERRUPTED),
                progress: show_progress(args.no_progress),
            })
            .map_err(|e| e.to_string())?;
        if report.interrupted {
            return Ok(EXIT_INTERRUPTED);
        }
        println!(
            "Explorer for {} ({}), {} states",
            args.variant,
            backup_coordinator::trace::describe_config(&profile.config),
            report.unique_states
        );
        for outcome in &report.properties {
            if let backup_model::report::Verdict::Violated { length, trace } = &outcome.verdict {
                let actions: Vec<_> = trace.steps.iter().map(|s| s.action).collect();
                match model.explorer_path(&actions) {
                    Some(path) => println!(
                        "  \"{}\" violated, shortest counterexample ({length} steps): http://{addr}/#/steps/{path}",
                        outcome.name
                    ),
                    None => println!(
                        "  \"{}\" violated, shortest counterexample ({length} steps): no Explorer link, it passes commands the server refuses, which the search does not explore (`backup-check model` prints it)",
                        outcome.name
                    ),
                }
            }
        }
        println!("serving on http://{addr}/ (Ctrl-C to stop)");
        use stateright::Model;
        // The server runs on its own threads; this one waits for Ctrl-C (whose handler
        // only sets a flag) and then ends the process.
        std::thread::spawn(move || model.per_property().checker().serve(addr));
        while !INTERRUPTED.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        return Ok(EXIT_INTERRUPTED);
    }
    if args.threads == 0 {
        return Err("--threads: expected at least 1".to_string());
    }
    if let Some(path) = &args.json {
        output::check_file("--json", path).map_err(|e| e.to_string())?;
    }
    output::check_dir("--out", &args.out).map_err(|e| e.to_string())?;
    let mut output_errors = Vec::new();
    let options = CheckOptions {
        search: match args.search {
            SearchArg::Bfs => Search::Bfs,
            SearchArg::Dfs => Search::Dfs,
        },
        threads: args.threads,
        symmetry: !args.no_symmetry,
        timeout: args.timeout,
        interrupt: Some(&INTERRUPTED),
        progress: show_progress(args.no_progress),
    };
    let mut reports = Vec::new();
    let mut code = 0;
    for profile in profiles {
        if INTERRUPTED.load(Ordering::SeqCst) {
            println!("== profile {}: not checked (interrupted)", profile.name);
            continue;
        }
        let model = BackupModel::new(args.variant, profile.config).map_err(|e| e.to_string())?;
        let report = model.check(options).map_err(|e| e.to_string())?;
        println!("== profile {}: {}", profile.name, profile.purpose);
        print!("{}", report.render_text());
        let saved =
            save_model_counterexamples(&report, profile.name, &args.out).unwrap_or_else(|error| {
                println!("not saved: {error}");
                output_errors.push(error.to_string());
                Vec::new()
            });
        for file in saved {
            println!(
                "saved: {} (backup-check replay {})",
                file.display(),
                file.display()
            );
        }
        let safety = report.failures().any(|p| {
            p.name != backup_coordinator::invariants::EVERY_BACKUP_ENDS
                && (report.complete || matches!(p.verdict, Verdict::Violated { .. }))
        }) || (!report.complete && !report.interrupted);
        let liveness = report.failures().any(|p| {
            p.name == backup_coordinator::invariants::EVERY_BACKUP_ENDS
                && matches!(p.verdict, Verdict::Violated { .. })
        });
        code = match (code, safety, liveness) {
            (EXIT_SAFETY, _, _) | (_, true, _) => EXIT_SAFETY,
            (_, _, true) => EXIT_LIVENESS,
            (c, _, _) => c,
        };
        reports.push(serde_json::json!({ "profile": profile.name, "report": report }));
    }
    let mut incremental_reports = Vec::new();
    for profile in incremental_profiles {
        if INTERRUPTED.load(Ordering::SeqCst) {
            println!("== profile {}: not checked (interrupted)", profile.name);
            continue;
        }
        let Some(model) = incremental::IncrementalModel::new(args.variant, profile) else {
            continue;
        };
        let report = model.check(incremental::IncrementalOptions {
            threads: args.threads,
            timeout: args.timeout,
            interrupt: Some(&INTERRUPTED),
        });
        println!("== profile {}: {}", profile.name, profile.purpose);
        print!("{}", report.render_text());
        let violated = |liveness: bool| {
            report.properties.iter().any(|p| {
                matches!(p.verdict, incremental::IncrementalVerdict::Violated { .. })
                    && (p.expectation == backup_model::Expectation::Eventually) == liveness
            })
        };
        let safety = violated(false)
            || (report.complete && !report.not_reached().is_empty())
            || (!report.complete && !report.interrupted);
        code = match (code, safety, violated(true)) {
            (EXIT_SAFETY, _, _) | (_, true, _) => EXIT_SAFETY,
            (_, _, true) => EXIT_LIVENESS,
            (c, _, _) => c,
        };
        incremental_reports.push(report);
    }
    if let Some(path) = &args.json {
        let verdict = verdict_of(code);
        let written = envelope(
            "model",
            &serde_json::json!({ "profiles": reports, "incremental": incremental_reports }),
            Some((verdict, code)),
        )
        .and_then(|v| write_json(path, &v));
        if let Err(error) = written {
            println!("not saved: {error}");
            output_errors.push(error);
        }
    }
    if !output_errors.is_empty() && code == 0 {
        code = EXIT_USAGE;
    }
    if code == 0 && INTERRUPTED.load(Ordering::SeqCst) {
        code = EXIT_INTERRUPTED;
    }
    Ok(code)
}

/// The JSON report's verdict for a model or incremental simulator run's exit status.
fn verdict_of(code: u8) -> &'static str {
    match code {
        0 => "pass",
        EXIT_SAFETY => "safety",
        EXIT_LIVENESS => "liveness",
        _ => "interrupted",
    }
}

/// Incremental backup's seeded walks over `seeds` at the simulator's bounds, the design's
/// known findings not ending a run; prints the report and returns it.
fn incremental_campaign(
    args: &SimArgs,
    rules: backup_coordinator::incremental::cluster::IncrementalRules,
    seeds: SeedRange,
) -> Result<backup_sim::incremental::IncrementalSimReport, String> {
    let expected = load_expected(&args.expected, args.no_expected)?;
    let known: Vec<&str> = expected
        .of(args.variant)
        .map(|f| f.property.as_str())
        .collect();
    let report = backup_sim::incremental::run_incremental_campaign(
        args.variant,
        rules,
        backup_sim::incremental::sim_bounds(),
        seeds,
        &known,
        &INTERRUPTED,
    );
    print!("{}", report.render_text());
    Ok(report)
}

fn sim_incremental(args: &SimArgs, seeds: SeedRange) -> Result<u8, String> {
    let rules = args.variant.rules().incremental.ok_or_else(|| {
        format!(
            "--incremental: variant {} has no incremental backups (pg17 and the recommended designs have them)",
            args.variant
        )
    })?;
    if args.bounds.any() || args.jsonl.is_some() || args.swarm || !args.weights.is_empty() {
        return Err(
            "--incremental takes --variant, --seeds or --seed, --expected or --no-expected and --json; not the coordinator's bound, weight, swarm or --jsonl flags".to_string(),
        );
    }
    if let Some(path) = &args.json {
        output::check_file("--json", path).map_err(|e| e.to_string())?;
    }
    let report = incremental_campaign(args, rules, seeds)?;
    let mut code = match report.worst() {
        Some(FailureClass::Safety) => EXIT_SAFETY,
        Some(FailureClass::Liveness) => EXIT_LIVENESS,
        None if report.interrupted => EXIT_INTERRUPTED,
        None => 0,
    };
    if let Some(path) = &args.json {
        let verdict = verdict_of(code);
        if let Err(error) = envelope("sim-incremental", &report, Some((verdict, code)))
            .and_then(|v| write_json(path, &v))
        {
            println!("not saved: {error}");
            if code == 0 {
                code = EXIT_USAGE;
            }
        }
    }
    Ok(code)
}

fn sim(args: SimArgs) -> Result<u8, String> {
    let mut weights = Weights::default();
    for text in &args.weights {
        let (kind, weight) = Weights::parse_one(text)?;
        weights.set(kind, weight);
    }
    if ActionKind::ALL.iter().all(|&k| weights.get(k) == 0) {
        return Err("--weight: every action kind is off".to_string());
    }
    let seeds = match args.seed {
        Some(seed) => SeedRange {
            start: seed,
            end: seed.checked_add(1).ok_or("--seed: too large")?,
        },
        None => args.seeds,
    };
    if args.incremental {
        return sim_incremental(&args, seeds);
    }
    let config = args.bounds.apply(default_config())?;
    for (flag, path) in [("--json", &args.json), ("--jsonl", &args.jsonl)] {
        if let Some(path) = path {
            output::check_file(flag, path).map_err(|e| e.to_string())?;
        }
    }
    output::check_dir("--out", &args.out).map_err(|e| e.to_string())?;
    let options = CampaignOptions {
        spec: RunSpec {
            variant: args.variant,
            config,
            steps: args.steps,
            weights,
            swarm: args.swarm,
            drain_steps: args.drain_steps,
            standby_seeds: !args.no_standby_seeds,
            known: load_expected(&args.expected, args.no_expected)?.known_properties(args.variant),
        },
        seeds,
        shard: args.shard,
        threads: threads(args.threads)?,
        check_determinism: args.check_determinism,
        shrink: !args.no_shrink,
        shrink_replays_max: args.shrink_replays,
        out: Some(args.out.clone()),
        progress: show_progress(args.no_progress),
    };
    eprintln!(
        "sim: variant {}, seeds {}..{} shard {}/{}, {} steps each{}, weights {}",
        args.variant,
        seeds.start,
        seeds.end,
        args.shard.index,
        args.shard.count,
        args.steps,
        if args.swarm { ", swarm" } else { "" },
        weights
    );
    let report = run_campaign(&options, &INTERRUPTED).map_err(|e| e.to_string())?;
    print!("{}", render_campaign(&report));
    // A design with incremental backups: its incremental runs over the same seeds.
    let incremental = match args.variant.rules().incremental {
        Some(rules) if !args.no_incremental && args.shard.index == 1 && !report.interrupted => {
            Some(incremental_campaign(&args, rules, seeds)?)
        }
        _ => None,
    };
    for group in &report.failures {
        println!("repro: {}", repro_line(group.first_seed));
        if let Some(file) = &group.file {
            println!("repro (shrunk): backup-check replay {}", file.display());
        }
        if let Some(error) = &group.save_error {
            println!("not saved: {error}");
        }
    }
    let mut unsaved = report.failures.iter().any(|g| g.save_error.is_some());
    let worst = match (report.worst(), incremental.as_ref().and_then(|r| r.worst())) {
        (Some(FailureClass::Safety), _) | (_, Some(FailureClass::Safety)) => {
            Some(FailureClass::Safety)
        }
        (Some(FailureClass::Liveness), _) | (_, Some(FailureClass::Liveness)) => {
            Some(FailureClass::Liveness)
        }
        _ => None,
    };
    let interrupted = report.interrupted || incremental.as_ref().is_some_and(|r| r.interrupted);
    let verdict = |unsaved: bool| match worst {
        Some(FailureClass::Safety) => ("safety", EXIT_SAFETY),
        Some(FailureClass::Liveness) => ("liveness", EXIT_LIVENESS),
        None if !report.nondeterministic_seeds.is_empty() => ("nondeterministic", EXIT_SAFETY),
        None if unsaved => ("not-saved", EXIT_USAGE),
        None if interrupted => ("interrupted", EXIT_INTERRUPTED),
        None => ("pass", 0),
    };
    if let Some(path) = &args.jsonl {
        if let Err(error) = append_jsonl(path, &report, verdict(unsaved)) {
            println!("not saved: {error}");
            unsaved = true;
        }
    }
    if let Some(path) = &args.json {
        let written = envelope("sim", &report, Some(verdict(unsaved)))
            .and_then(|mut v| {
                let value = serde_json::to_value(&incremental).map_err(|e| e.to_string())?;
                if let serde_json::Value::Object(fields) = &mut v {
                    fields.insert("incremental".into(), value);
                }
                Ok(v)
            })
            .and_then(|v| write_json(path, &v));
        if let Err(error) = written {
            println!("not saved: {error}");
            unsaved = true;
        }
    }
    Ok(verdict(unsaved).1)
}

/// The command line that re-runs one seed exactly: this run's arguments, with the seed range
/// replaced by the seed and what only changes where results go or how fast they come dropped.
fn repro_line(seed: u64) -> String {
    const DROP_WITH_VALUE: [&str; 8] = [
        "--seeds",
        "--seed",
        "--shard",
        "--threads",
        "--out",
        "--json",
        "--jsonl",
        "--shrink-replays",
    ];
    const DROP: [&str; 3] = ["--no-progress", "--check-determinism", "--no-shrink"];
    let mut out = vec!["backup-check".to_string()];
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        let name = arg.split('=').next().unwrap_or_default().to_string();
        if DROP_WITH_VALUE.contains(&name.as_str()) {
            if !arg.contains('=') {
                args.next();
            }
            continue;
        }
        if DROP.contains(&name.as_str()) {
            continue;
        }
        let quoted = if arg.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            format!("'{}'", arg.replace('\'', "'\\''"))
        } else {
            arg
        };
        out.push(quoted);
    }
    out.push("--seed".to_string());
    out.push(seed.to_string());
    out.join(" ")
}

/// One line per failure group, then a summary line: files from several shards concatenate
/// into one campaign's results.
fn append_jsonl(
    path: &Path,
    report: &CampaignReport,
    (verdict, exit_code): (&str, u8),
) -> Result<(), String> {
    use std::io::Write as _;
    let mut lines = String::new();
    for group in &report.failures {
        let line = serde_json::json!({
            "type": "failure",
            "variant": report.variant,
            "seeds": report.seeds,
            "shard": report.shard,
            "group": group,
        });
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    let summary = serde_json::json!({
        "type": "summary",
        "format": "backup-check-sim-jsonl",
        "version": REPORT_VERSION,
        "tool_version": env!("CARGO_PKG_VERSION"),
        "verdict": verdict,
        "exit_code": exit_code,
        "variant": report.variant,
        "bounds": report.bounds,
        "bounds_text": report.bounds_text,
        "steps_per_seed": report.steps_per_seed,
        "swarm": report.swarm,
        "seeds": report.seeds,
        "shard": report.shard,
        "seeds_run": report.seeds_run,
        "steps": report.steps,
        "seconds": report.seconds,
        "failing_seeds": report.failures.iter().map(|g| g.seeds).sum::<u64>(),
        "interrupted": report.interrupted,
        "coverage": report.coverage,
    });
    lines.push_str(&summary.to_string());
    lines.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.write_all(lines.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn replay(args: ReplayArgs) -> Result<u8, String> {
    let file = ReplayFile::load(&args.file).map_err(|e| e.to_string())?;
    let replayed = file
        .schedule()
        .replay()
        .map_err(|e| format!("{}: does not replay: {e}", args.file.display()))?;
    let reproduces = shows(&file.expect, &replayed);
    match args.format {
        Format::Text => {
            println!(
                "replay of {} ({} from {}{})",
                args.file.display(),
                file.expect.class.name(),
                match file.engine {
                    backup_sim::replay_file::Engine::Sim => "the simulator",
                    backup_sim::replay_file::Engine::Model => "the model",
                },
                file.seed.map(|s| format!(", seed {s}")).unwrap_or_default()
            );
            print!("{}", replayed.trace.render_text());
            println!(
                "{} \"{}\": {}",
                file.expect.class.name(),
                file.expect.property,
                if reproduces {
                    "reproduced"
                } else {
                    "NOT reproduced"
                }
            );
        }
        Format::Json => {
            let body = serde_json::json!({
                "file": args.file,
                "expect": file.expect,
                "reproduced": reproduces,
                "trace": replayed.trace,
            });
            let verdict = if reproduces {
                ("reproduced", 0)
            } else {
                ("not-reproduced", EXIT_SAFETY)
            };
            let text = serde_json::to_string_pretty(&envelope("replay", &body, Some(verdict))?)
                .map_err(|e| e.to_string())?;
            println!("{text}");
        }
        Format::Mermaid => print!("{}", replayed.trace.render_mermaid()),
        Format::Itf => {
            let document =
                backup_sim::itf::render(&replayed.trace, &args.file.display().to_string())
                    .map_err(|e| e.to_string())?;
            let text = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
            println!("{text}");
        }
    }
    Ok(if reproduces { 0 } else { EXIT_SAFETY })
}

fn bench(args: BenchArgs) -> Result<u8, String> {
    if let Some(path) = &args.json {
        output::check_file("--json", path).map_err(|e| e.to_string())?;
    }
    let spec = RunSpec::new(args.variant, args.steps);
    let report = backup_sim::bench::run_bench(args.variant, args.runs, &spec, args.seeds)?;
    print!("{}", report.render_text());
    if let Some(path) = &args.json {
        write_json(path, &envelope("bench", &report, Some(("pass", 0)))?)?;
    }
    Ok(0)
}

fn sweep(args: SweepArgs) -> Result<u8, String> {
    use backup_sim::sweep::{run_sweep, EquivalentDesigns, SweepOptions, FILE_NAME};
    if let Some(path) = &args.json {
        output::check_file("--json", path).map_err(|e| e.to_string())?;
    }
    let list = match &args.equivalent {
        Some(path) => Some(path.clone()),
        None => [PathBuf::from(FILE_NAME), source_path(FILE_NAME)]
            .into_iter()
            .find(|p| p.is_file()),
    };
    let equivalent = match list {
        Some(path) => EquivalentDesigns::load(&path).map_err(|e| e.to_string())?,
        None => EquivalentDesigns::default(),
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let options = SweepOptions {
        base: args.variant,
        only: args.only,
        seeds: args.seeds,
        no_sim: args.no_sim,
        equivalent,
        work_dir: args.out,
        exe,
        progress: show_progress(args.no_progress),
    };
    let report = run_sweep(&options, &INTERRUPTED).map_err(|e| e.to_string())?;
    print!("{}", report.render_text());
    if let Some(path) = &args.json {
        let verdict = match report.exit_code {
            0 => "pass",
            1 => "safety",
            2 => "incomplete",
            4 => "nothing-checked",
            _ => "interrupted",
        };
        write_json(
            path,
            &envelope("sweep", &report, Some((verdict, report.exit_code)))?,
        )?;
    }
    Ok(report.exit_code)
}

fn mutants(args: MutantsArgs) -> Result<u8, String> {
    use backup_sim::mutants::{docs_section, run_mutants, with_docs_section, MutantsOptions};
    if let Some(dir) = &args.write_docs {
        for bug in backup_coordinator::variant::Bug::ALL {
            let path = dir.join(format!("{}.md", bug.name()));
            let page = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                format!("# {}: {}\n", bug.name().to_uppercase(), bug.summary())
            });
            let updated = with_docs_section(&page, &docs_section(bug)?);
            write_atomically(&path, &updated).map_err(|e| e.to_string())?;
            println!("wrote {}", path.display());
        }
        return Ok(0);
    }
    if let Some(path) = &args.json {
        output::check_file("--json", path).map_err(|e| e.to_string())?;
    }
    let options = MutantsOptions {
        seeds: args.seeds,
        steps: args.steps,
        threads: threads(args.threads)?,
        trials: args.trials,
        expected: load_expected(&None, false)?,
        progress: show_progress(args.no_progress),
        only: args.bugs.clone(),
    };
    let report = run_mutants(&options, &INTERRUPTED)?;
    print!("{}", report.render_text());
    if let Some(path) = &args.json {
        let verdict = match report.exit_code {
            0 => "pass",
            EXIT_INTERRUPTED => "interrupted",
            _ => "safety",
        };
        write_json(
            path,
            &envelope("mutants", &report, Some((verdict, report.exit_code)))?,
        )?;
    }
    Ok(report.exit_code)
}
