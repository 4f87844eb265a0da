//! Invites table: `code` (hash); GSI `by-conversation` (`conversation_id` + `created_at`) lists a
//! group's invites newest first. An invite is only ever spent inside the transaction that adds
//! the member ([`use_invite`]), so its conditions (not revoked, not expired, uses left) hold
//! exactly for the members it lets in.

use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::codec::{from_item, key, n, page_of, put_new, s, to_item, update, update_part};
use super::messages::Guard;
use super::{condition_failed, conditional_write, Store, INVITES_BY_CONVERSATION_INDEX};
use crate::domain::cursor::InvitesAfter;
use crate::ApiError;

/// An invite as stored.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub code: String,
    pub conversation_id: String,
    pub created_by: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds; accepting needs `now < expires_at`.
    pub expires_at: i64,
    /// `None`: any number of people may use it until it expires.
    pub max_uses: Option<u64>,
    pub uses: u64,
    pub revoked_at: Option<i64>,
    /// TTL (epoch seconds): a week after expiry the item goes.
    pub expires_at_s: i64,
}

impl Invite {
    /// Whether it may still let someone in at `now_ms` (what [`use_invite`] checks in the write).
    pub fn usable(&self, now_ms: i64) -> bool {
        self.revoked_at.is_none()
            && now_ms < self.expires_at
            && self.max_uses.is_none_or(|max| self.uses < max)
    }
}

impl Store {
    /// Stores a new invite, conditioned on its creator being an owner or admin of the group
    /// when it commits, and since its `created_at` (so it is not born dead). With a `request`
    /// key (derived from the creator's `client_request_id`), a record of which code that
    /// request made is written in the same transaction, so a retry finds the first invite
    /// instead of making a second one: [`PutInvite::Existing`].
    pub async fn put_invite_once(
        &self,
        invite: &Invite,
        request: Option<&str>,
    ) -> Result<PutInvite, ApiError> {
        let Some(request) = request else {
            return Ok(match self.put_invite_with(invite, None).await? {
                Ok(()) => PutInvite::Stored,
                Err(_) => PutInvite::NotAllowed,
            });
        };
        // Not an invite: no `conversation_id`/`created_at`, so not in the listing index, and its
        // key has a character no invite code has.
        let record = key([
            ("code", s(request_record(request))),
            ("invite_code", s(&invite.code)),
            ("expires_at_s", n(invite.expires_at_s)),
        ]);
        let record = put_new(&self.tables.invites, record, "code");
        match self.put_invite_with(invite, Some(record)).await? {
            Ok(()) => Ok(PutInvite::Stored),
            Err(reasons) => {
                if condition_failed(&reasons, 2) {
                    let record = [("code", s(request_record(request)))];
                    let item = self
                        .get_item(&self.tables.invites, record, "invites.request")
                        .await?;
                    let code = item
                        .as_ref()
                        .and_then(|i| i.get("invite_code")?.as_s().ok().cloned());
                    if let Some(code) = code {
                        if let Some(first) = self.get_invite(&code).await? {
                            return Ok(PutInvite::Existing(Box::new(first)));
                        }
                    }
                    return Err(ApiError::unavailable());
                }
                Ok(PutInvite::NotAllowed)
            }
        }
    }

    /// The invite put and the creator's role check (and `extra`), in one transaction; a
    /// cancellation answers with each part's reason code.
    async fn put_invite_with(
        &self,
        invite: &Invite,
        extra: Option<TransactWriteItem>,
    ) -> Result<Result<(), Vec<CancellationReason>>, ApiError> {
        let put = put_new(&self.tables.invites, to_item(invite), "code");
        let guard = self
            .guard_check(
                &invite.conversation_id,
                Guard::ManagerSince(&invite.created_by, invite.created_at),
            )
            .expect("a role guard is a condition check");
        let mut parts = vec![put, guard];
        parts.extend(extra);
        let result = self.transact(parts, "invites.put").await?;
        Ok(result.map_err(|cancelled| cancelled.reasons))
    }

    pub async fn get_invite(&self, code: &str) -> Result<Option<Invite>, ApiError> {
        let key = [("code", s(code))];
        let item = self
            .get_item(&self.tables.invites, key, "invites.get")
            .await?;
        item.as_ref()
            .map(|item| from_item("invite", item))
            .transpose()
    }

    /// One page of a group's invites, newest first, and whether more follow.
    pub async fn list_invites(
        &self,
        conversation_id: &str,
        after: Option<&InvitesAfter>,
        limit: u32,
    ) -> Result<(Vec<Invite>, bool), ApiError> {
        let start = after.map(|a| {
            key([
                ("code", s(&a.code)),
                ("conversation_id", s(conversation_id)),
                ("created_at", n(a.created_at)),
            ])
        });
        let out = self
            .query_conversation(&self.tables.invites, conversation_id)
            .index_name(INVITES_BY_CONVERSATION_INDEX)
            .scan_index_forward(false)
            .limit(limit as i32 + 1)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("invites.list", e))?;
        page_of(out, limit, |item| from_item("invite", item))
    }

    /// Revokes a group's invite (a revoked one stays revoked at its first time). `false`: no
    /// such invite in this group.
    pub async fn revoke_invite(
        &self,
        conversation_id: &str,
        code: &str,
        now_ms: i64,
    ) -> Result<bool, ApiError> {
        let result = self
            .update_item(&self.tables.invites, [("code", s(code))])
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :now)")
            .condition_expression("conversation_id = :c")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":c", s(conversation_id))
            .send()
            .await;
        conditional_write(result, "invites.revoke")
    }
}

/// What storing an invite did.
#[derive(Debug)]
pub enum PutInvite {
    Stored,
    /// A retry of the request that made this invite.
    Existing(Box<Invite>),
    /// The creator is no longer an owner or admin of the group.
    NotAllowed,
}

/// The key of the record of which invite a `client_request_id` made (`#` is no code character).
fn request_record(request: &str) -> String {
    format!("request#{request}")
}

/// Transaction part: spend one use of the invite, if it is still usable at `now_ms`. A revoke,
/// the expiry or the last use committed first makes the whole join fail.
pub fn use_invite(store: &Store, code: &str, now_ms: i64) -> TransactWriteItem {
    update_part(
        update(&store.tables.invites, [("code", s(code))])
            .update_expression("ADD uses :one")
            .condition_expression(
                "attribute_exists(code) AND attribute_not_exists(revoked_at) \
                 AND expires_at > :now \
                 AND (attribute_not_exists(max_uses) OR uses < max_uses)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now_ms)),
    )
}
