//! The scenarios. Each runs on the server and through the core with the same sequence of
//! commands, and adds its rows to the report. They run in a fixed order on one server and
//! one core cluster, the immediate shutdown last but one.

use crate::args::RunArgs;
use crate::core_run::{CoreRun, Started, Stopped};
use crate::error::Error;
use crate::facts::{compare_backups, BackupFacts, CheckpointRecord, EndRecord, SideFacts};
use crate::report::{Report, Verdict};
use crate::server::{checkpoint_redo, wait_program, HeldBackup, ServerError, Session, SqlStop};
use backup_coordinator::action::StepError;
use backup_coordinator::label::{LabelError, LabelKind};
use backup_coordinator::lsn::{record_bytes, Lsn, TimeLineId, WalSegmentSize};
use backup_coordinator::state::{Armed, BackupId, BackupMode, SessionId};
use backup_coordinator::walfile::HistoryFileName;
use std::collections::BTreeSet;
use std::sync::Barrier;

/// How a session vanishes mid-backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vanish {
    /// The client closes its connection (Terminate message).
    CleanDisconnect,
    /// The client process is killed with SIGKILL: the socket closes without a word.
    ClientKilled,
    /// `pg_terminate_backend(pid)`: FATAL in the backend.
    Terminated,
    /// `pg_ctl stop -m immediate`, then a restart with crash recovery.
    ImmediateShutdown,
}

impl Vanish {
    fn scenario(self) -> &'static str {
        match self {
            Vanish::CleanDisconnect => "vanish: disconnect",
            Vanish::ClientKilled => "vanish: client killed",
            Vanish::Terminated => "vanish: terminated",
            Vanish::ImmediateShutdown => "vanish: immediate stop",
        }
    }
}

/// Maps PostgreSQL's message for a refused backup command to the core's error for it.
/// `label_bytes` is the length of the label that was sent (the message does not repeat it).
pub fn classify(error: &ServerError, label_bytes: usize) -> Option<StepError> {
    match error.message.as_str() {
        "a backup is already in progress in this session" => {
            Some(StepError::BackupInProgressInSession)
        }
        // 15+ says "backup is not in progress"; 9.x-14 said "a backup is not in progress".
        "backup is not in progress" | "a backup is not in progress" => {
            Some(StepError::NotInProgress)
        }
        "a backup is already in progress" => Some(StepError::BackupInProgress),
        "canceling statement due to user request" => Some(StepError::Cancelled),
        "recovery is in progress" => Some(StepError::RecoveryInProgress),
        // 17+ quote the setting's name.
        "WAL generated with full_page_writes=off was replayed since last restartpoint"
        | "WAL generated with \"full_page_writes=off\" was replayed since last restartpoint" => {
            Some(StepError::FpwOffReplayed)
        }
        "WAL generated with full_page_writes=off was replayed during online backup"
        | "WAL generated with \"full_page_writes=off\" was replayed during online backup" => {
            Some(StepError::FpwOffReplayedDuringBackup)
        }
        "exclusive backup not in progress" => Some(StepError::ExclusiveNotInProgress),
        "non-exclusive backup is not in progress" => Some(StepError::NonExclusiveNotInProgress),
        "non-exclusive backup in progress" => Some(StepError::NonExclusiveInProgress),
        m if m.starts_with("backup label too long") => {
            Some(StepError::Label(LabelError::TooLong { bytes: label_bytes }))
        }
        _ => None,
    }
}

/// The suite: the server, the core, and the report they fill.
pub struct Suite<'a> {
    args: &'a RunArgs,
    core: CoreRun,
    mon: Session,
    /// The report.
    pub report: Report,
    seg: WalSegmentSize,
    timeline: TimeLineId,
    tables: u32,
    /// Start points handed out so far (core, server).
    starts: (Vec<Lsn>, Vec<Lsn>),
    /// Start points of the server's backups that stopped (their history files are archived).
    server_stopped: Vec<Lsn>,
    /// Lengths of the server's page-change records seen in the image phases: (image, bytes).
    page_changes: BTreeSet<(bool, u32)>,
    /// The core's backups that stopped.
    core_stopped: Vec<BackupId>,
    /// The server's insert position when the suite began: history files of earlier backups
    /// (the standby's own base backup) are not the suite's.
    suite_from: Lsn,
}

/// Sets up how `mon` reads WAL back: 14 has no pg_walinspect, so its WAL is read with its own
/// pg_waldump; 15+ load pg_walinspect.
fn read_wal_with_its_reader(
    mon: &mut Session,
    args: &RunArgs,
    seg: WalSegmentSize,
) -> Result<(), Error> {
    if mon.major < 15 {
        mon.use_waldump(&args.server.bindir, &args.server.pgdata, seg);
        Ok(())
    } else {
        mon.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
    }
}

/// The design of a PostgreSQL major version's era: 9.6-14's, 15's, 16's, or 17's (17 and 18,
/// which add incremental backups to 16's coordinator).
pub fn design_of(major: u32) -> Option<backup_coordinator::Design> {
    use backup_coordinator::Design;
    match major {
        10..=14 => Some(Design::Pg96),
        15 => Some(Design::Pg15),
        16 => Some(Design::Pg16),
        17..=18 => Some(Design::Pg17),
        _ => None,
    }
}

fn sql(i: u8) -> SessionId {
    SessionId(i)
}

impl<'a> Suite<'a> {
    /// Connects, loads pg_walinspect, and builds a core cluster with the server's WAL
    /// segment size.
    pub fn new(args: &'a RunArgs) -> Result<Self, Error> {
        let mut mon = args.server.connect("conformance-monitor")?;
        let version = mon.text("SELECT version()", &[])?;
        let seg_text = mon.text(
            "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'",
            &[],
        )?;
        let seg_bytes: u64 = seg_text
            .parse()
            .map_err(|_| Error::Unexpected(format!("wal_segment_size {seg_text:?}")))?;
        let seg = WalSegmentSize::new(seg_bytes)
            .map_err(|e| Error::Unexpected(format!("wal_segment_size: {e}")))?;
        let fpw = mon.text("SHOW full_page_writes", &[])?;
        if fpw != "off" {
            return Err(Error::Unexpected(format!(
                "full_page_writes is {fpw}; the suite needs it off"
            )));
        }
        read_wal_with_its_reader(&mut mon, args, seg)?;
        let design = design_of(mon.major).ok_or_else(|| {
            Error::Unexpected(format!(
                "PostgreSQL {}: no design of its era (the suite runs 14 to 18)",
                mon.major
            ))
        })?;
        let sql_sessions = args.sessions.max(2);
        let core = CoreRun::new(design, sql_sessions, 3, args.pages, seg)?;
        let suite_from = mon.insert_lsn()?;
        let timeline = core.cluster.config.timeline;
        let report = Report {
            server_version: version,
            major: mon.major,
            wal_reader: mon.wal_reader(),
            core_design: core.cluster.variant.to_string(),
            pages: args.pages,
            sessions: args.sessions,
            ..Report::default()
        };
        Ok(Suite {
            args,
            core,
            mon,
            report,
            seg,
            timeline,
            tables: 0,
            starts: (Vec::new(), Vec::new()),
            server_stopped: Vec::new(),
            core_stopped: Vec::new(),
            page_changes: BTreeSet::new(),
            suite_from,
        })
    }

    fn walsender(&self, i: u8) -> SessionId {
        SessionId(self.core.cluster.config.sql_sessions + i)
    }

    /// Runs every scenario.
    pub fn run(mut self) -> Result<Report, Error> {
        self.two_sql_backups()?;
        self.standby()?;
        self.three_base_backups()?;
        self.simultaneous_starts()?;
        self.session_rules()?;
        for vanish in [
            Vanish::CleanDisconnect,
            Vanish::ClientKilled,
            Vanish::Terminated,
            Vanish::ImmediateShutdown,
        ] {
            self.vanishing_session(vanish)?;
        }
        self.stop_at_segment_boundary()?;
        self.terminated_in_start_wait()?;
        if self.core.cluster.rules().has_exclusive() {
            self.exclusive_backups()?;
        }
        self.archive()?;
        // After the archive rows, which count every history file archived: its two backups
        // (a full one and an incremental one) add theirs.
        if self.mon.major >= 17 {
            crate::summaries::wal_summaries(
                &mut self.mon,
                &self.args.server,
                self.seg,
                &mut self.report,
            )?;
        }
        // After the archive rows: its backup's history file is archived only later.
        self.archiving_fails()?;
        self.archiving_off()?;
        self.page_change_sizes();
        // It promotes the suite's standby.
        if self.mon.major >= 17 {
            crate::summaries::promotion_inside_a_segment(
                &mut self.mon,
                &self.args.server,
                self.seg,
                &mut self.report,
            )?;
        }
        // Last: it leaves a server that refuses to start.
        if self.core.cluster.rules().has_exclusive() {
            self.restart_refused_after_recycled_label_checkpoint()?;
        }
        Ok(self.report)
    }

    // ----- full-page images -----

    /// On the server: a fresh table with one row on each of N pages, a CHECKPOINT, one
    /// update per page (by ctid, so no other page is read or pruned), then the records with a
    /// full-page image between the checkpoint and the last commit. Through the core: the
    /// same writes. One row.
    fn fpi_phase(&mut self, scenario: &str, when: &str) -> Result<(), Error> {
        let core_images = self.core.fpi_phase()?;
        let (forcing, counter) = self.core.forcing();
        self.tables += 1;
        let table = format!("fpi_{}", self.tables);
        let pages = u32::from(self.args.pages);
        self.mon.execute(&format!(
            "CREATE TABLE {table} (id int, pad text) WITH (fillfactor = 10, autovacuum_enabled = off); \
             INSERT INTO {table} SELECT g, repeat('x', 1000) FROM generate_series(1, {pages}) g"
        ))?;
        let ctids = self
            .mon
            .texts(&format!("SELECT ctid::text FROM {table} ORDER BY id"))?;
        let expected: Vec<String> = (0..pages).map(|p| format!("({p},1)")).collect();
        if ctids != expected {
            return Err(Error::Unexpected(format!(
                "{table} should hold one row per page, found rows at {ctids:?}"
            )));
        }
        let filenode = self.mon.text(
            &format!("SELECT pg_relation_filenode('{table}')::text"),
            &[],
        )?;
        self.mon.execute("CHECKPOINT")?;
        let from = self.mon.insert_lsn()?;
        for ctid in &expected {
            self.mon
                .execute(&format!("UPDATE {table} SET id = id WHERE ctid = '{ctid}'"))?;
        }
        let to = self.mon.flush_lsn()?;
        let records = self.mon.wal_records(from, to)?;
        let marker = format!("/{filenode} ");
        let on_table = |r: &crate::server::WalRecord| r.block_ref.contains(&marker);
        let changes = records.iter().filter(|r| on_table(r)).count();
        if changes < expected.len() {
            return Err(Error::Unexpected(format!(
                "the WAL from {from} to {to} holds {changes} changes of {table}, not {}",
                expected.len()
            )));
        }
        self.page_changes.extend(
            records
                .iter()
                .filter(|r| on_table(r))
                .map(|r| (r.fpi_length > 0, r.length)),
        );
        let imaged: Vec<_> = records.iter().filter(|r| r.fpi_length > 0).collect();
        let imaged_on_table = imaged.iter().filter(|r| on_table(r)).count();
        let details = vec![
            format!(
                "core: forcePageWrites {} with {counter} backup(s) counted",
                if forcing { "on" } else { "off" }
            ),
            format!(
                "server: {} records from {from} to {to}, {changes} of them changes of {table}; \
                 {} with an image, {imaged_on_table} of them on {table}'s pages",
                records.len(),
                imaged.len()
            ),
        ];
        self.report.compare(
            scenario,
            &format!("full-page images, {pages} pages changed: {when}"),
            format!("{core_images} images"),
            format!("{} images", imaged.len()),
            details,
        );
        Ok(())
    }

    // ----- facts -----

    /// The core's account of its stopped backups and of the end records written since
    /// `end_records_before`.
    fn core_facts(
        &self,
        stopped: &[(String, Started, Stopped)],
        end_records_before: usize,
    ) -> SideFacts {
        let mut side = SideFacts::default();
        for (name, started, stop) in stopped {
            side.backups.push(BackupFacts {
                name: name.clone(),
                given_label: self.core.label_of(started.backup).unwrap_or_default(),
                start: started.start,
                stop: Some(stop.stop),
                label_file: self.core.label_text(started.backup).unwrap_or_default(),
                history: self.core.history(started.backup),
            });
        }
        side.end_records = self
            .core
            .end_records()
            .into_iter()
            .skip(end_records_before)
            .map(|(at, end, start)| EndRecord {
                at,
                end,
                length: record_bytes::BACKUP_END as u32,
                carries: start.to_string(),
            })
            .collect();
        for b in &side.backups {
            if let Some(checkpoint) = self.core.checkpoint_of(b.start) {
                side.checkpoints.insert(
                    checkpoint,
                    CheckpointRecord {
                        redo: self.core.checkpoints.get(&checkpoint).copied(),
                        length: record_bytes::CHECKPOINT as u32,
                    },
                );
            }
        }
        side
    }

    /// The server's account: end records between `from` and now, the checkpoint records the
    /// labels name, and the archived history file of each backup.
    fn server_facts(
        &mut self,
        mut backups: Vec<BackupFacts>,
        from: Lsn,
    ) -> Result<SideFacts, Error> {
        let starts: Vec<Lsn> = backups.iter().map(|b| b.start).collect();
        // A history file that never arrives shows as "no history file" in the rows.
        let _all_archived = self.args.server.wait_for_history_files(&starts)?;
        let archived = self.args.server.archived_history_files()?;
        for b in &mut backups {
            let line = format!("START WAL LOCATION: {} ", b.start);
            b.history = archived
                .iter()
                .find(|(_, text)| text.starts_with(&line))
                .cloned();
        }
        let to = self.mon.flush_lsn()?;
        let end_records = self
            .mon
            .wal_records(from, to)?
            .into_iter()
            .filter(|r| r.rmgr == "XLOG" && r.kind == "BACKUP_END")
            .map(|r| EndRecord {
                at: r.start,
                end: r.end,
                length: r.length,
                carries: r.description,
            })
            .collect();
        let mut checkpoints = std::collections::BTreeMap::new();
        for b in &backups {
            if let Some(location) = label_checkpoint(&b.label_file) {
                let record = self.mon.wal_record(location)?;
                let redo = if record.kind.starts_with("CHECKPOINT") {
                    checkpoint_redo(&record.description)
                } else {
                    None
                };
                checkpoints.insert(
                    location,
                    CheckpointRecord {
                        redo,
                        length: record.length,
                    },
                );
            }
        }
        Ok(SideFacts {
            backups,
            end_records,
            checkpoints,
        })
    }

    fn compare(&mut self, scenario: &str, core: &SideFacts, server: &SideFacts, sql: bool) {
        compare_backups(
            &mut self.report,
            scenario,
            core,
            server,
            sql,
            self.timeline,
            self.seg,
        );
        self.server_stopped
            .extend(server.backups.iter().map(|b| b.start));
    }

    fn note_core_stopped(&mut self, stopped: &[(String, Started, Stopped)]) {
        self.core_stopped
            .extend(stopped.iter().map(|(_, started, _)| started.backup));
    }

    fn sql_backup(name: &str, label: &str, start: Lsn, stop: SqlStop) -> BackupFacts {
        BackupFacts {
            name: name.to_string(),
            given_label: label.to_string(),
            start,
            stop: Some(stop.stop),
            label_file: stop.label_file,
            history: None,
        }
    }

    // ----- scenarios -----

    /// Two SQL backups open at once in two sessions, with full-page images counted before,
    /// while both run, while one runs, and after both stopped.
    fn two_sql_backups(&mut self) -> Result<(), Error> {
        const S: &str = "two SQL backups";
        self.fpi_phase(S, "no backup running")?;
        let from = self.mon.insert_lsn()?;
        let ends_before = self.core.end_records().len();

        let a = self.core.start(sql(0))?.map_err(core_refused)?;
        let b = self.core.start(sql(1))?.map_err(core_refused)?;
        let (label_a, label_b) = (self.label(a.backup)?, self.label(b.backup)?);
        let mut session_a = self.args.server.connect("conformance-sql-a")?;
        let mut session_b = self.args.server.connect("conformance-sql-b")?;
        let start_a = session_a.backup_start(&label_a)?.map_err(server_refused)?;
        let start_b = session_b.backup_start(&label_b)?.map_err(server_refused)?;
        self.note_starts(&[a.start, b.start], &[start_a, start_b]);
        self.fpi_phase(S, "A and B running")?;

        let stop_a_core = self.core.stop(sql(0))?.map_err(core_refused)?;
        let stop_a = session_a.backup_stop()?.map_err(server_refused)?;
        self.fpi_phase(S, "A stopped, B running")?;

        let stop_b_core = self.core.stop(sql(1))?.map_err(core_refused)?;
        let stop_b = session_b.backup_stop()?.map_err(server_refused)?;
        self.fpi_phase(S, "A and B stopped")?;
        session_a.close()?;
        session_b.close()?;

        let core_stopped = vec![
            ("A".to_string(), a, stop_a_core),
            ("B".to_string(), b, stop_b_core),
        ];
        self.note_core_stopped(&core_stopped);
        let core = self.core_facts(&core_stopped, ends_before);
        let server = self.server_facts(
            vec![
                Self::sql_backup("A", &label_a, start_a, stop_a),
                Self::sql_backup("B", &label_b, start_b, stop_b),
            ],
            from,
        )?;
        self.compare(S, &core, &server, true);
        Ok(())
    }

    /// Three `pg_basebackup -Ft` at once.
    fn three_base_backups(&mut self) -> Result<(), Error> {
        const S: &str = "three pg_basebackup";
        let from = self.mon.insert_lsn()?;
        let ends_before = self.core.end_records().len();
        let walsenders: Vec<SessionId> = (0..3).map(|i| self.walsender(i)).collect();
        let results = self.core.base_backups(&walsenders)?;
        let mut core_stopped = Vec::new();
        let mut labels = Vec::new();
        for (i, result) in results.into_iter().enumerate() {
            let stop = result.map_err(core_refused)?;
            let started = Started {
                backup: stop.backup,
                start: stop.start,
            };
            labels.push(self.label(stop.backup)?);
            core_stopped.push((format!("bb-{}", i + 1), started, stop));
        }
        let mut children = Vec::new();
        for label in &labels {
            let dir = self.args.server.work_path(label);
            children.push((dir.clone(), self.args.server.spawn_basebackup(label, &dir)?));
        }
        let mut server_backups = Vec::new();
        for (i, ((dir, child), label)) in children.into_iter().zip(&labels).enumerate() {
            wait_program(child, &format!("pg_basebackup -l {label}"))?;
            let text = self.args.server.streamed_label(&dir)?;
            let start = label_start(&text).ok_or_else(|| {
                Error::Unexpected(format!("streamed backup_label without a start: {text:?}"))
            })?;
            let _ = std::fs::remove_dir_all(&dir);
            server_backups.push(BackupFacts {
                name: format!("bb-{}", i + 1),
                given_label: label.clone(),
                start,
                stop: None,
                label_file: text,
                history: None,
            });
        }
        let core_starts: Vec<Lsn> = core_stopped.iter().map(|(_, s, _)| s.start).collect();
        let server_starts: Vec<Lsn> = server_backups.iter().map(|b| b.start).collect();
        self.note_starts(&core_starts, &server_starts);
        self.note_core_stopped(&core_stopped);
        let core = self.core_facts(&core_stopped, ends_before);
        let server = self.server_facts(server_backups, from)?;
        self.compare(S, &core, &server, false);
        Ok(())
    }

    /// K sessions call `pg_backup_start` at the same moment; then all stop at once.
    fn simultaneous_starts(&mut self) -> Result<(), Error> {
        let k = self.args.sessions;
        let scenario = format!("{k} simultaneous starts");
        let from = self.mon.insert_lsn()?;
        let ends_before = self.core.end_records().len();
        let sessions: Vec<SessionId> = (0..k).map(sql).collect();
        let core_started: Vec<Started> = self
            .core
            .start_all(&sessions)?
            .into_iter()
            .map(|r| r.map_err(core_refused))
            .collect::<Result<_, _>>()?;
        let labels: Vec<String> = core_started
            .iter()
            .map(|s| self.label(s.backup))
            .collect::<Result<_, _>>()?;
        let mut server_sessions: Vec<Session> = (0..k)
            .map(|i| {
                self.args
                    .server
                    .connect(&format!("conformance-simultaneous-{i}"))
            })
            .collect::<Result<_, _>>()?;

        let barrier = Barrier::new(usize::from(k));
        let starts: Vec<Result<Lsn, Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = server_sessions
                .iter_mut()
                .zip(&labels)
                .map(|(session, label)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        session.backup_start(label)?.map_err(server_refused)
                    })
                })
                .collect();
            handles.into_iter().map(join).collect()
        });
        let server_starts: Vec<Lsn> = starts.into_iter().collect::<Result<_, _>>()?;
        let core_starts: Vec<Lsn> = core_started.iter().map(|s| s.start).collect();
        self.note_starts(&core_starts, &server_starts);

        let core_stops: Vec<Stopped> = self
            .core
            .stop_all(&sessions)?
            .into_iter()
            .map(|r| r.map_err(core_refused))
            .collect::<Result<_, _>>()?;
        let stops: Vec<Result<SqlStop, Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = server_sessions
                .iter_mut()
                .map(|session| scope.spawn(move || session.backup_stop()?.map_err(server_refused)))
                .collect();
            handles.into_iter().map(join).collect()
        });
        let server_stops: Vec<SqlStop> = stops.into_iter().collect::<Result<_, _>>()?;
        for session in server_sessions {
            session.close()?;
        }

        let core_stopped: Vec<(String, Started, Stopped)> = core_started
            .into_iter()
            .zip(core_stops)
            .enumerate()
            .map(|(i, (started, stop))| (format!("S{i}"), started, stop))
            .collect();
        self.note_core_stopped(&core_stopped);
        let server_backups = server_starts
            .iter()
            .zip(server_stops)
            .zip(&labels)
            .enumerate()
            .map(|(i, ((start, stop), label))| {
                Self::sql_backup(&format!("S{i}"), label, *start, stop)
            })
            .collect();
        let core = self.core_facts(&core_stopped, ends_before);
        let server = self.server_facts(server_backups, from)?;
        self.compare(&scenario, &core, &server, true);
        Ok(())
    }

    /// A second start in one session, stops without a start, and the label length rule.
    fn session_rules(&mut self) -> Result<(), Error> {
        const S: &str = "session rules";
        let from = self.mon.insert_lsn()?;
        let ends_before = self.core.end_records().len();
        let mut one = self.args.server.connect("conformance-rules-1")?;
        let mut two = self.args.server.connect("conformance-rules-2")?;

        let core = self.core.stop(sql(1))?.map(|_| ());
        let server = two.backup_stop()?.map(|_| ());
        let (start_fn, stop_fn) = (one.start_function(), one.stop_function());
        self.error_row(
            S,
            &format!("{stop_fn}, no backup anywhere"),
            core,
            server,
            0,
        );

        let first = self.core.start(sql(0))?.map_err(core_refused)?;
        let first_label = self.label(first.backup)?;
        let first_start = one.backup_start(&first_label)?.map_err(server_refused)?;
        self.note_starts(&[first.start], &[first_start]);

        let second_label = "refused-second-start";
        let core = self.core.start(sql(0))?.map(|_| ());
        let server = one.backup_start(second_label)?.map(|_| ());
        self.error_row(
            S,
            &format!("second {start_fn} in one session"),
            core,
            server,
            second_label.len(),
        );

        let core = self.core.stop(sql(1))?.map(|_| ());
        let server = two.backup_stop()?.map(|_| ());
        self.error_row(
            S,
            &format!("{stop_fn} in a session without one, another running"),
            core,
            server,
            0,
        );

        let first_stop_core = self.core.stop(sql(0))?;
        let first_stop = one.backup_stop()?;
        self.report.compare(
            S,
            "the first backup still stops after the refusals",
            outcome(&first_stop_core, "stopped"),
            outcome(&first_stop, "stopped"),
            vec![],
        );
        let first_stop_core = first_stop_core.map_err(core_refused)?;
        let first_stop = first_stop.map_err(server_refused)?;

        let too_long = self.core.next_label_of(LabelKind::TooLong);
        let core = self
            .core
            .start_with(sql(0), LabelKind::TooLong)?
            .map(|_| ());
        let server = one.backup_start(&too_long)?.map(|_| ());
        self.error_row(
            S,
            &format!("{start_fn} with a {}-byte label", too_long.len()),
            core,
            server,
            too_long.len(),
        );

        let longest_label = self.core.next_label_of(LabelKind::Longest);
        let longest = self.core.start_with(sql(0), LabelKind::Longest)?;
        let longest_start = one.backup_start(&longest_label)?;
        self.report.compare(
            S,
            &format!("{start_fn} with a {}-byte label", longest_label.len()),
            outcome(&longest, "started"),
            outcome(&longest_start, "started"),
            vec![],
        );
        let longest = longest.map_err(core_refused)?;
        let longest_start = longest_start.map_err(server_refused)?;
        self.note_starts(&[longest.start], &[longest_start]);
        let longest_stop_core = self.core.stop(sql(0))?.map_err(core_refused)?;
        let longest_stop = one.backup_stop()?.map_err(server_refused)?;
        one.close()?;
        two.close()?;

        let core_stopped = vec![
            ("first".to_string(), first, first_stop_core),
            ("1024-byte".to_string(), longest, longest_stop_core),
        ];
        self.note_core_stopped(&core_stopped);
        let core = self.core_facts(&core_stopped, ends_before);
        let server = self.server_facts(
            vec![
                Self::sql_backup("first", &first_label, first_start, first_stop),
                Self::sql_backup("1024-byte", &longest_label, longest_start, longest_stop),
            ],
            from,
        )?;
        self.compare(S, &core, &server, true);
        Ok(())
    }

    /// A session holding a backup vanishes; forcing must be released and no label left.
    fn vanishing_session(&mut self, vanish: Vanish) -> Result<(), Error> {
        let scenario = vanish.scenario();
        let log_from = self.args.server.log_offset()?;
        let started = self.core.start(sql(0))?.map_err(core_refused)?;
        let label = self.label(started.backup)?;
        let (pid, server_start, held) = match vanish {
            Vanish::ClientKilled => {
                let held = HeldBackup::spawn(&self.args.server, &label)?;
                (held.pid, held.start, Held::Process(held))
            }
            _ => {
                let mut session = self.args.server.connect("conformance-vanishing")?;
                let start = session.backup_start(&label)?.map_err(server_refused)?;
                (session.pid, start, Held::Session(Box::new(session)))
            }
        };
        self.note_starts(&[started.start], &[server_start]);
        self.fpi_phase(scenario, "while its backup runs")?;

        let counted_before = self.core.forcing().1;
        let core_aborted = match vanish {
            Vanish::ImmediateShutdown => {
                self.core.crash()?;
                false
            }
            _ => {
                let cleanups = self.core.disconnect(sql(0))?;
                cleanups.0 & Armed::EXIT_HOOK.0 != 0 && self.core.forcing().1 == counted_before - 1
            }
        };
        match (vanish, held) {
            (Vanish::CleanDisconnect, Held::Session(session)) => {
                session.close()?;
                self.mon.wait_backend_gone(pid)?;
            }
            (Vanish::ClientKilled, Held::Process(held)) => {
                held.kill()?;
                self.mon.wait_backend_gone(pid)?;
            }
            (Vanish::Terminated, Held::Session(session)) => {
                if !self.mon.terminate(pid)? {
                    return Err(Error::Timeout {
                        what: format!("pg_terminate_backend({pid})"),
                        seconds: 10,
                    });
                }
                self.mon.wait_backend_gone(pid)?;
                session.abandon();
            }
            (Vanish::ImmediateShutdown, Held::Session(session)) => {
                self.args.server.stop_immediate()?;
                session.abandon();
                self.args.server.start()?;
                let mut fresh = self.args.server.connect("conformance-monitor")?;
                read_wal_with_its_reader(&mut fresh, self.args, self.seg)?;
                std::mem::replace(&mut self.mon, fresh).abandon();
            }
            (vanish, _) => {
                return Err(Error::Unexpected(format!(
                    "no way to make {vanish:?} happen"
                )))
            }
        }
        let server_aborted = self.args.server.logged_abort_at_exit(pid, log_from)?;
        let word = |aborted: bool| {
            if aborted {
                "aborted at exit"
            } else {
                "not aborted at exit"
            }
        };
        self.report.compare(
            scenario,
            "the backup's exit cleanup",
            word(core_aborted),
            word(server_aborted),
            vec![format!(
                "server: backend {pid}; looked for its WARNING \"aborting backup due to backend exiting before pg_backup_stop was called\""
            )],
        );
        self.fpi_phase(scenario, "after the session vanished")?;
        self.label_file_row(scenario, "backup_label in the data directory")?;

        if vanish == Vanish::ImmediateShutdown {
            self.after_restart()?;
        }
        Ok(())
    }

    /// After the restart: a new backup's start point lies beyond every earlier one, and it
    /// stops with its own end record and history file.
    fn after_restart(&mut self) -> Result<(), Error> {
        const S: &str = "after restart";
        let from = self.mon.insert_lsn()?;
        let ends_before = self.core.end_records().len();
        let started = self.core.start(sql(1))?.map_err(core_refused)?;
        let label = self.label(started.backup)?;
        let mut session = self.args.server.connect("conformance-after-restart")?;
        let start = session.backup_start(&label)?.map_err(server_refused)?;
        let beyond = |earlier: &[Lsn], start: Lsn| {
            let later = earlier.iter().all(|&e| start > e);
            format!(
                "{} all {} earlier start points",
                if later { "beyond" } else { "NOT beyond" },
                earlier.len()
            )
        };
        let (core_earlier, server_earlier) = self.starts.clone();
        self.report.compare(
            S,
            "first start point after the restart",
            beyond(&core_earlier, started.start),
            beyond(&server_earlier, start),
            vec![format!("core: {}; server: {start}", started.start)],
        );
        self.note_starts(&[started.start], &[start]);
        let stop_core = self.core.stop(sql(1))?.map_err(core_refused)?;
        session.take_notices();
        // The archiver has caught up before the stop, as the core's archiver always has.
        self.wait_archiver_idle()?;
        let stop = session.backup_stop()?.map_err(server_refused)?;
        let waits = self
            .core
            .cluster
            .stop_waits_for_archiving(BackupMode::NonExclusive);
        let what = format!("{} on the primary", session.stop_function());
        self.archiving_notice_row_for(S, &what, waits, &session);
        session.close()?;
        let core_in_pg_wal = self.core.history_in_pg_wal();
        self.pg_wal_history_row(
            S,
            &format!("after {what}"),
            &core_in_pg_wal,
            &[(started.start, start, "this backup's")],
        )?;
        let core_stopped = vec![("R".to_string(), started, stop_core)];
        self.note_core_stopped(&core_stopped);
        let core = self.core_facts(&core_stopped, ends_before);
        let server = self.server_facts(vec![Self::sql_backup("R", &label, start, stop)], from)?;
        self.compare(S, &core, &server, true);
        Ok(())
    }

    /// 9.6-14's exclusive backup (`pg_start_backup(label, true)`, its `backup_label` in the
    /// data directory) beside a non-exclusive one: one exclusive backup at a time, both kinds
    /// at once, each stop refused in the session of the other kind, the exclusive stop's
    /// errors, and the facts of both backups.
    fn exclusive_backups(&mut self) -> Result<(), Error> {
        const S: &str = "exclusive backup";
        let from = self.mon.insert_lsn()?;
        let ends_before = self.core.end_records().len();
        let mut x = self.args.server.connect("conformance-exclusive-x")?;
        let mut y = self.args.server.connect("conformance-exclusive-y")?;

        let core = self.core.stop_exclusive(sql(1))?.map(|_| ());
        let server = y.exclusive_stop()?.map(|_| ());
        self.error_row(S, "exclusive pg_stop_backup, none running", core, server, 0);

        let ex = self.core.start_exclusive(sql(0))?.map_err(core_refused)?;
        let ex_label = self.label(ex.backup)?;
        let ex_start = x.exclusive_start(&ex_label)?.map_err(server_refused)?;
        self.note_starts(&[ex.start], &[ex_start]);
        self.label_file_row(S, "backup_label in the data directory while it runs")?;
        let ex_label_file = self.args.server.backup_label_text()?;

        let second = "refused-second-exclusive";
        let core = self.core.start_exclusive(sql(1))?.map(|_| ());
        let server = y.exclusive_start(second)?.map(|_| ());
        self.error_row(
            S,
            "a second exclusive pg_start_backup",
            core,
            server,
            second.len(),
        );

        let nx = self.core.start(sql(1))?;
        let nx_label = self.core.next_label_of(LabelKind::Plain);
        let nx_label = match &nx {
            Ok(started) => self.label(started.backup)?,
            Err(_) => nx_label,
        };
        let nx_start = y.backup_start(&nx_label)?;
        self.report.compare(
            S,
            "a non-exclusive backup while the exclusive one runs",
            outcome(&nx, "started"),
            outcome(&nx_start, "started"),
            vec![],
        );
        let nx = nx.map_err(core_refused)?;
        let nx_start = nx_start.map_err(server_refused)?;
        self.note_starts(&[nx.start], &[nx_start]);

        let core = self.core.stop_exclusive(sql(1))?.map(|_| ());
        let server = y.exclusive_stop()?.map(|_| ());
        self.error_row(
            S,
            "exclusive pg_stop_backup in the non-exclusive backup's session",
            core,
            server,
            0,
        );
        let core = self.core.stop(sql(0))?.map(|_| ());
        let server = x.backup_stop()?.map(|_| ());
        self.error_row(
            S,
            "pg_stop_backup(false) in the exclusive backup's session",
            core,
            server,
            0,
        );

        let nx_stop_core = self.core.stop(sql(1))?.map_err(core_refused)?;
        let nx_stop = y.backup_stop()?.map_err(server_refused)?;
        let ex_stop_core = self.core.stop_exclusive(sql(0))?.map_err(core_refused)?;
        let ex_stop = x.exclusive_stop()?.map_err(server_refused)?;
        self.label_file_row(S, "backup_label in the data directory after the stop")?;
        let core = self.core.stop_exclusive(sql(0))?.map(|_| ());
        let server = x.exclusive_stop()?.map(|_| ());
        self.error_row(S, "exclusive pg_stop_backup again", core, server, 0);
        x.close()?;
        y.close()?;

        let core_stopped = vec![
            ("exclusive".to_string(), ex, ex_stop_core),
            ("non-exclusive".to_string(), nx, nx_stop_core),
        ];
        self.note_core_stopped(&core_stopped);
        let core = self.core_facts(&core_stopped, ends_before);
        let server = self.server_facts(
            vec![
                BackupFacts {
                    name: "exclusive".to_string(),
                    given_label: ex_label,
                    start: ex_start,
                    stop: Some(ex_stop),
                    label_file: ex_label_file,
                    history: None,
                },
                Self::sql_backup("non-exclusive", &nx_label, nx_start, nx_stop),
            ],
            from,
        )?;
        self.compare(S, &core, &server, true);
        Ok(())
    }

    /// 9.6-14's documented flaw of exclusive backups (the reason 15 removed them): a crash
    /// during an exclusive backup, after later checkpoints removed or recycled the WAL segment
    /// holding the checkpoint its `backup_label` names, leaves a server that refuses to start.
    /// The suite's `wal_keep_size` keeps every segment, so it is set to 0 first; then the
    /// exclusive backup starts, WAL is switched (and archived) and one checkpoint taken, and
    /// a backend is killed. The core runs the same steps under its 11+ retention rule (a
    /// checkpoint removes the segments before its own redo's).
    fn restart_refused_after_recycled_label_checkpoint(&mut self) -> Result<(), Error> {
        const S: &str = "restart refused";
        self.mon.execute("ALTER SYSTEM SET wal_keep_size = 0")?;
        self.mon.execute("SELECT pg_reload_conf()")?;
        std::thread::sleep(std::time::Duration::from_millis(300));
        let started = self.core.start_exclusive(sql(0))?.map_err(core_refused)?;
        let label = self.label(started.backup)?;
        let mut x = self.args.server.connect("conformance-refused-x")?;
        let start = x.exclusive_start(&label)?.map_err(server_refused)?;
        let label_text = self.args.server.backup_label_text()?;
        let checkpoint = label_checkpoint(&label_text).ok_or_else(|| {
            Error::Unexpected(format!(
                "backup_label has no CHECKPOINT LOCATION: {label_text:?}"
            ))
        })?;
        let checkpoint_file = backup_coordinator::walfile::WalFileName::containing(
            self.timeline,
            checkpoint,
            self.seg,
        )
        .to_string();
        // One WAL switch and one checkpoint: under 11+'s rule that checkpoint's redo, in the
        // next segment, is all that is kept, so the label's segment goes; under 9.6-10's
        // (keep the prior checkpoint's redo) it would stay. The row tells the two apart.
        for _ in 0..1 {
            self.core.switch_wal()?;
            self.core.checkpoint()?;
            let switched = self.mon.lsn("SELECT pg_switch_wal()::text")?;
            let file = self.mon.text(
                "SELECT pg_walfile_name($1::text::pg_lsn)",
                &[&switched.to_string()],
            )?;
            self.wait_archived(&file)?;
            self.mon.execute("CHECKPOINT")?;
        }
        let gone = |yes: bool| {
            if yes {
                "removed or recycled"
            } else {
                "still in pg_wal"
            }
            .to_string()
        };
        let server_gone = !self
            .args
            .server
            .pgdata
            .join("pg_wal")
            .join(&checkpoint_file)
            .exists();
        self.report.compare(
            S,
            "the label's checkpoint segment after one more checkpoint",
            gone(self.core.label_checkpoint_recycled().unwrap_or(false)),
            gone(server_gone),
            vec![format!(
                "server: backup_label names checkpoint {checkpoint} (start {start}) in {checkpoint_file}"
            )],
        );
        // A crash, not `pg_ctl stop -m immediate`: up to 14 the postmaster's orderly exit on
        // an immediate stop cancels the exclusive backup (backup_label is renamed, "online
        // backup mode canceled"), so the restart would succeed. A backend killed with SIGKILL
        // makes the postmaster reinitialize and run crash recovery with backup_label present.
        let log_from = self.args.server.log_offset()?;
        let refused_core = self.core.crash_and_restart()?;
        self.args.server.kill_backend(x.pid)?;
        x.abandon();
        let postmaster_gone = self.args.server.wait_postmaster_exit()?;
        let refusal = self.args.server.log_lines_since(log_from, "FATAL:")?;
        let outcome = |refused: bool| {
            if refused {
                "refuses to start".to_string()
            } else {
                "starts".to_string()
            }
        };
        self.report.compare(
            S,
            "crash recovery after a backend is killed",
            outcome(refused_core.is_some()),
            outcome(postmaster_gone && !refusal.is_empty()),
            vec![
                match refused_core {
                    Some(b) => format!("core: {b}'s backup_label names a recycled checkpoint"),
                    None => "core: started".to_string(),
                },
                format!(
                    "server: {}",
                    refusal.last().map_or("no FATAL logged", String::as_str)
                ),
            ],
        );
        self.label_file_row(S, "backup_label in the data directory after the refusal")
    }

    /// Waits until the server's archiver has nothing left to archive.
    fn wait_archiver_idle(&mut self) -> Result<(), Error> {
        if self.mon.wait_archiver_idle()? {
            Ok(())
        } else {
            Err(Error::Unexpected(format!(
                "the archiver still had files to archive after {:?}",
                crate::server::WAIT
            )))
        }
    }

    /// Which backups' history files `pg_wal` holds after `what`: the core's account
    /// (`core`: the start points of the history files it has there) against the server's
    /// `pg_wal` (`pg_ls_waldir()`). Each file is named by the backup whose start point its
    /// name carries (`named`: core start, server start, name), any other as an older one.
    fn pg_wal_history_row(
        &mut self,
        scenario: &str,
        what: &str,
        core: &[Lsn],
        named: &[(Lsn, Lsn, &str)],
    ) -> Result<(), Error> {
        let seg = self.seg;
        let describe = |names: Vec<&str>| {
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        let core_names: Vec<&str> = core
            .iter()
            .map(|&start| {
                named
                    .iter()
                    .find(|n| n.0 == start)
                    .map_or("an older backup's", |n| n.2)
            })
            .collect();
        let server_files = self.mon.history_files_in_pg_wal()?;
        let server_names: Vec<&str> = server_files
            .iter()
            .map(|name| {
                let start = HistoryFileName::parse(name, seg).ok().map(|n| n.start(seg));
                named
                    .iter()
                    .find(|n| Some(n.1) == start)
                    .map_or("an older backup's", |n| n.2)
            })
            .collect();
        let detail = vec![format!(
            "server pg_wal: {}",
            if server_files.is_empty() {
                "no history file".to_string()
            } else {
                server_files.join(", ")
            }
        )];
        self.report.compare(
            scenario,
            &format!("history files in pg_wal {what} (CleanupBackupHistory)"),
            describe(core_names),
            describe(server_names),
            detail,
        );
        Ok(())
    }

    /// Waits until the archiver has archived WAL segment `file`.
    fn wait_archived(&mut self, file: &str) -> Result<(), Error> {
        let deadline = std::time::Instant::now() + crate::server::WAIT;
        loop {
            let done = self.mon.text(
                "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
                &[],
            )?;
            if done.as_str() >= file {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::Unexpected(format!(
                    "{file} was not archived within {:?} (last archived: {done:?})",
                    crate::server::WAIT
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Whether an SQL stop that just returned on `session` gave the NOTICE that WAL archiving
    /// is not enabled, against the core's rule (`Cluster::stop_waits_for_archiving`: a stop
    /// that does not wait says so).
    fn archiving_notice_row(
        &mut self,
        scenario: &str,
        what: &str,
        core: &CoreRun,
        session: &Session,
    ) {
        let waits = core
            .cluster
            .stop_waits_for_archiving(BackupMode::NonExclusive);
        self.archiving_notice_row_for(scenario, what, waits, session);
    }

    fn archiving_notice_row_for(
        &mut self,
        scenario: &str,
        what: &str,
        core_waits: bool,
        session: &Session,
    ) {
        let noticed = |yes: bool| {
            if yes {
                "NOTICE: WAL archiving is not enabled".to_string()
            } else {
                "no NOTICE".to_string()
            }
        };
        let notices = session.take_notices();
        let server = notices
            .iter()
            .any(|n| n.starts_with("WAL archiving is not enabled"));
        self.report.compare(
            scenario,
            &format!("{what}: archiving's NOTICE"),
            noticed(!core_waits),
            noticed(server),
            notices
                .iter()
                .map(|n| format!("server NOTICE: {n}"))
                .collect(),
        );
    }

    /// Backups on a streaming standby of the server (when the script started one). The suite's
    /// primary writes WAL with `full_page_writes=off`, which every checkpoint record says: the
    /// standby refuses a start once it has read its restartpoint. Then the primary turns
    /// `full_page_writes` on and checkpoints; once the standby has replayed that, a backup
    /// on it starts and stops, and its label says `BACKUP FROM: standby`. The core runs a
    /// standby cluster of each kind (`Config::standby`).
    fn standby(&mut self) -> Result<(), Error> {
        const S: &str = "standby";
        let Some(mut standby) = self.args.server.connect_standby("conformance-standby")? else {
            return Ok(());
        };
        let design = self.core.cluster.variant.design;
        let start_fn = standby.start_function();
        let mut core_off = CoreRun::new_standby(design, self.seg, false)?;
        let label = core_off.next_label_of(LabelKind::Plain);
        let core = core_off.start(sql(0))?.map(|_| ());
        let server = standby.backup_start(&label)?.map(|_| ());
        self.error_row(
            S,
            &format!("{start_fn} while the primary writes with full_page_writes=off"),
            core,
            server,
            label.len(),
        );
        if core_off.cluster.rules().has_exclusive() {
            let label = core_off.next_label_of(LabelKind::Plain);
            let core = core_off.start_exclusive(sql(0))?.map(|_| ());
            let server = standby.exclusive_start(&label)?.map(|_| ());
            self.error_row(
                S,
                "an exclusive pg_start_backup on a standby",
                core,
                server,
                label.len(),
            );
        }

        self.mon.execute("ALTER SYSTEM SET full_page_writes = on")?;
        self.mon.execute("SELECT pg_reload_conf()")?;
        std::thread::sleep(std::time::Duration::from_millis(300));
        self.mon.execute("CHECKPOINT")?;
        self.wait_standby_replayed(&mut standby)?;
        let mut core_on = CoreRun::new_standby(design, self.seg, true)?;
        let started = core_on.start(sql(0))?;
        let label = match &started {
            Ok(s) => core_on.label_of(s.backup).unwrap_or_default(),
            Err(_) => core_on.next_label_of(LabelKind::Plain),
        };
        let server_start = standby.backup_start(&label)?;
        self.report.compare(
            S,
            &format!("{start_fn} once full_page_writes is on again and replayed"),
            outcome(&started, "started"),
            outcome(&server_start, "started"),
            vec![],
        );
        if let (Ok(started), Ok(_)) = (&started, &server_start) {
            let stop_core = core_on.stop(sql(0))?;
            standby.take_notices();
            let stop = standby.backup_stop()?;
            self.archiving_notice_row(
                S,
                &format!("{} on the standby", standby.stop_function()),
                &core_on,
                &standby,
            );
            self.report.compare(
                S,
                &format!("{} on the standby", standby.stop_function()),
                outcome(&stop_core, "stopped"),
                outcome(&stop, "stopped"),
                vec![],
            );
            if let (Ok(_), Ok(stop)) = (stop_core, stop) {
                let shape = |text: &str| match backup_coordinator::label::BackupLabel::parse(
                    text, self.seg,
                ) {
                    Ok(parsed) => crate::facts::label_shape(&parsed, &label, text, self.seg),
                    Err(e) => format!("does not parse: {e}"),
                };
                let core_text = core_on.label_text(started.backup).unwrap_or_default();
                self.report.compare(
                    S,
                    "the standby backup's backup_label lines and fields",
                    shape(&core_text),
                    shape(&stop.label_file),
                    vec![],
                );
            }
        }
        // A backup running while the primary turns full_page_writes off again (the suite's
        // setting): the standby replays the XLOG_FPW_CHANGE, and the stop refuses.
        let across = core_on.start(sql(0))?;
        let label = match &across {
            Ok(s) => core_on.label_of(s.backup).unwrap_or_default(),
            Err(_) => core_on.next_label_of(LabelKind::Plain),
        };
        let server_across = standby.backup_start(&label)?;
        self.report.compare(
            S,
            &format!("{start_fn} before the primary turns full_page_writes off"),
            outcome(&across, "started"),
            outcome(&server_across, "started"),
            vec![],
        );
        self.mon.execute("ALTER SYSTEM RESET full_page_writes")?;
        self.mon.execute("SELECT pg_reload_conf()")?;
        std::thread::sleep(std::time::Duration::from_millis(300));
        // The checkpointer logs the change (XLOG_FPW_CHANGE) when it takes the reload, before
        // it runs this checkpoint.
        self.mon.execute("CHECKPOINT")?;
        self.wait_standby_replayed(&mut standby)?;
        core_on.primary_fpw_off()?;
        if across.is_ok() && server_across.is_ok() {
            let stop_fn = standby.stop_function();
            let core = core_on.stop(sql(0))?.map(|_| ());
            let server = standby.backup_stop()?.map(|_| ());
            self.error_row(
                S,
                &format!("{stop_fn} after full_page_writes=off was replayed during the backup"),
                core,
                server,
                0,
            );
        }
        standby.close()?;
        Ok(())
    }

    /// Waits until the standby has replayed the primary's WAL up to its insert position now.
    fn wait_standby_replayed(&mut self, standby: &mut Session) -> Result<(), Error> {
        let target = self.mon.lsn("SELECT pg_current_wal_lsn()::text")?;
        let deadline = std::time::Instant::now() + crate::server::WAIT;
        loop {
            let replayed = standby.lsn("SELECT pg_last_wal_replay_lsn()::text")?;
            if replayed >= target {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::Unexpected(format!(
                    "the standby replayed up to {replayed}, not {target}, within {:?}",
                    crate::server::WAIT
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// `archive_command` failing (set to `false`): a stop waits for archiving until it is
    /// cancelled; its backup has stopped by then, so a second stop finds none. The core runs
    /// a primary whose archiving fails (`Config::archive_fails`).
    fn archiving_fails(&mut self) -> Result<(), Error> {
        const S: &str = "archiving fails";
        // Everything before is archived first: what stays in pg_wal is this scenario's.
        self.wait_archiver_idle()?;
        self.mon
            .execute("ALTER SYSTEM SET archive_command = 'false'")?;
        self.mon.execute("SELECT pg_reload_conf()")?;
        std::thread::sleep(std::time::Duration::from_millis(300));
        let design = self.core.cluster.variant.design;
        let mut core = CoreRun::new_archive_failing(design, self.seg)?;
        let started = core.start(sql(0))?.map_err(core_refused)?;
        let label = core.label_of(started.backup).unwrap_or_default();
        let mut session = self.args.server.connect("conformance-archive-fails")?;
        let pid = session.pid;
        let stop_fn = session.stop_function();
        let server_start = session.backup_start(&label)?.map_err(server_refused)?;
        let blocked = core.stop_until_blocked(sql(0))?;
        let (waited, stopped, session) = std::thread::scope(|scope| -> Result<_, Error> {
            let stop = scope.spawn(move || {
                let result = session.backup_stop();
                (result, session)
            });
            let waited = self.mon.wait_for_archive_wait(pid);
            if waited.is_ok() {
                self.mon.cancel(pid)?;
            }
            let (stopped, session) = stop
                .join()
                .map_err(|_| Error::Unexpected("the stopping session panicked".to_string()))?;
            Ok((waited, stopped, session))
        })?;
        let waited = waited?;
        let mut session = session;
        self.report.compare(
            S,
            &format!("{stop_fn} while archive_command fails"),
            match blocked {
                Some(pc) if pc.waits() => "waits for archiving".to_string(),
                Some(pc) => format!("stuck at {}", pc.name()),
                None => "returned".to_string(),
            },
            "waits for archiving".to_string(),
            vec![format!("server: backend {pid}: {waited}")],
        );
        let core_cancel = core.cancel(sql(0))?;
        self.error_row(
            S,
            &format!("{stop_fn} cancelled in that wait"),
            core_cancel,
            stopped?.map(|_| ()),
            0,
        );
        let core_again = core.stop(sql(0))?.map(|_| ());
        let server_again = session.backup_stop()?.map(|_| ());
        self.error_row(S, &format!("{stop_fn} again"), core_again, server_again, 0);
        let mut named = vec![(started.start, server_start, "the cancelled stop's")];
        self.pg_wal_history_row(
            S,
            "after the cancelled stop",
            &core.history_in_pg_wal(),
            &named,
        )?;
        // pg_basebackup -X fetch (and -X stream) sends BASE_BACKUP with NOWAIT: it does not
        // wait for archiving, and neither does the core's BASE_BACKUP.
        if let Some((core_start, server_start)) = self.streamed_backup_row(
            S,
            &mut core,
            "archive-fails-base",
            "pg_basebackup -X fetch (BASE_BACKUP NOWAIT) while archive_command fails",
        )? {
            named.push((core_start, server_start, "the streamed backup's"));
        }
        self.pg_wal_history_row(S, "after pg_basebackup", &core.history_in_pg_wal(), &named)?;
        session.close()?;
        self.mon.execute("ALTER SYSTEM RESET archive_command")?;
        self.mon.execute("SELECT pg_reload_conf()")?;
        Ok(())
    }

    /// `archive_mode = off` (it takes a restart): an SQL stop does not wait for archiving and
    /// says so with a NOTICE, and every stop's `CleanupBackupHistory` removes every history
    /// file from `pg_wal`, its own included; the same after a streamed backup. The core runs
    /// a primary with `archive_mode` off; the main run restarts cleanly beside the server,
    /// before and after.
    fn archiving_off(&mut self) -> Result<(), Error> {
        const S: &str = "archiving off";
        self.wait_archiver_idle()?;
        self.mon.execute("ALTER SYSTEM SET archive_mode = off")?;
        self.restart_cleanly()?;
        let design = self.core.cluster.variant.design;
        let mut core = CoreRun::new_archive_off(design, self.seg)?;
        let started = core.start(sql(0))?.map_err(core_refused)?;
        let label = core.label_of(started.backup).unwrap_or_default();
        let mut session = self.args.server.connect("conformance-archive-off")?;
        let server_start = session.backup_start(&label)?.map_err(server_refused)?;
        let core_stop = core.stop(sql(0))?;
        session.take_notices();
        let server_stop = session.backup_stop()?;
        let what = format!("{} with archive_mode off", session.stop_function());
        self.report.compare(
            S,
            &what,
            outcome(&core_stop, "returns"),
            outcome(&server_stop, "returns"),
            vec![],
        );
        self.archiving_notice_row(S, &what, &core, &session);
        session.close()?;
        let mut named = vec![(started.start, server_start, "the SQL backup's")];
        self.pg_wal_history_row(
            S,
            &format!("after {what}"),
            &core.history_in_pg_wal(),
            &named,
        )?;
        if let Some((core_start, server_start)) = self.streamed_backup_row(
            S,
            &mut core,
            "archive-off-base",
            "pg_basebackup with archive_mode off",
        )? {
            named.push((core_start, server_start, "the streamed backup's"));
        }
        self.pg_wal_history_row(
            S,
            "after pg_basebackup with archive_mode off",
            &core.history_in_pg_wal(),
            &named,
        )?;
        self.mon.execute("ALTER SYSTEM RESET archive_mode")?;
        self.restart_cleanly()
    }

    /// One `BASE_BACKUP` in `core` (its WAL sender S1) and one `pg_basebackup` (into the work
    /// directory `name`), compared in a row `what` ("completes" or the error); the start
    /// points of the two, core's and server's, when both completed.
    fn streamed_backup_row(
        &mut self,
        scenario: &str,
        core: &mut CoreRun,
        name: &str,
        what: &str,
    ) -> Result<Option<(Lsn, Lsn)>, Error> {
        let core_streamed = core.base_backups(&[SessionId(1)])?.remove(0);
        let dir = self.args.server.work_path(name);
        let child = self.args.server.spawn_basebackup(name, &dir)?;
        let server_streamed = wait_program(child, what);
        self.report.compare(
            scenario,
            what,
            outcome(&core_streamed, "completes"),
            outcome(&server_streamed, "completes"),
            vec![],
        );
        server_streamed?;
        let text = self.args.server.streamed_label(&dir)?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(match (&core_streamed, label_start(&text)) {
            (Ok(core_stopped), Some(server_start)) => Some((core_stopped.start, server_start)),
            _ => None,
        })
    }

    /// `pg_ctl restart -m fast` on the server, beside a fast shutdown and clean start of the
    /// main core run; the monitoring session is opened afresh.
    fn restart_cleanly(&mut self) -> Result<(), Error> {
        self.core.clean_restart()?;
        self.args.server.restart_fast()?;
        let mut fresh = self.args.server.connect("conformance-monitor")?;
        read_wal_with_its_reader(&mut fresh, self.args, self.seg)?;
        std::mem::replace(&mut self.mon, fresh).abandon();
        Ok(())
    }

    /// A backend terminated (`pg_terminate_backend`) while its `pg_backup_start` waits for a
    /// spread checkpoint: the start's own cleanup gives the unit back, and the exit hook finds
    /// nothing to abort, so no "aborting backup" WARNING is logged; forcing is released. The
    /// checkpoint is made slow by dirtying a few thousand buffers first (with
    /// `checkpoint_timeout` at 1 h, a spread checkpoint paces its writes over most of it);
    /// a `CHECKPOINT` then finishes it at once.
    fn terminated_in_start_wait(&mut self) -> Result<(), Error> {
        const S: &str = "terminated in the start's checkpoint wait";
        self.mon.execute(
            "CREATE TABLE slow_checkpoint AS \
             SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 40000) g",
        )?;
        let counted_before = self.core.forcing().1;
        let label = self.core.next_label_of(LabelKind::Plain);
        let cleanups = self.core.start_terminated_in_checkpoint_wait(sql(0))?;
        let counted_after = self.core.forcing().1;
        let log_from = self.args.server.log_offset()?;
        let mut session = self.args.server.connect("conformance-slow-start")?;
        let pid = session.pid;
        let (wait_event, started) = std::thread::scope(|scope| -> Result<_, Error> {
            let start = scope.spawn(move || session.backup_start_spread(&label));
            let wait_event = self.mon.wait_for_checkpoint_wait(pid);
            let terminated = match &wait_event {
                Ok(_) => self.mon.terminate(pid).map(|_| ()),
                Err(_) => Ok(()),
            };
            let started = start
                .join()
                .map_err(|_| Error::Unexpected("the starting session panicked".to_string()))?;
            terminated?;
            Ok((wait_event?, started))
        })?;
        self.mon.wait_backend_gone(pid)?;
        self.mon.execute("CHECKPOINT")?;
        self.core.checkpoint()?;
        let server_ended = match &started {
            Ok(Ok(lsn)) => format!("started at {lsn}"),
            Ok(Err(e)) if e.code == "57P01" => "terminated (FATAL)".to_string(),
            Ok(Err(e)) => format!("ERROR {}: {}", e.code, e.message),
            Err(_) => "terminated (connection closed)".to_string(),
        };
        self.report.compare(
            S,
            "the start",
            "terminated (FATAL)".to_string(),
            if server_ended.starts_with("terminated") {
                "terminated (FATAL)".to_string()
            } else {
                server_ended.clone()
            },
            vec![
                format!("server: backend {pid} waited on {wait_event}; {server_ended}"),
                format!("core: ran {cleanups}"),
            ],
        );
        let warned = |yes: bool| {
            if yes {
                "aborting-backup WARNING logged"
            } else {
                "no WARNING"
            }
            .to_string()
        };
        self.report.compare(
            S,
            "the exit's backup abort",
            warned(cleanups.0 & Armed::EXIT_HOOK.0 != 0),
            warned(self.args.server.logged_abort_at_exit(pid, log_from)?),
            vec![format!(
                "core: backups counted {counted_before} before, {counted_after} after"
            )],
        );
        self.fpi_phase(S, "after the terminated start")?;
        Ok(())
    }

    /// A stop whose backup-end record ends exactly where a WAL segment ends: the one case
    /// where the history file's stop file differs between "the segment of the stop's last
    /// byte" (`XLByteToPrevSeg`, up to 15) and "the segment of the stop point"
    /// (`XLByteToSeg`, 16+). The server's WAL is padded with a logical message sized to leave
    /// one backup-end record's room; the core's other backends fill the segment the same way.
    fn stop_at_segment_boundary(&mut self) -> Result<(), Error> {
        const S: &str = "stop at a segment's end";
        let from = self.mon.insert_lsn()?;
        let ends_before = self.core.end_records().len();
        let started = self.core.start(sql(0))?.map_err(core_refused)?;
        let label = self.label(started.backup)?;
        let mut session = self.args.server.connect("conformance-boundary")?;
        let start = session.backup_start(&label)?.map_err(server_refused)?;
        self.note_starts(&[started.start], &[start]);
        let core_room = self.core.fill_segment()?;
        let server_room = self.pad_to_one_end_record_before_segment_end()?;
        let findings_before = self.core.era_findings.clone();
        let stop_core = self.core.stop(sql(0))?.map_err(core_refused)?;
        let stop = session.backup_stop()?.map_err(server_refused)?;
        session.close()?;
        let era_findings: Vec<&str> = self
            .core
            .era_findings
            .difference(&findings_before)
            .copied()
            .collect();
        let at_boundary = |lsn: Lsn| {
            if self.seg.offset_in_segment(lsn) == 0 {
                "a segment boundary".to_string()
            } else {
                format!("{} bytes into a segment", self.seg.offset_in_segment(lsn))
            }
        };
        self.report.compare(
            S,
            "the stop point returned",
            at_boundary(stop_core.stop),
            at_boundary(stop.stop),
            vec![
                format!("core: filled to {core_room}, stopped at {}", stop_core.stop),
                format!("server: padded to {server_room}, stopped at {}", stop.stop),
                if era_findings.is_empty() {
                    "core: no known finding of the design here".to_string()
                } else {
                    format!(
                        "core: the design's known finding here: {} (expected-findings.toml)",
                        era_findings.join(", ")
                    )
                },
            ],
        );
        let core_stopped = vec![("E".to_string(), started, stop_core)];
        self.note_core_stopped(&core_stopped);
        let core = self.core_facts(&core_stopped, ends_before);
        let server = self.server_facts(vec![Self::sql_backup("E", &label, start, stop)], from)?;
        self.compare(S, &core, &server, true);
        Ok(())
    }

    /// Writes one logical message (`pg_logical_emit_message`, not transactional) sized so
    /// that the insert position ends one backup-end record's reservation (MAXALIGN(34) = 40
    /// bytes) before a segment's end; the insert position after. The record's fixed size is
    /// measured first with a probe message; a try that another process's WAL got in the way
    /// of is repeated.
    fn pad_to_one_end_record_before_segment_end(&mut self) -> Result<Lsn, Error> {
        use backup_coordinator::lsn::{record_bytes, RECORD_ALIGN_BYTES};
        let align = |n: u64| n.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES;
        let room = align(record_bytes::BACKUP_END);
        const PROBE: u64 = 300;
        let emit = |n: u64| {
            format!("SELECT pg_logical_emit_message(false, 'conformance', repeat('x', {n}))::text")
        };
        let mut last = None;
        for _ in 0..5 {
            let before = self.mon.insert_lsn()?;
            self.mon.lsn(&emit(PROBE))?;
            // A message that is not transactional is not flushed; the commit of a transaction
            // that wrote WAL flushes it, so that it can be read back.
            self.mon
                .execute("SELECT pg_logical_emit_message(true, 'conformance-flush', 'x')")?;
            let probe = self.mon.wal_record(before)?;
            if probe.kind != "MESSAGE" {
                last = Some(format!("the probe at {before} is a {} record", probe.kind));
                continue;
            }
            // Payloads of 256 bytes and more: the record's fixed part is the same for all.
            let fixed = u64::from(probe.length) - PROBE;
            let now = self.mon.insert_lsn()?;
            let now_pos = self.seg.byte_pos(now);
            let end_of = |lsn: Lsn| self.seg.byte_pos(self.seg.next_segment_start(lsn));
            let mut target = end_of(now) - room;
            while target < now_pos + align(fixed + 256) {
                target += self.seg.usable_bytes_in_segment();
            }
            let payload = target - now_pos - fixed;
            self.mon.lsn(&emit(payload))?;
            let after = self.mon.insert_lsn()?;
            if self.seg.byte_pos(after) == target {
                return Ok(after);
            }
            last = Some(format!(
                "padded from {now} to {after}, not one record before the segment's end"
            ));
        }
        Err(Error::Unexpected(format!(
            "could not pad the WAL to a segment's end: {}",
            last.unwrap_or_default()
        )))
    }

    /// Every history file the server archived, against the backups that stopped.
    fn archive(&mut self) -> Result<(), Error> {
        const S: &str = "archive";
        // The backups of the suite only: the script's pg_basebackup that made the standby
        // archived a history file of its own, before the suite's first start point.
        let first = self.suite_from;
        let archived: Vec<(String, String)> = self
            .args
            .server
            .archived_history_files()?
            .into_iter()
            .filter(|(name, _)| {
                HistoryFileName::parse(name, self.seg).map_or(true, |h| h.start(self.seg) >= first)
            })
            .collect();
        let core_files: Vec<(String, String)> = self
            .core_stopped
            .iter()
            .filter_map(|&b| self.core.history(b))
            .collect();
        let round_trip = |files: &[(String, String)]| {
            let mut details = Vec::new();
            let ok = files
                .iter()
                .filter(|(name, text)| {
                    match backup_coordinator::label::BackupHistory::parse(text, self.seg) {
                        Ok(h) if h.render() == *text => true,
                        Ok(_) => {
                            details.push(format!("{name}: renders back differently"));
                            false
                        }
                        Err(e) => {
                            details.push(format!("{name}: {e}"));
                            false
                        }
                    }
                })
                .count();
            (format!("{ok} of {}", files.len()), details)
        };
        let (core_value, mut details) = round_trip(&core_files);
        let (server_value, server_details) = round_trip(&archived);
        details.extend(server_details);
        self.report.compare(
            S,
            "every history file parses, renders back byte for byte",
            core_value,
            server_value,
            details,
        );
        self.report.compare(
            S,
            "history files (one per stopped backup)",
            format!("{} files", self.core.history_files_written()),
            format!("{} files", archived.len()),
            vec![],
        );
        // The names the core computes from the start point and timeline of every backup the
        // server stopped, against the names of the files the server archived.
        let computed: BTreeSet<String> = self
            .server_stopped
            .iter()
            .map(|&start| HistoryFileName::new(self.timeline, start, self.seg).to_string())
            .collect();
        let names: BTreeSet<String> = archived.iter().map(|(name, _)| name.clone()).collect();
        let details: Vec<String> = computed
            .difference(&names)
            .map(|n| format!("computed, not archived: {n}"))
            .chain(
                names
                    .difference(&computed)
                    .map(|n| format!("archived, not computed: {n}")),
            )
            .collect();
        let verdict = if computed == names {
            Verdict::Same
        } else {
            Verdict::Differs
        };
        self.report.push(
            S,
            "archived file names = names the core computes",
            format!("{} names", computed.len()),
            format!("{} names", names.len()),
            verdict,
            details,
        );
        self.label_file_row(S, "backup_label in the data directory")?;
        Ok(())
    }

    /// The sizes of page-change records: the core sizes a change and a full-page image with
    /// fixed constants, which only move its LSNs; no compared fact depends on them. Reported
    /// so that the modelling choice is visible, never silently equal.
    fn page_change_sizes(&mut self) {
        let describe = |sizes: &BTreeSet<(bool, u32)>| {
            let list = |image: bool| {
                let v: Vec<String> = sizes
                    .iter()
                    .filter(|(i, _)| *i == image)
                    .map(|(_, n)| n.to_string())
                    .collect();
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join("/")
                }
            };
            format!("{} B; {} B with an image", list(false), list(true))
        };
        let change = record_bytes::PAGE_CHANGE as u32;
        let core: BTreeSet<(bool, u32)> = [
            (false, change),
            (true, change + record_bytes::PAGE_IMAGE as u32),
        ]
        .into();
        let (core, server) = (describe(&core), describe(&self.page_changes));
        let verdict = if core == server {
            Verdict::Same
        } else {
            Verdict::Accepted
        };
        self.report.push(
            "page changes",
            "WAL record length of one page change",
            core,
            server,
            verdict,
            vec![
                "accepted modelling choice: the core sizes a page change and its image with the \
                 constants record_bytes::PAGE_CHANGE and PAGE_IMAGE (a whole page, the free-space \
                 hole not compressed away); they only move the core's LSNs, and no compared \
                 fact depends on them"
                    .to_string(),
            ],
        );
    }

    // ----- helpers -----

    fn label(&self, backup: BackupId) -> Result<String, Error> {
        self.core
            .label_of(backup)
            .ok_or_else(|| Error::CoreStuck(format!("{backup} has no label")))
    }

    fn note_starts(&mut self, core: &[Lsn], server: &[Lsn]) {
        self.starts.0.extend_from_slice(core);
        self.starts.1.extend_from_slice(server);
    }

    /// Whether each side's data directory holds a `backup_label`, as the row `check`.
    fn label_file_row(&mut self, scenario: &str, check: &str) -> Result<(), Error> {
        let word = |present: bool| if present { "present" } else { "absent" };
        self.report.compare(
            scenario,
            check,
            word(self.core.backup_label_present()),
            word(self.args.server.backup_label_present()),
            vec![],
        );
        Ok(())
    }

    /// A row for a command that should be refused: the core's typed error against the
    /// server's message, mapped by [`classify`].
    fn error_row(
        &mut self,
        scenario: &str,
        check: &str,
        core: Result<(), StepError>,
        server: Result<(), ServerError>,
        label_bytes: usize,
    ) {
        let core_text = match &core {
            Ok(()) => "succeeded".to_string(),
            Err(e) => format!("StepError::{}", variant_name(e)),
        };
        let (server_text, mapped) = match &server {
            Ok(()) => ("succeeded".to_string(), None),
            Err(e) => {
                let mapped = classify(e, label_bytes);
                let name = mapped.as_ref().map_or("unrecognised".to_string(), |m| {
                    format!("StepError::{}", variant_name(m))
                });
                (format!("{name} ({}: {})", e.code, e.message), mapped)
            }
        };
        let verdict = match (&core, &server, &mapped) {
            (Ok(()), Ok(()), _) => Verdict::Same,
            (Err(c), Err(_), Some(m)) if c == m => Verdict::Same,
            _ => Verdict::Differs,
        };
        let details = match &core {
            Err(e) => vec![format!("core: {e}")],
            Ok(()) => vec![],
        };
        self.report
            .push(scenario, check, core_text, server_text, verdict, details);
    }
}

/// A session or a client process holding a backup.
enum Held {
    Session(Box<Session>),
    Process(HeldBackup),
}

/// The core error's variant, as the report names it.
fn variant_name(error: &StepError) -> &'static str {
    match error {
        StepError::Label(LabelError::TooLong { .. }) => "Label(TooLong)",
        StepError::Label(LabelError::NotOneLine { .. }) => "Label(NotOneLine)",
        StepError::BackupInProgress => "BackupInProgress",
        StepError::LabelFileExists => "LabelFileExists",
        StepError::BackupInProgressInSession => "BackupInProgressInSession",
        StepError::NonExclusiveInProgress => "NonExclusiveInProgress",
        StepError::NotInProgress => "NotInProgress",
        StepError::ExclusiveNotInProgress => "ExclusiveNotInProgress",
        StepError::NonExclusiveNotInProgress => "NonExclusiveNotInProgress",
        StepError::TempLabelExists => "TempLabelExists",
        StepError::TempLabelMissing => "TempLabelMissing",
        StepError::HistoryFileExists => "HistoryFileExists",
        StepError::Io(_) => "Io",
        StepError::Cancelled => "Cancelled",
        StepError::RecoveryInProgress => "RecoveryInProgress",
        StepError::FpwOffReplayed => "FpwOffReplayed",
        StepError::FpwOffReplayedDuringBackup => "FpwOffReplayedDuringBackup",
    }
}

fn outcome<T, E: std::fmt::Display>(result: &Result<T, E>, success: &str) -> String {
    match result {
        Ok(_) => success.to_string(),
        Err(e) => format!("refused: {e}"),
    }
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T, Error>>) -> Result<T, Error> {
    handle
        .join()
        .unwrap_or_else(|_| Err(Error::Unexpected("a session thread panicked".into())))
}

fn core_refused(error: StepError) -> Error {
    Error::CoreStuck(format!(
        "the core refused a command the script needs: {error}"
    ))
}

fn server_refused(error: ServerError) -> Error {
    Error::Unexpected(format!(
        "the server refused a command the script needs: {error}"
    ))
}

/// START WAL LOCATION of a label text (enough to find its backup even if the label does not
/// parse; the parse itself is a compared check).
fn label_start(text: &str) -> Option<Lsn> {
    let rest = text.strip_prefix("START WAL LOCATION: ")?;
    rest.split(' ').next()?.parse().ok()
}

/// CHECKPOINT LOCATION of a label text.
fn label_checkpoint(text: &str) -> Option<Lsn> {
    text.lines()
        .find_map(|line| line.strip_prefix("CHECKPOINT LOCATION: "))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(message: &str) -> ServerError {
        ServerError {
            code: "55000".into(),
            message: message.into(),
        }
    }

    #[test]
    fn postgres_messages_map_to_the_core_errors() {
        assert_eq!(
            classify(
                &refused("a backup is already in progress in this session"),
                0
            ),
            Some(StepError::BackupInProgressInSession)
        );
        assert_eq!(
            classify(&refused("backup is not in progress"), 0),
            Some(StepError::NotInProgress)
        );
        assert_eq!(
            classify(&refused("backup label too long (max 1024 bytes)"), 1025),
            Some(StepError::Label(LabelError::TooLong { bytes: 1025 }))
        );
        assert_eq!(classify(&refused("something else"), 0), None);
    }

    #[test]
    fn error_names_are_the_variants() {
        assert_eq!(
            variant_name(&StepError::BackupInProgressInSession),
            "BackupInProgressInSession"
        );
        assert_eq!(
            variant_name(&StepError::Label(LabelError::TooLong { bytes: 3 })),
            "Label(TooLong)"
        );
    }

    #[test]
    fn label_lines_are_found() {
        let text = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
                    CHECKPOINT LOCATION: 0/2000060\n";
        assert_eq!(label_start(text), Some(Lsn(0x0200_0028)));
        assert_eq!(label_checkpoint(text), Some(Lsn(0x0200_0060)));
    }
}
