//! The threaded driver: [`Coordinator`] is what a server would link. Its blocking calls
//! (`start_backup`, `stop_backup`, `base_backup`, `abort_backup`, `write_page`, the
//! checkpointer loop) run exactly the core's steps, one [`Cluster::apply`] per acquisition of
//! the shim's [`Mutex`] (standing for the insertion lock), and wait on the shim's
//! [`Condvar`] for checkpoints and for each other. After every step, before the lock is
//! released, every invariant is checked. Optionally it writes the label and history files into
//! a real [`DataDirectory`], turning a failed write into the step's ERROR.
//!
//! The driver adds no protocol logic: which step comes next, and whether it may run, is the
//! core's answer (`Cluster::is_enabled`).

use crate::action::{Action, Command, EventKind, Fault, StepError};
use crate::config::{Config, ConfigError, FaultKinds};
use crate::datadir::{DataDirError, DataDirectory};
use crate::invariants::Violation;
use crate::label::{BackupLabel, LabelKind};
use crate::lsn::Lsn;
use crate::state::{BackupId, BackupMode, BackupPhase, Cluster, PageId, Pc, SessionId, WriterId};
use crate::sync::{Arc, Condvar, Mutex, MutexGuard};
use crate::variant::Variant;
use std::collections::BTreeMap;
use std::path::PathBuf;
use thiserror::Error;

/// What the driver does when a step breaks an invariant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnViolation {
    /// Keep the violation (see [`Coordinator::violations`]) and go on.
    #[default]
    Record,
    /// Panic at once, naming the step and the violation.
    Panic,
}

/// How to build a [`Coordinator`].
#[derive(Clone, Debug, Default)]
pub struct CoordinatorOptions {
    /// What to do on a violation.
    pub on_violation: OnViolation,
    /// Write label and history files into this directory.
    pub data_dir: Option<PathBuf>,
    /// The file system the data directory lives on (default: the real one). Tests use a
    /// [`crate::datadir::PowerLossFileSystem`] to hold the files to the core's account of
    /// what each step made durable.
    pub file_system: Option<std::sync::Arc<dyn crate::datadir::FileSystem>>,
    /// Properties the driver does not check (a design's known era findings a test is not
    /// about, such as 9.6's files written without fsync).
    pub unchecked: crate::invariants::PropertySet,
}

/// Why a driver call failed.
#[derive(Debug, Error)]
pub enum CoordinatorError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The data directory could not be opened.
    #[error("data directory: {0}")]
    DataDir(#[from] DataDirError),
    /// The command ended with PostgreSQL's error.
    #[error("{0}")]
    Backup(StepError),
    /// No such session.
    #[error("session {0} does not exist")]
    NoSuchSession(SessionId),
    /// The design does not have this command, or the session's budget is used up.
    #[error("{command} is not available to {session} in design {variant}")]
    NotAvailable {
        /// The session.
        session: SessionId,
        /// The command.
        command: Command,
        /// The design.
        variant: Variant,
    },
    /// The session's process exited (disconnect or termination) while the command ran.
    #[error("the session's connection was lost")]
    Disconnected,
    /// The server crashed while the command ran.
    #[error("the server crashed")]
    Crashed,
    /// The server refused to restart.
    #[error("the server refused to restart")]
    Down,
    /// The command waits for a checkpoint but the coordinator was shut down.
    #[error("the coordinator was shut down")]
    ShutDown,
    /// The command ended in a way its caller does not expect (a bug in the driver).
    #[error("unexpected outcome: {0}")]
    Unexpected(String),
}

/// A started backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartedBackup {
    /// Its number.
    pub backup: BackupId,
    /// Its start point.
    pub start: Lsn,
}

/// A stopped backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoppedBackup {
    /// Its number, if the stop could tell.
    pub backup: Option<BackupId>,
    /// Its start point.
    pub start: Lsn,
    /// The end of its backup-end record.
    pub stop: Lsn,
}

/// A page change that reached the WAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageWrite {
    /// The record's location.
    pub at: Lsn,
    /// It carried a full-page image.
    pub image: bool,
}

struct DriverState {
    cluster: Cluster,
    shutdown: bool,
    violations: Vec<Violation>,
    /// How each session's last command ended (set by whichever thread ended it).
    outcomes: Vec<Option<EventKind>>,
    /// Logical clock: one tick per step, used as START TIME / STOP TIME.
    clock: u32,
    start_clocks: BTreeMap<BackupId, u32>,
    /// How the most recent backups ended (the core retires them; at most [`ENDED_KEPT`]).
    ended: BTreeMap<BackupId, BackupPhase>,
    data_dir: Option<DataDirectory>,
}

/// How many ended backups the driver remembers for [`Coordinator::ended`].
pub const ENDED_KEPT: usize = 4096;

struct Inner {
    state: Mutex<DriverState>,
    changed: Condvar,
    on_violation: OnViolation,
    unchecked: crate::invariants::PropertySet,
}

/// The coordinator, shared between threads (clone it to hand it to another thread).
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

impl Config {
    /// A configuration for the driver: `sql` SQL sessions, `walsenders` WAL senders, `pages`
    /// pages and `writers` page writers, with no budget limits. Faults happen only when a
    /// caller asks (`abort_backup`) or a real file operation fails, and every command is
    /// offered so that a wrong one gets PostgreSQL's error.
    pub fn for_driver(sql: u8, walsenders: u8, pages: u8, writers: u8) -> Config {
        Config {
            sql_sessions: sql,
            walsenders,
            backups_per_session: u32::MAX,
            crashes: u32::MAX,
            faults: u32::MAX,
            fault_kinds: FaultKinds::ALL,
            writers,
            pages,
            page_writes: u32::MAX,
            timed_checkpoints: 0,
            wal_switches: u32::MAX,
            hostile_labels: true,
            commands_per_session: u32::MAX,
            ..Config::default()
        }
    }
}

impl Coordinator {
    /// A coordinator running `variant` with `config` (see [`Config::for_driver`]).
    pub fn new(variant: Variant, config: Config) -> Result<Self, CoordinatorError> {
        Self::with_options(variant, config, CoordinatorOptions::default())
    }

    /// A coordinator with options.
    pub fn with_options(
        variant: Variant,
        config: Config,
        options: CoordinatorOptions,
    ) -> Result<Self, CoordinatorError> {
        let cluster = Cluster::new(variant, config)?;
        let file_system = options
            .file_system
            .unwrap_or_else(|| std::sync::Arc::new(crate::datadir::RealFileSystem));
        let data_dir = options
            .data_dir
            .map(|root| DataDirectory::open_on(root, file_system))
            .transpose()?;
        let sessions = cluster.sessions.len();
        Ok(Coordinator {
            inner: Arc::new(Inner {
                state: Mutex::new(DriverState {
                    cluster,
                    shutdown: false,
                    violations: Vec::new(),
                    outcomes: vec![None; sessions],
                    clock: 0,
                    start_clocks: BTreeMap::new(),
                    ended: BTreeMap::new(),
                    data_dir,
                }),
                changed: Condvar::new(),
                on_violation: options.on_violation,
                unchecked: options.unchecked,
            }),
        })
    }

    /// A copy of the cluster state.
    pub fn snapshot(&self) -> Cluster {
        self.lock().cluster.clone()
    }

    /// Every violation seen so far (with [`OnViolation::Record`]).
    pub fn violations(&self) -> Vec<Violation> {
        self.lock().violations.clone()
    }

    /// How `backup` ended (stopped, failed, or lost in a crash), if it has ended and is among
    /// the last [`ENDED_KEPT`] to end.
    pub fn ended(&self, backup: BackupId) -> Option<BackupPhase> {
        self.lock().ended.get(&backup).copied()
    }

    /// The label a live backup was given (START TIME is the logical time it was built at).
    pub fn label_of(&self, backup: BackupId) -> Option<BackupLabel> {
        let st = self.lock();
        let clock = st.start_clocks.get(&backup).copied().unwrap_or(0);
        st.cluster.render_label(backup, clock)
    }

    /// `pg_start_backup` / `pg_backup_start` in SQL session `session`.
    pub fn start_backup(
        &self,
        session: SessionId,
        mode: BackupMode,
        label: LabelKind,
    ) -> Result<StartedBackup, CoordinatorError> {
        match self.run_command(session, Command::StartBackup { mode, label })? {
            EventKind::BackupStarted { backup, start, .. } => Ok(StartedBackup { backup, start }),
            other => Err(CoordinatorError::Unexpected(other.to_string())),
        }
    }

    /// `pg_stop_backup` / `pg_backup_stop` in SQL session `session`.
    pub fn stop_backup(
        &self,
        session: SessionId,
        mode: BackupMode,
    ) -> Result<StoppedBackup, CoordinatorError> {
        let outcome = self.run_command(session, Command::StopBackup { mode })?;
        stopped(outcome)
    }

    /// `BASE_BACKUP` in WAL sender `session`: start, copy and stop.
    pub fn base_backup(
        &self,
        session: SessionId,
        label: LabelKind,
    ) -> Result<StoppedBackup, CoordinatorError> {
        let outcome = self.run_command(session, Command::BaseBackup { label })?;
        stopped(outcome)
    }

    /// The client of `session` goes away (or the backend is terminated): waits until the
    /// session reaches a point where it notices, and lets it exit. Returns false if the
    /// session was idle with nothing to clean up.
    pub fn abort_backup(&self, session: SessionId) -> Result<bool, CoordinatorError> {
        let mut st = self.lock();
        self.check_session(&st, session)?;
        let action = Action::Fault {
            session,
            fault: Fault::Disconnect,
        };
        loop {
            if st.cluster.is_enabled(action) {
                self.apply_locked(&mut st, action);
                return Ok(true);
            }
            if st.cluster.is_down() {
                return Err(CoordinatorError::Down);
            }
            if st.cluster.sessions[usize::from(session.0)].pc == Pc::Idle {
                return Ok(false);
            }
            st = self.wait(st);
        }
    }

    /// A page writer writes `page`: locks it, assembles, re-checks under the lock.
    pub fn write_page(
        &self,
        writer: WriterId,
        page: PageId,
    ) -> Result<PageWrite, CoordinatorError> {
        let mut st = self.lock();
        let assemble = Action::PageAssemble { writer, page };
        while !st.cluster.is_enabled(assemble) {
            if st.cluster.is_down() {
                return Err(CoordinatorError::Down);
            }
            if usize::from(writer) >= st.cluster.writers.len()
                || usize::from(page) >= st.cluster.pages.len()
            {
                return Err(CoordinatorError::Unexpected(format!(
                    "no writer {writer} or page {page}"
                )));
            }
            st = self.wait(st);
        }
        self.apply_locked(&mut st, assemble);
        loop {
            drop(st);
            st = self.lock();
            let insert = Action::PageInsert { writer };
            if !st.cluster.is_enabled(insert) {
                if st.cluster.writers[usize::from(writer)] == crate::state::Writer::Idle {
                    return Err(CoordinatorError::Crashed);
                }
                st = self.wait(st);
                continue;
            }
            if let EventKind::PageWritten { at, image, .. } = self.apply_locked(&mut st, insert) {
                return Ok(PageWrite { at, image });
            }
        }
    }

    /// The checkpointer's loop: serves checkpoint requests until [`Coordinator::shutdown`].
    pub fn run_checkpointer(&self) {
        let mut st = self.lock();
        loop {
            if st.cluster.is_enabled(Action::CheckpointEnd) {
                self.apply_locked(&mut st, Action::CheckpointEnd);
            } else if st.cluster.is_enabled(Action::CheckpointBegin) {
                self.apply_locked(&mut st, Action::CheckpointBegin);
            } else if st.shutdown || st.cluster.is_down() {
                return;
            } else {
                st = self.wait(st);
                continue;
            }
            drop(st);
            st = self.lock();
        }
    }

    /// Performs one checkpoint if one is requested (for callers without a checkpointer thread).
    pub fn checkpoint_if_requested(&self) -> bool {
        let mut st = self.lock();
        if !st.cluster.is_enabled(Action::CheckpointBegin) {
            return false;
        }
        self.apply_locked(&mut st, Action::CheckpointBegin);
        drop(st);
        let mut st = self.lock();
        if st.cluster.is_enabled(Action::CheckpointEnd) {
            self.apply_locked(&mut st, Action::CheckpointEnd);
        }
        true
    }

    /// The server crashes and restarts. Commands running in other threads fail with
    /// [`CoordinatorError::Crashed`].
    pub fn crash(&self) -> Result<(), CoordinatorError> {
        let mut st = self.lock();
        if !st.cluster.is_enabled(Action::Crash) {
            return Err(CoordinatorError::Down);
        }
        self.apply_locked(&mut st, Action::Crash);
        if st.cluster.is_down() {
            return Err(CoordinatorError::Down);
        }
        Ok(())
    }

    /// Stops the checkpointer loop once no checkpoint is pending; commands still waiting for
    /// a checkpoint fail with [`CoordinatorError::ShutDown`].
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.inner.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, DriverState> {
        self.inner.state.lock()
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, DriverState>) -> MutexGuard<'a, DriverState> {
        self.inner.changed.wait(guard)
    }

    fn check_session(&self, st: &DriverState, session: SessionId) -> Result<(), CoordinatorError> {
        if usize::from(session.0) < st.cluster.sessions.len() {
            Ok(())
        } else {
            Err(CoordinatorError::NoSuchSession(session))
        }
    }

    /// Sends `command` to `session` and steps it until the command ends, releasing the lock
    /// between steps. Returns how the command ended.
    fn run_command(
        &self,
        session: SessionId,
        command: Command,
    ) -> Result<EventKind, CoordinatorError> {
        let mut st = self.lock();
        self.check_session(&st, session)?;
        let index = usize::from(session.0);
        let begin = Action::Begin { session, command };
        loop {
            if st.cluster.is_down() {
                return Err(CoordinatorError::Down);
            }
            let idle = st.cluster.sessions[index].pc == Pc::Idle;
            if idle && st.cluster.is_enabled(begin) {
                break;
            }
            if idle && st.cluster.shared.insert_lock_sharers == 0 {
                let variant = st.cluster.variant;
                return Err(CoordinatorError::NotAvailable {
                    session,
                    command,
                    variant,
                });
            }
            st = self.wait(st);
        }
        st.outcomes[index] = None;
        self.apply_locked(&mut st, begin);
        // One step per acquisition, the first one too: other threads may run before the next.
        drop(st);
        st = self.lock();
        loop {
            if let Some(outcome) = st.outcomes[index].take() {
                return outcome_result(outcome);
            }
            if st.cluster.is_down() {
                return Err(CoordinatorError::Down);
            }
            let step = Action::Step { session };
            if st.cluster.is_enabled(step) {
                self.apply_locked(&mut st, step);
                drop(st);
                st = self.lock();
            } else if st.shutdown && st.cluster.sessions[index].pc == Pc::StartWaitCheckpoint {
                return Err(CoordinatorError::ShutDown);
            } else {
                st = self.wait(st);
            }
        }
    }

    /// Applies one enabled action: mirrors its file effect first (a failed write becomes the
    /// step's ERROR), checks every invariant, records how a session's command ended, and wakes
    /// every waiter.
    fn apply_locked(&self, st: &mut DriverState, action: Action) -> EventKind {
        st.clock = st.clock.saturating_add(1);
        let action = match st.data_dir.clone() {
            Some(dir) => mirror_before(st, &dir, action),
            None => action,
        };
        let busy_before: Vec<bool> = st
            .cluster
            .sessions
            .iter()
            .map(|s| s.pc != Pc::Idle)
            .collect();
        let (event, retired) = match st.cluster.apply_and_retire(action) {
            Ok(done) => done,
            Err(err) => panic!("driver applied a disabled action: {err}"),
        };
        for backup in retired {
            st.ended.insert(backup.id, backup.phase);
            if st.ended.len() > ENDED_KEPT {
                st.ended.pop_first();
            }
        }
        if let EventKind::BackupStarted { backup, .. } = event.kind {
            st.start_clocks.entry(backup).or_insert(st.clock);
        }
        let DriverState {
            cluster,
            start_clocks,
            ..
        } = &mut *st;
        start_clocks.retain(|id, _| cluster.backup(*id).is_some());
        if let Some(dir) = st.data_dir.clone() {
            mirror_after(st, &dir, &event.kind);
        }
        match action {
            Action::Begin { session, .. }
            | Action::Step { session }
            | Action::Fault { session, .. }
                if st.cluster.sessions[usize::from(session.0)].pc == Pc::Idle =>
            {
                // The event that ended the command is its outcome. A later event of the idle
                // session (its client going away after the reply) must not replace an outcome
                // the command's caller has not collected yet.
                let outcome = &mut st.outcomes[usize::from(session.0)];
                if outcome.is_none() {
                    *outcome = Some(event.kind.clone());
                }
            }
            Action::Crash => {
                for (index, busy) in busy_before.into_iter().enumerate() {
                    if busy {
                        st.outcomes[index] = Some(event.kind.clone());
                    }
                }
            }
            _ => {}
        }
        if let Err(violation) = crate::invariants::check_except(&st.cluster, self.inner.unchecked) {
            match self.inner.on_violation {
                OnViolation::Panic => {
                    self.inner.changed.notify_all();
                    panic!("invariant violated after {action} ({event}): {violation}");
                }
                OnViolation::Record => {
                    if !st.violations.contains(&violation) {
                        st.violations.push(violation);
                    }
                }
            }
        }
        self.inner.changed.notify_all();
        event.kind
    }
}

fn outcome_result(outcome: EventKind) -> Result<EventKind, CoordinatorError> {
    match outcome {
        EventKind::CommandRejected { error, .. } | EventKind::CommandFailed { error, .. } => {
            Err(CoordinatorError::Backup(error))
        }
        EventKind::SessionExited { .. } => Err(CoordinatorError::Disconnected),
        EventKind::Restarted {
            refused: Some(_), ..
        } => Err(CoordinatorError::Down),
        EventKind::Restarted { .. } => Err(CoordinatorError::Crashed),
        other => Ok(other),
    }
}

fn stopped(outcome: EventKind) -> Result<StoppedBackup, CoordinatorError> {
    match outcome {
        EventKind::BackupStopped {
            backup,
            start,
            stop,
        } => Ok(StoppedBackup {
            backup,
            start,
            stop,
        }),
        other => Err(CoordinatorError::Unexpected(other.to_string())),
    }
}

/// Performs the real file operation of a step that writes or reads a label or history file.
/// Returns the action to apply: the step itself, or an ERROR fault if the operation failed.
/// Where the model itself will refuse (the file exists in the model), nothing is touched.
fn mirror_before(st: &mut DriverState, dir: &DataDirectory, action: Action) -> Action {
    let Action::Step { session } = action else {
        return action;
    };
    let c = &st.cluster;
    let s = &c.sessions[usize::from(session.0)];
    let failed = Action::Fault {
        session,
        fault: Fault::Error,
    };
    let result: Result<(), DataDirError> = match s.pc {
        Pc::StartWriteLabel => {
            let Some(backup) = s.backup else {
                return action;
            };
            let Some(label) = c.render_label(backup, st.clock) else {
                return action;
            };
            let sync = c.rules().label_sync;
            if s.mode == BackupMode::Exclusive {
                if c.data_dir.backup_label.is_some() {
                    return action;
                }
                dir.create_backup_label(&label.render(), sync)
            } else {
                if c.data_dir.temp_labels.iter().any(|f| f.start == s.start) {
                    return action;
                }
                dir.create_temp_label(&c.temp_label_name(s.start), &label.render(), sync)
            }
        }
        Pc::StopReadLabel => {
            let seg = c.seg();
            let (text, expected) = if s.mode == BackupMode::Exclusive {
                let Some(file) = c.data_dir.backup_label else {
                    return action;
                };
                (
                    dir.read_backup_label()
                        .and_then(|t| t.ok_or_else(|| missing(dir, "backup_label"))),
                    file.start,
                )
            } else {
                if !c.data_dir.temp_labels.iter().any(|f| f.start == s.start) {
                    return action;
                }
                (dir.read_temp_label(&c.temp_label_name(s.start)), s.start)
            };
            match text.map(|t| BackupLabel::parse(&t, seg)) {
                Ok(Ok(label)) if label.start == expected => {
                    if s.mode == BackupMode::Exclusive {
                        dir.remove_backup_label(c.rules().durable_label_removal)
                    } else {
                        dir.remove_temp_label(&c.temp_label_name(s.start))
                    }
                }
                Ok(_) => Err(DataDirError::Io {
                    op: "read backup label",
                    path: dir.root().to_path_buf(),
                    source: std::io::Error::other("label does not match the backup being stopped"),
                }),
                Err(err) => Err(err),
            }
        }
        Pc::StopWriteHistory => {
            if c.data_dir
                .history
                .iter()
                .any(|h| h.start == s.start && h.in_pg_wal)
            {
                return action;
            }
            // The file the step records, written for real first: the core's step on a copy
            // says what goes into it.
            let mut after = c.clone();
            if after.apply(action).is_err() {
                return action;
            }
            let Some(file) = after.history_file(s.start).copied() else {
                return action;
            };
            let start_clock = file
                .backup
                .and_then(|b| st.start_clocks.get(&b).copied())
                .unwrap_or(st.clock);
            let history = c.render_history_file(&file, start_clock, st.clock);
            // The archiver as the core models it: a working one has archived every older
            // history file by the time a stop cleans up.
            let archiving = c.config.archive_mode;
            let caught_up = if archiving && !c.config.archive_fails {
                dir.mark_history_files_archived().map(|_| ())
            } else {
                Ok(())
            };
            caught_up
                .and_then(|()| {
                    dir.create_history_file(
                        &c.history_file_name(s.start),
                        &history.render(),
                        c.rules().history_sync,
                    )
                })
                .and_then(|()| dir.cleanup_backup_history(archiving).map(|_| ()))
        }
        _ => return action,
    };
    match result {
        Ok(()) => action,
        Err(_) if c.is_enabled(failed) => failed,
        Err(err) => {
            panic!("data directory operation failed and no ERROR can be raised here: {err}")
        }
    }
}

fn missing(dir: &DataDirectory, name: &str) -> DataDirError {
    DataDirError::Missing {
        path: dir.root().join(name),
    }
}

/// File effects of crash recovery.
fn mirror_after(st: &mut DriverState, dir: &DataDirectory, event: &EventKind) {
    if let EventKind::Restarted {
        label_renamed,
        refused: None,
        ..
    } = event
    {
        let renamed = if *label_renamed {
            dir.rename_backup_label_old().map(|_| ())
        } else {
            Ok(())
        };
        let cleared = dir.remove_temp_labels().map(|_| ());
        if let Err(err) = renamed.and(cleared) {
            st.violations.push(Violation {
                property: crate::invariants::Property::RestartSucceeds,
                sessions: Vec::new(),
                backups: Vec::new(),
                lsns: Vec::new(),
                detail: format!("crash recovery could not clean the data directory: {err}"),
            });
        }
    }
}
