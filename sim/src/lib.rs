//! The deterministic simulator of the backup coordinator, and the `backup-check` command line.
//!
//! A run is a variant, a configuration, a seed and a step budget ([`run`]): a ChaCha8
//! generator seeded from the seed picks each step among the core's enabled actions
//! (`Cluster::actions()`), with weights from a fault profile ([`profile`]); every invariant of
//! the core is checked after every step; then faults stop and every session is driven to
//! finish, and the cluster must settle (the liveness phase). Sizes are far past what the
//! exhaustive model reaches: 16 sessions, thousands of backups, dozens of crashes per run.
//!
//! Every failure becomes a [`schedule::Schedule`] (an exact action list), is shrunk by delta
//! debugging ([`shrink`]), and is saved as a versioned replay file ([`replay_file`]) that
//! `backup-check replay` runs through the core again, whichever engine found it. Campaigns run
//! seed ranges on threads and shards across machines ([`campaign`]); [`gate`] is the CI gate
//! (`backup-check check`) and [`bench`] measures the engines.
//!
//! Determinism: no clock, no hash-map iteration order and no thread timing reaches a run's
//! choices; the same seed, variant, configuration, profile and version give the same steps.
//! Wall time appears only in reports of how long things took.
#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod bench;
pub mod campaign;
pub mod diff;
pub mod engine;
pub mod expected;
pub mod gate;
pub mod incremental;
pub mod itf;
pub mod kind;
pub mod mutants;
pub mod output;
pub mod profile;
pub mod replay_file;
pub mod run;
pub mod schedule;
pub mod shrink;
pub mod sweep;
