//! Read markers on the members table's stream: a marker moved by `PUT …/read` goes to the open
//! connections of its user, and of nobody else, as a [`ReadFrame`]. The device that moved it
//! gets it too and finds nothing to do (it already shows that marker). A marker moved by the
//! user's own append is not pushed: their devices learn it from that entry's message frame.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::Semaphore;

use super::fanout::{post_each, Counts, Deliver};
use super::ReadFrame;
use crate::infra::store::{is_member_key, marker_from_images, MarkerMove, Store};
use crate::ApiError;

/// Whether `record` is the members table's (its key is a member item's).
pub fn is_member_record(record: &EventRecord) -> bool {
    let keys: HashMap<String, AttributeValue> = record.change.keys.clone().into();
    is_member_key(&keys)
}

/// The marker move a members-table record carries, if any (only `MODIFY`s can).
pub fn marker_of(record: &EventRecord) -> Result<Option<MarkerMove>, ApiError> {
    if record.event_name != "MODIFY" {
        return Ok(None);
    }
    let new: HashMap<String, AttributeValue> = record.change.new_image.clone().into();
    let old: HashMap<String, AttributeValue> = record.change.old_image.clone().into();
    if new.is_empty() || old.is_empty() {
        return Err(ApiError::internal().with_fault(
            "push.decode",
            "member record without both images (the stream must be NEW_AND_OLD_IMAGES)",
        ));
    }
    marker_from_images(&new, &old)
}

/// Posts each move to its user's connections (one connections read for all the batch's users),
/// within the invocation's `posting` slots.
pub async fn push_markers<D: Deliver>(
    store: &Store,
    deliver: &D,
    posting: &Semaphore,
    moves: &[MarkerMove],
    now_s: i64,
) -> Result<Counts, ApiError> {
    let mut users: Vec<String> = moves.iter().map(|m| m.user_id.clone()).collect();
    users.sort();
    users.dedup();
    let connections = store.connections_of(&users, now_s).await?;
    // Each connection gets its user's moves in stream order.
    let posts: Vec<_> = connections
        .into_iter()
        .map(|connection| {
            let frames: Vec<Vec<u8>> = moves
                .iter()
                .filter(|m| m.user_id == connection.user_id)
                .map(|m| {
                    serde_json::to_vec(&ReadFrame::new(&m.conversation_id, m.read_seq))
                        .expect("a frame serialises")
                })
                .collect();
            (connection, frames)
        })
        .collect();
    Ok(post_each(store, deliver, posting, posts, now_s).await)
}
