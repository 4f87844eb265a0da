//! S3 `ObjectCreated` on `files/`: the same completion as `POST .../complete`, so a client
//! that dies right after uploading still gets its file into the group; and the removal of any
//! other object version posted later with a stale form, so what members download never
//! changes. Both are idempotent, so redelivered events and races with the client's own call
//! are harmless. Every upload's bytes raise one such event, whoever completes the file (this
//! handler or the client's call), so this is where a completed image's preview job is sent.

use aws_lambda_events::event::s3::S3Event;
pub use shared::api::uploads::ObjectOutcome as RecordOutcome;
use shared::infra::jobs::{enqueue_preview, PreviewQueue};
use shared::App;

/// [`handle_with`] sending no preview jobs.
pub async fn handle(app: &App, event: S3Event) -> Result<Vec<RecordOutcome>, shared::ApiError> {
    handle_with(app, None, event).await
}

/// Handles every record. A storage fault fails the invocation so Lambda retries it; a record
/// that can never complete (unknown key, size mismatch) is logged and skipped. A completed
/// image's preview job goes to `previews`; failing to send it fails the invocation too, and
/// the retry finds the file complete and sends it again.
pub async fn handle_with(
    app: &App,
    previews: Option<&PreviewQueue>,
    event: S3Event,
) -> Result<Vec<RecordOutcome>, shared::ApiError> {
    let mut outcomes = Vec::with_capacity(event.records.len());
    for record in event.records {
        let bucket = record.s3.bucket.name.unwrap_or_default();
        // Keys in S3 events are form-encoded (`+` for spaces); ours are ASCII ids, so a key
        // that does not decode is not one of ours.
        let raw_key = record.s3.object.key.unwrap_or_default();
        let key = shared::edge::http::form_decode(&raw_key).unwrap_or_default();
        let app = App {
            blobs: app.blobs.for_bucket(&bucket),
            ..app.clone()
        };
        let outcome = shared::api::uploads::object_created(
            &app,
            &key,
            record.s3.object.version_id.as_deref(),
        )
        .await
        .inspect_err(|e| e.log("upload-event"))?;
        tracing::info!(?outcome, "upload event handled");
        let complete = matches!(
            outcome,
            RecordOutcome::Completed(_) | RecordOutcome::AlreadyComplete
        );
        if let (true, Some(queue), Some((_, file_id))) = (
            complete,
            previews,
            shared::infra::blob::parse_object_key(&key),
        ) {
            enqueue_preview(&app, queue, file_id)
                .await
                .inspect_err(|e| e.log("upload-event"))?;
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}
