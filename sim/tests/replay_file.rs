//! The replay file: a saved failure round-trips, replays to the failure it records, and a
//! malformed, truncated or version-mismatched file is one clear, typed error.

mod common;

use backup_sim::replay_file::{Engine, Expect, ReplayFile, ReplayFileError};
use backup_sim::run::{run_seed, Recording};
use backup_sim::schedule::Schedule;
use backup_sim::shrink::shrink;
use common::spec;
use std::path::Path;

fn saved_failure(dir: &Path) -> (ReplayFile, std::path::PathBuf) {
    let spec = spec("pg91", 20_000);
    let model = backup_model::BackupModel::new(spec.variant, spec.config).unwrap();
    let mut recording = Recording::default();
    let failure = run_seed(&spec, &model, 1, &mut recording)
        .unwrap()
        .failure
        .unwrap();
    let schedule = Schedule {
        variant: spec.variant,
        config: spec.config,
        actions: recording.actions,
        drain: false,
        drain_steps: None,
        known: backup_coordinator::invariants::PropertySet::EMPTY,
    };
    let shrunk = shrink(schedule, &failure, 5_000);
    let file = ReplayFile::new(
        Engine::Sim,
        &shrunk.schedule,
        Expect::of(&failure),
        Some(1),
        Some(shrunk.length_before),
    );
    let path = file.save(dir).unwrap();
    (file, path)
}

#[test]
fn a_saved_failure_loads_back_identically_and_replays_to_its_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (file, path) = saved_failure(dir.path());
    let loaded = ReplayFile::load(&path).unwrap();
    assert_eq!(loaded, file);
    assert_eq!(loaded.to_json(), std::fs::read_to_string(&path).unwrap());
    let replayed = loaded.schedule().replay().unwrap();
    assert!(backup_sim::gate::shows(&loaded.expect, &replayed));
    // Nothing but the file is left in the directory (the write was atomic).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn malformed_truncated_and_mismatched_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = saved_failure(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    let bad = dir.path().join("bad.json");
    let load = |content: &str| {
        std::fs::write(&bad, content).unwrap();
        ReplayFile::load(&bad)
    };
    assert!(matches!(
        load(&text[..text.len() / 2]),
        Err(ReplayFileError::Malformed { .. })
    ));
    assert!(matches!(
        load("not json"),
        Err(ReplayFileError::Malformed { .. })
    ));
    let future = text.replace("\"version\": 2", "\"version\": 99");
    let error = load(&future).unwrap_err();
    assert!(matches!(error, ReplayFileError::Version { .. }));
    assert!(error.to_string().contains("99"), "{error}");
    let other = text.replace("backup-check-replay", "something-else");
    assert!(matches!(load(&other), Err(ReplayFileError::Version { .. })));
    let unknown_variant = text.replace("\"variant\": \"pg91\"", "\"variant\": \"pg99\"");
    let error = load(&unknown_variant).unwrap_err();
    assert!(error.to_string().contains("pg99"), "{error}");
    let extra_field = text.replacen('{', "{\n  \"surprise\": true,", 1);
    assert!(matches!(
        load(&extra_field),
        Err(ReplayFileError::Malformed { .. })
    ));
    assert!(matches!(
        ReplayFile::load(&dir.path().join("missing.json")),
        Err(ReplayFileError::Read { .. })
    ));
    // Every error is one line.
    for content in ["", "{", &future] {
        let error = load(content).unwrap_err().to_string();
        assert!(!error.contains('\n'), "{error}");
    }
}

#[test]
fn a_schedule_whose_action_is_not_enabled_does_not_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (mut file, _) = saved_failure(dir.path());
    file.actions
        .insert(0, backup_coordinator::Action::CheckpointEnd);
    assert!(file.schedule().replay().is_err());
}

/// The known findings a run went past are saved with its schedule (so that replaying goes
/// past them too, as the run did), and a name that is no property is refused.
#[test]
fn the_known_findings_a_run_went_past_round_trip_and_unknown_names_are_refused() {
    use backup_coordinator::invariants::{Property, PropertySet};
    let dir = tempfile::tempdir().unwrap();
    let (mut file, _) = saved_failure(dir.path());
    let known: PropertySet = [
        Property::UnitsReleasedOnce,
        Property::ReportedFilesSurviveOsCrash,
    ]
    .into_iter()
    .collect();
    let mut schedule = file.schedule();
    schedule.known = known;
    file = ReplayFile::new(
        Engine::Sim,
        &schedule,
        file.expect.clone(),
        file.seed,
        file.shrunk_from,
    );
    assert_eq!(
        file.known,
        vec![
            "units released exactly once".to_string(),
            "reported files survive an OS crash".to_string()
        ]
    );
    let path = file.save(&dir.path().join("known")).unwrap();
    let loaded = ReplayFile::load(&path).unwrap();
    assert_eq!(loaded.schedule().known, known);
    let text = loaded
        .to_json()
        .replace("units released exactly once", "units released once");
    match ReplayFile::parse(&path, &text) {
        Err(ReplayFileError::Malformed { message, .. }) => {
            assert!(message.contains("units released once"), "{message}")
        }
        other => panic!("accepted an unknown property name: {other:?}"),
    }
}

/// JSON spells a property one way, by its name (issue 12, item 9); the older kebab-case
/// variant names still read.
#[test]
fn properties_serialize_by_name_and_read_back() {
    for p in backup_coordinator::invariants::Property::ALL {
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, format!("\"{}\"", p.name()));
        assert_eq!(
            serde_json::from_str::<backup_coordinator::invariants::Property>(&json).unwrap(),
            p
        );
    }
    assert_eq!(
        serde_json::from_str::<backup_coordinator::invariants::Property>("\"units-released-once\"")
            .unwrap(),
        backup_coordinator::invariants::Property::UnitsReleasedOnce
    );
    assert!(
        serde_json::from_str::<backup_coordinator::invariants::Property>("\"no such property\"")
            .is_err()
    );
}

/// Issue 12, item 1: nothing the tool saved is replaced silently: the same counterexample saved
/// again is the same file; a different one under the same name gets a name of its own.
#[test]
fn a_saved_file_is_never_replaced_by_a_different_one() {
    let dir = tempfile::tempdir().unwrap();
    let (file, path) = saved_failure(dir.path());
    assert_eq!(file.save(dir.path()).unwrap(), path);
    let mut other = file.clone();
    other.actions.pop();
    let second = other.save(dir.path()).unwrap();
    assert_ne!(second, path);
    assert!(second.to_string_lossy().ends_with("-2.json"), "{second:?}");
    assert_eq!(ReplayFile::load(&path).unwrap(), file);
    assert_eq!(ReplayFile::load(&second).unwrap(), other);
}
