//! The local stack end to end, as a developer runs it (`scripts/local`): S3 events reach the
//! upload-completed handler through the stand-in's bucket notifications, so crashed clients and
//! stale forms behave as in AWS; and whatever got a 2xx survives `kill -9` of either process.

use std::time::Duration;

use futures::future::join_all;
use groupshare_tests::local_stack::{eventually, LocalStack};
use groupshare_tests::{sha256_hex, unique, upload_body, Client, Query};
use shared::api::uploads::UploadForm;
use shared::domain::model::MessageView;

/// `user`'s typed client for the local server, over HTTP.
fn api(stack: &LocalStack, user: &str) -> Client<'static> {
    Client::over_http(&stack.api, stack.client(), user)
}

async fn group(api: &Client<'_>, members: &[&str]) -> String {
    api.create_conversation("t", members)
        .await
        .created()
        .conversation_id
}

async fn history(api: &Client<'_>, cid: &str) -> Vec<MessageView> {
    api.messages(cid, Query::limit(100)).await.ok().messages
}

/// Asks for an upload form (with or without a declared hash) and posts `bytes` with it.
async fn upload_without_completing(
    api: &Client<'_>,
    cid: &str,
    bytes: &[u8],
    declare: bool,
) -> (String, UploadForm) {
    let sha256 = declare.then(|| sha256_hex(bytes));
    let body = upload_body(
        &unique("u"),
        "f.txt",
        bytes.len(),
        "text/plain",
        sha256.as_deref(),
    );
    let ticket = api.create_upload(cid, body).await.created();
    let sent = groupshare_tests::post_form(&ticket.upload, bytes.to_vec()).await;
    assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
    (ticket.file_id, ticket.upload.expect("a POST form"))
}

async fn download(api: &Client<'_>, cid: &str, file_id: &str) -> Vec<u8> {
    let r = api.download(cid, file_id, Query::new()).await;
    reqwest::get(r.location())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

fn announces(messages: &[MessageView], file_id: &str) -> bool {
    messages
        .iter()
        .any(|m| m.file.as_ref().is_some_and(|f| f.file_id == file_id))
}

#[tokio::test]
async fn the_local_stack_runs_s3_events_and_keeps_what_it_acknowledged() {
    let mut stack = LocalStack::start().await;
    let cid;
    let crashed_client_file;
    let (pinned_file, original);
    let mut acknowledged_texts = Vec::new();
    {
        let [alice, bob, mallory] = ["alice", "bob", "mallory"].map(|u| api(&stack, u));
        cid = group(&alice, &["bob", "mallory"]).await;

        // A client that uploads and dies before /complete: the S3 event announces its file.
        let (file_id, _) = upload_without_completing(&alice, &cid, b"crashed client", true).await;
        let announced = eventually(Duration::from_secs(15), || async {
            announces(&history(&bob, &cid).await, &file_id).then_some(())
        })
        .await;
        assert!(announced.is_some(), "the S3 event completed the upload");
        crashed_client_file = file_id;

        // Bytes posted with a form after completion: never served, and removed on arrival.
        original = b"what was shared".to_vec();
        let (file_id, form) = upload_without_completing(&alice, &cid, &original, false).await;
        let done = alice.complete_upload(&cid, &file_id).await;
        assert!(matches!(done.status, 200 | 201));
        let swapped = groupshare_tests::post_form(&form, b"what was forged".to_vec()).await;
        assert!(swapped.status().is_success());
        assert_eq!(download(&bob, &cid, &file_id).await, original);
        let s3 = stack_s3(&stack).await;
        // The local stack keeps the default retention (7 days).
        let key = shared::infra::blob::object_key(&cid, &file_id, 7);
        let one_version_left = eventually(Duration::from_secs(15), || async {
            (versions(&s3, &key).await == 1).then_some(())
        })
        .await;
        assert!(one_version_left.is_some(), "the stray version was deleted");
        assert_eq!(download(&bob, &cid, &file_id).await, original);
        pinned_file = file_id;

        // A form collected before a removal and used after it announces nothing.
        let body = upload_body("late", "x.txt", 4, "text/plain", None);
        let ticket = mallory.create_upload(&cid, body).await;
        assert_eq!(ticket.status, 201);
        let ticket = ticket.created();
        let removed = alice.remove_member(&cid, "mallory").await;
        assert_eq!(removed.status, 204);
        assert!(
            groupshare_tests::post_form(&ticket.upload, b"late".to_vec())
                .await
                .status()
                .is_success()
        );
        // A later upload's event as a marker that the queue got past mallory's.
        let (marker, _) = upload_without_completing(&bob, &cid, b"marker", true).await;
        eventually(Duration::from_secs(15), || async {
            announces(&history(&bob, &cid).await, &marker).then_some(())
        })
        .await
        .expect("the marker upload was announced");
        assert!(!announces(&history(&bob, &cid).await, &ticket.file_id));

        // Concurrent sends; remember every one that was acknowledged.
        let sends = join_all((0..30).map(|i| {
            let api = if i % 2 == 0 { &alice } else { &bob };
            let cid = &cid;
            async move {
                let text = format!("message {i}");
                // As a device does: a 503 ("retry later", thirty senders contending for one
                // group's next seq on a busy machine) is retried with the same client_msg_id,
                // which can never store a second message.
                let mut sent = api.post_message(cid, &format!("c{i}"), &text).await;
                for _ in 0..10 {
                    if sent.status != 503 {
                        break;
                    }
                    sent = api.post_message(cid, &format!("c{i}"), &text).await;
                }
                (sent, text)
            }
        }))
        .await;
        for (sent, text) in sends {
            acknowledged_texts.push((sent.created().seq, text));
        }
    }

    // kill -9 both processes; everything acknowledged is still there.
    stack.crash_and_restart().await;
    let bob = api(&stack, "bob");
    let messages = history(&bob, &cid).await;
    let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gap-free after the crash"
    );
    for (seq, text) in &acknowledged_texts {
        let m = messages.iter().find(|m| m.seq == *seq).unwrap();
        assert_eq!(m.text.as_ref(), Some(text));
    }
    assert!(announces(&messages, &crashed_client_file));
    assert_eq!(download(&bob, &cid, &pinned_file).await, original);
    assert_eq!(
        download(&bob, &cid, &crashed_client_file).await,
        b"crashed client"
    );

    // kill -9 of the API server alone loses nothing either, and the stack keeps working.
    stack.crash_server_and_restart().await;
    let bob = api(&stack, "bob");
    assert_eq!(history(&bob, &cid).await.len(), messages.len());
    let sent = bob.post_message(&cid, "after", "still here").await;
    assert_eq!(sent.status, 201);
}

async fn stack_s3(stack: &LocalStack) -> aws_sdk_s3::Client {
    let sdk = groupshare_tests::sdk_config(&stack.aws, "l", "l");
    shared::infra::aws::s3_client(&sdk, true)
}

async fn versions(s3: &aws_sdk_s3::Client, key: &str) -> usize {
    let out = s3
        .list_object_versions()
        .bucket("groupshare-local-files")
        .prefix(key)
        .send()
        .await
        .unwrap();
    out.versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .count()
}
