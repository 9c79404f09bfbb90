//! Incremental backup's rules (PostgreSQL 17+, ../shared/INCREMENTAL.md): block reference
//! tables and how they fold ([`blkreftable`]), WAL summary files and how `BASE_BACKUP
//! (INCREMENTAL)` checks, chooses and merges them ([`summary`]), which blocks each relation
//! file sends ([`send`]), and how `pg_combinebackup` rebuilds a file from a chain
//! ([`combine`]), and what one summary file holds ([`walsummarizer`]). Pure functions over small values, as 17.11 and 18.6 run them (neither has
//! the fix of `f549ecd266`); the steps that move a cluster (the summarizer, timelines and
//! promotion, the backups) apply these rules and are built on them ([`cluster`]), and the
//! threaded driver runs those steps under real locks ([`driver`]).

pub mod blkreftable;
pub mod cluster;
pub mod combine;
pub mod driver;
pub mod send;
pub mod summary;
pub mod walsummarizer;

pub use blkreftable::{BlockRefEntry, BlockRefTable, BlockSet, Fork, ForkKey, RelNumber};
pub use combine::{reconstruct, BackupFile, CombineError, PageContent};
pub use send::{file_backup_method, FileBackupMethod, BLCKSZ, RELSEG_SIZE};
pub use summary::{
    filter_wal_summaries, get_wal_summaries, prepare_incremental, wal_summaries_are_complete,
    IncrementalError, ManifestRange, MergeOrder, Prepared, SummarySelection, TimelineEntry,
    WalSummary,
};
pub use walsummarizer::{
    summarize_wal, BoundaryKind, Building, Read, RecordKind, Summarized, SummarizerRules, WalRecord,
};
