//! File search (`GET /conversations/{cid}/files` with filters) and all my files (`GET /files`)
//! against real local DynamoDB and S3: files go through the real upload and completion, so
//! what is findable is what the completion's transaction indexed.

use groupshare_tests::*;
use shared::domain::model::FileStatus;
use shared::domain::search::FileKind;
use shared::App;

const DAY_MS: i64 = 86_400_000;

/// Uploads through the API; returns the file id and its message's seq.
async fn upload_seq(
    app: &App,
    cid: &str,
    user: &str,
    name: &str,
    content_type: &str,
) -> (String, u64) {
    let api = client(app, user);
    let bytes = format!("bytes of {name}").into_bytes();
    let sha256 = sha256_hex(&bytes);
    let body = upload_body(&unique("u"), name, bytes.len(), content_type, Some(&sha256));
    let ticket = api.create_upload(cid, body).await.created();
    let sent = post_form(&ticket.upload, bytes).await;
    assert!(sent.status().is_success());
    let message = api.complete_upload(cid, &ticket.file_id).await.created();
    (ticket.file_id, message.seq)
}

async fn up(app: &App, cid: &str, user: &str, name: &str, content_type: &str) -> String {
    upload_seq(app, cid, user, name, content_type).await.0
}

/// Names of a group search's first page.
async fn names(app: &App, user: &str, cid: &str, query: Query) -> Vec<String> {
    let r = client(app, user).files(cid, query).await.ok();
    r.files.into_iter().map(|f| f.name).collect()
}

fn q(text: &str) -> Query {
    Query::new().and("q", text)
}

#[tokio::test]
async fn name_search_is_case_insensitive_and_finds_cjk() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    for name in [
        "Q3-Report-final.PDF",
        "季度报告.pdf",
        "holiday.jpg",
        "reporter-notes.txt",
    ] {
        up(app, &cid, "alice", name, "application/octet-stream").await;
    }
    assert_eq!(names(app, "bob", &cid, q("报告")).await, ["季度报告.pdf"]);
    assert_eq!(
        names(app, "bob", &cid, q("季度报告")).await,
        ["季度报告.pdf"]
    );
    assert_eq!(
        names(app, "bob", &cid, q("report-final")).await,
        ["Q3-Report-final.PDF"]
    );
    assert_eq!(
        names(app, "bob", &cid, q("REPORT FINAL")).await,
        ["Q3-Report-final.PDF"]
    );
    // A word's start finds every name with a word starting so, newest first.
    assert_eq!(
        names(app, "bob", &cid, q("rep")).await,
        ["reporter-notes.txt", "Q3-Report-final.PDF"]
    );
    assert!(names(app, "bob", &cid, q("invoice")).await.is_empty());
    // Without filters the list is the list it was: every file.
    assert_eq!(names(app, "bob", &cid, Query::new()).await.len(), 4);
    let alice = client(app, "alice");
    let r = alice.files(&cid, q("x")).await;
    assert_eq!(r.error(), (400, ErrorCode::QueryTooShort));
    let r = alice.files(&cid, q(&"long".repeat(30))).await;
    assert_eq!(r.error(), (400, ErrorCode::QueryTooLong));
}

#[tokio::test]
async fn type_comes_from_the_content_type_and_the_extension() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let png = up(app, &cid, "alice", "camera-upload.bin", "image/png").await;
    let pdf = up(app, &cid, "alice", "scan.PDF", "application/octet-stream").await;
    let txt = up(app, &cid, "alice", "notes", "text/plain").await;
    let zip = up(app, &cid, "alice", "photos.zip", "application/octet-stream").await;
    let odd = up(app, &cid, "alice", "data.xyz", "application/octet-stream").await;
    let alice = client(app, "alice");
    let ids = |t: &str| {
        let alice = alice.clone();
        let q = Query::new().and("type", t);
        let cid = cid.clone();
        async move {
            let r = alice.files(&cid, q).await.ok();
            r.files.into_iter().map(|f| f.file_id).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("image").await, [png.as_str()]);
    assert_eq!(ids("document").await, [txt.clone(), pdf.clone()]);
    assert_eq!(ids("archive").await, [zip.as_str()]);
    assert_eq!(ids("other").await, [odd.as_str()]);
    assert!(ids("video").await.is_empty());
    assert_eq!(
        alice.file_info(&cid, &png).await.ok().kind,
        FileKind::Image,
        "file info names the kind too"
    );
    let r = alice
        .files(&cid, Query::new().and("type", "spreadsheet"))
        .await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidFilter));
}

#[tokio::test]
async fn uploader_and_date_range() {
    let app = stack_with(Options {
        retention_days: 0,
        ..Options::default()
    })
    .await;
    let clock = &app.config.clock;
    let cid = create_group(app, "alice", &["bob"]).await;
    clock.shift(-30 * DAY_MS);
    let old = up(app, &cid, "alice", "old-plan.txt", "text/plain").await;
    clock.shift(20 * DAY_MS);
    let mid = up(app, &cid, "bob", "mid-plan.txt", "text/plain").await;
    clock.shift(10 * DAY_MS);
    let new = up(app, &cid, "alice", "new-plan.txt", "text/plain").await;
    let now = clock.now_ms();
    let date = |ms: i64| shared::domain::time::rfc3339(ms)[..10].to_string();
    let ids = |query: Query| {
        let cid = cid.clone();
        async move {
            let r = client(app, "bob").files(&cid, query).await.ok();
            r.files.into_iter().map(|f| f.file_id).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(Query::new().and("uploader", "alice")).await,
        [new.clone(), old.clone()]
    );
    assert_eq!(
        ids(Query::new().and("uploader", "bob")).await,
        [mid.as_str()]
    );
    let after = shared::domain::time::rfc3339(now - 15 * DAY_MS);
    assert_eq!(
        ids(q("plan").and("after", &after)).await,
        [new.clone(), mid.clone()]
    );
    assert_eq!(
        ids(q("plan").and("before", date(now - 5 * DAY_MS))).await,
        [mid.clone(), old.clone()]
    );
    assert_eq!(
        ids(Query::new()
            .and("after", date(now - 15 * DAY_MS))
            .and("before", date(now - 5 * DAY_MS))
            .and("uploader", "bob"))
        .await,
        [mid.as_str()]
    );
    let r = client(app, "bob")
        .files(&cid, Query::new().and("after", "last week"))
        .await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidFilter));
}

#[tokio::test]
async fn search_pages_newest_first_with_a_stable_cursor() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let mut uploaded = Vec::new();
    for i in 0..7 {
        let (minutes, other) = (format!("minutes-{i}.txt"), format!("other-{i}.txt"));
        uploaded.push(up(app, &cid, "alice", &minutes, "text/plain").await);
        up(app, &cid, "alice", &other, "text/plain").await;
    }
    uploaded.reverse();
    let bob = client(app, "bob");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = q("minutes").and("limit", 3);
        if let Some(c) = &cursor {
            query = query.and("cursor", c);
        }
        let page = bob.files(&cid, query).await.ok();
        pages += 1;
        seen.extend(page.files.into_iter().map(|f| f.file_id));
        if pages == 1 {
            // A file shared meanwhile is newer than the cursor: it shifts nothing.
            up(app, &cid, "bob", "minutes-late.txt", "text/plain").await;
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, uploaded, "every match once, newest first");
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn expired_and_deleted_files_only_when_asked() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let (recalled, seq) = upload_seq(app, &cid, "alice", "draft-a.txt", "text/plain").await;
    let kept = up(app, &cid, "alice", "draft-b.txt", "text/plain").await;
    let bob = client(app, "bob");
    assert_eq!(names(app, "bob", &cid, q("draft")).await.len(), 2);

    client(app, "alice").delete_message(&cid, seq).await.ok();
    assert_eq!(
        names(app, "bob", &cid, q("draft")).await,
        ["draft-b.txt"],
        "a recalled file is not found"
    );
    assert_eq!(
        names(app, "bob", &cid, q("draft").and("include", "deleted")).await,
        ["draft-b.txt"],
        "its name went with it"
    );
    let listed = bob
        .files(&cid, Query::new().and("include", "deleted"))
        .await
        .ok();
    let gone: Vec<_> = listed
        .files
        .iter()
        .filter(|f| f.status == FileStatus::Deleted)
        .collect();
    assert_eq!(gone.len(), 1);
    assert_eq!(
        (gone[0].file_id.as_str(), gone[0].name.as_str()),
        (recalled.as_str(), "")
    );

    app.config.clock.shift(8 * DAY_MS);
    assert!(
        names(app, "bob", &cid, q("draft")).await.is_empty(),
        "expired files are left out"
    );
    let r = bob
        .files(&cid, q("draft").and("include", "expired"))
        .await
        .ok();
    assert_eq!(r.files.len(), 1);
    assert_eq!(
        (r.files[0].file_id.as_str(), r.files[0].status),
        (kept.as_str(), FileStatus::Expired)
    );
    let r = bob.all_files(q("draft")).await.ok();
    assert!(r.files.is_empty());
    let r = bob
        .files(&cid, Query::new().and("include", "everything"))
        .await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidFilter));
}

#[tokio::test]
async fn all_my_files_merges_groups_newest_first_under_one_cursor() {
    let app = stack().await;
    let groups = [
        create_group(app, "alice", &["bob"]).await,
        create_group(app, "carol", &["bob"]).await,
        create_group(app, "dave", &["bob"]).await,
    ];
    let outside = create_group(app, "erin", &[]).await;
    up(app, &outside, "erin", "notes-secret.txt", "text/plain").await;
    let owners = ["alice", "carol", "dave"];
    let mut expected = Vec::new();
    for i in 0..9 {
        let g = [0, 0, 1, 2, 1, 0, 2, 2, 1][i];
        let id = up(
            app,
            &groups[g],
            owners[g],
            &format!("notes-{i}.txt"),
            "text/plain",
        )
        .await;
        expected.push((id, groups[g].clone()));
    }
    expected.reverse();
    let bob = client(app, "bob");
    for query in [Query::new(), q("notes")] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut page_query = query.clone().and("limit", 4);
            if let Some(c) = &cursor {
                page_query = page_query.and("cursor", c);
            }
            let page = bob.all_files(page_query).await.ok();
            for f in page.files {
                assert_eq!(f.conversation_title, "Team");
                seen.push((f.file.file_id, f.file.conversation_id));
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, expected, "{query}");
    }
    // A group cursor is not an all-files cursor.
    let page = bob.files(&groups[0], Query::limit(1)).await.ok();
    let r = bob
        .all_files(Query::new().and("cursor", page.cursor.unwrap()))
        .await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidCursor));
}

#[tokio::test]
async fn a_removed_member_no_longer_finds_the_groups_files() {
    let app = stack().await;
    let left = create_group(app, "alice", &["bob"]).await;
    let stays = create_group(app, "carol", &["bob"]).await;
    up(
        app,
        &left,
        "alice",
        "budget-2026.xlsx",
        "application/octet-stream",
    )
    .await;
    let kept = up(
        app,
        &stays,
        "carol",
        "budget-2027.xlsx",
        "application/octet-stream",
    )
    .await;
    let bob = client(app, "bob");
    assert_eq!(bob.all_files(q("budget")).await.ok().files.len(), 2);
    assert_eq!(names(app, "bob", &left, q("budget")).await.len(), 1);

    client(app, "alice")
        .remove_member(&left, "bob")
        .await
        .success();
    let r = bob.files(&left, q("budget")).await;
    assert_eq!(r.error(), (404, ErrorCode::NotFound));
    let never = client(app, "mallory").files(&left, q("budget")).await;
    let nowhere = bob.files(&unique("c"), q("budget")).await;
    assert_eq!(never.json, r.json, "a non-member's 404 is the same");
    assert_eq!(nowhere.json, r.json, "and is not-found's");
    let all = bob.all_files(q("budget")).await.ok();
    let ids: Vec<_> = all.files.iter().map(|f| f.file.file_id.clone()).collect();
    assert_eq!(ids, [kept]);
    assert_eq!(all.files[0].conversation_title, "Team");
}

/// A non-member's 404 does not wait for the guarded work (a search reads the index while the
/// membership is looked up): how long that work would take, which depends on the group's
/// files, is not theirs to time. The work here never ends; the bound only fails the test.
#[tokio::test]
async fn a_non_members_answer_does_not_wait_for_the_guarded_work() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    client(app, "alice")
        .remove_member(&cid, "bob")
        .await
        .success();
    let bob = shared::domain::caller::Caller {
        user_id: "bob".into(),
        name_hint: None,
        email: None,
    };
    let never = futures::future::pending::<Result<(), shared::ApiError>>();
    let guarded = shared::api::as_member(app, &bob, &cid, never);
    let answer = tokio::time::timeout(std::time::Duration::from_secs(60), guarded)
        .await
        .expect("the 404 waited for the work");
    assert_eq!(answer.unwrap_err().code, ErrorCode::NotFound);
}

/// A deleted file is found by time and uploader only: a recall that commits between the index
/// read and the files' read must not let a name search with `include=deleted` list it (which
/// would tell the searcher its name matched).
#[tokio::test]
async fn a_file_recalled_mid_search_is_not_a_name_searchs_deleted_hit() {
    let (app, hook) = raced_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let (_, seq) = upload_seq(app, &cid, "alice", "secret-plan.txt", "text/plain").await;
    let group = cid.clone();
    hook.arm_before("BatchGetItem", None, move || {
        on_another_device(app, move |other| async move {
            client(other, "alice")
                .delete_message(&group, seq)
                .await
                .ok();
        })
    });
    let query = q("secret").and("include", "deleted");
    let r = client(app, "bob").files(&cid, query).await.ok();
    assert!(hook.fired(), "the recall came between the reads");
    assert_eq!(r.files.len(), 0, "{:?}", r.files);
}

/// `GET /files` takes the caller's groups from their profile, then reads the index: a removal
/// (and a file posted after it) committed in between must not show the removed member that
/// group's files, new or old.
#[tokio::test]
async fn all_files_leaves_out_a_group_the_caller_was_removed_from_mid_search() {
    let (app, hook) = raced_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let stays = create_group(app, "carol", &["bob"]).await;
    upload_seq(app, &cid, "alice", "budget-before.txt", "text/plain").await;
    let kept = up(app, &stays, "carol", "budget-kept.txt", "text/plain").await;
    let table = app.config.tables.file_search.clone();
    let group = cid.clone();
    hook.arm_before("Query", Some(&table), move || {
        on_another_device(app, move |other| async move {
            let alice = client(other, "alice");
            alice.remove_member(&group, "bob").await.success();
            up(other, &group, "alice", "budget-after.txt", "text/plain").await;
        })
    });
    let r = client(app, "bob").all_files(q("budget")).await.ok();
    assert!(hook.fired(), "the removal came between the reads");
    let ids: Vec<_> = r.files.iter().map(|f| f.file.file_id.clone()).collect();
    assert_eq!(ids, [kept]);
}

async fn seed(app: &App, files: Vec<shared::domain::model::FileRecord>) {
    use futures::StreamExt;
    futures::stream::iter(files)
        .for_each_concurrent(8, |f| async move {
            app.store.seed_indexed_file(&f).await.unwrap()
        })
        .await;
}

/// The cost of a selective search follows its hits, not the group: index items read (counted
/// from DynamoDB's answers, not timed) and round trips.
#[tokio::test]
async fn a_selective_search_reads_few_items_in_a_big_group() {
    let (app, counter) = counted_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let now = app.config.clock.now_ms();
    let mut files: Vec<_> = (0..400)
        .map(|i| available_file(&cid, &format!("photo-{i:04}.jpg"), now - 1_000_000 + i))
        .collect();
    for i in 0..3 {
        files.push(available_file(
            &cid,
            &format!("Budget-{i}.xlsx"),
            now - 500_000 + i * 1_000,
        ));
    }
    seed(app, files).await;
    let bob = client(app, "bob");

    counter.reset();
    let r = bob.files(&cid, q("budget")).await.ok();
    assert_eq!(r.files.len(), 3);
    assert_eq!(
        counter.items_scanned(),
        3,
        "the three hits, nothing else of 403 files"
    );
    assert_eq!(
        counter.read(),
        (3, 2),
        "membership with the index, then the files"
    );

    counter.reset();
    let r = bob.files(&cid, q("photo").and("limit", 20)).await.ok();
    assert_eq!(r.files.len(), 20);
    assert_eq!(counter.items_scanned(), 21, "one page and one more");

    counter.reset();
    let r = bob.all_files(q("budget")).await.ok();
    assert_eq!(r.files.len(), 3);
    assert_eq!(counter.items_scanned(), 3);
}

/// `GET /files` over many groups searches only those whose newest file can still make the
/// page: here the newest group alone fills it, and one wave of groups is read.
#[tokio::test]
async fn all_my_files_reads_only_the_groups_that_can_make_the_page() {
    let (app, counter) = counted_stack().await;
    let now = app.config.clock.now_ms();
    let mut groups = Vec::new();
    let mut files = Vec::new();
    for g in 0..30i64 {
        let cid = create_group(app, "alice", &["bob"]).await;
        for k in 0..10 {
            files.push(available_file(
                &cid,
                &format!("g{g}-{k}.txt"),
                now - 10_000_000 + g * 10_000 + k,
            ));
        }
        groups.push(cid);
    }
    seed(app, files).await;
    counter.reset();
    let page = client(app, "bob").all_files(Query::limit(10)).await.ok();
    let newest = groups.last().unwrap();
    assert!(page.files.iter().all(|f| f.file.conversation_id == *newest));
    let queries = counter
        .calls()
        .iter()
        .filter(|c| c.operation == "Query")
        .count();
    assert_eq!(queries, 8, "one wave of groups, not all 30");
    assert!(
        counter.items_scanned() <= 8 * 11,
        "{}",
        counter.items_scanned()
    );
    let ops: Vec<String> = counter.calls().into_iter().map(|c| c.operation).collect();
    assert_eq!(
        ops.first().map(String::as_str),
        Some("GetItem"),
        "the profile"
    );
    assert_eq!(ops[1], "BatchGetItem", "the groups' newest upload times");
    assert_eq!(
        ops[ops.len() - 2..],
        ["BatchGetItem", "BatchGetItem"],
        "the page's files and the caller's memberships of their groups"
    );
    assert_eq!(ops.len(), 12);
}

/// The benchmark of issue #27: a group of 10,000 files and a caller in 200 groups. Prints the
/// p50 of each search and the index items it read. Not a test (it asserts no timings):
/// `cargo test -p groupshare-tests --test search -- --ignored --nocapture bench_`
#[tokio::test]
#[ignore]
async fn bench_search_big_group_and_many_groups() {
    let (app, counter) = counted_stack().await;
    let now = app.config.clock.now_ms();
    let started = std::time::Instant::now();
    let big = create_group(app, "alice", &["bob"]).await;
    let words = [
        "report", "photo", "invoice", "minutes", "slides", "scan", "draft", "budget",
    ];
    let mut files: Vec<_> = (0..10_000i64)
        .map(|i| {
            let w = words[(i as usize * 7) % words.len()];
            available_file(
                &big,
                &format!("{w}-{i:05}-final.pdf"),
                now - 20_000_000 + i * 1_000,
            )
        })
        .collect();
    for i in 0..5 {
        files.push(available_file(
            &big,
            &format!("季度报告-{i}.pdf"),
            now - 15_000_000 + i,
        ));
        files.push(available_file(
            &big,
            &format!("Zebra-Contract-{i}.docx"),
            now - 12_000_000 + i,
        ));
    }
    let mut groups = vec![big.clone()];
    for g in 0..199i64 {
        let cid = create_group(app, "carol", &["bob"]).await;
        for k in 0..5 {
            let w = words[(g + k) as usize % words.len()];
            files.push(available_file(
                &cid,
                &format!("{w}-g{g}-{k}.txt"),
                now - 30_000_000 + g * 50_000 + k * 7_000,
            ));
        }
        if g % 50 == 0 {
            files.push(available_file(
                &cid,
                &format!("Zebra-Contract-g{g}.docx"),
                now - 25_000_000 + g,
            ));
        }
        groups.push(cid);
    }
    let total = files.len();
    seed(app, files).await;
    println!(
        "seeded {total} files in {} groups in {:?}",
        groups.len(),
        started.elapsed()
    );

    let bob = client(app, "bob");
    let runs = 21;
    let mut report = Vec::new();
    for (label, scope, query) in [
        ("group, q=zebra (5 hits)", Some(&big), q("zebra")),
        ("group, q=报告 (5 hits)", Some(&big), q("报告")),
        (
            "group, q=report (1,250 hits), first page of 50",
            Some(&big),
            q("report"),
        ),
        (
            "group, type=document, first page of 50",
            Some(&big),
            Query::new().and("type", "document"),
        ),
        (
            "group, no filter listing, first page of 50",
            Some(&big),
            Query::new(),
        ),
        ("all files (200 groups), q=zebra (9 hits)", None, q("zebra")),
        (
            "all files (200 groups), no filter, first page of 50",
            None,
            Query::new(),
        ),
        (
            "all files (200 groups), q=report, first page of 50",
            None,
            q("report"),
        ),
    ] {
        let mut times = Vec::new();
        let mut items = 0;
        let mut calls = 0;
        let mut hits = 0;
        for _ in 0..runs {
            counter.reset();
            let t = std::time::Instant::now();
            hits = match scope {
                Some(cid) => bob.files(cid, query.clone()).await.ok().files.len(),
                None => bob.all_files(query.clone()).await.ok().files.len(),
            };
            times.push(t.elapsed());
            items = counter.items_scanned();
            calls = counter.read().0;
        }
        times.sort();
        report.push(format!(
            "| {label} | {hits} | {items} | {calls} | {:.1} ms |",
            times[runs / 2].as_secs_f64() * 1000.0
        ));
    }
    println!("| search | files returned | index items read | DynamoDB calls | p50 ({runs} runs) |");
    println!("|---|---|---|---|---|");
    for line in report {
        println!("{line}");
    }
}

/// Files completed before the index are found once backfilled, and only if still available:
/// a file deleted before its backfill stays out of the index.
#[tokio::test]
async fn a_backfill_indexes_only_files_still_available() {
    use shared::domain::model::StoredFileStatus;
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let now = app.config.clock.now_ms();
    let live = available_file(&cid, "old-report.pdf", now - 1_000);
    let mut gone = available_file(&cid, "old-secret.pdf", now - 500);
    gone.status = StoredFileStatus::Deleted;
    gone.deleted_at_ms = Some(now - 100);
    app.store.put_file_record(&live).await.unwrap();
    app.store.put_file_record(&gone).await.unwrap();
    assert!(
        names(app, "bob", &cid, q("old")).await.is_empty(),
        "not indexed yet"
    );
    assert!(client(app, "bob")
        .all_files(q("old"))
        .await
        .ok()
        .files
        .is_empty());

    assert!(app.store.index_existing_file(&live).await.unwrap());
    assert!(!app.store.index_existing_file(&gone).await.unwrap());
    let everything = q("old").and("include", "deleted");
    assert_eq!(
        names(app, "bob", &cid, everything).await,
        ["old-report.pdf"]
    );
    let all = client(app, "bob").all_files(q("old")).await.ok();
    assert_eq!(
        all.files.len(),
        1,
        "the group's newest upload time was set too"
    );
}

/// A forwarded file becomes available through the upload's own completion, so it is found in
/// its new group, and "all my files" shows it to whoever is in that group.
#[tokio::test]
async fn a_forwarded_file_is_found_in_its_new_group() {
    let app = stack().await;
    let source = create_group(app, "alice", &["bob"]).await;
    let target = create_group(app, "bob", &["carol"]).await;
    let original = up(app, &source, "alice", "Roadmap-2027.pdf", "application/pdf").await;
    let forwarded = client(app, "bob")
        .forward(&source, &original, &target, "fwd-1")
        .await
        .created();
    let copy = forwarded.file.file_id;
    let found = client(app, "carol").files(&target, q("roadmap")).await.ok();
    let ids: Vec<_> = found.files.into_iter().map(|f| f.file_id).collect();
    assert_eq!(ids, [copy.as_str()]);
    let carol = client(app, "carol").all_files(q("roadmap")).await.ok();
    assert_eq!(carol.files.len(), 1, "carol is not in the source group");
    let bob = client(app, "bob").all_files(q("roadmap")).await.ok();
    let mut both: Vec<_> = bob.files.into_iter().map(|f| f.file.file_id).collect();
    both.sort();
    let mut expected = vec![original, copy];
    expected.sort();
    assert_eq!(both, expected);
}

/// Time filters are compared as the index's sort key text (`{ms:013}#{file id}`): a bound with
/// more than 13 digits (any time from 2286-11-20 on) sorts below every real upload, so
/// `before=2400-01-01` finds nothing, and `after=…&before=2400-01-01` sends DynamoDB a
/// `BETWEEN lo AND hi` with lo > hi, which DynamoDB refuses (ValidationException, a 500 here;
/// moto answers nothing instead). A reversed range (`after` later than `before`) is the same
/// refused BETWEEN on AWS.
#[tokio::test]
async fn far_future_and_reversed_time_bounds_answer_sensibly() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let id = up(app, &cid, "alice", "far-plan.txt", "text/plain").await;
    let bob = client(app, "bob");
    let ids = |query: Query| {
        let (bob, cid) = (bob.clone(), cid.clone());
        async move {
            let r = bob.files(&cid, query).await.ok();
            r.files.into_iter().map(|f| f.file_id).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(Query::new().and("before", "2200-01-01")).await,
        [id.as_str()]
    );
    assert_eq!(
        ids(Query::new().and("before", "2400-01-01")).await,
        [id.as_str()],
        "an upload of today is before 2400"
    );
    assert_eq!(
        ids(q("plan")
            .and("after", "2000-01-01")
            .and("before", "2400-01-01"))
        .await,
        [id.as_str()]
    );
    // `after` later than `before`: no file can match; a clear 400, never DynamoDB's refusal.
    let r = bob
        .files(
            &cid,
            Query::new()
                .and("after", "2030-01-01")
                .and("before", "2020-01-01"),
        )
        .await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidFilter));
}

/// Every filter a search takes, with paging and thumbnails, is 9 parameters: the next page of
/// such a search (its cursor is the 9th) must not be refused by the bound on how many
/// parameters a query may have.
#[tokio::test]
async fn a_search_with_every_filter_pages_on() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    for name in ["plan-a.txt", "plan-b.txt"] {
        up(app, &cid, "alice", name, "text/plain").await;
    }
    let query = || {
        q("plan")
            .and("type", "document")
            .and("uploader", "alice")
            .and("after", "2000-01-01")
            .and("before", "2200-01-01")
            .and("include", "expired")
            .and("limit", "1")
            .and("preview_urls", "small")
    };
    let bob = client(app, "bob");
    let first = bob.files(&cid, query()).await.ok();
    assert_eq!(first.files.len(), 1);
    let cursor = first.cursor.expect("a second page");
    let second = bob.files(&cid, query().and("cursor", &cursor)).await;
    assert_eq!(second.status, 200, "{:?}", second.json);
    assert_eq!(second.ok().files[0].name, "plan-a.txt");
}
