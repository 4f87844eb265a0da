//! Scheduled (hourly): uploads whose form expired an hour ago and never completed are marked
//! `deleted` and their bytes, if any arrived, removed from S3 (bytes that did arrive but whose
//! completion was lost are completed instead, and their preview jobs sent); and bytes of
//! deleted files that their deletion could not remove (S3 failed at that moment) are removed.

use shared::api::files::purge_deleted;
use shared::api::uploads::sweep_abandoned;
use shared::infra::jobs::{enqueue_preview, PreviewQueue};
use shared::App;

/// Uploads cleaned per pass at most; the next run continues.
const BATCH: u32 = 500;

/// [`handle_with`] sending no preview jobs.
pub async fn handle(app: &App) -> Result<usize, shared::ApiError> {
    handle_with(app, None).await
}

pub async fn handle_with(
    app: &App,
    previews: Option<&PreviewQueue>,
) -> Result<usize, shared::ApiError> {
    // Each half runs whatever the other did; a failure of either is reported (and retried by
    // the next run). Boxed: the completion path's future is deep.
    let swept = Box::pin(sweep_abandoned(app, BATCH))
        .await
        .inspect_err(|e| e.log("sweep"));
    if let (Ok(swept), Some(queue)) = (&swept, previews) {
        for file_id in &swept.completed {
            if let Err(e) = enqueue_preview(app, queue, file_id).await {
                e.log("sweep.preview_job");
            }
        }
    }
    let purged = Box::pin(purge_deleted(app, BATCH))
        .await
        .inspect_err(|e| e.log("sweep"));
    let (swept, purged) = (swept?, purged?);
    tracing::info!(
        cleaned = swept.cleaned,
        purged,
        "swept abandoned uploads and deleted files"
    );
    Ok(swept.cleaned + purged)
}
