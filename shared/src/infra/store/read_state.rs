//! Read markers, on the member items: `read_seq` (every entry up to it counts as read, on all the
//! member's devices) and `read_via`, what moved it last: `append` (the member's own append, in
//! its transaction) or `mark` (`PUT …/read`). Only `mark` moves go to the member's other devices
//! as a frame of their own (the Members table's stream, filtered on it); a device learns of an
//! `append` move from the message frame of the member's own entry.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::codec::{key, n, s, Item};
use super::members::{member_from_item, member_key};
use super::Store;
use crate::domain::model::Member;
use crate::ApiError;

/// `read_via` of a marker moved by the member's own append.
pub const VIA_APPEND: &str = "append";
/// `read_via` of a marker moved by `PUT …/read`: the stream's filter passes these.
pub const VIA_MARK: &str = "mark";

/// The `SET` clauses an append's update of its author's member item adds (with [`reading_to`]'s
/// values).
pub(super) const READ_BY_APPEND: &str = "read_seq = :read_seq, read_via = :read_via";

/// The values of [`READ_BY_APPEND`]: the marker moves to `seq`, the entry the author appended.
/// Unconditionally: `seq` is the new `last_seq`, so no marker can be ahead of it.
pub(super) fn reading_to(update: UpdateBuilder, seq: u64) -> UpdateBuilder {
    update
        .expression_attribute_values(":read_seq", n(seq))
        .expression_attribute_values(":read_via", s(VIA_APPEND))
}

/// A marker moved by `PUT …/read`, as the members table's stream shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkerMove {
    pub conversation_id: String,
    pub user_id: String,
    pub read_seq: u64,
}

/// Whether a stream record's key is a member item's (conversation and user).
pub fn is_member_key(keys: &Item) -> bool {
    keys.contains_key("user_id") && keys.contains_key("conversation_id")
}

/// The marker move a member item's change carries, if it is one: the new image says the
/// marker was last moved by `PUT …/read` (`read_via = mark`) and it is past the old image's.
/// Anything else (a join, a role change, a move by the member's own append, a repeat of the
/// same move when something else on the item changes) carries none. Both images are needed
/// (the stream is `NEW_AND_OLD_IMAGES`); an item without its key attributes is an error.
pub fn marker_from_images(new: &Item, old: &Item) -> Result<Option<MarkerMove>, ApiError> {
    let text = |item: &Item, name: &str| item.get(name)?.as_s().ok().cloned();
    let number = |item: &Item| item.get("read_seq")?.as_n().ok()?.parse::<u64>().ok();
    if text(new, "read_via").as_deref() != Some(VIA_MARK) {
        return Ok(None);
    }
    let (Some(conversation_id), Some(user_id), Some(read_seq)) = (
        text(new, "conversation_id"),
        text(new, "user_id"),
        number(new),
    ) else {
        return Err(ApiError::corrupt(
            "member",
            "a marked item without its key or read_seq",
        ));
    };
    if read_seq <= number(old).unwrap_or(0) {
        return Ok(None);
    }
    Ok(Some(MarkerMove {
        conversation_id,
        user_id,
        read_seq,
    }))
}

/// What moving a marker did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkOutcome {
    /// The marker is at the new `seq` now.
    Moved,
    /// It already was at or past it (another device got there first): where it is.
    Ahead(u64),
    /// The user is not a member (never was, or removed meanwhile): nothing was written.
    NotMember,
}

impl Store {
    /// Moves `user_id`'s marker in the conversation forward to `seq`, never back: one
    /// conditional UpdateItem (`read_seq < seq`, and the member item must exist, so a removed
    /// member's marker is never recreated). Two devices racing leave the higher value. The
    /// caller checks `seq <= last_seq` first; `last_seq` only grows, so that stays true.
    pub async fn mark_read(
        &self,
        conversation_id: &str,
        user_id: &str,
        seq: u64,
    ) -> Result<MarkOutcome, ApiError> {
        let key = member_key(conversation_id, user_id);
        let result = self
            .update_item(&self.tables.members, key)
            .update_expression("SET read_seq = :n, read_via = :via")
            .condition_expression(
                "attribute_exists(user_id) AND (attribute_not_exists(read_seq) OR read_seq < :n)",
            )
            .expression_attribute_values(":n", n(seq))
            .expression_attribute_values(":via", s(VIA_MARK))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(MarkOutcome::Moved),
            Err(err) => err,
        };
        // The condition failed: the item as it was (ALL_OLD) tells a marker already there from
        // no member at all.
        if let Some(UpdateItemError::ConditionalCheckFailedException(failed)) =
            err.as_service_error()
        {
            return match failed.item() {
                Some(item) => Ok(MarkOutcome::Ahead(member_from_item(item)?.read_seq)),
                None => Ok(MarkOutcome::NotMember),
            };
        }
        Err(ApiError::from_sdk("members.mark_read", err))
    }

    /// `user_id`'s memberships of these conversations (at most 100), by conversation id, in one
    /// strongly consistent BatchGetItem: roles and read markers as they are now.
    pub async fn memberships(
        &self,
        user_id: &str,
        conversation_ids: &[impl AsRef<str>],
    ) -> Result<HashMap<String, Member>, ApiError> {
        let keys = conversation_ids
            .iter()
            .map(|c| key(member_key(c.as_ref(), user_id)))
            .collect();
        let members = self.members_at(keys).await?;
        Ok(members
            .into_iter()
            .map(|m| (m.conversation_id.clone(), m))
            .collect())
    }
}
