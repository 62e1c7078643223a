"""pykafka, used as seed 000 uses it: KafkaClient(hosts=...).topics[name],
get_sync_producer / get_producer(delivery_reports=True) with partition_key,
SimpleConsumer with consumer_group and auto_commit_enable, the managed
BalancedConsumer, earliest/latest_available_offsets. pykafka has no headers
and no zstd."""
import queue
import sys
import time

from pykafka import KafkaClient
from pykafka.common import CompressionType, OffsetType
from pykafka.partitioners import hashing_partitioner

import driver as d

args = d.Args()
CODECS = {None: CompressionType.NONE, "gzip": CompressionType.GZIP,
          "snappy": CompressionType.SNAPPY, "lz4": CompressionType.LZ4}


def topic():
    client = KafkaClient(hosts=args.bootstrap, socket_timeout_ms=8000)
    return client.topics[args.topic.encode()]


def report(msg, error=None):
    offset = msg.offset if msg.offset is not None and msg.offset >= 0 else None
    d.produced(msg.partition_id, offset, msg.partition_key, msg.value, error)


def produce_sync(t, records=None):
    """The seed's get_sync_producer: produce returns once acknowledged."""
    # Keyed records: pykafka's default partitioner is random, its docs name
    # hashing_partitioner for partition_key.
    with t.get_sync_producer(compression=CODECS[args.codec], ack_timeout_ms=8000,
                             partitioner=hashing_partitioner) as producer:
        for i in records or range(args.records):
            key, value, _ = args.record(i)
            report(producer.produce(value, partition_key=key))


def produce_with_reports(t, records=None):
    """The seed's async producer with delivery reports."""
    records = list(records or range(args.records))
    with t.get_producer(sync=False, delivery_reports=True, linger_ms=10,
                        compression=CODECS[args.codec], partitioner=hashing_partitioner) as producer:
        for i in records:
            key, value, _ = args.record(i)
            producer.produce(value, partition_key=key)
        for _ in records:
            try:
                msg, error = producer.get_delivery_report(block=True, timeout=10)
            except queue.Empty:
                sys.exit("no delivery report within 10 s")
            report(msg, repr(error) if error else None)


def read(consumer, want, phase=None, seconds=15):
    got = []
    deadline = time.time() + seconds
    while len(got) < want and time.time() < deadline:
        message = consumer.consume(block=False)
        if message is None:
            time.sleep(0.05)
            continue
        got.append(message)
        d.consumed(message.partition_id, message.offset, message.partition_key, message.value,
                   None, phase)
    return got


def produce_consume():
    t = topic()
    produce_with_reports(t)
    consumer = t.get_simple_consumer(auto_offset_reset=OffsetType.EARLIEST, reset_offset_on_start=True)
    read(consumer, args.records)
    consumer.stop()


def sync_producer():
    t = topic()
    produce_sync(t)
    consumer = t.get_simple_consumer(auto_offset_reset=OffsetType.EARLIEST, reset_offset_on_start=True)
    read(consumer, args.records)
    consumer.stop()


def offsets():
    t = topic()
    produce_sync(t)
    earliest = t.earliest_available_offsets()
    latest = t.latest_available_offsets()
    d.fact("earliest", {str(p): r.offset[0] for p, r in earliest.items()})
    d.fact("latest", {str(p): r.offset[0] for p, r in latest.items()})


def group_member(t, kind):
    options = {"consumer_group": args.group.encode(), "auto_offset_reset": OffsetType.EARLIEST,
               "auto_commit_enable": True, "auto_commit_interval_ms": 100}
    if kind == "simple":
        return t.get_simple_consumer(**options)
    return t.get_balanced_consumer(managed=True, **options)


def group_resume(kind):
    t = topic()
    produce_sync(t, range(args.half))
    first = group_member(t, kind)
    got = read(first, args.half, "a")
    first.commit_offsets()
    positions = {}
    for message in got:
        positions[message.partition_id] = message.offset + 1
    for partition, offset in positions.items():
        d.committed(partition, offset)
    first.stop()
    produce_sync(t, range(args.half, args.records))
    second = group_member(t, kind)
    read(second, args.records - args.half, "b")
    second.stop()


SCENARIOS = {
    "produce_consume": produce_consume, "gzip": produce_consume, "snappy": produce_consume,
    "lz4": produce_consume, "sync_producer": sync_producer, "delivery_reports": produce_consume,
    "offsets": offsets, "simple_consumer_group": lambda: group_resume("simple"),
    "balanced_consumer": lambda: group_resume("balanced"),
}
SCENARIOS[args.scenario]()
