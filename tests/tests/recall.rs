//! Recall and delete: a sender takes a message back within the window, owners and admins delete
//! any message; history keeps a tombstone at the same `seq`, and a deleted file message takes
//! its file and every stored version of its bytes with it.

use groupshare_tests::*;
use shared::domain::model::{FileStatus, MessageView, Role, StoredFileStatus};
use shared::{App, ErrorCode};

/// The whole history, oldest first, read back in pages of `limit`.
async fn history(api: &Client<'_>, cid: &str, limit: u32) -> Vec<MessageView> {
    let mut pages = Vec::new();
    let mut query = Query::limit(limit);
    loop {
        let page = api.messages(cid, query).await.ok();
        pages.push(page.messages);
        match page.older {
            Some(older) => query = Query::limit(limit).and("before", older),
            None => break,
        }
    }
    pages.into_iter().rev().flatten().collect()
}

async fn message_at(api: &Client<'_>, cid: &str, seq: u64) -> MessageView {
    history(api, cid, 1000)
        .await
        .into_iter()
        .find(|m| m.seq == seq)
        .unwrap_or_else(|| panic!("no message {seq}"))
}

fn assert_tombstone(m: &MessageView, seq: u64, sender: &str, deleted_by: &str) {
    assert_eq!(
        (m.seq, m.kind.as_str(), m.sender.as_str()),
        (seq, "deleted", sender)
    );
    let deleted = m.deleted.as_ref().expect("a tombstone says who deleted it");
    assert_eq!(deleted.by, deleted_by);
    assert!(deleted.at.ends_with('Z'));
    assert_eq!(
        (&m.text, &m.file, &m.system),
        (&None, &None, &None),
        "no content"
    );
}

#[tokio::test]
async fn a_sender_recalls_a_text_within_the_window() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let (alice, bob) = (client(app, "alice"), client(app, "bob"));
    let client_msg_id = unique("m");
    let text = "wrong group, sorry";
    let sent = alice
        .post_message(&cid, &client_msg_id, text)
        .await
        .created();

    let r = alice.delete_message(&cid, sent.seq).await;
    // Raw: the wire carries no content keys at all (a typed read cannot tell absent from null).
    for gone in ["text", "file", "system"] {
        assert!(r.json["message"].get(gone).is_none(), "{gone}: {}", r.json);
    }
    let deleted = r.ok();
    assert_tombstone(&deleted.message, sent.seq, "alice", "alice");
    assert_eq!(deleted.message.message_id, sent.message_id);
    // The recall is announced at the end of history, naming the seq, so a device that reads on
    // with `?after=` (offline, or after a missed push frame) learns of it too.
    let event = deleted.system_message.expect("a recall is announced");
    assert_eq!(event.seq, sent.seq + 1);
    assert_eq!(event.sender, "alice");
    let system = event.system.clone().unwrap();
    assert_eq!(
        (system.event.as_str(), system.user_id.as_str(), system.seq),
        ("message_recalled", "alice", Some(sent.seq))
    );

    // Every device sees the tombstone at the same seq, then the announcement.
    let seen = history(&bob, &cid, 1000).await;
    assert_eq!(seen[seen.len() - 2], deleted.message);
    assert_eq!(seen.last(), Some(&event));

    // Deleting again is answered with the same tombstone.
    let again = alice.delete_message(&cid, sent.seq).await.ok();
    assert_eq!(again.message, deleted.message);

    // A retry of the original send gets what is left of it, not a second message.
    let retry = alice.post_message(&cid, &client_msg_id, text).await;
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.created(), deleted.message);
    assert_eq!(history(&bob, &cid, 1000).await.len(), seen.len());
}

#[tokio::test]
async fn after_the_window_only_an_owner_or_admin_deletes_and_history_says_so() {
    let app = stack_with(Options {
        recall_window_secs: 1,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "owner", &["alice", "bob"]).await;
    let (owner, alice, bob) = (
        client(app, "owner"),
        client(app, "alice"),
        client(app, "bob"),
    );
    let seq = send_text(app, &cid, "alice", "an old message").await;
    // Past the 1 s window by the app's clock, moved rather than slept on.
    app.config.clock.shift(1_300);

    let late = alice.delete_message(&cid, seq).await;
    assert_eq!(late.error(), (403, ErrorCode::RecallWindowPassed));
    let other = bob.delete_message(&cid, seq).await;
    assert_eq!(other.error(), (403, ErrorCode::Forbidden));
    assert_eq!(message_at(&bob, &cid, seq).await.kind, "text");

    let deleted = owner.delete_message(&cid, seq).await.ok();
    assert_tombstone(&deleted.message, seq, "alice", "owner");
    let event = deleted
        .system_message
        .expect("an owner's deletion is recorded");
    assert_eq!(
        (event.kind.as_str(), event.sender.as_str()),
        ("system", "owner")
    );
    let system = event.system.clone().unwrap();
    assert_eq!(
        (system.event.as_str(), system.user_id.as_str(), system.seq),
        ("message_deleted", "alice", Some(seq))
    );
    let seen = history(&alice, &cid, 1000).await;
    assert_eq!(seen.last(), Some(&event));
    assert_eq!(seen[seen.len() - 2], deleted.message);

    // An admin's power is the same; a demoted admin's is gone.
    owner.change_role(&cid, "bob", Role::Admin).await.ok();
    let seq2 = send_text(app, &cid, "alice", "another").await;
    let by_admin = bob.delete_message(&cid, seq2).await.ok();
    assert_tombstone(&by_admin.message, seq2, "alice", "bob");
    owner.change_role(&cid, "bob", Role::Member).await.ok();
    let seq3 = send_text(app, &cid, "alice", "third").await;
    let r = bob.delete_message(&cid, seq3).await;
    assert_eq!(r.error(), (403, ErrorCode::Forbidden));
}

#[tokio::test]
async fn recall_off_leaves_deletion_to_owners_and_admins() {
    let app = stack_with(Options {
        recall_window_secs: 0,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "owner", &["alice"]).await;
    let alice = client(app, "alice");
    let seq = send_text(app, &cid, "alice", "hi").await;
    let r = alice.delete_message(&cid, seq).await;
    assert_eq!(r.error(), (403, ErrorCode::RecallWindowPassed));
    assert_eq!(alice.config().await.ok().recall_window_seconds, 0);
}

#[tokio::test]
async fn non_members_get_the_same_404_as_for_a_missing_message() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let (alice, bob, eve) = (client(app, "alice"), client(app, "bob"), client(app, "eve"));
    let seq = send_text(app, &cid, "alice", "members only").await;

    let outsider = eve.delete_message(&cid, seq).await;
    assert_eq!(outsider.error(), (404, ErrorCode::NotFound));
    for r in [
        eve.delete_message(&cid, 999).await,
        alice.delete_message(&cid, 999).await,
        alice.delete_message("no-such-group", 1).await,
    ] {
        assert_eq!((r.status, &r.json), (404, &outsider.json));
    }

    // A removed member is an outsider too, even for a message inside the window.
    let bob_seq = send_text(app, &cid, "bob", "mine").await;
    assert_eq!(alice.remove_member(&cid, "bob").await.status, 204);
    let r = bob.delete_message(&cid, bob_seq).await;
    assert_eq!((r.status, &r.json), (404, &outsider.json));
    assert_eq!(message_at(&alice, &cid, bob_seq).await.kind, "text");
}

#[tokio::test]
async fn system_messages_and_bad_seqs_are_refused() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let alice = client(app, "alice");
    let r = alice.delete_message(&cid, 1).await;
    assert_eq!(r.error(), (403, ErrorCode::NotDeletable));
    // Raw: seqs no typed call would send.
    for bad in ["0", "x", "-1", "1.5", "99999999999999999999999"] {
        let path = format!("/conversations/{cid}/messages/{bad}");
        let r = alice.send("DELETE", &path, None).await;
        assert_eq!(r.error(), (400, ErrorCode::InvalidSeq), "{bad}");
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

async fn file_record(app: &App, file_id: &str) -> shared::domain::model::FileRecord {
    app.store.get_file(file_id).await.unwrap().unwrap()
}

#[tokio::test]
async fn deleting_a_file_message_deletes_the_file_and_its_bytes() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let (alice, bob) = (client(app, "alice"), client(app, "bob"));
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
    // A URL bob's device got before the deletion, and kept.
    let kept_url = bob
        .download(&cid, &file_id, Query::new())
        .await
        .location()
        .to_string();
    let before = http_client().get(&kept_url).send().await.unwrap();
    assert_eq!(before.bytes().await.unwrap().as_ref(), &bytes[..]);
    assert_eq!(stored_versions(app, &record.s3_key).await, 1);

    let deleted = alice.delete_message(&cid, seq).await.ok();
    assert_tombstone(&deleted.message, seq, "alice", "alice");
    let announced = deleted.system_message.as_ref().unwrap().seq;

    // File info, batch info, the file list and downloads all agree it is gone.
    let info = bob.file_info(&cid, &file_id).await.ok();
    assert_eq!(info.status, FileStatus::Deleted);
    assert_eq!(info.deleted_at, deleted.message.deleted.map(|d| d.at));
    // Nothing of what it was is left to read: no name, size, type, hash.
    assert_eq!(
        (info.name.as_str(), info.size, info.content_type.as_str()),
        ("", 0, "")
    );
    assert_eq!((&info.sha256, &info.integrity), (&None, &None));
    let batch = bob.files_batch(&cid, &[&file_id]).await;
    assert!(
        !batch.json.to_string().contains("contract"),
        "{}",
        batch.json
    );
    let batch = batch.ok();
    assert_eq!(batch.files[0].status, FileStatus::Deleted);
    let stored = file_record(app, &file_id).await;
    assert_eq!(
        (stored.name.as_str(), stored.sha256.as_deref()),
        ("", None),
        "scrubbed once purged"
    );
    assert!(bob.files(&cid, Query::new()).await.ok().files.is_empty());
    let download = bob.download(&cid, &file_id, Query::new()).await;
    assert_eq!(download.error(), (410, ErrorCode::FileGone));

    // The bytes are gone from S3 now, every version: the URL handed out before is dead.
    assert_eq!(stored_versions(app, &record.s3_key).await, 0);
    let after = http_client().get(&kept_url).send().await.unwrap();
    assert!(
        after.status().is_client_error(),
        "old URL still serves: {}",
        after.status()
    );

    // A late completion retry, or a redelivered S3 event, cannot bring it back.
    let retry = alice.complete_upload(&cid, &file_id).await;
    assert_eq!(retry.error(), (410, ErrorCode::FileGone));
    let event = s3_event(
        app.config.bucket.as_deref().unwrap(),
        &record.s3_key,
        record.s3_version.as_deref(),
    );
    upload_completed::handle(app, event).await.unwrap();
    assert_eq!(
        file_record(app, &file_id).await.status,
        StoredFileStatus::Deleted
    );
    let seen = history(&bob, &cid, 1000).await;
    assert_eq!(
        seen.last().unwrap().seq,
        announced,
        "nothing appended after the recall's announcement"
    );
}

/// A client that lost the answer retries its upload with the same `client_msg_id`: once the
/// file is recalled or the upload aborted (and its record scrubbed), the retry is told the file
/// is gone, not that the id was used for something else.
#[tokio::test]
async fn retrying_a_recalled_or_aborted_upload_answers_file_gone() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let alice = client(app, "alice");
    let bytes = b"sent by mistake".to_vec();
    let sha256 = sha256_hex(&bytes);
    let body = |id: &str| upload_body(id, "oops.txt", bytes.len(), "text/plain", Some(&sha256));

    let recalled = unique("u");
    let ticket = alice.create_upload(&cid, body(&recalled)).await.created();
    assert!(post_form(&ticket.upload, bytes.clone())
        .await
        .status()
        .is_success());
    let sent = alice.complete_upload(&cid, &ticket.file_id).await.created();
    assert_eq!(alice.delete_message(&cid, sent.seq).await.status, 200);
    let scrubbed = file_record(app, &ticket.file_id).await;
    assert_eq!(scrubbed.name, "", "the deletion purged the record");
    let retry = alice.create_upload(&cid, body(&recalled)).await;
    assert_eq!(retry.error(), (410, ErrorCode::FileGone), "recalled");

    let aborted = unique("u");
    let ticket = alice.create_upload(&cid, body(&aborted)).await.created();
    assert_eq!(alice.abort_upload(&cid, &ticket.file_id).await.status, 204);
    let retry = alice.create_upload(&cid, body(&aborted)).await;
    assert_eq!(retry.error(), (410, ErrorCode::FileGone), "aborted");
}

#[tokio::test]
async fn bytes_the_deletion_could_not_remove_are_removed_by_the_sweep() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let file_id = upload(app, &cid, "alice", "a.txt", "text/plain", b"abc").await;
    let record = file_record(app, &file_id).await;
    // S3 fails while the message is deleted: same tables, a bucket that is not there.
    let broken: &App = Box::leak(Box::new(App {
        blobs: app.blobs.for_bucket("groupshare-no-such-bucket"),
        ..app.clone()
    }));
    let r = client(broken, "alice")
        .delete_message(&cid, record.message_seq.unwrap())
        .await;
    assert_eq!(
        r.status, 200,
        "the deletion itself is committed: {}",
        r.json
    );
    assert_eq!(
        file_record(app, &file_id).await.status,
        StoredFileStatus::Deleted
    );
    assert_eq!(stored_versions(app, &record.s3_key).await, 1);

    // Each pass gets its own minute, so a slow one cannot leave the next nothing to try.
    let purge = || {
        let stop = std::time::Instant::now() + std::time::Duration::from_secs(60);
        shared::api::files::purge_deleted(app, 100, stop)
    };
    // Within the grace period, young deletions are left to the call that is deleting them.
    assert_eq!(purge().await.cleaned, 0);
    assert_eq!(stored_versions(app, &record.s3_key).await, 1);
    app.config
        .clock
        .shift(shared::api::files::PURGE_GRACE_MS + 1);
    assert_eq!(purge().await.cleaned, 1);
    assert_eq!(stored_versions(app, &record.s3_key).await, 0);
    // Purged files leave the index: the next pass has nothing to do.
    assert_eq!(purge().await.cleaned, 0);
}

#[tokio::test]
async fn tombstones_keep_paging_gap_free() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let bob = client(app, "bob");
    let mut sent = Vec::new();
    for i in 0..12 {
        let who = if i % 2 == 0 { "alice" } else { "bob" };
        sent.push((send_text(app, &cid, who, &format!("m{i}")).await, who));
    }
    let deleted: Vec<u64> = sent.iter().step_by(3).map(|(seq, _)| *seq).collect();
    let mut last = sent.last().unwrap().0;
    for (seq, who) in sent.iter().step_by(3) {
        let done = client(app, who).delete_message(&cid, *seq).await.ok();
        // Each recall is announced at the end of history.
        last = done.system_message.unwrap().seq;
    }
    assert_eq!(last, sent.last().unwrap().0 + deleted.len() as u64);
    for limit in [1, 3, 5, 1000] {
        let seqs: Vec<u64> = history(&bob, &cid, limit)
            .await
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "limit {limit}");
    }
    // Polling forward from the start sees the tombstones too, at their seqs.
    let page = bob
        .messages(&cid, Query::limit(1000).and("after", cursor_after(&cid, 0)))
        .await
        .ok();
    let tombstones: Vec<u64> = page
        .messages
        .iter()
        .filter(|m| m.kind == "deleted")
        .map(|m| m.seq)
        .collect();
    assert_eq!(tombstones, deleted);
}

/// The `after` cursor of a device that has seen up to `seq`.
fn cursor_after(cid: &str, seq: u64) -> String {
    shared::domain::cursor::encode(cid, &shared::domain::cursor::After(seq))
}

/// The sender's recall, an owner's deletion, a member's download and a completion retry, all
/// at once: one deletion wins, the loser is answered with the winner's tombstone, at most one
/// system message is written, and a URL handed out in the race stops working.
#[tokio::test]
async fn concurrent_recall_delete_and_download_leave_no_half_state() {
    let app = stack().await;
    let cid = create_group(app, "owner", &["alice", "bob"]).await;
    let (owner, alice, bob) = (
        client(app, "owner"),
        client(app, "alice"),
        client(app, "bob"),
    );
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
        let (by_sender, by_owner, fetched, completed) = tokio::join!(
            alice.delete_message(&cid, seq),
            owner.delete_message(&cid, seq),
            bob.download(&cid, &file_id, Query::new()),
            alice.complete_upload(&cid, &file_id),
        );
        // A completion retry in the race answers the first announcement or `file_gone`.
        match completed.status {
            200 => assert_eq!(completed.ok().seq, seq),
            _ => assert_eq!(completed.error(), (410, ErrorCode::FileGone)),
        }
        let (by_sender, by_owner) = (by_sender.ok(), by_owner.ok());
        assert_eq!(
            by_sender.message, by_owner.message,
            "both see the one tombstone"
        );
        let winner = by_sender.message.deleted.as_ref().unwrap().by.clone();
        let events: Vec<String> = history(&bob, &cid, 1000)
            .await
            .into_iter()
            .filter_map(|m| m.system.filter(|s| s.seq == Some(seq)))
            .map(|s| s.event.as_str().to_string())
            .collect();
        // Exactly one announcement: the winner's.
        let expected = if winner == "owner" {
            "message_deleted"
        } else {
            "message_recalled"
        };
        assert_eq!(events, vec![expected.to_string()]);
        match fetched.status {
            302 => {
                let got = http_client().get(fetched.location()).send().await.unwrap();
                assert!(got.status().is_client_error(), "served after delete");
            }
            _ => assert_eq!(fetched.error(), (410, ErrorCode::FileGone)),
        }
        assert_eq!(
            file_record(app, &file_id).await.status,
            StoredFileStatus::Deleted
        );
        assert_eq!(stored_versions(app, &record.s3_key).await, 0);
    }
}

/// Forced: the sender's recall has read the message (still text), then an owner's deletion of it
/// commits just before the recall's transaction is sent. The tombstone's own condition (still
/// text or a file, the same message) must stop a second deletion: one tombstone, one event.
#[tokio::test]
async fn a_deletion_committed_just_before_a_recall_is_sent_leaves_one_deletion() {
    let (app, hook) = raced_stack().await;
    let cid = create_group(app, "owner", &["alice"]).await;
    let seq = send_text(app, &cid, "alice", "take this back").await;
    let group = cid.clone();
    hook.arm(move || {
        on_another_device(app, move |other| async move {
            let deleted = client(other, "owner").delete_message(&group, seq).await;
            assert_eq!(deleted.status, 200, "{:?}", deleted.json);
        })
    });
    let recalled = client(app, "alice").delete_message(&cid, seq).await;
    assert!(hook.fired(), "the recall sent a transaction");
    assert_eq!(recalled.status, 200, "{:?}", recalled.json);
    let page = client(app, "owner").messages(&cid, Query::new()).await.ok();
    let events: Vec<&str> = page
        .messages
        .iter()
        .filter_map(|m| m.system.as_ref())
        .filter(|e| e.seq == Some(seq))
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(events, vec!["message_deleted"], "one deletion, the owner's");
    let tombstone = page.messages.iter().find(|m| m.seq == seq).unwrap();
    assert_eq!(tombstone.deleted.as_ref().unwrap().by, "owner");
}

/// Frames the fan-out posted, by connection.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<(String, String)>>);

impl shared::infra::push::fanout::Deliver for Recorder {
    async fn post(
        &self,
        connection_id: &str,
        frame: &[u8],
    ) -> shared::infra::push::fanout::Delivery {
        let frame = String::from_utf8_lossy(frame).into_owned();
        self.0
            .lock()
            .unwrap()
            .push((connection_id.to_string(), frame));
        shared::infra::push::fanout::Delivery::Sent
    }
}

fn text_image(cid: &str, message: &MessageView) -> serde_json::Value {
    let text = message.text.clone().unwrap();
    let rest = serde_json::json!({ "text": { "S": text } });
    message_image(cid, message.seq, &message.message_id, "alice", "text", rest)
}

/// Puts a connection of each of `users`, opened a minute ago.
async fn connect(app: &App, users: &[&str], now_s: i64) {
    for user in users {
        let connection = format!("{user}-phone");
        let put = app.store.put_connection(user, &connection, now_s - 60, 10);
        assert!(put.await.unwrap());
    }
}

/// What one fan-out posted: per connection, whether each of its frames holds the secret.
type Posted = std::collections::BTreeMap<String, Vec<bool>>;

const SECRET: &str = "the merger closes on friday";

/// Fans out a batch of stream `records`.
async fn fan_out(app: &App, records: Vec<serde_json::Value>, now_s: i64) -> Posted {
    let event: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    let recorder = Recorder::default();
    shared::infra::push::fanout::fan_out(&app.store, &recorder, &event, now_s).await;
    let mut posted = Posted::new();
    for (connection, frame) in recorder.0.lock().unwrap().iter() {
        let frames = posted.entry(connection.clone()).or_default();
        frames.push(frame.contains(SECRET));
    }
    posted
}

/// What a redelivered stream batch may hold for a text that was recalled since: its send's
/// image and its tombstone's, as the stream recorded them. Between the first delivery and the
/// retry, alice recalled her text, added carol (whose phone, and bob's, is connected) and
/// welcomed her.
struct RecalledThenAdded {
    app: &'static App,
    text: serde_json::Value,
    tombstone: serde_json::Value,
    carol_added: serde_json::Value,
    welcome: serde_json::Value,
    now_s: i64,
}

async fn recalled_then_carol_added() -> RecalledThenAdded {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let alice = client(app, "alice");
    let sent = alice
        .post_message(&cid, &unique("m"), SECRET)
        .await
        .created();
    let recalled = alice.delete_message(&cid, sent.seq).await.ok();
    assert_eq!(recalled.message.kind, "deleted");
    alice.add_member(&cid, "carol", None).await.created();
    let welcome = alice
        .post_message(&cid, &unique("m"), "welcome, carol")
        .await
        .created();
    let now_s = shared::domain::time::now_ms() / 1000;
    connect(app, &["bob", "carol"], now_s).await;
    let deleted = serde_json::json!({
        "deleted_by": { "S": "alice" },
        "deleted_at": { "N": "1795808470000" },
    });
    let carol = app.store.get_member(&cid, "carol").await.unwrap().unwrap();
    let added = serde_json::json!({
        "system_event": { "S": "member_added" },
        "system_user": { "S": "carol" },
        "system_role": { "S": "member" },
    });
    RecalledThenAdded {
        app,
        text: text_image(&cid, &sent),
        tombstone: message_image(
            &cid,
            sent.seq,
            &sent.message_id,
            "alice",
            "deleted",
            deleted,
        ),
        carol_added: message_image(
            &cid,
            carol.joined_seq,
            &unique("m"),
            "alice",
            "system",
            added,
        ),
        welcome: text_image(&cid, &welcome),
        now_s,
    }
}

impl RecalledThenAdded {
    /// Fans out these images in one batch (a tombstone as a MODIFY, the others as INSERTs).
    async fn fan_out(&self, images: &[&serde_json::Value]) -> Posted {
        let record = |(i, image): (usize, &&serde_json::Value)| {
            let name = match image["kind"]["S"] == "deleted" {
                true => "MODIFY",
                false => "INSERT",
            };
            stream_record(name, i as u64 + 1, (*image).clone())
        };
        let records = images.iter().enumerate().map(record).collect();
        fan_out(self.app, records, self.now_s).await
    }
}

/// Lambda redelivers a stream batch (it retries from the first failed record, here after a
/// failed read of another group's members, for up to `MaximumRecordAgeInSeconds` = 5 min, and
/// the records hold the images as they were written). When the retried batch holds the send
/// and the recall's tombstone, carol, who joined after the recall and whom history never shows
/// the text, must not be pushed it; nor must anyone else. Both get the tombstone, which holds
/// nothing.
#[tokio::test]
async fn a_redelivered_stream_batch_does_not_push_a_recalled_text_to_anyone() {
    let case = recalled_then_carol_added().await;
    let posted = case.fan_out(&[&case.text, &case.tombstone]).await;
    assert_eq!(posted["bob-phone"], [false]);
    assert_eq!(posted["carol-phone"], [false]);
}

/// When the tombstone fell in a later batch than the retried send, the send is pushed again
/// to the members who had it when it was sent (their own tombstone frame follows), but never
/// to carol, who joined after it; in the same batch she gets her addition and what follows.
#[tokio::test]
async fn a_redelivered_send_is_not_pushed_to_members_who_joined_after_it() {
    let case = recalled_then_carol_added().await;
    let batch = [&case.text, &case.carol_added, &case.welcome];
    let posted = case.fan_out(&batch).await;
    assert_eq!(
        posted["bob-phone"],
        [true, false, false],
        "a member before it"
    );
    assert_eq!(
        posted["carol-phone"],
        [false, false],
        "from her addition on"
    );
}

/// A tombstone reaches everyone, newcomers too: it holds nothing, and history may show them
/// the entry it erases (a text sent before they joined and deleted after).
#[tokio::test]
async fn a_tombstone_reaches_members_who_joined_after_its_entry() {
    let case = recalled_then_carol_added().await;
    let posted = case.fan_out(&[&case.tombstone]).await;
    assert_eq!(posted["bob-phone"], [false]);
    assert_eq!(posted["carol-phone"], [false]);
}

/// Members stored before items kept their joining seq get every entry, as before it was kept.
#[tokio::test]
async fn members_from_before_joining_seqs_were_kept_get_every_entry() {
    let app = stack().await;
    let now = shared::domain::time::now_ms();
    let cid = legacy_group(app, now, &[("alice", Role::Owner), ("bob", Role::Member)]).await;
    let bob = app.store.get_member(&cid, "bob").await.unwrap().unwrap();
    assert_eq!(bob.joined_seq, 0, "stored as an older release did");
    let sent = client(app, "alice")
        .post_message(&cid, &unique("m"), SECRET)
        .await
        .created();
    connect(app, &["bob"], now / 1000).await;
    let records = vec![stream_record("INSERT", 1, text_image(&cid, &sent))];
    let posted = fan_out(app, records, now / 1000).await;
    assert_eq!(posted["bob-phone"], [true]);
}
