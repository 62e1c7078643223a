//! What the `*_authorized_operations` fields answer (KIP-430). Ringlog has
//! no authorizer, and Kafka without one reports every operation a resource
//! type supports as allowed; when the client did not ask, the field holds
//! Kafka's "not requested" marker. One table for Metadata, DescribeCluster
//! and DescribeGroups, so the three answer alike.
//!
//! Each value is a bit set: bit n is Kafka's `AclOperation` code n
//! (READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8,
//! CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
//! IDEMPOTENT_WRITE 12).

/// Kafka's "authorized operations were not requested" (`Integer.MIN_VALUE`).
pub const NOT_REQUESTED: i32 = i32::MIN;

const READ: i32 = 1 << 3;
const WRITE: i32 = 1 << 4;
const CREATE: i32 = 1 << 5;
const DELETE: i32 = 1 << 6;
const ALTER: i32 = 1 << 7;
const DESCRIBE: i32 = 1 << 8;
const CLUSTER_ACTION: i32 = 1 << 9;
const DESCRIBE_CONFIGS: i32 = 1 << 10;
const ALTER_CONFIGS: i32 = 1 << 11;
const IDEMPOTENT_WRITE: i32 = 1 << 12;

/// Every operation a topic supports.
pub const TOPIC: i32 =
    READ | WRITE | CREATE | DELETE | ALTER | DESCRIBE | DESCRIBE_CONFIGS | ALTER_CONFIGS;

/// Every operation the cluster resource supports.
pub const CLUSTER: i32 = CREATE
    | ALTER
    | DESCRIBE
    | CLUSTER_ACTION
    | DESCRIBE_CONFIGS
    | ALTER_CONFIGS
    | IDEMPOTENT_WRITE;

/// Every operation a group supports.
pub const GROUP: i32 = READ | DELETE | DESCRIBE;

/// The field's value: `operations` when the client asked, else the marker.
pub fn answer(requested: bool, operations: i32) -> i32 {
    if requested {
        operations
    } else {
        NOT_REQUESTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bit_sets_are_kafkas() {
        // The values Kafka 3.x brokers without an authorizer answer.
        assert_eq!(TOPIC, 3576);
        assert_eq!(CLUSTER, 8096);
        assert_eq!(GROUP, 328);
        assert_eq!(answer(false, TOPIC), -2147483648);
    }
}
