//! An exhaustive stateright model of the backup coordinator. Its state is the core's
//! [`Cluster`], its actions are exactly `Cluster::actions()` and its transitions
//! `Cluster::apply()`: there is no protocol logic here, only the properties (each `always`
//! calling one of the core's invariant functions), the `sometimes` cases that prove the bounds
//! reach what they claim to test, one `eventually` property, and the running and reporting of
//! a check ([`report`]) with shortest counterexamples ([`shortest`]).

/// The seeded bugs' smallest bounds live in the core ([`backup_coordinator::bugs`]).
pub use backup_coordinator::bugs;
pub mod classes;
pub mod incremental;
pub mod report;
pub mod shortest;

pub use report::{
    CheckOptions, Expectation, ModelError, ModelReport, PropertyOutcome, Search, Verdict,
};

use backup_coordinator::action::{Action, EventKind, Fault};
use backup_coordinator::invariants::{self, INVARIANTS};
use backup_coordinator::state::{BackupMode, BackupPhase, Regions, SessionId};
use backup_coordinator::{Cluster, Config, Variant};
use stateright::{Model, Property};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A named set of bounds.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    /// Its name (`--profile NAME`).
    pub name: &'static str,
    /// What it is for.
    pub purpose: &'static str,
    /// The bounds.
    pub config: Config,
}

/// The default bounds: seven profiles, each checked exhaustively, each small enough to check in
/// seconds (the state space grows with every interleaving of WAL writes, because LSNs are
/// real), and together reaching every mechanism of the core (every `sometimes` case applies
/// in at least one of them; `backup-check check` reports which profile reached what).
///
/// * `concurrency`: two SQL sessions and a WAL sender, one backup each, no faults, crashes or
///   page writes. Races between starts and stops (B5 needs two SQL sessions), merged
///   checkpoints, an exclusive and a streamed backup at once.
/// * `faults`: one SQL session and one WAL sender, one backup each, one fault of any kind,
///   one crash, one page write. Cleanups under errors, cancels and disconnects, crash recovery,
///   and the end-to-end torn-page check.
/// * `pages`: one SQL session, two page writes on two pages and a timed checkpoint: first
///   changes after a redo point, the insertion re-check, torn pages.
/// * `standby`: backups taken on a standby following timeline 2, with a fault and WAL replayed
///   from the primary.
/// * `clients`: one `replication=database` session with two backups, four commands, a JIT
///   query and a fault, offered every kind of label (too long, with a newline, a carriage
///   return, a NUL): a second start in a session, `BASE_BACKUP` in a session running an SQL
///   backup, exit callbacks (B9, B10, B11), labels that must be refused or read back as
///   written.
/// * `lifecycle`: one SQL session and one WAL sender with a fast shutdown, an OS crash and a
///   segment filled up to a backup-end record's room: restore after shutdown and power loss,
///   durability, segment boundaries.
/// * `concurrency-crash`: `concurrency`'s three racing sessions with a crash (and crash
///   recovery): backups lost mid-start or mid-stop beside others, the restart with three
///   sessions' files on disk. The one combination of `concurrency` with another mechanism that
///   fits the gate (about twice `concurrency`'s states; README, "Reach").
pub fn default_profiles() -> [Profile; 7] {
    let base = Config {
        backups_per_session: 1,
        commands_per_session: 2,
        writers: 1,
        pages: 1,
        crashes: 0,
        faults: 0,
        page_writes: 0,
        ..Config::default()
    };
    let concurrency = Config {
        sql_sessions: 2,
        walsenders: 1,
        ..base
    };
    [
        Profile {
            name: "concurrency",
            purpose: "two SQL sessions and a WAL sender racing, no faults",
            config: concurrency,
        },
        Profile {
            name: "faults",
            purpose: "a SQL session and a WAL sender with a fault, a crash and a page write",
            config: Config {
                sql_sessions: 1,
                walsenders: 1,
                crashes: 1,
                faults: 1,
                page_writes: 1,
                ..base
            },
        },
        Profile {
            name: "pages",
            purpose: "a SQL session with two page writes on two pages and a timed checkpoint",
            config: Config {
                sql_sessions: 1,
                walsenders: 0,
                pages: 2,
                page_writes: 2,
                timed_checkpoints: 1,
                ..base
            },
        },
        Profile {
            name: "standby",
            purpose: "backups taken on a standby on timeline 2, with a fault, WAL replay and its primary turning full_page_writes off",
            // The primary runs with full_page_writes on (with it off every standby start is
            // refused: "WAL generated with full_page_writes=off was replayed"), and turns it
            // off once: a backup running then fails at its stop.
            config: Config {
                sql_sessions: 1,
                walsenders: 1,
                standby: true,
                full_page_writes: true,
                primary_fpw_offs: 1,
                timeline: backup_coordinator::lsn::TimeLineId(2),
                faults: 1,
                wal_switches: 1,
                writers: 0,
                ..base
            },
        },
        Profile {
            name: "clients",
            purpose: "a replication=database session with two backups, a JIT query, a fault and hostile labels",
            config: Config {
                sql_sessions: 0,
                walsenders: 0,
                replication_sessions: 1,
                backups_per_session: 2,
                commands_per_session: 4,
                jit_queries: 1,
                faults: 1,
                hostile_labels: true,
                ..base
            },
        },
        Profile {
            name: "lifecycle",
            purpose: "a SQL session and a WAL sender with a fast shutdown, an OS crash and a segment boundary",
            config: Config {
                sql_sessions: 1,
                walsenders: 1,
                shutdowns: 1,
                os_crashes: 1,
                wal_fills: 1,
                ..base
            },
        },
        Profile {
            name: "concurrency-crash",
            purpose: "two SQL sessions and a WAL sender racing, with a crash",
            config: Config {
                crashes: 1,
                ..concurrency
            },
        },
    ]
}

/// Deeper bounds that do not fit the gate's 60 s, checked by `backup-check check --thorough`
/// (and by name with `--profile`): the `concurrency` profile's three racing sessions with a
/// fault, the combination the default profiles keep apart (7.5 million states for
/// `recommended`, about six times `concurrency`; README, "Reach").
///
/// * `concurrency-fault`: an error, cancel or disconnect in any session while the three race:
///   a cleanup that runs beside two other backups' starts and stops.
pub fn thorough_profiles() -> [Profile; 1] {
    let concurrency = default_profiles()[0].config;
    [Profile {
        name: "concurrency-fault",
        purpose: "two SQL sessions and a WAL sender racing, with a fault",
        config: Config {
            faults: 1,
            ..concurrency
        },
    }]
}

/// The profile called `name`: a default one or a thorough one.
pub fn profile(name: &str) -> Option<Profile> {
    default_profiles()
        .into_iter()
        .chain(thorough_profiles())
        .find(|p| p.name == name)
}

/// The model: a design and its bounds.
#[derive(Clone, Debug)]
pub struct BackupModel {
    /// The design under test.
    pub variant: Variant,
    /// The bounds and settings.
    pub config: Config,
    /// One latch per `always` property, then per `sometimes` case: set once the property has
    /// its discovery in the current run. stateright 0.31 records a discovery again (cloning
    /// its path) every time the condition triggers; after the latch the condition reports
    /// "nothing new", which leaves every verdict as it is. Fresh for every run.
    pub(crate) latches: Arc<[AtomicBool; LATCHES]>,
    /// The `sometimes` cases these bounds can reach (bit `i` for `CASES[i]`).
    cases: u32,
    /// One stateright property per invariant and per case (for the Explorer, which lists
    /// them) instead of the folded one a check uses ([`EVERY_INVARIANT`]).
    per_property: bool,
    /// Set to stop the search: no new state is then within the boundary, so the search
    /// drains. (stateright 0.31's own timeout is only consulted when a worker asks for work,
    /// which a single DFS worker never does.)
    pub(crate) stop: Arc<AtomicBool>,
}

impl BackupModel {
    /// The Explorer's address of the state `actions` lead to from the initial state (the
    /// path part of `http://ADDR/#/steps/...`), or `None` if a step is not one the model
    /// takes (a refused command, say).
    pub fn explorer_path(&self, actions: &[Action]) -> Option<String> {
        let init = self.init_states().into_iter().next()?;
        stateright::Path::from_actions(self, init, actions).map(|path| path.encode(self))
    }

    /// A model of `variant` within `config`'s bounds.
    pub fn new(variant: Variant, config: Config) -> Result<Self, ModelError> {
        config.validate()?;
        let mut model = BackupModel {
            variant,
            config,
            latches: fresh_latches(),
            cases: 0,
            per_property: false,
            stop: Arc::new(AtomicBool::new(false)),
        };
        model.cases = CASES
            .iter()
            .enumerate()
            .filter(|(_, c)| (c.applies)(&model))
            .fold(0, |mask, (i, _)| mask | 1 << i);
        Ok(model)
    }

    /// The same model with one stateright property per invariant and per case, as the
    /// Explorer lists them (a check folds them into one: [`EVERY_INVARIANT`]).
    pub fn per_property(self) -> Self {
        BackupModel {
            per_property: true,
            ..self
        }
    }

    /// Every property a check reports on, in report order: each invariant, each case these
    /// bounds can reach, then the `eventually` property.
    pub fn property_names(&self) -> Vec<&'static str> {
        ALWAYS
            .iter()
            .map(|(name, _)| *name)
            .chain(self.reachable_cases())
            .chain([EVENTUALLY])
            .collect()
    }

    /// Whether the search met a violation of the `always` property `index` ([`ALWAYS`]).
    pub(crate) fn invariant_violated(&self, index: usize) -> bool {
        self.latches[index].load(Ordering::Relaxed)
    }

    /// Whether the search reached the case `index` ([`CASES`]).
    pub(crate) fn case_reached(&self, index: usize) -> bool {
        self.latches[ALWAYS.len() + index].load(Ordering::Relaxed)
    }

    /// The same model with fresh latches, for a new run.
    pub(crate) fn fresh(&self) -> Self {
        BackupModel {
            latches: fresh_latches(),
            stop: Arc::new(AtomicBool::new(false)),
            ..self.clone()
        }
    }

    /// The names of the `sometimes` cases these bounds can reach, and therefore must.
    pub fn reachable_cases(&self) -> Vec<&'static str> {
        CASES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.cases & 1 << i != 0)
            .map(|(_, c)| c.name)
            .collect()
    }

    /// What kind of property `name` is.
    pub fn expectation_of(&self, name: &str) -> Expectation {
        if name == EVENTUALLY {
            Expectation::Eventually
        } else if ALWAYS.iter().any(|(n, _)| *n == name) {
            Expectation::Always
        } else {
            Expectation::Sometimes
        }
    }
}

impl Model for BackupModel {
    type State = Cluster;
    type Action = Action;

    fn init_states(&self) -> Vec<Cluster> {
        Cluster::new(self.variant, self.config)
            .into_iter()
            .collect()
    }

    fn actions(&self, state: &Cluster, actions: &mut Vec<Action>) {
        state.actions_into(actions);
    }

    /// The core's step. A command the server refuses before anything changes (only the
    /// client's command budget moves, whether the refusal comes from the command's checks or
    /// from its first step) leads to no new state: everything reachable from there is
    /// reachable, with the same invariants, from the state before the refusal (budgets only
    /// shrink, and no invariant reads them), so the search does not explore it. A command
    /// that a flawed design accepts, or whose refusal changes anything else, is explored
    /// ([`Cluster::successor`]). stateright asks this only of actions [`Model::actions`]
    /// listed for `state` (its checkers, its Explorer and its paths all expand the listed
    /// actions), so the core is not asked again whether the action is enabled
    /// ([`Cluster::enabled_successor`]).
    fn next_state(&self, state: &Cluster, action: Action) -> Option<Cluster> {
        state.enabled_successor(action)
    }

    /// A check's properties are two: every invariant, which also latches every reachable case
    /// ([`EVERY_INVARIANT`], [`every_invariant_and_case`]), and the `eventually` property.
    /// stateright 0.31 looks every property's name up in a SipHash map at every state, so one
    /// property per invariant and case (34 of them) cost a quarter of the search; the folded
    /// condition evaluates each invariant and case itself and latches what it finds, and the
    /// report gives each its own verdict and shortest counterexample from the latches. The
    /// Explorer's model ([`BackupModel::per_property`]) lists them one by one.
    fn properties(&self) -> Vec<Property<Self>> {
        let mut out: Vec<Property<Self>> = Vec::new();
        if self.per_property {
            out.extend(
                ALWAYS
                    .iter()
                    .map(|&(name, condition)| Property::always(name, condition)),
            );
            for (i, case) in CASES.iter().enumerate() {
                if self.cases & 1 << i != 0 {
                    out.push(Property::sometimes(case.name, case.condition));
                }
            }
        } else {
            out.push(Property::always(EVERY_INVARIANT, every_invariant_and_case));
        }
        out.push(Property::eventually(EVENTUALLY, |_, s| {
            every_backup_ended(s)
        }));
        out
    }

    fn within_boundary(&self, _state: &Cluster) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    fn format_action(&self, action: &Action) -> String {
        action
            .named(self.variant.rules().function_names())
            .to_string()
    }

    /// The path so far as the text trace prints it (the Explorer shows it beside the state).
    fn as_svg(&self, path: stateright::Path<Cluster, Action>) -> Option<String> {
        let mut trace =
            backup_coordinator::trace::TraceBuilder::new(self.variant, self.config).ok()?;
        for action in path.into_actions() {
            trace.push(action).ok()?;
        }
        Some(text_as_svg(&trace.finish(None).render_text()))
    }

    fn format_step(&self, last_state: &Cluster, action: Action) -> Option<String> {
        let mut next = last_state.clone();
        let names = self.variant.rules().function_names();
        next.apply(action)
            .ok()
            .map(|event| format!("{} {}", event.actor, event.kind.named(names)))
    }
}

/// Lines of text as an SVG picture in a monospace font (XML-escaped).
fn text_as_svg(text: &str) -> String {
    const LINE: usize = 16;
    const CHAR: usize = 8;
    let lines: Vec<&str> = text.lines().collect();
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) * CHAR + 2 * CHAR;
    let height = (lines.len() + 1) * LINE;
    let mut out = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='monospace' font-size='13'>"
    );
    for (i, line) in lines.iter().enumerate() {
        let escaped = line
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        out.push_str(&format!(
            "<text x='{CHAR}' y='{}' xml:space='preserve'>{escaped}</text>",
            (i + 1) * LINE
        ));
    }
    out.push_str("</svg>");
    out
}

/// A property's condition.
pub type Condition = fn(&BackupModel, &Cluster) -> bool;

/// One `always` property per core invariant, named as the core names it.
pub const ALWAYS: [(&str, Condition); INVARIANTS.len()] = {
    let mut out: [(&str, Condition); INVARIANTS.len()] = [("", holds::<0>); INVARIANTS.len()];
    let mut i = 0;
    while i < INVARIANTS.len() {
        out[i] = (INVARIANTS[i].0.name(), HOLDS[i]);
        i += 1;
    }
    out
};

/// Invariant `I` of the core holds in `state`.
fn holds<const I: usize>(_: &BackupModel, state: &Cluster) -> bool {
    (INVARIANTS[I].1)(state).is_ok()
}

const HOLDS: [Condition; INVARIANTS.len()] = [
    holds::<0>,
    holds::<1>,
    holds::<2>,
    holds::<3>,
    holds::<4>,
    holds::<5>,
    holds::<6>,
    holds::<7>,
    holds::<8>,
    holds::<9>,
    holds::<10>,
    holds::<11>,
    holds::<12>,
    holds::<13>,
    holds::<14>,
    holds::<15>,
    holds::<16>,
];

/// The name of a check's one `always` property: every invariant of [`ALWAYS`] at once (each
/// still gets its own verdict and counterexample in the report), whose condition also latches
/// the cases of [`CASES`] these bounds can reach (each gets its own verdict in the report).
pub const EVERY_INVARIANT: &str = "every invariant holds";

/// The `eventually` property's name.
pub const EVENTUALLY: &str = invariants::EVERY_BACKUP_ENDS;

/// The `eventually` property's predicate: the core's one definition
/// ([`invariants::every_backup_ended`]: settled, with every client's budget used).
pub fn every_backup_ended(s: &Cluster) -> bool {
    invariants::every_backup_ended(s)
}

/// A `sometimes` property: a case the bounds must reach when `applies` says they can.
pub struct Case {
    /// Its name.
    pub name: &'static str,
    /// Whether these bounds can reach it (then they must: a `sometimes` property that is never
    /// reached means the bounds are too small to test what they claim to).
    pub applies: fn(&BackupModel) -> bool,
    /// The condition.
    pub condition: Condition,
    /// The parts of the cluster the condition reads ([`Regions`]), so that a case found
    /// false before a step that wrote none of them is known false after it (the simulator
    /// skips it); `None` where it reads a part no step marks (the checkpointer, the pages,
    /// the budgets used) or asks the core what is enabled: asked at every state. A test holds
    /// each declaration to what the condition reads.
    pub reads: Option<Regions>,
}

/// Sessions that can take a backup under these bounds (an SQL session can only where the
/// design has SQL backups it may take here: non-exclusive ones, or exclusive ones off a
/// standby).
fn sessions(m: &BackupModel) -> usize {
    let rules = m.variant.rules();
    let c = &m.config;
    let sql_backups =
        rules.sql_non_exclusive || (rules.has_exclusive() && c.exclusive_backups && !c.standby);
    usize::from(c.walsenders)
        + usize::from(c.replication_sessions)
        + if sql_backups {
            usize::from(c.sql_sessions)
        } else {
            0
        }
}

fn sql_api(m: &BackupModel) -> bool {
    let rules = m.variant.rules();
    let c = &m.config;
    (c.sql_sessions + c.replication_sessions) >= 1
        && (rules.sql_non_exclusive || (rules.has_exclusive() && c.exclusive_backups))
}

/// Every case, in report order. Each is a mechanism of the core (or an interleaving of them)
/// that bounds claiming to test it must reach.
pub const CASES: [Case; 16] = [
    Case {
        name: "a backup stops successfully",
        // Seen by its history file, which a standby does not write.
        applies: |m| !m.config.standby,
        condition: |_, s| !s.data_dir.history.is_empty(),
        reads: Some(Regions::DATA_DIR),
    },
    Case {
        name: "two backups active at once",
        applies: |m| sessions(m) >= 2,
        condition: |_, s| s.backups.iter().filter(|b| b.needs_forcing()).count() >= 2,
        reads: Some(Regions::BACKUPS),
    },
    Case {
        name: "one checkpoint serves two starts",
        applies: |m| sessions(m) >= 2,
        condition: |_, s| one_checkpoint_serves_two(s),
        reads: None,
    },
    Case {
        name: "an exclusive and a streamed backup at once",
        applies: |m| {
            let c = &m.config;
            m.variant.rules().has_exclusive()
                && c.exclusive_backups
                && !c.standby
                && c.sql_sessions >= 1
                && c.walsenders >= 1
        },
        condition: |_, s| {
            let live = |mode| {
                s.backups
                    .iter()
                    .any(|b| b.mode == mode && b.needs_forcing())
            };
            live(BackupMode::Exclusive) && live(BackupMode::Streamed)
        },
        reads: Some(Regions::BACKUPS),
    },
    Case {
        name: "a crash can strike while a backup runs",
        applies: |m| m.config.crashes >= 1,
        condition: |_, s| {
            s.is_enabled(Action::Crash) && s.backups.iter().any(|b| b.needs_forcing())
        },
        reads: None,
    },
    Case {
        name: "a page is changed while a backup copies",
        applies: |m| m.config.writers >= 1 && m.config.page_writes >= 1 && m.config.pages >= 1,
        condition: |_, s| {
            s.backups.iter().any(|b| {
                b.phase == BackupPhase::Running
                    && b.accepted
                    && s.pages.iter().any(|&lsn| lsn > b.start)
            })
        },
        reads: None,
    },
    Case {
        name: "a fault can strike a running backup",
        applies: |m| m.config.faults >= 1,
        condition: |_, s| {
            (0..s.sessions.len()).any(|i| {
                let session = SessionId(i as u8);
                let holds = s.sessions[i]
                    .backup
                    .and_then(|b| s.backup(b))
                    .is_some_and(|b| b.needs_forcing());
                holds
                    && [Fault::Error, Fault::Cancel, Fault::Disconnect]
                        .into_iter()
                        .any(|fault| s.is_enabled(Action::Fault { session, fault }))
            })
        },
        reads: None,
    },
    Case {
        name: "the server must refuse a command a client sends",
        // Refusals before any step: the session-state checks (9.6+), a label the design
        // refuses, an exclusive start on a standby.
        applies: |m| {
            let rules = m.variant.rules();
            let c = &m.config;
            c.commands_per_session >= 1
                && ((rules.session_state && sql_api(m))
                    || c.hostile_labels
                    || (c.standby && rules.has_exclusive() && c.sql_sessions >= 1))
        },
        condition: |_, s| {
            let mut offered = Vec::new();
            s.actions_into(&mut offered);
            offered.into_iter().any(|action| {
                matches!(action, Action::Begin { .. }) && {
                    let mut next = s.clone();
                    matches!(
                        next.apply(action).map(|e| e.kind),
                        Ok(EventKind::CommandRejected { .. })
                    )
                }
            })
        },
        reads: None,
    },
    Case {
        name: "an exclusive backup runs",
        applies: |m| {
            let c = &m.config;
            m.variant.rules().has_exclusive()
                && c.exclusive_backups
                && !c.standby
                && c.sql_sessions >= 1
        },
        condition: |_, s| {
            s.backups
                .iter()
                .any(|b| b.mode == BackupMode::Exclusive && b.phase == BackupPhase::Running)
        },
        reads: Some(Regions::BACKUPS),
    },
    Case {
        name: "a temporary label file is written",
        applies: |m| {
            let rules = m.variant.rules();
            let c = &m.config;
            rules.label_delivery == backup_coordinator::variant::LabelDelivery::TemporaryFile
                && !c.standby
                && (c.walsenders + c.replication_sessions >= 1
                    || (rules.sql_non_exclusive && c.sql_sessions >= 1))
        },
        condition: |_, s| !s.data_dir.temp_labels.is_empty(),
        reads: Some(Regions::DATA_DIR),
    },
    Case {
        name: "a backup is taken on a standby",
        applies: |m| m.config.standby,
        condition: |_, s| {
            s.backups
                .iter()
                .any(|b| b.from_standby && b.phase == BackupPhase::Running)
        },
        reads: Some(Regions::BACKUPS),
    },
    Case {
        name: "a replication=database session runs an SQL backup and a BASE_BACKUP",
        applies: |m| {
            m.config.replication_sessions >= 1 && m.config.backups_per_session >= 2 && sql_api(m)
        },
        condition: |_, s| {
            s.sessions.iter().any(|x| {
                x.kind == backup_coordinator::state::SessionKind::Replication
                    && x.mode == BackupMode::Streamed
                    && x.starts >= 2
                    && x.backup.is_some()
            })
        },
        reads: Some(Regions::SESSIONS),
    },
    Case {
        name: "a JIT exit callback sits above a backup's exit hook",
        applies: |m| {
            m.config.jit_queries >= 1
                && m.variant.rules().sql_non_exclusive
                && (m.config.sql_sessions + m.config.replication_sessions) >= 1
        },
        condition: |_, s| {
            use backup_coordinator::state::Hook;
            s.sessions
                .iter()
                .any(|x| x.hooks.contains(Hook::Jit) && x.hooks.contains(Hook::AbortBackup))
        },
        reads: Some(Regions::SESSIONS),
    },
    Case {
        name: "a fast shutdown waits while a backup runs",
        applies: |m| m.config.shutdowns >= 1 && !m.config.standby,
        condition: |_, s| {
            s.server == backup_coordinator::state::ServerState::ShuttingDown
                && s.backups.iter().any(|b| b.needs_forcing())
        },
        reads: Some(Regions::CONTROL.union(Regions::BACKUPS)),
    },
    Case {
        name: "an OS crash can strike while a backup runs",
        applies: |m| m.config.os_crashes >= 1,
        condition: |_, s| {
            s.is_enabled(Action::OsCrash) && s.backups.iter().any(|b| b.needs_forcing())
        },
        reads: None,
    },
    Case {
        name: "a backup-end record ends on a segment boundary",
        applies: |m| m.config.wal_fills >= 1 && !m.config.standby && m.config.sessions() >= 1,
        condition: |_, s| {
            let seg = s.seg();
            s.wal.end_records.iter().any(|&(at, _)| {
                let (record, _) = backup_coordinator::lsn::insert_record(
                    seg,
                    at,
                    backup_coordinator::lsn::record_bytes::BACKUP_END,
                );
                seg.offset_in_segment(record.end) == 0
            })
        },
        reads: Some(Regions::WAL),
    },
];

/// Two sessions waiting on (or just served by) the same completed checkpoint.
fn one_checkpoint_serves_two(s: &Cluster) -> bool {
    let waiting: smallvec::SmallVec<[u32; 4]> = s
        .sessions
        .iter()
        .filter(|x| x.pc.reads_checkpoint_ticket())
        .map(|x| x.ticket)
        .collect();
    waiting
        .iter()
        .enumerate()
        .any(|(i, t)| s.checkpointer.done > *t && waiting[i + 1..].contains(t))
}

const LATCHES: usize = ALWAYS.len() + CASES.len();
const _: () = assert!(CASES.len() <= 32, "the cases' mask is a u32");

fn fresh_latches() -> Arc<[AtomicBool; LATCHES]> {
    Arc::new(std::array::from_fn(|_| AtomicBool::new(false)))
}

/// The folded `always` property of a check: every invariant not yet seen violated is
/// evaluated, and a violation seen for the first time is latched (the report's verdict for
/// that invariant; its counterexample is re-derived breadth first, [`crate::shortest`]). The
/// property itself always holds for stateright. stateright 0.31's depth-first search does not
/// expand a state at which no property still awaits a discovery: had this returned false where
/// a violation is first seen, a state whose path had already settled the `eventually`
/// property (found violated elsewhere) would have been left unexpanded, and the search of a
/// design with a liveness finding would have missed what lies only beyond it (with a count
/// that hung on which thread latched first). Holding, it keeps every state awaiting, so every
/// state is expanded whatever is found. The invariants not yet latched are first asked
/// together ([`invariants::check_except`], one pass for the per-backup ones): where they all
/// hold, as at nearly every state, none is asked again one by one.
fn every_invariant(model: &BackupModel, state: &Cluster) -> bool {
    let latched: invariants::PropertySet = INVARIANTS
        .iter()
        .zip(model.latches.iter())
        .filter(|(_, latch)| latch.load(Ordering::Relaxed))
        .map(|((property, _), _)| *property)
        .collect();
    if invariants::check_except(state, latched).is_ok() {
        return true;
    }
    for (latch, (_, holds)) in model.latches.iter().zip(ALWAYS.iter()) {
        if !latch.load(Ordering::Relaxed) && !holds(model, state) {
            latch.store(true, Ordering::Relaxed);
        }
    }
    true
}

/// The folded property of a check: [`every_invariant`], after [`latch_cases`] has latched the
/// cases this state reaches. A case needs no stateright property of its own: its verdict is
/// its latch, and stateright's path to it would never be read, while each property costs a
/// lookup of its name at every state.
fn every_invariant_and_case(model: &BackupModel, state: &Cluster) -> bool {
    if model.cases != 0 {
        latch_cases(model, state);
    }
    every_invariant(model, state)
}

/// Every reachable case not yet reached is evaluated, and one this state reaches is latched
/// (the report's verdict for it).
fn latch_cases(model: &BackupModel, state: &Cluster) {
    for (i, case) in CASES.iter().enumerate() {
        let latch = &model.latches[ALWAYS.len() + i];
        if model.cases & 1 << i != 0
            && !latch.load(Ordering::Relaxed)
            && (case.condition)(model, state)
        {
            latch.store(true, Ordering::Relaxed);
        }
    }
}
