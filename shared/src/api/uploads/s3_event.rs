//! The S3 event for an uploaded object: completes the upload when the client is gone.

use super::*;

/// What an S3 `ObjectCreated` event led to.
#[derive(Debug, PartialEq, Eq)]
pub enum ObjectOutcome {
    /// Announced now (with its history seq).
    Completed(u64),
    /// Already complete with this very object version: nothing to do.
    AlreadyComplete,
    /// A version that is not the file's completed bytes (posted again with the same form,
    /// before or after completion, or for a file that can no longer complete) was deleted.
    StrayVersionDeleted,
    /// Not a GroupShare upload, or not in a state to complete (logged, not retried).
    Skipped(String),
}

/// S3 says `key` (version `version_id`, in versioned buckets) was written. A pending file is
/// completed as by the uploader's own call. Once the file is complete or gone (by this call or
/// a racing one), any other version is deleted: the completed bytes stay the only ones a member
/// can get, and stay current (a stray left current makes them noncurrent, and the bucket
/// expires noncurrent versions after a day).
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
    let (file, outcome) = if file.status == StoredFileStatus::Pending {
        let outcome = match complete_file(app, file).await {
            Ok((message, true)) => ObjectOutcome::Completed(message.seq),
            Ok((_, false)) => ObjectOutcome::AlreadyComplete,
            Err(e) if e.status >= 500 => return Err(e),
            Err(e) => ObjectOutcome::Skipped(e.code.to_string()),
        };
        // Read again which version was pinned: a racing completion may have pinned another
        // while this one checked its own (a retried POST's), or this one a later version.
        match app.store.get_file(file_id).await? {
            Some(file) => (file, outcome),
            None => return Ok(outcome),
        }
    } else {
        (file, ObjectOutcome::AlreadyComplete)
    };
    match version_id {
        Some(v)
            if file.status != StoredFileStatus::Pending
                && file.s3_version.as_deref() != Some(v) =>
        {
            app.blobs.delete(key, Some(v)).await?;
            tracing::warn!(
                file_id,
                "deleted an object version that is not the completed one"
            );
            // This call's own completion is still what it reports (its preview job is due).
            Ok(match outcome {
                ObjectOutcome::Completed(seq) => ObjectOutcome::Completed(seq),
                _ => ObjectOutcome::StrayVersionDeleted,
            })
        }
        _ => Ok(outcome),
    }
}
