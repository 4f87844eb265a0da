//! Retention is decided per file, at upload: a file keeps the retention it was uploaded under
//! (in its key, so in the bucket's lifecycle, and in its record) when the deployment's setting
//! changes later. Two configurations of the same deployment share one set of tables and one
//! bucket, as the functions do across a `sam deploy` that changes RetentionDays.

use groupshare_tests::*;
use shared::api::uploads::UploadTicket;
use shared::domain::model::FileStatus;
use shared::App;

const DAY_MS: i64 = 86_400_000;

/// The same deployment after RetentionDays changed to `days`.
fn redeployed(app: &App, days: u32) -> &'static App {
    let mut config = app.config.clone();
    config.retention_days = days;
    Box::leak(Box::new(App {
        store: app.store.clone(),
        blobs: app.blobs.clone(),
        config,
    }))
}

async fn start_upload(app: &App, cid: &str, id: &str) -> UploadTicket {
    let body = upload_body(id, &format!("{id}.txt"), 4, "text/plain", None);
    client(app, "alice")
        .create_upload(cid, body)
        .await
        .created()
}

async fn complete(app: &App, cid: &str, file_id: &str) {
    client(app, "alice")
        .complete_upload(cid, file_id)
        .await
        .created();
}

/// Days between the record's expiry and when S3 stored the bytes (what the lifecycle counts
/// from), and the record's key.
async fn stored_retention(app: &App, file_id: &str) -> (Option<i64>, String) {
    let record = app.store.get_file(file_id).await.unwrap().unwrap();
    let object = app.blobs.head(&record.s3_key).await.unwrap().unwrap();
    let stored_at = object.last_modified_ms.expect("S3 reports LastModified");
    let days = record.expires_at_ms.map(|e| {
        assert_eq!((e - stored_at) % DAY_MS, 0, "counted from LastModified");
        (e - stored_at) / DAY_MS
    });
    (days, record.s3_key)
}

#[tokio::test]
async fn a_file_keeps_the_retention_it_was_uploaded_under() {
    let week = stack_with(Options {
        retention_days: 7,
        ..Options::default()
    })
    .await;
    let month = redeployed(week, 30);
    let forever = redeployed(week, 0);
    let cid = create_group(week, "alice", &[]).await;

    // Uploaded while the setting was 7 days; completed after it became 30.
    let before = start_upload(week, &cid, "before").await;
    let before_id = before.file_id;
    assert_eq!(
        before.upload.form().fields["key"],
        format!("files/r7/{cid}/{before_id}")
    );
    assert!(post_form(&before.upload, b"week".to_vec())
        .await
        .status()
        .is_success());
    complete(month, &cid, &before_id).await;
    let (days, key) = stored_retention(month, &before_id).await;
    assert_eq!(days, Some(7), "{key}");
    let info = client(month, "alice").file_info(&cid, &before_id).await;
    assert_eq!(info.body().status, FileStatus::Available);

    // A retry under the new setting gets a form for the key the file already has.
    let pending = start_upload(week, &cid, "pending").await;
    let pending_id = pending.file_id;
    let retried = start_upload(month, &cid, "pending").await;
    assert_eq!(retried.file_id, pending_id);
    assert_eq!(
        retried.upload.form().fields["key"],
        format!("files/r7/{cid}/{pending_id}")
    );
    assert!(post_form(&retried.upload, b"late".to_vec())
        .await
        .status()
        .is_success());
    complete(forever, &cid, &pending_id).await;
    assert_eq!(stored_retention(forever, &pending_id).await.0, Some(7));

    // Uploaded after the change: the new setting, under its own prefix.
    let after = start_upload(month, &cid, "after").await;
    let after_id = after.file_id;
    assert!(post_form(&after.upload, b"mnth".to_vec())
        .await
        .status()
        .is_success());
    complete(week, &cid, &after_id).await;
    let (days, key) = stored_retention(week, &after_id).await;
    assert_eq!(
        (days, key),
        (Some(30), format!("files/r30/{cid}/{after_id}"))
    );

    // Kept forever means no expiry on the record (and no lifecycle rule for files/r0/).
    let kept = start_upload(forever, &cid, "kept").await;
    let kept_id = kept.file_id;
    assert!(post_form(&kept.upload, b"kept".to_vec())
        .await
        .status()
        .is_success());
    complete(week, &cid, &kept_id).await;
    let (days, key) = stored_retention(week, &kept_id).await;
    assert_eq!((days, key), (None, format!("files/r0/{cid}/{kept_id}")));
}

/// Records written before keys carried a retention keep their key and still complete; their
/// bytes follow the deployment's current setting, as their lifecycle rule does.
#[tokio::test]
async fn files_of_the_first_key_layout_still_complete() {
    let week = stack_with(Options::default()).await;
    let month = redeployed(week, 30);
    let cid = create_group(week, "alice", &[]).await;
    let ticket = start_upload(week, &cid, "legacy").await;
    let file_id = ticket.file_id;
    let legacy_key = format!("files/{cid}/{file_id}");
    assert_eq!(
        shared::infra::blob::parse_object_key(&legacy_key),
        Some((cid.as_str(), file_id.as_str()))
    );
    let mut record = week.store.get_file(&file_id).await.unwrap().unwrap();
    record.s3_key = legacy_key.clone();
    week.store.put_file_record(&record).await.unwrap();
    week.blobs
        .client()
        .put_object()
        .bucket(week.config.bucket.as_deref().unwrap())
        .key(&legacy_key)
        .body(b"old!".to_vec().into())
        .send()
        .await
        .unwrap();
    complete(month, &cid, &file_id).await;
    assert_eq!(
        stored_retention(month, &file_id).await,
        (Some(30), legacy_key)
    );
    let alice = client(month, "alice");
    let download = alice.download(&cid, &file_id, Query::new()).await;
    assert_eq!(download.status, 302);
}
