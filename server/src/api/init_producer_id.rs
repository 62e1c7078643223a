//! InitProducerId for idempotent producers: a fresh producer id (epoch 0),
//! or, when a producer asks with its id and epoch (KIP-360), the same id
//! with the next epoch. Transactional ids are refused until transactions
//! are built.

use std::rc::Rc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::controller;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    preamble: Preamble,
    request: InitProducerIdRequest,
) -> Reply {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        let refused = response.with_error_code(ResponseError::UnsupportedVersion.code());
        return encode(preamble, &refused);
    }
    let (producer_id, epoch) = (request.producer_id.0, request.producer_epoch);
    if producer_id >= 0 && (0..i16::MAX - 1).contains(&epoch) {
        let bumped = response
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch + 1);
        return encode(preamble, &bumped);
    }
    let answer = match controller::allocate_producer_id(shard).await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err((error, message)) => {
            tracing::error!("InitProducerId: {message}");
            response.with_error_code(error.code())
        }
    };
    encode(preamble, &answer)
}
