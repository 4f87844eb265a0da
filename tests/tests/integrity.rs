//! Nothing lost, no one in: the invariants hold inside the writes that depend on them, under
//! stale upload forms, removals that race a completion, retries that change what they
//! declared, concurrent owners, forged cursors, aliased paths and hostile input.

use futures::future::join_all;
use groupshare_tests::*;
use serde_json::json;
use shared::api::uploads::UploadTicket;
use shared::domain::model::{FileStatus, MessageView, Role};

async fn history(app: &shared::App, user: &str, cid: &str) -> Vec<MessageView> {
    let page = client(app, user).messages(cid, Query::limit(100)).await;
    page.ok().messages
}

/// The event of a `system` message.
fn event(m: &MessageView) -> Option<&str> {
    m.system.as_ref().map(|s| s.event.as_str())
}

async fn new_upload(
    app: &shared::App,
    cid: &str,
    user: &str,
    client_msg_id: &str,
    bytes: &[u8],
) -> UploadTicket {
    let sha256 = sha256_hex(bytes);
    let body = upload_body(
        client_msg_id,
        "plan.txt",
        bytes.len(),
        "text/plain",
        Some(&sha256),
    );
    client(app, user).create_upload(cid, body).await.created()
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
    let r = client(app, user).download(cid, file_id, Query::new()).await;
    let url = r.location();
    let got = reqwest::get(url).await.unwrap();
    assert!(got.status().is_success());
    got.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_removed_member_cannot_announce_a_file_with_a_form_collected_before() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["mallory"]).await;
    let ticket = new_upload(app, &cid, "mallory", "late", b"sneaky").await;
    let file_id = ticket.file_id;
    let alice = client(app, "alice");
    let removed = alice.remove_member(&cid, "mallory").await;
    assert_eq!(removed.status, 204);

    // The old form still uploads (S3 only checks its signature and policy) ...
    assert!(post_form(&ticket.upload, b"sneaky".to_vec())
        .await
        .status()
        .is_success());
    // ... but neither the S3 event nor the route may announce it.
    let bucket = app.config.bucket.clone().unwrap();
    let key = shared::infra::blob::object_key(&cid, &file_id, app.config.retention_days);
    let outcomes = upload_completed::handle(app, s3_event(&bucket, &key, None))
        .await
        .unwrap();
    assert!(
        matches!(outcomes[..], [upload_completed::RecordOutcome::Skipped(_)]),
        "{outcomes:?}"
    );
    let mallory = alice.as_user("mallory");
    let by_route = mallory.complete_upload(&cid, &file_id).await;
    assert_eq!(by_route.status, 404);

    let messages = history(app, "alice", &cid).await;
    assert!(
        messages.iter().all(|m| m.kind != "file"),
        "no file message after the removal: {messages:?}"
    );
    let info = alice.file_info(&cid, &file_id).await.body();
    assert_eq!(info.status, FileStatus::Pending);
}

/// A removal that commits between the uploader's membership read and the announcement still
/// wins: the membership condition is part of the announcing transaction.
#[tokio::test]
async fn completion_racing_a_removal_never_announces_after_it() {
    let app = stack().await;
    for round in 0..5 {
        let cid = create_group(app, "alice", &["mallory"]).await;
        let ticket = new_upload(app, &cid, "mallory", &format!("r{round}"), b"racing").await;
        let file_id = ticket.file_id;
        assert!(post_form(&ticket.upload, b"racing".to_vec())
            .await
            .status()
            .is_success());
        let [alice, mallory] = ["alice", "mallory"].map(|u| client(app, u));
        let (removed, completed) = tokio::join!(
            alice.remove_member(&cid, "mallory"),
            mallory.complete_upload(&cid, &file_id),
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
            .position(|m| event(m) == Some("member_removed"))
            .unwrap();
        let file_at = messages.iter().position(|m| m.kind == "file");
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
    let alice = client(app, "alice");
    let body = upload_body("swap", "plan.txt", original.len(), "text/plain", None);
    let ticket = alice.create_upload(&cid, body).await.created();
    let file_id = ticket.file_id;
    assert!(post_form(&ticket.upload, original.clone())
        .await
        .status()
        .is_success());
    alice.complete_upload(&cid, &file_id).await.created();

    // The same form again, with other bytes of the same size.
    let forged = b"the forged plan".to_vec();
    assert_eq!(forged.len(), original.len());
    assert!(post_form(&ticket.upload, forged.clone())
        .await
        .status()
        .is_success());
    let key = shared::infra::blob::object_key(&cid, &file_id, app.config.retention_days);
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

/// Forced: alice's completion checks the version she posted, then (before its transaction is
/// sent) her client posts the same form again, as a retry of a POST whose answer it lost, and
/// that version's S3 event is handled up to its own transaction, where alice's commits. The
/// event loses the race with the later version current: left there, it would make the completed
/// version noncurrent, and the bucket deletes noncurrent versions after a day.
#[tokio::test]
async fn a_version_whose_event_loses_the_completion_race_is_deleted() {
    let (app, event_hook) = raced_stack().await;
    let completion_hook = BeforeTransaction::default();
    let completer = intercepted(app, completion_hook.clone());
    let cid = create_group(app, "alice", &["bob"]).await;
    let first = b"the agreed plan".to_vec();
    let body = upload_body("retried", "plan.txt", first.len(), "text/plain", None);
    let ticket = client(app, "alice")
        .create_upload(&cid, body)
        .await
        .created();
    assert!(post_form(&ticket.upload, first.clone())
        .await
        .status()
        .is_success());

    // Alice's completion, on a thread of its own, stops just before its transaction.
    let (at_transaction, reached) = futures::channel::oneshot::channel();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    completion_hook.arm(move || {
        at_transaction.send(()).unwrap();
        wait.recv().unwrap();
    });
    let (group, file_id) = (cid.clone(), ticket.file_id.clone());
    let alice_completes = in_the_background(move || async move {
        let completed = client(completer, "alice")
            .complete_upload(&group, &file_id)
            .await;
        assert_eq!(completed.status, 201, "{:?}", completed.json);
    });
    reached.await.unwrap();

    // The same form again (other bytes of the same size: no hash was declared).
    let retried = b"the other plan!".to_vec();
    assert_eq!(retried.len(), first.len());
    assert!(post_form(&ticket.upload, retried)
        .await
        .status()
        .is_success());
    let key = shared::infra::blob::object_key(&cid, &ticket.file_id, app.config.retention_days);
    let stored = versions(app, &key).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    // Its event reads the file pending and checks the new version; alice's commits first.
    event_hook.arm(move || {
        go.send(()).unwrap();
        alice_completes.join().expect("alice's completion ran");
    });
    let bucket = app.config.bucket.clone().unwrap();
    let outcome = upload_completed::handle(app, s3_event(&bucket, &key, Some(&stored[0])))
        .await
        .unwrap();
    assert!(completion_hook.fired() && event_hook.fired());
    assert_eq!(
        outcome,
        [upload_completed::RecordOutcome::StrayVersionDeleted]
    );
    assert_eq!(versions(app, &key).await, vec![stored[1].clone()]);
    assert_eq!(
        download_bytes(app, "bob", &cid, &ticket.file_id).await,
        first
    );
}

/// With a declared hash the form itself carries it, and S3 refuses other bytes outright.
#[tokio::test]
async fn a_form_with_a_declared_hash_refuses_other_bytes() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let ticket = new_upload(app, &cid, "alice", "pinned", b"the real one").await;
    let refused = post_form(&ticket.upload, b"the fake one".to_vec()).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("BadDigest"));
}

#[tokio::test]
async fn a_retry_must_declare_the_same_checksum() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let bytes = b"declared".to_vec();
    new_upload(app, &cid, "alice", "same", &bytes).await;
    let alice = client(app, "alice");
    let retry = |sha256: Option<String>| {
        let body = upload_body(
            "same",
            "plan.txt",
            bytes.len(),
            "text/plain",
            sha256.as_deref(),
        );
        alice.create_upload(&cid, body)
    };
    let without = retry(None).await;
    assert_eq!(without.error(), (409, ErrorCode::ClientMsgIdReused));
    let other = retry(Some(sha256_hex(b"other!!!"))).await;
    assert_eq!(other.error(), (409, ErrorCode::ClientMsgIdReused));
    // The same declaration (hex case aside) is a retry and gets a fresh form.
    let same = retry(Some(sha256_hex(&bytes).to_uppercase())).await;
    assert_eq!(same.status, 201, "{:?}", same.json);
}

#[tokio::test]
async fn a_declared_checksum_storage_cannot_confirm_does_not_complete() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let file_id = new_upload(app, &cid, "alice", "nochk", b"unverified")
        .await
        .file_id;
    // Bytes that arrive without the form's checksum field (S3 then keeps no SHA-256).
    app.blobs
        .client()
        .put_object()
        .bucket(app.config.bucket.as_deref().unwrap())
        .key(shared::infra::blob::object_key(
            &cid,
            &file_id,
            app.config.retention_days,
        ))
        .body(b"unverified".to_vec().into())
        .send()
        .await
        .unwrap();
    let r = client(app, "alice").complete_upload(&cid, &file_id).await;
    assert_eq!(r.error(), (409, ErrorCode::ChecksumUnverified));
    let info = client(app, "bob").file_info(&cid, &file_id).await.body();
    assert_eq!(info.status, FileStatus::Pending);
}

#[tokio::test]
async fn the_same_client_msg_id_with_other_text_is_refused() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let first = alice.post_message(&cid, "k", "hello").await.created();
    let retry = alice.post_message(&cid, "k", "hello").await.created();
    assert_eq!(retry.seq, first.seq);
    let changed = alice.post_message(&cid, "k", "goodbye").await;
    assert_eq!(changed.error(), (409, ErrorCode::ClientMsgIdReused));
    let texts: Vec<Option<String>> = history(app, "alice", &cid)
        .await
        .into_iter()
        .filter(|m| m.kind == "text")
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, [Some("hello".to_string())]);
}

async fn owners(app: &shared::App, cid: &str, among: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for u in among {
        if let Some(m) = app.store.get_member(cid, u).await.unwrap() {
            if m.role == Role::Owner {
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
        let [alice, bob] = ["alice", "bob"].map(|u| client(app, u));
        let r = alice.change_role(&cid, "bob", Role::Owner).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        let (a, b) = tokio::join!(
            alice.remove_member(&cid, "alice"),
            bob.remove_member(&cid, "bob"),
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
        let [alice, bob] = ["alice", "bob"].map(|u| client(app, u));
        let r = alice.change_role(&cid, "bob", Role::Owner).await;
        assert_eq!(r.status, 200);
        let (a, b) = tokio::join!(
            alice.remove_member(&cid, "bob"),
            bob.remove_member(&cid, "alice"),
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
    use Role::{Admin, Member, Owner};
    let role = |by: &'static str, who: &'static str, role: Role| {
        let (api, cid) = (client(app, by), cid.clone());
        async move { api.change_role(&cid, who, role).await }
    };
    // Members change no roles.
    assert_eq!(role("bob", "carol", Admin).await.status, 403);
    // Owners change any role.
    let r = role("alice", "bob", Admin).await;
    assert_eq!(r.ok().role, Admin);
    // Admins make members admins, nothing more.
    assert_eq!(role("bob", "carol", Admin).await.status, 200);
    assert_eq!(role("bob", "dave", Owner).await.status, 403);
    assert_eq!(role("bob", "carol", Member).await.status, 403);
    assert_eq!(role("bob", "alice", Member).await.status, 403);
    // The same role again changes nothing and writes nothing.
    assert_eq!(role("alice", "carol", Admin).await.status, 200);
    // The last owner cannot step down; with a second owner they can.
    let r = role("alice", "alice", Admin).await;
    assert_eq!(r.error(), (409, ErrorCode::LastOwner));
    assert_eq!(role("alice", "dave", Owner).await.status, 200);
    assert_eq!(role("alice", "alice", Member).await.status, 200);
    // Outsiders and unknown members: the same 404; bad roles: 400 (raw: no `Role` says that).
    assert_eq!(role("mallory", "bob", Member).await.status, 404);
    assert_eq!(role("dave", "nobody", Member).await.status, 404);
    let path = format!("/conversations/{cid}/members/bob");
    let emperor = json!({"role": "emperor"});
    let r = client(app, "dave")
        .send("PATCH", &path, Some(emperor))
        .await;
    assert_eq!(r.status, 400);

    let changes: Vec<(String, String, Option<Role>)> = history(app, "dave", &cid)
        .await
        .into_iter()
        .filter(|m| event(m) == Some("role_changed"))
        .map(|m| {
            let system = m.system.unwrap();
            (m.sender, system.user_id, system.role)
        })
        .collect();
    let expected = [
        ("alice", "bob", Admin),
        ("bob", "carol", Admin),
        ("alice", "dave", Owner),
        ("alice", "alice", Member),
    ];
    assert_eq!(
        changes,
        expected.map(|(a, b, c)| (a.to_string(), b.to_string(), Some(c)))
    );
}

/// Removing and re-adding a member changes their role as `PATCH` does, so removing an admin
/// needs an owner, the same as demoting one.
#[tokio::test]
async fn only_owners_remove_admins_so_admins_cannot_demote_by_removing_and_re_adding() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob", "carol", "dave"]).await;
    let [alice, bob] = ["alice", "bob"].map(|u| client(app, u));
    for who in ["bob", "carol"] {
        assert_eq!(alice.change_role(&cid, who, Role::Admin).await.status, 200);
    }
    let removed = bob.remove_member(&cid, "carol").await;
    assert_eq!(
        removed.error(),
        (403, ErrorCode::Forbidden),
        "admin removes admin"
    );
    let carol = app.store.get_member(&cid, "carol").await.unwrap();
    assert_eq!(
        carol.map(|m| m.role),
        Some(Role::Admin),
        "carol keeps her role"
    );
    // Admins still remove members and leave themselves; owners remove admins.
    assert_eq!(bob.remove_member(&cid, "dave").await.status, 204);
    assert_eq!(alice.remove_member(&cid, "carol").await.status, 204);
    assert_eq!(bob.remove_member(&cid, "bob").await.status, 204);
}

/// An admin demoted while adding a member: the add is checked against the role at commit.
#[tokio::test]
async fn a_demotion_racing_an_add_never_lets_a_member_add() {
    let app = stack().await;
    for round in 0..5 {
        let cid = create_group(app, "alice", &["bob"]).await;
        let [alice, bob] = ["alice", "bob"].map(|u| client(app, u));
        let promoted = alice.change_role(&cid, "bob", Role::Admin).await;
        assert_eq!(promoted.status, 200);
        let (demoted, added) = tokio::join!(
            alice.change_role(&cid, "bob", Role::Member),
            bob.add_member(&cid, "eve", None),
        );
        assert_eq!(demoted.status, 200);
        let events: Vec<String> = history(app, "alice", &cid)
            .await
            .iter()
            .filter_map(|m| event(m).map(str::to_string))
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
    // Three rounds of 20 at once, on a table that already has history.
    for round in 0..3 {
        let replies = join_all(senders.iter().map(|u| {
            let (api, cid) = (client(app, u), &cid);
            let (id, text) = (format!("{round}"), format!("{round} from {u}"));
            async move { api.post_message(cid, &id, &text).await }
        }))
        .await;
        for r in &replies {
            assert_eq!(r.status, 201, "round {round}: {:?}", r.json);
        }
    }
    let owner = client(app, "owner");
    let mut seqs = Vec::new();
    let mut query = Query::limit(100);
    loop {
        let page = owner.messages(&cid, query).await.body();
        seqs.extend(page.messages.iter().map(|m| m.seq));
        match page.older {
            Some(c) => query = Query::limit(100).and("before", c),
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
    use shared::domain::cursor::{encode, After, Before};
    let alice = client(app, "alice");
    for (param, forged) in [
        ("after", encode(&cid, &After(u64::MAX))),
        ("before", encode(&cid, &Before(u64::MAX))),
        ("before", encode(&cid, &Before(0))),
    ] {
        let r = alice.messages(&cid, Query::new().and(param, forged)).await;
        assert_eq!(r.error(), (400, ErrorCode::InvalidCursor), "{param}");
    }
}

#[tokio::test]
async fn only_documented_paths_match() {
    let app = stack().await;
    let alice = client(app, "alice");
    // Raw: paths no typed call would build.
    for path in [
        "/evil/conversations",
        "/conversations/c1/config",
        "/prod/config",
        "/conversations//messages",
        "/config/",
    ] {
        let r = alice.send("GET", path, None).await;
        assert!(
            r.no_route_at_the_gateway(),
            "{path}: {} {:?}",
            r.status,
            r.json
        );
    }
    assert_eq!(alice.config().await.status, 200);
    // `config` here is a conversation id (GET /conversations/{id}), never the config route.
    let r = alice.send("GET", "/conversations/config", None).await;
    assert_eq!(r.error(), (404, ErrorCode::NotFound));
}

#[tokio::test]
async fn names_and_text_that_would_mislead_readers_are_refused() {
    let app = stack().await;
    let alice = client(app, "alice");
    let title = alice.create_conversation("Team\u{202E}txt.exe", &[]).await;
    assert_eq!(title.error(), (400, ErrorCode::InvalidTitle));
    let cid = create_group(app, "alice", &[]).await;
    for name in ["invoice\u{202E}fdp.exe", "a\u{2066}b.pdf", "nul\u{0}.txt"] {
        let body = upload_body("n", name, 1, "text/plain", None);
        let r = alice.create_upload(&cid, body).await;
        assert_eq!(r.error(), (400, ErrorCode::InvalidName), "{name:?}");
    }
    for text in ["nul\u{0}", "esc\u{1b}[2J", "flip\u{202E}"] {
        let r = alice.post_message(&cid, "t", text).await;
        assert_eq!(r.error(), (400, ErrorCode::InvalidText), "{text:?}");
    }
    let ok = alice
        .post_message(&cid, "ok", "two\nlines\tand a tab")
        .await;
    assert_eq!(ok.status, 201);
}

#[tokio::test]
async fn big_or_mistyped_input_is_refused_without_being_echoed() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    // A type error on a 1 MB string: the message names the problem, not the input.
    let mistyped = |size: String| json!({"client_msg_id": "h", "name": "a.txt", "size": size, "content_type": "text/plain"});
    let r = alice
        .create_upload(&cid, mistyped("x".repeat(1_000_000)))
        .await;
    assert_eq!(r.status, 413, "{}", r.json.to_string().len());
    let r = alice
        .create_upload(&cid, mistyped("x".repeat(50_000)))
        .await;
    assert_eq!(r.failure().code, ErrorCode::InvalidBody);
    assert!(r.json.to_string().len() < 400, "{}", r.json);
    // 32k member ids: refused before any per-id work.
    let members: Vec<String> = (0..32_000).map(|i| format!("u{i}")).collect();
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    let r = alice.create_conversation("big", &members).await;
    assert!(matches!(r.status, 400 | 413), "{}", r.status);
    let r = alice.create_conversation("big", &members[..200]).await;
    assert_eq!(r.error(), (400, ErrorCode::TooManyMembers));
    // Too many query parameters.
    let query: Vec<String> = (0..50).map(|i| format!("p{i}=1")).collect();
    let path = format!("/conversations/{cid}/messages?{}", query.join("&"));
    let r = alice.send("GET", &path, None).await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidQuery));
}

/// Found by schemathesis: adding oneself named one member item twice in one transaction (the
/// guard and the put), which DynamoDB refuses; it answered 500.
#[tokio::test]
async fn adding_oneself_is_a_no_op() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let alice = client(app, "alice");
    let r = alice.add_member(&cid, "alice", Some(Role::Admin)).await;
    assert_eq!(r.ok().role, Role::Owner);
    let r = alice.as_user("bob").add_member(&cid, "bob", None).await;
    assert_eq!(r.status, 403, "members add no one, themselves included");
    assert_eq!(history(app, "alice", &cid).await.len(), 1);
}

/// Forced: the removal commits after the uploader's completion has read everything it decides
/// on (membership included) and just before its announcing transaction is sent. Only the
/// membership condition inside that transaction can refuse it.
#[tokio::test]
async fn a_removal_committed_just_before_the_announcement_is_sent_wins() {
    let (app, hook) = raced_stack().await;
    let cid = create_group(app, "alice", &["mallory"]).await;
    let ticket = new_upload(app, &cid, "mallory", "forced", b"racing").await;
    assert!(post_form(&ticket.upload, b"racing".to_vec())
        .await
        .status()
        .is_success());
    let group = cid.clone();
    hook.arm(move || {
        on_another_device(app, move |other| async move {
            let removed = client(other, "alice")
                .remove_member(&group, "mallory")
                .await;
            assert_eq!(removed.status, 204, "{:?}", removed.json);
        })
    });
    let completed = client(app, "mallory")
        .complete_upload(&cid, &ticket.file_id)
        .await;
    assert!(hook.fired(), "the completion sent a transaction");
    assert_eq!(completed.status, 404, "{:?}", completed.json);
    let messages = history(app, "alice", &cid).await;
    assert!(messages.iter().any(|m| event(m) == Some("member_removed")));
    assert!(
        messages.iter().all(|m| m.kind != "file"),
        "announced after the removal: {messages:?}"
    );
}

/// Forced: an admin's add has read the admin's role, then the demotion commits just before
/// the add's transaction is sent. The role condition inside it must refuse the add.
#[tokio::test]
async fn a_demotion_committed_just_before_an_add_is_sent_refuses_the_add() {
    let (app, hook) = raced_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let promoted = client(app, "alice")
        .change_role(&cid, "bob", Role::Admin)
        .await;
    assert_eq!(promoted.status, 200);
    let group = cid.clone();
    hook.arm(move || {
        on_another_device(app, move |other| async move {
            let demoted = client(other, "alice")
                .change_role(&group, "bob", Role::Member)
                .await;
            assert_eq!(demoted.status, 200, "{:?}", demoted.json);
        })
    });
    let added = client(app, "bob").add_member(&cid, "eve", None).await;
    assert!(hook.fired(), "the add sent a transaction");
    assert_eq!(added.status, 404, "{:?}", added.json);
    let events: Vec<String> = history(app, "alice", &cid)
        .await
        .iter()
        .filter_map(|m| event(m).map(str::to_string))
        .collect();
    assert!(!events.iter().any(|e| e == "member_added"), "{events:?}");
}

/// DynamoDB's answer when a transaction touches an item another transaction holds (two
/// transactions on one profile, member or file item at once): cancelled, with
/// `TransactionConflict` as the reason. moto runs one request at a time and never gives it, so
/// this interceptor plays it: the next `n` TransactWriteItems are sent empty (nothing is
/// written, as when DynamoDB cancels) and answered with the cancellation, word for word.
#[derive(Clone, Debug, Default)]
struct Conflicts {
    left: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    faking: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Cancel with a refusal that no retry changes (`ValidationError`, as for an item that
    /// would outgrow 400 KB) instead of a conflict.
    refusing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Conflicts {
    /// The next `n` transactions meet a conflict.
    fn next(&self, n: usize) {
        self.left.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// The next `n` transactions are refused for no condition.
    fn refuse(&self, n: usize) {
        self.refusing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.next(n);
    }

    /// Conflicts still to come.
    fn left(&self) -> usize {
        self.left.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl aws_sdk_dynamodb::config::Intercept for Conflicts {
    fn name(&self) -> &'static str {
        "Conflicts"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut<
            '_,
        >,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use std::sync::atomic::Ordering;
        let request = context.request_mut();
        if operation_of(request) != "TransactWriteItems"
            || self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
        {
            return Ok(());
        }
        replace_json_body(request, r#"{"TransactItems":[]}"#.to_string());
        self.faking.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if !self.faking.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let reason = match self.refusing.load(std::sync::atomic::Ordering::SeqCst) {
            true => {
                serde_json::json!({ "Code": "ValidationError", "Message": "Item size to update has exceeded the maximum allowed size" })
            }
            false => {
                serde_json::json!({ "Code": "TransactionConflict", "Message": "Transaction is ongoing for the item" })
            }
        };
        let body = serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": [{ "Code": "None" }, reason, { "Code": "None" }]
        })
        .to_string();
        let response = context.response_mut();
        *response.status_mut() = 400u16.try_into().unwrap();
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        response
            .headers_mut()
            .insert("content-length", body.len().to_string());
        *response.body_mut() = aws_smithy_types::body::SdkBody::from(body);
        Ok(())
    }
}

/// A stack whose DynamoDB client meets [`Conflicts`].
async fn conflicting_stack() -> (&'static shared::App, Conflicts) {
    let conflicts = Conflicts::default();
    (intercepted(stack().await, conflicts.clone()), conflicts)
}

/// A send that meets a conflict is retried and stored once.
#[tokio::test]
async fn a_send_that_meets_a_transaction_conflict_is_retried() {
    let (app, conflicts) = conflicting_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    conflicts.next(1);
    let sent = client(app, "alice")
        .post_message(&cid, &unique("m"), "hello")
        .await;
    assert_eq!(sent.status, 201, "{:?}", sent.json);
    assert_eq!(conflicts.left(), 0, "the conflict was met");
    assert_eq!(
        history(app, "alice", &cid).await.len(),
        2,
        "created + one text"
    );
}

/// Creating a group updates each member's profile in its transaction, so two groups created at
/// once with a member in common conflict on that profile, in DynamoDB: a cancellation to
/// retry, not a `500 internal`.
#[tokio::test]
async fn a_group_creation_that_meets_a_transaction_conflict_is_retried() {
    let (app, conflicts) = conflicting_stack().await;
    conflicts.next(2);
    let created = client(app, "alice")
        .create_conversation("Team", &["bob"])
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    assert_eq!(conflicts.left(), 0, "both conflicts were met");
}

/// An invite's transaction checks its maker's member item, which their own sends also write: a
/// conflict there is retried, not answered "not a member of this group" (404).
#[tokio::test]
async fn an_invite_that_meets_a_transaction_conflict_is_retried() {
    let (app, conflicts) = conflicting_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    conflicts.next(1);
    let made = client(app, "alice")
        .create_invite(&cid, serde_json::json!({}))
        .await;
    assert_eq!(made.status, 201, "{:?}", made.json);
    assert_eq!(conflicts.left(), 0);
}

/// The backfill's transaction for a file conflicts with any other on that file's record or
/// index entries: it is retried, not counted as "no longer available" and left out of the
/// index for good.
#[tokio::test]
async fn a_backfill_that_meets_a_transaction_conflict_indexes_the_file() {
    let (app, conflicts) = conflicting_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let file = available_file(&cid, "conflicted-report.pdf", app.config.clock.now_ms());
    app.store.put_file_record(&file).await.unwrap();
    conflicts.next(1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    shared::api::files_backfill::backfill_search(app, None, deadline, 100)
        .await
        .unwrap();
    assert_eq!(conflicts.left(), 0);
    let query = Query::new().and("q", "conflicted");
    let found = client(app, "alice").files(&cid, query).await.ok();
    let ids: Vec<_> = found.files.iter().map(|f| &f.file_id).collect();
    assert_eq!(ids, vec![&file.file_id]);
}

/// Conflicts that do not pass are a 503 to retry, with nothing written: never a refusal that
/// is not one (404, 409) nor a server fault.
#[tokio::test]
async fn conflicts_that_persist_are_answered_unavailable() {
    let (app, conflicts) = conflicting_stack().await;
    conflicts.next(usize::MAX);
    let created = client(app, "alice")
        .create_conversation("Team", &["bob"])
        .await;
    assert_eq!(created.error(), (503, ErrorCode::Unavailable));
    conflicts.next(0);
    let groups = client(app, "bob").conversations(Query::new()).await.ok();
    assert!(groups.conversations.is_empty(), "{groups:?}");
}

/// A transaction DynamoDB refuses for no condition (a part that would make an item outgrow
/// 400 KB) is answered at once as a server fault, not sent again and again for seconds as if it
/// had lost the race for its seq.
#[tokio::test]
async fn a_send_refused_for_no_condition_is_not_retried() {
    let (app, conflicts) = conflicting_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    conflicts.refuse(usize::MAX);
    let sent = client(app, "alice")
        .post_message(&cid, &unique("m"), "hello")
        .await;
    assert_eq!(sent.error(), (500, ErrorCode::Internal));
    assert_eq!(usize::MAX - conflicts.left(), 1, "one transaction sent");
}

/// Every body is a JSON object (docs/openapi.yaml: `type: object`, no other properties), but
/// serde's derived structs also take their fields by position from an array: `[5]` moved a read
/// marker and `["id","text"]` posted a message. A body in a form the API does not document is
/// refused, not guessed at.
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    send_text(app, &cid, "bob", "hello").await;
    let alice = client(app, "alice");
    let mark = alice
        .send(
            "PUT",
            &format!("/conversations/{cid}/read"),
            Some(serde_json::json!([2])),
        )
        .await;
    assert_eq!(mark.error(), (400, ErrorCode::InvalidBody));
    let post = alice
        .send(
            "POST",
            &format!("/conversations/{cid}/messages"),
            Some(serde_json::json!(["arr-1", "sent as an array"])),
        )
        .await;
    assert_eq!(post.error(), (400, ErrorCode::InvalidBody));
    assert_eq!(
        history(app, "alice", &cid).await.len(),
        2,
        "nothing appended"
    );
}
