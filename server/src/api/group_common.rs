//! What the group APIs share: the client id from the request header (for
//! member ids and DescribeGroups), and forwarding to the coordinator shard
//! with one error for "that shard is gone".

use bytes::Bytes;
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::Preamble;

/// The request header's client id ("" when absent).
pub fn client_id(frame: &Bytes, preamble: Preamble) -> String {
    let mut bytes = frame.clone();
    let version = preamble
        .api_key
        .request_header_version(preamble.api_version);
    RequestHeader::decode(&mut bytes, version)
        .ok()
        .and_then(|header| header.client_id)
        .map(|client_id| client_id.to_string())
        .unwrap_or_default()
}

/// Where Kafka would put the client's address. The request layer does not
/// see the peer address, so members are described with this placeholder.
pub const CLIENT_HOST_UNKNOWN: &str = "/unknown";

pub fn str_bytes(value: impl Into<String>) -> StrBytes {
    StrBytes::from_string(value.into())
}
