//! What each side says about a group of backups, in one shape for both, and the checks that
//! turn two such accounts into report rows. Every value in a row is computed by the same
//! function from the core's facts and from the server's, so a row is "same" exactly when the
//! two sides agree on that field. LSNs and times differ between the two (the server has
//! written other WAL, and the core's clock is logical), so rows compare what must hold for
//! each backup (relations between its own LSNs, its files' lines), never raw positions.

use crate::report::Report;
use backup_coordinator::label::{BackupHistory, BackupLabel, BackupMethod};
use backup_coordinator::lsn::{Lsn, TimeLineId, WalSegmentSize};
use backup_coordinator::walfile::{HistoryFileName, WalFileName};
use std::collections::{BTreeMap, BTreeSet};

/// One backup that stopped, as one side saw it.
#[derive(Clone, Debug)]
pub struct BackupFacts {
    /// A short name for details (`A`, `bb-1`, ...).
    pub name: String,
    /// The label the user gave.
    pub given_label: String,
    /// The start point the start returned (SQL); for streamed backups, the label's.
    pub start: Lsn,
    /// The stop point the stop returned (SQL `pg_backup_stop().lsn`), if it returns one.
    pub stop: Option<Lsn>,
    /// The backup_label text, byte for byte.
    pub label_file: String,
    /// The history file written for this backup: (file name, text).
    pub history: Option<(String, String)>,
}

/// A `XLOG_BACKUP_END` record.
#[derive(Clone, Debug)]
pub struct EndRecord {
    /// Where it begins.
    pub at: Lsn,
    /// Where it ends.
    pub end: Lsn,
    /// Its length in bytes.
    pub length: u32,
    /// Its description: the start point it carries, as `%X/%X`.
    pub carries: String,
}

/// A checkpoint record named by some label.
#[derive(Clone, Debug)]
pub struct CheckpointRecord {
    /// Its redo point.
    pub redo: Option<Lsn>,
    /// Its length in bytes.
    pub length: u32,
}

/// One side's account of a group of backups.
#[derive(Clone, Debug, Default)]
pub struct SideFacts {
    /// The backups.
    pub backups: Vec<BackupFacts>,
    /// The backup-end records written while they ran.
    pub end_records: Vec<EndRecord>,
    /// Checkpoint records, by location.
    pub checkpoints: BTreeMap<Lsn, CheckpointRecord>,
}

/// "k of n" for the backups satisfying `test`, and one detail line per backup.
fn count(
    side: &SideFacts,
    test: impl Fn(&BackupFacts) -> Result<(), String>,
) -> (String, Vec<String>) {
    let mut ok = 0;
    let mut details = Vec::new();
    for b in &side.backups {
        match test(b) {
            Ok(()) => ok += 1,
            Err(why) => details.push(format!("{}: {why}", b.name)),
        }
    }
    (format!("{ok} of {}", side.backups.len()), details)
}

fn tag(side: &str, details: Vec<String>) -> Vec<String> {
    details.into_iter().map(|d| format!("{side} {d}")).collect()
}

/// Adds the rows for one compared value.
fn row(
    report: &mut Report,
    scenario: &str,
    check: &str,
    core: (String, Vec<String>),
    server: (String, Vec<String>),
) {
    let mut details = tag("core", core.1);
    details.extend(tag("server", server.1));
    report.compare(scenario, check, core.0, server.0, details);
}

fn parsed_label(b: &BackupFacts, seg: WalSegmentSize) -> Result<BackupLabel, String> {
    BackupLabel::parse(&b.label_file, seg).map_err(|e| format!("backup_label does not parse: {e}"))
}

fn parsed_history(b: &BackupFacts, seg: WalSegmentSize) -> Result<(String, BackupHistory), String> {
    let (name, text) = b.history.as_ref().ok_or("no history file")?;
    let history =
        BackupHistory::parse(text, seg).map_err(|e| format!("{name} does not parse: {e}"))?;
    Ok((name.clone(), history))
}

fn the_end_record(side: &SideFacts, start: Lsn) -> Result<&EndRecord, String> {
    let carrying: Vec<&EndRecord> = side
        .end_records
        .iter()
        .filter(|r| r.carries == start.to_string())
        .collect();
    match carrying.as_slice() {
        [one] => Ok(one),
        other => Err(format!("{} BACKUP_END records carry {start}", other.len())),
    }
}

/// The lines of a label that do not depend on LSNs or the clock.
pub fn label_shape(label: &BackupLabel, given: &str, text: &str, seg: WalSegmentSize) -> String {
    let method = match &label.method {
        Some(BackupMethod::Streamed) => "streamed".to_string(),
        Some(BackupMethod::PgStartBackup) => "pg_start_backup".to_string(),
        Some(BackupMethod::Other(word)) => word.clone(),
        None => "none".to_string(),
    };
    let from = label
        .from
        .map_or("none".to_string(), |f| format!("{f:?}").to_lowercase());
    let tli = label
        .start_timeline
        .map_or("none".to_string(), |t| t.to_string());
    let file = if label.start_file
        == WalFileName::containing(label.start_file.timeline, label.start, seg)
    {
        "of start"
    } else {
        "ELSEWHERE"
    };
    let given = if label.label == given {
        "as given"
    } else {
        "NOT as given"
    };
    format!(
        "{} lines, {method}, {from}, tli {tli}, label {given}, file {file}",
        text.lines().count()
    )
}

/// The lines of a history file that do not depend on LSNs or the clock: the fields of its
/// label lines (as [`label_shape`]) and of its stop lines.
pub fn history_shape(
    history: &BackupHistory,
    given: &str,
    text: &str,
    seg: WalSegmentSize,
) -> String {
    let stop_tli = history
        .stop_timeline
        .map_or("none".to_string(), |t| t.to_string());
    let timeline = history.stop_file.timeline;
    let stop_file = if history.stop_file == WalFileName::ending_at(timeline, history.stop, seg) {
        "of stop's last byte"
    } else if history.stop_file == WalFileName::containing(timeline, history.stop, seg) {
        "of stop"
    } else {
        "ELSEWHERE"
    };
    format!(
        "{}, stop tli {stop_tli}, stop file {stop_file}",
        label_shape(&history.label, given, text, seg)
    )
}

fn shapes(side: &SideFacts, shape: impl Fn(&BackupFacts) -> String) -> (String, Vec<String>) {
    let mut set = BTreeSet::new();
    let mut details = Vec::new();
    for b in &side.backups {
        let s = shape(b);
        details.push(format!("{}: {s}", b.name));
        set.insert(s);
    }
    let value = set.into_iter().collect::<Vec<_>>().join(" / ");
    (value, details)
}

fn lengths(values: impl Iterator<Item = u32>) -> String {
    let set: BTreeSet<u32> = values.collect();
    if set.is_empty() {
        return "none".to_string();
    }
    set.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every row about a group of stopped backups: start points, end records, stop points,
/// checkpoints, record sizes, labels and history files. `sql` says whether the start and
/// stop returned their points (SQL functions) or the client only got files (pg_basebackup).
pub fn compare_backups(
    report: &mut Report,
    scenario: &str,
    core: &SideFacts,
    server: &SideFacts,
    sql: bool,
    timeline: TimeLineId,
    seg: WalSegmentSize,
) {
    let distinct = |side: &SideFacts| {
        let set: BTreeSet<Lsn> = side.backups.iter().map(|b| b.start).collect();
        let details = side
            .backups
            .iter()
            .map(|b| format!("{}: start {}", b.name, b.start))
            .collect();
        (
            format!("{} distinct of {}", set.len(), side.backups.len()),
            details,
        )
    };
    if core.backups.len() > 1 || server.backups.len() > 1 {
        row(
            report,
            scenario,
            "start points are pairwise distinct",
            distinct(core),
            distinct(server),
        );
    }

    if sql {
        let returned = |side: &SideFacts| {
            count(side, |b| {
                let label = parsed_label(b, seg)?;
                if label.start == b.start {
                    Ok(())
                } else {
                    Err(format!(
                        "returned {} but label says {}",
                        b.start, label.start
                    ))
                }
            })
        };
        row(
            report,
            scenario,
            "start returned = label's START WAL LOCATION",
            returned(core),
            returned(server),
        );
    }

    let per_backup = |side: &SideFacts| {
        let counts: Vec<String> = side
            .backups
            .iter()
            .map(|b| {
                side.end_records
                    .iter()
                    .filter(|r| r.carries == b.start.to_string())
                    .count()
                    .to_string()
            })
            .collect();
        let matched = side
            .end_records
            .iter()
            .filter(|r| {
                side.backups
                    .iter()
                    .any(|b| r.carries == b.start.to_string())
            })
            .count();
        let details = side
            .end_records
            .iter()
            .map(|r| format!("BACKUP_END at {} .. {} carries {}", r.at, r.end, r.carries))
            .collect();
        (
            format!(
                "per backup [{}]; {} carry no backup's start",
                counts.join(", "),
                side.end_records.len() - matched
            ),
            details,
        )
    };
    row(
        report,
        scenario,
        "BACKUP_END records, described by their start LSN",
        per_backup(core),
        per_backup(server),
    );

    let stop_at_end = |side: &SideFacts| {
        count(side, |b| {
            let record = the_end_record(side, b.start)?;
            if let Some(stop) = b.stop {
                if stop != record.end {
                    return Err(format!(
                        "stop returned {stop}, record ends at {}",
                        record.end
                    ));
                }
            }
            let (name, history) = parsed_history(b, seg)?;
            if history.stop != record.end {
                return Err(format!(
                    "{name} says STOP {}, record ends at {}",
                    history.stop, record.end
                ));
            }
            Ok(())
        })
    };
    let what = if sql {
        "stop returned = history STOP = end of its BACKUP_END"
    } else {
        "history STOP = end of its BACKUP_END"
    };
    row(
        report,
        scenario,
        what,
        stop_at_end(core),
        stop_at_end(server),
    );

    let redo = |side: &SideFacts| {
        count(side, |b| {
            let label = parsed_label(b, seg)?;
            let record = side
                .checkpoints
                .get(&label.checkpoint)
                .ok_or_else(|| format!("no checkpoint record at {}", label.checkpoint))?;
            match record.redo {
                Some(redo) if redo == label.start => Ok(()),
                other => Err(format!(
                    "checkpoint {} has redo {other:?}, label starts at {}",
                    label.checkpoint, label.start
                )),
            }
        })
    };
    row(
        report,
        scenario,
        "start = redo of the label's CHECKPOINT LOCATION",
        redo(core),
        redo(server),
    );

    let sizes = |side: &SideFacts| {
        let end = lengths(side.end_records.iter().map(|r| r.length));
        let checkpoint = lengths(side.checkpoints.values().map(|c| c.length));
        (
            format!("BACKUP_END {end} B; checkpoint {checkpoint} B"),
            vec![],
        )
    };
    row(
        report,
        scenario,
        "WAL record lengths",
        sizes(core),
        sizes(server),
    );

    let round_trip = |side: &SideFacts| {
        count(side, |b| {
            let label = parsed_label(b, seg)?;
            if label.render() == b.label_file {
                Ok(())
            } else {
                Err(format!("renders back as {:?}", label.render()))
            }
        })
    };
    row(
        report,
        scenario,
        "backup_label parses, renders back byte for byte",
        round_trip(core),
        round_trip(server),
    );

    let label_fields = |side: &SideFacts| {
        shapes(side, |b| match parsed_label(b, seg) {
            Ok(label) => label_shape(&label, &b.given_label, &b.label_file, seg),
            Err(e) => e,
        })
    };
    row(
        report,
        scenario,
        "backup_label lines and fields",
        label_fields(core),
        label_fields(server),
    );

    let history_round_trip = |side: &SideFacts| {
        count(side, |b| {
            let (name, history) = parsed_history(b, seg)?;
            let text = b
                .history
                .as_ref()
                .map(|(_, t)| t.as_str())
                .unwrap_or_default();
            if history.render() == text {
                Ok(())
            } else {
                Err(format!("{name} renders back differently"))
            }
        })
    };
    row(
        report,
        scenario,
        "history file parses, renders back byte for byte",
        history_round_trip(core),
        history_round_trip(server),
    );

    let history_fields = |side: &SideFacts| {
        shapes(side, |b| match parsed_history(b, seg) {
            Ok((_, history)) => {
                let text = b
                    .history
                    .as_ref()
                    .map(|(_, t)| t.as_str())
                    .unwrap_or_default();
                let same_label = match parsed_label(b, seg) {
                    Ok(label) if label == history.label => "label repeated",
                    Ok(_) => "label NOT repeated",
                    Err(_) => "label unparsable",
                };
                format!(
                    "{}, {same_label}",
                    history_shape(&history, &b.given_label, text, seg)
                )
            }
            Err(e) => e,
        })
    };
    row(
        report,
        scenario,
        "history file lines and fields",
        history_fields(core),
        history_fields(server),
    );

    // The name the core computes from the server's own start point and timeline, against the
    // name of the file the server archived for that backup.
    let computed: Vec<String> = server
        .backups
        .iter()
        .map(|b| HistoryFileName::new(timeline, b.start, seg).to_string())
        .collect();
    let archived: Vec<String> = server
        .backups
        .iter()
        .map(|b| {
            b.history
                .as_ref()
                .map_or("(none)".to_string(), |(name, _)| name.clone())
        })
        .collect();
    report.compare(
        scenario,
        "history file name (core: HistoryFileName::new)",
        computed.join(", "),
        archived.join(", "),
        vec![],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: WalSegmentSize = WalSegmentSize::DEFAULT;
    const LABEL: &str = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
CHECKPOINT LOCATION: 0/2000060\n\
BACKUP METHOD: streamed\n\
BACKUP FROM: primary\n\
START TIME: 2026-11-24 23:28:46 UTC\n\
LABEL: a\n\
START TIMELINE: 1\n";

    #[test]
    fn label_shape_names_the_fields_that_do_not_depend_on_time_or_lsns() {
        let label = BackupLabel::parse(LABEL, SEG).unwrap();
        assert_eq!(
            label_shape(&label, "a", LABEL, SEG),
            "7 lines, streamed, primary, tli 1, label as given, file of start"
        );
        assert!(label_shape(&label, "b", LABEL, SEG).contains("NOT as given"));
    }

    #[test]
    fn history_shape_of_a_real_file_names_its_stop_file_rule() {
        let text =
            include_str!("../../tests/fixtures/pg15/000000010000000000000015.000000D8.backup");
        let history = BackupHistory::parse(text, SEG).unwrap();
        assert_eq!(
            history_shape(&history, "bb_on_3", text, SEG),
            "10 lines, streamed, primary, tli 1, label as given, file of start, \
             stop tli 1, stop file of stop's last byte"
        );
    }

    fn facts(start: u64, carries: &[u64]) -> SideFacts {
        SideFacts {
            backups: vec![BackupFacts {
                name: "A".into(),
                given_label: "a".into(),
                start: Lsn(start),
                stop: None,
                label_file: LABEL.into(),
                history: None,
            }],
            end_records: carries
                .iter()
                .map(|&c| EndRecord {
                    at: Lsn(0x0200_0100),
                    end: Lsn(0x0200_0122),
                    length: 34,
                    carries: Lsn(c).to_string(),
                })
                .collect(),
            checkpoints: BTreeMap::new(),
        }
    }

    #[test]
    fn a_second_end_record_for_one_start_is_a_difference() {
        let mut report = Report::default();
        compare_backups(
            &mut report,
            "t",
            &facts(0x0200_0028, &[0x0200_0028]),
            &facts(0x0200_0028, &[0x0200_0028, 0x0200_0028]),
            true,
            TimeLineId(1),
            SEG,
        );
        let row = report
            .checks
            .iter()
            .find(|c| c.check.starts_with("BACKUP_END"))
            .unwrap();
        assert_eq!(row.core, "per backup [1]; 0 carry no backup's start");
        assert_eq!(row.server, "per backup [2]; 0 carry no backup's start");
        assert!(!report.passed());
    }
}
