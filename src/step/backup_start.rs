//! Starting a backup: `do_pg_start_backup` (9.1–14) / `do_pg_backup_start` (15+), reached
//! from `pg_start_backup` / `pg_backup_start` in SQL sessions and from `BASE_BACKUP` in WAL
//! senders (PROTOCOL.md §2.2, §2.4, §2.5). Owns the steps from the command's checks to the
//! returned start point: WAL switch, counter or exclusive state, the checkpoint request and
//! wait, the unique-start-point loop, and the label file where the design writes one.

use crate::action::{Command, EventKind, LabelPlace, StepError};
use crate::label::{validate_label, LabelKind};
use crate::lsn::TimeLineId;
use crate::plan::{ListId, Next, Taken};
use crate::state::{
    Armed, Backup, BackupId, BackupMode, BackupPhase, Cluster, ExclusiveState, Hook, LabelFile,
    SessionBackupState, SessionId, Unit,
};
use crate::variant::{ExclusiveRule, ExitHook, FileWrite, Forcing, LockMode, StandbyTimeline};

impl Cluster {
    /// The command's checks, then its first step. Checks that refuse change nothing.
    pub(super) fn begin_start(
        &mut self,
        session: SessionId,
        mode: BackupMode,
        label: LabelKind,
        command: Command,
    ) -> EventKind {
        let rules = self.rules();
        let id = BackupId(self.next_backup);
        let state = self.session(session).state;
        // pg_start_backup/pg_backup_start refuse a second backup in the session; BASE_BACKUP
        // does too since `ee79647769` (B10 without the check).
        let checks = mode != BackupMode::Streamed || rules.base_backup_checks_session;
        if rules.session_state && checks && state == SessionBackupState::Running {
            return EventKind::CommandRejected {
                command,
                error: StepError::BackupInProgressInSession,
            };
        }
        if self.config.standby && mode == BackupMode::Exclusive {
            return EventKind::CommandRejected {
                command,
                error: StepError::RecoveryInProgress,
            };
        }
        if let Err(error) = validate_label(&label.text(id.0), rules.label_rule) {
            return EventKind::CommandRejected {
                command,
                error: error.into(),
            };
        }
        self.next_backup += 1;
        let backup = Backup {
            id,
            session,
            mode,
            label,
            phase: BackupPhase::Starting,
            start: crate::lsn::Lsn::INVALID,
            accepted: false,
            checkpoint: crate::lsn::Lsn::INVALID,
            start_timeline: self.config.timeline,
            from_standby: self.config.standby,
            stop: crate::lsn::Lsn::INVALID,
            copy_over: false,
            copied_to: crate::lsn::Lsn::INVALID,
            early_end_record: false,
            unit: Unit::NotYet,
            torn: false,
            picked_up: None,
            label_handed_out: false,
            label_misstates: false,
        };
        self.push_backup(backup);
        let s = self.session_mut(session);
        s.starts += 1;
        s.backup = Some(id);
        s.mode = mode;
        s.label = label;
        s.unique = false;
        s.start = crate::lsn::Lsn::INVALID;
        s.checkpoint = crate::lsn::Lsn::INVALID;
        s.stop = crate::lsn::Lsn::INVALID;
        // 13+: `register_persistent_abort_backup_handler()` runs before the start, once per
        // session; from then on the exit hook stays (it does nothing without a backup).
        if rules.exit_hook == ExitHook::Persistent
            && mode == BackupMode::NonExclusive
            && !s.hooks.contains(Hook::AbortBackup)
        {
            s.hooks.push(Hook::AbortBackup);
        }
        self.take_first_step(session, ListId::Start, command)
    }

    /// `RequestXLogSwitch()`: before the increment in 9.1, after it from 9.2 (`2dd9322ba6`).
    pub(super) fn step_start_switch(&mut self, _session: SessionId) -> Taken {
        Taken::go_on(self.switch_wal())
    }

    /// Under the exclusive insertion lock: take the exclusive state (refusing if it is taken)
    /// or a counter unit, raise `forcePageWrites`, and arm the start's cleanup callback
    /// (`PG_ENSURE_ERROR_CLEANUP` follows the release with nothing in between that can fail).
    pub(super) fn step_start_increment(&mut self, session: SessionId) -> Taken {
        let rules = self.rules();
        let mode = self.session(session).mode;
        if mode == BackupMode::Exclusive {
            if self.shared.exclusive != ExclusiveState::None {
                return Taken::placed(self.raise_error(session, StepError::BackupInProgress));
            }
            self.shared.exclusive = match rules.exclusive {
                ExclusiveRule::StateMachine => ExclusiveState::Starting,
                _ => ExclusiveState::InProgress,
            };
        } else {
            self.shared.backups += 1;
        }
        if rules.forcing == Forcing::Flag {
            self.shared.force_page_writes = true;
        }
        let s = self.session_mut(session);
        s.armed.arm(Armed::START_CALLBACK);
        let backup = s.backup.expect("a starting session has its backup");
        self.update_backup(backup, |b| b.unit = Unit::Held);
        Taken::go_on(EventKind::BackupCounted {
            backup,
            backups: self.shared.backups,
            exclusive: self.shared.exclusive,
            forcing: self.page_writes_forced(),
        })
    }

    /// `RequestCheckpoint(CHECKPOINT_FORCE | CHECKPOINT_WAIT [| CHECKPOINT_IMMEDIATE])`: note
    /// how many checkpoints have begun and OR the request into the pending flags. Pending
    /// requests merge: one checkpoint serves every request made before it began.
    pub(super) fn step_request_checkpoint(&mut self, session: SessionId) -> Taken {
        let ticket = self.checkpointer.started;
        self.checkpointer.requested = true;
        self.checkpointer.immediate |= self.config.fast_checkpoint;
        let s = self.session_mut(session);
        s.ticket = ticket;
        Taken::go_on(EventKind::CheckpointRequested { ticket })
    }

    /// The wait ends once a checkpoint that began after the request has completed.
    pub(super) fn step_wait_checkpoint(&mut self, _session: SessionId) -> Taken {
        Taken::go_on(EventKind::CheckpointWaited {
            done: self.checkpointer.done,
        })
    }

    /// Under ControlFileLock (shared): the candidate start point is the latest checkpoint's
    /// redo, and the label's CHECKPOINT LOCATION its record.
    pub(super) fn step_read_control(&mut self, session: SessionId) -> Taken {
        // On a standby the start checks, with its restartpoint in hand, that no WAL written
        // with full_page_writes=off was replayed since (`checkPointCopy.fullPageWrites`,
        // `lastFpwDisableRecPtr`): a primary running with it off writes that into every
        // checkpoint record, so the check fails whenever the setting here (the primary's,
        // replayed) is off, and when its change to off lies at or after the restartpoint's
        // redo. The ERROR runs the start's cleanup. The stop checks again, for WAL replayed
        // during the backup (`Cluster::fpw_off_replayed_since`).
        if self.config.standby
            && (!self.shared.full_page_writes || self.fpw_off_replayed_since(self.control.redo))
        {
            return Taken::placed(self.raise_error(session, StepError::FpwOffReplayed));
        }
        let (checkpoint, redo) = (self.control.checkpoint, self.control.redo);
        let torn = self.ghost.control_redo_torn;
        // The label's start WAL file is named with the start checkpoint's timeline; on a
        // standby B4 used the session's `ThisTimeLineID`, which is 0 there.
        let timeline = match (self.config.standby, self.rules().standby_label_timeline) {
            (true, StandbyTimeline::SessionZero) => TimeLineId(0),
            _ => self.config.timeline,
        };
        let s = self.session_mut(session);
        s.start = redo;
        s.checkpoint = checkpoint;
        let backup = s.backup.expect("a starting session has its backup");
        self.update_backup(backup, |b| {
            b.start = redo;
            b.checkpoint = checkpoint;
            b.start_timeline = timeline;
            b.torn = torn;
        });
        Taken::go_on(EventKind::ControlFileRead { checkpoint, redo })
    }

    /// The unique-start-point check (`6d8096e2f3`). Under the exclusive lock it checks and
    /// sets `lastBackupStart` at once. In 9.1–9.3 the lock was taken in shared mode, so the
    /// check and the set are two steps between which other holders of the shared lock run.
    pub(super) fn step_unique_check(&mut self, session: SessionId) -> Taken {
        let start = self.session(session).start;
        // A standby's backup writes no end record and no history file: its start point need
        // not be unique (9.2+). B1 has no check at all.
        if self.config.standby || !self.rules().unique_start_check {
            return self.accept_start_point(session);
        }
        let unique = self.shared.last_backup_start < start;
        match self.rules().unique_check_lock {
            LockMode::Exclusive => {
                if unique {
                    self.shared.last_backup_start = start;
                    self.accept_start_point(session)
                } else {
                    self.retry_start_point(session)
                }
            }
            LockMode::Shared => {
                self.shared.insert_lock_sharers += 1;
                let s = self.session_mut(session);
                s.unique = unique;
                Taken::go_on(EventKind::StartPointChecked { start, unique })
            }
        }
    }

    /// 9.1: the set half of the check, still under the shared lock, then its release.
    pub(super) fn step_unique_set(&mut self, session: SessionId) -> Taken {
        self.shared.insert_lock_sharers -= 1;
        if self.session(session).unique {
            self.shared.last_backup_start = self.session(session).start;
            self.accept_start_point(session)
        } else {
            self.retry_start_point(session)
        }
    }

    fn retry_start_point(&mut self, session: SessionId) -> Taken {
        Taken {
            event: EventKind::StartPointRetry {
                start: self.session(session).start,
                last: self.shared.last_backup_start,
            },
            next: Next::Retry,
        }
    }

    /// The start point is accepted; the label is written next where the design writes one,
    /// else the start is complete (the plan's list ends).
    fn accept_start_point(&mut self, session: SessionId) -> Taken {
        let backup = self
            .session(session)
            .backup
            .expect("a starting session has its backup");
        self.update_backup(backup, |b| b.accepted = true);
        Taken::go_on(EventKind::StartPointAccepted {
            start: self.session(session).start,
        })
    }

    /// Exclusive: refuse if `backup_label` exists, else write it (with fsync). Option 2:
    /// write the temporary label file named after the start point.
    pub(super) fn step_write_label(&mut self, session: SessionId) -> Taken {
        let s = self.session(session);
        let backup = s.backup.expect("a starting session has its backup");
        let file = LabelFile {
            backup,
            start: s.start,
            checkpoint: s.checkpoint,
            label: s.label,
            durable: self.rules().label_sync.durable(),
        };
        if s.mode == BackupMode::Exclusive {
            if self.data_dir.backup_label.is_some() {
                return Taken::placed(self.raise_error(session, StepError::LabelFileExists));
            }
            self.data_dir_mut().backup_label = Some(file);
            return Taken::placed(self.finish_start(session, LabelPlace::BackupLabelFile));
        }
        let existing = self
            .data_dir
            .temp_labels
            .binary_search_by_key(&file.start, |f| f.start);
        let replaced = match existing {
            Ok(_) if self.rules().file_write == FileWrite::CreateNew => {
                return Taken::placed(self.raise_error(session, StepError::TempLabelExists));
            }
            Ok(index) => {
                let previous = self.data_dir.temp_labels[index].backup;
                self.data_dir_mut().temp_labels[index] = file;
                Some(previous)
            }
            Err(index) => {
                self.data_dir_mut().temp_labels.insert(index, file);
                None
            }
        };
        self.session_mut(session).armed.arm(Armed::TEMP_LABEL);
        Taken::placed(self.finish_start(session, LabelPlace::TempFile { replaced }))
    }

    /// End of the cleanup block: disarm the start's callback; an exclusive backup becomes
    /// IN_PROGRESS (9.6+, under the lock); the session state is set (only after the block,
    /// as the 16+ comment insists); a WAL sender goes on to send the start position.
    pub(super) fn finish_start(&mut self, session: SessionId, label: LabelPlace) -> EventKind {
        let rules = self.rules();
        let s = self.session_mut(session);
        s.armed.disarm(Armed::START_CALLBACK);
        let backup = s.backup.expect("a starting session has its backup");
        let start = s.start;
        let mode = s.mode;
        if rules.session_state {
            s.state = if mode == BackupMode::Exclusive {
                SessionBackupState::Exclusive
            } else {
                SessionBackupState::Running
            };
        }
        match mode {
            BackupMode::Streamed => {
                if rules.send_start_in_cleanup {
                    s.armed.arm(Armed::BASE_BACKUP_CLEANUP);
                }
            }
            BackupMode::Exclusive | BackupMode::NonExclusive => {
                if mode == BackupMode::Exclusive {
                    // The exclusive backup belongs to the cluster: any session may stop it.
                    s.backup = None;
                }
                // 9.6–12: `before_shmem_exit(nonexclusive_base_backup_cleanup)` once the
                // start has returned; the stop removes it again.
                if mode == BackupMode::NonExclusive && rules.exit_hook == ExitHook::PerBackup {
                    s.hooks.push(Hook::AbortBackup);
                }
                s.end_command();
            }
        }
        if mode == BackupMode::Exclusive && rules.exclusive == ExclusiveRule::StateMachine {
            self.shared.exclusive = ExclusiveState::InProgress;
        }
        self.update_backup(backup, |b| {
            b.phase = BackupPhase::Running;
            b.label_handed_out = true;
        });
        let misstates = crate::invariants::label_misstates(self, backup);
        self.update_backup(backup, |b| b.label_misstates = misstates);
        let event = EventKind::BackupStarted {
            backup,
            start,
            label,
        };
        if mode == BackupMode::Streamed {
            // The WAL sender goes on with its own steps, then its stop.
            return self.enter_list(session, ListId::BaseBackup, 0, event);
        }
        event
    }
}
