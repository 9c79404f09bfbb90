//! An exhaustive stateright model of the backup coordinator. Its state is the core's
//! [`Cluster`], its actions are exactly `Cluster::actions()` and its transitions
//! `Cluster::apply()`: there is no protocol logic here, only the properties (each calling the
//! core's invariant functions), the `sometimes` properties that prove the bounds reach the
//! interesting cases, one `eventually` property, and the running and reporting of a check.
//!
//! Counterexamples are shortest: BFS with one thread finds shortest paths; a violation found
//! by DFS, several threads or symmetry is searched again with a one-thread BFS bounded by the
//! depth found. Every report states the bounds and the chance of a fingerprint collision.

use backup_coordinator::action::{Action, Fault};
use backup_coordinator::invariants::{self, INVARIANTS};
use backup_coordinator::state::{BackupMode, Pc, SessionId};
use backup_coordinator::trace::{describe_config, Trace};
use backup_coordinator::{Cluster, Config, Variant};
use serde::Serialize;
use stateright::{Checker, HasDiscoveries, Model, Property};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The model: a design and its bounds.
#[derive(Clone, Debug)]
pub struct BackupModel {
    /// The design under test.
    pub variant: Variant,
    /// The bounds and settings.
    pub config: Config,
}

/// The model's default bounds: two SQL sessions and one WAL sender, one backup each, one page
/// writer with one write, and one fault (any kind). Exclusive backups are offered where the
/// design has them.
pub fn default_bounds() -> Config {
    Config {
        sql_sessions: 2,
        walsenders: 1,
        backups_per_session: 1,
        crashes: 0,
        faults: 1,
        writers: 1,
        pages: 1,
        page_writes: 1,
        ..Config::default()
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

    fn next_state(&self, state: &Cluster, action: Action) -> Option<Cluster> {
        let mut next = state.clone();
        next.apply(action).ok()?;
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut out: Vec<Property<Self>> = ALWAYS
            .iter()
            .map(|&(name, f)| Property::always(name, f))
            .collect();
        out.extend(
            self.reachable_cases()
                .into_iter()
                .map(|(name, f)| Property::sometimes(name, f)),
        );
        out.push(Property::eventually(EVENTUALLY, |_, s| {
            every_backup_ended(s)
        }));
        out
    }

    fn format_action(&self, action: &Action) -> String {
        action.to_string()
    }

    fn format_step(&self, last_state: &Cluster, action: Action) -> Option<String> {
        let mut next = last_state.clone();
        next.apply(action).ok().map(|event| event.to_string())
    }
}

type Condition = fn(&BackupModel, &Cluster) -> bool;

/// One `always` property per core invariant, named as the core names it.
const ALWAYS: [(&str, Condition); 14] = [
    (INVARIANTS[0].0.name(), |_, s| {
        invariants::counter_matches_backups(s).is_ok()
    }),
    (INVARIANTS[1].0.name(), |_, s| {
        invariants::forcing_while_backup_runs(s).is_ok()
    }),
    (INVARIANTS[2].0.name(), |_, s| {
        invariants::no_torn_page_in_stopped_backup(s).is_ok()
    }),
    (INVARIANTS[3].0.name(), |_, s| {
        invariants::unique_start_points(s).is_ok()
    }),
    (INVARIANTS[4].0.name(), |_, s| {
        invariants::history_files_never_overwritten(s).is_ok()
    }),
    (INVARIANTS[5].0.name(), |_, s| {
        invariants::exclusive_backup_alone(s).is_ok()
    }),
    (INVARIANTS[6].0.name(), |_, s| {
        invariants::no_stale_backup_label(s).is_ok()
    }),
    (INVARIANTS[7].0.name(), |_, s| {
        invariants::session_state_matches_unit(s).is_ok()
    }),
    (INVARIANTS[8].0.name(), |_, s| {
        invariants::units_released_once(s).is_ok()
    }),
    (INVARIANTS[9].0.name(), |_, s| {
        invariants::start_point_is_real_wal(s).is_ok()
    }),
    (INVARIANTS[10].0.name(), |_, s| {
        invariants::labels_round_trip(s).is_ok()
    }),
    (INVARIANTS[11].0.name(), |_, s| {
        invariants::labels_never_shared(s).is_ok()
    }),
    (INVARIANTS[12].0.name(), |_, s| {
        invariants::assertions_hold(s).is_ok()
    }),
    (INVARIANTS[13].0.name(), |_, s| {
        invariants::restart_succeeds(s).is_ok()
    }),
];

/// The `eventually` property's name.
pub const EVENTUALLY: &str = "every started backup ends";

/// Every backup begun has ended (stopped, failed, or lost in a crash), no command is half
/// done, and every session has used its budget of backups (or the server is down). False in
/// the initial state, so a path satisfies it only by getting every backup to its end.
fn every_backup_ended(s: &Cluster) -> bool {
    let budgets_used = s
        .sessions
        .iter()
        .all(|x| x.starts >= s.config.backups_per_session);
    s.backups.is_empty() && invariants::quiescent(s) && (budgets_used || s.is_down())
}

/// A `sometimes` property: a case the bounds must reach.
pub type Case = (&'static str, Condition);

impl BackupModel {
    /// The cases these bounds can reach and therefore must: a `sometimes` property that is
    /// never reached means the bounds are too small to test what they claim to.
    pub fn reachable_cases(&self) -> Vec<Case> {
        let c = &self.config;
        let rules = self.variant.rules();
        let sessions = usize::from(c.sql_sessions) + usize::from(c.walsenders);
        let exclusive = rules.has_exclusive() && c.exclusive_backups;
        let mut out: Vec<Case> = Vec::new();
        out.push(("a backup stops successfully", |_, s| {
            !s.data_dir.history.is_empty()
        }));
        if sessions >= 2 {
            out.push(("two backups active at once", |_, s| {
                s.backups.iter().filter(|b| b.needs_forcing()).count() >= 2
            }));
            out.push(("one checkpoint serves two starts", |_, s| {
                one_checkpoint_serves_two(s)
            }));
        }
        if exclusive && c.sql_sessions >= 1 && c.walsenders >= 1 {
            out.push(("an exclusive and a streamed backup at once", |_, s| {
                let live = |mode| {
                    s.backups
                        .iter()
                        .any(|b| b.mode == mode && b.needs_forcing())
                };
                live(BackupMode::Exclusive) && live(BackupMode::Streamed)
            }));
        }
        if c.crashes >= 1 {
            out.push(("a crash can strike while a backup runs", |_, s| {
                s.is_enabled(Action::Crash) && s.backups.iter().any(|b| b.needs_forcing())
            }));
        }
        if c.writers >= 1 && c.page_writes >= 1 && c.pages >= 1 {
            out.push(("a page is changed while a backup copies", |_, s| {
                s.backups.iter().any(|b| {
                    b.phase == backup_coordinator::state::BackupPhase::Running
                        && b.accepted
                        && s.pages.iter().any(|&lsn| lsn > b.start)
                })
            }));
        }
        if c.faults >= 1 {
            out.push(("a fault can strike a running backup", |_, s| {
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
            }));
        }
        out
    }
}

/// Two sessions waiting on (or just served by) the same completed checkpoint.
fn one_checkpoint_serves_two(s: &Cluster) -> bool {
    let waiting: Vec<u32> = s
        .sessions
        .iter()
        .filter(|x| matches!(x.pc, Pc::StartWaitCheckpoint | Pc::StartReadControl))
        .map(|x| x.ticket)
        .collect();
    waiting
        .iter()
        .enumerate()
        .any(|(i, t)| s.checkpointer.done > *t && waiting[i + 1..].contains(t))
}

/// How to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Search {
    /// Breadth first: shortest paths (with one thread); holds whole states in its queue.
    Bfs,
    /// Depth first: little memory; honours symmetry reduction.
    Dfs,
}

/// How to run a check.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions {
    /// Search order.
    pub search: Search,
    /// Worker threads.
    pub threads: usize,
    /// Symmetry reduction (DFS only: stateright 0.31's BFS ignores it).
    pub symmetry: bool,
    /// Stop after this long (the report then says the check is incomplete).
    pub timeout: Option<Duration>,
    /// Re-derive a shortest counterexample for every violated property.
    pub shortest_counterexamples: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            search: Search::Dfs,
            threads: 2,
            symmetry: true,
            timeout: None,
            shortest_counterexamples: true,
        }
    }
}

/// What kind of property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    /// Must hold in every reachable state.
    Always,
    /// Must hold in some reachable state.
    Sometimes,
    /// Must hold at some point on every path.
    Eventually,
}

/// A property's verdict.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// An `always` or `eventually` property held in every explored state or path.
    Holds,
    /// A counterexample.
    Violated {
        /// Its length in actions.
        length: usize,
        /// The counterexample, replayed through the core.
        trace: Trace,
    },
    /// A `sometimes` property was reached.
    Reached {
        /// Length of the example path.
        length: usize,
    },
    /// A `sometimes` property was never reached: the bounds do not test it.
    NotReached,
}

/// One property's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyOutcome {
    /// Its name.
    pub name: &'static str,
    /// Its kind.
    pub expectation: Expectation,
    /// Its verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl PropertyOutcome {
    /// True when the outcome is a failure (a violation, or a case the bounds never reach).
    pub fn is_failure(&self) -> bool {
        matches!(self.verdict, Verdict::Violated { .. } | Verdict::NotReached)
    }
}

/// The result of a check.
#[derive(Clone, Debug, Serialize)]
pub struct ModelReport {
    /// The design.
    pub variant: Variant,
    /// The bounds.
    pub bounds: Config,
    /// The bounds, in words.
    pub bounds_text: String,
    /// Search order.
    pub search: Search,
    /// Threads.
    pub threads: usize,
    /// Symmetry reduction on.
    pub symmetry: bool,
    /// Distinct states (representatives, with symmetry).
    pub unique_states: usize,
    /// States generated, duplicates included.
    pub generated_states: usize,
    /// Longest path explored.
    pub max_depth: usize,
    /// Wall time of the search, in seconds.
    pub seconds: f64,
    /// Unique states per second.
    pub states_per_second: f64,
    /// Peak resident memory of the process, in bytes, where the OS tells it.
    pub peak_memory_bytes: Option<u64>,
    /// Chance that two distinct states share a 64-bit fingerprint at this state count.
    pub collision_probability: f64,
    /// The search explored everything (no timeout, no early stop).
    pub complete: bool,
    /// Every property's outcome.
    pub properties: Vec<PropertyOutcome>,
}

impl ModelReport {
    /// The failing outcomes.
    pub fn failures(&self) -> impl Iterator<Item = &PropertyOutcome> {
        self.properties.iter().filter(|p| p.is_failure())
    }

    /// The names of the violated properties (always and eventually), sorted.
    pub fn violated(&self) -> BTreeSet<&'static str> {
        self.properties
            .iter()
            .filter(|p| matches!(p.verdict, Verdict::Violated { .. }))
            .map(|p| p.name)
            .collect()
    }

    /// A summary for a terminal.
    pub fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "model check of {} ({})",
            self.variant,
            self.variant.design.summary()
        );
        let _ = writeln!(out, "bounds: {}", self.bounds_text);
        let _ = writeln!(
            out,
            "search: {:?}, {} thread(s), symmetry {}; {} unique states ({} generated), max depth {}, {:.2} s, {:.0} states/s{}",
            self.search,
            self.threads,
            if self.symmetry { "on" } else { "off" },
            self.unique_states,
            self.generated_states,
            self.max_depth,
            self.seconds,
            self.states_per_second,
            self.peak_memory_bytes.map(|b| format!(", peak memory {} MiB", b / (1024 * 1024))).unwrap_or_default(),
        );
        let _ = writeln!(
            out,
            "fingerprint collision probability: {:.1e}",
            self.collision_probability
        );
        if !self.complete {
            let _ = writeln!(
                out,
                "INCOMPLETE: the search stopped before exploring every state"
            );
        }
        for p in &self.properties {
            let verdict = match &p.verdict {
                Verdict::Holds => "holds".to_string(),
                Verdict::Violated { length, .. } => {
                    format!("VIOLATED (counterexample of {length} steps)")
                }
                Verdict::Reached { length } => format!("reached (in {length} steps)"),
                Verdict::NotReached => "NOT REACHED: the bounds do not test this case".to_string(),
            };
            let kind = match p.expectation {
                Expectation::Always => "always",
                Expectation::Sometimes => "sometimes",
                Expectation::Eventually => "eventually",
            };
            let _ = writeln!(out, "  {kind:<10} {:<44} {verdict}", p.name);
        }
        for p in &self.properties {
            if let Verdict::Violated { trace, .. } = &p.verdict {
                let _ = writeln!(out, "\ncounterexample for \"{}\":", p.name);
                out.push_str(&trace.render_text());
            }
        }
        out
    }
}

/// Why a check could not run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The configuration is invalid.
    #[error("invalid bounds: {0}")]
    Config(#[from] backup_coordinator::config::ConfigError),
    /// A counterexample path could not be replayed (a bug in the model or the checker).
    #[error("counterexample for {property} does not replay: {source}")]
    Replay {
        /// The property.
        property: &'static str,
        /// Why.
        source: backup_coordinator::trace::ReplayError,
    },
}

impl BackupModel {
    /// A model of `variant` within `config`'s bounds.
    pub fn new(variant: Variant, config: Config) -> Result<Self, ModelError> {
        config.validate()?;
        Ok(BackupModel { variant, config })
    }

    fn expectation_of(&self, name: &str) -> Expectation {
        if name == EVENTUALLY {
            Expectation::Eventually
        } else if ALWAYS.iter().any(|(n, _)| *n == name) {
            Expectation::Always
        } else {
            Expectation::Sometimes
        }
    }

    /// Runs the check.
    pub fn check(&self, options: CheckOptions) -> Result<ModelReport, ModelError> {
        let started = Instant::now();
        let mut builder = self.clone().checker().threads(options.threads.max(1));
        if let Some(timeout) = options.timeout {
            builder = builder.timeout(timeout);
        }
        if options.symmetry {
            builder = builder.symmetry_fn(Cluster::representative);
        }
        let checker = match options.search {
            Search::Bfs => CheckerRun::Bfs(builder.spawn_bfs().join()),
            Search::Dfs => CheckerRun::Dfs(builder.spawn_dfs().join()),
        };
        let seconds = started.elapsed().as_secs_f64();
        let (unique, generated, depth, discoveries) = checker.summary();
        let timed_out = options.timeout.is_some_and(|t| started.elapsed() >= t);
        let properties = self.properties();
        let mut outcomes = Vec::new();
        for property in &properties {
            let expectation = self.expectation_of(property.name);
            let verdict = match (
                expectation,
                discoveries.iter().find(|(n, _)| *n == property.name),
            ) {
                (Expectation::Sometimes, Some((_, path))) => {
                    Verdict::Reached { length: path.len() }
                }
                (Expectation::Sometimes, None) => Verdict::NotReached,
                (_, None) => Verdict::Holds,
                (_, Some((_, path))) => {
                    let shortest = if options.shortest_counterexamples
                        && (options.search != Search::Bfs
                            || options.threads > 1
                            || options.symmetry)
                    {
                        self.shortest_counterexample(property.name, path.len())
                            .unwrap_or_else(|| path.clone())
                    } else {
                        path.clone()
                    };
                    let trace =
                        Trace::replay(self.variant, self.config, &shortest).map_err(|source| {
                            ModelError::Replay {
                                property: property.name,
                                source,
                            }
                        })?;
                    Verdict::Violated {
                        length: shortest.len(),
                        trace,
                    }
                }
            };
            outcomes.push(PropertyOutcome {
                name: property.name,
                expectation,
                verdict,
            });
        }
        let n = unique as f64;
        Ok(ModelReport {
            variant: self.variant,
            bounds: self.config,
            bounds_text: describe_config(&self.config),
            search: options.search,
            threads: options.threads.max(1),
            symmetry: options.symmetry,
            unique_states: unique,
            generated_states: generated,
            max_depth: depth,
            seconds,
            states_per_second: if seconds > 0.0 { n / seconds } else { 0.0 },
            peak_memory_bytes: peak_memory_bytes(),
            collision_probability: n * (n - 1.0) / 2.0 / 2f64.powi(64),
            complete: !timed_out,
            properties: outcomes,
        })
    }

    /// A shortest path to a violation of `property`: one-thread BFS without symmetry, bounded
    /// by the length of a path already found.
    pub fn shortest_counterexample(
        &self,
        property: &'static str,
        known_length: usize,
    ) -> Option<Vec<Action>> {
        let checker = self
            .clone()
            .checker()
            .threads(1)
            .target_max_depth(known_length + 2)
            .finish_when(HasDiscoveries::AnyOf(BTreeSet::from([property])))
            .spawn_bfs()
            .join();
        checker.discovery(property).map(|path| path.into_actions())
    }
}

enum CheckerRun<A, B> {
    Bfs(A),
    Dfs(B),
}

type Found = Vec<(&'static str, Vec<Action>)>;

impl<A: Checker<BackupModel>, B: Checker<BackupModel>> CheckerRun<A, B> {
    fn summary(&self) -> (usize, usize, usize, Found) {
        fn of<C: Checker<BackupModel>>(c: &C) -> (usize, usize, usize, Found) {
            let mut found: Found = c
                .discoveries()
                .into_iter()
                .map(|(n, p)| (n, p.into_actions()))
                .collect();
            found.sort_by_key(|(n, _)| *n);
            (
                c.unique_state_count(),
                c.state_count(),
                c.max_depth(),
                found,
            )
        }
        match self {
            CheckerRun::Bfs(c) => of(c),
            CheckerRun::Dfs(c) => of(c),
        }
    }
}

/// Peak resident set size of this process (Linux `VmHWM`).
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
