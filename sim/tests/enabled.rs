//! The incremental enabled set ([`backup_coordinator::enabled::EnabledSet`]) answers exactly
//! as the core's full listing ([`Cluster::actions_into`]) at every step: the same actions in
//! the same order, for every design and seeded bug, under the simulator's bounds (many
//! sessions, every fault, crashes, shutdowns), on a standby, with hostile labels, and with
//! small command budgets (where only the stops a client owes are offered). The simulator's
//! seeds draw their steps from it, so a stale entry would change what a seed explores. The
//! contexts it lists the cluster's own actions in are held to deciding them, changed input by
//! input ([`Cluster::cluster_actions_context`]).
//!
//! The same walks hold the invariants' check after every step ([`invariants::check_except`],
//! which answers the per-backup invariants together in one pass when nothing is found) to
//! asking every invariant in order, and the simulator's check after each step
//! ([`invariants::StepCheck`], which asks only the invariants that read a part of the cluster
//! the step wrote) to the full check. That one rests on two facts, each held here: every step
//! marks every part it writes ([`backup_coordinator::state::Touched::regions`]), and every
//! invariant reads nothing but the parts it declares ([`Property::reads`]).

use backup_coordinator::enabled::EnabledSet;
use backup_coordinator::invariants::{self, Property, PropertySet, StepCheck, INVARIANTS};
use backup_coordinator::state::{Regions, SharedMemory};
use backup_coordinator::variant::Bug;
use backup_coordinator::{Action, Cluster, Config, Variant};
use backup_model::BackupModel;
use backup_sim::profile::{default_config, Weights};
use backup_sim::replay_file::ReplayFile;
use backup_sim::run::{run_seed, Failure, Recording, RunSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Each configuration with the number of seeds walked under it.
fn configs() -> Vec<(&'static str, Config, u64)> {
    let sim = default_config();
    vec![
        ("the simulator's bounds", sim, 3),
        (
            "a standby",
            Config {
                standby: true,
                full_page_writes: true,
                primary_fpw_offs: 2,
                timeline: backup_coordinator::lsn::TimeLineId(2),
                writers: 0,
                page_writes: 0,
                ..sim
            },
            3,
        ),
        (
            "hostile labels and small budgets",
            Config {
                sql_sessions: 3,
                walsenders: 2,
                replication_sessions: 1,
                hostile_labels: true,
                commands_per_session: 3,
                backups_per_session: 2,
                faults: 4,
                crashes: 2,
                ..sim
            },
            40,
        ),
    ]
}

/// One walk per design, configuration and seed: its description and every state it passes
/// through, each step drawn uniformly among the enabled actions (so that rare kinds, crashes,
/// shutdowns and faults, come up as often as steps), for at most 1,500 steps.
fn walks() -> impl Iterator<Item = (String, Vec<Cluster>)> {
    Variant::all().into_iter().flat_map(|variant| {
        configs()
            .into_iter()
            .flat_map(move |(name, config, seeds)| {
                // Bounds a cluster refuses would leave their walks out without a word.
                let start = Cluster::new(variant, config)
                    .unwrap_or_else(|e| panic!("{variant} under {name}: {e}"));
                (0..seeds).map(move |seed| {
                    let mut cluster = start.clone();
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let mut states = vec![cluster.clone()];
                    for _ in 0..1_500 {
                        let enabled = cluster.actions();
                        if enabled.is_empty() {
                            break;
                        }
                        let action: Action = enabled[rng.random_range(0..enabled.len())];
                        cluster
                            .apply(action)
                            .unwrap_or_else(|e| panic!("{variant}: {action:?} refused: {e}"));
                        states.push(cluster.clone());
                    }
                    (format!("{variant} under {name}, seed {seed}"), states)
                })
            })
    })
}

/// For every design and bug, the last states of the simulator's runs (its weights, 4,000
/// fault-phase steps) that end in a safety failure: under its own bounds, with hostile labels,
/// and for a bug under the smallest bounds that show it. Each property a run breaks is then
/// gone past (a known finding) so that later seeds break others (twelve seeds per variant
/// and bounds). These are the states where invariants first break, which uniform
/// walks seldom reach, and the steps just before them.
fn failing_walks() -> Vec<(String, Vec<Cluster>)> {
    let sim = default_config();
    let runs = Variant::all().into_iter().flat_map(|variant| {
        [
            sim,
            Config {
                hostile_labels: true,
                ..sim
            },
        ]
        .map(|config| (variant, config))
    });
    let bugs = Bug::ALL.into_iter().filter_map(|bug| {
        backup_coordinator::bugs::smallest_bounds(bug)
            .map(|(config, _)| (Variant::bug(bug), config))
    });
    let mut out = Vec::new();
    for (variant, config) in runs.chain(bugs) {
        let mut spec = RunSpec {
            config,
            ..RunSpec::new(variant, 4_000)
        };
        for seed in 0..12 {
            let config = spec.config_for(seed);
            let model = BackupModel::new(variant, config).expect("bounds");
            let mut recording = Recording::default();
            let run = run_seed(&spec, &model, seed, &mut recording).expect("bounds");
            let Some(Failure::Safety { step, violation }) = run.failure else {
                continue;
            };
            spec.known.insert(violation.property);
            let mut cluster = Cluster::new(variant, config).expect("bounds");
            let mut states = Vec::new();
            let keep_from = step.saturating_sub(40);
            for (index, action) in recording.actions.iter().take(step as usize).enumerate() {
                cluster.apply(*action).expect("a recorded action replays");
                if index as u64 + 1 >= keep_from {
                    states.push(cluster.clone());
                }
            }
            out.push((
                format!(
                    "{variant}, simulator seed {seed} (breaks {} at step {step})",
                    violation.property
                ),
                states,
            ));
        }
    }
    out
}

/// Every state of each counterexample in the regression corpus (`regressions/`), each of
/// which ends where its invariant breaks.
fn corpus_walks() -> Vec<(String, Vec<Cluster>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../regressions");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("the regression corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let schedule = ReplayFile::load(&path).expect("a corpus file").schedule();
            let mut cluster = Cluster::new(schedule.variant, schedule.config).expect("bounds");
            let mut states = vec![cluster.clone()];
            for action in &schedule.actions {
                cluster.apply(*action).expect("a corpus action replays");
                states.push(cluster.clone());
            }
            (format!("corpus file {}", path.display()), states)
        })
        .collect()
}

#[test]
fn enabled_set_lists_and_draws_what_the_core_lists_at_every_step() {
    let weights = Weights::default();
    let mut steps = 0u64;
    for (walk, states) in walks() {
        let mut set = EnabledSet::new(weights);
        for (step, cluster) in states.iter().enumerate() {
            set.refresh(cluster);
            let listed: Vec<Action> = set.actions().collect();
            let core = cluster.actions();
            assert_eq!(
                listed, core,
                "{walk}, step {step}: the enabled set differs from the core's listing"
            );
            assert_picks_follow_the_listing(&set, &core, &weights, || {
                format!("{walk}, step {step}")
            });
            steps += 1;
        }
    }
    assert!(steps > 100_000, "only {steps} steps were compared");
}

/// Every position on `set`'s weight line, at both ends of each action's stretch, lands on the
/// action `listed` (the core's full listing) puts there, and the line is as long as the
/// listing's weights: a draw takes what it would take from the listing itself. (The walks'
/// first states are the simulator's first states, so this covers where a run starts too.)
/// `at` names the state, made only for a failure's message.
fn assert_picks_follow_the_listing(
    set: &EnabledSet<Weights>,
    listed: &[Action],
    weights: &Weights,
    at: impl Fn() -> String,
) {
    let mut position = 0u64;
    for action in listed {
        let w = u64::from(backup_coordinator::enabled::ActionWeight::weight(
            weights, action,
        ));
        if w > 0 {
            for offset in [0, w - 1] {
                assert_eq!(set.pick(position + offset), Some(*action), "{}", at());
            }
        }
        position += w;
    }
    assert_eq!(set.total_weight(), position, "{}", at());
    assert_eq!(set.pick(position), None, "{}", at());
}

/// A budget used up, or one not used at all.
fn toggle(used: &mut u32, bound: u32) {
    *used = if *used < bound { bound } else { 0 };
}

/// The WAL insertion locks taken by someone, or free.
fn toggle_insert_lock(c: &mut Cluster) {
    c.shared.insert_lock_sharers = u8::from(c.shared.insert_lock_sharers == 0);
}

/// The server refusing to restart, or not.
fn toggle_refused_restart(c: &mut Cluster) {
    c.ghost.restart_refused = match c.ghost.restart_refused {
        Some(_) => None,
        None => Some(backup_coordinator::state::BackupId(0)),
    }
}

/// Changes to what the checkpointer's and the cluster's other actions might read: each fact
/// their context holds, the bounds behind its budgets, and parts it leaves out (the sessions,
/// the page writers, the backups, the WAL position).
fn cluster_action_inputs() -> Vec<fn(&mut Cluster)> {
    vec![
        |c| c.checkpointer.requested = !c.checkpointer.requested,
        |c| {
            c.checkpointer.in_progress = match c.checkpointer.in_progress {
                Some(_) => None,
                None => Some(c.shared.redo),
            }
        },
        toggle_insert_lock,
        |c| c.shared.full_page_writes = !c.shared.full_page_writes,
        |c| c.config.standby = !c.config.standby,
        |c| toggle(&mut c.used.timed_checkpoints, c.config.timed_checkpoints),
        |c| toggle(&mut c.used.wal_switches, c.config.wal_switches),
        |c| toggle(&mut c.used.wal_fills, c.config.wal_fills),
        |c| toggle(&mut c.used.primary_fpw_offs, c.config.primary_fpw_offs),
        |c| toggle(&mut c.used.crashes, c.config.crashes),
        |c| toggle(&mut c.used.os_crashes, c.config.os_crashes),
        |c| toggle(&mut c.used.shutdowns, c.config.shutdowns),
        toggle_refused_restart,
        |c| c.sessions.reverse(),
        |c| c.sessions.truncate(1),
        |c| c.writers.clear(),
        |c| c.backups.clear(),
        |c| c.shared.insert = c.wal.flushed,
    ]
}

/// Changes to what the page writers' actions might read: each fact their context holds (a
/// writer's change assembled or not, on which page) and parts it leaves out (an assembled
/// change's own facts, the sessions, the checkpointer).
fn writer_action_inputs() -> Vec<fn(&mut Cluster)> {
    use backup_coordinator::state::Writer;
    fn writer(c: &mut Cluster, index: usize, change: impl FnOnce(&mut Writer, &Cluster)) {
        let copy = c.clone();
        if let Some(w) = c.writers.get_mut(index) {
            change(w, &copy);
        }
    }
    fn assemble(w: &mut Writer, c: &Cluster, page: u8) {
        *w = match w {
            Writer::Assembled { .. } => Writer::Idle,
            Writer::Idle => Writer::Assembled {
                page: page % c.pages.len().max(1) as u8,
                redo: c.shared.redo,
                do_page_writes: false,
                image: false,
            },
        }
    }
    fn move_on(w: &mut Writer, c: &Cluster) {
        if let Writer::Assembled { page, .. } = w {
            *page = (*page + 1) % c.pages.len().max(1) as u8;
        }
    }
    fn facts(w: &mut Writer, c: &Cluster) {
        if let Writer::Assembled {
            redo,
            do_page_writes,
            image,
            ..
        } = w
        {
            *redo = c.shared.insert;
            *do_page_writes = !*do_page_writes;
            *image = !*image;
        }
    }
    vec![
        |c| writer(c, 0, |w, c| assemble(w, c, 0)),
        |c| writer(c, 1, |w, c| assemble(w, c, 1)),
        |c| writer(c, 2, |w, c| assemble(w, c, 0)),
        |c| writer(c, 3, |w, c| assemble(w, c, 5)),
        |c| writer(c, 0, move_on),
        |c| writer(c, 2, move_on),
        |c| writer(c, 0, facts),
        |c| writer(c, 1, facts),
        |c| toggle(&mut c.used.page_writes, c.config.page_writes),
        toggle_insert_lock,
        |c| {
            c.server = match c.server {
                backup_coordinator::state::ServerState::Running => {
                    backup_coordinator::state::ServerState::ShuttingDown
                }
                _ => backup_coordinator::state::ServerState::Running,
            }
        },
        toggle_refused_restart,
        |c| c.checkpointer.requested = !c.checkpointer.requested,
        |c| c.sessions.truncate(1),
        |c| c.backups.clear(),
    ]
}

/// Holds a context to deciding a list: every state of the walks is changed by a random
/// combination of `inputs`, and then by one more; where that one left `context` as it was, it
/// must leave `listed` as it was, in the same order (and some changes must move both).
fn holds_context_to_its_actions<C: PartialEq + std::fmt::Debug>(
    what: &str,
    inputs: &[fn(&mut Cluster)],
    context: impl Fn(&Cluster) -> Option<C>,
    listed: impl Fn(&Cluster) -> Vec<Action>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let (mut same, mut moved) = (0u64, 0u64);
    for (walk, states) in walks() {
        for (step, cluster) in states.iter().enumerate() {
            for _ in 0..4 {
                let mut background = cluster.clone();
                let mut chosen = Vec::new();
                for (i, change) in inputs.iter().enumerate() {
                    if rng.random_ratio(1, 4) {
                        change(&mut background);
                        chosen.push(i);
                    }
                }
                let Some(before_context) = context(&background) else {
                    continue;
                };
                let one = rng.random_range(0..inputs.len());
                let mut changed = background.clone();
                inputs[one](&mut changed);
                let (before, after) = (listed(&background), listed(&changed));
                if context(&changed).as_ref() == Some(&before_context) {
                    same += 1;
                    assert_eq!(
                        after, before,
                        "{walk}, step {step} changed by {chosen:?}: change {one} kept the {what} {before_context:?} but not the actions"
                    );
                } else if after != before {
                    moved += 1;
                }
            }
        }
    }
    assert!(
        same > 100_000 && moved > 10_000,
        "{what}: {same} changes kept it, {moved} moved it and the actions"
    );
}

/// What the enabled set relies on to list the checkpointer's and the cluster's other actions
/// again only when their context changed: while the server runs, they depend on nothing but
/// [`Cluster::cluster_actions_context`].
#[test]
fn the_cluster_actions_depend_only_on_their_context() {
    holds_context_to_its_actions(
        "cluster actions' context",
        &cluster_action_inputs(),
        Cluster::cluster_actions_context,
        |c| {
            let mut out: Vec<Action> = Vec::new();
            c.checkpointer_actions_into(&mut out);
            c.other_cluster_actions_into(&mut out);
            out
        },
    );
}

/// What the enabled set relies on to keep the page writers' lists by their context: they
/// depend on nothing but [`Cluster::writers_context`].
#[test]
fn the_page_writers_actions_depend_only_on_their_context() {
    holds_context_to_its_actions(
        "writers' context",
        &writer_action_inputs(),
        |c| Some(c.writers_context()),
        |c| {
            let mut out: Vec<Action> = Vec::new();
            c.writer_actions_into(&mut out);
            out
        },
    );
}

/// What the enabled set relies on to look again only at the sessions a step wrote: every
/// step marks every session record it changes, counts itself, and leaves the facts of every
/// other session as they were, unless they read a backup or a checkpoint completed.
#[test]
fn each_step_marks_every_session_record_it_writes() {
    let (mut changed, mut compared) = (0u64, 0u64);
    for (walk, states) in walks() {
        for (step, pair) in states.windows(2).enumerate() {
            let [before, after] = pair else { continue };
            let touched = after.touched();
            assert_eq!(
                touched.steps(),
                before.touched().steps() + 1,
                "{walk}, step {step}"
            );
            for (index, (old, new)) in before.sessions.iter().zip(&after.sessions).enumerate() {
                let session = backup_coordinator::state::SessionId(index as u8);
                if old != new {
                    changed += 1;
                    assert!(
                        touched.session(index),
                        "{walk}, step {step}: {session}'s record changed unmarked"
                    );
                }
                let facts = before.session_facts(session).expect("a session");
                let unmarked = !touched.session(index)
                    && !facts.read_a_backup()
                    && before.checkpointer.done == after.checkpointer.done;
                if unmarked {
                    compared += 1;
                    assert_eq!(
                        after.session_facts(session),
                        Some(facts),
                        "{walk}, step {step}: {session}'s facts changed though the step did not write it"
                    );
                }
            }
        }
    }
    assert!(
        changed > 10_000 && compared > 100_000,
        "{changed} changes, {compared} comparisons"
    );
}

/// What the simulator's check after each step relies on to ask an invariant's backup-scoped
/// form about the backup records a step wrote: every record a step changes or adds is marked
/// (by its index in the list), and where the list is shortened or reordered every record is.
#[test]
fn each_step_marks_every_backup_record_it_writes() {
    let (mut changed, mut unmarked) = (0u64, 0u64);
    let mut visit = |walk: &str, step: usize, before: &Cluster, after: &Cluster| {
        let marks = after.touched().backups();
        let marked = |index: usize| index >= 16 || marks & (1 << index) != 0;
        let shortened = after.backups.len() < before.backups.len();
        assert!(
            !shortened || marks == u16::MAX,
            "{walk}, step {step}: the backups were removed but not every record was marked"
        );
        for index in 0..after.backups.len() {
            if before.backups.get(index) != after.backups.get(index) {
                changed += 1;
                assert!(
                    marked(index),
                    "{walk}, step {step}: backup record {index} changed or was added unmarked ({marks:#b})"
                );
            } else if !marked(index) {
                unmarked += 1;
            }
        }
        assert_eq!(
            marks != 0,
            after.touched().regions().meets(Regions::BACKUPS),
            "{walk}, step {step}: the backup marks and the backups part disagree"
        );
    };
    for_each_step_with_the_bugs(&mut visit);
    assert!(
        changed > 10_000 && unmarked > 100_000,
        "{changed} records changed, {unmarked} records left unmarked"
    );
}

/// The parts of `cluster` a [`Regions`] bit stands for, each compared as a whole.
fn part_changed(before: &Cluster, after: &Cluster, part: Regions) -> bool {
    match part {
        Regions::SESSIONS => before.sessions != after.sessions,
        Regions::BACKUPS => before.backups != after.backups,
        Regions::SHARED => {
            let positions = (after.shared.insert, after.shared.redo);
            let coordination_before = SharedMemory {
                insert: positions.0,
                redo: positions.1,
                ..before.shared
            };
            coordination_before != after.shared
        }
        Regions::WAL_POSITIONS => {
            (before.shared.insert, before.shared.redo) != (after.shared.insert, after.shared.redo)
        }
        Regions::GHOST => before.ghost != after.ghost,
        Regions::WAL => before.wal != after.wal,
        Regions::DATA_DIR => before.data_dir != after.data_dir,
        Regions::CONTROL => before.control != after.control || before.server != after.server,
        _ => unreachable!("one part at a time"),
    }
}

/// Every part, one at a time.
const PARTS: [Regions; 8] = [
    Regions::SESSIONS,
    Regions::BACKUPS,
    Regions::SHARED,
    Regions::WAL_POSITIONS,
    Regions::GHOST,
    Regions::WAL,
    Regions::DATA_DIR,
    Regions::CONTROL,
];

/// `base` with the parts outside `kept` taken from `other` (the bounds and the design are
/// `base`'s; both come from one walk, so they agree).
fn with_other_parts(base: &Cluster, other: &Cluster, kept: Regions) -> Cluster {
    let mut out = base.clone();
    for part in PARTS {
        if kept.meets(part) {
            continue;
        }
        match part {
            Regions::SESSIONS => out.sessions = other.sessions.clone(),
            Regions::BACKUPS => out.backups = other.backups.clone(),
            Regions::SHARED => {
                out.shared = SharedMemory {
                    insert: out.shared.insert,
                    redo: out.shared.redo,
                    ..other.shared
                }
            }
            Regions::WAL_POSITIONS => {
                out.shared.insert = other.shared.insert;
                out.shared.redo = other.shared.redo;
            }
            Regions::GHOST => out.ghost = other.ghost.clone(),
            Regions::WAL => out.wal = other.wal.clone(),
            Regions::DATA_DIR => out.data_dir = other.data_dir.clone(),
            Regions::CONTROL => {
                out.control = other.control;
                out.server = other.server;
            }
            _ => unreachable!("one part at a time"),
        }
    }
    out
}

/// Every pair of consecutive states of the simulator's own runs (its bounds and weights, 4,000
/// fault-phase steps and the liveness phase; two seeds per design and bug, one of them on a
/// standby), where backups complete far more often than on uniform walks, passed to `visit`
/// with the run's name and the step's number.
fn for_each_simulator_step(mut visit: impl FnMut(&str, usize, &Cluster, &Cluster)) {
    for variant in Variant::all() {
        let spec = RunSpec::new(variant, 4_000);
        for seed in [0, backup_sim::run::STANDBY_EVERY - 1] {
            let config = spec.config_for(seed);
            let model = BackupModel::new(variant, config).expect("bounds");
            let mut recording = Recording::default();
            run_seed(&spec, &model, seed, &mut recording).expect("bounds");
            let name = format!("{variant}, simulator seed {seed}");
            let mut cluster = Cluster::new(variant, config).expect("bounds");
            for (step, action) in recording.actions.iter().enumerate() {
                let before = cluster.clone();
                cluster.apply(*action).expect("a recorded action replays");
                visit(&name, step, &before, &cluster);
            }
        }
    }
}

/// Every step of the walks, the failing runs, the corpus and the simulator's own runs, passed
/// to `visit` with the walk's name and the step's number, the states before and after. The
/// failing runs and the corpus take the seeded bugs' steps (a page changed without its image
/// tears a backup only under such a bug).
fn for_each_step_with_the_bugs(mut visit: impl FnMut(&str, usize, &Cluster, &Cluster)) {
    for (walk, states) in walks().chain(failing_walks()).chain(corpus_walks()) {
        for (step, pair) in states.windows(2).enumerate() {
            let [before, after] = pair else { continue };
            visit(&walk, step, before, after);
        }
    }
    for_each_simulator_step(visit);
}

/// What the simulator's check after each step relies on to skip an invariant: every step
/// marks every part of the cluster it changes (a part it marks may be unchanged; one it
/// changes is never unmarked), on uniform walks and on the simulator's own runs.
#[test]
fn each_step_marks_every_part_of_the_cluster_it_writes() {
    let mut changed = [0u64; PARTS.len()];
    let mut unmarked_steps = 0u64;
    let mut visit = |walk: &str, step: usize, before: &Cluster, after: &Cluster| {
        let written = after.touched().regions();
        for (index, part) in PARTS.into_iter().enumerate() {
            if part_changed(before, after, part) {
                changed[index] += 1;
                assert!(
                    written.meets(part),
                    "{walk}, step {step}: {part:?} changed but the step did not mark it (it marked {written:?})"
                );
            }
        }
        unmarked_steps += u64::from(!written.meets(Regions::ALL));
    };
    for_each_step_with_the_bugs(&mut visit);
    assert!(
        changed.iter().all(|&n| n > 1_000) && unmarked_steps > 100_000,
        "changes per part {changed:?}, {unmarked_steps} steps that wrote nothing invariants read"
    );
}

/// What the ghost's settling after each step relies on to run only the passes that read
/// what the step wrote: the state every step starts from is settled.
#[test]
fn every_step_leaves_the_ghost_settled() {
    let mut states = 0u64;
    let mut visit = |walk: &str, step: usize, _: &Cluster, after: &Cluster| {
        assert!(
            after.ghost_is_settled(),
            "{walk}, step {step}: settling the ghost again would change the state"
        );
        states += 1;
    };
    for (walk, clusters) in walks() {
        for (step, pair) in clusters.windows(2).enumerate() {
            visit(&walk, step, &pair[0], &pair[1]);
        }
    }
    for_each_simulator_step(&mut visit);
    assert!(states > 500_000, "only {states} states");
}

/// What the simulator's check after each step relies on to skip an invariant: each
/// invariant's verdict (and its report) depends only on the parts of the cluster it declares.
/// Every other part is swapped in from another state of the same walk, among them the states
/// where a seeded bug breaks the invariant, and the answer must not move.
#[test]
fn each_invariant_reads_only_the_parts_of_the_cluster_it_declares() {
    let mut violated = [0u64; INVARIANTS.len()];
    let mut compared = 0u64;
    for (walk, states) in walks().chain(failing_walks()).chain(corpus_walks()) {
        let n = states.len();
        for (step, cluster) in states.iter().enumerate() {
            // Two other states: half a walk away, and the next one.
            for other in [&states[(step + n / 2) % n], &states[(step + 1) % n]] {
                for (index, (property, invariant)) in INVARIANTS.iter().enumerate() {
                    let own = invariant(cluster);
                    let swapped = with_other_parts(cluster, other, property.reads());
                    assert_eq!(
                        invariant(&swapped),
                        own,
                        "{walk}, step {step}: {property} read a part it does not declare ({:?})",
                        property.reads()
                    );
                    violated[index] += u64::from(own.is_err());
                    compared += 1;
                }
            }
        }
    }
    let never: Vec<&str> = INVARIANTS
        .iter()
        .zip(violated)
        .filter(|&(_, n)| n == 0)
        .map(|((p, _), _)| p.name())
        .collect();
    assert!(
        compared > 1_000_000 && violated.iter().sum::<u64>() > 10_000,
        "{compared} comparisons, violations per invariant {violated:?}"
    );
    // Every invariant is seen broken (by some seeded bug), so that a read it does not
    // declare would show.
    assert!(never.is_empty(), "never violated in the walks: {never:?}");
}

/// Each coverage case that declares the parts of the cluster it reads
/// ([`backup_model::Case::reads`]) reads nothing else: every other part is swapped in from
/// another state of the same walk, and its answer must not move. The simulator skips a
/// pending case after a step that wrote none of its parts, which rests on this.
#[test]
fn each_coverage_case_reads_only_the_parts_of_the_cluster_it_declares() {
    let cases = backup_model::CASES;
    let (mut reached, mut missed) = (
        [0u64; backup_model::CASES.len()],
        [0u64; backup_model::CASES.len()],
    );
    for (walk, states) in walks().chain(failing_walks()).chain(corpus_walks()) {
        let n = states.len();
        let Some(first) = states.first() else {
            continue;
        };
        let model = BackupModel::new(first.variant, first.config).expect("bounds");
        for (step, cluster) in states.iter().enumerate() {
            for other in [&states[(step + n / 2) % n], &states[(step + 1) % n]] {
                for (index, case) in cases.iter().enumerate() {
                    let Some(reads) = case.reads else {
                        continue;
                    };
                    let own = (case.condition)(&model, cluster);
                    let swapped = with_other_parts(cluster, other, reads);
                    assert_eq!(
                        (case.condition)(&model, &swapped),
                        own,
                        "{walk}, step {step}: case {:?} read a part it does not declare ({reads:?})",
                        case.name
                    );
                    reached[index] += u64::from(own);
                    missed[index] += u64::from(!own);
                }
            }
        }
    }
    // Every declaring case is seen both ways, so that a read it does not declare would show.
    for (index, case) in cases.iter().enumerate() {
        if case.reads.is_some() {
            assert!(
                reached[index] > 100 && missed[index] > 100,
                "case {:?}: reached {} and missed {} times",
                case.name,
                reached[index],
                missed[index]
            );
        }
    }
}

/// The simulator's check after each step answers as the full check at every step of every
/// walk (the first violation after a passing step among them: there it asked only the
/// invariants that read what the step wrote).
#[test]
fn the_check_after_each_step_answers_as_the_full_check() {
    let skips: [PropertySet; 2] = [
        PropertySet::EMPTY,
        [Property::UnitsReleasedOnce, Property::LabelsNeverShared]
            .into_iter()
            .collect(),
    ];
    let (mut steps, mut caught) = (0u64, 0u64);
    for (walk, states) in walks().chain(failing_walks()).chain(corpus_walks()) {
        for skip in skips {
            let mut check = StepCheck::new();
            let mut passed_before = false;
            for (step, cluster) in states.iter().enumerate() {
                let full = invariants::check_except(cluster, skip);
                assert_eq!(
                    check.check_except(cluster, skip),
                    full,
                    "{walk}, step {step}, skipping {skip:?}"
                );
                caught += u64::from(passed_before && full.is_err());
                passed_before = full.is_ok();
                steps += 1;
            }
        }
    }
    assert!(
        steps > 200_000 && caught > 100,
        "{steps} steps, {caught} violations found right after a passing step"
    );
}

#[test]
fn the_check_after_a_step_answers_as_every_invariant_asked_in_order() {
    let skips: [PropertySet; 3] = [
        PropertySet::EMPTY,
        [Property::HistoryFileDescribesBackup].into_iter().collect(),
        [
            Property::UnitsReleasedOnce,
            Property::ReportedFilesSurviveOsCrash,
        ]
        .into_iter()
        .collect(),
    ];
    let (mut states, mut violated) = (0u64, 0u64);
    for (walk, clusters) in walks() {
        for (step, cluster) in clusters.iter().enumerate() {
            for property in invariants::ONLY_PER_BACKUP.iter() {
                let found = cluster.ghost.latched.iter().any(|l| l.property == property)
                    || cluster
                        .backups
                        .iter()
                        .any(|b| invariants::backup_problem(cluster, b, property).is_some());
                assert_eq!(
                    invariants::invariant(property)(cluster).is_err(),
                    found,
                    "{walk}, step {step}: {property} is more than its per-backup check"
                );
            }
            for skip in skips {
                let in_order = INVARIANTS
                    .iter()
                    .filter(|(p, _)| !skip.contains(*p))
                    .try_for_each(|(_, invariant)| invariant(cluster));
                violated += u64::from(in_order.is_err());
                assert_eq!(
                    invariants::check_except(cluster, skip),
                    in_order,
                    "{walk}, step {step}, skipping {skip:?}"
                );
            }
            states += 1;
        }
    }
    assert!(
        states > 100_000 && violated > 1_000,
        "{states} states, {violated} violations"
    );
}

/// A track that holds every action it is given to being enabled where it is taken, then
/// applies it as the simulator's run does (without the core asking again).
struct EnabledOnly {
    cluster: Cluster,
    taken: u64,
}

impl backup_sim::engine::Track for EnabledOnly {
    fn cluster(&self) -> &Cluster {
        &self.cluster
    }
    fn apply(&mut self, action: Action) -> Result<(), backup_coordinator::action::ApplyError> {
        assert!(
            self.cluster.is_enabled(action),
            "{action:?} given where it is not enabled, at step {}",
            self.taken + 1
        );
        self.cluster.apply_enabled_and_retire(action);
        self.taken += 1;
        Ok(())
    }
}

/// What the simulator's run relies on to apply its actions with
/// [`Cluster::apply_enabled_and_retire`] (the core not asking again): the fault phase's
/// weighted draw and the liveness phase's round robin give only actions enabled where the
/// cluster stands, for every design and bug, under each walk's bounds, over every phase.
#[test]
fn the_simulators_choosers_give_only_enabled_actions() {
    use backup_sim::engine::{Engine, RoundRobin, Weighted};
    let mut taken = 0u64;
    for variant in Variant::all() {
        for (name, config, seeds) in configs() {
            let start = Cluster::new(variant, config)
                .unwrap_or_else(|e| panic!("{variant} under {name}: {e}"));
            for seed in 0..seeds {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let track = EnabledOnly {
                    cluster: start.clone(),
                    taken: 0,
                };
                // Every property gone past, so that the run takes its whole budget.
                let every: PropertySet = Property::ALL.into_iter().collect();
                let mut engine = Engine::new(track, every);
                let mut buffer = Vec::new();
                let mut fault = Weighted::new(&mut rng, Weights::default(), 2_000);
                engine
                    .phase(&mut fault, &mut buffer, false)
                    .unwrap_or_else(|e| panic!("{variant} under {name}, seed {seed}: {e:?}"));
                engine
                    .phase(&mut RoundRobin::new(2_000), &mut buffer, false)
                    .unwrap_or_else(|e| panic!("{variant} under {name}, seed {seed}: {e:?}"));
                taken += engine.track.taken;
            }
        }
    }
    assert!(taken > 100_000, "{taken} actions taken");
}
