//! 17+: the WAL summarizer and incremental backup against the core's rules
//! (`backup_coordinator::incremental`). With `summarize_wal` on, a table is created and
//! filled, a full backup taken, the table written, truncated by VACUUM and extended again
//! (summary files split at each checkpoint); the server's WAL in that range is read back
//! (`pg_get_wal_records_info`, `pg_get_wal_block_info`), each record mapped to what the
//! summarizer reads of it, and the core's `summarize_wal` run over them. Compared: the summary
//! files (their ranges) and what each says about the table (`pg_wal_summary_contents()`); then
//! how an incremental backup from the full one sends the table, against the core's
//! `prepare_incremental` and `file_backup_method` over the server's own summary files. And a
//! standby promoted inside a WAL segment: the old timeline's segment renamed `.partial`, and
//! the summarizer reading through it (INCREMENTAL.md I2).

use crate::args::ServerSpec;
use crate::error::Error;
use crate::report::Report;
use crate::server::{Session, WalRecord, WAIT};
use backup_coordinator::incremental::{
    file_backup_method, prepare_incremental, summarize_wal, BlockRefTable, BoundaryKind,
    FileBackupMethod, Fork, ForkKey, ManifestRange, MergeOrder, RecordKind, RelNumber, Summarized,
    SummarizerRules, SummarySelection, TimelineEntry, WalRecord as CoreRecord, WalSummary,
};
use backup_coordinator::label::{BackupLabel, IncrementalFrom};
use backup_coordinator::lsn::{Lsn, TimeLineId, WalSegmentSize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

const S: &str = "WAL summaries (17+)";
/// The table, as the core's relation 1.
const TABLE: RelNumber = RelNumber(1);

/// The scenario. Leaves `summarize_wal` as it found it (off).
pub fn wal_summaries(
    mon: &mut Session,
    spec: &ServerSpec,
    seg: WalSegmentSize,
    report: &mut Report,
) -> Result<(), Error> {
    mon.execute("ALTER SYSTEM SET summarize_wal = on")?;
    mon.execute("SELECT pg_reload_conf()")?;
    wait(
        mon,
        "SELECT (summarizer_pid IS NOT NULL)::text FROM pg_get_wal_summarizer_state()",
    )?;
    mon.execute("CHECKPOINT")?;
    let from = mon.lsn("SELECT redo_lsn::text FROM pg_control_checkpoint()")?;
    for sql in [
        "CREATE TABLE conformance_summaries (id int, pad text) \
         WITH (fillfactor = 10, autovacuum_enabled = off)",
        "INSERT INTO conformance_summaries SELECT g, repeat('o', 1000) FROM generate_series(1, 8) g",
        "CHECKPOINT",
    ] {
        mon.execute(sql)?;
    }
    // The full backup the incremental one below starts from.
    let full = spec.work_path("summaries-full");
    let _ = std::fs::remove_dir_all(&full);
    spec.plain_basebackup(&full, None)?;
    for sql in [
        "UPDATE conformance_summaries SET pad = repeat('u', 1000) WHERE id IN (2, 7)",
        "DELETE FROM conformance_summaries WHERE id > 4",
        "VACUUM conformance_summaries",
        "CHECKPOINT",
        "INSERT INTO conformance_summaries SELECT g, repeat('n', 1000) FROM generate_series(101, 102) g",
        "CHECKPOINT",
    ] {
        mon.execute(sql)?;
    }
    let to = mon.lsn("SELECT redo_lsn::text FROM pg_control_checkpoint()")?;
    wait(
        mon,
        &format!("SELECT (summarized_lsn >= '{to}')::text FROM pg_get_wal_summarizer_state()"),
    )?;
    let relfilenode: u32 = mon
        .text(
            "SELECT pg_relation_filenode('conformance_summaries')::text",
            &[],
        )?
        .parse()
        .map_err(|_| Error::Unexpected("pg_relation_filenode is not a number".to_string()))?;

    // The server's files within [from, to) and what they say about the table.
    let files: Vec<(u32, Lsn, Lsn)> = mon
        .wal_summaries()?
        .into_iter()
        .filter(|&(_, start, end)| start >= from && end <= to)
        .collect();
    let mut server = Vec::new();
    for &file in &files {
        let rows = mon.wal_summary_contents(file, relfilenode)?;
        server.push(describe_server(file, &rows));
    }

    // The core's, from the same WAL (read past `to`, so that the redo record there is seen).
    let upto = mon.flush_lsn()?;
    let records = mon.wal_records(from, upto)?;
    let refs = mon.wal_block_refs(from, upto)?;
    let tli = files.first().map_or(1, |f| f.0);
    let core_records = core_records(&records, &refs, relfilenode);
    let mut core = Vec::new();
    let mut start = from;
    while start < to {
        match summarize_wal(
            SummarizerRules::RELEASED,
            &core_records,
            TimeLineId(tli),
            start,
            None,
            upto,
        ) {
            Ok(Summarized::Written(ws)) => {
                start = ws.end;
                core.push(describe_core(&ws));
            }
            Ok(Summarized::Skipped { end }) => start = end,
            Ok(Summarized::Waiting { .. }) => break,
            Err(e) => return Err(Error::Unexpected(format!("core summarizer: {e}"))),
        }
    }
    let ranges = |v: &[String]| -> String {
        v.iter()
            .map(|d| {
                d.split_once(": ")
                    .map_or(d.as_str(), |(range, _)| range)
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    report.compare(
        S,
        "summary files between two redo points (tli: start-end)",
        ranges(&core),
        ranges(&server),
        vec![format!(
            "{} WAL records read back, {from} to {upto}",
            records.len()
        )],
    );
    report.compare(
        S,
        "what each file says about the table (limit block, blocks per fork)",
        core.join(" | "),
        server.join(" | "),
        vec![],
    );
    let outcome = incremental_backup(mon, spec, &full, relfilenode, seg);
    let _ = std::fs::remove_dir_all(&full);
    let IncrementalRows {
        method,
        label,
        combine,
        restore,
    } = outcome?;
    report.compare(
        S,
        "the table's main fork in an incremental backup (core: the server's summaries in its directory order)",
        method.core,
        method.server,
        method.details,
    );
    report.compare(
        S,
        "the incremental backup's backup_label: INCREMENTAL FROM names the full backup's start point and timeline, and the core renders it back byte for byte",
        label.core,
        label.server,
        label.details,
    );
    report.compare(
        S,
        "pg_combinebackup of the full and the incremental backup: the table's main fork, block by block (core: incremental::reconstruct of the same two files)",
        combine.core,
        combine.server,
        combine.details,
    );
    report.compare(
        S,
        "the combined backup started as a server: its table's rows against the source's (core: the server's merge sends every block the WAL changed, by the same summaries merged in WAL order)",
        restore.core,
        restore.server,
        restore.details,
    );
    mon.execute("ALTER SYSTEM RESET summarize_wal")?;
    mon.execute("SELECT pg_reload_conf()")?;
    Ok(())
}

/// An incremental backup from `full`: how the server sent the table's main fork (its
/// `INCREMENTAL.<relfilenode>` header, or the whole file), against what the core's
/// `prepare_incremental` and `file_backup_method` decide from the server's own summary files,
/// read in the order its directory read returns them (`pg_ls_dir`, as `GetWalSummaries`
/// reads them) with their contents for the table and the database.
/// The incremental backup's rows: how it sent the table, its label, the combine, the restore.
struct IncrementalRows {
    method: Row,
    label: Row,
    combine: Row,
    restore: Row,
}

/// One row of the comparison: the core's side, the server's, the details.
struct Row {
    core: String,
    server: String,
    details: Vec<String>,
}

/// Parses the full and the incremental backup's labels and compares their facts.
/// The incremental backup's `backup_label` row: what the core expects (`INCREMENTAL FROM` the
/// full backup's start point and timeline, the text rendered back exactly) and what the
/// server wrote.
fn label_row(full_label: &str, incr_label: &str, seg: WalSegmentSize) -> Row {
    let describe = |from: Option<IncrementalFrom>, renders: bool| match from {
        Some(f) => format!(
            "INCREMENTAL FROM LSN {}, TLI {}; {}",
            f.lsn,
            f.timeline,
            if renders {
                "renders back byte for byte"
            } else {
                "renders back DIFFERENTLY"
            }
        ),
        None => "no INCREMENTAL FROM lines".to_string(),
    };
    let full = BackupLabel::parse(full_label, seg);
    let incr = BackupLabel::parse(incr_label, seg);
    let core = match &full {
        Ok(f) => describe(
            Some(IncrementalFrom {
                lsn: f.start,
                timeline: f.start_timeline.unwrap_or(f.start_file.timeline),
            }),
            true,
        ),
        Err(e) => format!("the full backup's label does not parse: {e}"),
    };
    let server = match &incr {
        Ok(i) => describe(i.incremental_from, i.render() == incr_label),
        Err(e) => format!("does not parse: {e}"),
    };
    Row {
        core,
        server,
        details: incr_label.lines().map(|l| format!("server: {l}")).collect(),
    }
}

fn incremental_backup(
    mon: &mut Session,
    server: &ServerSpec,
    full: &Path,
    relfilenode: u32,
    seg: WalSegmentSize,
) -> Result<IncrementalRows, Error> {
    let incr = server.work_path("summaries-incremental");
    let _ = std::fs::remove_dir_all(&incr);
    server.plain_basebackup(&incr, Some(&full.join("backup_manifest")))?;
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::Io {
            what: "reading",
            path: path.to_path_buf(),
            source,
        })
    };
    let label = String::from_utf8_lossy(&read(&incr.join("backup_label"))?).into_owned();
    let full_label = String::from_utf8_lossy(&read(&full.join("backup_label"))?).into_owned();
    let label_row = label_row(&full_label, &label, seg);
    let start = label
        .lines()
        .find_map(|l| l.strip_prefix("START WAL LOCATION: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|lsn| lsn.parse::<Lsn>().ok())
        .ok_or_else(|| Error::Unexpected(format!("incremental backup_label: {label:?}")))?;
    let manifest: serde_json::Value = serde_json::from_slice(&read(&full.join("backup_manifest"))?)
        .map_err(|e| Error::Unexpected(format!("backup_manifest: {e}")))?;
    let ranges: Vec<ManifestRange> = manifest["WAL-Ranges"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            Some(ManifestRange {
                tli: TimeLineId(r["Timeline"].as_u64()? as u32),
                start: r["Start-LSN"].as_str()?.parse().ok()?,
                end: r["End-LSN"].as_str()?.parse().ok()?,
            })
        })
        .collect();
    let tli = ranges.first().map_or(TimeLineId(1), |r| r.tli);
    let history = [TimelineEntry {
        tli,
        begin: Lsn::INVALID,
        end: None,
    }];
    // The summary files in the directory read's order, with their entries for the table and
    // the database-level key.
    let names = mon.texts("SELECT pg_ls_dir('pg_wal/summaries')")?;
    let mut directory = Vec::new();
    for name in &names {
        let Some((file_tli, file_start, file_end)) = WalSummary::parse_file_name(name) else {
            continue;
        };
        let mut table = BlockRefTable::new();
        let file = (file_tli.0, file_start, file_end);
        for (rel, fork, block, limit) in mon.wal_summary_entries(file, &[relfilenode, 0])? {
            let Some(fork) = fork_of(fork) else { continue };
            let key = if rel == 0 {
                ForkKey::DATABASE
            } else {
                ForkKey {
                    relation: TABLE,
                    fork,
                }
            };
            if limit {
                table.set_limit_block(key, block as u32);
            } else {
                table
                    .mark_block_modified(key, block as u32)
                    .map_err(|e| Error::Unexpected(format!("summary {name}: {e}")))?;
            }
        }
        directory.push(WalSummary {
            tli: file_tli,
            start: file_start,
            end: file_end,
            table,
        });
    }
    let dboid = mon.text(
        "SELECT oid::text FROM pg_database WHERE datname = current_database()",
        &[],
    )?;
    let base = incr.join("base").join(&dboid);
    let incremental_file = base.join(format!("INCREMENTAL.{relfilenode}"));
    let whole_file = base.join(relfilenode.to_string());
    let server_method = if incremental_file.exists() {
        let bytes = read(&incremental_file)?;
        let word = |i: usize| {
            bytes
                .get(i * 4..i * 4 + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let (Some(0xd3ae_1f0d), Some(count), Some(length)) = (word(0), word(1), word(2)) else {
            return Err(Error::Unexpected(format!(
                "{} has no incremental file header",
                incremental_file.display()
            )));
        };
        let blocks: Vec<u32> = (0..count as usize).filter_map(|i| word(3 + i)).collect();
        describe_method(&blocks, length)
    } else if whole_file.exists() {
        "sent whole".to_string()
    } else {
        "not in the backup".to_string()
    };
    let size = std::fs::metadata(&whole_file)
        .map(|m| m.len())
        .or_else(|_| {
            mon.text(
                "SELECT pg_relation_size('conformance_summaries')::text",
                &[],
            )?
            .parse()
            .map_err(|_| Error::Unexpected("pg_relation_size".to_string()))
        })?;
    // How the core sends the table from these summaries merged in `order`.
    let method = |order: MergeOrder| match prepare_incremental(
        &ranges,
        &history,
        start,
        &directory,
        SummarySelection::Released,
        order,
    ) {
        Err(e) => format!("refused: {e}"),
        Ok(prepared) => {
            let key = ForkKey {
                relation: TABLE,
                fork: Fork::Main,
            };
            match file_backup_method(&prepared.table, key, size, true) {
                FileBackupMethod::Full => "sent whole".to_string(),
                FileBackupMethod::Incremental {
                    blocks,
                    truncation_block_length,
                } => describe_method(&blocks.iter().collect::<Vec<_>>(), truncation_block_length),
            }
        }
    };
    // The server's merge, in its directory order.
    let core_method = method(MergeOrder::Released);
    // What the table's WAL really changed: the same summaries merged in WAL order (this
    // project's recommendation, `MergeOrder::Wal`). Where the server's merge, in its directory
    // order, sends less, the restored table is not the source's.
    let wal_order_method = method(MergeOrder::Wal);
    let combined = server.work_path("summaries-combined");
    let combine_row = combine_row(server, full, &incr, &combined, &dboid, relfilenode);
    let restore_row = combine_row.as_ref().ok().map(|_| {
        restore_row(
            mon,
            server,
            &combined,
            core_method == wal_order_method,
            &wal_order_method,
        )
    });
    let _ = std::fs::remove_dir_all(&combined);
    let _ = std::fs::remove_dir_all(&incr);
    let combine_row = combine_row?;
    let restore_row = restore_row
        .transpose()?
        .ok_or_else(|| Error::Unexpected("no restore without a combined backup".to_string()))?;
    Ok(IncrementalRows {
        method: Row {
            core: core_method,
            server: server_method,
            details: vec![format!(
                "incremental backup from {start}; summary files in directory order: {}",
                names.join(" ")
            )],
        },
        label: label_row,
        combine: combine_row,
        restore: restore_row,
    })
}

const PAGE: usize = 8192;

/// What an incremental backup holds for a file: the blocks it sent (number, page) and the
/// truncation block length of an INCREMENTAL file, or the whole file's pages.
type Held = (Vec<(u32, Vec<u8>)>, u32, Option<Vec<Vec<u8>>>);

/// Where each block of a rebuilt file came from, in words: `full` (the full backup's block of
/// that number), `incremental` (the block the incremental backup sent), `zero`, or `other`.
fn describe_origins(origins: &[&str]) -> String {
    format!("{} blocks: {}", origins.len(), origins.join(", "))
}

/// `pg_combinebackup` of the full and the incremental backup against the core's `reconstruct`
/// of the same two files (the full backup's copy of the table's main fork, and what the
/// incremental backup holds for it: its INCREMENTAL file's blocks and truncation length, or the
/// whole file): the rebuilt file's length, and which backup each block comes from.
fn combine_row(
    server: &ServerSpec,
    full: &Path,
    incr: &Path,
    out: &Path,
    dboid: &str,
    relfilenode: u32,
) -> Result<Row, Error> {
    use backup_coordinator::incremental::{reconstruct, BackupFile, PageContent};
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::Io {
            what: "reading",
            path: path.to_path_buf(),
            source,
        })
    };
    let pages = |bytes: &[u8]| -> Vec<Vec<u8>> { bytes.chunks(PAGE).map(<[u8]>::to_vec).collect() };
    let full_pages = pages(&read(
        &full.join("base").join(dboid).join(relfilenode.to_string()),
    )?);
    let base = incr.join("base").join(dboid);
    let incremental_file = base.join(format!("INCREMENTAL.{relfilenode}"));
    // What the incremental backup holds: (block number, page) sent, the truncation length, or
    // the whole file.
    let (sent, length, whole): Held = if incremental_file.exists() {
        let bytes = read(&incremental_file)?;
        let word = |i: usize| {
            bytes
                .get(i * 4..i * 4 + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let (Some(count), Some(length)) = (word(1), word(2)) else {
            return Err(Error::Unexpected("incremental file header".to_string()));
        };
        let numbers: Vec<u32> = (0..count as usize).filter_map(|i| word(3 + i)).collect();
        // The blocks' contents are the file's last `count` pages (after the header and
        // its padding).
        let data = &bytes[bytes.len().saturating_sub(numbers.len() * PAGE)..];
        let sent = numbers
            .iter()
            .zip(pages(data))
            .map(|(&n, page)| (n, page))
            .collect();
        (sent, length, None)
    } else {
        let whole = pages(&read(&base.join(relfilenode.to_string()))?);
        (Vec::new(), 0, Some(whole))
    };
    // The core: full block i is `Version(i)`, sent block k `Version(1000 + k)`, a whole file's
    // block i `Version(2000 + i)`.
    let full_file = BackupFile::Full(
        (0..full_pages.len())
            .map(|i| PageContent::Version(i as u16))
            .collect(),
    );
    let incremental = match &whole {
        Some(pages) => BackupFile::Full(
            (0..pages.len())
                .map(|i| PageContent::Version(2000 + i as u16))
                .collect(),
        ),
        None => BackupFile::Incremental {
            blocks: sent
                .iter()
                .enumerate()
                .map(|(k, (n, _))| (*n, PageContent::Version(1000 + k as u16)))
                .collect(),
            truncation_block_length: length,
        },
    };
    let core = match reconstruct(&[Some(full_file), Some(incremental)]) {
        Ok(rebuilt) => describe_origins(
            &rebuilt
                .iter()
                .map(|p| match p {
                    PageContent::Version(v) if *v >= 1000 => "incremental",
                    PageContent::Version(_) => "full",
                    PageContent::Zeroed => "zero",
                })
                .collect::<Vec<_>>(),
        ),
        Err(e) => format!("refused: {e}"),
    };
    let _ = std::fs::remove_dir_all(out);
    let server_side = match server.combine_backups(&[full, incr], out) {
        Err(e) => format!("refused: {e}"),
        Ok(()) => {
            let combined = pages(&read(
                &out.join("base").join(dboid).join(relfilenode.to_string()),
            )?);
            let origins: Vec<&str> = combined
                .iter()
                .enumerate()
                .map(|(i, page)| {
                    let from_incremental = match &whole {
                        Some(w) => w.get(i) == Some(page),
                        None => sent.iter().any(|(n, p)| *n as usize == i && p == page),
                    };
                    if from_incremental {
                        "incremental"
                    } else if full_pages.get(i) == Some(page) {
                        "full"
                    } else if page.iter().all(|&b| b == 0) {
                        "zero"
                    } else {
                        "other"
                    }
                })
                .collect();
            describe_origins(&origins)
        }
    };
    Ok(Row {
        core,
        server: server_side,
        details: vec![format!(
            "the full backup's file: {} blocks; the incremental backup's: {}",
            full_pages.len(),
            match &whole {
                Some(w) => format!("the whole file, {} blocks", w.len()),
                None => format!(
                    "blocks {:?}, truncation block length {length}",
                    sent.iter().map(|(n, _)| *n).collect::<Vec<_>>()
                ),
            }
        )],
    })
}

fn describe_method(blocks: &[u32], truncation_block_length: u32) -> String {
    let list: Vec<String> = blocks.iter().map(u32::to_string).collect();
    format!(
        "incremental: blocks {}; truncation block length {truncation_block_length}",
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(",")
        }
    )
}

/// Waits (up to [`WAIT`]) until `sql` returns `true` (as text).
fn wait(mon: &mut Session, sql: &str) -> Result<(), Error> {
    let deadline = Instant::now() + WAIT;
    loop {
        if mon.text(sql, &[])? == "true" {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Unexpected(format!("timed out waiting for: {sql}")));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A fork number as PostgreSQL numbers them.
fn fork_of(number: i16) -> Option<Fork> {
    match number {
        0 => Some(Fork::Main),
        1 => Some(Fork::Fsm),
        2 => Some(Fork::Vm),
        3 => Some(Fork::Init),
        _ => None,
    }
}

/// Each server record as what the summarizer reads of it: its boundary kind, a truncation or
/// creation of the table, one block reference of the table each; anything else as `Other`.
pub fn core_records(
    records: &[WalRecord],
    refs: &[(Lsn, u32, i16, i64)],
    relfilenode: u32,
) -> Vec<CoreRecord> {
    let mut out = Vec::new();
    for r in records {
        let record = |kind| CoreRecord {
            at: r.start,
            end: r.end,
            kind,
        };
        let boundary = |kind| {
            record(RecordKind::Boundary {
                kind,
                minimal: false,
            })
        };
        match (r.rmgr.as_str(), r.kind.as_str()) {
            ("XLOG", "CHECKPOINT_REDO") => out.push(boundary(BoundaryKind::Redo)),
            ("XLOG", "CHECKPOINT_SHUTDOWN") => out.push(boundary(BoundaryKind::ShutdownCheckpoint)),
            ("XLOG", "END_OF_RECOVERY") => out.push(boundary(BoundaryKind::EndOfRecovery)),
            ("XLOG", "PARAMETER_CHANGE") => out.push(boundary(BoundaryKind::ParameterChange)),
            ("Storage", "TRUNCATE") => match truncation(&r.description, relfilenode) {
                Some(blocks) => out.push(record(RecordKind::Truncate {
                    relation: TABLE,
                    blocks,
                })),
                None => out.push(record(RecordKind::Other)),
            },
            ("Storage", "CREATE") => match creation(&r.description, relfilenode) {
                Some(fork) => out.push(record(RecordKind::Create {
                    key: ForkKey {
                        relation: TABLE,
                        fork,
                    },
                })),
                None => out.push(record(RecordKind::Other)),
            },
            _ => {
                let mine: Vec<_> = refs
                    .iter()
                    .filter(|&&(at, rel, _, _)| at == r.start && rel == relfilenode)
                    .collect();
                if mine.is_empty() {
                    out.push(record(RecordKind::Other));
                }
                for &&(_, _, fork, block) in &mine {
                    if let Some(fork) = fork_of(fork) {
                        out.push(record(RecordKind::Block {
                            key: ForkKey {
                                relation: TABLE,
                                fork,
                            },
                            block: block as u32,
                        }));
                    }
                }
            }
        }
    }
    out
}

/// `base/5/16390 to 2 blocks flags 7`: the new length, if it is the table's.
fn truncation(description: &str, relfilenode: u32) -> Option<u32> {
    let (path, rest) = description.split_once(" to ")?;
    let file: u32 = path.rsplit('/').next()?.parse().ok()?;
    (file == relfilenode).then_some(())?;
    rest.split_whitespace().next()?.parse().ok()
}

/// `base/5/16390` or `base/5/16390_vm`: the fork created, if it is the table's.
fn creation(description: &str, relfilenode: u32) -> Option<Fork> {
    let name = description.split_whitespace().next()?.rsplit('/').next()?;
    let (file, fork) = match name.split_once('_') {
        Some((file, "fsm")) => (file, Fork::Fsm),
        Some((file, "vm")) => (file, Fork::Vm),
        Some((file, "init")) => (file, Fork::Init),
        None => (name, Fork::Main),
        Some(_) => return None,
    };
    (file.parse::<u32>().ok()? == relfilenode).then_some(fork)
}

fn fork_name(fork: Fork) -> &'static str {
    match fork {
        Fork::Main => "main",
        Fork::Fsm => "fsm",
        Fork::Vm => "vm",
        Fork::Init => "init",
    }
}

/// `tli:start-end` then, per fork with an entry, `fork limit L blocks b,b`.
fn describe(
    (tli, start, end): (u32, Lsn, Lsn),
    forks: &BTreeMap<Fork, (Option<u32>, Vec<u32>)>,
) -> String {
    let entries: Vec<String> = forks
        .iter()
        .map(|(fork, (limit, blocks))| {
            let blocks: Vec<String> = blocks.iter().map(u32::to_string).collect();
            format!(
                "{}{} blocks {}",
                fork_name(*fork),
                limit.map_or(String::new(), |l| format!(" limit {l}")),
                if blocks.is_empty() {
                    "none".to_string()
                } else {
                    blocks.join(",")
                }
            )
        })
        .collect();
    format!("{tli}:{start}-{end}: {}", entries.join("; "))
}

fn describe_server(file: (u32, Lsn, Lsn), rows: &[(i16, i64, bool)]) -> String {
    let mut forks: BTreeMap<Fork, (Option<u32>, Vec<u32>)> = BTreeMap::new();
    for &(fork, block, limit) in rows {
        let Some(fork) = fork_of(fork) else { continue };
        let entry = forks.entry(fork).or_default();
        if limit {
            entry.0 = Some(block as u32);
        } else {
            entry.1.push(block as u32);
        }
    }
    for entry in forks.values_mut() {
        entry.1.sort_unstable();
    }
    describe(file, &forks)
}

fn describe_core(ws: &backup_coordinator::incremental::WalSummary) -> String {
    let mut forks: BTreeMap<Fork, (Option<u32>, Vec<u32>)> = BTreeMap::new();
    for (key, entry) in ws.table.entries() {
        if key.relation == TABLE {
            forks.insert(key.fork, (entry.limit, entry.blocks.iter().collect()));
        }
    }
    describe((ws.tli.0, ws.start, ws.end), &forks)
}

const P: &str = "promotion inside a WAL segment (17+; INCREMENTAL.md I2)";

/// The suite's streaming standby promoted where its replay ends, inside a segment (the
/// primary writes a little after a WAL switch): the standby archives (`archive_mode = on`,
/// from the primary's configuration), so the old timeline's file of that segment is renamed
/// `.partial` and the new timeline's file of the same number holds its WAL up to the switch
/// point, as the core's `renamed_partial_at_promotion` says. Then `summarize_wal` is turned on
/// on the promoted server: its summarizer starts on the old timeline, which it must read up to
/// the switch point from the new timeline's file (`3e8a0c1b02`, in 17.11 and 18.5; the core's
/// released rules have it); the server's summary files show whether it did. The standby is a
/// primary afterwards: this runs last.
pub fn promotion_inside_a_segment(
    mon: &mut Session,
    spec: &ServerSpec,
    seg: WalSegmentSize,
    report: &mut Report,
) -> Result<(), Error> {
    use backup_coordinator::incremental::cluster::renamed_partial_at_promotion;
    use backup_coordinator::walfile::WalFileName;
    let Some(mut standby) = spec.connect_standby("conformance-promotion")? else {
        return Ok(());
    };
    for sql in [
        "SELECT pg_switch_wal()",
        "CREATE TABLE conformance_promotion (id int)",
        "INSERT INTO conformance_promotion VALUES (1)",
    ] {
        mon.execute(sql)?;
    }
    let flushed = mon.flush_lsn()?;
    wait(
        &mut standby,
        &format!("SELECT (pg_last_wal_replay_lsn() >= '{flushed}')::text"),
    )?;
    // The primary's timeline, which the standby follows.
    let old_tli = TimeLineId(
        u32::from_str_radix(
            &mon.text(
                "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)",
                &[],
            )?,
            16,
        )
        .map_err(|_| Error::Unexpected("pg_walfile_name".to_string()))?,
    );
    standby.execute("SELECT pg_promote(true, 60)")?;
    let new_tli = TimeLineId(
        u32::from_str_radix(
            &standby.text(
                "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)",
                &[],
            )?,
            16,
        )
        .map_err(|_| Error::Unexpected("pg_walfile_name".to_string()))?,
    );
    // The new timeline's history file: its last line names the switch point.
    let history = standby.text(
        &format!("SELECT pg_read_file('pg_wal/{:08X}.history')", new_tli.0),
        &[],
    )?;
    let switch: Lsn = history
        .lines()
        .rev()
        .find_map(|line| line.split_whitespace().nth(1))
        .and_then(|lsn| lsn.parse().ok())
        .ok_or_else(|| Error::Unexpected(format!("timeline history: {history:?}")))?;
    let names = standby.texts("SELECT name FROM pg_ls_waldir() ORDER BY name")?;
    let segment = seg.segment_of(switch);
    let old_file = WalFileName::from_segment(old_tli, segment, seg).to_string();
    let new_file = WalFileName::from_segment(new_tli, segment, seg).to_string();
    let describe = |old_whole: bool, old_partial: bool, new_whole: bool| {
        let present = |yes: bool| if yes { "present" } else { "absent" };
        format!(
            "timeline {old_tli}'s file of segment {segment}: {}, as .partial: {}; timeline {new_tli}'s: {}",
            present(old_whole),
            present(old_partial),
            present(new_whole)
        )
    };
    let renamed = renamed_partial_at_promotion(true, switch, seg.bytes());
    report.compare(
        P,
        "the WAL segment holding the switch point after the promotion (archive_mode = on): the old timeline's renamed .partial, the new timeline's holds its WAL",
        describe(renamed.is_none(), renamed.is_some(), true),
        describe(
            names.contains(&old_file),
            names.contains(&format!("{old_file}.partial")),
            names.contains(&new_file),
        ),
        vec![format!(
            "switch point {switch} (timeline {new_tli}'s history: {:?}); pg_wal: {}",
            history.lines().last().unwrap_or_default(),
            names.join(" ")
        )],
    );

    // The summarizer, started now, reads the old timeline first.
    standby.execute("ALTER SYSTEM SET summarize_wal = on")?;
    standby.execute("SELECT pg_reload_conf()")?;
    standby.execute("CHECKPOINT")?;
    let redo = standby.lsn("SELECT redo_lsn::text FROM pg_control_checkpoint()")?;
    let reached = wait(
        &mut standby,
        &format!(
            "SELECT (summarized_tli = {} AND summarized_lsn >= '{redo}')::text FROM pg_get_wal_summarizer_state()",
            new_tli.0
        ),
    );
    let files = standby.wal_summaries()?;
    let state = standby.text(
        "SELECT summarized_tli || ' ' || summarized_lsn FROM pg_get_wal_summarizer_state()",
        &[],
    )?;
    let ends_at_switch = files
        .iter()
        .any(|&(tli, _, end)| tli == old_tli.0 && end == switch);
    let begins_at_switch = files
        .iter()
        .any(|&(tli, start, _)| tli == new_tli.0 && start == switch);
    let outcome = |old_read: bool, reached: bool| {
        format!(
            "a timeline-{old_tli} summary ends at the switch point: {}; the summarizer reaches timeline {new_tli}'s checkpoint: {}",
            if old_read { "yes" } else { "no" },
            if reached { "yes" } else { "no" }
        )
    };
    // The core's released rules: a missing segment is looked for on the later timelines.
    let core_reads = renamed.is_none() || SummarizerRules::RELEASED.segment_on_descendants;
    report.compare(
        P,
        "summarize_wal turned on after the promotion: the old timeline read up to the switch point (its last segment from the new timeline's file), then the new timeline",
        outcome(core_reads, core_reads),
        outcome(ends_at_switch, reached.is_ok() && begins_at_switch),
        vec![format!(
            "summary files (tli, start, end): {}; summarizer state: {state}",
            files
                .iter()
                .map(|(tli, start, end)| format!("({tli}, {start}, {end})"))
                .collect::<Vec<_>>()
                .join(" ")
        )],
    );
    Ok(())
}

/// The rows of the table, in order, in words (`id:first letter of pad`).
const ROWS: &str = "SELECT coalesce(string_agg(id || ':' || left(pad, 1), ',' ORDER BY id), '') \
                    FROM conformance_summaries";

/// The combined backup in `dir` started as a server of its own (recovery from its
/// `backup_label` to consistency, on a free port, archiving and summarization off), and the
/// table's rows there against the source's now (nothing wrote the table since the incremental
/// backup). The core predicts that they are equal exactly when the server's merge sends every
/// block that the same summaries merged in WAL order send (`wal_order_method`).
fn restore_row(
    mon: &mut Session,
    server: &ServerSpec,
    dir: &Path,
    sends_every_changed_block: bool,
    wal_order_method: &str,
) -> Result<Row, Error> {
    use std::os::unix::fs::PermissionsExt;
    let source = mon.text(ROWS, &[])?;
    let io = |source| Error::Io {
        what: "preparing",
        path: dir.to_path_buf(),
        source,
    };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    if let Some(user) = &server.pg_ctl_user {
        let status = std::process::Command::new("chown")
            .arg("-R")
            .arg(user)
            .arg(dir)
            .status()
            .map_err(io)?;
        if !status.success() {
            return Err(Error::Unexpected(format!(
                "chown -R {user} {}: {status}",
                dir.display()
            )));
        }
    }
    let port = std::net::TcpListener::bind((server.host.as_str(), 0))
        .and_then(|l| l.local_addr())
        .map_err(io)?
        .port();
    let pgdata = dir.to_string_lossy().into_owned();
    let log = dir.join("restore.log").to_string_lossy().into_owned();
    let options = format!("-p {port} -c archive_mode=off -c summarize_wal=off");
    server.pg_ctl(&[
        "-D", &pgdata, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
    ])?;
    let restored = (|| {
        let conninfo = format!(
            "host={} port={port} user={} dbname={} application_name=conformance-restore connect_timeout=10",
            server.host, server.user, server.dbname
        );
        Session::connect(&conninfo, "conformance-restore")?.text(ROWS, &[])
    })();
    let stopped = server.pg_ctl(&["-D", &pgdata, "-m", "immediate", "-w", "stop"]);
    let restored = restored?;
    stopped?;
    let verdict = |equal: bool| {
        if equal {
            "the restored table's rows equal the source's".to_string()
        } else {
            "the restored table's rows differ from the source's".to_string()
        }
    };
    Ok(Row {
        core: verdict(sends_every_changed_block),
        server: verdict(restored == source),
        details: vec![
            format!("source rows: {source}; restored rows: {restored}"),
            format!("the same summaries merged in WAL order: {wal_order_method}"),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_descriptions_name_the_tables_truncation_and_forks() {
        assert_eq!(
            truncation("base/5/16390 to 2 blocks flags 7", 16390),
            Some(2)
        );
        assert_eq!(truncation("base/5/16390 to 2 blocks flags 7", 16391), None);
        assert_eq!(creation("base/5/16390", 16390), Some(Fork::Main));
        assert_eq!(creation("base/5/16390_vm", 16390), Some(Fork::Vm));
        assert_eq!(creation("base/5/16390_fsm", 16390), Some(Fork::Fsm));
        assert_eq!(creation("base/5/16391", 16390), None);
    }
}
