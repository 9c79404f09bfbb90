//! The model as the symmetry-reduced depth-first search runs it: the same states, actions,
//! steps and properties as [`BackupModel`], each state hashed as its symmetry class
//! ([`Cluster::hash_canonical`]: the writes hashing its representative would make).
//!
//! stateright's `symmetry_fn` takes a function that builds the representative, a renamed copy
//! of the whole state, only for the checker to fingerprint it and drop it; and its DFS then
//! fingerprints the state itself too, a hash it never reads. Searching [`ByClass`] states
//! without `symmetry_fn` instead, stateright fingerprints each successor once, by its class:
//! the same fingerprints it would have stored for the representatives, so the same states
//! are visited in the same order (the same counts, discoveries and paths), with no copy built.

use crate::{
    every_backup_ended, every_invariant_and_case, BackupModel, EVENTUALLY, EVERY_INVARIANT,
};
use backup_coordinator::{Action, Cluster};
use stateright::{Model, Property};

/// A cluster whose hash is its symmetry class's ([`Cluster::hash_canonical`]). Equality is the
/// cluster's own: two members of one class are different states with one fingerprint, as
/// `symmetry_fn` would have them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByClass(pub Cluster);

impl std::hash::Hash for ByClass {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash_canonical(state);
    }
}

/// [`BackupModel`] over [`ByClass`] states: a check's folded properties (the invariants with
/// the cases latched, and the `eventually` property), as [`BackupModel`]'s check has them.
#[derive(Clone)]
pub struct ClassSearch(pub BackupModel);

impl Model for ClassSearch {
    type State = ByClass;
    type Action = Action;

    fn init_states(&self) -> Vec<ByClass> {
        self.0.init_states().into_iter().map(ByClass).collect()
    }

    fn actions(&self, state: &ByClass, actions: &mut Vec<Action>) {
        self.0.actions(&state.0, actions);
    }

    fn next_state(&self, state: &ByClass, action: Action) -> Option<ByClass> {
        self.0.next_state(&state.0, action).map(ByClass)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(EVERY_INVARIANT, |search: &Self, state: &ByClass| {
                every_invariant_and_case(&search.0, &state.0)
            }),
            Property::eventually(EVENTUALLY, |_, state: &ByClass| {
                every_backup_ended(&state.0)
            }),
        ]
    }

    fn within_boundary(&self, state: &ByClass) -> bool {
        self.0.within_boundary(&state.0)
    }
}
