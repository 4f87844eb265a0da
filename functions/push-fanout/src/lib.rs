//! `push-fanout`: the messages table's stream, in batches, to the open WebSocket connections of
//! each conversation's members (`shared::push::fanout`). Answers the records Lambda should
//! retry (`ReportBatchItemFailures`); delivery failures are not among them (clients fill gaps
//! from history).

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use shared::config::ConfigError;
use shared::push::fanout::{fan_out, Deliver, ManagementApi};
use shared::App;

/// The management API of the WebSocket API's stage, from `WEBSOCKET_MANAGEMENT_ENDPOINT`.
pub fn management_api(
    sdk: &shared::aws::SdkConfig,
    get: impl Fn(&str) -> Option<String>,
) -> Result<ManagementApi, ConfigError> {
    let endpoint = get("WEBSOCKET_MANAGEMENT_ENDPOINT")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError("WEBSOCKET_MANAGEMENT_ENDPOINT is not set".into()))?;
    Ok(ManagementApi::new(sdk, &endpoint))
}

pub async fn handle<D: Deliver>(app: &App, deliver: &D, event: Event) -> DynamoDbEventResponse {
    let now_s = shared::time::now_ms() / 1000;
    let (report, response) = fan_out(&app.store, deliver, &event, now_s).await;
    tracing::info!(
        records = event.records.len(),
        messages = report.messages,
        connections = report.connections,
        sent = report.sent,
        gone = report.gone,
        failed = report.failed,
        unreadable = report.unreadable,
        retried_from = response.batch_item_failures.len(),
        "fan-out"
    );
    response
}
