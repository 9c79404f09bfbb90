//! A concurrent base-backup coordinator modelled on PostgreSQL's, built to be checked.
//!
//! PostgreSQL lets several base backups run at once. A coordinator inside the server counts
//! the backups in progress and forces full-page writes while any runs, gives each backup a
//! unique start point (its identity in the backup-end WAL record and its history file's name),
//! and hands each its own label, while the one exclusive backup keeps its `backup_label` in
//! the data directory. This crate is that coordinator, in every design PostgreSQL shipped and
//! the ones this project recommends ([`variant`]).
//!
//! # The contract
//!
//! The core is a sans-IO state machine. A [`Cluster`] is a plain value (`Clone + Eq + Hash`,
//! small integers and enums: no strings, no clock, no randomness, no I/O). Given a state,
//! [`Cluster::actions`] lists every enabled [`Action`] in a fixed order; [`Cluster::apply`]
//! performs one atomic step and returns an [`Event`] that says what happened. The same state
//! and action always give the same next state and event. Who chooses the next action is the
//! caller's business: the exhaustive model, the seeded simulator, or the threaded driver.
//!
//! * [`invariants`]: every property, as a pure function of the state, defined once.
//! * [`label`], [`lsn`], [`walfile`]: PostgreSQL's formats, rendered and parsed exactly.
//!   Label times come from a logical clock that the caller passes in.
//! * [`driver`]: [`Coordinator`], the blocking, thread-safe API a server would link, running
//!   the same steps under a mutex and condition variable from one seam (std, or loom under
//!   `--cfg loom`), optionally writing real label and history files ([`datadir`]).
//!
//! ```
//! use backup_coordinator::{Action, Cluster, Config, Variant};
//! use backup_coordinator::invariants::check;
//!
//! let mut cluster = Cluster::new(Variant::default(), Config::default()).unwrap();
//! let first = cluster.actions()[0];
//! let event = cluster.apply(first).unwrap();
//! println!("{event}");
//! check(&cluster).unwrap();
//! ```
#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod action;
pub mod bugs;
pub mod config;
pub mod datadir;
pub mod design_file;
pub mod driver;
pub mod enabled;
pub mod incremental;
pub mod invariants;
pub mod label;
pub mod lsn;
pub mod plan;
pub mod state;
pub mod step;
mod symmetry;
mod sync;
pub mod trace;
pub mod variant;
pub mod walfile;

pub use action::{Action, Command, Event, EventKind, Fault};
pub use config::Config;
pub use driver::{Coordinator, CoordinatorError};
pub use state::Cluster;
pub use variant::{Design, Variant};
