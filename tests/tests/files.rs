//! file-info and download-redirect against real local DynamoDB and S3, following the redirect
//! to the bytes with a real HTTP client.

use groupshare_tests::*;
use serde_json::{json, Value};
use shared::domain::model::FileStatus;

async fn follow(location: &str, range: Option<&str>) -> reqwest::Response {
    let mut req = http_client().get(location);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn file_info_shows_what_a_download_entry_needs() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let bytes = b"hello group".to_vec();
    let file_id = upload(app, &cid, "alice", "notes.txt", "text/plain", &bytes).await;
    let f = client(app, "bob").file_info(&cid, &file_id).await.ok();
    assert_eq!(f.file_id, file_id);
    assert_eq!(f.conversation_id, cid);
    assert_eq!(f.name, "notes.txt");
    assert_eq!(f.size, bytes.len() as u64);
    assert_eq!(f.content_type, "text/plain");
    assert_eq!(f.sha256, Some(sha256_hex(&bytes)));
    assert_eq!(f.uploader, "alice");
    assert_eq!(f.status, FileStatus::Available);
    assert!(f.uploaded_at.ends_with('Z'));
    assert!(f.expires_at.unwrap() > f.uploaded_at);
}

#[tokio::test]
async fn batch_of_100_mixed_ids_splits_into_files_and_missing() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let other = create_group(app, "carol", &[]).await;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for i in 0..10 {
        ours.push(
            upload(
                app,
                &cid,
                "alice",
                &format!("ours-{i}.txt"),
                "text/plain",
                format!("o{i}").as_bytes(),
            )
            .await,
        );
        theirs.push(
            upload(
                app,
                &other,
                "carol",
                &format!("theirs-{i}.txt"),
                "text/plain",
                format!("t{i}").as_bytes(),
            )
            .await,
        );
    }
    let absent: Vec<String> = (0..80).map(|i| format!("absent-{i}")).collect();
    // Interleave, and repeat a few ids: duplicates collapse.
    let mut ids: Vec<String> = Vec::new();
    for i in 0..10 {
        ids.push(ours[i].clone());
        ids.push(theirs[i].clone());
        ids.extend(absent[i * 8..i * 8 + 8].iter().cloned());
    }
    assert_eq!(ids.len(), 100);
    let mut asked: Vec<&str> = ids.iter().map(String::as_str).collect();
    asked.extend([ours[0].as_str(), absent[0].as_str()]);

    let r = client(app, "bob").files_batch(&cid, &asked).await.ok();
    let found: Vec<&str> = r.files.iter().map(|f| f.file_id.as_str()).collect();
    assert_eq!(
        found,
        ours.iter().map(String::as_str).collect::<Vec<_>>(),
        "found files, in the order asked"
    );
    let missing = r.missing;
    let expected_missing: Vec<String> = ids
        .iter()
        .filter(|id| !ours.contains(id))
        .cloned()
        .collect();
    assert_eq!(
        missing, expected_missing,
        "absent and other conversation's ids look the same"
    );
    assert_eq!(found.len() + missing.len(), 100);
}

#[tokio::test]
async fn more_than_100_ids_is_400() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let ids: Vec<String> = (0..101).map(|i| format!("f{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let alice = client(app, "alice");
    let r = alice.files_batch(&cid, &ids).await;
    assert_eq!(r.error(), (400, ErrorCode::TooManyIds));
    let r = alice.files_batch(&cid, &["ok", "bad/id"]).await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidFileId));
}

#[tokio::test]
async fn listing_pages_cover_every_file_once_newest_first() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let mut uploaded = Vec::new();
    let binary = "application/octet-stream";
    for i in 0..7 {
        let (name, bytes) = (format!("f{i}.bin"), [i as u8; 3]);
        let file = upload(app, &cid, "alice", &name, binary, &bytes).await;
        uploaded.push(file);
        // Distinct upload times, by the app's clock.
        app.config.clock.shift(3);
    }
    // A pending upload is not in the group's list.
    let alice = client(app, "alice");
    let body = upload_body("p1", "pending.bin", 3, "application/octet-stream", None);
    assert_eq!(alice.create_upload(&cid, body).await.status, 201);

    let mut listed = Vec::new();
    let mut sizes = Vec::new();
    let mut query = Query::limit(3);
    loop {
        let page = alice.as_user("bob").files(&cid, query).await.ok();
        sizes.push(page.files.len());
        listed.extend(page.files.into_iter().map(|f| f.file_id));
        match page.cursor {
            Some(c) => query = Query::limit(3).and("cursor", c),
            None => break,
        }
    }
    uploaded.reverse();
    assert_eq!(listed, uploaded, "every file once, newest first");
    assert_eq!(sizes, [3, 3, 1]);

    let other = create_group(app, "alice", &[]).await;
    let page = alice.files(&cid, Query::limit(3)).await.ok();
    let cursor = page.cursor.unwrap();
    let r = alice
        .files(&other, Query::new().and("cursor", cursor))
        .await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidCursor));
}

#[tokio::test]
async fn pending_expired_and_deleted_files_show_it_and_cannot_be_downloaded() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;

    let bob = client(app, "bob");
    let body = upload_body("p1", "big.iso", 10, "application/octet-stream", None);
    let pending = bob.as_user("alice").create_upload(&cid, body).await;
    let pending_id = &pending.success().file_id;
    let info = bob.file_info(&cid, pending_id).await.body();
    assert_eq!(info.status, FileStatus::Pending);
    let dl = bob.download(&cid, pending_id, Query::new()).await;
    assert_eq!(dl.error(), (409, ErrorCode::FileNotReady));

    let expired_id = upload(app, &cid, "alice", "old.txt", "text/plain", b"old").await;
    let mut record = app.store.get_file(&expired_id).await.unwrap().unwrap();
    record.expires_at_ms = Some(shared::domain::time::now_ms() - 1_000);
    app.store.put_file_record(&record).await.unwrap();
    let info = bob.file_info(&cid, &expired_id).await.body();
    assert_eq!(info.status, FileStatus::Expired);
    let dl = bob.download(&cid, &expired_id, Query::new()).await;
    assert_eq!(dl.error(), (410, ErrorCode::FileGone));

    let deleted_id = upload(app, &cid, "alice", "gone.txt", "text/plain", b"gone").await;
    let mut gone = app.store.get_file(&deleted_id).await.unwrap().unwrap();
    gone.status = shared::domain::model::StoredFileStatus::Deleted;
    app.store.put_file_record(&gone).await.unwrap();
    let batch = bob
        .files_batch(&cid, &[&deleted_id, &expired_id, pending_id])
        .await
        .body();
    let statuses: Vec<FileStatus> = batch.files.iter().map(|f| f.status).collect();
    use FileStatus::{Deleted, Expired, Pending};
    assert_eq!(statuses, [Deleted, Expired, Pending]);
    let dl = bob.download(&cid, &deleted_id, Query::new()).await;
    assert_eq!(dl.error(), (410, ErrorCode::FileGone));
}

/// The user-visible promise: on another device, the redirect leads to exactly the bytes that
/// were uploaded, saved under the file's own name.
#[tokio::test]
async fn redirect_leads_to_the_exact_bytes_with_the_right_file_name() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
    for (name, expected_disposition) in [
        ("report.pdf", "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"),
        (
            "季度报告.pdf",
            "attachment; filename=\"____.pdf\"; filename*=UTF-8''%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A.pdf",
        ),
    ] {
        let file_id = upload(app, &cid, "alice", name, "application/pdf", &bytes).await;
        let r = client(app, "bob").download(&cid, &file_id, Query::new()).await;
        assert_eq!(r.status, 302, "{:?}", r.json);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let location = r.location();
        assert!(location.contains("X-Amz-Signature="), "presigned: {location}");
        assert!(location.contains("X-Amz-Expires=300"), "default lifetime: {location}");

        let got = follow(location, None).await;
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-disposition"], expected_disposition, "{name}");
        assert_eq!(got.headers()["content-type"], "application/pdf");
        let body = got.bytes().await.unwrap();
        assert_eq!(sha256_hex(&body), sha256_hex(&bytes));
    }
}

#[tokio::test]
async fn range_requests_go_straight_to_s3_and_resume_with_a_fresh_url() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let bytes: Vec<u8> = (0..=255u8).collect();
    let file_id = upload(
        app,
        &cid,
        "alice",
        "bytes.bin",
        "application/octet-stream",
        &bytes,
    )
    .await;

    let bob = client(app, "bob");
    let first = bob.download(&cid, &file_id, Query::new()).await;
    let part = follow(first.location(), Some("bytes=10-19")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[10..20]);

    // Resume: ask again (access re-checked), send Range for the rest to the new URL.
    let again = bob.download(&cid, &file_id, Query::new()).await;
    let rest = follow(again.location(), Some("bytes=20-")).await;
    assert_eq!(rest.status(), 206);
    let mut whole = bytes[..20].to_vec();
    whole.extend_from_slice(&rest.bytes().await.unwrap());
    assert_eq!(whole, bytes);
}

#[tokio::test]
async fn hostile_file_names_cannot_add_or_split_headers() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let name = "a\"; filename=evil.exe; x=..\\..\\/etc/passwd%0d%0aX-Injected: 1.txt";
    let file_id = upload(app, &cid, "alice", name, "text/plain", b"payload").await;
    let bob = client(app, "bob");
    let r = bob.download(&cid, &file_id, Query::new()).await;
    let got = follow(r.header("location").unwrap(), None).await;
    assert_eq!(got.status(), 200);
    assert!(got.headers().get("x-injected").is_none());
    let cd = got.headers()["content-disposition"].to_str().unwrap();
    assert!(cd.starts_with("attachment; filename=\""), "{cd}");
    assert_eq!(cd.matches('"').count(), 2, "{cd}");
    assert_eq!(cd.matches(';').count(), 2, "{cd}");
    assert!(!cd.contains('/') && !cd.contains('\\'), "{cd}");

    // Control characters are refused at upload...
    let body = upload_body("cr", "x\r\nX-Injected: 1", 1, "text/plain", None);
    let refused = bob.as_user("alice").create_upload(&cid, body).await;
    assert_eq!(refused.error(), (400, ErrorCode::InvalidName));
    // ...and a stored one (older data, a bug elsewhere) still cannot reach a header.
    let mut record = app.store.get_file(&file_id).await.unwrap().unwrap();
    record.name = "x\r\nX-Injected: 1\r\n\r\n.txt".into();
    record.content_type = "text/html\r\nX-Injected: 1".into();
    app.store.put_file_record(&record).await.unwrap();
    let r = bob.download(&cid, &file_id, Query::new()).await;
    let got = follow(r.header("location").unwrap(), None).await;
    assert_eq!(got.status(), 200);
    assert!(got.headers().get("x-injected").is_none());
    assert_eq!(got.headers()["content-type"], "application/octet-stream");
    assert!(got.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"x__X-Injected: 1____.txt\""));
}

#[tokio::test]
async fn inline_only_for_types_safe_to_render() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let png = upload(app, &cid, "alice", "p.png", "image/png", b"\x89PNG....").await;
    let html = upload(app, &cid, "alice", "p.html", "text/html", b"<script>").await;
    let alice = client(app, "alice");
    let inline = || Query::new().and("disposition", "inline");
    for (id, expected) in [(&png, "inline;"), (&html, "attachment;")] {
        let r = alice.download(&cid, id, inline()).await;
        let got = follow(r.header("location").unwrap(), None).await;
        assert!(got.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with(expected));
    }
    let evil = Query::new().and("disposition", "evil");
    let r = alice.download(&cid, &png, evil).await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidDisposition));
}

#[tokio::test]
async fn non_members_and_other_conversations_get_the_same_404() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let other = create_group(app, "carol", &["alice"]).await;
    let ours = upload(app, &cid, "alice", "a.txt", "text/plain", b"a").await;
    let theirs = upload(app, &other, "carol", "c.txt", "text/plain", b"c").await;
    let [bob, mallory] = ["bob", "mallory"].map(|u| client(app, u));
    let cases = [
        ("outsider", &mallory, cid.as_str(), ours.as_str()),
        ("other conversation's file", &bob, &cid, &theirs),
        ("unknown file", &bob, &cid, "nope"),
        ("unknown conversation", &bob, "nope", &ours),
    ];
    // Info and download, each case against the first case's body.
    let mut infos = Vec::new();
    let mut downloads = Vec::new();
    for (name, api, cid, file_id) in cases {
        infos.push((name, api.file_info(cid, file_id).await.typed::<Value>()));
        let download = api.download(cid, file_id, Query::new()).await;
        downloads.push((name, download.typed::<Value>()));
    }
    for (suffix, replies) in [("", &infos), ("/download", &downloads)] {
        for (name, r) in replies {
            assert_eq!(r.status, 404, "{name}{suffix}");
            assert_eq!(r.json, replies[0].1.json, "{name}{suffix}: same body");
        }
    }
    let batch = mallory.files_batch(&cid, &[&ours]).await;
    assert_eq!(batch.status, 404);
    let list = mallory.files(&cid, Query::new()).await;
    assert_eq!(list.status, 404);
}

#[tokio::test]
async fn json_mode_returns_the_url_instead_of_redirecting() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let file_id = upload(app, &cid, "alice", "a.txt", "text/plain", b"json mode").await;
    // Raw: an `Accept` header the typed client does not send, and a body of the function's
    // own (private) type.
    let mut req = request(
        "GET",
        &format!("/conversations/{cid}/files/{file_id}/download"),
        Some("alice"),
        None,
    );
    req.headers_mut()
        .insert("accept", "application/json".parse().unwrap());
    let r = call(app, req).await;
    assert_eq!(r.status, 200);
    assert!(r.header("location").is_none());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let expires_at = r.json["expires_at"].as_str().unwrap();
    assert!(expires_at > shared::domain::time::rfc3339(shared::domain::time::now_ms()).as_str());
    let got = follow(r.json["url"].as_str().unwrap(), None).await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"json mode");
}

#[tokio::test]
async fn config_tells_clients_the_limits() {
    let app = stack_with(Options {
        download_ttl_secs: 120,
        ..Options::default()
    })
    .await;
    let anyone = client(app, "anyone");
    let r = anyone.config().await;
    assert_eq!(r.status, 200);
    // Raw on purpose: the exact wire shape, no field more or less.
    assert_eq!(
        r.json,
        json!({
            "max_upload_bytes": 2u64 * 1024 * 1024 * 1024,
            "multipart_threshold_bytes": 64 * 1024 * 1024,
            "part_size_bytes": 16 * 1024 * 1024,
            "max_parts": 10000,
            "max_part_urls_per_call": 1000,
            "download_url_ttl_seconds": 120,
            "retention_days": 7,
            "max_ids_per_batch": 100,
            "max_text_bytes": 16384,
            "max_page_limit": 100,
            "max_history_page_limit": 1000,
            "recall_window_seconds": 120
        })
    );
    let anonymous = anyone.anonymous().config().await;
    assert!(anonymous.refused_by_the_gateway(), "{:?}", anonymous.json);
}

/// A URL must not outlive the credentials that sign it (a Lambda role's credentials expire).
#[tokio::test]
async fn download_urls_end_before_their_signing_credentials() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let file_id = upload(app, &cid, "alice", "a.txt", "text/plain", b"a").await;
    let expiring = aws_credential_types::Credentials::new(
        "test",
        "test",
        Some("session".into()),
        Some(std::time::SystemTime::now() + std::time::Duration::from_secs(150)),
        "expiring",
    );
    let sdk = groupshare_tests::sdk_config_with(&endpoint(ENDPOINT_VAR), expiring, |c| c);
    let short = shared::App {
        blobs: shared::infra::blob::Blobs::new(
            shared::infra::aws::s3_client(&sdk, true),
            sdk.credentials_provider(),
            &app.config,
        ),
        ..app.clone()
    };
    let r = client(&short, "alice")
        .download(&cid, &file_id, Query::new())
        .await;
    let location = r.location();
    let expires: u64 = location
        .split("X-Amz-Expires=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (85..=90).contains(&expires),
        "150 s of credentials minus the 60 s margin, got {expires}"
    );
}
