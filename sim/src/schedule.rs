//! A schedule: a variant, a configuration and an exact action list, optionally followed by
//! the liveness phase. It is what every engine's failure comes down to (the simulator's
//! recorded run, the model's shortest path), what a replay file holds, and what shrinking
//! works on.

use crate::run::{drain_steps_max, Drain, Failure};
use backup_coordinator::invariants::{self, PropertySet};
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
    /// nothing can happen and the cluster is not settled is a liveness failure too (the
    /// model's `eventually` counterexamples end there).
    pub fn replay(&self) -> Result<Replayed, ReplayError> {
        let mut builder = TraceBuilder::new(self.variant, self.config)?;
        let mut failure = None;
        let mut step = 0u64;
        for &action in &self.actions {
            builder.push(action)?;
            step += 1;
            if failure.is_none() {
                if let Err(violation) = invariants::check_except(builder.cluster(), self.known) {
                    failure = Some(Failure::Safety { step, violation });
                }
            }
        }
        if self.drain && failure.is_none() {
            builder.mark_drain();
            let mut drain = Drain::default();
            let mut buffer = Vec::new();
            let max = self.drain_bound();
            while invariants::settled(builder.cluster()).is_err() && drain.steps() < max {
                let Some(action) = drain.next(builder.cluster(), &mut buffer) else {
                    break;
                };
                builder.push(action)?;
                step += 1;
                if let Err(violation) = invariants::check_except(builder.cluster(), self.known) {
                    failure = Some(Failure::Safety { step, violation });
                    break;
                }
            }
        }
        let stuck = self.drain || builder.cluster().is_terminal();
        let not_settled = if failure.is_none() && stuck {
            invariants::settled(builder.cluster()).err()
        } else {
            None
        };
        if let Some(not_settled) = &not_settled {
            failure = Some(Failure::Liveness {
                step,
                not_settled: not_settled.clone(),
            });
        }
        Ok(Replayed {
            trace: builder.finish(not_settled),
            failure,
        })
    }

    /// Replays leniently for shrinking: actions not enabled where they stand are skipped.
    /// Returns the schedule actually applied, cut at the first safety violation, if it fails
    /// the same way as `target` (the same class and property); otherwise `None`.
    pub fn fails_like(&self, target: &Failure) -> Option<Schedule> {
        let mut cluster = Cluster::new(self.variant, self.config).ok()?;
        let mut applied = Vec::with_capacity(self.actions.len());
        for &action in &self.actions {
            if cluster.apply(action).is_err() {
                continue;
            }
            applied.push(action);
            if let Err(violation) = invariants::check_except(&cluster, self.known) {
                let same = matches!(target, Failure::Safety { violation: v, .. } if v.property == violation.property);
                return same.then(|| Schedule {
                    actions: applied,
                    drain: false,
                    ..self.clone()
                });
            }
        }
        match target {
            Failure::Safety { .. } => None,
            Failure::Liveness { .. } => {
                if !self.drain {
                    let stuck = cluster.actions().is_empty();
                    let unsettled = invariants::settled(&cluster).is_err();
                    return (stuck && unsettled).then(|| Schedule {
                        actions: applied,
                        ..self.clone()
                    });
                }
                let mut drain = Drain::default();
                let mut buffer = Vec::new();
                let max = self.drain_bound();
                while invariants::settled(&cluster).is_err() && drain.steps() < max {
                    let Some(action) = drain.next(&cluster, &mut buffer) else {
                        break;
                    };
                    if cluster.apply(action).is_err()
                        || invariants::check_except(&cluster, self.known).is_err()
                    {
                        // A safety failure in the liveness phase is not the same failure.
                        return None;
                    }
                }
                invariants::settled(&cluster).is_err().then(|| Schedule {
                    actions: applied,
                    ..self.clone()
                })
            }
        }
    }
}
