//! The write path through the HTTP handlers: groups, members, messages and uploads, ending in
//! the patent's scenario: a member's brand-new device finds and downloads the group's file.

use futures::future::join_all;
use groupshare_tests::*;
use serde_json::json;
use shared::domain::model::{FileStatus, MessageView, Role};

async fn history(app: &shared::App, user: &str, cid: &str) -> Vec<MessageView> {
    let page = client(app, user).messages(cid, Query::limit(100)).await;
    page.ok().messages
}

/// The file a message announces.
fn announced(m: &MessageView) -> Option<&str> {
    m.file.as_ref().map(|f| f.file_id.as_str())
}

#[tokio::test]
async fn a_new_device_finds_and_downloads_the_groups_file() {
    let app = stack().await;
    // Device A (alice): create the group, say hello, upload a file into it.
    let alice = client(app, "alice");
    let created = alice
        .create_conversation("Q3 planning", &["bob", "carol"])
        .await
        .created();
    assert_eq!(created.role, Role::Owner);
    let cid = created.conversation_id;
    send_text(app, &cid, "alice", "numbers attached").await;

    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let ticket = alice
        .create_upload(
            &cid,
            upload_body(
                "a-1",
                "季度报告.xlsx",
                bytes.len(),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                Some(&sha256_hex(&bytes)),
            ),
        )
        .await
        .created();
    assert_eq!(ticket.upload.form().method, "POST");
    let file_id = ticket.file_id;
    let sent = post_form(&ticket.upload, bytes.clone()).await;
    assert!(sent.status().is_success());
    let done = alice.complete_upload(&cid, &file_id).await.created();
    assert_eq!(done.kind, "file");

    // Device B (bob, no local state): list groups, pull history, find the file, get its
    // info, download through the redirect.
    let bob = client(app, "bob");
    let groups = bob.conversations(Query::new()).await.ok();
    assert_eq!(groups.conversations[0].conversation.conversation_id, cid);
    assert_eq!(groups.conversations[0].conversation.role, Role::Member);
    let messages = history(app, "bob", &cid).await;
    let kinds: Vec<&str> = messages.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["system", "text", "file"]);
    let file_ids: Vec<&str> = messages.iter().filter_map(announced).collect();
    assert_eq!(file_ids, [file_id.as_str()]);
    let info = bob.files_batch(&cid, &file_ids).await.ok();
    assert_eq!(info.files[0].name, "季度报告.xlsx");
    assert_eq!(info.files[0].status, FileStatus::Available);
    assert!(info.missing.is_empty());
    let redirect = bob.download(&cid, &file_id, Query::new()).await;
    let downloaded = reqwest::get(redirect.location())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&downloaded), sha256_hex(&bytes));
}

#[tokio::test]
async fn retried_and_concurrent_sends_with_one_client_msg_id_store_one_message() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let alice = client(app, "alice");
    let send = |api: &Client<'static>| {
        let (api, cid) = (api.clone(), cid.clone());
        async move { api.post_message(&cid, "phone-42", "only once").await }
    };
    let replies = join_all((0..10).map(|_| send(&alice))).await;
    let replies: Vec<MessageView> = replies.into_iter().map(Response::created).collect();
    let first = &replies[0];
    for r in &replies {
        assert_eq!(r.seq, first.seq);
        assert_eq!(r.message_id, first.message_id);
    }
    let retry = send(&alice).await;
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body().message_id, first.message_id);
    let texts = history(app, "bob", &cid)
        .await
        .iter()
        .filter(|m| m.text.as_deref() == Some("only once"))
        .count();
    assert_eq!(texts, 1);
    // The same client id from another user is another message.
    let bobs = send(&alice.as_user("bob")).await.body();
    assert_ne!(bobs.message_id, first.message_id);
}

#[tokio::test]
async fn concurrent_senders_get_distinct_consecutive_seqs() {
    let app = stack().await;
    let senders: Vec<String> = (0..20).map(|i| format!("user{i}")).collect();
    let refs: Vec<&str> = senders.iter().map(String::as_str).collect();
    let cid = create_group(app, "owner", &refs).await;
    let replies = join_all(senders.iter().map(|u| {
        let (api, text) = (client(app, u), format!("from {u}"));
        let cid = &cid;
        async move { api.post_message(cid, "x", &text).await }
    }))
    .await;
    let mut seqs: Vec<u64> = replies.into_iter().map(|r| r.created().seq).collect();
    seqs.sort();
    assert_eq!(
        seqs,
        (2..=21).collect::<Vec<u64>>(),
        "after the creation message: 2..=21, no gaps, no duplicates"
    );
    let stored: Vec<u64> = history(app, "owner", &cid)
        .await
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(stored, (1..=21).collect::<Vec<u64>>());
}

#[tokio::test]
async fn message_limits() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let long = alice
        .post_message(&cid, "l", &"x".repeat(16 * 1024 + 1))
        .await;
    assert_eq!(long.error(), (413, ErrorCode::TextTooLong));
    let max = alice.post_message(&cid, "m", &"x".repeat(16 * 1024)).await;
    assert_eq!(max.status, 201);
    let bad = alice.post_message(&cid, "", "hi").await;
    assert_eq!(bad.error(), (400, ErrorCode::InvalidClientMsgId));
    // No body at all (raw: a typed call always sends one).
    let path = format!("/conversations/{cid}/messages");
    let garbage = alice.send("POST", &path, None).await;
    assert_eq!(garbage.error(), (400, ErrorCode::InvalidBody));
    let outsider = alice.as_user("mallory").post_message(&cid, "m", "hi").await;
    assert_eq!(outsider.status, 404);
}

#[tokio::test]
async fn members_who_leave_lose_history_files_and_downloads() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let file_id = upload(app, &cid, "alice", "plan.txt", "text/plain", b"plan").await;
    let bob = client(app, "bob");
    assert_eq!(bob.messages(&cid, Query::limit(100)).await.status, 200);

    let left = bob.remove_member(&cid, "bob").await;
    assert_eq!(left.status, 204, "{:?}", left.json);
    let not_found = (404, ErrorCode::NotFound);
    let history = bob.messages(&cid, Query::limit(100)).await;
    assert_eq!(history.error(), not_found, "history");
    assert_eq!(bob.file_info(&cid, &file_id).await.error(), not_found);
    let batch = bob.files_batch(&cid, &[&file_id]).await;
    assert_eq!(batch.error(), not_found, "batch");
    let download = bob.download(&cid, &file_id, Query::new()).await;
    assert_eq!(download.error(), not_found, "download");
    // Raw on purpose: the exact wire shape (no `role` key when a member leaves).
    let page = client(app, "alice").messages(&cid, Query::limit(100)).await;
    let last = page.json["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["kind"], "system");
    assert_eq!(
        last["system"],
        json!({"event": "member_left", "user_id": "bob"})
    );
    let groups = bob.conversations(Query::new()).await.ok();
    assert!(groups.conversations.is_empty());
}

#[tokio::test]
async fn membership_rules() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let [alice, bob, carol] = ["alice", "bob", "carol"].map(|u| client(app, u));

    let denied = bob.add_member(&cid, "eve", None).await;
    assert_eq!(denied.error(), (403, ErrorCode::Forbidden));
    let outsider = bob.as_user("mallory").add_member(&cid, "eve", None).await;
    assert_eq!(outsider.status, 404);

    let added = alice.add_member(&cid, "carol", Some(Role::Admin)).await;
    assert_eq!(added.created().role, Role::Admin);
    let again = alice.add_member(&cid, "carol", Some(Role::Admin)).await;
    assert_eq!(again.status, 200, "adding an existing member is idempotent");
    // An admin adds members, but not owners.
    assert_eq!(carol.add_member(&cid, "dave", None).await.status, 201);
    let owner = carol.add_member(&cid, "erin", Some(Role::Owner)).await;
    assert_eq!(owner.status, 403);
    // Members do not remove others; admins do.
    let del = |by: &'static str, who: &'static str| {
        let (api, cid) = (client(app, by), cid.clone());
        async move { api.remove_member(&cid, who).await }
    };
    assert_eq!(del("bob", "dave").await.status, 403);
    assert_eq!(del("carol", "dave").await.status, 204);
    assert_eq!(del("carol", "dave").await.status, 404, "already gone");
    // The last owner cannot leave.
    let r = del("alice", "alice").await;
    assert_eq!(r.error(), (409, ErrorCode::LastOwner));
    assert_eq!(
        del("carol", "alice").await.status,
        403,
        "admins do not remove owners"
    );

    let events: Vec<(String, String)> = history(app, "alice", &cid)
        .await
        .into_iter()
        .filter(|m| m.kind == "system")
        .map(|m| {
            let s = m.system.unwrap();
            (s.event.as_str().to_string(), s.user_id)
        })
        .collect();
    let expected = [
        ("conversation_created", "alice"),
        ("member_added", "carol"),
        ("member_added", "dave"),
        ("member_removed", "dave"),
    ];
    assert_eq!(
        events,
        expected.map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[tokio::test]
async fn upload_requests_are_idempotent_and_checked() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let alice = client(app, "alice");
    let body = upload_body("u1", "a.bin", 10, "application/octet-stream", None);
    let first = alice.create_upload(&cid, body.clone()).await.created();
    let retry = alice.create_upload(&cid, body).await.created();
    assert_eq!(first.file_id, retry.file_id);
    let other = upload_body("u1", "b.bin", 10, "application/octet-stream", None);
    let reused = alice.create_upload(&cid, other).await;
    assert_eq!(reused.error(), (409, ErrorCode::ClientMsgIdReused));
    for (body, code) in [
        (
            upload_body("u2", "", 1, "text/plain", None),
            ErrorCode::InvalidName,
        ),
        (
            upload_body("u2", "a", 1, "nonsense", None),
            ErrorCode::InvalidContentType,
        ),
        (
            upload_body("u2", "a", 1, "text/plain", Some("xyz")),
            ErrorCode::InvalidSha256,
        ),
        (
            json!({"client_msg_id": "u2", "name": "a", "size": -1, "content_type": "text/plain"}),
            ErrorCode::InvalidBody,
        ),
    ] {
        let r = alice.create_upload(&cid, body).await;
        assert_eq!(r.error(), (400, code));
    }

    // Completing before the bytes arrive, or with the wrong size, leaves the file pending.
    let file_id = first.file_id.as_str();
    let r = alice.complete_upload(&cid, file_id).await;
    assert_eq!(r.error(), (409, ErrorCode::UploadMissing));
    // S3 refuses a body of another size than the form's policy allows ...
    let refused = post_form(&first.upload, vec![1; 5]).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("EntityTooSmall"));
    // ... and should other bytes ever sit at the key, completion checks the size itself.
    app.blobs
        .client()
        .put_object()
        .bucket(app.config.bucket.as_deref().unwrap())
        .key(shared::infra::blob::object_key(
            &cid,
            file_id,
            app.config.retention_days,
        ))
        .body(vec![1; 5].into())
        .send()
        .await
        .unwrap();
    let r = alice.complete_upload(&cid, file_id).await;
    assert_eq!(r.error(), (409, ErrorCode::SizeMismatch));
    let info = alice.file_info(&cid, file_id).await.ok();
    assert_eq!(info.status, FileStatus::Pending);
    // Only the uploader completes.
    let by_bob = alice.as_user("bob").complete_upload(&cid, file_id).await;
    assert_eq!(by_bob.status, 403);

    assert!(post_form(&first.upload, vec![1; 10])
        .await
        .status()
        .is_success());
    let done = alice.complete_upload(&cid, file_id).await;
    assert_eq!(done.status, 201);
    let twice = alice.complete_upload(&cid, file_id).await;
    assert_eq!(twice.status, 200);
    assert_eq!(
        twice.json, done.json,
        "completing twice returns the same message"
    );
    let late = upload_body("u1", "a.bin", 10, "application/octet-stream", None);
    let late = alice.create_upload(&cid, late).await;
    assert_eq!(late.error(), (409, ErrorCode::UploadCompleted));
}

#[tokio::test]
async fn the_s3_event_completes_an_upload_whose_client_vanished() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let body = upload_body("v1", "vanished.txt", 4, "text/plain", None);
    let ticket = client(app, "alice")
        .create_upload(&cid, body)
        .await
        .success();
    let file_id = ticket.file_id.as_str();
    assert!(post_form(&ticket.upload, b"data".to_vec())
        .await
        .status()
        .is_success());
    // The client dies here. S3 notifies the upload-completed function.
    let bucket = app.config.bucket.clone().unwrap();
    let key = shared::infra::blob::object_key(&cid, file_id, app.config.retention_days);
    let outcomes = upload_completed::handle(app, s3_event(&bucket, &key, None))
        .await
        .unwrap();
    assert!(
        matches!(
            outcomes[..],
            [upload_completed::RecordOutcome::Completed(2)]
        ),
        "{outcomes:?}"
    );
    let messages = history(app, "bob", &cid).await;
    assert_eq!(announced(messages.last().unwrap()), Some(file_id));
    // Delivered again (S3 delivers at least once): nothing new.
    let again = upload_completed::handle(app, s3_event(&bucket, &key, None))
        .await
        .unwrap();
    assert_eq!(again, [upload_completed::RecordOutcome::AlreadyComplete]);
    // Keys that are not uploads are skipped, not retried.
    let other = upload_completed::handle(app, s3_event(&bucket, "something/else", None))
        .await
        .unwrap();
    assert!(matches!(
        other[..],
        [upload_completed::RecordOutcome::Skipped(_)]
    ));
}

#[tokio::test]
async fn racing_completion_and_s3_event_yield_one_file_message() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let bucket = app.config.bucket.clone().unwrap();
    for n in 0..5 {
        let body = upload_body(&format!("r{n}"), "race.txt", 4, "text/plain", None);
        let ticket = alice.create_upload(&cid, body).await.success();
        let file_id = ticket.file_id;
        assert!(post_form(&ticket.upload, b"race".to_vec())
            .await
            .status()
            .is_success());
        let key = shared::infra::blob::object_key(&cid, &file_id, app.config.retention_days);
        let (api, event, api2) = tokio::join!(
            alice.complete_upload(&cid, &file_id),
            upload_completed::handle(app, s3_event(&bucket, &key, None)),
            alice.complete_upload(&cid, &file_id),
        );
        assert!(
            matches!(api.status, 200 | 201) && matches!(api2.status, 200 | 201),
            "{:?} {:?}",
            api.json,
            api2.json
        );
        event.unwrap();
        let announcing = history(app, "alice", &cid)
            .await
            .iter()
            .filter(|m| announced(m) == Some(file_id.as_str()))
            .count();
        assert_eq!(announcing, 1, "round {n}");
    }
}

/// Found by schemathesis (scripts/fuzz): astral-plane text sent twice, concurrently, with one
/// `client_msg_id`. It exposed that moto's transaction rollback is not atomic under concurrent
/// requests (hence scripts/lib/moto_server.py); the API must answer one stored message.
#[tokio::test]
async fn regression_astral_text_sent_twice_concurrently() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    // (The generated text ended in U+0090, a C1 control that text may no longer contain.)
    let text = "U;\u{f2599}\u{73767}\u{f7}(!\u{60b58}\u{16dba}";
    let alice = client(app, "alice");
    let send = || alice.post_message(&cid, "4fcda5c0b77d441a8c5423f2049ab1d1", text);
    let (a, b) = tokio::join!(send(), send());
    assert_eq!(
        (a.status, b.status),
        (201, 201),
        "{:?} {:?}",
        a.json,
        b.json
    );
    assert_eq!(a.json, b.json);
    assert_eq!(a.created().text.as_deref(), Some(text));
}

/// An upload nobody completed shows as deleted once it counts as abandoned, and is settled as the
/// hourly sweep will settle it: one whose bytes never arrived is gone (complete and a retry of
/// its create answer 410), one whose bytes did arrive (its client vanished, its S3 event
/// failed) is announced by the first to ask, so a client is never told to start again for a
/// file that then appears.
#[tokio::test]
async fn abandoned_uploads_are_settled_as_the_sweep_settles_them() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let mut started = Vec::new();
    for name in ["arrived.bin", "never.bin"] {
        let body = upload_body(&unique("gone"), name, 3, "application/octet-stream", None);
        let ticket = alice.create_upload(&cid, body.clone()).await.success();
        let mut record = app.store.get_file(&ticket.file_id).await.unwrap().unwrap();
        assert_eq!(
            shared::domain::time::rfc3339(record.upload_deadline_ms.unwrap()),
            ticket.upload.form().expires_at,
            "record keeps the form's deadline"
        );
        if name == "arrived.bin" {
            let posted = post_form(&ticket.upload, b"abc".to_vec()).await;
            assert!(posted.status().is_success());
        }
        // The form expired long ago and nobody completed the upload.
        record.upload_deadline_ms =
            Some(shared::domain::time::now_ms() - shared::domain::model::ABANDONED_AFTER_MS - 1);
        app.store.put_file_record(&record).await.unwrap();
        let info = alice.file_info(&cid, &ticket.file_id).await.success();
        assert_eq!(info.status, FileStatus::Deleted);
        started.push((ticket.file_id, body));
    }
    let (arrived, arrived_body) = &started[0];
    let (never, never_body) = &started[1];

    let late = alice.complete_upload(&cid, never).await;
    assert_eq!(late.error(), (410, ErrorCode::FileGone));
    let retry = alice.create_upload(&cid, never_body.clone()).await;
    assert_eq!(retry.error(), (410, ErrorCode::FileGone));

    // A retry of the create settles the one whose bytes arrived: announced, not gone.
    let retry = alice.create_upload(&cid, arrived_body.clone()).await;
    assert_eq!(retry.error(), (409, ErrorCode::UploadCompleted));
    let info = alice.file_info(&cid, arrived).await.success();
    assert_eq!(info.status, FileStatus::Available);
    let done = alice.complete_upload(&cid, arrived).await;
    assert_eq!(done.status, 200, "already announced: {:?}", done.json);
}

#[tokio::test]
async fn retention_zero_keeps_files_forever() {
    let app = stack_with(Options {
        retention_days: 0,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "alice", &[]).await;
    let file_id = upload(app, &cid, "alice", "keep.txt", "text/plain", b"keep").await;
    let info = client(app, "alice").file_info(&cid, &file_id).await;
    // Raw on purpose: the field is absent, not null.
    assert!(info.json.get("expires_at").is_none(), "{:?}", info.json);
    assert_eq!(info.success().status, FileStatus::Available);
}

#[tokio::test]
async fn the_callers_conversations_page_through_every_group_once() {
    let app = stack().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(create_group(app, "owner", &["dana"]).await);
    }
    create_group(app, "owner", &[]).await; // not dana's
    let dana = client(app, "dana");
    let mut seen = Vec::new();
    let mut query = Query::limit(2);
    loop {
        let page = dana.conversations(query.clone()).await.ok();
        for c in page.conversations {
            assert_eq!(c.conversation.role, Role::Member);
            assert_eq!(c.conversation.title, "Team");
            seen.push((c.last_activity_at, c.conversation.conversation_id));
        }
        match page.cursor {
            Some(c) => query = Query::limit(2).and("cursor", c),
            None => break,
        }
    }
    // Most recent activity first, ties by id.
    let at = |t: &str| {
        aws_smithy_types::DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime)
            .unwrap()
            .to_millis()
            .unwrap()
    };
    let mut ordered = seen.clone();
    ordered.sort_by(|a, b| at(&b.0).cmp(&at(&a.0)).then_with(|| a.1.cmp(&b.1)));
    assert_eq!(seen, ordered, "by activity, then id");
    let mut seen: Vec<String> = seen.into_iter().map(|(_, id)| id).collect();
    seen.sort();
    created.sort();
    assert_eq!(seen, created, "every group once");
    let owners = dana.as_user("owner").conversations(Query::limit(1)).await;
    let foreign = owners.ok().cursor.unwrap();
    let r = dana
        .conversations(Query::new().and("cursor", foreign))
        .await;
    assert_eq!(
        r.error(),
        (400, ErrorCode::InvalidCursor),
        "cursor bound to its user"
    );
}

#[tokio::test]
async fn the_sweeper_completes_lost_completions_and_deletes_abandoned_uploads() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let form = |user: &'static str, id: &'static str| {
        let cid = cid.clone();
        async move {
            let body = upload_body(
                id,
                &format!("{id}.bin"),
                3,
                "application/octet-stream",
                None,
            );
            client(app, user).create_upload(&cid, body).await.success()
        }
    };
    // Bytes arrived but nobody completed (client gone, S3 event lost): completed, not deleted.
    let lost = form("alice", "lost").await;
    // Never uploaded: deleted.
    let empty = form("alice", "empty").await;
    // Bytes arrived, but the uploader has left the group: cannot complete, bytes removed.
    let left = form("bob", "left").await;
    let fresh = form("alice", "fresh").await;
    let done_id = upload(
        app,
        &cid,
        "alice",
        "done.bin",
        "application/octet-stream",
        b"abc",
    )
    .await;
    for posted in [&lost, &left] {
        assert!(post_form(&posted.upload, b"abc".to_vec())
            .await
            .status()
            .is_success());
    }
    let alice = client(app, "alice");
    let r = alice.remove_member(&cid, "bob").await;
    assert!(r.status < 300, "{:?}", r.json);
    for file_id in [&lost.file_id, &empty.file_id, &left.file_id] {
        let mut record = app.store.get_file(file_id).await.unwrap().unwrap();
        record.upload_deadline_ms =
            Some(shared::domain::time::now_ms() - shared::domain::model::ABANDONED_AFTER_MS - 1);
        app.store.put_file_record(&record).await.unwrap();
    }

    assert_eq!(sweep_uploads::handle(app).await.unwrap(), 3);
    let completed = app.store.get_file(&lost.file_id).await.unwrap().unwrap();
    assert_eq!(
        completed.status,
        shared::domain::model::StoredFileStatus::Available
    );
    let messages = history(app, "alice", &cid).await;
    assert!(
        messages
            .iter()
            .any(|m| announced(m) == Some(lost.file_id.as_str())),
        "announced: {messages:?}"
    );
    let download = alice.download(&cid, &lost.file_id, Query::new()).await;
    assert_eq!(download.status, 302);
    for gone in [&empty.file_id, &left.file_id] {
        let stored = app.store.get_file(gone).await.unwrap().unwrap();
        assert_eq!(
            stored.status,
            shared::domain::model::StoredFileStatus::Deleted
        );
        assert_eq!(
            app.blobs.head(&stored.s3_key).await.unwrap(),
            None,
            "bytes removed"
        );
    }
    // Still-open uploads and completed files are untouched.
    let fresh = app.store.get_file(&fresh.file_id).await.unwrap().unwrap();
    assert_eq!(
        fresh.status,
        shared::domain::model::StoredFileStatus::Pending
    );
    let done = alice.download(&cid, &done_id, Query::new()).await;
    assert_eq!(done.status, 302);
    assert_eq!(
        sweep_uploads::handle(app).await.unwrap(),
        0,
        "nothing left to sweep"
    );
}

/// An upload of 3 bytes by Alice whose form expired at `deadline`, with `bytes` sent if given
/// (then only its completion was lost). Returns its file id.
async fn abandoned_upload(
    app: &'static shared::App,
    cid: &str,
    id: &str,
    deadline: i64,
    bytes: Option<&[u8; 3]>,
) -> String {
    let body = upload_body(id, "photo.png", 3, "image/png", None);
    let ticket = client(app, "alice")
        .create_upload(cid, body)
        .await
        .success();
    if let Some(bytes) = bytes {
        let posted = post_form(&ticket.upload, bytes.to_vec()).await;
        assert!(posted.status().is_success());
    }
    let mut record = app.store.get_file(&ticket.file_id).await.unwrap().unwrap();
    record.upload_deadline_ms = Some(deadline);
    app.store.put_file_record(&record).await.unwrap();
    ticket.file_id
}

/// One sweep reads the index page after page until its time is up (a backlog bigger than a
/// page does not wait an hour per page), and a record that does not read as a file is skipped
/// and logged: at the head of the index it would otherwise fail every run, and nothing behind
/// it would ever be swept.
#[tokio::test]
async fn one_sweep_reads_page_after_page_past_a_corrupt_record() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let long_ago = shared::domain::time::now_ms() - shared::domain::model::ABANDONED_AFTER_MS - 1;
    let sdk = sdk_config(&endpoint(ENDPOINT_VAR), "test", "test");
    shared::infra::aws::dynamodb_client(&sdk)
        .put_item()
        .table_name(&app.config.tables.files)
        .item("file_id", AttributeValue::S("corrupt".into()))
        .item("pending_shard", AttributeValue::S("pending".into()))
        .item(
            "upload_deadline",
            AttributeValue::N((long_ago - 1).to_string()),
        )
        .send()
        .await
        .unwrap();
    let mut abandoned = Vec::new();
    for id in ["a", "b", "c"] {
        abandoned.push(abandoned_upload(app, &cid, id, long_ago, None).await);
    }

    let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    let swept = shared::api::uploads::sweep_abandoned(app, 1, far).await;
    assert_eq!(
        swept.cleaned, 3,
        "three pages of one, behind the corrupt record"
    );
    assert_eq!(swept.unreadable, 1);
    assert!(swept.failed.is_none());
    for file_id in &abandoned {
        let file = app.store.get_file(file_id).await.unwrap().unwrap();
        assert_eq!(
            file.status,
            shared::domain::model::StoredFileStatus::Deleted
        );
    }
    // The run reports the record (the function's error alarm), having done the rest.
    let e = sweep_uploads::handle(app).await.unwrap_err();
    assert!(
        format!("{e}").contains("1 records do not read as files"),
        "{e}"
    );
}

/// A sweep whose read of a later page fails keeps what it did before: the uploads it completed
/// have left the pending index, so no later run would send their preview jobs if this one
/// dropped them (the function sends them, then reports the failure).
#[tokio::test]
async fn a_sweep_cut_short_by_a_failed_read_keeps_the_uploads_it_completed() {
    use aws_sdk_dynamodb::config::http::HttpRequest;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let long_ago = shared::domain::time::now_ms() - shared::domain::model::ABANDONED_AFTER_MS - 1;
    // The oldest: bytes arrived, completion lost. Behind it, on the next page, one never sent.
    let lost = abandoned_upload(app, &cid, "lost", long_ago - 1, Some(b"abc")).await;
    abandoned_upload(app, &cid, "never", long_ago, None).await;
    // Every read of the pending index after the first fails (throttled past the SDK's retries).
    let reads = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = reads.clone();
    let failing = intercepted(
        app,
        Rewrite("LaterPagesFail", move |request: &mut HttpRequest| {
            let pending = request
                .body()
                .bytes()
                .is_some_and(|body| String::from_utf8_lossy(body).contains("pending-by-deadline"));
            if operation_of(request) == "Query" && pending && counted.fetch_add(1, SeqCst) > 0 {
                return Err("throttled".into());
            }
            Ok(())
        }),
    );

    let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    let swept = shared::api::uploads::sweep_abandoned(failing, 1, far).await;
    assert_eq!(swept.completed, vec![lost]);
    assert!(swept.failed.is_some(), "the failed read is reported");
    assert!(reads.load(SeqCst) >= 2);
}
