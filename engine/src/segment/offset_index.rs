//! The sparse `.index` file: Kafka's format, 8-byte big-endian entries
//! `(relative_offset: u32, position: u32)`, one every `index.interval.bytes`
//! of log, each naming the first byte of a batch.
//!
//! Invariants (checked by [`OffsetIndex::parse`] on every load, so a corrupt
//! file is rebuilt instead of trusted): relative offsets and positions both
//! strictly increase, and every position lies inside the log.

use crate::limits::OFFSET_INDEX_ENTRY_BYTES;
use crate::offset::{FilePosition, Offset};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetIndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("index length {length} is not a multiple of {entry} bytes")]
    Length { length: usize, entry: usize },
    #[error("entry {index} does not increase")]
    NotIncreasing { index: usize },
    #[error("entry {index} points past the log ({position} >= {log_size})")]
    PastLog {
        index: usize,
        position: u64,
        log_size: u64,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetIndex {
    base_offset: Offset,
    entries: Vec<OffsetIndexEntry>,
}

impl OffsetIndex {
    pub fn new(base_offset: Offset) -> OffsetIndex {
        OffsetIndex {
            base_offset,
            entries: Vec::new(),
        }
    }

    /// Reads an index file's bytes, checking every invariant against the
    /// size of the log it indexes.
    pub fn parse(base_offset: Offset, bytes: &[u8], log_size: u64) -> Result<Self, IndexError> {
        if !bytes.len().is_multiple_of(OFFSET_INDEX_ENTRY_BYTES) {
            return Err(IndexError::Length {
                length: bytes.len(),
                entry: OFFSET_INDEX_ENTRY_BYTES,
            });
        }
        let mut index = OffsetIndex::new(base_offset);
        for (position_in_file, raw) in bytes.chunks_exact(OFFSET_INDEX_ENTRY_BYTES).enumerate() {
            let entry = OffsetIndexEntry {
                relative_offset: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
                position: u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]),
            };
            if u64::from(entry.position) >= log_size {
                return Err(IndexError::PastLog {
                    index: position_in_file,
                    position: u64::from(entry.position),
                    log_size,
                });
            }
            if let Some(last) = index.entries.last() {
                if entry.relative_offset <= last.relative_offset || entry.position <= last.position
                {
                    return Err(IndexError::NotIncreasing {
                        index: position_in_file,
                    });
                }
            }
            index.entries.push(entry);
        }
        Ok(index)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * OFFSET_INDEX_ENTRY_BYTES);
        for entry in &self.entries {
            out.extend_from_slice(&entry.relative_offset.to_be_bytes());
            out.extend_from_slice(&entry.position.to_be_bytes());
        }
        out
    }

    /// Adds an entry for a batch starting at `position` with `offset`; both
    /// must be beyond the last entry (a caller bug otherwise).
    pub fn push(&mut self, offset: Offset, position: FilePosition) {
        let relative = offset.0.saturating_sub(self.base_offset.0);
        assert!((0..=i64::from(u32::MAX)).contains(&relative));
        assert!(position.0 <= u64::from(u32::MAX));
        let entry = OffsetIndexEntry {
            relative_offset: relative as u32,
            position: position.0 as u32,
        };
        if let Some(last) = self.entries.last() {
            assert!(entry.relative_offset > last.relative_offset && entry.position > last.position);
        }
        self.entries.push(entry);
    }

    /// The last entry at or below `offset`: where a scan for `offset` starts.
    pub fn lookup(&self, offset: Offset) -> (Offset, FilePosition) {
        let relative = offset.0.saturating_sub(self.base_offset.0);
        let found = self
            .entries
            .partition_point(|entry| i64::from(entry.relative_offset) <= relative);
        match found.checked_sub(1).map(|index| self.entries[index]) {
            Some(entry) => (
                self.base_offset.plus(i64::from(entry.relative_offset)),
                FilePosition(u64::from(entry.position)),
            ),
            None => (self.base_offset, FilePosition(0)),
        }
    }

    /// Drops entries at or past `position` (the log is being truncated there).
    pub fn truncate_to_position(&mut self, position: FilePosition) {
        self.entries
            .retain(|entry| u64::from(entry.position) < position.0);
    }

    pub fn entries(&self) -> &[OffsetIndexEntry] {
        &self.entries
    }

    pub fn base_offset(&self) -> Offset {
        self.base_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_bytes_and_lookup() {
        let mut index = OffsetIndex::new(Offset(100));
        index.push(Offset(100), FilePosition(0));
        index.push(Offset(150), FilePosition(4096));
        let bytes = index.encode();
        #[rustfmt::skip]
        assert_eq!(bytes, vec![
            0, 0, 0, 0,    0, 0, 0, 0,     // relative offset 0 at position 0
            0, 0, 0, 50,   0, 0, 0x10, 0,  // relative offset 50 at position 4096
        ]);
        let parsed = OffsetIndex::parse(Offset(100), &bytes, 5000).unwrap();
        assert_eq!(parsed, index);
        assert_eq!(parsed.lookup(Offset(99)), (Offset(100), FilePosition(0)));
        assert_eq!(parsed.lookup(Offset(149)), (Offset(100), FilePosition(0)));
        assert_eq!(
            parsed.lookup(Offset(150)),
            (Offset(150), FilePosition(4096))
        );
        assert_eq!(
            parsed.lookup(Offset(9999)),
            (Offset(150), FilePosition(4096))
        );
    }

    #[test]
    fn corrupt_files_are_refused() {
        assert!(OffsetIndex::parse(Offset(0), &[0; 7], 100).is_err());
        // Position past the log.
        assert!(OffsetIndex::parse(Offset(0), &[0, 0, 0, 0, 0, 0, 1, 0], 100).is_err());
        // Not increasing.
        let bytes = [0, 0, 0, 5, 0, 0, 0, 10, 0, 0, 0, 5, 0, 0, 0, 20];
        assert!(OffsetIndex::parse(Offset(0), &bytes, 100).is_err());
    }
}
