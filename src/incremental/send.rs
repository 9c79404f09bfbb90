//! Which blocks an incremental backup sends for a relation file (`GetFileBackupMethod`,
//! `basebackup_incremental.c`; INCREMENTAL.md §1.4), from the merged block reference table.
//! The model's forks are one segment each (far below `RELSEG_SIZE` blocks), so block numbers
//! are segment-relative as they are.

use super::blkreftable::{BlockRefTable, BlockSet, Fork, ForkKey};

/// Bytes in a block.
pub const BLCKSZ: u64 = 8192;
/// Blocks in a relation segment file.
pub const RELSEG_SIZE: u32 = 131_072;

/// How a relation file is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileBackupMethod {
    /// The whole file.
    Full,
    /// `INCREMENTAL.<name>`: these blocks, and the length the file must be rebuilt to.
    Incremental {
        /// The blocks sent.
        blocks: BlockSet,
        /// `truncation_block_length`.
        truncation_block_length: u32,
    },
}

/// `GetFileBackupMethod` for fork `key`'s file of `size` bytes, given the merged table and
/// whether the prior backup's manifest lists the file (whole or incremental).
pub fn file_backup_method(
    table: &BlockRefTable,
    key: ForkKey,
    size: u64,
    in_prior_manifest: bool,
) -> FileBackupMethod {
    let blocks_in_file = size / BLCKSZ;
    if size % BLCKSZ != 0 || blocks_in_file > u64::from(RELSEG_SIZE) {
        return FileBackupMethod::Full;
    }
    let file_blocks = blocks_in_file as u32;
    // The free-space map is not fully WAL-logged.
    if key.fork == Fork::Fsm || !in_prior_manifest {
        return FileBackupMethod::Full;
    }
    // The database was created or dropped in the range (`d75c4027b6`).
    if table.entry(ForkKey::DATABASE).is_some() {
        return FileBackupMethod::Full;
    }
    let Some(entry) = table.entry(key) else {
        return if size == 0 {
            FileBackupMethod::Full
        } else {
            FileBackupMethod::Incremental {
                blocks: BlockSet::EMPTY,
                truncation_block_length: file_blocks,
            }
        };
    };
    if entry.limit.is_some_and(|limit| limit == 0) {
        return FileBackupMethod::Full;
    }
    let blocks = entry.blocks.range(0, file_blocks);
    // More than 90% of the file changed: send it whole (`nblocks * BLCKSZ > size * 0.9`).
    if u64::from(blocks.len()) * 10 > blocks_in_file * 9 {
        return FileBackupMethod::Full;
    }
    let mut truncation_block_length = file_blocks;
    if let Some(limit) = entry.limit {
        truncation_block_length = truncation_block_length.max(limit);
    }
    FileBackupMethod::Incremental {
        blocks,
        truncation_block_length: truncation_block_length.min(RELSEG_SIZE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incremental::blkreftable::RelNumber;

    const R: ForkKey = ForkKey {
        relation: RelNumber(1),
        fork: Fork::Main,
    };

    fn bytes(blocks: u64) -> u64 {
        blocks * BLCKSZ
    }

    #[test]
    fn files_the_summaries_cannot_vouch_for_are_sent_whole() {
        let empty = BlockRefTable::new();
        assert_eq!(
            file_backup_method(&empty, R, 100, true),
            FileBackupMethod::Full,
            "not whole blocks"
        );
        let fsm = ForkKey {
            fork: Fork::Fsm,
            ..R
        };
        assert_eq!(
            file_backup_method(&empty, fsm, bytes(4), true),
            FileBackupMethod::Full
        );
        assert_eq!(
            file_backup_method(&empty, R, bytes(4), false),
            FileBackupMethod::Full,
            "new since the prior backup"
        );
        assert_eq!(
            file_backup_method(&empty, R, 0, true),
            FileBackupMethod::Full,
            "empty file"
        );
        let mut db = BlockRefTable::new();
        db.set_limit_block(ForkKey::DATABASE, 0);
        assert_eq!(
            file_backup_method(&db, R, bytes(4), true),
            FileBackupMethod::Full,
            "database recreated"
        );
        let mut created = BlockRefTable::new();
        created.set_limit_block(R, 0);
        assert_eq!(
            file_backup_method(&created, R, bytes(4), true),
            FileBackupMethod::Full,
            "fork created"
        );
    }

    #[test]
    fn an_untouched_fork_sends_no_block_and_a_changed_one_its_blocks() {
        let empty = BlockRefTable::new();
        assert_eq!(
            file_backup_method(&empty, R, bytes(4), true),
            FileBackupMethod::Incremental {
                blocks: BlockSet::EMPTY,
                truncation_block_length: 4
            }
        );
        let mut t = BlockRefTable::new();
        t.mark_block_modified(R, 1).unwrap();
        t.mark_block_modified(R, 9).unwrap();
        let FileBackupMethod::Incremental {
            blocks,
            truncation_block_length,
        } = file_backup_method(&t, R, bytes(4), true)
        else {
            panic!("incremental");
        };
        assert_eq!(
            blocks.iter().collect::<Vec<_>>(),
            [1],
            "blocks beyond the file are not sent"
        );
        assert_eq!(truncation_block_length, 4);
    }

    /// The 90 % rule: 9 of 10 blocks changed is still incremental, all 10 whole.
    #[test]
    fn more_than_ninety_percent_changed_sends_the_file_whole() {
        let mut t = BlockRefTable::new();
        for b in 0..9 {
            t.mark_block_modified(R, b).unwrap();
        }
        assert!(matches!(
            file_backup_method(&t, R, bytes(10), true),
            FileBackupMethod::Incremental { .. }
        ));
        t.mark_block_modified(R, 9).unwrap();
        assert_eq!(
            file_backup_method(&t, R, bytes(10), true),
            FileBackupMethod::Full
        );
    }

    /// I1's last step (INCREMENTAL.md §3): limit n with the blocks at or above it forgotten,
    /// the file still N blocks: an incremental file of no block, rebuilt to N blocks.
    #[test]
    fn a_truncation_limit_below_the_file_keeps_its_length_and_drops_its_blocks() {
        let mut t = BlockRefTable::new();
        t.mark_block_modified(R, 3).unwrap();
        t.set_limit_block(R, 2);
        assert_eq!(
            file_backup_method(&t, R, bytes(4), true),
            FileBackupMethod::Incremental {
                blocks: BlockSet::EMPTY,
                truncation_block_length: 4
            }
        );
    }
}
