//! Consumer groups as ListGroups + DescribeGroups report them, through
//! librdkafka's `rd_kafka_list_groups`. The rdkafka crate wraps that call
//! too, but leaves out the coordinator that answered, which
//! `consumer-groups --state` prints; so this module makes the call itself
//! and copies everything into owned values before the list is freed.
//! Members' assignments are decoded from Kafka's consumer protocol
//! (ConsumerProtocolAssignment, first i16 its version).

use std::ffi::{c_char, c_void, CStr, CString};
use std::time::Duration;

use bytes::Buf;
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;
use rdkafka::bindings as rd;
use rdkafka::client::Client;
use rdkafka::types::RDKafkaErrorCode;

use super::common::ToolError;

/// One group, as the coordinator described it.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub group: String,
    /// Kafka's state names: Stable, Empty, PreparingRebalance, CompletingRebalance, Dead.
    pub state: String,
    /// The assignor in use (`range`, `roundrobin`, ...), empty when Empty.
    pub protocol: String,
    pub protocol_type: String,
    pub coordinator: Coordinator,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug, Clone)]
pub struct Coordinator {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// (topic, partition) pairs, sorted; empty if the member has none or
    /// its assignment is not Kafka's consumer protocol.
    pub assignment: Vec<(String, i32)>,
}

/// Describes `group`, or every group when None. A group the cluster does
/// not know is simply absent from the answer.
pub fn list_groups<C: rdkafka::ClientContext>(
    client: &Client<C>,
    group: Option<&str>,
    timeout: Duration,
) -> Result<Vec<GroupDescription>, ToolError> {
    let name = group
        .map(|group| {
            CString::new(group).map_err(|_| ToolError::Usage("--group: contains a NUL byte".into()))
        })
        .transpose()?;
    let mut list: *const rd::rd_kafka_group_list = std::ptr::null();
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: the client pointer is valid for the call; `name` outlives it;
    // on success librdkafka stores a list we own and free below.
    let error = unsafe {
        rd::rd_kafka_list_groups(
            client.native_ptr(),
            name.as_ref().map_or(std::ptr::null(), |name| name.as_ptr()),
            &mut list,
            timeout_ms,
        )
    };
    if error != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Err(ToolError::Failed(format!(
            "listing consumer groups: {}",
            RDKafkaErrorCode::from(error)
        )));
    }
    // SAFETY: `list` is the valid list librdkafka returned; it is read
    // (copied into owned values) and then freed exactly once.
    let groups = unsafe {
        let copied = copy_groups(&*list);
        rd::rd_kafka_group_list_destroy(list);
        copied
    };
    Ok(groups
        .into_iter()
        .filter(|described| group.is_none_or(|group| described.group == group))
        .collect())
}

/// SAFETY: `list` must be a list returned by `rd_kafka_list_groups`.
unsafe fn copy_groups(list: &rd::rd_kafka_group_list) -> Vec<GroupDescription> {
    let count = usize::try_from(list.group_cnt).unwrap_or(0);
    if count == 0 || list.groups.is_null() {
        return Vec::new();
    }
    std::slice::from_raw_parts(list.groups, count)
        .iter()
        .map(|info| {
            let members = if info.members.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(
                    info.members,
                    usize::try_from(info.member_cnt).unwrap_or(0),
                )
            };
            GroupDescription {
                group: text(info.group),
                state: text(info.state),
                protocol: text(info.protocol),
                protocol_type: text(info.protocol_type),
                coordinator: Coordinator {
                    id: info.broker.id,
                    host: text(info.broker.host),
                    port: info.broker.port,
                },
                members: members
                    .iter()
                    .map(|member| MemberDescription {
                        member_id: text(member.member_id),
                        client_id: text(member.client_id),
                        client_host: text(member.client_host),
                        assignment: decode_assignment(bytes_of(
                            member.member_assignment,
                            member.member_assignment_size,
                        )),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// SAFETY: `pointer` is null or a NUL-terminated string.
unsafe fn text(pointer: *const c_char) -> String {
    if pointer.is_null() {
        String::new()
    } else {
        CStr::from_ptr(pointer).to_string_lossy().into_owned()
    }
}

/// SAFETY: `pointer` is null or points at `size` readable bytes.
unsafe fn bytes_of<'a>(pointer: *const c_void, size: i32) -> &'a [u8] {
    match usize::try_from(size) {
        Ok(size) if size > 0 && !pointer.is_null() => {
            std::slice::from_raw_parts(pointer.cast::<u8>(), size)
        }
        _ => &[],
    }
}

/// The (topic, partition) pairs of a consumer-protocol assignment; empty
/// for an empty or foreign assignment.
pub fn decode_assignment(mut bytes: &[u8]) -> Vec<(String, i32)> {
    if bytes.len() < 2 {
        return Vec::new();
    }
    // Newer versions only add fields at the end; read them as v3.
    let version = bytes.get_i16().clamp(0, 3);
    let Ok(assignment) = ConsumerProtocolAssignment::decode(&mut bytes, version) else {
        return Vec::new();
    };
    let mut pairs: Vec<(String, i32)> = assignment
        .assigned_partitions
        .iter()
        .flat_map(|topic| {
            topic
                .partitions
                .iter()
                .map(move |partition| (topic.topic.to_string(), *partition))
        })
        .collect();
    pairs.sort();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn assignments_decode_to_sorted_pairs() {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("b")))
                .with_partitions(vec![2, 0]),
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("a")))
                .with_partitions(vec![1]),
        ]);
        let mut bytes = bytes::BytesMut::new();
        bytes::BufMut::put_i16(&mut bytes, 1);
        assignment.encode(&mut bytes, 1).unwrap();
        assert_eq!(
            decode_assignment(&bytes),
            vec![("a".into(), 1), ("b".into(), 0), ("b".into(), 2)]
        );
        assert!(decode_assignment(&[]).is_empty());
        assert!(decode_assignment(&[0, 1, 0xff]).is_empty());
    }
}
