//! Preview jobs (SQS, one per completed image file): the file's completed bytes, that very
//! version, become a 320 px and a 1280 px JPEG beside it, and the file's row says `ready` with
//! the image's size, or `none` with the reason (logged). Idempotent: the row decides, so a
//! redelivered job does nothing, and a job for a file deleted meanwhile removes whatever it
//! stored.

use crate::api::files::delete_previews;
use crate::domain::model::{
    is_previewable, FileStatus, NoPreviewReason, PreviewDimensions, PreviewRecord, PreviewSize,
    PreviewStatus,
};
use crate::infra::jobs::PreviewJob;
use crate::{ApiError, App};

/// Largest file read for a preview; bigger files are `too_large` without a byte downloaded.
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;
/// The delivery from which a job records `none` before decoding, so bytes that crash or exhaust
/// the function still end as `none`, not `pending` forever. The queue gives a job up later (its
/// `maxReceiveCount`, 5 in template.yaml): receives of polls Lambda throttled count too, and
/// must not use up the attempts that record it.
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

/// One encoded preview.
#[derive(Debug)]
pub struct Preview {
    pub size: PreviewSize,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

/// What a decodable image gives: its upright size and one preview per size.
#[derive(Debug)]
pub struct Rendered {
    pub width: u32,
    pub height: u32,
    pub previews: Vec<Preview>,
}

/// Why there is no preview, and the detail the log keeps.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub reason: NoPreviewReason,
    pub detail: String,
}

impl Refused {
    pub fn new(reason: NoPreviewReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// One job: the job's state machine, with the image work (`render`, in the make-preview
/// crate, the only one that links an image decoder) run off the async threads.
/// `last_attempt`: record `none` first (see [`MAX_ATTEMPTS`]).
pub async fn run<R>(
    app: &App,
    job: &PreviewJob,
    last_attempt: bool,
    render: R,
) -> Result<JobOutcome, ApiError>
where
    R: FnOnce(&[u8]) -> Result<Rendered, Refused> + Send + 'static,
{
    let Some(file) = app.store.get_file(&job.file_id).await? else {
        return Ok(JobOutcome::Skipped("no file record".into()));
    };
    if file.s3_version != job.s3_version {
        return Ok(JobOutcome::Skipped(
            "the file completed with another version".into(),
        ));
    }
    if file.status_at(app.config.clock.now_ms()) != FileStatus::Available {
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
    let rendered = if file.size > MAX_SOURCE_BYTES {
        let detail = format!("{} bytes is above {}", file.size, MAX_SOURCE_BYTES);
        Err(Refused::new(NoPreviewReason::TooLarge, detail))
    } else {
        let bytes = app
            .blobs
            .read(&file.s3_key, version, file.size.min(MAX_SOURCE_BYTES))
            .await?;
        // Off the async threads: the local stack serves requests on them meanwhile.
        tokio::task::spawn_blocking(move || render(&bytes))
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
                let Some(key) = crate::infra::blob::preview_key(&file.s3_key, preview.size) else {
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
