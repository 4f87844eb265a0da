//! A small HTTP/1.1 server that turns each request into the `lambda_http::Request` a function
//! would get and answers with its response.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use shared::App;
use tokio::net::TcpListener;

/// Serves until the task is dropped. Returns the bound address (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

pub async fn serve(listener: TcpListener, app: &'static App) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(app, req));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await
            {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}

/// The management API (`POST /@connections/{id}` and friends) on an internal listener: a web
/// page or any client of the public port cannot push frames into other people's sockets.
pub async fn serve_management(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|req: hyper::Request<Incoming>| async move {
                Ok::<_, hyper::Error>(
                    if req.uri().path().starts_with(crate::push::CONNECTIONS_PATH) {
                        crate::push::management(req).await
                    } else {
                        hyper::Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::new()))
                            .expect("a valid response")
                    },
                )
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    app: &'static App,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    // The reference web client's static files (crate::web); everything else is the API.
    if let Some(response) = crate::web::serve(req.method(), req.uri().path()) {
        return Ok(response);
    }
    // Push (crate::push): the WebSocket API. Its management API is not here: it listens on a
    // port of its own that only the stream pump is told ([`serve_management`]), as API
    // Gateway's takes only IAM-signed calls from the stack's own functions.
    if req.uri().path() == crate::push::WS_PATH {
        return Ok(crate::push::upgrade(app, req).await);
    }
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes.to_vec())
    };
    let request = lambda_http::http::Request::from_parts(parts, body);
    let response = crate::router::dispatch(app, request).await;
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    Ok(hyper::Response::from_parts(parts, Full::new(bytes)))
}
