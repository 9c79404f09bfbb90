//! Ghost bookkeeping after every step, so that the state stays bounded however long a run is:
//! a finished backup (stopped, failed, lost) is checked one last time, any property it breaks
//! is latched, and it is retired; start points, backup-end records and history file names are
//! kept only while some backup could still collide with them.
//!
//! Why forgetting is sound: a start point is always the redo point of the control file at the
//! moment a session reads it, and the control file's redo point only grows (every checkpoint,
//! including the end-of-recovery one after a crash, begins at the insert position, beyond all
//! earlier WAL). So a start point below the control file's redo can only reappear through
//! something that already holds it: a live backup, a session (between reading the control file
//! and its stop), the exclusive `backup_label`, or a temporary label file.

use crate::invariants::{backup_problem, PER_BACKUP};
use crate::lsn::Lsn;
use crate::state::{Backup, BackupId, BackupMode, Cluster, Latched, Regions, SessionId, Unit};

/// The backups one step retired, with their last ghost record.
pub type Retired = smallvec::SmallVec<[Backup; 2]>;

impl Cluster {
    /// Retires finished backups and forgets start points no backup can reach any more.
    /// Returns the backups retired (their last ghost record).
    ///
    /// Every state a step starts from is settled (this runs after every step, and running it
    /// twice changes nothing), so only what the step wrote can unsettle it: each pass runs
    /// only where the step (or a pass before it) wrote a part of the cluster it reads
    /// ([`crate::state::Touched::regions`]; shared memory, `pg_control` and the server's
    /// state are compared before this runs).
    #[inline(always)]
    pub(super) fn settle_ghost(&mut self) -> Retired {
        const B: Regions = Regions::BACKUPS;
        let written = |c: &Cluster, reads: Regions| c.touched.regions().meets(reads);
        if written(self, B.union(Regions::WAL)) {
            self.note_early_end_records();
        }
        let mut retired = Retired::new();
        // A backup finishes only where a step wrote its record.
        if written(self, B) && self.backups.iter().any(|b| b.is_finished()) {
            self.retire_finished_backups(&mut retired);
        }
        let reachability = B
            .union(Regions::SESSIONS)
            .union(Regions::CONTROL)
            .union(Regions::GHOST)
            .union(Regions::WAL)
            .union(Regions::DATA_DIR);
        if written(self, reachability) {
            self.forget_unreachable_starts();
        }
        if written(self, B.union(Regions::WAL).union(Regions::CONTROL)) {
            self.forget_unnamed_checkpoints();
        }
        retired
    }

    /// Whether the ghost bookkeeping is settled: running every pass of it again, whatever the
    /// last step wrote, would change nothing. Every state a step leads to is (a test holds
    /// every step of every design to it); [`Cluster::settle_ghost`] relies on it to run only
    /// the passes that read what a step wrote.
    pub fn ghost_is_settled(&self) -> bool {
        let mut again = self.clone();
        again.touched.write_all();
        let retired = again.settle_ghost();
        retired.is_empty() && again == *self
    }

    /// Checkpoints neither the control file nor a live backup names any more.
    fn forget_unnamed_checkpoints(&mut self) {
        if self.wal.checkpoints.len() <= 1 {
            return;
        }
        let named = |at: Lsn| {
            at == self.control.checkpoint || self.backups.iter().any(|b| b.checkpoint == at)
        };
        if self.wal.checkpoints.iter().all(|&(at, _)| named(at)) {
            return;
        }
        self.touched.write_regions(Regions::WAL);
        let Cluster {
            wal,
            backups,
            control,
            ..
        } = self;
        wal.checkpoints.retain(|&mut (at, _)| {
            at == control.checkpoint || backups.iter().any(|b| b.checkpoint == at)
        });
    }

    /// A backup-end record that carries the start point of a backup whose copy is not over
    /// yet would end that backup's recovery too early (ghost, for the restore check).
    fn note_early_end_records(&mut self) {
        if self.wal.end_records.is_empty() {
            return;
        }
        let Cluster {
            backups,
            wal,
            touched,
            ..
        } = self;
        for (index, backup) in backups.iter_mut().enumerate() {
            let exposed = backup.accepted
                && !backup.from_standby
                && !backup.copy_over
                && !backup.early_end_record;
            if exposed
                && wal
                    .end_records
                    .iter()
                    .any(|&(at, carried)| carried == backup.start && at >= backup.start)
            {
                backup.early_end_record = true;
                touched.write_backup(index);
            }
        }
    }

    fn retire_finished_backups(&mut self, retired: &mut Retired) {
        let mut finished = Retired::new();
        let mut index = 0;
        while index < self.backups.len() {
            if self.backups[index].is_finished() {
                finished.push(self.backups_mut().remove(index));
            } else {
                index += 1;
            }
        }
        // Backups that finish in the same step are taken in an order that does not depend on
        // their numbers or their sessions' (only the first of them to break a property is
        // latched), so that renaming backups or permuting sessions commutes with the step.
        if finished.len() > 1 {
            finished.sort_by_key(|b| Backup {
                id: BackupId(0),
                session: SessionId(0),
                ..*b
            });
        }
        for backup in finished {
            // (Latching reads nothing `backup_problem` reads, so each property is judged and
            // latched in turn.)
            for property in PER_BACKUP {
                let Some(problem) = backup_problem(self, &backup, property) else {
                    continue;
                };
                if !self.ghost.latched.iter().any(|l| l.property == property) {
                    self.ghost_mut().latched.push(Latched {
                        property,
                        backup: backup.id,
                        session: backup.session,
                        phase: backup.phase,
                        problem,
                    });
                }
            }
            if backup.unit == Unit::Held {
                if backup.mode == BackupMode::Exclusive {
                    self.ghost_mut().leaked_exclusive = true;
                } else {
                    self.ghost_mut().leaked_units += 1;
                }
            }
            if backup.accepted && !backup.from_standby {
                self.ghost_mut().retired_starts.push(backup.start);
            }
            retired.push(backup);
        }
        self.ghost_mut().retired_starts.sort_unstable();
        for (index, session) in self.sessions.iter_mut().enumerate() {
            if session
                .backup
                .is_some_and(|id| !self.backups.iter().any(|b| b.id == id))
            {
                session.backup = None;
                self.touched.write(index);
            }
        }
    }

    /// Whether some backup could still get, or still write records for, start point `start`.
    pub fn start_still_reachable(&self, start: Lsn) -> bool {
        start >= self.control.redo
            || self.backups.iter().any(|b| b.start == start)
            || self.sessions.iter().any(|s| s.start == start)
            || self.data_dir.backup_label.is_some_and(|f| f.start == start)
            || self.data_dir.temp_labels.iter().any(|f| f.start == start)
            || self
                .data_dir
                .unlinked_label
                .is_some_and(|f| f.start == start)
    }

    /// A history file that stays in `pg_wal` for good: its archiving fails, so no stop's
    /// `CleanupBackupHistory` will remove it. Kept, so that the core's account of `pg_wal`
    /// stays whole; a working archiver's newest file is forgotten with its start point (the
    /// next stop removes it, and no invariant reads it), which keeps the state space small.
    fn kept_in_pg_wal_for_good(&self, file: &crate::state::HistoryFile) -> bool {
        file.in_pg_wal && self.config.archive_fails
    }

    fn forget_unreachable_starts(&mut self) {
        let floor = self.control.redo;
        let stale = |start: Lsn| start < floor;
        let any_stale = self.ghost.retired_starts.first().is_some_and(|&s| stale(s))
            || self.wal.end_records.iter().any(|&(_, s)| stale(s))
            || self
                .data_dir
                .history
                .first()
                .is_some_and(|h| stale(h.start) && !self.kept_in_pg_wal_for_good(h));
        if !any_stale {
            return;
        }
        // A stale start is often still held (by a session between its control-file read and
        // its stop, say) for many steps: then nothing goes, and the lists are left in place.
        let goes = |start: Lsn| !self.start_still_reachable(start);
        let any_goes = self.ghost.retired_starts.iter().any(|&s| goes(s))
            || self.wal.end_records.iter().any(|&(_, s)| goes(s))
            || self
                .data_dir
                .history
                .iter()
                .any(|h| !self.kept_in_pg_wal_for_good(h) && goes(h.start));
        if !any_goes {
            return;
        }
        // Each list is taken out while it is filtered, so that the test can read the rest of
        // the state without copying anything.
        // (Only removals: a list that kept its length is unchanged, and its part unmarked.)
        let mut starts = std::mem::take(&mut self.ghost.retired_starts);
        let before = starts.len();
        starts.retain(|s| self.start_still_reachable(*s));
        if starts.len() != before {
            self.touched.write_regions(Regions::GHOST);
        }
        self.ghost.retired_starts = starts;
        let mut ends = std::mem::take(&mut self.wal.end_records);
        let before = ends.len();
        ends.retain(|(_, s)| self.start_still_reachable(*s));
        if ends.len() != before {
            self.touched.write_regions(Regions::WAL);
        }
        self.wal.end_records = ends;
        let mut history = std::mem::take(&mut self.data_dir.history);
        let before = history.len();
        history.retain(|h| self.kept_in_pg_wal_for_good(h) || self.start_still_reachable(h.start));
        if history.len() != before {
            self.touched.write_regions(Regions::DATA_DIR);
        }
        self.data_dir.history = history;
    }
}
