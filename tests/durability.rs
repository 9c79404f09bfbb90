//! What an OS crash may take (power loss: writes not fsynced, names whose directory was not
//! fsynced): per design, which of a backup's reported files the core finds at risk, and the
//! problem it names for each. The historical designs' gaps are era findings
//! (expected-findings.toml); the recommended designs leave none.

use backup_coordinator::action::{Action, Command};
use backup_coordinator::invariants::{backup_problem, check_all, Problem, Property};
use backup_coordinator::label::LabelKind;
use backup_coordinator::state::{BackupMode, Pc, SessionId};
use backup_coordinator::{Cluster, Config, Design, Variant};

/// The SQL session.
const S0: SessionId = SessionId(0);
/// The WAL sender.
const S1: SessionId = SessionId(1);

fn cluster(design: Design) -> Cluster {
    let config = Config {
        sql_sessions: 1,
        walsenders: 1,
        writers: 0,
        page_writes: 0,
        backups_per_session: 4,
        commands_per_session: 8,
        ..Config::default()
    };
    Cluster::new(Variant::of(design), config).unwrap()
}

/// Sends `command` on S0 and runs it to its end (serving checkpoint requests).
fn run(c: &mut Cluster, command: Command) {
    run_on(c, S0, command);
}

/// Sends `command` on `session` and runs it to its end (serving checkpoint requests).
fn run_on(c: &mut Cluster, session: SessionId, command: Command) {
    c.apply(Action::Begin { session, command }).unwrap();
    run_until(c, session, |c| {
        c.sessions[usize::from(session.0)].pc == Pc::Idle
    });
}

/// Steps `session` (serving checkpoint requests) until `done` holds.
fn run_until(c: &mut Cluster, session: SessionId, done: impl Fn(&Cluster) -> bool) {
    for _ in 0..100 {
        if done(c) {
            return;
        }
        let next = [
            Action::Step { session },
            Action::CheckpointBegin,
            Action::CheckpointEnd,
        ]
        .into_iter()
        .find(|a| c.is_enabled(*a))
        .expect("the session can go on");
        c.apply(next).unwrap();
    }
    panic!("{session} did not get there");
}

/// The durability problem of the one live backup, or the latched one of an ended backup.
fn durability(c: &Cluster) -> Option<Problem> {
    let property = Property::ReportedFilesSurviveOsCrash;
    match c.backups.first() {
        Some(b) => backup_problem(c, b, property),
        None => c
            .ghost
            .latched
            .iter()
            .find(|l| l.property == property)
            .map(|l| l.problem),
    }
}

fn base_backup() -> Command {
    Command::BaseBackup {
        label: LabelKind::Plain,
    }
}

fn start(mode: BackupMode) -> Command {
    Command::StartBackup {
        mode,
        label: LabelKind::Plain,
    }
}

#[test]
fn nine_six_s_backup_label_is_fsynced_but_not_its_name() {
    let mut c = cluster(Design::Pg96);
    run(&mut c, start(BackupMode::Exclusive));
    assert!(c.data_dir.backup_label.is_some());
    assert_eq!(durability(&c), Some(Problem::LabelNotDurable));
}

/// An SQL stop waits for the history file's archiving (durable in the archive); a WAL
/// sender's base backup does not wait, and 9.6 never fsyncs the file.
#[test]
fn nine_six_s_history_file_of_a_base_backup_is_never_fsynced() {
    let mut c = cluster(Design::Pg96);
    run(&mut c, start(BackupMode::NonExclusive));
    assert_eq!(durability(&c), None, "a returned label needs no file");
    run(
        &mut c,
        Command::StopBackup {
            mode: BackupMode::NonExclusive,
        },
    );
    assert_eq!(durability(&c), None, "archived before the stop returned");
    run_on(&mut c, S1, base_backup());
    assert_eq!(durability(&c), Some(Problem::HistoryNotDurable));
}

#[test]
fn nine_one_s_label_removal_is_not_made_durable() {
    let mut c = cluster(Design::Pg91);
    run(&mut c, start(BackupMode::Exclusive));
    assert_eq!(durability(&c), Some(Problem::LabelNotDurable));
    run(
        &mut c,
        Command::StopBackup {
            mode: BackupMode::Exclusive,
        },
    );
    // 9.1 fsyncs neither the history file nor the removal; the first problem named is the
    // label that an OS crash can bring back.
    assert_eq!(durability(&c), Some(Problem::LabelRemovalNotDurable));
}

#[test]
fn option_2_s_temporary_label_in_9_1_is_not_durable() {
    let mut c = cluster(Design::Pg91Option2);
    c.apply(Action::Begin {
        session: S1,
        command: base_backup(),
    })
    .unwrap();
    run_until(&mut c, S1, |c| c.sessions[1].pc == Pc::CopyFiles);
    assert!(!c.data_dir.temp_labels.is_empty());
    assert_eq!(durability(&c), Some(Problem::TempLabelNotDurable));
}

#[test]
fn the_recommended_designs_leave_no_reported_file_at_risk() {
    for design in [Design::Recommended, Design::RecommendedOption2] {
        let mut c = cluster(design);
        // (PostgreSQL 15's protocol has no exclusive backup.)
        let mode = BackupMode::NonExclusive;
        run(&mut c, start(mode));
        assert_eq!(durability(&c), None, "{design} started");
        run(&mut c, Command::StopBackup { mode });
        assert_eq!(durability(&c), None, "{design} stopped");
        run_on(&mut c, S1, base_backup());
        assert_eq!(durability(&c), None, "{design} base backup");
        assert!(check_all(&c).is_empty(), "{design}: {:?}", check_all(&c));
    }
}

/// What an OS crash reports it took: 9.6's backup_label (its name never fsynced) is one file
/// lost; a 9.1 label removed without an fsync of the directory comes back.
#[test]
fn an_os_crash_reports_the_files_it_took_and_the_label_it_brought_back() {
    use backup_coordinator::action::EventKind;
    let with_os_crash = |design: Design| {
        let mut c = cluster(design);
        c.config.os_crashes = 1;
        c
    };
    let mut c = with_os_crash(Design::Pg96);
    run(&mut c, start(BackupMode::Exclusive));
    match c.apply(Action::OsCrash).unwrap().kind {
        EventKind::PowerLost {
            files_lost,
            label_restored,
            ..
        } => {
            assert_eq!(files_lost, 1);
            assert!(!label_restored);
        }
        other => panic!("{other}"),
    }
    assert!(c.data_dir.backup_label.is_none());

    // A base backup's history file, never fsynced in 9.6: one file lost.
    let mut c = with_os_crash(Design::Pg96);
    run_on(&mut c, S1, base_backup());
    assert_eq!(c.data_dir.history.len(), 1);
    match c.apply(Action::OsCrash).unwrap().kind {
        EventKind::PowerLost { files_lost, .. } => assert_eq!(files_lost, 1),
        other => panic!("{other}"),
    }
    assert!(c.data_dir.history.is_empty());

    let mut c = with_os_crash(Design::Pg91);
    run(&mut c, start(BackupMode::Exclusive));
    run(
        &mut c,
        Command::StopBackup {
            mode: BackupMode::Exclusive,
        },
    );
    match c.apply(Action::OsCrash).unwrap().kind {
        EventKind::PowerLost { label_restored, .. } => assert!(label_restored),
        other => panic!("{other}"),
    }
}

/// An OS crash counts as lost only the files that were not durable: the recommended design's
/// history file (fsynced, name and all) and option 2's temporary label (likewise) survive, and
/// the power loss reports no file lost.
#[test]
fn an_os_crash_counts_no_durable_file_as_lost() {
    use backup_coordinator::action::EventKind;
    let with_os_crash = |design: Design| {
        let mut c = cluster(design);
        c.config.os_crashes = 1;
        c
    };
    // A finished base backup's history file, durable.
    let mut c = with_os_crash(Design::Recommended);
    run_on(&mut c, S1, base_backup());
    assert_eq!(c.data_dir.history.len(), 1);
    assert!(c.data_dir.history[0].durable);
    assert!(c.data_dir.temp_labels.is_empty());
    match c.apply(Action::OsCrash).unwrap().kind {
        EventKind::PowerLost { files_lost, .. } => assert_eq!(files_lost, 0, "history file"),
        other => panic!("{other}"),
    }

    // A base backup's temporary label under way, durable.
    let mut c = with_os_crash(Design::RecommendedOption2);
    c.apply(Action::Begin {
        session: S1,
        command: base_backup(),
    })
    .unwrap();
    run_until(&mut c, S1, |c| c.sessions[1].pc == Pc::CopyFiles);
    assert_eq!(c.data_dir.temp_labels.len(), 1);
    assert!(c.data_dir.temp_labels[0].durable);
    assert!(c.data_dir.history.is_empty());
    match c.apply(Action::OsCrash).unwrap().kind {
        EventKind::PowerLost { files_lost, .. } => assert_eq!(files_lost, 0, "temporary label"),
        other => panic!("{other}"),
    }
}

/// An OS crash keeps the backup-end records whose WAL was flushed and loses the one inserted
/// after the last flush. In 9.1 an exclusive stop's label removal is not made durable: a power
/// loss right after its end record brings the label back, and once its checkpoint's WAL is
/// recycled the restart refuses, so the WAL and the end records stay as the crash left them.
#[test]
fn an_os_crash_keeps_the_flushed_backup_end_records_and_loses_the_unflushed_one() {
    use backup_coordinator::action::EventKind;
    let mut c = cluster(Design::Pg91);
    c.config.os_crashes = 1;
    run(&mut c, start(BackupMode::Exclusive));
    // Two base backups: their checkpoints recycle the segment of the label's checkpoint.
    run_on(&mut c, S1, base_backup());
    run_on(&mut c, S1, base_backup());
    let flushed_records = c.wal.end_records.clone();
    assert!(!flushed_records.is_empty(), "the base backups' end records");
    assert!(flushed_records.iter().all(|&(at, _)| at < c.wal.flushed));
    c.apply(Action::Begin {
        session: S0,
        command: Command::StopBackup {
            mode: BackupMode::Exclusive,
        },
    })
    .unwrap();
    run_until(&mut c, S0, |c| c.sessions[0].pc == Pc::StopSwitch);
    assert_eq!(c.wal.end_records.len(), flushed_records.len() + 1);
    let (unflushed, _) = *c.wal.end_records.last().unwrap();
    assert!(
        unflushed >= c.wal.flushed,
        "the stop's end record is not flushed"
    );
    match c.apply(Action::OsCrash).unwrap().kind {
        EventKind::PowerLost {
            label_restored,
            refused,
            ..
        } => {
            assert!(label_restored);
            assert!(refused.is_some());
        }
        other => panic!("{other}"),
    }
    assert_eq!(c.wal.end_records, flushed_records);
}

/// A backup answers only for its own files: in 9.6, beside an exclusive backup whose
/// `backup_label` is not durable, a non-exclusive backup (its label returned to the caller,
/// no file of its own while it runs) has no durability problem, and the exclusive one has.
#[test]
fn a_backup_answers_only_for_its_own_files() {
    let config = Config {
        sql_sessions: 2,
        walsenders: 0,
        writers: 0,
        page_writes: 0,
        backups_per_session: 2,
        commands_per_session: 4,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg96), config).unwrap();
    let s1 = SessionId(1);
    run_on(&mut c, s1, start(BackupMode::NonExclusive));
    run(&mut c, start(BackupMode::Exclusive));
    assert!(c.data_dir.backup_label.is_some_and(|f| !f.durable));
    let problem = |mode: BackupMode| {
        let backup = c.backups.iter().find(|b| b.mode == mode).unwrap();
        backup_problem(&c, backup, Property::ReportedFilesSurviveOsCrash)
    };
    assert_eq!(
        problem(BackupMode::Exclusive),
        Some(Problem::LabelNotDurable)
    );
    assert_eq!(problem(BackupMode::NonExclusive), None);
}
