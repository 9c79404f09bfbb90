//! The symmetry representative is canonical (equal for every permutation of same-kind sessions,
//! renaming of backups, and shift of the checkpoint numbers still read, whatever the tickets no
//! step reads again hold), idempotent, and behaviour-preserving (same invariant verdicts and
//! the same number of enabled actions as the state it stands for).

use backup_coordinator::invariants::check_all;
use backup_coordinator::state::{Assertion, BackupId, SessionId};
use backup_coordinator::{Cluster, Config, Design, Variant};

/// The state with sessions reordered (within their kinds) by `order`, backups renamed by a
/// bijection that depends on `shift` (numbers XOR-ed with its low bits, which reorders them,
/// then shifted), and checkpoints renumbered ([`renumbered_checkpoints`]) by `shift + 1`: a
/// member of the same symmetry class, built independently of the core's own renaming code.
fn permuted(c: &Cluster, order: &[usize], shift: u32) -> Cluster {
    let mut out = permuted_by(
        &renumbered_checkpoints(c, shift + 1),
        order,
        &|id: BackupId| BackupId((id.0 ^ (shift & 3)) + shift),
    );
    out.next_backup = c.next_backup + shift + 4;
    out
}

/// The state with every checkpoint number still read (the checkpointer's counts of begun and
/// completed checkpoints, and the tickets [`Cluster::ticket_read_later`] says a session still
/// reads) moved up by `by`, and every other ticket overwritten with a number of no meaning: a
/// member of the same class, since the core only compares those numbers with one another
/// and never reads the others again.
fn renumbered_checkpoints(c: &Cluster, by: u32) -> Cluster {
    let mut out = c.clone();
    out.checkpointer.started += by;
    out.checkpointer.done += by;
    for (index, session) in out.sessions.iter_mut().enumerate() {
        if c.ticket_read_later(SessionId(index as u8)) {
            session.ticket += by;
        } else {
            session.ticket = 1_000 + 7 * by + index as u32;
        }
    }
    out
}

/// Every backup number a state mentions.
fn backup_ids(c: &Cluster) -> Vec<BackupId> {
    let mut ids: Vec<BackupId> = c.backups.iter().map(|b| b.id).collect();
    ids.extend(c.sessions.iter().filter_map(|s| s.backup));
    ids.extend(c.data_dir.backup_label.map(|f| f.backup));
    ids.extend(c.data_dir.unlinked_label.map(|f| f.backup));
    ids.extend(c.data_dir.temp_labels.iter().map(|f| f.backup));
    ids.extend(c.data_dir.history.iter().filter_map(|f| f.backup));
    ids.extend(c.ghost.latched.iter().map(|l| l.backup));
    ids.extend(c.ghost.restart_refused);
    ids.sort();
    ids.dedup();
    ids
}

/// The state with sessions reordered by `order` and backups renamed by `b`, which must be a
/// bijection on [`backup_ids`] whose values stay below `next_backup`.
fn permuted_by(c: &Cluster, order: &[usize], b: &dyn Fn(BackupId) -> BackupId) -> Cluster {
    let mut new_of_old = vec![0u8; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of_old[old] = new as u8;
    }
    let s = |id: SessionId| SessionId(new_of_old[usize::from(id.0)]);
    let mut out = c.clone();
    out.sessions = order.iter().map(|&old| c.sessions[old]).collect();
    for session in &mut out.sessions {
        session.backup = session.backup.map(b);
    }
    for backup in &mut out.backups {
        backup.id = b(backup.id);
        backup.session = s(backup.session);
    }
    out.backups.reverse();
    out.backups.sort_by_key(|x| x.id);
    if let Some(f) = &mut out.data_dir.backup_label {
        f.backup = b(f.backup);
    }
    if let Some(f) = &mut out.data_dir.unlinked_label {
        f.backup = b(f.backup);
    }
    out.data_dir
        .temp_labels
        .iter_mut()
        .for_each(|f| f.backup = b(f.backup));
    out.data_dir
        .history
        .iter_mut()
        .for_each(|f| f.backup = f.backup.map(b));
    out.ghost.latched.iter_mut().for_each(|l| {
        l.backup = b(l.backup);
        l.session = s(l.session);
    });
    out.ghost.latched.reverse();
    out.ghost.restart_refused = out.ghost.restart_refused.map(b);
    out.ghost.spurious_release = out.ghost.spurious_release.map(s);
    out.ghost.failed_assertion = out.ghost.failed_assertion.map(|(a, x)| (a, s(x)));
    out
}

/// Orders that keep SQL sessions first and WAL senders after.
fn kind_preserving_orders(sql: usize, walsenders: usize) -> Vec<Vec<usize>> {
    fn perms(items: &[usize]) -> Vec<Vec<usize>> {
        if items.is_empty() {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for (i, &first) in items.iter().enumerate() {
            let rest: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, &x)| x)
                .collect();
            for tail in perms(&rest) {
                out.push([vec![first], tail].concat());
            }
        }
        out
    }
    let sql_orders = perms(&(0..sql).collect::<Vec<_>>());
    let wal_orders = perms(&(sql..sql + walsenders).collect::<Vec<_>>());
    sql_orders
        .iter()
        .flat_map(|a| {
            wal_orders
                .iter()
                .map(move |b| [a.clone(), b.clone()].concat())
        })
        .collect()
}

#[test]
fn representative_is_canonical_idempotent_and_behaviour_preserving() {
    for design in Design::ALL {
        let config = three_sql_sessions_and_two_wal_senders();
        let orders = kind_preserving_orders(3, 2);
        let mut c = Cluster::new(Variant::of(design), config).unwrap();
        let mut pick = 3usize;
        for step in 0..400 {
            let rep = c.representative();
            assert_eq!(
                rep.representative(),
                rep,
                "{design} step {step}: idempotent"
            );
            assert_eq!(
                check_all(&rep)
                    .iter()
                    .map(|v| v.property)
                    .collect::<Vec<_>>(),
                check_all(&c).iter().map(|v| v.property).collect::<Vec<_>>(),
                "{design} step {step}: same verdicts"
            );
            assert_eq!(
                rep.actions().len(),
                c.actions().len(),
                "{design} step {step}: same choices"
            );
            for (n, order) in orders.iter().enumerate().step_by(7) {
                let other = permuted(&c, order, (n as u32 % 5) * 3);
                assert_eq!(
                    other.representative(),
                    rep,
                    "{design} step {step}: order {order:?}"
                );
            }
            let actions = c.actions();
            if actions.is_empty() {
                break;
            }
            pick = pick.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            c.apply(actions[(pick >> 8) % actions.len()]).unwrap();
        }
    }
}

/// The representatives of a state's successors, each with the action that led there, sorted
/// by representative.
fn successor_classes(c: &Cluster) -> Vec<(Cluster, String)> {
    let mut out: Vec<(Cluster, String)> = c
        .actions()
        .into_iter()
        .map(|a| {
            let mut next = c.clone();
            let event = next.apply(a).unwrap();
            (next.representative(), format!("{a} -> {event}"))
        })
        .collect();
    out.sort_by(|x, y| x.0.cmp(&y.0));
    out.dedup_by(|x, y| x.0 == y.0);
    out
}

/// Panics with the successor classes one state has and the other lacks.
fn assert_same_classes(state: &Cluster, other: &Cluster, context: &str) {
    let ours = successor_classes(state);
    let theirs = successor_classes(other);
    let only = |a: &[(Cluster, String)], b: &[(Cluster, String)]| -> Vec<String> {
        a.iter()
            .filter(|x| !b.iter().any(|y| y.0 == x.0))
            .map(|x| x.1.clone())
            .collect()
    };
    let (mine, yours) = (only(&ours, &theirs), only(&theirs, &ours));
    assert!(
        mine.is_empty() && yours.is_empty(),
        "{context}: successor classes differ\nonly from the state: {mine:#?}\nonly from the other: {yours:#?}\nstate: {state:?}\nother: {other:?}"
    );
}

#[test]
fn symmetry_is_an_automorphism_every_member_of_a_class_has_the_same_successor_classes() {
    let configs = [
        Config {
            sql_sessions: 3,
            walsenders: 0,
            backups_per_session: 1,
            crashes: 0,
            faults: 0,
            writers: 1,
            pages: 1,
            page_writes: 1,
            ..Config::default()
        },
        three_sql_sessions_and_two_wal_senders(),
        clients_and_hostile_labels(),
    ];
    for design in Design::ALL {
        for (k, config) in configs.iter().enumerate() {
            let orders = kind_preserving_orders(
                usize::from(config.sql_sessions),
                usize::from(config.walsenders),
            );
            for walk in 0..walks() {
                let mut c = Cluster::new(Variant::of(design), *config).unwrap();
                let mut pick = walk.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for step in 0..200 {
                    let rep = c.representative();
                    let context = format!("{design} config {k} walk {walk} step {step}");
                    assert_same_classes(&c, &rep, &format!("{context}: representative"));
                    for (n, order) in orders.iter().enumerate().step_by(5) {
                        let other = permuted(&c, order, (n as u64 % 4) as u32 * 2);
                        assert_same_classes(&c, &other, &format!("{context}: order {order:?}"));
                    }
                    if !step_at_random(&mut c, &mut pick) {
                        break;
                    }
                }
            }
        }
    }
}

/// Three SQL sessions and two WAL senders with two backups each, a crash, two faults and a
/// timed checkpoint.
fn three_sql_sessions_and_two_wal_senders() -> Config {
    Config {
        sql_sessions: 3,
        walsenders: 2,
        backups_per_session: 2,
        crashes: 1,
        faults: 2,
        timed_checkpoints: 1,
        ..Config::default()
    }
}

/// Two SQL sessions and two WAL senders with two backups each, a crash, a fault, five commands
/// per session, a WAL switch and hostile labels.
fn clients_and_hostile_labels() -> Config {
    Config {
        sql_sessions: 2,
        walsenders: 2,
        backups_per_session: 2,
        crashes: 1,
        faults: 1,
        hostile_labels: true,
        commands_per_session: 5,
        wal_switches: 1,
        ..Config::default()
    }
}

/// One step of a random walk: an enabled action drawn with the xorshift generator `pick`.
/// False where nothing is enabled.
fn step_at_random(c: &mut Cluster, pick: &mut u64) -> bool {
    let actions = c.actions();
    if actions.is_empty() {
        return false;
    }
    *pick ^= *pick << 13;
    *pick ^= *pick >> 7;
    *pick ^= *pick << 17;
    c.apply(actions[(*pick % actions.len() as u64) as usize])
        .unwrap();
    true
}

/// Random walks per design and configuration (`SYMMETRY_WALKS` raises it for a longer hunt).
fn walks() -> u64 {
    std::env::var("SYMMETRY_WALKS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(40)
}

fn fingerprint(c: &Cluster) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    c.hash(&mut h);
    h.finish()
}

/// Fingerprints of the representatives of a state's successors, sorted.
fn successor_fingerprints(c: &Cluster) -> Vec<u64> {
    let mut out: Vec<u64> = c
        .actions()
        .into_iter()
        .map(|a| {
            let mut next = c.clone();
            next.apply(a).unwrap();
            fingerprint(&next.representative())
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Every reachable state (breadth first, one per symmetry class) has the same successor
/// classes as its representative. Exhaustive, so slow: `SYMMETRY_EXHAUSTIVE=design` runs it.
#[test]
#[ignore = "exhaustive; run with SYMMETRY_EXHAUSTIVE=<design> cargo test -p backup-coordinator --release --test symmetry -- --ignored"]
fn symmetry_is_an_automorphism_in_every_reachable_state() {
    let design: Design = match std::env::var("SYMMETRY_EXHAUSTIVE") {
        Ok(name) => name.parse::<Variant>().unwrap().design,
        Err(_) => Design::Pg91,
    };
    let config = Config {
        sql_sessions: 2,
        walsenders: 1,
        backups_per_session: 1,
        crashes: 0,
        faults: 0,
        writers: 1,
        pages: 1,
        page_writes: 0,
        ..Config::default()
    };
    let orders = kind_preserving_orders(2, 1);
    let mut pick = 1u64;
    let mut seen = std::collections::HashSet::new();
    let mut queue = std::collections::VecDeque::new();
    let init = Cluster::new(Variant::of(design), config).unwrap();
    seen.insert(fingerprint(&init.representative()));
    queue.push_back(init);
    let mut checked = 0u64;
    // SYMMETRY_ORDER=dfs explores depth first instead, meeting other members of each class.
    let depth_first = std::env::var("SYMMETRY_ORDER").is_ok_and(|o| o == "dfs");
    while let Some(c) = if depth_first {
        queue.pop_back()
    } else {
        queue.pop_front()
    } {
        let rep = c.representative();
        let ours = successor_fingerprints(&c);
        if successor_fingerprints(&rep) != ours {
            panic!("{design}: state {checked} differs from its representative\nstate: {c:?}");
        }
        for (n, order) in orders.iter().enumerate() {
            let other = permuted(&c, order, n as u32 + 1);
            if other.representative() != rep {
                panic!("{design}: state {checked}: order {order:?} has another representative\nstate: {c:?}\nother: {other:?}");
            }
            if successor_fingerprints(&other) != ours {
                panic!("{design}: state {checked}: order {order:?} has other successors\nstate: {c:?}\nother: {other:?}");
            }
            // Any renaming of the backups: the numbers a state mentions, shuffled.
            let ids = backup_ids(&c);
            let mut shuffled = ids.clone();
            pick = pick
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mut r = pick;
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, (r % (i as u64 + 1)) as usize);
                r = r.rotate_left(7) ^ (r >> 3);
            }
            let rename = |id: BackupId| {
                ids.iter()
                    .position(|&x| x == id)
                    .map_or(id, |i| shuffled[i])
            };
            let other = permuted_by(&renumbered_checkpoints(&c, n as u32 + 2), order, &rename);
            if other.representative() != rep {
                panic!("{design}: state {checked}: renaming {ids:?} -> {shuffled:?} has another representative\nstate: {c:?}\nother: {other:?}");
            }
            if successor_fingerprints(&other) != ours {
                let mine: Vec<String> = c.actions().iter().map(|a| a.to_string()).collect();
                panic!("{design}: state {checked}: order {order:?}, renaming {ids:?} -> {shuffled:?} has other successors\nactions: {mine:?}\nstate: {c:?}\nother: {other:?}");
            }
        }
        checked += 1;
        for a in c.actions() {
            let mut next = c.clone();
            next.apply(a).unwrap();
            if seen.insert(fingerprint(&next.representative())) {
                queue.push_back(next);
            }
        }
    }
    eprintln!("{design}: {checked} classes checked");
}

/// Two backups that end in one step and break the same property: which one is latched must
/// not depend on their numbers or their sessions', or renaming would not commute with the
/// step. Two 9.1 base backups, each copying, are marked as if an end record carrying its start
/// point had been written (the ghost bit a third backup's stop would set), and one crash ends
/// both: each breaks I9 (an incomplete copy declared consistent). The state with the two
/// sessions swapped and the two backups renamed the other way round must latch the image of
/// the same backup.
#[test]
fn backups_ending_in_one_step_are_latched_whatever_their_numbers() {
    use backup_coordinator::action::{Action, Command};
    use backup_coordinator::invariants::Property;
    use backup_coordinator::label::LabelKind;
    use backup_coordinator::state::Pc;

    let config = Config {
        sql_sessions: 0,
        walsenders: 2,
        writers: 0,
        page_writes: 0,
        crashes: 1,
        ..Config::default()
    };
    let mut c = Cluster::new(Variant::of(Design::Pg91), config).unwrap();
    // Each base backup runs to its copy (each with its own checkpoint, so their start points
    // differ), the second session's first.
    for session in [SessionId(1), SessionId(0)] {
        c.apply(Action::Begin {
            session,
            command: Command::BaseBackup {
                label: LabelKind::Plain,
            },
        })
        .unwrap();
        for _ in 0..100 {
            if c.sessions[usize::from(session.0)].pc == Pc::CopyFiles {
                break;
            }
            let next = [
                Action::Step { session },
                Action::CheckpointBegin,
                Action::CheckpointEnd,
            ]
            .into_iter()
            .find(|a| c.is_enabled(*a))
            .expect("the base backup goes on");
            c.apply(next).unwrap();
        }
    }
    assert_eq!(c.backups.len(), 2);
    assert_ne!(c.backups[0].start, c.backups[1].start);
    for backup in &mut c.backups {
        backup.early_end_record = true;
    }

    let latched = |c: &Cluster| {
        let l = c
            .ghost
            .latched
            .iter()
            .find(|l| l.property == Property::RestoreReachesConsistency)
            .expect("the crash ended a backup declared consistent too early");
        (l.backup, l.session)
    };
    let mut crashed = c.clone();
    crashed.apply(Action::Crash).unwrap();
    assert!(
        crashed.backups.is_empty(),
        "both backups ended in the crash"
    );
    let (backup, session) = latched(&crashed);

    let swap_backups = |id: BackupId| BackupId(1 - id.0);
    let swap_sessions = |id: SessionId| SessionId(1 - id.0);
    let mut other = permuted_by(&c, &[1, 0], &swap_backups);
    other.apply(Action::Crash).unwrap();
    assert_eq!(
        latched(&other),
        (swap_backups(backup), swap_sessions(session)),
        "the latched backup depends on the backups' numbers"
    );
    assert_eq!(other.representative(), crashed.representative());
}

/// A hasher that keeps every write it is given, in order.
#[derive(Default)]
struct Recorder(Vec<Vec<u8>>);

impl std::hash::Hasher for Recorder {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.push(bytes.to_vec());
    }
}

/// What `hash` gives a hasher, write by write.
fn writes(hash: impl FnOnce(&mut Recorder)) -> Vec<Vec<u8>> {
    let mut recorder = Recorder::default();
    hash(&mut recorder);
    recorder.0
}

/// `hash_canonical` gives a hasher exactly the writes hashing the representative gives it (so
/// a search that fingerprints states by it stores what one fingerprinting representatives
/// stores, state for state): on walks of every design and seeded bug (at two sizes, and a bug
/// also at its smallest bounds, where its findings are latched), over members of the walks'
/// classes (permuted sessions, renamed backups). Every place a state names a session or a
/// backup is met named.
#[test]
fn the_canonical_hash_writes_exactly_what_hashing_the_representative_writes() {
    use backup_coordinator::bugs::smallest_bounds;
    use backup_coordinator::variant::Bug;
    let sizes = [
        Config {
            writers: 1,
            pages: 1,
            page_writes: 1,
            ..three_sql_sessions_and_two_wal_senders()
        },
        clients_and_hostile_labels(),
    ];
    let runs = Design::ALL
        .into_iter()
        .flat_map(|design| sizes.map(|config| (Variant::of(design), config)))
        .chain(Bug::ALL.into_iter().flat_map(|bug| {
            sizes
                .into_iter()
                .chain(smallest_bounds(bug).map(|(config, _)| config))
                .map(move |config| (Variant::bug(bug), config))
        }));
    // States met, and of them those where each kind of name is present and renamed.
    const NAMED: [&str; 9] = [
        "sessions reordered",
        "two backups",
        "backup_label",
        "a temporary label",
        "a history file's backup",
        "a latched finding",
        "a refused restart",
        "a spurious release",
        "a failed assertion",
    ];
    let mut states = 0u64;
    let mut named = [0u64; NAMED.len()];
    for (variant, config) in runs {
        // Replication sessions (a bug's smallest bounds may have one) keep their places.
        let permuted_kinds = usize::from(config.sql_sessions) + usize::from(config.walsenders);
        let orders: Vec<Vec<usize>> = kind_preserving_orders(
            usize::from(config.sql_sessions),
            usize::from(config.walsenders),
        )
        .into_iter()
        .map(|order| {
            order
                .into_iter()
                .chain(permuted_kinds..config.sessions())
                .collect()
        })
        .collect();
        for walk in 0..8u64 {
            let mut c = Cluster::new(variant, config).unwrap();
            let mut pick = walk.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            for step in 0..150 {
                for (n, order) in orders.iter().enumerate().step_by(11) {
                    let mut member = permuted(&c, order, (n as u32 % 5) * 3);
                    // The rarest names (a restart refused for a label, a spurious release, a
                    // failed assertion) are put in every other state: the hashes need not come
                    // from reachable states to be compared.
                    if n % 2 == 1 {
                        let last = SessionId(member.sessions.len() as u8 - 1);
                        let ghost = &mut member.ghost;
                        ghost.restart_refused = member.backups.first().map(|b| b.id);
                        ghost.spurious_release = ghost.spurious_release.or(Some(last));
                        ghost.failed_assertion = ghost
                            .failed_assertion
                            .or(Some((Assertion::CounterPositive, SessionId(0))));
                    }
                    let rep = member.representative();
                    assert_eq!(
                        writes(|h| member.hash_canonical(h)),
                        writes(|h| std::hash::Hash::hash(&rep, h)),
                        "{variant} walk {walk} step {step} order {order:?}\nstate: {member:?}"
                    );
                    states += 1;
                    let dir = &member.data_dir;
                    let ghost = &member.ghost;
                    let present = [
                        rep.sessions != member.sessions,
                        member.backups.len() > 1,
                        dir.backup_label.is_some() || dir.unlinked_label.is_some(),
                        !dir.temp_labels.is_empty(),
                        dir.history.iter().any(|h| h.backup.is_some()),
                        !ghost.latched.is_empty(),
                        ghost.restart_refused.is_some(),
                        ghost.spurious_release.is_some(),
                        ghost.failed_assertion.is_some(),
                    ];
                    for (count, here) in named.iter_mut().zip(present) {
                        *count += u64::from(here);
                    }
                }
                if !step_at_random(&mut c, &mut pick) {
                    break;
                }
            }
        }
    }
    for (what, count) in NAMED.iter().zip(named) {
        eprintln!("{what}: {count} of {states}");
        assert!(count > 0, "no state with {what} among {states}");
    }
}
