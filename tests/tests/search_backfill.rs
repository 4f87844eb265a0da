//! The file-search backfill (`shared::api::files_backfill`, run through the sweep function's
//! manual invocation) against real local DynamoDB: files stored the way completions stored them
//! before the index existed are not found, then are after a backfill in several cursor-linked
//! steps; deleted files stay out; a repeated run changes nothing visible.

use std::time::{Duration, Instant};

use groupshare_tests::*;
use serde_json::json;
use shared::api::files_backfill::{backfill_search, BackfillStep};
use shared::domain::model::{FileRecord, StoredFileStatus};
use shared::App;

/// A completed file's record as it was stored before the index: no entries, and the group's
/// `last_file_at` not set (written with `put_file_record`, not the completion).
fn legacy(cid: &str, name: &str, uploaded_at_ms: i64) -> FileRecord {
    groupshare_tests::available_file(cid, name, uploaded_at_ms)
}

/// Names a group search finds for `legacy`, deleted ones included, sorted.
async fn found_in(app: &App, cid: &str) -> Vec<String> {
    let query = Query::new().and("q", "legacy").and("include", "deleted");
    let r = client(app, "bob").files(cid, query).await.ok();
    let mut names: Vec<_> = r.files.into_iter().map(|f| f.name).collect();
    names.sort();
    names
}

/// File ids "all my files" finds for `legacy`, sorted.
async fn found_everywhere(app: &App) -> Vec<String> {
    let query = Query::new().and("q", "legacy").and("limit", "50");
    let r = client(app, "bob").all_files(query).await.ok();
    let mut ids: Vec<_> = r.files.into_iter().map(|f| f.file.file_id).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_backfill_in_steps_makes_old_files_findable_once() {
    let app = stack().await;
    let first = create_group(app, "alice", &["bob"]).await;
    let second = create_group(app, "alice", &["bob"]).await;
    let now = app.config.clock.now_ms();
    let mut live = Vec::new();
    for (i, name) in [
        "legacy-a.pdf",
        "legacy-b.pdf",
        "legacy-c.txt",
        "legacy-d.jpg",
    ]
    .into_iter()
    .enumerate()
    {
        live.push(legacy(&first, name, now - 10_000 + i as i64));
    }
    live.push(legacy(&second, "legacy-e.pdf", now - 5_000));
    let mut gone = legacy(&first, "legacy-gone.pdf", now - 4_000);
    gone.status = StoredFileStatus::Deleted;
    gone.deleted_at_ms = Some(now - 1_000);
    for f in live.iter().chain([&gone]) {
        app.store.put_file_record(f).await.unwrap();
    }
    assert!(found_in(app, &first).await.is_empty(), "not indexed yet");
    assert!(
        found_everywhere(app).await.is_empty(),
        "no group has a last_file_at"
    );

    // A deadline already passed: each step reads one page of 2 items and hands on a cursor.
    let (mut cursor, mut steps, mut total) = (None, 0, BackfillStep::default());
    loop {
        let step = backfill_search(app, cursor.take(), Instant::now(), 2)
            .await
            .unwrap();
        steps += 1;
        total.indexed += step.indexed;
        total.skipped += step.skipped;
        match step.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(steps < 20, "the cursor moves on");
    }
    assert!(steps >= 3, "six items in pages of two: {steps} steps");
    assert_eq!(
        (total.indexed, total.skipped),
        (5, 0),
        "the deleted file is not read"
    );

    let expected_first = [
        "legacy-a.pdf",
        "legacy-b.pdf",
        "legacy-c.txt",
        "legacy-d.jpg",
    ];
    assert_eq!(
        found_in(app, &first).await,
        expected_first,
        "found, the deleted one not"
    );
    assert_eq!(found_in(app, &second).await, ["legacy-e.pdf"]);
    let mut all_ids: Vec<_> = live.iter().map(|f| f.file_id.clone()).collect();
    all_ids.sort();
    assert_eq!(
        found_everywhere(app).await,
        all_ids,
        "both groups' last_file_at set"
    );

    // A second run, as an operator would start it (the function's manual payload, one step
    // within the invocation's time), writes the same entries again: nothing visible changes.
    let answer = sweep_uploads::handle_event(
        app,
        None,
        json!({"backfill_search": {"after": null}}),
        Instant::now() + Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(answer, json!({"indexed": 5, "skipped": 0, "next": null}));
    assert_eq!(found_in(app, &first).await, expected_first);
    assert_eq!(found_in(app, &second).await, ["legacy-e.pdf"]);
    assert_eq!(found_everywhere(app).await, all_ids);
    let gone_now = app.store.get_file(&gone.file_id).await.unwrap().unwrap();
    assert_eq!(gone_now.status, StoredFileStatus::Deleted);
}

/// A file deleted after the scan read it is skipped, not indexed: the write is conditioned on
/// the record still being available.
#[tokio::test]
async fn a_file_deleted_before_its_turn_is_skipped() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let now = app.config.clock.now_ms();
    let file = legacy(&cid, "legacy-late.pdf", now - 1_000);
    app.store.put_file_record(&file).await.unwrap();
    let page = app.store.scan_available_files(None, 10).await.unwrap();
    assert_eq!(page.files.len(), 1);
    let mut deleted = file.clone();
    deleted.status = StoredFileStatus::Deleted;
    deleted.deleted_at_ms = Some(now);
    app.store.put_file_record(&deleted).await.unwrap();
    assert!(!app.store.index_existing_file(&page.files[0]).await.unwrap());
    assert!(found_in(app, &cid).await.is_empty());
}

/// The function's manual payload: anything malformed is a clear error, never a sweep nor a
/// panic; the schedule's event is still the sweep.
#[tokio::test]
async fn the_manual_payload_is_checked() {
    use sweep_uploads::{parse, Invocation};
    let scheduled = json!({"version": "0", "detail-type": "Scheduled Event", "detail": {}});
    assert_eq!(parse(&scheduled).unwrap(), Invocation::Sweep);
    assert_eq!(parse(&json!(null)).unwrap(), Invocation::Sweep);
    let backfill = parse(&json!({"backfill_search": {"after": "f-1"}})).unwrap();
    assert!(matches!(backfill, Invocation::Backfill(r) if r.after.as_deref() == Some("f-1")));
    for bad in [
        json!({"backfill_search": {"after": 5}}),
        json!({"backfill_search": {"afer": null}}),
        json!({"backfill_search": null}),
        json!({"backfill_search": {}, "extra": 1}),
    ] {
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidBody, "{bad}");
    }
    let app = stack().await;
    let e = sweep_uploads::handle_event(
        app,
        None,
        json!({"backfill_search": {"after": ""}}),
        Instant::now() + Duration::from_secs(60),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidCursor);
}
