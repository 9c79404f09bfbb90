//! Format tests: the files a real PostgreSQL 15 server wrote parse and render back byte for
//! byte, and every format round-trips for generated values (proptest).

use backup_coordinator::label::{
    BackupFrom, BackupHistory, BackupLabel, BackupMethod, IncrementalFrom, LabelTime,
};
use backup_coordinator::lsn::{Lsn, TimeLineId, WalSegmentSize};
use backup_coordinator::walfile::{HistoryFileName, WalFileName};
use proptest::prelude::*;
use std::path::PathBuf;

const SEG: WalSegmentSize = WalSegmentSize::DEFAULT;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pg15")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("fixture {}: {err}", path.display()))
}

#[test]
fn pg15_sql_backup_label_parses_and_renders_byte_for_byte() {
    let text = fixture("backup_label.sql_a.txt");
    let label = BackupLabel::parse(&text, SEG).expect("fixture parses");
    assert_eq!(label.start, Lsn(0x0200_0028));
    assert_eq!(label.start_file.to_string(), "000000010000000000000002");
    assert_eq!(
        label.start_file,
        WalFileName::containing(TimeLineId(1), label.start, SEG)
    );
    assert_eq!(label.checkpoint, Lsn(0x0200_0060));
    assert_eq!(label.method, Some(BackupMethod::Streamed));
    assert_eq!(label.from, Some(BackupFrom::Primary));
    assert_eq!(label.label, "a");
    assert_eq!(label.start_timeline, Some(TimeLineId(1)));
    assert_eq!(label.start_time.to_string(), "2026-11-24 23:28:46 UTC");
    assert_eq!(label.render(), text);
}

#[test]
fn pg15_base_backup_label_parses_and_renders_byte_for_byte() {
    let text = fixture("backup_label.basebackup_1.txt");
    let label = BackupLabel::parse(&text, SEG).expect("fixture parses");
    assert_eq!(label.start, Lsn(0x0E00_0028));
    assert_eq!(label.label, "bb_off_1");
    assert_eq!(label.render(), text);
}

#[test]
fn pg15_history_files_parse_render_and_are_named_from_the_start_point() {
    for name in [
        "000000010000000000000015.00000028.backup",
        "000000010000000000000015.000000D8.backup",
    ] {
        let text = fixture(name);
        let history = BackupHistory::parse(&text, SEG).expect("fixture parses");
        assert_eq!(history.render(), text, "{name} renders back byte for byte");
        let computed = HistoryFileName::new(history.stop_file.timeline, history.label.start, SEG);
        assert_eq!(computed.to_string(), name);
        assert_eq!(HistoryFileName::parse(name, SEG), Ok(computed));
        assert_eq!(
            history.stop_file,
            WalFileName::ending_at(TimeLineId(1), history.stop, SEG),
            "the stop file is the segment holding the end record's last byte"
        );
    }
    let crossing =
        BackupHistory::parse(&fixture("000000010000000000000015.000000D8.backup"), SEG).unwrap();
    assert_eq!(crossing.stop, Lsn(0x1600_0050));
    assert_eq!(crossing.stop_file.to_string(), "000000010000000000000016");
}

#[test]
fn start_point_0_2000028_on_timeline_1_is_file_000000010000000000000002() {
    let name = WalFileName::containing(TimeLineId(1), "0/2000028".parse().unwrap(), SEG);
    assert_eq!(name.to_string(), "000000010000000000000002");
}

#[test]
fn start_point_0_15000028_gives_history_file_000000010000000000000015_00000028() {
    let name = HistoryFileName::new(TimeLineId(1), "0/15000028".parse().unwrap(), SEG);
    assert_eq!(name.to_string(), "000000010000000000000015.00000028.backup");
}

fn lsn() -> impl Strategy<Value = Lsn> {
    any::<u64>().prop_map(Lsn)
}

fn segment_size() -> impl Strategy<Value = WalSegmentSize> {
    (20u32..=30).prop_map(|bits| WalSegmentSize::new(1 << bits).unwrap())
}

fn label_time() -> impl Strategy<Value = LabelTime> {
    (
        any::<u32>(),
        prop::sample::select(vec!["UTC", "CET", "+03", "PST8PDT"]),
    )
        .prop_map(|(secs, zone)| {
            let mut t = LabelTime::logical(secs);
            t.zone = zone.to_string();
            t
        })
}

fn one_line_text() -> impl Strategy<Value = String> {
    "[^\n\r\0]{0,40}"
}

fn backup_label() -> impl Strategy<Value = (WalSegmentSize, BackupLabel)> {
    (
        segment_size(),
        lsn(),
        1u32..=u32::MAX,
        lsn(),
        prop::option::of(prop::sample::select(vec![
            BackupMethod::PgStartBackup,
            BackupMethod::Streamed,
            BackupMethod::Other("pg_rewind".into()),
        ])),
        prop::option::of(prop::sample::select(vec![
            BackupFrom::Master,
            BackupFrom::Primary,
            BackupFrom::Standby,
        ])),
        label_time(),
        one_line_text(),
        any::<bool>(),
        prop::option::of((lsn(), 1u32..100)),
    )
        .prop_map(
            |(seg, start, tli, checkpoint, method, from, start_time, label, with_tli, incr)| {
                let timeline = TimeLineId(tli);
                (
                    seg,
                    BackupLabel {
                        start,
                        start_file: WalFileName::containing(timeline, start, seg),
                        checkpoint,
                        method,
                        from,
                        start_time,
                        label,
                        start_timeline: with_tli.then_some(timeline),
                        incremental_from: incr.map(|(lsn, t)| IncrementalFrom {
                            lsn,
                            timeline: TimeLineId(t),
                        }),
                    },
                )
            },
        )
}

proptest! {
    #[test]
    fn lsn_text_round_trips(lsn in lsn()) {
        prop_assert_eq!(lsn.to_string().parse::<Lsn>(), Ok(lsn));
    }

    /// The canonical form is exactly the text that prints back unchanged.
    #[test]
    fn canonical_lsn_is_the_text_that_prints_back(text in "[0-9a-fA-F]{0,9}/[0-9a-fA-F]{0,9}") {
        let prints_back = text.parse::<Lsn>().ok().filter(|lsn| lsn.to_string() == text);
        prop_assert_eq!(Lsn::parse_canonical(&text).ok(), prints_back);
    }

    /// The hand-written printers print what C's formats (and `write!` with the same
    /// formats) print: `%X/%X` for an LSN, `%08X%08X%08X` for a WAL file name,
    /// `%Y-%m-%d %H:%M:%S %Z` for a label's time (every year `time` holds).
    #[test]
    fn lsn_prints_as_percent_x_slash_percent_x(lsn in lsn()) {
        prop_assert_eq!(lsn.to_string(), format!("{:X}/{:X}", lsn.0 >> 32, lsn.0 & 0xFFFF_FFFF));
    }

    #[test]
    fn wal_file_name_prints_as_three_zero_padded_hex_words(
        tli in any::<u32>(), high in any::<u32>(), low in any::<u32>()
    ) {
        let name = WalFileName { timeline: TimeLineId(tli), high, low };
        prop_assert_eq!(name.to_string(), format!("{tli:08X}{high:08X}{low:08X}"));
    }

    #[test]
    fn label_time_prints_as_strftime(
        year in -9999i32..=9999, day in 1u16..=365, h in 0u8..24, m in 0u8..60, sec in 0u8..60,
        zone in prop::sample::select(vec!["UTC", "CET", "+03"]),
    ) {
        let date = time::Date::from_ordinal_date(year, day).expect("a day every year has");
        let when = time::PrimitiveDateTime::new(date, time::Time::from_hms(h, m, sec).expect("a time"));
        let stamp = LabelTime { when, zone: zone.to_string() };
        let expected = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {zone}",
            when.year(), u8::from(when.month()), when.day(), h, m, sec
        );
        prop_assert_eq!(stamp.to_string(), expected);
    }

    #[test]
    fn wal_file_name_round_trips(seg in segment_size(), tli in any::<u32>(), lsn in lsn()) {
        let name = WalFileName::containing(TimeLineId(tli), lsn, seg);
        prop_assert_eq!(WalFileName::parse(&name.to_string(), seg), Ok(name));
        prop_assert_eq!(name.segment(seg), seg.segment_of(lsn));
    }

    #[test]
    fn history_file_name_round_trips(seg in segment_size(), tli in any::<u32>(), lsn in lsn()) {
        let name = HistoryFileName::new(TimeLineId(tli), lsn, seg);
        prop_assert_eq!(HistoryFileName::parse(&name.to_string(), seg), Ok(name));
        prop_assert_eq!(name.start(seg), lsn);
    }

    #[test]
    fn backup_label_round_trips((seg, label) in backup_label()) {
        let text = label.render();
        prop_assert_eq!(BackupLabel::parse(&text, seg), Ok(label));
    }

    #[test]
    fn backup_history_round_trips((seg, label) in backup_label(), stop_delta in 0u64..1 << 32, stop_time in label_time(), with_tli in any::<bool>()) {
        let stop = Lsn(label.start.0.saturating_add(stop_delta).max(1));
        let tli = label.start_file.timeline;
        let history = BackupHistory {
            stop,
            stop_file: WalFileName::ending_at(tli, stop, seg),
            stop_time,
            stop_timeline: with_tli.then_some(tli),
            label,
        };
        prop_assert_eq!(BackupHistory::parse(&history.render(), seg), Ok(history));
    }

    #[test]
    fn record_positions_round_trip(seg in segment_size(), pos in 0u64..1 << 40) {
        prop_assert_eq!(seg.byte_pos(seg.record_start(pos)), pos);
        prop_assert_eq!(seg.byte_pos(seg.record_end(pos)), pos);
    }

    #[test]
    fn parsed_text_renders_back_identically(text in "(START WAL LOCATION: 0/[0-9A-F]{1,8} \\(file 0{8}0{8}0{8}\\)\n)?(CHECKPOINT LOCATION: 0/1\n)?(BACKUP METHOD: [a-z_]{1,8}\n)?(START TIME: 2000-01-01 00:00:0[0-9] UTC\n)?(LABEL: [ -~]{0,5}\n)?") {
        if let Ok(label) = BackupLabel::parse(&text, SEG) {
            prop_assert_eq!(label.render(), text);
        }
    }
}
