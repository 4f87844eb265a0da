//! Each read costs one storage round trip of latency: the membership check runs concurrently
//! with the data lookup (counted with an SDK interceptor, not timed), and downloads make no S3
//! call at all.

use groupshare_tests::*;

#[tokio::test]
async fn reads_overlap_the_membership_check_with_the_lookup() {
    let counter = CallCounter::default();
    let app = stack_with(Options {
        dynamodb_calls: Some(counter.clone()),
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let file_id = upload(app, &cid, "alice", "a.txt", "text/plain", b"a").await;

    for (name, path, status) in [
        ("history", format!("/conversations/{cid}/messages"), 200),
        (
            "file info",
            format!("/conversations/{cid}/files/{file_id}"),
            200,
        ),
        (
            "batch file info",
            format!("/conversations/{cid}/files?ids={file_id},x,y"),
            200,
        ),
        ("file list", format!("/conversations/{cid}/files"), 200),
        (
            "download",
            format!("/conversations/{cid}/files/{file_id}/download"),
            302,
        ),
    ] {
        counter.reset();
        let r = get(app, "bob", &path).await;
        assert_eq!(r.status, status, "{name}: {:?}", r.json);
        assert_eq!(
            counter.read(),
            (2, 2),
            "{name}: two DynamoDB calls, both in flight together"
        );
    }
}

/// A send costs two round trips of latency when it does not race: the counters, the
/// idempotency record and the sender's membership are read together, then one transaction
/// (which checks the membership again) commits.
#[tokio::test]
async fn a_send_reads_once_then_commits_once() {
    let counter = CallCounter::default();
    let app = stack_with(Options {
        dynamodb_calls: Some(counter.clone()),
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "alice", &["bob"]).await;
    counter.reset();
    let r = post(
        app,
        "bob",
        &format!("/conversations/{cid}/messages"),
        serde_json::json!({"client_msg_id": "m1", "text": "hi"}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(
        counter.read(),
        (4, 3),
        "three reads together, then the transaction"
    );
}
