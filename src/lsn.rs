//! WAL locations: the `Lsn` type, its `%X/%X` text form, timelines, segment sizes, and the
//! arithmetic that turns "insert a record of N bytes here" into real 64-bit positions.
//!
//! Positions are PostgreSQL's: a WAL segment starts with a 40-byte long page header, every
//! further 8 KiB page with a 24-byte short header, and records start on 8-byte boundaries.
//! So a backup that starts right after a WAL switch on a 16 MiB segment gets a start point
//! like `0/2000028`, exactly as a real server reports (see `../shared/fixtures/pg15/`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A WAL location (`XLogRecPtr`): a byte position in the WAL stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// `InvalidXLogRecPtr`.
    pub const INVALID: Lsn = Lsn(0);

    /// Parses the canonical `%X/%X` form only (upper-case hex, no leading zeros), as
    /// PostgreSQL writes it into files, so that parsing then printing gives the same text.
    pub fn parse_canonical(text: &str) -> Result<Lsn, LsnParseError> {
        let (lsn, high, low) = Lsn::parse_halves(text)?;
        // Printing gives the text back exactly when neither half has a lower-case digit or a
        // leading zero (a lone `0` is canonical): checked on the bytes, without printing.
        let canonical_half = |half: &str| {
            (half == "0" || !half.starts_with('0')) && !half.bytes().any(|b| b.is_ascii_lowercase())
        };
        if canonical_half(high) && canonical_half(low) {
            Ok(lsn)
        } else {
            Err(LsnParseError::NotCanonical(text.to_string()))
        }
    }

    /// What `pg_lsn` accepts: 1 to 8 hex digits (either case), `/`, 1 to 8 hex digits; with
    /// the two halves' texts.
    fn parse_halves(text: &str) -> Result<(Lsn, &str, &str), LsnParseError> {
        let (high, low) = text
            .split_once('/')
            .ok_or_else(|| LsnParseError::MissingSlash(text.to_string()))?;
        let half = |part: &str| -> Result<u64, LsnParseError> {
            parse_hex(part, 8, false)
                .map(u64::from)
                .ok_or_else(|| LsnParseError::BadHalf(text.to_string()))
        };
        Ok((Lsn((half(high)? << 32) | half(low)?), high, low))
    }

    /// True unless this is `InvalidXLogRecPtr`.
    pub fn is_valid(self) -> bool {
        self.0 != 0
    }
}

impl Lsn {
    /// The `%X/%X` text, built on the stack: what [`fmt::Display`] prints, and what a label's
    /// renderer appends without `write!`'s machinery.
    pub(crate) fn text(self) -> Ascii<17> {
        let mut text = Ascii::new();
        let len = put_upper_hex(&mut text.bytes, 0, (self.0 >> 32) as u32, 1);
        text.bytes[len] = b'/';
        text.len = put_upper_hex(&mut text.bytes, len + 1, self.0 as u32, 1);
        text
    }
}

impl fmt::Display for Lsn {
    /// `%X/%X`: high 32 bits, a slash, low 32 bits, upper-case hex without padding.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

/// A short ASCII text built on the stack by this crate's printers (an LSN, a WAL file name,
/// a timeline, a time stamp), at most `N` bytes.
#[derive(Clone, Copy)]
pub(crate) struct Ascii<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Ascii<N> {
    fn new() -> Self {
        Ascii {
            bytes: [0; N],
            len: 0,
        }
    }

    /// A text whose bytes, up to `len`, the caller wrote (ASCII only).
    pub(crate) fn from_parts(bytes: [u8; N], len: usize) -> Self {
        Ascii { bytes, len }
    }

    pub(crate) fn as_str(&self) -> &str {
        ascii(&self.bytes[..self.len])
    }
}

/// The value of `text` as 1 to `max_digits` hexadecimal digits, upper-case only if `upper`
/// (`None` for anything else: empty, too long, or another byte). One pass over the bytes,
/// for the parsers of LSNs and WAL file names, which every label read back goes through.
#[inline]
pub(crate) fn parse_hex(text: &str, max_digits: usize, upper: bool) -> Option<u32> {
    if text.is_empty() || text.len() > max_digits.min(8) {
        return None;
    }
    text.bytes().try_fold(0u32, |value, byte| {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'A'..=b'F' => byte - b'A' + 10,
            b'a'..=b'f' if !upper => byte - b'a' + 10,
            _ => return None,
        };
        Some(value << 4 | u32::from(digit))
    })
}

/// Writes `value` in upper-case hex, at least `width` digits (zero-padded: C's `%0*X`, up to
/// 8), into `out` from `at`, and returns where the digits end. Labels and history files print
/// their LSNs and WAL file names this way, by hand: `write!`'s padding machinery was most of
/// rendering them, which a run does for every backup it starts and stops.
pub(crate) fn put_upper_hex(out: &mut [u8], at: usize, value: u32, width: usize) -> usize {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let significant = (8 - value.leading_zeros() as usize / 4).max(1);
    let digits = significant.max(width.min(8));
    for (i, slot) in out.iter_mut().skip(at).take(digits).enumerate() {
        let shift = 4 * (digits - 1 - i);
        *slot = DIGITS[((value >> shift) & 0xF) as usize];
    }
    at + digits
}

/// The text of bytes known to be ASCII (digits and punctuation written by this module's
/// printers).
pub(crate) fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// Why a text is not an LSN.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LsnParseError {
    /// No `/` between the two halves.
    #[error("invalid LSN {0:?}: expected two hexadecimal numbers separated by '/'")]
    MissingSlash(String),
    /// A half is empty, longer than 8 digits, or not hexadecimal.
    #[error("invalid LSN {0:?}: each half must be 1 to 8 hexadecimal digits")]
    BadHalf(String),
    /// Lower-case digits or leading zeros where the canonical form is required.
    #[error("invalid LSN {0:?}: expected upper-case hexadecimal without leading zeros")]
    NotCanonical(String),
}

impl FromStr for Lsn {
    type Err = LsnParseError;

    /// Accepts what `pg_lsn` accepts: 1 to 8 hex digits (either case), `/`, 1 to 8 hex digits.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Lsn::parse_halves(text).map(|(lsn, _, _)| lsn)
    }
}

impl Serialize for Lsn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Lsn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A timeline id (`TimeLineID`). Timeline 0 never exists on a real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimeLineId(pub u32);

impl TimeLineId {
    /// The decimal text (`%u`), built on the stack.
    pub(crate) fn text(self) -> Ascii<10> {
        decimal(self.0)
    }
}

/// `value`'s decimal text (`%u`), built on the stack: a timeline's, and the number in a
/// label's `backup-<n>`.
pub(crate) fn decimal(value: u32) -> Ascii<10> {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let len = digits.len() - at;
    digits.copy_within(at.., 0);
    Ascii::from_parts(digits, len)
}

impl fmt::Display for TimeLineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

/// WAL page size (`XLOG_BLCKSZ`).
pub const WAL_PAGE_BYTES: u64 = 8192;
/// A short page header, `MAXALIGN(sizeof(XLogPageHeaderData))`.
pub const SHORT_PAGE_HEADER_BYTES: u64 = 24;
/// The long header on the first page of a segment, `MAXALIGN(sizeof(XLogLongPageHeaderData))`.
pub const LONG_PAGE_HEADER_BYTES: u64 = 40;
/// Records start on `MAXALIGN` (8-byte) boundaries.
pub const RECORD_ALIGN_BYTES: u64 = 8;

/// The WAL segment size, fixed at initdb: a power of two from 1 MiB to 1 GiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct WalSegmentSize(u64);

/// A segment size PostgreSQL would refuse.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("invalid WAL segment size {0} bytes: expected a power of two from 1 MiB to 1 GiB")]
pub struct SegmentSizeError(pub u64);

impl WalSegmentSize {
    /// 16 MiB, the default since PostgreSQL 7.
    pub const DEFAULT: WalSegmentSize = WalSegmentSize(16 * 1024 * 1024);

    /// Checks the size the way initdb does.
    pub fn new(bytes: u64) -> Result<Self, SegmentSizeError> {
        let in_range = (1 << 20..=1 << 30).contains(&bytes);
        if in_range && bytes.is_power_of_two() {
            Ok(WalSegmentSize(bytes))
        } else {
            Err(SegmentSizeError(bytes))
        }
    }

    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// log2 of the size: a power of two (checked by [`WalSegmentSize::new`]), so that the
    /// arithmetic below shifts and masks where a division by a size known only at run time
    /// would cost tens of cycles (this is asked at every step of a simulation).
    #[inline]
    fn log2(self) -> u32 {
        self.0.trailing_zeros()
    }

    /// Segment number holding `lsn` (`XLByteToSeg`).
    pub fn segment_of(self, lsn: Lsn) -> u64 {
        lsn.0 >> self.log2()
    }

    /// Segment number holding the byte just before `lsn` (`XLByteToPrevSeg`): the segment in
    /// which a record ending at `lsn` ends.
    pub fn segment_before(self, lsn: Lsn) -> u64 {
        lsn.0.saturating_sub(1) >> self.log2()
    }

    /// Offset of `lsn` within its segment (`XLogSegmentOffset`).
    pub fn offset_in_segment(self, lsn: Lsn) -> u64 {
        lsn.0 & (self.0 - 1)
    }

    /// Segments per "xlogid" in file names (9.3+: 2^32 / segment size).
    pub fn segments_per_xlog_id(self) -> u64 {
        0x1_0000_0000 >> self.log2()
    }

    /// WAL bytes available to records in one segment, headers excluded.
    pub fn usable_bytes_in_segment(self) -> u64 {
        (self.0 / WAL_PAGE_BYTES) * (WAL_PAGE_BYTES - SHORT_PAGE_HEADER_BYTES)
            - (LONG_PAGE_HEADER_BYTES - SHORT_PAGE_HEADER_BYTES)
    }

    /// Converts a position counted in usable bytes (headers excluded, PostgreSQL's
    /// `CurrBytePos`) into the location where a record starting there begins.
    pub fn record_start(self, byte_pos: u64) -> Lsn {
        self.byte_pos_to_lsn(byte_pos, false)
    }

    /// Like [`Self::record_start`], but for a record that ends at `byte_pos`: a position on a
    /// page boundary is the boundary itself, not the byte after the next page header.
    pub fn record_end(self, byte_pos: u64) -> Lsn {
        self.byte_pos_to_lsn(byte_pos, true)
    }

    fn byte_pos_to_lsn(self, byte_pos: u64, is_end: bool) -> Lsn {
        let usable_page = WAL_PAGE_BYTES - SHORT_PAGE_HEADER_BYTES;
        let usable_segment = self.usable_bytes_in_segment();
        let full_segments = byte_pos / usable_segment;
        let mut left = byte_pos % usable_segment;
        let first_page_usable = WAL_PAGE_BYTES - LONG_PAGE_HEADER_BYTES;
        let offset = if left < first_page_usable {
            if is_end && left == 0 {
                0
            } else {
                left + LONG_PAGE_HEADER_BYTES
            }
        } else {
            left -= first_page_usable;
            let full_pages = left / usable_page;
            left %= usable_page;
            let page_start = WAL_PAGE_BYTES + full_pages * WAL_PAGE_BYTES;
            if is_end && left == 0 {
                page_start
            } else {
                page_start + left + SHORT_PAGE_HEADER_BYTES
            }
        };
        Lsn(full_segments * self.0 + offset)
    }

    /// The inverse of [`Self::record_start`] / [`Self::record_end`].
    pub fn byte_pos(self, lsn: Lsn) -> u64 {
        let usable_page = WAL_PAGE_BYTES - SHORT_PAGE_HEADER_BYTES;
        let full_segments = self.segment_of(lsn);
        let in_segment = self.offset_in_segment(lsn);
        let full_pages = in_segment / WAL_PAGE_BYTES;
        let in_page = in_segment % WAL_PAGE_BYTES;
        let base = full_segments * self.usable_bytes_in_segment();
        if full_pages == 0 {
            base + in_page.saturating_sub(LONG_PAGE_HEADER_BYTES)
        } else {
            base + (WAL_PAGE_BYTES - LONG_PAGE_HEADER_BYTES)
                + (full_pages - 1) * usable_page
                + in_page.saturating_sub(SHORT_PAGE_HEADER_BYTES)
        }
    }

    /// Whether a record can begin at `lsn`: it is not inside a page header, which is the
    /// same as `record_start(byte_pos(lsn)) == lsn` (a test holds the two together), without
    /// the divisions by the segment's usable bytes.
    #[inline]
    pub fn is_record_start(self, lsn: Lsn) -> bool {
        let in_page = lsn.0 % WAL_PAGE_BYTES;
        in_page >= self.page_header_bytes(lsn)
    }

    /// The size of the header of the page holding `lsn`: long on a segment's first page.
    #[inline]
    fn page_header_bytes(self, lsn: Lsn) -> u64 {
        if self.offset_in_segment(lsn) < WAL_PAGE_BYTES {
            LONG_PAGE_HEADER_BYTES
        } else {
            SHORT_PAGE_HEADER_BYTES
        }
    }

    /// True if no record has been written in the segment that `insert` points into.
    pub fn at_segment_start(self, insert: Lsn) -> bool {
        self.byte_pos(insert) % self.usable_bytes_in_segment() == 0
    }

    /// Where the next record goes after a WAL switch at `insert`: the start of the next
    /// segment (or `insert` itself when the current segment is still empty).
    pub fn next_segment_start(self, insert: Lsn) -> Lsn {
        let usable_segment = self.usable_bytes_in_segment();
        let pos = self.byte_pos(insert);
        let next = pos.div_ceil(usable_segment) * usable_segment;
        self.record_start(next)
    }
}

impl Default for WalSegmentSize {
    fn default() -> Self {
        WalSegmentSize::DEFAULT
    }
}

impl TryFrom<u64> for WalSegmentSize {
    type Error = SegmentSizeError;
    fn try_from(bytes: u64) -> Result<Self, Self::Error> {
        WalSegmentSize::new(bytes)
    }
}

impl From<WalSegmentSize> for u64 {
    fn from(size: WalSegmentSize) -> u64 {
        size.0
    }
}

/// A WAL record as the coordinator's steps insert it: its start and its end location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InsertedRecord {
    /// Where the record begins (what `ProcLastRecPtr` would be).
    pub start: Lsn,
    /// Where it ends (`XLogInsert`'s return value, `EndRecPtr`).
    pub end: Lsn,
}

/// Inserts a record of `payload_bytes` (header included, before alignment) at `insert`
/// and returns where it went; the new insert position is the returned record's successor,
/// available as `record_start(byte_pos(end))` and returned second.
pub fn insert_record(
    seg: WalSegmentSize,
    insert: Lsn,
    payload_bytes: u64,
) -> (InsertedRecord, Lsn) {
    let aligned = payload_bytes.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES;
    // A record that begins at a record start and ends, with the next one's start, inside the
    // same page is the bytes from `insert` (what the general path below gives, as a test
    // checks, without its divisions by the segment's usable bytes).
    if aligned > 0
        && seg.is_record_start(insert)
        && insert.0 % WAL_PAGE_BYTES + aligned < WAL_PAGE_BYTES
    {
        let end = Lsn(insert.0 + aligned);
        return (InsertedRecord { start: insert, end }, end);
    }
    insert_record_by_position(seg, insert, aligned)
}

/// [`insert_record`] for any position, through the usable-byte positions.
fn insert_record_by_position(
    seg: WalSegmentSize,
    insert: Lsn,
    aligned: u64,
) -> (InsertedRecord, Lsn) {
    let start_pos = seg.byte_pos(insert);
    let end_pos = start_pos + aligned;
    let record = InsertedRecord {
        start: seg.record_start(start_pos),
        end: seg.record_end(end_pos),
    };
    (record, seg.record_start(end_pos))
}

/// Record sizes (header included, before alignment) of the WAL records the coordinator's
/// steps write, as measured on a 64-bit PostgreSQL 15 (see `../shared/fixtures/pg15/`:
/// consecutive start points 0x28, 0xD8 and checkpoint locations 0x60, 0x110 in one segment).
pub mod record_bytes {
    /// `XLOG_SWITCH`: a bare record header.
    pub const SWITCH: u64 = 24;
    /// `XLOG_RUNNING_XACTS` with no running transactions, logged by every online checkpoint
    /// before its checkpoint record when wal_level >= replica.
    pub const RUNNING_XACTS: u64 = 50;
    /// `XLOG_CHECKPOINT_ONLINE` / `XLOG_CHECKPOINT_SHUTDOWN`.
    pub const CHECKPOINT: u64 = 114;
    /// `XLOG_BACKUP_END`, whose payload is the backup's start point.
    pub const BACKUP_END: u64 = 34;
    /// `XLOG_FPW_CHANGE`, whose payload is the new `full_page_writes` (one byte).
    pub const FPW_CHANGE: u64 = 27;
    /// A small heap change to one page, without a full-page image.
    pub const PAGE_CHANGE: u64 = 69;
    /// What a full-page image adds to a page change: a block image header and a whole page
    /// (the "hole" of free space is not compressed away in this model).
    pub const PAGE_IMAGE: u64 = 5 + 8192;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_text_matches_postgres_format() {
        assert_eq!(Lsn(0x0200_0028).to_string(), "0/2000028");
        assert_eq!(Lsn(0x1_0000_00D8).to_string(), "1/D8");
        assert_eq!("0/2000028".parse::<Lsn>(), Ok(Lsn(0x0200_0028)));
        assert_eq!("a/ff".parse::<Lsn>(), Ok(Lsn(0xA_0000_00FF)));
        assert!("0/".parse::<Lsn>().is_err());
        assert!("123456789/0".parse::<Lsn>().is_err());
        assert!("0x1/2".parse::<Lsn>().is_err());
    }

    #[test]
    fn first_record_of_a_segment_follows_the_long_header() {
        let seg = WalSegmentSize::DEFAULT;
        assert_eq!(seg.record_start(0), Lsn(0x28));
        let after_switch = seg.next_segment_start(Lsn(0x0100_0100));
        assert_eq!(after_switch, Lsn(0x0200_0028));
        assert!(seg.at_segment_start(after_switch));
        assert_eq!(seg.next_segment_start(after_switch), after_switch);
    }

    #[test]
    fn checkpoint_records_land_where_postgres_15_put_them() {
        // Fixture facts: redo 0/15000028, checkpoint record at 0/15000060, next redo 0/150000D8.
        let seg = WalSegmentSize::DEFAULT;
        let redo = Lsn(0x1500_0028);
        let (xacts, next) = insert_record(seg, redo, record_bytes::RUNNING_XACTS);
        assert_eq!(xacts.start, redo);
        assert_eq!(next, Lsn(0x1500_0060));
        let (ckpt, next) = insert_record(seg, next, record_bytes::CHECKPOINT);
        assert_eq!(ckpt.start, Lsn(0x1500_0060));
        assert_eq!(next, Lsn(0x1500_00D8));
    }

    #[test]
    fn records_crossing_a_page_skip_its_header() {
        let seg = WalSegmentSize::DEFAULT;
        let near_end = seg.record_start(WAL_PAGE_BYTES - LONG_PAGE_HEADER_BYTES - 8);
        assert_eq!(near_end, Lsn(WAL_PAGE_BYTES - 8));
        let (rec, next) = insert_record(seg, near_end, 16);
        assert_eq!(rec.end, Lsn(WAL_PAGE_BYTES + SHORT_PAGE_HEADER_BYTES + 8));
        assert_eq!(next, rec.end);
        let (exact, next) = insert_record(seg, near_end, 8);
        assert_eq!(
            exact.end,
            Lsn(WAL_PAGE_BYTES),
            "an end on a page boundary is the boundary"
        );
        assert_eq!(next, Lsn(WAL_PAGE_BYTES + SHORT_PAGE_HEADER_BYTES));
    }

    /// LSNs around every page boundary of the first segments of a 1 MiB and a 1 GiB segment
    /// size, the segment boundaries included, and around the 4 GiB mark (the high half).
    fn lsns_around_boundaries() -> impl Iterator<Item = (WalSegmentSize, Lsn)> {
        [1u64 << 20, 1 << 30].into_iter().flat_map(|bytes| {
            let seg = WalSegmentSize::new(bytes).unwrap();
            let pages = (0..2 * bytes / WAL_PAGE_BYTES)
                .filter(move |p| {
                    *p < 4 || p % (bytes / WAL_PAGE_BYTES) > bytes / WAL_PAGE_BYTES - 4
                })
                .map(|p| p * WAL_PAGE_BYTES)
                .chain([1u64 << 32]);
            pages.flat_map(move |page| {
                let near = page.saturating_sub(64)..page + 64;
                near.map(move |lsn| (seg, Lsn(lsn)))
            })
        })
    }

    #[test]
    fn a_record_start_is_a_position_that_survives_the_usable_byte_round_trip() {
        let mut starts = 0;
        for (seg, lsn) in lsns_around_boundaries() {
            let round_trip = seg.record_start(seg.byte_pos(lsn)) == lsn;
            assert_eq!(seg.is_record_start(lsn), round_trip, "{lsn} on {seg:?}");
            starts += usize::from(round_trip);
        }
        assert!(starts > 1000, "the sample holds record starts ({starts})");
    }

    #[test]
    fn inserting_inside_a_page_lands_where_the_usable_byte_arithmetic_puts_it() {
        let mut shortcuts = 0;
        for (seg, lsn) in lsns_around_boundaries() {
            for bytes in [0u64, 1, 8, 24, 34, 50, 69, 114, 8197] {
                let aligned = bytes.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES;
                let general = insert_record_by_position(seg, lsn, aligned);
                assert_eq!(insert_record(seg, lsn, bytes), general, "{bytes} at {lsn}");
                shortcuts += usize::from(general.0.start == lsn && general.1 .0 == lsn.0 + aligned);
            }
        }
        assert!(
            shortcuts > 1000,
            "the sample takes the shortcut ({shortcuts})"
        );
    }

    #[test]
    fn segment_arithmetic_by_shifts_agrees_with_division() {
        for (seg, lsn) in lsns_around_boundaries() {
            let bytes = seg.bytes();
            assert_eq!(seg.segment_of(lsn), lsn.0 / bytes);
            assert_eq!(seg.segment_before(lsn), lsn.0.saturating_sub(1) / bytes);
            assert_eq!(seg.offset_in_segment(lsn), lsn.0 % bytes);
            assert_eq!(seg.segments_per_xlog_id(), 0x1_0000_0000 / bytes);
        }
    }

    #[test]
    fn segment_sizes_are_checked_like_initdb() {
        assert!(WalSegmentSize::new(1 << 20).is_ok());
        assert!(WalSegmentSize::new(1 << 30).is_ok());
        assert!(WalSegmentSize::new(1 << 19).is_err());
        assert!(WalSegmentSize::new(3 << 20).is_err());
        assert_eq!(WalSegmentSize::DEFAULT.segments_per_xlog_id(), 256);
    }
}
