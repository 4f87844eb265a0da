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

    let bob = client(app, "bob");
    let (cid, file_id) = (cid.as_str(), file_id.as_str());
    for (name, status) in [
        ("history", 200),
        ("file info", 200),
        ("batch file info", 200),
        ("file list", 200),
        ("download", 302),
    ] {
        counter.reset();
        let r = match name {
            "history" => bob.messages(cid, Query::new()).await.typed(),
            "file info" => bob.file_info(cid, file_id).await.typed(),
            "batch file info" => bob.files_batch(cid, &[file_id, "x", "y"]).await.typed(),
            "file list" => bob.files(cid, Query::new()).await.typed(),
            _ => bob.download(cid, file_id, Query::new()).await.typed::<()>(),
        };
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
    let r = client(app, "bob").post_message(&cid, "m1", "hi").await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(
        counter.read(),
        (4, 3),
        "three reads together, then the transaction"
    );
}
