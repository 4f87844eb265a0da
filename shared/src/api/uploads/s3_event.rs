//! The S3 event for an uploaded object: completes the upload when the client is gone.

use super::*;

/// What an S3 `ObjectCreated` event led to.
#[derive(Debug, PartialEq, Eq)]
pub enum ObjectOutcome {
    /// Announced now (with its history seq).
    Completed(u64),
    /// Already complete with this very object version: nothing to do.
    AlreadyComplete,
    /// A version that is not the file's completed bytes (posted later with a stale form, or
    /// for a file that can no longer complete) was deleted.
    StrayVersionDeleted,
    /// Not a GroupShare upload, or not in a state to complete (logged, not retried).
    Skipped(String),
}

/// S3 says `key` (version `version_id`, in versioned buckets) was written. A pending file is
/// completed as by the uploader's own call; for a file that is already complete or gone, any
/// other version is deleted, so the completed bytes stay the only ones a member can get.
pub async fn object_created(
    app: &App,
    key: &str,
    version_id: Option<&str>,
) -> Result<ObjectOutcome, ApiError> {
    let Some((conversation_id, file_id)) = crate::infra::blob::parse_object_key(key) else {
        return Ok(ObjectOutcome::Skipped("not an upload key".into()));
    };
    let Some(file) = app.store.get_file(file_id).await? else {
        return Ok(ObjectOutcome::Skipped("no file record".into()));
    };
    if file.conversation_id != conversation_id || file.s3_key != key {
        return Ok(ObjectOutcome::Skipped("key and record disagree".into()));
    }
    if file.status != StoredFileStatus::Pending {
        return match version_id {
            Some(v) if file.s3_version.as_deref() != Some(v) => {
                app.blobs.delete(key, Some(v)).await?;
                tracing::warn!(file_id, "deleted an object version posted after completion");
                Ok(ObjectOutcome::StrayVersionDeleted)
            }
            _ => Ok(ObjectOutcome::AlreadyComplete),
        };
    }
    match complete_file(app, file).await {
        Ok((message, true)) => Ok(ObjectOutcome::Completed(message.seq)),
        Ok((_, false)) => Ok(ObjectOutcome::AlreadyComplete),
        Err(e) if e.status >= 500 => Err(e),
        Err(e) => Ok(ObjectOutcome::Skipped(e.code.to_string())),
    }
}
