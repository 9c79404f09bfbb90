//! The `incremental` profile: an exhaustive stateright model of incremental backup (PostgreSQL
//! 17+) over the core's [`IncrementalCluster`]: its actions are exactly
//! `IncrementalCluster::actions()` and its transitions `IncrementalCluster::apply()`, its
//! `always` and `eventually` properties the core's [`IncrementalProperty`] catalogue, and its
//! `sometimes` cases the mechanisms the bounds must reach (a promotion, a summary on the new
//! timeline, a backup rebuilt from blocks sent one by one and from a whole file). A check
//! reports each property's verdict with a shortest counterexample, re-derived breadth first.

use crate::report::{peak_memory_bytes, Expectation, Search};
use backup_coordinator::incremental::blkreftable::ForkKey;
use backup_coordinator::incremental::cluster::{
    IncrementalAction, IncrementalBackup, IncrementalCluster, IncrementalConfig,
    IncrementalProperty, IncrementalRules,
};
use backup_coordinator::Variant;
use serde::Serialize;
use stateright::{Checker, Model, Property};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A named set of bounds of incremental backup.
#[derive(Clone, Copy, Debug)]
pub struct IncrementalProfile {
    /// Its name (`--profile NAME`, and in expected-findings.toml).
    pub name: &'static str,
    /// What it is for.
    pub purpose: &'static str,
    /// The bounds.
    pub config: IncrementalConfig,
}

/// The profiles of incremental backup, checked for every design that has it:
///
/// * `incremental`: INCREMENTAL.md §4's bounds for I1: four blocks, a page write, a truncation
///   and two checkpoints on the primary, a write on the promoted standby; the standby's
///   summarizer reads ahead of replay and may fail and restart once, the standby is promoted
///   at its replay point; it archives (`archive_mode = on`), so its promotion renames the old
///   timeline's last segment `.partial`.
/// * `incremental-merge`: everything on the promoted standby's timeline (a write, a
///   truncation, a checkpoint, a summarizer restart), so that summaries of one timeline are
///   merged in the order the directory lists them.
/// * `incremental-database`: the primary drops the relation's database and creates it again
///   from its template by file copy (no block references), beside a write, a checkpoint and a
///   summarizer restart.
/// * `incremental-minimal`: both backups taken on the primary, which summarizes its own WAL,
///   with a restart at `wal_level = minimal` and back, two writes, a truncation and a
///   checkpoint.
pub fn profiles() -> [IncrementalProfile; 4] {
    [
        IncrementalProfile {
            name: "incremental",
            purpose: "a primary, a summarizing standby (archiving) promoted at its replay point, a full backup on timeline 1 and an incremental one on timeline 2, combined and compared with the source",
            config: IncrementalConfig {
                summarizer_crashes: 1,
                archive_mode: true,
                ..IncrementalConfig::default()
            },
        },
        IncrementalProfile {
            name: "incremental-merge",
            purpose: "a write, a truncation and a checkpoint on the promoted standby: summaries of one timeline merged in the order the directory lists them",
            config: IncrementalConfig {
                primary_writes: 0,
                truncations: 0,
                primary_checkpoints: 0,
                standby_writes: 1,
                standby_truncations: 1,
                standby_checkpoints: 1,
                summarizer_crashes: 1,
                ..IncrementalConfig::default()
            },
        },
        IncrementalProfile {
            name: "incremental-database",
            purpose: "the primary recreates the relation's database from its template by file copy, beside a write and a checkpoint",
            config: IncrementalConfig {
                primary_writes: 1,
                truncations: 0,
                primary_checkpoints: 1,
                standby_writes: 1,
                database_recreations: 1,
                summarizer_crashes: 1,
                ..IncrementalConfig::default()
            },
        },
        IncrementalProfile {
            name: "incremental-minimal",
            purpose: "both backups on the primary, which restarts at wal_level = minimal (writes without WAL) and back",
            config: IncrementalConfig {
                primary_writes: 2,
                truncations: 1,
                primary_checkpoints: 1,
                standby_writes: 0,
                on_primary: true,
                minimal_restarts: 1,
                ..IncrementalConfig::default()
            },
        },
    ]
}

/// The incremental profile called `name`.
pub fn profile(name: &str) -> Option<IncrementalProfile> {
    profiles().into_iter().find(|p| p.name == name)
}

/// A `sometimes` case: a mechanism the bounds must reach.
pub struct IncrementalCase {
    /// Its name.
    pub name: &'static str,
    /// Whether bounds can reach it (then they must).
    pub applies: fn(&IncrementalConfig) -> bool,
    /// The condition.
    pub condition: fn(&IncrementalCluster) -> bool,
}

/// Every case, in report order.
pub const CASES: [IncrementalCase; 9] = [
    IncrementalCase {
        name: "the standby is promoted past WAL its summarizer read ahead of replay",
        // A summary beyond the promotion point ends at a redo record the primary wrote after
        // the full backup's.
        applies: |c| c.primary_checkpoints > 0 && !c.on_primary,
        condition: |c| {
            c.promoted
                && c.timelines[0].end.is_some_and(|switch| {
                    c.summaries.iter().any(|s| s.tli.0 == 1 && s.end > switch)
                })
        },
    },
    IncrementalCase {
        name: "a summary is written on the new timeline",
        applies: |c| !c.on_primary,
        condition: |c| c.summaries.iter().any(|s| s.tli.0 == 2),
    },
    IncrementalCase {
        name: "an incremental backup sends blocks one by one",
        applies: |_| true,
        condition: |c| {
            matches!(
                c.incremental,
                Some(IncrementalBackup::Rebuilt { sent: Some(_), .. })
            )
        },
    },
    IncrementalCase {
        name: "an incremental backup sends a whole file",
        applies: |_| true,
        condition: |c| {
            matches!(
                c.incremental,
                Some(IncrementalBackup::Rebuilt { sent: None, .. })
            )
        },
    },
    IncrementalCase {
        name: "a truncation is summarized",
        applies: |c| c.truncations + c.standby_truncations > 0,
        condition: |c| {
            c.summaries
                .iter()
                .any(|s| s.table.entries().any(|(_, entry)| entry.limit.is_some()))
        },
    },
    IncrementalCase {
        name: "a database recreated by file copy is summarized",
        applies: |c| c.database_recreations > 0,
        condition: |c| {
            c.summaries
                .iter()
                .any(|s| s.table.entry(ForkKey::DATABASE).is_some())
        },
    },
    IncrementalCase {
        name: "WAL written at wal_level = minimal lies between the two backups",
        applies: |c| c.minimal_restarts > 0,
        condition: |c| c.incremental.is_some() && c.minimal_wal_since_full_backup(),
    },
    IncrementalCase {
        name: "the summarizer restarts after the promotion and goes back to the old timeline",
        applies: |c| c.summarizer_crashes > 0 && !c.on_primary,
        condition: |c| c.used[8] > 0 && c.promoted && c.summarizing.tli.0 == 1,
    },
    IncrementalCase {
        name: "the summarizer must read old-timeline WAL in the segment renamed .partial at the promotion",
        // A record after the full backup's, in the segment where replay stops.
        applies: |c| {
            c.archive_mode
                && !c.on_primary
                && c.primary_writes + c.truncations + c.primary_checkpoints + c.database_recreations
                    > 0
        },
        condition: |c| c.next_read_in_partial_segment(),
    },
];

/// The model: the variant's incremental rules within bounds.
#[derive(Clone, Debug)]
pub struct IncrementalModel {
    /// The profile's name, for the report.
    pub profile: &'static str,
    /// The variant under test.
    pub variant: Variant,
    /// Its incremental rules.
    pub rules: IncrementalRules,
    /// The bounds.
    pub config: IncrementalConfig,
    stop: Arc<AtomicBool>,
}

impl IncrementalModel {
    /// The model of `variant`, or `None` for a design without incremental backups.
    pub fn new(variant: Variant, profile: IncrementalProfile) -> Option<Self> {
        Some(IncrementalModel {
            profile: profile.name,
            variant,
            rules: variant.rules().incremental?,
            config: profile.config,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The model of explicit rules (a proposal not yet a design), reported as `variant`.
    pub fn with_rules(
        variant: Variant,
        rules: IncrementalRules,
        profile: IncrementalProfile,
    ) -> Self {
        IncrementalModel {
            profile: profile.name,
            variant,
            rules,
            config: profile.config,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    fn expectation_of(name: &str) -> Expectation {
        if name == IncrementalProperty::EVENTUALLY.name() {
            Expectation::Eventually
        } else if IncrementalProperty::ALWAYS.iter().any(|p| p.name() == name) {
            Expectation::Always
        } else {
            Expectation::Sometimes
        }
    }
}

/// Whether `variant` has incremental backups (and so the `incremental` profile applies).
pub fn applies(variant: Variant) -> bool {
    variant.rules().incremental.is_some()
}

type Condition = fn(&IncrementalModel, &IncrementalCluster) -> bool;

const ALWAYS: [Condition; IncrementalProperty::ALWAYS.len()] = [
    |_, c| IncrementalProperty::ALWAYS[0].holds(c),
    |_, c| IncrementalProperty::ALWAYS[1].holds(c),
    |_, c| IncrementalProperty::ALWAYS[2].holds(c),
];

const SOMETIMES: [Condition; CASES.len()] = [
    |_, c| (CASES[0].condition)(c),
    |_, c| (CASES[1].condition)(c),
    |_, c| (CASES[2].condition)(c),
    |_, c| (CASES[3].condition)(c),
    |_, c| (CASES[4].condition)(c),
    |_, c| (CASES[5].condition)(c),
    |_, c| (CASES[6].condition)(c),
    |_, c| (CASES[7].condition)(c),
    |_, c| (CASES[8].condition)(c),
];

impl Model for IncrementalModel {
    type State = IncrementalCluster;
    type Action = IncrementalAction;

    fn init_states(&self) -> Vec<IncrementalCluster> {
        vec![IncrementalCluster::new(self.rules, self.config)]
    }

    fn actions(&self, state: &IncrementalCluster, actions: &mut Vec<IncrementalAction>) {
        actions.extend(state.actions());
    }

    fn next_state(
        &self,
        state: &IncrementalCluster,
        action: IncrementalAction,
    ) -> Option<IncrementalCluster> {
        let mut next = state.clone();
        next.apply(action).ok().map(|()| next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut out: Vec<Property<Self>> = IncrementalProperty::ALWAYS
            .iter()
            .zip(ALWAYS)
            .map(|(p, f)| Property::always(p.name(), f))
            .collect();
        for (case, f) in CASES.iter().zip(SOMETIMES) {
            if (case.applies)(&self.config) {
                out.push(Property::sometimes(case.name, f));
            }
        }
        out.push(Property::eventually(
            IncrementalProperty::EVENTUALLY.name(),
            |_, c| IncrementalProperty::EVENTUALLY.holds(c),
        ));
        out
    }

    fn within_boundary(&self, _state: &IncrementalCluster) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    fn format_action(&self, action: &IncrementalAction) -> String {
        action.to_string()
    }
}

/// A counterexample: the steps, and what is wrong at its end.
#[derive(Clone, Debug, Serialize)]
pub struct IncrementalTrace {
    /// The steps, in words.
    pub steps: Vec<String>,
    /// What the property finds at the end.
    pub problems: Vec<String>,
}

impl IncrementalTrace {
    /// The counterexample as numbered lines, ready to paste into a review.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for (i, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("{:>3}. {step}\n", i + 1));
        }
        for problem in &self.problems {
            out.push_str(&format!("     => {problem}\n"));
        }
        out
    }

    /// The counterexample as a Mermaid sequence diagram for a review: one note per step over
    /// the process that takes it (the primary, the standby, its WAL summarizer, the client
    /// taking the backups), the problem at the end.
    pub fn render_mermaid(&self) -> String {
        use backup_coordinator::trace::mermaid_text;
        let mut out = String::from("sequenceDiagram\n");
        for (id, name) in [
            ("P", "primary"),
            ("S", "standby"),
            ("W", "WAL summarizer"),
            ("C", "backup client"),
        ] {
            out.push_str(&format!("    participant {id} as {name}\n"));
        }
        for (i, step) in self.steps.iter().enumerate() {
            let over = if step.starts_with("primary") {
                "P"
            } else if step.starts_with("standby") {
                "S"
            } else if step.starts_with("summarizer") {
                "W"
            } else {
                "C"
            };
            out.push_str(&format!(
                "    Note over {over}: {}. {}\n",
                i + 1,
                mermaid_text(step)
            ));
        }
        for problem in &self.problems {
            out.push_str(&format!(
                "    Note over P,C: violated: {}\n",
                mermaid_text(problem)
            ));
        }
        out
    }
}

/// A property's verdict in the `incremental` profile.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum IncrementalVerdict {
    /// Held in every state of a complete search.
    Holds,
    /// Held in every state reached; the search stopped early.
    NoViolationFound,
    /// A shortest counterexample.
    Violated {
        /// Its length in actions.
        length: usize,
        /// The counterexample.
        trace: IncrementalTrace,
    },
    /// A `sometimes` case was reached.
    Reached,
    /// A `sometimes` case was never reached in a complete search.
    NotReached,
    /// Not reached before the search stopped early.
    NotReachedYet,
    /// The search stopped early: an `eventually` property cannot be judged.
    NotJudged,
}

/// One property's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct IncrementalOutcome {
    /// Its name.
    pub name: &'static str,
    /// Its kind.
    pub expectation: Expectation,
    /// Its verdict.
    #[serde(flatten)]
    pub verdict: IncrementalVerdict,
}

/// The result of a check of the `incremental` profile.
#[derive(Clone, Debug, Serialize)]
pub struct IncrementalReport {
    /// The profile.
    pub profile: &'static str,
    /// The variant.
    pub variant: String,
    /// Its incremental rules, in words.
    pub rules: String,
    /// The bounds, in words.
    pub bounds_text: String,
    /// Search order (stateright's DFS).
    pub search: Search,
    /// Threads.
    pub threads: usize,
    /// Distinct states.
    pub unique_states: usize,
    /// States generated, duplicates included.
    pub generated_states: usize,
    /// Longest path explored.
    pub max_depth: usize,
    /// Wall time of the search, seconds (shortest counterexamples excluded).
    pub seconds: f64,
    /// Unique states per second.
    pub states_per_second: f64,
    /// Peak resident memory of the process, bytes.
    pub peak_memory_bytes: Option<u64>,
    /// The search explored everything.
    pub complete: bool,
    /// Ctrl-C stopped the search.
    pub interrupted: bool,
    /// Every property's outcome.
    pub properties: Vec<IncrementalOutcome>,
}

impl IncrementalReport {
    /// The violated properties with their shortest lengths.
    pub fn violated(&self) -> Vec<(String, usize)> {
        self.properties
            .iter()
            .filter_map(|p| match &p.verdict {
                IncrementalVerdict::Violated { length, .. } => Some((p.name.to_string(), *length)),
                _ => None,
            })
            .collect()
    }

    /// The `sometimes` cases a complete search never reached.
    pub fn not_reached(&self) -> Vec<&'static str> {
        self.properties
            .iter()
            .filter(|p| matches!(p.verdict, IncrementalVerdict::NotReached))
            .map(|p| p.name)
            .collect()
    }

    /// The report as text.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "model {} profile {}: {}\n  rules: {}\n  {} unique states ({} generated, depth {}) in {:.1} s, {:.0} states/s{}\n",
            self.variant,
            self.profile,
            self.bounds_text,
            self.rules,
            self.unique_states,
            self.generated_states,
            self.max_depth,
            self.seconds,
            self.states_per_second,
            if self.complete { "" } else { ", INCOMPLETE" }
        );
        for p in &self.properties {
            let verdict = match &p.verdict {
                IncrementalVerdict::Holds => "holds".to_string(),
                IncrementalVerdict::NoViolationFound => "no violation found (incomplete)".into(),
                IncrementalVerdict::Violated { length, .. } => {
                    format!("VIOLATED ({length} steps)")
                }
                IncrementalVerdict::Reached => "reached".into(),
                IncrementalVerdict::NotReached => "NOT REACHED".into(),
                IncrementalVerdict::NotReachedYet => "not reached yet (incomplete)".into(),
                IncrementalVerdict::NotJudged => "not judged (incomplete)".into(),
            };
            out.push_str(&format!(
                "  {:<10} {:<70} {verdict}\n",
                format!("{:?}", p.expectation).to_lowercase(),
                p.name
            ));
            if let IncrementalVerdict::Violated { trace, .. } = &p.verdict {
                out.push_str(&trace.render_text());
            }
        }
        out
    }
}

/// The bounds in words.
pub fn describe_bounds(c: &IncrementalConfig) -> String {
    format!(
        "{} blocks; primary: {} writes, {} truncations, {} checkpoints, {} database recreations, {} restarts at wal_level = minimal; {}; {} summarizer restarts{}; one full and one incremental backup",
        c.blocks,
        c.primary_writes,
        c.truncations,
        c.primary_checkpoints,
        c.database_recreations,
        c.minimal_restarts,
        if c.on_primary {
            "both backups on the primary".to_string()
        } else {
            format!(
                "promoted standby: {} writes, {} truncations, {} checkpoints",
                c.standby_writes, c.standby_truncations, c.standby_checkpoints
            )
        },
        c.summarizer_crashes,
        if c.archive_mode && !c.on_primary {
            "; the standby archives (archive_mode = on)"
        } else {
            ""
        }
    )
}

/// The rules in words.
pub fn describe_rules(r: &IncrementalRules) -> String {
    format!(
        "selection {:?}, merge order {:?}, summarizer: VM limit in VM blocks {}, database records {}, skip minimal WAL {}, re-read at a switch {}, rewind at a switch {}, a missing segment looked for on later timelines {}",
        r.selection,
        r.order,
        r.summarizer.vm_limit_in_vm_blocks,
        r.summarizer.database_records,
        r.summarizer.skip_minimal_wal,
        r.summarizer.reread_at_switch,
        r.summarizer.rewind_at_switch,
        r.summarizer.segment_on_descendants
    )
}

/// How to run a check of the profile.
#[derive(Clone, Copy, Debug)]
pub struct IncrementalOptions {
    /// Worker threads.
    pub threads: usize,
    /// Stop after this long.
    pub timeout: Option<Duration>,
    /// Set (by a Ctrl-C handler) to stop the search.
    pub interrupt: Option<&'static AtomicBool>,
}

impl Default for IncrementalOptions {
    fn default() -> Self {
        IncrementalOptions {
            threads: 2,
            timeout: None,
            interrupt: None,
        }
    }
}

impl IncrementalModel {
    /// Runs the check: stateright's DFS over every schedule, then a shortest counterexample
    /// for every violation.
    pub fn check(&self, options: IncrementalOptions) -> IncrementalReport {
        let model = IncrementalModel {
            stop: Arc::new(AtomicBool::new(false)),
            ..self.clone()
        };
        let stop = model.stop.clone();
        let started = Instant::now();
        let checker = model
            .clone()
            .checker()
            .threads(options.threads.max(1))
            .spawn_dfs();
        let mut interrupted = false;
        while !checker.is_done() {
            std::thread::sleep(crate::report::pause_between_looks(started.elapsed()));
            if options.interrupt.is_some_and(|i| i.load(Ordering::SeqCst)) {
                interrupted = true;
                stop.store(true, Ordering::Relaxed);
            }
            if options.timeout.is_some_and(|t| started.elapsed() >= t) {
                stop.store(true, Ordering::Relaxed);
            }
        }
        let checker = checker.join();
        let seconds = started.elapsed().as_secs_f64();
        let timed_out = stop.load(Ordering::Relaxed);
        let discoveries: BTreeMap<&'static str, Vec<IncrementalAction>> = checker
            .discoveries()
            .into_iter()
            .map(|(name, path)| (name, path.into_actions()))
            .collect();
        let goals: Vec<&'static str> = discoveries
            .keys()
            .copied()
            .filter(|name| match Self::expectation_of(name) {
                Expectation::Always => true,
                Expectation::Eventually => !timed_out,
                Expectation::Sometimes => false,
            })
            .collect();
        let shortest = if goals.is_empty() || interrupted {
            BTreeMap::new()
        } else {
            shortest_paths(self.rules, self.config, &goals)
        };
        let mut properties = Vec::new();
        for property in model.properties() {
            let expectation = Self::expectation_of(property.name);
            let found = discoveries.get(property.name);
            let verdict = match (expectation, found) {
                (Expectation::Sometimes, Some(_)) => IncrementalVerdict::Reached,
                (Expectation::Sometimes, None) if timed_out => IncrementalVerdict::NotReachedYet,
                (Expectation::Sometimes, None) => IncrementalVerdict::NotReached,
                (Expectation::Eventually, _) if timed_out => IncrementalVerdict::NotJudged,
                (_, None) if timed_out => IncrementalVerdict::NoViolationFound,
                (_, None) => IncrementalVerdict::Holds,
                (_, Some(path)) => {
                    let path = shortest.get(property.name).unwrap_or(path);
                    IncrementalVerdict::Violated {
                        length: path.len(),
                        trace: self.trace(property.name, path),
                    }
                }
            };
            properties.push(IncrementalOutcome {
                name: property.name,
                expectation,
                verdict,
            });
        }
        let unique = checker.unique_state_count();
        IncrementalReport {
            profile: self.profile,
            variant: self.variant.to_string(),
            rules: describe_rules(&self.rules),
            bounds_text: describe_bounds(&self.config),
            search: Search::Dfs,
            threads: options.threads.max(1),
            unique_states: unique,
            generated_states: checker.state_count(),
            max_depth: checker.max_depth(),
            seconds,
            states_per_second: if seconds > 0.0 {
                unique as f64 / seconds
            } else {
                0.0
            },
            peak_memory_bytes: peak_memory_bytes(),
            complete: !timed_out,
            interrupted,
            properties,
        }
    }

    /// `path` replayed through the core, in words, with what `property` finds at its end.
    fn trace(&self, property: &str, path: &[IncrementalAction]) -> IncrementalTrace {
        trace(self.rules, self.config, path, property)
    }
}

/// `path` replayed through the core from the initial state of `rules` and `config`, each step
/// in the protocol's words (`IncrementalCluster::apply_described`), with what `property` finds
/// at its end (the model's and the simulator's counterexamples alike).
pub fn trace(
    rules: IncrementalRules,
    config: IncrementalConfig,
    path: &[IncrementalAction],
    property: &str,
) -> IncrementalTrace {
    let mut c = IncrementalCluster::new(rules, config);
    let mut steps = Vec::new();
    for &action in path {
        match c.apply_described(action) {
            Ok(text) => steps.push(text),
            Err(error) => {
                steps.push(format!("{action} (the core refuses this step: {error})"));
                break;
            }
        }
    }
    let problems = IncrementalProperty::ALWAYS
        .into_iter()
        .chain([IncrementalProperty::EVENTUALLY])
        .filter(|p| p.name() == property)
        .flat_map(|p| p.problems(&c))
        .collect();
    IncrementalTrace { steps, problems }
}

fn fingerprint(c: &IncrementalCluster) -> u64 {
    let mut h = DefaultHasher::new();
    c.hash(&mut h);
    h.finish()
}

/// Shortest schedules (breadth first, states deduplicated by a 64-bit fingerprint) to a
/// violation of each of `goals`: an `always` property's first violating state, or for the
/// `eventually` property a state where no step is enabled and the backup was never taken.
pub fn shortest_paths(
    rules: IncrementalRules,
    config: IncrementalConfig,
    goals: &[&'static str],
) -> BTreeMap<&'static str, Vec<IncrementalAction>> {
    let start = IncrementalCluster::new(rules, config);
    let mut parents: Vec<(usize, Option<IncrementalAction>)> = vec![(0, None)];
    let mut seen: HashMap<u64, ()> = HashMap::from([(fingerprint(&start), ())]);
    let mut frontier = vec![(start, 0usize)];
    let mut found = BTreeMap::new();
    let path_to = |parents: &[(usize, Option<IncrementalAction>)], mut i: usize| {
        let mut path = Vec::new();
        while let (parent, Some(a)) = parents[i] {
            path.push(a);
            i = parent;
        }
        path.reverse();
        path
    };
    while !frontier.is_empty() && found.len() < goals.len() {
        let mut next_frontier = Vec::new();
        for (state, index) in &frontier {
            for p in IncrementalProperty::ALWAYS {
                if goals.contains(&p.name()) && !found.contains_key(p.name()) && !p.holds(state) {
                    found.insert(p.name(), path_to(&parents, *index));
                }
            }
            let actions = state.actions();
            let eventually = IncrementalProperty::EVENTUALLY;
            if actions.is_empty()
                && goals.contains(&eventually.name())
                && !found.contains_key(eventually.name())
                && !eventually.holds(state)
            {
                found.insert(eventually.name(), path_to(&parents, *index));
            }
            for action in actions {
                let mut next = state.clone();
                if next.apply(action).is_err() {
                    continue;
                }
                if seen.insert(fingerprint(&next), ()).is_none() {
                    parents.push((*index, Some(action)));
                    next_frontier.push((next, parents.len() - 1));
                }
            }
        }
        frontier = next_frontier;
    }
    found
}
