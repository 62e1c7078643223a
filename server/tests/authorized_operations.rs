//! `include_*_authorized_operations` in Metadata, DescribeCluster and
//! DescribeGroups, answered as Kafka without an authorizer answers them:
//! every operation of the resource type when asked, `Integer.MIN_VALUE`
//! when not, in every version that has the field.

mod support;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, DescribeClusterResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, GroupId, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use support::*;

/// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
const TOPIC: i32 = 3576;
/// CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
const CLUSTER: i32 = 8096;
/// READ, DELETE, DESCRIBE.
const GROUP: i32 = 328;
const NOT_REQUESTED: i32 = i32::MIN;

fn metadata(raw: &mut Raw, version: i16, topics: bool, cluster: bool) -> MetadataResponse {
    let mut request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("ops"))))]))
        .with_include_topic_authorized_operations(topics);
    if version <= 10 {
        request = request.with_include_cluster_authorized_operations(cluster);
    }
    raw.call(ApiKey::Metadata, version, &request)
}

#[test]
fn metadata_answers_topic_and_cluster_operations_when_asked() {
    let broker = Broker::start(1);
    create_topic(&broker, "ops", 1);
    let mut raw = Raw::connect(&broker);
    for version in 8..=13 {
        let asked = metadata(&mut raw, version, true, true);
        assert_eq!(asked.topics.len(), 1, "v{version}");
        assert_eq!(asked.topics[0].error_code, 0, "v{version}");
        assert_eq!(
            asked.topics[0].topic_authorized_operations, TOPIC,
            "v{version}"
        );
        let cluster = if version <= 10 {
            CLUSTER
        } else {
            NOT_REQUESTED
        };
        assert_eq!(asked.cluster_authorized_operations, cluster, "v{version}");

        let not_asked = metadata(&mut raw, version, false, false);
        assert_eq!(
            not_asked.topics[0].topic_authorized_operations, NOT_REQUESTED,
            "v{version}"
        );
        assert_eq!(not_asked.cluster_authorized_operations, NOT_REQUESTED);
    }
    // Only the topics' operations asked for: the cluster's stay unrequested.
    let topics_only = metadata(&mut raw, 9, true, false);
    assert_eq!(topics_only.topics[0].topic_authorized_operations, TOPIC);
    assert_eq!(topics_only.cluster_authorized_operations, NOT_REQUESTED);
}

#[test]
fn describe_cluster_and_describe_groups_answer_alike() {
    let broker = Broker::start(1);
    let mut raw = Raw::connect(&broker);
    for (asked, want) in [(true, CLUSTER), (false, NOT_REQUESTED)] {
        let response: DescribeClusterResponse = raw.call(
            ApiKey::DescribeCluster,
            0,
            &DescribeClusterRequest::default().with_include_cluster_authorized_operations(asked),
        );
        assert_eq!(response.cluster_authorized_operations, want);
    }
    for (asked, want) in [(true, GROUP), (false, NOT_REQUESTED)] {
        let response: DescribeGroupsResponse = raw.call(
            ApiKey::DescribeGroups,
            3,
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_static_str("nobody"))])
                .with_include_authorized_operations(asked),
        );
        assert_eq!(response.groups[0].authorized_operations, want);
    }
}
