//! The JSON reports answer to their published schema, `docs/schema/reports.schema.json`:
//! real output of `check`, `model`, `sim` (`--json` and `--jsonl`) and `replay --format
//! json`, and every replay file of the corpus, is validated against it, and the schema is
//! strict enough to refuse a report with a field it does not describe.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn schema() -> Value {
    let path = repo().join("docs/schema/reports.schema.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("the schema file"))
        .expect("the schema is JSON")
}

/// The errors of `instance` against the schema's definition `def` (and against the root,
/// which must pick it out among the others).
fn errors(def: &str, instance: &Value) -> Vec<String> {
    let root = schema();
    let mut one = root.clone();
    one.as_object_mut()
        .expect("an object")
        .remove("oneOf")
        .expect("the root chooses among the reports");
    one["$ref"] = json!(format!("#/$defs/{def}"));
    let mut out: Vec<String> = jsonschema::validator_for(&one)
        .expect("the schema compiles")
        .iter_errors(instance)
        .map(|e| format!("{def}: {e} at {}", e.instance_path()))
        .collect();
    if out.is_empty() && !jsonschema::is_valid(&root, instance) {
        out.push(format!(
            "{def}: valid alone but not against the root's oneOf"
        ));
    }
    out
}

fn assert_valid(def: &str, what: &str, instance: &Value) {
    let errors = errors(def, instance);
    assert!(
        errors.is_empty(),
        "{what} does not answer to the schema:\n{}",
        errors.join("\n")
    );
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_backup-check"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("backup-check runs")
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the report was written"))
        .expect("the report is JSON")
}

#[test]
fn check_model_and_sim_reports_answer_to_the_schema_passing_and_failing() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let out = p("failures");
    // A passing gate with every stage, a failing one, a model search with a counterexample,
    // a passing one, and a simulator campaign with failures (JSON and JSON lines).
    let runs: Vec<(&str, Vec<String>, String, i32)> = vec![
        (
            "check",
            vec![
                "check",
                "--profile",
                "standby",
                "--seeds",
                "0..3",
                "--no-progress",
            ],
            p("check-pass.json"),
            0,
        ),
        (
            "check",
            vec![
                "check",
                "--variant",
                "pg15+b10",
                "--profile",
                "clients",
                "--seeds",
                "0..3",
                "--no-progress",
                "--no-corpus",
            ],
            p("check-fail.json"),
            1,
        ),
        (
            "model",
            vec![
                "model",
                "--variant",
                "pg15+b10",
                "--profile",
                "clients",
                "--no-progress",
            ],
            p("model-fail.json"),
            1,
        ),
        (
            "model",
            vec!["model", "--profile", "standby", "--no-progress"],
            p("model-pass.json"),
            0,
        ),
        (
            "model",
            vec![
                "model",
                "--variant",
                "pg17",
                "--profile",
                "incremental-merge",
                "--no-progress",
            ],
            p("model-incremental.json"),
            1,
        ),
        (
            "sim-incremental",
            vec![
                "sim",
                "--incremental",
                "--variant",
                "pg17",
                "--no-expected",
                "--seeds",
                "0..300",
            ],
            p("sim-incremental.json"),
            1,
        ),
        (
            "sim",
            vec![
                "sim",
                "--variant",
                "pg17",
                "--seeds",
                "0..40",
                "--steps",
                "500",
                "--no-progress",
            ],
            p("sim-with-incremental.json"),
            0,
        ),
        (
            "sim",
            vec![
                "sim",
                "--variant",
                "pg91",
                "--no-expected",
                "--seeds",
                "0..3",
                "--no-progress",
                "--jsonl",
                &p("sim.jsonl"),
            ],
            p("sim-fail.json"),
            1,
        ),
    ]
    .into_iter()
    .map(|(def, args, json, code)| {
        let mut args: Vec<String> = args.into_iter().map(String::from).collect();
        args.extend([
            "--out".to_string(),
            out.clone(),
            "--json".to_string(),
            json.clone(),
        ]);
        (def, args, json, code)
    })
    .collect();
    for (def, args, path, code) in &runs {
        let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            o.status.code(),
            Some(*code),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert_valid(def, &format!("{args:?}"), &read(Path::new(path)));
    }
    // Two designs compared (a design file against the recommended design).
    let design = repo().join("designs/forcing-after-checkpoint.toml");
    let diff_json = p("diff.json");
    let o = run(&[
        "diff",
        "recommended",
        design.to_str().unwrap(),
        "--profile",
        "pages",
        "--seeds",
        "0..10",
        "--no-progress",
        "--out",
        &p("diff-failures"),
        "--json",
        &diff_json,
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_valid("diff", "diff --json", &read(Path::new(&diff_json)));
    // A sweep: one change caught, one refused by the design-file reader.
    for (only, code) in [
        ("rules.label_rule", 0),
        ("plan.start drop start.unique-check", 4),
    ] {
        let sweep_json = p("sweep.json");
        let o = run(&[
            "sweep",
            "--only",
            only,
            "--no-sim",
            "--no-progress",
            "--out",
            &p("sweep"),
            "--json",
            &sweep_json,
        ]);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert_valid("sweep", "sweep --json", &read(Path::new(&sweep_json)));
    }
    // A design with incremental backups runs them after the coordinator's campaign.
    assert_eq!(
        read(Path::new(&p("sim-with-incremental.json")))["incremental"]["seeds_run"],
        json!(40)
    );
    let lines = std::fs::read_to_string(p("sim.jsonl")).unwrap();
    let mut kinds = Vec::new();
    for line in lines.lines() {
        let value: Value = serde_json::from_str(line).expect("each line is JSON");
        let def = match value["type"].as_str() {
            Some("failure") => "sim-jsonl-failure",
            Some("summary") => "sim-jsonl-summary",
            other => panic!("a JSON line of type {other:?}"),
        };
        kinds.push(def);
        assert_valid(def, "a --jsonl line", &value);
    }
    assert!(kinds.contains(&"sim-jsonl-failure") && kinds.last() == Some(&"sim-jsonl-summary"));
    // The replay files the runs saved, and their replays.
    let saved: Vec<PathBuf> = std::fs::read_dir(&out)
        .expect("failures were saved")
        .map(|e| e.unwrap().path())
        .collect();
    assert!(saved.len() >= 3, "{saved:?}");
    for file in saved {
        assert_valid("replay-file", &file.display().to_string(), &read(&file));
    }
}

#[test]
fn every_corpus_file_and_its_replay_answer_to_the_schema() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("regressions"))
        .expect("the corpus")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let what = file.display().to_string();
        assert_valid("replay-file", &what, &read(&file));
        let o = run(&["replay", &what, "--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{what}");
        let report: Value = serde_json::from_slice(&o.stdout).expect("replay prints JSON");
        assert_valid("replay", &what, &report);
    }
}

#[test]
fn the_schema_refuses_what_it_does_not_describe() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.json");
    let o = run(&[
        "sim",
        "--seeds",
        "0..2",
        "--steps",
        "50",
        "--no-progress",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let good = read(&path);
    assert_valid("sim", "a passing campaign", &good);
    type Mutation = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        ("an unknown field", Box::new(|v| v["surprise"] = json!(1))),
        ("another version", Box::new(|v| v["version"] = json!(2))),
        (
            "an unlabelled array",
            Box::new(|v| v["coverage"]["actions"] = json!([1, 2])),
        ),
        (
            "bounds in words only",
            Box::new(|v| v["bounds"] = json!("8 SQL sessions")),
        ),
        (
            "an exit status not in the table",
            Box::new(|v| v["exit_code"] = json!(7)),
        ),
        (
            "a missing verdict",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("verdict");
            }),
        ),
    ];
    for (what, mutate) in mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        assert!(!errors("sim", &bad).is_empty(), "the schema accepts {what}");
    }
}
