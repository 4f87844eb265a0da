//! SDK client construction. One HTTP client (rustls + ring) serves every AWS client, so the
//! binaries do not carry the SDK's default aws-lc TLS stack.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// Loads region, credentials and endpoint overrides (`AWS_ENDPOINT_URL_DYNAMODB`,
/// `AWS_ENDPOINT_URL_S3`) the standard way, so the same binary talks to AWS or to local stand-ins.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The standard loader with our HTTP client, for callers that set more (tests, local stack).
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client)
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
