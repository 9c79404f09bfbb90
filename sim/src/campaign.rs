//! A campaign: a range of seeds (or one shard of it) run on worker threads, failures grouped
//! by class and property, the lowest failing seed of each group re-run with recording,
//! shrunk and saved as a replay file.
//!
//! Results do not depend on the number of threads or their timing: coverage and counts are
//! sums, and each group is represented by its *lowest* failing seed, whichever thread found
//! it first.

use crate::kind::Coverage;
use crate::replay_file::{Engine, Expect, ReplayFile, ReplayFileError};
use crate::run::{run_seed, Failure, FailureClass, Recording, RunSpec, STANDBY_EVERY};
use crate::schedule::Schedule;
use crate::shrink::{shrink, ShrinkStats};
use backup_coordinator::trace::Trace;
use backup_model::BackupModel;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use thiserror::Error;

/// A half-open range of seeds, `A..B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SeedRange {
    /// First seed.
    pub start: u64,
    /// One past the last.
    pub end: u64,
}

impl FromStr for SeedRange {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (a, b) = text
            .split_once("..")
            .ok_or_else(|| format!("seeds {text:?}: expected a range A..B, e.g. 0..1000"))?;
        let number = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("seeds {text:?}: {s:?} is not a seed number"))
        };
        let (start, end) = (number(a)?, number(b)?);
        if start >= end {
            return Err(format!(
                "seeds {text:?}: the range is empty (A..B runs A up to B-1; B must be greater than A)"
            ));
        }
        Ok(SeedRange { start, end })
    }
}

/// One of N shards of a seed range: shard K (1-based) takes the seeds `s` with
/// `s % N == K - 1`, so N machines given `1/N` .. `N/N` cover the range exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Shard {
    /// K, 1-based.
    pub index: u64,
    /// N.
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 1, count: 1 }
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("shard {text:?}: expected K/N with 1 <= K <= N, e.g. 2/8");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u64 = k.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for SeedRange {
    /// `A..B`, as the flag takes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

impl SeedRange {
    /// The seeds of `shard`, in order.
    pub fn seeds(self, shard: Shard) -> impl Iterator<Item = u64> {
        let residue = shard.index - 1;
        let offset = (residue + shard.count - self.start % shard.count) % shard.count;
        (self.start.saturating_add(offset)..self.end).step_by(shard.count as usize)
    }

    /// How many seeds `shard` has.
    pub fn len(self, shard: Shard) -> u64 {
        let residue = shard.index - 1;
        let offset = (residue + shard.count - self.start % shard.count) % shard.count;
        let first = self.start.saturating_add(offset);
        if first >= self.end {
            0
        } else {
            (self.end - first).div_ceil(shard.count)
        }
    }

    /// Whether the range is empty for `shard`.
    pub fn is_empty(self, shard: Shard) -> bool {
        self.len(shard) == 0
    }
}

/// How to run a campaign.
#[derive(Clone, Debug)]
pub struct CampaignOptions {
    /// What each seed runs.
    pub spec: RunSpec,
    /// The seeds.
    pub seeds: SeedRange,
    /// This machine's shard.
    pub shard: Shard,
    /// Worker threads.
    pub threads: usize,
    /// Run every seed twice and require the same digest.
    pub check_determinism: bool,
    /// Shrink each group's lowest failing seed.
    pub shrink: bool,
    /// Replays allowed per shrink.
    pub shrink_replays_max: u64,
    /// Save each group's replay file here.
    pub out: Option<PathBuf>,
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

/// A group of failures: one class and property.
#[derive(Clone, Debug, Serialize)]
pub struct FailureGroup {
    /// Safety or liveness.
    pub class: FailureClass,
    /// The property.
    pub property: &'static str,
    /// Seeds that failed this way.
    pub seeds: u64,
    /// The lowest of them.
    pub first_seed: u64,
    /// How it failed.
    pub failure: Failure,
    /// Shrinking, where done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shrink: Option<ShrinkStats>,
    /// The replay file written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Why the replay file could not be written (the failure is reported all the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_error: Option<String>,
    /// The (shrunk) counterexample.
    #[serde(skip)]
    pub trace: Option<Trace>,
}

/// What a campaign did.
#[derive(Clone, Debug, Serialize)]
pub struct CampaignReport {
    /// The design.
    pub variant: String,
    /// The bounds (the same object as the model's report and the replay files' `config`).
    pub bounds: backup_coordinator::Config,
    /// The bounds, in words.
    pub bounds_text: String,
    /// Fault-phase steps per seed.
    pub steps_per_seed: u32,
    /// Swarm testing on.
    pub swarm: bool,
    /// The weights by action kind (the base weights, with swarm).
    #[serde(serialize_with = "crate::profile::weights_by_kind")]
    pub weights: crate::profile::Weights,
    /// The seeds.
    pub seeds: SeedRange,
    /// The shard.
    pub shard: Shard,
    /// Seeds planned for this shard.
    pub seeds_planned: u64,
    /// Seeds run (fewer if interrupted).
    pub seeds_run: u64,
    /// Steps run, both phases, all seeds.
    pub steps: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Steps per second.
    pub steps_per_second: f64,
    /// Seeds whose two runs differed (with `--check-determinism`).
    pub nondeterministic_seeds: Vec<u64>,
    /// Coverage.
    pub coverage: Coverage,
    /// Failures, by class and property.
    pub failures: Vec<FailureGroup>,
    /// Stopped by Ctrl-C.
    pub interrupted: bool,
}

impl CampaignReport {
    /// The worst failure class found, if any.
    pub fn worst(&self) -> Option<FailureClass> {
        self.failures.iter().map(|g| g.class).min()
    }
}

/// Why a campaign could not run.
#[derive(Debug, Error)]
pub enum CampaignError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] backup_coordinator::config::ConfigError),
    /// The model (for coverage cases) could not be built.
    #[error("{0}")]
    Model(#[from] backup_model::ModelError),
    /// A replay file could not be written.
    #[error(transparent)]
    File(#[from] ReplayFileError),
    /// Re-running a failing seed with recording did not fail the same way (a determinism bug).
    #[error("seed {seed} failed as {first} but its recorded re-run gave {second}: the simulator is not deterministic")]
    Rerun {
        /// The seed.
        seed: u64,
        /// First failure.
        first: String,
        /// Second.
        second: String,
    },
}

#[derive(Default)]
struct Tally {
    seeds: u64,
    steps: u64,
    coverage: Coverage,
    groups: BTreeMap<(FailureClass, &'static str), (u64, u64, Failure)>,
    nondeterministic: Vec<u64>,
}

impl Tally {
    fn add_failure(&mut self, seed: u64, failure: Failure) {
        let key = (failure.class(), failure.property());
        let entry = self.groups.entry(key).or_insert((0, seed, failure.clone()));
        entry.0 += 1;
        if seed < entry.1 {
            entry.1 = seed;
            entry.2 = failure;
        }
    }

    fn merge(&mut self, other: Tally) {
        self.seeds += other.seeds;
        self.steps += other.steps;
        self.coverage.add(&other.coverage);
        self.nondeterministic.extend(other.nondeterministic);
        for (key, (count, seed, failure)) in other.groups {
            let entry = self.groups.entry(key).or_insert((0, seed, failure.clone()));
            entry.0 += count;
            if seed < entry.1 {
                entry.1 = seed;
                entry.2 = failure;
            }
        }
    }
}

/// Runs the campaign. `stop` ends it early (Ctrl-C): running seeds finish, no new one starts.
pub fn run_campaign(
    options: &CampaignOptions,
    stop: &AtomicBool,
) -> Result<CampaignReport, CampaignError> {
    let spec = &options.spec;
    let models = Models::new(spec)?;
    backup_coordinator::Cluster::new(spec.variant, spec.config)?;
    let planned = options.seeds.len(options.shard);
    let seeds: Vec<u64> = options.seeds.seeds(options.shard).collect();
    let next = AtomicU64::new(0);
    let total = Mutex::new(Tally::default());
    let bar = progress_bar(options.progress, planned);
    let failing = AtomicU64::new(0);
    let started = Instant::now();
    let threads = options.threads.max(1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut tally = Tally::default();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(index as usize) else {
                        break;
                    };
                    let model = models.for_seed(seed);
                    let Ok(result) = run_seed(spec, model, seed, &mut ()) else {
                        break;
                    };
                    if options.check_determinism {
                        let again = run_seed(spec, model, seed, &mut ());
                        if again.as_ref().ok() != Some(&result) {
                            tally.nondeterministic.push(seed);
                        }
                    }
                    tally.seeds += 1;
                    tally.steps += result.steps;
                    tally.coverage.add(&result.coverage);
                    if let Some(failure) = result.failure {
                        failing.fetch_add(1, Ordering::Relaxed);
                        tally.add_failure(seed, failure);
                    }
                    if let Some(bar) = &bar {
                        bar.inc(1);
                        if seed % 64 == 0 {
                            bar.set_message(format!("{} failing", failing.load(Ordering::Relaxed)));
                        }
                    }
                }
                if let Ok(mut total) = total.lock() {
                    total.merge(tally);
                }
            });
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut tally = total.into_inner().unwrap_or_default();
    tally.nondeterministic.sort_unstable();
    let mut failures = Vec::new();
    for ((class, property), (count, seed, failure)) in tally.groups {
        failures.push(explain(
            options,
            models.for_seed(seed),
            class,
            property,
            count,
            seed,
            failure,
        )?);
    }
    Ok(CampaignReport {
        variant: spec.variant.to_string(),
        bounds: spec.config,
        bounds_text: backup_coordinator::trace::describe_config(&spec.config),
        steps_per_seed: spec.steps,
        swarm: spec.swarm,
        weights: spec.weights,
        seeds: options.seeds,
        shard: options.shard,
        seeds_planned: planned,
        seeds_run: tally.seeds,
        steps: tally.steps,
        seconds,
        steps_per_second: if seconds > 0.0 {
            tally.steps as f64 / seconds
        } else {
            0.0
        },
        nondeterministic_seeds: tally.nondeterministic,
        coverage: tally.coverage,
        failures,
        interrupted: stop.load(Ordering::Relaxed),
    })
}

/// The models whose `sometimes` cases a campaign's seeds count: one per configuration its
/// seeds run on.
pub struct Models {
    primary: BackupModel,
    standby: Option<BackupModel>,
}

impl Models {
    /// The models of `spec`'s configurations.
    pub fn new(spec: &RunSpec) -> Result<Self, backup_model::ModelError> {
        let primary = BackupModel::new(spec.variant, spec.config)?;
        let standby = (spec.config_for(STANDBY_EVERY - 1) != spec.config)
            .then(|| BackupModel::new(spec.variant, spec.config_for(STANDBY_EVERY - 1)))
            .transpose()?;
        Ok(Models { primary, standby })
    }

    /// The model of the configuration `seed` runs on.
    pub fn for_seed(&self, seed: u64) -> &BackupModel {
        match &self.standby {
            Some(standby) if seed % STANDBY_EVERY == STANDBY_EVERY - 1 => standby,
            _ => &self.primary,
        }
    }
}

/// Re-runs a group's lowest seed with recording, shrinks it, saves it, renders its trace.
fn explain(
    options: &CampaignOptions,
    model: &BackupModel,
    class: FailureClass,
    property: &'static str,
    count: u64,
    seed: u64,
    failure: Failure,
) -> Result<FailureGroup, CampaignError> {
    let spec = &options.spec;
    let mut recording = Recording::default();
    let again = run_seed(spec, model, seed, &mut recording)?;
    if again.failure.as_ref() != Some(&failure) {
        return Err(CampaignError::Rerun {
            seed,
            first: failure.describe(),
            second: again
                .failure
                .map(|f| f.describe())
                .unwrap_or_else(|| "no failure".to_string()),
        });
    }
    let config = spec.config_for(seed);
    let schedule = match failure {
        Failure::Safety { .. } => Schedule {
            variant: spec.variant,
            config,
            actions: recording.actions,
            drain: false,
            drain_steps: None,
            known: spec.known,
        },
        Failure::Liveness { .. } => {
            let fault_phase = recording.fault_phase.unwrap_or(recording.actions.len());
            recording.actions.truncate(fault_phase);
            Schedule {
                variant: spec.variant,
                config,
                actions: recording.actions,
                drain: true,
                drain_steps: spec.drain_steps,
                known: spec.known,
            }
        }
    };
    let length = schedule.actions.len();
    let (schedule, stats) = if options.shrink {
        let shrunk = shrink(schedule, &failure, options.shrink_replays_max);
        let stats = shrunk.stats();
        (shrunk.schedule, Some(stats))
    } else {
        (schedule, None)
    };
    let replayed = schedule.replay().ok();
    let shown = replayed
        .as_ref()
        .and_then(|r| r.failure.clone())
        .unwrap_or(failure);
    let file = ReplayFile::new(
        Engine::Sim,
        &schedule,
        Expect::of(&shown),
        Some(seed),
        stats.map(|_| length),
    );
    let (path, save_error) = match options.out.as_deref().map(|dir| save(&file, dir)) {
        Some(Ok(path)) => (Some(path), None),
        Some(Err(error)) => (None, Some(error.to_string())),
        None => (None, None),
    };
    Ok(FailureGroup {
        class,
        property,
        seeds: count,
        first_seed: seed,
        failure: shown,
        shrink: stats,
        file: path,
        save_error,
        trace: replayed.map(|r| r.trace),
    })
}

fn save(file: &ReplayFile, dir: &Path) -> Result<PathBuf, ReplayFileError> {
    file.save(dir)
}

fn progress_bar(show: bool, seeds: u64) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let bar = indicatif::ProgressBar::new(seeds);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} seeds, {rate}, eta {eta} {msg}",
    ) {
        let style = style.with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1} seeds/s", state.per_sec());
            },
        );
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}
