//! Designs read from files, checked without recompiling: owns the design file's format
//! (TOML: a base variant, rule switches changed by name, plan lists reordered, dropped or
//! repeated), its validation, the registry that gives a loaded design a small id for the
//! hashed state ([`FileDesign`]), and the rendering of any design back into that format
//! (`backup-check variants --show`), so that a proposal starts from a copy.
//!
//! ```toml
//! name = "end-before-decrement"      # optional; default: the file's stem
//! base = "recommended"               # a built-in design or design+bug
//! summary = "the stop writes its end record before it gives back its unit"
//!
//! [rules]                            # any switch of the base, by name
//! file_write = "overwrite"
//!
//! [plan]                             # any list of the base's plan, by step names
//! stop = ["stop.end-record", "stop.decrement", "stop.switch", "stop.write-history",
//!         "stop.wait-archive", "base-backup.send-stop"]
//! ```
//!
//! A new kind of step still needs code (a [`crate::state::Pc`], its row in the step table and
//! its function); everything else about a design is here.

use crate::plan::{self, ListId, Plan, PlanError, StepList, MAX_STEPS};
use crate::variant::{Rules, Variant};
use serde::Deserialize;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use thiserror::Error;

/// A design loaded from a file, by its slot in the registry. Serialized as its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileDesign(u8);

/// A loaded design: its name, what it changes, and the rules and plan it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesignSpec {
    /// Its name (reports, expected findings, replay files).
    pub name: String,
    /// One line saying what it is.
    pub summary: String,
    /// The built-in variant it changes.
    pub base: Variant,
    /// Its rule switches.
    pub rules: Rules,
    /// Its plan.
    pub plan: Plan,
    /// The rule switches it changes, by name, with the base's value and its own.
    pub changed_rules: Vec<(String, String, String)>,
    /// The plan lists it changes, by key.
    pub changed_lists: Vec<&'static str>,
    /// The file's text, as read (kept with counterexamples so that they replay).
    pub text: String,
}

/// Most designs one run can load (a `diff` needs two).
pub const SLOTS: usize = 8;

static REGISTRY: [OnceLock<DesignSpec>; SLOTS] = [const { OnceLock::new() }; SLOTS];
static NEXT_SLOT: Mutex<usize> = Mutex::new(0);

impl FileDesign {
    /// The loaded design.
    #[inline]
    pub fn spec(self) -> &'static DesignSpec {
        REGISTRY[usize::from(self.0)]
            .get()
            .expect("a FileDesign exists only once its slot is filled")
    }

    /// The loaded design named `name`, if any.
    pub fn named(name: &str) -> Option<FileDesign> {
        (0..SLOTS)
            .filter_map(|slot| REGISTRY[slot].get().map(|spec| (slot, spec)))
            .find(|(_, spec)| spec.name == name)
            .map(|(slot, _)| FileDesign(slot as u8))
    }
}

impl serde::Serialize for FileDesign {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.spec().name)
    }
}

impl<'de> serde::Deserialize<'de> for FileDesign {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        FileDesign::named(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "design {name:?} comes from a design file: load it with --design FILE"
            ))
        })
    }
}

/// Why a design file could not be used.
#[derive(Debug, Error)]
pub enum DesignFileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not TOML of the design file's shape.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// What is wrong, one line.
        message: String,
    },
    /// The base is not a built-in variant.
    #[error("{path}: base: {message}")]
    Base {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A rule switch that does not exist or a value it cannot take.
    #[error("{path}: [rules]: {message}")]
    Rules {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A plan list naming a step that does not exist, or too long.
    #[error("{path}: plan.{list}: {message}")]
    PlanStep {
        /// The file.
        path: String,
        /// The list.
        list: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A plan the step functions cannot walk.
    #[error("{path}: {source}")]
    Plan {
        /// The file.
        path: String,
        /// Why.
        source: PlanError,
    },
    /// A name taken by a built-in variant or by another loaded design.
    #[error("{path}: name {name:?} is taken ({why}); choose another")]
    Name {
        /// The file.
        path: String,
        /// The name.
        name: String,
        /// By what.
        why: &'static str,
    },
    /// Nothing changed from the base.
    #[error("{path}: changes nothing in {base}; a design file must change a rule or the plan")]
    Unchanged {
        /// The file.
        path: String,
        /// The base.
        base: String,
    },
    /// Too many designs loaded in one run.
    #[error("at most {SLOTS} design files can be loaded in one run")]
    Full,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DesignText {
    name: Option<String>,
    base: String,
    summary: Option<String>,
    #[serde(default)]
    rules: toml::Table,
    #[serde(default)]
    plan: PlanText,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanText {
    start: Option<Vec<String>>,
    retry: Option<String>,
    base_backup: Option<Vec<String>>,
    stop_exclusive: Option<Vec<String>>,
    stop: Option<Vec<String>>,
}

/// Reads, validates and registers the design in `path`.
pub fn load(path: &Path) -> Result<Variant, DesignFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| DesignFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("design")
        .to_string();
    let spec = parse(&text, &shown, &stem)?;
    register(spec, &shown)
}

/// Parses and validates a design file's text (`shown` names it in errors; `stem` is the
/// default name).
pub fn parse(text: &str, shown: &str, stem: &str) -> Result<DesignSpec, DesignFileError> {
    let syntax = |e: toml::de::Error| DesignFileError::Syntax {
        path: shown.to_string(),
        message: one_line(&e.to_string()),
    };
    let file: DesignText = toml::from_str(text).map_err(syntax)?;
    let base: Variant = file
        .base
        .parse()
        .map_err(|e: crate::variant::UnknownVariant| DesignFileError::Base {
            path: shown.to_string(),
            message: e.to_string(),
        })?;
    let name = file.name.unwrap_or_else(|| stem.to_string());
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(DesignFileError::Syntax {
            path: shown.to_string(),
            message: format!(
                "name {name:?}: use lowercase letters, digits and '-' (it names reports and files)"
            ),
        });
    }
    if name.parse::<Variant>().is_ok() {
        return Err(DesignFileError::Name {
            path: shown.to_string(),
            name,
            why: "a built-in variant",
        });
    }
    let base_rules = base.rules();
    let rules_error = |message: String| DesignFileError::Rules {
        path: shown.to_string(),
        message,
    };
    let mut merged =
        toml::Table::try_from(base_rules).map_err(|e| rules_error(one_line(&e.to_string())))?;
    merge(&mut merged, &file.rules);
    for path in OPTIONAL_RULES {
        remove_if_false(&mut merged, path);
    }
    let rules: Rules = merged
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| rules_error(one_line(e.message())))?;
    let base_table = toml::Table::try_from(base_rules).unwrap_or_default();
    let changed_rules = changed_entries(&base_table, &merged, "");
    // The base's plan as the base's rules would build it (where the file changes a rule the
    // plan depends on, the plan follows: 9.1's lock for the check adds the set half), then
    // the file's lists.
    let mut plan = if base.file.is_none() {
        Plan::for_rules(&rules)
    } else {
        *base.plan()
    };
    let mut changed_lists = Vec::new();
    let lists = [
        (ListId::Start, &file.plan.start),
        (ListId::BaseBackup, &file.plan.base_backup),
        (ListId::StopExclusive, &file.plan.stop_exclusive),
        (ListId::Stop, &file.plan.stop),
    ];
    for (id, names) in lists {
        let Some(names) = names else { continue };
        let plan_error = |message: String| DesignFileError::PlanStep {
            path: shown.to_string(),
            list: id.key(),
            message,
        };
        let steps = names
            .iter()
            .map(|n| {
                plan::step_named(n).ok_or_else(|| {
                    plan_error(format!(
                        "no step is named {n:?} (known: {})",
                        plan::all_steps()
                            .map(|f| f.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let list = StepList::from_steps(&steps)
            .ok_or_else(|| plan_error(format!("at most {MAX_STEPS} steps")))?;
        if id == ListId::Start && file.plan.retry.is_none() {
            // The retry step keeps its name where the list moved it.
            if let Some(pc) = plan.start.get(usize::from(plan.retry)) {
                plan.retry = list.index_of(pc);
            }
        }
        *plan.list_mut(id) = list;
        changed_lists.push(id.key());
    }
    if let Some(retry) = &file.plan.retry {
        let pc = plan::step_named(retry).ok_or_else(|| DesignFileError::PlanStep {
            path: shown.to_string(),
            list: "retry",
            message: format!("no step is named {retry:?}"),
        })?;
        plan.retry = plan.start.index_of(pc);
        changed_lists.push("retry");
    }
    plan.validate(&rules)
        .map_err(|source| DesignFileError::Plan {
            path: shown.to_string(),
            source,
        })?;
    if changed_rules.is_empty() && plan == *base.plan() {
        return Err(DesignFileError::Unchanged {
            path: shown.to_string(),
            base: base.to_string(),
        });
    }
    let summary = file.summary.unwrap_or_else(|| {
        let mut parts: Vec<String> = changed_rules
            .iter()
            .map(|(key, _, value)| format!("{key} = {value}"))
            .collect();
        parts.extend(changed_lists.iter().map(|l| format!("plan.{l} changed")));
        format!("{base} with {}", parts.join(", "))
    });
    Ok(DesignSpec {
        name,
        summary,
        base,
        rules,
        plan,
        changed_rules,
        changed_lists,
        text: text.to_string(),
    })
}

/// Registers a parsed design for this run and returns its variant. Loading the same text
/// under the same name twice returns the first registration.
pub fn register(spec: DesignSpec, shown: &str) -> Result<Variant, DesignFileError> {
    let mut next = NEXT_SLOT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = FileDesign::named(&spec.name) {
        if existing.spec().text == spec.text {
            return Ok(Variant::file(existing));
        }
        return Err(DesignFileError::Name {
            path: shown.to_string(),
            name: spec.name,
            why: "another loaded design file",
        });
    }
    if *next >= SLOTS {
        return Err(DesignFileError::Full);
    }
    let slot = *next;
    REGISTRY[slot]
        .set(spec)
        .map_err(|_| DesignFileError::Full)?;
    *next += 1;
    Ok(Variant::file(FileDesign(slot as u8)))
}

/// A built-in variant name, or a path to a design file (anything with a `/`, or ending in
/// `.toml`): the variant either way.
pub fn variant_or_file(text: &str) -> Result<Variant, String> {
    if text.contains('/') || text.ends_with(".toml") || Path::new(text).is_file() {
        return load(Path::new(text)).map_err(|e| e.to_string());
    }
    text.parse::<Variant>()
        .or_else(|e| FileDesign::named(text).map(Variant::file).ok_or(e))
        .map_err(|e| e.to_string())
}

/// Renders `variant` as a design file: every rule switch and every plan list, so that a
/// proposal starts from a copy (`backup-check variants --show NAME > mine.toml`).
pub fn render(variant: Variant) -> String {
    let rules = variant.rules();
    let plan = variant.plan();
    let mut out = format!(
        "# {variant}: {}\n# A copy to edit: change `name`, keep `base`, and delete what you do not change.\nname = \"{}-copy\"\nbase = \"{}\"\n",
        variant.summary(),
        variant,
        variant.base_name(),
    );
    out.push_str("\n[rules]\n");
    let mut table = toml::Table::try_from(rules).unwrap_or_default();
    for path in OPTIONAL_RULES {
        if !has_entry(&table, path) {
            let (parent, key) = path
                .rsplit_once('.')
                .map_or((None, path), |(p, k)| (Some(p), k));
            let target = match parent {
                Some(parent) => table.get_mut(parent).and_then(toml::Value::as_table_mut),
                None => Some(&mut table),
            };
            if let Some(target) = target {
                target.insert(key.to_string(), toml::Value::Boolean(false));
            }
        }
    }
    let (plain, nested): (Vec<_>, Vec<_>) = table.iter().partition(|(_, v)| !v.is_table());
    for (key, value) in plain {
        out.push_str(&format!("{key} = {value}\n"));
    }
    for (key, value) in nested {
        out.push_str(&format!("\n[rules.{key}]\n"));
        if let Some(inner) = value.as_table() {
            let (plain, nested): (Vec<_>, Vec<_>) = inner.iter().partition(|(_, v)| !v.is_table());
            for (k, v) in plain {
                out.push_str(&format!("{k} = {v}\n"));
            }
            for (k, v) in nested {
                out.push_str(&format!("\n[rules.{key}.{k}]\n"));
                if let Some(leaf) = v.as_table() {
                    for (k2, v2) in leaf {
                        out.push_str(&format!("{k2} = {v2}\n"));
                    }
                }
            }
        }
    }
    out.push_str("\n[plan]\n");
    for id in ListId::ALL {
        let names = plan.list(id).names();
        if names.is_empty() {
            out.push_str(&format!("{} = []\n", id.key()));
            continue;
        }
        out.push_str(&format!("{} = [\n", id.key()));
        for name in names {
            out.push_str(&format!("    \"{name}\",\n"));
        }
        out.push_str("]\n");
        if id == ListId::Start {
            if let Some(pc) = plan.start.get(usize::from(plan.retry)) {
                out.push_str(&format!("retry = \"{}\"\n", plan::facts(pc).name));
            }
        }
    }
    out
}

/// The rule switches that may be absent (`incremental`: the design has no incremental
/// backups; `label_format.backup_from`: the label has no BACKUP FROM line). A file says so
/// with `false`, since TOML has no null.
const OPTIONAL_RULES: [&str; 2] = ["incremental", "label_format.backup_from"];

/// Removes the entry at the dotted `path` where it is `false`.
fn remove_if_false(table: &mut toml::Table, path: &str) {
    match path.split_once('.') {
        Some((head, rest)) => {
            if let Some(toml::Value::Table(inner)) = table.get_mut(head) {
                remove_if_false(inner, rest);
            }
        }
        None => {
            if table.get(path) == Some(&toml::Value::Boolean(false)) {
                table.remove(path);
            }
        }
    }
}

/// Whether the dotted `path` has an entry.
fn has_entry(table: &toml::Table, path: &str) -> bool {
    match path.split_once('.') {
        Some((head, rest)) => table
            .get(head)
            .and_then(toml::Value::as_table)
            .is_some_and(|inner| has_entry(inner, rest)),
        None => table.contains_key(path),
    }
}

/// Overwrites `into`'s entries with `from`'s, table by table.
fn merge(into: &mut toml::Table, from: &toml::Table) {
    for (key, value) in from {
        match (into.get_mut(key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => merge(inner, over),
            _ => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The entries of `after` that differ from `before`: (dotted key, before, after).
fn changed_entries(
    before: &toml::Table,
    after: &toml::Table,
    prefix: &str,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (key, value) in after {
        let dotted = format!("{prefix}{key}");
        match (before.get(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(a)) => {
                out.extend(changed_entries(b, a, &format!("{dotted}.")));
            }
            (Some(b), a) if b == a => {}
            (b, a) => out.push((
                dotted,
                b.map_or_else(|| "false".to_string(), ToString::to_string),
                a.to_string(),
            )),
        }
    }
    for (key, value) in before {
        if !after.contains_key(key) {
            out.push((
                format!("{prefix}{key}"),
                value.to_string(),
                "false".to_string(),
            ));
        }
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One design that differs from a base in exactly one thing ([`one_change_designs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneChange {
    /// What changed, as a stable key: `rules.PATH = VALUE`, `plan.LIST drop STEP`,
    /// `plan.LIST swap STEP / STEP` or `plan.retry = STEP`.
    pub change: String,
    /// The design's name in its file (`{prefix}-N`, N its place among all the changes).
    pub name: String,
    /// The design file's text: the base as given (a built-in's name, or a design file's own
    /// text) with the one change, named `name`.
    pub text: String,
}

/// Every design that differs from `base` in one thing: each rule switch set to each other
/// value that some built-in design or seeded bug gives it (a flag to its opposite), each step
/// of each plan list dropped, each two neighbouring steps swapped, and the start's retry step
/// moved to each other step of the start. Each is a design file's text, named `{prefix}-N`;
/// reading it may still refuse it (a plan the step functions cannot walk). Used by
/// `backup-check sweep` to measure what the checkers catch.
pub fn one_change_designs(base: Variant, prefix: &str) -> Vec<OneChange> {
    // Each change is written on the base as given (a built-in's name, or a design file's own
    // text), so that a rule change that a built-in plan follows rebuilds that plan, as it does
    // in a file a reviewer writes.
    let copy: toml::Table = match base.file {
        Some(file) => toml::from_str(&file.spec().text).unwrap_or_default(),
        None => {
            let mut table = toml::Table::new();
            table.insert("base".to_string(), toml::Value::String(base.to_string()));
            table
        }
    };
    let full: toml::Table = toml::from_str(&render(base)).unwrap_or_default();
    let rules = full
        .get("rules")
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();
    let mut changes: Vec<(String, toml::Table)> = Vec::new();
    let domains = rule_domains();
    for (path, value) in leaves(&rules, "") {
        let Some(values) = domains.get(&path) else {
            continue;
        };
        let current = value.to_string();
        for (text, other) in values.iter().filter(|(text, _)| **text != current) {
            let mut file = copy.clone();
            set_leaf(&mut file, &format!("rules.{path}"), other.clone());
            changes.push((format!("rules.{path} = {text}"), file));
        }
    }
    let plan = base.plan();
    let names = |pc: crate::state::Pc| plan::facts(pc).name;
    let with_list = |key: &str, steps: Vec<&str>| {
        let mut file = copy.clone();
        let steps = steps
            .into_iter()
            .map(|s| toml::Value::String(s.to_string()))
            .collect();
        set_leaf(&mut file, &format!("plan.{key}"), toml::Value::Array(steps));
        file
    };
    for id in ListId::ALL {
        let steps: Vec<&str> = plan.list(id).steps().iter().map(|&pc| names(pc)).collect();
        for (i, step) in steps.iter().enumerate() {
            let mut dropped = steps.clone();
            dropped.remove(i);
            let mut file = with_list(id.key(), dropped.clone());
            // Dropping the start's retry step sends a retry to the step that follows it.
            if id == ListId::Start && i == usize::from(plan.retry) {
                if let Some(next) = dropped.get(i) {
                    set_leaf(
                        &mut file,
                        "plan.retry",
                        toml::Value::String((*next).to_string()),
                    );
                }
            }
            changes.push((format!("plan.{} drop {step}", id.key()), file));
        }
        for i in 1..steps.len() {
            let mut swapped = steps.clone();
            swapped.swap(i - 1, i);
            changes.push((
                format!("plan.{} swap {} / {}", id.key(), steps[i - 1], steps[i]),
                with_list(id.key(), swapped),
            ));
        }
    }
    for (i, &pc) in plan.start.steps().iter().enumerate() {
        if i == usize::from(plan.retry) {
            continue;
        }
        let mut file = copy.clone();
        set_leaf(
            &mut file,
            "plan.retry",
            toml::Value::String(names(pc).to_string()),
        );
        changes.push((format!("plan.retry = {}", names(pc)), file));
    }
    changes
        .into_iter()
        .enumerate()
        .map(|(n, (change, mut file))| {
            let name = format!("{prefix}-{}", n + 1);
            file.insert("name".to_string(), toml::Value::String(name.clone()));
            file.insert(
                "summary".to_string(),
                toml::Value::String(format!("{base} with {change}")),
            );
            OneChange {
                text: toml::to_string(&file).unwrap_or_default(),
                change,
                name,
            }
        })
        .collect()
}

/// Per rule switch (a dotted path under `[rules]`), the values the built-in designs and the
/// seeded bugs give it, each by its TOML text; a flag has both of its values.
type RuleDomains =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, toml::Value>>;

fn rule_domains() -> RuleDomains {
    let mut domains = RuleDomains::new();
    for variant in Variant::all() {
        let copy: toml::Table = toml::from_str(&render(variant)).unwrap_or_default();
        let Some(rules) = copy.get("rules").and_then(toml::Value::as_table) else {
            continue;
        };
        for (path, value) in leaves(rules, "") {
            let optional = OPTIONAL_RULES.contains(&path.as_str());
            let values = domains.entry(path).or_default();
            let mut add = |v: toml::Value| {
                values.insert(v.to_string(), v);
            };
            if let toml::Value::Boolean(_) = value {
                // An optional switch's `false` says it is absent; it has no `true`.
                if !optional {
                    add(toml::Value::Boolean(true));
                }
                add(toml::Value::Boolean(false));
            } else {
                add(value);
            }
        }
    }
    domains
}

/// The leaves of a table (values that are not tables), by dotted path.
fn leaves(table: &toml::Table, prefix: &str) -> Vec<(String, toml::Value)> {
    let mut out = Vec::new();
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => out.extend(leaves(inner, &path)),
            leaf => out.push((path, leaf.clone())),
        }
    }
    out
}

/// Sets the leaf at the dotted `path`, making the tables on the way where they are missing.
fn set_leaf(table: &mut toml::Table, path: &str, value: toml::Value) {
    match path.split_once('.') {
        Some((head, rest)) => {
            let inner = table
                .entry(head.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !inner.is_table() {
                *inner = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = inner {
                set_leaf(inner, rest, value);
            }
        }
        None => {
            table.insert(path.to_string(), value);
        }
    }
}
