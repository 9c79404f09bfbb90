//! Owns the smallest bounds at which an exhaustive search finds each seeded historical bug
//! (PROTOCOL.md §6), and the property whose violation is the bug. Each configuration adds to an
//! empty cluster only what the bug needs: the sessions that race, the fault, the second
//! backup, the JIT query, the `replication=database` session, the standby. The core's tests
//! (`tests/exhaustive.rs`) and the model's check that each bug is found at these bounds and
//! that its base design is clean at the same bounds, so the finding is the bug's and nothing
//! else's; `backup-check mutants` reports it.

use crate::config::Config;
use crate::incremental::cluster::{IncrementalConfig, IncrementalProperty};
use crate::invariants::Property;
use crate::lsn::TimeLineId;
use crate::variant::Bug;

/// A cluster with nothing in it: one backup per session (and commands enough for two backups'
/// starts and stops), no fault, no crash, no page write.
fn empty() -> Config {
    Config {
        sql_sessions: 0,
        walsenders: 0,
        backups_per_session: 1,
        commands_per_session: 4,
        crashes: 0,
        faults: 0,
        writers: 0,
        pages: 1,
        page_writes: 0,
        ..Config::default()
    }
}

/// The smallest bounds that find `bug`, a bug of the coordinator, and the name of the property
/// its fix restores (`None` for a bug of incremental backup: [`incremental_bounds`]).
pub fn smallest_bounds(bug: Bug) -> Option<(Config, Property)> {
    let c = empty();
    Some(match bug {
        Bug::B14 | Bug::B15 | Bug::B16 | Bug::B17 | Bug::B18 | Bug::B19 => return None,
        // Two WAL senders whose checkpoint requests merge.
        Bug::B1 | Bug::B2 => (Config { walsenders: 2, ..c }, Property::UniqueStartPoints),
        // A client that vanishes while its WAL sender sends the start position.
        Bug::B3 => (
            Config {
                walsenders: 1,
                faults: 1,
                ..c
            },
            Property::UnitsReleasedOnce,
        ),
        // A backup taken on a standby that follows timeline 2 (its primary writing with
        // full_page_writes on, without which the standby refuses every start).
        Bug::B4 => (
            Config {
                walsenders: 1,
                standby: true,
                full_page_writes: true,
                timeline: TimeLineId(2),
                ..c
            },
            Property::StartPointIsRealWal,
        ),
        // A stop racing an exclusive start.
        Bug::B5 => (
            Config {
                sql_sessions: 2,
                ..c
            },
            Property::ForcingWhileBackupRuns,
        ),
        // A stop cancelled after its decrement (its session state is cleared only when the
        // stop function returns).
        Bug::B6 => (
            Config {
                sql_sessions: 1,
                ..c
            },
            Property::SessionStateMatchesUnit,
        ),
        // A stop cancelled after its decrement, then the session exits.
        Bug::B7 => (
            Config {
                sql_sessions: 1,
                faults: 2,
                ..c
            },
            Property::UnitsReleasedOnce,
        ),
        // A page change assembled before a backup raised forcing, inserted after.
        Bug::B8 => (
            Config {
                sql_sessions: 1,
                writers: 1,
                page_writes: 1,
                ..c
            },
            Property::NoTornPageInStoppedBackup,
        ),
        // Two backups in one session, a JIT query between, an exit.
        Bug::B9 => (
            Config {
                sql_sessions: 1,
                backups_per_session: 2,
                jit_queries: 1,
                faults: 1,
                ..c
            },
            Property::UnitsReleasedOnce,
        ),
        // A replication=database session that starts an SQL backup, then BASE_BACKUP.
        Bug::B10 => (
            Config {
                replication_sessions: 1,
                backups_per_session: 2,
                ..c
            },
            Property::SessionStateMatchesUnit,
        ),
        // The same session, a BASE_BACKUP after an SQL backup, terminated mid-copy.
        Bug::B11 => (
            Config {
                replication_sessions: 1,
                backups_per_session: 2,
                faults: 1,
                ..c
            },
            Property::UnitsReleasedOnce,
        ),
        // A base backup running while a fast shutdown writes its checkpoint.
        Bug::B13 => (
            Config {
                walsenders: 1,
                shutdowns: 1,
                ..c
            },
            Property::RestoreReachesConsistency,
        ),
        // A successful backup, then the session exits.
        Bug::B12 => (
            Config {
                sql_sessions: 1,
                faults: 1,
                ..c
            },
            Property::AssertionsHold,
        ),
    })
}

/// Incremental backup's cluster with nothing in it: four blocks, a full backup, a promotion
/// and an incremental backup, and no write, truncation, checkpoint or recreation.
fn empty_incremental() -> IncrementalConfig {
    IncrementalConfig {
        blocks: 4,
        primary_writes: 0,
        truncations: 0,
        primary_checkpoints: 0,
        standby_writes: 0,
        standby_truncations: 0,
        standby_checkpoints: 0,
        database_recreations: 0,
        on_primary: false,
        minimal_restarts: 0,
        summarizer_crashes: 0,
        archive_mode: false,
    }
}

/// The smallest bounds at which the incremental profiles' search finds `bug`, a bug of
/// incremental backup, and the property its fix restores (`None` for a bug of the
/// coordinator: [`smallest_bounds`]).
pub fn incremental_bounds(bug: Bug) -> Option<(IncrementalConfig, IncrementalProperty)> {
    let c = empty_incremental();
    Some(match bug {
        // Two redo points after the full backup's: the standby's summarizer writes a file
        // starting at the first, where replay stops and the standby is promoted.
        Bug::B14 => (
            IncrementalConfig {
                primary_checkpoints: 2,
                ..c
            },
            IncrementalProperty::SummariesOnHistory,
        ),
        // A write after the full backup, so that the promotion point can lie inside a
        // segment behind a record the summarizer has not read yet; archiving on the standby.
        Bug::B15 => (
            IncrementalConfig {
                primary_writes: 1,
                archive_mode: true,
                ..c
            },
            IncrementalProperty::BackupTaken,
        ),
        // A truncation of the heap after the full backup, to more than one block.
        Bug::B16 => (
            IncrementalConfig {
                truncations: 1,
                ..c
            },
            IncrementalProperty::ForkLengths,
        ),
        // The database recreated by file copy after the full backup.
        Bug::B17 => (
            IncrementalConfig {
                database_recreations: 1,
                ..c
            },
            IncrementalProperty::RestoreEqualsSource,
        ),
        // Both backups on the primary, a restart at wal_level = minimal between them with a
        // write that skips WAL.
        Bug::B18 => (
            IncrementalConfig {
                primary_writes: 1,
                on_primary: true,
                minimal_restarts: 1,
                ..c
            },
            IncrementalProperty::RestoreEqualsSource,
        ),
        // Two redo points after the full backup's: the summarizer, reading ahead of replay,
        // writes a file ending at the second, beyond the promotion point at the first.
        Bug::B19 => (
            IncrementalConfig {
                primary_checkpoints: 2,
                ..c
            },
            IncrementalProperty::BackupTaken,
        ),
        _ => return None,
    })
}

/// `config` with what `bug` needs to exist at all: a standby for B4 (of a primary writing
/// with full_page_writes on), JIT queries for B9, a
/// `replication=database` session for B10 and B11, a fast shutdown for B13.
pub fn with_mechanism(bug: Bug, config: Config) -> Config {
    match bug {
        Bug::B4 => Config {
            standby: true,
            full_page_writes: true,
            timeline: TimeLineId(2),
            page_writes: 0,
            writers: 0,
            ..config
        },
        Bug::B9 => Config {
            jit_queries: config.jit_queries.max(1),
            ..config
        },
        Bug::B10 | Bug::B11 => Config {
            replication_sessions: config.replication_sessions.max(1),
            ..config
        },
        Bug::B13 => Config {
            shutdowns: config.shutdowns.max(1),
            ..config
        },
        _ => config,
    }
}
