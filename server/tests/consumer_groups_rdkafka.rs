//! Consumer groups with librdkafka against the real broker: members split
//! a topic and hand partitions over exactly once when one leaves (range,
//! roundrobin and cooperative-sticky assignors); two groups each read
//! everything; committed offsets and the group survive kill -9; a member
//! that goes silent is evicted after its session timeout; a static member
//! (group.instance.id) rejoins without a rebalance.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::TopicPartitionList;
use support::kafka::*;
use support::*;

fn create(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let results = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(admin.create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
}

/// Sends `values` round-robin over the partitions.
fn produce(bootstrap: &str, topic: &str, partitions: i32, values: std::ops::Range<usize>) {
    let producer = producer(bootstrap, &[("acks", "all")]);
    let records: Vec<Sent> = values
        .map(|index| Sent {
            partition: (index % partitions as usize) as i32,
            key: None,
            value: format!("value-{index}").into_bytes(),
            headers: Vec::new(),
            timestamp: None,
        })
        .collect();
    for report in send_all(&producer, topic, &records) {
        assert_eq!(report.error, None);
    }
}

/// One record as a member received it.
#[derive(Debug, Clone)]
struct Received {
    member: usize,
    partition: i32,
    offset: i64,
    value: String,
}

/// Polls each consumer once; commits every record it gets, synchronously.
fn poll_round(consumers: &[&BaseConsumer<RebalanceLog>], out: &mut Vec<Received>) {
    for (member, consumer) in consumers.iter().enumerate() {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) {
            out.push(Received {
                member,
                partition: message.partition(),
                offset: message.offset(),
                value: String::from_utf8(message.payload().unwrap().to_vec()).unwrap(),
            });
            commit_until_done(consumer, &message);
        }
    }
}

/// Commits the record's next offset synchronously. With cooperative
/// rebalancing members keep consuming while the group rebalances, and, as
/// with Kafka, a commit then gets REBALANCE_IN_PROGRESS (between JoinGroup
/// and SyncGroup) or ILLEGAL_GENERATION (sent with the generation the
/// rebalance just ended, queued behind the member's own JoinGroup): it is
/// retried until the member knows the new generation.
fn commit_until_done(
    consumer: &BaseConsumer<RebalanceLog>,
    message: &rdkafka::message::BorrowedMessage<'_>,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match consumer.commit_message(message, CommitMode::Sync) {
            Ok(()) => return,
            Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::RebalanceInProgress
                | rdkafka::types::RDKafkaErrorCode::IllegalGeneration,
            )) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(error) => panic!(
                "commit of {}-{}: {error}",
                message.partition(),
                message.offset()
            ),
        }
    }
}

fn wait_for(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
    }
}

/// Every value exactly once, and nothing else.
fn assert_exactly_once(received: &[Received], count: usize) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for record in received {
        *seen.entry(record.value.as_str()).or_default() += 1;
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, times)| **times > 1).collect();
    assert!(duplicates.is_empty(), "delivered twice: {duplicates:?}");
    for index in 0..count {
        assert!(
            seen.contains_key(format!("value-{index}").as_str()),
            "value-{index} was lost"
        );
    }
    assert_eq!(seen.len(), count);
}

fn split_then_leave(strategy: &str) {
    let broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    let topic = "orders";
    create(&bootstrap, topic, 4);
    let settings = [("partition.assignment.strategy", strategy)];
    let a = group_consumer(&bootstrap, "shop", &[topic], &settings);
    let b = group_consumer(&bootstrap, "shop", &[topic], &settings);
    let mut received = Vec::new();
    wait_for("the members to split the topic", 60, || {
        poll_round(&[&a, &b], &mut received);
        assigned(&a).len() == 2 && assigned(&b).len() == 2
    });
    let mut all = assigned(&a);
    all.extend(assigned(&b));
    all.sort_unstable();
    assert_eq!(all, vec![0, 1, 2, 3], "each partition has one owner");

    produce(&bootstrap, topic, 4, 0..200);
    wait_for("both members to consume", 60, || {
        poll_round(&[&a, &b], &mut received);
        received.len() >= 100 && (0..2).all(|m| received.iter().any(|r| r.member == m))
    });
    // B leaves mid-stream (LeaveGroup on close): A takes its partitions
    // from the offsets B committed.
    drop(b);
    wait_for("A to read the rest", 60, || {
        poll_round(&[&a], &mut received);
        received.len() == 200
    });
    produce(&bootstrap, topic, 4, 200..400);
    wait_for("A to read the new records", 60, || {
        poll_round(&[&a], &mut received);
        received.len() == 400
    });
    let quiet = Instant::now() + Duration::from_secs(1);
    while Instant::now() < quiet {
        poll_round(&[&a], &mut received);
    }
    assert_exactly_once(&received, 400);
    assert_eq!(assigned(&a), vec![0, 1, 2, 3]);
    assert_eq!(committed(&a, topic, 4), vec![100; 4]);
    // Offsets in order per partition, whoever read them.
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for record in &received {
        by_partition
            .entry(record.partition)
            .or_default()
            .push(record.offset);
    }
    for offsets in by_partition.values_mut() {
        offsets.sort_unstable();
        assert_eq!(*offsets, (0..100).collect::<Vec<i64>>());
    }
}

#[test]
fn range_members_split_a_topic_and_hand_over_exactly_once() {
    split_then_leave("range");
}

#[test]
fn roundrobin_members_split_a_topic_and_hand_over_exactly_once() {
    split_then_leave("roundrobin");
}

#[test]
fn cooperative_sticky_members_split_a_topic_and_hand_over_exactly_once() {
    split_then_leave("cooperative-sticky");
}

#[test]
fn two_groups_each_read_everything_while_members_of_one_share() {
    let broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    let topic = "events";
    create(&bootstrap, topic, 4);
    let shared_a = group_consumer(&bootstrap, "analytics", &[topic], &[]);
    let shared_b = group_consumer(&bootstrap, "analytics", &[topic], &[]);
    let alone = group_consumer(&bootstrap, "audit", &[topic], &[]);
    let mut shared = Vec::new();
    let mut audit = Vec::new();
    wait_for("the groups to settle", 60, || {
        poll_round(&[&shared_a, &shared_b], &mut shared);
        poll_round(&[&alone], &mut audit);
        assigned(&shared_a).len() == 2
            && assigned(&shared_b).len() == 2
            && assigned(&alone).len() == 4
    });
    produce(&bootstrap, topic, 4, 0..300);
    wait_for("both groups to read everything", 60, || {
        poll_round(&[&shared_a, &shared_b], &mut shared);
        poll_round(&[&alone], &mut audit);
        shared.len() >= 300 && audit.len() >= 300
    });
    assert_exactly_once(&shared, 300);
    assert_exactly_once(&audit, 300);
    assert!((0..2).all(|member| shared.iter().any(|r| r.member == member)));
    assert_eq!(committed(&shared_a, topic, 4), vec![75; 4]);
    assert_eq!(committed(&alone, topic, 4), vec![75; 4]);
}

/// The group's committed offsets, asked by a client that is not a member.
fn committed_for(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let checker: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = checker
        .committed_offsets(list, Duration::from_secs(20))
        .unwrap();
    committed
        .elements()
        .iter()
        .map(|element| match element.offset() {
            rdkafka::Offset::Offset(offset) => offset,
            _ => -1001,
        })
        .collect()
}

#[test]
fn committed_offsets_and_the_group_survive_kill9() {
    let mut broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    let topic = "ledger";
    create(&bootstrap, topic, 3);
    produce(&bootstrap, topic, 3, 0..90);
    let consumer = group_consumer(&bootstrap, "resume", &[topic], &[]);
    let mut received = Vec::new();
    wait_for("half the records", 60, || {
        poll_round(&[&consumer], &mut received);
        received.len() >= 45
    });
    // -1001: nothing committed (a partition this member read nothing of).
    let mut positions = vec![-1001i64; 3];
    for record in &received {
        positions[record.partition as usize] = record.offset + 1;
    }
    // Every commit was acknowledged (fdatasync'ed): kill -9 loses none.
    broker.restart_after_kill9();
    assert_eq!(committed_for(&bootstrap, "resume", topic, 3), positions);
    // The member carries on in its restored group and reads the rest once.
    wait_for("the rest after the restart", 90, || {
        poll_round(&[&consumer], &mut received);
        received.len() >= 90
    });
    assert_exactly_once(&received, 90);
    drop(consumer);
    assert_eq!(committed_for(&bootstrap, "resume", topic, 3), vec![30; 3]);

    // A new member resumes exactly at the committed offsets.
    broker.restart_after_kill9();
    produce(&bootstrap, topic, 3, 90..120);
    let next = group_consumer(&bootstrap, "resume", &[topic], &[]);
    let mut later = Vec::new();
    wait_for("the new records", 90, || {
        poll_round(&[&next], &mut later);
        later.len() >= 30
    });
    let quiet = Instant::now() + Duration::from_secs(1);
    while Instant::now() < quiet {
        poll_round(&[&next], &mut later);
    }
    assert_eq!(later.len(), 30, "nothing before the committed offsets");
    assert!(later.iter().all(|record| record.offset >= 30));
    let values: Vec<String> = later.iter().map(|r| r.value.clone()).collect();
    for index in 90..120 {
        assert!(values.contains(&format!("value-{index}")));
    }
}

const CHILD_BOOTSTRAP: &str = "RINGLOG_TEST_CHILD_BOOTSTRAP";

/// Runs only as the child of `a_silent_member_is_evicted_after_its_session_timeout`:
/// joins the group, prints its partitions, and polls until killed.
#[test]
#[ignore = "a helper process, started by another test"]
fn child_group_member() {
    let Ok(bootstrap) = std::env::var(CHILD_BOOTSTRAP) else {
        return;
    };
    let consumer = group_consumer(&bootstrap, "workers", &["jobs"], &[]);
    let mut printed = Vec::new();
    // Should the parent die without killing it, it stops by itself.
    let give_up = Instant::now() + Duration::from_secs(120);
    while Instant::now() < give_up {
        let _ = consumer.poll(Duration::from_millis(100));
        let now = assigned(&consumer);
        if now != printed {
            println!("ASSIGNED {now:?}");
            printed = now;
        }
    }
}

#[test]
fn a_silent_member_is_evicted_after_its_session_timeout() {
    let broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    create(&bootstrap, "jobs", 4);
    let mut child = KillOnDrop(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "child_group_member", "--nocapture"])
            .env(CHILD_BOOTSTRAP, &bootstrap)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
    let (sender, from_child) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let member = group_consumer(&bootstrap, "workers", &["jobs"], &[]);
    let mut received = Vec::new();
    let mut child_has_two = false;
    wait_for("the child and this member to split the topic", 60, || {
        poll_round(&[&member], &mut received);
        while let Ok(line) = from_child.try_recv() {
            child_has_two = line.starts_with("ASSIGNED") && line.matches(',').count() == 1;
        }
        child_has_two && assigned(&member).len() == 2
    });
    // kill -9: no LeaveGroup, the broker only notices the silence.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let killed = Instant::now();
    wait_for("the member to get every partition", 30, || {
        poll_round(&[&member], &mut received);
        assigned(&member).len() == 4
    });
    let waited = killed.elapsed();
    // The session timeout is 6 s; the rebalance needs a heartbeat or two more.
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(15),
        "evicted after {waited:?}"
    );
}

#[test]
fn a_static_member_rejoins_without_a_rebalance() {
    let broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    let topic = "static";
    create(&bootstrap, topic, 4);
    let dynamic = group_consumer(&bootstrap, "steady", &[topic], &[]);
    let static_settings = [
        ("group.instance.id", "worker-1"),
        ("session.timeout.ms", "10000"),
    ];
    let first = group_consumer(&bootstrap, "steady", &[topic], &static_settings);
    let mut received = Vec::new();
    wait_for("the group to settle", 60, || {
        poll_round(&[&dynamic, &first], &mut received);
        assigned(&dynamic).len() == 2 && assigned(&first).len() == 2
    });
    let held = assigned(&first);
    let kept = assigned(&dynamic);
    let rebalances = dynamic.context().events().len();
    // A static member's close sends no LeaveGroup; the restarted process
    // joins with the same group.instance.id and no member id.
    drop(first);
    let second = group_consumer(&bootstrap, "steady", &[topic], &static_settings);
    wait_for("the static member to be back", 30, || {
        poll_round(&[&dynamic, &second], &mut received);
        !assigned(&second).is_empty()
    });
    assert_eq!(assigned(&second), held, "the same partitions as before");
    // Several heartbeats later the other member still saw no rebalance.
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle {
        poll_round(&[&dynamic, &second], &mut received);
    }
    assert_eq!(
        dynamic.context().events().len(),
        rebalances,
        "{:?}",
        dynamic.context().events()
    );
    assert_eq!(assigned(&dynamic), kept);
    // And the group still works: records flow to both.
    produce(&bootstrap, topic, 4, 0..40);
    wait_for("both members to read", 60, || {
        poll_round(&[&dynamic, &second], &mut received);
        received.len() >= 40
    });
    assert_exactly_once(&received, 40);
}
