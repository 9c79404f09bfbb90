//! Stopping a backup: `do_pg_stop_backup` (9.1–14) / `do_pg_backup_stop` (15+), reached from
//! `pg_stop_backup` / `pg_backup_stop` in SQL sessions and at the end of `BASE_BACKUP`
//! (PROTOCOL.md §2.2, §2.4, §2.5). Owns: claiming the exclusive backup (9.6+), reading and
//! removing the label file, giving back the unit and recomputing forcing, the backup-end
//! record, the WAL switch, the history file, the archive wait and the final reply.

use crate::action::{Command, EventKind, StepError};
use crate::lsn::{record_bytes, Lsn};
use crate::plan::Taken;
use crate::state::{
    Armed, Assertion, BackupMode, BackupPhase, Cluster, ExclusiveState, HistoryFile, Hook,
    PickedUp, SessionBackupState, SessionId, Unit,
};
use crate::variant::{ExclusiveRule, ExitHook, FileWrite};

impl Cluster {
    /// The SQL function's checks of the session state (9.6+), then the first step.
    pub(super) fn begin_stop(
        &mut self,
        session: SessionId,
        mode: BackupMode,
        command: Command,
    ) -> EventKind {
        let rules = self.rules();
        let state = self.session(session).state;
        if rules.session_state {
            let running = state == SessionBackupState::Running;
            if mode == BackupMode::Exclusive && running {
                return EventKind::CommandRejected {
                    command,
                    error: StepError::NonExclusiveInProgress,
                };
            }
            if mode != BackupMode::Exclusive && !running {
                // 9.6-14's pg_stop_backup(false) names the kind; 15's pg_backup_stop has
                // only one kind left to name.
                let error = if rules.has_exclusive() {
                    StepError::NonExclusiveNotInProgress
                } else {
                    StepError::NotInProgress
                };
                return EventKind::CommandRejected { command, error };
            }
            // The session says RUNNING but has no backup state left to stop: PostgreSQL
            // dereferences a NULL pointer here (B11's second case) and the backend crashes.
            if mode == BackupMode::NonExclusive && self.session(session).backup.is_none() {
                self.fail_assertion(Assertion::StopWithoutBackupState, session);
                return EventKind::CommandRejected {
                    command,
                    error: StepError::NotInProgress,
                };
            }
        }
        // The client calls the stop once its copy is over (ghost, for the restore check). An
        // exclusive backup's copy is the one of the running exclusive backup, whichever
        // session stops it.
        let own = self.session(session).backup;
        let insert = self.shared.insert;
        self.update_backups(|backup| {
            let copying = match mode {
                BackupMode::Exclusive => backup.mode == BackupMode::Exclusive,
                _ => Some(backup.id) == own,
            };
            let ends = copying && backup.phase == BackupPhase::Running;
            if ends {
                backup.end_copy_ghost(insert);
            }
            ends
        });
        let s = self.session_mut(session);
        s.mode = mode;
        if mode == BackupMode::Exclusive {
            s.backup = None;
        }
        self.take_first_step(session, Self::stop_list(mode), command)
    }

    /// 9.6+, exclusive: under the lock, IN_PROGRESS becomes STOPPING (refused otherwise), and
    /// the stop's cleanup callback is armed to turn it back if reading the label fails.
    pub(super) fn step_stop_claim(&mut self, session: SessionId) -> Taken {
        if self.shared.exclusive != ExclusiveState::InProgress {
            return Taken::placed(self.raise_error(session, StepError::ExclusiveNotInProgress));
        }
        self.shared.exclusive = ExclusiveState::Stopping;
        self.session_mut(session).armed.arm(Armed::STOP_CALLBACK);
        Taken::go_on(EventKind::StopClaimed)
    }

    /// Exclusive: read `backup_label` (ERROR "a backup is not in progress" if it is gone) and
    /// remove it. Option 2: read this backup's temporary label file back and remove it.
    pub(super) fn step_read_label(&mut self, session: SessionId) -> Taken {
        let rules = self.rules();
        let mode = self.session(session).mode;
        if mode == BackupMode::Exclusive {
            let Some(file) = self.data_dir_mut().backup_label.take() else {
                return Taken::placed(self.raise_error(session, StepError::NotInProgress));
            };
            // 9.1's plain unlink leaves the removal to the file system's good will; 9.6+'s
            // durable_unlink fsyncs the data directory.
            self.data_dir_mut().unlinked_label = (!rules.durable_label_removal).then_some(file);
            let live = self.backup(file.backup).is_some();
            let s = self.session_mut(session);
            s.start = file.start;
            s.checkpoint = file.checkpoint;
            s.label = file.label;
            s.backup = live.then_some(file.backup);
            s.armed.disarm(Armed::STOP_CALLBACK);
            if rules.exclusive == ExclusiveRule::Flag {
                // 9.1 gives the flag back before it reads the label, and after B5 another
                // session's failed stop has given it back already, so the decrement ended no
                // copy. The label names the backup this stop completes: its copy ends here.
                self.end_copy(file.backup);
            }
            return Taken::go_on(EventKind::LabelFileRemoved {
                backup: file.backup,
                start: file.start,
            });
        }
        let start = self.session(session).start;
        let Ok(index) = self
            .data_dir
            .temp_labels
            .binary_search_by_key(&start, |f| f.start)
        else {
            return Taken::placed(self.raise_error(session, StepError::TempLabelMissing));
        };
        let file = self.data_dir_mut().temp_labels.remove(index);
        self.session_mut(session).label = file.label;
        if let Some(own) = self.session(session).backup {
            self.update_backup(own, |backup| {
                if file.backup != own && backup.picked_up.is_none() {
                    backup.picked_up = Some(PickedUp::TempLabel);
                }
            });
        }
        self.session_mut(session).armed.disarm(Armed::TEMP_LABEL);
        Taken::go_on(EventKind::LabelFileRemoved {
            backup: file.backup,
            start,
        })
    }

    /// Under the lock: give back the exclusive state (9.1: unconditionally, before the label
    /// is even read) or a counter unit, recompute forcing, and (9.6+) clear the session state
    /// before releasing the lock (`56a95ee511`).
    pub(super) fn step_stop_decrement(&mut self, session: SessionId) -> Taken {
        let rules = self.rules();
        let mode = self.session(session).mode;
        if mode == BackupMode::Exclusive {
            self.shared.exclusive = ExclusiveState::None;
            if let Some(holder) = self.exclusive_holder() {
                self.update_backup(holder, |b| b.unit = Unit::Released);
                if self
                    .backup(holder)
                    .is_some_and(|b| b.phase == BackupPhase::Running)
                {
                    self.end_copy(holder);
                    if self.session(session).backup.is_none() {
                        self.session_mut(session).backup = Some(holder);
                    }
                }
            }
        } else {
            self.decrement_counter(session);
            if let Some(own) = self.session(session).backup {
                self.end_copy(own);
            }
        }
        self.recompute_forcing();
        let standby = self.config.standby;
        let replayed = self.shared.insert;
        let s = self.session_mut(session);
        // Cleared with the counter, under the lock (`56a95ee511`); 9.6.0's booleans only when
        // the stop function has returned (B6).
        if rules.session_state && !rules.session_state_after_return {
            s.state = SessionBackupState::None;
        }
        if standby {
            // Once the unit is given back, a standby's stop checks that no WAL written with
            // full_page_writes=off was replayed since the backup's start: if some was, the
            // ERROR fails the backup (its unit stays given back).
            if self.fpw_off_replayed_since(self.session(session).start) {
                return Taken::placed(
                    self.raise_error(session, StepError::FpwOffReplayedDuringBackup),
                );
            }
            let s = self.session_mut(session);
            // In recovery there is no end record and no history file: the stop point is
            // minRecoveryPoint, here the replay position.
            s.stop = replayed;
            if let Some(own) = s.backup {
                let stop = s.stop;
                self.update_backup(own, |b| b.stop = stop);
            }
            return Taken::placed(self.finish_stop(session));
        }
        Taken::go_on(EventKind::BackupUncounted {
            backups: self.shared.backups,
            exclusive: self.shared.exclusive,
            forcing: self.page_writes_forced(),
        })
    }

    /// `XLogInsert(XLOG_BACKUP_END, startpoint)`: the record recovery waits for.
    pub(super) fn step_end_record(&mut self, session: SessionId) -> Taken {
        let record = self.insert_wal(record_bytes::BACKUP_END);
        let start = self.session(session).start;
        self.wal_mut().end_records.push((record.start, start));
        let s = self.session_mut(session);
        s.stop = record.end;
        if let Some(own) = s.backup {
            self.update_backup(own, |b| b.stop = record.end);
        }
        Taken::go_on(EventKind::EndRecordInserted {
            at: record.start,
            start,
        })
    }

    /// `RequestXLogSwitch()`, so that the segment holding the end record can be archived.
    pub(super) fn step_stop_switch(&mut self, _session: SessionId) -> Taken {
        Taken::go_on(self.switch_wal())
    }

    /// Writes `<tli><start segment>.<offset>.backup` into `pg_wal`, then cleans out older
    /// history files (`CleanupBackupHistory`). PostgreSQL's `AllocateFile(.., "w")` replaces
    /// a file of that name in `pg_wal`; create-new designs refuse instead.
    pub(super) fn step_write_history(&mut self, session: SessionId) -> Taken {
        let s = self.session(session);
        let (start, backup) = (s.start, s.backup);
        let written = HistoryFile {
            start,
            stop: s.stop,
            checkpoint: s.checkpoint,
            label: s.label,
            exclusive: s.mode == BackupMode::Exclusive,
            durable: self.rules().history_sync.durable(),
            backup,
            writes: 1,
            in_pg_wal: true,
        };
        let overwritten = match self
            .data_dir
            .history
            .binary_search_by_key(&start, |h| h.start)
        {
            Ok(index) => {
                let earlier = self.data_dir.history[index];
                if earlier.in_pg_wal && self.rules().file_write == FileWrite::CreateNew {
                    return Taken::placed(self.raise_error(session, StepError::HistoryFileExists));
                }
                // A copy of the name survives in pg_wal, or in the archive: with archive_mode
                // on, a file left pg_wal only once archived.
                let kept = earlier.in_pg_wal || self.config.archive_mode;
                let writes = if kept {
                    earlier.writes.saturating_add(1)
                } else {
                    1
                };
                self.data_dir_mut().history[index] = HistoryFile { writes, ..written };
                kept
            }
            Err(index) => {
                self.data_dir_mut().history.insert(index, written);
                false
            }
        };
        self.cleanup_backup_history(start);
        // What follows (the archive wait, the stop position sent) is the plan's: where those
        // are only places for faults and none can strike, the stop ends here.
        Taken::go_on(EventKind::HistoryFileWritten { start, overwritten })
    }

    /// `CleanupBackupHistory`, after the stop wrote the history file named after `written`:
    /// every history file in `pg_wal` whose archiving is done is removed (`XLogArchiveCheckDone`);
    /// with `archive_mode` off every one is, the new one included; the new one is otherwise
    /// marked ready for the archiver. Modelling choice: a working archiver is never behind a
    /// stop (every older history file is archived by the time the next stop cleans up; one
    /// that lags and keeps an older file in `pg_wal` a while longer is not modelled); a
    /// failing one never archives. The removal is not made durable (an OS crash could bring a
    /// removed file back, which the model does not do: the file's name and text stay
    /// recorded either way).
    fn cleanup_backup_history(&mut self, written: Lsn) {
        let archiving = self.config.archive_mode;
        let archived = archiving && !self.config.archive_fails;
        for file in self
            .data_dir_mut()
            .history
            .iter_mut()
            .filter(|h| h.in_pg_wal)
        {
            file.in_pg_wal = if file.start == written {
                archiving
            } else {
                archiving && !archived
            };
        }
    }

    /// Whether a stop of a `mode` backup waits for archiving: an SQL stop on a primary with
    /// `archive_mode` on (a standby archives only with `archive_mode = always`, which the
    /// core does not model; `BASE_BACKUP` is the NOWAIT form `pg_basebackup -X fetch` and
    /// `-X stream` send). An SQL stop that does not wait says so with a NOTICE ("WAL archiving
    /// is not enabled; you must ensure that all required WAL segments are copied through
    /// other means to complete the backup").
    pub fn stop_waits_for_archiving(&self, mode: BackupMode) -> bool {
        mode != BackupMode::Streamed && self.config.archive_mode && !self.config.standby
    }

    /// The stop returns success: after the archive wait (SQL) or the reply with the stop
    /// position (WAL sender, whose cleanup block ends here from 9.6).
    pub(super) fn finish_stop(&mut self, session: SessionId) -> EventKind {
        let rules = self.rules();
        // An SQL stop with archive_mode on returns once the history file is archived (durable
        // in the archive, whatever its copy in pg_wal).
        let (mode, start) = (self.session(session).mode, self.session(session).start);
        if self.stop_waits_for_archiving(mode) {
            if let Ok(index) = self
                .data_dir
                .history
                .binary_search_by_key(&start, |h| h.start)
            {
                self.data_dir_mut().history[index].durable = true;
            }
        }
        let s = self.session_mut(session);
        let (backup, start, stop) = (s.backup.take(), s.start, s.stop);
        s.armed.disarm(Armed::BASE_BACKUP_CLEANUP);
        if s.mode != BackupMode::Streamed {
            // What the SQL function does after `do_pg_stop_backup` returns: 9.6.0 clears its
            // boolean (B6); 9.6–12 remove the exit hook, which only works if it is the newest.
            if rules.session_state_after_return {
                s.state = SessionBackupState::None;
            }
            if rules.exit_hook == ExitHook::PerBackup && s.mode == BackupMode::NonExclusive {
                s.hooks.cancel(Hook::AbortBackup);
            }
        }
        s.end_command();
        if let Some(id) = backup {
            self.update_backup(id, |b| {
                if b.phase == BackupPhase::Stopping {
                    b.phase = BackupPhase::Stopped;
                    // Ghost: the stop point as reported, which the restore check holds to
                    // the end of the backup's end record.
                    b.stop = stop;
                }
            });
        }
        EventKind::BackupStopped {
            backup,
            start,
            stop,
        }
    }
}
