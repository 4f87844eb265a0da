//! When the local stack's background readers read (the messages stream, the uploads and
//! previews queues): at once after a write the stack itself made, otherwise on a poll that
//! backs off while nothing happens.
//!
//! Every handler runs in this process with the stack's SDK clients, so the stack knows when it
//! wrote: an interceptor on those clients raises a [`Signal`] after each successful write that
//! can give a reader something to read (a DynamoDB write to the messages table; an object the
//! stack put in S3; a message it sent to a queue). A reader waits on its signal, and still polls
//! in case something else wrote (a client's presigned upload straight to S3, another process on
//! the same stand-in, a message whose visibility timeout ran out). That poll backs off, doubling
//! up to its slowest, while it finds nothing, and starts fast again when it finds something
//! (evidence of a writer that does not signal). Each poll is a stand-in call (a few ms of CPU in
//! moto and in this debug build), so the slowest interval is what a stack nobody uses costs.
//!
//! The signal only decides when to read: what is read, in what order and batches, is the
//! stand-in's, as deployed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use tokio::sync::watch;

pub use crate::stream::StreamFilter;

/// "There may be something new to read." Cheap to clone; raising it wakes every [`Waiter`].
#[derive(Clone, Debug)]
pub struct Signal(Arc<watch::Sender<u64>>);

impl Default for Signal {
    fn default() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }
}

impl Signal {
    pub fn raise(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A reader's waiter, polling at least every `slowest` while nothing is signalled.
    pub fn waiter(&self, fastest: Duration, slowest: Duration) -> Waiter {
        Waiter {
            signals: self.0.subscribe(),
            fastest,
            slowest,
            next_poll: fastest,
            polled: true,
            signal_restarts_poll: false,
        }
    }
}

/// A reader's side of a [`Signal`], with its fallback poll.
#[derive(Debug)]
pub struct Waiter {
    signals: watch::Receiver<u64>,
    fastest: Duration,
    slowest: Duration,
    next_poll: Duration,
    /// Whether the last wait ended by the poll (the first read counts as one).
    polled: bool,
    signal_restarts_poll: bool,
}

impl Waiter {
    /// A signal also starts the poll fast again: for signals that announce unsignalled writes
    /// to come (a file record written: its bytes go straight to S3).
    pub fn signal_restarts_poll(mut self) -> Self {
        self.signal_restarts_poll = true;
        self
    }

    /// Call just before reading: what was signalled so far is covered by this read, and a
    /// write acknowledged while it is under way still wakes the next [`Waiter::idle`].
    pub fn reading(&mut self) {
        self.signals.borrow_and_update();
    }

    /// After a read that found something. If the poll found it, something writes without
    /// signalling (a client uploading straight to S3, say), so the poll starts fast again;
    /// what a signal led to says nothing about that.
    pub fn found(&mut self) {
        if self.polled {
            self.next_poll = self.fastest;
        }
    }

    /// Waits until signalled (at once if a signal came since [`Waiter::reading`]) or until the
    /// fallback poll is due. The poll's interval doubles, up to `slowest`, each time it comes
    /// due, so a stack that nothing uses reads rarely.
    pub async fn idle(&mut self) {
        let poll = self.next_poll;
        self.polled = match tokio::time::timeout(poll, self.signals.changed()).await {
            Ok(Ok(())) => false,
            Ok(Err(_)) => {
                // Nothing can signal any more: poll only.
                tokio::time::sleep(poll).await;
                true
            }
            Err(_) => true,
        };
        if self.polled {
            self.next_poll = (poll * 2).min(self.slowest);
        } else if self.signal_restarts_poll {
            self.next_poll = self.fastest;
        }
    }

    /// Whether a signal came since [`Waiter::reading`] (tests use it).
    pub fn signalled(&self) -> bool {
        self.signals.has_changed().unwrap_or(false)
    }
}

/// Raises a signal after each successful DynamoDB write (`PutItem`, `UpdateItem`, `DeleteItem`,
/// `TransactWriteItems`, `BatchWriteItem`) that touches one of its tables, unless the table's
/// stream filter passes no record such a write can make.
#[derive(Clone, Debug, Default)]
pub struct TableWrites {
    tables: Vec<(String, Signal, StreamFilter)>,
}

/// One item written by a DynamoDB request, as much of it as a [`StreamFilter`] looks at.
#[derive(Clone, Copy, Debug)]
pub enum ItemWrite<'a> {
    Put,
    Delete,
    Update {
        expression: &'a str,
        values: Option<&'a HashMap<String, AttributeValue>>,
    },
}

impl<'a> ItemWrite<'a> {
    fn update(
        expression: Option<&'a str>,
        values: Option<&'a HashMap<String, AttributeValue>>,
    ) -> Self {
        let expression = expression.unwrap_or_default();
        Self::Update { expression, values }
    }
}

impl TableWrites {
    /// Raises `signal` after writes to `table` (more than one signal per table is fine).
    pub fn on(self, table: impl Into<String>, signal: &Signal) -> Self {
        self.on_filtered(table, signal, StreamFilter::Unfiltered)
    }

    /// Raises `signal` after the writes to `table` that may make a record `filter` passes.
    pub fn on_filtered(
        mut self,
        table: impl Into<String>,
        signal: &Signal,
        filter: StreamFilter,
    ) -> Self {
        self.tables.push((table.into(), signal.clone(), filter));
        self
    }

    fn signals_for<'a>(
        &self,
        writes: impl IntoIterator<Item = (&'a str, ItemWrite<'a>)>,
    ) -> Vec<Signal> {
        let mut due: Vec<Signal> = Vec::new();
        for (table, write) in writes {
            for (name, signal, filter) in &self.tables {
                if name == table
                    && filter.may_pass(&write)
                    && !due.iter().any(|s| Arc::ptr_eq(&s.0, &signal.0))
                {
                    due.push(signal.clone());
                }
            }
        }
        due
    }
}

/// A table whose stream the stack reads into `push-fanout`: what its pump reads, what wakes it
/// and what the mapping passes on.
#[derive(Clone, Debug)]
pub struct StreamedTable {
    pub table: String,
    /// Raised after the stack's writes to `table` that `filter` may pass.
    pub written: Signal,
    pub filter: StreamFilter,
    /// How its mapping retries a batch `push-fanout` failed (template.yaml).
    pub retry: crate::template::StreamRetry,
}

/// The signals of the streams the stack reads into `push-fanout` (those the template maps to
/// it): one per table, raised after the stack's writes to it.
#[derive(Clone, Debug, Default)]
pub struct StreamWrites {
    pub messages: Signal,
    pub members: Signal,
}

impl StreamWrites {
    /// Each streamed table with its signal and its mapping's filter (template.yaml).
    pub fn by_table(&self, tables: &shared::config::Tables) -> [StreamedTable; 2] {
        let streamed = |table: &String, written: &Signal, filter, logical_id| StreamedTable {
            table: table.clone(),
            written: written.clone(),
            filter,
            retry: crate::stream::fanout_retry(logical_id),
        };
        [
            streamed(
                &tables.messages,
                &self.messages,
                StreamFilter::Unfiltered,
                "MessagesTable",
            ),
            streamed(
                &tables.members,
                &self.members,
                StreamFilter::MarkerMoves,
                "MembersTable",
            ),
        ]
    }

    /// The interceptor that raises them (more tables can be added with [`TableWrites::on`]).
    pub fn interceptor(&self, tables: &shared::config::Tables) -> TableWrites {
        self.by_table(tables)
            .iter()
            .fold(TableWrites::default(), |writes, streamed| {
                writes.on_filtered(&streamed.table, &streamed.written, streamed.filter)
            })
    }
}

/// The signals a call in flight raises if it succeeds (kept in its config bag).
#[derive(Debug)]
struct Due(Vec<Signal>);

impl Storable for Due {
    type Storer = StoreReplace<Self>;
}

impl Intercept for TableWrites {
    fn name(&self) -> &'static str {
        "TableWrites"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            batch_write_item::BatchWriteItemInput, delete_item::DeleteItemInput,
            put_item::PutItemInput, transact_write_items::TransactWriteItemsInput,
            update_item::UpdateItemInput,
        };
        let input = context.input();
        let writes: Vec<(&str, ItemWrite)> = if let Some(i) = input.downcast_ref::<PutItemInput>() {
            i.table_name()
                .map(|t| (t, ItemWrite::Put))
                .into_iter()
                .collect()
        } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
            let write = ItemWrite::update(
                i.update_expression(),
                i.expression_attribute_values.as_ref(),
            );
            i.table_name().map(|t| (t, write)).into_iter().collect()
        } else if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
            i.table_name()
                .map(|t| (t, ItemWrite::Delete))
                .into_iter()
                .collect()
        } else if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
            i.transact_items()
                .iter()
                .flat_map(|item| {
                    [
                        item.put().map(|w| (w.table_name(), ItemWrite::Put)),
                        item.update().map(|w| {
                            let values = w.expression_attribute_values.as_ref();
                            (
                                w.table_name(),
                                ItemWrite::update(Some(w.update_expression()), values),
                            )
                        }),
                        item.delete().map(|w| (w.table_name(), ItemWrite::Delete)),
                    ]
                })
                .flatten()
                .collect()
        } else if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
            i.request_items()
                .into_iter()
                .flat_map(|items| items.iter())
                .flat_map(|(table, requests)| {
                    requests.iter().map(move |r| {
                        let write = if r.put_request().is_some() {
                            ItemWrite::Put
                        } else {
                            ItemWrite::Delete
                        };
                        (table.as_str(), write)
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let due = self.signals_for(writes);
        if !due.is_empty() {
            cfg.interceptor_state().store_put(Due(due));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(Due(due)), Some(Ok(_))) = (cfg.load::<Due>(), context.output_or_error()) {
            due.iter().for_each(Signal::raise);
        }
        Ok(())
    }
}

/// Raises a signal after each successful call of these operations (by the SDK's operation
/// name, e.g. `PutObject`, `SendMessage`).
#[derive(Clone, Debug)]
pub struct OperationsSucceeded {
    operations: &'static [&'static str],
    signal: Signal,
}

impl OperationsSucceeded {
    pub fn new(operations: &'static [&'static str], signal: &Signal) -> Self {
        Self {
            operations,
            signal: signal.clone(),
        }
    }
}

/// The S3 operations that create an object, so S3 may notify `ObjectCreated`.
pub const S3_OBJECT_CREATED: &[&str] = &["PutObject", "CopyObject", "CompleteMultipartUpload"];
/// The SQS operations that put a message in a queue.
pub const SQS_SENDS: &[&str] = &["SendMessage", "SendMessageBatch"];

impl Intercept for OperationsSucceeded {
    fn name(&self) -> &'static str {
        "OperationsSucceeded"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(Metadata::name);
        if operation.is_some_and(|op| self.operations.contains(&op))
            && matches!(context.output_or_error(), Some(Ok(_)))
        {
            self.signal.raise();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    /// `idle`, failing instead of hanging if nothing ends it.
    async fn idle(waiter: &mut Waiter) {
        tokio::time::timeout(Duration::from_secs(30), waiter.idle())
            .await
            .expect("the wait ended");
    }

    #[tokio::test]
    async fn the_poll_backs_off_while_nothing_is_signalled() {
        let signal = Signal::default();
        let mut waiter = signal.waiter(Duration::from_millis(1), Duration::from_millis(8));
        let mut polls = Vec::new();
        for _ in 0..6 {
            waiter.reading();
            idle(&mut waiter).await;
            assert!(waiter.polled);
            polls.push(waiter.next_poll.as_millis());
        }
        assert_eq!(polls, [2, 4, 8, 8, 8, 8]);
        // What the poll found makes it fast again.
        waiter.found();
        assert_eq!(waiter.next_poll, Duration::from_millis(1));
    }

    #[tokio::test]
    async fn a_signal_wakes_at_once_and_leaves_the_poll_as_it_was() {
        let signal = Signal::default();
        let mut waiter = signal.waiter(HOUR, HOUR);
        // Raised during a read (after `reading`): the next wait ends at once.
        waiter.reading();
        signal.raise();
        assert!(waiter.signalled());
        idle(&mut waiter).await;
        assert!(!waiter.polled);
        // Raised before `reading`: that read covers it.
        signal.raise();
        waiter.reading();
        assert!(!waiter.signalled());
        // Raised by another task while waiting.
        let raiser = signal.clone();
        tokio::spawn(async move { raiser.raise() });
        idle(&mut waiter).await;
        // What a signal led to says nothing about unsignalled writers: the poll stays slow.
        let mut waiter = signal.waiter(Duration::from_millis(1), HOUR);
        waiter.reading();
        idle(&mut waiter).await;
        waiter.reading();
        idle(&mut waiter).await;
        assert_eq!(waiter.next_poll, Duration::from_millis(4));
        waiter.reading();
        signal.raise();
        idle(&mut waiter).await;
        waiter.found();
        assert_eq!(waiter.next_poll, Duration::from_millis(4));
        // Unless signals announce unsignalled writes.
        let mut waiter = signal
            .waiter(Duration::from_millis(1), HOUR)
            .signal_restarts_poll();
        waiter.reading();
        idle(&mut waiter).await;
        assert_eq!(waiter.next_poll, Duration::from_millis(2));
        waiter.reading();
        signal.raise();
        idle(&mut waiter).await;
        assert_eq!(waiter.next_poll, Duration::from_millis(1));
    }

    #[test]
    fn table_writes_raise_each_signal_once_for_the_tables_they_touch() {
        let (messages, files) = (Signal::default(), Signal::default());
        let writes = TableWrites::default()
            .on("m", &messages)
            .on("f", &files)
            .on("m2", &messages);
        let puts = |tables: &[&'static str]| {
            tables
                .iter()
                .map(|t| (*t, ItemWrite::Put))
                .collect::<Vec<_>>()
        };
        assert_eq!(writes.signals_for(puts(&["x"])).len(), 0);
        assert_eq!(writes.signals_for(puts(&["m", "m2", "x"])).len(), 1);
        assert_eq!(writes.signals_for(puts(&["f", "m"])).len(), 2);
    }

    #[test]
    fn a_filtered_table_signals_only_the_writes_its_filter_may_pass() {
        let markers = Signal::default();
        let writes =
            TableWrites::default().on_filtered("members", &markers, StreamFilter::MarkerMoves);
        let via = |v: &str| HashMap::from([(":via".to_string(), AttributeValue::S(v.into()))]);
        let (mark, append) = (via("mark"), via("append"));
        let moved = |values| ItemWrite::Update {
            expression: "SET read_seq = :n, read_via = :via",
            values,
        };
        assert_eq!(
            writes.signals_for([("members", moved(Some(&mark)))]).len(),
            1
        );
        assert_eq!(
            writes
                .signals_for([("members", moved(Some(&append)))])
                .len(),
            0
        );
        assert_eq!(
            writes
                .signals_for([("members", ItemWrite::Put), ("members", ItemWrite::Delete)])
                .len(),
            0
        );
        let role = ItemWrite::Update {
            expression: "SET #r = :via",
            values: Some(&mark),
        };
        assert_eq!(
            writes.signals_for([("members", role)]).len(),
            0,
            "`mark` set elsewhere than read_via"
        );
    }
}
