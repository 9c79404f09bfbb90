//! The CI gate (`backup-check check`): the regression corpus, then the exhaustive model of the
//! variant at the default profiles, then the simulator over a seed range; one summary, one
//! JSON report, one exit status (0 all hold, 1 a safety violation or a case the bounds never
//! reach, 3 a liveness failure and no safety violation).

use crate::campaign::{run_campaign, CampaignError, CampaignOptions, CampaignReport};
use crate::kind::Coverage;
use crate::replay_file::{Engine, Expect, ReplayFile, ReplayFileError};
use crate::run::FailureClass;
use crate::schedule::{Replayed, Schedule};
use backup_coordinator::invariants::EVERY_BACKUP_ENDS;
use backup_coordinator::Variant;
use backup_model::{default_profiles, BackupModel, CheckOptions, ModelReport, Verdict};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use thiserror::Error;

/// Why the gate could not run (as opposed to finding a failure).
#[derive(Debug, Error)]
pub enum GateError {
    /// A corpus file is unusable.
    #[error(transparent)]
    File(#[from] ReplayFileError),
    /// The corpus directory cannot be listed.
    #[error("cannot read the regression corpus {path}: {source}")]
    Corpus {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The model could not run.
    #[error("model: {0}")]
    Model(#[from] backup_model::ModelError),
    /// The simulator could not run.
    #[error("simulator: {0}")]
    Campaign(#[from] CampaignError),
}

/// Whether a replayed schedule shows the failure `expect` names: for safety, the property is
/// violated at some step; for liveness, the cluster did not settle.
pub fn shows(expect: &Expect, replayed: &Replayed) -> bool {
    match expect.class {
        FailureClass::Safety => {
            replayed
                .trace
                .steps
                .iter()
                .flat_map(|s| &s.newly_violated)
                .any(|p| p.name() == expect.property)
                || replayed
                    .trace
                    .violations
                    .iter()
                    .any(|v| v.property.name() == expect.property)
        }
        FailureClass::Liveness => replayed.trace.not_settled.is_some(),
    }
}

/// One corpus file's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct CorpusEntry {
    /// The file.
    pub file: PathBuf,
    /// Its variant.
    pub variant: String,
    /// What it must show.
    pub expect: Expect,
    /// Actions.
    pub length: usize,
    /// It still shows it.
    pub reproduces: bool,
    /// What went wrong, if it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Replays every `*.json` file of `dir`, in name order.
pub fn replay_corpus(dir: &Path) -> Result<Vec<CorpusEntry>, GateError> {
    let listing = std::fs::read_dir(dir).map_err(|source| GateError::Corpus {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let file = ReplayFile::load(&path)?;
        let (reproduces, problem) = match file.schedule().replay() {
            Ok(replayed) if shows(&file.expect, &replayed) => (true, None),
            Ok(replayed) => (
                false,
                Some(format!(
                    "no longer shows {} \"{}\" (replay: {})",
                    file.expect.class.name(),
                    file.expect.property,
                    replayed
                        .failure
                        .map(|f| f.describe())
                        .unwrap_or_else(|| "no failure".to_string())
                )),
            ),
            Err(e) => (false, Some(format!("does not replay: {e}"))),
        };
        out.push(CorpusEntry {
            variant: file.variant.to_string(),
            expect: file.expect.clone(),
            length: file.actions.len(),
            file: path,
            reproduces,
            problem,
        });
    }
    Ok(out)
}

/// A model profile's outcome in the gate.
#[derive(Clone, Debug, Serialize)]
pub struct ModelStage {
    /// The profile.
    pub profile: &'static str,
    /// The full report.
    pub report: ModelReport,
    /// Replay files written for its counterexamples.
    pub files: Vec<PathBuf>,
}

/// How to run the gate.
#[derive(Clone, Debug)]
pub struct GateOptions {
    /// The variant under test.
    pub variant: Variant,
    /// The corpus directory (`None`: skip).
    pub corpus: Option<PathBuf>,
    /// Run the model stage.
    pub model: bool,
    /// Model threads.
    pub model_threads: usize,
    /// The simulator stage (`None`: skip).
    pub sim: Option<CampaignOptions>,
    /// Where failures are saved.
    pub out: PathBuf,
}

/// The gate's report.
#[derive(Clone, Debug, Serialize)]
pub struct GateReport {
    /// The variant.
    pub variant: String,
    /// What it is.
    pub variant_summary: String,
    /// The corpus.
    pub corpus: Vec<CorpusEntry>,
    /// The model stage, per profile.
    pub model: Vec<ModelStage>,
    /// The simulator stage.
    pub sim: Option<CampaignReport>,
    /// The verdict: pass, safety or liveness.
    pub verdict: String,
    /// The exit status.
    pub exit_code: u8,
    /// Seconds per stage: corpus, model, sim.
    pub seconds: [f64; 3],
}

/// Runs the gate.
pub fn run_gate(options: &GateOptions, stop: &AtomicBool) -> Result<GateReport, GateError> {
    let clock = std::time::Instant::now();
    let corpus = match &options.corpus {
        Some(dir) => replay_corpus(dir)?,
        None => Vec::new(),
    };
    let t_corpus = clock.elapsed().as_secs_f64();
    let mut model = Vec::new();
    if options.model {
        for profile in default_profiles() {
            let m = BackupModel::new(options.variant, profile.config)?;
            let report = m.check(CheckOptions {
                threads: options.model_threads.max(1),
                ..CheckOptions::default()
            })?;
            let files = save_model_counterexamples(&report, &options.out)?;
            model.push(ModelStage {
                profile: profile.name,
                report,
                files,
            });
        }
    }
    let t_model = clock.elapsed().as_secs_f64() - t_corpus;
    let sim = match &options.sim {
        Some(campaign) => Some(run_campaign(campaign, stop)?),
        None => None,
    };
    let t_sim = clock.elapsed().as_secs_f64() - t_corpus - t_model;

    let corpus_fails = corpus.iter().any(|e| !e.reproduces);
    let model_safety = model.iter().any(|m| {
        m.report
            .properties
            .iter()
            .any(|p| p.is_failure() && p.name != EVERY_BACKUP_ENDS)
            || !m.report.complete
    });
    let model_liveness = model.iter().any(|m| {
        m.report
            .properties
            .iter()
            .any(|p| p.is_failure() && p.name == EVERY_BACKUP_ENDS)
    });
    let sim_worst = sim.as_ref().and_then(|s| s.worst());
    let sim_bad = sim
        .as_ref()
        .is_some_and(|s| !s.nondeterministic_seeds.is_empty());
    let (verdict, exit_code) =
        if corpus_fails || model_safety || sim_bad || sim_worst == Some(FailureClass::Safety) {
            ("safety", 1)
        } else if model_liveness || sim_worst == Some(FailureClass::Liveness) {
            ("liveness", 3)
        } else {
            ("pass", 0)
        };
    Ok(GateReport {
        variant: options.variant.to_string(),
        variant_summary: options.variant.summary(),
        corpus,
        model,
        sim,
        verdict: verdict.to_string(),
        exit_code,
        seconds: [t_corpus, t_model, t_sim],
    })
}

/// Saves each violated property's shortest counterexample as a replay file.
pub fn save_model_counterexamples(
    report: &ModelReport,
    out: &Path,
) -> Result<Vec<PathBuf>, ReplayFileError> {
    let mut files = Vec::new();
    for property in &report.properties {
        let Verdict::Violated { trace, .. } = &property.verdict else {
            continue;
        };
        let schedule = Schedule {
            variant: trace.variant,
            config: trace.config,
            actions: trace.actions(),
            drain: false,
            drain_steps: None,
        };
        let expect = if property.name == EVERY_BACKUP_ENDS {
            Expect {
                class: FailureClass::Liveness,
                property: EVERY_BACKUP_ENDS.to_string(),
            }
        } else {
            Expect {
                class: FailureClass::Safety,
                property: property.name.to_string(),
            }
        };
        let file = ReplayFile::new(Engine::Model, &schedule, expect, None, None);
        files.push(file.save(out)?);
    }
    Ok(files)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Coverage as two lines: action kinds, then `sometimes` cases (runs that reached each).
pub fn render_coverage(coverage: &Coverage, runs: u64) -> String {
    let mut out = String::new();
    let kinds: Vec<String> = coverage
        .by_kind()
        .map(|(k, n)| format!("{} {}", k.name(), thousands(n)))
        .collect();
    let _ = writeln!(out, "  actions: {}", kinds.join(", "));
    let [stopped, failed, lost] = coverage.backups_ended;
    let _ = writeln!(
        out,
        "  backups ended: {} stopped, {} failed or aborted, {} lost in a crash",
        thousands(stopped),
        thousands(failed),
        thousands(lost)
    );
    let cases: Vec<String> = coverage
        .by_case()
        .map(|(c, n)| match n {
            Some(n) => format!("{c} {n}/{runs}"),
            None => format!("{c} n/a"),
        })
        .collect();
    let _ = writeln!(out, "  cases reached (runs): {}", cases.join("; "));
    out
}

/// A campaign's summary, with each failure group's counterexample.
pub fn render_campaign(report: &CampaignReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sim: {} seeds{} of {}..{} (shard {}/{}), {} fault-phase steps each{}: {} steps in {:.1} s ({} steps/s)",
        report.seeds_run,
        if report.interrupted { " (interrupted)" } else { "" },
        report.seeds.start,
        report.seeds.end,
        report.shard.index,
        report.shard.count,
        report.steps_per_seed,
        if report.swarm { ", swarm" } else { "" },
        thousands(report.steps),
        report.seconds,
        thousands(report.steps_per_second as u64),
    );
    let _ = writeln!(out, "  bounds: {}", report.bounds);
    out.push_str(&render_coverage(&report.coverage, report.seeds_run));
    if !report.nondeterministic_seeds.is_empty() {
        let _ = writeln!(
            out,
            "  NOT DETERMINISTIC: seeds {:?} gave different runs twice",
            report.nondeterministic_seeds
        );
    }
    if report.failures.is_empty() {
        let _ = writeln!(out, "  no failure");
    }
    for group in &report.failures {
        let _ = writeln!(
            out,
            "  {} failure \"{}\" in {} seed(s), lowest seed {}",
            group.class.name(),
            group.property,
            group.seeds,
            group.first_seed
        );
        if let Some(stats) = group.shrink {
            let _ = writeln!(
                out,
                "    shrunk from {} to {} actions ({} replays)",
                stats.length_before, stats.length_after, stats.replays
            );
        }
        if let Some(file) = &group.file {
            let _ = writeln!(
                out,
                "    saved: {} (backup-check replay {})",
                file.display(),
                file.display()
            );
        }
        if let Some(trace) = &group.trace {
            for line in trace.render_text().lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out
}

impl GateReport {
    /// The one-screen summary (counterexamples follow it).
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "backup-check check: variant {} ({})",
            self.variant, self.variant_summary
        );
        let reproduced = self.corpus.iter().filter(|e| e.reproduces).count();
        let _ = writeln!(
            out,
            "corpus: {} replay file(s), {} reproduce their failure ({:.1} s)",
            self.corpus.len(),
            reproduced,
            self.seconds[0]
        );
        for e in self.corpus.iter().filter(|e| !e.reproduces) {
            let _ = writeln!(
                out,
                "  REGRESSION {}: {}",
                e.file.display(),
                e.problem.as_deref().unwrap_or("")
            );
        }
        for stage in &self.model {
            let r = &stage.report;
            let held = r.properties.iter().filter(|p| !p.is_failure()).count();
            let _ = writeln!(
                out,
                "model {}: {} unique states, depth {}, {:.1} s ({} states/s), {}/{} properties hold{}",
                stage.profile,
                thousands(r.unique_states as u64),
                r.max_depth,
                r.seconds,
                thousands(r.states_per_second as u64),
                held,
                r.properties.len(),
                if r.complete { "" } else { ", INCOMPLETE" }
            );
            let _ = writeln!(out, "  bounds: {}", r.bounds_text);
            for p in r.properties.iter().filter(|p| p.is_failure()) {
                let what = match &p.verdict {
                    Verdict::Violated { length, .. } => {
                        format!("VIOLATED, shortest counterexample {length} steps")
                    }
                    Verdict::NotReached => "NOT REACHED: the bounds do not test it".to_string(),
                    _ => "not judged: the search was incomplete".to_string(),
                };
                let _ = writeln!(out, "  {}: {what}", p.name);
            }
            for file in &stage.files {
                let _ = writeln!(out, "  saved: {}", file.display());
            }
        }
        if let Some(sim) = &self.sim {
            out.push_str(&render_campaign(sim));
        }
        for stage in &self.model {
            for p in &stage.report.properties {
                if let Verdict::Violated { trace, .. } = &p.verdict {
                    let _ = writeln!(
                        out,
                        "\nmodel counterexample ({}) for \"{}\":",
                        stage.profile, p.name
                    );
                    out.push_str(&trace.render_text());
                }
            }
        }
        let _ = writeln!(
            out,
            "verdict: {} (exit {})",
            match self.verdict.as_str() {
                "pass" => "PASS, every property holds",
                "liveness" => "LIVENESS FAILURE",
                _ => "SAFETY FAILURE",
            },
            self.exit_code
        );
        out
    }
}
