//! `backup-check mutants`: the harness is only worth what it catches. Each seeded historical
//! bug (PROTOCOL.md §6, `Variant::bug`) is run through the exhaustive model at the smallest
//! bounds that find it and through the simulator at its default sizes (with the mechanism the
//! bug lives in: a standby, JIT queries, a `replication=database` session); the recommended
//! designs are run through both and must stay clean. The table says, per bug, which engine
//! found what, and the exit status is 0 only if every bug is caught and every recommended
//! design passes.
//!
//! It also renders each bug's reviewed counterexample for `docs/bugs/` (the generated part of
//! each page: [`docs_section`]); a test regenerates them and fails if they drift.

use crate::bench::median;
use crate::campaign::{run_campaign, CampaignError, CampaignOptions, SeedRange, Shard};
use crate::incremental::{config_for, run_incremental_campaign, run_incremental_seed, sim_bounds};
use crate::run::{run_seed, RunSpec};
use backup_coordinator::bugs::{incremental_bounds, smallest_bounds, with_mechanism};
use backup_coordinator::trace::describe_config;
use backup_coordinator::variant::Bug;
use backup_coordinator::{Design, Variant};
use backup_model::incremental::{
    self, describe_bounds, IncrementalModel, IncrementalOptions, IncrementalProfile,
    IncrementalTrace, IncrementalVerdict,
};
use backup_model::{default_profiles, BackupModel, CheckOptions, Verdict};
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// The loom test that finds a bug, where the bug is a race between threads (in the 9.1
/// design, which has these three flaws of its own).
pub fn loom_test(bug: Bug) -> Option<&'static str> {
    match bug {
        Bug::B2 => Some("pg91_b2_two_wal_senders_share_a_start_point"),
        Bug::B3 => Some("pg91_b3_disconnect_while_sending_the_start_position_leaks_the_unit"),
        Bug::B5 => Some("pg91_b5_forcing_off_torn_page_and_a_flag_held_by_a_stopped_backup"),
        _ => None,
    }
}

/// What the model found for one bug.
#[derive(Clone, Debug, Serialize)]
pub struct ModelFinding {
    /// The bounds, in words.
    pub bounds: String,
    /// Unique states explored.
    pub states: usize,
    /// The bug's property was violated.
    pub found: bool,
    /// Its shortest counterexample's length.
    pub length: Option<usize>,
    /// Every property violated.
    pub violated: Vec<&'static str>,
    /// Seconds.
    pub seconds: f64,
}

/// What the simulator found for one bug. Only failures of properties that the bug's base
/// design keeps over the same seeds count (9.6's own refusal to restart after a crash during
/// an exclusive backup is the base design's finding, not the bug's).
#[derive(Clone, Debug, Serialize)]
pub struct SimFinding {
    /// Seeds run.
    pub seeds: u64,
    /// Properties the base design fails over the same seeds.
    pub base_fails: Vec<&'static str>,
    /// Seeds whose first failure is a property the base design keeps.
    pub failing_seeds: u64,
    /// The lowest seed whose run broke the bug's property, if any did.
    pub first_seed: Option<u64>,
    /// The property of the lowest failing seed's group shown (the bug's, where found).
    pub property: Option<&'static str>,
    /// Shrunk counterexample: length before and after.
    pub shrunk: Option<(usize, usize)>,
    /// Median over trials of the seeds run until the first failure.
    pub seeds_to_failure: Option<u64>,
    /// Median over trials of the seconds until the first failure (one thread).
    pub seconds_to_failure: Option<f64>,
}

impl SimFinding {
    /// The simulator found the bug: some seed broke a property the base design keeps.
    pub fn found(&self) -> bool {
        self.failing_seeds > 0
    }
}

/// One bug's row.
#[derive(Clone, Debug, Serialize)]
pub struct MutantRow {
    /// `b1` .. `b19`.
    pub bug: String,
    /// The PostgreSQL versions that had it.
    pub era: &'static str,
    /// The fixing commit.
    pub fix: &'static str,
    /// What it is.
    pub summary: &'static str,
    /// The variant (`pg96+b5`).
    pub variant: String,
    /// The property whose violation is the bug.
    pub property: &'static str,
    /// The model at the smallest bounds.
    pub model: ModelFinding,
    /// The simulator.
    pub sim: SimFinding,
    /// The loom test, where the bug is a thread race.
    pub loom: Option<&'static str>,
    /// Caught by at least one engine.
    pub caught: bool,
}

/// A recommended design's row.
#[derive(Clone, Debug, Serialize)]
pub struct CleanRow {
    /// The variant.
    pub variant: String,
    /// Unique states over the default profiles.
    pub model_states: usize,
    /// Properties that failed in the model.
    pub model_failures: Vec<&'static str>,
    /// Simulator seeds run.
    pub sim_seeds: u64,
    /// Simulator seeds that failed.
    pub sim_failing_seeds: u64,
    /// Both clean.
    pub passes: bool,
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct MutantsReport {
    /// One row per bug.
    pub bugs: Vec<MutantRow>,
    /// The recommended designs.
    pub recommended: Vec<CleanRow>,
    /// Simulator seeds per bug.
    pub seeds: SeedRange,
    /// Fault-phase steps per seed.
    pub steps: u32,
    /// Exit status: 0 iff every bug is caught and every recommended design passes.
    pub exit_code: u8,
    /// Seconds in all.
    pub seconds: f64,
}

/// How to run.
#[derive(Clone, Debug)]
pub struct MutantsOptions {
    /// Simulator seeds per bug.
    pub seeds: SeedRange,
    /// Fault-phase steps per seed.
    pub steps: u32,
    /// Worker threads.
    pub threads: usize,
    /// Trials for the median time to first failure.
    pub trials: u32,
    /// The designs' reviewed known findings: a bug's runs pass over its base design's, so
    /// that they cannot hide the bug's own finding.
    pub expected: crate::expected::ExpectedFindings,
    /// Show which bug or design is being checked, on the terminal.
    pub progress: bool,
    /// Only these bugs (empty: every bug).
    pub only: Vec<Bug>,
}

/// The simulator's run specification for `variant`, with `bug`'s mechanism if any, passing
/// over the known findings of `variant`'s design.
pub fn sim_spec(
    variant: Variant,
    bug: Option<Bug>,
    steps: u32,
    expected: &crate::expected::ExpectedFindings,
) -> RunSpec {
    let mut spec = RunSpec::new(variant, steps);
    if let Some(bug) = bug {
        spec.config = with_mechanism(bug, spec.config);
    }
    spec.known = expected.known_properties(Variant::of(variant.design));
    spec
}

/// A bug's shortest counterexample: a trace of the coordinator, or of incremental backup.
#[derive(Clone, Debug)]
pub enum BugTrace {
    /// A coordinator bug's.
    Coordinator(backup_coordinator::trace::Trace),
    /// An incremental-backup bug's.
    Incremental(IncrementalTrace),
}

impl BugTrace {
    /// Its steps.
    pub fn len(&self) -> usize {
        match self {
            BugTrace::Coordinator(t) => t.steps.len(),
            BugTrace::Incremental(t) => t.steps.len(),
        }
    }

    /// Whether it has no step.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Numbered text.
    pub fn render_text(&self) -> String {
        match self {
            BugTrace::Coordinator(t) => t.render_text(),
            BugTrace::Incremental(t) => t.render_text(),
        }
    }

    /// A Mermaid sequence diagram.
    pub fn render_mermaid(&self) -> String {
        match self {
            BugTrace::Coordinator(t) => t.render_mermaid(),
            BugTrace::Incremental(t) => t.render_mermaid(),
        }
    }
}

/// The name of the property `bug`'s fix restores (every bug has bounds of one kind or the
/// other: `tests/exhaustive.rs` and the model's `tests/bugs.rs` check it).
pub fn bug_property(bug: Bug) -> Result<&'static str, String> {
    match (smallest_bounds(bug), incremental_bounds(bug)) {
        (Some((_, p)), _) => Ok(p.name()),
        (_, Some((_, p))) => Ok(p.name()),
        _ => Err(format!("{bug}: no smallest bounds")),
    }
}

/// The incremental model of `bug` at its smallest bounds.
fn incremental_model_finding(bug: Bug) -> Result<(ModelFinding, Option<BugTrace>), String> {
    let (config, property) =
        incremental_bounds(bug).ok_or_else(|| format!("{bug}: not a bug of incremental backup"))?;
    let profile = IncrementalProfile {
        name: "smallest",
        purpose: "the bug's smallest bounds",
        config,
    };
    let report = IncrementalModel::new(Variant::bug(bug), profile)
        .ok_or_else(|| format!("{bug}: its design has no incremental backups"))?
        .check(IncrementalOptions::default());
    let mut trace = None;
    let mut length = None;
    for p in &report.properties {
        if let IncrementalVerdict::Violated {
            length: l,
            trace: t,
        } = &p.verdict
        {
            if p.name == property.name() {
                length = Some(*l);
                trace = Some(BugTrace::Incremental(t.clone()));
            }
        }
    }
    Ok((
        ModelFinding {
            bounds: describe_bounds(&config),
            states: report.unique_states,
            found: length.is_some(),
            length,
            violated: report
                .properties
                .iter()
                .filter(|p| matches!(p.verdict, IncrementalVerdict::Violated { .. }))
                .map(|p| p.name)
                .collect(),
            seconds: report.seconds,
        },
        trace,
    ))
}

/// The model at `bug`'s smallest bounds.
pub fn model_finding(bug: Bug) -> Result<(ModelFinding, Option<BugTrace>), String> {
    let Some((config, property)) = smallest_bounds(bug) else {
        return incremental_model_finding(bug);
    };
    let report = BackupModel::new(Variant::bug(bug), config)
        .and_then(|m| m.check(CheckOptions::default()))
        .map_err(|e| e.to_string())?;
    let mut trace = None;
    let mut length = None;
    for p in &report.properties {
        if let Verdict::Violated {
            length: l,
            trace: t,
        } = &p.verdict
        {
            if p.name == property.name() {
                length = Some(*l);
                trace = Some(BugTrace::Coordinator((**t).clone()));
            }
        }
    }
    Ok((
        ModelFinding {
            bounds: describe_config(&config),
            states: report.unique_states,
            found: length.is_some(),
            length,
            violated: report.violated().into_iter().collect(),
            seconds: report.seconds,
        },
        trace,
    ))
}

/// Seeds until the first failure of a property outside `base_fails`, and the seconds they
/// took, from `offset` on (one thread, at most `limit` seeds).
fn time_to_failure(
    spec: &RunSpec,
    models: &crate::campaign::Models,
    base_fails: &[&'static str],
    offset: u64,
    limit: u64,
) -> Option<(u64, f64)> {
    let started = Instant::now();
    for n in 0..limit {
        let seed = offset + n;
        let result = run_seed(spec, models.for_seed(seed), seed, &mut ()).ok()?;
        if result
            .failure
            .is_some_and(|f| !base_fails.contains(&f.property()))
        {
            return Some((n + 1, started.elapsed().as_secs_f64()));
        }
    }
    None
}

fn campaign(options: &MutantsOptions, spec: RunSpec) -> CampaignOptions {
    CampaignOptions {
        spec,
        seeds: options.seeds,
        shard: Shard::default(),
        threads: options.threads,
        check_determinism: false,
        shrink: true,
        shrink_replays_max: 5_000,
        out: None,
        progress: false,
    }
}

/// The properties `design` fails in the simulator over the options' seeds, with `bug`'s
/// mechanism in the configuration.
fn base_failures(
    options: &MutantsOptions,
    design: Design,
    bug: Bug,
    stop: &AtomicBool,
) -> Result<Vec<&'static str>, CampaignError> {
    let mut spec = sim_spec(
        Variant::of(design),
        Some(bug),
        options.steps,
        &options.expected,
    );
    spec.variant = Variant::of(design);
    let mut options = campaign(options, spec);
    options.shrink = false;
    let report = run_campaign(&options, stop)?;
    Ok(report.failures.iter().map(|g| g.property).collect())
}

/// The simulator's incremental runs of `bug` over the options' seeds, beside its base
/// design's over the same seeds.
fn incremental_sim_finding(
    options: &MutantsOptions,
    bug: Bug,
    property: &'static str,
    stop: &AtomicBool,
) -> Result<SimFinding, String> {
    let rules_of = |variant: Variant| {
        variant
            .rules()
            .incremental
            .ok_or_else(|| format!("{variant}: no incremental backups"))
    };
    let base = Variant::of(bug.base());
    let base_report = run_incremental_campaign(
        base,
        rules_of(base)?,
        sim_bounds(),
        options.seeds,
        &[],
        stop,
    );
    let base_fails: Vec<&'static str> = base_report.groups.iter().map(|g| g.property).collect();
    let variant = Variant::bug(bug);
    let rules = rules_of(variant)?;
    let report = run_incremental_campaign(
        variant,
        rules,
        sim_bounds(),
        options.seeds,
        &base_fails,
        stop,
    );
    let group = report
        .groups
        .iter()
        .find(|g| g.property == property)
        .or_else(|| report.groups.iter().min_by_key(|g| g.first_seed));
    let trials: Vec<(u64, f64)> = (0..options.trials)
        .filter_map(|t| {
            let started = Instant::now();
            let offset = 1_000_000 * u64::from(t + 1);
            (0..1_000u64).find_map(|n| {
                let seed = offset + n;
                run_incremental_seed(rules, config_for(sim_bounds(), seed), seed, &base_fails)
                    .failure
                    .map(|_| (n + 1, started.elapsed().as_secs_f64()))
            })
        })
        .collect();
    Ok(SimFinding {
        seeds: report.seeds_run,
        failing_seeds: report.failing_seeds,
        base_fails,
        first_seed: group.map(|g| g.first_seed),
        property: group.map(|g| g.property),
        shrunk: group.map(|g| (g.length, g.shrunk.steps.len())),
        seeds_to_failure: median(trials.iter().map(|t| t.0).collect()),
        seconds_to_failure: median(trials.iter().map(|t| t.1).collect()),
    })
}

fn sim_finding(
    options: &MutantsOptions,
    bug: Bug,
    property: &'static str,
    stop: &AtomicBool,
) -> Result<SimFinding, String> {
    if bug.is_incremental() {
        return incremental_sim_finding(options, bug, property, stop);
    }
    sim_finding_of_coordinator(options, bug, property, stop).map_err(|e| e.to_string())
}

fn sim_finding_of_coordinator(
    options: &MutantsOptions,
    bug: Bug,
    property: &'static str,
    stop: &AtomicBool,
) -> Result<SimFinding, CampaignError> {
    let base_fails = base_failures(options, bug.base(), bug, stop)?;
    let spec = sim_spec(
        Variant::bug(bug),
        Some(bug),
        options.steps,
        &options.expected,
    );
    let report = run_campaign(&campaign(options, spec.clone()), stop)?;
    let new: Vec<_> = report
        .failures
        .iter()
        .filter(|g| !base_fails.contains(&g.property))
        .collect();
    let group = new
        .iter()
        .find(|g| g.property == property)
        .or_else(|| new.iter().min_by_key(|g| g.first_seed));
    let models = crate::campaign::Models::new(&spec)?;
    let trials: Vec<(u64, f64)> = (0..options.trials)
        .filter_map(|t| {
            time_to_failure(
                &spec,
                &models,
                &base_fails,
                1_000_000 * u64::from(t + 1),
                1_000,
            )
        })
        .collect();
    Ok(SimFinding {
        seeds: report.seeds_run,
        failing_seeds: new.iter().map(|g| g.seeds).sum(),
        base_fails,
        first_seed: group.map(|g| g.first_seed),
        property: group.map(|g| g.property),
        shrunk: group.and_then(|g| g.shrink.map(|s| (s.length_before, s.length_after))),
        seeds_to_failure: median(trials.iter().map(|t| t.0).collect()),
        seconds_to_failure: median(trials.iter().map(|t| t.1).collect()),
    })
}

/// Runs every bug and every recommended design.
pub fn run_mutants(
    options: &MutantsOptions,
    stop: &'static AtomicBool,
) -> Result<MutantsReport, String> {
    let started = Instant::now();
    let recommended_designs: Vec<Design> = Design::ALL
        .into_iter()
        .filter(|d| d.is_recommended())
        .collect();
    let chosen: Vec<Bug> = Bug::ALL
        .into_iter()
        .filter(|b| options.only.is_empty() || options.only.contains(b))
        .collect();
    let bar = options.progress.then(|| {
        let bar = indicatif::ProgressBar::new((chosen.len() + recommended_designs.len()) as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let show = |what: String| {
        if let Some(bar) = &bar {
            bar.set_message(what);
        }
    };
    let mut bugs = Vec::new();
    for bug in chosen.iter().copied() {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        show(format!("{bug}: model and simulator"));
        let property = bug_property(bug)?;
        let (model, _) = model_finding(bug)?;
        let sim = sim_finding(options, bug, property, stop)?;
        let caught = model.found || sim.found();
        bugs.push(MutantRow {
            bug: bug.name().to_string(),
            era: bug.era(),
            fix: bug.fix(),
            summary: bug.summary(),
            variant: Variant::bug(bug).to_string(),
            property,
            model,
            sim,
            loom: loom_test(bug),
            caught,
        });
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    let mut recommended = Vec::new();
    for design in recommended_designs {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let variant = Variant::of(design);
        let mut states = 0;
        let mut failures = Vec::new();
        for profile in default_profiles() {
            show(format!("{variant}: model profile {}", profile.name));
            let report = BackupModel::new(variant, profile.config)
                .and_then(|m| {
                    m.check(CheckOptions {
                        interrupt: Some(stop),
                        ..CheckOptions::default()
                    })
                })
                .map_err(|e| e.to_string())?;
            states += report.unique_states;
            failures.extend(report.failures().map(|p| p.name));
        }
        for profile in incremental::profiles() {
            let Some(model) = IncrementalModel::new(variant, profile) else {
                break;
            };
            show(format!("{variant}: model profile {}", profile.name));
            let report = model.check(IncrementalOptions {
                interrupt: Some(stop),
                ..IncrementalOptions::default()
            });
            states += report.unique_states;
            failures.extend(
                report
                    .properties
                    .iter()
                    .filter(|p| {
                        matches!(
                            p.verdict,
                            IncrementalVerdict::Violated { .. } | IncrementalVerdict::NotReached
                        )
                    })
                    .map(|p| p.name),
            );
        }
        show(format!("{variant}: simulator"));
        let sim = run_campaign(
            &campaign(
                options,
                sim_spec(variant, None, options.steps, &options.expected),
            ),
            stop,
        )
        .map_err(|e| e.to_string())?;
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        let mut failing: u64 = sim.failures.iter().map(|g| g.seeds).sum();
        if let Some(rules) = variant.rules().incremental {
            show(format!("{variant}: simulator, incremental runs"));
            failing +=
                run_incremental_campaign(variant, rules, sim_bounds(), options.seeds, &[], stop)
                    .failing_seeds;
        }
        recommended.push(CleanRow {
            variant: variant.to_string(),
            model_states: states,
            passes: failures.is_empty() && failing == 0,
            model_failures: failures,
            sim_seeds: sim.seeds_run,
            sim_failing_seeds: failing,
        });
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let interrupted = stop.load(std::sync::atomic::Ordering::SeqCst);
    let all_caught = bugs.len() == chosen.len() && bugs.iter().all(|b| b.caught);
    let all_clean = !interrupted && recommended.iter().all(|r| r.passes);
    let exit_code = if interrupted && bugs.iter().all(|b| b.caught) {
        130
    } else if all_caught && all_clean {
        0
    } else {
        1
    };
    Ok(MutantsReport {
        bugs,
        recommended,
        seeds: options.seeds,
        steps: options.steps,
        exit_code,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl MutantsReport {
    /// The table.
    pub fn render_text(&self) -> String {
        let mut rows: Vec<[String; 7]> = vec![[
            "bug",
            "era",
            "property violated",
            "model (states, steps)",
            "sim (failing/seeds)",
            "sim first failure (shrunk)",
            "verdict",
        ]
        .map(String::from)];
        for r in &self.bugs {
            let model = if r.model.found {
                format!("{}, {}", r.model.states, r.model.length.unwrap_or(0))
            } else {
                format!("NOT FOUND ({})", r.model.states)
            };
            let sim = format!("{}/{}", r.sim.failing_seeds, r.sim.seeds);
            let first = match (r.sim.first_seed, r.sim.shrunk, r.sim.property) {
                (Some(seed), Some((before, after)), Some(p)) if p == r.property => {
                    format!("seed {seed}, {before} -> {after}")
                }
                (Some(seed), Some((before, after)), Some(p)) => {
                    format!("seed {seed}, {before} -> {after} ({p})")
                }
                _ => "none".to_string(),
            };
            rows.push([
                r.bug.to_string(),
                r.era.to_string(),
                r.property.to_string(),
                model,
                sim,
                first,
                if r.caught { "caught" } else { "MISSED" }.to_string(),
            ]);
        }
        let mut out = aligned(&rows);
        let _ = writeln!(out);
        for r in &self.bugs {
            let _ = writeln!(
                out,
                "{} ({}, fixed by {}): {}; sim: median {} seed(s), {} to the first failure{}",
                r.bug.to_uppercase(),
                r.era,
                r.fix,
                r.summary,
                r.sim
                    .seeds_to_failure
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".to_string()),
                r.sim
                    .seconds_to_failure
                    .map(|s| format!("{:.3} s", s))
                    .unwrap_or_else(|| "-".to_string()),
                r.loom
                    .map(|t| format!("; loom: tests/loom.rs {t} (in 9.1)"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(out);
        for r in &self.recommended {
            let _ = writeln!(
                out,
                "{}: model {} states at the default bounds, {}; simulator {} seeds, {} failing: {}",
                r.variant,
                r.model_states,
                if r.model_failures.is_empty() {
                    "every property holds".to_string()
                } else {
                    format!("FAILED {:?}", r.model_failures)
                },
                r.sim_seeds,
                r.sim_failing_seeds,
                if r.passes { "clean" } else { "NOT CLEAN" }
            );
        }
        let caught = self.bugs.iter().filter(|b| b.caught).count();
        let _ = writeln!(
            out,
            "mutants: {caught} of {} bugs caught; recommended designs {} ({:.1} s)",
            self.bugs.len(),
            if self.recommended.iter().all(|r| r.passes) {
                "clean"
            } else {
                "NOT CLEAN"
            },
            self.seconds
        );
        out
    }
}

/// Rows as a table whose every column is as wide as its widest cell (the last column
/// unpadded), so that no long cell shifts the columns after it.
fn aligned<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The marker lines around the generated part of a `docs/bugs/` page.
pub const DOCS_BEGIN: &str =
    "<!-- BEGIN GENERATED by `backup-check mutants --write-docs docs/bugs`: do not edit by hand -->";
/// See [`DOCS_BEGIN`].
pub const DOCS_END: &str = "<!-- END GENERATED -->";

/// The generated part of `bug`'s page: the variant, the bounds, the model's shortest
/// counterexample as text and as a Mermaid diagram.
pub fn docs_section(bug: Bug) -> Result<String, String> {
    let (finding, trace) = model_finding(bug)?;
    let property = bug_property(bug)?;
    let trace = trace.ok_or_else(|| format!("{bug}: the model does not find {property}"))?;
    let how = if bug.is_incremental() {
        "`cargo test --release -p backup-model --test bugs` runs the incremental model at these bounds, `backup_coordinator::bugs::incremental_bounds`".to_string()
    } else {
        format!(
            "`backup-check model --variant {}` with these bounds reproduces it",
            Variant::bug(bug)
        )
    };
    let mut out = String::new();
    let _ = writeln!(out, "{DOCS_BEGIN}");
    let _ = writeln!(
        out,
        "Variant `{}`; bounds: {}. The exhaustive model explores {} states and violates \"{}\"; its shortest counterexample has {} steps ({how}).",
        Variant::bug(bug),
        finding.bounds,
        finding.states,
        property,
        trace.len(),
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "```text");
    out.push_str(&trace.render_text());
    let _ = writeln!(out, "```");
    let _ = writeln!(out);
    let _ = writeln!(out, "```mermaid");
    out.push_str(&trace.render_mermaid());
    let _ = writeln!(out, "```");
    let _ = writeln!(out, "{DOCS_END}");
    Ok(out)
}

/// Replaces the generated part of a page (or appends it if the page has none yet).
pub fn with_docs_section(page: &str, section: &str) -> String {
    match (page.find(DOCS_BEGIN), page.find(DOCS_END)) {
        (Some(begin), Some(end)) if end > begin => {
            let after = end + DOCS_END.len();
            let rest = page[after..].strip_prefix('\n').unwrap_or(&page[after..]);
            format!("{}{}{}", &page[..begin], section, rest)
        }
        _ => format!(
            "{}\n{}",
            page.trim_end_matches('\n').to_string() + "\n",
            section
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::aligned;

    #[test]
    fn a_long_cell_does_not_shift_the_columns_after_it() {
        let rows = [
            ["bug", "sim first failure (shrunk)", "verdict"],
            ["b1", "seed 3, 68 -> 12", "caught"],
            [
                "b10",
                "seed 0, 141 -> 9 (page writes forced while a backup runs)",
                "caught",
            ],
        ]
        .map(|r| r.map(String::from));
        let text = aligned(&rows);
        let columns: Vec<usize> = text
            .lines()
            .map(|l| l.rfind("  ").expect("columns are separated") + 2)
            .collect();
        assert_eq!(columns.len(), 3);
        assert!(columns.iter().all(|&c| c == columns[0]), "{text}");
    }
}
