//! Listeners with the real binary: every PLAINTEXT listener in `listeners`
//! is served, and clients of each are told that listener's advertised
//! endpoint, matched by name; a listener Ringlog cannot serve (SSL,
//! SASL_PLAINTEXT, SASL_SSL, directly or through
//! `listener.security.protocol.map`) stops the broker at start with an
//! error naming it, and no port is opened.

mod support;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, DescribeClusterResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use support::*;

fn connect_to(port: u16) -> Raw {
    Raw::from_stream(TcpStream::connect(("127.0.0.1", port)).unwrap())
}

/// Where Metadata, FindCoordinator and DescribeCluster say the broker is.
fn told(raw: &mut Raw) -> [(String, i32); 3] {
    let metadata: MetadataResponse = raw.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    );
    let coordinator: FindCoordinatorResponse = raw.call(
        ApiKey::FindCoordinator,
        4,
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![StrBytes::from_static_str("group")]),
    );
    let cluster: DescribeClusterResponse = raw.call(
        ApiKey::DescribeCluster,
        0,
        &DescribeClusterRequest::default(),
    );
    [
        (
            metadata.brokers[0].host.to_string(),
            metadata.brokers[0].port,
        ),
        (
            coordinator.coordinators[0].host.to_string(),
            coordinator.coordinators[0].port,
        ),
        (cluster.brokers[0].host.to_string(), cluster.brokers[0].port),
    ]
}

#[test]
fn every_listener_is_served_and_advertised_by_name() {
    let mut broker = Broker::start_with(
        2,
        &[
            "listeners=PLAINTEXT://127.0.0.1:{port},INTERNAL://127.0.0.1:{second_port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
            // Listed in the other order: matched by name, not position.
            "advertised.listeners=INTERNAL://127.0.0.1:{second_port},PLAINTEXT://localhost:{port}",
        ],
    );
    let (port, second) = (broker.port, broker.second_port);
    create_topic(&broker, "both", 1);
    let mut external = connect_to(port);
    let mut internal = connect_to(second);
    let expected = |host: &str, port: u16| -> [(String, i32); 3] {
        std::array::from_fn(|_| (host.to_string(), i32::from(port)))
    };
    assert_eq!(told(&mut external), expected("localhost", port));
    assert_eq!(told(&mut internal), expected("127.0.0.1", second));

    // Both carry the whole protocol: what one produces, the other reads.
    let batch = Bytes::from(
        BatchBuilder::new()
            .record(Record::value(b"via internal".to_vec(), TimestampMs(1)))
            .build(),
    );
    assert_eq!(internal.produce("both", 0, batch).error_code, 0);
    let stored = external.fetch("both", 0, 0, 1 << 20);
    assert_eq!(record_values(&stored), ["via internal"]);

    // Both survive a restart (each shard binds each listener again).
    broker.restart();
    assert_eq!(told(&mut connect_to(second)), expected("127.0.0.1", second));
    assert_eq!(told(&mut connect_to(port)), expected("localhost", port));
}

/// Runs `ringlog serve` with these overrides and returns its exit status
/// and what it printed; it must stop by itself.
fn serve_refused(overrides: &[String]) -> (std::process::ExitStatus, String) {
    let data = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringlog"));
    command
        .arg("serve")
        .args(["--override", &format!("log.dirs={}", data.path().display())]);
    for item in overrides {
        command.args(["--override", item]);
    }
    let mut child = command
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("ringlog serve {overrides:?} did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn listeners_that_cannot_be_served_stop_the_broker_by_name() {
    for (listeners, map, name, protocol) in [
        ("SSL://127.0.0.1:{a}", None, "SSL", "SSL"),
        (
            "SASL_PLAINTEXT://127.0.0.1:{a}",
            None,
            "SASL_PLAINTEXT",
            "SASL_PLAINTEXT",
        ),
        ("SASL_SSL://127.0.0.1:{a}", None, "SASL_SSL", "SASL_SSL"),
        // A plaintext one beside it does not open either.
        (
            "PLAINTEXT://127.0.0.1:{a},SECURE://127.0.0.1:{b}",
            Some("PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL"),
            "SECURE",
            "SASL_SSL",
        ),
    ] {
        let (a, b) = (free_port(), free_port());
        let listeners = listeners
            .replace("{a}", &a.to_string())
            .replace("{b}", &b.to_string());
        let mut overrides = vec![format!("listeners={listeners}")];
        if let Some(map) = map {
            overrides.push(format!("listener.security.protocol.map={map}"));
        }
        let (status, stderr) = serve_refused(&overrides);
        assert!(!status.success(), "{listeners}: exited with {status}");
        assert!(
            stderr.contains(&format!(
                "listener {name} uses security protocol {protocol}"
            )),
            "{listeners}: {stderr}"
        );
        assert!(!stderr.contains("serving"), "{listeners}: {stderr}");
        for port in [a, b] {
            assert!(
                TcpStream::connect(("127.0.0.1", port)).is_err(),
                "{listeners}: port {port} is open"
            );
        }
    }
    // A name with no security protocol is an error that names the map.
    let (status, stderr) =
        serve_refused(&[format!("listeners=INTERNAL://127.0.0.1:{}", free_port())]);
    assert!(!status.success());
    assert!(
        stderr.contains(
            "listener INTERNAL has no security protocol in listener.security.protocol.map"
        ),
        "{stderr}"
    );
}

/// A second broker on a port the first listens on stops with "address in
/// use" instead of splitting its connections (SO_REUSEPORT would let it
/// bind), and the first keeps serving.
#[test]
fn a_second_broker_on_a_taken_port_refuses_to_start() {
    let first = Broker::start(1);
    let (status, stderr) =
        serve_refused(&[format!("listeners=PLAINTEXT://127.0.0.1:{}", first.port)]);
    assert!(!status.success(), "the second broker started: {stderr}");
    assert!(stderr.contains("address already in use"), "{stderr}");
    assert!(stderr.contains("listener PLAINTEXT"), "{stderr}");
    let mut raw = connect_to(first.port);
    raw.send_bytes(&[0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    assert!(
        raw.receive_frame().is_some(),
        "the first broker stopped answering"
    );
}
