//! The real server: sessions (the `postgres` crate, one connection each, kept open across
//! statements), WAL read back with `pg_walinspect`, `pg_ctl` for an immediate shutdown and a
//! restart, `pg_basebackup` for streamed backups, and the data directory, archive and log.

use crate::args::ServerSpec;
use crate::error::Error;
use backup_coordinator::lsn::Lsn;
use postgres::{Client, NoTls};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the suite waits for anything the server does on its own.
pub const WAIT: Duration = Duration::from_secs(20);

/// An ERROR the server answered a statement with: an observation, not a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    /// SQLSTATE.
    pub code: String,
    /// The primary message.
    pub message: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ERROR {}: {}", self.code, self.message)
    }
}

/// What `pg_backup_stop()` returned.
#[derive(Clone, Debug)]
pub struct SqlStop {
    /// `lsn`: the stop point.
    pub stop: Lsn,
    /// `labelfile`: the backup_label text.
    pub label_file: String,
}

/// One WAL record, as `pg_get_wal_records_info` shows it.
#[derive(Clone, Debug)]
pub struct WalRecord {
    /// Where it begins.
    pub start: Lsn,
    /// Where it ends.
    pub end: Lsn,
    /// Resource manager (`XLOG`, `Heap`, ...).
    pub rmgr: String,
    /// Record type (`BACKUP_END`, `CHECKPOINT_ONLINE`, ...).
    pub kind: String,
    /// Total record length in bytes.
    pub length: u32,
    /// Bytes of full-page images in it.
    pub fpi_length: u32,
    /// The rmgr's description.
    pub description: String,
    /// Block references.
    pub block_ref: String,
}

impl ServerSpec {
    /// The connection string of a session named `app`.
    pub fn conninfo(&self, app: &str) -> String {
        format!(
            "host={} port={} user={} dbname={} application_name={} connect_timeout=10",
            self.host, self.port, self.user, self.dbname, app
        )
    }

    /// Opens a session.
    pub fn connect(&self, app: &str) -> Result<Session, Error> {
        Session::connect(&self.conninfo(app), app)
    }

    /// Opens a session on the streaming standby, if there is one.
    pub fn connect_standby(&self, app: &str) -> Result<Option<Session>, Error> {
        let Some(port) = self.standby_port else {
            return Ok(None);
        };
        let conninfo = format!(
            "host={} port={port} user={} dbname={} application_name={app} connect_timeout=10",
            self.host, self.user, self.dbname
        );
        Session::connect(&conninfo, app).map(Some)
    }

    /// Runs pg_ctl with `args` (as `pg_ctl_user` when set).
    pub fn pg_ctl(&self, args: &[&str]) -> Result<(), Error> {
        let pg_ctl = self.bindir.join("pg_ctl");
        let mut command = match &self.pg_ctl_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&pg_ctl);
                c
            }
            None => Command::new(&pg_ctl),
        };
        command.args(args).stdin(Stdio::null());
        let what = format!("pg_ctl {}", args.join(" "));
        let output = command.output().map_err(|source| Error::Io {
            what: "running",
            path: pg_ctl.clone(),
            source,
        })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(Error::Program {
                what,
                status: output.status.to_string(),
                detail: last_line(&output.stderr, &output.stdout),
            })
        }
    }

    /// `pg_ctl stop -m immediate`: every process is killed, nothing is cleaned up.
    pub fn stop_immediate(&self) -> Result<(), Error> {
        let pgdata = self.pgdata.to_string_lossy().into_owned();
        self.pg_ctl(&["-D", &pgdata, "-m", "immediate", "-w", "stop"])
    }

    /// `pg_ctl start`, waiting until the server accepts connections (after crash recovery).
    pub fn start(&self) -> Result<(), Error> {
        let pgdata = self.pgdata.to_string_lossy().into_owned();
        let log = self.server_log.to_string_lossy().into_owned();
        self.pg_ctl(&["-D", &pgdata, "-l", &log, "-w", "-t", "60", "start"])
    }

    /// `pg_ctl restart -m fast`: a clean shutdown (shutdown checkpoint) and a start, to take
    /// a setting that needs a restart (`archive_mode`).
    pub fn restart_fast(&self) -> Result<(), Error> {
        let pgdata = self.pgdata.to_string_lossy().into_owned();
        let log = self.server_log.to_string_lossy().into_owned();
        self.pg_ctl(&[
            "-D", &pgdata, "-l", &log, "-m", "fast", "-w", "-t", "60", "restart",
        ])
    }

    /// The data directory's `backup_label`, byte for byte (the exclusive backup's label).
    pub fn backup_label_text(&self) -> Result<String, Error> {
        let path = self.pgdata.join("backup_label");
        std::fs::read_to_string(&path).map_err(|source| Error::Io {
            what: "reading",
            path,
            source,
        })
    }

    /// Whether the data directory holds a `backup_label`.
    pub fn backup_label_present(&self) -> bool {
        self.pgdata.join("backup_label").symlink_metadata().is_ok()
    }

    /// The server log's current length: where lines logged from now on begin.
    pub fn log_offset(&self) -> Result<u64, Error> {
        std::fs::metadata(&self.server_log)
            .map(|m| m.len())
            .map_err(|source| Error::Io {
                what: "reading the server log",
                path: self.server_log.clone(),
                source,
            })
    }

    /// Whether the server logged, after byte `since` of its log, that backend `pid` aborted
    /// its backup at exit (`do_pg_abort_backup`'s "aborting backup due to backend exiting
    /// before pg_backup_stop was called"). The log line prefix is `%m [%p] `.
    pub fn logged_abort_at_exit(&self, pid: i32, since: u64) -> Result<bool, Error> {
        let marker = format!("[{pid}] WARNING:  aborting backup due to backend exiting");
        Ok(!self.log_lines_since(since, &marker)?.is_empty())
    }

    /// Kills backend `pid` with SIGKILL: the postmaster treats it as a crash (every process
    /// is terminated, shared memory reinitialized, crash recovery run).
    pub fn kill_backend(&self, pid: i32) -> Result<(), Error> {
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .map_err(|source| Error::Io {
                what: "running",
                path: PathBuf::from("kill"),
                source,
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Program {
                what: format!("kill -KILL {pid}"),
                status: status.to_string(),
                detail: String::new(),
            })
        }
    }

    /// Waits (up to [`WAIT`]) for the postmaster to exit, as it does when crash recovery
    /// fails: whether it did (its `postmaster.pid` is gone).
    pub fn wait_postmaster_exit(&self) -> Result<bool, Error> {
        let deadline = Instant::now() + WAIT;
        let pid_file = self.pgdata.join("postmaster.pid");
        while Instant::now() < deadline {
            if !pid_file.exists() {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(false)
    }

    /// The lines of the server log after byte `since` that contain `marker`.
    pub fn log_lines_since(&self, since: u64, marker: &str) -> Result<Vec<String>, Error> {
        let text = std::fs::read(&self.server_log).map_err(|source| Error::Io {
            what: "reading the server log",
            path: self.server_log.clone(),
            source,
        })?;
        let start = usize::try_from(since).unwrap_or(usize::MAX).min(text.len());
        Ok(String::from_utf8_lossy(&text[start..])
            .lines()
            .filter(|line| line.contains(marker))
            .map(str::to_string)
            .collect())
    }

    /// `pg_basebackup` connecting to this server, writing into `dir` (`-X fetch
    /// --checkpoint=fast --no-sync`), and the program's path; the caller adds the format.
    fn basebackup_command(&self, dir: &Path) -> (Command, PathBuf) {
        let program = self.bindir.join("pg_basebackup");
        let mut command = Command::new(&program);
        command
            .arg("-h")
            .arg(&self.host)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg(&self.user)
            .arg("-D")
            .arg(dir)
            .args(["-X", "fetch", "--checkpoint=fast", "--no-sync"]);
        (command, program)
    }

    /// Starts `pg_basebackup -Ft -X fetch --checkpoint=fast` into `dir` with `label`.
    pub fn spawn_basebackup(&self, label: &str, dir: &Path) -> Result<Child, Error> {
        let (mut command, program) = self.basebackup_command(dir);
        command.arg("-Ft").arg("-l").arg(label);
        spawn_captured(command, program)
    }

    /// `pg_basebackup` in plain format into `dir` (with a manifest), incremental from the
    /// manifest `incremental` when given; waits for it.
    pub fn plain_basebackup(&self, dir: &Path, incremental: Option<&Path>) -> Result<(), Error> {
        let (mut command, program) = self.basebackup_command(dir);
        command.arg("-Fp");
        if let Some(manifest) = incremental {
            command.arg(format!("--incremental={}", manifest.display()));
        }
        wait_program(spawn_captured(command, program)?, "pg_basebackup -Fp")
    }

    /// 17+: `pg_combinebackup` of `backups` (the full backup first) into `out`.
    pub fn combine_backups(&self, backups: &[&Path], out: &Path) -> Result<(), Error> {
        let program = self.bindir.join("pg_combinebackup");
        let mut command = Command::new(&program);
        command.args(backups).arg("-o").arg(out).arg("--no-sync");
        wait_program(spawn_captured(command, program)?, "pg_combinebackup")
    }

    /// The `backup_label` member of `dir/base.tar`, byte for byte.
    pub fn streamed_label(&self, dir: &Path) -> Result<String, Error> {
        let path = dir.join("base.tar");
        let io = |source| Error::Io {
            what: "reading",
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(io)?;
        let mut archive = tar::Archive::new(file);
        for entry in archive.entries().map_err(io)? {
            let mut entry = entry.map_err(io)?;
            if entry.path().map_err(io)?.as_os_str() == "backup_label" {
                let mut text = String::new();
                entry.read_to_string(&mut text).map_err(io)?;
                return Ok(text);
            }
        }
        Err(Error::Unexpected(format!(
            "{} has no backup_label member",
            path.display()
        )))
    }

    /// The history files in the archive: (file name, text), sorted by name.
    pub fn archived_history_files(&self) -> Result<Vec<(String, String)>, Error> {
        let io = |path: &Path, source| Error::Io {
            what: "reading",
            path: path.to_path_buf(),
            source,
        };
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.archive_dir).map_err(|e| io(&self.archive_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(&self.archive_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".backup") {
                let path = entry.path();
                let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
                out.push((name, text));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Waits (up to [`WAIT`]) until the archive holds a history file for every start point
    /// in `starts`: archiving is asynchronous for streamed backups, which stop without
    /// waiting for it. False if some never arrived (the rows then show which is missing).
    pub fn wait_for_history_files(&self, starts: &[Lsn]) -> Result<bool, Error> {
        let deadline = Instant::now() + WAIT;
        loop {
            let files = self.archived_history_files()?;
            let missing = starts.iter().any(|start| {
                let line = format!("START WAL LOCATION: {start} ");
                !files.iter().any(|(_, text)| text.starts_with(&line))
            });
            if !missing {
                return Ok(true);
            }
            if Instant::now() > deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A scratch directory for one pg_basebackup.
    pub fn work_path(&self, name: &str) -> PathBuf {
        self.work_dir.join(name)
    }
}

fn last_line(stderr: &[u8], stdout: &[u8]) -> String {
    let text = if stderr.iter().any(|b| !b.is_ascii_whitespace()) {
        stderr
    } else {
        stdout
    };
    String::from_utf8_lossy(text)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
        .trim()
        .to_string()
}

/// Starts `command` (the program at `program`) with no input and its output captured.
fn spawn_captured(mut command: Command, program: PathBuf) -> Result<Child, Error> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Io {
            what: "running",
            path: program,
            source,
        })
}

/// Waits for `child` and fails with its last line of output if it failed.
pub fn wait_program(child: Child, what: &str) -> Result<(), Error> {
    let output = child.wait_with_output().map_err(|source| Error::Io {
        what: "waiting for",
        path: PathBuf::from(what),
        source,
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Program {
            what: what.to_string(),
            status: output.status.to_string(),
            detail: last_line(&output.stderr, &output.stdout),
        })
    }
}

/// One open connection to the server.
pub struct Session {
    client: Client,
    /// The NOTICEs the server sent this session, oldest first, not yet taken.
    notices: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Its backend's process id.
    pub pid: i32,
    /// Its name (application_name), for messages.
    pub name: String,
    /// The server's major version (14, 15, ...): 9.6-14 name the backup functions
    /// `pg_start_backup`/`pg_stop_backup`, 15+ `pg_backup_start`/`pg_backup_stop`.
    pub major: u32,
    /// Where WAL is read from when the server has no pg_walinspect (14): `pg_waldump` of
    /// `bindir` over `pgdata/pg_wal`.
    waldump: Option<WalDump>,
}

/// `pg_waldump` over a data directory's WAL.
#[derive(Clone, Debug)]
struct WalDump {
    program: PathBuf,
    wal_dir: PathBuf,
    seg: backup_coordinator::lsn::WalSegmentSize,
}

fn parse_lsn(text: &str, what: &str) -> Result<Lsn, Error> {
    text.parse()
        .map_err(|e| Error::Unexpected(format!("{what}: {text:?} is not an LSN ({e})")))
}

impl Session {
    /// Connects with `conninfo`.
    pub fn connect(conninfo: &str, name: &str) -> Result<Session, Error> {
        let mut config: postgres::Config = conninfo.parse().map_err(|source| Error::Connect {
            target: conninfo.to_string(),
            source,
        })?;
        let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&notices);
        config.notice_callback(move |notice| {
            if let Ok(mut list) = sink.lock() {
                list.push(notice.message().to_string());
            }
        });
        let mut client = config.connect(NoTls).map_err(|source| Error::Connect {
            target: conninfo.to_string(),
            source,
        })?;
        let row = client
            .query_one("SELECT pg_backend_pid()", &[])
            .map_err(|source| Error::Sql {
                what: format!("{name}: pg_backend_pid()"),
                source,
            })?;
        let pid = row.try_get(0).map_err(|source| Error::Sql {
            what: format!("{name}: pg_backend_pid()"),
            source,
        })?;
        let version: String = client
            .query_one("SELECT current_setting('server_version_num')", &[])
            .and_then(|row| row.try_get(0))
            .map_err(|source| Error::Sql {
                what: format!("{name}: server_version_num"),
                source,
            })?;
        let major = version
            .parse::<u32>()
            .map(|n| n / 10_000)
            .map_err(|_| Error::Unexpected(format!("server_version_num {version:?}")))?;
        Ok(Session {
            client,
            notices,
            pid,
            name: name.to_string(),
            major,
            waldump: None,
        })
    }

    /// The NOTICEs the server sent since the last call.
    pub fn take_notices(&self) -> Vec<String> {
        self.notices
            .lock()
            .map(|mut list| std::mem::take(&mut *list))
            .unwrap_or_default()
    }

    /// Reads WAL with `pg_waldump` from `bindir` over `pgdata/pg_wal` instead of
    /// pg_walinspect (which 14 does not have).
    pub fn use_waldump(
        &mut self,
        bindir: &Path,
        pgdata: &Path,
        seg: backup_coordinator::lsn::WalSegmentSize,
    ) {
        self.waldump = Some(WalDump {
            program: bindir.join("pg_waldump"),
            wal_dir: pgdata.join("pg_wal"),
            seg,
        });
    }

    /// How WAL is read back: `pg_walinspect` or `pg_waldump`.
    pub fn wal_reader(&self) -> &'static str {
        if self.waldump.is_some() {
            "pg_waldump"
        } else {
            "pg_walinspect"
        }
    }

    /// The era's name of the SQL function that starts a backup.
    pub fn start_function(&self) -> &'static str {
        if self.major < 15 {
            "pg_start_backup"
        } else {
            "pg_backup_start"
        }
    }

    /// The era's name of the SQL function that stops a backup.
    pub fn stop_function(&self) -> &'static str {
        if self.major < 15 {
            "pg_stop_backup"
        } else {
            "pg_backup_stop"
        }
    }

    fn sql_error(&self, what: &str, source: postgres::Error) -> Error {
        Error::Sql {
            what: format!("{}: {what}", self.name),
            source,
        }
    }

    /// Runs statements that must succeed.
    pub fn execute(&mut self, sql: &str) -> Result<(), Error> {
        self.client
            .batch_execute(sql)
            .map_err(|e| self.sql_error(sql, e))
    }

    /// One text value from a query that must succeed.
    pub fn text(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<String, Error> {
        let row = self
            .client
            .query_one(sql, params)
            .map_err(|e| self.sql_error(sql, e))?;
        row.try_get(0).map_err(|e| self.sql_error(sql, e))
    }

    /// Every text value of the first column.
    pub fn texts(&mut self, sql: &str) -> Result<Vec<String>, Error> {
        let rows = self
            .client
            .query(sql, &[])
            .map_err(|e| self.sql_error(sql, e))?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(|e| self.sql_error(sql, e)))
            .collect()
    }

    /// An LSN from a query returning `pg_lsn::text`.
    pub fn lsn(&mut self, sql: &str) -> Result<Lsn, Error> {
        let text = self.text(sql, &[])?;
        parse_lsn(&text, sql)
    }

    /// The WAL insert position.
    pub fn insert_lsn(&mut self) -> Result<Lsn, Error> {
        self.lsn("SELECT pg_current_wal_insert_lsn()::text")
    }

    /// The WAL flush position (everything before it can be read back).
    pub fn flush_lsn(&mut self) -> Result<Lsn, Error> {
        self.lsn("SELECT pg_current_wal_flush_lsn()::text")
    }

    /// Splits a statement's outcome into an answer, an ERROR the server gave (an
    /// observation), or a failure of the connection (an error of the suite).
    fn answer<T>(
        &self,
        what: &str,
        result: Result<T, postgres::Error>,
    ) -> Result<Result<T, ServerError>, Error> {
        match result {
            Ok(value) => Ok(Ok(value)),
            Err(err) => match err.as_db_error() {
                Some(db) => Ok(Err(ServerError {
                    code: db.code().code().to_string(),
                    message: db.message().to_string(),
                })),
                None => Err(self.sql_error(what, err)),
            },
        }
    }

    /// Runs `sql` (with `params`), which answers one LSN as text: the LSN, or the server's
    /// ERROR. `what` names the function in messages.
    fn lsn_or_refusal(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        what: &str,
    ) -> Result<Result<Lsn, ServerError>, Error> {
        let result = self
            .client
            .query_one(sql, params)
            .and_then(|row| row.try_get::<_, String>(0));
        match self.answer(sql, result)? {
            Ok(text) => Ok(Ok(parse_lsn(&text, what)?)),
            Err(refused) => Ok(Err(refused)),
        }
    }

    /// `pg_backup_start(label, true)` (14: `pg_start_backup(label, true, false)`, a
    /// non-exclusive backup): the start point, or the server's ERROR.
    pub fn backup_start(&mut self, label: &str) -> Result<Result<Lsn, ServerError>, Error> {
        self.non_exclusive_start(label, true)
    }

    /// A non-exclusive start that does not ask for a fast checkpoint (`pg_backup_start(label,
    /// false)`, 14: `pg_start_backup(label, false, false)`): it waits for a spread checkpoint.
    pub fn backup_start_spread(&mut self, label: &str) -> Result<Result<Lsn, ServerError>, Error> {
        self.non_exclusive_start(label, false)
    }

    /// The era's non-exclusive start, asking for a fast checkpoint or not.
    fn non_exclusive_start(
        &mut self,
        label: &str,
        fast: bool,
    ) -> Result<Result<Lsn, ServerError>, Error> {
        let sql = if self.major < 15 {
            "SELECT pg_start_backup($1, $2, false)::text"
        } else {
            "SELECT pg_backup_start($1, $2)::text"
        };
        let what = self.start_function();
        self.lsn_or_refusal(sql, &[&label, &fast], what)
    }

    /// Waits (up to [`WAIT`]) until backend `pid` waits for a checkpoint
    /// (`pg_stat_activity.wait_event` `CheckpointStart` or `CheckpointDone`).
    pub fn wait_for_checkpoint_wait(&mut self, pid: i32) -> Result<String, Error> {
        let sql = "SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = $1";
        let deadline = Instant::now() + WAIT;
        loop {
            let event: String = self
                .client
                .query_opt(sql, &[&pid])
                .map_err(|e| self.sql_error(sql, e))?
                .map(|row| row.try_get(0))
                .transpose()
                .map_err(|e| self.sql_error(sql, e))?
                .unwrap_or_default();
            if event == "CheckpointStart" || event == "CheckpointDone" {
                return Ok(event);
            }
            if Instant::now() > deadline {
                return Err(Error::Unexpected(format!(
                    "backend {pid} did not wait for a checkpoint within {WAIT:?} (wait event {event:?})"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `pg_backup_stop()` (14: `pg_stop_backup(false, true)`), waiting for archiving: stop
    /// point and label, or the server's ERROR.
    pub fn backup_stop(&mut self) -> Result<Result<SqlStop, ServerError>, Error> {
        let sql = if self.major < 15 {
            "SELECT lsn::text, labelfile FROM pg_stop_backup(false, true)"
        } else {
            "SELECT lsn::text, labelfile FROM pg_backup_stop()"
        };
        let result = self.client.query_one(sql, &[]).and_then(|row| {
            let lsn: String = row.try_get(0)?;
            let label: String = row.try_get(1)?;
            Ok((lsn, label))
        });
        match self.answer(sql, result)? {
            Ok((lsn, label_file)) => Ok(Ok(SqlStop {
                stop: parse_lsn(&lsn, "pg_backup_stop")?,
                label_file,
            })),
            Err(refused) => Ok(Err(refused)),
        }
    }

    /// 9.6-14: `pg_start_backup(label, true)`, an exclusive backup (the default): the start
    /// point, or the server's ERROR.
    pub fn exclusive_start(&mut self, label: &str) -> Result<Result<Lsn, ServerError>, Error> {
        let sql = "SELECT pg_start_backup($1, true)::text";
        self.lsn_or_refusal(sql, &[&label], "pg_start_backup")
    }

    /// 9.6-14: `pg_stop_backup()`, the exclusive stop (waiting for archiving): the stop
    /// point, or the server's ERROR.
    pub fn exclusive_stop(&mut self) -> Result<Result<Lsn, ServerError>, Error> {
        let sql = "SELECT pg_stop_backup()::text";
        self.lsn_or_refusal(sql, &[], "pg_stop_backup")
    }

    /// The WAL records from `from` up to `to`.
    pub fn wal_records(&mut self, from: Lsn, to: Lsn) -> Result<Vec<WalRecord>, Error> {
        if let Some(dump) = &self.waldump {
            return dump.records(from, Some(to), None);
        }
        let sql = "SELECT start_lsn::text, end_lsn::text, resource_manager, record_type, \
                   record_length, fpi_length, description, coalesce(block_ref, '') \
                   FROM pg_get_wal_records_info($1::text::pg_lsn, $2::text::pg_lsn)";
        let rows = self
            .client
            .query(sql, &[&from.to_string(), &to.to_string()])
            .map_err(|e| self.sql_error("pg_get_wal_records_info", e))?;
        rows.iter().map(|row| self.wal_row(row)).collect()
    }

    /// 16+: the block references of the WAL records from `from` up to `to`
    /// (`pg_get_wal_block_info`): record start, relation file number, fork number, block.
    pub fn wal_block_refs(
        &mut self,
        from: Lsn,
        to: Lsn,
    ) -> Result<Vec<(Lsn, u32, i16, i64)>, Error> {
        let sql = "SELECT start_lsn::text, relfilenode::bigint, relforknumber::int2, \
                   relblocknumber::bigint \
                   FROM pg_get_wal_block_info($1::text::pg_lsn, $2::text::pg_lsn, false)";
        let rows = self
            .client
            .query(sql, &[&from.to_string(), &to.to_string()])
            .map_err(|e| self.sql_error("pg_get_wal_block_info", e))?;
        rows.iter()
            .map(|row| {
                let at: String = row.try_get(0).map_err(|e| self.sql_error(sql, e))?;
                let rel: i64 = row.try_get(1).map_err(|e| self.sql_error(sql, e))?;
                let fork: i16 = row.try_get(2).map_err(|e| self.sql_error(sql, e))?;
                let block: i64 = row.try_get(3).map_err(|e| self.sql_error(sql, e))?;
                Ok((parse_lsn(&at, "start_lsn")?, rel as u32, fork, block))
            })
            .collect()
    }

    /// 17+: the WAL summary files (`pg_available_wal_summaries()`): timeline, start, end,
    /// by start.
    pub fn wal_summaries(&mut self) -> Result<Vec<(u32, Lsn, Lsn)>, Error> {
        let sql = "SELECT tli, start_lsn::text, end_lsn::text \
                   FROM pg_available_wal_summaries() ORDER BY start_lsn, tli";
        let rows = self
            .client
            .query(sql, &[])
            .map_err(|e| self.sql_error("pg_available_wal_summaries", e))?;
        rows.iter()
            .map(|row| {
                let tli: i64 = row.try_get(0).map_err(|e| self.sql_error(sql, e))?;
                let start: String = row.try_get(1).map_err(|e| self.sql_error(sql, e))?;
                let end: String = row.try_get(2).map_err(|e| self.sql_error(sql, e))?;
                Ok((
                    tli as u32,
                    parse_lsn(&start, "start_lsn")?,
                    parse_lsn(&end, "end_lsn")?,
                ))
            })
            .collect()
    }

    /// 17+: the entries of the summary `(tli, start, end)` for the relation files `relfilenodes`
    /// (0 is the database-level key): relation file, fork number, block, whether it is the
    /// limit block.
    pub fn wal_summary_entries(
        &mut self,
        (tli, start, end): (u32, Lsn, Lsn),
        relfilenodes: &[u32],
    ) -> Result<Vec<(u32, i16, i64, bool)>, Error> {
        let sql = "SELECT relfilenode::bigint, relforknumber::int2, relblocknumber::bigint, \
                   is_limit_block \
                   FROM pg_wal_summary_contents($1::bigint, $2::text::pg_lsn, $3::text::pg_lsn) \
                   WHERE relfilenode::bigint = ANY($4)";
        let wanted: Vec<i64> = relfilenodes.iter().map(|&r| i64::from(r)).collect();
        let rows = self
            .client
            .query(
                sql,
                &[
                    &i64::from(tli),
                    &start.to_string(),
                    &end.to_string(),
                    &wanted,
                ],
            )
            .map_err(|e| self.sql_error("pg_wal_summary_contents", e))?;
        rows.iter()
            .map(|row| {
                let rel: i64 = row.try_get(0).map_err(|e| self.sql_error(sql, e))?;
                let fork: i16 = row.try_get(1).map_err(|e| self.sql_error(sql, e))?;
                let block: i64 = row.try_get(2).map_err(|e| self.sql_error(sql, e))?;
                let limit: bool = row.try_get(3).map_err(|e| self.sql_error(sql, e))?;
                Ok((rel as u32, fork, block, limit))
            })
            .collect()
    }

    /// 17+: what the summary `(tli, start, end)` says about relation file `relfilenode`
    /// (`pg_wal_summary_contents`): fork number, block, whether it is the limit block.
    pub fn wal_summary_contents(
        &mut self,
        (tli, start, end): (u32, Lsn, Lsn),
        relfilenode: u32,
    ) -> Result<Vec<(i16, i64, bool)>, Error> {
        let sql = "SELECT relforknumber::int2, relblocknumber::bigint, is_limit_block \
                   FROM pg_wal_summary_contents($1::bigint, $2::text::pg_lsn, $3::text::pg_lsn) \
                   WHERE relfilenode = $4::bigint::oid";
        let rows = self
            .client
            .query(
                sql,
                &[
                    &i64::from(tli),
                    &start.to_string(),
                    &end.to_string(),
                    &i64::from(relfilenode),
                ],
            )
            .map_err(|e| self.sql_error("pg_wal_summary_contents", e))?;
        rows.iter()
            .map(|row| {
                let fork: i16 = row.try_get(0).map_err(|e| self.sql_error(sql, e))?;
                let block: i64 = row.try_get(1).map_err(|e| self.sql_error(sql, e))?;
                let limit: bool = row.try_get(2).map_err(|e| self.sql_error(sql, e))?;
                Ok((fork, block, limit))
            })
            .collect()
    }

    /// The WAL record at `at`.
    pub fn wal_record(&mut self, at: Lsn) -> Result<WalRecord, Error> {
        if let Some(dump) = &self.waldump {
            return dump
                .records(at, None, Some(1))?
                .into_iter()
                .next()
                .ok_or_else(|| Error::Unexpected(format!("pg_waldump found no record at {at}")));
        }
        let sql = "SELECT start_lsn::text, end_lsn::text, resource_manager, record_type, \
                   record_length, fpi_length, description, coalesce(block_ref, '') \
                   FROM pg_get_wal_record_info($1::text::pg_lsn)";
        let row = self
            .client
            .query_one(sql, &[&at.to_string()])
            .map_err(|e| self.sql_error("pg_get_wal_record_info", e))?;
        self.wal_row(&row)
    }

    fn wal_row(&self, row: &postgres::Row) -> Result<WalRecord, Error> {
        let get_text = |i: usize| -> Result<String, Error> {
            row.try_get::<_, Option<String>>(i)
                .map(Option::unwrap_or_default)
                .map_err(|e| self.sql_error("reading a WAL record", e))
        };
        let get_int = |i: usize| -> Result<u32, Error> {
            let n: Option<i32> = row
                .try_get(i)
                .map_err(|e| self.sql_error("reading a WAL record", e))?;
            Ok(n.unwrap_or(0).max(0) as u32)
        };
        Ok(WalRecord {
            start: parse_lsn(&get_text(0)?, "start_lsn")?,
            end: parse_lsn(&get_text(1)?, "end_lsn")?,
            rmgr: get_text(2)?,
            kind: get_text(3)?,
            length: get_int(4)?,
            fpi_length: get_int(5)?,
            description: get_text(6)?,
            block_ref: get_text(7)?,
        })
    }

    /// `pg_cancel_backend(pid)`.
    pub fn cancel(&mut self, pid: i32) -> Result<(), Error> {
        let sql = "SELECT pg_cancel_backend($1)";
        self.client
            .query_one(sql, &[&pid])
            .map(|_| ())
            .map_err(|e| self.sql_error(sql, e))
    }

    /// Waits (up to [`WAIT`]) until backend `pid`'s backup stop waits for archiving: its
    /// wait event `BackupWaitWalArchive`, or (where the era names none) its statement still
    /// running after two seconds, past the stop's first one-second sleep.
    pub fn wait_for_archive_wait(&mut self, pid: i32) -> Result<String, Error> {
        let sql = "SELECT coalesce(wait_event, ''), \
                   coalesce(extract(epoch FROM now() - query_start), 0)::float8 \
                   FROM pg_stat_activity WHERE pid = $1 AND state = 'active'";
        let deadline = Instant::now() + WAIT;
        loop {
            let row = self
                .client
                .query_opt(sql, &[&pid])
                .map_err(|e| self.sql_error(sql, e))?;
            if let Some(row) = row {
                let event: String = row.try_get(0).map_err(|e| self.sql_error(sql, e))?;
                let seconds: f64 = row.try_get(1).map_err(|e| self.sql_error(sql, e))?;
                if event == "BackupWaitWalArchive" || seconds > 2.0 {
                    return Ok(if event.is_empty() {
                        format!("still running after {seconds:.1} s")
                    } else {
                        event
                    });
                }
            }
            if Instant::now() > deadline {
                return Err(Error::Unexpected(format!(
                    "backend {pid}'s stop did not wait for archiving within {WAIT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The backup history files in `pg_wal` (`pg_ls_waldir()`), sorted by name.
    pub fn history_files_in_pg_wal(&mut self) -> Result<Vec<String>, Error> {
        self.texts("SELECT name FROM pg_ls_waldir() WHERE name LIKE '%.backup' ORDER BY name")
    }

    /// Waits (up to [`WAIT`]) until the archiver has nothing left to do: no `.ready` file in
    /// `pg_wal/archive_status` (`pg_ls_archive_statusdir()`). False if it never got there.
    pub fn wait_archiver_idle(&mut self) -> Result<bool, Error> {
        let sql = "SELECT count(*)::text FROM pg_ls_archive_statusdir() \
                   WHERE name LIKE '%.ready'";
        let deadline = Instant::now() + WAIT;
        loop {
            if self.text(sql, &[])? == "0" {
                return Ok(true);
            }
            if Instant::now() > deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `pg_terminate_backend(pid, timeout)`: true once the backend has exited.
    pub fn terminate(&mut self, pid: i32) -> Result<bool, Error> {
        let sql = "SELECT pg_terminate_backend($1, 10000)";
        let row = self
            .client
            .query_one(sql, &[&pid])
            .map_err(|e| self.sql_error(sql, e))?;
        row.try_get(0).map_err(|e| self.sql_error(sql, e))
    }

    /// Waits until backend `pid` has exited: it leaves `pg_stat_activity` only after its
    /// `before_shmem_exit` callbacks (the backup abort among them) have run.
    pub fn wait_backend_gone(&mut self, pid: i32) -> Result<(), Error> {
        let sql = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1";
        let deadline = Instant::now() + WAIT;
        loop {
            let row = self
                .client
                .query_one(sql, &[&pid])
                .map_err(|e| self.sql_error(sql, e))?;
            let count: i64 = row.try_get(0).map_err(|e| self.sql_error(sql, e))?;
            if count == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: format!("backend {pid} to exit"),
                    seconds: WAIT.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Closes the connection cleanly (the client sends Terminate).
    pub fn close(self) -> Result<(), Error> {
        let name = self.name.clone();
        self.client.close().map_err(|source| Error::Sql {
            what: format!("{name}: closing the connection"),
            source,
        })
    }

    /// Drops a connection whose server is gone (after an immediate shutdown).
    pub fn abandon(self) {
        drop(self.client);
    }
}

/// A client in its own process holding a backup open: killed with SIGKILL, it vanishes
/// without a word to the server.
pub struct HeldBackup {
    child: Child,
    /// The backend's pid.
    pub pid: i32,
    /// The start point `pg_backup_start` returned.
    pub start: Lsn,
}

impl HeldBackup {
    /// Starts `pg-conformance hold-backup` and waits until its backup has started.
    pub fn spawn(spec: &ServerSpec, label: &str) -> Result<HeldBackup, Error> {
        let exe = std::env::current_exe().map_err(|source| Error::Io {
            what: "locating",
            path: PathBuf::from("pg-conformance"),
            source,
        })?;
        let mut child = Command::new(&exe)
            .arg("hold-backup")
            .arg(spec.conninfo("conformance-killed-client"))
            .arg(label)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| Error::Io {
                what: "running",
                path: exe.clone(),
                source,
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Unexpected("the held client has no stdout".into()))?;
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let parsed = match read {
            Ok(_) => {
                let mut parts = line.split_whitespace();
                match (parts.next().map(str::parse::<i32>), parts.next()) {
                    (Some(Ok(pid)), Some(lsn)) => {
                        parse_lsn(lsn, "held backup start").map(|start| (pid, start))
                    }
                    _ => Err(Error::Unexpected(format!(
                        "the held client printed {line:?}, not \"<pid> <lsn>\""
                    ))),
                }
            }
            Err(source) => Err(Error::Io {
                what: "reading from",
                path: exe,
                source,
            }),
        };
        match parsed {
            Ok((pid, start)) => Ok(HeldBackup { child, pid, start }),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(err)
            }
        }
    }

    /// SIGKILL: the process dies; the kernel closes its socket.
    pub fn kill(mut self) -> Result<(), Error> {
        self.child.kill().map_err(|source| Error::Io {
            what: "killing",
            path: PathBuf::from("the held client"),
            source,
        })?;
        let _ = self.child.wait();
        Ok(())
    }
}

/// The body of `pg-conformance hold-backup`: start a backup, say so, and wait (for SIGKILL,
/// or for stdin to close, which ends the process normally).
pub fn hold_backup(conninfo: &str, label: &str) -> Result<(), Error> {
    let mut session = Session::connect(conninfo, "held client")?;
    let start = match session.backup_start(label)? {
        Ok(start) => start,
        Err(refused) => return Err(Error::Unexpected(format!("pg_backup_start: {refused}"))),
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{} {start}", session.pid)
            .and_then(|()| out.flush())
            .map_err(|source| Error::Io {
                what: "writing to",
                path: PathBuf::from("stdout"),
                source,
            })?;
    }
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    session.close()
}

impl WalDump {
    /// Runs `pg_waldump` from `from` (up to `to`, or `count` records) and parses its lines.
    fn records(
        &self,
        from: Lsn,
        to: Option<Lsn>,
        count: Option<u32>,
    ) -> Result<Vec<WalRecord>, Error> {
        let mut command = Command::new(&self.program);
        command
            .arg("--path")
            .arg(&self.wal_dir)
            .arg("--start")
            .arg(from.to_string());
        if let Some(to) = to {
            command.arg("--end").arg(to.to_string());
        }
        if let Some(n) = count {
            command.arg("--limit").arg(n.to_string());
        }
        let output = command
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Io {
                what: "running",
                path: self.program.clone(),
                source,
            })?;
        let text = String::from_utf8_lossy(&output.stdout);
        let records: Vec<WalRecord> = text
            .lines()
            .filter_map(|line| parse_waldump_line(line, self.seg))
            .collect();
        // pg_waldump ends with an error where the WAL written so far ends; only a run that
        // read nothing at all is a failure.
        if records.is_empty() && !output.status.success() {
            return Err(Error::Program {
                what: format!("pg_waldump --start {from}"),
                status: output.status.to_string(),
                detail: last_line(&output.stderr, &output.stdout),
            });
        }
        Ok(records)
    }
}

/// One line of `pg_waldump`'s default output, as pg_walinspect would show the record:
/// `rmgr: XLOG len (rec/tot): 34/ 34, tx: 0, lsn: 0/02000060, prev 0/02000028, desc:
/// BACKUP_END 0/2000028[, blkref #0: rel 1663/5/16384 blk 0 FPW]`. The record's end is not
/// printed; it is computed from its start and total length, across page headers.
pub fn parse_waldump_line(
    line: &str,
    seg: backup_coordinator::lsn::WalSegmentSize,
) -> Option<WalRecord> {
    let rest = line.strip_prefix("rmgr: ")?;
    let (rmgr, rest) = rest.split_once(char::is_whitespace)?;
    let lengths = rest.split_once("len (rec/tot):")?.1;
    let (_, lengths) = lengths.split_once('/')?;
    let total: u32 = lengths.split(',').next()?.trim().parse().ok()?;
    let lsn_text = rest.split_once("lsn: ")?.1.split(',').next()?.trim();
    let start: Lsn = lsn_text.parse().ok()?;
    let desc = rest.split_once("desc: ")?.1;
    let (desc, block_ref) = match desc.find(", blkref #") {
        Some(i) => (&desc[..i], desc[i + 2..].to_string()),
        None => (desc, String::new()),
    };
    let (kind, description) = match desc.split_once(' ') {
        Some((k, d)) => (k.to_string(), d.trim().to_string()),
        None => (desc.trim().to_string(), String::new()),
    };
    let fpi = block_ref.contains("FPW");
    // The insertion reserves MAXALIGN(total) bytes; the end the server reports (and
    // pg_walinspect's end_lsn) is the end of that reservation.
    let aligned = u64::from(total).div_ceil(backup_coordinator::lsn::RECORD_ALIGN_BYTES)
        * backup_coordinator::lsn::RECORD_ALIGN_BYTES;
    let end = seg.record_end(seg.byte_pos(start) + aligned);
    Some(WalRecord {
        start,
        end,
        rmgr: rmgr.to_string(),
        kind,
        length: total,
        fpi_length: u32::from(fpi),
        description,
        block_ref,
    })
}

/// Parses the redo point out of a checkpoint record's description (`redo 0/2000028; tli 1; ...`).
pub fn checkpoint_redo(description: &str) -> Option<Lsn> {
    let rest = description.strip_prefix("redo ")?;
    let lsn = rest.split(';').next()?;
    lsn.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line pg_waldump 14 printed for the BACKUP_END record of a backup whose
    /// `pg_stop_backup` returned 0/301E238: the end is the record's MAXALIGNed reservation.
    #[test]
    fn a_pg_waldump_line_reads_as_pg_walinspect_shows_the_record() {
        let seg = backup_coordinator::lsn::WalSegmentSize::DEFAULT;
        let line = "rmgr: XLOG        len (rec/tot):     34/    34, tx:          0, \
                    lsn: 0/0301E210, prev 0/0301E1D8, desc: BACKUP_END 0/3000028";
        let r = parse_waldump_line(line, seg).expect("a record line");
        assert_eq!((r.rmgr.as_str(), r.kind.as_str()), ("XLOG", "BACKUP_END"));
        assert_eq!(r.description, "0/3000028");
        assert_eq!((r.start, r.end), (Lsn(0x0301_E210), Lsn(0x0301_E238)));
        assert_eq!(r.fpi_length, 0);
        let image = "rmgr: Heap        len (rec/tot):     54/  2161, tx:        736, \
                     lsn: 0/05000100, prev 0/050000C8, desc: HOT_UPDATE off 1 xmax 736 ; new off 2 xmax 0, \
                     blkref #0: rel 1663/13010/16385 blk 0 FPW";
        let r = parse_waldump_line(image, seg).expect("a record line");
        assert_eq!(r.kind, "HOT_UPDATE");
        assert!(r.block_ref.contains("/16385 ") && r.fpi_length > 0, "{r:?}");
        assert_eq!(r.length, 2161);
        // A record that crosses a page boundary counts the next page's header.
        let crossing = "rmgr: XLOG        len (rec/tot):     34/    34, tx:          0, \
                        lsn: 0/03001FF0, prev 0/03001FB8, desc: BACKUP_END 0/3000028";
        let r = parse_waldump_line(crossing, seg).expect("a record line");
        assert_eq!(r.end, Lsn(0x0300_2000 + 24 + 40 - 16));
        assert!(parse_waldump_line("pg_waldump: error: error in WAL record", seg).is_none());
    }

    #[test]
    fn redo_is_read_from_a_checkpoint_description() {
        let d = "redo 0/6000028; tli 1; prev tli 1; fpw false; xid 0:735; oid 24576; online";
        assert_eq!(checkpoint_redo(d), Some(Lsn(0x0600_0028)));
        assert_eq!(checkpoint_redo("0/6000028"), None);
    }

    #[test]
    fn last_line_prefers_stderr() {
        assert_eq!(last_line(b"a\nb failed\n\n", b"out"), "b failed");
        assert_eq!(last_line(b"  \n", b"only out\n"), "only out");
        assert_eq!(last_line(b"", b""), "(no output)");
    }
}
