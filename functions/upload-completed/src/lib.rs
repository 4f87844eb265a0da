//! S3 `ObjectCreated` on `files/`: the same completion as `POST .../complete`, so a client
//! that dies right after uploading still gets its file into the group. Completion is
//! idempotent, so racing the client's own call yields one file message.

use aws_lambda_events::event::s3::S3Event;
use shared::api::uploads::complete_file;
use shared::blob::parse_object_key;
use shared::App;

/// Outcome per record, for logs and tests.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Announced now (with its history seq).
    Completed(u64),
    /// Already complete: nothing to do.
    AlreadyComplete,
    /// Not a GroupShare upload, or not in a state to complete (logged, not retried).
    Skipped(String),
}

/// Handles every record. A storage fault fails the invocation so Lambda retries it; a record
/// that can never complete (unknown key, size mismatch) is logged and skipped.
pub async fn handle(app: &App, event: S3Event) -> Result<Vec<RecordOutcome>, shared::ApiError> {
    let mut outcomes = Vec::with_capacity(event.records.len());
    for record in event.records {
        let bucket = record.s3.bucket.name.unwrap_or_default();
        // Keys in S3 events are URL-encoded, with `+` for spaces.
        let raw_key = record.s3.object.key.unwrap_or_default().replace('+', " ");
        let key = percent_encoding::percent_decode_str(&raw_key).decode_utf8_lossy();
        let outcome = complete_record(app, &bucket, &key).await?;
        tracing::info!(?outcome, "upload event handled");
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

async fn complete_record(
    app: &App,
    bucket: &str,
    key: &str,
) -> Result<RecordOutcome, shared::ApiError> {
    let Some((conversation_id, file_id)) = parse_object_key(key) else {
        return Ok(RecordOutcome::Skipped("not an upload key".into()));
    };
    let Some(file) = app.store.get_file(file_id).await? else {
        return Ok(RecordOutcome::Skipped("no file record".into()));
    };
    if file.conversation_id != conversation_id {
        return Ok(RecordOutcome::Skipped("key and record disagree".into()));
    }
    let app = App {
        blobs: app.blobs.for_bucket(bucket),
        ..app.clone()
    };
    match complete_file(&app, file).await {
        Ok((message, true)) => Ok(RecordOutcome::Completed(message.seq)),
        Ok((_, false)) => Ok(RecordOutcome::AlreadyComplete),
        Err(e) if e.status >= 500 => Err(e),
        Err(e) => Ok(RecordOutcome::Skipped(e.code.to_string())),
    }
}
