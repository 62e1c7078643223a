"""aiokafka, used as its documentation shows: AIOKafkaProducer.send_and_wait
for RecordMetadata, AIOKafkaConsumer with group_id and getmany, commit(offsets),
AIOKafkaAdminClient."""
import asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

import driver as d

args = d.Args()
common = {"bootstrap_servers": args.bootstrap, "request_timeout_ms": 8000}


async def produce(records=None):
    producer = AIOKafkaProducer(acks="all", linger_ms=5, compression_type=args.codec, **common)
    await producer.start()
    try:
        sends = []
        for i in records or range(args.records):
            key, value, headers = args.record(i)
            sends.append((key, value, await producer.send(args.topic, value=value, key=key,
                                                          headers=headers)))
        for key, value, future in sends:
            metadata = await asyncio.wait_for(future, 10)
            d.produced(metadata.partition, metadata.offset, key, value)
    finally:
        await producer.stop()


async def consumer(group):
    c = AIOKafkaConsumer(args.topic, group_id=group, auto_offset_reset="earliest",
                         enable_auto_commit=False, **common)
    await asyncio.wait_for(c.start(), 15)
    return c


async def drain(c, want, phase=None, seconds=15):
    got = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while len(got) < want and loop.time() < deadline:
        for records in (await c.getmany(timeout_ms=500)).values():
            for r in records:
                got.append(r)
                d.consumed(r.partition, r.offset, r.key, r.value, r.headers, phase)
    return got


async def produce_consume():
    await produce()
    c = await consumer(args.group + "-reader")
    try:
        await drain(c, args.records)
    finally:
        await c.stop()


async def group_resume():
    await produce(range(args.half))
    first = await consumer(args.group)
    try:
        got = await drain(first, args.half, "a")
        positions = {}
        for r in got:
            positions[r.partition] = r.offset + 1
        await first.commit({TopicPartition(args.topic, p): o for p, o in positions.items()})
        for p, o in positions.items():
            d.committed(p, o)
    finally:
        await first.stop()
    await produce(range(args.half, args.records))
    second = await consumer(args.group)
    try:
        await drain(second, args.records - args.half, "b")
        for p in positions:
            d.fetched_commit(p, await second.committed(TopicPartition(args.topic, p)))
    finally:
        await second.stop()


async def group_admin():
    await produce()
    c = await consumer(args.group)
    try:
        await drain(c, args.records)
        await c.commit()
    finally:
        await c.stop()
    admin = AIOKafkaAdminClient(**common)
    await admin.start()
    try:
        d.fact("listed", any(g[0] == args.group for g in await admin.list_consumer_groups()))
        (description,) = await admin.describe_consumer_groups([args.group])
        d.fact("state", description.groups[0][2])
        offsets = await admin.list_consumer_group_offsets(args.group)
        d.fact("committed", sum(meta.offset for meta in offsets.values()))
        # aiokafka has no DeleteGroups call.
    finally:
        await admin.close()


async def admin():
    a = AIOKafkaAdminClient(**common)
    await a.start()
    try:
        await a.create_topics([NewTopic(args.topic, num_partitions=2, replication_factor=1,
                                        topic_configs={"retention.ms": "3600000"})])
        d.fact("created", True)

        async def partitions():
            (topic,) = await a.describe_topics([args.topic])
            return len(topic["partitions"])

        d.fact("partitions", await partitions())
        await a.create_partitions({args.topic: NewPartitions(total_count=4)})
        d.fact("grown_partitions", await partitions())
        (response,) = await a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, args.topic)])
        entries = response.to_object()["resources"][0]["config_entries"]
        d.fact("retention_ms", next(e["config_value"] for e in entries
                                    if e["config_names"] == "retention.ms"))
        await a.delete_topics([args.topic])
        await asyncio.sleep(0.2)
        d.fact("deleted", args.topic not in await a.list_topics())
    finally:
        await a.close()


SCENARIOS = {"produce_consume": produce_consume, "gzip": produce_consume, "snappy": produce_consume,
             "lz4": produce_consume, "zstd": produce_consume, "group_resume": group_resume,
             "group_admin": group_admin, "admin": admin}
asyncio.run(SCENARIOS[args.scenario]())
