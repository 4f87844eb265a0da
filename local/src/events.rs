//! The asynchronous paths AWS runs, run locally the same way: S3 `ObjectCreated` notifications
//! reach the real `upload-completed` handler through a queue (the stand-in's bucket notifies an
//! SQS queue, which this drains), which sends preview jobs to the previews queue as in AWS,
//! drained into the real `make-preview` handler as Lambda's SQS event source mapping would;
//! and the real `sweep-uploads` handler runs on a schedule.
//!
//! As with Lambda's triggers, delivery is at least once: a message is deleted only after the
//! handler succeeded, so a storage fault leaves it to be delivered again, as often as the
//! template allows ([`redeliver_as`]): the previews queue has the template's visibility timeout
//! and redrive policy, and the uploads queue moves an event aside after as many deliveries as
//! Lambda makes of an asynchronous S3 event (`EventInvokeConfig`).
//!
//! The queues are read when the stack did something that may have filled them (see
//! [`crate::wake`]), and otherwise on a poll that backs off while nothing comes.

use std::time::Duration;

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client as Sqs;
use shared::infra::jobs::PreviewQueue;
use shared::App;

use crate::provision::Error;
use crate::wake::Signal;

/// The queue the local bucket notifies.
pub const UPLOADS_QUEUE: &str = "groupshare-local-uploads";
/// The preview jobs queue (the template's `PreviewQueue`).
pub const PREVIEWS_QUEUE: &str = "groupshare-local-previews";
/// Where preview jobs go after the template's `maxReceiveCount` (`PreviewJobFailuresQueue`).
pub const PREVIEW_FAILURES_QUEUE: &str = "groupshare-local-preview-job-failures";
/// Where S3 events go after Lambda's attempts (`UploadEventFailuresQueue`).
pub const UPLOAD_FAILURES_QUEUE: &str = "groupshare-local-upload-event-failures";
/// The queues' fallback poll (crate::wake): from every 250 ms, backing off while it finds
/// nothing. Short polls: moto handles one request at a time, so a long poll would stall every
/// other request.
const POLL_FASTEST: Duration = Duration::from_millis(250);
/// The uploads queue fills without a signal when a client's bytes land in S3: such an event
/// waits at most this long once the stack has been idle (S3's own notifications take seconds).
pub const UPLOADS_POLL_SLOWEST: Duration = Duration::from_secs(2);
/// Only the stack sends preview jobs (signalled); the poll finds jobs that failed and became
/// visible again after the queue's visibility timeout (the template's 360 s).
pub const PREVIEWS_POLL_SLOWEST: Duration = Duration::from_secs(5);
/// How long a received S3 event stays invisible before it is delivered again. Lambda retries an
/// asynchronous event after about one and then two minutes; 30 s keeps a local retry prompt.
const VISIBILITY_SECONDS: i32 = 30;

/// Creates the queue (idempotent) and points the bucket's `ObjectCreated` notifications under
/// `files/` at it, as the template does for the upload-completed function. Returns the queue URL.
pub async fn subscribe_bucket(
    sqs: &Sqs,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<String, Error> {
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, NotificationConfiguration,
        NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
    };
    let queue_url = sqs
        .create_queue()
        .queue_name(UPLOADS_QUEUE)
        .send()
        .await?
        .queue_url
        .ok_or("the stand-in created a queue without a URL")?;
    let arn = queue_arn(sqs, &queue_url).await?;
    let files_only = NotificationConfigurationFilter::builder()
        .key(
            S3KeyFilter::builder()
                .filter_rules(
                    FilterRule::builder()
                        .name(FilterRuleName::Prefix)
                        .value("files/")
                        .build(),
                )
                .build(),
        )
        .build();
    let queue = QueueConfiguration::builder()
        .id("upload-completed")
        .queue_arn(arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(files_only)
        .build()?;
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue)
                .build(),
        )
        .send()
        .await?;
    Ok(queue_url)
}

async fn queue_arn(sqs: &Sqs, queue_url: &str) -> Result<String, Error> {
    Ok(sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .ok_or("the stand-in reports no queue ARN")?)
}

/// Gives the queue at `queue_url` a visibility timeout (seconds), and a failure queue named
/// `redrive.0` (created) that a message moves to once it was received `redrive.1` times: the
/// template's settings, set after creating the queue so a queue kept from an earlier run (a
/// durable stand-in) gets them too.
pub async fn redeliver_as(
    sqs: &Sqs,
    queue_url: &str,
    visibility_seconds: Option<i32>,
    redrive: Option<(&str, u32)>,
) -> Result<(), Error> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let mut set = sqs.set_queue_attributes().queue_url(queue_url);
    if let Some(seconds) = visibility_seconds {
        set = set.attributes(QueueAttributeName::VisibilityTimeout, seconds.to_string());
    }
    if let Some((failures, max_receive_count)) = redrive {
        let failures_url = create_queue(sqs, failures).await?;
        let policy = serde_json::json!({
            "deadLetterTargetArn": queue_arn(sqs, &failures_url).await?,
            "maxReceiveCount": max_receive_count,
        });
        set = set.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    set.send().await?;
    Ok(())
}

/// Creates the previews queue `name` (idempotent) with the template's `PreviewQueue` settings:
/// its visibility timeout, and its redrive policy to the failure queue `failures`. Returns its URL.
pub async fn previews_queue(
    sqs: &Sqs,
    template: &str,
    name: &str,
    failures: &str,
) -> Result<String, Error> {
    let url = create_queue(sqs, name).await?;
    let (visibility, redrive) = crate::template::queue_redelivery(template, "PreviewQueue")?;
    let redrive = redrive.map(|r| (failures, r.max_receive_count));
    redeliver_as(sqs, &url, visibility, redrive).await?;
    Ok(url)
}

/// Creates a queue (idempotent); returns its URL.
pub async fn create_queue(sqs: &Sqs, name: &str) -> Result<String, Error> {
    Ok(sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await?
        .queue_url
        .ok_or("the stand-in created a queue without a URL")?)
}

/// Drains the uploads queue into the upload-completed handler, forever: at once when
/// `uploading` is raised (the stack put an object, or wrote a file record: a client's upload
/// starts and completes with one), otherwise on the fallback poll, which such a signal also
/// starts fast again (the client's bytes reach S3 unsignalled, in the seconds after its ticket).
pub async fn pump_uploads(
    app: &'static App,
    sqs: Sqs,
    queue_url: String,
    previews: &'static PreviewQueue,
    uploading: Signal,
) {
    let mut wake = uploading
        .waiter(POLL_FASTEST, UPLOADS_POLL_SLOWEST)
        .signal_restarts_poll();
    loop {
        wake.reading();
        match drain_once(app, &sqs, &queue_url, Some(previews)).await {
            // Up to 10 per receive: more may be waiting.
            Ok(handled) if handled > 0 => {
                wake.found();
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "upload events: queue unavailable, retrying"),
        }
        wake.idle().await;
    }
}

/// One receive: every message handed to the handler, deleted once handled. Returns how many
/// were handled.
pub async fn drain_once(
    app: &App,
    sqs: &Sqs,
    queue_url: &str,
    previews: Option<&PreviewQueue>,
) -> Result<usize, Error> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(VISIBILITY_SECONDS)
        .send()
        .await?;
    let mut handled = 0;
    for message in out.messages.unwrap_or_default() {
        let body = message.body.as_deref().unwrap_or_default();
        // S3 sends an `s3:TestEvent` when a notification is configured; it has no records.
        let is_test_event = serde_json::from_str::<serde_json::Value>(body)
            .is_ok_and(|v| v["Event"] == "s3:TestEvent");
        let handled_ok = match serde_json::from_str::<S3Event>(body) {
            _ if is_test_event => true,
            Ok(event) if !event.records.is_empty() => {
                match upload_completed::handle_with(app, previews, event).await {
                    Ok(outcomes) => {
                        handled += outcomes.len();
                        true
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "upload event failed; it will be delivered again");
                        false
                    }
                }
            }
            Ok(_) => true,
            Err(e) => {
                // It will never parse: dropping it is all a retry could end in.
                tracing::warn!(error = %e, "upload events: dropped a message that is not an S3 event");
                true
            }
        };
        if handled_ok {
            delete_handled(sqs, queue_url, message.receipt_handle).await?;
        }
    }
    Ok(handled)
}

/// Drains the previews queue into the make-preview handler, forever: at once when `queued` is
/// raised (the stack sent a job), otherwise on the fallback poll (a failed job becomes visible
/// again after its visibility timeout).
pub async fn pump_previews(app: &'static App, sqs: Sqs, queue_url: String, queued: Signal) {
    let mut wake = queued.waiter(POLL_FASTEST, PREVIEWS_POLL_SLOWEST);
    loop {
        wake.reading();
        match drain_previews_once(app, &sqs, &queue_url).await {
            Ok(handled) if handled > 0 => {
                wake.found();
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "preview jobs: queue unavailable, retrying"),
        }
        wake.idle().await;
    }
}

/// One receive from the previews queue, each message handed to make-preview as the one record
/// of an SQS event (the template's batch size is 1), with its receive count as Lambda passes
/// it; deleted once handled. Returns how many jobs were handled. As Lambda's poller, it keeps
/// the queue's own visibility timeout.
pub async fn drain_previews_once(app: &App, sqs: &Sqs, queue_url: &str) -> Result<usize, Error> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await?;
    let mut handled = 0;
    for message in out.messages.unwrap_or_default() {
        let mut record = SqsMessage::default();
        record.message_id = message.message_id.clone();
        record.body = message.body.clone();
        record.attributes = message
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_string(), v))
            .collect();
        let mut event = SqsEvent::default();
        event.records = vec![record];
        match make_preview::handle(app, event).await {
            Ok(outcomes) => handled += outcomes.len(),
            Err(e) => {
                tracing::warn!(error = %e, "preview job failed; it will be delivered again");
                continue;
            }
        }
        delete_handled(sqs, queue_url, message.receipt_handle).await?;
    }
    Ok(handled)
}

/// Deletes a handled message, as Lambda's SQS poller does after a successful invocation.
async fn delete_handled(sqs: &Sqs, queue_url: &str, receipt: Option<String>) -> Result<(), Error> {
    if let Some(receipt) = receipt {
        sqs.delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .send()
            .await?;
    }
    Ok(())
}

/// Runs the sweep-uploads handler every `every`, as the template's schedule does hourly.
pub async fn sweep_on_schedule(
    app: &'static App,
    every: Duration,
    previews: &'static PreviewQueue,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // The deployed function's 60 s timeout (template.yaml), as its deadline.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let event = serde_json::json!({});
        let swept = sweep_uploads::handle_event(app, Some(previews), event, deadline).await;
        if let Err(e) = swept {
            tracing::warn!(error = %e, "scheduled sweep failed; the next run retries");
        }
    }
}
