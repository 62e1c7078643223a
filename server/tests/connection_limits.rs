//! Kafka's connection limits with the real binary: `max.connections` and
//! `max.connections.per.ip` close new connections over the limit at once
//! (an end of stream, not a hang), freed places are given again, and
//! `queued.max.request.bytes` makes a request that does not fit wait,
//! never refused. Also: 10,000 idle connections are held, with their
//! memory measured.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::{ApiKey, ProduceResponse};
use kafka_protocol::protocol::Encodable;
use support::*;

/// A connection from `source` (an address of the loopback range).
fn connect_from(broker: &Broker, source: [u8; 4]) -> Raw {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((source, 0)).into()).unwrap();
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], broker.port)).into())
        .unwrap();
    Raw::from_stream(TcpStream::from(socket))
}

/// `count` connections from `source` that the broker serves. The broker
/// learns of a close a moment after it happens (the start-up probes' too),
/// so a connection refused while earlier ones are still counted is retried.
fn hold(broker: &Broker, source: [u8; 4], count: usize) -> Vec<Raw> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut held = Vec::new();
    while held.len() < count {
        let mut raw = connect_from(broker, source);
        if raw.is_closed_or_answers() {
            assert!(Instant::now() < deadline, "only {} held", held.len());
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        held.push(raw);
    }
    held
}

#[test]
fn connections_over_the_limits_are_closed_and_freed_places_given_again() {
    let broker = Broker::start_logged(
        2,
        &[
            "max.connections=12",
            "max.connections.per.ip=8",
            "max.connections.per.ip.overrides=127.0.0.4:0",
        ],
    );
    // An address whose override is 0 gets no connection at all.
    let mut barred = connect_from(&broker, [127, 0, 0, 4]);
    assert!(barred.is_closed(), "127.0.0.4 is overridden to 0");

    // Eight from 127.0.0.1, spread over both shards: the limit is the
    // broker's, not a shard's.
    let mut held = hold(&broker, [127, 0, 0, 1], 8);
    let mut ninth = Raw::connect(&broker);
    assert!(ninth.is_closed(), "a ninth from one address is closed");

    // Another address still gets in, up to the broker's limit of 12.
    let mut others = hold(&broker, [127, 0, 0, 2], 4);
    let mut thirteenth = connect_from(&broker, [127, 0, 0, 3]);
    assert!(thirteenth.is_closed(), "a thirteenth is closed");

    // A place freed is given again (the broker sees the close shortly).
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = Raw::connect(&broker);
        if !again.is_closed_or_answers() {
            break;
        }
        assert!(Instant::now() < deadline, "the freed place was not given");
        std::thread::sleep(Duration::from_millis(50));
    }
    for raw in held.iter_mut().chain(&mut others) {
        assert_eq!(
            raw.api_versions().error_code,
            0,
            "the held ones still answer"
        );
    }
    let log = broker.log_text();
    assert!(
        log.contains("127.0.0.4 holds max.connections.per.ip.overrides=0"),
        "{log}"
    );
    assert!(log.contains("max.connections=12"), "{log}");
}

/// A flood far over the limit: every connection beyond it ends at once
/// (end of stream or reset, never a hang), the held ones keep being
/// served, and the log says so in a few lines, not one per connection.
#[test]
fn a_flood_of_connections_is_refused_cleanly() {
    const LIMIT: usize = 50;
    const FLOOD: usize = 2_000;
    let limit = format!("max.connections={LIMIT}");
    let broker = Broker::start_logged(2, &[&limit]);
    let mut held = hold(&broker, [127, 0, 0, 1], LIMIT);
    let started = Instant::now();
    let mut flood: Vec<Raw> = (0..FLOOD).map(|_| Raw::connect(&broker)).collect();
    for raw in &mut flood {
        assert!(raw.is_closed(), "a connection over the limit was kept");
    }
    let refused_in = started.elapsed();
    for raw in &mut held {
        assert_eq!(raw.api_versions().error_code, 0);
    }
    let log = broker.log_text();
    let lines = log.matches("refused").count();
    eprintln!("{FLOOD} connections over the limit refused in {refused_in:?}; {lines} log lines");
    assert!(lines >= 1, "{log}");
    assert!(
        lines as u64 <= 2 * (refused_in.as_secs() + 2),
        "{lines} log lines for {FLOOD} refusals"
    );
}

fn batch(value_bytes: usize, tag: u8) -> Bytes {
    Bytes::from(
        BatchBuilder::new()
            .record(Record::value(
                vec![tag; value_bytes],
                TimestampMs(1_700_000_000_000),
            ))
            .build(),
    )
}

/// The frame (size prefix included) of a Produce v8 request.
fn produce_frame(topic: &str, records: Bytes, correlation_id: i32) -> Vec<u8> {
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::protocol::StrBytes;
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(8)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("budget-test")));
    let mut body = bytes::BytesMut::new();
    header
        .encode(&mut body, ApiKey::Produce.request_header_version(8))
        .unwrap();
    produce_request(topic, 0, records, 1)
        .encode(&mut body, 8)
        .unwrap();
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn a_request_over_the_budget_waits_for_bytes_to_come_back() {
    // One shard: both connections draw on the same budget of 1 MiB.
    let broker = Broker::start_with(
        1,
        &[
            "socket.request.max.bytes=1048576",
            "queued.max.request.bytes=1048576",
        ],
    );
    create_topic(&broker, "budget", 1);

    // A takes most of the budget with a frame it sends half of.
    let big = produce_frame("budget", batch(1_030_000, b'a'), 1);
    assert!(big.len() > 1_030_000 && big.len() < 1_048_576);
    let mut first = Raw::connect(&broker);
    first.stream.write_all(&big[..big.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // B's 30 KB request does not fit in what is left: it waits.
    let mut second = Raw::connect(&broker);
    second
        .stream
        .write_all(&produce_frame("budget", batch(30_000, b'b'), 2))
        .unwrap();
    second
        .stream
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = std::io::Read::read(&mut second.stream, &mut byte);
    assert!(
        matches!(&waited, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "B must wait for the budget, not be answered or closed: {waited:?}"
    );

    // A's request completes, is answered and gives its bytes back: B goes on.
    first.stream.write_all(&big[big.len() / 2..]).unwrap();
    let (correlation, answer): (_, ProduceResponse) =
        first.receive(ApiKey::Produce, 8).expect("A answered");
    assert_eq!(correlation, 1);
    assert_eq!(answer.responses[0].partition_responses[0].error_code, 0);
    second
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (correlation, answer): (_, ProduceResponse) =
        second.receive(ApiKey::Produce, 8).expect("B answered");
    assert_eq!(correlation, 2);
    let answer = &answer.responses[0].partition_responses[0];
    assert_eq!(
        (answer.error_code, answer.base_offset),
        (0, 1),
        "after A's record"
    );
}

/// Raises this process's open files limit (and so the broker's, which it
/// starts): to `wanted` where it may (root may raise the hard limit), else
/// to its hard limit. Returns the limit in force.
fn raise_open_files_limit(wanted: u64) -> u64 {
    let mut limit = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the one struct given.
    unsafe {
        assert_eq!(
            nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut limit),
            0
        );
        let raised = nix::libc::rlimit {
            rlim_cur: wanted.max(limit.rlim_cur),
            rlim_max: wanted.max(limit.rlim_max),
        };
        if nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &raised) == 0 {
            return raised.rlim_cur;
        }
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &limit), 0);
    }
    limit.rlim_cur
}

#[test]
fn ten_thousand_idle_connections_are_held() {
    const CONNECTIONS: usize = 10_000;
    let open_files = raise_open_files_limit(32_768);
    assert!(
        open_files as usize > CONNECTIONS + 500,
        "the open files hard limit ({open_files}) must allow {CONNECTIONS} connections"
    );
    let broker = Broker::start(2);
    let mut warm: Vec<Raw> = (0..100).map(|_| Raw::connect(&broker)).collect();
    for raw in &mut warm {
        assert_eq!(raw.api_versions().error_code, 0);
    }
    let before_kib = broker.memory_kib("VmRSS");
    let started = Instant::now();
    let mut held: Vec<Raw> = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut raw = Raw::connect(&broker);
        // Each one is served once, so it is past accept and fully set up.
        assert_eq!(raw.api_versions().error_code, 0);
        held.push(raw);
    }
    let opened = started.elapsed();
    let after_kib = broker.memory_kib("VmRSS");
    let per_connection = (after_kib.saturating_sub(before_kib)) * 1024 / CONNECTIONS as u64;
    eprintln!(
        "{CONNECTIONS} idle connections: RSS {before_kib} KiB -> {after_kib} KiB, \
         {per_connection} bytes per connection; opened and served in {opened:?}"
    );
    // Every one of them is still served.
    for raw in held.iter_mut().step_by(97) {
        assert_eq!(raw.api_versions().error_code, 0);
    }
    assert!(
        per_connection < 64 * 1024,
        "{per_connection} bytes of RSS per idle connection"
    );
}
