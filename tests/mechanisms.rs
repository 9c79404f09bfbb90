//! The mechanisms the seeded historical bugs live in, tested for every design: a session's
//! `before_shmem_exit` stack (cancel removes only the newest callback), sessions that are both
//! SQL sessions and WAL senders (`replication=database`), JIT queries that register their own
//! exit callback, and backups taken on a standby.

use backup_coordinator::action::{Action, Command, EventKind, StepError};
use backup_coordinator::invariants::check_all;
use backup_coordinator::label::LabelKind;
use backup_coordinator::lsn::TimeLineId;
use backup_coordinator::state::{BackupMode, Hook, Hooks, SessionId};
use backup_coordinator::{Cluster, Config, Design, Variant};

fn begin(session: u8, command: Command) -> Action {
    Action::Begin {
        session: SessionId(session),
        command,
    }
}

const SQL_START: Command = Command::StartBackup {
    mode: BackupMode::NonExclusive,
    label: LabelKind::Plain,
};
const BASE_BACKUP: Command = Command::BaseBackup {
    label: LabelKind::Plain,
};

/// Runs every enabled step of `session` and the checkpointer until the session is idle.
fn finish(c: &mut Cluster, session: u8) -> Vec<EventKind> {
    let mut events = Vec::new();
    for _ in 0..200 {
        let step = Action::Step {
            session: SessionId(session),
        };
        let action = [step, Action::CheckpointBegin, Action::CheckpointEnd]
            .into_iter()
            .find(|a| c.is_enabled(*a));
        let Some(action) = action else { break };
        events.push(c.apply(action).unwrap().kind);
    }
    events
}

#[test]
fn cancel_before_shmem_exit_removes_only_the_newest_callback() {
    let mut hooks = Hooks::default();
    assert!(hooks.is_empty());
    hooks.push(Hook::AbortBackup);
    hooks.push(Hook::Jit);
    assert!(!hooks.cancel(Hook::AbortBackup), "not the newest: stays");
    assert!(hooks.contains(Hook::AbortBackup));
    assert_eq!(hooks.pop(), Some(Hook::Jit), "exit runs the newest first");
    assert!(hooks.cancel(Hook::AbortBackup), "now the newest: removed");
    assert!(hooks.is_empty());
    assert_eq!(hooks.pop(), None);
}

#[test]
fn a_replication_session_runs_sql_backups_and_base_backups_but_not_both_at_once() {
    let config = Config {
        sql_sessions: 0,
        walsenders: 0,
        replication_sessions: 1,
        backups_per_session: 2,
        commands_per_session: 5,
        ..Config::default()
    };
    for design in [Design::Pg15, Design::Recommended] {
        let mut c = Cluster::new(Variant::of(design), config).unwrap();
        let offered = c.actions();
        assert!(offered.contains(&begin(0, SQL_START)), "{design}");
        assert!(offered.contains(&begin(0, BASE_BACKUP)), "{design}");
        c.apply(begin(0, SQL_START)).unwrap();
        finish(&mut c, 0);
        // Since `ee79647769` BASE_BACKUP is refused while the session's SQL backup runs.
        let refused = c.apply(begin(0, BASE_BACKUP)).unwrap().kind;
        assert_eq!(
            refused,
            EventKind::CommandRejected {
                command: BASE_BACKUP,
                error: StepError::BackupInProgressInSession
            },
            "{design}"
        );
        assert!(check_all(&c).is_empty(), "{design}: {:?}", check_all(&c));
    }
}

#[test]
fn a_jit_query_registers_a_callback_above_the_backup_exit_hook() {
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        jit_queries: 1,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg15), config).unwrap();
    c.apply(begin(0, SQL_START)).unwrap();
    finish(&mut c, 0);
    let event = c.apply(begin(0, Command::JitQuery)).unwrap().kind;
    assert_eq!(event, EventKind::JitCallbackRegistered);
    let hooks = c.sessions[0].hooks;
    assert!(hooks.contains(Hook::AbortBackup) && hooks.contains(Hook::Jit));
    assert!(
        !c.is_enabled(begin(0, Command::JitQuery)),
        "the budget is spent"
    );
    // A persistent hook (13+) does nothing harmful whatever is above it: the backup still
    // stops and the session exits cleanly.
    c.apply(begin(
        0,
        Command::StopBackup {
            mode: BackupMode::NonExclusive,
        },
    ))
    .unwrap();
    finish(&mut c, 0);
    assert!(check_all(&c).is_empty(), "{:?}", check_all(&c));
}

#[test]
fn a_standby_backup_names_its_checkpoints_timeline_and_writes_no_end_record_or_history() {
    let config = Config {
        sql_sessions: 1,
        walsenders: 1,
        standby: true,
        full_page_writes: true,
        timeline: TimeLineId(2),
        page_writes: 0,
        writers: 0,
        ..Config::default()
    };
    for design in [Design::Pg96, Design::Pg15, Design::Recommended] {
        let mut c = Cluster::new(Variant::of(design), config).unwrap();
        // No exclusive backup on a standby ("recovery is in progress").
        let exclusive = Command::StartBackup {
            mode: BackupMode::Exclusive,
            label: LabelKind::Plain,
        };
        assert!(
            !c.is_enabled(begin(0, exclusive)) || {
                let mut probe = c.clone();
                matches!(
                    probe.apply(begin(0, exclusive)).unwrap().kind,
                    EventKind::CommandRejected {
                        error: StepError::RecoveryInProgress,
                        ..
                    }
                )
            },
            "{design}"
        );
        c.apply(begin(1, BASE_BACKUP)).unwrap();
        let events = finish(&mut c, 1);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, EventKind::WalSwitched { .. })),
            "{design}: no WAL switch in recovery"
        );
        assert!(c.wal.end_records.is_empty(), "{design}: no end record");
        assert!(c.data_dir.history.is_empty(), "{design}: no history file");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EventKind::BackupStopped { .. })),
            "{design}: the backup stopped: {events:?}"
        );
        assert!(check_all(&c).is_empty(), "{design}: {:?}", check_all(&c));
    }
}

#[test]
fn a_standby_refuses_page_writes_of_its_own_in_its_configuration() {
    let config = Config {
        standby: true,
        page_writes: 1,
        ..Config::default()
    };
    assert!(config.validate().is_err());
}
