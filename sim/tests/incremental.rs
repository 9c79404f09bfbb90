//! The simulator's incremental-backup runs: the same seed gives the same run, 17 as released
//! breaks restore and provenance within a few hundred seeds at the simulator's bounds (and the
//! shrunk counterexample still breaks it), the recommended rules keep every property over two
//! thousand seeds and reach every case, a summarizer that keeps its position at a timeline
//! switch (before `c7cfbc5157`) leaves backups never taken, and each seeded incremental bug's
//! first failure shrinks to within two steps of the model's shortest counterexample.

use backup_coordinator::incremental::cluster::{
    IncrementalCluster, IncrementalProperty, IncrementalRules,
};
use backup_coordinator::incremental::SummarizerRules;
use backup_coordinator::{Design, Variant};
use backup_sim::campaign::SeedRange;
use backup_sim::incremental::{
    run_incremental_campaign, run_incremental_seed, shrink_incremental, sim_bounds,
};
use std::sync::atomic::AtomicBool;

static STOP: AtomicBool = AtomicBool::new(false);

fn rules(design: Design) -> IncrementalRules {
    design.rules().incremental.expect("incremental backups")
}

#[test]
fn a_seed_gives_the_same_incremental_run_every_time() {
    for seed in 0..50 {
        let a = run_incremental_seed(rules(Design::Pg17), sim_bounds(), seed, &[]);
        let b = run_incremental_seed(rules(Design::Pg17), sim_bounds(), seed, &[]);
        assert_eq!(a.schedule, b.schedule);
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.failure, b.failure);
    }
}

#[test]
fn seventeen_as_released_breaks_restore_and_provenance_and_the_shrunk_run_still_does() {
    let report = run_incremental_campaign(
        Variant::of(Design::Pg17),
        rules(Design::Pg17),
        sim_bounds(),
        SeedRange { start: 0, end: 300 },
        &[],
        &STOP,
    );
    print!("{}", report.render_text());
    let properties: Vec<&str> = report.groups.iter().map(|g| g.property).collect();
    assert!(properties.contains(&IncrementalProperty::RestoreEqualsSource.name()));
    assert!(properties.contains(&IncrementalProperty::SummariesOnHistory.name()));
    for group in &report.groups {
        assert!(group.shrunk.steps.len() <= group.length, "{group:?}");
        assert!(!group.shrunk.problems.is_empty(), "{group:?}");
    }
    // Shrinking keeps the failure: the shrunk steps, replayed exactly, break the property.
    let run = run_incremental_seed(
        rules(Design::Pg17),
        sim_bounds(),
        report.groups[0].first_seed,
        &[],
    );
    let failure = run.failure.expect("the first seed fails");
    let shrunk = shrink_incremental(
        rules(Design::Pg17),
        sim_bounds(),
        &run.schedule,
        failure.property,
        5_000,
    );
    let mut c = IncrementalCluster::new(rules(Design::Pg17), sim_bounds());
    for &action in &shrunk {
        c.apply(action).expect("the shrunk schedule is exact");
    }
    assert!(c
        .violations()
        .iter()
        .any(|v| v.property == failure.property));
    assert!(shrunk.len() < run.schedule.len());
}

#[test]
fn the_recommended_rules_keep_every_incremental_property_over_two_thousand_seeds() {
    let report = run_incremental_campaign(
        Variant::of(Design::Recommended),
        rules(Design::Recommended),
        sim_bounds(),
        SeedRange {
            start: 0,
            end: 2000,
        },
        &[],
        &STOP,
    );
    print!("{}", report.render_text());
    assert_eq!(report.failing_seeds, 0);
    assert!(
        report.cases.iter().all(|(_, n)| *n > 0),
        "{:?}",
        report.cases
    );
}

#[test]
fn a_summarizer_that_keeps_its_position_at_a_switch_leaves_backups_never_taken() {
    let no_rewind = IncrementalRules {
        summarizer: SummarizerRules {
            rewind_at_switch: false,
            ..IncrementalRules::RECOMMENDED.summarizer
        },
        ..IncrementalRules::RECOMMENDED
    };
    let report = run_incremental_campaign(
        Variant::of(Design::Recommended),
        no_rewind,
        sim_bounds(),
        SeedRange { start: 0, end: 500 },
        &[],
        &STOP,
    );
    print!("{}", report.render_text());
    assert!(report
        .groups
        .iter()
        .any(|g| g.liveness && g.property == IncrementalProperty::BackupTaken.name()));
}

/// Shrinking gives a reviewer a short schedule: for each seeded bug of incremental backup, the
/// first failing seed of the simulator's bounds shrinks to at most two steps more than the
/// exhaustive model's shortest counterexample at the bug's smallest bounds (a record removed
/// with the steps that received, replayed and summarized it, then chunks).
#[test]
fn each_incremental_bugs_first_failure_shrinks_to_within_two_steps_of_the_models_shortest() {
    use backup_coordinator::bugs::incremental_bounds;
    use backup_coordinator::variant::Bug;
    use backup_model::incremental::{IncrementalModel, IncrementalOptions, IncrementalProfile};
    for bug in Bug::ALL.into_iter().filter(|b| b.is_incremental()) {
        let variant = Variant::bug(bug);
        let rules = variant.rules().incremental.expect("incremental backups");
        let (config, property) = incremental_bounds(bug).expect("its bounds");
        let profile = IncrementalProfile {
            name: "smallest",
            purpose: "",
            config,
        };
        let shortest = IncrementalModel::new(variant, profile)
            .expect("incremental backups")
            .check(IncrementalOptions::default())
            .violated()
            .into_iter()
            .find(|(name, _)| name == property.name())
            .map(|(_, length)| length)
            .expect("the model finds it");
        let report = run_incremental_campaign(
            variant,
            rules,
            sim_bounds(),
            SeedRange { start: 0, end: 200 },
            &[],
            &STOP,
        );
        let group = report
            .groups
            .iter()
            .find(|g| g.property == property.name())
            .unwrap_or_else(|| panic!("{bug}: the simulator finds {property}"));
        assert!(
            group.shrunk.steps.len() <= shortest + 2,
            "{bug}: shrunk to {} steps, the model's shortest has {shortest}",
            group.shrunk.steps.len()
        );
    }
}
