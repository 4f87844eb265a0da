//! Scheduled (hourly): uploads whose form expired an hour ago and never completed are marked
//! `deleted` and their bytes, if any arrived, removed from S3.

use shared::api::uploads::sweep_abandoned;
use shared::App;

/// Uploads cleaned per pass at most; the next run continues.
const BATCH: u32 = 500;

pub async fn handle(app: &App) -> Result<usize, shared::ApiError> {
    let cleaned = sweep_abandoned(app, BATCH)
        .await
        .inspect_err(|e| e.log("sweep"))?;
    tracing::info!(cleaned, "swept abandoned uploads");
    Ok(cleaned)
}
