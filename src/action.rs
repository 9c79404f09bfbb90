//! What can happen next ([`Action`]) and what did happen ([`Event`]), with the typed errors
//! a command can end with ([`StepError`]). Every action and event has a stable, readable name.

use crate::label::{LabelError, LabelKind};
use crate::lsn::Lsn;
use crate::state::{
    Armed, BackupId, BackupMode, ExclusiveState, PageId, PickedUp, SessionId, WriterId,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// A command a client sends to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Command {
    /// `pg_start_backup(label, fast, exclusive)` / `pg_backup_start(label, fast)`.
    StartBackup {
        /// Exclusive or non-exclusive.
        mode: BackupMode,
        /// The label.
        label: LabelKind,
    },
    /// `pg_stop_backup(exclusive)` / `pg_backup_stop()`.
    StopBackup {
        /// Exclusive or non-exclusive.
        mode: BackupMode,
    },
    /// `BASE_BACKUP (LABEL ...)`: start, copy, stop in one command.
    BaseBackup {
        /// The label.
        label: LabelKind,
    },
    /// A query whose JIT compilation registers its own exit callback (`llvm_shutdown`).
    JitQuery,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::StartBackup {
                mode: BackupMode::Exclusive,
                label,
            } => {
                write!(f, "pg_start_backup(exclusive, label={})", label.name())
            }
            Command::StartBackup { label, .. } => {
                write!(f, "pg_backup_start(label={})", label.name())
            }
            Command::StopBackup {
                mode: BackupMode::Exclusive,
            } => write!(f, "pg_stop_backup(exclusive)"),
            Command::StopBackup { .. } => write!(f, "pg_backup_stop()"),
            Command::BaseBackup { label } => write!(f, "BASE_BACKUP(label={})", label.name()),
            Command::JitQuery => write!(f, "a JIT-compiled query"),
        }
    }
}

/// A fault the environment injects into a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// An ERROR where the step does I/O: a file cannot be written or read, a send fails.
    Error,
    /// A query cancel while the session waits: ERROR "canceling statement due to user request".
    Cancel,
    /// The client goes away or the backend is terminated: FATAL, the process exits.
    Disconnect,
}

impl Fault {
    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Error => "error",
            Fault::Cancel => "cancel",
            Fault::Disconnect => "disconnect",
        }
    }
}

/// One atomic step the cluster can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// An idle session receives a command and takes its first step.
    Begin {
        /// The session.
        session: SessionId,
        /// The command.
        command: Command,
    },
    /// A busy session takes its next step.
    Step {
        /// The session.
        session: SessionId,
    },
    /// A fault hits a session.
    Fault {
        /// The session.
        session: SessionId,
        /// The fault.
        fault: Fault,
    },
    /// The checkpointer begins a checkpoint (requested, or timed): fixes the redo point.
    CheckpointBegin,
    /// The checkpointer writes the checkpoint record and the control file.
    CheckpointEnd,
    /// A writer locks a page and assembles a change from its copy of the redo pointer and
    /// `doPageWrites`.
    PageAssemble {
        /// The writer.
        writer: WriterId,
        /// The page.
        page: PageId,
    },
    /// The writer re-checks under the insertion lock and inserts, or re-assembles.
    PageInsert {
        /// The writer.
        writer: WriterId,
    },
    /// Someone else switches WAL (`pg_switch_wal()`, archive_timeout).
    WalSwitch,
    /// Other backends' WAL fills the current segment until exactly one backup-end record's
    /// room is left before its end: the next such record ends on the segment boundary, the one
    /// place where naming a segment by a record's end and by its last byte differ.
    WalFill,
    /// The server crashes and restarts: crash recovery and an end-of-recovery checkpoint.
    Crash,
    /// The machine loses power: at worst, WAL not flushed and files (or removals) not made
    /// durable are lost; then the server restarts with crash recovery.
    OsCrash,
    /// A fast shutdown is requested (`pg_ctl stop -m fast`): no new command is accepted, the
    /// backends it signals are terminated at their next interrupt check, and the exclusive
    /// backup's `backup_label` is renamed (`CancelBackup`, up to 14).
    Shutdown,
    /// The postmaster's SIGTERM reaches a session at an interrupt check during a fast shutdown:
    /// FATAL, the session's cleanups run, its process exits.
    Terminate {
        /// The session.
        session: SessionId,
    },
    /// The checkpointer writes the shutdown checkpoint, once every backend the shutdown waits
    /// for has exited (WAL senders running a base backup count as such since `8f5d65e916`).
    ShutdownCheckpoint,
    /// The server starts again after a clean shutdown: shared memory is new, no recovery is
    /// needed, and WAL is written on from the end of the shutdown checkpoint (whatever was
    /// written after it is overwritten).
    Restart,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Begin { session, command } => write!(f, "{session} {command}"),
            Action::Step { session } => write!(f, "{session} step"),
            Action::Fault { session, fault } => write!(f, "{session} fault {}", fault.name()),
            Action::CheckpointBegin => write!(f, "checkpoint begin"),
            Action::CheckpointEnd => write!(f, "checkpoint end"),
            Action::PageAssemble { writer, page } => write!(f, "W{writer} assemble page {page}"),
            Action::PageInsert { writer } => write!(f, "W{writer} insert"),
            Action::WalSwitch => write!(f, "wal switch"),
            Action::WalFill => write!(f, "wal fill"),
            Action::Crash => write!(f, "crash"),
            Action::OsCrash => write!(f, "OS crash"),
            Action::Shutdown => write!(f, "shutdown (fast)"),
            Action::Terminate { session } => write!(f, "{session} terminated"),
            Action::ShutdownCheckpoint => write!(f, "shutdown checkpoint"),
            Action::Restart => write!(f, "restart"),
        }
    }
}

/// Why a command ended with an error. The messages are PostgreSQL's where it has one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum StepError {
    /// The label was refused at start.
    #[error(transparent)]
    Label(#[from] LabelError),
    /// "a backup is already in progress" (the exclusive state is taken).
    #[error("a backup is already in progress")]
    BackupInProgress,
    /// "a backup is already in progress" with the hint to remove `backup_label`: the file exists.
    #[error("a backup is already in progress (file \"backup_label\" exists)")]
    LabelFileExists,
    /// "a backup is already in progress in this session".
    #[error("a backup is already in progress in this session")]
    BackupInProgressInSession,
    /// "non-exclusive backup in progress" (exclusive stop in a session running a non-exclusive one).
    #[error("non-exclusive backup in progress")]
    NonExclusiveInProgress,
    /// "a backup is not in progress" (no `backup_label`) / "backup is not in progress" (15+).
    #[error("a backup is not in progress")]
    NotInProgress,
    /// "exclusive backup not in progress".
    #[error("exclusive backup not in progress")]
    ExclusiveNotInProgress,
    /// Option 2: the temporary label file to create exists already.
    #[error("temporary backup label file already exists")]
    TempLabelExists,
    /// Option 2: the backup's temporary label file is gone.
    #[error("temporary backup label file is missing")]
    TempLabelMissing,
    /// The history file to create exists already (create-new designs).
    #[error("backup history file already exists")]
    HistoryFileExists,
    /// "recovery is in progress": an exclusive backup cannot be taken on a standby.
    #[error("recovery is in progress")]
    RecoveryInProgress,
    /// An injected I/O or send failure.
    #[error("I/O error at {0}")]
    Io(String),
    /// An injected query cancel.
    #[error("canceling statement due to user request")]
    Cancelled,
}

/// Where a started backup's label went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelPlace {
    /// Kept in the session's memory, handed to the client (option 1).
    Returned,
    /// Written to `backup_label` in the data directory (exclusive backup).
    BackupLabelFile,
    /// Written to a temporary label file (option 2), replacing another backup's file if any.
    TempFile {
        /// The backup whose file was replaced.
        replaced: Option<BackupId>,
    },
}

impl fmt::Display for LabelPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelPlace::Returned => write!(f, "returned to the client"),
            LabelPlace::BackupLabelFile => write!(f, "in backup_label"),
            LabelPlace::TempFile { replaced: None } => write!(f, "in its temporary file"),
            LabelPlace::TempFile {
                replaced: Some(other),
            } => {
                write!(f, "in its temporary file, replacing {other}'s")
            }
        }
    }
}

/// Who took a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    /// A session.
    Session(SessionId),
    /// The checkpointer.
    Checkpointer,
    /// A page writer.
    Writer(WriterId),
    /// The environment (crash, outside WAL switch).
    Environment,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Session(s) => write!(f, "{s}"),
            Actor::Checkpointer => write!(f, "CKPT"),
            Actor::Writer(w) => write!(f, "W{w}"),
            Actor::Environment => write!(f, "ENV"),
        }
    }
}

/// Cleanups that ran, as bit flags (the same flags as [`Armed`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cleanups(pub u8);

impl fmt::Display for Cleanups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Armed::STOP_CALLBACK, "stop-callback"),
            (Armed::START_CALLBACK, "start-callback"),
            (Armed::BASE_BACKUP_CLEANUP, "base-backup-cleanup"),
            (Armed::EXIT_HOOK, "exit-hook"),
        ];
        let ran: Vec<&str> = names
            .iter()
            .filter(|(flag, _)| self.0 & flag.0 != 0)
            .map(|(_, n)| *n)
            .collect();
        if ran.is_empty() {
            write!(f, "no cleanup")
        } else {
            write!(f, "{}", ran.join(", "))
        }
    }
}

/// What one step did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    /// The command was refused before anything changed.
    CommandRejected {
        /// The command.
        command: Command,
        /// Why.
        error: StepError,
    },
    /// The command passed its checks; its first step (an I/O step) follows.
    CommandAccepted {
        /// The command.
        command: Command,
    },
    /// A JIT-compiled query registered its exit callback.
    JitCallbackRegistered,
    /// A WAL switch moved the insert position to the next segment (`from == to`: the segment
    /// was empty and nothing was written).
    WalSwitched {
        /// Insert position before.
        from: Lsn,
        /// After.
        to: Lsn,
    },
    /// Start took the exclusive state or a counter unit, and raised forcing.
    BackupCounted {
        /// The backup.
        backup: BackupId,
        /// The counter after.
        backups: i16,
        /// The exclusive state after.
        exclusive: ExclusiveState,
        /// Page writes forced after (16+: whether the counter is now above zero).
        forcing: bool,
    },
    /// A checkpoint was requested.
    CheckpointRequested {
        /// Checkpoints begun when asked.
        ticket: u32,
    },
    /// The wait for the requested checkpoint ended.
    CheckpointWaited {
        /// Checkpoints done.
        done: u32,
    },
    /// The control file was read.
    ControlFileRead {
        /// Its checkpoint location.
        checkpoint: Lsn,
        /// Its redo point: the candidate start point.
        redo: Lsn,
    },
    /// 9.1: the start point was checked under the shared lock.
    StartPointChecked {
        /// The candidate.
        start: Lsn,
        /// `lastBackupStart < start`.
        unique: bool,
    },
    /// The start point was accepted (`lastBackupStart` set).
    StartPointAccepted {
        /// The start point.
        start: Lsn,
    },
    /// The start point was used already: request another checkpoint.
    StartPointRetry {
        /// The candidate.
        start: Lsn,
        /// `lastBackupStart`.
        last: Lsn,
    },
    /// Start returned the start point (after writing the label file, where there is one).
    BackupStarted {
        /// The backup.
        backup: BackupId,
        /// Its start point.
        start: Lsn,
        /// Where its label went.
        label: LabelPlace,
    },
    /// The walsender sent the start position.
    StartPointSent {
        /// The start point.
        start: Lsn,
    },
    /// The walsender sent the label and the files.
    FilesCopied {
        /// The backup.
        backup: BackupId,
        /// A label that was not its own.
        picked_up: Option<PickedUp>,
    },
    /// Exclusive stop claimed the backup (IN_PROGRESS to STOPPING).
    StopClaimed,
    /// Stop read and removed the label file (exclusive or temporary).
    LabelFileRemoved {
        /// Whose label it was.
        backup: BackupId,
        /// The start point it gives.
        start: Lsn,
    },
    /// Stop gave back the exclusive state or a counter unit.
    BackupUncounted {
        /// The counter after.
        backups: i16,
        /// The exclusive state after.
        exclusive: ExclusiveState,
        /// `forcePageWrites` after.
        forcing: bool,
    },
    /// The backup-end record was inserted.
    EndRecordInserted {
        /// Where.
        at: Lsn,
        /// The start point it carries.
        start: Lsn,
    },
    /// The history file was written.
    HistoryFileWritten {
        /// Its start point (its name).
        start: Lsn,
        /// It replaced an existing file.
        overwritten: bool,
    },
    /// Archiving caught up.
    ArchiveWaited,
    /// Stop returned success.
    BackupStopped {
        /// The backup, if the stop could tell.
        backup: Option<BackupId>,
        /// Start point.
        start: Lsn,
        /// Stop point.
        stop: Lsn,
    },
    /// The command ended with an ERROR; the armed error cleanups ran.
    CommandFailed {
        /// Why.
        error: StepError,
        /// Which cleanups ran.
        cleanups: Cleanups,
    },
    /// The session's process exited (FATAL); every armed cleanup ran.
    SessionExited {
        /// Which cleanups ran.
        cleanups: Cleanups,
    },
    /// A checkpoint began.
    CheckpointBegan {
        /// Its redo point.
        redo: Lsn,
        /// It was timed, not requested.
        timed: bool,
    },
    /// A checkpoint completed.
    CheckpointCompleted {
        /// Its record's location.
        checkpoint: Lsn,
        /// Its redo point.
        redo: Lsn,
    },
    /// A page change was assembled.
    PageAssembled {
        /// The page.
        page: PageId,
        /// With a full-page image.
        image: bool,
    },
    /// The re-check under the lock found forcing or the redo point changed: re-assembled.
    PageReassembled {
        /// The page.
        page: PageId,
        /// With a full-page image now.
        image: bool,
    },
    /// A page change was inserted.
    PageWritten {
        /// The page.
        page: PageId,
        /// The record's location.
        at: Lsn,
        /// It carried a full-page image.
        image: bool,
    },
    /// Other backends' WAL filled the segment.
    WalFilled {
        /// Insert position before.
        from: Lsn,
        /// After: one backup-end record's room before the segment's end.
        to: Lsn,
    },
    /// A fast shutdown began.
    ShutdownRequested,
    /// The shutdown checkpoint was written.
    ShutdownCheckpointWritten {
        /// Its record's location (its own redo point).
        checkpoint: Lsn,
    },
    /// The server started again after a clean shutdown.
    RestartedClean {
        /// WAL from here on was written after the shutdown checkpoint and is overwritten.
        discarded_from: Lsn,
        /// Bytes of WAL discarded.
        discarded: u64,
        /// The exclusive backup's `backup_label` was renamed to `backup_label.old` as the
        /// postmaster exited (`CancelBackup`).
        label_renamed: bool,
    },
    /// Power loss, then the restart's crash recovery.
    PowerLost {
        /// Bytes of WAL that were not flushed and are gone.
        wal_lost: u64,
        /// Files not made durable that are gone.
        files_lost: u32,
        /// A `backup_label` removed without an fsync of its directory is back.
        label_restored: bool,
        /// Crash recovery renamed a backup_label to backup_label.old.
        label_renamed: bool,
        /// Restart refused: this exclusive backup's label names a recycled checkpoint.
        refused: Option<BackupId>,
        /// The end-of-recovery checkpoint's location.
        checkpoint: Lsn,
    },
    /// Crash and restart.
    Restarted {
        /// The exclusive backup_label was found and renamed to backup_label.old.
        label_renamed: bool,
        /// Restart refused: this exclusive backup's label names a recycled checkpoint.
        refused: Option<BackupId>,
        /// The end-of-recovery checkpoint's location.
        checkpoint: Lsn,
    },
}

impl EventKind {
    /// The stable name used in traces.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::CommandRejected { .. } => "command.rejected",
            EventKind::CommandAccepted { .. } => "command.accepted",
            EventKind::JitCallbackRegistered => "jit.register-callback",
            EventKind::WalSwitched { .. } => "wal.switch",
            EventKind::BackupCounted { .. } => "start.increment",
            EventKind::CheckpointRequested { .. } => "start.request-checkpoint",
            EventKind::CheckpointWaited { .. } => "start.checkpoint-done",
            EventKind::ControlFileRead { .. } => "start.read-control-file",
            EventKind::StartPointChecked { .. } => "start.unique-check",
            EventKind::StartPointAccepted { .. } => "start.unique-start-point",
            EventKind::StartPointRetry { .. } => "start.retry",
            EventKind::BackupStarted { .. } => "start.done",
            EventKind::StartPointSent { .. } => "base-backup.send-start",
            EventKind::FilesCopied { .. } => "base-backup.copy",
            EventKind::StopClaimed => "stop.claim",
            EventKind::LabelFileRemoved { .. } => "stop.read-label",
            EventKind::BackupUncounted { .. } => "stop.decrement",
            EventKind::EndRecordInserted { .. } => "stop.end-record",
            EventKind::HistoryFileWritten { .. } => "stop.write-history",
            EventKind::ArchiveWaited => "stop.archive-wait",
            EventKind::BackupStopped { .. } => "stop.done",
            EventKind::CommandFailed { .. } => "command.error",
            EventKind::SessionExited { .. } => "session.exit",
            EventKind::CheckpointBegan { .. } => "checkpoint.begin",
            EventKind::CheckpointCompleted { .. } => "checkpoint.end",
            EventKind::PageAssembled { .. } => "page.assemble",
            EventKind::PageReassembled { .. } => "page.reassemble",
            EventKind::PageWritten { .. } => "page.insert",
            EventKind::Restarted { .. } => "crash.restart",
            EventKind::WalFilled { .. } => "wal.fill",
            EventKind::ShutdownRequested => "shutdown.request",
            EventKind::ShutdownCheckpointWritten { .. } => "shutdown.checkpoint",
            EventKind::RestartedClean { .. } => "shutdown.restart",
            EventKind::PowerLost { .. } => "os-crash.restart",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        match self {
            EventKind::CommandRejected { command, error } => write!(f, ": {command}: {error}"),
            EventKind::CommandAccepted { command } => write!(f, ": {command}"),
            EventKind::JitCallbackRegistered => Ok(()),
            EventKind::WalSwitched { from, to } if from == to => {
                write!(f, ": segment empty, nothing written")
            }
            EventKind::WalSwitched { from, to } => write!(f, ": insert {from} -> {to}"),
            EventKind::BackupCounted {
                backup,
                backups,
                exclusive,
                forcing,
            } => {
                write!(
                    f,
                    ": {backup}, counter {backups}, exclusive {exclusive:?}, forcing {}",
                    if *forcing { "on" } else { "off" }
                )
            }
            EventKind::CheckpointRequested { ticket } => write!(f, ": ticket {ticket}"),
            EventKind::CheckpointWaited { done } => write!(f, ": {done} checkpoints done"),
            EventKind::ControlFileRead { checkpoint, redo } => {
                write!(f, ": checkpoint {checkpoint}, redo {redo}")
            }
            EventKind::StartPointChecked { start, unique } => {
                write!(f, ": {start} unique={unique}")
            }
            EventKind::StartPointAccepted { start } => write!(f, ": {start}"),
            EventKind::StartPointRetry { start, last } => {
                write!(f, ": {start} <= lastBackupStart {last}")
            }
            EventKind::BackupStarted {
                backup,
                start,
                label,
            } => {
                write!(f, ": {backup} start point {start}, label {label}")
            }
            EventKind::StartPointSent { start } => write!(f, ": {start}"),
            EventKind::FilesCopied { backup, picked_up } => match picked_up {
                Some(p) => write!(f, ": {backup} carried {p:?}"),
                None => write!(f, ": {backup}"),
            },
            EventKind::StopClaimed => Ok(()),
            EventKind::LabelFileRemoved { backup, start } => write!(f, ": {backup} start {start}"),
            EventKind::BackupUncounted {
                backups,
                exclusive,
                forcing,
            } => {
                write!(
                    f,
                    ": counter {backups}, exclusive {exclusive:?}, forcing {}",
                    if *forcing { "on" } else { "off" }
                )
            }
            EventKind::EndRecordInserted { at, start } => write!(f, ": at {at} for start {start}"),
            EventKind::HistoryFileWritten { start, overwritten } => {
                write!(
                    f,
                    ": start {start}{}",
                    if *overwritten {
                        " (overwrote an existing file)"
                    } else {
                        ""
                    }
                )
            }
            EventKind::ArchiveWaited => Ok(()),
            EventKind::BackupStopped {
                backup,
                start,
                stop,
            } => match backup {
                Some(b) => write!(f, ": {b} {start} .. {stop}"),
                None => write!(f, ": {start} .. {stop}"),
            },
            EventKind::CommandFailed { error, cleanups } => write!(f, ": {error}; ran {cleanups}"),
            EventKind::SessionExited { cleanups } => write!(f, ": ran {cleanups}"),
            EventKind::CheckpointBegan { redo, timed } => {
                write!(f, ": redo {redo}{}", if *timed { " (timed)" } else { "" })
            }
            EventKind::CheckpointCompleted { checkpoint, redo } => {
                write!(f, ": record {checkpoint}, redo {redo}")
            }
            EventKind::PageAssembled { page, image }
            | EventKind::PageReassembled { page, image } => {
                write!(
                    f,
                    ": page {page}{}",
                    if *image { " with image" } else { "" }
                )
            }
            EventKind::PageWritten { page, at, image } => {
                write!(
                    f,
                    ": page {page} at {at}{}",
                    if *image {
                        " with image"
                    } else {
                        " without image"
                    }
                )
            }
            EventKind::WalFilled { from, to } => write!(f, ": insert {from} -> {to}"),
            EventKind::ShutdownRequested => Ok(()),
            EventKind::ShutdownCheckpointWritten { checkpoint } => {
                write!(f, ": record {checkpoint}")
            }
            EventKind::RestartedClean {
                discarded_from,
                discarded,
                label_renamed,
            } => {
                if *discarded > 0 {
                    write!(
                        f,
                        ": {discarded} bytes of WAL after the shutdown checkpoint discarded from {discarded_from}"
                    )?;
                } else {
                    write!(f, ": WAL continues at {discarded_from}")?;
                }
                if *label_renamed {
                    write!(f, ", backup_label renamed to backup_label.old")?;
                }
                Ok(())
            }
            EventKind::PowerLost {
                wal_lost,
                files_lost,
                label_restored,
                label_renamed,
                refused,
                checkpoint,
            } => {
                write!(
                    f,
                    ": {wal_lost} bytes of unflushed WAL and {files_lost} file(s) lost"
                )?;
                if *label_restored {
                    write!(f, ", a removed backup_label is back")?;
                }
                if let Some(b) = refused {
                    return write!(
                        f,
                        "; restart REFUSED, {b}'s backup_label names a recycled checkpoint"
                    );
                }
                write!(f, "; end-of-recovery checkpoint {checkpoint}")?;
                if *label_renamed {
                    write!(f, ", backup_label renamed to backup_label.old")?;
                }
                Ok(())
            }
            EventKind::Restarted {
                label_renamed,
                refused,
                checkpoint,
            } => {
                if let Some(b) = refused {
                    return write!(
                        f,
                        ": REFUSED, {b}'s backup_label names a recycled checkpoint"
                    );
                }
                write!(f, ": end-of-recovery checkpoint {checkpoint}")?;
                if *label_renamed {
                    write!(f, ", backup_label renamed to backup_label.old")?;
                }
                Ok(())
            }
        }
    }
}

/// One step's outcome: who acted and what happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Who.
    pub actor: Actor,
    /// What.
    pub kind: EventKind,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.actor, self.kind)
    }
}

/// Why [`crate::Cluster::apply`] refused an action.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ApplyError {
    /// The action is not among the enabled ones.
    #[error("action not enabled in this state: {0}")]
    NotEnabled(Action),
}
