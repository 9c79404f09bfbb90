//! The report: one row per check (scenario, what the core predicts, what the server did,
//! verdict), printed as a table and written as JSON. Rows keep the order the scenarios ran
//! in, which is fixed; no row carries a timestamp or anything else that changes between runs
//! of a conforming server except where the server's own LSNs are shown.

use serde::Serialize;
use std::fmt::Write as _;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The server did what the core predicts.
    Same,
    /// The server did something else: a finding.
    Differs,
    /// They differ in a way this project accepts as a modelling choice (the note says which).
    Accepted,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Same => "same",
            Verdict::Differs => "DIFFERS",
            Verdict::Accepted => "accepted",
        }
    }
}

/// One row.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// The scenario.
    pub scenario: String,
    /// What is compared.
    pub check: String,
    /// What the core predicts.
    pub core: String,
    /// What the server did.
    pub server: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Per-backup facts, or why a difference is accepted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// The whole report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The server's `version()`.
    pub server_version: String,
    /// Its major version.
    pub major: u32,
    /// How its WAL was read back (full-page images counted, records found):
    /// `pg_walinspect` (15+) or `pg_waldump` (14).
    pub wal_reader: &'static str,
    /// The design the core ran.
    pub core_design: String,
    /// Pages per full-page-image phase.
    pub pages: u8,
    /// Sessions in the simultaneous-start scenario.
    pub sessions: u8,
    /// The rows.
    pub checks: Vec<Check>,
    /// Rows by verdict.
    pub summary: Summary,
}

/// Counts by verdict.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Same.
    pub same: usize,
    /// Differs.
    pub differs: usize,
    /// Accepted modelling choices.
    pub accepted: usize,
}

impl Report {
    /// Adds a row whose verdict is "same" exactly when the two values are equal.
    pub fn compare(
        &mut self,
        scenario: &str,
        check: &str,
        core: impl Into<String>,
        server: impl Into<String>,
        details: Vec<String>,
    ) {
        let (core, server) = (core.into(), server.into());
        let verdict = if core == server {
            Verdict::Same
        } else {
            Verdict::Differs
        };
        self.push(scenario, check, core, server, verdict, details);
    }

    /// Adds a row with a verdict decided by the caller (for values that are equal under a
    /// stated mapping, such as a typed error and PostgreSQL's message).
    pub fn push(
        &mut self,
        scenario: &str,
        check: &str,
        core: String,
        server: String,
        verdict: Verdict,
        details: Vec<String>,
    ) {
        self.checks.push(Check {
            scenario: scenario.to_string(),
            check: check.to_string(),
            core,
            server,
            verdict,
            details,
        });
        self.summarize();
    }

    fn summarize(&mut self) {
        let count = |v| self.checks.iter().filter(|c| c.verdict == v).count();
        self.summary = Summary {
            same: count(Verdict::Same),
            differs: count(Verdict::Differs),
            accepted: count(Verdict::Accepted),
        };
    }

    /// True when no row differs.
    pub fn passed(&self) -> bool {
        self.summary.differs == 0
    }

    /// The table, then the details of every row that is not "same", then the summary.
    pub fn render(&self) -> String {
        const WIDTH: [usize; 4] = [22, 48, 44, 44];
        let headers = ["scenario", "check", "core predicts", "server did"];
        let mut out = String::new();
        let _ = writeln!(
            out,
            "PostgreSQL {} against the core's design {}; WAL read back with {}",
            self.major, self.core_design, self.wal_reader
        );
        let cell = |text: &str, width: usize| -> String {
            let chars: Vec<char> = text.chars().collect();
            if chars.len() <= width {
                format!("{text:<width$}")
            } else {
                let cut: String = chars[..width - 1].iter().collect();
                format!("{cut}…")
            }
        };
        let line = |out: &mut String, cols: [&str; 4], verdict: &str| {
            let row: Vec<String> = cols
                .iter()
                .zip(WIDTH)
                .map(|(text, width)| cell(text, width))
                .collect();
            let _ = writeln!(out, "| {} | {verdict:<8} |", row.join(" | "));
        };
        line(&mut out, headers, "verdict");
        let rule: Vec<String> = WIDTH.iter().map(|w| "-".repeat(*w)).collect();
        let _ = writeln!(out, "|-{}-|----------|", rule.join("-|-"));
        for check in &self.checks {
            line(
                &mut out,
                [&check.scenario, &check.check, &check.core, &check.server],
                check.verdict.word(),
            );
        }
        for check in self.checks.iter().filter(|c| c.verdict != Verdict::Same) {
            let _ = writeln!(
                out,
                "\n{} [{}] {}\n  core:   {}\n  server: {}",
                check.verdict.word(),
                check.scenario,
                check.check,
                check.core,
                check.server
            );
            for detail in &check.details {
                let _ = writeln!(out, "  - {detail}");
            }
        }
        let _ = writeln!(
            out,
            "\n{} checks: {} same, {} differ, {} accepted modelling choices",
            self.checks.len(),
            self.summary.same,
            self.summary.differs,
            self.summary.accepted
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_is_same_only_for_equal_values_and_table_lists_differences() {
        let mut report = Report::default();
        report.compare("a", "one", "1", "1", vec![]);
        report.compare("a", "two", "2", "3", vec!["B1: 3".into()]);
        assert!(!report.passed());
        assert_eq!(report.summary.same, 1);
        assert_eq!(report.summary.differs, 1);
        let text = report.render();
        assert!(text.contains("DIFFERS [a] two"));
        assert!(text.contains("  - B1: 3"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["checks"][1]["verdict"], "differs");
        assert!(json["checks"][0].get("details").is_none());
    }

    #[test]
    fn long_cells_are_cut_in_the_table() {
        let mut report = Report::default();
        report.compare("s", &"x".repeat(80), "v", "v", vec![]);
        let text = report.render();
        assert!(text.contains('…'));
        assert!(report.passed());
    }
}
