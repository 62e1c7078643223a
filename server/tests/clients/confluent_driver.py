"""confluent-kafka (librdkafka), used as its documentation shows: Producer
with delivery callbacks, Consumer with group.id, subscribe and poll,
synchronous commit, AdminClient futures."""
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, ConfigResource, NewPartitions, NewTopic,
                                   ResourceType)

import driver as d

args = d.Args()


def produce(records=None):
    config = {"bootstrap.servers": args.bootstrap, "acks": "all", "linger.ms": 5}
    if args.codec:
        config["compression.type"] = args.codec
    producer = Producer(config)

    def report(error, message):
        d.produced(message.partition(), message.offset(), message.key(), message.value(), error)

    for i in records or range(args.records):
        key, value, headers = args.record(i)
        producer.produce(args.topic, value=value, key=key, headers=headers, on_delivery=report)
    if producer.flush(20) != 0:
        sys.exit("records still unacknowledged after 20 s")


def consumer(group, **extra):
    return Consumer({"bootstrap.servers": args.bootstrap, "group.id": group,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False, **extra})


def drain(c, want, phase=None, seconds=15):
    got = []

    def step():
        message = c.poll(0.5)
        if message is None:
            return
        if message.error():
            if message.error().code() != KafkaError._PARTITION_EOF:
                sys.exit(f"consume error: {message.error()}")
            return
        got.append(message)
        d.consumed(message.partition(), message.offset(), message.key(), message.value(),
                   message.headers(), phase)

    d.until(seconds, lambda: len(got) >= want, step)
    return got


def produce_consume():
    produce()
    c = consumer(args.group + "-reader")
    c.subscribe([args.topic])
    drain(c, args.records)
    c.close()


def group_resume():
    produce(range(args.half))
    first = consumer(args.group)
    first.subscribe([args.topic])
    got = drain(first, args.half, "a")
    positions = {}
    for message in got:
        positions[message.partition()] = message.offset() + 1
    offsets = [TopicPartition(args.topic, p, o) for p, o in positions.items()]
    for tp in first.commit(offsets=offsets, asynchronous=False):
        if tp.error:
            sys.exit(f"commit error: {tp.error}")
        d.committed(tp.partition, tp.offset)
    first.close()
    produce(range(args.half, args.records))
    second = consumer(args.group)
    second.subscribe([args.topic])
    drain(second, args.records - len(got), "b")
    for tp in second.committed([TopicPartition(args.topic, p) for p in positions], timeout=10):
        d.fetched_commit(tp.partition, tp.offset)
    second.close()


def group_admin():
    produce()
    c = consumer(args.group)
    c.subscribe([args.topic])
    got = drain(c, args.records)
    c.commit(asynchronous=False)
    c.close()
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    groups = admin.list_consumer_groups().result(10)
    d.fact("listed", any(g.group_id == args.group for g in groups.valid))
    description = admin.describe_consumer_groups([args.group])[args.group].result(10)
    d.fact("state", description.state.name.title() if description.state else None)
    from confluent_kafka import ConsumerGroupTopicPartitions
    request = ConsumerGroupTopicPartitions(args.group)
    offsets = admin.list_consumer_group_offsets([request])[args.group].result(10)
    d.fact("committed", sum(tp.offset for tp in offsets.topic_partitions if tp.offset > 0))
    admin.delete_consumer_groups([args.group])[args.group].result(10)
    d.fact("deleted", True)
    groups = admin.list_consumer_groups().result(10)
    d.fact("listed_after_delete", any(g.group_id == args.group for g in groups.valid))
    assert len(got) == args.records


def admin():
    a = AdminClient({"bootstrap.servers": args.bootstrap})
    topic = NewTopic(args.topic, num_partitions=2, replication_factor=1,
                     config={"retention.ms": "3600000"})
    a.create_topics([topic])[args.topic].result(10)
    d.fact("created", True)
    metadata = a.list_topics(args.topic, timeout=10)
    d.fact("partitions", len(metadata.topics[args.topic].partitions))
    a.create_partitions([NewPartitions(args.topic, 4)])[args.topic].result(10)
    metadata = a.list_topics(args.topic, timeout=10)
    d.fact("grown_partitions", len(metadata.topics[args.topic].partitions))
    resource = ConfigResource(ResourceType.TOPIC, args.topic)
    configs = a.describe_configs([resource])[resource].result(10)
    d.fact("retention_ms", configs["retention.ms"].value)
    a.delete_topics([args.topic])[args.topic].result(10)
    time.sleep(0.2)
    d.fact("deleted", args.topic not in a.list_topics(timeout=10).topics)


SCENARIOS = {"produce_consume": produce_consume, "gzip": produce_consume, "snappy": produce_consume,
             "lz4": produce_consume, "zstd": produce_consume, "group_resume": group_resume,
             "group_admin": group_admin, "admin": admin}
SCENARIOS[args.scenario]()
