//! Restoring a backup (I9), its history file, and the clean shutdown: hand-written schedules,
//! some with one fact of the state altered the way a defective step would alter it, each
//! showing the finding the properties make of it.

use backup_coordinator::action::{Action, Command, EventKind};
use backup_coordinator::invariants::{check_all, Problem, Property};
use backup_coordinator::label::LabelKind;
use backup_coordinator::state::{Pc, SessionId};
use backup_coordinator::variant::Bug;
use backup_coordinator::{Cluster, Config, Design, Variant};

const S0: SessionId = SessionId(0);
const S1: SessionId = SessionId(1);

fn base_backup() -> Command {
    Command::BaseBackup {
        label: LabelKind::Plain,
    }
}

fn cluster(variant: Variant, walsenders: u8, extra: impl FnOnce(&mut Config)) -> Cluster {
    let mut config = Config {
        sql_sessions: 0,
        walsenders,
        writers: 0,
        page_writes: 0,
        ..Config::default()
    };
    extra(&mut config);
    Cluster::new(variant, config).unwrap()
}

fn apply(c: &mut Cluster, action: Action) -> EventKind {
    c.apply(action).unwrap_or_else(|e| panic!("{e}")).kind
}

/// Steps `session` (serving its checkpoint requests) until its next step is `pc`.
fn run_to(c: &mut Cluster, session: SessionId, pc: Pc) {
    run_until(c, session, |c| c.sessions[usize::from(session.0)].pc == pc);
}

/// Steps `session` (serving its checkpoint requests) until `done` holds.
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
        .unwrap_or_else(|| panic!("{session} is stuck"));
        apply(c, next);
    }
    panic!("{session} never got there");
}

fn violated(c: &Cluster) -> Vec<Property> {
    check_all(c).iter().map(|v| v.property).collect()
}

fn problem(c: &Cluster, property: Property) -> Option<Problem> {
    c.ghost
        .latched
        .iter()
        .find(|l| l.property == property)
        .map(|l| l.problem)
}

#[test]
fn a_stopped_backup_restores_to_consistency_at_its_own_end_record() {
    let mut c = cluster(Variant::of(Design::Recommended), 1, |_| {});
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    run_to(&mut c, S0, Pc::Idle);
    assert!(violated(&c).is_empty(), "{:?}", check_all(&c));
}

#[test]
fn an_end_record_carrying_another_start_point_leaves_the_restore_never_consistent() {
    let mut c = cluster(Variant::of(Design::Pg15), 1, |_| {});
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    run_to(&mut c, S0, Pc::StopSwitch);
    // What a stop that wrote the wrong LSN into its record leaves in WAL.
    let (at, start) = c.wal.end_records[0];
    c.wal.end_records[0] = (at, backup_coordinator::lsn::Lsn(start.0 + 8));
    run_to(&mut c, S0, Pc::Idle);
    assert!(violated(&c).contains(&Property::RestoreReachesConsistency));
    assert_eq!(
        problem(&c, Property::RestoreReachesConsistency),
        Some(Problem::NeverConsistent)
    );
}

#[test]
fn an_end_record_written_before_the_copy_ended_declares_the_restore_consistent_too_early() {
    let mut c = cluster(Variant::of(Design::Pg15), 2, |_| {});
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    run_to(&mut c, S0, Pc::CopyFiles);
    // Another stop writes a backup-end record carrying S0's start point while S0 still copies
    // (the wrong start point in S1's record, as a defective stop would write it).
    let start = c.sessions[0].start;
    let at = c.shared.insert;
    c.wal.end_records.push((at, start));
    c.shared.insert = backup_coordinator::lsn::Lsn(at.0 + 40);
    // Any step (here S1's start) sees the record while S0's copy is not over.
    apply(
        &mut c,
        Action::Begin {
            session: S1,
            command: base_backup(),
        },
    );
    run_to(&mut c, S0, Pc::Idle);
    assert_eq!(
        problem(&c, Property::RestoreReachesConsistency),
        Some(Problem::ConsistentTooEarly)
    );
}

#[test]
fn a_history_file_with_the_wrong_stop_point_does_not_describe_its_backup() {
    let mut c = cluster(Variant::of(Design::Pg15), 1, |_| {});
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    run_to(&mut c, S0, Pc::StopWriteHistory);
    // The stop point a defective stop would keep: the start of its record, not its end.
    let record_start = c.wal.end_records[0].0;
    c.sessions[0].stop = record_start;
    run_to(&mut c, S0, Pc::Idle);
    assert_eq!(
        problem(&c, Property::HistoryFileDescribesBackup),
        Some(Problem::HistoryStop)
    );
}

/// 16 names the history file's stop WAL file by the segment holding the stop point
/// (`XLByteToSeg`), 15 by the one holding the end record's last byte: at a segment boundary
/// 16's file does not hold the record (PROTOCOL.md §4.2).
#[test]
fn sixteen_names_a_stop_file_that_does_not_hold_the_end_record_at_a_segment_boundary() {
    let outcome = |design: Design| {
        let mut c = cluster(Variant::of(design), 1, |config| config.wal_fills = 1);
        apply(
            &mut c,
            Action::Begin {
                session: S0,
                command: base_backup(),
            },
        );
        run_to(&mut c, S0, Pc::StopEndRecord);
        apply(&mut c, Action::WalFill);
        run_to(&mut c, S0, Pc::Idle);
        let seg = c.seg();
        let (at, _) = c.wal.end_records[0];
        let (record, _) = backup_coordinator::lsn::insert_record(
            seg,
            at,
            backup_coordinator::lsn::record_bytes::BACKUP_END,
        );
        assert_eq!(seg.offset_in_segment(record.end), 0, "ends on the boundary");
        let reported = check_all(&c)
            .iter()
            .any(|v| v.property == Property::HistoryFileDescribesBackup);
        let found = problem(&c, Property::HistoryFileDescribesBackup);
        assert_eq!(
            reported,
            found.is_some(),
            "{design}: the property reports the problem"
        );
        found
    };
    assert_eq!(outcome(Design::Pg16), Some(Problem::HistoryStopFile));
    assert_eq!(outcome(Design::Pg15), None);
}

/// B13: before `8f5d65e916` the shutdown checkpoint did not wait for WAL senders running a
/// base backup, so a stop could write its end record after it; the restart overwrites it.
#[test]
fn an_end_record_after_the_shutdown_checkpoint_is_overwritten_by_the_restart() {
    let run = |variant: Variant| {
        // archive_mode off: 9.6's history file (never fsynced) is removed at once, so its
        // durability is not in question here.
        let mut c = cluster(variant, 1, |config| {
            config.shutdowns = 1;
            config.archive_mode = false;
        });
        apply(
            &mut c,
            Action::Begin {
                session: S0,
                command: base_backup(),
            },
        );
        run_to(&mut c, S0, Pc::StopDecrement);
        apply(&mut c, Action::Shutdown);
        let checkpointed = c.is_enabled(Action::ShutdownCheckpoint);
        if checkpointed {
            apply(&mut c, Action::ShutdownCheckpoint);
        }
        (c, checkpointed)
    };
    let (mut flawed, checkpointed) = run(Variant::bug(Bug::B13));
    assert!(checkpointed, "B13 writes the shutdown checkpoint at once");
    run_to(&mut flawed, S0, Pc::Idle);
    assert_eq!(
        problem(&flawed, Property::RestoreReachesConsistency),
        Some(Problem::EndRecordDiscarded)
    );
    apply(&mut flawed, Action::Restart);
    assert!(
        flawed.wal.end_records.is_empty(),
        "the restart overwrote it"
    );

    let (mut fixed, checkpointed) = run(Variant::of(Design::Pg96));
    assert!(!checkpointed, "the fixed design waits for the WAL sender");
    assert!(
        fixed.is_enabled(Action::Terminate { session: S0 }) || fixed.sessions[0].pc != Pc::Idle
    );
    run_to(&mut fixed, S0, Pc::Idle);
    apply(&mut fixed, Action::ShutdownCheckpoint);
    apply(&mut fixed, Action::Restart);
    assert!(violated(&fixed).is_empty(), "{:?}", check_all(&fixed));
}

/// A stop that reports success before its backup-end record is flushed (as one that skipped
/// its WAL switch would): an OS crash may lose the record, and the restore is never
/// consistent.
#[test]
fn an_end_record_not_flushed_when_the_stop_returns_is_a_restore_finding() {
    let mut c = cluster(Variant::of(Design::Recommended), 1, |_| {});
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    run_to(&mut c, S0, Pc::StopWriteHistory);
    // Where the flush position stands if nothing flushed the end record.
    c.wal.flushed = c.wal.end_records[0].0;
    run_to(&mut c, S0, Pc::Idle);
    assert_eq!(
        problem(&c, Property::RestoreReachesConsistency),
        Some(Problem::EndRecordNotFlushed)
    );
    // An OS crash then takes the record with it.
    let mut crashed = c.clone();
    crashed.config.os_crashes = 1;
    apply(&mut crashed, Action::OsCrash);
    assert!(crashed.wal.end_records.is_empty());
}

fn standby(walsenders: u8, faults: u32) -> Cluster {
    cluster(Variant::of(Design::Pg15), walsenders, |c| {
        c.standby = true;
        c.full_page_writes = true;
        c.timeline = backup_coordinator::lsn::TimeLineId(2);
        c.faults = faults;
    })
}

#[test]
fn a_standby_backup_restores_to_consistency_at_its_stop_point_and_a_failed_one_is_never_restored() {
    // Stopped: consistent at minRecoveryPoint, the stop point its stop returned.
    let mut c = standby(1, 0);
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    run_to(&mut c, S0, Pc::Idle);
    assert!(violated(&c).is_empty(), "{:?}", check_all(&c));
    // Aborted mid-copy: no stop point, and none needed (nobody restores it).
    let mut c = standby(1, 1);
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    run_to(&mut c, S0, Pc::CopyFiles);
    apply(
        &mut c,
        Action::Fault {
            session: S0,
            fault: backup_coordinator::Fault::Disconnect,
        },
    );
    for _ in 0..20 {
        if c.is_enabled(Action::Step { session: S0 }) {
            apply(&mut c, Action::Step { session: S0 });
        }
    }
    assert!(c.backups.is_empty(), "the aborted backup is retired");
    assert!(violated(&c).is_empty(), "{:?}", check_all(&c));
    assert_eq!(problem(&c, Property::RestoreReachesConsistency), None);
}

#[test]
fn a_standby_backup_whose_stop_point_precedes_its_copy_is_consistent_too_early() {
    let mut c = standby(1, 0);
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    run_to(&mut c, S0, Pc::CopyFiles);
    apply(&mut c, Action::Step { session: S0 });
    // The copy is over; a defective stop that took minRecoveryPoint from before the copy's
    // end would leave the replay position after the stop point it returns.
    let b = &mut c.backups[0];
    assert!(b.copy_over, "the copy is over after its step");
    b.copied_to = backup_coordinator::lsn::Lsn(u64::MAX / 2);
    run_to(&mut c, S0, Pc::Idle);
    assert_eq!(
        problem(&c, Property::RestoreReachesConsistency),
        Some(Problem::ConsistentTooEarly)
    );
}

/// The postmaster's SIGTERM (Terminate) exists only in a fast shutdown: a WAL sender copying
/// files is not terminated before the shutdown begins, and is once it has.
#[test]
fn only_a_fast_shutdown_terminates_a_session() {
    let mut c = cluster(Variant::of(Design::Pg96), 1, |config| config.shutdowns = 1);
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    run_to(&mut c, S0, Pc::CopyFiles);
    assert!(!c.is_enabled(Action::Terminate { session: S0 }));
    assert!(!c.actions().contains(&Action::Terminate { session: S0 }));
    apply(&mut c, Action::Shutdown);
    assert!(c.is_enabled(Action::Terminate { session: S0 }));
    assert!(c.actions().contains(&Action::Terminate { session: S0 }));
}

/// A configuration's budget of fast shutdowns is exactly what it says: with two, the server
/// can be shut down and started again twice, and not a third time.
#[test]
fn the_shutdown_budget_allows_exactly_its_number_of_shutdowns() {
    let mut c = cluster(Variant::of(Design::Pg15), 1, |config| config.shutdowns = 2);
    for round in 0..2 {
        assert!(c.is_enabled(Action::Shutdown), "shutdown {round}");
        apply(&mut c, Action::Shutdown);
        apply(&mut c, Action::ShutdownCheckpoint);
        apply(&mut c, Action::Restart);
    }
    assert!(!c.is_enabled(Action::Shutdown));
    assert!(!c.actions().contains(&Action::Shutdown));
}

/// An OS crash keeps WAL up to the flush point and nothing after it: a backup-end record
/// inserted at the flush point but not yet flushed is lost, and the restore of its backup
/// could never be declared consistent.
#[test]
fn an_os_crash_loses_a_backup_end_record_inserted_at_the_flush_point() {
    let mut c = cluster(Variant::of(Design::Pg15), 1, |config| config.os_crashes = 1);
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    // Step until the end record is in WAL, before anything flushes it.
    run_until(&mut c, S0, |c| !c.wal.end_records.is_empty());
    let (at, _) = c.wal.end_records[0];
    assert!(c.wal.flushed <= at, "not flushed yet");
    // Where the record starts exactly at the flush point (the WAL before it flushed).
    c.wal.flushed = at;
    apply(&mut c, Action::OsCrash);
    assert!(c.wal.end_records.is_empty(), "{:?}", c.wal.end_records);
}

/// I9's flush condition at its boundary: a backup-end record flushed exactly to its end is
/// durable; one byte short, it is not.
#[test]
fn an_end_record_flushed_exactly_to_its_end_is_durable_and_one_byte_short_is_not() {
    use backup_coordinator::invariants::{backup_problem, consistency_record};
    use backup_coordinator::state::BackupPhase;
    let mut c = cluster(Variant::of(Design::Pg15), 1, |_| {});
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    run_until(&mut c, S0, |c| !c.wal.end_records.is_empty());
    // The backup as it will be once stopped.
    let mut stopped = c.backups[0];
    stopped.phase = BackupPhase::Stopped;
    let record = consistency_record(&c, stopped.start).expect("its end record");
    let property = Property::RestoreReachesConsistency;
    c.wal.flushed = record.end;
    assert_eq!(backup_problem(&c, &stopped, property), None);
    c.wal.flushed = backup_coordinator::lsn::Lsn(record.end.0 - 1);
    assert_eq!(
        backup_problem(&c, &stopped, property),
        Some(Problem::EndRecordNotFlushed)
    );
}

/// Recovery starts from the label's checkpoint and replays from its redo pointer: a start point
/// that is not the redo pointer of the checkpoint the label names (as a start that took the
/// checkpoint's own location would leave) breaks I8; every design's labels state their
/// backup's facts as recovery reads them.
#[test]
fn a_start_point_must_be_the_redo_pointer_of_the_checkpoint_its_label_names() {
    use backup_coordinator::invariants::label_misstates;
    for design in Design::ALL {
        let mut c = cluster(Variant::of(design), 1, |_| {});
        apply(
            &mut c,
            Action::Begin {
                session: S0,
                command: base_backup(),
            },
        );
        run_to(&mut c, S0, Pc::CopyFiles);
        let id = c.backups[0].id;
        assert!(c.backups[0].label_handed_out, "{design}");
        assert!(!label_misstates(&c, id), "{design}");
        assert!(!c.backups[0].label_misstates, "{design}");
        assert!(
            !violated(&c).contains(&Property::StartPointIsRealWal),
            "{design}"
        );
        // The checkpoint's own location taken as the start point.
        c.backups[0].start = c.backups[0].checkpoint;
        assert!(
            violated(&c).contains(&Property::StartPointIsRealWal),
            "{design}"
        );
    }
}

/// The stop point a stop returns is where the client's WAL must reach (pg_basebackup fetches
/// WAL up to it): one short of the end of the backup's end record leaves a restore that never
/// reaches its consistency point.
#[test]
fn a_stop_point_returned_short_of_the_end_record_is_a_restore_finding() {
    let mut c = cluster(Variant::of(Design::Pg15), 1, |_| {});
    apply(
        &mut c,
        Action::Begin {
            session: S0,
            command: base_backup(),
        },
    );
    run_to(&mut c, S0, Pc::StopSwitch);
    // What a stop that returned the record's start instead of its end would report.
    let (at, _) = c.wal.end_records[0];
    c.sessions[0].stop = at;
    run_to(&mut c, S0, Pc::Idle);
    assert_eq!(
        problem(&c, Property::RestoreReachesConsistency),
        Some(Problem::StopPointNotItsEnd)
    );
}
