//! Messages table: `conversation_id` (hash) + `seq` (range, number). `seq` comes from the
//! conversation's `last_seq` counter, advanced in the same transaction that stores the message,
//! so sequence numbers are gapless, strictly increasing and never shared.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

use super::codec::{n, s, Fields, Item};
use super::Store;
use crate::model::{FileSummary, Message, MessageBody, SystemEvent};
use crate::ApiError;

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
}

/// Give up on a contended append after this long (the caller gets 503 and retries).
const APPEND_DEADLINE: Duration = Duration::from_secs(10);
/// Idempotency records are kept this long; a retry after that would store a new message.
pub const IDEMPOTENCY_WINDOW_SECS: i64 = 30 * 24 * 3600;

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
        let out = q
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("messages.query", e))?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(message_from_item)
            .collect()
    }

    pub async fn get_message(
        &self,
        conversation_id: &str,
        seq: u64,
    ) -> Result<Option<Message>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.messages)
            .key("conversation_id", s(conversation_id))
            .key("seq", n(seq))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("messages.get", e))?;
        out.item.as_ref().map(message_from_item).transpose()
    }

    /// Appends a message built by `build(seq)` to the conversation's history.
    ///
    /// One transaction advances `last_seq` (conditioned on the value just read), puts the
    /// message, puts the idempotency record (if `idempotency_key` is given) and applies the parts
    /// `extra(seq)` returns (e.g. marking a file available with the seq that announced it).
    /// A lost race re-reads and retries with jittered backoff; a used idempotency key returns
    /// the message stored the first time.
    pub async fn append_message(
        &self,
        conversation_id: &str,
        idempotency_key: Option<&str>,
        extra: impl Fn(u64) -> Vec<TransactWriteItem>,
        build: impl Fn(u64) -> Message,
    ) -> Result<AppendOutcome, ApiError> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            if let Some(key) = idempotency_key {
                if let Some(existing) = self.idempotent_message(conversation_id, key).await? {
                    return Ok(AppendOutcome::Duplicate(existing));
                }
            }
            let Some(last_seq) = self.last_seq(conversation_id).await? else {
                return Ok(AppendOutcome::NoConversation);
            };
            let message = build(last_seq + 1);
            let mut items = vec![
                self.advance_seq(conversation_id, last_seq),
                self.put_new_message(&message),
            ];
            if let Some(key) = idempotency_key {
                items.push(self.put_idempotency(
                    conversation_id,
                    key,
                    message.seq,
                    message.sent_at_ms,
                ));
            }
            let first_extra = items.len();
            items.extend(extra(message.seq));

            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(AppendOutcome::Appended(message)),
                Err(err) => err,
            };
            let reasons = cancellation_codes(&err);
            match reasons {
                Some(codes) => {
                    if let Some(i) = (first_extra..codes.len())
                        .find(|&i| codes[i].as_deref() == Some("ConditionalCheckFailed"))
                    {
                        return Ok(AppendOutcome::ExtraConditionFailed(i - first_extra));
                    }
                    // Lost the race for this seq (ConditionalCheckFailed on the counter), a
                    // TransactionConflict, or a concurrent duplicate: look again.
                }
                None => return Err(ApiError::from_sdk("messages.append", err)),
            }
            attempt += 1;
            if started.elapsed() > APPEND_DEADLINE {
                tracing::warn!(attempt, "append gave up under contention");
                return Err(ApiError::unavailable());
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    async fn last_seq(&self, conversation_id: &str) -> Result<Option<u64>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.conversations)
            .key("conversation_id", s(conversation_id))
            .projection_expression("last_seq")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("conversations.last_seq", e))?;
        out.item
            .as_ref()
            .map(|item| Fields::new("conversation", item).num("last_seq"))
            .transpose()
    }

    async fn idempotent_message(
        &self,
        conversation_id: &str,
        key: &str,
    ) -> Result<Option<Message>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.idempotency)
            .key("conversation_id", s(conversation_id))
            .key("request_key", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("idempotency.get", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let seq: u64 = Fields::new("idempotency", &item).num("seq")?;
        match self.get_message(conversation_id, seq).await? {
            Some(m) => Ok(Some(m)),
            None => Err(ApiError::corrupt(
                "idempotency",
                "points at a missing message",
            )),
        }
    }

    fn advance_seq(&self, conversation_id: &str, last_seq: u64) -> TransactWriteItem {
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.tables.conversations)
                    .key("conversation_id", s(conversation_id))
                    .update_expression("SET last_seq = :next")
                    .condition_expression("last_seq = :prev")
                    .expression_attribute_values(":prev", n(last_seq))
                    .expression_attribute_values(":next", n(last_seq + 1))
                    .build()
                    .expect("table, key, expression set"),
            )
            .build()
    }

    pub(super) fn put_new_message(&self, m: &Message) -> TransactWriteItem {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.tables.messages)
                    .set_item(Some(message_item(m)))
                    .condition_expression("attribute_not_exists(seq)")
                    .build()
                    .expect("table, item set"),
            )
            .build()
    }

    fn put_idempotency(
        &self,
        conversation_id: &str,
        key: &str,
        seq: u64,
        now_ms: i64,
    ) -> TransactWriteItem {
        let item: Item = [
            ("conversation_id", s(conversation_id)),
            ("request_key", s(key)),
            ("seq", n(seq)),
            ("expires_at_s", n(now_ms / 1000 + IDEMPOTENCY_WINDOW_SECS)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.tables.idempotency)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(request_key)")
                    .build()
                    .expect("table, item set"),
            )
            .build()
    }
}

/// Per-item cancellation codes of a cancelled transaction, `None` for any other failure.
fn cancellation_codes<R>(
    err: &SdkError<TransactWriteItemsError, R>,
) -> Option<Vec<Option<String>>> {
    match err {
        SdkError::ServiceError(e) => match e.err() {
            TransactWriteItemsError::TransactionCanceledException(ex) => Some(
                ex.cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_string))
                    .collect(),
            ),
            _ => None,
        },
        _ => None,
    }
}

/// Exponential backoff with full jitter: 0..min(5 ms * 2^attempt, 200 ms).
pub(crate) fn backoff(attempt: u32) -> Duration {
    let cap_ms = (5u64 << attempt.min(6)).min(200);
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_millis(random % (cap_ms + 1))
}

pub(super) fn message_item(m: &Message) -> Item {
    let mut item: Item = [
        ("conversation_id", s(&m.conversation_id)),
        ("seq", n(m.seq)),
        ("message_id", s(&m.message_id)),
        ("sender", s(&m.sender)),
        ("sent_at", n(m.sent_at_ms)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut put = |k: &str, v| {
        item.insert(k.to_string(), v);
    };
    match &m.body {
        MessageBody::Text(text) => {
            put("kind", s("text"));
            put("text", s(text));
        }
        MessageBody::File(f) => {
            put("kind", s("file"));
            put("file_id", s(&f.file_id));
            put("file_name", s(&f.name));
            put("file_size", n(f.size));
            put("file_content_type", s(&f.content_type));
        }
        MessageBody::System(e) => {
            put("kind", s("system"));
            put("system_event", s(&e.event));
            put("system_user", s(&e.user_id));
        }
    }
    item
}

pub(super) fn message_from_item(item: &Item) -> Result<Message, ApiError> {
    let f = Fields::new("message", item);
    let body = match f.str("kind")?.as_str() {
        "text" => MessageBody::Text(f.str("text")?),
        "file" => MessageBody::File(FileSummary {
            file_id: f.str("file_id")?,
            name: f.str("file_name")?,
            size: f.num("file_size")?,
            content_type: f.str("file_content_type")?,
        }),
        "system" => MessageBody::System(SystemEvent {
            event: f.str("system_event")?,
            user_id: f.str("system_user")?,
        }),
        other => {
            return Err(ApiError::corrupt(
                "message",
                format!("unknown kind {other}"),
            ))
        }
    };
    Ok(Message {
        conversation_id: f.str("conversation_id")?,
        seq: f.num("seq")?,
        message_id: f.str("message_id")?,
        sender: f.str("sender")?,
        sent_at_ms: f.num("sent_at")?,
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
            }),
            MessageBody::System(SystemEvent {
                event: "member_added".into(),
                user_id: "bob".into(),
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
    fn backoff_stays_under_its_cap() {
        for attempt in 0..20 {
            assert!(backoff(attempt) <= Duration::from_millis(200));
        }
    }
}
