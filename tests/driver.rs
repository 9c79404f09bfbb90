//! The threaded driver with std threads: blocking calls, a checkpointer thread, many threads at
//! once with every invariant checked at every release of the lock, and real files.

use backup_coordinator::action::StepError;
use backup_coordinator::driver::{CoordinatorOptions, OnViolation};
use backup_coordinator::label::{BackupHistory, BackupLabel, BackupMethod, LabelKind};
use backup_coordinator::lsn::WalSegmentSize;
use backup_coordinator::state::{BackupMode, SessionId};
use backup_coordinator::walfile::HistoryFileName;
use backup_coordinator::{Config, Coordinator, CoordinatorError, Design, Variant};
use std::thread;

fn coordinator(design: Design, sql: u8, walsenders: u8) -> Coordinator {
    let options = CoordinatorOptions {
        on_violation: OnViolation::Panic,
        data_dir: None,
    };
    Coordinator::with_options(
        Variant::of(design),
        Config::for_driver(sql, walsenders, 4, 2),
        options,
    )
    .unwrap()
}

/// Runs `body` with a checkpointer thread, then shuts it down.
fn with_checkpointer<T>(coordinator: &Coordinator, body: impl FnOnce() -> T) -> T {
    let checkpointer = {
        let c = coordinator.clone();
        thread::spawn(move || c.run_checkpointer())
    };
    let result = body();
    coordinator.shutdown();
    checkpointer.join().expect("checkpointer thread");
    result
}

#[test]
fn blocking_start_and_stop_return_the_start_and_stop_points() {
    let c = coordinator(Design::Recommended, 1, 1);
    with_checkpointer(&c, || {
        let started = c
            .start_backup(SessionId(0), BackupMode::NonExclusive, LabelKind::Plain)
            .unwrap();
        let streamed = c.base_backup(SessionId(1), LabelKind::Plain).unwrap();
        assert_ne!(Some(started.backup), streamed.backup);
        assert!(streamed.start > started.start);
        let stopped = c
            .stop_backup(SessionId(0), BackupMode::NonExclusive)
            .unwrap();
        assert_eq!(stopped.start, started.start);
        assert!(stopped.stop > streamed.stop);
    });
    let state = c.snapshot();
    assert_eq!(state.shared.backups, 0);
    assert!(
        state.backups.is_empty(),
        "every backup ended and was retired"
    );
    assert_eq!(c.violations(), vec![]);
}

#[test]
fn session_rules_give_postgres_errors() {
    let c = coordinator(Design::Pg15, 1, 0);
    with_checkpointer(&c, || {
        let stop = c.stop_backup(SessionId(0), BackupMode::NonExclusive);
        assert!(
            matches!(
                stop,
                Err(CoordinatorError::Backup(StepError::NotInProgress))
            ),
            "{stop:?}"
        );
        c.start_backup(SessionId(0), BackupMode::NonExclusive, LabelKind::Plain)
            .unwrap();
        let again = c.start_backup(SessionId(0), BackupMode::NonExclusive, LabelKind::Plain);
        assert!(
            matches!(
                again,
                Err(CoordinatorError::Backup(
                    StepError::BackupInProgressInSession
                ))
            ),
            "{again:?}"
        );
        let exclusive = c.start_backup(SessionId(0), BackupMode::Exclusive, LabelKind::Plain);
        assert!(
            matches!(exclusive, Err(CoordinatorError::NotAvailable { .. })),
            "{exclusive:?}"
        );
        c.stop_backup(SessionId(0), BackupMode::NonExclusive)
            .unwrap();
    });
}

#[test]
fn abort_backup_releases_the_sessions_unit() {
    let c = coordinator(Design::Recommended, 2, 0);
    with_checkpointer(&c, || {
        c.start_backup(SessionId(0), BackupMode::NonExclusive, LabelKind::Plain)
            .unwrap();
        c.start_backup(SessionId(1), BackupMode::NonExclusive, LabelKind::Plain)
            .unwrap();
        assert!(c.abort_backup(SessionId(0)).unwrap());
        assert_eq!(c.snapshot().shared.backups, 1);
        assert!(c.snapshot().shared.force_page_writes);
        c.stop_backup(SessionId(1), BackupMode::NonExclusive)
            .unwrap();
        assert!(!c.snapshot().shared.force_page_writes);
        assert!(!c.abort_backup(SessionId(1)).unwrap() || c.snapshot().shared.backups == 0);
    });
    assert_eq!(c.violations(), vec![]);
}

#[test]
fn many_threads_at_once_keep_every_invariant_at_every_release_of_the_lock() {
    for design in [
        Design::Recommended,
        Design::RecommendedOption2,
        Design::Pg15,
        Design::Pg96,
    ] {
        let (sql, walsenders) = (4u8, 4u8);
        let c = coordinator(design, sql, walsenders);
        let rounds = 15;
        let stopped = with_checkpointer(&c, || {
            let mut threads = Vec::new();
            for s in 0..sql {
                let c = c.clone();
                threads.push(thread::spawn(move || {
                    let mut stopped = Vec::new();
                    for round in 0..rounds {
                        let session = SessionId(s);
                        c.start_backup(session, BackupMode::NonExclusive, LabelKind::Plain)
                            .unwrap();
                        if round % 5 == 4 {
                            assert!(c.abort_backup(session).unwrap());
                        } else {
                            stopped.push(c.stop_backup(session, BackupMode::NonExclusive).unwrap());
                        }
                    }
                    stopped
                }));
            }
            for w in 0..walsenders {
                let c = c.clone();
                threads.push(thread::spawn(move || {
                    (0..rounds)
                        .map(|_| c.base_backup(SessionId(sql + w), LabelKind::Plain).unwrap())
                        .collect()
                }));
            }
            for writer in 0..2u8 {
                let c = c.clone();
                threads.push(thread::spawn(move || {
                    for i in 0..200u32 {
                        c.write_page(writer, (i % 2) as u8 + 2 * writer).unwrap();
                    }
                    Vec::new()
                }));
            }
            threads
                .into_iter()
                .flat_map(|t| t.join().expect("worker thread"))
                .collect::<Vec<_>>()
        });
        let state = c.snapshot();
        assert_eq!(c.violations(), vec![], "{design}");
        assert_eq!(state.shared.backups, 0, "{design}");
        assert!(!state.shared.force_page_writes, "{design}");
        let expected = usize::from(sql) * (rounds - rounds / 5) + usize::from(walsenders) * rounds;
        assert_eq!(stopped.len(), expected, "{design}");
        assert!(state.backups.is_empty(), "{design}: every backup ended");
        let mut starts: Vec<_> = stopped.iter().map(|b| b.start).collect();
        starts.sort();
        starts.dedup();
        assert_eq!(
            starts.len(),
            stopped.len(),
            "{design}: start points are unique"
        );
    }
}

#[test]
fn exclusive_backup_writes_and_removes_a_real_backup_label() {
    let dir = tempfile::tempdir().unwrap();
    let options = CoordinatorOptions {
        on_violation: OnViolation::Panic,
        data_dir: Some(dir.path().to_path_buf()),
    };
    let c = Coordinator::with_options(
        Variant::of(Design::Pg96),
        Config::for_driver(1, 1, 2, 1),
        options,
    )
    .unwrap();
    let seg = WalSegmentSize::DEFAULT;
    with_checkpointer(&c, || {
        let started = c
            .start_backup(SessionId(0), BackupMode::Exclusive, LabelKind::Plain)
            .unwrap();
        let text =
            std::fs::read_to_string(dir.path().join("backup_label")).expect("backup_label on disk");
        let label = BackupLabel::parse(&text, seg).expect("it parses");
        assert_eq!(label.start, started.start);
        assert_eq!(label.method, Some(BackupMethod::PgStartBackup));
        assert_eq!(label.render(), text);
        assert_eq!(Some(label), c.label_of(started.backup));
        let streamed = c.base_backup(SessionId(1), LabelKind::Plain).unwrap();
        assert!(
            dir.path().join("backup_label").exists(),
            "the streamed backup left it alone"
        );
        let stopped = c.stop_backup(SessionId(0), BackupMode::Exclusive).unwrap();
        assert!(!dir.path().join("backup_label").exists());
        for (start, stop) in [
            (started.start, stopped.stop),
            (streamed.start, streamed.stop),
        ] {
            let name = HistoryFileName::new(backup_coordinator::lsn::TimeLineId(1), start, seg);
            let text = std::fs::read_to_string(dir.path().join("pg_wal").join(name.to_string()))
                .expect("history file");
            let history = BackupHistory::parse(&text, seg).expect("history parses");
            assert_eq!((history.label.start, history.stop), (start, stop));
            assert_eq!(history.render(), text);
        }
    });
}

#[test]
fn option_2_temporary_label_lives_exactly_as_long_as_its_backup() {
    let dir = tempfile::tempdir().unwrap();
    let options = CoordinatorOptions {
        on_violation: OnViolation::Panic,
        data_dir: Some(dir.path().to_path_buf()),
    };
    let c = Coordinator::with_options(
        Variant::of(Design::RecommendedOption2),
        Config::for_driver(1, 0, 2, 1),
        options,
    )
    .unwrap();
    with_checkpointer(&c, || {
        let started = c
            .start_backup(SessionId(0), BackupMode::NonExclusive, LabelKind::Plain)
            .unwrap();
        let name = c.snapshot().temp_label_name(started.start);
        assert!(name.starts_with("pgsql_tmp.backup_label."));
        let text =
            std::fs::read_to_string(dir.path().join(&name)).expect("temporary label on disk");
        assert_eq!(
            BackupLabel::parse(&text, WalSegmentSize::DEFAULT)
                .unwrap()
                .start,
            started.start
        );
        c.stop_backup(SessionId(0), BackupMode::NonExclusive)
            .unwrap();
        assert!(!dir.path().join(&name).exists());
    });
}

#[test]
fn a_file_in_the_way_is_an_error_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("backup_label"), "someone else's\n").unwrap();
    let options = CoordinatorOptions {
        on_violation: OnViolation::Record,
        data_dir: Some(dir.path().to_path_buf()),
    };
    let c = Coordinator::with_options(
        Variant::of(Design::Pg96),
        Config::for_driver(1, 0, 1, 1),
        options,
    )
    .unwrap();
    with_checkpointer(&c, || {
        let start = c.start_backup(SessionId(0), BackupMode::Exclusive, LabelKind::Plain);
        assert!(
            matches!(start, Err(CoordinatorError::Backup(StepError::Io(_)))),
            "{start:?}"
        );
    });
    assert_eq!(
        std::fs::read_to_string(dir.path().join("backup_label")).unwrap(),
        "someone else's\n"
    );
    let state = c.snapshot();
    assert_eq!(state.shared.backups, 0);
    assert!(
        !state.shared.force_page_writes,
        "the start's cleanup undid its increment"
    );
    assert_eq!(c.violations(), vec![]);
}
