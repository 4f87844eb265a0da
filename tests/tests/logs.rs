//! Operators' view: one structured line per request with request id, route, caller, status and
//! latency; no file names, presigned URLs, cursors or ids from the path.

use groupshare_tests::*;

#[tokio::test]
async fn one_json_line_per_request_without_secrets_or_names() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let secret_name = "salary-review-2026.pdf";
    let file_id = upload(app, &cid, "alice", secret_name, "application/pdf", b"%PDF").await;
    let bob = client(app, "bob");
    let page = bob.messages(&cid, Query::limit(1)).await.body();
    let cursor = page.older.unwrap();

    let captured = CapturedLog::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let download = bob.download(&cid, &file_id, Query::new()).await;
    let before = Query::new().and("before", &cursor);
    let page = bob.messages(&cid, before).await;
    let denied = bob.as_user("mallory").file_info(&cid, &file_id).await;
    drop(guard);
    assert_eq!(
        (download.status, page.status, denied.status),
        (302, 200, 404)
    );

    let text = captured.text();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let requests: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["status"].is_number())
        .collect();
    assert_eq!(requests.len(), 3, "{text}");
    let fields: Vec<(&str, &str, u64)> = requests
        .iter()
        .map(|l| {
            let f = &l["fields"];
            assert!(f["request_id"].as_str().is_some_and(|id| !id.is_empty()));
            assert!(f["latency_ms"].is_number());
            assert_eq!(l["level"], "INFO");
            (
                f["route"].as_str().unwrap(),
                f["caller"].as_str().unwrap(),
                f["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            (
                "/conversations/{conversation_id}/files/{file_id}/download",
                "bob",
                302
            ),
            ("/conversations/{conversation_id}/messages", "bob", 200),
            (
                "/conversations/{conversation_id}/files/{file_id}",
                "mallory",
                404
            ),
        ]
    );
    for secret in [
        secret_name,
        &file_id,
        &cid,
        &cursor,
        "X-Amz-Signature",
        "X-Amz-Credential",
    ] {
        assert!(!text.contains(secret), "log leaks {secret}: {text}");
    }
}
