//! Nothing lost, no one in: the invariants hold inside the writes that depend on them, under
//! stale upload forms, removals that race a completion, retries that change what they
//! declared, concurrent owners, forged cursors, aliased paths and hostile input.

use futures::future::join_all;
use groupshare_tests::*;
use serde_json::{json, Value};

async fn history(app: &shared::App, user: &str, cid: &str) -> Vec<Value> {
    let r = get(
        app,
        user,
        &format!("/conversations/{cid}/messages?limit=100"),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    r.json["messages"].as_array().unwrap().clone()
}

async fn new_upload(
    app: &shared::App,
    cid: &str,
    user: &str,
    client_msg_id: &str,
    bytes: &[u8],
) -> Reply {
    let r = post(
        app,
        user,
        &format!("/conversations/{cid}/uploads"),
        json!({
            "client_msg_id": client_msg_id,
            "name": "plan.txt",
            "size": bytes.len(),
            "content_type": "text/plain",
            "sha256": sha256_hex(bytes),
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    r
}

/// Every version S3 holds of `key`, newest first.
async fn versions(app: &shared::App, key: &str) -> Vec<String> {
    let out = app
        .blobs
        .client()
        .list_object_versions()
        .bucket(app.config.bucket.as_deref().unwrap())
        .prefix(key)
        .send()
        .await
        .unwrap();
    out.versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .filter_map(|v| v.version_id().map(str::to_string))
        .collect()
}

async fn download_bytes(app: &shared::App, user: &str, cid: &str, file_id: &str) -> Vec<u8> {
    let r = get(
        app,
        user,
        &format!("/conversations/{cid}/files/{file_id}/download"),
    )
    .await;
    assert_eq!(r.status, 302, "{:?}", r.json);
    let url = r.header("location").unwrap();
    let got = reqwest::get(url).await.unwrap();
    assert!(got.status().is_success());
    got.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_removed_member_cannot_announce_a_file_with_a_form_collected_before() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["mallory"]).await;
    let ticket = new_upload(app, &cid, "mallory", "late", b"sneaky").await;
    let file_id = ticket.json["file_id"].as_str().unwrap().to_string();
    let removed = delete(
        app,
        "alice",
        format!("/conversations/{cid}/members/mallory"),
    )
    .await;
    assert_eq!(removed.status, 204);

    // The old form still uploads (S3 only checks its signature and policy) ...
    assert!(post_form(&ticket.json["upload"], b"sneaky".to_vec())
        .await
        .status()
        .is_success());
    // ... but neither the S3 event nor the route may announce it.
    let bucket = app.config.bucket.clone().unwrap();
    let key = shared::blob::object_key(&cid, &file_id, app.config.retention_days);
    let outcomes = upload_completed::handle(app, s3_event(&bucket, &key, None))
        .await
        .unwrap();
    assert!(
        matches!(outcomes[..], [upload_completed::RecordOutcome::Skipped(_)]),
        "{outcomes:?}"
    );
    let by_route = post(
        app,
        "mallory",
        &format!("/conversations/{cid}/files/{file_id}/complete"),
        Value::Null,
    )
    .await;
    assert_eq!(by_route.status, 404);

    let messages = history(app, "alice", &cid).await;
    assert!(
        messages.iter().all(|m| m["kind"] != "file"),
        "no file message after the removal: {messages:?}"
    );
    let info = get(
        app,
        "alice",
        &format!("/conversations/{cid}/files/{file_id}"),
    )
    .await;
    assert_eq!(info.json["status"], "pending");
}

/// A removal that commits between the uploader's membership read and the announcement still
/// wins: the membership condition is part of the announcing transaction.
#[tokio::test]
async fn completion_racing_a_removal_never_announces_after_it() {
    let app = stack().await;
    for round in 0..5 {
        let cid = create_group(app, "alice", &["mallory"]).await;
        let ticket = new_upload(app, &cid, "mallory", &format!("r{round}"), b"racing").await;
        let file_id = ticket.json["file_id"].as_str().unwrap().to_string();
        assert!(post_form(&ticket.json["upload"], b"racing".to_vec())
            .await
            .status()
            .is_success());
        let complete_path = format!("/conversations/{cid}/files/{file_id}/complete");
        let (removed, completed) = tokio::join!(
            delete(
                app,
                "alice",
                format!("/conversations/{cid}/members/mallory")
            ),
            post(app, "mallory", &complete_path, Value::Null),
        );
        assert_eq!(removed.status, 204);
        assert!(
            matches!(completed.status, 201 | 404),
            "{:?}",
            completed.json
        );
        let messages = history(app, "alice", &cid).await;
        let removed_at = messages
            .iter()
            .position(|m| m["system"]["event"] == "member_removed")
            .unwrap();
        let file_at = messages.iter().position(|m| m["kind"] == "file");
        if let Some(file_at) = file_at {
            assert!(file_at < removed_at, "round {round}: {messages:?}");
            assert_eq!(completed.status, 201);
        } else {
            assert_eq!(completed.status, 404);
        }
    }
}

#[tokio::test]
async fn bytes_posted_with_an_old_form_after_completion_never_reach_members() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let original = b"the agreed plan".to_vec();
    // No declared hash: the form pins only key, type and size, so S3 accepts other bytes.
    let ticket = post(
        app,
        "alice",
        &format!("/conversations/{cid}/uploads"),
        json!({"client_msg_id": "swap", "name": "plan.txt", "size": original.len(), "content_type": "text/plain"}),
    )
    .await;
    assert_eq!(ticket.status, 201, "{:?}", ticket.json);
    let file_id = ticket.json["file_id"].as_str().unwrap().to_string();
    assert!(post_form(&ticket.json["upload"], original.clone())
        .await
        .status()
        .is_success());
    let done = post(
        app,
        "alice",
        &format!("/conversations/{cid}/files/{file_id}/complete"),
        Value::Null,
    )
    .await;
    assert_eq!(done.status, 201, "{:?}", done.json);

    // The same form again, with other bytes of the same size.
    let forged = b"the forged plan".to_vec();
    assert_eq!(forged.len(), original.len());
    assert!(post_form(&ticket.json["upload"], forged.clone())
        .await
        .status()
        .is_success());
    let key = shared::blob::object_key(&cid, &file_id, app.config.retention_days);
    let stored = versions(app, &key).await;
    assert_eq!(stored.len(), 2, "the bucket is versioned: {stored:?}");

    // Before its event arrives, downloads are already pinned to the completed version.
    assert_eq!(download_bytes(app, "bob", &cid, &file_id).await, original);
    // The event for the stray version removes it (and a redelivery is harmless).
    let bucket = app.config.bucket.clone().unwrap();
    for _ in 0..2 {
        upload_completed::handle(app, s3_event(&bucket, &key, Some(&stored[0])))
            .await
            .unwrap();
    }
    assert_eq!(versions(app, &key).await, vec![stored[1].clone()]);
    assert_eq!(download_bytes(app, "bob", &cid, &file_id).await, original);
    // The event for the completed version itself changes nothing.
    let again = upload_completed::handle(app, s3_event(&bucket, &key, Some(&stored[1])))
        .await
        .unwrap();
    assert_eq!(again, [upload_completed::RecordOutcome::AlreadyComplete]);
}

/// With a declared hash the form itself carries it, and S3 refuses other bytes outright.
#[tokio::test]
async fn a_form_with_a_declared_hash_refuses_other_bytes() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let ticket = new_upload(app, &cid, "alice", "pinned", b"the real one").await;
    let refused = post_form(&ticket.json["upload"], b"the fake one".to_vec()).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("BadDigest"));
}

#[tokio::test]
async fn a_retry_must_declare_the_same_checksum() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let bytes = b"declared".to_vec();
    new_upload(app, &cid, "alice", "same", &bytes).await;
    let path = format!("/conversations/{cid}/uploads");
    let without = post(
        app,
        "alice",
        &path,
        json!({"client_msg_id": "same", "name": "plan.txt", "size": bytes.len(), "content_type": "text/plain"}),
    )
    .await;
    assert_eq!(
        (without.status, without.error_code()),
        (409, "client_msg_id_reused")
    );
    let other = post(
        app,
        "alice",
        &path,
        json!({"client_msg_id": "same", "name": "plan.txt", "size": bytes.len(),
               "content_type": "text/plain", "sha256": sha256_hex(b"other!!!")}),
    )
    .await;
    assert_eq!(
        (other.status, other.error_code()),
        (409, "client_msg_id_reused")
    );
    // The same declaration (hex case aside) is a retry and gets a fresh form.
    let same = post(
        app,
        "alice",
        &path,
        json!({"client_msg_id": "same", "name": "plan.txt", "size": bytes.len(),
               "content_type": "text/plain", "sha256": sha256_hex(&bytes).to_uppercase()}),
    )
    .await;
    assert_eq!(same.status, 201, "{:?}", same.json);
}

#[tokio::test]
async fn a_declared_checksum_storage_cannot_confirm_does_not_complete() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let ticket = new_upload(app, &cid, "alice", "nochk", b"unverified").await;
    let file_id = ticket.json["file_id"].as_str().unwrap().to_string();
    // Bytes that arrive without the form's checksum field (S3 then keeps no SHA-256).
    app.blobs
        .client()
        .put_object()
        .bucket(app.config.bucket.as_deref().unwrap())
        .key(shared::blob::object_key(
            &cid,
            &file_id,
            app.config.retention_days,
        ))
        .body(b"unverified".to_vec().into())
        .send()
        .await
        .unwrap();
    let r = post(
        app,
        "alice",
        &format!("/conversations/{cid}/files/{file_id}/complete"),
        Value::Null,
    )
    .await;
    assert_eq!((r.status, r.error_code()), (409, "checksum_unverified"));
    let info = get(app, "bob", &format!("/conversations/{cid}/files/{file_id}")).await;
    assert_eq!(info.json["status"], "pending");
}

#[tokio::test]
async fn the_same_client_msg_id_with_other_text_is_refused() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let path = format!("/conversations/{cid}/messages");
    let first = post(
        app,
        "alice",
        &path,
        json!({"client_msg_id": "k", "text": "hello"}),
    )
    .await;
    assert_eq!(first.status, 201);
    let retry = post(
        app,
        "alice",
        &path,
        json!({"client_msg_id": "k", "text": "hello"}),
    )
    .await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.json["seq"], first.json["seq"]);
    let changed = post(
        app,
        "alice",
        &path,
        json!({"client_msg_id": "k", "text": "goodbye"}),
    )
    .await;
    assert_eq!(
        (changed.status, changed.error_code()),
        (409, "client_msg_id_reused")
    );
    let texts: Vec<Value> = history(app, "alice", &cid)
        .await
        .iter()
        .filter(|m| m["kind"] == "text")
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("hello")]);
}

async fn owners(app: &shared::App, cid: &str, among: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for u in among {
        if let Some(m) = app.store.get_member(cid, u).await.unwrap() {
            if m.role == shared::model::Role::Owner {
                out.push(u.to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn two_owners_leaving_at_once_leave_one_owner() {
    let app = stack().await;
    for round in 0..5 {
        let cid = create_group(app, "alice", &["bob"]).await;
        let r = patch(
            app,
            "alice",
            &format!("/conversations/{cid}/members/bob"),
            json!({"role": "owner"}),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        let (a, b) = tokio::join!(
            delete(app, "alice", format!("/conversations/{cid}/members/alice")),
            delete(app, "bob", format!("/conversations/{cid}/members/bob")),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [204, 409],
            "round {round}: {:?} {:?}",
            a.json,
            b.json
        );
        assert_eq!(
            owners(app, &cid, &["alice", "bob"]).await.len(),
            1,
            "round {round}"
        );
    }
}

#[tokio::test]
async fn two_owners_removing_each_other_at_once_leave_one_owner() {
    let app = stack().await;
    for round in 0..5 {
        let cid = create_group(app, "alice", &["bob"]).await;
        let r = patch(
            app,
            "alice",
            &format!("/conversations/{cid}/members/bob"),
            json!({"role": "owner"}),
        )
        .await;
        assert_eq!(r.status, 200);
        let (a, b) = tokio::join!(
            delete(app, "alice", format!("/conversations/{cid}/members/bob")),
            delete(app, "bob", format!("/conversations/{cid}/members/alice")),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        // The loser is either refused as the last owner's remover or is no longer a member.
        assert_eq!(statuses[0], 204, "round {round}: {:?} {:?}", a.json, b.json);
        assert!(matches!(statuses[1], 404 | 409), "round {round}");
        assert_eq!(
            owners(app, &cid, &["alice", "bob"]).await.len(),
            1,
            "round {round}"
        );
    }
}

#[tokio::test]
async fn roles_change_by_the_rules_and_show_in_history() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob", "carol", "dave"]).await;
    let role = |by: &'static str, who: &'static str, role: &'static str| {
        let cid = cid.clone();
        async move {
            patch(
                app,
                by,
                &format!("/conversations/{cid}/members/{who}"),
                json!({ "role": role }),
            )
            .await
        }
    };
    // Members change no roles.
    assert_eq!(role("bob", "carol", "admin").await.status, 403);
    // Owners change any role.
    let r = role("alice", "bob", "admin").await;
    assert_eq!((r.status, r.json["role"].as_str()), (200, Some("admin")));
    // Admins make members admins, nothing more.
    assert_eq!(role("bob", "carol", "admin").await.status, 200);
    assert_eq!(role("bob", "dave", "owner").await.status, 403);
    assert_eq!(role("bob", "carol", "member").await.status, 403);
    assert_eq!(role("bob", "alice", "member").await.status, 403);
    // The same role again changes nothing and writes nothing.
    assert_eq!(role("alice", "carol", "admin").await.status, 200);
    // The last owner cannot step down; with a second owner they can.
    let r = role("alice", "alice", "admin").await;
    assert_eq!((r.status, r.error_code()), (409, "last_owner"));
    assert_eq!(role("alice", "dave", "owner").await.status, 200);
    assert_eq!(role("alice", "alice", "member").await.status, 200);
    // Outsiders and unknown members: the same 404; bad roles: 400.
    assert_eq!(role("mallory", "bob", "member").await.status, 404);
    assert_eq!(role("dave", "nobody", "member").await.status, 404);
    assert_eq!(role("dave", "bob", "emperor").await.status, 400);

    let changes: Vec<(String, String, String)> = history(app, "dave", &cid)
        .await
        .iter()
        .filter(|m| m["system"]["event"] == "role_changed")
        .map(|m| {
            (
                m["sender"].as_str().unwrap().into(),
                m["system"]["user_id"].as_str().unwrap().into(),
                m["system"]["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("alice", "bob", "admin"),
        ("bob", "carol", "admin"),
        ("alice", "dave", "owner"),
        ("alice", "alice", "member"),
    ];
    assert_eq!(
        changes,
        expected.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
}

/// An admin demoted while adding a member: the add is checked against the role at commit.
#[tokio::test]
async fn a_demotion_racing_an_add_never_lets_a_member_add() {
    let app = stack().await;
    for round in 0..5 {
        let cid = create_group(app, "alice", &["bob"]).await;
        assert_eq!(
            patch(
                app,
                "alice",
                &format!("/conversations/{cid}/members/bob"),
                json!({"role": "admin"})
            )
            .await
            .status,
            200
        );
        let members = format!("/conversations/{cid}/members");
        let (demoted, added) = tokio::join!(
            patch(
                app,
                "alice",
                format!("{members}/bob"),
                json!({"role": "member"})
            ),
            post(app, "bob", &members, json!({"user_id": "eve"})),
        );
        assert_eq!(demoted.status, 200);
        let events: Vec<String> = history(app, "alice", &cid)
            .await
            .iter()
            .filter_map(|m| m["system"]["event"].as_str().map(str::to_string))
            .collect();
        let demoted_at = events.iter().rposition(|e| e == "role_changed").unwrap();
        match events.iter().position(|e| e == "member_added") {
            Some(added_at) => {
                assert!(added_at < demoted_at, "round {round}: {events:?}");
                assert_eq!(added.status, 201);
            }
            None => assert!(matches!(added.status, 403 | 404), "round {round}"),
        }
    }
}

#[tokio::test]
async fn twenty_concurrent_senders_all_succeed_with_gap_free_seqs() {
    let app = stack().await;
    let senders: Vec<String> = (0..20).map(|i| format!("user{i}")).collect();
    let refs: Vec<&str> = senders.iter().map(String::as_str).collect();
    let cid = create_group(app, "owner", &refs).await;
    let path = format!("/conversations/{cid}/messages");
    // Three rounds of 20 at once, on a table that already has history.
    for round in 0..3 {
        let replies = join_all(senders.iter().map(|u| {
            post(
                app,
                u,
                &path,
                json!({"client_msg_id": format!("{round}"), "text": format!("{round} from {u}")}),
            )
        }))
        .await;
        for r in &replies {
            assert_eq!(r.status, 201, "round {round}: {:?}", r.json);
        }
    }
    let mut seqs = Vec::new();
    let mut url = format!("{path}?limit=100");
    loop {
        let page = get(app, "owner", &url).await;
        seqs.extend(
            page.json["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["seq"].as_u64().unwrap()),
        );
        match page.json["older"].as_str() {
            Some(c) => url = format!("{path}?limit=100&before={c}"),
            None => break,
        }
    }
    seqs.sort();
    assert_eq!(seqs, (1..=61).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_forged_cursor_at_the_end_of_the_number_range_is_refused() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    use shared::cursor::{encode, After, Before};
    for (param, forged) in [
        ("after", encode(&cid, &After(u64::MAX))),
        ("before", encode(&cid, &Before(u64::MAX))),
        ("before", encode(&cid, &Before(0))),
    ] {
        let r = get(
            app,
            "alice",
            &format!("/conversations/{cid}/messages?{param}={forged}"),
        )
        .await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "invalid_cursor"),
            "{param}"
        );
    }
}

#[tokio::test]
async fn only_documented_paths_match() {
    let app = stack().await;
    for path in [
        "/evil/conversations",
        "/conversations/c1/config",
        "/prod/config",
        "/conversations//messages",
        "/config/",
    ] {
        let r = get(app, "alice", path).await;
        assert_eq!(
            (r.status, r.error_code()),
            (404, "route_not_found"),
            "{path}"
        );
    }
    assert_eq!(get(app, "alice", "/config").await.status, 200);
    // `config` here is a conversation id (GET /conversations/{id}), never the config route.
    let r = get(app, "alice", "/conversations/config").await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
}

#[tokio::test]
async fn names_and_text_that_would_mislead_readers_are_refused() {
    let app = stack().await;
    let title = post(
        app,
        "alice",
        "/conversations",
        json!({"title": "Team\u{202E}txt.exe"}),
    )
    .await;
    assert_eq!((title.status, title.error_code()), (400, "invalid_title"));
    let cid = create_group(app, "alice", &[]).await;
    for name in ["invoice\u{202E}fdp.exe", "a\u{2066}b.pdf", "nul\u{0}.txt"] {
        let r = post(
            app,
            "alice",
            &format!("/conversations/{cid}/uploads"),
            json!({"client_msg_id": "n", "name": name, "size": 1, "content_type": "text/plain"}),
        )
        .await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "invalid_name"),
            "{name:?}"
        );
    }
    for text in ["nul\u{0}", "esc\u{1b}[2J", "flip\u{202E}"] {
        let r = post(
            app,
            "alice",
            &format!("/conversations/{cid}/messages"),
            json!({"client_msg_id": "t", "text": text}),
        )
        .await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "invalid_text"),
            "{text:?}"
        );
    }
    let ok = post(
        app,
        "alice",
        &format!("/conversations/{cid}/messages"),
        json!({"client_msg_id": "ok", "text": "two\nlines\tand a tab"}),
    )
    .await;
    assert_eq!(ok.status, 201);
}

#[tokio::test]
async fn big_or_mistyped_input_is_refused_without_being_echoed() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    // A type error on a 1 MB string: the message names the problem, not the input.
    let huge = "x".repeat(1_000_000);
    let r = post(
        app,
        "alice",
        &format!("/conversations/{cid}/uploads"),
        json!({"client_msg_id": "h", "name": "a.txt", "size": huge, "content_type": "text/plain"}),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.json.to_string().len());
    let small_enough = "x".repeat(50_000);
    let r = post(
        app,
        "alice",
        &format!("/conversations/{cid}/uploads"),
        json!({"client_msg_id": "h", "name": "a.txt", "size": small_enough, "content_type": "text/plain"}),
    )
    .await;
    assert_eq!(r.error_code(), "invalid_body");
    assert!(r.json.to_string().len() < 400, "{}", r.json);
    // 32k member ids: refused before any per-id work.
    let members: Vec<String> = (0..32_000).map(|i| format!("u{i}")).collect();
    let r = post(
        app,
        "alice",
        "/conversations",
        json!({"title": "big", "members": members}),
    )
    .await;
    assert!(matches!(r.status, 400 | 413), "{}", r.status);
    let members: Vec<String> = (0..200).map(|i| format!("u{i}")).collect();
    let r = post(
        app,
        "alice",
        "/conversations",
        json!({"title": "big", "members": members}),
    )
    .await;
    assert_eq!((r.status, r.error_code()), (400, "too_many_members"));
    // Too many query parameters.
    let query: Vec<String> = (0..50).map(|i| format!("p{i}=1")).collect();
    let r = get(
        app,
        "alice",
        &format!("/conversations/{cid}/messages?{}", query.join("&")),
    )
    .await;
    assert_eq!((r.status, r.error_code()), (400, "invalid_query"));
}

/// Found by schemathesis: adding oneself named one member item twice in one transaction (the
/// guard and the put), which DynamoDB refuses; it answered 500.
#[tokio::test]
async fn adding_oneself_is_a_no_op() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let members = format!("/conversations/{cid}/members");
    let r = post(
        app,
        "alice",
        &members,
        json!({"user_id": "alice", "role": "admin"}),
    )
    .await;
    assert_eq!(
        (r.status, r.json["role"].as_str()),
        (200, Some("owner")),
        "{:?}",
        r.json
    );
    let r = post(app, "bob", &members, json!({"user_id": "bob"})).await;
    assert_eq!(r.status, 403, "members add no one, themselves included");
    assert_eq!(history(app, "alice", &cid).await.len(), 1);
}
