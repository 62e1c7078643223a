//! Fetch: long-polls until `min_bytes` are ready or `max_wait_ms` passes,
//! then answers with a response written by hand around the record data, so
//! file ranges go to the socket with sendfile and are never copied through
//! user space.
//!
//! Fetch sessions (KIP-227) are answered sessionless: a full fetch (session
//! epoch 0 or -1) gets session id 0, which tells the client that no session
//! was created, so it keeps sending full fetches (Kafka does the same when
//! its session cache is full). An incremental fetch (any other epoch) names
//! a session this broker never handed out: FETCH_SESSION_ID_NOT_FOUND, after
//! which clients start over with a full fetch.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt};
use kafka_protocol::messages::FetchRequest;
use kafka_protocol::ResponseError;

use super::reply::{Part, Reply};
use super::{record_formats, Preamble};
use crate::error_code;
use crate::shard::{self, Shard};

/// Record data for one partition, ready to cross shards (fds are duplicated).
#[derive(Default)]
struct PartitionData {
    partition: i32,
    error_code: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    parts: Vec<Part>,
    bytes: u64,
    /// Offsets the parts hold from the fetch offset on (stats.rs).
    records: u64,
}

impl PartitionData {
    fn failed(error_code: i16) -> PartitionData {
        PartitionData {
            error_code,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            ..Default::default()
        }
    }

    /// Not read: the response's `max_bytes` was used up before it.
    fn skipped() -> PartitionData {
        PartitionData::failed(error_code::NONE)
    }
}

/// How often a waiting long poll checks whether its shard is stopping.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// One partition of the request, in request order.
struct Wanted {
    topic: Rc<str>,
    partition: i32,
    offset: i64,
    max_bytes: u64,
}

/// Session epochs that ask for a full fetch: 0 (open a session) and -1
/// (no session; also what versions before 7 mean).
const FULL_FETCH_EPOCHS: [i32; 2] = [0, -1];

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: FetchRequest) -> Reply {
    if !FULL_FETCH_EPOCHS.contains(&request.session_epoch) {
        let code = ResponseError::FetchSessionIdNotFound.code();
        crate::stats::count_error(preamble.api_key as i16, code);
        return encode(
            preamble,
            ResponseError::FetchSessionIdNotFound.code(),
            &[],
            Vec::new(),
        );
    }
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    // Fetch v0-v3 read message formats 0 and 1 (down-converted).
    let magic = record_formats::fetch_magic(preamble.api_version);
    let max_bytes = if request.max_bytes <= 0 {
        i32::MAX as u64
    } else {
        request.max_bytes as u64
    };
    let min_bytes = request.min_bytes.max(0) as u64;
    let mut wanted = Vec::new();
    let mut topic_sizes = Vec::new();
    // Old fetchers of topics with message.downconversion.enable=false get
    // UNSUPPORTED_VERSION for their partitions, as from Kafka 3.x.
    let mut refused = Vec::new();
    for topic in &request.topics {
        // From v13 topics are named by id (KIP-516); an unknown id reads
        // as the empty name, which no topic has (UNKNOWN_TOPIC_ID).
        let name: Rc<str> = if preamble.api_version >= 13 {
            Rc::from(shard.topic_name_of(topic.topic_id).unwrap_or_default())
        } else {
            Rc::from(topic.topic.as_str())
        };
        topic_sizes.push((name.clone(), topic.topic_id, topic.partitions.len()));
        let refuse = magic.is_some() && !down_conversion_enabled(shard, &name);
        for partition in &topic.partitions {
            refused.push(refuse);
            wanted.push(Wanted {
                topic: name.clone(),
                partition: partition.partition,
                offset: partition.fetch_offset,
                max_bytes: partition.partition_max_bytes.max(0) as u64,
            });
        }
    }
    let mut by_owner: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (index, want) in wanted.iter().enumerate() {
        if refused[index] {
            continue;
        }
        by_owner
            .entry(shard.owner_of(&want.topic, want.partition))
            .or_default()
            .push(index);
    }
    // Long poll: each owning shard is asked to say when one of its
    // partitions has new data; the first answer triggers a fresh look.
    let mut waits = FuturesUnordered::new();
    let mut waiting_on = vec![false; shard.count];
    loop {
        let mut gathered = gather(shard, &wanted, &by_owner, max_bytes, magic).await;
        for (data, _) in gathered
            .iter_mut()
            .zip(&refused)
            .filter(|(_, refused)| **refused)
        {
            let partition = data.partition;
            *data = PartitionData::failed(ResponseError::UnsupportedVersion.code());
            data.partition = partition;
        }
        let total: u64 = gathered.iter().map(|data| data.bytes).sum();
        let any_error = gathered
            .iter()
            .any(|data| data.error_code != error_code::NONE);
        if total >= min_bytes.max(1) || any_error || Instant::now() >= deadline {
            count_answered(preamble, &wanted, &gathered);
            return encode(preamble, error_code::NONE, &topic_sizes, gathered);
        }
        for (&owner, indices) in &by_owner {
            if waiting_on[owner] {
                continue;
            }
            let seen: Vec<(String, i32, i64)> = indices
                .iter()
                .filter(|&&index| gathered[index].high_watermark >= 0)
                .map(|&index| {
                    let want = &wanted[index];
                    (
                        want.topic.to_string(),
                        want.partition,
                        gathered[index].high_watermark,
                    )
                })
                .collect();
            if seen.is_empty() {
                continue;
            }
            waiting_on[owner] = true;
            waits.push(async move {
                let _ = shard
                    .call(owner, move |owner| wait_for_data(owner, seen, deadline))
                    .await;
                owner
            });
        }
        if waits.is_empty() {
            shard::sleep_until(deadline).await;
            continue;
        }
        if let Some(owner) = shard::until(deadline, waits.next()).await.flatten() {
            waiting_on[owner] = false;
        }
    }
}

/// Counts what the answer holds, per partition (stats.rs).
fn count_answered(preamble: Preamble, wanted: &[Wanted], gathered: &[PartitionData]) {
    for (want, data) in wanted.iter().zip(gathered) {
        crate::stats::count_error(preamble.api_key as i16, data.error_code);
        if data.bytes > 0 {
            crate::stats::count_out(&want.topic, want.partition, data.bytes, data.records);
        }
    }
}

/// Whether a topic's `message.downconversion.enable` lets old fetchers read it.
fn down_conversion_enabled(shard: &Shard, topic: &str) -> bool {
    shard.topic(topic).is_none_or(|meta| {
        crate::topic_config::value_in_force(
            &shard.config,
            &meta.configs,
            "message.downconversion.enable",
        ) != "false"
    })
}

/// On the owning shard: returns once one of `partitions` has a high
/// watermark above the one seen, the deadline passes, or the shard stops.
async fn wait_for_data(shard: Rc<Shard>, partitions: Vec<(String, i32, i64)>, deadline: Instant) {
    let logs: Vec<_> = partitions
        .iter()
        .filter_map(|(topic, partition, seen)| {
            shard
                .partition(topic, *partition)
                .map(|log| (log, engine::Offset(*seen)))
        })
        .collect();
    if logs.len() < partitions.len() {
        return; // a partition went away: the next look reports it
    }
    while !shard.stopping.get() && Instant::now() < deadline {
        let watches: Vec<_> = logs
            .iter()
            .map(|(log, seen)| log.high_watermark_beyond(*seen))
            .collect();
        let slice = deadline.min(Instant::now() + STOP_CHECK);
        if shard::until(slice, futures_util::future::select_all(watches))
            .await
            .is_some()
        {
            return;
        }
    }
}

/// Reads every wanted partition, each owning shard's share at once, and
/// applies `max_bytes` in request order as if they had been read one by one.
async fn gather(
    shard: &Rc<Shard>,
    wanted: &[Wanted],
    by_owner: &BTreeMap<usize, Vec<usize>>,
    max_bytes: u64,
    magic: Option<i8>,
) -> Vec<PartitionData> {
    let reads = by_owner.iter().map(|(&owner, indices)| {
        let jobs: Vec<(String, i32, i64, u64)> = indices
            .iter()
            .map(|&index| {
                let want = &wanted[index];
                (
                    want.topic.to_string(),
                    want.partition,
                    want.offset,
                    want.max_bytes,
                )
            })
            .collect();
        read_on(shard, owner, jobs, max_bytes, magic)
    });
    let mut gathered: Vec<Option<PartitionData>> = (0..wanted.len()).map(|_| None).collect();
    for ((_, indices), results) in by_owner.iter().zip(join_all(reads).await) {
        for (&index, data) in indices.iter().zip(results) {
            gathered[index] = Some(data);
        }
    }
    let mut remaining = max_bytes;
    let mut total = 0;
    let mut answer = Vec::with_capacity(wanted.len());
    for (index, want) in wanted.iter().enumerate() {
        let limit = want.max_bytes.min(remaining);
        let mut data = gathered[index]
            .take()
            .unwrap_or_else(|| PartitionData::failed(ResponseError::NotLeaderOrFollower.code()));
        if limit == 0 && total > 0 {
            data = PartitionData::skipped();
        } else if data.bytes > limit.max(1) && data.error_code == error_code::NONE {
            // Read with this shard's budget, which was larger than what
            // the partitions before it left: read again with the exact one.
            let job = vec![(want.topic.to_string(), want.partition, want.offset, limit)];
            data = read_on(
                shard,
                shard.owner_of(&want.topic, want.partition),
                job,
                limit,
                magic,
            )
            .await
            .pop()
            .unwrap_or_else(|| PartitionData::failed(ResponseError::NotLeaderOrFollower.code()));
        }
        data.partition = want.partition;
        remaining = remaining.saturating_sub(data.bytes);
        total += data.bytes;
        answer.push(data);
    }
    answer
}

/// Reads partitions `(topic, partition, offset, partition_max_bytes)` on
/// their owning shard, in order, sharing `max_bytes` among them.
async fn read_on(
    shard: &Rc<Shard>,
    owner: usize,
    partitions: Vec<(String, i32, i64, u64)>,
    max_bytes: u64,
    magic: Option<i8>,
) -> Vec<PartitionData> {
    let count = partitions.len();
    let sent = Instant::now();
    let answer = shard
        .call(owner, move |owner| async move {
            crate::stats::fetch_started(sent);
            let mut remaining = max_bytes;
            let mut total = 0;
            let mut out = Vec::with_capacity(partitions.len());
            for (topic, partition, offset, partition_max) in partitions {
                let limit = partition_max.min(remaining);
                let data = if limit == 0 && total > 0 {
                    PartitionData::skipped()
                } else {
                    read_one(&owner, &topic, partition, offset, limit.max(1), magic).await
                };
                remaining = remaining.saturating_sub(data.bytes);
                total += data.bytes;
                out.push(data);
            }
            out
        })
        .await;
    answer.unwrap_or_else(|_| {
        (0..count)
            .map(|_| PartitionData::failed(ResponseError::NotLeaderOrFollower.code()))
            .collect()
    })
}

async fn read_one(
    owner: &Shard,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: u64,
    magic: Option<i8>,
) -> PartitionData {
    if topic.is_empty() {
        return PartitionData::failed(ResponseError::UnknownTopicId.code());
    }
    let Some(log) = owner.partition(topic, partition) else {
        return PartitionData::failed(ResponseError::UnknownTopicOrPartition.code());
    };
    match log.read(engine::Offset(offset), max_bytes).await {
        Ok(result) => {
            let records = result.next_offset.0.saturating_sub(offset).max(0) as u64;
            let mut data = match magic {
                None => to_parts(result),
                Some(magic) => {
                    let max_message_bytes = log.config().max_message_bytes;
                    down_converted(result, magic, max_message_bytes, max_bytes).await
                }
            };
            data.records = if data.bytes > 0 { records } else { 0 };
            data
        }
        Err(error) => {
            let mut data = PartitionData::failed(error_code::for_engine(&error).code());
            data.high_watermark = log.high_watermark().0;
            data.last_stable_offset = log.last_stable_offset().0;
            data.log_start_offset = log.log_start_offset().0;
            data
        }
    }
}

/// The records of `result` in the message format of an old fetcher
/// (`record_formats.rs`): read into memory and converted on the blocking
/// pool, since reading may touch the disk and converting costs CPU.
async fn down_converted(
    result: engine::ReadResult,
    magic: i8,
    max_message_bytes: usize,
    max_bytes: u64,
) -> PartitionData {
    let mut data = PartitionData {
        high_watermark: result.high_watermark.0,
        last_stable_offset: result.last_stable_offset.0,
        log_start_offset: result.log_start_offset.0,
        ..PartitionData::default()
    };
    let mut chunks = Vec::with_capacity(result.chunks.len());
    for chunk in &result.chunks {
        chunks.push(match chunk {
            engine::ReadChunk::File {
                file,
                position,
                len,
            } => {
                // SAFETY: the segment file stays open while `file` is alive.
                let borrowed = unsafe { BorrowedFd::borrow_raw(file.as_raw_fd()) };
                match borrowed.try_clone_to_owned() {
                    Ok(fd) => Stored::File(fd, position.0, *len),
                    Err(error) => {
                        tracing::error!("duplicating a segment descriptor: {error}");
                        data.error_code = ResponseError::KafkaStorageError.code();
                        return data;
                    }
                }
            }
            engine::ReadChunk::Memory(memory) => Stored::Memory(memory.clone()),
        });
    }
    let converted = shard::run_blocking(move || {
        let mut stored = Vec::new();
        for chunk in chunks {
            match chunk {
                Stored::Memory(bytes) => stored.extend_from_slice(&bytes),
                Stored::File(fd, position, len) => {
                    let start = stored.len();
                    stored.resize(start + len as usize, 0);
                    let read = nix::sys::uio::pread(&fd, &mut stored[start..], position as i64)
                        .map_err(ConvertError::Read)?;
                    stored.truncate(start + read);
                }
            }
        }
        record_formats::down_convert(&stored, magic, max_message_bytes, max_bytes as usize)
            .map_err(ConvertError::Batch)
            .map(|set| (set, stored.len()))
    })
    .await;
    match converted {
        Ok((message_set, stored_len)) => {
            crate::metrics::add_memory_record_bytes(stored_len as u64);
            data.bytes = message_set.len() as u64;
            data.parts = vec![Part::Bytes(bytes::Bytes::from(message_set))];
        }
        Err(ConvertError::Batch(error)) => {
            // A zstd batch cannot be given to a v0-v3 fetcher:
            // UNSUPPORTED_COMPRESSION_TYPE, as Kafka answers.
            tracing::debug!("down-conversion for a v0-v3 fetch: {error}");
            data.error_code = error_code::for_batch(&error).code();
        }
        Err(ConvertError::Read(error)) => {
            tracing::warn!("reading a segment to down-convert it: {error}");
            data.error_code = ResponseError::KafkaStorageError.code();
        }
    }
    data
}

/// Why down-converting a partition's data failed.
enum ConvertError {
    Read(nix::errno::Errno),
    Batch(engine::BatchError),
}

/// A piece of stored record data, on its way to the blocking pool.
enum Stored {
    File(OwnedFd, u64, u64),
    Memory(bytes::Bytes),
}

fn to_parts(result: engine::ReadResult) -> PartitionData {
    let mut parts = Vec::with_capacity(result.chunks.len());
    let mut bytes = 0;
    for chunk in &result.chunks {
        match chunk {
            engine::ReadChunk::File {
                file,
                position,
                len,
            } => {
                // SAFETY: the segment file stays open while `file` is alive.
                let borrowed = unsafe { BorrowedFd::borrow_raw(file.as_raw_fd()) };
                match borrowed.try_clone_to_owned() {
                    Ok(fd) => parts.push(Part::File {
                        fd: Arc::<OwnedFd>::new(fd),
                        position: position.0,
                        len: *len,
                    }),
                    Err(error) => {
                        tracing::error!("duplicating a segment descriptor: {error}");
                        break;
                    }
                }
                bytes += len;
            }
            engine::ReadChunk::Memory(memory) => {
                bytes += memory.len() as u64;
                crate::metrics::add_memory_record_bytes(memory.len() as u64);
                parts.push(Part::Bytes(memory.clone()));
            }
        }
    }
    PartitionData {
        partition: 0, // set by the caller
        error_code: error_code::NONE,
        high_watermark: result.high_watermark.0,
        last_stable_offset: result.last_stable_offset.0,
        log_start_offset: result.log_start_offset.0,
        parts,
        bytes,
        records: 0, // set by the caller
    }
}

/// Writes the response by hand (versions 0 to 18; 12 on are flexible):
/// `error_code` is the top-level one (sent from version 7), `topics` gives
/// each topic's name, id (sent instead of the name from version 13) and
/// partition count, `partitions` the partitions' data in request order.
fn encode(
    preamble: Preamble,
    error_code: i16,
    topics: &[(Rc<str>, uuid::Uuid, usize)],
    partitions: Vec<PartitionData>,
) -> Reply {
    let version = preamble.api_version;
    let flexible = version >= 12;
    let mut out: Vec<Part> = Vec::new();
    let mut head = BytesMut::new();
    head.put_i32(preamble.correlation_id);
    if flexible {
        put_uvarint(&mut head, 0); // response header tagged fields
    }
    if version >= 1 {
        head.put_i32(0); // throttle_time_ms
    }
    if version >= 7 {
        head.put_i16(error_code);
        head.put_i32(0); // session_id: sessionless
    }
    let mut partitions = partitions.into_iter();
    put_array_len(&mut head, topics.len(), flexible);
    for (name, topic_id, count) in topics {
        if version >= 13 {
            head.put_slice(topic_id.as_bytes());
        } else {
            put_string(&mut head, name, flexible);
        }
        put_array_len(&mut head, *count, flexible);
        for data in partitions.by_ref().take(*count) {
            head.put_i32(data.partition);
            head.put_i16(data.error_code);
            head.put_i64(data.high_watermark);
            if version >= 4 {
                head.put_i64(data.last_stable_offset);
            }
            if version >= 5 {
                head.put_i64(data.log_start_offset);
            }
            if version >= 4 {
                put_array_len(&mut head, 0, flexible); // aborted_transactions: none
            }
            if version >= 11 {
                head.put_i32(-1); // preferred_read_replica
            }
            if flexible {
                put_uvarint(&mut head, data.bytes + 1);
            } else {
                head.put_i32(data.bytes as i32);
            }
            if data.bytes > 0 {
                out.push(Part::Bytes(std::mem::take(&mut head).freeze()));
                out.extend(data.parts);
            }
            if flexible {
                put_uvarint(&mut head, 0); // partition tagged fields
            }
        }
        if flexible {
            put_uvarint(&mut head, 0); // topic tagged fields
        }
    }
    if flexible {
        put_uvarint(&mut head, 0); // body tagged fields
    }
    out.push(Part::Bytes(head.freeze()));
    let size: u64 = out
        .iter()
        .map(|part| match part {
            Part::Bytes(bytes) => bytes.len() as u64,
            Part::File { len, .. } => *len,
        })
        .sum();
    let mut prefix = BytesMut::with_capacity(4);
    prefix.put_i32(size as i32);
    out.insert(0, Part::Bytes(prefix.freeze()));
    Reply::Parts(out)
}

fn put_uvarint(buf: &mut BytesMut, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            buf.put_u8(byte);
            return;
        }
        buf.put_u8(byte | 0x80);
    }
}

fn put_array_len(buf: &mut BytesMut, len: usize, flexible: bool) {
    if flexible {
        put_uvarint(buf, len as u64 + 1);
    } else {
        buf.put_i32(len as i32);
    }
}

fn put_string(buf: &mut BytesMut, value: &str, flexible: bool) {
    if flexible {
        put_uvarint(buf, value.len() as u64 + 1);
    } else {
        buf.put_i16(value.len() as i16);
    }
    buf.put_slice(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;

    /// The hand-written encoding decodes with kafka-protocol's own decoder.
    #[test]
    fn hand_encoding_matches_the_schema_for_every_version() {
        for version in 0..=18 {
            let record_bytes = Bytes::from_static(b"not-really-a-batch");
            let topic_id = uuid::Uuid::from_u128(0x1234);
            let topics = vec![(Rc::from("events"), topic_id, 2)];
            let partitions = vec![
                PartitionData {
                    partition: 0,
                    error_code: 0,
                    high_watermark: 10,
                    last_stable_offset: 10,
                    log_start_offset: 2,
                    parts: vec![Part::Bytes(record_bytes.clone())],
                    bytes: record_bytes.len() as u64,
                    records: 1,
                },
                PartitionData {
                    partition: 1,
                    ..PartitionData::failed(1)
                },
            ];
            let preamble = Preamble {
                api_key: ApiKey::Fetch,
                api_version: version,
                correlation_id: 77,
            };
            let Reply::Parts(parts) = encode(preamble, 0, &topics, partitions) else {
                panic!("parts expected")
            };
            let mut frame = Vec::new();
            for part in parts {
                let Part::Bytes(bytes) = part else {
                    panic!("memory only here")
                };
                frame.extend_from_slice(&bytes);
            }
            let size = i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
            assert_eq!(size, frame.len() - 4, "v{version} size prefix");
            let mut body = Bytes::from(frame[4..].to_vec());
            let header =
                ResponseHeader::decode(&mut body, ApiKey::Fetch.response_header_version(version))
                    .unwrap();
            assert_eq!(header.correlation_id, 77);
            // (topic, [(records, high watermark, error, log start)])
            let (topic, partitions) = if version >= 4 {
                let response = FetchResponse::decode(&mut body, version).unwrap();
                let topic = &response.responses[0];
                let partitions: Vec<_> = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        (
                            p.records.clone(),
                            p.high_watermark,
                            p.error_code,
                            p.log_start_offset,
                        )
                    })
                    .collect();
                if version >= 13 {
                    assert_eq!(topic.topic_id, topic_id);
                    (String::from("events"), partitions)
                } else {
                    (topic.topic.to_string(), partitions)
                }
            } else {
                use kafka_protocol_legacy::messages::FetchResponse as OldFetchResponse;
                use kafka_protocol_legacy::protocol::Decodable as _;
                let response = OldFetchResponse::decode(&mut body, version).unwrap();
                let topic = &response.responses[0];
                let partitions: Vec<_> = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        (
                            p.records.clone(),
                            p.high_watermark,
                            p.error_code,
                            p.log_start_offset,
                        )
                    })
                    .collect();
                (topic.topic.to_string(), partitions)
            };
            assert!(body.is_empty(), "v{version}: every byte consumed");
            assert_eq!(topic, "events");
            assert_eq!(partitions[0].0.as_deref(), Some(&b"not-really-a-batch"[..]));
            assert_eq!(partitions[0].1, 10);
            assert_eq!(partitions[1].2, 1);
            if version >= 5 {
                assert_eq!(partitions[0].3, 2);
            }
        }
    }
}
