//! DeleteGroups: only groups without members (Empty) are deleted, with
//! their committed offsets; others get NON_EMPTY_GROUP.

use std::rc::Rc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::group;
use crate::shard::Shard;

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: DeleteGroupsRequest) -> Reply {
    let asks = request.groups_names.iter().map(|group_id| {
        let group_id = group_id.to_string();
        async move {
            let key = group_id.clone();
            group::on_coordinator(shard, &key, move |owner| {
                group::delete_group(owner, group_id)
            })
            .await
            .and_then(|result| result)
        }
    });
    let answers = futures_util::future::join_all(asks).await;
    let results = request
        .groups_names
        .iter()
        .zip(answers)
        .map(|(group_id, answer)| {
            DeletableGroupResult::default()
                .with_group_id(group_id.clone())
                .with_error_code(answer.err().map_or(error_code::NONE, |error| error.code()))
        })
        .collect();
    encode(
        preamble,
        &DeleteGroupsResponse::default().with_results(results),
    )
}
