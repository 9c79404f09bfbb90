//! `backup-check bench`: the engines' speed on this machine, measured by the project's own
//! code: the model's unique states and states per second at the default bounds (DFS with
//! symmetry, one and two threads), and the simulator's steps per second (one thread, then
//! every core), each the median of several runs.

use crate::campaign::{run_campaign, CampaignOptions, SeedRange, Shard};
use crate::run::RunSpec;
use backup_coordinator::Variant;
use backup_model::{default_profiles, BackupModel, CheckOptions, Search};
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;

/// One measured row.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    /// What was measured.
    pub engine: String,
    /// Its bounds or sizes.
    pub setting: String,
    /// Threads.
    pub threads: usize,
    /// Unique states (model) or steps (simulator) per run.
    pub work: u64,
    /// Median seconds per run.
    pub seconds: f64,
    /// Median rate: unique states or steps per second.
    pub rate: f64,
    /// Peak resident memory of the process during these runs, bytes (model rows; the peak is
    /// reset before each row where the system allows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// What the search added per unique state (model rows): the row's peak less the resident
    /// size at its start, over the unique states (the checker's table of visited
    /// fingerprints most of all, and its stack of pending states). `None` where the row grew
    /// the process by less than [`MEASURABLE_GROWTH`]: memory an earlier row freed and the
    /// allocator kept is reused unseen, which only a large growth outweighs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_state: Option<f64>,
    /// Every run's seconds.
    pub runs: Vec<f64>,
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// The variant.
    pub variant: String,
    /// Cores available.
    pub cores: usize,
    /// Rows.
    pub rows: Vec<BenchRow>,
}

/// The median (the upper one of an even count), `None` for no values.
pub fn median<T: Copy + PartialOrd>(mut xs: Vec<T>) -> Option<T> {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    xs.get(xs.len() / 2).copied()
}

impl BenchRow {
    /// A row from every run's seconds: the median, and the rate it gives.
    fn new(
        engine: &str,
        setting: String,
        threads: usize,
        work: u64,
        runs: Vec<f64>,
        memory: Option<RowMemory>,
    ) -> Self {
        let seconds = median(runs.clone()).unwrap_or(0.0);
        BenchRow {
            engine: engine.to_string(),
            setting,
            threads,
            work,
            seconds,
            rate: if seconds > 0.0 {
                work as f64 / seconds
            } else {
                0.0
            },
            peak_memory_bytes: memory.map(|m| m.peak),
            bytes_per_state: memory
                .map(|m| m.peak.saturating_sub(m.before))
                .filter(|&grown| work > 0 && grown >= MEASURABLE_GROWTH)
                .map(|grown| grown as f64 / work as f64),
            runs,
        }
    }
}

/// The least growth of resident memory from which a row's bytes per state are reported.
pub const MEASURABLE_GROWTH: u64 = 4 * 1024 * 1024;

/// A model row's memory: resident bytes when its runs began, and the peak during them.
#[derive(Clone, Copy, Debug)]
struct RowMemory {
    before: u64,
    peak: u64,
}

/// Runs the benchmarks, `runs` times each.
pub fn run_bench(
    variant: Variant,
    runs: usize,
    sim: &RunSpec,
    seeds: SeedRange,
) -> Result<BenchReport, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    for profile in default_profiles() {
        for threads in [1, 2] {
            let model = BackupModel::new(variant, profile.config).map_err(|e| e.to_string())?;
            let mut times = Vec::new();
            let mut work = 0;
            // Without a reset the peak is the process's so far, not this row's.
            let before = backup_model::report::reset_peak_memory()
                .then(backup_model::report::resident_memory_bytes)
                .flatten();
            for _ in 0..runs.max(1) {
                let report = model
                    .check(CheckOptions {
                        search: Search::Dfs,
                        threads,
                        symmetry: true,
                        ..CheckOptions::default()
                    })
                    .map_err(|e| e.to_string())?;
                work = report.unique_states as u64;
                times.push(report.seconds);
            }
            rows.push(BenchRow::new(
                "model (DFS, symmetry)",
                format!("profile {}", profile.name),
                threads,
                work,
                times,
                before.and_then(|before| {
                    backup_model::report::peak_memory_bytes().map(|peak| RowMemory { before, peak })
                }),
            ));
        }
    }
    let never = AtomicBool::new(false);
    for threads in [1, cores] {
        let options = CampaignOptions {
            spec: sim.clone(),
            seeds,
            shard: Shard::default(),
            threads,
            check_determinism: false,
            shrink: false,
            shrink_replays_max: 0,
            out: None,
            progress: false,
        };
        let mut times = Vec::new();
        let mut work = 0;
        for _ in 0..runs.max(1) {
            let report = run_campaign(&options, &never).map_err(|e| e.to_string())?;
            work = report.steps;
            times.push(report.seconds);
        }
        rows.push(BenchRow::new(
            "simulator (invariants every step)",
            format!("seeds {} x {} steps", seeds, sim.steps),
            threads,
            work,
            times,
            None,
        ));
        if cores == 1 {
            break;
        }
    }
    Ok(BenchReport {
        variant: variant.to_string(),
        cores,
        rows,
    })
}

impl BenchReport {
    /// The table.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "bench: variant {}, {} core(s); medians of the runs",
            self.variant, self.cores
        );
        let _ = writeln!(
            out,
            "{:<34} {:<26} {:>7} {:>14} {:>9} {:>14} {:>10} {:>9}",
            "engine",
            "setting",
            "threads",
            "states/steps",
            "seconds",
            "per second",
            "peak MiB",
            "B/state"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{:<34} {:<26} {:>7} {:>14} {:>9.2} {:>14.0} {:>10} {:>9}",
                r.engine,
                r.setting,
                r.threads,
                r.work,
                r.seconds,
                r.rate,
                r.peak_memory_bytes
                    .map(|b| (b / (1024 * 1024)).to_string())
                    .unwrap_or_else(|| "-".to_string()),
                r.bytes_per_state
                    .map(|b| format!("{b:.1}"))
                    .unwrap_or_else(|| "-".to_string())
            );
        }
        out
    }
}
