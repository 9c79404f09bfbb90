//! Which protocol design runs: the [`Variant`] value and the [`Rules`] it stands for.
//!
//! Variants are data. Each design is a row of behaviour switches ([`Rules`]), one switch per
//! place where PostgreSQL's eras (or the seed's two options) differ, each citing the source
//! of the fact in PROTOCOL.md. The steps in `step/` consult the rules; no design has a second
//! copy of the protocol. A seeded historical bug is a design plus one flaw ([`Bug`]); the bug
//! catalogue is added by a later change and the type already carries the slot for it.

use crate::design_file::FileDesign;
use crate::incremental::cluster::IncrementalRules;
use crate::incremental::summary::SummarySelection;
use crate::label::{LabelFormat, LabelRule};
use crate::plan::Plan;
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
    /// PostgreSQL 16+ (§2.6): no `forcePageWrites` flag (writes are forced while
    /// `runningBackups > 0`); the start's cleanup is `do_pg_abort_backup(during_start = true)`;
    /// the stop file is named by `XLByteToSeg`.
    Pg16,
    /// PostgreSQL 17 and 18 as released (17.11, 18.6): 16's coordinator plus incremental
    /// backup (INCREMENTAL.md): the WAL summarizer, `BASE_BACKUP (INCREMENTAL)` and
    /// `pg_combinebackup`, with the rules of [`IncrementalRules::RELEASED`] (without the fix
    /// of `f549ecd266`, so I1 is its expected finding).
    Pg17,
    /// The recommended design (the default): PostgreSQL 15's protocol, plus a label rule that
    /// refuses labels that cannot round-trip and history files created with "create new"
    /// semantics so that a collision is an error, never an overwrite.
    Recommended,
    /// The recommended design with the seed's option 2 (temporary label files).
    RecommendedOption2,
}

impl Design {
    /// Every design, in a fixed order.
    pub const ALL: [Design; 8] = [
        Design::Pg91,
        Design::Pg91Option2,
        Design::Pg96,
        Design::Pg15,
        Design::Pg16,
        Design::Pg17,
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
            Design::Pg16 => "pg16",
            Design::Pg17 => "pg17",
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
            Design::Pg16 => "PostgreSQL 16: no forcePageWrites flag, start cleanup merged into do_pg_abort_backup",
            Design::Pg17 => "PostgreSQL 17 and 18 as released: 16's coordinator plus incremental backups (WAL summaries, pg_combinebackup)",
            Design::Recommended => "PostgreSQL 15's protocol with strict labels and create-new history files, and incremental backups with every known fix",
            Design::RecommendedOption2 => "the recommended design with per-backup temporary label files",
        }
    }

    /// True for the designs this project recommends (expected to pass every check).
    pub const fn is_recommended(self) -> bool {
        matches!(self, Design::Recommended | Design::RecommendedOption2)
    }

    /// True for the designs expected to keep every property in every check: the recommended
    /// ones and PostgreSQL 15 and 16. (9.1 has the flaws of its code; 9.6–14's exclusive
    /// backups make a crash leave a server that refuses to start.)
    pub fn expected_to_pass(self) -> bool {
        matches!(
            self,
            Design::Recommended | Design::RecommendedOption2 | Design::Pg15 | Design::Pg16
        )
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
        let era16 = matches!(self, Pg16 | Pg17);
        let recommended = self.is_recommended();
        Rules {
            exclusive: match self {
                Pg91 | Pg91Option2 => ExclusiveRule::Flag,
                Pg96 => ExclusiveRule::StateMachine,
                Pg15 | Pg16 | Pg17 | Recommended | RecommendedOption2 => ExclusiveRule::Unavailable,
            },
            sql_non_exclusive: !era91,
            switch_before_increment: era91,
            unique_start_check: true,
            unique_check_lock: if era91 {
                LockMode::Shared
            } else {
                LockMode::Exclusive
            },
            session_state: !era91,
            session_state_after_return: false,
            send_start_in_cleanup: !era91,
            stop_in_cleanup: !era91,
            abort_when: if era91 {
                AbortWhen::Always
            } else {
                AbortWhen::SessionRunsNonExclusive
            },
            abort_resets_session_state: !era91,
            abort_xor_assert: false,
            start_cleanup: if era16 {
                StartCleanup::AbortDuringStart
            } else {
                StartCleanup::Callback
            },
            exit_hook: if era91 {
                ExitHook::None
            } else {
                ExitHook::Persistent
            },
            base_backup_checks_session: !era91,
            page_recheck_when_turned_on: true,
            standby_label_timeline: StandbyTimeline::Checkpoint,
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
            forcing: if era16 {
                Forcing::Counter
            } else {
                Forcing::Flag
            },
            stop_file: if era16 {
                StopFile::HoldsEnd
            } else {
                StopFile::HoldsLastByte
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
            shutdown_waits_for_walsenders: true,
            label_sync: if era91 {
                // `0f04fc67f7` (2012) added the fsync of backup_label; 9.1 had none.
                FileSync::None
            } else if recommended {
                FileSync::FileAndDirectory
            } else {
                FileSync::File
            },
            history_sync: if recommended {
                FileSync::FileAndDirectory
            } else {
                FileSync::None
            },
            durable_label_removal: !era91,
            incremental: match self {
                Pg17 => Some(IncrementalRules::RELEASED),
                Recommended | RecommendedOption2 => Some(IncrementalRules::RECOMMENDED),
                _ => None,
            },
        }
    }
}

/// [`Variant::rules`] of every design (rows, in declaration order) without a bug (column 0)
/// and with each bug (column `bug + 1`).
static VARIANT_RULES: [[Rules; Bug::ALL.len() + 1]; Design::ALL.len()] = {
    let mut table = [[DESIGN_RULES[0]; Bug::ALL.len() + 1]; Design::ALL.len()];
    let mut d = 0;
    while d < Design::ALL.len() {
        let base = DESIGN_RULES[d];
        table[d][0] = base;
        let mut b = 0;
        while b < Bug::ALL.len() {
            table[d][Bug::ALL[b] as usize + 1] = Bug::ALL[b].apply(base);
            b += 1;
        }
        d += 1;
    }
    table
};

/// [`Variant::plan`] of every design and bug, in the layout of [`VARIANT_RULES`].
static VARIANT_PLANS: [[Plan; Bug::ALL.len() + 1]; Design::ALL.len()] = {
    let mut table = [[Plan::for_rules(&DESIGN_RULES[0]); Bug::ALL.len() + 1]; Design::ALL.len()];
    let mut d = 0;
    while d < Design::ALL.len() {
        let base = DESIGN_RULES[d];
        table[d][0] = Plan::for_rules(&base);
        let mut b = 0;
        while b < Bug::ALL.len() {
            table[d][Bug::ALL[b] as usize + 1] = Plan::for_rules(&Bug::ALL[b].apply(base));
            b += 1;
        }
        d += 1;
    }
    table
};

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

/// A seeded historical bug (PROTOCOL.md §6): one flaw PostgreSQL shipped or nearly shipped,
/// put back into the closest fixed design at the step where the real code differed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bug {
    /// B1 (9.1 dev, fixed by `6d8096e2f3`): no unique-start-point check, so two backups
    /// served by one merged checkpoint share a start point.
    B1,
    /// B2 (9.1–9.3, code rewritten in 9.4 by `9a20a9b21b`): `lastBackupStart` checked and set
    /// under the insertion lock in *shared* mode, so two holders both pass the check.
    B2,
    /// B3 (9.1–9.3, fixed by `8232d6df4c`): the WAL sender sends the start position before
    /// arming its cleanup block, so a client gone at that moment leaks the counter unit.
    B3,
    /// B4 (9.6 beta, fixed by `87d84d67bb`): a backup taken on a standby names its start WAL
    /// file with timeline 0 (`ThisTimeLineID` is 0 in a standby session).
    B4,
    /// B5 (9.1–9.6.1, fixed by `974ece58bb`): the exclusive stop clears the flag first and
    /// unconditionally, so a stop racing a start turns forcing off under a running backup.
    B5,
    /// B6 (9.6.0, fixed by `78874531ba`): the session's backup state lives in booleans set
    /// after the start returns and cleared after the stop returns, and the exit hook aborts
    /// unconditionally: a stop cancelled after its decrement decrements again at exit.
    B6,
    /// B7 (9.6, fixed by `56a95ee511`): `do_pg_abort_backup` decrements whether or not the
    /// session still runs a backup: a stop cancelled after its decrement decrements again.
    B7,
    /// B8 (9.5, fixed by `bc153c941d`): the re-check at insertion misses "full-page writes
    /// were turned on since assembly", so a change assembled before a backup raised forcing
    /// goes in without an image after the backup's start point.
    B8,
    /// B9 (9.6–12, fixed by `303640199d`): the exit hook is registered per backup and removed
    /// with `cancel_before_shmem_exit`, which only pops the newest callback; after a JIT
    /// query registers its own, removal silently fails and the hook aborts at exit.
    B9,
    /// B10 (fixed by `ee79647769`): `BASE_BACKUP` is accepted in a `replication=database`
    /// session that already runs an SQL backup; its stop clears the session state and the
    /// SQL backup's unit is never given back.
    B10,
    /// B11 (fixed by `b24b2be119`): `do_pg_abort_backup` does not reset the session state,
    /// so a session aborted by its cleanup block is aborted again by its exit hook.
    B11,
    /// B12 (16 dev, `df3737a651`, fixed by `8328a15f8f`): the merged abort asserts "during
    /// start XOR session running", which fails at exit after a successful backup.
    B12,
    /// B13 (9.1 dev, fixed by `8f5d65e916`): a fast shutdown neither terminates nor waits for
    /// WAL senders running a base backup, so the shutdown checkpoint can precede a backup's
    /// end record, which the restart then overwrites.
    B13,
    /// B14 (INCREMENTAL.md I1; 17.0-17.11 and 18.0-18.6, fixed by `f549ecd266`): summaries are
    /// chosen by timeline with an inclusive end, so a summary of abandoned WAL that starts at
    /// the promotion point is used by an incremental backup on the new timeline.
    B14,
    /// B15 (INCREMENTAL.md I2; 17.0-17.10 and 18.0-18.4, fixed by `3e8a0c1b02`): the WAL
    /// summarizer opens a segment only under the timeline it is reading, so the old
    /// timeline's last segment, renamed `.partial` at a promotion (its WAL lives on in the new
    /// timeline's file), stops summarization for good.
    B15,
    /// B16 (INCREMENTAL.md I3; 17.0-17.9 and 18.0-18.3, fixed by `ffc226ab64`): a heap
    /// truncation gives the visibility map the heap's new length as its limit, so an
    /// incremental backup names a truncation length in heap blocks for the map, and the
    /// combine pads the rebuilt map with zero pages to that length.
    B16,
    /// B17 (INCREMENTAL.md I4; 17 development, fixed by `d75c4027b6` before 17.0): the WAL
    /// summarizer ignores database creation and drop, so a database recreated by file copy
    /// leaves no trace in the summaries and its files are rebuilt from the prior backup.
    B17,
    /// B18 (INCREMENTAL.md I5; 17 before 17.0's release, fixed by `2b5819e2b4`): WAL written
    /// at `wal_level = minimal` is summarized like any other, though changes made there may
    /// write no block references: an incremental backup across it omits them.
    B18,
    /// B19 (INCREMENTAL.md I6; 17.0, fixed by `c7cfbc5157`): at a timeline switch the
    /// summarizer moves to the new timeline keeping its position, beyond WAL it never
    /// summarized there.
    B19,
}

impl Bug {
    /// Every bug, in catalogue order.
    pub const ALL: [Bug; 19] = [
        Bug::B1,
        Bug::B2,
        Bug::B3,
        Bug::B4,
        Bug::B5,
        Bug::B6,
        Bug::B7,
        Bug::B8,
        Bug::B9,
        Bug::B10,
        Bug::B11,
        Bug::B12,
        Bug::B13,
        Bug::B14,
        Bug::B15,
        Bug::B16,
        Bug::B17,
        Bug::B18,
        Bug::B19,
    ];

    /// Whether the bug lives in incremental backup (checked by the incremental profiles and
    /// runs, over [`crate::incremental::cluster::IncrementalCluster`]).
    pub const fn is_incremental(self) -> bool {
        matches!(
            self,
            Bug::B14 | Bug::B15 | Bug::B16 | Bug::B17 | Bug::B18 | Bug::B19
        )
    }

    /// The stable name (`b1` .. `b19`).
    pub fn name(self) -> &'static str {
        match self {
            Bug::B1 => "b1",
            Bug::B2 => "b2",
            Bug::B3 => "b3",
            Bug::B4 => "b4",
            Bug::B5 => "b5",
            Bug::B6 => "b6",
            Bug::B7 => "b7",
            Bug::B8 => "b8",
            Bug::B9 => "b9",
            Bug::B10 => "b10",
            Bug::B11 => "b11",
            Bug::B12 => "b12",
            Bug::B13 => "b13",
            Bug::B14 => "b14",
            Bug::B15 => "b15",
            Bug::B16 => "b16",
            Bug::B17 => "b17",
            Bug::B18 => "b18",
            Bug::B19 => "b19",
        }
    }

    /// The PostgreSQL versions that had it.
    pub fn era(self) -> &'static str {
        match self {
            Bug::B1 => "9.1 dev",
            Bug::B2 => "9.1-9.3",
            Bug::B3 => "9.1-9.3",
            Bug::B4 => "9.6 beta",
            Bug::B5 => "9.1-9.6.1",
            Bug::B6 => "9.6.0",
            Bug::B7 => "9.6",
            Bug::B8 => "9.5-11",
            Bug::B9 => "9.6-12",
            Bug::B10 => "10-15",
            Bug::B11 => "9.6-15",
            Bug::B12 => "16 dev",
            Bug::B13 => "9.1 dev",
            Bug::B14 => "17.0-17.11, 18.0-18.6",
            Bug::B15 => "17.0-17.10, 18.0-18.4",
            Bug::B16 => "17.0-17.9, 18.0-18.3",
            Bug::B17 => "17 dev",
            Bug::B18 => "17 beta",
            Bug::B19 => "17.0",
        }
    }

    /// The commit that fixed it (or, for B2, rewrote the code).
    pub fn fix(self) -> &'static str {
        match self {
            Bug::B1 => "6d8096e2f3",
            Bug::B2 => "9a20a9b21b",
            Bug::B3 => "8232d6df4c",
            Bug::B4 => "87d84d67bb",
            Bug::B5 => "974ece58bb",
            Bug::B6 => "78874531ba",
            Bug::B7 => "56a95ee511",
            Bug::B8 => "bc153c941d",
            Bug::B9 => "303640199d",
            Bug::B10 => "ee79647769",
            Bug::B11 => "b24b2be119",
            Bug::B12 => "8328a15f8f",
            Bug::B13 => "8f5d65e916",
            Bug::B14 => "f549ecd266",
            Bug::B15 => "3e8a0c1b02",
            Bug::B16 => "ffc226ab64",
            Bug::B17 => "d75c4027b6",
            Bug::B18 => "2b5819e2b4",
            Bug::B19 => "c7cfbc5157",
        }
    }

    /// The fixed design the flaw is put into.
    pub const fn base(self) -> Design {
        match self {
            Bug::B10 | Bug::B11 => Design::Pg15,
            Bug::B12 => Design::Pg16,
            // 17 as released already breaks restore and provenance (B14 itself), which would
            // hide a flaw put back beside it: incremental bugs go into the recommended design,
            // which has every fix.
            Bug::B14 | Bug::B15 | Bug::B16 | Bug::B17 | Bug::B18 | Bug::B19 => Design::Recommended,
            _ => Design::Pg96,
        }
    }

    /// One line: what the flaw is.
    pub fn summary(self) -> &'static str {
        match self {
            Bug::B1 => {
                "no unique-start-point check: a merged checkpoint gives two backups one start point"
            }
            Bug::B2 => "start-point check and set under a shared lock: both holders pass",
            Bug::B3 => {
                "start position sent before the cleanup block: a vanished client leaks the unit"
            }
            Bug::B4 => "standby backup names its start WAL file with timeline 0",
            Bug::B5 => {
                "exclusive stop clears the flag first: a stop racing a start turns forcing off"
            }
            Bug::B6 => {
                "session booleans set after the calls return: a cancelled stop decrements twice"
            }
            Bug::B7 => {
                "abort decrements without a running backup: a cancelled stop decrements twice"
            }
            Bug::B8 => {
                "insertion re-check misses forcing turned on since assembly: a change without image"
            }
            Bug::B9 => "per-backup exit hook not removed after a JIT callback: abort at exit",
            Bug::B10 => "BASE_BACKUP accepted in a session running an SQL backup: a leaked unit",
            Bug::B11 => "abort leaves the session state: cleanup block and exit hook both abort",
            Bug::B12 => "merged abort's XOR assertion fails at exit after a successful backup",
            Bug::B13 => {
                "shutdown checkpoint does not wait for base backups: an end record follows it"
            }
            Bug::B14 => {
                "summaries chosen with an inclusive end: one of abandoned WAL starting at the promotion point is used"
            }
            Bug::B15 => {
                "summarizer opens WAL segments of the timeline it reads only: the old timeline's .partial segment stops it for good"
            }
            Bug::B16 => {
                "the visibility map given the heap's truncation limit: the rebuilt map is padded with zero pages"
            }
            Bug::B17 => {
                "database creation and drop not summarized: a database recreated by file copy is rebuilt stale"
            }
            Bug::B18 => {
                "WAL written at wal_level = minimal summarized: changes without block references are omitted"
            }
            Bug::B19 => {
                "no rewind at a timeline switch: the summarizer reads the new timeline from its old position, stuck or past WAL it never summarized"
            }
        }
    }

    /// The rules of the base design with this flaw.
    const fn apply(self, mut rules: Rules) -> Rules {
        match self {
            Bug::B1 => rules.unique_start_check = false,
            Bug::B2 => rules.unique_check_lock = LockMode::Shared,
            Bug::B3 => rules.send_start_in_cleanup = false,
            Bug::B4 => rules.standby_label_timeline = StandbyTimeline::SessionZero,
            Bug::B5 => rules.exclusive = ExclusiveRule::Flag,
            Bug::B6 => {
                rules.session_state_after_return = true;
                rules.abort_when = AbortWhen::Always;
                rules.exit_hook = ExitHook::PerBackup;
            }
            // 9.6's exit hook was registered once the start had returned and removed after a
            // successful stop; 13's persistent hook, which the fixed design uses, came later.
            Bug::B7 => {
                rules.abort_when = AbortWhen::Always;
                rules.exit_hook = ExitHook::PerBackup;
            }
            Bug::B8 => rules.page_recheck_when_turned_on = false,
            Bug::B9 => {
                rules.exit_hook = ExitHook::PerBackup;
                rules.abort_when = AbortWhen::SessionHasBackup;
            }
            Bug::B10 => rules.base_backup_checks_session = false,
            Bug::B11 => rules.abort_resets_session_state = false,
            Bug::B12 => rules.abort_xor_assert = true,
            Bug::B13 => rules.shutdown_waits_for_walsenders = false,
            Bug::B14 => {
                if let Some(mut incremental) = rules.incremental {
                    incremental.selection = SummarySelection::Released;
                    rules.incremental = Some(incremental);
                }
            }
            Bug::B15 => {
                if let Some(mut incremental) = rules.incremental {
                    incremental.summarizer.segment_on_descendants = false;
                    rules.incremental = Some(incremental);
                }
            }
            Bug::B16 => {
                if let Some(mut incremental) = rules.incremental {
                    incremental.summarizer.vm_limit_in_vm_blocks = false;
                    rules.incremental = Some(incremental);
                }
            }
            Bug::B17 => {
                if let Some(mut incremental) = rules.incremental {
                    incremental.summarizer.database_records = false;
                    rules.incremental = Some(incremental);
                }
            }
            Bug::B18 => {
                if let Some(mut incremental) = rules.incremental {
                    incremental.summarizer.skip_minimal_wal = false;
                    rules.incremental = Some(incremental);
                }
            }
            Bug::B19 => {
                if let Some(mut incremental) = rules.incremental {
                    incremental.summarizer.rewind_at_switch = false;
                    rules.incremental = Some(incremental);
                }
            }
        }
        rules
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The protocol design under test: a design, plus at most one seeded bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Variant {
    /// The design.
    pub design: Design,
    /// The seeded bug, if any.
    pub bug: Option<Bug>,
    /// A design loaded from a file ([`crate::design_file`]): its rules and plan replace the
    /// built-in ones, and its name the variant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileDesign>,
}

impl Variant {
    /// A design without a seeded bug.
    pub const fn of(design: Design) -> Self {
        Variant {
            design,
            bug: None,
            file: None,
        }
    }

    /// A seeded bug in its base design.
    pub const fn bug(bug: Bug) -> Self {
        Variant {
            design: bug.base(),
            bug: Some(bug),
            file: None,
        }
    }

    /// The behaviour switches in force.
    #[inline]
    pub fn rules(self) -> Rules {
        *self.rules_ref()
    }

    /// The behaviour switches in force, from a table built at compile time (the steps consult
    /// them many times per step).
    #[inline]
    pub fn rules_ref(self) -> &'static Rules {
        if let Some(file) = self.file {
            return &file.spec().rules;
        }
        let column = match self.bug {
            None => 0,
            Some(bug) => bug as usize + 1,
        };
        &VARIANT_RULES[self.design as usize][column]
    }

    /// The order of every command's steps ([`crate::plan`]).
    #[inline(always)]
    pub fn plan(self) -> &'static Plan {
        if let Some(file) = self.file {
            return &file.spec().plan;
        }
        let column = match self.bug {
            None => 0,
            Some(bug) => bug as usize + 1,
        };
        &VARIANT_PLANS[self.design as usize][column]
    }

    /// A design loaded from a file (its `design` is its base's, for what depends on the era).
    pub fn file(file: FileDesign) -> Self {
        Variant {
            design: file.spec().base.design,
            bug: None,
            file: Some(file),
        }
    }

    /// The built-in variant's name this one is (or, for a design file, is based on).
    pub fn base_name(self) -> String {
        match self.file {
            Some(file) => file.spec().base.to_string(),
            None => self.to_string(),
        }
    }

    /// One line describing the variant.
    pub fn summary(self) -> String {
        if let Some(file) = self.file {
            return file.spec().summary.clone();
        }
        match self.bug {
            None => self.design.summary().to_string(),
            Some(bug) => format!(
                "{} ({}, {}): {}",
                bug.name().to_uppercase(),
                bug.era(),
                bug.fix(),
                bug.summary()
            ),
        }
    }

    /// Every design, then every seeded bug.
    pub fn all() -> Vec<Variant> {
        Design::ALL
            .into_iter()
            .map(Variant::of)
            .chain(Bug::ALL.into_iter().map(Variant::bug))
            .collect()
    }
}

impl Default for Variant {
    /// The recommended design.
    fn default() -> Self {
        Variant::of(Design::Recommended)
    }
}

impl fmt::Display for Variant {
    /// `design`, or `design+bug` (`pg96+b5`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = self.file {
            return f.write_str(&file.spec().name);
        }
        match self.bug {
            None => write!(f, "{}", self.design),
            Some(bug) => write!(f, "{}+{}", self.design, bug),
        }
    }
}

/// A variant name that is not known.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unknown variant {0:?}: expected a design (pg91, pg91-option2, pg96, pg15, pg16, pg17, recommended, recommended-option2), a bug (b1 .. b14, b16 .. b19), or design+bug (pg96+b5)")]
pub struct UnknownVariant(pub String);

impl FromStr for Variant {
    type Err = UnknownVariant;
    /// `design`, `bug` (in its base design), or `design+bug`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownVariant(name.to_string());
        let design = |text: &str| Design::ALL.into_iter().find(|d| d.name() == text);
        let bug = |text: &str| {
            Bug::ALL
                .into_iter()
                .find(|b| b.name() == text.to_ascii_lowercase())
        };
        match name.split_once('+') {
            Some((d, b)) => Ok(Variant {
                design: design(d).ok_or_else(unknown)?,
                bug: Some(bug(b).ok_or_else(unknown)?),
                file: None,
            }),
            None => design(name)
                .map(Variant::of)
                .or_else(|| bug(name).map(Variant::bug))
                .ok_or_else(unknown),
        }
    }
}

/// Exclusive backups (`pg_start_backup()` with its label in the data directory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockMode {
    /// LW_SHARED: several holders at once.
    Shared,
    /// LW_EXCLUSIVE (all insertion locks from 9.4).
    Exclusive,
}

/// Where a non-exclusive backup's label goes between start and stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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

/// When `do_pg_abort_backup` gives back the session's counter unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AbortWhen {
    /// Always (9.1; 9.6.0, B6/B7): a second call decrements again.
    Always,
    /// Unless the session state is NONE (9.6 after `56a95ee511`, up to 12): an exclusive
    /// session state passes too.
    SessionHasBackup,
    /// Only while the session runs a non-exclusive backup (13+).
    SessionRunsNonExclusive,
}

/// What undoes a failed start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartCleanup {
    /// Its own callback (`pg_start_backup_callback`, up to 15).
    Callback,
    /// `do_pg_abort_backup(during_start = true)` (16+).
    AbortDuringStart,
}

/// How the SQL session's exit hook (`do_pg_abort_backup` at exit) is installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitHook {
    /// There is none (9.1 has no non-exclusive SQL backups).
    None,
    /// Registered after each successful start, removed after the stop with
    /// `cancel_before_shmem_exit`, which only pops the newest callback (9.6–12).
    PerBackup,
    /// Registered once per session, before the first start, never removed (13+).
    Persistent,
}

/// Which timeline a standby's backup label names its start WAL file with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StandbyTimeline {
    /// The start checkpoint's timeline.
    Checkpoint,
    /// The session's `ThisTimeLineID`, which is 0 on a standby (B4).
    SessionZero,
}

/// What decides whether inserters must take full-page images for backups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Forcing {
    /// Up to 15: a shared `forcePageWrites` flag that start raises and stop, abort and the
    /// start's cleanup recompute from the exclusive state and the counter.
    Flag,
    /// 16+ (`7d708093b7`): no flag; writes are forced while `runningBackups > 0`, read by every
    /// inserter. A counter driven below zero by an extra decrement forces nothing for the
    /// backups that follow until the server restarts.
    Counter,
}

/// How the history file's STOP WAL LOCATION names its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopFile {
    /// The segment holding the end record's last byte (`XLByteToPrevSeg`, up to 15).
    HoldsLastByte,
    /// The segment holding the stop point (`XLByteToSeg`, 16+).
    HoldsEnd,
}

/// Which WAL segments a checkpoint lets go of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WalRetention {
    /// Up to 10: segments before the *previous* checkpoint's redo are removed.
    PriorCheckpoint,
    /// 11+: segments before the checkpoint's own redo are removed.
    LastCheckpoint,
}

/// How a file that may already exist is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileWrite {
    /// PostgreSQL's `AllocateFile(path, "w")`: an existing file is silently replaced.
    Overwrite,
    /// Create-new (`O_EXCL`): an existing file is an error.
    CreateNew,
}

/// What a file write makes durable before the step that writes it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileSync {
    /// Nothing (`AllocateFile`, write, `FreeFile`): an OS crash may lose it.
    None,
    /// The file's content (`pg_fsync` of the file), not its directory entry.
    File,
    /// Content and name: fsync of the file, then of its directory (`durable_rename`-style).
    FileAndDirectory,
}

impl FileSync {
    /// Whether the written file survives an OS crash.
    pub const fn durable(self) -> bool {
        matches!(self, FileSync::FileAndDirectory)
    }
}

/// The behaviour switches of a design. Each field says where designs differ and why. Design
/// files name them by their field names (`file_write = "create-new"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Exclusive backups and their shared state.
    pub exclusive: ExclusiveRule,
    /// SQL sessions may take non-exclusive backups (9.6+, `7117685461`).
    pub sql_non_exclusive: bool,
    /// 9.1 switches WAL before taking the counter unit; 9.2 (`2dd9322ba6`) moved it after.
    pub switch_before_increment: bool,
    /// The start point must be newer than `lastBackupStart` (`6d8096e2f3`; B1 without).
    pub unique_start_check: bool,
    /// The lock under which `lastBackupStart` is checked and set: shared in 9.1 to 9.3 (B2).
    pub unique_check_lock: LockMode,
    /// `sessionBackupState` exists (9.6+, `78874531ba`).
    pub session_state: bool,
    /// The session's state is set only after the start function returns and cleared only
    /// after the stop function returns (9.6.0's booleans, B6), not with the counter.
    pub session_state_after_return: bool,
    /// The walsender sends the start position inside its cleanup block (2014, `8232d6df4c`).
    pub send_start_in_cleanup: bool,
    /// The walsender's stop runs inside its cleanup block (2017, `56a95ee511`).
    pub stop_in_cleanup: bool,
    /// When `do_pg_abort_backup` gives back a unit.
    pub abort_when: AbortWhen,
    /// `do_pg_abort_backup` clears the session state (`b24b2be119`; B11 without).
    pub abort_resets_session_state: bool,
    /// 16 dev's merged abort asserts "during start XOR session running" (B12).
    pub abort_xor_assert: bool,
    /// What undoes a start that fails.
    pub start_cleanup: StartCleanup,
    /// How the SQL session's exit hook is installed.
    pub exit_hook: ExitHook,
    /// `BASE_BACKUP` is refused in a session running an SQL backup (`ee79647769`; B10 without).
    pub base_backup_checks_session: bool,
    /// The insertion re-check also retries when full-page writes were turned on since the
    /// change was assembled (`bc153c941d`; B8 without).
    pub page_recheck_when_turned_on: bool,
    /// Which timeline a standby's backup label names its start WAL file with.
    pub standby_label_timeline: StandbyTimeline,
    /// Where labels of non-exclusive backups live between start and stop.
    pub label_delivery: LabelDelivery,
    /// Which labels are refused at start.
    pub label_rule: LabelRule,
    /// Which lines a label carries.
    pub label_format: LabelFormat,
    /// What forces full-page writes for backups.
    pub forcing: Forcing,
    /// How the history file names the stop WAL file.
    pub stop_file: StopFile,
    /// WAL recycling at checkpoints.
    pub wal_retention: WalRetention,
    /// How history files and temporary label files are written.
    pub file_write: FileWrite,
    /// A base backup's copy skips the exclusive backup_label and temporary label files.
    pub copy_skips_label_files: bool,
    /// A fast shutdown terminates WAL senders running a base backup like regular backends,
    /// and its shutdown checkpoint waits for them to exit (`8f5d65e916`, 2011-01, before 9.1
    /// shipped), so that no backup-end record is written after the shutdown checkpoint.
    pub shutdown_waits_for_walsenders: bool,
    /// What writing the exclusive `backup_label` and option 2's temporary label files makes
    /// durable: nothing in 9.1, the file's content from `0f04fc67f7` (2012; no fsync of the
    /// data directory up to 14), content and name in the recommended designs.
    pub label_sync: FileSync,
    /// What writing a history file makes durable: nothing up to 18 (written with
    /// `AllocateFile`/`FreeFile`, no fsync; durable only once archived), content and name in
    /// the recommended designs.
    pub history_sync: FileSync,
    /// The stop removes `backup_label` with `durable_unlink` (an fsync of the data directory;
    /// 9.6+) rather than a plain `unlink` (9.1).
    pub durable_label_removal: bool,
    /// Incremental backups (17+): the rules of the WAL summarizer, of the summaries an
    /// incremental backup chooses and merges, and of what it sends (`None`: the design has
    /// none). Exercised by the `incremental` model profile over
    /// [`crate::incremental::cluster::IncrementalCluster`].
    pub incremental: Option<IncrementalRules>,
}

impl Rules {
    /// Exclusive backups exist in this design.
    pub fn has_exclusive(self) -> bool {
        self.exclusive != ExclusiveRule::Unavailable
    }

    /// The names its server gives the SQL backup functions: 15 renamed them as it removed
    /// exclusive backups, so a design with exclusive backups is of the older era.
    pub fn function_names(self) -> crate::action::FunctionNames {
        if self.has_exclusive() {
            crate::action::FunctionNames::Before15
        } else {
            crate::action::FunctionNames::Since15
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_round_trip() {
        for variant in Variant::all() {
            assert_eq!(variant.to_string().parse::<Variant>(), Ok(variant));
        }
        assert_eq!("b5".parse::<Variant>(), Ok(Variant::bug(Bug::B5)));
        assert_eq!("pg96+b5".parse::<Variant>(), Ok(Variant::bug(Bug::B5)));
        assert_eq!(
            "pg15+B7".parse::<Variant>(),
            Ok(Variant {
                design: Design::Pg15,
                bug: Some(Bug::B7),
                file: None,
            })
        );
        assert!("pg99".parse::<Variant>().is_err());
        assert!("pg96+b99".parse::<Variant>().is_err());
        assert_eq!(Variant::default().design, Design::Recommended);
    }

    #[test]
    fn each_bug_changes_its_base_design() {
        for bug in Bug::ALL {
            assert_ne!(Variant::bug(bug).rules(), bug.base().rules(), "{bug}");
        }
    }

    #[test]
    fn only_eras_before_15_have_exclusive_backups() {
        assert!(Design::Pg91.rules().has_exclusive());
        assert!(Design::Pg96.rules().has_exclusive());
        assert!(!Design::Pg15.rules().has_exclusive());
        assert!(!Design::Recommended.rules().has_exclusive());
    }
}
