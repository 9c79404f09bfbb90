//! Traces: an action list replayed through the core, as numbered steps (who, which action,
//! what happened, with LSNs) plus the invariants violated at the end. Every engine's
//! counterexample (the model's shortest path, the simulator's shrunk schedule) becomes a
//! `Trace` the same way, so that a reviewer reads one format whatever found the bug.

use crate::action::{Action, ApplyError, Event};
use crate::config::{Config, ConfigError};
use crate::invariants::{check_all, Property, Violation};
use crate::state::Cluster;
use crate::variant::Variant;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use thiserror::Error;

/// One step of a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    /// 1-based step number.
    pub number: usize,
    /// The action taken.
    pub action: Action,
    /// What it did.
    pub event: Event,
    /// Properties that first became violated at this step.
    pub newly_violated: Vec<Property>,
}

/// A replayed action list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// The design.
    pub variant: Variant,
    /// The bounds and settings.
    pub config: Config,
    /// The steps.
    pub steps: Vec<TraceStep>,
    /// Every property violated in the final state.
    pub violations: Vec<Violation>,
}

/// Why an action list cannot be replayed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ReplayError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// An action is not enabled where the list puts it.
    #[error("step {step}: {source}")]
    NotEnabled {
        /// 1-based step number.
        step: usize,
        /// The refusal.
        source: ApplyError,
    },
}

impl Trace {
    /// Replays `actions` from the initial state of `variant` with `config`.
    pub fn replay(
        variant: Variant,
        config: Config,
        actions: &[Action],
    ) -> Result<Trace, ReplayError> {
        let mut cluster = Cluster::new(variant, config)?;
        let mut violated: Vec<Property> = check_all(&cluster).iter().map(|v| v.property).collect();
        let mut steps = Vec::with_capacity(actions.len());
        for (index, &action) in actions.iter().enumerate() {
            let event = cluster
                .apply(action)
                .map_err(|source| ReplayError::NotEnabled {
                    step: index + 1,
                    source,
                })?;
            let now: Vec<Property> = check_all(&cluster).iter().map(|v| v.property).collect();
            let newly_violated = now
                .iter()
                .copied()
                .filter(|p| !violated.contains(p))
                .collect();
            violated = now;
            steps.push(TraceStep {
                number: index + 1,
                action,
                event,
                newly_violated,
            });
        }
        Ok(Trace {
            variant,
            config,
            steps,
            violations: check_all(&cluster),
        })
    }

    /// The actions, in order.
    pub fn actions(&self) -> Vec<Action> {
        self.steps.iter().map(|s| s.action).collect()
    }

    /// The numbered text form: a header with the design and bounds, one line per step, and the
    /// violations at the end (marking the step where each first appeared).
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "variant: {} ({})",
            self.variant,
            self.variant.design.summary()
        );
        let _ = writeln!(out, "bounds:  {}", describe_config(&self.config));
        let width = self.steps.len().to_string().len();
        for step in &self.steps {
            let _ = writeln!(
                out,
                "{:>width$}. {:<42} {}",
                step.number,
                step.action.to_string(),
                step.event.kind
            );
            for property in &step.newly_violated {
                let _ = writeln!(out, "{:>width$}  ^ violates: {}", "", property.name());
            }
        }
        if self.violations.is_empty() {
            let _ = writeln!(out, "no property is violated at the end");
        }
        for violation in &self.violations {
            let _ = writeln!(out, "violated: {violation}");
        }
        out
    }
}

/// One line describing a configuration's bounds and settings.
pub fn describe_config(config: &Config) -> String {
    let kinds = config.fault_kinds;
    let faults = if config.faults == 0 {
        "no faults".to_string()
    } else {
        let mut names = Vec::new();
        if kinds.errors {
            names.push("errors");
        }
        if kinds.cancels {
            names.push("cancels");
        }
        if kinds.disconnects {
            names.push("disconnects");
        }
        format!("{} faults ({})", config.faults, names.join(", "))
    };
    format!(
        "{} SQL sessions, {} WAL senders, {} backups each, {} crashes, {}, {} page writes by {} writers on {} pages, {} timed checkpoints, {} WAL switches, full_page_writes={}, archive_mode={}{}{}{}",
        config.sql_sessions,
        config.walsenders,
        config.backups_per_session,
        config.crashes,
        faults,
        config.page_writes,
        config.writers,
        config.pages,
        config.timed_checkpoints,
        config.wal_switches,
        if config.full_page_writes { "on" } else { "off" },
        if config.archive_mode { "on" } else { "off" },
        if config.exclusive_backups { "" } else { ", no exclusive backups" },
        if config.hostile_labels { ", hostile labels" } else { "" },
        if config.client_misuse { ", client misuse" } else { "" },
    )
}
