//! `pg-conformance`: the same backup scenarios on a real PostgreSQL 15 server and through
//! the core (`Design::Pg15`), compared field by field. See the README's "Conformance"
//! section; `scripts/pg-conformance` creates the server, runs this, and always stops it.

mod args;
mod core_run;
mod error;
mod facts;
mod report;
mod scenarios;
mod server;
mod summaries;

use args::Invocation;
use error::Error;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("pg-conformance: error: {err}");
            ExitCode::from(2)
        }
    }
}

fn run(argv: &[String]) -> Result<ExitCode, Error> {
    match args::parse(argv)? {
        Invocation::Help => {
            print!("{}", args::HELP);
            Ok(ExitCode::SUCCESS)
        }
        Invocation::HoldBackup { conninfo, label } => {
            server::hold_backup(&conninfo, &label)?;
            Ok(ExitCode::SUCCESS)
        }
        Invocation::Run(run) => {
            let started = std::time::Instant::now();
            let report = scenarios::Suite::new(&run)?.run()?;
            print!("{}", report.render());
            if let Some(path) = &run.json {
                write_json(path, &report)?;
                println!("report written to {}", path.display());
            }
            println!(
                "suite ran in {:.1} s against {}",
                started.elapsed().as_secs_f64(),
                report.server_version
            );
            // The plain closing line CI runners read: checks that held, and checks that differ.
            println!(
                "conformance: {} passed, {} failed",
                report.summary.same + report.summary.accepted,
                report.summary.differs
            );
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn write_json(path: &std::path::Path, report: &report::Report) -> Result<(), Error> {
    let io = |source| Error::Io {
        what: "writing",
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    std::fs::write(path, text).map_err(io)
}
