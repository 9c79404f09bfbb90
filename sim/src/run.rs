//! One simulator run: a seed, a fault phase and a liveness phase over the real core.
//!
//! * **Fault phase.** A ChaCha8 generator seeded from the seed first draws the run's profile
//!   (with `--swarm`), then picks each step among `Cluster::actions()` with the profile's
//!   weights, for at most the step budget. Every invariant is checked after every step
//!   ([`invariants::check`]); the first violation ends the run as a safety failure.
//! * **Liveness phase** ([`crate::engine::RoundRobin`]). Faults, crashes, outside WAL switches, new backups and new
//!   page changes stop; every session is driven to finish by a fair, deterministic scheduler
//!   (round robin over what is still allowed: steps, checkpoints, inserting changes already
//!   assembled, and stop commands). Within [`drain_steps_max`] steps the cluster must be
//!   [`invariants::settled`]: every backup ended, counters and forcing back to idle. If it is
//!   not, or nothing allowed is left to do before it is, the run is a liveness failure.
//!
//! Nothing here reads a clock or iterates a hash map: the same seed, variant, configuration,
//! profile and version take the same steps, which [`RunResult::digest`] summarises.

use crate::engine::{unsettled_end, Engine, Stopped, Track, Weighted};
use crate::kind::{ActionKind, Coverage};
use crate::profile::Weights;
use backup_coordinator::action::ApplyError;
use backup_coordinator::invariants::{self, NotSettled, PropertySet, Violation};
use backup_coordinator::{Action, Cluster, Config, Variant};
use backup_model::BackupModel;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

/// What a run is: everything but the seed.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The design under test.
    pub variant: Variant,
    /// Sizes and budgets.
    pub config: Config,
    /// Steps in the fault phase.
    pub steps: u32,
    /// Weights of the action kinds.
    pub weights: Weights,
    /// Draw each seed's weights from these (swarm testing).
    pub swarm: bool,
    /// Most steps of the liveness phase (`None`: [`drain_steps_max`] of the configuration).
    pub drain_steps: Option<u64>,
    /// Every [`STANDBY_EVERY`]th seed runs its configuration as a standby
    /// ([`standby_form`]): the same sessions and budgets, backups taken in recovery.
    pub standby_seeds: bool,
    /// The design's known findings: their violations do not end a run (they are counted in
    /// the coverage), so that the run can find anything else.
    pub known: PropertySet,
}

/// With [`RunSpec::standby_seeds`], the seeds `s` with `s % STANDBY_EVERY == STANDBY_EVERY - 1`
/// run on a standby.
pub const STANDBY_EVERY: u64 = 8;

/// `config` as a standby following timeline 2 (or its own, if later): no page writes of its
/// own and no shutdown (neither is modelled in recovery); WAL switches and fills stand for
/// WAL replayed from the primary, and so does one change of the primary's full_page_writes
/// to off.
pub fn standby_form(config: Config) -> Config {
    Config {
        standby: true,
        // The primary runs with full_page_writes on: with it off every standby start is
        // refused ("WAL generated with full_page_writes=off was replayed").
        full_page_writes: true,
        timeline: backup_coordinator::lsn::TimeLineId(config.timeline.0.max(2)),
        page_writes: 0,
        shutdowns: 0,
        // Its primary may turn full_page_writes off once, failing the backups running then.
        primary_fpw_offs: 1,
        ..config
    }
}

impl RunSpec {
    /// `variant` at the simulator's default sizes and weights, `steps` fault-phase steps, no
    /// swarm, the default liveness bound.
    pub fn new(variant: Variant, steps: u32) -> Self {
        RunSpec {
            variant,
            config: crate::profile::default_config(),
            steps,
            weights: Weights::default(),
            swarm: false,
            drain_steps: None,
            standby_seeds: true,
            known: PropertySet::EMPTY,
        }
    }

    /// The configuration seed `seed` runs on.
    pub fn config_for(&self, seed: u64) -> Config {
        if self.standby_seeds && !self.config.standby && seed % STANDBY_EVERY == STANDBY_EVERY - 1 {
            standby_form(self.config)
        } else {
            self.config
        }
    }
}

/// The class of a failure, which decides the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// An invariant broke (exit status 1).
    Safety,
    /// The cluster did not return to idle once faults stopped (exit status 3).
    Liveness,
}

impl FailureClass {
    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            FailureClass::Safety => "safety",
            FailureClass::Liveness => "liveness",
        }
    }
}

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "kebab-case")]
pub enum Failure {
    /// An invariant broke at `step` (1-based).
    Safety {
        /// The step.
        step: u64,
        /// The first violated invariant (in `INVARIANTS` order).
        violation: Violation,
    },
    /// The liveness phase ended, after `step` steps in all, with the cluster not settled.
    Liveness {
        /// The last step.
        step: u64,
        /// What was left.
        not_settled: NotSettled,
    },
}

impl Failure {
    /// Safety or liveness.
    pub fn class(&self) -> FailureClass {
        match self {
            Failure::Safety { .. } => FailureClass::Safety,
            Failure::Liveness { .. } => FailureClass::Liveness,
        }
    }

    /// The name of the property that failed.
    pub fn property(&self) -> &'static str {
        match self {
            Failure::Safety { violation, .. } => violation.property.name(),
            Failure::Liveness { .. } => invariants::EVERY_BACKUP_ENDS,
        }
    }

    /// One line: class, property and what is wrong.
    pub fn describe(&self) -> String {
        match self {
            Failure::Safety { step, violation } => {
                format!("safety failure at step {step}: {violation}")
            }
            Failure::Liveness { step, not_settled } => {
                format!("liveness failure after {step} steps: {not_settled}")
            }
        }
    }
}

/// The result of one seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunResult {
    /// The seed.
    pub seed: u64,
    /// Steps taken (both phases).
    pub steps: u64,
    /// Steps of the fault phase.
    pub fault_steps: u64,
    /// The failure, if any.
    pub failure: Option<Failure>,
    /// What ran.
    pub coverage: Coverage,
    /// A digest of every action taken, in order (FNV-1a over their encoding).
    pub digest: u64,
}

/// Where a run puts the actions it takes: nowhere (the fast path), or a list.
pub trait Recorder {
    /// One action was applied.
    fn record(&mut self, action: Action);
    /// The liveness phase begins.
    fn mark_drain(&mut self) {}
}

impl Recorder for () {
    #[inline]
    fn record(&mut self, _action: Action) {}
}

/// A recorded run: every action, and where the liveness phase began.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// The actions applied, both phases.
    pub actions: Vec<Action>,
    /// How many of them belong to the fault phase (the rest are the liveness phase's).
    pub fault_phase: Option<usize>,
}

impl Recorder for Recording {
    fn record(&mut self, action: Action) {
        self.actions.push(action);
    }
    fn mark_drain(&mut self) {
        self.fault_phase = Some(self.actions.len());
    }
}

/// FNV-1a, 64 bits: a hash whose value depends only on the bytes fed to it.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Most steps the liveness phase may take: enough for every session to finish a stop and
/// wait for two checkpoints, with room to spare.
pub fn drain_steps_max(config: &Config) -> u64 {
    200 + 60 * config.sessions() as u64
}

/// Which of the model's `sometimes` cases apply to a run, and which it reached.
struct Cases<'a> {
    model: &'a BackupModel,
    pending: Vec<usize>,
    reached: [u64; backup_model::CASES.len()],
    apply: [bool; backup_model::CASES.len()],
    /// The step count ([`backup_coordinator::state::Touched::steps`]) of the state last
    /// observed, where every pending case was false.
    observed_at: Option<u64>,
}

impl<'a> Cases<'a> {
    fn new(model: &'a BackupModel) -> Self {
        let apply = backup_model::CASES.each_ref().map(|c| (c.applies)(model));
        let pending = (0..backup_model::CASES.len())
            .filter(|&i| apply[i])
            .collect();
        Cases {
            model,
            pending,
            reached: [0; backup_model::CASES.len()],
            apply,
            observed_at: None,
        }
    }

    /// Marks the pending cases `cluster` reaches. One step past the last state observed, a
    /// case that reads none of the parts the step wrote is still false, and is not asked.
    #[inline]
    fn observe(&mut self, cluster: &Cluster) {
        if self.pending.is_empty() {
            return;
        }
        let touched = cluster.touched();
        let written = touched.written_one_step_after(self.observed_at);
        self.observed_at = Some(touched.steps());
        let (model, reached) = (self.model, &mut self.reached);
        self.pending.retain(|&i| {
            let case = &backup_model::CASES[i];
            if let (Some(written), Some(reads)) = (written, case.reads) {
                if !reads.meets(written) {
                    return true;
                }
            }
            let hit = (case.condition)(model, cluster);
            if hit {
                reached[i] = 1;
            }
            !hit
        });
    }
}

/// Runs `seed`. `model` is the model of the same variant and of the seed's configuration
/// ([`RunSpec::config_for`]; for its `sometimes` cases, counted as coverage).
pub fn run_seed(
    spec: &RunSpec,
    model: &BackupModel,
    seed: u64,
    recorder: &mut impl Recorder,
) -> Result<RunResult, backup_coordinator::config::ConfigError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let weights = if spec.swarm {
        spec.weights.swarm(&mut rng)
    } else {
        spec.weights
    };
    let config = spec.config_for(seed);
    let stepper = Stepper {
        cluster: Cluster::new(spec.variant, config)?,
        coverage: Coverage::default(),
        digest: Fnv::default(),
        recorder,
        known: spec.known,
        known_seen: PropertySet::EMPTY,
        cases: Cases::new(model),
        observing: true,
    };
    let mut engine = Engine::new(stepper, spec.known);
    let mut buffer: Vec<Action> = Vec::with_capacity(64);
    let refused = |stopped: Stopped| -> ! {
        // The fault phase and the liveness phase take only what `actions()` offers.
        unreachable!("the core refused an action it offered: {stopped:?}")
    };

    // Fault phase.
    let mut weighted = Weighted::new(&mut rng, weights, u64::from(spec.steps));
    engine
        .phase(&mut weighted, &mut buffer, true)
        .unwrap_or_else(|e| refused(e));
    let fault_steps = engine.steps;

    // Liveness phase.
    if engine.failure.is_none() {
        let max = spec.drain_steps.unwrap_or_else(|| drain_steps_max(&config));
        engine
            .drain(max, &mut buffer)
            .unwrap_or_else(|e| refused(e));
        if engine.failure.is_none() {
            if let Some(not_settled) = unsettled_end(&engine.track.cluster, true) {
                let left_by = not_settled.cause.left_by();
                if left_by.iter().any(|&p| engine.track.known_seen.contains(p)) {
                    engine.track.coverage.unsettled_by_known += 1;
                } else {
                    engine.failure = Some(Failure::Liveness {
                        step: engine.steps,
                        not_settled,
                    });
                }
            }
        }
    }
    let Engine {
        track,
        steps,
        failure,
        ..
    } = engine;
    let mut coverage = track.coverage;
    for property in track.known_seen.iter() {
        coverage.known_findings[property as usize] += 1;
    }
    coverage.cases = track.cases.reached;
    coverage.cases_apply = track.cases.apply;
    Ok(RunResult {
        seed,
        steps,
        fault_steps,
        failure,
        coverage,
        digest: track.digest.finish(),
    })
}

/// A run's state as it steps: the cluster, what ran, and where the actions go.
struct Stepper<'r, 'm, R> {
    cluster: Cluster,
    coverage: Coverage,
    digest: Fnv,
    recorder: &'r mut R,
    known: PropertySet,
    known_seen: PropertySet,
    cases: Cases<'m>,
    /// The fault phase observes the coverage cases; the liveness phase does not.
    observing: bool,
}

impl<R: Recorder> Track for Stepper<'_, '_, R> {
    #[inline]
    fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Applies one enabled action, counts and records it, and notes the known findings it
    /// broke. Every chooser gives only actions enabled where the cluster stands (drawn from
    /// the enabled set, or asked of [`Cluster::is_enabled`]), so the core is not asked again.
    #[inline]
    fn apply(&mut self, action: Action) -> Result<(), ApplyError> {
        let (event, retired) = self.cluster.apply_enabled_and_retire(action);
        self.coverage.count_ended(&retired);
        if matches!(
            event.kind,
            backup_coordinator::action::EventKind::CommandRejected { .. }
        ) {
            self.coverage.refused += 1;
        }
        self.coverage.actions[ActionKind::of(&action) as usize] += 1;
        action.hash(&mut self.digest);
        self.recorder.record(action);
        if !self.known.is_empty() {
            for property in self.known.iter() {
                if !self.known_seen.contains(property)
                    && invariants::invariant(property)(&self.cluster).is_err()
                {
                    self.known_seen.insert(property);
                }
            }
        }
        Ok(())
    }

    fn mark_drain(&mut self) {
        self.observing = false;
        self.recorder.mark_drain();
    }

    #[inline]
    fn passed(&mut self) {
        if self.observing {
            self.cases.observe(&self.cluster);
        }
    }
}

#[cfg(test)]
mod cases_tests {
    use super::*;
    use rand::Rng;

    /// Skipping the pending cases that read none of the parts a step wrote reaches the same
    /// cases at the same steps as asking every pending case at every state: on walks of every
    /// design under the simulator's bounds (and on a standby), each step drawn uniformly.
    #[test]
    fn skipping_cases_a_step_cannot_change_reaches_what_asking_all_reaches() {
        let mut differences_possible = 0u64;
        for variant in Variant::all() {
            let spec = RunSpec::new(variant, 3_000);
            for seed in [0, STANDBY_EVERY - 1] {
                let config = spec.config_for(seed);
                let model = BackupModel::new(variant, config).expect("bounds");
                let mut cluster = Cluster::new(variant, config).expect("bounds");
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let (mut gated, mut asked) = (Cases::new(&model), Cases::new(&model));
                for step in 0..3_000 {
                    gated.observe(&cluster);
                    asked.observed_at = None;
                    asked.observe(&cluster);
                    assert_eq!(
                        gated.reached, asked.reached,
                        "{variant} seed {seed} step {step}"
                    );
                    differences_possible += u64::from(!gated.pending.is_empty());
                    let enabled = cluster.actions();
                    if enabled.is_empty() {
                        break;
                    }
                    let action = enabled[rng.random_range(0..enabled.len())];
                    cluster.apply_and_retire(action).expect("enabled");
                }
            }
        }
        assert!(
            differences_possible > 10_000,
            "{differences_possible} steps with a case pending"
        );
    }
}
