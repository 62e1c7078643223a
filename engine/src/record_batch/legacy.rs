//! The message formats before record batches: message sets of magic 0
//! (Kafka 0.8) and magic 1 (0.10, KIP-32 timestamps), parsed, up-converted
//! to one v2 batch for Produce v0-v2, and down-converted from stored v2
//! batches for Fetch v0-v3.
//!
//! ```text
//! message set: (offset i64 | message_size i32 | message)*
//! message v0:  crc u32 | magic i8 = 0 | attributes i8 |             key bytes | value bytes
//! message v1:  crc u32 | magic i8 = 1 | attributes i8 | timestamp i64 | key bytes | value bytes
//! bytes:       length i32 (-1 = null) | length bytes
//! crc:         CRC-32 (IEEE) of magic .. end of value
//! attributes:  bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4), bit 3 LogAppendTime (v1)
//! ```
//!
//! A compressed message set travels inside one *wrapper* message whose
//! value is the compressed inner message set. For magic 1 the inner offsets
//! are relative (0, 1, …) and the wrapper carries the absolute offset of
//! the last inner message; for magic 0 the inner offsets are absolute.
//! Wrappers do not nest. Kafka's rules for a produced set (its
//! `LogValidator`): one wrapper alone, or uncompressed messages only, all of
//! one magic; the inner messages' magic is the wrapper's and their CRCs are
//! checked.
//!
//! Up-conversion ([`up_convert`]) writes one v2 batch with offset deltas
//! 0..n-1 (the engine assigns the base offset on append), each message's
//! key and value byte for byte, its timestamp for magic 1 (the wrapper's for
//! a LogAppendTime wrapper) and -1 for magic 0, compressed with the
//! wrapper's codec. Down-conversion ([`down_convert`]) writes each stored
//! batch as messages with absolute offsets (uncompressed batches) or as one
//! wrapper (compressed ones, same codec), drops record headers, leaves
//! control batches out and refuses zstd, which magic 0/1 cannot carry.
//!
//! Memory: the inner set of a wrapper and a compressed batch being
//! down-converted are inflated whole, bounded by the caller's
//! `inflated_bytes_max`; every length is checked against the bytes that
//! hold it before it is used.

use std::collections::HashSet;

use super::compression::{compress, inflate, Lz4Checksum};
use super::header::{Compression, TimestampType, ATTRIBUTE_COMPRESSION_MASK};
use super::{peek_batch_size, BatchBuilder, Record, RecordBatch, Records, Validation};
use crate::error::BatchError;
use crate::limits::{
    BATCH_HEADER_BYTES, LEGACY_LOG_OVERHEAD_BYTES, LEGACY_MESSAGE_V0_BYTES_MIN,
    LEGACY_MESSAGE_V1_BYTES_MIN,
};
use crate::offset::{Offset, TimestampMs};

/// Attributes bit 3 of a v1 message: LogAppendTime.
pub const LEGACY_ATTRIBUTE_LOG_APPEND_TIME: i8 = 0x08;

/// One message of a message set, in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageView<'a> {
    /// The entry's offset as written (relative inside a magic-1 wrapper).
    pub offset: i64,
    pub crc: u32,
    pub magic: i8,
    pub attributes: i8,
    /// -1 for magic 0.
    pub timestamp: TimestampMs,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// Bytes of the whole entry: offset, size and message.
    pub entry_bytes: usize,
}

impl MessageView<'_> {
    /// The codec of a wrapper; `None` for a plain message.
    pub fn compression(&self) -> Result<Compression, BatchError> {
        legacy_compression(self.attributes, self.magic)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.magic >= 1 && self.attributes & LEGACY_ATTRIBUTE_LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
}

fn legacy_compression(attributes: i8, magic: i8) -> Result<Compression, BatchError> {
    let code = i16::from(attributes) & ATTRIBUTE_COMPRESSION_MASK;
    match Compression::from_attributes(code) {
        Some(Compression::Zstd) => Err(BatchError::CompressionUnsupportedForMagic {
            compression: Compression::Zstd,
            magic,
        }),
        Some(compression) => Ok(compression),
        None => Err(BatchError::CompressionInvalid { codec: code as u8 }),
    }
}

fn malformed(offset: i64, reason: &'static str) -> BatchError {
    BatchError::LegacyMessageMalformed { offset, reason }
}

fn invalid(reason: &'static str) -> BatchError {
    BatchError::LegacyMessageSetInvalid { reason }
}

/// Parses the message entry at the front of `bytes`: sizes within the
/// bytes, CRC-32, magic 0 or 1, key and value lengths filling the message
/// exactly. Codec bits are not judged here ([`MessageView::compression`]).
pub fn parse_message(bytes: &[u8]) -> Result<MessageView<'_>, BatchError> {
    let header = bytes
        .get(..LEGACY_LOG_OVERHEAD_BYTES)
        .ok_or_else(|| malformed(-1, "message set cut short in an entry header"))?;
    let offset = i64::from_be_bytes(header[..8].try_into().expect("8 bytes"));
    let size = i32::from_be_bytes(header[8..12].try_into().expect("4 bytes"));
    let size = usize::try_from(size).map_err(|_| malformed(offset, "negative message size"))?;
    if size < LEGACY_MESSAGE_V0_BYTES_MIN {
        return Err(malformed(offset, "message size below the minimum"));
    }
    let message = bytes
        .get(LEGACY_LOG_OVERHEAD_BYTES..LEGACY_LOG_OVERHEAD_BYTES + size)
        .ok_or_else(|| malformed(offset, "message set cut short inside a message"))?;
    let expected = u32::from_be_bytes(message[..4].try_into().expect("4 bytes"));
    let actual = crc32fast::hash(&message[4..]);
    if expected != actual {
        return Err(BatchError::LegacyCrcMismatch {
            offset,
            expected,
            actual,
        });
    }
    let magic = message[4] as i8;
    let attributes = message[5] as i8;
    let (timestamp, fields) = match magic {
        0 => (-1, &message[6..]),
        1 => {
            if size < LEGACY_MESSAGE_V1_BYTES_MIN {
                return Err(malformed(offset, "message size below the minimum"));
            }
            let timestamp = i64::from_be_bytes(message[6..14].try_into().expect("8 bytes"));
            (timestamp, &message[14..])
        }
        magic => return Err(BatchError::UnsupportedMagic { magic }),
    };
    let (key, fields) = legacy_bytes(fields, offset)?;
    let (value, fields) = legacy_bytes(fields, offset)?;
    if !fields.is_empty() {
        return Err(malformed(offset, "bytes left after the message's value"));
    }
    Ok(MessageView {
        offset,
        crc: expected,
        magic,
        attributes,
        timestamp: TimestampMs(timestamp),
        key,
        value,
        entry_bytes: LEGACY_LOG_OVERHEAD_BYTES + size,
    })
}

/// An i32-length-prefixed byte string (-1 = null) from the front of `bytes`.
fn legacy_bytes(bytes: &[u8], offset: i64) -> Result<(Option<&[u8]>, &[u8]), BatchError> {
    let length_field = bytes
        .get(..4)
        .ok_or_else(|| malformed(offset, "key or value length past the message"))?;
    let length = i32::from_be_bytes(length_field.try_into().expect("4 bytes"));
    let rest = &bytes[4..];
    if length == -1 {
        return Ok((None, rest));
    }
    let length =
        usize::try_from(length).map_err(|_| malformed(offset, "key or value length below -1"))?;
    if length > rest.len() {
        return Err(malformed(offset, "key or value longer than the message"));
    }
    Ok((Some(&rest[..length]), &rest[length..]))
}

/// The entries of a message set laid end to end, each parsed with
/// [`parse_message`]; stops after the first error, which it yields. A set
/// cut short at the end is an error (producers never send one).
pub struct Messages<'a> {
    remaining: &'a [u8],
    failed: bool,
}

impl<'a> Messages<'a> {
    pub fn new(bytes: &'a [u8]) -> Messages<'a> {
        Messages {
            remaining: bytes,
            failed: false,
        }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<MessageView<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.remaining.is_empty() {
            return None;
        }
        match parse_message(self.remaining) {
            Ok(message) => {
                self.remaining = &self.remaining[message.entry_bytes..];
                Some(Ok(message))
            }
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

/// One message of a produced set, after wrappers were opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMessage {
    /// Absolute as Kafka reads it: for a magic-1 wrapper, the wrapper's
    /// offset minus the last inner offset plus this one's.
    pub offset: i64,
    /// The message's timestamp (the wrapper's in a LogAppendTime wrapper);
    /// -1 for magic 0.
    pub timestamp: TimestampMs,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// A produced message set, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSet {
    pub magic: i8,
    /// The wrapper's codec; `None` for a set of plain messages.
    pub compression: Compression,
    pub messages: Vec<LegacyMessage>,
}

/// Parses a produced message set of magic 0 or 1, opening a wrapper
/// (inflated within `inflated_bytes_max`). Every byte must belong to a
/// message.
pub fn parse_message_set(
    bytes: &[u8],
    inflated_bytes_max: usize,
) -> Result<MessageSet, BatchError> {
    let mut messages = Vec::new();
    let mut magic = None;
    let mut compression = Compression::None;
    for (index, entry) in Messages::new(bytes).enumerate() {
        let entry = entry?;
        if *magic.get_or_insert(entry.magic) != entry.magic {
            return Err(invalid("messages of different magics in one set"));
        }
        let codec = entry.compression()?;
        if codec == Compression::None {
            if compression != Compression::None {
                return Err(invalid("a compressed wrapper next to other messages"));
            }
            messages.push(owned(&entry, entry.offset, entry.timestamp));
            continue;
        }
        if index > 0 {
            return Err(invalid("a compressed wrapper next to other messages"));
        }
        compression = codec;
        open_wrapper(&entry, codec, inflated_bytes_max, &mut messages)?;
    }
    let magic = magic.ok_or(BatchError::Empty)?;
    Ok(MessageSet {
        magic,
        compression,
        messages,
    })
}

fn owned(message: &MessageView<'_>, offset: i64, timestamp: TimestampMs) -> LegacyMessage {
    LegacyMessage {
        offset,
        timestamp,
        key: message.key.map(<[u8]>::to_vec),
        value: message.value.map(<[u8]>::to_vec),
    }
}

fn open_wrapper(
    wrapper: &MessageView<'_>,
    codec: Compression,
    inflated_bytes_max: usize,
    out: &mut Vec<LegacyMessage>,
) -> Result<(), BatchError> {
    let value = wrapper
        .value
        .ok_or_else(|| invalid("a compressed wrapper with a null value"))?;
    let inner_bytes = inflate(
        codec,
        value,
        inflated_bytes_max,
        Lz4Checksum::for_magic(wrapper.magic),
    )?;
    let first = out.len();
    for inner in Messages::new(&inner_bytes) {
        let inner = inner?;
        if inner.magic != wrapper.magic {
            return Err(invalid(
                "an inner message's magic differs from its wrapper's",
            ));
        }
        if inner.compression()? != Compression::None {
            return Err(invalid("a compressed message inside a compressed wrapper"));
        }
        let timestamp = if wrapper.timestamp_type() == TimestampType::LogAppendTime {
            wrapper.timestamp
        } else {
            inner.timestamp
        };
        out.push(owned(&inner, inner.offset, timestamp));
    }
    if out.len() == first {
        return Err(invalid("a compressed wrapper with no inner messages"));
    }
    if wrapper.magic >= 1 {
        // Relative inner offsets: the wrapper holds the last one's absolute.
        let last_relative = out.last().expect("checked above").offset;
        let base = wrapper.offset.wrapping_sub(last_relative);
        for message in &mut out[first..] {
            message.offset = base.wrapping_add(message.offset);
        }
    }
    Ok(())
}

/// Up-converts a produced message set of magic 0 or 1 to one v2 batch with
/// base offset 0, offset deltas 0..n-1, no producer id, timestamps kept
/// (magic 1) or -1 (magic 0), keys and values byte for byte, compressed
/// with the wrapper's codec. The result passes `RecordBatch::parse` with
/// `Validation::Client` and [`super::validate_records`].
pub fn up_convert(bytes: &[u8], inflated_bytes_max: usize) -> Result<Vec<u8>, BatchError> {
    let set = parse_message_set(bytes, inflated_bytes_max)?;
    Ok(batch_of(&set))
}

/// The v2 batch of a parsed message set (see [`up_convert`]).
pub fn batch_of(set: &MessageSet) -> Vec<u8> {
    let mut builder = BatchBuilder::new().compression(set.compression);
    for message in &set.messages {
        builder.push(Record {
            key: message.key.clone(),
            value: message.value.clone(),
            headers: Vec::new(),
            timestamp: if set.magic == 0 {
                TimestampMs::NONE
            } else {
                message.timestamp
            },
        });
    }
    builder.build()
}

/// An aborted transaction as a Fetch response lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: Offset,
}

/// What [`down_convert`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownConverted {
    /// The message set for the fetcher.
    pub message_set: Vec<u8>,
    /// Batches converted (control batches and aborted data not counted).
    pub batches: usize,
    /// Messages written (a wrapper's inner messages counted, not the wrapper).
    pub messages: usize,
    /// The offset after the last batch read (converted or left out); the
    /// fetch position a client continues from. `None` if none was read.
    pub next_offset: Option<Offset>,
    /// The bytes ended inside a batch, which was left out. When nothing
    /// else was converted, `message_set` holds one entry header whose size
    /// passes the end (Kafka's "overflow" entry): a v0-v2 fetcher reads it
    /// as a message larger than its fetch size and asks for more.
    pub partial_tail: bool,
}

/// Down-converts stored v2 batches (as a fetch reads them from a segment;
/// the last may be cut short) to a message set of `magic` 0 or 1.
///
/// Uncompressed batches become one message per record with its absolute
/// offset; compressed batches one wrapper each (same codec; inner offsets
/// relative for magic 1, absolute for magic 0; the wrapper's offset the
/// last record's). Headers are dropped. Control batches are left out, and
/// so are batches of `aborted` transactions (pass none to serve
/// read_uncommitted, which Fetch v0-v3 is in Kafka). A zstd batch fails
/// with [`BatchError::CompressionUnsupportedForMagic`]
/// (UNSUPPORTED_COMPRESSION_TYPE). Conversion stops after the first batch
/// that brings the output to `output_bytes_max` or more.
pub fn down_convert(
    stored: &[u8],
    magic: i8,
    inflated_bytes_max: usize,
    aborted: &[AbortedTransaction],
    output_bytes_max: usize,
) -> Result<DownConverted, BatchError> {
    assert!(magic == 0 || magic == 1, "down-conversion to magic {magic}");
    let mut out = DownConverted {
        message_set: Vec::new(),
        batches: 0,
        messages: 0,
        next_offset: None,
        partial_tail: false,
    };
    let mut aborted: Vec<AbortedTransaction> = aborted.to_vec();
    aborted.sort_by_key(|transaction| std::cmp::Reverse(transaction.first_offset));
    let mut aborting: HashSet<i64> = HashSet::new();
    let mut rest = stored;
    while !rest.is_empty() && out.message_set.len() < output_bytes_max {
        let size = match peek_batch_size(rest) {
            Some(size) => size?,
            None => 0,
        };
        if size == 0 || size > rest.len() {
            out.partial_tail = true;
            if out.message_set.is_empty() {
                overflow_entry(rest, &mut out.message_set);
            }
            break;
        }
        let batch = RecordBatch::parse(&rest[..size], Validation::Stored)?;
        rest = &rest[size..];
        out.next_offset = Some(batch.next_offset());
        while aborted
            .last()
            .is_some_and(|transaction| transaction.first_offset <= batch.base_offset())
        {
            aborting.insert(aborted.pop().expect("checked").producer_id);
        }
        let attributes = batch.header().attributes.get();
        if attributes & super::ATTRIBUTE_CONTROL != 0 {
            aborting.remove(&batch.producer_id());
            continue;
        }
        if attributes & super::ATTRIBUTE_TRANSACTIONAL != 0
            && aborting.contains(&batch.producer_id())
        {
            continue;
        }
        out.messages +=
            down_convert_batch(&batch, magic, inflated_bytes_max, &mut out.message_set)?;
        out.batches += 1;
    }
    Ok(out)
}

/// An entry header that claims more bytes than follow (Kafka's overflow
/// message): the base offset of the partial batch and its full size.
fn overflow_entry(partial: &[u8], out: &mut Vec<u8>) {
    let offset = super::peek_base_offset(partial).map_or(-1, |offset| offset.0);
    let claimed = match peek_batch_size(partial) {
        Some(Ok(size)) => size.max(partial.len() + 1),
        _ => partial.len() + 1,
    };
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&(claimed.min(i32::MAX as usize) as i32).to_be_bytes());
}

/// Writes one stored batch as messages; returns how many.
fn down_convert_batch(
    batch: &RecordBatch<'_>,
    magic: i8,
    inflated_bytes_max: usize,
    out: &mut Vec<u8>,
) -> Result<usize, BatchError> {
    let compression = batch.compression();
    if compression == Compression::Zstd {
        return Err(BatchError::CompressionUnsupportedForMagic { compression, magic });
    }
    let payload = &batch.as_bytes()[BATCH_HEADER_BYTES..];
    let inflated;
    let records_bytes = if compression == Compression::None {
        payload
    } else {
        inflated = inflate(
            compression,
            payload,
            inflated_bytes_max,
            Lz4Checksum::Standard,
        )?;
        &inflated[..]
    };
    let records = Records::new(
        records_bytes,
        batch.records_count(),
        batch.base_offset(),
        batch.base_timestamp(),
    );
    let append_time = batch.timestamp_type() == TimestampType::LogAppendTime;
    let type_bit = if magic >= 1 && append_time {
        LEGACY_ATTRIBUTE_LOG_APPEND_TIME
    } else {
        0
    };
    let timestamp_of = |record_timestamp: TimestampMs| {
        if append_time {
            batch.max_timestamp()
        } else {
            record_timestamp
        }
    };
    let target = if compression == Compression::None {
        &mut *out
    } else {
        &mut Vec::new()
    };
    let mut count = 0;
    let mut last_offset = batch.base_offset();
    let mut max_timestamp = TimestampMs::NONE;
    for record in records {
        let record = record?;
        let timestamp = timestamp_of(record.timestamp);
        max_timestamp = max_timestamp.max(timestamp);
        last_offset = record.offset;
        let offset = if compression != Compression::None && magic >= 1 {
            record.offset.0.wrapping_sub(batch.base_offset().0)
        } else {
            record.offset.0
        };
        let message = LegacyWrite {
            offset,
            magic,
            attributes: type_bit,
            timestamp,
            key: record.key,
            value: record.value,
        };
        message.write(target);
        count += 1;
    }
    if compression != Compression::None && count > 0 {
        let value = compress(compression, target, Lz4Checksum::for_magic(magic))?;
        let wrapper = LegacyWrite {
            offset: last_offset.0,
            magic,
            attributes: type_bit | compression.code() as i8,
            timestamp: if append_time {
                batch.max_timestamp()
            } else {
                max_timestamp
            },
            key: None,
            value: Some(&value),
        };
        wrapper.write(out);
    }
    Ok(count)
}

/// One message to encode, as [`parse_message`] reads it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyWrite<'a> {
    pub offset: i64,
    pub magic: i8,
    pub attributes: i8,
    /// Written for magic 1 only.
    pub timestamp: TimestampMs,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

impl LegacyWrite<'_> {
    /// Appends the entry (offset, size, message with its CRC) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes()); // size, filled below
        out.extend_from_slice(&0u32.to_be_bytes()); // crc, filled below
        out.push(self.magic as u8);
        out.push(self.attributes as u8);
        if self.magic >= 1 {
            out.extend_from_slice(&self.timestamp.0.to_be_bytes());
        }
        for field in [self.key, self.value] {
            match field {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(bytes) => {
                    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    out.extend_from_slice(bytes);
                }
            }
        }
        let message = start + LEGACY_LOG_OVERHEAD_BYTES;
        let size = (out.len() - message) as i32;
        out[start + 8..message].copy_from_slice(&size.to_be_bytes());
        let crc = crc32fast::hash(&out[message + 4..]);
        out[message..message + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// CRC-32 (IEEE) as v0/v1 messages carry it, of the bytes from magic on.
pub fn message_crc(bytes_from_magic: &[u8]) -> u32 {
    crc32fast::hash(bytes_from_magic)
}

/// Reads a fetched message set as an old consumer does: any number of
/// plain messages and wrappers (each opened within `inflated_bytes_max`),
/// an entry cut short at the end ignored. Inner offsets are made absolute.
/// Returns the messages and the bytes of complete entries.
pub fn read_message_set(
    bytes: &[u8],
    inflated_bytes_max: usize,
) -> Result<(Vec<LegacyMessage>, usize), BatchError> {
    let mut messages = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let Some(size_field) = rest.get(8..LEGACY_LOG_OVERHEAD_BYTES) else {
            break;
        };
        let size = i32::from_be_bytes(size_field.try_into().expect("4 bytes"));
        if size >= 0 && LEGACY_LOG_OVERHEAD_BYTES + size as usize > rest.len() {
            break; // cut short by the fetch size
        }
        let entry = parse_message(rest)?;
        at += entry.entry_bytes;
        match entry.compression()? {
            Compression::None => messages.push(owned(&entry, entry.offset, entry.timestamp)),
            codec => open_wrapper(&entry, codec, inflated_bytes_max, &mut messages)?,
        }
    }
    Ok((messages, at))
}
