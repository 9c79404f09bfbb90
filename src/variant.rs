//! Which protocol design runs: the [`Variant`] value and the [`Rules`] it stands for.
//!
//! Variants are data. Each design is a row of behaviour switches ([`Rules`]), one switch per
//! place where PostgreSQL's eras (or the seed's two options) differ, each citing the source
//! of the fact in PROTOCOL.md. The steps in `step/` consult the rules; no design has a second
//! copy of the protocol. A seeded historical bug is a design plus one flaw ([`Bug`]); the bug
//! catalogue is added by a later change and the type already carries the slot for it.

use crate::label::{LabelFormat, LabelRule};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A protocol design.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    /// The seed's option 1 exactly as committed for 9.1 (`997b48ed96` + `6d8096e2f3`,
    /// PROTOCOL.md §2.2): streamed backups get their label back in memory; one exclusive flag
    /// plus a counter; the flaws of that code included (start-point check under a shared
    /// lock, start position sent outside the cleanup block, exclusive stop that clears the
    /// flag unconditionally and first).
    Pg91,
    /// The seed's option 2 in the 9.1 code base: identical to [`Design::Pg91`] except that a
    /// streamed backup's label is written to its own temporary file in the data directory
    /// (see [`LabelDelivery::TemporaryFile`] for the file's name and life cycle).
    Pg91Option2,
    /// The fixed design of 9.6 to 14 (§2.4): exclusive-backup state machine, non-exclusive SQL
    /// backups, per-session backup state, one persistent exit hook, abort that does nothing
    /// without a running backup, stop inside the base backup's cleanup block.
    Pg96,
    /// PostgreSQL 15 (§2.5): no exclusive backups; `runningBackups` counter.
    Pg15,
    /// The recommended design (the default): PostgreSQL 15's protocol, plus a label rule that
    /// refuses labels that cannot round-trip and history files created with "create new"
    /// semantics so that a collision is an error, never an overwrite.
    Recommended,
    /// The recommended design with the seed's option 2 (temporary label files).
    RecommendedOption2,
}

impl Design {
    /// Every design, in a fixed order.
    pub const ALL: [Design; 6] = [
        Design::Pg91,
        Design::Pg91Option2,
        Design::Pg96,
        Design::Pg15,
        Design::Recommended,
        Design::RecommendedOption2,
    ];

    /// The stable name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Design::Pg91 => "pg91",
            Design::Pg91Option2 => "pg91-option2",
            Design::Pg96 => "pg96",
            Design::Pg15 => "pg15",
            Design::Recommended => "recommended",
            Design::RecommendedOption2 => "recommended-option2",
        }
    }

    /// One line saying what the design is.
    pub fn summary(self) -> &'static str {
        match self {
            Design::Pg91 => "seed option 1 as committed in 9.1: label returned to the caller, exclusive flag + counter",
            Design::Pg91Option2 => "seed option 2 on 9.1: streamed backups' labels in per-backup temporary files",
            Design::Pg96 => "fixed design of 9.6-14: exclusive state machine, SQL non-exclusive backups, session state",
            Design::Pg15 => "PostgreSQL 15: no exclusive backups, runningBackups counter",
            Design::Recommended => "PostgreSQL 15's protocol with strict labels and create-new history files (default)",
            Design::RecommendedOption2 => "the recommended design with per-backup temporary label files",
        }
    }

    /// True for the designs this project recommends (expected to pass every check).
    pub const fn is_recommended(self) -> bool {
        matches!(self, Design::Recommended | Design::RecommendedOption2)
    }

    /// The behaviour switches of this design (from a table built at compile time: the steps
    /// consult them on every call, so they must cost no more than a copy).
    #[inline]
    pub fn rules(self) -> Rules {
        DESIGN_RULES[self as usize]
    }

    const fn build_rules(self) -> Rules {
        use Design::*;
        let era91 = matches!(self, Pg91 | Pg91Option2);
        let recommended = self.is_recommended();
        Rules {
            exclusive: match self {
                Pg91 | Pg91Option2 => ExclusiveRule::Flag,
                Pg96 => ExclusiveRule::StateMachine,
                Pg15 | Recommended | RecommendedOption2 => ExclusiveRule::Unavailable,
            },
            sql_non_exclusive: !era91,
            switch_before_increment: era91,
            unique_check_lock: if era91 {
                LockMode::Shared
            } else {
                LockMode::Exclusive
            },
            session_state: !era91,
            send_start_in_cleanup: !era91,
            stop_in_cleanup: !era91,
            abort_checks_session_state: !era91,
            label_delivery: match self {
                Pg91Option2 | RecommendedOption2 => LabelDelivery::TemporaryFile,
                _ => LabelDelivery::Returned,
            },
            label_rule: if recommended {
                LabelRule::Strict
            } else {
                LabelRule::LengthOnly
            },
            label_format: if era91 {
                LabelFormat::PG91
            } else {
                LabelFormat::PG14
            },
            wal_retention: if era91 {
                WalRetention::PriorCheckpoint
            } else {
                WalRetention::LastCheckpoint
            },
            file_write: if recommended {
                FileWrite::CreateNew
            } else {
                FileWrite::Overwrite
            },
            copy_skips_label_files: true,
        }
    }
}

/// [`Design::rules`] of every design, in declaration order.
const DESIGN_RULES: [Rules; Design::ALL.len()] = {
    let mut table = [Design::Pg91.build_rules(); Design::ALL.len()];
    let mut i = 0;
    while i < Design::ALL.len() {
        table[Design::ALL[i] as usize] = Design::ALL[i].build_rules();
        i += 1;
    }
    table
};

impl fmt::Display for Design {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A seeded historical bug (PROTOCOL.md §6). The catalogue is added by a later change; until
/// then no value exists and every variant is a plain design.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Bug {}

/// The protocol design under test: a design, plus at most one seeded bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Variant {
    /// The design.
    pub design: Design,
    /// The seeded bug, if any.
    pub bug: Option<Bug>,
}

impl Variant {
    /// A design without a seeded bug.
    pub const fn of(design: Design) -> Self {
        Variant { design, bug: None }
    }

    /// The behaviour switches in force.
    pub fn rules(self) -> Rules {
        let rules = self.design.rules();
        match self.bug {
            None => rules,
            Some(bug) => match bug {},
        }
    }
}

impl Default for Variant {
    /// The recommended design.
    fn default() -> Self {
        Variant::of(Design::Recommended)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.design)
    }
}

/// A variant name that is not known.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unknown variant {0:?}: expected one of pg91, pg91-option2, pg96, pg15, recommended, recommended-option2")]
pub struct UnknownVariant(pub String);

impl FromStr for Variant {
    type Err = UnknownVariant;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Design::ALL
            .into_iter()
            .find(|design| design.name() == name)
            .map(Variant::of)
            .ok_or_else(|| UnknownVariant(name.to_string()))
    }
}

/// Exclusive backups (`pg_start_backup()` with its label in the data directory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExclusiveRule {
    /// 15+: there are none.
    Unavailable,
    /// 9.1: one boolean. Start fails if it is set; stop clears it first, unconditionally, and
    /// only then looks for the label file (the race fixed in 2017, B5).
    Flag,
    /// 9.6 to 14: NONE / STARTING / IN_PROGRESS / STOPPING, so that only one session at a
    /// time starts or stops the exclusive backup (`974ece58bb`).
    StateMachine,
}

/// How a lock is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockMode {
    /// LW_SHARED: several holders at once.
    Shared,
    /// LW_EXCLUSIVE (all insertion locks from 9.4).
    Exclusive,
}

/// Where a non-exclusive backup's label goes between start and stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LabelDelivery {
    /// Option 1 (what PostgreSQL did): the label is returned to the caller in memory and
    /// leaves nothing on the server's disk.
    Returned,
    /// Option 2 (the seed's alternative, designed here): start writes the label to
    /// `pgsql_tmp.backup_label.<start timeline><start segment>.<start offset>` in the data
    /// directory. The name is the backup's identity (its start point), so it is unique
    /// exactly when start points are. The `pgsql_tmp` prefix makes base backups (and the
    /// documented file-copy procedure) skip it, so no other backup copies it. Stop reads it
    /// back (the walsender sends it as the tar's `backup_label`; SQL stop returns it) and
    /// removes it before giving up its counter unit; an aborted backup's cleanup removes it;
    /// restart removes every such file before any backup can start.
    TemporaryFile,
}

/// Which WAL segments a checkpoint lets go of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WalRetention {
    /// Up to 10: segments before the *previous* checkpoint's redo are removed.
    PriorCheckpoint,
    /// 11+: segments before the checkpoint's own redo are removed.
    LastCheckpoint,
}

/// How a file that may already exist is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileWrite {
    /// PostgreSQL's `AllocateFile(path, "w")`: an existing file is silently replaced.
    Overwrite,
    /// Create-new (`O_EXCL`): an existing file is an error.
    CreateNew,
}

/// The behaviour switches of a design. Each field says where designs differ and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rules {
    /// Exclusive backups and their shared state.
    pub exclusive: ExclusiveRule,
    /// SQL sessions may take non-exclusive backups (9.6+, `7117685461`).
    pub sql_non_exclusive: bool,
    /// 9.1 switches WAL before taking the counter unit; 9.2 (`2dd9322ba6`) moved it after.
    pub switch_before_increment: bool,
    /// The lock under which `lastBackupStart` is checked and set: shared in 9.1 to 9.3 (B2).
    pub unique_check_lock: LockMode,
    /// `sessionBackupState` exists (9.6+, `78874531ba`).
    pub session_state: bool,
    /// The walsender sends the start position inside its cleanup block (2014, `8232d6df4c`).
    pub send_start_in_cleanup: bool,
    /// The walsender's stop runs inside its cleanup block (2017, `56a95ee511`).
    pub stop_in_cleanup: bool,
    /// `do_pg_abort_backup` does nothing unless the session runs a non-exclusive backup
    /// (`56a95ee511`), and clears the session state (`b24b2be119`).
    pub abort_checks_session_state: bool,
    /// Where labels of non-exclusive backups live between start and stop.
    pub label_delivery: LabelDelivery,
    /// Which labels are refused at start.
    pub label_rule: LabelRule,
    /// Which lines a label carries.
    pub label_format: LabelFormat,
    /// WAL recycling at checkpoints.
    pub wal_retention: WalRetention,
    /// How history files and temporary label files are written.
    pub file_write: FileWrite,
    /// A base backup's copy skips the exclusive backup_label and temporary label files.
    pub copy_skips_label_files: bool,
}

impl Rules {
    /// Exclusive backups exist in this design.
    pub fn has_exclusive(self) -> bool {
        self.exclusive != ExclusiveRule::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_round_trip() {
        for design in Design::ALL {
            assert_eq!(design.name().parse::<Variant>(), Ok(Variant::of(design)));
        }
        assert!("pg99".parse::<Variant>().is_err());
        assert_eq!(Variant::default().design, Design::Recommended);
    }

    #[test]
    fn only_eras_before_15_have_exclusive_backups() {
        assert!(Design::Pg91.rules().has_exclusive());
        assert!(Design::Pg96.rules().has_exclusive());
        assert!(!Design::Pg15.rules().has_exclusive());
        assert!(!Design::Recommended.rules().has_exclusive());
    }
}
