//! The backup_label text (PROTOCOL.md §4.1) and the backup history file text (§4.2): typed
//! values, renderers that write exactly what PostgreSQL writes, and strict parsers whose
//! errors name the line and what was expected. Also the rules for the user's label string
//! (§4.4) and the small set of label texts the model chooses from ([`LabelKind`]).
//!
//! Rendering then parsing gives back the same value, and parsing a file PostgreSQL wrote then
//! rendering gives back the same bytes (tested on `../shared/fixtures/pg15/`).

use crate::lsn::{Lsn, TimeLineId, WalSegmentSize};
use crate::walfile::WalFileName;
use serde::{Deserialize, Serialize};
use std::fmt::{self, Write as _};
use std::sync::OnceLock;
use thiserror::Error;
use time::macros::{datetime, format_description};
use time::PrimitiveDateTime;

/// Longest accepted label, in bytes (`MAXPGPATH`): `strlen(label) > MAXPGPATH` is an error,
/// so exactly 1024 bytes is accepted.
pub const MAX_LABEL_BYTES: usize = 1024;

/// The `BACKUP METHOD` line's value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BackupMethod {
    /// `pg_start_backup`: an exclusive backup whose label sits in the data directory.
    PgStartBackup,
    /// `streamed`: a backup whose label went to the client (BASE_BACKUP, or a non-exclusive
    /// SQL backup from 9.6 on).
    Streamed,
    /// Any other single word (pg_rewind writes its own).
    Other(String),
}

impl BackupMethod {
    fn as_str(&self) -> &str {
        match self {
            BackupMethod::PgStartBackup => "pg_start_backup",
            BackupMethod::Streamed => "streamed",
            BackupMethod::Other(word) => word,
        }
    }
}

/// The `BACKUP FROM` line's value (9.2+).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackupFrom {
    /// `master` (9.2 to 13).
    Master,
    /// `primary` (14+).
    Primary,
    /// `standby`.
    Standby,
}

impl BackupFrom {
    fn as_str(self) -> &'static str {
        match self {
            BackupFrom::Master => "master",
            BackupFrom::Primary => "primary",
            BackupFrom::Standby => "standby",
        }
    }
}

/// A `START TIME` / `STOP TIME` value: `%Y-%m-%d %H:%M:%S %Z` in the server's log_timezone.
/// The zone abbreviation is kept as written so that rendering gives back the same bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LabelTime {
    /// The wall-clock reading in that zone.
    pub when: PrimitiveDateTime,
    /// The zone abbreviation (`UTC`, `CET`, `+03`, ...): one word.
    pub zone: String,
}

impl LabelTime {
    /// A time from a logical clock: `seconds` after 2000-01-01 00:00:00 UTC (PostgreSQL's
    /// epoch). The core never reads the wall clock; callers pass the logical time in.
    pub fn logical(seconds: u32) -> Self {
        LabelTime {
            when: datetime!(2000-01-01 00:00:00) + time::Duration::seconds(i64::from(seconds)),
            zone: "UTC".to_string(),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let (stamp, zone) = (text.get(..19)?, text.get(19..)?.strip_prefix(' ')?);
        if zone.is_empty() || zone.chars().any(char::is_whitespace) {
            return None;
        }
        let when = match Self::parse_digits(stamp) {
            Some(when) => when,
            None => {
                let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
                PrimitiveDateTime::parse(stamp, format).ok()?
            }
        };
        Some(LabelTime {
            when,
            zone: zone.to_string(),
        })
    }

    /// The stamp `YYYY-MM-DD HH:MM:SS` read digit by digit: the same value `time`'s parser
    /// gives for it (a test holds the two together), without its general machinery, which
    /// was a visible part of every simulator step that reads a label back. `None` for
    /// anything else, which the general parser then judges.
    fn parse_digits(stamp: &str) -> Option<PrimitiveDateTime> {
        let bytes: &[u8; 19] = stamp.as_bytes().try_into().ok()?;
        let separators = [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')];
        if separators.iter().any(|&(at, byte)| bytes[at] != byte) {
            return None;
        }
        let number = |from: usize, to: usize| {
            bytes[from..to].iter().try_fold(0u16, |n, &b| {
                b.is_ascii_digit().then(|| n * 10 + u16::from(b - b'0'))
            })
        };
        let year = i32::from(number(0, 4)?);
        let month = time::Month::try_from(u8::try_from(number(5, 7)?).ok()?).ok()?;
        let day = u8::try_from(number(8, 10)?).ok()?;
        let date = time::Date::from_calendar_date(year, month, day).ok()?;
        let clock = time::Time::from_hms(
            u8::try_from(number(11, 13)?).ok()?,
            u8::try_from(number(14, 16)?).ok()?,
            u8::try_from(number(17, 19)?).ok()?,
        )
        .ok()?;
        Some(PrimitiveDateTime::new(date, clock))
    }

    /// `%Y-%m-%d %H:%M:%S ` (the zone's separating space included), digit by digit, for the
    /// years 0 to 9999 (every one a label can carry that a server writes); `None` for others.
    fn stamp(&self) -> Option<crate::lsn::Ascii<20>> {
        let d = self.when;
        let year @ 0..=9999 = u16::try_from(d.year()).ok()? else {
            return None;
        };
        let mut text = *b"0000-00-00 00:00:00 ";
        let mut put = |at: usize, value: u16, digits: u32| {
            for i in 0..digits {
                let digit = (value / 10u16.pow(digits - 1 - i)) % 10;
                text[at + i as usize] = b'0' + digit as u8;
            }
        };
        put(0, year, 4);
        put(5, u16::from(u8::from(d.month())), 2);
        put(8, u16::from(d.day()), 2);
        put(11, u16::from(d.hour()), 2);
        put(14, u16::from(d.minute()), 2);
        put(17, u16::from(d.second()), 2);
        Some(crate::lsn::Ascii::from_parts(text, text.len()))
    }

    /// Appends the time as [`fmt::Display`] prints it.
    fn push_to(&self, out: &mut String) {
        match self.stamp() {
            Some(stamp) => {
                out.push_str(stamp.as_str());
                out.push_str(&self.zone);
            }
            None => {
                let _ = write!(out, "{self}");
            }
        }
    }
}

impl fmt::Display for LabelTime {
    /// `%Y-%m-%d %H:%M:%S %Z`. Years 0 to 9999 are printed digit by digit
    /// ([`LabelTime::stamp`]), others through `write!`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(stamp) = self.stamp() {
            f.write_str(stamp.as_str())?;
            return f.write_str(&self.zone);
        }
        let d = self.when;
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            self.zone
        )
    }
}

/// The two `INCREMENTAL FROM` lines of a 17+ incremental backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IncrementalFrom {
    /// `INCREMENTAL FROM LSN`.
    pub lsn: Lsn,
    /// `INCREMENTAL FROM TLI`.
    pub timeline: TimeLineId,
}

/// Which optional lines a PostgreSQL version writes into a backup_label (§4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LabelFormat {
    /// `BACKUP METHOD` (9.1+).
    pub backup_method: bool,
    /// `BACKUP FROM` and the word used for a primary (9.2+: master; 14+: primary).
    pub backup_from: Option<PrimaryWord>,
    /// `START TIMELINE` in labels and `STOP TIMELINE` in history files (11+).
    pub timelines: bool,
}

/// How `BACKUP FROM` names a primary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrimaryWord {
    /// 9.2 to 13.
    Master,
    /// 14+.
    Primary,
}

impl LabelFormat {
    /// 9.0: START WAL LOCATION, CHECKPOINT LOCATION, START TIME, LABEL.
    pub const PG90: LabelFormat = LabelFormat {
        backup_method: false,
        backup_from: None,
        timelines: false,
    };
    /// 9.1: adds BACKUP METHOD.
    pub const PG91: LabelFormat = LabelFormat {
        backup_method: true,
        backup_from: None,
        timelines: false,
    };
    /// 9.2 to 10: adds `BACKUP FROM: master`.
    pub const PG92: LabelFormat = LabelFormat {
        backup_method: true,
        backup_from: Some(PrimaryWord::Master),
        timelines: false,
    };
    /// 11 to 13: adds START TIMELINE / STOP TIMELINE.
    pub const PG11: LabelFormat = LabelFormat {
        backup_method: true,
        backup_from: Some(PrimaryWord::Master),
        timelines: true,
    };
    /// 14+: `BACKUP FROM: primary`.
    pub const PG14: LabelFormat = LabelFormat {
        backup_method: true,
        backup_from: Some(PrimaryWord::Primary),
        timelines: true,
    };
}

/// The content of a backup_label file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BackupLabel {
    /// `START WAL LOCATION`: the start point (the redo point of the start checkpoint).
    pub start: Lsn,
    /// The `(file ...)` of that line; recovery takes the start timeline from it.
    pub start_file: WalFileName,
    /// `CHECKPOINT LOCATION`: where the start checkpoint's record is (not its redo).
    pub checkpoint: Lsn,
    /// `BACKUP METHOD` (9.1+).
    pub method: Option<BackupMethod>,
    /// `BACKUP FROM` (9.2+).
    pub from: Option<BackupFrom>,
    /// `START TIME`.
    pub start_time: LabelTime,
    /// `LABEL`: the user's label, verbatim.
    pub label: String,
    /// `START TIMELINE` (11+).
    pub start_timeline: Option<TimeLineId>,
    /// `INCREMENTAL FROM LSN` / `TLI` (17+, incremental backups only).
    pub incremental_from: Option<IncrementalFrom>,
}

/// The content of a backup history file: the label's lines plus where and when it stopped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BackupHistory {
    /// The backup's label.
    pub label: BackupLabel,
    /// `STOP WAL LOCATION`: the end of the backup-end record.
    pub stop: Lsn,
    /// The `(file ...)` of that line: up to 15 the segment holding the record's last byte.
    pub stop_file: WalFileName,
    /// `STOP TIME`.
    pub stop_time: LabelTime,
    /// `STOP TIMELINE` (11+).
    pub stop_timeline: Option<TimeLineId>,
}

/// Why a text is not a valid backup_label or history file. Line numbers count from 1.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FormatError {
    /// The file does not end with a newline.
    #[error("line {line}: missing newline at the end of the file")]
    MissingFinalNewline {
        /// The last line.
        line: usize,
    },
    /// A carriage return or NUL, which line-oriented readers disagree about.
    #[error("line {line}: unexpected control character {found:?}")]
    ControlCharacter {
        /// Where.
        line: usize,
        /// The character.
        found: char,
    },
    /// The file ended where a line was required.
    #[error("line {line}: expected `{expected}`, found the end of the file")]
    UnexpectedEnd {
        /// The line that is missing.
        line: usize,
        /// The key that was expected.
        expected: &'static str,
    },
    /// A line that is not the one required here (wrong key, or out of order).
    #[error("line {line}: expected `{expected}`, found {found:?}")]
    UnexpectedLine {
        /// Where.
        line: usize,
        /// The key that was expected.
        expected: &'static str,
        /// The line found.
        found: String,
    },
    /// The right key with a value that does not parse.
    #[error("line {line}: {field}: {value:?} is not {expected}")]
    InvalidValue {
        /// Where.
        line: usize,
        /// The key.
        field: &'static str,
        /// The value found.
        value: String,
        /// What the value should look like.
        expected: &'static str,
    },
    /// A `(file ...)` that does not hold the location next to it.
    #[error("line {line}: {field}: file {file} does not hold location {lsn}")]
    FileMismatch {
        /// Where.
        line: usize,
        /// The key.
        field: &'static str,
        /// The file name given.
        file: WalFileName,
        /// The location given.
        lsn: Lsn,
    },
    /// `START TIMELINE` disagrees with the start file's timeline (recovery refuses this).
    #[error("line {line}: START TIMELINE {stated} disagrees with timeline {from_file} of the start WAL file")]
    TimelineMismatch {
        /// Where.
        line: usize,
        /// The value of START TIMELINE.
        stated: TimeLineId,
        /// The timeline in the start file name.
        from_file: TimeLineId,
    },
}

const START_WAL: &str = "START WAL LOCATION: ";
const STOP_WAL: &str = "STOP WAL LOCATION: ";
const CHECKPOINT: &str = "CHECKPOINT LOCATION: ";
const METHOD: &str = "BACKUP METHOD: ";
const FROM: &str = "BACKUP FROM: ";
const START_TIME: &str = "START TIME: ";
const LABEL: &str = "LABEL: ";
const START_TIMELINE: &str = "START TIMELINE: ";
const INCR_LSN: &str = "INCREMENTAL FROM LSN: ";
const INCR_TLI: &str = "INCREMENTAL FROM TLI: ";
const STOP_TIME: &str = "STOP TIME: ";
const STOP_TIMELINE: &str = "STOP TIMELINE: ";

/// Room for a rendered label's lines besides the user's label (about 200 bytes in the
/// longest format), so that rendering allocates once.
const RENDERED_CAPACITY: usize = 256;

impl BackupLabel {
    /// Renders the label exactly as PostgreSQL writes it.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(RENDERED_CAPACITY + self.label.len());
        self.write_start_line(&mut out);
        self.write_body(&mut out);
        out
    }

    /// Parses a backup_label. `seg` is the cluster's WAL segment size (needed to check that
    /// the start file holds the start point).
    pub fn parse(text: &str, seg: WalSegmentSize) -> Result<Self, FormatError> {
        let mut lines = Lines::new(text)?;
        let (start, start_file) = lines.location_line(START_WAL, seg, FileRule::Holds)?;
        let label = parse_body(&mut lines, start, start_file)?;
        lines.finish()?;
        Ok(label)
    }

    fn write_start_line(&self, out: &mut String) {
        push_location_line(out, START_WAL, self.start, self.start_file);
    }

    /// Everything after the START WAL LOCATION line. The user's label goes through C's `%s`,
    /// so it ends at its first NUL byte, as PostgreSQL's would.
    fn write_body(&self, out: &mut String) {
        push_line(out, CHECKPOINT, self.checkpoint.text().as_str());
        if let Some(method) = &self.method {
            push_line(out, METHOD, method.as_str());
        }
        if let Some(from) = self.from {
            push_line(out, FROM, from.as_str());
        }
        push_time_line(out, START_TIME, &self.start_time);
        let c_string = self.label.split('\0').next().unwrap_or_default();
        push_line(out, LABEL, c_string);
        if let Some(timeline) = self.start_timeline {
            push_line(out, START_TIMELINE, timeline.text().as_str());
        }
        if let Some(incremental) = self.incremental_from {
            push_line(out, INCR_LSN, incremental.lsn.text().as_str());
            push_line(out, INCR_TLI, incremental.timeline.text().as_str());
        }
    }
}

/// Appends the line `key` `value`. The renderers append their lines piece by piece rather
/// than through `writeln!`, whose machinery was most of rendering a label, which a run does
/// for every backup it starts and stops.
fn push_line(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str(value);
    out.push('\n');
}

/// Appends the line `key` `%X/%X (file %08X%08X%08X)`.
fn push_location_line(out: &mut String, key: &str, lsn: Lsn, file: WalFileName) {
    out.push_str(key);
    out.push_str(lsn.text().as_str());
    out.push_str(" (file ");
    out.push_str(file.text().as_str());
    out.push_str(")\n");
}

/// Appends the line `key` `%Y-%m-%d %H:%M:%S %Z`.
fn push_time_line(out: &mut String, key: &str, time: &LabelTime) {
    out.push_str(key);
    time.push_to(out);
    out.push('\n');
}

impl BackupHistory {
    /// Renders the history file exactly as PostgreSQL writes it.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2 * RENDERED_CAPACITY + self.label.label.len());
        self.label.write_start_line(&mut out);
        push_location_line(&mut out, STOP_WAL, self.stop, self.stop_file);
        self.label.write_body(&mut out);
        push_time_line(&mut out, STOP_TIME, &self.stop_time);
        if let Some(timeline) = self.stop_timeline {
            push_line(&mut out, STOP_TIMELINE, timeline.text().as_str());
        }
        out
    }

    /// Parses a backup history file.
    pub fn parse(text: &str, seg: WalSegmentSize) -> Result<Self, FormatError> {
        let mut lines = Lines::new(text)?;
        let (start, start_file) = lines.location_line(START_WAL, seg, FileRule::Holds)?;
        let (stop, stop_file) = lines.location_line(STOP_WAL, seg, FileRule::HoldsOrEnds)?;
        let label = parse_body(&mut lines, start, start_file)?;
        let stop_time = lines.required(
            STOP_TIME,
            LabelTime::parse,
            "a time like 2026-11-24 23:28:51 UTC",
        )?;
        let stop_timeline = lines.optional(STOP_TIMELINE, parse_timeline, "a timeline number")?;
        lines.finish()?;
        Ok(BackupHistory {
            label,
            stop,
            stop_file,
            stop_time,
            stop_timeline,
        })
    }
}

fn parse_timeline(value: &str) -> Option<TimeLineId> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    if digits {
        value.parse().ok().map(TimeLineId)
    } else {
        None
    }
}

fn parse_word(value: &str) -> Option<BackupMethod> {
    match value {
        "pg_start_backup" => Some(BackupMethod::PgStartBackup),
        "streamed" => Some(BackupMethod::Streamed),
        other if !other.is_empty() && !other.contains(char::is_whitespace) => {
            Some(BackupMethod::Other(other.to_string()))
        }
        _ => None,
    }
}

fn parse_from(value: &str) -> Option<BackupFrom> {
    match value {
        "master" => Some(BackupFrom::Master),
        "primary" => Some(BackupFrom::Primary),
        "standby" => Some(BackupFrom::Standby),
        _ => None,
    }
}

/// The lines from CHECKPOINT LOCATION to the INCREMENTAL lines, shared by both files.
fn parse_body(
    lines: &mut Lines<'_>,
    start: Lsn,
    start_file: WalFileName,
) -> Result<BackupLabel, FormatError> {
    let checkpoint = lines.required(
        CHECKPOINT,
        |v| Lsn::parse_canonical(v).ok(),
        "an LSN like 0/2000060",
    )?;
    let method = lines.optional(
        METHOD,
        parse_word,
        "one word such as streamed or pg_start_backup",
    )?;
    let from = lines.optional(FROM, parse_from, "master, primary or standby")?;
    let start_time = lines.required(
        START_TIME,
        LabelTime::parse,
        "a time like 2026-11-24 23:28:51 UTC",
    )?;
    let label = lines.required(LABEL, |v| Some(v.to_string()), "any text")?;
    let timeline_line = lines.number + 1;
    let start_timeline = lines.optional(START_TIMELINE, parse_timeline, "a timeline number")?;
    if let Some(stated) = start_timeline {
        if stated != start_file.timeline {
            return Err(FormatError::TimelineMismatch {
                line: timeline_line,
                stated,
                from_file: start_file.timeline,
            });
        }
    }
    let incremental_from = match lines.optional(
        INCR_LSN,
        |v| Lsn::parse_canonical(v).ok(),
        "an LSN like 0/2000060",
    )? {
        Some(lsn) => {
            let timeline = lines.required(INCR_TLI, parse_timeline, "a timeline number")?;
            Some(IncrementalFrom { lsn, timeline })
        }
        None => None,
    };
    Ok(BackupLabel {
        start,
        start_file,
        checkpoint,
        method,
        from,
        start_time,
        label,
        start_timeline,
        incremental_from,
    })
}

/// How a `(file ...)` must relate to the location beside it.
#[derive(Clone, Copy)]
enum FileRule {
    /// The file holds the location (`XLByteToSeg`).
    Holds,
    /// The file holds the location or the byte before it (`XLByteToPrevSeg`, used for the
    /// stop file up to 15; 16+ uses `XLByteToSeg`).
    HoldsOrEnds,
}

/// A cursor over the lines of a label or history file.
struct Lines<'a> {
    /// The text after the peeked line and its newline; `None` once the last line is peeked.
    rest: Option<&'a str>,
    peeked: Option<&'a str>,
    /// Number of the last line consumed (1-based), 0 before the first.
    number: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Result<Self, FormatError> {
        // Both characters are ASCII, so a byte equal to one of them is that character.
        let bytes = text.as_bytes();
        if let Some(at) = memchr::memchr2(b'\r', b'\0', bytes) {
            let line = memchr::memchr_iter(b'\n', &bytes[..at]).count() + 1;
            return Err(FormatError::ControlCharacter {
                line,
                found: char::from(bytes[at]),
            });
        }
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| FormatError::MissingFinalNewline {
                line: text.split('\n').count(),
            })?;
        let mut lines = Lines {
            rest: (!body.is_empty()).then_some(body),
            peeked: None,
            number: 0,
        };
        lines.peeked = lines.next_line();
        Ok(lines)
    }

    /// The next line of the rest, without its newline.
    fn next_line(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(at) => {
                self.rest = Some(&rest[at + 1..]);
                Some(&rest[..at])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }

    fn take_if(&mut self, key: &str) -> Option<&'a str> {
        let value = self.peeked?.strip_prefix(key)?;
        self.number += 1;
        self.peeked = self.next_line();
        Some(value)
    }

    fn missing(&self, expected: &'static str) -> FormatError {
        let line = self.number + 1;
        match self.peeked {
            Some(found) => FormatError::UnexpectedLine {
                line,
                expected,
                found: found.to_string(),
            },
            None => FormatError::UnexpectedEnd { line, expected },
        }
    }

    fn value<T>(
        &self,
        field: &'static str,
        raw: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &'static str,
    ) -> Result<T, FormatError> {
        parse(raw).ok_or_else(|| FormatError::InvalidValue {
            line: self.number,
            field: field.trim_end_matches(": "),
            value: raw.to_string(),
            expected,
        })
    }

    fn required<T>(
        &mut self,
        key: &'static str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &'static str,
    ) -> Result<T, FormatError> {
        let raw = self
            .take_if(key)
            .ok_or_else(|| self.missing(key.trim_end_matches(' ')))?;
        self.value(key, raw, parse, expected)
    }

    fn optional<T>(
        &mut self,
        key: &'static str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &'static str,
    ) -> Result<Option<T>, FormatError> {
        match self.take_if(key) {
            Some(raw) => self.value(key, raw, parse, expected).map(Some),
            None => Ok(None),
        }
    }

    fn location_line(
        &mut self,
        key: &'static str,
        seg: WalSegmentSize,
        rule: FileRule,
    ) -> Result<(Lsn, WalFileName), FormatError> {
        let expected = "an LSN and its file, like 0/2000028 (file 000000010000000000000002)";
        let (lsn, file) = self.required(
            key,
            |v| {
                // Split at the first space, which must begin ` (file `: the same split as at
                // the first ` (file `, since an LSN holds no space (a later ` (file ` would
                // leave a space in the LSN, which does not parse either way), without a
                // substring search's set-up.
                let at = memchr::memchr(b' ', v.as_bytes())?;
                let lsn = &v[..at];
                let file = v[at..].strip_prefix(" (file ")?.strip_suffix(')')?;
                Some((
                    Lsn::parse_canonical(lsn).ok()?,
                    WalFileName::parse(file, seg).ok()?,
                ))
            },
            expected,
        )?;
        let segment = file.segment(seg);
        let holds = segment == seg.segment_of(lsn);
        let ends = matches!(rule, FileRule::HoldsOrEnds) && segment == seg.segment_before(lsn);
        if !(holds || ends) {
            let field = key.trim_end_matches(": ");
            return Err(FormatError::FileMismatch {
                line: self.number,
                field,
                file,
                lsn,
            });
        }
        Ok((lsn, file))
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        match self.peeked {
            None => Ok(()),
            Some(found) => Err(FormatError::UnexpectedLine {
                line: self.number + 1,
                expected: "the end of the file",
                found: found.to_string(),
            }),
        }
    }
}

/// How strictly a design checks the user's label before starting a backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelRule {
    /// PostgreSQL 9.1+: only `strlen(label) > MAXPGPATH` is refused.
    LengthOnly,
    /// The recommended rule: also refuse a label that could not survive being written into a
    /// line-oriented file and read back (newline, carriage return, NUL).
    Strict,
}

/// A label refused at start.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelError {
    /// PostgreSQL's message: "backup label too long (max 1024 bytes)".
    #[error("backup label too long (max {MAX_LABEL_BYTES} bytes): {bytes} bytes")]
    TooLong {
        /// The label's length.
        bytes: usize,
    },
    /// The recommended rule's refusal.
    #[error("backup label contains {found:?} at byte {at}: a label must be one line of text without NUL")]
    NotOneLine {
        /// The character.
        found: char,
        /// Its byte offset.
        at: usize,
    },
}

/// Checks a user's label under `rule`.
pub fn validate_label(label: &str, rule: LabelRule) -> Result<(), LabelError> {
    if label.len() > MAX_LABEL_BYTES {
        return Err(LabelError::TooLong { bytes: label.len() });
    }
    if rule == LabelRule::Strict {
        if let Some((at, found)) = label
            .char_indices()
            .find(|(_, c)| matches!(c, '\n' | '\r' | '\0'))
        {
            return Err(LabelError::NotOneLine { found, at });
        }
    }
    Ok(())
}

/// The user labels the model and simulator choose from. The state keeps this small enum; the
/// text is made at the edges by [`LabelKind::text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum LabelKind {
    /// An ordinary label, `backup-<n>`.
    Plain,
    /// Exactly [`MAX_LABEL_BYTES`] bytes: the longest accepted.
    Longest,
    /// One byte too long: refused by every design.
    TooLong,
    /// A label with a newline that injects a line (`backup-<n>\nSTART TIMELINE: 9`).
    Newline,
    /// A label ending in a carriage return, as a CRLF script would pass it.
    CarriageReturn,
    /// A label with a NUL byte, which C's `%s` cuts short.
    Nul,
}

impl LabelKind {
    /// Every kind, in a fixed order.
    pub const ALL: [LabelKind; 6] = [
        LabelKind::Plain,
        LabelKind::Longest,
        LabelKind::TooLong,
        LabelKind::Newline,
        LabelKind::CarriageReturn,
        LabelKind::Nul,
    ];

    /// The label text of backup number `backup`: `backup-<n>`, then what the kind adds (`x`
    /// up to its length, an injected line, a carriage return, a NUL and a tail). Built piece
    /// by piece into one allocation rather than through `format!`, whose machinery was a
    /// visible part of every backup's start and read-back in a simulation.
    pub fn text(self, backup: u32) -> String {
        let padded_to = match self {
            LabelKind::Longest => MAX_LABEL_BYTES,
            LabelKind::TooLong => MAX_LABEL_BYTES + 1,
            _ => 0,
        };
        let mut text = String::with_capacity(padded_to.max(32));
        text.push_str("backup-");
        text.push_str(crate::lsn::decimal(backup).as_str());
        match self {
            LabelKind::Plain => {}
            LabelKind::Longest | LabelKind::TooLong => {
                let pad = padded_to.saturating_sub(text.len());
                text.extend(std::iter::repeat_n('x', pad));
            }
            LabelKind::Newline => text.push_str("\nSTART TIMELINE: 9"),
            LabelKind::CarriageReturn => text.push('\r'),
            LabelKind::Nul => text.push_str("\0tail"),
        }
        text
    }

    /// The stable name used in traces and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LabelKind::Plain => "plain",
            LabelKind::Longest => "longest",
            LabelKind::TooLong => "too-long",
            LabelKind::Newline => "newline",
            LabelKind::CarriageReturn => "carriage-return",
            LabelKind::Nul => "nul",
        }
    }

    /// Whether a label of this kind, written into a backup_label of `format` and parsed back,
    /// comes back equal to what the user gave. Computed once per (format, kind) by really
    /// rendering and parsing a label (the answer does not depend on LSNs or times, which the
    /// round-trip tests cover separately), so the invariant that uses it stays cheap.
    pub fn survives_round_trip(self, format: LabelFormat) -> bool {
        const FORMATS: [LabelFormat; 5] = [
            LabelFormat::PG90,
            LabelFormat::PG91,
            LabelFormat::PG92,
            LabelFormat::PG11,
            LabelFormat::PG14,
        ];
        // Computed once by rendering and parsing; the invariants ask on every step.
        static TABLE: OnceLock<[[bool; LabelKind::ALL.len()]; FORMATS.len()]> = OnceLock::new();
        let table = TABLE.get_or_init(|| {
            FORMATS.map(|format| LabelKind::ALL.map(|kind| round_trips(format, kind)))
        });
        let kind = LabelKind::ALL.iter().position(|&k| k == self);
        match (FORMATS.iter().position(|&f| f == format), kind) {
            (Some(f), Some(k)) => table[f][k],
            _ => round_trips(format, self),
        }
    }
}

fn round_trips(format: LabelFormat, kind: LabelKind) -> bool {
    let seg = WalSegmentSize::DEFAULT;
    let given = kind.text(1);
    let label = BackupLabel::for_backup(
        format,
        LabelFacts {
            start: Lsn(0x0200_0028),
            timeline: TimeLineId(1),
            checkpoint: Lsn(0x0200_0060),
            method: BackupMethod::Streamed,
            from_standby: false,
            start_time: LabelTime::logical(0),
            label: given.clone(),
        },
        seg,
    );
    matches!(BackupLabel::parse(&label.render(), seg), Ok(parsed) if parsed.label == given)
}

/// What the coordinator knows about a backup when it builds its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelFacts {
    /// The start point.
    pub start: Lsn,
    /// The start timeline (of the start checkpoint).
    pub timeline: TimeLineId,
    /// The start checkpoint's record location.
    pub checkpoint: Lsn,
    /// The method written (ignored by formats without the line).
    pub method: BackupMethod,
    /// Taken on a standby.
    pub from_standby: bool,
    /// Logical start time.
    pub start_time: LabelTime,
    /// The user's label.
    pub label: String,
}

impl BackupLabel {
    /// Builds the label a server of `format`'s era writes for these facts.
    pub fn for_backup(format: LabelFormat, facts: LabelFacts, seg: WalSegmentSize) -> Self {
        let from = format
            .backup_from
            .map(|word| match (facts.from_standby, word) {
                (true, _) => BackupFrom::Standby,
                (false, PrimaryWord::Master) => BackupFrom::Master,
                (false, PrimaryWord::Primary) => BackupFrom::Primary,
            });
        BackupLabel {
            start: facts.start,
            start_file: WalFileName::containing(facts.timeline, facts.start, seg),
            checkpoint: facts.checkpoint,
            method: format.backup_method.then_some(facts.method),
            from,
            start_time: facts.start_time,
            label: facts.label,
            start_timeline: format.timelines.then_some(facts.timeline),
            incremental_from: None,
        }
    }
}

impl BackupHistory {
    /// Builds the history file a server of `format`'s era writes at stop (stop file named
    /// by `XLByteToPrevSeg`, as up to 15; see [`BackupHistory::with_stop_file_holding_end`]).
    pub fn for_backup(
        format: LabelFormat,
        label: BackupLabel,
        stop: Lsn,
        stop_timeline: TimeLineId,
        stop_time: LabelTime,
        seg: WalSegmentSize,
    ) -> Self {
        BackupHistory {
            label,
            stop,
            stop_file: WalFileName::ending_at(stop_timeline, stop, seg),
            stop_time,
            stop_timeline: format.timelines.then_some(stop_timeline),
        }
    }
}

impl BackupHistory {
    /// 16+: the stop file is the segment holding the stop point (`XLByteToSeg`); the two
    /// rules differ only when the end record ends exactly on a segment boundary.
    pub fn with_stop_file_holding_end(mut self, seg: WalSegmentSize) -> Self {
        self.stop_file = WalFileName::containing(self.stop_file.timeline, self.stop, seg);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: WalSegmentSize = WalSegmentSize::DEFAULT;

    /// A carriage return or NUL is refused with the line it is on and the character itself,
    /// the first of them when there are several.
    #[test]
    fn a_control_character_is_reported_with_its_line() {
        let text = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nCHECKPOINT LOCATION: 0/2000060\nLABEL: a\rb\0\n";
        assert_eq!(
            BackupLabel::parse(text, SEG).err(),
            Some(FormatError::ControlCharacter {
                line: 3,
                found: '\r'
            })
        );
        let nul = text.replacen('\r', "", 1);
        assert_eq!(
            BackupLabel::parse(&nul, SEG).err(),
            Some(FormatError::ControlCharacter {
                line: 3,
                found: '\0'
            })
        );
    }

    proptest::proptest! {
        /// The digit-by-digit reading of a time stamp gives what `time`'s parser gives, and
        /// reads every stamp of its shape that the parser accepts (month 13, day 31 of a short
        /// month, second 60 and the like are refused by both).
        #[test]
        fn time_stamp_digits_read_as_the_time_parser_reads_them(
            stamp in "[0-9]{4}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-6][0-9]:[0-6][0-9]"
        ) {
            let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
            let general = PrimitiveDateTime::parse(&stamp, format).ok();
            proptest::prop_assert_eq!(LabelTime::parse_digits(&stamp), general);
        }
    }

    #[test]
    fn time_stamp_digits_refuse_what_is_not_a_calendar_time() {
        for stamp in [
            "2026-13-01 00:00:00",
            "2026-02-29 00:00:00",
            "2026-04-31 00:00:00",
            "2026-01-01 24:00:00",
            "2026-01-01 00:60:00",
            "2026-01-01 00:00:60",
            "2026-01-01T00:00:00",
            "+026-01-01 00:00:00",
        ] {
            assert_eq!(LabelTime::parse_digits(stamp), None, "{stamp}");
        }
        assert_eq!(
            LabelTime::parse_digits("2024-02-29 23:59:59"),
            Some(datetime!(2024-02-29 23:59:59))
        );
    }

    fn sample(format: LabelFormat, label: &str) -> BackupLabel {
        BackupLabel::for_backup(
            format,
            LabelFacts {
                start: Lsn(0x0200_0028),
                timeline: TimeLineId(1),
                checkpoint: Lsn(0x0200_0060),
                method: BackupMethod::Streamed,
                from_standby: false,
                start_time: LabelTime::logical(86_400),
                label: label.to_string(),
            },
            SEG,
        )
    }

    #[test]
    fn nine_one_label_has_method_but_no_from_or_timeline() {
        let text = sample(LabelFormat::PG91, "a").render();
        assert_eq!(
            text,
            "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
             CHECKPOINT LOCATION: 0/2000060\n\
             BACKUP METHOD: streamed\n\
             START TIME: 2000-01-02 00:00:00 UTC\n\
             LABEL: a\n"
        );
    }

    #[test]
    fn label_errors_name_the_line_and_what_was_expected() {
        let good = sample(LabelFormat::PG14, "a").render();
        let swapped = good.replace(
            "BACKUP METHOD: streamed\nBACKUP FROM: primary",
            "BACKUP FROM: primary\nBACKUP METHOD: streamed",
        );
        assert_eq!(
            BackupLabel::parse(&swapped, SEG),
            Err(FormatError::UnexpectedLine {
                line: 4,
                expected: "START TIME:",
                found: "BACKUP METHOD: streamed".to_string()
            })
        );
        let bad_lsn = good.replace(
            "CHECKPOINT LOCATION: 0/2000060",
            "CHECKPOINT LOCATION: zero",
        );
        assert!(matches!(
            BackupLabel::parse(&bad_lsn, SEG),
            Err(FormatError::InvalidValue {
                line: 2,
                field: "CHECKPOINT LOCATION",
                ..
            })
        ));
        let truncated = good.lines().take(1).collect::<Vec<_>>().join("\n") + "\n";
        assert_eq!(
            BackupLabel::parse(&truncated, SEG),
            Err(FormatError::UnexpectedEnd {
                line: 2,
                expected: "CHECKPOINT LOCATION:"
            })
        );
        let wrong_file = good.replace(
            "(file 000000010000000000000002)",
            "(file 000000010000000000000003)",
        );
        assert!(matches!(
            BackupLabel::parse(&wrong_file, SEG),
            Err(FormatError::FileMismatch { line: 1, .. })
        ));
        let wrong_tli = good.replace("START TIMELINE: 1", "START TIMELINE: 2");
        assert!(matches!(
            BackupLabel::parse(&wrong_tli, SEG),
            Err(FormatError::TimelineMismatch { line: 7, .. })
        ));
        assert_eq!(
            BackupLabel::parse(good.trim_end_matches('\n'), SEG),
            Err(FormatError::MissingFinalNewline { line: 7 })
        );
        let extra = format!("{good}EXTRA: 1\n");
        assert!(matches!(
            BackupLabel::parse(&extra, SEG),
            Err(FormatError::UnexpectedLine { line: 8, .. })
        ));
    }

    #[test]
    fn label_text_is_backup_and_its_number_then_what_the_kind_adds() {
        for backup in [0, 7, 9, 10, 99, 100, 4_607, 65_535, 1_000_000_000, u32::MAX] {
            let plain = format!("backup-{backup}");
            let padded = |len: usize| format!("{plain:x<len$}");
            for kind in LabelKind::ALL {
                let expected = match kind {
                    LabelKind::Plain => plain.clone(),
                    LabelKind::Longest => padded(MAX_LABEL_BYTES),
                    LabelKind::TooLong => padded(MAX_LABEL_BYTES + 1),
                    LabelKind::Newline => format!("{plain}\nSTART TIMELINE: 9"),
                    LabelKind::CarriageReturn => format!("{plain}\r"),
                    LabelKind::Nul => format!("{plain}\0tail"),
                };
                assert_eq!(kind.text(backup), expected, "{kind:?}, backup {backup}");
            }
        }
    }

    #[test]
    fn label_length_rule_accepts_exactly_1024_bytes() {
        assert_eq!(
            validate_label(&"x".repeat(1024), LabelRule::LengthOnly),
            Ok(())
        );
        assert_eq!(
            validate_label(&"x".repeat(1025), LabelRule::LengthOnly),
            Err(LabelError::TooLong { bytes: 1025 })
        );
        assert_eq!(LabelKind::Longest.text(7).len(), MAX_LABEL_BYTES);
        assert_eq!(LabelKind::TooLong.text(7).len(), MAX_LABEL_BYTES + 1);
    }

    #[test]
    fn strict_rule_refuses_labels_that_cannot_round_trip() {
        for kind in [
            LabelKind::Newline,
            LabelKind::CarriageReturn,
            LabelKind::Nul,
        ] {
            let text = kind.text(1);
            assert_eq!(validate_label(&text, LabelRule::LengthOnly), Ok(()));
            assert!(matches!(
                validate_label(&text, LabelRule::Strict),
                Err(LabelError::NotOneLine { .. })
            ));
            assert!(
                !kind.survives_round_trip(LabelFormat::PG14),
                "{kind:?} should not round trip"
            );
        }
        for kind in [LabelKind::Plain, LabelKind::Longest] {
            assert!(kind.survives_round_trip(LabelFormat::PG91));
            assert!(kind.survives_round_trip(LabelFormat::PG14));
        }
    }

    #[test]
    fn nul_in_label_is_cut_like_c_strings() {
        let text = sample(LabelFormat::PG14, &LabelKind::Nul.text(1)).render();
        assert!(text.contains("LABEL: backup-1\n"));
    }
}
