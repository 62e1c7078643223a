//! The group APIs in raw frames against the real broker (2 shards, so
//! groups live on different shards from the connection): advertised
//! versions, every API's answers and Kafka's error codes, batched and
//! multi-group versions, offsets of deleted topics, and the hidden
//! internal topic.

mod support;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use support::*;

const MEMBER_ID_REQUIRED: i16 = 79;
const UNKNOWN_MEMBER_ID: i16 = 25;
const ILLEGAL_GENERATION: i16 = 22;
const REBALANCE_IN_PROGRESS: i16 = 27;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const INVALID_GROUP_ID: i16 = 24;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// A consumer-protocol subscription to `topics`, as clients send it.
fn subscription(topics: &[&str]) -> Bytes {
    let mut bytes = BytesMut::new();
    bytes.extend_from_slice(&0i16.to_be_bytes());
    ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|topic| s(topic)).collect())
        .encode(&mut bytes, 0)
        .unwrap();
    bytes.freeze()
}

fn join_request(group: &str, member_id: &str, topics: &[&str]) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(subscription(topics))])
}

fn join(raw: &mut Raw, version: i16, request: &JoinGroupRequest) -> JoinGroupResponse {
    raw.call(ApiKey::JoinGroup, version, request)
}

/// KIP-394: the first JoinGroup v4+ gets a member id to come back with.
fn join_as_new(raw: &mut Raw, group: &str, topics: &[&str]) -> JoinGroupResponse {
    let first = join(raw, 5, &join_request(group, "", topics));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    assert!(!first.member_id.is_empty());
    join(raw, 5, &join_request(group, &first.member_id, topics))
}

fn sync(
    raw: &mut Raw,
    group: &str,
    generation: i32,
    member_id: &str,
    assignments: &[(&str, &[u8])],
) -> SyncGroupResponse {
    let request = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_assignments(
            assignments
                .iter()
                .map(|(member, bytes)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(member))
                        .with_assignment(Bytes::copy_from_slice(bytes))
                })
                .collect(),
        );
    raw.call(ApiKey::SyncGroup, 3, &request)
}

fn heartbeat(raw: &mut Raw, group: &str, generation: i32, member_id: &str) -> i16 {
    let response: HeartbeatResponse = raw.call(
        ApiKey::Heartbeat,
        4,
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(generation)
            .with_member_id(s(member_id)),
    );
    response.error_code
}

fn describe(raw: &mut Raw, group: &str) -> describe_groups_response::DescribedGroup {
    let response: DescribeGroupsResponse = raw.call(
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]),
    );
    response.groups.into_iter().next().unwrap()
}

fn list(raw: &mut Raw, states: &[&str]) -> Vec<(String, String)> {
    let response: ListGroupsResponse = raw.call(
        ApiKey::ListGroups,
        4,
        &ListGroupsRequest::default().with_states_filter(states.iter().map(|st| s(st)).collect()),
    );
    assert_eq!(response.error_code, 0);
    let mut groups: Vec<(String, String)> = response
        .groups
        .iter()
        .map(|group| (group.group_id.to_string(), group.group_state.to_string()))
        .collect();
    groups.sort();
    groups
}

fn delete_groups(raw: &mut Raw, groups: &[&str]) -> Vec<i16> {
    let response: DeleteGroupsResponse = raw.call(
        ApiKey::DeleteGroups,
        2,
        &DeleteGroupsRequest::default()
            .with_groups_names(groups.iter().map(|group| GroupId(s(group))).collect()),
    );
    response
        .results
        .iter()
        .map(|result| result.error_code)
        .collect()
}

#[test]
fn group_apis_are_advertised_and_kip848_is_not() {
    let broker = Broker::start(2);
    let mut raw = Raw::connect(&broker);
    let response: ApiVersionsResponse =
        raw.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let range = |key: ApiKey| {
        response
            .api_keys
            .iter()
            .find(|api| api.api_key == key as i16)
            .map(|api| (api.min_version, api.max_version))
    };
    // As the one table says (server/src/api/versions.rs).
    for key in [
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::Heartbeat,
        ApiKey::LeaveGroup,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::ListGroups,
        ApiKey::DescribeGroups,
        ApiKey::DeleteGroups,
        ApiKey::OffsetDelete,
    ] {
        let table = ringlog::api::versions::supported(key).expect("a group API");
        assert_eq!(range(key), Some((*table.start(), *table.end())), "{key:?}");
    }
    assert_eq!(range(ApiKey::ConsumerGroupHeartbeat), None);
    assert_eq!(range(ApiKey::ConsumerGroupDescribe), None);
}

#[test]
fn find_coordinator_answers_this_broker_in_every_version() {
    let broker = Broker::start(2);
    let mut raw = Raw::connect(&broker);
    for version in 0..=3 {
        let request = FindCoordinatorRequest::default().with_key(s("some-group"));
        let response: FindCoordinatorResponse =
            raw.call(ApiKey::FindCoordinator, version, &request);
        assert_eq!(response.error_code, 0, "v{version}");
        assert_eq!(response.node_id.0, 1);
        assert_eq!(response.host.to_string(), "127.0.0.1");
        assert_eq!(response.port, i32::from(broker.port));
    }
    let request =
        FindCoordinatorRequest::default().with_coordinator_keys(vec![s("group-a"), s("group-b")]);
    let response: FindCoordinatorResponse = raw.call(ApiKey::FindCoordinator, 4, &request);
    let keys: Vec<String> = response
        .coordinators
        .iter()
        .map(|coordinator| coordinator.key.to_string())
        .collect();
    assert_eq!(keys, ["group-a", "group-b"]);
    assert!(response
        .coordinators
        .iter()
        .all(|c| c.error_code == 0 && c.port == i32::from(broker.port)));
    // Transactions are not built: a transactional key is refused.
    let request = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s("txn")]);
    let response: FindCoordinatorResponse = raw.call(ApiKey::FindCoordinator, 4, &request);
    assert_eq!(
        response.coordinators[0].error_code,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
}

/// The member id in the leader's member list that is not the leader.
fn b_of(joined: &JoinGroupResponse, leader: &str) -> String {
    joined
        .members
        .iter()
        .map(|member| member.member_id.to_string())
        .find(|member| member != leader)
        .unwrap()
}

#[test]
fn membership_answers_and_errors_are_kafkas() {
    let broker = Broker::start(2);
    create_topic(&broker, "t", 2);
    let mut a = Raw::connect(&broker);
    // Refused before anything happens.
    let mut short = join_request("g", "", &["t"]);
    short.session_timeout_ms = 1000;
    assert_eq!(join(&mut a, 5, &short).error_code, INVALID_SESSION_TIMEOUT);
    assert_eq!(
        join(&mut a, 5, &join_request("", "", &["t"])).error_code,
        INVALID_GROUP_ID
    );
    assert_eq!(
        join(&mut a, 5, &join_request("g", "made-up", &["t"])).error_code,
        UNKNOWN_MEMBER_ID
    );
    // Before v4 there is no MEMBER_ID_REQUIRED step; v0 has no rebalance timeout.
    let old = join(&mut a, 0, &join_request("old-client", "", &["t"]));
    assert_eq!((old.error_code, old.generation_id), (0, 1));
    assert_eq!(old.leader, old.member_id);

    // One member: generation 1, it leads.
    let joined = join_as_new(&mut a, "g", &["t"]);
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.protocol_name.as_ref().unwrap().to_string(), "range");
    assert_eq!(joined.members.len(), 1);
    let a_id = joined.member_id.to_string();
    assert_eq!(
        sync(&mut a, "g", 2, &a_id, &[]).error_code,
        ILLEGAL_GENERATION
    );
    assert_eq!(
        sync(&mut a, "g", 1, "nobody", &[]).error_code,
        UNKNOWN_MEMBER_ID
    );
    let synced = sync(&mut a, "g", 1, &a_id, &[(&a_id, b"both partitions")]);
    assert_eq!(synced.error_code, 0);
    assert_eq!(&synced.assignment[..], b"both partitions");
    assert_eq!(heartbeat(&mut a, "g", 1, &a_id), 0);
    assert_eq!(heartbeat(&mut a, "g", 0, &a_id), ILLEGAL_GENERATION);
    assert_eq!(heartbeat(&mut a, "g", 1, "nobody"), UNKNOWN_MEMBER_ID);
    assert_eq!(
        heartbeat(&mut a, "no-such-group", 1, &a_id),
        UNKNOWN_MEMBER_ID
    );
    // A member with no protocol in common is refused.
    let mut other = join_request("g", "", &["t"]);
    other.protocols[0].name = s("sticky");
    assert_eq!(
        join(&mut a, 5, &other).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );

    // A second member joins on its own connection and waits for A.
    let (mut b, b_id) = std::thread::scope(|scope| {
        let second = scope.spawn(|| {
            let mut b = Raw::connect(&broker);
            let joined = join_as_new(&mut b, "g", &["t"]);
            (b, joined)
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while heartbeat(&mut a, "g", 1, &a_id) != REBALANCE_IN_PROGRESS {
            assert!(std::time::Instant::now() < deadline, "no rebalance seen");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(
            describe(&mut a, "g").group_state.to_string(),
            "PreparingRebalance"
        );
        assert_eq!(
            sync(&mut a, "g", 1, &a_id, &[]).error_code,
            REBALANCE_IN_PROGRESS
        );
        let rejoined = join(&mut a, 5, &join_request("g", &a_id, &["t"]));
        let (mut b, b_joined) = second.join().unwrap();
        assert_eq!((rejoined.generation_id, b_joined.generation_id), (2, 2));
        assert_eq!(rejoined.leader.to_string(), a_id, "the leader stays");
        assert_eq!(rejoined.members.len(), 2);
        assert!(b_joined.members.is_empty());
        let b_id = b_joined.member_id.to_string();
        // The follower's SyncGroup waits for the leader's.
        let follower = scope.spawn(move || {
            let synced = sync(&mut b, "g", 2, &b_id, &[]);
            (b, b_id, synced)
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!follower.is_finished(), "a follower waits for the leader");
        let b_member = b_of(&rejoined, &a_id);
        let leader = sync(&mut a, "g", 2, &a_id, &[(&a_id, b"p0"), (&b_member, b"p1")]);
        assert_eq!(&leader.assignment[..], b"p0");
        let (b, b_id, synced) = follower.join().unwrap();
        assert_eq!((synced.error_code, &synced.assignment[..]), (0, &b"p1"[..]));
        (b, b_id)
    });

    let described = describe(&mut a, "g");
    assert_eq!(described.group_state.to_string(), "Stable");
    assert_eq!(described.protocol_type.to_string(), "consumer");
    assert_eq!(described.protocol_data.to_string(), "range");
    assert_eq!(described.members.len(), 2);
    assert_eq!(&described.members[1].member_assignment[..], b"p1");
    assert_eq!(described.members[0].client_id.to_string(), "raw-test");
    assert_eq!(
        describe(&mut a, "never-seen").group_state.to_string(),
        "Dead"
    );

    assert_eq!(
        list(&mut a, &["Stable"]),
        vec![("g".into(), "Stable".into())]
    );
    assert!(list(&mut a, &["empty"])
        .iter()
        .all(|(group, _)| group != "g"));
    assert_eq!(list(&mut a, &["NoSuchState"]), vec![]);
    assert_eq!(
        delete_groups(&mut a, &["g", "never-seen"]),
        vec![NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND]
    );

    // Batched leave (v3+): one known member, one stranger.
    let response: LeaveGroupResponse = b.call(
        ApiKey::LeaveGroup,
        3,
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_members(vec![
                MemberIdentity::default().with_member_id(s(&b_id)),
                MemberIdentity::default().with_member_id(s("stranger")),
            ]),
    );
    let codes: Vec<i16> = response.members.iter().map(|m| m.error_code).collect();
    assert_eq!(
        (response.error_code, codes),
        (0, vec![0, UNKNOWN_MEMBER_ID])
    );
    assert_eq!(heartbeat(&mut a, "g", 2, &a_id), REBALANCE_IN_PROGRESS);
    // v0 leave of the last member: the group is Empty and can be deleted.
    let response: LeaveGroupResponse = a.call(
        ApiKey::LeaveGroup,
        0,
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s(&a_id)),
    );
    assert_eq!(response.error_code, 0);
    assert_eq!(describe(&mut a, "g").group_state.to_string(), "Empty");
    assert_eq!(delete_groups(&mut a, &["g"]), vec![0]);
    assert_eq!(describe(&mut a, "g").group_state.to_string(), "Dead");
}

fn commit(
    raw: &mut Raw,
    version: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &[(&str, i32, i64, &str)],
) -> Vec<i16> {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset, metadata) in offsets {
        let entry = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_metadata(Some(s(metadata)));
        match topics.iter_mut().find(|t| t.name.0.to_string() == *topic) {
            Some(existing) => existing.partitions.push(entry),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(topics);
    let response: OffsetCommitResponse = raw.call(ApiKey::OffsetCommit, version, &request);
    response
        .topics
        .iter()
        .flat_map(|topic| topic.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// Offsets (v7 with null topics: every committed one) as (topic, partition, offset).
fn fetch_all(raw: &mut Raw, group: &str) -> Vec<(String, i32, i64)> {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(None);
    let response: OffsetFetchResponse = raw.call(ApiKey::OffsetFetch, 7, &request);
    assert_eq!(response.error_code, 0);
    response
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(move |p| {
                (
                    topic.name.to_string(),
                    p.partition_index,
                    p.committed_offset,
                )
            })
        })
        .collect()
}

#[test]
fn offsets_are_committed_fetched_and_deleted() {
    let broker = Broker::start(2);
    create_topic(&broker, "t", 2);
    create_topic(&broker, "u", 1);
    let mut raw = Raw::connect(&broker);
    // A consumer using assign(): generation -1, no member id.
    assert_eq!(
        commit(
            &mut raw,
            2,
            "simple",
            -1,
            "",
            &[("t", 0, 10, "m0"), ("t", 1, 11, ""), ("u", 0, 5, "")]
        ),
        vec![0, 0, 0]
    );
    let big = "x".repeat(5000);
    assert_eq!(
        commit(
            &mut raw,
            8,
            "simple",
            -1,
            "",
            &[
                ("t", 0, 12, big.as_str()),
                ("nope", 0, 1, ""),
                ("t", 7, 1, "")
            ]
        ),
        vec![
            OFFSET_METADATA_TOO_LARGE,
            UNKNOWN_TOPIC_OR_PARTITION,
            UNKNOWN_TOPIC_OR_PARTITION
        ]
    );
    // A generation this group never had.
    assert_eq!(
        commit(&mut raw, 8, "ghosts", 5, "m", &[("t", 0, 1, "")]),
        vec![ILLEGAL_GENERATION]
    );
    assert_eq!(
        fetch_all(&mut raw, "simple"),
        vec![("t".into(), 0, 10), ("t".into(), 1, 11), ("u".into(), 0, 5)]
    );
    // v1: the partitions asked for; unknown ones are -1.
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("simple")))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partition_indexes(vec![0, 1, 5])]));
    let response: OffsetFetchResponse = raw.call(ApiKey::OffsetFetch, 1, &request);
    let got: Vec<(i64, String)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.committed_offset, p.metadata.as_ref().unwrap().to_string()))
        .collect();
    assert_eq!(
        got,
        vec![(10, "m0".into()), (11, String::new()), (-1, String::new())]
    );
    // v8: several groups at once, each from its own shard.
    let groups = ["simple", "unknown-group"]
        .iter()
        .map(|group| {
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![1])]))
        })
        .collect();
    let response: OffsetFetchResponse = raw.call(
        ApiKey::OffsetFetch,
        8,
        &OffsetFetchRequest::default().with_groups(groups),
    );
    let got: Vec<(String, i16, i64)> = response
        .groups
        .iter()
        .map(|group| {
            (
                group.group_id.to_string(),
                group.error_code,
                group.topics[0].partitions[0].committed_offset,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![("simple".into(), 0, 11), ("unknown-group".into(), 0, -1)]
    );

    // OffsetDelete of an Empty group's offsets.
    let delete = |raw: &mut Raw, group: &str, topic: &str, partitions: &[i32]| {
        let request = OffsetDeleteRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(vec![OffsetDeleteRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&p| OffsetDeleteRequestPartition::default().with_partition_index(p))
                        .collect(),
                )]);
        let response: OffsetDeleteResponse = raw.call(ApiKey::OffsetDelete, 0, &request);
        let codes: Vec<i16> = response
            .topics
            .iter()
            .flat_map(|topic| topic.partitions.iter().map(|p| p.error_code))
            .collect();
        (response.error_code, codes)
    };
    assert_eq!(delete(&mut raw, "simple", "u", &[0]), (0, vec![0]));
    assert_eq!(
        fetch_all(&mut raw, "simple"),
        vec![("t".into(), 0, 10), ("t".into(), 1, 11)]
    );
    assert_eq!(
        delete(&mut raw, "no-such-group", "t", &[0]),
        (GROUP_ID_NOT_FOUND, vec![])
    );
    // A Stable consumer group keeps the offsets of topics it subscribes to.
    let joined = join_as_new(&mut raw, "readers", &["t"]);
    let member = joined.member_id.to_string();
    assert_eq!(sync(&mut raw, "readers", 1, &member, &[]).error_code, 0);
    assert_eq!(
        commit(
            &mut raw,
            8,
            "readers",
            1,
            &member,
            &[("t", 0, 3, ""), ("u", 0, 4, "")]
        ),
        vec![0, 0]
    );
    assert_eq!(
        commit(&mut raw, 8, "readers", 0, &member, &[("t", 0, 3, "")]),
        vec![ILLEGAL_GENERATION]
    );
    assert_eq!(
        commit(&mut raw, 8, "readers", -1, "", &[("t", 0, 3, "")]),
        vec![UNKNOWN_MEMBER_ID]
    );
    assert_eq!(
        delete(&mut raw, "readers", "t", &[0]),
        (0, vec![GROUP_SUBSCRIBED_TO_TOPIC])
    );
    assert_eq!(delete(&mut raw, "readers", "u", &[0]), (0, vec![0]));
    assert_eq!(fetch_all(&mut raw, "readers"), vec![("t".into(), 0, 3)]);
}

fn delete_topic(broker: &Broker, name: &str) {
    let mut raw = Raw::connect(broker);
    let response: DeleteTopicsResponse = raw.call(
        ApiKey::DeleteTopics,
        4,
        &DeleteTopicsRequest::default()
            .with_topic_names(vec![TopicName(s(name))])
            .with_timeout_ms(5000),
    );
    assert_eq!(response.responses[0].error_code, 0);
}

#[test]
fn deleting_a_topic_removes_its_committed_offsets_durably() {
    let mut broker = Broker::start(2);
    create_topic(&broker, "doomed", 3);
    create_topic(&broker, "kept", 1);
    let mut raw = Raw::connect(&broker);
    let groups = ["first", "second", "third", "fourth"];
    for group in groups {
        assert_eq!(
            commit(
                &mut raw,
                8,
                group,
                -1,
                "",
                &[
                    ("doomed", 0, 7, ""),
                    ("doomed", 2, 9, ""),
                    ("kept", 0, 1, "")
                ]
            ),
            vec![0, 0, 0]
        );
    }
    assert_eq!(
        commit(&mut raw, 8, "only-doomed", -1, "", &[("doomed", 1, 1, "")]),
        vec![0]
    );
    delete_topic(&broker, "doomed");
    for group in groups {
        assert_eq!(fetch_all(&mut raw, group), vec![("kept".into(), 0, 1)]);
    }
    // A group that only held offsets of the topic is gone with them.
    assert!(list(&mut raw, &[])
        .iter()
        .all(|(group, _)| group != "only-doomed"));
    // The deletion is durable, and a topic of the same name starts clean.
    broker.restart_after_kill9();
    let mut raw = Raw::connect(&broker);
    create_topic(&broker, "doomed", 3);
    for group in groups {
        assert_eq!(fetch_all(&mut raw, group), vec![("kept".into(), 0, 1)]);
    }
    assert_eq!(fetch_all(&mut raw, "only-doomed"), vec![]);
}

#[test]
fn the_internal_topic_is_hidden_and_cannot_be_written() {
    let broker = Broker::start(2);
    create_topic(&broker, "visible", 1);
    let mut raw = Raw::connect(&broker);
    assert_eq!(
        commit(&mut raw, 8, "g", -1, "", &[("visible", 0, 1, "")]),
        vec![0]
    );
    let all: MetadataResponse = raw.call(
        ApiKey::Metadata,
        9,
        &MetadataRequest::default().with_topics(None),
    );
    let names: Vec<String> = all
        .topics
        .iter()
        .map(|topic| topic.name.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(names, ["visible"]);
    // Asked by name it is not created (auto-creation is on) and not found.
    let by_name: MetadataResponse = raw.call(
        ApiKey::Metadata,
        9,
        &MetadataRequest::default()
            .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
            )
            .with_name(Some(TopicName(s("__consumer_offsets"))))]))
            .with_allow_auto_topic_creation(true),
    );
    assert_eq!(by_name.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let topic = CreatableTopic::default()
        .with_name(TopicName(s("__consumer_offsets")))
        .with_num_partitions(1)
        .with_replication_factor(1);
    let created: CreateTopicsResponse = raw.call(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default().with_topics(vec![topic]),
    );
    assert_eq!(created.topics[0].error_code, TOPIC_ALREADY_EXISTS);
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(TopicName(s("__consumer_offsets")))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(
                        engine::record_batch::BatchBuilder::new()
                            .record(engine::record_batch::Record::value(
                                b"x".to_vec(),
                                engine::TimestampMs(0),
                            ))
                            .build(),
                    ))),
            ])]);
    let produced: ProduceResponse = raw.call(ApiKey::Produce, 9, &produce);
    assert_eq!(
        produced.responses[0].partition_responses[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
}
