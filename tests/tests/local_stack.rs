//! The local stack end to end, as a developer runs it (`scripts/local`): S3 events reach the
//! upload-completed handler through the stand-in's bucket notifications, so crashed clients and
//! stale forms behave as in AWS; and whatever got a 2xx survives `kill -9` of either process.

use std::time::Duration;

use futures::future::join_all;
use groupshare_tests::local_stack::{eventually, LocalStack};
use groupshare_tests::{sha256_hex, unique};
use serde_json::{json, Value};

struct Api<'a> {
    stack: &'a LocalStack,
    http: reqwest::Client,
}

impl<'a> Api<'a> {
    fn new(stack: &'a LocalStack) -> Self {
        Self {
            stack,
            http: stack.client(),
        }
    }

    async fn send(
        &self,
        method: &str,
        user: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.stack.api))
            .header("x-dev-user", user);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn group(&self, owner: &str, members: &[&str]) -> String {
        let (status, body) = self
            .send(
                "POST",
                owner,
                "/conversations",
                Some(json!({"title": "t", "members": members})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["conversation_id"].as_str().unwrap().to_string()
    }

    async fn history(&self, user: &str, cid: &str) -> Vec<Value> {
        let (status, body) = self
            .send(
                "GET",
                user,
                &format!("/conversations/{cid}/messages?limit=100"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["messages"].as_array().unwrap().clone()
    }

    /// Asks for an upload form (with or without a declared hash) and posts `bytes` with it.
    async fn upload_without_completing(
        &self,
        cid: &str,
        user: &str,
        bytes: &[u8],
        declare: bool,
    ) -> (String, Value) {
        let mut body = json!({"client_msg_id": unique("u"), "name": "f.txt", "size": bytes.len(), "content_type": "text/plain"});
        if declare {
            body["sha256"] = json!(sha256_hex(bytes));
        }
        let (status, ticket) = self
            .send(
                "POST",
                user,
                &format!("/conversations/{cid}/uploads"),
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{ticket}");
        let sent = groupshare_tests::post_form(&ticket["upload"], bytes.to_vec()).await;
        assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
        (
            ticket["file_id"].as_str().unwrap().to_string(),
            ticket["upload"].clone(),
        )
    }

    async fn download(&self, user: &str, cid: &str, file_id: &str) -> Vec<u8> {
        let r = self
            .http
            .get(format!(
                "{}/conversations/{cid}/files/{file_id}/download",
                self.stack.api
            ))
            .header("x-dev-user", user)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let url = r.headers()["location"].to_str().unwrap().to_string();
        reqwest::get(url)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }
}

fn announces(messages: &[Value], file_id: &str) -> bool {
    messages.iter().any(|m| m["file"]["file_id"] == file_id)
}

#[tokio::test]
async fn the_local_stack_runs_s3_events_and_keeps_what_it_acknowledged() {
    let mut stack = LocalStack::start().await;
    let cid;
    let crashed_client_file;
    let (pinned_file, original);
    let mut acknowledged_texts = Vec::new();
    {
        let api = Api::new(&stack);
        cid = api.group("alice", &["bob", "mallory"]).await;

        // A client that uploads and dies before /complete: the S3 event announces its file.
        let (file_id, _) = api
            .upload_without_completing(&cid, "alice", b"crashed client", true)
            .await;
        let announced = eventually(Duration::from_secs(15), || async {
            announces(&api.history("bob", &cid).await, &file_id).then_some(())
        })
        .await;
        assert!(announced.is_some(), "the S3 event completed the upload");
        crashed_client_file = file_id;

        // Bytes posted with a form after completion: never served, and removed on arrival.
        original = b"what was shared".to_vec();
        let (file_id, form) = api
            .upload_without_completing(&cid, "alice", &original, false)
            .await;
        let (status, _) = api
            .send(
                "POST",
                "alice",
                &format!("/conversations/{cid}/files/{file_id}/complete"),
                None,
            )
            .await;
        assert!(matches!(status, 200 | 201));
        let swapped = groupshare_tests::post_form(&form, b"what was forged".to_vec()).await;
        assert!(swapped.status().is_success());
        assert_eq!(api.download("bob", &cid, &file_id).await, original);
        let s3 = stack_s3(&stack).await;
        // The local stack keeps the default retention (7 days).
        let key = shared::blob::object_key(&cid, &file_id, 7);
        let one_version_left = eventually(Duration::from_secs(15), || async {
            (versions(&s3, &key).await == 1).then_some(())
        })
        .await;
        assert!(one_version_left.is_some(), "the stray version was deleted");
        assert_eq!(api.download("bob", &cid, &file_id).await, original);
        pinned_file = file_id;

        // A form collected before a removal and used after it announces nothing.
        let (status, ticket) = api
            .send("POST", "mallory", &format!("/conversations/{cid}/uploads"),
                Some(json!({"client_msg_id": "late", "name": "x.txt", "size": 4, "content_type": "text/plain"})))
            .await;
        assert_eq!(status, 201);
        let (status, _) = api
            .send(
                "DELETE",
                "alice",
                &format!("/conversations/{cid}/members/mallory"),
                None,
            )
            .await;
        assert_eq!(status, 204);
        assert!(
            groupshare_tests::post_form(&ticket["upload"], b"late".to_vec())
                .await
                .status()
                .is_success()
        );
        // A later upload's event as a marker that the queue got past mallory's.
        let (marker, _) = api
            .upload_without_completing(&cid, "bob", b"marker", true)
            .await;
        eventually(Duration::from_secs(15), || async {
            announces(&api.history("bob", &cid).await, &marker).then_some(())
        })
        .await
        .expect("the marker upload was announced");
        let late = ticket["file_id"].as_str().unwrap();
        assert!(!announces(&api.history("bob", &cid).await, late));

        // Concurrent sends; remember every one that was acknowledged.
        let sends = join_all((0..30).map(|i| {
            let api = &api;
            let cid = &cid;
            async move {
                let user = if i % 2 == 0 { "alice" } else { "bob" };
                let text = format!("message {i}");
                let (status, body) = api
                    .send(
                        "POST",
                        user,
                        &format!("/conversations/{cid}/messages"),
                        Some(json!({"client_msg_id": format!("c{i}"), "text": text})),
                    )
                    .await;
                (status, body, text)
            }
        }))
        .await;
        for (status, body, text) in sends {
            assert_eq!(status, 201, "{body}");
            acknowledged_texts.push((body["seq"].as_u64().unwrap(), text));
        }
    }

    // kill -9 both processes; everything acknowledged is still there.
    stack.crash_and_restart().await;
    let api = Api::new(&stack);
    let history = api.history("bob", &cid).await;
    let seqs: Vec<u64> = history.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gap-free after the crash"
    );
    for (seq, text) in &acknowledged_texts {
        let m = history.iter().find(|m| m["seq"] == *seq).unwrap();
        assert_eq!(m["text"], text.as_str());
    }
    assert!(announces(&history, &crashed_client_file));
    assert_eq!(api.download("bob", &cid, &pinned_file).await, original);
    assert_eq!(
        api.download("bob", &cid, &crashed_client_file).await,
        b"crashed client"
    );

    // kill -9 of the API server alone loses nothing either, and the stack keeps working.
    stack.crash_server_and_restart().await;
    let api = Api::new(&stack);
    assert_eq!(api.history("bob", &cid).await.len(), history.len());
    let (status, _) = api
        .send(
            "POST",
            "bob",
            &format!("/conversations/{cid}/messages"),
            Some(json!({"client_msg_id": "after", "text": "still here"})),
        )
        .await;
    assert_eq!(status, 201);
}

async fn stack_s3(stack: &LocalStack) -> aws_sdk_s3::Client {
    let sdk = shared::aws::sdk_config_loader()
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&stack.aws)
        .credentials_provider(aws_credential_types::Credentials::new(
            "l", "l", None, None, "t",
        ))
        .load()
        .await;
    shared::aws::s3_client(&sdk, true)
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
