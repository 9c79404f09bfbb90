//! The threaded driver with std threads: blocking calls, a checkpointer thread, many threads at
//! once with every invariant checked at every release of the lock, and real files.

use backup_coordinator::action::StepError;
use backup_coordinator::driver::{CoordinatorOptions, OnViolation};
use backup_coordinator::invariants::Property;
use backup_coordinator::label::{BackupHistory, BackupLabel, BackupMethod, LabelKind};
use backup_coordinator::lsn::{Lsn, WalSegmentSize};
use backup_coordinator::state::{BackupMode, SessionId};
use backup_coordinator::walfile::HistoryFileName;
use backup_coordinator::{Config, Coordinator, CoordinatorError, Design, Variant};
use std::thread;

/// The properties a design is known to break in any run that stops a backup: 9.6-15 write
/// history files without fsync (and 9.6's `backup_label` without an fsync of the data
/// directory), so a file reported written is not durable (the model's era finding).
fn era_findings(design: Design) -> &'static [Property] {
    match design {
        Design::Pg96 | Design::Pg15 | Design::Pg16 => &[Property::ReportedFilesSurviveOsCrash],
        _ => &[],
    }
}

fn coordinator(design: Design, sql: u8, walsenders: u8) -> Coordinator {
    let options = CoordinatorOptions {
        on_violation: if era_findings(design).is_empty() {
            OnViolation::Panic
        } else {
            OnViolation::Record
        },
        data_dir: None,
        ..CoordinatorOptions::default()
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
        let unexpected: Vec<_> = c
            .violations()
            .into_iter()
            .filter(|v| !era_findings(design).contains(&v.property))
            .collect();
        assert_eq!(unexpected, vec![], "{design}");
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
        on_violation: OnViolation::Record,
        data_dir: Some(dir.path().to_path_buf()),
        ..CoordinatorOptions::default()
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
        // Each stop's history file, read right after that stop (the next one's
        // CleanupBackupHistory removes it once archived).
        let history_of = |start: Lsn, stop: Lsn| {
            let name = HistoryFileName::new(backup_coordinator::lsn::TimeLineId(1), start, seg);
            let text = std::fs::read_to_string(dir.path().join("pg_wal").join(name.to_string()))
                .expect("history file");
            let history = BackupHistory::parse(&text, seg).expect("history parses");
            assert_eq!((history.label.start, history.stop), (start, stop));
            assert_eq!(history.render(), text);
            name.to_string()
        };
        let streamed = c.base_backup(SessionId(1), LabelKind::Plain).unwrap();
        history_of(streamed.start, streamed.stop);
        assert!(
            dir.path().join("backup_label").exists(),
            "the streamed backup left it alone"
        );
        let stopped = c.stop_backup(SessionId(0), BackupMode::Exclusive).unwrap();
        assert!(!dir.path().join("backup_label").exists());
        let newest = history_of(started.start, stopped.stop);
        let data = backup_coordinator::datadir::DataDirectory::open(dir.path()).unwrap();
        assert_eq!(
            data.history_file_names().unwrap(),
            vec![newest],
            "the stop removed the archived history file of the one before"
        );
    });
    let unexpected: Vec<_> = c
        .violations()
        .into_iter()
        .filter(|v| !era_findings(Design::Pg96).contains(&v.property))
        .collect();
    assert_eq!(unexpected, vec![]);
}

#[test]
fn option_2_temporary_label_lives_exactly_as_long_as_its_backup() {
    let dir = tempfile::tempdir().unwrap();
    let options = CoordinatorOptions {
        on_violation: OnViolation::Panic,
        data_dir: Some(dir.path().to_path_buf()),
        ..CoordinatorOptions::default()
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
        ..CoordinatorOptions::default()
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

/// `CleanupBackupHistory` on real files agrees with the core: after every stop, `pg_wal/`
/// holds exactly the history files the core says are there (with `archive_mode` on, the
/// newest stop's, the older ones archived and removed; with it off, none), for every design.
#[test]
fn pg_wal_holds_exactly_the_history_files_the_core_keeps_there() {
    for design in Design::ALL {
        for archive_mode in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let options = CoordinatorOptions {
                on_violation: OnViolation::Record,
                data_dir: Some(dir.path().to_path_buf()),
                ..CoordinatorOptions::default()
            };
            let config = Config {
                archive_mode,
                ..Config::for_driver(1, 1, 3, 1)
            };
            let c = Coordinator::with_options(Variant::of(design), config, options).unwrap();
            let data = backup_coordinator::datadir::DataDirectory::open(dir.path()).unwrap();
            let in_pg_wal = |c: &Coordinator| -> Vec<String> {
                let state = c.snapshot();
                state
                    .data_dir
                    .history
                    .iter()
                    .filter(|h| h.in_pg_wal)
                    .map(|h| state.history_file_name(h.start).to_string())
                    .collect()
            };
            let sql_api = Variant::of(design).rules().sql_non_exclusive;
            let mut stops = 0;
            with_checkpointer(&c, || {
                for round in 0..3 {
                    if sql_api && round != 1 {
                        c.start_backup(SessionId(0), BackupMode::NonExclusive, LabelKind::Plain)
                            .unwrap();
                        c.stop_backup(SessionId(0), BackupMode::NonExclusive)
                            .unwrap();
                    } else {
                        c.base_backup(SessionId(1), LabelKind::Plain).unwrap();
                    }
                    stops += 1;
                    let on_disk = data.history_file_names().unwrap();
                    assert_eq!(
                        on_disk,
                        in_pg_wal(&c),
                        "{design}, archive_mode={archive_mode}"
                    );
                    assert_eq!(
                        on_disk.len(),
                        usize::from(archive_mode),
                        "{design}, archive_mode={archive_mode}: after stop {stops}"
                    );
                }
            });
            assert_eq!(stops, 3);
        }
    }
}

/// The real-file layer and the core agree on what each step makes durable: driven over a file
/// system that can lose power, a file survives the power loss exactly when the core's state
/// says it was made durable (for every design, at every point a label or history file exists).
#[test]
fn the_file_layer_makes_durable_exactly_what_the_core_says() {
    use backup_coordinator::datadir::{DataDirectory, PowerLossFileSystem};
    use std::sync::Arc;
    for design in Design::ALL {
        let fs = PowerLossFileSystem::new();
        let options = CoordinatorOptions {
            on_violation: OnViolation::Record,
            data_dir: Some("/pgdata".into()),
            file_system: Some(fs.clone()),
            ..CoordinatorOptions::default()
        };
        let c =
            Coordinator::with_options(Variant::of(design), Config::for_driver(1, 1, 2, 1), options)
                .unwrap();
        let exclusive = Variant::of(design).rules().has_exclusive();
        let mode = if exclusive {
            BackupMode::Exclusive
        } else {
            BackupMode::NonExclusive
        };
        let sql_api = Variant::of(design).rules().sql_non_exclusive || exclusive;
        with_checkpointer(&c, || {
            if sql_api {
                c.start_backup(SessionId(0), mode, LabelKind::Plain)
                    .unwrap();
            }
            c.base_backup(SessionId(1), LabelKind::Plain).unwrap();
        });
        let state = c.snapshot();
        let seg = state.seg();
        // What the core says is durable, file by file, before the power fails.
        let mut expected: Vec<(std::path::PathBuf, bool)> = Vec::new();
        if let Some(file) = state.data_dir.backup_label {
            expected.push(("/pgdata/backup_label".into(), file.durable));
        }
        for file in &state.data_dir.temp_labels {
            expected.push((
                std::path::Path::new("/pgdata").join(state.temp_label_name(file.start)),
                file.durable,
            ));
        }
        // A history file a stop's CleanupBackupHistory removed is left out: PostgreSQL does
        // not fsync pg_wal after the removal, and the core does not model its coming back.
        for file in state.data_dir.history.iter().filter(|h| h.in_pg_wal) {
            let name = HistoryFileName::new(state.config.timeline, file.start, seg);
            expected.push((
                std::path::Path::new("/pgdata/pg_wal").join(name.to_string()),
                file.durable,
            ));
        }
        assert!(!expected.is_empty(), "{design}: some file to check");
        fs.lose_power();
        let data = DataDirectory::open_on("/pgdata", fs.clone() as Arc<_>).unwrap();
        for (path, durable) in expected {
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let survived = data
                .list(path.parent().unwrap(), &name)
                .unwrap()
                .contains(&name)
                && fs_read_nonempty(&data, &path);
            assert_eq!(survived, durable, "{design}: {}", path.display());
        }
    }
}

/// The file at `path` reads back with some content (a file whose content was never fsynced
/// comes back empty after a power loss).
fn fs_read_nonempty(
    data: &backup_coordinator::datadir::DataDirectory,
    path: &std::path::Path,
) -> bool {
    let name = path.file_name().unwrap().to_str().unwrap();
    let text = if path.parent().unwrap().ends_with("pg_wal") {
        let seg = WalSegmentSize::DEFAULT;
        match HistoryFileName::parse(name, seg) {
            Ok(history) => data.read_history_file(&history).ok(),
            Err(_) => None,
        }
    } else if name == "backup_label" {
        data.read_backup_label().ok().flatten()
    } else {
        data.read_temp_label(name).ok()
    };
    text.is_some_and(|t| !t.is_empty())
}

/// Incremental backup's driver with std threads: a standby thread receives, replays and is
/// promoted, the summarizer runs in its own thread, and a client takes the incremental backup
/// once the promotion lets it; with the recommended rules the backup is taken and rebuilds the
/// source, and no step broke a property; with 17's released rules and the summarizer done
/// before the promotion (I1's schedule, forced by the order of the threads' work) the backup
/// uses a summary off its history (E3).
#[test]
fn incremental_driver_threads_take_the_backup_and_catch_i1() {
    use backup_coordinator::incremental::cluster::{
        IncrementalAction as A, IncrementalBackup, IncrementalConfig, IncrementalRules, Listing,
    };
    use backup_coordinator::incremental::driver::IncrementalDriver;
    let config = IncrementalConfig {
        primary_writes: 0,
        truncations: 0,
        primary_checkpoints: 2,
        standby_writes: 0,
        ..IncrementalConfig::default()
    };
    for (rules, summarize_first) in [
        (IncrementalRules::RECOMMENDED, false),
        (IncrementalRules::RECOMMENDED, true),
        (IncrementalRules::RELEASED, true),
    ] {
        let d = IncrementalDriver::new(rules, config, 1);
        for action in [A::FullBackup, A::PrimaryCheckpoint, A::PrimaryCheckpoint] {
            d.step(action).unwrap();
        }
        let summarizer = {
            let d = d.clone();
            thread::spawn(move || d.run_summarizer())
        };
        let standby = {
            let d = d.clone();
            thread::spawn(move || {
                for _ in 0..3 {
                    d.step(A::Receive).unwrap();
                }
                d.step(A::Replay).unwrap();
                if summarize_first {
                    // The summarizer reads ahead of replay: everything received.
                    while d.snapshot().summarizing.pending < d.snapshot().received {
                        thread::yield_now();
                    }
                }
                d.step(A::Promote).unwrap();
                d.feeder_done();
            })
        };
        let client = {
            let d = d.clone();
            thread::spawn(move || d.incremental_backup(Listing::Written))
        };
        standby.join().unwrap();
        let backup = client.join().unwrap().unwrap();
        d.stop_summarizer();
        summarizer.join().unwrap();
        let violations = d.violations();
        let context = format!("{rules:?}, summarizer first {summarize_first}");
        if rules == IncrementalRules::RELEASED {
            assert!(
                violations.iter().any(|(_, v)| v.property.starts_with("E3")),
                "{context}: {violations:?}"
            );
        } else {
            assert!(violations.is_empty(), "{context}: {violations:?}");
            match backup {
                IncrementalBackup::Rebuilt {
                    source, rebuilt, ..
                } => assert_eq!(source, rebuilt, "{context}"),
                other => panic!("{context}: {other:?}"),
            }
        }
    }
}
