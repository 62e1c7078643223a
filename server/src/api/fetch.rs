//! Fetch: long-polls until `min_bytes` are ready or `max_wait_ms` passes,
//! then answers with a response written by hand around the record data, so
//! file ranges go to the socket with sendfile and are never copied through
//! user space. Fetch sessions are answered sessionless (session id 0), which
//! Kafka's protocol allows: clients then send full fetches.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::FetchRequest;
use kafka_protocol::ResponseError;

use super::Preamble;
use crate::connection::{Part, Reply};
use crate::error_code;
use crate::limits::FETCH_POLL_INTERVAL_MS;
use crate::shard::Shard;

/// Record data for one partition, ready to cross shards (fds are duplicated).
#[derive(Default)]
struct PartitionData {
    error_code: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    parts: Vec<Part>,
    bytes: u64,
}

struct TopicOut {
    name: String,
    partitions: Vec<(i32, PartitionData)>,
}

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: FetchRequest) -> Reply {
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let max_bytes = if request.max_bytes <= 0 {
        i32::MAX as u64
    } else {
        request.max_bytes as u64
    };
    let min_bytes = request.min_bytes.max(0) as u64;
    loop {
        let (topics, total, any_error) = gather(shard, &request, max_bytes).await;
        let now = Instant::now();
        if total >= min_bytes.max(1) || any_error || now >= deadline {
            return encode(preamble, &topics);
        }
        let wait = (deadline - now).min(Duration::from_millis(FETCH_POLL_INTERVAL_MS));
        glommio::timer::sleep(wait).await;
    }
}

async fn gather(
    shard: &Rc<Shard>,
    request: &FetchRequest,
    max_bytes: u64,
) -> (Vec<TopicOut>, u64, bool) {
    let mut remaining = max_bytes;
    let mut total = 0;
    let mut any_error = false;
    let mut topics = Vec::new();
    for topic in &request.topics {
        let name = topic.topic.to_string();
        let mut partitions = Vec::new();
        for partition in &topic.partitions {
            let limit = (partition.partition_max_bytes.max(0) as u64).min(remaining);
            let data = if limit == 0 && total > 0 {
                PartitionData {
                    error_code: error_code::NONE,
                    high_watermark: -1,
                    last_stable_offset: -1,
                    log_start_offset: -1,
                    ..Default::default()
                }
            } else {
                fetch_one(
                    shard,
                    &name,
                    partition.partition,
                    partition.fetch_offset,
                    limit.max(1),
                )
                .await
            };
            any_error |= data.error_code != error_code::NONE;
            remaining = remaining.saturating_sub(data.bytes);
            total += data.bytes;
            partitions.push((partition.partition, data));
        }
        topics.push(TopicOut { name, partitions });
    }
    (topics, total, any_error)
}

async fn fetch_one(
    shard: &Rc<Shard>,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: u64,
) -> PartitionData {
    let owner = shard.owner_of(topic, partition);
    let topic = topic.to_string();
    let answer = shard
        .call(owner, move |owner| async move {
            let failed = |error: ResponseError| PartitionData {
                error_code: error.code(),
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                ..Default::default()
            };
            let Some(log) = owner.partition(&topic, partition) else {
                return failed(ResponseError::UnknownTopicOrPartition);
            };
            match log.read(engine::Offset(offset), max_bytes).await {
                Ok(result) => to_parts(result),
                Err(error) => {
                    let mut data = failed(error_code::for_engine(&error));
                    data.high_watermark = log.high_watermark().0;
                    data.last_stable_offset = log.last_stable_offset().0;
                    data.log_start_offset = log.log_start_offset().0;
                    data
                }
            }
        })
        .await;
    answer.unwrap_or_else(|_| PartitionData {
        error_code: ResponseError::NotLeaderOrFollower.code(),
        ..Default::default()
    })
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
        error_code: error_code::NONE,
        high_watermark: result.high_watermark.0,
        last_stable_offset: result.last_stable_offset.0,
        log_start_offset: result.log_start_offset.0,
        parts,
        bytes,
    }
}

/// Writes the response by hand (versions 4 to 12; 12 is flexible).
fn encode(preamble: Preamble, topics: &[TopicOut]) -> Reply {
    let version = preamble.api_version;
    let flexible = version >= 12;
    let mut out: Vec<Part> = Vec::new();
    let mut head = BytesMut::new();
    head.put_i32(preamble.correlation_id);
    if flexible {
        put_uvarint(&mut head, 0); // response header tagged fields
    }
    head.put_i32(0); // throttle_time_ms
    if version >= 7 {
        head.put_i16(error_code::NONE);
        head.put_i32(0); // session_id: sessionless
    }
    put_array_len(&mut head, topics.len(), flexible);
    for topic in topics {
        put_string(&mut head, &topic.name, flexible);
        put_array_len(&mut head, topic.partitions.len(), flexible);
        for (index, data) in &topic.partitions {
            head.put_i32(*index);
            head.put_i16(data.error_code);
            head.put_i64(data.high_watermark);
            head.put_i64(data.last_stable_offset);
            if version >= 5 {
                head.put_i64(data.log_start_offset);
            }
            put_array_len(&mut head, 0, flexible); // aborted_transactions: none
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
                for part in &data.parts {
                    out.push(match part {
                        Part::Bytes(bytes) => Part::Bytes(bytes.clone()),
                        Part::File { fd, position, len } => Part::File {
                            fd: fd.clone(),
                            position: *position,
                            len: *len,
                        },
                    });
                }
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
        for version in 4..=12 {
            let record_bytes = Bytes::from_static(b"not-really-a-batch");
            let topics = vec![TopicOut {
                name: "events".into(),
                partitions: vec![
                    (
                        0,
                        PartitionData {
                            error_code: 0,
                            high_watermark: 10,
                            last_stable_offset: 10,
                            log_start_offset: 2,
                            parts: vec![Part::Bytes(record_bytes.clone())],
                            bytes: record_bytes.len() as u64,
                        },
                    ),
                    (
                        1,
                        PartitionData {
                            error_code: 1,
                            high_watermark: -1,
                            last_stable_offset: -1,
                            log_start_offset: -1,
                            parts: vec![],
                            bytes: 0,
                        },
                    ),
                ],
            }];
            let preamble = Preamble {
                api_key: ApiKey::Fetch,
                api_version: version,
                correlation_id: 77,
            };
            let Reply::Parts(parts) = encode(preamble, &topics) else {
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
            let response = FetchResponse::decode(&mut body, version).unwrap();
            assert!(body.is_empty(), "v{version}: every byte consumed");
            let partitions = &response.responses[0].partitions;
            assert_eq!(response.responses[0].topic.to_string(), "events");
            assert_eq!(
                partitions[0].records.as_deref(),
                Some(&b"not-really-a-batch"[..])
            );
            assert_eq!(partitions[0].high_watermark, 10);
            assert_eq!(partitions[1].error_code, 1);
            if version >= 5 {
                assert_eq!(partitions[0].log_start_offset, 2);
            }
        }
    }
}
