//! The one loop that steps the core: a [`Chooser`] picks each action (seeded weights, an exact
//! list, a lenient list, the liveness phase's round robin), a [`Track`] applies it and records
//! what it needs (a run's coverage and digest, a trace, the list of what was applied), and
//! the [`Engine`] checks every invariant (but the known findings) after every step (asking
//! only those that read what the step wrote: [`StepCheck`]). The
//! simulator's run, the exact replay and the lenient replay of shrinking are this loop with
//! different choosers and tracks, as stateright's simulation checker is one loop over its
//! `Chooser`; the end of a liveness phase is judged in one place ([`unsettled_end`]).

use crate::kind::ActionKind;
use crate::profile::Weights;
use crate::run::Failure;
use backup_coordinator::action::ApplyError;
use backup_coordinator::enabled::{ActionWeight, EnabledSet};
use backup_coordinator::invariants::{self, NotSettled, PropertySet, StepCheck};
use backup_coordinator::{Action, Cluster, Command};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What a chooser says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Take this action (enabled where the cluster stands).
    Take(Action),
    /// Skip a listed action that is not enabled here (lenient replay).
    Skip,
    /// A listed action that is not enabled here (exact replay: an error).
    Refused(Action),
    /// The phase is over.
    Done,
}

/// Picks a phase's next action.
pub trait Chooser {
    /// The next choice where `cluster` stands (`buffer` is scratch space).
    fn choose(&mut self, cluster: &Cluster, buffer: &mut Vec<Action>) -> Choice;
}

/// The fault phase: among every enabled action, one drawn with the weights of its kind, for
/// at most `budget` steps. The enabled actions are kept from step to step
/// ([`EnabledSet`]: the same actions in the same order as [`Cluster::actions_into`], listed
/// again only where a step changed them).
pub struct Weighted<'a> {
    /// The run's generator.
    pub rng: &'a mut ChaCha8Rng,
    /// Steps left.
    pub budget: u64,
    enabled: EnabledSet<Weights>,
}

impl ActionWeight for Weights {
    #[inline]
    fn weight(&self, action: &Action) -> u32 {
        self.get(ActionKind::of(action))
    }
}

impl<'a> Weighted<'a> {
    /// `budget` steps drawn from `rng` with `weights`.
    pub fn new(rng: &'a mut ChaCha8Rng, weights: Weights, budget: u64) -> Self {
        Weighted {
            rng,
            budget,
            enabled: EnabledSet::new(weights),
        }
    }
}

impl Chooser for Weighted<'_> {
    #[inline]
    fn choose(&mut self, cluster: &Cluster, _buffer: &mut Vec<Action>) -> Choice {
        if self.budget == 0 {
            return Choice::Done;
        }
        self.enabled.refresh(cluster);
        let total = self.enabled.total_weight();
        if total == 0 {
            return Choice::Done;
        }
        self.budget -= 1;
        let pick = self.rng.random_range(0..total);
        match self.enabled.pick(pick) {
            Some(action) => Choice::Take(action),
            None => Choice::Done,
        }
    }
}

/// A list of actions, each of which must be enabled where it stands.
pub struct Exact<'a>(pub std::slice::Iter<'a, Action>);

impl Chooser for Exact<'_> {
    fn choose(&mut self, cluster: &Cluster, _buffer: &mut Vec<Action>) -> Choice {
        match self.0.next() {
            None => Choice::Done,
            Some(&action) if cluster.is_enabled(action) => Choice::Take(action),
            Some(&action) => Choice::Refused(action),
        }
    }
}

/// A list of actions, those not enabled where they stand skipped (shrinking's candidates).
pub struct Lenient<'a>(pub std::slice::Iter<'a, Action>);

impl Chooser for Lenient<'_> {
    fn choose(&mut self, cluster: &Cluster, _buffer: &mut Vec<Action>) -> Choice {
        match self.0.next() {
            None => Choice::Done,
            Some(&action) if cluster.is_enabled(action) => Choice::Take(action),
            Some(_) => Choice::Skip,
        }
    }
}

/// Whether the liveness phase may take `action`: the steps of commands under way, requested
/// checkpoints, inserting changes already assembled, the rest of a shutdown under way (its
/// terminations, its checkpoint, the restart), and the stops careful clients owe
/// ([`Cluster::owes_stop`]: never a stop the server would refuse, so that refused commands
/// cannot use up the phase).
pub fn drain_allows(cluster: &Cluster, action: &Action) -> bool {
    match action {
        Action::CheckpointBegin => cluster.checkpointer.requested,
        Action::Step { .. } | Action::CheckpointEnd | Action::PageInsert { .. } => true,
        Action::Begin {
            session,
            command: Command::StopBackup { mode },
        } => cluster.owes_stop(*session, *mode),
        Action::Begin { .. } => false,
        // A shutdown under way completes and the server starts again.
        Action::Terminate { .. } | Action::ShutdownCheckpoint | Action::Restart => true,
        Action::Fault { .. }
        | Action::PageAssemble { .. }
        | Action::WalSwitch
        | Action::WalFill
        | Action::Crash
        | Action::OsCrash
        | Action::PrimaryFpwOff
        | Action::Shutdown => false,
    }
}

/// The liveness phase's scheduler: round robin over the allowed actions, so that no session
/// or checkpointer waits forever while another moves, for at most `max` steps or until the
/// cluster is settled. The enabled actions are kept from step to step ([`EnabledSet`], in
/// [`Cluster::actions_into`]'s order), as the fault phase keeps them.
#[derive(Clone, Debug)]
pub struct RoundRobin {
    cursor: usize,
    steps: u64,
    max: u64,
    enabled: EnabledSet<EveryAction>,
}

/// Every action weighs the same (the round robin does not draw).
#[derive(Clone, Copy, Debug)]
pub struct EveryAction;

impl ActionWeight for EveryAction {
    #[inline]
    fn weight(&self, _action: &Action) -> u32 {
        1
    }
}

impl RoundRobin {
    /// At most `max` steps.
    pub fn new(max: u64) -> Self {
        RoundRobin {
            cursor: 0,
            steps: 0,
            max,
            enabled: EnabledSet::new(EveryAction),
        }
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

impl Chooser for RoundRobin {
    fn choose(&mut self, cluster: &Cluster, buffer: &mut Vec<Action>) -> Choice {
        if invariants::unsettled_cause(cluster).is_none() || self.steps >= self.max {
            return Choice::Done;
        }
        self.enabled.refresh(cluster);
        buffer.clear();
        buffer.extend(self.enabled.actions().filter(|a| drain_allows(cluster, a)));
        if buffer.is_empty() {
            return Choice::Done;
        }
        let action = buffer[self.cursor % buffer.len()];
        self.cursor = self.cursor.wrapping_add(1);
        self.steps += 1;
        Choice::Take(action)
    }
}

/// What a run steps and records.
pub trait Track {
    /// The state reached.
    fn cluster(&self) -> &Cluster;
    /// Applies `action` (enabled: the chooser said so) and records it.
    fn apply(&mut self, action: Action) -> Result<(), ApplyError>;
    /// The liveness phase begins.
    fn mark_drain(&mut self) {}
    /// The step just applied broke no invariant (a run observes its coverage cases here).
    fn passed(&mut self) {}
}

/// A track that keeps only the actions applied (shrinking's lenient replay).
pub struct Applied {
    /// The state reached.
    pub cluster: Cluster,
    /// The actions applied, in order.
    pub actions: Vec<Action>,
}

impl Track for Applied {
    fn cluster(&self) -> &Cluster {
        &self.cluster
    }
    fn apply(&mut self, action: Action) -> Result<(), ApplyError> {
        self.cluster.apply(action)?;
        self.actions.push(action);
        Ok(())
    }
}

impl Track for backup_coordinator::trace::TraceBuilder {
    fn cluster(&self) -> &Cluster {
        backup_coordinator::trace::TraceBuilder::cluster(self)
    }
    fn apply(&mut self, action: Action) -> Result<(), ApplyError> {
        self.push(action).map(|_| ()).map_err(|e| match e {
            backup_coordinator::trace::ReplayError::NotEnabled { source, .. } => source,
            backup_coordinator::trace::ReplayError::Config(_) => ApplyError::NotEnabled(action),
        })
    }
    fn mark_drain(&mut self) {
        backup_coordinator::trace::TraceBuilder::mark_drain(self);
    }
}

/// Why a phase stopped before its chooser was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// A listed action was not enabled where it stood (exact replay), at this 1-based step.
    Refused {
        /// The step.
        step: u64,
        /// The refusal.
        error: ApplyError,
    },
}

/// The loop: a track, the properties gone past, the steps taken, the first failure.
pub struct Engine<T> {
    /// What is stepped and recorded.
    pub track: T,
    /// Properties whose violations do not end the run (the design's known findings).
    pub known: PropertySet,
    /// Steps taken, every phase.
    pub steps: u64,
    /// The first failure.
    pub failure: Option<Failure>,
    /// The invariants' check after each step (it asks only those that read what the step
    /// wrote).
    check: StepCheck,
}

impl<T: Track> Engine<T> {
    /// A run of `track` going past `known`.
    pub fn new(track: T, known: PropertySet) -> Self {
        Engine {
            track,
            known,
            steps: 0,
            failure: None,
            check: StepCheck::new(),
        }
    }

    /// Runs one phase: each action the chooser picks is applied and every invariant but the
    /// known ones checked. The phase ends when the chooser is done, or at the first failure
    /// when `stop_at_failure` (otherwise the first failure is kept and the list goes on, as an
    /// exact replay records a whole schedule).
    pub fn phase(
        &mut self,
        chooser: &mut impl Chooser,
        buffer: &mut Vec<Action>,
        stop_at_failure: bool,
    ) -> Result<(), Stopped> {
        loop {
            let action = match chooser.choose(self.track.cluster(), buffer) {
                Choice::Done => return Ok(()),
                Choice::Skip => continue,
                Choice::Refused(action) => {
                    return Err(Stopped::Refused {
                        step: self.steps + 1,
                        error: ApplyError::NotEnabled(action),
                    })
                }
                Choice::Take(action) => action,
            };
            self.steps += 1;
            if let Err(error) = self.track.apply(action) {
                return Err(Stopped::Refused {
                    step: self.steps,
                    error,
                });
            }
            if self.failure.is_none() {
                match self.check.check_except(self.track.cluster(), self.known) {
                    Ok(()) => self.track.passed(),
                    Err(violation) => {
                        self.failure = Some(Failure::Safety {
                            step: self.steps,
                            violation,
                        });
                        if stop_at_failure {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// The liveness phase: the round robin over what a settling cluster may still do, for at
    /// most `max` steps, stopping at a safety failure.
    pub fn drain(&mut self, max: u64, buffer: &mut Vec<Action>) -> Result<(), Stopped> {
        self.track.mark_drain();
        self.phase(&mut RoundRobin::new(max), buffer, true)
    }
}

/// How a run ends that found no safety failure: with the liveness phase run (`drained`), or
/// where nothing can change the state any more (a dead end of the model's search), the
/// cluster must be settled; the one judgement of "every started backup ends" at a run's end.
pub fn unsettled_end(cluster: &Cluster, drained: bool) -> Option<NotSettled> {
    if drained || cluster.is_terminal() {
        invariants::settled(cluster).err()
    } else {
        None
    }
}
