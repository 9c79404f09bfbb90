//! Shortest counterexamples. stateright 0.31 keeps, for each property, the path to the *last*
//! state where the property triggered (every later trigger overwrites the discovery), so even
//! its one-thread BFS does not report the shortest path. This module re-derives shortest
//! paths with its own breadth-first search over the core's steps: depth by depth from the
//! initial state, bounded by the length of a path already known to exist, stopping at the
//! first violating state of each property. States are deduplicated by the fingerprint of their
//! symmetry representative (`Cluster::hash_canonical`; symmetric states are exactly as far
//! from a violation), and only fingerprints and parent pointers are kept for visited states,
//! whole states only for the current depth.

use crate::{BackupModel, ALWAYS, EVENTUALLY};
use backup_coordinator::{Action, Cluster};
use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

fn fingerprint(state: &Cluster, symmetry: bool) -> u64 {
    let mut hasher = DefaultHasher::new();
    if symmetry {
        state.hash_canonical(&mut hasher);
    } else {
        state.hash(&mut hasher);
    }
    hasher.finish()
}

struct Node {
    parent: u32,
    action: Option<Action>,
}

fn path_to(nodes: &[Node], mut index: u32) -> Vec<Action> {
    let mut path = Vec::new();
    while let Some(action) = nodes[index as usize].action {
        path.push(action);
        index = nodes[index as usize].parent;
    }
    path.reverse();
    path
}

/// Shortest action paths (at most `max_depth` actions) to a violation of each of `goals`
/// (names of `always` properties, or [`EVENTUALLY`]: a path to a dead end of the model's
/// search, a state without successors, where the eventually condition never held). Goals not
/// reached within the bound are absent from the result.
pub fn shortest_paths(
    model: &BackupModel,
    goals: &[&'static str],
    max_depth: usize,
    symmetry: bool,
) -> BTreeMap<&'static str, Vec<Action>> {
    let mut found = BTreeMap::new();
    let Some(init) = Cluster::new(model.variant, model.config).ok() else {
        return found;
    };
    let always: Vec<(&'static str, crate::Condition)> = ALWAYS
        .iter()
        .filter(|(name, _)| goals.contains(name))
        .copied()
        .collect();
    let eventually = goals.contains(&EVENTUALLY);
    let mut nodes = vec![Node {
        parent: 0,
        action: None,
    }];
    let mut seen: HashSet<(u64, bool)> = HashSet::new();
    let init_ok = crate::every_backup_ended(&init);
    seen.insert((fingerprint(&init, symmetry), init_ok));
    let mut frontier: Vec<(Cluster, u32, bool)> = vec![(init, 0, init_ok)];
    let mut actions = Vec::new();
    for depth in 0..=max_depth {
        let mut next_frontier = Vec::new();
        for (state, index, eventually_held) in &frontier {
            for &(name, condition) in &always {
                if !found.contains_key(name) && !condition(model, state) {
                    found.insert(name, path_to(&nodes, *index));
                }
            }
            if found.len() == goals.len() {
                continue;
            }
            // The model's own transitions ([`Cluster::successor`] of the listed actions: a
            // command refused without effect leads nowhere), so that a dead end here is one of
            // the model's search, where its `eventually` property is judged.
            actions.clear();
            state.actions_into(&mut actions);
            let mut dead_end = true;
            for &action in &actions {
                let Some(next) = state.enabled_successor(action) else {
                    continue;
                };
                dead_end = false;
                if depth == max_depth {
                    break;
                }
                let held = *eventually_held || crate::every_backup_ended(&next);
                if seen.insert((fingerprint(&next, symmetry), held)) {
                    nodes.push(Node {
                        parent: *index,
                        action: Some(action),
                    });
                    next_frontier.push((next, (nodes.len() - 1) as u32, held));
                }
            }
            if eventually && dead_end && !eventually_held && !found.contains_key(EVENTUALLY) {
                found.insert(EVENTUALLY, path_to(&nodes, *index));
            }
        }
        if found.len() == goals.len() || next_frontier.is_empty() {
            break;
        }
        frontier = next_frontier;
    }
    found
}
