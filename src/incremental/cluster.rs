//! A primary and its streaming standby with WAL summarization on, as incremental backup sees
//! them (INCREMENTAL.md §4): one relation's main fork, the primary's WAL on timeline 1, the
//! standby receiving it, summarizing what it received (ahead of replay), replaying it, and
//! promoted at its replay point (timeline 2 from there, the old timeline's WAL beyond it
//! abandoned); a full backup on the primary, and an incremental backup on the promoted standby
//! with the full backup's manifest, rebuilt by the combine and judged against the standby's
//! pages. A sans-IO state machine like [`crate::Cluster`]: a plain hashable value, the enabled
//! actions in a fixed order, one atomic step per action. The rules applied are the pure
//! functions of the sibling modules.

use super::blkreftable::BlockOutOfRange;
use super::blkreftable::{Fork, ForkKey, RelNumber};
use super::combine::{reconstruct, BackupFile, CombineError, PageContent};
use super::send::{file_backup_method, FileBackupMethod, BLCKSZ};
use super::summary::{
    prepare_incremental, IncrementalError, ManifestRange, MergeOrder, SummarySelection,
    TimelineEntry, WalSummary,
};
use super::walsummarizer::{
    BoundaryKind, Building, Read, RecordKind, SummarizerRules, WalRecord, HEAPBLOCKS_PER_VM_PAGE,
};
use crate::lsn::{Lsn, TimeLineId};
use smallvec::SmallVec;
use std::fmt;
use thiserror::Error;

/// The relation every write touches.
pub const RELATION: ForkKey = ForkKey {
    relation: RelNumber(1),
    fork: Fork::Main,
};

/// The relation's visibility map. Its length follows the heap's: one VM page covers
/// [`HEAPBLOCKS_PER_VM_PAGE`] heap blocks, so any heap of the model's size has a one-page map
/// (none once truncated to nothing), and a truncation of the heap truncates it to that length.
/// Its contents are not modelled (the incremental backup's E2 reads its length only).
pub const VISIBILITY_MAP: ForkKey = ForkKey {
    relation: RelNumber(1),
    fork: Fork::Vm,
};

/// The visibility map's length for a heap of `heap_blocks` blocks.
pub fn vm_blocks(heap_blocks: usize) -> usize {
    (heap_blocks as u32).div_ceil(HEAPBLOCKS_PER_VM_PAGE) as usize
}

/// Bytes each WAL record takes here (every record begins where the previous one ends)...
const RECORD_BYTES: u64 = 0x10;
/// ...but an end-of-recovery record, larger in PostgreSQL too (its payload holds two timeline
/// IDs and a time): so a position on the old timeline beyond the switch point is in general
/// no record boundary on the new one (INCREMENTAL.md §3 I6).
const END_OF_RECOVERY_BYTES: u64 = 0x18;
/// Where timeline 1's first record, the initial redo point, begins.
const FIRST_RECORD: Lsn = Lsn(0x100);
/// The WAL segment size here: two records (a real segment holds thousands of them; what
/// matters is that a promotion point may fall inside a segment or at its start, and that the
/// summarizer may still be one segment behind).
pub const SEGMENT_BYTES: u64 = 0x20;

/// The number of the WAL segment that holds byte `at`.
pub fn segment_of(at: Lsn) -> u64 {
    at.0 / SEGMENT_BYTES
}

/// The old timeline's segment a promotion at `switch` renames with the suffix `.partial`
/// (segments of `segment_bytes`): the one holding the switch point, when archiving is on and
/// the switch point lies inside it (at a segment's first byte the old timeline has no partly
/// filled segment). Its WAL up to the switch point is in the new timeline's file of the same
/// number. The conformance suite holds real servers to this rule.
pub fn renamed_partial_at_promotion(
    archive_mode: bool,
    switch: Lsn,
    segment_bytes: u64,
) -> Option<u64> {
    (archive_mode && switch.0 % segment_bytes != 0).then_some(switch.0 / segment_bytes)
}

/// The rules a design applies.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct IncrementalRules {
    /// What a summary file holds.
    pub summarizer: SummarizerRules,
    /// Which summaries an incremental backup uses.
    pub selection: SummarySelection,
    /// The order it merges them in.
    pub order: MergeOrder,
}

impl IncrementalRules {
    /// 17.11 and 18.6 as released.
    pub const RELEASED: IncrementalRules = IncrementalRules {
        summarizer: SummarizerRules::RELEASED,
        selection: SummarySelection::Released,
        order: MergeOrder::Released,
    };
    /// With every known fix, I1's built from its description.
    pub const FIXED: IncrementalRules = IncrementalRules {
        summarizer: SummarizerRules::RELEASED,
        selection: SummarySelection::WithinHistory,
        order: MergeOrder::Released,
    };
    /// The fixed rules, a summarizer that drops what it read beyond a switch point
    /// (`SummarizerRules::reread_at_switch`), and summaries merged in WAL order
    /// (`MergeOrder::Wal`): this project's recommendation.
    pub const RECOMMENDED: IncrementalRules = IncrementalRules {
        summarizer: SummarizerRules {
            reread_at_switch: true,
            ..SummarizerRules::RELEASED
        },
        selection: SummarySelection::WithinHistory,
        order: MergeOrder::Wal,
    };
}

/// Bounds: how much of each kind of step a run may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncrementalConfig {
    /// The relation's length at the start, in blocks.
    pub blocks: u8,
    /// Page writes on the primary (a write at the fork's end extends it).
    pub primary_writes: u8,
    /// Truncations on the primary.
    pub truncations: u8,
    /// Checkpoints on the primary (each a redo record: a summary boundary).
    pub primary_checkpoints: u8,
    /// Page writes on the standby once promoted.
    pub standby_writes: u8,
    /// Truncations on the standby once promoted.
    pub standby_truncations: u8,
    /// Checkpoints on the standby once promoted (summary boundaries on timeline 2).
    pub standby_checkpoints: u8,
    /// Times the primary drops the relation's database and creates it again from its template
    /// (`STRATEGY = FILE_COPY`: the files are copied at file level, one WAL record, no block
    /// references; the same relation file reappears with the template's contents).
    pub database_recreations: u8,
    /// The incremental backup is taken on the primary, which summarizes its own WAL: no
    /// standby, no promotion (the only way to meet WAL written at `wal_level = minimal`, which
    /// a standby cannot replay).
    pub on_primary: bool,
    /// Times the primary (with [`IncrementalConfig::on_primary`]) restarts with `wal_level =
    /// minimal` and later back with `replica` (`XLOG_PARAMETER_CHANGE` records saying so);
    /// meanwhile its writes may skip WAL (no block references), and no backup can run.
    pub minimal_restarts: u8,
    /// Times the WAL summarizer fails (an ERROR, or its process dies) and starts again: what it
    /// was building in memory is lost and its position is recomputed from disk
    /// (`GetOldestUnsummarizedLSN`).
    pub summarizer_crashes: u8,
    /// The standby runs with `archive_mode = on`: at its promotion, the old timeline's last
    /// segment, if the switch point lies inside it, is renamed with the suffix `.partial`
    /// (and archived so), since the primary may still complete and archive the same name; the
    /// new timeline's file of that segment holds the old timeline's WAL up to the switch
    /// point. So the old timeline's file of that segment is gone from `pg_wal`: the case of
    /// INCREMENTAL.md §3 I2 (`3e8a0c1b02`, whose test reaches it on a cascading standby fed
    /// from the archive, which never had the file).
    pub archive_mode: bool,
}

impl Default for IncrementalConfig {
    /// INCREMENTAL.md §4's bounds for I1: four blocks, one truncation, two checkpoints, one
    /// write on each side.
    fn default() -> Self {
        IncrementalConfig {
            blocks: 4,
            primary_writes: 1,
            truncations: 1,
            primary_checkpoints: 2,
            standby_writes: 1,
            standby_truncations: 0,
            standby_checkpoints: 0,
            database_recreations: 0,
            on_primary: false,
            minimal_restarts: 0,
            summarizer_crashes: 0,
            archive_mode: false,
        }
    }
}

/// One WAL record and, for a page write, the version it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rec {
    /// The record.
    pub record: WalRecord,
    /// The page version a write puts in its block.
    pub version: u16,
}

/// One timeline's WAL: `[begin, end)` of the history, its records.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timeline {
    /// The timeline.
    pub tli: TimeLineId,
    /// Where it begins.
    pub begin: Lsn,
    /// Where the next timeline begins (the promotion point), once there is one.
    pub end: Option<Lsn>,
    /// Its records, in LSN order (on timeline 1, those beyond `end` were abandoned).
    pub records: SmallVec<[Rec; 8]>,
}

impl Timeline {
    fn insert(&self) -> Lsn {
        self.records.last().map_or(self.begin, |r| r.record.end)
    }

    fn append(&mut self, kind: RecordKind, version: u16) -> WalRecord {
        let at = self.insert();
        let record = WalRecord {
            at,
            end: Lsn(at.0
                + if matches!(
                    kind,
                    RecordKind::Boundary {
                        kind: BoundaryKind::EndOfRecovery,
                        ..
                    }
                ) {
                    END_OF_RECOVERY_BYTES
                } else {
                    RECORD_BYTES
                }),
            kind,
        };
        self.records.push(Rec { record, version });
        record
    }

    fn record_at(&self, at: Lsn) -> Option<&Rec> {
        self.records.iter().find(|r| r.record.at == at)
    }
}

/// The full backup taken on the primary.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FullBackup {
    /// Its start point (the redo record of its checkpoint).
    pub start: Lsn,
    /// Its manifest's WAL range.
    pub range: ManifestRange,
    /// The relation's pages it holds (copied at its start).
    pub pages: SmallVec<[PageContent; 8]>,
}

/// The incremental backup on the promoted standby.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IncrementalBackup {
    /// Started at this redo point (with the standby's pages then, the source it must
    /// restore), waiting for the summarizer to pass it.
    Waiting {
        /// Its start point.
        start: Lsn,
        /// The standby's pages at its start.
        source: SmallVec<[PageContent; 8]>,
    },
    /// The server refused it.
    Refused(IncrementalError),
    /// Taken, but `pg_combinebackup` refused the chain.
    CombineFailed(CombineError),
    /// Taken, combined with the full backup, and rebuilt.
    Rebuilt {
        /// Its start point.
        start: Lsn,
        /// The source's pages at its start.
        source: SmallVec<[PageContent; 8]>,
        /// The rebuilt pages.
        rebuilt: SmallVec<[PageContent; 8]>,
        /// The summaries merged: `(tli, start, end)`, in merge order.
        used: SmallVec<[(TimeLineId, Lsn, Lsn); 4]>,
        /// The blocks sent (`None`: the whole file).
        sent: Option<u64>,
        /// The visibility map's length at the source, and as the combine rebuilt it.
        vm_lengths: (u8, u8),
    },
}

/// The state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncrementalCluster {
    /// The rules.
    pub rules: IncrementalRules,
    /// The bounds.
    pub config: IncrementalConfig,
    /// Timeline 1 (the primary's) and, once promoted, timeline 2 (the standby's).
    pub timelines: SmallVec<[Timeline; 2]>,
    /// The primary's pages.
    pub primary: SmallVec<[PageContent; 8]>,
    /// The standby's pages (as replayed, then as written once promoted).
    pub standby: SmallVec<[PageContent; 8]>,
    /// The end of the WAL the standby has received and flushed (timeline 1).
    pub received: Lsn,
    /// The end of the WAL it has replayed.
    pub replayed: Lsn,
    /// Promoted: timeline 2 exists.
    pub promoted: bool,
    /// The standby's summarizer: the file it is building.
    pub summarizing: Building,
    /// The summary files in the standby's `pg_wal/summaries`, in the order written (the
    /// order the model's directory read returns them in).
    pub summaries: SmallVec<[WalSummary; 4]>,
    /// The full backup, once taken.
    pub full: Option<FullBackup>,
    /// The incremental backup, once begun.
    pub incremental: Option<IncrementalBackup>,
    /// Budgets used: primary writes, truncations, checkpoints; standby writes, truncations,
    /// checkpoints; database recreations; restarts at `wal_level = minimal`; summarizer
    /// crashes.
    pub used: [u8; 9],
    /// The primary runs at `wal_level = minimal` now.
    pub minimal: bool,
    /// Page versions written so far (each write a new one).
    pub versions: u16,
    /// The WAL segment the summarizer's reader has open: the timeline it asked for and the
    /// segment number (an open file stays readable after it is renamed). Kept only where a
    /// file it needs can be missing: with [`IncrementalConfig::archive_mode`] and a
    /// summarizer without `segment_on_descendants`.
    pub summarizer_segment: Option<(TimeLineId, u64)>,
}

/// One atomic step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IncrementalAction {
    /// The primary writes a block (one past the end extends the fork).
    PrimaryWrite {
        /// The block.
        block: u8,
    },
    /// The primary truncates the relation to `blocks`.
    PrimaryTruncate {
        /// The new length.
        blocks: u8,
    },
    /// The primary checkpoints: a redo record.
    PrimaryCheckpoint,
    /// The primary drops the relation's database and creates it again from its template by
    /// file copy: the relation's file is the template's (every block a new version, the
    /// template's length), written with one `XLOG_DBASE_CREATE_FILE_COPY` record and no block
    /// references.
    PrimaryRecreateDatabase,
    /// The primary restarts with `wal_level = minimal` (an `XLOG_PARAMETER_CHANGE` record
    /// saying so): its writes now skip WAL, and no backup can run.
    PrimaryRestartMinimal,
    /// The primary restarts with `wal_level = replica` again.
    PrimaryRestartReplica,
    /// A full backup on the primary: its checkpoint's redo record, its copy, its manifest.
    FullBackup,
    /// The standby receives and flushes the primary's next record.
    Receive,
    /// The standby replays its next received record.
    Replay,
    /// The standby is promoted at its replay point (recovery stopped there: a recovery target,
    /// then `pg_promote()`): timeline 2 begins with an end-of-recovery record. The standby
    /// stands for one made from the full backup, so it is promoted only once it has replayed
    /// to that backup's end.
    Promote,
    /// The promoted standby writes a block.
    StandbyWrite {
        /// The block.
        block: u8,
    },
    /// The promoted standby truncates the relation to `blocks`.
    StandbyTruncate {
        /// The new length.
        blocks: u8,
    },
    /// The promoted standby checkpoints: a redo record.
    StandbyCheckpoint,
    /// The standby's summarizer takes one step: reads a record, writes a file, or moves to
    /// the next timeline.
    Summarize,
    /// The summarizer fails and starts again (INCREMENTAL.md §2.2): the file it was building
    /// is lost; it starts over on the oldest timeline of the history whose WAL is still
    /// there (all of it is, here: timeline 1), at the end of the last summary of that
    /// timeline, or at the start of its WAL if there is none.
    SummarizerRestart,
    /// `BASE_BACKUP (INCREMENTAL)` on the promoted standby with the full backup's manifest:
    /// its checkpoint's redo record.
    IncrementalStart,
    /// Its wait for the summarizer fails: the summarizer cannot move (nothing it could read
    /// next), and after six 10-second cycles without progress the server gives up ("WAL
    /// summarization is not progressing").
    IncrementalWaitFails,
    /// Its wait for the summarizer ends; the summaries are chosen (the directory read
    /// returning the files in `listing` order) and merged, the relation sent, and the chain
    /// combined.
    IncrementalFinish {
        /// The order the directory read returns the summary files in.
        listing: Listing,
    },
}

/// The order a directory read returns `pg_wal/summaries` in: the server does not sort it, and
/// file systems differ (creation order, its reverse, hash order), so the model tries both
/// ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Listing {
    /// The order the files were written in.
    Written,
    /// Newest first.
    Reversed,
}

impl fmt::Display for IncrementalAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IncrementalAction::PrimaryWrite { block } => write!(f, "primary writes block {block}"),
            IncrementalAction::PrimaryTruncate { blocks } => {
                write!(f, "primary truncates the relation to {blocks} blocks")
            }
            IncrementalAction::PrimaryCheckpoint => write!(f, "primary checkpoint"),
            IncrementalAction::PrimaryRecreateDatabase => write!(
                f,
                "primary drops the database and creates it again from its template (file copy)"
            ),
            IncrementalAction::PrimaryRestartMinimal => {
                write!(f, "primary restarts with wal_level = minimal")
            }
            IncrementalAction::PrimaryRestartReplica => {
                write!(f, "primary restarts with wal_level = replica")
            }
            IncrementalAction::FullBackup => write!(f, "full backup on the primary"),
            IncrementalAction::Receive => write!(f, "standby receives a record"),
            IncrementalAction::Replay => write!(f, "standby replays a record"),
            IncrementalAction::Promote => write!(f, "standby promoted"),
            IncrementalAction::StandbyWrite { block } => write!(f, "standby writes block {block}"),
            IncrementalAction::StandbyTruncate { blocks } => {
                write!(f, "standby truncates the relation to {blocks} blocks")
            }
            IncrementalAction::StandbyCheckpoint => write!(f, "standby checkpoint"),
            IncrementalAction::Summarize => write!(f, "summarizer step"),
            IncrementalAction::SummarizerRestart => write!(f, "summarizer fails and restarts"),
            IncrementalAction::IncrementalStart => write!(f, "incremental backup starts"),
            IncrementalAction::IncrementalWaitFails => write!(
                f,
                "incremental backup's wait for the summarizer fails (no progress for 60 s)"
            ),
            IncrementalAction::IncrementalFinish { listing } => write!(
                f,
                "incremental backup finishes (summaries listed {})",
                match listing {
                    Listing::Written => "in the order written",
                    Listing::Reversed => "newest first",
                }
            ),
        }
    }
}

/// A step that is not enabled, or a fork larger than the model holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum IncrementalStepError {
    /// The action is not enabled in this state.
    #[error("{0} is not enabled")]
    NotEnabled(IncrementalAction),
    /// A block beyond what a summary's block set holds (the model's relation stays below
    /// eight blocks, so this is a modelling error).
    #[error(transparent)]
    BlockOutOfRange(#[from] BlockOutOfRange),
}

/// What an invariant found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncrementalViolation {
    /// Which property (E1, E3).
    pub property: &'static str,
    /// What, in words.
    pub detail: String,
}

impl IncrementalCluster {
    /// The initial state: timeline 1 holds the initial redo record, which the standby has
    /// received and replayed; its summarizer starts there.
    pub fn new(rules: IncrementalRules, config: IncrementalConfig) -> Self {
        let mut tl1 = Timeline {
            tli: TimeLineId(1),
            begin: Lsn::INVALID,
            end: None,
            records: SmallVec::new(),
        };
        tl1.records.push(Rec {
            record: WalRecord {
                at: FIRST_RECORD,
                end: Lsn(FIRST_RECORD.0 + RECORD_BYTES),
                kind: redo(),
            },
            version: 0,
        });
        let pages: SmallVec<[PageContent; 8]> = (0..config.blocks)
            .map(|_| PageContent::Version(0))
            .collect();
        let end = Lsn(FIRST_RECORD.0 + RECORD_BYTES);
        IncrementalCluster {
            rules,
            config,
            timelines: smallvec::smallvec![tl1],
            primary: pages.clone(),
            standby: pages,
            received: end,
            replayed: end,
            promoted: false,
            summarizing: Building::new(TimeLineId(1), FIRST_RECORD),
            summaries: SmallVec::new(),
            full: None,
            incremental: None,
            used: [0; 9],
            minimal: false,
            versions: 0,
            summarizer_segment: None,
        }
    }

    fn tl(&self, tli: TimeLineId) -> &Timeline {
        &self.timelines[tli.0 as usize - 1]
    }

    /// Every enabled action, in a fixed order.
    pub fn actions(&self) -> Vec<IncrementalAction> {
        let mut out = Vec::new();
        let c = self.config;
        let primary_len = self.primary.len() as u8;
        if c.on_primary {
            self.primary_actions(&mut out);
        } else if !self.promoted {
            if self.used[0] < c.primary_writes {
                for block in 0..=primary_len.min(7) {
                    out.push(IncrementalAction::PrimaryWrite { block });
                }
            }
            if self.used[1] < c.truncations {
                for blocks in 0..primary_len {
                    out.push(IncrementalAction::PrimaryTruncate { blocks });
                }
            }
            if self.used[2] < c.primary_checkpoints {
                out.push(IncrementalAction::PrimaryCheckpoint);
            }
            if self.used[6] < c.database_recreations {
                out.push(IncrementalAction::PrimaryRecreateDatabase);
            }
            if self.full.is_none() {
                out.push(IncrementalAction::FullBackup);
            }
            if self.received < self.tl(TimeLineId(1)).insert() {
                out.push(IncrementalAction::Receive);
            }
            if self.replayed < self.received {
                out.push(IncrementalAction::Replay);
            }
            // The standby was made from the full backup: it can be promoted once it has
            // replayed to that backup's end, where a restored copy is consistent (a recovery
            // target before consistency is refused by the server).
            if self
                .full
                .as_ref()
                .is_some_and(|full| self.replayed >= full.range.end)
            {
                out.push(IncrementalAction::Promote);
            }
        } else {
            let len = self.standby.len() as u8;
            if self.used[3] < c.standby_writes && self.incremental.is_none() {
                for block in 0..=len.min(7) {
                    out.push(IncrementalAction::StandbyWrite { block });
                }
            }
            if self.used[4] < c.standby_truncations && self.incremental.is_none() {
                for blocks in 0..len {
                    out.push(IncrementalAction::StandbyTruncate { blocks });
                }
            }
            if self.used[5] < c.standby_checkpoints && self.incremental.is_none() {
                out.push(IncrementalAction::StandbyCheckpoint);
            }
            if self.incremental.is_none() {
                out.push(IncrementalAction::IncrementalStart);
            }
            if self.incremental_may_finish() {
                for listing in [Listing::Written, Listing::Reversed] {
                    out.push(IncrementalAction::IncrementalFinish { listing });
                }
            }
        }
        if self.summarize_step().is_some() {
            out.push(IncrementalAction::Summarize);
        } else if matches!(self.incremental, Some(IncrementalBackup::Waiting { .. }))
            && !self.incremental_may_finish()
        {
            out.push(IncrementalAction::IncrementalWaitFails);
        }
        if self.used[8] < c.summarizer_crashes {
            out.push(IncrementalAction::SummarizerRestart);
        }
        out
    }

    /// The steps of a cluster whose incremental backup is taken on the primary.
    fn primary_actions(&self, out: &mut Vec<IncrementalAction>) {
        let c = self.config;
        let len = self.primary.len() as u8;
        let before_backup = self.incremental.is_none();
        if before_backup {
            if self.used[0] < c.primary_writes {
                for block in 0..=len.min(7) {
                    out.push(IncrementalAction::PrimaryWrite { block });
                }
            }
            if self.used[1] < c.truncations {
                for blocks in 0..len {
                    out.push(IncrementalAction::PrimaryTruncate { blocks });
                }
            }
            if self.used[2] < c.primary_checkpoints {
                out.push(IncrementalAction::PrimaryCheckpoint);
            }
            if self.used[6] < c.database_recreations {
                out.push(IncrementalAction::PrimaryRecreateDatabase);
            }
            if !self.minimal && self.used[7] < c.minimal_restarts && self.full.is_some() {
                out.push(IncrementalAction::PrimaryRestartMinimal);
            }
        }
        if self.minimal {
            out.push(IncrementalAction::PrimaryRestartReplica);
        } else {
            if self.full.is_none() {
                out.push(IncrementalAction::FullBackup);
            }
            if self.full.is_some() && before_backup {
                out.push(IncrementalAction::IncrementalStart);
            }
        }
        if self.incremental_may_finish() {
            for listing in [Listing::Written, Listing::Reversed] {
                out.push(IncrementalAction::IncrementalFinish { listing });
            }
        }
    }

    /// Whether `action` is enabled.
    pub fn is_enabled(&self, action: IncrementalAction) -> bool {
        self.actions().contains(&action)
    }

    fn next_version(&mut self) -> u16 {
        self.versions += 1;
        self.versions
    }

    /// Performs one step and says what it did, in the protocol's terms (the text of a trace's
    /// line: which record was received, replayed or summarized, which summary file was
    /// written, where the timeline switched, what the backup used and sent).
    pub fn apply_described(
        &mut self,
        action: IncrementalAction,
    ) -> Result<String, IncrementalStepError> {
        let before = self.clone();
        self.apply(action)?;
        let record = |tl: &Timeline, at: Lsn| {
            tl.record_at(at).map_or_else(
                || format!("{at}"),
                |r| format!("{at} ({})", describe_record(r)),
            )
        };
        Ok(match action {
            IncrementalAction::Receive => format!(
                "standby receives {}",
                record(before.tl(TimeLineId(1)), before.received)
            ),
            IncrementalAction::Replay => format!(
                "standby replays {}",
                record(before.tl(TimeLineId(1)), before.replayed)
            ),
            IncrementalAction::Promote => {
                let switch = self.replayed;
                let renamed =
                    renamed_partial_at_promotion(self.config.archive_mode, switch, SEGMENT_BYTES);
                format!(
                    "standby promoted at {switch}: timeline 2 begins there{}",
                    match renamed {
                        Some(segment) => format!(
                            "; timeline 1's WAL segment {segment} (the switch point inside it) is renamed .partial, timeline 2's holds its WAL up to the switch point"
                        ),
                        None => String::new(),
                    }
                )
            }
            IncrementalAction::FullBackup => match &self.full {
                Some(full) => format!("full backup on the primary: start point {}", full.start),
                None => action.to_string(),
            },
            IncrementalAction::IncrementalStart => match &self.incremental {
                Some(IncrementalBackup::Waiting { start, .. }) => format!(
                    "incremental backup starts: start point {start} on timeline {}; it waits for the summarizer",
                    self.timelines.last().map_or(TimeLineId(1), |t| t.tli)
                ),
                _ => action.to_string(),
            },
            IncrementalAction::IncrementalWaitFails => match &self.incremental {
                Some(IncrementalBackup::Refused(error)) => match before.summarizer_stuck_on() {
                    Some(why) => format!("{action}: {error}; {why}"),
                    None => format!("{action}: {error}"),
                },
                _ => action.to_string(),
            },
            IncrementalAction::IncrementalFinish { .. } => match &self.incremental {
                Some(IncrementalBackup::Rebuilt { used, sent, .. }) => format!(
                    "{action}: uses {}; sends {}",
                    used.iter()
                        .map(|(tli, start, end)| format!("({tli}, {start}, {end})"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    match sent {
                        None => "the whole file".to_string(),
                        Some(bits) => format!(
                            "blocks {:?}",
                            (0..64).filter(|b| bits & (1 << b) != 0).collect::<Vec<u32>>()
                        ),
                    }
                ),
                Some(IncrementalBackup::Refused(error)) => format!("{action}: refused: {error}"),
                Some(IncrementalBackup::CombineFailed(error)) => {
                    format!("{action}: pg_combinebackup fails: {error}")
                }
                _ => action.to_string(),
            },
            IncrementalAction::SummarizerRestart => format!(
                "summarizer fails and restarts: what it was building is lost; it starts again at {} on timeline {}",
                self.summarizing.start, self.summarizing.tli
            ),
            IncrementalAction::Summarize => {
                let name = |w: &WalSummary| format!("({}, {}, {})", w.tli, w.start, w.end);
                let was = &before.summarizing;
                let now = &self.summarizing;
                let text = if now.tli != was.tli {
                    // A timeline became historic: files written for it (a sibling ending at
                    // the switch point), then the move.
                    let written: Vec<String> = self
                        .summaries
                        .iter()
                        .filter(|w| !before.summaries.contains(w))
                        .map(name)
                        .collect();
                    let moved = format!("moves to timeline {} at {}", now.tli, now.start);
                    if written.is_empty() {
                        moved
                    } else {
                        format!("writes summary {}, {moved}", written.join(" and "))
                    }
                } else if now.start != was.start {
                    // The file it was building ended where the new one starts.
                    match self
                        .summaries
                        .iter()
                        .find(|w| (w.tli, w.start, w.end) == (was.tli, was.start, now.start))
                    {
                        Some(w) => format!("writes summary {}", name(w)),
                        None => format!(
                            "ends a file with nothing to summarize, {} to {}",
                            was.start, now.start
                        ),
                    }
                } else {
                    format!("reads {}", record(before.tl(was.tli), was.pending))
                };
                format!("summarizer {text}")
            }
            IncrementalAction::PrimaryWrite { .. }
            | IncrementalAction::PrimaryTruncate { .. }
            | IncrementalAction::PrimaryCheckpoint
            | IncrementalAction::PrimaryRecreateDatabase
            | IncrementalAction::PrimaryRestartMinimal
            | IncrementalAction::PrimaryRestartReplica => format!(
                "{action}: {}",
                record(self.tl(TimeLineId(1)), before.tl(TimeLineId(1)).insert())
            ),
            IncrementalAction::StandbyWrite { .. }
            | IncrementalAction::StandbyTruncate { .. }
            | IncrementalAction::StandbyCheckpoint => format!(
                "{action}: {}",
                record(self.tl(TimeLineId(2)), before.tl(TimeLineId(2)).insert())
            ),
        })
    }

    /// Performs one step.
    pub fn apply(&mut self, action: IncrementalAction) -> Result<(), IncrementalStepError> {
        if !self.is_enabled(action) {
            return Err(IncrementalStepError::NotEnabled(action));
        }
        match action {
            IncrementalAction::PrimaryWrite { block } => {
                self.used[0] += 1;
                let version = self.next_version();
                // At wal_level = minimal the change skips WAL: the record (the commit that
                // makes it durable) references no block.
                let kind = if self.minimal {
                    RecordKind::Other
                } else {
                    write(block)
                };
                self.timelines[0].append(kind, version);
                apply_write(&mut self.primary, block, version);
            }
            IncrementalAction::PrimaryRestartMinimal => {
                self.used[7] += 1;
                self.minimal = true;
                self.timelines[0].append(parameter_change(true), 0);
            }
            IncrementalAction::PrimaryRestartReplica => {
                self.minimal = false;
                self.timelines[0].append(parameter_change(false), 0);
            }
            IncrementalAction::PrimaryTruncate { blocks } => {
                self.used[1] += 1;
                self.timelines[0].append(truncate(blocks), 0);
                self.primary.truncate(usize::from(blocks));
            }
            IncrementalAction::PrimaryCheckpoint => {
                self.used[2] += 1;
                let minimal = self.minimal;
                self.timelines[0].append(redo_at(minimal), 0);
            }
            IncrementalAction::PrimaryRecreateDatabase => {
                self.used[6] += 1;
                let version = self.next_version();
                self.timelines[0].append(RecordKind::Database, version);
                copy_template(&mut self.primary, self.config.blocks, version);
            }
            IncrementalAction::FullBackup => {
                let record = self.timelines[0].append(redo(), 0);
                self.full = Some(FullBackup {
                    start: record.at,
                    range: ManifestRange {
                        tli: TimeLineId(1),
                        start: record.at,
                        end: record.end,
                    },
                    pages: self.primary.clone(),
                });
            }
            IncrementalAction::Receive => {
                let next = self.tl(TimeLineId(1)).record_at(self.received);
                if let Some(rec) = next {
                    self.received = rec.record.end;
                }
            }
            IncrementalAction::Replay => {
                if let Some(&rec) = self.tl(TimeLineId(1)).record_at(self.replayed) {
                    replay(&mut self.standby, &rec, self.config.blocks);
                    self.replayed = rec.record.end;
                }
            }
            IncrementalAction::Promote => {
                let at = self.replayed;
                self.promoted = true;
                self.timelines[0].end = Some(at);
                let mut tl2 = Timeline {
                    tli: TimeLineId(2),
                    begin: at,
                    end: None,
                    records: SmallVec::new(),
                };
                tl2.append(
                    RecordKind::Boundary {
                        kind: BoundaryKind::EndOfRecovery,
                        minimal: false,
                    },
                    0,
                );
                self.timelines.push(tl2);
            }
            IncrementalAction::StandbyWrite { block } => {
                self.used[3] += 1;
                let version = self.next_version();
                self.timelines[1].append(write(block), version);
                apply_write(&mut self.standby, block, version);
            }
            IncrementalAction::Summarize => {
                if let Some(step) = self.summarize_step() {
                    self.take_summarize_step(step)?;
                }
            }
            IncrementalAction::StandbyTruncate { blocks } => {
                self.used[4] += 1;
                self.timelines[1].append(truncate(blocks), 0);
                self.standby.truncate(usize::from(blocks));
            }
            IncrementalAction::StandbyCheckpoint => {
                self.used[5] += 1;
                self.timelines[1].append(redo(), 0);
            }
            IncrementalAction::IncrementalStart => {
                let (timeline, source) = if self.config.on_primary {
                    (0, self.primary.clone())
                } else {
                    (1, self.standby.clone())
                };
                let record = self.timelines[timeline].append(redo(), 0);
                self.incremental = Some(IncrementalBackup::Waiting {
                    start: record.at,
                    source,
                });
            }
            IncrementalAction::IncrementalFinish { listing } => self.finish_incremental(listing),
            IncrementalAction::IncrementalWaitFails => {
                if let Some(IncrementalBackup::Waiting { start, .. }) = self.incremental {
                    self.incremental = Some(IncrementalBackup::Refused(
                        IncrementalError::SummarizationNotProgressing {
                            needed: start,
                            on_disk: self.summarizing.start,
                            in_memory: self.summarizing.pending,
                        },
                    ));
                }
            }
            IncrementalAction::SummarizerRestart => {
                self.used[8] += 1;
                // GetOldestUnsummarizedLSN: the oldest timeline with WAL in pg_wal (nothing is
                // removed here, so timeline 1), from the end of its last summary.
                let at = self
                    .summaries
                    .iter()
                    .filter(|w| w.tli == TimeLineId(1))
                    .map(|w| w.end)
                    .max()
                    .unwrap_or(FIRST_RECORD);
                self.summarizing = Building::new(TimeLineId(1), at);
                self.summarizer_segment = None;
            }
        }
        Ok(())
    }

    /// `WaitForWalSummarization`: the summarizer has written a file reaching the backup's
    /// start on its timeline.
    fn incremental_may_finish(&self) -> bool {
        let Some(IncrementalBackup::Waiting { start, .. }) = self.incremental else {
            return false;
        };
        let tli = self.timelines.last().map_or(TimeLineId(1), |t| t.tli);
        self.summarizing.tli == tli && self.summarizing.start >= start
    }

    /// Whether WAL written at `wal_level = minimal` lies between the full backup's start and
    /// the incremental backup's: the server must then refuse the incremental backup (its
    /// summaries cannot say what that WAL changed), and a refusal is no failure of L1.
    pub fn minimal_wal_since_full_backup(&self) -> bool {
        let (Some(full), Some(start)) = (
            &self.full,
            match &self.incremental {
                Some(IncrementalBackup::Waiting { start, .. })
                | Some(IncrementalBackup::Rebuilt { start, .. }) => Some(*start),
                _ => self.timelines.last().map(Timeline::insert),
            },
        ) else {
            return false;
        };
        self.timelines.iter().any(|t| {
            t.records.iter().any(|r| {
                r.record.at >= full.start
                    && r.record.at < start
                    && matches!(r.record.kind, RecordKind::Boundary { minimal: true, .. })
            })
        })
    }

    fn finish_incremental(&mut self, listing: Listing) {
        let (Some(IncrementalBackup::Waiting { start, source }), Some(full)) =
            (self.incremental.clone(), self.full.clone())
        else {
            return;
        };
        let history: SmallVec<[TimelineEntry; 2]> = self
            .timelines
            .iter()
            .rev()
            .map(|t| TimelineEntry {
                tli: t.tli,
                begin: t.begin,
                end: t.end,
            })
            .collect();
        let mut directory = self.summaries.clone();
        if listing == Listing::Reversed {
            directory.reverse();
        }
        let prepared = match prepare_incremental(
            &[full.range],
            &history,
            start,
            &directory,
            self.rules.selection,
            self.rules.order,
        ) {
            Ok(prepared) => prepared,
            Err(error) => {
                self.incremental = Some(IncrementalBackup::Refused(error));
                return;
            }
        };
        let size = source.len() as u64 * BLCKSZ;
        let (file, sent) = match file_backup_method(&prepared.table, RELATION, size, true) {
            FileBackupMethod::Full => (BackupFile::Full(source.clone()), None),
            FileBackupMethod::Incremental {
                blocks,
                truncation_block_length,
            } => (
                BackupFile::Incremental {
                    blocks: blocks
                        .iter()
                        .filter_map(|b| source.get(b as usize).map(|&p| (b, p)))
                        .collect(),
                    truncation_block_length,
                },
                Some(blocks.iter().fold(0u64, |acc, b| acc | 1 << b)),
            ),
        };
        let full_vm = vm_blocks(full.pages.len());
        let rebuilt = match reconstruct(&[Some(BackupFile::Full(full.pages)), Some(file)]) {
            Ok(pages) => SmallVec::from_vec(pages),
            Err(error) => {
                self.incremental = Some(IncrementalBackup::CombineFailed(error));
                return;
            }
        };
        // The visibility map: sent by the same rules from the same summaries, rebuilt from
        // the full backup's map.
        let vm_source = vm_blocks(source.len());
        let vm_page = PageContent::Version(0);
        let vm_file = match file_backup_method(
            &prepared.table,
            VISIBILITY_MAP,
            vm_source as u64 * BLCKSZ,
            true,
        ) {
            FileBackupMethod::Full => BackupFile::Full(vec![vm_page; vm_source].into()),
            FileBackupMethod::Incremental {
                blocks,
                truncation_block_length,
            } => BackupFile::Incremental {
                blocks: blocks
                    .iter()
                    .filter(|&b| (b as usize) < vm_source)
                    .map(|b| (b, vm_page))
                    .collect(),
                truncation_block_length,
            },
        };
        let vm_rebuilt = match reconstruct(&[
            Some(BackupFile::Full(vec![vm_page; full_vm].into())),
            Some(vm_file),
        ]) {
            Ok(pages) => pages.len(),
            Err(error) => {
                self.incremental = Some(IncrementalBackup::CombineFailed(error));
                return;
            }
        };
        self.incremental = Some(IncrementalBackup::Rebuilt {
            start,
            source,
            rebuilt,
            used: prepared.used.into_iter().collect(),
            sent,
            vm_lengths: (
                u8::try_from(vm_source).unwrap_or(u8::MAX),
                u8::try_from(vm_rebuilt).unwrap_or(u8::MAX),
            ),
        });
    }

    /// The summarizer's next step, if it can take one.
    fn summarize_step(&self) -> Option<SummarizeStep> {
        let step = self.next_summarize_step()?;
        self.missing_segment(step).is_none().then_some(step)
    }

    /// Whether the summarizing server's `pg_wal` holds timeline `tli`'s file of segment
    /// `segment`. Timeline 1's files are all there, but for the one renamed `.partial` at a
    /// promotion with `archive_mode = on`; a later timeline's begin with the segment of its
    /// switch point (that file holds the old timeline's WAL up to it).
    fn segment_file_exists(&self, tli: TimeLineId, segment: u64) -> bool {
        let Some(tl) = self.timelines.get((tli.0 as usize).wrapping_sub(1)) else {
            return false;
        };
        if tli != TimeLineId(1) {
            return segment >= segment_of(tl.begin);
        }
        let renamed = tl.end.and_then(|switch| {
            renamed_partial_at_promotion(self.config.archive_mode, switch, SEGMENT_BYTES)
        });
        renamed != Some(segment)
    }

    /// Whether a segment the summarizer needs can be missing: only with `archive_mode` (a
    /// `.partial` rename) and a summarizer that does not look on later timelines. Elsewhere
    /// every segment it needs opens, and the open one is not kept (it changes nothing, and
    /// would only split states).
    fn tracks_open_segment(&self) -> bool {
        self.config.archive_mode && !self.rules.summarizer.segment_on_descendants
    }

    /// `summarizer_wal_segment_open`: the file of the timeline asked for or, with
    /// `segment_on_descendants`, of the same segment on a later timeline of the history.
    fn segment_opens(&self, tli: TimeLineId, segment: u64) -> bool {
        self.segment_file_exists(tli, segment)
            || (self.rules.summarizer.segment_on_descendants
                && self
                    .timelines
                    .iter()
                    .any(|t| t.tli > tli && self.segment_file_exists(t.tli, segment)))
    }

    /// The first WAL segment `step` must open and cannot ("requested WAL segment ... has
    /// already been removed": the summarizer fails, restarts, and fails there again), as
    /// (the timeline asked for, the segment).
    fn missing_segment(&self, step: SummarizeStep) -> Option<(TimeLineId, u64)> {
        if !self.tracks_open_segment() {
            return None;
        }
        let tli = self.summarizing.tli;
        let needs = |record: &WalRecord| segment_of(record.at)..=segment_of(Lsn(record.end.0 - 1));
        let missing = |segment: &u64| !self.segment_opens(tli, *segment);
        match step {
            SummarizeStep::Read(record) => needs(&record)
                .filter(|&segment| self.summarizer_segment != Some((tli, segment)))
                .find(missing),
            // A file summarized again reads its records again.
            SummarizeStep::Close(end) | SummarizeStep::Rewind(end)
                if self.rules.summarizer.reread_at_switch =>
            {
                self.tl(tli)
                    .records
                    .iter()
                    .filter(|r| r.record.end <= end && r.record.at >= self.reread_from(step))
                    .flat_map(|r| needs(&r.record))
                    .find(missing)
            }
            _ => None,
        }
        .map(|segment| (tli, segment))
    }

    /// Where a re-read for `step` begins (the file being built's start, or the start of a
    /// file written across the switch point; beyond every record if nothing is read again).
    fn reread_from(&self, step: SummarizeStep) -> Lsn {
        let tli = self.summarizing.tli;
        match step {
            SummarizeStep::Close(end) if self.summarizing.pending > end => self.summarizing.start,
            SummarizeStep::Rewind(switch) => self
                .summaries
                .iter()
                .find(|s| s.tli == tli && s.start < switch && switch < s.end)
                .map_or(Lsn(u64::MAX), |s| s.start),
            _ => Lsn(u64::MAX),
        }
    }

    /// Whether the summarizer's next read is old-timeline WAL in the segment renamed
    /// `.partial` at the promotion (INCREMENTAL.md I2's situation), whether or not it then
    /// finds that WAL in the new timeline's file.
    pub fn next_read_in_partial_segment(&self) -> bool {
        let tli = TimeLineId(1);
        matches!(
            self.next_summarize_step(),
            Some(SummarizeStep::Read(r)) if self.summarizing.tli == tli
                && (segment_of(r.at)..=segment_of(Lsn(r.end.0 - 1)))
                    .any(|segment| !self.segment_file_exists(tli, segment))
        )
    }

    /// Why the summarizer cannot move, in words, when a WAL segment it needs is missing.
    pub fn summarizer_stuck_on(&self) -> Option<String> {
        let (tli, segment) = self.missing_segment(self.next_summarize_step()?)?;
        Some(format!(
            "the summarizer cannot open timeline {tli}'s WAL segment {segment} (renamed .partial at the promotion): \"requested WAL segment has already been removed\", again at every restart"
        ))
    }

    fn next_summarize_step(&self) -> Option<SummarizeStep> {
        let file = &self.summarizing;
        let tl = self.tl(file.tli);
        if let Some(switch) = tl.end {
            // A timeline that became historic (INCREMENTAL.md §2.3, §2.5).
            if file.start >= switch {
                return Some(SummarizeStep::Rewind(switch));
            }
            let next = tl.record_at(file.pending);
            if file.pending >= switch || next.is_none_or(|r| r.record.at >= switch) {
                return Some(SummarizeStep::Close(switch));
            }
            return next.map(|r| SummarizeStep::Read(r.record));
        }
        // The current timeline: what is flushed (the standby's received WAL before its
        // promotion, which may be ahead of replay; its own WAL after).
        let flushed = if file.tli == TimeLineId(1) && !self.config.on_primary {
            self.received
        } else {
            tl.insert()
        };
        tl.record_at(file.pending)
            .filter(|r| r.record.end <= flushed)
            .map(|r| SummarizeStep::Read(r.record))
    }

    fn take_summarize_step(&mut self, step: SummarizeStep) -> Result<(), BlockOutOfRange> {
        let tli = self.summarizing.tli;
        match step {
            SummarizeStep::Rewind(switch) => {
                let at = if self.rules.summarizer.rewind_at_switch {
                    switch
                } else {
                    // Before c7cfbc5157: the next timeline is read from where the summarizer
                    // had got to on the old one.
                    self.summarizing.start
                };
                if self.rules.summarizer.reread_at_switch {
                    // A file already written across the switch point holds abandoned WAL, and
                    // a backup on the new timeline may use none of it: summarize its part
                    // before the switch point again, as a file of its own.
                    let crossing = self
                        .summaries
                        .iter()
                        .find(|s| s.tli == tli && s.start < switch && switch < s.end)
                        .map(|s| s.start);
                    if let Some(start) = crossing {
                        self.summarizing = self.reread(tli, start, switch)?;
                        self.close_summary(switch);
                    }
                }
                self.summarizing = Building::new(TimeLineId(tli.0 + 1), at);
            }
            SummarizeStep::Close(end) => {
                let rules = self.rules.summarizer;
                if rules.reread_at_switch && self.summarizing.pending > end {
                    // Read again, up to the switch point only.
                    self.summarizing = self.reread(tli, self.summarizing.start, end)?;
                }
                self.close_summary(end)
            }
            SummarizeStep::Read(record) => {
                if self.tracks_open_segment() {
                    self.summarizer_segment = Some((tli, segment_of(Lsn(record.end.0 - 1))));
                }
                if let Read::EndsBefore(end) =
                    self.summarizing.read(self.rules.summarizer, &record)?
                {
                    self.close_summary(end);
                }
            }
        }
        Ok(())
    }

    /// A file of `tli` from `start` with the records read again up to `end` only.
    fn reread(&self, tli: TimeLineId, start: Lsn, end: Lsn) -> Result<Building, BlockOutOfRange> {
        let rules = self.rules.summarizer;
        let mut again = Building::new(tli, start);
        for rec in self
            .tl(tli)
            .records
            .iter()
            .filter(|r| r.record.at >= start && r.record.end <= end)
        {
            if let Read::EndsBefore(_) = again.read(rules, &rec.record)? {
                break;
            }
        }
        Ok(again)
    }

    fn close_summary(&mut self, end: Lsn) {
        let tli = self.summarizing.tli;
        let file = std::mem::replace(&mut self.summarizing, Building::new(tli, end));
        if let super::walsummarizer::Summarized::Written(ws) = file.finish(end) {
            // A file of the same name (after a restart summarized the same WAL again)
            // replaces the old one (`durable_rename`).
            self.summaries
                .retain(|w| (w.tli, w.start, w.end) != (ws.tli, ws.start, ws.end));
            self.summaries.push(ws);
        }
    }

    /// Every `always` property violated now ([`IncrementalProperty::ALWAYS`]).
    pub fn violations(&self) -> Vec<IncrementalViolation> {
        IncrementalProperty::ALWAYS
            .into_iter()
            .flat_map(|p| {
                p.problems(self)
                    .into_iter()
                    .map(move |detail| IncrementalViolation {
                        property: p.name(),
                        detail,
                    })
            })
            .collect()
    }

    /// The incremental backup was taken: the server sent it and the combine rebuilt the chain
    /// (or refused it, which E1 reports). False while it waits for the summarizer and once the
    /// server refused it.
    pub fn incremental_backup_taken(&self) -> bool {
        match &self.incremental {
            Some(IncrementalBackup::Rebuilt { .. } | IncrementalBackup::CombineFailed(_)) => true,
            Some(IncrementalBackup::Refused(_)) => self.minimal_wal_since_full_backup(),
            _ => false,
        }
    }
}

/// The properties of incremental backup (INCREMENTAL.md §4), defined once here: the tests,
/// the model's `incremental` profile and the reports use these names and checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IncrementalProperty {
    /// E1: restoring the combined chain gives exactly the source's pages at the incremental
    /// backup's start, block by block and in length (replay from there changes both alike).
    RestoreEqualsSource,
    /// E2: the rebuilt relation's other forks (its visibility map) have the source's lengths
    /// (the main fork's length is part of E1).
    ForkLengths,
    /// E3: every summary merged lies inside the backup's own timeline history.
    SummariesOnHistory,
    /// L1: every incremental backup begun is taken: the summarizer reaches its start point and
    /// the summaries cover the WAL since the prior backup (the server neither waits forever
    /// nor refuses it for summaries it should have written).
    BackupTaken,
}

impl IncrementalProperty {
    /// The properties that must hold in every state.
    pub const ALWAYS: [IncrementalProperty; 3] = [
        IncrementalProperty::RestoreEqualsSource,
        IncrementalProperty::ForkLengths,
        IncrementalProperty::SummariesOnHistory,
    ];

    /// The property every complete run must reach.
    pub const EVENTUALLY: IncrementalProperty = IncrementalProperty::BackupTaken;

    /// Its name in reports.
    pub const fn name(self) -> &'static str {
        match self {
            IncrementalProperty::RestoreEqualsSource => "E1 restore equals the source",
            IncrementalProperty::ForkLengths => "E2 rebuilt forks have the source's lengths",
            IncrementalProperty::SummariesOnHistory => {
                "E3 summaries used lie on the backup's history"
            }
            IncrementalProperty::BackupTaken => "L1 every incremental backup is taken",
        }
    }

    /// Whether it holds in `c` (for [`IncrementalProperty::BackupTaken`]: whether the
    /// backup has been taken, the condition a run must reach).
    pub fn holds(self, c: &IncrementalCluster) -> bool {
        match self {
            IncrementalProperty::BackupTaken => c.incremental_backup_taken(),
            _ => self.problems(c).is_empty(),
        }
    }

    /// What violates it in `c`, in words (empty: nothing).
    pub fn problems(self, c: &IncrementalCluster) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            IncrementalProperty::RestoreEqualsSource => match &c.incremental {
                Some(IncrementalBackup::CombineFailed(error)) => {
                    out.push(format!("pg_combinebackup refused the chain: {error}"));
                }
                Some(IncrementalBackup::Rebuilt {
                    source, rebuilt, ..
                }) if rebuilt != source => {
                    out.push(format!("rebuilt {rebuilt:?}, source {source:?}"));
                }
                _ => {}
            },
            IncrementalProperty::ForkLengths => {
                if let Some(IncrementalBackup::Rebuilt {
                    vm_lengths: (source, rebuilt),
                    ..
                }) = &c.incremental
                {
                    if source != rebuilt {
                        out.push(format!(
                            "the visibility map is rebuilt with {rebuilt} blocks, the source's has {source}"
                        ));
                    }
                }
            }
            IncrementalProperty::SummariesOnHistory => {
                if let Some(IncrementalBackup::Rebuilt { used, .. }) = &c.incremental {
                    for &(tli, start, end) in used {
                        let tl = c.tl(tli);
                        let inside =
                            tl.begin <= start && tl.end.is_none_or(|switch| end <= switch);
                        if !inside {
                            out.push(format!(
                                "summary ({tli}, {start}, {end}) is not inside timeline {tli}'s part of the history [{}, {})",
                                tl.begin,
                                tl.end.map_or("end".to_string(), |e| e.to_string())
                            ));
                        }
                    }
                }
            }
            IncrementalProperty::BackupTaken => match &c.incremental {
                // The server must refuse a backup across WAL written at wal_level = minimal.
                Some(IncrementalBackup::Refused(_)) if c.minimal_wal_since_full_backup() => {}
                Some(IncrementalBackup::Refused(error)) => {
                    out.push(format!("the server refused it: {error}"));
                }
                Some(IncrementalBackup::Waiting { start, .. }) => out.push(format!(
                    "it waits for the summarizer to reach {start}; the summarizer is at {} on timeline {}",
                    c.summarizing.start, c.summarizing.tli
                )),
                None => out.push("no incremental backup was begun".to_string()),
                _ => {}
            },
        }
        out
    }
}

impl fmt::Display for IncrementalProperty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug)]
enum SummarizeStep {
    Read(WalRecord),
    Close(Lsn),
    Rewind(Lsn),
}

fn redo() -> RecordKind {
    redo_at(false)
}

/// A checkpoint's redo record, written at `wal_level = minimal` or not.
fn redo_at(minimal: bool) -> RecordKind {
    RecordKind::Boundary {
        kind: BoundaryKind::Redo,
        minimal,
    }
}

/// The `XLOG_PARAMETER_CHANGE` a restart with another `wal_level` writes.
fn parameter_change(minimal: bool) -> RecordKind {
    RecordKind::Boundary {
        kind: BoundaryKind::ParameterChange,
        minimal,
    }
}

fn write(block: u8) -> RecordKind {
    RecordKind::Block {
        key: RELATION,
        block: u32::from(block),
    }
}

fn truncate(blocks: u8) -> RecordKind {
    RecordKind::Truncate {
        relation: RELATION.relation,
        blocks: u32::from(blocks),
    }
}

/// A write of `block` (one past the end extends the fork; beyond, zero pages fill the gap).
fn apply_write(pages: &mut SmallVec<[PageContent; 8]>, block: u8, version: u16) {
    let block = usize::from(block);
    if pages.len() <= block {
        pages.resize(block + 1, PageContent::Zeroed);
    }
    pages[block] = PageContent::Version(version);
}

/// A record in words.
fn describe_record(rec: &Rec) -> String {
    match rec.record.kind {
        RecordKind::Boundary { kind, minimal } => {
            let what = match kind {
                BoundaryKind::Redo => "redo record",
                BoundaryKind::EndOfRecovery => "end-of-recovery record",
                BoundaryKind::ShutdownCheckpoint => "shutdown checkpoint",
                BoundaryKind::ParameterChange => "parameter change",
            };
            if minimal {
                format!("{what}, wal_level = minimal")
            } else {
                what.to_string()
            }
        }
        RecordKind::Block { block, .. } => format!("write of block {block}"),
        RecordKind::Truncate { blocks, .. } => format!("truncation to {blocks} blocks"),
        RecordKind::Database => "database created by file copy".to_string(),
        RecordKind::Create { .. } => "fork created".to_string(),
        RecordKind::Drop { .. } => "relation dropped".to_string(),
        RecordKind::Other => "record without block references".to_string(),
    }
}

/// The relation's file copied from the template database: `blocks` blocks of the template's
/// content (`version`).
fn copy_template(pages: &mut SmallVec<[PageContent; 8]>, blocks: u8, version: u16) {
    pages.clear();
    pages.resize(usize::from(blocks), PageContent::Version(version));
}

fn replay(pages: &mut SmallVec<[PageContent; 8]>, rec: &Rec, template_blocks: u8) {
    match rec.record.kind {
        RecordKind::Database => copy_template(pages, template_blocks, rec.version),
        RecordKind::Block { block, .. } => {
            apply_write(pages, block as u8, rec.version);
        }
        RecordKind::Truncate { blocks, .. } => pages.truncate(blocks as usize),
        _ => {}
    }
}
