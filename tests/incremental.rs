//! Incremental backup's rules end to end, by hand (INCREMENTAL.md §1.6, §3 I1): the summaries
//! chosen and merged, the blocks sent, and the combine, judged by the one fact that matters:
//! the rebuilt file equals the source's file at the incremental backup's start (replay from
//! there would not repair a block the combine got wrong, since no later record touches it).

use backup_coordinator::incremental::{
    file_backup_method, prepare_incremental, reconstruct, BackupFile, BlockRefTable,
    FileBackupMethod, Fork, ForkKey, ManifestRange, MergeOrder, PageContent, RelNumber,
    SummarySelection, TimelineEntry, WalSummary, BLCKSZ,
};
use backup_coordinator::lsn::{Lsn, TimeLineId};
use smallvec::SmallVec;
use PageContent::Version as V;

const R: ForkKey = ForkKey {
    relation: RelNumber(1),
    fork: Fork::Main,
};

/// I1's schedule (reproduced on 17.11): full backup F at B0 with R's four blocks at version
/// 1; on timeline 1 a redo point at S, R truncated to 2 blocks, a redo point at R2; a standby
/// that summarized all of it, replayed only to S, is promoted there (timeline 2 from S, where
/// R still has four blocks), and writes blocks 2 and 3; an incremental backup at R3 on
/// timeline 2 with F's manifest. Returns the file rebuilt from F and it, and the source's.
fn i1(selection: SummarySelection) -> (Result<Vec<PageContent>, String>, Vec<PageContent>) {
    let (b0, s, r2, r3) = (Lsn(0x100), Lsn(0x200), Lsn(0x300), Lsn(0x400));
    let source = vec![V(1), V(1), V(2), V(2)];
    let mut truncated = BlockRefTable::new();
    truncated.set_limit_block(R, 2);
    let mut written = BlockRefTable::new();
    written.mark_block_modified(R, 2).unwrap();
    written.mark_block_modified(R, 3).unwrap();
    let summary = |tli, start: Lsn, end: Lsn, table: &BlockRefTable| WalSummary {
        tli: TimeLineId(tli),
        start,
        end,
        table: table.clone(),
    };
    // The directory as the standby has it (the abandoned timeline-1 file stays on disk).
    let directory = [
        summary(1, b0, s, &BlockRefTable::new()),
        summary(1, s, r2, &truncated),
        summary(2, s, r3, &written),
    ];
    let history = [
        TimelineEntry {
            tli: TimeLineId(2),
            begin: s,
            end: None,
        },
        TimelineEntry {
            tli: TimeLineId(1),
            begin: Lsn::INVALID,
            end: Some(s),
        },
    ];
    let ranges = [ManifestRange {
        tli: TimeLineId(1),
        start: b0,
        end: Lsn(0x180),
    }];
    let prepared = match prepare_incremental(
        &ranges,
        &history,
        r3,
        &directory,
        selection,
        MergeOrder::Released,
    ) {
        Ok(prepared) => prepared,
        Err(e) => return (Err(e.to_string()), source),
    };
    let size = source.len() as u64 * BLCKSZ;
    let sent = match file_backup_method(&prepared.table, R, size, true) {
        FileBackupMethod::Full => BackupFile::Full(source.iter().copied().collect()),
        FileBackupMethod::Incremental {
            blocks,
            truncation_block_length,
        } => BackupFile::Incremental {
            blocks: blocks.iter().map(|b| (b, source[b as usize])).collect(),
            truncation_block_length,
        },
    };
    let full = BackupFile::Full(SmallVec::from_slice(&[V(1), V(1), V(1), V(1)]));
    let rebuilt = reconstruct(&[Some(full), Some(sent)]).map_err(|e| e.to_string());
    (rebuilt, source)
}

#[test]
fn i1_released_selection_rebuilds_stale_blocks_the_source_rewrote_after_the_promotion() {
    let (rebuilt, source) = i1(SummarySelection::Released);
    let rebuilt = rebuilt.expect("17.11 and 18.6 take the backup");
    assert_ne!(rebuilt, source, "the corruption f549ecd266 fixed");
    assert_eq!(
        rebuilt,
        vec![V(1); 4],
        "blocks 2 and 3 come back as F's stale versions"
    );
}

#[test]
fn i1_selection_within_the_backups_history_rebuilds_the_source() {
    let (rebuilt, source) = i1(SummarySelection::WithinHistory);
    assert_eq!(rebuilt, Ok(source));
}

mod cluster {
    use backup_coordinator::incremental::cluster::{
        IncrementalAction as A, IncrementalBackup, IncrementalCluster, IncrementalConfig,
        IncrementalRules, IncrementalViolation, Listing,
    };
    use backup_coordinator::incremental::MergeOrder;
    use std::collections::{HashMap, VecDeque};

    fn run(rules: IncrementalRules, schedule: &[A]) -> IncrementalCluster {
        let mut c = IncrementalCluster::new(rules, IncrementalConfig::default());
        for &action in schedule {
            c.apply(action)
                .unwrap_or_else(|e| panic!("{e}; enabled: {:?}", c.actions()));
        }
        c
    }

    /// INCREMENTAL.md §3 I1's schedule as steps of the model: the full backup, a redo point
    /// S, a truncation to 2 blocks, a redo point R2; the standby receives all of it, replays
    /// to S and summarizes ahead of replay (its files end at S and R2); promoted at S; it
    /// writes block 3; an incremental backup starts at R3 and, once the summarizer has
    /// rewound to S on timeline 2 and passed R3, finishes.
    fn i1_schedule() -> Vec<A> {
        let mut s = vec![
            A::FullBackup,
            A::PrimaryCheckpoint,
            A::PrimaryTruncate { blocks: 2 },
            A::PrimaryCheckpoint,
        ];
        s.extend([A::Receive; 4]);
        s.push(A::Replay);
        s.extend([A::Summarize; 7]);
        s.extend([
            A::Promote,
            A::StandbyWrite { block: 3 },
            A::IncrementalStart,
        ]);
        s.extend([A::Summarize; 4]);
        s.push(A::IncrementalFinish {
            listing: Listing::Written,
        });
        s
    }

    #[test]
    fn i1_schedule_breaks_restore_and_provenance_in_17_as_released() {
        let c = run(IncrementalRules::RELEASED, &i1_schedule());
        let properties: Vec<&str> = c.violations().iter().map(|v| v.property).collect();
        assert_eq!(
            properties,
            [
                "E1 restore equals the source",
                "E3 summaries used lie on the backup's history"
            ],
            "{:?}",
            c.incremental
        );
    }

    #[test]
    fn i1_schedule_restores_the_source_with_the_fixed_selection() {
        let c = run(IncrementalRules::FIXED, &i1_schedule());
        assert!(
            matches!(c.incremental, Some(IncrementalBackup::Rebuilt { .. })),
            "{:?}",
            c.incremental
        );
        assert_eq!(c.violations(), vec![]);
    }

    /// Breadth-first search over every schedule within `config`: the unique states (by a
    /// 64-bit fingerprint), and the shortest schedule to each property's first violation.
    fn explore(
        rules: IncrementalRules,
        config: IncrementalConfig,
    ) -> (usize, HashMap<&'static str, Vec<A>>) {
        use std::hash::{Hash, Hasher};
        let fingerprint = |c: &IncrementalCluster| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            c.hash(&mut h);
            h.finish()
        };
        let start = IncrementalCluster::new(rules, config);
        // Each visited state's parent (index) and the action that led to it.
        let mut visited: Vec<(usize, Option<A>)> = vec![(0, None)];
        let mut seen: HashMap<u64, usize> = HashMap::from([(fingerprint(&start), 0)]);
        let mut queue = VecDeque::from([(start, 0usize)]);
        let mut found: HashMap<&'static str, Vec<A>> = HashMap::new();
        while let Some((state, index)) = queue.pop_front() {
            for action in state.actions() {
                let mut next = state.clone();
                next.apply(action).expect("enabled");
                let f = fingerprint(&next);
                if seen.contains_key(&f) {
                    continue;
                }
                let at = visited.len();
                seen.insert(f, at);
                visited.push((index, Some(action)));
                for IncrementalViolation { property, .. } in next.violations() {
                    found.entry(property).or_insert_with(|| {
                        let mut path = Vec::new();
                        let mut i = at;
                        while let (parent, Some(a)) = visited[i] {
                            path.push(a);
                            i = parent;
                        }
                        path.reverse();
                        path
                    });
                }
                queue.push_back((next, at));
            }
        }
        (visited.len(), found)
    }

    /// I1's bounds (INCREMENTAL.md §4) less the primary's page write, which I1 does not
    /// need: the search stays in seconds.
    fn i1_bounds() -> IncrementalConfig {
        IncrementalConfig {
            primary_writes: 0,
            ..IncrementalConfig::default()
        }
    }

    #[test]
    fn exhaustive_search_finds_i1_in_17_as_released() {
        let (states, found) = explore(IncrementalRules::RELEASED, i1_bounds());
        let restore = &found["E1 restore equals the source"];
        println!(
            "{states} states; shortest E1 counterexample ({} steps):",
            restore.len()
        );
        for (i, a) in restore.iter().enumerate() {
            println!("{}. {a}", i + 1);
        }
        assert!(found.contains_key("E3 summaries used lie on the backup's history"));
        assert!(states > 1_000, "{states}");
    }

    /// The selection built from f549ecd266's description keeps every summary used on the
    /// backup's history, yet the search still restores stale blocks: the standby's summarizer
    /// read the old timeline's WAL beyond the point where replay stopped (a truncation) into
    /// the file it was building, and after the promotion wrote that file up to the switch
    /// point with the abandoned truncation in it (INCREMENTAL.md §2.5, derived). A candidate
    /// finding (docs/findings/).
    #[test]
    fn the_fixed_selection_still_restores_stale_blocks_through_the_summarizers_read_ahead() {
        let (states, found) = explore(IncrementalRules::FIXED, i1_bounds());
        println!("{states} states");
        assert!(!found.contains_key("E3 summaries used lie on the backup's history"));
        let restore = &found["E1 restore equals the source"];
        for (i, a) in restore.iter().enumerate() {
            println!("{}. {a}", i + 1);
        }
        assert!(
            !restore.contains(&A::PrimaryCheckpoint),
            "no redo point at the switch: {restore:?}"
        );
    }

    /// With the read-ahead dropped and the selection within the history, the released merge
    /// order (newest timeline first) still loses blocks: a truncation replayed before the
    /// promotion, merged after the new timeline's writes that extend the relation again,
    /// forgets them (INCREMENTAL.md §1.3). A candidate finding (docs/findings/).
    #[test]
    fn merging_the_newest_timeline_first_forgets_blocks_written_after_a_replayed_truncation() {
        let rules = IncrementalRules {
            order: MergeOrder::Released,
            ..IncrementalRules::RECOMMENDED
        };
        let (_, found) = explore(rules, i1_bounds());
        let restore = &found["E1 restore equals the source"];
        for (i, a) in restore.iter().enumerate() {
            println!("{}. {a}", i + 1);
        }
        let truncated = restore
            .iter()
            .position(|a| matches!(a, A::PrimaryTruncate { .. }))
            .expect("a truncation");
        let promoted = restore
            .iter()
            .position(|a| *a == A::Promote)
            .expect("a promotion");
        let replays = restore.iter().filter(|a| **a == A::Replay).count();
        assert!(
            truncated < promoted && replays >= 2,
            "the truncation is replayed: {restore:?}"
        );
        assert!(!found.contains_key("E3 summaries used lie on the backup's history"));
    }

    /// On one timeline too: a truncation and a later re-extension in different summary files
    /// (a checkpoint between them), listed newest first by the directory read, are merged in
    /// that order and the re-extended blocks are lost (reproduced on real servers: the
    /// one-timeline case of `scripts/repro-incremental-findings`); merged in WAL order, not.
    #[test]
    fn merging_in_directory_order_forgets_blocks_written_after_a_truncation_on_one_timeline() {
        let bounds = IncrementalConfig {
            primary_writes: 0,
            truncations: 0,
            primary_checkpoints: 0,
            standby_writes: 1,
            standby_truncations: 1,
            standby_checkpoints: 1,
            ..IncrementalConfig::default()
        };
        let released_order = IncrementalRules {
            order: MergeOrder::Released,
            ..IncrementalRules::RECOMMENDED
        };
        let (states, found) = explore(released_order, bounds);
        let restore = &found["E1 restore equals the source"];
        for (i, a) in restore.iter().enumerate() {
            println!("{}. {a}", i + 1);
        }
        assert!(restore.contains(&A::IncrementalFinish {
            listing: Listing::Reversed
        }));
        assert!(restore.contains(&A::StandbyCheckpoint));
        let (_, recommended) = explore(IncrementalRules::RECOMMENDED, bounds);
        assert!(recommended.is_empty(), "{recommended:?} ({states} states)");
    }

    /// With a summarizer that reads a file again up to the switch point when its timeline
    /// ends below what it had read, and the selection within the history, no schedule within
    /// I1's bounds breaks restore or provenance.
    #[test]
    fn the_recommended_rules_keep_restore_and_provenance_in_every_schedule() {
        let (states, found) = explore(IncrementalRules::RECOMMENDED, i1_bounds());
        assert!(found.is_empty(), "{found:?}");
        assert!(states > 10_000, "{states}");
    }
}

/// The wait for the summarizer (`WaitForWalSummarization`) fails only where the summarizer
/// cannot move: with the rewind at a timeline switch (`c7cfbc5157`) no reachable state of these
/// bounds offers the failure; without it, the summarizer that kept its position beyond the
/// new timeline's end waits for WAL that never comes, and the server gives up with "WAL
/// summarization is not progressing", which L1 reports.
#[test]
fn the_wait_for_the_summarizer_fails_only_where_the_summarizer_is_stuck() {
    use backup_coordinator::incremental::cluster::{
        IncrementalAction as A, IncrementalCluster, IncrementalConfig, IncrementalProperty,
        IncrementalRules,
    };
    use backup_coordinator::incremental::SummarizerRules;
    use std::collections::{HashSet, VecDeque};
    let bounds = IncrementalConfig {
        primary_writes: 0,
        truncations: 0,
        primary_checkpoints: 3,
        standby_writes: 0,
        ..IncrementalConfig::default()
    };
    // The first state reached breadth first where the wait may fail, after it fails.
    let stuck = |rules: IncrementalRules| {
        let start = IncrementalCluster::new(rules, bounds);
        let mut seen = HashSet::from([start.clone()]);
        let mut queue = VecDeque::from([start]);
        while let Some(state) = queue.pop_front() {
            for action in state.actions() {
                let mut next = state.clone();
                next.apply(action).expect("enabled");
                if action == A::IncrementalWaitFails {
                    return Some(next);
                }
                if seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
        None
    };
    assert!(stuck(IncrementalRules::RECOMMENDED).is_none());
    let no_rewind = IncrementalRules {
        summarizer: SummarizerRules {
            rewind_at_switch: false,
            ..IncrementalRules::RECOMMENDED.summarizer
        },
        ..IncrementalRules::RECOMMENDED
    };
    let failed = stuck(no_rewind).expect("a summarizer stuck beyond the new timeline's end");
    let problems = IncrementalProperty::BackupTaken.problems(&failed);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("WAL summarization is not progressing")),
        "{problems:?}"
    );
}

/// I2 (`3e8a0c1b02`): the standby archives, so its promotion inside segment 9 ([0/120, 0/140))
/// renames timeline 1's file of that segment `.partial`; timeline 2's file of segment 9 holds
/// timeline 1's WAL up to the switch point. A summarizer that had not yet opened segment 9
/// must read timeline 1's 0/120 there. With the fix (released 17.11 and 18.6, and the
/// recommended rules) it opens timeline 2's file and the incremental backup is taken; with
/// only the file of the timeline it reads, it can never move and the wait fails; without
/// archiving nothing is renamed and both take the backup; and a summarizer that had already
/// opened segment 9 before the promotion keeps reading it.
#[test]
fn i2_a_segment_renamed_partial_at_the_promotion_is_read_from_the_new_timelines_file() {
    use backup_coordinator::incremental::cluster::{
        segment_of, IncrementalAction as A, IncrementalCluster, IncrementalConfig,
        IncrementalProperty, IncrementalRules, Listing,
    };
    use backup_coordinator::incremental::SummarizerRules;
    let bounds = |archive_mode| IncrementalConfig {
        primary_writes: 1,
        truncations: 0,
        primary_checkpoints: 0,
        standby_writes: 0,
        archive_mode,
        ..IncrementalConfig::default()
    };
    let only_own_timeline = |rules: IncrementalRules| IncrementalRules {
        summarizer: SummarizerRules {
            segment_on_descendants: false,
            ..rules.summarizer
        },
        ..rules
    };
    // B15's trace up to the promotion, with `early` summarizer steps before it; then the
    // incremental backup begins and the summarizer goes as far as it can.
    let run = |rules: IncrementalRules, archive_mode: bool, early: usize| {
        let mut c = IncrementalCluster::new(rules, bounds(archive_mode));
        let mut steps = vec![A::PrimaryWrite { block: 0 }, A::FullBackup];
        steps.extend([A::Receive, A::Receive, A::Replay, A::Replay]);
        steps.extend(std::iter::repeat_n(A::Summarize, early));
        steps.extend([A::Promote, A::IncrementalStart]);
        for step in steps {
            c.apply(step).unwrap_or_else(|e| panic!("{step}: {e}"));
        }
        let switch = c.timelines[0].end.expect("promoted");
        assert_eq!(segment_of(switch), 9, "the switch point {switch}");
        assert_ne!(switch.0 % 0x20, 0, "inside its segment");
        for _ in 0..50 {
            if !c.is_enabled(A::Summarize) {
                break;
            }
            c.apply(A::Summarize).unwrap();
        }
        c
    };
    for rules in [
        IncrementalRules::RELEASED,
        IncrementalRules::FIXED,
        IncrementalRules::RECOMMENDED,
    ] {
        for (archive_mode, flawed, early, stuck) in [
            (true, false, 0, false),
            (true, true, 0, true),
            (false, true, 0, false),
            // Two reads (segment 8), then the file holding 0/120 is opened before the
            // promotion: it stays readable.
            (true, true, 3, false),
        ] {
            let rules = if flawed {
                only_own_timeline(rules)
            } else {
                rules
            };
            let mut c = run(rules, archive_mode, early);
            let context = format!("{rules:?}, archive_mode {archive_mode}, {early} early steps");
            if stuck {
                assert!(c.is_enabled(A::IncrementalWaitFails), "{context}");
                assert!(c.summarizer_stuck_on().is_some(), "{context}");
                assert_eq!(c.summarizing.tli, TimeLineId(1), "{context}");
                let text = c.apply_described(A::IncrementalWaitFails).unwrap();
                assert!(text.contains("renamed .partial"), "{context}: {text}");
                assert!(!IncrementalProperty::BackupTaken.holds(&c), "{context}");
            } else {
                assert!(c.summarizer_stuck_on().is_none(), "{context}");
                c.apply(A::IncrementalFinish {
                    listing: Listing::Written,
                })
                .unwrap_or_else(|e| panic!("{context}: {e}"));
                assert!(IncrementalProperty::BackupTaken.holds(&c), "{context}");
            }
        }
    }
}
