//! The file-search backfill: files completed before the FileSearch index existed are indexed
//! by a Scan over the Files table, one bounded step at a time (docs/operations.md, "Backfill
//! the file search"). Each file goes through `Store::index_existing_file`, which writes only
//! while the file is still available, so a step can be repeated or run beside live traffic.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::{ApiError, App, ErrorCode};

/// Files items per Scan page: bounded, so a step stops soon after its deadline nears.
pub const PAGE: u32 = 200;
/// Files indexed at once (each is a transaction, then an update of its group).
const PARALLELISM: usize = 4;

/// Where a step starts: the Files `file_id` the previous step's scan stopped after.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    pub after: Option<String>,
}

/// What one step did. `indexed`: files whose entries were written (again, on a repeated run:
/// the writes are the same); `skipped`: files no longer available when their turn came.
/// `next`: the cursor of the following step, `None` once the whole table has been read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillStep {
    pub indexed: usize,
    pub skipped: usize,
    pub next: Option<String>,
}

/// One step: scans pages of `page` items (the sweep's: [`PAGE`]) from `start`, indexing each
/// page's available files, until the table ends or the next page would likely end after
/// `deadline` (judged by the slowest page so far). The first page always runs, so every step
/// makes progress.
pub async fn backfill_search(
    app: &App,
    start: Option<String>,
    deadline: Instant,
    page: u32,
) -> Result<BackfillStep, ApiError> {
    if start.as_deref() == Some("") {
        return Err(ApiError::new(
            ErrorCode::InvalidCursor,
            "`after` must be null or the `next` of a previous step",
        ));
    }
    let mut step = BackfillStep {
        next: start,
        ..BackfillStep::default()
    };
    let mut slowest = Duration::ZERO;
    loop {
        let began = Instant::now();
        let scanned = app
            .store
            .scan_available_files(step.next.as_deref(), page)
            .await?;
        let store = &app.store;
        // Owned records: a stream over borrowed ones is not `Send` for the Lambda runtime.
        let results: Vec<Result<bool, ApiError>> = stream::iter(scanned.files)
            .map(move |file| async move { store.index_existing_file(&file).await })
            .buffer_unordered(PARALLELISM)
            .collect()
            .await;
        // A failure fails the step before its cursor moves: the caller retries the same page
        // (its writes are idempotent).
        for result in results {
            match result? {
                true => step.indexed += 1,
                false => step.skipped += 1,
            }
        }
        step.next = scanned.next;
        slowest = slowest.max(began.elapsed());
        if step.next.is_none() || Instant::now() + slowest >= deadline {
            return Ok(step);
        }
    }
}
