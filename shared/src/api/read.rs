//! Read markers: where a member left off, the same on all their devices.

use serde::{Deserialize, Serialize};

use super::conversations::with_membership;
use crate::domain::caller::Caller;
use crate::domain::ids::ConversationId;
use crate::domain::model::unread;
use crate::infra::store::MarkOutcome;
use crate::{ApiError, App, ErrorCode};

/// `PUT …/read`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadMark {
    /// Everything up to this `seq` has been seen.
    pub seq: u64,
}

/// Where the caller's marker is after the call.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReadState {
    pub conversation_id: String,
    /// The marker: the `seq` asked for, or a higher one another device set first.
    pub read_seq: u64,
    /// The newest `seq` as this call read it.
    pub last_seq: u64,
    pub unread_count: u64,
}

/// `PUT /conversations/{cid}/read`: moves the caller's marker forward to `seq` (never back; a
/// lower `seq` than the marker answers where it is). Members only (the usual 404 otherwise,
/// also for a member removed while the call ran); `seq` must be a message's (1 to `last_seq`).
/// The move reaches the caller's other open devices as a `read` frame (docs/push.md).
pub async fn mark(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    mark: ReadMark,
) -> Result<ReadState, ApiError> {
    if mark.seq == 0 {
        return Err(invalid_seq(
            "seq must be a message's sequence number (from 1)",
        ));
    }
    // Membership first: a non-member learns nothing of the conversation, not even its length.
    let (_, c) = with_membership(app, caller, conversation_id).await?;
    if mark.seq > c.last_seq {
        return Err(invalid_seq(format!(
            "seq {} is past the newest message ({})",
            mark.seq, c.last_seq
        )));
    }
    let read_seq = match app
        .store
        .mark_read(conversation_id, &caller.user_id, mark.seq)
        .await?
    {
        MarkOutcome::Moved => mark.seq,
        MarkOutcome::Ahead(at) => at,
        MarkOutcome::NotMember => return Err(ApiError::not_found()),
    };
    // A marker ahead of the counter as read here moved with a send since: history is at least
    // that long.
    let last_seq = c.last_seq.max(read_seq);
    Ok(ReadState {
        conversation_id: conversation_id.to_string(),
        read_seq,
        last_seq,
        unread_count: unread(last_seq, read_seq),
    })
}

fn invalid_seq(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidSeq, message)
}
