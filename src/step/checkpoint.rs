//! The checkpointer (`CreateCheckPoint`, and `RequestCheckpoint`'s counters): begin fixes the
//! redo point under all insertion locks and publishes it as `RedoRecPtr`; end writes the
//! running-transactions and checkpoint records, then the control file, and lets go of old
//! WAL. Also outside WAL switches (`pg_switch_wal()`, archive_timeout).

use crate::action::EventKind;
use crate::lsn::{record_bytes, RECORD_ALIGN_BYTES};
use crate::state::{Cluster, ServerState};
use crate::variant::WalRetention;

impl Cluster {
    pub(super) fn checkpoint_begin_enabled(&self) -> bool {
        let timed_left = self.used.timed_checkpoints < self.config.timed_checkpoints;
        self.server != ServerState::ShutDown
            && self.checkpointer.in_progress.is_none()
            && (self.checkpointer.requested || timed_left)
            && self.shared.insert_lock_sharers == 0
    }

    pub(super) fn checkpoint_end_enabled(&self) -> bool {
        self.checkpointer.in_progress.is_some() && self.shared.insert_lock_sharers == 0
    }

    pub(super) fn wal_switch_enabled(&self) -> bool {
        self.used.wal_switches < self.config.wal_switches
            && self.shared.insert_lock_sharers == 0
            && self.server == ServerState::Running
    }

    pub(super) fn wal_fill_enabled(&self) -> bool {
        self.used.wal_fills < self.config.wal_fills
            && self.shared.insert_lock_sharers == 0
            && self.server == ServerState::Running
    }

    pub(super) fn primary_fpw_off_enabled(&self) -> bool {
        self.config.standby
            && self.used.primary_fpw_offs < self.config.primary_fpw_offs
            && self.shared.full_page_writes
            && self.server == ServerState::Running
    }

    /// Whether a standby replayed WAL written with `full_page_writes` off at or after `from`
    /// (`from <= lastFpwDisableRecPtr`, the check both a standby's start and its stop make).
    pub fn fpw_off_replayed_since(&self, from: crate::lsn::Lsn) -> bool {
        self.shared.last_fpw_disable != crate::lsn::Lsn::INVALID
            && from <= self.shared.last_fpw_disable
    }

    /// The standby replays its primary's `XLOG_FPW_CHANGE` (off): from now on
    /// `lastFpwDisableRecPtr` is that record, and the restartpoints after it say
    /// `full_page_writes` was off.
    pub(super) fn replay_fpw_off(&mut self) -> EventKind {
        self.used.primary_fpw_offs += 1;
        let record = self.insert_wal(record_bytes::FPW_CHANGE);
        self.shared.full_page_writes = false;
        self.shared.last_fpw_disable = record.start;
        EventKind::FpwOffReplayed { at: record.start }
    }

    /// Other backends write WAL until exactly one backup-end record's room is left in the
    /// current segment (or, if less than that is left, in the next one). Their records touch
    /// none of the model's pages.
    pub(super) fn fill_wal(&mut self) -> EventKind {
        let seg = self.seg();
        let room = record_bytes::BACKUP_END.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES;
        let usable = seg.usable_bytes_in_segment();
        let at = seg.byte_pos(self.shared.insert);
        let mut target = (at / usable + 1) * usable - room;
        if target < at {
            target += usable;
        }
        let from = self.shared.insert;
        self.shared.insert = seg.record_start(target);
        // Their transactions commit: their WAL is flushed.
        self.flush_wal();
        EventKind::WalFilled {
            from,
            to: self.shared.insert,
        }
    }

    /// Takes the pending requests (all of them: they merge), counts the checkpoint as begun,
    /// and fixes its redo point at the insert position.
    pub(super) fn checkpoint_begin(&mut self) -> EventKind {
        let timed = !self.checkpointer.requested;
        if timed {
            self.used.timed_checkpoints += 1;
        }
        self.checkpointer.requested = false;
        self.checkpointer.immediate = false;
        self.checkpointer.started += 1;
        let redo = self.shared.insert;
        self.shared.redo = redo;
        self.checkpointer.in_progress = Some(redo);
        self.ghost_mut().in_progress_redo_torn = false;
        EventKind::CheckpointBegan { redo, timed }
    }

    /// Logs the running transactions and the checkpoint record, writes `pg_control`, counts
    /// the checkpoint as done, and recycles WAL the design no longer keeps.
    pub(super) fn checkpoint_end(&mut self) -> EventKind {
        let redo = self
            .checkpointer
            .in_progress
            .take()
            .expect("checkpoint_end_enabled checked it");
        self.insert_wal(record_bytes::RUNNING_XACTS);
        let record = self.insert_wal(record_bytes::CHECKPOINT);
        self.flush_wal();
        self.complete_checkpoint(record.start, redo);
        self.ghost_mut().control_redo_torn = self.ghost.in_progress_redo_torn;
        self.ghost_mut().in_progress_redo_torn = false;
        self.checkpointer.done += 1;
        EventKind::CheckpointCompleted {
            checkpoint: record.start,
            redo,
        }
    }

    /// Writes the control file and removes the WAL segments the retention rule lets go.
    pub(super) fn complete_checkpoint(
        &mut self,
        checkpoint: crate::lsn::Lsn,
        redo: crate::lsn::Lsn,
    ) {
        let keep_from = match self.rules().wal_retention {
            WalRetention::PriorCheckpoint => self.control.redo,
            WalRetention::LastCheckpoint => redo,
        };
        self.control.checkpoint = checkpoint;
        self.control.redo = redo;
        if let Err(at) = self.wal.checkpoints.binary_search(&(checkpoint, redo)) {
            self.wal_mut().checkpoints.insert(at, (checkpoint, redo));
        }
        let keep_segment = self.seg().segment_of(keep_from);
        self.wal_mut().oldest_segment = self.wal.oldest_segment.max(keep_segment);
    }
}
