//! Why the suite could not run (exit status 2). A difference between the server and the core
//! is not an error: it is a row of the report whose verdict is "differs" (exit status 1).

use std::path::PathBuf;
use thiserror::Error;

/// A failure that stops the suite.
#[derive(Debug, Error)]
pub enum Error {
    /// Bad command line.
    #[error("usage: {0}")]
    Usage(String),
    /// The server could not be reached.
    #[error("cannot connect to the server ({target}): {source}")]
    Connect {
        /// Where.
        target: String,
        /// Why.
        #[source]
        source: postgres::Error,
    },
    /// A statement that must succeed failed.
    #[error("{what}: {source}")]
    Sql {
        /// The statement's purpose.
        what: String,
        /// The client's error.
        #[source]
        source: postgres::Error,
    },
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A program (pg_ctl, pg_basebackup) failed.
    #[error("{what} failed ({status}): {detail}")]
    Program {
        /// The program and its purpose.
        what: String,
        /// Its exit status.
        status: String,
        /// The last line of its output.
        detail: String,
    },
    /// Something did not happen in time.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
    },
    /// The server answered something the suite cannot read (not a difference in behaviour:
    /// the observation itself failed).
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
    /// The core refused an action the script gave it.
    #[error("the core refused a scripted action: {0}")]
    CoreApply(#[from] backup_coordinator::action::ApplyError),
    /// The core broke one of its own invariants while running a scenario.
    #[error("the core broke an invariant: {0}")]
    CoreViolation(String),
    /// The core cannot go on: no session can step and the checkpointer has nothing to do.
    #[error("the core is stuck: {0}")]
    CoreStuck(String),
    /// The core's configuration was refused.
    #[error("the core's configuration was refused: {0}")]
    CoreConfig(#[from] backup_coordinator::config::ConfigError),
    /// The JSON report could not be written.
    #[error("writing the JSON report: {0}")]
    Json(#[from] serde_json::Error),
}
