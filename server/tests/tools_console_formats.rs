//! The console tools' formats: keys parsed with `--property parse.key`,
//! Kafka's DefaultMessageFormatter fields, one partition from an offset,
//! `--timeout-ms`, compression codecs, and errors that name the line.

mod support;
mod tools_support;

use std::time::{SystemTime, UNIX_EPOCH};

use support::Broker;
use tools_support::{create_topic_with_tool, ringlog, run_with_input, strings};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn produce(b: &str, topic: &str, extra: &[&str], input: &str) -> tools_support::Ran {
    let mut args = strings(&[
        "console-producer",
        "--bootstrap-server",
        b,
        "--topic",
        topic,
    ]);
    args.extend(strings(extra));
    run_with_input(&args, input)
}

#[test]
fn keys_values_and_the_formatters_fields() {
    let broker = Broker::start(2);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "keyed", 1);
    let before = now_ms();
    produce(
        &b,
        "keyed",
        &[
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ],
        "user1:first:with colon\nuser2:second\n",
    )
    .ok();
    let after = now_ms();
    let consumed = ringlog(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "keyed",
        "--from-beginning",
        "--max-messages",
        "2",
        "--property",
        "print.key=true",
        "--property",
        "print.timestamp=true",
        "--property",
        "print.partition=true",
        "--property",
        "print.offset=true",
        "--property",
        "key.separator= | ",
    ]);
    let lines = consumed.ok();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, (offset, key, value)) in lines
        .iter()
        .zip([(0, "user1", "first:with colon"), (1, "user2", "second")])
    {
        let fields: Vec<&str> = line.split(" | ").collect();
        assert_eq!(fields.len(), 5, "{line}");
        let time: i64 = fields[0]
            .strip_prefix("CreateTime:")
            .expect(line)
            .parse()
            .unwrap();
        assert!(
            (before..=after).contains(&time),
            "{time} not in {before}..={after}"
        );
        assert_eq!(
            &fields[1..],
            ["Partition:0", &format!("Offset:{offset}"), key, value]
        );
    }
    assert!(
        consumed.stderr.contains("Processed a total of 2 messages"),
        "{}",
        consumed.stderr
    );

    // Default separators: a tab between key and value; a missing key is "null".
    produce(&b, "keyed", &[], "no key here\n").ok();
    let tabbed = ringlog(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "keyed",
        "--partition",
        "0",
        "--offset",
        "1",
        "--max-messages",
        "2",
        "--property",
        "print.key=true",
    ]);
    assert_eq!(tabbed.ok(), ["user2\tsecond", "null\tno key here"]);
}

#[test]
fn one_partition_from_an_offset_and_a_timeout() {
    let broker = Broker::start(2);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "numbers", 1);
    let input: String = (0..10).map(|i| format!("n{i}\n")).collect();
    produce(&b, "numbers", &["--sync"], &input).ok();
    let from_four = ringlog(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "numbers",
        "--partition",
        "0",
        "--offset",
        "4",
        "--max-messages",
        "3",
    ]);
    assert_eq!(from_four.ok(), ["n4", "n5", "n6"]);
    // --timeout-ms ends the run when nothing more comes.
    let rest = ringlog(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "numbers",
        "--partition",
        "0",
        "--offset",
        "earliest",
        "--timeout-ms",
        "1500",
        "--property",
        "print.offset=true",
    ]);
    let lines = rest.ok();
    let expected: Vec<String> = (0..10).map(|i| format!("Offset:{i}\tn{i}")).collect();
    assert_eq!(lines, expected);
    assert!(
        rest.stderr.contains("Processed a total of 10 messages"),
        "{}",
        rest.stderr
    );
    let latest = ringlog(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "numbers",
        "--partition",
        "0",
        "--offset",
        "latest",
        "--timeout-ms",
        "1000",
    ]);
    assert_eq!(latest.ok(), Vec::<&str>::new());
    assert!(
        latest.stderr.contains("Processed a total of 0 messages"),
        "{}",
        latest.stderr
    );
}

#[test]
fn every_codec_and_acks_setting_round_trips() {
    let broker = Broker::start(2);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "codecs", 1);
    let mut expected = Vec::new();
    for (codec, acks) in [
        ("none", "1"),
        ("gzip", "-1"),
        ("snappy", "all"),
        ("lz4", "1"),
        ("zstd", "0"),
    ] {
        let lines: String = (0..3).map(|i| format!("{codec}-{i}\n")).collect();
        produce(
            &b,
            "codecs",
            &[
                "--compression-codec",
                codec,
                "--request-required-acks",
                acks,
            ],
            &lines,
        )
        .ok();
        expected.extend((0..3).map(|i| format!("{codec}-{i}")));
    }
    // --compression-codec without a value is gzip, as in Kafka.
    produce(&b, "codecs", &["--compression-codec"], "bare\n").ok();
    expected.push("bare".into());
    let read = ringlog(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "codecs",
        "--partition",
        "0",
        "--offset",
        "earliest",
        "--max-messages",
        &expected.len().to_string(),
    ]);
    assert_eq!(read.ok(), expected);
}

#[test]
fn errors_name_the_line_or_the_flag() {
    let broker = Broker::start(1);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "strict", 1);
    let missing = produce(
        &b,
        "strict",
        &[
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ],
        "k:v\nnokey\n",
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        missing
            .stderr
            .contains("No key separator found on line number 2: 'nokey'"),
        "{}",
        missing.stderr
    );
    let property = produce(
        &b,
        "strict",
        &["--producer-property", "no.such.setting=1"],
        "x\n",
    );
    assert_eq!(property.status.code(), Some(2));
    assert!(
        property
            .stderr
            .contains("--producer-property no.such.setting=1"),
        "{}",
        property.stderr
    );
    let offset = ringlog(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "strict",
        "--partition",
        "0",
        "--offset",
        "soon",
    ]);
    assert_eq!(offset.status.code(), Some(2));
    assert!(offset.stderr.contains("--offset soon"), "{}", offset.stderr);
    let unknown = ringlog(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "no-such-topic",
        "--timeout-ms",
        "500",
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        unknown.stderr.contains("no-such-topic"),
        "{}",
        unknown.stderr
    );
}
