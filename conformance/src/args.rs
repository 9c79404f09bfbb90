//! The command line: `pg-conformance [FLAGS]` runs the suite against a server that is already
//! running (`scripts/pg-conformance` starts one and passes these flags); the hidden
//! `pg-conformance hold-backup CONNINFO LABEL` is the client the suite kills with SIGKILL.

use crate::error::Error;
use std::path::PathBuf;

/// Where the server is and how to reach it.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// Host to connect to (loopback).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Role (a superuser; the script's cluster trusts local TCP connections).
    pub user: String,
    /// Database.
    pub dbname: String,
    /// The server's data directory (checked for `backup_label`; pg_ctl's `-D`).
    pub pgdata: PathBuf,
    /// Directory of the server's programs (pg_ctl, pg_basebackup).
    pub bindir: PathBuf,
    /// Where `archive_command` copies WAL and history files.
    pub archive_dir: PathBuf,
    /// Scratch directory for `pg_basebackup` output.
    pub work_dir: PathBuf,
    /// The server's log file (pg_ctl's `-l`; read for the exit-cleanup warnings).
    pub server_log: PathBuf,
    /// Run pg_ctl as this OS user (`runuser -u USER --`), when the suite runs as root.
    pub pg_ctl_user: Option<String>,
    /// The port of a streaming standby of the server (same host), for the standby rows.
    pub standby_port: Option<u16>,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct RunArgs {
    /// The server.
    pub server: ServerSpec,
    /// Write the report as JSON here.
    pub json: Option<PathBuf>,
    /// Pages touched in each full-page-image phase.
    pub pages: u8,
    /// Sessions that start a backup at the same moment.
    pub sessions: u8,
}

/// A parsed command line.
#[derive(Clone, Debug)]
pub enum Invocation {
    /// Run the suite.
    Run(Box<RunArgs>),
    /// Print the help text.
    Help,
    /// Internal: connect, start a backup, print `<pid> <start lsn>`, then wait to be killed.
    HoldBackup {
        /// libpq-style connection string.
        conninfo: String,
        /// The backup label.
        label: String,
    },
}

/// The help text.
pub const HELP: &str = "\
pg-conformance: the backup scenarios on a real PostgreSQL 15 server and through the core
(Design::Pg15), compared field by field. Normally started by scripts/pg-conformance, which
creates, starts and always stops the server.

USAGE:
    pg-conformance --port PORT --pgdata DIR --archive-dir DIR --work-dir DIR --server-log FILE [FLAGS]

FLAGS:
    --host HOST           server address (default 127.0.0.1)
    --port PORT           server port (required)
    --user ROLE           superuser to connect as (default postgres)
    --dbname DB           database (default postgres)
    --pgdata DIR          the server's data directory (required)
    --bindir DIR          the server's programs (default /usr/lib/postgresql/15/bin)
    --archive-dir DIR     where archive_command copies files (required)
    --work-dir DIR        scratch space for pg_basebackup output (required)
    --server-log FILE     the server's log file, pg_ctl -l (required)
    --pg-ctl-user USER    run pg_ctl as USER through runuser (when running as root)
    --standby-port PORT   a streaming standby of the server on PORT: adds the standby rows
    --json FILE           also write the report as JSON to FILE
    --pages N             pages updated in each full-page-image phase, 1..=64 (default 4)
    --sessions K          sessions starting a backup at once, 2..=16 (default 4)
    -h, --help            this text

EXIT STATUS:
    0 the server did what the core predicts in every check
    1 at least one check differs
    2 the suite could not run (bad flags, server unreachable, a step failed)
";

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Invocation, Error> {
    if args.first().map(String::as_str) == Some("hold-backup") {
        return match args {
            [_, conninfo, label] => Ok(Invocation::HoldBackup {
                conninfo: conninfo.clone(),
                label: label.clone(),
            }),
            _ => Err(Error::Usage(
                "hold-backup takes CONNINFO and LABEL".to_string(),
            )),
        };
    }
    let mut host = "127.0.0.1".to_string();
    let mut port = None;
    let mut user = "postgres".to_string();
    let mut dbname = "postgres".to_string();
    let mut pgdata = None;
    let mut bindir = PathBuf::from("/usr/lib/postgresql/15/bin");
    let mut archive_dir = None;
    let mut work_dir = None;
    let mut server_log = None;
    let mut pg_ctl_user = None;
    let mut standby_port = None;
    let mut json = None;
    let mut pages = 4u8;
    let mut sessions = 4u8;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(Invocation::Help);
        }
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| Error::Usage(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--host" => host = value()?,
            "--port" => port = Some(number(flag, &value()?, 1, u16::MAX)?),
            "--user" => user = value()?,
            "--dbname" => dbname = value()?,
            "--pgdata" => pgdata = Some(PathBuf::from(value()?)),
            "--bindir" => bindir = PathBuf::from(value()?),
            "--archive-dir" => archive_dir = Some(PathBuf::from(value()?)),
            "--work-dir" => work_dir = Some(PathBuf::from(value()?)),
            "--server-log" => server_log = Some(PathBuf::from(value()?)),
            "--pg-ctl-user" => pg_ctl_user = Some(value()?),
            "--standby-port" => standby_port = Some(number(flag, &value()?, 1, u16::MAX)?),
            "--json" => json = Some(PathBuf::from(value()?)),
            "--pages" => pages = number(flag, &value()?, 1, 64)?,
            "--sessions" => sessions = number(flag, &value()?, 2, 16)?,
            other => return Err(Error::Usage(format!("unknown flag {other:?} (see --help)"))),
        }
    }
    let required = |name: &str, v: Option<PathBuf>| {
        v.ok_or_else(|| Error::Usage(format!("{name} is required (see --help)")))
    };
    Ok(Invocation::Run(Box::new(RunArgs {
        server: ServerSpec {
            host,
            port: port.ok_or_else(|| Error::Usage("--port is required (see --help)".into()))?,
            user,
            dbname,
            pgdata: required("--pgdata", pgdata)?,
            bindir,
            archive_dir: required("--archive-dir", archive_dir)?,
            work_dir: required("--work-dir", work_dir)?,
            server_log: required("--server-log", server_log)?,
            pg_ctl_user,
            standby_port,
        },
        json,
        pages,
        sessions,
    })))
}

fn number<T>(flag: &str, text: &str, min: T, max: T) -> Result<T, Error>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match text.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(Error::Usage(format!(
            "{flag}: {text:?} is not a number from {min} to {max}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn run_needs_its_directories_and_port() {
        let ok = parse(&strings(&[
            "--port",
            "5999",
            "--pgdata",
            "/d",
            "--archive-dir",
            "/a",
            "--work-dir",
            "/w",
            "--server-log",
            "/l",
            "--pages",
            "8",
        ]));
        match ok {
            Ok(Invocation::Run(run)) => {
                assert_eq!(run.server.port, 5999);
                assert_eq!(run.pages, 8);
                assert_eq!(run.sessions, 4);
                assert_eq!(run.server.host, "127.0.0.1");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse(&strings(&["--port", "5999"])),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse(&strings(&["--pages", "0"])),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse(&strings(&["--bogus"])),
            Err(Error::Usage(_))
        ));
        assert!(matches!(parse(&strings(&["--help"])), Ok(Invocation::Help)));
    }

    #[test]
    fn hold_backup_takes_conninfo_and_label() {
        assert!(matches!(
            parse(&strings(&["hold-backup", "host=x", "l"])),
            Ok(Invocation::HoldBackup { .. })
        ));
        assert!(parse(&strings(&["hold-backup", "host=x"])).is_err());
    }
}
