//! Push on the local stack, the way the deployed stack does it, with the same function code:
//!
//! * `GET /ws` (a WebSocket upgrade) plays API Gateway's WebSocket API: the token (`?token=`,
//!   or `Authorization: Bearer`) is checked by the local authorizer with the HTTP API's rules,
//!   then `ws-connections` runs for `$connect` with the user in the authorizer context, and for
//!   `$disconnect` when the socket closes.
//! * `POST /@connections/{id}` plays API Gateway's management API (`410 GoneException` for a
//!   connection that is not open), so `push-fanout` posts through the real SDK client. It
//!   listens on an internal port of its own (`server::serve_management`), never the public one.
//! * [`pump_stream`] plays Lambda's event source mappings: it reads a table's stream on the
//!   stand-in (DynamoDB Streams), turns each batch into the Lambda event and hands it to
//!   `push-fanout`. The stack runs one per stream the template maps to it: the messages
//!   table's and the members table's (read markers), each with its mapping's filter
//!   ([`StreamFilter`]): a batch with nothing the filter passes invokes nothing. Each reads as soon as the stack has written to its table (a
//!   [`crate::wake::Signal`] raised by the stack's DynamoDB client), and otherwise on a poll
//!   that backs off to once every [`POLL_SLOWEST`] while nothing happens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use shared::infra::push::fanout::ManagementApi;
use shared::infra::store::VIA_MARK;
use shared::App;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::{Message as WsMessage, Role};
use tokio_tungstenite::WebSocketStream;

/// The WebSocket endpoint's path.
pub const WS_PATH: &str = "/ws";
/// The management API's path prefix (the SDK appends `/@connections/{id}` to the endpoint).
pub const CONNECTIONS_PATH: &str = "/@connections/";
/// The fallback poll of a stream (crate::wake), for writes the stack did not signal (another
/// process on the same stand-in): every 20 ms after such a write was found, backing off to
/// every 2 s. Lambda polls a shard four times a second; signalled writes are read at once.
const POLL_FASTEST: Duration = Duration::from_millis(20);
pub const POLL_SLOWEST: Duration = Duration::from_secs(2);
/// Records per GetRecords, as a `BatchSize` of 100 in the template's event source mapping.
const BATCH_SIZE: i32 = 100;

type Response = hyper::Response<Full<Bytes>>;

/// Open sockets by connection id: where the management API puts frames.
#[derive(Clone, Default)]
pub struct Connections {
    open: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Outbound>>>>,
}

enum Outbound {
    Frame(Bytes),
    Close,
}

impl Connections {
    fn insert(&self, id: &str, tx: mpsc::UnboundedSender<Outbound>) {
        self.open.lock().unwrap().insert(id.to_string(), tx);
    }

    fn remove(&self, id: &str) {
        self.open.lock().unwrap().remove(id);
    }

    /// Queues `outbound` for connection `id`; false if it is not open.
    fn send(&self, id: &str, outbound: Outbound) -> bool {
        let open = self.open.lock().unwrap();
        open.get(id).is_some_and(|tx| tx.send(outbound).is_ok())
    }
}

/// The process's open sockets (one local stack per process, like the authorizer).
pub fn connections() -> &'static Connections {
    static CONNECTIONS: std::sync::OnceLock<Connections> = std::sync::OnceLock::new();
    CONNECTIONS.get_or_init(Connections::default)
}

/// `GET /ws`: authorizes, runs `$connect`, and upgrades; the socket then lives in its own task.
pub async fn upgrade(app: &'static App, mut req: hyper::Request<Incoming>) -> Response {
    let is_upgrade = req
        .headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return plain(400, "expected a WebSocket upgrade");
    };
    if !is_upgrade {
        return plain(400, "expected a WebSocket upgrade");
    }
    // API Gateway answers a refused $connect with 401 before any socket exists.
    let user_id = match user_of(&req).await {
        Ok(user) => user,
        Err(reason) => {
            tracing::info!(reason, "WebSocket connect refused");
            return plain(401, "Unauthorized");
        }
    };
    let connection_id = new_connection_id();
    // As API Gateway: $connect runs to completion before the handshake is answered, so a
    // client whose socket is open is already recorded (and gets the next fan-out).
    let connect = route_event("$connect", "CONNECT", &connection_id, &user_id);
    match ws_connections::handle(app, connect).await {
        Ok(r) if r.status_code == 200 => {}
        Ok(r) => return plain(r.status_code as u16, "connect refused"),
        Err(e) => {
            tracing::error!(error = %e, "$connect failed");
            return plain(500, "Internal server error");
        }
    }
    // And it takes frames from then on (queued until the socket's task runs): a fan-out that
    // finds it in the table right after the handshake must not be told it is gone (410), which
    // would forget it.
    let (tx, rx) = mpsc::unbounded_channel();
    connections().insert(&connection_id, tx);
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let io = TokioIo::new(upgraded);
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                serve_socket(app, ws, connection_id, user_id, rx).await;
            }
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                connections().remove(&connection_id);
                let event = route_event("$disconnect", "DISCONNECT", &connection_id, &user_id);
                let _ = ws_connections::handle(app, event).await;
            }
        }
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    hyper::Response::builder()
        .status(101)
        .header(hyper::header::CONNECTION, "upgrade")
        .header(hyper::header::UPGRADE, "websocket")
        .header("sec-websocket-accept", accept)
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}

/// The verified user of a connect request: the token in `?token=` (browsers cannot set headers
/// on a WebSocket) or in `Authorization: Bearer`.
async fn user_of(req: &hyper::Request<Incoming>) -> Result<String, &'static str> {
    let query = shared::edge::http::Query::parse(req.uri().query().unwrap_or(""))
        .map_err(|_| "malformed query")?;
    let token = match query.get("token") {
        Some(token) => token.to_string(),
        None => req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_string())
            .ok_or("no token")?,
    };
    let claims = crate::authorizer::global().verify(&token).await?;
    claims
        .get("sub")
        .and_then(|s| s.as_str())
        .filter(|s| shared::domain::ids::is_valid_id(s))
        .map(str::to_string)
        .ok_or("the token has no usable subject")
}

/// Frames from the management API out, the client's messages in (`$default`), until either
/// side closes; then `$disconnect`.
async fn serve_socket(
    app: &'static App,
    ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
    connection_id: String,
    user_id: String,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
) {
    let (mut sink, mut incoming) = ws.split();
    loop {
        tokio::select! {
            outbound = rx.recv() => match outbound {
                Some(Outbound::Frame(bytes)) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    if sink.send(WsMessage::text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Outbound::Close) | None => {
                    let _ = sink.close().await;
                    break;
                }
            },
            message = incoming.next() => match message {
                Some(Ok(WsMessage::Text(_))) => {
                    let event = route_event("$default", "MESSAGE", &connection_id, &user_id);
                    let _ = ws_connections::handle(app, event).await;
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                // Pings are answered by the protocol layer; binary frames are not part of it.
                Some(Ok(_)) => {}
            },
        }
    }
    connections().remove(&connection_id);
    let event = route_event("$disconnect", "DISCONNECT", &connection_id, &user_id);
    if let Err(e) = ws_connections::handle(app, event).await {
        tracing::warn!(connection_id, error = %e, "$disconnect failed");
    }
}

/// The event API Gateway hands the route's function, with the authorizer's context.
fn route_event(
    route: &str,
    event_type: &str,
    connection_id: &str,
    user_id: &str,
) -> aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest {
    let now_ms = shared::domain::time::now_ms();
    serde_json::from_value(serde_json::json!({
        "requestContext": {
            "routeKey": route,
            "eventType": event_type,
            "connectionId": connection_id,
            "connectedAt": now_ms,
            "requestTimeEpoch": now_ms,
            "requestId": shared::domain::ids::new_id(),
            "apiId": "local",
            "stage": "local",
            "domainName": "127.0.0.1",
            "messageDirection": "IN",
            "authorizer": { "principalId": user_id, "user_id": user_id },
        },
        "isBase64Encoded": false,
    }))
    .expect("a WebSocket route event")
}

/// Connection ids shaped like API Gateway's (11 random bytes, base64 with padding), so the
/// SDK's percent-encoding of `=`, `+` and `/` in the path is exercised as in AWS.
fn new_connection_id() -> String {
    use base64::Engine;
    let random = uuid::Uuid::new_v4();
    base64::engine::general_purpose::STANDARD.encode(&random.as_bytes()[..11])
}

/// `POST /@connections/{id}` (a frame), `DELETE` (close it), `GET` (is it open).
pub async fn management(req: hyper::Request<Incoming>) -> Response {
    use http_body_util::BodyExt;
    let raw = req.uri().path()[CONNECTIONS_PATH.len()..].to_string();
    let id = percent_encoding::percent_decode_str(&raw)
        .decode_utf8_lossy()
        .into_owned();
    let method = req.method().clone();
    let open = match method {
        hyper::Method::POST => match req.into_body().collect().await {
            Ok(body) => connections().send(&id, Outbound::Frame(body.to_bytes())),
            Err(_) => return plain(400, "unreadable body"),
        },
        hyper::Method::DELETE => connections().send(&id, Outbound::Close),
        hyper::Method::GET => connections().open.lock().unwrap().contains_key(&id),
        _ => return plain(405, "method not allowed"),
    };
    if !open {
        return hyper::Response::builder()
            .status(410)
            .header("x-amzn-errortype", "GoneException")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(br#"{"message":null}"#)))
            .expect("a valid response");
    }
    let status = if method == hyper::Method::DELETE {
        204
    } else {
        200
    };
    hyper::Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}

fn plain(status: u16, message: &str) -> Response {
    hyper::Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(
            serde_json::json!({ "message": message }).to_string(),
        )))
        .expect("a valid response")
}

/// Where the pump reads next: a shard iterator and the stream's ARN.
#[derive(Clone, Debug)]
pub struct StreamPosition {
    iterator: String,
    stream_arn: String,
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
    latest_iterator(streams, ddb, table)
        .await
        .map(|(iterator, stream_arn)| StreamPosition {
            iterator,
            stream_arn,
        })
}

/// Reads `table`'s stream from `start` (or its end) onwards and hands each batch to
/// `push-fanout`, for as long as the stack runs: at once when `written` is raised (after the
/// stack's writes to `table`), otherwise on a poll that backs off while nothing is found.
/// Pushing is best effort, as deployed: a read that fails is logged and retried. Records the
/// mapping's filter does not pass are skipped, as the mapping skips them.
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
    } = streamed;
    let mut position = start;
    let mut wake = written.waiter(POLL_FASTEST, POLL_SLOWEST);
    loop {
        let current = match position.take() {
            Some(p) => p,
            None => match stream_end(&streams, &ddb, &table).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, table, "stream not readable yet");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
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
                tracing::warn!(error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "GetRecords failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        position = out.next_shard_iterator.map(|iterator| StreamPosition {
            iterator,
            stream_arn: current.stream_arn.clone(),
        });
        let records = out.records.unwrap_or_default();
        // A full batch may have more behind it; a shorter one read the shard to its end as of
        // the read, and whatever the stack appended since has signalled.
        let full = records.len() >= BATCH_SIZE as usize;
        let records: Vec<_> = records.into_iter().filter(|r| filter.passes(r)).collect();
        if records.is_empty() {
            if !full {
                wake.idle().await;
            }
            continue;
        }
        // Only what passes is evidence of an unsignalled writer: filtered records are the
        // stack's own writes that by design do not signal.
        wake.found();
        let event = lambda_event(records, &current.stream_arn);
        let response = push_fanout::handle(app, &deliver, event).await;
        if !response.batch_item_failures.is_empty() {
            // Lambda would retry from the failed record; here the client's catch-up covers it.
            tracing::warn!("a fan-out batch reported failures (not retried locally)");
        }
        if !full {
            wake.idle().await;
        }
    }
}

/// An iterator at the end of the stream's (one, on the stand-in) shard, and the stream's ARN.
async fn latest_iterator(
    streams: &aws_sdk_dynamodbstreams::Client,
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(String, String), String> {
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
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::Latest)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .shard_iterator
        .ok_or("no shard iterator")?;
    Ok((iterator, arn))
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
