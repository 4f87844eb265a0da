//! The fan-out: a batch of the messages table's stream records, pushed to the open connections
//! of each conversation's members (and a batch of the members table's, whose read-marker moves
//! go to their users' connections: [`super::markers`]).
//!
//! Per batch and conversation: the member ids and where each joined (one strongly consistent
//! query, those two attributes only; nobody is pushed an entry older than their joining), their
//! connections (BatchGetItem, 100 users per round trip), then each message's frame, serialised
//! once, posted to every connection. The bounds are per invocation, not per conversation (a
//! batch can hold a hundred conversations): [`CONCURRENT_READS`] conversations read at once and
//! [`CONCURRENT_POSTS`] posts in flight across the whole batch. One connection gets a
//! conversation's frames one after another, so it sees its messages in `seq` order (the stream
//! keeps one conversation's records in order: they share a partition key). A connection
//! API Gateway reports gone (410) is forgotten and gets nothing more, unless it was recorded
//! moments ago (see [`OPENING_GRACE_S`]).
//!
//! Delivery is best effort by design: a frame that fails (throttling, a connection closing as it
//! is posted to) is counted and logged, not retried, because the client fills any gap from
//! history. Only a failure to read who should get a conversation's messages fails its records
//! (reported as batch item failures), so Lambda retries from there; a retried frame repeats a
//! `seq` the client already has and ignores.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use tokio::sync::Semaphore;

use super::markers::{is_member_record, marker_of, push_markers};
use super::Frame;
use crate::domain::model::{Message, MessageBody};
use crate::infra::store::{message_from_image, Connection, MarkerMove, Store};
use crate::ApiError;

/// Posts in flight at once in one invocation, whatever its conversations (each connection
/// holds one slot while it gets its frames). Each post is one HTTPS request to API Gateway's
/// management API on its own socket (HTTP/1.1), and Lambda allows 1,024 file descriptors: 100
/// keeps a 2,000-connection group to about twenty round trips of latency, far under that.
pub const CONCURRENT_POSTS: usize = 100;

/// Conversations of one invocation whose recipients (members, then their connections) are read
/// at once; each holds at most `CONCURRENT_BATCHES` DynamoDB requests in flight.
pub const CONCURRENT_READS: usize = 8;

/// How long after its record is written a connection answering 410 is taken to be still
/// opening rather than gone. `$connect` records the connection before it returns, and API
/// Gateway answers 410 to posts for it until it has returned: a fan-out in that window must not
/// forget a connection that is about to open (it would get nothing until it reconnected). The
/// frame itself is lost, as any frame before a socket opens; clients read history on open.
/// A connection that really died that young is forgotten by the first fan-out after the grace,
/// or by the table's TTL.
pub const OPENING_GRACE_S: i64 = 10;

/// The outcome of posting one frame to one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The connection is closed for good (API Gateway's 410): forget it.
    Gone,
    /// Anything else: counted and logged; the client catches up from history.
    Failed,
}

/// Where frames go: API Gateway's management API ([`ManagementApi`]) deployed and locally (the
/// local stack serves the same API), a recorder in unit tests.
pub trait Deliver: Sync {
    fn post(&self, connection_id: &str, frame: &[u8]) -> impl Future<Output = Delivery> + Send;
}

/// What one batch did, for the log line and the benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Messages pushed (records that were an append or a tombstone).
    pub messages: usize,
    /// Connections of members found across the batch's conversations.
    pub connections: usize,
    pub sent: usize,
    pub gone: usize,
    pub failed: usize,
    /// Records whose image could not be read as a message (logged, skipped).
    pub unreadable: usize,
    /// Read markers pushed (members-table records that were a `PUT …/read` move).
    pub markers: usize,
}

/// Pushes every message in `event` and answers which records Lambda should retry.
pub async fn fan_out<D: Deliver>(
    store: &Store,
    deliver: &D,
    event: &Event,
    now_s: i64,
) -> (Report, DynamoDbEventResponse) {
    let mut report = Report::default();
    // Conversations in the order they first appear, each with its messages in stream order.
    let mut conversations: Vec<(String, Vec<(usize, Message)>)> = Vec::new();
    let mut markers: Vec<(usize, MarkerMove)> = Vec::new();
    for (index, record) in event.records.iter().enumerate() {
        let read = if is_member_record(record) {
            marker_of(record).map(|m| {
                markers.extend(m.map(|m| (index, m)));
                None
            })
        } else {
            message_of(record)
        };
        match read {
            Ok(None) => {}
            Ok(Some(message)) => {
                report.messages += 1;
                let conversation = &message.conversation_id;
                match conversations.iter_mut().find(|(c, _)| c == conversation) {
                    Some((_, list)) => list.push((index, message)),
                    None => conversations.push((conversation.clone(), vec![(index, message)])),
                }
            }
            Err(e) => {
                // A record that cannot be read now never will: retrying it would only hold
                // up every record behind it.
                report.unreadable += 1;
                tracing::error!(
                    event_id = %record.event_id,
                    error = %e,
                    "stream record is not a message; skipped"
                );
            }
        }
    }

    report.markers = markers.len();
    let moves: Vec<MarkerMove> = markers.iter().map(|(_, m)| m.clone()).collect();
    // Shared by every conversation of the batch: the bounds hold per invocation.
    let reading = Semaphore::new(CONCURRENT_READS);
    let posting = Semaphore::new(CONCURRENT_POSTS);
    let (outcomes, marked) = futures::future::join(
        futures::future::join_all(conversations.iter().map(|(conversation, messages)| {
            push_conversation(
                store,
                deliver,
                &reading,
                &posting,
                conversation,
                messages,
                now_s,
            )
        })),
        push_markers(store, deliver, &posting, &moves, now_s),
    )
    .await;

    // Lambda retries from the earliest failed record on; later records of other conversations
    // are pushed again then, which clients ignore by `seq`.
    let mut first_failed: Option<usize> = None;
    match marked {
        Ok(counts) => report.add(&counts),
        Err(e) => {
            tracing::error!(
                error = %e,
                "could not read whose connections get these read markers; the batch is retried from them"
            );
            first_failed = markers.first().map(|(index, _)| *index);
        }
    }
    for ((conversation, messages), outcome) in conversations.iter().zip(outcomes) {
        match outcome {
            Ok(counts) => report.add(&counts),
            Err(e) => {
                tracing::error!(
                    conversation_id = %conversation,
                    error = %e,
                    "could not read who receives these messages; the batch is retried from them"
                );
                let index = messages[0].0;
                first_failed = Some(first_failed.map_or(index, |f| f.min(index)));
            }
        }
    }
    let mut response = DynamoDbEventResponse::default();
    if let Some(index) = first_failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = event.records[index].change.sequence_number.clone();
        response.batch_item_failures.push(failure);
    }
    (report, response)
}

/// The message a record carries: an append (INSERT) or a tombstone replacing one (MODIFY).
/// Removals (retention) are not pushed: history no longer has them either.
pub fn message_of(record: &EventRecord) -> Result<Option<Message>, ApiError> {
    if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY") {
        return Ok(None);
    }
    let image: HashMap<String, AttributeValue> = record.change.new_image.clone().into();
    if image.is_empty() {
        return Err(ApiError::internal().with_fault(
            "push.decode",
            "record without a new image (the stream must be NEW_IMAGE)",
        ));
    }
    message_from_image(&image).map(Some)
}

/// What posting to some connections did.
#[derive(Default)]
pub struct Counts {
    pub connections: usize,
    pub sent: usize,
    pub gone: usize,
    pub failed: usize,
}

impl Counts {
    /// One connection's outcome: frames sent, and the worst delivery.
    pub fn add(&mut self, sent: usize, last: Delivery) {
        self.sent += sent;
        match last {
            Delivery::Sent => {}
            Delivery::Gone => self.gone += 1,
            Delivery::Failed => self.failed += 1,
        }
    }
}

impl Report {
    fn add(&mut self, counts: &Counts) {
        self.connections += counts.connections;
        self.sent += counts.sent;
        self.gone += counts.gone;
        self.failed += counts.failed;
    }
}

async fn push_conversation<D: Deliver>(
    store: &Store,
    deliver: &D,
    reading: &Semaphore,
    posting: &Semaphore,
    conversation_id: &str,
    messages: &[(usize, Message)],
    now_s: i64,
) -> Result<Counts, ApiError> {
    let (users, joined_seqs, connections) = {
        // Released before posting: a conversation waiting for post slots reads nothing.
        let _slot = reading.acquire().await.expect("never closed");
        let members = store.member_joins(conversation_id).await?;
        let (users, joined_seqs): (Vec<String>, Vec<u64>) = members.into_iter().unzip();
        let connections = store.connections_of(&users, now_s).await?;
        (users, joined_seqs, connections)
    };
    let joined: HashMap<&str, u64> = users.iter().map(String::as_str).zip(joined_seqs).collect();
    // Only the newest image of each seq in the batch: a tombstone later in it replaces the
    // text it deleted, which a redelivered batch (or a recall right after the send) would
    // otherwise push again, to members who never had it among them.
    let newest = |i: usize, m: &Message| !messages[i + 1..].iter().any(|(_, n)| n.seq == m.seq);
    let kept: Vec<&Message> = messages
        .iter()
        .enumerate()
        .filter(|(i, (_, m))| newest(*i, m))
        .map(|(_, (_, m))| m)
        .collect();
    let all: Arc<[Vec<u8>]> = kept
        .iter()
        .map(|m| serde_json::to_vec(&Frame::of(m)).expect("a frame serialises"))
        .collect();
    // Entries from before someone joined are not theirs to be pushed: a batch retried after a
    // recall and an addition would otherwise hand the newcomer the recalled text. A tombstone
    // goes to everyone: it holds nothing, and history may show a newcomer what it erases. So
    // frame i reaches members who joined at or before `reaches[i]`.
    let reaches: Vec<u64> = kept
        .iter()
        .map(|m| match m.body {
            MessageBody::Deleted(_) => u64::MAX,
            _ => m.seq,
        })
        .collect();
    let reach_of_all = reaches.iter().copied().min().unwrap_or(u64::MAX);
    // Members for the whole batch (nearly always all) share one list; the rare newcomers, one
    // list per joining seq.
    let mut later: HashMap<u64, Arc<[Vec<u8>]>> = HashMap::new();
    let posts = connections.into_iter().map(|c| {
        let joined_seq = joined.get(c.user_id.as_str()).copied().unwrap_or(0);
        let frames = match joined_seq <= reach_of_all {
            true => all.clone(),
            false => later
                .entry(joined_seq)
                .or_insert_with(|| {
                    let reached = all.iter().zip(&reaches).filter(|(_, r)| joined_seq <= **r);
                    reached.map(|(frame, _)| frame.clone()).collect()
                })
                .clone(),
        };
        (c, frames)
    });
    // A connection left nothing is still counted as found, and posted nothing.
    let posts: Vec<_> = posts.collect();
    Ok(post_each(store, deliver, posting, posts, now_s).await)
}

/// Posts each connection its frames ([`post_all`]), each connection holding one of the
/// invocation's `posting` slots ([`CONCURRENT_POSTS`]) meanwhile. Owned items: a stream of
/// borrowed ones trips the compiler's Send check in the handler.
pub(super) async fn post_each<D: Deliver, F: AsRef<[Vec<u8>]>>(
    store: &Store,
    deliver: &D,
    posting: &Semaphore,
    posts: Vec<(Connection, F)>,
    now_s: i64,
) -> Counts {
    let mut counts = Counts {
        connections: posts.len(),
        ..Counts::default()
    };
    let mut outcomes = futures::stream::iter(posts)
        .map(|(connection, frames)| async move {
            let _slot = posting.acquire().await.expect("never closed");
            post_all(store, deliver, connection, frames.as_ref(), now_s).await
        })
        .buffer_unordered(CONCURRENT_POSTS);
    while let Some((sent, last)) = outcomes.next().await {
        counts.add(sent, last);
    }
    counts
}

/// Posts `frames` to one connection in order; stops at a gone connection (and forgets it,
/// unless it may still be opening: then the post counts as failed). Returns how many were sent
/// and the worst outcome.
async fn post_all<D: Deliver>(
    store: &Store,
    deliver: &D,
    connection: Connection,
    frames: &[Vec<u8>],
    now_s: i64,
) -> (usize, Delivery) {
    let mut sent = 0;
    let mut worst = Delivery::Sent;
    for frame in frames {
        match deliver.post(&connection.connection_id, frame).await {
            Delivery::Sent => sent += 1,
            Delivery::Gone if now_s - connection.opened_at_s < OPENING_GRACE_S => {
                return (sent, Delivery::Failed);
            }
            Delivery::Gone => {
                if let Err(e) = store
                    .delete_connection(&connection.user_id, &connection.connection_id)
                    .await
                {
                    // Harmless: TTL removes it, and the next post finds it gone again.
                    tracing::warn!(error = %e, "could not forget a gone connection");
                }
                return (sent, Delivery::Gone);
            }
            Delivery::Failed => worst = Delivery::Failed,
        }
    }
    (sent, worst)
}

/// API Gateway's management API for one WebSocket API stage
/// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`).
#[derive(Clone, Debug)]
pub struct ManagementApi {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ManagementApi {
    pub fn new(sdk: &crate::infra::aws::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Self {
            client: aws_sdk_apigatewaymanagement::Client::from_conf(config),
        }
    }
}

impl Deliver for ManagementApi {
    async fn post(&self, connection_id: &str, frame: &[u8]) -> Delivery {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(aws_smithy_types::Blob::new(frame))
            .send()
            .await;
        match result {
            Ok(_) => Delivery::Sent,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_gone_exception()) => Delivery::Gone,
            Err(e) => {
                tracing::warn!(
                    connection_id,
                    error = %aws_smithy_types::error::display::DisplayErrorContext(&e),
                    "frame not delivered"
                );
                Delivery::Failed
            }
        }
    }
}
