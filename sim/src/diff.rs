//! `backup-check diff A B`: two designs through the same checks, compared for a review. Owns
//! the comparison: both designs through the gate's model profiles at the same bounds and the
//! simulator over the same seeds (no corpus, no known findings: every finding counts), then,
//! side by side, the state counts, each property's verdict in each design, the properties
//! violated in one and not the other with the shortest counterexample of each, and where the
//! other design's run of that same schedule first differs (the step and the event). Rendered
//! as text, as a Markdown review comment (tables, Mermaid diagrams), or as JSON.

use crate::expected::ExpectedFindings;
use crate::gate::{run_gate, thousands, GateError, GateOptions, GateReport};
use backup_coordinator::trace::Trace;
use backup_coordinator::{Cluster, Variant};
use backup_model::incremental::IncrementalVerdict;
use backup_model::report::Verdict;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

/// One stage's account of one property in one design.
#[derive(Clone, Debug, Serialize)]
pub struct StageVerdict {
    /// The stage: `model <profile>`, `sim`, `sim incremental`.
    pub stage: String,
    /// `holds`, `violated`, `reached`, `not-reached`, `no-violation-found`, `not-judged`.
    pub verdict: &'static str,
    /// For a violation: the counterexample's length in actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    /// For a simulator violation: the seeds that met it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeds: Option<u64>,
}

/// One property, in both designs.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyRow {
    /// The property.
    pub property: String,
    /// Its verdicts in A, per stage.
    pub a: Vec<StageVerdict>,
    /// Its verdicts in B, per stage.
    pub b: Vec<StageVerdict>,
}

impl PropertyRow {
    fn violated(side: &[StageVerdict]) -> bool {
        side.iter().any(|v| v.verdict == "violated")
    }

    /// The verdict of one side, in a few words.
    pub fn summary(side: &[StageVerdict]) -> String {
        let violated: Vec<String> = side
            .iter()
            .filter(|v| v.verdict == "violated")
            .map(|v| match (v.length, v.seeds) {
                (Some(n), Some(seeds)) => format!("{} ({n} steps, {seeds} seeds)", v.stage),
                (Some(n), None) => format!("{} ({n} steps)", v.stage),
                _ => v.stage.clone(),
            })
            .collect();
        if !violated.is_empty() {
            return format!("VIOLATED: {}", violated.join("; "));
        }
        let not_reached: Vec<&str> = side
            .iter()
            .filter(|v| v.verdict == "not-reached" || v.verdict == "not-judged")
            .map(|v| v.stage.as_str())
            .collect();
        if !not_reached.is_empty() {
            return format!("not reached in {}", not_reached.join(", "));
        }
        if side.iter().any(|v| v.verdict == "reached") {
            return "reached".to_string();
        }
        if side.is_empty() {
            return "n/a".to_string();
        }
        "holds".to_string()
    }
}

/// A model profile's state counts in both designs.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileRow {
    /// The profile.
    pub profile: String,
    /// Unique states in A (`None`: not run for A).
    pub states_a: Option<usize>,
    /// Unique states in B.
    pub states_b: Option<usize>,
}

/// Where the other design's run of a schedule first differs.
#[derive(Clone, Debug, Serialize)]
pub struct Divergence {
    /// The 1-based step.
    pub step: usize,
    /// The action.
    pub action: String,
    /// What the design that failed did there.
    pub failing: String,
    /// What the other did (or that the action is not enabled there).
    pub other: String,
}

/// A property violated in one design and not in the other.
#[derive(Clone, Debug, Serialize)]
pub struct OneSided {
    /// The property.
    pub property: String,
    /// The design that violates it.
    pub design: String,
    /// The stage whose counterexample is the shortest.
    pub stage: String,
    /// Its length in actions.
    pub length: usize,
    /// The counterexample as numbered lines.
    pub counterexample: String,
    /// The counterexample as a Mermaid sequence diagram (coordinator counterexamples).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mermaid: Option<String>,
    /// Where the other design's run of the same schedule first differs (`None` for an
    /// incremental counterexample, or where the other design takes every step alike).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub divergence: Option<Divergence>,
    /// The other design took every step alike (and its properties judge the end otherwise).
    pub same_in_other: bool,
}

/// The comparison.
#[derive(Clone, Debug, Serialize)]
pub struct DiffReport {
    /// A's name.
    pub a: String,
    /// A, in a line.
    pub a_summary: String,
    /// B's name.
    pub b: String,
    /// B, in a line.
    pub b_summary: String,
    /// State counts per model profile.
    pub profiles: Vec<ProfileRow>,
    /// Simulator steps run for A and B.
    pub sim_steps: Option<(u64, u64)>,
    /// The seeds, as given.
    pub seeds: Option<String>,
    /// Every property's verdicts.
    pub properties: Vec<PropertyRow>,
    /// Violated in B, not in A: what the change breaks.
    pub only_in_b: Vec<OneSided>,
    /// Violated in A, not in B: what the change fixes.
    pub only_in_a: Vec<OneSided>,
    /// The gate's verdict for each (`pass`, `safety`, ...).
    pub verdicts: (String, String),
    /// `no-new-violation`, `new-violation`, `interrupted` or `nothing-checked`.
    pub verdict: &'static str,
    /// 0: B violates nothing A does not; 1: it does; 130: interrupted; 4: nothing checked.
    pub exit_code: u8,
}

/// Runs both designs with `template`'s stages (its variant is replaced) and compares them.
pub fn run_diff(
    a: Variant,
    b: Variant,
    template: &GateOptions,
    stop: &'static AtomicBool,
) -> Result<DiffReport, GateError> {
    let options = |variant: Variant| GateOptions {
        variant,
        corpus: None,
        expected: ExpectedFindings::default(),
        out: template.out.join(variant.to_string().replace('+', "-")),
        sim: template.sim.clone().map(|mut sim| {
            sim.spec.variant = variant;
            sim.out = Some(template.out.join(variant.to_string().replace('+', "-")));
            sim
        }),
        ..template.clone()
    };
    let report_a = run_gate(&options(a), stop)?;
    let report_b = run_gate(&options(b), stop)?;
    Ok(compare(a, b, &report_a, &report_b))
}

/// Every property's verdict per stage, and the counterexamples, of one gate run.
struct Side {
    verdicts: BTreeMap<String, Vec<StageVerdict>>,
    shortest: BTreeMap<String, Counterexample>,
    states: BTreeMap<String, usize>,
}

#[derive(Clone)]
enum Counterexample {
    Core {
        stage: String,
        trace: Box<Trace>,
    },
    Incremental {
        stage: String,
        length: usize,
        text: String,
    },
}

impl Counterexample {
    fn length(&self) -> usize {
        match self {
            Counterexample::Core { trace, .. } => trace.steps.len(),
            Counterexample::Incremental { length, .. } => *length,
        }
    }
}

/// A model verdict as a word, its counterexample's length, and the counterexample.
fn model_outcome(verdict: &Verdict, stage: &str) -> (&'static str, Option<Counterexample>) {
    match verdict {
        Verdict::Holds => ("holds", None),
        Verdict::NoViolationFound => ("no-violation-found", None),
        Verdict::Violated { trace, .. } => (
            "violated",
            Some(Counterexample::Core {
                stage: stage.to_string(),
                trace: trace.clone(),
            }),
        ),
        Verdict::Reached => ("reached", None),
        Verdict::NotReached => ("not-reached", None),
        Verdict::NotReachedYet | Verdict::NotJudged => ("not-judged", None),
    }
}

/// The same for an incremental profile's verdict.
fn incremental_outcome(
    verdict: &IncrementalVerdict,
    stage: &str,
) -> (&'static str, Option<Counterexample>) {
    match verdict {
        IncrementalVerdict::Holds => ("holds", None),
        IncrementalVerdict::NoViolationFound => ("no-violation-found", None),
        IncrementalVerdict::Violated { length, trace } => (
            "violated",
            Some(Counterexample::Incremental {
                stage: stage.to_string(),
                length: *length,
                text: trace.render_text(),
            }),
        ),
        IncrementalVerdict::Reached => ("reached", None),
        IncrementalVerdict::NotReached => ("not-reached", None),
        IncrementalVerdict::NotReachedYet | IncrementalVerdict::NotJudged => ("not-judged", None),
    }
}

fn side(report: &GateReport) -> Side {
    let mut verdicts: BTreeMap<String, Vec<StageVerdict>> = BTreeMap::new();
    let mut shortest: BTreeMap<String, Counterexample> = BTreeMap::new();
    let mut states = BTreeMap::new();
    let mut outcomes: Vec<(String, &str, &'static str, Option<Counterexample>)> = Vec::new();
    for stage in &report.model {
        let name = format!("model {}", stage.profile);
        states.insert(stage.profile.to_string(), stage.report.unique_states);
        for outcome in &stage.report.properties {
            let (word, counterexample) = model_outcome(&outcome.verdict, &name);
            outcomes.push((name.clone(), outcome.name, word, counterexample));
        }
    }
    for stage in &report.incremental {
        let name = format!("model {}", stage.profile);
        states.insert(stage.profile.to_string(), stage.report.unique_states);
        for outcome in &stage.report.properties {
            let (word, counterexample) = incremental_outcome(&outcome.verdict, &name);
            outcomes.push((name.clone(), outcome.name, word, counterexample));
        }
    }
    let mut offer = |property: &str, candidate: Counterexample| {
        let better = shortest
            .get(property)
            .is_none_or(|c| candidate.length() < c.length());
        if better {
            shortest.insert(property.to_string(), candidate);
        }
    };
    for (stage, property, verdict, counterexample) in outcomes {
        let length = counterexample.as_ref().map(Counterexample::length);
        if let Some(counterexample) = counterexample {
            offer(property, counterexample);
        }
        verdicts
            .entry(property.to_string())
            .or_default()
            .push(StageVerdict {
                stage,
                verdict,
                length,
                seeds: None,
            });
    }
    if let Some(sim) = &report.sim {
        for group in &sim.failures {
            let length = group.trace.as_ref().map(|t| t.steps.len());
            if let Some(trace) = &group.trace {
                offer(
                    group.property,
                    Counterexample::Core {
                        stage: "sim".to_string(),
                        trace: Box::new(trace.clone()),
                    },
                );
            }
            verdicts
                .entry(group.property.to_string())
                .or_default()
                .push(StageVerdict {
                    stage: "sim".to_string(),
                    verdict: "violated",
                    length,
                    seeds: Some(group.seeds),
                });
        }
    }
    if let Some(sim) = &report.incremental_sim {
        for group in &sim.groups {
            offer(
                group.property,
                Counterexample::Incremental {
                    stage: "sim incremental".to_string(),
                    length: group.shrunk.steps.len(),
                    text: group.shrunk.render_text(),
                },
            );
            verdicts
                .entry(group.property.to_string())
                .or_default()
                .push(StageVerdict {
                    stage: "sim incremental".to_string(),
                    verdict: "violated",
                    length: Some(group.shrunk.steps.len()),
                    seeds: Some(group.seeds),
                });
        }
    }
    Side {
        verdicts,
        shortest,
        states,
    }
}

/// Where `other`'s run of `trace`'s actions first differs from `trace`: an action not enabled
/// there, or another event. `None` where every step is alike.
pub fn first_difference(trace: &Trace, other: Variant) -> Option<Divergence> {
    let mut cluster = match Cluster::new(other, trace.config) {
        Ok(cluster) => cluster,
        Err(error) => {
            return Some(Divergence {
                step: 0,
                action: "(initial state)".to_string(),
                failing: "starts".to_string(),
                other: format!("refuses the bounds: {error}"),
            })
        }
    };
    let names = cluster.rules().function_names();
    for step in &trace.steps {
        let action = step.action.named(names).to_string();
        match cluster.apply(step.action) {
            Err(_) => {
                return Some(Divergence {
                    step: step.number,
                    action,
                    failing: step.event.kind.named(names).to_string(),
                    other: "not enabled".to_string(),
                })
            }
            Ok(event) if event != step.event => {
                return Some(Divergence {
                    step: step.number,
                    action,
                    failing: step.event.kind.named(names).to_string(),
                    other: event.kind.named(names).to_string(),
                })
            }
            Ok(_) => {}
        }
    }
    None
}

fn one_sided(
    property: &str,
    design: Variant,
    other: Variant,
    counterexample: &Counterexample,
) -> OneSided {
    match counterexample {
        Counterexample::Core { stage, trace } => {
            let divergence = first_difference(trace, other);
            OneSided {
                property: property.to_string(),
                design: design.to_string(),
                stage: stage.clone(),
                length: trace.steps.len(),
                counterexample: trace.render_text(),
                mermaid: Some(trace.render_mermaid()),
                same_in_other: divergence.is_none(),
                divergence,
            }
        }
        Counterexample::Incremental {
            stage,
            length,
            text,
        } => OneSided {
            property: property.to_string(),
            design: design.to_string(),
            stage: stage.clone(),
            length: *length,
            counterexample: text.clone(),
            mermaid: None,
            divergence: None,
            same_in_other: false,
        },
    }
}

/// Compares two gate runs.
pub fn compare(a: Variant, b: Variant, report_a: &GateReport, report_b: &GateReport) -> DiffReport {
    let side_a = side(report_a);
    let side_b = side(report_b);
    let mut names: Vec<String> = side_a
        .verdicts
        .keys()
        .chain(side_b.verdicts.keys())
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    let properties: Vec<PropertyRow> = names
        .iter()
        .map(|name| PropertyRow {
            property: name.clone(),
            a: side_a.verdicts.get(name).cloned().unwrap_or_default(),
            b: side_b.verdicts.get(name).cloned().unwrap_or_default(),
        })
        .collect();
    let mut profiles: Vec<String> = side_a
        .states
        .keys()
        .chain(side_b.states.keys())
        .cloned()
        .collect();
    profiles.sort();
    profiles.dedup();
    let profiles = profiles
        .into_iter()
        .map(|profile| ProfileRow {
            states_a: side_a.states.get(&profile).copied(),
            states_b: side_b.states.get(&profile).copied(),
            profile,
        })
        .collect();
    let mut only_in_b = Vec::new();
    let mut only_in_a = Vec::new();
    for row in &properties {
        let (in_a, in_b) = (PropertyRow::violated(&row.a), PropertyRow::violated(&row.b));
        if in_b && !in_a {
            if let Some(c) = side_b.shortest.get(&row.property) {
                only_in_b.push(one_sided(&row.property, b, a, c));
            }
        }
        if in_a && !in_b {
            if let Some(c) = side_a.shortest.get(&row.property) {
                only_in_a.push(one_sided(&row.property, a, b, c));
            }
        }
    }
    let interrupted = [report_a, report_b]
        .iter()
        .any(|r| r.verdict == "interrupted");
    let nothing = [report_a, report_b]
        .iter()
        .any(|r| r.verdict == "nothing-checked");
    let (verdict, exit_code) = if !only_in_b.is_empty() {
        ("new-violation", 1)
    } else if interrupted {
        ("interrupted", 130)
    } else if nothing {
        ("nothing-checked", 4)
    } else {
        ("no-new-violation", 0)
    };
    DiffReport {
        a: a.to_string(),
        a_summary: a.summary(),
        b: b.to_string(),
        b_summary: b.summary(),
        profiles,
        sim_steps: report_a
            .sim
            .as_ref()
            .zip(report_b.sim.as_ref())
            .map(|(x, y)| (x.steps, y.steps)),
        seeds: report_a.sim.as_ref().map(|s| s.seeds.to_string()),
        properties,
        only_in_b,
        only_in_a,
        verdicts: (report_a.verdict.clone(), report_b.verdict.clone()),
        verdict,
        exit_code,
    }
}

fn count(n: Option<usize>) -> String {
    n.map_or_else(|| "-".to_string(), |n| thousands(n as u64))
}

impl DiffReport {
    fn verdict_line(&self) -> String {
        match self.exit_code {
            0 => format!(
                "{} violates nothing that {} does not{} (exit 0)",
                self.b,
                self.a,
                if self.only_in_a.is_empty() {
                    String::new()
                } else {
                    format!(", and fixes {}", self.only_in_a.len())
                }
            ),
            1 => format!(
                "{} violates {} propert{} that {} keeps (exit 1)",
                self.b,
                self.only_in_b.len(),
                if self.only_in_b.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                self.a
            ),
            130 => "interrupted: the comparison is incomplete (exit 130)".to_string(),
            _ => "nothing was checked (exit 4)".to_string(),
        }
    }

    /// The comparison as text.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "diff: A = {} ({})\n      B = {} ({})\n",
            self.a, self.a_summary, self.b, self.b_summary
        );
        out.push_str(&format!(
            "\n{:<24} {:>14} {:>14}\n",
            "model profile", "states A", "states B"
        ));
        for row in &self.profiles {
            out.push_str(&format!(
                "{:<24} {:>14} {:>14}\n",
                row.profile,
                count(row.states_a),
                count(row.states_b)
            ));
        }
        if let (Some((a, b)), Some(seeds)) = (self.sim_steps, &self.seeds) {
            out.push_str(&format!(
                "{:<24} {:>14} {:>14}\n",
                format!("sim steps, seeds {seeds}"),
                thousands(a),
                thousands(b)
            ));
        }
        out.push_str("\nproperty verdicts (A | B):\n");
        for row in &self.properties {
            let (a, b) = (PropertyRow::summary(&row.a), PropertyRow::summary(&row.b));
            let mark = if a != b { "*" } else { " " };
            out.push_str(&format!("{mark} {}: {a} | {b}\n", row.property));
        }
        for (title, list) in [
            (format!("violated in {} only", self.b), &self.only_in_b),
            (format!("violated in {} only", self.a), &self.only_in_a),
        ] {
            for finding in list {
                out.push_str(&format!(
                    "\n{title}: \"{}\" ({}, {} steps):\n{}",
                    finding.property, finding.stage, finding.length, finding.counterexample
                ));
                out.push_str(&divergence_text(finding, self.other_of(&finding.design)));
            }
        }
        out.push_str(&format!("\nverdict: {}\n", self.verdict_line()));
        out
    }

    fn other_of(&self, design: &str) -> &str {
        if design == self.a {
            &self.b
        } else {
            &self.a
        }
    }

    /// The comparison as a Markdown review comment.
    pub fn render_markdown(&self) -> String {
        let mut out = format!(
            "## `backup-check diff {} {}`\n\n| | design | what it is |\n|---|---|---|\n| A | `{}` | {} |\n| B | `{}` | {} |\n\n**Verdict:** {}\n\n",
            self.a, self.b, self.a, self.a_summary, self.b, self.b_summary, self.verdict_line()
        );
        out.push_str(
            "### State counts\n\n| model profile | states A | states B |\n|---|---:|---:|\n",
        );
        for row in &self.profiles {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                row.profile,
                count(row.states_a),
                count(row.states_b)
            ));
        }
        if let (Some((a, b)), Some(seeds)) = (self.sim_steps, &self.seeds) {
            out.push_str(&format!(
                "| simulator steps (seeds {seeds}) | {} | {} |\n",
                thousands(a),
                thousands(b)
            ));
        }
        out.push_str("\n### Properties\n\n| property | A | B |\n|---|---|---|\n");
        for row in &self.properties {
            let (a, b) = (PropertyRow::summary(&row.a), PropertyRow::summary(&row.b));
            let (a, b) = if a != b {
                (format!("**{a}**"), format!("**{b}**"))
            } else {
                (a, b)
            };
            out.push_str(&format!("| {} | {a} | {b} |\n", row.property));
        }
        for (title, list) in [
            (
                format!("Violated in B (`{}`), not in A", self.b),
                &self.only_in_b,
            ),
            (
                format!("Violated in A (`{}`), not in B", self.a),
                &self.only_in_a,
            ),
        ] {
            if list.is_empty() {
                continue;
            }
            out.push_str(&format!("\n### {title}\n"));
            for finding in list {
                out.push_str(&format!(
                    "\n#### {} ({}, {} steps)\n\n```text\n{}```\n",
                    finding.property, finding.stage, finding.length, finding.counterexample
                ));
                if let Some(mermaid) = &finding.mermaid {
                    out.push_str(&format!("\n```mermaid\n{mermaid}```\n"));
                }
                let text = divergence_text(finding, self.other_of(&finding.design));
                if !text.is_empty() {
                    out.push_str(&format!("\n{}", text.trim_start()));
                }
            }
        }
        out
    }
}

fn divergence_text(finding: &OneSided, other: &str) -> String {
    match &finding.divergence {
        Some(d) if d.other == "not enabled" => format!(
            "  Where {other} first differs on this schedule: step {} ({}) is not enabled in {other}; {} did \"{}\".\n",
            d.step, d.action, finding.design, d.failing
        ),
        Some(d) => format!(
            "  Where {other} first differs on this schedule: step {} ({}): {other} did \"{}\"; {} did \"{}\".\n",
            d.step, d.action, d.other, finding.design, d.failing
        ),
        None if finding.same_in_other => format!(
            "  {other} takes every step of this schedule alike; only the properties judge its end differently.\n"
        ),
        None => String::new(),
    }
}
