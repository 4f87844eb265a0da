//! Members table: `conversation_id` (hash) + `user_id` (range). A member's item also holds
//! their read marker (`read_seq`), which the table's stream takes to their other devices.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Select, TransactWriteItem};

use serde::{Deserialize, Serialize};

use super::codec::{from_item, key, n, page_of, put_new, s, to_item, update, update_part, Item};
use super::{Read, Store};
use crate::domain::cursor::MembersAfter;
use crate::domain::model::{Member, Role};
use crate::ApiError;

impl Store {
    /// These users' (distinct, at most 100) member items in the conversation, now (one strongly
    /// consistent BatchGetItem), by user id; a user who is not a member is left out.
    pub async fn members_in(
        &self,
        conversation_id: &str,
        user_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, Member>, ApiError> {
        let keys = user_ids
            .iter()
            .map(|u| key(member_key(conversation_id, u)))
            .collect();
        let members = self.members_at(keys).await?;
        Ok(members
            .into_iter()
            .map(|m| (m.user_id.clone(), m))
            .collect())
    }

    /// The member items with these keys (at most 100), in one strongly consistent BatchGetItem.
    pub(super) async fn members_at(&self, keys: Vec<Item>) -> Result<Vec<Member>, ApiError> {
        let table = &self.tables.members;
        let items = self
            .batch_get(table, keys, Read::Consistent, "members.batch_get")
            .await?;
        items.iter().map(member_from_item).collect()
    }

    /// The caller's membership, read strongly consistent so a removal takes effect at once.
    pub async fn get_member(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<Option<Member>, ApiError> {
        let key = member_key(conversation_id, user_id);
        let item = self
            .get_item(&self.tables.members, key, "members.get")
            .await?;
        item.as_ref().map(member_from_item).transpose()
    }

    /// A conversation's members, or those with `role`, counted from the table (to fill the
    /// counters of conversations created before they were kept).
    pub async fn count_members(
        &self,
        conversation_id: &str,
        role: Option<Role>,
    ) -> Result<usize, ApiError> {
        let mut query = self.query_conversation(&self.tables.members, conversation_id);
        if let Some(role) = role {
            query = query
                .filter_expression("#r = :role")
                .expression_attribute_names("#r", "role")
                .expression_attribute_values(":role", s(role.as_str()));
        }
        let pages = query
            .select(Select::Count)
            .consistent_read(true)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| ApiError::from_sdk("members.count", e))?;
        Ok(pages.iter().map(|page| page.count.max(0) as usize).sum())
    }

    /// Every member's user id and `joined_seq`, all pages (only those two are read, so 2,000
    /// members are one or two round trips). Strongly consistent, so a push right after a
    /// removal or an addition goes to the members as they are now.
    pub async fn member_joins(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<(String, u64)>, ApiError> {
        let items = self
            .query_conversation(&self.tables.members, conversation_id)
            .projection_expression("user_id, joined_seq")
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| ApiError::from_sdk("members.ids", e))?;
        let joined = |item: &Item| {
            let user_id = item.get("user_id")?.as_s().ok()?.clone();
            let seq = item
                .get("joined_seq")
                .and_then(|n| n.as_n().ok()?.parse().ok());
            Some((user_id, seq.unwrap_or(0)))
        };
        Ok(items.iter().filter_map(joined).collect())
    }

    /// One page of a conversation's members, ordered by user id, and whether more follow.
    pub async fn list_members(
        &self,
        conversation_id: &str,
        after: Option<&MembersAfter>,
        limit: u32,
    ) -> Result<(Vec<Member>, bool), ApiError> {
        let start = after.map(|a| key(member_key(conversation_id, &a.user_id)));
        let out = self
            .query_conversation(&self.tables.members, conversation_id)
            .limit(limit as i32 + 1)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("members.list", e))?;
        page_of(out, limit, member_from_item)
    }
}

/// A Members item.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
struct MemberRow {
    conversation_id: String,
    user_id: String,
    role: Role,
    joined_at: i64,
    /// Absent on memberships stored before it was kept (read as 0).
    joined_seq: Option<u64>,
    /// Absent on memberships stored before read markers (read as 0).
    read_seq: Option<u64>,
    manages_since: Option<i64>,
    /// Absent until the member acts here (`Member::acted`).
    acted: Option<bool>,
}

pub(super) fn member_item(m: &Member) -> Item {
    to_item(&MemberRow {
        conversation_id: m.conversation_id.clone(),
        user_id: m.user_id.clone(),
        role: m.role,
        joined_at: m.joined_at_ms,
        joined_seq: (m.joined_seq > 0).then_some(m.joined_seq),
        read_seq: Some(m.read_seq),
        manages_since: m.manages_since_ms,
        acted: m.acted.then_some(true),
    })
}

/// Transaction part: add `m` unless already a member.
pub fn put_member_if_absent(store: &Store, m: &Member) -> TransactWriteItem {
    put_new(&store.tables.members, member_item(m), "user_id")
}

/// Transaction part: remove a member who is still as the caller read them: the role decided on
/// (a concurrent role change makes the caller decide again, e.g. about the owner count), and
/// whether they have acted there (which decides whether the group keeps naming them).
pub fn delete_member_as_seen(store: &Store, seen: &Member) -> TransactWriteItem {
    let acted = match seen.acted {
        true => "acted = :acted",
        false => "attribute_not_exists(acted)",
    };
    let delete = Delete::builder()
        .table_name(&store.tables.members)
        .set_key(Some(key(member_key(&seen.conversation_id, &seen.user_id))))
        .condition_expression(format!("#role = :seen AND {acted}"))
        .expression_attribute_names("#role", "role")
        .expression_attribute_values(":seen", s(seen.role.as_str()));
    let delete = match seen.acted {
        true => delete.expression_attribute_values(":acted", AttributeValue::Bool(true)),
        false => delete,
    };
    TransactWriteItem::builder()
        .delete(delete.build().expect("table, key set"))
        .build()
}

/// Transaction part: change a member's role from the one the caller decided on. Becoming an
/// owner or admin from neither at `now_ms` restarts `manages_since`, so links they made before
/// stay dead. A member changing their own role wrote the entry that records it: `reads_to` is
/// its seq, and their read marker moves there too (the same item, so the same part).
pub fn set_member_role(
    store: &Store,
    conversation_id: &str,
    user_id: &str,
    from: Role,
    to: Role,
    now_ms: i64,
    reads_to: Option<u64>,
) -> TransactWriteItem {
    let mut set = "SET #role = :to".to_string();
    let mut update = update(&store.tables.members, member_key(conversation_id, user_id))
        .condition_expression("#role = :from")
        .expression_attribute_names("#role", "role")
        .expression_attribute_values(":from", s(from.as_str()))
        .expression_attribute_values(":to", s(to.as_str()));
    if to.can_manage_members() && !from.can_manage_members() {
        set.push_str(", manages_since = :now");
        update = update.expression_attribute_values(":now", n(now_ms));
    }
    if let Some(seq) = reads_to {
        set = format!("{set}, {}", super::read_state::READ_BY_APPEND);
        update = super::read_state::reading_to(update, seq);
    }
    update_part(update.update_expression(set))
}

/// The key of `user_id`'s member item in the conversation.
pub(super) fn member_key(
    conversation_id: &str,
    user_id: &str,
) -> [(&'static str, AttributeValue); 2] {
    [
        ("conversation_id", s(conversation_id)),
        ("user_id", s(user_id)),
    ]
}

pub(super) fn member_from_item(item: &Item) -> Result<Member, ApiError> {
    let row: MemberRow = from_item("member", item)?;
    Ok(Member {
        conversation_id: row.conversation_id,
        user_id: row.user_id,
        role: row.role,
        joined_at_ms: row.joined_at,
        joined_seq: row.joined_seq.unwrap_or(0),
        read_seq: row.read_seq.unwrap_or(0),
        manages_since_ms: row.manages_since,
        acted: row.acted.unwrap_or(false),
    })
}
