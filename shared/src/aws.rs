//! SDK client construction. One HTTP client (rustls + ring) serves every AWS client, so the
//! binaries do not carry the SDK's default aws-lc TLS stack.

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};

/// The roots every AWS endpoint's certificate chains to: Amazon Trust Services' Amazon Root CA
/// 1–4 and the Starfield Services G2 root that cross-signs them (Debian's ca-certificates
/// 20230311, SHA-256 fingerprints as published by Amazon Trust Services). The system store is
/// ~150 roots, read from disk and parsed once per SDK client at every cold start: most of a
/// function's init (docs/performance.md).
const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("aws/amazon-trust-services-roots.pem");

/// Loads region, credentials and endpoint overrides (`AWS_ENDPOINT_URL_DYNAMODB`,
/// `AWS_ENDPOINT_URL_S3`) the standard way, so the same binary talks to AWS or to local stand-ins.
/// In a Lambda execution environment the config is read from the variables Lambda sets instead
/// (see [`lambda_environment_config`]): the same values, without probing the other providers.
pub async fn load_sdk_config() -> SdkConfig {
    match lambda_environment_config(|name| std::env::var(name).ok()) {
        Some(config) => config,
        None => sdk_config_loader().load().await,
    }
}

/// The standard loader with our HTTP client, for callers that set more (tests, local stack).
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client())
}

fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context(
            https_endpoint_override() || std::env::var_os(SYSTEM_TLS_ROOTS_VAR).is_some(),
        ))
        .build_https()
}

/// Lambda hands a function its region and role credentials as environment variables
/// (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and
/// those are what the standard loader would find first anyway; building the config from them
/// skips probing profile files and the web-identity, container and IMDS providers at every
/// cold start (docs/performance.md). Retries, timeouts and stalled-stream protection are the
/// clients' defaults for the behaviour version either way. `None` (use the standard loader)
/// outside Lambda, without those variables, or with a per-service endpoint override
/// (`AWS_ENDPOINT_URL_<SERVICE>`, which only the standard loader applies); the global
/// `AWS_ENDPOINT_URL` is honoured.
pub fn lambda_environment_config(get: impl Fn(&str) -> Option<String>) -> Option<SdkConfig> {
    let present = |name: &str| get(name).filter(|v| !v.is_empty());
    present("AWS_LAMBDA_FUNCTION_NAME")?;
    if ["DYNAMODB", "S3", "SQS"]
        .iter()
        .any(|service| present(&format!("AWS_ENDPOINT_URL_{service}")).is_some())
    {
        return None;
    }
    let credentials = aws_credential_types::Credentials::new(
        present("AWS_ACCESS_KEY_ID")?,
        present("AWS_SECRET_ACCESS_KEY")?,
        present("AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    );
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(present("AWS_REGION")?))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .http_client(http_client());
    if let Some(url) = present("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    Some(config.build())
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

    #[test]
    fn lambda_environment_gives_region_credentials_and_endpoint() {
        let vars = |extra: &[(&str, &str)]| {
            let mut v: std::collections::HashMap<String, String> = [
                ("AWS_LAMBDA_FUNCTION_NAME", "file-info"),
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ACCESS_KEY_ID", "AKID"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
                ("AWS_SESSION_TOKEN", "token"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            for (k, val) in extra {
                v.insert(k.to_string(), val.to_string());
            }
            v
        };
        let env = vars(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]);
        let config = lambda_environment_config(|k| env.get(k).cloned()).unwrap();
        assert_eq!(config.region().unwrap().as_ref(), "eu-west-1");
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert!(config.credentials_provider().is_some());
        // Not in Lambda, no credentials, or a per-service endpoint: the standard loader.
        for (drop, add) in [
            ("AWS_LAMBDA_FUNCTION_NAME", None),
            ("AWS_ACCESS_KEY_ID", None),
            ("", Some(("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9"))),
        ] {
            let mut env = vars(&[]);
            env.remove(drop);
            if let Some((k, v)) = add {
                env.insert(k.into(), v.into());
            }
            assert!(
                lambda_environment_config(|k| env.get(k).cloned()).is_none(),
                "{drop} {add:?}"
            );
        }
    }

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
