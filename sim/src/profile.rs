//! The fault profile: how likely each kind of action is when the simulator picks the next
//! step ([`Weights`]), the sizes a run works at ([`default_config`]), and swarm testing
//! ([`Weights::swarm`]).
//!
//! A weight is per enabled action: with 16 sessions busy, `step` is offered 16 times and
//! weighs 16 times its weight; a crash is one action. The configuration's budgets (faults,
//! crashes, page writes, timed checkpoints, outside WAL switches, backups per session) cap how
//! many of each a run can have; the weights set how soon they come.
//!
//! Swarm testing (Groce, Zhang, Eide, Chen and Regehr, "Swarm Testing", ISSTA 2012) gives
//! each seed its own profile: every kind but `step` is switched off with probability one half
//! and the others get a random weight. A run that never crashes, or never checkpoints on its
//! own schedule, explores deep states that a uniform mix reaches only rarely.

use crate::kind::ActionKind;
use backup_coordinator::Config;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One weight per [`ActionKind`] (0 switches the kind off).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights(pub [u32; ActionKind::COUNT]);

/// Most weight any kind may have (so sums stay far from overflow).
pub const WEIGHT_MAX: u32 = 1_000_000;

impl Default for Weights {
    /// Steps dominate; checkpoints are frequent enough that starts rarely wait long; commands
    /// are frequent; faults are occasional (a fault weighs 1 wherever one can strike, which is
    /// in many places at once) and crashes rare (about twenty in 20,000 steps), so that about
    /// half of the backups finish and the rest fail, are aborted or are lost in a crash.
    fn default() -> Self {
        let mut w = Weights([0; ActionKind::COUNT]);
        for (kind, weight) in [
            (ActionKind::StartExclusive, 4),
            (ActionKind::StartNonExclusive, 8),
            (ActionKind::BaseBackup, 8),
            (ActionKind::Stop, 16),
            (ActionKind::Step, 100),
            (ActionKind::Error, 1),
            (ActionKind::Cancel, 1),
            (ActionKind::Disconnect, 1),
            (ActionKind::CheckpointBegin, 60),
            (ActionKind::CheckpointEnd, 60),
            (ActionKind::PageAssemble, 20),
            (ActionKind::PageInsert, 40),
            (ActionKind::WalSwitch, 1),
            (ActionKind::Crash, 1),
            (ActionKind::JitQuery, 2),
            (ActionKind::WalFill, 1),
            (ActionKind::Shutdown, 1),
            (ActionKind::Terminate, 100),
            (ActionKind::ShutdownCheckpoint, 60),
            (ActionKind::Restart, 60),
            (ActionKind::OsCrash, 1),
            (ActionKind::PrimaryFpwOff, 1),
        ] {
            w.set(kind, weight);
        }
        w
    }
}

impl Weights {
    /// The weight of `kind`.
    pub fn get(&self, kind: ActionKind) -> u32 {
        self.0[kind as usize]
    }

    /// Sets the weight of `kind`.
    pub fn set(&mut self, kind: ActionKind, weight: u32) {
        self.0[kind as usize] = weight.min(WEIGHT_MAX);
    }

    /// Swarm testing: a profile drawn from `rng` for one seed. `step` keeps its weight (a
    /// run must make progress); every other kind is off with probability 1/2, and otherwise
    /// gets a weight between 1 and twice its weight in `self` (at least 1).
    pub fn swarm(&self, rng: &mut impl Rng) -> Weights {
        let mut out = *self;
        for kind in ActionKind::ALL {
            if kind == ActionKind::Step || self.get(kind) == 0 {
                continue;
            }
            let on: bool = rng.random();
            let weight = if on {
                rng.random_range(1..=self.get(kind).saturating_mul(2).max(1))
            } else {
                0
            };
            out.set(kind, weight);
        }
        out
    }

    /// Parses `kind=weight`.
    pub fn parse_one(text: &str) -> Result<(ActionKind, u32), String> {
        let (kind, weight) = text
            .split_once('=')
            .ok_or_else(|| format!("weight {text:?}: expected kind=number, e.g. crash=5"))?;
        let kind: ActionKind = kind
            .trim()
            .parse()
            .map_err(|e| format!("weight {text:?}: {e}"))?;
        let weight: u32 = weight
            .trim()
            .parse()
            .map_err(|_| format!("weight {text:?}: {weight:?} is not a number"))?;
        if weight > WEIGHT_MAX {
            return Err(format!("weight {text:?}: at most {WEIGHT_MAX}"));
        }
        Ok((kind, weight))
    }
}

/// Serializes weights as an object keyed by action kind, as reports print them.
pub fn weights_by_kind<S: serde::Serializer>(
    weights: &Weights,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(ActionKind::COUNT))?;
    for kind in ActionKind::ALL {
        map.serialize_entry(kind.name(), &weights.get(kind))?;
    }
    map.end()
}

impl fmt::Display for Weights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = ActionKind::ALL
            .iter()
            .map(|k| format!("{}={}", k.name(), self.get(*k)))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// The sizes a simulator run works at by default, far past the model's bounds: 8 SQL sessions,
/// 8 WAL senders and 2 `replication=database` sessions, up to 256 backups and 1,024 commands
/// each (4,608 backups in all), 32 crashes, 1,024 faults, 3 JIT queries, 4 page writers on 8 pages with 8,192 page
/// writes, 256 timed checkpoints and 256 outside WAL switches. The step budget and the weights
/// decide how much of that a run uses.
pub fn default_config() -> Config {
    Config {
        sql_sessions: 8,
        walsenders: 8,
        replication_sessions: 2,
        jit_queries: 3,
        backups_per_session: 256,
        commands_per_session: 1024,
        crashes: 32,
        faults: 1024,
        writers: 4,
        pages: 8,
        page_writes: 8192,
        timed_checkpoints: 256,
        wal_switches: 256,
        wal_fills: 64,
        shutdowns: 16,
        os_crashes: 8,
        ..Config::default()
    }
}

/// Steps in a run's fault phase by default.
pub const STEPS_DEFAULT: u32 = 20_000;
