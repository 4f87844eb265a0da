//! What the template's on-failure wiring relies on: the S3-event function fails the invocation
//! on a storage fault (so Lambda retries it, then sends the event to the failure queue), skips
//! without failing what can never complete (so no useless retries fill the queue), and a
//! replay of a failed event, from the queue or by Lambda's retry, completes the upload once.

use aws_credential_types::Credentials;
use groupshare_tests::*;
use shared::App;

/// The same deployment with DynamoDB unreachable (an outage, as the function sees one).
async fn with_dynamodb_down(app: &App) -> App {
    let sdk = groupshare_tests::sdk_config_with(
        "http://127.0.0.1:9",
        Credentials::new("test", "test", None, None, "test"),
        |c| c.retry_config(aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(1)),
    );
    App {
        store: shared::infra::store::Store::new(
            shared::infra::aws::dynamodb_client(&sdk),
            app.config.tables.clone(),
        ),
        ..app.clone()
    }
}

#[tokio::test]
async fn a_failed_upload_event_is_retried_and_a_replay_completes_it_once() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let body = upload_body("e1", "e.txt", 5, "text/plain", None);
    let ticket = client(app, "alice").create_upload(&cid, body).await;
    let ticket = ticket.created();
    let file_id = ticket.file_id.as_str();
    assert!(post_form(&ticket.upload, b"hello".to_vec())
        .await
        .status()
        .is_success());
    let bucket = app.config.bucket.clone().unwrap();
    let key = &ticket.upload.form().fields["key"];
    let event = || s3_event(&bucket, key, None);

    // During the outage the invocation fails: Lambda retries, then the failure queue keeps it.
    let down = with_dynamodb_down(app).await;
    let failed = upload_completed::handle(&down, event()).await.unwrap_err();
    assert!(failed.status >= 500, "{failed:?}");
    let record = app.store.get_file(file_id).await.unwrap().unwrap();
    assert_eq!(
        record.status,
        shared::domain::model::StoredFileStatus::Pending
    );

    // The retry (or the operator's replay from the queue) completes it, once.
    let outcomes = upload_completed::handle(app, event()).await.unwrap();
    assert!(
        matches!(
            outcomes[..],
            [upload_completed::RecordOutcome::Completed(_)]
        ),
        "{outcomes:?}"
    );
    let again = upload_completed::handle(app, event()).await.unwrap();
    assert_eq!(again, [upload_completed::RecordOutcome::AlreadyComplete]);
    let history = client(app, "bob").messages(&cid, Query::new()).await;
    let history = history.body();
    let announced = history
        .messages
        .iter()
        .filter(|m| m.file.as_ref().is_some_and(|f| f.file_id == file_id))
        .count();
    assert_eq!(announced, 1, "{history:?}");
}

#[tokio::test]
async fn an_event_that_can_never_complete_is_skipped_not_failed() {
    let app = stack().await;
    let bucket = app.config.bucket.clone().unwrap();
    for key in [
        "files/r7/nope/nofile".to_string(),
        "elsewhere/x".to_string(),
        "files/not-an-id!/x".to_string(),
    ] {
        let outcomes = upload_completed::handle(app, s3_event(&bucket, &key, None))
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        assert!(
            matches!(outcomes[..], [upload_completed::RecordOutcome::Skipped(_)]),
            "{key}: {outcomes:?}"
        );
    }
}
