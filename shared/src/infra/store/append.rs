//! Appending to a conversation's history: one transaction that advances `last_seq`, puts the
//! message and its idempotency record and checks the author's membership, retried on a lost
//! race for the counter.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use futures::future::{join3, OptionFuture};
use serde::{Deserialize, Serialize};

use super::codec::{
    check, check_part, from_item, n, put_new, s, to_item, update, update_part, Item,
};
use super::conversations::last_message_value;
use super::members::member_key;
use super::read_state::{reading_to, READ_BY_APPEND};
use super::{condition_failed, Store};
use crate::domain::model::{Message, Role};
use crate::ApiError;

use super::messages::*;

/// The counts a conversation item keeps beside `last_seq`.
#[derive(Clone, Copy, Debug)]
enum Counted {
    Owners,
    Members,
}

impl Counted {
    fn attribute(self) -> &'static str {
        match self {
            Counted::Owners => "owner_count",
            Counted::Members => "member_count",
        }
    }
}

/// Give up on a contended append after this long with a 503 the caller may retry. Well inside
/// the functions' 10 s timeout, so the answer is always JSON from us, never a gateway timeout.
const APPEND_DEADLINE: Duration = Duration::from_secs(4);
/// Idempotency records are kept this long; a retry after that would store a new message.
pub const IDEMPOTENCY_WINDOW_SECS: i64 = 30 * 24 * 3600;

/// The conversation item's counters, as one append attempt read them.
#[derive(Clone, Copy, Debug, Deserialize)]
struct Counters {
    last_seq: u64,
    /// Absent on conversations created before owners were counted (filled on first need).
    owner_count: Option<i64>,
    /// Likewise for members.
    member_count: Option<i64>,
    /// Absent until the conversation's first append since activity was kept.
    last_activity: Option<i64>,
    /// Absent until the conversation's first file since it was kept.
    last_file_at: Option<i64>,
}

impl Store {
    /// Appends a message built by `build(seq)` to the conversation's history.
    ///
    /// One transaction advances `last_seq` (conditioned on the value just read, and on the
    /// owner count when `owner_delta` lowers it), puts the message, puts the idempotency record
    /// (if a key is given), checks the guard on the author's member item and applies the parts
    /// `extra(seq)` returns (e.g. marking a file available with the seq that announced it).
    /// A lost race re-reads only what it needs and retries with jittered backoff; a used
    /// idempotency key returns the message stored the first time.
    pub async fn append_message(
        &self,
        append: Append<'_>,
        extra: impl Fn(u64) -> Vec<TransactWriteItem>,
        build: impl Fn(u64) -> Message,
    ) -> Result<AppendOutcome, ApiError> {
        let cid = append.conversation_id;
        let started = Instant::now();
        let guard_user = match append.guard {
            Guard::Member(u) | Guard::Role(u, _) | Guard::ManagerSince(u, _) => Some(u),
            Guard::InExtra => None,
        };
        // First attempt: the counters, the idempotency record and the author's membership in
        // one round trip. The guard is checked again inside the transaction; this read only
        // answers early (and keeps a removed member from reading back a replayed message).
        let duplicate = append
            .idempotency_key
            .map(|key| self.idempotent_message(cid, key));
        let author = guard_user.map(|u| self.get_member(cid, u));
        let (counters, duplicate, author) = join3(
            self.counters(cid),
            OptionFuture::from(duplicate),
            OptionFuture::from(author),
        )
        .await;
        let mut counters = counters?;
        let duplicate = duplicate.transpose()?.flatten();
        let author = author.transpose()?.flatten();
        if guard_user.is_some() && !append.guard.admits(author.as_ref()) {
            return Ok(AppendOutcome::NotAllowed);
        }
        if let Some(existing) = duplicate {
            return Ok(AppendOutcome::Duplicate(existing));
        }
        let mut attempt: u32 = 0;
        loop {
            let Some(mut c) = counters else {
                return Ok(AppendOutcome::NoConversation);
            };
            if append.owner_delta != 0 && c.owner_count.is_none() {
                c.owner_count = Some(self.backfill_count(cid, Counted::Owners).await?);
            }
            if append.member_delta != 0 && c.member_count.is_none() {
                c.member_count = Some(self.backfill_count(cid, Counted::Members).await?);
            }
            if append.owner_delta < 0 && c.owner_count.unwrap_or(0) + append.owner_delta < 1 {
                return Ok(AppendOutcome::LastOwner);
            }
            let message = build(c.last_seq + 1);
            let mut items = vec![
                self.advance_seq(&c, &message, &append),
                self.put_new_message(&message),
            ];
            let idempotency_part = append.idempotency_key.map(|key| {
                let record = idempotency_item(cid, key, message.seq, message.sent_at_ms);
                items.push(put_new(&self.tables.idempotency, record, "request_key"));
                items.len() - 1
            });
            let reads_to = append.marks_read.then_some(message.seq);
            let guard_part = self.guard_part(cid, append.guard, reads_to).map(|check| {
                items.push(check);
                items.len() - 1
            });
            let first_extra = items.len();
            items.extend(extra(message.seq));

            let cancelled = match self.transact(items, "messages.append").await? {
                Ok(()) => return Ok(AppendOutcome::Appended(message)),
                Err(cancelled) => cancelled,
            };
            let reasons = &cancelled.reasons;
            let failed = |i: usize| condition_failed(reasons, i);
            if !(0..reasons.len()).any(failed) {
                // Refused for no condition (an item that would outgrow 400 KB, say): trying
                // again cannot change that.
                return Err(cancelled.error);
            }
            if guard_part.is_some_and(failed) {
                return Ok(AppendOutcome::NotAllowed);
            }
            if let Some(i) = (first_extra..reasons.len()).find(|&i| failed(i)) {
                return Ok(AppendOutcome::ExtraConditionFailed(i - first_extra));
            }
            if idempotency_part.is_some_and(failed) {
                // A concurrent retry with the same key committed first: answer with its message.
                if let Some(key) = append.idempotency_key {
                    if let Some(existing) = self.idempotent_message(cid, key).await? {
                        return Ok(AppendOutcome::Duplicate(existing));
                    }
                }
            }
            // Lost the race for this seq: the counter moved (`transact` retries conflicts). A
            // failed counter condition hands back the counters it saw (ALL_OLD), which spares a
            // read; otherwise read them again.
            let seen = failed(0).then(|| counters_from(reasons.first())).flatten();
            attempt += 1;
            if started.elapsed() > APPEND_DEADLINE {
                return Err(ApiError::unavailable().with_fault(
                    "messages.append",
                    format!("gave up under contention after {attempt} attempts"),
                ));
            }
            tokio::time::sleep(contention_pause(attempt)).await;
            counters = match seen {
                Some(c) => Some(c),
                None => self.counters(cid).await?,
            };
        }
    }

    /// `last_seq`, the counts and the last activity, strongly consistent; `None` if there is
    /// no conversation.
    async fn counters(&self, conversation_id: &str) -> Result<Option<Counters>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.conversations)
            .key("conversation_id", s(conversation_id))
            .projection_expression(
                "last_seq, owner_count, member_count, last_activity, last_file_at",
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("conversations.counters", e))?;
        out.item
            .as_ref()
            .map(|item| from_item("conversation", item))
            .transpose()
    }

    /// Conversations created before owners (or members) were counted get their count once,
    /// from the members table. Only an append that changes that count gets here, and every such
    /// append needs the count to exist, so no change can slip between this count and its write.
    async fn backfill_count(&self, conversation_id: &str, what: Counted) -> Result<i64, ApiError> {
        let role = matches!(what, Counted::Owners).then_some(Role::Owner);
        let count = self.count_members(conversation_id, role).await? as i64;
        let attribute = what.attribute();
        let key = [("conversation_id", s(conversation_id))];
        let result = self
            .update_item(&self.tables.conversations, key)
            .update_expression(format!("SET {attribute} = :n"))
            .condition_expression(format!(
                "attribute_exists(conversation_id) AND attribute_not_exists({attribute})"
            ))
            .expression_attribute_values(":n", n(count))
            .send()
            .await;
        if super::conditional_write(result, "conversations.backfill_count")? {
            return Ok(count);
        }
        // Someone else filled it first: theirs is the count now.
        self.counters(conversation_id)
            .await?
            .and_then(|c| match what {
                Counted::Owners => c.owner_count,
                Counted::Members => c.member_count,
            })
            .ok_or_else(|| ApiError::corrupt("conversation", "count missing"))
    }

    async fn idempotent_message(
        &self,
        conversation_id: &str,
        key: &str,
    ) -> Result<Option<Message>, ApiError> {
        let record = [
            ("conversation_id", s(conversation_id)),
            ("request_key", s(key)),
        ];
        let table = &self.tables.idempotency;
        let Some(item) = self.get_item(table, record, "idempotency.get").await? else {
            return Ok(None);
        };
        let seq = from_item::<IdempotencyRow>("idempotency", &item)?.seq;
        let message = self.get_message(conversation_id, seq).await?;
        let missing = || ApiError::corrupt("idempotency", "points at a missing message");
        message.ok_or_else(missing).map(Some)
    }

    /// The conversation item's part: `last_seq` to the message's seq (conditioned on the value
    /// read), the counts' deltas, and what the group list shows: the last activity (the
    /// message's time, never earlier than the activity before it, so a skewed clock cannot move
    /// a group back under a page already read) and the message's preview.
    fn advance_seq(
        &self,
        counters: &Counters,
        message: &Message,
        append: &Append<'_>,
    ) -> TransactWriteItem {
        let (owner_delta, member_delta) = (append.owner_delta, append.member_delta);
        let last_seq = counters.last_seq;
        let activity = counters
            .last_activity
            .map_or(message.sent_at_ms, |a| a.max(message.sent_at_ms));
        let key = [("conversation_id", s(append.conversation_id))];
        let mut update = update(&self.tables.conversations, key)
            .expression_attribute_values(":prev", n(last_seq))
            .expression_attribute_values(":next", n(last_seq + 1))
            .expression_attribute_values(":activity", n(activity))
            .expression_attribute_values(":last", last_message_value(message));
        let mut adds = Vec::new();
        let mut condition = "last_seq = :prev".to_string();
        if owner_delta != 0 {
            adds.push("owner_count :owners");
            update = update.expression_attribute_values(":owners", n(owner_delta));
        }
        if owner_delta < 0 {
            // At least one owner remains: the invariant is a condition of the write itself.
            condition.push_str(" AND owner_count >= :floor");
            update = update.expression_attribute_values(":floor", n(1 - owner_delta));
        }
        if member_delta != 0 {
            adds.push("member_count :members");
            update = update.expression_attribute_values(":members", n(member_delta));
        }
        let mut set =
            "SET last_seq = :next, last_activity = :activity, last_message = :last".to_string();
        if let Some(at) = append.newest_file_at_ms {
            // Conditioned on `last_seq` like the rest, so the max is of the value read.
            let newest = counters.last_file_at.map_or(at, |prev| prev.max(at));
            set.push_str(", last_file_at = :file_at");
            update = update.expression_attribute_values(":file_at", n(newest));
        }
        let expression = match adds.is_empty() {
            true => set,
            false => format!("{set} ADD {}", adds.join(", ")),
        };
        update_part(
            update
                .update_expression(expression)
                .condition_expression(condition)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                ),
        )
    }

    /// The guard as a transaction part (`None` when an extra part covers it): a check of the
    /// author's member item, or, when the author's marker moves to the entry (`reads_to`), an
    /// update of it on the same condition, which also records that they acted there (`acted`).
    fn guard_part(
        &self,
        conversation_id: &str,
        guard: Guard<'_>,
        reads_to: Option<u64>,
    ) -> Option<TransactWriteItem> {
        let Some(seq) = reads_to else {
            return self.guard_check(conversation_id, guard);
        };
        let (key, (expression, names, values)) = guard_condition(conversation_id, guard)?;
        let update = update(&self.tables.members, key)
            .update_expression(format!("SET {READ_BY_APPEND}, acted = :acted"))
            .condition_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values);
        let update = update.expression_attribute_values(":acted", AttributeValue::Bool(true));
        Some(update_part(reading_to(update, seq)))
    }

    /// The guard as a condition check (`None` when an extra part covers it).
    pub(super) fn guard_check(
        &self,
        conversation_id: &str,
        guard: Guard<'_>,
    ) -> Option<TransactWriteItem> {
        let (key, (expression, names, values)) = guard_condition(conversation_id, guard)?;
        Some(check_part(
            check(&self.tables.members, key)
                .condition_expression(expression)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values),
        ))
    }

    pub(super) fn put_new_message(&self, m: &Message) -> TransactWriteItem {
        put_new(&self.tables.messages, message_item(m), "seq")
    }
}

/// A condition expression with its attribute names and values, as a builder's `set_*` take them.
type Condition = (
    String,
    Option<std::collections::HashMap<String, String>>,
    Option<Item>,
);

/// The guarded user's member key and what the guard requires of that item: that it exists,
/// with one of the roles (and, for [`Guard::ManagerSince`], `manages_since`, or on items from
/// before it `joined_at`, no later than the time). `None` for [`Guard::InExtra`].
fn guard_condition<'a>(
    conversation_id: &'a str,
    guard: Guard<'a>,
) -> Option<([(&'static str, AttributeValue); 2], Condition)> {
    let (user_id, roles, since) = match guard {
        Guard::Member(u) => (u, &[][..], None),
        Guard::Role(u, roles) => (u, roles, None),
        Guard::ManagerSince(u, at) => (u, &[Role::Owner, Role::Admin][..], Some(at)),
        Guard::InExtra => return None,
    };
    let key = member_key(conversation_id, user_id);
    if roles.is_empty() {
        return Some((key, ("attribute_exists(user_id)".to_string(), None, None)));
    }
    let names: Vec<String> = (0..roles.len()).map(|i| format!(":role{i}")).collect();
    let mut values: Item = names
        .iter()
        .zip(roles)
        .map(|(name, role)| (name.clone(), s(role.as_str())))
        .collect();
    let mut expression = format!("#role IN ({})", names.join(", "));
    if let Some(at) = since {
        expression.push_str(
            " AND (manages_since <= :since \
             OR (attribute_not_exists(manages_since) AND joined_at <= :since))",
        );
        values.insert(":since".into(), n(at));
    }
    let role = [("#role".to_string(), "role".to_string())].into();
    Some((key, (expression, Some(role), Some(values))))
}

/// An Idempotency item: which message a `client_msg_id` produced; DynamoDB's TTL drops it
/// after the retry window.
#[derive(Serialize, Deserialize)]
struct IdempotencyRow {
    conversation_id: String,
    request_key: String,
    seq: u64,
    expires_at_s: i64,
}

pub(super) fn idempotency_item(conversation_id: &str, key: &str, seq: u64, now_ms: i64) -> Item {
    to_item(&IdempotencyRow {
        conversation_id: conversation_id.to_string(),
        request_key: key.to_string(),
        seq,
        expires_at_s: now_ms / 1000 + IDEMPOTENCY_WINDOW_SECS,
    })
}

/// The counters as a failed counter condition returned them (`ALL_OLD`), if it did.
fn counters_from(reason: Option<&CancellationReason>) -> Option<Counters> {
    from_item("conversation", reason?.item()?).ok()
}

/// Pause before retrying a lost race for the counter: random, in a window that doubles from
/// 10 ms to 80 ms over the first four retries (spreading contenders out), then drops to 5 ms
/// for a request that has lost five times. With growing windows alone, fresh requests keep
/// overtaking old ones and a few senders wait out the deadline while the rest succeed; the
/// few requests that old get in first instead.
fn contention_pause(attempt: u32) -> Duration {
    super::jitter_up_to_ms(if attempt <= 4 { 5u64 << attempt } else { 5 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contention_pauses_stay_under_80_ms() {
        for attempt in 0..20 {
            assert!(contention_pause(attempt) <= Duration::from_millis(80));
        }
    }
}
