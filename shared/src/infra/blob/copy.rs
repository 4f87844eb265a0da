//! Server-side copies for forwards: the bytes move inside S3, never through the function.

use futures::{StreamExt, TryStreamExt};

use super::*;

/// UploadPartCopy requests in flight at once for one forward.
pub const COPY_PARALLELISM: usize = 8;

impl Blobs {
    /// `CopySource` of an object version: `bucket/key[?versionId=v]` (keys are URL-safe).
    fn copy_source(&self, key: &str, version: Option<&str>) -> Result<String, ApiError> {
        let bucket = self.bucket()?;
        Ok(match version {
            Some(v) => format!("{bucket}/{key}?versionId={v}"),
            None => format!("{bucket}/{key}"),
        })
    }

    /// CopyObject of `from` (that version) to `to`, asking S3 for the copy's SHA-256 (S3
    /// computes it from the bytes it copies). Up to 5 GB, S3's limit for one copy.
    pub async fn copy_object(
        &self,
        from: &str,
        version: Option<&str>,
        to: &str,
    ) -> Result<(), ApiError> {
        self.client()
            .copy_object()
            .bucket(self.bucket()?)
            .key(to)
            .copy_source(self.copy_source(from, version)?)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("s3.copy_object", e))?;
        Ok(())
    }

    /// UploadPartCopy of the given parts (number, first byte, last byte) of `from` into the
    /// multipart upload `upload_id` of `to`, [`COPY_PARALLELISM`] at a time. S3 computes each
    /// part's SHA-256 (the upload was created with that algorithm), so the parts complete into
    /// the same composite checksum as the source's when the layout is the same.
    pub async fn copy_parts(
        &self,
        from: &str,
        version: Option<&str>,
        to: &str,
        upload_id: &str,
        parts: &[(u64, u64, u64)],
    ) -> Result<(), ApiError> {
        let source = self.copy_source(from, version)?;
        let bucket = self.bucket()?;
        // Built up front: a stream over a borrowing closure makes the future not `Send`.
        let copies: Vec<_> = parts
            .iter()
            .map(|&(number, first, last)| {
                self.client()
                    .upload_part_copy()
                    .bucket(bucket)
                    .key(to)
                    .upload_id(upload_id)
                    .part_number(number as i32)
                    .copy_source(&source)
                    .copy_source_range(format!("bytes={first}-{last}"))
                    .send()
            })
            .collect();
        futures::stream::iter(copies)
            .buffer_unordered(COPY_PARALLELISM)
            .map_err(|e| ApiError::from_sdk("s3.upload_part_copy", e))
            .try_for_each(|_| async { Ok(()) })
            .await
    }
}
