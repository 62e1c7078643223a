//! What the `compressed_batch` and `legacy_message_set` targets assert.
//!
//! Compiled twice like `checks.rs`: into the fuzz crate and, through
//! `#[path]`, into `engine/tests/fuzz_corpus.rs`. Uses only `engine`,
//! `crc32c` and `std`.

#![allow(dead_code)]

use std::ops::ControlFlow;

use engine::limits::BATCH_HEADER_BYTES;
use engine::record_batch::legacy::{
    down_convert, message_crc, parse_message_set, read_message_set, up_convert, LegacyWrite,
    Messages,
};
use engine::record_batch::{
    compress, for_each_record_timestamp, inflate, raw_batch, stamp, validate_records, AppendStamp,
    BatchBuilder, BatchValidator, Compression, Header, Lz4Checksum, Record, RecordBatch,
    RecordsSummary, Step, Validation, CRC_START_BYTES,
};
use engine::{BatchError, Offset, TimestampMs};

/// Inflate bound of the targets: small, so bombs end fast.
pub const FUZZ_INFLATED_BYTES_MAX: usize = 4 << 20;

const T0: i64 = 1_700_000_000_000;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn fix_batch_crc(bytes: &mut [u8]) {
    let crc = crc32c::crc32c(&bytes[CRC_START_BYTES..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Input: `selector u8 | recordsCount i32 BE | body`. Selector bits 0-2
/// pick the codec (mod 5); bit 3 set: `body` is a compressed payload taken
/// as is (explores the decoders); clear: `body` is a records section the
/// harness compresses (explores the record walker through every codec).
/// Bits 4-7 pick the piece size of the stepped run. Returns whether the
/// batch validated.
pub fn compressed_batch(data: &[u8]) -> bool {
    let Some((&selector, rest)) = data.split_first() else {
        return false;
    };
    let Some(count) = rest.get(..4) else {
        return false;
    };
    let count = i32::from_be_bytes(count.try_into().expect("4 bytes"));
    let body = &rest[4..];
    let compression = CODECS[(selector & 0x07) as usize % CODECS.len()];
    let as_is = selector & 0x08 != 0;
    let piece = 1usize << (selector >> 4);
    let payload = if as_is {
        body.to_vec()
    } else {
        compress(compression, body, Lz4Checksum::Standard).expect("compress in memory")
    };
    let mut bytes = raw_batch(compression.code(), count, TimestampMs(T0), &payload);
    bytes[27..35].copy_from_slice(&T0.to_be_bytes()); // baseTimestamp
    fix_batch_crc(&mut bytes);

    // The records as the uncompressed parser sees them, if the payload
    // inflates: the reference the walker is compared with.
    let inflated = inflate(
        compression,
        &payload,
        FUZZ_INFLATED_BYTES_MAX,
        Lz4Checksum::Standard,
    );
    let reference = inflated
        .as_ref()
        .ok()
        .map(|records| reference_records(&bytes, records));
    if let Some(Ok((_, timestamp_max))) = &reference {
        // Give the header the right maxTimestamp, so the walk and the
        // reference judge the same records.
        bytes[35..43].copy_from_slice(&timestamp_max.to_be_bytes());
        fix_batch_crc(&mut bytes);
    }
    let Ok(batch) = RecordBatch::parse(&bytes, Validation::Client) else {
        return false;
    };
    let one_shot = validate_records(&batch, FUZZ_INFLATED_BYTES_MAX);
    // Pieces may meet a broken stream and a broken record in another order,
    // so only the verdict and a valid batch's summary must agree.
    match (stepped(&batch, piece), &one_shot) {
        (Ok(steps), Ok(once)) => assert_eq!(&steps, once, "steps of {piece}"),
        (Err(_), Err(_)) => {}
        (steps, once) => panic!("steps of {piece}: {steps:?}, one shot: {once:?}"),
    }
    match (&one_shot, &inflated, &reference) {
        (Ok(summary), Ok(records), Some(Ok((reference, _)))) => {
            check_summary(summary, records, reference);
            check_listing(&batch, reference);
            check_rebuild(compression, reference);
        }
        (Ok(_), _, _) => panic!("the walk accepts what the reference refuses: {reference:?}"),
        (Err(_), Ok(_), Some(Ok(_))) => {
            panic!("the walk refuses valid records: {one_shot:?}")
        }
        (Err(_), _, _) => {}
    }
    one_shot.is_ok()
}

fn stepped(batch: &RecordBatch<'_>, piece: usize) -> Result<RecordsSummary, BatchError> {
    let mut validator = BatchValidator::new(*batch, FUZZ_INFLATED_BYTES_MAX)?;
    loop {
        if let Step::Done(summary) = validator.step(piece)? {
            return Ok(summary);
        }
    }
}

/// The records of `records` as `RecordBatch::parse(Client)` reads them
/// when the same header carries them uncompressed, with their largest
/// timestamp.
fn reference_records(header: &[u8], records: &[u8]) -> Result<(Vec<Record>, i64), BatchError> {
    let mut plain = header[..BATCH_HEADER_BYTES].to_vec();
    plain[21..23].copy_from_slice(&0i16.to_be_bytes());
    plain.extend_from_slice(records);
    let length = i32::try_from(plain.len() - 12).map_err(|_| BatchError::Empty)?;
    plain[8..12].copy_from_slice(&length.to_be_bytes());
    fix_batch_crc(&mut plain);
    let batch = RecordBatch::parse(&plain, Validation::Client)?;
    let mut out = Vec::new();
    for record in batch.records().expect("uncompressed") {
        let record = record?;
        let headers = record
            .headers()
            .map(|header| {
                header.map(|header| Header {
                    key: header.key.to_vec(),
                    value: header.value.map(<[u8]>::to_vec),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Record {
            key: record.key.map(<[u8]>::to_vec),
            value: record.value.map(<[u8]>::to_vec),
            headers,
            timestamp: record.timestamp,
        });
    }
    let timestamp_max = out.iter().map(|r| r.timestamp.0).max().unwrap_or(-1);
    Ok((out, timestamp_max))
}

fn check_summary(summary: &RecordsSummary, inflated: &[u8], reference: &[Record]) {
    assert_eq!(summary.records_count as usize, reference.len());
    assert_eq!(summary.inflated_bytes, inflated.len(), "every byte walked");
    let min = reference
        .iter()
        .map(|r| r.timestamp)
        .min()
        .expect("a record");
    let max = reference
        .iter()
        .map(|r| r.timestamp)
        .max()
        .expect("a record");
    assert_eq!((summary.timestamp_min, summary.timestamp_max), (min, max));
    let first_max = reference
        .iter()
        .position(|r| r.timestamp == max)
        .expect("there");
    assert_eq!(summary.offset_delta_of_timestamp_max as usize, first_max);
}

fn check_listing(batch: &RecordBatch<'_>, reference: &[Record]) {
    let mut listed = Vec::new();
    for_each_record_timestamp(batch, FUZZ_INFLATED_BYTES_MAX, &mut |offset, timestamp| {
        listed.push((offset, timestamp));
        ControlFlow::Continue(())
    })
    .expect("a valid batch lists");
    let base = batch.base_offset();
    let expected: Vec<(Offset, TimestampMs)> = reference
        .iter()
        .enumerate()
        .map(|(index, r)| (base.plus(index as i64), r.timestamp))
        .collect();
    assert_eq!(listed, expected);
}

/// Re-encodes the records with the same codec: valid, and the same records.
fn check_rebuild(compression: Compression, reference: &[Record]) {
    let mut builder = BatchBuilder::new().compression(compression);
    for record in reference {
        builder.push(record.clone());
    }
    let rebuilt = builder.build();
    let batch = RecordBatch::parse(&rebuilt, Validation::Client).expect("rebuilt parses");
    let summary = validate_records(&batch, usize::MAX).expect("rebuilt validates");
    assert_eq!(summary.records_count as usize, reference.len());
    let records = inflate(
        compression,
        &rebuilt[BATCH_HEADER_BYTES..],
        usize::MAX,
        Lz4Checksum::Standard,
    )
    .expect("inflates");
    let (again, _) = reference_records(&rebuilt, &records).expect("rebuilt records");
    assert_eq!(again, reference);
}

// ---------------------------------------------------------- legacy formats

/// Where the entries of a message set laid end to end start and end.
fn entry_spans(data: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = 0usize;
    while let Some(size) = data.get(at + 8..at + 12) {
        let size = i32::from_be_bytes(size.try_into().expect("4 bytes"));
        let Ok(size) = usize::try_from(size) else {
            break;
        };
        let end = at + 12 + size;
        if size < 4 || end > data.len() {
            break;
        }
        spans.push((at, end));
        at = end;
    }
    spans
}

/// Input: a produced message set of magic 0 or 1. Checked as given (CRC
/// flips are exercised) and again with every complete entry's CRC-32
/// rewritten, so mutations reach the field parser. Returns whether the
/// set as given was accepted.
pub fn legacy_message_set(data: &[u8]) -> bool {
    let accepted = check_message_set(data);
    let mut fixed = data.to_vec();
    for (start, end) in entry_spans(&fixed) {
        let crc = message_crc(&fixed[start + 16..end]);
        fixed[start + 12..start + 16].copy_from_slice(&crc.to_be_bytes());
    }
    check_message_set(&fixed);
    accepted
}

fn check_message_set(data: &[u8]) -> bool {
    let fetched = read_message_set(data, FUZZ_INFLATED_BYTES_MAX);
    let Ok(set) = parse_message_set(data, FUZZ_INFLATED_BYTES_MAX) else {
        return false;
    };
    // Every byte is a message, and each message encodes back to its bytes.
    let mut reencoded = Vec::new();
    for entry in Messages::new(data) {
        let entry = entry.expect("a parsed set iterates");
        LegacyWrite {
            offset: entry.offset,
            magic: entry.magic,
            attributes: entry.attributes,
            timestamp: entry.timestamp,
            key: entry.key,
            value: entry.value,
        }
        .write(&mut reencoded);
    }
    assert_eq!(reencoded, data, "re-encoded entries differ");
    // An old consumer reads the same messages.
    let (consumed, read) = fetched.expect("a produced set is fetchable");
    assert_eq!(read, data.len());
    assert_eq!(consumed, set.messages);

    // Up-converted: one valid v2 batch with the same keys, values, timestamps.
    let batch_bytes = up_convert(data, FUZZ_INFLATED_BYTES_MAX).expect("up-converts");
    let batch = RecordBatch::parse(&batch_bytes, Validation::Client).expect("a valid batch");
    assert_eq!(batch.compression(), set.compression);
    let summary = validate_records(&batch, usize::MAX).expect("valid records");
    assert_eq!(summary.records_count as usize, set.messages.len());

    // Stored at offset 0 and down-converted to the same magic: the same messages.
    let mut stored = batch_bytes.clone();
    stamp(
        &mut stored,
        AppendStamp {
            base_offset: Offset(0),
            partition_leader_epoch: 0,
            log_append_time: None,
        },
    )
    .expect("stamps");
    let down = down_convert(&stored, set.magic, usize::MAX, &[], usize::MAX).expect("down");
    let (again, read) = read_message_set(&down.message_set, usize::MAX).expect("reads back");
    assert_eq!(read, down.message_set.len());
    assert_eq!(again.len(), set.messages.len());
    for (index, (back, original)) in again.iter().zip(&set.messages).enumerate() {
        assert_eq!(back.offset, index as i64);
        assert_eq!((&back.key, &back.value), (&original.key, &original.value));
        let expected = if set.magic == 0 {
            TimestampMs::NONE
        } else {
            original.timestamp
        };
        assert_eq!(back.timestamp, expected);
    }
    true
}
