//! What the group APIs share: forwarding to the coordinator shard with one
//! error for "that shard is gone", and the placeholder client host.

use kafka_protocol::protocol::StrBytes;

/// Where Kafka would put the client's address. The request layer does not
/// see the peer address, so members are described with this placeholder.
pub const CLIENT_HOST_UNKNOWN: &str = "/unknown";

pub fn str_bytes(value: impl Into<String>) -> StrBytes {
    StrBytes::from_string(value.into())
}
