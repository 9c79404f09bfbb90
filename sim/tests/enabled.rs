//! The incremental enabled set ([`backup_coordinator::enabled::EnabledSet`]) answers exactly
//! as the core's full listing ([`Cluster::actions_into`]) at every step: the same actions in
//! the same order, for every design and seeded bug, under the simulator's bounds (many
//! sessions, every fault, crashes, shutdowns), on a standby, with hostile labels, and with
//! small command budgets (where only the stops a client owes are offered). The simulator's
//! seeds draw their steps from it, so a stale entry would change what a seed explores.
//!
//! The same walks hold the invariants' check after every step ([`invariants::check_except`],
//! which answers the per-backup invariants together in one pass when nothing is found) to
//! asking every invariant in order.

use backup_coordinator::enabled::EnabledSet;
use backup_coordinator::invariants::{self, Property, PropertySet, INVARIANTS};
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

/// One walk per design, configuration and seed: its description and every state it passes
/// through, each step drawn uniformly among the enabled actions (so that rare kinds, crashes,
/// shutdowns and faults, come up as often as steps), for at most 1,500 steps.
fn walks() -> impl Iterator<Item = (String, Vec<Cluster>)> {
    Variant::all().into_iter().flat_map(|variant| {
        configs()
            .into_iter()
            .flat_map(move |(name, config, seeds)| {
                let start = Cluster::new(variant, config).ok();
                (0..seeds).filter_map(move |seed| {
                    let mut cluster = start.clone()?;
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let mut states = vec![cluster.clone()];
                    for _ in 0..1_500 {
                        let enabled = cluster.actions();
                        if enabled.is_empty() {
                            break;
                        }
                        let action: Action = enabled[rng.random_range(0..enabled.len())];
                        cluster
                            .apply(action)
                            .unwrap_or_else(|e| panic!("{variant}: {action:?} refused: {e}"));
                        states.push(cluster.clone());
                    }
                    Some((format!("{variant} under {name}, seed {seed}"), states))
                })
            })
    })
}

#[test]
fn enabled_set_lists_what_the_core_lists_at_every_step() {
    let weights = Weights::default();
    let mut steps = 0u64;
    for (walk, states) in walks() {
        let mut set = EnabledSet::new(weights);
        for (step, cluster) in states.iter().enumerate() {
            set.refresh(cluster);
            let listed: Vec<Action> = set.actions().collect();
            assert_eq!(
                listed,
                cluster.actions(),
                "{walk}, step {step}: the enabled set differs from the core's listing"
            );
            steps += 1;
        }
    }
    assert!(steps > 100_000, "only {steps} steps were compared");
}

/// What the enabled set relies on to look again only at the sessions a step wrote: every
/// step marks every session record it changes, counts itself, and leaves the facts of every
/// other session as they were, unless they read a backup or a checkpoint completed.
#[test]
fn each_step_marks_every_session_record_it_writes() {
    let (mut changed, mut compared) = (0u64, 0u64);
    for (walk, states) in walks() {
        for (step, pair) in states.windows(2).enumerate() {
            let [before, after] = pair else { continue };
            let touched = after.touched();
            assert_eq!(
                touched.steps(),
                before.touched().steps() + 1,
                "{walk}, step {step}"
            );
            for (index, (old, new)) in before.sessions.iter().zip(&after.sessions).enumerate() {
                let session = backup_coordinator::state::SessionId(index as u8);
                if old != new {
                    changed += 1;
                    assert!(
                        touched.session(index),
                        "{walk}, step {step}: {session}'s record changed unmarked"
                    );
                }
                let facts = before.session_facts(session).expect("a session");
                let unmarked = !touched.session(index)
                    && !facts.read_a_backup()
                    && before.checkpointer.done == after.checkpointer.done;
                if unmarked {
                    compared += 1;
                    assert_eq!(
                        after.session_facts(session),
                        Some(facts),
                        "{walk}, step {step}: {session}'s facts changed though the step did not write it"
                    );
                }
            }
        }
    }
    assert!(
        changed > 10_000 && compared > 100_000,
        "{changed} changes, {compared} comparisons"
    );
}

#[test]
fn the_check_after_a_step_answers_as_every_invariant_asked_in_order() {
    let skips: [PropertySet; 3] = [
        PropertySet::EMPTY,
        [Property::HistoryFileDescribesBackup].into_iter().collect(),
        [
            Property::UnitsReleasedOnce,
            Property::ReportedFilesSurviveOsCrash,
        ]
        .into_iter()
        .collect(),
    ];
    let (mut states, mut violated) = (0u64, 0u64);
    for (walk, clusters) in walks() {
        for (step, cluster) in clusters.iter().enumerate() {
            for property in invariants::ONLY_PER_BACKUP.iter() {
                let found = cluster.ghost.latched.iter().any(|l| l.property == property)
                    || cluster
                        .backups
                        .iter()
                        .any(|b| invariants::backup_problem(cluster, b, property).is_some());
                assert_eq!(
                    invariants::invariant(property)(cluster).is_err(),
                    found,
                    "{walk}, step {step}: {property} is more than its per-backup check"
                );
            }
            for skip in skips {
                let in_order = INVARIANTS
                    .iter()
                    .filter(|(p, _)| !skip.contains(*p))
                    .try_for_each(|(_, invariant)| invariant(cluster));
                violated += u64::from(in_order.is_err());
                assert_eq!(
                    invariants::check_except(cluster, skip),
                    in_order,
                    "{walk}, step {step}, skipping {skip:?}"
                );
            }
            states += 1;
        }
    }
    assert!(
        states > 100_000 && violated > 1_000,
        "{states} states, {violated} violations"
    );
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
