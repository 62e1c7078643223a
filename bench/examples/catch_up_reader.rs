//! A minimal catch-up consumer for measuring the broker's fetch path alone:
//! one connection, one Fetch (v11) in flight, every partition of a topic from
//! offset 0 to the high watermark. Responses are read into one reused buffer
//! and only batch headers are looked at, so the client's own cost is the
//! socket read — as for iperf3's receiving side, the loopback reference.
//!
//! ```text
//! cargo run --release -p ringlog-bench --example catch_up_reader -- \
//!     127.0.0.1:9092 TOPIC PARTITIONS [MAX_BYTES] [PARTITION_MAX_BYTES]
//! ```
//! Prints record bytes, seconds, MB/s and this process's CPU seconds.

use std::io::{Read, Write};
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

    let mut stream = TcpStream::connect(address).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut offsets = vec![0i64; partitions as usize];
    let mut high_watermarks = vec![i64::MAX; partitions as usize];
    let mut buffer = Vec::new();
    let mut record_bytes: u64 = 0;
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    for correlation_id in 1.. {
        let done = offsets
            .iter()
            .zip(&high_watermarks)
            .all(|(offset, high_watermark)| offset >= high_watermark);
        if done {
            break;
        }
        let request = fetch_request(correlation_id, topic, &offsets, max_bytes, partition_max);
        stream.write_all(&request).expect("send fetch");
        let mut size = [0u8; 4];
        stream.read_exact(&mut size).expect("response size");
        let size = i32::from_be_bytes(size);
        assert!(size >= 0, "negative response size");
        buffer.resize(size as usize, 0);
        stream.read_exact(&mut buffer).expect("response body");
        let mut reader = Reader::new(&buffer);
        assert_eq!(reader.i32(), correlation_id, "correlation id");
        reader.i32(); // throttle_time_ms
        let error = reader.i16();
        assert_eq!(error, 0, "fetch error {error}");
        reader.i32(); // session_id
        for _ in 0..reader.i32() {
            let name_len = reader.i16();
            reader.skip(name_len as usize);
            for _ in 0..reader.i32() {
                let partition = reader.i32() as usize;
                let error = reader.i16();
                assert_eq!(error, 0, "partition {partition}: error {error}");
                high_watermarks[partition] = reader.i64();
                reader.i64(); // last_stable_offset
                reader.i64(); // log_start_offset
                let aborted = reader.i32();
                reader.skip(16 * aborted.max(0) as usize);
                reader.i32(); // preferred_read_replica
                let len = reader.i32().max(0) as usize;
                let records = reader.take(len);
                let (next, whole) = walk_batches(records);
                if let Some(next) = next {
                    offsets[partition] = next;
                }
                record_bytes += whole as u64;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    println!(
        "catch-up read {record_bytes} record bytes in {seconds:.2} s = {:.0} MB/s; client cpu {cpu:.2} s ({:.2} core-s/GB)",
        record_bytes as f64 / seconds / 1e6,
        cpu / (record_bytes as f64 / 1e9)
    );
}

/// The next offset after the last whole batch, and the bytes of whole batches.
fn walk_batches(records: &[u8]) -> (Option<i64>, usize) {
    let mut position = 0;
    let mut next = None;
    while position + 61 <= records.len() {
        let at = &records[position..];
        let base = i64::from_be_bytes(at[0..8].try_into().expect("8 bytes"));
        let length = i32::from_be_bytes(at[8..12].try_into().expect("4 bytes"));
        let size = 12 + length.max(0) as usize;
        if position + size > records.len() {
            break; // cut at max_bytes: fetched again next time
        }
        let delta = i32::from_be_bytes(at[23..27].try_into().expect("4 bytes"));
        next = Some(base + i64::from(delta) + 1);
        position += size;
    }
    (next, position)
}

fn fetch_request(
    correlation_id: i32,
    topic: &str,
    offsets: &[i64],
    max_bytes: i32,
    partition_max: i32,
) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    out.extend_from_slice(&1i16.to_be_bytes()); // Fetch
    out.extend_from_slice(&11i16.to_be_bytes());
    out.extend_from_slice(&correlation_id.to_be_bytes());
    put_string(&mut out, "catch-up-reader");
    out.extend_from_slice(&(-1i32).to_be_bytes()); // replica_id
    out.extend_from_slice(&500i32.to_be_bytes()); // max_wait_ms
    out.extend_from_slice(&1i32.to_be_bytes()); // min_bytes
    out.extend_from_slice(&max_bytes.to_be_bytes());
    out.push(0); // isolation_level
    out.extend_from_slice(&0i32.to_be_bytes()); // session_id
    out.extend_from_slice(&(-1i32).to_be_bytes()); // session_epoch
    out.extend_from_slice(&1i32.to_be_bytes()); // one topic
    put_string(&mut out, topic);
    out.extend_from_slice(&(offsets.len() as i32).to_be_bytes());
    for (partition, offset) in offsets.iter().enumerate() {
        out.extend_from_slice(&(partition as i32).to_be_bytes());
        out.extend_from_slice(&(-1i32).to_be_bytes()); // current_leader_epoch
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&(-1i64).to_be_bytes()); // log_start_offset
        out.extend_from_slice(&partition_max.to_be_bytes());
    }
    out.extend_from_slice(&0i32.to_be_bytes()); // forgotten topics
    put_string(&mut out, ""); // rack_id
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    out
}

fn put_string(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as i16).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    fn take(&mut self, len: usize) -> &'a [u8] {
        assert!(len <= self.bytes.len(), "response shorter than it says");
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        head
    }

    fn skip(&mut self, len: usize) {
        self.take(len);
    }

    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().expect("2 bytes"))
    }

    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().expect("4 bytes"))
    }

    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().expect("8 bytes"))
    }
}

/// This process's user + system CPU seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .expect("stat has a ')'")
        .split_whitespace()
        .collect();
    // After the command name: state is field 3, utime 14 and stime 15.
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}
