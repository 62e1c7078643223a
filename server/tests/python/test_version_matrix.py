"""The version matrix: every (API, version) the broker advertises, exercised
with a valid request and its answer decoded by an independent codec.

The broker encodes with kafka-protocol (Rust); here requests are built and
answers decoded with kafka-python's own codecs (its classes generated from
Kafka's JSON schemas, and its hand-written classes for the two old versions
whose fields Kafka 4.x's schemas dropped), every byte of an answer must be
consumed, and the content is checked: offsets, record bytes, group state.

The cases are generated from server/src/api/versions.rs (the one table),
checked against the broker's own ApiVersions answer: an API added to the
table without a scenario here fails, and so does each version of it.
"""
import io
import socket
import struct
import sys
import time

import pytest
from kafka.protocol.admin import (
    AlterConfigsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteGroupsRequest,
    DeleteRecordsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    DescribeGroupsRequest, DescribeLogDirsRequest, IncrementalAlterConfigsRequest,
    ListGroupsRequest,
)
from kafka.protocol.consumer import (
    FetchRequest, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, ListOffsetsRequest,
    OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest, OffsetForLeaderEpochRequest,
    SyncGroupRequest,
)
from kafka.protocol.metadata import ApiVersionsRequest, FindCoordinatorRequest, MetadataRequest
from kafka.protocol.old import admin as old_admin
from kafka.protocol.old import list_offsets as old_list_offsets
from kafka.protocol.producer import InitProducerIdRequest, ProduceRequest
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

CLIENT_ID = "matrix"
TOPIC = "matrix"


class Connection:
    """One TCP connection speaking framed requests."""

    def __init__(self, bootstrap):
        host, port = bootstrap.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=20)
        self.correlation_id = 0

    def close(self):
        self.sock.close()

    def _read_frame(self):
        size = struct.unpack(">i", self._read_exact(4))[0]
        return self._read_exact(size)

    def _read_exact(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            data += chunk
        return data

    def call(self, request_class, version, **fields):
        """Sends request_class[version](**fields); returns the decoded answer."""
        self.correlation_id += 1
        request = request_class[version](**fields)
        request.with_header(correlation_id=self.correlation_id, client_id=CLIENT_ID)
        self.sock.sendall(request.encode(header=True, framed=True))
        if not request.expect_response():
            return None
        return decode_whole(response_class(request_class), self._read_frame(), version,
                            self.correlation_id)

    def call_old(self, request, response_class):
        """Sends a request of kafka-python's hand-written classes."""
        self.correlation_id += 1
        client_id = CLIENT_ID.encode()
        header = struct.pack(">hhih", request.API_KEY, request.API_VERSION, self.correlation_id,
                             len(client_id)) + client_id
        payload = header + request.encode()
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        frame = self._read_frame()
        correlation_id = struct.unpack(">i", frame[:4])[0]
        assert correlation_id == self.correlation_id
        body = io.BytesIO(frame[4:])
        response = response_class.decode(body)
        assert body.read() == b"", "every byte consumed"
        return response


def response_class(request_class):
    module = sys.modules[request_class.__module__]
    return getattr(module, request_class.__name__.replace("Request", "Response"))


def decode_whole(cls, frame, version, correlation_id):
    """Decodes header and body at `version`; every byte must be consumed."""
    data = memoryview(frame)
    header_io = io.BytesIO(bytes(data))
    header = cls.parse_header(header_io, version=version)
    assert header.correlation_id == correlation_id
    flexible = cls.flexible_version_q(version)
    decode = cls._struct.compiled_decode_from(version, compact=flexible, tagged=flexible,
                                              data_class=cls[None])
    response, position = decode(data, header_io.tell())
    assert position == len(data), f"{cls.__name__} v{version}: {len(data) - position} bytes left"
    return response


def magic_for_produce(version):
    return 0 if version <= 1 else 1 if version == 2 else 2


def magic_for_fetch(version):
    return 0 if version <= 1 else 1 if version <= 3 else 2


def records(magic, values, key=b"k", compression_type=0):
    builder = MemoryRecordsBuilder(magic, compression_type=compression_type, batch_size=1 << 20)
    for value in values:
        builder.append(timestamp=1_700_000_000_000 if magic > 0 else None, key=key, value=value,
                       headers=[] if magic >= 2 else None)
    builder.close()
    return builder.buffer()


def record_values(data):
    out = []
    batches = MemoryRecords(bytes(data))
    while batches.has_next():
        batch = batches.next_batch()
        if batch is None:
            break
        for record in batch:
            out.append((record.offset, record.value))
    return out


@pytest.fixture(scope="module")
def matrix(broker):
    """The advertised table, and a topic with 2 partitions and ids."""
    conn = Connection(broker)
    versions = conn.call(ApiVersionsRequest, 0)
    assert versions.error_code == 0
    advertised = {entry.api_key: (entry.min_version, entry.max_version)
                  for entry in versions.api_keys}
    created = conn.call(CreateTopicsRequest, 7, topics=[
        CreateTopicsRequest.CreatableTopic(name=TOPIC, num_partitions=2, replication_factor=1,
                                           assignments=[], configs=[])],
        timeout_ms=5000, validate_only=False)
    assert created.topics[0].error_code == 0, created
    topic_id = created.topics[0].topic_id
    conn.close()
    return {"advertised": advertised, "bootstrap": broker, "topic_id": topic_id}


def high_watermark(conn, partition):
    answer = conn.call(ListOffsetsRequest, 5, replica_id=-1, isolation_level=0, topics=[
        ListOffsetsRequest.ListOffsetsTopic(name=TOPIC, partitions=[
            ListOffsetsRequest.ListOffsetsTopic.ListOffsetsPartition(
                partition_index=partition, current_leader_epoch=-1, timestamp=-1)])])
    return answer.topics[0].partitions[0].offset


# -- one scenario per API: (conn, version, matrix) -> None -----------------------------------

def api_versions(conn, version, matrix):
    fields = {}
    if version >= 3:
        fields = dict(client_software_name="matrix", client_software_version="1.0")
    answer = conn.call(ApiVersionsRequest, version, **fields)
    assert answer.error_code == 0
    keys = {entry.api_key: (entry.min_version, entry.max_version) for entry in answer.api_keys}
    assert keys == matrix["advertised"]


def metadata(conn, version, matrix):
    topic = MetadataRequest.MetadataRequestTopic(name=TOPIC)
    answer = conn.call(MetadataRequest, version, topics=[topic],
                       allow_auto_topic_creation=True)
    host, port = matrix["bootstrap"].split(":")
    assert [(b.host, b.port) for b in answer.brokers] == [(host, int(port))]
    [described] = answer.topics
    assert described.error_code == 0 and described.name == TOPIC
    assert sorted(p.partition_index for p in described.partitions) == [0, 1]
    assert all(p.leader_id == answer.brokers[0].node_id for p in described.partitions)
    if version >= 10:
        assert described.topic_id == matrix["topic_id"]


GZIP = 1


@pytest.mark.parametrize("compression_type", [0, GZIP])
def test_produce_and_fetch_at_every_old_version_round_trip(matrix, compression_type):
    """Message sets (plain and gzip wrappers) produced at v0-v2 are stored
    as v2 batches and read back at every Fetch version in each format."""
    conn = Connection(matrix["bootstrap"])
    try:
        for produce_version in range(0, 4):
            magic = magic_for_produce(produce_version)
            values = [f"{compression_type}-{produce_version}-{i}".encode() for i in range(4)]
            before = high_watermark(conn, 0)
            data = records(magic, values, compression_type=compression_type)
            answer = conn.call(ProduceRequest, produce_version, transactional_id=None, acks=1,
                               timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
                                   name=TOPIC, partition_data=[
                                       ProduceRequest.TopicProduceData.PartitionProduceData(
                                           index=0, records=data)])])
            [partition] = answer.responses[0].partition_responses
            assert (partition.error_code, partition.base_offset) == (0, before), partition
            for fetch_version in range(0, 13):
                fetched = fetch_partition(conn, fetch_version, matrix, before)
                assert fetched[:4] == [(before + i, v) for i, v in enumerate(values)], (
                    f"produced v{produce_version}, fetched v{fetch_version}")
    finally:
        conn.close()


def produce(conn, version, matrix):
    values = [f"produce-v{version}-{i}".encode() for i in range(3)]
    data = records(magic_for_produce(version), values)
    before = high_watermark(conn, 0)
    topic = dict(partition_data=[
        ProduceRequest.TopicProduceData.PartitionProduceData(index=0, records=data)])
    if version >= 13:
        topic["topic_id"] = matrix["topic_id"]
    else:
        topic["name"] = TOPIC
    answer = conn.call(ProduceRequest, version, transactional_id=None, acks=1, timeout_ms=5000,
                       topic_data=[ProduceRequest.TopicProduceData(**topic)])
    [partition] = answer.responses[0].partition_responses
    assert partition.error_code == 0, partition
    assert partition.base_offset == before
    assert high_watermark(conn, 0) == before + 3
    fetched = fetch_partition(conn, 10, matrix, before)
    assert [value for _, value in fetched[:3]] == values


def fetch_partition(conn, version, matrix, offset, partition=0):
    fetch_partition_ = FetchRequest.FetchTopic.FetchPartition(
        partition=partition, current_leader_epoch=-1, fetch_offset=offset, last_fetched_epoch=-1,
        log_start_offset=-1, partition_max_bytes=1 << 20)
    topic = dict(partitions=[fetch_partition_])
    if version >= 13:
        topic["topic_id"] = matrix["topic_id"]
    else:
        topic["topic"] = TOPIC
    answer = conn.call(FetchRequest, version, replica_id=-1, max_wait_ms=100, min_bytes=1,
                       max_bytes=1 << 20, isolation_level=0, session_id=0, session_epoch=-1,
                       topics=[FetchRequest.FetchTopic(**topic)], forgotten_topics_data=[],
                       rack_id="")
    [topic_answer] = answer.responses
    if version >= 13:
        assert topic_answer.topic_id == matrix["topic_id"]
    else:
        assert topic_answer.topic == TOPIC
    [partition_answer] = topic_answer.partitions
    assert partition_answer.error_code == 0, partition_answer
    data = partition_answer.records or b""
    if data:
        magic = data[16]
        assert magic == magic_for_fetch(version), f"Fetch v{version} got magic {magic}"
    return [(offset_, value) for offset_, value in record_values(data) if offset_ >= offset]


def fetch(conn, version, matrix):
    values = [f"fetch-v{version}-{i}".encode() for i in range(2)]
    before = high_watermark(conn, 1)
    answer = conn.call(ProduceRequest, 9, transactional_id=None, acks=1, timeout_ms=5000,
                       topic_data=[ProduceRequest.TopicProduceData(name=TOPIC, partition_data=[
                           ProduceRequest.TopicProduceData.PartitionProduceData(
                               index=1, records=records(2, values))])])
    assert answer.responses[0].partition_responses[0].error_code == 0
    fetched = fetch_partition(conn, version, matrix, before, partition=1)
    assert fetched[:2] == [(before, values[0]), (before + 1, values[1])]


def list_offsets(conn, version, matrix):
    end = high_watermark(conn, 0)
    if version == 0:
        request = old_list_offsets.ListOffsetsRequest_v0(
            replica_id=-1, topics=[(TOPIC, [(0, -1, 1), (1, -2, 5)])])
        answer = conn.call_old(request, old_list_offsets.ListOffsetsResponse_v0)
        [(name, partitions)] = answer.topics
        assert name == TOPIC
        assert [tuple(p) for p in partitions] == [(0, 0, [end]), (1, 0, [0])]
        return
    partition = ListOffsetsRequest.ListOffsetsTopic.ListOffsetsPartition
    answer = conn.call(ListOffsetsRequest, version, replica_id=-1, isolation_level=0,
                       timeout_ms=5000, topics=[ListOffsetsRequest.ListOffsetsTopic(
                           name=TOPIC, partitions=[
                               partition(partition_index=0, current_leader_epoch=-1, timestamp=-1),
                               partition(partition_index=1, current_leader_epoch=-1,
                                         timestamp=-2)])])
    latest, earliest = answer.topics[0].partitions
    assert (latest.error_code, latest.offset) == (0, end)
    assert (earliest.error_code, earliest.offset) == (0, 0)


def group_join(conn, group, version=9):
    """A one-member group through JoinGroup (with the member id retry) and SyncGroup."""
    protocol = JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"\0\1\0\0\0\0")
    fields = dict(group_id=group, session_timeout_ms=10000, rebalance_timeout_ms=10000,
                  member_id="", group_instance_id=None, protocol_type="consumer",
                  protocols=[protocol], reason=None)
    joined = conn.call(JoinGroupRequest, version, **fields)
    if joined.error_code == 79:  # MEMBER_ID_REQUIRED
        fields["member_id"] = joined.member_id
        joined = conn.call(JoinGroupRequest, version, **fields)
    assert joined.error_code == 0, joined
    assert joined.leader == joined.member_id
    return joined


def group_sync(conn, group, joined, version=5):
    assignment = SyncGroupRequest.SyncGroupRequestAssignment(member_id=joined.member_id,
                                                             assignment=b"assigned")
    synced = conn.call(SyncGroupRequest, version, group_id=group,
                       generation_id=joined.generation_id, member_id=joined.member_id,
                       group_instance_id=None, protocol_type="consumer", protocol_name="range",
                       assignments=[assignment])
    assert synced.error_code == 0, synced
    assert synced.assignment == b"assigned"


def join_group(conn, version, matrix):
    group = f"matrix-join-v{version}"
    joined = group_join(conn, group, version)
    assert joined.generation_id == 1
    if version >= 7:
        assert joined.protocol_name == "range"
    assert [m.member_id for m in joined.members] == [joined.member_id]
    group_sync(conn, group, joined)


def sync_group(conn, version, matrix):
    group = f"matrix-sync-v{version}"
    group_sync(conn, group, group_join(conn, group), version)


def heartbeat(conn, version, matrix):
    group = f"matrix-heartbeat-v{version}"
    joined = group_join(conn, group)
    group_sync(conn, group, joined)
    beat = conn.call(HeartbeatRequest, version, group_id=group,
                     generation_id=joined.generation_id, member_id=joined.member_id,
                     group_instance_id=None)
    assert beat.error_code == 0
    stale = conn.call(HeartbeatRequest, version, group_id=group, generation_id=99,
                      member_id=joined.member_id, group_instance_id=None)
    assert stale.error_code == 22  # ILLEGAL_GENERATION


def leave_group(conn, version, matrix):
    group = f"matrix-leave-v{version}"
    joined = group_join(conn, group)
    group_sync(conn, group, joined)
    if version >= 3:
        member = LeaveGroupRequest.MemberIdentity(member_id=joined.member_id,
                                                  group_instance_id=None, reason=None)
        left = conn.call(LeaveGroupRequest, version, group_id=group, members=[member])
        assert [m.error_code for m in left.members] == [0]
    else:
        left = conn.call(LeaveGroupRequest, version, group_id=group, member_id=joined.member_id)
    assert left.error_code == 0
    described = conn.call(DescribeGroupsRequest, 5, groups=[group],
                          include_authorized_operations=False)
    assert described.groups[0].group_state == "Empty"


def describe_groups(conn, version, matrix):
    group = f"matrix-describe-v{version}"
    joined = group_join(conn, group)
    group_sync(conn, group, joined)
    answer = conn.call(DescribeGroupsRequest, version, groups=[group],
                       include_authorized_operations=False)
    [described] = answer.groups
    assert described.error_code == 0 and described.group_state == "Stable"
    assert described.protocol_type == "consumer" and described.protocol_data == "range"
    [member] = described.members
    assert member.member_id == joined.member_id and member.client_id == CLIENT_ID
    assert member.member_assignment == b"assigned"


def list_groups(conn, version, matrix):
    group = f"matrix-list-v{version}"
    group_sync(conn, group, group_join(conn, group))
    answer = conn.call(ListGroupsRequest, version, states_filter=[], types_filter=[])
    assert answer.error_code == 0
    listed = {g.group_id: g for g in answer.groups}
    assert group in listed and listed[group].protocol_type == "consumer"
    if version >= 4:
        assert listed[group].group_state == "Stable"


def find_coordinator(conn, version, matrix):
    host, port = matrix["bootstrap"].split(":")
    if version >= 4:
        answer = conn.call(FindCoordinatorRequest, version, key_type=0,
                           coordinator_keys=["matrix-g1", "matrix-g2"])
        assert [(c.key, c.error_code, c.host, c.port) for c in answer.coordinators] == [
            ("matrix-g1", 0, host, int(port)), ("matrix-g2", 0, host, int(port))]
    else:
        answer = conn.call(FindCoordinatorRequest, version, key="matrix-g1", key_type=0)
        assert (answer.error_code, answer.host, answer.port) == (0, host, int(port))


def offset_commit(conn, version, matrix):
    group = f"matrix-commit-v{version}"
    partition = OffsetCommitRequest.OffsetCommitRequestTopic.OffsetCommitRequestPartition(
        partition_index=1, committed_offset=7, committed_leader_epoch=-1,
        # v1 carries a commit time (pykafka sends the current one).
        commit_timestamp=int(time.time() * 1000) if version == 1 else -1,
        committed_metadata="m7")
    answer = conn.call(OffsetCommitRequest, version, group_id=group,
                       generation_id_or_member_epoch=-1, member_id="", group_instance_id=None,
                       retention_time_ms=-1, topics=[OffsetCommitRequest.OffsetCommitRequestTopic(
                           name=TOPIC, partitions=[partition])])
    assert answer.topics[0].partitions[0].error_code == 0
    assert committed(conn, group, 1) == (7, "m7")


def committed(conn, group, partition, version=7):
    answer = conn.call(OffsetFetchRequest, version, group_id=group, require_stable=False,
                       topics=[OffsetFetchRequest.OffsetFetchRequestTopic(
                           name=TOPIC, partition_indexes=[partition])])
    [fetched] = answer.topics[0].partitions
    assert fetched.error_code == 0
    return fetched.committed_offset, fetched.metadata


def offset_fetch(conn, version, matrix):
    group = f"matrix-fetch-v{version}"
    partition = OffsetCommitRequest.OffsetCommitRequestTopic.OffsetCommitRequestPartition(
        partition_index=0, committed_offset=5, committed_leader_epoch=-1, committed_metadata="m5")
    conn.call(OffsetCommitRequest, 8, group_id=group, generation_id_or_member_epoch=-1,
              member_id="", group_instance_id=None, topics=[
                  OffsetCommitRequest.OffsetCommitRequestTopic(name=TOPIC,
                                                               partitions=[partition])])
    if version >= 8:
        answer = conn.call(OffsetFetchRequest, version, require_stable=False, groups=[
            OffsetFetchRequest.OffsetFetchRequestGroup(
                group_id=group, member_id=None, member_epoch=-1, topics=[
                    OffsetFetchRequest.OffsetFetchRequestGroup.OffsetFetchRequestTopics(
                        name=TOPIC, partition_indexes=[0, 1])])])
        partitions = answer.groups[0].topics[0].partitions
    else:
        answer = conn.call(OffsetFetchRequest, version, group_id=group, require_stable=False,
                           topics=[OffsetFetchRequest.OffsetFetchRequestTopic(
                               name=TOPIC, partition_indexes=[0, 1])])
        partitions = answer.topics[0].partitions
    assert [(p.partition_index, p.committed_offset, p.error_code) for p in partitions] == [
        (0, 5, 0), (1, -1, 0)]
    assert partitions[0].metadata == "m5"


def offset_delete(conn, version, matrix):
    group = f"matrix-delete-offsets-v{version}"
    partition = OffsetCommitRequest.OffsetCommitRequestTopic.OffsetCommitRequestPartition(
        partition_index=0, committed_offset=3, committed_leader_epoch=-1, committed_metadata="")
    conn.call(OffsetCommitRequest, 8, group_id=group, generation_id_or_member_epoch=-1,
              member_id="", group_instance_id=None, topics=[
                  OffsetCommitRequest.OffsetCommitRequestTopic(name=TOPIC,
                                                               partitions=[partition])])
    answer = conn.call(OffsetDeleteRequest, version, group_id=group, topics=[
        OffsetDeleteRequest.OffsetDeleteRequestTopic(name=TOPIC, partitions=[
            OffsetDeleteRequest.OffsetDeleteRequestTopic.OffsetDeleteRequestPartition(
                partition_index=0)])])
    assert answer.error_code == 0
    assert answer.topics[0].partitions[0].error_code == 0
    assert committed(conn, group, 0) == (-1, "")


def create_topics(conn, version, matrix):
    name = f"matrix-created-v{version}"
    topic = CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=3, replication_factor=1, assignments=[],
        configs=[CreateTopicsRequest.CreatableTopic.CreatableTopicConfig(
            name="retention.ms", value="3600000")])
    answer = conn.call(CreateTopicsRequest, version, topics=[topic], timeout_ms=5000,
                       validate_only=False)
    [created] = answer.topics
    assert (created.name, created.error_code) == (name, 0), created
    if version >= 5:
        assert created.num_partitions == 3
    again = conn.call(CreateTopicsRequest, version, topics=[topic], timeout_ms=5000,
                      validate_only=False)
    assert again.topics[0].error_code == 36  # TOPIC_ALREADY_EXISTS


def delete_topics(conn, version, matrix):
    name = f"matrix-deleted-v{version}"
    conn.call(CreateTopicsRequest, 5, topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=1, replication_factor=1, assignments=[], configs=[])],
        timeout_ms=5000, validate_only=False)
    if version >= 6:
        answer = conn.call(DeleteTopicsRequest, version, timeout_ms=5000, topics=[
            DeleteTopicsRequest.DeleteTopicState(name=name, topic_id=None)])
    else:
        answer = conn.call(DeleteTopicsRequest, version, timeout_ms=5000, topic_names=[name])
    [deleted] = answer.responses
    assert (deleted.name, deleted.error_code) == (name, 0)
    gone = conn.call(MetadataRequest, 4, topics=[MetadataRequest.MetadataRequestTopic(name=name)],
                     allow_auto_topic_creation=False)
    assert gone.topics[0].error_code == 3  # UNKNOWN_TOPIC_OR_PARTITION


def create_partitions(conn, version, matrix):
    name = f"matrix-grown-v{version}"
    conn.call(CreateTopicsRequest, 5, topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=1, replication_factor=1, assignments=[], configs=[])],
        timeout_ms=5000, validate_only=False)
    answer = conn.call(CreatePartitionsRequest, version, timeout_ms=5000, validate_only=False,
                       topics=[CreatePartitionsRequest.CreatePartitionsTopic(
                           name=name, count=4, assignments=None)])
    assert answer.results[0].error_code == 0
    grown = conn.call(MetadataRequest, 1, topics=[MetadataRequest.MetadataRequestTopic(name=name)])
    assert len(grown.topics[0].partitions) == 4


def describe_configs(conn, version, matrix):
    if version == 0:
        request = old_admin.DescribeConfigsRequest_v0(resources=[(2, TOPIC, ["retention.ms"])])
        answer = conn.call_old(request, old_admin.DescribeConfigsResponse_v0)
        [(error_code, _, resource_type, name, configs)] = answer.resources
        assert (error_code, resource_type, name) == (0, 2, TOPIC)
        [(config_name, value, read_only, is_default, sensitive)] = configs
        assert config_name == "retention.ms" and value.isdigit()
        assert not read_only and not sensitive
        return
    resource = DescribeConfigsRequest.DescribeConfigsResource(
        resource_type=2, resource_name=TOPIC, configuration_keys=["retention.ms", "cleanup.policy"])
    answer = conn.call(DescribeConfigsRequest, version, resources=[resource],
                       include_synonyms=False, include_documentation=False)
    [result] = answer.results
    assert (result.error_code, result.resource_name) == (0, TOPIC)
    configs = {c.name: c.value for c in result.configs}
    assert configs["cleanup.policy"] == "delete" and configs["retention.ms"].isdigit()


def topic_config(conn, name, key):
    answer = conn.call(DescribeConfigsRequest, 4, resources=[
        DescribeConfigsRequest.DescribeConfigsResource(resource_type=2, resource_name=name,
                                                       configuration_keys=[key])],
        include_synonyms=False, include_documentation=False)
    return answer.results[0].configs[0].value


def alter_configs(conn, version, matrix):
    value = str(3_600_000 + version)
    answer = conn.call(AlterConfigsRequest, version, validate_only=False, resources=[
        AlterConfigsRequest.AlterConfigsResource(resource_type=2, resource_name=TOPIC, configs=[
            AlterConfigsRequest.AlterConfigsResource.AlterableConfig(name="retention.ms",
                                                                     value=value)])])
    assert answer.responses[0].error_code == 0
    assert topic_config(conn, TOPIC, "retention.ms") == value


def incremental_alter_configs(conn, version, matrix):
    value = str(7_200_000 + version)
    config = IncrementalAlterConfigsRequest.AlterConfigsResource.AlterableConfig(
        name="retention.ms", config_operation=0, value=value)
    answer = conn.call(IncrementalAlterConfigsRequest, version, validate_only=False, resources=[
        IncrementalAlterConfigsRequest.AlterConfigsResource(resource_type=2, resource_name=TOPIC,
                                                            configs=[config])])
    assert answer.responses[0].error_code == 0
    assert topic_config(conn, TOPIC, "retention.ms") == value


def delete_records(conn, version, matrix):
    name = f"matrix-trimmed-v{version}"
    conn.call(CreateTopicsRequest, 5, topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=1, replication_factor=1, assignments=[], configs=[])],
        timeout_ms=5000, validate_only=False)
    conn.call(ProduceRequest, 9, transactional_id=None, acks=1, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=name, partition_data=[
            ProduceRequest.TopicProduceData.PartitionProduceData(
                index=0, records=records(2, [b"a", b"b", b"c"]))])])
    answer = conn.call(DeleteRecordsRequest, version, timeout_ms=5000, topics=[
        DeleteRecordsRequest.DeleteRecordsTopic(name=name, partitions=[
            DeleteRecordsRequest.DeleteRecordsTopic.DeleteRecordsPartition(partition_index=0,
                                                                           offset=2)])])
    [partition] = answer.topics[0].partitions
    assert (partition.error_code, partition.low_watermark) == (0, 2)


def describe_cluster(conn, version, matrix):
    answer = conn.call(DescribeClusterRequest, version, include_cluster_authorized_operations=False,
                       endpoint_type=1, include_fenced_brokers=False)
    assert answer.error_code == 0 and answer.cluster_id
    host, port = matrix["bootstrap"].split(":")
    assert [(b.host, b.port) for b in answer.brokers] == [(host, int(port))]


def describe_log_dirs(conn, version, matrix):
    answer = conn.call(DescribeLogDirsRequest, version, topics=[
        DescribeLogDirsRequest.DescribableLogDirTopic(topic=TOPIC, partitions=[0, 1])])
    [log_dir] = answer.results
    assert log_dir.error_code == 0
    [topic] = log_dir.topics
    assert topic.name == TOPIC
    sizes = {p.partition_index: p.partition_size for p in topic.partitions}
    assert sorted(sizes) == [0, 1] and sizes[0] > 0


def offset_for_leader_epoch(conn, version, matrix):
    end = high_watermark(conn, 0)
    partition = OffsetForLeaderEpochRequest.OffsetForLeaderTopic.OffsetForLeaderPartition(
        partition=0, current_leader_epoch=-1, leader_epoch=0)
    answer = conn.call(OffsetForLeaderEpochRequest, version, replica_id=-1, topics=[
        OffsetForLeaderEpochRequest.OffsetForLeaderTopic(topic=TOPIC, partitions=[partition])])
    [result] = answer.topics[0].partitions
    assert (result.error_code, result.end_offset) == (0, end)


def init_producer_id(conn, version, matrix):
    answer = conn.call(InitProducerIdRequest, version, transactional_id=None,
                       transaction_timeout_ms=60000, producer_id=-1, producer_epoch=-1)
    assert answer.error_code == 0 and answer.producer_id >= 0 and answer.producer_epoch == 0


def delete_groups(conn, version, matrix):
    group = f"matrix-deleted-group-v{version}"
    joined = group_join(conn, group)
    group_sync(conn, group, joined)
    conn.call(LeaveGroupRequest, 5, group_id=group, members=[LeaveGroupRequest.MemberIdentity(
        member_id=joined.member_id, group_instance_id=None, reason=None)])
    answer = conn.call(DeleteGroupsRequest, version, groups_names=[group])
    assert [(r.group_id, r.error_code) for r in answer.results] == [(group, 0)]
    again = conn.call(DeleteGroupsRequest, version, groups_names=[group])
    assert again.results[0].error_code == 69  # GROUP_ID_NOT_FOUND


SCENARIOS = {
    0: produce, 1: fetch, 2: list_offsets, 3: metadata, 8: offset_commit, 9: offset_fetch,
    10: find_coordinator, 11: join_group, 12: heartbeat, 13: leave_group, 14: sync_group,
    15: describe_groups, 16: list_groups, 18: api_versions, 19: create_topics, 20: delete_topics,
    21: delete_records, 22: init_producer_id, 23: offset_for_leader_epoch, 32: describe_configs,
    33: alter_configs, 35: describe_log_dirs, 37: create_partitions, 42: delete_groups,
    44: incremental_alter_configs, 47: offset_delete, 60: describe_cluster,
}


def test_every_advertised_version_has_a_scenario(matrix):
    missing = sorted(set(matrix["advertised"]) - set(SCENARIOS))
    assert not missing, f"advertised API keys without a scenario: {missing}"


def versions_table():
    """(API name, min, max) rows of server/src/api/versions.rs, the one table."""
    import pathlib
    import re
    source = pathlib.Path(__file__).parents[2] / "src/api/versions.rs"
    rows = re.findall(r"\(ApiKey::(\w+), (\d+), (\d+)\)", source.read_text())
    assert rows, "no rows found in versions.rs"
    return [(name, int(low), int(high)) for name, low, high in rows]


API_KEYS = {
    "Produce": 0, "Fetch": 1, "ListOffsets": 2, "Metadata": 3, "OffsetCommit": 8,
    "OffsetFetch": 9, "FindCoordinator": 10, "JoinGroup": 11, "Heartbeat": 12, "LeaveGroup": 13,
    "SyncGroup": 14, "DescribeGroups": 15, "ListGroups": 16, "ApiVersions": 18,
    "CreateTopics": 19, "DeleteTopics": 20, "DeleteRecords": 21, "InitProducerId": 22,
    "OffsetForLeaderEpoch": 23, "DescribeConfigs": 32, "AlterConfigs": 33,
    "DescribeLogDirs": 35, "CreatePartitions": 37, "DeleteGroups": 42,
    "IncrementalAlterConfigs": 44, "OffsetDelete": 47, "DescribeCluster": 60,
}


def test_the_table_is_what_the_broker_advertises(matrix):
    table = {API_KEYS[name]: (low, high) for name, low, high in versions_table()}
    assert table == matrix["advertised"]


# Known gaps, each failing until its work lands (strict: a pass fails too).
PENDING = {}


def advertised_cases():
    cases = []
    for name, low, high in versions_table():
        for version in range(low, high + 1):
            marks = []
            if (name, version) in PENDING:
                marks = [pytest.mark.xfail(strict=True, reason=PENDING[(name, version)])]
            cases.append(pytest.param(API_KEYS.get(name, -1), version, id=f"{name}-v{version}",
                                      marks=marks))
    return cases


@pytest.mark.parametrize("api_key,version", advertised_cases())
def test_version(matrix, api_key, version):
    assert api_key in SCENARIOS, f"API {api_key} is in versions.rs without a scenario"
    conn = Connection(matrix["bootstrap"])
    try:
        SCENARIOS[api_key](conn, version, matrix)
    finally:
        conn.close()


def test_list_offsets_by_timestamp_finds_the_record_inside_a_compressed_batch(matrix):
    """ListOffsets by time inflates a stored gzip batch (bounded) to give
    the first record at or after the time, not the batch's first."""
    conn = Connection(matrix["bootstrap"])
    try:
        builder = MemoryRecordsBuilder(2, compression_type=GZIP, batch_size=1 << 20)
        base_time = 1_750_000_000_000
        for i in range(10):
            builder.append(timestamp=base_time + 10 * i, key=None, value=b"t%d" % i, headers=[])
        builder.close()
        before = high_watermark(conn, 1)
        answer = conn.call(ProduceRequest, 9, transactional_id=None, acks=1, timeout_ms=5000,
                           topic_data=[ProduceRequest.TopicProduceData(name=TOPIC, partition_data=[
                               ProduceRequest.TopicProduceData.PartitionProduceData(
                                   index=1, records=builder.buffer())])])
        assert answer.responses[0].partition_responses[0].error_code == 0
        partition = ListOffsetsRequest.ListOffsetsTopic.ListOffsetsPartition
        found = conn.call(ListOffsetsRequest, 7, replica_id=-1, isolation_level=0, topics=[
            ListOffsetsRequest.ListOffsetsTopic(name=TOPIC, partitions=[
                partition(partition_index=1, current_leader_epoch=-1,
                          timestamp=base_time + 35)])])
        [result] = found.topics[0].partitions
        assert (result.error_code, result.offset, result.timestamp) == (
            0, before + 4, base_time + 40)
    finally:
        conn.close()


@pytest.mark.parametrize("compression_type", [0, GZIP])
def test_a_batch_without_its_max_timestamp_is_stored_with_the_true_one(matrix, compression_type):
    """Sarama writes maxTimestamp -1: the broker rewrites the header (and its
    CRC) as Kafka's LogValidator does, so the stored batch carries the
    records' largest timestamp, which the time index and retention use."""
    import struct as struct_
    from kafka.record.util import calc_crc32c
    conn = Connection(matrix["bootstrap"])
    try:
        base_time = 1_760_000_000_000 + compression_type
        builder = MemoryRecordsBuilder(2, compression_type=compression_type, batch_size=1 << 20)
        for i in range(5):
            builder.append(timestamp=base_time + i, key=None, value=b"m%d" % i, headers=[])
        builder.close()
        batch = bytearray(builder.buffer())
        batch[35:43] = struct_.pack(">q", -1)
        batch[17:21] = struct_.pack(">I", calc_crc32c(bytes(batch[21:])))
        before = high_watermark(conn, 0)
        answer = conn.call(ProduceRequest, 9, transactional_id=None, acks=1, timeout_ms=5000,
                           topic_data=[ProduceRequest.TopicProduceData(name=TOPIC, partition_data=[
                               ProduceRequest.TopicProduceData.PartitionProduceData(
                                   index=0, records=bytes(batch))])])
        assert answer.responses[0].partition_responses[0].error_code == 0
        fetched = conn.call(FetchRequest, 10, replica_id=-1, max_wait_ms=100, min_bytes=1,
                            max_bytes=1 << 20, isolation_level=0, session_id=0, session_epoch=-1,
                            topics=[FetchRequest.FetchTopic(topic=TOPIC, partitions=[
                                FetchRequest.FetchTopic.FetchPartition(
                                    partition=0, current_leader_epoch=-1, fetch_offset=before,
                                    last_fetched_epoch=-1, log_start_offset=-1,
                                    partition_max_bytes=1 << 20)])], forgotten_topics_data=[],
                            rack_id="")
        stored = fetched.responses[0].partitions[0].records
        assert struct_.unpack(">q", stored[35:43])[0] == base_time + 4
        end = struct_.unpack(">i", stored[8:12])[0] + 12
        assert struct_.unpack(">I", stored[17:21])[0] == calc_crc32c(bytes(stored[21:end]))
    finally:
        conn.close()


def test_message_downconversion_enable_false_refuses_old_fetchers(matrix):
    """A topic with message.downconversion.enable=false answers Fetch v0-v3
    with UNSUPPORTED_VERSION (35) per partition, as Kafka 3.x does; v4+ read it."""
    conn = Connection(matrix["bootstrap"])
    name = "matrix-no-downconversion"
    try:
        created = conn.call(CreateTopicsRequest, 5, topics=[CreateTopicsRequest.CreatableTopic(
            name=name, num_partitions=1, replication_factor=1, assignments=[],
            configs=[CreateTopicsRequest.CreatableTopic.CreatableTopicConfig(
                name="message.downconversion.enable", value="false")])],
            timeout_ms=5000, validate_only=False)
        assert created.topics[0].error_code == 0
        conn.call(ProduceRequest, 9, transactional_id=None, acks=1, timeout_ms=5000, topic_data=[
            ProduceRequest.TopicProduceData(name=name, partition_data=[
                ProduceRequest.TopicProduceData.PartitionProduceData(
                    index=0, records=records(2, [b"new-format-only"]))])])
        for version, expected in [(0, 35), (3, 35), (4, 0), (12, 0)]:
            answer = conn.call(FetchRequest, version, replica_id=-1, max_wait_ms=100, min_bytes=1,
                               max_bytes=1 << 20, isolation_level=0, session_id=0,
                               session_epoch=-1, topics=[FetchRequest.FetchTopic(
                                   topic=name, partitions=[FetchRequest.FetchTopic.FetchPartition(
                                       partition=0, current_leader_epoch=-1, fetch_offset=0,
                                       last_fetched_epoch=-1, log_start_offset=-1,
                                       partition_max_bytes=1 << 20)])],
                               forgotten_topics_data=[], rack_id="")
            [partition] = answer.responses[0].partitions
            assert partition.error_code == expected, f"Fetch v{version}"
            if expected == 0:
                assert record_values(partition.records) == [(0, b"new-format-only")]
    finally:
        conn.close()


def test_a_gzip_batch_that_lies_about_its_record_count_is_refused(matrix):
    """Issue 12: a gzip batch claiming 2^31-2 records was stored unchecked;
    it is walked before it is stored and answered INVALID_RECORD (87), and
    nothing is appended."""
    import struct as struct_
    from kafka.record.util import calc_crc32c
    conn = Connection(matrix["bootstrap"])
    try:
        builder = MemoryRecordsBuilder(2, compression_type=GZIP, batch_size=1 << 20)
        for i in range(3):
            builder.append(timestamp=1_700_000_000_000 + i, key=None, value=b"c%d" % i,
                           headers=[])
        builder.close()
        batch = bytearray(builder.buffer())
        batch[57:61] = struct_.pack(">i", 2**31 - 2)
        batch[17:21] = struct_.pack(">I", calc_crc32c(bytes(batch[21:])))
        before = high_watermark(conn, 1)
        answer = conn.call(ProduceRequest, 9, transactional_id=None, acks=1, timeout_ms=5000,
                           topic_data=[ProduceRequest.TopicProduceData(name=TOPIC, partition_data=[
                               ProduceRequest.TopicProduceData.PartitionProduceData(
                                   index=1, records=bytes(batch))])])
        assert answer.responses[0].partition_responses[0].error_code == 87
        assert high_watermark(conn, 1) == before
    finally:
        conn.close()
