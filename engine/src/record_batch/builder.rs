//! Encodes v2 batches: for tests, benches, fuzz seeds, the command-line
//! tools and the up-conversion of v0/v1 message sets (`legacy.rs`). The
//! broker never re-encodes a v2 batch it stores.

use super::compression::{compress, Lz4Checksum};
use super::header::{Compression, CRC_START_BYTES};
use super::varint::encode_i64;
use crate::limits::BATCH_HEADER_BYTES;
use crate::offset::TimestampMs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    pub timestamp: TimestampMs,
}

impl Record {
    pub fn value(value: impl Into<Vec<u8>>, timestamp: TimestampMs) -> Record {
        Record {
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp,
        }
    }
}

/// Builds one batch. Producer id -1 (not idempotent) unless set.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    records: Vec<Record>,
    attributes: i16,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        BatchBuilder {
            records: Vec::new(),
            attributes: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }
}

impl BatchBuilder {
    pub fn new() -> BatchBuilder {
        BatchBuilder::default()
    }

    pub fn record(mut self, record: Record) -> BatchBuilder {
        self.records.push(record);
        self
    }

    pub fn push(&mut self, record: Record) {
        self.records.push(record);
    }

    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Compresses the records with `compression`, framed as Kafka's Java
    /// client frames it (`compression::compress`).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.attributes = (self.attributes & !0x07) | compression.code();
        self
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Encodes the batch with base offset 0 and a valid CRC.
    pub fn build(&self) -> Vec<u8> {
        let base_timestamp = self
            .records
            .iter()
            .map(|record| record.timestamp.0)
            .min()
            .unwrap_or(-1);
        let max_timestamp = self
            .records
            .iter()
            .map(|record| record.timestamp.0)
            .max()
            .unwrap_or(-1);
        let mut body = Vec::new();
        let mut record_bytes = Vec::new();
        for (index, record) in self.records.iter().enumerate() {
            record_bytes.clear();
            record_bytes.push(0); // attributes
            encode_i64(
                record.timestamp.0.wrapping_sub(base_timestamp),
                &mut record_bytes,
            );
            encode_i64(index as i64, &mut record_bytes);
            encode_nullable(record.key.as_deref(), &mut record_bytes);
            encode_nullable(record.value.as_deref(), &mut record_bytes);
            encode_i64(record.headers.len() as i64, &mut record_bytes);
            for header in &record.headers {
                encode_nullable(Some(&header.key), &mut record_bytes);
                encode_nullable(header.value.as_deref(), &mut record_bytes);
            }
            encode_i64(record_bytes.len() as i64, &mut body);
            body.extend_from_slice(&record_bytes);
        }
        let compression =
            Compression::from_attributes(self.attributes).unwrap_or(Compression::None);
        if compression != Compression::None {
            body = compress(compression, &body, Lz4Checksum::Standard)
                .expect("in-memory compression does not fail");
        }
        let count = self.records.len() as i32;
        let mut out = Vec::with_capacity(BATCH_HEADER_BYTES + body.len());
        out.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
        let batch_length = (BATCH_HEADER_BYTES - 12 + body.len()) as i32;
        out.extend_from_slice(&batch_length.to_be_bytes());
        out.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
        out.push(2); // magic
        out.extend_from_slice(&0u32.to_be_bytes()); // crc, filled below
        out.extend_from_slice(&self.attributes.to_be_bytes());
        out.extend_from_slice(&(count - 1).max(0).to_be_bytes()); // lastOffsetDelta
        out.extend_from_slice(&base_timestamp.to_be_bytes());
        out.extend_from_slice(&max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&body);
        let crc = super::crc::crc32c(&out[CRC_START_BYTES..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        out
    }
}

fn encode_nullable(bytes: Option<&[u8]>, out: &mut Vec<u8>) {
    match bytes {
        None => encode_i64(-1, out),
        Some(bytes) => {
            encode_i64(bytes.len() as i64, out);
            out.extend_from_slice(bytes);
        }
    }
}

/// A batch whose payload is opaque (for instance compressed by a client):
/// the header is filled in and the CRC computed, the payload kept as given.
pub fn raw_batch(
    attributes: i16,
    records_count: i32,
    max_timestamp: TimestampMs,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(BATCH_HEADER_BYTES + payload.len());
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&((BATCH_HEADER_BYTES - 12 + payload.len()) as i32).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out.push(2);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&attributes.to_be_bytes());
    // Any count, hostile ones included: the header says what it is told.
    out.extend_from_slice(&records_count.wrapping_sub(1).to_be_bytes());
    out.extend_from_slice(&max_timestamp.0.to_be_bytes());
    out.extend_from_slice(&max_timestamp.0.to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes());
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out.extend_from_slice(&records_count.to_be_bytes());
    out.extend_from_slice(payload);
    let crc = super::crc::crc32c(&out[CRC_START_BYTES..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}
