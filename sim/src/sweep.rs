//! `backup-check sweep`: what the gate catches of a design's neighbours. Every design that
//! differs from a base in one thing ([`one_change_designs`]: a rule switch set to another
//! value, a plan step dropped, two neighbouring steps swapped, the retry step moved) is read as
//! a design file (a plan the step functions cannot walk is refused there, and counted apart),
//! then checked by the gate stage by stage, each stage a `backup-check check` process of its
//! own: the model's profiles one at a time, the cheapest first, then the simulator, until a
//! stage finds something (the change is *caught*) or every stage passes (it *survives*).
//!
//! A survivor is either equivalent to its base where the checkers look (a switch that nothing
//! in the design reaches, say), or a defect the gate misses. The reviewed list of equivalent
//! survivors ([`EquivalentDesigns`], `equivalent-designs.toml`: the change and why it changes
//! nothing the gate could see) tells the two apart: the sweep fails on a survivor the list does
//! not explain, and on an entry whose change is now caught (the list is stale).

use crate::campaign::SeedRange;
use backup_coordinator::design_file::{self, one_change_designs, OneChange};
use backup_coordinator::Variant;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use thiserror::Error;

/// The reviewed list's file name.
pub const FILE_NAME: &str = "equivalent-designs.toml";

/// What can stop a sweep.
#[derive(Debug, Error)]
pub enum SweepError {
    /// The reviewed list could not be read.
    #[error("{path}: {message}")]
    List {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The work directory could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A stage's process could not run or said something unreadable.
    #[error("{change}: {message}")]
    Stage {
        /// The change checked.
        change: String,
        /// What went wrong.
        message: String,
    },
}

/// A change reviewed as invisible to the gate, and why.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Equivalent {
    /// The base design.
    pub base: String,
    /// The change, as the sweep names it.
    pub change: String,
    /// Why the checkers cannot see it.
    pub why: String,
}

/// The reviewed list of equivalent survivors.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EquivalentDesigns {
    /// Its entries.
    #[serde(default)]
    pub equivalent: Vec<Equivalent>,
}

impl EquivalentDesigns {
    /// Reads the list at `path`.
    pub fn load(path: &Path) -> Result<Self, SweepError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SweepError::Io {
            path: shown.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| SweepError::List {
            path: shown,
            message: e.message().to_string(),
        })
    }

    fn why(&self, base: &str, change: &str) -> Option<&str> {
        self.equivalent
            .iter()
            .find(|e| e.base == base && e.change == change)
            .map(|e| e.why.as_str())
    }
}

/// How a sweep runs.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// The base design.
    pub base: Variant,
    /// Only the changes whose name contains this (e.g. `rules.` or `plan.stop`).
    pub only: Option<String>,
    /// The simulator's seeds (the gate's stage after the model).
    pub seeds: SeedRange,
    /// Skip the simulator stage.
    pub no_sim: bool,
    /// The reviewed list.
    pub equivalent: EquivalentDesigns,
    /// Where the design files, reports and counterexamples go.
    pub work_dir: PathBuf,
    /// The `backup-check` executable that runs each stage.
    pub exe: PathBuf,
    /// A line on standard error per change.
    pub progress: bool,
}

/// What became of one change.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Outcome {
    /// Reading the design file refused it (a plan the step functions cannot walk).
    Refused {
        /// The reader's one line.
        reason: String,
    },
    /// A stage found something.
    Caught {
        /// The stage: `model PROFILE` or `simulator`.
        stage: String,
        /// The first property it found violated (or the case it no longer reached).
        property: String,
        /// The counterexample's length in steps (the model's shortest, the simulator's shrunk).
        length: Option<u64>,
    },
    /// Every stage passed, and the reviewed list explains why.
    Equivalent {
        /// The list's reason.
        why: String,
    },
    /// Every stage passed, and the reviewed list does not explain it: a defect the gate may
    /// miss, or an equivalent change still to review.
    Survived,
    /// A stage could not run or its report could not be read (the sweep goes on).
    Error {
        /// What went wrong.
        message: String,
    },
}

/// One change and what became of it.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeOutcome {
    /// The change (the key of the reviewed list).
    pub change: String,
    /// The design file written for it.
    pub file: PathBuf,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Wall time of its stages, seconds.
    pub seconds: f64,
}

/// A sweep's result.
#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    /// The base design.
    pub base: String,
    /// Every change, in order.
    pub changes: Vec<ChangeOutcome>,
    /// Reviewed entries for this base whose change was caught (the list is stale), or that
    /// name no change of this sweep.
    pub stale_entries: Vec<String>,
    /// Caught / equivalent / survived / refused counts.
    pub caught: usize,
    /// See `caught`.
    pub equivalent: usize,
    /// See `caught`.
    pub survived: usize,
    /// See `caught`.
    pub refused: usize,
    /// Changes a stage could not check (each says why).
    pub errors: usize,
    /// Interrupted before every change ran.
    pub interrupted: bool,
    /// Wall time, seconds.
    pub seconds: f64,
    /// The exit status (README: 0 every change caught or reviewed; 1 a survivor not
    /// reviewed, or a stale entry; 2 a change a stage could not check; 4 nothing checked;
    /// 130 interrupted).
    pub exit_code: u8,
}

/// The model profiles in the order the sweep runs them: the cheapest first, so that most
/// changes are caught within seconds.
fn stage_profiles(base: Variant) -> Vec<&'static str> {
    let mut coordinator: Vec<&'static str> = backup_model::default_profiles()
        .iter()
        .map(|p| p.name)
        .collect();
    let cost = |name: &str| match name {
        "concurrency-crash" => 3,
        "concurrency" => 2,
        "faults" => 1,
        _ => 0,
    };
    coordinator.sort_by_key(|name| cost(name));
    if base.rules().incremental.is_some() {
        coordinator.extend(backup_model::incremental::profiles().iter().map(|p| p.name));
    }
    coordinator
}

/// Runs the sweep. `interrupted` stops it between stages.
pub fn run_sweep(
    options: &SweepOptions,
    interrupted: &AtomicBool,
) -> Result<SweepReport, SweepError> {
    let started = Instant::now();
    let base = options.base.to_string();
    let dir = &options.work_dir;
    std::fs::create_dir_all(dir).map_err(|source| SweepError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let changes: Vec<OneChange> = one_change_designs(options.base, "sweep")
        .into_iter()
        .filter(|c| options.only.as_ref().is_none_or(|o| c.change.contains(o)))
        .collect();
    let profiles = stage_profiles(options.base);
    let mut outcomes = Vec::new();
    let mut interrupted_run = false;
    for (n, change) in changes.iter().enumerate() {
        if interrupted.load(Ordering::Relaxed) {
            interrupted_run = true;
            break;
        }
        let t = Instant::now();
        // Named as in its file, whatever `--only` selected.
        let stem = change.name.clone();
        let file = dir.join(format!("{stem}.toml"));
        std::fs::write(&file, &change.text).map_err(|source| SweepError::Io {
            path: file.display().to_string(),
            source,
        })?;
        let outcome = match design_file::parse(&change.text, &file.display().to_string(), &stem) {
            Err(e) => Outcome::Refused {
                reason: e.to_string(),
            },
            Ok(_) => {
                let mut caught = None;
                let mut stages: Vec<Vec<String>> = profiles
                    .iter()
                    .map(|p| {
                        vec![
                            "--no-sim".to_string(),
                            "--profile".to_string(),
                            p.to_string(),
                        ]
                    })
                    .collect();
                if !options.no_sim {
                    stages.push(vec![
                        "--no-model".to_string(),
                        "--seeds".to_string(),
                        options.seeds.to_string(),
                    ]);
                }
                for stage in stages {
                    if interrupted.load(Ordering::Relaxed) {
                        interrupted_run = true;
                        break;
                    }
                    match run_stage(options, &change.change, &file, &stem, &stage) {
                        Ok(None) => {}
                        Ok(Some(found)) => {
                            caught = Some(found);
                            break;
                        }
                        // Ctrl-C reaches the stage's process too.
                        Err(_) if interrupted.load(Ordering::Relaxed) => {
                            interrupted_run = true;
                            break;
                        }
                        // Kept as this change's outcome: the sweep goes on, and loses nothing.
                        Err(e) => {
                            caught = Some(Outcome::Error {
                                message: e.to_string(),
                            });
                            break;
                        }
                    }
                }
                if interrupted_run {
                    break;
                }
                match caught {
                    Some(outcome) => outcome,
                    None => match options.equivalent.why(&base, &change.change) {
                        Some(why) => Outcome::Equivalent {
                            why: why.to_string(),
                        },
                        None => Outcome::Survived,
                    },
                }
            }
        };
        let seconds = t.elapsed().as_secs_f64();
        if options.progress {
            eprintln!(
                "sweep {}/{}: {} -> {} ({seconds:.1} s)",
                n + 1,
                changes.len(),
                change.change,
                outcome_word(&outcome)
            );
        }
        outcomes.push(ChangeOutcome {
            change: change.change.clone(),
            file,
            outcome,
            seconds,
        });
    }
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|c| f(&c.outcome)).count();
    let caught = count(|o| matches!(o, Outcome::Caught { .. }));
    let equivalent = count(|o| matches!(o, Outcome::Equivalent { .. }));
    let survived = count(|o| matches!(o, Outcome::Survived));
    let refused = count(|o| matches!(o, Outcome::Refused { .. }));
    let errors = count(|o| matches!(o, Outcome::Error { .. }));
    let stale_entries: Vec<String> = if interrupted_run {
        Vec::new()
    } else {
        options
            .equivalent
            .equivalent
            .iter()
            .filter(|e| e.base == base)
            .filter(|e| options.only.as_ref().is_none_or(|o| e.change.contains(o)))
            .filter(|e| {
                !outcomes.iter().any(|c| {
                    c.change == e.change && matches!(c.outcome, Outcome::Equivalent { .. })
                })
            })
            .map(|e| e.change.clone())
            .collect()
    };
    let exit_code = if survived > 0 || !stale_entries.is_empty() {
        1
    } else if errors > 0 {
        2
    } else if interrupted_run {
        130
    } else if caught + equivalent + survived == 0 {
        4
    } else {
        0
    };
    Ok(SweepReport {
        base,
        changes: outcomes,
        stale_entries,
        caught,
        equivalent,
        survived,
        refused,
        errors,
        interrupted: interrupted_run,
        seconds: started.elapsed().as_secs_f64(),
        exit_code,
    })
}

fn outcome_word(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Refused { .. } => "refused".to_string(),
        Outcome::Caught {
            stage, property, ..
        } => format!("caught by {stage}: {property}"),
        Outcome::Equivalent { .. } => "survived (reviewed as equivalent)".to_string(),
        Outcome::Survived => "SURVIVED".to_string(),
        Outcome::Error { message } => format!("NOT CHECKED: {message}"),
    }
}

/// Runs one stage of the gate on the design file; what it found, if anything.
fn run_stage(
    options: &SweepOptions,
    change: &str,
    file: &Path,
    stem: &str,
    stage: &[String],
) -> Result<Option<Outcome>, SweepError> {
    let stage_error = |message: String| SweepError::Stage {
        change: change.to_string(),
        message,
    };
    let json = options.work_dir.join(format!("{stem}.json"));
    let _ = std::fs::remove_file(&json);
    let output = Command::new(&options.exe)
        .arg("check")
        .arg("--design")
        .arg(file)
        .args(["--no-corpus", "--no-progress", "--no-expected"])
        .arg("--json")
        .arg(&json)
        .arg("--out")
        .arg(options.work_dir.join(format!("{stem}-failures")))
        .args(stage)
        .output()
        .map_err(|e| stage_error(format!("cannot run {}: {e}", options.exe.display())))?;
    let code = output.status.code();
    match code {
        // 4: nothing to check in this stage (an incremental profile of a design whose rules
        // leave it without incremental backups, say).
        Some(0) | Some(4) => return Ok(None),
        Some(1) | Some(3) => {}
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(stage_error(format!(
                "backup-check check {} ended with {}: {}",
                stage.join(" "),
                code.map_or("a signal".to_string(), |c| format!("exit {c}")),
                stderr.lines().next().unwrap_or("")
            )));
        }
    }
    let text = std::fs::read_to_string(&json)
        .map_err(|e| stage_error(format!("{}: {e}", json.display())))?;
    let report: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| stage_error(format!("{}: {e}", json.display())))?;
    Ok(Some(first_finding(&report)))
}

/// The first thing a failing `check` report found: a model finding, a case no profile reached,
/// a simulator failure, or the verdict alone.
fn first_finding(report: &serde_json::Value) -> Outcome {
    let model = report["model"].as_array().into_iter().flatten();
    let incremental = report["incremental"].as_array().into_iter().flatten();
    for profile in model.chain(incremental) {
        let findings = profile["findings"].as_array().into_iter().flatten();
        if let Some(f) = findings
            .filter(|f| f["status"] != "known")
            .find(|f| f["property"].is_string())
        {
            return Outcome::Caught {
                stage: format!("model {}", profile["profile"].as_str().unwrap_or("?")),
                property: f["property"].as_str().unwrap_or("?").to_string(),
                length: f["length"].as_u64(),
            };
        }
    }
    let failures = report["sim"]["failures"].as_array().into_iter().flatten();
    if let Some(f) = failures.into_iter().next() {
        return Outcome::Caught {
            stage: "simulator".to_string(),
            property: f["property"].as_str().unwrap_or("?").to_string(),
            length: f["shrink"]["length_after"].as_u64(),
        };
    }
    let groups = report["incremental_sim"]["groups"]
        .as_array()
        .into_iter()
        .flatten();
    if let Some(g) = groups.into_iter().next() {
        return Outcome::Caught {
            stage: "simulator (incremental backup)".to_string(),
            property: g["property"].as_str().unwrap_or("?").to_string(),
            length: g["shrunk"]["steps"].as_array().map(|s| s.len() as u64),
        };
    }
    let coverage = report["coverage"].as_array().into_iter().flatten();
    if let Some(c) = coverage.into_iter().find(|c| {
        c["model_applies"] == true
            && c["model_profiles"]
                .as_array()
                .is_some_and(|profiles| profiles.is_empty())
    }) {
        return Outcome::Caught {
            stage: "model".to_string(),
            property: format!(
                "not reached: {}",
                c["mechanism"].as_str().unwrap_or("a case")
            ),
            length: None,
        };
    }
    Outcome::Caught {
        stage: "check".to_string(),
        property: format!("verdict {}", report["verdict"].as_str().unwrap_or("?")),
        length: None,
    }
}

impl SweepReport {
    /// The report for a terminal: one line per change, then the counts and the verdict.
    pub fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("sweep: every one-change design of {}\n", self.base);
        for c in &self.changes {
            let line = match &c.outcome {
                Outcome::Refused { reason } => format!("refused    {}: {reason}", c.change),
                Outcome::Caught {
                    stage,
                    property,
                    length,
                } => format!(
                    "caught     {}  <- {stage}: {property}{}",
                    c.change,
                    length.map_or(String::new(), |l| format!(" ({l} steps)"))
                ),
                Outcome::Equivalent { why } => format!("equivalent {}  ({why})", c.change),
                Outcome::Error { message } => {
                    format!("NOT CHECKED {}: {message}", c.change)
                }
                Outcome::Survived => format!(
                    "SURVIVED   {}  (every stage passed: a defect the gate misses, or an equivalent change to review in {FILE_NAME}; file {})",
                    c.change,
                    c.file.display()
                ),
            };
            let _ = writeln!(out, "{line}");
        }
        for entry in &self.stale_entries {
            let _ = writeln!(
                out,
                "STALE      {entry}  ({FILE_NAME} lists it as equivalent, but the sweep caught it or has no such change)"
            );
        }
        let _ = writeln!(
            out,
            "{} caught, {} equivalent (reviewed), {} survived, {} refused by the design-file reader, {} not checked; {:.0} s",
            self.caught, self.equivalent, self.survived, self.refused, self.errors, self.seconds
        );
        let verdict = match self.exit_code {
            0 => "PASS, every change caught or reviewed as equivalent",
            1 => "FAIL, a change survived the gate unexplained, or a reviewed entry is stale",
            2 => "INCOMPLETE, a change could not be checked (see its line)",
            4 => "NOTHING CHECKED, no change the design-file reader accepts",
            _ => "INTERRUPTED",
        };
        let _ = writeln!(out, "verdict: {verdict} (exit {})", self.exit_code);
        out
    }
}
