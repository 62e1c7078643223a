//! The Kafka request layer: decode a frame, dispatch to the API's handler,
//! encode the answer. One file per API.

mod alter_configs;
mod api_versions;
mod config_resource;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod fetch;
mod find_coordinator;
mod group_common;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
pub mod reply;
mod sync_group;
pub mod versions;

use std::rc::Rc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::shard::Shard;
use reply::Reply;

/// The fixed start of every request: api key, api version, correlation id.
#[derive(Debug, Clone, Copy)]
pub struct Preamble {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
}

pub async fn handle(shard: &Rc<Shard>, frame: Bytes) -> Reply {
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Ok(api_key) = ApiKey::try_from(key) else {
        return Reply::Close(format!("unknown API key {key}"));
    };
    let preamble = Preamble {
        api_key,
        api_version,
        correlation_id,
    };
    let Some(range) = versions::supported(api_key) else {
        return Reply::Close(format!(
            "API {api_key:?} is not implemented (not advertised)"
        ));
    };
    if !range.contains(&api_version) {
        if api_key == ApiKey::ApiVersions {
            return api_versions::unsupported_version(preamble);
        }
        return Reply::Close(format!(
            "{api_key:?} v{api_version} is not supported (not advertised)"
        ));
    }
    // The group APIs read the client id from the header.
    let header_frame = frame.clone();
    let mut body = frame;
    let header_version = api_key.request_header_version(api_version);
    if let Err(error) = RequestHeader::decode(&mut body, header_version) {
        return Reply::Close(format!("malformed request header: {error}"));
    }
    let reply = match api_key {
        ApiKey::ApiVersions => {
            decode(&mut body, preamble).map(|request| api_versions::handle(preamble, request))
        }
        ApiKey::Metadata => match decode(&mut body, preamble) {
            Ok(request) => Ok(metadata::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::Produce => match decode(&mut body, preamble) {
            Ok(request) => Ok(produce::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::Fetch => match decode(&mut body, preamble) {
            Ok(request) => Ok(fetch::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::ListOffsets => match decode(&mut body, preamble) {
            Ok(request) => Ok(list_offsets::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::CreateTopics => match decode(&mut body, preamble) {
            Ok(request) => Ok(create_topics::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::DeleteTopics => match decode(&mut body, preamble) {
            Ok(request) => Ok(delete_topics::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::InitProducerId => match decode(&mut body, preamble) {
            Ok(request) => Ok(init_producer_id::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::CreatePartitions => match decode(&mut body, preamble) {
            Ok(request) => Ok(create_partitions::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::DescribeConfigs => match decode(&mut body, preamble) {
            Ok(request) => Ok(describe_configs::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::AlterConfigs => match decode(&mut body, preamble) {
            Ok(request) => Ok(alter_configs::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::IncrementalAlterConfigs => match decode(&mut body, preamble) {
            Ok(request) => Ok(incremental_alter_configs::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::DeleteRecords => match decode(&mut body, preamble) {
            Ok(request) => Ok(delete_records::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::DescribeCluster => match decode(&mut body, preamble) {
            Ok(request) => Ok(describe_cluster::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::DescribeLogDirs => match decode(&mut body, preamble) {
            Ok(request) => Ok(describe_log_dirs::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::OffsetForLeaderEpoch => match decode(&mut body, preamble) {
            Ok(request) => Ok(offset_for_leader_epoch::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::FindCoordinator => match decode(&mut body, preamble) {
            Ok(request) => Ok(find_coordinator::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::JoinGroup => match decode(&mut body, preamble) {
            Ok(request) => {
                let client_id = group_common::client_id(&header_frame, preamble);
                Ok(join_group::handle(shard, preamble, request, client_id).await)
            }
            Err(error) => Err(error),
        },
        ApiKey::SyncGroup => match decode(&mut body, preamble) {
            Ok(request) => Ok(sync_group::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::Heartbeat => match decode(&mut body, preamble) {
            Ok(request) => Ok(heartbeat::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::LeaveGroup => match decode(&mut body, preamble) {
            Ok(request) => Ok(leave_group::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::OffsetCommit => match decode(&mut body, preamble) {
            Ok(request) => Ok(offset_commit::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::OffsetFetch => match decode(&mut body, preamble) {
            Ok(request) => Ok(offset_fetch::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::ListGroups => match decode(&mut body, preamble) {
            Ok(request) => Ok(list_groups::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::DescribeGroups => match decode(&mut body, preamble) {
            Ok(request) => Ok(describe_groups::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::DeleteGroups => match decode(&mut body, preamble) {
            Ok(request) => Ok(delete_groups::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        ApiKey::OffsetDelete => match decode(&mut body, preamble) {
            Ok(request) => Ok(offset_delete::handle(shard, preamble, request).await),
            Err(error) => Err(error),
        },
        other => Err(format!("{other:?} is advertised but has no handler")),
    };
    reply.unwrap_or_else(Reply::Close)
}

fn decode<T: Decodable>(body: &mut Bytes, preamble: Preamble) -> Result<T, String> {
    T::decode(body, preamble.api_version).map_err(|error| {
        format!(
            "malformed {:?} v{} request: {error}",
            preamble.api_key, preamble.api_version
        )
    })
}

/// Encodes a response frame: size, header (v0 or flexible v1), body.
pub fn encode<T: Encodable>(preamble: Preamble, body: &T) -> Reply {
    encode_with_header_version(
        preamble,
        body,
        preamble
            .api_key
            .response_header_version(preamble.api_version),
        preamble.api_version,
    )
}

pub fn encode_with_header_version<T: Encodable>(
    preamble: Preamble,
    body: &T,
    header_version: i16,
    body_version: i16,
) -> Reply {
    let header = ResponseHeader::default().with_correlation_id(preamble.correlation_id);
    let sizes = header
        .compute_size(header_version)
        .and_then(|header_size| Ok(header_size + body.compute_size(body_version)?));
    let size = match sizes {
        Ok(size) => size,
        Err(error) => return Reply::Close(format!("cannot size the response: {error}")),
    };
    let mut frame = BytesMut::with_capacity(4 + size);
    frame.put_i32(size as i32);
    if let Err(error) = header
        .encode(&mut frame, header_version)
        .and_then(|()| body.encode(&mut frame, body_version))
    {
        return Reply::Close(format!("cannot encode the response: {error}"));
    }
    Reply::Frame(frame.freeze())
}
