//! Forwarding a file to another group (#27 item 4): a server-side copy announced in the
//! target, only by a member of both groups (checked inside the announcing write), idempotent
//! by `client_msg_id`, byte-exact, naming its source only to the source's members, and
//! independent of the original afterwards.

use base64::Engine;
use groupshare_tests::client::parts_json;
use groupshare_tests::*;
use sha2::{Digest, Sha256};
use shared::api::uploads::{ForwardedFile, PartChecksum, UploadTicket};
use shared::domain::model::{FileInfo, FileStatus, Integrity, MessageView};

const MIB: usize = 1024 * 1024;

/// Files in groups `source` (alice owns it, with bob) and `target` (alice owns it, with
/// carol): alice is in both, bob only in the source, carol only in the target.
async fn two_groups(app: &shared::App) -> (String, String) {
    let source = create_group(app, "alice", &["bob"]).await;
    let target = create_group(app, "alice", &["carol"]).await;
    (source, target)
}

async fn file_messages(app: &shared::App, user: &str, cid: &str) -> Vec<MessageView> {
    let page = client(app, user)
        .messages(cid, Query::limit(100))
        .await
        .ok();
    page.messages
        .into_iter()
        .filter(|m| m.kind == "file")
        .collect()
}

/// Follows the download redirect to the bytes.
async fn download(app: &shared::App, user: &str, cid: &str, fid: &str) -> Vec<u8> {
    let r = client(app, user).download(cid, fid, Query::new()).await;
    let got = reqwest::get(r.location()).await.unwrap();
    assert!(got.status().is_success(), "{}", got.status());
    got.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_member_of_both_forwards_a_copy_and_a_retry_gives_the_same_message() {
    let app = stack().await;
    let (source, target) = two_groups(app).await;
    let bytes = b"minutes of the meeting".to_vec();
    let fid = upload(app, &source, "bob", "minutes.txt", "text/plain", &bytes).await;
    let alice = client(app, "alice");
    let msg = unique("f");

    let forwarded = alice.forward(&source, &fid, &target, &msg).await.created();
    assert_ne!(
        forwarded.file.file_id, fid,
        "the target gets a file of its own"
    );
    assert_eq!(forwarded.file.conversation_id, target);
    assert_eq!(forwarded.file.status, FileStatus::Available);
    assert_eq!(forwarded.file.sha256.as_deref(), Some(&*sha256_hex(&bytes)));
    assert_eq!(forwarded.message.sender, "alice");
    let summary = forwarded.message.file.clone().unwrap();
    assert_eq!(summary.file_id, forwarded.file.file_id);
    assert_eq!(
        (summary.name.as_str(), summary.size),
        ("minutes.txt", bytes.len() as u64)
    );
    assert_eq!(
        summary.forwarded.unwrap().from_conversation_id.as_deref(),
        Some(&*source)
    );
    assert_eq!(
        download(app, "carol", &target, &forwarded.file.file_id).await,
        bytes
    );

    let again = alice.forward(&source, &fid, &target, &msg).await.created();
    assert_eq!(again.message, forwarded.message);
    assert_eq!(again.file.file_id, forwarded.file.file_id);
    // The copy's own S3 event (it reaches upload-completed like an upload's) is a repeat.
    let copy = app
        .store
        .get_file(&forwarded.file.file_id)
        .await
        .unwrap()
        .unwrap();
    let bucket = app.config.bucket.clone().unwrap();
    let event = s3_event(&bucket, &copy.s3_key, copy.s3_version.as_deref());
    let outcome = upload_completed::handle(app, event).await.unwrap();
    assert_eq!(outcome, [upload_completed::RecordOutcome::AlreadyComplete]);
    assert_eq!(file_messages(app, "carol", &target).await.len(), 1);

    // The same key for another file is refused; forwarding into the same group is refused.
    let other = upload(app, &source, "bob", "b.txt", "text/plain", b"other").await;
    let reused = alice.forward(&source, &other, &target, &msg).await;
    assert_eq!(reused.error(), (409, ErrorCode::ClientMsgIdReused));
    let same = alice.forward(&source, &fid, &source, &unique("f")).await;
    assert_eq!(same.error(), (400, ErrorCode::SameConversation));
}

#[tokio::test]
async fn a_non_member_of_the_source_cannot_forward() {
    let app = stack().await;
    let (source, target) = two_groups(app).await;
    let fid = upload(
        app,
        &source,
        "bob",
        "plan.txt",
        "text/plain",
        b"secret plan",
    )
    .await;

    // carol is in the target only: the source's file is not hers to see, nor to forward.
    let r = client(app, "carol")
        .forward(&source, &fid, &target, &unique("f"))
        .await;
    assert_eq!(r.error(), (404, ErrorCode::NotFound));
    // bob is in the source only: he cannot put it into a group he is not in.
    let r = client(app, "bob")
        .forward(&source, &fid, &target, &unique("f"))
        .await;
    assert_eq!(r.error(), (404, ErrorCode::NotFound));
    assert!(file_messages(app, "alice", &target).await.is_empty());
}

/// Forced: the forwarder's removal from the source commits after the forward has read both
/// memberships and copied the bytes, just before its announcing transaction is sent. Only the
/// source-membership condition inside that transaction can refuse it.
#[tokio::test]
async fn a_member_removed_from_the_source_between_read_and_write_cannot_forward() {
    let (app, hook) = raced_stack().await;
    let source = create_group(app, "alice", &["bob"]).await;
    let target = create_group(app, "bob", &[]).await;
    let fid = upload(app, &source, "alice", "plan.txt", "text/plain", b"plan").await;
    let group = source.clone();
    hook.arm(move || {
        on_another_device(app, move |other| async move {
            let removed = client(other, "alice").remove_member(&group, "bob").await;
            assert_eq!(removed.status, 204, "{:?}", removed.json);
        })
    });
    let r = client(app, "bob")
        .forward(&source, &fid, &target, &unique("f"))
        .await;
    assert!(hook.fired(), "the forward sent a transaction");
    assert_eq!(r.error(), (404, ErrorCode::NotFound));
    // The copied bytes' S3 event cannot announce them either: that completion checks the same.
    let bucket = app.config.bucket.clone().unwrap();
    let prefix = format!("files/r{}/{target}/", app.config.retention_days);
    let listed = app
        .blobs
        .client()
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(&prefix)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 1, "the copy is there, unannounced: {keys:?}");
    let outcome = upload_completed::handle(app, s3_event(&bucket, keys[0], None))
        .await
        .unwrap();
    assert!(
        matches!(outcome[..], [upload_completed::RecordOutcome::Skipped(_)]),
        "{outcome:?}"
    );
    assert!(
        file_messages(app, "bob", &target).await.is_empty(),
        "forwarded after the removal"
    );
}

#[tokio::test]
async fn a_forwarded_200_mib_multipart_file_downloads_byte_exact() {
    const PART: usize = 16 * MIB;
    let app = stack_with(Options {
        part_size_bytes: PART as u64,
        ..Options::default()
    })
    .await;
    let (source, target) = two_groups(app).await;
    let bytes = file_bytes(200 * MIB + 12_345, 7);
    let alice = client(app, "alice");
    let file_id = upload_in_parts(app, &source, "film.mp4", &bytes, PART).await;
    let parts = part_checksums(&bytes, PART);
    let original = alice.file_info(&source, &file_id).await.ok();

    // On moto the copy takes seconds of the request's 8.5 (docs/performance.md); on a busy
    // machine it may run out (503), and the documented answer is a retry with the same
    // `client_msg_id`, which continues from the parts already copied.
    let msg = unique("f");
    let mut tries = 0;
    let forwarded = loop {
        tries += 1;
        let r = alice.forward(&source, &file_id, &target, &msg).await;
        if r.status != 503 || tries == 3 {
            break r.created();
        }
    };
    // The checksum carried over is S3's composite of the copy, the same as the source's.
    let mut outer = Sha256::new();
    for c in bytes.chunks(PART) {
        outer.update(Sha256::digest(c));
    }
    let composite = format!(
        "{}-{}",
        base64::engine::general_purpose::STANDARD.encode(outer.finalize()),
        parts.len()
    );
    let want = Integrity::MultipartSha256 {
        value: composite,
        part_size: PART as u64,
    };
    assert_eq!(original.integrity.as_ref(), Some(&want));
    assert_eq!(forwarded.file.integrity.as_ref(), Some(&want));
    let got = download(app, "carol", &target, &forwarded.file.file_id).await;
    assert_eq!(got.len(), bytes.len());
    assert!(
        got == bytes,
        "the forwarded bytes differ from the original's"
    );
}

#[tokio::test]
async fn recalling_the_original_leaves_the_forward_and_the_other_way_round() {
    let app = stack().await;
    let (source, target) = two_groups(app).await;
    let bytes = b"draft v1".to_vec();
    let alice = client(app, "alice");
    let fid = upload(app, &source, "alice", "draft.txt", "text/plain", &bytes).await;
    let forwarded = alice
        .forward(&source, &fid, &target, &unique("f"))
        .await
        .created();
    let original_seq = file_messages(app, "alice", &source).await[0].seq;

    alice.delete_message(&source, original_seq).await.ok();
    let gone = alice.download(&source, &fid, Query::new()).await;
    assert_eq!(gone.error(), (410, ErrorCode::FileGone));
    // The forward is a copy: still there, byte-exact, for the target's members.
    let copy = &forwarded.file.file_id;
    let info = client(app, "carol").file_info(&target, copy).await.ok();
    assert_eq!(info.status, FileStatus::Available);
    assert_eq!(download(app, "carol", &target, copy).await, bytes);
    // A recalled original can no longer be forwarded (as it can no longer be downloaded).
    let late = alice.forward(&source, &fid, &target, &unique("f")).await;
    assert_eq!(late.error(), (410, ErrorCode::FileGone));

    // And the other way round: recalling a forward leaves its original.
    let fid2 = upload(app, &source, "alice", "v2.txt", "text/plain", b"draft v2").await;
    let second = alice
        .forward(&source, &fid2, &target, &unique("f"))
        .await
        .created();
    alice.delete_message(&target, second.message.seq).await.ok();
    assert_eq!(download(app, "bob", &source, &fid2).await, b"draft v2");
}

#[tokio::test]
async fn the_source_group_is_named_only_to_its_current_members() {
    let app = stack().await;
    let (source, target) = two_groups(app).await;
    let fid = upload(app, &source, "bob", "a.txt", "text/plain", b"abc").await;
    let forwarded = client(app, "alice")
        .forward(&source, &fid, &target, &unique("f"))
        .await
        .created();
    let copy = forwarded.file.file_id.clone();
    // Raw JSON: carol (target only) sees that it was forwarded, not from where.
    let carol = client(app, "carol");
    let page = carol.messages(&target, Query::limit(100)).await;
    let seen = page.json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "file")
        .cloned()
        .unwrap();
    assert_eq!(seen["file"]["forwarded"], serde_json::json!({}));
    let info = carol.file_info(&target, &copy).await;
    assert_eq!(info.json["forwarded"], serde_json::json!({}));
    // alice (a member of both) sees the source named, in history and in the file's info.
    let mine = file_messages(app, "alice", &target).await;
    let named = mine[0].file.clone().unwrap().forwarded.unwrap();
    assert_eq!(named.from_conversation_id.as_deref(), Some(&*source));
    let info = client(app, "alice").file_info(&target, &copy).await.ok();
    assert_eq!(
        info.forwarded.unwrap().from_conversation_id.as_deref(),
        Some(&*source)
    );
    // Once carol joins the source, she sees it named too; the name follows membership now.
    client(app, "alice")
        .add_member(&source, "carol", None)
        .await
        .created();
    let info = carol.file_info(&target, &copy).await.ok();
    assert_eq!(
        info.forwarded.unwrap().from_conversation_id.as_deref(),
        Some(&*source)
    );
}

/// Every listing of the target's files (its list, a batch, a search, `GET /files`) names the
/// source as the file's info does: to alice, a member of both, and not to carol. Each file
/// gets its own answer (a batch of a forward and a file that is none).
#[tokio::test]
async fn listings_name_the_source_only_to_its_members() {
    let app = stack().await;
    let (source, target) = two_groups(app).await;
    let fid = upload(app, &source, "bob", "report.txt", "text/plain", b"abc").await;
    let own = upload(app, &target, "carol", "notes.txt", "text/plain", b"n").await;
    let copy = client(app, "alice")
        .forward(&source, &fid, &target, &unique("f"))
        .await
        .created()
        .file
        .file_id;
    for (user, named) in [("alice", Some(source.as_str())), ("carol", None)] {
        let api = client(app, user);
        let listings: [(&str, Vec<FileInfo>); 4] = [
            ("list", api.files(&target, Query::new()).await.ok().files),
            (
                "batch",
                api.files_batch(&target, &[&own, &copy]).await.ok().files,
            ),
            (
                "search",
                api.files(&target, Query::new().and("q", "report"))
                    .await
                    .ok()
                    .files,
            ),
            (
                "all files",
                api.all_files(Query::new())
                    .await
                    .ok()
                    .files
                    .into_iter()
                    .map(|f| f.file)
                    .collect(),
            ),
        ];
        for (what, files) in listings {
            assert!(files.iter().any(|f| f.file_id == copy), "{user}'s {what}");
            for f in files {
                let from = f.forwarded.map(|fw| fw.from_conversation_id);
                let want = (f.file_id == copy).then(|| named.map(str::to_string));
                assert_eq!(from, want, "{user}'s {what}: {}", f.name);
            }
        }
    }
}

/// Not a test: the figures in docs/performance.md ("Forwarding a file"). Run
/// `cargo test -p groupshare-tests --test forward -- --ignored --nocapture measure` (debug
/// build, on moto: the copy's time is moto's).
#[tokio::test]
#[ignore]
async fn measure_forwards() {
    const PART: usize = 16 * MIB;
    let app = stack_with(Options {
        part_size_bytes: PART as u64,
        ..Options::default()
    })
    .await;
    let (source, target) = two_groups(app).await;
    let alice = client(app, "alice");
    let small = file_bytes(MIB, 3);
    let fid = upload(
        app,
        &source,
        "alice",
        "a.bin",
        "application/octet-stream",
        &small,
    )
    .await;
    let started = std::time::Instant::now();
    alice
        .forward(&source, &fid, &target, &unique("f"))
        .await
        .created();
    println!("1 MiB (CopyObject): {:?}", started.elapsed());

    let bytes = file_bytes(200 * MIB, 5);
    let parts = part_checksums(&bytes, PART);
    let mut body = upload_body(&unique("m"), "big.bin", bytes.len(), "video/mp4", None);
    body["parts"] = parts_json(&parts);
    let ticket: UploadTicket = alice.create_upload(&source, body).await.created();
    let http = reqwest::Client::new();
    let urls = &ticket.multipart.as_ref().unwrap().parts;
    for (u, chunk) in urls.iter().zip(bytes.chunks(PART)) {
        let mut req = http.put(&u.url);
        for (k, v) in &u.headers {
            req = req.header(k, v);
        }
        assert!(req
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .is_success());
    }
    alice
        .complete_upload(&source, &ticket.file_id)
        .await
        .created();
    let started = std::time::Instant::now();
    alice
        .forward(&source, &ticket.file_id, &target, &unique("f"))
        .await
        .created();
    println!(
        "200 MiB in {} parts (UploadPartCopy, {} at a time): {:?}",
        parts.len(),
        shared::infra::blob::COPY_PARALLELISM,
        started.elapsed()
    );
}

/// Alice shares `bytes` in `cid` as a file uploaded in `part`-sized parts; its id.
async fn upload_in_parts(
    app: &shared::App,
    cid: &str,
    name: &str,
    bytes: &[u8],
    part: usize,
) -> String {
    let alice = client(app, "alice");
    let mut body = upload_body(&unique("m"), name, bytes.len(), "video/mp4", None);
    body["parts"] = parts_json(&part_checksums(bytes, part));
    let ticket: UploadTicket = alice.create_upload(cid, body).await.created();
    let urls = &ticket.multipart.as_ref().expect("in parts").parts;
    let http = reqwest::Client::new();
    for (u, chunk) in urls.iter().zip(bytes.chunks(part)) {
        let mut req = http.put(&u.url);
        for (k, v) in &u.headers {
            req = req.header(k, v);
        }
        let r = req.body(chunk.to_vec()).send().await.unwrap();
        assert!(r.status().is_success(), "part {}", u.part_number);
    }
    alice.complete_upload(cid, &ticket.file_id).await.created();
    ticket.file_id
}

/// A forward of a file in parts (three of 5 MiB) that alice shared in the source group, to
/// the target group, as its request's copy starts.
#[derive(Clone)]
struct Copying {
    source: String,
    target: String,
    file_id: String,
    client_msg_id: String,
    /// The target file's id, the one the forward's record takes.
    forward_id: String,
}

impl Copying {
    /// Alice's request for this forward (a first try or a retry: the same request).
    async fn sent(&self, app: &'static shared::App) -> Response<ForwardedFile> {
        client(app, "alice")
            .forward(
                &self.source,
                &self.file_id,
                &self.target,
                &self.client_msg_id,
            )
            .await
    }
}

/// A deployment whose files go in 5 MiB parts, and the forward `Copying` names (not sent yet).
async fn copying_forward() -> (&'static shared::App, Copying) {
    const PART: usize = 5 * MIB;
    let app = stack_with(Options {
        multipart_threshold_bytes: PART as u64,
        part_size_bytes: PART as u64,
        ..Options::default()
    })
    .await;
    let (source, target) = two_groups(app).await;
    let bytes = file_bytes(2 * PART + 7, 3);
    let file_id = upload_in_parts(app, &source, "clip.mp4", &bytes, PART).await;
    let client_msg_id = unique("f");
    let forward_id =
        shared::domain::ids::derived_id("groupshare-forward", &[&target, "alice", &client_msg_id]);
    let copying = Copying {
        source,
        target,
        file_id,
        client_msg_id,
        forward_id,
    };
    (app, copying)
}

/// Alice's forward request, with `competing` run to its end on another device just before the
/// request's first part copy; the request's answer and the deployment.
async fn forward_raced_at_its_copy<F, Fut>(
    competing: F,
) -> (&'static shared::App, Copying, Response<ForwardedFile>)
where
    F: FnOnce(&'static shared::App, Copying) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (app, copying) = copying_forward().await;
    let hook = BeforeTransaction::default();
    let hooked = s3_intercepted(app, hook.clone());
    let raced = copying.clone();
    hook.arm_before("UploadPartCopy", None, move || {
        on_another_device(app, move |other| competing(other, raced))
    });
    let r = copying.sent(hooked).await;
    assert!(
        hook.fired(),
        "the competing request ran inside the forward's copy"
    );
    (app, copying, r)
}

/// Forced: the forwarder aborts their forward (`DELETE …/uploads/{id}`, from another device)
/// while its request copies, and S3 then refuses the part copy (the upload is gone). The
/// request must answer what the abort made of it (`410 file_gone`), not a storage fault.
#[tokio::test]
async fn a_forward_aborted_while_it_copies_answers_file_gone() {
    let (app, copying, r) = forward_raced_at_its_copy(|other, c| async move {
        let aborted = client(other, "alice")
            .abort_upload(&c.target, &c.forward_id)
            .await;
        assert_eq!(aborted.status, 204, "{:?}", aborted.json);
    })
    .await;
    assert_eq!(r.error(), (410, ErrorCode::FileGone), "{:?}", r.json);
    assert!(file_messages(app, "carol", &copying.target)
        .await
        .is_empty());
}

/// Forced: a retry of the same forward (a client that gave up waiting) copies and completes it
/// while the first request copies, whose part copy S3 then refuses (the upload is complete).
/// Both requests answer the one forward, as any retry does.
#[tokio::test]
async fn a_forward_completed_by_its_retry_while_it_copies_answers_the_forward() {
    let (app, copying, r) = forward_raced_at_its_copy(|other, c| async move {
        let retry = c.sent(other).await;
        assert_eq!(retry.status, 201, "{:?}", retry.json);
    })
    .await;
    let forwarded = r.created();
    assert_eq!(forwarded.file.file_id, copying.forward_id);
    let shared = file_messages(app, "carol", &copying.target).await;
    assert_eq!(shared.len(), 1);
    assert_eq!(forwarded.message.seq, shared[0].seq);
}

/// Forced: a retry of the same forward, on another device, has completed the bytes in storage
/// (S3's upload is complete) and waits just before its announcing transaction, while the first
/// request's part copy is refused (the upload is gone). The first request finds its record still
/// pending but the bytes there, and completes the forward itself; the retry, let go after it,
/// answers the same forward. One message, two 201s, no storage fault.
#[tokio::test]
async fn a_forward_whose_retry_stored_the_bytes_but_not_yet_the_message_announces_it_once() {
    use std::sync::mpsc::channel;
    use std::sync::{Arc, Mutex};
    let (app, c) = copying_forward().await;
    let (at_announce, reached_announce) = channel::<()>();
    let (let_go, go_on) = channel::<()>();
    let retry_thread = Arc::new(Mutex::new(None));
    let slot = retry_thread.clone();
    let retry = c.clone();
    let hook = BeforeTransaction::default();
    let hooked = s3_intercepted(app, hook.clone());
    hook.arm_before("UploadPartCopy", None, move || {
        let thread = in_the_background(move || async move {
            let paused = BeforeTransaction::default();
            paused.arm(move || {
                at_announce.send(()).unwrap();
                go_on.recv().unwrap();
            });
            let other = intercepted(app, paused.clone());
            let r = retry.sent(other).await;
            assert!(paused.fired(), "the retry announced");
            r
        });
        // A bound only for a failure: the retry must reach its announcement.
        let waited = reached_announce.recv_timeout(std::time::Duration::from_secs(60));
        assert!(
            waited.is_ok(),
            "the retry stored the bytes and reached its announcement"
        );
        *slot.lock().unwrap() = Some(thread);
    });
    let first = c.sent(hooked).await;
    assert!(
        hook.fired(),
        "the retry ran inside the first request's copy"
    );
    let_go.send(()).unwrap();
    let thread = retry_thread.lock().unwrap().take().unwrap();
    let retried = thread.join().expect("the retry ran");
    let first = first.created();
    assert_eq!(first.file.file_id, c.forward_id);
    assert_eq!(retried.created().message.seq, first.message.seq);
    let shared = file_messages(app, "carol", &c.target).await;
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].seq, first.message.seq);
}

/// The declared checksum of each `part`-sized part of `bytes`, in order.
fn part_checksums(bytes: &[u8], part: usize) -> Vec<PartChecksum> {
    bytes
        .chunks(part)
        .enumerate()
        .map(|(i, c)| PartChecksum {
            part_number: i as u64 + 1,
            sha256: sha256_hex(c),
        })
        .collect()
}

/// A recall of the source file that commits (and removes its bytes) while a forward of it is
/// under way, after the forward read the source as available and stored its pending record,
/// before it copies: the forward must answer what a download of the source now answers
/// (`410 file_gone`), not a server fault.
#[tokio::test]
async fn a_forward_racing_a_recall_of_its_source_answers_file_gone() {
    let (app, hook) = raced_stack().await;
    let source = create_group(app, "alice", &["bob"]).await;
    let target = create_group(app, "bob", &[]).await;
    let fid = upload(app, &source, "alice", "plan.txt", "text/plain", b"the plan").await;
    let seq = file_messages(app, "alice", &source).await[0].seq;
    let group = source.clone();
    // The forward's first write is its pending record (a PutItem on Files).
    let files = app.config.tables.files.clone();
    hook.arm_before("PutItem", Some(&files), move || {
        on_another_device(app, move |other| async move {
            let recalled = client(other, "alice").delete_message(&group, seq).await;
            assert_eq!(recalled.status, 200, "{:?}", recalled.json);
            assert_eq!(recalled.ok().bytes_removed, Some(true));
        })
    });
    let key = unique("f");
    let r = client(app, "bob")
        .forward(&source, &fid, &target, &key)
        .await;
    assert!(hook.fired(), "the recall ran inside the forward");
    assert_eq!(r.error(), (410, ErrorCode::FileGone), "{:?}", r.json);
    // A retry of the same forward answers the same.
    let again = client(app, "bob")
        .forward(&source, &fid, &target, &key)
        .await;
    assert_eq!(
        again.error(),
        (410, ErrorCode::FileGone),
        "{:?}",
        again.json
    );
    assert!(file_messages(app, "bob", &target).await.is_empty());
}

/// A forward cut short before its bytes were copied (the request's deadline, a crash) leaves
/// its pending record, and the client retries with the same `client_msg_id`. If the source was
/// recalled in between, its bytes are purged: the retry must answer what a new forward answers
/// (`410 file_gone`), not try to copy bytes that are gone (S3's NoSuchKey, a 500).
#[tokio::test]
async fn a_retried_forward_of_a_source_recalled_meanwhile_is_gone_not_a_500() {
    use shared::domain::model::{ForwardSource, StoredFileStatus};
    let app = stack().await;
    let (source, target) = two_groups(app).await;
    let bytes = b"quarterly numbers".to_vec();
    let fid = upload(app, &source, "alice", "numbers.txt", "text/plain", &bytes).await;
    let alice = client(app, "alice");
    let msg = unique("f");
    // What the first try left when its deadline cut it off before the copy: the pending record
    // `start` stores, under the id the same request always names.
    let now = app.config.clock.now_ms();
    let target_id =
        shared::domain::ids::derived_id("groupshare-forward", &[&target, "alice", &msg]);
    let mut pending = available_file(&target, "numbers.txt", now);
    pending.file_id = target_id.clone();
    pending.s3_key =
        shared::infra::blob::object_key(&target, &target_id, app.config.retention_days);
    pending.size = bytes.len() as u64;
    pending.content_type = "text/plain".into();
    pending.sha256 = Some(sha256_hex(&bytes));
    pending.status = StoredFileStatus::Pending;
    pending.message_seq = None;
    pending.upload_deadline_ms = Some(now + 15 * 60_000);
    pending.forwarded_from = Some(ForwardSource {
        conversation_id: source.clone(),
        file_id: fid.clone(),
    });
    assert!(app.store.put_new_file(&pending).await.unwrap());

    let seq = file_messages(app, "alice", &source).await[0].seq;
    let recalled = alice.delete_message(&source, seq).await.ok();
    assert_eq!(recalled.bytes_removed, Some(true));

    let retry = alice.forward(&source, &fid, &target, &msg).await;
    assert_eq!(retry.error(), (410, ErrorCode::FileGone));
}

/// Forced: two forwards with one `client_msg_id` into one group, of two different files, race.
/// Both read "no earlier forward"; the other's pending record (of a file with no declared
/// hash) is stored just before this one's. This one must be refused as a sequential reuse of
/// the key is, not copy its bytes under the other's record (its name, "forwarded from" and
/// unchecked bytes of the same size).
#[tokio::test]
async fn racing_forwards_of_two_files_with_one_client_msg_id_refuse_the_loser() {
    use shared::domain::model::{ForwardSource, StoredFileStatus};
    let (app, hook) = raced_stack().await;
    let (source, target) = two_groups(app).await;
    let other_source = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    // A file with no declared hash in one group, another of the same size in another.
    let notes = b"the shared notes".to_vec();
    let body = upload_body(&unique("u"), "notes.txt", notes.len(), "text/plain", None);
    let ticket = alice.create_upload(&source, body).await.created();
    assert!(post_form(&ticket.upload, notes.clone())
        .await
        .status()
        .is_success());
    alice
        .complete_upload(&source, &ticket.file_id)
        .await
        .created();
    let other_bytes = b"some other bytes".to_vec();
    assert_eq!(other_bytes.len(), notes.len());
    let other = upload(
        app,
        &other_source,
        "alice",
        "other.txt",
        "text/plain",
        &other_bytes,
    )
    .await;

    // The pending record the forward of the notes stores, as `start` builds it.
    let msg = unique("f");
    let now = app.config.clock.now_ms();
    let target_id =
        shared::domain::ids::derived_id("groupshare-forward", &[&target, "alice", &msg]);
    let mut racing = app.store.get_file(&ticket.file_id).await.unwrap().unwrap();
    racing.file_id = target_id.clone();
    racing.conversation_id = target.clone();
    racing.s3_key = shared::infra::blob::object_key(&target, &target_id, app.config.retention_days);
    racing.uploaded_at_ms = now;
    racing.expires_at_ms = None;
    racing.status = StoredFileStatus::Pending;
    racing.message_seq = None;
    racing.upload_deadline_ms = Some(now + 15 * 60_000);
    racing.s3_version = None;
    racing.forwarded_from = Some(ForwardSource {
        conversation_id: source.clone(),
        file_id: ticket.file_id.clone(),
    });
    let key = racing.s3_key.clone();
    let files = app.config.tables.files.clone();
    hook.arm_before("PutItem", Some(&files), move || {
        on_another_device(app, move |other| async move {
            assert!(other.store.put_new_file(&racing).await.unwrap());
        })
    });
    let lost = alice.forward(&other_source, &other, &target, &msg).await;
    assert!(hook.fired(), "the other forward's record was stored first");
    assert_eq!(
        lost.error(),
        (409, ErrorCode::ClientMsgIdReused),
        "{:?}",
        lost.json
    );
    assert!(file_messages(app, "carol", &target).await.is_empty());
    assert_eq!(app.blobs.head(&key).await.unwrap(), None, "nothing copied");

    // The winner, retried, forwards what it named.
    let won = alice
        .forward(&source, &ticket.file_id, &target, &msg)
        .await
        .created();
    assert_eq!(won.file.name, "notes.txt");
    assert_eq!(download(app, "carol", &target, &target_id).await, notes);
}

/// A forward makes a new file in the target group, so the deployment's upload limit holds for
/// it as for an upload: a file uploaded before the limit was lowered is not forwarded past it.
#[tokio::test]
async fn a_file_over_a_lowered_upload_limit_is_not_forwarded() {
    let app = groupshare_tests::stack_with(groupshare_tests::Options {
        max_upload_bytes: 1024,
        ..Default::default()
    })
    .await;
    let (source, target) = two_groups(app).await;
    let now = app.config.clock.now_ms();
    // Uploaded when the limit was higher.
    let big = shared::domain::model::FileRecord {
        size: 4096,
        ..available_file(&source, "big.bin", now)
    };
    app.store.put_file_record(&big).await.unwrap();
    let r = client(app, "alice")
        .forward(&source, &big.file_id, &target, &unique("m"))
        .await;
    assert_eq!(r.error(), (413, shared::ErrorCode::FileTooLarge));
    assert!(file_messages(app, "alice", &target).await.is_empty());
}

/// A forward's pending record is filled by storage's copy of the source: its forwarder gets
/// no part URLs for it (parts of their own would be labelled as the source's bytes wherever
/// the source has no composite checksum to check them against).
#[tokio::test]
async fn a_forward_being_copied_takes_no_parts_from_its_forwarder() {
    use shared::domain::model::{FileRecord, ForwardSource, MultipartState, StoredFileStatus};
    let app = stack().await;
    let (source, target) = two_groups(app).await;
    let now = app.config.clock.now_ms();
    let original = available_file(&source, "plan.bin", now);
    let copying = FileRecord {
        size: 12 * MIB as u64,
        status: StoredFileStatus::Pending,
        message_seq: None,
        upload_deadline_ms: Some(now + 3_600_000),
        multipart: Some(MultipartState {
            upload_id: unique("upload"),
            part_size: 8 * MIB as u64,
            checksum_sha256: None,
        }),
        forwarded_from: Some(ForwardSource {
            conversation_id: source.clone(),
            file_id: original.file_id.clone(),
        }),
        ..available_file(&target, "plan.bin", now)
    };
    app.store.put_file_record(&copying).await.unwrap();
    let part = PartChecksum {
        part_number: 1,
        sha256: sha256_hex(b"mine"),
    };
    let r = client(app, "alice")
        .part_urls(&target, &copying.file_id, &[part])
        .await;
    assert_eq!(r.error(), (409, shared::ErrorCode::NotMultipart));
}
