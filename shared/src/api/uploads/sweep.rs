//! The schedule's sweep: completes or ends uploads nobody finished.

use super::complete::complete_stored_pending;
use super::*;
use crate::api::files::{next_file, Swept};

/// Cleans up abandoned uploads (see `model::ABANDONED_AFTER_MS`). Completion comes first:
/// bytes that arrived (while the form was valid) whose completion was lost, because the client
/// vanished and the S3 event failed, are completed and announced, never deleted. The rest are
/// marked `deleted` (conditionally, so they can no longer complete), then any bytes that did
/// arrive (for an upload that cannot complete: its uploader left, or its group is gone) are
/// removed from S3. Returns how many were cleaned (completed or deleted), and the ids of those
/// it completed (their preview jobs are due). Reads `page` uploads at a time, and goes on
/// until none is left or `stop`, when it starts no more: the next run takes the rest. Run on a
/// schedule by `sweep-uploads`.
pub async fn sweep_abandoned(app: &App, page: u32, stop: std::time::Instant) -> Swept {
    let cutoff = app.config.clock.now_ms() - crate::domain::model::ABANDONED_AFTER_MS;
    let mut pass = Swept::default();
    let mut files = std::pin::pin!(app.store.abandoned_uploads(cutoff, page));
    while let Some(file) = next_file(&mut files, stop, &mut pass).await {
        match complete_stored_pending(app, file.clone()).await {
            Ok((message, _)) => {
                tracing::warn!(
                    file_id = file.file_id,
                    seq = message.seq,
                    "sweep completed an upload whose completion was lost"
                );
                pass.cleaned += 1;
                pass.completed.push(file.file_id.clone());
                continue;
            }
            // A fault skips this file; the next run retries it (one bad file never holds up
            // the rest).
            Err(e) if e.status >= 500 => {
                e.log("sweep.complete");
                continue;
            }
            // No bytes, or bytes that cannot complete: abandoned.
            Err(_) => {}
        }
        let deleted = async {
            if app
                .store
                .mark_pending_deleted(&file.file_id, app.config.clock.now_ms(), Some(cutoff))
                .await?
            {
                // Now in the purge index: if this fails, `purge_deleted` finishes it.
                crate::api::files::purge(app, &file).await?;
                return Ok(true);
            }
            Ok::<_, ApiError>(false)
        };
        match deleted.await {
            Ok(true) => pass.cleaned += 1,
            Ok(false) => {}
            Err(e) => e.log("sweep.delete"),
        }
    }
    pass
}
