//! The one table of what Ringlog implements: API keys and version ranges.
//! ApiVersions advertises exactly this; requests outside it are refused.

use std::ops::RangeInclusive;

use kafka_protocol::messages::ApiKey;

pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 13),
    (ApiKey::Fetch, 0, 18),
    (ApiKey::ListOffsets, 0, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 0, 7),
    (ApiKey::DeleteTopics, 0, 6),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeLogDirs, 0, 4),
    (ApiKey::OffsetForLeaderEpoch, 0, 4),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 0, 9),
    (ApiKey::OffsetFetch, 0, 9),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
];

pub fn supported(key: ApiKey) -> Option<RangeInclusive<i16>> {
    SUPPORTED
        .iter()
        .find(|(supported, _, _)| *supported == key)
        .map(|(_, min, max)| *min..=*max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_range_is_one_the_codec_knows() {
        for (key, min, max) in SUPPORTED {
            // The newest from kafka-protocol 0.18 (Kafka 4.x), the oldest
            // through 0.15 (Kafka 3.9's schemas, api/legacy.rs).
            let valid = key.valid_versions();
            assert!(*max <= valid.max, "{key:?} ..={max} beyond {valid:?}");
            if *min < valid.min {
                let old = kafka_protocol_legacy::messages::ApiKey::try_from(*key as i16)
                    .expect("a legacy key")
                    .valid_versions();
                assert!(*min >= old.min, "{key:?} {min}.. below {old:?}");
            }
        }
    }
}
