//! Push on a test stack: the local stack's server (every route, `GET /ws`; the management API on
//! its internal port)
//! on a free port over this test's tables, and its stream pumps reading the test's messages and
//! members tables on the stand-in, exactly as `groupshare-local serve` runs them.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use groupshare_local::wake::StreamWrites;
use groupshare_local::{authorizer, push, server};
use shared::infra::push::fanout::ManagementApi;
use shared::infra::push::Frame;
use shared::App;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{endpoint, Client, ENDPOINT_VAR};

pub struct PushStack {
    pub app: &'static App,
    /// `http://127.0.0.1:{port}`
    pub base: String,
    /// `ws://127.0.0.1:{port}/ws`
    pub ws: String,
}

impl PushStack {
    /// A fresh stack whose pumps are already at the end of their streams: every write after
    /// this returns is pushed.
    pub async fn start() -> Self {
        let written = StreamWrites::default();
        let app = crate::stack_with(crate::Options {
            streams_written: Some(written.clone()),
            ..Default::default()
        })
        .await;
        Self::on(app, written).await
    }

    /// On `app`, whose writes to the streamed tables raise `written`'s signals.
    pub async fn on(app: &'static App, written: StreamWrites) -> Self {
        let sdk = crate::sdk_config(&endpoint(ENDPOINT_VAR), "test", "test");
        let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
        Self::with_pumps(app, written, streams, app).await
    }

    /// On `app`, with pumps that read the streams through `streams` and run `push-fanout` on
    /// `fanout` (the same tables): a test's own clients, to break a read or a fan-out.
    pub async fn with_pumps(
        app: &'static App,
        written: StreamWrites,
        streams: aws_sdk_dynamodbstreams::Client,
        fanout: &'static App,
    ) -> Self {
        let sdk = crate::sdk_config(&endpoint(ENDPOINT_VAR), "test", "test");
        let (listener, addr) = server::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
        tokio::spawn(server::serve(listener, app));
        let ddb = shared::infra::aws::dynamodb_client(&sdk);
        let (internal, internal_addr) = server::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
        tokio::spawn(server::serve_management(internal));
        let management = ManagementApi::new(&sdk, &format!("http://{internal_addr}"));
        // Both streams the template maps to the fan-out: appends, and read markers.
        for streamed in written.by_table(&app.config.tables) {
            let start = push::stream_end(&streams, &ddb, &streamed.table)
                .await
                .expect("the table has a stream");
            let (streams, ddb) = (streams.clone(), ddb.clone());
            let pump = push::pump_stream(
                fanout,
                streams,
                ddb,
                management.clone(),
                streamed,
                Some(start),
            );
            tokio::spawn(pump);
        }
        Self {
            app,
            base: format!("http://{addr}"),
            ws: format!("ws://{addr}{}", push::WS_PATH),
        }
    }

    /// `user`'s API client over HTTP.
    pub fn api(&self, user: &str) -> Client<'static> {
        Client::over_http(&self.base, crate::http_client(), user)
    }

    /// A group `owner` creates over HTTP with `members`: its id.
    pub async fn create_group(&self, owner: &str, members: &[&str]) -> String {
        let created = self.api(owner).create_conversation("Push", members).await;
        created.created().conversation_id
    }

    /// A device of `user` with a fresh token, connected.
    pub async fn connect(&self, user: &str) -> Socket {
        let (token, _) = authorizer::global().issue(user);
        self.connect_with(&format!("?token={token}"))
            .await
            .unwrap_or_else(|status| panic!("{user} could not connect: {status}"))
    }

    /// Connects with `query` (e.g. `?token=…`); the HTTP status if the upgrade is refused.
    pub async fn connect_with(&self, query: &str) -> Result<Socket, u16> {
        match tokio_tungstenite::connect_async(format!("{}{query}", self.ws)).await {
            Ok((ws, _)) => Ok(Socket { ws }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("WebSocket connect failed: {e}"),
        }
    }
}

/// One open connection of a device.
pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Socket {
    /// The next message frame, if one arrives within `limit` (any other frame fails the test).
    pub async fn next_frame(&mut self, limit: Duration) -> Option<Frame> {
        let json = self.next_json(limit).await?;
        Some(
            serde_json::from_value(json.clone())
                .unwrap_or_else(|e| panic!("not a message frame ({e}): {json}")),
        )
    }

    /// The next frame of any type, as JSON, if one arrives within `limit`.
    pub async fn next_json(&mut self, limit: Duration) -> Option<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match message.ok()? {
                Message::Text(text) => {
                    return Some(serde_json::from_str(&text).expect("a frame is JSON"))
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Exactly `n` frames (panics if fewer arrive within a generous limit each).
    pub async fn frames(&mut self, n: usize) -> Vec<Frame> {
        let mut frames = Vec::with_capacity(n);
        for i in 0..n {
            let frame = self
                .next_frame(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("frame {} of {n} did not arrive", i + 1));
            frames.push(frame);
        }
        frames
    }

    /// Waits `quiet` and returns whatever arrived meanwhile (tests expect it empty).
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Frame> {
        let mut extra = Vec::new();
        while let Some(frame) = self.next_frame(quiet).await {
            extra.push(frame);
        }
        extra
    }

    /// Sends a text frame (what a client's keep-alive does).
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// Closes from the client side and waits for the server's close.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        while let Some(Ok(_)) = self.ws.next().await {}
    }
}
