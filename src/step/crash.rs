//! Crash and restart (PROTOCOL.md §5): shared memory and every process are gone, files and
//! WAL stay. Crash recovery then handles an exclusive backup's `backup_label` as the design's
//! era did (recover from its checkpoint and rename it to `backup_label.old`, or refuse to
//! start if that checkpoint's WAL was recycled), removes option 2's temporary label files,
//! and writes an end-of-recovery checkpoint whose redo lies beyond all earlier WAL.

use crate::action::EventKind;
use crate::lsn::record_bytes;
use crate::state::{BackupPhase, Cluster, ExclusiveState, ServerState, Unit, Writer};

impl Cluster {
    pub(super) fn crash_enabled(&self) -> bool {
        self.used.crashes < self.config.crashes && self.server != ServerState::ShutDown
    }

    /// What every restart does, after a crash or a clean shutdown: shared memory is zeroed
    /// (every unit a backup held goes with it), every session's process is gone (the slot
    /// takes a fresh connection), the checkpointer starts afresh.
    pub(super) fn reset_after_restart(&mut self) {
        for backup in self.backups_mut().iter_mut() {
            if backup.unit == Unit::Held {
                backup.unit = Unit::Released;
            }
        }
        self.touched.write_all();
        for session in &mut self.sessions {
            *session = session.reconnected();
        }
        self.writers.iter_mut().for_each(|w| *w = Writer::Idle);
        self.shared.exclusive = ExclusiveState::None;
        self.shared.backups = 0;
        self.shared.force_page_writes = false;
        self.shared.last_backup_start = crate::lsn::Lsn::INVALID;
        // A standby's primary keeps the setting it changed to (its WAL, replayed again or
        // summed up in the restartpoint's checkpoint record, says so); `lastFpwDisableRecPtr`
        // is kept with it, which changes no check: no backup outlives the restart.
        self.shared.full_page_writes =
            self.config.full_page_writes && self.used.primary_fpw_offs == 0;
        self.shared.insert_lock_sharers = 0;
        self.checkpointer = crate::state::Checkpointer {
            requested: false,
            immediate: false,
            started: 0,
            done: 0,
            in_progress: None,
        };
        self.ghost_mut().in_progress_redo_torn = false;
        self.ghost_mut().leaked_units = 0;
        self.ghost_mut().leaked_exclusive = false;
    }

    pub(super) fn crash(&mut self) -> EventKind {
        self.used.crashes += 1;
        self.recover_from_crash()
    }

    pub(super) fn os_crash_enabled(&self) -> bool {
        self.used.os_crashes < self.config.os_crashes && self.server != ServerState::ShutDown
    }

    /// Power loss, at worst: WAL not flushed is gone, every file not made durable is gone, a
    /// removal not made durable is undone; then the server starts and recovers as after a
    /// crash.
    pub(super) fn os_crash(&mut self) -> EventKind {
        self.used.os_crashes += 1;
        let flushed = self.wal.flushed;
        let wal_lost = self.shared.insert.0.saturating_sub(flushed.0);
        self.shared.insert = flushed;
        self.wal_mut()
            .end_records
            .retain(|&mut (at, _)| at < flushed);
        let before = self.data_dir.temp_labels.len() + self.data_dir.history.len();
        let mut files_lost = 0;
        if self.data_dir.backup_label.is_some_and(|f| !f.durable) {
            self.data_dir_mut().backup_label = None;
            files_lost += 1;
        }
        self.data_dir_mut().temp_labels.retain(|f| f.durable);
        self.data_dir_mut().history.retain(|h| h.durable);
        files_lost += before - self.data_dir.temp_labels.len() - self.data_dir.history.len();
        let mut label_restored = false;
        if let Some(file) = self.data_dir_mut().unlinked_label.take() {
            if self.data_dir.backup_label.is_none() {
                self.data_dir_mut().backup_label = Some(file);
                label_restored = true;
            }
        }
        let recovery = self.recover_from_crash();
        let EventKind::Restarted {
            label_renamed,
            refused,
            checkpoint,
        } = recovery
        else {
            return recovery;
        };
        EventKind::PowerLost {
            wal_lost,
            files_lost: files_lost as u32,
            label_restored,
            label_renamed,
            refused,
            checkpoint,
        }
    }

    /// What follows any crash: every backup still under way is lost, shared memory and
    /// processes are new, and crash recovery runs.
    fn recover_from_crash(&mut self) -> EventKind {
        for backup in self.backups_mut().iter_mut() {
            if matches!(
                backup.phase,
                BackupPhase::Starting | BackupPhase::Running | BackupPhase::Stopping
            ) {
                backup.phase = BackupPhase::Lost;
            }
        }
        self.reset_after_restart();

        let mut label_renamed = false;
        if let Some(label) = self.data_dir.backup_label {
            if self.seg().segment_of(label.checkpoint) < self.wal.oldest_segment {
                self.ghost_mut().restart_refused = Some(label.backup);
                return EventKind::Restarted {
                    label_renamed: false,
                    refused: Some(label.backup),
                    checkpoint: label.checkpoint,
                };
            }
            // `durable_rename` to backup_label.old: the data directory is fsynced, which
            // also makes an earlier removal durable.
            self.data_dir_mut().backup_label = None;
            self.data_dir_mut().unlinked_label = None;
            label_renamed = true;
        }
        self.data_dir_mut().temp_labels.clear();

        self.server = ServerState::Running;
        // The end-of-recovery (shutdown) checkpoint: its redo is its own record.
        let record = self.insert_wal(record_bytes::CHECKPOINT);
        self.flush_wal();
        self.shared.redo = record.start;
        self.complete_checkpoint(record.start, record.start);
        self.ghost_mut().control_redo_torn = false;
        EventKind::Restarted {
            label_renamed,
            refused: None,
            checkpoint: record.start,
        }
    }
}
