//! Messages table: `conversation_id` (hash) + `seq` (range, number). `seq` comes from the
//! conversation's `last_seq` counter, advanced in the same transaction that stores the message,
//! so sequence numbers are gapless, strictly increasing and never shared.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use serde::{Deserialize, Serialize};

use super::codec::{from_item, n, put_part, s, to_item, Item};
use super::Store;
use crate::domain::model::{
    Deletion, FileSummary, Forwarded, Member, Message, MessageBody, Role, SystemEvent,
    SystemEventKind,
};
use crate::ApiError;

/// What a recall's tombstone additionally requires of the stored message.
#[derive(Clone, Copy, Debug)]
pub struct RecallCondition<'a> {
    /// Still the caller's message...
    pub sender: &'a str,
    /// ...sent no earlier than this (now minus the recall window).
    pub sent_after_ms: i64,
}

/// Which slice of history to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageRange {
    /// The newest messages.
    Newest,
    /// Messages with `seq < n`, newest first.
    Before(u64),
    /// Messages with `seq > n`, oldest first.
    After(u64),
}

impl MessageRange {
    /// Whether `page`, read for this range in its order, has every seq it spans and starts
    /// where the range does (the seq after or before the cursor).
    fn is_whole(&self, page: &[Message]) -> bool {
        let first = match (self, page.first()) {
            (_, None) | (MessageRange::Newest, _) => true,
            (MessageRange::Before(seq), Some(m)) => m.seq + 1 == *seq,
            (MessageRange::After(seq), Some(m)) => m.seq == seq + 1,
        };
        first && page.windows(2).all(|w| w[0].seq.abs_diff(w[1].seq) == 1)
    }
}

/// How an append ended.
#[derive(Debug)]
pub enum AppendOutcome {
    /// Stored now.
    Appended(Message),
    /// The idempotency key was used before: the message stored then.
    Duplicate(Message),
    /// One of the caller's extra transaction parts had its condition fail (index into `extra`).
    ExtraConditionFailed(usize),
    /// The conversation does not exist.
    NoConversation,
    /// The guard did not hold: the author is not (or no longer) a member with that role.
    NotAllowed,
    /// The append would leave the conversation without an owner.
    LastOwner,
}

/// Who must still be allowed to write when an append commits. Checked inside the append's
/// transaction (a `ConditionCheck` on the member item), so a removal or demotion that commits
/// first always wins: a read before the write could not promise that.
#[derive(Clone, Copy, Debug)]
pub enum Guard<'a> {
    /// `user_id` is a member, with any role.
    Member(&'a str),
    /// `user_id` is a member with one of `roles`.
    Role(&'a str, &'a [Role]),
    /// `user_id` is an owner or admin and has been without a break since this time (ms): what
    /// they made then (an invite link) still speaks for them ([`Member::has_managed_since`]).
    ManagerSince(&'a str, i64),
    /// One of the extra parts already conditions on the author's own member item (leaving,
    /// changing one's own role): a transaction may touch each item once.
    InExtra,
}

/// One append to a conversation's history.
#[derive(Clone, Copy, Debug)]
pub struct Append<'a> {
    pub conversation_id: &'a str,
    pub guard: Guard<'a>,
    /// Makes retries return the first message instead of storing another one.
    pub idempotency_key: Option<&'a str>,
    /// Change to the conversation's owner count, committed with the message; the append fails
    /// with [`AppendOutcome::LastOwner`] if fewer than one owner would remain.
    pub owner_delta: i64,
    /// Change to the conversation's member count (an add or a removal), committed with it.
    pub member_delta: i64,
    /// The guarded user wrote this entry (they sent it, or it records what they did): their
    /// read marker moves to it in the same transaction, the guard's condition becoming an
    /// update of their member item. Off only where the guard is someone else's (an invite's
    /// maker, for the joiner's `member_joined`).
    pub marks_read: bool,
    /// A file uploaded at this time becomes available with this entry: the conversation's
    /// `last_file_at` (the newest, never going back) moves to it in the same write, which is
    /// what `GET /files` skips groups by.
    pub newest_file_at_ms: Option<i64>,
}

impl<'a> Append<'a> {
    pub fn new(conversation_id: &'a str, guard: Guard<'a>) -> Self {
        Self {
            conversation_id,
            guard,
            idempotency_key: None,
            owner_delta: 0,
            member_delta: 0,
            marks_read: true,
            newest_file_at_ms: None,
        }
    }
}

impl Guard<'_> {
    /// Whether `member` (the guarded user's membership, if any) satisfies the guard.
    pub(super) fn admits(&self, member: Option<&Member>) -> bool {
        match (self, member) {
            (Guard::InExtra, _) => true,
            (_, None) => false,
            (Guard::Member(_), Some(_)) => true,
            (Guard::Role(_, roles), Some(m)) => roles.contains(&m.role),
            (Guard::ManagerSince(_, at), Some(m)) => m.has_managed_since(*at),
        }
    }
}

impl Store {
    /// Up to `limit` messages of `range`, returned in the order DynamoDB reads them (newest first
    /// for `Newest`/`Before`, oldest first for `After`).
    pub async fn query_messages(
        &self,
        conversation_id: &str,
        range: MessageRange,
        limit: u32,
    ) -> Result<Vec<Message>, ApiError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.tables.messages)
            .expression_attribute_values(":c", s(conversation_id))
            .limit(limit as i32);
        q = match range {
            MessageRange::Newest => q
                .key_condition_expression("conversation_id = :c")
                .scan_index_forward(false),
            MessageRange::Before(seq) => q
                .key_condition_expression("conversation_id = :c AND seq < :s")
                .expression_attribute_values(":s", n(seq))
                .scan_index_forward(false),
            MessageRange::After(seq) => q
                .key_condition_expression("conversation_id = :c AND seq > :s")
                .expression_attribute_values(":s", n(seq))
                .scan_index_forward(true),
        };
        // History has no holes: every seq up to the last is stored (a deletion leaves a
        // tombstone). An eventually consistent page with one was read from a replica behind on
        // part of the conversation (its items can span partitions); it is read again,
        // consistently, so a cursor never steps over a message. Whole pages cost half as much.
        let read = |consistent: bool| {
            let q = q.clone();
            async move {
                let out = q
                    .set_consistent_read(consistent.then_some(true))
                    .send()
                    .await;
                let out = out.map_err(|e| ApiError::from_sdk("messages.query", e))?;
                let items = out.items.unwrap_or_default();
                items
                    .iter()
                    .map(message_from_item)
                    .collect::<Result<Vec<_>, _>>()
            }
        };
        let page = read(false).await?;
        if range.is_whole(&page) {
            return Ok(page);
        }
        read(true).await
    }

    pub async fn get_message(
        &self,
        conversation_id: &str,
        seq: u64,
    ) -> Result<Option<Message>, ApiError> {
        let key = [("conversation_id", s(conversation_id)), ("seq", n(seq))];
        let item = self
            .get_item(&self.tables.messages, key, "messages.get")
            .await?;
        item.as_ref().map(message_from_item).transpose()
    }

    /// Replaces `original` with its tombstone as a transaction part. The condition ties the
    /// write to what the caller decided on: the same message, still text or a file (never a
    /// system message, never deleted twice), and for a recall, still the caller's and still
    /// inside the window.
    pub fn put_tombstone(
        &self,
        original: &Message,
        deletion: &Deletion,
        recall: Option<RecallCondition<'_>>,
    ) -> TransactWriteItem {
        let tombstone = Message {
            body: MessageBody::Deleted(deletion.clone()),
            ..original.clone()
        };
        let mut put = Put::builder()
            .table_name(&self.tables.messages)
            .set_item(Some(message_item(&tombstone)))
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":mid", s(&original.message_id))
            .expression_attribute_values(":text", s("text"))
            .expression_attribute_values(":file", s("file"));
        let mut condition = "message_id = :mid AND #kind IN (:text, :file)".to_string();
        if let Some(r) = recall {
            put = put
                .expression_attribute_values(":sender", s(r.sender))
                .expression_attribute_values(":cutoff", n(r.sent_after_ms));
            condition.push_str(" AND sender = :sender AND sent_at >= :cutoff");
        }
        put_part(put.condition_expression(condition))
    }
}

/// A Messages item: the common fields and, by `kind`, the body's.
#[derive(Serialize, Deserialize)]
struct MessageRow {
    conversation_id: String,
    seq: u64,
    message_id: String,
    sender: String,
    sent_at: i64,
    #[serde(flatten)]
    body: BodyRow,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum BodyRow {
    Text {
        text: String,
    },
    File {
        file_id: String,
        file_name: String,
        file_size: u64,
        file_content_type: String,
        /// A forward's source group (absent on other file messages).
        forwarded_from: Option<String>,
    },
    System {
        #[serde(flatten)]
        event: SystemRow,
    },
    /// A tombstone: the content attributes are gone with the Put that wrote it.
    Deleted {
        deleted_by: String,
        deleted_at: i64,
        /// Internal: which file's bytes the deletion removes (see `Deletion::file_id`).
        deleted_file_id: Option<String>,
    },
}

/// A system event's attributes (`system_event`, `system_user`, `system_role`?, `system_seq`?),
/// in a message and in a conversation's preview of its last message.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
pub(super) struct SystemRow {
    system_event: SystemEventKind,
    system_user: String,
    system_role: Option<Role>,
    system_seq: Option<u64>,
}

impl From<&SystemEvent> for SystemRow {
    fn from(e: &SystemEvent) -> Self {
        Self {
            system_event: e.event,
            system_user: e.user_id.clone(),
            system_role: e.role,
            system_seq: e.seq,
        }
    }
}

impl From<SystemRow> for SystemEvent {
    fn from(row: SystemRow) -> Self {
        Self {
            event: row.system_event,
            user_id: row.system_user,
            role: row.system_role,
            seq: row.system_seq,
        }
    }
}

pub(super) fn message_item(m: &Message) -> Item {
    let body = match &m.body {
        MessageBody::Text(text) => BodyRow::Text { text: text.clone() },
        MessageBody::File(f) => BodyRow::File {
            file_id: f.file_id.clone(),
            file_name: f.name.clone(),
            file_size: f.size,
            file_content_type: f.content_type.clone(),
            forwarded_from: f
                .forwarded
                .as_ref()
                .and_then(|w| w.from_conversation_id.clone()),
        },
        MessageBody::System(e) => BodyRow::System { event: e.into() },
        MessageBody::Deleted(d) => BodyRow::Deleted {
            deleted_by: d.by.clone(),
            deleted_at: d.at_ms,
            deleted_file_id: d.file_id.clone(),
        },
    };
    to_item(&MessageRow {
        conversation_id: m.conversation_id.clone(),
        seq: m.seq,
        message_id: m.message_id.clone(),
        sender: m.sender.clone(),
        sent_at: m.sent_at_ms,
        body,
    })
}

pub fn message_from_item(item: &Item) -> Result<Message, ApiError> {
    let row: MessageRow = from_item("message", item)?;
    let body = match row.body {
        BodyRow::Text { text } => MessageBody::Text(text),
        BodyRow::File {
            file_id,
            file_name,
            file_size,
            file_content_type,
            forwarded_from,
        } => MessageBody::File(FileSummary {
            file_id,
            name: file_name,
            size: file_size,
            content_type: file_content_type,
            forwarded: forwarded_from.as_deref().map(Forwarded::from),
        }),
        BodyRow::System { event } => MessageBody::System(event.into()),
        BodyRow::Deleted {
            deleted_by,
            deleted_at,
            deleted_file_id,
        } => MessageBody::Deleted(Deletion {
            by: deleted_by,
            at_ms: deleted_at,
            file_id: deleted_file_id,
        }),
    };
    Ok(Message {
        conversation_id: row.conversation_id,
        seq: row.seq,
        message_id: row.message_id,
        sender: row.sender,
        sent_at_ms: row.sent_at,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_items_round_trip() {
        for body in [
            MessageBody::Text("hi".into()),
            MessageBody::File(FileSummary {
                file_id: "f".into(),
                name: "季度报告.pdf".into(),
                size: 10,
                content_type: "application/pdf".into(),
                forwarded: None,
            }),
            MessageBody::File(FileSummary {
                file_id: "f2".into(),
                name: "b.pdf".into(),
                size: 10,
                content_type: "application/pdf".into(),
                forwarded: Some(Forwarded::from("c0")),
            }),
            MessageBody::System(SystemEvent {
                event: SystemEventKind::MemberAdded,
                user_id: "bob".into(),
                role: Some(Role::Admin),
                seq: None,
            }),
            MessageBody::System(SystemEvent {
                event: SystemEventKind::MessageDeleted,
                user_id: "bob".into(),
                role: None,
                seq: Some(3),
            }),
            MessageBody::Deleted(Deletion {
                by: "carol".into(),
                at_ms: 456,
                file_id: Some("f1".into()),
            }),
        ] {
            let m = Message {
                conversation_id: "c".into(),
                seq: 7,
                message_id: "m".into(),
                sender: "alice".into(),
                sent_at_ms: 123,
                body,
            };
            assert_eq!(message_from_item(&message_item(&m)).unwrap(), m);
        }
    }

    #[test]
    fn a_page_is_whole_when_it_has_every_seq_from_its_cursor_on() {
        let page = |seqs: &[u64]| -> Vec<Message> {
            let at = |seq: &u64| Message {
                conversation_id: "c".into(),
                seq: *seq,
                message_id: format!("m{seq}"),
                sender: "alice".into(),
                sent_at_ms: 1,
                body: MessageBody::Text("hi".into()),
            };
            seqs.iter().map(at).collect()
        };
        assert!(MessageRange::Newest.is_whole(&page(&[9, 8, 7])));
        assert!(!MessageRange::Newest.is_whole(&page(&[9, 7, 6])));
        assert!(MessageRange::After(4).is_whole(&page(&[5, 6])));
        assert!(
            !MessageRange::After(4).is_whole(&page(&[6, 7])),
            "5 missing"
        );
        assert!(MessageRange::Before(5).is_whole(&page(&[4, 3])));
        assert!(
            !MessageRange::Before(5).is_whole(&page(&[3, 2])),
            "4 missing"
        );
        assert!(MessageRange::After(4).is_whole(&[]));
    }
}
