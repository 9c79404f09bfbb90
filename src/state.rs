//! The cluster state: one plain, hashable value ([`Cluster`]) made of small integers and
//! enums. It holds what PostgreSQL holds (shared memory, the checkpointer's counters, the
//! control file, the data directory's label and history files, page LSNs, each session's
//! local variables and armed cleanups) and, apart, the *ghost* facts the invariants need
//! and the protocol never reads ([`Backup`], [`Ghost`]).
//!
//! The fields are public for reading (checkers, renderers, tests). Change the state only
//! through [`Cluster::apply`](crate::Cluster::apply), which performs one atomic step.

use crate::config::Config;
use crate::label::{BackupHistory, BackupLabel, BackupMethod, LabelFacts, LabelKind, LabelTime};
use crate::lsn::{Lsn, WalSegmentSize};
use crate::symmetry::{AsTheyStand, Naming};
use crate::variant::{Rules, Variant};
use crate::walfile::HistoryFileName;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::fmt;

/// A session's index: SQL sessions first, then WAL senders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub u8);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S{}", self.0)
    }
}

/// A backup's number, in the order backups were begun (also its label's `backup-<n>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BackupId(pub u32);

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B{}", self.0)
    }
}

/// A page's index.
pub type PageId = u8;
/// A page writer's index.
pub type WriterId = u8;

/// What kind of connection a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum SessionKind {
    /// A regular backend running SQL backup functions.
    Sql,
    /// A WAL sender running `BASE_BACKUP`.
    WalSender,
    /// A `replication=database` WAL sender: it runs SQL backup functions and `BASE_BACKUP`.
    Replication,
}

/// Which kind of backup.
///
/// Written `exclusive`, `non-exclusive`, `streamed` (files of format version 2 written before
/// this spelling, `Exclusive`, `NonExclusive`, `Streamed`, are still read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum BackupMode {
    /// `pg_start_backup(label)`: the label goes to the data directory; any session may stop it.
    #[serde(alias = "Exclusive")]
    Exclusive,
    /// A non-exclusive SQL backup (9.6+): the label comes back to the caller.
    #[serde(alias = "NonExclusive")]
    NonExclusive,
    /// `BASE_BACKUP` in a WAL sender: the server copies the files and sends the label.
    #[serde(alias = "Streamed")]
    Streamed,
}

impl BackupMode {
    /// Whether the backup holds a unit of the non-exclusive counter.
    pub fn counts(self) -> bool {
        self != BackupMode::Exclusive
    }
}

/// The exclusive backup's shared state. 9.1 uses only `None` and `InProgress` (a boolean).
/// Reports spell it as PostgreSQL does ([`ExclusiveState::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum ExclusiveState {
    /// `EXCLUSIVE_BACKUP_NONE` (or the 9.1 flag cleared).
    #[serde(rename = "EXCLUSIVE_BACKUP_NONE")]
    None,
    /// `EXCLUSIVE_BACKUP_STARTING`.
    #[serde(rename = "EXCLUSIVE_BACKUP_STARTING")]
    Starting,
    /// `EXCLUSIVE_BACKUP_IN_PROGRESS` (or the 9.1 flag set).
    #[serde(rename = "EXCLUSIVE_BACKUP_IN_PROGRESS")]
    InProgress,
    /// `EXCLUSIVE_BACKUP_STOPPING`.
    #[serde(rename = "EXCLUSIVE_BACKUP_STOPPING")]
    Stopping,
}

impl ExclusiveState {
    /// PostgreSQL's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            ExclusiveState::None => "EXCLUSIVE_BACKUP_NONE",
            ExclusiveState::Starting => "EXCLUSIVE_BACKUP_STARTING",
            ExclusiveState::InProgress => "EXCLUSIVE_BACKUP_IN_PROGRESS",
            ExclusiveState::Stopping => "EXCLUSIVE_BACKUP_STOPPING",
        }
    }
}

/// A session's own record of its backup (`sessionBackupState`, 9.6+).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum SessionBackupState {
    /// `SESSION_BACKUP_NONE`.
    None,
    /// `SESSION_BACKUP_EXCLUSIVE` (9.6 to 14).
    Exclusive,
    /// `SESSION_BACKUP_NON_EXCLUSIVE` (9.6 to 14) / `SESSION_BACKUP_RUNNING` (15+).
    Running,
}

/// Shared memory (`XLogCtl->Insert` and friends). Zeroed at every restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SharedMemory {
    /// `exclusiveBackup` / `exclusiveBackupState`.
    pub exclusive: ExclusiveState,
    /// `nonExclusiveBackups` / `runningBackups`. Signed: a double decrement shows as < 0.
    pub backups: i16,
    /// `forcePageWrites` (up to 15; 16 has no such flag and it stays false, see
    /// [`Cluster::page_writes_forced`]).
    pub force_page_writes: bool,
    /// `lastBackupStart`: the newest start point handed out.
    pub last_backup_start: Lsn,
    /// `RedoRecPtr`: the redo point inserters compare page LSNs with.
    pub redo: Lsn,
    /// The WAL insert position: where the next record goes.
    pub insert: Lsn,
    /// The shared copy of the `full_page_writes` setting (on a standby, its primary's, as
    /// replayed).
    pub full_page_writes: bool,
    /// `lastFpwDisableRecPtr` (a standby): where the newest replayed `XLOG_FPW_CHANGE` that
    /// turned `full_page_writes` off begins; invalid if none.
    pub last_fpw_disable: Lsn,
    /// Sessions holding the WAL insertion lock in shared mode (9.1's start-point check).
    pub insert_lock_sharers: u8,
}

/// The checkpointer's shared state (`CheckpointerShmem`). Reset at every restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Checkpointer {
    /// A checkpoint has been requested and not yet begun (requests merge).
    pub requested: bool,
    /// Some pending request asked for an immediate checkpoint.
    pub immediate: bool,
    /// `ckpt_started`: checkpoints begun.
    pub started: u32,
    /// `ckpt_done`: checkpoints completed.
    pub done: u32,
    /// The redo point of the checkpoint in progress, if one is.
    pub in_progress: Option<Lsn>,
}

/// `pg_control`'s checkpoint fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ControlFile {
    /// `checkPoint`: the latest checkpoint record's location.
    pub checkpoint: Lsn,
    /// `checkPointCopy.redo`: its redo point.
    pub redo: Lsn,
}

/// What the WAL holds that the invariants and recovery look at.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Wal {
    /// The oldest segment not yet recycled.
    pub oldest_segment: u64,
    /// The `XLOG_BACKUP_END` records (record location, start point it carries) whose start
    /// point a backup could still collide with.
    pub end_records: SmallVec<[(Lsn, Lsn); 2]>,
    /// WAL is flushed (`XLogFlush`) up to here: an OS crash loses what follows. A WAL switch,
    /// a checkpoint and a committed change flush; a backup-end record waits for the stop's
    /// WAL switch.
    pub flushed: Lsn,
    /// Ghost: the checkpoint records written (record location, redo pointer) that the
    /// control file or a live backup still names: a backup's start point must be the redo
    /// pointer of the checkpoint its label names (I8). Kept sorted.
    pub checkpoints: SmallVec<[(Lsn, Lsn); 2]>,
}

/// The exclusive backup's `backup_label` in the data directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LabelFile {
    /// Whose label it is (also the label's `backup-<n>`).
    pub backup: BackupId,
    /// START WAL LOCATION.
    pub start: Lsn,
    /// CHECKPOINT LOCATION.
    pub checkpoint: Lsn,
    /// LABEL.
    pub label: LabelKind,
    /// Its content and its name were made durable (fsync of the file and of its directory):
    /// an OS crash keeps it.
    pub durable: bool,
}

/// A backup history file a stop wrote: in `pg_wal` until a later stop's
/// `CleanupBackupHistory` removes it, and in the archive once archived. The record is kept
/// after the removal (so that a second write of the same name is seen, and so that the
/// invariants judge what the stop wrote). It holds what the stop wrote into it (the label's
/// facts as the stopping session had them, and the stop point), from which its text is
/// rendered ([`Cluster::render_history_file`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct HistoryFile {
    /// The start point in its name (and its START WAL LOCATION).
    pub start: Lsn,
    /// STOP WAL LOCATION.
    pub stop: Lsn,
    /// CHECKPOINT LOCATION.
    pub checkpoint: Lsn,
    /// LABEL (the user's label of the backup the stop completed).
    pub label: LabelKind,
    /// BACKUP METHOD: `pg_start_backup` (an exclusive backup) or `streamed`.
    pub exclusive: bool,
    /// It survives an OS crash: written with fsync of file and directory, or archived.
    pub durable: bool,
    /// Whose history it is, where the stop could tell (9.1's exclusive stop of a backup whose
    /// start another stop already ended cannot).
    pub backup: Option<BackupId>,
    /// Times it was written while a copy of the name existed, in `pg_wal` or the archive
    /// (more than once means an overwrite).
    pub writes: u8,
    /// It is in `pg_wal`: written, and not yet removed by a stop's `CleanupBackupHistory`
    /// (which removes every history file whose archiving is done, and with `archive_mode`
    /// off every one, its own stop's included).
    pub in_pg_wal: bool,
}

/// The data directory's backup files.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DataDirectory {
    /// The exclusive backup's `backup_label`.
    pub backup_label: Option<LabelFile>,
    /// Option 2's temporary label files, by start point (their name).
    pub temp_labels: SmallVec<[LabelFile; 2]>,
    /// Backup history files, by start point (their name, on the cluster's one timeline); only
    /// those whose name a backup could still collide with (the others can never be written
    /// again, see `Cluster::start_still_reachable`), and those a failing archiver leaves in
    /// `pg_wal` for good, are kept.
    pub history: SmallVec<[HistoryFile; 2]>,
    /// A `backup_label` removed without an fsync of the data directory: an OS crash may bring
    /// it back (kept only where an OS crash can happen).
    pub unlinked_label: Option<LabelFile>,
}

/// A page-writing backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[repr(u8)]
pub enum Writer {
    /// Not writing.
    Idle,
    /// Holds `page`'s buffer lock and has assembled a record from its own copies of the redo
    /// pointer and `doPageWrites` (read without a lock, as `GetFullPageWriteInfo` does).
    Assembled {
        /// The page.
        page: PageId,
        /// Its copy of `RedoRecPtr`.
        redo: Lsn,
        /// Its copy of `doPageWrites`.
        do_page_writes: bool,
        /// The record carries a full-page image.
        image: bool,
    },
}

impl Writer {
    /// The page whose buffer lock this writer holds.
    pub fn page(self) -> Option<PageId> {
        match self {
            Writer::Idle => None,
            Writer::Assembled { page, .. } => Some(page),
        }
    }
}

/// Where a session is in its current command: the step it takes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum Pc {
    /// No command running.
    Idle,
    /// Start: WAL switch (before the increment in 9.1, after it from 9.2).
    StartSwitch,
    /// Start: take the exclusive state or a counter unit, raise forcing, arm the cleanup.
    StartIncrement,
    /// Start: request a checkpoint (requests merge).
    StartRequestCheckpoint,
    /// Start: wait until a checkpoint begun after the request has completed.
    StartWaitCheckpoint,
    /// Start: read the checkpoint location and redo from the control file.
    StartReadControl,
    /// Start: check (and, under an exclusive lock, set) `lastBackupStart`.
    StartUniqueCheck,
    /// Start, 9.1 only: set `lastBackupStart` under the shared lock, then release it.
    StartUniqueSet,
    /// Start: write the exclusive backup_label, or option 2's temporary label file.
    StartWriteLabel,
    /// BASE_BACKUP: send the start position to the client.
    SendStartPoint,
    /// BASE_BACKUP: send the label and the data directory's files.
    CopyFiles,
    /// Exclusive stop (9.6+): claim the exclusive backup (IN_PROGRESS to STOPPING).
    StopClaim,
    /// Stop: read and remove the label file (exclusive, or option 2's temporary file).
    StopReadLabel,
    /// Stop: give back the exclusive state or the counter unit, recompute forcing.
    StopDecrement,
    /// Stop: insert `XLOG_BACKUP_END` carrying the start point.
    StopEndRecord,
    /// Stop: WAL switch.
    StopSwitch,
    /// Stop: write the backup history file.
    StopWriteHistory,
    /// Stop: wait for the history file and last segment to be archived (SQL stop with
    /// archive_mode on).
    StopWaitArchive,
    /// BASE_BACKUP: send the stop position to the client after the stop.
    SendStopPoint,
}

impl Pc {
    /// How many places there are (the idle place included).
    pub const COUNT: usize = 19;

    /// The step's one name, as in traces (`start.increment`, ...): see [`crate::plan`].
    #[inline]
    pub fn name(self) -> &'static str {
        crate::plan::facts(self).name
    }

    /// True for the steps that do I/O (a file written or read, a message sent): where an
    /// ERROR can strike (from [`crate::plan`]).
    #[inline]
    pub fn does_io(self) -> bool {
        crate::plan::facts(self).io
    }

    /// True for the steps that wait (from [`crate::plan`]).
    #[inline]
    pub fn waits(self) -> bool {
        crate::plan::facts(self).waits
    }

    /// True for the steps of a start (from [`crate::plan`]).
    #[inline]
    pub fn in_start(self) -> bool {
        crate::plan::facts(self).family == crate::plan::Family::Start
    }

    /// True for the steps of a stop (from [`crate::plan`]).
    #[inline]
    pub fn in_stop(self) -> bool {
        crate::plan::facts(self).family == crate::plan::Family::Stop
    }

    /// True for the steps that can send the start back to the plan's retry step (from
    /// [`crate::plan`]).
    #[inline]
    pub fn may_retry(self) -> bool {
        crate::plan::facts(self).may_retry
    }

    /// True where a session's checkpoint ticket is read while the session stands here: the
    /// wait compares it with the completed count, and the model's case "one checkpoint serves
    /// two starts" compares the tickets of the sessions at the wait and just past it. The
    /// symmetry counts a ticket as part of the state only where a place of these lies ahead
    /// ([`Cluster::ticket_read_later`]), so whatever reads a ticket asks this.
    #[inline]
    pub fn reads_checkpoint_ticket(self) -> bool {
        matches!(self, Pc::StartWaitCheckpoint | Pc::StartReadControl)
    }
}

/// Cleanups a session has armed (`PG_ENSURE_ERROR_CLEANUP` blocks and `before_shmem_exit`
/// hooks), as bit flags.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Armed(pub u8);

impl Armed {
    /// The start's cleanup callback (`pg_start_backup_callback`): undoes the increment.
    pub const START_CALLBACK: Armed = Armed(1);
    /// The exclusive stop's callback (9.6+): STOPPING back to IN_PROGRESS.
    pub const STOP_CALLBACK: Armed = Armed(2);
    /// BASE_BACKUP's cleanup block: `do_pg_abort_backup`.
    pub const BASE_BACKUP_CLEANUP: Armed = Armed(4);
    /// Reported (in [`crate::action::Cleanups`]) when an exit hook's `do_pg_abort_backup`
    /// aborted a backup (where the server logs "aborting backup due to backend exiting
    /// before pg_backup_stop was called"); the hooks themselves are in [`Session::hooks`].
    pub const EXIT_HOOK: Armed = Armed(8);
    /// Option 2: this session created its temporary label file and its abort removes it.
    pub const TEMP_LABEL: Armed = Armed(16);

    /// Whether every flag of `other` is set.
    pub fn has(self, other: Armed) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets `other`'s flags.
    pub fn arm(&mut self, other: Armed) {
        self.0 |= other.0;
    }

    /// Clears `other`'s flags.
    pub fn disarm(&mut self, other: Armed) {
        self.0 &= !other.0;
    }
}

/// A `before_shmem_exit` callback a session registered outside a cleanup block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum Hook {
    /// `do_pg_abort_backup` (the backup's exit hook).
    AbortBackup,
    /// A callback a JIT-compiled query registered (it does nothing for backups).
    Jit,
}

/// Most hooks a session's stack holds (the configuration bounds JIT queries below this).
pub const HOOKS_MAX: usize = 4;

/// A session's `before_shmem_exit` stack: callbacks run newest first at exit, and
/// `cancel_before_shmem_exit` removes a callback only if it is the newest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Hooks {
    stack: [Option<Hook>; HOOKS_MAX],
}

impl Hooks {
    /// Registers `hook` as the newest.
    pub fn push(&mut self, hook: Hook) {
        if let Some(slot) = self.stack.iter_mut().find(|h| h.is_none()) {
            *slot = Some(hook);
        }
    }

    /// `cancel_before_shmem_exit(hook)`: removes it only if it is the newest; returns whether
    /// it did.
    pub fn cancel(&mut self, hook: Hook) -> bool {
        match self.stack.iter_mut().rev().find(|h| h.is_some()) {
            Some(top) if *top == Some(hook) => {
                *top = None;
                true
            }
            _ => false,
        }
    }

    /// Removes and returns the newest callback.
    pub fn pop(&mut self) -> Option<Hook> {
        self.stack
            .iter_mut()
            .rev()
            .find(|h| h.is_some())
            .and_then(Option::take)
    }

    /// Whether `hook` is registered.
    pub fn contains(&self, hook: Hook) -> bool {
        self.stack.contains(&Some(hook))
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.stack.iter().all(Option::is_none)
    }

    /// The stack in one word, a byte per slot (0 for an empty one), for hashing.
    #[inline]
    fn packed(self) -> u32 {
        self.stack.iter().fold(0, |word, slot| {
            (word << 8) | slot.map_or(0, |hook| u32::from(hook as u8) + 1)
        })
    }
}

/// One session: its kind, the step it takes next, and its process-local variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Session {
    /// SQL session or WAL sender.
    pub kind: SessionKind,
    /// The next step of the running command.
    pub pc: Pc,
    /// The kind of backup the running command starts or stops.
    pub mode: BackupMode,
    /// The label the running start uses.
    pub label: LabelKind,
    /// The backup this session works on or holds (ghost: the protocol keys nothing on it).
    pub backup: Option<BackupId>,
    /// `sessionBackupState` (9.6+).
    pub state: SessionBackupState,
    /// Armed cleanups.
    pub armed: Armed,
    /// Its `before_shmem_exit` callbacks outside cleanup blocks.
    pub hooks: Hooks,
    /// The checkpoint count seen when it requested a checkpoint.
    pub ticket: u32,
    /// The start point it read or accepted (the label's START WAL LOCATION).
    pub start: Lsn,
    /// The start checkpoint's location.
    pub checkpoint: Lsn,
    /// 9.1's split check: the start point was found unique under the shared lock.
    pub unique: bool,
    /// The end of its backup-end record, once inserted.
    pub stop: Lsn,
    /// Backups this session slot has begun (bounded by the configuration).
    pub starts: u32,
    /// Commands its clients have sent, refused or not (bounded by the configuration).
    pub commands: u32,
    /// Where `pc` stands in its list of the design's plan (a step may appear twice).
    pub at: u8,
}

impl Session {
    fn new(kind: SessionKind) -> Self {
        Session {
            kind,
            pc: Pc::Idle,
            mode: match kind {
                SessionKind::WalSender => BackupMode::Streamed,
                SessionKind::Sql | SessionKind::Replication => BackupMode::NonExclusive,
            },
            label: LabelKind::Plain,
            backup: None,
            state: SessionBackupState::None,
            armed: Armed::default(),
            hooks: Hooks::default(),
            ticket: 0,
            start: Lsn::INVALID,
            checkpoint: Lsn::INVALID,
            unique: false,
            stop: Lsn::INVALID,
            starts: 0,
            commands: 0,
            at: 0,
        }
    }

    /// Ends the running command: back to idle, with the locals of the finished command
    /// cleared so that equal situations are equal states. A session that holds a
    /// non-exclusive backup keeps what its stop needs (the in-memory label's facts).
    pub(crate) fn end_command(&mut self) {
        let fresh = Session::new(self.kind);
        self.pc = Pc::Idle;
        self.at = 0;
        self.ticket = 0;
        self.unique = false;
        self.stop = Lsn::INVALID;
        if self.backup.is_none() {
            self.mode = fresh.mode;
            self.label = fresh.label;
            self.start = Lsn::INVALID;
            self.checkpoint = Lsn::INVALID;
        }
    }

    /// Whether the session's process holds anything its exit would have to clean up: a
    /// backup, a session state, an armed cleanup, an exit hook.
    pub fn holds_anything(&self) -> bool {
        self.backup.is_some()
            || self.state != SessionBackupState::None
            || self.armed != Armed::default()
            || !self.hooks.is_empty()
    }

    /// The same slot after its process exits: a fresh connection with nothing armed.
    pub(crate) fn reconnected(&self) -> Self {
        Session {
            starts: self.starts,
            commands: self.commands,
            ..Session::new(self.kind)
        }
    }
}

/// Where a backup is in its life (ghost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum BackupPhase {
    /// Begun, start not yet returned.
    Starting,
    /// Start returned; files are being copied.
    Running,
    /// Its stop gave back its unit: the copy is over; end record and history follow.
    Stopping,
    /// Stop returned success to the client.
    Stopped,
    /// Start or stop failed, or the backup was aborted.
    Failed,
    /// A crash ended it.
    Lost,
}

impl BackupPhase {
    /// The phase in words, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            BackupPhase::Starting => "starting",
            BackupPhase::Running => "running",
            BackupPhase::Stopping => "stopping",
            BackupPhase::Stopped => "stopped",
            BackupPhase::Failed => "failed",
            BackupPhase::Lost => "lost",
        }
    }
}

impl BackupPhase {
    /// Still starting or copying.
    pub fn is_live(self) -> bool {
        matches!(self, BackupPhase::Starting | BackupPhase::Running)
    }
}

/// The unit a backup holds: the exclusive state or one count of the counter (ghost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum Unit {
    /// Not taken yet.
    NotYet,
    /// Held.
    Held,
    /// Given back.
    Released,
}

/// What a backup's copy carried that was not its own (ghost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum PickedUp {
    /// The exclusive backup's `backup_label`.
    ExclusiveLabel,
    /// Another backup's temporary label file (copied, or read back as its own).
    TempLabel,
}

impl PickedUp {
    /// What was carried, in words.
    pub fn name(self) -> &'static str {
        match self {
            PickedUp::ExclusiveLabel => "the exclusive backup's backup_label",
            PickedUp::TempLabel => "another backup's temporary label file",
        }
    }
}

/// Everything the invariants know about one backup (ghost: never read by a step). Only live
/// backups are kept; a finished one is checked once more and retired (see [`Latched`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Backup {
    /// Its number.
    pub id: BackupId,
    /// The session that began it.
    pub session: SessionId,
    /// Its kind.
    pub mode: BackupMode,
    /// Its label.
    pub label: LabelKind,
    /// Where it is.
    pub phase: BackupPhase,
    /// Its start point: the redo point it last read (see `accepted`).
    pub start: Lsn,
    /// The start point passed the uniqueness check.
    pub accepted: bool,
    /// Its start checkpoint's location.
    pub checkpoint: Lsn,
    /// The timeline its label names its start WAL file with.
    pub start_timeline: crate::lsn::TimeLineId,
    /// Taken on a standby (no end record, no history file, no unique start point needed).
    pub from_standby: bool,
    /// The end of its backup-end record, once written (a standby's: `minRecoveryPoint`).
    pub stop: Lsn,
    /// Its copy is over: the client called the stop, or the WAL sender sent the files.
    pub copy_over: bool,
    /// A standby's backup: the replay position when its copy was over, which its stop point
    /// (`minRecoveryPoint`, where its restore is declared consistent) must not be before.
    /// (A primary's backup needs no position: a backup-end record carrying its start point
    /// written before its copy was over is seen as it is written, `early_end_record`.)
    pub copied_to: Lsn,
    /// A backup-end record carrying its start point was written before its copy was over: a
    /// restore stops at the first such record, too early.
    pub early_end_record: bool,
    /// Its counter unit or exclusive state.
    pub unit: Unit,
    /// Some page's first change after `start` had no full-page image while this backup was
    /// starting or copying: replay from `start` cannot repair a torn copy of that page.
    pub torn: bool,
    /// Its copy or label carried another backup's label.
    pub picked_up: Option<PickedUp>,
    /// Its label was handed out (start returned).
    pub label_handed_out: bool,
    /// Ghost: the label handed out does not read back as this backup's facts (its start
    /// point and that point's WAL file, its checkpoint, its timeline, where it was taken).
    pub label_misstates: bool,
}

impl Backup {
    /// Finished: stopped, failed or lost. A finished backup is retired at the end of the step.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.phase,
            BackupPhase::Stopped | BackupPhase::Failed | BackupPhase::Lost
        )
    }

    /// Between its increment and its copy's end: page writes must be forced.
    pub fn needs_forcing(&self) -> bool {
        self.phase.is_live() && self.unit != Unit::NotYet
    }

    /// Ghost: its copy is over, with the WAL position then (kept for a standby's backup).
    pub(crate) fn end_copy_ghost(&mut self, position: Lsn) {
        if !self.copy_over {
            self.copy_over = true;
            if self.from_standby {
                self.copied_to = position;
            }
        }
    }
}

/// A precondition PostgreSQL checks with `Assert` (a crash in debug builds; release builds
/// go on, which the model then follows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum Assertion {
    /// `Assert(exclusiveBackup)` / `Assert(state == STARTING)` in the start's cleanup.
    StartCallbackExclusive,
    /// `Assert(nonExclusiveBackups > 0)` before a decrement.
    CounterPositive,
    /// `Assert(state == STOPPING)` in the exclusive stop's cleanup.
    StopCallbackStopping,
    /// 9.6–12's abort at exit assumes a non-exclusive backup (`Assert(NON_EXCLUSIVE)`).
    AbortWithoutNonExclusive,
    /// 16 dev's merged abort: `Assert(during_start XOR session running)` (B12).
    AbortDuringStartXorRunning,
    /// `pg_backup_stop` found the session RUNNING but no backup state to stop (a NULL
    /// dereference: the backend crashes, B11).
    StopWithoutBackupState,
}

impl Assertion {
    /// The assertion as PostgreSQL's source states it.
    pub fn name(self) -> &'static str {
        match self {
            Assertion::StartCallbackExclusive => {
                "Assert(exclusive backup STARTING) in the start's cleanup"
            }
            Assertion::CounterPositive => "Assert(nonExclusiveBackups > 0) before a decrement",
            Assertion::StopCallbackStopping => {
                "Assert(exclusive backup STOPPING) in the exclusive stop's cleanup"
            }
            Assertion::AbortWithoutNonExclusive => {
                "Assert(sessionBackupState == SESSION_BACKUP_NON_EXCLUSIVE) in the abort at exit"
            }
            Assertion::AbortDuringStartXorRunning => {
                "Assert(during_backup_start XOR session running) in the abort at exit"
            }
            Assertion::StopWithoutBackupState => {
                "pg_backup_stop's backup state is NULL (the backend crashes)"
            }
        }
    }
}

/// A violation found on a backup as it was retired, kept so that the invariant keeps
/// reporting it (one per property, the first). It keeps no LSN: states that differ only in
/// where a finding's backup started would otherwise be told apart for the rest of a search
/// (the trace shows the LSNs at the step where the property broke).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Latched {
    /// The property.
    pub property: crate::invariants::Property,
    /// The backup.
    pub backup: BackupId,
    /// Its session.
    pub session: SessionId,
    /// What the backup's phase was when it was retired.
    pub phase: BackupPhase,
    /// What exactly was wrong.
    pub problem: crate::invariants::Problem,
}

/// Facts kept for the invariants only.
#[derive(Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Ghost {
    /// A page's first change after the control file's redo point had no image.
    pub control_redo_torn: bool,
    /// The same for the redo point of the checkpoint in progress.
    pub in_progress_redo_torn: bool,
    /// Decrements no held unit accounts for, by session.
    pub spurious_release: Option<SessionId>,
    /// The first failed `Assert`, and the session it failed in.
    pub failed_assertion: Option<(Assertion, SessionId)>,
    /// Restart refused: the exclusive backup's label names a checkpoint whose WAL is gone.
    pub restart_refused: Option<BackupId>,
    /// Accepted start points of retired backups that a live or future backup could still
    /// collide with (see `Cluster::start_still_reachable`).
    pub retired_starts: SmallVec<[Lsn; 2]>,
    /// Counter units held by backups that were retired without giving them back.
    pub leaked_units: i16,
    /// The exclusive state was held by a backup retired without giving it back.
    pub leaked_exclusive: bool,
    /// Violations found on retired backups.
    pub latched: SmallVec<[Latched; 1]>,
}

/// How much of each configured budget has been used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Used {
    /// Crashes.
    pub crashes: u32,
    /// Faults.
    pub faults: u32,
    /// Page writes.
    pub page_writes: u32,
    /// Timed checkpoints.
    pub timed_checkpoints: u32,
    /// Outside WAL switches.
    pub wal_switches: u32,
    /// JIT queries.
    pub jit_queries: u32,
    /// Segment fills.
    pub wal_fills: u32,
    /// Fast shutdowns.
    pub shutdowns: u32,
    /// OS crashes.
    pub os_crashes: u32,
    /// The standby's primary turning `full_page_writes` off.
    pub primary_fpw_offs: u32,
}

/// Where the server is in its life (the postmaster's state, as far as backups see it).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[repr(u8)]
pub enum ServerState {
    /// Accepting commands.
    #[default]
    Running,
    /// A fast shutdown was requested: backends are being terminated; the shutdown checkpoint
    /// waits for them.
    ShuttingDown,
    /// The shutdown checkpoint is written; the server starts again once every session is gone.
    ShutDown,
}

impl ServerState {
    /// The state in words.
    pub fn name(self) -> &'static str {
        match self {
            ServerState::Running => "running",
            ServerState::ShuttingDown => "shutting down (fast)",
            ServerState::ShutDown => "shut down",
        }
    }
}

/// The whole cluster.
#[derive(PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Cluster {
    /// The design under test.
    pub variant: Variant,
    /// Bounds and settings.
    pub config: Config,
    /// Shared memory.
    pub shared: SharedMemory,
    /// The checkpointer.
    pub checkpointer: Checkpointer,
    /// `pg_control`.
    pub control: ControlFile,
    /// WAL facts.
    pub wal: Wal,
    /// The data directory's backup files.
    pub data_dir: DataDirectory,
    /// Each page's LSN.
    pub pages: SmallVec<[Lsn; 4]>,
    /// Page-writing backends.
    pub writers: SmallVec<[Writer; 2]>,
    /// Sessions.
    pub sessions: SmallVec<[Session; 4]>,
    /// Live backups, by number (ghost).
    pub backups: SmallVec<[Backup; 4]>,
    /// The number the next backup gets.
    pub next_backup: u32,
    /// Budgets used.
    pub used: Used,
    /// The server's state (fast shutdown).
    pub server: ServerState,
    /// Ghost facts.
    pub ghost: Ghost,
    /// Which session records the last step wrote: bookkeeping for incremental readers (the
    /// simulator's enabled set), not part of the state.
    #[serde(skip)]
    pub(crate) touched: Touched,
}

/// Parts of a cluster, as a set: what a step wrote ([`Touched::regions`]) and what an
/// invariant reads ([`crate::invariants::Property::reads`]). An invariant that held before a
/// step and reads none of the parts the step wrote holds after it: the simulator asks only
/// the others ([`crate::invariants::StepCheck`]). The bounds, the design and the parts no
/// invariant reads (the checkpointer, the pages, the writers, the budgets used) are in none.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Regions(u8);

/// The parts by name, as `Regions{backups, shared}`, for test messages and debugging.
impl fmt::Debug for Regions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Regions, &str); 8] = [
            (Regions::SESSIONS, "sessions"),
            (Regions::BACKUPS, "backups"),
            (Regions::SHARED, "shared"),
            (Regions::GHOST, "ghost"),
            (Regions::WAL, "wal"),
            (Regions::DATA_DIR, "data-dir"),
            (Regions::CONTROL, "control"),
            (Regions::WAL_POSITIONS, "wal-positions"),
        ];
        let names = NAMES
            .iter()
            .filter(|(part, _)| self.meets(*part))
            .map(|&(_, name)| name);
        write!(f, "Regions{{{}}}", names.collect::<Vec<_>>().join(", "))
    }
}

impl Regions {
    /// Nothing.
    pub const NONE: Regions = Regions(0);
    /// Some session record ([`Cluster::sessions`]; [`Touched::sessions`] says which).
    pub const SESSIONS: Regions = Regions(1 << 0);
    /// The live backups' ghost records ([`Cluster::backups`]).
    pub const BACKUPS: Regions = Regions(1 << 1);
    /// Shared memory ([`Cluster::shared`]) but the WAL's positions in it: the backup
    /// coordination words and the rest ([`Regions::WAL_POSITIONS`] has the two positions).
    pub const SHARED: Regions = Regions(1 << 2);
    /// The ghost facts ([`Cluster::ghost`]).
    pub const GHOST: Regions = Regions(1 << 3);
    /// The WAL facts ([`Cluster::wal`]).
    pub const WAL: Regions = Regions(1 << 4);
    /// The data directory's backup files ([`Cluster::data_dir`]).
    pub const DATA_DIR: Regions = Regions(1 << 5);
    /// `pg_control` and the server's state ([`Cluster::control`], [`Cluster::server`]).
    pub const CONTROL: Regions = Regions(1 << 6);
    /// The WAL's positions in shared memory: the insert position and the redo pointer
    /// ([`SharedMemory::insert`], [`SharedMemory::redo`]). Apart from [`Regions::SHARED`]
    /// because every WAL record moves the insert position, while few invariants read it.
    pub const WAL_POSITIONS: Regions = Regions(1 << 7);
    /// Every part.
    pub const ALL: Regions = Regions(0xff);

    /// Both sets together.
    #[inline]
    pub const fn union(self, other: Regions) -> Regions {
        Regions(self.0 | other.0)
    }

    /// Whether the two sets share a part.
    #[inline]
    pub const fn meets(self, other: Regions) -> bool {
        self.0 & other.0 != 0
    }

    /// The set as a number (a table index).
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The set a number stands for.
    #[inline]
    pub const fn from_bits(bits: u8) -> Regions {
        Regions(bits)
    }
}

/// What the last step wrote (which session records, which live backup records, which other
/// parts of the cluster: [`Regions`]), and how many steps the cluster has taken: kept beside
/// the state for readers that keep something from one step to the next (the simulator's
/// [`crate::enabled::EnabledSet`] per session, its invariant check
/// [`crate::invariants::StepCheck`] per part, session and backup record), so that they look
/// again only at what a step wrote. It is not part of the state: every two values compare
/// equal and it is neither hashed nor written out, so two clusters are equal, ordered and
/// fingerprinted by their state alone. Every write of a session record in the steps goes through
/// `Cluster::session_mut` or marks every session; a backup record is written through
/// `Cluster::update_backup` or `Cluster::update_backups`, added through `Cluster::push_backup`,
/// or marked by its index where a loop writes it, and `Cluster::backups_mut` marks every record; every write of the ghost,
/// the WAL facts and the data directory goes through their `_mut` accessors (or marks its
/// part); shared memory, `pg_control` and the server's state, a few words, are compared
/// before and after each step instead of marked at their many writes. A test walks every
/// design and bug and holds every step to it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Touched {
    /// Steps applied to this cluster (also counting refused ones), modulo 2^32 (kept small
    /// so that the state a search copies stays a word shorter; a reader that finds the count
    /// not one past its own only looks at everything again).
    steps: u32,
    /// Bit `i`: session `i`'s record was written by the last step (every bit: possibly any).
    sessions: u64,
    /// Bit `i`: the live backup record at index `i` of [`Cluster::backups`] was written or
    /// added by the last step (every bit: possibly any, or the list was reordered or
    /// shortened). Records from the 17th on are not told apart: each counts as written.
    backups: u16,
    /// The other parts the last step wrote ([`Regions`], without [`Regions::SESSIONS`]; with
    /// [`Regions::BACKUPS`] exactly when some backup bit is set).
    regions: Regions,
}

impl Touched {
    /// Every session possibly written.
    const ALL: u64 = u64::MAX;
    /// Every backup record possibly written.
    const ALL_BACKUPS: u16 = u16::MAX;

    /// Steps applied to the cluster since it was created, modulo 2^32.
    pub fn steps(self) -> u64 {
        u64::from(self.steps)
    }

    /// Whether the last step may have written session `index`'s record.
    #[inline]
    pub fn session(self, index: usize) -> bool {
        index >= 64 || self.sessions & (1 << index) != 0
    }

    /// The sessions the last step may have written, as a bit mask (session `i` at bit `i`;
    /// [`crate::config::SESSIONS_MAX`] is 64).
    #[inline]
    pub fn sessions(self) -> u64 {
        self.sessions
    }

    /// The live backup records the last step may have written or added, as a bit mask (the
    /// record at index `i` of [`Cluster::backups`] at bit `i`; every bit where the list may
    /// have been reordered or shortened, and the records from the 17th on count as written
    /// whenever any is).
    #[inline]
    pub fn backups(self) -> u16 {
        self.backups
    }

    /// The parts of the cluster the last step may have written ([`Regions::SESSIONS`] if it
    /// wrote any session record).
    #[inline]
    pub fn regions(self) -> Regions {
        if self.sessions != 0 {
            self.regions.union(Regions::SESSIONS)
        } else {
            self.regions
        }
    }

    /// The parts the last step wrote ([`Touched::regions`]) where the cluster is exactly one
    /// step past `seen` (a [`Touched::steps`] count read earlier); `None` otherwise, where
    /// anything may have changed since. Readers that skip what a step cannot have changed
    /// ([`crate::invariants::StepCheck`], the simulator's coverage cases) ask this.
    #[inline]
    pub fn written_one_step_after(self, seen: Option<u64>) -> Option<Regions> {
        match seen {
            Some(steps) if steps + 1 == self.steps() => Some(self.regions()),
            _ => None,
        }
    }

    /// A step begins: nothing written yet.
    #[inline]
    pub(crate) fn begin_step(&mut self) {
        self.steps = self.steps.wrapping_add(1);
        self.sessions = 0;
        self.backups = 0;
        self.regions = Regions::NONE;
    }

    /// Session `index`'s record is written.
    #[inline]
    pub(crate) fn write(&mut self, index: usize) {
        self.sessions |= if index < 64 { 1 << index } else { Self::ALL };
    }

    /// The live backup record at index `index` of [`Cluster::backups`] is written, or added
    /// there.
    #[inline]
    pub(crate) fn write_backup(&mut self, index: usize) {
        self.backups |= if index < 16 {
            1 << index
        } else {
            Self::ALL_BACKUPS
        };
        self.regions = self.regions.union(Regions::BACKUPS);
    }

    /// `regions` are written ([`Regions::BACKUPS`]: every backup record, or the list itself).
    #[inline]
    pub(crate) fn write_regions(&mut self, regions: Regions) {
        if regions.meets(Regions::BACKUPS) {
            self.backups = Self::ALL_BACKUPS;
        }
        self.regions = self.regions.union(regions);
    }

    /// Every session's record, and every other part, may be written.
    #[inline]
    pub(crate) fn write_all(&mut self) {
        self.sessions = Self::ALL;
        self.backups = Self::ALL_BACKUPS;
        self.regions = Regions::ALL;
    }
}

/// Not part of the state: always equal (see [`Touched`]).
impl PartialEq for Touched {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Touched {}

impl PartialOrd for Touched {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Not part of the state: always equal (see [`Touched`]).
impl Ord for Touched {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// A copy of a list of plain values in one block move (`SmallVec`'s own `clone` copies element
/// by element; copying states is a large part of the model's search). Most of a state's lists
/// are empty at most states: those are made without a call to copy nothing.
#[inline(always)]
fn copied<A: smallvec::Array>(list: &SmallVec<A>) -> SmallVec<A>
where
    A::Item: Copy,
{
    if list.is_empty() {
        SmallVec::new()
    } else {
        SmallVec::from_slice(list)
    }
}

impl Clone for Wal {
    fn clone(&self) -> Self {
        let Wal {
            oldest_segment,
            end_records,
            flushed,
            checkpoints,
        } = self;
        Wal {
            oldest_segment: *oldest_segment,
            end_records: copied(end_records),
            flushed: *flushed,
            checkpoints: copied(checkpoints),
        }
    }
}

impl Clone for DataDirectory {
    fn clone(&self) -> Self {
        let DataDirectory {
            backup_label,
            temp_labels,
            history,
            unlinked_label,
        } = self;
        DataDirectory {
            backup_label: *backup_label,
            temp_labels: copied(temp_labels),
            history: copied(history),
            unlinked_label: *unlinked_label,
        }
    }
}

impl Clone for Ghost {
    #[inline]
    fn clone(&self) -> Self {
        let Ghost {
            control_redo_torn,
            in_progress_redo_torn,
            spurious_release,
            failed_assertion,
            restart_refused,
            retired_starts,
            leaked_units,
            leaked_exclusive,
            latched,
        } = self;
        Ghost {
            control_redo_torn: *control_redo_torn,
            in_progress_redo_torn: *in_progress_redo_torn,
            spurious_release: *spurious_release,
            failed_assertion: *failed_assertion,
            restart_refused: *restart_refused,
            retired_starts: copied(retired_starts),
            leaked_units: *leaked_units,
            leaked_exclusive: *leaked_exclusive,
            latched: copied(latched),
        }
    }
}

impl Clone for Cluster {
    fn clone(&self) -> Self {
        let Cluster {
            variant,
            config,
            shared,
            checkpointer,
            control,
            wal,
            data_dir,
            pages,
            writers,
            sessions,
            backups,
            next_backup,
            used,
            server,
            ghost,
            touched,
        } = self;
        Cluster {
            variant: *variant,
            config: *config,
            shared: *shared,
            checkpointer: *checkpointer,
            control: *control,
            wal: wal.clone(),
            data_dir: data_dir.clone(),
            pages: copied(pages),
            writers: copied(writers),
            sessions: copied(sessions),
            backups: copied(backups),
            next_backup: *next_backup,
            used: *used,
            server: *server,
            ghost: ghost.clone(),
            touched: *touched,
        }
    }
}

/// `{:#?}` is the state in words ([`crate::trace::render_state`]: what the Explorer shows);
/// `{:?}` lists every field.
impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f.write_str(&crate::trace::render_state(self));
        }
        let Cluster {
            variant,
            config,
            shared,
            checkpointer,
            control,
            wal,
            data_dir,
            pages,
            writers,
            sessions,
            backups,
            next_backup,
            used,
            server,
            ghost,
            touched: _,
        } = self;
        f.debug_struct("Cluster")
            .field("variant", variant)
            .field("config", config)
            .field("shared", shared)
            .field("checkpointer", checkpointer)
            .field("control", control)
            .field("wal", wal)
            .field("data_dir", data_dir)
            .field("pages", pages)
            .field("writers", writers)
            .field("sessions", sessions)
            .field("backups", backups)
            .field("next_backup", next_backup)
            .field("used", used)
            .field("server", server)
            .field("ghost", ghost)
            .finish()
    }
}

/// Hashes everything but the design and the bounds, which are the same for every state of a
/// run (states that are equal hash equally, as `Eq` compares a superset of what is hashed).
impl std::hash::Hash for Cluster {
    /// The fields' bytes are gathered in a buffer and handed to `state` a few hundred at a
    /// time: a checker's hasher then runs over a few long writes instead of about ninety
    /// small ones (per-field hashing was a quarter of the model's search).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.hash_renamed(&AsTheyStand, state);
    }
}

impl Cluster {
    /// Hashes the state as `renaming` names it: as it stands ([`AsTheyStand`], the `Hash`
    /// impl), or as its symmetry representative ([`Cluster::hash_canonical`]), writing exactly
    /// what hashing the renamed copy would.
    pub(crate) fn hash_renamed<H: std::hash::Hasher>(&self, renaming: &impl Naming, state: &mut H) {
        let mut sink = ByteSink {
            buffer: [0; SINK_BYTES],
            len: 0,
            inner: state,
        };
        self.hash_fields(renaming, &mut sink);
        sink.flush();
    }

    /// Every hashed field in order; names (the sessions' order and numbers, the backups'
    /// numbers and their order, the next number) as `renaming` gives them. Lists are written
    /// as their length, then their elements, as the derived `Hash` of a slice writes them.
    fn hash_fields<H: std::hash::Hasher>(&self, renaming: &impl Naming, state: &mut H) {
        use std::hash::Hash;
        let Cluster {
            variant: _,
            config: _,
            shared,
            checkpointer,
            control,
            wal,
            data_dir,
            pages,
            writers,
            sessions,
            backups,
            next_backup,
            used,
            server,
            ghost,
            touched: _,
        } = self;
        shared.hash(state);
        let (started, done) = renaming.checkpoint_counts(checkpointer.started, checkpointer.done);
        Checkpointer {
            started,
            done,
            ..*checkpointer
        }
        .hash(state);
        control.hash(state);
        wal.hash(state);
        data_dir.hash_renamed(renaming, state);
        pages.hash(state);
        writers.hash(state);
        state.write_usize(sessions.len());
        for position in 0..sessions.len() {
            let old = renaming.session_at(position);
            let session = sessions[old];
            let backup = session.backup.map(|b| renaming.backup(b));
            let ticket = renaming.ticket(old, session.ticket);
            write_words(
                state,
                Session {
                    backup,
                    ticket,
                    ..session
                }
                .words(),
            );
        }
        state.write_usize(backups.len());
        for position in 0..backups.len() {
            let backup = backups[renaming.backup_at(position)];
            let renamed = Backup {
                id: renaming.backup(backup.id),
                session: renaming.session(backup.session),
                ..backup
            };
            write_words(state, renamed.words());
        }
        let next_backup = renaming.next_backup(*next_backup);
        state.write_u64(u64::from(next_backup) << 8 | u64::from(*server as u8));
        used.hash(state);
        ghost.hash_renamed(renaming, state);
    }
}

/// Writes `words` as one run of bytes, each word little-endian: the bytes `write_u64` would
/// write word by word on this machine, handed over in one `write` (one capacity check in the
/// model's byte sink instead of one per word).
#[inline(always)]
fn write_words<H: std::hash::Hasher, const N: usize>(state: &mut H, words: [u64; N]) {
    let mut bytes = [[0u8; 8]; N];
    for (slot, word) in bytes.iter_mut().zip(words) {
        *slot = word.to_le_bytes();
    }
    state.write(bytes.as_flattened());
}

/// A backup number that may be absent, losslessly in one word (bit 32 says it is present).
#[inline]
fn packed_backup(backup: Option<BackupId>) -> u64 {
    backup.map_or(0, |b| (1 << 32) | u64::from(b.0))
}

// Sessions and backups are hashed as a few packed words, every field at its full width (so
// distinct records give distinct words): the derived impls wrote about thirty small pieces each
// (an enum's tag as eight bytes, an `Option`'s tag apart from its value), and hashing sessions
// and backups was a sixth of the model's search. The destructuring lists every field, so a new
// field that is not hashed does not compile.
impl std::hash::Hash for Session {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        write_words(state, self.words());
    }
}

impl Session {
    /// The session in seven words, every field at its full width: equal words exactly when
    /// the sessions are equal (what it is hashed as, and the symmetry's key of it).
    #[inline]
    pub(crate) fn words(&self) -> [u64; 7] {
        let Session {
            kind,
            pc,
            mode,
            label,
            backup,
            state: backup_state,
            armed,
            hooks,
            ticket,
            start,
            checkpoint,
            unique,
            stop,
            starts,
            commands,
            at,
        } = *self;
        [
            u64::from_le_bytes([
                kind as u8,
                pc as u8,
                mode as u8,
                label as u8,
                backup_state as u8,
                armed.0,
                u8::from(unique),
                at,
            ]),
            (u64::from(hooks.packed()) << 32) | u64::from(ticket),
            packed_backup(backup),
            start.0,
            checkpoint.0,
            stop.0,
            (u64::from(starts) << 32) | u64::from(commands),
        ]
    }
}

impl std::hash::Hash for Backup {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        write_words(state, self.words());
    }
}

impl Backup {
    /// The backup in six words, every field at its full width: equal words exactly when the
    /// backups are equal (what it is hashed as, and the symmetry's key of it).
    #[inline]
    pub(crate) fn words(&self) -> [u64; 6] {
        let Backup {
            id,
            session,
            mode,
            label,
            phase,
            start,
            accepted,
            checkpoint,
            start_timeline,
            from_standby,
            stop,
            copy_over,
            copied_to,
            early_end_record,
            unit,
            torn,
            picked_up,
            label_handed_out,
            label_misstates,
        } = *self;
        let flags = bits([
            accepted,
            from_standby,
            copy_over,
            early_end_record,
            torn,
            label_handed_out,
            label_misstates,
        ]) as u8;
        [
            (u64::from(id.0) << 32)
                | u64::from(u32::from_le_bytes([
                    session.0,
                    mode as u8,
                    label as u8,
                    phase as u8,
                ])),
            (u64::from(start_timeline.0) << 32)
                | u64::from(u32::from_le_bytes([
                    unit as u8,
                    picked_up.map_or(0, |p| p as u8 + 1),
                    flags,
                    0,
                ])),
            start.0,
            checkpoint.0,
            stop.0,
            copied_to.0,
        ]
    }
}

/// Bools as bits, the first at bit 0.
#[inline(always)]
fn bits<const N: usize>(flags: [bool; N]) -> u64 {
    flags
        .iter()
        .enumerate()
        .fold(0, |word, (i, &flag)| word | u64::from(flag) << i)
}

// The other records of the state are hashed the same way: a few packed words each, every field
// at its full width and every `Option` with a presence bit, so that distinct records give
// distinct words; lists as their length, then their elements.
impl std::hash::Hash for SharedMemory {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let SharedMemory {
            exclusive,
            backups,
            force_page_writes,
            last_backup_start,
            redo,
            insert,
            full_page_writes,
            last_fpw_disable,
            insert_lock_sharers,
        } = *self;
        let [low, high] = backups.to_le_bytes();
        write_words(
            state,
            [
                u64::from_le_bytes([
                    exclusive as u8,
                    u8::from(force_page_writes),
                    u8::from(full_page_writes),
                    insert_lock_sharers,
                    low,
                    high,
                    0,
                    0,
                ]),
                last_backup_start.0,
                redo.0,
                insert.0,
                last_fpw_disable.0,
            ],
        );
    }
}

impl std::hash::Hash for Checkpointer {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let Checkpointer {
            requested,
            immediate,
            started,
            done,
            in_progress,
        } = *self;
        write_words(
            state,
            [
                bits([requested, immediate, in_progress.is_some()]),
                u64::from(started) << 32 | u64::from(done),
                in_progress.map_or(0, |redo| redo.0),
            ],
        );
    }
}

impl std::hash::Hash for ControlFile {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let ControlFile { checkpoint, redo } = *self;
        write_words(state, [checkpoint.0, redo.0]);
    }
}

impl std::hash::Hash for Wal {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let Wal {
            oldest_segment,
            end_records,
            flushed,
            checkpoints,
        } = self;
        write_words(state, [*oldest_segment, flushed.0]);
        for pairs in [end_records, checkpoints] {
            state.write_usize(pairs.len());
            pairs
                .iter()
                .for_each(|&(first, second)| write_words(state, [first.0, second.0]));
        }
    }
}

/// A `backup_label` file that may be absent, in three words (bit 48 says it is present), its
/// backup named as `renaming` names it.
#[inline(always)]
fn label_file_words(file: Option<&LabelFile>, renaming: &impl Naming) -> [u64; 3] {
    match file {
        None => [0; 3],
        Some(&LabelFile {
            backup,
            start,
            checkpoint,
            label,
            durable,
        }) => [
            1 << 48
                | u64::from(durable) << 40
                | u64::from(label as u8) << 32
                | u64::from(renaming.backup(backup).0),
            start.0,
            checkpoint.0,
        ],
    }
}

impl std::hash::Hash for LabelFile {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        write_words(state, label_file_words(Some(self), &AsTheyStand));
    }
}

impl std::hash::Hash for HistoryFile {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        write_words(state, self.words(&AsTheyStand));
    }
}

impl HistoryFile {
    /// The file in four words, its backup named as `renaming` names it.
    #[inline]
    fn words(&self, renaming: &impl Naming) -> [u64; 4] {
        let HistoryFile {
            start,
            stop,
            checkpoint,
            label,
            exclusive,
            durable,
            backup,
            writes,
            in_pg_wal,
        } = *self;
        [
            start.0,
            stop.0,
            checkpoint.0,
            bits([exclusive, durable, in_pg_wal]) << 56
                | u64::from(writes) << 48
                | u64::from(label as u8) << 40
                | packed_backup(backup.map(|b| renaming.backup(b))),
        ]
    }
}

impl std::hash::Hash for DataDirectory {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.hash_renamed(&AsTheyStand, state);
    }
}

impl DataDirectory {
    /// Hashes the files, the backups they belong to named as `renaming` names them.
    #[inline]
    fn hash_renamed<H: std::hash::Hasher>(&self, renaming: &impl Naming, state: &mut H) {
        let DataDirectory {
            backup_label,
            temp_labels,
            history,
            unlinked_label,
        } = self;
        let [a, b, c] = label_file_words(backup_label.as_ref(), renaming);
        let [d, e, f] = label_file_words(unlinked_label.as_ref(), renaming);
        write_words(state, [a, b, c, d, e, f]);
        state.write_usize(temp_labels.len());
        for file in temp_labels {
            write_words(state, label_file_words(Some(file), renaming));
        }
        state.write_usize(history.len());
        for file in history {
            write_words(state, file.words(renaming));
        }
    }
}

impl std::hash::Hash for Writer {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match *self {
            Writer::Idle => write_words(state, [0, 0]),
            Writer::Assembled {
                page,
                redo,
                do_page_writes,
                image,
            } => write_words(
                state,
                [
                    1 | bits([do_page_writes, image]) << 8 | u64::from(page) << 16,
                    redo.0,
                ],
            ),
        }
    }
}

impl std::hash::Hash for Used {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let Used {
            crashes,
            faults,
            page_writes,
            timed_checkpoints,
            wal_switches,
            jit_queries,
            wal_fills,
            shutdowns,
            os_crashes,
            primary_fpw_offs,
        } = *self;
        let pair = |a: u32, b: u32| u64::from(a) << 32 | u64::from(b);
        write_words(
            state,
            [
                pair(crashes, faults),
                pair(page_writes, timed_checkpoints),
                pair(wal_switches, jit_queries),
                pair(wal_fills, shutdowns),
                pair(os_crashes, primary_fpw_offs),
            ],
        );
    }
}

impl std::hash::Hash for Latched {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.word());
    }
}

impl Latched {
    /// The finding in one word.
    #[inline]
    fn word(&self) -> u64 {
        let Latched {
            property,
            backup,
            session,
            phase,
            problem,
        } = *self;
        u64::from(u32::from_le_bytes([
            property as u8,
            session.0,
            phase as u8,
            problem as u8,
        ])) << 32
            | u64::from(backup.0)
    }
}

impl std::hash::Hash for Ghost {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.hash_renamed(&AsTheyStand, state);
    }
}

impl Ghost {
    /// Hashes the ghost facts, the sessions and backups they name named as `renaming` names
    /// them (latched findings in the order it gives).
    #[inline]
    fn hash_renamed<H: std::hash::Hasher>(&self, renaming: &impl Naming, state: &mut H) {
        let Ghost {
            control_redo_torn,
            in_progress_redo_torn,
            spurious_release,
            failed_assertion,
            restart_refused,
            retired_starts,
            leaked_units,
            leaked_exclusive,
            latched,
        } = self;
        let [low, high] = leaked_units.to_le_bytes();
        let flags = bits([
            *control_redo_torn,
            *in_progress_redo_torn,
            *leaked_exclusive,
            spurious_release.is_some(),
            failed_assertion.is_some(),
        ]) as u8;
        write_words(
            state,
            [
                u64::from_le_bytes([
                    flags,
                    spurious_release.map_or(0, |s| renaming.session(s).0),
                    failed_assertion.map_or(0, |(a, _)| a as u8),
                    failed_assertion.map_or(0, |(_, s)| renaming.session(s).0),
                    low,
                    high,
                    0,
                    0,
                ]),
                packed_backup(restart_refused.map(|b| renaming.backup(b))),
            ],
        );
        std::hash::Hash::hash(retired_starts, state);
        state.write_usize(latched.len());
        for position in 0..latched.len() {
            state.write_u64(renaming.latched_at(position, latched).word());
        }
    }
}

const SINK_BYTES: usize = 256;

/// A `Hasher` that gathers the bytes written to it and passes them on to `inner` in long
/// writes (the same bytes in the same chunks for equal states: the derived `Hash` impls write
/// lengths before contents, so equal byte strings come only from equal states).
struct ByteSink<'a, H> {
    buffer: [u8; SINK_BYTES],
    len: usize,
    inner: &'a mut H,
}

impl<H: std::hash::Hasher> ByteSink<'_, H> {
    fn flush(&mut self) {
        if self.len > 0 {
            self.inner.write(&self.buffer[..self.len]);
            self.len = 0;
        }
    }

    #[inline(always)]
    fn put<const N: usize>(&mut self, bytes: [u8; N]) {
        if self.len + N > SINK_BYTES {
            self.flush();
        }
        if let Some(slot) = self.buffer.get_mut(self.len..self.len + N) {
            slot.copy_from_slice(&bytes);
            self.len += N;
        }
    }
}

impl<H: std::hash::Hasher> std::hash::Hasher for ByteSink<'_, H> {
    fn finish(&self) -> u64 {
        // Never asked: `Cluster::hash` only writes through the sink.
        self.inner.finish()
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > SINK_BYTES {
            self.flush();
            if bytes.len() > SINK_BYTES {
                self.inner.write(bytes);
                return;
            }
        }
        self.buffer[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.put(i.to_le_bytes());
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.put(i.to_le_bytes());
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.put(i.to_le_bytes());
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.put(i.to_le_bytes());
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.put(i.to_le_bytes());
    }
    #[inline]
    fn write_isize(&mut self, i: isize) {
        self.put(i.to_le_bytes());
    }
}

/// Where initdb leaves the WAL: a shutdown checkpoint at the start of segment 1.
pub const INITIAL_CHECKPOINT: Lsn = Lsn(0x0100_0028);

impl Cluster {
    /// A freshly started cluster: one checkpoint done, no backup, no session busy.
    pub fn new(variant: Variant, config: Config) -> Result<Self, crate::config::ConfigError> {
        config.validate()?;
        let seg = config.wal_segment_size;
        let (_, insert) = crate::lsn::insert_record(
            seg,
            INITIAL_CHECKPOINT,
            crate::lsn::record_bytes::CHECKPOINT,
        );
        let mut sessions = Vec::with_capacity(config.sessions());
        sessions.extend((0..config.sql_sessions).map(|_| Session::new(SessionKind::Sql)));
        sessions.extend((0..config.walsenders).map(|_| Session::new(SessionKind::WalSender)));
        sessions.extend(
            (0..config.replication_sessions).map(|_| Session::new(SessionKind::Replication)),
        );
        Ok(Cluster {
            variant,
            config,
            shared: SharedMemory {
                exclusive: ExclusiveState::None,
                backups: 0,
                force_page_writes: false,
                last_backup_start: Lsn::INVALID,
                redo: INITIAL_CHECKPOINT,
                insert,
                full_page_writes: config.full_page_writes,
                last_fpw_disable: Lsn::INVALID,
                insert_lock_sharers: 0,
            },
            checkpointer: Checkpointer {
                requested: false,
                immediate: false,
                started: 0,
                done: 0,
                in_progress: None,
            },
            control: ControlFile {
                checkpoint: INITIAL_CHECKPOINT,
                redo: INITIAL_CHECKPOINT,
            },
            wal: Wal {
                oldest_segment: seg.segment_of(INITIAL_CHECKPOINT),
                end_records: SmallVec::new(),
                flushed: insert,
                checkpoints: smallvec::smallvec![(INITIAL_CHECKPOINT, INITIAL_CHECKPOINT)],
            },
            data_dir: DataDirectory {
                backup_label: None,
                temp_labels: SmallVec::new(),
                history: SmallVec::new(),
                unlinked_label: None,
            },
            pages: smallvec::smallvec![INITIAL_CHECKPOINT; usize::from(config.pages)],
            writers: smallvec::smallvec![Writer::Idle; usize::from(config.writers)],
            sessions: sessions.into(),
            backups: SmallVec::new(),
            next_backup: 0,
            used: Used::default(),
            server: ServerState::Running,
            ghost: Ghost::default(),
            touched: Touched {
                steps: 0,
                sessions: Touched::ALL,
                backups: Touched::ALL_BACKUPS,
                regions: Regions::ALL,
            },
        })
    }

    /// Whether the design forces full-page writes for backups now: the `forcePageWrites`
    /// flag up to 15, `runningBackups > 0` from 16 ([`crate::variant::Forcing`]).
    #[inline]
    pub fn page_writes_forced(&self) -> bool {
        match self.rules().forcing {
            crate::variant::Forcing::Flag => self.shared.force_page_writes,
            crate::variant::Forcing::Counter => self.shared.backups > 0,
        }
    }

    /// Whether an inserter must take full-page images now (`doPageWrites`):
    /// `full_page_writes` or forced for backups.
    #[inline]
    pub fn do_page_writes(&self) -> bool {
        self.shared.full_page_writes || self.page_writes_forced()
    }

    /// The rules of the design under test.
    #[inline]
    pub fn rules(&self) -> &'static Rules {
        self.variant.rules_ref()
    }

    /// Which session records the last step wrote, and the steps taken ([`Touched`]).
    #[inline]
    pub fn touched(&self) -> Touched {
        self.touched
    }

    /// The WAL segment size.
    pub fn seg(&self) -> WalSegmentSize {
        self.config.wal_segment_size
    }

    /// A live backup's ghost record.
    pub fn backup(&self, id: BackupId) -> Option<&Backup> {
        self.backups.iter().find(|b| b.id == id)
    }

    /// The backup label text a backup's label file, temporary file or tar member holds.
    /// `clock` is the logical time to print as START TIME.
    pub fn render_label(&self, id: BackupId, clock: u32) -> Option<BackupLabel> {
        let backup = self.backup(id)?;
        let rules = self.rules();
        let method = match backup.mode {
            BackupMode::Exclusive => BackupMethod::PgStartBackup,
            _ => BackupMethod::Streamed,
        };
        let facts = LabelFacts {
            start: backup.start,
            timeline: backup.start_timeline,
            checkpoint: backup.checkpoint,
            method,
            from_standby: backup.from_standby,
            start_time: LabelTime::logical(clock),
            label: backup.label.text(id.0),
        };
        Some(BackupLabel::for_backup(
            rules.label_format,
            facts,
            self.seg(),
        ))
    }

    /// The text of a history file, from what its stop wrote into it: the label's lines as the
    /// stopping session had them, the stop point, and the stop file named by the design's
    /// rule. `start_clock` and `stop_clock` are the logical START TIME and STOP TIME.
    pub fn render_history_file(
        &self,
        file: &HistoryFile,
        start_clock: u32,
        stop_clock: u32,
    ) -> BackupHistory {
        let rules = self.rules();
        let seg = self.seg();
        let facts = LabelFacts {
            start: file.start,
            timeline: self.config.timeline,
            checkpoint: file.checkpoint,
            method: if file.exclusive {
                BackupMethod::PgStartBackup
            } else {
                BackupMethod::Streamed
            },
            from_standby: false,
            start_time: LabelTime::logical(start_clock),
            label: file.label.text(file.backup.map_or(0, |b| b.0)),
        };
        let label = BackupLabel::for_backup(rules.label_format, facts, seg);
        self.history_of(label, file.stop, stop_clock)
    }

    /// The history file the design's stop writes for a backup whose label is `label` and
    /// whose stop point is `stop`: the label's lines, the stop point, and the stop file named
    /// by the design's rule (`XLByteToPrevSeg` up to 15, `XLByteToSeg` in 16+).
    pub fn history_of(&self, label: BackupLabel, stop: Lsn, stop_clock: u32) -> BackupHistory {
        let rules = self.rules();
        let seg = self.seg();
        let history = BackupHistory::for_backup(
            rules.label_format,
            label,
            stop,
            self.config.timeline,
            LabelTime::logical(stop_clock),
            seg,
        );
        match rules.stop_file {
            crate::variant::StopFile::HoldsLastByte => history,
            crate::variant::StopFile::HoldsEnd => history.with_stop_file_holding_end(seg),
        }
    }

    /// The history file named after start point `start`, if one is kept.
    pub fn history_file(&self, start: Lsn) -> Option<&HistoryFile> {
        self.data_dir.history.iter().find(|h| h.start == start)
    }

    /// The name of the history file for start point `start`.
    pub fn history_file_name(&self, start: Lsn) -> HistoryFileName {
        HistoryFileName::new(self.config.timeline, start, self.seg())
    }

    /// The name of option 2's temporary label file for start point `start`.
    pub fn temp_label_name(&self, start: Lsn) -> String {
        let name = self.history_file_name(start);
        format!(
            "pgsql_tmp.backup_label.{}.{:08X}",
            name.segment, name.offset
        )
    }
}

#[cfg(test)]
mod packed_hash_tests {
    use super::*;
    use std::hash::{Hash, Hasher};

    /// Keeps every byte a `Hash` impl writes, so tests can compare what two values feed a
    /// checker's hasher.
    #[derive(Default)]
    struct Written(Vec<u8>);

    impl Hasher for Written {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
    }

    fn written<T: Hash>(value: &T) -> Vec<u8> {
        let mut w = Written::default();
        value.hash(&mut w);
        w.0
    }

    /// Every value in the list, each pair of them different in exactly one field (set to its top bit only,
    /// which a narrowed field would lose), must write different bytes: a packing that drops a field or cuts its width
    /// would merge states in the model's visited set.
    fn all_distinct<T: Hash + std::fmt::Debug>(variants: &[T]) {
        for (i, a) in variants.iter().enumerate() {
            for b in &variants[i + 1..] {
                assert_ne!(written(a), written(b), "{a:?} and {b:?} hash alike");
            }
        }
    }

    #[test]
    fn a_session_changed_in_any_one_field_hashes_differently() {
        let base = Session::new(SessionKind::Sql);
        let mut hooked = base;
        hooked.hooks.push(Hook::Jit);
        let mut hooked_twice = hooked;
        hooked_twice.hooks.push(Hook::AbortBackup);
        let variants = [
            base,
            Session {
                kind: SessionKind::Replication,
                ..base
            },
            Session {
                pc: Pc::SendStopPoint,
                ..base
            },
            Session {
                mode: BackupMode::Exclusive,
                ..base
            },
            Session {
                label: LabelKind::Nul,
                ..base
            },
            Session {
                backup: Some(BackupId(0)),
                ..base
            },
            Session {
                backup: Some(BackupId(1 << 31)),
                ..base
            },
            Session {
                state: SessionBackupState::Running,
                ..base
            },
            Session {
                armed: Armed(1 << 7),
                ..base
            },
            hooked,
            hooked_twice,
            Session {
                ticket: 1 << 31,
                ..base
            },
            Session {
                start: Lsn(1 << 63),
                ..base
            },
            Session {
                checkpoint: Lsn(1 << 63),
                ..base
            },
            Session {
                unique: true,
                ..base
            },
            Session {
                stop: Lsn(1 << 63),
                ..base
            },
            Session {
                starts: 1 << 31,
                ..base
            },
            Session {
                commands: 1 << 31,
                ..base
            },
            Session { at: 1 << 7, ..base },
        ];
        all_distinct(&variants);
    }

    #[test]
    fn a_backup_changed_in_any_one_field_hashes_differently() {
        let base = Backup {
            id: BackupId(0),
            session: SessionId(0),
            mode: BackupMode::NonExclusive,
            label: LabelKind::Plain,
            phase: BackupPhase::Starting,
            start: Lsn(0),
            accepted: false,
            checkpoint: Lsn(0),
            start_timeline: crate::lsn::TimeLineId(1),
            from_standby: false,
            stop: Lsn(0),
            copy_over: false,
            copied_to: Lsn(0),
            early_end_record: false,
            unit: Unit::NotYet,
            torn: false,
            picked_up: None,
            label_handed_out: false,
            label_misstates: false,
        };
        let variants = [
            base,
            Backup {
                id: BackupId(1 << 31),
                ..base
            },
            Backup {
                session: SessionId(1 << 7),
                ..base
            },
            Backup {
                mode: BackupMode::Streamed,
                ..base
            },
            Backup {
                label: LabelKind::Nul,
                ..base
            },
            Backup {
                phase: BackupPhase::Lost,
                ..base
            },
            Backup {
                start: Lsn(1 << 63),
                ..base
            },
            Backup {
                accepted: true,
                ..base
            },
            Backup {
                checkpoint: Lsn(1 << 63),
                ..base
            },
            Backup {
                start_timeline: crate::lsn::TimeLineId(1 << 31),
                ..base
            },
            Backup {
                from_standby: true,
                ..base
            },
            Backup {
                stop: Lsn(1 << 63),
                ..base
            },
            Backup {
                copy_over: true,
                ..base
            },
            Backup {
                copied_to: Lsn(1 << 63),
                ..base
            },
            Backup {
                early_end_record: true,
                ..base
            },
            Backup {
                unit: Unit::Released,
                ..base
            },
            Backup { torn: true, ..base },
            Backup {
                picked_up: Some(PickedUp::ExclusiveLabel),
                ..base
            },
            Backup {
                picked_up: Some(PickedUp::TempLabel),
                ..base
            },
            Backup {
                label_handed_out: true,
                ..base
            },
            Backup {
                label_misstates: true,
                ..base
            },
        ];
        all_distinct(&variants);
    }

    #[test]
    fn a_copied_state_equals_its_original_whether_its_lists_are_inline_or_on_the_heap() {
        let config = crate::config::Config::default();
        let inline = Cluster::new(Variant::of(crate::variant::Design::Recommended), config)
            .expect("the default configuration is valid");
        let mut spilled = inline.clone();
        spilled
            .pages
            .extend([Lsn(1), Lsn(2), Lsn(3), Lsn(4), Lsn(5)]);
        spilled.ghost.retired_starts.push(Lsn(7));
        assert!(!inline.pages.spilled() && spilled.pages.spilled());
        for cluster in [inline, spilled] {
            let copy = cluster.clone();
            assert!(copy == cluster);
            assert_eq!(written(&copy), written(&cluster));
            assert_eq!(format!("{copy:?}"), format!("{cluster:?}"));
        }
    }

    #[test]
    fn the_other_records_changed_in_any_one_field_hash_differently() {
        let top = Lsn(1 << 63);
        let shared = SharedMemory {
            exclusive: ExclusiveState::None,
            backups: 0,
            force_page_writes: false,
            last_backup_start: Lsn(0),
            redo: Lsn(0),
            insert: Lsn(0),
            full_page_writes: false,
            last_fpw_disable: Lsn(0),
            insert_lock_sharers: 0,
        };
        all_distinct(&[
            shared,
            SharedMemory {
                exclusive: ExclusiveState::Stopping,
                ..shared
            },
            SharedMemory {
                backups: i16::MIN,
                ..shared
            },
            SharedMemory {
                backups: 1 << 8,
                ..shared
            },
            SharedMemory {
                force_page_writes: true,
                ..shared
            },
            SharedMemory {
                last_backup_start: top,
                ..shared
            },
            SharedMemory {
                redo: top,
                ..shared
            },
            SharedMemory {
                insert: top,
                ..shared
            },
            SharedMemory {
                full_page_writes: true,
                ..shared
            },
            SharedMemory {
                last_fpw_disable: top,
                ..shared
            },
            SharedMemory {
                insert_lock_sharers: 1 << 7,
                ..shared
            },
        ]);
        let checkpointer = Checkpointer {
            requested: false,
            immediate: false,
            started: 0,
            done: 0,
            in_progress: None,
        };
        all_distinct(&[
            checkpointer,
            Checkpointer {
                requested: true,
                ..checkpointer
            },
            Checkpointer {
                immediate: true,
                ..checkpointer
            },
            Checkpointer {
                started: 1 << 31,
                ..checkpointer
            },
            Checkpointer {
                done: 1 << 31,
                ..checkpointer
            },
            Checkpointer {
                in_progress: Some(Lsn(0)),
                ..checkpointer
            },
            Checkpointer {
                in_progress: Some(top),
                ..checkpointer
            },
        ]);
        let control = ControlFile {
            checkpoint: Lsn(0),
            redo: Lsn(0),
        };
        all_distinct(&[
            control,
            ControlFile {
                checkpoint: top,
                ..control
            },
            ControlFile {
                redo: top,
                ..control
            },
        ]);
        let used = Used::default();
        let mut fields: Vec<Used> = vec![used];
        for i in 0..10 {
            let mut u = used;
            let field = match i {
                0 => &mut u.crashes,
                1 => &mut u.faults,
                2 => &mut u.page_writes,
                3 => &mut u.timed_checkpoints,
                4 => &mut u.wal_switches,
                5 => &mut u.jit_queries,
                6 => &mut u.wal_fills,
                7 => &mut u.shutdowns,
                8 => &mut u.os_crashes,
                _ => &mut u.primary_fpw_offs,
            };
            *field = 1 << 31;
            fields.push(u);
        }
        all_distinct(&fields);
        all_distinct(&[
            Writer::Idle,
            Writer::Assembled {
                page: 0,
                redo: Lsn(0),
                do_page_writes: false,
                image: false,
            },
            Writer::Assembled {
                page: 1 << 7,
                redo: Lsn(0),
                do_page_writes: false,
                image: false,
            },
            Writer::Assembled {
                page: 0,
                redo: top,
                do_page_writes: false,
                image: false,
            },
            Writer::Assembled {
                page: 0,
                redo: Lsn(0),
                do_page_writes: true,
                image: false,
            },
            Writer::Assembled {
                page: 0,
                redo: Lsn(0),
                do_page_writes: false,
                image: true,
            },
        ]);
        let latched = Latched {
            property: crate::invariants::Property::CounterMatchesBackups,
            backup: BackupId(0),
            session: SessionId(0),
            phase: BackupPhase::Starting,
            problem: crate::invariants::Problem::General,
        };
        all_distinct(&[
            latched,
            Latched {
                property: crate::invariants::Property::ReportedFilesSurviveOsCrash,
                ..latched
            },
            Latched {
                backup: BackupId(1 << 31),
                ..latched
            },
            Latched {
                session: SessionId(1 << 7),
                ..latched
            },
            Latched {
                phase: BackupPhase::Lost,
                ..latched
            },
            Latched {
                problem: crate::invariants::Problem::HistoryMethod,
                ..latched
            },
        ]);
    }

    #[test]
    fn the_files_wal_and_ghost_changed_in_any_one_field_hash_differently() {
        let top = Lsn(1 << 63);
        let label = LabelFile {
            backup: BackupId(0),
            start: Lsn(0),
            checkpoint: Lsn(0),
            label: LabelKind::Plain,
            durable: false,
        };
        let labels = [
            label,
            LabelFile {
                backup: BackupId(1 << 31),
                ..label
            },
            LabelFile {
                start: top,
                ..label
            },
            LabelFile {
                checkpoint: top,
                ..label
            },
            LabelFile {
                label: LabelKind::Nul,
                ..label
            },
            LabelFile {
                durable: true,
                ..label
            },
        ];
        all_distinct(&labels);
        let history = HistoryFile {
            start: Lsn(0),
            stop: Lsn(0),
            checkpoint: Lsn(0),
            label: LabelKind::Plain,
            exclusive: false,
            durable: false,
            backup: None,
            writes: 0,
            in_pg_wal: false,
        };
        let histories = [
            history,
            HistoryFile {
                start: top,
                ..history
            },
            HistoryFile {
                stop: top,
                ..history
            },
            HistoryFile {
                checkpoint: top,
                ..history
            },
            HistoryFile {
                label: LabelKind::Nul,
                ..history
            },
            HistoryFile {
                exclusive: true,
                ..history
            },
            HistoryFile {
                durable: true,
                ..history
            },
            HistoryFile {
                backup: Some(BackupId(0)),
                ..history
            },
            HistoryFile {
                backup: Some(BackupId(u32::MAX)),
                ..history
            },
            HistoryFile {
                writes: 1 << 7,
                ..history
            },
            HistoryFile {
                in_pg_wal: true,
                ..history
            },
        ];
        all_distinct(&histories);
        let dir = DataDirectory {
            backup_label: None,
            temp_labels: SmallVec::new(),
            history: SmallVec::new(),
            unlinked_label: None,
        };
        let mut dirs = vec![dir.clone()];
        for l in labels {
            dirs.push(DataDirectory {
                backup_label: Some(l),
                ..dir.clone()
            });
            dirs.push(DataDirectory {
                unlinked_label: Some(l),
                ..dir.clone()
            });
            dirs.push(DataDirectory {
                temp_labels: smallvec::smallvec![l],
                ..dir.clone()
            });
        }
        for h in histories {
            dirs.push(DataDirectory {
                history: smallvec::smallvec![h],
                ..dir.clone()
            });
        }
        all_distinct(&dirs);
        let wal = Wal {
            oldest_segment: 0,
            end_records: SmallVec::new(),
            flushed: Lsn(0),
            checkpoints: SmallVec::new(),
        };
        all_distinct(&[
            wal.clone(),
            Wal {
                oldest_segment: 1 << 63,
                ..wal.clone()
            },
            Wal {
                flushed: top,
                ..wal.clone()
            },
            Wal {
                end_records: smallvec::smallvec![(top, Lsn(0))],
                ..wal.clone()
            },
            Wal {
                end_records: smallvec::smallvec![(Lsn(0), top)],
                ..wal.clone()
            },
            Wal {
                checkpoints: smallvec::smallvec![(top, Lsn(0))],
                ..wal.clone()
            },
            Wal {
                checkpoints: smallvec::smallvec![(Lsn(0), top)],
                ..wal.clone()
            },
        ]);
        let ghost = Ghost::default();
        let latched = Latched {
            property: crate::invariants::Property::CounterMatchesBackups,
            backup: BackupId(0),
            session: SessionId(0),
            phase: BackupPhase::Starting,
            problem: crate::invariants::Problem::General,
        };
        all_distinct(&[
            ghost.clone(),
            Ghost {
                control_redo_torn: true,
                ..ghost.clone()
            },
            Ghost {
                in_progress_redo_torn: true,
                ..ghost.clone()
            },
            Ghost {
                spurious_release: Some(SessionId(0)),
                ..ghost.clone()
            },
            Ghost {
                spurious_release: Some(SessionId(1 << 7)),
                ..ghost.clone()
            },
            Ghost {
                failed_assertion: Some((Assertion::CounterPositive, SessionId(0))),
                ..ghost.clone()
            },
            Ghost {
                failed_assertion: Some((Assertion::StopCallbackStopping, SessionId(0))),
                ..ghost.clone()
            },
            Ghost {
                failed_assertion: Some((Assertion::CounterPositive, SessionId(1 << 7))),
                ..ghost.clone()
            },
            Ghost {
                restart_refused: Some(BackupId(0)),
                ..ghost.clone()
            },
            Ghost {
                restart_refused: Some(BackupId(u32::MAX)),
                ..ghost.clone()
            },
            Ghost {
                retired_starts: smallvec::smallvec![Lsn(0)],
                ..ghost.clone()
            },
            Ghost {
                leaked_units: i16::MIN,
                ..ghost.clone()
            },
            Ghost {
                leaked_units: 1 << 8,
                ..ghost.clone()
            },
            Ghost {
                leaked_exclusive: true,
                ..ghost.clone()
            },
            Ghost {
                latched: smallvec::smallvec![latched],
                ..ghost.clone()
            },
        ]);
    }
}
