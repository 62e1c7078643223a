//! The records of a v2 batch, compressed or not, checked as Kafka's
//! `LogValidator` checks a produced batch, from an inflated stream that is
//! never held whole.
//!
//! [`RecordBatch::parse`] with `Validation::Client` checks the header, the
//! CRC-32C and (for uncompressed batches) the records; it does not inflate.
//! A compressed batch from a client must also pass a [`BatchValidator`]
//! before it is appended: it inflates the payload through a bounded
//! [`Inflater`] and feeds the bytes to a [`RecordsWalker`], a push parser
//! that keeps no more than one varint (10 bytes) of state between pieces,
//! so a record of any size costs no memory and a piece may end anywhere.
//!
//! ```text
//! produce handler (shard)                 BatchValidator
//! ───────────────────────                 ──────────────
//! RecordBatch::parse(Client) ─────▶ new(batch, batch_inflated_bytes_max(..))
//! loop {                                   step(INFLATE_PIECE_BYTES):
//!   match validator.step(n)? {               inflate <= n bytes (bounded)
//!     Pending => yield to the executor,      walk them: lengths, varints,
//!     Done(summary) => break,                offset deltas, header counts
//!   }                                      at the end: record count, bytes
//! }                                          left, maxTimestamp (CreateTime)
//! append
//! ```
//!
//! What a walk rejects (all [`BatchError::RecordMalformed`] with the record
//! index, mapped to INVALID_RECORD, unless noted): a record length that is
//! negative or that its fields overrun or do not fill; a varint longer than
//! 5 bytes (10 for varlongs) or out of range; an offset delta other than
//! the record's index (Kafka rewrites such batches; every client writes
//! 0, 1, 2, …); a key or value length below -1 or past the record; a header
//! count below 0 or above what the record can hold; a null header key;
//! fewer records than `recordsCount`, or bytes after the last one. From the
//! batch as a whole: inflating failing ([`BatchError::DecompressionFailed`],
//! CORRUPT_MESSAGE) or passing its bound ([`BatchError::InflatedTooLarge`],
//! MESSAGE_TOO_LARGE). A CreateTime `maxTimestamp` other than the largest
//! record timestamp is not an error: Kafka's `LogValidator` rewrites the
//! header (`setMaxTimestamp`), and so does the broker with
//! [`super::set_max_timestamp`] and the summary's `timestamp_max` (Sarama
//! sends -1 in compressed batches).

use std::ops::ControlFlow;

use super::compression::{Inflater, Lz4Checksum};
use super::header::TimestampType;
use super::{varint, RecordBatch};
use crate::error::BatchError;
use crate::limits::{BATCH_HEADER_BYTES, INFLATE_PIECE_BYTES};
use crate::offset::{Offset, TimestampMs};

/// What a walk found, for the caller's timestamp checks
/// (`message.timestamp.before/after.max.ms` apply to every record: they
/// hold for all of them exactly when they hold for the smallest and the
/// largest) and for its time index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordsSummary {
    /// Records walked; equals the header's `recordsCount`.
    pub records_count: i32,
    /// The smallest record timestamp.
    pub timestamp_min: TimestampMs,
    /// The largest record timestamp, and the offset delta of the first
    /// record that carries it.
    pub timestamp_max: TimestampMs,
    pub offset_delta_of_timestamp_max: i32,
    /// Bytes of the records section once inflated.
    pub inflated_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Length,
    Attributes,
    TimestampDelta,
    OffsetDelta,
    KeyLength,
    Key,
    ValueLength,
    Value,
    HeaderCount,
    HeaderKeyLength,
    HeaderKey,
    HeaderValueLength,
    HeaderValue,
    Done,
}

/// How strictly offset deltas are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetDeltas {
    /// A producer's batch: 0, 1, 2, … in order.
    Sequential,
    /// A stored batch (compaction may leave gaps): strictly increasing.
    Increasing,
}

/// A push parser over the records section of a v2 batch. Feed it the
/// inflated bytes in pieces of any size, then call [`Self::finish`].
#[derive(Debug, Clone)]
pub struct RecordsWalker {
    field: Field,
    count: i32,
    index: i32,
    offset_deltas: OffsetDeltas,
    base_timestamp: i64,
    /// Bytes of the current record not yet consumed.
    record_left: usize,
    /// Bytes of the current key, value or header field still to skip.
    skip_left: usize,
    headers_left: i32,
    timestamp: i64,
    offset_delta: i32,
    varint: [u8; 10],
    varint_len: usize,
    inflated_bytes: usize,
    timestamp_min: i64,
    timestamp_max: i64,
    offset_delta_of_timestamp_max: i32,
}

fn malformed(index: i32, reason: &'static str) -> BatchError {
    BatchError::RecordMalformed {
        index: index.max(0) as usize,
        reason,
    }
}

impl RecordsWalker {
    /// A walker for `records_count` records whose timestamps are deltas
    /// from `base_timestamp`.
    pub fn new(
        records_count: i32,
        base_timestamp: TimestampMs,
        offset_deltas: OffsetDeltas,
    ) -> Self {
        RecordsWalker {
            field: if records_count > 0 {
                Field::Length
            } else {
                Field::Done
            },
            count: records_count.max(0),
            index: 0,
            offset_deltas,
            base_timestamp: base_timestamp.0,
            record_left: 0,
            skip_left: 0,
            headers_left: 0,
            timestamp: 0,
            offset_delta: -1,
            varint: [0; 10],
            varint_len: 0,
            inflated_bytes: 0,
            timestamp_min: i64::MAX,
            timestamp_max: i64::MIN,
            offset_delta_of_timestamp_max: -1,
        }
    }

    /// Walks the next `bytes` of the records section; `visit` sees each
    /// complete record's offset delta and timestamp, and may stop the walk
    /// (then `feed` returns `Ok(ControlFlow::Break)` and the walker must not
    /// be fed again).
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        visit: &mut dyn FnMut(i32, TimestampMs) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, BatchError> {
        self.inflated_bytes = self.inflated_bytes.saturating_add(bytes.len());
        while !bytes.is_empty() {
            match self.field {
                Field::Done => {
                    return Err(malformed(self.index, "bytes left after the last record"))
                }
                Field::Key | Field::Value | Field::HeaderKey | Field::HeaderValue => {
                    let n = self.skip_left.min(bytes.len());
                    bytes = &bytes[n..];
                    self.skip_left -= n;
                    self.record_left -= n;
                    if self.skip_left == 0
                        && self.after_skip() == ControlFlow::Break(())
                        && self.end_record(visit)? == ControlFlow::Break(())
                    {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Field::Attributes => {
                    self.consume_in_record(1)?;
                    bytes = &bytes[1..];
                    self.field = Field::TimestampDelta;
                }
                _ => {
                    let Some(value) = self.varint_from(&mut bytes)? else {
                        continue;
                    };
                    if self.on_varint(value)? == ControlFlow::Break(()) {
                        // A record ended.
                        if self.end_record(visit)? == ControlFlow::Break(()) {
                            return Ok(ControlFlow::Break(()));
                        }
                    }
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The end of the records section: every record was there and nothing
    /// was cut.
    pub fn finish(&self) -> Result<RecordsSummary, BatchError> {
        if self.field != Field::Done {
            return Err(malformed(
                self.index,
                "records section ends before recordsCount records",
            ));
        }
        Ok(self.summary())
    }

    fn summary(&self) -> RecordsSummary {
        let (timestamp_min, timestamp_max) = if self.index == 0 {
            (-1, -1)
        } else {
            (self.timestamp_min, self.timestamp_max)
        };
        RecordsSummary {
            records_count: self.index,
            timestamp_min: TimestampMs(timestamp_min),
            timestamp_max: TimestampMs(timestamp_max),
            offset_delta_of_timestamp_max: self.offset_delta_of_timestamp_max,
            inflated_bytes: self.inflated_bytes,
        }
    }

    /// Takes `n` bytes of the current record, refusing to overrun it.
    fn consume_in_record(&mut self, n: usize) -> Result<(), BatchError> {
        if n > self.record_left {
            return Err(malformed(
                self.index,
                "record fields overrun the record length",
            ));
        }
        self.record_left -= n;
        Ok(())
    }

    /// Gathers a varint that may span pieces; `None` until its last byte.
    fn varint_from(&mut self, bytes: &mut &[u8]) -> Result<Option<i64>, BatchError> {
        let in_record = self.field != Field::Length;
        let wide = self.field == Field::TimestampDelta;
        let max_bytes = if wide { 10 } else { 5 };
        while let Some((&byte, rest)) = bytes.split_first() {
            *bytes = rest;
            if in_record {
                self.consume_in_record(1)?;
            }
            self.varint[self.varint_len] = byte;
            self.varint_len += 1;
            if byte & 0x80 == 0 {
                let encoded = &self.varint[..self.varint_len];
                self.varint_len = 0;
                let value = if wide {
                    varint::decode_i64(encoded).map(|(value, _)| value)
                } else {
                    varint::decode_i32(encoded).map(|(value, _)| i64::from(value))
                };
                return value
                    .map(Some)
                    .ok_or_else(|| malformed(self.index, "varint out of range"));
            }
            if self.varint_len == max_bytes {
                return Err(malformed(self.index, "varint too long"));
            }
        }
        Ok(None)
    }

    /// Handles a complete varint field; `Break` when the record ended.
    fn on_varint(&mut self, value: i64) -> Result<ControlFlow<()>, BatchError> {
        // Every field but TimestampDelta was decoded as an i32.
        let small = value as i32;
        match self.field {
            Field::Length => {
                if small < 0 {
                    return Err(malformed(self.index, "negative record length"));
                }
                self.record_left = small as usize;
                self.field = Field::Attributes;
            }
            Field::TimestampDelta => {
                self.timestamp = self.base_timestamp.wrapping_add(value);
                self.field = Field::OffsetDelta;
            }
            Field::OffsetDelta => {
                let in_order = match self.offset_deltas {
                    OffsetDeltas::Sequential => small == self.index,
                    OffsetDeltas::Increasing => small > self.offset_delta,
                };
                if !in_order {
                    return Err(malformed(self.index, "offset delta out of sequence"));
                }
                self.offset_delta = small;
                self.field = Field::KeyLength;
            }
            Field::KeyLength | Field::ValueLength | Field::HeaderValueLength => {
                let next = match self.field {
                    Field::KeyLength => Field::Key,
                    Field::ValueLength => Field::Value,
                    _ => Field::HeaderValue,
                };
                return self.start_skip(small, true, next);
            }
            Field::HeaderKeyLength => return self.start_skip(small, false, Field::HeaderKey),
            Field::HeaderCount => {
                if small < 0 || small as usize > self.record_left / 2 {
                    return Err(malformed(self.index, "impossible header count"));
                }
                self.headers_left = small;
                if small == 0 {
                    return Ok(ControlFlow::Break(()));
                }
                self.field = Field::HeaderKeyLength;
            }
            _ => unreachable!("not a varint field"),
        }
        Ok(ControlFlow::Continue(()))
    }

    /// A length-prefixed field of `length` bytes (-1 = null when allowed).
    fn start_skip(
        &mut self,
        length: i32,
        nullable: bool,
        next: Field,
    ) -> Result<ControlFlow<()>, BatchError> {
        if length == -1 && nullable {
            self.skip_left = 0;
            self.field = next;
            return Ok(self.after_skip());
        }
        let Ok(length) = usize::try_from(length) else {
            return Err(malformed(self.index, "invalid key, value or header length"));
        };
        if length > self.record_left {
            return Err(malformed(
                self.index,
                "record fields overrun the record length",
            ));
        }
        self.skip_left = length;
        self.field = next;
        if length == 0 {
            return Ok(self.after_skip());
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The field after a skipped one; `Break` when the record ended.
    fn after_skip(&mut self) -> ControlFlow<()> {
        self.field = match self.field {
            Field::Key => Field::ValueLength,
            Field::Value => Field::HeaderCount,
            Field::HeaderKey => Field::HeaderValueLength,
            Field::HeaderValue => {
                self.headers_left -= 1;
                if self.headers_left == 0 {
                    return ControlFlow::Break(());
                }
                Field::HeaderKeyLength
            }
            other => other,
        };
        ControlFlow::Continue(())
    }

    fn end_record(
        &mut self,
        visit: &mut dyn FnMut(i32, TimestampMs) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, BatchError> {
        if self.record_left != 0 {
            return Err(malformed(
                self.index,
                "bytes left after the record's headers",
            ));
        }
        if self.timestamp < self.timestamp_min {
            self.timestamp_min = self.timestamp;
        }
        if self.timestamp > self.timestamp_max || self.index == 0 {
            self.timestamp_max = self.timestamp;
            self.offset_delta_of_timestamp_max = self.offset_delta;
        }
        self.index += 1;
        self.field = if self.index == self.count {
            Field::Done
        } else {
            Field::Length
        };
        Ok(visit(self.offset_delta, TimestampMs(self.timestamp)))
    }
}

/// The outcome of one [`BatchValidator::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More to inflate: call `step` again (after yielding, if the caller
    /// shares its thread).
    Pending,
    /// The whole batch is valid.
    Done(RecordsSummary),
}

/// Validates the records of one client batch in steps of a bounded number
/// of inflated bytes, so the caller can yield to other partitions of its
/// shard between steps. Owns one piece buffer and the codec's state
/// (at most a block or window, see `compression.rs`); borrows the batch.
pub struct BatchValidator<'a> {
    inflater: Inflater<'a>,
    walker: RecordsWalker,
    piece: Vec<u8>,
}

impl<'a> BatchValidator<'a> {
    /// A validator for `batch`, which passed `RecordBatch::parse` with
    /// `Validation::Client`; inflating stops with
    /// [`BatchError::InflatedTooLarge`] past `inflated_bytes_max`
    /// (`limits::batch_inflated_bytes_max(max.message.bytes)`).
    pub fn new(batch: RecordBatch<'a>, inflated_bytes_max: usize) -> Result<Self, BatchError> {
        let payload = &batch.as_bytes()[BATCH_HEADER_BYTES..];
        let inflater = Inflater::new(
            batch.compression(),
            payload,
            inflated_bytes_max,
            Lz4Checksum::Standard,
        )?;
        let walker = RecordsWalker::new(
            batch.records_count(),
            batch.base_timestamp(),
            OffsetDeltas::Sequential,
        );
        Ok(BatchValidator {
            inflater,
            walker,
            piece: vec![0u8; INFLATE_PIECE_BYTES],
        })
    }

    /// Inflates and walks up to `piece_bytes` (at least one) more bytes.
    pub fn step(&mut self, piece_bytes: usize) -> Result<Step, BatchError> {
        let mut left = piece_bytes.max(1);
        while left > 0 {
            let want = left.min(self.piece.len());
            let n = self.inflater.read(&mut self.piece[..want])?;
            if n == 0 {
                return self.finish().map(Step::Done);
            }
            // The visitor never stops the walk.
            let _: ControlFlow<()> = self
                .walker
                .feed(&self.piece[..n], &mut |_, _| ControlFlow::Continue(()))?;
            left -= n;
        }
        Ok(Step::Pending)
    }

    /// Inflated bytes so far.
    pub fn inflated_bytes(&self) -> usize {
        self.inflater.inflated_bytes()
    }

    fn finish(&self) -> Result<RecordsSummary, BatchError> {
        self.walker.finish()
    }
}

/// [`BatchValidator`] run to the end in one call.
pub fn validate_records(
    batch: &RecordBatch<'_>,
    inflated_bytes_max: usize,
) -> Result<RecordsSummary, BatchError> {
    let mut validator = BatchValidator::new(*batch, inflated_bytes_max)?;
    loop {
        if let Step::Done(summary) = validator.step(usize::MAX)? {
            return Ok(summary);
        }
    }
}

/// Visits the `(offset, timestamp)` of each record of a stored batch
/// (compressed or not) in order, inflating at most `inflated_bytes_max`;
/// `visit` may stop the walk early. In a LogAppendTime batch every record
/// has the batch's `maxTimestamp`. For ListOffsets by timestamp.
pub fn for_each_record_timestamp(
    batch: &RecordBatch<'_>,
    inflated_bytes_max: usize,
    visit: &mut dyn FnMut(Offset, TimestampMs) -> ControlFlow<()>,
) -> Result<(), BatchError> {
    let payload = &batch.as_bytes()[BATCH_HEADER_BYTES..];
    let mut inflater = Inflater::new(
        batch.compression(),
        payload,
        inflated_bytes_max,
        Lz4Checksum::Standard,
    )?;
    let mut walker = RecordsWalker::new(
        batch.records_count(),
        batch.base_timestamp(),
        OffsetDeltas::Increasing,
    );
    let base_offset = batch.base_offset();
    let append_time =
        (batch.timestamp_type() == TimestampType::LogAppendTime).then(|| batch.max_timestamp());
    let mut adapt = |delta: i32, timestamp: TimestampMs| {
        visit(
            base_offset.plus(i64::from(delta)),
            append_time.unwrap_or(timestamp),
        )
    };
    let mut piece = vec![0u8; INFLATE_PIECE_BYTES];
    loop {
        let n = inflater.read(&mut piece)?;
        if n == 0 {
            walker.finish()?;
            return Ok(());
        }
        if walker.feed(&piece[..n], &mut adapt)? == ControlFlow::Break(()) {
            return Ok(());
        }
    }
}

/// Every record's `(offset, timestamp)` of a stored batch, as
/// `PartitionLog::offset_for_timestamp_with` takes them. The list grows
/// with the records found (never sized by a count), bounded by the
/// inflated bytes.
pub fn record_offsets_and_timestamps(
    batch: &RecordBatch<'_>,
    inflated_bytes_max: usize,
) -> Result<Vec<(Offset, TimestampMs)>, BatchError> {
    let mut found = Vec::new();
    for_each_record_timestamp(batch, inflated_bytes_max, &mut |offset, timestamp| {
        found.push((offset, timestamp));
        ControlFlow::Continue(())
    })?;
    Ok(found)
}
