//! WAL summary files and `BASE_BACKUP (INCREMENTAL)`'s use of them
//! (`src/backend/backup/walsummary.c`, `PrepareForIncrementalBackup` in
//! `basebackup_incremental.c`; INCREMENTAL.md §1.2, §2.4): the file name, the directory read
//! (a half-open overlap test), the per-timeline filter (both ends inclusive), the coverage
//! check, the checks of the prior backup's WAL ranges against the new backup's timeline
//! history, and the merge, newest timeline first and inside a timeline in directory order.

use super::blkreftable::BlockRefTable;
use crate::lsn::{Lsn, TimeLineId};
use thiserror::Error;

/// One WAL summary file: the block references of the WAL of timeline `tli` in
/// `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WalSummary {
    /// The timeline whose WAL it summarizes.
    pub tli: TimeLineId,
    /// Where its WAL begins.
    pub start: Lsn,
    /// Where it ends (the next file's start).
    pub end: Lsn,
    /// What that WAL did to each fork.
    pub table: BlockRefTable,
}

impl WalSummary {
    /// `pg_wal/summaries/<tli><start hi><start lo><end hi><end lo>.summary`, each `%08X`.
    pub fn file_name(&self) -> String {
        format!(
            "{:08X}{:08X}{:08X}{:08X}{:08X}.summary",
            self.tli.0,
            self.start.0 >> 32,
            self.start.0 & 0xFFFF_FFFF,
            self.end.0 >> 32,
            self.end.0 & 0xFFFF_FFFF
        )
    }

    /// The timeline and range a summary file's name carries (`IsWalSummaryFilename`: 40
    /// upper-case hex digits and `.summary`), or `None` for any other name.
    pub fn parse_file_name(name: &str) -> Option<(TimeLineId, Lsn, Lsn)> {
        let hex = name.strip_suffix(".summary")?;
        if hex.len() != 40
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        {
            return None;
        }
        let word = |i: usize| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok();
        let lsn = |hi: u32, lo: u32| Lsn((u64::from(hi) << 32) | u64::from(lo));
        Some((
            TimeLineId(word(0)?),
            lsn(word(1)?, word(2)?),
            lsn(word(3)?, word(4)?),
        ))
    }
}

/// `GetWalSummaries(0, start, end)`: the files (in the order given, the directory's) whose
/// range overlaps `[start, end)`: `file_end > start` and `file_start < end`.
pub fn get_wal_summaries(all: &[WalSummary], start: Lsn, end: Lsn) -> Vec<&WalSummary> {
    all.iter()
        .filter(|ws| ws.end > start && ws.start < end)
        .collect()
}

/// `FilterWalSummaries(list, tli, start, end)`: the files of timeline `tli` with
/// `start <= ws.end` and `ws.start <= end`, both ends inclusive (so a file that begins
/// exactly at `end` is kept: what lets I1's abandoned old-timeline summary in).
pub fn filter_wal_summaries<'a>(
    list: &[&'a WalSummary],
    tli: TimeLineId,
    start: Lsn,
    end: Lsn,
) -> Vec<&'a WalSummary> {
    list.iter()
        .copied()
        .filter(|ws| ws.tli == tli && start <= ws.end && ws.start <= end)
        .collect()
}

/// `WalSummariesAreComplete`: whether `list` covers `[start, end)` without a gap, looking at
/// the files by ascending start (a private sorted copy). `Err(None)`: the list is empty;
/// `Err(Some(lsn))`: the first LSN not covered.
pub fn wal_summaries_are_complete(
    list: &[&WalSummary],
    start: Lsn,
    end: Lsn,
) -> Result<(), Option<Lsn>> {
    if list.is_empty() {
        return Err(None);
    }
    let mut sorted: Vec<&WalSummary> = list.to_vec();
    sorted.sort_by_key(|ws| ws.start);
    let mut current = start;
    for ws in sorted {
        if ws.start > current {
            break;
        }
        current = current.max(ws.end);
        if current >= end {
            break;
        }
    }
    if current >= end {
        Ok(())
    } else {
        Err(Some(current))
    }
}

/// One entry of a timeline history (`TimeLineHistoryEntry`): timeline `tli` holds the WAL
/// in `[begin, end)`; `end` is `None` for the newest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimelineEntry {
    /// The timeline.
    pub tli: TimeLineId,
    /// Where it begins (`Lsn::INVALID` for the first).
    pub begin: Lsn,
    /// Where the next one begins, if any.
    pub end: Option<Lsn>,
}

/// One `WAL-Ranges` entry of the prior backup's manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestRange {
    /// The timeline.
    pub tli: TimeLineId,
    /// Where the prior backup needs WAL of that timeline from.
    pub start: Lsn,
    /// And up to.
    pub end: Lsn,
}

/// Which summaries of a timeline `BASE_BACKUP (INCREMENTAL)` may use.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SummarySelection {
    /// 17.11 and 18.6 as released: every summary `FilterWalSummaries` keeps, both ends
    /// inclusive, so an old-timeline summary that begins exactly at the switch point (WAL the
    /// promotion abandoned) is used (I1, fixed by `f549ecd266`, whose diff is not at hand).
    Released,
    /// Built from the fix's description: a summary used must lie on the backup's own timeline
    /// history, so on a timeline the history left, only summaries that end by the switch
    /// point (a gap this leaves fails the coverage check instead).
    WithinHistory,
}

/// The order the chosen summaries are merged in (a lower limit forgets the blocks merged
/// before it, so the order decides what survives: INCREMENTAL.md §1.3).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum MergeOrder {
    /// 17.11 and 18.6: newest timeline first, and inside a timeline in the order the
    /// directory read returns the files (no sort).
    Released,
    /// The order the WAL was written in: along the history from the oldest timeline, each
    /// timeline's files by start point (this project's proposal).
    Wal,
}

/// What the preparation of an incremental backup decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// `INCREMENTAL FROM LSN`: the prior backup's start (the earliest range's start).
    pub from_lsn: Lsn,
    /// `INCREMENTAL FROM TLI`.
    pub from_tli: TimeLineId,
    /// The summaries merged, in the order merged: `(tli, start, end)`.
    pub used: Vec<(TimeLineId, Lsn, Lsn)>,
    /// The merged block reference table.
    pub table: BlockRefTable,
}

/// Why `BASE_BACKUP (INCREMENTAL)` refused, with PostgreSQL's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Error)]
pub enum IncrementalError {
    /// The manifest lists no WAL range.
    #[error("manifest contains no required WAL ranges")]
    NoWalRanges,
    /// A manifest range's timeline is not in the new backup's timeline history.
    #[error("timeline {0} found in manifest, but not in this server's history")]
    TimelineNotInHistory(TimeLineId),
    /// The earliest timeline's range starts before that timeline begins.
    #[error("manifest requires WAL from initial timeline {tli} starting at {start}, but that timeline begins at {begin}")]
    InitialTimeline {
        /// The timeline.
        tli: TimeLineId,
        /// The range's start.
        start: Lsn,
        /// The timeline's beginning.
        begin: Lsn,
    },
    /// A later timeline's range does not start where that timeline begins.
    #[error("manifest requires WAL from continuation timeline {tli} starting at {start}, but that timeline begins at {begin}")]
    ContinuationTimeline {
        /// The timeline.
        tli: TimeLineId,
        /// The range's start.
        start: Lsn,
        /// The timeline's beginning.
        begin: Lsn,
    },
    /// The latest timeline's range ends after the new backup's start point.
    #[error("manifest requires WAL from final timeline {tli} ending at {end}, but this backup starts at {start}")]
    FinalTimeline {
        /// The timeline.
        tli: TimeLineId,
        /// The range's end.
        end: Lsn,
        /// The new backup's start point.
        start: Lsn,
    },
    /// An earlier timeline's range does not end where the server switched timelines.
    #[error("manifest requires WAL from non-final timeline {tli} ending at {end}, but this server switched timelines at {switch}")]
    NonFinalTimeline {
        /// The timeline.
        tli: TimeLineId,
        /// The range's end.
        end: Lsn,
        /// Where the timeline ends in the history.
        switch: Lsn,
    },
    /// `WaitForWalSummarization`: the summarizer's position did not move for six 10-second
    /// cycles (INCREMENTAL.md §2.8).
    #[error("WAL summarization is not progressing: summarization is needed through {needed}, but is stuck at {on_disk} on disk and {in_memory} in memory")]
    SummarizationNotProgressing {
        /// The backup's start point.
        needed: Lsn,
        /// The end of the last file written (`summarized_lsn`).
        on_disk: Lsn,
        /// What it has read (`pending_lsn`).
        in_memory: Lsn,
    },
    /// No summary of a timeline overlaps the range needed.
    #[error("WAL summaries are required on timeline {tli} from {from} to {to}, but no summaries for that timeline and LSN range exist")]
    NoSummaries {
        /// The timeline.
        tli: TimeLineId,
        /// Range start.
        from: Lsn,
        /// Range end.
        to: Lsn,
    },
    /// The summaries of a timeline leave a gap.
    #[error("WAL summaries are required on timeline {tli} from {from} to {to}, but the summaries for that timeline and LSN range are incomplete (the first unsummarized LSN in this range is {missing})")]
    IncompleteSummaries {
        /// The timeline.
        tli: TimeLineId,
        /// Range start.
        from: Lsn,
        /// Range end.
        to: Lsn,
        /// The first LSN not covered.
        missing: Lsn,
    },
}

/// `PrepareForIncrementalBackup` after its wait for the summarizer: the checks of the prior
/// backup's WAL ranges against `history` (the new backup's start timeline's history, newest
/// first, as `readTimeLineHistory` returns it), the choice of summaries among `directory`
/// (in the order the directory read returns them), the coverage check per timeline, and the
/// merge: newest timeline first, each timeline's files in directory order.
pub fn prepare_incremental(
    ranges: &[ManifestRange],
    history: &[TimelineEntry],
    start: Lsn,
    directory: &[WalSummary],
    selection: SummarySelection,
    order: MergeOrder,
) -> Result<Prepared, IncrementalError> {
    if ranges.is_empty() {
        return Err(IncrementalError::NoWalRanges);
    }
    let position = |tli: TimeLineId| history.iter().position(|e| e.tli == tli);
    let mut earliest: Option<(usize, ManifestRange)> = None;
    let mut latest: Option<(usize, ManifestRange)> = None;
    for range in ranges {
        let at = position(range.tli).ok_or(IncrementalError::TimelineNotInHistory(range.tli))?;
        if earliest.is_none_or(|(e, _)| at > e) {
            earliest = Some((at, *range));
        }
        if latest.is_none_or(|(l, _)| at < l) {
            latest = Some((at, *range));
        }
    }
    let (Some((earliest_at, earliest)), Some((_, latest))) = (earliest, latest) else {
        return Err(IncrementalError::NoWalRanges);
    };
    for range in ranges {
        let Some(entry) = position(range.tli).map(|at| history[at]) else {
            return Err(IncrementalError::TimelineNotInHistory(range.tli));
        };
        if range.tli == earliest.tli {
            if range.start < entry.begin {
                return Err(IncrementalError::InitialTimeline {
                    tli: range.tli,
                    start: range.start,
                    begin: entry.begin,
                });
            }
        } else if range.start != entry.begin {
            return Err(IncrementalError::ContinuationTimeline {
                tli: range.tli,
                start: range.start,
                begin: entry.begin,
            });
        }
        if range.tli == latest.tli {
            if range.end > start {
                return Err(IncrementalError::FinalTimeline {
                    tli: range.tli,
                    end: range.end,
                    start,
                });
            }
        } else if Some(range.end) != entry.end {
            return Err(IncrementalError::NonFinalTimeline {
                tli: range.tli,
                end: range.end,
                switch: entry.end.unwrap_or(Lsn::INVALID),
            });
        }
    }
    let all = get_wal_summaries(directory, earliest.start, start);
    let mut required: Vec<&WalSummary> = Vec::new();
    for (at, entry) in history.iter().enumerate().take(earliest_at + 1) {
        let from = if entry.tli == earliest.tli {
            earliest.start
        } else {
            entry.begin
        };
        let to = if at == 0 {
            start
        } else {
            entry.end.unwrap_or(start)
        };
        let mut files = filter_wal_summaries(&all, entry.tli, from, to);
        if selection == SummarySelection::WithinHistory && at > 0 {
            files.retain(|ws| ws.end <= to);
        }
        match wal_summaries_are_complete(&files, from, to) {
            Ok(()) => {}
            Err(None) => {
                return Err(IncrementalError::NoSummaries {
                    tli: entry.tli,
                    from,
                    to,
                })
            }
            Err(Some(missing)) => {
                return Err(IncrementalError::IncompleteSummaries {
                    tli: entry.tli,
                    from,
                    to,
                    missing,
                })
            }
        }
        required.extend(files);
    }
    if order == MergeOrder::Wal {
        // Timelines oldest first (the history is listed newest first), then by start point.
        let rank = |ws: &WalSummary| {
            let at = history.iter().position(|e| e.tli == ws.tli).unwrap_or(0);
            (std::cmp::Reverse(at), ws.start)
        };
        required.sort_by_key(|ws| rank(ws));
    }
    let mut table = BlockRefTable::new();
    for ws in &required {
        table.absorb(&ws.table);
    }
    Ok(Prepared {
        from_lsn: earliest.start,
        from_tli: earliest.tli,
        used: required
            .iter()
            .map(|ws| (ws.tli, ws.start, ws.end))
            .collect(),
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incremental::blkreftable::{Fork, ForkKey, RelNumber};

    const R: ForkKey = ForkKey {
        relation: RelNumber(1),
        fork: Fork::Main,
    };

    fn summary(tli: u32, start: u64, end: u64) -> WalSummary {
        WalSummary {
            tli: TimeLineId(tli),
            start: Lsn(start),
            end: Lsn(end),
            table: BlockRefTable::new(),
        }
    }

    #[test]
    fn summary_file_names_render_and_parse_as_the_server_writes_them() {
        // Observed on 17.11 (INCREMENTAL.md §2.6): `1|0/301B928|0/302FA80`.
        let ws = summary(1, 0x301B928, 0x302FA80);
        let name = ws.file_name();
        assert_eq!(name, "00000001000000000301B928000000000302FA80.summary");
        assert_eq!(
            WalSummary::parse_file_name(&name),
            Some((TimeLineId(1), Lsn(0x301B928), Lsn(0x302FA80)))
        );
        assert_eq!(WalSummary::parse_file_name("temp.summary"), None);
        assert_eq!(
            WalSummary::parse_file_name("00000001000000000301b928000000000302FA80.summary"),
            None,
            "lower-case hex is not a summary name"
        );
    }

    #[test]
    fn the_directory_read_is_half_open_and_the_timeline_filter_inclusive() {
        let all = [summary(1, 10, 20), summary(1, 20, 30), summary(2, 20, 25)];
        // [20, 30): a file ending at 20 does not overlap it.
        let read = get_wal_summaries(&all, Lsn(20), Lsn(30));
        assert_eq!(read.len(), 2);
        // [10, 20] on timeline 1: the file starting at 20 is kept too.
        let all_refs: Vec<&WalSummary> = all.iter().collect();
        let kept = filter_wal_summaries(&all_refs, TimeLineId(1), Lsn(10), Lsn(20));
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn coverage_finds_the_first_unsummarized_lsn() {
        let a = summary(1, 10, 20);
        let b = summary(1, 25, 40);
        assert_eq!(wal_summaries_are_complete(&[], Lsn(10), Lsn(40)), Err(None));
        assert_eq!(
            wal_summaries_are_complete(&[&b, &a], Lsn(10), Lsn(40)),
            Err(Some(Lsn(20)))
        );
        let c = summary(1, 20, 25);
        assert_eq!(
            wal_summaries_are_complete(&[&b, &c, &a], Lsn(10), Lsn(40)),
            Ok(())
        );
    }

    /// INCREMENTAL.md §3, I1 steps 9-11: timeline 2 begins at S; the standby's summarizer had
    /// written `(1, S, R2)` with the truncation of R to n before the promotion. The
    /// inclusive filter keeps it for timeline 1's range `[B0, S]`; merged after timeline 2's
    /// files, its limit n forgets the blocks timeline 2 wrote at or above n.
    #[test]
    fn i1_an_abandoned_old_timeline_summary_starting_at_the_switch_point_is_merged_last() {
        let (b0, s, r2, r3) = (Lsn(100), Lsn(200), Lsn(300), Lsn(400));
        let n = 2;
        let mut abandoned = summary(1, s.0, r2.0);
        abandoned.table.set_limit_block(R, n);
        let mut after_promotion = summary(2, s.0, r3.0);
        after_promotion.table.mark_block_modified(R, 3).unwrap();
        let directory = [summary(1, b0.0, s.0), abandoned, after_promotion];
        let history = [
            TimelineEntry {
                tli: TimeLineId(2),
                begin: s,
                end: None,
            },
            TimelineEntry {
                tli: TimeLineId(1),
                begin: Lsn::INVALID,
                end: Some(s),
            },
        ];
        let ranges = [ManifestRange {
            tli: TimeLineId(1),
            start: b0,
            end: Lsn(150),
        }];
        let prepared = prepare_incremental(
            &ranges,
            &history,
            r3,
            &directory,
            SummarySelection::Released,
            MergeOrder::Released,
        )
        .unwrap();
        assert_eq!(
            prepared.used,
            vec![
                (TimeLineId(2), s, r3),
                (TimeLineId(1), b0, s),
                (TimeLineId(1), s, r2)
            ],
            "newest timeline first; the abandoned file is used"
        );
        let entry = prepared.table.entry(R).unwrap();
        assert_eq!(entry.limit, Some(n));
        assert!(!entry.blocks.contains(3), "timeline 2's write is forgotten");
        assert_eq!((prepared.from_lsn, prepared.from_tli), (b0, TimeLineId(1)));
    }

    #[test]
    fn the_prior_backups_ranges_are_checked_against_the_history() {
        let history = [TimelineEntry {
            tli: TimeLineId(1),
            begin: Lsn::INVALID,
            end: None,
        }];
        let range = |tli, start, end| ManifestRange {
            tli: TimeLineId(tli),
            start: Lsn(start),
            end: Lsn(end),
        };
        let directory = [summary(1, 10, 100)];
        assert_eq!(
            prepare_incremental(
                &[],
                &history,
                Lsn(50),
                &directory,
                SummarySelection::Released,
                MergeOrder::Released
            ),
            Err(IncrementalError::NoWalRanges)
        );
        assert_eq!(
            prepare_incremental(
                &[range(2, 10, 20)],
                &history,
                Lsn(50),
                &directory,
                SummarySelection::Released,
                MergeOrder::Released
            ),
            Err(IncrementalError::TimelineNotInHistory(TimeLineId(2)))
        );
        assert_eq!(
            prepare_incremental(
                &[range(1, 10, 60)],
                &history,
                Lsn(50),
                &directory,
                SummarySelection::Released,
                MergeOrder::Released
            ),
            Err(IncrementalError::FinalTimeline {
                tli: TimeLineId(1),
                end: Lsn(60),
                start: Lsn(50)
            }),
            "a standby backup with little activity since the prior one"
        );
        assert_eq!(
            prepare_incremental(
                &[range(1, 5, 20)],
                &history,
                Lsn(50),
                &directory,
                SummarySelection::Released,
                MergeOrder::Released
            ),
            Err(IncrementalError::IncompleteSummaries {
                tli: TimeLineId(1),
                from: Lsn(5),
                to: Lsn(50),
                missing: Lsn(5)
            })
        );
        assert!(prepare_incremental(
            &[range(1, 10, 20)],
            &history,
            Lsn(50),
            &directory,
            SummarySelection::Released,
            MergeOrder::Released
        )
        .is_ok());
    }
}
