//! Preview jobs: one SQS message per completed image file, naming the file and the object
//! version it completed with. The `make-preview` function consumes them. Sending needs the SQS
//! client (feature `jobs`), which only the functions that enqueue link.

use serde::{Deserialize, Serialize};

/// Make the previews of this file's completed bytes. The record is read again when the job
/// runs: it, not the message, decides what is done (a job may arrive twice, or late).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewJob {
    pub file_id: String,
    /// The version the file completed with (versioned buckets); a record pinned to another
    /// version is not this job's business.
    pub s3_version: Option<String>,
}

#[cfg(feature = "jobs")]
pub use queue::{enqueue_preview, PreviewQueue};

#[cfg(feature = "jobs")]
mod queue {
    use super::PreviewJob;
    use crate::domain::model::{FileStatus, PreviewStatus};
    use crate::{ApiError, App};

    /// Where preview jobs go (`PREVIEW_QUEUE_URL`).
    #[derive(Clone, Debug)]
    pub struct PreviewQueue {
        sqs: aws_sdk_sqs::Client,
        url: String,
    }

    impl PreviewQueue {
        pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
            Self {
                sqs,
                url: url.into(),
            }
        }

        /// The queue the template names in `PREVIEW_QUEUE_URL`, with the SDK configured from the environment.
        pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
            let url = std::env::var("PREVIEW_QUEUE_URL")
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| crate::config::ConfigError("PREVIEW_QUEUE_URL is not set".into()))?;
            let sdk = crate::infra::aws::load_sdk_config()?;
            Ok(Self::new(aws_sdk_sqs::Client::new(&sdk), url))
        }

        pub async fn send(&self, job: &PreviewJob) -> Result<(), ApiError> {
            let body = serde_json::to_string(job).expect("a job serializes");
            self.sqs
                .send_message()
                .queue_url(&self.url)
                .message_body(body)
                .send()
                .await
                .map_err(|e| ApiError::from_sdk("sqs.send_message", e))?;
            Ok(())
        }
    }

    /// Sends the file's preview job if one is due: an available image whose preview is still
    /// `pending`. Called after every completion (and again on redelivered completions, which is
    /// harmless: the job is idempotent). Returns whether a job was sent.
    pub async fn enqueue_preview(
        app: &App,
        queue: &PreviewQueue,
        file_id: &str,
    ) -> Result<bool, ApiError> {
        let Some(file) = app.store.get_file(file_id).await? else {
            return Ok(false);
        };
        let due = file.status_at(app.config.clock.now_ms()) == FileStatus::Available
            && file.preview.status == Some(PreviewStatus::Pending);
        if due {
            queue
                .send(&PreviewJob {
                    file_id: file.file_id.clone(),
                    s3_version: file.s3_version.clone(),
                })
                .await?;
        }
        Ok(due)
    }
}
