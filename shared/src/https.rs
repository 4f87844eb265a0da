//! The one HTTPS stack the functions' two clients are built on: the SDK's (`shared::aws`) and
//! the WebSocket authorizer's JWKS fetch (`shared::token`). HTTP/1.1 over hyper-util's
//! connector and hyper-rustls with ring; each client brings its own roots.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;

pub(crate) type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Adds the system's roots (what `GROUPSHARE_SYSTEM_TLS_ROOTS` asks for: an egress proxy that
/// re-signs TLS), read from disk; warns when there are none, so that a client falls back to
/// its compiled-in roots knowingly.
pub(crate) fn add_system_roots(roots: &mut rustls::RootCertStore) {
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!("no system TLS roots found; trusting the compiled-in ones only");
    }
}

/// TLS with ring, the default protocol versions and these roots.
pub(crate) fn client_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// An HTTP/1.1 connector for `https://` and, for loopback stand-ins, `http://` URLs.
/// `tcp_connect_timeout` bounds the TCP connect only (per resolved address).
pub(crate) fn connector(
    tls: rustls::ClientConfig,
    tcp_connect_timeout: Option<Duration>,
) -> HttpsConnector {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(tcp_connect_timeout);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp)
}
