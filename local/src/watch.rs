//! `groupshare-local watch USER`: a device's view of push, on the terminal. Connects to the
//! running local stack (`GROUPSHARE_API`, else `http://127.0.0.1:$GROUPSHARE_PORT`, port 9000
//! by default) as USER and prints each frame as one JSON line, until the stack closes the socket.

use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

pub async fn run(user: &str) -> Result<(), Error> {
    let api = std::env::var("GROUPSHARE_API").unwrap_or_else(|_| {
        let port = std::env::var("GROUPSHARE_PORT").unwrap_or_else(|_| "9000".into());
        format!("http://127.0.0.1:{port}")
    });
    let token = local_token(&api, user).await?;
    let ws = format!("{}/ws?token={token}", api.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str()).await?;
    eprintln!("watching as {user} ({api}/ws); Ctrl-C stops");
    while let Some(message) = socket.next().await {
        match message? {
            Message::Text(text) => println!("{text}"),
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(())
}

/// A token from the stack's local-only token route.
async fn local_token(api: &str, user: &str) -> Result<String, Error> {
    use http_body_util::{BodyExt, Empty};
    let authority = api
        .strip_prefix("http://")
        .ok_or("GROUPSHARE_API must be an http:// URL (the local stack)")?
        .trim_end_matches('/')
        .to_string();
    let stream = tokio::net::TcpStream::connect(&authority).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let path = format!(
        "{}?user={}",
        crate::authorizer::TOKEN_PATH,
        percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC)
    );
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, &authority)
        .body(Empty::<hyper::body::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match value["token"].as_str() {
        Some(token) if status.is_success() => Ok(token.to_string()),
        _ => Err(format!(
            "no token for {user} ({status}): {}",
            String::from_utf8_lossy(&body)
        )
        .into()),
    }
}
