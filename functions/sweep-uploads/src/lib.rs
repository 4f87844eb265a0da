//! Scheduled (hourly): uploads whose form expired an hour ago and never completed are marked
//! `deleted` and their bytes, if any arrived, removed from S3; and bytes of deleted files that
//! their deletion could not remove (S3 failed at that moment) are removed.

use shared::api::files::purge_deleted;
use shared::api::uploads::sweep_abandoned;
use shared::App;

/// Uploads cleaned per pass at most; the next run continues.
const BATCH: u32 = 500;

pub async fn handle(app: &App) -> Result<usize, shared::ApiError> {
    let cleaned = sweep_abandoned(app, BATCH)
        .await
        .inspect_err(|e| e.log("sweep"))?;
    let purged = purge_deleted(app, BATCH)
        .await
        .inspect_err(|e| e.log("sweep"))?;
    tracing::info!(cleaned, purged, "swept abandoned uploads and deleted files");
    Ok(cleaned + purged)
}
