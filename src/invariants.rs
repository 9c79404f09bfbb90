//! The properties every run must keep, each a pure function of the [`Cluster`] state that
//! returns a typed [`Violation`] naming the property, the sessions and backups involved, and
//! the LSNs. They are defined here once; the loom tests, the model and the simulator call
//! them through [`INVARIANTS`] / [`check`] / [`check_all`].
//!
//! Numbers follow PROTOCOL.md §8 (I1–I8); the rest are this project's additions. The checks
//! read the state's ghost facts (the [`Backup`] table and [`crate::state::Ghost`]), which the
//! steps record and never read.

use crate::lsn::Lsn;
use crate::state::{
    Backup, BackupId, BackupMode, BackupPhase, Cluster, ExclusiveState, Pc, Regions,
    SessionBackupState, SessionId, Unit,
};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::fmt;
use thiserror::Error;

/// A property the coordinator must keep. Written in JSON by its [`Property::name`], the one
/// spelling every report uses (the older kebab-case variant names are still read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "PropertyName")]
pub enum Property {
    /// I1: the shared counter equals the number of counted backups that hold a unit and is
    /// never negative; the exclusive state is taken exactly while an exclusive backup holds it.
    CounterMatchesBackups,
    /// I2: `forcePageWrites` equals "an exclusive backup or a counted one runs", and page
    /// writes are forced (or full_page_writes is on) whenever any backup is between its
    /// increment and the end of its copy.
    ForcingWhileBackupRuns,
    /// I3: no backup that stopped successfully had an unprotected first change to a page after
    /// its start point while it was starting or copying (checked end to end, on page LSNs).
    NoTornPageInStoppedBackup,
    /// I4: start points that passed the uniqueness check are pairwise distinct, and each
    /// backup-end record carries a start point no other end record carries.
    UniqueStartPoints,
    /// I4: no backup history file is written twice.
    HistoryFilesNeverOverwritten,
    /// I5: at most one exclusive backup is starting or running at a time.
    ExclusiveBackupAlone,
    /// I5: `backup_label` exists only while the exclusive state is taken or a stop of the
    /// exclusive backup is between giving the state back and removing the file.
    NoStaleBackupLabel,
    /// I6 (designs with a session state): a session says it runs a non-exclusive backup
    /// exactly when it holds a unit of the counter for a backup that runs.
    SessionStateMatchesUnit,
    /// I7: every unit is given back exactly once: no decrement without a held unit, and no
    /// unit left held by a backup that failed or ended.
    UnitsReleasedOnce,
    /// I8: an accepted start point is a real WAL record position (not beyond the insert
    /// position), and the label's `(file ...)` names it on the start checkpoint's timeline
    /// (never 0): the file holding the start point.
    StartPointIsRealWal,
    /// The label a backup was given survives being written into its backup_label and read
    /// back (a newline, carriage return or NUL in the user's label does not).
    LabelsRoundTrip,
    /// No backup's copy or label carries another backup's label: not the exclusive
    /// backup_label, not another backup's temporary label file; and every temporary label
    /// file its session created is still its own.
    LabelsNeverShared,
    /// No `Assert` of PostgreSQL's fails (debug builds would crash).
    AssertionsHold,
    /// A crash never leaves a data directory that refuses to restart.
    RestartSucceeds,
    /// I9: a backup that stopped successfully, restored and recovered from its label, is
    /// declared consistent exactly at its own end: at the first backup-end record after its
    /// start point that carries its start point (a standby's backup: at its
    /// `minRecoveryPoint`), which lies beyond the end of its copy; a backup whose copy never
    /// completed is never declared consistent. (Its pages then equal the source's as of that
    /// point; I3 adds that each was repaired by an image.)
    RestoreReachesConsistency,
    /// The history file of a backup that stopped successfully describes it: named after its
    /// start point, written by its own stop, and its START, STOP (the end of its backup-end
    /// record, in the segment that holds that record's last byte), CHECKPOINT, LABEL, method
    /// and timelines are the backup's facts.
    HistoryFileDescribesBackup,
    /// A backup reported started keeps its `backup_label` or temporary label file, and one
    /// reported stopped keeps its history file (with archive_mode on) and the removal of its
    /// `backup_label`, across an OS crash: each was made durable (fsync of the file and of
    /// its directory, or archived) before the report.
    ReportedFilesSurviveOsCrash,
}

impl Property {
    /// The parts of the cluster the property's invariant reads (besides the bounds and the
    /// design, which no step changes): where a step wrote none of them, an invariant that
    /// held before it holds after it ([`StepCheck`]). A test swaps every other part between
    /// states of the same run and finds the verdict unchanged.
    pub const fn reads(self) -> Regions {
        const B: Regions = Regions::BACKUPS;
        const G: Regions = Regions::GHOST;
        match self {
            Property::CounterMatchesBackups => B.union(G).union(Regions::SHARED),
            Property::ForcingWhileBackupRuns => B.union(Regions::SHARED),
            Property::NoTornPageInStoppedBackup => B.union(G),
            Property::UniqueStartPoints => B.union(G).union(Regions::WAL),
            Property::HistoryFilesNeverOverwritten => Regions::DATA_DIR,
            Property::ExclusiveBackupAlone => B,
            Property::NoStaleBackupLabel => Regions::DATA_DIR
                .union(G)
                .union(Regions::SHARED)
                .union(Regions::SESSIONS),
            Property::SessionStateMatchesUnit => B.union(Regions::SESSIONS),
            Property::UnitsReleasedOnce => B.union(G),
            Property::StartPointIsRealWal => B.union(Regions::WAL_POSITIONS).union(Regions::WAL),
            Property::LabelsRoundTrip => B.union(G),
            Property::LabelsNeverShared => {
                B.union(G).union(Regions::SESSIONS).union(Regions::DATA_DIR)
            }
            Property::AssertionsHold => G,
            Property::RestartSucceeds => G,
            Property::RestoreReachesConsistency => {
                B.union(G).union(Regions::WAL).union(Regions::CONTROL)
            }
            Property::HistoryFileDescribesBackup => {
                B.union(G).union(Regions::WAL).union(Regions::DATA_DIR)
            }
            Property::ReportedFilesSurviveOsCrash => B.union(G).union(Regions::DATA_DIR),
        }
    }

    /// Every property, in check order.
    pub const ALL: [Property; 17] = [
        Property::CounterMatchesBackups,
        Property::ForcingWhileBackupRuns,
        Property::NoTornPageInStoppedBackup,
        Property::UniqueStartPoints,
        Property::HistoryFilesNeverOverwritten,
        Property::ExclusiveBackupAlone,
        Property::NoStaleBackupLabel,
        Property::SessionStateMatchesUnit,
        Property::UnitsReleasedOnce,
        Property::StartPointIsRealWal,
        Property::LabelsRoundTrip,
        Property::LabelsNeverShared,
        Property::AssertionsHold,
        Property::RestartSucceeds,
        Property::RestoreReachesConsistency,
        Property::HistoryFileDescribesBackup,
        Property::ReportedFilesSurviveOsCrash,
    ];

    /// The stable name used in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Property::CounterMatchesBackups => "counter matches backups",
            Property::ForcingWhileBackupRuns => "page writes forced while a backup runs",
            Property::NoTornPageInStoppedBackup => "no torn page in a stopped backup",
            Property::UniqueStartPoints => "unique start points",
            Property::HistoryFilesNeverOverwritten => "history files never overwritten",
            Property::ExclusiveBackupAlone => "exclusive backup alone",
            Property::NoStaleBackupLabel => "no stale backup_label",
            Property::SessionStateMatchesUnit => "session state matches unit",
            Property::UnitsReleasedOnce => "units released exactly once",
            Property::StartPointIsRealWal => "start point is real WAL",
            Property::LabelsRoundTrip => "labels round-trip",
            Property::LabelsNeverShared => "labels never shared",
            Property::AssertionsHold => "assertions hold",
            Property::RestartSucceeds => "restart succeeds",
            Property::RestoreReachesConsistency => "restore reaches consistency at its own end",
            Property::HistoryFileDescribesBackup => "history file describes its backup",
            Property::ReportedFilesSurviveOsCrash => "reported files survive an OS crash",
        }
    }

    /// The property's number in PROTOCOL.md §8, where it has one.
    pub fn protocol_number(self) -> Option<&'static str> {
        match self {
            Property::CounterMatchesBackups => Some("I1"),
            Property::ForcingWhileBackupRuns => Some("I2"),
            Property::NoTornPageInStoppedBackup => Some("I3"),
            Property::UniqueStartPoints | Property::HistoryFilesNeverOverwritten => Some("I4"),
            Property::ExclusiveBackupAlone | Property::NoStaleBackupLabel => Some("I5"),
            Property::SessionStateMatchesUnit => Some("I6"),
            Property::UnitsReleasedOnce => Some("I7"),
            Property::StartPointIsRealWal => Some("I8"),
            Property::RestoreReachesConsistency => Some("I9"),
            _ => None,
        }
    }
}

impl Serialize for Property {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A property as JSON spells it: its name, or (older files) its kebab-case variant name.
#[derive(Deserialize)]
#[serde(untagged)]
enum PropertyName {
    Name(String),
}

impl TryFrom<PropertyName> for Property {
    type Error = String;

    fn try_from(PropertyName::Name(text): PropertyName) -> Result<Self, Self::Error> {
        Property::ALL
            .into_iter()
            .find(|p| p.name() == text || p.kebab_name() == text)
            .ok_or_else(|| format!("{text:?} names no property"))
    }
}

impl Property {
    /// The variant's kebab-case name (the spelling of files written before names were used).
    fn kebab_name(self) -> String {
        let debug = format!("{self:?}");
        let mut out = String::new();
        for (i, c) in debug.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('-');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken property, with what is involved.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
#[error("{property}: {detail}")]
pub struct Violation {
    /// Which property.
    pub property: Property,
    /// Sessions involved.
    pub sessions: Vec<SessionId>,
    /// Backups involved.
    pub backups: Vec<BackupId>,
    /// LSNs involved.
    pub lsns: Vec<Lsn>,
    /// What is wrong, in a sentence.
    pub detail: String,
}

impl Violation {
    fn new(property: Property, detail: String) -> Self {
        Violation {
            property,
            sessions: Vec::new(),
            backups: Vec::new(),
            lsns: Vec::new(),
            detail,
        }
    }

    fn sessions(mut self, sessions: impl IntoIterator<Item = SessionId>) -> Self {
        self.sessions.extend(sessions);
        self
    }

    fn backups(mut self, backups: impl IntoIterator<Item = BackupId>) -> Self {
        self.backups.extend(backups);
        self
    }

    fn lsns(mut self, lsns: impl IntoIterator<Item = Lsn>) -> Self {
        self.lsns.extend(lsns);
        self
    }
}

/// An invariant: a pure function of the state.
pub type Invariant = fn(&Cluster) -> Result<(), Violation>;

/// Every invariant, in check order.
pub const INVARIANTS: [(Property, Invariant); 17] = [
    (Property::CounterMatchesBackups, counter_matches_backups),
    (Property::ForcingWhileBackupRuns, forcing_while_backup_runs),
    (
        Property::NoTornPageInStoppedBackup,
        no_torn_page_in_stopped_backup,
    ),
    (Property::UniqueStartPoints, unique_start_points),
    (
        Property::HistoryFilesNeverOverwritten,
        history_files_never_overwritten,
    ),
    (Property::ExclusiveBackupAlone, exclusive_backup_alone),
    (Property::NoStaleBackupLabel, no_stale_backup_label),
    (
        Property::SessionStateMatchesUnit,
        session_state_matches_unit,
    ),
    (Property::UnitsReleasedOnce, units_released_once),
    (Property::StartPointIsRealWal, start_point_is_real_wal),
    (Property::LabelsRoundTrip, labels_round_trip),
    (Property::LabelsNeverShared, labels_never_shared),
    (Property::AssertionsHold, assertions_hold),
    (Property::RestartSucceeds, restart_succeeds),
    (
        Property::RestoreReachesConsistency,
        restore_reaches_consistency,
    ),
    (
        Property::HistoryFileDescribesBackup,
        history_file_describes_backup,
    ),
    (
        Property::ReportedFilesSurviveOsCrash,
        reported_files_survive_os_crash,
    ),
];

/// The first violated invariant, in [`INVARIANTS`] order.
pub fn check(cluster: &Cluster) -> Result<(), Violation> {
    check_except(cluster, PropertySet::EMPTY)
}

/// A set of properties (a design's known findings, say).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PropertySet(u32);

impl PropertySet {
    /// No property.
    pub const EMPTY: PropertySet = PropertySet(0);

    /// Whether `property` is in the set.
    pub fn contains(self, property: Property) -> bool {
        self.0 & (1 << property as u32) != 0
    }

    /// Adds `property`.
    pub fn insert(&mut self, property: Property) {
        self.0 |= 1 << property as u32;
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The properties, in [`Property::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Property> {
        Property::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Property> for PropertySet {
    fn from_iter<I: IntoIterator<Item = Property>>(iter: I) -> Self {
        let mut set = PropertySet::EMPTY;
        iter.into_iter().for_each(|p| set.insert(p));
        set
    }
}

/// The first violated invariant outside `skip`, in [`INVARIANTS`] order.
///
/// The invariants that are nothing but their per-backup check ([`ONLY_PER_BACKUP`]) are
/// first answered together, in one pass over the backups ([`per_backup_checks_hold`]); when
/// that pass finds nothing, as at nearly every step of a run, they are not asked one by one
/// (each would pass), and otherwise every invariant is asked in order, so the answer is the
/// same either way.
pub fn check_except(cluster: &Cluster, skip: PropertySet) -> Result<(), Violation> {
    let asked_per_backup = ONLY_PER_BACKUP.0 & !skip.0 != 0;
    let skip = if !asked_per_backup || per_backup_checks_hold(cluster, skip) {
        PropertySet(skip.0 | ONLY_PER_BACKUP.0)
    } else {
        skip
    };
    INVARIANTS
        .iter()
        .filter(|(p, _)| !skip.contains(*p))
        .try_for_each(|(_, invariant)| invariant(cluster))
}

/// Whether the session-scoped forms ([`SessionScope`]) of the properties of `narrowed` all
/// hold about the sessions of `scope`.
#[inline]
fn scoped_hold(cluster: &Cluster, narrowed: PropertySet, scope: SessionScope) -> bool {
    let asks = |p: Property| narrowed.contains(p);
    (!asks(Property::SessionStateMatchesUnit)
        || session_state_matches_unit_within(cluster, scope).is_ok())
        && (!asks(Property::LabelsNeverShared)
            || labels_never_shared_within(cluster, scope).is_ok())
}

/// The sessions an invariant with a session-scoped form looks at: after a step that wrote,
/// of everything the invariant reads, only some session records, only what involves those
/// sessions can have broken (everything else is as it was, and held), and that is all it
/// asks. [`SessionScope::ALL`] is the invariant itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SessionScope(u64);

impl SessionScope {
    /// Every session: the whole invariant.
    const ALL: SessionScope = SessionScope(u64::MAX);

    /// Whether session `index` is looked at (every session from the 65th on is: a step's
    /// marks do not tell them apart).
    #[inline]
    fn has(self, index: usize) -> bool {
        index >= 64 || self.0 & (1 << index) != 0
    }

    /// Whether this is the whole invariant.
    #[inline]
    fn is_all(self) -> bool {
        self == Self::ALL
    }

    /// Calls `visit` with the index of each session of the scope among the first `count`, in
    /// order, up to its first error: after a step, that is the one or two sessions it wrote,
    /// found from the bits without walking past the others.
    #[inline]
    fn try_each(
        self,
        count: usize,
        mut visit: impl FnMut(usize) -> Result<(), Violation>,
    ) -> Result<(), Violation> {
        if self.is_all() || count > 64 {
            return (0..count).filter(|&i| self.has(i)).try_for_each(visit);
        }
        let mut bits = self.0 & u64::MAX.checked_shr(64 - count as u32).unwrap_or(0);
        while bits != 0 {
            let index = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            visit(index)?;
        }
        Ok(())
    }
}

/// The live backup records an invariant with a backup-scoped form looks at: after a step
/// that wrote, of everything the invariant reads, only some backup records (or added them),
/// only what involves those records can have broken, and that is all it asks. Bit `i` is the
/// record at index `i` of [`Cluster::backups`]; the records from the 17th on are always looked
/// at ([`crate::state::Touched::backups`] does not tell them apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BackupScope(u16);

impl BackupScope {
    /// The records of the scope with their indices, in list order.
    #[inline]
    fn records(self, cluster: &Cluster) -> impl Iterator<Item = (usize, &Backup)> {
        cluster
            .backups
            .iter()
            .enumerate()
            .filter(move |&(index, _)| index >= 16 || self.0 & (1 << index) != 0)
    }
}

/// The properties with a backup-scoped form ([`BackupScope`], [`backup_scoped_hold`]).
const BACKUP_SCOPED: PropertySet = PropertySet(
    ONLY_PER_BACKUP.0
        | 1 << Property::UnitsReleasedOnce as u32
        | 1 << Property::UniqueStartPoints as u32
        | 1 << Property::StartPointIsRealWal as u32
        | 1 << Property::ExclusiveBackupAlone as u32,
);

/// Whether the backup-scoped forms of the properties of `narrowed` all hold about the
/// backup records of `scope`. Each is asked only where the step wrote, of what the property
/// reads, nothing but backup records, so everything else it reads (the latched findings, the
/// retired start points, the end records, the WAL's positions, the data directory) is as it
/// was when it held.
#[inline]
fn backup_scoped_hold(cluster: &Cluster, narrowed: PropertySet, scope: BackupScope) -> bool {
    if narrowed.is_empty() {
        return true;
    }
    let asks = |p: Property| narrowed.contains(p);
    let counted = |b: &Backup| b.accepted && !b.from_standby;
    let running_exclusive = |b: &Backup| b.mode == BackupMode::Exclusive && b.needs_forcing();
    scope.records(cluster).all(|(index, backup)| {
        let per_backup_holds =
            |p: Property| !asks(p) || backup_problem(cluster, backup, p).is_none();
        PER_BACKUP.into_iter().all(per_backup_holds)
            && (!asks(Property::UniqueStartPoints)
                || !counted(backup)
                || (cluster
                    .ghost
                    .retired_starts
                    .binary_search(&backup.start)
                    .is_err()
                    && !cluster.backups.iter().enumerate().any(|(j, other)| {
                        j != index && counted(other) && other.start == backup.start
                    })))
            && (!asks(Property::StartPointIsRealWal)
                || start_point_violation(cluster, backup).is_none())
            && (!asks(Property::ExclusiveBackupAlone)
                || !running_exclusive(backup)
                || cluster
                    .backups
                    .iter()
                    .filter(|b| running_exclusive(b))
                    .count()
                    <= 1)
    })
}

/// The properties with a session-scoped form ([`SessionScope`]).
const SESSION_SCOPED: PropertySet = PropertySet(
    1 << Property::SessionStateMatchesUnit as u32 | 1 << Property::LabelsNeverShared as u32,
);

/// For each set of written parts ([`Regions::bits`]), the properties that read none of them.
const UNREAD_BY: [PropertySet; 256] = {
    let mut table = [PropertySet::EMPTY; 256];
    let mut bits = 0;
    while bits < 256 {
        let written = Regions::from_bits(bits as u8);
        let mut set = 0u32;
        let mut i = 0;
        while i < Property::ALL.len() {
            if !Property::ALL[i].reads().meets(written) {
                set |= 1 << Property::ALL[i] as u32;
            }
            i += 1;
        }
        table[bits] = PropertySet(set);
        bits += 1;
    }
    table
};

/// The invariants' check after each step of a run (the simulator's), asking only the
/// invariants that read a part of the cluster the step wrote ([`Property::reads`],
/// [`crate::state::Touched::regions`]): an invariant is a pure function of the state, so
/// one that held before a step that left everything it reads as it was holds after it.
/// Where a step wrote, of what an invariant with a session-scoped form reads, only session
/// records, that form is asked about those sessions first ([`SessionScope`]); where it
/// wrote, of what one with a backup-scoped form reads, only live backup records, that form
/// is asked about those records first ([`BackupScope`]). Where the
/// cluster is not exactly one step past a check that found nothing (the first check, a check
/// that found something, a cluster changed otherwise), every invariant is asked. The answer
/// is always [`check_except`]'s (a test holds it to that at every step of walks through every
/// design and bug).
#[derive(Clone, Copy, Debug, Default)]
pub struct StepCheck {
    /// The cluster's step count at the last check that found nothing.
    passed_at: Option<u64>,
}

impl StepCheck {
    /// A check that has seen nothing yet (its first answer asks every invariant).
    pub fn new() -> Self {
        StepCheck::default()
    }

    /// The first violated invariant outside `skip`, in [`INVARIANTS`] order, where
    /// `cluster` stands.
    #[inline]
    pub fn check_except(&mut self, cluster: &Cluster, skip: PropertySet) -> Result<(), Violation> {
        let touched = cluster.touched();
        let answer = match touched.written_one_step_after(self.passed_at) {
            Some(written) => {
                let unread = UNREAD_BY[usize::from(written.bits())];
                let skip = PropertySet(skip.0 | unread.0);
                // Where the step wrote, of what an invariant with a session-scoped
                // (backup-scoped) form reads, only session (backup) records, that form is
                // asked about those records; where one finds something, every invariant is
                // asked in order, for the first one broken.
                let narrowed_to = |part: Regions, scoped: PropertySet| {
                    let other_parts = written.bits() & !part.bits();
                    PropertySet(UNREAD_BY[usize::from(other_parts)].0 & scoped.0 & !skip.0)
                };
                let by_sessions = narrowed_to(Regions::SESSIONS, SESSION_SCOPED);
                let by_backups = narrowed_to(Regions::BACKUPS, BACKUP_SCOPED);
                let narrowed = PropertySet(by_sessions.0 | by_backups.0);
                if !narrowed.is_empty()
                    && scoped_hold(cluster, by_sessions, SessionScope(touched.sessions()))
                    && backup_scoped_hold(cluster, by_backups, BackupScope(touched.backups()))
                {
                    check_except(cluster, PropertySet(skip.0 | narrowed.0))
                } else {
                    check_except(cluster, skip)
                }
            }
            None => check_except(cluster, skip),
        };
        self.passed_at = answer.is_ok().then_some(touched.steps());
        answer
    }
}

/// The invariants whose whole check is [`per_backup`]'s: a finding of [`backup_problem`] on a
/// live backup, or one latched on a retired backup.
pub const ONLY_PER_BACKUP: PropertySet = PropertySet(
    1 << Property::NoTornPageInStoppedBackup as u32
        | 1 << Property::LabelsRoundTrip as u32
        | 1 << Property::RestoreReachesConsistency as u32
        | 1 << Property::HistoryFileDescribesBackup as u32
        | 1 << Property::ReportedFilesSurviveOsCrash as u32,
);

/// Whether no property of [`ONLY_PER_BACKUP`] outside `skip` has a finding: none latched, and
/// [`backup_problem`] finds nothing on any live backup (one pass over the backups, each
/// property's test inlined).
#[inline]
fn per_backup_checks_hold(cluster: &Cluster, skip: PropertySet) -> bool {
    let asked = |p: Property| ONLY_PER_BACKUP.contains(p) && !skip.contains(p);
    if cluster.ghost.latched.iter().any(|l| asked(l.property)) {
        return false;
    }
    let holds = |b: &Backup, p: Property| !asked(p) || backup_problem(cluster, b, p).is_none();
    cluster.backups.iter().all(|b| {
        holds(b, Property::NoTornPageInStoppedBackup)
            && holds(b, Property::LabelsRoundTrip)
            && holds(b, Property::RestoreReachesConsistency)
            && holds(b, Property::HistoryFileDescribesBackup)
            && holds(b, Property::ReportedFilesSurviveOsCrash)
    })
}

/// Every violated invariant.
pub fn check_all(cluster: &Cluster) -> Vec<Violation> {
    INVARIANTS
        .iter()
        .filter_map(|(_, invariant)| invariant(cluster).err())
        .collect()
}

/// The invariant function of `property`.
pub fn invariant(property: Property) -> Invariant {
    // INVARIANTS lists the properties in declaration order (a test checks it).
    INVARIANTS[property as usize].1
}

fn ids(cluster: &Cluster, pred: impl Fn(&Backup) -> bool) -> Vec<BackupId> {
    cluster
        .backups
        .iter()
        .filter(|b| pred(b))
        .map(|b| b.id)
        .collect()
}

/// What exactly a per-backup finding is (kept with a latched finding, whose backup is gone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    /// The property's own statement says it all.
    General,
    /// Restore: no backup-end record after its start point carries its start point (or a
    /// standby's stop point is missing): recovery never declares the restored cluster
    /// consistent ("WAL ends before end of online backup").
    NeverConsistent,
    /// Restore: the first backup-end record carrying its start point (or a standby's
    /// `minRecoveryPoint`) lies before its copy ended: the restored cluster is declared
    /// consistent while pages copied later are ahead of it.
    ConsistentTooEarly,
    /// Restore: its copy never completed, yet a backup-end record carries its start point, so
    /// a restore of that incomplete copy would be declared consistent.
    IncompleteCopyConsistent,
    /// Restore: its backup-end record was written after the shutdown checkpoint, so the restart
    /// overwrites it and no restore of the backup is ever declared consistent.
    EndRecordDiscarded,
    /// Restore: its backup-end record was not flushed when the stop reported success: an OS
    /// crash loses it, and the restore is never declared consistent.
    EndRecordNotFlushed,
    /// Restore: the stop point the stop returned precedes the end of the backup-end record
    /// where its restore is declared consistent (the client fetches WAL up to it).
    StopPointNotItsEnd,
    /// Durability: its `backup_label` is not durable although its start returned.
    LabelNotDurable,
    /// Durability: its temporary label file is not durable although its start returned.
    TempLabelNotDurable,
    /// Durability: its history file is neither durable nor archived although its stop returned.
    HistoryNotDurable,
    /// Durability: its `backup_label` was removed without an fsync of the data directory
    /// although its stop returned: an OS crash brings the label back.
    LabelRemovalNotDurable,
    /// History: no history file is named after its start point.
    HistoryMissing,
    /// History: the file named after its start point was written by another backup's stop.
    HistoryNotItsOwn,
    /// History: the file's text does not parse.
    HistoryUnreadable,
    /// History: START WAL LOCATION (or its file) is not its start point.
    HistoryStart,
    /// History: STOP WAL LOCATION is not the end of its backup-end record.
    HistoryStop,
    /// History: the STOP WAL LOCATION's file is not the segment holding the last byte of its
    /// backup-end record.
    HistoryStopFile,
    /// History: CHECKPOINT LOCATION is not its start checkpoint.
    HistoryCheckpoint,
    /// History: LABEL is not the user's label.
    HistoryLabel,
    /// History: START TIMELINE or STOP TIMELINE is not the cluster's timeline.
    HistoryTimeline,
    /// History: BACKUP METHOD does not say how the backup was taken.
    HistoryMethod,
}

impl Problem {
    /// One sentence about backup `id`.
    pub fn describe(self, id: BackupId) -> String {
        match self {
            Problem::General => String::new(),
            Problem::NeverConsistent => format!("no backup-end record after {id}'s start point carries it: its restore is never declared consistent (WAL ends before end of online backup)"),
            Problem::ConsistentTooEarly => format!("the backup-end record that ends {id}'s recovery lies before its copy ended: its restore is declared consistent too early"),
            Problem::IncompleteCopyConsistent => format!("{id}'s copy never completed, yet a backup-end record carries its start point: a restore of the incomplete copy is declared consistent"),
            Problem::StopPointNotItsEnd => format!("{id}'s stop returned a stop point before the end of the backup-end record its restore waits for: WAL fetched up to it never makes the restore consistent"),
            Problem::EndRecordNotFlushed => format!("{id}'s backup-end record was not flushed when its stop reported success: an OS crash loses it and its restore is never declared consistent"),
            Problem::LabelNotDurable => format!("{id}'s start returned but its backup_label is not durable (no fsync of the file or of the data directory): an OS crash can lose it"),
            Problem::TempLabelNotDurable => format!("{id}'s start returned but its temporary label file is not durable: an OS crash can lose it"),
            Problem::HistoryNotDurable => format!("{id}'s stop returned but its history file is neither fsynced nor archived: an OS crash can lose it"),
            Problem::LabelRemovalNotDurable => format!("{id}'s stop returned but the removal of its backup_label was not made durable: after an OS crash the label is back"),
            Problem::EndRecordDiscarded => format!("{id}'s backup-end record follows the shutdown checkpoint: the restart overwrites it and its restore is never declared consistent"),
            Problem::HistoryMissing => format!("{id} stopped successfully but no history file is named after its start point"),
            Problem::HistoryNotItsOwn => format!("the history file named after {id}'s start point was written by another backup's stop"),
            Problem::HistoryUnreadable => format!("{id}'s history file does not parse"),
            Problem::HistoryStart => format!("{id}'s history file's START WAL LOCATION is not its start point"),
            Problem::HistoryStop => format!("{id}'s history file's STOP WAL LOCATION is not the end of its backup-end record"),
            Problem::HistoryStopFile => format!("{id}'s history file names a STOP WAL file that does not hold the last byte of its backup-end record"),
            Problem::HistoryCheckpoint => format!("{id}'s history file's CHECKPOINT LOCATION is not its start checkpoint"),
            Problem::HistoryLabel => format!("{id}'s history file's LABEL is not the user's label"),
            Problem::HistoryTimeline => format!("{id}'s history file's START or STOP TIMELINE is not the cluster's timeline"),
            Problem::HistoryMethod => format!("{id}'s history file's BACKUP METHOD does not say how it was taken"),
        }
    }
}

/// What is wrong with one backup on its own under `property`, if anything (checked while it
/// lives, and once more when it is retired, where the finding is latched): a torn page in a
/// backup that stopped successfully, a unit it never gave back, a label that does not
/// round-trip, a label that is not its own, a restore that is not consistent at its own end, a
/// history file that does not describe it, a reported file an OS crash can lose.
///
/// Inlined into each caller, where `property` is a constant: the search and the simulator
/// ask it for every live backup and property at every state, and a call that dispatched on
/// `property` each time was an eighth of a simulator step.
#[inline(always)]
pub fn backup_problem(cluster: &Cluster, backup: &Backup, property: Property) -> Option<Problem> {
    let general = |broken: bool| broken.then_some(Problem::General);
    match property {
        Property::NoTornPageInStoppedBackup => {
            general(backup.phase == BackupPhase::Stopped && backup.torn)
        }
        Property::UnitsReleasedOnce => {
            general(backup.unit == Unit::Held && !backup.phase.is_live())
        }
        Property::LabelsRoundTrip => general(
            backup.label_handed_out
                && !backup
                    .label
                    .survives_round_trip(cluster.rules().label_format),
        ),
        Property::LabelsNeverShared => general(backup.picked_up.is_some()),
        Property::RestoreReachesConsistency => restore_problem(cluster, backup),
        Property::HistoryFileDescribesBackup => history_problem(cluster, backup),
        Property::ReportedFilesSurviveOsCrash => durability_problem(cluster, backup),
        _ => None,
    }
}

/// The properties [`backup_problem`] can report.
pub const PER_BACKUP: [Property; 7] = [
    Property::NoTornPageInStoppedBackup,
    Property::UnitsReleasedOnce,
    Property::LabelsRoundTrip,
    Property::LabelsNeverShared,
    Property::RestoreReachesConsistency,
    Property::HistoryFileDescribesBackup,
    Property::ReportedFilesSurviveOsCrash,
];

/// The backup-end record that ends the recovery of a backup with start point `start`:
/// recovery replays from the start point and stops at the first backup-end record that
/// carries it. Its location and end.
pub fn consistency_record(cluster: &Cluster, start: Lsn) -> Option<crate::lsn::InsertedRecord> {
    let at = cluster
        .wal
        .end_records
        .iter()
        .filter(|&&(at, carried)| carried == start && at >= start)
        .map(|&(at, _)| at)
        .min()?;
    let (record, _) =
        crate::lsn::insert_record(cluster.seg(), at, crate::lsn::record_bytes::BACKUP_END);
    Some(record)
}

/// I9 for one finished backup (asked of every live backup at every state: the test that
/// answers most of them is inlined, the rest is not).
#[inline(always)]
fn restore_problem(cluster: &Cluster, backup: &Backup) -> Option<Problem> {
    if !backup.is_finished() {
        return None;
    }
    finished_restore_problem(cluster, backup)
}

#[inline(never)]
fn finished_restore_problem(cluster: &Cluster, backup: &Backup) -> Option<Problem> {
    // Recovery knows a backup was taken on a standby only from its label's BACKUP FROM line
    // (`label_misstates`, for "start point is real WAL", holds the line to the backup where
    // the format has it); a label without the line is restored as a primary's backup, which
    // waits for its end record.
    if backup.from_standby && cluster.rules().label_format.backup_from.is_some() {
        // A standby's backup has no end record: recovery is consistent at minRecoveryPoint,
        // the stop point the stop returned.
        if backup.phase != BackupPhase::Stopped {
            return None;
        }
        if !backup.stop.is_valid() {
            return Some(Problem::NeverConsistent);
        }
        return (backup.stop < backup.copied_to).then_some(Problem::ConsistentTooEarly);
    }
    match backup.phase {
        BackupPhase::Stopped => match consistency_record(cluster, backup.start) {
            None => Some(Problem::NeverConsistent),
            Some(_) if backup.early_end_record => Some(Problem::ConsistentTooEarly),
            // The client fetches WAL up to the stop point it was given.
            Some(record) if record.end > backup.stop => Some(Problem::StopPointNotItsEnd),
            Some(record) if record.end > cluster.wal.flushed => Some(Problem::EndRecordNotFlushed),
            // After the shutdown checkpoint, WAL is written on from its end at restart.
            Some(record)
                if cluster.server == crate::state::ServerState::ShutDown
                    && record.start > cluster.control.checkpoint =>
            {
                Some(Problem::EndRecordDiscarded)
            }
            Some(_) => None,
        },
        _ if backup.early_end_record => Some(Problem::IncompleteCopyConsistent),
        _ => None,
    }
}

/// Durability of what a backup's reports rest on (asked of every live backup at every
/// state: the test that answers most of them is inlined, the rest is not).
#[inline(always)]
fn durability_problem(cluster: &Cluster, backup: &Backup) -> Option<Problem> {
    let label_reported = backup.label_handed_out && backup.phase.is_live();
    if !label_reported && backup.phase != BackupPhase::Stopped {
        return None;
    }
    reported_durability_problem(cluster, backup, label_reported)
}

#[inline(never)]
fn reported_durability_problem(
    cluster: &Cluster,
    backup: &Backup,
    label_reported: bool,
) -> Option<Problem> {
    let dir = &cluster.data_dir;
    if label_reported {
        if dir
            .backup_label
            .is_some_and(|f| f.backup == backup.id && !f.durable)
        {
            return Some(Problem::LabelNotDurable);
        }
        if dir
            .temp_labels
            .iter()
            .any(|f| f.backup == backup.id && !f.durable)
        {
            return Some(Problem::TempLabelNotDurable);
        }
    }
    if backup.phase != BackupPhase::Stopped {
        return None;
    }
    if dir.unlinked_label.is_some_and(|f| f.backup == backup.id) {
        return Some(Problem::LabelRemovalNotDurable);
    }
    let history = cluster
        .history_file(backup.start)
        .filter(|h| h.backup == Some(backup.id));
    let kept =
        !cluster.config.archive_mode || backup.from_standby || history.is_none_or(|h| h.durable);
    (!kept).then_some(Problem::HistoryNotDurable)
}

/// Files (checked while backups run and as each ends).
pub fn reported_files_survive_os_crash(cluster: &Cluster) -> Result<(), Violation> {
    per_backup(cluster, Property::ReportedFilesSurviveOsCrash, |id, _| {
        format!("a file {id}'s report rests on is not durable")
    })
}

/// What a history file says, read back from its text: the fields the history check compares
/// with the backup's facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HistoryReadBack {
    start: Lsn,
    start_file: crate::walfile::WalFileName,
    stop: Lsn,
    stop_file: crate::walfile::WalFileName,
    checkpoint: Lsn,
    /// LABEL reads back as the label the stop wrote.
    label_as_written: bool,
    start_timeline: Option<crate::lsn::TimeLineId>,
    stop_timeline: Option<crate::lsn::TimeLineId>,
    method: Option<bool>,
}

impl HistoryReadBack {
    /// START TIMELINE and STOP TIMELINE both read back as `timeline` (a wrong one in either
    /// is a history file that misstates its backup).
    fn states_timeline(&self, timeline: crate::lsn::TimeLineId) -> bool {
        self.start_timeline == Some(timeline) && self.stop_timeline == Some(timeline)
    }

    /// START WAL LOCATION reads back as the start point, and its file as the segment holding
    /// it on `timeline` (either one wrong is a history file that misstates its backup).
    fn states_start(
        &self,
        start: Lsn,
        timeline: crate::lsn::TimeLineId,
        seg: crate::lsn::WalSegmentSize,
    ) -> bool {
        self.start == start
            && self.start_file == crate::walfile::WalFileName::containing(timeline, start, seg)
    }
}

/// Per-thread memory of answers that are pure functions of a small key (a label or history
/// file read back from its rendered text): the same file is met in many states of a search,
/// and rendering and parsing it again was a tenth of the model's time. Bounded: emptied when
/// it reaches `MEMO_ENTRIES`, so hours of simulation do not grow it. Hashed with foldhash's
/// fixed (unseeded) hasher: the key is a few words, and SipHash was a third of the lookup.
type Memo<K, V> = std::cell::RefCell<std::collections::HashMap<K, V, foldhash::fast::FixedState>>;

const MEMO_ENTRIES: usize = 1 << 16;

#[inline]
fn remembered<K, V>(
    memo: &'static std::thread::LocalKey<Memo<K, V>>,
    key: K,
    compute: impl FnOnce() -> V,
) -> V
where
    K: std::hash::Hash + Eq,
    V: Copy,
{
    if let Some(known) = memo.with(|m| m.borrow().get(&key).copied()) {
        return known;
    }
    let answer = compute();
    memo.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MEMO_ENTRIES {
            m.clear();
        }
        m.insert(key, answer);
    });
    answer
}

/// Renders `file` as its stop writes it and parses the text back (`None`: it does not parse).
/// The answer depends only on the file, the design and the cluster's WAL settings.
fn read_back_history(
    cluster: &Cluster,
    file: &crate::state::HistoryFile,
) -> Option<HistoryReadBack> {
    type Key = (
        crate::state::HistoryFile,
        crate::variant::Variant,
        crate::lsn::TimeLineId,
        crate::lsn::WalSegmentSize,
    );
    thread_local! {
        static READ: Memo<Key, Option<HistoryReadBack>> = Default::default();
    }
    let key = (
        *file,
        cluster.variant,
        cluster.config.timeline,
        cluster.seg(),
    );
    remembered(&READ, key, || {
        let text = cluster.render_history_file(file, 0, 0).render();
        crate::label::BackupHistory::parse(&text, cluster.seg())
            .ok()
            .map(|h| HistoryReadBack {
                start: h.label.start,
                start_file: h.label.start_file,
                stop: h.stop,
                stop_file: h.stop_file,
                checkpoint: h.label.checkpoint,
                label_as_written: h.label.label == file.label.text(file.backup.map_or(0, |b| b.0)),
                start_timeline: h.label.start_timeline,
                stop_timeline: h.stop_timeline,
                method: h
                    .label
                    .method
                    .map(|m| m == crate::label::BackupMethod::PgStartBackup),
            })
    })
}

/// The history-file check for one finished backup (asked of every live backup at every
/// state: the test that answers most of them is inlined, the rest is not).
#[inline(always)]
fn history_problem(cluster: &Cluster, backup: &Backup) -> Option<Problem> {
    if backup.phase != BackupPhase::Stopped || backup.from_standby {
        return None;
    }
    stopped_history_problem(cluster, backup)
}

#[inline(never)]
fn stopped_history_problem(cluster: &Cluster, backup: &Backup) -> Option<Problem> {
    let Some(file) = cluster.history_file(backup.start) else {
        return Some(Problem::HistoryMissing);
    };
    if file.backup != Some(backup.id) {
        return Some(Problem::HistoryNotItsOwn);
    }
    // Without its end record the restore check reports the backup; STOP has nothing to match.
    let end = consistency_record(cluster, backup.start)?.end;
    let Some(read) = read_back_history(cluster, file) else {
        return Some(Problem::HistoryUnreadable);
    };
    let seg = cluster.seg();
    let format = cluster.rules().label_format;
    let timeline = cluster.config.timeline;
    use crate::walfile::WalFileName;
    if !read.states_start(backup.start, timeline, seg) {
        return Some(Problem::HistoryStart);
    }
    if read.stop != end {
        return Some(Problem::HistoryStop);
    }
    if read.stop_file != WalFileName::ending_at(timeline, end, seg) {
        return Some(Problem::HistoryStopFile);
    }
    if read.checkpoint != backup.checkpoint {
        return Some(Problem::HistoryCheckpoint);
    }
    let label_kept = file.label == backup.label && read.label_as_written;
    if backup.label.survives_round_trip(format) && !label_kept {
        return Some(Problem::HistoryLabel);
    }
    if format.timelines && !read.states_timeline(timeline) {
        return Some(Problem::HistoryTimeline);
    }
    let exclusive = backup.mode == BackupMode::Exclusive;
    if format.backup_method && read.method != Some(exclusive) {
        return Some(Problem::HistoryMethod);
    }
    None
}

/// The violation of `property` by a live backup, or latched when a backup was retired.
#[inline(always)]
fn per_backup(
    cluster: &Cluster,
    property: Property,
    detail: impl Fn(BackupId, BackupPhase) -> String,
) -> Result<(), Violation> {
    let live = cluster
        .backups
        .iter()
        .find_map(|b| backup_problem(cluster, b, property).map(|p| (b, p)));
    if let Some((b, problem)) = live {
        let text = match problem {
            Problem::General => detail(b.id, b.phase),
            specific => specific.describe(b.id),
        };
        return Err(Violation::new(property, text)
            .sessions([b.session])
            .backups([b.id])
            .lsns([b.start, b.stop].into_iter().filter(|l| l.is_valid())));
    }
    match cluster
        .ghost
        .latched
        .iter()
        .find(|l| l.property == property)
    {
        None => Ok(()),
        Some(l) => {
            let text = match l.problem {
                Problem::General => detail(l.backup, l.phase),
                specific => specific.describe(l.backup),
            };
            Err(Violation::new(property, text)
                .sessions([l.session])
                .backups([l.backup]))
        }
    }
}

/// I1.
pub fn counter_matches_backups(cluster: &Cluster) -> Result<(), Violation> {
    let counter = cluster.shared.backups;
    let holding = |b: &Backup| b.mode.counts() && b.unit == Unit::Held;
    let held = cluster.backups.iter().filter(|b| holding(b)).count();
    let leaked = cluster.ghost.leaked_units;
    if counter < 0 || i64::from(counter) != held as i64 + i64::from(leaked) {
        let holders = ids(cluster, holding);
        return Err(Violation::new(
            Property::CounterMatchesBackups,
            format!(
                "the counter is {counter} but {} running backups hold a unit ({leaked} leaked)",
                holders.len()
            ),
        )
        .backups(holders));
    }
    let holding_exclusive = |b: &Backup| b.mode == BackupMode::Exclusive && b.unit == Unit::Held;
    let taken = cluster.shared.exclusive != ExclusiveState::None;
    let held = cluster.backups.iter().any(holding_exclusive) || cluster.ghost.leaked_exclusive;
    if taken != held {
        let exclusive_holders = ids(cluster, holding_exclusive);
        return Err(Violation::new(
            Property::CounterMatchesBackups,
            if cluster.ghost.leaked_exclusive && !taken {
                // The state was freed though a backup that ended without freeing it is
                // recorded as still holding it.
                "the exclusive state is free, but an exclusive backup that ended without freeing it still holds it (its unit leaked): the state was freed by someone else".to_string()
            } else {
                format!(
                    "the exclusive state is {} but {} running exclusive backup(s) hold it",
                    cluster.shared.exclusive.name(),
                    exclusive_holders.len()
                )
            },
        )
        .backups(exclusive_holders));
    }
    Ok(())
}

/// I2.
pub fn forcing_while_backup_runs(cluster: &Cluster) -> Result<(), Violation> {
    let shared = &cluster.shared;
    let should = shared.exclusive != ExclusiveState::None || shared.backups > 0;
    let flag = cluster.rules().forcing == crate::variant::Forcing::Flag;
    if flag && shared.force_page_writes != should {
        return Err(Violation::new(
            Property::ForcingWhileBackupRuns,
            format!(
                "forcePageWrites is {} with exclusive state {} and counter {}",
                shared.force_page_writes,
                shared.exclusive.name(),
                shared.backups
            ),
        ));
    }
    if cluster.do_page_writes() {
        return Ok(());
    }
    match cluster.backups.iter().find(|b| b.needs_forcing()) {
        None => Ok(()),
        Some(backup) => Err(Violation::new(
            Property::ForcingWhileBackupRuns,
            format!(
                "{} is {} but page writes are not forced (counter {}{})",
                backup.id,
                backup.phase.name(),
                shared.backups,
                if flag { ", forcePageWrites off" } else { "" }
            ),
        )
        .sessions([backup.session])
        .backups(ids(cluster, Backup::needs_forcing))
        .lsns([backup.start].into_iter().filter(|l| l.is_valid()))),
    }
}

/// I3.
pub fn no_torn_page_in_stopped_backup(cluster: &Cluster) -> Result<(), Violation> {
    per_backup(cluster, Property::NoTornPageInStoppedBackup, |id, _| {
        format!("{id} stopped successfully, but a page's first change after its start point had no full-page image while it was copied")
    })
}

/// I4: start points and end records.
pub fn unique_start_points(cluster: &Cluster) -> Result<(), Violation> {
    if start_point_held_twice(cluster) {
        unique_start_points_among_backups(cluster)?;
    }
    unique_start_points_in_end_records(cluster)
}

/// Whether some start point is held twice among accepted live backups and retired ones: a
/// pass without the sorting and copying that reporting the first one needs (asked at nearly
/// every step of a simulation, where it is nearly always false).
#[inline]
fn start_point_held_twice(cluster: &Cluster) -> bool {
    let retired = &cluster.ghost.retired_starts;
    let counted = |b: &Backup| b.accepted && !b.from_standby;
    retired.windows(2).any(|w| w[0] == w[1])
        || cluster.backups.iter().enumerate().any(|(i, b)| {
            counted(b)
                && (retired.binary_search(&b.start).is_ok()
                    || cluster.backups[i + 1..]
                        .iter()
                        .any(|other| counted(other) && other.start == b.start))
        })
}

/// Among accepted live backups and retired ones: the smallest start point held twice.
fn unique_start_points_among_backups(cluster: &Cluster) -> Result<(), Violation> {
    // The smallest start point held twice among accepted live backups and retired ones
    // (retired starts are kept sorted), reported with the two first holders in the order
    // (start point, retired before live, lower backup number first).
    let mut live: SmallVec<[(Lsn, BackupId); 16]> = cluster
        .backups
        .iter()
        .filter(|b| b.accepted && !b.from_standby)
        .map(|b| (b.start, b.id))
        .collect();
    live.sort_unstable();
    let retired = &cluster.ghost.retired_starts;
    let mut shared: Option<(Lsn, SmallVec<[BackupId; 2]>)> = None;
    let mut consider = |start: Lsn, holders: SmallVec<[BackupId; 2]>| {
        if shared.as_ref().is_none_or(|(s, _)| start < *s) {
            shared = Some((start, holders));
        }
    };
    if let Some(w) = retired.windows(2).find(|w| w[0] == w[1]) {
        consider(w[0], SmallVec::new());
    }
    if let Some(&(start, id)) = live.iter().find(|(s, _)| retired.binary_search(s).is_ok()) {
        consider(start, smallvec::smallvec![id]);
    }
    if let Some(w) = live.windows(2).find(|w| w[0].0 == w[1].0) {
        consider(w[0].0, smallvec::smallvec![w[0].1, w[1].1]);
    }
    if let Some((start, backups)) = shared {
        let sessions: Vec<SessionId> = backups
            .iter()
            .filter_map(|&id| cluster.backup(id))
            .map(|b| b.session)
            .collect();
        return Err(Violation::new(
            Property::UniqueStartPoints,
            format!("two backups have start point {start}"),
        )
        .sessions(sessions)
        .backups(backups)
        .lsns([start]));
    }
    Ok(())
}

/// Backup-end records: the smallest start point two carry, with its two first records.
fn unique_start_points_in_end_records(cluster: &Cluster) -> Result<(), Violation> {
    let ends = &cluster.wal.end_records;
    let mut pair: Option<(Lsn, Lsn, Lsn)> = None;
    for (i, &(at_a, start)) in ends.iter().enumerate() {
        for &(at_b, other) in &ends[i + 1..] {
            if other != start {
                continue;
            }
            let candidate = (start, at_a.min(at_b), at_a.max(at_b));
            if pair.is_none_or(|p| candidate < p) {
                pair = Some(candidate);
            }
        }
    }
    if let Some((start, first, second)) = pair {
        return Err(Violation::new(
            Property::UniqueStartPoints,
            format!(
                "backup-end records at {first} and {second} both carry start point {start}: recovery of either backup stops at the first"
            ),
        )
        .lsns([start, first, second]));
    }
    Ok(())
}

/// I4: history files.
pub fn history_files_never_overwritten(cluster: &Cluster) -> Result<(), Violation> {
    match cluster.data_dir.history.iter().find(|h| h.writes > 1) {
        None => Ok(()),
        Some(h) => Err(Violation::new(
            Property::HistoryFilesNeverOverwritten,
            format!(
                "history file {} was written {} times",
                cluster.history_file_name(h.start),
                h.writes
            ),
        )
        .backups(h.backup)
        .lsns([h.start])),
    }
}

/// I5: one exclusive backup at a time.
pub fn exclusive_backup_alone(cluster: &Cluster) -> Result<(), Violation> {
    let running = |b: &Backup| b.mode == BackupMode::Exclusive && b.needs_forcing();
    if cluster.backups.iter().filter(|b| running(b)).count() > 1 {
        let live = ids(cluster, running);
        let sessions: Vec<SessionId> = live
            .iter()
            .filter_map(|&b| cluster.backup(b))
            .map(|b| b.session)
            .collect();
        return Err(Violation::new(
            Property::ExclusiveBackupAlone,
            format!("{} exclusive backups run at once", live.len()),
        )
        .sessions(sessions)
        .backups(live));
    }
    Ok(())
}

/// I5: no backup_label is left behind.
pub fn no_stale_backup_label(cluster: &Cluster) -> Result<(), Violation> {
    let Some(file) = cluster.data_dir.backup_label else {
        return Ok(());
    };
    if cluster.is_down() {
        // The refused restart is the finding; `restart succeeds` reports it.
        return Ok(());
    }
    let taken = cluster.shared.exclusive != ExclusiveState::None;
    let stopping = cluster
        .sessions
        .iter()
        .any(|s| s.mode == BackupMode::Exclusive && s.pc.in_stop());
    if taken || stopping {
        return Ok(());
    }
    Err(Violation::new(
        Property::NoStaleBackupLabel,
        format!(
            "backup_label of {} is in the data directory but no exclusive backup runs: every later exclusive start fails",
            file.backup
        ),
    )
    .backups([file.backup])
    .lsns([file.start]))
}

/// I6.
pub fn session_state_matches_unit(cluster: &Cluster) -> Result<(), Violation> {
    session_state_matches_unit_within(cluster, SessionScope::ALL)
}

/// I6 about the sessions of `scope` (and the backups they run).
#[inline]
fn session_state_matches_unit_within(
    cluster: &Cluster,
    scope: SessionScope,
) -> Result<(), Violation> {
    if !cluster.rules().session_state {
        return Ok(());
    }
    scope.try_each(cluster.sessions.len(), |index| {
        let Some(session) = cluster.sessions.get(index) else {
            return Ok(());
        };
        if session.state != SessionBackupState::Running {
            return Ok(());
        }
        let holds = session
            .backup
            .and_then(|b| cluster.backup(b))
            .filter(|b| b.mode.counts() && b.unit == Unit::Held);
        if holds.is_none() {
            let id = SessionId(index as u8);
            return Err(Violation::new(
                Property::SessionStateMatchesUnit,
                format!("{id} says it runs a backup but holds no counter unit"),
            )
            .sessions([id])
            .backups(session.backup));
        }
        Ok(())
    })?;
    for backup in &cluster.backups {
        let counted_running = scope.has(usize::from(backup.session.0))
            && backup.mode.counts()
            && backup.unit == Unit::Held
            && backup.phase == BackupPhase::Running;
        if counted_running
            && cluster.sessions[usize::from(backup.session.0)].state != SessionBackupState::Running
        {
            return Err(Violation::new(
                Property::SessionStateMatchesUnit,
                format!(
                    "{} holds a counter unit but {} does not say it runs a backup",
                    backup.id, backup.session
                ),
            )
            .sessions([backup.session])
            .backups([backup.id]));
        }
    }
    Ok(())
}

/// I7.
pub fn units_released_once(cluster: &Cluster) -> Result<(), Violation> {
    if let Some(session) = cluster.ghost.spurious_release {
        return Err(Violation::new(
            Property::UnitsReleasedOnce,
            format!("{session} decremented the counter without holding a unit"),
        )
        .sessions([session]));
    }
    per_backup(cluster, Property::UnitsReleasedOnce, |id, phase| {
        format!(
            "{id} ended ({}) still holding its unit: nothing will ever give it back",
            phase.name()
        )
    })
}

/// Whether the label `cluster` hands out for backup `id` (rendered, then read back as
/// recovery reads it) misstates the backup's facts: START WAL LOCATION and its file, the
/// CHECKPOINT LOCATION recovery starts from, the START TIMELINE, BACKUP FROM. Called once,
/// as the label is handed out.
pub fn label_misstates(cluster: &Cluster, id: BackupId) -> bool {
    let Some(backup) = cluster.backup(id) else {
        return false;
    };
    // Everything the rendered label and the comparison below read.
    type Key = (
        BackupId,
        crate::state::BackupMode,
        crate::label::LabelKind,
        Lsn,
        Lsn,
        crate::lsn::TimeLineId,
        bool,
        crate::variant::Variant,
        crate::lsn::WalSegmentSize,
    );
    thread_local! {
        static MISSTATES: Memo<Key, bool> = Default::default();
    }
    let key = (
        id,
        backup.mode,
        backup.label,
        backup.start,
        backup.checkpoint,
        backup.start_timeline,
        backup.from_standby,
        cluster.variant,
        cluster.seg(),
    );
    remembered(&MISSTATES, key, || {
        let Some(label) = cluster.render_label(id, 0) else {
            return true;
        };
        let seg = cluster.seg();
        let format = cluster.rules().label_format;
        let Ok(read) = crate::label::BackupLabel::parse(&label.render(), seg) else {
            // A label that does not parse is the round-trip property's finding.
            return false;
        };
        let from_standby = read.from.map(|f| f == crate::label::BackupFrom::Standby);
        read.start != backup.start
            || read.start_file
                != crate::walfile::WalFileName::containing(backup.start_timeline, backup.start, seg)
            || read.checkpoint != backup.checkpoint
            || (format.timelines && read.start_timeline != Some(backup.start_timeline))
            || (format.backup_from.is_some() && from_standby != Some(backup.from_standby))
    })
}

/// I8.
pub fn start_point_is_real_wal(cluster: &Cluster) -> Result<(), Violation> {
    match cluster
        .backups
        .iter()
        .find_map(|b| start_point_violation(cluster, b))
    {
        None => Ok(()),
        Some(violation) => Err(violation),
    }
}

/// I8 about one live backup (nothing unless it was accepted).
fn start_point_violation(cluster: &Cluster, backup: &Backup) -> Option<Violation> {
    if !backup.accepted {
        return None;
    }
    let seg = cluster.seg();
    if !seg.is_record_start(backup.start) || backup.start > cluster.shared.insert {
        return Some(
            Violation::new(
                Property::StartPointIsRealWal,
                format!(
                    "{}'s start point {} is not a WAL record position",
                    backup.id, backup.start
                ),
            )
            .backups([backup.id])
            .lsns([backup.start]),
        );
    }
    if backup.start_timeline != cluster.config.timeline {
        return Some(Violation::new(
            Property::StartPointIsRealWal,
            format!(
                "{}'s label names its start WAL file on timeline {}, but its start checkpoint is on timeline {}",
                backup.id, backup.start_timeline, cluster.config.timeline
            ),
        )
        .backups([backup.id])
        .lsns([backup.start]));
    }
    if !backup.from_standby {
        let redo = cluster
            .wal
            .checkpoints
            .iter()
            .find(|&&(at, _)| at == backup.checkpoint)
            .map(|&(_, redo)| redo);
        if redo != Some(backup.start) {
            return Some(Violation::new(
                Property::StartPointIsRealWal,
                match redo {
                    None => format!(
                        "{}'s checkpoint location {} is no checkpoint record: recovery from its label has nowhere to start",
                        backup.id, backup.checkpoint
                    ),
                    Some(redo) => format!(
                        "{}'s start point {} is not the redo pointer {} of its checkpoint {}: replay from it misses WAL its copy needs",
                        backup.id, backup.start, redo, backup.checkpoint
                    ),
                },
            )
            .backups([backup.id])
            .lsns([backup.start, backup.checkpoint]));
        }
    }
    if backup.label_misstates {
        return Some(Violation::new(
            Property::StartPointIsRealWal,
            format!(
                "{}'s label does not state its start point {}, that point's WAL file, its checkpoint {}, its timeline or where it was taken, as recovery reads it",
                backup.id, backup.start, backup.checkpoint
            ),
        )
        .backups([backup.id])
        .lsns([backup.start]));
    }
    None
}

/// The label round-trip finding.
pub fn labels_round_trip(cluster: &Cluster) -> Result<(), Violation> {
    per_backup(cluster, Property::LabelsRoundTrip, |id, _| {
        format!("{id}'s label does not read back from its backup_label as the user gave it")
    })
}

/// Labels never shared or picked up.
pub fn labels_never_shared(cluster: &Cluster) -> Result<(), Violation> {
    labels_never_shared_within(cluster, SessionScope::ALL)
}

/// Labels never shared, about the temporary label files of the sessions of `scope` (the
/// backups' own findings, which read no session, only in the whole invariant).
#[inline]
fn labels_never_shared_within(cluster: &Cluster, scope: SessionScope) -> Result<(), Violation> {
    if scope.is_all() {
        per_backup(cluster, Property::LabelsNeverShared, |id, _| {
            format!("{id}'s copy or label carried another backup's label")
        })?;
    }
    scope.try_each(cluster.sessions.len(), |index| {
        let Some(session) = cluster.sessions.get(index) else {
            return Ok(());
        };
        let (Some(own), true) = (
            session.backup,
            session.armed.has(crate::state::Armed::TEMP_LABEL),
        ) else {
            return Ok(());
        };
        let file = cluster
            .data_dir
            .temp_labels
            .iter()
            .find(|f| f.start == session.start);
        if file.map(|f| f.backup) != Some(own) {
            return Err(Violation::new(
                Property::LabelsNeverShared,
                format!(
                    "{own}'s temporary label file {} was {} by another backup",
                    cluster.temp_label_name(session.start),
                    if file.is_some() {
                        "replaced"
                    } else {
                        "removed"
                    }
                ),
            )
            .sessions([SessionId(index as u8)])
            .backups([own].into_iter().chain(file.map(|f| f.backup)))
            .lsns([session.start]));
        }
        Ok(())
    })
}

/// PostgreSQL's `Assert`s.
pub fn assertions_hold(cluster: &Cluster) -> Result<(), Violation> {
    match cluster.ghost.failed_assertion {
        None => Ok(()),
        Some((assertion, session)) => Err(Violation::new(
            Property::AssertionsHold,
            format!(
                "{} failed in {session} (a debug build crashes here)",
                assertion.name()
            ),
        )
        .sessions([session])),
    }
}

/// I9: restore (checked as each backup ends; see [`Property::RestoreReachesConsistency`]).
pub fn restore_reaches_consistency(cluster: &Cluster) -> Result<(), Violation> {
    per_backup(cluster, Property::RestoreReachesConsistency, |id, _| {
        format!("{id}'s restore is not declared consistent at its own end")
    })
}

/// History file contents (checked as each backup ends).
pub fn history_file_describes_backup(cluster: &Cluster) -> Result<(), Violation> {
    per_backup(cluster, Property::HistoryFileDescribesBackup, |id, _| {
        format!("{id}'s history file does not describe it")
    })
}

/// Restart.
pub fn restart_succeeds(cluster: &Cluster) -> Result<(), Violation> {
    match cluster.ghost.restart_refused {
        None => Ok(()),
        Some(backup) => Err(Violation::new(
            Property::RestartSucceeds,
            format!(
                "after a crash during {backup}'s exclusive backup, recovery reads its backup_label, whose checkpoint's WAL was recycled: the server refuses to start"
            ),
        )
        .backups([backup])),
    }
}

/// True if some session is between steps of a start or stop (used by quiescence checks).
pub fn quiescent(cluster: &Cluster) -> bool {
    cluster.sessions.iter().all(|s| s.pc == Pc::Idle)
}

/// The name of the liveness property: once faults stop and every session is driven to finish,
/// every backup that was started ends (stopped, failed, or lost in a crash) and the cluster
/// returns to its idle values. The model checks it as an `eventually` property; the
/// simulator checks [`settled`] at the end of its liveness phase.
pub const EVERY_BACKUP_ENDS: &str = "every started backup ends";

/// Why a cluster that should be idle is not.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
#[error("{EVERY_BACKUP_ENDS}: {detail}")]
pub struct NotSettled {
    /// Sessions still busy or still holding something.
    pub sessions: Vec<SessionId>,
    /// Backups that have not ended.
    pub backups: Vec<BackupId>,
    /// What is left, in a sentence.
    pub detail: String,
    /// What is left, as a kind.
    #[serde(default)]
    pub cause: Unsettled,
}

/// What keeps a cluster from settling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unsettled {
    /// A session is half way through a command, or holds a backup or a session state.
    #[default]
    SessionsBusy,
    /// A backup never ended.
    BackupsLive,
    /// A shutdown never completed, or the server never started again.
    ServerDown,
    /// The counter is not 0 with no backup running.
    CounterLeft,
    /// The exclusive state is not free with no backup running.
    ExclusiveStateLeft,
    /// Page writes are still forced with no backup running.
    ForcingLeft,
    /// A `backup_label` is left in the data directory.
    BackupLabelLeft,
    /// A temporary label file is left in the data directory.
    TempLabelLeft,
}

impl Unsettled {
    /// The safety properties whose violation leaves this behind for good: a run that broke
    /// one of them (a design's known finding, say) cannot settle this way, so the liveness
    /// phase's failure is that finding's consequence, not a liveness flaw of its own. Sessions
    /// and backups that never finish are explained by nothing.
    pub fn left_by(self) -> &'static [Property] {
        match self {
            Unsettled::SessionsBusy | Unsettled::BackupsLive => &[],
            Unsettled::ServerDown => &[Property::RestartSucceeds],
            Unsettled::CounterLeft => {
                &[Property::UnitsReleasedOnce, Property::CounterMatchesBackups]
            }
            Unsettled::ExclusiveStateLeft | Unsettled::BackupLabelLeft => &[
                Property::NoStaleBackupLabel,
                Property::ExclusiveBackupAlone,
                Property::UnitsReleasedOnce,
            ],
            Unsettled::ForcingLeft => &[
                Property::UnitsReleasedOnce,
                Property::CounterMatchesBackups,
                Property::NoStaleBackupLabel,
            ],
            Unsettled::TempLabelLeft => &[Property::LabelsNeverShared],
        }
    }
}

/// The idle values every run must return to once everything has ended: the server running
/// (a shutdown completed and the server started again), no session half way
/// through a command, holding a backup or saying it runs a non-exclusive backup, no live
/// backup, the counter at 0, the exclusive state free, `forcePageWrites` off, no
/// `backup_label` and no temporary label file in the data directory. A server that refused
/// to restart is settled (nothing can happen any more; the safety property "restart succeeds"
/// reports it).
///
/// A session state left at `SESSION_BACKUP_EXCLUSIVE` after another session stopped the
/// exclusive backup is allowed: in 9.6 to 14 nothing reads it (a new start refuses only a
/// session running a non-exclusive backup, and the exit hook acts only on one).
pub fn settled(cluster: &Cluster) -> Result<(), NotSettled> {
    let Some(cause) = unsettled_cause(cluster) else {
        return Ok(());
    };
    let unsettled = |detail: String| NotSettled {
        sessions: Vec::new(),
        backups: Vec::new(),
        detail,
        cause,
    };
    let shared = &cluster.shared;
    Err(match cause {
        Unsettled::ServerDown => unsettled(format!(
            "the server is {} and never started again after its shutdown",
            cluster.server.name()
        )),
        Unsettled::SessionsBusy => {
            let busy: Vec<SessionId> = (0..cluster.sessions.len())
                .filter(|&i| session_busy(&cluster.sessions[i]))
                .map(|i| SessionId(i as u8))
                .collect();
            NotSettled {
                sessions: busy.clone(),
                ..unsettled(format!(
                    "{} session(s) still busy or holding a backup: {}",
                    busy.len(),
                    list(&busy)
                ))
            }
        }
        Unsettled::BackupsLive => {
            let live = ids(cluster, |_| true);
            NotSettled {
                backups: live.clone(),
                ..unsettled(format!("backups never ended: {}", list(&live)))
            }
        }
        Unsettled::CounterLeft => unsettled(format!(
            "the counter is {} with no backup running",
            shared.backups
        )),
        Unsettled::ExclusiveStateLeft => unsettled(format!(
            "the exclusive state is {} with no backup running",
            shared.exclusive.name()
        )),
        Unsettled::ForcingLeft => {
            unsettled("page writes are still forced with no backup running".to_string())
        }
        Unsettled::BackupLabelLeft => {
            let backup = cluster.data_dir.backup_label.map(|f| f.backup);
            NotSettled {
                backups: backup.into_iter().collect(),
                ..unsettled(format!(
                    "backup_label of {} is still in the data directory",
                    backup.map_or_else(|| "?".to_string(), |b| b.to_string())
                ))
            }
        }
        Unsettled::TempLabelLeft => {
            let backup = cluster.data_dir.temp_labels.first().map(|f| f.backup);
            NotSettled {
                backups: backup.into_iter().collect(),
                ..unsettled(format!(
                    "the temporary label file of {} is still in the data directory",
                    backup.map_or_else(|| "?".to_string(), |b| b.to_string())
                ))
            }
        }
    })
}

/// A session half way through a command, holding a backup, or saying it runs a
/// non-exclusive backup.
fn session_busy(s: &crate::state::Session) -> bool {
    s.pc != Pc::Idle || s.state == SessionBackupState::Running || s.backup.is_some()
}

/// What first keeps `cluster` from its idle values ([`settled`]'s conditions, in its order),
/// without allocating: the one definition both the simulator's liveness phase and the
/// model's `eventually` property ([`every_backup_ended`]) judge by.
pub fn unsettled_cause(cluster: &Cluster) -> Option<Unsettled> {
    if cluster.is_down() {
        return None;
    }
    let shared = &cluster.shared;
    if cluster.server != crate::state::ServerState::Running {
        Some(Unsettled::ServerDown)
    } else if cluster.sessions.iter().any(session_busy) {
        Some(Unsettled::SessionsBusy)
    } else if !cluster.backups.is_empty() {
        Some(Unsettled::BackupsLive)
    } else if shared.backups != 0 {
        Some(Unsettled::CounterLeft)
    } else if shared.exclusive != ExclusiveState::None {
        Some(Unsettled::ExclusiveStateLeft)
    } else if cluster.page_writes_forced() {
        Some(Unsettled::ForcingLeft)
    } else if cluster.data_dir.backup_label.is_some() {
        Some(Unsettled::BackupLabelLeft)
    } else if !cluster.data_dir.temp_labels.is_empty() {
        Some(Unsettled::TempLabelLeft)
    } else {
        None
    }
}

/// The liveness property [`EVERY_BACKUP_ENDS`] as the model's `eventually` judges a state:
/// the cluster is [`settled`], and every session that can take a backup here has used its
/// budget of backups or of commands (or the server is down). The budget condition makes it
/// false in the initial state, so a path satisfies it only by getting every backup its
/// clients could begin to its end; the simulator's liveness phase, which sends only the
/// stops clients owe, judges [`settled`] alone at its end.
pub fn every_backup_ended(cluster: &Cluster) -> bool {
    let rules = cluster.rules();
    let config = &cluster.config;
    let sql_starts = rules.sql_non_exclusive
        || (rules.has_exclusive() && config.exclusive_backups && !config.standby);
    let budgets_used = cluster.sessions.iter().all(|x| {
        let can_start = x.kind != crate::state::SessionKind::Sql || sql_starts;
        !can_start
            || x.starts >= config.backups_per_session
            || x.commands >= config.commands_per_session
    });
    (budgets_used || cluster.is_down()) && unsettled_cause(cluster).is_none()
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod history_read_back_tests {
    use super::*;
    use crate::lsn::TimeLineId;

    fn read_back(start: Option<u32>, stop: Option<u32>) -> HistoryReadBack {
        let file = crate::walfile::WalFileName::containing(
            TimeLineId(1),
            Lsn(0x0200_0028),
            crate::lsn::WalSegmentSize::DEFAULT,
        );
        HistoryReadBack {
            start: Lsn(0x0200_0028),
            start_file: file,
            stop: Lsn(0x0200_0100),
            stop_file: file,
            checkpoint: Lsn(0x0200_0060),
            label_as_written: true,
            start_timeline: start.map(TimeLineId),
            stop_timeline: stop.map(TimeLineId),
            method: Some(false),
        }
    }

    /// A history file states its backup's start only if START WAL LOCATION says its start
    /// point and names the segment holding it on the cluster's timeline: either one wrong is a
    /// misstatement (the renderer writes both from the backup's facts, so only this test can
    /// show the check reads both).
    #[test]
    fn a_history_file_states_its_start_only_if_the_location_and_its_file_say_it() {
        let seg = crate::lsn::WalSegmentSize::DEFAULT;
        let good = read_back(Some(1), Some(1));
        assert!(good.states_start(Lsn(0x0200_0028), TimeLineId(1), seg));
        assert!(
            !good.states_start(Lsn(0x0200_0030), TimeLineId(1), seg),
            "another location"
        );
        let other_file = HistoryReadBack {
            start_file: crate::walfile::WalFileName::containing(
                TimeLineId(2),
                Lsn(0x0200_0028),
                seg,
            ),
            ..good
        };
        assert!(
            !other_file.states_start(Lsn(0x0200_0028), TimeLineId(1), seg),
            "the right location in another timeline's file"
        );
    }

    /// A history file states its backup's timeline only if START TIMELINE and STOP TIMELINE
    /// both say it: either one wrong or missing is a misstatement.
    #[test]
    fn a_history_file_states_its_timeline_only_if_both_lines_say_it() {
        let tli = TimeLineId(2);
        assert!(read_back(Some(2), Some(2)).states_timeline(tli));
        for (start, stop) in [
            (Some(1), Some(2)),
            (Some(2), Some(1)),
            (None, Some(2)),
            (Some(2), None),
        ] {
            assert!(
                !read_back(start, stop).states_timeline(tli),
                "{start:?} {stop:?}"
            );
        }
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;
    use crate::{Config, Variant};

    /// An invariant's session-scoped form.
    type ScopedForm = fn(&Cluster, SessionScope) -> Result<(), Violation>;

    /// The bounds of the scope tests' walks: many sessions, hostile labels, faults and a crash,
    /// which break the scoped invariants many times over.
    fn scope_walk_config() -> Config {
        Config {
            sql_sessions: 3,
            walsenders: 2,
            replication_sessions: 1,
            backups_per_session: 2,
            commands_per_session: 4,
            faults: 3,
            crashes: 1,
            hostile_labels: true,
            ..Config::default()
        }
    }

    /// Each state of the scope tests' walks (every design and bug, four seeds of 300 steps
    /// under [`scope_walk_config`]), with another state of the same walk to take records from,
    /// and the state's name.
    fn for_each_state_with_another(mut visit: impl FnMut(&str, &Cluster, &Cluster)) {
        let config = scope_walk_config();
        for variant in Variant::all() {
            for seed in 0..4 {
                let states = walk(variant, config, seed, 300);
                let n = states.len();
                for (i, before) in states.iter().enumerate() {
                    let other = &states[(i * 7 + 3) % n.max(1)];
                    visit(&format!("{variant}, seed {seed}, state {i}"), before, other);
                }
            }
        }
    }

    /// A walk of `steps` steps from the start, each drawn (by a fixed linear congruential
    /// sequence from `seed`) among the enabled actions: every state it passes through.
    fn walk(variant: Variant, config: Config, seed: u64, steps: usize) -> Vec<Cluster> {
        let Ok(mut cluster) = Cluster::new(variant, config) else {
            return Vec::new();
        };
        let mut draw = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut states = vec![cluster.clone()];
        for _ in 0..steps {
            let enabled = cluster.actions();
            if enabled.is_empty() {
                break;
            }
            draw = draw
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let action = enabled[(draw >> 33) as usize % enabled.len()];
            cluster.apply(action).expect("an enabled action applies");
            states.push(cluster.clone());
        }
        states
    }

    /// What the simulator's check relies on where a step wrote, of what an invariant with a
    /// backup-scoped form reads, only some backup records: from a state where the invariant
    /// holds, replacing one live backup record (or adding one after the others) in a way
    /// that breaks it is found by its backup-scoped form about that record. The records
    /// put in are taken from other states of the same walk.
    #[test]
    fn a_backup_scoped_invariant_finds_what_the_changed_backup_records_broke() {
        let mut broken = [0u64; Property::ALL.len()];
        let scoped: Vec<(Property, Invariant)> = INVARIANTS
            .into_iter()
            .filter(|(p, _)| BACKUP_SCOPED.contains(*p))
            .collect();
        for_each_state_with_another(|at, before, other| {
            let holding: Vec<(Property, Invariant)> = scoped
                .iter()
                .copied()
                .filter(|(_, whole)| whole(before).is_ok())
                .collect();
            // Live backups are never finished (each is retired at once), so the records are
            // also put in finished: stopped (torn or not), or failed still holding a unit,
            // which is what breaks the per-backup properties.
            let records = other.backups.iter().take(3).flat_map(|&record| {
                let stopped = Backup {
                    phase: BackupPhase::Stopped,
                    copy_over: true,
                    ..record
                };
                [
                    record,
                    stopped,
                    Backup {
                        torn: true,
                        ..stopped
                    },
                    Backup {
                        phase: BackupPhase::Failed,
                        unit: Unit::Held,
                        ..record
                    },
                ]
            });
            for record in records {
                for index in 0..=before.backups.len().min(15) {
                    let mut after = before.clone();
                    match after.backups.get_mut(index) {
                        Some(slot) => *slot = record,
                        None => after.backups.push(record),
                    }
                    let scope = BackupScope(1 << index);
                    for &(property, whole) in &holding {
                        if whole(&after).is_ok() {
                            continue;
                        }
                        broken[property as usize] += 1;
                        assert!(
                            !backup_scoped_hold(&after, PropertySet(1 << property as u32), scope),
                            "{at}: changing backup record {index} broke {property}, which its backup-scoped form does not see"
                        );
                    }
                }
            }
        });
        let seldom: Vec<(Property, u64)> = scoped
            .iter()
            .map(|&(p, _)| (p, broken[p as usize]))
            .filter(|&(_, n)| n < 20)
            .collect();
        assert!(
            seldom.is_empty(),
            "too few breaks to show anything: {seldom:?}"
        );
    }

    /// What the simulator's check relies on where a step wrote, of what a scoped invariant
    /// reads, only some session records: from a state where the invariant holds, any change
    /// to the records of the sessions of a scope alone that breaks it is found by its
    /// scoped form about that scope. The changed records are taken from other states of the
    /// same walk (every design and bug, many sessions, hostile labels, faults), which breaks
    /// both invariants many times over.
    #[test]
    fn a_session_scoped_invariant_finds_what_the_changed_sessions_broke() {
        let mut broken = [0u64; 2];
        for_each_state_with_another(|at, before, other| {
            for index in 0..before.sessions.len() {
                // The records of session `index` (and of the next one, for scopes of two) as
                // they are in the other state.
                for width in [1, 2] {
                    let mut after = before.clone();
                    let mut scope = 0u64;
                    for j in index..(index + width).min(before.sessions.len()) {
                        after.sessions[j] = other.sessions[j];
                        scope |= 1 << j;
                    }
                    let scope = SessionScope(scope);
                    let forms: [(usize, Invariant, ScopedForm); 2] = [
                        (
                            0,
                            session_state_matches_unit,
                            session_state_matches_unit_within,
                        ),
                        (1, labels_never_shared, labels_never_shared_within),
                    ];
                    for (k, whole, scoped) in forms {
                        if whole(before).is_err() || whole(&after).is_ok() {
                            continue;
                        }
                        broken[k] += 1;
                        assert!(
                            scoped(&after, scope).is_err(),
                            "{at}: changing sessions {scope:?} broke an invariant its scoped form does not see"
                        );
                    }
                }
            }
        });
        assert!(
            broken.iter().all(|&b| b > 100),
            "too few breaks to show anything: {broken:?}"
        );
    }
}
