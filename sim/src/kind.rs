//! What kind of step an action is ([`ActionKind`]), the unit in which the simulator weighs
//! its choices and counts its coverage ([`Coverage`]).

use backup_coordinator::state::BackupMode;
use backup_coordinator::{Action, Command, Fault};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The kinds of action, each with a weight in a [`crate::profile::Weights`] and a count in
/// [`Coverage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// `pg_start_backup(.., exclusive)`.
    StartExclusive,
    /// `pg_backup_start()` / a non-exclusive `pg_start_backup`.
    StartNonExclusive,
    /// `BASE_BACKUP` on a WAL sender.
    BaseBackup,
    /// `pg_stop_backup()` / `pg_backup_stop()`.
    Stop,
    /// A busy session's next step.
    Step,
    /// An ERROR at an I/O or send step.
    Error,
    /// A query cancel during a wait.
    Cancel,
    /// The client goes away or the backend is terminated.
    Disconnect,
    /// The checkpointer begins a checkpoint.
    CheckpointBegin,
    /// The checkpointer completes one.
    CheckpointEnd,
    /// A writer assembles a page change.
    PageAssemble,
    /// A writer inserts it (or re-assembles).
    PageInsert,
    /// Someone else switches WAL.
    WalSwitch,
    /// The server crashes and restarts.
    Crash,
    /// A JIT-compiled query registers its own exit callback.
    JitQuery,
    /// Other backends' WAL fills a segment up to one backup-end record's room.
    WalFill,
    /// A fast shutdown is requested.
    Shutdown,
    /// A session is terminated by the shutdown.
    Terminate,
    /// The shutdown checkpoint.
    ShutdownCheckpoint,
    /// The clean restart after a shutdown.
    Restart,
    /// The machine loses power.
    OsCrash,
    /// A standby's primary turns `full_page_writes` off (replayed).
    PrimaryFpwOff,
}

impl ActionKind {
    /// Every kind, in report order.
    pub const ALL: [ActionKind; 22] = [
        ActionKind::StartExclusive,
        ActionKind::StartNonExclusive,
        ActionKind::BaseBackup,
        ActionKind::Stop,
        ActionKind::Step,
        ActionKind::Error,
        ActionKind::Cancel,
        ActionKind::Disconnect,
        ActionKind::CheckpointBegin,
        ActionKind::CheckpointEnd,
        ActionKind::PageAssemble,
        ActionKind::PageInsert,
        ActionKind::WalSwitch,
        ActionKind::Crash,
        ActionKind::JitQuery,
        ActionKind::WalFill,
        ActionKind::Shutdown,
        ActionKind::Terminate,
        ActionKind::ShutdownCheckpoint,
        ActionKind::Restart,
        ActionKind::OsCrash,
        ActionKind::PrimaryFpwOff,
    ];

    /// Number of kinds.
    pub const COUNT: usize = Self::ALL.len();

    /// The kind of `action`.
    pub fn of(action: &Action) -> ActionKind {
        match action {
            Action::Begin { command, .. } => match command {
                Command::StartBackup {
                    mode: BackupMode::Exclusive,
                    ..
                } => ActionKind::StartExclusive,
                Command::StartBackup { .. } => ActionKind::StartNonExclusive,
                Command::BaseBackup { .. } => ActionKind::BaseBackup,
                Command::StopBackup { .. } => ActionKind::Stop,
                Command::JitQuery => ActionKind::JitQuery,
            },
            Action::Step { .. } => ActionKind::Step,
            Action::Fault { fault, .. } => match fault {
                Fault::Error => ActionKind::Error,
                Fault::Cancel => ActionKind::Cancel,
                Fault::Disconnect => ActionKind::Disconnect,
            },
            Action::CheckpointBegin => ActionKind::CheckpointBegin,
            Action::CheckpointEnd => ActionKind::CheckpointEnd,
            Action::PageAssemble { .. } => ActionKind::PageAssemble,
            Action::PageInsert { .. } => ActionKind::PageInsert,
            Action::WalSwitch => ActionKind::WalSwitch,
            Action::WalFill => ActionKind::WalFill,
            Action::Crash => ActionKind::Crash,
            Action::Shutdown => ActionKind::Shutdown,
            Action::Terminate { .. } => ActionKind::Terminate,
            Action::ShutdownCheckpoint => ActionKind::ShutdownCheckpoint,
            Action::Restart => ActionKind::Restart,
            Action::OsCrash => ActionKind::OsCrash,
            Action::PrimaryFpwOff => ActionKind::PrimaryFpwOff,
        }
    }

    /// The stable name (`start-exclusive`, `step`, `crash`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::StartExclusive => "start-exclusive",
            ActionKind::StartNonExclusive => "start-non-exclusive",
            ActionKind::BaseBackup => "base-backup",
            ActionKind::Stop => "stop",
            ActionKind::Step => "step",
            ActionKind::Error => "error",
            ActionKind::Cancel => "cancel",
            ActionKind::Disconnect => "disconnect",
            ActionKind::CheckpointBegin => "checkpoint-begin",
            ActionKind::CheckpointEnd => "checkpoint-end",
            ActionKind::PageAssemble => "page-assemble",
            ActionKind::PageInsert => "page-insert",
            ActionKind::WalSwitch => "wal-switch",
            ActionKind::Crash => "crash",
            ActionKind::JitQuery => "jit-query",
            ActionKind::WalFill => "wal-fill",
            ActionKind::Shutdown => "shutdown",
            ActionKind::Terminate => "terminate",
            ActionKind::ShutdownCheckpoint => "shutdown-checkpoint",
            ActionKind::Restart => "restart",
            ActionKind::OsCrash => "os-crash",
            ActionKind::PrimaryFpwOff => "primary-fpw-off",
        }
    }

    /// True for the kinds the environment injects (they stop in the liveness phase).
    pub fn is_fault(self) -> bool {
        matches!(
            self,
            ActionKind::Error
                | ActionKind::Cancel
                | ActionKind::Disconnect
                | ActionKind::WalSwitch
                | ActionKind::WalFill
                | ActionKind::Crash
                | ActionKind::OsCrash
                | ActionKind::Shutdown
                | ActionKind::PrimaryFpwOff
        )
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An action kind name that is not known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown action kind {0:?}: expected one of {names}", names = ActionKind::ALL.map(ActionKind::name).join(", "))]
pub struct UnknownKind(pub String);

impl FromStr for ActionKind {
    type Err = UnknownKind;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ActionKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| UnknownKind(name.to_string()))
    }
}

/// How often each kind of action ran, and in how many runs each `sometimes` case of the model
/// was reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Steps taken, per kind, in [`ActionKind::ALL`] order.
    pub actions: [u64; ActionKind::COUNT],
    /// Runs that reached each case, in `backup_model::CASES` order.
    pub cases: [u64; backup_model::CASES.len()],
    /// Whether each case applies to the runs' variant and configuration (a case that does
    /// not, such as an exclusive backup in a design without them, is not expected).
    pub cases_apply: [bool; backup_model::CASES.len()],
    /// Backups that ended: stopped successfully, failed (or aborted), lost in a crash.
    pub backups_ended: [u64; 3],
    /// Commands the server refused.
    pub refused: u64,
    /// Runs in which each known finding of the design (in `Property::ALL` order) appeared.
    pub known_findings: [u64; backup_coordinator::invariants::Property::ALL.len()],
    /// Runs whose liveness phase could not settle only because of a known finding seen
    /// earlier in the run (a leaked unit leaves the counter above 0 for good, say; see
    /// `invariants::Unsettled::left_by`): that finding's consequence, not a failure.
    pub unsettled_by_known: u64,
}

/// Reports name every count: `actions` by action kind, `cases` by case (with whether it
/// applies), `backups_ended` by how they ended, `known_findings` by property (schema:
/// `docs/schema/`).
impl Serialize for Coverage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        use std::collections::BTreeMap;
        #[derive(Serialize)]
        struct CaseCount {
            reached: u64,
            applies: bool,
        }
        #[derive(Serialize)]
        struct Ended {
            stopped: u64,
            failed: u64,
            lost: u64,
        }
        let actions: BTreeMap<&str, u64> = self.by_kind().map(|(k, n)| (k.name(), n)).collect();
        let cases: BTreeMap<&str, CaseCount> = backup_model::CASES
            .iter()
            .zip(self.cases.iter().zip(&self.cases_apply))
            .map(|(c, (&reached, &applies))| (c.name, CaseCount { reached, applies }))
            .collect();
        let known: BTreeMap<&str, u64> = backup_coordinator::invariants::Property::ALL
            .iter()
            .zip(&self.known_findings)
            .filter(|(_, &n)| n > 0)
            .map(|(p, &n)| (p.name(), n))
            .collect();
        let mut s = serializer.serialize_struct("Coverage", 6)?;
        s.serialize_field("actions", &actions)?;
        s.serialize_field("cases", &cases)?;
        s.serialize_field(
            "backups_ended",
            &Ended {
                stopped: self.backups_ended[0],
                failed: self.backups_ended[1],
                lost: self.backups_ended[2],
            },
        )?;
        s.serialize_field("refused", &self.refused)?;
        s.serialize_field("known_findings", &known)?;
        s.serialize_field("unsettled_by_known", &self.unsettled_by_known)?;
        s.end()
    }
}

impl Coverage {
    /// Adds another run's (or campaign's) coverage.
    pub fn add(&mut self, other: &Coverage) {
        for (a, b) in self.actions.iter_mut().zip(other.actions) {
            *a += b;
        }
        for (a, b) in self.cases.iter_mut().zip(other.cases) {
            *a += b;
        }
        for (a, b) in self.cases_apply.iter_mut().zip(other.cases_apply) {
            *a |= b;
        }
        for (a, b) in self.backups_ended.iter_mut().zip(other.backups_ended) {
            *a += b;
        }
        self.refused += other.refused;
        for (a, b) in self.known_findings.iter_mut().zip(other.known_findings) {
            *a += b;
        }
        self.unsettled_by_known += other.unsettled_by_known;
    }

    /// Counts the backups a step ended, by how they ended.
    #[inline]
    pub fn count_ended(&mut self, retired: &[backup_coordinator::state::Backup]) {
        use backup_coordinator::state::BackupPhase;
        for backup in retired {
            match backup.phase {
                BackupPhase::Stopped => self.backups_ended[0] += 1,
                BackupPhase::Lost => self.backups_ended[2] += 1,
                _ => self.backups_ended[1] += 1,
            }
        }
    }

    /// Steps taken in all.
    pub fn steps(&self) -> u64 {
        self.actions.iter().sum()
    }

    /// `(kind, count)` pairs.
    pub fn by_kind(&self) -> impl Iterator<Item = (ActionKind, u64)> + '_ {
        ActionKind::ALL
            .into_iter()
            .zip(self.actions.iter().copied())
    }

    /// `(case name, runs that reached it)` pairs, `None` where the case does not apply.
    pub fn by_case(&self) -> impl Iterator<Item = (&'static str, Option<u64>)> + '_ {
        backup_model::CASES
            .iter()
            .zip(self.cases.iter().zip(&self.cases_apply))
            .map(|(c, (&n, &applies))| (c.name, applies.then_some(n)))
    }
}
