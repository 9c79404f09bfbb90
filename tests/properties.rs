//! The property catalogue itself: names that reports, replay files and the known-findings
//! file key on, property sets (known findings), and `check_except`, which skips exactly the
//! properties it is given.

use backup_coordinator::invariants::{check_all, check_except, Property, PropertySet};
use backup_coordinator::{Cluster, Config, Design, Variant};
use std::collections::BTreeSet;

#[test]
fn property_names_are_distinct_words() {
    let names: BTreeSet<&str> = Property::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(
        names.len(),
        Property::ALL.len(),
        "two properties share a name"
    );
    for p in Property::ALL {
        let name = p.name();
        assert!(name.len() >= 5, "{p:?}: {name:?}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '-')),
            "{p:?}: {name:?}"
        );
        assert_eq!(p.to_string(), name);
    }
}

#[test]
fn a_property_set_holds_exactly_what_was_inserted() {
    assert!(PropertySet::EMPTY.is_empty());
    assert_eq!(PropertySet::EMPTY.iter().count(), 0);
    for (i, &p) in Property::ALL.iter().enumerate() {
        let mut set = PropertySet::EMPTY;
        set.insert(p);
        assert!(!set.is_empty());
        assert!(set.contains(p));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![p]);
        let others: PropertySet = Property::ALL
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, &q)| q)
            .collect();
        assert!(!others.contains(p));
        assert_eq!(others.iter().count(), Property::ALL.len() - 1);
    }
    let all: PropertySet = Property::ALL.into_iter().collect();
    assert_eq!(all.iter().collect::<Vec<_>>(), Property::ALL.to_vec());
}

/// 9.1's first flaw (B5's shape: a stop clears forcing under a running exclusive backup)
/// breaks "page writes forced" and more; `check_except` reports the first violation outside
/// the set it is given, and nothing once every violated property is skipped.
#[test]
fn check_except_skips_exactly_the_properties_it_is_given() {
    let config = Config {
        sql_sessions: 2,
        walsenders: 0,
        writers: 0,
        page_writes: 0,
        ..Config::default()
    };
    let init = Cluster::new(Variant::of(Design::Pg91), config).unwrap();
    // Breadth first to the first state that violates two properties or more.
    let mut queue = std::collections::VecDeque::from([init.clone()]);
    let mut seen = std::collections::HashSet::from([init]);
    let broken = loop {
        let state = queue
            .pop_front()
            .expect("pg91 breaks two properties at once");
        if check_all(&state).len() >= 2 {
            break state;
        }
        for action in state.actions() {
            if let Some(next) = state.successor(action) {
                if seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
    };
    let violated: Vec<Property> = check_all(&broken).iter().map(|v| v.property).collect();
    assert_eq!(
        check_except(&broken, PropertySet::EMPTY)
            .unwrap_err()
            .property,
        violated[0]
    );
    let first: PropertySet = [violated[0]].into_iter().collect();
    assert_eq!(
        check_except(&broken, first).unwrap_err().property,
        violated[1]
    );
    let every: PropertySet = violated.iter().copied().collect();
    assert!(check_except(&broken, every).is_ok());
}

/// A decrement without a held unit is found by the check after a step though no backup has a
/// per-backup finding (the one-pass answer of the per-backup invariants must not cover it).
#[test]
fn a_spurious_release_is_found_beside_backups_without_findings() {
    let mut cluster = Cluster::new(Variant::default(), Config::default()).unwrap();
    assert!(check_except(&cluster, PropertySet::EMPTY).is_ok());
    cluster.ghost.spurious_release = Some(backup_coordinator::state::SessionId(0));
    assert_eq!(
        check_except(&cluster, PropertySet::EMPTY)
            .unwrap_err()
            .property,
        Property::UnitsReleasedOnce
    );
}

/// `settled` (the liveness phase's end condition): a fresh cluster is settled; a session in
/// the middle of a backup is not, and the sentence names it; a server shut down and not
/// started again is not; once the backup stopped and the server restarted, it is again.
#[test]
fn settled_names_what_is_left_and_holds_once_everything_ended() {
    use backup_coordinator::action::{Action, Command};
    use backup_coordinator::invariants::settled;
    use backup_coordinator::label::LabelKind;
    use backup_coordinator::state::{Pc, SessionId};
    let config = Config {
        sql_sessions: 0,
        walsenders: 2,
        writers: 0,
        page_writes: 0,
        shutdowns: 1,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    assert!(settled(&c).is_ok());
    let s1 = SessionId(1);
    c.apply(Action::Begin {
        session: s1,
        command: Command::BaseBackup {
            label: LabelKind::Plain,
        },
    })
    .unwrap();
    let busy = settled(&c).unwrap_err();
    assert_eq!(busy.sessions, vec![s1]);
    assert!(busy.detail.contains(&s1.to_string()), "{}", busy.detail);
    let step = |c: &mut Cluster| {
        let next = [
            Action::Step { session: s1 },
            Action::CheckpointBegin,
            Action::CheckpointEnd,
        ]
        .into_iter()
        .find(|a| c.is_enabled(*a))
        .expect("S1 can go on");
        c.apply(next).unwrap();
    };
    while c.sessions[1].pc != Pc::Idle {
        step(&mut c);
    }
    assert!(settled(&c).is_ok(), "{:?}", settled(&c));
    c.apply(Action::Shutdown).unwrap();
    c.apply(Action::ShutdownCheckpoint).unwrap();
    let down = settled(&c).unwrap_err();
    assert!(
        down.detail.contains("never started again"),
        "{}",
        down.detail
    );
    c.apply(Action::Restart).unwrap();
    assert!(settled(&c).is_ok(), "{:?}", settled(&c));
}

/// A reviewer's diagram stays short: a run of one actor's identical steps (a client sending a
/// stop the server refuses, again and again) is drawn once with a note of how many follow,
/// while the text trace keeps every step.
#[test]
fn the_mermaid_diagram_collapses_runs_of_identical_steps() {
    use backup_coordinator::action::{Action, Command};
    use backup_coordinator::state::{BackupMode, SessionId};
    use backup_coordinator::trace::Trace;
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        writers: 0,
        page_writes: 0,
        commands_per_session: 6,
        ..Config::default()
    };
    let stop = Action::Begin {
        session: SessionId(0),
        command: Command::StopBackup {
            mode: BackupMode::NonExclusive,
        },
    };
    let trace = Trace::replay(Variant::of(Design::Pg15), config, &[stop; 6]).unwrap();
    assert_eq!(trace.render_text().matches("command.rejected").count(), 6);
    let mermaid = trace.render_mermaid();
    assert_eq!(mermaid.matches("command.rejected").count(), 2, "{mermaid}");
    assert!(
        mermaid.contains("5 more command.rejected steps like it, 2 to 6"),
        "{mermaid}"
    );
}

/// With hostile labels, a `replication=database` session is offered every SQL command and
/// BASE_BACKUP with every label kind.
#[test]
fn a_replication_session_is_offered_every_command_with_every_label_kind() {
    use backup_coordinator::action::{Action, Command};
    use backup_coordinator::label::LabelKind;
    use backup_coordinator::state::{BackupMode, SessionId};
    let config = Config {
        sql_sessions: 0,
        walsenders: 0,
        replication_sessions: 1,
        writers: 0,
        page_writes: 0,
        hostile_labels: true,
        ..Config::default()
    };
    let c = Cluster::new(Variant::of(Design::Recommended), config).unwrap();
    let offered = c.actions();
    for label in LabelKind::ALL {
        for command in [
            Command::StartBackup {
                mode: BackupMode::NonExclusive,
                label,
            },
            Command::BaseBackup { label },
        ] {
            let begin = Action::Begin {
                session: SessionId(0),
                command,
            };
            assert!(
                offered.contains(&begin),
                "{command} not offered: {offered:?}"
            );
        }
    }
}

/// Drives `session` (serving checkpoints) until its next step is `pc`.
/// A cluster of `sql` SQL sessions and `walsenders` WAL senders, with no page writer.
fn quiet_cluster(design: Design, sql: u8, walsenders: u8) -> Cluster {
    let config = Config {
        sql_sessions: sql,
        walsenders,
        writers: 0,
        page_writes: 0,
        ..Config::default()
    };
    Cluster::new(Variant::of(design), config).unwrap()
}

/// Begins `command` in session `session` (it must be enabled).
fn begin(c: &mut Cluster, session: u8, command: backup_coordinator::action::Command) {
    c.apply(backup_coordinator::action::Action::Begin {
        session: backup_coordinator::state::SessionId(session),
        command,
    })
    .unwrap();
}

/// `pg_backup_start` (or 9.6-14's non-exclusive `pg_start_backup`) with a plain label.
fn non_exclusive_start() -> backup_coordinator::action::Command {
    backup_coordinator::action::Command::StartBackup {
        mode: backup_coordinator::state::BackupMode::NonExclusive,
        label: backup_coordinator::label::LabelKind::Plain,
    }
}

fn drive_to(c: &mut Cluster, session: u8, pc: backup_coordinator::state::Pc) {
    use backup_coordinator::action::Action;
    use backup_coordinator::state::SessionId;
    let s = SessionId(session);
    for _ in 0..100 {
        if c.sessions[usize::from(session)].pc == pc {
            return;
        }
        let next = [
            Action::Step { session: s },
            Action::CheckpointBegin,
            Action::CheckpointEnd,
        ]
        .into_iter()
        .find(|a| c.is_enabled(*a))
        .unwrap_or_else(|| {
            panic!(
                "S{session} at {:?} cannot move towards {pc:?}: {:?}",
                c.sessions[usize::from(session)].pc,
                c.sessions.iter().map(|s| s.pc).collect::<Vec<_>>()
            )
        });
        c.apply(next).unwrap();
    }
    panic!("S{session} never reached {pc:?}");
}

/// A unit that leaks (9.1: an error while sending the start position runs no cleanup, and
/// the backup ends still holding its unit) is the finding of "units released exactly once";
/// the counter, which still counts it, matches the backups plus the leaked units, so
/// "counter matches backups" does not report it twice.
#[test]
fn a_leaked_unit_is_counted_once_and_reported_by_its_own_property() {
    use backup_coordinator::action::{Action, Command, Fault};
    use backup_coordinator::label::LabelKind;
    use backup_coordinator::state::{Pc, SessionId};
    let config = Config {
        sql_sessions: 0,
        walsenders: 1,
        writers: 0,
        page_writes: 0,
        faults: 1,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg91), config).unwrap();
    c.apply(Action::Begin {
        session: SessionId(0),
        command: Command::BaseBackup {
            label: LabelKind::Plain,
        },
    })
    .unwrap();
    drive_to(&mut c, 0, Pc::SendStartPoint);
    c.apply(Action::Fault {
        session: SessionId(0),
        fault: Fault::Error,
    })
    .unwrap();
    assert_eq!(c.shared.backups, 1, "nobody gave the unit back");
    assert_eq!(c.ghost.leaked_units, 1);
    let violated: BTreeSet<Property> = check_all(&c).iter().map(|v| v.property).collect();
    assert!(
        violated.contains(&Property::UnitsReleasedOnce),
        "{violated:?}"
    );
    assert!(
        !violated.contains(&Property::CounterMatchesBackups),
        "{violated:?}"
    );
}

/// Two 9.1 base backups (on a primary, or on a standby) that both pass the unique-start-point
/// check under the shared lock before either sets it: one checkpoint, one start point for
/// both (B1/B2's mechanism, 9.1's own flaw).
fn nine_one_base_backups_sharing_a_start_point(standby: bool) -> Cluster {
    use backup_coordinator::action::{Action, Command};
    use backup_coordinator::label::LabelKind;
    use backup_coordinator::state::{Pc, SessionId};
    let config = Config {
        sql_sessions: 0,
        walsenders: 2,
        writers: 0,
        page_writes: 0,
        standby,
        full_page_writes: standby,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg91), config).unwrap();
    for s in 0..2 {
        c.apply(Action::Begin {
            session: SessionId(s),
            command: Command::BaseBackup {
                label: LabelKind::Plain,
            },
        })
        .unwrap();
    }
    // Both wait for one checkpoint, read its redo pointer, and pass 9.1's unique check
    // (under the shared lock) before either sets it.
    drive_to(&mut c, 0, Pc::StartWaitCheckpoint);
    drive_to(&mut c, 1, Pc::StartWaitCheckpoint);
    drive_to(&mut c, 0, Pc::StartReadControl);
    drive_to(&mut c, 1, Pc::StartReadControl);
    for s in 0..2 {
        drive_to(&mut c, s, Pc::StartUniqueCheck);
    }
    // Each session's next steps up to its start point accepted (on a primary: the check,
    // then the set, the two checks first).
    for s in 0..2 {
        c.apply(Action::Step {
            session: SessionId(s),
        })
        .unwrap();
    }
    for s in 0..2 {
        if !c.backups[usize::from(s)].accepted {
            c.apply(Action::Step {
                session: SessionId(s),
            })
            .unwrap();
        }
    }
    c
}

/// Two backups that hold the same start point while both run break "unique start points"
/// at once (9.1's shared start points, B1/B2's mechanism), not only once they have ended;
/// backups taken on a standby may share one (they write no end record and no history file).
/// Once one of them has ended, the primary's retired start point still collides with the
/// live backup's.
#[test]
fn unique_start_points_judges_live_primary_backups_and_spares_standby_ones() {
    use backup_coordinator::state::Pc;
    for standby in [false, true] {
        let mut c = nine_one_base_backups_sharing_a_start_point(standby);
        assert!(c.backups.iter().all(|b| b.accepted), "standby={standby}");
        let starts: Vec<_> = c.backups.iter().map(|b| b.start).collect();
        assert_eq!(starts.len(), 2);
        assert_eq!(
            starts[0], starts[1],
            "standby={standby}: one start point for both"
        );
        let violated: BTreeSet<Property> = check_all(&c).iter().map(|v| v.property).collect();
        assert_eq!(
            violated.contains(&Property::UniqueStartPoints),
            !standby,
            "standby={standby}: {violated:?}"
        );
        // The first backup runs to its end and is retired: a primary's start point is
        // remembered and still collides with the live one; a standby's is not.
        drive_to(&mut c, 0, Pc::Idle);
        assert_eq!(
            c.backups.len(),
            1,
            "standby={standby}: the first one retired"
        );
        let violated: BTreeSet<Property> = check_all(&c).iter().map(|v| v.property).collect();
        assert_eq!(
            violated.contains(&Property::UniqueStartPoints),
            !standby,
            "standby={standby}, one retired: {violated:?}"
        );
    }
}

/// I5 (`no stale backup_label`): a `backup_label` in the data directory while no exclusive
/// backup holds the exclusive state is stale, unless an exclusive stop is under way (it
/// removes the file next). Neither a session whose backup is exclusive but idle, nor a
/// non-exclusive stop under way, excuses it. (The state is set by hand around real steps: the
/// invariant is a function of the state.)
#[test]
fn a_stale_backup_label_is_excused_only_by_an_exclusive_stop_under_way() {
    use backup_coordinator::action::Command;
    use backup_coordinator::invariants::no_stale_backup_label;
    use backup_coordinator::label::LabelKind;
    use backup_coordinator::state::{BackupMode, ExclusiveState, Pc};
    let mut c = quiet_cluster(Design::Pg96, 2, 0);
    let exclusive = Command::StartBackup {
        mode: BackupMode::Exclusive,
        label: LabelKind::Plain,
    };
    begin(&mut c, 0, exclusive);
    drive_to(&mut c, 0, Pc::Idle);
    begin(&mut c, 1, non_exclusive_start());
    drive_to(&mut c, 1, Pc::Idle);
    assert!(c.data_dir.backup_label.is_some());
    assert!(
        no_stale_backup_label(&c).is_ok(),
        "the exclusive backup runs"
    );
    let taken = c.shared.exclusive;
    // The exclusive state freed under the running backup (what B5 does).
    c.shared.exclusive = ExclusiveState::None;
    assert!(
        no_stale_backup_label(&c).is_err(),
        "S0's backup is exclusive, but no stop of it is under way"
    );
    // A non-exclusive stop under way does not excuse it.
    let stop = |mode| Command::StopBackup { mode };
    begin(&mut c, 1, stop(BackupMode::NonExclusive));
    assert!(c.sessions[1].pc.in_stop(), "{:?}", c.sessions[1].pc);
    assert!(no_stale_backup_label(&c).is_err(), "a non-exclusive stop");
    // An exclusive stop under way does.
    c.shared.exclusive = taken;
    begin(&mut c, 0, stop(BackupMode::Exclusive));
    assert!(c.sessions[0].pc.in_stop(), "{:?}", c.sessions[0].pc);
    c.shared.exclusive = ExclusiveState::None;
    assert!(
        no_stale_backup_label(&c).is_ok(),
        "S0's exclusive stop is under way"
    );
}

/// I8 (`start point is real WAL`) on its own: an accepted start point must be a record
/// position (not inside a page header) and must not lie beyond the WAL insert
/// position; each alone breaks it. (Set by hand: the invariant is a function of the state.)
#[test]
fn a_start_point_off_a_record_boundary_or_beyond_the_insert_position_is_not_real_wal() {
    use backup_coordinator::invariants::start_point_is_real_wal;
    use backup_coordinator::lsn::Lsn;
    use backup_coordinator::state::Pc;
    let mut c = quiet_cluster(Design::Pg15, 1, 0);
    begin(&mut c, 0, non_exclusive_start());
    drive_to(&mut c, 0, Pc::Idle);
    assert!(c.backups[0].accepted);
    assert!(start_point_is_real_wal(&c).is_ok());
    let start = c.backups[0].start;
    // Whether this check (not the later one on the checkpoint's redo) refuses `at`.
    let not_a_record = |c: &mut Cluster, at: Lsn| {
        c.backups[0].start = at;
        c.sessions[0].start = at;
        start_point_is_real_wal(c)
            .err()
            .is_some_and(|v| v.detail.contains("is not a WAL record position"))
    };
    // Inside the header of the WAL page the start point is on (no record begins there).
    let in_page_header = Lsn((start.0 & !0x1FFF) + 8);
    assert!(
        not_a_record(&mut c, in_page_header),
        "inside a page header, before the insert position"
    );
    let beyond = Lsn(c.shared.insert.0 + 0x18);
    assert!(
        not_a_record(&mut c, beyond),
        "a record position beyond the insert position"
    );
    let insert = c.shared.insert;
    assert!(
        !not_a_record(&mut c, insert),
        "the insert position itself is where the next record begins: not beyond it"
    );
    assert!(!not_a_record(&mut c, start));
}

/// `quiescent`: every session idle (the model's end states need it). False while a session
/// is half way through a command, true again once it is done.
#[test]
fn a_cluster_is_quiescent_exactly_when_every_session_is_idle() {
    use backup_coordinator::action::Command;
    use backup_coordinator::invariants::quiescent;
    use backup_coordinator::label::LabelKind;
    use backup_coordinator::state::Pc;
    let mut c = quiet_cluster(Design::Pg15, 0, 2);
    assert!(quiescent(&c));
    let base_backup = Command::BaseBackup {
        label: LabelKind::Plain,
    };
    begin(&mut c, 1, base_backup);
    assert_ne!(c.sessions[1].pc, Pc::Idle);
    assert!(!quiescent(&c), "S1 is half way through BASE_BACKUP");
    drive_to(&mut c, 1, Pc::Idle);
    assert!(quiescent(&c));
}

/// What an unsettled end is explained by (`Unsettled::left_by`): a server that stays down by
/// a refused restart, a counter by a leaked or double unit, a left `backup_label` by a stale
/// label; sessions and backups that never finish by nothing.
#[test]
fn an_unsettled_end_is_explained_only_by_the_findings_that_leave_it() {
    use backup_coordinator::invariants::Unsettled;
    assert!(Unsettled::SessionsBusy.left_by().is_empty());
    assert!(Unsettled::BackupsLive.left_by().is_empty());
    assert_eq!(Unsettled::ServerDown.left_by(), [Property::RestartSucceeds]);
    assert!(Unsettled::CounterLeft
        .left_by()
        .contains(&Property::UnitsReleasedOnce));
    assert!(Unsettled::BackupLabelLeft
        .left_by()
        .contains(&Property::NoStaleBackupLabel));
}

/// `settled` counts a session as busy on any one of three facts alone: half way through a
/// command, a session backup state that says running, or a backup it still holds. (Set by
/// hand on a settled cluster, one at a time: the check is a function of the state.)
#[test]
fn a_session_is_busy_on_any_one_of_its_three_facts_alone() {
    use backup_coordinator::invariants::{settled, Unsettled};
    use backup_coordinator::state::{BackupId, Pc, SessionBackupState};
    let fresh = quiet_cluster(Design::Pg15, 1, 0);
    assert!(settled(&fresh).is_ok());
    let busy = |c: &Cluster| {
        settled(c)
            .err()
            .is_some_and(|e| e.cause == Unsettled::SessionsBusy)
    };
    let mut mid_command = fresh.clone();
    mid_command.sessions[0].pc = Pc::StartWaitCheckpoint;
    assert!(busy(&mid_command), "half way through a command");
    let mut running = fresh.clone();
    running.sessions[0].state = SessionBackupState::Running;
    assert!(busy(&running), "its session state says a backup runs");
    let mut holding = fresh.clone();
    holding.sessions[0].backup = Some(BackupId(0));
    assert!(busy(&holding), "it holds a backup");
}

/// A label file left behind (the exclusive `backup_label`, or option 2's temporary label)
/// keeps the cluster unsettled, and the report names the backup it belonged to. (Set by hand
/// on a settled cluster: the check is a function of the state.)
#[test]
fn a_label_file_left_behind_is_reported_with_its_backup() {
    use backup_coordinator::invariants::{settled, Unsettled};
    use backup_coordinator::label::LabelKind;
    use backup_coordinator::lsn::Lsn;
    use backup_coordinator::state::{BackupId, LabelFile};
    let fresh = quiet_cluster(Design::Pg96, 1, 0);
    let file = LabelFile {
        backup: BackupId(3),
        start: Lsn(0x2000028),
        checkpoint: Lsn(0x2000060),
        label: LabelKind::Plain,
        durable: true,
    };
    let mut exclusive = fresh.clone();
    exclusive.data_dir.backup_label = Some(file);
    let left = settled(&exclusive).unwrap_err();
    assert_eq!(
        (left.cause, left.backups),
        (Unsettled::BackupLabelLeft, vec![BackupId(3)])
    );
    let mut temporary = fresh;
    temporary.data_dir.temp_labels.push(file);
    let left = settled(&temporary).unwrap_err();
    assert_eq!(
        (left.cause, left.backups),
        (Unsettled::TempLabelLeft, vec![BackupId(3)])
    );
}

/// The ghost forgets a start point (with its end records and history file) only once nothing
/// can reach it again: `start_still_reachable` is true for a start point at or beyond the
/// control file's redo pointer (a later start may still read it), and below it exactly while
/// one holder keeps it: a live backup, a session between reading the control file and its
/// stop, the exclusive `backup_label`, a temporary label file, or a `backup_label` removed
/// without an fsync of its directory (an OS crash brings it back). Each holder is tried
/// alone, and with another start point in it, which holds nothing.
#[test]
fn a_start_point_is_reachable_exactly_while_something_holds_it_or_a_start_may_still_read_it() {
    use backup_coordinator::action::Command;
    use backup_coordinator::label::LabelKind;
    use backup_coordinator::lsn::Lsn;
    use backup_coordinator::state::{BackupMode, Pc};
    let mut held = quiet_cluster(Design::Pg96, 1, 0);
    begin(
        &mut held,
        0,
        Command::StartBackup {
            mode: BackupMode::Exclusive,
            label: LabelKind::Plain,
        },
    );
    drive_to(&mut held, 0, Pc::Idle);
    let start = held.backups[0].start;
    let label = held.data_dir.backup_label.expect("the exclusive label");
    assert_eq!(label.start, start);
    // The control file's redo pointer moves beyond the start point (as a later checkpoint
    // would move it).
    held.control.redo = Lsn(start.0 + 0x1000);
    assert!(held.start_still_reachable(start), "held twice");

    let mut nothing = held.clone();
    nothing.backups.clear();
    nothing.data_dir.backup_label = None;
    assert!(!nothing.start_still_reachable(start), "held by nothing");
    let mut ahead = nothing.clone();
    ahead.control.redo = start;
    assert!(ahead.start_still_reachable(start), "at the redo pointer");

    use backup_coordinator::state::LabelFile;
    let other = LabelFile {
        start: Lsn(start.0 + 0x800),
        ..label
    };
    /// Puts the start point (or another one) into one holder of a state that held nothing.
    type Put = fn(&mut Cluster, &Cluster, LabelFile);
    let holders: [(&str, Put); 5] = [
        ("a live backup", |c, h, _| c.backups = h.backups.clone()),
        ("a session", |c, _, f| c.sessions[0].start = f.start),
        ("the backup_label", |c, _, f| {
            c.data_dir.backup_label = Some(f)
        }),
        ("a temporary label", |c, _, f| {
            c.data_dir.temp_labels.push(f)
        }),
        ("an unlinked backup_label", |c, _, f| {
            c.data_dir.unlinked_label = Some(f)
        }),
    ];
    for (holder, put) in holders {
        let mut c = nothing.clone();
        put(&mut c, &held, label);
        assert!(c.start_still_reachable(start), "held by {holder} alone");
        if holder.contains("label") {
            let mut c = nothing.clone();
            put(&mut c, &held, other);
            assert!(
                !c.start_still_reachable(start),
                "{holder} with another start point holds nothing"
            );
        }
    }
}

/// Each ghost list (retired start points, backup-end records, history files) is forgotten
/// once its start point falls below the control file's redo pointer, even when it is the only
/// list holding a stale entry: the shortcut that skips the clean-up when nothing is stale
/// must see each of them alone.
#[test]
fn each_ghost_list_is_forgotten_alone_once_its_start_point_is_below_the_redo_pointer() {
    use backup_coordinator::action::{Action, Command};
    use backup_coordinator::label::LabelKind;
    use backup_coordinator::state::Pc;
    let mut c = Cluster::new(
        Variant::of(Design::Pg15),
        Config {
            sql_sessions: 0,
            walsenders: 1,
            writers: 0,
            page_writes: 0,
            timed_checkpoints: 1,
            ..Config::default()
        },
    )
    .unwrap();
    begin(
        &mut c,
        0,
        Command::BaseBackup {
            label: LabelKind::Plain,
        },
    );
    drive_to(&mut c, 0, Pc::Idle);
    assert!(c.backups.is_empty(), "the base backup ended");
    let start = c.ghost.retired_starts[0];
    assert!(c.wal.end_records.iter().any(|&(_, s)| s == start));
    assert!(c.data_dir.history.iter().any(|h| h.start == start));
    let checkpoint = |c: &mut Cluster| {
        c.apply(Action::CheckpointBegin).unwrap();
        c.apply(Action::CheckpointEnd).unwrap();
        assert!(c.control.redo > start);
    };
    let mut all = c.clone();
    checkpoint(&mut all);
    assert!(all.ghost.retired_starts.is_empty());
    assert!(all.wal.end_records.is_empty());
    assert!(all.data_dir.history.is_empty());

    let mut only_retired = c.clone();
    only_retired.wal.end_records.clear();
    only_retired.data_dir.history.clear();
    checkpoint(&mut only_retired);
    assert!(
        only_retired.ghost.retired_starts.is_empty(),
        "retired start"
    );

    let mut only_end_records = c.clone();
    only_end_records.ghost.retired_starts.clear();
    only_end_records.data_dir.history.clear();
    checkpoint(&mut only_end_records);
    assert!(only_end_records.wal.end_records.is_empty(), "end record");

    let mut only_history = c.clone();
    only_history.ghost.retired_starts.clear();
    only_history.wal.end_records.clear();
    checkpoint(&mut only_history);
    assert!(only_history.data_dir.history.is_empty(), "history file");
}

/// A property read from JSON (a replay file, a report): by the name the reports print, or by
/// the kebab-case name of its variant (files written before names were used: `unique-start-points`,
/// `page-writes-forced-while-backup-active`); anything else is refused with its text.
#[test]
fn a_property_reads_from_its_name_or_its_old_kebab_case_name_and_nothing_else() {
    let read = |text: &str| serde_json::from_value::<Property>(serde_json::json!(text));
    for property in Property::ALL {
        assert_eq!(read(property.name()).unwrap(), property, "{property}");
        let kebab: String = format!("{property:?}")
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let dash = (i > 0 && c.is_ascii_uppercase()).then_some('-');
                dash.into_iter()
                    .chain(std::iter::once(c.to_ascii_lowercase()))
            })
            .collect();
        assert_eq!(read(&kebab).unwrap(), property, "{kebab}");
    }
    assert_eq!(
        read("unique-start-points").unwrap(),
        Property::UniqueStartPoints
    );
    for wrong in ["", "xyzzy", "-unique-start-points", "UniqueStartPoints"] {
        let error = read(wrong).unwrap_err().to_string();
        assert!(error.contains("names no property"), "{wrong:?}: {error}");
    }
}

/// Each specific per-backup problem is reported in a sentence of its own that names the
/// backup (the text a violation and its report carry); the general problem leaves the
/// sentence to its property.
#[test]
fn each_specific_problem_has_its_own_sentence_naming_its_backup() {
    use backup_coordinator::invariants::Problem;
    use backup_coordinator::state::BackupId;
    let id = BackupId(7);
    let problems = [
        Problem::NeverConsistent,
        Problem::ConsistentTooEarly,
        Problem::IncompleteCopyConsistent,
        Problem::StopPointNotItsEnd,
        Problem::EndRecordNotFlushed,
        Problem::LabelNotDurable,
        Problem::TempLabelNotDurable,
        Problem::HistoryNotDurable,
        Problem::LabelRemovalNotDurable,
        Problem::EndRecordDiscarded,
        Problem::HistoryMissing,
        Problem::HistoryNotItsOwn,
        Problem::HistoryUnreadable,
        Problem::HistoryStart,
        Problem::HistoryStop,
        Problem::HistoryStopFile,
        Problem::HistoryCheckpoint,
        Problem::HistoryLabel,
        Problem::HistoryTimeline,
        Problem::HistoryMethod,
    ];
    let sentences: BTreeSet<String> = problems.iter().map(|p| p.describe(id)).collect();
    assert_eq!(sentences.len(), problems.len(), "one sentence each");
    for (problem, sentence) in problems.iter().map(|p| (p, p.describe(id))) {
        assert!(
            sentence.contains(&id.to_string()),
            "{problem:?}: {sentence}"
        );
    }
    assert_eq!(Problem::General.describe(id), "");
}

/// What a violation names is part of the report a reviewer reads, so it is fixed: "unique
/// start points" names the smallest start point held twice, with its first holders (retired
/// before live); among backup-end records it names the smallest start point two records
/// carry, with their positions; "counter matches backups" says the exclusive state was freed
/// by someone else exactly when a backup that ended without freeing it still holds it.
#[test]
fn violations_name_the_smallest_shared_start_point_and_the_right_cause() {
    use backup_coordinator::action::Command;
    use backup_coordinator::invariants::{counter_matches_backups, unique_start_points};
    use backup_coordinator::label::LabelKind;
    use backup_coordinator::lsn::Lsn;
    use backup_coordinator::state::{ExclusiveState, Pc};
    // Two live base backups sharing start point S (9.1: both pass the check under the shared
    // lock), as in the test above.
    let shared = nine_one_base_backups_sharing_a_start_point(false);
    let s = shared.backups[0].start;
    assert_eq!(shared.backups[1].start, s);
    let live: Vec<_> = shared.backups.iter().map(|b| b.id).collect();
    let named = |c: &Cluster| {
        let v = unique_start_points(c).unwrap_err();
        (v.lsns[0], v.backups)
    };
    assert_eq!(named(&shared), (s, live.clone()));
    // A retired pair at a larger start point: the smaller, live one is named.
    let mut c = shared.clone();
    let larger = Lsn(s.0 + 0x100);
    c.ghost.retired_starts = smallvec::smallvec![larger, larger];
    assert_eq!(named(&c), (s, live.clone()));
    // A retired pair at the same start point: the retired holders come first (none named).
    let mut c = shared.clone();
    c.ghost.retired_starts = smallvec::smallvec![s, s];
    assert_eq!(named(&c), (s, vec![]));

    // Backup-end records: two pairs; the smaller start point's is named, with its records.
    let mut c = Cluster::new(Variant::of(Design::Pg15), Config::default()).unwrap();
    let (small, big) = (Lsn(0x0100_0028), Lsn(0x0100_0100));
    c.wal.end_records = smallvec::smallvec![
        (Lsn(0x0200_0000), big),
        (Lsn(0x0200_0100), big),
        (Lsn(0x0200_0200), small),
        (Lsn(0x0200_0300), small),
    ];
    let v = unique_start_points(&c).unwrap_err();
    assert_eq!(v.lsns, vec![small, Lsn(0x0200_0200), Lsn(0x0200_0300)]);

    // The exclusive state: freed by someone else, or held by nobody.
    let mut c = Cluster::new(Variant::of(Design::Pg96), Config::default()).unwrap();
    c.ghost.leaked_exclusive = true;
    let freed = counter_matches_backups(&c).unwrap_err().detail;
    assert!(freed.contains("freed by someone else"), "{freed}");
    let mut c = Cluster::new(Variant::of(Design::Pg96), Config::default()).unwrap();
    c.shared.exclusive = ExclusiveState::InProgress;
    let nobody = counter_matches_backups(&c).unwrap_err().detail;
    assert!(
        nobody.contains("0 running exclusive backup(s) hold it"),
        "{nobody}"
    );
    // A running exclusive backup while the state is free, nothing leaked.
    let mut c = Cluster::new(Variant::of(Design::Pg96), Config::default()).unwrap();
    begin(
        &mut c,
        0,
        Command::StartBackup {
            mode: backup_coordinator::state::BackupMode::Exclusive,
            label: LabelKind::Plain,
        },
    );
    drive_to(&mut c, 0, Pc::Idle);
    c.shared.exclusive = ExclusiveState::None;
    let running = counter_matches_backups(&c).unwrap_err().detail;
    assert!(
        running.contains("1 running exclusive backup(s) hold it"),
        "{running}"
    );
}
