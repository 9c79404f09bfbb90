//! A schedule: a variant, a configuration and an exact action list, optionally followed by
//! the liveness phase. It is what every engine's failure comes down to (the simulator's
//! recorded run, the model's shortest path), what a replay file holds, and what shrinking
//! works on.

use crate::engine::{unsettled_end, Applied, Engine, Exact, Lenient, Stopped};
use crate::run::{drain_steps_max, Failure};
use backup_coordinator::invariants::PropertySet;
use backup_coordinator::trace::{ReplayError, Trace, TraceBuilder};
use backup_coordinator::{Action, Cluster, Config, Variant};

/// An exact list of steps from the initial state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The design.
    pub variant: Variant,
    /// Bounds and settings.
    pub config: Config,
    /// The actions, in order; each must be enabled where it stands.
    pub actions: Vec<Action>,
    /// After the actions, run the liveness phase and require the cluster to settle.
    pub drain: bool,
    /// Most steps of the liveness phase (`None`: [`drain_steps_max`] of the configuration).
    pub drain_steps: Option<u64>,
    /// Properties whose violations do not end the run: the design's known findings, which the
    /// run goes past to find anything else (not saved in replay files: a replay reports every
    /// property, and checks that its expected one is among them).
    pub known: PropertySet,
}

/// A schedule replayed through the core.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// Every step, the liveness phase's included.
    pub trace: Trace,
    /// The first failure, if any.
    pub failure: Option<Failure>,
}

impl Schedule {
    /// Most steps of its liveness phase.
    pub fn drain_bound(&self) -> u64 {
        self.drain_steps
            .unwrap_or_else(|| drain_steps_max(&self.config))
    }

    /// Replays the schedule exactly: an action that is not enabled where it stands is an
    /// error. The failure is the first invariant violated (as the simulator reports it), or,
    /// with the liveness phase, the cluster not settling; without it, a final state where
    /// nothing can change and the cluster is not settled is a liveness failure too (the
    /// model's `eventually` counterexamples end there). The whole list is recorded, past the
    /// first failure.
    pub fn replay(&self) -> Result<Replayed, ReplayError> {
        let builder = TraceBuilder::new(self.variant, self.config)?;
        let mut engine = Engine::new(builder, self.known);
        let mut buffer = Vec::new();
        let refused = |stopped: Stopped| match stopped {
            Stopped::Refused { step, error } => ReplayError::NotEnabled {
                step: step as usize,
                source: error,
            },
        };
        engine
            .phase(&mut Exact(self.actions.iter()), &mut buffer, false)
            .map_err(refused)?;
        if self.drain && engine.failure.is_none() {
            engine
                .drain(self.drain_bound(), &mut buffer)
                .map_err(refused)?;
        }
        let not_settled = if engine.failure.is_none() {
            unsettled_end(engine.track.cluster(), self.drain)
        } else {
            None
        };
        if let Some(not_settled) = &not_settled {
            engine.failure = Some(Failure::Liveness {
                step: engine.steps,
                not_settled: not_settled.clone(),
            });
        }
        Ok(Replayed {
            trace: engine.track.finish(not_settled),
            failure: engine.failure,
        })
    }

    /// Replays leniently for shrinking: actions not enabled where they stand are skipped.
    /// Returns the schedule actually applied, cut at the first safety violation, if it fails
    /// the same way as `target` (the same class and property); otherwise `None`.
    pub fn fails_like(&self, target: &Failure) -> Option<Schedule> {
        let cluster = Cluster::new(self.variant, self.config).ok()?;
        let track = Applied {
            cluster,
            actions: Vec::with_capacity(self.actions.len()),
        };
        let mut engine = Engine::new(track, self.known);
        let mut buffer = Vec::new();
        engine
            .phase(&mut Lenient(self.actions.iter()), &mut buffer, true)
            .ok()?;
        if let Some(Failure::Safety { violation, .. }) = &engine.failure {
            let same = matches!(target, Failure::Safety { violation: v, .. } if v.property == violation.property);
            return same.then(|| Schedule {
                actions: engine.track.actions,
                drain: false,
                ..self.clone()
            });
        }
        match target {
            Failure::Safety { .. } => None,
            Failure::Liveness { .. } => {
                let applied = engine.track.actions.clone();
                if self.drain {
                    engine.drain(self.drain_bound(), &mut buffer).ok()?;
                    // A safety failure in the liveness phase is not the same failure.
                    if engine.failure.is_some() {
                        return None;
                    }
                }
                unsettled_end(&engine.track.cluster, self.drain).map(|_| Schedule {
                    actions: applied,
                    ..self.clone()
                })
            }
        }
    }
}
