"""Reads a whole topic with kafka-python at a pinned api_version and prints
what it read; bench/downconversion-cost.sh runs it against the broker.

api_version (0, 10, 1) makes kafka-python fetch with Fetch v3 (message
format 1: the broker down-converts); the default uses Fetch v4+ (the
stored batches, zero copy).
"""
import sys
import time

from kafka import KafkaConsumer, TopicPartition

bootstrap, topic, api_version = sys.argv[1], sys.argv[2], sys.argv[3]
pinned = None if api_version == "default" else tuple(int(p) for p in api_version.split("."))
consumer = KafkaConsumer(bootstrap_servers=bootstrap, api_version=pinned, enable_auto_commit=False,
                         fetch_max_bytes=52428800, max_partition_fetch_bytes=4194304,
                         consumer_timeout_ms=5000)
partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
consumer.assign(partitions)
consumer.seek_to_beginning(*partitions)
ends = consumer.end_offsets(partitions)
wanted = sum(ends.values())
records = values = 0
started = time.time()
for message in consumer:
    records += 1
    values += len(message.value)
    if records == wanted:
        break
elapsed = time.time() - started
print(f"records {records} of {wanted} value_bytes {values} seconds {elapsed:.2f}")
sys.exit(0 if records == wanted else 1)
