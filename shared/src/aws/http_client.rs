//! The SDK's HTTP client: HTTP/1.1 over hyper + rustls with ring.
//!
//! Every AWS endpoint GroupShare calls (DynamoDB, S3, SQS, API Gateway's management API) speaks
//! HTTP/1.1, and the SDK's own client (`aws-smithy-http-client`) hard-wires HTTP/2 as well (h2
//! and hyper's `http2` are not optional there): about 0.3 MiB of every binary that never runs
//! (docs/performance.md). This is the same hyper-util pooled client the SDK's uses, with the
//! SDK's connect timeout (DNS, TCP and TLS together) and read timeout, its error classes for
//! retries and its connection poisoning, and without HTTP/2, proxies or a pluggable resolver.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::{capture_connection, CaptureConnection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

type BoxError = Box<dyn StdError + Send + Sync>;
type Pool = Client<ConnectTimeout<crate::https::HttpsConnector>, SdkBody>;

/// One per process, shared by every SDK client: one connection pool, one TLS configuration.
#[derive(Clone)]
pub struct Http1Client {
    tls: Arc<rustls::ClientConfig>,
    /// A connector per distinct timeout setting (in practice one: every client uses the
    /// defaults of its behaviour version), built on first use.
    connectors: Arc<Mutex<HashMap<Timeouts, SharedHttpConnector>>>,
}

type Timeouts = (Option<Duration>, Option<Duration>);

impl std::fmt::Debug for Http1Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http1Client")
    }
}

impl Http1Client {
    pub fn new(tls: rustls::ClientConfig) -> Self {
        Self {
            tls: Arc::new(tls),
            connectors: Arc::default(),
        }
    }

    fn pool(&self, connect_timeout: Option<Duration>) -> Pool {
        // The TCP connector's own timeout stays off: `ConnectTimeout` bounds the whole setup.
        let https = crate::https::connector((*self.tls).clone(), None);
        Client::builder(TokioExecutor::new())
            // Without a timer the pool never closes idle connections.
            .pool_timer(TokioTimer::new())
            .build(ConnectTimeout {
                inner: https,
                limit: connect_timeout,
            })
    }
}

impl HttpClient for Http1Client {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().expect("connector cache lock");
        connectors
            .entry(key)
            .or_insert_with(|| {
                SharedHttpConnector::new(Http1Connector {
                    pool: self.pool(key.0),
                    read_timeout: key.1,
                })
            })
            .clone()
    }
}

#[derive(Clone)]
struct Http1Connector {
    pool: Pool,
    /// From sending the request to the response's head, as the SDK's own client measures it.
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for Http1Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1Connector")
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

impl HttpConnector for Http1Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        // The SDK retries a transient failure (a 5xx, a timeout) on a fresh connection: its
        // connection-poisoning interceptor asks for the connection this request used.
        let used = capture_connection(&mut request);
        if let Some(capture) = request.extensions().get::<CaptureSmithyConnection>() {
            capture.set_connection_retriever(move || connection_metadata(&used));
        }
        let sent = self.pool.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, sent)
                    .await
                    .map_err(|elapsed| ConnectorError::timeout(elapsed.into()))?,
                None => sent.await,
            }
            .map_err(connector_error)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

fn connection_metadata(used: &CaptureConnection) -> Option<ConnectionMetadata> {
    used.connection_metadata().as_ref()?;
    let used = used.clone();
    Some(
        ConnectionMetadata::builder()
            .proxied(false)
            .poison_fn(move || {
                if let Some(connection) = used.connection_metadata().as_ref() {
                    connection.poison();
                }
            })
            .build(),
    )
}

/// The connect timeout over the whole connection setup: name lookup, TCP and the TLS
/// handshake, as the SDK's client applies it. (hyper-util's own covers TCP only, split across
/// the addresses a name resolves to: a stalled lookup or a server that accepts and then never
/// answers the handshake would hang until the function's timeout.)
#[derive(Clone)]
struct ConnectTimeout<C> {
    inner: C,
    limit: Option<Duration>,
}

impl<C> tower_service::Service<hyper::Uri> for ConnectTimeout<C>
where
    C: tower_service::Service<hyper::Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            match limit {
                None => connecting.await.map_err(Into::into),
                Some(limit) => match tokio::time::timeout(limit, connecting).await {
                    Ok(connected) => connected.map_err(Into::into),
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no connection within {limit:?}"),
                    )
                    .into()),
                },
            }
        })
    }
}

/// The SDK retries timeouts and I/O errors (connection refused, reset, closed while idle in a
/// frozen Lambda environment) as transient. Not retried: a TLS failure (a certificate that
/// does not verify will not verify on the next try either; the SDK's client does the same), a
/// request the client could not send (its body failed), anything else.
fn connector_error(err: hyper_util::client::legacy::Error) -> ConnectorError {
    let chain = || error_chain(&err);
    if chain().any(|e| e.is::<rustls::Error>()) {
        return ConnectorError::other(err.into(), None);
    }
    let io_kind = chain().find_map(|e| e.downcast_ref::<std::io::Error>().map(|io| io.kind()));
    if io_kind == Some(std::io::ErrorKind::TimedOut) {
        return ConnectorError::timeout(err.into());
    }
    let hyper_error = chain().find_map(|e| e.downcast_ref::<hyper::Error>());
    if hyper_error.is_some_and(|e| e.is_user()) {
        return ConnectorError::user(err.into());
    }
    let closed =
        hyper_error.is_some_and(|e| e.is_closed() || e.is_canceled() || e.is_incomplete_message());
    if err.is_connect() || closed || io_kind.is_some() {
        ConnectorError::io(err.into())
    } else {
        ConnectorError::other(err.into(), None)
    }
}

/// An error and its causes. An `io::Error`'s cause is its payload (`get_ref`), which its
/// `source()` skips: rustls's errors arrive wrapped that way.
fn error_chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e: &&'a (dyn StdError + 'static)| match e
        .downcast_ref::<std::io::Error>()
    {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
        None => e.source(),
    })
}
