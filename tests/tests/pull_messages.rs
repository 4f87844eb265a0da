//! pull-messages against a real local DynamoDB, through the handler.

use aws_sdk_dynamodb::config::http::HttpRequest;
use aws_sdk_dynamodb::config::Intercept;
use groupshare_tests::*;
use shared::api::messages::MessagePage;

fn seqs(page: &MessagePage) -> Vec<u64> {
    page.messages.iter().map(|m| m.seq).collect()
}

#[tokio::test]
async fn newest_page_comes_first_in_ascending_order() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    for i in 0..10 {
        send_text(app, &cid, "alice", &format!("hello {i}")).await;
    }
    // 11 messages: the "created" system message and 10 texts.
    let bob = client(app, "bob");
    let page = bob.messages(&cid, Query::limit(5)).await.ok();
    assert_eq!(seqs(&page), vec![7, 8, 9, 10, 11]);
    let last = &page.messages[4];
    assert_eq!(last.text.as_deref(), Some("hello 9"));
    assert_eq!(last.sender, "alice");
    assert_eq!(last.kind, "text");
    assert!(last.sent_at.ends_with('Z'));
    assert!(page.older.is_some()); // `newer` is a string by type
    assert_eq!(page.messages[0].message_id.len(), 32);

    let first = bob.messages(&cid, Query::new()).await.body();
    assert_eq!(
        seqs(&first),
        (1..=11).collect::<Vec<_>>(),
        "default limit covers all 11"
    );
    assert!(first.older.is_none(), "first message is on the page");
    assert_eq!(first.messages[0].kind, "system");
}

#[tokio::test]
async fn paging_back_from_newest_reaches_the_first_message_without_gaps_or_duplicates() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    for i in 0..536 {
        send_text(
            app,
            &cid,
            if i % 2 == 0 { "alice" } else { "bob" },
            &format!("m{i}"),
        )
        .await;
    }
    let bob = client(app, "bob");
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut query = Query::limit(50);
    loop {
        let page = bob.messages(&cid, query).await.ok();
        let s = seqs(&page);
        assert!(
            s.windows(2).all(|w| w[0] + 1 == w[1]),
            "page is ascending and contiguous"
        );
        sizes.push(s.len());
        seen.splice(0..0, s);
        match page.older {
            Some(c) => query = Query::limit(50).and("before", c),
            None => break,
        }
    }
    assert_eq!(seen, (1..=537).collect::<Vec<u64>>());
    assert_eq!(sizes, [50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 37]);
}

#[tokio::test]
async fn polling_after_returns_only_new_messages() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    send_text(app, &cid, "alice", "before").await;
    let bob = client(app, "bob");
    let newer = bob.messages(&cid, Query::new()).await.body().newer;
    let after = |cursor: &str| Query::new().and("after", cursor);

    let idle = bob.messages(&cid, after(&newer)).await.ok();
    assert!(seqs(&idle).is_empty());
    assert_eq!(idle.newer, newer, "nothing new: same point to poll from");

    for t in ["one", "two", "three"] {
        send_text(app, &cid, "alice", t).await;
    }
    let fresh = bob.messages(&cid, after(&newer)).await.body();
    assert_eq!(seqs(&fresh), vec![3, 4, 5]);
    let texts: Vec<&str> = fresh
        .messages
        .iter()
        .map(|m| m.text.as_deref().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert!(fresh.older.is_some());

    // A poll with a small limit continues where it stopped.
    send_text(app, &cid, "bob", "four").await;
    let alice = bob.as_user("alice");
    let again = alice
        .messages(&cid, after(&fresh.newer).and("limit", 1))
        .await;
    assert_eq!(seqs(&again.body()), vec![6]);
}

#[tokio::test]
async fn limit_is_bounded() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    // History pages go up to 1,000 (other listings stop at 100).
    for bad in ["0", "1001", "-3", "ten", ""] {
        let r = alice.messages(&cid, Query::new().and("limit", bad)).await;
        assert_eq!(r.error(), (400, ErrorCode::InvalidLimit), "limit={bad}");
    }
    assert_eq!(alice.messages(&cid, Query::limit(1000)).await.status, 200);
    assert_eq!(alice.messages(&cid, Query::limit(1)).await.status, 200);
}

#[tokio::test]
async fn garbled_truncated_and_foreign_cursors_are_400() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let other = create_group(app, "alice", &[]).await;
    for i in 0..3 {
        send_text(app, &cid, "alice", &format!("{i}")).await;
        send_text(app, &other, "alice", &format!("{i}")).await;
    }
    let alice = client(app, "alice");
    let older = alice.messages(&cid, Query::limit(2)).await.body().older;
    let older = older.unwrap();
    let foreign = alice.messages(&other, Query::limit(2)).await.body().older;
    let foreign = foreign.unwrap();

    let mut flipped = older.clone().into_bytes();
    flipped[3] = if flipped[3] == b'x' { b'y' } else { b'x' };
    let flipped = String::from_utf8(flipped).unwrap();
    for (name, query) in [
        ("garbled", format!("?before={flipped}")),
        (
            "truncated",
            format!("?before={}", &older[..older.len() - 3]),
        ),
        ("not base64", "?before=%%%".to_string()),
        ("other conversation", format!("?before={foreign}")),
        ("wrong direction", format!("?after={older}")),
        ("huge", format!("?before={}", "A".repeat(4000))),
    ] {
        // Raw: the query is sent as written (`%%%` is not even percent-encoding).
        let path = format!("/conversations/{cid}/messages{query}");
        let r = alice.send("GET", &path, None).await;
        assert_eq!(r.error(), (400, ErrorCode::InvalidCursor), "{name}");
    }
    let both = Query::new().and("before", &older).and("after", &older);
    let both = alice.messages(&cid, both).await;
    assert_eq!(both.error(), (400, ErrorCode::InvalidQuery));
}

#[tokio::test]
async fn non_member_and_unknown_conversation_get_the_same_404() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let mallory = client(app, "mallory");
    let outsider = mallory.messages(&cid, Query::new()).await;
    let unknown = mallory.messages("no-such-conversation", Query::new()).await;
    assert_eq!(outsider.error(), (404, ErrorCode::NotFound));
    assert_eq!(
        outsider.json, unknown.json,
        "bodies must not tell the cases apart"
    );
    assert!(outsider.header("x-request-id").is_some());

    let bad_id = mallory
        .as_user("alice")
        .messages("bad id", Query::new())
        .await;
    assert_eq!(bad_id.error(), (400, ErrorCode::InvalidConversationId));
}

#[tokio::test]
async fn missing_identity_is_401() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let nobody = client(app, "alice").anonymous();
    let r = nobody.messages(&cid, Query::new()).await;
    assert!(r.refused_by_the_gateway(), "{:?}", r.json);
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn file_messages_carry_their_file_summary() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let bytes = b"%PDF-1.7 quarterly numbers".to_vec();
    let file_id = upload(
        app,
        &cid,
        "alice",
        "季度报告.pdf",
        "application/pdf",
        &bytes,
    )
    .await;
    let page = client(app, "bob").messages(&cid, Query::new()).await;
    // Raw on purpose: no `text` key at all on a file message.
    let wire = page.json["messages"].as_array().unwrap().last().unwrap();
    assert!(wire.get("text").is_none());
    let last = page.body().messages.pop().unwrap();
    assert_eq!(last.kind, "file");
    assert_eq!(last.sender, "alice");
    let file = last.file.unwrap();
    assert_eq!(file.file_id, file_id);
    assert_eq!(file.name, "季度报告.pdf");
    assert_eq!(file.size, bytes.len() as u64);
    assert_eq!(file.content_type, "application/pdf");
}

/// The deployed path: an API Gateway HTTP API (v2) event with JWT authorizer claims, parsed by
/// lambda_http and handed to the function's handler.
#[tokio::test]
async fn handler_answers_an_api_gateway_v2_event() {
    use shared::domain::model::*;
    use shared::infra::store::Created;
    let app = stack().await;
    let cid = "demo-team";
    let now = shared::domain::time::now_ms();
    let conversation = Conversation {
        conversation_id: cid.into(),
        title: "Demo".into(),
        created_by: "alice".into(),
        created_at_ms: now,
        last_seq: 1,
        member_count: Some(1),
        last_activity_ms: None,
        last_message: None,
        created_for: None,
    };
    let alice = Member {
        conversation_id: cid.into(),
        user_id: "alice".into(),
        role: Role::Owner,
        joined_at_ms: now,
        joined_seq: 1,
        read_seq: 1,
        manages_since_ms: None,
        acted: true,
    };
    let first = Message {
        conversation_id: cid.into(),
        seq: 1,
        message_id: "m1".into(),
        sender: "alice".into(),
        sent_at_ms: now,
        body: MessageBody::System(SystemEvent::new(
            shared::domain::model::SystemEventKind::ConversationCreated,
            "alice",
        )),
    };
    let stored = app
        .store
        .create_conversation(&conversation, &[alice], &first)
        .await;
    assert_eq!(stored.unwrap(), Created::Now);
    send_text(app, cid, "alice", "from the event test").await;

    let event = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/pull-messages.json"
    ))
    .unwrap();
    let req = lambda_http::request::from_str(&event).unwrap();
    let response = pull_messages::handle(app, req).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "JKJaXmPLvHcESHA=");
    let body: MessagePage = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(seqs(&body), vec![1, 2]);
    assert_eq!(
        body.messages[1].text.as_deref(),
        Some("from the event test")
    );

    // The same event for someone who is not a member: 404.
    let stranger = event.replace("\"sub\": \"alice\"", "\"sub\": \"mallory\"");
    assert_ne!(stranger, event);
    let response =
        pull_messages::handle(app, lambda_http::request::from_str(&stranger).unwrap()).await;
    assert_eq!(response.status(), 404);
}

/// Storage that cannot be reached is the caller's cue to retry: 503 with a JSON body.
#[tokio::test]
async fn unreachable_storage_is_503_unavailable() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let dead = groupshare_tests::sdk_config("http://127.0.0.1:9", "t", "t");
    let broken = shared::App {
        store: shared::infra::store::Store::new(
            shared::infra::aws::dynamodb_client(&dead),
            app.config.tables.clone(),
        ),
        ..app.clone()
    };
    let r = client(&broken, "alice").messages(&cid, Query::new()).await;
    assert_eq!(r.error(), (503, ErrorCode::Unavailable));
    assert!(r.header("x-request-id").is_some());
}

/// A device that accepts gzip gets history gzipped (Content-Encoding, Vary), byte for byte the
/// same JSON once decompressed; one that does not, gets plain JSON.
#[tokio::test]
async fn history_pages_are_gzipped_for_devices_that_accept_it() {
    use std::io::Read;
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    for i in 0..60 {
        send_text(
            app,
            &cid,
            "alice",
            &format!("message number {i} for the whole group"),
        )
        .await;
    }
    // Raw: request headers and response bytes exactly as they travel.
    let path = format!("/conversations/{cid}/messages?limit=100");
    let plain = dispatch(app, request("GET", &path, Some("bob"), None)).await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.headers()["vary"], "accept-encoding");
    let plain_bytes: Vec<u8> = plain.body().as_ref().to_vec();

    let mut req = request("GET", &path, Some("bob"), None);
    req.headers_mut()
        .insert("accept-encoding", "gzip, br".parse().unwrap());
    let gzipped = dispatch(app, req).await;
    assert_eq!(gzipped.status(), 200);
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(gzipped.headers()["vary"], "accept-encoding");
    let bytes: &[u8] = gzipped.body().as_ref();
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut text)
        .unwrap();
    let a: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&plain_bytes).unwrap();
    assert_eq!(a["messages"], b["messages"]);
    assert!(
        bytes.len() * 3 < plain_bytes.len(),
        "{} -> {}",
        plain_bytes.len(),
        bytes.len()
    );
}

/// DynamoDB ends a query page at 1 MB of items, short of `limit` when messages are long. A
/// page that came back short must still say older messages exist, or a new device would stop
/// paging and never see the start of the group.
#[tokio::test]
async fn long_messages_page_back_to_the_first_one() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let long = "x".repeat(shared::config::MAX_TEXT_BYTES);
    for _ in 0..80 {
        send_text(app, &cid, "alice", &long).await;
    }
    let alice = client(app, "alice");
    let mut seen = Vec::new();
    let mut query = Query::limit(100);
    let mut pages = 0;
    loop {
        let page = alice.messages(&cid, query).await.ok();
        pages += 1;
        seen.extend(seqs(&page));
        match page.older {
            Some(c) => query = Query::limit(100).and("before", c),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, (1..=81).collect::<Vec<u64>>());
    assert!(pages > 1, "1.3 MB of messages do not fit one DynamoDB page");
}

/// An eventually consistent read from a replica behind on one message (DynamoDB may answer a
/// Query from such a replica, and a conversation's items can span partitions): hides seq
/// `lagging` from every Query of `messages_table` not read consistently. moto is always up to
/// date, so the lag is played.
fn lagging_replica(messages_table: String, lagging: u64) -> impl Intercept + 'static {
    Rewrite("LaggingReplica", move |request: &mut HttpRequest| {
        let query = operation_of(request) == "Query";
        let Some(bytes) = request.body().bytes().filter(|_| query) else {
            return Ok(());
        };
        let mut body: serde_json::Value = serde_json::from_slice(bytes)?;
        if body["TableName"] != messages_table.as_str() || body["ConsistentRead"] == true {
            return Ok(());
        }
        body["FilterExpression"] = "seq <> :lagging".into();
        body["ExpressionAttributeValues"][":lagging"] =
            serde_json::json!({ "N": lagging.to_string() });
        replace_json_body(request, body.to_string());
        Ok(())
    })
}

/// History has no holes, so a page with one came from a lagging replica: it is read again,
/// consistently, and neither the first page, paging back, nor a device polling onwards ever
/// steps over the message (a poll's cursor moves past what it returns).
#[tokio::test]
async fn a_lagging_replica_never_makes_a_cursor_step_over_a_message() {
    let base = stack().await;
    let cid = create_group(base, "alice", &["bob"]).await;
    let bob = client(base, "bob");
    let newer = bob.messages(&cid, Query::new()).await.ok().newer;
    for i in 2..=8 {
        send_text(base, &cid, "alice", &format!("m{i}")).await;
    }
    let lag = lagging_replica(base.config.tables.messages.clone(), 4);
    let app = intercepted(base, lag);
    let bob = client(app, "bob");

    let polled = bob
        .messages(&cid, Query::new().and("after", &newer))
        .await
        .ok();
    assert_eq!(seqs(&polled), vec![2, 3, 4, 5, 6, 7, 8]);
    let newest = bob.messages(&cid, Query::limit(3)).await.ok();
    assert_eq!(seqs(&newest), vec![6, 7, 8]);
    let older = newest.older.unwrap();
    let back = bob
        .messages(&cid, Query::limit(3).and("before", &older))
        .await
        .ok();
    assert_eq!(seqs(&back), vec![3, 4, 5]);
}
