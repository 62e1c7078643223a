//! A valid request of every API Ringlog serves, at any version it
//! advertises: the seeds of the request-path fuzz target, the hostile
//! mutations of the decoding-bound test and the requests of the version
//! tests. Each carries content (topics, partitions, members) so that
//! nested counts and strings appear on the wire, and sets only the fields
//! its version has.
//!
//! `frame` gives the bytes a client sends after the size prefix: header
//! and body, at the client's version (through `legacy.rs` for versions the
//! codec lacks).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::{legacy, versions, Preamble};

/// The topic every sample names.
pub const TOPIC: &str = "samples";

fn topic_name() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

fn text(value: &'static str) -> StrBytes {
    StrBytes::from_static_str(value)
}

/// A sample request of `api_key` at `version`, `None` for an API Ringlog
/// does not serve. The body is built at the codec's version
/// (`Preamble::codec_version`): `frame` converts it down where needed.
pub fn request(api_key: ApiKey, version: i16) -> Option<RequestKind> {
    let v = legacy::codec_version(api_key, version);
    use ApiKey as K;
    Some(match api_key {
        K::Produce => RequestKind::Produce(produce(v)),
        K::Fetch => RequestKind::Fetch(fetch(v)),
        K::ListOffsets => RequestKind::ListOffsets(
            ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic_name())
                    .with_partitions(vec![
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(-2),
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(1)
                            .with_timestamp(-1),
                    ])]),
        ),
        K::Metadata => RequestKind::Metadata(
            MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(topic_name()))]))
                .with_allow_auto_topic_creation(true),
        ),
        K::OffsetCommit => RequestKind::OffsetCommit(offset_commit()),
        K::OffsetFetch => RequestKind::OffsetFetch(offset_fetch(v)),
        K::FindCoordinator => RequestKind::FindCoordinator(if v >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![text("sample-group")])
        } else {
            FindCoordinatorRequest::default().with_key(text("sample-group"))
        }),
        K::JoinGroup => RequestKind::JoinGroup(
            // A group of its own per version: members of other versions'
            // samples never rejoin, and a rebalance would wait for them.
            JoinGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(format!(
                    "sample-join-v{version}"
                ))))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(if v >= 1 { 10_000 } else { -1 })
                .with_protocol_type(text("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(text("range"))
                .with_metadata(Bytes::from_static(
                    b"\0\x01\0\0\0\x01\0\x07samples\xff\xff\xff\xff",
                ))]),
        ),
        K::Heartbeat => RequestKind::Heartbeat(
            HeartbeatRequest::default()
                .with_group_id(GroupId(text("sample-group")))
                .with_generation_id(1)
                .with_member_id(text("sample-member")),
        ),
        K::LeaveGroup => RequestKind::LeaveGroup(if v >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(text("sample-group")))
                .with_members(vec![leave_group_request::MemberIdentity::default()
                    .with_member_id(text("sample-member"))])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(text("sample-group")))
                .with_member_id(text("sample-member"))
        }),
        K::SyncGroup => RequestKind::SyncGroup(
            SyncGroupRequest::default()
                .with_group_id(GroupId(text("sample-group")))
                .with_generation_id(1)
                .with_member_id(text("sample-member"))
                .with_assignments(vec![
                    sync_group_request::SyncGroupRequestAssignment::default()
                        .with_member_id(text("sample-member"))
                        .with_assignment(Bytes::from_static(
                            b"\0\x01\0\0\0\x01\0\x07samples\0\0\0\x01\0\0\0\0\xff\xff\xff\xff",
                        )),
                ]),
        ),
        K::DescribeGroups => RequestKind::DescribeGroups(
            DescribeGroupsRequest::default().with_groups(vec![GroupId(text("sample-group"))]),
        ),
        K::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        K::ApiVersions => RequestKind::ApiVersions(if v >= 3 {
            ApiVersionsRequest::default()
                .with_client_software_name(text("ringlog-samples"))
                .with_client_software_version(text("1.0"))
        } else {
            ApiVersionsRequest::default()
        }),
        K::CreateTopics => RequestKind::CreateTopics(
            CreateTopicsRequest::default()
                .with_topics(vec![create_topics_request::CreatableTopic::default()
                    .with_name(topic_name())
                    .with_num_partitions(2)
                    .with_replication_factor(1)
                    .with_configs(vec![
                        create_topics_request::CreatableTopicConfig::default()
                            .with_name(text("retention.ms"))
                            .with_value(Some(text("600000"))),
                    ])])
                .with_timeout_ms(5_000),
        ),
        K::DeleteTopics => RequestKind::DeleteTopics(if v >= 6 {
            DeleteTopicsRequest::default()
                .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(TopicName(text("samples-deleted"))))])
                .with_timeout_ms(5_000)
        } else {
            DeleteTopicsRequest::default()
                .with_topic_names(vec![TopicName(text("samples-deleted"))])
                .with_timeout_ms(5_000)
        }),
        K::DeleteRecords => RequestKind::DeleteRecords(
            DeleteRecordsRequest::default()
                .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                    .with_name(topic_name())
                    .with_partitions(vec![
                        delete_records_request::DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(0),
                    ])])
                .with_timeout_ms(5_000),
        ),
        K::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default().with_transaction_timeout_ms(60_000),
        ),
        K::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(
            OffsetForLeaderEpochRequest::default()
                .with_replica_id(BrokerId(if v >= 3 { -1 } else { 0 }))
                .with_topics(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                        .with_topic(topic_name())
                        .with_partitions(vec![
                            offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                .with_partition(0)
                                .with_leader_epoch(0),
                        ]),
                ]),
        ),
        K::DescribeConfigs => {
            RequestKind::DescribeConfigs(DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(text(TOPIC))
                    .with_configuration_keys(Some(vec![text("retention.ms")])),
            ]))
        }
        K::AlterConfigs => {
            RequestKind::AlterConfigs(AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(text(TOPIC))
                    .with_configs(vec![alter_configs_request::AlterableConfig::default()
                        .with_name(text("retention.ms"))
                        .with_value(Some(text("700000")))]),
            ]))
        }
        K::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(text(TOPIC))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(text("retention.ms"))
                            .with_config_operation(0)
                            .with_value(Some(text("800000"))),
                    ]),
            ]),
        ),
        K::DescribeLogDirs => {
            RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default().with_topics(Some(vec![
                describe_log_dirs_request::DescribableLogDirTopic::default()
                    .with_topic(topic_name())
                    .with_partitions(vec![0, 1]),
            ])))
        }
        K::CreatePartitions => RequestKind::CreatePartitions(
            CreatePartitionsRequest::default()
                .with_topics(vec![
                    create_partitions_request::CreatePartitionsTopic::default()
                        .with_name(topic_name())
                        .with_count(3),
                ])
                .with_timeout_ms(5_000),
        ),
        K::DeleteGroups => RequestKind::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(text("gone-group"))]),
        ),
        K::DescribeCluster => RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        K::OffsetDelete => RequestKind::OffsetDelete(
            OffsetDeleteRequest::default()
                .with_group_id(GroupId(text("sample-group")))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(topic_name())
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(0),
                        ]),
                ]),
        ),
        _ => return None,
    })
}

/// One uncompressed v2 batch with one record ("sample-key" = "sample-value").
pub fn record_batch() -> Bytes {
    let record = engine::record_batch::Record {
        key: Some(b"sample-key".to_vec()),
        value: Some(b"sample-value".to_vec()),
        headers: Vec::new(),
        timestamp: engine::TimestampMs(1_700_000_000_000),
    };
    Bytes::from(
        engine::record_batch::BatchBuilder::new()
            .record(record)
            .build(),
    )
}

fn produce(v: i16) -> ProduceRequest {
    let topic = produce_request::TopicProduceData::default().with_partition_data(vec![
        produce_request::PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(record_batch())),
    ]);
    let topic = if v >= 13 {
        topic.with_topic_id(uuid::Uuid::nil())
    } else {
        topic.with_name(topic_name())
    };
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![topic])
}

fn fetch(v: i16) -> FetchRequest {
    let partition = fetch_request::FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(0)
        .with_partition_max_bytes(1 << 20);
    let topic = fetch_request::FetchTopic::default().with_partitions(vec![partition]);
    let topic = if v >= 13 {
        topic.with_topic_id(uuid::Uuid::nil())
    } else {
        topic.with_topic(topic_name())
    };
    let request = FetchRequest::default()
        .with_max_wait_ms(10)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![topic]);
    if v >= 15 {
        request
    } else {
        request.with_replica_id(BrokerId(-1))
    }
}

fn offset_commit() -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(text("sample-group")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic_name())
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1)
                        .with_committed_metadata(Some(text("sample"))),
                ]),
        ])
        .with_retention_time_ms(-1)
}

fn offset_fetch(v: i16) -> OffsetFetchRequest {
    if v >= 8 {
        OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(text("sample-group")))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopics::default()
                        .with_name(topic_name())
                        .with_partition_indexes(vec![0, 1]),
                ])),
        ])
    } else {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(text("sample-group")))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(topic_name())
                    .with_partition_indexes(vec![0, 1]),
            ]))
    }
}

/// The request frame a client sends (without its size prefix): header
/// (client id "samples") and body, at `version`.
pub fn frame(api_key: ApiKey, version: i16, correlation_id: i32) -> Result<Bytes, String> {
    let body = request(api_key, version).ok_or_else(|| format!("{api_key:?} is not served"))?;
    let failed = |error: anyhow::Error| format!("{api_key:?} v{version}: {error}");
    let preamble = Preamble {
        api_key,
        api_version: version,
        correlation_id,
    };
    let mut encoded = BytesMut::new();
    body.encode(&mut encoded, preamble.codec_version())
        .map_err(failed)?;
    let body = legacy::downgrade_request(preamble, encoded.freeze()).map_err(failed)?;
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(text("samples")));
    let mut frame = BytesMut::new();
    header
        .encode(&mut frame, api_key.request_header_version(version))
        .map_err(failed)?;
    frame.extend_from_slice(&body);
    Ok(frame.freeze())
}

/// Every advertised (API, version) with its sample frame.
pub fn every_advertised() -> Vec<(ApiKey, i16, Bytes)> {
    let mut out = Vec::new();
    for &(key, min, max) in versions::SUPPORTED {
        for version in min..=max {
            let frame = frame(key, version, i32::from(version) + 1)
                .unwrap_or_else(|error| panic!("no sample: {error}"));
            out.push((key, version, frame));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sample decodes as the broker decodes requests, whole.
    #[test]
    fn every_sample_decodes_at_its_version() {
        for (key, version, frame) in every_advertised() {
            let request = super::super::decode_request(frame)
                .unwrap_or_else(|error| panic!("{key:?} v{version}: {error}"));
            assert_eq!(request.preamble.api_key, key);
            assert_eq!(request.preamble.api_version, version);
            assert_eq!(request.client_id, "samples");
        }
    }
}
