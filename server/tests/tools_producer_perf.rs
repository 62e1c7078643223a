//! `ringlog producer-perf-test` end to end: the tutorial's command (from
//! seed 001) with the script name swapped, the test broker's address and
//! 20,000 records instead of 4,000,000 (the suite stays short); Kafka's
//! final line checked against what the broker stored (ListOffsets),
//! warm-up, the labels, the SVG report, and coordinated-omission
//! correction shown with a broker stopped for a second mid-run.

mod support;
mod tools_support;

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use support::Broker;
use tools_support::{create_topic_with_tool, ringlog, run, seed};

/// Kafka's final line, parsed.
#[derive(Debug)]
struct Total {
    records: u64,
    records_per_sec: f64,
    mb_per_sec: f64,
    avg_ms: f64,
    max_ms: f64,
    percentiles_ms: [u64; 4],
}

fn parse_total(line: &str, qualifier: &str) -> Total {
    let pattern = format!(
        r"^(\d+) {qualifier}records sent, (\d+\.\d) records/sec \((\d+\.\d\d) MB/sec\), (\d+\.\d\d) ms avg latency, (\d+\.\d\d) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$"
    );
    let captures = regex::Regex::new(&pattern)
        .unwrap()
        .captures(line)
        .unwrap_or_else(|| panic!("not Kafka's final line: {line}"));
    let number = |i: usize| captures[i].parse::<f64>().unwrap();
    Total {
        records: captures[1].parse().unwrap(),
        records_per_sec: number(2),
        mb_per_sec: number(3),
        avg_ms: number(4),
        max_ms: number(5),
        percentiles_ms: [6, 7, 8, 9].map(|i| captures[i].parse().unwrap()),
    }
}

fn check_consistent(total: &Total, record_size: f64) {
    let mb = total.records_per_sec * record_size / (1024.0 * 1024.0);
    assert!(
        (mb - total.mb_per_sec).abs() <= 0.01 + mb * 1e-3,
        "{total:?}"
    );
    let [p50, p95, p99, p999] = total.percentiles_ms;
    assert!(p50 <= p95 && p95 <= p99 && p99 <= p999, "{total:?}");
    assert!(
        p999 as f64 <= total.max_ms && total.avg_ms <= total.max_ms,
        "{total:?}"
    );
}

/// Records the broker holds in `topic`: the sum of its high watermarks.
fn stored(broker: &Broker, topic: &str, partitions: i32) -> i64 {
    let client: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| {
            let (low, high) = client
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            high - low
        })
        .sum()
}

const HOSTS: &str = "node1.itcast.cn:9092,node2.itcast.cn:9092,node3.itcast.cn:9092";

#[test]
fn the_tutorials_perf_test_and_what_the_broker_stored() {
    let broker = Broker::start(2);
    let b = broker.bootstrap();
    // seed 001: kafka-topics.sh --create ... --partitions 3 --replication-factor 2 --topic test01
    let two = run(&seed(
        &format!("./kafka-topics.sh --create --bootstrap-server {HOSTS} --partitions 3 --replication-factor 2 --topic test01"),
        &b,
    ));
    assert_eq!(
        two.status.code(),
        Some(1),
        "one broker cannot hold two replicas"
    );
    run(&seed(
        &format!("./kafka-topics.sh --create --bootstrap-server {HOSTS} --partitions 3 --replication-factor 1 --topic test01"),
        &b,
    ))
    .ok();
    // seed 001, with 20000 records instead of 4000000.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("produce.svg");
    let mut args = seed(
        &format!(
            "./kafka-producer-perf-test.sh --topic test01 --num-records 20000 --throughput -1 --record-size 1000 --producer-props bootstrap.servers={HOSTS} acks=1"
        ),
        &b,
    );
    args.extend(["--report".to_string(), report.display().to_string()]);
    let ran = run(&args);
    let lines = ran.ok();
    let total = parse_total(lines[lines.len() - 4], "");
    assert_eq!(total.records, 20_000);
    assert_eq!(stored(&broker, "test01", 3), 20_000);
    check_consistent(&total, 1000.0);
    let settings = lines[lines.len() - 3];
    assert!(
        settings.starts_with("Settings: acks=1 compression.type=none batch.size=16384 linger.ms=5; broker flush.messages="),
        "{settings}"
    );
    assert!(settings.ends_with("(topic test01)"), "{settings}");
    assert_eq!(
        lines[lines.len() - 2],
        "Latency: latency from each record's send call to its acknowledgement (no throughput limit); warm-up: first 0 records excluded"
    );
    let hdr = lines[lines.len() - 1];
    assert!(
        hdr.starts_with("HDR latency: p50 ") && hdr.ends_with(" over 20000 records"),
        "{hdr}"
    );
    let svg = std::fs::read_to_string(&report).unwrap();
    assert!(svg.starts_with("<svg"), "not an SVG");
    assert!(
        svg.contains("20000 records sent"),
        "the picture carries Kafka's line"
    );
    assert!(
        svg.contains("acks=1 compression.type=none batch.size=16384"),
        "and the settings"
    );

    // acks=all with a warm-up: the steady-state line leaves it out.
    let warm = ringlog(&[
        "producer-perf-test",
        "--topic",
        "test01",
        "--num-records",
        "20000",
        "--throughput",
        "-1",
        "--record-size",
        "1000",
        "--producer-props",
        &format!("bootstrap.servers={b}"),
        "acks=all",
        "--warmup-records",
        "5000",
    ]);
    let lines = warm.ok();
    assert_eq!(
        lines[0],
        "Warmup first 5000 records. Steady state results will print after the complete test summary."
    );
    // (A 5-second progress line may come first on a slow machine.)
    assert!(lines.contains(&"Beginning steady state."), "{lines:?}");
    let whole = parse_total(lines[lines.len() - 5], "");
    let steady = parse_total(lines[lines.len() - 4], "steady state ");
    assert_eq!((whole.records, steady.records), (20_000, 15_000));
    check_consistent(&whole, 1000.0);
    check_consistent(&steady, 1000.0);
    assert!(
        lines[lines.len() - 3].starts_with("Settings: acks=all "),
        "{}",
        lines[lines.len() - 3]
    );
    assert!(
        lines[lines.len() - 1].ends_with(" over 15000 records"),
        "{}",
        lines[lines.len() - 1]
    );
    assert_eq!(stored(&broker, "test01", 3), 40_000);
}

#[test]
fn a_fixed_throughput_is_paced_and_counts_stalls_from_the_due_time() {
    let broker = Broker::start(2);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "paced", 1);
    // 3000 records at 1000/s with a queue of 20 records: while the broker
    // is stopped (from 1 s to 2 s) the sender blocks, and the ~1000
    // records due meanwhile are sent late. Counted from their due time,
    // their latencies spread over 0..1000 ms: p95 of the run is well above
    // 500 ms. Counted from the late send (coordinated omission) they would
    // look fast.
    let args = tools_support::strings(&[
        "producer-perf-test",
        "--topic",
        "paced",
        "--num-records",
        "3000",
        "--throughput",
        "1000",
        "--record-size",
        "100",
        "--producer-props",
        &format!("bootstrap.servers={b}"),
        "acks=1",
        "queue.buffering.max.messages=20",
        "linger.ms=0",
    ]);
    let running = tools_support::spawn(&args);
    std::thread::sleep(Duration::from_millis(1000));
    let pid = broker_pid(&broker);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let (status, lines, stderr) = running.finish(Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    let total = parse_total(&lines[lines.len() - 4], "");
    assert_eq!(total.records, 3000);
    assert_eq!(stored(&broker, "paced", 1), 3000);
    // Paced: the last record is due at 2.999 s, so at most ~1000/s.
    assert!(total.records_per_sec <= 1001.0, "{total:?}");
    assert!(total.percentiles_ms[1] >= 500, "stall hidden: {total:?}");
    assert_eq!(
        lines[lines.len() - 2],
        "Latency: latency from each record's intended send time at 1000 records/sec (coordinated omission corrected); warm-up: first 0 records excluded"
    );
}

/// The broker's process id, found by its unique data directory.
fn broker_pid(broker: &Broker) -> nix::unistd::Pid {
    let wanted = format!("log.dirs={}", broker.data.display());
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == wanted.as_bytes())
        {
            return nix::unistd::Pid::from_raw(pid);
        }
    }
    panic!("no broker process with {wanted}");
}

#[test]
fn payloads_from_a_file_and_the_clients_metrics() {
    let broker = Broker::start(1);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "words", 1);
    let dir = tempfile::tempdir().unwrap();
    let payloads = dir.path().join("payloads.txt");
    std::fs::write(&payloads, "alpha\nbeta\ngamma\n").unwrap();
    let ran = ringlog(&[
        "producer-perf-test",
        "--topic",
        "words",
        "--num-records",
        "30",
        "--throughput",
        "-1",
        "--payload-file",
        payloads.to_str().unwrap(),
        "--producer-props",
        &format!("bootstrap.servers={b}"),
        "acks=1",
        "--print-metrics",
    ]);
    let lines = ran.ok();
    assert!(
        lines[0].starts_with("Reading payloads from: ") && lines[0].ends_with("payloads.txt"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "Number of messages read: 3");
    let total = lines
        .iter()
        .find(|line| line.contains(" records sent, "))
        .unwrap();
    assert_eq!(parse_total(total, "").records, 30);
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("producer-metrics:record-send-total")),
        "{lines:?}"
    );
    let read = ringlog(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "words",
        "--partition",
        "0",
        "--offset",
        "earliest",
        "--max-messages",
        "30",
    ]);
    let values = read.ok();
    assert_eq!(values.len(), 30);
    assert!(
        values
            .iter()
            .all(|value| ["alpha", "beta", "gamma"].contains(value)),
        "{values:?}"
    );
}

#[test]
fn bad_flags_are_named() {
    let none = ringlog(&[
        "producer-perf-test",
        "--topic",
        "t",
        "--num-records",
        "1",
        "--throughput",
        "-1",
        "--record-size",
        "1",
    ]);
    assert_eq!(none.status.code(), Some(2));
    assert!(none.stderr.contains("--producer-props"), "{}", none.stderr);
    let both = ringlog(&[
        "producer-perf-test",
        "--topic",
        "t",
        "--num-records",
        "1",
        "--throughput",
        "-1",
        "--record-size",
        "1",
        "--payload-monotonic",
        "--producer-props",
        "bootstrap.servers=127.0.0.1:1",
    ]);
    assert!(
        both.stderr
            .contains("exactly one of --record-size, --payload-file or --payload-monotonic"),
        "{}",
        both.stderr
    );
    let property = ringlog(&[
        "producer-perf-test",
        "--topic",
        "t",
        "--num-records",
        "1",
        "--throughput",
        "-1",
        "--record-size",
        "1",
        "--producer-props",
        "bootstrap.servers=127.0.0.1:1",
        "compression.type=brotli",
    ]);
    assert_eq!(property.status.code(), Some(2));
    assert!(
        property
            .stderr
            .contains("--producer-props compression.type=brotli"),
        "{}",
        property.stderr
    );
}
