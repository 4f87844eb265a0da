//! Conversations table: `conversation_id` (hash); holds the title, the `last_seq` counter, and
//! what the group list shows of the last entry (`last_activity`, `last_message`).

use aws_sdk_dynamodb::types::AttributeValue;

use serde::{Deserialize, Serialize};

use super::codec::{from_item, key_batches, put_new, s, to_item, Item};
use super::members::put_member_if_absent;
use super::messages::SystemRow;
use super::profiles::profile_joined;
use super::{condition_failed, Read, Store};
use crate::domain::model::{Conversation, LastBody, LastMessage, Member, Message, Role};
use crate::ApiError;

/// DynamoDB allows 100 parts per transaction: the conversation, its first message, and each
/// member with the update of their profile's groups.
pub const MAX_INITIAL_MEMBERS: usize = 49;

/// How a [`Store::create_conversation`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    Now,
    /// A conversation with this id exists.
    Exists,
    /// This member is in the most groups one person may be in.
    TooManyGroups(String),
}

impl Store {
    /// Creates the conversation, its members and its first (system) message in one transaction.
    /// Nothing is written unless it answers [`Created::Now`].
    pub async fn create_conversation(
        &self,
        conversation: &Conversation,
        members: &[Member],
        first_message: &Message,
    ) -> Result<Created, ApiError> {
        debug_assert_eq!(conversation.last_seq, first_message.seq);
        let owners = members.iter().filter(|m| m.role == Role::Owner).count();
        let item = conversation_item(conversation, owners);
        let mut items = vec![
            put_new(&self.tables.conversations, item, "conversation_id"),
            self.put_new_message(first_message),
        ];
        for m in members {
            items.push(put_member_if_absent(self, m));
            items.push(profile_joined(self, &m.user_id, &m.conversation_id));
        }
        let cancelled = match self.transact(items, "conversations.create").await? {
            Ok(()) => return Ok(Created::Now),
            Err(cancelled) => cancelled,
        };
        let failed = |i: usize| condition_failed(&cancelled.reasons, i);
        if failed(0) {
            return Ok(Created::Exists);
        }
        // Each member's profile part follows their member part: 3, 5, 7, …
        match (0..members.len()).find(|m| failed(3 + 2 * m)) {
            Some(m) => Ok(Created::TooManyGroups(members[m].user_id.clone())),
            None => Err(cancelled.error),
        }
    }

    pub async fn get_conversation(
        &self,
        conversation_id: &str,
    ) -> Result<Option<Conversation>, ApiError> {
        let key = [("conversation_id", s(conversation_id))];
        let table = &self.tables.conversations;
        let item = self.get_item(table, key, "conversations.get").await?;
        item.as_ref().map(conversation_from_item).transpose()
    }

    /// Conversations by id, strongly consistent (what the group list orders and counts by):
    /// BatchGetItem calls of 100 ids each, all in flight together. Ids without an item are
    /// left out.
    pub async fn conversations_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<Conversation>, ApiError> {
        let table = &self.tables.conversations;
        let calls = key_batches("conversation_id", ids)
            .map(|keys| self.batch_get(table, keys, Read::Consistent, "conversations.batch_get"));
        let pages = futures::future::try_join_all(calls).await?;
        pages.iter().flatten().map(conversation_from_item).collect()
    }
}

/// A Conversations item. `owner_count` and `member_count` are kept by every append that changes
/// them (see `Append::owner_delta`, `Append::member_delta`); older conversations may lack them
/// until one needs them.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
struct ConversationRow {
    conversation_id: String,
    title: String,
    created_by: String,
    created_at: i64,
    last_seq: u64,
    owner_count: Option<i64>,
    /// Kept like `owner_count` (`Append::member_delta`).
    member_count: Option<i64>,
    /// Set by every append with `last_seq` (absent until a conversation's first append since).
    last_activity: Option<i64>,
    last_message: Option<LastRow>,
    created_for: Option<String>,
}

/// `last_message`: a map with the entry's `seq`, `sender`, `sent_at`, `kind` and a snippet of
/// its content (text), the file's name (file), or the event (system, as a message's attributes).
#[derive(Serialize, Deserialize)]
struct LastRow {
    seq: u64,
    sender: String,
    sent_at: i64,
    #[serde(flatten)]
    body: LastBodyRow,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum LastBodyRow {
    Text {
        text: String,
    },
    File {
        file_name: String,
    },
    System {
        #[serde(flatten)]
        event: SystemRow,
    },
    Deleted {},
}

impl From<&LastMessage> for LastRow {
    fn from(m: &LastMessage) -> Self {
        let body = match &m.body {
            LastBody::Text(text) => LastBodyRow::Text { text: text.clone() },
            LastBody::File(name) => LastBodyRow::File {
                file_name: name.clone(),
            },
            LastBody::System(e) => LastBodyRow::System { event: e.into() },
            LastBody::Deleted => LastBodyRow::Deleted {},
        };
        Self {
            seq: m.seq,
            sender: m.sender.clone(),
            sent_at: m.sent_at_ms,
            body,
        }
    }
}

impl From<LastRow> for LastMessage {
    fn from(row: LastRow) -> Self {
        let body = match row.body {
            LastBodyRow::Text { text } => LastBody::Text(text),
            LastBodyRow::File { file_name } => LastBody::File(file_name),
            LastBodyRow::System { event } => LastBody::System(event.into()),
            LastBodyRow::Deleted {} => LastBody::Deleted,
        };
        Self {
            seq: row.seq,
            sender: row.sender,
            sent_at_ms: row.sent_at,
            body,
        }
    }
}

/// The preview of `m` as the value of `last_message` (what an append sets).
pub(super) fn last_message_value(m: &Message) -> AttributeValue {
    AttributeValue::M(to_item(&LastRow::from(&LastMessage::of(m))))
}

pub(super) fn conversation_item(c: &Conversation, owners: usize) -> Item {
    to_item(&ConversationRow {
        conversation_id: c.conversation_id.clone(),
        title: c.title.clone(),
        created_by: c.created_by.clone(),
        created_at: c.created_at_ms,
        last_seq: c.last_seq,
        owner_count: Some(owners as i64),
        member_count: c.member_count.map(|n| n as i64),
        last_activity: c.last_activity_ms,
        last_message: c.last_message.as_ref().map(LastRow::from),
        created_for: c.created_for.clone(),
    })
}

pub(super) fn conversation_from_item(item: &Item) -> Result<Conversation, ApiError> {
    let row: ConversationRow = from_item("conversation", item)?;
    Ok(Conversation {
        conversation_id: row.conversation_id,
        title: row.title,
        created_by: row.created_by,
        created_at_ms: row.created_at,
        last_seq: row.last_seq,
        member_count: row.member_count.map(|n| n.max(0) as u64),
        last_activity_ms: row.last_activity,
        last_message: row.last_message.map(LastMessage::from),
        created_for: row.created_for,
    })
}
