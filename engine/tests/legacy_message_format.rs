//! Message formats v0 and v1 (record_batch/legacy.rs): golden bytes with a
//! comment per field, CRC flips and cuts refused, wrappers opened as Kafka
//! opens them, up-conversion to one v2 batch, down-conversion of stored
//! batches, and the round trip v2 -> v0/v1 -> v2 as a property.

use engine::limits::BATCH_HEADER_BYTES;
use engine::record_batch::legacy::{
    down_convert, parse_message, parse_message_set, read_message_set, up_convert,
    AbortedTransaction, LegacyMessage, LegacyWrite, MessageSet,
};
use engine::record_batch::{
    compress, stamp, validate_records, AppendStamp, BatchBuilder, Compression, Header, Lz4Checksum,
    Record, RecordBatch, Validation, CRC_START_BYTES,
};
use engine::{BatchError, Offset, TimestampMs};
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000;
const BOUND: usize = 1 << 20;

#[rustfmt::skip]
const V0_MESSAGE: [u8; 28] = [
    0, 0, 0, 0, 0, 0, 0, 7,   // offset 7
    0, 0, 0, 16,              // message size 16
    0xfd, 0x6e, 0xbd, 0xdb,   // CRC-32 (IEEE) of the 12 bytes after it
    0,                        // magic 0
    0,                        // attributes: no codec
    0xff, 0xff, 0xff, 0xff,   // key: null
    0, 0, 0, 2, b'h', b'i',   // value: "hi"
];

#[rustfmt::skip]
const V1_MESSAGE: [u8; 37] = [
    0, 0, 0, 0, 0, 0, 0, 0,   // offset 0
    0, 0, 0, 25,              // message size 25
    0x8f, 0x82, 0xf0, 0x6d,   // CRC-32 (IEEE) of the 21 bytes after it
    1,                        // magic 1
    0,                        // attributes: no codec, CreateTime
    0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // timestamp 1_700_000_000_000
    0, 0, 0, 1, b'k',         // key: "k"
    0, 0, 0, 2, b'h', b'i',   // value: "hi"
];

#[test]
fn golden_messages_parse_and_encode_byte_for_byte() {
    let v0 = parse_message(&V0_MESSAGE).expect("v0");
    assert_eq!((v0.offset, v0.magic, v0.attributes), (7, 0, 0));
    assert_eq!(v0.timestamp, TimestampMs::NONE);
    assert_eq!((v0.key, v0.value), (None, Some(&b"hi"[..])));
    assert_eq!(v0.entry_bytes, V0_MESSAGE.len());
    let v1 = parse_message(&V1_MESSAGE).expect("v1");
    assert_eq!((v1.offset, v1.magic), (0, 1));
    assert_eq!(v1.timestamp, TimestampMs(T0));
    assert_eq!((v1.key, v1.value), (Some(&b"k"[..]), Some(&b"hi"[..])));
    for (golden, view) in [(&V0_MESSAGE[..], v0), (&V1_MESSAGE[..], v1)] {
        let mut out = Vec::new();
        LegacyWrite {
            offset: view.offset,
            magic: view.magic,
            attributes: view.attributes,
            timestamp: view.timestamp,
            key: view.key,
            value: view.value,
        }
        .write(&mut out);
        assert_eq!(out, golden);
    }
}

#[test]
fn every_flipped_bit_and_every_cut_is_refused() {
    for golden in [&V0_MESSAGE[..], &V1_MESSAGE[..]] {
        // Bits after the size field: the CRC or the magic check catches them.
        for at in 12..golden.len() {
            for bit in 0..8 {
                let mut bytes = golden.to_vec();
                bytes[at] ^= 1 << bit;
                match parse_message(&bytes) {
                    Err(BatchError::LegacyCrcMismatch { .. }) => {}
                    other => panic!("bit {bit} of byte {at}: {other:?}"),
                }
            }
        }
        for cut in 0..golden.len() {
            assert!(parse_message(&golden[..cut]).is_err(), "cut at {cut}");
            assert!(
                parse_message_set(&golden[..cut], BOUND).is_err(),
                "cut at {cut}"
            );
        }
    }
}

fn message(
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: &[u8],
    value: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    LegacyWrite {
        offset,
        magic,
        attributes,
        timestamp: TimestampMs(timestamp),
        key: Some(key),
        value: Some(value),
    }
    .write(&mut out);
    out
}

fn wrapper(magic: i8, codec: Compression, offset: i64, timestamp: i64, inner: &[u8]) -> Vec<u8> {
    let value = compress(codec, inner, Lz4Checksum::for_magic(magic)).unwrap();
    let mut out = Vec::new();
    LegacyWrite {
        offset,
        magic,
        attributes: codec.code() as i8,
        timestamp: TimestampMs(timestamp),
        key: None,
        value: Some(&value),
    }
    .write(&mut out);
    out
}

#[test]
fn wrappers_open_with_relative_offsets_for_magic_1_and_absolute_for_magic_0() {
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
        let mut inner1 = message(0, 1, 0, T0, b"a", b"one");
        inner1.extend(message(1, 1, 0, T0 + 5, b"b", b"two"));
        inner1.extend(message(2, 1, 0, T0 + 2, b"c", b"three"));
        let set = parse_message_set(&wrapper(1, codec, 42, T0 + 5, &inner1), BOUND).unwrap();
        assert_eq!((set.magic, set.compression), (1, codec));
        let offsets: Vec<i64> = set.messages.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, [40, 41, 42], "wrapper 42 holds the last");
        let timestamps: Vec<i64> = set.messages.iter().map(|m| m.timestamp.0).collect();
        assert_eq!(timestamps, [T0, T0 + 5, T0 + 2]);

        let mut inner0 = message(10, 0, 0, -1, b"a", b"one");
        inner0.extend(message(11, 0, 0, -1, b"b", b"two"));
        let set = parse_message_set(&wrapper(0, codec, 11, -1, &inner0), BOUND).unwrap();
        let offsets: Vec<i64> = set.messages.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, [10, 11]);
        assert!(set
            .messages
            .iter()
            .all(|m| m.timestamp == TimestampMs::NONE));
    }
}

#[test]
fn the_rules_of_a_produced_set_are_kafkas() {
    let plain = message(0, 1, 0, T0, b"k", b"v");
    let inner = message(0, 1, 0, T0, b"k", b"v");
    let gzip = wrapper(1, Compression::Gzip, 0, T0, &inner);
    let reason = |bytes: &[u8]| match parse_message_set(bytes, BOUND) {
        Err(BatchError::LegacyMessageSetInvalid { reason }) => reason,
        other => panic!("expected a refused set, got {other:?}"),
    };
    assert_eq!(
        reason(&[plain.clone(), gzip.clone()].concat()),
        "a compressed wrapper next to other messages"
    );
    assert_eq!(
        reason(&[gzip.clone(), plain.clone()].concat()),
        "a compressed wrapper next to other messages"
    );
    assert_eq!(
        reason(&[plain.clone(), message(1, 0, 0, -1, b"k", b"v")].concat()),
        "messages of different magics in one set"
    );
    assert_eq!(
        reason(&wrapper(1, Compression::Gzip, 0, T0, &gzip)),
        "a compressed message inside a compressed wrapper"
    );
    assert_eq!(
        reason(&wrapper(
            1,
            Compression::Gzip,
            0,
            T0,
            &message(0, 0, 0, -1, b"k", b"v")
        )),
        "an inner message's magic differs from its wrapper's"
    );
    assert_eq!(
        reason(&wrapper(1, Compression::Gzip, 0, T0, b"")),
        "a compressed wrapper with no inner messages"
    );
    // zstd (codec 4) does not exist before magic 2: UNSUPPORTED_COMPRESSION_TYPE.
    assert_eq!(
        parse_message_set(&message(0, 1, 4, T0, b"k", b"v"), BOUND),
        Err(BatchError::CompressionUnsupportedForMagic {
            compression: Compression::Zstd,
            magic: 1
        })
    );
    assert_eq!(parse_message_set(&[], BOUND), Err(BatchError::Empty));
    // A wrapper whose inner set inflates past the bound.
    let big = message(0, 1, 0, T0, b"k", &vec![0u8; 4 << 20]);
    assert!(matches!(
        parse_message_set(&wrapper(1, Compression::Gzip, 0, T0, &big), BOUND),
        Err(BatchError::InflatedTooLarge { .. })
    ));
}

/// Key, value, offset and timestamp of a record.
type RecordFields = (Option<Vec<u8>>, Option<Vec<u8>>, i64, i64);

fn batch_records(batch: &[u8]) -> Vec<RecordFields> {
    let batch = RecordBatch::parse(batch, Validation::Stored).unwrap();
    let payload = &batch.as_bytes()[BATCH_HEADER_BYTES..];
    let inflated =
        engine::record_batch::inflate(batch.compression(), payload, BOUND, Lz4Checksum::Standard)
            .unwrap();
    // Rebuild an uncompressed batch around the records to read them.
    let mut plain = batch.as_bytes()[..BATCH_HEADER_BYTES].to_vec();
    plain[21..23].copy_from_slice(&0i16.to_be_bytes());
    plain.extend_from_slice(&inflated);
    let length = (plain.len() - 12) as i32;
    plain[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&plain[CRC_START_BYTES..]);
    plain[17..21].copy_from_slice(&crc.to_be_bytes());
    let plain = RecordBatch::parse(&plain, Validation::Client).expect("records are valid");
    plain
        .records()
        .unwrap()
        .map(|record| {
            let record = record.unwrap();
            (
                record.key.map(<[u8]>::to_vec),
                record.value.map(<[u8]>::to_vec),
                record.offset.0,
                record.timestamp.0,
            )
        })
        .collect()
}

#[test]
fn up_conversion_keeps_codec_keys_values_and_timestamps() {
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
    ] {
        for magic in [0i8, 1] {
            let ts = |t: i64| if magic == 0 { -1 } else { t };
            let mut inner = message(0, magic, 0, ts(T0 + 9), b"", b"first");
            inner.extend(message(1, magic, 0, ts(T0), b"k2", b""));
            let set = if codec == Compression::None {
                inner.clone()
            } else {
                wrapper(magic, codec, 1, ts(T0 + 9), &inner)
            };
            let batch_bytes = up_convert(&set, BOUND).expect("up-convert");
            let batch = RecordBatch::parse(&batch_bytes, Validation::Client).expect("client");
            assert_eq!(batch.compression(), codec, "the wrapper's codec is kept");
            assert_eq!((batch.base_offset(), batch.records_count()), (Offset(0), 2));
            assert_eq!(batch.producer_id(), -1);
            validate_records(&batch, BOUND).expect("a valid batch");
            assert_eq!(
                batch_records(&batch_bytes),
                [
                    (Some(vec![]), Some(b"first".to_vec()), 0, ts(T0 + 9)),
                    (Some(b"k2".to_vec()), Some(vec![]), 1, ts(T0)),
                ],
                "{codec:?} magic {magic}"
            );
        }
    }
}

fn record(key: &[u8], value: &[u8], timestamp: i64) -> Record {
    Record {
        key: Some(key.to_vec()),
        value: Some(value.to_vec()),
        headers: vec![Header {
            key: b"dropped".to_vec(),
            value: None,
        }],
        timestamp: TimestampMs(timestamp),
    }
}

fn stored(mut bytes: Vec<u8>, base_offset: i64, append_time: Option<i64>) -> Vec<u8> {
    stamp(
        &mut bytes,
        AppendStamp {
            base_offset: Offset(base_offset),
            partition_leader_epoch: 0,
            log_append_time: append_time.map(TimestampMs),
        },
    )
    .unwrap();
    bytes
}

/// Sets attribute bits (transactional 0x10, control 0x20) and the producer.
fn with_attributes(mut bytes: Vec<u8>, bits: i16, producer_id: i64) -> Vec<u8> {
    let attributes = i16::from_be_bytes([bytes[21], bytes[22]]) | bits;
    bytes[21..23].copy_from_slice(&attributes.to_be_bytes());
    bytes[43..51].copy_from_slice(&producer_id.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[CRC_START_BYTES..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes
}

#[test]
fn down_conversion_writes_absolute_offsets_and_one_wrapper_per_compressed_batch() {
    let plain = stored(
        BatchBuilder::new()
            .record(record(b"a", b"1", T0))
            .record(record(b"b", b"2", T0 + 3))
            .build(),
        100,
        None,
    );
    let gzip = stored(
        BatchBuilder::new()
            .compression(Compression::Gzip)
            .record(record(b"c", b"3", T0 + 7))
            .record(record(b"d", b"4", T0 + 1))
            .build(),
        102,
        None,
    );
    let appended = stored(
        BatchBuilder::new()
            .compression(Compression::Lz4)
            .record(record(b"e", b"5", 1))
            .build(),
        104,
        Some(T0 + 60),
    );
    let log = [plain, gzip, appended].concat();
    for magic in [0i8, 1] {
        let converted = down_convert(&log, magic, BOUND, &[], usize::MAX).unwrap();
        assert_eq!((converted.batches, converted.messages), (3, 5));
        assert_eq!(converted.next_offset, Some(Offset(105)));
        assert!(!converted.partial_tail);
        // Shallow: two plain messages, then one wrapper per compressed batch.
        let mut shallow = Vec::new();
        let mut rest = &converted.message_set[..];
        while !rest.is_empty() {
            let entry = parse_message(rest).unwrap();
            shallow.push((
                entry.offset,
                entry.magic,
                entry.compression().unwrap(),
                entry.timestamp.0,
            ));
            rest = &rest[entry.entry_bytes..];
        }
        let ts = |t: i64| if magic == 0 { -1 } else { t };
        assert_eq!(
            shallow,
            [
                (100, magic, Compression::None, ts(T0)),
                (101, magic, Compression::None, ts(T0 + 3)),
                (103, magic, Compression::Gzip, ts(T0 + 7)),
                (104, magic, Compression::Lz4, ts(T0 + 60)),
            ]
        );
        let (messages, read) = read_message_set(&converted.message_set, BOUND).unwrap();
        assert_eq!(read, converted.message_set.len());
        let expected: Vec<LegacyMessage> = [
            (100, T0, "a", "1"),
            (101, T0 + 3, "b", "2"),
            (102, T0 + 7, "c", "3"),
            (103, T0 + 1, "d", "4"),
            (104, T0 + 60, "e", "5"),
        ]
        .iter()
        .map(|&(offset, timestamp, key, value)| LegacyMessage {
            offset,
            timestamp: TimestampMs(ts(timestamp)),
            key: Some(key.as_bytes().to_vec()),
            value: Some(value.as_bytes().to_vec()),
        })
        .collect();
        assert_eq!(messages, expected, "magic {magic}");
    }
}

#[test]
fn down_conversion_leaves_out_control_batches_and_aborted_data_and_refuses_zstd() {
    let data = |base, producer| {
        with_attributes(
            stored(
                BatchBuilder::new().record(record(b"k", b"v", T0)).build(),
                base,
                None,
            ),
            0x10,
            producer,
        )
    };
    let marker = |base, producer| with_attributes(data(base, producer), 0x20, producer);
    let log = [
        data(0, 7),   // aborted below
        data(1, 8),   // committed
        marker(2, 7), // abort marker of 7
        marker(3, 8), // commit marker of 8
        data(4, 7),   // a new transaction of 7
    ]
    .concat();
    let offsets = |aborted: &[AbortedTransaction]| {
        let converted = down_convert(&log, 1, BOUND, aborted, usize::MAX).unwrap();
        let (messages, _) = read_message_set(&converted.message_set, BOUND).unwrap();
        messages.iter().map(|m| m.offset).collect::<Vec<_>>()
    };
    assert_eq!(
        offsets(&[]),
        [0, 1, 4],
        "read_uncommitted: control batches only"
    );
    let aborted = [AbortedTransaction {
        producer_id: 7,
        first_offset: Offset(0),
    }];
    assert_eq!(offsets(&aborted), [1, 4]);

    let zstd = stored(
        BatchBuilder::new()
            .compression(Compression::Zstd)
            .record(record(b"k", b"v", T0))
            .build(),
        0,
        None,
    );
    assert_eq!(
        down_convert(&zstd, 1, BOUND, &[], usize::MAX),
        Err(BatchError::CompressionUnsupportedForMagic {
            compression: Compression::Zstd,
            magic: 1
        })
    );
}

#[test]
fn a_partial_last_batch_is_left_out_and_alone_becomes_an_overflow_entry() {
    let first = stored(
        BatchBuilder::new().record(record(b"a", b"1", T0)).build(),
        10,
        None,
    );
    let second = stored(
        BatchBuilder::new().record(record(b"b", b"2", T0)).build(),
        11,
        None,
    );
    let log = [first.clone(), second.clone()].concat();
    for cut in first.len() + 1..log.len() {
        let converted = down_convert(&log[..cut], 1, BOUND, &[], usize::MAX).unwrap();
        assert!(converted.partial_tail);
        assert_eq!(converted.next_offset, Some(Offset(11)));
        let (messages, _) = read_message_set(&converted.message_set, BOUND).unwrap();
        assert_eq!(messages.len(), 1);
    }
    for cut in 1..first.len() {
        let converted = down_convert(&first[..cut], 1, BOUND, &[], usize::MAX).unwrap();
        assert!(converted.partial_tail);
        assert_eq!(converted.next_offset, None);
        let entry = &converted.message_set;
        if cut >= 8 {
            assert_eq!(
                entry[..8],
                10i64.to_be_bytes(),
                "the partial batch's offset"
            );
        }
        let claimed = i32::from_be_bytes(entry[8..12].try_into().unwrap()) as usize;
        assert!(
            claimed > entry.len() - 12,
            "an overflow entry claims more than follows"
        );
        let (messages, read) = read_message_set(entry, BOUND).unwrap();
        assert_eq!(
            (messages.len(), read),
            (0, 0),
            "an old consumer sees a partial message"
        );
    }
    // The output bound: stop after the batch that reaches it.
    let converted = down_convert(&log, 1, BOUND, &[], 1).unwrap();
    assert_eq!(
        (converted.batches, converted.next_offset),
        (1, Some(Offset(11)))
    );
}

fn arb_records() -> impl Strategy<Value = Vec<Record>> {
    let field = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40));
    proptest::collection::vec((field.clone(), field, 0i64..1_000_000, 0usize..3), 1..20).prop_map(
        |records| {
            records
                .into_iter()
                .map(|(key, value, delta, headers)| Record {
                    key,
                    value,
                    headers: (0..headers)
                        .map(|h| Header {
                            key: vec![b'h', h as u8],
                            value: None,
                        })
                        .collect(),
                    timestamp: TimestampMs(T0 + delta),
                })
                .collect()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// v2 -> down -> up gives the same keys, values, offsets and timestamps
    /// (-1 for magic 0), and the down-converted set is read to its last byte.
    #[test]
    fn v2_down_then_up_round_trips(
        records in arb_records(),
        codec in prop_oneof![
            Just(Compression::None),
            Just(Compression::Gzip),
            Just(Compression::Snappy),
            Just(Compression::Lz4),
        ],
        magic in 0i8..2,
        base_offset in 0i64..1_000_000_000,
    ) {
        let mut builder = BatchBuilder::new().compression(codec);
        for record in &records {
            builder.push(record.clone());
        }
        let original = stored(builder.build(), base_offset, None);
        let converted = down_convert(&original, magic, BOUND, &[], usize::MAX).unwrap();
        prop_assert_eq!(converted.messages, records.len());
        let (fetched, read) = read_message_set(&converted.message_set, BOUND).unwrap();
        prop_assert_eq!(read, converted.message_set.len());
        let ts = |t: TimestampMs| if magic == 0 { TimestampMs::NONE } else { t };
        for (index, (message, record)) in fetched.iter().zip(&records).enumerate() {
            prop_assert_eq!(message.offset, base_offset + index as i64);
            prop_assert_eq!(message.timestamp, ts(record.timestamp));
            prop_assert_eq!(&message.key, &record.key);
            prop_assert_eq!(&message.value, &record.value);
        }
        // As a producer would send it: parsed under produce rules, up-converted.
        let set: MessageSet = parse_message_set(&converted.message_set, BOUND).unwrap();
        prop_assert_eq!(set.compression, codec);
        let up = up_convert(&converted.message_set, BOUND).unwrap();
        let batch = RecordBatch::parse(&up, Validation::Client).unwrap();
        prop_assert_eq!(batch.compression(), codec);
        validate_records(&batch, BOUND).unwrap();
        let expected: Vec<_> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key.clone(), r.value.clone(), i as i64, ts(r.timestamp).0))
            .collect();
        prop_assert_eq!(batch_records(&up), expected);
    }
}
