//! Exhaustive breadth-first exploration of small configurations, straight over
//! `Cluster::actions` / `Cluster::apply`: the recommended designs keep every invariant in every
//! reachable state, and the 9.1 design's flaws are found with their shortest traces.

use backup_coordinator::invariants::{check_all, Property, INVARIANTS};
use backup_coordinator::{Action, Cluster, Config, Design, Variant};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Explores every state reachable from `init` (skipping refusals that change nothing but a
/// budget, as the model does: `Cluster::successor`); returns the number of states and, per violated
/// property, the shortest action path to a violating state.
fn explore(init: Cluster, limit: usize) -> (usize, BTreeMap<Property, Vec<Action>>) {
    let mut parent: HashMap<Cluster, Option<(Cluster, Action)>> = HashMap::new();
    let mut queue = VecDeque::from([init.clone()]);
    parent.insert(init, None);
    let mut found = BTreeMap::new();
    while let Some(state) = queue.pop_front() {
        for violation in check_all(&state) {
            found.entry(violation.property).or_insert_with(|| {
                let mut path = Vec::new();
                let mut at = state.clone();
                while let Some(Some((prev, action))) = parent.get(&at) {
                    path.push(*action);
                    at = prev.clone();
                }
                path.reverse();
                path
            });
        }
        for action in state.actions() {
            assert!(state.is_enabled(action), "listed actions are enabled");
            let Some(next) = state.successor(action) else {
                continue;
            };
            if !parent.contains_key(&next) {
                assert!(parent.len() < limit, "more than {limit} states");
                parent.insert(next.clone(), Some((state.clone(), action)));
                queue.push_back(next);
            }
        }
    }
    (parent.len(), found)
}

fn small(sql: u8, walsenders: u8) -> Config {
    Config {
        sql_sessions: sql,
        walsenders,
        writers: 1,
        pages: 1,
        page_writes: 1,
        ..Config::default()
    }
}

#[test]
fn invariant_table_lists_every_property_in_order() {
    let listed: Vec<Property> = INVARIANTS.iter().map(|(p, _)| *p).collect();
    assert_eq!(listed, Property::ALL.to_vec());
}

#[test]
fn recommended_designs_keep_every_invariant_with_faults_and_a_crash() {
    for design in [Design::Recommended, Design::RecommendedOption2] {
        let config = Config {
            faults: 2,
            crashes: 1,
            page_writes: 0,
            ..small(1, 1)
        };
        let (states, found) = explore(Cluster::new(Variant::of(design), config).unwrap(), 400_000);
        assert!(found.is_empty(), "{design}: {found:?}");
        assert!(states > 10_000, "{design}: only {states} states");
    }
}

#[test]
fn recommended_design_keeps_every_invariant_with_hostile_clients() {
    let config = Config {
        hostile_labels: true,
        commands_per_session: 5,
        faults: 1,
        ..small(1, 0)
    };
    let (_, found) = explore(
        Cluster::new(Variant::of(Design::Recommended), config).unwrap(),
        200_000,
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn pg91_flaws_are_found_with_short_traces() {
    let config = Config {
        page_writes: 0,
        ..small(2, 0)
    };
    let (_, found) = explore(
        Cluster::new(Variant::of(Design::Pg91), config).unwrap(),
        200_000,
    );
    let forcing = &found[&Property::ForcingWhileBackupRuns];
    // S0 starts (switch + increment), S1's stop clears the flag: three steps.
    assert_eq!(forcing.len(), 3, "{forcing:?}");
    assert!(found.contains_key(&Property::ExclusiveBackupAlone));
    assert!(
        found.contains_key(&Property::UniqueStartPoints),
        "B2: the shared-lock check lets two share R"
    );
    assert!(found.contains_key(&Property::HistoryFilesNeverOverwritten));
    assert!(found.contains_key(&Property::AssertionsHold));
    assert!(
        found.contains_key(&Property::NoStaleBackupLabel),
        "B5 leaves a label with the flag clear"
    );
}

/// With `archive_mode` off, each stop's `CleanupBackupHistory` removes its own history file
/// at once and nothing is archived: a second backup of the same start point writes the name
/// afresh, overwriting nothing, while the shared start point itself is still found.
#[test]
fn pg91_with_archiving_off_overwrites_no_history_file_but_still_shares_start_points() {
    let config = Config {
        page_writes: 0,
        archive_mode: false,
        ..small(2, 0)
    };
    let (_, found) = explore(
        Cluster::new(Variant::of(Design::Pg91), config).unwrap(),
        200_000,
    );
    assert!(found.contains_key(&Property::UniqueStartPoints));
    assert!(
        !found.contains_key(&Property::HistoryFilesNeverOverwritten),
        "{:?}",
        found.get(&Property::HistoryFilesNeverOverwritten)
    );
}

#[test]
fn pg96_refuses_to_restart_after_a_crash_during_an_exclusive_backup() {
    let config = Config {
        faults: 1,
        crashes: 1,
        page_writes: 0,
        commands_per_session: 1,
        ..small(1, 1)
    };
    let (_, found) = explore(
        Cluster::new(Variant::of(Design::Pg96), config).unwrap(),
        400_000,
    );
    let violated: Vec<Property> = found.keys().copied().collect();
    // Besides the refusal: 9.6 writes backup_label with an fsync of the file but not of the
    // data directory, and history files with no fsync at all (the durability finding).
    assert_eq!(
        violated,
        vec![
            Property::RestartSucceeds,
            Property::ReportedFilesSurviveOsCrash
        ],
        "{found:?}"
    );
    // Exclusive start (5 actions to the label), a streamed backup whose checkpoint moves the
    // redo point to the next segment, and the crash.
    assert!(
        found[&Property::RestartSucceeds].len() <= 16,
        "{:?}",
        found[&Property::RestartSucceeds]
    );
}

/// Every seeded historical bug (PROTOCOL.md §6) breaks the property its fix restores at the
/// smallest bounds `bugs::smallest_bounds` names, within a few steps, and its base design keeps
/// that property at the same bounds: the core's own search finds each bug's step, with no
/// model or simulator in between.
#[test]
fn every_seeded_bug_breaks_its_property_and_its_base_design_keeps_it() {
    use backup_coordinator::bugs::smallest_bounds;
    use backup_coordinator::variant::Bug;
    for bug in Bug::ALL {
        // Incremental backup's bugs: tests/incremental.rs and the model's tests/bugs.rs.
        let Some((config, property)) = smallest_bounds(bug) else {
            assert!(bug.is_incremental(), "{bug} has no bounds");
            continue;
        };
        let (states, found) = explore(Cluster::new(Variant::bug(bug), config).unwrap(), 2_000_000);
        let path = found.get(&property).unwrap_or_else(|| {
            panic!("{bug}: {property:?} not broken in {states} states: {found:?}")
        });
        assert!(!path.is_empty() && path.len() <= 40, "{bug}: {path:?}");
        let (_, base) = explore(
            Cluster::new(Variant::of(bug.base()), config).unwrap(),
            2_000_000,
        );
        assert!(
            !base.contains_key(&property),
            "{bug}'s base design {} breaks {property:?} too: {:?}",
            bug.base(),
            base[&property]
        );
    }
}

/// With option 2's temporary label files, 9.1's shared start points (B2's check under a shared
/// lock) make one WAL sender copy the label file another backup wrote; the finding outlives
/// both backups: once every backup has ended, the latched per-backup finding still names it.
#[test]
fn pg91_option2_a_base_backup_that_copied_another_backups_temporary_label_is_reported_after_it_ends(
) {
    use backup_coordinator::state::PickedUp;
    use std::collections::HashSet;
    let config = Config {
        commands_per_session: 1,
        ..small(0, 2)
    };
    let init = Cluster::new(Variant::of(Design::Pg91Option2), config).unwrap();
    let mut seen = HashSet::from([init.clone()]);
    let mut queue = VecDeque::from([init]);
    let mut copied_another = false;
    let mut reported_after_the_end = false;
    while let Some(state) = queue.pop_front() {
        copied_another |= state
            .backups
            .iter()
            .any(|b| b.picked_up == Some(PickedUp::TempLabel));
        if state.backups.is_empty()
            && state
                .ghost
                .latched
                .iter()
                .any(|l| l.property == Property::LabelsNeverShared)
        {
            let violations = check_all(&state);
            assert!(
                violations
                    .iter()
                    .any(|v| v.property == Property::LabelsNeverShared),
                "latched but not reported: {violations:?}"
            );
            reported_after_the_end = true;
            break;
        }
        for action in state.actions() {
            if let Some(next) = state.successor(action) {
                if seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
    }
    assert!(
        copied_another,
        "no WAL sender copied another backup's label"
    );
    assert!(
        reported_after_the_end,
        "the finding did not outlive the backups"
    );
}

/// Every invariant PROTOCOL.md §8 numbers (I1-I9) is checked by some property, and each
/// property names at most one of them.
#[test]
fn every_numbered_invariant_of_the_protocol_is_a_property() {
    let numbers: std::collections::BTreeSet<&str> = Property::ALL
        .iter()
        .filter_map(|p| p.protocol_number())
        .collect();
    let expected: std::collections::BTreeSet<&str> =
        ["I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8", "I9"].into();
    assert_eq!(numbers, expected);
}
