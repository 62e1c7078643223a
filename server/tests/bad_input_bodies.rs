//! Hostile request bodies against the real broker, for every API: valid
//! requests with huge array counts, lying and negative string lengths
//! written over each position, and cut short at every length. Each one is
//! answered (with the correlation id it was sent with) or its connection
//! is closed: never a hang, never a crash. After the mutations of each
//! request the broker still answers ApiVersions and Metadata on a new
//! connection, and its peak resident memory stays bounded.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
use support::*;

/// Written over the body at each position.
const CLAIMS: [&[u8]; 8] = [
    &[0x7f, 0xff, 0xff, 0xff],       // Int32 count or length: 2^31 - 1
    &[0x7f, 0xff, 0xff, 0xfe],       // 2^31 - 2
    &[0x7f, 0xff],                   // Int16 string length: 32767
    &[0xff, 0xff, 0xff, 0xff, 0x0f], // unsigned varint: 2^32 - 1
    &[0x80, 0x80, 0x80, 0x80, 0x08], // unsigned varint: 2^31 (compact array of 2^31 - 1)
    &[0xff, 0xfe],                   // Int16 length -2
    &[0xff, 0xff, 0xff, 0xfe],       // Int32 length -2
    &[0x80, 0x00, 0x00, 0x00],       // Int32 minimum
];

/// The requests mutated: each API at its oldest and newest version, and
/// the versions that used to abort the broker.
fn samples() -> Vec<(ApiKey, i16, Bytes)> {
    let named = [
        (ApiKey::Metadata, 4),
        (ApiKey::Metadata, 9),
        (ApiKey::Produce, 9),
        (ApiKey::Fetch, 12),
        (ApiKey::CreateTopics, 5),
        (ApiKey::JoinGroup, 6),
        (ApiKey::OffsetCommit, 8),
    ];
    let all = ringlog::api::samples::every_advertised();
    let oldest_or_newest = |key: ApiKey, version: i16| {
        let versions: Vec<i16> = all
            .iter()
            .filter(|(other, _, _)| *other == key)
            .map(|(_, version, _)| *version)
            .collect();
        versions.first() == Some(&version) || versions.last() == Some(&version)
    };
    all.iter()
        .filter(|(key, version, _)| {
            named.contains(&(*key, *version)) || oldest_or_newest(*key, *version)
        })
        .cloned()
        .collect()
}

/// What became of one hostile request.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// An answer with the request's correlation id.
    Answered,
    /// End of stream or reset.
    Closed,
    /// Nothing within the wait: allowed only for requests that may wait
    /// by design (see `may_wait`).
    Waited,
}

/// Requests whose mutated timing fields (a fetch's `max_wait_ms`, a
/// join's rebalance timeout) can make the broker wait by design.
fn may_wait(key: ApiKey) -> bool {
    matches!(key, ApiKey::Fetch | ApiKey::JoinGroup | ApiKey::SyncGroup)
}

/// How long an answer or a close may take. A request that may wait by
/// design is given up on sooner (its connection is dropped; the broker
/// still counts it against max.connections until its wait ends).
fn patience(key: ApiKey) -> Duration {
    if may_wait(key) {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(5)
    }
}

struct Client {
    port: u16,
    patience: Duration,
    stream: Option<TcpStream>,
}

impl Client {
    fn send(&mut self, frame: &[u8]) -> Outcome {
        let correlation_id = &frame[4..8];
        let patience = self.patience;
        let stream = self.stream.get_or_insert_with(|| {
            let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
            stream.set_read_timeout(Some(patience)).unwrap();
            stream
        });
        let mut out = (frame.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(frame);
        if let Err(error) = stream.write_all(&out) {
            assert!(
                matches!(
                    error.kind(),
                    ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                ),
                "{error}"
            );
            self.stream = None;
            return Outcome::Closed;
        }
        let mut size = [0u8; 4];
        let outcome = match stream.read_exact(&mut size) {
            Ok(()) => {
                let size = i32::from_be_bytes(size);
                assert!((4..=64 << 20).contains(&size), "answer size {size}");
                let mut answer = vec![0u8; size as usize];
                stream.read_exact(&mut answer).unwrap();
                assert_eq!(&answer[..4], correlation_id, "answer to another request");
                return Outcome::Answered;
            }
            Err(error) => match error.kind() {
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset => Outcome::Closed,
                ErrorKind::WouldBlock | ErrorKind::TimedOut => Outcome::Waited,
                _ => panic!("{error}"),
            },
        };
        self.stream = None;
        outcome
    }
}

/// Every hostile variant of a request frame: claims over each position of
/// the body (the 8-byte preamble stays, so answers can be matched), and
/// the frame cut short at each length.
fn variants(frame: &Bytes) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for position in 8..frame.len() {
        for claim in CLAIMS {
            if position + claim.len() <= frame.len() {
                let mut hostile = frame.to_vec();
                hostile[position..position + claim.len()].copy_from_slice(claim);
                out.push(hostile);
            }
        }
    }
    for len in 8..frame.len() {
        out.push(frame[..len].to_vec());
    }
    out
}

fn healthy(broker: &Broker, after: &str) {
    let mut raw = Raw::connect(broker);
    assert_eq!(
        raw.api_versions().error_code,
        0,
        "ApiVersions after {after}"
    );
    let metadata: MetadataResponse = raw.call(
        ApiKey::Metadata,
        9,
        &MetadataRequest::default().with_topics(None),
    );
    assert_eq!(metadata.brokers.len(), 1, "Metadata after {after}");
}

#[test]
fn hostile_bodies_are_answered_or_closed_and_the_broker_stays_up() {
    let mut broker = Broker::start(2);
    create_topic(&broker, "victim", 1);
    healthy(&broker, "start");
    let peak_before_kib = broker.memory_kib("VmHWM");
    let samples = samples();
    let mut counts = [0usize; 3];
    for (key, version, frame) in &samples {
        let variants = variants(frame);
        // Three clients at once: most cases wait on a round trip.
        let outcomes: Vec<(usize, Outcome)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..3)
                .map(|worker| {
                    let variants = &variants;
                    let port = broker.port;
                    let patience = patience(*key);
                    scope.spawn(move || {
                        let mut client = Client {
                            port,
                            patience,
                            stream: None,
                        };
                        (worker..variants.len())
                            .step_by(3)
                            .map(|index| (index, client.send(&variants[index])))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().unwrap())
                .collect()
        });
        for (index, outcome) in outcomes {
            if outcome == Outcome::Waited {
                assert!(
                    may_wait(*key),
                    "{key:?} v{version}: neither answered nor closed: {:02x?}",
                    variants[index]
                );
            }
            counts[outcome as usize] += 1;
        }
        assert!(broker.is_running(), "{key:?} v{version} stopped the broker");
        healthy(&broker, &format!("{key:?} v{version}"));
    }
    let peak_after_kib = broker.memory_kib("VmHWM");
    let total: usize = counts.iter().sum();
    eprintln!(
        "{total} hostile requests over {} samples: {} answered, {} closed, {} waited; \
         peak RSS {peak_before_kib} KiB -> {peak_after_kib} KiB",
        samples.len(),
        counts[0],
        counts[1],
        counts[2]
    );
    assert!(samples.len() >= 50, "{} samples", samples.len());
    assert!(total > 10_000, "only {total} hostile requests");
    assert!(counts[0] > 0 && counts[1] > 0, "{counts:?}");
    assert!(
        peak_after_kib < peak_before_kib + 128 * 1024,
        "peak RSS grew from {peak_before_kib} KiB to {peak_after_kib} KiB"
    );
}
