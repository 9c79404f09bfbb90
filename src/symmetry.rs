//! Symmetry: sessions of the same kind are interchangeable, and backup numbers are only names.
//! [`Cluster::representative`] maps every state to one canonical member of its class, so that
//! a checker can store one state per class.
//!
//! Canonical means: two states that differ only by a permutation of same-kind sessions and a
//! consistent renaming of backups get the *same* representative (whatever the order in which a
//! search meets them, so state counts do not depend on thread timing). It is built in three
//! steps: sessions are sorted, within their kind, by everything about a session and its backup
//! except names ([`Cluster::session_cmp`]); where they tie and the tied sessions carry references,
//! every order of the tied sessions is tried and the smallest resulting state is kept; then
//! backups are renumbered in the order the canonical session order first reaches them.

use crate::state::{Backup, BackupId, Cluster, Session, SessionId};
use smallvec::SmallVec;

/// Everything about a backup except its names, in words: its record with its number and its
/// session cleared ([`Backup::words`]), then which files of the data directory are its own.
/// Equal keys exactly when the backups are equal but for their names.
type BackupKey = [u64; 7];

impl Cluster {
    fn backup_key(&self, backup: &Backup) -> BackupKey {
        let [a, b, c, d, e, f] = Backup {
            id: BackupId(0),
            session: SessionId(0),
            ..*backup
        }
        .words();
        let in_label_file = self
            .data_dir
            .backup_label
            .is_some_and(|f| f.backup == backup.id);
        let in_unlinked_label = self
            .data_dir
            .unlinked_label
            .is_some_and(|f| f.backup == backup.id);
        let owns_temp_label = self
            .data_dir
            .temp_labels
            .iter()
            .any(|f| f.backup == backup.id && f.start == backup.start);
        let owns_history = self
            .data_dir
            .history
            .iter()
            .any(|h| h.backup == Some(backup.id) && h.start == backup.start);
        let files = u64::from(in_label_file)
            | u64::from(in_unlinked_label) << 1
            | u64::from(owns_temp_label) << 2
            | u64::from(owns_history) << 3;
        [a, b, c, d, e, f, files]
    }

    /// Session `index`'s record without its backup's number, in words.
    fn session_words(&self, index: usize) -> [u64; 7] {
        Session {
            backup: None,
            ..self.sessions[index]
        }
        .words()
    }

    /// The key of the live backup session `index` holds, if it holds one.
    fn own_backup_key(&self, index: usize) -> Option<BackupKey> {
        self.sessions[index]
            .backup
            .and_then(|b| self.backup(b))
            .map(|b| self.backup_key(b))
    }

    /// What names session `index` apart from its own backup, in one word: bit 0 the spurious
    /// release is its own, bit 1 the failed assertion is, bits 8-31 how many latched findings
    /// name it, bits 32-63 how many live backups (its own excepted) name it as the session that
    /// began them.
    fn references(&self, index: usize) -> u64 {
        let id = SessionId(index as u8);
        let own = self.sessions[index].backup;
        let began = self
            .backups
            .iter()
            .filter(|b| b.session == id && Some(b.id) != own)
            .count() as u64;
        let latched = self
            .ghost
            .latched
            .iter()
            .filter(|l| l.session == id)
            .count() as u64;
        u64::from(self.ghost.spurious_release == Some(id))
            | u64::from(self.ghost.failed_assertion.is_some_and(|(_, s)| s == id)) << 1
            | latched << 8
            | began << 32
    }

    /// Sessions `a` and `b` compared by kind, then by everything about them and their backups
    /// except names: their records (without backup numbers), their own backups' keys, then
    /// what else names them. Each part is computed only where the parts before it tie, so the
    /// sessions of a kind that differ in their records (nearly always) cost a few words each.
    /// `Equal` exactly when a permutation of the two carries one onto the other (but for
    /// what their backups' names reach).
    fn session_cmp(&self, a: usize, b: usize) -> std::cmp::Ordering {
        self.sessions[a]
            .kind
            .cmp(&self.sessions[b].kind)
            .then_with(|| self.session_words(a).cmp(&self.session_words(b)))
            .then_with(|| self.own_backup_key(a).cmp(&self.own_backup_key(b)))
            .then_with(|| self.references(a).cmp(&self.references(b)))
    }

    /// Whether session `index` is tied to anything a permutation must carry along.
    fn has_references(&self, index: usize) -> bool {
        self.own_backup_key(index).is_some() || self.references(index) != 0
    }

    /// The canonical member of this state's symmetry class (see the module documentation).
    pub fn representative(&self) -> Cluster {
        let mut order: SmallVec<[usize; 8]> = (0..self.sessions.len()).collect();
        // Sessions keep their kind's block (SQL sessions first): sort inside each block.
        order.sort_by(|&a, &b| self.session_cmp(a, b).then(a.cmp(&b)));
        let ties = self.tie_groups(&order);
        if ties.is_empty() {
            return self.renamed(&order);
        }
        let mut best: Option<Cluster> = None;
        for candidate in permutations_within(&order, &ties) {
            let state = self.renamed(&candidate);
            if best.as_ref().is_none_or(|b| state < *b) {
                best = Some(state);
            }
        }
        best.unwrap_or_else(|| self.renamed(&order))
    }

    /// Runs of sessions in `order` that compare equal ([`Cluster::session_cmp`]) and carry
    /// references: the only places where the order between sessions is not already fixed by
    /// what they are.
    fn tie_groups(&self, order: &[usize]) -> SmallVec<[std::ops::Range<usize>; 2]> {
        let mut groups = SmallVec::new();
        let mut start = 0;
        while start < order.len() {
            let mut end = start + 1;
            while end < order.len()
                && self.session_cmp(order[end], order[start]) == std::cmp::Ordering::Equal
            {
                end += 1;
            }
            if end - start > 1 && self.has_references(order[start]) {
                groups.push(start..end);
            }
            start = end;
        }
        groups
    }

    /// This state with session `order[i]` moved to position `i` and backups renumbered in the
    /// order that session order first reaches them.
    fn renamed(&self, order: &[usize]) -> Cluster {
        let mut session_of_old: SmallVec<[SessionId; 8]> =
            smallvec::smallvec![SessionId(0); order.len()];
        for (new, &old) in order.iter().enumerate() {
            session_of_old[old] = SessionId(new as u8);
        }
        let session_map = |s: SessionId| session_of_old.get(usize::from(s.0)).copied().unwrap_or(s);

        // Old number -> new number, in the order the canonical traversal first meets them.
        let mut ids: SmallVec<[(BackupId, BackupId); 8]> = SmallVec::new();
        let assign = |id: BackupId, ids: &mut SmallVec<[(BackupId, BackupId); 8]>| {
            if !ids.iter().any(|(old, _)| *old == id) {
                let next = BackupId(ids.len() as u32);
                ids.push((id, next));
            }
        };
        for &old in order {
            if let Some(b) = self.sessions[old].backup {
                assign(b, &mut ids);
            }
        }
        // Backups no session holds (a session may begin a second while the first runs): by
        // the new number of the session that began them, then by their key.
        let owned = |b: &&Backup| ids.iter().any(|(old, _)| *old == b.id);
        let unowned = self.backups.iter().filter(|b| !owned(b)).count();
        if unowned == 1 {
            if let Some(b) = self.backups.iter().find(|b| !owned(b)) {
                assign(b.id, &mut ids);
            }
        } else if unowned > 1 {
            let mut unowned: SmallVec<[&Backup; 4]> =
                self.backups.iter().filter(|b| !owned(b)).collect();
            unowned.sort_by_key(|b| (session_map(b.session), self.backup_key(b)));
            for b in unowned {
                assign(b.id, &mut ids);
            }
        }
        if let Some(file) = self.data_dir.backup_label {
            assign(file.backup, &mut ids);
        }
        if let Some(file) = self.data_dir.unlinked_label {
            assign(file.backup, &mut ids);
        }
        for file in &self.data_dir.temp_labels {
            assign(file.backup, &mut ids);
        }
        for file in &self.data_dir.history {
            if let Some(owner) = file.backup {
                assign(owner, &mut ids);
            }
        }
        // Latched findings in property order (one per property at most; rarely more than one).
        let mut latched: SmallVec<[_; 1]> = SmallVec::from_slice(&self.ghost.latched);
        if latched.len() > 1 {
            latched.sort_by_key(|l| l.property);
        }
        for l in &latched {
            assign(l.backup, &mut ids);
        }
        if let Some(b) = self.ghost.restart_refused {
            assign(b, &mut ids);
        }
        let backup_map = |b: BackupId| {
            ids.iter()
                .find(|(old, _)| *old == b)
                .map(|(_, new)| *new)
                .unwrap_or(b)
        };

        let mut out = self.clone();
        out.touched.write_all();
        for (slot, &old) in out.sessions.iter_mut().zip(order) {
            *slot = self.sessions[old];
            slot.backup = slot.backup.map(backup_map);
        }
        for b in &mut out.backups {
            b.id = backup_map(b.id);
            b.session = session_map(b.session);
        }
        if out.backups.len() > 1 {
            out.backups.sort_by_key(|b| b.id);
        }
        if let Some(file) = &mut out.data_dir.backup_label {
            file.backup = backup_map(file.backup);
        }
        if let Some(file) = &mut out.data_dir.unlinked_label {
            file.backup = backup_map(file.backup);
        }
        for file in &mut out.data_dir.temp_labels {
            file.backup = backup_map(file.backup);
        }
        for file in &mut out.data_dir.history {
            file.backup = file.backup.map(backup_map);
        }
        for l in &mut latched {
            l.backup = backup_map(l.backup);
            l.session = session_map(l.session);
        }
        out.ghost.latched = latched;
        out.ghost.restart_refused = out.ghost.restart_refused.map(backup_map);
        out.ghost.spurious_release = out.ghost.spurious_release.map(session_map);
        out.ghost.failed_assertion = out.ghost.failed_assertion.map(|(a, s)| (a, session_map(s)));
        out.next_backup = ids.len() as u32;
        out
    }
}

/// Every order obtained from `order` by permuting the positions inside each tie group.
fn permutations_within(order: &[usize], ties: &[std::ops::Range<usize>]) -> Vec<Vec<usize>> {
    let mut out = vec![order.to_vec()];
    for group in ties {
        let mut next = Vec::new();
        for base in &out {
            for perm in permutations(&base[group.clone()]) {
                let mut candidate = base.clone();
                candidate[group.clone()].copy_from_slice(&perm);
                next.push(candidate);
            }
        }
        out = next;
    }
    out
}

fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            out.push(tail);
        }
    }
    out
}
