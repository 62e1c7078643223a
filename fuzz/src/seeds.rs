//! The seed corpus: a few small, valid inputs per target, built with the
//! engine's own encoders. Written to `fuzz/corpus/<target>/seed-*` by
//! `cargo test -p ringlog-engine --test fuzz_corpus -- --ignored write_seed_corpus`
//! and compiled into that test through `#[path]`, like `checks.rs`.

#![allow(dead_code)]

use engine::offset::{FilePosition, Offset, TimestampMs};
use engine::record_batch::{
    raw_batch, stamp, AppendStamp, BatchBuilder, Header, Record, ATTRIBUTE_LOG_APPEND_TIME,
};
use engine::segment::{OffsetIndex, TimeIndex};

use super::checks::index_input;
use engine::record_batch::legacy::LegacyWrite;
use engine::record_batch::{compress, Compression, Lz4Checksum};

/// One seed file: target, file name, bytes.
pub struct Seed {
    pub target: &'static str,
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

const T0: i64 = 1_700_000_000_000;

fn one_record() -> Vec<u8> {
    BatchBuilder::new()
        .record(Record {
            key: Some(b"k".to_vec()),
            value: Some(b"hello".to_vec()),
            headers: vec![Header {
                key: b"h".to_vec(),
                value: Some(b"v".to_vec()),
            }],
            timestamp: TimestampMs(T0),
        })
        .build()
}

/// Nulls, empties, several headers and timestamps out of order.
fn mixed_records() -> Vec<u8> {
    BatchBuilder::new()
        .record(Record {
            key: None,
            value: Some(b"no key".to_vec()),
            headers: Vec::new(),
            timestamp: TimestampMs(T0 + 5),
        })
        .record(Record {
            key: Some(b"tombstone".to_vec()),
            value: None,
            headers: vec![
                Header {
                    key: b"null-value".to_vec(),
                    value: None,
                },
                Header {
                    key: Vec::new(),
                    value: Some(Vec::new()),
                },
            ],
            timestamp: TimestampMs(T0),
        })
        .record(Record {
            key: Some(Vec::new()),
            value: Some(Vec::new()),
            headers: vec![Header {
                key: b"trace".to_vec(),
                value: Some(b"00-4bf92f-01".to_vec()),
            }],
            timestamp: TimestampMs(T0 + 1_000),
        })
        .build()
}

/// 40 records of 64-byte values from an idempotent producer.
fn many_records() -> Vec<u8> {
    let mut builder = BatchBuilder::new().producer(4242, 3, 100);
    for index in 0..40u8 {
        builder.push(Record {
            key: Some(vec![b'k', index]),
            value: Some(vec![index; 64]),
            headers: Vec::new(),
            timestamp: TimestampMs(T0 + i64::from(index) * 10),
        });
    }
    builder.build()
}

/// A batch as the broker stores it: offset, epoch and LogAppendTime stamped.
fn stamped(mut bytes: Vec<u8>, base_offset: i64) -> Vec<u8> {
    stamp(
        &mut bytes,
        AppendStamp {
            base_offset: Offset(base_offset),
            partition_leader_epoch: 5,
            log_append_time: Some(TimestampMs(T0 + 60_000)),
        },
    )
    .expect("stamp a built batch");
    bytes
}

/// One record whose attributes byte (unused by Kafka, so not 0 only by
/// accident or malice) is 1: valid, but not what `BatchBuilder` writes.
fn record_attributes_one() -> Vec<u8> {
    let built = one_record();
    let mut records = built[61..].to_vec();
    records[1] = 0x01; // after the one-byte record length
    raw_batch(0, 1, TimestampMs(T0), &records)
}

pub fn record_batch_seeds() -> Vec<Seed> {
    let seed = |name, bytes| Seed {
        target: "record_batch",
        name,
        bytes,
    };
    let mut log = stamped(one_record(), 0);
    log.extend(stamped(mixed_records(), 1));
    log.extend(stamped(many_records(), 4));
    vec![
        seed("seed-one-record", one_record()),
        seed("seed-mixed-records", mixed_records()),
        seed("seed-many-records", many_records()),
        seed("seed-stamped", stamped(mixed_records(), 1_000_000)),
        seed("seed-log-of-three-batches", log),
        seed("seed-record-attributes", record_attributes_one()),
        // Gzip and zstd payloads are opaque to the engine: kept as sent.
        seed(
            "seed-gzip-opaque",
            raw_batch(1, 2, TimestampMs(T0), b"\x1f\x8b\x08\x00opaque"),
        ),
        seed(
            "seed-zstd-log-append-time",
            raw_batch(
                4 | ATTRIBUTE_LOG_APPEND_TIME,
                3,
                TimestampMs(T0),
                b"\x28\xb5\x2f\xfdopaque",
            ),
        ),
    ]
}

fn offset_index_file(base: i64, entries: &[(i64, u64)]) -> Vec<u8> {
    let mut index = OffsetIndex::new(Offset(base));
    for &(offset, position) in entries {
        index.push(Offset(offset), FilePosition(position));
    }
    index.encode()
}

fn time_index_file(base: i64, entries: &[(i64, i64)]) -> Vec<u8> {
    let mut index = TimeIndex::new(Offset(base));
    for &(timestamp, offset) in entries {
        index.push(TimestampMs(timestamp), Offset(offset));
    }
    index.encode()
}

pub fn index_seeds() -> Vec<Seed> {
    let offset_seed = |name, bytes| Seed {
        target: "offset_index",
        name,
        bytes,
    };
    let time_seed = |name, bytes| Seed {
        target: "time_index",
        name,
        bytes,
    };
    let log_size = 20_000u64.to_be_bytes();
    let offsets = [(0, 0), (10, 4096), (25, 8192), (26, 12288)];
    let rebased: Vec<(i64, u64)> = offsets
        .iter()
        .map(|&(offset, position)| (offset + 1_000_000, position))
        .collect();
    let times = [(T0, 0), (T0 + 10, 10), (T0 + 500, 10), (T0 + 501, 26)];
    let next_offset = 30i64.to_be_bytes();
    vec![
        offset_seed("seed-empty", index_input(0, log_size, &[], &[])),
        offset_seed(
            "seed-four-entries",
            index_input(
                0,
                log_size,
                &[-1, 0, 9, 10, 25, 1_000],
                &offset_index_file(0, &offsets),
            ),
        ),
        offset_seed(
            "seed-rebased",
            index_input(
                1_000_000,
                log_size,
                &[999_999, 1_000_010, 1_000_026],
                &offset_index_file(1_000_000, &rebased),
            ),
        ),
        time_seed("seed-empty", index_input(0, next_offset, &[], &[])),
        time_seed(
            "seed-four-entries",
            index_input(
                0,
                next_offset,
                &[-1, T0, T0 + 11, T0 + 501, 26],
                &time_index_file(0, &times),
            ),
        ),
    ]
}

/// `compressed_batch` input: selector (codec | 0x08 when the body is a
/// payload as is | piece-size exponent << 4), recordsCount, body.
fn compressed_input(selector: u8, count: i32, body: &[u8]) -> Vec<u8> {
    let mut out = vec![selector];
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(body);
    out
}

pub fn compressed_batch_seeds() -> Vec<Seed> {
    let seed = |name, bytes| Seed {
        target: "compressed_batch",
        name,
        bytes,
    };
    let mixed = mixed_records()[61..].to_vec();
    let many = many_records()[61..].to_vec();
    let mut seeds = vec![
        seed("seed-records-none", compressed_input(0x30, 3, &mixed)),
        seed("seed-records-gzip", compressed_input(0x01, 3, &mixed)),
        seed("seed-records-snappy", compressed_input(0x22, 40, &many)),
        seed("seed-records-lz4", compressed_input(0x53, 40, &many)),
        seed("seed-records-zstd", compressed_input(0x04, 3, &mixed)),
    ];
    // Payloads as a client compressed them, for the decoders.
    let names = [
        "seed-payload-gzip",
        "seed-payload-snappy-xerial",
        "seed-payload-lz4",
        "seed-payload-zstd",
    ];
    for (code, name) in (1u8..=4).zip(names) {
        let compression = Compression::from_attributes(i16::from(code)).expect("a codec");
        let payload = compress(compression, &many, Lz4Checksum::Standard).expect("compress");
        seeds.push(seed(
            name,
            compressed_input(0x08 | code | 0x10, 40, &payload),
        ));
    }
    let raw_snappy = snap_raw(&mixed);
    seeds.push(seed(
        "seed-payload-snappy-raw",
        compressed_input(0x08 | 2, 3, &raw_snappy),
    ));
    seeds
}

/// Raw snappy (librdkafka's framing): the xerial block without its header.
fn snap_raw(records: &[u8]) -> Vec<u8> {
    let xerial = compress(Compression::Snappy, records, Lz4Checksum::Standard).expect("snappy");
    // 16-byte stream header, 4-byte block length, one block (records < 32 KiB).
    xerial[20..].to_vec()
}

fn legacy_message(
    offset: i64,
    magic: i8,
    attributes: i8,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::new();
    LegacyWrite {
        offset,
        magic,
        attributes,
        timestamp: TimestampMs(T0 + offset),
        key,
        value,
    }
    .write(&mut out);
    out
}

fn legacy_plain(magic: i8) -> Vec<u8> {
    let mut set = legacy_message(0, magic, 0, Some(b"k"), Some(b"hello"));
    set.extend(legacy_message(1, magic, 0, None, Some(b"no key")));
    set.extend(legacy_message(2, magic, 0, Some(b"tombstone"), None));
    set.extend(legacy_message(3, magic, 0, Some(b""), Some(b"")));
    set
}

fn legacy_wrapper(magic: i8, compression: Compression) -> Vec<u8> {
    let inner = legacy_plain(magic);
    let value = compress(compression, &inner, Lz4Checksum::for_magic(magic)).expect("compress");
    // The wrapper's offset: the last inner one (absolute for magic 1).
    legacy_message(3, magic, compression.code() as i8, None, Some(&value))
}

pub fn legacy_message_set_seeds() -> Vec<Seed> {
    let seed = |name, bytes| Seed {
        target: "legacy_message_set",
        name,
        bytes,
    };
    vec![
        seed("seed-v0-plain", legacy_plain(0)),
        seed("seed-v1-plain", legacy_plain(1)),
        seed("seed-v0-gzip", legacy_wrapper(0, Compression::Gzip)),
        seed("seed-v1-gzip", legacy_wrapper(1, Compression::Gzip)),
        seed("seed-v0-snappy", legacy_wrapper(0, Compression::Snappy)),
        seed("seed-v1-snappy", legacy_wrapper(1, Compression::Snappy)),
        seed(
            "seed-v0-lz4-broken-checksum",
            legacy_wrapper(0, Compression::Lz4),
        ),
        seed("seed-v1-lz4", legacy_wrapper(1, Compression::Lz4)),
        // LogAppendTime wrapper (bit 3): inner messages take its timestamp.
        seed("seed-v1-log-append-time", {
            let inner = legacy_plain(1);
            let value = compress(Compression::Gzip, &inner, Lz4Checksum::Standard).expect("gzip");
            legacy_message(3, 1, 0x08 | 1, None, Some(&value))
        }),
    ]
}

pub fn all() -> Vec<Seed> {
    let mut seeds = record_batch_seeds();
    seeds.extend(index_seeds());
    seeds.extend(compressed_batch_seeds());
    seeds.extend(legacy_message_set_seeds());
    seeds
}
