//! `ringlog consumer-perf-test` end to end: the tutorial's command (from
//! seed 001, `--broker-list ... --fetch-size 1048576`) with the script name
//! swapped, the test broker's address and as many messages as were
//! produced; Kafka's header and summary checked against what the broker
//! stored, the timeout warning, detailed stats and the SVG report.

mod support;
mod tools_support;

use support::Broker;
use tools_support::{create_topic_with_tool, ringlog, run, seed};

const HEADER: &str = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";

/// The ten fields of Kafka's summary line.
struct Summary {
    start: String,
    end: String,
    megabytes: f64,
    megabytes_per_sec: f64,
    messages: u64,
    rebalance_ms: i64,
    fetch_ms: i64,
}

fn parse_summary(line: &str) -> Summary {
    let fields: Vec<&str> = line.split(", ").collect();
    assert_eq!(fields.len(), 10, "{line}");
    let time = regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}$").unwrap();
    assert!(
        time.is_match(fields[0]) && time.is_match(fields[1]),
        "{line}"
    );
    let four_places = regex::Regex::new(r"^\d+\.\d{4}$").unwrap();
    for i in [2, 3, 5, 8, 9] {
        assert!(four_places.is_match(fields[i]), "field {i} of {line}");
    }
    Summary {
        start: fields[0].to_string(),
        end: fields[1].to_string(),
        megabytes: fields[2].parse().unwrap(),
        megabytes_per_sec: fields[3].parse().unwrap(),
        messages: fields[4].parse().unwrap(),
        rebalance_ms: fields[6].parse().unwrap(),
        fetch_ms: fields[7].parse().unwrap(),
    }
}

fn produce(b: &str, topic: &str, records: &str) {
    ringlog(&[
        "producer-perf-test",
        "--topic",
        topic,
        "--num-records",
        records,
        "--throughput",
        "-1",
        "--record-size",
        "1000",
        "--producer-props",
        &format!("bootstrap.servers={b}"),
        "acks=1",
    ])
    .ok();
}

#[test]
fn the_tutorials_consumer_perf_test_reads_what_was_stored() {
    let broker = Broker::start(2);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "test01", 3);
    produce(&b, "test01", "20000");
    assert_eq!(
        ringlog(&["get-offsets", "--bootstrap-server", &b, "--topic", "test01"])
            .ok()
            .iter()
            .map(|line| line.rsplit(':').next().unwrap().parse::<u64>().unwrap())
            .sum::<u64>(),
        20_000
    );
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("consume.svg");
    // seed 001, with --messages 20000 (what was produced) for 500000.
    let mut args = seed(
        "./kafka-consumer-perf-test.sh --broker-list node1.itcast.cn:9092,node2.itcast.cn:9092,node3.itcast.cn:9092 --topic test01 --fetch-size 1048576 --messages 20000",
        &b,
    );
    args.extend(["--report".to_string(), report.display().to_string()]);
    let ran = run(&args);
    let lines = ran.ok();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0], HEADER);
    let summary = parse_summary(lines[1]);
    assert_eq!(summary.messages, 20_000);
    // 20000 values of 1000 bytes, no keys, in MiB with four places.
    assert_eq!(format!("{:.4}", summary.megabytes), "19.0735");
    assert!(
        summary.start <= summary.end,
        "{} > {}",
        summary.start,
        summary.end
    );
    assert!(
        summary.rebalance_ms >= 0 && summary.fetch_ms >= 0,
        "{}",
        lines[1]
    );
    let elapsed_s = (summary.rebalance_ms + summary.fetch_ms) as f64 / 1000.0;
    assert!(
        (summary.megabytes / summary.megabytes_per_sec - elapsed_s).abs() < 0.01 + elapsed_s * 0.01,
        "MB.sec is not MB over the run: {}",
        lines[1]
    );
    assert!(
        lines[2].starts_with(
            "Settings: fetch-size=1048576 socket-buffer-size=2097152 group=perf-consumer-"
        ),
        "{}",
        lines[2]
    );
    assert!(lines[3].ends_with(" over 20000 records"), "{}", lines[3]);
    let svg = std::fs::read_to_string(&report).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("consumer-perf-test: 20000 records from test01")
    );

    // Asking for more than there is ends at --timeout with Kafka's warning.
    let short = ringlog(&[
        "consumer-perf-test",
        "--bootstrap-server",
        &b,
        "--topic",
        "test01",
        "--messages",
        "30000",
        "--timeout",
        "1500",
        "--hide-header",
    ]);
    let lines = short.ok();
    assert_eq!(
        lines[0],
        "WARNING: Exiting before consuming the expected number of messages: timeout (1500 ms) exceeded. You can use the --timeout option to increase the timeout."
    );
    assert_eq!(parse_summary(lines[1]).messages, 20_000);

    // Detailed stats: Kafka's other header and a line per interval.
    let detailed = ringlog(&[
        "consumer-perf-test",
        "--bootstrap-server",
        &b,
        "--topic",
        "test01",
        "--messages",
        "20000",
        "--show-detailed-stats",
        "--reporting-interval",
        "1",
    ]);
    let lines = detailed.ok();
    assert_eq!(
        lines[0],
        "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
    );
    let intervals: Vec<&&str> = lines.iter().filter(|line| line.contains(", 0, ")).collect();
    assert!(!intervals.is_empty(), "{lines:?}");
    let mut last = 0;
    for line in &intervals {
        let fields: Vec<&str> = line.split(", ").collect();
        assert_eq!(fields.len(), 10, "{line}");
        let count: u64 = fields[4].parse().unwrap();
        assert!(count >= last && count <= 20_000, "{line}");
        last = count;
    }
    assert!(
        !lines.iter().any(|line| line.starts_with("WARNING")),
        "{lines:?}"
    );
}
