//! Determinism: the same seed, variant, configuration and version give a byte-identical trace;
//! different seeds explore different schedules; a campaign's results do not depend on its
//! threads.

mod common;

use backup_sim::campaign::{run_campaign, CampaignOptions, SeedRange, Shard};
use backup_sim::schedule::Schedule;
use common::{recorded, spec};
use std::sync::atomic::AtomicBool;

fn trace_text(spec: &backup_sim::run::RunSpec, seed: u64) -> (String, u64) {
    let (result, recording) = recorded(spec, seed);
    let fault_phase = recording.fault_phase.unwrap_or(recording.actions.len());
    let schedule = Schedule {
        variant: spec.variant,
        config: spec.config_for(seed),
        actions: recording.actions[..fault_phase].to_vec(),
        drain: recording.fault_phase.is_some(),
        drain_steps: None,
        known: backup_coordinator::invariants::PropertySet::EMPTY,
    };
    let replayed = schedule.replay().unwrap();
    (replayed.trace.render_text(), result.digest)
}

#[test]
fn same_seed_gives_a_byte_identical_trace() {
    for variant in ["recommended", "pg96", "pg91-option2"] {
        let spec = spec(variant, 3_000);
        for seed in [0, 7, 123_456_789] {
            let (first, digest_first) = trace_text(&spec, seed);
            let (second, digest_second) = trace_text(&spec, seed);
            assert_eq!(digest_first, digest_second, "{variant} seed {seed}");
            assert!(
                first.as_bytes() == second.as_bytes(),
                "{variant} seed {seed}"
            );
            assert!(first.lines().count() > 10, "{variant} seed {seed}: {first}");
        }
    }
}

#[test]
fn swarm_runs_are_deterministic_too() {
    let mut spec = spec("recommended", 3_000);
    spec.swarm = true;
    let (first, a) = trace_text(&spec, 42);
    let (second, b) = trace_text(&spec, 42);
    assert_eq!(a, b);
    assert_eq!(first, second);
}

#[test]
fn different_seeds_explore_different_schedules() {
    let spec = spec("recommended", 2_000);
    let digests: std::collections::BTreeSet<u64> =
        (0..50).map(|seed| recorded(&spec, seed).0.digest).collect();
    assert_eq!(digests.len(), 50, "every seed takes its own path");
}

#[test]
fn a_run_replays_exactly_from_its_recording() {
    // The recorded actions, replayed strictly through the core, take the same steps: every
    // action is enabled where it stands and the failure (or its absence) is the same.
    for (variant, seed) in [("recommended", 3), ("pg91", 1), ("pg96", 0)] {
        let spec = spec(variant, 5_000);
        let (result, recording) = recorded(&spec, seed);
        let replayed = Schedule {
            variant: spec.variant,
            config: spec.config,
            actions: recording.actions.clone(),
            drain: false,
            drain_steps: None,
            known: backup_coordinator::invariants::PropertySet::EMPTY,
        }
        .replay()
        .unwrap();
        assert_eq!(replayed.trace.actions(), recording.actions);
        match (&result.failure, &replayed.failure) {
            (Some(a), Some(b)) => assert_eq!(a.property(), b.property(), "{variant}"),
            (None, None) => {}
            (a, b) => panic!("{variant} seed {seed}: run {a:?}, replay {b:?}"),
        }
    }
}

#[test]
fn campaign_results_do_not_depend_on_threads() {
    let never = AtomicBool::new(false);
    let run = |threads| {
        let options = CampaignOptions {
            spec: spec("pg91-option2", 2_000),
            seeds: SeedRange { start: 0, end: 64 },
            shard: Shard::default(),
            threads,
            check_determinism: true,
            shrink: true,
            shrink_replays_max: 2_000,
            out: None,
            progress: false,
        };
        run_campaign(&options, &never).unwrap()
    };
    let one = run(1);
    let two = run(2);
    assert!(one.nondeterministic_seeds.is_empty());
    assert!(two.nondeterministic_seeds.is_empty());
    assert_eq!(one.steps, two.steps);
    assert_eq!(one.coverage, two.coverage);
    let groups = |r: &backup_sim::campaign::CampaignReport| {
        r.failures
            .iter()
            .map(|g| {
                (
                    g.property,
                    g.seeds,
                    g.first_seed,
                    g.trace.as_ref().map(|t| t.render_text()),
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(!one.failures.is_empty());
    assert_eq!(groups(&one), groups(&two));
}

#[test]
fn shards_split_a_seed_range_exactly_once() {
    let range = SeedRange { start: 5, end: 103 };
    for count in 1..=7u64 {
        let mut all: Vec<u64> = (1..=count)
            .flat_map(|index| {
                let shard = Shard { index, count };
                let seeds: Vec<u64> = range.seeds(shard).collect();
                assert_eq!(seeds.len() as u64, range.len(shard));
                assert!(seeds.iter().all(|s| s % count == index - 1));
                seeds
            })
            .collect();
        all.sort_unstable();
        assert_eq!(all, (5..103).collect::<Vec<u64>>(), "{count} shards");
    }
    assert!("5..1".parse::<SeedRange>().is_err());
    assert!("3..3".parse::<SeedRange>().is_err());
    assert!("0/4".parse::<Shard>().is_err());
    assert!("5/4".parse::<Shard>().is_err());
    assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
}
