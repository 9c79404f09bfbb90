//! The command line, end to end: exit statuses (0 pass, 1 safety, 2 bad usage or input),
//! one-line errors, a saved failure replayed byte for byte in every format, JSON reports and
//! JSON lines that merge across shards.

use std::path::Path;
use std::process::{Command, Output};

fn backup_check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backup-check"))
        .args(args)
        .output()
        .expect("backup-check runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_passes_on_the_recommended_variant_and_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = dir.path().join("failures");
    let o = backup_check(&[
        "check",
        "--seeds",
        "0..40",
        "--steps",
        "5000",
        "--out",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("verdict: PASS"), "{text}");
    assert!(text.contains("model concurrency"), "{text}");
    assert!(text.contains("cases reached"), "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["sim"]["seeds_run"], 40);
    assert!(
        report["model"][0]["report"]["unique_states"]
            .as_u64()
            .unwrap()
            > 1000
    );
    let corpus = report["corpus"].as_array().unwrap();
    assert!(!corpus.is_empty(), "the regression corpus is replayed");
    assert!(corpus.iter().all(|e| e["reproduces"] == true));
    assert!(!out.exists(), "nothing failed, nothing saved");
}

#[test]
fn check_fails_on_9_1_with_a_short_counterexample_saved_for_replay() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("failures");
    let o = backup_check(&[
        "check",
        "--variant",
        "pg91",
        "--no-model",
        "--no-expected",
        "--seeds",
        "0..20",
        "--out",
        out.to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("verdict: SAFETY FAILURE"), "{text}");
    assert!(
        text.contains("safety failure \"page writes forced while a backup runs\""),
        "{text}"
    );
    assert!(
        text.contains("to 3 actions"),
        "B5 shrinks to three steps: {text}"
    );
    let saved = std::fs::read_dir(&out).unwrap().count();
    assert!(saved >= 3, "{saved} files");
}

#[test]
fn bad_input_is_one_clear_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let malformed = dir.path().join("malformed.json");
    std::fs::write(
        &malformed,
        "{\"format\": \"backup-check-replay\", \"version\": 1,",
    )
    .unwrap();
    let other_version = dir.path().join("v1.json");
    std::fs::write(
        &other_version,
        "{\"format\": \"backup-check-replay\", \"version\": 1}",
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["check", "--variant", "pg99"], "pg99"),
        (vec!["sim", "--seeds", "5..1"], "empty"),
        (vec!["sim", "--shard", "3/2"], "shard"),
        (vec!["sim", "--weight", "crash=lots"], "crash=lots"),
        (
            vec!["replay", malformed.to_str().unwrap()],
            "not a valid replay file",
        ),
        (vec!["replay", other_version.to_str().unwrap()], "version"),
        (vec!["replay", "/nonexistent/file.json"], "cannot read"),
        (vec!["model", "--explore", "0.0.0.0:3000"], "loopback"),
        (vec!["model", "--sql", "0", "--walsenders", "0"], "sessions"),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let o = backup_check(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
}

fn saved_sim_failure(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("failures");
    let o = backup_check(&[
        "sim",
        "--variant",
        "pg91",
        "--no-expected",
        "--seed",
        "6",
        "--out",
        out.to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // The printed repro line carries every flag that changes the run, and re-runs it exactly.
    let text = stdout(&o);
    let repro = text
        .lines()
        .find_map(|l| l.strip_prefix("repro: backup-check "))
        .expect("a repro line");
    assert_eq!(repro, "sim --variant pg91 --no-expected --seed 6");
    let again = backup_check(
        &repro
            .split(' ')
            .chain(["--no-progress", "--no-shrink"])
            .collect::<Vec<_>>(),
    );
    assert_eq!(again.status.code(), Some(1));
    let failure = |t: &str| {
        t.lines()
            .find(|l| l.contains("failure \""))
            .map(|l| l.trim().to_string())
    };
    assert_eq!(failure(&stdout(&again)), failure(&text));
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.remove(0)
}

#[test]
fn replay_reproduces_a_saved_failure_byte_for_byte_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved_sim_failure(dir.path());
    let path = file.to_str().unwrap();
    let first = backup_check(&["replay", path]);
    let second = backup_check(&["replay", path]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(first.stdout, second.stdout, "byte for byte");
    let text = stdout(&first);
    assert!(text.contains("reproduced"), "{text}");
    assert!(text.contains("^ violates"), "{text}");

    let mermaid = backup_check(&["replay", path, "--format", "mermaid"]);
    assert_eq!(mermaid.status.code(), Some(0));
    let diagram = stdout(&mermaid);
    assert!(diagram.starts_with("sequenceDiagram\n"), "{diagram}");
    assert!(diagram.contains("participant S0"), "{diagram}");
    assert!(diagram.contains("violates:"), "{diagram}");
    assert!(
        !diagram.contains(';'),
        "no Mermaid statement separators in messages"
    );

    let json = backup_check(&["replay", path, "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["reproduced"], true);
    assert!(!value["trace"]["steps"].as_array().unwrap().is_empty());
}

#[test]
fn sim_results_from_shards_concatenate_into_one_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("results.jsonl");
    for shard in ["1/3", "2/3", "3/3"] {
        let o = backup_check(&[
            "sim",
            "--variant",
            "pg91-option2",
            "--seeds",
            "0..30",
            "--steps",
            "2000",
            "--shard",
            shard,
            "--no-shrink",
            "--no-expected",
            "--out",
            dir.path().join("failures").to_str().unwrap(),
            "--jsonl",
            jsonl.to_str().unwrap(),
            "--no-progress",
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    }
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summaries: Vec<_> = lines.iter().filter(|l| l["type"] == "summary").collect();
    assert_eq!(summaries.len(), 3);
    let seeds: u64 = summaries
        .iter()
        .map(|s| s["seeds_run"].as_u64().unwrap())
        .sum();
    assert_eq!(seeds, 30);
    let failing: u64 = summaries
        .iter()
        .map(|s| s["failing_seeds"].as_u64().unwrap())
        .sum();
    let grouped: u64 = lines
        .iter()
        .filter(|l| l["type"] == "failure")
        .map(|l| l["group"]["seeds"].as_u64().unwrap())
        .sum();
    assert_eq!(failing, grouped);
    assert!(failing > 0);
}

#[test]
fn variants_lists_every_design_and_help_documents_every_command() {
    let o = backup_check(&["variants"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for design in backup_coordinator::Design::ALL {
        assert!(text.contains(design.name()), "{text}");
    }
    assert!(text.contains("(default)"));
    let help = stdout(&backup_check(&["--help"]));
    for command in [
        "check", "model", "sim", "replay", "variants", "bench", "mutants", "diff", "sweep",
    ] {
        assert!(help.contains(command), "{help}");
    }
    for command in ["check", "model", "sim", "replay", "bench", "sweep"] {
        let o = backup_check(&[command, "--help"]);
        assert_eq!(o.status.code(), Some(0), "{command}");
    }
}

/// The gate passes on exactly a design's reviewed known findings, and says what differs.
#[test]
fn check_passes_on_exactly_the_known_findings_and_fails_on_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("failures");
    let list = |entries: &[(&str, u32)]| {
        let path = dir.path().join(format!("expected-{}.toml", entries.len()));
        let mut text = String::new();
        for (property, length) in entries {
            text.push_str(&format!(
                "[[finding]]\nvariant = \"pg16\"\nprofile = \"lifecycle\"\nproperty = \"{property}\"\nlength = {length}\nwhy = \"test\"\n\n"
            ));
        }
        std::fs::write(&path, text).unwrap();
        path
    };
    let run = |expected: &std::path::Path| {
        backup_check(&[
            "check",
            "--variant",
            "pg16",
            "--profile",
            "lifecycle",
            "--no-sim",
            "--no-corpus",
            "--expected",
            expected.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--no-progress",
        ])
    };
    let both = [
        ("history file describes its backup", 13),
        ("reported files survive an OS crash", 13),
    ];
    let o = run(&list(&both));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("PASS, nothing but the reviewed known findings"));
    let o = run(&list(&both[1..]));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("history file describes its backup: NEW finding"));
    let o = run(&list(&[
        ("history file describes its backup", 12),
        ("reported files survive an OS crash", 13),
        ("unique start points", 20),
    ]));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("known finding CHANGED"), "{text}");
    assert!(
        text.contains("unique start points: listed finding (20 steps) NOT FOUND"),
        "{text}"
    );
}

/// A corpus entry that no longer replays is stale (exit 5), one that replays without its
/// failure a regression (exit 1); a gate that checks nothing does not pass (exit 4).
#[test]
fn stale_corpus_entries_and_empty_gates_have_their_own_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let source = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../regressions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("pg91-model"))
        .unwrap();
    let text = std::fs::read_to_string(&source).unwrap();
    let gate = |corpus: &std::path::Path| {
        backup_check(&[
            "check",
            "--no-model",
            "--no-sim",
            "--corpus",
            corpus.to_str().unwrap(),
            "--no-progress",
        ])
    };
    // An older version of the format: stale.
    std::fs::write(
        corpus.join("old.json"),
        text.replacen("\"version\": 2", "\"version\": 1", 1),
    )
    .unwrap();
    let o = gate(&corpus);
    assert_eq!(o.status.code(), Some(5), "{}", stdout(&o));
    assert!(stdout(&o).contains("STALE"), "{}", stdout(&o));
    // A schedule whose steps no longer fit the core: stale too.
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut cut = file.clone();
    let actions = cut["actions"].as_array_mut().unwrap();
    actions.remove(0);
    std::fs::write(corpus.join("old.json"), cut.to_string()).unwrap();
    let o = gate(&corpus);
    assert_eq!(o.status.code(), Some(5), "{}", stdout(&o));
    // A schedule that replays but no longer fails: a regression, which outranks staleness.
    let mut passing = file.clone();
    passing["variant"] = serde_json::json!("recommended");
    passing["actions"] = serde_json::json!([]);
    std::fs::write(corpus.join("passing.json"), passing.to_string()).unwrap();
    let o = gate(&corpus);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("REGRESSION"), "{}", stdout(&o));
    // Nothing checked at all.
    let o = backup_check(&[
        "check",
        "--no-model",
        "--no-sim",
        "--no-corpus",
        "--no-progress",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    assert!(stdout(&o).contains("NOTHING CHECKED"), "{}", stdout(&o));
    // Each skipped stage says so; none claims to have checked zero things.
    for stage in ["corpus: skipped", "model: skipped", "sim: skipped"] {
        assert!(stdout(&o).contains(stage), "{}", stdout(&o));
    }
    assert!(!stdout(&o).contains("0 replay file(s)"), "{}", stdout(&o));
}

/// Issue 12, item 2: every output destination is checked before the run (exit 2 at once, no
/// file named `-`), and a replay file that cannot be written at the end loses no finding: the
/// summary and the failure are printed, with a "not saved" line.
#[test]
fn unusable_outputs_are_refused_before_the_run_and_a_failed_save_loses_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let under_file = file.join("out");
    let o = backup_check(&[
        "sim",
        "--variant",
        "b9",
        "--seeds",
        "0..400",
        "--out",
        under_file.to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--out") && !stderr(&o).contains("seeds of"),
        "refused before the run: {}",
        stderr(&o)
    );
    // --json naming a directory: refused at once, no PASS printed.
    let o = backup_check(&[
        "check",
        "--no-model",
        "--no-corpus",
        "--seeds",
        "0..2",
        "--json",
        dir.path().to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(!stdout(&o).contains("PASS"), "{}", stdout(&o));
    // --json -: refused, and no file named `-`.
    let o = Command::new(env!("CARGO_BIN_EXE_backup-check"))
        .args(["sim", "--seeds", "0..1", "--json", "-", "--no-progress"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!dir.path().join("-").exists());
    // The replay file's name is taken by a directory: the save fails at the end, the
    // failure is still reported (exit 1) with its repro line.
    let out = dir.path().join("out");
    let args = |out: &Path| {
        vec![
            "sim".to_string(),
            "--variant".into(),
            "pg91".into(),
            "--seeds".into(),
            "0..1".into(),
            "--no-expected".into(),
            "--out".into(),
            out.to_str().unwrap().into(),
            "--no-progress".into(),
        ]
    };
    let run = |out: &Path| {
        let a = args(out);
        backup_check(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let first = run(&out);
    assert_eq!(first.status.code(), Some(1), "{}", stdout(&first));
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
    }
    let second = run(&out);
    assert_eq!(second.status.code(), Some(1), "{}", stdout(&second));
    assert!(
        stdout(&second).contains("not saved: "),
        "{}",
        stdout(&second)
    );
    assert!(stdout(&second).contains("repro: "), "{}", stdout(&second));
    assert!(
        stdout(&second).contains("seeds of 0..1"),
        "{}",
        stdout(&second)
    );
}

/// Issue 12, item 6: a search stopped early proves nothing: no `always` property "holds" and
/// no case is blamed on the bounds; fractional timeouts are accepted.
#[test]
fn an_incomplete_model_search_claims_no_property_holds() {
    for timeout in ["0", "0.001"] {
        let o = backup_check(&["model", "--profile", "concurrency", "--timeout", timeout]);
        let out = stdout(&o);
        assert!(out.contains("INCOMPLETE"), "{out}");
        assert!(!out.contains(" holds\n"), "{out}");
        assert!(!out.contains("the bounds do not test"), "{out}");
        assert!(out.contains("no violation found in"), "{out}");
        assert_ne!(o.status.code(), Some(0), "{out}");
    }
}

/// A profile whose bounds the flags changed is not described by its own purpose any more
/// (concurrency's "no faults" with `--faults 1`): the report says where the bounds came from.
#[test]
fn a_profile_changed_by_bound_flags_is_not_described_as_the_original() {
    let o = backup_check(&[
        "model",
        "--profile",
        "concurrency",
        "--faults",
        "1",
        "--timeout",
        "0",
    ]);
    let out = stdout(&o);
    assert!(
        out.contains("== profile custom: the concurrency profile changed by bound flags"),
        "{out}"
    );
    assert!(!out.contains("no faults"), "{out}");
    let unchanged = backup_check(&["model", "--profile", "concurrency", "--timeout", "0"]);
    assert!(
        stdout(&unchanged).contains(
            "== profile concurrency: two SQL sessions and a WAL sender racing, no faults"
        ),
        "{}",
        stdout(&unchanged)
    );
}

/// The thorough profiles are named like the default ones: `model --profile` runs one with
/// its own bounds, and a name `check --profile` does not know is refused with them listed.
#[test]
fn thorough_profiles_run_by_name() {
    let o = backup_check(&["model", "--profile", "concurrency-fault", "--timeout", "0"]);
    let out = stdout(&o);
    assert!(
        out.contains(
            "== profile concurrency-fault: two SQL sessions and a WAL sender racing, with a fault"
        ),
        "{out}"
    );
    assert!(out.contains("2 SQL sessions, 1 WAL senders"), "{out}");
    assert!(out.contains(" 0 crashes, 1 faults "), "{out}");
    let unknown = backup_check(&["check", "--profile", "no-such-profile", "--no-sim"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        err.contains("concurrency-crash") && err.contains("concurrency-fault"),
        "{err}"
    );
}

/// Runs backup-check with `args`, sends SIGINT after `after`, and returns its output.
fn interrupted_run(args: &[&str], after: std::time::Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_backup-check"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap()
}

/// Issue 12, item 7: Ctrl-C stops `model` and `check`'s model stage promptly; the summary
/// says what was covered and the status is 130 (nothing was found to make it 1).
#[test]
fn ctrl_c_stops_the_model_and_the_gate_with_a_summary_and_status_130() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = interrupted_run(
        &["model", "--out", out.to_str().unwrap()],
        std::time::Duration::from_millis(1500),
    );
    assert_eq!(o.status.code(), Some(130), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("INTERRUPTED"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("no violation found in"),
        "{}",
        stdout(&o)
    );
    let o = interrupted_run(
        &["check", "--no-progress", "--out", out.to_str().unwrap()],
        std::time::Duration::from_millis(1500),
    );
    assert_eq!(o.status.code(), Some(130), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("verdict: INTERRUPTED"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("unique states"), "{}", stdout(&o));
}

/// Issue 12, item 4: 9.1's leaked counter unit (B3, a known finding) leaves the counter above 0
/// for good, so the liveness phase cannot settle; that is the known finding's consequence,
/// reported as such, not a liveness failure of its own. Sessions that never finish are still
/// a liveness failure (`Unsettled::left_by` explains them by nothing).
#[test]
fn a_run_left_unsettled_by_a_known_finding_is_not_a_liveness_failure() {
    let dir = tempfile::tempdir().unwrap();
    let o = backup_check(&[
        "sim",
        "--variant",
        "pg91",
        "--seeds",
        "0..200",
        "--swarm",
        "--no-progress",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert!(
        out.contains("runs left unsettled by a known finding"),
        "{out}"
    );
    assert!(!out.contains("liveness failure \""), "{out}");
    assert!(out.contains("no failure"), "{out}");
    use backup_coordinator::invariants::Unsettled;
    assert!(Unsettled::SessionsBusy.left_by().is_empty());
    assert!(Unsettled::BackupsLive.left_by().is_empty());
}

/// Issue 12, item 10: a replay file is read strictly (an unknown field anywhere, or an
/// expected property that names none, is exit 2), backup modes are written in one spelling
/// (`non-exclusive`, the older `NonExclusive` still read), and an error stays one bounded line.
#[test]
fn replay_files_are_read_strictly_in_one_spelling_and_errors_stay_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let source = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../regressions/pg15-b10-model-clients-safety-session-state-matches-unit.json"
    );
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source).unwrap()).unwrap();
    let replay = |value: &serde_json::Value| {
        let path = dir.path().join("t.json");
        std::fs::write(&path, value.to_string()).unwrap();
        backup_check(&["replay", path.to_str().unwrap()])
    };
    type Change = fn(&mut serde_json::Value);
    let refused: [(&str, Change); 6] = [
        ("action", |v| v["actions"][1]["extra"] = 1.into()),
        ("command", |v| {
            v["actions"][0]["command"]["extra"] = 1.into()
        }),
        ("expect", |v| v["expect"]["extra"] = 1.into()),
        ("fault_kinds", |v| {
            v["config"]["fault_kinds"]["extra"] = 1.into()
        }),
        ("kebab property", |v| {
            v["expect"]["property"] = "session-state-matches-unit".into()
        }),
        ("long property", |v| {
            v["expect"]["property"] = format!("{}\nsecond line", "x".repeat(5000)).into()
        }),
    ];
    for (what, change) in refused {
        let mut v = file.clone();
        change(&mut v);
        let o = replay(&v);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err}");
        assert!(err.len() < 600, "{what}: {} bytes", err.len());
    }
    // The mode in its one spelling, and the older spelling, both replay.
    assert_eq!(file["actions"][0]["command"]["mode"], "non-exclusive");
    let mut old = file.clone();
    old["actions"][0]["command"]["mode"] = "NonExclusive".into();
    assert_eq!(replay(&old).status.code(), Some(0));
    assert_eq!(replay(&file).status.code(), Some(0));
}

/// Issue 12, item 11: small things a user notices.
#[test]
fn small_things_variants_threads_explore_and_timeouts() {
    let o = backup_check(&["variants"]);
    assert_eq!(stdout(&o).matches("(default)").count(), 1, "{}", stdout(&o));
    for args in [
        &["sim", "--threads", "100000"][..],
        &["model", "--explore", "10.0.0.1:3000"][..],
        &["model", "--timeout", "half"][..],
        // `--seeds` is a range A..B in every command, bench included.
        &["bench", "--seeds", "200"][..],
    ] {
        let o = backup_check(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{args:?}: {}", stderr(&o));
    }
}

/// Issue 12, item 9: every JSON report names its format and version, the tool's version, and
/// carries the verdict and exit status the command printed and returned; properties are
/// spelled by their names.
#[test]
fn every_json_report_carries_its_format_version_verdict_and_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let json = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let runs: Vec<(&str, Vec<String>, String)> = vec![
        (
            "check",
            [
                "check",
                "--no-model",
                "--seeds",
                "0..4",
                "--no-progress",
                "--out",
                out,
                "--json",
            ]
            .map(String::from)
            .to_vec(),
            json("check.json"),
        ),
        (
            "model",
            ["model", "--profile", "standby", "--out", out, "--json"]
                .map(String::from)
                .to_vec(),
            json("model.json"),
        ),
        (
            "sim",
            [
                "sim",
                "--variant",
                "pg91",
                "--no-expected",
                "--seeds",
                "0..4",
                "--no-progress",
                "--out",
                out,
                "--json",
            ]
            .map(String::from)
            .to_vec(),
            json("sim.json"),
        ),
    ];
    for (command, mut args, path) in runs {
        args.push(path.clone());
        let o = backup_check(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(report["format"], format!("backup-check-{command}"));
        assert_eq!(report["version"], 3);
        assert_eq!(report["tool_version"], env!("CARGO_PKG_VERSION"));
        assert!(report["verdict"].is_string(), "{command}: {report}");
        assert_eq!(
            report["exit_code"].as_i64(),
            o.status.code().map(i64::from),
            "{command}"
        );
        let text = report.to_string();
        assert!(!text.contains("\"units-released-once\""), "{command}");
    }
}

#[test]
fn the_text_trace_names_each_sessions_kind() {
    let o = backup_check(&[
        "replay",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../regressions/pg15-b10-model-clients-safety-session-state-matches-unit.json"
        ),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let line = text
        .lines()
        .find(|l| l.starts_with("sessions: "))
        .unwrap_or_else(|| panic!("no sessions line:\n{text}"));
    assert!(line.contains("(replication=database)"), "{line}");
}

/// Issue 12, item 13: the Explorer is for a reviewer. Before serving, `model --explore`
/// checks the bounds and links each violated property to its shortest counterexample; the
/// state it shows is the state in words (variant and bounds, start points as %X/%X, sessions
/// with their kinds and steps), not a Rust debug dump.
#[test]
fn the_explorer_links_shortest_counterexamples_and_shows_states_in_words() {
    use std::io::{BufRead, BufReader, Read, Write};
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_backup-check"))
        .args([
            "model",
            "--variant",
            "pg15+b10",
            "--profile",
            "clients",
            "--no-progress",
            "--explore",
            &addr,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let serving = line.starts_with("serving on");
        printed.push(line);
        if serving {
            break;
        }
    }
    let text = printed.join("\n");
    assert!(
        text.starts_with("Explorer for pg15+b10 (0 SQL sessions"),
        "{text}"
    );
    let link = printed
        .iter()
        .find(|l| l.contains("\"session state matches unit\" violated"))
        .unwrap_or_else(|| panic!("no link for the violated property:\n{text}"));
    assert!(
        link.contains("(12 steps)"),
        "the CLI's shortest length: {link}"
    );
    let path = link
        .split(&format!("http://{addr}/#/steps"))
        .nth(1)
        .expect("a link into the Explorer")
        .trim();
    assert_eq!(
        path.matches('/').count(),
        12 + 1,
        "init state and 12 steps: {path}"
    );
    // The states after the shortest counterexample's last-but-one step, as the UI asks.
    let parent = &path[..path.rfind('/').unwrap()];
    let body = {
        // The server binds on its own thread just after the line is printed.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut stream = loop {
            match std::net::TcpStream::connect(&addr) {
                Ok(stream) => break stream,
                Err(e) if std::time::Instant::now() > deadline => panic!("{addr}: {e}"),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        };
        write!(
            stream,
            "GET /.states{parent} HTTP/1.0\r\nHost: {addr}\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let json = body.split("\r\n\r\n").nth(1).expect("an HTTP body");
    let views: serde_json::Value = serde_json::from_str(json).expect("the Explorer's JSON");
    let state = views
        .as_array()
        .and_then(|v| v.iter().find_map(|s| s["state"].as_str()))
        .expect("a state")
        .to_string();
    assert!(state.starts_with("variant: pg15+b10"), "{state}");
    assert!(state.contains("S0 (replication=database): "), "{state}");
    assert!(state.contains("start point 0/2000028"), "{state}");
    assert!(!state.contains("Lsn("), "{state}");
    let svg = views[0]["svg"]
        .as_str()
        .expect("the path as the text trace");
    assert!(svg.contains("pg_backup_start(label=plain)"), "{svg}");
}

fn repo_file(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_malformed_or_contradictory_design_file_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let not_toml = write("not-toml.toml", "base = ");
    let unknown_rule = write(
        "unknown-rule.toml",
        "base = \"recommended\"\n[rules]\nfsync = true\n",
    );
    let bad_order = write(
        "bad-order.toml",
        "base = \"recommended\"\n[plan]\nstop = [\"stop.wait-archive\", \"stop.decrement\"]\n",
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["check", "--design", &not_toml], "not-toml.toml"),
        (
            vec!["model", "--design", &unknown_rule],
            "unknown field `fsync`",
        ),
        (vec!["sim", "--variant", &bad_order], "must come last"),
        (vec!["diff", "recommended", &bad_order], "must come last"),
        (
            vec!["check", "--design", "/nonexistent/design.toml"],
            "design.toml",
        ),
        (vec!["variants", "--show", &unknown_rule], "unknown field"),
    ];
    for (args, needle) in cases {
        let o = backup_check(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn variants_show_prints_a_design_file_that_check_accepts_once_changed() {
    let o = backup_check(&["variants", "--show", "pg15"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("base = \"pg15\""), "{text}");
    assert!(text.contains("stop = [\n    \"stop.decrement\""), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proposal.toml");
    std::fs::write(
        &path,
        text.replace("file_write = \"overwrite\"", "file_write = \"create-new\""),
    )
    .unwrap();
    let o = backup_check(&[
        "model",
        "--design",
        path.to_str().unwrap(),
        "--profile",
        "pages",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("pg15-copy"), "{}", stdout(&o));
    let o = backup_check(&["variants", "--steps"]);
    assert!(stdout(&o).contains("| `stop.decrement` |"));
}

#[test]
fn diff_reports_what_a_changed_design_breaks_with_a_counterexample_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("diff.json");
    let out = dir.path().join("failures");
    let broken = repo_file("designs/forcing-after-checkpoint.toml");
    let common = [
        "--profile",
        "pages",
        "--seeds",
        "0..40",
        "--no-progress",
        "--out",
        out.to_str().unwrap(),
    ];
    let mut args = vec!["diff", "recommended", &broken, "--format", "markdown"];
    args.extend(common);
    args.extend(["--json", json.to_str().unwrap()]);
    let o = backup_check(&args);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("### Violated in B (`forcing-after-checkpoint`), not in A"),
        "{text}"
    );
    assert!(
        text.contains("#### no torn page in a stopped backup (model pages, 14 steps)"),
        "{text}"
    );
    assert!(text.contains("```mermaid"), "{text}");
    assert!(
        text.contains("Where recommended first differs on this schedule: step 1 ("),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["exit_code"], 1, "{report}");
    assert_eq!(report["format"], "backup-check-diff", "{report}");
    // The other way round, B fixes what A breaks: exit 0.
    let mut args = vec!["diff", &broken, "recommended"];
    args.extend(common);
    let o = backup_check(&args);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("violated in forcing-after-checkpoint only"),
        "{}",
        stdout(&o)
    );
    // A reordering that breaks nothing at these bounds: exit 0, with the state counts.
    let harmless = repo_file("designs/end-record-before-decrement.toml");
    let mut args = vec!["diff", "recommended", &harmless];
    args.extend(common);
    let o = backup_check(&args);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("violates nothing that recommended does not"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_counterexample_of_a_design_file_replays_without_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let design = dir.path().join("late.toml");
    std::fs::copy(repo_file("designs/forcing-after-checkpoint.toml"), &design).unwrap();
    let out = dir.path().join("failures");
    let o = backup_check(&[
        "model",
        "--design",
        design.to_str().unwrap(),
        "--profile",
        "pages",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    std::fs::remove_file(&design).unwrap();
    let saved: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(!saved.is_empty(), "a replay file was saved");
    for file in saved {
        let o = backup_check(&["replay", file.to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}{}",
            file.display(),
            stdout(&o),
            stderr(&o)
        );
        assert!(
            stdout(&o).contains("forcing-after-checkpoint"),
            "{}",
            stdout(&o)
        );
    }
}

#[test]
fn a_model_liveness_counterexample_replays_as_the_same_liveness_failure() {
    // 9.1's leaked unit (B3) keeps the counter above 0 for good: the model's eventually
    // property fails at a dead end, and its replay, going past the safety findings on the
    // way, judges the same end by the same definition.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("failures");
    let o = backup_check(&[
        "model",
        "--variant",
        "pg91",
        "--profile",
        "standby",
        "--no-progress",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let file = out.join("pg91-model-standby-liveness-every-started-backup-ends.json");
    let o = backup_check(&["replay", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("the counter is 1 with no backup running"),
        "{text}"
    );
    assert!(
        text.contains("liveness \"every started backup ends\": reproduced"),
        "{text}"
    );
}

#[test]
fn replay_writes_a_trace_in_the_informal_trace_format_that_keeps_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved_sim_failure(dir.path());
    let o = backup_check(&["replay", "--format", "itf", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let document: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("ITF is JSON");
    let problems = backup_sim::itf::problems(&document);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(document["#meta"]["format"], "ITF");
    assert_eq!(
        document["vars"],
        serde_json::json!(backup_sim::itf::VARS),
        "every state variable is listed"
    );
    let states = document["states"].as_array().expect("states");
    let text = stdout(&backup_check(&["replay", file.to_str().unwrap()]));
    let steps = text
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count();
    assert_eq!(
        states.len(),
        steps + 1,
        "the initial state, then one per step"
    );
    for (index, state) in states.iter().enumerate() {
        assert_eq!(
            state["#meta"]["index"], index,
            "states are numbered in order"
        );
    }
    // Integers are ITF's big integers, and the format's rules catch what breaks them.
    assert_eq!(
        states[0]["next_backup"],
        serde_json::json!({ "#bigint": "0" })
    );
    let mut broken = document.clone();
    broken["states"][0]["next_backup"] = serde_json::json!(0);
    assert!(!backup_sim::itf::problems(&broken).is_empty());
    broken["states"][0]["next_backup"] = serde_json::Value::Null;
    assert!(!backup_sim::itf::problems(&broken).is_empty());
}

/// `sweep`: a change the gate catches is caught; a reviewed survivor passes; a reviewed entry
/// whose change is caught is stale and fails; a filter that selects nothing checks nothing.
#[test]
fn sweep_catches_one_change_designs_and_holds_survivors_to_the_reviewed_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let list = |entries: &[(&str, &str)]| {
        let file = path(&format!("equivalent-{}.toml", entries.len()));
        let mut text = String::new();
        for (change, why) in entries {
            text.push_str(&format!(
                "[[equivalent]]\nbase = \"recommended\"\nchange = '{change}'\nwhy = \"{why}\"\n\n"
            ));
        }
        std::fs::write(&file, text).unwrap();
        file
    };
    let sweep = |only: &str, list: &str| {
        backup_check(&[
            "sweep",
            "--only",
            only,
            "--no-sim",
            "--no-progress",
            "--equivalent",
            list,
            "--out",
            &path("work"),
            "--json",
            &path("sweep.json"),
        ])
    };
    // A label checked for its length only: caught by the clients profile's hostile labels.
    let none = list(&[]);
    let o = sweep("rules.label_rule", &none);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(
            "caught     rules.label_rule = \"length-only\"  <- model clients: labels round-trip"
        ),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("sweep.json")).unwrap()).unwrap();
    assert_eq!(report["format"], "backup-check-sweep");
    assert_eq!(report["caught"], 1);
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["changes"][0]["outcome"], "caught");
    // The same change listed as equivalent: the list is stale.
    let stale = list(&[("rules.label_rule = \"length-only\"", "wrongly reviewed")]);
    let o = sweep("rules.label_rule", &stale);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("STALE      rules.label_rule"),
        "{}",
        stdout(&o)
    );
    // A survivor the list explains passes; unexplained, it fails.
    let reviewed = list(&[(
        "rules.label_sync = \"none\"",
        "the design returns labels; it writes no label file",
    )]);
    let o = sweep("rules.label_sync = \"none\"", &reviewed);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("equivalent rules.label_sync"),
        "{}",
        stdout(&o)
    );
    let o = sweep("rules.label_sync = \"none\"", &none);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("SURVIVED   rules.label_sync"),
        "{}",
        stdout(&o)
    );
    // Nothing selected: nothing checked.
    let o = sweep("no such change", &none);
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
}

/// A stage that cannot run is that change's outcome, not the end of the sweep: every other
/// change is still checked and reported, and the status says the sweep is incomplete.
#[test]
fn a_sweep_stage_that_cannot_run_loses_no_other_result() {
    use backup_sim::sweep::{run_sweep, EquivalentDesigns, Outcome, SweepOptions};
    let dir = tempfile::tempdir().unwrap();
    let options = SweepOptions {
        base: backup_coordinator::Variant::of(backup_coordinator::Design::Recommended),
        // Two changes: one the reader refuses, one that needs a stage.
        only: Some("plan.start drop start.".to_string()),
        seeds: "0..10".parse().unwrap(),
        no_sim: true,
        equivalent: EquivalentDesigns::default(),
        work_dir: dir.path().to_path_buf(),
        exe: dir.path().join("no-such-backup-check"),
        progress: false,
    };
    let report = run_sweep(&options, &std::sync::atomic::AtomicBool::new(false)).unwrap();
    assert!(report.changes.len() >= 5, "{:?}", report.changes);
    assert!(report.refused >= 1);
    assert_eq!(report.errors, report.changes.len() - report.refused);
    assert!(report
        .changes
        .iter()
        .all(|c| matches!(c.outcome, Outcome::Refused { .. } | Outcome::Error { .. })));
    assert_eq!(report.exit_code, 2);
    assert!(report
        .render_text()
        .contains("NOT CHECKED plan.start drop start.increment"));
}
