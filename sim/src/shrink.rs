//! Shrinking: a failing schedule is cut down to a small one that fails the same way (same
//! class, same property), by delta debugging over its action list (Zeller and Hildebrandt,
//! "Simplifying and Isolating Failure-Inducing Input", 2002): remove halves, quarters, ...
//! single actions; remove every action of one session; turn a disconnect into a plainer fault;
//! then shrink the configuration to what the schedule uses (sessions, writers and pages
//! renumbered, budgets cut to what was spent). Every candidate is checked by replaying it
//! through the core ([`Schedule::fails_like`]), skipping actions that are no longer enabled, so
//! the result is always a real, replayable failure.

use crate::run::Failure;
use crate::schedule::Schedule;
use backup_coordinator::state::{PageId, SessionId, WriterId};
use backup_coordinator::{Action, Cluster, Config, Fault};
use serde::Serialize;

/// The result of shrinking.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest failing schedule found.
    pub schedule: Schedule,
    /// Actions before.
    pub length_before: usize,
    /// Actions after.
    pub length_after: usize,
    /// Candidate schedules replayed.
    pub replays: u64,
}

/// Shrinking statistics for reports.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ShrinkStats {
    /// Actions before.
    pub length_before: usize,
    /// Actions after.
    pub length_after: usize,
    /// Candidate schedules replayed.
    pub replays: u64,
}

impl Shrunk {
    /// The statistics.
    pub fn stats(&self) -> ShrinkStats {
        ShrinkStats {
            length_before: self.length_before,
            length_after: self.length_after,
            replays: self.replays,
        }
    }
}

/// Replays allowed by default: enough for schedules of tens of thousands of actions.
pub const REPLAYS_MAX: u64 = 20_000;

struct Shrinker<'a> {
    target: &'a Failure,
    best: Schedule,
    replays: u64,
    replays_max: u64,
}

impl Shrinker<'_> {
    /// Tries a candidate; keeps it if it fails the same way and is no longer.
    fn try_candidate(&mut self, candidate: Schedule) -> bool {
        if self.replays >= self.replays_max {
            return false;
        }
        self.replays += 1;
        match candidate.fails_like(self.target) {
            Some(applied) if applied.actions.len() <= self.best.actions.len() => {
                let smaller = applied.actions.len() < self.best.actions.len()
                    || config_size(&applied.config) < config_size(&self.best.config);
                if smaller {
                    self.best = applied;
                }
                smaller
            }
            _ => false,
        }
    }

    fn with_actions(&self, actions: Vec<Action>) -> Schedule {
        Schedule {
            actions,
            ..self.best.clone()
        }
    }

    /// Removes chunks of halving size.
    fn remove_chunks(&mut self) -> bool {
        let mut progress = false;
        let mut chunk = (self.best.actions.len() / 2).max(1);
        loop {
            let mut start = 0;
            while start < self.best.actions.len() {
                let mut actions = self.best.actions.clone();
                let end = (start + chunk).min(actions.len());
                actions.drain(start..end);
                if self.try_candidate(self.with_actions(actions)) {
                    progress = true;
                } else {
                    start += chunk;
                }
            }
            if chunk == 1 {
                return progress;
            }
            chunk /= 2;
        }
    }

    /// Removes every action of one session at a time.
    fn remove_sessions(&mut self) -> bool {
        let mut progress = false;
        for session in 0..self.best.config.sessions() as u8 {
            let session = SessionId(session);
            let actions: Vec<Action> = self
                .best
                .actions
                .iter()
                .copied()
                .filter(|a| session_of(a) != Some(session))
                .collect();
            if actions.len() < self.best.actions.len() {
                progress |= self.try_candidate(self.with_actions(actions));
            }
        }
        progress
    }

    /// Turns disconnects into errors or cancels, and cancels into errors, one at a time. A
    /// plainer fault is easier to read even when the schedule keeps its length, so these
    /// are kept when they fail the same way with no more actions.
    fn simplify_faults(&mut self) -> bool {
        let mut progress = false;
        for index in 0..self.best.actions.len() {
            let Some(Action::Fault { session, fault }) = self.best.actions.get(index).copied()
            else {
                continue;
            };
            let plainer: &[Fault] = match fault {
                Fault::Disconnect => &[Fault::Error, Fault::Cancel],
                Fault::Cancel => &[Fault::Error],
                Fault::Error => &[],
            };
            for &simpler in plainer {
                let mut actions = self.best.actions.clone();
                actions[index] = Action::Fault {
                    session,
                    fault: simpler,
                };
                self.replays += 1;
                if let Some(applied) = self.with_actions(actions).fails_like(self.target) {
                    if applied.actions.len() <= self.best.actions.len() {
                        self.best = applied;
                        progress = true;
                        break;
                    }
                }
            }
        }
        progress
    }

    /// Shrinks the configuration to what the schedule uses.
    fn shrink_config(&mut self) -> bool {
        let Some(candidate) = compact(&self.best) else {
            return false;
        };
        self.try_candidate(candidate)
    }
}

/// Shrinks `schedule`, which fails as `target` says, within `replays_max` replays.
pub fn shrink(schedule: Schedule, target: &Failure, replays_max: u64) -> Shrunk {
    let length_before = schedule.actions.len();
    let best = schedule.fails_like(target).unwrap_or(schedule);
    let mut shrinker = Shrinker {
        target,
        best,
        replays: 1,
        replays_max,
    };
    loop {
        let mut progress = shrinker.remove_chunks();
        progress |= shrinker.remove_sessions();
        progress |= shrinker.simplify_faults();
        progress |= shrinker.shrink_config();
        if !progress || shrinker.replays >= replays_max {
            break;
        }
    }
    Shrunk {
        length_after: shrinker.best.actions.len(),
        schedule: shrinker.best,
        length_before,
        replays: shrinker.replays,
    }
}

/// The session an action belongs to.
pub fn session_of(action: &Action) -> Option<SessionId> {
    match action {
        Action::Begin { session, .. }
        | Action::Step { session }
        | Action::Fault { session, .. }
        | Action::Terminate { session } => Some(*session),
        _ => None,
    }
}

/// A rough size of a configuration, to prefer smaller ones among equally long schedules.
fn config_size(c: &Config) -> u64 {
    u64::from(c.sql_sessions)
        + u64::from(c.walsenders)
        + u64::from(c.writers)
        + u64::from(c.pages)
        + u64::from(c.backups_per_session)
        + u64::from(c.crashes)
        + u64::from(c.faults)
        + u64::from(c.page_writes)
        + u64::from(c.timed_checkpoints)
        + u64::from(c.wal_switches)
        + u64::from(c.wal_fills)
        + u64::from(c.shutdowns)
        + u64::from(c.os_crashes)
        + u64::from(c.primary_fpw_offs)
        + u64::from(c.commands_per_session)
}

/// The schedule on the smallest configuration that can run it: only the sessions, writers
/// and pages it uses (renumbered in order, SQL sessions before WAL senders), and budgets cut
/// to what it spends. `None` if that changes nothing.
pub fn compact(schedule: &Schedule) -> Option<Schedule> {
    let config = schedule.config;
    let mut used_sessions: Vec<SessionId> =
        schedule.actions.iter().filter_map(session_of).collect();
    used_sessions.sort();
    used_sessions.dedup();
    let mut writers: Vec<WriterId> = Vec::new();
    let mut pages: Vec<PageId> = Vec::new();
    for action in &schedule.actions {
        match *action {
            Action::PageAssemble { writer, page } => {
                writers.push(writer);
                pages.push(page);
            }
            Action::PageInsert { writer } => writers.push(writer),
            _ => {}
        }
    }
    writers.sort();
    writers.dedup();
    pages.sort();
    pages.dedup();
    // Sessions keep their kind: SQL sessions, then WAL senders, then replication sessions.
    let senders_from = config.sql_sessions;
    let replication_from = config.sql_sessions.saturating_add(config.walsenders);
    let of_kind = |range: std::ops::Range<u8>| -> Vec<SessionId> {
        used_sessions
            .iter()
            .copied()
            .filter(|s| range.contains(&s.0))
            .collect()
    };
    let sql = of_kind(0..senders_from);
    let senders = of_kind(senders_from..replication_from);
    let replication = of_kind(replication_from..u8::MAX);
    let order: Vec<SessionId> = sql
        .iter()
        .chain(&senders)
        .chain(&replication)
        .copied()
        .collect();
    let new_session =
        |s: SessionId| SessionId(order.iter().position(|&x| x == s).unwrap_or(0) as u8);
    let new_writer = |w: WriterId| writers.iter().position(|&x| x == w).unwrap_or(0) as WriterId;
    let new_page = |p: PageId| pages.iter().position(|&x| x == p).unwrap_or(0) as PageId;
    let actions: Vec<Action> = schedule
        .actions
        .iter()
        .map(|a| match *a {
            Action::Begin { session, command } => Action::Begin {
                session: new_session(session),
                command,
            },
            Action::Step { session } => Action::Step {
                session: new_session(session),
            },
            Action::Fault { session, fault } => Action::Fault {
                session: new_session(session),
                fault,
            },
            Action::PageAssemble { writer, page } => Action::PageAssemble {
                writer: new_writer(writer),
                page: new_page(page),
            },
            Action::PageInsert { writer } => Action::PageInsert {
                writer: new_writer(writer),
            },
            Action::Terminate { session } => Action::Terminate {
                session: new_session(session),
            },
            other => other,
        })
        .collect();
    // What the schedule spends, read from the core's own accounting.
    let mut cluster = Cluster::new(schedule.variant, config).ok()?;
    for &action in &schedule.actions {
        cluster.apply(action).ok()?;
    }
    let starts = cluster.sessions.iter().map(|s| s.starts).max().unwrap_or(0);
    let mut smaller = Config {
        sql_sessions: sql.len() as u8,
        walsenders: senders.len() as u8,
        replication_sessions: replication.len() as u8,
        jit_queries: cluster.used.jit_queries,
        writers: writers.len() as u8,
        pages: (pages.len() as u8).max(config.pages.min(1)),
        backups_per_session: starts.max(1).min(config.backups_per_session),
        crashes: cluster.used.crashes,
        faults: cluster.used.faults,
        page_writes: cluster.used.page_writes,
        timed_checkpoints: cluster.used.timed_checkpoints,
        wal_switches: cluster.used.wal_switches,
        wal_fills: cluster.used.wal_fills,
        shutdowns: cluster.used.shutdowns,
        os_crashes: cluster.used.os_crashes,
        primary_fpw_offs: cluster.used.primary_fpw_offs,
        commands_per_session: cluster
            .sessions
            .iter()
            .map(|s| s.commands)
            .max()
            .unwrap_or(0)
            .min(config.commands_per_session),
        ..config
    };
    if smaller.sessions() == 0 {
        smaller.sql_sessions = config.sql_sessions.min(1);
        smaller.walsenders = u8::from(smaller.sql_sessions == 0);
    }
    if smaller.writers == 0 && writers.is_empty() {
        smaller.writers = 0;
    }
    let candidate = Schedule {
        config: smaller,
        actions,
        ..schedule.clone()
    };
    (candidate != *schedule && smaller.validate().is_ok()).then_some(candidate)
}
