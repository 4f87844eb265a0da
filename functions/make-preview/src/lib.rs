//! Preview jobs from SQS: the job's state machine is `shared::api::previews`; this crate adds
//! the image work (`render`), so only it (and the local stack that runs it) links `image`.

pub mod render;

use aws_lambda_events::event::sqs::SqsEvent;
use shared::api::previews::{self, JobOutcome, MAX_ATTEMPTS};
use shared::infra::jobs::PreviewJob;
use shared::{ApiError, App};

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
        let outcome = previews::run(app, &job, attempt >= MAX_ATTEMPTS, render::render)
            .await
            .inspect_err(|e| e.log("preview"))?;
        tracing::info!(file_id = job.file_id, ?outcome, "preview job handled");
        outcomes.push(outcome);
    }
    Ok(outcomes)
}
