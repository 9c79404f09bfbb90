//! A fast shutdown and the clean restart after it (PROTOCOL.md §2.7, §5): the request stops
//! new commands; the backends it signals die at their next interrupt check (FATAL: their
//! cleanups run); the shutdown checkpoint waits until they are gone, WAL senders running a
//! base backup included since `8f5d65e916` (they count as regular backends until they start
//! streaming), so that no backup-end record can follow it; when the last process has gone the
//! postmaster renames an exclusive backup's `backup_label` (`CancelBackup`, up to 14) and
//! exits; the restart needs no recovery and writes WAL on from the end of the shutdown
//! checkpoint, so anything written after that checkpoint is overwritten.

use crate::action::EventKind;
use crate::lsn::{insert_record, record_bytes};
use crate::state::{BackupPhase, Cluster, ServerState, SessionId, SessionKind, Writer};

impl Cluster {
    pub(super) fn shutdown_enabled(&self) -> bool {
        self.server == ServerState::Running
            && self.used.shutdowns < self.config.shutdowns
            && !self.config.standby
            && self.shared.insert_lock_sharers == 0
    }

    /// Whether the postmaster's SIGTERM reaches `session` during a fast shutdown (and the
    /// shutdown checkpoint waits for it): every regular backend, and WAL senders where the
    /// design treats a running base backup like a backend.
    pub(super) fn shutdown_signals(&self, session: SessionId) -> bool {
        self.session(session).kind == SessionKind::Sql || self.rules().shutdown_waits_for_walsenders
    }

    pub(super) fn terminate_enabled(&self, session: SessionId) -> bool {
        self.server == ServerState::ShuttingDown
            && self.shared.insert_lock_sharers == 0
            && self.shutdown_signals(session)
            && self.at_interrupt_check(session)
    }

    /// A session is gone for the shutdown: no command running and nothing held (its process
    /// exited, or it holds nothing a cleanup would have to give back).
    fn session_gone(&self, session: SessionId) -> bool {
        let s = self.session(session);
        s.pc == crate::state::Pc::Idle && !s.holds_anything()
    }

    fn writers_idle(&self) -> bool {
        self.writers.iter().all(|w| *w == Writer::Idle)
    }

    pub(super) fn shutdown_checkpoint_enabled(&self) -> bool {
        self.server == ServerState::ShuttingDown
            && self.checkpointer.in_progress.is_none()
            && self.shared.insert_lock_sharers == 0
            && self.writers_idle()
            && (0..self.sessions.len())
                .map(|i| SessionId(i as u8))
                .all(|s| !self.shutdown_signals(s) || self.session_gone(s))
    }

    pub(super) fn restart_enabled(&self) -> bool {
        self.server == ServerState::ShutDown
            && self.writers_idle()
            && (0..self.sessions.len()).all(|i| self.session_gone(SessionId(i as u8)))
    }

    pub(super) fn request_shutdown(&mut self) -> EventKind {
        self.used.shutdowns += 1;
        self.server = ServerState::ShuttingDown;
        EventKind::ShutdownRequested
    }

    /// The shutdown checkpoint: its redo point is its own record, and nothing is pending.
    pub(super) fn shutdown_checkpoint(&mut self) -> EventKind {
        let record = self.insert_wal(record_bytes::CHECKPOINT);
        self.flush_wal();
        self.shared.redo = record.start;
        self.complete_checkpoint(record.start, record.start);
        self.checkpointer.requested = false;
        self.checkpointer.immediate = false;
        self.ghost_mut().control_redo_torn = false;
        self.ghost_mut().in_progress_redo_torn = false;
        self.server = ServerState::ShutDown;
        EventKind::ShutdownCheckpointWritten {
            checkpoint: record.start,
        }
    }

    /// The clean restart: new shared memory, no recovery; WAL continues right after the
    /// shutdown checkpoint record, so every record written after it is gone.
    pub(super) fn restart_after_shutdown(&mut self) -> EventKind {
        let (_, resume) = insert_record(
            self.seg(),
            self.control.checkpoint,
            record_bytes::CHECKPOINT,
        );
        let discarded = self.shared.insert.0.saturating_sub(resume.0);
        self.shared.insert = resume;
        self.wal_mut().flushed = self.wal.flushed.min(resume);
        self.wal_mut()
            .end_records
            .retain(|&mut (at, _)| at < resume);
        // Backups still counted end with the server (the exclusive one, cancelled at the
        // request).
        for backup in self.backups_mut().iter_mut() {
            if backup.phase.is_live() || backup.phase == BackupPhase::Stopping {
                backup.phase = BackupPhase::Lost;
            }
        }
        // The postmaster's exit: `CancelBackup` (the exclusive backup is over).
        let label_renamed = self.data_dir_mut().backup_label.take().is_some();
        self.reset_after_restart();
        self.shared.redo = self.control.redo;
        self.data_dir_mut().temp_labels.clear();
        self.server = ServerState::Running;
        EventKind::RestartedClean {
            discarded_from: resume,
            discarded,
            label_renamed,
        }
    }
}
