//! Helpers shared by the simulator's tests.
#![allow(dead_code)]

use backup_coordinator::{Config, Variant};
use backup_sim::run::{run_seed, Recording, RunResult, RunSpec};

/// A run specification at the simulator's default sizes with `steps` fault-phase steps.
pub fn spec(variant: &str, steps: u32) -> RunSpec {
    RunSpec::new(variant.parse().unwrap(), steps)
}

/// A small configuration, for tests that replay schedules many times.
pub fn small_config() -> Config {
    Config {
        sql_sessions: 2,
        walsenders: 2,
        backups_per_session: 4,
        crashes: 1,
        faults: 4,
        writers: 1,
        pages: 2,
        page_writes: 8,
        timed_checkpoints: 2,
        wal_switches: 2,
        ..Config::default()
    }
}

/// Runs `seed` with recording.
pub fn recorded(spec: &RunSpec, seed: u64) -> (RunResult, Recording) {
    let model = backup_model::BackupModel::new(spec.variant, spec.config).unwrap();
    let mut recording = Recording::default();
    let result = run_seed(spec, &model, seed, &mut recording).unwrap();
    (result, recording)
}

/// The variant named `name`.
pub fn variant(name: &str) -> Variant {
    name.parse().unwrap()
}
