//! Loom over the threaded driver: the `Coordinator` a server would link, run under every
//! interleaving of its threads that loom enumerates within a preemption bound.
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p backup-coordinator --release --test loom
//! ```
//!
//! Under `--cfg loom` the driver's mutex and condition variable come from loom (`src/sync.rs`),
//! so every acquisition of the coordinator's lock, every wait and every wake-up is a point where
//! loom may switch threads. The threads call the driver's real blocking API (`base_backup`,
//! `start_backup`, `stop_backup`, `abort_backup`, `write_page`, `run_checkpointer`); nothing
//! here steps the core by hand.
//!
//! **What is checked, and where.** The driver checks every invariant after every step, before
//! it releases its lock. The tests that expect a design to be safe run it with
//! [`OnViolation::Panic`]: a violation panics inside the loom thread and fails the test, naming
//! the step. At the end of every execution they also check the final state with the core's
//! invariant functions: first the properties the test names, one by one ([`invariant`]), then
//! all of them ([`check_all`]). No property is written a second time here.
//!
//! **Failing on purpose.** A green loom run proves nothing unless the same scenario, bound and
//! checks can fail. Each historical flaw gets a test that runs the *same scenario function* at
//! the *same bound* as its safe counterpart, with the 9.1 design and [`OnViolation::Record`].
//! It keeps every execution's violations (those the driver recorded at its steps, and
//! `check_all` at the end) in a std (not loom) tally across executions. The test passes only if
//! loom reached the expected [`Property`]. One more test shows that a violation under
//! [`OnViolation::Panic`] does escape `loom::model` as a panic, so the safe tests can fail.
//!
//! **Bounds.** Every run states its preemption bound, and each test says why it suffices. A
//! thread that blocks (on the lock, or in a checkpoint wait) lets loom switch without using the
//! bound, so the bound counts only switches away from a thread that could have gone on. Each run
//! prints one line, `loom: <test> design=.. threads=.. preemption-bound=.. executions=..
//! wall=..`. These are the numbers of the README's "Loom" table (`-- --nocapture` shows them).
//! loom allows at most 5 threads, the main one included. The checkpointer thread is shut down
//! and joined at the end of every execution, or loom would report a deadlock.
//!
//! **Designs.** Each scenario runs with the two recommended designs where it applies, and with
//! 9.6 (`Pg96`) where it needs exclusive backups, which 15+ no longer has.
#![cfg(loom)]

use backup_coordinator::driver::{
    CoordinatorOptions, OnViolation, PageWrite, StartedBackup, StoppedBackup,
};
use backup_coordinator::invariants::{check_all, invariant, Property};
use backup_coordinator::label::LabelKind;
use backup_coordinator::state::{
    BackupId, BackupMode, BackupPhase, Cluster, ExclusiveState, Pc, SessionId,
};
use backup_coordinator::{Config, Coordinator, CoordinatorError, Design, Variant};
use loom::thread::{self, JoinHandle};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc as StdArc, Mutex as StdMutex};
use std::time::Instant;

const S0: SessionId = SessionId(0);
const S1: SessionId = SessionId(1);
const S2: SessionId = SessionId(2);

/// How a start or a stop call ended.
type Started = Result<StartedBackup, CoordinatorError>;
type Stopped = Result<StoppedBackup, CoordinatorError>;

/// The two designs this project recommends.
const RECOMMENDED: [Design; 2] = [Design::Recommended, Design::RecommendedOption2];

// ----- the harness -----

/// One loom run: the test's scenario name, the design, the thread count (the main thread
/// included) and the preemption bound.
struct Run {
    test: &'static str,
    design: Design,
    threads: usize,
    preemption_bound: usize,
}

impl Run {
    /// Runs `model` under `loom::model::Builder` with this run's preemption bound, counting
    /// the executions loom explores in a std atomic (incremented once per model iteration).
    /// Prints the README's numbers and returns the number of executions.
    fn explore(&self, model: impl Fn() + Send + Sync + 'static) -> usize {
        assert!(self.threads <= 5, "loom allows at most 5 threads");
        let executions = StdArc::new(AtomicUsize::new(0));
        let counter = StdArc::clone(&executions);
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(self.preemption_bound);
        let started = Instant::now();
        builder.check(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            model();
        });
        let executions = executions.load(Ordering::Relaxed);
        println!(
            "loom: {} design={} threads={} preemption-bound={} executions={} wall={:.2}s",
            self.test,
            self.design,
            self.threads,
            self.preemption_bound,
            executions,
            started.elapsed().as_secs_f64()
        );
        assert!(executions > 1, "{}: loom explored one execution", self.test);
        executions
    }
}

/// A coordinator with `sql` SQL sessions, `walsenders` WAL senders (numbered after them), one
/// page and `writers` page writers.
fn coordinator(
    design: Design,
    sql: u8,
    walsenders: u8,
    writers: u8,
    on_violation: OnViolation,
) -> Coordinator {
    // The historical designs' backup_label and history files are not durable (their era
    // finding about OS crashes, which no loom scenario is about): the driver leaves that
    // property out.
    let unchecked = if !design.is_recommended() {
        [Property::ReportedFilesSurviveOsCrash]
            .into_iter()
            .collect()
    } else {
        Default::default()
    };
    let options = CoordinatorOptions {
        on_violation,
        data_dir: None,
        unchecked,
        ..CoordinatorOptions::default()
    };
    let config = Config::for_driver(sql, walsenders, 1, writers);
    Coordinator::with_options(Variant::of(design), config, options).expect("valid configuration")
}

/// Spawns a loom thread running `work` on its own handle of the coordinator.
fn spawn<T: Send + 'static>(
    c: &Coordinator,
    work: impl FnOnce(Coordinator) -> T + Send + 'static,
) -> JoinHandle<T> {
    let c = c.clone();
    thread::spawn(move || work(c))
}

fn spawn_checkpointer(c: &Coordinator) -> JoinHandle<()> {
    spawn(c, |c| c.run_checkpointer())
}

/// The checkpointer must exit for the execution to end: shut it down and join it.
fn stop_checkpointer(c: &Coordinator, checkpointer: JoinHandle<()>) {
    c.shutdown();
    checkpointer.join().expect("checkpointer thread");
}

/// The end of an execution that must be safe: the named properties, then every invariant, on
/// the final state (the driver already checked them all at every release of its lock).
fn assert_holds(c: &Coordinator, properties: &[Property]) -> Cluster {
    let state = c.snapshot();
    for &property in properties {
        if let Err(violation) = invariant(property)(&state) {
            panic!("{property} violated at the end: {violation}");
        }
    }
    let violations: Vec<_> = check_all(&state)
        .into_iter()
        .filter(|v| {
            state.variant.design.is_recommended()
                || v.property != Property::ReportedFilesSurviveOsCrash
        })
        .collect();
    assert!(violations.is_empty(), "violated at the end: {violations:?}");
    assert_eq!(c.violations(), Vec::new());
    state
}

/// A count kept across executions (std, not loom: loom resets its own objects every time).
type Witness = StdArc<AtomicUsize>;

/// What the executions of a failing-on-purpose run found, kept across executions.
#[derive(Debug, Default)]
struct Tally {
    executions: usize,
    violating: usize,
    first_violating: Option<usize>,
    properties: BTreeMap<Property, usize>,
}

type SharedTally = StdArc<StdMutex<Tally>>;

/// Adds one execution's violations: those the driver recorded at its steps, and those of the
/// final state.
fn record(tally: &SharedTally, c: &Coordinator) {
    let mut found: BTreeSet<Property> = c.violations().into_iter().map(|v| v.property).collect();
    found.extend(check_all(&c.snapshot()).into_iter().map(|v| v.property));
    let mut tally = tally.lock().expect("tally");
    tally.executions += 1;
    if !found.is_empty() {
        tally.violating += 1;
        if tally.first_violating.is_none() {
            tally.first_violating = Some(tally.executions);
        }
    }
    for property in found {
        *tally.properties.entry(property).or_default() += 1;
    }
}

/// Runs `scenario` with the run's (bad) design, recording violations, and passes only if loom
/// found every property of `expected`.
fn expect_violations(
    run: &Run,
    expected: &[Property],
    scenario: impl Fn(Design, OnViolation) -> Coordinator + Send + Sync + 'static,
) {
    let tally = SharedTally::default();
    let shared = StdArc::clone(&tally);
    let design = run.design;
    let executions = run.explore(move || {
        let c = scenario(design, OnViolation::Record);
        record(&shared, &c);
    });
    let tally = tally.lock().expect("tally");
    assert_eq!(tally.executions, executions);
    println!(
        "loom: {} violations in {} of {} executions (first at execution {:?}): {:?}",
        run.test, tally.violating, tally.executions, tally.first_violating, tally.properties
    );
    for property in expected {
        assert!(
            tally.properties.contains_key(property),
            "{}: loom did not find `{property}` in {executions} executions (found {:?})",
            run.test,
            tally.properties
        );
    }
}

// ----- (a) two WAL senders, one checkpointer -----

/// WAL senders S0 (the main thread) and S1 each take a whole `BASE_BACKUP` (start, copy, stop)
/// while the checkpointer thread serves their checkpoint requests.
fn two_wal_senders(design: Design, on_violation: OnViolation) -> (Coordinator, [Stopped; 2]) {
    let c = coordinator(design, 0, 2, 0, on_violation);
    let checkpointer = spawn_checkpointer(&c);
    let other = spawn(&c, |c| c.base_backup(S1, LabelKind::Plain));
    let first = c.base_backup(S0, LabelKind::Plain);
    let second = other.join().expect("WAL sender S1");
    stop_checkpointer(&c, checkpointer);
    (c, [first, second])
}

/// Bound 2. The race that matters needs one preemption: a WAL sender switched away between its
/// read of the control file and its check, so that both read the redo point of one checkpoint
/// (merged requests, or a read that comes late). 9.1's race between check and set (B2) needs one
/// more switch, between the check and the set, and loom finds it at bound 1 already. The second
/// preemption lets the other backup's stop and the checkpointer's steps fall anywhere around the
/// first. From bound 1 to bound 2 the executions grow more than a hundredfold, and bound 3 would
/// not fit the suite's time.
#[test]
fn two_wal_senders_get_distinct_start_points_forcing_and_counter_hold() {
    const PROPERTIES: [Property; 7] = [
        Property::UniqueStartPoints,
        Property::HistoryFilesNeverOverwritten,
        Property::ForcingWhileBackupRuns,
        Property::CounterMatchesBackups,
        Property::UnitsReleasedOnce,
        Property::LabelsNeverShared,
        Property::NoTornPageInStoppedBackup,
    ];
    for design in RECOMMENDED {
        let run = Run {
            test: "two_wal_senders",
            design,
            threads: 3,
            preemption_bound: 2,
        };
        run.explore(move || {
            let (c, [first, second]) = two_wal_senders(design, OnViolation::Panic);
            let (first, second) = (first.expect("S0's backup"), second.expect("S1's backup"));
            assert_ne!(first.start, second.start, "distinct start points");
            let state = assert_holds(&c, &PROPERTIES);
            assert_eq!(state.shared.backups, 0, "the counter is back to 0");
            assert!(!state.shared.force_page_writes);
            for id in [BackupId(0), BackupId(1)] {
                assert_eq!(c.ended(id), Some(BackupPhase::Stopped), "{id} stopped");
            }
            assert!(state.backups.is_empty(), "both ended and were retired");
            assert!(state.data_dir.temp_labels.is_empty());
        });
    }
}

/// B2 (PROTOCOL.md §6): 9.1 checks and sets `lastBackupStart` under the insertion lock in
/// shared mode, so two WAL senders that read the same redo point both pass the check, and the
/// second history file replaces the first.
#[test]
fn pg91_b2_two_wal_senders_share_a_start_point() {
    let run = Run {
        test: "pg91_b2_two_wal_senders",
        design: Design::Pg91,
        threads: 3,
        preemption_bound: 2,
    };
    expect_violations(
        &run,
        &[
            Property::UniqueStartPoints,
            Property::HistoryFilesNeverOverwritten,
        ],
        |design, on_violation| two_wal_senders(design, on_violation).0,
    );
}

// ----- (b) an exclusive and a streamed backup at once -----

/// SQL session S0 (the main thread) takes an exclusive backup (`pg_start_backup`, then
/// `pg_stop_backup`) while WAL sender S1 takes a streamed one.
fn exclusive_and_streamed(
    design: Design,
    on_violation: OnViolation,
) -> (Coordinator, Started, Stopped, Stopped) {
    let c = coordinator(design, 1, 1, 0, on_violation);
    let checkpointer = spawn_checkpointer(&c);
    let streamed = spawn(&c, |c| c.base_backup(S1, LabelKind::Plain));
    let started = c.start_backup(S0, BackupMode::Exclusive, LabelKind::Plain);
    let stopped = c.stop_backup(S0, BackupMode::Exclusive);
    let streamed = streamed.join().expect("WAL sender S1");
    stop_checkpointer(&c, checkpointer);
    (c, started, stopped, streamed)
}

/// Bound 2, as for (a). One preemption puts the exclusive start's label write, or its stop's
/// removal of the label, between any two steps of the streamed backup (its copy included). The
/// second varies the checkpointer and the other start point around that.
#[test]
fn exclusive_and_streamed_backup_keep_their_own_labels_and_forcing() {
    const PROPERTIES: [Property; 6] = [
        Property::LabelsNeverShared,
        Property::ForcingWhileBackupRuns,
        Property::ExclusiveBackupAlone,
        Property::NoStaleBackupLabel,
        Property::UniqueStartPoints,
        Property::CounterMatchesBackups,
    ];
    let design = Design::Pg96;
    let run = Run {
        test: "exclusive_and_streamed",
        design,
        threads: 3,
        preemption_bound: 2,
    };
    run.explore(move || {
        let (c, started, stopped, streamed) = exclusive_and_streamed(design, OnViolation::Panic);
        let (started, stopped) = (started.expect("exclusive start"), stopped.expect("stop"));
        let streamed = streamed.expect("streamed backup");
        assert_eq!(stopped.start, started.start);
        assert_ne!(streamed.start, started.start);
        let state = assert_holds(&c, &PROPERTIES);
        // Whether a copy carried another's label is `labels never shared`, checked above.
        assert!(state.backups.is_empty(), "both ended and were retired");
        for id in [BackupId(0), BackupId(1)] {
            assert_eq!(c.ended(id), Some(BackupPhase::Stopped), "{id} stopped");
        }
        assert_eq!(state.shared.exclusive, ExclusiveState::None);
        assert_eq!(state.data_dir.backup_label, None);
        assert_eq!(state.shared.backups, 0);
    });
}

// ----- (c) a stop racing a start (B5), a disconnect racing a stop (B7) -----

/// B5's shape. SQL session S0 starts an exclusive backup while SQL session S1 (the main thread)
/// asks to stop the exclusive backup, and (with `writer`) a page writer changes page 0 once.
/// Whatever the race gave, S1 then stops the exclusive backup if it still runs, so every
/// execution should end with nothing held and the backup stopped.
fn stop_racing_start(
    design: Design,
    on_violation: OnViolation,
    writer: bool,
) -> (Coordinator, Started, Stopped) {
    let c = coordinator(design, 2, 0, u8::from(writer), on_violation);
    let checkpointer = spawn_checkpointer(&c);
    let start = spawn(&c, |c| {
        c.start_backup(S0, BackupMode::Exclusive, LabelKind::Plain)
    });
    let write = writer.then(|| spawn(&c, |c| c.write_page(0, 0)));
    let stop = c.stop_backup(S1, BackupMode::Exclusive);
    let started = start.join().expect("S0");
    if let Some(write) = write {
        write.join().expect("page writer").expect("page write");
    }
    if started.is_ok() && stop.is_err() {
        let cleanup = c.stop_backup(S1, BackupMode::Exclusive);
        if on_violation == OnViolation::Panic {
            cleanup.expect("the exclusive backup still runs, and stops");
        }
    }
    stop_checkpointer(&c, checkpointer);
    (c, started, stop)
}

/// Bound 2, with the page writer (4 threads). The race needs the stop to land between the
/// start's increment and its end. The start blocks in its checkpoint wait there, so loom can
/// switch to the stop without a preemption. The torn page needs the write in that window too.
/// In 9.1 loom finds both the flag and the end-to-end violation at bound 1 already, and all
/// three of B5's properties at this bound (`pg91_b5_..`).
#[test]
fn exclusive_stop_racing_exclusive_start_is_refused_safely() {
    const PROPERTIES: [Property; 7] = [
        Property::ExclusiveBackupAlone,
        Property::ForcingWhileBackupRuns,
        Property::NoTornPageInStoppedBackup,
        Property::NoStaleBackupLabel,
        Property::CounterMatchesBackups,
        Property::UnitsReleasedOnce,
        Property::AssertionsHold,
    ];
    let design = Design::Pg96;
    let run = Run {
        test: "stop_racing_start",
        design,
        threads: 4,
        preemption_bound: 2,
    };
    run.explore(move || {
        let (c, started, _) = stop_racing_start(design, OnViolation::Panic, true);
        started.expect("the start never fails");
        let state = assert_holds(&c, &PROPERTIES);
        assert_eq!(state.shared.exclusive, ExclusiveState::None);
        assert_eq!(state.data_dir.backup_label, None);
        assert!(!state.shared.force_page_writes);
        assert_eq!(c.ended(BackupId(0)), Some(BackupPhase::Stopped));
    });
}

/// What B5 breaks in 9.1 (PROTOCOL.md §6). The exclusive stop clears the flag first and
/// unconditionally, and only then reads the label. A stop from another session while the start
/// waits for its checkpoint turns forcing off under the start. The page's first change after
/// the start point then goes in without an image, and the backup, stopped later, is declared
/// complete with a page replay cannot repair. Or the whole start runs between the stop's clear
/// and its read of the label. The stop then ends the new backup (its end record, its history
/// file) while the flag stays taken by a backup that is over.
const B5_PROPERTIES: [Property; 3] = [
    Property::ForcingWhileBackupRuns,
    Property::NoTornPageInStoppedBackup,
    Property::UnitsReleasedOnce,
];

#[test]
fn pg91_b5_forcing_off_torn_page_and_a_flag_held_by_a_stopped_backup() {
    let run = Run {
        test: "pg91_b5_stop_racing_start",
        design: Design::Pg91,
        threads: 4,
        preemption_bound: 2,
    };
    expect_violations(&run, &B5_PROPERTIES, |design, on_violation| {
        stop_racing_start(design, on_violation, true).0
    });
}

/// B5 with [`OnViolation::Panic`], as the safe tests run (without the page writer, to keep it
/// short): the first violation loom meets panics out of `loom::model`, naming one of B5's
/// properties. So a safe test that meets a violation fails.
#[test]
fn pg91_b5_panics_out_of_loom_as_a_safe_test_would() {
    let run = Run {
        test: "pg91_b5_panics",
        design: Design::Pg91,
        threads: 3,
        preemption_bound: 2,
    };
    let executions = Witness::default();
    let counted = StdArc::clone(&executions);
    let started = Instant::now();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run.explore(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            let _ = stop_racing_start(Design::Pg91, OnViolation::Panic, false);
        })
    }));
    println!(
        "loom: {} design={} threads={} preemption-bound={} panicked at execution {} after {:.2}s",
        run.test,
        run.design,
        run.threads,
        run.preemption_bound,
        executions.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    let payload = caught.expect_err("loom must panic on the violation");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a panic message");
    assert!(
        message.starts_with("invariant violated after "),
        "{message}"
    );
    // The message is "invariant violated after <step> (<event>): <property>: <detail>".
    let named = Property::ALL
        .into_iter()
        .find(|p| message.contains(&format!("): {}: ", p.name())));
    assert!(
        named.is_some_and(|p| B5_PROPERTIES.contains(&p)),
        "not one of B5's properties: {message}"
    );
}

/// B7's shape. SQL sessions S0, S1 and S2 hold non-exclusive backups. The main thread starts
/// them while the checkpointer runs; the checkpointer then exits. Three things then run at
/// once: S0's stop (main thread), S0's client going away (a disconnect racing its own stop) and
/// S1's client going away (a disconnect racing another session's stop). S2 runs throughout, so
/// a unit given back twice would show as S2's unit lost. It stops at the end.
fn disconnect_racing_stop(
    design: Design,
    on_violation: OnViolation,
) -> (Coordinator, Stopped, [bool; 2]) {
    let c = coordinator(design, 3, 0, 0, on_violation);
    let checkpointer = spawn_checkpointer(&c);
    for session in [S0, S1, S2] {
        let started = c.start_backup(session, BackupMode::NonExclusive, LabelKind::Plain);
        if on_violation == OnViolation::Panic {
            started.expect("set-up start");
        }
    }
    stop_checkpointer(&c, checkpointer);
    let own = spawn(&c, |c| c.abort_backup(S0).expect("abort S0"));
    let other = spawn(&c, |c| c.abort_backup(S1).expect("abort S1"));
    let stopped = c.stop_backup(S0, BackupMode::NonExclusive);
    let aborted = [
        own.join().expect("S0's disconnect"),
        other.join().expect("S1's disconnect"),
    ];
    let last = c.stop_backup(S2, BackupMode::NonExclusive);
    if on_violation == OnViolation::Panic {
        last.expect("S2's backup ran throughout, and stops");
    }
    (c, stopped, aborted)
}

/// Bound 3: two short commands beside the stop, after a set-up that runs alone. A disconnect
/// strikes S0 only where S0 notices it: idle holding its backup, in its archive wait, or idle
/// afterwards with its exit hook armed. One preemption puts it at each of those points around
/// the stop's decrement, and the others order S1's disconnect around both. No design here has
/// B7's flaw (9.1 has no non-exclusive SQL backups, and 9.6 fixed it), so this test has no
/// failing counterpart. The stop-racing-disconnect outcome check did fail before a driver fix
/// (a completed stop was reported as disconnected).
#[test]
fn disconnect_racing_a_stop_releases_every_unit_once() {
    const PROPERTIES: [Property; 6] = [
        Property::CounterMatchesBackups,
        Property::SessionStateMatchesUnit,
        Property::UnitsReleasedOnce,
        Property::ForcingWhileBackupRuns,
        Property::LabelsNeverShared,
        Property::AssertionsHold,
    ];
    for design in RECOMMENDED {
        let run = Run {
            test: "disconnect_racing_stop",
            design,
            threads: 3,
            preemption_bound: 3,
        };
        run.explore(move || {
            let (c, stopped, aborted) = disconnect_racing_stop(design, OnViolation::Panic);
            assert!(aborted[1], "S1 held a backup, so its exit ran");
            match stopped {
                Ok(_) => {}
                Err(CoordinatorError::Disconnected | CoordinatorError::Backup(_)) => {
                    assert!(aborted[0], "only S0's disconnect makes its stop fail")
                }
                Err(other) => panic!("S0's stop ended with {other}"),
            }
            let state = assert_holds(&c, &PROPERTIES);
            assert_eq!(
                stopped.is_ok(),
                c.ended(BackupId(0)) == Some(BackupPhase::Stopped),
                "S0's stop reports success exactly when its backup stopped: {stopped:?}"
            );
            assert_eq!(state.shared.backups, 0);
            assert!(!state.shared.force_page_writes);
            assert_eq!(c.ended(BackupId(2)), Some(BackupPhase::Stopped));
            assert!(state.data_dir.temp_labels.is_empty());
        });
    }
}

/// B3's shape: WAL sender S0 (the main thread) takes a base backup while its client goes away.
fn disconnect_racing_base_backup(design: Design, on_violation: OnViolation) -> Coordinator {
    let c = coordinator(design, 0, 1, 0, on_violation);
    let checkpointer = spawn_checkpointer(&c);
    let abort = spawn(&c, |c| c.abort_backup(S0));
    let backup = c.base_backup(S0, LabelKind::Plain);
    let aborted = abort.join().expect("disconnect");
    if on_violation == OnViolation::Panic {
        match (&backup, &aborted) {
            (Ok(_), Ok(false)) | (Err(CoordinatorError::Disconnected), Ok(true)) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    stop_checkpointer(&c, checkpointer);
    c
}

/// Bound 3. The disconnect strikes where the WAL sender checks for it: its checkpoint wait,
/// sending the start position, the copy, sending the stop position. One preemption reaches each
/// point, and the others vary the checkpointer around it. 9.1's leak (B3) is found at this
/// bound, and at bound 1 already (`pg91_b3_..`).
#[test]
fn disconnect_racing_a_base_backup_releases_its_unit() {
    const PROPERTIES: [Property; 4] = [
        Property::UnitsReleasedOnce,
        Property::CounterMatchesBackups,
        Property::ForcingWhileBackupRuns,
        Property::LabelsNeverShared,
    ];
    for design in RECOMMENDED {
        let run = Run {
            test: "disconnect_racing_base_backup",
            design,
            threads: 3,
            preemption_bound: 3,
        };
        run.explore(move || {
            let c = disconnect_racing_base_backup(design, OnViolation::Panic);
            let state = assert_holds(&c, &PROPERTIES);
            assert_eq!(state.shared.backups, 0);
            assert!(!state.shared.force_page_writes);
            assert!(state.data_dir.temp_labels.is_empty());
        });
    }
}

/// B3 (PROTOCOL.md §6): 9.1 sends the start position before arming the WAL sender's cleanup.
/// A client that goes away right then leaks the counter unit, and forcing stays on for good.
#[test]
fn pg91_b3_disconnect_while_sending_the_start_position_leaks_the_unit() {
    let run = Run {
        test: "pg91_b3_disconnect_racing_base_backup",
        design: Design::Pg91,
        threads: 3,
        preemption_bound: 3,
    };
    expect_violations(
        &run,
        &[Property::UnitsReleasedOnce],
        disconnect_racing_base_backup,
    );
}

// ----- (d) a page writer while a backup starts -----

/// SQL session S0 takes a non-exclusive backup (start, then stop) while the main thread, a page
/// writer, changes page 0 once. Returns the write and the backup's start and stop.
fn page_write_during_start(
    design: Design,
    on_violation: OnViolation,
) -> (Coordinator, PageWrite, Started, Stopped) {
    let c = coordinator(design, 1, 0, 1, on_violation);
    let checkpointer = spawn_checkpointer(&c);
    let backup = spawn(&c, |c| {
        let started = c.start_backup(S0, BackupMode::NonExclusive, LabelKind::Plain);
        let stopped = c.stop_backup(S0, BackupMode::NonExclusive);
        (started, stopped)
    });
    let write = c.write_page(0, 0).expect("page write");
    let (started, stopped) = backup.join().expect("S0");
    stop_checkpointer(&c, checkpointer);
    (c, write, started, stopped)
}

/// Bound 3. The dangerous write is assembled before forcing is on (or before the redo point
/// moves) and inserted after the start's checkpoint has fixed the redo point. The writer lets
/// the lock go between assembling and inserting, so one preemption puts the start's increment
/// and checkpoint there; the others let the checkpointer's two steps and the start's read of
/// the control file fall on either side. Every execution whose change landed between the
/// backup's start point and its end record is counted, and at least one must exist.
#[test]
fn page_writer_during_a_backup_start_leaves_no_torn_page_in_the_stopped_backup() {
    const PROPERTIES: [Property; 2] = [
        Property::NoTornPageInStoppedBackup,
        Property::ForcingWhileBackupRuns,
    ];
    for design in RECOMMENDED {
        let run = Run {
            test: "page_writer_during_start",
            design,
            threads: 3,
            preemption_bound: 3,
        };
        let inside = Witness::default();
        let imaged = Witness::default();
        let (inside_count, imaged_count) = (StdArc::clone(&inside), StdArc::clone(&imaged));
        run.explore(move || {
            let (c, write, started, stopped) = page_write_during_start(design, OnViolation::Panic);
            let (started, stopped) = (started.expect("start"), stopped.expect("stop"));
            assert_holds(&c, &PROPERTIES);
            assert_eq!(c.ended(BackupId(0)), Some(BackupPhase::Stopped));
            if write.at > started.start && write.at < stopped.stop {
                inside_count.fetch_add(1, Ordering::Relaxed);
                if write.image {
                    imaged_count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let (inside, imaged) = (
            inside.load(Ordering::Relaxed),
            imaged.load(Ordering::Relaxed),
        );
        println!(
            "loom: page_writer_during_start design={design} executions writing during the backup: {inside} ({imaged} with a full-page image)"
        );
        assert!(inside > 0, "no execution wrote the page during the backup");
    }
}

// ----- (e) two checkpoint requests merged into one checkpoint -----

/// SQL sessions S0 and S1 start non-exclusive backups at once. The main thread looks at the
/// state once (a probe) and only then starts the checkpointer. When the probe finds both
/// sessions waiting for a checkpoint with the same ticket, one checkpoint serves both requests:
/// both read its redo point, and the unique-start-point check sends one of them back for
/// another. Both backups are stopped at the end. Returns whether the probe saw a merge.
fn merged_requests(design: Design, on_violation: OnViolation) -> (Coordinator, bool, [Started; 2]) {
    let c = coordinator(design, 2, 0, 0, on_violation);
    let first = spawn(&c, |c| {
        c.start_backup(S0, BackupMode::NonExclusive, LabelKind::Plain)
    });
    let second = spawn(&c, |c| {
        c.start_backup(S1, BackupMode::NonExclusive, LabelKind::Plain)
    });
    let probe = c.snapshot();
    let tickets: Vec<u32> = probe
        .sessions
        .iter()
        .filter(|s| s.pc == Pc::StartWaitCheckpoint)
        .map(|s| s.ticket)
        .collect();
    let merged = tickets.len() == 2 && tickets[0] == tickets[1];
    let checkpointer = spawn_checkpointer(&c);
    let started = [first.join().expect("S0"), second.join().expect("S1")];
    stop_checkpointer(&c, checkpointer);
    for session in [S0, S1] {
        let stopped = c.stop_backup(session, BackupMode::NonExclusive);
        if on_violation == OnViolation::Panic {
            stopped.expect("stop");
        }
    }
    (c, merged, started)
}

/// Bound 2. The merge needs both requests in before the probe, and that takes two preemptions:
/// at bound 1 loom finds no merge at all, and the witness below fails. Once both sessions wait,
/// the retry after the merge follows. Every execution with a merge is counted, and at least one
/// must exist.
#[test]
fn merged_checkpoint_requests_get_distinct_start_points_by_the_retry() {
    const PROPERTIES: [Property; 3] = [
        Property::UniqueStartPoints,
        Property::StartPointIsRealWal,
        Property::CounterMatchesBackups,
    ];
    let design = Design::Recommended;
    let run = Run {
        test: "merged_requests",
        design,
        threads: 4,
        preemption_bound: 2,
    };
    let merges = Witness::default();
    let counted = StdArc::clone(&merges);
    run.explore(move || {
        let (c, merged, [first, second]) = merged_requests(design, OnViolation::Panic);
        let (first, second) = (first.expect("S0's start"), second.expect("S1's start"));
        assert_ne!(first.start, second.start, "distinct start points");
        let state = assert_holds(&c, &PROPERTIES);
        if merged {
            counted.fetch_add(1, Ordering::Relaxed);
            assert!(
                state.checkpointer.started >= 2,
                "a merged request is served again after the retry"
            );
        }
        assert_eq!(state.shared.backups, 0);
    });
    let merges = merges.load(Ordering::Relaxed);
    println!("loom: merged_requests design={design} executions with a merged checkpoint: {merges}");
    assert!(merges > 0, "no execution merged the two requests");
}

// ----- the driver itself -----

/// The driver lets go of its lock after every step, a command's first step included: between
/// a start's increment and its WAL switch, and between a stop's decrement and its backup-end
/// record, other threads run (in PostgreSQL other backends insert WAL there). SQL session S0
/// takes a backup (start, then stop) while the main thread looks at the state once. The
/// executions where the probe finds S0 between those two steps are counted, and both kinds
/// must exist.
#[test]
fn driver_lets_go_of_its_lock_between_a_commands_first_two_steps() {
    let design = Design::Recommended;
    let run = Run {
        test: "lock_released_after_first_step",
        design,
        threads: 3,
        preemption_bound: 2,
    };
    let after_increment = Witness::default();
    let after_decrement = Witness::default();
    let (increments, decrements) = (
        StdArc::clone(&after_increment),
        StdArc::clone(&after_decrement),
    );
    run.explore(move || {
        let c = coordinator(design, 1, 0, 0, OnViolation::Panic);
        let checkpointer = spawn_checkpointer(&c);
        let backup = spawn(&c, |c| {
            c.start_backup(S0, BackupMode::NonExclusive, LabelKind::Plain)
                .expect("start");
            c.stop_backup(S0, BackupMode::NonExclusive).expect("stop")
        });
        let probe = c.snapshot();
        match probe.sessions[0].pc {
            Pc::StartSwitch => increments.fetch_add(1, Ordering::Relaxed),
            Pc::StopEndRecord => decrements.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        backup.join().expect("S0");
        stop_checkpointer(&c, checkpointer);
        assert_holds(&c, &[]);
    });
    let (increments, decrements) = (
        after_increment.load(Ordering::Relaxed),
        after_decrement.load(Ordering::Relaxed),
    );
    println!("loom: lock_released_after_first_step probes after the increment: {increments}, after the decrement: {decrements}");
    assert!(
        increments > 0,
        "no thread ran between a start's first two steps"
    );
    assert!(
        decrements > 0,
        "no thread ran between a stop's first two steps"
    );
}

// ----- incremental backup (17+) -----

/// I1's cluster (two redo points after the full backup's, INCREMENTAL.md §4), with the
/// standby archiving; the full backup and the primary's checkpoints are taken before the
/// threads start. Three threads then race over the driver: the standby (receives the three
/// records, replays `replays` of them, is promoted there: at 0/120, the start of WAL segment
/// 9, after one; inside it, at 0/130, after two), the summarizer (reads whatever has been
/// received, ahead of replay), and the client of the incremental backup (waits for the
/// promotion, then for the summarizer). Returns what became of the backup, every violation
/// the driver recorded, and the final state.
fn incremental_race(
    rules: backup_coordinator::incremental::cluster::IncrementalRules,
    replays: usize,
) -> (
    Result<
        backup_coordinator::incremental::cluster::IncrementalBackup,
        backup_coordinator::incremental::cluster::IncrementalStepError,
    >,
    Vec<&'static str>,
    backup_coordinator::incremental::cluster::IncrementalCluster,
) {
    use backup_coordinator::incremental::cluster::{
        IncrementalAction as A, IncrementalConfig, Listing,
    };
    use backup_coordinator::incremental::driver::IncrementalDriver;
    let config = IncrementalConfig {
        primary_writes: 0,
        truncations: 0,
        primary_checkpoints: 2,
        standby_writes: 0,
        archive_mode: true,
        ..IncrementalConfig::default()
    };
    let d = IncrementalDriver::new(rules, config, 1);
    for action in [A::FullBackup, A::PrimaryCheckpoint, A::PrimaryCheckpoint] {
        d.step(action).expect("the primary's steps");
    }
    let summarizer = {
        let d = d.clone();
        thread::spawn(move || d.run_summarizer())
    };
    let standby = {
        let d = d.clone();
        thread::spawn(move || {
            for _ in 0..3 {
                d.step(A::Receive).expect("receive");
            }
            for _ in 0..replays {
                d.step(A::Replay).expect("replay");
            }
            d.step(A::Promote).expect("promote");
            d.feeder_done();
        })
    };
    let client = {
        let d = d.clone();
        thread::spawn(move || d.incremental_backup(Listing::Written))
    };
    standby.join().expect("standby thread");
    let backup = client.join().expect("client thread");
    d.stop_summarizer();
    summarizer.join().expect("summarizer thread");
    let violations = d
        .violations()
        .into_iter()
        .map(|(_, v)| v.property)
        .collect();
    (backup, violations, d.snapshot())
}

/// With the recommended rules, every interleaving of the standby, the summarizer and the
/// client, promoted at a segment's start or inside it, keeps restore and provenance at every
/// step and takes the backup, which rebuilds the source. Bound 2: I1 needs one switch (the summarizer reading past the promotion point
/// before the standby promotes), and the wait for the summarizer blocks without using it.
#[test]
fn incremental_standby_summarizer_and_client_keep_every_property_in_every_interleaving() {
    use backup_coordinator::incremental::cluster::{IncrementalBackup, IncrementalRules};
    for (test, replays) in [
        ("incremental_race_at_a_segment_start", 1),
        ("incremental_race_inside_a_segment", 2),
    ] {
        Run {
            test,
            design: Design::Recommended,
            threads: 4,
            preemption_bound: 2,
        }
        .explore(move || {
            let (backup, violations, state) =
                incremental_race(IncrementalRules::RECOMMENDED, replays);
            assert_eq!(violations, Vec::<&str>::new());
            match backup {
                Ok(IncrementalBackup::Rebuilt {
                    source, rebuilt, ..
                }) => assert_eq!(source, rebuilt),
                other => panic!("not taken: {other:?}\n{state:?}"),
            }
        });
    }
}

/// The same race with 17's released rules (the same bound), promoted at 0/120: some
/// interleaving lets the summarizer write a file of abandoned WAL that starts at the
/// promotion point, and the backup uses it (I1, "E3 summaries used lie on the backup's
/// history"); and with B15's summarizer (a segment opened only under the timeline it reads),
/// promoted inside segment 9 at 0/130, some interleaving leaves the summarizer behind that
/// segment, renamed `.partial` at the promotion, and the backup is refused ("L1": the wait
/// fails).
#[test]
fn incremental_race_finds_i1_in_seventeen_and_i2_without_its_fix() {
    use backup_coordinator::incremental::cluster::{IncrementalBackup, IncrementalRules};
    use backup_coordinator::incremental::SummarizerRules;
    let found_i1: Witness = StdArc::new(AtomicUsize::new(0));
    let seen = StdArc::clone(&found_i1);
    Run {
        test: "incremental_race_released",
        design: Design::Pg17,
        threads: 4,
        preemption_bound: 2,
    }
    .explore(move || {
        let (_, violations, _) = incremental_race(IncrementalRules::RELEASED, 1);
        if violations.iter().any(|p| p.starts_with("E3")) {
            seen.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert!(found_i1.load(Ordering::Relaxed) > 0, "loom never met I1");

    let refused: Witness = StdArc::new(AtomicUsize::new(0));
    let seen = StdArc::clone(&refused);
    let b15 = IncrementalRules {
        summarizer: SummarizerRules {
            segment_on_descendants: false,
            ..IncrementalRules::RECOMMENDED.summarizer
        },
        ..IncrementalRules::RECOMMENDED
    };
    Run {
        test: "incremental_race_b15",
        design: Design::Recommended,
        threads: 4,
        preemption_bound: 2,
    }
    .explore(move || {
        let (backup, _, _) = incremental_race(b15, 2);
        if matches!(backup, Ok(IncrementalBackup::Refused(_))) {
            seen.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert!(refused.load(Ordering::Relaxed) > 0, "loom never met I2");
}
