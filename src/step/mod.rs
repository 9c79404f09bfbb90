//! The protocol as steps. [`Cluster::actions`] lists what may happen next, in a fixed order;
//! [`Cluster::apply`] performs one atomic step and says what it did.
//!
//! One step is what PostgreSQL does while holding one lock (the WAL insertion locks, the
//! control file lock), or one action with an outside effect (a WAL record, a file written or
//! removed, a message sent). Code that cannot raise an error or be interrupted between two
//! such actions is one step, so that every boundary between steps is a point where something
//! else really can happen. The step families live in their own files, each named after the
//! PostgreSQL function it models.

mod backup_start;
mod backup_stop;
mod base_backup;
mod checkpoint;
mod crash;
mod ghost;

pub use ghost::Retired;
mod page_write;
mod session_abort;
mod shutdown;

use crate::action::{Action, ApplyError, Command, Event, EventKind, Fault, LabelPlace};
use crate::config::{PAGES_MAX, WRITERS_MAX};
use crate::label::LabelKind;
use crate::lsn::{insert_record, record_bytes, InsertedRecord};
use crate::plan::{self, Family, ListId, Lock, Next, Taken};
use crate::state::{
    Assertion, BackupId, BackupMode, BackupPhase, Cluster, ExclusiveState, Pc, Regions,
    ServerState, SessionId, SessionKind, Unit,
};
use crate::variant::{Forcing, LabelDelivery, LockMode};

/// An SQL session's commands with plain labels: the exclusive start, the non-exclusive start,
/// the exclusive and the non-exclusive stop, and a JIT-compiled query.
const SQL_COMMANDS_PLAIN: [Command; 5] = [
    Command::StartBackup {
        mode: BackupMode::Exclusive,
        label: LabelKind::Plain,
    },
    Command::StartBackup {
        mode: BackupMode::NonExclusive,
        label: LabelKind::Plain,
    },
    Command::StopBackup {
        mode: BackupMode::Exclusive,
    },
    Command::StopBackup {
        mode: BackupMode::NonExclusive,
    },
    Command::JitQuery,
];

const LABELS: usize = LabelKind::ALL.len();

/// The same with every label kind: exclusive starts, one per label, then non-exclusive
/// starts, then the two stops and the JIT query.
const SQL_COMMANDS_ALL_LABELS: [Command; LABELS * 2 + 3] = {
    let mut out = [Command::JitQuery; LABELS * 2 + 3];
    let mut i = 0;
    while i < LABELS {
        out[i] = Command::StartBackup {
            mode: BackupMode::Exclusive,
            label: LabelKind::ALL[i],
        };
        out[LABELS + i] = Command::StartBackup {
            mode: BackupMode::NonExclusive,
            label: LabelKind::ALL[i],
        };
        i += 1;
    }
    out[2 * LABELS] = SQL_COMMANDS_PLAIN[2];
    out[2 * LABELS + 1] = SQL_COMMANDS_PLAIN[3];
    out
};

/// A WAL sender's command with a plain label.
const WALSENDER_COMMANDS_PLAIN: [Command; 1] = [Command::BaseBackup {
    label: LabelKind::Plain,
}];

/// A WAL sender's commands, one per label kind.
const WALSENDER_COMMANDS_ALL_LABELS: [Command; LABELS] = {
    let mut out = [WALSENDER_COMMANDS_PLAIN[0]; LABELS];
    let mut i = 0;
    while i < LABELS {
        out[i] = Command::BaseBackup {
            label: LabelKind::ALL[i],
        };
        i += 1;
    }
    out
};

/// A `replication=database` session's commands: an SQL session's, then `BASE_BACKUP`.
const REPLICATION_COMMANDS_PLAIN: [Command; 6] = {
    let mut out = [WALSENDER_COMMANDS_PLAIN[0]; 6];
    let mut i = 0;
    while i < 5 {
        out[i] = SQL_COMMANDS_PLAIN[i];
        i += 1;
    }
    out
};

/// The same with every label kind.
const REPLICATION_COMMANDS_ALL_LABELS: [Command; LABELS * 3 + 3] = {
    let mut out = [Command::JitQuery; LABELS * 3 + 3];
    let mut i = 0;
    while i < LABELS * 2 + 3 {
        out[i] = SQL_COMMANDS_ALL_LABELS[i];
        i += 1;
    }
    let mut j = 0;
    while j < LABELS {
        out[LABELS * 2 + 3 + j] = WALSENDER_COMMANDS_ALL_LABELS[j];
        j += 1;
    }
    out
};

impl Cluster {
    /// True once a restart was refused: nothing can happen any more.
    pub fn is_down(&self) -> bool {
        self.ghost.restart_refused.is_some()
    }

    /// The enabled actions, in a deterministic order: per session (commands or its next step,
    /// then faults), then the checkpointer, the page writers, outside WAL switches, crash.
    pub fn actions(&self) -> Vec<Action> {
        let mut out = Vec::new();
        self.actions_into(&mut out);
        out
    }

    /// Appends the enabled actions to `out` (see [`Cluster::actions`]): each session's
    /// ([`Cluster::session_actions_into`]), then the cluster's own
    /// ([`Cluster::cluster_actions_into`]).
    pub fn actions_into(&self, out: &mut Vec<Action>) {
        if self.is_down() {
            return;
        }
        for index in 0..self.sessions.len() {
            self.session_actions_into(SessionId(index as u8), out);
        }
        self.cluster_actions_into(out);
    }

    /// Appends `session`'s enabled actions to `out`: its commands (idle) or its next step,
    /// then its faults, then its termination in a shutdown. Which of them are enabled depends
    /// only on [`Cluster::session_facts`] and [`Cluster::session_context`] (the incremental
    /// enabled set, [`crate::enabled`], relies on this; its test holds it to
    /// [`Cluster::actions_into`] at every step of many runs).
    pub fn session_actions_into<E: ActionSink>(&self, session: SessionId, out: &mut E) {
        if self.is_down() {
            return;
        }
        let index = usize::from(session.0);
        if self.sessions[index].pc == Pc::Idle {
            for &command in self.candidate_commands(session) {
                if self.command_enabled(session, command) {
                    out.push(Action::Begin { session, command });
                }
            }
        } else if self.step_guard(session, self.sessions[index].pc) {
            out.push(Action::Step { session });
        }
        for fault in [Fault::Error, Fault::Cancel, Fault::Disconnect] {
            if self.fault_enabled(session, fault) {
                out.push(Action::Fault { session, fault });
            }
        }
        if self.server == ServerState::ShuttingDown && self.terminate_enabled(session) {
            out.push(Action::Terminate { session });
        }
    }

    /// What, outside [`Cluster::session_facts`], decides which of a session's actions are
    /// enabled ([`Cluster::session_actions_into`]): the same for every session.
    pub fn session_context(&self) -> SessionContext {
        SessionContext {
            exclusive_running: self.exclusive_running(),
            ..self.session_context_but_backups()
        }
    }

    /// [`Cluster::session_context`], given `previous`, this cluster's context one step
    /// before: where that step wrote no backup record ([`crate::state::Touched::regions`]),
    /// the part read from the backups is `previous`'s.
    #[inline]
    pub fn session_context_one_step_after(&self, previous: &SessionContext) -> SessionContext {
        let exclusive_running = if self.touched.regions().meets(Regions::BACKUPS) {
            self.exclusive_running()
        } else {
            previous.exclusive_running
        };
        SessionContext {
            exclusive_running,
            ..self.session_context_but_backups()
        }
    }

    /// Whether an exclusive backup is running (the part of the sessions' context read from
    /// the backups).
    fn exclusive_running(&self) -> bool {
        self.backups
            .iter()
            .any(|b| b.mode == BackupMode::Exclusive && b.phase == BackupPhase::Running)
    }

    /// The sessions' context with no exclusive backup running.
    #[inline]
    fn session_context_but_backups(&self) -> SessionContext {
        SessionContext {
            down: self.is_down(),
            server: self.server,
            insert_lock_sharers: self.shared.insert_lock_sharers,
            exclusive: self.shared.exclusive,
            faults_left: self.used.faults < self.config.faults,
            jit_queries_left: self.used.jit_queries < self.config.jit_queries,
            backup_label: self.data_dir.backup_label.is_some(),
            exclusive_running: false,
        }
    }

    /// What about `session` its enabled actions depend on, besides [`SessionContext`]: the
    /// facts its guards read (its step, its kind, whether it holds anything a fault or a
    /// termination would clean up, what is left of its budgets, whether the checkpoint it
    /// waits for is done, and, idle with its command budget spent, the mode and phase of the
    /// backup it holds, which the stop it owes reads). While these and the context stay the
    /// same, so do its enabled actions.
    pub fn session_facts(&self, session: SessionId) -> Option<SessionFacts> {
        let s = self.sessions.get(usize::from(session.0))?;
        Some(self.facts_of(s))
    }

    /// [`Cluster::session_facts`] of the session whose record is `s` (one of this cluster's
    /// sessions), inlined into the loop over every session that keeps the enabled set.
    #[inline(always)]
    pub(crate) fn facts_of(&self, s: &crate::state::Session) -> SessionFacts {
        let budget_left = s.commands < self.config.commands_per_session;
        let owed = match (s.pc, s.backup) {
            (Pc::Idle, Some(b)) if !budget_left => self.backup(b).map(|b| (b.mode, b.phase)),
            _ => None,
        };
        let flag = |set: bool, bit: u32| u64::from(set) << bit;
        SessionFacts(
            u64::from(s.pc as u8)
                | u64::from(s.kind as u8) << 8
                | flag(s.holds_anything(), 16)
                | flag(budget_left, SessionFacts::BUDGET_LEFT_BIT)
                | flag(s.starts < self.config.backups_per_session, 18)
                | flag(self.checkpointer.done > s.ticket, 19)
                | owed.map_or(0, |(mode, phase)| {
                    1 << 20 | u64::from(mode as u8) << 24 | u64::from(phase as u8) << 32
                }),
        )
    }

    /// What the page writers' enabled actions ([`Cluster::writer_actions_into`]) depend on:
    /// while it stays the same, so do they.
    #[inline]
    pub fn writers_context(&self) -> WritersContext {
        let mut word = 0u128;
        for (index, writer) in self.writers.iter().enumerate() {
            let held = writer.page().map_or(0, |page| u128::from(page) + 1);
            word |= held << (WritersContext::WRITER_BITS * index as u32);
        }
        let flag = |set: bool, bit: u32| u128::from(set) << bit;
        WritersContext(
            word | (self.pages.len() as u128) << WritersContext::PAGES_AT
                | flag(self.used.page_writes < self.config.page_writes, 120)
                | flag(self.server == ServerState::Running, 121)
                | flag(self.shared.insert_lock_sharers == 0, 122)
                | flag(self.is_down(), 123),
        )
    }

    /// Appends the enabled actions that belong to no session: the checkpointer's, the page
    /// writers', outside WAL events, crashes, and the shutdown's.
    pub fn cluster_actions_into<E: ActionSink>(&self, out: &mut E) {
        if self.is_down() {
            return;
        }
        self.checkpointer_actions_into(out);
        self.writer_actions_into(out);
        self.other_cluster_actions_into(out);
    }

    /// What the checkpointer's enabled actions ([`Cluster::checkpointer_actions_into`]) and
    /// the cluster's other ones ([`Cluster::other_cluster_actions_into`]) depend on while the
    /// server runs: while it stays the same, so do they. `None` while a fast shutdown is under
    /// way or done: then its checkpoint and the restart also wait for every session and page
    /// writer, which it does not say.
    #[inline]
    pub fn cluster_actions_context(&self) -> Option<ClusterActionsContext> {
        if self.server != ServerState::Running {
            return None;
        }
        let (used, config) = (&self.used, &self.config);
        let left = |set: bool, bit: u32| u8::from(set) << bit;
        Some(ClusterActionsContext {
            down: self.is_down(),
            insert_lock_free: self.shared.insert_lock_sharers == 0,
            full_page_writes: self.shared.full_page_writes,
            checkpoint_requested: self.checkpointer.requested,
            checkpoint_in_progress: self.checkpointer.in_progress.is_some(),
            budgets_left: left(used.timed_checkpoints < config.timed_checkpoints, 0)
                | left(used.wal_switches < config.wal_switches, 1)
                | left(used.wal_fills < config.wal_fills, 2)
                | left(
                    config.standby && used.primary_fpw_offs < config.primary_fpw_offs,
                    3,
                )
                | left(used.crashes < config.crashes, 4)
                | left(used.os_crashes < config.os_crashes, 5)
                | left(!config.standby && used.shutdowns < config.shutdowns, 6),
        })
    }

    /// Appends the checkpointer's enabled actions (its checkpoint's beginning and end).
    pub fn checkpointer_actions_into<E: ActionSink>(&self, out: &mut E) {
        if self.is_down() {
            return;
        }
        if self.checkpoint_begin_enabled() {
            out.push(Action::CheckpointBegin);
        }
        if self.checkpoint_end_enabled() {
            out.push(Action::CheckpointEnd);
        }
    }

    /// Appends the page writers' enabled actions (they depend only on
    /// [`Cluster::writers_context`]).
    pub fn writer_actions_into<E: ActionSink>(&self, out: &mut E) {
        if self.is_down() {
            return;
        }
        // The pages some writer holds locked, found once rather than for every writer and
        // page (`page_assemble_enabled` less the writer's own test, made just before).
        let locked = self
            .writers
            .iter()
            .filter_map(|w| w.page())
            .fold(0u64, |mask, page| {
                mask | 1u64.checked_shl(page.into()).unwrap_or(0)
            });
        let few_pages = self.pages.len() <= 64;
        for writer in 0..self.writers.len() as u8 {
            if self.writer_may_assemble(writer) {
                for page in 0..self.pages.len() as u8 {
                    let enabled = if few_pages {
                        locked & 1 << page == 0
                    } else {
                        self.page_assemble_enabled(writer, page)
                    };
                    if enabled {
                        out.push(Action::PageAssemble { writer, page });
                    }
                }
            }
            if self.page_insert_enabled(writer) {
                out.push(Action::PageInsert { writer });
            }
        }
    }

    /// Appends the enabled actions of neither a session, the checkpointer nor a page writer:
    /// outside WAL events, crashes and the shutdown's.
    pub fn other_cluster_actions_into<E: ActionSink>(&self, out: &mut E) {
        if self.is_down() {
            return;
        }
        if self.wal_switch_enabled() {
            out.push(Action::WalSwitch);
        }
        if self.wal_fill_enabled() {
            out.push(Action::WalFill);
        }
        if self.primary_fpw_off_enabled() {
            out.push(Action::PrimaryFpwOff);
        }
        if self.crash_enabled() {
            out.push(Action::Crash);
        }
        if self.os_crash_enabled() {
            out.push(Action::OsCrash);
        }
        if self.shutdown_enabled() {
            out.push(Action::Shutdown);
        }
        if self.shutdown_checkpoint_enabled() {
            out.push(Action::ShutdownCheckpoint);
        }
        if self.restart_enabled() {
            out.push(Action::Restart);
        }
    }

    /// Whether `action` is enabled now (the same answer as membership in [`Cluster::actions`]).
    pub fn is_enabled(&self, action: Action) -> bool {
        if self.is_down() {
            return false;
        }
        match action {
            Action::Begin { session, command } => {
                self.session_exists(session)
                    && self.candidate_commands(session).contains(&command)
                    && self.command_enabled(session, command)
            }
            Action::Step { session } => {
                self.session_exists(session) && {
                    let pc = self.sessions[usize::from(session.0)].pc;
                    pc != Pc::Idle && self.step_guard(session, pc)
                }
            }
            Action::Fault { session, fault } => {
                self.session_exists(session) && self.fault_enabled(session, fault)
            }
            Action::CheckpointBegin => self.checkpoint_begin_enabled(),
            Action::CheckpointEnd => self.checkpoint_end_enabled(),
            Action::PageAssemble { writer, page } => self.page_assemble_enabled(writer, page),
            Action::PageInsert { writer } => self.page_insert_enabled(writer),
            Action::WalSwitch => self.wal_switch_enabled(),
            Action::WalFill => self.wal_fill_enabled(),
            Action::PrimaryFpwOff => self.primary_fpw_off_enabled(),
            Action::Crash => self.crash_enabled(),
            Action::OsCrash => self.os_crash_enabled(),
            Action::Shutdown => self.shutdown_enabled(),
            Action::Terminate { session } => {
                self.session_exists(session) && self.terminate_enabled(session)
            }
            Action::ShutdownCheckpoint => self.shutdown_checkpoint_enabled(),
            Action::Restart => self.restart_enabled(),
        }
    }

    /// Performs one atomic step. Refuses an action that is not enabled.
    pub fn apply(&mut self, action: Action) -> Result<Event, ApplyError> {
        self.apply_and_retire(action).map(|(event, _)| event)
    }

    /// The state `action` leads to, for an exhaustive search: `None` where the action is not
    /// enabled, or where it is a command the server refused without any effect but the
    /// session's spent command budget. Such a refusal leads to a state that differs from the
    /// present one only in that budget, from which the same refusals and nothing new can
    /// follow, so a search that skips it loses no behaviour (the command itself is still
    /// explored wherever it does something).
    pub fn successor(&self, action: Action) -> Option<Cluster> {
        if !self.is_enabled(action) {
            return None;
        }
        self.enabled_successor(action)
    }

    /// [`Cluster::successor`] of an action known to be enabled here (one
    /// [`Cluster::actions_into`] listed), without asking again: what a search that expands
    /// the actions it listed calls. Taking an action that is not enabled is a caller's error
    /// (debug builds panic), as in [`Cluster::apply_enabled_and_retire`].
    pub fn enabled_successor(&self, action: Action) -> Option<Cluster> {
        let mut next = self.clone();
        next.apply_enabled_and_retire(action);
        if let Action::Begin { session, .. } = action {
            let sent = next.session(session).commands;
            next.session_mut(session).commands = self.session(session).commands;
            if next == *self {
                return None;
            }
            next.session_mut(session).commands = sent;
        }
        Some(next)
    }

    /// Whether nothing can change the state any more: every enabled action is a command the
    /// server refuses without effect ([`Cluster::successor`] is `None` for each). This is a
    /// dead end of the model's search, where its `eventually` property is judged; replaying a
    /// model counterexample judges it there too.
    pub fn is_terminal(&self) -> bool {
        self.actions()
            .into_iter()
            .all(|a| self.successor(a).is_none())
    }

    /// Like [`Cluster::apply`], and also returns the backups the step ended (stopped, failed,
    /// lost), with their last ghost record, which the state no longer holds.
    pub fn apply_and_retire(
        &mut self,
        action: Action,
    ) -> Result<(Event, ghost::Retired), ApplyError> {
        if !self.is_enabled(action) {
            self.touched.begin_step();
            return Err(ApplyError::NotEnabled(action));
        }
        Ok(self.apply_enabled_and_retire(action))
    }

    /// [`Cluster::apply_and_retire`] of an action known to be enabled where the cluster
    /// stands: one listed by [`Cluster::actions_into`] (or an
    /// [`crate::enabled::EnabledSet`] brought up to date with this cluster), or one
    /// [`Cluster::is_enabled`] accepted, so that a caller that drew it from those does not
    /// ask again (asking was about 3% of a simulator step). Taking an action that is not
    /// enabled is a caller's error: debug builds panic; the step's result is unspecified.
    pub fn apply_enabled_and_retire(&mut self, action: Action) -> (Event, ghost::Retired) {
        debug_assert!(self.is_enabled(action), "{action:?} is not enabled");
        self.touched.begin_step();
        // A few words, written in many places: compared rather than marked at each write.
        let words_before = (self.shared, self.control, self.server);
        let event = match action {
            Action::Begin { session, command } => Event {
                actor: session.into(),
                kind: self.begin(session, command),
            },
            Action::Step { session } => Event {
                actor: session.into(),
                kind: self.session_step(session),
            },
            Action::Fault { session, fault } => {
                self.used.faults += 1;
                Event {
                    actor: session.into(),
                    kind: self.inject_fault(session, fault),
                }
            }
            Action::CheckpointBegin => Event {
                actor: crate::action::Actor::Checkpointer,
                kind: self.checkpoint_begin(),
            },
            Action::CheckpointEnd => Event {
                actor: crate::action::Actor::Checkpointer,
                kind: self.checkpoint_end(),
            },
            Action::PageAssemble { writer, page } => Event {
                actor: crate::action::Actor::Writer(writer),
                kind: self.page_assemble(writer, page),
            },
            Action::PageInsert { writer } => Event {
                actor: crate::action::Actor::Writer(writer),
                kind: self.page_insert(writer),
            },
            Action::WalSwitch => {
                self.used.wal_switches += 1;
                Event {
                    actor: crate::action::Actor::Environment,
                    kind: self.switch_wal(),
                }
            }
            Action::WalFill => {
                self.used.wal_fills += 1;
                Event {
                    actor: crate::action::Actor::Environment,
                    kind: self.fill_wal(),
                }
            }
            Action::PrimaryFpwOff => Event {
                actor: crate::action::Actor::Environment,
                kind: self.replay_fpw_off(),
            },
            Action::Crash => Event {
                actor: crate::action::Actor::Environment,
                kind: self.crash(),
            },
            Action::OsCrash => Event {
                actor: crate::action::Actor::Environment,
                kind: self.os_crash(),
            },
            Action::Shutdown => Event {
                actor: crate::action::Actor::Environment,
                kind: self.request_shutdown(),
            },
            Action::Terminate { session } => Event {
                actor: session.into(),
                kind: self.exit_session(session),
            },
            Action::ShutdownCheckpoint => Event {
                actor: crate::action::Actor::Checkpointer,
                kind: self.shutdown_checkpoint(),
            },
            Action::Restart => Event {
                actor: crate::action::Actor::Environment,
                kind: self.restart_after_shutdown(),
            },
        };
        let shared_before = words_before.0;
        if (self.shared.insert, self.shared.redo) != (shared_before.insert, shared_before.redo) {
            self.touched.write_regions(Regions::WAL_POSITIONS);
        }
        let positions_as_before = crate::state::SharedMemory {
            insert: shared_before.insert,
            redo: shared_before.redo,
            ..self.shared
        };
        if positions_as_before != shared_before {
            self.touched.write_regions(Regions::SHARED);
        }
        if self.control != words_before.1 || self.server != words_before.2 {
            self.touched.write_regions(Regions::CONTROL);
        }
        let retired = self.settle_ghost();
        (event, retired)
    }

    fn session_exists(&self, session: SessionId) -> bool {
        usize::from(session.0) < self.sessions.len()
    }

    /// The commands a client may send to an idle session, before their guards, in a fixed order.
    fn candidate_commands(&self, session: SessionId) -> &'static [Command] {
        let hostile = self.config.hostile_labels;
        match (self.sessions[usize::from(session.0)].kind, hostile) {
            (SessionKind::Sql, false) => &SQL_COMMANDS_PLAIN,
            (SessionKind::Sql, true) => &SQL_COMMANDS_ALL_LABELS,
            (SessionKind::WalSender, false) => &WALSENDER_COMMANDS_PLAIN,
            (SessionKind::WalSender, true) => &WALSENDER_COMMANDS_ALL_LABELS,
            (SessionKind::Replication, false) => &REPLICATION_COMMANDS_PLAIN,
            (SessionKind::Replication, true) => &REPLICATION_COMMANDS_ALL_LABELS,
        }
    }

    /// Whether the client may send `command` to the idle `session` now. Every command of the
    /// design's API is offered in every state, refused or not, while the session's command
    /// budget lasts (the server's own checks then refuse what they must); a start also needs a
    /// backup left in the session's budget (a refused start does not use one, so with two a
    /// session can try a second start while its first backup runs). The stop a careful
    /// client owes is offered whatever is left of the budget ([`Cluster::owes_stop`]).
    #[inline]
    fn command_enabled(&self, session: SessionId, command: Command) -> bool {
        let rules = self.rules();
        let state = &self.sessions[usize::from(session.0)];
        if state.pc != Pc::Idle || self.server != ServerState::Running {
            return false;
        }
        let budget_left = state.commands < self.config.commands_per_session;
        let can_start = budget_left && state.starts < self.config.backups_per_session;
        let offered = match command {
            Command::StartBackup { mode, .. } => {
                let mode_ok = match mode {
                    BackupMode::Exclusive => rules.has_exclusive() && self.config.exclusive_backups,
                    BackupMode::NonExclusive => rules.sql_non_exclusive,
                    BackupMode::Streamed => false,
                };
                mode_ok && can_start
            }
            Command::StopBackup {
                mode: BackupMode::Exclusive,
            } => {
                rules.has_exclusive()
                    && self.config.exclusive_backups
                    && (budget_left || self.owes_stop(session, BackupMode::Exclusive))
            }
            Command::StopBackup { mode } => {
                mode == BackupMode::NonExclusive
                    && rules.sql_non_exclusive
                    && (budget_left || self.owes_stop(session, mode))
            }
            Command::BaseBackup { .. } => can_start,
            Command::JitQuery => self.used.jit_queries < self.config.jit_queries,
        };
        offered && self.step_guard(session, self.first_pc(command))
    }

    /// Whether `session`'s client owes the cluster a stop of `mode`: it holds a non-exclusive
    /// backup that is running, or (exclusive) the exclusive backup runs and may be stopped
    /// now (9.6+: its state is IN_PROGRESS; 9.1: its label file is there). Such a stop is what a careful client sends next; it always changes the state, so
    /// offering it beyond the command budget makes no cycle. The simulator's liveness phase
    /// sends only these.
    pub fn owes_stop(&self, session: SessionId, mode: BackupMode) -> bool {
        let Some(s) = self.sessions.get(usize::from(session.0)) else {
            return false;
        };
        match mode {
            BackupMode::NonExclusive => s.backup.and_then(|b| self.backup(b)).is_some_and(|b| {
                b.mode == BackupMode::NonExclusive && b.phase == BackupPhase::Running
            }),
            BackupMode::Exclusive => {
                // 9.6+ claims the backup (IN_PROGRESS to STOPPING); 9.1 reads and removes the
                // label file, whatever the flag says.
                let stoppable = match self.rules().exclusive {
                    crate::variant::ExclusiveRule::StateMachine => {
                        self.shared.exclusive == ExclusiveState::InProgress
                    }
                    _ => self.data_dir.backup_label.is_some(),
                };
                stoppable
                    && self
                        .backups
                        .iter()
                        .any(|b| b.mode == BackupMode::Exclusive && b.phase == BackupPhase::Running)
            }
            BackupMode::Streamed => false,
        }
    }

    /// The step a command's first action performs: the first step of its list that applies
    /// here ([`crate::plan`]).
    #[inline(always)]
    fn first_pc(&self, command: Command) -> Pc {
        let (list, mode) = match command {
            Command::StartBackup { mode, .. } => (ListId::Start, mode),
            Command::BaseBackup { .. } => (ListId::Start, BackupMode::Streamed),
            Command::StopBackup { mode } => (Self::stop_list(mode), mode),
            Command::JitQuery => return Pc::Idle,
        };
        // The list's first step nearly always applies: look no further then.
        match self.variant.plan().list(list).get(0) {
            Some(pc) if self.step_applies(mode, pc) => pc,
            _ => self
                .first_applying(list, mode, 1)
                .map_or(Pc::Idle, |(_, pc)| pc),
        }
    }

    /// The list of the plan a stop of `mode` walks.
    fn stop_list(mode: BackupMode) -> ListId {
        if mode == BackupMode::Exclusive {
            ListId::StopExclusive
        } else {
            ListId::Stop
        }
    }

    /// The list `session`'s next step belongs to.
    fn session_list(&self, session: SessionId) -> ListId {
        let s = self.session(session);
        match plan::facts(s.pc).family {
            Family::Start | Family::None => ListId::Start,
            Family::BaseBackup => ListId::BaseBackup,
            Family::Stop => Self::stop_list(s.mode),
        }
    }

    /// The first step of `list` from `from` on that applies to a command of `mode` here.
    fn first_applying(&self, list: ListId, mode: BackupMode, from: usize) -> Option<(usize, Pc)> {
        let steps = self.variant.plan().list(list).steps();
        (from..steps.len())
            .map(|index| (index, steps[index]))
            .find(|&(_, pc)| self.step_applies(mode, pc))
    }

    /// Whether a step of the plan runs for a command of `mode` in this configuration (what
    /// the plan cannot know: recovery, the kind of backup, archiving).
    #[inline(always)]
    fn step_applies(&self, mode: BackupMode, pc: Pc) -> bool {
        let standby = self.config.standby;
        match pc {
            // In recovery there is no WAL to write: no switch, no end record, no history
            // file (9.6+: "skipped during recovery").
            Pc::StartSwitch | Pc::StopEndRecord | Pc::StopSwitch | Pc::StopWriteHistory => !standby,
            // The set half runs where the check ran under the shared lock.
            Pc::StartUniqueSet => !standby && self.rules().unique_start_check,
            Pc::StartWriteLabel => self.writes_label_file(mode),
            Pc::StopWaitArchive => self.stop_waits_for_archiving(mode),
            Pc::SendStopPoint => mode == BackupMode::Streamed,
            _ => true,
        }
    }

    /// Enters `list` at its first step that applies: that step waits for its own action, or
    /// runs at once where it is only a place for faults and none can strike. `event` is what
    /// the step that led here did; it is what the action reports unless the list ends, when
    /// the command's completion is reported instead.
    fn enter_list(
        &mut self,
        session: SessionId,
        list: ListId,
        from: usize,
        event: EventKind,
    ) -> EventKind {
        let mode = self.session(session).mode;
        let Some((index, pc)) = self.first_applying(list, mode, from) else {
            return match list {
                ListId::Start => self.finish_start(session, LabelPlace::Returned),
                ListId::BaseBackup => self.enter_list(session, ListId::Stop, 0, event),
                ListId::Stop | ListId::StopExclusive => self.finish_stop(session),
            };
        };
        let s = self.session_mut(session);
        s.pc = pc;
        s.at = index as u8;
        if plan::facts(pc).only_a_place_for_faults
            && !self.fault_can_strike(pc)
            && self.wait_over(session, pc)
        {
            // Without a fault the step changes nothing worth an action of its own.
            // Its own event is reported only where it placed the session itself (the stop
            // returning there).
            let taken = self.run_step(session, pc);
            let event = if taken.next == Next::Placed {
                taken.event
            } else {
                event
            };
            return self.advance(session, event, taken.next);
        }
        event
    }

    /// Moves `session` on along its plan after a step that did `event` and said `next`.
    fn advance(&mut self, session: SessionId, event: EventKind, next: Next) -> EventKind {
        match next {
            Next::Placed => event,
            Next::Continue => {
                let list = self.session_list(session);
                let from = usize::from(self.session(session).at) + 1;
                self.enter_list(session, list, from, event)
            }
            Next::Retry => {
                let pc = self.session(session).pc;
                assert!(
                    pc.may_retry(),
                    "{} answered a retry, which the step plan does not list (plan::may_retry)",
                    pc.name()
                );
                let retry = usize::from(self.variant.plan().retry);
                self.enter_list(session, ListId::Start, retry, event)
            }
        }
    }

    /// After a command's checks: `session` enters the command's list; its first step runs at
    /// once, unless it is an I/O step (where a fault can strike before it), which then waits
    /// for its own action.
    pub(crate) fn take_first_step(
        &mut self,
        session: SessionId,
        list: ListId,
        command: Command,
    ) -> EventKind {
        let accepted = EventKind::CommandAccepted { command };
        let event = self.enter_list(session, list, 0, accepted.clone());
        if self.session(session).pc == Pc::Idle || event != accepted {
            return event;
        }
        if self.session(session).pc.does_io() {
            accepted
        } else {
            self.session_step(session)
        }
    }

    fn begin(&mut self, session: SessionId, command: Command) -> EventKind {
        if command != Command::JitQuery {
            let s = self.session_mut(session);
            s.commands = s.commands.saturating_add(1);
        }
        match command {
            Command::StartBackup { mode, label } => self.begin_start(session, mode, label, command),
            Command::BaseBackup { label } => {
                self.begin_start(session, BackupMode::Streamed, label, command)
            }
            Command::StopBackup { mode } => self.begin_stop(session, mode, command),
            Command::JitQuery => {
                self.used.jit_queries += 1;
                self.session_mut(session)
                    .hooks
                    .push(crate::state::Hook::Jit);
                EventKind::JitCallbackRegistered
            }
        }
    }

    /// Whether `session` may take step `pc` now: a waiting step needs its condition, a step
    /// under the exclusive insertion lock needs no shared holder ([`plan::Lock`]).
    #[inline(always)]
    fn step_guard(&self, session: SessionId, pc: Pc) -> bool {
        let lock_free = self.shared.insert_lock_sharers == 0;
        let lock = match plan::facts(pc).lock {
            Lock::InsertionExclusive => lock_free,
            Lock::InsertionAsDesigned => {
                self.rules().unique_check_lock == LockMode::Shared || lock_free
            }
            Lock::None | Lock::ControlFile | Lock::InsertionHeldShared => true,
        };
        lock && self.wait_over(session, pc)
    }

    /// Whether a waiting step's condition holds (true for the steps that do not wait).
    #[inline(always)]
    fn wait_over(&self, session: SessionId, pc: Pc) -> bool {
        match pc {
            Pc::StartWaitCheckpoint => {
                self.checkpointer.done > self.sessions[usize::from(session.0)].ticket
            }
            // The archiver never archives what the stop waits for.
            Pc::StopWaitArchive => !self.config.archive_fails,
            _ => true,
        }
    }

    /// Takes `session`'s next step, then moves it on along its plan.
    fn session_step(&mut self, session: SessionId) -> EventKind {
        let pc = self.sessions[usize::from(session.0)].pc;
        let taken = self.run_step(session, pc);
        self.advance(session, taken.event, taken.next)
    }

    /// Runs step `pc`'s work for `session`.
    fn run_step(&mut self, session: SessionId, pc: Pc) -> Taken {
        match pc {
            Pc::Idle => unreachable!("an idle session has no step; is_enabled refuses it"),
            Pc::StartSwitch => self.step_start_switch(session),
            Pc::StartIncrement => self.step_start_increment(session),
            Pc::StartRequestCheckpoint => self.step_request_checkpoint(session),
            Pc::StartWaitCheckpoint => self.step_wait_checkpoint(session),
            Pc::StartReadControl => self.step_read_control(session),
            Pc::StartUniqueCheck => self.step_unique_check(session),
            Pc::StartUniqueSet => self.step_unique_set(session),
            Pc::StartWriteLabel => self.step_write_label(session),
            Pc::SendStartPoint => self.step_send_start(session),
            Pc::CopyFiles => self.step_copy_files(session),
            Pc::StopClaim => self.step_stop_claim(session),
            Pc::StopReadLabel => self.step_read_label(session),
            Pc::StopDecrement => self.step_stop_decrement(session),
            Pc::StopEndRecord => self.step_end_record(session),
            Pc::StopSwitch => self.step_stop_switch(session),
            Pc::StopWriteHistory => self.step_write_history(session),
            // Places for faults where the stop returns: it is done once the session gets past.
            Pc::StopWaitArchive | Pc::SendStopPoint => Taken::placed(self.finish_stop(session)),
        }
    }

    // ----- helpers shared by the step families -----

    /// Session `session`'s record, to write (marked as written: [`crate::state::Touched`]).
    pub(crate) fn session_mut(&mut self, session: SessionId) -> &mut crate::state::Session {
        self.touched.write(usize::from(session.0));
        &mut self.sessions[usize::from(session.0)]
    }

    pub(crate) fn session(&self, session: SessionId) -> &crate::state::Session {
        &self.sessions[usize::from(session.0)]
    }

    /// The live backups' ghost records, to write (marked: [`crate::state::Touched`]).
    #[inline]
    pub(crate) fn backups_mut(&mut self) -> &mut smallvec::SmallVec<[crate::state::Backup; 4]> {
        self.touched.write_regions(Regions::BACKUPS);
        &mut self.backups
    }

    /// The ghost facts, to write (marked: [`crate::state::Touched`]).
    #[inline]
    pub(crate) fn ghost_mut(&mut self) -> &mut crate::state::Ghost {
        self.touched.write_regions(Regions::GHOST);
        &mut self.ghost
    }

    /// The WAL facts, to write (marked: [`crate::state::Touched`]).
    #[inline]
    pub(crate) fn wal_mut(&mut self) -> &mut crate::state::Wal {
        self.touched.write_regions(Regions::WAL);
        &mut self.wal
    }

    /// The data directory's backup files, to write (marked: [`crate::state::Touched`]).
    #[inline]
    pub(crate) fn data_dir_mut(&mut self) -> &mut crate::state::DataDirectory {
        self.touched.write_regions(Regions::DATA_DIR);
        &mut self.data_dir
    }

    /// A new live backup's ghost record, added at the end of the list (marked:
    /// [`crate::state::Touched`]).
    pub(crate) fn push_backup(&mut self, backup: crate::state::Backup) {
        self.touched.write_backup(self.backups.len());
        self.backups.push(backup);
    }

    /// Ghost bookkeeping on a live backup; nothing if it was retired meanwhile (9.1's stops can
    /// race over one exclusive label, so a stop may refer to a backup another stop ended).
    pub(crate) fn update_backup(
        &mut self,
        id: BackupId,
        update: impl FnOnce(&mut crate::state::Backup),
    ) {
        if let Some(index) = self.backups.iter().position(|b| b.id == id) {
            self.touched.write_backup(index);
            update(&mut self.backups[index]);
        }
    }

    /// Ghost bookkeeping on every live backup: `update` is called on each record and says
    /// whether it wrote it; each record it wrote is marked ([`crate::state::Touched`]).
    pub(crate) fn update_backups(
        &mut self,
        mut update: impl FnMut(&mut crate::state::Backup) -> bool,
    ) {
        let Cluster {
            backups, touched, ..
        } = self;
        for (index, backup) in backups.iter_mut().enumerate() {
            if update(backup) {
                touched.write_backup(index);
            }
        }
    }

    /// Inserts a WAL record of `bytes` at the insert position.
    pub(crate) fn insert_wal(&mut self, bytes: u64) -> InsertedRecord {
        let (record, next) = insert_record(self.seg(), self.shared.insert, bytes);
        self.shared.insert = next;
        record
    }

    /// `RequestXLogSwitch`: ends the current segment, unless nothing was written in it yet,
    /// and flushes WAL up to where the next segment begins (also when the switch writes
    /// nothing: `XLogFlush` of the position it was asked to switch at).
    pub(crate) fn switch_wal(&mut self) -> EventKind {
        let from = self.shared.insert;
        let seg = self.seg();
        if seg.at_segment_start(from) {
            self.flush_wal();
            return EventKind::WalSwitched { from, to: from };
        }
        self.insert_wal(record_bytes::SWITCH);
        let to = seg.next_segment_start(self.shared.insert);
        self.shared.insert = to;
        self.flush_wal();
        EventKind::WalSwitched { from, to }
    }

    /// `XLogFlush` of everything inserted so far.
    pub(crate) fn flush_wal(&mut self) {
        self.wal_mut().flushed = self.shared.insert;
    }

    /// `forcePageWrites = exclusive backup running || counter > 0` (16+ has no flag: the
    /// counter itself is read by inserters).
    pub(crate) fn recompute_forcing(&mut self) {
        if self.rules().forcing == Forcing::Flag {
            self.shared.force_page_writes =
                self.shared.exclusive != ExclusiveState::None || self.shared.backups > 0;
        }
    }

    /// Records a failed `Assert` (the first one is kept); the step then goes on as a release
    /// build would.
    pub(crate) fn fail_assertion(&mut self, assertion: Assertion, session: SessionId) {
        if self.ghost.failed_assertion.is_none() {
            self.ghost_mut().failed_assertion = Some((assertion, session));
        }
    }

    /// `Assert(counter > 0); counter--`, with the ghost's account of whose unit that was.
    pub(crate) fn decrement_counter(&mut self, session: SessionId) {
        if self.shared.backups <= 0 {
            self.fail_assertion(Assertion::CounterPositive, session);
        }
        self.shared.backups -= 1;
        let held = self
            .session(session)
            .backup
            .and_then(|b| self.backup(b))
            .filter(|b| b.mode.counts() && b.unit == Unit::Held)
            .map(|b| b.id);
        match held {
            Some(b) => self.update_backup(b, |b| b.unit = Unit::Released),
            None => {
                if self.ghost.spurious_release.is_none() {
                    self.ghost_mut().spurious_release = Some(session);
                }
            }
        }
    }

    /// The backup holding the exclusive state (ghost). There is at most one: a start takes
    /// the state only when it is free, and every step that frees it releases its holder.
    pub(crate) fn exclusive_holder(&self) -> Option<BackupId> {
        self.backups
            .iter()
            .find(|b| b.mode == BackupMode::Exclusive && b.unit == Unit::Held)
            .map(|b| b.id)
    }

    /// Moves a backup whose copy just ended to `Stopping`.
    pub(crate) fn end_copy(&mut self, id: BackupId) {
        self.update_backup(id, |backup| {
            if backup.phase == BackupPhase::Running {
                backup.phase = BackupPhase::Stopping;
            }
        });
    }

    /// Whether the running command writes a label file at start.
    pub(crate) fn writes_label_file(&self, mode: BackupMode) -> bool {
        mode == BackupMode::Exclusive || self.rules().label_delivery == LabelDelivery::TemporaryFile
    }
}

impl From<SessionId> for crate::action::Actor {
    fn from(session: SessionId) -> Self {
        crate::action::Actor::Session(session)
    }
}

/// The facts outside a session's record that its enabled actions depend on
/// ([`Cluster::session_context`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionContext {
    down: bool,
    server: ServerState,
    insert_lock_sharers: u8,
    exclusive: ExclusiveState,
    faults_left: bool,
    jit_queries_left: bool,
    backup_label: bool,
    exclusive_running: bool,
}

impl SessionContext {
    /// The context as one word, a byte per fact (two contexts are equal exactly when their
    /// words are): a key for lists kept by what they were made from.
    #[inline]
    pub(crate) fn word(&self) -> u64 {
        // Taken apart whole, so that a fact added to the context cannot be left out here.
        let SessionContext {
            down,
            server,
            insert_lock_sharers,
            exclusive,
            faults_left,
            jit_queries_left,
            backup_label,
            exclusive_running,
        } = *self;
        u64::from_le_bytes([
            u8::from(down),
            server as u8,
            insert_lock_sharers,
            exclusive as u8,
            u8::from(faults_left),
            u8::from(jit_queries_left),
            u8::from(backup_label),
            u8::from(exclusive_running),
        ])
    }
}

/// What about a session its enabled actions depend on ([`Cluster::session_facts`]), packed
/// in one word so that the simulator's enabled set compares it, for every session at every
/// step, in one instruction: its step (bits 0-7), its kind (8-15), whether it holds anything
/// (16), has commands left (17), has backups left (18), whether the checkpoint it waits for is
/// done (19), and the backup whose stop it owes (20: there is one; its mode in 24-31, its
/// phase in 32-39).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionFacts(u64);

impl SessionFacts {
    /// The facts as their word (two facts are equal exactly when their words are).
    #[inline]
    pub(crate) fn word(self) -> u64 {
        self.0
    }

    /// The bits that hold the session's step.
    const PC_BITS: u64 = 0xff;
    /// The bit that says the session has commands left.
    const BUDGET_LEFT_BIT: u32 = 17;

    /// Whether these facts read more than the session's own record, the bounds and the
    /// checkpointer's count ([`Cluster::facts_of`]): an idle session with no command left owes
    /// the stop of its backup, whose mode and phase other steps change. A reader that looks
    /// again only at the sessions a step wrote ([`crate::state::Touched`]) must look at these
    /// at every step.
    #[inline]
    pub fn read_a_backup(self) -> bool {
        self.0 & Self::PC_BITS == Pc::Idle as u64 && self.0 & 1 << Self::BUDGET_LEFT_BIT == 0
    }
}

/// What the checkpointer's and the cluster's other enabled actions depend on while the
/// server runs ([`Cluster::cluster_actions_context`]): whether the server refuses to restart,
/// the WAL insertion locks, `full_page_writes`, the checkpointer's request and whether a
/// checkpoint runs, and which of the budgets of timed checkpoints, WAL switches, WAL fills,
/// the primary's `full_page_writes` changes (on a standby), crashes, OS crashes and shutdowns
/// (on a primary) are left (bits 0-6 of `budgets_left`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterActionsContext {
    down: bool,
    insert_lock_free: bool,
    full_page_writes: bool,
    checkpoint_requested: bool,
    checkpoint_in_progress: bool,
    budgets_left: u8,
}

/// What the page writers' enabled actions depend on ([`Cluster::writers_context`]), in one
/// number: for each writer, the page whose lock it holds with a change assembled (7 bits
/// each, writer `i` at bits `7i` up: 0 for an idle writer, the page's number plus one
/// otherwise), then the number of pages (bits 112-118), and whether page writes are left
/// (120), the server runs (121), the WAL insertion locks are free (122) and the server
/// refuses to restart (123). The bounds let no more writers or pages be. The assembled
/// record's own facts (its redo pointer, `doPageWrites`, whether it has an image) decide
/// nothing about which actions are enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WritersContext(u128);

impl WritersContext {
    /// Bits per writer.
    const WRITER_BITS: u32 = 7;
    /// Where the number of pages begins.
    const PAGES_AT: u32 = Self::WRITER_BITS * WRITERS_MAX as u32;

    /// The context folded into one word (equal contexts, equal words): a hash.
    #[inline]
    pub(crate) fn hash_word(self) -> u64 {
        (self.0 as u64) ^ ((self.0 >> 64) as u64).rotate_left(32)
    }
}

// Every writer's page, and the number of pages, fit their bits below the flags.
const _: () = assert!(
    PAGES_MAX < 1 << WritersContext::WRITER_BITS
        && WritersContext::PAGES_AT + WritersContext::WRITER_BITS <= 120
);

/// Where enabled actions are appended.
pub trait ActionSink {
    /// Appends `action`.
    fn push(&mut self, action: Action);
}

impl ActionSink for Vec<Action> {
    #[inline(always)]
    fn push(&mut self, action: Action) {
        Vec::push(self, action);
    }
}

impl<const N: usize> ActionSink for smallvec::SmallVec<[Action; N]> {
    #[inline(always)]
    fn push(&mut self, action: Action) {
        smallvec::SmallVec::push(self, action);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every context that differs in one fact from another has another word: kept lists are
    /// found by it ([`crate::enabled`]), so two contexts sharing a word would share lists.
    #[test]
    fn session_contexts_that_differ_have_different_words() {
        let mut contexts = Vec::new();
        for bits in 0u32..1 << 5 {
            for server in [
                ServerState::Running,
                ServerState::ShuttingDown,
                ServerState::ShutDown,
            ] {
                for exclusive in [
                    ExclusiveState::None,
                    ExclusiveState::Starting,
                    ExclusiveState::InProgress,
                    ExclusiveState::Stopping,
                ] {
                    for insert_lock_sharers in [0, 1, 2, 255] {
                        contexts.push(SessionContext {
                            down: bits & 1 != 0,
                            server,
                            insert_lock_sharers,
                            exclusive,
                            faults_left: bits & 2 != 0,
                            jit_queries_left: bits & 4 != 0,
                            backup_label: bits & 8 != 0,
                            exclusive_running: bits & 16 != 0,
                        });
                    }
                }
            }
        }
        let words: std::collections::BTreeSet<u64> = contexts.iter().map(|c| c.word()).collect();
        assert_eq!(words.len(), contexts.len());
    }
}
