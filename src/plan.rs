//! The step plan: the one place that states, for every step of a backup command, its name,
//! the lock it holds, whether it does I/O, whether it waits, and which faults can strike it
//! ([`facts`]); and, for every design, the order in which each command takes its steps
//! ([`Plan`]).
//!
//! Step functions (in `step/`) do a step's work and say what comes next in protocol terms
//! ([`Next`]: go on, retry the start point, or the step placed the session itself
//! (an ERROR ended the command, the start or the stop is complete)); the session then advances along its design's plan. A built-in design's plan is
//! built at compile time from its rules, like the rules themselves; a design file's plan is
//! built once at start-up ([`crate::design_file`]). Neither enters the hashed state: a
//! session holds only the step it takes next and its position in its list.

use crate::state::Pc;
use crate::variant::{ExclusiveRule, LabelDelivery, LockMode, Rules};
use serde::Serialize;
use std::fmt;
use thiserror::Error;

/// The lock a step holds while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lock {
    /// No lock.
    None,
    /// `ControlFileLock`, shared.
    ControlFile,
    /// All WAL insertion locks, exclusive: no shared holder may be inside.
    InsertionExclusive,
    /// The insertion lock in the mode the design takes it for the start-point check
    /// ([`Rules::unique_check_lock`]: shared in 9.1-9.3).
    InsertionAsDesigned,
    /// The insertion lock still held shared since the check before it (9.1's split check).
    InsertionHeldShared,
}

impl Lock {
    /// The lock in words, for `variants --show` and the README's table.
    pub fn describe(self) -> &'static str {
        match self {
            Lock::None => "",
            Lock::ControlFile => "ControlFileLock (shared)",
            Lock::InsertionExclusive => "insertion locks (exclusive)",
            Lock::InsertionAsDesigned => "insertion locks (design's mode)",
            Lock::InsertionHeldShared => "insertion lock (held shared)",
        }
    }
}

/// Which faults can strike a session standing at a step (PROTOCOL.md §2.7: an ERROR where the
/// step does I/O, a cancel where it checks for interrupts while it waits, a FATAL where it
/// waits or talks to its client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Strikes {
    /// An ERROR (a failed write, read or send).
    pub error: bool,
    /// A query cancel.
    pub cancel: bool,
    /// A FATAL: the client gone, the backend terminated.
    pub fatal: bool,
}

/// The command family a step belongs to: a plan's list holds only steps of its family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Not a step (an idle session).
    None,
    /// `do_pg_backup_start`.
    Start,
    /// The WAL sender's own steps between start and stop.
    BaseBackup,
    /// `do_pg_backup_stop`.
    Stop,
}

/// The facts of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StepFacts {
    /// The step.
    #[serde(skip)]
    pub pc: Pc,
    /// Its one name, used by traces, events, design files and the Explorer.
    pub name: &'static str,
    /// Its command family.
    pub family: Family,
    /// The lock it holds.
    pub lock: Lock,
    /// It does I/O (a file written or read, a message sent).
    pub io: bool,
    /// It waits (and checks for interrupts while it does).
    pub waits: bool,
    /// It talks to the client (a FATAL can find the client gone).
    pub sends: bool,
    /// The faults that can strike a session standing at it.
    pub strikes: Strikes,
    /// Without a fault it changes nothing worth a step of its own: where none can strike any
    /// more (and its wait, if any, is over), the session takes it at once, which removes only
    /// stuttering.
    pub only_a_place_for_faults: bool,
    /// It can send the start back to the plan's retry step ([`Next::Retry`]: the start point
    /// it checked was not unique). The symmetry's account of which checkpoint tickets are read
    /// again follows the retry from these steps alone; the session's advance holds the step
    /// functions to it.
    pub may_retry: bool,
    /// What it does, one line.
    pub summary: &'static str,
}

/// What kind of work a step does, for the table below.
#[derive(Clone, Copy)]
enum Does {
    /// Work in memory, under its lock if any.
    Work,
    /// File I/O.
    Io,
    /// A wait that checks for interrupts.
    Wait,
    /// A message to the client (I/O that can find the client gone).
    Send,
}

const fn step(
    pc: Pc,
    name: &'static str,
    family: Family,
    lock: Lock,
    does: Does,
    summary: &'static str,
) -> StepFacts {
    let io = matches!(does, Does::Io | Does::Send);
    let waits = matches!(does, Does::Wait);
    let sends = matches!(does, Does::Send);
    StepFacts {
        pc,
        name,
        family,
        lock,
        io,
        waits,
        sends,
        strikes: Strikes {
            error: io,
            cancel: waits,
            fatal: waits || sends,
        },
        only_a_place_for_faults: false,
        may_retry: false,
        summary,
    }
}

const fn place_for_faults(mut facts: StepFacts) -> StepFacts {
    facts.only_a_place_for_faults = true;
    facts
}

const fn may_retry(mut facts: StepFacts) -> StepFacts {
    facts.may_retry = true;
    facts
}

/// Every step's facts, in [`Pc`]'s declaration order (one row a step: step, name, family,
/// lock, kind of work, what it does).
#[rustfmt::skip]
const STEPS: [StepFacts; Pc::COUNT] = {
    use Does::*;
    use Family::*;
    use Lock::*;
    [
        step(Pc::Idle,                   "idle",                     Family::None, Lock::None,           Work, "no command running"),
        step(Pc::StartSwitch,            "start.switch",             Start,        InsertionExclusive,   Work, "RequestXLogSwitch (skipped in recovery)"),
        step(Pc::StartIncrement,         "start.increment",          Start,        InsertionExclusive,   Work, "take the exclusive state or a counter unit, raise forcing, arm the start's cleanup"),
        step(Pc::StartRequestCheckpoint, "start.request-checkpoint", Start,        Lock::None,           Work, "request a checkpoint (requests merge)"),
        step(Pc::StartWaitCheckpoint,    "start.wait-checkpoint",    Start,        Lock::None,           Wait, "wait for a checkpoint begun after the request"),
        step(Pc::StartReadControl,       "start.read-control-file",  Start,        ControlFile,          Work, "read the checkpoint and its redo pointer: the candidate start point"),
        may_retry(step(Pc::StartUniqueCheck,       "start.unique-check",       Start,        InsertionAsDesigned,  Work, "check (and under an exclusive lock set) lastBackupStart")),
        may_retry(step(Pc::StartUniqueSet,         "start.unique-set",         Start,        InsertionHeldShared,  Work, "9.1: set lastBackupStart, release the shared lock")),
        step(Pc::StartWriteLabel,        "start.write-label",        Start,        Lock::None,           Io,   "write backup_label (exclusive) or the temporary label file (option 2)"),
        place_for_faults(step(Pc::SendStartPoint,         "base-backup.send-start",   BaseBackup,   Lock::None,           Send, "send the start position to the client")),
        step(Pc::CopyFiles,              "base-backup.copy",         BaseBackup,   Lock::None,           Send, "send the label and the data directory's files"),
        step(Pc::StopClaim,              "stop.claim",               Stop,         InsertionExclusive,   Work, "9.6+, exclusive: IN_PROGRESS to STOPPING, arm the stop's callback"),
        step(Pc::StopReadLabel,          "stop.read-label",          Stop,         Lock::None,           Io,   "read and remove the label file (exclusive, or option 2's)"),
        step(Pc::StopDecrement,          "stop.decrement",           Stop,         InsertionExclusive,   Work, "give back the exclusive state or the counter unit, recompute forcing"),
        step(Pc::StopEndRecord,          "stop.end-record",          Stop,         InsertionExclusive,   Work, "insert XLOG_BACKUP_END carrying the start point (not in recovery)"),
        step(Pc::StopSwitch,             "stop.switch",              Stop,         InsertionExclusive,   Work, "RequestXLogSwitch (not in recovery)"),
        step(Pc::StopWriteHistory,       "stop.write-history",       Stop,         Lock::None,           Io,   "write the backup history file (not in recovery)"),
        place_for_faults(step(Pc::StopWaitArchive,        "stop.wait-archive",        Stop,         Lock::None,           Wait, "SQL stop with archive_mode on: wait until the history file is archived")),
        place_for_faults(step(Pc::SendStopPoint,          "base-backup.send-stop",    Stop,         Lock::None,           Send, "BASE_BACKUP: send the stop position to the client")),
    ]
};

/// The facts of `pc`.
#[inline(always)]
pub fn facts(pc: Pc) -> &'static StepFacts {
    &STEPS[pc as usize]
}

/// Every step's facts (the idle place excepted), in declaration order.
pub fn all_steps() -> impl Iterator<Item = &'static StepFacts> {
    STEPS.iter().skip(1)
}

/// The step named `name` (the names of [`facts`]).
pub fn step_named(name: &str) -> Option<Pc> {
    all_steps().find(|f| f.name == name).map(|f| f.pc)
}

/// The first and last lines around the README's generated step table.
pub const TABLE_BEGIN: &str = "<!-- step table: generated from src/plan.rs by `backup-check variants --steps`; do not edit -->";
/// See [`TABLE_BEGIN`].
pub const TABLE_END: &str = "<!-- end of step table -->";

/// The step table as Markdown, between [`TABLE_BEGIN`] and [`TABLE_END`]: every step, its
/// lock, its kind of work and the faults that can strike it, and the idle session's FATAL.
pub fn step_table_markdown() -> String {
    let yes = |b: bool| if b { "yes" } else { "" };
    let mut out = format!("{TABLE_BEGIN}\n");
    out.push_str("| step | lock | I/O | waits | ERROR | cancel | FATAL | what it does |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for f in all_steps() {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {}{} |\n",
            f.name,
            f.lock.describe(),
            yes(f.io),
            yes(f.waits),
            yes(f.strikes.error),
            yes(f.strikes.cancel),
            yes(f.strikes.fatal),
            f.summary,
            if f.only_a_place_for_faults {
                " (only a place for faults: taken at once where none can strike)"
            } else {
                ""
            },
        ));
    }
    out.push_str(
        "| idle, holding a backup, a session state or an armed exit hook | | | | | | yes | |\n",
    );
    out.push_str(TABLE_END);
    out.push('\n');
    out
}

/// The most steps a list may hold.
pub const MAX_STEPS: usize = 12;

/// An ordered list of steps (a fixed array, so that plans are built at compile time).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepList {
    steps: [Pc; MAX_STEPS],
    len: u8,
}

impl StepList {
    /// The empty list.
    pub const EMPTY: StepList = StepList {
        steps: [Pc::Idle; MAX_STEPS],
        len: 0,
    };

    const fn push(mut self, pc: Pc) -> StepList {
        self.steps[self.len as usize] = pc;
        self.len += 1;
        self
    }

    const fn push_if(self, condition: bool, pc: Pc) -> StepList {
        if condition {
            self.push(pc)
        } else {
            self
        }
    }

    /// A list of `steps`; `None` if there are more than [`MAX_STEPS`].
    pub fn from_steps(steps: &[Pc]) -> Option<StepList> {
        (steps.len() <= MAX_STEPS).then(|| {
            steps
                .iter()
                .fold(StepList::EMPTY, |list, &pc| list.push(pc))
        })
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Pc] {
        &self.steps[..usize::from(self.len)]
    }

    /// The step at `index`, if any.
    #[inline(always)]
    pub fn get(&self, index: usize) -> Option<Pc> {
        self.steps().get(index).copied()
    }

    /// Where `pc` first stands in the list ([`MAX_STEPS`], past any list's end, if nowhere).
    pub fn index_of(&self, pc: Pc) -> u8 {
        self.steps()
            .iter()
            .position(|&p| p == pc)
            .unwrap_or(MAX_STEPS) as u8
    }

    /// The steps' names.
    pub fn names(&self) -> Vec<&'static str> {
        self.steps().iter().map(|&pc| facts(pc).name).collect()
    }
}

impl fmt::Debug for StepList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Which list of a plan a session walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListId {
    /// A start (SQL or `BASE_BACKUP`).
    Start,
    /// `BASE_BACKUP` between its start and its stop.
    BaseBackup,
    /// The exclusive stop.
    StopExclusive,
    /// The non-exclusive SQL stop and `BASE_BACKUP`'s stop.
    Stop,
}

impl ListId {
    /// Every list, in the order plans show them.
    pub const ALL: [ListId; 4] = [
        ListId::Start,
        ListId::BaseBackup,
        ListId::StopExclusive,
        ListId::Stop,
    ];

    /// The list's key in design files and `variants --show`.
    pub fn key(self) -> &'static str {
        match self {
            ListId::Start => "start",
            ListId::BaseBackup => "base_backup",
            ListId::StopExclusive => "stop_exclusive",
            ListId::Stop => "stop",
        }
    }

    /// The family of the steps the list may hold.
    pub fn family(self) -> Family {
        match self {
            ListId::Start => Family::Start,
            ListId::BaseBackup => Family::BaseBackup,
            ListId::StopExclusive | ListId::Stop => Family::Stop,
        }
    }
}

/// What a step says comes next, in protocol terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Go on to the next step of the plan that applies here (at the end of a list: the
    /// start or the stop is complete).
    Continue,
    /// The start point was not unique: back to the plan's retry step.
    Retry,
    /// The step has placed the session itself: it ended the command (an ERROR), or it
    /// completed the start or the stop (which may lead to another list).
    Placed,
}

/// A step's event and what comes next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    /// What the step did.
    pub event: crate::action::EventKind,
    /// What comes next.
    pub next: Next,
}

impl Taken {
    /// The step did `event`; the plan goes on.
    #[inline]
    pub fn go_on(event: crate::action::EventKind) -> Taken {
        Taken {
            event,
            next: Next::Continue,
        }
    }

    /// The step placed the session itself (see [`Next::Placed`]) and reports `event`.
    #[inline]
    pub fn placed(event: crate::action::EventKind) -> Taken {
        Taken {
            event,
            next: Next::Placed,
        }
    }
}

/// One design's order of steps for every command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Plan {
    /// A start: from the command's checks to the returned start point.
    pub start: StepList,
    /// Where the start goes back to when its start point is not unique (an index into
    /// `start`).
    pub retry: u8,
    /// `BASE_BACKUP`'s own steps after its start; its stop (`stop`) follows.
    pub base_backup: StepList,
    /// The exclusive stop (designs with exclusive backups).
    pub stop_exclusive: StepList,
    /// The non-exclusive SQL stop and `BASE_BACKUP`'s stop.
    pub stop: StepList,
}

impl Plan {
    /// The plan of the built-in designs, from their rules (the order PostgreSQL's code takes).
    pub const fn for_rules(rules: &Rules) -> Plan {
        let mut start = StepList::EMPTY;
        if rules.switch_before_increment {
            // 9.1: the WAL switch before the increment (`2dd9322ba6` moved it after).
            start = start.push(Pc::StartSwitch).push(Pc::StartIncrement);
        } else {
            start = start.push(Pc::StartIncrement).push(Pc::StartSwitch);
        }
        let retry = start.len;
        start = start
            .push(Pc::StartRequestCheckpoint)
            .push(Pc::StartWaitCheckpoint)
            .push(Pc::StartReadControl)
            .push(Pc::StartUniqueCheck);
        // 9.1-9.3: the check and the set are two steps under the shared lock (B2).
        start = start.push_if(
            matches!(rules.unique_check_lock, LockMode::Shared),
            Pc::StartUniqueSet,
        );
        start = start.push(Pc::StartWriteLabel);
        let base_backup = StepList::EMPTY.push(Pc::SendStartPoint).push(Pc::CopyFiles);
        const fn tail(list: StepList) -> StepList {
            list.push(Pc::StopEndRecord)
                .push(Pc::StopSwitch)
                .push(Pc::StopWriteHistory)
                .push(Pc::StopWaitArchive)
        }
        let stop_exclusive = match rules.exclusive {
            // 9.1 gives the flag back first, unconditionally, and reads the label after (B5).
            ExclusiveRule::Flag => tail(
                StepList::EMPTY
                    .push(Pc::StopDecrement)
                    .push(Pc::StopReadLabel),
            ),
            ExclusiveRule::StateMachine => tail(
                StepList::EMPTY
                    .push(Pc::StopClaim)
                    .push(Pc::StopReadLabel)
                    .push(Pc::StopDecrement),
            ),
            ExclusiveRule::Unavailable => StepList::EMPTY,
        };
        let stop = tail(
            StepList::EMPTY
                .push_if(
                    matches!(rules.label_delivery, LabelDelivery::TemporaryFile),
                    Pc::StopReadLabel,
                )
                .push(Pc::StopDecrement),
        )
        .push(Pc::SendStopPoint);
        Plan {
            start,
            retry,
            base_backup,
            stop_exclusive,
            stop,
        }
    }

    /// The list `id`.
    #[inline(always)]
    pub fn list(&self, id: ListId) -> &StepList {
        match id {
            ListId::Start => &self.start,
            ListId::BaseBackup => &self.base_backup,
            ListId::StopExclusive => &self.stop_exclusive,
            ListId::Stop => &self.stop,
        }
    }

    /// The list `id`, to change.
    pub fn list_mut(&mut self, id: ListId) -> &mut StepList {
        match id {
            ListId::Start => &mut self.start,
            ListId::BaseBackup => &mut self.base_backup,
            ListId::StopExclusive => &mut self.stop_exclusive,
            ListId::Stop => &mut self.stop,
        }
    }

    /// Checks that the plan is one the step functions can walk under `rules`: each list holds
    /// steps of its own family only; the start has its retry step before the start-point
    /// check, and writes its label last (the label needs the accepted start point); 9.1's
    /// set half of the check follows the check at once, and only where the design takes the
    /// check's lock shared; the exclusive stop exists exactly where exclusive backups do.
    /// Order, drops and repeats are otherwise free: what they break is for the checkers to
    /// find.
    pub fn validate(&self, rules: &Rules) -> Result<(), PlanError> {
        for id in ListId::ALL {
            for &pc in self.list(id).steps() {
                if facts(pc).family != id.family() {
                    return Err(PlanError::WrongFamily {
                        list: id.key(),
                        step: facts(pc).name,
                    });
                }
            }
        }
        let start = self.start.steps();
        let position = |pc: Pc| start.iter().position(|&p| p == pc);
        let check = position(Pc::StartUniqueCheck).ok_or(PlanError::Missing {
            list: "start",
            step: facts(Pc::StartUniqueCheck).name,
        })?;
        if position(Pc::StartReadControl).is_none_or(|read| read > check) {
            return Err(PlanError::Order {
                first: facts(Pc::StartReadControl).name,
                then: facts(Pc::StartUniqueCheck).name,
            });
        }
        match self.start.get(usize::from(self.retry)) {
            Some(_) if usize::from(self.retry) <= check => {}
            _ => return Err(PlanError::Retry),
        }
        if let Some(write) = position(Pc::StartWriteLabel) {
            if write + 1 != start.len() {
                return Err(PlanError::LabelNotLast);
            }
        }
        let shared = rules.unique_check_lock == LockMode::Shared;
        let set_follows = self.start.get(check + 1) == Some(Pc::StartUniqueSet);
        let sets = start.iter().filter(|&&p| p == Pc::StartUniqueSet).count();
        let checks = start.iter().filter(|&&p| p == Pc::StartUniqueCheck).count();
        if shared != set_follows || sets != if shared { checks } else { 0 } {
            return Err(PlanError::UniqueSet);
        }
        for id in [ListId::StopExclusive, ListId::Stop] {
            let steps = self.list(id).steps();
            let returns = |pc: &Pc| matches!(pc, Pc::StopWaitArchive | Pc::SendStopPoint);
            let tail = steps.iter().rev().take_while(|pc| returns(pc)).count();
            if steps.iter().filter(|pc| returns(pc)).count() != tail {
                return Err(PlanError::ReturnNotLast { list: id.key() });
            }
        }
        if rules.has_exclusive() == self.stop_exclusive.steps().is_empty() {
            return Err(PlanError::ExclusiveStop);
        }
        Ok(())
    }
}

/// A plan the step functions cannot walk.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PlanError {
    /// A step in a list of another family.
    #[error("plan.{list}: step {step:?} belongs to another command")]
    WrongFamily {
        /// The list.
        list: &'static str,
        /// The step.
        step: &'static str,
    },
    /// A step every list of that kind needs.
    #[error("plan.{list}: needs the step {step:?}")]
    Missing {
        /// The list.
        list: &'static str,
        /// The step.
        step: &'static str,
    },
    /// Two steps in the wrong order.
    #[error("plan.start: {first:?} must come before {then:?}")]
    Order {
        /// The step that must come first.
        first: &'static str,
        /// The step that must follow.
        then: &'static str,
    },
    /// The retry step is not in the start before the check.
    #[error("plan.retry: must name a step of plan.start at or before \"start.unique-check\"")]
    Retry,
    /// The label written before the end of the start.
    #[error("plan.start: \"start.write-label\" must be the last step (the label needs the accepted start point)")]
    LabelNotLast,
    /// 9.1's set half misplaced.
    #[error("plan.start: \"start.unique-set\" must follow each \"start.unique-check\" at once where the check's lock is shared (unique_check_lock = \"shared\"), and appear nowhere else")]
    UniqueSet,
    /// A step where the stop returns, before other steps.
    #[error("plan.{list}: \"stop.wait-archive\" and \"base-backup.send-stop\" are where the stop returns: they must come last")]
    ReturnNotLast {
        /// The list.
        list: &'static str,
    },
    /// An exclusive stop without exclusive backups or the other way round.
    #[error("plan.stop_exclusive: must be empty exactly when the design has no exclusive backups")]
    ExclusiveStop,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variant::Variant;

    #[test]
    fn the_table_is_in_pc_order_and_names_are_unique() {
        for (index, facts) in STEPS.iter().enumerate() {
            assert_eq!(facts.pc as usize, index, "{}", facts.name);
        }
        let mut names: Vec<_> = STEPS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STEPS.len());
        for facts in all_steps() {
            assert_eq!(step_named(facts.name), Some(facts.pc));
        }
    }

    #[test]
    fn every_built_in_plan_is_valid() {
        for variant in Variant::all() {
            variant
                .plan()
                .validate(&variant.rules())
                .unwrap_or_else(|e| panic!("{variant}: {e}"));
        }
    }
}
