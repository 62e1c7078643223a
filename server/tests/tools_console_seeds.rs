//! The tutorials' console producer and consumer commands (shared/seeds
//! 004, 000 and 001) with the script name swapped and the test broker's
//! address: what is typed in comes out, and a consumer with no offset
//! starts at the end of the topic, as Kafka's does.

mod support;
mod tools_support;

use std::time::{Duration, Instant};

use support::Broker;
use tools_support::{create_topic_with_tool, run_with_input, seed, spawn};

#[test]
fn hello_world_goes_through_the_console_tools() {
    let broker = Broker::start(2);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "TutorialTopic", 1);
    // echo "Hello, World" | ~/kafka/bin/kafka-console-producer.sh --broker-list localhost:9092 --topic TutorialTopic > /dev/null
    let produced = run_with_input(
        &seed(
            "~/kafka/bin/kafka-console-producer.sh --broker-list localhost:9092 --topic TutorialTopic",
            &b,
        ),
        "Hello, World\n",
    );
    produced.ok();
    // ~/kafka/bin/kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic TutorialTopic --from-beginning
    let consumer = spawn(&seed(
        "~/kafka/bin/kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic TutorialTopic --from-beginning",
        &b,
    ));
    assert_eq!(
        consumer.line(Duration::from_secs(30)).as_deref(),
        Some("Hello, World")
    );
    assert_eq!(
        consumer.line(Duration::from_millis(500)),
        None,
        "one record only"
    );
    let (status, stderr) = consumer.interrupt();
    assert!(status.success(), "{status:?} {stderr}");
    assert!(
        stderr.contains("Processed a total of 1 messages"),
        "{stderr}"
    );
}

#[test]
fn the_wordcount_tutorial_and_a_consumer_that_starts_at_the_end() {
    let broker = Broker::start(2);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "wordcount", 3);
    // seed 000: .../kafka-console-producer.sh --broker-list linux01:9092,linux02:9092,linux03:9092 --topic wordcount
    run_with_input(
        &seed(
            "/bigdata/kafka_2.11-1.1.1/bin/kafka-console-producer.sh --broker-list linux01:9092,linux02:9092,linux03:9092 --topic wordcount",
            &b,
        ),
        "old hello\nold world\n",
    )
    .ok();
    // Without --from-beginning a new group starts at the end: the two old
    // lines are never printed, only what is produced once it reads.
    // (seed 001 recommends latest, --max-messages and --group together.)
    let consumer = spawn(&seed(
        "./kafka-console-consumer.sh --bootstrap-server node1.itcast.cn:9092,node2.itcast.cn:9092 --topic wordcount --group g_latest --max-messages 3",
        &b,
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut printed = Vec::new();
    let mut sent = 0;
    while printed.len() < 3 {
        assert!(Instant::now() < deadline, "printed only {printed:?}");
        sent += 1;
        run_with_input(
            &seed(
                "./kafka-console-producer.sh --broker-list node1.itcast.cn:9092 --topic wordcount",
                &b,
            ),
            &format!("new {sent}\n"),
        )
        .ok();
        while let Some(line) = consumer.line(Duration::from_millis(300)) {
            printed.push(line);
        }
    }
    let (status, rest, stderr) = consumer.finish(Duration::from_secs(30));
    assert!(status.success(), "{status:?} {stderr}");
    assert!(rest.is_empty(), "{rest:?}");
    assert!(
        printed.iter().all(|line| line.starts_with("new ")),
        "{printed:?}"
    );
    assert_eq!(printed.len(), 3);
    assert!(
        stderr.contains("Processed a total of 3 messages"),
        "{stderr}"
    );

    // seed 000: ... kafka-console-consumer.sh --bootstrap-server linux01:9092,... --topic wordcount --from-beginning
    let everything = spawn(&seed(
        "/bigdata/kafka_2.11-1.1.1/bin/kafka-console-consumer.sh --bootstrap-server linux01:9092,linux02:9092,linux03:9092 --topic wordcount --from-beginning",
        &b,
    ));
    let mut all = Vec::new();
    while all.len() < 2 + sent {
        match everything.line(Duration::from_secs(30)) {
            Some(line) => all.push(line),
            None => panic!("read only {all:?} of {} records", 2 + sent),
        }
    }
    let (status, stderr) = everything.interrupt();
    assert!(status.success(), "{stderr}");
    all.sort();
    let mut expected: Vec<String> = (1..=sent).map(|i| format!("new {i}")).collect();
    expected.extend(["old hello".to_string(), "old world".to_string()]);
    expected.sort();
    assert_eq!(all, expected);
}
