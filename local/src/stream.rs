//! The stream pumps of the local stack's push: [`pump_stream`] plays Lambda's event source
//! mappings of template.yaml's `push-fanout` function. It reads a table's stream on the stand-in
//! (DynamoDB Streams), turns each batch into the Lambda event and hands it to `push-fanout`,
//! with the mapping's rules: a failed read is retried from the last record handed on, never
//! skipping one; a batch the function reports failed is retried from its failed record, as
//! often as the template says ([`hand_on`]). The stack runs one pump per stream the template
//! maps to the function: the messages table's and the members table's (read markers), each with
//! its mapping's filter ([`StreamFilter`]): a batch with nothing the filter passes invokes
//! nothing. Each reads as soon as the stack has written to its table (a
//! [`crate::wake::Signal`] raised by the stack's DynamoDB client), and otherwise on a poll that
//! backs off to once every [`POLL_SLOWEST`] while nothing happens.

use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use shared::infra::push::fanout::ManagementApi;
use shared::infra::store::VIA_MARK;
use shared::App;

/// The fallback poll of a stream (crate::wake), for writes the stack did not signal (another
/// process on the same stand-in): every 20 ms after such a write was found, backing off to
/// every 2 s. Lambda polls a shard four times a second; signalled writes are read at once.
const POLL_FASTEST: Duration = Duration::from_millis(20);
pub const POLL_SLOWEST: Duration = Duration::from_secs(2);
/// Records per GetRecords, as a `BatchSize` of 100 in the template's event source mapping.
const BATCH_SIZE: i32 = 100;

/// Where the pump reads next: a shard iterator of the stream's shard.
#[derive(Clone, Debug)]
pub struct StreamPosition {
    iterator: String,
    stream_arn: String,
    shard_id: String,
}

/// The retry rules of the template's `push-fanout` mapping of this table's stream (logical id).
pub fn fanout_retry(table: &str) -> crate::template::StreamRetry {
    static RETRIES: std::sync::OnceLock<[crate::template::StreamRetry; 2]> =
        std::sync::OnceLock::new();
    let [messages, members] = *RETRIES.get_or_init(|| {
        let template = include_str!("../../template.yaml");
        ["MessagesTable", "MembersTable"].map(|table| {
            crate::template::stream_retry(template, "PushFanoutFunction", table)
                .unwrap_or_else(|e| panic!("template.yaml: {e}"))
        })
    });
    match table {
        "MessagesTable" => messages,
        "MembersTable" => members,
        other => panic!("push-fanout maps no stream of {other}"),
    }
}

/// The filter of a stream's event source mapping in template.yaml, applied as Lambda applies it
/// (filtered records never reach the function), and which of the stack's writes may make a
/// record it passes: only those wake the stream's pump (crate::wake). The fallback poll reads the
/// rest, so a write misjudged here is pushed late, never lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFilter {
    /// The messages table's mapping: every record.
    Unfiltered,
    /// The members table's ([`MEMBERS_STREAM_PATTERN`]): a marker moved by `PUT …/read`. Every
    /// send also moves its author's marker (`read_via = append`), so without this a send woke
    /// both pumps, and the members pump's read took the stand-in's turn from the fan-out's.
    MarkerMoves,
}

/// The members mapping's filter pattern, as template.yaml states it (a test keeps them equal).
pub const MEMBERS_STREAM_PATTERN: &str =
    r#"{"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"read_via": {"S": ["mark"]}}}}"#;

impl StreamFilter {
    /// Whether the mapping delivers this record to the function.
    pub fn passes(self, record: &aws_sdk_dynamodbstreams::types::Record) -> bool {
        use aws_sdk_dynamodbstreams::types::OperationType;
        match self {
            Self::Unfiltered => true,
            Self::MarkerMoves => {
                record.event_name == Some(OperationType::Modify)
                    && record
                        .dynamodb
                        .as_ref()
                        .and_then(|change| change.new_image.as_ref()?.get("read_via"))
                        .is_some_and(|via| via.as_s().is_ok_and(|via| via == VIA_MARK))
            }
        }
    }

    /// Whether a write may make a record this filter passes. A marker moves by an update that
    /// sets `read_via` to `mark` (`Store::mark_read`); anything else on a member item (joins,
    /// roles, an append's own move) is filtered out deployed.
    pub fn may_pass(self, write: &crate::wake::ItemWrite) -> bool {
        match (self, write) {
            (Self::Unfiltered, _) => true,
            (Self::MarkerMoves, crate::wake::ItemWrite::Update { expression, values }) => {
                expression.contains("read_via")
                    && values.is_some_and(|values| {
                        values
                            .values()
                            .any(|v| v.as_s().is_ok_and(|v| v == VIA_MARK))
                    })
            }
            (Self::MarkerMoves, _) => false,
        }
    }
}

/// The end of a table's stream: what [`pump_stream`] starts from, so a caller that waits for
/// it knows every later write will be pushed (tests do).
pub async fn stream_end(
    streams: &aws_sdk_dynamodbstreams::Client,
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<StreamPosition, String> {
    latest_iterator(streams, ddb, table).await
}

/// An iterator just after `sequence_number` on the shard of `at`: where a read that failed
/// after `sequence_number` was handed on starts again.
async fn after(
    streams: &aws_sdk_dynamodbstreams::Client,
    at: &StreamPosition,
    sequence_number: &str,
) -> Result<StreamPosition, String> {
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(&at.stream_arn)
        .shard_id(&at.shard_id)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::AfterSequenceNumber)
        .sequence_number(sequence_number)
        .send()
        .await
        .map_err(|e| aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())?
        .shard_iterator
        .ok_or("no shard iterator")?;
    Ok(StreamPosition {
        iterator,
        ..at.clone()
    })
}

/// Reads `table`'s stream from `start` (or its end) onwards and hands each batch to
/// `push-fanout`, for as long as the stack runs: at once when `written` is raised (after the
/// stack's writes to `table`), otherwise on a poll that backs off while nothing is found.
/// As the mapping: a read that fails is retried from where the last one ended (never skipping a
/// record), a batch `push-fanout` fails is retried from its failed record ([`hand_on`]), and
/// records the mapping's filter does not pass are skipped.
pub async fn pump_stream(
    app: &'static App,
    streams: aws_sdk_dynamodbstreams::Client,
    ddb: aws_sdk_dynamodb::Client,
    deliver: ManagementApi,
    streamed: crate::wake::StreamedTable,
    start: Option<StreamPosition>,
) {
    let crate::wake::StreamedTable {
        table,
        written,
        filter,
        retry,
    } = streamed;
    let mut position = start;
    // The last record handed on (or filtered out), and the position it was read from: where a
    // failed read starts again, as the mapping's checkpoint.
    let mut handed_on: Option<(String, StreamPosition)> = None;
    // A failed read before any record was handed on retries its iterator once (DynamoDB takes
    // one again for 15 minutes; the stand-in retires it once answered, see decisions.md).
    let mut retried_iterator = false;
    let mut wake = written.waiter(POLL_FASTEST, POLL_SLOWEST);
    loop {
        let resumed = match (position.take(), &handed_on) {
            (Some(p), _) => Ok(p),
            (None, Some((sequence_number, at))) => after(&streams, at, sequence_number).await,
            (None, None) => stream_end(&streams, &ddb, &table).await,
        };
        let current = match resumed {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, table, "stream not readable yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        wake.reading();
        let out = match streams
            .get_records()
            .shard_iterator(&current.iterator)
            .limit(BATCH_SIZE)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(error = %aws_smithy_types::error::display::DisplayErrorContext(&e), table, "GetRecords failed; read again from the last record handed on");
                if handed_on.is_none() && !retried_iterator {
                    retried_iterator = true;
                    position = Some(current);
                } else if handed_on.is_none() {
                    tracing::warn!(
                        table,
                        "no record handed on yet: reading from the stream's end"
                    );
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        retried_iterator = false;
        position = out.next_shard_iterator.map(|iterator| StreamPosition {
            iterator,
            ..current.clone()
        });
        let records = out.records.unwrap_or_default();
        // A full batch may have more behind it; a shorter one read the shard to its end as of
        // the read, and whatever the stack appended since has signalled.
        let full = records.len() >= BATCH_SIZE as usize;
        let last = records
            .last()
            .and_then(|r| r.dynamodb.as_ref()?.sequence_number.clone());
        let records: Vec<_> = records.into_iter().filter(|r| filter.passes(r)).collect();
        if !records.is_empty() {
            // Only what passes is evidence of an unsignalled writer: filtered records are the
            // stack's own writes that by design do not signal.
            wake.found();
            hand_on(app, &deliver, records, &current.stream_arn, retry).await;
        }
        // A closed shard (no next iterator; never on the stand-in) starts again at the end.
        handed_on = match (&position, last) {
            (None, _) => None,
            (Some(_), Some(last)) => Some((last, current)),
            (Some(_), None) => handed_on,
        };
        if !full {
            wake.idle().await;
        }
    }
}

/// Hands `records` to `push-fanout` as the mapping does (`ReportBatchItemFailures`): a batch
/// that reports a failed record is invoked again from that record on, after a short backoff, up
/// to `MaximumRetryAttempts` times, without records older than `MaximumRecordAgeInSeconds`;
/// then it is given up (the template names no on-failure destination). Deployed, the mapping
/// would also bisect a batch whose invocation failed outright; `push-fanout` never fails
/// outright, it reports the record.
async fn hand_on(
    app: &'static App,
    deliver: &ManagementApi,
    mut records: Vec<aws_sdk_dynamodbstreams::types::Record>,
    stream_arn: &str,
    retry: crate::template::StreamRetry,
) {
    let mut retries = 0;
    loop {
        let event = lambda_event(records.clone(), stream_arn);
        let response = push_fanout::handle(app, deliver, event).await;
        let Some(failed) = first_failed(&records, &response) else {
            return;
        };
        records.drain(..failed);
        let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs();
        records.retain(|r| {
            let created = r
                .dynamodb
                .as_ref()
                .and_then(|c| c.approximate_creation_date_time);
            created.is_none_or(|t| now - t.secs() <= retry.max_record_age.as_secs() as i64)
        });
        if records.is_empty() {
            tracing::warn!("a failed fan-out batch is older than the mapping retries; dropped");
            return;
        }
        if retries == retry.max_retry_attempts {
            tracing::warn!(
                records = records.len(),
                retries,
                "a fan-out batch failed every attempt; given up, as the mapping gives it up"
            );
            return;
        }
        retries += 1;
        tokio::time::sleep(Duration::from_millis(100) * 2u32.pow(retries - 1)).await;
    }
}

/// Where a batch is retried from: its earliest record the function reported failed (Lambda
/// retries the whole batch when a reported identifier is not one of its records).
fn first_failed(
    records: &[aws_sdk_dynamodbstreams::types::Record],
    response: &aws_lambda_events::event::streams::DynamoDbEventResponse,
) -> Option<usize> {
    response
        .batch_item_failures
        .iter()
        .map(|failure| {
            records
                .iter()
                .position(|r| {
                    let sequence = r.dynamodb.as_ref().and_then(|c| c.sequence_number.as_ref());
                    sequence.is_some() && sequence == failure.item_identifier.as_ref()
                })
                .unwrap_or(0)
        })
        .min()
}

/// An iterator at the end of the stream's (one, on the stand-in) shard.
async fn latest_iterator(
    streams: &aws_sdk_dynamodbstreams::Client,
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<StreamPosition, String> {
    let described = ddb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let arn = described
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or("the table has no stream")?;
    let stream = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .stream_description
        .ok_or("no stream description")?;
    let shard = stream
        .shards
        .unwrap_or_default()
        .into_iter()
        .last()
        .and_then(|s| s.shard_id)
        .ok_or("the stream has no shard")?;
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(&shard)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::Latest)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .shard_iterator
        .ok_or("no shard iterator")?;
    Ok(StreamPosition {
        iterator,
        stream_arn: arn,
        shard_id: shard,
    })
}

/// The event Lambda's event source mapping would deliver for these records.
fn lambda_event(records: Vec<aws_sdk_dynamodbstreams::types::Record>, stream_arn: &str) -> Event {
    let mut event = Event::default();
    for record in records {
        let mut r = EventRecord::default();
        r.event_id = record.event_id.unwrap_or_default();
        r.event_name = record
            .event_name
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        r.event_source = record.event_source;
        r.event_version = record.event_version;
        r.aws_region = record.aws_region.unwrap_or_default();
        r.event_source_arn = Some(stream_arn.to_string());
        if let Some(change) = record.dynamodb {
            r.change.sequence_number = change.sequence_number;
            r.change.size_bytes = change.size_bytes.unwrap_or_default();
            r.change.keys = change.keys.unwrap_or_default().into();
            r.change.new_image = change.new_image.unwrap_or_default().into();
            r.change.old_image = change.old_image.unwrap_or_default().into();
        }
        event.records.push(r);
    }
    event
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record, StreamRecord};

    use super::*;

    #[test]
    fn the_members_filter_is_the_templates() {
        let template = include_str!("../../template.yaml");
        assert!(template.contains(&format!("Pattern: '{MEMBERS_STREAM_PATTERN}'")));
    }

    /// Both fan-out mappings' retry rules read from the template (a stack would not start).
    #[test]
    fn the_fan_out_mappings_retry_rules_are_the_templates() {
        for table in ["MessagesTable", "MembersTable"] {
            let retry = fanout_retry(table);
            assert!(retry.max_retry_attempts > 0, "{table}: {retry:?}");
            assert!(retry.max_record_age.as_secs() > 0, "{table}: {retry:?}");
        }
    }

    #[test]
    fn the_members_filter_passes_only_a_marker_moved_by_mark() {
        let record = |name: OperationType, via: Option<&str>| {
            let image = via.map(|v| {
                std::collections::HashMap::from([("read_via".into(), AttributeValue::S(v.into()))])
            });
            Record::builder()
                .event_name(name)
                .dynamodb(StreamRecord::builder().set_new_image(image).build())
                .build()
        };
        let filter = StreamFilter::MarkerMoves;
        assert!(filter.passes(&record(OperationType::Modify, Some("mark"))));
        assert!(!filter.passes(&record(OperationType::Modify, Some("append"))));
        assert!(!filter.passes(&record(OperationType::Insert, Some("mark"))));
        assert!(!filter.passes(&record(OperationType::Modify, None)));
        assert!(!filter.passes(&record(OperationType::Remove, None)));
        assert!(StreamFilter::Unfiltered.passes(&record(OperationType::Remove, None)));
    }
}
