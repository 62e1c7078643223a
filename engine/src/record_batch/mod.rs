//! Record batch v2 (magic 2): a zero-copy view over bytes, its validation, and
//! the in-place rewrites the broker makes on append (base offset, leader
//! epoch, LogAppendTime).
//!
//! The parser never panics, never reads out of bounds and never allocates:
//! every length is checked against the bytes in hand before it is used.
//! Validation happens twice, as TIGER_STYLE asks: before an append
//! ([`RecordBatch::parse`] with [`Validation::Client`]) and again when
//! recovery reads the batch back from disk ([`Validation::Stored`]).
//!
//! Beside the view: [`compression`] (Kafka's four codecs as bounded
//! inflate streams), [`validate`] (the records of a compressed client
//! batch, walked in pieces as Kafka's LogValidator walks them; `parse`
//! itself never inflates) and [`legacy`] (message formats v0 and v1, up-
//! and down-converted).

mod builder;
pub mod compression;
mod crc;
mod header;
pub mod legacy;
mod records;
pub mod validate;
pub mod varint;

pub use builder::{raw_batch, BatchBuilder, Header, Record};
pub use compression::{compress, inflate, Inflater, Lz4Checksum};
pub use header::{
    Compression, RecordBatchHeader, TimestampType, ATTRIBUTE_CONTROL, ATTRIBUTE_LOG_APPEND_TIME,
    ATTRIBUTE_TRANSACTIONAL, CRC_START_BYTES,
};
pub use records::{RecordHeaderView, RecordView, Records};
pub use validate::{
    for_each_record_timestamp, record_offsets_and_timestamps, validate_records, BatchValidator,
    RecordsSummary, RecordsWalker, Step,
};

use zerocopy::FromBytes;

use crate::error::BatchError;
use crate::limits::{
    BATCH_BYTES_MAX, BATCH_HEADER_BYTES, BATCH_LENGTH_OFFSET_BYTES, RECORD_BYTES_MIN,
};
use crate::offset::{Offset, TimestampMs};

/// How strict to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Bytes from a producer: everything is checked, uncompressed records
    /// included, and `recordsCount` must equal `lastOffsetDelta + 1`.
    Client,
    /// Bytes this engine wrote: header, lengths and CRC.
    Stored,
}

/// A validated view of one record batch.
#[derive(Debug, Clone, Copy)]
pub struct RecordBatch<'a> {
    bytes: &'a [u8],
}

/// Reads just enough of the front of `bytes` to know the size of the batch
/// that starts there; `None` if fewer than 12 bytes are present.
pub fn peek_batch_size(bytes: &[u8]) -> Option<Result<usize, BatchError>> {
    let length_field = bytes.get(8..BATCH_LENGTH_OFFSET_BYTES)?;
    let batch_length = i32::from_be_bytes(length_field.try_into().ok()?);
    let minimum = (BATCH_HEADER_BYTES - BATCH_LENGTH_OFFSET_BYTES) as i32;
    if batch_length < minimum {
        return Some(Err(BatchError::BatchLengthInvalid { batch_length }));
    }
    let total = BATCH_LENGTH_OFFSET_BYTES + batch_length as usize;
    if total > BATCH_BYTES_MAX {
        return Some(Err(BatchError::TooLarge {
            bytes: total,
            max: BATCH_BYTES_MAX,
        }));
    }
    Some(Ok(total))
}

/// The base offset stored at the front of a batch, if 8 bytes are present.
pub fn peek_base_offset(bytes: &[u8]) -> Option<Offset> {
    let field = bytes.get(0..8)?;
    Some(Offset(i64::from_be_bytes(field.try_into().ok()?)))
}

impl<'a> RecordBatch<'a> {
    /// Validates the batch at the front of `bytes` and returns it; the batch
    /// may be followed by more bytes (`batch.size()` says where it ends).
    pub fn parse(bytes: &'a [u8], validation: Validation) -> Result<RecordBatch<'a>, BatchError> {
        let size = match peek_batch_size(bytes) {
            None => {
                return Err(BatchError::Truncated {
                    needed: BATCH_LENGTH_OFFSET_BYTES,
                    available: bytes.len(),
                })
            }
            Some(size) => size?,
        };
        if bytes.len() < size {
            return Err(BatchError::Truncated {
                needed: size,
                available: bytes.len(),
            });
        }
        let batch = RecordBatch {
            bytes: &bytes[..size],
        };
        batch.validate(validation)?;
        Ok(batch)
    }

    /// The batch at the front of `bytes`, checking only its length, magic
    /// and offset fields: no CRC. For reading back data the engine already
    /// validated (a clean shutdown vouches for it).
    pub fn parse_header_only(bytes: &'a [u8]) -> Option<RecordBatch<'a>> {
        let size = peek_batch_size(bytes)?.ok()?;
        let batch = RecordBatch {
            bytes: bytes.get(..size)?,
        };
        let header = batch.header();
        let plausible = header.magic == 2
            && header.last_offset_delta.get() >= 0
            && header.records_count.get() >= 0;
        plausible.then_some(batch)
    }

    fn validate(&self, validation: Validation) -> Result<(), BatchError> {
        let header = self.header();
        if header.magic != 2 {
            return Err(BatchError::UnsupportedMagic {
                magic: header.magic,
            });
        }
        let actual = crc::crc32c(&self.bytes[CRC_START_BYTES..]);
        if actual != header.crc.get() {
            return Err(BatchError::CrcMismatch {
                base_offset: header.base_offset.get(),
                expected: header.crc.get(),
                actual,
            });
        }
        let compression = Compression::from_attributes(header.attributes.get()).ok_or(
            BatchError::CompressionInvalid {
                codec: (header.attributes.get() & 0x07) as u8,
            },
        )?;
        let count = header.records_count.get();
        let last_offset_delta = header.last_offset_delta.get();
        let count_invalid = BatchError::RecordCountInvalid {
            count,
            last_offset_delta,
        };
        if count < 0 || last_offset_delta < 0 {
            return Err(count_invalid);
        }
        // A stored batch's offsets are real: non-negative, and the last one
        // must exist. (A client's base offset is replaced on append.)
        let base_offset = header.base_offset.get();
        if validation == Validation::Stored
            && (base_offset < 0
                || base_offset
                    .checked_add(i64::from(last_offset_delta))
                    .is_none())
        {
            return Err(BatchError::BaseOffsetInvalid { base_offset });
        }
        let records_bytes = self.bytes.len() - BATCH_HEADER_BYTES;
        if compression == Compression::None && count as usize > records_bytes / RECORD_BYTES_MIN {
            return Err(count_invalid);
        }
        if validation == Validation::Client {
            if count == 0 || count - 1 != last_offset_delta {
                return Err(count_invalid);
            }
            if header.attributes.get() & (ATTRIBUTE_CONTROL | ATTRIBUTE_TRANSACTIONAL) != 0 {
                return Err(BatchError::TransactionalUnsupported);
            }
            if compression == Compression::None {
                self.validate_records()?;
            }
        }
        Ok(())
    }

    /// Walks every record of an uncompressed batch, checking that each one
    /// is well formed, that offset deltas count up from zero and that the
    /// records fill the batch exactly.
    fn validate_records(&self) -> Result<(), BatchError> {
        records::check_records(&self.bytes[BATCH_HEADER_BYTES..], self.records_count())
    }

    pub fn header(&self) -> &'a RecordBatchHeader {
        // parse() checked that at least BATCH_HEADER_BYTES are present.
        let (header, _) = RecordBatchHeader::ref_from_prefix(self.bytes)
            .expect("RecordBatch holds a complete header");
        header
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    pub fn base_offset(&self) -> Offset {
        Offset(self.header().base_offset.get())
    }

    pub fn last_offset(&self) -> Offset {
        self.base_offset()
            .plus(i64::from(self.header().last_offset_delta.get()))
    }

    pub fn next_offset(&self) -> Offset {
        self.last_offset().next()
    }

    pub fn records_count(&self) -> i32 {
        self.header().records_count.get()
    }

    pub fn max_timestamp(&self) -> TimestampMs {
        TimestampMs(self.header().max_timestamp.get())
    }

    pub fn base_timestamp(&self) -> TimestampMs {
        TimestampMs(self.header().base_timestamp.get())
    }

    pub fn compression(&self) -> Compression {
        // validate() rejected unknown codecs.
        Compression::from_attributes(self.header().attributes.get()).unwrap_or(Compression::None)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.header().attributes.get() & ATTRIBUTE_LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn producer_id(&self) -> i64 {
        self.header().producer_id.get()
    }

    pub fn producer_epoch(&self) -> i16 {
        self.header().producer_epoch.get()
    }

    pub fn base_sequence(&self) -> i32 {
        self.header().base_sequence.get()
    }

    /// The records of an uncompressed batch; `None` when compressed (stored
    /// as sent; [`validate`] and [`compression`] walk them inflated).
    pub fn records(&self) -> Option<Records<'a>> {
        if self.compression() != Compression::None {
            return None;
        }
        Some(Records::new(
            &self.bytes[BATCH_HEADER_BYTES..],
            self.records_count(),
            self.base_offset(),
            self.base_timestamp(),
        ))
    }
}

/// Iterates the batches laid end to end in `bytes`, validating each.
/// Stops at the first error, which it yields.
pub struct Batches<'a> {
    remaining: &'a [u8],
    validation: Validation,
    failed: bool,
}

impl<'a> Batches<'a> {
    pub fn new(bytes: &'a [u8], validation: Validation) -> Batches<'a> {
        Batches {
            remaining: bytes,
            validation,
            failed: false,
        }
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<RecordBatch<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.remaining.is_empty() {
            return None;
        }
        match RecordBatch::parse(self.remaining, self.validation) {
            Ok(batch) => {
                self.remaining = &self.remaining[batch.size()..];
                Some(Ok(batch))
            }
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

/// What the broker changes in a batch it accepts. Base offset and leader
/// epoch are outside the CRC; a LogAppendTime stamp changes attributes and
/// maxTimestamp, so the CRC is computed again.
#[derive(Debug, Clone, Copy)]
pub struct AppendStamp {
    pub base_offset: Offset,
    pub partition_leader_epoch: i32,
    pub log_append_time: Option<TimestampMs>,
}

/// Rewrites a batch (already validated with [`RecordBatch::parse`]) in place.
pub fn stamp(bytes: &mut [u8], stamp: AppendStamp) -> Result<(), BatchError> {
    let size = batch_size_within(bytes)?;
    let (head, body) = bytes[..size].split_at_mut(BATCH_HEADER_BYTES);
    let head: &mut [u8; BATCH_HEADER_BYTES] = head.try_into().expect("split at the header size");
    stamp_header(head, body, stamp);
    Ok(())
}

/// The stamped header of a batch (already validated with
/// [`RecordBatch::parse`]) that is not itself changed: an append writes this
/// header and then the batch's unchanged rest, so the batch is copied once.
pub fn stamped_header(
    bytes: &[u8],
    stamp: AppendStamp,
) -> Result<[u8; BATCH_HEADER_BYTES], BatchError> {
    let size = batch_size_within(bytes)?;
    let mut head = [0u8; BATCH_HEADER_BYTES];
    head.copy_from_slice(&bytes[..BATCH_HEADER_BYTES]);
    stamp_header(&mut head, &bytes[BATCH_HEADER_BYTES..size], stamp);
    Ok(head)
}

/// The batch's size from its length field, checked against what is there.
fn batch_size_within(bytes: &[u8]) -> Result<usize, BatchError> {
    let available = bytes.len();
    let size = peek_batch_size(bytes).ok_or(BatchError::Truncated {
        needed: BATCH_HEADER_BYTES,
        available,
    })??;
    if size < BATCH_HEADER_BYTES || size > available {
        return Err(BatchError::Truncated {
            needed: size.max(BATCH_HEADER_BYTES),
            available,
        });
    }
    Ok(size)
}

/// Sets the `maxTimestamp` of the one batch `batch` holds and recomputes
/// its CRC-32C, as Kafka's `LogValidator` does (`setMaxTimestamp`) when a
/// CreateTime batch's header disagrees with its records (Sarama writes -1
/// in compressed batches). The caller knows the records' largest timestamp
/// from walking them (`RecordsSummary::timestamp_max`).
pub fn set_max_timestamp(batch: &mut [u8], max_timestamp: TimestampMs) {
    assert!(batch.len() >= BATCH_HEADER_BYTES, "a whole batch");
    let len = batch.len();
    let (header, _) =
        RecordBatchHeader::mut_from_prefix(&mut batch[..]).expect("a header's worth of bytes");
    assert_eq!(
        header.batch_length.get() as usize + 12,
        len,
        "exactly one batch"
    );
    header.max_timestamp.set(max_timestamp.0);
    let crc = crc::crc32c(&batch[CRC_START_BYTES..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn stamp_header(head: &mut [u8; BATCH_HEADER_BYTES], body: &[u8], stamp: AppendStamp) {
    let (header, _) =
        RecordBatchHeader::mut_from_prefix(&mut head[..]).expect("a header's worth of bytes");
    header.base_offset.set(stamp.base_offset.0);
    header
        .partition_leader_epoch
        .set(stamp.partition_leader_epoch);
    if let Some(now) = stamp.log_append_time {
        let attributes = header.attributes.get() | ATTRIBUTE_LOG_APPEND_TIME;
        header.attributes.set(attributes);
        header.max_timestamp.set(now.0);
        let crc = crc::crc32c_append(crc::crc32c(&head[CRC_START_BYTES..]), body);
        head[17..21].copy_from_slice(&crc.to_be_bytes());
    }
}

#[cfg(test)]
mod tests;
