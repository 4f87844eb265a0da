//! `push-fanout`: the messages table's stream, in batches, to the open WebSocket connections of
//! each conversation's members (`shared::infra::push::fanout`), and the members table's (read
//! markers moved by `PUT …/read`, to their users' connections only). Answers the records Lambda
//! should retry (`ReportBatchItemFailures`); delivery failures are not among them (clients fill
//! gaps from history).

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use shared::config::ConfigError;
use shared::infra::push::fanout::{fan_out, Deliver, ManagementApi, Report};
use shared::App;

/// The management API of the WebSocket API's stage, from `WEBSOCKET_MANAGEMENT_ENDPOINT`.
pub fn management_api(
    sdk: &shared::infra::aws::SdkConfig,
    get: impl Fn(&str) -> Option<String>,
) -> Result<ManagementApi, ConfigError> {
    let endpoint = get("WEBSOCKET_MANAGEMENT_ENDPOINT")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError("WEBSOCKET_MANAGEMENT_ENDPOINT is not set".into()))?;
    Ok(ManagementApi::new(sdk, &endpoint))
}

pub async fn handle<D: Deliver>(app: &App, deliver: &D, event: Event) -> DynamoDbEventResponse {
    let now_s = shared::domain::time::now_ms() / 1000;
    let (report, response) = fan_out(&app.store, deliver, &event, now_s).await;
    log_batch(
        event.records.len(),
        &report,
        response.batch_item_failures.len(),
    );
    response
}

/// The batch's one log line. template.yaml's push metric filters read `failed` and
/// `retried_from` from it (a failure that is no Lambda error would raise no alarm otherwise).
pub fn log_batch(records: usize, report: &Report, retried_from: usize) {
    tracing::info!(
        records,
        messages = report.messages,
        connections = report.connections,
        sent = report.sent,
        gone = report.gone,
        failed = report.failed,
        unreadable = report.unreadable,
        markers = report.markers,
        retried_from,
        "fan-out"
    );
}

#[cfg(test)]
mod tests {
    use shared::domain::model::MessageBody;
    use shared::infra::push::fanout::message_of;
    use shared::infra::push::Frame;

    /// The sample batch (events/messages-stream.json) is what Lambda hands the function: it
    /// parses, and each record reads as the message history holds, a send and a tombstone.
    #[test]
    fn a_stream_batch_reads_as_history_messages() {
        let json = include_str!("../../../events/messages-stream.json");
        let event: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(json).unwrap();
        let messages: Vec<_> = event
            .records
            .iter()
            .map(|r| message_of(r).unwrap().unwrap())
            .collect();
        assert_eq!(messages[0].seq, 9);
        assert_eq!(
            messages[0].body,
            MessageBody::Text("the slides are in the files tab".into())
        );
        assert!(matches!(messages[1].body, MessageBody::Deleted(ref d) if d.by == "bob"));
        let frame = serde_json::to_value(Frame::of(&messages[1])).unwrap();
        assert_eq!(frame["type"], "message");
        assert_eq!(frame["conversation_id"], "demo-team");
        assert_eq!(frame["message"]["kind"], "deleted");
        assert_eq!(frame["message"]["seq"], 8);
        assert!(frame["message"].get("text").is_none());
    }

    /// A members-table batch (events/read-markers-stream.json): only the move `PUT …/read` made
    /// is pushed, as a read frame; a role change that left the marker where it was, and the
    /// move bob's own send made, are not.
    #[test]
    fn a_members_batch_pushes_only_marks_that_moved() {
        use shared::infra::push::markers::{is_member_record, marker_of};
        use shared::infra::push::ReadFrame;
        let json = include_str!("../../../events/read-markers-stream.json");
        let event: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(json).unwrap();
        assert!(event.records.iter().all(is_member_record));
        let moves: Vec<_> = event
            .records
            .iter()
            .map(|r| marker_of(r).unwrap().map(|m| (m.user_id, m.read_seq)))
            .collect();
        assert_eq!(moves, vec![Some(("bob".to_string(), 9)), None, None]);
        let frame = serde_json::to_value(ReadFrame::new("demo-team", 9)).unwrap();
        assert_eq!(
            frame,
            serde_json::json!({"type": "read", "conversation_id": "demo-team", "read_seq": 9})
        );
        // The messages stream's records are not members'.
        let messages = include_str!("../../../events/messages-stream.json");
        let messages: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_str(messages).unwrap();
        assert!(!messages.records.iter().any(is_member_record));
        // Both images are needed: a record without the old one is an error, not a skip.
        let mut first = event.records[0].clone();
        first.change.old_image = Default::default();
        assert!(marker_of(&first).is_err());
    }

    /// Removals (retention) are not pushed; a record without a new image is an error, not a
    /// silent skip (the stream must be NEW_IMAGE).
    #[test]
    fn removals_are_skipped_and_missing_images_are_errors() {
        let json = include_str!("../../../events/messages-stream.json");
        let mut event: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_str(json).unwrap();
        event.records[0].event_name = "REMOVE".into();
        assert_eq!(message_of(&event.records[0]).unwrap(), None);
        event.records[1].change.new_image = Default::default();
        assert!(message_of(&event.records[1]).is_err());
    }
}
