//! Each read costs one storage round trip of latency: the membership check runs concurrently
//! with the data lookup (counted with an SDK interceptor, not timed), and downloads make no S3
//! call at all.

use groupshare_tests::*;

#[tokio::test]
async fn reads_overlap_the_membership_check_with_the_lookup() {
    let (app, counter) = counted_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let file_id = upload(app, &cid, "alice", "a.txt", "text/plain", b"a").await;

    let bob = client(app, "bob");
    let (cid, file_id) = (cid.as_str(), file_id.as_str());
    for (name, status) in [
        ("history", 200),
        ("file info", 200),
        ("batch file info", 200),
        ("file list", 200),
        ("download", 302),
    ] {
        counter.reset();
        let r = match name {
            "history" => bob.messages(cid, Query::new()).await.typed(),
            "file info" => bob.file_info(cid, file_id).await.typed(),
            "batch file info" => bob.files_batch(cid, &[file_id, "x", "y"]).await.typed(),
            "file list" => bob.files(cid, Query::new()).await.typed(),
            _ => bob.download(cid, file_id, Query::new()).await.typed::<()>(),
        };
        assert_eq!(r.status, status, "{name}: {:?}", r.json);
        assert_eq!(
            counter.read(),
            (2, 2),
            "{name}: two DynamoDB calls, both in flight together"
        );
    }
}

/// A send costs two round trips of latency when it does not race: the counters, the
/// idempotency record and the sender's membership are read together, then one transaction
/// (which checks the membership again) commits.
#[tokio::test]
async fn a_send_reads_once_then_commits_once() {
    let (app, counter) = counted_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    counter.reset();
    let r = client(app, "bob").post_message(&cid, "m1", "hi").await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(
        counter.read(),
        (4, 3),
        "three reads together, then the transaction"
    );
}

/// What a send writes does not depend on the group's size (#26): one transaction of the same
/// four parts (the conversation's counter, last activity and preview; the message; the
/// idempotency record; the sender's member item, whose read marker moves to the message) for
/// a group of 2 and one of 40. Nothing is written per member.
#[tokio::test]
async fn a_send_writes_the_same_four_parts_whatever_the_group_size() {
    let (app, counter) = counted_stack().await;
    let many: Vec<String> = (0..39).map(|i| format!("member-{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut seen = Vec::new();
    for members in [&["bob"][..], &many[..]] {
        let cid = create_group(app, "alice", members).await;
        counter.reset();
        client(app, "alice")
            .post_message(&cid, "m1", "hi")
            .await
            .created();
        let mut calls = counter.calls();
        calls.sort_by(|a, b| a.operation.cmp(&b.operation));
        seen.push(calls);
    }
    let get = |_| Call {
        operation: "GetItem".into(),
        items: 1,
    };
    let mut expected: Vec<Call> = (0..3).map(get).collect();
    expected.push(Call {
        operation: "TransactWriteItems".into(),
        items: 4,
    });
    assert_eq!(seen[0], expected, "2 members");
    assert_eq!(seen[1], expected, "40 members");
}

/// `PUT …/read`: the membership and the conversation (for `last_seq`) read together, then one
/// conditional update of the member item.
#[tokio::test]
async fn marking_read_reads_once_then_updates_once() {
    let (app, counter) = counted_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    counter.reset();
    client(app, "bob").mark_read(&cid, 1).await.ok();
    assert_eq!(counter.read(), (3, 2));
    let ops: Vec<String> = counter.calls().into_iter().map(|c| c.operation).collect();
    assert_eq!(ops[2], "UpdateItem");
}

/// The group list's reads: the caller's profile (their groups), then every one of their groups'
/// items (a `BatchGetItem` per 100, all in flight together), then their memberships of the
/// page's groups. Three round trips; the items read grow with the caller's groups, not with
/// the page (docs/decisions.md, "The group list by activity"), and not with history.
#[tokio::test]
async fn the_group_list_reads_the_profile_every_group_then_the_pages_memberships() {
    let (app, counter) = counted_stack().await;
    for _ in 0..150 {
        create_group(app, "owner", &["dana"]).await;
    }
    let busy = create_group(app, "owner", &["dana"]).await;
    for i in 0..30 {
        send_text(app, &busy, "owner", &format!("m{i}")).await;
    }
    counter.reset();
    let page = client(app, "dana")
        .conversations(Query::limit(20))
        .await
        .ok();
    assert_eq!(page.conversations.len(), 20);
    assert_eq!(page.conversations[0].conversation.conversation_id, busy);
    assert_eq!(page.conversations[0].unread_count, 31);
    let calls = counter.calls();
    let summary: Vec<(&str, usize)> = calls
        .iter()
        .map(|c| (c.operation.as_str(), c.items))
        .collect();
    let mut batches = summary[1..3].to_vec();
    batches.sort();
    assert_eq!(summary[0], ("GetItem", 1), "the profile");
    assert_eq!(
        batches,
        [("BatchGetItem", 51), ("BatchGetItem", 100)],
        "every group"
    );
    assert_eq!(summary[3], ("BatchGetItem", 20), "the page's memberships");
    assert_eq!(counter.read(), (4, 2), "three round trips");
}

/// A file search is two round trips: the membership with the index Query, then the page's
/// files; `GET /files` four: the profile, the groups' newest upload times, the index Queries of
/// the groups that can make the page (together), the page's files with the caller's
/// memberships of their groups (together). A file message's deletion
/// reads the file once more (its search entries' keys) and deletes them in its transaction.
#[tokio::test]
async fn searches_read_the_index_then_the_pages_files() {
    let (app, counter) = counted_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let other = create_group(app, "carol", &["bob"]).await;
    // A group without files is not searched.
    create_group(app, "dave", &["bob"]).await;
    upload(app, &cid, "alice", "Plan-A.txt", "text/plain", b"a").await;
    upload(app, &other, "carol", "plan-b.txt", "text/plain", b"b").await;
    let bob = client(app, "bob");

    counter.reset();
    let r = bob.files(&cid, Query::new().and("q", "plan")).await.ok();
    assert_eq!(r.files.len(), 1);
    let ops: Vec<(String, usize)> = counter
        .calls()
        .into_iter()
        .map(|c| (c.operation, c.items))
        .collect();
    let mut first: Vec<_> = ops[..2].to_vec();
    first.sort();
    assert_eq!(
        first,
        [("GetItem".to_string(), 1), ("Query".to_string(), 0)]
    );
    assert_eq!(ops[2], ("BatchGetItem".to_string(), 1), "the page's file");
    assert_eq!(counter.read(), (3, 2), "two round trips");

    counter.reset();
    let r = bob.all_files(Query::new().and("q", "plan")).await.ok();
    assert_eq!(r.files.len(), 2);
    let ops: Vec<&str> = counter
        .calls()
        .iter()
        .map(|c| match c.operation.as_str() {
            "GetItem" => "GetItem",
            "Query" => "Query",
            _ => "BatchGetItem",
        })
        .collect();
    assert_eq!(
        ops,
        [
            "GetItem",
            "BatchGetItem",
            "Query",
            "Query",
            "BatchGetItem",
            "BatchGetItem"
        ]
    );
    assert_eq!(
        counter.read().1,
        2,
        "the groups' Queries together, the files and memberships together: four round trips"
    );
}

/// Not a test: the figures in docs/performance.md ("The group list and read markers"). Run
/// `cargo test -p groupshare-tests --test round_trips -- --ignored --nocapture measure` (debug
/// build, on moto: the times are mostly moto's).
#[tokio::test]
#[ignore]
async fn measure_the_group_list_and_a_send() {
    let (app, counter) = counted_stack().await;
    println!("| groups of the caller | page | DynamoDB calls | round trips | items read | list p50 | list p95 |");
    println!("|---|---|---|---|---|---|---|");
    let mut made = 0;
    for groups in [1usize, 10, 50, 100, 300] {
        while made < groups {
            create_group(app, "owner", &["dana"]).await;
            made += 1;
        }
        let dana = client(app, "dana");
        let mut times = Vec::new();
        let mut calls = Vec::new();
        for _ in 0..21 {
            counter.reset();
            let started = std::time::Instant::now();
            dana.conversations(Query::limit(20)).await.ok();
            times.push(started.elapsed());
            calls = counter.calls();
        }
        times.sort();
        let items: usize = calls.iter().map(|c| c.items).sum();
        println!(
            "| {groups} | {} | {} | 3 | {items} | {:.1} ms | {:.1} ms |",
            groups.min(20),
            calls.len(),
            times[10].as_secs_f64() * 1e3,
            times[19].as_secs_f64() * 1e3,
        );
    }
    let cid = create_group(app, "owner", &["dana"]).await;
    counter.reset();
    send_text(app, &cid, "dana", "hi").await;
    println!("send: {:?}", counter.calls());
}

/// A forward (#27): the source (with the caller's membership), the target membership and an
/// earlier try are read together; the pending file is put; then the completion's append reads
/// (counters, membership) together and one transaction announces it (with the source checks
/// inside); the file is read back for the answer. Five round trips, none per member or part.
#[tokio::test]
async fn a_forward_reads_once_puts_once_then_completes_like_an_upload() {
    let (app, counter) = counted_stack().await;
    let source = create_group(app, "alice", &["bob"]).await;
    let target = create_group(app, "alice", &["carol"]).await;
    let fid = upload(app, &source, "bob", "a.txt", "text/plain", b"abc").await;
    counter.reset();
    client(app, "alice")
        .forward(&source, &fid, &target, "f1")
        .await
        .created();
    let ops: Vec<(String, usize)> = counter
        .calls()
        .into_iter()
        .map(|c| (c.operation, c.items))
        .collect();
    let get = || ("GetItem".to_string(), 1);
    assert_eq!(ops[..4], [get(), get(), get(), get()], "{ops:?}");
    assert_eq!(ops[4].0, "PutItem");
    assert_eq!(ops[5..7], [get(), get()], "{ops:?}");
    // Six parts, and the copy's search entries (#27: `*`, `type:`, `uploader:`, `txt`, `tx`).
    let entries = shared::domain::search::file_terms(
        "a.txt",
        shared::domain::search::FileKind::Document,
        "alice",
    )
    .len();
    assert_eq!(entries, 5);
    assert_eq!(
        ops[7],
        ("TransactWriteItems".to_string(), 6 + entries),
        "{ops:?}"
    );
    assert_eq!(ops[8], get());
    assert_eq!(counter.read(), (9, 4));
}

/// Naming forwards' sources costs one BatchGetItem of the page's distinct source groups (here
/// three forwards from two groups: two keys), and nothing on a page without forwards.
#[tokio::test]
async fn history_with_forwards_reads_the_sources_memberships_in_one_batch() {
    let (app, counter) = counted_stack().await;
    let one = create_group(app, "alice", &[]).await;
    let two = create_group(app, "alice", &[]).await;
    let target = create_group(app, "alice", &["carol"]).await;
    let alice = client(app, "alice");
    for (n, from) in [&one, &one, &two].into_iter().enumerate() {
        let fid = upload(app, from, "alice", "a.txt", "text/plain", b"abc").await;
        alice
            .forward(from, &fid, &target, &format!("f{n}"))
            .await
            .created();
    }
    counter.reset();
    client(app, "carol")
        .messages(&target, Query::new())
        .await
        .ok();
    let ops: Vec<(String, usize)> = counter
        .calls()
        .into_iter()
        .map(|c| (c.operation, c.items))
        .collect();
    assert_eq!(ops.len(), 3, "{ops:?}");
    assert_eq!(ops[2], ("BatchGetItem".to_string(), 2), "{ops:?}");
    assert_eq!(counter.read(), (3, 2));
}
