//! Scheduled (hourly): uploads whose form expired an hour ago and never completed are marked
//! `deleted` and their bytes, if any arrived, removed from S3 (bytes that did arrive but whose
//! completion was lost are completed instead, and their preview jobs sent); and bytes of
//! deleted files that their deletion could not remove (S3 failed at that moment) are removed.
//!
//! Invoked by hand with `{"backfill_search": {"after": null | "<cursor>"}}`, it runs one step of
//! the file-search backfill instead (scripts/backfill-search; docs/operations.md) and answers
//! `{"indexed": n, "skipped": n, "next": cursor | null}`.

use std::time::{Duration, Instant};

use serde::Deserialize;
use shared::api::files::purge_deleted;
use shared::api::files_backfill::{backfill_search, BackfillRequest, PAGE};
use shared::api::uploads::sweep_abandoned;
use shared::infra::jobs::{enqueue_preview, PreviewQueue};
use shared::App;

/// Files read per query; a run reads page after page until its time is up.
const SWEEP_PAGE: u32 = 500;

/// Time a sweep or backfill step leaves before the invocation's deadline: a file or page
/// started just before it still ends (and answers) in time. A backlog bigger than one run
/// (hundreds of deleted images, each a few S3 calls) is left to the next run, not cut off by
/// the timeout as a failed invocation.
const MARGIN: Duration = Duration::from_secs(10);

/// The manual invocation's payload. Unknown fields are refused, so a typo is an error rather
/// than a sweep.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manual {
    backfill_search: BackfillRequest,
}

/// What an event asks for: the scheduled sweep (any event without `backfill_search`, as the
/// schedule's), or one backfill step.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Sweep,
    Backfill(BackfillRequest),
}

pub fn parse(event: &serde_json::Value) -> Result<Invocation, shared::ApiError> {
    if event.get("backfill_search").is_none() {
        return Ok(Invocation::Sweep);
    }
    serde_json::from_value::<Manual>(event.clone())
        .map(|m| Invocation::Backfill(m.backfill_search))
        .map_err(|e| {
            shared::ApiError::new(
                shared::ErrorCode::InvalidBody,
                format!(
                    "expected {{\"backfill_search\": {{\"after\": null | \"<cursor>\"}}}}: {e}"
                ),
            )
        })
}

/// The function's handler: a sweep answers `null` (as before), a backfill step its counts and
/// cursor.
pub async fn handle_event(
    app: &App,
    previews: Option<&PreviewQueue>,
    event: serde_json::Value,
    deadline: Instant,
) -> Result<serde_json::Value, shared::ApiError> {
    let stop = deadline.checked_sub(MARGIN).unwrap_or_else(Instant::now);
    match parse(&event)? {
        Invocation::Sweep => handle_with(app, previews, stop)
            .await
            .map(|_| serde_json::Value::Null),
        Invocation::Backfill(request) => {
            let step = backfill_search(app, request.after, stop, PAGE)
                .await
                .inspect_err(|e| e.log("backfill_search"))?;
            tracing::info!(
                indexed = step.indexed,
                skipped = step.skipped,
                done = step.next.is_none(),
                "search backfill step"
            );
            serde_json::to_value(step)
                .map_err(|e| shared::ApiError::internal().with_fault("backfill_search.answer", e))
        }
    }
}

/// [`handle_with`] sending no preview jobs, with time for everything due.
pub async fn handle(app: &App) -> Result<usize, shared::ApiError> {
    handle_with(app, None, Instant::now() + Duration::from_secs(3600)).await
}

/// One sweep: starts no file's cleanup after `stop`. Abandoned uploads get half the time at
/// most: anyone can leave many, and a backlog of them must not starve the purge of deleted
/// files' bytes. A failed read or an unreadable record fails the run (the function's error
/// alarm), but only after everything else was done: the preview jobs of uploads completed
/// before a failed read are still sent.
pub async fn handle_with(
    app: &App,
    previews: Option<&PreviewQueue>,
    stop: Instant,
) -> Result<usize, shared::ApiError> {
    let half = Instant::now() + stop.saturating_duration_since(Instant::now()) / 2;
    // Boxed: the completion path's future is deep.
    let swept = Box::pin(sweep_abandoned(app, SWEEP_PAGE, half)).await;
    if let Some(queue) = previews {
        for file_id in &swept.completed {
            if let Err(e) = enqueue_preview(app, queue, file_id).await {
                e.log("sweep.preview_job");
            }
        }
    }
    let purged = Box::pin(purge_deleted(app, SWEEP_PAGE, stop)).await;
    let unreadable = swept.unreadable + purged.unreadable;
    tracing::info!(
        cleaned = swept.cleaned,
        purged = purged.cleaned,
        unreadable,
        "swept abandoned uploads and deleted files"
    );
    for failed in [&swept.failed, &purged.failed].into_iter().flatten() {
        failed.log("sweep");
    }
    if let Some(failed) = swept.failed.or(purged.failed) {
        return Err(failed);
    }
    if unreadable > 0 {
        let detail = format!("{unreadable} records do not read as files (logged one by one)");
        return Err(shared::ApiError::internal().with_fault("sweep", detail));
    }
    Ok(swept.cleaned + purged.cleaned)
}
