//! Against an S3 that checks what real S3 checks (s3s-fs: SigV4 signatures, presigned URL
//! expiry, POST policy conditions): URLs die at their lifetime, tampering is refused, and an
//! upload larger than declared is refused by S3 itself.

use groupshare_tests::*;

async fn strict_stack(download_ttl_secs: u64) -> &'static shared::App {
    stack_with(Options {
        s3_endpoint: endpoint(STRICT_S3_VAR),
        access_key: STRICT_S3_KEY.into(),
        secret_key: STRICT_S3_SECRET.into(),
        download_ttl_secs,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn presigned_url_stops_working_after_its_lifetime() {
    let app = strict_stack(60).await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let file_id = upload(
        app,
        &cid,
        "alice",
        "short.txt",
        "text/plain",
        b"short-lived",
    )
    .await;
    let bob = client(app, "bob");
    let r = bob.download(&cid, &file_id, Query::new()).await;
    let url = r.location().to_string();
    assert!(url.contains("X-Amz-Expires=60"));

    let ok = http_client().get(&url).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.bytes().await.unwrap().as_ref(), b"short-lived");

    // A URL past its lifetime: signed 61 s ago by the app's clock (moved, not slept on).
    app.config.clock.shift(-61_000);
    let stale = bob.download(&cid, &file_id, Query::new()).await;
    app.config.clock.shift(61_000);
    let late = http_client()
        .get(stale.header("location").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 403, "expired URL must be refused");
    assert!(late.text().await.unwrap().contains("AccessDenied"));

    // A fresh redirect works again: access is re-checked and re-signed each time.
    let again = bob.download(&cid, &file_id, Query::new()).await;
    let ok = http_client()
        .get(again.header("location").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_tampered_url_is_refused() {
    let app = strict_stack(300).await;
    let cid = create_group(app, "alice", &[]).await;
    let a = upload(app, &cid, "alice", "a.txt", "text/plain", b"aaa").await;
    let r = client(app, "alice").download(&cid, &a, Query::new()).await;
    let url = r.header("location").unwrap();
    // Point the signed URL at another object: the signature no longer matches.
    let forged = url.replace(&a, "someone-elses-file");
    let got = http_client().get(&forged).send().await.unwrap();
    assert_eq!(got.status(), 403);
}

#[tokio::test]
async fn s3_itself_refuses_an_upload_larger_than_declared() {
    let app = strict_stack(300).await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let body = upload_body("big", "big.bin", 10, "application/octet-stream", None);
    let r = alice.create_upload(&cid, body).await.created();
    let file_id = r.file_id.as_str();

    let refused = post_form(&r.upload, vec![7u8; 11]).await;
    assert!(
        refused.status().is_client_error(),
        "S3 accepted 11 bytes for a 10-byte upload"
    );
    assert!(refused.text().await.unwrap().contains("EntityTooLarge"));
    // Nothing arrived, so nothing completes.
    let done = alice.complete_upload(&cid, file_id).await;
    assert_eq!(done.error(), (409, ErrorCode::UploadMissing));

    // The declared size goes through, and completes.
    let ok = post_form(&r.upload, vec![7u8; 10]).await;
    assert!(ok.status().is_success(), "{}", ok.text().await.unwrap());
    let done = alice.complete_upload(&cid, file_id).await;
    assert_eq!(done.status, 201, "{:?}", done.json);
}

#[tokio::test]
async fn the_api_refuses_uploads_over_the_configured_maximum() {
    let app = stack_with(Options {
        max_upload_bytes: 1024,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "alice", &[]).await;
    let body = upload_body("big", "big.bin", 1025, "application/octet-stream", None);
    let r = client(app, "alice").create_upload(&cid, body).await;
    assert_eq!(r.error(), (413, ErrorCode::FileTooLarge));
}

#[tokio::test]
async fn s3_refuses_bytes_that_do_not_match_the_declared_sha256() {
    let app = strict_stack(300).await;
    let cid = create_group(app, "alice", &[]).await;
    let good = b"the real bytes".to_vec();
    let alice = client(app, "alice");
    let sha256 = sha256_hex(&good);
    let body = upload_body(
        "sha",
        "s.bin",
        good.len(),
        "application/octet-stream",
        Some(&sha256),
    );
    let r = alice.create_upload(&cid, body).await.created();
    let file_id = r.file_id.as_str();
    let mut bad = good.clone();
    bad[0] ^= 1;
    let refused = post_form(&r.upload, bad).await;
    assert!(refused.status().is_client_error());
    assert!(refused.text().await.unwrap().contains("BadDigest"));

    let ok = post_form(&r.upload, good.clone()).await;
    assert!(ok.status().is_success(), "{}", ok.text().await.unwrap());
    let done = alice.complete_upload(&cid, file_id).await;
    assert_eq!(done.status, 201, "{:?}", done.json);
    let info = alice.file_info(&cid, file_id).await.body();
    assert_eq!(info.sha256, Some(sha256));
}
