//! Preview jobs (SQS, one per completed image file): the file's completed bytes, that very
//! version, become a 320 px and a 1280 px JPEG beside it, and the file's row says `ready` with
//! the image's size, or `none` with the reason (logged). Idempotent: the row decides, so a
//! redelivered job does nothing, and a job for a file deleted meanwhile removes whatever it
//! stored. Only this crate (and the local stack that runs it) depends on `image`.

pub mod render;

use aws_lambda_events::event::sqs::SqsEvent;
use shared::api::files::delete_previews;
use shared::domain::model::{
    is_previewable, FileStatus, NoPreviewReason, PreviewDimensions, PreviewRecord, PreviewStatus,
};
use shared::domain::time;
use shared::infra::jobs::PreviewJob;
use shared::{ApiError, App};

/// Deliveries of one job before its last: on the last (the queue's `maxReceiveCount`, in
/// template.yaml), `none` is recorded before decoding, so bytes that crash or exhaust the
/// function still end as `none`, not `pending` forever.
pub const MAX_ATTEMPTS: u32 = 3;

/// What one job led to.
#[derive(Debug, PartialEq, Eq)]
pub enum JobOutcome {
    Ready,
    NoPreview(NoPreviewReason),
    /// The row already says `ready` or `none`: a redelivery.
    AlreadyDone,
    /// The file is no longer available: its previews (if any) were removed.
    Removed,
    /// Nothing to do (no such file, not an image, another version); logged.
    Skipped(String),
}

/// Runs every job of the batch. A storage fault fails the invocation, so the queue delivers
/// the job again; a message that is no job is logged and dropped.
pub async fn handle(app: &App, event: SqsEvent) -> Result<Vec<JobOutcome>, ApiError> {
    let mut outcomes = Vec::with_capacity(event.records.len());
    for message in event.records {
        let body = message.body.as_deref().unwrap_or_default();
        let job: PreviewJob = match serde_json::from_str(body) {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(error = %e, "preview: dropped a message that is no job");
                outcomes.push(JobOutcome::Skipped("not a job".into()));
                continue;
            }
        };
        let attempt = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let outcome = run(app, &job, attempt >= MAX_ATTEMPTS)
            .await
            .inspect_err(|e| e.log("preview"))?;
        tracing::info!(file_id = job.file_id, ?outcome, "preview job handled");
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// One job. `last_attempt`: record `none` first (see [`MAX_ATTEMPTS`]).
pub async fn run(app: &App, job: &PreviewJob, last_attempt: bool) -> Result<JobOutcome, ApiError> {
    let Some(file) = app.store.get_file(&job.file_id).await? else {
        return Ok(JobOutcome::Skipped("no file record".into()));
    };
    if file.s3_version != job.s3_version {
        return Ok(JobOutcome::Skipped(
            "the file completed with another version".into(),
        ));
    }
    if file.status_at(time::now_ms()) != FileStatus::Available {
        delete_previews(app, &file).await?;
        return Ok(JobOutcome::Removed);
    }
    if !is_previewable(&file.content_type) {
        return Ok(JobOutcome::Skipped("not an image type".into()));
    }
    if matches!(
        file.preview.status,
        Some(PreviewStatus::Ready | PreviewStatus::None)
    ) {
        return Ok(JobOutcome::AlreadyDone);
    }
    let version = file.s3_version.as_deref();
    let none = |reason| PreviewRecord {
        status: Some(PreviewStatus::None),
        reason: Some(reason),
        ..PreviewRecord::default()
    };
    if last_attempt {
        tracing::warn!(
            file_id = file.file_id,
            "preview: last attempt, recording none first"
        );
        if !app
            .store
            .set_preview(&file.file_id, version, &none(NoPreviewReason::Undecodable))
            .await?
        {
            delete_previews(app, &file).await?;
            return Ok(JobOutcome::Removed);
        }
    }
    let rendered = if file.size > render::MAX_SOURCE_BYTES {
        Err(render::Refused {
            reason: NoPreviewReason::TooLarge,
            detail: format!("{} bytes is above {}", file.size, render::MAX_SOURCE_BYTES),
        })
    } else {
        let bytes = app
            .blobs
            .read(
                &file.s3_key,
                version,
                file.size.min(render::MAX_SOURCE_BYTES),
            )
            .await?;
        // Off the async threads: the local stack serves requests on them meanwhile.
        tokio::task::spawn_blocking(move || render::render(&bytes))
            .await
            .map_err(|e| ApiError::internal().with_fault("preview.render", e))?
    };
    let (record, outcome) = match rendered {
        Err(refused) => {
            tracing::warn!(
                file_id = file.file_id,
                reason = refused.reason.as_str(),
                detail = refused.detail,
                "preview: none"
            );
            (none(refused.reason), JobOutcome::NoPreview(refused.reason))
        }
        Ok(rendered) => {
            let mut sizes = Vec::with_capacity(rendered.previews.len());
            for preview in rendered.previews {
                let Some(key) = shared::infra::blob::preview_key(&file.s3_key, preview.size) else {
                    return Ok(JobOutcome::Skipped("a key of the first layout".into()));
                };
                app.blobs.put(&key, preview.jpeg, "image/jpeg").await?;
                sizes.push(PreviewDimensions {
                    size: preview.size,
                    width: preview.width,
                    height: preview.height,
                });
            }
            let record = PreviewRecord {
                status: Some(PreviewStatus::Ready),
                reason: None,
                width: Some(rendered.width),
                height: Some(rendered.height),
                sizes,
            };
            (record, JobOutcome::Ready)
        }
    };
    // Only onto the row of the very bytes read, still available; otherwise the file went
    // while the job ran, and what it stored goes too.
    if !app
        .store
        .set_preview(&file.file_id, version, &record)
        .await?
    {
        delete_previews(app, &file).await?;
        return Ok(JobOutcome::Removed);
    }
    Ok(outcome)
}
