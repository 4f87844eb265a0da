//! S3 multipart uploads: create, presigned checksum-bound part URLs, list, complete, abort.

use super::*;

impl Blobs {
    /// Starts a multipart upload whose parts S3 checks against signed SHA-256s. Returns its id.
    pub async fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<String, ApiError> {
        let out = self
            .client()
            .create_multipart_upload()
            .bucket(self.bucket()?)
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("s3.create_multipart_upload", e))?;
        out.upload_id.filter(|id| !id.is_empty()).ok_or_else(|| {
            ApiError::internal().with_fault("s3.create_multipart_upload", "no upload id")
        })
    }

    /// Presigned `PUT`s for parts (number, SHA-256 hex, length), each with its SHA-256 signed
    /// in as the `x-amz-checksum-sha256` header and its length as `Content-Length`: S3 refuses
    /// a part whose bytes differ (BadDigest) and a request that leaves a header out or changes
    /// it (signature mismatch), so no part can hold more than the layout gives it, even under
    /// a checksum the client chose. Returns the parts and when their URLs expire.
    pub async fn presign_parts(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u64, String, u64)],
    ) -> Result<(Vec<PresignedPart>, i64), ApiError> {
        let (presigning, expires_at) = self.presigning(self.upload_ttl).await?;
        let bucket = self.bucket()?;
        let mut signed = Vec::with_capacity(parts.len());
        for (number, sha256_hex, len) in parts {
            let checksum = checksum::hex_to_base64(sha256_hex).ok_or_else(|| {
                ApiError::internal().with_fault("s3.presign_part", "sha256 is not hex")
            })?;
            let request = self
                .client()
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(*number as i32)
                .checksum_sha256(&checksum)
                .content_length(*len as i64)
                .presigned(presigning.clone())
                .await
                .map_err(|e| presign_failed("s3.presign_part", e))?;
            let headers: BTreeMap<String, String> = request
                .headers()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect();
            if headers.get("x-amz-checksum-sha256") != Some(&checksum)
                || headers.get("content-length") != Some(&len.to_string())
            {
                // The URL would not bind the part's bytes: never hand it out.
                return Err(ApiError::internal()
                    .with_fault("s3.presign_part", "checksum or length not signed"));
            }
            signed.push(PresignedPart {
                part_number: *number,
                method: "PUT",
                url: request.uri().to_string(),
                headers,
            });
        }
        Ok((signed, millis(expires_at)))
    }

    /// The parts S3 holds for a multipart upload, in order; `None` when S3 no longer knows
    /// the upload (completed or aborted).
    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<StoredPart>>, ApiError> {
        let mut pages = self
            .client()
            .list_parts()
            .bucket(self.bucket()?)
            .key(key)
            .upload_id(upload_id)
            .into_paginator()
            .send();
        let mut parts = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) if is_no_such_upload(&e) => return Ok(None),
                Err(e) => return Err(ApiError::from_sdk("s3.list_parts", e)),
            };
            for p in page.parts() {
                parts.push(StoredPart {
                    part_number: p.part_number().unwrap_or(0).max(0) as u64,
                    size: p.size().unwrap_or(0).max(0) as u64,
                    etag: p.e_tag().unwrap_or_default().to_string(),
                    checksum_sha256_b64: p.checksum_sha256().map(str::to_string),
                });
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(Some(parts))
    }

    /// Completes a multipart upload from these parts (with their checksums). `false` when S3
    /// no longer knows the upload: completed before (a retry) or aborted.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[StoredPart],
    ) -> Result<bool, ApiError> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let part = |p: &StoredPart| {
            CompletedPart::builder()
                .part_number(p.part_number as i32)
                .e_tag(&p.etag)
                .set_checksum_sha256(p.checksum_sha256_b64.clone())
                .build()
        };
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(parts.iter().map(part).collect()))
            .build();
        let out = self
            .client()
            .complete_multipart_upload()
            .bucket(self.bucket()?)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if is_no_such_upload(&e) => Ok(false),
            // A part replaced (or cut short) between the listing and this call: the client
            // is still uploading, so it is told to finish, not given a server fault.
            Err(e)
                if matches!(
                    aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
                    Some("InvalidPart" | "InvalidPartOrder" | "EntityTooSmall")
                ) =>
            {
                Err(ApiError::new(
                    crate::ErrorCode::UploadIncomplete,
                    "parts changed while completing; check the upload and send what is missing",
                ))
            }
            Err(e) => Err(ApiError::from_sdk("s3.complete_multipart_upload", e)),
        }
    }

    /// Aborts a multipart upload, freeing its parts (already gone is fine).
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), ApiError> {
        let out = self
            .client()
            .abort_multipart_upload()
            .bucket(self.bucket()?)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if is_no_such_upload(&e) => Ok(()),
            Err(e) => Err(ApiError::from_sdk("s3.abort_multipart_upload", e)),
        }
    }
}
