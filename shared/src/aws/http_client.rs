//! The SDK's HTTP client: HTTP/1.1 over hyper + rustls with ring.
//!
//! Every AWS endpoint GroupShare calls (DynamoDB, S3, SQS, API Gateway's management API) speaks
//! HTTP/1.1, and the SDK's own client (`aws-smithy-http-client`) hard-wires HTTP/2 as well (h2
//! and hyper's `http2` are not optional there): about 0.3 MiB of every binary that never runs
//! (docs/performance.md, "Binary size"). This is the same hyper-util pooled client the SDK's
//! uses, with the SDK's connect and read timeouts and its error classes for retries, and
//! without HTTP/2, proxies or a pluggable DNS resolver.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

type Pool = Client<hyper_rustls::HttpsConnector<TcpConnector>, SdkBody>;

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
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            // Stand-ins (moto, s3s-fs) are plain http on loopback.
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Client::builder(TokioExecutor::new())
            // Without a timer the pool never closes idle connections.
            .pool_timer(TokioTimer::new())
            .build(https)
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
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
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

/// The SDK retries timeouts and I/O errors (connection refused, reset, closed while idle in
/// a frozen Lambda environment) as transient; anything else is not retried.
fn connector_error(err: hyper_util::client::legacy::Error) -> ConnectorError {
    if let Some(io) = find_source::<std::io::Error>(&err) {
        if io.kind() == std::io::ErrorKind::TimedOut {
            return ConnectorError::timeout(err.into());
        }
    }
    let closed = find_source::<hyper::Error>(&err)
        .is_some_and(|e| e.is_closed() || e.is_canceled() || e.is_incomplete_message());
    if err.is_connect() || closed || find_source::<std::io::Error>(&err).is_some() {
        ConnectorError::io(err.into())
    } else {
        ConnectorError::other(err.into(), None)
    }
}

fn find_source<'a, E: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}
