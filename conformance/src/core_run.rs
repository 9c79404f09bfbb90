//! The core's side of every scenario: one [`Cluster`] of [`Design::Pg15`] for the whole run,
//! as the server is one cluster for the whole run, driven through `Cluster::apply` one step
//! at a time with every invariant checked after every step. Commands that run at the same
//! time on the server are begun together here and then stepped round-robin, the checkpointer
//! running whenever no session can move; the facts compared with the server do not depend
//! on that interleaving (the core's invariants hold in every one).

use crate::error::Error;
use backup_coordinator::action::{Action, Cleanups, Command, EventKind, Fault, StepError};
use backup_coordinator::config::FaultKinds;
use backup_coordinator::invariants;
use backup_coordinator::label::{BackupLabel, LabelKind};
use backup_coordinator::lsn::{Lsn, WalSegmentSize};
use backup_coordinator::state::{BackupId, BackupMode, Pc, SessionId};
use backup_coordinator::{Cluster, Config, Design, Variant};
use std::collections::BTreeMap;

/// A start that returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    /// The backup.
    pub backup: BackupId,
    /// Its start point.
    pub start: Lsn,
}

/// A stop that returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// The backup.
    pub backup: BackupId,
    /// Start point.
    pub start: Lsn,
    /// Stop point (the end of its backup-end record).
    pub stop: Lsn,
}

/// The core, scripted.
pub struct CoreRun {
    /// The state.
    pub cluster: Cluster,
    /// Every completed checkpoint: record location → redo point.
    pub checkpoints: BTreeMap<Lsn, Lsn>,
    /// The logical clock printed as START TIME / STOP TIME.
    clock: u32,
    /// Logical start time of each backup.
    start_clocks: BTreeMap<BackupId, u32>,
    /// Logical stop time of each backup.
    stop_clocks: BTreeMap<BackupId, u32>,
    /// The label each backup was given, recorded when its start returned (the core retires a
    /// backup once it ends, so facts are kept here as they happen).
    labels: BTreeMap<BackupId, BackupLabel>,
    /// Where each stopped backup stopped.
    stops: BTreeMap<BackupId, Lsn>,
    /// Every backup-end record written: (record location, start point it carries).
    end_records: Vec<(Lsn, Lsn)>,
    /// History files written.
    history_writes: usize,
    /// The design's era findings (see [`CoreRun::apply`]) seen so far, by name.
    pub era_findings: std::collections::BTreeSet<&'static str>,
}

/// A bound on the steps of one scripted command, far above what any takes.
const STEP_LIMIT: usize = 100_000;

impl CoreRun {
    /// A PostgreSQL 15 cluster like the script's: `sql` SQL sessions, `walsenders` WAL
    /// senders, one page writer over `pages` pages, `full_page_writes=off`, `archive_mode=on`,
    /// fast checkpoints, timeline 1, every label kind and client misuse offered; budgets large
    /// enough for any script.
    pub fn new(
        design: Design,
        sql: u8,
        walsenders: u8,
        pages: u8,
        seg: WalSegmentSize,
    ) -> Result<Self, Error> {
        let config = Config {
            sql_sessions: sql,
            walsenders,
            backups_per_session: 1_000,
            crashes: 16,
            faults: 1_000,
            fault_kinds: FaultKinds::ALL,
            writers: 1,
            pages,
            page_writes: 100_000,
            timed_checkpoints: 10_000,
            wal_switches: 10_000,
            full_page_writes: false,
            archive_mode: true,
            fast_checkpoint: true,
            exclusive_backups: Variant::of(design).rules().has_exclusive(),
            hostile_labels: true,
            commands_per_session: u32::MAX,
            wal_segment_size: seg,
            wal_fills: 10_000,
            shutdowns: 16,
            ..Config::default()
        };
        Self::with_config(design, config)
    }

    /// A primary of one SQL session whose `archive_command` fails every time.
    pub fn new_archive_failing(design: Design, seg: WalSegmentSize) -> Result<Self, Error> {
        let mut run = Self::new(design, 1, 1, 1, seg)?;
        let config = Config {
            archive_fails: true,
            ..run.cluster.config
        };
        run.cluster = Cluster::new(Variant::of(design), config)?;
        Ok(run)
    }

    /// A primary of one SQL session and one WAL sender with `archive_mode` off.
    pub fn new_archive_off(design: Design, seg: WalSegmentSize) -> Result<Self, Error> {
        let mut run = Self::new(design, 1, 1, 1, seg)?;
        let config = Config {
            archive_mode: false,
            ..run.cluster.config
        };
        run.cluster = Cluster::new(Variant::of(design), config)?;
        Ok(run)
    }

    /// The start points of the backup history files the core has in `pg_wal`.
    pub fn history_in_pg_wal(&self) -> Vec<Lsn> {
        self.cluster
            .data_dir
            .history
            .iter()
            .filter(|h| h.in_pg_wal)
            .map(|h| h.start)
            .collect()
    }

    /// The standby's primary turns `full_page_writes` off; the standby replays the change.
    pub fn primary_fpw_off(&mut self) -> Result<(), Error> {
        self.apply(Action::PrimaryFpwOff)?;
        Ok(())
    }

    /// A fast shutdown (every session the postmaster signals exits, then the shutdown
    /// checkpoint) and a clean start.
    pub fn clean_restart(&mut self) -> Result<(), Error> {
        self.apply(Action::Shutdown)?;
        for i in 0..self.cluster.sessions.len() {
            let terminate = Action::Terminate {
                session: SessionId(i as u8),
            };
            if self.cluster.is_enabled(terminate) {
                self.apply(terminate)?;
            }
        }
        for action in [Action::ShutdownCheckpoint, Action::Restart] {
            if !self.cluster.is_enabled(action) {
                return Err(Error::CoreStuck(format!(
                    "a clean restart: {action} is not enabled in\n{:#?}",
                    self.cluster
                )));
            }
            self.apply(action)?;
        }
        Ok(())
    }

    /// Begins `pg_backup_stop()` in `session` and steps it (serving checkpoints) as far as it
    /// goes: the step it is left waiting at, if it did not end.
    pub fn stop_until_blocked(&mut self, session: SessionId) -> Result<Option<Pc>, Error> {
        self.apply(Action::Begin {
            session,
            command: Command::StopBackup {
                mode: BackupMode::NonExclusive,
            },
        })?;
        for _ in 0..STEP_LIMIT {
            if self.idle(session) {
                return Ok(None);
            }
            let step = Action::Step { session };
            if self.cluster.is_enabled(step) {
                self.apply(step)?;
            } else if self.cluster.is_enabled(Action::CheckpointBegin) {
                self.apply(Action::CheckpointBegin)?;
            } else if self.cluster.is_enabled(Action::CheckpointEnd) {
                self.apply(Action::CheckpointEnd)?;
            } else {
                return Ok(Some(self.cluster.sessions[usize::from(session.0)].pc));
            }
        }
        Err(Error::CoreStuck(format!("{session}'s stop did not settle")))
    }

    /// A query cancel in `session`: the error it ended its command with.
    pub fn cancel(&mut self, session: SessionId) -> Result<Result<(), StepError>, Error> {
        match self.apply(Action::Fault {
            session,
            fault: Fault::Cancel,
        })? {
            EventKind::CommandFailed { error, .. } => Ok(Err(error)),
            other => Err(Error::CoreStuck(format!("a cancel: {other}"))),
        }
    }

    /// A standby of the suite's primary (timeline 1, one SQL session), its primary running
    /// with `full_page_writes` as given.
    pub fn new_standby(
        design: Design,
        seg: WalSegmentSize,
        full_page_writes: bool,
    ) -> Result<Self, Error> {
        let mut run = Self::new(design, 1, 0, 1, seg)?;
        let config = Config {
            standby: true,
            full_page_writes,
            // Its primary may turn full_page_writes off once (`primary_fpw_off`).
            primary_fpw_offs: u32::from(full_page_writes),
            faults: 0,
            writers: 0,
            page_writes: 0,
            ..run.cluster.config
        };
        run.cluster = Cluster::new(Variant::of(design), config)?;
        Ok(run)
    }

    fn with_config(design: Design, config: Config) -> Result<Self, Error> {
        Ok(CoreRun {
            cluster: Cluster::new(Variant::of(design), config)?,
            checkpoints: BTreeMap::new(),
            clock: 0,
            start_clocks: BTreeMap::new(),
            stop_clocks: BTreeMap::new(),
            labels: BTreeMap::new(),
            stops: BTreeMap::new(),
            end_records: Vec::new(),
            history_writes: 0,
            era_findings: std::collections::BTreeSet::new(),
        })
    }

    /// Applies one action and checks every invariant.
    fn apply(&mut self, action: Action) -> Result<EventKind, Error> {
        let event = self.cluster.apply(action)?;
        // The design's reviewed era findings (expected-findings.toml) are the server's too:
        // 15+ write history files without fsync (no scenario here can observe it), and 16+
        // name the next segment as the stop file when the backup-end record ends on a segment
        // boundary (the boundary scenario shows the server doing it). They are recorded, not
        // fatal; every other property must hold.
        let mut era: invariants::PropertySet = [invariants::Property::ReportedFilesSurviveOsCrash]
            .into_iter()
            .collect();
        if matches!(self.cluster.variant.design, Design::Pg16 | Design::Pg17) {
            era.insert(invariants::Property::HistoryFileDescribesBackup);
        }
        // 9.6-14: a crash during an exclusive backup whose label's checkpoint was recycled
        // leaves a server that refuses to start (the restart-refusal scenario shows it).
        if self.cluster.variant.design == Design::Pg96 {
            era.insert(invariants::Property::RestartSucceeds);
        }
        for violation in invariants::check_all(&self.cluster) {
            if era.contains(violation.property) {
                self.era_findings.insert(violation.property.name());
            }
        }
        invariants::check_except(&self.cluster, era)
            .map_err(|v| Error::CoreViolation(format!("after {action} ({event}): {v}")))?;
        self.clock += 1;
        match event.kind {
            EventKind::CheckpointCompleted { checkpoint, redo } => {
                self.checkpoints.insert(checkpoint, redo);
            }
            EventKind::Restarted { checkpoint, .. } => {
                self.checkpoints.insert(checkpoint, checkpoint);
            }
            EventKind::BackupStarted { backup, .. } => {
                self.start_clocks.insert(backup, self.clock);
                if let Some(label) = self.cluster.render_label(backup, self.clock) {
                    self.labels.insert(backup, label);
                }
            }
            EventKind::BackupStopped {
                backup: Some(backup),
                stop,
                ..
            } => {
                self.stop_clocks.insert(backup, self.clock);
                self.stops.insert(backup, stop);
            }
            EventKind::EndRecordInserted { at, start } => {
                self.end_records.push((at, start));
            }
            EventKind::HistoryFileWritten { .. } => self.history_writes += 1,
            _ => {}
        }
        Ok(event.kind)
    }

    fn idle(&self, session: SessionId) -> bool {
        self.cluster.sessions[usize::from(session.0)].pc == Pc::Idle
    }

    /// Begins `command` in each session (in order), then steps them round-robin, running the
    /// checkpointer when none can move, until all are idle. Returns each session's events.
    fn run(&mut self, commands: &[(SessionId, Command)]) -> Result<Vec<Vec<EventKind>>, Error> {
        let mut events = vec![Vec::new(); commands.len()];
        for (i, &(session, command)) in commands.iter().enumerate() {
            events[i].push(self.apply(Action::Begin { session, command })?);
        }
        for _ in 0..STEP_LIMIT {
            let busy: Vec<usize> = (0..commands.len())
                .filter(|&i| !self.idle(commands[i].0))
                .collect();
            if busy.is_empty() {
                return Ok(events);
            }
            let mut moved = false;
            for i in busy {
                let step = Action::Step {
                    session: commands[i].0,
                };
                if self.cluster.is_enabled(step) {
                    events[i].push(self.apply(step)?);
                    moved = true;
                }
            }
            if !moved {
                if self.cluster.is_enabled(Action::CheckpointBegin) {
                    self.apply(Action::CheckpointBegin)?;
                } else if self.cluster.is_enabled(Action::CheckpointEnd) {
                    self.apply(Action::CheckpointEnd)?;
                } else {
                    return Err(Error::CoreStuck(format!(
                        "no session of {commands:?} can step and no checkpoint is pending"
                    )));
                }
            }
        }
        Err(Error::CoreStuck(format!(
            "{commands:?} did not finish in {STEP_LIMIT} steps"
        )))
    }

    fn start_command() -> Command {
        Command::StartBackup {
            mode: BackupMode::NonExclusive,
            label: LabelKind::Plain,
        }
    }

    fn started(events: &[EventKind]) -> Result<Result<Started, StepError>, Error> {
        for event in events {
            match event {
                EventKind::BackupStarted { backup, start, .. } => {
                    return Ok(Ok(Started {
                        backup: *backup,
                        start: *start,
                    }))
                }
                EventKind::CommandRejected { error, .. }
                | EventKind::CommandFailed { error, .. } => return Ok(Err(error.clone())),
                _ => {}
            }
        }
        Err(Error::CoreStuck(format!(
            "a start ended without a start point or an error: {events:?}"
        )))
    }

    fn stopped(events: &[EventKind]) -> Result<Result<Stopped, StepError>, Error> {
        let mut started = None;
        for event in events {
            match event {
                EventKind::BackupStarted { backup, .. } => started = Some(*backup),
                EventKind::BackupStopped {
                    backup,
                    start,
                    stop,
                } => {
                    let backup = backup.or(started).ok_or_else(|| {
                        Error::CoreStuck("a stop that names no backup".to_string())
                    })?;
                    return Ok(Ok(Stopped {
                        backup,
                        start: *start,
                        stop: *stop,
                    }));
                }
                EventKind::CommandRejected { error, .. }
                | EventKind::CommandFailed { error, .. } => return Ok(Err(error.clone())),
                _ => {}
            }
        }
        Err(Error::CoreStuck(format!(
            "a stop ended without a stop point or an error: {events:?}"
        )))
    }

    /// The user label the core gave `backup` (`backup-<n>`), which the server side passes to
    /// PostgreSQL so that the LABEL lines can be compared.
    pub fn label_of(&self, backup: BackupId) -> Option<String> {
        self.labels.get(&backup).map(|l| l.label.clone())
    }

    /// The label text the core will give the next backup begun with `kind` (also the text
    /// it checks when it refuses that start).
    pub fn next_label_of(&self, kind: LabelKind) -> String {
        kind.text(self.cluster.next_backup)
    }

    /// `pg_backup_start(label, true)` in `session`.
    pub fn start(&mut self, session: SessionId) -> Result<Result<Started, StepError>, Error> {
        self.start_with(session, LabelKind::Plain)
    }

    /// `pg_backup_start` with a label of `kind`.
    pub fn start_with(
        &mut self,
        session: SessionId,
        label: LabelKind,
    ) -> Result<Result<Started, StepError>, Error> {
        let command = Command::StartBackup {
            mode: BackupMode::NonExclusive,
            label,
        };
        let events = self.run(&[(session, command)])?;
        Self::started(&events[0])
    }

    /// `pg_backup_start` in every session at once.
    pub fn start_all(
        &mut self,
        sessions: &[SessionId],
    ) -> Result<Vec<Result<Started, StepError>>, Error> {
        let commands: Vec<_> = sessions
            .iter()
            .map(|&s| (s, Self::start_command()))
            .collect();
        let events = self.run(&commands)?;
        events.iter().map(|e| Self::started(e)).collect()
    }

    /// 9.6-14: `pg_start_backup(label, true)`, an exclusive backup, in `session`.
    pub fn start_exclusive(
        &mut self,
        session: SessionId,
    ) -> Result<Result<Started, StepError>, Error> {
        let command = Command::StartBackup {
            mode: BackupMode::Exclusive,
            label: LabelKind::Plain,
        };
        let events = self.run(&[(session, command)])?;
        Self::started(&events[0])
    }

    /// 9.6-14: `pg_stop_backup()`, the exclusive stop, in `session`.
    pub fn stop_exclusive(
        &mut self,
        session: SessionId,
    ) -> Result<Result<Stopped, StepError>, Error> {
        let command = Command::StopBackup {
            mode: BackupMode::Exclusive,
        };
        let events = self.run(&[(session, command)])?;
        Self::stopped(&events[0])
    }

    /// Whether the data directory holds a `backup_label` (the exclusive backup's).
    pub fn backup_label_present(&self) -> bool {
        self.cluster.data_dir.backup_label.is_some()
    }

    /// `pg_backup_stop()` in `session`.
    pub fn stop(&mut self, session: SessionId) -> Result<Result<Stopped, StepError>, Error> {
        Ok(self.stop_all(&[session])?.remove(0))
    }

    /// `pg_backup_stop()` in every session at once.
    pub fn stop_all(
        &mut self,
        sessions: &[SessionId],
    ) -> Result<Vec<Result<Stopped, StepError>>, Error> {
        let command = Command::StopBackup {
            mode: BackupMode::NonExclusive,
        };
        let commands: Vec<_> = sessions.iter().map(|&s| (s, command)).collect();
        let events = self.run(&commands)?;
        events.iter().map(|e| Self::stopped(e)).collect()
    }

    /// `BASE_BACKUP` in every WAL sender at once, each to its end.
    pub fn base_backups(
        &mut self,
        walsenders: &[SessionId],
    ) -> Result<Vec<Result<Stopped, StepError>>, Error> {
        let command = Command::BaseBackup {
            label: LabelKind::Plain,
        };
        let commands: Vec<_> = walsenders.iter().map(|&s| (s, command)).collect();
        let events = self.run(&commands)?;
        events.iter().map(|e| Self::stopped(e)).collect()
    }

    /// The client goes away (clean disconnect, killed, or terminated: all a FATAL or EOF for
    /// the backend, which then runs its exit callbacks). Returns the cleanups that ran.
    pub fn disconnect(&mut self, session: SessionId) -> Result<Cleanups, Error> {
        match self.apply(Action::Fault {
            session,
            fault: Fault::Disconnect,
        })? {
            EventKind::SessionExited { cleanups } => Ok(cleanups),
            other => Err(Error::CoreStuck(format!(
                "a disconnect did not end the session: {other}"
            ))),
        }
    }

    /// A non-exclusive start in `session` stepped until it waits for its checkpoint, then the
    /// backend terminated there; the cleanups the exit ran.
    pub fn start_terminated_in_checkpoint_wait(
        &mut self,
        session: SessionId,
    ) -> Result<Cleanups, Error> {
        self.apply(Action::Begin {
            session,
            command: Self::start_command(),
        })?;
        for _ in 0..STEP_LIMIT {
            if self.cluster.sessions[usize::from(session.0)].pc == Pc::StartWaitCheckpoint {
                return self.disconnect(session);
            }
            self.apply(Action::Step { session })?;
        }
        Err(Error::CoreStuck(format!(
            "{session}'s start did not reach its checkpoint wait"
        )))
    }

    /// An immediate shutdown and restart: crash recovery and its end-of-recovery checkpoint.
    pub fn crash(&mut self) -> Result<(), Error> {
        match self.apply(Action::Crash)? {
            EventKind::Restarted { refused: None, .. } => Ok(()),
            other => Err(Error::CoreStuck(format!("restart failed: {other}"))),
        }
    }

    /// Other backends' WAL fills the segment up to one backup-end record's room before its
    /// end; the insert position after.
    pub fn fill_segment(&mut self) -> Result<Lsn, Error> {
        match self.apply(Action::WalFill)? {
            EventKind::WalFilled { to, .. } => Ok(to),
            other => Err(Error::CoreStuck(format!("WAL fill: {other}"))),
        }
    }

    /// `pg_switch_wal()` by another session.
    pub fn switch_wal(&mut self) -> Result<(), Error> {
        self.apply(Action::WalSwitch)?;
        Ok(())
    }

    /// Whether the WAL segment holding the exclusive backup's label's checkpoint record has
    /// been removed or recycled (`None` without a `backup_label`).
    pub fn label_checkpoint_recycled(&self) -> Option<bool> {
        let label = self.cluster.data_dir.backup_label?;
        let seg = self.cluster.seg();
        Some(seg.segment_of(label.checkpoint) < self.cluster.wal.oldest_segment)
    }

    /// An immediate shutdown and a restart that may be refused: the backup whose
    /// `backup_label` named a checkpoint the restart could not find, if it was.
    pub fn crash_and_restart(&mut self) -> Result<Option<BackupId>, Error> {
        match self.apply(Action::Crash)? {
            EventKind::Restarted { refused, .. } => Ok(refused),
            other => Err(Error::CoreStuck(format!("crash: {other}"))),
        }
    }

    /// A `CHECKPOINT` command: a checkpoint begins and completes.
    pub fn checkpoint(&mut self) -> Result<(), Error> {
        self.apply(Action::CheckpointBegin)?;
        self.apply(Action::CheckpointEnd)?;
        Ok(())
    }

    /// Changes `page` once; whether the change carried a full-page image.
    pub fn write_page(&mut self, page: u8) -> Result<bool, Error> {
        self.apply(Action::PageAssemble { writer: 0, page })?;
        for _ in 0..STEP_LIMIT {
            match self.apply(Action::PageInsert { writer: 0 })? {
                EventKind::PageWritten { image, .. } => return Ok(image),
                EventKind::PageReassembled { .. } => continue,
                other => {
                    return Err(Error::CoreStuck(format!(
                        "unexpected page-write event {other}"
                    )))
                }
            }
        }
        Err(Error::CoreStuck("a page write never inserted".into()))
    }

    /// The full-page-image phase, as on the server: every page written once (the fresh
    /// table's rows), a checkpoint, then every page changed once; the number of those changes
    /// that carried an image.
    pub fn fpi_phase(&mut self) -> Result<u32, Error> {
        let pages = self.cluster.pages.len() as u8;
        for page in 0..pages {
            self.write_page(page)?;
        }
        self.checkpoint()?;
        let mut images = 0;
        for page in 0..pages {
            if self.write_page(page)? {
                images += 1;
            }
        }
        Ok(images)
    }

    /// The backup_label text the core's backup carries.
    pub fn label_text(&self, backup: BackupId) -> Option<String> {
        self.labels.get(&backup).map(|l| l.render())
    }

    /// The history file (name, text) the core's stopped backup wrote.
    pub fn history(&self, backup: BackupId) -> Option<(String, String)> {
        let label = self.labels.get(&backup)?.clone();
        let stop_clock = self.stop_clocks.get(&backup).copied()?;
        let stop = *self.stops.get(&backup)?;
        let start = label.start;
        // The core's own rendering, with the design's rule for the stop file.
        let history = self.cluster.history_of(label, stop, stop_clock);
        Some((
            self.cluster.history_file_name(start).to_string(),
            history.render(),
        ))
    }

    /// The backup-end records the core has written: (record start, record end, start point).
    pub fn end_records(&self) -> Vec<(Lsn, Lsn, Lsn)> {
        let seg = self.cluster.seg();
        self.end_records
            .iter()
            .map(|&(at, start)| {
                let (record, _) = backup_coordinator::lsn::insert_record(
                    seg,
                    at,
                    backup_coordinator::lsn::record_bytes::BACKUP_END,
                );
                (record.start, record.end, start)
            })
            .collect()
    }

    /// The CHECKPOINT LOCATION of the backup that started at `start`, from its label.
    pub fn checkpoint_of(&self, start: Lsn) -> Option<Lsn> {
        self.labels
            .values()
            .find(|l| l.start == start)
            .map(|l| l.checkpoint)
    }

    /// How many history files the core has written (one per successful stop).
    pub fn history_files_written(&self) -> usize {
        self.history_writes
    }

    /// Whether writes are forced now (`forcePageWrites`), and the counter.
    pub fn forcing(&self) -> (bool, i16) {
        (
            self.cluster.shared.force_page_writes,
            self.cluster.shared.backups,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S0: SessionId = SessionId(0);
    const S1: SessionId = SessionId(1);

    #[test]
    fn forcing_follows_running_backups_in_page_images() {
        let mut core = CoreRun::new(Design::Pg15, 2, 0, 3, WalSegmentSize::DEFAULT).unwrap();
        assert_eq!(core.fpi_phase().unwrap(), 0);
        core.start(S0).unwrap().unwrap();
        core.start(S1).unwrap().unwrap();
        assert_eq!(core.fpi_phase().unwrap(), 3);
        core.stop(S0).unwrap().unwrap();
        assert_eq!(core.fpi_phase().unwrap(), 3);
        core.stop(S1).unwrap().unwrap();
        assert_eq!(core.fpi_phase().unwrap(), 0);
    }

    #[test]
    fn session_rules_give_typed_errors() {
        let mut core = CoreRun::new(Design::Pg15, 2, 0, 1, WalSegmentSize::DEFAULT).unwrap();
        core.start(S0).unwrap().unwrap();
        assert_eq!(
            core.start(S0).unwrap(),
            Err(StepError::BackupInProgressInSession)
        );
        assert_eq!(core.stop(S1).unwrap(), Err(StepError::NotInProgress));
        core.stop(S0).unwrap().unwrap();
        assert_eq!(core.stop(S0).unwrap(), Err(StepError::NotInProgress));
    }

    #[test]
    fn simultaneous_starts_get_distinct_start_points_and_own_end_records() {
        let mut core = CoreRun::new(Design::Pg15, 4, 3, 1, WalSegmentSize::DEFAULT).unwrap();
        let sessions = [S0, S1, SessionId(2), SessionId(3)];
        let starts: Vec<_> = core
            .start_all(&sessions)
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap().start)
            .collect();
        let mut distinct = starts.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 4);
        let stops = core.stop_all(&sessions).unwrap();
        for stop in stops {
            let stop = stop.unwrap();
            let ends: Vec<_> = core
                .end_records()
                .into_iter()
                .filter(|&(_, _, s)| s == stop.start)
                .collect();
            assert_eq!(ends.len(), 1);
            assert_eq!(ends[0].1, stop.stop);
            assert!(core.history(stop.backup).is_some());
        }
        let walsenders = [SessionId(4), SessionId(5), SessionId(6)];
        let streamed = core.base_backups(&walsenders).unwrap();
        assert!(streamed.iter().all(Result::is_ok));
    }

    #[test]
    fn vanished_sessions_release_forcing() {
        let mut core = CoreRun::new(Design::Pg15, 2, 0, 2, WalSegmentSize::DEFAULT).unwrap();
        core.start(S0).unwrap().unwrap();
        assert_eq!(core.forcing(), (true, 1));
        let cleanups = core.disconnect(S0).unwrap();
        assert!(cleanups.0 != 0);
        assert_eq!(core.forcing(), (false, 0));
        core.start(S1).unwrap().unwrap();
        core.crash().unwrap();
        assert_eq!(core.forcing(), (false, 0));
        assert_eq!(core.fpi_phase().unwrap(), 0);
    }
}
