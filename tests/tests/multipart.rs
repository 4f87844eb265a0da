//! Resumable multipart uploads through the public routes: files over the threshold are uploaded
//! in parts whose URLs bind each part's SHA-256, resumed from the file id alone, completed from
//! what S3 holds, aborted, swept, and downloaded like any other file.

use std::collections::BTreeMap;

use base64::Engine;
use groupshare_tests::client::parts_json;
use groupshare_tests::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shared::api::uploads::{PartChecksum, UploadTicket};
use shared::domain::model::{FileStatus, Integrity, MessageView};
use shared::infra::blob::PresignedPart;

const MIB: usize = 1024 * 1024;
/// S3's smallest part; files over 6 MiB go in parts here.
const PART: usize = 5 * MIB;

async fn mp_stack() -> &'static shared::App {
    stack_with(Options {
        multipart_threshold_bytes: 6 * MIB as u64,
        part_size_bytes: PART as u64,
        ..Options::default()
    })
    .await
}

fn part(bytes: &[u8], n: u64) -> &[u8] {
    let start = (n as usize - 1) * PART;
    &bytes[start..(start + PART).min(bytes.len())]
}

fn checksums(bytes: &[u8], numbers: &[u64]) -> Vec<PartChecksum> {
    numbers
        .iter()
        .map(|&n| PartChecksum {
            part_number: n,
            sha256: sha256_hex(part(bytes, n)),
        })
        .collect()
}

/// S3's multipart checksum: SHA-256 over the parts' binary SHA-256s, base64, `-<count>`.
fn composite_sha256(bytes: &[u8]) -> String {
    let mut outer = Sha256::new();
    let chunks: Vec<&[u8]> = bytes.chunks(PART).collect();
    for c in &chunks {
        outer.update(Sha256::digest(c));
    }
    format!(
        "{}-{}",
        base64::engine::general_purpose::STANDARD.encode(outer.finalize()),
        chunks.len()
    )
}

/// The multipart integrity members can verify the downloaded `bytes` against.
fn multipart_integrity(bytes: &[u8]) -> Option<Integrity> {
    Some(Integrity::MultipartSha256 {
        value: composite_sha256(bytes),
        part_size: PART as u64,
    })
}

/// Creates an upload of `bytes` with URLs for the parts `first`.
async fn create(
    api: &Client<'_>,
    cid: &str,
    msg: &str,
    bytes: &[u8],
    first: &[u64],
) -> Response<UploadTicket> {
    let mut body = upload_body(msg, "video.mp4", bytes.len(), "video/mp4", None);
    body["parts"] = parts_json(&checksums(bytes, first));
    api.create_upload(cid, body).await
}

/// The parts of a multipart ticket (panics on a single-form one).
fn part_list(ticket: &UploadTicket) -> &[PresignedPart] {
    &ticket.multipart.as_ref().expect("a multipart ticket").parts
}

/// PUTs one part to its presigned URL with the headers it was signed with, but for
/// `Content-Length`, which the HTTP client sets from the body (as a browser must: it refuses
/// to let a page set it).
async fn put_part(url: &PresignedPart, body: &[u8]) -> reqwest::Response {
    let mut req = reqwest::Client::new().put(&url.url);
    for (k, v) in url.headers.iter().filter(|(k, _)| *k != "content-length") {
        req = req.header(k, v);
    }
    req.body(body.to_vec()).send().await.unwrap()
}

async fn put_all(urls: &[PresignedPart], bytes: &[u8]) {
    for u in urls {
        let n = u.part_number;
        let r = put_part(u, part(bytes, n)).await;
        assert!(
            r.status().is_success(),
            "part {n}: {}",
            r.text().await.unwrap()
        );
    }
}

/// Follows the download redirect, with a `Range` when given.
async fn download(
    api: &Client<'_>,
    cid: &str,
    fid: &str,
    range: Option<&str>,
) -> reqwest::Response {
    let r = api.download(cid, fid, Query::new()).await;
    let mut req = reqwest::Client::new().get(r.location());
    if let Some(range) = range {
        req = req.header("range", range);
    }
    req.send().await.unwrap()
}

/// The file messages in history that announce `fid`.
async fn file_messages(api: &Client<'_>, cid: &str, fid: &str) -> Vec<MessageView> {
    let page = api.messages(cid, Query::new()).await.ok();
    page.messages
        .into_iter()
        .filter(|m| m.kind == "file" && m.file.as_ref().is_some_and(|f| f.file_id == fid))
        .collect()
}

/// Makes a pending upload's client long gone: its deadline passed twice its abandonment time
/// ago. Returns the record as it now is.
async fn abandon(app: &shared::App, file_id: &str) -> shared::domain::model::FileRecord {
    let mut file = app.store.get_file(file_id).await.unwrap().unwrap();
    file.upload_deadline_ms =
        Some(shared::domain::time::now_ms() - 2 * shared::domain::model::ABANDONED_AFTER_MS);
    app.store.put_file_record(&file).await.unwrap();
    file
}

/// Two multipart uploads by alice whose client is long gone: one with every part sent, one
/// with its first part only. Returns their records.
async fn finished_and_partial_abandoned(
    app: &shared::App,
    cid: &str,
) -> [shared::domain::model::FileRecord; 2] {
    let alice = client(app, "alice");
    let bytes = file_bytes(7 * MIB, 9);
    let finished = create(&alice, cid, &unique("all"), &bytes, &[1, 2]).await;
    let partial = create(&alice, cid, &unique("first"), &bytes, &[1]).await;
    let (finished, partial) = (finished.created(), partial.created());
    put_all(part_list(&finished), &bytes).await;
    put_all(part_list(&partial), &bytes).await;
    [
        abandon(app, &finished.file_id).await,
        abandon(app, &partial.file_id).await,
    ]
}

/// A completed upload of `bytes` through the API by `api`'s user; returns the file id.
async fn upload_in_parts(api: &Client<'_>, cid: &str, bytes: &[u8]) -> String {
    let count = bytes.len().div_ceil(PART) as u64;
    let all: Vec<u64> = (1..=count).collect();
    let ticket = create(api, cid, &unique("m"), bytes, &all).await.created();
    put_all(part_list(&ticket), bytes).await;
    api.complete_upload(cid, &ticket.file_id).await.created();
    ticket.file_id
}

#[tokio::test]
async fn an_interrupted_upload_resumes_from_the_file_id_alone() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let (alice, bob) = (client(app, "alice"), client(app, "bob"));
    let bytes = file_bytes(12 * MIB, 1); // parts of 5, 5 and 2 MiB

    // Device A asks for the first part's URL only, uploads it, then loses everything.
    let r = create(&alice, &cid, "big-1", &bytes, &[1]).await;
    // Raw: a multipart ticket carries no `upload` key at all (typed, absent and null look alike).
    assert!(r.json.get("upload").is_none(), "{}", r.json);
    let ticket = r.created();
    assert_eq!(ticket.kind, "multipart");
    let mp = ticket.multipart.as_ref().expect("a multipart ticket");
    assert_eq!((mp.part_size, mp.part_count), (PART as u64, 3));
    assert_eq!(mp.parts.len(), 1);
    assert_eq!(mp.parts[0].method, "PUT");
    put_all(&mp.parts, &bytes).await;
    let fid = ticket.file_id.clone();

    // Completing now names what is missing.
    let early = alice.complete_upload(&cid, &fid).await;
    assert_eq!(early.error(), (409, ErrorCode::UploadIncomplete));
    assert!(early.failure().message.contains("2, 3"));

    // Device B knows only the file id: S3 holds part 1 (the very bytes), 2 and 3 are missing.
    let state = alice.upload_state(&cid, &fid).await.ok();
    assert_eq!(
        (state.kind, state.status),
        ("multipart", FileStatus::Pending)
    );
    assert_eq!(state.size, 12 * MIB as u64);
    let progress = state.multipart.expect("multipart progress");
    assert_eq!(progress.missing, [2, 3]);
    let held: Vec<_> = progress
        .parts
        .iter()
        .map(|p| (p.part_number, p.size, p.sha256.as_deref()))
        .collect();
    let first = sha256_hex(part(&bytes, 1));
    assert_eq!(held, [(1, PART as u64, Some(first.as_str()))]);

    let more = alice
        .part_urls(&cid, &fid, &checksums(&bytes, &[2, 3]))
        .await
        .ok();
    put_all(&more.parts, &bytes).await;
    let done = alice.complete_upload(&cid, &fid).await.created();
    assert_eq!(done.file.as_ref().unwrap().size, 12 * MIB as u64);

    // Bob sees the file, knows what to verify, and gets the very bytes.
    let info = bob.file_info(&cid, &fid).await;
    // Raw: a multipart file has no whole-file `sha256` key at all.
    assert!(info.json.get("sha256").is_none(), "{}", info.json);
    let info = info.ok();
    assert_eq!(info.status, FileStatus::Available);
    assert_eq!(info.integrity, multipart_integrity(&bytes));
    let got = download(&bob, &cid, &fid, None)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&bytes));

    // Completing again is harmless: the same message.
    let again = alice.complete_upload(&cid, &fid).await.ok();
    assert_eq!(again.seq, done.seq);
    let after = alice.upload_state(&cid, &fid).await.ok();
    assert_eq!(after.status, FileStatus::Available);
}

#[tokio::test]
async fn s3_refuses_a_corrupted_part_and_the_upload_completes_with_the_real_one() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let bytes = file_bytes(11 * MIB, 2);
    let ticket = create(&alice, &cid, "big-2", &bytes, &[1, 2, 3])
        .await
        .created();
    let urls = part_list(&ticket);

    let mut corrupted = part(&bytes, 2).to_vec();
    corrupted[1000] ^= 1;
    let refused = put_part(&urls[1], &corrupted).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("BadDigest"));

    put_all(urls, &bytes).await;
    alice.complete_upload(&cid, &ticket.file_id).await.created();
    let got = download(&alice, &cid, &ticket.file_id, None)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn a_range_download_crosses_a_part_boundary() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let bytes = file_bytes(11 * MIB, 3);
    let fid = upload_in_parts(&client(app, "alice"), &cid, &bytes).await;
    let (from, to) = (PART - 100, PART + 99);
    let range = format!("bytes={from}-{to}");
    let r = download(&client(app, "bob"), &cid, &fid, Some(&range)).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[from..=to]);
}

#[tokio::test]
async fn abort_discards_the_upload_for_good() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let bytes = file_bytes(7 * MIB, 4);
    let ticket = create(&alice, &cid, "big-3", &bytes, &[1, 2])
        .await
        .created();
    let fid = ticket.file_id.clone();
    let urls = part_list(&ticket);
    put_part(&urls[0], part(&bytes, 1)).await;

    let aborted = alice.abort_upload(&cid, &fid).await;
    assert_eq!(aborted.status, 204, "{:?}", aborted.json);
    // S3 no longer takes parts for it, and it can neither complete nor get URLs.
    assert_eq!(put_part(&urls[1], part(&bytes, 2)).await.status(), 404);
    let late = alice.complete_upload(&cid, &fid).await;
    assert_eq!(late.error(), (410, ErrorCode::FileGone));
    let more = alice.part_urls(&cid, &fid, &checksums(&bytes, &[2])).await;
    assert_eq!(more.error(), (410, ErrorCode::FileGone));
    let state = alice.upload_state(&cid, &fid).await.ok();
    assert_eq!(state.status, FileStatus::Deleted);
    let again = alice.abort_upload(&cid, &fid).await;
    assert_eq!(again.status, 204, "idempotent");
    let key = app.store.get_file(&fid).await.unwrap().unwrap().s3_key;
    assert!(app.blobs.head(&key).await.unwrap().is_none());

    // A completed upload is not aborted.
    let done = upload_in_parts(&alice, &cid, &bytes).await;
    let r = alice.abort_upload(&cid, &done).await;
    assert_eq!(r.error(), (409, ErrorCode::UploadCompleted));
}

/// An abort racing a request for part URLs, and one racing a completion: each loser gets the
/// winner's state as a clean answer (410 once the upload is gone), never a server fault, and a
/// completion that loses to the abort never claims the upload completed.
#[tokio::test]
async fn abort_races_with_part_urls_and_completion_end_cleanly() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let bytes = file_bytes(7 * MIB, 12);
    for trial in 0..6 {
        let ticket = create(&alice, &cid, &format!("race-{trial}"), &bytes, &[1, 2])
            .await
            .created();
        let fid = ticket.file_id.clone();
        let urls = part_list(&ticket);
        put_part(&urls[0], part(&bytes, 1)).await;
        put_part(&urls[1], part(&bytes, 2)).await;
        let wanted = checksums(&bytes, &[1]);
        let (aborted, more, completed) = tokio::join!(
            alice.abort_upload(&cid, &fid),
            alice.part_urls(&cid, &fid, &wanted),
            alice.complete_upload(&cid, &fid),
        );
        match (aborted.status, completed.status) {
            // The abort came first: the completion is told the upload is gone.
            (204, _) => assert_eq!(
                completed.error(),
                (410, ErrorCode::FileGone),
                "{}",
                completed.json
            ),
            // The completion came first: the abort is told it is complete.
            (409, 201) => assert_eq!(aborted.error(), (409, ErrorCode::UploadCompleted)),
            other => panic!(
                "abort/complete answered {other:?}: {} {}",
                aborted.json, completed.json
            ),
        }
        assert!(
            matches!(more.status, 200 | 409 | 410),
            "part URLs answered {}: {}",
            more.status,
            more.json
        );
    }
}

#[tokio::test]
async fn racing_completions_and_the_s3_event_announce_the_file_once() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let bytes = file_bytes(11 * MIB, 5);
    let ticket = create(&alice, &cid, "big-4", &bytes, &[1, 2, 3])
        .await
        .created();
    let fid = ticket.file_id.clone();
    put_all(part_list(&ticket), &bytes).await;

    let replies =
        futures::future::join_all((0..4).map(|_| alice.complete_upload(&cid, &fid))).await;
    assert!(
        replies.iter().all(|r| r.status == 200 || r.status == 201),
        "{replies:?}"
    );
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1);
    let seqs: Vec<u64> = replies.into_iter().map(|r| r.success().seq).collect();
    assert!(seqs.iter().all(|s| *s == seqs[0]), "{seqs:?}");

    // S3's `ObjectCreated:CompleteMultipartUpload` arrives afterwards: nothing more happens.
    let file = app.store.get_file(&fid).await.unwrap().unwrap();
    let bucket = app.config.bucket.clone().unwrap();
    let outcome = upload_completed::handle(
        app,
        s3_event(&bucket, &file.s3_key, file.s3_version.as_deref()),
    )
    .await
    .unwrap();
    assert_eq!(outcome, [upload_completed::RecordOutcome::AlreadyComplete]);
    assert_eq!(file_messages(&alice, &cid, &fid).await.len(), 1);
}

/// S3 completed the upload but the announcement was lost (the function died in between):
/// the event, or a retried `complete`, still finishes the job.
#[tokio::test]
async fn a_completion_that_s3_already_did_is_finished() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let bytes = file_bytes(11 * MIB, 6);
    for via_event in [false, true] {
        let ticket = create(&alice, &cid, &unique("m"), &bytes, &[1, 2, 3])
            .await
            .created();
        let fid = ticket.file_id.clone();
        put_all(part_list(&ticket), &bytes).await;
        let file = app.store.get_file(&fid).await.unwrap().unwrap();
        let upload_id = &file.multipart.as_ref().unwrap().upload_id;
        let held = app
            .blobs
            .list_parts(&file.s3_key, upload_id)
            .await
            .unwrap()
            .unwrap();
        assert!(app
            .blobs
            .complete_multipart(&file.s3_key, upload_id, &held)
            .await
            .unwrap());
        assert_eq!(
            app.blobs.list_parts(&file.s3_key, upload_id).await.unwrap(),
            None
        );

        let state = alice.upload_state(&cid, &fid).await.ok();
        let progress = state.multipart.expect("multipart progress");
        assert!(progress.missing.is_empty(), "{progress:?}");
        if via_event {
            let bucket = app.config.bucket.clone().unwrap();
            let out = upload_completed::handle(app, s3_event(&bucket, &file.s3_key, None))
                .await
                .unwrap();
            assert!(
                matches!(out[..], [upload_completed::RecordOutcome::Completed(_)]),
                "{out:?}"
            );
        } else {
            alice.complete_upload(&cid, &fid).await.created();
        }
        assert_eq!(file_messages(&alice, &cid, &fid).await.len(), 1);
        let info = alice.file_info(&cid, &fid).await.ok();
        assert_eq!(info.integrity, multipart_integrity(&bytes));
    }
}

#[tokio::test]
async fn only_the_uploader_acts_and_non_members_see_nothing() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let alice = client(app, "alice");
    let bytes = file_bytes(7 * MIB, 7);
    let ticket = create(&alice, &cid, "big-5", &bytes, &[]).await.created();
    assert!(part_list(&ticket).is_empty());
    let fid = ticket.file_id;
    let unknown = "0".repeat(32);

    for (user, expected) in [
        ("bob", (403, ErrorCode::Forbidden)),
        ("mallory", (404, ErrorCode::NotFound)),
    ] {
        let api = alice.as_user(user);
        let state = api.upload_state(&cid, &fid).await;
        assert_eq!(state.error(), expected, "{user}");
        let urls = api.part_urls(&cid, &fid, &checksums(&bytes, &[1])).await;
        assert_eq!(urls.error(), expected, "{user}");
        let abort = api.abort_upload(&cid, &fid).await;
        assert_eq!(abort.error(), expected, "{user}");
        let done = api.complete_upload(&cid, &fid).await;
        assert_eq!(done.status, expected.0, "{user}");
    }
    // A non-member cannot tell a real upload from none. Raw: the whole bodies, not only their
    // codes, must be the same.
    let mallory = alice.as_user("mallory");
    let a = mallory.upload_state(&cid, &fid).await;
    let b = mallory.upload_state(&cid, &unknown).await;
    assert_eq!((a.status, &a.json), (b.status, &b.json));
    alice.upload_state(&cid, &fid).await.ok();
}

#[tokio::test]
async fn requests_that_cannot_work_are_refused_with_stable_codes() {
    let app = stack_with(Options {
        multipart_threshold_bytes: 6 * MIB as u64,
        part_size_bytes: PART as u64,
        max_upload_bytes: 20 * MIB as u64,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let bytes = file_bytes(11 * MIB, 8);
    // Deliberately invalid bodies, as JSON.
    let base = upload_body("x", "a.bin", bytes.len(), "application/octet-stream", None);
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        (
            with("sha256", json!(sha256_hex(&bytes))),
            (400, ErrorCode::InvalidSha256),
        ),
        (
            with(
                "parts",
                json!([{"part_number": 4, "sha256": sha256_hex(b"")}]),
            ),
            (400, ErrorCode::InvalidParts),
        ),
        (
            with("parts", json!([{"part_number": 1, "sha256": "zz"}])),
            (400, ErrorCode::InvalidSha256),
        ),
        (
            with("size", json!(21 * MIB)),
            (413, ErrorCode::FileTooLarge),
        ),
        (
            json!({"client_msg_id": "y", "name": "s.txt", "size": 3, "content_type": "text/plain",
                   "parts": [{"part_number": 1, "sha256": sha256_hex(b"abc")}]}),
            (400, ErrorCode::InvalidParts),
        ),
    ];
    for (body, expected) in cases {
        let r = alice.create_upload(&cid, body.clone()).await;
        assert_eq!(r.error(), expected, "{body}");
    }

    // Small files keep the single POST form; it has no parts to ask for.
    let small = alice
        .create_upload(&cid, upload_body("s", "s.txt", 3, "text/plain", None))
        .await
        .created();
    assert_eq!(small.kind, "post");
    let sfid = &small.file_id;
    let r = alice.part_urls(&cid, sfid, &checksums(b"abc", &[1])).await;
    assert_eq!(r.error(), (409, ErrorCode::NotMultipart));
    let state = alice.upload_state(&cid, sfid).await;
    // Raw: a single-form upload's state has no `multipart` key at all.
    assert!(state.json.get("multipart").is_none(), "{}", state.json);
    assert_eq!(state.ok().kind, "post");

    // A retried create names the same upload; a changed one is refused.
    let first = create(&alice, &cid, "same", &bytes, &[1]).await.created();
    let retry = create(&alice, &cid, "same", &bytes, &[2, 3])
        .await
        .created();
    assert_eq!(first.file_id, retry.file_id);
    let upload_id = |t: &UploadTicket| t.multipart.as_ref().unwrap().upload_id.clone();
    assert_eq!(upload_id(&first), upload_id(&retry));
    assert_eq!(part_list(&retry)[0].part_number, 2);
    let changed = create(&alice, &cid, "same", &bytes[..10 * MIB], &[]).await;
    assert_eq!(changed.error(), (409, ErrorCode::ClientMsgIdReused));
}

#[tokio::test]
async fn the_sweep_completes_finished_uploads_and_aborts_abandoned_ones() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    // Both clients vanished long ago.
    let records = finished_and_partial_abandoned(app, &cid).await;
    assert_eq!(sweep_uploads::handle(app).await.unwrap(), 2);

    let done = &records[0];
    assert_eq!(file_messages(&alice, &cid, &done.file_id).await.len(), 1);
    let gone = &records[1];
    let info = alice.file_info(&cid, &gone.file_id).await.ok();
    assert_eq!(info.status, FileStatus::Deleted);
    // S3's upload (and its part) is gone too, not left for the lifecycle rule.
    let upload_id = &gone.multipart.as_ref().unwrap().upload_id;
    assert_eq!(
        app.blobs.list_parts(&gone.s3_key, upload_id).await.unwrap(),
        None
    );
    assert_eq!(sweep_uploads::handle(app).await.unwrap(), 0);
}

/// A client back after its upload counts as abandoned (a laptop asleep after the last part)
/// is answered what the sweep then does: the finished upload is announced (once, the sweep
/// finds it done), the unfinished one is gone and stays unannounced. A 410 for a file the sweep
/// announces later would make the client upload it again, and the group get it twice.
#[tokio::test]
async fn a_completion_after_abandonment_is_answered_what_the_sweep_does() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let [finished, partial] = finished_and_partial_abandoned(app, &cid).await;

    let done = alice.complete_upload(&cid, &finished.file_id).await;
    assert_eq!(done.status, 201, "{:?}", done.json);
    let gone = alice.complete_upload(&cid, &partial.file_id).await;
    assert_eq!(gone.error(), (410, ErrorCode::FileGone));

    sweep_uploads::handle(app).await.unwrap();
    assert_eq!(
        file_messages(&alice, &cid, &finished.file_id).await.len(),
        1
    );
    assert!(file_messages(&alice, &cid, &partial.file_id)
        .await
        .is_empty());
    let again = alice.complete_upload(&cid, &partial.file_id).await;
    assert_eq!(again.error(), (410, ErrorCode::FileGone));
}

/// Forced: fresh part URLs for an upload the sweep has just read as abandoned (its index read
/// may be behind, or the two cross at the abandonment time) commit before the sweep's delete.
/// Only the deadline in the delete's condition keeps the upload the client is still sending.
#[tokio::test]
async fn the_sweep_never_deletes_an_upload_whose_deadline_just_moved() {
    let hook = BeforeTransaction::default();
    let app = stack_with(Options {
        multipart_threshold_bytes: 6 * MIB as u64,
        part_size_bytes: PART as u64,
        before_transaction: Some(hook.clone()),
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let bytes = file_bytes(7 * MIB, 6);
    let ticket = create(&alice, &cid, "mv-1", &bytes, &[1]).await.created();
    put_all(part_list(&ticket), &bytes).await;
    let fid = ticket.file_id.clone();
    abandon(app, &fid).await;
    let moved = fid.clone();
    hook.arm_before("UpdateItem", Some(&fid), move || {
        on_another_device(app, move |other| async move {
            let deadline = shared::domain::time::now_ms() + 900_000;
            let store = &other.store;
            assert!(store
                .extend_upload_deadline(&moved, deadline)
                .await
                .unwrap());
        })
    });
    sweep_uploads::handle(app).await.unwrap();
    assert!(hook.fired(), "the sweep tried to delete the upload");

    let urls = alice
        .part_urls(&cid, &fid, &checksums(&bytes, &[2]))
        .await
        .ok();
    put_all(&urls.parts, &bytes).await;
    let done = alice.complete_upload(&cid, &fid).await;
    assert_eq!(done.status, 201, "{:?}", done.json);
}

/// A sweep whose invocation is out of time starts no more cleanups (a backlog larger than one
/// run is left to the next, not cut off by the function's timeout as a failure), and the next
/// run takes what it left.
#[tokio::test]
async fn a_sweep_out_of_time_leaves_the_rest_to_the_next_run() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let bytes = file_bytes(7 * MIB, 7);
    let ticket = create(&alice, &cid, "late-1", &bytes, &[1]).await.created();
    abandon(app, &ticket.file_id).await;
    let status = || async {
        let file = app.store.get_file(&ticket.file_id).await.unwrap().unwrap();
        file.status
    };
    // Invoked with its deadline already within the margin it keeps.
    let event = serde_json::json!({});
    let now = std::time::Instant::now();
    let answer = sweep_uploads::handle_event(app, None, event, now).await;
    assert_eq!(answer.unwrap(), serde_json::Value::Null);
    assert_eq!(
        status().await,
        shared::domain::model::StoredFileStatus::Pending,
        "left for the next run"
    );
    assert_eq!(sweep_uploads::handle(app).await.unwrap(), 1);
    assert_eq!(
        status().await,
        shared::domain::model::StoredFileStatus::Deleted
    );
}

#[tokio::test]
async fn config_tells_clients_when_and_how_to_split() {
    let app = mp_stack().await;
    let limits = client(app, "alice").config().await.ok();
    assert_eq!(limits.multipart_threshold_bytes, 6 * MIB as u64);
    assert_eq!(limits.part_size_bytes, PART as u64);
    assert_eq!(limits.max_parts, 10_000);
}

/// Against an S3 that checks signatures (s3s-fs): the part's checksum is part of what its URL
/// signs, so a client cannot drop it or swap in the checksum of other bytes.
#[tokio::test]
async fn part_urls_sign_the_parts_checksum() {
    let app = stack_with(Options {
        s3_endpoint: endpoint(STRICT_S3_VAR),
        access_key: STRICT_S3_KEY.into(),
        secret_key: STRICT_S3_SECRET.into(),
        multipart_threshold_bytes: 6 * MIB as u64,
        part_size_bytes: PART as u64,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "alice", &[]).await;
    let bytes = file_bytes(7 * MIB, 10);
    let ticket = create(&client(app, "alice"), &cid, "strict", &bytes, &[1, 2])
        .await
        .created();
    let url = &part_list(&ticket)[0];
    assert!(url.url.contains("x-amz-checksum-sha256"), "{}", url.url);

    // Small bodies: S3 refuses on the signature before it reads them (a large one would still
    // be in flight when the connection closes).
    let other = &part(&bytes, 2)[..1024];
    let mut swapped = url.clone();
    swapped.headers.insert(
        "x-amz-checksum-sha256".into(),
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(other)),
    );
    let mut dropped = url.clone();
    dropped.headers = BTreeMap::new();
    // A part of another length than the layout gives it, declared with the checksum of its
    // own bytes: its URL signed the layout's length, so S3 refuses it (else a client could park
    // gigabytes in an upload that declared a few megabytes, until the sweep). A short one, as
    // S3 refuses on the signature before reading the body.
    let other_len = &part(&bytes, 1)[..1024];
    let mut body = upload_body("long", "video.mp4", bytes.len(), "video/mp4", None);
    body["parts"] = parts_json(&[PartChecksum {
        part_number: 1,
        sha256: sha256_hex(other_len),
    }]);
    let long = client(app, "alice")
        .create_upload(&cid, body)
        .await
        .created();
    let refused = put_part(&part_list(&long)[0], other_len).await;
    assert_eq!(refused.status(), 403, "{}", refused.text().await.unwrap());
    for (tampered, body) in [(&swapped, other), (&dropped, &part(&bytes, 1)[..1024])] {
        let refused = put_part(tampered, body).await;
        assert_eq!(refused.status(), 403, "{}", refused.text().await.unwrap());
    }
    // Every header exactly as given, `content-length` included, as the API documents.
    let mut verbatim = reqwest::Client::new().put(&url.url);
    for (k, v) in &url.headers {
        verbatim = verbatim.header(k, v);
    }
    let ok = verbatim
        .body(part(&bytes, 1).to_vec())
        .send()
        .await
        .unwrap();
    assert!(ok.status().is_success(), "{}", ok.text().await.unwrap());
}

/// Against s3s-fs, which checks URL expiry: a part URL dies with its lifetime, and a client
/// that comes back later gets fresh URLs for the parts still missing.
#[tokio::test]
async fn expired_part_urls_are_refused_and_fresh_ones_are_taken() {
    let app = stack_with(Options {
        s3_endpoint: endpoint(STRICT_S3_VAR),
        access_key: STRICT_S3_KEY.into(),
        secret_key: STRICT_S3_SECRET.into(),
        multipart_threshold_bytes: 6 * MIB as u64,
        part_size_bytes: PART as u64,
        upload_ttl_secs: 60,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let bytes = file_bytes(7 * MIB, 11);
    // Part URLs signed 61 s ago by the app's clock (moved, not slept on): past their 60 s.
    app.config.clock.shift(-61_000);
    let ticket = create(&alice, &cid, "expiring", &bytes, &[1, 2])
        .await
        .created();
    app.config.clock.shift(61_000);
    let stale = &part_list(&ticket)[0];
    let refused = put_part(stale, &part(&bytes, 1)[..1024]).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("expired"));

    let fresh = alice
        .part_urls(&cid, &ticket.file_id, &checksums(&bytes, &[1, 2]))
        .await
        .ok();
    // s3s-fs takes the parts on fresh URLs (it lists parts without their checksums, so the
    // completion itself is proven against moto, in the tests above), well inside their 60 s.
    let bytes = &bytes;
    let puts = fresh.parts.iter().map(|url| {
        let n = url.part_number;
        async move { (n, put_part(url, part(bytes, n)).await) }
    });
    for (n, r) in futures::future::join_all(puts).await {
        assert!(
            r.status().is_success(),
            "part {n}: {}",
            r.text().await.unwrap()
        );
    }
}
