//! `ringlog configs` end to end: a topic's dynamic configs described in
//! kafka-configs.sh's layout, added, changed and deleted, and the errors
//! Kafka's tool gives.

mod support;
mod tools_support;

use support::Broker;
use tools_support::{create_topic_with_tool, ringlog};

fn describe(b: &str, topic: &str) -> Vec<String> {
    ringlog(&[
        "configs",
        "--bootstrap-server",
        b,
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
        "--describe",
    ])
    .ok()
    .iter()
    .map(|line| line.to_string())
    .collect()
}

#[test]
fn a_topics_dynamic_configs_change_and_are_described() {
    let broker = Broker::start(1);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "conf", 1);
    assert_eq!(
        describe(&b, "conf"),
        ["Dynamic configs for topic conf are:"]
    );

    let added = ringlog(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--entity-type",
        "topics",
        "--entity-name",
        "conf",
        "--alter",
        "--add-config",
        "retention.ms=86400000,cleanup.policy=[delete]",
    ]);
    assert_eq!(added.ok(), ["Completed updating config for topic conf."]);
    let mut lines = describe(&b, "conf");
    lines[1..].sort();
    assert_eq!(
        lines,
        [
            "Dynamic configs for topic conf are:",
            "  cleanup.policy=delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=delete}",
            "  retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000}",
        ]
    );

    // An alter keeps the overrides it does not name (incremental, as Kafka's).
    ringlog(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--topic",
        "conf",
        "--alter",
        "--add-config",
        "retention.ms=1000",
    ])
    .ok();
    ringlog(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--topic",
        "conf",
        "--alter",
        "--delete-config",
        "cleanup.policy",
    ])
    .ok();
    assert_eq!(
        describe(&b, "conf"),
        [
            "Dynamic configs for topic conf are:",
            "  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000}",
        ]
    );
    // The topics tool sees the same override.
    let topic = ringlog(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--describe",
        "--topic",
        "conf",
    ]);
    assert!(
        topic.ok()[0].contains("retention.ms=1000"),
        "{}",
        topic.stdout
    );

    // --all lists every config, defaults included.
    let all = ringlog(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--topic",
        "conf",
        "--describe",
        "--all",
    ]);
    let all_lines = all.ok();
    assert_eq!(all_lines[0], "All configs for topic conf are:");
    assert!(
        all_lines
            .iter()
            .any(|l| l.starts_with("  retention.ms=1000 ")),
        "{all_lines:?}"
    );
    assert!(
        all_lines
            .iter()
            .any(|l| l.contains("synonyms={DEFAULT_CONFIG:")),
        "{all_lines:?}"
    );

    let missing = ringlog(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--topic",
        "conf",
        "--alter",
        "--delete-config",
        "flush.ms",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        missing.stderr.contains("Invalid config(s): flush.ms"),
        "{}",
        missing.stderr
    );
    let bad_type = ringlog(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--entity-type",
        "users",
        "--entity-name",
        "x",
        "--describe",
    ]);
    assert_eq!(bad_type.status.code(), Some(2));
    assert!(
        bad_type.stderr.contains("--entity-type users"),
        "{}",
        bad_type.stderr
    );
    let bad_broker = ringlog(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--entity-type",
        "brokers",
        "--entity-name",
        "one",
        "--describe",
    ]);
    assert!(
        bad_broker
            .stderr
            .contains("must be a valid integer broker id"),
        "{}",
        bad_broker.stderr
    );
    let broker_configs = ringlog(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--entity-type",
        "brokers",
        "--entity-name",
        "1",
        "--describe",
    ]);
    assert_eq!(broker_configs.ok(), ["Dynamic configs for broker 1 are:"]);
}
