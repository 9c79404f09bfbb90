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

/// The names the server gives the SQL backup functions: PostgreSQL 15 renamed
/// `pg_start_backup`/`pg_stop_backup` to `pg_backup_start`/`pg_backup_stop` when it removed
/// exclusive backups, so a trace of an older design says what its server would run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FunctionNames {
    /// 15 and later: `pg_backup_start(label)`, `pg_backup_stop()`.
    #[default]
    Since15,
    /// 9.x to 14: `pg_start_backup(label, fast, exclusive)`, `pg_stop_backup(exclusive)`.
    Before15,
}

/// A command, action or event shown with an era's [`FunctionNames`].
#[derive(Clone, Copy, Debug)]
pub struct Named<T> {
    inner: T,
    names: FunctionNames,
}

impl Command {
    /// The command as a server of the era names it.
    pub fn named(self, names: FunctionNames) -> Named<Command> {
        Named { inner: self, names }
    }
}

impl fmt::Display for Named<Command> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let before_15 = self.names == FunctionNames::Before15;
        match self.inner {
            Command::StartBackup {
                mode: BackupMode::Exclusive,
                label,
            } => {
                write!(f, "pg_start_backup(exclusive, label={})", label.name())
            }
            Command::StartBackup { label, .. } if before_15 => {
                write!(f, "pg_start_backup(non-exclusive, label={})", label.name())
            }
            Command::StartBackup { label, .. } => {
                write!(f, "pg_backup_start(label={})", label.name())
            }
            Command::StopBackup {
                mode: BackupMode::Exclusive,
            } => write!(f, "pg_stop_backup(exclusive)"),
            Command::StopBackup { .. } if before_15 => write!(f, "pg_stop_backup(non-exclusive)"),
            Command::StopBackup { .. } => write!(f, "pg_backup_stop()"),
            Command::BaseBackup { label } => write!(f, "BASE_BACKUP(label={})", label.name()),
            Command::JitQuery => write!(f, "a JIT-compiled query"),
        }
    }
}

impl fmt::Display for Command {
    /// With 15's names (see [`Command::named`] for an era's).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.named(FunctionNames::Since15).fmt(f)
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
    /// FATAL, the process exits. In a wait (the start's checkpoint, the stop's archiving) it
    /// is the backend terminated (`pg_terminate_backend`), which the wait's interrupt check
    /// notices; a client that goes away during a wait is not noticed until the command has
    /// ended (the backend reads its socket only then), which is this fault striking the idle
    /// session afterwards. At a send, or idle, it is either.
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
    /// The standby's primary turns `full_page_writes` off (`ALTER SYSTEM` and a reload); the
    /// standby replays its `XLOG_FPW_CHANGE` record, which sets `lastFpwDisableRecPtr`.
    PrimaryFpwOff,
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

impl Action {
    /// The action with the era's function names.
    pub fn named(self, names: FunctionNames) -> Named<Action> {
        Named { inner: self, names }
    }
}

impl fmt::Display for Named<Action> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner {
            Action::Begin { session, command } => {
                write!(f, "{session} {}", command.named(self.names))
            }
            other => other.fmt(f),
        }
    }
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
            Action::PrimaryFpwOff => write!(f, "primary turns full_page_writes off"),
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
#[serde(rename_all = "kebab-case")]
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
    /// "non-exclusive backup is not in progress": 9.6-14's `pg_stop_backup(false)` in a
    /// session that runs none (15's `pg_backup_stop` says [`StepError::NotInProgress`]).
    #[error("non-exclusive backup is not in progress")]
    NonExclusiveNotInProgress,
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
    /// A standby's start, once its restartpoint is read: "WAL generated with
    /// full_page_writes=off was replayed since last restartpoint" (the primary runs with
    /// `full_page_writes=off`, so its checkpoint records say so and replaying them sets
    /// `lastFpwDisableRecPtr`): a backup taken now could hold torn pages.
    #[error("WAL generated with full_page_writes=off was replayed since last restartpoint")]
    FpwOffReplayed,
    /// A standby's stop, once the backup's counter unit is given back: "WAL generated with
    /// full_page_writes=off was replayed during online backup" (`lastFpwDisableRecPtr` at or
    /// after the backup's start point): the copy may hold torn pages, and the backup fails.
    #[error("WAL generated with full_page_writes=off was replayed during online backup")]
    FpwOffReplayedDuringBackup,
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
#[serde(tag = "event")]
pub enum EventKind {
    /// The command was refused before anything changed.
    #[serde(rename = "command.rejected")]
    CommandRejected {
        /// The command.
        command: Command,
        /// Why.
        error: StepError,
    },
    /// The command passed its checks; its first step (an I/O step) follows.
    #[serde(rename = "command.accepted")]
    CommandAccepted {
        /// The command.
        command: Command,
    },
    /// A JIT-compiled query registered its exit callback.
    #[serde(rename = "jit.register-callback")]
    JitCallbackRegistered,
    /// A WAL switch moved the insert position to the next segment (`from == to`: the segment
    /// was empty and nothing was written).
    #[serde(rename = "wal.switch")]
    WalSwitched {
        /// Insert position before.
        from: Lsn,
        /// After.
        to: Lsn,
    },
    /// Start took the exclusive state or a counter unit, and raised forcing.
    #[serde(rename = "start.increment")]
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
    #[serde(rename = "start.request-checkpoint")]
    CheckpointRequested {
        /// Checkpoints begun when asked.
        ticket: u32,
    },
    /// The wait for the requested checkpoint ended.
    #[serde(rename = "start.wait-checkpoint")]
    CheckpointWaited {
        /// Checkpoints done.
        done: u32,
    },
    /// The control file was read.
    #[serde(rename = "start.read-control-file")]
    ControlFileRead {
        /// Its checkpoint location.
        checkpoint: Lsn,
        /// Its redo point: the candidate start point.
        redo: Lsn,
    },
    /// 9.1: the start point was checked under the shared lock.
    #[serde(rename = "start.unique-check")]
    StartPointChecked {
        /// The candidate.
        start: Lsn,
        /// `lastBackupStart < start`.
        unique: bool,
    },
    /// The start point was accepted (`lastBackupStart` set).
    #[serde(rename = "start.unique-start-point")]
    StartPointAccepted {
        /// The start point.
        start: Lsn,
    },
    /// The start point was used already: request another checkpoint.
    #[serde(rename = "start.retry")]
    StartPointRetry {
        /// The candidate.
        start: Lsn,
        /// `lastBackupStart`.
        last: Lsn,
    },
    /// Start returned the start point (after writing the label file, where there is one).
    #[serde(rename = "start.done")]
    BackupStarted {
        /// The backup.
        backup: BackupId,
        /// Its start point.
        start: Lsn,
        /// Where its label went.
        label: LabelPlace,
    },
    /// The walsender sent the start position.
    #[serde(rename = "base-backup.send-start")]
    StartPointSent {
        /// The start point.
        start: Lsn,
    },
    /// The walsender sent the label and the files.
    #[serde(rename = "base-backup.copy")]
    FilesCopied {
        /// The backup.
        backup: BackupId,
        /// A label that was not its own.
        picked_up: Option<PickedUp>,
    },
    /// Exclusive stop claimed the backup (IN_PROGRESS to STOPPING).
    #[serde(rename = "stop.claim")]
    StopClaimed,
    /// Stop read and removed the label file (exclusive or temporary).
    #[serde(rename = "stop.read-label")]
    LabelFileRemoved {
        /// Whose label it was.
        backup: BackupId,
        /// The start point it gives.
        start: Lsn,
    },
    /// Stop gave back the exclusive state or a counter unit.
    #[serde(rename = "stop.decrement")]
    BackupUncounted {
        /// The counter after.
        backups: i16,
        /// The exclusive state after.
        exclusive: ExclusiveState,
        /// `forcePageWrites` after.
        forcing: bool,
    },
    /// The backup-end record was inserted.
    #[serde(rename = "stop.end-record")]
    EndRecordInserted {
        /// Where.
        at: Lsn,
        /// The start point it carries.
        start: Lsn,
    },
    /// The history file was written.
    #[serde(rename = "stop.write-history")]
    HistoryFileWritten {
        /// Its start point (its name).
        start: Lsn,
        /// It replaced an existing file.
        overwritten: bool,
    },
    /// Archiving caught up.
    #[serde(rename = "stop.wait-archive")]
    ArchiveWaited,
    /// Stop returned success.
    #[serde(rename = "stop.done")]
    BackupStopped {
        /// The backup, if the stop could tell.
        backup: Option<BackupId>,
        /// Start point.
        start: Lsn,
        /// Stop point.
        stop: Lsn,
    },
    /// The command ended with an ERROR; the armed error cleanups ran.
    #[serde(rename = "command.error")]
    CommandFailed {
        /// Why.
        error: StepError,
        /// Which cleanups ran.
        cleanups: Cleanups,
    },
    /// The session's process exited (FATAL); every armed cleanup ran.
    #[serde(rename = "session.exit")]
    SessionExited {
        /// Which cleanups ran.
        cleanups: Cleanups,
    },
    /// A checkpoint began.
    #[serde(rename = "checkpoint.begin")]
    CheckpointBegan {
        /// Its redo point.
        redo: Lsn,
        /// It was timed, not requested.
        timed: bool,
    },
    /// A checkpoint completed.
    #[serde(rename = "checkpoint.end")]
    CheckpointCompleted {
        /// Its record's location.
        checkpoint: Lsn,
        /// Its redo point.
        redo: Lsn,
    },
    /// A page change was assembled.
    #[serde(rename = "page.assemble")]
    PageAssembled {
        /// The page.
        page: PageId,
        /// With a full-page image.
        image: bool,
    },
    /// The re-check under the lock found forcing or the redo point changed: re-assembled.
    #[serde(rename = "page.reassemble")]
    PageReassembled {
        /// The page.
        page: PageId,
        /// With a full-page image now.
        image: bool,
    },
    /// A page change was inserted.
    #[serde(rename = "page.insert")]
    PageWritten {
        /// The page.
        page: PageId,
        /// The record's location.
        at: Lsn,
        /// It carried a full-page image.
        image: bool,
    },
    /// Other backends' WAL filled the segment.
    #[serde(rename = "wal.fill")]
    WalFilled {
        /// Insert position before.
        from: Lsn,
        /// After: one backup-end record's room before the segment's end.
        to: Lsn,
    },
    /// A standby replayed its primary's `XLOG_FPW_CHANGE` turning `full_page_writes` off.
    #[serde(rename = "wal.fpw-off-replayed")]
    FpwOffReplayed {
        /// The record's location (`lastFpwDisableRecPtr` from now on).
        at: Lsn,
    },
    /// A fast shutdown began.
    #[serde(rename = "shutdown.request")]
    ShutdownRequested,
    /// The shutdown checkpoint was written.
    #[serde(rename = "shutdown.checkpoint")]
    ShutdownCheckpointWritten {
        /// Its record's location (its own redo point).
        checkpoint: Lsn,
    },
    /// The server started again after a clean shutdown.
    #[serde(rename = "shutdown.restart")]
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
    #[serde(rename = "os-crash.restart")]
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
    #[serde(rename = "crash.restart")]
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
            EventKind::CheckpointWaited { .. } => "start.wait-checkpoint",
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
            EventKind::ArchiveWaited => "stop.wait-archive",
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
            EventKind::FpwOffReplayed { .. } => "wal.fpw-off-replayed",
        }
    }
}

impl EventKind {
    /// The event with the era's function names.
    pub fn named(&self, names: FunctionNames) -> Named<&EventKind> {
        Named { inner: self, names }
    }
}

impl fmt::Display for Named<&EventKind> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner {
            EventKind::CommandRejected { command, error } => {
                let name = self.inner.name();
                write!(f, "{name}: {}: {error}", command.named(self.names))
            }
            EventKind::CommandAccepted { command } => {
                let name = self.inner.name();
                write!(f, "{name}: {}", command.named(self.names))
            }
            other => other.fmt(f),
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
                    ": {backup}, counter {backups}, exclusive {}, forcing {}",
                    exclusive.name(),
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
                Some(p) => write!(f, ": {backup} carried {}", p.name()),
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
                    ": counter {backups}, exclusive {}, forcing {}",
                    exclusive.name(),
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
            EventKind::FpwOffReplayed { at } => {
                write!(f, ": XLOG_FPW_CHANGE at {at}, lastFpwDisableRecPtr {at}")
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One event of every kind (the match in `every_kind_is_listed` fails to compile when a
    /// kind is added without a sample here).
    fn one_of_each() -> Vec<EventKind> {
        let lsn = Lsn(0x0100_0028);
        let command = Command::StopBackup {
            mode: BackupMode::NonExclusive,
        };
        let cleanups = Cleanups::default();
        vec![
            EventKind::CommandRejected {
                command,
                error: StepError::BackupInProgress,
            },
            EventKind::CommandAccepted { command },
            EventKind::JitCallbackRegistered,
            EventKind::WalSwitched { from: lsn, to: lsn },
            EventKind::BackupCounted {
                backup: BackupId(0),
                backups: 1,
                exclusive: ExclusiveState::InProgress,
                forcing: true,
            },
            EventKind::CheckpointRequested { ticket: 1 },
            EventKind::CheckpointWaited { done: 1 },
            EventKind::ControlFileRead {
                checkpoint: lsn,
                redo: lsn,
            },
            EventKind::StartPointChecked {
                start: lsn,
                unique: true,
            },
            EventKind::StartPointAccepted { start: lsn },
            EventKind::StartPointRetry {
                start: lsn,
                last: lsn,
            },
            EventKind::BackupStarted {
                backup: BackupId(0),
                start: lsn,
                label: LabelPlace::Returned,
            },
            EventKind::StartPointSent { start: lsn },
            EventKind::FilesCopied {
                backup: BackupId(0),
                picked_up: Some(PickedUp::TempLabel),
            },
            EventKind::StopClaimed,
            EventKind::LabelFileRemoved {
                backup: BackupId(0),
                start: lsn,
            },
            EventKind::BackupUncounted {
                backups: 0,
                exclusive: ExclusiveState::None,
                forcing: false,
            },
            EventKind::EndRecordInserted {
                at: lsn,
                start: lsn,
            },
            EventKind::HistoryFileWritten {
                start: lsn,
                overwritten: false,
            },
            EventKind::ArchiveWaited,
            EventKind::BackupStopped {
                backup: None,
                start: lsn,
                stop: lsn,
            },
            EventKind::CommandFailed {
                error: StepError::BackupInProgress,
                cleanups,
            },
            EventKind::SessionExited { cleanups },
            EventKind::CheckpointBegan {
                redo: lsn,
                timed: true,
            },
            EventKind::CheckpointCompleted {
                checkpoint: lsn,
                redo: lsn,
            },
            EventKind::PageAssembled {
                page: 0,
                image: true,
            },
            EventKind::PageReassembled {
                page: 0,
                image: true,
            },
            EventKind::PageWritten {
                page: 0,
                at: lsn,
                image: true,
            },
            EventKind::WalFilled { from: lsn, to: lsn },
            EventKind::ShutdownRequested,
            EventKind::ShutdownCheckpointWritten { checkpoint: lsn },
            EventKind::RestartedClean {
                discarded_from: lsn,
                discarded: 0,
                label_renamed: false,
            },
            EventKind::PowerLost {
                wal_lost: 0,
                files_lost: 0,
                label_restored: false,
                label_renamed: false,
                refused: None,
                checkpoint: lsn,
            },
            EventKind::Restarted {
                label_renamed: false,
                refused: None,
                checkpoint: lsn,
            },
            EventKind::FpwOffReplayed { at: lsn },
        ]
    }

    #[test]
    fn every_kind_is_listed() {
        let samples = one_of_each();
        // Each kind's position in `one_of_each`; a new kind fails to compile here.
        let position = |kind: &EventKind| match kind {
            EventKind::CommandRejected { .. } => 0,
            EventKind::CommandAccepted { .. } => 1,
            EventKind::JitCallbackRegistered => 2,
            EventKind::WalSwitched { .. } => 3,
            EventKind::BackupCounted { .. } => 4,
            EventKind::CheckpointRequested { .. } => 5,
            EventKind::CheckpointWaited { .. } => 6,
            EventKind::ControlFileRead { .. } => 7,
            EventKind::StartPointChecked { .. } => 8,
            EventKind::StartPointAccepted { .. } => 9,
            EventKind::StartPointRetry { .. } => 10,
            EventKind::BackupStarted { .. } => 11,
            EventKind::StartPointSent { .. } => 12,
            EventKind::FilesCopied { .. } => 13,
            EventKind::StopClaimed => 14,
            EventKind::LabelFileRemoved { .. } => 15,
            EventKind::BackupUncounted { .. } => 16,
            EventKind::EndRecordInserted { .. } => 17,
            EventKind::HistoryFileWritten { .. } => 18,
            EventKind::ArchiveWaited => 19,
            EventKind::BackupStopped { .. } => 20,
            EventKind::CommandFailed { .. } => 21,
            EventKind::SessionExited { .. } => 22,
            EventKind::CheckpointBegan { .. } => 23,
            EventKind::CheckpointCompleted { .. } => 24,
            EventKind::PageAssembled { .. } => 25,
            EventKind::PageReassembled { .. } => 26,
            EventKind::PageWritten { .. } => 27,
            EventKind::WalFilled { .. } => 28,
            EventKind::ShutdownRequested => 29,
            EventKind::ShutdownCheckpointWritten { .. } => 30,
            EventKind::RestartedClean { .. } => 31,
            EventKind::PowerLost { .. } => 32,
            EventKind::Restarted { .. } => 33,
            EventKind::FpwOffReplayed { .. } => 34,
        };
        for (i, kind) in samples.iter().enumerate() {
            assert_eq!(position(kind), i, "{}", kind.name());
        }
        assert_eq!(samples.len(), 35);
    }

    #[test]
    fn json_event_names_are_the_text_trace_names() {
        for kind in one_of_each() {
            let json = serde_json::to_value(&kind).expect("an event serializes");
            assert_eq!(json["event"], kind.name(), "{json}");
            let back: EventKind = serde_json::from_value(json).expect("and reads back");
            assert_eq!(back, kind);
            assert!(
                kind.to_string().starts_with(kind.name()),
                "the text trace starts with the name: {kind}"
            );
        }
    }

    #[test]
    fn json_values_use_postgresql_and_kebab_spellings_not_rust_casing() {
        for kind in one_of_each() {
            let text = serde_json::to_string(&kind).expect("an event serializes");
            for rust in [
                "InProgress",
                "\"None\"",
                "TempLabel",
                "Returned",
                "NonExclusive",
            ] {
                assert!(!text.contains(rust), "{text} contains {rust}");
            }
        }
    }
}
