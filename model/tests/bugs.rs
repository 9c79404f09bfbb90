//! Each seeded historical bug (PROTOCOL.md §6) is found by the exhaustive model at its
//! smallest bounds, with the property PostgreSQL's fix names; the same bounds leave that
//! property unbroken in its base design, so the finding is the bug's and nothing else's (the
//! base design's own era findings, such as 9.6's files written without fsync, are another
//! property). Incremental backup's bugs are found by the incremental profiles' search at
//! their smallest bounds, the recommended design (their base) clean there.

use backup_coordinator::bugs::{incremental_bounds, smallest_bounds};
use backup_coordinator::variant::Bug;
use backup_coordinator::{Config, Variant};
use backup_model::incremental::{IncrementalModel, IncrementalOptions, IncrementalProfile};
use backup_model::{BackupModel, CheckOptions, ModelReport, Verdict};

fn check(variant: Variant, config: Config) -> ModelReport {
    BackupModel::new(variant, config)
        .unwrap()
        .check(CheckOptions::default())
        .unwrap()
}

#[test]
fn every_seeded_bug_is_found_and_its_base_design_is_clean_at_the_same_bounds() {
    let mut rows = Vec::new();
    for bug in Bug::ALL {
        let Some((config, property)) = smallest_bounds(bug) else {
            continue;
        };
        let report = check(Variant::bug(bug), config);
        let found = report
            .properties
            .iter()
            .find(|p| p.name == property.name())
            .unwrap();
        let Verdict::Violated { length, trace } = &found.verdict else {
            panic!("{bug}: {property} not violated\n{}", report.render_text());
        };
        assert_eq!(trace.steps.len(), *length);
        let base = check(Variant::of(bug.base()), config);
        assert!(
            !base.violated().contains(property.name()),
            "{bug}'s base {}: {:?}",
            bug.base(),
            base.violated()
        );
        rows.push(format!(
            "{bug}: {property} in {length} steps ({} states)",
            report.unique_states
        ));
    }
    println!("{}", rows.join("\n"));
}

#[test]
fn every_seeded_incremental_bug_is_found_and_its_base_design_is_clean_at_the_same_bounds() {
    let mut rows = Vec::new();
    for bug in Bug::ALL.into_iter().filter(|b| b.is_incremental()) {
        let (config, property) = incremental_bounds(bug).expect("an incremental bug's bounds");
        let profile = IncrementalProfile {
            name: "smallest",
            purpose: "",
            config,
        };
        let search = |variant: Variant| {
            IncrementalModel::new(variant, profile)
                .expect("incremental backups")
                .check(IncrementalOptions::default())
        };
        let report = search(Variant::bug(bug));
        let length = report
            .violated()
            .into_iter()
            .find(|(name, _)| name == property.name())
            .map(|(_, length)| length)
            .unwrap_or_else(|| panic!("{bug}: {property} not violated\n{}", report.render_text()));
        let base = search(Variant::of(bug.base()));
        assert!(
            base.violated().is_empty(),
            "{bug}'s base {}: {:?}",
            bug.base(),
            base.violated()
        );
        rows.push(format!(
            "{bug}: {property} in {length} steps ({} states)",
            report.unique_states
        ));
    }
    assert_eq!(rows.len(), 6);
    println!("{}", rows.join("\n"));
}
