//! Symmetry: sessions of the same kind are interchangeable, backup numbers are only names, and
//! checkpoint numbers only count relative to one another ([`CheckpointNumbering`]).
//! [`Cluster::representative`] maps every state to one canonical member of its class, so that
//! a checker can store one state per class; [`Cluster::hash_canonical`] hashes a state as its
//! representative, mostly without building it (through the representative's renaming,
//! [`Renaming`]), so that a checker can store one fingerprint per class.
//!
//! Canonical means: two states that differ only by a permutation of same-kind sessions, a
//! consistent renaming of backups, and a shift of the checkpoint numbers that are still read
//! (the checkpointer's counts and the tickets of sessions that will still wait on or compare
//! theirs; a ticket no step or property reads again counts as none) get the *same*
//! representative (whatever the order in which a search meets them, so state counts do not
//! depend on thread timing). It is built in four steps: checkpoint numbers are counted from
//! the lowest one still read; sessions are sorted, within their kind, by everything about a
//! session and its backup except names ([`Cluster::session_cmp`]); where they tie and the tied
//! sessions carry references, every order of the tied sessions is tried and the smallest
//! resulting state is kept; then backups are renumbered in the order the canonical session
//! order first reaches them.

use crate::state::{Backup, BackupId, Cluster, Latched, Pc, Session, SessionId};
use smallvec::SmallVec;

/// Checkpoint numbers as the representative writes them. The checkpointer counts the
/// checkpoints it began and completed, and a start's checkpoint request keeps the first count
/// as its ticket (`ckpt_started`, `ckpt_done`); the start's wait ends once the completed count
/// passes the ticket. Nothing else reads those numbers but comparisons among them, so a state
/// with every number that is still read shifted by the same amount behaves exactly as the
/// state itself, and a ticket no step or property will read again (the start went past its
/// wait, or its next step requests a new checkpoint; [`Cluster::ticket_read_later`]) is no
/// part of the state. The representative counts from the lowest number still read (the
/// completed count, or an older ticket still waited on) and writes an unread ticket as 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CheckpointNumbering {
    /// Subtracted from every number still read.
    base: u32,
    /// Bit `i`: session `i`'s ticket is read later (sessions from the 65th on always are).
    read_later: u64,
}

impl CheckpointNumbering {
    /// Session `index`'s ticket as the representative writes it.
    #[inline]
    fn ticket(self, index: usize, ticket: u32) -> u32 {
        if index >= 64 || self.read_later & (1 << index) != 0 {
            ticket - self.base
        } else {
            0
        }
    }

    /// A checkpointer count as the representative writes it.
    #[inline]
    fn count(self, count: u32) -> u32 {
        count - self.base
    }
}

/// Everything about a backup except its names, in words: its record with its number and its
/// session cleared ([`Backup::words`]), then which files of the data directory are its own.
/// Equal keys exactly when the backups are equal but for their names.
type BackupKey = [u64; 7];

impl Cluster {
    /// Whether session `session`'s checkpoint ticket can still be read: it stands in its
    /// start's step list where a place that reads the ticket
    /// ([`Pc::reads_checkpoint_ticket`]) comes before any new request, along the list or,
    /// where a unique-start-point check may send it back to the plan's retry step, from
    /// there. A session anywhere else (idle, copying, stopping, cleaning up) starts its next
    /// command's list from its first step, with its ticket reset at the command's end, so it
    /// never reads the ticket it holds. Over-approximates: a step that does not apply to the
    /// command's mode is walked as if it did.
    pub fn ticket_read_later(&self, session: SessionId) -> bool {
        let Some(s) = self.sessions.get(usize::from(session.0)) else {
            return false;
        };
        let plan = self.variant.plan();
        let steps = plan.start.steps();
        let at = usize::from(s.at);
        if !s.pc.in_start() || steps.get(at) != Some(&s.pc) {
            return false;
        }
        // Walks the list from `from`: read before a new request, or a retry seen on the way.
        let walk = |from: usize| -> (bool, bool) {
            let mut retries = false;
            for &pc in &steps[from.min(steps.len())..] {
                if pc.reads_checkpoint_ticket() {
                    return (true, retries);
                }
                if pc == Pc::StartRequestCheckpoint {
                    return (false, retries);
                }
                retries |= pc.may_retry();
            }
            (false, retries)
        };
        match walk(at) {
            (true, _) => true,
            (false, true) => walk(usize::from(plan.retry)).0,
            (false, false) => false,
        }
    }

    /// The checkpoint numbering of this state's representative ([`CheckpointNumbering`]).
    pub(crate) fn checkpoint_numbering(&self) -> CheckpointNumbering {
        let mut read_later = 0u64;
        let mut base = self.checkpointer.done;
        for (index, s) in self.sessions.iter().enumerate() {
            if index >= 64 || self.ticket_read_later(SessionId(index as u8)) {
                read_later |= 1u64.checked_shl(index as u32).unwrap_or(0);
                base = base.min(s.ticket);
            }
        }
        CheckpointNumbering { base, read_later }
    }

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

    /// Session `index`'s record without its backup's number, its ticket as `numbering` writes
    /// it, in words.
    fn session_words(&self, index: usize, numbering: CheckpointNumbering) -> [u64; 7] {
        let s = &self.sessions[index];
        Session {
            backup: None,
            ticket: numbering.ticket(index, s.ticket),
            ..*s
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
    fn session_cmp(
        &self,
        a: usize,
        b: usize,
        numbering: CheckpointNumbering,
    ) -> std::cmp::Ordering {
        self.sessions[a]
            .kind
            .cmp(&self.sessions[b].kind)
            .then_with(|| {
                self.session_words(a, numbering)
                    .cmp(&self.session_words(b, numbering))
            })
            .then_with(|| self.own_backup_key(a).cmp(&self.own_backup_key(b)))
            .then_with(|| self.references(a).cmp(&self.references(b)))
    }

    /// Whether session `index` is tied to anything a permutation must carry along.
    fn has_references(&self, index: usize) -> bool {
        self.own_backup_key(index).is_some() || self.references(index) != 0
    }

    /// The sessions in canonical order: sorted inside each kind's block (SQL sessions first)
    /// by [`Cluster::session_cmp`], ties in their present order. And whether some sessions
    /// tie and carry references (whether [`Cluster::tie_groups`] finds any), seen in the sort
    /// itself: a comparison sort compares every two sessions that end up side by side, sessions
    /// that tie end up side by side, and sessions that tie carry references alike.
    fn canonical_order(&self, numbering: CheckpointNumbering) -> (SmallVec<[usize; 8]>, bool) {
        let mut order: SmallVec<[usize; 8]> = (0..self.sessions.len()).collect();
        let mut tied = false;
        order.sort_by(|&a, &b| {
            let by_what_they_are = self.session_cmp(a, b, numbering);
            if by_what_they_are == std::cmp::Ordering::Equal && !tied {
                tied = self.has_references(a);
            }
            by_what_they_are.then(a.cmp(&b))
        });
        (order, tied)
    }

    /// The canonical member of this state's symmetry class (see the module documentation).
    pub fn representative(&self) -> Cluster {
        let numbering = self.checkpoint_numbering();
        let (order, _) = self.canonical_order(numbering);
        let ties = self.tie_groups(&order, numbering);
        if ties.is_empty() {
            return self.renamed(&order, numbering);
        }
        let mut best: Option<Cluster> = None;
        for candidate in permutations_within(&order, &ties) {
            let state = self.renamed(&candidate, numbering);
            if best.as_ref().is_none_or(|b| state < *b) {
                best = Some(state);
            }
        }
        best.unwrap_or_else(|| self.renamed(&order, numbering))
    }

    /// Feeds `state` exactly what hashing [`Cluster::representative`] would (the same bytes in
    /// the same writes, so the same fingerprint with any hasher), mostly without building it:
    /// where the canonical session order is fixed by what the sessions are (nearly always),
    /// the state is hashed through the representative's renaming (`Renaming`) instead of
    /// being copied and renamed first. A search that fingerprints states this way stores one
    /// fingerprint per symmetry class, as one that fingerprints representatives does.
    pub fn hash_canonical<H: std::hash::Hasher>(&self, state: &mut H) {
        let numbering = self.checkpoint_numbering();
        let (order, tied) = self.canonical_order(numbering);
        if !tied {
            self.hash_renamed(&self.renaming(order, numbering), state);
        } else {
            std::hash::Hash::hash(&self.representative(), state);
        }
    }

    /// Runs of sessions in `order` that compare equal ([`Cluster::session_cmp`]) and carry
    /// references: the only places where the order between sessions is not already fixed by
    /// what they are.
    fn tie_groups(
        &self,
        order: &[usize],
        numbering: CheckpointNumbering,
    ) -> SmallVec<[std::ops::Range<usize>; 2]> {
        let mut groups = SmallVec::new();
        let mut start = 0;
        while start < order.len() {
            let mut end = start + 1;
            while end < order.len()
                && self.session_cmp(order[end], order[start], numbering)
                    == std::cmp::Ordering::Equal
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

    /// The renaming that moves session `order[i]` to position `i`, renumbers backups in the
    /// order that session order first reaches them, and numbers checkpoints as `numbering`
    /// does.
    fn renaming(&self, order: SmallVec<[usize; 8]>, numbering: CheckpointNumbering) -> Renaming {
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
        for &old in &order {
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
        let latched = &self.ghost.latched;
        let mut latched_order: SmallVec<[u8; 2]> = SmallVec::new();
        if latched.len() > 1 {
            latched_order.extend(0..latched.len() as u8);
            latched_order.sort_by_key(|&i| latched[usize::from(i)].property);
        }
        for position in 0..latched.len() {
            assign(
                latched[latched_index(&latched_order, position)].backup,
                &mut ids,
            );
        }
        if let Some(b) = self.ghost.restart_refused {
            assign(b, &mut ids);
        }
        // Every live backup has a new number (each is held by a session or unowned).
        let backup_order = ids
            .iter()
            .filter_map(|(old, _)| self.backups.iter().position(|b| b.id == *old))
            .collect();
        Renaming {
            order,
            session_of_old,
            ids,
            backup_order,
            latched_order,
            numbering,
        }
    }

    /// This state with session `order[i]` moved to position `i`, backups renumbered in the
    /// order that session order first reaches them, and checkpoints numbered as `numbering`
    /// does.
    fn renamed(&self, order: &[usize], numbering: CheckpointNumbering) -> Cluster {
        let renaming = self.renaming(SmallVec::from_slice(order), numbering);
        let mut out = self.clone();
        out.touched.write_all();
        for (position, slot) in out.sessions.iter_mut().enumerate() {
            let old = renaming.session_at(position);
            *slot = self.sessions[old];
            slot.backup = slot.backup.map(|b| renaming.backup(b));
            slot.ticket = renaming.ticket(old, slot.ticket);
        }
        let (started, done) =
            renaming.checkpoint_counts(self.checkpointer.started, self.checkpointer.done);
        out.checkpointer.started = started;
        out.checkpointer.done = done;
        for b in &mut out.backups {
            b.id = renaming.backup(b.id);
            b.session = renaming.session(b.session);
        }
        if out.backups.len() > 1 {
            out.backups.sort_by_key(|b| b.id);
        }
        if let Some(file) = &mut out.data_dir.backup_label {
            file.backup = renaming.backup(file.backup);
        }
        if let Some(file) = &mut out.data_dir.unlinked_label {
            file.backup = renaming.backup(file.backup);
        }
        for file in &mut out.data_dir.temp_labels {
            file.backup = renaming.backup(file.backup);
        }
        for file in &mut out.data_dir.history {
            file.backup = file.backup.map(|b| renaming.backup(b));
        }
        out.ghost.latched = (0..self.ghost.latched.len())
            .map(|position| renaming.latched_at(position, &self.ghost.latched))
            .collect();
        out.ghost.restart_refused = out.ghost.restart_refused.map(|b| renaming.backup(b));
        out.ghost.spurious_release = out.ghost.spurious_release.map(|s| renaming.session(s));
        out.ghost.failed_assertion = out
            .ghost
            .failed_assertion
            .map(|(a, s)| (a, renaming.session(s)));
        out.next_backup = renaming.next_backup(self.next_backup);
        out
    }
}

/// How a state's names are written when it is hashed: as they stand ([`AsTheyStand`]), or as
/// the symmetry's representative renames them ([`Renaming`]: which session record goes at
/// each position, each session's and backup's new name). The representative applies a
/// renaming to a copy ([`Cluster::representative`]); the canonical hash applies it while
/// hashing ([`Cluster::hash_canonical`]).
pub(crate) trait Naming {
    /// Which session record goes at `position`.
    fn session_at(&self, position: usize) -> usize;
    /// Session `s`'s name.
    fn session(&self, s: SessionId) -> SessionId;
    /// Backup `b`'s number.
    fn backup(&self, b: BackupId) -> BackupId;
    /// The live backup record that goes at `position` of the list (which is in the order of
    /// the backups' numbers).
    fn backup_at(&self, position: usize) -> usize;
    /// The latched finding that goes at `position` of `latched`, named.
    fn latched_at(&self, position: usize, latched: &[Latched]) -> Latched;
    /// The number the next backup gets, where it is `next` as things stand.
    fn next_backup(&self, next: u32) -> u32;
    /// The ticket of the session whose record stands at index `old`, where it is `ticket` as
    /// things stand ([`CheckpointNumbering`]).
    fn ticket(&self, old: usize, ticket: u32) -> u32;
    /// The checkpointer's counts of begun and completed checkpoints, where they are `started`
    /// and `done` as things stand.
    fn checkpoint_counts(&self, started: u32, done: u32) -> (u32, u32);
}

/// Every name as it stands: what `Hash` writes.
pub(crate) struct AsTheyStand;

impl Naming for AsTheyStand {
    #[inline(always)]
    fn session_at(&self, position: usize) -> usize {
        position
    }
    #[inline(always)]
    fn session(&self, s: SessionId) -> SessionId {
        s
    }
    #[inline(always)]
    fn backup(&self, b: BackupId) -> BackupId {
        b
    }
    #[inline(always)]
    fn backup_at(&self, position: usize) -> usize {
        position
    }
    #[inline(always)]
    fn latched_at(&self, position: usize, latched: &[Latched]) -> Latched {
        latched[position]
    }
    #[inline(always)]
    fn next_backup(&self, next: u32) -> u32 {
        next
    }
    #[inline(always)]
    fn ticket(&self, _old: usize, ticket: u32) -> u32 {
        ticket
    }
    #[inline(always)]
    fn checkpoint_counts(&self, started: u32, done: u32) -> (u32, u32) {
        (started, done)
    }
}

/// The representative's names ([`Cluster::renaming`]).
pub(crate) struct Renaming {
    /// The session record at each position.
    order: SmallVec<[usize; 8]>,
    /// Each session's new name, by its old one.
    session_of_old: SmallVec<[SessionId; 8]>,
    /// Each backup's old and new number, in the order the new numbers were given.
    ids: SmallVec<[(BackupId, BackupId); 8]>,
    /// The live backup records' indices in the order of their new numbers.
    backup_order: SmallVec<[usize; 8]>,
    /// The latched findings' indices in property order, where there are two or more.
    latched_order: SmallVec<[u8; 2]>,
    /// The checkpoint numbers.
    numbering: CheckpointNumbering,
}

impl Naming for Renaming {
    #[inline]
    fn session_at(&self, position: usize) -> usize {
        self.order[position]
    }

    #[inline]
    fn session(&self, s: SessionId) -> SessionId {
        self.session_of_old
            .get(usize::from(s.0))
            .copied()
            .unwrap_or(s)
    }

    #[inline]
    fn backup(&self, b: BackupId) -> BackupId {
        self.ids
            .iter()
            .find(|(old, _)| *old == b)
            .map_or(b, |&(_, new)| new)
    }

    #[inline]
    fn backup_at(&self, position: usize) -> usize {
        self.backup_order[position]
    }

    #[inline]
    fn latched_at(&self, position: usize, latched: &[Latched]) -> Latched {
        let index = latched_index(&self.latched_order, position);
        Latched {
            backup: self.backup(latched[index].backup),
            session: self.session(latched[index].session),
            ..latched[index]
        }
    }

    #[inline]
    fn next_backup(&self, _next: u32) -> u32 {
        self.ids.len() as u32
    }

    #[inline]
    fn ticket(&self, old: usize, ticket: u32) -> u32 {
        self.numbering.ticket(old, ticket)
    }

    #[inline]
    fn checkpoint_counts(&self, started: u32, done: u32) -> (u32, u32) {
        (self.numbering.count(started), self.numbering.count(done))
    }
}

/// The index of the latched finding at `position` in property order, where `order` lists
/// them in that order (empty: fewer than two, each where it stands).
#[inline]
fn latched_index(order: &[u8], position: usize) -> usize {
    order.get(position).map_or(position, |&i| usize::from(i))
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

#[cfg(test)]
mod tests {
    use crate::{Cluster, Config, Design, Variant};

    /// The sort's flag ([`Cluster::canonical_order`]) says whether [`Cluster::tie_groups`]
    /// finds a tie, on walks of every design with three SQL sessions and two WAL senders (two
    /// sessions' records and backups alike are common there).
    #[test]
    fn the_sort_sees_a_tie_exactly_where_tie_groups_finds_one() {
        let config = Config {
            sql_sessions: 3,
            walsenders: 2,
            backups_per_session: 2,
            crashes: 1,
            faults: 1,
            ..Config::default()
        };
        let (mut tied, mut untied) = (0u32, 0u32);
        for design in Design::ALL {
            for walk in 0..20u64 {
                let mut c = Cluster::new(Variant::of(design), config).unwrap();
                let mut pick = walk.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for step in 0..120 {
                    let numbering = c.checkpoint_numbering();
                    let (order, flag) = c.canonical_order(numbering);
                    assert_eq!(
                        flag,
                        !c.tie_groups(&order, numbering).is_empty(),
                        "{design} walk {walk} step {step}: {c:?}"
                    );
                    if flag {
                        tied += 1;
                    } else {
                        untied += 1;
                    }
                    let actions = c.actions();
                    if actions.is_empty() {
                        break;
                    }
                    pick ^= pick << 13;
                    pick ^= pick >> 7;
                    pick ^= pick << 17;
                    c.apply(actions[(pick % actions.len() as u64) as usize])
                        .unwrap();
                }
            }
        }
        assert!(tied > 100 && untied > 100, "{tied} tied, {untied} not");
    }
}
