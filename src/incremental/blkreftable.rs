//! Block reference tables (`src/common/blkreftable.c`): for each relation fork, a limit block
//! (the smallest length the fork had in a range of WAL: 0 when created or dropped, the new
//! length when truncated) and the set of blocks modified. Setting a lower limit forgets every
//! modified block at or above it; a block marked after that is kept (the fork was extended
//! again). So folding two tables is order-sensitive (INCREMENTAL.md §1.3).

use thiserror::Error;

/// A relation fork (`ForkNumber`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fork {
    /// `MAIN_FORKNUM`.
    Main,
    /// `FSM_FORKNUM`: not fully WAL-logged; never summarized, always sent whole.
    Fsm,
    /// `VISIBILITYMAP_FORKNUM`.
    Vm,
    /// `INIT_FORKNUM`.
    Init,
}

/// A relation's file number within its database (`RelFileNumber`); 0 is the database-level
/// key (`relNumber = 0`, main fork) that database creation and drop records set a limit on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelNumber(pub u8);

impl RelNumber {
    /// The database-level key (`d75c4027b6`).
    pub const DATABASE: RelNumber = RelNumber(0);
}

/// What a block reference table is keyed by: one fork of one relation (the model's cluster
/// has one database in one tablespace, so `spcOid` and `dbOid` are implied).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ForkKey {
    /// The relation (or [`RelNumber::DATABASE`]).
    pub relation: RelNumber,
    /// The fork.
    pub fork: Fork,
}

impl ForkKey {
    /// The database-level entry: `(spc, db, 0, MAIN)`.
    pub const DATABASE: ForkKey = ForkKey {
        relation: RelNumber::DATABASE,
        fork: Fork::Main,
    };
}

/// A block number beyond what a [`BlockSet`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("block {0} is beyond the {max} blocks a fork may have here", max = BlockSet::CAPACITY)]
pub struct BlockOutOfRange(pub u32);

/// A set of block numbers below [`BlockSet::CAPACITY`]: the model's forks are small, and a
/// bit set keeps the hashed state a few bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockSet(u64);

impl BlockSet {
    /// The largest fork length, in blocks, a set can describe.
    pub const CAPACITY: u32 = 64;
    /// No block.
    pub const EMPTY: BlockSet = BlockSet(0);

    /// Adds `block`.
    pub fn insert(&mut self, block: u32) -> Result<(), BlockOutOfRange> {
        if block >= Self::CAPACITY {
            return Err(BlockOutOfRange(block));
        }
        self.0 |= 1 << block;
        Ok(())
    }

    /// Whether `block` is in the set.
    pub fn contains(self, block: u32) -> bool {
        block < Self::CAPACITY && self.0 & (1 << block) != 0
    }

    /// Keeps only the blocks below `limit`.
    pub fn truncate(&mut self, limit: u32) {
        if limit < Self::CAPACITY {
            self.0 &= (1u64 << limit) - 1;
        }
    }

    /// The blocks in `[from, to)`.
    pub fn range(self, from: u32, to: u32) -> BlockSet {
        let mut set = self;
        set.truncate(to);
        let below = if from >= Self::CAPACITY {
            u64::MAX
        } else {
            (1u64 << from) - 1
        };
        BlockSet(set.0 & !below)
    }

    /// How many blocks.
    pub fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// Whether there is none.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The blocks, ascending.
    pub fn iter(self) -> impl Iterator<Item = u32> {
        (0..Self::CAPACITY).filter(move |&b| self.contains(b))
    }

    /// The largest block, if any.
    pub fn max(self) -> Option<u32> {
        (self.0 != 0).then(|| 63 - self.0.leading_zeros())
    }
}

/// One fork's entry: its limit block (`None` is `InvalidBlockNumber`: no limit known) and the
/// blocks modified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRefEntry {
    /// `limit_block`.
    pub limit: Option<u32>,
    /// The modified blocks still remembered.
    pub blocks: BlockSet,
}

impl BlockRefEntry {
    /// `BlockRefTableEntrySetLimitBlock`: a limit at or above the current one changes
    /// nothing; a lower one is kept, and every modified block at or above it forgotten.
    pub fn set_limit_block(&mut self, limit: u32) {
        if self.limit.is_some_and(|current| limit >= current) {
            return;
        }
        self.limit = Some(limit);
        self.blocks.truncate(limit);
    }

    /// `BlockRefTableMarkBlockModified`.
    pub fn mark_block_modified(&mut self, block: u32) -> Result<(), BlockOutOfRange> {
        self.blocks.insert(block)
    }
}

/// A block reference table: entries by fork, in key order (the order the file format writes
/// them in).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRefTable {
    entries: smallvec::SmallVec<[(ForkKey, BlockRefEntry); 2]>,
}

impl BlockRefTable {
    /// `CreateEmptyBlockRefTable`.
    pub fn new() -> Self {
        Self::default()
    }

    fn entry_mut(&mut self, key: ForkKey) -> &mut BlockRefEntry {
        let index = match self.entries.binary_search_by_key(&key, |(k, _)| *k) {
            Ok(index) => index,
            Err(index) => {
                self.entries.insert(index, (key, BlockRefEntry::default()));
                index
            }
        };
        &mut self.entries[index].1
    }

    /// `BlockRefTableSetLimitBlock` (a new entry starts without a limit).
    pub fn set_limit_block(&mut self, key: ForkKey, limit: u32) {
        self.entry_mut(key).set_limit_block(limit);
    }

    /// `BlockRefTableMarkBlockModified` (a new entry starts without a limit).
    pub fn mark_block_modified(&mut self, key: ForkKey, block: u32) -> Result<(), BlockOutOfRange> {
        self.entry_mut(key).mark_block_modified(block)
    }

    /// `BlockRefTableGetEntry`.
    pub fn entry(&self, key: ForkKey) -> Option<&BlockRefEntry> {
        self.entries
            .binary_search_by_key(&key, |(k, _)| *k)
            .ok()
            .map(|index| &self.entries[index].1)
    }

    /// The entries, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (ForkKey, BlockRefEntry)> + '_ {
        self.entries.iter().copied()
    }

    /// Folds `summary` in as `PrepareForIncrementalBackup` reads a summary file: for each of
    /// its entries, in key order, the limit first, then each block it lists.
    pub fn absorb(&mut self, summary: &BlockRefTable) {
        for (key, entry) in summary.entries() {
            let into = self.entry_mut(key);
            if let Some(limit) = entry.limit {
                into.set_limit_block(limit);
            }
            into.blocks.0 |= entry.blocks.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: ForkKey = ForkKey {
        relation: RelNumber(1),
        fork: Fork::Main,
    };

    #[test]
    fn a_lower_limit_forgets_the_blocks_at_or_above_it_and_a_later_mark_is_kept() {
        let mut t = BlockRefTable::new();
        for b in [1, 5, 7] {
            t.mark_block_modified(R, b).unwrap();
        }
        t.set_limit_block(R, 5);
        assert_eq!(t.entry(R).unwrap().blocks.iter().collect::<Vec<_>>(), [1]);
        assert_eq!(t.entry(R).unwrap().limit, Some(5));
        // Re-extended: a block marked after the truncation stays.
        t.mark_block_modified(R, 6).unwrap();
        assert_eq!(
            t.entry(R).unwrap().blocks.iter().collect::<Vec<_>>(),
            [1, 6]
        );
        // A higher limit changes nothing.
        t.set_limit_block(R, 6);
        assert_eq!(t.entry(R).unwrap().limit, Some(5));
        assert!(t.entry(R).unwrap().blocks.contains(6));
    }

    /// INCREMENTAL.md §1.3: A (older) truncates to n, B (newer) re-extends and writes blocks
    /// at or above n. Folded in LSN order the answer is exact; in the order B, A the
    /// truncation forgets B's blocks.
    #[test]
    fn folding_summaries_is_order_sensitive() {
        let n = 2;
        let mut older = BlockRefTable::new();
        older.set_limit_block(R, n);
        let mut newer = BlockRefTable::new();
        newer.mark_block_modified(R, 3).unwrap();
        let mut in_order = BlockRefTable::new();
        in_order.absorb(&older);
        in_order.absorb(&newer);
        assert!(in_order.entry(R).unwrap().blocks.contains(3));
        let mut reversed = BlockRefTable::new();
        reversed.absorb(&newer);
        reversed.absorb(&older);
        assert!(!reversed.entry(R).unwrap().blocks.contains(3));
        assert_eq!(reversed.entry(R).unwrap().limit, Some(n));
    }

    #[test]
    fn block_sets_refuse_blocks_beyond_their_capacity_and_slice_ranges() {
        let mut s = BlockSet::EMPTY;
        assert_eq!(s.insert(64), Err(BlockOutOfRange(64)));
        for b in [0, 3, 63] {
            s.insert(b).unwrap();
        }
        assert_eq!(s.range(1, 63).iter().collect::<Vec<_>>(), [3]);
        assert_eq!(s.range(0, 64).len(), 3);
        assert_eq!(s.max(), Some(63));
        assert_eq!(BlockSet::EMPTY.max(), None);
    }
}
