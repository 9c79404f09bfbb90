//! What one WAL summary file holds (`SummarizeWAL` and `SummarizeXlogRecord` in
//! `walsummarizer.c`; INCREMENTAL.md §2.4): the records of one timeline from a start point,
//! folded into a block reference table, until a record that begins a new summary (a redo
//! point, a shutdown checkpoint, an end of recovery, a parameter change), the timeline's switch
//! point on a historic timeline, or the end of the WAL there is to read. The rules that
//! PostgreSQL fixed along the way are switches ([`SummarizerRules`]), so that a design can put
//! an older flaw back.

use super::blkreftable::{BlockOutOfRange, BlockRefTable, Fork, ForkKey, RelNumber};
use super::summary::WalSummary;
use crate::lsn::{Lsn, TimeLineId};

/// Heap blocks one visibility-map page covers with 8 kB pages.
pub const HEAPBLOCKS_PER_VM_PAGE: u32 = 32_672;

/// Records that begin a new summary file (`SummarizeXlogRecord` returns true for them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BoundaryKind {
    /// `XLOG_CHECKPOINT_REDO` (a checkpoint's redo point, 17+).
    Redo,
    /// `XLOG_CHECKPOINT_SHUTDOWN`.
    ShutdownCheckpoint,
    /// `XLOG_END_OF_RECOVERY` (the first record of a promoted standby's timeline).
    EndOfRecovery,
    /// `XLOG_PARAMETER_CHANGE`.
    ParameterChange,
}

/// What a WAL record does, as far as the summarizer reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// A record that may begin a new summary; `minimal` is its payload's `wal_level =
    /// minimal` (WAL from then on may change blocks without referencing them).
    Boundary {
        /// Which record.
        kind: BoundaryKind,
        /// Written at `wal_level = minimal`.
        minimal: bool,
    },
    /// A block reference: the record changed (or extended the fork to) `block`.
    Block {
        /// The fork.
        key: ForkKey,
        /// The block.
        block: u32,
    },
    /// `XLOG_SMGR_CREATE` of a fork.
    Create {
        /// The fork created.
        key: ForkKey,
    },
    /// `XLOG_SMGR_TRUNCATE` of a relation's heap (and visibility map) to `blocks` heap blocks.
    Truncate {
        /// The relation.
        relation: RelNumber,
        /// The new heap length.
        blocks: u32,
    },
    /// A commit (or abort) that drops a relation: every fork of it is gone.
    Drop {
        /// The relation.
        relation: RelNumber,
    },
    /// `XLOG_DBASE_CREATE_FILE_COPY`, `XLOG_DBASE_CREATE_WAL_LOG` or `XLOG_DBASE_DROP`: the
    /// database's files are created or removed at file level, without block references.
    Database,
    /// Anything else (no block reference the summary keeps).
    Other,
}

/// One WAL record of a timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WalRecord {
    /// Where it begins.
    pub at: Lsn,
    /// Where it ends (the next record's start).
    pub end: Lsn,
    /// What it does.
    pub kind: RecordKind,
}

/// The summarizer's rules that PostgreSQL changed; [`SummarizerRules::RELEASED`] is 17.11's
/// and 18.6's.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct SummarizerRules {
    /// A truncation's visibility-map limit is the VM's own new length, ⌈blocks / 32672⌉
    /// (`ffc226ab64`); before, the heap's length.
    pub vm_limit_in_vm_blocks: bool,
    /// Database creation and drop set limit 0 on the database-level key (`d75c4027b6`);
    /// before, they were ignored.
    pub database_records: bool,
    /// WAL written at `wal_level = minimal` is fast-forwarded, never summarized
    /// (`2b5819e2b4`); before, it was summarized like any other.
    pub skip_minimal_wal: bool,
    /// When the timeline being read ends (a promotion) below WAL the summarizer had already
    /// read, the file it is building is summarized again from its start up to the switch
    /// point, so that no abandoned record stays in it; and a file it had already written
    /// across the switch point gets a sibling ending at the switch point, so that a backup on
    /// the new timeline has a summary of that WAL which lies on its history. Not in any
    /// release: 17 and 18 keep what they read (INCREMENTAL.md §2.5, derived); this project's
    /// proposal.
    pub reread_at_switch: bool,
    /// When the timeline being read became historic and the summarizer has already passed
    /// its switch point, it goes back to the switch point on the next timeline
    /// (`c7cfbc5157`); before, it moved to the next timeline keeping its position, beyond WAL
    /// it never summarized there.
    pub rewind_at_switch: bool,
    /// A WAL segment file missing on the timeline being read is looked for under the same
    /// segment number on each later timeline of the history (`3e8a0c1b02`, in 17.11 and
    /// 18.5): the new timeline's first segment holds the old timeline's WAL up to the switch
    /// point. Before, only the file of the timeline being read was opened, and its absence
    /// ("requested WAL segment ... has already been removed") stopped the summarizer for good.
    pub segment_on_descendants: bool,
}

impl SummarizerRules {
    /// 17.11 and 18.6 as released.
    pub const RELEASED: SummarizerRules = SummarizerRules {
        vm_limit_in_vm_blocks: true,
        database_records: true,
        skip_minimal_wal: true,
        reread_at_switch: false,
        rewind_at_switch: true,
        segment_on_descendants: true,
    };
}

/// How one call of [`summarize_wal`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Summarized {
    /// A file was written for `[start, end)`; the next one starts at its end.
    Written(WalSummary),
    /// The range up to `end` held nothing to summarize (empty, or fast-forwarded whole): no
    /// file; the next one starts at `end`.
    Skipped {
        /// Where the next file starts.
        end: Lsn,
    },
    /// The WAL to read ended before anything closed the file: the summarizer waits for more
    /// (what it absorbed so far stays in memory, and is lost if it restarts).
    Waiting {
        /// The end of the last record absorbed or skipped (`pending_lsn`).
        pending: Lsn,
    },
}

/// A summary file being built: the records of timeline `tli` read from `start` so far, folded
/// into `table` (the summarizer's memory; a restart loses it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Building {
    /// The timeline read.
    pub tli: TimeLineId,
    /// Where the file starts.
    pub start: Lsn,
    /// The end of the last record read (`pending_lsn`).
    pub pending: Lsn,
    /// Reading without summarizing (WAL written at `wal_level = minimal`, or not yet at a
    /// boundary record).
    pub fast_forward: bool,
    /// Some record was summarized.
    pub absorbed: bool,
    /// What the records summarized did.
    pub table: BlockRefTable,
}

/// What reading one more record did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// Read (summarized or fast-forwarded); the file goes on.
    Continued,
    /// The record begins a new summary: the file ends just before it, unread.
    EndsBefore(Lsn),
}

impl Building {
    /// A file starting at `start` (a record start) on `tli`, in fast-forward until its first
    /// record says otherwise.
    pub fn new(tli: TimeLineId, start: Lsn) -> Self {
        Building {
            tli,
            start,
            pending: start,
            fast_forward: true,
            absorbed: false,
            table: BlockRefTable::new(),
        }
    }

    /// Reads `record`, the next one after [`Building::pending`].
    pub fn read(
        &mut self,
        rules: SummarizerRules,
        record: &WalRecord,
    ) -> Result<Read, BlockOutOfRange> {
        let first = record.at == self.start;
        if let RecordKind::Boundary { minimal, .. } = record.kind {
            if !first {
                return Ok(Read::EndsBefore(record.at));
            }
            self.fast_forward = rules.skip_minimal_wal && minimal;
        } else if first && !rules.skip_minimal_wal {
            // Before 2b5819e2b4 every record was summarized, wherever the file began.
            self.fast_forward = false;
        }
        if !self.fast_forward {
            absorb(rules, &mut self.table, record.kind)?;
            self.absorbed = true;
        }
        self.pending = record.end;
        Ok(Read::Continued)
    }

    /// Ends the file at `end`: written if it summarized anything over a non-empty range
    /// (whatever it read, records beyond `end` included, stays in it).
    pub fn finish(self, end: Lsn) -> Summarized {
        if self.absorbed && end > self.start {
            Summarized::Written(WalSummary {
                tli: self.tli,
                start: self.start,
                end,
                table: self.table,
            })
        } else {
            Summarized::Skipped { end }
        }
    }
}

/// `SummarizeWAL` for timeline `tli` from `start` (a record start) over `records` (that
/// timeline's WAL, in LSN order), reading up to `read_upto` (the flush point, or on a historic
/// timeline its switch point `switch`). The file ends before a boundary record that is not its
/// first, at `switch` (a record beginning at or after it is not read; one ending at or after it
/// is the last), or, on a historic timeline, where its WAL ends.
pub fn summarize_wal(
    rules: SummarizerRules,
    records: &[WalRecord],
    tli: TimeLineId,
    start: Lsn,
    switch: Option<Lsn>,
    read_upto: Lsn,
) -> Result<Summarized, BlockOutOfRange> {
    let mut file = Building::new(tli, start);
    for record in records.iter().filter(|r| r.at >= start) {
        if let Some(switch) = switch {
            if record.at >= switch {
                return Ok(file.finish(switch));
            }
        }
        if record.end > read_upto {
            break;
        }
        if let Read::EndsBefore(end) = file.read(rules, record)? {
            return Ok(file.finish(end));
        }
        if let Some(switch) = switch.filter(|&switch| record.end >= switch) {
            return Ok(file.finish(switch));
        }
    }
    match switch {
        // A timeline that became historic: its file ends where its WAL ends.
        Some(_) => Ok(file.finish(read_upto.max(start))),
        None => Ok(Summarized::Waiting {
            pending: file.pending,
        }),
    }
}

/// `SummarizeSmgrRecord`, `SummarizeXactRecord`, `SummarizeDbaseRecord` and the block
/// references of any record (the free-space map is never summarized).
fn absorb(
    rules: SummarizerRules,
    table: &mut BlockRefTable,
    kind: RecordKind,
) -> Result<(), BlockOutOfRange> {
    let forks = [Fork::Main, Fork::Vm, Fork::Init];
    match kind {
        RecordKind::Block { key, block } if key.fork != Fork::Fsm => {
            table.mark_block_modified(key, block)?;
        }
        RecordKind::Create { key } if key.fork != Fork::Fsm => table.set_limit_block(key, 0),
        RecordKind::Truncate { relation, blocks } => {
            table.set_limit_block(
                ForkKey {
                    relation,
                    fork: Fork::Main,
                },
                blocks,
            );
            let vm = if rules.vm_limit_in_vm_blocks {
                blocks.div_ceil(HEAPBLOCKS_PER_VM_PAGE)
            } else {
                blocks
            };
            table.set_limit_block(
                ForkKey {
                    relation,
                    fork: Fork::Vm,
                },
                vm,
            );
        }
        RecordKind::Drop { relation } => {
            for fork in forks {
                table.set_limit_block(ForkKey { relation, fork }, 0);
            }
        }
        RecordKind::Database if rules.database_records => {
            table.set_limit_block(ForkKey::DATABASE, 0);
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: ForkKey = ForkKey {
        relation: RelNumber(1),
        fork: Fork::Main,
    };
    const VM: ForkKey = ForkKey {
        relation: RelNumber(1),
        fork: Fork::Vm,
    };
    const T1: TimeLineId = TimeLineId(1);

    fn redo(minimal: bool) -> RecordKind {
        RecordKind::Boundary {
            kind: BoundaryKind::Redo,
            minimal,
        }
    }

    /// Records at 0x100, 0x110, ... each 0x10 long.
    fn wal(kinds: &[RecordKind]) -> Vec<WalRecord> {
        kinds
            .iter()
            .enumerate()
            .map(|(i, &kind)| WalRecord {
                at: Lsn(0x100 + 0x10 * i as u64),
                end: Lsn(0x110 + 0x10 * i as u64),
                kind,
            })
            .collect()
    }

    fn write(block: u32) -> RecordKind {
        RecordKind::Block { key: R, block }
    }

    #[test]
    fn a_file_runs_from_one_redo_point_to_just_before_the_next() {
        let records = wal(&[redo(false), write(1), write(2), redo(false), write(3)]);
        let out = summarize_wal(
            SummarizerRules::RELEASED,
            &records,
            T1,
            Lsn(0x100),
            None,
            Lsn(0x150),
        )
        .unwrap();
        let Summarized::Written(ws) = out else {
            panic!("{out:?}")
        };
        assert_eq!((ws.start, ws.end), (Lsn(0x100), Lsn(0x130)));
        assert_eq!(
            ws.table.entry(R).unwrap().blocks.iter().collect::<Vec<_>>(),
            [1, 2]
        );
        // The next file, from that redo point: no boundary yet, so it waits.
        let next = summarize_wal(
            SummarizerRules::RELEASED,
            &records,
            T1,
            Lsn(0x130),
            None,
            Lsn(0x150),
        )
        .unwrap();
        assert_eq!(
            next,
            Summarized::Waiting {
                pending: Lsn(0x150)
            }
        );
    }

    /// A timeline that became historic: the file ends at the switch point, and a record that
    /// begins at or after it is not absorbed.
    #[test]
    fn a_historic_timelines_file_ends_at_its_switch_point() {
        let records = wal(&[redo(false), write(1), write(2), write(3)]);
        let out = summarize_wal(
            SummarizerRules::RELEASED,
            &records,
            T1,
            Lsn(0x100),
            Some(Lsn(0x120)),
            Lsn(0x120),
        )
        .unwrap();
        let Summarized::Written(ws) = out else {
            panic!("{out:?}")
        };
        assert_eq!(ws.end, Lsn(0x120));
        assert_eq!(
            ws.table.entry(R).unwrap().blocks.iter().collect::<Vec<_>>(),
            [1]
        );
    }

    /// `2b5819e2b4` (I5): a range that begins at a redo point written at `wal_level =
    /// minimal` is fast-forwarded (no file); before the fix it was summarized.
    #[test]
    fn wal_written_at_wal_level_minimal_is_not_summarized_since_2b5819e2b4() {
        let records = wal(&[redo(true), write(1), redo(false)]);
        let released = summarize_wal(
            SummarizerRules::RELEASED,
            &records,
            T1,
            Lsn(0x100),
            None,
            Lsn(0x130),
        )
        .unwrap();
        assert_eq!(released, Summarized::Skipped { end: Lsn(0x120) });
        let old = SummarizerRules {
            skip_minimal_wal: false,
            ..SummarizerRules::RELEASED
        };
        let before = summarize_wal(old, &records, T1, Lsn(0x100), None, Lsn(0x130)).unwrap();
        assert!(matches!(before, Summarized::Written(_)), "{before:?}");
    }

    /// `ffc226ab64` (I3): truncating the heap to n blocks limits the visibility map to
    /// ⌈n / 32672⌉ blocks; before the fix, to n.
    #[test]
    fn a_truncation_limits_the_visibility_map_to_its_own_length_since_ffc226ab64() {
        let records = wal(&[
            redo(false),
            RecordKind::Truncate {
                relation: RelNumber(1),
                blocks: 40_000,
            },
            redo(false),
        ]);
        let limit = |rules| {
            let Ok(Summarized::Written(ws)) =
                summarize_wal(rules, &records, T1, Lsn(0x100), None, Lsn(0x130))
            else {
                panic!("a file");
            };
            (
                ws.table.entry(R).unwrap().limit,
                ws.table.entry(VM).unwrap().limit,
            )
        };
        assert_eq!(limit(SummarizerRules::RELEASED), (Some(40_000), Some(2)));
        let old = SummarizerRules {
            vm_limit_in_vm_blocks: false,
            ..SummarizerRules::RELEASED
        };
        assert_eq!(limit(old), (Some(40_000), Some(40_000)));
    }

    /// `d75c4027b6` (I4): a database created by file copy sets limit 0 on the database-level
    /// key; before the fix the record was ignored.
    #[test]
    fn database_creation_marks_the_database_since_d75c4027b6() {
        let records = wal(&[redo(false), RecordKind::Database, redo(false)]);
        let entry = |rules| match summarize_wal(rules, &records, T1, Lsn(0x100), None, Lsn(0x130))
            .unwrap()
        {
            Summarized::Written(ws) => ws.table.entry(ForkKey::DATABASE).copied(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            entry(SummarizerRules::RELEASED).and_then(|e| e.limit),
            Some(0)
        );
        let old = SummarizerRules {
            database_records: false,
            ..SummarizerRules::RELEASED
        };
        assert_eq!(entry(old), None);
    }

    /// INCREMENTAL.md §2.5 (derived): a summarizer that read WAL beyond the point where its
    /// timeline then ends (a standby promoted before replaying all it had received) writes its
    /// file up to the switch point with what it read beyond it still in the table.
    #[test]
    fn records_read_beyond_a_switch_point_that_moved_back_stay_in_the_file_written_to_it() {
        let records = wal(&[redo(false), write(1), write(2)]);
        let mut file = Building::new(T1, Lsn(0x100));
        for record in &records {
            assert_eq!(
                file.read(SummarizerRules::RELEASED, record),
                Ok(Read::Continued)
            );
        }
        // Promoted at 0x120: the timeline's WAL ends there, below the 0x130 already read.
        let Summarized::Written(ws) = file.finish(Lsn(0x120)) else {
            panic!("a file");
        };
        assert_eq!((ws.start, ws.end), (Lsn(0x100), Lsn(0x120)));
        assert!(
            ws.table.entry(R).unwrap().blocks.contains(2),
            "the abandoned record's block is in a file whose range lies on the history"
        );
    }

    #[test]
    fn creating_or_dropping_a_fork_sets_limit_zero_and_the_fsm_is_never_summarized() {
        let fsm = ForkKey {
            fork: Fork::Fsm,
            ..R
        };
        let records = wal(&[
            redo(false),
            RecordKind::Create { key: R },
            RecordKind::Block { key: fsm, block: 0 },
            RecordKind::Drop {
                relation: RelNumber(2),
            },
            redo(false),
        ]);
        let Ok(Summarized::Written(ws)) = summarize_wal(
            SummarizerRules::RELEASED,
            &records,
            T1,
            Lsn(0x100),
            None,
            Lsn(0x150),
        ) else {
            panic!("a file");
        };
        assert_eq!(ws.table.entry(R).unwrap().limit, Some(0));
        assert!(ws.table.entry(fsm).is_none());
        let dropped = ForkKey {
            relation: RelNumber(2),
            fork: Fork::Vm,
        };
        assert_eq!(ws.table.entry(dropped).unwrap().limit, Some(0));
    }
}
