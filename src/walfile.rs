//! File names in `pg_wal`: WAL segment names (`XLogFileName`) and backup history file names
//! (`BackupHistoryFileName`), each with a renderer and a strict parser.

use crate::lsn::{Lsn, TimeLineId, WalSegmentSize};
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// A WAL segment file name: timeline, then the segment number split into two 8-hex halves
/// (`segno / N`, `segno % N` with N = 2^32 / segment size), 24 upper-case hex digits in all.
///
/// Before 9.3 N was `0xFFFFFFFF / segment size` (255 for 16 MiB), so names ending in `FF`
/// were skipped; for every location such a server could produce, both rules give the same
/// name, so one rule serves every era here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WalFileName {
    /// The timeline, first 8 hex digits.
    pub timeline: TimeLineId,
    /// `segno / N`, the middle 8 hex digits (the old "xlogid").
    pub high: u32,
    /// `segno % N`, the last 8 hex digits.
    pub low: u32,
}

/// Why a text is not a WAL or history file name.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FileNameError {
    /// Not 24 upper-case hex digits.
    #[error("invalid WAL file name {0:?}: expected 24 upper-case hexadecimal digits")]
    WalFileName(String),
    /// The low half names a segment that does not exist with this segment size.
    #[error("invalid WAL file name {name:?}: segment {low:#X} is beyond the {per_id} segments per id of {bytes}-byte segments")]
    SegmentOutOfRange {
        /// The file name.
        name: String,
        /// Its low half.
        low: u32,
        /// Segments per id for this segment size.
        per_id: u64,
        /// The segment size.
        bytes: u64,
    },
    /// Not `<24 hex>.<8 hex>.backup`.
    #[error(
        "invalid backup history file name {0:?}: expected <24 hex digits>.<8 hex digits>.backup"
    )]
    HistoryFileName(String),
    /// The offset does not fit in a segment.
    #[error("invalid backup history file name {name:?}: offset {offset:#X} is not inside a {bytes}-byte segment")]
    OffsetOutOfRange {
        /// The file name.
        name: String,
        /// The offset.
        offset: u32,
        /// The segment size.
        bytes: u64,
    },
}

fn parse_hex8(text: &str) -> Option<u32> {
    if text.len() == 8 {
        crate::lsn::parse_hex(text, 8, true)
    } else {
        None
    }
}

impl WalFileName {
    /// The segment file that holds `lsn` (`XLByteToSeg` + `XLogFileName`).
    pub fn containing(timeline: TimeLineId, lsn: Lsn, seg: WalSegmentSize) -> Self {
        Self::from_segment(timeline, seg.segment_of(lsn), seg)
    }

    /// The segment file in which a record ending at `end` ends (`XLByteToPrevSeg`), which is
    /// how PostgreSQL up to 15 names the STOP WAL LOCATION file.
    pub fn ending_at(timeline: TimeLineId, end: Lsn, seg: WalSegmentSize) -> Self {
        Self::from_segment(timeline, seg.segment_before(end), seg)
    }

    /// The file of segment number `segno`.
    pub fn from_segment(timeline: TimeLineId, segno: u64, seg: WalSegmentSize) -> Self {
        let per_id = seg.segments_per_xlog_id();
        WalFileName {
            timeline,
            high: (segno / per_id) as u32,
            low: (segno % per_id) as u32,
        }
    }

    /// The segment number this name stands for.
    pub fn segment(self, seg: WalSegmentSize) -> u64 {
        u64::from(self.high) * seg.segments_per_xlog_id() + u64::from(self.low)
    }

    /// Parses a 24-digit name, checking that the segment exists for this segment size.
    pub fn parse(text: &str, seg: WalSegmentSize) -> Result<Self, FileNameError> {
        let bad = || FileNameError::WalFileName(text.to_string());
        if text.len() != 24 {
            return Err(bad());
        }
        let part =
            |range: std::ops::Range<usize>| text.get(range).and_then(parse_hex8).ok_or_else(bad);
        let name = WalFileName {
            timeline: TimeLineId(part(0..8)?),
            high: part(8..16)?,
            low: part(16..24)?,
        };
        let per_id = seg.segments_per_xlog_id();
        if u64::from(name.low) >= per_id {
            return Err(FileNameError::SegmentOutOfRange {
                name: text.to_string(),
                low: name.low,
                per_id,
                bytes: seg.bytes(),
            });
        }
        Ok(name)
    }
}

impl WalFileName {
    /// The `%08X%08X%08X` text, built on the stack.
    pub(crate) fn text(self) -> crate::lsn::Ascii<24> {
        use crate::lsn::{put_upper_hex, Ascii};
        let mut text = [0u8; 24];
        let mut len = put_upper_hex(&mut text, 0, self.timeline.0, 8);
        len = put_upper_hex(&mut text, len, self.high, 8);
        len = put_upper_hex(&mut text, len, self.low, 8);
        Ascii::from_parts(text, len)
    }
}

impl fmt::Display for WalFileName {
    /// `%08X%08X%08X`: timeline, high and low halves of the segment number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

/// How a backup history file's name ends.
pub const HISTORY_FILE_SUFFIX: &str = ".backup";

/// A backup history file name: `<stop timeline><start segment>.<start offset>.backup`.
///
/// The timeline is the **stop** timeline and the rest locates the **start** point, so on one
/// timeline two backups with the same start point get the same history file name: that is
/// why start points must be unique (PROTOCOL.md §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HistoryFileName {
    /// Stop timeline and start segment.
    pub segment: WalFileName,
    /// Byte offset of the start point within its segment.
    pub offset: u32,
}

impl HistoryFileName {
    /// The history file name of a backup that started at `start` and stopped on `stop_timeline`.
    pub fn new(stop_timeline: TimeLineId, start: Lsn, seg: WalSegmentSize) -> Self {
        HistoryFileName {
            segment: WalFileName::containing(stop_timeline, start, seg),
            offset: seg.offset_in_segment(start) as u32,
        }
    }

    /// The start point this name encodes.
    pub fn start(self, seg: WalSegmentSize) -> Lsn {
        Lsn(self.segment.segment(seg) * seg.bytes() + u64::from(self.offset))
    }

    /// Parses `<24 hex>.<8 hex>.backup`.
    pub fn parse(text: &str, seg: WalSegmentSize) -> Result<Self, FileNameError> {
        let bad = || FileNameError::HistoryFileName(text.to_string());
        let stem = text.strip_suffix(HISTORY_FILE_SUFFIX).ok_or_else(bad)?;
        let (segment, offset) = stem.split_once('.').ok_or_else(bad)?;
        let segment = WalFileName::parse(segment, seg).map_err(|err| match err {
            FileNameError::WalFileName(_) => bad(),
            other => other,
        })?;
        let offset = parse_hex8(offset).ok_or_else(bad)?;
        if u64::from(offset) >= seg.bytes() {
            return Err(FileNameError::OffsetOutOfRange {
                name: text.to_string(),
                offset,
                bytes: seg.bytes(),
            });
        }
        Ok(HistoryFileName { segment, offset })
    }
}

impl fmt::Display for HistoryFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:08X}{HISTORY_FILE_SUFFIX}",
            self.segment, self.offset
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: WalSegmentSize = WalSegmentSize::DEFAULT;
    const TLI1: TimeLineId = TimeLineId(1);

    #[test]
    fn start_point_names_its_segment_file() {
        let name = WalFileName::containing(TLI1, Lsn(0x0200_0028), SEG);
        assert_eq!(name.to_string(), "000000010000000000000002");
        let high = WalFileName::containing(TimeLineId(3), Lsn(0x1_2300_0000), SEG);
        assert_eq!(high.to_string(), "000000030000000100000023");
        assert_eq!(
            WalFileName::parse("000000030000000100000023", SEG),
            Ok(high)
        );
    }

    #[test]
    fn stop_file_is_the_segment_holding_the_last_byte() {
        let end_on_boundary = Lsn(0x1600_0000);
        assert_eq!(
            WalFileName::ending_at(TLI1, end_on_boundary, SEG).to_string(),
            "000000010000000000000015"
        );
        assert_eq!(
            WalFileName::ending_at(TLI1, Lsn(0x1600_0050), SEG).to_string(),
            "000000010000000000000016"
        );
    }

    #[test]
    fn history_file_name_matches_postgres_15() {
        let name = HistoryFileName::new(TLI1, Lsn(0x1500_0028), SEG);
        assert_eq!(name.to_string(), "000000010000000000000015.00000028.backup");
        assert_eq!(
            HistoryFileName::parse("000000010000000000000015.00000028.backup", SEG),
            Ok(name)
        );
        assert_eq!(name.start(SEG), Lsn(0x1500_0028));
    }

    #[test]
    fn malformed_names_are_rejected() {
        assert!(WalFileName::parse("00000001000000000000002", SEG).is_err());
        assert!(WalFileName::parse("0000000100000000000000ab", SEG).is_err());
        assert!(matches!(
            WalFileName::parse("000000010000000000000100", SEG),
            Err(FileNameError::SegmentOutOfRange { .. })
        ));
        assert!(HistoryFileName::parse("000000010000000000000015.00000028", SEG).is_err());
        assert!(HistoryFileName::parse("000000010000000000000015.28.backup", SEG).is_err());
        assert!(matches!(
            HistoryFileName::parse("000000010000000000000015.01000000.backup", SEG),
            Err(FileNameError::OffsetOutOfRange { .. })
        ));
    }
}
