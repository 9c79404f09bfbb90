//! The incremental profiles through stateright: 17 and 18 as released have I1 (E1 and E3)
//! and lose blocks when they merge one timeline's summaries in directory order (E1), at the
//! shortest lengths the reviewed findings list; the recommended rules keep every property and
//! reach every case in both profiles; and a summarizer that does not go back at a timeline
//! switch (before `c7cfbc5157`) leaves an incremental backup never taken (L1).

use backup_coordinator::incremental::cluster::{IncrementalProperty, IncrementalRules};
use backup_coordinator::incremental::SummarizerRules;
use backup_coordinator::{Design, Variant};
use backup_model::incremental::{
    profile, IncrementalModel, IncrementalOptions, IncrementalReport, IncrementalVerdict,
};

const E1: &str = "E1 restore equals the source";
const E3: &str = "E3 summaries used lie on the backup's history";

fn check(variant: Variant, rules: IncrementalRules, name: &str) -> IncrementalReport {
    let report = IncrementalModel::with_rules(variant, rules, profile(name).expect("a profile"))
        .check(IncrementalOptions::default());
    println!("{}", report.render_text());
    assert!(report.complete);
    assert!(
        report.not_reached().is_empty(),
        "{:?}",
        report.not_reached()
    );
    report
}

fn design(design: Design, name: &str) -> IncrementalReport {
    let variant = Variant::of(design);
    let rules = variant.rules().incremental.expect("incremental backups");
    check(variant, rules, name)
}

#[test]
fn seventeen_as_released_breaks_restore_and_provenance_at_a_promotion_where_an_old_summary_starts()
{
    let report = design(Design::Pg17, "incremental");
    assert_eq!(
        report.violated(),
        [(E1.to_string(), 18), (E3.to_string(), 18)]
    );
}

#[test]
fn seventeen_as_released_loses_blocks_merging_one_timelines_summaries_newest_first() {
    let report = design(Design::Pg17, "incremental-merge");
    let violated = report.violated();
    assert_eq!(violated.len(), 1, "{violated:?}");
    assert_eq!(violated[0].0, E1);
    let IncrementalVerdict::Violated { trace, .. } = &report.properties[0].verdict else {
        panic!("E1 is the first property");
    };
    assert!(trace
        .steps
        .iter()
        .any(|s| s.contains("summaries listed newest first")));
}

#[test]
fn the_recommended_rules_keep_every_incremental_property_and_reach_every_case() {
    for name in [
        "incremental",
        "incremental-merge",
        "incremental-database",
        "incremental-minimal",
    ] {
        let report = design(Design::Recommended, name);
        assert!(
            report.violated().is_empty(),
            "{name}: {:?}",
            report.violated()
        );
        assert!(report.unique_states > 1_000, "{}", report.unique_states);
    }
}

#[test]
fn a_summarizer_that_keeps_its_position_at_a_timeline_switch_never_lets_the_backup_be_taken() {
    let rules = IncrementalRules {
        summarizer: SummarizerRules {
            rewind_at_switch: false,
            ..IncrementalRules::RECOMMENDED.summarizer
        },
        ..IncrementalRules::RECOMMENDED
    };
    let report = check(Variant::of(Design::Recommended), rules, "incremental");
    let l1 = report
        .properties
        .iter()
        .find(|p| p.name == IncrementalProperty::BackupTaken.name())
        .expect("L1 is checked");
    let IncrementalVerdict::Violated { trace, .. } = &l1.verdict else {
        panic!("L1 holds: {:?}", l1.verdict);
    };
    assert!(trace
        .steps
        .iter()
        .any(|s| s.starts_with("standby promoted")));
}
