//! Push through the public endpoints: devices connect to `ws://…/ws` with their token, members
//! send through the HTTP API, and frames arrive the way they do deployed: the messages table's
//! stream on the stand-in, the real `push-fanout` handler, the management API, the socket.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use groupshare_local::authorizer;
use groupshare_tests::client::Query;
use groupshare_tests::push::PushStack;
use groupshare_tests::{sha256_hex, unique, upload_body};
use shared::domain::model::MessageView;
use shared::infra::push::Frame;

/// Long enough for a frame that would come to have come (the pump reads as soon as the app
/// appends).
const QUIET: Duration = Duration::from_millis(800);

fn seqs(frames: &[Frame]) -> Vec<u64> {
    frames.iter().map(|f| f.message.seq).collect()
}

/// The group's history after `seq`, as a device would fetch it.
async fn history_after(stack: &PushStack, user: &str, cid: &str, newer: &str) -> Vec<MessageView> {
    stack
        .api(user)
        .messages(cid, Query::new().and("after", newer))
        .await
        .ok()
        .messages
}

async fn upload_file(stack: &PushStack, cid: &str, user: &str, name: &str) -> String {
    let api = stack.api(user);
    let bytes = format!("bytes of {name}").into_bytes();
    let body = upload_body(
        &unique("u"),
        name,
        bytes.len(),
        "text/plain",
        Some(&sha256_hex(&bytes)),
    );
    let ticket = api.create_upload(cid, body).await.created();
    let sent = groupshare_tests::post_form(&ticket.upload, bytes).await;
    assert!(sent.status().is_success());
    api.complete_upload(cid, &ticket.file_id).await.created();
    ticket.file_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_receive_each_append_once_in_seq_order_and_outsiders_nothing() {
    let stack = PushStack::start().await;
    let alice = stack.api("alice");
    let mut bob = stack.connect("bob").await;
    let mut bob_laptop = stack.connect("bob").await;
    let mut carol = stack.connect("carol").await;
    let mut mallory = stack.connect("mallory").await;
    let cid = stack.create_group("alice", &["bob", "carol"]).await;

    let text = alice
        .post_message(&cid, &unique("m"), "hello all")
        .await
        .created();
    let file_id = upload_file(&stack, &cid, "alice", "plan.txt").await;
    let deleted = alice.delete_message(&cid, text.seq).await.ok();

    for socket in [&mut bob, &mut bob_laptop, &mut carol] {
        // The group's creation (system messages are history too)...
        let created = socket.frames(1).await.remove(0);
        assert_eq!(created.message.seq, 1);
        assert_eq!(
            created.message.system.unwrap().event,
            "conversation_created"
        );
        // ...the text, the file message, then the recall: the text's tombstone (same seq) and
        // its announcement, written together (so in either order).
        let mut frames = socket.frames(4).await;
        assert_eq!(frames[0].message, text);
        assert_eq!(frames[1].message.kind, "file");
        assert_eq!(frames[1].message.seq, text.seq + 1);
        assert_eq!(frames[1].message.file.as_ref().unwrap().file_id, file_id);
        frames[2..].sort_by_key(|f| f.message.seq);
        assert_eq!(frames[2].message.seq, text.seq);
        assert_eq!(frames[2].message.kind, "deleted");
        assert_eq!(Some(&frames[3].message), deleted.system_message.as_ref());
        assert!(frames
            .iter()
            .all(|f| f.conversation_id == cid && f.kind == "message"));
        // Each frame is exactly what history shows for its seq.
        let history = stack
            .api("carol")
            .messages(&cid, Query::new())
            .await
            .ok()
            .messages;
        let stored = history
            .iter()
            .find(|m| m.seq == frames[1].message.seq)
            .unwrap();
        assert_eq!(&frames[1].message, stored);
        assert_eq!(frames[2].message.deleted, deleted.message.deleted);
        // Nothing twice.
        assert_eq!(socket.drain(QUIET).await, vec![]);
    }
    assert_eq!(
        mallory.drain(QUIET).await,
        vec![],
        "a non-member's connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_stops_and_addition_starts_delivery() {
    let stack = PushStack::start().await;
    let alice = stack.api("alice");
    let mut bob = stack.connect("bob").await;
    let mut dave = stack.connect("dave").await;
    let cid = stack.create_group("alice", &["bob"]).await;

    let before = alice
        .post_message(&cid, &unique("m"), "bob is here")
        .await
        .created();
    assert_eq!(seqs(&bob.frames(2).await), vec![1, before.seq]);
    assert_eq!(dave.drain(QUIET).await, vec![]);

    assert_eq!(alice.remove_member(&cid, "bob").await.status, 204);
    alice.add_member(&cid, "dave", None).await.created();
    let after = alice
        .post_message(&cid, &unique("m"), "dave is here")
        .await
        .created();

    // Dave's open connection receives from his addition on, and nothing older: not bob's
    // removal (the append just before dave's addition), even when its push runs after he was
    // added (`recall.rs` forces that order).
    let frames = dave.frames(2).await;
    assert_eq!(frames[0].message.kind, "system");
    assert_eq!(
        frames[0].message.system.as_ref().unwrap().event,
        "member_added"
    );
    assert_eq!(frames[1].message, after);
    // Bob gets nothing from his removal on: not the removal, not what follows.
    assert_eq!(bob.drain(QUIET).await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_device_catches_up_from_history_without_loss_or_duplicates() {
    let stack = PushStack::start().await;
    let alice = stack.api("alice");
    let mut phone = stack.connect("bob").await;
    // Alice's own device: once it has a message, every earlier fan-out is done (one
    // conversation's records are pushed in order).
    let mut probe = stack.connect("alice").await;
    let cid = stack.create_group("alice", &["bob"]).await;
    alice
        .post_message(&cid, &unique("m"), "one")
        .await
        .created();
    let seen = phone.frames(2).await.remove(1);
    phone.close().await;

    // Sent while bob's phone is offline.
    let mut missed = Vec::new();
    for text in ["two", "three", "four"] {
        missed.push(
            alice
                .post_message(&cid, &unique("m"), text)
                .await
                .created()
                .seq,
        );
    }
    assert_eq!(
        probe.frames(5).await.last().unwrap().message.seq,
        *missed.last().unwrap()
    );
    let mut phone = stack.connect("bob").await;
    let live = alice
        .post_message(&cid, &unique("m"), "five")
        .await
        .created();
    let pushed = phone.frames(1).await.remove(0);
    assert_eq!(pushed.message, live);
    // The frame's seq shows a gap after the last one seen; history fills it.
    assert!(pushed.message.seq > seen.message.seq + 1);
    let filled = history_after(&stack, "bob", &cid, &seen.newer).await;
    let mut all: Vec<u64> = vec![seen.message.seq];
    all.extend(
        filled
            .iter()
            .map(|m| m.seq)
            .filter(|s| *s != pushed.message.seq),
    );
    all.push(pushed.message.seq);
    let expected: Vec<u64> = (seen.message.seq..=live.seq).collect();
    assert_eq!(all, expected, "gap-free and nothing twice");
    assert!(missed.iter().all(|s| filled.iter().any(|m| m.seq == *s)));
    assert_eq!(phone.drain(QUIET).await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_are_gone_are_forgotten() {
    let stack = PushStack::start().await;
    let alice = stack.api("alice");
    // Alice's device: once it has seq 2, the group's creation has been pushed (in order)
    // before bob connects.
    let mut probe = stack.connect("alice").await;
    let cid = stack.create_group("alice", &["bob"]).await;
    alice
        .post_message(&cid, &unique("m"), "probe")
        .await
        .created();
    assert_eq!(seqs(&probe.frames(2).await), vec![1, 2]);
    let store = &stack.app.store;
    let now_s = shared::domain::time::now_ms() / 1000;
    // A connection the table still lists but API Gateway no longer has (its $disconnect was
    // lost, a minute after it opened): the management API answers 410 for it.
    assert!(store
        .put_connection("bob", "gone+conn/id=", now_s - 60, 10)
        .await
        .unwrap());
    // One recorded by a `$connect` that has not returned yet: API Gateway answers 410 for it
    // too (the local management API does, for any socket it has not opened), but it is about
    // to open and must not be forgotten.
    let opening = "opening+conn/id=";
    let just_now = shared::domain::time::now_ms() / 1000;
    assert!(store
        .put_connection("bob", opening, just_now, 10)
        .await
        .unwrap());
    let mut bob = stack.connect("bob").await;
    let listed = |list: Vec<shared::infra::store::Connection>| {
        let mut ids: Vec<String> = list.into_iter().map(|c| c.connection_id).collect();
        ids.sort();
        ids
    };
    let all = listed(store.connections_of(&["bob".into()], now_s).await.unwrap());
    assert_eq!(all.len(), 3, "{all:?}");

    let sent = alice.post_message(&cid, &unique("m"), "hi").await.created();
    assert_eq!(bob.frames(1).await[0].message, sent);
    // The stream is read one batch at a time: once the next message reaches bob, the fan-out
    // that met both 410s has finished.
    let next = alice
        .post_message(&cid, &unique("m"), "again")
        .await
        .created();
    assert_eq!(bob.frames(1).await[0].message, next);
    assert_eq!(bob.drain(QUIET).await, vec![]);
    let remaining = listed(store.connections_of(&["bob".into()], now_s).await.unwrap());
    assert!(
        !remaining.contains(&"gone+conn/id=".to_string()),
        "the gone connection is deleted after the 410: {remaining:?}"
    );
    assert_eq!(remaining.len(), 2, "{remaining:?}");
    assert!(
        remaining.contains(&opening.to_string()),
        "a connection still opening survives its 410: {remaining:?}"
    );
    store.delete_connection("bob", opening).await.unwrap();

    // A closed socket runs $disconnect: nothing of bob's is left.
    bob.close().await;
    groupshare_tests::local_stack::eventually(Duration::from_secs(5), || async {
        store
            .connections_of(&["bob".into()], now_s)
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await
    .expect("$disconnect forgets the connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_or_expired_tokens_are_refused_at_connect() {
    let stack = PushStack::start().await;
    let signer = authorizer::global();
    let now = shared::domain::time::now_ms() / 1000;
    let claims = |exp: i64, aud: &str| {
        serde_json::json!({
            "sub": "bob", "iss": authorizer::ISSUER, "aud": aud, "iat": now - 10, "exp": exp,
        })
    };
    let expired = signer.sign(&claims(now - 1, authorizer::AUDIENCE));
    let other_audience = signer.sign(&claims(now + 600, "someone-else"));
    let foreign =
        authorizer::Authorizer::ephemeral().sign(&claims(now + 600, authorizer::AUDIENCE));
    for query in [
        String::new(),
        "?token=".to_string(),
        "?token=not-a-jwt".to_string(),
        format!("?token={expired}"),
        format!("?token={other_audience}"),
        format!("?token={foreign}"),
    ] {
        assert_eq!(stack.connect_with(&query).await.err(), Some(401), "{query}");
    }
    // The same claims with a live expiry connect.
    let good = signer.sign(&claims(now + 600, authorizer::AUDIENCE));
    let mut socket = stack.connect_with(&format!("?token={good}")).await.unwrap();
    // A client's keep-alive is accepted and answered with nothing.
    socket.send_text(r#"{"action":"ping"}"#).await;
    assert_eq!(socket.drain(Duration::from_millis(300)).await, vec![]);
}

/// The management API that puts frames into sockets is not on the public port: a web page or
/// any other client there cannot push into someone's open connection (API Gateway's takes only
/// IAM-signed calls from the stack's own functions).
#[tokio::test]
async fn the_public_port_has_no_management_api() {
    let stack = PushStack::start().await;
    let http = groupshare_tests::http_client();
    for (method, path) in [
        (reqwest::Method::POST, "/@connections/abc%3D"),
        (reqwest::Method::GET, "/@connections/abc%3D"),
        (reqwest::Method::DELETE, "/@connections/abc%3D"),
    ] {
        let r = http
            .request(method.clone(), format!("{}{path}", stack.base))
            .header("x-dev-user", "mallory")
            .body("{\"forged\":true}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{method} {path}");
        assert!(
            r.headers().get("x-amzn-errortype").is_none(),
            "{method} {path}"
        );
    }
}

/// A read marker moved on one device reaches every open device of that user as a `read` frame
/// (#26), and nobody else's. A mark that moves nothing sends nothing, and neither does the move
/// a user's own send makes: their devices learn it from the send's message frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_set_on_one_device_arrives_on_the_others_and_nowhere_else() {
    let stack = PushStack::start().await;
    let alice = stack.api("alice");
    let bob = stack.api("bob");
    let mut phone = stack.connect("bob").await;
    let mut laptop = stack.connect("bob").await;
    let mut carol = stack.connect("carol").await;
    let cid = stack.create_group("alice", &["bob", "carol"]).await;
    for text in ["one", "two"] {
        alice.post_message(&cid, &unique("m"), text).await.created();
    }
    for socket in [&mut phone, &mut laptop, &mut carol] {
        assert_eq!(seqs(&socket.frames(3).await), vec![1, 2, 3]);
    }

    // Bob reads everything on his laptop: both of his devices hear it.
    assert_eq!(bob.mark_read(&cid, 3).await.ok().read_seq, 3);
    for socket in [&mut phone, &mut laptop] {
        let frame = socket.next_json(Duration::from_secs(10)).await;
        assert_eq!(
            frame,
            Some(serde_json::json!({"type": "read", "conversation_id": cid, "read_seq": 3}))
        );
    }

    // Behind the marker: nothing moves, nothing is sent. Bob's own message moves his marker;
    // his devices get its message frame, not a read frame.
    assert_eq!(bob.mark_read(&cid, 2).await.ok().read_seq, 3);
    let mine = bob
        .post_message(&cid, &unique("m"), "seen it all")
        .await
        .created();
    for socket in [&mut phone, &mut laptop, &mut carol] {
        assert_eq!(socket.frames(1).await[0].message, mine);
        // Anything more (a read frame above all) fails here.
        assert_eq!(socket.drain(QUIET).await, vec![]);
    }
    let details = bob.conversation(&cid).await.ok();
    assert_eq!((details.read_seq, details.unread_count), (4, 0));
}

/// The local stack reads its stream and queues as soon as its own clients wrote something
/// there (local/src/wake.rs): the interceptors raise their signal after a successful write of
/// theirs, and after nothing else.
#[tokio::test]
async fn the_stacks_own_writes_wake_its_readers() {
    use aws_sdk_dynamodb::types::{
        AttributeValue, Put, PutRequest, TransactWriteItem, WriteRequest,
    };
    use groupshare_local::wake::{OperationsSucceeded, Signal, TableWrites, S3_OBJECT_CREATED};

    const HOUR: Duration = Duration::from_secs(3600);
    let app = groupshare_tests::stack().await;
    let tables = app.config.tables.clone();
    let sdk = groupshare_tests::sdk_config(
        &groupshare_tests::endpoint(groupshare_tests::ENDPOINT_VAR),
        "test",
        "test",
    );
    let (appended, filed, put) = (Signal::default(), Signal::default(), Signal::default());
    let writes = TableWrites::default()
        .on(&tables.messages, &appended)
        .on(&tables.files, &filed);
    let ddb = shared::infra::aws::dynamodb_client(&sdk);
    let ddb =
        aws_sdk_dynamodb::Client::from_conf(ddb.config().to_builder().interceptor(writes).build());
    let s3 = shared::infra::aws::s3_client(&sdk, true);
    let s3 = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .interceptor(OperationsSucceeded::new(S3_OBJECT_CREATED, &put))
            .build(),
    );
    let mut waiters = [&appended, &filed, &put].map(|s| s.waiter(HOUR, HOUR));
    // Which signals came since the last call.
    let mut raised = || {
        waiters
            .iter_mut()
            .map(|w| {
                let raised = w.signalled();
                w.reading();
                raised
            })
            .collect::<Vec<_>>()
    };
    let s = |v: &str| AttributeValue::S(v.into());
    let n = |v: u64| AttributeValue::N(v.to_string());
    let cid = unique("c");

    let message = ddb
        .put_item()
        .table_name(&tables.messages)
        .item("conversation_id", s(&cid))
        .item("seq", n(1));
    message.clone().send().await.unwrap();
    assert_eq!(raised(), [true, false, false], "an append");
    let refused = message
        .condition_expression("attribute_not_exists(seq)")
        .send()
        .await;
    assert!(refused.is_err());
    ddb.get_item()
        .table_name(&tables.messages)
        .key("conversation_id", s(&cid))
        .key("seq", n(1))
        .send()
        .await
        .unwrap();
    ddb.put_item()
        .table_name(&tables.conversations)
        .item("conversation_id", s(&cid))
        .send()
        .await
        .unwrap();
    assert_eq!(
        raised(),
        [false, false, false],
        "a refused write, a read, another table"
    );
    ddb.update_item()
        .table_name(&tables.files)
        .key("file_id", s(&cid))
        .update_expression("SET size_bytes = :n")
        .expression_attribute_values(":n", n(1))
        .send()
        .await
        .unwrap();
    assert_eq!(raised(), [false, true, false], "a file record");
    ddb.transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&tables.conversations)
                        .item("conversation_id", s(&cid))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&tables.messages)
                        .item("conversation_id", s(&cid))
                        .item("seq", n(2))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(raised(), [true, false, false], "a transaction that appends");
    let file = |id: &str| {
        WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .item("file_id", s(id))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    ddb.batch_write_item()
        .request_items(&tables.files, vec![file(&unique("f")), file(&unique("f"))])
        .send()
        .await
        .unwrap();
    assert_eq!(raised(), [false, true, false], "a batch of file records");
    ddb.delete_item()
        .table_name(&tables.messages)
        .key("conversation_id", s(&cid))
        .key("seq", n(1))
        .send()
        .await
        .unwrap();
    assert_eq!(
        raised(),
        [true, false, false],
        "a deletion (a REMOVE record)"
    );

    let bucket = app.config.bucket.clone().unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key(format!("files/{cid}"))
        .body(b"bytes".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(raised(), [false, false, true], "an object put");
    s3.head_object()
        .bucket(&bucket)
        .key(format!("files/{cid}"))
        .send()
        .await
        .unwrap();
    assert!(s3
        .put_object()
        .bucket(format!("{bucket}-missing"))
        .key("k")
        .send()
        .await
        .is_err());
    assert_eq!(raised(), [false, false, false], "a read, a refused put");
}

/// The members table's stream reaches the fan-out through a filter that passes only a read
/// marker moved by `PUT …/read` (template.yaml), so only that write wakes its pump: every send
/// also moves its author's marker, and when that woke the members pump too, its read took the
/// stand-in's turn from the fan-out's. What the pump skips is read by its fallback poll.
#[tokio::test]
async fn only_a_marker_moved_by_mark_wakes_the_members_stream() {
    const HOUR: Duration = Duration::from_secs(3600);
    let written = groupshare_local::wake::StreamWrites::default();
    let app = groupshare_tests::stack_with(groupshare_tests::Options {
        streams_written: Some(written.clone()),
        ..Default::default()
    })
    .await;
    let mut waiters = [&written.messages, &written.members].map(|s| s.waiter(HOUR, HOUR));
    // Which of (messages, members) were signalled since the last call.
    let mut raised = || {
        waiters.each_mut().map(|w| {
            let raised = w.signalled();
            w.reading();
            raised
        })
    };
    let (alice, bob) = (unique("alice"), unique("bob"));
    let cid = groupshare_tests::create_group(app, &alice, &[&bob]).await;
    raised();
    let seq = groupshare_tests::send_text(app, &cid, &alice, "hi").await;
    assert_eq!(
        raised(),
        [true, false],
        "a send, which moves its author's marker"
    );
    let bob_api = groupshare_tests::client::client(app, &bob);
    assert_eq!(bob_api.mark_read(&cid, seq).await.ok().read_seq, seq);
    assert_eq!(raised(), [false, true], "a marker moved by PUT …/read");
    let carol = unique("carol");
    groupshare_tests::client::client(app, &alice)
        .add_member(&cid, &carol, None)
        .await
        .created();
    assert_eq!(raised(), [true, false], "a join (its system entry)");
}

/// Loses the first GetRecords answer that carries `marker` (as a dropped connection or a
/// stand-in hiccup would), once.
#[derive(Clone, Debug)]
struct LoseRecords {
    marker: String,
    lost: Arc<AtomicBool>,
}

impl aws_sdk_dynamodbstreams::config::Intercept for LoseRecords {
    fn name(&self) -> &'static str {
        "LoseRecords"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_dynamodbstreams::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodbstreams::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodbstreams::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodbstreams::error::BoxError> {
        use aws_sdk_dynamodbstreams::operation::get_records::GetRecordsOutput;
        let Ok(out) = context.output_or_error() else {
            return Ok(());
        };
        let Some(out) = out.downcast_ref::<GetRecordsOutput>() else {
            return Ok(());
        };
        let carries = format!("{:?}", out.records()).contains(&self.marker);
        if carries && !self.lost.swap(true, Ordering::SeqCst) {
            return Err("connection reset while reading the answer".into());
        }
        Ok(())
    }
}

/// On AWS a failed read of the stream is retried from the same position (the event source
/// mapping never skips records it has not delivered): the append whose read was lost is pushed
/// once the pump reads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stream_read_is_retried_from_where_it_was_not_skipped() {
    let written = groupshare_local::wake::StreamWrites::default();
    let app = groupshare_tests::stack_with(groupshare_tests::Options {
        streams_written: Some(written.clone()),
        ..Default::default()
    })
    .await;
    let lose = LoseRecords {
        marker: unique("lost-in-transit"),
        lost: Default::default(),
    };
    let sdk = stand_in_sdk();
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::config::Builder::from(&sdk)
            .interceptor(lose.clone())
            .build(),
    );
    let stack = PushStack::with_pumps(app, written, streams, app).await;
    let mut phone = stack.connect("alice").await;
    let cid = stack.create_group("alice", &[]).await;
    let alice = stack.api("alice");
    let first = alice
        .post_message(&cid, &unique("m"), "one")
        .await
        .created();
    assert_eq!(seqs(&phone.frames(2).await), vec![1, first.seq]);
    // This one's read is lost once.
    let lost = alice
        .post_message(&cid, &unique("m"), &lose.marker)
        .await
        .created();
    let later = alice
        .post_message(&cid, &unique("m"), "later")
        .await
        .created();
    let mut pushed = Vec::new();
    while let Some(frame) = phone.next_frame(Duration::from_secs(10)).await {
        pushed.push(frame.message.seq);
        if frame.message.seq == later.seq {
            break;
        }
    }
    assert!(lose.lost.load(Ordering::SeqCst), "the read was lost");
    assert_eq!(pushed, vec![lost.seq, later.seq]);
}

/// Fails the fan-out's read of who is in a conversation (a Query naming it), `left` times.
#[derive(Clone, Debug, Default)]
struct FailMembersQuery {
    naming: Arc<std::sync::Mutex<String>>,
    left: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

impl FailMembersQuery {
    fn arm(&self, conversation: &str, times: usize) {
        *self.naming.lock().unwrap() = conversation.to_string();
        self.left.store(times, Ordering::SeqCst);
    }
}

impl aws_sdk_dynamodb::config::Intercept for FailMembersQuery {
    fn name(&self) -> &'static str {
        "FailMembersQuery"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let request = context.request();
        let is_query = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".Query"));
        let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default());
        let naming = self.naming.lock().unwrap().clone();
        let due = is_query
            && !naming.is_empty()
            && body.contains(&naming)
            && self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if due {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err("the members table is unavailable".into());
        }
        Ok(())
    }
}

fn stand_in_sdk() -> shared::infra::aws::SdkConfig {
    let endpoint = groupshare_tests::endpoint(groupshare_tests::ENDPOINT_VAR);
    groupshare_tests::sdk_config(&endpoint, "test", "test")
}

/// A stack whose pumps run `push-fanout` with a DynamoDB client that `fail` can break.
async fn stack_with_failing_fanout(fail: &FailMembersQuery) -> PushStack {
    let written = groupshare_local::wake::StreamWrites::default();
    let app = groupshare_tests::stack_with(groupshare_tests::Options {
        streams_written: Some(written.clone()),
        ..Default::default()
    })
    .await;
    let sdk = stand_in_sdk();
    let fanout = groupshare_tests::intercepted(app, fail.clone());
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    PushStack::with_pumps(app, written, streams, fanout).await
}

/// The template's fan-out mappings retry a batch whose function reported a failed record, from
/// that record (`ReportBatchItemFailures`), up to `MaximumRetryAttempts` (3) times: a message
/// whose fan-out failed for a moment is pushed, not left to the client's catch-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fan_out_is_retried_from_the_failed_record() {
    let fail = FailMembersQuery::default();
    let stack = stack_with_failing_fanout(&fail).await;
    let mut phone = stack.connect("alice").await;
    let cid = stack.create_group("alice", &[]).await;
    let alice = stack.api("alice");
    assert_eq!(seqs(&phone.frames(1).await), vec![1]);
    // The first attempt and two of the three retries fail.
    fail.arm(&cid, 3);
    let sent = alice
        .post_message(&cid, &unique("m"), "one")
        .await
        .created();
    let pushed = phone.frames(1).await;
    assert_eq!(fail.failed.load(Ordering::SeqCst), 3);
    assert_eq!(seqs(&pushed), vec![sent.seq]);
    assert_eq!(phone.drain(QUIET).await, vec![], "pushed once");
}

/// ... and no more than that: after the first attempt and 3 retries failed the records are
/// given up (the template names no on-failure destination), and the pump goes on with the
/// records behind them instead of holding the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_that_keeps_failing_is_given_up_after_the_templates_retries() {
    let fail = FailMembersQuery::default();
    let stack = stack_with_failing_fanout(&fail).await;
    let mut phone = stack.connect("alice").await;
    let cid = stack.create_group("alice", &[]).await;
    let alice = stack.api("alice");
    assert_eq!(seqs(&phone.frames(1).await), vec![1]);
    fail.arm(&cid, 4);
    alice
        .post_message(&cid, &unique("m"), "given up")
        .await
        .created();
    // Sent once every attempt has failed, so it is in a batch of its own.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fail.left.load(Ordering::SeqCst) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fan-out was not attempted 4 times"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let next = alice
        .post_message(&cid, &unique("m"), "next")
        .await
        .created();
    // A fifth attempt would have succeeded and pushed the first one before this.
    assert_eq!(seqs(&phone.frames(1).await), vec![next.seq]);
    assert_eq!(fail.failed.load(Ordering::SeqCst), 4);
}

/// A delivery that counts posts in flight, and holds each one until `open` says so.
struct HeldDelivery {
    open: tokio::sync::watch::Sender<bool>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    /// (connection, conversation, seq) in the order the posts finished.
    posted: std::sync::Mutex<Vec<(String, String, u64)>>,
}

impl shared::infra::push::fanout::Deliver for HeldDelivery {
    async fn post(
        &self,
        connection_id: &str,
        frame: &[u8],
    ) -> shared::infra::push::fanout::Delivery {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let mut open = self.open.subscribe();
        open.wait_for(|open| *open).await.unwrap();
        let frame: Frame = serde_json::from_slice(frame).unwrap();
        self.posted.lock().unwrap().push((
            connection_id.to_string(),
            frame.conversation_id,
            frame.message.seq,
        ));
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        shared::infra::push::fanout::Delivery::Sent
    }
}

/// A messages-stream INSERT of a text as Lambda hands it.
fn text_record(cid: &str, seq: u64, number: usize) -> serde_json::Value {
    let text = serde_json::json!({ "text": { "S": format!("message {seq}") } });
    let image = groupshare_tests::message_image(cid, seq, &unique("m"), "u0", "text", text);
    groupshare_tests::stream_record("INSERT", number as u64, image)
}

/// One stream batch spans many conversations (up to 100 records): ten users with ten devices
/// each, in twenty groups together, are 2,000 connections to post to. The posts in flight are
/// bounded for the whole invocation, not per conversation (each is a socket, and Lambda allows
/// 1,024 file descriptors), and so are the conversations whose recipients are read at once;
/// every connection still gets each conversation's frames in `seq` order. Every post is held
/// until all recipients are read, so every post the fan-out lets start is in flight at once.
#[tokio::test]
async fn one_batch_of_many_groups_keeps_posts_and_reads_within_the_invocations_bounds() {
    use shared::infra::push::fanout::{fan_out, CONCURRENT_POSTS, CONCURRENT_READS};
    const GROUPS: usize = 20;
    let (app, calls) = groupshare_tests::counted_stack().await;
    let users: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
    let others: Vec<&str> = users[1..].iter().map(String::as_str).collect();
    let now_s = shared::domain::time::now_ms() / 1000;
    for user in &users {
        for device in 0..10 {
            let connection = format!("{user}-device-{device}");
            assert!(app
                .store
                .put_connection(user, &connection, now_s - 60, 10)
                .await
                .unwrap());
        }
    }
    let mut records = Vec::new();
    for _ in 0..GROUPS {
        let cid = groupshare_tests::create_group(app, "u0", &others).await;
        for seq in [2, 3] {
            records.push(text_record(&cid, seq, records.len() + 1));
        }
    }
    let event: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();

    let delivery = HeldDelivery {
        open: tokio::sync::watch::channel(false).0,
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        posted: Default::default(),
    };
    calls.reset();
    // Each group's recipients are one members Query and one connections BatchGetItem.
    let all_read = || {
        let batch_gets = calls
            .calls()
            .iter()
            .filter(|c| c.operation == "BatchGetItem")
            .count();
        batch_gets == GROUPS && calls.in_flight() == 0
    };
    let ((report, response), ()) =
        tokio::join!(fan_out(&app.store, &delivery, &event, now_s), async {
            while !all_read() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            delivery.open.send_replace(true);
        });

    assert!(response.batch_item_failures.is_empty());
    assert_eq!(report.connections, GROUPS * 100);
    assert_eq!(report.sent, GROUPS * 100 * 2);
    let peak = delivery.peak.load(Ordering::SeqCst);
    assert!(
        peak <= CONCURRENT_POSTS,
        "{peak} posts in flight at once, over {CONCURRENT_POSTS}"
    );
    let (_, reads_at_once) = calls.read();
    assert!(
        reads_at_once <= CONCURRENT_READS,
        "{reads_at_once} DynamoDB reads in flight at once, over {CONCURRENT_READS}"
    );
    let posted = delivery.posted.lock().unwrap();
    let mut seqs: std::collections::HashMap<(&str, &str), Vec<u64>> = Default::default();
    for (connection, cid, seq) in posted.iter() {
        seqs.entry((connection, cid)).or_default().push(*seq);
    }
    assert_eq!(seqs.len(), GROUPS * 100);
    assert!(
        seqs.values().all(|s| s == &[2, 3]),
        "in seq order: {seqs:?}"
    );
}
