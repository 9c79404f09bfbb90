//! The concurrent base-backup coordinator (see the crate README).
#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod label;
pub mod lsn;
pub mod walfile;
