//! Recall and delete: a sender takes a message back within the window, owners and admins delete
//! any message; history keeps a tombstone at the same `seq`, and a deleted file message takes
//! its file and every stored version of its bytes with it.

use groupshare_tests::*;
use serde_json::{json, Value};
use shared::App;

fn message_url(cid: &str, seq: u64) -> String {
    format!("/conversations/{cid}/messages/{seq}")
}

/// The whole history, oldest first, read back in pages of `limit`.
async fn history(app: &App, user: &str, cid: &str, limit: u32) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut path = format!("/conversations/{cid}/messages?limit={limit}");
    loop {
        let r = get(app, user, &path).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        pages.push(r.json["messages"].as_array().unwrap().clone());
        match r.json["older"].as_str() {
            Some(older) => {
                path = format!("/conversations/{cid}/messages?limit={limit}&before={older}")
            }
            None => break,
        }
    }
    pages.into_iter().rev().flatten().collect()
}

async fn message_at(app: &App, user: &str, cid: &str, seq: u64) -> Value {
    history(app, user, cid, 1000)
        .await
        .into_iter()
        .find(|m| m["seq"] == seq)
        .unwrap_or_else(|| panic!("no message {seq}"))
}

fn assert_tombstone(m: &Value, seq: u64, sender: &str, deleted_by: &str) {
    assert_eq!(m["seq"], seq);
    assert_eq!(m["kind"], "deleted");
    assert_eq!(m["sender"], sender);
    assert_eq!(m["deleted"]["by"], deleted_by);
    assert!(m["deleted"]["at"].as_str().unwrap().ends_with('Z'));
    for gone in ["text", "file", "system"] {
        assert!(m.get(gone).is_none(), "a tombstone carries no {gone}: {m}");
    }
}

#[tokio::test]
async fn a_sender_recalls_a_text_within_the_window() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let client_msg_id = unique("m");
    let sent = post(
        app,
        "alice",
        &format!("/conversations/{cid}/messages"),
        json!({"client_msg_id": client_msg_id, "text": "wrong group, sorry"}),
    )
    .await;
    assert_eq!(sent.status, 201);
    let seq = sent.json["seq"].as_u64().unwrap();

    let r = delete(app, "alice", message_url(&cid, seq)).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_tombstone(&r.json["message"], seq, "alice", "alice");
    assert!(
        r.json.get("system_message").is_none(),
        "a recall is not announced"
    );
    assert_eq!(r.json["message"]["message_id"], sent.json["message_id"]);

    // Every device sees the tombstone at the same seq, and nothing was appended.
    let seen = history(app, "bob", &cid, 1000).await;
    assert_eq!(seen.last().unwrap()["seq"], seq);
    assert_tombstone(seen.last().unwrap(), seq, "alice", "alice");

    // Deleting again is answered with the same tombstone.
    let again = delete(app, "alice", message_url(&cid, seq)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["message"], r.json["message"]);

    // A retry of the original send gets what is left of it, not a second message.
    let retry = post(
        app,
        "alice",
        &format!("/conversations/{cid}/messages"),
        json!({"client_msg_id": client_msg_id, "text": "wrong group, sorry"}),
    )
    .await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_tombstone(&retry.json, seq, "alice", "alice");
    assert_eq!(history(app, "bob", &cid, 1000).await.len(), seen.len());
}

#[tokio::test]
async fn after_the_window_only_an_owner_or_admin_deletes_and_history_says_so() {
    let app = stack_with(Options {
        recall_window_secs: 1,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "owner", &["alice", "bob"]).await;
    let seq = send_text(app, &cid, "alice", "an old message").await;
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;

    let late = delete(app, "alice", message_url(&cid, seq)).await;
    assert_eq!(late.status, 403);
    assert_eq!(late.error_code(), "recall_window_passed");
    let other = delete(app, "bob", message_url(&cid, seq)).await;
    assert_eq!(other.status, 403);
    assert_eq!(other.error_code(), "forbidden");
    assert_eq!(message_at(app, "bob", &cid, seq).await["kind"], "text");

    let r = delete(app, "owner", message_url(&cid, seq)).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_tombstone(&r.json["message"], seq, "alice", "owner");
    let event = &r.json["system_message"];
    assert_eq!(event["kind"], "system");
    assert_eq!(event["sender"], "owner");
    assert_eq!(
        event["system"],
        json!({"event": "message_deleted", "user_id": "alice", "seq": seq})
    );
    let seen = history(app, "alice", &cid, 1000).await;
    assert_eq!(seen.last().unwrap(), event);
    assert_tombstone(&seen[seen.len() - 2], seq, "alice", "owner");

    // An admin's power is the same; a demoted admin's is gone.
    let admin = patch(
        app,
        "owner",
        format!("/conversations/{cid}/members/bob"),
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(admin.status, 200);
    let seq2 = send_text(app, &cid, "alice", "another").await;
    let by_admin = delete(app, "bob", message_url(&cid, seq2)).await;
    assert_eq!(by_admin.status, 200, "{:?}", by_admin.json);
    assert_tombstone(&by_admin.json["message"], seq2, "alice", "bob");
    let demoted = patch(
        app,
        "owner",
        format!("/conversations/{cid}/members/bob"),
        json!({"role": "member"}),
    )
    .await;
    assert_eq!(demoted.status, 200);
    let seq3 = send_text(app, &cid, "alice", "third").await;
    let r = delete(app, "bob", message_url(&cid, seq3)).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn recall_off_leaves_deletion_to_owners_and_admins() {
    let app = stack_with(Options {
        recall_window_secs: 0,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "owner", &["alice"]).await;
    let seq = send_text(app, &cid, "alice", "hi").await;
    let r = delete(app, "alice", message_url(&cid, seq)).await;
    assert_eq!(r.error_code(), "recall_window_passed");
    let config = get(app, "alice", "/config").await;
    assert_eq!(config.json["recall_window_seconds"], 0);
}

#[tokio::test]
async fn non_members_get_the_same_404_as_for_a_missing_message() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let seq = send_text(app, &cid, "alice", "members only").await;

    let outsider = delete(app, "eve", message_url(&cid, seq)).await;
    let outsider_missing = delete(app, "eve", message_url(&cid, 999)).await;
    let member_missing = delete(app, "alice", message_url(&cid, 999)).await;
    let no_group = delete(app, "alice", message_url("no-such-group", 1)).await;
    for r in [&outsider, &outsider_missing, &member_missing, &no_group] {
        assert_eq!(r.status, 404);
        assert_eq!(r.json, outsider.json);
    }
    assert_eq!(outsider.error_code(), "not_found");

    // A removed member is an outsider too, even for their own message inside the window.
    let removed = delete(
        app,
        "alice",
        "/conversations/".to_string() + &cid + "/members/bob",
    )
    .await;
    assert_eq!(removed.status, 204);
    let bob_seq = send_text(app, &cid, "alice", "after bob left").await;
    assert!(bob_seq > seq);
    let r = delete(app, "bob", message_url(&cid, seq)).await;
    assert_eq!((r.status, &r.json), (404, &outsider.json));
    assert_eq!(message_at(app, "alice", &cid, seq).await["kind"], "text");
}

#[tokio::test]
async fn system_messages_and_bad_seqs_are_refused() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let r = delete(app, "alice", message_url(&cid, 1)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "not_deletable");
    for bad in ["0", "x", "-1", "1.5", "99999999999999999999999"] {
        let r = delete(app, "alice", format!("/conversations/{cid}/messages/{bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.error_code(), "invalid_seq");
    }
}

/// Every version of `key` still stored in the test bucket.
async fn stored_versions(app: &App, key: &str) -> usize {
    let out = app
        .blobs
        .client()
        .list_object_versions()
        .bucket(app.config.bucket.as_deref().unwrap())
        .prefix(key)
        .send()
        .await
        .unwrap();
    out.versions().len() + out.delete_markers().len()
}

async fn file_record(app: &App, file_id: &str) -> shared::model::FileRecord {
    app.store.get_file(file_id).await.unwrap().unwrap()
}

/// A presigned download URL (JSON mode), as a device would have kept it.
async fn download_url(app: &App, user: &str, cid: &str, file_id: &str) -> String {
    let mut req = request(
        "GET",
        &format!("/conversations/{cid}/files/{file_id}/download"),
        Some(user),
        None,
    );
    req.headers_mut()
        .insert("accept", "application/json".parse().unwrap());
    let r = call(app, req).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    r.json["url"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn deleting_a_file_message_deletes_the_file_and_its_bytes() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let bytes = b"the wrong contract".to_vec();
    let file_id = upload(
        app,
        &cid,
        "alice",
        "contract.pdf",
        "application/pdf",
        &bytes,
    )
    .await;
    let record = file_record(app, &file_id).await;
    let seq = record.message_seq.unwrap();
    let kept_url = download_url(app, "bob", &cid, &file_id).await;
    let before = http_client().get(&kept_url).send().await.unwrap();
    assert_eq!(before.bytes().await.unwrap().as_ref(), &bytes[..]);
    assert_eq!(stored_versions(app, &record.s3_key).await, 1);

    let r = delete(app, "alice", message_url(&cid, seq)).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_tombstone(&r.json["message"], seq, "alice", "alice");

    // File info, batch info, the file list and downloads all agree it is gone.
    let info = get(app, "bob", &format!("/conversations/{cid}/files/{file_id}")).await;
    assert_eq!(info.json["status"], "deleted");
    assert_eq!(info.json["deleted_at"], r.json["message"]["deleted"]["at"]);
    let batch = get(
        app,
        "bob",
        &format!("/conversations/{cid}/files?ids={file_id}"),
    )
    .await;
    assert_eq!(batch.json["files"][0]["status"], "deleted");
    let list = get(app, "bob", &format!("/conversations/{cid}/files")).await;
    assert_eq!(list.json["files"], json!([]));
    let download = get(
        app,
        "bob",
        &format!("/conversations/{cid}/files/{file_id}/download"),
    )
    .await;
    assert_eq!(download.status, 410);
    assert_eq!(download.error_code(), "file_gone");

    // The bytes are gone from S3 now, every version: the URL handed out before is dead.
    assert_eq!(stored_versions(app, &record.s3_key).await, 0);
    let after = http_client().get(&kept_url).send().await.unwrap();
    assert!(
        after.status().is_client_error(),
        "old URL still serves: {}",
        after.status()
    );

    // A late completion retry, or a redelivered S3 event, cannot bring it back.
    let retry = post(
        app,
        "alice",
        &format!("/conversations/{cid}/files/{file_id}/complete"),
        Value::Null,
    )
    .await;
    assert_eq!(retry.status, 410);
    let event = s3_event(
        app.config.bucket.as_deref().unwrap(),
        &record.s3_key,
        record.s3_version.as_deref(),
    );
    upload_completed::handle(app, event).await.unwrap();
    assert_eq!(
        file_record(app, &file_id).await.status,
        shared::model::StoredFileStatus::Deleted
    );
    let seen = history(app, "bob", &cid, 1000).await;
    assert_eq!(seen.last().unwrap()["seq"], seq, "nothing appended");
}

#[tokio::test]
async fn bytes_the_deletion_could_not_remove_are_removed_by_the_sweep() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let file_id = upload(app, &cid, "alice", "a.txt", "text/plain", b"abc").await;
    let record = file_record(app, &file_id).await;
    // S3 fails while the message is deleted: same tables, a bucket that is not there.
    let broken = Box::leak(Box::new(App {
        blobs: app.blobs.for_bucket("groupshare-no-such-bucket"),
        ..app.clone()
    }));
    let r = delete(
        broken,
        "alice",
        message_url(&cid, record.message_seq.unwrap()),
    )
    .await;
    assert_eq!(
        r.status, 200,
        "the deletion itself is committed: {:?}",
        r.json
    );
    assert_eq!(
        file_record(app, &file_id).await.status,
        shared::model::StoredFileStatus::Deleted
    );
    assert_eq!(stored_versions(app, &record.s3_key).await, 1);

    let now = shared::time::now_ms();
    let purged = shared::api::files::purge_deleted_before(app, now + 1, 100)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(stored_versions(app, &record.s3_key).await, 0);
    // Purged files leave the index: the next pass has nothing to do.
    let again = shared::api::files::purge_deleted_before(app, now + 1, 100)
        .await
        .unwrap();
    assert_eq!(again, 0);
}

#[tokio::test]
async fn tombstones_keep_paging_gap_free() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let mut sent = Vec::new();
    for i in 0..12 {
        let who = if i % 2 == 0 { "alice" } else { "bob" };
        sent.push((send_text(app, &cid, who, &format!("m{i}")).await, who));
    }
    for (seq, who) in sent.iter().step_by(3) {
        let r = delete(app, who, message_url(&cid, *seq)).await;
        assert_eq!(r.status, 200);
    }
    let last = sent.last().unwrap().0;
    for limit in [1, 3, 5, 1000] {
        let seqs: Vec<u64> = history(app, "bob", &cid, limit)
            .await
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "limit {limit}");
    }
    // Polling forward from the start sees the tombstones too, at their seqs.
    let r = get(
        app,
        "bob",
        &format!("/conversations/{cid}/messages?limit=1000"),
    )
    .await;
    let deleted: Vec<u64> = r.json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "deleted")
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = sent.iter().step_by(3).map(|(s, _)| *s).collect();
    assert_eq!(deleted, want);
}

/// The sender's recall, an owner's deletion, a member's download and a completion retry, all
/// at once: one deletion wins, the loser is answered with the winner's tombstone, at most one
/// system message is written, and a URL handed out in the race stops working.
#[tokio::test]
async fn concurrent_recall_delete_and_download_leave_no_half_state() {
    let app = stack().await;
    let cid = create_group(app, "owner", &["alice", "bob"]).await;
    for trial in 0..4 {
        let name = format!("t{trial}.bin");
        let file_id = upload(
            app,
            &cid,
            "alice",
            &name,
            "application/octet-stream",
            b"race",
        )
        .await;
        let record = file_record(app, &file_id).await;
        let seq = record.message_seq.unwrap();
        let path = message_url(&cid, seq);
        let download_path = format!("/conversations/{cid}/files/{file_id}/download");
        let complete_path = format!("/conversations/{cid}/files/{file_id}/complete");
        let (by_sender, by_owner, fetched, completed) = tokio::join!(
            delete(app, "alice", &path),
            delete(app, "owner", &path),
            get(app, "bob", &download_path),
            post(app, "alice", &complete_path, Value::Null),
        );
        // A completion retry in the race answers the first announcement or `file_gone`.
        match completed.status {
            200 => assert_eq!(completed.json["seq"], seq),
            410 => assert_eq!(completed.error_code(), "file_gone"),
            other => panic!("complete answered {other}: {:?}", completed.json),
        }
        assert_eq!(by_sender.status, 200, "{:?}", by_sender.json);
        assert_eq!(by_owner.status, 200, "{:?}", by_owner.json);
        assert_eq!(
            by_sender.json["message"], by_owner.json["message"],
            "both see the one tombstone"
        );
        let winner = by_sender.json["message"]["deleted"]["by"]
            .as_str()
            .unwrap()
            .to_string();
        let events: Vec<Value> = history(app, "bob", &cid, 1000)
            .await
            .into_iter()
            .filter(|m| m["system"]["event"] == "message_deleted" && m["system"]["seq"] == seq)
            .collect();
        assert_eq!(events.len(), usize::from(winner == "owner"), "{events:?}");
        match fetched.status {
            302 => {
                let location = fetched.header("location").unwrap();
                let got = http_client().get(location).send().await.unwrap();
                assert!(got.status().is_client_error(), "served after delete");
            }
            410 => assert_eq!(fetched.error_code(), "file_gone"),
            other => panic!("download answered {other}: {:?}", fetched.json),
        }
        assert_eq!(
            file_record(app, &file_id).await.status,
            shared::model::StoredFileStatus::Deleted
        );
        assert_eq!(stored_versions(app, &record.s3_key).await, 0);
    }
}
