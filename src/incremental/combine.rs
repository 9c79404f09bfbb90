//! `pg_combinebackup`'s rebuilding of one relation file from a chain of backups
//! (`reconstruct_from_incremental_file`, `reconstruct.c`; INCREMENTAL.md §1.5): the newest
//! incremental file's blocks, then, walking older backups newest to oldest, each older
//! incremental file's blocks below the newest file's truncation length not yet found, then the
//! first whole copy's; every block still unfound is written as zeros.

use super::send::RELSEG_SIZE;
use smallvec::SmallVec;
use thiserror::Error;

/// A block's content: a version of the page, or zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PageContent {
    /// All zeros (never written, or zero-filled by the combine).
    Zeroed,
    /// The page as of its `n`-th change.
    Version(u16),
}

/// A relation file as one backup holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackupFile {
    /// The whole file, block by block.
    Full(SmallVec<[PageContent; 8]>),
    /// `INCREMENTAL.<name>`: some blocks and the length to rebuild the file to.
    Incremental {
        /// Block number and content, ascending.
        blocks: SmallVec<[(u32, PageContent); 4]>,
        /// `truncation_block_length`.
        truncation_block_length: u32,
    },
}

/// Why the combine refused a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Error)]
pub enum CombineError {
    /// The chain is empty.
    #[error("no backup given")]
    Empty,
    /// The oldest backup holds an incremental file (`0b1765d959`).
    #[error("full backup contains unexpected incremental file")]
    IncrementalInFullBackup,
    /// A backup of the chain lacks the file, so no whole copy can be reached.
    #[error("a backup in the chain has no copy of the file")]
    MissingInChain,
    /// An incremental file's header is out of range.
    #[error("incremental file has truncation block length {0} in excess of segment size {max}", max = RELSEG_SIZE)]
    TruncationBeyondSegment(u32),
}

/// Rebuilds a file from `chain`, oldest (the full backup) first, newest last; `None` where a
/// backup does not hold the file. Returns the file's blocks.
pub fn reconstruct(chain: &[Option<BackupFile>]) -> Result<Vec<PageContent>, CombineError> {
    let (newest, older) = chain.split_last().ok_or(CombineError::Empty)?;
    if let Some(Some(BackupFile::Incremental { .. })) = chain.first() {
        return Err(CombineError::IncrementalInFullBackup);
    }
    let (blocks, truncation) = match newest.as_ref().ok_or(CombineError::MissingInChain)? {
        BackupFile::Full(pages) => return Ok(pages.to_vec()),
        BackupFile::Incremental {
            blocks,
            truncation_block_length,
        } => (blocks, *truncation_block_length),
    };
    if truncation > RELSEG_SIZE {
        return Err(CombineError::TruncationBeyondSegment(truncation));
    }
    let length = blocks
        .iter()
        .map(|&(b, _)| b + 1)
        .max()
        .unwrap_or(0)
        .max(truncation);
    let mut out: Vec<Option<PageContent>> = vec![None; length as usize];
    for &(b, page) in blocks {
        out[b as usize] = Some(page);
    }
    for file in older.iter().rev() {
        match file.as_ref().ok_or(CombineError::MissingInChain)? {
            BackupFile::Incremental { blocks, .. } => {
                for &(b, page) in blocks {
                    if b < truncation && out[b as usize].is_none() {
                        out[b as usize] = Some(page);
                    }
                }
            }
            BackupFile::Full(pages) => {
                for (b, &page) in pages.iter().enumerate().take(truncation as usize) {
                    if out[b].is_none() {
                        out[b] = Some(page);
                    }
                }
                break;
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|p| p.unwrap_or(PageContent::Zeroed))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::smallvec;
    use PageContent::{Version as V, Zeroed};

    #[test]
    fn newer_blocks_win_and_the_full_copy_fills_the_rest_up_to_the_truncation_length() {
        let full = BackupFile::Full(smallvec![V(1), V(1), V(1), V(1)]);
        let first = BackupFile::Incremental {
            blocks: smallvec![(0, V(2)), (2, V(2))],
            truncation_block_length: 4,
        };
        let second = BackupFile::Incremental {
            blocks: smallvec![(2, V(3))],
            truncation_block_length: 3,
        };
        assert_eq!(
            reconstruct(&[Some(full), Some(first), Some(second)]),
            Ok(vec![V(2), V(1), V(3)]),
            "block 3 lies beyond the newest truncation length"
        );
    }

    /// I1's combine (INCREMENTAL.md §3, step 12): the incremental file holds no block and
    /// length N; the full backup had fewer blocks, so the rest are zeros, and the blocks it
    /// had are its stale versions.
    #[test]
    fn blocks_no_backup_holds_come_back_as_zeros() {
        let full = BackupFile::Full(smallvec![V(1), V(1)]);
        let incremental = BackupFile::Incremental {
            blocks: SmallVec::new(),
            truncation_block_length: 4,
        };
        assert_eq!(
            reconstruct(&[Some(full), Some(incremental)]),
            Ok(vec![V(1), V(1), Zeroed, Zeroed])
        );
    }

    #[test]
    fn malformed_chains_are_refused() {
        let incremental = BackupFile::Incremental {
            blocks: SmallVec::new(),
            truncation_block_length: 1,
        };
        assert_eq!(reconstruct(&[]), Err(CombineError::Empty));
        assert_eq!(
            reconstruct(&[Some(incremental.clone()), Some(incremental.clone())]),
            Err(CombineError::IncrementalInFullBackup)
        );
        assert_eq!(
            reconstruct(&[None, Some(incremental)]),
            Err(CombineError::MissingInChain)
        );
        let too_long = BackupFile::Incremental {
            blocks: SmallVec::new(),
            truncation_block_length: RELSEG_SIZE + 1,
        };
        assert_eq!(
            reconstruct(&[Some(BackupFile::Full(SmallVec::new())), Some(too_long)]),
            Err(CombineError::TruncationBeyondSegment(RELSEG_SIZE + 1))
        );
    }
}
