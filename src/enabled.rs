//! The incremental enabled set: the actions enabled where a run stands, each with a weight,
//! kept from one step to the next and recomputed only where the step could have changed
//! them. A seeded run draws one action per step among every enabled one; listing them all
//! again at every step (every idle session's candidate commands, every session's faults)
//! was most of a simulator step. The set answers exactly as [`Cluster::actions_into`] does,
//! in the same order (a test holds it to that at every step of many runs), so a seed draws
//! the same actions with it as without it.
//!
//! A session's enabled actions depend only on a few facts about it ([`SessionFacts`]: its
//! step, what it holds, its budgets...) and the cluster-wide facts of [`SessionContext`];
//! the page writers' only on [`WritersContext`]; the checkpointer's and the cluster's other
//! actions (crashes, WAL events, the shutdown's), while the server runs, only on
//! [`ClusterActionsContext`] (each stated once, beside the guards, in [`crate::step`]). The
//! set lists a session's, the writers' or the cluster's actions again only when what they
//! depend on changed (the cluster's at every step of a shutdown), and after a step it
//! computes the facts again only of the sessions the step wrote ([`crate::state::Touched`])
//! and of those whose facts read a backup. A session's lists are kept by the facts and
//! context they were made from (`SessionLists`), and one it needs again is taken, not made
//! again.

use crate::action::Action;
use crate::state::{Cluster, SessionId};
use crate::step::{ClusterActionsContext, SessionContext, SessionFacts, WritersContext};
use smallvec::SmallVec;

/// The weight of an action when one is drawn among the enabled ones (0: never drawn).
pub trait ActionWeight {
    /// `action`'s weight.
    fn weight(&self, action: &Action) -> u32;
}

/// Some enabled actions and their running weights.
#[derive(Clone, Debug, Default)]
struct Segment {
    actions: SmallVec<[Action; 8]>,
    /// `cumulative[i]`: the weights of `actions[..=i]`.
    cumulative: SmallVec<[u64; 8]>,
    total: u64,
}

impl Segment {
    /// Lists the actions `list` appends, and weighs them.
    #[inline]
    fn list(&mut self, weight: &impl ActionWeight, list: impl FnOnce(&mut SmallVec<[Action; 8]>)) {
        self.actions.clear();
        list(&mut self.actions);
        self.cumulative.clear();
        let mut total = 0;
        for action in &self.actions {
            total += u64::from(weight.weight(action));
            self.cumulative.push(total);
        }
        self.total = total;
    }
}

/// Lists of enabled actions kept by what each was made from (its key): a session goes
/// through the same few dozen steps, budgets and contexts again and again, so a list it needs
/// again is most often one it made before (the page writers' combinations of locked pages
/// repeat less: about a quarter of theirs are found kept in a simulator run). Lists are kept
/// in a fixed number of slots, each key in the slot its hash names (a newer list for the same
/// slot replaces the older one). A list is only ever taken for its own key, so what is kept
/// changes how often lists are made, never what they hold.
#[derive(Clone, Debug)]
struct KeptLists<K, const SLOTS: usize> {
    /// The slot that holds the current list.
    current: usize,
    /// The lists made, each with its key.
    slots: Vec<(Option<K>, Segment)>,
}

impl<K: Copy + Eq, const SLOTS: usize> KeptLists<K, SLOTS> {
    fn new() -> Self {
        const { assert!(SLOTS.is_power_of_two()) };
        KeptLists {
            current: 0,
            slots: vec![(None, Segment::default()); SLOTS],
        }
    }

    /// Makes the list for `key` (whose hash is `hash`) the current one: the one kept for it,
    /// or one `list` makes now, weighed by `weight`. Its total weight.
    #[inline]
    fn take(
        &mut self,
        key: K,
        hash: u64,
        weight: &impl ActionWeight,
        list: impl FnOnce(&mut SmallVec<[Action; 8]>),
    ) -> u64 {
        let mixed = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.current = (mixed >> (64 - SLOTS.trailing_zeros())) as usize;
        let Some((made_for, segment)) = self.slots.get_mut(self.current) else {
            return 0;
        };
        if *made_for != Some(key) {
            segment.list(weight, list);
            *made_for = Some(key);
        }
        segment.total
    }

    /// The current list.
    #[inline]
    fn segment(&self) -> Option<&Segment> {
        self.slots.get(self.current).map(|(_, segment)| segment)
    }
}

/// A session's lists, kept by the facts and the context each was made from (their words).
#[derive(Clone, Debug)]
struct SessionLists {
    /// The facts the session's current list was made from (`None`: none made yet).
    listed_from: Option<SessionFacts>,
    lists: KeptLists<(u64, u64), 32>,
}

impl SessionLists {
    fn new() -> Self {
        SessionLists {
            listed_from: None,
            lists: KeptLists::new(),
        }
    }

    /// The current list.
    #[inline]
    fn segment(&self) -> Option<&Segment> {
        self.lists.segment()
    }
}

/// The enabled actions of a run, weighted by `W`, brought up to date by
/// [`EnabledSet::refresh`] after every step.
#[derive(Clone, Debug)]
pub struct EnabledSet<W> {
    weight: W,
    context: Option<SessionContext>,
    /// The steps the cluster had taken ([`crate::state::Touched::steps`]) and the checkpoints
    /// it had completed at the last refresh.
    refreshed_at: Option<(u64, u32)>,
    sessions: Vec<SessionLists>,
    /// The weights of every session's actions together.
    sessions_total: u64,
    /// Each session's segment's total weight, side by side (a draw walks these rather than
    /// the segments themselves, a few hundred bytes apart).
    session_totals: Vec<u64>,
    /// Sessions whose facts read a backup ([`SessionFacts::read_a_backup`]), bit `i` for
    /// session `i`: looked at after every step, whichever sessions it wrote.
    read_a_backup: u64,
    /// The context the checkpointer's and the cluster's other actions were listed in (`None`:
    /// listed where they read more, or not yet).
    cluster_context: Option<ClusterActionsContext>,
    checkpointer: Segment,
    /// The context the page writers' current list was made in, and their lists kept by it.
    writers: (Option<WritersContext>, KeptLists<WritersContext, 64>),
    other: Segment,
    total: u64,
}

impl<W: ActionWeight> EnabledSet<W> {
    /// An empty set (the first refresh lists everything).
    pub fn new(weight: W) -> Self {
        EnabledSet {
            weight,
            context: None,
            refreshed_at: None,
            sessions: Vec::new(),
            sessions_total: 0,
            session_totals: Vec::new(),
            read_a_backup: 0,
            cluster_context: None,
            checkpointer: Segment::default(),
            writers: (None, KeptLists::new()),
            other: Segment::default(),
            total: 0,
        }
    }

    /// Brings the set up to date with `cluster`: the actions of every session whose facts or
    /// context changed are listed again, the cluster's own actions always. When `cluster` is
    /// one step past the last refresh, with the same context and checkpoint count, only the
    /// sessions that step wrote ([`Cluster::touched`]) and those whose facts read a backup are
    /// looked at; otherwise every session's facts are computed again.
    pub fn refresh(&mut self, cluster: &Cluster) {
        let touched = cluster.touched();
        let now = (touched.steps(), cluster.checkpointer.done);
        let stepped_once = self
            .refreshed_at
            .is_some_and(|(steps, _)| steps + 1 == now.0);
        let one_step_on = stepped_once && self.refreshed_at.is_some_and(|(_, done)| done == now.1);
        let context = match &self.context {
            Some(previous) if stepped_once => cluster.session_context_one_step_after(previous),
            _ => cluster.session_context(),
        };
        let same_context = self.context == Some(context);
        let resized = self.sessions.len() != cluster.sessions.len();
        if resized {
            self.sessions = vec![SessionLists::new(); cluster.sessions.len()];
            self.session_totals = vec![0; cluster.sessions.len()];
            self.sessions_total = 0;
            self.read_a_backup = 0;
        }
        self.context = Some(context);
        self.refreshed_at = Some(now);
        if same_context && !resized && one_step_on && cluster.sessions.len() <= 64 {
            let mut look = touched.sessions() | self.read_a_backup;
            if cluster.sessions.len() < 64 {
                look &= (1 << cluster.sessions.len()) - 1;
            }
            while look != 0 {
                let index = look.trailing_zeros() as usize;
                look &= look - 1;
                self.look_at(cluster, index, false);
            }
        } else {
            let all = !same_context || resized;
            for index in 0..cluster.sessions.len() {
                self.look_at(cluster, index, all);
            }
        }
        let cluster_context = cluster.cluster_actions_context();
        if cluster_context.is_none() || cluster_context != self.cluster_context {
            self.checkpointer
                .list(&self.weight, |out| cluster.checkpointer_actions_into(out));
            self.other
                .list(&self.weight, |out| cluster.other_cluster_actions_into(out));
            self.cluster_context = cluster_context;
        }
        let writers_context = cluster.writers_context();
        if self.writers.0 != Some(writers_context) {
            self.writers.0 = Some(writers_context);
            self.writers.1.take(
                writers_context,
                writers_context.hash_word(),
                &self.weight,
                |out| cluster.writer_actions_into(out),
            );
        }
        let writers_total = self.writers.1.segment().map_or(0, |segment| segment.total);
        self.total =
            self.sessions_total + self.checkpointer.total + writers_total + self.other.total;
    }

    /// Computes session `index`'s facts again and takes its list for them again if they
    /// changed (or if `relist`: the context changed), made now unless kept from before.
    #[inline]
    fn look_at(&mut self, cluster: &Cluster, index: usize, relist: bool) {
        let Some(record) = cluster.sessions.get(index) else {
            return;
        };
        let Some(lists) = self.sessions.get_mut(index) else {
            return;
        };
        let Some(context) = self.context else {
            return;
        };
        let facts = cluster.facts_of(record);
        if relist || lists.listed_from != Some(facts) {
            lists.listed_from = Some(facts);
            let key = (facts.word(), context.word());
            let taken = lists
                .lists
                .take(key, key.0 ^ key.1.rotate_left(32), &self.weight, |out| {
                    cluster.session_actions_into(SessionId(index as u8), out)
                });
            if let Some(total) = self.session_totals.get_mut(index) {
                self.sessions_total = self.sessions_total - *total + taken;
                *total = taken;
            }
        }
        if index < 64 {
            let bit = 1u64 << index;
            if facts.read_a_backup() {
                self.read_a_backup |= bit;
            } else {
                self.read_a_backup &= !bit;
            }
        }
    }

    fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.sessions
            .iter()
            .map(SessionLists::segment)
            .chain([
                Some(&self.checkpointer),
                self.writers.1.segment(),
                Some(&self.other),
            ])
            .flatten()
    }

    /// The weights of every enabled action together.
    pub fn total_weight(&self) -> u64 {
        self.total
    }

    /// The action at `pick` (below [`EnabledSet::total_weight`]) on the line of enabled
    /// actions in [`Cluster::actions_into`]'s order, each as long as its weight: the first
    /// whose running weight exceeds `pick`.
    pub fn pick(&self, mut pick: u64) -> Option<Action> {
        let within = |segment: &Segment, pick: u64| {
            let index = segment.cumulative.partition_point(|&c| c <= pick);
            segment.actions.get(index).copied()
        };
        if pick < self.sessions_total {
            for (index, &total) in self.session_totals.iter().enumerate() {
                if pick < total {
                    return within(self.sessions.get(index)?.segment()?, pick);
                }
                pick -= total;
            }
            return None;
        }
        pick -= self.sessions_total;
        let others = [
            Some(&self.checkpointer),
            self.writers.1.segment(),
            Some(&self.other),
        ];
        for segment in others.into_iter().flatten() {
            if pick < segment.total {
                return within(segment, pick);
            }
            pick -= segment.total;
        }
        None
    }

    /// Every enabled action, in [`Cluster::actions_into`]'s order.
    pub fn actions(&self) -> impl Iterator<Item = Action> + '_ {
        self.segments()
            .flat_map(|segment| segment.actions.iter())
            .copied()
    }
}
