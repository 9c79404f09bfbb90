//! Traces: an action list replayed through the core, as numbered steps (who, which action,
//! what happened, with LSNs) plus the invariants violated at the end. Every engine's
//! counterexample (the model's shortest path, the simulator's shrunk schedule) becomes a
//! `Trace` the same way, so that a reviewer reads one format whatever found the bug: as
//! numbered text ([`Trace::render_text`]), JSON (serde), or a Mermaid sequence diagram
//! ([`Trace::render_mermaid`]) to paste into a review.

use crate::action::{Action, Actor, ApplyError, Event, EventKind};
use crate::config::{Config, ConfigError};
use crate::invariants::{check_all, NotSettled, Property, Violation};
use crate::state::{Cluster, SessionId};
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
    /// The 1-based number of the first step of the liveness phase, where faults stopped and
    /// every session was driven to finish (simulator traces of liveness failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_from: Option<usize>,
    /// What was left unfinished at the end, when the trace ends in a liveness failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_settled: Option<NotSettled>,
}

/// Replays actions one at a time into a [`Trace`].
#[derive(Clone, Debug)]
pub struct TraceBuilder {
    cluster: Cluster,
    violated: Vec<Property>,
    trace: Trace,
}

impl TraceBuilder {
    /// Starts from the initial state of `variant` with `config`.
    pub fn new(variant: Variant, config: Config) -> Result<Self, ConfigError> {
        let cluster = Cluster::new(variant, config)?;
        let violated = check_all(&cluster).iter().map(|v| v.property).collect();
        Ok(TraceBuilder {
            cluster,
            violated,
            trace: Trace {
                variant,
                config,
                steps: Vec::new(),
                violations: Vec::new(),
                drain_from: None,
                not_settled: None,
            },
        })
    }

    /// The state reached so far.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The steps so far.
    pub fn steps(&self) -> &[TraceStep] {
        &self.trace.steps
    }

    /// Marks the next step as the first of the liveness phase.
    pub fn mark_drain(&mut self) {
        self.trace.drain_from = Some(self.trace.steps.len() + 1);
    }

    /// Applies `action` and records the step.
    pub fn push(&mut self, action: Action) -> Result<&TraceStep, ReplayError> {
        let number = self.trace.steps.len() + 1;
        let event = self
            .cluster
            .apply(action)
            .map_err(|source| ReplayError::NotEnabled {
                step: number,
                source,
            })?;
        let now: Vec<Property> = check_all(&self.cluster)
            .iter()
            .map(|v| v.property)
            .collect();
        let newly_violated = now
            .iter()
            .copied()
            .filter(|p| !self.violated.contains(p))
            .collect();
        self.violated = now;
        self.trace.steps.push(TraceStep {
            number,
            action,
            event,
            newly_violated,
        });
        Ok(&self.trace.steps[number - 1])
    }

    /// The trace, with the violations of the final state.
    pub fn finish(mut self, not_settled: Option<NotSettled>) -> Trace {
        self.trace.violations = check_all(&self.cluster);
        self.trace.not_settled = not_settled;
        self.trace
    }
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
        let mut builder = TraceBuilder::new(variant, config)?;
        for &action in actions {
            builder.push(action)?;
        }
        Ok(builder.finish(None))
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
            self.variant.summary()
        );
        let _ = writeln!(out, "bounds:  {}", describe_config(&self.config));
        let mut sessions: Vec<SessionId> = self
            .steps
            .iter()
            .filter_map(|step| match (step.action, step.event.actor) {
                (Action::Begin { session, .. }, _)
                | (Action::Step { session }, _)
                | (Action::Fault { session, .. }, _)
                | (Action::Terminate { session }, _)
                | (_, Actor::Session(session)) => Some(session),
                _ => None,
            })
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        if !sessions.is_empty() {
            let names: Vec<String> = sessions
                .into_iter()
                .map(|s| actor_name(Actor::Session(s), &self.config))
                .collect();
            let _ = writeln!(out, "sessions: {}", names.join(", "));
        }
        let names = self.variant.rules().function_names();
        let width = self.steps.len().to_string().len();
        for step in &self.steps {
            if self.drain_from == Some(step.number) {
                let _ = writeln!(
                    out,
                    "{:>width$}  -- liveness phase: faults stop, every session is driven to finish --",
                    ""
                );
            }
            let _ = writeln!(
                out,
                "{:>width$}. {:<42} {}",
                step.number,
                step.action.named(names).to_string(),
                step.event.kind.named(names)
            );
            for property in &step.newly_violated {
                let _ = writeln!(out, "{:>width$}  ^ violates: {}", "", property.name());
            }
        }
        if self.violations.is_empty() && self.not_settled.is_none() {
            let _ = writeln!(out, "no property is violated at the end");
        }
        for violation in &self.violations {
            let _ = writeln!(out, "violated: {violation}");
        }
        if let Some(not_settled) = &self.not_settled {
            let _ = writeln!(out, "violated: {not_settled}");
        }
        out
    }

    /// A Mermaid sequence diagram: one participant per session that acts, the checkpointer,
    /// the page writers, shared memory, WAL and the data directory; one arrow per step, from
    /// the actor to what the step touched, labelled with the step's number and event; a note
    /// where a property is first violated.
    pub fn render_mermaid(&self) -> String {
        /// Runs of this many repeats or more after a first step are collapsed.
        const MERMAID_COLLAPSE_FROM: usize = 2;
        let mut out = String::from("sequenceDiagram\n");
        let mut actors: Vec<Actor> = Vec::new();
        for step in &self.steps {
            if !actors.contains(&step.event.actor) {
                actors.push(step.event.actor);
            }
        }
        actors.sort_by_key(|a| match a {
            Actor::Session(s) => (0, u32::from(s.0)),
            Actor::Writer(w) => (1, u32::from(*w)),
            Actor::Checkpointer => (2, 0),
            Actor::Environment => (3, 0),
        });
        for actor in &actors {
            let _ = writeln!(
                out,
                "    participant {} as {}",
                mermaid_id(*actor),
                actor_name(*actor, &self.config)
            );
        }
        let _ = writeln!(out, "    participant SHM as shared memory");
        let _ = writeln!(out, "    participant WAL as WAL");
        let _ = writeln!(out, "    participant DD as data directory");
        let _ = writeln!(
            out,
            "    Note over {},DD: {} ({})",
            actors.first().map(|a| mermaid_id(*a)).unwrap_or("SHM"),
            self.variant,
            mermaid_text(&describe_config(&self.config))
        );
        // A run of steps by one actor with one event name and no finding (a session refused
        // the same command again and again, say) is drawn once, with a note of how many
        // follow: a long trace stays within Mermaid's size limit and readable in a review.
        let same = |a: &TraceStep, b: &TraceStep| {
            a.event.actor == b.event.actor
                && a.event.kind.name() == b.event.kind.name()
                && a.newly_violated.is_empty()
                && b.newly_violated.is_empty()
                && self.drain_from != Some(b.number)
        };
        let mut index = 0;
        while index < self.steps.len() {
            let step = &self.steps[index];
            let mut run_end = index;
            while run_end + 1 < self.steps.len() && same(step, &self.steps[run_end + 1]) {
                run_end += 1;
            }
            let repeats = run_end - index;
            if repeats < MERMAID_COLLAPSE_FROM {
                run_end = index;
            }
            if self.drain_from == Some(step.number) {
                let _ = writeln!(out, "    Note over SHM,DD: liveness phase: faults stop, every session is driven to finish");
            }
            let from = mermaid_id(step.event.actor);
            let to = mermaid_target(&step.event.kind, step.event.actor);
            let text = mermaid_text(&format!(
                "{}. {}",
                step.number,
                step.event.kind.named(self.variant.rules().function_names())
            ));
            if to == from {
                let _ = writeln!(out, "    Note over {from}: {text}");
            } else {
                let _ = writeln!(out, "    {from}->>{to}: {text}");
            }
            for property in &step.newly_violated {
                let _ = writeln!(
                    out,
                    "    Note over {from},DD: violates: {}",
                    mermaid_text(property.name())
                );
            }
            if run_end > index {
                let _ = writeln!(
                    out,
                    "    Note over {from}: {} more {} steps like it, {} to {} (see the text trace)",
                    run_end - index,
                    step.event.kind.name(),
                    self.steps[index + 1].number,
                    self.steps[run_end].number
                );
            }
            index = run_end + 1;
        }
        if let Some(not_settled) = &self.not_settled {
            let _ = writeln!(
                out,
                "    Note over SHM,DD: {}",
                mermaid_text(&not_settled.to_string())
            );
        }
        out
    }
}

fn mermaid_id(actor: Actor) -> &'static str {
    // Mermaid ids must be plain words; sessions and writers are few, so a table suffices.
    const SESSIONS: [&str; 64] = [
        "S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10", "S11", "S12", "S13",
        "S14", "S15", "S16", "S17", "S18", "S19", "S20", "S21", "S22", "S23", "S24", "S25", "S26",
        "S27", "S28", "S29", "S30", "S31", "S32", "S33", "S34", "S35", "S36", "S37", "S38", "S39",
        "S40", "S41", "S42", "S43", "S44", "S45", "S46", "S47", "S48", "S49", "S50", "S51", "S52",
        "S53", "S54", "S55", "S56", "S57", "S58", "S59", "S60", "S61", "S62", "S63",
    ];
    const WRITERS: [&str; 16] = [
        "W0", "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W10", "W11", "W12", "W13",
        "W14", "W15",
    ];
    match actor {
        Actor::Session(s) => SESSIONS.get(usize::from(s.0)).copied().unwrap_or("S"),
        Actor::Writer(w) => WRITERS.get(usize::from(w)).copied().unwrap_or("W"),
        Actor::Checkpointer => "CKPT",
        Actor::Environment => "ENV",
    }
}

/// An actor's name with its kind: `S0 (SQL)`, `S1 (WAL sender)`, `W0 (page writer)`.
fn actor_name(actor: Actor, config: &Config) -> String {
    match actor {
        Actor::Session(s) if s.0 < config.sql_sessions => format!("{s} (SQL)"),
        Actor::Session(s) if s.0 < config.sql_sessions.saturating_add(config.walsenders) => {
            format!("{s} (WAL sender)")
        }
        Actor::Session(s) => format!("{s} (replication=database)"),
        Actor::Writer(w) => format!("W{w} (page writer)"),
        Actor::Checkpointer => "checkpointer".to_string(),
        Actor::Environment => "environment".to_string(),
    }
}

/// Where a step's arrow points: what the step touched.
fn mermaid_target(kind: &EventKind, actor: Actor) -> &'static str {
    match kind {
        EventKind::CommandRejected { .. }
        | EventKind::CommandAccepted { .. }
        | EventKind::CommandFailed { .. }
        | EventKind::SessionExited { .. }
        | EventKind::StartPointSent { .. }
        | EventKind::ArchiveWaited
        | EventKind::BackupStopped { .. }
        | EventKind::PageAssembled { .. }
        | EventKind::PageReassembled { .. } => mermaid_id(actor),
        EventKind::CheckpointRequested { .. } | EventKind::CheckpointWaited { .. } => "CKPT",
        EventKind::WalSwitched { .. }
        | EventKind::EndRecordInserted { .. }
        | EventKind::PageWritten { .. }
        | EventKind::CheckpointCompleted { .. } => "WAL",
        EventKind::ControlFileRead { .. }
        | EventKind::BackupStarted { .. }
        | EventKind::FilesCopied { .. }
        | EventKind::LabelFileRemoved { .. }
        | EventKind::HistoryFileWritten { .. }
        | EventKind::Restarted { .. } => "DD",
        _ => "SHM",
    }
}

/// Text safe inside a Mermaid message: no `;`, `#` or line breaks, which Mermaid would read
/// as syntax.
pub fn mermaid_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ';' => ',',
            '#' | '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
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
        "{} SQL sessions, {} WAL senders, {} backups and {} commands each, {} crashes, {}, {} page writes by {} writers on {} pages, {} timed checkpoints, {} WAL switches, full_page_writes={}, archive_mode={}{}{}",
        config.sql_sessions,
        config.walsenders,
        config.backups_per_session,
        config.commands_per_session,
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
    ) + &extra_config(config)
}

/// The settings most configurations leave at their defaults, said only when set.
fn extra_config(config: &Config) -> String {
    let mut out = String::new();
    if config.replication_sessions > 0 {
        out.push_str(&format!(
            ", {} replication=database sessions",
            config.replication_sessions
        ));
    }
    if config.jit_queries > 0 {
        out.push_str(&format!(", {} JIT queries", config.jit_queries));
    }
    if config.standby {
        out.push_str(", a standby");
    }
    if config.primary_fpw_offs > 0 {
        out.push_str(&format!(
            ", {} full_page_writes=off changes on its primary",
            config.primary_fpw_offs
        ));
    }
    if config.archive_fails {
        out.push_str(", archive_command failing");
    }
    if config.timeline.0 != 1 {
        out.push_str(&format!(", timeline {}", config.timeline.0));
    }
    if config.wal_fills > 0 {
        out.push_str(&format!(", {} segment fills", config.wal_fills));
    }
    if config.shutdowns > 0 {
        out.push_str(&format!(", {} fast shutdowns", config.shutdowns));
    }
    if config.os_crashes > 0 {
        out.push_str(&format!(", {} OS crashes", config.os_crashes));
    }
    out
}

/// One state of the cluster in words, for a reviewer (the Explorer shows it as the state):
/// the design and bounds, the server, shared memory, the control file and checkpointer, each
/// session with its kind and next step, each live backup with its start point, the files of
/// the data directory, the pages and what the bounds have left. LSNs are `%X/%X`; names are
/// PostgreSQL's and the text trace's.
pub fn render_state(c: &Cluster) -> String {
    use crate::state::{BackupMode, BackupPhase, SessionBackupState, Unit, Writer};
    let on = |b: bool| if b { "on" } else { "off" };
    let mode = |m: BackupMode| match m {
        BackupMode::Exclusive => "exclusive",
        BackupMode::NonExclusive => "non-exclusive",
        BackupMode::Streamed => "streamed",
    };
    let seg = c.config.wal_segment_size;
    let mut out = String::new();
    let _ = writeln!(out, "variant: {} ({})", c.variant, c.variant.summary());
    let _ = writeln!(out, "bounds:  {}", describe_config(&c.config));
    let _ = writeln!(
        out,
        "server: {}; WAL insert {}, flushed {}, oldest segment {}",
        c.server.name(),
        c.shared.insert,
        c.wal.flushed,
        c.wal.oldest_segment
    );
    let _ = writeln!(
        out,
        "shared memory: exclusive {}, counter {}, forcePageWrites {}, RedoRecPtr {}, lastBackupStart {}, full_page_writes {}",
        c.shared.exclusive.name(),
        c.shared.backups,
        on(c.shared.force_page_writes),
        c.shared.redo,
        c.shared.last_backup_start,
        on(c.shared.full_page_writes),
    );
    let _ = writeln!(
        out,
        "control file: checkpoint {}, redo {}",
        c.control.checkpoint, c.control.redo
    );
    let _ = writeln!(
        out,
        "checkpointer: {} begun, {} done{}{}",
        c.checkpointer.started,
        c.checkpointer.done,
        match c.checkpointer.in_progress {
            Some(redo) => format!(", one in progress (redo {redo})"),
            None => String::new(),
        },
        match (c.checkpointer.requested, c.checkpointer.immediate) {
            (true, true) => ", an immediate checkpoint requested",
            (true, false) => ", a checkpoint requested",
            _ => "",
        }
    );
    let _ = writeln!(out, "sessions:");
    for (i, s) in c.sessions.iter().enumerate() {
        let id = SessionId(i as u8);
        let mut line = format!(
            "  {}: {}",
            actor_name(Actor::Session(id), &c.config),
            s.pc.name()
        );
        if let Some(b) = s.backup {
            let _ = write!(line, ", {} backup {b}", mode(s.mode));
        }
        match s.state {
            SessionBackupState::None => {}
            SessionBackupState::Exclusive => line.push_str(", session state exclusive"),
            SessionBackupState::Running => line.push_str(", session state running"),
        }
        let _ = write!(
            line,
            ", {} command(s), {} backup(s) begun",
            s.commands, s.starts
        );
        let _ = writeln!(out, "{line}");
    }
    if c.backups.is_empty() {
        let _ = writeln!(out, "backups: none live");
    } else {
        let _ = writeln!(out, "backups:");
    }
    for b in &c.backups {
        let phase = b.phase.name();
        let unit = match b.unit {
            Unit::NotYet => "no unit yet",
            Unit::Held => "holds a unit",
            Unit::Released => "unit released",
        };
        let mut line = format!(
            "  {} ({} {}, label {}): {phase}, start point {}, checkpoint {}, {unit}",
            b.id,
            b.session,
            mode(b.mode),
            b.label.name(),
            b.start,
            b.checkpoint
        );
        if b.phase == BackupPhase::Stopped {
            let _ = write!(line, ", stop point {}", b.stop);
        }
        if let Some(p) = b.picked_up {
            let _ = write!(line, ", carried {}", p.name());
        }
        if b.torn {
            line.push_str(", a torn page copied");
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "data directory:");
    let durable = |d: bool| if d { "" } else { ", not yet durable" };
    match &c.data_dir.backup_label {
        Some(l) => {
            let _ = writeln!(
                out,
                "  backup_label: {} start point {}, checkpoint {}{}",
                l.backup,
                l.start,
                l.checkpoint,
                durable(l.durable)
            );
        }
        None => {
            let _ = writeln!(out, "  backup_label: none");
        }
    }
    for l in &c.data_dir.temp_labels {
        let _ = writeln!(
            out,
            "  temporary label: {} start point {}{}",
            l.backup,
            l.start,
            durable(l.durable)
        );
    }
    if let Some(l) = &c.data_dir.unlinked_label {
        let _ = writeln!(
            out,
            "  backup_label removed without an fsync of pg_data: {} start point {}",
            l.backup, l.start
        );
    }
    for h in &c.data_dir.history {
        let _ = writeln!(
            out,
            "  {}: start {}, stop {}, checkpoint {}{}{}{}",
            crate::walfile::HistoryFileName::new(c.config.timeline, h.start, seg),
            h.start,
            h.stop,
            h.checkpoint,
            if h.exclusive { ", exclusive" } else { "" },
            durable(h.durable),
            if h.in_pg_wal {
                ""
            } else {
                ", removed from pg_wal"
            }
        );
    }
    if !c.pages.is_empty() {
        let pages: Vec<String> = c
            .pages
            .iter()
            .enumerate()
            .map(|(i, lsn)| format!("P{i} LSN {lsn}"))
            .collect();
        let _ = writeln!(out, "pages: {}", pages.join(", "));
    }
    for (i, w) in c.writers.iter().enumerate() {
        match w {
            Writer::Idle => {}
            Writer::Assembled {
                page, redo, image, ..
            } => {
                let _ = writeln!(
                    out,
                    "W{i}: assembled a change of P{page} (redo {redo}, {})",
                    if *image {
                        "with a full-page image"
                    } else {
                        "no image"
                    }
                );
            }
        }
    }
    out
}
