"""kafka-python, used as its documentation shows: KafkaProducer.send(...)
.get() for RecordMetadata, KafkaConsumer with group_id and poll,
commit(offsets), KafkaAdminClient. `--api-version 0.10.1` pins the protocol
versions the client picks, as users of old brokers configure it."""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.structs import OffsetAndMetadata

import driver as d

args = d.Args()
# Short timeouts, so a refused request fails the scenario quickly.
common = {"bootstrap_servers": args.bootstrap, "request_timeout_ms": 8000}
if "--api-version" in sys.argv:
    pinned = sys.argv[sys.argv.index("--api-version") + 1]
    common["api_version"] = tuple(int(part) for part in pinned.split("."))


def broker_at_least(*version):
    """Whether the pinned broker version has a feature (unpinned: all)."""
    return common.get("api_version", (99,)) >= version


# Headers arrived with message format v2 (Kafka 0.11).
headers = broker_at_least(0, 11)


def produce(records=None):
    producer = KafkaProducer(acks="all", linger_ms=5, compression_type=args.codec, max_block_ms=8000,
                             **common)
    futures = []
    for i in records or range(args.records):
        key, value, record_headers = args.record(i)
        kwargs = {"headers": record_headers} if headers else {}
        futures.append((key, value, producer.send(args.topic, value=value, key=key, **kwargs)))
    for key, value, future in futures:
        try:
            metadata = future.get(timeout=10)
            d.produced(metadata.partition, metadata.offset, key, value)
        except Exception as error:  # noqa: BLE001 - reported, run.py fails the scenario
            d.produced(None, None, key, value, repr(error))
    producer.close()


def consumer(group, **extra):
    c = KafkaConsumer(group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
                      **common, **extra)
    c.subscribe([args.topic])
    return c


def drain(c, want, phase=None, seconds=15):
    got = []

    def step():
        for records in c.poll(timeout_ms=500).values():
            for r in records:
                got.append(r)
                d.consumed(r.partition, r.offset, r.key, r.value, r.headers, phase)

    d.until(seconds, lambda: len(got) >= want, step)
    return got


def produce_consume():
    produce()
    c = consumer(args.group + "-reader")
    drain(c, args.records)
    c.close()


def group_resume():
    produce(range(args.half))
    first = consumer(args.group)
    got = drain(first, args.half, "a")
    positions = {}
    for r in got:
        positions[r.partition] = r.offset + 1
    offsets = {TopicPartition(args.topic, p): OffsetAndMetadata(o, "", -1) for p, o in positions.items()}
    first.commit(offsets)
    for tp, meta in offsets.items():
        d.committed(tp.partition, meta.offset)
    first.close()
    produce(range(args.half, args.records))
    second = consumer(args.group)
    drain(second, args.records - args.half, "b")
    for p in positions:
        d.fetched_commit(p, second.committed(TopicPartition(args.topic, p)))
    second.close()


def group_admin():
    produce()
    c = consumer(args.group)
    drain(c, args.records)
    c.commit()
    c.close()
    admin = KafkaAdminClient(**common)
    d.fact("listed", any(g["group_id"] == args.group for g in admin.list_groups()))
    d.fact("state", admin.describe_groups([args.group])[args.group]["group_state"])
    # Before Kafka 0.10.2 OffsetFetch needs the partitions named.
    partitions = None if broker_at_least(0, 10, 2) else [TopicPartition(args.topic, p) for p in range(3)]
    offsets = admin.list_group_offsets({args.group: partitions})[args.group]
    d.fact("committed", sum(meta.offset for meta in offsets.values()))
    if broker_at_least(1, 1):  # DeleteGroups
        for group, error in admin.delete_groups([args.group]).items():
            if error != "OK":
                sys.exit(f"delete_groups: {error}")
        d.fact("deleted", True)
        d.fact("listed_after_delete", any(g["group_id"] == args.group for g in admin.list_groups()))
    admin.close()


def admin():
    a = KafkaAdminClient(**common)
    a.create_topics([NewTopic(args.topic, num_partitions=2, replication_factor=1,
                              topic_configs={"retention.ms": "3600000"})])
    d.fact("created", True)

    def partitions():
        (topic,) = a.describe_topics([args.topic])
        return len(topic["partitions"])

    d.fact("partitions", partitions())
    if broker_at_least(1, 0):  # CreatePartitions
        a.create_partitions({args.topic: NewPartitions(total_count=4)})
        d.fact("grown_partitions", partitions())
    if broker_at_least(0, 11):  # DescribeConfigs
        described = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, args.topic)])
        d.fact("retention_ms", described["topic"][args.topic]["retention.ms"]["value"])
    a.delete_topics([args.topic])
    time.sleep(0.2)
    d.fact("deleted", args.topic not in a.list_topics())
    a.close()


SCENARIOS = {"produce_consume": produce_consume, "gzip": produce_consume, "snappy": produce_consume,
             "lz4": produce_consume, "zstd": produce_consume, "group_resume": group_resume,
             "group_admin": group_admin, "admin": admin}
SCENARIOS[args.scenario]()
