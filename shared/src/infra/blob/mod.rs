//! S3: where file bytes live, and the presigned URLs that move them. Presigning is local
//! signing with the function's credentials: no S3 call on the download path.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_smithy_types::error::display::DisplayErrorContext;
use base64::Engine;
use serde::Serialize;

use crate::domain::checksum;
use crate::domain::disposition::{content_disposition, safe_content_type, Disposition};
use crate::domain::ids::is_valid_id;
use crate::domain::time::millis;
use crate::infra::aws::SdkConfig;
use crate::{ApiError, Config};

mod copy;
mod multipart;

pub use copy::COPY_PARALLELISM;

/// A URL is never signed to outlive its credentials; this much margin is kept.
const CREDENTIAL_MARGIN: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct Blobs {
    s3: LazyS3,
    /// The same provider the client signs with (the SDK config's), read for expiry and for
    /// presigned POST policies. In Lambda it reads environment variables: no network call.
    credentials: Option<SharedCredentialsProvider>,
    bucket: Option<String>,
    download_ttl: Duration,
    upload_ttl: Duration,
    /// The S3 endpoint override (the local stack's): presigned POSTs go there, with the bucket
    /// in the path. Without one they go where the SDK addresses the bucket (`bucket_url`).
    endpoint: Option<String>,
    /// The region presigned POST policies are scoped to (the SDK config's): known without
    /// building the S3 client.
    region: String,
    /// The app's clock: presigned URLs are signed at its time (`Config::clock`).
    clock: crate::domain::time::Clock,
}

/// A presigned download.
#[derive(Clone, Debug, Serialize)]
pub struct PresignedGet {
    pub url: String,
    pub expires_at_ms: i64,
}

/// A presigned browser-style POST upload: send `fields` then the file as multipart/form-data.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PresignedPost {
    pub method: &'static str,
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub expires_at_ms: i64,
}

/// A presigned `PUT` for one part: send the part's bytes with exactly these headers (the
/// checksum header and the part's length are signed, and S3 checks the bytes against them).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct PresignedPart {
    pub part_number: u64,
    pub method: &'static str,
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

/// A part S3 holds for a multipart upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPart {
    pub part_number: u64,
    pub size: u64,
    pub etag: String,
    pub checksum_sha256_b64: Option<String>,
}

/// What S3 says about a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectFacts {
    pub size: u64,
    pub checksum_sha256_b64: Option<String>,
    /// Set when the bucket is versioned.
    pub version_id: Option<String>,
    /// When S3 stored it (S3's clock, the one its lifecycle rules count from).
    pub last_modified_ms: Option<i64>,
}

/// Object key of a file's bytes, uploaded under a retention of `retention_days` (0 = forever):
/// `files/r{days}/{conversation_id}/{file_id}`. The bucket expires each `files/r{days}/` prefix
/// after that many days, so the retention chosen at upload stays with the bytes (and, read back
/// by [`key_retention_days`], with the record) when the deployment's setting changes later.
/// Conversation next, so one prefix holds one group's files of one retention.
pub fn object_key(conversation_id: &str, file_id: &str, retention_days: u32) -> String {
    format!("files/r{retention_days}/{conversation_id}/{file_id}")
}

/// The inverse of [`object_key`], for S3 event notifications: (conversation, file). Keys of the
/// first layout, `files/{conversation_id}/{file_id}` (no retention segment), still parse: their
/// records keep the key they were stored with.
pub fn parse_object_key(key: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = key.strip_prefix("files/")?.split('/').collect();
    let (conversation_id, file_id) = match parts[..] {
        [c, f] => (c, f),
        [r, c, f] if retention_segment(r).is_some() => (c, f),
        _ => return None,
    };
    (is_valid_id(conversation_id) && is_valid_id(file_id)).then_some((conversation_id, file_id))
}

/// The retention a key was uploaded under; `None` for keys of the first layout, whose bytes
/// follow the deployment's current setting (their lifecycle rule reads it).
pub fn key_retention_days(key: &str) -> Option<u32> {
    let parts: Vec<&str> = key.strip_prefix("files/")?.split('/').collect();
    match parts[..] {
        [r, _, _] => retention_segment(r),
        _ => None,
    }
}

/// Key of a file's preview of `size`, beside its bytes under the same retention:
/// `previews/r{days}/{conversation_id}/{file_id}/{size}.jpg`, expired by the lifecycle rule of
/// the same days as `files/r{days}/`. `None` for keys of the first layout (uploaded before
/// previews existed, they never get one).
pub fn preview_key(file_key: &str, size: crate::domain::model::PreviewSize) -> Option<String> {
    key_retention_days(file_key)?;
    let rest = file_key.strip_prefix("files/")?;
    Some(format!("previews/{rest}/{}.jpg", size.as_str()))
}

/// `r7` → 7 (digits only, no sign or leading zeros: the number's one written form).
fn retention_segment(segment: &str) -> Option<u32> {
    let digits = segment.strip_prefix('r')?;
    let days: u32 = digits.parse().ok()?;
    (days.to_string() == digits).then_some(days)
}

/// The S3 client, built on first use and then kept for the environment's life. Building one
/// is a quarter of a function's init instructions (the SDK parses its partition table and
/// compiles their regexes per client; docs/performance.md), and half the functions never
/// touch S3: listing and pulling history, sending, the WebSocket paths.
#[derive(Clone)]
enum LazyS3 {
    Built(aws_sdk_s3::Client),
    /// Plain data, not a closure: a boxed builder would keep the whole S3 client linked into
    /// the functions that never call S3.
    Deferred {
        client: Arc<OnceLock<aws_sdk_s3::Client>>,
        sdk: Box<SdkConfig>,
        path_style: bool,
    },
}

impl LazyS3 {
    fn get(&self) -> &aws_sdk_s3::Client {
        match self {
            LazyS3::Built(client) => client,
            LazyS3::Deferred {
                client,
                sdk,
                path_style,
            } => client.get_or_init(|| crate::infra::aws::s3_client(sdk, *path_style)),
        }
    }
}

impl std::fmt::Debug for LazyS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let built = match self {
            LazyS3::Built(_) => true,
            LazyS3::Deferred { client, .. } => client.get().is_some(),
        };
        f.debug_struct("LazyS3").field("built", &built).finish()
    }
}

impl Blobs {
    /// With this S3 client (tests give one of their own).
    pub fn new(
        s3: aws_sdk_s3::Client,
        credentials: Option<SharedCredentialsProvider>,
        config: &Config,
    ) -> Self {
        let region = s3.config().region().map(|r| r.to_string());
        Self::with(LazyS3::Built(s3), credentials, region, config)
    }

    /// With an S3 client built from `sdk` on first use: what a function does.
    pub fn from_sdk(sdk: &SdkConfig, config: &Config) -> Self {
        let s3 = LazyS3::Deferred {
            client: Arc::default(),
            sdk: Box::new(sdk.clone()),
            path_style: config.s3_force_path_style,
        };
        let region = sdk.region().map(|r| r.to_string());
        Self::with(s3, sdk.credentials_provider(), region, config)
    }

    fn with(
        s3: LazyS3,
        credentials: Option<SharedCredentialsProvider>,
        region: Option<String>,
        config: &Config,
    ) -> Self {
        Self {
            region: region.unwrap_or_else(|| "us-east-1".to_string()),
            s3,
            credentials,
            bucket: config.bucket.clone(),
            download_ttl: config.download_url_ttl,
            upload_ttl: config.upload_url_ttl,
            endpoint: config.s3_endpoint.clone(),
            clock: config.clock.clone(),
        }
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        self.s3.get()
    }

    /// The same client and settings for another bucket (S3 events name their bucket).
    pub fn for_bucket(&self, bucket: &str) -> Self {
        Self {
            bucket: Some(bucket.to_string()),
            ..self.clone()
        }
    }

    fn bucket(&self) -> Result<&str, ApiError> {
        self.bucket
            .as_deref()
            .ok_or_else(|| ApiError::internal().with_fault("s3.bucket", "FILES_BUCKET is not set"))
    }

    /// A presigning config for `wanted` (cut to what the credentials have left), and when the
    /// URLs signed with it expire.
    async fn presigning(
        &self,
        wanted: Duration,
    ) -> Result<(PresigningConfig, SystemTime), ApiError> {
        let (_, lifetime) = self.credentials(wanted).await?;
        let signed_at = self.clock.now();
        let config = PresigningConfig::builder()
            .start_time(signed_at)
            .expires_in(lifetime)
            .build()
            .map_err(|e| ApiError::internal().with_fault("s3.presign", e))?;
        Ok((config, signed_at + lifetime))
    }

    /// Current credentials and how long a URL signed with them may live.
    async fn credentials(
        &self,
        wanted: Duration,
    ) -> Result<(aws_credential_types::Credentials, Duration), ApiError> {
        let provider = self.credentials.as_ref().ok_or_else(|| {
            ApiError::internal().with_fault("s3.credentials", "no credentials provider")
        })?;
        let creds = provider.provide_credentials().await.map_err(|e| {
            ApiError::unavailable().with_fault("s3.credentials", DisplayErrorContext(&e))
        })?;
        let left = creds.expiry().map(|expiry| {
            expiry
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(CREDENTIAL_MARGIN)
        });
        if left.is_some_and(|left| left.is_zero()) {
            return Err(ApiError::unavailable()
                .with_fault("s3.credentials", "too close to expiry to sign with"));
        }
        Ok((creds, left.map_or(wanted, |left| wanted.min(left))))
    }

    /// A short-lived GET URL whose response carries a safe Content-Disposition and Content-Type.
    pub async fn presign_download(
        &self,
        key: &str,
        version: Option<&str>,
        name: &str,
        content_type: &str,
        disposition: Disposition,
    ) -> Result<PresignedGet, ApiError> {
        let (presigning, expires_at) = self.presigning(self.download_ttl).await?;
        let request = self
            .client()
            .get_object()
            .bucket(self.bucket()?)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .response_content_disposition(content_disposition(name, content_type, disposition))
            .response_content_type(safe_content_type(content_type))
            .presigned(presigning)
            .await
            .map_err(|e| presign_failed("s3.presign", e))?;
        Ok(PresignedGet {
            url: request.uri().to_string(),
            expires_at_ms: millis(expires_at),
        })
    }

    /// A presigned POST whose policy pins the key, the content type and the exact size (and the
    /// SHA-256 checksum when the client declared one), so S3 itself refuses any other body.
    pub async fn presign_upload(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        sha256_hex: Option<&str>,
    ) -> Result<PresignedPost, ApiError> {
        let (creds, lifetime) = self.credentials(self.upload_ttl).await?;
        let region = &self.region;
        let now = self.clock.now();
        let expires = now + lifetime;
        let amz_date = amz_date(now);
        let credential = format!(
            "{}/{}/{region}/s3/aws4_request",
            creds.access_key_id(),
            &amz_date[..8]
        );

        let mut fields = BTreeMap::new();
        fields.insert("key".to_string(), key.to_string());
        fields.insert("Content-Type".to_string(), content_type.to_string());
        fields.insert(
            "x-amz-algorithm".to_string(),
            "AWS4-HMAC-SHA256".to_string(),
        );
        fields.insert("x-amz-credential".to_string(), credential);
        fields.insert("x-amz-date".to_string(), amz_date);
        if let Some(token) = creds.session_token() {
            fields.insert("x-amz-security-token".to_string(), token.to_string());
        }
        if let Some(digest) = sha256_hex.and_then(checksum::hex_to_base64) {
            // S3 checks the body against it (BadDigest) and keeps it for HeadObject.
            fields.insert("x-amz-checksum-sha256".to_string(), digest);
        }
        let bucket = self.bucket()?;
        let mut conditions: Vec<serde_json::Value> = vec![serde_json::json!({ "bucket": bucket })];
        conditions.extend(fields.iter().map(|(k, v)| serde_json::json!({ k: v })));
        conditions.push(serde_json::json!(["content-length-range", size, size]));
        let policy = serde_json::json!({
            "expiration": crate::domain::time::rfc3339(millis(expires)),
            "conditions": conditions,
        });
        let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signing_key =
            aws_sigv4::sign::v4::generate_signing_key(creds.secret_access_key(), now, region, "s3");
        let signature =
            aws_sigv4::sign::v4::calculate_signature(signing_key, policy_b64.as_bytes());
        fields.insert("policy".to_string(), policy_b64);
        fields.insert("x-amz-signature".to_string(), signature);

        Ok(PresignedPost {
            method: "POST",
            url: self.bucket_url(bucket).await?,
            fields,
            expires_at_ms: millis(expires),
        })
    }

    /// Where a presigned POST goes: the endpoint override with the bucket in the path, else the
    /// bucket's URL as the SDK addresses it (the partition's domain, `amazonaws.com.cn` in China;
    /// FIPS and dual-stack endpoints; path style), read off a URL it signs for the bucket. That
    /// is local signing: no S3 call.
    async fn bucket_url(&self, bucket: &str) -> Result<String, ApiError> {
        if let Some(ep) = &self.endpoint {
            return Ok(format!("{}/{bucket}", ep.trim_end_matches('/')));
        }
        const PROBE: &str = "bucket-url";
        // Never handed out, so no check of the credentials' lifetime (`presigning`) is owed.
        let presigning = PresigningConfig::expires_in(Duration::from_secs(60))
            .map_err(|e| ApiError::internal().with_fault("s3.presign", e))?;
        let signed = self
            .client()
            .get_object()
            .bucket(bucket)
            .key(PROBE)
            .presigned(presigning)
            .await
            .map_err(|e| presign_failed("s3.presign", e))?;
        let url = signed.uri().split('?').next().unwrap_or_default();
        url.strip_suffix(&format!("/{PROBE}"))
            .map(str::to_string)
            .ok_or_else(|| ApiError::internal().with_fault("s3.bucket_url", url.to_string()))
    }

    /// Deletes an object (absent objects are fine: S3 answers success), or with `version` that
    /// one version of it, for good (versioned buckets).
    pub async fn delete(&self, key: &str, version: Option<&str>) -> Result<(), ApiError> {
        let operation = version.map_or("s3.delete_object", |_| "s3.delete_object_version");
        self.client()
            .delete_object()
            .bucket(self.bucket()?)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map_err(|e| ApiError::from_sdk(operation, e))?;
        Ok(())
    }

    /// Deletes every stored version of an object (and, unversioned, the object itself).
    pub async fn delete_all_versions(&self, key: &str) -> Result<(), ApiError> {
        let bucket = self.bucket()?;
        let listed = self
            .client()
            .list_object_versions()
            .bucket(bucket)
            .prefix(key)
            .send()
            .await;
        let versions: Vec<String> = match listed {
            Ok(out) => out
                .versions()
                .iter()
                .filter(|v| v.key() == Some(key))
                .filter_map(|v| v.version_id().map(str::to_string))
                .chain(
                    out.delete_markers()
                        .iter()
                        .filter(|m| m.key() == Some(key))
                        .filter_map(|m| m.version_id().map(str::to_string)),
                )
                .collect(),
            // Stores without versioning support: a plain delete is all there is.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 501) => {
                return self.delete(key, None).await
            }
            Err(e) => return Err(ApiError::from_sdk("s3.list_object_versions", e)),
        };
        for v in &versions {
            // "null" is the version of an object written while versioning was off.
            let version = Some(v.as_str()).filter(|v| *v != "null");
            self.delete(key, version).await?;
        }
        Ok(())
    }

    /// A presigned GET of a stored preview, shown inline as the JPEG it is.
    pub async fn presign_preview(
        &self,
        key: &str,
        size: crate::domain::model::PreviewSize,
    ) -> Result<PresignedGet, ApiError> {
        let name = format!("preview-{}.jpg", size.as_str());
        self.presign_download(key, None, &name, "image/jpeg", Disposition::Inline)
            .await
    }

    /// The bytes of `key` (that very `version`, when given), at most `max_bytes` of them: the
    /// request asks for no more, so a record that understates its object cannot make a reader
    /// take in more than it budgeted for.
    pub async fn read(
        &self,
        key: &str,
        version: Option<&str>,
        max_bytes: u64,
    ) -> Result<Vec<u8>, ApiError> {
        let out = self
            .client()
            .get_object()
            .bucket(self.bucket()?)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .range(format!("bytes=0-{}", max_bytes.saturating_sub(1)))
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("s3.get_object", e))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| ApiError::unavailable().with_fault("s3.get_object.body", e))?
            .into_bytes();
        Ok(bytes[..bytes.len().min(max_bytes as usize)].to_vec())
    }

    /// Stores `bytes` at `key` as `content_type`.
    pub async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ApiError> {
        self.client()
            .put_object()
            .bucket(self.bucket()?)
            .key(key)
            .content_type(content_type)
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("s3.put_object", e))?;
        Ok(())
    }

    /// Size (and SHA-256 checksum, when S3 has one) of a stored object; `None` if absent.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectFacts>, ApiError> {
        let out = self
            .client()
            .head_object()
            .bucket(self.bucket()?)
            .key(key)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await;
        match out {
            Ok(o) => Ok(Some(ObjectFacts {
                size: o.content_length.unwrap_or(0).max(0) as u64,
                checksum_sha256_b64: o.checksum_sha256,
                version_id: o.version_id.filter(|v| !v.is_empty() && v != "null"),
                last_modified_ms: o.last_modified.and_then(|t| t.to_millis().ok()),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(ApiError::from_sdk("s3.head_object", e)),
        }
    }
}

/// S3's answer for an upload id it does not (or no longer) know.
fn is_no_such_upload<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    e.as_service_error().and_then(|s| s.code()) == Some("NoSuchUpload")
}

/// A request the SDK could not presign: ours to fix.
fn presign_failed(operation: &'static str, e: impl std::error::Error) -> ApiError {
    ApiError::internal().with_fault(operation, DisplayErrorContext(&e))
}

/// `20261125T154459Z`
fn amz_date(t: SystemTime) -> String {
    let whole_seconds = millis(t) / 1000 * 1000;
    crate::domain::time::rfc3339(whole_seconds).replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn object_keys_round_trip() {
        let key = object_key("c1", "f1", 7);
        assert_eq!(key, "files/r7/c1/f1");
        assert_eq!(parse_object_key(&key), Some(("c1", "f1")));
        assert_eq!(key_retention_days(&key), Some(7));
        assert_eq!(key_retention_days(&object_key("c1", "f1", 0)), Some(0));
        assert_eq!(parse_object_key("other/c1/f1"), None);
        assert_eq!(parse_object_key("files/r7/c1/f1/x"), None);
        assert_eq!(
            parse_object_key("files/c1/f1/x"),
            None,
            "not a retention segment"
        );
        assert_eq!(parse_object_key("files/r07/c1/f1"), None);
    }

    #[test]
    fn previews_sit_beside_their_file_under_its_retention() {
        use crate::domain::model::PreviewSize;
        let key = object_key("c1", "f1", 30);
        assert_eq!(
            preview_key(&key, PreviewSize::Small).as_deref(),
            Some("previews/r30/c1/f1/small.jpg")
        );
        assert_eq!(
            preview_key(&object_key("c1", "f1", 0), PreviewSize::Large).as_deref(),
            Some("previews/r0/c1/f1/large.jpg")
        );
        assert_eq!(preview_key("files/c1/f1", PreviewSize::Small), None);
        // A preview key is never an upload key (the S3 event filter is `files/`).
        assert_eq!(parse_object_key("previews/r30/c1/f1/small.jpg"), None);
    }

    #[test]
    fn keys_of_the_first_layout_still_parse() {
        assert_eq!(parse_object_key("files/c1/f1"), Some(("c1", "f1")));
        assert_eq!(key_retention_days("files/c1/f1"), None);
        // A conversation whose id looks like a retention segment is still a conversation.
        assert_eq!(parse_object_key("files/r7/f1"), Some(("r7", "f1")));
        assert_eq!(key_retention_days("files/r7/f1"), None);
    }

    #[test]
    fn amz_date_format() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_085_499_123);
        assert_eq!(amz_date(t), "20251125T154459Z");
    }
}
