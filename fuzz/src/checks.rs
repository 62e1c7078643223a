//! What the fuzz targets assert, for any input bytes.
//!
//! This one file is compiled twice: into the fuzz crate (`ringlog_fuzz::checks`,
//! called by `fuzz_targets/*.rs`) and into the engine's corpus-replay test
//! (`engine/tests/fuzz_corpus.rs`, through `#[path]`), so replaying the corpus
//! with `cargo test` checks exactly what the fuzzer checks. It may use only
//! `engine`, `crc32c` (a dependency of both) and `std`.

#![allow(dead_code)]

use engine::limits::{BATCH_HEADER_BYTES, OFFSET_INDEX_ENTRY_BYTES, TIME_INDEX_ENTRY_BYTES};
use engine::offset::{FilePosition, Offset, TimestampMs};
use engine::record_batch::{
    peek_batch_size, stamp, stamped_header, varint, AppendStamp, BatchBuilder, Batches,
    Compression, Header, Record, RecordBatch, RecordView, TimestampType, Validation,
    CRC_START_BYTES,
};
use engine::segment::{OffsetIndex, TimeIndex};
use engine::BatchError;

/// Which inputs reach the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Offsets are first brought into `[-2^62, 2^62]` (base offsets of
    /// segments into `[0, 2^62)`), where `offset + i32/u32 delta` cannot
    /// overflow i64. Keeps known overflow bugs (docs/fuzzing.md) out of the
    /// way; everything else in the input is used as is.
    Sane,
    /// Every input exactly as given.
    Full,
}

const SANE_OFFSET_MAX: i64 = 1 << 62;

/// A segment base offset in `[0, 2^62)`; small non-negative values unchanged.
fn sane_base_offset(raw: i64) -> i64 {
    raw & (SANE_OFFSET_MAX - 1)
}

/// An offset in `[-2^62, 2^62]`; values already there unchanged.
fn sane_offset(raw: i64) -> i64 {
    if (-SANE_OFFSET_MAX..=SANE_OFFSET_MAX).contains(&raw) {
        raw
    } else {
        raw >> 2
    }
}

fn be_i64(bytes: &[u8]) -> i64 {
    i64::from_be_bytes(bytes.try_into().expect("8 bytes"))
}

/// Asserts that `inner` lies within `outer` (same allocation).
fn assert_within(inner: &[u8], outer: &[u8], what: &str) {
    let start = inner.as_ptr() as usize;
    let outer_start = outer.as_ptr() as usize;
    assert!(
        start >= outer_start && start + inner.len() <= outer_start + outer.len(),
        "{what} is not inside its batch"
    );
}

// ---------------------------------------------------------------- batches

/// Where the batches laid end to end in `data` start and how long they say
/// they are, as far as `peek_batch_size` can walk (the last may be cut short).
fn batch_spans(data: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = 0usize;
    while let Some(Ok(size)) = peek_batch_size(&data[at..]) {
        spans.push((at, size));
        at += size;
        if at >= data.len() {
            break;
        }
    }
    spans
}

/// Parses `data` as batches laid end to end, with both validations, and checks
/// every batch that parses; then does it again after writing the right CRC
/// into every complete batch, so mutated records get past the CRC check and
/// the fuzzer can explore the record parser. Returns how many batches of
/// `data` as given passed `Validation::Client`.
pub fn record_batch(data: &[u8], domain: Domain) -> usize {
    let mut input = data.to_vec();
    let spans = batch_spans(&input);
    if domain == Domain::Sane {
        // Base offsets are outside the CRC: validity is unchanged.
        for &(at, _) in &spans {
            let base = be_i64(&input[at..at + 8]);
            input[at..at + 8].copy_from_slice(&sane_offset(base).to_be_bytes());
        }
    }
    let as_given = check_batches(&input);
    for &(at, size) in &spans {
        if let Some(batch) = input.get_mut(at..at + size) {
            let crc = crc32c::crc32c(&batch[CRC_START_BYTES..]);
            batch[17..21].copy_from_slice(&crc.to_be_bytes());
        }
    }
    check_batches(&input);
    as_given
}

fn check_batches(data: &[u8]) -> usize {
    let mut client_batches = 0;
    for validation in [Validation::Client, Validation::Stored] {
        let mut consumed = 0usize;
        let mut batches = Batches::new(data, validation);
        for item in &mut batches {
            let Ok(batch) = item else { break };
            let bytes = batch.as_bytes();
            assert!(
                batch.size() >= BATCH_HEADER_BYTES,
                "batch shorter than its header"
            );
            assert!(
                batch.size() <= data.len() - consumed,
                "batch larger than the input"
            );
            assert_eq!(bytes, &data[consumed..consumed + batch.size()]);
            assert_eq!(peek_batch_size(bytes), Some(Ok(batch.size())));
            consumed += batch.size();
            if validation == Validation::Client {
                client_batches += 1;
                // Client validity implies Stored validity, except for the
                // base offset, which a client does not choose (it is
                // replaced on append) and which Stored requires to be real.
                match RecordBatch::parse(bytes, Validation::Stored) {
                    Ok(stored) => assert_eq!(stored.size(), batch.size()),
                    Err(BatchError::BaseOffsetInvalid { base_offset }) => {
                        let last_delta = i64::from(batch.header().last_offset_delta.get());
                        assert!(base_offset < 0 || base_offset.checked_add(last_delta).is_none());
                    }
                    Err(error) => {
                        panic!("a batch valid for Client is invalid for Stored: {error:?}")
                    }
                }
            }
            check_records(&batch, validation);
            check_stamp(&batch, validation);
            if validation == Validation::Client && batch.compression() == Compression::None {
                check_rebuild(&batch);
            }
        }
        assert!(batches.next().is_none(), "Batches goes on after an error");
        assert!(consumed <= data.len());
    }
    client_batches
}

/// Iterates records and headers; a Client-validated uncompressed batch must
/// yield exactly `records_count` well-formed records with offset deltas 0, 1, ...
fn check_records(batch: &RecordBatch<'_>, validation: Validation) {
    let Some(mut records) = batch.records() else {
        assert_ne!(batch.compression(), Compression::None);
        return;
    };
    assert_eq!(batch.compression(), Compression::None);
    let strict = validation == Validation::Client;
    let count = usize::try_from(batch.records_count()).expect("validated count");
    let mut seen = 0usize;
    let mut failed = false;
    for record in &mut records {
        assert!(!failed, "a record after an error");
        seen += 1;
        assert!(seen <= count, "more records than recordsCount");
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                assert!(!strict, "Client-validated batch has a bad record: {error}");
                failed = true;
                continue;
            }
        };
        for part in [record.key, record.value].into_iter().flatten() {
            assert_within(part, batch.as_bytes(), "key or value");
        }
        if strict {
            assert_eq!(i64::from(record.offset_delta), seen as i64 - 1);
            assert_eq!(record.offset, batch.base_offset().plus(seen as i64 - 1));
        }
        let mut header_failed = false;
        for header in record.headers() {
            assert!(!header_failed, "a header after an error");
            match header {
                Ok(header) => {
                    assert_within(header.key, batch.as_bytes(), "header key");
                    if let Some(value) = header.value {
                        assert_within(value, batch.as_bytes(), "header value");
                    }
                }
                Err(error) => {
                    assert!(!strict, "Client-validated batch has a bad header: {error}");
                    header_failed = true;
                }
            }
        }
    }
    if strict {
        assert_eq!(seen, count);
        assert!(records.remaining().is_empty());
    }
}

/// Stamping (offset and epoch only, then with LogAppendTime) keeps the batch
/// valid for the same validation and changes exactly what it says.
fn check_stamp(batch: &RecordBatch<'_>, validation: Validation) {
    let original = batch.as_bytes();

    let mut plain = original.to_vec();
    let offset_only = AppendStamp {
        base_offset: Offset(0),
        partition_leader_epoch: 7,
        log_append_time: None,
    };
    stamp(&mut plain, offset_only).expect("stamp a valid batch");
    assert_eq!(
        plain[16..],
        original[16..],
        "offset-only stamp touched CRC-covered bytes"
    );
    let stamped =
        RecordBatch::parse(&plain, validation).expect("offset-only stamp keeps the batch valid");
    assert_eq!(stamped.base_offset(), Offset(0));
    assert_eq!(stamped.header().partition_leader_epoch.get(), 7);

    let now = TimestampMs(1_700_000_000_123);
    let mut appended = original.to_vec();
    let with_time = AppendStamp {
        base_offset: Offset(123_456_789_012),
        partition_leader_epoch: i32::MAX,
        log_append_time: Some(now),
    };
    stamp(&mut appended, with_time).expect("stamp a valid batch");
    let header = stamped_header(original, with_time).expect("stamp a valid batch's header");
    assert_eq!(
        header[..],
        appended[..BATCH_HEADER_BYTES],
        "the header an append writes is the header stamped in place"
    );
    let stamped = RecordBatch::parse(&appended, Validation::Stored)
        .expect("a LogAppendTime stamp keeps the batch valid for Stored");
    if validation == Validation::Client {
        RecordBatch::parse(&appended, Validation::Client)
            .expect("a LogAppendTime stamp keeps a Client-valid batch valid");
    }
    assert_eq!(stamped.size(), batch.size());
    assert_eq!(stamped.base_offset(), Offset(123_456_789_012));
    assert_eq!(stamped.header().partition_leader_epoch.get(), i32::MAX);
    assert_eq!(stamped.max_timestamp(), now);
    assert_eq!(stamped.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(stamped.compression(), batch.compression());
    assert_eq!(stamped.records_count(), batch.records_count());
    assert_eq!(
        appended[BATCH_HEADER_BYTES..],
        original[BATCH_HEADER_BYTES..]
    );
}

/// The attributes byte of each record of a Client-validated uncompressed batch.
fn record_attributes(records_section: &[u8], count: usize) -> Vec<u8> {
    let mut at = 0usize;
    let mut attributes = Vec::with_capacity(count);
    for _ in 0..count {
        let (length, used) = varint::decode_i32(&records_section[at..]).expect("validated length");
        attributes.push(records_section[at + used]);
        at += used + usize::try_from(length).expect("validated length");
    }
    attributes
}

fn owned(record: &RecordView<'_>) -> Record {
    Record {
        key: record.key.map(<[u8]>::to_vec),
        value: record.value.map(<[u8]>::to_vec),
        headers: record
            .headers()
            .map(|header| {
                let header = header.expect("validated header");
                Header {
                    key: header.key.to_vec(),
                    value: header.value.map(<[u8]>::to_vec),
                }
            })
            .collect(),
        timestamp: record.timestamp,
    }
}

/// Re-encodes a Client-validated uncompressed batch with `BatchBuilder`: the
/// result parses back to the same records, and when the original's record
/// attributes are 0 and its timestamp deltas are the builder's (base = min
/// timestamp), the records section is the same bytes, or (if the original
/// used overlong varints) strictly longer.
fn check_rebuild(batch: &RecordBatch<'_>) {
    let views: Vec<RecordView<'_>> = batch
        .records()
        .expect("uncompressed")
        .map(|record| record.expect("validated record"))
        .collect();
    let records: Vec<Record> = views.iter().map(owned).collect();
    let Some(min_timestamp) = records.iter().map(|record| record.timestamp.0).min() else {
        return;
    };
    // BatchBuilder computes `timestamp - min` in i64 and would overflow
    // (docs/fuzzing.md, "Known bugs"): leave such batches alone.
    if records
        .iter()
        .any(|record| record.timestamp.0.checked_sub(min_timestamp).is_none())
    {
        return;
    }
    let mut builder = BatchBuilder::new();
    for record in &records {
        builder.push(record.clone());
    }
    let rebuilt = builder.build();
    let reparsed =
        RecordBatch::parse(&rebuilt, Validation::Client).expect("a rebuilt batch is valid");
    assert_eq!(reparsed.size(), rebuilt.len());
    assert_eq!(reparsed.records_count(), batch.records_count());
    let again: Vec<Record> = reparsed
        .records()
        .expect("uncompressed")
        .map(|record| owned(&record.expect("rebuilt record")))
        .collect();
    assert_eq!(again, records, "rebuilt batch has other records");

    let original = &batch.as_bytes()[BATCH_HEADER_BYTES..];
    let attributes = record_attributes(original, views.len());
    let same_deltas = views
        .iter()
        .zip(&records)
        .all(|(view, record)| view.timestamp_delta == record.timestamp.0 - min_timestamp);
    if attributes.iter().all(|&attribute| attribute == 0) && same_deltas {
        let encoded = &rebuilt[BATCH_HEADER_BYTES..];
        assert!(
            encoded.len() <= original.len(),
            "canonical re-encoding is longer than the original"
        );
        if encoded.len() == original.len() {
            assert_eq!(encoded, original, "re-encoded records section differs");
        }
    }
}

// ---------------------------------------------------------------- indexes

/// Input layout shared by both index targets:
/// `base_offset i64 BE | bound 8 bytes BE | n u8 | (n % 8) probes i64 BE | index file bytes`.
struct IndexInput<'a> {
    base_offset: i64,
    bound: [u8; 8],
    probes: Vec<i64>,
    file: &'a [u8],
}

fn split_index_input(data: &[u8]) -> Option<IndexInput<'_>> {
    let header = data.get(..17)?;
    let probes_count = usize::from(header[16] % 8);
    let probes_end = 17 + 8 * probes_count;
    let probes = data
        .get(17..probes_end)?
        .chunks_exact(8)
        .map(be_i64)
        .collect();
    Some(IndexInput {
        base_offset: be_i64(&header[0..8]),
        bound: header[8..16].try_into().expect("8 bytes"),
        probes,
        file: &data[probes_end..],
    })
}

/// Builds an index-target input (for seeds).
pub fn index_input(base_offset: i64, bound: [u8; 8], probes: &[i64], file: &[u8]) -> Vec<u8> {
    assert!(probes.len() < 8);
    let mut out = Vec::new();
    out.extend_from_slice(&base_offset.to_be_bytes());
    out.extend_from_slice(&bound);
    out.push(probes.len() as u8);
    for probe in probes {
        out.extend_from_slice(&probe.to_be_bytes());
    }
    out.extend_from_slice(file);
    out
}

/// `OffsetIndex::parse(base, file, log_size)`; when it succeeds: `encode()`
/// gives the file back, every invariant holds, `push` rebuilds it, and
/// `lookup` / `truncate_to_position` agree with a linear scan. Returns
/// whether the file parsed.
pub fn offset_index(data: &[u8], domain: Domain) -> bool {
    let Some(input) = split_index_input(data) else {
        return false;
    };
    let log_size = u64::from_be_bytes(input.bound);
    let (base, mut probes) = match domain {
        Domain::Full => (input.base_offset, input.probes),
        Domain::Sane => (
            sane_base_offset(input.base_offset),
            input.probes.into_iter().map(sane_offset).collect(),
        ),
    };
    let Ok(index) = OffsetIndex::parse(Offset(base), input.file, log_size) else {
        return false;
    };
    assert_eq!(
        index.encode(),
        input.file,
        "encode() is not the parsed bytes"
    );
    assert_eq!(index.base_offset(), Offset(base));
    let entries = index.entries();
    assert_eq!(entries.len(), input.file.len() / OFFSET_INDEX_ENTRY_BYTES);
    for pair in entries.windows(2) {
        assert!(pair[0].relative_offset < pair[1].relative_offset);
        assert!(pair[0].position < pair[1].position);
    }
    assert!(entries
        .iter()
        .all(|entry| u64::from(entry.position) < log_size));

    let offsets: Option<Vec<i64>> = entries
        .iter()
        .map(|entry| base.checked_add(i64::from(entry.relative_offset)))
        .collect();
    if let Some(offsets) = offsets {
        let mut rebuilt = OffsetIndex::new(Offset(base));
        for (entry, offset) in entries.iter().zip(offsets) {
            rebuilt.push(Offset(offset), FilePosition(u64::from(entry.position)));
        }
        assert_eq!(rebuilt, index, "push does not rebuild the parsed index");
    }

    // Probes: the input's, plus each entry's offset and its neighbours.
    for entry in entries {
        let offset = i128::from(base) + i128::from(entry.relative_offset);
        for delta in [-1, 0, 1] {
            if let Ok(probe) = i64::try_from(offset + delta) {
                probes.push(probe);
            }
        }
    }
    probes.extend([base, base.saturating_sub(1)]);
    probes.sort_unstable();
    let mut previous = (Offset(i64::MIN), FilePosition(0));
    for &probe in &probes {
        let found = index.lookup(Offset(probe));
        let expected = entries
            .iter()
            .rev()
            .find(|entry| i128::from(base) + i128::from(entry.relative_offset) <= i128::from(probe))
            .map_or((Offset(base), FilePosition(0)), |entry| {
                (
                    Offset(base + i64::from(entry.relative_offset)),
                    FilePosition(u64::from(entry.position)),
                )
            });
        assert_eq!(found, expected, "lookup({probe})");
        assert!(found.0 >= Offset(base));
        assert!(found.1 .0 == 0 || found.1 .0 < log_size);
        assert!(found >= previous, "lookup is not monotonic");
        previous = found;

        let position = probe as u64;
        let mut truncated = index.clone();
        truncated.truncate_to_position(FilePosition(position));
        let kept = entries
            .iter()
            .take_while(|entry| u64::from(entry.position) < position)
            .count();
        assert_eq!(truncated.entries(), &entries[..kept]);
    }
    true
}

/// `TimeIndex::parse(base, file, next_offset)`; when it succeeds: `encode()`
/// gives the file back, every invariant holds, `push` rebuilds it, and
/// `lookup` / `truncate_to_offset` agree with a linear scan. Returns whether
/// the file parsed.
pub fn time_index(data: &[u8], domain: Domain) -> bool {
    let Some(input) = split_index_input(data) else {
        return false;
    };
    let next_offset = i64::from_be_bytes(input.bound);
    let base = match domain {
        Domain::Full => input.base_offset,
        Domain::Sane => sane_base_offset(input.base_offset),
    };
    let Ok(index) = TimeIndex::parse(Offset(base), input.file, Offset(next_offset)) else {
        return false;
    };
    assert_eq!(
        index.encode(),
        input.file,
        "encode() is not the parsed bytes"
    );
    let entries = index.entries();
    assert_eq!(entries.len(), input.file.len() / TIME_INDEX_ENTRY_BYTES);
    for pair in entries.windows(2) {
        assert!(pair[0].timestamp < pair[1].timestamp);
        assert!(pair[0].relative_offset <= pair[1].relative_offset);
    }
    let absolute = |relative: u32| i128::from(base) + i128::from(relative);
    assert!(entries
        .iter()
        .all(|entry| absolute(entry.relative_offset) < i128::from(next_offset)));

    let mut rebuilt = TimeIndex::new(Offset(base));
    for entry in entries {
        rebuilt.push(
            entry.timestamp,
            Offset(base + i64::from(entry.relative_offset)),
        );
    }
    assert_eq!(rebuilt, index, "push does not rebuild the parsed index");

    // Timestamp probes: the input's, plus each entry's and its neighbours.
    let mut timestamps = input.probes.clone();
    for entry in entries {
        timestamps.extend([
            entry.timestamp.0.saturating_sub(1),
            entry.timestamp.0,
            entry.timestamp.0.saturating_add(1),
        ]);
    }
    timestamps.extend([i64::MIN, i64::MAX]);
    timestamps.sort_unstable();
    let mut previous = Offset(i64::MIN);
    for &timestamp in &timestamps {
        let found = index.lookup(TimestampMs(timestamp));
        let expected = entries
            .iter()
            .rev()
            .find(|entry| entry.timestamp.0 < timestamp)
            .map_or(Offset(base), |entry| {
                Offset(base + i64::from(entry.relative_offset))
            });
        assert_eq!(found, expected, "lookup({timestamp})");
        assert!(found >= Offset(base));
        assert!(found == Offset(base) || found.0 < next_offset);
        assert!(found >= previous, "lookup is not monotonic");
        previous = found;
    }

    // Truncation points: the input's probes read as offsets.
    for &raw in &input.probes {
        let offset = match domain {
            Domain::Full => raw,
            Domain::Sane => sane_offset(raw),
        };
        let mut truncated = index.clone();
        truncated.truncate_to_offset(Offset(offset));
        let kept = entries
            .iter()
            .take_while(|entry| absolute(entry.relative_offset) < i128::from(offset))
            .count();
        assert_eq!(truncated.entries(), &entries[..kept]);
    }
    true
}
