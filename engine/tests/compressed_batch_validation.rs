//! Compressed v2 batches from a producer, validated as Kafka's LogValidator
//! does (record_batch/validate.rs), and the codecs framed as Kafka frames
//! them (record_batch/compression.rs): every codec, every check, the bound
//! on inflated bytes, and cooperative steps that agree with one shot.

use std::ops::ControlFlow;

use engine::limits::{batch_inflated_bytes_max, BATCH_HEADER_BYTES, MESSAGE_BYTES_DEFAULT};
use engine::record_batch::compression::{compress, inflate, Inflater, Lz4Checksum};
use engine::record_batch::varint::encode_i64;
use engine::record_batch::{
    raw_batch, record_offsets_and_timestamps, validate_records, BatchBuilder, BatchValidator,
    Compression, Header, Record, RecordBatch, Step, Validation, CRC_START_BYTES,
};
use engine::{BatchError, Offset, TimestampMs};

const T0: i64 = 1_700_000_000_000;
const CODECS: [Compression; 4] = [
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];
const BOUND: usize = batch_inflated_bytes_max(MESSAGE_BYTES_DEFAULT);

fn records(count: usize) -> Vec<Record> {
    (0..count)
        .map(|index| Record {
            key: (index % 3 != 0).then(|| format!("key-{index}").into_bytes()),
            value: (index % 5 != 4).then(|| vec![b'a' + (index % 26) as u8; index * 7]),
            headers: (0..index % 3)
                .map(|h| Header {
                    key: format!("h{h}").into_bytes(),
                    value: (h % 2 == 0).then(|| b"v".to_vec()),
                })
                .collect(),
            // Out of order, so the largest is not the last.
            timestamp: TimestampMs(T0 + ((index * 37) % 11) as i64),
        })
        .collect()
}

fn batch(compression: Compression, count: usize) -> Vec<u8> {
    let mut builder = BatchBuilder::new().compression(compression);
    for record in records(count) {
        builder.push(record);
    }
    builder.build()
}

/// The records section (uncompressed) of `records`, as BatchBuilder writes it.
fn records_section(records: &[Record]) -> Vec<u8> {
    let mut builder = BatchBuilder::new();
    for record in records {
        builder.push(record.clone());
    }
    builder.build()[BATCH_HEADER_BYTES..].to_vec()
}

/// A client batch whose compressed payload is `raw` under `compression`.
fn batch_around(compression: Compression, count: i32, max_ts: i64, raw: &[u8]) -> Vec<u8> {
    let payload = compress(compression, raw, Lz4Checksum::Standard).expect("compress");
    let mut bytes = raw_batch(compression.code(), count, TimestampMs(max_ts), &payload);
    // raw_batch sets baseTimestamp = maxTimestamp; BatchBuilder's deltas
    // count from the smallest timestamp, T0 here.
    bytes[27..35].copy_from_slice(&T0.to_be_bytes());
    fix_crc(&mut bytes);
    bytes
}

fn fix_crc(bytes: &mut [u8]) {
    let crc = crc32c::crc32c(&bytes[CRC_START_BYTES..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn validate(bytes: &[u8]) -> Result<engine::record_batch::RecordsSummary, BatchError> {
    let batch = RecordBatch::parse(bytes, Validation::Client)?;
    validate_records(&batch, BOUND)
}

#[test]
fn every_codec_validates_and_lists_its_records() {
    for compression in CODECS {
        let bytes = batch(compression, 50);
        let summary = validate(&bytes).unwrap_or_else(|e| panic!("{compression:?}: {e}"));
        assert_eq!(summary.records_count, 50);
        assert_eq!(summary.timestamp_min, TimestampMs(T0));
        assert_eq!(summary.timestamp_max, TimestampMs(T0 + 10));
        // (index * 37) % 11 == 10 first at index 8.
        assert_eq!(summary.offset_delta_of_timestamp_max, 8);
        let uncompressed = records_section(&records(50));
        assert_eq!(summary.inflated_bytes, uncompressed.len());

        let batch = RecordBatch::parse(&bytes, Validation::Stored).expect("stored");
        let listed = record_offsets_and_timestamps(&batch, BOUND).expect("list");
        let expected: Vec<(Offset, TimestampMs)> = records(50)
            .iter()
            .enumerate()
            .map(|(index, record)| (Offset(index as i64), record.timestamp))
            .collect();
        assert_eq!(listed, expected, "{compression:?}");
    }
}

#[test]
fn steps_of_any_size_agree_with_one_shot() {
    for compression in CODECS {
        let bytes = batch(compression, 30);
        let one_shot = validate(&bytes).expect("valid");
        for piece in [1usize, 2, 3, 7, 64, 1000, 65_536] {
            let batch = RecordBatch::parse(&bytes, Validation::Client).expect("client");
            let mut validator = BatchValidator::new(batch, BOUND).expect("validator");
            let mut steps = 0;
            let summary = loop {
                steps += 1;
                match validator.step(piece).expect("step") {
                    Step::Pending => assert!(validator.inflated_bytes() <= steps * piece),
                    Step::Done(summary) => break summary,
                }
            };
            assert_eq!(summary, one_shot, "{compression:?} in pieces of {piece}");
            if piece == 1 {
                assert!(steps > one_shot.inflated_bytes, "one byte per step");
            }
        }
    }
}

#[test]
fn uncompressed_batches_walk_the_same_way() {
    let bytes = batch(Compression::None, 20);
    let summary = validate(&bytes).expect("valid");
    assert_eq!(summary.records_count, 20);
    assert_eq!(summary.inflated_bytes, bytes.len() - BATCH_HEADER_BYTES);
}

/// The case of issue 12: a gzip batch that claims 2^31-2 records.
#[test]
fn a_record_count_the_payload_does_not_hold_is_refused() {
    let raw = records_section(&records(3));
    for compression in CODECS {
        for claimed in [i32::MAX - 1, 4, 2] {
            let bytes = batch_around(compression, claimed, T0 + 8, &raw);
            let error = validate(&bytes).expect_err("count mismatch");
            let reason = match error {
                BatchError::RecordMalformed { reason, .. } => reason,
                other => panic!("{compression:?} claiming {claimed}: {other:?}"),
            };
            let expected = if claimed > 3 {
                "records section ends before recordsCount records"
            } else {
                "bytes left after the last record"
            };
            assert_eq!(reason, expected, "{compression:?} claiming {claimed}");
        }
        // Timestamps T0, T0 + 4, T0 + 8.
        assert!(validate(&batch_around(compression, 3, T0 + 8, &raw)).is_ok());
    }
}

/// One record with the given offset delta and value, encoded by hand.
fn record_bytes(offset_delta: i64, value: &[u8], out: &mut Vec<u8>) {
    let mut body = vec![0u8]; // attributes
    encode_i64(0, &mut body); // timestampDelta
    encode_i64(offset_delta, &mut body);
    encode_i64(-1, &mut body); // key: null
    encode_i64(value.len() as i64, &mut body);
    body.extend_from_slice(value);
    encode_i64(0, &mut body); // headerCount
    encode_i64(body.len() as i64, out);
    out.extend_from_slice(&body);
}

#[test]
fn each_record_check_rejects_what_it_names() {
    let reason_of =
        |raw: &[u8], count: i32| match validate(&batch_around(Compression::Gzip, count, T0, raw)) {
            Err(BatchError::RecordMalformed { reason, .. }) => reason,
            other => panic!("expected a malformed record, got {other:?}"),
        };
    let mut deltas = Vec::new();
    record_bytes(0, b"a", &mut deltas);
    record_bytes(2, b"b", &mut deltas);
    assert_eq!(reason_of(&deltas, 2), "offset delta out of sequence");

    let mut good = Vec::new();
    record_bytes(0, b"value", &mut good);
    // Length one short: the header count overruns it.
    let mut short = good.clone();
    short[0] -= 2;
    assert_eq!(
        reason_of(&short, 1),
        "record fields overrun the record length"
    );
    // Length one long, with a spare byte: left over after the headers.
    let mut long = good.clone();
    long[0] += 2;
    long.push(0);
    assert_eq!(reason_of(&long, 1), "bytes left after the record's headers");
    // Value length past the record.
    let mut past = good.clone();
    past[5] = 0x7e; // value length 63
    assert_eq!(
        reason_of(&past, 1),
        "record fields overrun the record length"
    );
    // Value length below -1.
    let mut below = good.clone();
    below[5] = 0x03; // zig-zag -2
    assert_eq!(reason_of(&below, 1), "invalid key, value or header length");
    // A negative record length.
    assert_eq!(reason_of(&[0x01], 1), "negative record length");
    // A varint of six bytes.
    assert_eq!(
        reason_of(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 1),
        "varint too long"
    );
    // Header count larger than the record can hold.
    let mut headers = good.clone();
    let last = headers.len() - 1;
    headers[last] = 0x7e;
    assert_eq!(reason_of(&headers, 1), "impossible header count");
    // A null header key.
    let mut null_key = Vec::new();
    let body = [0u8, 0, 0, 1, 1, 2, 1, 1];
    // attributes, ts 0, delta 0, key null, value null, 1 header, key -1, value -1
    encode_i64(body.len() as i64, &mut null_key);
    null_key.extend_from_slice(&body);
    assert_eq!(
        reason_of(&null_key, 1),
        "invalid key, value or header length"
    );
}

#[test]
fn a_wrong_create_time_max_timestamp_is_rewritten_not_refused() {
    let raw = records_section(&records(5));
    for compression in CODECS {
        // Sarama writes -1; a header may also claim a later time.
        for header_max in [-1, T0 + 99] {
            let mut wrong = batch_around(compression, 5, header_max, &raw);
            let summary = validate(&wrong).expect("valid records");
            assert_eq!(summary.timestamp_max, TimestampMs(T0 + 8));
            engine::record_batch::set_max_timestamp(&mut wrong, summary.timestamp_max);
            let fixed = RecordBatch::parse(&wrong, Validation::Client).expect("a true CRC");
            assert_eq!(fixed.max_timestamp(), TimestampMs(T0 + 8));
            assert_eq!(validate(&wrong).unwrap(), summary);
        }
    }
    // LogAppendTime: the broker stamps maxTimestamp itself.
    let payload = compress(Compression::Lz4, &raw, Lz4Checksum::Standard).unwrap();
    let mut bytes = raw_batch(Compression::Lz4.code() | 0x08, 5, TimestampMs(1), &payload);
    bytes[27..35].copy_from_slice(&T0.to_be_bytes());
    fix_crc(&mut bytes);
    assert!(validate(&bytes).is_ok());
}

/// 64 MiB of zeros compress to a few KiB: the bound stops the inflater
/// after at most one byte past it, whatever the codec.
#[test]
fn a_decompression_bomb_stops_at_the_bound() {
    let zeros = vec![0u8; 64 << 20];
    let max = 1 << 20;
    for compression in CODECS {
        let payload = compress(compression, &zeros, Lz4Checksum::Standard).expect("compress");
        assert!(
            payload.len() < 4 << 20,
            "{compression:?}: {}",
            payload.len()
        );
        let mut inflater =
            Inflater::new(compression, &payload, max, Lz4Checksum::Standard).expect("inflater");
        let mut piece = vec![0u8; 64 * 1024];
        let error = loop {
            match inflater.read(&mut piece) {
                Ok(0) => panic!("{compression:?} inflated past the bound"),
                Ok(_) => assert!(inflater.inflated_bytes() <= max + 1),
                Err(error) => break error,
            }
        };
        assert_eq!(error, BatchError::InflatedTooLarge { compression, max });
        assert!(inflater.inflated_bytes() <= max + 1);
        // Asked again, it says so again and produces nothing more.
        assert_eq!(inflater.read(&mut piece), Err(error));
        assert!(inflater.inflated_bytes() <= max + 1);
    }
    // Raw snappy declares its length up front: refused before allocating.
    let huge_claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
    assert_eq!(
        inflate(Compression::Snappy, &huge_claim, max, Lz4Checksum::Standard),
        Err(BatchError::InflatedTooLarge {
            compression: Compression::Snappy,
            max
        })
    );
    // A batch of one well-formed record with a 64 MiB value: the walker
    // skips the value without holding it, and the bound refuses the batch.
    let one_huge = records_section(&[Record::value(zeros, TimestampMs(T0))]);
    let bomb = batch_around(Compression::Zstd, 1, T0, &one_huge);
    let parsed = RecordBatch::parse(&bomb, Validation::Client).expect("header valid");
    assert_eq!(
        validate_records(&parsed, max),
        Err(BatchError::InflatedTooLarge {
            compression: Compression::Zstd,
            max
        })
    );
}

#[test]
fn a_corrupt_payload_is_refused_and_never_panics() {
    for compression in CODECS {
        let good = batch(compression, 20);
        let mut refused = 0;
        for at in BATCH_HEADER_BYTES..good.len() {
            for flip in [0x01u8, 0x80] {
                let mut bytes = good.clone();
                bytes[at] ^= flip;
                fix_crc(&mut bytes);
                if validate(&bytes).is_err() {
                    refused += 1;
                }
            }
        }
        // Most flips break the stream or the records; none panics.
        assert!(refused > 0, "{compression:?}: no flip was refused");
        // Cut short anywhere: refused.
        for cut in (BATCH_HEADER_BYTES..good.len()).step_by(3) {
            let mut bytes = good[..cut].to_vec();
            let length = (cut - 12) as i32;
            bytes[8..12].copy_from_slice(&length.to_be_bytes());
            fix_crc(&mut bytes);
            assert!(validate(&bytes).is_err(), "{compression:?} cut at {cut}");
        }
    }
}

/// Bytes from kafka-protocol's snappy test: snappy-java's framing of a
/// one-record records section, and the same block as raw snappy.
#[test]
fn snappy_reads_xerial_and_raw_and_writes_xerial() {
    let xerial: &[u8] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x0f\x0d\x30\x18\x00\x00\x00\x01\x0csdfdsf\x00";
    let raw: &[u8] = b"\x0d\x30\x18\x00\x00\x00\x01\x0csdfdsf\x00";
    let records: &[u8] = b"\x18\x00\x00\x00\x01\x0csdfdsf\x00";
    for payload in [xerial, raw] {
        let inflated = inflate(Compression::Snappy, payload, 1024, Lz4Checksum::Standard);
        assert_eq!(inflated.as_deref(), Ok(records));
    }
    assert_eq!(
        compress(Compression::Snappy, records, Lz4Checksum::Standard).unwrap(),
        xerial
    );
    // Two xerial streams end to end (snappy-java reads them as one).
    let mut twice = xerial.to_vec();
    twice.extend_from_slice(xerial);
    let inflated = inflate(Compression::Snappy, &twice, 1024, Lz4Checksum::Standard).unwrap();
    assert_eq!(inflated, [records, records].concat());
}

/// Kafka's LZ4 frame: magic 04 22 4D 18, FLG 0x60 (version 1, independent
/// blocks), BD 0x40 (64 KiB blocks), HC; magic 0 carries the HC computed
/// over the magic number too (KIP-57), and reading it ignores HC.
#[test]
fn lz4_frames_are_kafkas_and_magic_0_keeps_its_checksum_quirk() {
    let data = b"hello kafka lz4, hello kafka lz4, hello kafka lz4".repeat(100);
    let standard = compress(Compression::Lz4, &data, Lz4Checksum::Standard).unwrap();
    assert_eq!(&standard[..7], &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);
    let legacy = compress(Compression::Lz4, &data, Lz4Checksum::Legacy).unwrap();
    assert_eq!(&legacy[..6], &standard[..6]);
    assert_ne!(legacy[6], standard[6], "the broken HC differs");
    assert_eq!(&legacy[7..], &standard[7..]);
    let read = |payload: &[u8], checksum| inflate(Compression::Lz4, payload, 1 << 20, checksum);
    assert_eq!(read(&standard, Lz4Checksum::Standard).unwrap(), data);
    assert_eq!(read(&legacy, Lz4Checksum::Legacy).unwrap(), data);
    assert_eq!(read(&standard, Lz4Checksum::Legacy).unwrap(), data);
    match read(&legacy, Lz4Checksum::Standard) {
        Err(BatchError::DecompressionFailed { compression, .. }) => {
            assert_eq!(compression, Compression::Lz4)
        }
        other => panic!("a magic-0 checksum in a v2 batch: {other:?}"),
    }
    // A frame cut before its end mark.
    let cut = &standard[..standard.len() - 4];
    assert!(matches!(
        read(cut, Lz4Checksum::Standard),
        Err(BatchError::DecompressionFailed { .. })
    ));
}

#[test]
fn gzip_members_and_zstd_frames_end_to_end_are_one_stream() {
    for compression in [Compression::Gzip, Compression::Zstd] {
        let mut payload = compress(compression, b"first ", Lz4Checksum::Standard).unwrap();
        payload.extend(compress(compression, b"second", Lz4Checksum::Standard).unwrap());
        let inflated = inflate(compression, &payload, 100, Lz4Checksum::Standard).unwrap();
        assert_eq!(inflated, b"first second");
        payload.extend_from_slice(b"garbage");
        assert!(
            inflate(compression, &payload, 100, Lz4Checksum::Standard).is_err(),
            "{compression:?} with trailing garbage"
        );
    }
}

#[test]
fn listing_may_stop_early_and_log_append_time_stands_for_every_record() {
    let bytes = batch(Compression::Gzip, 10);
    let batch = RecordBatch::parse(&bytes, Validation::Stored).unwrap();
    let mut seen = Vec::new();
    engine::record_batch::for_each_record_timestamp(&batch, BOUND, &mut |offset, _| {
        seen.push(offset);
        if offset == Offset(3) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(seen, (0..4).map(Offset).collect::<Vec<_>>());

    let mut stamped = bytes.clone();
    engine::record_batch::stamp(
        &mut stamped,
        engine::record_batch::AppendStamp {
            base_offset: Offset(100),
            partition_leader_epoch: 0,
            log_append_time: Some(TimestampMs(5)),
        },
    )
    .unwrap();
    let batch = RecordBatch::parse(&stamped, Validation::Stored).unwrap();
    let listed = record_offsets_and_timestamps(&batch, BOUND).unwrap();
    assert_eq!(listed.len(), 10);
    assert!(listed
        .iter()
        .enumerate()
        .all(|(i, &(offset, ts))| offset == Offset(100 + i as i64) && ts == TimestampMs(5)));
}
