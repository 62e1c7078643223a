//! The `.timeindex` file: Kafka's format, 12-byte big-endian entries
//! `(timestamp: i64, relative_offset: u32)`. An entry is added when a batch
//! raises the segment's maximum timestamp and the offset index gains an
//! entry, so timestamps and offsets both never decrease.

use super::offset_index::IndexError;
use crate::limits::TIME_INDEX_ENTRY_BYTES;
use crate::offset::{Offset, TimestampMs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeIndexEntry {
    pub timestamp: TimestampMs,
    pub relative_offset: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeIndex {
    base_offset: Offset,
    entries: Vec<TimeIndexEntry>,
}

impl TimeIndex {
    pub fn new(base_offset: Offset) -> TimeIndex {
        TimeIndex {
            base_offset,
            entries: Vec::new(),
        }
    }

    /// Reads a time index file's bytes; `next_offset` bounds the offsets.
    pub fn parse(
        base_offset: Offset,
        bytes: &[u8],
        next_offset: Offset,
    ) -> Result<Self, IndexError> {
        if !bytes.len().is_multiple_of(TIME_INDEX_ENTRY_BYTES) {
            return Err(IndexError::Length {
                length: bytes.len(),
                entry: TIME_INDEX_ENTRY_BYTES,
            });
        }
        let mut index = TimeIndex::new(base_offset);
        for (number, raw) in bytes.chunks_exact(TIME_INDEX_ENTRY_BYTES).enumerate() {
            let mut timestamp = [0u8; 8];
            timestamp.copy_from_slice(&raw[0..8]);
            let entry = TimeIndexEntry {
                timestamp: TimestampMs(i64::from_be_bytes(timestamp)),
                relative_offset: u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]),
            };
            let absolute = base_offset
                .0
                .saturating_add(i64::from(entry.relative_offset));
            if absolute >= next_offset.0 {
                return Err(IndexError::PastLog {
                    index: number,
                    position: absolute as u64,
                    log_size: next_offset.0 as u64,
                });
            }
            if let Some(last) = index.entries.last() {
                if entry.timestamp <= last.timestamp || entry.relative_offset < last.relative_offset
                {
                    return Err(IndexError::NotIncreasing { index: number });
                }
            }
            index.entries.push(entry);
        }
        Ok(index)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * TIME_INDEX_ENTRY_BYTES);
        for entry in &self.entries {
            out.extend_from_slice(&entry.timestamp.0.to_be_bytes());
            out.extend_from_slice(&entry.relative_offset.to_be_bytes());
        }
        out
    }

    /// Records that the segment's maximum timestamp rose to `timestamp` at
    /// `offset`; ignored unless it really is a new maximum.
    pub fn push(&mut self, timestamp: TimestampMs, offset: Offset) {
        let relative = offset.0.saturating_sub(self.base_offset.0);
        assert!((0..=i64::from(u32::MAX)).contains(&relative));
        if let Some(last) = self.entries.last() {
            if timestamp <= last.timestamp {
                return;
            }
            assert!(relative as u32 >= last.relative_offset);
        }
        self.entries.push(TimeIndexEntry {
            timestamp,
            relative_offset: relative as u32,
        });
    }

    /// The offset where a search for the first record with a timestamp at or
    /// after `timestamp` may start: the last entry whose timestamp is below it.
    pub fn lookup(&self, timestamp: TimestampMs) -> Offset {
        let found = self
            .entries
            .partition_point(|entry| entry.timestamp < timestamp);
        match found.checked_sub(1) {
            Some(index) => self
                .base_offset
                .plus(i64::from(self.entries[index].relative_offset)),
            None => self.base_offset,
        }
    }

    /// Drops entries at or past `offset`.
    pub fn truncate_to_offset(&mut self, offset: Offset) {
        let base = self.base_offset.0;
        self.entries
            .retain(|entry| base.saturating_add(i64::from(entry.relative_offset)) < offset.0);
    }

    pub fn entries(&self) -> &[TimeIndexEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_bytes_and_lookup() {
        let mut index = TimeIndex::new(Offset(10));
        index.push(TimestampMs(1000), Offset(10));
        index.push(TimestampMs(900), Offset(12)); // not a new maximum: ignored
        index.push(TimestampMs(2000), Offset(20));
        let bytes = index.encode();
        #[rustfmt::skip]
        assert_eq!(bytes, vec![
            0, 0, 0, 0, 0, 0, 0x03, 0xe8,  0, 0, 0, 0,   // ts 1000 at relative 0
            0, 0, 0, 0, 0, 0, 0x07, 0xd0,  0, 0, 0, 10,  // ts 2000 at relative 10
        ]);
        let parsed = TimeIndex::parse(Offset(10), &bytes, Offset(30)).unwrap();
        assert_eq!(parsed, index);
        assert_eq!(parsed.lookup(TimestampMs(500)), Offset(10));
        assert_eq!(parsed.lookup(TimestampMs(1500)), Offset(10));
        assert_eq!(parsed.lookup(TimestampMs(2500)), Offset(20));
        assert!(TimeIndex::parse(Offset(10), &bytes, Offset(15)).is_err());
    }
}
