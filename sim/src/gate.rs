//! The CI gate (`backup-check check`): the regression corpus, then the exhaustive model of the
//! variant at the default profiles, then the simulator over a seed range; one summary, one
//! JSON report, one exit status: 0 nothing but the variant's reviewed known findings
//! ([`crate::expected`]), 1 a new safety finding, a known finding changed or gone, a case the
//! bounds never reach, or a corpus entry that replays without its failure, 3 a new liveness
//! failure and nothing worse, 5 a corpus entry that no longer replays (stale) and nothing
//! worse.

use crate::campaign::{run_campaign, CampaignError, CampaignOptions, CampaignReport};
use crate::expected::{compare, Comparison, ExpectedFindings};
use crate::incremental::{run_incremental_campaign, sim_bounds, IncrementalSimReport};
use crate::kind::Coverage;
use crate::replay_file::{Engine, Expect, ReplayFile, ReplayFileError};
use crate::run::FailureClass;
use crate::schedule::{Replayed, Schedule};
use backup_coordinator::incremental::cluster::IncrementalProperty;
use backup_coordinator::invariants::EVERY_BACKUP_ENDS;
use backup_coordinator::Variant;
use backup_model::incremental::{
    self, IncrementalModel, IncrementalOptions, IncrementalReport, IncrementalVerdict,
};
use backup_model::{
    default_profiles, thorough_profiles, BackupModel, CheckOptions, ModelReport, Profile, Verdict,
};
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
    /// The known findings file is unusable.
    #[error(transparent)]
    Expected(#[from] crate::expected::ExpectedError),
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

/// How a corpus file fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorpusStatus {
    /// It replays and shows its failure.
    Reproduces,
    /// It replays, and no longer shows its failure: the harness stopped catching it.
    Regression,
    /// It no longer replays (an action is not enabled where it stands, or the file is of an
    /// older version): the steps or the format changed; regenerate it.
    Stale,
}

/// One corpus file's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct CorpusEntry {
    /// The file.
    pub file: PathBuf,
    /// Its variant (empty if the file could not be read).
    pub variant: String,
    /// What it must show (`None` if the file could not be read).
    pub expect: Option<Expect>,
    /// Actions.
    pub length: usize,
    /// How it fared.
    pub status: CorpusStatus,
    /// It still shows its failure.
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
        let file = match ReplayFile::load(&path) {
            Ok(file) => file,
            Err(e @ ReplayFileError::Version { .. }) => {
                out.push(CorpusEntry {
                    variant: String::new(),
                    expect: None,
                    length: 0,
                    file: path,
                    status: CorpusStatus::Stale,
                    reproduces: false,
                    problem: Some(format!("{e}: regenerate it")),
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let (status, problem) = match file.schedule().replay() {
            Ok(replayed) if shows(&file.expect, &replayed) => (CorpusStatus::Reproduces, None),
            Ok(replayed) => (
                CorpusStatus::Regression,
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
            Err(e) => (
                CorpusStatus::Stale,
                Some(format!(
                    "does not replay any more ({e}): the steps changed; regenerate it (backup-check check --variant {} saves the current counterexamples)",
                    file.variant
                )),
            ),
        };
        out.push(CorpusEntry {
            variant: file.variant.to_string(),
            expect: Some(file.expect.clone()),
            length: file.actions.len(),
            file: path,
            status,
            reproduces: status == CorpusStatus::Reproduces,
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
    /// Its findings against the variant's known findings.
    pub findings: Vec<Comparison>,
    /// Replay files written for its counterexamples.
    pub files: Vec<PathBuf>,
}

/// An incremental-backup profile's outcome in the gate (for a design with incremental
/// backups).
#[derive(Clone, Debug, Serialize)]
pub struct IncrementalStage {
    /// The profile.
    pub profile: &'static str,
    /// The full report.
    pub report: IncrementalReport,
    /// Its findings against the variant's known findings.
    pub findings: Vec<Comparison>,
}

/// Which stages reached one mechanism of the core (a `sometimes` case of the model).
#[derive(Clone, Debug, Serialize)]
pub struct MechanismCoverage {
    /// The case.
    pub mechanism: &'static str,
    /// The model profiles that reached it.
    pub model_profiles: Vec<&'static str>,
    /// It applies to some model profile's bounds (a case that applies nowhere, such as an
    /// exclusive backup in a design without them, is not expected to be reached).
    pub model_applies: bool,
    /// The simulator's runs that reached it (`None`: it does not apply to the runs).
    pub sim_runs: Option<u64>,
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
    /// Only these model profiles (empty: every default profile, and with `thorough` every
    /// thorough one too). A thorough profile named here runs without `thorough`.
    pub profiles: Vec<String>,
    /// Also the thorough profiles ([`backup_model::thorough_profiles`]).
    pub thorough: bool,
    /// Model threads.
    pub model_threads: usize,
    /// The simulator stage (`None`: skip).
    pub sim: Option<CampaignOptions>,
    /// Where failures are saved.
    pub out: PathBuf,
    /// The reviewed known findings.
    pub expected: ExpectedFindings,
    /// Show the model stage's progress on the terminal.
    pub progress: bool,
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
    /// The model stage's incremental-backup profiles (none for a design without them).
    pub incremental: Vec<IncrementalStage>,
    /// The simulator stage.
    pub sim: Option<CampaignReport>,
    /// The simulator's incremental-backup runs over the same seeds (a design with incremental
    /// backups, when the simulator stage runs).
    pub incremental_sim: Option<IncrementalSimReport>,
    /// Per mechanism of the core, which stage reached it.
    pub coverage: Vec<MechanismCoverage>,
    /// The known findings file used.
    pub expected_findings: Option<PathBuf>,
    /// The verdict: pass, safety, liveness, interrupted, stale or nothing-checked.
    pub verdict: String,
    /// The exit status.
    pub exit_code: u8,
    /// Seconds per stage.
    pub seconds: StageSeconds,
    /// What could not be written (a counterexample, the JSON report): the findings are still
    /// printed, and a run that found nothing else exits 2.
    pub output_errors: Vec<String>,
    /// The stages not run (`corpus`, `model`, `sim`), by flag or for want of a corpus.
    pub skipped: Vec<&'static str>,
}

/// Wall time per stage of the gate, seconds (0 for a stage not run).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct StageSeconds {
    /// Replaying the corpus.
    pub corpus: f64,
    /// The model's profiles.
    pub model: f64,
    /// The simulator.
    pub sim: f64,
}

impl GateReport {
    /// Records that an output could not be written: the exit status becomes 2 (bad usage or
    /// input) unless the run found something worse, which the status keeps.
    pub fn output_failed(&mut self, error: String) {
        self.output_errors.push(error);
        if !matches!(self.exit_code, 1 | 3) {
            self.exit_code = 2;
            self.verdict = "not-saved".to_string();
        }
    }
}

/// The coordinator's model profiles the gate checks: those `named` (a thorough one too), or
/// with no name every default profile, and every thorough one as well when `thorough`.
pub fn gate_profiles(named: &[String], thorough: bool) -> Vec<Profile> {
    let is_named = |p: &Profile| named.iter().any(|n| n == p.name);
    let all = named.is_empty();
    default_profiles()
        .into_iter()
        .filter(|p| all || is_named(p))
        .chain(
            thorough_profiles()
                .into_iter()
                .filter(|p| is_named(p) || (all && thorough)),
        )
        .collect()
}

/// Runs the gate.
pub fn run_gate(options: &GateOptions, stop: &'static AtomicBool) -> Result<GateReport, GateError> {
    let clock = std::time::Instant::now();
    let corpus = match &options.corpus {
        Some(dir) => replay_corpus(dir)?,
        None => Vec::new(),
    };
    let t_corpus = clock.elapsed().as_secs_f64();
    let mut model = Vec::new();
    let mut output_errors = Vec::new();
    if options.model {
        for profile in gate_profiles(&options.profiles, options.thorough) {
            let m = BackupModel::new(options.variant, profile.config)?;
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let report = m.check(CheckOptions {
                threads: options.model_threads.max(1),
                interrupt: Some(stop),
                progress: options.progress,
                ..CheckOptions::default()
            })?;
            let files = match save_model_counterexamples(&report, profile.name, &options.out) {
                Ok(files) => files,
                Err(error) => {
                    output_errors.push(error.to_string());
                    Vec::new()
                }
            };
            let found: Vec<(String, usize)> = report
                .properties
                .iter()
                .filter_map(|p| match &p.verdict {
                    Verdict::Violated { length, .. } => Some((p.name.to_string(), *length)),
                    _ => None,
                })
                .collect();
            let findings = compare(&options.expected, options.variant, profile.name, &found);
            model.push(ModelStage {
                profile: profile.name,
                report,
                findings,
                files,
            });
        }
    }
    let mut incremental_stages = Vec::new();
    if options.model {
        for profile in incremental::profiles()
            .into_iter()
            .filter(|p| options.profiles.is_empty() || options.profiles.iter().any(|n| n == p.name))
        {
            let Some(m) = IncrementalModel::new(options.variant, profile) else {
                break;
            };
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let report = m.check(IncrementalOptions {
                threads: options.model_threads.max(1),
                timeout: None,
                interrupt: Some(stop),
            });
            let findings = compare(
                &options.expected,
                options.variant,
                profile.name,
                &report.violated(),
            );
            incremental_stages.push(IncrementalStage {
                profile: profile.name,
                report,
                findings,
            });
        }
    }
    let t_model = clock.elapsed().as_secs_f64() - t_corpus;
    let sim = match &options.sim {
        Some(campaign) => {
            let mut campaign = campaign.clone();
            campaign.spec.known = options.expected.known_properties(options.variant);
            Some(run_campaign(&campaign, stop)?)
        }
        None => None,
    };
    let incremental_sim = match (&options.sim, options.variant.rules().incremental) {
        (Some(campaign), Some(rules)) => {
            let known: Vec<&str> = options
                .expected
                .of(options.variant)
                .map(|f| f.property.as_str())
                .collect();
            Some(run_incremental_campaign(
                options.variant,
                rules,
                sim_bounds(),
                campaign.seeds,
                &known,
                stop,
            ))
        }
        _ => None,
    };
    let t_sim = clock.elapsed().as_secs_f64() - t_corpus - t_model;

    let corpus_fails = corpus.iter().any(|e| e.status == CorpusStatus::Regression);
    let corpus_stale = corpus.iter().any(|e| e.status == CorpusStatus::Stale);
    let interrupted = stop.load(std::sync::atomic::Ordering::SeqCst);
    let unexpected = |liveness: bool| {
        model.iter().any(|m| {
            m.findings.iter().any(|c| {
                let property = match c {
                    Comparison::Known { .. } => return false,
                    // A search stopped by Ctrl-C may not have got to a known finding yet.
                    Comparison::Missing { .. } if m.report.interrupted => return false,
                    Comparison::New { property, .. }
                    | Comparison::Changed { property, .. }
                    | Comparison::Missing { property, .. } => property,
                };
                (property == EVERY_BACKUP_ENDS) == liveness
            })
        })
    };
    let model_safety = unexpected(false)
        || model.iter().any(|m| {
            (!m.report.complete && !m.report.interrupted)
                || m.report
                    .properties
                    .iter()
                    .any(|p| matches!(p.verdict, Verdict::NotReached))
        });
    let unexpected_incremental = |liveness: bool| {
        incremental_stages.iter().any(|m| {
            m.findings.iter().any(|c| {
                let property = match c {
                    Comparison::Known { .. } => return false,
                    Comparison::Missing { .. } if m.report.interrupted => return false,
                    Comparison::New { property, .. }
                    | Comparison::Changed { property, .. }
                    | Comparison::Missing { property, .. } => property,
                };
                (property == IncrementalProperty::EVENTUALLY.name()) == liveness
            })
        })
    };
    let model_safety = model_safety
        || unexpected_incremental(false)
        || incremental_stages.iter().any(|m| {
            (!m.report.complete && !m.report.interrupted) || !m.report.not_reached().is_empty()
        });
    let model_liveness = unexpected(true) || unexpected_incremental(true);
    let sim_worst = [
        sim.as_ref().and_then(|s| s.worst()),
        incremental_sim.as_ref().and_then(|s| s.worst()),
    ]
    .into_iter()
    .flatten()
    .min();
    let sim_bad = sim
        .as_ref()
        .is_some_and(|s| !s.nondeterministic_seeds.is_empty());
    // A gate that checked nothing (every stage skipped, or a simulator that reached none of
    // its coverage cases and no other stage) must not pass.
    let sim_checked = sim.as_ref().is_some_and(|s| {
        s.steps > 0
            && s.coverage
                .cases
                .iter()
                .zip(&s.coverage.cases_apply)
                .any(|(&n, &applies)| applies && n > 0)
    });
    let nothing_checked = corpus.is_empty() && model.is_empty() && !sim_checked;
    let (verdict, exit_code) =
        if corpus_fails || model_safety || sim_bad || sim_worst == Some(FailureClass::Safety) {
            ("safety", 1)
        } else if model_liveness || sim_worst == Some(FailureClass::Liveness) {
            ("liveness", 3)
        } else if interrupted {
            ("interrupted", 130)
        } else if corpus_stale {
            ("stale", 5)
        } else if nothing_checked {
            ("nothing-checked", 4)
        } else {
            ("pass", 0)
        };
    let coverage = mechanism_coverage(&model, sim.as_ref());
    let mut report = GateReport {
        variant: options.variant.to_string(),
        variant_summary: options.variant.summary(),
        corpus,
        model,
        incremental: incremental_stages,
        sim,
        incremental_sim,
        coverage,
        expected_findings: options.expected.file.clone(),
        verdict: verdict.to_string(),
        exit_code,
        seconds: StageSeconds {
            corpus: t_corpus,
            model: t_model,
            sim: t_sim,
        },
        output_errors: Vec::new(),
        skipped: [
            ("corpus", options.corpus.is_none()),
            ("model", !options.model),
            ("sim", options.sim.is_none()),
        ]
        .into_iter()
        .filter(|&(_, skipped)| skipped)
        .map(|(stage, _)| stage)
        .collect(),
    };
    for error in output_errors.into_iter().chain(
        report
            .sim
            .iter()
            .flat_map(|s| s.failures.iter().filter_map(|g| g.save_error.clone()))
            .collect::<Vec<_>>(),
    ) {
        report.output_failed(error);
    }
    Ok(report)
}

/// Per `sometimes` case of the model (a mechanism of the core), the profiles and the
/// simulator runs that reached it.
pub fn mechanism_coverage(
    model: &[ModelStage],
    sim: Option<&CampaignReport>,
) -> Vec<MechanismCoverage> {
    backup_model::CASES
        .iter()
        .enumerate()
        .map(|(i, case)| MechanismCoverage {
            mechanism: case.name,
            model_profiles: model
                .iter()
                .filter(|m| {
                    m.report
                        .properties
                        .iter()
                        .any(|p| p.name == case.name && matches!(p.verdict, Verdict::Reached))
                })
                .map(|m| m.profile)
                .collect(),
            model_applies: model
                .iter()
                .any(|m| m.report.properties.iter().any(|p| p.name == case.name)),
            sim_runs: sim.and_then(|s| s.coverage.cases_apply[i].then_some(s.coverage.cases[i])),
        })
        .collect()
}

/// The profile part of a model counterexample's file name: the profile's name, and for
/// bounds given on the command line a digest of them, so that no two searches save under
/// one name.
pub fn profile_tag(profile: &str, bounds: &backup_coordinator::Config) -> String {
    if profile != "custom" {
        return profile.to_string();
    }
    use std::hash::{Hash, Hasher};
    let mut digest = crate::run::Fnv::default();
    bounds.hash(&mut digest);
    format!("custom-{:08x}", digest.finish() as u32)
}

/// Saves each violated property's shortest counterexample as a replay file, named after the
/// variant, the profile (and bounds), the class and the property.
pub fn save_model_counterexamples(
    report: &ModelReport,
    profile: &str,
    out: &Path,
) -> Result<Vec<PathBuf>, ReplayFileError> {
    let mut files = Vec::new();
    for property in &report.properties {
        let Verdict::Violated { trace, .. } = &property.verdict else {
            continue;
        };
        let liveness = property.name == EVERY_BACKUP_ENDS;
        // A liveness counterexample is judged at its end: the safety properties its path
        // violates on the way are gone past, as the model's search went past them.
        let known = if liveness {
            trace
                .steps
                .iter()
                .flat_map(|s| s.newly_violated.iter().copied())
                .collect()
        } else {
            backup_coordinator::invariants::PropertySet::EMPTY
        };
        let schedule = Schedule {
            variant: trace.variant,
            config: trace.config,
            actions: trace.actions(),
            drain: false,
            drain_steps: None,
            known,
        };
        let expect = if liveness {
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
        let mut file = ReplayFile::new(Engine::Model, &schedule, expect, None, None);
        file.profile = Some(profile_tag(profile, &report.bounds));
        files.push(file.save(out)?);
    }
    Ok(files)
}

/// `n` with its digits grouped in thousands (`1,234,567`).
pub fn thousands(n: u64) -> String {
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
    let _ = writeln!(out, "  bounds: {}", report.bounds_text);
    out.push_str(&render_coverage(&report.coverage, report.seeds_run));
    let known: Vec<String> = backup_coordinator::invariants::Property::ALL
        .iter()
        .zip(report.coverage.known_findings)
        .filter(|(_, n)| *n > 0)
        .map(|(p, n)| format!("{p} in {n} run(s)"))
        .collect();
    if !known.is_empty() {
        let _ = writeln!(
            out,
            "  known findings seen (listed, not failures): {}",
            known.join("; ")
        );
    }
    if report.coverage.unsettled_by_known > 0 {
        let _ = writeln!(
            out,
            "  runs left unsettled by a known finding (its consequence, not a liveness failure): {}",
            report.coverage.unsettled_by_known
        );
    }
    let _ = writeln!(
        out,
        "  commands the server refused: {}",
        thousands(report.coverage.refused)
    );
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
    /// Known findings found as listed: by the model (per profile and property), and by the
    /// simulator (per property seen in some run, and runs left unsettled by one).
    pub fn known_findings(&self) -> usize {
        let model = self
            .model
            .iter()
            .flat_map(|m| &m.findings)
            .filter(|c| c.is_known())
            .count();
        let sim = self.sim.as_ref().map_or(0, |s| {
            s.coverage.known_findings.iter().filter(|&&n| n > 0).count()
                + usize::from(s.coverage.unsettled_by_known > 0)
        });
        let incremental = self
            .incremental
            .iter()
            .flat_map(|m| &m.findings)
            .filter(|c| c.is_known())
            .count();
        let incremental_sim = self
            .incremental_sim
            .as_ref()
            .map_or(0, |s| s.known_seen.len());
        model + incremental + sim + incremental_sim
    }

    /// The one-screen summary (counterexamples follow it).
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "backup-check check: variant {} ({})",
            self.variant, self.variant_summary
        );
        let reproduced = self.corpus.iter().filter(|e| e.reproduces).count();
        let stale = self
            .corpus
            .iter()
            .filter(|e| e.status == CorpusStatus::Stale)
            .count();
        if self.skipped.contains(&"corpus") {
            let _ = writeln!(out, "corpus: skipped");
        } else {
            let _ = writeln!(
                out,
                "corpus: {} replay file(s), {} reproduce their failure{} ({:.1} s)",
                self.corpus.len(),
                reproduced,
                if stale > 0 {
                    format!(", {stale} stale")
                } else {
                    String::new()
                },
                self.seconds.corpus
            );
        }
        if self.skipped.contains(&"model") {
            let _ = writeln!(out, "model: skipped");
        }
        if self.skipped.contains(&"sim") {
            let _ = writeln!(out, "sim: skipped");
        }
        for e in self.corpus.iter().filter(|e| !e.reproduces) {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                match e.status {
                    CorpusStatus::Stale => "STALE",
                    _ => "REGRESSION",
                },
                e.file.display(),
                e.problem.as_deref().unwrap_or("")
            );
        }
        if let Some(file) = &self.expected_findings {
            let _ = writeln!(out, "known findings: {}", file.display());
        }
        for stage in &self.model {
            let r = &stage.report;
            let held = r.properties.iter().filter(|p| !p.is_failure()).count();
            let _ = writeln!(
                out,
                "model {}: {} unique states, depth {}, {:.1} s ({} states/s), {}/{} properties {}{}",
                stage.profile,
                thousands(r.unique_states as u64),
                r.max_depth,
                r.seconds,
                thousands(r.states_per_second as u64),
                held,
                r.properties.len(),
                if r.complete {
                    "hold"
                } else {
                    "with no violation found so far"
                },
                if r.interrupted {
                    ", INTERRUPTED"
                } else if r.complete {
                    ""
                } else {
                    ", INCOMPLETE"
                }
            );
            let _ = writeln!(out, "  bounds: {}", r.bounds_text);
            for finding in &stage.findings {
                let _ = writeln!(out, "  {}", finding.describe());
            }
            for p in r.properties.iter().filter(|p| {
                matches!(
                    p.verdict,
                    Verdict::NotReached | Verdict::NotReachedYet | Verdict::NotJudged
                )
            }) {
                let what = match &p.verdict {
                    Verdict::NotReached => "NOT REACHED: the bounds do not test it",
                    Verdict::NotReachedYet => "not reached yet: the search stopped early",
                    _ => "not judged: the search was incomplete",
                };
                let _ = writeln!(out, "  {}: {what}", p.name);
            }
            for file in &stage.files {
                let _ = writeln!(out, "  saved: {}", file.display());
            }
        }
        for stage in &self.incremental {
            let r = &stage.report;
            let held = r
                .properties
                .iter()
                .filter(|p| {
                    !matches!(
                        p.verdict,
                        IncrementalVerdict::Violated { .. }
                            | IncrementalVerdict::NotReached
                            | IncrementalVerdict::NotReachedYet
                            | IncrementalVerdict::NotJudged
                    )
                })
                .count();
            let _ = writeln!(
                out,
                "model {}: {} unique states, depth {}, {:.1} s ({} states/s), {}/{} properties {}{}",
                stage.profile,
                thousands(r.unique_states as u64),
                r.max_depth,
                r.seconds,
                thousands(r.states_per_second as u64),
                held,
                r.properties.len(),
                if r.complete {
                    "hold"
                } else {
                    "with no violation found so far"
                },
                if r.interrupted {
                    ", INTERRUPTED"
                } else if r.complete {
                    ""
                } else {
                    ", INCOMPLETE"
                }
            );
            let _ = writeln!(out, "  bounds: {}", r.bounds_text);
            for finding in &stage.findings {
                let _ = writeln!(out, "  {}", finding.describe());
            }
            for p in &r.properties {
                let what = match &p.verdict {
                    IncrementalVerdict::NotReached => "NOT REACHED: the bounds do not test it",
                    IncrementalVerdict::NotReachedYet => {
                        "not reached yet: the search stopped early"
                    }
                    IncrementalVerdict::NotJudged => "not judged: the search was incomplete",
                    _ => continue,
                };
                let _ = writeln!(out, "  {}: {what}", p.name);
            }
        }
        if let Some(sim) = &self.sim {
            out.push_str(&render_campaign(sim));
        }
        if let Some(sim) = &self.incremental_sim {
            out.push_str(&sim.render_text());
        }
        if !self.coverage.is_empty() && (!self.model.is_empty() || self.sim.is_some()) {
            let _ = writeln!(
                out,
                "coverage by mechanism (model profiles that reached it; simulator runs):"
            );
            for m in &self.coverage {
                let model = if self.model.is_empty() {
                    "-".to_string()
                } else if !m.model_applies {
                    "n/a".to_string()
                } else if m.model_profiles.is_empty() {
                    "none".to_string()
                } else {
                    m.model_profiles.join(", ")
                };
                let sim = match (self.sim.as_ref(), m.sim_runs) {
                    (None, _) => "-".to_string(),
                    (Some(_), None) => "n/a".to_string(),
                    (Some(s), Some(n)) => format!("{n}/{}", s.seeds_run),
                };
                let _ = writeln!(out, "  {}: model {model}; sim {sim}", m.mechanism);
            }
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
        for stage in &self.incremental {
            for p in &stage.report.properties {
                if let IncrementalVerdict::Violated { trace, .. } = &p.verdict {
                    let _ = writeln!(
                        out,
                        "\nmodel counterexample ({}) for \"{}\":",
                        stage.profile, p.name
                    );
                    out.push_str(&trace.render_text());
                }
            }
        }
        for error in &self.output_errors {
            let _ = writeln!(out, "not saved: {error}");
        }
        let _ = writeln!(
            out,
            "verdict: {}{} (exit {})",
            match self.verdict.as_str() {
                "pass" if self.known_findings() > 0 =>
                    "PASS, nothing but the reviewed known findings",
                "pass" => "PASS, every property holds",
                "liveness" => "LIVENESS FAILURE",
                "interrupted" => "INTERRUPTED by Ctrl-C; the lines above say what was covered",
                "stale" => "STALE CORPUS, regenerate the entries named above",
                "nothing-checked" =>
                    "NOTHING CHECKED: every stage was skipped or reached none of its cases",
                _ => "SAFETY FAILURE",
            },
            if self.output_errors.is_empty() {
                ""
            } else {
                "; but some results could not be written (see \"not saved\" above)"
            },
            self.exit_code
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(named: &[&str], thorough: bool) -> Vec<&'static str> {
        let named: Vec<String> = named.iter().map(|n| n.to_string()).collect();
        gate_profiles(&named, thorough)
            .iter()
            .map(|p| p.name)
            .collect()
    }

    #[test]
    fn gate_checks_the_default_profiles_and_with_thorough_the_thorough_ones_too() {
        let defaults: Vec<&str> = default_profiles().iter().map(|p| p.name).collect();
        let thorough: Vec<&str> = thorough_profiles().iter().map(|p| p.name).collect();
        assert_eq!(names(&[], false), defaults);
        assert_eq!(names(&[], true), [defaults, thorough.clone()].concat());
        assert!(!thorough.is_empty());
        assert!(thorough.iter().all(|t| !names(&[], false).contains(t)));
    }

    #[test]
    fn named_profiles_run_alone_whether_default_or_thorough() {
        assert_eq!(names(&["faults"], true), ["faults"]);
        assert_eq!(
            names(&["concurrency-fault", "pages"], false),
            ["pages", "concurrency-fault"]
        );
    }
}
