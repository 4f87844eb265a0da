//! Resumable multipart uploads through the public routes: files over the threshold are uploaded
//! in parts whose URLs bind each part's SHA-256, resumed from the file id alone, completed from
//! what S3 holds, aborted, swept, and downloaded like any other file.

use base64::Engine;
use groupshare_tests::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

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

/// Bytes that differ in every part (xorshift), so a part in the wrong place is caught.
fn file_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn part(bytes: &[u8], n: usize) -> &[u8] {
    let start = (n - 1) * PART;
    &bytes[start..(start + PART).min(bytes.len())]
}

fn checksums(bytes: &[u8], numbers: &[usize]) -> Value {
    numbers
        .iter()
        .map(|&n| json!({"part_number": n, "sha256": sha256_hex(part(bytes, n))}))
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

async fn create(
    app: &shared::App,
    cid: &str,
    user: &str,
    msg: &str,
    bytes: &[u8],
    first: &[usize],
) -> Reply {
    post(
        app,
        user,
        &format!("/conversations/{cid}/uploads"),
        json!({
            "client_msg_id": msg,
            "name": "video.mp4",
            "size": bytes.len(),
            "content_type": "video/mp4",
            "parts": checksums(bytes, first),
        }),
    )
    .await
}

/// PUTs one part to its presigned URL with the headers it was signed with.
async fn put_part(url: &Value, body: &[u8]) -> reqwest::Response {
    let mut req = reqwest::Client::new().put(url["url"].as_str().unwrap());
    for (k, v) in url["headers"].as_object().unwrap() {
        req = req.header(k, v.as_str().unwrap());
    }
    req.body(body.to_vec()).send().await.unwrap()
}

async fn put_all(urls: &Value, bytes: &[u8]) {
    for u in urls.as_array().unwrap() {
        let n = u["part_number"].as_u64().unwrap() as usize;
        let r = put_part(u, part(bytes, n)).await;
        assert!(
            r.status().is_success(),
            "part {n}: {}",
            r.text().await.unwrap()
        );
    }
}

async fn part_urls(app: &shared::App, cid: &str, user: &str, fid: &str, parts: Value) -> Reply {
    post(
        app,
        user,
        &format!("/conversations/{cid}/uploads/{fid}/parts"),
        json!({ "parts": parts }),
    )
    .await
}

async fn complete(app: &shared::App, cid: &str, user: &str, fid: &str) -> Reply {
    post(
        app,
        user,
        &format!("/conversations/{cid}/files/{fid}/complete"),
        Value::Null,
    )
    .await
}

async fn download(
    app: &shared::App,
    cid: &str,
    user: &str,
    fid: &str,
    range: Option<&str>,
) -> reqwest::Response {
    let r = get(
        app,
        user,
        &format!("/conversations/{cid}/files/{fid}/download"),
    )
    .await;
    assert_eq!(r.status, 302, "{:?}", r.json);
    let mut req = reqwest::Client::new().get(r.header("location").unwrap());
    if let Some(range) = range {
        req = req.header("range", range);
    }
    req.send().await.unwrap()
}

async fn file_messages(app: &shared::App, cid: &str, fid: &str) -> Vec<Value> {
    let r = get(app, "alice", &format!("/conversations/{cid}/messages")).await;
    r.json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "file" && m["file"]["file_id"] == fid)
        .cloned()
        .collect()
}

/// A completed upload of `bytes` through the API; returns the file id.
async fn upload_in_parts(app: &shared::App, cid: &str, bytes: &[u8]) -> String {
    let count = bytes.len().div_ceil(PART);
    let all: Vec<usize> = (1..=count).collect();
    let r = create(app, cid, "alice", &unique("m"), bytes, &all).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    put_all(&r.json["multipart"]["parts"], bytes).await;
    let fid = r.json["file_id"].as_str().unwrap().to_string();
    let done = complete(app, cid, "alice", &fid).await;
    assert_eq!(done.status, 201, "{:?}", done.json);
    fid
}

#[tokio::test]
async fn an_interrupted_upload_resumes_from_the_file_id_alone() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let bytes = file_bytes(12 * MIB, 1); // parts of 5, 5 and 2 MiB

    // Device A asks for the first part's URL only, uploads it, then loses everything.
    let r = create(app, &cid, "alice", "big-1", &bytes, &[1]).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["kind"], "multipart");
    assert!(r.json.get("upload").is_none());
    let mp = &r.json["multipart"];
    assert_eq!(
        (mp["part_size"].as_u64(), mp["part_count"].as_u64()),
        (Some(PART as u64), Some(3))
    );
    assert_eq!(mp["parts"].as_array().unwrap().len(), 1);
    assert_eq!(mp["parts"][0]["method"], "PUT");
    put_all(&mp["parts"], &bytes).await;
    let fid = r.json["file_id"].as_str().unwrap().to_string();

    // Completing now names what is missing.
    let early = complete(app, &cid, "alice", &fid).await;
    assert_eq!(
        (early.status, early.error_code()),
        (409, "upload_incomplete")
    );
    assert!(early.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2, 3"));

    // Device B knows only the file id: S3 holds part 1 (the very bytes), 2 and 3 are missing.
    let state = get(app, "alice", &format!("/conversations/{cid}/uploads/{fid}")).await;
    assert_eq!(state.status, 200, "{:?}", state.json);
    assert_eq!(
        (state.json["kind"].as_str(), state.json["status"].as_str()),
        (Some("multipart"), Some("pending"))
    );
    assert_eq!(state.json["size"], 12 * MIB);
    let progress = &state.json["multipart"];
    assert_eq!(progress["missing"], json!([2, 3]));
    assert_eq!(
        progress["parts"],
        json!([{"part_number": 1, "size": PART, "sha256": sha256_hex(part(&bytes, 1))}])
    );

    let more = part_urls(app, &cid, "alice", &fid, checksums(&bytes, &[2, 3])).await;
    assert_eq!(more.status, 200, "{:?}", more.json);
    put_all(&more.json["parts"], &bytes).await;
    let done = complete(app, &cid, "alice", &fid).await;
    assert_eq!(done.status, 201, "{:?}", done.json);
    assert_eq!(done.json["file"]["size"], 12 * MIB);

    // Bob sees the file, knows what to verify, and gets the very bytes.
    let info = get(app, "bob", &format!("/conversations/{cid}/files/{fid}")).await;
    assert_eq!(info.json["status"], "available");
    assert_eq!(
        info.json["integrity"],
        json!({"kind": "multipart_sha256", "value": composite_sha256(&bytes), "part_size": PART})
    );
    assert!(info.json.get("sha256").is_none());
    let got = download(app, &cid, "bob", &fid, None)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&bytes));

    // Completing again is harmless: the same message.
    let again = complete(app, &cid, "alice", &fid).await;
    assert_eq!((again.status, &again.json["seq"]), (200, &done.json["seq"]));
    let after = get(app, "alice", &format!("/conversations/{cid}/uploads/{fid}")).await;
    assert_eq!(after.json["status"], "available");
}

#[tokio::test]
async fn s3_refuses_a_corrupted_part_and_the_upload_completes_with_the_real_one() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let bytes = file_bytes(11 * MIB, 2);
    let r = create(app, &cid, "alice", "big-2", &bytes, &[1, 2, 3]).await;
    let fid = r.json["file_id"].as_str().unwrap().to_string();
    let urls = &r.json["multipart"]["parts"];

    let mut corrupted = part(&bytes, 2).to_vec();
    corrupted[1000] ^= 1;
    let refused = put_part(&urls[1], &corrupted).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("BadDigest"));

    put_all(urls, &bytes).await;
    let done = complete(app, &cid, "alice", &fid).await;
    assert_eq!(done.status, 201, "{:?}", done.json);
    let got = download(app, &cid, "alice", &fid, None)
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
    let fid = upload_in_parts(app, &cid, &bytes).await;
    let (from, to) = (PART - 100, PART + 99);
    let r = download(app, &cid, "bob", &fid, Some(&format!("bytes={from}-{to}"))).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[from..=to]);
}

#[tokio::test]
async fn abort_discards_the_upload_for_good() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let bytes = file_bytes(7 * MIB, 4);
    let r = create(app, &cid, "alice", "big-3", &bytes, &[1, 2]).await;
    let fid = r.json["file_id"].as_str().unwrap().to_string();
    let urls = r.json["multipart"]["parts"].clone();
    put_part(&urls[0], part(&bytes, 1)).await;

    let path = format!("/conversations/{cid}/uploads/{fid}");
    let aborted = delete(app, "alice", &path).await;
    assert_eq!(aborted.status, 204, "{:?}", aborted.json);
    // S3 no longer takes parts for it, and it can neither complete nor get URLs.
    assert_eq!(put_part(&urls[1], part(&bytes, 2)).await.status(), 404);
    let late = complete(app, &cid, "alice", &fid).await;
    assert_eq!((late.status, late.error_code()), (410, "file_gone"));
    let urls = part_urls(app, &cid, "alice", &fid, checksums(&bytes, &[2])).await;
    assert_eq!((urls.status, urls.error_code()), (410, "file_gone"));
    let state = get(app, "alice", &path).await;
    assert_eq!(state.json["status"], "deleted");
    assert_eq!(delete(app, "alice", &path).await.status, 204, "idempotent");
    let key = app.store.get_file(&fid).await.unwrap().unwrap().s3_key;
    assert!(app.blobs.head(&key).await.unwrap().is_none());

    // A completed upload is not aborted.
    let done = upload_in_parts(app, &cid, &bytes).await;
    let r = delete(app, "alice", format!("/conversations/{cid}/uploads/{done}")).await;
    assert_eq!((r.status, r.error_code()), (409, "upload_completed"));
}

#[tokio::test]
async fn racing_completions_and_the_s3_event_announce_the_file_once() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let bytes = file_bytes(11 * MIB, 5);
    let r = create(app, &cid, "alice", "big-4", &bytes, &[1, 2, 3]).await;
    let fid = r.json["file_id"].as_str().unwrap().to_string();
    put_all(&r.json["multipart"]["parts"], &bytes).await;

    let replies =
        futures::future::join_all((0..4).map(|_| complete(app, &cid, "alice", &fid))).await;
    let seqs: Vec<&Value> = replies.iter().map(|r| &r.json["seq"]).collect();
    assert!(
        replies.iter().all(|r| r.status == 200 || r.status == 201),
        "{replies:?}"
    );
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1);
    assert!(seqs.iter().all(|s| *s == seqs[0]));

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
    assert_eq!(file_messages(app, &cid, &fid).await.len(), 1);
}

/// S3 completed the upload but the announcement was lost (the function died in between):
/// the event, or a retried `complete`, still finishes the job.
#[tokio::test]
async fn a_completion_that_s3_already_did_is_finished() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let bytes = file_bytes(11 * MIB, 6);
    for via_event in [false, true] {
        let r = create(app, &cid, "alice", &unique("m"), &bytes, &[1, 2, 3]).await;
        let fid = r.json["file_id"].as_str().unwrap().to_string();
        put_all(&r.json["multipart"]["parts"], &bytes).await;
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

        let state = get(app, "alice", &format!("/conversations/{cid}/uploads/{fid}")).await;
        assert_eq!(
            state.json["multipart"]["missing"],
            json!([]),
            "{:?}",
            state.json
        );
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
            let done = complete(app, &cid, "alice", &fid).await;
            assert_eq!(done.status, 201, "{:?}", done.json);
        }
        assert_eq!(file_messages(app, &cid, &fid).await.len(), 1);
        let info = get(app, "alice", &format!("/conversations/{cid}/files/{fid}")).await;
        assert_eq!(info.json["integrity"]["value"], composite_sha256(&bytes));
    }
}

#[tokio::test]
async fn only_the_uploader_acts_and_non_members_see_nothing() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let bytes = file_bytes(7 * MIB, 7);
    let r = create(app, &cid, "alice", "big-5", &bytes, &[]).await;
    assert_eq!(r.json["multipart"]["parts"], json!([]));
    let fid = r.json["file_id"].as_str().unwrap().to_string();
    let path = format!("/conversations/{cid}/uploads/{fid}");
    let unknown = format!("/conversations/{cid}/uploads/{}", "0".repeat(32));

    for (user, status, code) in [("bob", 403, "forbidden"), ("mallory", 404, "not_found")] {
        let state = get(app, user, &path).await;
        assert_eq!((state.status, state.error_code()), (status, code), "{user}");
        let urls = part_urls(app, &cid, user, &fid, checksums(&bytes, &[1])).await;
        assert_eq!((urls.status, urls.error_code()), (status, code), "{user}");
        let abort = delete(app, user, &path).await;
        assert_eq!((abort.status, abort.error_code()), (status, code), "{user}");
        let done = complete(app, &cid, user, &fid).await;
        assert_eq!(done.status, status, "{user}");
    }
    // A non-member cannot tell a real upload from none.
    let a = get(app, "mallory", &path).await;
    let b = get(app, "mallory", &unknown).await;
    assert_eq!((a.status, &a.json), (b.status, &b.json));
    assert_eq!(get(app, "alice", &path).await.status, 200);
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
    let bytes = file_bytes(11 * MIB, 8);
    let uploads = format!("/conversations/{cid}/uploads");
    let base = json!({"client_msg_id": "x", "name": "a.bin", "size": bytes.len(), "content_type": "application/octet-stream"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        (
            with("sha256", json!(sha256_hex(&bytes))),
            400,
            "invalid_sha256",
        ),
        (
            with(
                "parts",
                json!([{"part_number": 4, "sha256": sha256_hex(b"")}]),
            ),
            400,
            "invalid_parts",
        ),
        (
            with("parts", json!([{"part_number": 1, "sha256": "zz"}])),
            400,
            "invalid_sha256",
        ),
        (with("size", json!(21 * MIB)), 413, "file_too_large"),
        (
            json!({"client_msg_id": "y", "name": "s.txt", "size": 3, "content_type": "text/plain",
                   "parts": [{"part_number": 1, "sha256": sha256_hex(b"abc")}]}),
            400,
            "invalid_parts",
        ),
    ];
    for (body, status, code) in cases {
        let r = post(app, "alice", &uploads, body.clone()).await;
        assert_eq!((r.status, r.error_code()), (status, code), "{body}");
    }

    // Small files keep the single POST form; it has no parts to ask for.
    let small = post(
        app,
        "alice",
        &uploads,
        json!({"client_msg_id": "s", "name": "s.txt", "size": 3, "content_type": "text/plain"}),
    )
    .await;
    assert_eq!(small.json["kind"], "post");
    let sfid = small.json["file_id"].as_str().unwrap();
    let r = part_urls(app, &cid, "alice", sfid, checksums(b"abc", &[1])).await;
    assert_eq!((r.status, r.error_code()), (409, "not_multipart"));
    let state = get(app, "alice", &format!("{uploads}/{sfid}")).await;
    assert_eq!(
        (state.json["kind"].as_str(), state.json.get("multipart")),
        (Some("post"), None)
    );

    // A retried create names the same upload; a changed one is refused.
    let first = create(app, &cid, "alice", "same", &bytes, &[1]).await;
    let retry = create(app, &cid, "alice", "same", &bytes, &[2, 3]).await;
    assert_eq!(retry.status, 201, "{:?}", retry.json);
    assert_eq!(first.json["file_id"], retry.json["file_id"]);
    assert_eq!(
        first.json["multipart"]["upload_id"],
        retry.json["multipart"]["upload_id"]
    );
    assert_eq!(retry.json["multipart"]["parts"][0]["part_number"], 2);
    let changed = create(app, &cid, "alice", "same", &bytes[..10 * MIB], &[]).await;
    assert_eq!(
        (changed.status, changed.error_code()),
        (409, "client_msg_id_reused")
    );
}

#[tokio::test]
async fn the_sweep_completes_finished_uploads_and_aborts_abandoned_ones() {
    let app = mp_stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let bytes = file_bytes(7 * MIB, 9);
    let finished = create(app, &cid, "alice", "sw-1", &bytes, &[1, 2]).await;
    put_all(&finished.json["multipart"]["parts"], &bytes).await;
    let partial = create(app, &cid, "alice", "sw-2", &bytes, &[1]).await;
    put_all(&partial.json["multipart"]["parts"], &bytes).await;

    // Both clients vanished long ago.
    let mut records = Vec::new();
    for r in [&finished, &partial] {
        let mut file = app
            .store
            .get_file(r.json["file_id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        file.upload_deadline_ms =
            Some(shared::time::now_ms() - 2 * shared::model::ABANDONED_AFTER_MS);
        app.store.put_file_record(&file).await.unwrap();
        records.push(file);
    }
    assert_eq!(sweep_uploads::handle(app).await.unwrap(), 2);

    let done = &records[0];
    assert_eq!(file_messages(app, &cid, &done.file_id).await.len(), 1);
    let gone = &records[1];
    let info = get(
        app,
        "alice",
        &format!("/conversations/{cid}/files/{}", gone.file_id),
    )
    .await;
    assert_eq!(info.json["status"], "deleted");
    // S3's upload (and its part) is gone too, not left for the lifecycle rule.
    let upload_id = &gone.multipart.as_ref().unwrap().upload_id;
    assert_eq!(
        app.blobs.list_parts(&gone.s3_key, upload_id).await.unwrap(),
        None
    );
    assert_eq!(sweep_uploads::handle(app).await.unwrap(), 0);
}

#[tokio::test]
async fn config_tells_clients_when_and_how_to_split() {
    let app = mp_stack().await;
    let r = get(app, "alice", "/config").await;
    assert_eq!(r.json["multipart_threshold_bytes"], 6 * MIB);
    assert_eq!(r.json["part_size_bytes"], PART);
    assert_eq!(r.json["max_parts"], 10_000);
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
    let r = create(app, &cid, "alice", "strict", &bytes, &[1, 2]).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let url = &r.json["multipart"]["parts"][0];
    let signed = url["url"].as_str().unwrap();
    assert!(signed.contains("x-amz-checksum-sha256"), "{signed}");

    // Small bodies: S3 refuses on the signature before it reads them (a large one would still
    // be in flight when the connection closes).
    let other = &part(&bytes, 2)[..1024];
    let mut swapped = url.clone();
    swapped["headers"]["x-amz-checksum-sha256"] =
        json!(base64::engine::general_purpose::STANDARD.encode(Sha256::digest(other)));
    let mut dropped = url.clone();
    dropped["headers"] = json!({});
    for (tampered, body) in [(&swapped, other), (&dropped, &part(&bytes, 1)[..1024])] {
        let refused = put_part(tampered, body).await;
        assert_eq!(refused.status(), 403, "{}", refused.text().await.unwrap());
    }
    let ok = put_part(url, part(&bytes, 1)).await;
    assert!(ok.status().is_success(), "{}", ok.text().await.unwrap());
}

/// Against s3s-fs, which checks URL expiry: a part URL dies with its lifetime, and a client
/// that comes back later gets fresh URLs for the parts still missing.
#[tokio::test]
async fn expired_part_urls_are_refused_and_fresh_ones_finish_the_upload() {
    let app = stack_with(Options {
        s3_endpoint: endpoint(STRICT_S3_VAR),
        access_key: STRICT_S3_KEY.into(),
        secret_key: STRICT_S3_SECRET.into(),
        multipart_threshold_bytes: 6 * MIB as u64,
        part_size_bytes: PART as u64,
        upload_ttl_secs: 1,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "alice", &[]).await;
    let bytes = file_bytes(7 * MIB, 11);
    let r = create(app, &cid, "alice", "expiring", &bytes, &[1, 2]).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let fid = r.json["file_id"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let stale = &r.json["multipart"]["parts"][0];
    let refused = put_part(stale, &part(&bytes, 1)[..1024]).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("expired"));

    let fresh = part_urls(app, &cid, "alice", &fid, checksums(&bytes, &[1, 2])).await;
    assert_eq!(fresh.status, 200, "{:?}", fresh.json);
    // s3s-fs takes the parts on fresh URLs (it lists parts without their checksums, so the
    // completion itself is proven against moto, in the tests above).
    put_all(&fresh.json["parts"], &bytes).await;
}
