"""kafka-python's admin client against the real broker: CreatePartitions,
DescribeConfigs, IncrementalAlterConfigs, DeleteRecords, DescribeLogDirs and
the cluster description."""
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.admin._configs import AlterConfigOp
import kafka.errors as Errors
import pytest


def topic_configs(admin, topic, config_filter="all"):
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter=config_filter)
    return described["topic"][topic]


def test_create_partitions_then_produce_to_the_new_ones(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic("py-grow", num_partitions=1, replication_factor=1)])
    admin.create_partitions({"py-grow": 3})
    assert len(admin.describe_topics(["py-grow"])[0]["partitions"]) == 3
    with pytest.raises(Errors.InvalidPartitionsError):
        admin.create_partitions({"py-grow": 2})
    admin.close()

    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    for partition in range(3):
        metadata = producer.send("py-grow", value=b"p%d" % partition, partition=partition).get(timeout=10)
        assert (metadata.partition, metadata.offset) == (partition, 0)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=broker, consumer_timeout_ms=3000)
    consumer.assign([TopicPartition("py-grow", 2)])
    consumer.seek_to_beginning()
    assert [message.value for message in consumer] == [b"p2"]
    consumer.close()


def test_configs_set_show_and_delete(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic("py-conf", num_partitions=1, replication_factor=1)])
    configs = topic_configs(admin, "py-conf")
    assert configs["retention.ms"]["value"] == "604800000"
    assert configs["retention.ms"]["config_source"] == "DEFAULT_CONFIG"
    assert topic_configs(admin, "py-conf", "modified") == {}

    result = admin.alter_configs([ConfigResource(
        ConfigResourceType.TOPIC, "py-conf", {"retention.ms": "60000"})])
    assert result == {"topic": {"py-conf": "OK"}}
    modified = topic_configs(admin, "py-conf", "modified")
    assert list(modified) == ["retention.ms"]
    assert modified["retention.ms"]["value"] == "60000"
    assert modified["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"

    result = admin.alter_configs([ConfigResource(
        ConfigResourceType.TOPIC, "py-conf", {"retention.ms": "forever"})])
    assert "InvalidConfigurationError" in result["topic"]["py-conf"]
    assert "retention.ms" in result["topic"]["py-conf"]

    result = admin.alter_configs([ConfigResource(
        ConfigResourceType.TOPIC, "py-conf", {"retention.ms": (AlterConfigOp.DELETE, None)})])
    assert result == {"topic": {"py-conf": "OK"}}
    assert topic_configs(admin, "py-conf")["retention.ms"]["value"] == "604800000"

    brokers = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")],
                                     config_filter="all")
    assert brokers["broker"]["1"]["num.partitions"]["value"] == "2"
    assert brokers["broker"]["1"]["num.partitions"]["config_source"] == "STATIC_BROKER_CONFIG"
    admin.close()


def test_delete_records_and_log_dirs(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic("py-trim", num_partitions=1, replication_factor=1)])
    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    for n in range(10):
        producer.send("py-trim", value=b"%d" % n, partition=0)
    producer.flush()
    producer.close()

    partition = TopicPartition("py-trim", 0)
    deleted = admin.delete_records({partition: 4})
    assert deleted[partition]["low_watermark"] == 4
    consumer = KafkaConsumer(bootstrap_servers=broker, consumer_timeout_ms=3000)
    assert consumer.beginning_offsets([partition]) == {partition: 4}
    consumer.assign([partition])
    consumer.seek_to_beginning()
    assert [message.offset for message in consumer] == list(range(4, 10))
    consumer.close()

    dirs = admin.describe_log_dirs({"py-trim": [0]})
    assert len(dirs) == 1 and len(dirs[0]["log_dirs"]) == 1
    topics = dirs[0]["log_dirs"][0]["topics"]
    assert [topic["name"] for topic in topics] == ["py-trim"]
    assert topics[0]["partitions"][0]["partition_size"] > 0

    cluster = admin.describe_cluster()
    assert cluster["cluster_id"] == "ringlog-cluster"
    assert cluster["controller_id"] == 1
    admin.close()
