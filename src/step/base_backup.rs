//! The WAL sender's side of `BASE_BACKUP` (`perform_base_backup` in basebackup.c): after the
//! start, send the start position, then the label and the data directory's files; the stop
//! follows (in `backup_stop`). Owns the cleanup block's placement: in 9.1 the start position
//! was sent *before* the block was armed (fixed in 2014, B3) and the stop ran *after* it was
//! disarmed (fixed in 2017); from 9.6 both are inside.

use crate::action::{EventKind, StepError};
use crate::plan::Taken;
use crate::state::{Armed, Cluster, PickedUp, SessionId};
use crate::variant::LabelDelivery;

impl Cluster {
    /// `SendXlogRecPtrResult(startptr)`: a send that can fail if the client is gone.
    pub(super) fn step_send_start(&mut self, session: SessionId) -> Taken {
        let rules = self.rules();
        let s = self.session_mut(session);
        if !rules.send_start_in_cleanup {
            s.armed.arm(Armed::BASE_BACKUP_CLEANUP);
        }
        Taken::go_on(EventKind::StartPointSent { start: s.start })
    }

    /// Sends the label as the tar's first member, then the files (`sendDir`). The copy skips
    /// the exclusive backup's `backup_label` and option 2's temporary label files; with option
    /// 2 the label sent is read back from this backup's own temporary file.
    pub(super) fn step_copy_files(&mut self, session: SessionId) -> Taken {
        let rules = self.rules();
        let (backup, start) = {
            let s = self.session(session);
            (s.backup.expect("a copying session has its backup"), s.start)
        };
        let mut picked_up = None;
        if !rules.copy_skips_label_files {
            if self.data_dir.backup_label.is_some() {
                picked_up = Some(PickedUp::ExclusiveLabel);
            } else if self.data_dir.temp_labels.iter().any(|f| f.backup != backup) {
                picked_up = Some(PickedUp::TempLabel);
            }
        }
        if rules.label_delivery == LabelDelivery::TemporaryFile {
            match self.data_dir.temp_labels.iter().find(|f| f.start == start) {
                None => {
                    return Taken::placed(self.raise_error(session, StepError::TempLabelMissing))
                }
                Some(file) if file.backup != backup => picked_up = Some(PickedUp::TempLabel),
                Some(_) => {}
            }
        }
        let position = self.shared.insert;
        self.update_backup(backup, |b| {
            if b.picked_up.is_none() {
                b.picked_up = picked_up;
            }
            b.end_copy_ghost(position);
        });
        if !rules.stop_in_cleanup {
            self.session_mut(session)
                .armed
                .disarm(Armed::BASE_BACKUP_CLEANUP);
        }
        Taken::go_on(EventKind::FilesCopied { backup, picked_up })
    }
}
