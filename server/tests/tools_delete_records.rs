//! `ringlog delete-records` (kafka-delete-records.sh) end to end: Kafka's
//! offset JSON file in, each partition's new low watermark out, and the
//! deleted records really gone for a consumer.

mod support;
mod tools_support;

use support::Broker;
use tools_support::{create_topic_with_tool, ringlog, run_with_input, strings};

#[test]
fn records_below_the_offsets_are_deleted() {
    let broker = Broker::start(2);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "trim", 1);
    let input: String = (0..6).map(|i| format!("v{i}\n")).collect();
    run_with_input(
        &strings(&[
            "console-producer",
            "--bootstrap-server",
            &b,
            "--topic",
            "trim",
            "--sync",
        ]),
        &input,
    )
    .ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("offsets.json");
    std::fs::write(
        &file,
        r#"{"partitions": [{"topic": "trim", "partition": 0, "offset": 4}], "version": 1}"#,
    )
    .unwrap();
    let deleted = ringlog(&[
        "delete-records",
        "--bootstrap-server",
        &b,
        "--offset-json-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        deleted.ok(),
        [
            "Executing records delete operation",
            "Records delete operation completed:",
            "partition: trim-0\tlow_watermark: 4",
        ]
    );
    assert_eq!(
        ringlog(&[
            "get-offsets",
            "--bootstrap-server",
            &b,
            "--topic",
            "trim",
            "--time",
            "earliest"
        ])
        .ok(),
        ["trim:0:4"]
    );
    let rest = ringlog(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "trim",
        "--from-beginning",
        "--max-messages",
        "2",
        "--property",
        "print.offset=true",
    ]);
    assert_eq!(rest.ok(), ["Offset:4\tv4", "Offset:5\tv5"]);

    // -1 is the high watermark: everything goes.
    std::fs::write(
        &file,
        r#"{"partitions": [{"topic": "trim", "partition": 0, "offset": -1}]}"#,
    )
    .unwrap();
    let all = ringlog(&[
        "delete-records",
        "--bootstrap-server",
        &b,
        "--offset-json-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(all.ok()[2], "partition: trim-0\tlow_watermark: 6");

    // An unknown partition is reported per partition; a bad file by name.
    std::fs::write(
        &file,
        r#"{"partitions": [{"topic": "trim", "partition": 7, "offset": 1}]}"#,
    )
    .unwrap();
    let unknown = ringlog(&[
        "delete-records",
        "--bootstrap-server",
        &b,
        "--offset-json-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        unknown.stdout.contains("partition: trim-7\terror: "),
        "{}",
        unknown.stdout
    );
    std::fs::write(&file, "not json").unwrap();
    let broken = ringlog(&[
        "delete-records",
        "--bootstrap-server",
        &b,
        "--offset-json-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        broken
            .stderr
            .contains("The input string is not a valid JSON"),
        "{}",
        broken.stderr
    );
}
