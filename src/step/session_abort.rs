//! Errors, cancels and disconnects, and the cleanups they run: the start's cleanup callback
//! (`pg_start_backup_callback`), the exclusive stop's callback (`pg_stop_backup_callback`,
//! 9.6+), and `do_pg_abort_backup` (BASE_BACKUP's cleanup block and the SQL session's exit
//! hook). PROTOCOL.md §2.7: an ERROR runs the armed `PG_ENSURE_ERROR_CLEANUP` callbacks; a
//! FATAL (client gone, backend terminated) runs every `before_shmem_exit` callback, which
//! includes those and the exit hook, newest first.
//!
//! Where faults can strike is the step table's ([`crate::plan`]; the README's table is
//! generated from it): an ERROR at a step that does I/O, a cancel where a step waits, a FATAL
//! where a step waits or talks to its client, and at an idle session holding a backup, a
//! session state or an armed exit hook. Every other boundary has no `CHECK_FOR_INTERRUPTS`
//! and no I/O.

use crate::action::{Cleanups, EventKind, Fault, StepError};
use crate::state::{
    Armed, Assertion, BackupMode, BackupPhase, Cluster, ExclusiveState, Hook, Pc,
    SessionBackupState, SessionId, Unit,
};
use crate::variant::{AbortWhen, ExclusiveRule, StartCleanup};

impl Cluster {
    /// Whether `fault` may strike `session` now: where the step table says it can
    /// ([`crate::plan::Strikes`]), or (FATAL) at an idle session holding something.
    pub(super) fn fault_enabled(&self, session: SessionId, fault: Fault) -> bool {
        let kinds = self.config.fault_kinds;
        // A session's cleanups take the insertion lock; 9.1's shared holders block them.
        if self.used.faults >= self.config.faults || self.shared.insert_lock_sharers > 0 {
            return false;
        }
        let strikes = crate::plan::facts(self.session(session).pc).strikes;
        match fault {
            Fault::Error => kinds.errors && strikes.error,
            Fault::Cancel => kinds.cancels && strikes.cancel,
            Fault::Disconnect => kinds.disconnects && self.at_interrupt_check(session),
        }
    }

    /// Whether `session` is where a FATAL (client gone, backend terminated) can take it: at an
    /// interrupt check in a wait or a send, or idle while it holds a backup, keeps a session
    /// state, or has an exit hook armed (which then runs).
    pub(super) fn at_interrupt_check(&self, session: SessionId) -> bool {
        let s = self.session(session);
        crate::plan::facts(s.pc).strikes.fatal || (s.pc == Pc::Idle && s.holds_anything())
    }

    /// Whether some fault may still strike a session standing at `pc` (budget left and a
    /// kind that applies there). Steps that are only places for faults are taken at once
    /// when none can: without their fault they change nothing, so skipping them removes only
    /// stuttering.
    pub(super) fn fault_can_strike(&self, pc: Pc) -> bool {
        let kinds = self.config.fault_kinds;
        let strikes = crate::plan::facts(pc).strikes;
        self.used.faults < self.config.faults
            && ((kinds.errors && strikes.error)
                || (kinds.cancels && strikes.cancel)
                || (kinds.disconnects && strikes.fatal))
    }

    pub(super) fn inject_fault(&mut self, session: SessionId, fault: Fault) -> EventKind {
        match fault {
            Fault::Error => {
                let at = self.session(session).pc.name().to_string();
                self.raise_error(session, StepError::Io(at))
            }
            Fault::Cancel => self.raise_error(session, StepError::Cancelled),
            Fault::Disconnect => self.exit_session(session),
        }
    }

    /// ERROR: the armed error cleanups run (innermost first), the command ends.
    pub(crate) fn raise_error(&mut self, session: SessionId, error: StepError) -> EventKind {
        let pc = self.session(session).pc;
        let mut cleanups = Cleanups::default();
        self.run_cleanup(session, Armed::STOP_CALLBACK, &mut cleanups);
        self.run_cleanup(session, Armed::START_CALLBACK, &mut cleanups);
        self.run_cleanup(session, Armed::BASE_BACKUP_CLEANUP, &mut cleanups);
        self.settle_backup(session, pc, false);
        let s = self.session_mut(session);
        if s.backup.is_none() {
            // The command's memory of a temporary label file it made ends with it; a file no
            // cleanup removed stays behind (restart removes it).
            s.armed.disarm(Armed::TEMP_LABEL);
        }
        s.end_command();
        EventKind::CommandFailed { error, cleanups }
    }

    /// FATAL: every `before_shmem_exit` callback runs (newest first: the error-cleanup blocks,
    /// then the exit hook registered before the start), and the process exits. The slot is
    /// taken by a fresh connection.
    pub(super) fn exit_session(&mut self, session: SessionId) -> EventKind {
        let pc = self.session(session).pc;
        let mut cleanups = Cleanups::default();
        self.run_cleanup(session, Armed::STOP_CALLBACK, &mut cleanups);
        self.run_cleanup(session, Armed::START_CALLBACK, &mut cleanups);
        self.run_cleanup(session, Armed::BASE_BACKUP_CLEANUP, &mut cleanups);
        self.run_exit_hooks(session, &mut cleanups);
        self.settle_backup(session, pc, true);
        let fresh = self.session(session).reconnected();
        *self.session_mut(session) = fresh;
        EventKind::SessionExited { cleanups }
    }

    fn run_cleanup(&mut self, session: SessionId, which: Armed, ran: &mut Cleanups) {
        if !self.session(session).armed.has(which) {
            return;
        }
        self.session_mut(session).armed.disarm(which);
        ran.0 |= which.0;
        match which {
            Armed::START_CALLBACK => self.start_callback(session),
            Armed::STOP_CALLBACK => self.stop_callback(session),
            _ => {
                self.abort_backup(session, false);
            }
        }
    }

    /// At exit, the session's own `before_shmem_exit` callbacks, newest first. The exit
    /// hook is reported only where it aborted a backup, which is where the server logs
    /// "aborting backup due to backend exiting before pg_backup_stop was called": a hook
    /// that finds nothing to abort (a session terminated while its start waits for the
    /// checkpoint, whose own cleanup gave the unit back) says nothing.
    fn run_exit_hooks(&mut self, session: SessionId, ran: &mut Cleanups) {
        while let Some(hook) = self.session_mut(session).hooks.pop() {
            if hook == Hook::AbortBackup && self.abort_backup(session, false) {
                ran.0 |= Armed::EXIT_HOOK.0;
            }
        }
    }

    /// `pg_start_backup_callback`: undo the start's increment.
    fn start_callback(&mut self, session: SessionId) {
        let rules = self.rules();
        if self.session(session).mode == BackupMode::Exclusive {
            let expected = match rules.exclusive {
                ExclusiveRule::StateMachine => ExclusiveState::Starting,
                _ => ExclusiveState::InProgress,
            };
            if self.shared.exclusive != expected {
                self.fail_assertion(Assertion::StartCallbackExclusive, session);
            }
            // The flag is one bit: clearing it takes it from whichever backup set it. After B5
            // that can be another session's backup, which then runs on without it.
            self.shared.exclusive = ExclusiveState::None;
            if let Some(holder) = self.exclusive_holder() {
                self.update_backup(holder, |backup| backup.unit = Unit::Released);
            }
        } else if rules.start_cleanup == StartCleanup::AbortDuringStart {
            // 16+: the start's cleanup is `do_pg_abort_backup(during_start = true)`.
            self.abort_backup(session, true);
            return;
        } else {
            self.decrement_counter(session);
        }
        self.recompute_forcing();
        self.remove_own_temp_label(session);
    }

    /// `pg_stop_backup_callback` (9.6+): STOPPING back to IN_PROGRESS.
    fn stop_callback(&mut self, session: SessionId) {
        if self.shared.exclusive != ExclusiveState::Stopping {
            self.fail_assertion(Assertion::StopCallbackStopping, session);
        }
        self.shared.exclusive = ExclusiveState::InProgress;
    }

    /// `do_pg_abort_backup`: give back the session's counter unit. When it acts depends on
    /// the era ([`AbortWhen`]); from `b24b2be119` it clears the session state. `during_start`
    /// is 16+'s argument: the start's own cleanup, which acts whatever the session state.
    /// Whether it acted (gave a unit back).
    fn abort_backup(&mut self, session: SessionId, during_start: bool) -> bool {
        let rules = self.rules();
        let state = self.session(session).state;
        let running = state == SessionBackupState::Running;
        if rules.abort_xor_assert && during_start == running {
            self.fail_assertion(Assertion::AbortDuringStartXorRunning, session);
        }
        let acts = during_start
            || match rules.abort_when {
                AbortWhen::Always => true,
                AbortWhen::SessionHasBackup => state != SessionBackupState::None,
                AbortWhen::SessionRunsNonExclusive => running,
            };
        if !acts {
            return false;
        }
        if rules.abort_when == AbortWhen::SessionHasBackup && !during_start && !running {
            self.fail_assertion(Assertion::AbortWithoutNonExclusive, session);
        }
        self.decrement_counter(session);
        if rules.session_state && rules.abort_resets_session_state {
            self.session_mut(session).state = SessionBackupState::None;
        }
        self.recompute_forcing();
        self.remove_own_temp_label(session);
        true
    }

    /// Option 2: an aborted backup removes the temporary label file it created.
    fn remove_own_temp_label(&mut self, session: SessionId) {
        let s = self.session(session);
        if !s.armed.has(Armed::TEMP_LABEL) {
            return;
        }
        let start = s.start;
        if let Ok(index) = self
            .data_dir
            .temp_labels
            .binary_search_by_key(&start, |f| f.start)
        {
            self.data_dir_mut().temp_labels.remove(index);
        }
        self.session_mut(session).armed.disarm(Armed::TEMP_LABEL);
    }

    /// The ghost's account of what the failed command or the exit did to the session's backup.
    /// A backup whose start failed, whose WAL sender gave up, or whose stop failed after its
    /// unit was given back, has failed. An exclusive backup that is running belongs to the
    /// cluster and goes on; so does a non-exclusive SQL backup whose stop failed before its
    /// unit was given back.
    fn settle_backup(&mut self, session: SessionId, pc: Pc, exiting: bool) {
        let Some(id) = self.session(session).backup else {
            return;
        };
        let Some(&backup) = self.backup(id) else {
            self.session_mut(session).backup = None;
            return;
        };
        let goes_on = backup.phase == BackupPhase::Running
            && !pc.in_start()
            && match backup.mode {
                BackupMode::Exclusive => true,
                BackupMode::NonExclusive => !exiting,
                BackupMode::Streamed => false,
            };
        if !goes_on
            && matches!(
                backup.phase,
                BackupPhase::Starting | BackupPhase::Running | BackupPhase::Stopping
            )
        {
            self.update_backup(id, |b| b.phase = BackupPhase::Failed);
        }
        let keep = goes_on && backup.mode == BackupMode::NonExclusive;
        self.session_mut(session).backup = if keep { Some(id) } else { None };
    }
}
