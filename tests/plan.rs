//! The step plan and design files: the README's step table is the plan's, a design file
//! changes exactly what it says and the core walks its plan, every design renders as a file
//! that loads back to itself, and a malformed or contradictory file is refused with one line.

use backup_coordinator::action::EventKind;
use backup_coordinator::design_file::{self, DesignFileError};
use backup_coordinator::plan::{self, ListId, TABLE_BEGIN, TABLE_END};
use backup_coordinator::state::{BackupMode, Pc, SessionId};
use backup_coordinator::{Action, Cluster, Command, Config, Variant};

#[test]
fn the_readme_step_table_is_the_one_generated_from_the_plan() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let begin = readme.find(TABLE_BEGIN).expect("the table's first marker");
    let end = readme.find(TABLE_END).expect("the table's last marker") + TABLE_END.len();
    let on_disk = format!("{}\n", &readme[begin..end]);
    let now = plan::step_table_markdown();
    assert!(
        on_disk == now,
        "README's step table drifted from src/plan.rs; regenerate with `backup-check variants --steps`:\n{now}"
    );
}

#[test]
fn the_step_table_states_each_steps_faults_from_its_kind_of_work() {
    for facts in plan::all_steps() {
        assert_eq!(facts.strikes.error, facts.io, "{}", facts.name);
        assert_eq!(facts.strikes.cancel, facts.waits, "{}", facts.name);
        assert_eq!(
            facts.strikes.fatal,
            facts.waits || facts.sends,
            "{}",
            facts.name
        );
        assert_eq!(facts.pc.name(), facts.name);
    }
    // What each family holds, in PostgreSQL's terms.
    assert!(Pc::StopWaitArchive.waits() && Pc::StartWaitCheckpoint.waits());
    assert!(Pc::StartWriteLabel.does_io() && !Pc::StartIncrement.does_io());
    assert!(Pc::StopDecrement.in_stop() && Pc::StartUniqueCheck.in_start());
}

const END_FIRST: &str = r#"
base = "recommended"
[plan]
stop = ["stop.end-record", "stop.decrement", "stop.switch", "stop.write-history",
        "stop.wait-archive", "base-backup.send-stop"]
"#;

fn load(text: &str, name: &str) -> Result<Variant, DesignFileError> {
    design_file::parse(text, name, name).and_then(|spec| design_file::register(spec, name))
}

/// Runs `session` until it is idle, serving checkpoints; returns the events of its steps.
fn run_command(cluster: &mut Cluster, session: SessionId, command: Command) -> Vec<EventKind> {
    let mut events = vec![
        cluster
            .apply(Action::Begin { session, command })
            .expect("the command is enabled")
            .kind,
    ];
    for _ in 0..64 {
        if cluster.sessions[usize::from(session.0)].pc == Pc::Idle {
            return events;
        }
        let step = Action::Step { session };
        let action = if cluster.is_enabled(step) {
            step
        } else if cluster.is_enabled(Action::CheckpointBegin) {
            Action::CheckpointBegin
        } else {
            Action::CheckpointEnd
        };
        let event = cluster.apply(action).expect("enabled").kind;
        if matches!(action, Action::Step { .. }) {
            events.push(event);
        }
    }
    panic!("{session} did not end its command");
}

/// One SQL session's non-exclusive backup, started and stopped; the stop's events.
fn start_then_stop(variant: Variant) -> (Cluster, Vec<EventKind>) {
    let config = Config {
        sql_sessions: 1,
        walsenders: 0,
        ..Config::default()
    };
    let mut cluster = Cluster::new(variant, config).expect("config");
    let s0 = SessionId(0);
    run_command(
        &mut cluster,
        s0,
        Command::StartBackup {
            mode: BackupMode::NonExclusive,
            label: backup_coordinator::label::LabelKind::Plain,
        },
    );
    let stop = run_command(
        &mut cluster,
        s0,
        Command::StopBackup {
            mode: BackupMode::NonExclusive,
        },
    );
    (cluster, stop)
}

#[test]
fn a_design_file_that_reorders_the_stop_changes_only_the_stop_and_the_core_walks_it() {
    let variant = load(END_FIRST, "end-first").expect("loads");
    let recommended = Variant::default();
    assert_eq!(variant.to_string(), "end-first");
    assert_eq!(variant.rules(), recommended.rules());
    for id in [ListId::Start, ListId::BaseBackup, ListId::StopExclusive] {
        assert_eq!(variant.plan().list(id), recommended.plan().list(id));
    }
    assert_eq!(
        variant.plan().stop.names()[..2],
        ["stop.end-record", "stop.decrement"]
    );
    let order = |variant: Variant| {
        let (cluster, stop) = start_then_stop(variant);
        let position = |wanted: fn(&EventKind) -> bool| {
            stop.iter()
                .position(wanted)
                .unwrap_or_else(|| panic!("{variant}: {stop:?}"))
        };
        let end = position(|e| matches!(e, EventKind::EndRecordInserted { .. }));
        let decrement = position(|e| matches!(e, EventKind::BackupUncounted { .. }));
        assert!(matches!(stop.last(), Some(EventKind::BackupStopped { .. })));
        backup_coordinator::invariants::check(&cluster).expect("every property holds");
        end < decrement
    };
    assert!(order(variant), "the file's order: end record first");
    assert!(
        !order(recommended),
        "the recommended order: decrement first"
    );
}

#[test]
fn every_design_renders_as_a_file_that_loads_back_to_itself() {
    for (index, variant) in Variant::all().into_iter().enumerate() {
        // Loaded over another base, the rendered file must give back every switch and list.
        let other = if variant.to_string() == "pg91" {
            "recommended"
        } else {
            "pg91"
        };
        let text = design_file::render(variant)
            .replace(
                &format!("base = \"{variant}\""),
                &format!("base = \"{other}\""),
            )
            .replace(&format!("name = \"{variant}-copy\""), "");
        let spec = design_file::parse(&text, "rendered", &format!("rendered-{index}"))
            .unwrap_or_else(|e| panic!("{variant}: {e}\n{text}"));
        assert_eq!(spec.rules, variant.rules(), "{variant}");
        assert_eq!(spec.plan, *variant.plan(), "{variant}");
    }
}

#[test]
fn malformed_or_contradictory_design_files_are_refused_with_one_line() {
    let cases: [(&str, &str); 12] = [
        ("base = \"pg99\"", "base: unknown variant"),
        ("base = \"recommended\"\n[rules]\nfile_writ = \"overwrite\"", "[rules]: unknown field `file_writ`"),
        ("base = \"recommended\"\n[rules]\nfile_write = \"sometimes\"", "[rules]: unknown variant `sometimes`"),
        ("base = \"recommended\"\n[plan]\nstop = [\"stop.decrement\", \"stop.nap\"]", "no step is named \"stop.nap\""),
        ("base = \"recommended\"\n[plan]\nstop = [\"start.increment\"]", "belongs to another command"),
        (
            "base = \"recommended\"\n[plan]\nstart = [\"start.increment\", \"start.write-label\", \"start.request-checkpoint\", \"start.wait-checkpoint\", \"start.read-control-file\", \"start.unique-check\"]",
            "must be the last step",
        ),
        (
            "base = \"recommended\"\n[plan]\nstart = [\"start.increment\", \"start.request-checkpoint\", \"start.wait-checkpoint\", \"start.unique-check\", \"start.read-control-file\"]",
            "must come before",
        ),
        ("base = \"recommended\"\n[plan]\nstop = [\"stop.wait-archive\", \"stop.decrement\"]", "must come last"),
        ("base = \"recommended\"\n[plan]\nstop_exclusive = [\"stop.decrement\"]", "must be empty exactly when"),
        ("base = \"recommended\"\n[rules]\nfile_write = \"create-new\"", "changes nothing"),
        ("name = \"pg15\"\nbase = \"recommended\"\n[rules]\nfile_write = \"overwrite\"", "is taken"),
        ("base = \"recommended\"\nfrobnicate = 1", "unknown field `frobnicate`"),
    ];
    for (index, (text, expected)) in cases.into_iter().enumerate() {
        let name = format!("bad-{index}");
        let error = load(text, &name).expect_err(text).to_string();
        assert!(
            error.contains(expected),
            "{text}\n  gave: {error}\n  expected to contain: {expected}"
        );
        assert!(!error.contains('\n'), "one line: {error}");
        assert!(error.starts_with(&name), "names the file: {error}");
    }
}

#[test]
fn a_plan_may_repeat_a_step_and_the_core_takes_it_twice() {
    let variant = load(
        "base = \"recommended\"\n[plan]\nstop = [\"stop.decrement\", \"stop.end-record\", \"stop.switch\", \"stop.switch\", \"stop.write-history\", \"stop.wait-archive\", \"base-backup.send-stop\"]",
        "switch-twice",
    )
    .expect("loads");
    let (_, stop) = start_then_stop(variant);
    let switches = stop
        .iter()
        .filter(|e| matches!(e, EventKind::WalSwitched { .. }))
        .count();
    assert_eq!(switches, 2, "{stop:?}");
    assert!(matches!(stop.last(), Some(EventKind::BackupStopped { .. })));
}

#[test]
fn a_design_file_can_take_incremental_backups_away_and_says_so() {
    let spec = design_file::parse(
        "base = \"recommended\"\n[rules]\nincremental = false",
        "no-incremental",
        "no-incremental",
    )
    .expect("parses");
    assert_eq!(spec.rules.incremental, None);
    assert!(spec
        .changed_rules
        .iter()
        .any(|(key, _, now)| key == "incremental" && now == "false"));
}

/// The events a session's step may report under another name than its step's: what completes
/// or repeats a command, an ERROR, the WAL switch (named alike whoever asks for it), and the
/// accepted start point (at the check, or at 9.1's set half).
const OUTCOME_EVENTS: [&str; 6] = [
    "start.done",
    "stop.done",
    "start.retry",
    "start.unique-start-point",
    "command.error",
    "wal.switch",
];

#[test]
fn a_sessions_step_reports_its_steps_own_name_or_an_outcome() {
    let mut seen = std::collections::BTreeSet::new();
    for variant in Variant::all() {
        for seed in 0..300u64 {
            let config = Config {
                faults: 1 + (seed % 5) as u32,
                // Every 4th run: cancels only, which strike only in waits, so that a stop
                // still has one left at its archive wait.
                fault_kinds: if seed % 4 == 3 {
                    backup_coordinator::config::FaultKinds {
                        cancels: true,
                        ..backup_coordinator::config::FaultKinds::NONE
                    }
                } else {
                    backup_coordinator::config::FaultKinds::ALL
                },
                backups_per_session: 2,
                commands_per_session: 4,
                standby: seed % 5 == 4,
                timeline: backup_coordinator::lsn::TimeLineId(if seed % 5 == 4 { 2 } else { 1 }),
                ..Config::default()
            };
            let Ok(mut cluster) = Cluster::new(variant, config) else {
                continue;
            };
            let mut state = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            for _ in 0..600 {
                let actions = cluster.actions();
                if actions.is_empty() {
                    break;
                }
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let action = actions[(state >> 33) as usize % actions.len()];
                let before = match action {
                    Action::Step { session } => Some(cluster.sessions[usize::from(session.0)].pc),
                    _ => None,
                };
                let event = cluster.apply(action).expect("enabled");
                if let Some(pc) = before {
                    let name = event.kind.name();
                    assert!(
                        name == pc.name() || OUTCOME_EVENTS.contains(&name),
                        "{variant}: the step {} reported {name}",
                        pc.name()
                    );
                    seen.insert(pc.name());
                } else if let Some(pc) = plan::step_named(event.kind.name()) {
                    // A command's first step runs with the command when it does no I/O.
                    seen.insert(pc.name());
                }
            }
        }
    }
    // The walk took every kind of step somewhere.
    for facts in plan::all_steps() {
        assert!(
            seen.contains(facts.name),
            "never took {}: {seen:?}",
            facts.name
        );
    }
}

#[test]
fn one_change_designs_change_exactly_one_thing_each_and_cover_every_switch_and_step() {
    use std::collections::BTreeSet;
    let base = Variant::of(backup_coordinator::Design::Recommended);
    let changes = design_file::one_change_designs(base, "sweep");
    let keys: BTreeSet<&str> = changes.iter().map(|c| c.change.as_str()).collect();
    assert_eq!(keys.len(), changes.len(), "each change named once");
    let base_rules = toml::Table::try_from(base.rules()).unwrap();
    let mut accepted = 0;
    for (n, change) in changes.iter().enumerate() {
        match design_file::parse(&change.text, "sweep", "sweep") {
            Ok(spec) => {
                accepted += 1;
                assert_eq!(spec.name, format!("sweep-{}", n + 1));
                assert_eq!(change.name, spec.name);
                assert_eq!(spec.base, base);
                let lists_changed = ListId::ALL
                    .into_iter()
                    .filter(|&id| spec.plan.list(id).steps() != base.plan().list(id).steps())
                    .count();
                // (The retry step, by step: its position moves when a step before it goes.)
                let retry_moved = spec.plan.start.get(usize::from(spec.plan.retry))
                    != base.plan().start.get(usize::from(base.plan().retry));
                if change.change.starts_with("rules.") {
                    // One switch; a built-in plan that follows it is rebuilt (`exclusive`
                    // brings the exclusive stop), but the file names no list.
                    assert_eq!(spec.changed_rules.len(), 1, "{}", change.change);
                    assert!(!change.text.contains("[plan]"), "{}", change.change);
                } else {
                    assert!(spec.changed_rules.is_empty(), "{}", change.change);
                    // (Dropping the retry step moves the retry to the step after it.)
                    let retry_dropped = change.change.starts_with("plan.start drop ")
                        && change.change.ends_with(
                            plan::facts(
                                base.plan()
                                    .start
                                    .get(usize::from(base.plan().retry))
                                    .unwrap(),
                            )
                            .name,
                        );
                    assert_eq!(
                        lists_changed + usize::from(retry_moved && !retry_dropped),
                        1,
                        "{}",
                        change.change
                    );
                }
                assert!(spec.rules != base.rules() || spec.plan != *base.plan());
            }
            // Only plans the step functions cannot walk are refused.
            Err(e) => assert!(
                change.change.starts_with("plan.") && matches!(e, DesignFileError::Plan { .. }),
                "{}: {e}",
                change.change
            ),
        }
    }
    assert!(accepted > 40, "{accepted} accepted");
    // Every switch of the base has at least one other value; every step of every list is
    // dropped once.
    fn paths(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(inner) => paths(inner, &path, out),
                _ => out.push(path),
            }
        }
    }
    let mut switches = Vec::new();
    paths(&base_rules, "", &mut switches);
    for switch in switches {
        assert!(
            keys.iter()
                .any(|k| k.starts_with(&format!("rules.{switch} = "))),
            "no change of {switch}"
        );
    }
    for id in ListId::ALL {
        for &pc in base.plan().list(id).steps() {
            let key = format!("plan.{} drop {}", id.key(), plan::facts(pc).name);
            assert!(keys.contains(key.as_str()), "{key}");
        }
    }
}
