//! The Kafka request layer: decode a frame, dispatch to the API's handler,
//! encode the answer. One file per API.

mod alter_configs;
mod api_versions;
mod authorized_operations;
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
mod error_codes;
mod fetch;
mod find_coordinator;
mod group_common;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod legacy;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod record_formats;
pub mod reply;
pub mod samples;
mod sync_group;
pub mod versions;

use std::rc::Rc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::listeners::Endpoint;
use crate::shard::Shard;
use reply::Reply;

/// The fixed start of every request: api key, api version, correlation id.
#[derive(Debug, Clone, Copy)]
pub struct Preamble {
    pub api_key: ApiKey,
    /// The version the client sent, which its answer must have.
    pub api_version: i16,
    pub correlation_id: i32,
}

impl Preamble {
    /// The version kafka-protocol decodes the body and encodes the answer
    /// at: the client's, or for versions Kafka 4.0 removed, the oldest one
    /// the codec knows (`legacy.rs` converts between the two).
    pub fn codec_version(&self) -> i16 {
        legacy::codec_version(self.api_key, self.api_version)
    }
}

/// A request, decoded: its preamble, the header's client id ("" when
/// absent) and the body, decoded at `preamble.codec_version()`.
#[derive(Debug)]
pub struct Request {
    pub preamble: Preamble,
    pub client_id: String,
    pub body: RequestKind,
}

/// Why a frame is not a request this broker serves.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("a request frame of {0} bytes is shorter than a request header")]
    TooShort(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("{0:?} is not served (not advertised)")]
    NotServed(ApiKey),
    #[error("{:?} v{} is not supported (not advertised)", .0.api_key, .0.api_version)]
    UnsupportedVersion(Preamble),
    #[error("malformed {:?} v{} request (client id {client_id:?}): {reason}", .preamble.api_key, .preamble.api_version)]
    Malformed {
        preamble: Preamble,
        client_id: String,
        reason: String,
    },
}

impl RequestError {
    /// The API key of the frame, when it named one the broker knows.
    fn api_key(&self) -> Option<ApiKey> {
        match self {
            RequestError::TooShort(_) | RequestError::UnknownApiKey(_) => None,
            RequestError::NotServed(key) => Some(*key),
            RequestError::UnsupportedVersion(preamble)
            | RequestError::Malformed { preamble, .. } => Some(preamble.api_key),
        }
    }

    /// Kafka's answer: ApiVersions at a version we lack gets the versions
    /// table in v0 (KIP-511); anything else closes the connection.
    fn reply(self) -> Reply {
        match self {
            RequestError::UnsupportedVersion(preamble)
                if preamble.api_key == ApiKey::ApiVersions =>
            {
                api_versions::unsupported_version(preamble)
            }
            other => Reply::Close(other.to_string()),
        }
    }
}

/// Decodes a request frame (size prefix removed): the header, then the body
/// of an advertised API and version. Bounded: kafka-protocol is patched so
/// that no count or length on the wire reserves more than the bytes that
/// remain (vendor/PATCHES.md).
pub fn decode_request(frame: Bytes) -> Result<Request, RequestError> {
    if frame.len() < 8 {
        return Err(RequestError::TooShort(frame.len()));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(key).map_err(|_| RequestError::UnknownApiKey(key))?;
    let preamble = Preamble {
        api_key,
        api_version,
        correlation_id,
    };
    let range = versions::supported(api_key).ok_or(RequestError::NotServed(api_key))?;
    if !range.contains(&api_version) {
        return Err(RequestError::UnsupportedVersion(preamble));
    }
    let malformed = |client_id: &str, reason: String| RequestError::Malformed {
        preamble,
        client_id: client_id.to_string(),
        reason,
    };
    let mut body = frame;
    let header = RequestHeader::decode(&mut body, api_key.request_header_version(api_version))
        .map_err(|error| malformed("", format!("header: {error}")))?;
    let client_id = header
        .client_id
        .map(|client_id| client_id.to_string())
        .unwrap_or_default();
    let mut body = legacy::upgrade_request(preamble, body)
        .map_err(|error| malformed(&client_id, error.to_string()))?;
    let decoded = RequestKind::decode(api_key, &mut body, preamble.codec_version())
        .map_err(|error| malformed(&client_id, error.to_string()))?;
    Ok(Request {
        preamble,
        client_id,
        body: decoded,
    })
}

/// Where a request came from, as the handlers need it.
pub struct Origin {
    /// What the listener's clients are told to connect to (Metadata,
    /// FindCoordinator, DescribeCluster).
    pub advertised: Endpoint,
    /// The client's address as Kafka shows it, `/` and the IP (JoinGroup's
    /// member host, which DescribeGroups and consumer-groups print).
    pub client_host: String,
}

impl Origin {
    /// A request from `peer` (None: no connection, or its address could
    /// not be read) on a listener that advertises `advertised`.
    pub fn new(advertised: Endpoint, peer: Option<std::net::SocketAddr>) -> Origin {
        Origin {
            advertised,
            client_host: peer
                .map_or_else(|| "/unknown".to_string(), |peer| format!("/{}", peer.ip())),
        }
    }
}

/// Answers one request frame as if it came on the first listener from an
/// unknown address (for callers with no connection: fuzz targets,
/// benchmarks).
pub async fn handle(shard: &Rc<Shard>, frame: Bytes) -> Reply {
    let advertised = shard
        .config
        .listeners()
        .ok()
        .and_then(|listeners| listeners.into_iter().next())
        .map(|listener| listener.advertised)
        .unwrap_or_else(|| Endpoint {
            host: "127.0.0.1".into(),
            port: 9092,
        });
    handle_on(shard, frame, &Origin::new(advertised, None)).await
}

/// Answers one request frame that came from `origin`.
pub async fn handle_on(shard: &Rc<Shard>, frame: Bytes, origin: &Origin) -> Reply {
    let arrived = std::time::Instant::now();
    match decode_request(frame) {
        Ok(request) => {
            let preamble = request.preamble;
            counted(preamble, arrived, dispatch(shard, request, origin).await)
        }
        Err(error) => {
            let api_key = error.api_key().map_or(-1, |key| key as i16);
            let reply = error.reply();
            if matches!(reply, Reply::Close(_)) {
                crate::stats::count_closed(api_key);
            }
            reply
        }
    }
}

/// Counts a request and its latency once its answer is ready (stats.rs).
fn counted(preamble: Preamble, arrived: std::time::Instant, reply: Reply) -> Reply {
    let api_key = preamble.api_key as i16;
    match reply {
        Reply::Later(answer) => Reply::Later(Box::pin(async move {
            let reply = answer.await;
            counted(preamble, arrived, reply)
        })),
        reply => {
            if matches!(reply, Reply::Close(_)) {
                crate::stats::count_closed(api_key);
            }
            crate::stats::count_request(api_key, preamble.api_version, arrived.elapsed());
            reply
        }
    }
}

async fn dispatch(shard: &Rc<Shard>, request: Request, origin: &Origin) -> Reply {
    let advertised = &origin.advertised;
    let preamble = request.preamble;
    match request.body {
        RequestKind::ApiVersions(body) => api_versions::handle(preamble, body),
        RequestKind::Metadata(body) => metadata::handle(shard, preamble, body, advertised).await,
        RequestKind::Produce(body) => produce::handle(shard, preamble, body).await,
        RequestKind::Fetch(body) => fetch::handle(shard, preamble, body).await,
        RequestKind::ListOffsets(body) => list_offsets::handle(shard, preamble, body).await,
        RequestKind::CreateTopics(body) => create_topics::handle(shard, preamble, body).await,
        RequestKind::DeleteTopics(body) => delete_topics::handle(shard, preamble, body).await,
        RequestKind::InitProducerId(body) => init_producer_id::handle(shard, preamble, body).await,
        RequestKind::CreatePartitions(body) => {
            create_partitions::handle(shard, preamble, body).await
        }
        RequestKind::DescribeConfigs(body) => describe_configs::handle(shard, preamble, body).await,
        RequestKind::AlterConfigs(body) => alter_configs::handle(shard, preamble, body).await,
        RequestKind::IncrementalAlterConfigs(body) => {
            incremental_alter_configs::handle(shard, preamble, body).await
        }
        RequestKind::DeleteRecords(body) => delete_records::handle(shard, preamble, body).await,
        RequestKind::DescribeCluster(body) => {
            describe_cluster::handle(shard, preamble, body, advertised).await
        }
        RequestKind::DescribeLogDirs(body) => {
            describe_log_dirs::handle(shard, preamble, body).await
        }
        RequestKind::OffsetForLeaderEpoch(body) => {
            offset_for_leader_epoch::handle(shard, preamble, body).await
        }
        RequestKind::FindCoordinator(body) => {
            find_coordinator::handle(shard, preamble, body, advertised).await
        }
        RequestKind::JoinGroup(body) => {
            join_group::handle(
                shard,
                preamble,
                body,
                request.client_id,
                &origin.client_host,
            )
            .await
        }
        RequestKind::SyncGroup(body) => sync_group::handle(shard, preamble, body).await,
        RequestKind::Heartbeat(body) => heartbeat::handle(shard, preamble, body).await,
        RequestKind::LeaveGroup(body) => leave_group::handle(shard, preamble, body).await,
        RequestKind::OffsetCommit(body) => offset_commit::handle(shard, preamble, body).await,
        RequestKind::OffsetFetch(body) => offset_fetch::handle(shard, preamble, body).await,
        RequestKind::ListGroups(body) => list_groups::handle(shard, preamble, body).await,
        RequestKind::DescribeGroups(body) => describe_groups::handle(shard, preamble, body).await,
        RequestKind::DeleteGroups(body) => delete_groups::handle(shard, preamble, body).await,
        RequestKind::OffsetDelete(body) => offset_delete::handle(shard, preamble, body).await,
        other => Reply::Close(format!(
            "{:?} v{} is advertised but has no handler ({})",
            preamble.api_key,
            preamble.api_version,
            kind_name(&other)
        )),
    }
}

/// The variant's name, for a log line.
fn kind_name(kind: &RequestKind) -> String {
    let debug = format!("{kind:?}");
    debug.split('(').next().unwrap_or_default().to_string()
}

/// Encodes a response frame: size, header (v0 or flexible v1), body, at
/// the client's version (through `legacy.rs` for versions the codec lacks).
/// A body that cannot be encoded at that version is a bug in its handler:
/// logged with the API, version and field, and the connection is closed.
pub fn encode<T: Encodable + error_codes::ErrorCodes>(preamble: Preamble, body: &T) -> Reply {
    count_errors(preamble, body);
    let header_version = preamble
        .api_key
        .response_header_version(preamble.api_version);
    match encode_body(preamble, body) {
        Ok(body) => frame(preamble, header_version, &body),
        Err(error) => encode_failed(preamble, error),
    }
}

/// Encodes `body` at `body_version` under a response header of
/// `header_version` (ApiVersions answers a version it lacks in v0).
pub fn encode_with_header_version<T: Encodable + error_codes::ErrorCodes>(
    preamble: Preamble,
    body: &T,
    header_version: i16,
    body_version: i16,
) -> Reply {
    count_errors(preamble, body);
    let mut bytes = BytesMut::new();
    match body.encode(&mut bytes, body_version) {
        Ok(()) => frame(preamble, header_version, &bytes),
        Err(error) => encode_failed(preamble, error),
    }
}

/// Counts the error codes an answer carries (stats.rs).
fn count_errors(preamble: Preamble, body: &impl error_codes::ErrorCodes) {
    let api_key = preamble.api_key as i16;
    body.error_codes(&mut |code| crate::stats::count_error(api_key, code));
}

/// The body at the client's version.
fn encode_body<T: Encodable>(preamble: Preamble, body: &T) -> anyhow::Result<Bytes> {
    let mut bytes = BytesMut::new();
    body.encode(&mut bytes, preamble.codec_version())?;
    legacy::downgrade_response(preamble, bytes.freeze())
}

fn frame(preamble: Preamble, header_version: i16, body: &[u8]) -> Reply {
    let header = ResponseHeader::default().with_correlation_id(preamble.correlation_id);
    let mut frame = BytesMut::with_capacity(4 + 8 + body.len());
    frame.put_i32(0); // the size, set below
    if let Err(error) = header.encode(&mut frame, header_version) {
        return encode_failed(preamble, error);
    }
    frame.put_slice(body);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    Reply::Frame(frame.freeze())
}

fn encode_failed(preamble: Preamble, error: anyhow::Error) -> Reply {
    tracing::error!(
        api = ?preamble.api_key,
        version = preamble.api_version,
        "cannot encode the response (a bug): {error}"
    );
    Reply::Close(format!(
        "cannot encode the {:?} v{} response: {error}",
        preamble.api_key, preamble.api_version
    ))
}
