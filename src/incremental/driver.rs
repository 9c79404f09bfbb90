//! The threaded driver of incremental backup: what a server would link for WAL summarization
//! and `BASE_BACKUP (INCREMENTAL)`. [`IncrementalDriver`] holds the core's
//! [`IncrementalCluster`] under the crate's lock seam ([`crate::sync`], loom's under `--cfg
//! loom`); every call takes the lock, applies exactly one of the core's steps
//! ([`IncrementalCluster::apply`]), checks every `always` property before it lets go, and
//! wakes the waiters (the condition variable stands for the summarizer's `summary_file_cv`
//! and for the WAL it waits on). The summarizer runs in a thread of its own
//! ([`IncrementalDriver::run_summarizer`]); a backup's client waits there for it
//! ([`IncrementalDriver::incremental_backup`], `WaitForWalSummarization`).
//!
//! The driver adds no protocol logic: which step is enabled is the core's answer
//! ([`IncrementalCluster::is_enabled`]). It adds only the waiting: a thread whose step is not
//! enabled sleeps until another thread's step changes the state. The server's 60-second
//! patience becomes "the summarizer cannot move and no thread that feeds it WAL is left"
//! ([`IncrementalDriver::feeder_done`]): then the wait fails as the server's does.

use super::cluster::{
    IncrementalAction, IncrementalBackup, IncrementalCluster, IncrementalConfig, IncrementalRules,
    IncrementalStepError, IncrementalViolation, Listing,
};
use crate::sync::{Arc, Condvar, Mutex, MutexGuard};

struct State {
    cluster: IncrementalCluster,
    /// Every `always` property broken after a step, with the step.
    violations: Vec<(IncrementalAction, IncrementalViolation)>,
    /// Threads that may still write, receive, replay or promote (each calls
    /// [`IncrementalDriver::feeder_done`] when it is through).
    feeders: usize,
    /// The summarizer thread is asked to stop.
    stop: bool,
}

struct Inner {
    state: Mutex<State>,
    changed: Condvar,
}

/// The driver; clones share one cluster.
#[derive(Clone)]
pub struct IncrementalDriver {
    inner: Arc<Inner>,
}

impl IncrementalDriver {
    /// A cluster with `rules` and `config`, fed WAL by `feeders` threads (the primary's and
    /// the standby's work), none of them done yet.
    pub fn new(rules: IncrementalRules, config: IncrementalConfig, feeders: usize) -> Self {
        IncrementalDriver {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    cluster: IncrementalCluster::new(rules, config),
                    violations: Vec::new(),
                    feeders,
                    stop: false,
                }),
                changed: Condvar::new(),
            }),
        }
    }

    /// A copy of the cluster now.
    pub fn snapshot(&self) -> IncrementalCluster {
        self.inner.state.lock().cluster.clone()
    }

    /// Every `always` property a step broke, with the step.
    pub fn violations(&self) -> Vec<(IncrementalAction, IncrementalViolation)> {
        self.inner.state.lock().violations.clone()
    }

    /// Applies `action` under the lock, checks the properties, wakes the waiters.
    fn apply(
        &self,
        state: &mut MutexGuard<'_, State>,
        action: IncrementalAction,
    ) -> Result<(), IncrementalStepError> {
        state.cluster.apply(action)?;
        let broken = state.cluster.violations();
        state
            .violations
            .extend(broken.into_iter().map(|v| (action, v)));
        self.inner.changed.notify_all();
        Ok(())
    }

    /// One step of the primary or the standby (a write, a truncation, a checkpoint, the full
    /// backup, receiving, replaying, the promotion): an error if the core does not offer it
    /// now.
    pub fn step(&self, action: IncrementalAction) -> Result<(), IncrementalStepError> {
        let mut state = self.inner.state.lock();
        self.apply(&mut state, action)
    }

    /// Waits until `action` is enabled (another thread's step makes it so), then takes it.
    pub fn step_when_enabled(&self, action: IncrementalAction) -> Result<(), IncrementalStepError> {
        let mut state = self.inner.state.lock();
        while !state.cluster.is_enabled(action) {
            if state.feeders == 0 && !state.cluster.is_enabled(IncrementalAction::Summarize) {
                return Err(IncrementalStepError::NotEnabled(action));
            }
            state = self.inner.changed.wait(state);
        }
        self.apply(&mut state, action)
    }

    /// A thread that fed the cluster WAL is through.
    pub fn feeder_done(&self) {
        let mut state = self.inner.state.lock();
        state.feeders = state.feeders.saturating_sub(1);
        self.inner.changed.notify_all();
    }

    /// The WAL summarizer: reads a record, writes a summary file or moves to the next
    /// timeline whenever the core offers it, one step per acquisition of the lock; sleeps
    /// while it cannot; returns once [`IncrementalDriver::stop_summarizer`] is called.
    pub fn run_summarizer(&self) {
        let mut state = self.inner.state.lock();
        loop {
            if state.stop {
                return;
            }
            if state.cluster.is_enabled(IncrementalAction::Summarize) {
                // Enabled under this very lock: the step cannot fail.
                let _ = self.apply(&mut state, IncrementalAction::Summarize);
                drop(state);
                state = self.inner.state.lock();
            } else {
                state = self.inner.changed.wait(state);
            }
        }
    }

    /// Asks the summarizer thread to return.
    pub fn stop_summarizer(&self) {
        let mut state = self.inner.state.lock();
        state.stop = true;
        self.inner.changed.notify_all();
    }

    /// `BASE_BACKUP (INCREMENTAL)` with the full backup's manifest, once the core offers it
    /// (the full backup taken, the standby promoted): its checkpoint, then
    /// `WaitForWalSummarization` until the summarizer has passed its start point; the
    /// directory read returns the summary files in `listing` order. The wait fails as the
    /// server's does ("WAL summarization is not progressing") when the summarizer cannot move
    /// and no feeder is left. Returns what became of the backup.
    pub fn incremental_backup(
        &self,
        listing: Listing,
    ) -> Result<IncrementalBackup, IncrementalStepError> {
        self.step_when_enabled(IncrementalAction::IncrementalStart)?;
        let finish = IncrementalAction::IncrementalFinish { listing };
        let mut state = self.inner.state.lock();
        loop {
            if state.cluster.is_enabled(finish) {
                self.apply(&mut state, finish)?;
                break;
            }
            let stuck = state.feeders == 0
                && state
                    .cluster
                    .is_enabled(IncrementalAction::IncrementalWaitFails);
            if stuck {
                self.apply(&mut state, IncrementalAction::IncrementalWaitFails)?;
                break;
            }
            state = self.inner.changed.wait(state);
        }
        state
            .cluster
            .incremental
            .clone()
            .ok_or(IncrementalStepError::NotEnabled(finish))
    }
}
