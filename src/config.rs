//! Bounds and settings of a run ([`Config`]): how many sessions of each kind, how many
//! backups, crashes, faults, page writes and checkpoints may happen, and the server settings
//! that matter (full_page_writes, archive_mode). One state type serves the exhaustive model
//! (small bounds) and long simulator runs (large bounds).

use crate::lsn::{TimeLineId, WalSegmentSize};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Most sessions a cluster may have.
pub const SESSIONS_MAX: usize = 64;
/// Most pages a cluster may have.
pub const PAGES_MAX: usize = 64;
/// Most page-writing backends a cluster may have.
pub const WRITERS_MAX: usize = 16;

/// Which faults the environment may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultKinds {
    /// An ERROR at a step that does I/O (a file write or read fails, a send to the client fails).
    pub errors: bool,
    /// A query cancel while a session waits (for a checkpoint or for archiving).
    pub cancels: bool,
    /// The client disconnects or the backend is terminated (FATAL at the next interrupt check,
    /// or while the session sits idle holding a backup).
    pub disconnects: bool,
}

impl FaultKinds {
    /// Every kind.
    pub const ALL: FaultKinds = FaultKinds {
        errors: true,
        cancels: true,
        disconnects: true,
    };
    /// None.
    pub const NONE: FaultKinds = FaultKinds {
        errors: false,
        cancels: false,
        disconnects: false,
    };
}

/// The bounds and settings of one cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// SQL sessions (`pg_start_backup` / `pg_backup_start`); they come first in session order.
    pub sql_sessions: u8,
    /// WAL senders (`BASE_BACKUP`); they follow the SQL sessions.
    pub walsenders: u8,
    /// `replication=database` sessions, which run both SQL backup functions and
    /// `BASE_BACKUP`; they follow the WAL senders.
    #[serde(default)]
    pub replication_sessions: u8,
    /// Backups each session may start.
    pub backups_per_session: u32,
    /// Crashes (each followed by restart and crash recovery).
    pub crashes: u32,
    /// Faults injected in all, of the kinds in `fault_kinds`.
    pub faults: u32,
    /// Which faults.
    pub fault_kinds: FaultKinds,
    /// Backends that write pages (each holds one page's buffer lock while it writes).
    pub writers: u8,
    /// Pages in the cluster.
    pub pages: u8,
    /// Page writes in all.
    pub page_writes: u32,
    /// Checkpoints that start on their own (timed), beyond those backups request.
    pub timed_checkpoints: u32,
    /// WAL switches requested by someone else (`pg_switch_wal()`, archive_timeout). On a
    /// standby: WAL replayed from the primary up to the next segment.
    pub wal_switches: u32,
    /// Queries whose JIT compilation registers its own exit callback (SQL sessions).
    #[serde(default)]
    pub jit_queries: u32,
    /// Times other backends' WAL fills a segment up to one backup-end record's room before
    /// its end (segment boundaries).
    #[serde(default)]
    pub wal_fills: u32,
    /// Fast shutdowns (each followed by the shutdown checkpoint and a clean restart).
    #[serde(default)]
    pub shutdowns: u32,
    /// OS crashes (power loss): like a crash, and what was not made durable is lost at worst:
    /// WAL not flushed, files not fsynced or whose name's directory was not fsynced; a removal
    /// whose directory was not fsynced is undone.
    #[serde(default)]
    pub os_crashes: u32,
    /// The cluster is a standby in recovery: backups are taken from it, with no WAL switch, no
    /// end record and no history file; exclusive backups are refused; no page writes.
    #[serde(default)]
    pub standby: bool,
    /// The `full_page_writes` setting. Off by default so that forcing is what protects backups.
    pub full_page_writes: bool,
    /// `archive_mode`: stop waits for its history file and last segment to be archived.
    pub archive_mode: bool,
    /// `archive_command` fails every time (with `archive_mode`): a stop that waits for
    /// archiving waits until it is cancelled or its backend terminated, as PostgreSQL's does
    /// (and once cancelled, its backup has stopped already: a second stop finds none).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archive_fails: bool,
    /// Times the standby's primary turns `full_page_writes` off while the standby runs (a
    /// standby only): each is replayed as an `XLOG_FPW_CHANGE` record, which sets
    /// `lastFpwDisableRecPtr`, so that a backup running across it fails at its stop.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub primary_fpw_offs: u32,
    /// Backups ask for an immediate checkpoint (`fast`).
    pub fast_checkpoint: bool,
    /// Offer exclusive backups where the design has them.
    pub exclusive_backups: bool,
    /// Offer every [`crate::label::LabelKind`] at start, not only plain labels.
    pub hostile_labels: bool,
    /// Commands each session's client may send, refused or not (starts, stops, `BASE_BACKUP`):
    /// every command the design's API has is offered in every state of an idle session while
    /// this budget lasts, so the server's own refusals are exercised. The stop a careful
    /// client owes (of the backup it started, or of the running exclusive backup) is always
    /// offered, whatever is left of the budget, so that no backup is stranded by it.
    #[serde(default = "default_commands")]
    pub commands_per_session: u32,
    /// WAL segment size.
    pub wal_segment_size: WalSegmentSize,
    /// The cluster's timeline.
    pub timeline: TimeLineId,
}

impl Default for Config {
    /// Two SQL sessions and one WAL sender, one backup each and two commands each besides the
    /// stops they owe (a start and one more, refused or not), no crashes or faults, one page
    /// writer with two pages and two writes.
    fn default() -> Self {
        Config {
            sql_sessions: 2,
            walsenders: 1,
            replication_sessions: 0,
            backups_per_session: 1,
            crashes: 0,
            faults: 0,
            fault_kinds: FaultKinds::ALL,
            writers: 1,
            pages: 2,
            page_writes: 2,
            timed_checkpoints: 0,
            wal_switches: 0,
            jit_queries: 0,
            wal_fills: 0,
            shutdowns: 0,
            os_crashes: 0,
            standby: false,
            full_page_writes: false,
            archive_mode: true,
            archive_fails: false,
            primary_fpw_offs: 0,
            fast_checkpoint: true,
            exclusive_backups: true,
            hostile_labels: false,
            commands_per_session: 2,
            wal_segment_size: WalSegmentSize::DEFAULT,
            timeline: TimeLineId(1),
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn default_commands() -> u32 {
    Config::default().commands_per_session
}

/// A configuration the core cannot run.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// `primary_fpw_offs` without a standby: only a standby replays its primary's change.
    #[error("primary_fpw_offs needs standby: only a standby replays its primary's full_page_writes change")]
    FpwOffsWithoutStandby,
    /// `archive_fails` without `archive_mode`: nothing is archived, so nothing can fail.
    #[error("archive_fails needs archive_mode: without archiving nothing is archived")]
    ArchiveFailsWithoutArchiving,
    /// No session at all, or too many.
    #[error("sessions: {0} SQL sessions + WAL senders; expected 1 to {SESSIONS_MAX}")]
    Sessions(usize),
    /// Too many pages.
    #[error("pages: {0}; expected at most {PAGES_MAX}")]
    Pages(u8),
    /// Too many writers.
    #[error("writers: {0}; expected at most {WRITERS_MAX}")]
    Writers(u8),
    /// Writers without pages.
    #[error("writers: {0} page writers but no pages to write")]
    WritersWithoutPages(u8),
    /// Timeline 0 does not exist.
    #[error("timeline: 0 is not a valid timeline")]
    Timeline,
    /// More JIT callbacks than a session's hook stack holds.
    #[error("jit_queries: {0}; expected at most {max}", max = crate::state::HOOKS_MAX - 1)]
    JitQueries(u32),
    /// A standby replays page changes; it makes none of its own.
    #[error("standby: a standby makes no page writes of its own (page_writes must be 0)")]
    StandbyPageWrites,
}

impl Config {
    /// Total number of sessions.
    pub fn sessions(&self) -> usize {
        usize::from(self.sql_sessions)
            + usize::from(self.walsenders)
            + usize::from(self.replication_sessions)
    }

    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.archive_fails && !self.archive_mode {
            return Err(ConfigError::ArchiveFailsWithoutArchiving);
        }
        if self.primary_fpw_offs > 0 && !self.standby {
            return Err(ConfigError::FpwOffsWithoutStandby);
        }
        let sessions = self.sessions();
        if sessions == 0 || sessions > SESSIONS_MAX {
            return Err(ConfigError::Sessions(sessions));
        }
        if usize::from(self.pages) > PAGES_MAX {
            return Err(ConfigError::Pages(self.pages));
        }
        if usize::from(self.writers) > WRITERS_MAX {
            return Err(ConfigError::Writers(self.writers));
        }
        if self.writers > 0 && self.pages == 0 {
            return Err(ConfigError::WritersWithoutPages(self.writers));
        }
        if self.timeline.0 == 0 {
            return Err(ConfigError::Timeline);
        }
        if self.jit_queries as usize >= crate::state::HOOKS_MAX {
            return Err(ConfigError::JitQueries(self.jit_queries));
        }
        if self.standby && self.page_writes > 0 {
            return Err(ConfigError::StandbyPageWrites);
        }
        Ok(())
    }
}
