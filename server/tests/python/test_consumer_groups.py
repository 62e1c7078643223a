"""Consumer groups with the seeds' Python clients against the real broker:
kafka-python's group consumer with auto-commit (subscribe to a list and to a
pattern, its default assignors splitting a topic), confluent-kafka's
synchronous and asynchronous commits with on_commit, and the group admin
calls (list, describe, offsets, delete)."""
import threading
import time

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka import TopicPartition as CKTopicPartition
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata
import kafka.errors as Errors


def create(broker, name, partitions):
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    admin.close()


def produce(broker, topic, values, partitions):
    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    for n, value in enumerate(values):
        producer.send(topic, value=value.encode(), partition=n % partitions)
    producer.flush()
    producer.close()


def describe(broker, group):
    """The broker's view of a group (members and their assignments), for a
    failure message: it tells a broker's rebalance from a client's."""
    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        return repr(admin.describe_groups([group]))
    finally:
        admin.close()


def drain(consumer, want, seconds=30):
    """Polls a kafka-python consumer until `want` records arrived."""
    got = []
    deadline = time.time() + seconds
    while len(got) < want and time.time() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(records)
    return got


def test_kafka_python_group_consumer_auto_commits_and_resumes(broker):
    create(broker, "kp-groups", 3)
    produce(broker, "kp-groups", [f"first {n}" for n in range(60)], 3)
    # The seeds' pattern: group_id + subscribe, auto-commit on.
    consumer = KafkaConsumer(
        "kp-groups",
        group_id="kp-readers",
        bootstrap_servers=broker,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        auto_commit_interval_ms=200,
    )
    got = drain(consumer, 60)
    assert sorted(record.value.decode() for record in got) == sorted(f"first {n}" for n in range(60))
    assert consumer.assignment() == {TopicPartition("kp-groups", p) for p in range(3)}
    time.sleep(0.5)  # one more auto-commit interval
    consumer.close()  # commits once more and leaves the group

    produce(broker, "kp-groups", [f"second {n}" for n in range(30)], 3)
    again = KafkaConsumer(
        "kp-groups",
        group_id="kp-readers",
        bootstrap_servers=broker,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        consumer_timeout_ms=3000,
    )
    values = [record.value.decode() for record in again]
    assert sorted(values) == sorted(f"second {n}" for n in range(30))
    again.close()


def test_kafka_python_default_assignors_split_a_topic_and_patterns_subscribe(broker):
    create(broker, "kp-split", 4)
    produce(broker, "kp-split", [f"v{n}" for n in range(80)], 4)
    members = [
        KafkaConsumer(
            group_id="kp-split-group",
            bootstrap_servers=broker,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=10000,
            heartbeat_interval_ms=500,
        )
        for _ in range(2)
    ]
    members[0].subscribe(["kp-split"])
    members[1].subscribe(pattern="^kp-spl.*")  # seed 003: subscribe to a regex
    # Each member polls in a thread of its own, as an application runs its
    # consumers: kafka-python 3.0.12 turns a member's heartbeat back on only
    # after a rejoin a poll() was waiting on, so two members polled in turn
    # from one thread with short timeouts lose theirs now and then (the
    # coordinator expires the member; docs/groups.md). Each also learns the
    # topic's partitions before it first joins, which spares the leader a
    # rejoin once its metadata arrives.
    for member in members:
        assert member.partitions_for_topic("kp-split") == {0, 1, 2, 3}
    got = [[], []]
    assigned = [set(), set()]
    failures = []
    stop = threading.Event()

    def run(index):
        member = members[index]
        try:
            while not stop.is_set():
                for records in member.poll(timeout_ms=500).values():
                    got[index].extend(records)
                    member.commit()
                assigned[index] = set(member.assignment())
        except Exception as error:  # a client error fails the test, below
            failures.append((index, error))
            stop.set()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.time() + 60
    while time.time() < deadline and not stop.is_set():
        if all(len(a) == 2 for a in assigned) and sum(map(len, got)) >= 80:
            break
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert [len(a) for a in assigned] == [2, 2], describe(broker, "kp-split-group")
    assert not (assigned[0] & assigned[1])
    values = [record.value.decode() for member_got in got for record in member_got]
    # Before the second member joined, the first may have read its future
    # partitions; after the split each record has one owner, and nothing is lost.
    assert set(values) == {f"v{n}" for n in range(80)}
    for member in members:
        member.close()


def test_confluent_kafka_sync_and_async_commits_with_on_commit(broker):
    create(broker, "ck-commits", 2)
    producer = Producer({"bootstrap.servers": broker})
    for n in range(40):
        producer.produce("ck-commits", value=f"m{n}", partition=n % 2)
    producer.flush(10)

    commits = []

    def on_commit(error, partitions):
        commits.append((error, [(p.partition, p.offset) for p in partitions]))

    consumer = Consumer({
        "bootstrap.servers": broker,
        "group.id": "ck-group",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "on_commit": on_commit,
    })
    consumer.subscribe(["ck-commits"])
    seen = []
    deadline = time.time() + 30
    while len(seen) < 40 and time.time() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        seen.append(message.value().decode())
        if len(seen) % 2 == 0:
            # At-least-once: a synchronous commit after processing (seed 002).
            consumer.commit(message=message, asynchronous=False)
        else:
            consumer.commit(message=message, asynchronous=True)
    assert sorted(seen) == sorted(f"m{n}" for n in range(40))
    # Let the asynchronous commits' callbacks run.
    deadline = time.time() + 10
    while time.time() < deadline and not any(error is None for error, _ in commits):
        consumer.poll(0.2)
    assert commits and all(error is None for error, _ in commits)
    committed = consumer.committed([CKTopicPartition("ck-commits", p) for p in range(2)], timeout=10)
    assert [tp.offset for tp in committed] == [20, 20]
    consumer.close()

    # A new member of the group starts where the commits left off.
    producer.produce("ck-commits", value="after", partition=1)
    producer.flush(10)
    resumed = Consumer({
        "bootstrap.servers": broker,
        "group.id": "ck-group",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
    })
    resumed.subscribe(["ck-commits"])
    values, eofs = [], set()
    deadline = time.time() + 30
    while len(eofs) < 2 and time.time() < deadline:
        message = resumed.poll(0.5)
        if message is None:
            continue
        if message.error():
            assert message.error().code() == KafkaError._PARTITION_EOF
            eofs.add(message.partition())
            continue
        values.append(message.value().decode())
    resumed.close()
    assert values == ["after"]


def test_group_admin_calls_list_describe_offsets_and_delete(broker):
    create(broker, "admin-groups", 2)
    produce(broker, "admin-groups", [f"a{n}" for n in range(10)], 2)
    consumer = KafkaConsumer(
        "admin-groups",
        group_id="admin-group",
        bootstrap_servers=broker,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        client_id="admin-test-client",
    )
    assert len(drain(consumer, 10)) == 10
    consumer.commit()
    admin = KafkaAdminClient(bootstrap_servers=broker)
    listed = {group["group_id"]: group for group in admin.list_groups()}
    assert listed["admin-group"]["protocol_type"] == "consumer"
    stable = [group["group_id"] for group in admin.list_groups(states_filter=["Stable"])]
    assert "admin-group" in stable
    assert admin.list_groups(states_filter=["Dead"]) == []
    description = admin.describe_groups(["admin-group"])["admin-group"]
    assert description["error"] is None
    assert description["group_state"] == "Stable"
    assert description["protocol_data"] in ("range", "roundrobin")
    assert [member["client_id"] for member in description["members"]] == ["admin-test-client"]
    offsets = admin.list_group_offsets("admin-group")["admin-group"]
    assert {tp.partition: meta.offset for tp, meta in offsets.items()} == {0: 5, 1: 5}
    # A group with members can be neither deleted nor have its offsets altered.
    assert admin.delete_groups(["admin-group"]) == {"admin-group": "NonEmptyGroupError"}
    consumer.close()
    deadline = time.time() + 10
    while admin.describe_groups(["admin-group"])["admin-group"]["group_state"] != "Empty":
        assert time.time() < deadline
        time.sleep(0.1)
    # An empty group takes offsets from anyone (generation -1, no member id).
    altered = admin.alter_group_offsets(
        "admin-group", {TopicPartition("admin-groups", 0): OffsetAndMetadata(2, "reset", -1)})
    assert list(altered.values()) == [Errors.NoError]
    offsets = admin.list_group_offsets("admin-group")["admin-group"]
    assert {tp.partition: meta.offset for tp, meta in offsets.items()} == {0: 2, 1: 5}
    assert admin.delete_groups(["admin-group"]) == {"admin-group": "OK"}
    assert "admin-group" not in {group["group_id"] for group in admin.list_groups()}
    assert admin.list_group_offsets("admin-group")["admin-group"] == {}
    admin.close()
