//! pull-messages against a real local DynamoDB, through the handler.

use groupshare_tests::*;
use serde_json::Value;

fn seqs(page: &Value) -> Vec<u64> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

fn url(cid: &str, query: &str) -> String {
    format!("/conversations/{cid}/messages{query}")
}

#[tokio::test]
async fn newest_page_comes_first_in_ascending_order() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    for i in 0..10 {
        send_text(app, &cid, "alice", &format!("hello {i}")).await;
    }
    // 11 messages: the "created" system message and 10 texts.
    let page = get(app, "bob", &url(&cid, "?limit=5")).await;
    assert_eq!(page.status, 200, "{:?}", page.json);
    assert_eq!(seqs(&page.json), vec![7, 8, 9, 10, 11]);
    assert_eq!(page.json["messages"][4]["text"], "hello 9");
    assert_eq!(page.json["messages"][4]["sender"], "alice");
    assert_eq!(page.json["messages"][4]["kind"], "text");
    assert!(page.json["messages"][4]["sent_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert!(page.json["older"].is_string());
    assert!(page.json["newer"].is_string());
    assert_eq!(
        page.json["messages"][0]["message_id"]
            .as_str()
            .unwrap()
            .len(),
        32
    );

    let first = get(app, "bob", &url(&cid, "")).await;
    assert_eq!(
        seqs(&first.json),
        (1..=11).collect::<Vec<_>>(),
        "default limit covers all 11"
    );
    assert!(
        first.json["older"].is_null(),
        "first message is on the page"
    );
    assert_eq!(first.json["messages"][0]["kind"], "system");
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
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut query = "?limit=50".to_string();
    loop {
        let page = get(app, "bob", &url(&cid, &query)).await;
        assert_eq!(page.status, 200, "{:?}", page.json);
        let s = seqs(&page.json);
        assert!(
            s.windows(2).all(|w| w[0] + 1 == w[1]),
            "page is ascending and contiguous"
        );
        sizes.push(s.len());
        seen.splice(0..0, s);
        match page.json["older"].as_str() {
            Some(c) => query = format!("?limit=50&before={c}"),
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
    let page = get(app, "bob", &url(&cid, "")).await;
    let newer = page.json["newer"].as_str().unwrap().to_string();

    let idle = get(app, "bob", &url(&cid, &format!("?after={newer}"))).await;
    assert_eq!(idle.status, 200);
    assert!(seqs(&idle.json).is_empty());
    assert_eq!(
        idle.json["newer"],
        newer.as_str(),
        "nothing new: same point to poll from"
    );

    for t in ["one", "two", "three"] {
        send_text(app, &cid, "alice", t).await;
    }
    let fresh = get(app, "bob", &url(&cid, &format!("?after={newer}"))).await;
    assert_eq!(seqs(&fresh.json), vec![3, 4, 5]);
    let texts: Vec<&str> = fresh.json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert!(fresh.json["older"].is_string());

    // A poll with a small limit continues where it stopped.
    let next = fresh.json["newer"].as_str().unwrap();
    send_text(app, &cid, "bob", "four").await;
    let again = get(app, "alice", &url(&cid, &format!("?after={next}&limit=1"))).await;
    assert_eq!(seqs(&again.json), vec![6]);
}

#[tokio::test]
async fn limit_is_bounded() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    // History pages go up to 1,000 (other listings stop at 100).
    for bad in ["0", "1001", "-3", "ten", ""] {
        let r = get(app, "alice", &url(&cid, &format!("?limit={bad}"))).await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "invalid_limit"),
            "limit={bad}"
        );
    }
    assert_eq!(
        get(app, "alice", &url(&cid, "?limit=1000")).await.status,
        200
    );
    assert_eq!(get(app, "alice", &url(&cid, "?limit=1")).await.status, 200);
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
    let page = get(app, "alice", &url(&cid, "?limit=2")).await;
    let older = page.json["older"].as_str().unwrap().to_string();
    let foreign = get(app, "alice", &url(&other, "?limit=2")).await.json["older"]
        .as_str()
        .unwrap()
        .to_string();

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
        let r = get(app, "alice", &url(&cid, &query)).await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "invalid_cursor"),
            "{name}"
        );
    }
    let both = get(
        app,
        "alice",
        &url(&cid, &format!("?before={older}&after={older}")),
    )
    .await;
    assert_eq!((both.status, both.error_code()), (400, "invalid_query"));
}

#[tokio::test]
async fn non_member_and_unknown_conversation_get_the_same_404() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let outsider = get(app, "mallory", &url(&cid, "")).await;
    let unknown = get(app, "mallory", &url("no-such-conversation", "")).await;
    assert_eq!(outsider.status, 404);
    assert_eq!(outsider.error_code(), "not_found");
    assert_eq!(
        outsider.json, unknown.json,
        "bodies must not tell the cases apart"
    );
    assert!(outsider.header("x-request-id").is_some());

    let bad_id = get(app, "alice", &url("bad%20id", "")).await;
    assert_eq!(
        (bad_id.status, bad_id.error_code()),
        (400, "invalid_conversation_id")
    );
}

#[tokio::test]
async fn missing_identity_is_401() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let r = call(app, request("GET", &url(&cid, ""), None, None)).await;
    assert_eq!((r.status, r.error_code()), (401, "unauthenticated"));
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
    let page = get(app, "bob", &url(&cid, "")).await;
    let last = page.json["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "file");
    assert_eq!(last["sender"], "alice");
    assert_eq!(last["file"]["file_id"], file_id.as_str());
    assert_eq!(last["file"]["name"], "季度报告.pdf");
    assert_eq!(last["file"]["size"], bytes.len());
    assert_eq!(last["file"]["content_type"], "application/pdf");
    assert!(last.get("text").is_none());
}

/// The deployed path: an API Gateway HTTP API (v2) event with JWT authorizer claims, parsed by
/// lambda_http and handed to the function's handler.
#[tokio::test]
async fn handler_answers_an_api_gateway_v2_event() {
    use shared::model::*;
    let app = stack().await;
    let cid = "demo-team";
    let now = shared::time::now_ms();
    let conversation = Conversation {
        conversation_id: cid.into(),
        title: "Demo".into(),
        created_by: "alice".into(),
        created_at_ms: now,
        last_seq: 1,
        member_count: Some(1),
    };
    let alice = Member {
        conversation_id: cid.into(),
        user_id: "alice".into(),
        role: Role::Owner,
        joined_at_ms: now,
    };
    let first = Message {
        conversation_id: cid.into(),
        seq: 1,
        message_id: "m1".into(),
        sender: "alice".into(),
        sent_at_ms: now,
        body: MessageBody::System(SystemEvent::new("conversation_created", "alice")),
    };
    app.store
        .create_conversation(&conversation, &[alice], &first)
        .await
        .unwrap();
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
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(seqs(&body), vec![1, 2]);
    assert_eq!(body["messages"][1]["text"], "from the event test");

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
    let dead = shared::aws::sdk_config_loader()
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_credential_types::Credentials::new(
            "t", "t", None, None, "t",
        ))
        .load()
        .await;
    let broken = shared::App {
        store: shared::store::Store::new(
            shared::aws::dynamodb_client(&dead),
            app.config.tables.clone(),
        ),
        ..app.clone()
    };
    let r = get(&broken, "alice", &url(&cid, "")).await;
    assert_eq!((r.status, r.error_code()), (503, "unavailable"));
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
    let path = format!("/conversations/{cid}/messages");
    let mut seen = Vec::new();
    let mut url = format!("{path}?limit=100");
    let mut pages = 0;
    loop {
        let page = get(app, "alice", &url).await;
        assert_eq!(page.status, 200, "{:?}", page.json);
        pages += 1;
        seen.extend(
            page.json["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["seq"].as_u64().unwrap()),
        );
        match page.json["older"].as_str() {
            Some(c) => url = format!("{path}?limit=100&before={c}"),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, (1..=81).collect::<Vec<u64>>());
    assert!(pages > 1, "1.3 MB of messages do not fit one DynamoDB page");
}
