//! A deletion or an abort that has committed answers what happened even when storage is too slow
//! to remove the bytes before the request's deadline, and a retry removes what is left. S3 is
//! reached through a loopback proxy that can hold every answer back (slow storage, for real: the
//! SDK, its timeouts and the presigned URLs all go through it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use groupshare_tests::*;
use lambda_http::RequestExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// While `slow` is set, every chunk S3 answers with waits this long before it is passed on.
const HOLD: Duration = Duration::from_secs(3);

/// A TCP proxy to `upstream` on a free loopback port; returns its URL and the slow switch.
async fn slow_proxy(upstream: &str) -> (String, Arc<AtomicBool>) {
    let target = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let slow = Arc::new(AtomicBool::new(false));
    let switch = slow.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let target = target.clone();
            let slow = slow.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    let _ = server_write.shutdown().await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if slow.load(Ordering::SeqCst) {
                        tokio::time::sleep(HOLD).await;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    (url, switch)
}

/// A request with a Lambda deadline `budget` from now, as API Gateway's invocation carries it.
fn due_in(method: &str, path: &str, user: &str, budget: Duration) -> lambda_http::Request {
    let mut ctx = lambda_http::Context::default();
    ctx.deadline = (std::time::SystemTime::now() + budget)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    request(method, path, Some(user), None).with_lambda_context(ctx)
}

#[tokio::test]
async fn a_deletion_under_slow_storage_answers_what_happened_and_a_retry_removes_the_bytes() {
    let (proxy, slow) = slow_proxy(&std::env::var("GROUPSHARE_TEST_ENDPOINT").unwrap()).await;
    let app = stack_with(Options {
        s3_endpoint: proxy,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let bytes = b"the contract, signed".to_vec();
    let file_id = upload(
        app,
        &cid,
        "alice",
        "contract.pdf",
        "application/pdf",
        &bytes,
    )
    .await;
    let seq = app
        .store
        .get_file(&file_id)
        .await
        .unwrap()
        .unwrap()
        .message_seq
        .unwrap();
    let bob = client(app, "bob");
    let kept_url = bob
        .download(&cid, &file_id, Query::new())
        .await
        .location()
        .to_string();

    // Storage turns slow: the tombstone commits, the bytes cannot go before the deadline.
    slow.store(true, Ordering::SeqCst);
    let path = format!("/conversations/{cid}/messages/{seq}");
    let r = call(
        app,
        due_in("DELETE", &path, "alice", Duration::from_secs(4)),
    )
    .await;
    assert_eq!(
        r.status, 200,
        "a committed deletion is no 503: {:?}",
        r.json
    );
    assert_eq!(r.json["message"]["kind"], "deleted");
    assert_eq!(r.json["bytes_removed"], false, "{:?}", r.json);
    slow.store(false, Ordering::SeqCst);
    // As the answer says: the file is deleted for everyone, its bytes not yet gone, so a URL
    // handed out before still serves them until the removal finishes.
    let info = bob.file_info(&cid, &file_id).await;
    assert_eq!(info.json["status"], "deleted", "{:?}", info.json);
    let early = http_client().get(&kept_url).send().await.unwrap();
    assert_eq!(early.bytes().await.unwrap().as_ref(), &bytes[..]);

    // A retried DELETE finishes the removal; the old URL serves nothing from then on.
    let again = client(app, "alice").send("DELETE", &path, None).await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["bytes_removed"], true, "{:?}", again.json);
    let after = http_client().get(&kept_url).send().await.unwrap();
    assert!(after.status().is_client_error(), "{}", after.status());
}

#[tokio::test]
async fn an_abort_under_slow_storage_is_answered_as_done() {
    let (proxy, slow) = slow_proxy(&std::env::var("GROUPSHARE_TEST_ENDPOINT").unwrap()).await;
    let app = stack_with(Options {
        s3_endpoint: proxy,
        multipart_threshold_bytes: 5 * 1024 * 1024,
        part_size_bytes: 5 * 1024 * 1024,
        ..Options::default()
    })
    .await;
    let cid = create_group(app, "alice", &[]).await;
    let body = upload_body(
        &unique("u"),
        "big.bin",
        12 * 1024 * 1024,
        "application/octet-stream",
        None,
    );
    let ticket = client(app, "alice")
        .create_upload(&cid, body)
        .await
        .created();
    slow.store(true, Ordering::SeqCst);
    let path = format!("/conversations/{cid}/uploads/{}", ticket.file_id);
    let r = call(
        app,
        due_in("DELETE", &path, "alice", Duration::from_secs(4)),
    )
    .await;
    assert_eq!(r.status, 204, "a committed abort is no 503: {:?}", r.json);
    slow.store(false, Ordering::SeqCst);
    let state = client(app, "alice")
        .upload_state(&cid, &ticket.file_id)
        .await;
    assert_eq!(state.json["status"], "deleted", "{:?}", state.json);
    // Retried, it removes what is left and answers the same.
    let again = client(app, "alice").send("DELETE", &path, None).await;
    assert_eq!(again.status, 204, "{:?}", again.json);
}
