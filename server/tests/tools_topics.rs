//! `ringlog topics` end to end: the tutorial's kafka-topics.sh commands
//! (shared/seeds/001) with the script name swapped and the test broker's
//! address, and the answers Kafka's TopicCommand gives.

mod support;
mod tools_support;

use support::Broker;
use tools_support::{ringlog, run, seed, strings};

const HOSTS: &str = "node1.itcast.cn:9092,node2.itcast.cn:9092";

fn seeded(command: &str, broker: &Broker) -> tools_support::Ran {
    run(&seed(&command.replace("HOSTS", HOSTS), &broker.bootstrap()))
}

#[test]
fn the_tutorials_topic_commands() {
    let broker = Broker::start(2);
    // The tutorial's replication factor 2 needs two brokers; Kafka says so.
    let two = seeded(
        "./kafka-topics.sh --bootstrap-server HOSTS --create --topic test02 --partitions 4 --replication-factor 2",
        &broker,
    );
    assert_eq!(two.status.code(), Some(1));
    assert_eq!(
        two.lines(),
        ["Error while executing topic command : Replication factor: 2 larger than available brokers: 1."]
    );
    let created = run(&strings(&[
        "topics",
        "--bootstrap-server",
        &broker.bootstrap(),
        "--create",
        "--topic",
        "test02",
        "--partitions",
        "4",
        "--replication-factor",
        "1",
    ]));
    assert_eq!(created.ok(), ["Created topic test02."]);
    let four = seeded(
        "./kafka-topics.sh --bootstrap-server HOSTS --create --topic test04 --partitions 4 --replication-factor 4",
        &broker,
    );
    assert_eq!(
        four.lines(),
        ["Error while executing topic command : Replication factor: 4 larger than available brokers: 1."]
    );
    let b = broker.bootstrap();
    ringlog(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--create",
        "--topic",
        "test01",
        "--partitions",
        "1",
        "--replication-factor",
        "1",
    ])
    .ok();
    ringlog(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--create",
        "--topic",
        "test04",
        "--partitions",
        "2",
        "--replication-factor",
        "1",
    ])
    .ok();

    let listed = seeded("./kafka-topics.sh --bootstrap-server HOSTS --list", &broker);
    assert_eq!(listed.ok(), ["test01", "test02", "test04"]);

    let described = seeded(
        "./kafka-topics.sh --bootstrap-server HOSTS --describe --topic test04",
        &broker,
    );
    assert_eq!(
        described.ok(),
        [
            "Topic: test04\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: ",
            "\tTopic: test04\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1",
            "\tTopic: test04\tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1",
        ]
    );

    // Grow only; shrinking and the replication factor get Kafka's answers.
    seeded(
        "./kafka-topics.sh --bootstrap-server HOSTS --alter --topic test01 --partitions 10",
        &broker,
    )
    .ok();
    let shrink = seeded(
        "./kafka-topics.sh --bootstrap-server HOSTS --alter --topic test01 --partitions 1",
        &broker,
    );
    assert_eq!(shrink.status.code(), Some(1));
    assert_eq!(
        shrink.lines(),
        ["Error while executing topic command : Topic currently has 10 partitions, which is higher than the requested 1."]
    );
    let factor = seeded(
        "./kafka-topics.sh --bootstrap-server HOSTS --alter --topic test01 --replication-factor 2 --partitions 11",
        &broker,
    );
    assert_eq!(factor.status.code(), Some(2));
    assert!(
        factor
            .stderr
            .contains("Option \"[replication-factor]\" can't be used with option \"[alter]\""),
        "{}",
        factor.stderr
    );
    let after = ringlog(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--describe",
        "--topic",
        "test01",
    ]);
    let lines = after.ok();
    assert_eq!(lines.len(), 11, "{lines:?}");
    assert_eq!(
        lines[0],
        "Topic: test01\tPartitionCount: 10\tReplicationFactor: 1\tConfigs: "
    );
    assert_eq!(
        lines[10],
        "\tTopic: test01\tPartition: 9\tLeader: 1\tReplicas: 1\tIsr: 1"
    );

    let deleted = seeded(
        "./kafka-topics.sh --bootstrap-server HOSTS --delete --topic test01",
        &broker,
    );
    assert_eq!(deleted.ok(), Vec::<&str>::new());
    assert_eq!(
        ringlog(&["topics", "--bootstrap-server", &b, "--list"]).ok(),
        ["test02", "test04"]
    );
    let gone = ringlog(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--delete",
        "--topic",
        "test01",
    ]);
    assert_eq!(
        gone.lines(),
        ["Error while executing topic command : Topic 'test01' does not exist as expected"]
    );
}

#[test]
fn configs_overrides_and_if_not_exists() {
    let broker = Broker::start(1);
    let b = broker.bootstrap();
    let created = ringlog(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--create",
        "--topic",
        "kept",
        "--partitions",
        "1",
        "--config",
        "retention.ms=60000",
        "--config",
        "cleanup.policy=delete",
    ]);
    created.ok();
    let described = ringlog(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--describe",
        "--topic",
        "kept",
    ]);
    let first = described.ok()[0].to_string();
    assert!(
        first.starts_with("Topic: kept\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: "),
        "{first}"
    );
    let configs: Vec<&str> = first
        .rsplit("Configs: ")
        .next()
        .unwrap()
        .split(',')
        .collect();
    assert!(configs.contains(&"retention.ms=60000"), "{first}");
    assert!(configs.contains(&"cleanup.policy=delete"), "{first}");

    let again = ringlog(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--create",
        "--topic",
        "kept",
        "--partitions",
        "1",
    ]);
    assert_eq!(
        again.lines(),
        ["Error while executing topic command : Topic 'kept' already exists."]
    );
    let quiet = ringlog(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--create",
        "--topic",
        "kept",
        "--partitions",
        "1",
        "--if-not-exists",
    ]);
    assert_eq!(quiet.ok(), Vec::<&str>::new());
    // A dot or underscore gets Kafka's warning before the answer.
    let dotted = ringlog(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--create",
        "--topic",
        "a.b",
        "--partitions",
        "1",
    ]);
    let lines = dotted.ok();
    assert!(
        lines[0].starts_with("WARNING: Due to limitations in metric names"),
        "{lines:?}"
    );
    assert_eq!(lines[1], "Created topic a.b.");
    // --topic is a pattern for --list and --describe, as in Kafka.
    assert_eq!(
        ringlog(&[
            "topics",
            "--bootstrap-server",
            &b,
            "--list",
            "--topic",
            "a.*"
        ])
        .ok(),
        ["a.b"]
    );
}

#[test]
fn zookeeper_and_bad_flags_are_answered_clearly() {
    // The older tutorials (seeds 000, 004) name ZooKeeper; no broker needed.
    let zookeeper = run(&seed(
        "~/kafka/bin/kafka-topics.sh --create --zookeeper localhost:2181 --replication-factor 1 --partitions 1 --topic TutorialTopic",
        "127.0.0.1:1",
    ));
    assert_eq!(zookeeper.status.code(), Some(2));
    assert!(
        zookeeper.stderr.contains("--zookeeper is not needed"),
        "{}",
        zookeeper.stderr
    );
    assert!(
        zookeeper.stderr.contains("--bootstrap-server"),
        "{}",
        zookeeper.stderr
    );
    let listed = run(&seed(
        "/bigdata/kafka_2.11-1.1.1/bin/kafka-topics.sh --list --zookeeper linux01:2181",
        "127.0.0.1:1",
    ));
    assert!(
        listed.stderr.contains("--zookeeper is not needed"),
        "{}",
        listed.stderr
    );

    let two_actions = ringlog(&[
        "topics",
        "--bootstrap-server",
        "127.0.0.1:1",
        "--list",
        "--delete",
    ]);
    assert_eq!(two_actions.status.code(), Some(2));
    assert!(
        two_actions
            .stderr
            .contains("'--list' cannot be used with '--delete'"),
        "{}",
        two_actions.stderr
    );
    let bad_number = ringlog(&[
        "topics",
        "--bootstrap-server",
        "127.0.0.1:1",
        "--create",
        "--topic",
        "t",
        "--partitions",
        "four",
    ]);
    assert_eq!(bad_number.status.code(), Some(2));
    assert!(
        bad_number.stderr.contains("'--partitions <N>'"),
        "{}",
        bad_number.stderr
    );
    let no_topic = ringlog(&[
        "topics",
        "--bootstrap-server",
        "127.0.0.1:1",
        "--create",
        "--partitions",
        "1",
    ]);
    assert!(
        no_topic
            .stderr
            .contains("Missing required argument \"[topic]\""),
        "{}",
        no_topic.stderr
    );
}

#[test]
fn seed_commands_keep_their_flags() {
    assert_eq!(
        seed(
            "./kafka-topics.sh --bootstrap-server node1.itcast.cn:9092,node2.itcast.cn:9092 --create --topic test02 --partitions 4 --replication-factor 2",
            "127.0.0.1:5"
        ),
        strings(&[
            "topics", "--bootstrap-server", "127.0.0.1:5", "--create", "--topic", "test02", "--partitions", "4",
            "--replication-factor", "2"
        ])
    );
    assert_eq!(
        seed(
            "./kafka-producer-perf-test.sh --topic test01 --producer-props bootstrap.servers=node1.itcast.cn:9092,node2.itcast.cn:9092 acks=1",
            "127.0.0.1:5"
        ),
        strings(&["producer-perf-test", "--topic", "test01", "--producer-props", "bootstrap.servers=127.0.0.1:5", "acks=1"])
    );
}
