//! SDK client construction. One HTTP client (rustls + ring) serves every AWS client, so the
//! binaries do not carry the SDK's default aws-lc TLS stack.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};

/// The roots every AWS endpoint's certificate chains to: Amazon Trust Services' Amazon Root CA
/// 1–4 and the Starfield Services G2 root that cross-signs them (Debian's ca-certificates
/// 20230311, SHA-256 fingerprints as published by Amazon Trust Services). The system store is
/// ~150 roots, read from disk and parsed once per SDK client at every cold start: most of a
/// function's init (docs/performance.md).
const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("aws/amazon-trust-services-roots.pem");

/// Loads region, credentials and endpoint overrides (`AWS_ENDPOINT_URL_DYNAMODB`,
/// `AWS_ENDPOINT_URL_S3`) the standard way, so the same binary talks to AWS or to local stand-ins.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The standard loader with our HTTP client, for callers that set more (tests, local stack).
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context(
            https_endpoint_override() || std::env::var_os(SYSTEM_TLS_ROOTS_VAR).is_some(),
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client)
}

/// Set (to anything) in a function's environment: trust the system's roots instead, for a
/// network whose egress re-signs TLS (an inspecting proxy) or a partition whose endpoints
/// chain elsewhere. Costs the ~3 ms of init the pinned roots save (docs/operations.md).
pub const SYSTEM_TLS_ROOTS_VAR: &str = "GROUPSHARE_SYSTEM_TLS_ROOTS";

/// Amazon's roots for AWS endpoints; the system's for an HTTPS stand-in named by an endpoint
/// override, whose certificate can come from anywhere. (Plain-HTTP stand-ins need neither.)
fn tls_context(system_roots: bool) -> TlsContext {
    let trust = if system_roots {
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS)
    };
    TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a trust store is a valid TLS context")
}

/// Whether an endpoint override the SDK reads from the environment is HTTPS.
fn https_endpoint_override() -> bool {
    [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_S3",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|url| url.trim().starts_with("https://")))
}

pub fn dynamodb_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

/// S3 client. Path-style addressing is needed by local S3 stand-ins (no wildcard DNS) and is a
/// setting, not a code path. Checksums are only computed where S3 requires them, which every
/// S3-compatible server accepts.
pub fn s3_client(sdk: &SdkConfig, force_path_style: bool) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(force_path_style)
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The roots parse (the SDK only parses them when a client is built, and panics there on a
    /// bad one) and are the five Amazon Trust Services publishes.
    #[test]
    fn amazon_roots_build_a_client() {
        let pem = std::str::from_utf8(AMAZON_TRUST_SERVICES_ROOTS).unwrap();
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .tls_context(tls_context(false))
            .build_https();
        let sdk = SdkConfig::builder()
            .http_client(http_client)
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        dynamodb_client(&sdk);
    }
}
