//! Running a check and reporting it: the search (stateright's BFS or DFS, threads, symmetry),
//! each property's verdict, shortest counterexamples replayed through the core as traces, and
//! the figures a report must state (bounds, unique states, states per second, peak memory,
//! the chance of a fingerprint collision).

use crate::classes::ClassSearch;
use crate::shortest::shortest_paths;
use crate::{BackupModel, ALWAYS, CASES, EVENTUALLY};
use backup_coordinator::trace::{describe_config, Trace};
use backup_coordinator::{Action, Config, Variant};
use serde::Serialize;
use stateright::{Checker, HasDiscoveries, Model};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Search {
    /// Breadth first; holds whole states in its queue.
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
    /// Symmetry reduction (stateright 0.31 honours it in DFS only).
    pub symmetry: bool,
    /// Stop after this long (the report then says the check is incomplete).
    pub timeout: Option<Duration>,
    /// Set (by a Ctrl-C handler) to stop the search within a fraction of a second; the report
    /// then says it was interrupted, with what it covered and found.
    pub interrupt: Option<&'static AtomicBool>,
    /// Show the search's progress (states, states/s, depth, elapsed) on the terminal.
    pub progress: bool,
}

impl Default for CheckOptions {
    /// DFS, 2 threads, symmetry on.
    fn default() -> Self {
        CheckOptions {
            search: Search::Dfs,
            threads: 2,
            symmetry: true,
            timeout: None,
            interrupt: None,
            progress: false,
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
    /// An `always` or `eventually` property held in every state: the search was complete.
    Holds,
    /// An `always` property held in every state the search reached, but the search stopped
    /// early: not a proof.
    NoViolationFound,
    /// A shortest counterexample.
    Violated {
        /// Its length in actions.
        length: usize,
        /// The counterexample, replayed through the core.
        trace: Box<Trace>,
    },
    /// A `sometimes` case was reached.
    Reached,
    /// A `sometimes` case was never reached in a complete search: the bounds do not test it.
    NotReached,
    /// A `sometimes` case was not reached before the search stopped early.
    NotReachedYet,
    /// An `eventually` property cannot be judged: the search stopped early, and states past
    /// the cut look like dead ends.
    NotJudged,
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
    /// True when the outcome is a failure: a violation, or a case the bounds never reach.
    pub fn is_failure(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Violated { .. }
                | Verdict::NotReached
                | Verdict::NotReachedYet
                | Verdict::NotJudged
        )
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
    /// Symmetry reduction on (and honoured: DFS).
    pub symmetry: bool,
    /// Distinct states (representatives, with symmetry).
    pub unique_states: usize,
    /// States generated, duplicates included.
    pub generated_states: usize,
    /// Longest path explored.
    pub max_depth: usize,
    /// Wall time of the search, in seconds (shortest counterexamples excluded).
    pub seconds: f64,
    /// Unique states per second.
    pub states_per_second: f64,
    /// Peak resident memory of the process, in bytes, where the OS tells it.
    pub peak_memory_bytes: Option<u64>,
    /// Chance that two distinct states share a 64-bit fingerprint at this state count.
    pub collision_probability: f64,
    /// The search explored everything (no timeout).
    pub complete: bool,
    /// Ctrl-C stopped the search (it is then incomplete).
    pub interrupted: bool,
    /// Every property's outcome.
    pub properties: Vec<PropertyOutcome>,
}

impl ModelReport {
    /// The failing outcomes.
    pub fn failures(&self) -> impl Iterator<Item = &PropertyOutcome> {
        self.properties.iter().filter(|p| p.is_failure())
    }

    /// The names of the violated properties, sorted.
    pub fn violated(&self) -> BTreeSet<&'static str> {
        self.properties
            .iter()
            .filter(|p| matches!(p.verdict, Verdict::Violated { .. }))
            .map(|p| p.name)
            .collect()
    }

    /// The names of the `sometimes` cases never reached, sorted.
    pub fn not_reached(&self) -> BTreeSet<&'static str> {
        self.properties
            .iter()
            .filter(|p| matches!(p.verdict, Verdict::NotReached))
            .map(|p| p.name)
            .collect()
    }

    /// A summary for a terminal, with every counterexample as a numbered trace.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "model check of {} ({})",
            self.variant,
            self.variant.summary()
        );
        let _ = writeln!(out, "bounds: {}", self.bounds_text);
        let _ = writeln!(
            out,
            "search: {:?}, {} thread(s), symmetry {}: {} unique states ({} generated), max depth {}, {:.2} s, {:.0} states/s{}",
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
            "chance of a fingerprint collision: {:.1e}",
            self.collision_probability
        );
        if self.interrupted {
            let _ = writeln!(
                out,
                "INTERRUPTED: Ctrl-C stopped the search before it explored every state"
            );
        } else if !self.complete {
            let _ = writeln!(
                out,
                "INCOMPLETE: the search stopped before exploring every state"
            );
        }
        for p in &self.properties {
            let verdict = match &p.verdict {
                Verdict::Holds => "holds".to_string(),
                Verdict::NoViolationFound => format!(
                    "no violation found in {} states (the search was incomplete)",
                    self.unique_states
                ),
                Verdict::Violated { length, .. } => {
                    format!("VIOLATED (shortest counterexample: {length} steps)")
                }
                Verdict::Reached => "reached".to_string(),
                Verdict::NotReached => "NOT REACHED: the bounds do not test this case".to_string(),
                Verdict::NotReachedYet => {
                    "not reached yet: the search stopped before it got there".to_string()
                }
                Verdict::NotJudged => "not judged: the search was incomplete".to_string(),
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
    /// The search saw an invariant violated, but the breadth-first search for a shortest
    /// path to a violation found none within the depth the search reached (a bug in the
    /// model or the checker).
    #[error("{property} was seen violated, but no path to a violation was found")]
    NoPath {
        /// The property.
        property: &'static str,
    },
    /// A counterexample path could not be replayed (a bug in the model or the checker).
    #[error("counterexample for {property} does not replay: {source}")]
    Replay {
        /// The property.
        property: &'static str,
        /// Why.
        source: backup_coordinator::trace::ReplayError,
    },
}

type Found = Vec<(&'static str, Vec<Action>)>;

/// How long to wait before looking again whether a search that has run for `elapsed` is done.
/// The search's time is read when a look sees it done, so a pause of a hundredth of the time
/// so far (1 to 50 ms) adds at most about 1% to it (a fixed 50 ms made a search of a few
/// milliseconds report 50 ms, and a rate tens of times too low).
pub(crate) fn pause_between_looks(elapsed: Duration) -> Duration {
    (elapsed / 100).clamp(Duration::from_millis(1), Duration::from_millis(50))
}

/// Waits for the search to end, stopping it when the timeout passes or the interrupt is set,
/// and showing progress on the terminal where asked. Returns the joined checker and whether
/// the interrupt stopped it.
fn wait<M: Model, C: Checker<M>>(
    checker: C,
    stop: &AtomicBool,
    options: &CheckOptions,
    started: Instant,
) -> (C, bool) {
    let bar = options.progress.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{elapsed_precise} {msg}") {
            bar.set_style(style);
        }
        bar
    });
    let mut interrupted = false;
    while !checker.is_done() {
        std::thread::sleep(pause_between_looks(started.elapsed()));
        if options.interrupt.is_some_and(|i| i.load(Ordering::SeqCst)) && !interrupted {
            interrupted = true;
            stop.store(true, Ordering::Relaxed);
        }
        if options.timeout.is_some_and(|t| started.elapsed() >= t) {
            stop.store(true, Ordering::Relaxed);
        }
        if let Some(bar) = &bar {
            let states = checker.unique_state_count();
            let seconds = started.elapsed().as_secs_f64();
            bar.set_message(format!(
                "{} unique states, {:.0} states/s, depth {}{}",
                states,
                if seconds > 0.0 {
                    states as f64 / seconds
                } else {
                    0.0
                },
                checker.max_depth(),
                if interrupted {
                    ", stopping (Ctrl-C)"
                } else {
                    ""
                }
            ));
            bar.tick();
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    (checker.join(), interrupted)
}

fn summary<M, C>(c: &C) -> (usize, usize, usize, Found)
where
    M: Model<Action = Action>,
    M::State: Clone + PartialEq,
    C: Checker<M>,
{
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

impl BackupModel {
    /// Runs the check: the search, then a shortest counterexample for every violation.
    pub fn check(&self, options: CheckOptions) -> Result<ModelReport, ModelError> {
        let model = self.fresh();
        let started = Instant::now();
        // The search runs to the end: with the folded properties, stateright's default (stop
        // once every property has a discovery) would stop at the first invariant violated
        // while the others may be violated too. No property has this name.
        let never = || HasDiscoveries::AllOf(BTreeSet::from(["(never: search to the end)"]));
        let threads = options.threads.max(1);
        let symmetry = options.symmetry && options.search == Search::Dfs;
        let as_it_is = || {
            model
                .clone()
                .checker()
                .threads(threads)
                .finish_when(never())
        };
        let ((unique, generated, depth, discoveries), interrupted) = match options.search {
            Search::Bfs => {
                let (c, interrupted) = wait(as_it_is().spawn_bfs(), &model.stop, &options, started);
                (summary(&c), interrupted)
            }
            // Symmetry: the same model over states hashed by their class, which stores
            // exactly what `symmetry_fn(Cluster::representative)` would, without building
            // the representatives ([`crate::classes`]).
            Search::Dfs if symmetry => {
                let by_class = ClassSearch(model.clone())
                    .checker()
                    .threads(threads)
                    .finish_when(never());
                let (c, interrupted) = wait(by_class.spawn_dfs(), &model.stop, &options, started);
                (summary(&c), interrupted)
            }
            Search::Dfs => {
                let (c, interrupted) = wait(as_it_is().spawn_dfs(), &model.stop, &options, started);
                (summary(&c), interrupted)
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        let timed_out = model.stop.load(Ordering::Relaxed);
        // The invariants and cases are latched by the folded properties; stateright's own
        // discovery gives the `eventually` property's path.
        let violated: BTreeSet<&'static str> = ALWAYS
            .iter()
            .enumerate()
            .filter(|&(i, _)| model.invariant_violated(i))
            .map(|(_, (name, _))| *name)
            .collect();
        let eventually = if timed_out {
            None
        } else {
            discoveries
                .iter()
                .find(|(n, _)| *n == EVENTUALLY)
                .map(|(_, path)| path.clone())
        };
        let mut goals: Vec<&'static str> = violated.iter().copied().collect();
        goals.extend(eventually.as_ref().map(|_| EVENTUALLY));
        // Every violation was met at a depth the search reached: the breadth-first search
        // for shortest paths needs to go no deeper (a search stopped by Ctrl-C still derives
        // them: without it a violated invariant would have no counterexample).
        let bound = depth.max(eventually.as_ref().map_or(0, Vec::len));
        let shortest = if goals.is_empty() {
            Default::default()
        } else {
            shortest_paths(self, &goals, bound, true)
        };
        let reached: BTreeSet<&'static str> = CASES
            .iter()
            .enumerate()
            .filter(|&(i, _)| model.case_reached(i))
            .map(|(_, c)| c.name)
            .collect();
        let mut outcomes = Vec::new();
        for name in model.property_names() {
            let expectation = self.expectation_of(name);
            let path = match expectation {
                Expectation::Always if violated.contains(name) => Some(
                    shortest
                        .get(name)
                        .ok_or(ModelError::NoPath { property: name })?,
                ),
                Expectation::Eventually => eventually
                    .as_ref()
                    .map(|path| shortest.get(name).unwrap_or(path)),
                _ => None,
            };
            let verdict = match (expectation, path) {
                (Expectation::Sometimes, _) if reached.contains(name) => Verdict::Reached,
                (Expectation::Sometimes, _) if timed_out => Verdict::NotReachedYet,
                (Expectation::Sometimes, _) => Verdict::NotReached,
                (Expectation::Eventually, _) if timed_out => Verdict::NotJudged,
                (_, None) if timed_out => Verdict::NoViolationFound,
                (_, None) => Verdict::Holds,
                (_, Some(path)) => {
                    let trace =
                        Trace::replay(self.variant, self.config, path).map_err(|source| {
                            ModelError::Replay {
                                property: name,
                                source,
                            }
                        })?;
                    Verdict::Violated {
                        length: path.len(),
                        trace: Box::new(trace),
                    }
                }
            };
            outcomes.push(PropertyOutcome {
                name,
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
            symmetry,
            unique_states: unique,
            generated_states: generated,
            max_depth: depth,
            seconds,
            states_per_second: if seconds > 0.0 { n / seconds } else { 0.0 },
            peak_memory_bytes: peak_memory_bytes(),
            collision_probability: (n * (n - 1.0)).max(0.0) / 2.0 / 2f64.powi(64),
            complete: !timed_out,
            interrupted,
            properties: outcomes,
        })
    }
}

/// Resets this process's peak resident set size to its present size (Linux: `5` written to
/// `/proc/self/clear_refs`), so that [`peak_memory_bytes`] then measures what follows. Returns
/// whether it could.
pub fn reset_peak_memory() -> bool {
    // Freed memory the allocator still holds would otherwise count as resident at the reset
    // and be reused unseen by the next measurement.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's arenas to the system.
    unsafe {
        libc::malloc_trim(0);
    }
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set size of this process (Linux `VmHWM`).
pub fn peak_memory_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// Resident set size of this process now (Linux `VmRSS`).
pub fn resident_memory_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// A size line of `/proc/self/status`, in bytes.
fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::pause_between_looks;
    use std::time::Duration;

    /// The pause between two looks at a running search is a hundredth of its time so far, at
    /// least 1 ms and at most 50 ms: a search's reported time is at most about 1% (and 1 ms)
    /// longer than its run.
    #[test]
    fn the_pause_between_looks_is_a_hundredth_of_the_time_so_far_within_1_to_50_ms() {
        let ms = Duration::from_millis;
        assert_eq!(pause_between_looks(ms(0)), ms(1));
        assert_eq!(pause_between_looks(ms(30)), ms(1));
        assert_eq!(pause_between_looks(ms(1_000)), ms(10));
        assert_eq!(pause_between_looks(ms(5_000)), ms(50));
        assert_eq!(pause_between_looks(ms(600_000)), ms(50));
    }
}
