//! DynamoDB storage layout: the one place that knows table names, keys and attribute names.
//! `docs/data-model.md` lists every access pattern and the key or index that serves it; no
//! request path scans.

mod append;
mod codec;
mod connections;
mod conversations;
mod files;
mod forwards;
mod invites;
#[cfg(test)]
mod layout;
mod members;
mod messages;
mod profiles;
mod read_state;
mod search;

use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, KeysAndAttributes, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use codec::Item;

use crate::config::Tables;
use crate::ApiError;

pub use connections::{Connection, MAX_CONNECTION_LIFETIME};
pub use conversations::{Created, MAX_INITIAL_MEMBERS};
pub use files::FilePage;
pub use invites::{use_invite, Invite, PutInvite};
pub use members::{delete_member_as_seen, put_member_if_absent, set_member_role};
/// A Messages item as its table's stream carries it (a new image), read as the message it
/// stores: the stream shows what history shows, decoded by the same code.
pub use messages::message_from_item as message_from_image;
pub use messages::{Append, AppendOutcome, Guard, MessageRange, RecallCondition};
pub use profiles::{profile_joined, profile_left};
pub use read_state::{is_member_key, marker_from_images, MarkOutcome, MarkerMove, VIA_MARK};
pub use search::{position, FileScanPage, GroupHead, SearchPage};

/// GSI on Invites: `conversation_id` (hash), `created_at` (range).
pub const INVITES_BY_CONVERSATION_INDEX: &str = "by-conversation";
/// GSI on Files: `conversation_id` (hash), `uploaded_at` (range).
pub const FILES_BY_CONVERSATION_INDEX: &str = "by-conversation";

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    tables: Tables,
}

impl Store {
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, tables }
    }
}

/// The result of a conditional write (PutItem, UpdateItem): `true` written, `false` its
/// condition did not hold (nothing was written), any other failure an error for `operation`.
fn conditional_write<O, E>(
    result: Result<O, SdkError<E, HttpResponse>>,
    operation: &'static str,
) -> Result<bool, ApiError>
where
    E: ProvideErrorMetadata
        + aws_smithy_types::retry::ProvideErrorKind
        + std::error::Error
        + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e))
            if ProvideErrorMetadata::code(e.err()) == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(ApiError::from_sdk(operation, e)),
    }
}

/// How a BatchGetItem reads.
#[derive(Clone, Copy)]
enum Read<'a> {
    Eventual,
    /// Strongly consistent (for reads that decide who may see what).
    Consistent,
    /// Strongly consistent, only the named attributes.
    Projected(&'a [&'a str]),
}

/// A transaction DynamoDB cancelled: each part's reason, and the failure as an error for its
/// operation (for a caller with no answer of its own to this cancellation).
struct Cancelled {
    reasons: Vec<CancellationReason>,
    error: ApiError,
}

/// Whether part `i` of a cancelled transaction failed its condition.
fn condition_failed(reasons: &[CancellationReason], i: usize) -> bool {
    reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
}

/// How long a transaction cancelled only because of others is tried again: another transaction
/// held one of its items (`TransactionConflict`) or the table was throttled. Nothing was
/// written, and DynamoDB's answer to such a cancellation is to retry it; past this, a 503.
const RETRY_CANCELLED_FOR: Duration = Duration::from_secs(2);

/// Whether DynamoDB cancelled a transaction for reasons of its own, none a refusal: each part's
/// reason is `None` or a conflict or throttle (moto, one request at a time, never gives these).
fn cancelled_by_others(reasons: &[CancellationReason]) -> bool {
    const TRANSIENT: [&str; 3] = [
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    ];
    let transient = |r: &CancellationReason| r.code().is_some_and(|c| TRANSIENT.contains(&c));
    let untouched = |r: &CancellationReason| matches!(r.code(), None | Some("None"));
    reasons.iter().any(transient) && reasons.iter().all(|r| transient(r) || untouched(r))
}

impl Store {
    /// TransactWriteItems of `parts`: `Ok(Err(_))` when DynamoDB refused it (a condition, or
    /// anything else but a conflict or throttle, which are retried), any other failure an error
    /// for `operation`.
    async fn transact(
        &self,
        parts: Vec<TransactWriteItem>,
        operation: &'static str,
    ) -> Result<Result<(), Cancelled>, ApiError> {
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            let request = self.client.transact_write_items();
            let Err(e) = request.set_transact_items(Some(parts.clone())).send().await else {
                return Ok(Ok(()));
            };
            let reasons = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(ex)) => {
                    ex.cancellation_reasons().to_vec()
                }
                _ => return Err(ApiError::from_sdk(operation, e)),
            };
            if !cancelled_by_others(&reasons) {
                let error = ApiError::from_sdk(operation, e);
                return Ok(Err(Cancelled { reasons, error }));
            }
            attempt += 1;
            if started.elapsed() > RETRY_CANCELLED_FOR {
                return Err(ApiError::unavailable().with_fault(
                    operation,
                    format!("cancelled by conflicts or throttling {attempt} times"),
                ));
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// BatchGetItem for one table, retrying `UnprocessedKeys` with backoff until every key is
    /// answered or the deadline passes (then 503: an id is never dropped silently).
    async fn batch_get(
        &self,
        table: &str,
        keys: Vec<Item>,
        read: Read<'_>,
        operation: &'static str,
    ) -> Result<Vec<Item>, ApiError> {
        use std::time::{Duration, Instant};
        const DEADLINE: Duration = Duration::from_secs(5);
        let started = Instant::now();
        let mut found = Vec::with_capacity(keys.len());
        if keys.is_empty() {
            return Ok(found);
        }
        let (consistent, attributes) = match read {
            Read::Eventual => (false, &[][..]),
            Read::Consistent => (true, &[][..]),
            Read::Projected(attributes) => (true, attributes),
        };
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(consistent);
        if !attributes.is_empty() {
            let names: Vec<String> = (0..attributes.len()).map(|i| format!("#a{i}")).collect();
            pending = pending.projection_expression(names.join(", "));
            for (name, attribute) in names.iter().zip(attributes) {
                pending = pending.expression_attribute_names(name, *attribute);
            }
        }
        let mut pending = pending.build().expect("keys set");
        let mut attempt = 0;
        loop {
            let out = self
                .client
                .batch_get_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(|e| ApiError::from_sdk(operation, e))?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(table).unwrap_or_default());
            }
            match out.unprocessed_keys.and_then(|mut u| u.remove(table)) {
                Some(rest) if !rest.keys.is_empty() => pending = rest,
                _ => return Ok(found),
            }
            attempt += 1;
            if started.elapsed() > DEADLINE {
                return Err(ApiError::unavailable().with_fault(
                    operation,
                    format!("unprocessed keys left after {attempt} attempts"),
                ));
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// An UpdateItem of the item with this (whole) key.
    fn update_item<const N: usize>(
        &self,
        table: &str,
        key: [(&str, AttributeValue); N],
    ) -> UpdateItemFluentBuilder {
        let key = codec::key(key);
        self.client
            .update_item()
            .table_name(table)
            .set_key(Some(key))
    }

    /// A Query of `table` (or, with `index_name`, an index of it) for one conversation's items.
    fn query_conversation(&self, table: &str, conversation_id: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(table)
            .key_condition_expression("conversation_id = :c")
            .expression_attribute_values(":c", codec::s(conversation_id))
    }

    /// One item by its whole key, read consistently: what every `get_*` reads.
    async fn get_item<const N: usize>(
        &self,
        table: &str,
        key: [(&str, AttributeValue); N],
        operation: &'static str,
    ) -> Result<Option<Item>, ApiError> {
        self.client
            .get_item()
            .table_name(table)
            .set_key(Some(codec::key(key)))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| ApiError::from_sdk(operation, e))
    }
}

/// Exponential backoff with full jitter: 0..min(5 ms * 2^attempt, 200 ms).
fn backoff(attempt: u32) -> Duration {
    jitter_up_to_ms((5u64 << attempt.min(6)).min(200))
}

/// A random pause of 0..=`max_ms` milliseconds ("full jitter"), so that contenders that failed
/// together do not retry together.
pub(crate) fn jitter_up_to_ms(max_ms: u64) -> Duration {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_millis(random % (max_ms + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_cap() {
        for attempt in 0..20 {
            assert!(backoff(attempt) <= Duration::from_millis(200));
        }
    }

    #[test]
    fn only_conflicts_and_throttles_with_no_refusal_are_retried() {
        let reasons = |codes: &[&str]| -> Vec<CancellationReason> {
            let reason = |c: &&str| CancellationReason::builder().code(*c).build();
            codes.iter().map(reason).collect()
        };
        assert!(cancelled_by_others(&reasons(&[
            "None",
            "TransactionConflict"
        ])));
        assert!(cancelled_by_others(&reasons(&["ThrottlingError", "None"])));
        // A refusal decides, whatever else happened: retrying would be refused again.
        let refused = reasons(&["ConditionalCheckFailed", "TransactionConflict"]);
        assert!(!cancelled_by_others(&refused));
        assert!(!cancelled_by_others(&reasons(&["ValidationError", "None"])));
        assert!(!cancelled_by_others(&reasons(&["None", "None"])));
    }
}
