//! The concurrent base-backup coordinator (see the crate README).
#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod action;
pub mod config;
pub mod datadir;
pub mod driver;
pub mod invariants;
pub mod label;
pub mod lsn;
pub mod state;
mod step;
mod sync;
pub mod variant;
pub mod walfile;

pub use action::{Action, Command, Event, EventKind, Fault};
pub use config::Config;
pub use driver::{Coordinator, CoordinatorError};
pub use state::Cluster;
pub use variant::{Design, Variant};
