//! The simulator's incremental-backup runs (PostgreSQL 17+): seeded walks over the core's
//! [`IncrementalCluster`] at sizes the exhaustive profiles do not reach (more blocks, writes,
//! truncations and checkpoints on both sides of the promotion).
//!
//! * **A run.** A ChaCha8 generator seeded from the seed picks each step among
//!   `IncrementalCluster::actions()`: first a kind of step, uniformly among the kinds enabled,
//!   then one of that kind's steps, uniformly, so that a relation of many blocks does not
//!   drown the summarizer's and the standby's steps. Every `always` property
//!   ([`IncrementalProperty::ALWAYS`]) is checked after every step. The run goes on until no
//!   step is enabled (every step uses a budget or moves a position forward, so every run
//!   ends), and there the `eventually` property ([`IncrementalProperty::EVENTUALLY`], L1) must
//!   hold: a backup still waiting for the summarizer, or refused, is a liveness failure.
//! * **Two forms.** Most seeds run a primary and its summarizing standby, promoted; every
//!   fourth seed ([`primary_form`]) takes both backups on the primary, which summarizes its
//!   own WAL and restarts once at `wal_level = minimal` (writes that skip WAL) and back.
//! * **Known findings** (the design's, from `expected-findings.toml`) do not end a run.
//! * **Shrinking.** A failing run's steps are cut down while the same property still fails:
//!   first a record the primary wrote (a write, truncation, checkpoint or recreation) with
//!   the steps that received, replayed and summarized it (removing the record alone would
//!   shift every later record under those steps), then chunks (halving the chunk size when
//!   nothing more goes), round after round until neither removes a step; a shortened list is
//!   replayed leniently (a step not enabled is skipped) and completed, progress first (the
//!   backups, the summarizer, replay), until no step is enabled; what was executed becomes the
//!   new schedule.
//!
//! Nothing here reads a clock or a hash map's order: a seed gives the same steps.

use crate::campaign::SeedRange;
use backup_coordinator::incremental::cluster::{
    IncrementalAction, IncrementalCluster, IncrementalConfig, IncrementalProperty, IncrementalRules,
};
use backup_coordinator::Variant;
use backup_model::incremental::{describe_bounds, describe_rules, trace, IncrementalTrace, CASES};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};

/// The simulator's bounds: six blocks; on the primary three writes, two truncations, four
/// checkpoints and a database recreated from its template; on the promoted standby three
/// writes, a truncation and two checkpoints; one restart of the summarizer; the standby
/// archiving (`archive_mode = on`: its promotion renames the old timeline's last segment).
pub fn sim_bounds() -> IncrementalConfig {
    IncrementalConfig {
        blocks: 6,
        primary_writes: 3,
        truncations: 2,
        primary_checkpoints: 4,
        standby_writes: 3,
        standby_truncations: 1,
        standby_checkpoints: 2,
        database_recreations: 1,
        on_primary: false,
        minimal_restarts: 0,
        summarizer_crashes: 1,
        archive_mode: true,
    }
}

/// Every [`PRIMARY_EVERY`]th seed (those with `seed % PRIMARY_EVERY == PRIMARY_EVERY - 1`)
/// runs the primary form of the bounds ([`primary_form`]).
pub const PRIMARY_EVERY: u64 = 4;

/// `config` with both backups on the primary, which summarizes its own WAL and restarts once
/// at `wal_level = minimal` and back: no standby, no promotion.
pub fn primary_form(config: IncrementalConfig) -> IncrementalConfig {
    IncrementalConfig {
        on_primary: true,
        minimal_restarts: 1,
        standby_writes: 0,
        standby_truncations: 0,
        standby_checkpoints: 0,
        ..config
    }
}

/// The bounds seed `seed` runs: `config`, or its primary form for every
/// [`PRIMARY_EVERY`]th seed.
pub fn config_for(config: IncrementalConfig, seed: u64) -> IncrementalConfig {
    if seed % PRIMARY_EVERY == PRIMARY_EVERY - 1 {
        primary_form(config)
    } else {
        config
    }
}

/// What a run found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncrementalFailure {
    /// The property.
    pub property: &'static str,
    /// L1 (an `eventually` property): a liveness failure.
    pub liveness: bool,
    /// What the property finds, in words.
    pub problems: Vec<String>,
    /// Steps taken up to the failure.
    pub at: usize,
}

/// One run.
#[derive(Clone, Debug)]
pub struct IncrementalRun {
    /// The seed.
    pub seed: u64,
    /// Every step taken.
    pub schedule: Vec<IncrementalAction>,
    /// The first failure of a property not known for the design, if any.
    pub failure: Option<IncrementalFailure>,
    /// Known findings the run met (they do not end it).
    pub known_seen: Vec<&'static str>,
    /// Which `sometimes` cases of the model the run reached (in [`CASES`] order).
    pub cases: [bool; CASES.len()],
    /// FNV-1a over the steps: the same seed and version give the same digest.
    pub digest: u64,
}

fn kind(action: &IncrementalAction) -> u8 {
    match action {
        IncrementalAction::PrimaryWrite { .. } => 0,
        IncrementalAction::PrimaryTruncate { .. } => 1,
        IncrementalAction::PrimaryCheckpoint => 2,
        IncrementalAction::FullBackup => 3,
        IncrementalAction::Receive => 4,
        IncrementalAction::Replay => 5,
        IncrementalAction::Promote => 6,
        IncrementalAction::StandbyWrite { .. } => 7,
        IncrementalAction::StandbyTruncate { .. } => 8,
        IncrementalAction::StandbyCheckpoint => 9,
        IncrementalAction::Summarize => 10,
        IncrementalAction::IncrementalStart => 11,
        IncrementalAction::IncrementalFinish { .. } => 12,
        IncrementalAction::PrimaryRecreateDatabase => 13,
        IncrementalAction::PrimaryRestartMinimal => 14,
        IncrementalAction::PrimaryRestartReplica => 15,
        IncrementalAction::SummarizerRestart => 16,
        IncrementalAction::IncrementalWaitFails => 17,
    }
}

/// Checks the `always` properties in `c`; the first one broken that is not `known`.
fn broken(
    c: &IncrementalCluster,
    known: &[&str],
    seen: &mut Vec<&'static str>,
    at: usize,
) -> Option<IncrementalFailure> {
    for p in IncrementalProperty::ALWAYS {
        let problems = p.problems(c);
        if problems.is_empty() {
            continue;
        }
        if known.contains(&p.name()) {
            if !seen.contains(&p.name()) {
                seen.push(p.name());
            }
            continue;
        }
        return Some(IncrementalFailure {
            property: p.name(),
            liveness: false,
            problems,
            at,
        });
    }
    None
}

/// L1 at the end of a run, unless known.
fn unfinished(
    c: &IncrementalCluster,
    known: &[&str],
    seen: &mut Vec<&'static str>,
    at: usize,
) -> Option<IncrementalFailure> {
    let p = IncrementalProperty::EVENTUALLY;
    if p.holds(c) {
        return None;
    }
    if known.contains(&p.name()) {
        if !seen.contains(&p.name()) {
            seen.push(p.name());
        }
        return None;
    }
    Some(IncrementalFailure {
        property: p.name(),
        liveness: true,
        problems: p.problems(c),
        at,
    })
}

/// Runs `seed` within `config` (exactly: the campaign passes [`config_for`]'s bounds).
pub fn run_incremental_seed(
    rules: IncrementalRules,
    config: IncrementalConfig,
    seed: u64,
    known: &[&str],
) -> IncrementalRun {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = IncrementalCluster::new(rules, config);
    let mut schedule = Vec::new();
    let mut known_seen = Vec::new();
    let mut cases = [false; CASES.len()];
    let mut failure = None;
    loop {
        let actions = c.actions();
        if actions.is_empty() {
            failure = unfinished(&c, known, &mut known_seen, schedule.len());
            break;
        }
        let mut kinds: Vec<u8> = actions.iter().map(kind).collect();
        kinds.dedup();
        let chosen_kind = kinds[rng.random_range(0..kinds.len())];
        let of_kind: Vec<IncrementalAction> = actions
            .into_iter()
            .filter(|a| kind(a) == chosen_kind)
            .collect();
        let action = of_kind[rng.random_range(0..of_kind.len())];
        if c.apply(action).is_err() {
            break;
        }
        schedule.push(action);
        for (reached, case) in cases.iter_mut().zip(&CASES) {
            *reached = *reached || (case.condition)(&c);
        }
        if let Some(f) = broken(&c, known, &mut known_seen, schedule.len()) {
            failure = Some(f);
            break;
        }
    }
    let mut h = crate::run::Fnv::default();
    schedule.hash(&mut h);
    IncrementalRun {
        seed,
        schedule,
        failure,
        known_seen,
        cases,
        digest: h.finish(),
    }
}

/// The step that completes a shortened run: the backups' and the standby's progress first
/// (finishing the incremental backup, the summarizer, replay, receipt, the backups' starts and
/// the promotion), a write or a checkpoint only when nothing else is left.
fn completion_step(c: &IncrementalCluster) -> Option<IncrementalAction> {
    let actions = c.actions();
    const PRIORITY: [u8; 7] = [12, 10, 5, 4, 11, 6, 3];
    PRIORITY
        .iter()
        .find_map(|&k| actions.iter().find(|a| kind(a) == k).copied())
        .or_else(|| actions.first().copied())
}

/// Replays `steps` leniently (a step not enabled is skipped), completes the run
/// ([`completion_step`]) until no step is enabled, and returns what was executed and the first failure of
/// `property`, if it fails.
fn replay_for(
    rules: IncrementalRules,
    config: IncrementalConfig,
    steps: &[IncrementalAction],
    property: &'static str,
) -> Option<Vec<IncrementalAction>> {
    let mut c = IncrementalCluster::new(rules, config);
    let mut done = Vec::new();
    let always = IncrementalProperty::ALWAYS
        .into_iter()
        .find(|p| p.name() == property);
    let mut pending = steps.iter().copied();
    loop {
        let next = match pending.next() {
            Some(action) => {
                if !c.is_enabled(action) {
                    continue;
                }
                action
            }
            None => match completion_step(&c) {
                Some(action) => action,
                None => break,
            },
        };
        if c.apply(next).is_err() {
            return None;
        }
        done.push(next);
        if always.is_some_and(|p| !p.holds(&c)) {
            return Some(done);
        }
    }
    (always.is_none() && !IncrementalProperty::EVENTUALLY.holds(&c)).then_some(done)
}

/// `steps` without step `producer`, if it writes a record on timeline 1 (a write, a
/// truncation, a checkpoint, a database recreation), and without the steps that received,
/// replayed or summarized that record.
fn without_record(
    rules: IncrementalRules,
    config: IncrementalConfig,
    steps: &[IncrementalAction],
    producer: usize,
) -> Option<Vec<IncrementalAction>> {
    if !matches!(kind(&steps[producer]), 0 | 1 | 2 | 13) {
        return None;
    }
    let mut c = IncrementalCluster::new(rules, config);
    let mut record = None;
    let mut remove = vec![false; steps.len()];
    for (i, &step) in steps.iter().enumerate() {
        let end_of_wal = c.timelines[0].records.last().map(|r| r.record.end);
        let (received, replayed) = (c.received, c.replayed);
        let (read_tli, read_from) = (c.summarizing.tli, c.summarizing.pending);
        c.apply(step).ok()?;
        if i == producer {
            record = end_of_wal;
            remove[i] = true;
            continue;
        }
        let Some(at) = record else { continue };
        remove[i] = match step {
            IncrementalAction::Receive => received == at,
            IncrementalAction::Replay => replayed == at,
            IncrementalAction::Summarize => {
                read_tli.0 == 1 && read_from == at && c.summarizing.pending > at
            }
            _ => false,
        };
    }
    Some(
        steps
            .iter()
            .zip(&remove)
            .filter(|(_, &gone)| !gone)
            .map(|(&step, _)| step)
            .collect(),
    )
}

/// The shortest schedule found that still fails `property`, within `replays_max` replays.
pub fn shrink_incremental(
    rules: IncrementalRules,
    config: IncrementalConfig,
    schedule: &[IncrementalAction],
    property: &'static str,
    replays_max: u64,
) -> Vec<IncrementalAction> {
    let mut best = match replay_for(rules, config, schedule, property) {
        Some(exact) => exact,
        None => return schedule.to_vec(),
    };
    let mut replays = 1;
    let mut chunk = (best.len() / 2).max(1);
    loop {
        // A record the primary wrote, removed with the steps that received, replayed and
        // summarized it (removing it alone would shift every later record under those
        // steps, and the failure with them).
        let mut i = best.len();
        while i > 0 && replays < replays_max {
            i -= 1;
            let Some(candidate) = without_record(rules, config, &best, i) else {
                continue;
            };
            replays += 1;
            if let Some(exact) = replay_for(rules, config, &candidate, property) {
                if exact.len() < best.len() {
                    best = exact;
                    i = i.min(best.len());
                }
            }
        }
        let mut i = 0;
        let mut progressed = false;
        while i < best.len() && replays < replays_max {
            let end = (i + chunk).min(best.len());
            let candidate: Vec<IncrementalAction> =
                best[..i].iter().chain(&best[end..]).copied().collect();
            replays += 1;
            match replay_for(rules, config, &candidate, property) {
                Some(exact) if exact.len() < best.len() => {
                    best = exact;
                    progressed = true;
                }
                _ => i += chunk,
            }
        }
        if replays >= replays_max || (chunk == 1 && !progressed) {
            break;
        }
        if !progressed {
            chunk = (chunk / 2).max(1);
        }
    }
    best
}

/// The runs of one failing property.
#[derive(Clone, Debug, Serialize)]
pub struct IncrementalGroup {
    /// The property.
    pub property: &'static str,
    /// L1: a liveness failure.
    pub liveness: bool,
    /// Seeds whose run failed it.
    pub seeds: u64,
    /// The lowest of them.
    pub first_seed: u64,
    /// Steps of that seed's run up to the failure.
    pub length: usize,
    /// Its shrunk counterexample.
    pub shrunk: IncrementalTrace,
}

/// A campaign of incremental runs.
#[derive(Clone, Debug, Serialize)]
pub struct IncrementalSimReport {
    /// The variant.
    pub variant: String,
    /// Its incremental rules, in words.
    pub rules: String,
    /// The bounds, in words.
    pub bounds_text: String,
    /// Seeds run.
    pub seeds_run: u64,
    /// Steps taken over every run.
    pub steps: u64,
    /// Seeds whose run failed a property not known for the design.
    pub failing_seeds: u64,
    /// Failures per property, in property order.
    pub groups: Vec<IncrementalGroup>,
    /// Known findings and the seeds that met each.
    pub known_seen: Vec<(&'static str, u64)>,
    /// Per `sometimes` case of the model, the runs that reached it.
    pub cases: Vec<(&'static str, u64)>,
    /// FNV-1a over every run's digest, in seed order.
    pub digest: u64,
    /// Ctrl-C stopped the campaign.
    pub interrupted: bool,
}

impl IncrementalSimReport {
    /// A safety failure (E1, E3) or, failing that, a liveness failure (L1).
    pub fn worst(&self) -> Option<crate::run::FailureClass> {
        if self.groups.iter().any(|g| !g.liveness) {
            Some(crate::run::FailureClass::Safety)
        } else if self.groups.is_empty() {
            None
        } else {
            Some(crate::run::FailureClass::Liveness)
        }
    }

    /// The report as text.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "sim incremental ({}): {} seeds, {} steps, {} failing{}",
            self.variant,
            self.seeds_run,
            self.steps,
            self.failing_seeds,
            if self.interrupted {
                ", INTERRUPTED"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "  bounds: {}", self.bounds_text);
        for (property, seeds) in &self.known_seen {
            let _ = writeln!(out, "  {property}: known finding, met by {seeds} seeds");
        }
        let unreached: Vec<&str> = self
            .cases
            .iter()
            .filter(|(_, n)| *n == 0)
            .map(|(name, _)| *name)
            .collect();
        let _ = writeln!(
            out,
            "  cases reached: {}/{}{}",
            self.cases.len() - unreached.len(),
            self.cases.len(),
            if unreached.is_empty() {
                String::new()
            } else {
                format!(" (not: {})", unreached.join("; "))
            }
        );
        for g in &self.groups {
            let _ = writeln!(
                out,
                "  {} {}: {} seeds, first seed {} ({} steps, shrunk to {}; `backup-check sim --incremental --variant {} --seed {}` runs it again)",
                if g.liveness { "LIVENESS" } else { "SAFETY" },
                g.property,
                g.seeds,
                g.first_seed,
                g.length,
                g.shrunk.steps.len(),
                self.variant,
                g.first_seed
            );
            for line in g.shrunk.render_text().lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }
}

/// Runs every seed of `seeds` (one thread: runs are short), stopping early when `stop` is set.
pub fn run_incremental_campaign(
    variant: Variant,
    rules: IncrementalRules,
    config: IncrementalConfig,
    seeds: SeedRange,
    known: &[&str],
    stop: &AtomicBool,
) -> IncrementalSimReport {
    let mut groups: Vec<IncrementalGroup> = Vec::new();
    let mut failing = 0;
    let mut steps = 0;
    let mut seeds_run = 0;
    let mut cases = [0u64; CASES.len()];
    let mut known_seen: Vec<(&'static str, u64)> = Vec::new();
    let mut digest = crate::run::Fnv::default();
    let mut interrupted = false;
    for seed in seeds.start..seeds.end {
        if stop.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        let config = config_for(config, seed);
        let run = run_incremental_seed(rules, config, seed, known);
        seeds_run += 1;
        steps += run.schedule.len() as u64;
        run.digest.hash(&mut digest);
        for (n, reached) in cases.iter_mut().zip(run.cases) {
            *n += u64::from(reached);
        }
        for property in &run.known_seen {
            match known_seen.iter_mut().find(|(p, _)| p == property) {
                Some((_, n)) => *n += 1,
                None => known_seen.push((property, 1)),
            }
        }
        let Some(failure) = run.failure else {
            continue;
        };
        failing += 1;
        match groups.iter_mut().find(|g| g.property == failure.property) {
            Some(group) => group.seeds += 1,
            None => {
                let shrunk =
                    shrink_incremental(rules, config, &run.schedule, failure.property, 5_000);
                groups.push(IncrementalGroup {
                    property: failure.property,
                    liveness: failure.liveness,
                    seeds: 1,
                    first_seed: seed,
                    length: failure.at,
                    shrunk: trace(rules, config, &shrunk, failure.property),
                });
            }
        }
    }
    let order = |p: &str| {
        IncrementalProperty::ALWAYS
            .into_iter()
            .chain([IncrementalProperty::EVENTUALLY])
            .position(|q| q.name() == p)
    };
    groups.sort_by_key(|g| order(g.property));
    known_seen.sort_by_key(|(p, _)| order(p));
    IncrementalSimReport {
        variant: variant.to_string(),
        rules: describe_rules(&rules),
        bounds_text: format!(
            "{}; every {PRIMARY_EVERY}th seed: {}",
            describe_bounds(&config),
            describe_bounds(&primary_form(config))
        ),
        seeds_run,
        steps,
        failing_seeds: failing,
        groups,
        known_seen,
        cases: CASES.iter().map(|c| c.name).zip(cases).collect(),
        digest: digest.finish(),
        interrupted,
    }
}
