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
//! the page writers' only on [`WritersContext`]
//! (each stated once, beside the guards, in [`crate::step`]). The set lists a session's or the
//! writers' actions again only when what they depend on changed. The checkpointer's and the
//! cluster's other actions (crashes, WAL events, the shutdown's) are few and listed again at
//! every step.

use crate::action::Action;
use crate::state::{Cluster, SessionId};
use crate::step::{SessionContext, SessionFacts, WritersContext};
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

/// The enabled actions of a run, weighted by `W`, brought up to date by
/// [`EnabledSet::refresh`] after every step.
#[derive(Clone, Debug)]
pub struct EnabledSet<W> {
    weight: W,
    context: Option<SessionContext>,
    sessions: Vec<(Option<SessionFacts>, Segment)>,
    checkpointer: Segment,
    writers: (Option<WritersContext>, Segment),
    other: Segment,
    total: u64,
}

impl<W: ActionWeight> EnabledSet<W> {
    /// An empty set (the first refresh lists everything).
    pub fn new(weight: W) -> Self {
        EnabledSet {
            weight,
            context: None,
            sessions: Vec::new(),
            checkpointer: Segment::default(),
            writers: (None, Segment::default()),
            other: Segment::default(),
            total: 0,
        }
    }

    /// Brings the set up to date with `cluster`: the actions of every session whose record,
    /// backup or context changed are listed again, the cluster's own actions always.
    pub fn refresh(&mut self, cluster: &Cluster) {
        let context = cluster.session_context();
        let all = self.context != Some(context) || self.sessions.len() != cluster.sessions.len();
        if self.sessions.len() != cluster.sessions.len() {
            self.sessions = vec![(None, Segment::default()); cluster.sessions.len()];
        }
        self.context = Some(context);
        let mut total = 0;
        for (index, ((listed_from, segment), record)) in
            self.sessions.iter_mut().zip(&cluster.sessions).enumerate()
        {
            let session = SessionId(index as u8);
            let key = Some(cluster.facts_of(record));
            if all || *listed_from != key {
                *listed_from = key;
                segment.list(&self.weight, |out| {
                    cluster.session_actions_into(session, out)
                });
            }
            total += segment.total;
        }
        self.checkpointer
            .list(&self.weight, |out| cluster.checkpointer_actions_into(out));
        let unchanged = self
            .writers
            .0
            .as_ref()
            .is_some_and(|context| cluster.writers_context_is(context));
        if all || !unchanged {
            self.writers
                .1
                .list(&self.weight, |out| cluster.writer_actions_into(out));
            self.writers.0 = Some(cluster.writers_context());
        }
        self.other
            .list(&self.weight, |out| cluster.other_cluster_actions_into(out));
        self.total = total + self.checkpointer.total + self.writers.1.total + self.other.total;
    }

    fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.sessions.iter().map(|(_, segment)| segment).chain([
            &self.checkpointer,
            &self.writers.1,
            &self.other,
        ])
    }

    /// The weights of every enabled action together.
    pub fn total_weight(&self) -> u64 {
        self.total
    }

    /// The action at `pick` (below [`EnabledSet::total_weight`]) on the line of enabled
    /// actions in [`Cluster::actions_into`]'s order, each as long as its weight: the first
    /// whose running weight exceeds `pick`.
    pub fn pick(&self, mut pick: u64) -> Option<Action> {
        for segment in self.segments() {
            let total = segment.total;
            if pick < total {
                let index = segment.cumulative.partition_point(|&c| c <= pick);
                return segment.actions.get(index).copied();
            }
            pick -= total;
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
