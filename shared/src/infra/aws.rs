//! SDK client construction. One HTTP client, the SDK's own (`aws-smithy-http-client`) with
//! rustls + ring and only Amazon's roots, serves every AWS client, so the binaries carry no
//! aws-lc build; and the configuration is read from the environment Lambda sets, so they carry
//! no credential chain either (docs/decisions.md, "SDK configuration from the environment").

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
pub use aws_types::SdkConfig;

use crate::config::ConfigError;

/// The roots every AWS endpoint's certificate chains to: Amazon Trust Services' Amazon Root CA
/// 1–4 and the Starfield Services G2 root that cross-signs them (Debian's ca-certificates
/// 20230311, SHA-256 fingerprints as published by Amazon Trust Services). The system store is
/// ~150 roots, read from disk and parsed at every cold start: most of a function's init
/// (docs/performance.md); these five are parsed once per process.
const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("aws/amazon-trust-services-roots.pem");

/// The SDK configuration from the environment: region (`AWS_REGION`), credentials
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), endpoint overrides
/// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), `AWS_USE_FIPS_ENDPOINT`,
/// `AWS_USE_DUALSTACK_ENDPOINT` (`true`/`false`), `AWS_MAX_ATTEMPTS` and `AWS_RETRY_MODE`
/// (`standard`, `adaptive`), read as the standard loader reads them; everything else is the
/// clients' default for the behaviour version. Why no credential chain, and what is given up:
/// docs/decisions.md "SDK configuration from the environment" (and docs/operations.md).
///
/// Read once per process: a function that also builds a client of another service (the
/// preview queue's SQS) gets the same configuration, so one HTTP client, connection pool and
/// TLS setup serve them all.
pub fn load_sdk_config() -> Result<SdkConfig, ConfigError> {
    static LOADED: std::sync::OnceLock<SdkConfig> = std::sync::OnceLock::new();
    if let Some(sdk) = LOADED.get() {
        return Ok(sdk.clone());
    }
    let sdk = environment_config(|name| std::env::var(name).ok())?;
    Ok(LOADED.get_or_init(|| sdk).clone())
}

pub fn environment_config(
    get: impl Fn(&str) -> Option<String> + Clone + Send + Sync + 'static,
) -> Result<SdkConfig, ConfigError> {
    let present = |name: &str| set_value(&get, name);
    let flag = |name: &str| match present(name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ConfigError(format!("{name} must be true or false"))),
    };
    let missing = |what: &str| {
        ConfigError(format!(
            "{what} is not set (Lambda sets it; elsewhere export it, as scripts/local does)"
        ))
    };
    let region = present("AWS_REGION")
        .or_else(|| present("AWS_DEFAULT_REGION"))
        .ok_or_else(|| missing("AWS_REGION"))?;
    let credentials = Credentials::new(
        present("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?,
        present("AWS_SECRET_ACCESS_KEY").ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?,
        present("AWS_SESSION_TOKEN"),
        None,
        "environment",
    );
    let https = ENDPOINT_VARS
        .iter()
        .any(|name| present(name).is_some_and(|url| url.starts_with("https://")));
    let system_roots = https || present(SYSTEM_TLS_ROOTS_VAR).is_some();
    let mut builder = sdk_config_builder(system_roots);
    builder.set_use_fips(flag("AWS_USE_FIPS_ENDPOINT")?);
    builder.set_use_dual_stack(flag("AWS_USE_DUALSTACK_ENDPOINT")?);
    builder.set_retry_config(retry_config(
        present("AWS_RETRY_MODE").as_deref(),
        present("AWS_MAX_ATTEMPTS").as_deref(),
    )?);
    Ok(builder
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .service_config(EnvironmentEndpoints(get))
        .build())
}

/// A variable's value, trimmed; `None` when unset or blank.
fn set_value(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `AWS_RETRY_MODE` and `AWS_MAX_ATTEMPTS`, or `None` for the behaviour version's default.
fn retry_config(
    mode: Option<&str>,
    max_attempts: Option<&str>,
) -> Result<Option<aws_smithy_types::retry::RetryConfig>, ConfigError> {
    use aws_smithy_types::retry::RetryConfig;
    if mode.is_none() && max_attempts.is_none() {
        return Ok(None);
    }
    let config = match mode.map(str::to_ascii_lowercase).as_deref() {
        None | Some("standard") => RetryConfig::standard(),
        Some("adaptive") => RetryConfig::adaptive(),
        Some(_) => {
            return Err(ConfigError(
                "AWS_RETRY_MODE must be standard or adaptive".into(),
            ))
        }
    };
    let Some(n) = max_attempts else {
        return Ok(Some(config));
    };
    match n.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(Some(config.with_max_attempts(n))),
        _ => Err(ConfigError(
            "AWS_MAX_ATTEMPTS must be a whole number, 1 or more".into(),
        )),
    }
}

/// A configuration builder with our HTTP client (Amazon's roots, and the system's with
/// `system_roots`) and the behaviour version set, for callers that set the rest themselves
/// (tests, talking to stand-ins).
pub fn sdk_config_builder(system_roots: bool) -> aws_types::sdk_config::Builder {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client(system_roots))
}

/// The SDK's own client (connection pool, connect and read timeouts over DNS, TCP and TLS,
/// connection poisoning on retry, proxies) with TLS by rustls + ring, the crypto the rest of the
/// binary already links, instead of the default aws-lc build.
fn http_client(system_roots: bool) -> SharedHttpClient {
    let tls = TlsContext::builder()
        .with_trust_store(trust_store(system_roots))
        .build()
        .expect("a trust store of valid roots");
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
}

/// The endpoint variables the SDK reads, for the services GroupShare calls.
const ENDPOINT_VARS: [&str; 5] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI",
];

/// What each service client asks its `SdkConfig` for (`AWS_ENDPOINT_URL`; S3 also
/// `AWS_S3_DISABLE_EXPRESS_SESSION_AUTH`), answered
/// as the standard loader answers from the environment: the service's own variable
/// (`AWS_ENDPOINT_URL_DYNAMODB`, the service id in capitals with spaces as `_`), then the
/// global one; none at all with `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`.
#[derive(Clone)]
struct EnvironmentEndpoints<F>(F);

impl<F> std::fmt::Debug for EnvironmentEndpoints<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvironmentEndpoints")
    }
}

impl<F: Fn(&str) -> Option<String> + Send + Sync> LoadServiceConfig for EnvironmentEndpoints<F> {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let get = |name: &str| set_value(&self.0, name);
        if key.env() == "AWS_ENDPOINT_URL"
            && get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return None;
        }
        let service = key.service_id().to_uppercase().replace(' ', "_");
        get(&format!("{}_{service}", key.env())).or_else(|| get(key.env()))
    }
}

/// Set (to anything) in a function's environment: trust the system's roots as well, for a
/// network whose egress re-signs TLS (an inspecting proxy) or a partition whose endpoints
/// chain elsewhere. Costs the ~3 ms of init the pinned roots save (docs/operations.md).
pub const SYSTEM_TLS_ROOTS_VAR: &str = "GROUPSHARE_SYSTEM_TLS_ROOTS";

/// Amazon's roots for AWS endpoints; the system's too for an HTTPS stand-in named by an
/// endpoint override, whose certificate can come from anywhere, or when asked
/// ([`SYSTEM_TLS_ROOTS_VAR`]). (Plain-HTTP stand-ins need neither.)
fn trust_store(system_roots: bool) -> TrustStore {
    TrustStore::empty()
        .with_native_roots(system_roots)
        // Amazon's in any case: they are in every system store anyway.
        .with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS)
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
    use std::collections::HashMap;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn lambda_env(extra: &[(&str, &str)]) -> HashMap<String, String> {
        [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn config(env: HashMap<String, String>) -> Result<SdkConfig, ConfigError> {
        environment_config(move |k| env.get(k).cloned())
    }

    #[test]
    fn environment_gives_region_and_credentials_or_names_what_is_missing() {
        let sdk = config(lambda_env(&[])).unwrap();
        assert_eq!(sdk.region().unwrap().as_ref(), "eu-west-1");
        assert!(sdk.credentials_provider().is_some());
        for name in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let mut env = lambda_env(&[]);
            env.remove(name);
            let err = config(env).unwrap_err();
            assert!(err.0.contains(name), "{err:?}");
        }
        // The session token is optional (long-term keys), AWS_DEFAULT_REGION a fallback.
        let mut env = lambda_env(&[("AWS_DEFAULT_REGION", "us-west-2")]);
        env.remove("AWS_SESSION_TOKEN");
        env.remove("AWS_REGION");
        assert_eq!(config(env).unwrap().region().unwrap().as_ref(), "us-west-2");
    }

    #[test]
    fn fips_dual_stack_and_retries_as_the_standard_loader_reads_them() {
        let sdk = config(lambda_env(&[
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", " TRUE "),
            ("AWS_RETRY_MODE", "adaptive"),
            ("AWS_MAX_ATTEMPTS", "5"),
        ]))
        .unwrap();
        assert_eq!(sdk.use_fips(), Some(true));
        assert_eq!(sdk.use_dual_stack(), Some(true));
        let retry = sdk.retry_config().unwrap();
        assert_eq!(retry.max_attempts(), 5);
        assert_eq!(retry.mode(), aws_smithy_types::retry::RetryMode::Adaptive);
        // Unset: the clients' defaults.
        let sdk = config(lambda_env(&[])).unwrap();
        assert_eq!((sdk.use_fips(), sdk.retry_config()), (None, None));
        // Nonsense is an init error naming the variable, not a silent default.
        for (name, value) in [
            ("AWS_USE_FIPS_ENDPOINT", "yes"),
            ("AWS_MAX_ATTEMPTS", "0"),
            ("AWS_MAX_ATTEMPTS", "three"),
            ("AWS_RETRY_MODE", "legacy"),
        ] {
            let err = config(lambda_env(&[(name, value)])).unwrap_err();
            assert!(err.0.contains(name), "{err:?}");
        }
        // Values are trimmed, as the standard loader trims them.
        let env = lambda_env(&[
            ("AWS_SESSION_TOKEN", " token\n"),
            ("AWS_REGION", " eu-west-1 "),
        ]);
        assert_eq!(config(env).unwrap().region().unwrap().as_ref(), "eu-west-1");
    }

    fn endpoint_for(env: &[(&str, &str)], service_id: &str) -> Option<String> {
        let env = lambda_env(env);
        let endpoints = EnvironmentEndpoints(move |k: &str| env.get(k).cloned());
        // The key exactly as the generated clients build it (aws-sdk-*/src/config.rs).
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        endpoints.load_config(key)
    }

    #[test]
    fn endpoint_overrides_per_service_then_global_unless_ignored() {
        let both = [
            ("AWS_ENDPOINT_URL", "http://global:1"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://ddb:2"),
            ("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", "http://ws:3"),
        ];
        assert_eq!(
            endpoint_for(&both, "DynamoDB").as_deref(),
            Some("http://ddb:2")
        );
        assert_eq!(
            endpoint_for(&both, "ApiGatewayManagementApi").as_deref(),
            Some("http://ws:3")
        );
        assert_eq!(
            endpoint_for(&both, "S3").as_deref(),
            Some("http://global:1")
        );
        assert_eq!(endpoint_for(&[], "S3"), None);
        // Trimmed, and blank is unset, as for every variable read here.
        let padded = [
            ("AWS_ENDPOINT_URL", "http://global:1"),
            ("AWS_ENDPOINT_URL_S3", " http://s3:4\n"),
        ];
        assert_eq!(endpoint_for(&padded, "S3").as_deref(), Some("http://s3:4"));
        let blank = [
            ("AWS_ENDPOINT_URL", "http://global:1"),
            ("AWS_ENDPOINT_URL_S3", " "),
        ];
        assert_eq!(
            endpoint_for(&blank, "S3").as_deref(),
            Some("http://global:1")
        );
        let ignored = [
            both[0],
            both[1],
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ];
        assert_eq!(endpoint_for(&ignored, "DynamoDB"), None);
    }

    /// A per-service override reaches the client, and the request goes out as HTTP/1.1.
    #[tokio::test]
    async fn client_follows_the_service_override_over_http1() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                head.extend_from_slice(&buf[..n]);
            }
            let body = br#"{"TableNames":["t"]}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            socket.write_all(body).await.unwrap();
            String::from_utf8_lossy(&head).into_owned()
        });
        let url = format!("http://127.0.0.1:{port}");
        let sdk = config(lambda_env(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &url),
        ]))
        .unwrap();
        let tables = dynamodb_client(&sdk).list_tables().send().await.unwrap();
        assert_eq!(tables.table_names(), ["t"]);
        let head = server.await.unwrap();
        assert!(head.starts_with("POST / HTTP/1.1\r\n"), "{head}");
        assert!(head
            .to_ascii_lowercase()
            .contains("x-amz-target: dynamodb_20120810.listtables"));
    }

    /// The failure of a request that got no answer, and its description for messages.
    fn dispatch_failure<T: std::fmt::Debug, E: std::fmt::Debug, R: std::fmt::Debug>(
        result: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
    ) -> (
        aws_smithy_runtime_api::client::result::DispatchFailure,
        String,
    ) {
        let err = result.unwrap_err();
        let text = format!("{err:?}");
        match err {
            aws_sdk_dynamodb::error::SdkError::DispatchFailure(failure) => (failure, text),
            _ => panic!("not a dispatch failure: {text}"),
        }
    }

    /// The SDK retries what a flaky network causes: a refused connection is an I/O error and
    /// a server that never answers a timeout, both transient, neither a bare "other" error.
    #[tokio::test]
    async fn refused_and_silent_endpoints_are_transient_connector_errors() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_url = format!("http://{}", silent.local_addr().unwrap());
        let _held = tokio::spawn(async move {
            let mut open = Vec::new();
            loop {
                let (socket, _) = silent.accept().await.unwrap();
                open.push(socket);
            }
        });
        for (url, timeout_expected) in [("http://127.0.0.1:9", false), (silent_url.as_str(), true)]
        {
            let sdk = config(lambda_env(&[("AWS_ENDPOINT_URL", url)])).unwrap();
            let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
                .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
                .timeout_config(
                    aws_smithy_types::timeout::TimeoutConfig::builder()
                        .read_timeout(std::time::Duration::from_millis(200))
                        .build(),
                )
                .build();
            let (failure, err) = dispatch_failure(
                aws_sdk_dynamodb::Client::from_conf(conf)
                    .list_tables()
                    .send()
                    .await,
            );
            if timeout_expected {
                assert!(failure.is_timeout(), "{err}");
            } else {
                assert!(failure.is_io(), "{err}");
            }
        }
    }

    fn client(url: &str, connect_timeout_ms: u64) -> aws_sdk_dynamodb::Client {
        let sdk = config(lambda_env(&[("AWS_ENDPOINT_URL", url)])).unwrap();
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .timeout_config(
                aws_smithy_types::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_millis(connect_timeout_ms))
                    .build(),
            )
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    /// The connect timeout covers the TLS handshake (with the pinned roots loaded): a server
    /// that accepts and never answers it is a timeout, which the SDK retries and
    /// shared::domain::error answers as 503, not a hang until the function's own timeout.
    #[tokio::test]
    async fn a_stalled_tls_handshake_is_a_connect_timeout() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_url = format!("https://{}", silent.local_addr().unwrap());
        tokio::spawn(async move {
            let mut open = Vec::new();
            loop {
                open.push(silent.accept().await.unwrap().0);
            }
        });
        let attempt = client(&silent_url, 200).list_tables().send();
        let (failure, err) = dispatch_failure(
            tokio::time::timeout(std::time::Duration::from_secs(10), attempt)
                .await
                .expect("the connect timeout ends a stalled handshake"),
        );
        assert!(failure.is_timeout(), "{err}");
    }
}
