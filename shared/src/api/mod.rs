//! What callers can do, each operation with its validation and membership check. Handlers map
//! HTTP to these calls and the results back to HTTP; nothing here knows about HTTP.

pub mod conversations;
pub mod files;
pub mod files_backfill;
pub mod forwarded;
pub mod invites;
pub mod members;
pub mod messages;
pub mod people;
pub mod previews;
pub mod read;
pub mod search;
pub mod uploads;

use std::future::Future;

use crate::domain::caller::Caller;
use crate::domain::model::Member;
use crate::{ApiError, App};

/// Which page of a listing is asked for: at most `limit` items, after `after` (from the start
/// without).
pub struct Paging<P> {
    pub limit: u32,
    pub after: Option<P>,
}

/// Runs `work` concurrently with the caller's membership lookup, so a guarded read costs one
/// storage round trip of latency. Anyone who is not a member gets `404 not_found`, the same
/// answer as for a conversation that does not exist, as soon as that is known: `work` is
/// dropped, so how long it would have taken (how much a search reads) tells them nothing.
pub async fn as_member<T>(
    app: &App,
    caller: &Caller,
    conversation_id: &str,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<(Member, T), ApiError> {
    let membership = async {
        let member = app.store.get_member(conversation_id, &caller.user_id);
        member.await?.ok_or_else(ApiError::not_found)
    };
    // `work`'s own error waits for the membership: a non-member gets the 404, not it.
    let work = async { Ok(work.await) };
    let (member, value) = futures::future::try_join(membership, work).await?;
    Ok((member, value?))
}

/// Membership alone, for writes that must not start before it is known.
pub async fn require_member(
    app: &App,
    caller: &Caller,
    conversation_id: &str,
) -> Result<Member, ApiError> {
    app.store
        .get_member(conversation_id, &caller.user_id)
        .await?
        .ok_or_else(ApiError::not_found)
}
