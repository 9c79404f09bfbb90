//! Scenario tests of the seed's cases, run through `Cluster::apply` step by step with every
//! invariant checked after every step (except where a test shows a design breaking one).

use backup_coordinator::action::{Action, Command, EventKind, Fault, StepError};
use backup_coordinator::invariants::{Property, Violation};
use backup_coordinator::label::LabelKind;
use backup_coordinator::lsn::Lsn;
use backup_coordinator::state::{BackupId, BackupMode, BackupPhase, ExclusiveState, Pc, SessionId};
use backup_coordinator::{Cluster, Config, Design, Variant};

const S0: SessionId = SessionId(0);
const S1: SessionId = SessionId(1);

fn cluster(design: Design, sql: u8, walsenders: u8) -> Cluster {
    let config = Config {
        sql_sessions: sql,
        walsenders,
        writers: 1,
        pages: 2,
        page_writes: 10,
        ..Config::default()
    };
    Cluster::new(Variant::of(design), config).expect("valid config")
}

/// Every violated invariant but durability: the historical designs write `backup_label` and
/// history files without making them durable (an era finding of its own, tested in
/// `tests/restore.rs`), which these scenarios are not about.
fn check_all(cluster: &Cluster) -> Vec<Violation> {
    backup_coordinator::invariants::check_all(cluster)
        .into_iter()
        .filter(|v| v.property != Property::ReportedFilesSurviveOsCrash)
        .collect()
}

/// Applies `action`, which must be enabled, and checks every invariant afterwards (but
/// durability, see [`check_all`]).
fn apply(cluster: &mut Cluster, action: Action) -> EventKind {
    let event = cluster
        .apply(action)
        .unwrap_or_else(|err| panic!("{err}\nstate: {cluster:#?}"));
    if let Some(violation) = check_all(cluster).first() {
        panic!("after {action} ({event}): {violation}");
    }
    event.kind
}

fn step(cluster: &mut Cluster, session: SessionId) -> EventKind {
    apply(cluster, Action::Step { session })
}

fn begin(cluster: &mut Cluster, session: SessionId, command: Command) -> EventKind {
    apply(cluster, Action::Begin { session, command })
}

fn base_backup() -> Command {
    Command::BaseBackup {
        label: LabelKind::Plain,
    }
}

fn sql_start(mode: BackupMode) -> Command {
    Command::StartBackup {
        mode,
        label: LabelKind::Plain,
    }
}

/// Steps `session` (and the checkpointer when it waits) until it reaches `pc`; returns the
/// session's events.
fn run_to(cluster: &mut Cluster, session: SessionId, pc: Pc) -> Vec<EventKind> {
    let mut events = Vec::new();
    for _ in 0..100 {
        if cluster.sessions[usize::from(session.0)].pc == pc {
            return events;
        }
        if cluster.is_enabled(Action::Step { session }) {
            events.push(step(cluster, session));
        } else if cluster.is_enabled(Action::CheckpointBegin) {
            apply(cluster, Action::CheckpointBegin);
        } else if cluster.is_enabled(Action::CheckpointEnd) {
            apply(cluster, Action::CheckpointEnd);
        } else {
            panic!("{session} is stuck before {pc:?}: {cluster:#?}");
        }
    }
    panic!("{session} did not reach {pc:?}");
}

/// Runs `session`'s command to its end and returns how it ended.
fn finish(cluster: &mut Cluster, session: SessionId) -> EventKind {
    run_to(cluster, session, Pc::Idle)
        .pop()
        .expect("the session took a step")
}

/// Runs `session`'s stop (or base backup) to its end, which must be a success; returns the
/// start and stop points.
fn finish_stopped(cluster: &mut Cluster, session: SessionId) -> (Lsn, Lsn) {
    match finish(cluster, session) {
        EventKind::BackupStopped { start, stop, .. } => (start, stop),
        other => panic!("{session} ended with {other}"),
    }
}

fn start_point(cluster: &Cluster, backup: u32) -> Lsn {
    let b = cluster.backup(BackupId(backup)).expect("backup exists");
    assert!(b.accepted, "B{backup} has an accepted start point");
    b.start
}

/// Writes one page (assemble + insert, re-assembling if asked) and returns whether the
/// inserted change carried a full-page image.
fn write_page(cluster: &mut Cluster, page: u8) -> bool {
    apply(cluster, Action::PageAssemble { writer: 0, page });
    loop {
        match apply(cluster, Action::PageInsert { writer: 0 }) {
            EventKind::PageWritten { image, .. } => return image,
            EventKind::PageReassembled { .. } => continue,
            other => panic!("unexpected {other}"),
        }
    }
}

#[test]
fn two_streamed_backups_at_once_get_distinct_start_points_and_both_stop() {
    let mut c = cluster(Design::Recommended, 0, 2);
    begin(&mut c, S0, base_backup());
    begin(&mut c, S1, base_backup());
    assert_eq!(c.shared.backups, 2);
    assert!(c.shared.force_page_writes);
    run_to(&mut c, S0, Pc::CopyFiles);
    run_to(&mut c, S1, Pc::CopyFiles);
    assert_ne!(start_point(&c, 0), start_point(&c, 1));
    let mut events = run_to(&mut c, S0, Pc::Idle);
    events.extend(run_to(&mut c, S1, Pc::Idle));
    let stopped: Vec<Lsn> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::BackupStopped { start, .. } => Some(*start),
            _ => None,
        })
        .collect();
    assert_eq!(stopped.len(), 2);
    assert_ne!(stopped[0], stopped[1]);
    let count = |name: &str| events.iter().filter(|e| e.name() == name).count();
    assert_eq!(count("stop.end-record"), 2);
    // Without faults the WAL sender's reply step is skipped: the stop ends at its history file.
    assert_eq!(count("stop.done"), 2);
    assert_eq!(c.shared.backups, 0);
    assert!(!c.shared.force_page_writes);
    assert!(c.backups.is_empty(), "both backups ended and were retired");
    let redo = c.control.redo;
    assert!(
        c.data_dir.history.iter().all(|h| h.start >= redo),
        "only names a new backup could still collide with are kept"
    );
}

#[test]
fn exclusive_and_streamed_backup_at_once_keep_their_own_labels() {
    let mut c = cluster(Design::Pg96, 1, 1);
    begin(&mut c, S0, sql_start(BackupMode::Exclusive));
    finish(&mut c, S0);
    assert_eq!(c.shared.exclusive, ExclusiveState::InProgress);
    let label = c
        .data_dir
        .backup_label
        .expect("exclusive backup_label written");
    assert_eq!(label.backup, BackupId(0));
    begin(&mut c, S1, base_backup());
    run_to(&mut c, S1, Pc::StopDecrement);
    assert_eq!(
        c.backup(BackupId(1)).unwrap().picked_up,
        None,
        "the copy skipped backup_label"
    );
    assert_ne!(start_point(&c, 0), start_point(&c, 1));
    finish(&mut c, S1);
    assert!(
        c.shared.force_page_writes,
        "the exclusive backup still forces page writes"
    );
    begin(
        &mut c,
        S0,
        Command::StopBackup {
            mode: BackupMode::Exclusive,
        },
    );
    let (start, _) = finish_stopped(&mut c, S0);
    assert_eq!(start, label.start);
    assert!(!c.shared.force_page_writes);
    assert_eq!(c.data_dir.backup_label, None);
}

#[test]
fn stopping_one_backup_while_another_runs_keeps_page_writes_forced() {
    let mut c = cluster(Design::Recommended, 1, 1);
    begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
    finish(&mut c, S0);
    begin(&mut c, S1, base_backup());
    run_to(&mut c, S1, Pc::CopyFiles);
    begin(
        &mut c,
        S0,
        Command::StopBackup {
            mode: BackupMode::NonExclusive,
        },
    );
    finish(&mut c, S0);
    assert_eq!(c.shared.backups, 1);
    assert!(c.shared.force_page_writes);
    // A page first changed after S1's start point gets its image while S1 copies.
    assert!(
        write_page(&mut c, 0),
        "page change while a backup runs carries a full-page image"
    );
    finish(&mut c, S1);
    assert!(!c.shared.force_page_writes);
    assert!(
        !write_page(&mut c, 1),
        "no backup runs: no image (full_page_writes=off)"
    );
}

#[test]
fn two_backups_served_by_one_merged_checkpoint_get_distinct_start_points() {
    let mut c = cluster(Design::Recommended, 0, 2);
    begin(&mut c, S0, base_backup());
    begin(&mut c, S1, base_backup());
    run_to(&mut c, S0, Pc::StartWaitCheckpoint);
    run_to(&mut c, S1, Pc::StartWaitCheckpoint);
    assert!(c.checkpointer.requested);
    apply(&mut c, Action::CheckpointBegin);
    apply(&mut c, Action::CheckpointEnd);
    assert_eq!(
        c.checkpointer.done, 1,
        "one checkpoint served both requests"
    );
    for s in [S0, S1] {
        step(&mut c, s); // checkpoint done
        step(&mut c, s); // read control file
    }
    assert_eq!(
        c.sessions[0].start, c.sessions[1].start,
        "both read the same redo point"
    );
    assert!(matches!(step(&mut c, S0), EventKind::BackupStarted { .. }));
    assert!(
        matches!(step(&mut c, S1), EventKind::StartPointRetry { .. }),
        "the second must retry"
    );
    run_to(&mut c, S1, Pc::CopyFiles);
    assert_ne!(start_point(&c, 0), start_point(&c, 1));
    assert_eq!(c.checkpointer.done, 2);
}

#[test]
fn session_that_disconnects_mid_backup_releases_its_unit() {
    for design in [
        Design::Pg96,
        Design::Pg15,
        Design::Recommended,
        Design::RecommendedOption2,
    ] {
        let mut c = cluster(design, 1, 1);
        c.config.faults = 2;
        begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
        finish(&mut c, S0);
        begin(&mut c, S1, base_backup());
        run_to(&mut c, S1, Pc::CopyFiles);
        assert_eq!(c.shared.backups, 2);
        let exit = apply(
            &mut c,
            Action::Fault {
                session: S1,
                fault: Fault::Disconnect,
            },
        );
        assert!(
            matches!(exit, EventKind::SessionExited { .. }),
            "{design}: {exit}"
        );
        assert_eq!(
            c.shared.backups, 1,
            "{design}: the WAL sender's unit was released"
        );
        let exit = apply(
            &mut c,
            Action::Fault {
                session: S0,
                fault: Fault::Disconnect,
            },
        );
        assert!(matches!(exit, EventKind::SessionExited { .. }));
        assert_eq!(
            c.shared.backups, 0,
            "{design}: the SQL session's exit hook released its unit"
        );
        assert!(!c.shared.force_page_writes);
        assert!(
            c.data_dir.temp_labels.is_empty(),
            "{design}: no temporary label left behind"
        );
    }
}

#[test]
fn cancelled_stop_after_decrement_does_not_decrement_twice() {
    // PROTOCOL.md B7: the archive wait is cancelled after the decrement; the exit hook later
    // must not decrement again (9.6+ abort checks the session state).
    let mut c = cluster(Design::Pg96, 2, 0);
    c.config.faults = 2;
    begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
    finish(&mut c, S0);
    begin(&mut c, S1, sql_start(BackupMode::NonExclusive));
    finish(&mut c, S1);
    begin(
        &mut c,
        S0,
        Command::StopBackup {
            mode: BackupMode::NonExclusive,
        },
    );
    run_to(&mut c, S0, Pc::StopWaitArchive);
    let cancel = apply(
        &mut c,
        Action::Fault {
            session: S0,
            fault: Fault::Cancel,
        },
    );
    assert!(matches!(
        cancel,
        EventKind::CommandFailed {
            error: StepError::Cancelled,
            ..
        }
    ));
    apply(
        &mut c,
        Action::Fault {
            session: S0,
            fault: Fault::Disconnect,
        },
    )
    .to_string();
    assert_eq!(c.shared.backups, 1, "S1's backup still counts");
    assert!(c.shared.force_page_writes);
}

/// PROTOCOL.md B5 in 9.1: S0 starts an exclusive backup and is waiting for its checkpoint;
/// S1 calls pg_stop_backup, which clears the flag before looking for the label and then
/// fails. S0's start then completes with page writes no longer forced.
fn b5_interleaving(c: &mut Cluster) -> Vec<Result<EventKind, String>> {
    let mut out = Vec::new();
    let mut go = |c: &mut Cluster, action: Action| {
        out.push(c.apply(action).map(|e| e.kind).map_err(|e| e.to_string()));
    };
    go(
        c,
        Action::Begin {
            session: S0,
            command: sql_start(BackupMode::Exclusive),
        },
    );
    while c.sessions[0].pc != Pc::StartWaitCheckpoint {
        go(c, Action::Step { session: S0 });
    }
    go(
        c,
        Action::Begin {
            session: S1,
            command: Command::StopBackup {
                mode: BackupMode::Exclusive,
            },
        },
    );
    if c.sessions[1].pc != Pc::Idle {
        go(c, Action::Step { session: S1 });
    }
    go(c, Action::CheckpointBegin);
    go(c, Action::CheckpointEnd);
    while c.sessions[0].pc != Pc::Idle {
        go(c, Action::Step { session: S0 });
    }
    out
}

#[test]
fn b5_stop_racing_exclusive_start_turns_forcing_off_in_9_1() {
    let mut c = cluster(Design::Pg91, 2, 0);
    let events = b5_interleaving(&mut c);
    assert!(events.iter().all(Result::is_ok), "{events:?}");
    let stop = events
        .iter()
        .flatten()
        .find(|e| matches!(e, EventKind::CommandFailed { .. }));
    assert!(
        matches!(
            stop,
            Some(EventKind::CommandFailed {
                error: StepError::NotInProgress,
                ..
            })
        ),
        "S1's stop fails on the missing label: {events:?}"
    );
    assert_eq!(c.backup(BackupId(0)).unwrap().phase, BackupPhase::Running);
    assert!(
        !c.shared.force_page_writes,
        "the exclusive backup runs with forcing off"
    );
    let violated: Vec<Property> = check_all(&c).iter().map(|v| v.property).collect();
    assert!(
        violated.contains(&Property::ForcingWhileBackupRuns),
        "{violated:?}"
    );
}

/// B5 end to end in 9.1: after the race, a page's first change after the start point goes in
/// without an image (forcing is off), and a later `pg_stop_backup` stops the exclusive backup
/// successfully. The backup the server called complete may hold a torn page: the end-to-end
/// property must see it (and the backup must no longer count as running once it stopped).
#[test]
fn b5_lets_a_torn_page_into_a_successfully_stopped_backup_in_9_1() {
    let mut c = cluster(Design::Pg91, 2, 0);
    let events = b5_interleaving(&mut c);
    assert!(events.iter().all(Result::is_ok), "{events:?}");
    // Unchecked steps from here: the invariants are already broken (forcing is off).
    c.apply(Action::PageAssemble { writer: 0, page: 0 })
        .unwrap();
    let written = c.apply(Action::PageInsert { writer: 0 }).unwrap().kind;
    assert!(
        matches!(written, EventKind::PageWritten { image: false, .. }),
        "forcing is off: no image: {written}"
    );
    assert!(c.backup(BackupId(0)).unwrap().torn);
    let stop = Action::Begin {
        session: S1,
        command: Command::StopBackup {
            mode: BackupMode::Exclusive,
        },
    };
    let mut event = c.apply(stop).unwrap().kind;
    while c.sessions[1].pc != Pc::Idle {
        event = c.apply(Action::Step { session: S1 }).unwrap().kind;
    }
    let stopped = match event {
        EventKind::BackupStopped { backup, .. } => Some(backup),
        _ => None,
    };
    assert_eq!(
        stopped,
        Some(Some(BackupId(0))),
        "the stop reports B0 stopped"
    );
    assert!(c.backup(BackupId(0)).is_none(), "B0 ended and was retired");
    let violated: Vec<Property> = check_all(&c).iter().map(|v| v.property).collect();
    assert_eq!(violated, vec![Property::NoTornPageInStoppedBackup]);
}

#[test]
fn b5_interleaving_is_refused_safely_by_9_6() {
    let mut c = cluster(Design::Pg96, 2, 0);
    c.config.commands_per_session = 10; // offer the stop although the state is STARTING
    let events = b5_interleaving(&mut c);
    assert!(events.iter().all(Result::is_ok), "{events:?}");
    let refused = events
        .iter()
        .flatten()
        .find(|e| matches!(e, EventKind::CommandFailed { .. }));
    assert!(
        matches!(
            refused,
            Some(EventKind::CommandFailed {
                error: StepError::ExclusiveNotInProgress,
                ..
            })
        ),
        "S1's stop is refused while S0 is STARTING: {events:?}"
    );
    assert_eq!(c.backup(BackupId(0)).unwrap().phase, BackupPhase::Running);
    assert!(c.shared.force_page_writes);
    assert_eq!(check_all(&c), vec![]);
}

#[test]
fn label_longer_than_1024_bytes_is_refused_and_1024_accepted() {
    for design in Design::ALL {
        let mut c = cluster(design, 0, 1);
        c.config.hostile_labels = true;
        let too_long = begin(
            &mut c,
            S0,
            Command::BaseBackup {
                label: LabelKind::TooLong,
            },
        );
        assert!(
            matches!(
                too_long,
                EventKind::CommandRejected {
                    error: StepError::Label(_),
                    ..
                }
            ),
            "{design}: {too_long}"
        );
        assert_eq!(c.shared.backups, 0);
        begin(
            &mut c,
            S0,
            Command::BaseBackup {
                label: LabelKind::Longest,
            },
        );
        finish_stopped(&mut c, S0);
    }
}

#[test]
fn newline_label_is_a_finding_in_historical_designs_and_refused_by_the_recommended_one() {
    for design in Design::ALL {
        let mut c = cluster(design, 0, 1);
        c.config.hostile_labels = true;
        let event = c.apply(Action::Begin {
            session: S0,
            command: Command::BaseBackup {
                label: LabelKind::Newline,
            },
        });
        let event = event.expect("enabled").kind;
        if design.is_recommended() {
            assert!(
                matches!(event, EventKind::CommandRejected { .. }),
                "{design}: {event}"
            );
            continue;
        }
        while c.sessions[0].pc != Pc::Idle {
            let action = c
                .actions()
                .into_iter()
                .find(|a| !matches!(a, Action::PageAssemble { .. }))
                .unwrap();
            c.apply(action).unwrap();
        }
        let violated: Vec<Property> = check_all(&c).iter().map(|v| v.property).collect();
        // The injected line also breaks the history file that repeats the label, where the
        // era's reader refuses it (a second consequence of the same flaw).
        assert!(
            violated == vec![Property::LabelsRoundTrip]
                || violated
                    == vec![
                        Property::LabelsRoundTrip,
                        Property::HistoryFileDescribesBackup
                    ],
            "{design}: {violated:?}"
        );
    }
}

#[test]
fn exclusive_backup_label_left_by_a_crash_blocks_restart_once_its_wal_is_recycled() {
    let mut c = cluster(Design::Pg96, 1, 1);
    c.config.crashes = 1;
    begin(&mut c, S0, sql_start(BackupMode::Exclusive));
    finish(&mut c, S0);
    // A streamed backup's checkpoint moves the redo point to a later segment.
    begin(&mut c, S1, base_backup());
    finish(&mut c, S1);
    let event = apply_unchecked(&mut c, Action::Crash);
    assert!(
        matches!(
            event,
            EventKind::Restarted {
                refused: Some(BackupId(0)),
                ..
            }
        ),
        "{event}"
    );
    assert!(c.is_down());
    assert!(c.actions().is_empty());
    let violated: Vec<Property> = check_all(&c).iter().map(|v| v.property).collect();
    assert_eq!(violated, vec![Property::RestartSucceeds]);
}

fn apply_unchecked(cluster: &mut Cluster, action: Action) -> EventKind {
    cluster.apply(action).expect("enabled").kind
}

#[test]
fn crash_during_streamed_backup_leaves_nothing_behind_and_start_points_keep_growing() {
    let mut c = cluster(Design::RecommendedOption2, 0, 2);
    c.config.crashes = 1;
    begin(&mut c, S0, base_backup());
    run_to(&mut c, S0, Pc::CopyFiles);
    let before = start_point(&c, 0);
    assert_eq!(c.data_dir.temp_labels.len(), 1);
    apply(&mut c, Action::Crash);
    assert!(
        c.backup(BackupId(0)).is_none(),
        "the lost backup was retired"
    );
    assert_eq!(c.shared.backups, 0);
    assert!(!c.shared.force_page_writes);
    assert!(
        c.data_dir.temp_labels.is_empty(),
        "restart removes temporary labels"
    );
    begin(&mut c, S1, base_backup());
    let (after, _) = finish_stopped(&mut c, S1);
    assert!(after > before);
}

#[test]
fn initial_state_of_three_sessions_offers_a_known_set_of_actions() {
    let config = Config {
        sql_sessions: 2,
        walsenders: 1,
        ..Config::default()
    };
    let c = Cluster::new(Variant::of(Design::Recommended), config).unwrap();
    let actions = c.actions();
    // S0, S1: pg_backup_start and pg_backup_stop (every command of the API is offered in
    // every state while the budget lasts: the stop is the server's to refuse); S2:
    // BASE_BACKUP; W0: assemble page 0 or 1.
    assert_eq!(actions.len(), 7, "{actions:?}");
    let c96 = Cluster::new(Variant::of(Design::Pg96), config).unwrap();
    // Plus pg_start_backup(exclusive) and pg_stop_backup(exclusive) for each SQL session.
    assert_eq!(c96.actions().len(), 11, "{:?}", c96.actions());
}

#[test]
fn refused_commands_use_up_the_budget_and_the_owed_stop_is_always_offered() {
    use backup_coordinator::state::BackupMode;
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        commands_per_session: 2,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    let stop = Command::StopBackup {
        mode: BackupMode::NonExclusive,
    };
    // A stop without a start: offered, refused with the server's error, budget used.
    let event = c
        .apply(Action::Begin {
            session: S0,
            command: stop,
        })
        .unwrap();
    assert!(
        matches!(event.kind, EventKind::CommandRejected { .. }),
        "{event}"
    );
    assert_eq!(c.sessions[0].commands, 1);
    begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
    finish(&mut c, S0);
    // The budget is spent, but the stop this client owes is still offered.
    assert_eq!(c.sessions[0].commands, 2);
    assert!(c.owes_stop(S0, BackupMode::NonExclusive));
    assert!(c.is_enabled(Action::Begin {
        session: S0,
        command: stop
    }));
    begin(&mut c, S0, stop);
    finish_stopped(&mut c, S0);
    // Nothing is owed any more and the budget is spent: no command is offered.
    assert!(!c.owes_stop(S0, BackupMode::NonExclusive));
    assert!(
        !c.actions()
            .iter()
            .any(|a| matches!(a, Action::Begin { session: S0, .. })),
        "{:?}",
        c.actions()
    );
}

#[test]
fn actions_and_is_enabled_agree() {
    // Walk a few hundred states of every design and compare the two views of enabledness.
    for design in Design::ALL {
        let config = Config {
            sql_sessions: 2,
            walsenders: 1,
            crashes: 1,
            faults: 3,
            hostile_labels: true,
            commands_per_session: 5,
            timed_checkpoints: 1,
            wal_switches: 1,
            ..Config::default()
        };
        let mut c = Cluster::new(Variant::of(design), config).unwrap();
        let mut pick = 7usize;
        for _ in 0..300 {
            let actions = c.actions();
            for candidate in all_candidate_actions(&c) {
                assert_eq!(
                    c.is_enabled(candidate),
                    actions.contains(&candidate),
                    "{design}: {candidate}"
                );
            }
            if actions.is_empty() {
                break;
            }
            pick = pick.wrapping_mul(31).wrapping_add(17);
            c.apply(actions[pick % actions.len()]).unwrap();
        }
    }
}

fn all_candidate_actions(c: &Cluster) -> Vec<Action> {
    let mut out = vec![
        Action::CheckpointBegin,
        Action::CheckpointEnd,
        Action::WalSwitch,
        Action::Crash,
    ];
    for s in 0..c.sessions.len() as u8 {
        let session = SessionId(s);
        out.push(Action::Step { session });
        for fault in [Fault::Error, Fault::Cancel, Fault::Disconnect] {
            out.push(Action::Fault { session, fault });
        }
        for label in LabelKind::ALL {
            for mode in [
                BackupMode::Exclusive,
                BackupMode::NonExclusive,
                BackupMode::Streamed,
            ] {
                out.push(Action::Begin {
                    session,
                    command: Command::StartBackup { mode, label },
                });
            }
            out.push(Action::Begin {
                session,
                command: Command::BaseBackup { label },
            });
        }
        for mode in [
            BackupMode::Exclusive,
            BackupMode::NonExclusive,
            BackupMode::Streamed,
        ] {
            out.push(Action::Begin {
                session,
                command: Command::StopBackup { mode },
            });
        }
    }
    for writer in 0..c.writers.len() as u8 {
        out.push(Action::PageInsert { writer });
        for page in 0..c.pages.len() as u8 + 1 {
            out.push(Action::PageAssemble { writer, page });
        }
    }
    out.push(Action::Step {
        session: SessionId(200),
    });
    out
}

/// 16 has no `forcePageWrites`: inserters read `runningBackups > 0`. An extra decrement (B11:
/// the abort leaves the session state, so BASE_BACKUP's cleanup block and the exit hook both
/// abort) drives the counter below zero, and the next backup then runs with nothing forced
/// (PROTOCOL.md §2.6, B11). In 15 the start raises the flag whatever the counter says, so the
/// same flaw breaks the counter but leaks no forcing.
#[test]
fn a_counter_driven_below_zero_forces_nothing_in_16_but_not_in_15() {
    use backup_coordinator::variant::Bug;
    let violated_after = |design: Design| -> (Vec<Property>, i16, bool) {
        let config = Config {
            sql_sessions: 0,
            walsenders: 1,
            replication_sessions: 1,
            backups_per_session: 2,
            commands_per_session: 3,
            faults: 1,
            writers: 0,
            page_writes: 0,
            ..Config::default()
        };
        let variant = Variant {
            design,
            bug: Some(Bug::B11),
            file: None,
        };
        let mut c = Cluster::new(variant, config).unwrap();
        let (walsender, replication) = (S0, S1);
        let mut go = |c: &mut Cluster, action: Action| {
            c.apply(action).unwrap_or_else(|e| panic!("{e}"));
        };
        let drive =
            |c: &mut Cluster, session: SessionId, go: &mut dyn FnMut(&mut Cluster, Action)| {
                for _ in 0..50 {
                    if c.sessions[usize::from(session.0)].pc == Pc::Idle {
                        return;
                    }
                    for action in [
                        Action::Step { session },
                        Action::CheckpointBegin,
                        Action::CheckpointEnd,
                    ] {
                        if c.is_enabled(action) {
                            go(c, action);
                            break;
                        }
                    }
                }
            };
        go(
            &mut c,
            Action::Begin {
                session: replication,
                command: sql_start(BackupMode::NonExclusive),
            },
        );
        drive(&mut c, replication, &mut go);
        go(
            &mut c,
            Action::Begin {
                session: replication,
                command: Command::StopBackup {
                    mode: BackupMode::NonExclusive,
                },
            },
        );
        drive(&mut c, replication, &mut go);
        go(
            &mut c,
            Action::Begin {
                session: replication,
                command: base_backup(),
            },
        );
        while c.sessions[usize::from(replication.0)].pc != Pc::CopyFiles {
            for action in [
                Action::Step {
                    session: replication,
                },
                Action::CheckpointBegin,
                Action::CheckpointEnd,
            ] {
                if c.is_enabled(action) {
                    go(&mut c, action);
                    break;
                }
            }
        }
        // Terminated mid-copy: the cleanup block aborts, then the exit hook aborts again.
        go(
            &mut c,
            Action::Fault {
                session: replication,
                fault: Fault::Disconnect,
            },
        );
        let counter = c.shared.backups;
        // The next backup's increment.
        go(
            &mut c,
            Action::Begin {
                session: walsender,
                command: base_backup(),
            },
        );
        let violated = check_all(&c).iter().map(|v| v.property).collect();
        (violated, counter, c.do_page_writes())
    };
    let (in_16, counter_16, forced_16) = violated_after(Design::Pg16);
    assert_eq!(counter_16, -1);
    assert!(!forced_16, "16: the new backup runs with nothing forced");
    assert!(
        in_16.contains(&Property::ForcingWhileBackupRuns),
        "16: {in_16:?}"
    );
    let (in_15, counter_15, forced_15) = violated_after(Design::Pg15);
    assert_eq!(counter_15, -1);
    assert!(forced_15, "15: the start raised forcePageWrites");
    assert!(
        in_15.contains(&Property::CounterMatchesBackups),
        "15: {in_15:?}"
    );
}

/// The exclusive stop is owed while the exclusive backup runs and may be stopped, and by no one
/// once another session's stop has claimed it (9.6's STOPPING).
#[test]
fn an_exclusive_backup_whose_stop_is_under_way_is_owed_by_no_one() {
    let mut c = cluster(Design::Pg96, 2, 0);
    assert!(!c.owes_stop(S0, BackupMode::Exclusive));
    begin(&mut c, S0, sql_start(BackupMode::Exclusive));
    finish(&mut c, S0);
    assert!(c.owes_stop(S0, BackupMode::Exclusive));
    assert!(
        c.owes_stop(S1, BackupMode::Exclusive),
        "any session may stop it"
    );
    begin(
        &mut c,
        S1,
        Command::StopBackup {
            mode: BackupMode::Exclusive,
        },
    );
    while c.shared.exclusive != ExclusiveState::Stopping {
        step(&mut c, S1);
    }
    assert!(!c.owes_stop(S0, BackupMode::Exclusive));
    finish_stopped(&mut c, S1);
    assert!(!c.owes_stop(S0, BackupMode::Exclusive));
}

/// A configuration's timed checkpoints happen exactly that many times; a requested checkpoint
/// uses none of them.
#[test]
fn timed_checkpoints_use_their_budget_and_requested_ones_do_not() {
    let mut c = Cluster::new(
        Variant::of(Design::Pg15),
        Config {
            sql_sessions: 1,
            walsenders: 0,
            timed_checkpoints: 1,
            ..Config::default()
        },
    )
    .unwrap();
    // A requested checkpoint (the start's) first: the timed one is still there after it.
    begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
    finish(&mut c, S0);
    assert!(
        c.is_enabled(Action::CheckpointBegin),
        "the timed checkpoint"
    );
    apply(&mut c, Action::CheckpointBegin);
    apply(&mut c, Action::CheckpointEnd);
    assert!(
        !c.is_enabled(Action::CheckpointBegin),
        "no timed checkpoint left"
    );
}

/// A client calls its stop once its own copy is over: one session's stop ends no other
/// backup's copy (the restore check relies on when each copy ended).
#[test]
fn a_stop_ends_only_its_own_backups_copy() {
    let mut c = cluster(Design::Pg15, 2, 0);
    begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
    finish(&mut c, S0);
    begin(&mut c, S1, sql_start(BackupMode::NonExclusive));
    finish(&mut c, S1);
    begin(
        &mut c,
        S0,
        Command::StopBackup {
            mode: BackupMode::NonExclusive,
        },
    );
    let copy_over = |c: &Cluster, session: SessionId| {
        c.backups
            .iter()
            .find(|b| b.session == session)
            .map(|b| b.copy_over)
    };
    assert_eq!(copy_over(&c, S0), Some(true));
    assert_eq!(copy_over(&c, S1), Some(false));
}

/// A session running a non-exclusive backup is refused a second start with the server's
/// error (9.6+ checks the session's own state), and the refusal changes nothing else.
#[test]
fn a_second_start_in_a_session_running_a_backup_is_refused() {
    use backup_coordinator::variant::Bug;
    // B10's variant lacks only BASE_BACKUP's check; the SQL start's own check stays.
    for variant in [Variant::of(Design::Pg15), Variant::bug(Bug::B10)] {
        let config = Config {
            sql_sessions: 1,
            walsenders: 0,
            backups_per_session: 2,
            ..Config::default()
        };
        let mut c = Cluster::new(variant, config).unwrap();
        begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
        finish(&mut c, S0);
        let before = c.backups.clone();
        match c
            .apply(Action::Begin {
                session: S0,
                command: sql_start(BackupMode::NonExclusive),
            })
            .unwrap()
            .kind
        {
            EventKind::CommandRejected { error, .. } => {
                assert_eq!(error, StepError::BackupInProgressInSession, "{variant}")
            }
            other => panic!("{variant}: {other}"),
        }
        assert_eq!(c.backups, before, "{variant}");
    }
}

/// An exclusive backup outlives its session's command: a cluster where it never ended is
/// not settled, and the leftover names it.
#[test]
fn an_exclusive_backup_never_stopped_leaves_the_cluster_unsettled_naming_it() {
    use backup_coordinator::invariants::{settled, Unsettled};
    let mut c = cluster(Design::Pg96, 1, 0);
    begin(&mut c, S0, sql_start(BackupMode::Exclusive));
    finish(&mut c, S0);
    let left = settled(&c).unwrap_err();
    assert_eq!(left.cause, Unsettled::BackupsLive);
    assert_eq!(left.backups, vec![c.backups[0].id]);
    assert!(
        left.detail.contains(&c.backups[0].id.to_string()),
        "{}",
        left.detail
    );
}

/// A configuration's JIT queries happen exactly that many times.
#[test]
fn the_jit_query_budget_allows_exactly_its_number() {
    let mut c = cluster(Design::Pg96, 1, 0);
    c.config.jit_queries = 2;
    c.config.commands_per_session = 4;
    let jit = Action::Begin {
        session: S0,
        command: Command::JitQuery,
    };
    for n in 0..2 {
        assert!(c.is_enabled(jit), "JIT query {n}");
        apply(&mut c, jit);
        assert_eq!(c.sessions[0].pc, Pc::Idle, "a JIT query is one step");
    }
    assert!(!c.is_enabled(jit), "both JIT queries are used");
}

/// An exclusive stop that fails after claiming the backup (9.6's STOPPING) gives it back:
/// `pg_stop_backup_callback` returns the state to IN_PROGRESS, and the stop is owed again.
#[test]
fn a_failed_exclusive_stop_gives_the_backup_back() {
    let mut c = cluster(Design::Pg96, 1, 0);
    c.config.faults = 1;
    c.config.commands_per_session = 4;
    begin(&mut c, S0, sql_start(BackupMode::Exclusive));
    finish(&mut c, S0);
    begin(
        &mut c,
        S0,
        Command::StopBackup {
            mode: BackupMode::Exclusive,
        },
    );
    let error = Action::Fault {
        session: S0,
        fault: Fault::Error,
    };
    for _ in 0..20 {
        if c.shared.exclusive == ExclusiveState::Stopping && c.is_enabled(error) {
            break;
        }
        step(&mut c, S0);
    }
    assert_eq!(c.shared.exclusive, ExclusiveState::Stopping);
    apply(&mut c, error);
    assert_eq!(c.shared.exclusive, ExclusiveState::InProgress);
    assert!(c.owes_stop(S0, BackupMode::Exclusive));
}

/// A trace names the SQL functions as its design's server does: 9.6-14's traces say
/// `pg_start_backup(non-exclusive, ..)`/`pg_stop_backup(non-exclusive)`, 15's say
/// `pg_backup_start(..)`/`pg_backup_stop()`.
#[test]
fn traces_name_the_sql_functions_of_their_era() {
    use backup_coordinator::trace::TraceBuilder;
    let text = |design: Design| {
        let config = Config {
            sql_sessions: 1,
            walsenders: 0,
            ..Config::default()
        };
        let mut builder = TraceBuilder::new(Variant::of(design), config).unwrap();
        let s0 = S0;
        builder
            .push(Action::Begin {
                session: s0,
                command: Command::StartBackup {
                    mode: BackupMode::NonExclusive,
                    label: LabelKind::Plain,
                },
            })
            .unwrap();
        // Refused: a stop with no backup, to show the name inside an event too.
        let mut other = TraceBuilder::new(Variant::of(design), config).unwrap();
        other
            .push(Action::Begin {
                session: s0,
                command: Command::StopBackup {
                    mode: BackupMode::NonExclusive,
                },
            })
            .unwrap();
        format!(
            "{}{}",
            builder.finish(None).render_text(),
            other.finish(None).render_mermaid()
        )
    };
    let pg96 = text(Design::Pg96);
    assert!(
        pg96.contains("S0 pg_start_backup(non-exclusive, label=plain)"),
        "{pg96}"
    );
    assert!(pg96.contains("pg_stop_backup(non-exclusive)"), "{pg96}");
    assert!(!pg96.contains("pg_backup_st"), "{pg96}");
    let pg15 = text(Design::Pg15);
    assert!(pg15.contains("S0 pg_backup_start(label=plain)"), "{pg15}");
    assert!(pg15.contains("pg_backup_stop()"), "{pg15}");
    assert!(!pg15.contains("pg_start_backup"), "{pg15}");
}

/// A standby whose primary writes WAL with full_page_writes=off refuses a backup once its
/// start has read the restartpoint ("WAL generated with full_page_writes=off was replayed
/// since last restartpoint"), as PostgreSQL does; the start's cleanup gives its unit back.
#[test]
fn a_standby_replaying_wal_written_with_full_page_writes_off_refuses_a_start() {
    for (full_page_writes, refused) in [(false, true), (true, false)] {
        let config = Config {
            sql_sessions: 1,
            walsenders: 0,
            writers: 0,
            page_writes: 0,
            standby: true,
            full_page_writes,
            timeline: backup_coordinator::lsn::TimeLineId(2),
            ..Config::default()
        };
        let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
        c.apply(Action::Begin {
            session: S0,
            command: sql_start(BackupMode::NonExclusive),
        })
        .unwrap();
        let events = run_to(&mut c, S0, Pc::Idle);
        let failed = events.iter().any(|e| {
            matches!(
                e,
                EventKind::CommandFailed {
                    error: StepError::FpwOffReplayed,
                    ..
                }
            )
        });
        assert_eq!(
            failed, refused,
            "full_page_writes={full_page_writes}: {events:?}"
        );
        if refused {
            assert_eq!(c.shared.backups, 0, "the cleanup gave the unit back");
            assert!(!c.page_writes_forced());
        }
        assert!(
            check_all_ok(&c),
            "{:?}",
            backup_coordinator::invariants::check_all(&c)
        );
    }
}

fn check_all_ok(c: &Cluster) -> bool {
    backup_coordinator::invariants::check_all(c).is_empty()
}

/// With `archive_command` failing, a stop waits for archiving until it is cancelled, as
/// PostgreSQL's does; by then its backup has stopped (end record and history file written,
/// unit given back), so a second stop finds no backup in progress.
#[test]
fn a_stop_waits_for_failing_archiving_until_cancelled_and_its_backup_is_gone() {
    for design in [Design::Pg96, Design::Pg15, Design::Pg16] {
        let config = Config {
            sql_sessions: 1,
            walsenders: 0,
            writers: 0,
            page_writes: 0,
            faults: 1,
            archive_fails: true,
            commands_per_session: 4,
            ..Config::default()
        };
        let mut c = Cluster::new(Variant::of(design), config).unwrap();
        let start = sql_start(BackupMode::NonExclusive);
        let stop = Command::StopBackup {
            mode: BackupMode::NonExclusive,
        };
        c.apply(Action::Begin {
            session: S0,
            command: start,
        })
        .unwrap();
        run_to(&mut c, S0, Pc::Idle);
        c.apply(Action::Begin {
            session: S0,
            command: stop,
        })
        .unwrap();
        run_to(&mut c, S0, Pc::StopWaitArchive);
        assert!(!c.is_enabled(Action::Step { session: S0 }));
        assert_eq!(
            c.data_dir.history.len(),
            1,
            "{design}: the history file is written"
        );
        assert_eq!(
            c.shared.backups, 0,
            "{design}: the unit is given back before the wait"
        );
        let cancelled = c
            .apply(Action::Fault {
                session: S0,
                fault: Fault::Cancel,
            })
            .unwrap();
        assert!(
            matches!(
                cancelled.kind,
                EventKind::CommandFailed {
                    error: StepError::Cancelled,
                    ..
                }
            ),
            "{design}: {cancelled}"
        );
        let again = c
            .apply(Action::Begin {
                session: S0,
                command: stop,
            })
            .unwrap();
        assert!(
            matches!(
                again.kind,
                EventKind::CommandRejected {
                    error: StepError::NotInProgress | StepError::NonExclusiveNotInProgress,
                    ..
                }
            ),
            "{design}: {again}"
        );
        assert!(
            check_all_ok(&c),
            "{design}: {:?}",
            backup_coordinator::invariants::check_all(&c)
        );
    }
}

/// A FATAL strikes a session only where PostgreSQL notices one: at an interrupt check in a
/// wait or a send, or idle while it holds something its exit must clean up. Not an idle
/// session holding nothing (nothing would change), and not a session between two steps of a
/// command that has no interrupt check there (after its checkpoint wait, say), even while it
/// holds a counter unit.
#[test]
fn a_disconnect_strikes_only_at_interrupt_checks_or_an_idle_session_holding_something() {
    let config = Config {
        sql_sessions: 2,
        walsenders: 0,
        writers: 0,
        page_writes: 0,
        faults: 4,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    let disconnect = |s| Action::Fault {
        session: s,
        fault: Fault::Disconnect,
    };
    assert!(
        !c.is_enabled(disconnect(S1)),
        "an idle session holding nothing"
    );
    c.apply(Action::Begin {
        session: S0,
        command: sql_start(BackupMode::NonExclusive),
    })
    .unwrap();
    run_to(&mut c, S0, Pc::StartWaitCheckpoint);
    assert!(
        c.is_enabled(disconnect(S0)),
        "the checkpoint wait checks interrupts"
    );
    run_to(&mut c, S0, Pc::StartReadControl);
    assert_eq!(c.shared.backups, 1, "the start holds its unit");
    assert!(
        !c.is_enabled(disconnect(S0)),
        "no interrupt check between the wait and reading the control file"
    );
    assert!(
        !c.is_enabled(disconnect(S1)),
        "the other session still holds nothing"
    );
}

/// `CleanupBackupHistory` at every stop: with a working archiver `pg_wal` keeps only the
/// newest stop's history file (the older ones are archived, then removed); with a failing
/// one it keeps every one (none is ever archived); with `archive_mode` off it keeps none
/// (each stop removes its own at once). The records stay, so that the invariants judge what
/// each stop wrote.
#[test]
fn pg_wal_keeps_the_history_files_whose_archiving_is_not_done() {
    for (archive_mode, archive_fails, kept) in
        [(true, false, 1), (true, true, 3), (false, false, 0)]
    {
        for design in [
            Design::Pg96,
            Design::Pg15,
            Design::Pg16,
            Design::Recommended,
        ] {
            let config = Config {
                archive_mode,
                archive_fails,
                backups_per_session: 3,
                commands_per_session: 3,
                timed_checkpoints: 3,
                ..cluster(design, 0, 1).config
            };
            let mut c = Cluster::new(Variant::of(design), config).unwrap();
            let mut starts = Vec::new();
            for round in 0..3 {
                begin(&mut c, S0, base_backup());
                starts.push(finish_stopped(&mut c, S0).0);
                let in_pg_wal: Vec<Lsn> = c
                    .data_dir
                    .history
                    .iter()
                    .filter(|h| h.in_pg_wal)
                    .map(|h| h.start)
                    .collect();
                let what = format!(
                    "{design}, archive_mode={archive_mode}, fails={archive_fails}, stop {round}"
                );
                let expected = starts[starts.len() - kept.min(starts.len())..].to_vec();
                assert_eq!(in_pg_wal, expected, "{what}");
                // A checkpoint after each: the older start points can no longer be reached,
                // and only what a failing archiver keeps in pg_wal is still recorded.
                apply(&mut c, Action::CheckpointBegin);
                apply(&mut c, Action::CheckpointEnd);
            }
            let recorded = c.data_dir.history.len();
            assert_eq!(recorded, if archive_fails { 3 } else { 0 }, "{design}");
        }
    }
}

/// A standby's stop checks again, once the unit is given back: WAL its primary wrote after
/// turning full_page_writes off, replayed during the backup, fails the backup ("WAL
/// generated with full_page_writes=off was replayed during online backup"), an SQL backup and
/// a streamed one alike; a backup that stopped before the change is not touched, and every
/// start after it is refused (the change lies after the restartpoint's redo).
#[test]
fn a_standby_backup_across_its_primarys_change_to_full_page_writes_off_fails_at_its_stop() {
    for design in [
        Design::Pg96,
        Design::Pg15,
        Design::Pg16,
        Design::Recommended,
    ] {
        let config = Config {
            sql_sessions: 1,
            walsenders: 1,
            writers: 0,
            page_writes: 0,
            standby: true,
            full_page_writes: true,
            primary_fpw_offs: 1,
            backups_per_session: 2,
            timeline: backup_coordinator::lsn::TimeLineId(2),
            ..Config::default()
        };
        let mut c = Cluster::new(Variant::of(design), config).unwrap();
        begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
        run_to(&mut c, S0, Pc::Idle);
        begin(&mut c, S1, base_backup());
        run_to(&mut c, S1, Pc::CopyFiles);
        assert_eq!(c.shared.backups, 2, "{design}");
        apply(&mut c, Action::PrimaryFpwOff);
        assert!(!c.is_enabled(Action::PrimaryFpwOff), "{design}: once");
        let stop = Command::StopBackup {
            mode: BackupMode::NonExclusive,
        };
        let begun = begin(&mut c, S0, stop);
        let fails = |events: &[EventKind]| {
            events.iter().any(|e| {
                matches!(
                    e,
                    EventKind::CommandFailed {
                        error: StepError::FpwOffReplayedDuringBackup,
                        ..
                    }
                )
            })
        };
        let mut sql = vec![begun];
        sql.extend(run_to(&mut c, S0, Pc::Idle));
        assert!(fails(&sql), "{design}: {sql:?}");
        let streamed = run_to(&mut c, S1, Pc::Idle);
        assert!(fails(&streamed), "{design}: {streamed:?}");
        assert_eq!(c.shared.backups, 0, "{design}: both units given back");
        assert!(
            c.backups.iter().all(|b| b.phase == BackupPhase::Failed) || c.backups.is_empty(),
            "{design}: {:?}",
            c.backups
        );
        let mut again = vec![begin(&mut c, S1, base_backup())];
        again.extend(run_to(&mut c, S1, Pc::Idle));
        assert!(
            again.iter().any(|e| matches!(
                e,
                EventKind::CommandFailed {
                    error: StepError::FpwOffReplayed,
                    ..
                }
            )),
            "{design}: a start after the change is refused: {again:?}"
        );
    }
}

/// The check looks at WAL replayed since the backup's own start only: a standby backup that
/// stopped before its primary turned full_page_writes off stopped successfully.
#[test]
fn a_standby_backup_stopped_before_its_primarys_change_to_full_page_writes_off_succeeds() {
    let config = Config {
        sql_sessions: 0,
        walsenders: 1,
        writers: 0,
        page_writes: 0,
        standby: true,
        full_page_writes: true,
        primary_fpw_offs: 1,
        timeline: backup_coordinator::lsn::TimeLineId(2),
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    begin(&mut c, S0, base_backup());
    finish_stopped(&mut c, S0);
    apply(&mut c, Action::PrimaryFpwOff);
    assert!(check_all_ok(&c));
}

/// With hostile labels every SQL command is offered to an idle session: an exclusive and a
/// non-exclusive start with each label kind, both stops, and the JIT query, each once.
#[test]
fn hostile_labels_offer_every_start_with_every_label_and_both_stops() {
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        hostile_labels: true,
        jit_queries: 1,
        ..cluster(Design::Pg96, 1, 0).config
    };
    let c = Cluster::new(Variant::of(Design::Pg96), config).unwrap();
    let offered: Vec<Command> = c
        .actions()
        .into_iter()
        .filter_map(|a| match a {
            Action::Begin {
                session: S0,
                command,
            } => Some(command),
            _ => None,
        })
        .collect();
    let mut expected = Vec::new();
    for mode in [BackupMode::Exclusive, BackupMode::NonExclusive] {
        for label in LabelKind::ALL {
            expected.push(Command::StartBackup { mode, label });
        }
    }
    for mode in [BackupMode::Exclusive, BackupMode::NonExclusive] {
        expected.push(Command::StopBackup { mode });
    }
    expected.push(Command::JitQuery);
    assert_eq!(offered, expected);
}

/// Outside WAL switches (`pg_switch_wal()`, archive_timeout) and segment fills use their
/// budgets: with two of each, exactly two of each happen.
#[test]
fn outside_wal_switches_and_segment_fills_use_their_budgets() {
    let config = Config {
        wal_switches: 2,
        wal_fills: 2,
        ..cluster(Design::Pg15, 1, 0).config
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    for n in 1..=2 {
        assert!(c.is_enabled(Action::WalSwitch), "switch {n}");
        apply(&mut c, Action::WalSwitch);
        assert_eq!(c.used.wal_switches, n);
        assert!(c.is_enabled(Action::WalFill), "fill {n}");
        apply(&mut c, Action::WalFill);
        assert_eq!(c.used.wal_fills, n);
    }
    assert!(!c.is_enabled(Action::WalSwitch), "the switches are used up");
    assert!(!c.is_enabled(Action::WalFill), "the fills are used up");
}

/// A session number beyond the cluster's sessions names no session: nothing is enabled for
/// it, and applying it is refused (not a panic).
#[test]
fn a_session_beyond_the_clusters_sessions_is_never_enabled() {
    let mut c = cluster(Design::Pg15, 1, 1);
    let beyond = SessionId(c.sessions.len() as u8);
    let actions = [
        Action::Step { session: beyond },
        Action::Begin {
            session: beyond,
            command: base_backup(),
        },
        Action::Fault {
            session: beyond,
            fault: Fault::Disconnect,
        },
    ];
    for action in actions {
        assert!(!c.is_enabled(action), "{action}");
        assert!(c.apply(action).is_err(), "{action}");
    }
}

/// A session starts at most its budget of backups, whatever is left of its command budget:
/// with one, no second start is offered once the first backup stopped.
#[test]
fn a_session_starts_at_most_its_budget_of_backups() {
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        backups_per_session: 1,
        commands_per_session: 10,
        ..cluster(Design::Pg15, 1, 0).config
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    let start = sql_start(BackupMode::NonExclusive);
    let offered = |c: &Cluster| {
        c.is_enabled(Action::Begin {
            session: S0,
            command: start,
        })
    };
    assert!(offered(&c));
    begin(&mut c, S0, start);
    finish(&mut c, S0);
    begin(
        &mut c,
        S0,
        Command::StopBackup {
            mode: BackupMode::NonExclusive,
        },
    );
    finish_stopped(&mut c, S0);
    assert!(!offered(&c), "the one backup of the budget is used");
}

/// `pg_backup_stop` is owed only for a non-exclusive backup that runs: not while the
/// session's start is still under way, and not for a base backup (a `replication=database`
/// session could send `pg_backup_stop`, but its `BASE_BACKUP` ends with its own stop).
#[test]
fn a_non_exclusive_stop_is_owed_only_for_a_running_non_exclusive_backup() {
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        replication_sessions: 1,
        writers: 0,
        page_writes: 0,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    let (sql, replication) = (S0, S1);
    begin(&mut c, sql, sql_start(BackupMode::NonExclusive));
    run_to(&mut c, sql, Pc::StartWaitCheckpoint);
    assert!(
        !c.owes_stop(sql, BackupMode::NonExclusive),
        "its start is under way"
    );
    begin(&mut c, replication, base_backup());
    run_to(&mut c, replication, Pc::CopyFiles);
    assert!(
        !c.owes_stop(replication, BackupMode::NonExclusive),
        "its backup is a base backup"
    );
    run_to(&mut c, sql, Pc::Idle);
    assert!(c.owes_stop(sql, BackupMode::NonExclusive));
}

/// 9.1's exclusive stop gives the flag back before it reads `backup_label`: from then on no
/// one owes the exclusive stop, although the label file is there until the stop removes it.
#[test]
fn an_exclusive_backup_whose_stop_gave_the_flag_back_is_owed_by_no_one_in_9_1() {
    let mut c = cluster(Design::Pg91, 2, 0);
    begin(&mut c, S0, sql_start(BackupMode::Exclusive));
    finish(&mut c, S0);
    assert!(c.owes_stop(S0, BackupMode::Exclusive));
    assert!(c.owes_stop(S1, BackupMode::Exclusive));
    begin(
        &mut c,
        S0,
        Command::StopBackup {
            mode: BackupMode::Exclusive,
        },
    );
    assert_eq!(c.sessions[0].pc, Pc::StopReadLabel);
    assert_eq!(c.shared.exclusive, ExclusiveState::None);
    assert!(c.data_dir.backup_label.is_some(), "not read yet");
    assert!(!c.owes_stop(S0, BackupMode::Exclusive));
    assert!(!c.owes_stop(S1, BackupMode::Exclusive));
    finish_stopped(&mut c, S0);
    assert!(!c.owes_stop(S1, BackupMode::Exclusive));
}

/// 9.1 checks and sets the unique start point under the insertion lock taken in shared mode:
/// while a session holds it so, every step that takes the lock exclusively waits, a running
/// command's next step (a start's increment) and a new command's first one (`BASE_BACKUP`'s
/// WAL switch) alike; both go on once the holder lets go.
#[test]
fn a_shared_holder_of_the_insertion_lock_holds_off_its_exclusive_takers_in_9_1() {
    let mut c = cluster(Design::Pg91, 0, 3);
    let s2 = SessionId(2);
    let begin_s2 = Action::Begin {
        session: s2,
        command: base_backup(),
    };
    begin(&mut c, S0, base_backup());
    run_to(&mut c, S0, Pc::StartUniqueCheck);
    begin(&mut c, S1, base_backup());
    assert_eq!(c.sessions[1].pc, Pc::StartIncrement);
    step(&mut c, S0);
    assert_eq!(c.sessions[0].pc, Pc::StartUniqueSet);
    assert_eq!(c.shared.insert_lock_sharers, 1);
    assert!(
        !c.is_enabled(Action::Step { session: S1 }),
        "the increment waits"
    );
    assert!(!c.is_enabled(begin_s2), "the WAL switch waits");
    step(&mut c, S0);
    assert_eq!(c.shared.insert_lock_sharers, 0);
    assert!(c.is_enabled(Action::Step { session: S1 }));
    assert!(c.is_enabled(begin_s2));
}

/// A start asks for an immediate checkpoint (`CHECKPOINT_IMMEDIATE`) exactly when the backup
/// is taken with `fast`, and the pending request says so until a checkpoint takes it.
#[test]
fn a_fast_start_requests_an_immediate_checkpoint_and_a_spread_one_does_not() {
    for fast in [true, false] {
        let mut c = cluster(Design::Pg15, 1, 0);
        c.config.fast_checkpoint = fast;
        begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
        run_to(&mut c, S0, Pc::StartWaitCheckpoint);
        assert!(c.checkpointer.requested);
        assert_eq!(c.checkpointer.immediate, fast, "fast: {fast}");
        assert_eq!(
            backup_coordinator::trace::render_state(&c)
                .contains("an immediate checkpoint requested"),
            fast,
            "fast: {fast}"
        );
        apply(&mut c, Action::CheckpointBegin);
        assert!(!c.checkpointer.immediate, "the checkpoint took the request");
    }
}

/// On a standby two backups served by one restartpoint share a start point (they may there),
/// and so would option 2's temporary label files named after it: the recommended design
/// creates the file new, so the second start fails with "file exists" and leaves the first
/// backup's label as it was.
#[test]
fn option_2_on_a_standby_refuses_a_temporary_label_that_would_replace_another() {
    let config = Config {
        sql_sessions: 0,
        walsenders: 2,
        writers: 0,
        page_writes: 0,
        standby: true,
        full_page_writes: true,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::RecommendedOption2), config).unwrap();
    begin(&mut c, S0, base_backup());
    begin(&mut c, S1, base_backup());
    run_to(&mut c, S0, Pc::StartWaitCheckpoint);
    run_to(&mut c, S1, Pc::StartWaitCheckpoint);
    run_to(&mut c, S0, Pc::CopyFiles);
    run_to(&mut c, S1, Pc::StartWriteLabel);
    assert_eq!(c.sessions[1].start, start_point(&c, 0), "one start point");
    match step(&mut c, S1) {
        EventKind::CommandFailed {
            error: StepError::TempLabelExists,
            ..
        } => {}
        other => panic!("S1's start ended with {other}"),
    }
    assert_eq!(c.data_dir.temp_labels.len(), 1);
    assert_eq!(c.data_dir.temp_labels[0].backup, BackupId(0));
    assert_eq!(c.shared.backups, 1, "the failed start gave its unit back");
}

/// 9.6–12 register the exit hook (`nonexclusive_base_backup_cleanup`) once a non-exclusive
/// start has returned: a client that disconnects while its backup runs has its unit given
/// back at exit. An exclusive start, whose backup belongs to the cluster, registers none.
#[test]
fn a_per_backup_exit_hook_is_registered_by_non_exclusive_starts_only() {
    use backup_coordinator::state::Hook;
    use backup_coordinator::variant::Bug;
    for bug in [Bug::B6, Bug::B7, Bug::B9] {
        let config = Config {
            sql_sessions: 2,
            walsenders: 0,
            writers: 0,
            page_writes: 0,
            faults: 1,
            ..Config::default()
        };
        let mut c = Cluster::new(Variant::bug(bug), config).unwrap();
        begin(&mut c, S1, sql_start(BackupMode::Exclusive));
        finish(&mut c, S1);
        assert!(!c.sessions[1].hooks.contains(Hook::AbortBackup), "{bug}");
        begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
        finish(&mut c, S0);
        assert!(c.sessions[0].hooks.contains(Hook::AbortBackup), "{bug}");
        assert_eq!(c.shared.backups, 1, "{bug}");
        match apply(
            &mut c,
            Action::Fault {
                session: S0,
                fault: Fault::Disconnect,
            },
        ) {
            EventKind::SessionExited { cleanups } => {
                assert_eq!(cleanups.to_string(), "exit-hook", "{bug}")
            }
            other => panic!("{bug}: {other}"),
        }
        assert_eq!(
            c.shared.backups, 0,
            "{bug}: the exit hook gave the unit back"
        );
        assert_eq!(c.shared.exclusive, ExclusiveState::InProgress, "{bug}");
    }
}

/// 9.1's exclusive stop gives the flag back first and reads `backup_label` after, in the
/// seed's option 2 as in option 1 (option 2's temporary label files are for non-exclusive
/// backups): the stop ends with the flag down, forcing off and the label file gone.
#[test]
fn an_exclusive_stop_in_9_1_gives_the_flag_back_before_it_reads_the_label_in_either_option() {
    for design in [Design::Pg91, Design::Pg91Option2] {
        let mut c = cluster(design, 1, 0);
        begin(&mut c, S0, sql_start(BackupMode::Exclusive));
        finish(&mut c, S0);
        begin(
            &mut c,
            S0,
            Command::StopBackup {
                mode: BackupMode::Exclusive,
            },
        );
        assert_eq!(c.shared.exclusive, ExclusiveState::None, "{design}");
        assert_eq!(c.sessions[0].pc, Pc::StopReadLabel, "{design}");
        assert!(c.data_dir.backup_label.is_some(), "{design}");
        finish_stopped(&mut c, S0);
        assert_eq!(c.shared.exclusive, ExclusiveState::None, "{design}");
        assert!(!c.shared.force_page_writes, "{design}");
        assert_eq!(c.data_dir.backup_label, None, "{design}");
    }
}

/// Steps `session` (and the checkpointer when it waits) until it reaches `pc`, checking no
/// invariant (for a design whose flaw breaks one on the way).
fn run_to_unchecked(cluster: &mut Cluster, session: SessionId, pc: Pc) {
    while cluster.sessions[usize::from(session.0)].pc != pc {
        let action = [
            Action::Step { session },
            Action::CheckpointBegin,
            Action::CheckpointEnd,
        ]
        .into_iter()
        .find(|&a| cluster.is_enabled(a))
        .unwrap_or_else(|| panic!("{session} is stuck before {pc:?}"));
        apply_unchecked(cluster, action);
    }
}

/// A history file name that comes back after its first file was archived and left `pg_wal`
/// (B1: two backups share a start point, and a third backup's stop cleaned up in between) is
/// written a second time all the same: the archive holds the first file under that name.
/// "History files never overwritten" reports it.
#[test]
fn a_history_file_name_written_again_after_archiving_counts_as_written_twice() {
    use backup_coordinator::variant::Bug;
    let config = Config {
        sql_sessions: 0,
        walsenders: 3,
        writers: 0,
        page_writes: 0,
        archive_mode: true,
        faults: 1,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::bug(Bug::B1), config).unwrap();
    let s2 = SessionId(2);
    for s in [S0, S1] {
        apply_unchecked(
            &mut c,
            Action::Begin {
                session: s,
                command: base_backup(),
            },
        );
        run_to_unchecked(&mut c, s, Pc::StartWaitCheckpoint);
    }
    run_to_unchecked(&mut c, S0, Pc::CopyFiles);
    run_to_unchecked(&mut c, S1, Pc::CopyFiles);
    let shared = start_point(&c, 0);
    assert_eq!(start_point(&c, 1), shared, "B1: one start point");
    apply_unchecked(
        &mut c,
        Action::Begin {
            session: s2,
            command: base_backup(),
        },
    );
    run_to_unchecked(&mut c, s2, Pc::CopyFiles);
    assert_ne!(start_point(&c, 2), shared);
    run_to_unchecked(&mut c, S0, Pc::Idle);
    run_to_unchecked(&mut c, s2, Pc::Idle);
    let first = c.data_dir.history.iter().find(|h| h.start == shared);
    assert!(
        first.is_some_and(|h| !h.in_pg_wal && h.writes == 1),
        "archived and removed from pg_wal: {first:?}"
    );
    // With a fault left the stop sends its stop position as a step of its own: the history
    // file is looked at while the backup that wrote it still runs.
    run_to_unchecked(&mut c, S1, Pc::StopWriteHistory);
    assert_eq!(
        apply_unchecked(&mut c, Action::Step { session: S1 }),
        EventKind::HistoryFileWritten {
            start: shared,
            overwritten: true
        }
    );
    let second = c.data_dir.history.iter().find(|h| h.start == shared);
    assert_eq!(second.map(|h| h.writes), Some(2));
    assert!(backup_coordinator::invariants::check_all(&c)
        .iter()
        .any(|v| v.property == Property::HistoryFilesNeverOverwritten));
}

/// A WAL sender's stop ends by sending the stop position, a step of its own while a fault can
/// still strike there: a client gone before it gets the position has no backup, although the
/// history file is written.
#[test]
fn a_base_backup_whose_client_vanishes_before_the_stop_position_is_sent_fails() {
    let config = Config {
        sql_sessions: 0,
        walsenders: 1,
        writers: 0,
        page_writes: 0,
        faults: 1,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Recommended), config).unwrap();
    begin(&mut c, S0, base_backup());
    let events = run_to(&mut c, S0, Pc::SendStopPoint);
    assert!(
        matches!(events.last(), Some(EventKind::HistoryFileWritten { .. })),
        "{events:?}"
    );
    let (event, retired) = c
        .apply_and_retire(Action::Fault {
            session: S0,
            fault: Fault::Disconnect,
        })
        .unwrap();
    assert!(
        matches!(event.kind, EventKind::SessionExited { .. }),
        "{event}"
    );
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].phase, BackupPhase::Failed);
    assert!(check_all(&c).is_empty(), "{:?}", check_all(&c));
}

/// 9.6–12 remove the per-backup exit hook once a non-exclusive stop has returned, and 9.6.0
/// clears its session boolean then (B6; B7 and B9 bring the same hook back): a session whose
/// backup stopped successfully says it runs none and keeps no hook that would abort a backup
/// at its exit. (B6 breaks "session state matches unit" until the stop returns, so the stop
/// runs unchecked.)
#[test]
fn a_successful_non_exclusive_stop_removes_its_per_backup_exit_hook() {
    use backup_coordinator::state::{Hook, SessionBackupState};
    use backup_coordinator::variant::Bug;
    for bug in [Bug::B6, Bug::B7, Bug::B9] {
        let mut c = Cluster::new(Variant::bug(bug), cluster(Design::Pg96, 1, 0).config).unwrap();
        begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
        finish(&mut c, S0);
        assert!(c.sessions[0].hooks.contains(Hook::AbortBackup), "{bug}");
        apply_unchecked(
            &mut c,
            Action::Begin {
                session: S0,
                command: Command::StopBackup {
                    mode: BackupMode::NonExclusive,
                },
            },
        );
        run_to_unchecked(&mut c, S0, Pc::Idle);
        assert_eq!(c.shared.backups, 0, "{bug}");
        assert_eq!(c.sessions[0].state, SessionBackupState::None, "{bug}");
        assert!(
            !c.sessions[0].hooks.contains(Hook::AbortBackup),
            "{bug}: the stop removed the hook"
        );
    }
}

/// 9.1 (and B3) arm the WAL sender's cleanup block only once the start position is sent: a
/// client that goes away during the copy that follows still has its backup aborted by the
/// block, and the unit is given back.
#[test]
fn a_base_backup_whose_client_vanishes_during_the_copy_gives_its_unit_back_in_9_1() {
    use backup_coordinator::variant::Bug;
    for variant in [Variant::of(Design::Pg91), Variant::bug(Bug::B3)] {
        let config = Config {
            faults: 1,
            ..cluster(Design::Pg91, 0, 1).config
        };
        let mut c = Cluster::new(variant, config).unwrap();
        begin(&mut c, S0, base_backup());
        run_to(&mut c, S0, Pc::CopyFiles);
        assert_eq!(c.shared.backups, 1, "{variant}");
        match apply(
            &mut c,
            Action::Fault {
                session: S0,
                fault: Fault::Disconnect,
            },
        ) {
            EventKind::SessionExited { cleanups } => assert!(
                cleanups.to_string().contains("base-backup-cleanup"),
                "{variant}: {cleanups}"
            ),
            other => panic!("{variant}: {other}"),
        }
        assert_eq!(c.shared.backups, 0, "{variant}: the unit is given back");
    }
}

/// The seed's option 2 overwrites a temporary label file of the same name: on a standby,
/// where two backups served by one restartpoint share a start point, the second start
/// replaces the first backup's file, and the first backup's copy then carries a label that is
/// not its own ("labels never shared" reports it as soon as the files are sent).
#[test]
fn option_2_in_9_1_on_a_standby_copies_another_backups_temporary_label() {
    use backup_coordinator::state::PickedUp;
    let config = Config {
        sql_sessions: 0,
        walsenders: 2,
        writers: 0,
        page_writes: 0,
        standby: true,
        full_page_writes: true,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg91Option2), config).unwrap();
    for s in [S0, S1] {
        apply_unchecked(
            &mut c,
            Action::Begin {
                session: s,
                command: base_backup(),
            },
        );
        run_to_unchecked(&mut c, s, Pc::StartWaitCheckpoint);
    }
    run_to_unchecked(&mut c, S0, Pc::CopyFiles);
    run_to_unchecked(&mut c, S1, Pc::CopyFiles);
    assert_eq!(c.sessions[1].start, c.sessions[0].start, "one start point");
    assert_eq!(c.data_dir.temp_labels.len(), 1);
    assert_eq!(c.data_dir.temp_labels[0].backup, BackupId(1));
    assert_eq!(
        apply_unchecked(&mut c, Action::Step { session: S0 }),
        EventKind::FilesCopied {
            backup: BackupId(0),
            picked_up: Some(PickedUp::TempLabel),
        }
    );
    assert_eq!(
        c.backup(BackupId(0)).unwrap().picked_up,
        Some(PickedUp::TempLabel)
    );
}

/// A restart after a crash keeps the `full_page_writes` setting: with it off, shared memory
/// starts with it off and a page write after the restart carries no full-page image; with it
/// on, shared memory starts with it on and the first write of a page after the
/// end-of-recovery checkpoint carries one.
#[test]
fn a_restart_after_a_crash_keeps_the_full_page_writes_setting() {
    for full_page_writes in [false, true] {
        let config = Config {
            crashes: 1,
            full_page_writes,
            ..cluster(Design::Pg15, 1, 0).config
        };
        let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
        apply(&mut c, Action::Crash);
        assert_eq!(
            c.shared.full_page_writes, full_page_writes,
            "full_page_writes={full_page_writes}"
        );
        assert_eq!(
            write_page(&mut c, 0),
            full_page_writes,
            "full_page_writes={full_page_writes}: a full-page image"
        );
    }
}

/// Crashes and OS crashes use their budgets: with two of each, exactly two of each happen,
/// counted one by one, and then neither is offered any more.
#[test]
fn crashes_and_os_crashes_use_their_budgets() {
    let config = Config {
        crashes: 2,
        os_crashes: 2,
        ..cluster(Design::Pg15, 1, 0).config
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    for n in 1..=2 {
        assert!(c.is_enabled(Action::Crash), "crash {n}");
        apply(&mut c, Action::Crash);
        assert_eq!(c.used.crashes, n);
        assert!(c.is_enabled(Action::OsCrash), "OS crash {n}");
        apply(&mut c, Action::OsCrash);
        assert_eq!(c.used.os_crashes, n);
    }
    assert!(!c.is_enabled(Action::Crash), "the crashes are used up");
    assert!(!c.is_enabled(Action::OsCrash), "the OS crashes are used up");
}

/// Crash recovery from an exclusive backup's `backup_label` whose checkpoint lies in the
/// oldest WAL segment still kept succeeds: that segment is there, so the restart recovers
/// from the label's checkpoint and renames the label (only a checkpoint in a segment already
/// recycled makes it refuse).
#[test]
fn a_crash_recovers_from_a_backup_label_whose_checkpoint_is_in_the_oldest_kept_segment() {
    let mut c = cluster(Design::Pg96, 1, 1);
    c.config.crashes = 1;
    begin(&mut c, S0, sql_start(BackupMode::Exclusive));
    finish(&mut c, S0);
    let label = c
        .data_dir
        .backup_label
        .expect("the exclusive backup's label");
    assert_eq!(
        c.seg().segment_of(label.checkpoint),
        c.wal.oldest_segment,
        "the label's checkpoint is in the oldest segment kept"
    );
    let event = apply_unchecked(&mut c, Action::Crash);
    assert!(
        matches!(
            event,
            EventKind::Restarted {
                label_renamed: true,
                refused: None,
                ..
            }
        ),
        "{event}"
    );
    assert!(!c.is_down());
    assert_eq!(c.data_dir.backup_label, None);
    assert_eq!(c.ghost.restart_refused, None);
}

/// The state keeps only the checkpoints something names (the control file, or a live
/// backup's label): a checkpoint that the control file no longer names and no backup started
/// from is forgotten, so that long runs keep the state small.
#[test]
fn the_state_keeps_no_checkpoint_that_nothing_names() {
    let config = Config {
        timed_checkpoints: 3,
        ..cluster(Design::Pg15, 1, 0).config
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    let named = |c: &Cluster| -> Vec<Lsn> {
        let mut named: Vec<Lsn> = c.backups.iter().map(|b| b.checkpoint).collect();
        named.push(c.control.checkpoint);
        named.sort();
        named.dedup();
        named
    };
    let kept = |c: &Cluster| -> Vec<Lsn> { c.wal.checkpoints.iter().map(|&(at, _)| at).collect() };
    let timed_checkpoint = |c: &mut Cluster| {
        apply(c, Action::CheckpointBegin);
        apply(c, Action::CheckpointEnd);
    };
    timed_checkpoint(&mut c);
    timed_checkpoint(&mut c);
    assert_eq!(kept(&c), named(&c), "two timed checkpoints");
    assert_eq!(kept(&c).len(), 1);
    // A running backup names its start checkpoint while later ones replace it in the
    // control file.
    begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
    finish(&mut c, S0);
    timed_checkpoint(&mut c);
    assert_eq!(kept(&c), named(&c), "a backup running across a checkpoint");
    assert_eq!(kept(&c).len(), 2);
    begin(
        &mut c,
        S0,
        Command::StopBackup {
            mode: BackupMode::NonExclusive,
        },
    );
    finish_stopped(&mut c, S0);
    assert_eq!(kept(&c), named(&c), "the backup stopped");
    assert_eq!(kept(&c).len(), 1);
}

/// Runs a non-exclusive SQL backup in `S0` up to its stop's history file step, and returns
/// what that step did.
fn sql_stop_history_step(config: Config) -> (Cluster, EventKind) {
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
    run_to(&mut c, S0, Pc::Idle);
    begin(
        &mut c,
        S0,
        Command::StopBackup {
            mode: BackupMode::NonExclusive,
        },
    );
    run_to(&mut c, S0, Pc::StopWriteHistory);
    let event = step(&mut c, S0);
    (c, event)
}

/// An SQL stop ends with its history file unless it has to wait for archiving and that wait
/// can still matter: with `archive_mode` off it never waits (however many faults are left);
/// with a working archiver and no fault left it returns at once; with a failing archiver it
/// waits for good even with no fault left; with a working archiver and a fault left it waits
/// (a cancel could strike there).
#[test]
fn an_sql_stop_waits_for_archiving_only_where_archiving_is_on_and_the_wait_can_matter() {
    for (archive_mode, archive_fails, faults, waits) in [
        (false, false, 1, false),
        (true, false, 0, false),
        (true, true, 0, true),
        (true, false, 1, true),
    ] {
        let config = Config {
            sql_sessions: 1,
            walsenders: 0,
            writers: 0,
            page_writes: 0,
            commands_per_session: 4,
            archive_mode,
            archive_fails,
            faults,
            ..Config::default()
        };
        let what = format!("archive_mode={archive_mode}, fails={archive_fails}, faults={faults}");
        let (c, event) = sql_stop_history_step(config);
        if waits {
            assert!(
                matches!(event, EventKind::HistoryFileWritten { .. }),
                "{what}: {event}"
            );
            assert_eq!(c.sessions[0].pc, Pc::StopWaitArchive, "{what}");
            assert_eq!(
                c.is_enabled(Action::Step { session: S0 }),
                !archive_fails,
                "{what}: a failing archiver keeps the stop waiting"
            );
        } else {
            assert!(
                matches!(event, EventKind::BackupStopped { .. }),
                "{what}: {event}"
            );
            assert_eq!(c.sessions[0].pc, Pc::Idle, "{what}");
        }
    }
}

/// The primary's change to full_page_writes off is offered only to a standby with budget
/// left whose WAL still has full_page_writes on: never to a primary or to a standby without
/// budget, and with a budget of one exactly once (counted), after which the standby replays
/// WAL with full_page_writes off.
#[test]
fn a_primarys_change_to_full_page_writes_off_is_offered_only_within_its_budget_on_a_standby() {
    let base = Config {
        sql_sessions: 1,
        walsenders: 0,
        writers: 0,
        page_writes: 0,
        full_page_writes: true,
        timeline: backup_coordinator::lsn::TimeLineId(2),
        ..Config::default()
    };
    let primary = Cluster::new(Variant::of(Design::Pg15), base).unwrap();
    assert!(!primary.is_enabled(Action::PrimaryFpwOff), "a primary");
    let standby = Config {
        standby: true,
        ..base
    };
    let no_budget = Cluster::new(Variant::of(Design::Pg15), standby).unwrap();
    assert!(
        !no_budget.is_enabled(Action::PrimaryFpwOff),
        "a standby without budget"
    );
    let mut c = Cluster::new(
        Variant::of(Design::Pg15),
        Config {
            primary_fpw_offs: 1,
            ..standby
        },
    )
    .unwrap();
    assert!(c.is_enabled(Action::PrimaryFpwOff));
    assert_eq!(c.used.primary_fpw_offs, 0);
    apply(&mut c, Action::PrimaryFpwOff);
    assert_eq!(c.used.primary_fpw_offs, 1, "one change counted");
    assert!(!c.shared.full_page_writes);
    assert!(!c.is_enabled(Action::PrimaryFpwOff), "the budget is used");
}

/// `fpw_off_replayed_since(from)` answers whether WAL written with full_page_writes off was
/// replayed at or after `from`: nothing before any change, the change's own record and
/// anything before it after one, but not a position after that record.
#[test]
fn full_page_writes_off_counts_as_replayed_only_since_positions_up_to_its_record() {
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        writers: 0,
        page_writes: 0,
        full_page_writes: true,
        standby: true,
        primary_fpw_offs: 1,
        timeline: backup_coordinator::lsn::TimeLineId(2),
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    let before = c.shared.insert;
    assert!(!c.fpw_off_replayed_since(before), "no change replayed yet");
    let at = match apply(&mut c, Action::PrimaryFpwOff) {
        EventKind::FpwOffReplayed { at } => at,
        other => panic!("unexpected {other}"),
    };
    assert!(c.fpw_off_replayed_since(before));
    assert!(c.fpw_off_replayed_since(at));
    let after = c.shared.insert;
    assert!(after > at);
    assert!(
        !c.fpw_off_replayed_since(after),
        "nothing written with full_page_writes off after {at} was replayed since {after}"
    );
}

/// A segment fill leaves exactly one backup-end record's room in the segment (the nearest
/// such point at or after the insert position): a fill right after a fill writes nothing,
/// and a fill after a record that used part of that room fills the rest of the segment and
/// the next one up to that room.
#[test]
fn a_segment_fill_leaves_exactly_one_backup_end_records_room_at_the_nearest_segment_end() {
    use backup_coordinator::lsn::{record_bytes, RECORD_ALIGN_BYTES};
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        writers: 0,
        page_writes: 0,
        full_page_writes: true,
        standby: true,
        primary_fpw_offs: 1,
        wal_fills: 3,
        timeline: backup_coordinator::lsn::TimeLineId(2),
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    let seg = c.seg();
    let usable = seg.usable_bytes_in_segment();
    let room = record_bytes::BACKUP_END.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES;
    let fill = |c: &mut Cluster| -> (u64, u64) {
        match apply(c, Action::WalFill) {
            EventKind::WalFilled { from, to } => {
                assert_eq!(to, c.shared.insert);
                (seg.byte_pos(from), seg.byte_pos(to))
            }
            other => panic!("unexpected {other}"),
        }
    };
    let (from, to) = fill(&mut c);
    assert_eq!(usable - to % usable, room, "one record's room left");
    assert_eq!(to / usable, from / usable, "in the same segment");
    assert!(from <= to);
    let (again_from, again_to) = fill(&mut c);
    assert_eq!((again_from, again_to), (to, to), "nothing to fill");
    apply(&mut c, Action::PrimaryFpwOff);
    let (from, to) = fill(&mut c);
    assert!(
        usable - from % usable < room,
        "the change record used part of the room"
    );
    assert_eq!(usable - to % usable, room, "one record's room left");
    assert_eq!(to / usable, from / usable + 1, "in the next segment");
}

/// A page change is a record of `PAGE_CHANGE` bytes, and its full-page image adds
/// `PAGE_IMAGE` (the WAL positions every later start point, stop point and end record are
/// computed from): the insert position moves by exactly that, page headers included.
#[test]
fn a_page_change_takes_its_record_size_and_an_image_its_page_more() {
    use backup_coordinator::lsn::{insert_record, record_bytes};
    let mut c = cluster(Design::Recommended, 1, 0);
    begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
    finish(&mut c, S0);
    for (page, image) in [(0, true), (0, false)] {
        let before = c.shared.insert;
        assert_eq!(write_page(&mut c, page), image, "page {page}");
        let bytes = record_bytes::PAGE_CHANGE + if image { record_bytes::PAGE_IMAGE } else { 0 };
        let (record, _) = insert_record(c.seg(), before, bytes);
        assert_eq!(c.shared.insert, record.end, "image {image}");
        assert_eq!(c.pages[usize::from(page)], record.end);
    }
}

/// The steps that are only places for a fault (a base backup sending its start and stop
/// positions, an SQL stop waiting for archiving) are kept while any one kind of fault that
/// strikes there is on, each kind alone: an ERROR or a FATAL at a send, a cancel or a FATAL
/// in the archive wait. (With none of its kinds on, such a step is skipped: it would change
/// nothing.)
#[test]
fn each_kind_of_fault_alone_keeps_the_steps_where_it_can_strike() {
    use backup_coordinator::config::FaultKinds;
    let none = FaultKinds {
        errors: false,
        cancels: false,
        disconnects: false,
    };
    // (kind, command, the session's place, the fault)
    let cases = [
        (
            FaultKinds {
                errors: true,
                ..none
            },
            Pc::SendStartPoint,
            Fault::Error,
        ),
        (
            FaultKinds {
                errors: true,
                ..none
            },
            Pc::SendStopPoint,
            Fault::Error,
        ),
        (
            FaultKinds {
                disconnects: true,
                ..none
            },
            Pc::SendStartPoint,
            Fault::Disconnect,
        ),
        (
            FaultKinds {
                disconnects: true,
                ..none
            },
            Pc::SendStopPoint,
            Fault::Disconnect,
        ),
        (
            FaultKinds {
                cancels: true,
                ..none
            },
            Pc::StopWaitArchive,
            Fault::Cancel,
        ),
        (
            FaultKinds {
                disconnects: true,
                ..none
            },
            Pc::StopWaitArchive,
            Fault::Disconnect,
        ),
    ];
    for (kinds, place, fault) in cases {
        let config = Config {
            sql_sessions: 1,
            walsenders: 1,
            writers: 0,
            page_writes: 0,
            faults: 1,
            fault_kinds: kinds,
            ..Config::default()
        };
        let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
        let session = if place == Pc::StopWaitArchive {
            begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
            finish(&mut c, S0);
            begin(
                &mut c,
                S0,
                Command::StopBackup {
                    mode: BackupMode::NonExclusive,
                },
            );
            S0
        } else {
            begin(&mut c, S1, base_backup());
            S1
        };
        run_to(&mut c, session, place);
        assert!(
            c.is_enabled(Action::Fault { session, fault }),
            "{kinds:?}: {fault:?} at {place:?}"
        );
    }
}

/// The start's cleanup is 15's `pg_start_backup_callback` (the counter given back, nothing
/// else) and 16's `do_pg_abort_backup(during_start = true)`, which also resets the session's
/// backup state. They differ only where a session already has a state when a start fails:
/// B10's flaw, a `replication=database` session running an SQL backup that is then accepted
/// for `BASE_BACKUP`, whose start is cancelled in its checkpoint wait. With 15's callback the
/// SQL backup's state stays; with 16's abort it is reset (the SQL backup's unit is still
/// held: "session state matches unit" breaks).
#[test]
fn a_failed_start_resets_the_session_state_in_16_and_keeps_it_in_15() {
    use backup_coordinator::state::SessionBackupState;
    use backup_coordinator::variant::Bug;
    for (design, kept) in [(Design::Pg15, true), (Design::Pg16, false)] {
        let variant = Variant {
            design,
            bug: Some(Bug::B10),
            file: None,
        };
        let config = Config {
            sql_sessions: 0,
            walsenders: 0,
            replication_sessions: 1,
            writers: 0,
            page_writes: 0,
            faults: 1,
            backups_per_session: 2,
            ..Config::default()
        };
        let mut c = Cluster::new(variant, config).unwrap();
        begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
        finish(&mut c, S0);
        assert_eq!(c.sessions[0].state, SessionBackupState::Running);
        begin(&mut c, S0, base_backup());
        run_to(&mut c, S0, Pc::StartWaitCheckpoint);
        c.apply(Action::Fault {
            session: S0,
            fault: Fault::Cancel,
        })
        .unwrap();
        assert_eq!(c.sessions[0].pc, Pc::Idle, "{design}");
        assert_eq!(
            c.sessions[0].state == SessionBackupState::Running,
            kept,
            "{design}: {:?}",
            c.sessions[0].state
        );
    }
}

/// 9.1's start-point check holds the insertion lock shared between the check and the set: a
/// fault's cleanup takes that lock exclusively, so no fault strikes any session while a
/// holder has it (the cleanup would wait), and every kind can strike again once it is given
/// back.
#[test]
fn no_fault_strikes_while_a_nine_one_start_holds_the_insertion_lock_shared() {
    let config = Config {
        sql_sessions: 0,
        walsenders: 2,
        writers: 0,
        page_writes: 0,
        faults: 1,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg91), config).unwrap();
    begin(&mut c, S0, base_backup());
    begin(&mut c, S1, base_backup());
    run_to(&mut c, S1, Pc::StartWaitCheckpoint);
    run_to(&mut c, S0, Pc::StartUniqueSet);
    assert_eq!(c.shared.insert_lock_sharers, 1);
    assert_eq!(c.sessions[1].pc, Pc::StartWaitCheckpoint);
    for fault in [Fault::Cancel, Fault::Disconnect] {
        assert!(
            !c.is_enabled(Action::Fault { session: S1, fault }),
            "{fault:?} while the lock is held shared"
        );
    }
    step(&mut c, S0);
    assert_eq!(c.shared.insert_lock_sharers, 0);
    for fault in [Fault::Cancel, Fault::Disconnect] {
        assert!(
            c.is_enabled(Action::Fault { session: S1, fault }),
            "{fault:?} once it is given back"
        );
    }
}

/// A change without a full-page image to a page last changed at or before the control file's
/// redo pointer is the first change after that redo point: a backup that would take it as its
/// start point (a standby's restartpoint) could copy the page torn, so the ghost marks the
/// redo point (`control_redo_torn`) until the next checkpoint moves it. A change to a page
/// already changed after the redo point marks nothing new.
#[test]
fn an_unimaged_first_change_after_the_redo_point_marks_it_torn_until_the_next_checkpoint() {
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        writers: 1,
        pages: 2,
        page_writes: 4,
        timed_checkpoints: 2,
        full_page_writes: false,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    let checkpoint = |c: &mut Cluster| {
        apply(c, Action::CheckpointBegin);
        apply(c, Action::CheckpointEnd);
    };
    checkpoint(&mut c);
    assert!(
        !c.ghost.control_redo_torn,
        "nothing changed since the redo point"
    );
    assert!(!write_page(&mut c, 0), "full_page_writes = off: no image");
    assert!(
        c.ghost.control_redo_torn,
        "page 0's first change after the redo point"
    );
    checkpoint(&mut c);
    assert!(!c.ghost.control_redo_torn, "a new redo point");
    assert!(!write_page(&mut c, 1));
    assert!(c.ghost.control_redo_torn, "page 1's first change after it");
}

/// The asserts of the seeded aborts hold where the real code's hold: B12's merged abort
/// asserts "during start XOR session running", which a start cancelled in its checkpoint wait
/// satisfies (during start, not running); B9's 9.6-12 abort asserts a non-exclusive backup
/// only outside a start, so the same cancelled start breaks no assertion there either.
#[test]
fn a_cancelled_start_breaks_no_assertion_of_the_seeded_aborts() {
    use backup_coordinator::variant::Bug;
    for bug in [Bug::B12, Bug::B9] {
        let config = Config {
            sql_sessions: 1,
            walsenders: 0,
            writers: 0,
            page_writes: 0,
            faults: 1,
            ..Config::default()
        };
        let mut c = Cluster::new(Variant::bug(bug), config).unwrap();
        begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
        run_to(&mut c, S0, Pc::StartWaitCheckpoint);
        c.apply(Action::Fault {
            session: S0,
            fault: Fault::Cancel,
        })
        .unwrap();
        assert_eq!(c.sessions[0].pc, Pc::Idle, "{bug}");
        assert_eq!(c.shared.backups, 0, "{bug}: the start's unit given back");
        assert_eq!(c.ghost.failed_assertion, None, "{bug}");
    }
}

/// An exclusive backup belongs to the cluster, not to the session that started it: when its
/// stop fails (an I/O error reading `backup_label`), the backup goes on and the session holds
/// nothing (so it is no idle holder a FATAL could end).
#[test]
fn a_failed_exclusive_stop_leaves_the_backup_running_and_the_session_holding_nothing() {
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        writers: 0,
        page_writes: 0,
        faults: 1,
        backups_per_session: 2,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg96), config).unwrap();
    begin(&mut c, S0, sql_start(BackupMode::Exclusive));
    finish(&mut c, S0);
    begin(
        &mut c,
        S0,
        Command::StopBackup {
            mode: BackupMode::Exclusive,
        },
    );
    run_to(&mut c, S0, Pc::StopReadLabel);
    c.apply(Action::Fault {
        session: S0,
        fault: Fault::Error,
    })
    .unwrap();
    assert_eq!(c.sessions[0].pc, Pc::Idle);
    assert_eq!(c.backups.len(), 1);
    assert_eq!(c.backups[0].phase, BackupPhase::Running);
    assert_eq!(c.shared.exclusive, ExclusiveState::InProgress);
    assert_eq!(c.sessions[0].backup, None, "the session holds nothing");
}

/// The shutdown checkpoint waits for every backend the shutdown signals to be gone (no
/// command running, nothing held) and for every page writer to have inserted what it
/// assembled, each alone: an idle session that holds a running non-exclusive backup keeps it
/// back until the shutdown's SIGTERM ends it; a writer between assembly and insertion keeps
/// it back until it inserts.
#[test]
fn the_shutdown_checkpoint_waits_for_idle_holders_and_assembled_changes() {
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        writers: 1,
        pages: 1,
        page_writes: 1,
        shutdowns: 1,
        ..Config::default()
    };
    let fresh = Cluster::new(Variant::of(Design::Pg15), config).unwrap();

    let mut c = fresh.clone();
    begin(&mut c, S0, sql_start(BackupMode::NonExclusive));
    finish(&mut c, S0);
    assert_eq!(c.sessions[0].pc, Pc::Idle);
    assert!(
        c.sessions[0].holds_anything(),
        "it holds its running backup"
    );
    apply(&mut c, Action::Shutdown);
    assert!(
        !c.is_enabled(Action::ShutdownCheckpoint),
        "an idle session holds a backup"
    );
    apply(&mut c, Action::Terminate { session: S0 });
    assert!(!c.sessions[0].holds_anything());
    assert!(
        c.is_enabled(Action::ShutdownCheckpoint),
        "the session is gone"
    );

    let mut c = fresh;
    apply(&mut c, Action::PageAssemble { writer: 0, page: 0 });
    apply(&mut c, Action::Shutdown);
    assert!(
        !c.is_enabled(Action::ShutdownCheckpoint),
        "a writer has a change assembled"
    );
    loop {
        match apply(&mut c, Action::PageInsert { writer: 0 }) {
            EventKind::PageWritten { .. } => break,
            EventKind::PageReassembled { .. } => continue,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(c.is_enabled(Action::ShutdownCheckpoint), "the change is in");
}

/// A fast shutdown ends a running exclusive backup with the server (9.6-14): its session is
/// terminated but the backup runs on to the end of the server; the postmaster renames its
/// `backup_label` as it exits (`CancelBackup`), and after the clean restart the backup is
/// lost, not running, and nothing of it is left.
#[test]
fn a_fast_shutdown_ends_a_running_exclusive_backup_which_is_lost_after_the_restart() {
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        writers: 0,
        page_writes: 0,
        shutdowns: 1,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg96), config).unwrap();
    begin(&mut c, S0, sql_start(BackupMode::Exclusive));
    finish(&mut c, S0);
    assert_eq!(c.backups[0].phase, BackupPhase::Running);
    assert!(c.data_dir.backup_label.is_some());
    apply(&mut c, Action::Shutdown);
    // The session keeps its exclusive session state: the SIGTERM ends it; the backup, which
    // belongs to the cluster, runs on to the end of the server.
    apply(&mut c, Action::Terminate { session: S0 });
    assert_eq!(c.backups[0].phase, BackupPhase::Running);
    apply(&mut c, Action::ShutdownCheckpoint);
    match apply(&mut c, Action::Restart) {
        EventKind::RestartedClean { label_renamed, .. } => assert!(label_renamed),
        other => panic!("{other}"),
    }
    assert!(c.backups.is_empty(), "the backup ended: {:?}", c.backups);
    assert!(c.data_dir.backup_label.is_none());
    assert_eq!(c.shared.exclusive, ExclusiveState::None);
}
