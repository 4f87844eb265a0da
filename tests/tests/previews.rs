//! Image previews (issue #14): made by the real `make-preview` handler from jobs the real
//! `upload-completed` handler sends, through a real queue on the stand-in, as in AWS. Images
//! are made here, with the `image` crate; previews are fetched through their presigned URLs
//! and decoded, so "ready" means pictures of the promised size, upright, of the right frame.

use std::io::Cursor;

use groupshare_tests::*;
use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::Value;
use shared::api::previews::JobOutcome;
use shared::domain::model::{FileInfo, NoPreviewReason, PreviewSize, PreviewStatus};
use shared::infra::jobs::{PreviewJob, PreviewQueue};
use shared::App;

/// A stack with its own preview queue.
struct Previews {
    app: &'static App,
    sqs: aws_sdk_sqs::Client,
    url: String,
    queue: PreviewQueue,
}

async fn previews() -> Previews {
    let app = stack().await;
    let sdk = groupshare_tests::sdk_config(&endpoint(ENDPOINT_VAR), "test", "test");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = groupshare_local::events::create_queue(&sqs, &unique("previews"))
        .await
        .unwrap();
    Previews {
        app,
        queue: PreviewQueue::new(sqs.clone(), url.clone()),
        sqs,
        url,
    }
}

impl Previews {
    /// Uploads through the API (the client completes), then delivers the upload's S3 event to
    /// upload-completed, which sends the preview job. Returns the file id; the job is queued.
    async fn upload(&self, cid: &str, name: &str, content_type: &str, bytes: &[u8]) -> String {
        let file_id = upload(self.app, cid, "alice", name, content_type, bytes).await;
        let file = self.app.store.get_file(&file_id).await.unwrap().unwrap();
        let bucket = self.app.config.bucket.clone().unwrap();
        let event = s3_event(&bucket, &file.s3_key, file.s3_version.as_deref());
        upload_completed::handle_with(self.app, Some(&self.queue), event)
            .await
            .unwrap();
        file_id
    }

    /// Runs every queued job through make-preview, as the event source mapping would.
    async fn run_jobs(&self) -> usize {
        let mut handled = 0;
        // moto hands out at most 10 messages a receive.
        loop {
            let n = groupshare_local::events::drain_previews_once(self.app, &self.sqs, &self.url)
                .await
                .unwrap();
            if n == 0 {
                return handled;
            }
            handled += n;
        }
    }

    async fn info(&self, cid: &str, file_id: &str) -> FileInfo {
        client(self.app, "bob").file_info(cid, file_id).await.ok()
    }

    /// Every stored version under `previews/`, as (key, version).
    async fn stored_previews(&self) -> Vec<String> {
        let out = self
            .app
            .blobs
            .client()
            .list_object_versions()
            .bucket(self.app.config.bucket.clone().unwrap())
            .prefix("previews/")
            .send()
            .await
            .unwrap();
        out.versions()
            .iter()
            .filter_map(|v| v.key().map(str::to_string))
            .collect()
    }
}

fn encode(image: image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// Left half red, right half blue.
fn halves(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| {
        if x < w / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    })
}

fn jpeg(image: RgbImage) -> Vec<u8> {
    encode(image.into(), ImageFormat::Jpeg)
}

/// `jpeg` with an EXIF APP1 segment saying Orientation=6 ("rotate 90° clockwise to view"),
/// written right after SOI, as cameras do.
fn exif_rotated_jpeg(image: RgbImage) -> Vec<u8> {
    let plain = jpeg(image);
    // TIFF header (big-endian), one IFD entry: tag 0x0112 SHORT count 1 value 6.
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend([0x00, 0x01]);
    tiff.extend([
        0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00,
    ]);
    tiff.extend([0x00, 0x00, 0x00, 0x00]);
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend(tiff);
    let len = (payload.len() + 2) as u16;
    let mut out = plain[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(len.to_be_bytes());
    out.extend(payload);
    out.extend(&plain[2..]);
    out
}

/// Two frames, red then blue: the preview is the first.
fn animated_gif(w: u32, h: u32) -> Vec<u8> {
    let frames = [Rgba([255, 0, 0, 255]), Rgba([0, 0, 255, 255])]
        .map(|c| image::Frame::new(RgbaImage::from_pixel(w, h, c)));
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        encoder.encode_frames(frames).unwrap();
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend(data);
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
    out
}

/// A 200-byte PNG that declares 100000 x 100000 pixels (40 GB as RGBA): a decompression bomb
/// as far as any decoder that trusts its header is concerned.
fn png_bomb() -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, no filter, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    // A little zlib stream of zeros: deflate would inflate rows as long as asked.
    out.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    ));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

async fn fetch_image(url: &str) -> (image::DynamicImage, String) {
    let r = http_client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = r.bytes().await.unwrap();
    (image::load_from_memory(&bytes).unwrap(), content_type)
}

fn near(got: Rgb<u8>, want: [u8; 3]) -> bool {
    got.0
        .iter()
        .zip(want)
        .all(|(g, w)| (i16::from(*g) - i16::from(w)).abs() < 40)
}

fn sizes_of(info: &FileInfo) -> Vec<(PreviewSize, u32, u32)> {
    info.preview
        .sizes
        .iter()
        .map(|d| (d.size, d.width, d.height))
        .collect()
}

#[tokio::test]
async fn every_format_gets_upright_previews_of_the_promised_size() {
    let p = previews().await;
    let cid = create_group(p.app, "alice", &["bob"]).await;
    let translucent = RgbaImage::from_fn(600, 400, |x, _| Rgba([0, 128, 0, (x % 256) as u8]));
    // (name, content type, bytes, upright size)
    type Case = (&'static str, &'static str, Vec<u8>, (u32, u32));
    let cases: Vec<Case> = vec![
        (
            "photo.jpg",
            "image/jpeg",
            jpeg(halves(2000, 1500)),
            (2000, 1500),
        ),
        (
            "logo.png",
            "image/png",
            encode(translucent.into(), ImageFormat::Png),
            (600, 400),
        ),
        ("anim.gif", "image/gif", animated_gif(400, 300), (400, 300)),
        (
            "pic.webp",
            "image/webp",
            encode(halves(500, 250).into(), ImageFormat::WebP),
            (500, 250),
        ),
        // Stored 400 x 200, shown rotated: 200 x 400.
        (
            "phone.jpg",
            "image/jpeg",
            exif_rotated_jpeg(halves(400, 200)),
            (200, 400),
        ),
        // Smaller than the small size: never enlarged.
        (
            "tiny.png",
            "image/png",
            encode(halves(64, 32).into(), ImageFormat::Png),
            (64, 32),
        ),
    ];
    let mut ids = Vec::new();
    for (name, content_type, bytes, _) in &cases {
        ids.push(p.upload(&cid, name, content_type, bytes).await);
    }
    // Complete, job queued, not yet run: pending, and the preview route says so.
    let before = p.info(&cid, &ids[0]).await;
    assert_eq!(before.preview.status, PreviewStatus::Pending);
    assert_eq!(before.width, None);
    let r = client(p.app, "bob")
        .preview(&cid, &ids[0], Query::new())
        .await;
    assert_eq!(r.error(), (409, ErrorCode::PreviewNotReady));

    assert_eq!(p.run_jobs().await, cases.len());

    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    for size in PreviewSize::ALL {
        let batch = client(p.app, "bob")
            .files_batch_previews(&cid, &id_refs, size.as_str())
            .await
            .ok();
        assert!(batch.missing.is_empty());
        for ((name, _, _, (w, h)), info) in cases.iter().zip(&batch.files) {
            assert_eq!((info.width, info.height), (Some(*w), Some(*h)), "{name}");
            assert_eq!(info.preview.status, PreviewStatus::Ready, "{name}");
            // Both sizes are promised, each within its bound, in the image's proportions.
            let sizes = sizes_of(info);
            assert_eq!(sizes.len(), 2, "{name}");
            for (s, pw, ph) in &sizes {
                let bound = s.max_side().min((*w).max(*h));
                assert_eq!((*pw).max(*ph), bound, "{name} {s:?}");
                let expected_other =
                    (u64::from((*w).min(*h)) * u64::from(bound) / u64::from((*w).max(*h))) as u32;
                assert!((*pw).min(*ph).abs_diff(expected_other) <= 1, "{name} {s:?}");
            }
            // The URL in the batch answer fetches a real JPEG of exactly the promised size.
            assert_eq!(info.preview.url_size, Some(size), "{name}");
            let url = info.preview.url.as_deref().expect("a preview URL");
            let (picture, content_type) = fetch_image(url).await;
            assert_eq!(content_type, "image/jpeg", "{name}");
            let promised = sizes.iter().find(|(s, _, _)| *s == size).unwrap();
            assert_eq!(
                (picture.width(), picture.height()),
                (promised.1, promised.2),
                "{name} {size:?}"
            );
            let rgb = picture.to_rgb8();
            let (pw, ph) = (rgb.width(), rgb.height());
            match *name {
                // Upright: the stored image's left (red) half is now the top.
                "phone.jpg" => {
                    assert!(near(*rgb.get_pixel(pw / 2, ph / 4), [255, 0, 0]), "{name}");
                    assert!(
                        near(*rgb.get_pixel(pw / 2, ph * 3 / 4), [0, 0, 255]),
                        "{name}"
                    );
                }
                "photo.jpg" | "pic.webp" => {
                    assert!(near(*rgb.get_pixel(pw / 4, ph / 2), [255, 0, 0]), "{name}");
                    assert!(
                        near(*rgb.get_pixel(pw * 3 / 4, ph / 2), [0, 0, 255]),
                        "{name}"
                    );
                }
                // The first frame.
                "anim.gif" => assert!(near(*rgb.get_pixel(pw / 2, ph / 2), [255, 0, 0])),
                // Transparent is white: the left edge (alpha 0) is white, not black.
                "logo.png" => assert!(near(*rgb.get_pixel(0, ph / 2), [255, 255, 255])),
                _ => {}
            }
        }
    }

    // The preview route, as download: a 302 to the same kind of picture.
    let large = Query::new().and("size", "large");
    let r = client(p.app, "bob").preview(&cid, &ids[0], large).await;
    let (picture, _) = fetch_image(r.location()).await;
    assert_eq!((picture.width(), picture.height()), (1280, 960));
    let r = client(p.app, "bob")
        .preview(&cid, &ids[0], Query::new())
        .await;
    let (picture, _) = fetch_image(r.location()).await;
    assert_eq!(
        (picture.width(), picture.height()),
        (320, 240),
        "small by default"
    );
}

#[tokio::test]
async fn bombs_broken_and_unsupported_files_end_as_none_and_stay_downloadable() {
    let p = previews().await;
    let cid = create_group(p.app, "alice", &["bob"]).await;
    let mut truncated = jpeg(halves(800, 600));
    truncated.truncate(truncated.len() / 3);
    let cases: [(&str, &str, Vec<u8>, NoPreviewReason); 4] = [
        (
            "bomb.png",
            "image/png",
            png_bomb(),
            NoPreviewReason::TooLarge,
        ),
        (
            "cut.jpg",
            "image/jpeg",
            truncated,
            NoPreviewReason::Undecodable,
        ),
        // Declared an image, but the bytes are not one of the four formats.
        (
            "fake.png",
            "image/png",
            b"%PDF-1.7 not a picture".to_vec(),
            NoPreviewReason::UnsupportedFormat,
        ),
        // Never queued at all: the type says it cannot be previewed.
        (
            "photo.heic",
            "image/heic",
            b"....ftypheic".to_vec(),
            NoPreviewReason::UnsupportedFormat,
        ),
    ];
    let mut ids = Vec::new();
    for (name, content_type, bytes, _) in &cases {
        ids.push(p.upload(&cid, name, content_type, bytes).await);
    }
    assert_eq!(p.run_jobs().await, 3, "no job for the HEIC file");
    let bob = client(p.app, "bob");
    for ((name, _, bytes, reason), id) in cases.iter().zip(&ids) {
        let info = p.info(&cid, id).await;
        assert_eq!(info.preview.status, PreviewStatus::None, "{name}");
        assert_eq!(info.preview.reason, Some(*reason), "{name}");
        assert!(info.preview.sizes.is_empty(), "{name}");
        let r = bob.preview(&cid, id, Query::new()).await;
        assert_eq!(r.error(), (404, ErrorCode::NoPreview), "{name}");
        // The file itself is as good as ever.
        let r = bob.download(&cid, id, Query::new()).await;
        let got = http_client().get(r.location()).send().await.unwrap();
        assert_eq!(got.bytes().await.unwrap().as_ref(), &bytes[..], "{name}");
    }
    assert!(p.stored_previews().await.is_empty());
}

#[tokio::test]
async fn the_preview_route_keeps_the_download_rules() {
    let p = previews().await;
    let cid = create_group(p.app, "alice", &["bob"]).await;
    let other = create_group(p.app, "carol", &[]).await;
    let ours = p
        .upload(&cid, "a.jpg", "image/jpeg", &jpeg(halves(50, 50)))
        .await;
    let text = upload(p.app, &cid, "alice", "a.txt", "text/plain", b"text").await;
    p.run_jobs().await;
    let [bob, mallory, carol] = ["bob", "mallory", "carol"].map(|u| client(p.app, u));
    // Not a member, another group's member, an unknown file: one body, the download's.
    let reference = mallory.download(&cid, &ours, Query::new()).await;
    assert_eq!(reference.status, 404);
    for (name, r) in [
        ("outsider", mallory.preview(&cid, &ours, Query::new()).await),
        (
            "other group",
            carol.preview(&cid, &ours, Query::new()).await,
        ),
        (
            "unknown file",
            bob.preview(&cid, "nope", Query::new()).await,
        ),
        (
            "wrong group",
            carol.preview(&other, &ours, Query::new()).await,
        ),
    ] {
        assert_eq!(r.status, 404, "{name}");
        assert_eq!(r.json, reference.json, "{name}: same body");
    }
    let r = bob
        .preview(&cid, &ours, Query::new().and("size", "huge"))
        .await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidPreviewSize));
    let r = bob.files_batch_previews(&cid, &[&ours], "huge").await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidPreviewSize));
    let r = bob.preview(&cid, &text, Query::new()).await;
    assert_eq!(r.error(), (404, ErrorCode::NoPreview));
    // JSON mode, as download's.
    let mut req = request(
        "GET",
        &format!("/conversations/{cid}/files/{ours}/preview?size=large"),
        Some("bob"),
        None,
    );
    req.headers_mut()
        .insert("accept", "application/json".parse().unwrap());
    let r = call(p.app, req).await;
    assert_eq!(r.status, 200);
    let (picture, _) = fetch_image(r.json["url"].as_str().unwrap()).await;
    assert_eq!((picture.width(), picture.height()), (50, 50));
    // The batch without `preview_urls` carries no URL.
    let batch = bob.files_batch(&cid, &[&ours]).await.ok();
    assert_eq!(batch.files[0].preview.url, None);
    assert_eq!(batch.files[0].preview.status, PreviewStatus::Ready);
}

#[tokio::test]
async fn previews_go_with_their_file_and_late_jobs_leave_nothing() {
    let p = previews().await;
    let cid = create_group(p.app, "alice", &["bob"]).await;
    let id = p
        .upload(&cid, "a.jpg", "image/jpeg", &jpeg(halves(900, 600)))
        .await;
    p.run_jobs().await;
    assert_eq!(p.stored_previews().await.len(), 2);
    let bob = client(p.app, "bob");
    let batch = bob.files_batch_previews(&cid, &[&id], "large").await.ok();
    let url = batch.files[0].preview.url.clone().unwrap();
    fetch_image(&url).await;

    // A redelivered job is a no-op.
    let file = p.app.store.get_file(&id).await.unwrap().unwrap();
    let job = PreviewJob {
        file_id: id.clone(),
        s3_version: file.s3_version.clone(),
    };
    let again = shared::api::previews::run(p.app, &job, false, make_preview::render::render)
        .await
        .unwrap();
    assert_eq!(again, JobOutcome::AlreadyDone);

    // Deleting the file's message takes its previews: every version, and the URL handed out.
    let seq = file.message_seq.unwrap();
    let r = client(p.app, "alice").delete_message(&cid, seq).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(p.stored_previews().await.is_empty());
    let gone = http_client().get(&url).send().await.unwrap();
    assert!(gone.status().is_client_error(), "{}", gone.status());
    let info = p.info(&cid, &id).await;
    assert_eq!(info.preview.status, PreviewStatus::None);
    assert_eq!(info.preview.reason, Some(NoPreviewReason::FileGone));
    let r = bob.preview(&cid, &id, Query::new()).await;
    assert_eq!(r.error(), (410, ErrorCode::FileGone));

    // A job that runs after its file was deleted stores nothing (and says so).
    let late = p
        .upload(&cid, "b.jpg", "image/jpeg", &jpeg(halves(300, 300)))
        .await;
    let late_file = p.app.store.get_file(&late).await.unwrap().unwrap();
    client(p.app, "alice")
        .delete_message(&cid, late_file.message_seq.unwrap())
        .await
        .ok();
    assert_eq!(p.run_jobs().await, 1);
    assert!(p.stored_previews().await.is_empty());
    let job = PreviewJob {
        file_id: late.clone(),
        s3_version: late_file.s3_version.clone(),
    };
    assert_eq!(
        shared::api::previews::run(p.app, &job, false, make_preview::render::render)
            .await
            .unwrap(),
        JobOutcome::Removed
    );
}

#[tokio::test]
async fn files_from_before_previews_say_so() {
    let p = previews().await;
    let cid = create_group(p.app, "alice", &["bob"]).await;
    let id = upload(
        p.app,
        &cid,
        "alice",
        "old.jpg",
        "image/jpeg",
        &jpeg(halves(10, 10)),
    )
    .await;
    // The row as it was stored before previews: no preview attributes at all.
    let mut file = p.app.store.get_file(&id).await.unwrap().unwrap();
    file.preview = Default::default();
    p.app.store.put_file_record(&file).await.unwrap();
    let info = p.info(&cid, &id).await;
    assert_eq!(info.preview.status, PreviewStatus::None);
    assert_eq!(info.preview.reason, Some(NoPreviewReason::NotGenerated));
    let json: Value = serde_json::to_value(&info).unwrap();
    assert_eq!(
        json["preview"],
        serde_json::json!({"status": "none", "reason": "not_generated"})
    );
}

/// As a developer runs it: the local server's bucket notifies upload-completed, which sends the
/// job, which the server's drain hands to make-preview. A client that dies before `/complete`
/// still gets its photo a preview.
#[tokio::test]
async fn the_local_stack_makes_previews_from_s3_events() {
    use groupshare_tests::local_stack::{eventually, LocalStack};
    let stack = LocalStack::start().await;
    let alice = Client::over_http(&stack.api, stack.client(), "alice");
    let cid = alice
        .create_conversation("t", &["bob"])
        .await
        .created()
        .conversation_id;
    let bytes = jpeg(halves(1600, 1200));
    let body = upload_body(&unique("u"), "p.jpg", bytes.len(), "image/jpeg", None);
    let ticket = alice.create_upload(&cid, body).await.created();
    let sent = post_form(&ticket.upload, bytes).await;
    assert!(sent.status().is_success());
    let bob = alice.as_user("bob");
    let ready = eventually(std::time::Duration::from_secs(30), || async {
        let info = bob.file_info(&cid, &ticket.file_id).await;
        (info.status == 200)
            .then(|| info.ok())
            .filter(|i| i.preview.status == PreviewStatus::Ready)
    })
    .await
    .expect("a preview within 30 s");
    assert_eq!((ready.width, ready.height), (Some(1600), Some(1200)));
    let r = bob
        .preview(&cid, &ticket.file_id, Query::new().and("size", "large"))
        .await;
    let (picture, _) = fetch_image(r.location()).await;
    assert_eq!((picture.width(), picture.height()), (1280, 960));
}

/// The local previews queue redelivers as the template's `PreviewQueue` does: a received job
/// stays invisible for the template's visibility timeout, and one received `maxReceiveCount`
/// times without being deleted (make-preview failed each time) is moved to the failure queue
/// instead of being delivered again (it was delivered every 30 s forever).
#[tokio::test]
async fn a_preview_job_that_keeps_failing_is_moved_to_the_failure_queue() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sdk = groupshare_tests::sdk_config(&endpoint(ENDPOINT_VAR), "test", "test");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let template = groupshare_local::template::workspace_template();
    let (visibility, redrive) =
        groupshare_local::template::queue_redelivery(&template, "PreviewQueue").unwrap();
    let redrive = redrive.expect("PreviewQueue has a redrive policy");
    let failures = unique("preview-failures");
    let url =
        groupshare_local::events::previews_queue(&sqs, &template, &unique("previews"), &failures)
            .await
            .unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attributes.attributes().unwrap()[&QueueAttributeName::VisibilityTimeout],
        visibility
            .expect("PreviewQueue sets its visibility")
            .to_string()
    );
    sqs.send_message()
        .queue_url(&url)
        .message_body("job")
        .send()
        .await
        .unwrap();
    // Each receive is a failed attempt: not deleted, and (this receive's 0 s visibility stands
    // in for the queue's timeout passing) visible again at once.
    let receive = || {
        sqs.receive_message()
            .queue_url(&url)
            .visibility_timeout(0)
            .send()
    };
    for attempt in 1..=redrive.max_receive_count {
        let got = receive().await.unwrap();
        assert_eq!(got.messages().len(), 1, "attempt {attempt}");
    }
    assert_eq!(receive().await.unwrap().messages().len(), 0, "moved aside");
    let failures_url = sqs
        .get_queue_url()
        .queue_name(&failures)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let moved = sqs
        .receive_message()
        .queue_url(&failures_url)
        .send()
        .await
        .unwrap();
    let bodies: Vec<_> = moved.messages().iter().map(|m| m.body()).collect();
    assert_eq!(bodies, vec![Some("job")]);
}
