//! A minimal catch-up consumer for measuring the broker's fetch path alone:
//! one connection, one Fetch (v11) in flight, every partition of a topic from
//! offset 0 to the high watermark. Responses are read as a stream through a
//! 128 KiB buffer and only batch headers are looked at, so the client's own
//! cost is the socket read — as for iperf3's receiving side, the loopback
//! reference.
//!
//! ```text
//! cargo run --release -p ringlog-bench --example catch_up_reader -- \
//!     127.0.0.1:9092 TOPIC PARTITIONS [MAX_BYTES] [PARTITION_MAX_BYTES]
//! ```
//! `FETCH_VERSION=3` fetches with Fetch v3 instead: message format 1, which
//! the broker down-converts (bench/downconversion-cost.sh), and entries of
//! the message set are walked instead of batch headers.
//! Prints record bytes, seconds, MB/s and this process's CPU seconds.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!(
            "usage: catch_up_reader HOST:PORT TOPIC PARTITIONS [MAX_BYTES] [PARTITION_MAX_BYTES]"
        );
        std::process::exit(2);
    }
    let address = &args[1];
    let topic = &args[2];
    let partitions: i32 = args[3].parse().expect("PARTITIONS is a number");
    let max_bytes: i32 = args
        .get(4)
        .map_or(52_428_800, |value| value.parse().expect("MAX_BYTES"));
    let partition_max: i32 = args.get(5).map_or(4_194_304, |value| {
        value.parse().expect("PARTITION_MAX_BYTES")
    });

    let stream = TcpStream::connect(address).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut writer = stream.try_clone().expect("clone the socket");
    // Responses are read as a stream through a 128 KiB buffer, as iperf3's
    // receiver reads through its own: a response held whole (50 MB) would
    // make the client's memory traffic, not the broker, the limit.
    let mut reader = Reader::new(BufReader::with_capacity(RECEIVE_BUFFER_BYTES, stream));
    let mut offsets = vec![0i64; partitions as usize];
    let mut high_watermarks = vec![i64::MAX; partitions as usize];
    let mut record_bytes: u64 = 0;
    let version: i16 = std::env::var("FETCH_VERSION").ok().map_or(11, |value| {
        value.parse().expect("FETCH_VERSION is a number")
    });
    assert!(version == 11 || version == 3, "FETCH_VERSION is 11 or 3");
    let started = Instant::now();
    let cpu_before = ringlog_bench::process_cpu_seconds();
    for correlation_id in 1.. {
        let done = offsets
            .iter()
            .zip(&high_watermarks)
            .all(|(offset, high_watermark)| offset >= high_watermark);
        if done {
            break;
        }
        let request = fetch_request(
            version,
            correlation_id,
            topic,
            &offsets,
            max_bytes,
            partition_max,
        );
        writer.write_all(&request).expect("send fetch");
        reader.remaining = 4;
        let size = reader.i32();
        assert!(size >= 0, "negative response size");
        reader.remaining = size as u64;
        assert_eq!(reader.i32(), correlation_id, "correlation id");
        reader.i32(); // throttle_time_ms
        if version >= 7 {
            let error = reader.i16();
            assert_eq!(error, 0, "fetch error {error}");
            reader.i32(); // session_id
        }
        for _ in 0..reader.i32() {
            let name_len = reader.i16();
            reader.skip(name_len.max(0) as u64);
            for _ in 0..reader.i32() {
                let partition = reader.i32() as usize;
                let error = reader.i16();
                assert_eq!(error, 0, "partition {partition}: error {error}");
                high_watermarks[partition] = reader.i64();
                if version >= 4 {
                    reader.i64(); // last_stable_offset
                    reader.i64(); // log_start_offset
                    let aborted = reader.i32();
                    reader.skip(16 * aborted.max(0) as u64);
                    reader.i32(); // preferred_read_replica
                }
                let len = reader.i32().max(0) as u64;
                let (next, whole) = if version >= 4 {
                    walk_batches(&mut reader, len)
                } else {
                    walk_message_set(&mut reader, len)
                };
                if let Some(next) = next {
                    offsets[partition] = next;
                }
                record_bytes += whole;
            }
        }
        assert_eq!(reader.remaining, 0, "response read to its end");
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = ringlog_bench::process_cpu_seconds() - cpu_before;
    println!(
        "catch-up read {record_bytes} record bytes in {seconds:.2} s = {:.0} MB/s; client cpu {cpu:.2} s ({:.2} core-s/GB)",
        record_bytes as f64 / seconds / 1e6,
        cpu / (record_bytes as f64 / 1e9)
    );
}

/// Reads `len` bytes of record data: the next offset after the last whole
/// batch, and the bytes of whole batches (a batch cut at max_bytes is
/// skipped and fetched again next time).
fn walk_batches(reader: &mut Reader, len: u64) -> (Option<i64>, u64) {
    let mut position = 0;
    let mut next = None;
    while position + BATCH_PREFIX_BYTES <= len {
        let base = reader.i64();
        let length = reader.i32();
        let size = 12 + length.max(0) as u64;
        reader.skip(11); // partition_leader_epoch, magic, crc, attributes
        let delta = reader.i32();
        if position + size > len {
            reader.skip(len - position - BATCH_PREFIX_BYTES);
            return (next, position);
        }
        reader.skip(size - BATCH_PREFIX_BYTES);
        next = Some(base + i64::from(delta) + 1);
        position += size;
    }
    reader.skip(len - position);
    (next, position)
}

/// As `walk_batches`, for a message set of magic 0 or 1: entries of an
/// offset, a size and a message; a wrapper's offset is its last inner one.
fn walk_message_set(reader: &mut Reader, len: u64) -> (Option<i64>, u64) {
    let mut position = 0;
    let mut next = None;
    while position + 12 <= len {
        let offset = reader.i64();
        let size = 12 + reader.i32().max(0) as u64;
        if position + size > len {
            reader.skip(len - position - 12);
            return (next, position);
        }
        reader.skip(size - 12);
        next = Some(offset + 1);
        position += size;
    }
    reader.skip(len - position);
    (next, position)
}

/// A batch's bytes up to and including last_offset_delta.
const BATCH_PREFIX_BYTES: u64 = 27;

/// The client's receive buffer.
const RECEIVE_BUFFER_BYTES: usize = 128 << 10;

fn fetch_request(
    version: i16,
    correlation_id: i32,
    topic: &str,
    offsets: &[i64],
    max_bytes: i32,
    partition_max: i32,
) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    out.extend_from_slice(&1i16.to_be_bytes()); // Fetch
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&correlation_id.to_be_bytes());
    put_string(&mut out, "catch-up-reader");
    out.extend_from_slice(&(-1i32).to_be_bytes()); // replica_id
    out.extend_from_slice(&500i32.to_be_bytes()); // max_wait_ms
    out.extend_from_slice(&1i32.to_be_bytes()); // min_bytes
    out.extend_from_slice(&max_bytes.to_be_bytes());
    if version >= 7 {
        out.push(0); // isolation_level
        out.extend_from_slice(&0i32.to_be_bytes()); // session_id
        out.extend_from_slice(&(-1i32).to_be_bytes()); // session_epoch
    }
    out.extend_from_slice(&1i32.to_be_bytes()); // one topic
    put_string(&mut out, topic);
    out.extend_from_slice(&(offsets.len() as i32).to_be_bytes());
    for (partition, offset) in offsets.iter().enumerate() {
        out.extend_from_slice(&(partition as i32).to_be_bytes());
        if version >= 9 {
            out.extend_from_slice(&(-1i32).to_be_bytes()); // current_leader_epoch
        }
        out.extend_from_slice(&offset.to_be_bytes());
        if version >= 5 {
            out.extend_from_slice(&(-1i64).to_be_bytes()); // log_start_offset
        }
        out.extend_from_slice(&partition_max.to_be_bytes());
    }
    if version >= 7 {
        out.extend_from_slice(&0i32.to_be_bytes()); // forgotten topics
    }
    if version >= 11 {
        put_string(&mut out, ""); // rack_id
    }
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    out
}

fn put_string(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as i16).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// Reads big-endian fields from the response stream, counting down the
/// bytes of the response still to come.
struct Reader {
    stream: BufReader<TcpStream>,
    remaining: u64,
    scratch: Vec<u8>,
}

impl Reader {
    fn new(stream: BufReader<TcpStream>) -> Reader {
        Reader {
            stream,
            remaining: 0,
            scratch: vec![0u8; RECEIVE_BUFFER_BYTES],
        }
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        assert!(N as u64 <= self.remaining, "response shorter than it says");
        let mut out = [0u8; N];
        self.stream.read_exact(&mut out).expect("response bytes");
        self.remaining -= N as u64;
        out
    }

    fn skip(&mut self, mut len: u64) {
        assert!(len <= self.remaining, "response shorter than it says");
        self.remaining -= len;
        while len > 0 {
            let step = len.min(self.scratch.len() as u64) as usize;
            self.stream
                .read_exact(&mut self.scratch[..step])
                .expect("response bytes");
            len -= step as u64;
        }
    }

    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take())
    }

    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take())
    }

    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take())
    }
}
