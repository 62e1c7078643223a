//! What the group APIs share: forwarding to the coordinator shard with one
//! error for "that shard is gone", and the placeholder client host.

use kafka_protocol::protocol::StrBytes;

pub fn str_bytes(value: impl Into<String>) -> StrBytes {
    StrBytes::from_string(value.into())
}
