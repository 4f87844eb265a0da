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
        uploaded.push(
            up(
                app,
                &cid,
                "alice",
                &format!("minutes-{i}.txt"),
                "text/plain",
            )
            .await,
        );
        up(app, &cid, "alice", &format!("other-{i}.txt"), "text/plain").await;
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
