//! The error codes a response carries, for the `ringlog_errors_total`
//! metric (`stats.rs`): every response type a handler encodes says where
//! its codes are, top level and per topic, partition, group or resource.
//! `api::encode` requires it, so a new response type cannot be answered
//! without saying. Fetch writes its response by hand and counts its
//! partitions' codes itself (`fetch.rs`).

use kafka_protocol::messages::*;

/// Calls `each` with every error code in the response (zeros included;
/// the counter skips them).
pub trait ErrorCodes {
    fn error_codes(&self, each: &mut dyn FnMut(i16));
}

/// Responses with one top-level `error_code`.
macro_rules! top_level {
    ($($response:ty),* $(,)?) => {
        $(impl ErrorCodes for $response {
            fn error_codes(&self, each: &mut dyn FnMut(i16)) {
                each(self.error_code);
            }
        })*
    };
}

top_level!(
    ApiVersionsResponse,
    DescribeClusterResponse,
    HeartbeatResponse,
    InitProducerIdResponse,
    JoinGroupResponse,
    ListGroupsResponse,
    SyncGroupResponse,
);

/// Responses whose codes sit one level down, in a list of results.
macro_rules! per_result {
    ($($response:ty => $list:ident),* $(,)?) => {
        $(impl ErrorCodes for $response {
            fn error_codes(&self, each: &mut dyn FnMut(i16)) {
                for result in &self.$list {
                    each(result.error_code);
                }
            }
        })*
    };
}

per_result!(
    AlterConfigsResponse => responses,
    IncrementalAlterConfigsResponse => responses,
    CreatePartitionsResponse => results,
    DeleteGroupsResponse => results,
    DeleteTopicsResponse => responses,
    DescribeConfigsResponse => results,
    DescribeGroupsResponse => groups,
);

/// Responses whose codes are per partition, in a list of topics.
macro_rules! per_partition {
    ($($response:ty => $topics:ident . $partitions:ident),* $(,)?) => {
        $(impl ErrorCodes for $response {
            fn error_codes(&self, each: &mut dyn FnMut(i16)) {
                for topic in &self.$topics {
                    for partition in &topic.$partitions {
                        each(partition.error_code);
                    }
                }
            }
        })*
    };
}

per_partition!(
    DeleteRecordsResponse => topics.partitions,
    ListOffsetsResponse => topics.partitions,
    OffsetCommitResponse => topics.partitions,
    OffsetForLeaderEpochResponse => topics.partitions,
    ProduceResponse => responses.partition_responses,
);

impl ErrorCodes for CreateTopicsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        for topic in &self.topics {
            each(topic.error_code);
        }
    }
}

impl ErrorCodes for DescribeLogDirsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        for result in &self.results {
            each(result.error_code);
        }
    }
}

impl ErrorCodes for FindCoordinatorResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        for coordinator in &self.coordinators {
            each(coordinator.error_code);
        }
    }
}

impl ErrorCodes for LeaveGroupResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        for member in &self.members {
            each(member.error_code);
        }
    }
}

impl ErrorCodes for MetadataResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        for topic in &self.topics {
            each(topic.error_code);
            for partition in &topic.partitions {
                each(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for OffsetDeleteResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        for topic in &self.topics {
            for partition in &topic.partitions {
                each(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for OffsetFetchResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        for topic in &self.topics {
            for partition in &topic.partitions {
                each(partition.error_code);
            }
        }
        for group in &self.groups {
            each(group.error_code);
            for topic in &group.topics {
                for partition in &topic.partitions {
                    each(partition.error_code);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponsePartition, MetadataResponseTopic,
    };

    fn codes(response: &impl ErrorCodes) -> Vec<i16> {
        let mut codes = Vec::new();
        response.error_codes(&mut |code| codes.push(code));
        codes
    }

    #[test]
    fn nested_codes_are_all_visited() {
        let response =
            MetadataResponse::default().with_topics(vec![MetadataResponseTopic::default()
                .with_error_code(3)
                .with_partitions(vec![MetadataResponsePartition::default().with_error_code(5)])]);
        assert_eq!(codes(&response), vec![0, 3, 5]);
        assert_eq!(
            codes(&HeartbeatResponse::default().with_error_code(27)),
            vec![27]
        );
    }
}
