//! Traces in the Informal Trace Format (ITF, Apalache ADR-015), so that a counterexample opens
//! in existing trace viewers with the fields each step changed highlighted. Owns the mapping
//! from a replayed trace to ITF: one state per step (the initial state first), the state
//! variables being the core's `Cluster` fields plus the action taken into the state and the
//! event it produced; values mapped to ITF's forms (integers as `{"#bigint": "..."}`, records
//! as objects, lists as arrays, an absent optional value as the variant `None`).

use backup_coordinator::config::ConfigError;
use backup_coordinator::trace::Trace;
use backup_coordinator::Cluster;
use serde_json::{json, Map, Value};

/// The state variables, in order.
pub const VARS: [&str; 15] = [
    "action",
    "event",
    "shared",
    "checkpointer",
    "control",
    "wal",
    "data_dir",
    "pages",
    "writers",
    "sessions",
    "backups",
    "next_backup",
    "used",
    "server",
    "ghost",
];

/// `trace` as an ITF document: its actions replayed from the initial state, each state
/// recorded.
pub fn render(trace: &Trace, source: &str) -> Result<Value, ConfigError> {
    let mut cluster = Cluster::new(trace.variant, trace.config)?;
    let names = cluster.rules().function_names();
    let mut states = vec![state(&cluster, 0, "init".to_string(), "init".to_string())];
    for step in &trace.steps {
        let event = match cluster.apply(step.action) {
            Ok(event) => event.kind.named(names).to_string(),
            // A trace is the core's own replay: every action is enabled where it stands.
            Err(error) => format!("refused: {error}"),
        };
        states.push(state(
            &cluster,
            step.number,
            step.action.named(names).to_string(),
            event,
        ));
    }
    let violations: Vec<String> = trace.violations.iter().map(|v| v.to_string()).collect();
    Ok(json!({
        "#meta": {
            "format": "ITF",
            "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
            "source": source,
            "description": format!(
                "backup-check counterexample: {} ({} steps); bounds: {}{}",
                trace.variant,
                trace.steps.len(),
                backup_coordinator::trace::describe_config(&trace.config),
                if violations.is_empty() {
                    String::new()
                } else {
                    format!("; violated: {}", violations.join("; "))
                }
            ),
        },
        "vars": VARS,
        "states": states,
    }))
}

fn state(cluster: &Cluster, index: usize, action: String, event: String) -> Value {
    let mut out = Map::new();
    out.insert("#meta".to_string(), json!({ "index": index }));
    out.insert("action".to_string(), Value::String(action));
    out.insert("event".to_string(), Value::String(event));
    let fields: [(&str, serde_json::Result<Value>); 13] = [
        ("shared", serde_json::to_value(cluster.shared)),
        ("checkpointer", serde_json::to_value(cluster.checkpointer)),
        ("control", serde_json::to_value(cluster.control)),
        ("wal", serde_json::to_value(&cluster.wal)),
        ("data_dir", serde_json::to_value(&cluster.data_dir)),
        ("pages", serde_json::to_value(&cluster.pages)),
        ("writers", serde_json::to_value(&cluster.writers)),
        ("sessions", serde_json::to_value(&cluster.sessions)),
        ("backups", serde_json::to_value(&cluster.backups)),
        ("next_backup", serde_json::to_value(cluster.next_backup)),
        ("used", serde_json::to_value(cluster.used)),
        ("server", serde_json::to_value(cluster.server)),
        ("ghost", serde_json::to_value(&cluster.ghost)),
    ];
    for (name, value) in fields {
        let value = value.unwrap_or_else(|e| json!({ "#unserializable": e.to_string() }));
        out.insert(name.to_string(), to_itf(value));
    }
    Value::Object(out)
}

/// A JSON value in ITF's forms.
pub fn to_itf(value: Value) -> Value {
    match value {
        Value::Null => json!({ "tag": "None", "value": { "#tup": [] } }),
        Value::Number(n) => json!({ "#bigint": n.to_string() }),
        Value::Array(items) => Value::Array(items.into_iter().map(to_itf).collect()),
        Value::Object(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (k, to_itf(v))).collect())
        }
        other => other,
    }
}

/// The ways `document` breaks ITF's rules (empty if none): the top level has `#meta`, `vars`
/// (strings) and `states` (objects holding exactly the variables, and `#meta`); every value
/// is a boolean, a string, a list, a record, or one of the `#`-forms (`#bigint` with decimal
/// digits, `#tup`, `#set`, `#map`, `#unserializable`); no JSON number or null appears.
pub fn problems(document: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(top) = document.as_object() else {
        return vec!["the document is not an object".to_string()];
    };
    if !top.get("#meta").is_some_and(Value::is_object) {
        out.push("no #meta object".to_string());
    }
    let vars: Vec<&str> = match top.get("vars").and_then(Value::as_array) {
        Some(vars) => vars.iter().filter_map(Value::as_str).collect(),
        None => {
            out.push("no vars list".to_string());
            Vec::new()
        }
    };
    let Some(states) = top.get("states").and_then(Value::as_array) else {
        out.push("no states list".to_string());
        return out;
    };
    for (index, state) in states.iter().enumerate() {
        let Some(fields) = state.as_object() else {
            out.push(format!("state {index} is not an object"));
            continue;
        };
        for var in &vars {
            if !fields.contains_key(*var) {
                out.push(format!("state {index} lacks {var}"));
            }
        }
        for (key, value) in fields {
            if key == "#meta" {
                continue;
            }
            if !vars.contains(&key.as_str()) {
                out.push(format!("state {index} has {key}, not a variable"));
            }
            check_value(value, &format!("state {index}.{key}"), &mut out);
        }
    }
    out
}

fn check_value(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Null => out.push(format!("{at}: null")),
        Value::Number(_) => out.push(format!("{at}: a bare JSON number")),
        Value::Bool(_) | Value::String(_) => {}
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_value(item, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(fields) => {
            if let Some(big) = fields.get("#bigint") {
                let digits = big.as_str().unwrap_or("");
                let body = digits.strip_prefix('-').unwrap_or(digits);
                if fields.len() != 1 || body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit())
                {
                    out.push(format!("{at}: malformed #bigint"));
                }
                return;
            }
            for form in ["#tup", "#set"] {
                if let Some(items) = fields.get(form) {
                    match items.as_array() {
                        Some(items) if fields.len() == 1 => {
                            for (i, item) in items.iter().enumerate() {
                                check_value(item, &format!("{at}{form}[{i}]"), out);
                            }
                        }
                        _ => out.push(format!("{at}: malformed {form}")),
                    }
                    return;
                }
            }
            if fields.contains_key("#map") || fields.contains_key("#unserializable") {
                return;
            }
            for (key, item) in fields {
                if key.starts_with('#') {
                    out.push(format!("{at}: unknown form {key}"));
                }
                check_value(item, &format!("{at}.{key}"), out);
            }
        }
    }
}
