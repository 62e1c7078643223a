"""The client calls from shared/seeds (kafka-python, confluent-kafka) against
the real broker. Consumer groups come with the consumer-group issue; these
use assign(), which the seeds also show."""
import json
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka import TopicPartition as CKTopicPartition


def test_admin_create_list_delete(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic("wordcount", num_partitions=3, replication_factor=1)])
    assert "wordcount" in admin.list_topics()
    admin.delete_topics(["wordcount"])
    deadline = time.time() + 10
    while "wordcount" in admin.list_topics():
        assert time.time() < deadline
        time.sleep(0.1)
    admin.close()


def test_kafka_python_sync_and_async_send_then_read_back(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic("seed-kp", num_partitions=2, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(
        bootstrap_servers=broker,
        acks="all",  # kafka-python 2.1+ is idempotent by default: InitProducerId
        compression_type="gzip",
        value_serializer=lambda value: json.dumps(value).encode(),
    )
    # Synchronous send with a key and an explicit partition (seed 003).
    metadata = producer.send("seed-kp", key=b"user-1", value={"n": 0}, partition=1).get(timeout=10)
    assert (metadata.topic, metadata.partition, metadata.offset) == ("seed-kp", 1, 0)
    # Asynchronous sends with callbacks (seed 001).
    delivered = []
    for n in range(1, 50):
        future = producer.send("seed-kp", value={"n": n}, partition=n % 2,
                               headers=[("trace", str(n).encode())], timestamp_ms=1_700_000_000_000 + n)
        future.add_callback(lambda md: delivered.append((md.partition, md.offset)))
    producer.flush()
    assert len(delivered) == 49
    producer.close()

    consumer = KafkaConsumer(
        bootstrap_servers=broker,
        consumer_timeout_ms=3000,
        value_deserializer=lambda raw: json.loads(raw.decode()),
    )
    partitions = [TopicPartition("seed-kp", 0), TopicPartition("seed-kp", 1)]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    assert consumer.beginning_offsets(partitions) == {partitions[0]: 0, partitions[1]: 0}
    assert consumer.end_offsets(partitions) == {partitions[0]: 24, partitions[1]: 26}
    seen = {0: [], 1: []}
    for message in consumer:
        seen[message.partition].append((message.offset, message.value["n"]))
        if message.value["n"] > 0:
            assert message.headers == [("trace", str(message.value["n"]).encode())]
            assert message.timestamp == 1_700_000_000_000 + message.value["n"]
    assert [offset for offset, _ in seen[0]] == list(range(24))
    assert [offset for offset, _ in seen[1]] == list(range(26))
    assert seen[1][0] == (0, 0)
    assert consumer.highwater(partitions[1]) == 26
    # offsets_for_times (seed 004): the first record at or after a time.
    # Partition 0 holds n = 2, 4, ... 48 at offsets 0..23, stamped 1_700_000_000_000 + n.
    found = consumer.offsets_for_times({partitions[0]: 1_700_000_000_011})
    assert (found[partitions[0]].offset, found[partitions[0]].timestamp) == (5, 1_700_000_000_012)
    # assign + seek (seed 003).
    consumer.seek(partitions[0], 20)
    records = consumer.poll(timeout_ms=3000)
    offsets = [record.offset for batch in records.values() for record in batch]
    assert offsets and offsets[0] == 20
    consumer.close()


def test_confluent_kafka_produce_flush_and_consume_with_eof(broker):
    delivered = []

    def report(error, message):
        assert error is None, error
        delivered.append((message.partition(), message.offset()))

    producer = Producer({"bootstrap.servers": broker, "compression.type": "lz4"})
    for n in range(100):
        producer.produce("seed-ck", key=str(n % 4), value=f"message {n}", callback=report)
        producer.poll(0)
    producer.flush(10)
    assert len(delivered) == 100

    consumer = Consumer({
        "bootstrap.servers": broker,
        "group.id": "seed-assign-only",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })
    partitions = sorted({partition for partition, _ in delivered})
    consumer.assign([CKTopicPartition("seed-ck", partition, 0) for partition in partitions])
    values, eofs = [], set()
    deadline = time.time() + 20
    while len(eofs) < len(partitions) and time.time() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            assert message.error().code() == KafkaError._PARTITION_EOF
            eofs.add(message.partition())
            continue
        values.append(message.value().decode())
    consumer.close()
    assert sorted(values) == sorted(f"message {n}" for n in range(100))
    assert eofs == set(partitions)
