//! ApiVersions: the table in `versions.rs`, nothing more.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, encode_with_header_version, versions, Preamble};

fn response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = versions::SUPPORTED
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(*min)
                .with_max_version(*max)
        })
        .collect();
    // Only fields that are set: librdkafka 2.0 mis-reads defaulted tagged fields.
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}

pub fn handle(preamble: Preamble, _request: ApiVersionsRequest) -> Reply {
    encode(preamble, &response(0))
}

/// A client asked for a version we lack: answer in v0 with the table, so
/// it can retry with one we have (Kafka's behaviour).
pub fn unsupported_version(preamble: Preamble) -> Reply {
    encode_with_header_version(
        preamble,
        &response(ResponseError::UnsupportedVersion.code()),
        0,
        0,
    )
}
