//! Push on the local stack, the way the deployed stack does it, with the same function code:
//!
//! * `GET /ws` (a WebSocket upgrade) plays API Gateway's WebSocket API: the token (`?token=`,
//!   or `Authorization: Bearer`) is checked by the local authorizer with the HTTP API's rules,
//!   then `ws-connections` runs for `$connect` with the user in the authorizer context, and for
//!   `$disconnect` when the socket closes.
//! * `POST /@connections/{id}` plays API Gateway's management API (`410 GoneException` for a
//!   connection that is not open), so `push-fanout` posts through the real SDK client. It
//!   listens on an internal port of its own (`server::serve_management`), never the public one.
//! * The stream pumps that play Lambda's event source mappings into `push-fanout` are in
//!   [`crate::stream`] (re-exported here).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use shared::App;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::{Message as WsMessage, Role};
use tokio_tungstenite::WebSocketStream;

pub use crate::stream::{pump_stream, stream_end, StreamFilter};

/// The WebSocket endpoint's path.
pub const WS_PATH: &str = "/ws";
/// The management API's path prefix (the SDK appends `/@connections/{id}` to the endpoint).
pub const CONNECTIONS_PATH: &str = "/@connections/";
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
