//! Page changes and their full-page images (PROTOCOL.md §3): a writer locks a page's buffer,
//! assembles the change from its own copies of `RedoRecPtr` and `doPageWrites` (taking an
//! image when writes are forced and the page LSN is at or before the redo point), then under
//! the insertion lock re-checks the shared values and re-assembles if an image has become
//! necessary (`XLogInsertRecord`'s test). Also the ghost's end-to-end check: a change that is
//! the first after some backup's start point and carries no image taints that backup.

use crate::action::EventKind;
use crate::lsn::{record_bytes, Lsn};
use crate::state::{Cluster, PageId, Writer, WriterId};

impl Cluster {
    pub(super) fn page_assemble_enabled(&self, writer: WriterId, page: PageId) -> bool {
        let exists = usize::from(page) < self.pages.len();
        let unlocked = self.writers.iter().all(|w| w.page() != Some(page));
        self.writer_may_assemble(writer) && exists && unlocked
    }

    /// The part of [`Cluster::page_assemble_enabled`] that does not depend on the page: the
    /// writer is idle and page writes are left.
    pub(super) fn writer_may_assemble(&self, writer: WriterId) -> bool {
        let idle = self.writers.get(usize::from(writer)) == Some(&Writer::Idle);
        idle && self.used.page_writes < self.config.page_writes
            && self.server == crate::state::ServerState::Running
    }

    pub(super) fn page_insert_enabled(&self, writer: WriterId) -> bool {
        let assembled = matches!(
            self.writers.get(usize::from(writer)),
            Some(Writer::Assembled { .. })
        );
        assembled && self.shared.insert_lock_sharers == 0
    }

    fn assemble(&self, page: PageId) -> Writer {
        let redo = self.shared.redo;
        let do_page_writes = self.do_page_writes();
        let image = do_page_writes && self.pages[usize::from(page)] <= redo;
        Writer::Assembled {
            page,
            redo,
            do_page_writes,
            image,
        }
    }

    /// Locks the page and assembles the change without any WAL lock.
    pub(super) fn page_assemble(&mut self, writer: WriterId, page: PageId) -> EventKind {
        self.used.page_writes += 1;
        let assembled = self.assemble(page);
        self.writers[usize::from(writer)] = assembled;
        let image = matches!(assembled, Writer::Assembled { image: true, .. });
        EventKind::PageAssembled { page, image }
    }

    /// Under the insertion lock: if writes are forced now and either they were not when the
    /// change was assembled, or the page was left without an image although its LSN is at or
    /// before the current redo point, assemble again (9.5+: `fpw_lsn <= RedoRecPtr ||
    /// !prevDoPageWrites`; 9.0–9.4 tested the same inside `XLogInsert`). Otherwise insert.
    pub(super) fn page_insert(&mut self, writer: WriterId) -> EventKind {
        let Writer::Assembled {
            page,
            do_page_writes,
            image,
            ..
        } = self.writers[usize::from(writer)]
        else {
            unreachable!("page_insert_enabled checked the writer")
        };
        let page_lsn = self.pages[usize::from(page)];
        // `fpw_lsn`: the LSN of a page left without an image; assembly computes it only when
        // page writes were on, so a change assembled with them off has none.
        let unimaged_lsn = if image || !do_page_writes {
            Lsn::INVALID
        } else {
            page_lsn
        };
        let forced_now = self.do_page_writes();
        let turned_on = !do_page_writes && self.rules().page_recheck_when_turned_on;
        let stale = turned_on || (unimaged_lsn.is_valid() && unimaged_lsn <= self.shared.redo);
        if forced_now && stale {
            let again = self.assemble(page);
            self.writers[usize::from(writer)] = again;
            let image = matches!(again, Writer::Assembled { image: true, .. });
            return EventKind::PageReassembled { page, image };
        }
        let bytes = record_bytes::PAGE_CHANGE + if image { record_bytes::PAGE_IMAGE } else { 0 };
        let record = self.insert_wal(bytes);
        // The change's transaction commits: WAL is flushed through it.
        self.flush_wal();
        self.pages[usize::from(page)] = record.end;
        self.writers[usize::from(writer)] = Writer::Idle;
        if !image {
            self.taint_backups(page_lsn);
        }
        EventKind::PageWritten {
            page,
            at: record.start,
            image,
        }
    }

    /// A change without an image to a page last changed at `page_lsn` is the first change
    /// after every redo point at or beyond `page_lsn`: each backup starting or copying from
    /// such a point can hold a torn copy of the page that replay cannot repair. The control
    /// file's redo and the running checkpoint's redo are tracked too, for backups that will
    /// read them as their start point.
    fn taint_backups(&mut self, page_lsn: Lsn) {
        let tears = |b: &crate::state::Backup| {
            b.phase.is_live() && b.start.is_valid() && page_lsn <= b.start && !b.torn
        };
        self.update_backups(|backup| {
            let torn = tears(backup);
            backup.torn |= torn;
            torn
        });
        if page_lsn <= self.control.redo {
            self.ghost_mut().control_redo_torn = true;
        }
        if matches!(self.checkpointer.in_progress, Some(redo) if page_lsn <= redo) {
            self.ghost_mut().in_progress_redo_torn = true;
        }
    }
}
