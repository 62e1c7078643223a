//! DescribeCluster: this broker is the whole cluster and its controller.

use std::rc::Rc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::authorized_operations;
use super::metadata::CLUSTER_ID;
use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::listeners::Endpoint;
use crate::shard::Shard;

/// Kafka's `EndpointType` codes (DescribeCluster v1+).
const ENDPOINT_BROKERS: i8 = 1;

pub async fn handle(
    shard: &Rc<Shard>,
    preamble: Preamble,
    request: DescribeClusterRequest,
    advertised: &Endpoint,
) -> Reply {
    let response = DescribeClusterResponse::default().with_endpoint_type(ENDPOINT_BROKERS);
    // This listener serves brokers; there is no separate controller endpoint.
    if preamble.api_version >= 1 && request.endpoint_type != ENDPOINT_BROKERS {
        return encode(
            preamble,
            &response
                .with_error_code(ResponseError::MismatchedEndpointType.code())
                .with_error_message(Some(StrBytes::from_string(format!(
                    "endpoint type {} was asked for; this is a broker endpoint ({ENDPOINT_BROKERS})",
                    request.endpoint_type
                )))),
        );
    }
    let node_id = shard.config.node_id();
    let (host, port) = (advertised.host.clone(), advertised.port);
    let operations = authorized_operations::answer(
        request.include_cluster_authorized_operations,
        authorized_operations::CLUSTER,
    );
    let response = response
        .with_error_code(error_code::NONE)
        .with_cluster_id(StrBytes::from_static_str(CLUSTER_ID))
        .with_controller_id(BrokerId(node_id))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(node_id))
            .with_host(StrBytes::from_string(host))
            .with_port(i32::from(port))
            .with_rack(None)
            .with_is_fenced(false)])
        .with_cluster_authorized_operations(operations);
    encode(preamble, &response)
}
