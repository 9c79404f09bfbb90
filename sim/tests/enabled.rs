//! The incremental enabled set ([`backup_coordinator::enabled::EnabledSet`]) answers exactly
//! as the core's full listing ([`Cluster::actions_into`]) at every step: the same actions in
//! the same order, for every design and seeded bug, under the simulator's bounds (many
//! sessions, every fault, crashes, shutdowns), on a standby, with hostile labels, and with
//! small command budgets (where only the stops a client owes are offered). The simulator's
//! seeds draw their steps from it, so a stale entry would change what a seed explores.

use backup_coordinator::enabled::EnabledSet;
use backup_coordinator::{Action, Cluster, Config, Variant};
use backup_sim::profile::{default_config, Weights};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Each configuration with the number of seeds walked under it.
fn configs() -> Vec<(&'static str, Config, u64)> {
    let sim = default_config();
    vec![
        ("the simulator's bounds", sim, 3),
        (
            "a standby",
            Config {
                standby: true,
                full_page_writes: true,
                primary_fpw_offs: 2,
                timeline: backup_coordinator::lsn::TimeLineId(2),
                writers: 0,
                ..sim
            },
            3,
        ),
        (
            "hostile labels and small budgets",
            Config {
                sql_sessions: 3,
                walsenders: 2,
                replication_sessions: 1,
                hostile_labels: true,
                commands_per_session: 3,
                backups_per_session: 2,
                faults: 4,
                crashes: 2,
                ..sim
            },
            40,
        ),
    ]
}

#[test]
fn enabled_set_lists_what_the_core_lists_at_every_step() {
    let weights = Weights::default();
    let mut steps = 0u64;
    for variant in Variant::all() {
        for (name, config, seeds) in configs() {
            let Ok(start) = Cluster::new(variant, config) else {
                continue;
            };
            for seed in 0..seeds {
                let mut cluster = start.clone();
                let mut set = EnabledSet::new(weights);
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                for step in 0..1_500 {
                    set.refresh(&cluster);
                    let listed: Vec<Action> = set.actions().collect();
                    let expected = cluster.actions();
                    assert_eq!(
                        listed, expected,
                        "{variant} under {name}, seed {seed}, step {step}: the enabled set differs from the core's listing"
                    );
                    if expected.is_empty() {
                        break;
                    }
                    // Uniform over the enabled actions, so that rare kinds (crashes,
                    // shutdowns, faults) come up as often as steps.
                    let action = expected[rng.random_range(0..expected.len())];
                    cluster
                        .apply(action)
                        .unwrap_or_else(|e| panic!("{variant}: {action:?} refused: {e}"));
                    steps += 1;
                }
            }
        }
    }
    assert!(steps > 100_000, "only {steps} steps were compared");
}

#[test]
fn enabled_set_picks_by_weight_in_listing_order() {
    let weights = Weights::default();
    let cluster = Cluster::new(Variant::default(), default_config()).expect("bounds");
    let mut set = EnabledSet::new(weights);
    set.refresh(&cluster);
    let listed = cluster.actions();
    // Walk the weight line: every position lands on the action the full listing puts there.
    let mut position = 0u64;
    for action in &listed {
        let w = u64::from(backup_coordinator::enabled::ActionWeight::weight(
            &weights, action,
        ));
        for offset in [0, w.saturating_sub(1)] {
            if w > 0 {
                assert_eq!(set.pick(position + offset), Some(*action));
            }
        }
        position += w;
    }
    assert_eq!(set.total_weight(), position);
    assert_eq!(set.pick(position), None);
}
