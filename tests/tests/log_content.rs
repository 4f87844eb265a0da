//! No level logs user content: the SDK's wire logs and the runtime's raw events are filtered
//! by target (`shared::edge::logging`). Its own test binary: a thread-local subscriber at TRACE
//! beside another test's would share tracing's per-callsite interest with it.

use groupshare_tests::*;

/// At every level, TRACE included, the log holds no user content: the SDK's wire logs
/// (request and response bodies: message texts, file names) and the runtime's raw events are
/// filtered out by target, while our own lines stay.
#[tokio::test]
async fn no_level_logs_message_texts_or_file_names() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let captured = CapturedLog::default();
    let writer = captured.clone();
    let subscriber = shared::edge::logging::subscriber(
        true,
        tracing_subscriber::filter::LevelFilter::TRACE,
        move || writer.clone(),
    );
    let guard = tracing::subscriber::set_default(subscriber);
    let secret_text = "meet me at the old mill at nine";
    let secret_name = "divorce-papers-draft.pdf";
    let sent = client(app, "alice")
        .post_message(&cid, "m1", secret_text)
        .await;
    let body = upload_body("u1", secret_name, 10, "application/pdf", None);
    let upload = client(app, "alice").create_upload(&cid, body).await;
    let page = client(app, "bob").messages(&cid, Query::limit(10)).await;
    // Proof that TRACE lines reach this subscriber at all: ours pass.
    tracing::trace!(target: "shared::probe", "trace probe");
    drop(guard);
    assert_eq!((sent.status, upload.status, page.status), (201, 201, 200));

    let text = captured.text();
    assert!(text.contains("trace probe"), "{text}");
    assert!(
        text.contains("\"status\":201"),
        "our request lines are still logged: {text}"
    );
    for secret in [secret_text, secret_name] {
        assert!(!text.contains(secret), "log leaks {secret}");
    }
}
