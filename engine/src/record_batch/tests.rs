use super::*;
use proptest::prelude::*;

fn one_record_batch() -> Vec<u8> {
    BatchBuilder::new()
        .record(Record {
            key: Some(b"k".to_vec()),
            value: Some(b"hello".to_vec()),
            headers: vec![Header {
                key: b"h".to_vec(),
                value: Some(b"v".to_vec()),
            }],
            timestamp: TimestampMs(1_700_000_000_000),
        })
        .build()
}

#[test]
fn golden_bytes_of_a_one_record_batch() {
    let bytes = one_record_batch();
    #[rustfmt::skip]
    let expected_header: [u8; 61] = [
        0, 0, 0, 0, 0, 0, 0, 0,             // baseOffset 0
        0, 0, 0, 66,                        // batchLength: 61 - 12 + 17 record bytes
        0xff, 0xff, 0xff, 0xff,             // partitionLeaderEpoch -1
        2,                                  // magic
        bytes[17], bytes[18], bytes[19], bytes[20], // crc (checked below)
        0, 0,                               // attributes: no compression, CreateTime
        0, 0, 0, 0,                         // lastOffsetDelta 0
        0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // baseTimestamp 1_700_000_000_000
        0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // maxTimestamp
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producerId -1
        0xff, 0xff,                         // producerEpoch -1
        0xff, 0xff, 0xff, 0xff,             // baseSequence -1
        0, 0, 0, 1,                         // recordsCount 1
    ];
    assert_eq!(&bytes[..61], &expected_header[..]);
    #[rustfmt::skip]
    let expected_record: [u8; 17] = [
        32,          // record length 16 (zig-zag)
        0,           // attributes
        0,           // timestampDelta 0
        0,           // offsetDelta 0
        2, b'k',     // key length 1, key
        10, b'h', b'e', b'l', b'l', b'o', // value length 5, value
        2,           // one header
        2, b'h',     // header key
        2, b'v',     // header value
    ];
    assert_eq!(&bytes[61..], &expected_record[..]);
    let crc = u32::from_be_bytes(bytes[17..21].try_into().unwrap());
    assert_eq!(crc, crc32c::crc32c(&bytes[21..]));
}

#[test]
fn parses_and_iterates_records() {
    let bytes = one_record_batch();
    let batch = RecordBatch::parse(&bytes, Validation::Client).unwrap();
    assert_eq!(batch.size(), bytes.len());
    assert_eq!(batch.records_count(), 1);
    assert_eq!(batch.last_offset(), Offset(0));
    let records: Vec<_> = batch.records().unwrap().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key, Some(&b"k"[..]));
    assert_eq!(records[0].value, Some(&b"hello"[..]));
    assert_eq!(records[0].timestamp, TimestampMs(1_700_000_000_000));
    let headers: Vec<_> = records[0].headers().map(Result::unwrap).collect();
    assert_eq!(
        headers,
        vec![RecordHeaderView {
            key: b"h",
            value: Some(b"v")
        }]
    );
}

#[test]
fn every_single_byte_flip_is_detected() {
    let bytes = one_record_batch();
    for position in 8..bytes.len() {
        // baseOffset (0..8) and partitionLeaderEpoch (12..16) are outside the CRC.
        if (12..16).contains(&position) {
            continue;
        }
        let mut corrupt = bytes.clone();
        corrupt[position] ^= 0x40;
        assert!(
            RecordBatch::parse(&corrupt, Validation::Client).is_err(),
            "flip at {position} accepted"
        );
    }
}

#[test]
fn truncations_are_reported_not_panicked() {
    let bytes = one_record_batch();
    for length in 0..bytes.len() {
        let error = RecordBatch::parse(&bytes[..length], Validation::Client).unwrap_err();
        assert!(
            matches!(error, BatchError::Truncated { .. }),
            "{length}: {error:?}"
        );
    }
}

#[test]
fn lying_lengths_and_counts_are_refused() {
    let mut bytes = one_record_batch();
    bytes[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        RecordBatch::parse(&bytes, Validation::Client),
        Err(BatchError::TooLarge { .. })
    ));
    bytes[8..12].copy_from_slice(&(-5i32).to_be_bytes());
    assert!(matches!(
        RecordBatch::parse(&bytes, Validation::Client),
        Err(BatchError::BatchLengthInvalid { .. })
    ));

    // A records count of 1000 with a consistent lastOffsetDelta and a fixed CRC.
    let mut bytes = one_record_batch();
    bytes[57..61].copy_from_slice(&1000i32.to_be_bytes());
    bytes[23..27].copy_from_slice(&999i32.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        RecordBatch::parse(&bytes, Validation::Client),
        Err(BatchError::RecordCountInvalid { .. })
    ));
}

#[test]
fn stamp_sets_offsets_and_log_append_time() {
    let mut bytes = one_record_batch();
    stamp(
        &mut bytes,
        AppendStamp {
            base_offset: Offset(42),
            partition_leader_epoch: 3,
            log_append_time: Some(TimestampMs(1_800_000_000_000)),
        },
    )
    .unwrap();
    let batch = RecordBatch::parse(&bytes, Validation::Stored).unwrap();
    assert_eq!(batch.base_offset(), Offset(42));
    assert_eq!(batch.header().partition_leader_epoch.get(), 3);
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(batch.max_timestamp(), TimestampMs(1_800_000_000_000));
}

#[test]
fn compressed_batches_are_accepted_as_opaque() {
    let bytes = raw_batch(
        Compression::Zstd.code(),
        3,
        TimestampMs(5),
        b"\x28\xb5\x2f\xfd opaque",
    );
    let batch = RecordBatch::parse(&bytes, Validation::Client).unwrap();
    assert_eq!(batch.compression(), Compression::Zstd);
    assert!(batch.records().is_none());
    assert_eq!(batch.last_offset(), Offset(2));
    let bad = raw_batch(5, 1, TimestampMs(5), b"x");
    assert!(matches!(
        RecordBatch::parse(&bad, Validation::Client),
        Err(BatchError::CompressionInvalid { codec: 5 })
    ));
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..10),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
            ),
            0..3,
        ),
        0i64..1_000_000,
    )
        .prop_map(|(key, value, headers, timestamp)| Record {
            key,
            value,
            headers: headers
                .into_iter()
                .map(|(key, value)| Header { key, value })
                .collect(),
            timestamp: TimestampMs(1_600_000_000_000 + timestamp),
        })
}

proptest! {
    #[test]
    fn build_parse_round_trip(records in proptest::collection::vec(arb_record(), 1..20)) {
        let mut builder = BatchBuilder::new();
        for record in &records {
            builder.push(record.clone());
        }
        let bytes = builder.build();
        let batch = RecordBatch::parse(&bytes, Validation::Client).unwrap();
        prop_assert_eq!(batch.size(), bytes.len());
        let mut iter = batch.records().unwrap();
        for (index, expected) in records.iter().enumerate() {
            let record = iter.next().unwrap().unwrap();
            prop_assert_eq!(record.offset, Offset(index as i64));
            prop_assert_eq!(record.key, expected.key.as_deref());
            prop_assert_eq!(record.value, expected.value.as_deref());
            prop_assert_eq!(record.timestamp, expected.timestamp);
            let headers: Vec<_> = record.headers().map(Result::unwrap).collect();
            prop_assert_eq!(headers.len(), expected.headers.len());
            for (got, want) in headers.iter().zip(&expected.headers) {
                prop_assert_eq!(got.key, &want.key[..]);
                prop_assert_eq!(got.value, want.value.as_deref());
            }
        }
        prop_assert!(iter.next().is_none());
        prop_assert!(iter.remaining().is_empty(), "every byte consumed");
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for batch in Batches::new(&bytes, Validation::Client).flatten() {
            prop_assert!(batch.size() <= bytes.len());
        }
    }
}

/// What `validate_records` checked before it had a walk of its own: every
/// record's view and headers through [`Records`]. Gives the reason only
/// (a header's error carried no record index).
fn reference_walk(records_bytes: &[u8], count: i32) -> Result<(), &'static str> {
    let reason = |error: BatchError| match error {
        BatchError::RecordMalformed { reason, .. } => reason,
        other => panic!("a walk fails only on a malformed record: {other:?}"),
    };
    let mut records = Records::new(records_bytes, count, Offset(0), TimestampMs(0));
    for (index, record) in (&mut records).enumerate() {
        let record = record.map_err(reason)?;
        if i64::from(record.offset_delta) != index as i64 {
            return Err("offset delta out of sequence");
        }
        for header in record.headers() {
            header.map_err(reason)?;
        }
    }
    if !records.remaining().is_empty() {
        return Err("bytes left after the last record");
    }
    Ok(())
}

proptest! {
    /// The walk that validates produced records accepts and rejects exactly
    /// what the record views do, for the same reason, however the records'
    /// bytes are damaged (lengths, varints, header counts, offset deltas)
    /// and whatever count the header claims.
    #[test]
    fn the_validating_walk_agrees_with_the_record_views(
        records in proptest::collection::vec(arb_record(), 1..8),
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        count_shift in -1i32..=1,
    ) {
        let mut builder = BatchBuilder::new();
        for record in &records {
            builder.push(record.clone());
        }
        let bytes = builder.build();
        let mut records_bytes = bytes[BATCH_HEADER_BYTES..].to_vec();
        for (at, value) in &damage {
            let at = at.index(records_bytes.len());
            records_bytes[at] = *value;
        }
        let count = records.len() as i32 + count_shift;
        let walked = records::check_records(&records_bytes, count).map_err(|error| match error {
            BatchError::RecordMalformed { reason, .. } => reason,
            other => panic!("unexpected {other:?}"),
        });
        prop_assert_eq!(walked, reference_walk(&records_bytes, count));
        if damage.is_empty() && count_shift == 0 {
            prop_assert_eq!(walked, Ok(()));
        }
    }
}

#[test]
fn the_validating_walk_names_the_record_it_rejects() {
    let mut builder = BatchBuilder::new();
    for _ in 0..3 {
        builder.push(Record::value(b"abc".to_vec(), TimestampMs(0)));
    }
    let bytes = builder.build();
    let records_bytes = &bytes[BATCH_HEADER_BYTES..];
    assert_eq!(records::check_records(records_bytes, 3), Ok(()));
    assert_eq!(
        records::check_records(records_bytes, 4),
        Err(BatchError::RecordMalformed {
            index: 3,
            reason: "record length varint"
        })
    );
    assert_eq!(
        records::check_records(records_bytes, 2),
        Err(BatchError::RecordMalformed {
            index: 2,
            reason: "bytes left after the last record"
        })
    );
    // The second record's offset delta (after its length, attributes and
    // timestamp delta, one byte each) says 5 instead of 1.
    let mut damaged = records_bytes.to_vec();
    let second = 1 + usize::from(damaged[0] / 2);
    damaged[second + 3] = 10;
    assert_eq!(
        records::check_records(&damaged, 3),
        Err(BatchError::RecordMalformed {
            index: 1,
            reason: "offset delta out of sequence"
        })
    );
    // The first record's header count (its last byte) claims 63 headers in
    // the none of its bytes that are left.
    let mut damaged = records_bytes.to_vec();
    damaged[second - 1] = 126;
    assert_eq!(
        records::check_records(&damaged, 3),
        Err(BatchError::RecordMalformed {
            index: 0,
            reason: "impossible header count"
        })
    );
}
