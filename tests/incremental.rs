//! Incremental backup's rules end to end, by hand (INCREMENTAL.md §1.6, §3 I1): the summaries
//! chosen and merged, the blocks sent, and the combine, judged by the one fact that matters:
//! the rebuilt file equals the source's file at the incremental backup's start (replay from
//! there would not repair a block the combine got wrong, since no later record touches it).

use backup_coordinator::incremental::{
    file_backup_method, prepare_incremental, reconstruct, BackupFile, BlockRefTable,
    FileBackupMethod, Fork, ForkKey, ManifestRange, PageContent, RelNumber, SummarySelection,
    TimelineEntry, WalSummary, BLCKSZ,
};
use backup_coordinator::lsn::{Lsn, TimeLineId};
use smallvec::SmallVec;
use PageContent::Version as V;

const R: ForkKey = ForkKey {
    relation: RelNumber(1),
    fork: Fork::Main,
};

/// I1's schedule (reproduced on 17.11): full backup F at B0 with R's four blocks at version
/// 1; on timeline 1 a redo point at S, R truncated to 2 blocks, a redo point at R2; a standby
/// that summarized all of it, replayed only to S, is promoted there (timeline 2 from S, where
/// R still has four blocks), and writes blocks 2 and 3; an incremental backup at R3 on
/// timeline 2 with F's manifest. Returns the file rebuilt from F and it, and the source's.
fn i1(selection: SummarySelection) -> (Result<Vec<PageContent>, String>, Vec<PageContent>) {
    let (b0, s, r2, r3) = (Lsn(0x100), Lsn(0x200), Lsn(0x300), Lsn(0x400));
    let source = vec![V(1), V(1), V(2), V(2)];
    let mut truncated = BlockRefTable::new();
    truncated.set_limit_block(R, 2);
    let mut written = BlockRefTable::new();
    written.mark_block_modified(R, 2).unwrap();
    written.mark_block_modified(R, 3).unwrap();
    let summary = |tli, start: Lsn, end: Lsn, table: &BlockRefTable| WalSummary {
        tli: TimeLineId(tli),
        start,
        end,
        table: table.clone(),
    };
    // The directory as the standby has it (the abandoned timeline-1 file stays on disk).
    let directory = [
        summary(1, b0, s, &BlockRefTable::new()),
        summary(1, s, r2, &truncated),
        summary(2, s, r3, &written),
    ];
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
        end: Lsn(0x180),
    }];
    let prepared = match prepare_incremental(&ranges, &history, r3, &directory, selection) {
        Ok(prepared) => prepared,
        Err(e) => return (Err(e.to_string()), source),
    };
    let size = source.len() as u64 * BLCKSZ;
    let sent = match file_backup_method(&prepared.table, R, size, true) {
        FileBackupMethod::Full => BackupFile::Full(source.iter().copied().collect()),
        FileBackupMethod::Incremental {
            blocks,
            truncation_block_length,
        } => BackupFile::Incremental {
            blocks: blocks.iter().map(|b| (b, source[b as usize])).collect(),
            truncation_block_length,
        },
    };
    let full = BackupFile::Full(SmallVec::from_slice(&[V(1), V(1), V(1), V(1)]));
    let rebuilt = reconstruct(&[Some(full), Some(sent)]).map_err(|e| e.to_string());
    (rebuilt, source)
}

#[test]
fn i1_released_selection_rebuilds_stale_blocks_the_source_rewrote_after_the_promotion() {
    let (rebuilt, source) = i1(SummarySelection::Released);
    let rebuilt = rebuilt.expect("17.11 and 18.6 take the backup");
    assert_ne!(rebuilt, source, "the corruption f549ecd266 fixed");
    assert_eq!(
        rebuilt,
        vec![V(1); 4],
        "blocks 2 and 3 come back as F's stale versions"
    );
}

#[test]
fn i1_selection_within_the_backups_history_rebuilds_the_source() {
    let (rebuilt, source) = i1(SummarySelection::WithinHistory);
    assert_eq!(rebuilt, Ok(source));
}
