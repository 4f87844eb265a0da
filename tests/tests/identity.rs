//! Identity: the local stack's JWT authorizer (bearer tokens it issues, the `X-Dev-User`
//! shorthand, 401 without calling a function), and function code that knows only the
//! authorizer's claims: a dev header sent straight to a handler is no identity.

use groupshare_local::authorizer::{self, AUDIENCE, ISSUER};
use groupshare_tests::local_stack::LocalStack;
use groupshare_tests::*;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use shared::api::conversations::ConversationView;
use shared::edge::route::ROUTES;

fn with_bearer(method: &str, path: &str, token: &str, body: Option<Value>) -> Request {
    let mut req = request(method, path, None, body);
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// A token from the local stack's token route, through the same entry point as every request.
/// (Raw: a local-only route, not in the route table, whose body has no type of its own.)
async fn token_for(app: &shared::App, user: &str) -> String {
    let r = call(
        app,
        request("POST", "/local/token", None, Some(json!({"user_id": user}))),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert!(r.json["expires_at"].as_str().unwrap().ends_with('Z'));
    r.json["token"].as_str().unwrap().to_string()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_bearer_token_issued_by_the_local_stack_works() {
    let app = stack().await;
    let token = token_for(app, "alice").await;
    let created = call(
        app,
        with_bearer(
            "POST",
            "/conversations",
            &token,
            Some(json!({"title": "t", "members": ["bob"]})),
        ),
    )
    .await;
    let created: ConversationView = created.typed().created();
    let cid = created.conversation_id.as_str();

    // GET /local/token?user= works too, and the token names bob.
    let r = call(app, request("GET", "/local/token?user=bob", None, None)).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let bob = r.json["token"].as_str().unwrap();
    let page = call(
        app,
        with_bearer("GET", &format!("/conversations/{cid}/messages"), bob, None),
    )
    .await;
    assert_eq!(page.status, 200, "{:?}", page.json);
    // The shorthand and the token name the same caller.
    let mine = client(app, "bob").conversations(Query::new()).await;
    let theirs = call(app, with_bearer("GET", "/conversations", bob, None)).await;
    assert_eq!(mine.json, theirs.json);

    // The token route refuses what is not a user id.
    for bad in [json!({"user_id": "a b"}), json!({"user": "bob"}), json!([])] {
        let r = call(app, request("POST", "/local/token", None, Some(bad))).await;
        assert_eq!(r.status, 400, "{:?}", r.json);
    }
    let r = call(app, request("DELETE", "/local/token", None, None)).await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn tampered_expired_and_foreign_tokens_get_401() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let url = format!("/conversations/{cid}/messages");
    let token = token_for(app, "alice").await;
    assert_eq!(
        call(app, with_bearer("GET", &url, &token, None))
            .await
            .status,
        200
    );

    // Tampered: the payload says mallory, the signature is alice's.
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = json!("mallory");
        b64.encode(claims.to_string())
    };
    let tampered = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    // Tampered signature.
    let mut bad_sig = token.clone();
    let last = bad_sig.pop().unwrap();
    bad_sig.push(if last == 'A' { 'B' } else { 'A' });

    let authz = authorizer::global();
    let claims = |sub: &str, iss: &str, aud: &str, exp: u64| json!({"sub": sub, "iss": iss, "aud": aud, "iat": now() - 7200, "exp": exp});
    let expired = authz.sign(&claims("alice", ISSUER, AUDIENCE, now() - 60));
    let other_audience = authz.sign(&claims("alice", ISSUER, "someone-else", now() + 600));
    let other_issuer = authz.sign(&claims(
        "alice",
        "https://evil.example",
        AUDIENCE,
        now() + 600,
    ));
    let no_expiry = authz.sign(&json!({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE}));
    let other_key = authorizer::Authorizer::ephemeral().issue("alice").0;
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);

    for (what, bad) in [
        ("tampered payload", tampered.as_str()),
        ("tampered signature", bad_sig.as_str()),
        ("expired", expired.as_str()),
        ("another audience", other_audience.as_str()),
        ("another issuer", other_issuer.as_str()),
        ("no exp", no_expiry.as_str()),
        ("another stack's key", other_key.as_str()),
        ("alg none", unsigned.as_str()),
        ("not a JWT", "alice"),
    ] {
        let r = call(app, with_bearer("GET", &url, bad, None)).await;
        assert!(
            r.refused_by_the_gateway(),
            "{what}: {} {:?}",
            r.status,
            r.json
        );
        // A bad token is not rescued by the shorthand header.
        let mut req = with_bearer("GET", &url, bad, None);
        req.headers_mut()
            .insert("x-dev-user", "alice".parse().unwrap());
        let r = call(app, req).await;
        assert!(
            r.refused_by_the_gateway(),
            "{what} + X-Dev-User: {}",
            r.status
        );
    }
    let r = call(app, with_bearer("GET", &url, &expired, None)).await;
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains(r#"error_description="the token has expired""#),
        "{challenge}"
    );
}

/// As with a JWT authorizer on every route: no credentials, 401 everywhere, and no function
/// called. Paths that are no route stay 404.
#[tokio::test]
async fn no_credentials_is_401_on_every_route() {
    let app = stack().await;
    for spec in ROUTES {
        let (method, template) = (&spec.method, spec.template);
        let path = template
            .replace("{conversation_id}", "c1")
            .replace("{file_id}", "f1")
            .replace("{user_id}", "u1");
        let body = (*method != "GET" && *method != "DELETE").then(|| json!({}));
        let r = call(app, request(method, &path, None, body)).await;
        assert!(
            r.refused_by_the_gateway(),
            "{method} {template}: {} {:?}",
            r.status,
            r.json
        );
    }
    // A path whose ids the functions refuse is still a route: API Gateway matches templates,
    // so the authorizer answers first, and nothing about the ids reaches an unknown caller.
    let r = call(
        app,
        request("GET", "/conversations/no%20such/messages", None, None),
    )
    .await;
    assert!(r.refused_by_the_gateway(), "{} {:?}", r.status, r.json);
    let r = call(app, request("GET", "/no/such/route", None, None)).await;
    assert!(r.no_route_at_the_gateway(), "{} {:?}", r.status, r.json);
}

/// The function code itself: an API Gateway v2 event with `X-Dev-User` and no authorizer
/// claims, handed straight to each HTTP function's handler, is unauthenticated.
#[tokio::test]
async fn functions_ignore_the_dev_header() {
    let app = stack().await;
    type Handler = for<'a> fn(
        &'a shared::App,
        Request,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Response<Body>> + 'a>,
    >;
    let cases: [(&str, Handler); 6] = [
        ("pull-messages.json", |a, r| {
            Box::pin(pull_messages::handle(a, r))
        }),
        ("file-info.json", |a, r| Box::pin(file_info::handle(a, r))),
        ("download-redirect.json", |a, r| {
            Box::pin(download_redirect::handle(a, r))
        }),
        ("list-conversations.json", |a, r| {
            Box::pin(conversations::handle(a, r))
        }),
        ("post-message.json", |a, r| {
            Box::pin(post_message::handle(a, r))
        }),
        ("create-upload.json", |a, r| {
            Box::pin(upload_file::handle(a, r))
        }),
    ];
    for (file, handle) in cases {
        let text =
            std::fs::read_to_string(format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR")))
                .unwrap();
        let with_claims: Value = serde_json::from_str(&text).unwrap();
        let mut dev = with_claims.clone();
        dev["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        let headers = dev["headers"].as_object_mut().unwrap();
        headers.remove("authorization");
        headers.insert("x-dev-user".into(), json!("alice"));

        let response = handle(
            app,
            lambda_http::request::from_str(&dev.to_string()).unwrap(),
        )
        .await;
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            (response.status().as_u16(), body["error"]["code"].as_str()),
            (401, Some("unauthenticated")),
            "{file}: {body}"
        );
        // The same event with the authorizer's claims gets past identity (404: the demo
        // group does not exist in this fresh stack).
        let response = handle(
            app,
            lambda_http::request::from_str(&with_claims.to_string()).unwrap(),
        )
        .await;
        assert_ne!(response.status(), 401, "{file} with claims");
    }
}

/// The local stack as a process: tokens come from its HTTP token route, and its secret is kept
/// in its data directory, so a token outlives a restart of the server.
#[tokio::test]
async fn the_local_server_issues_tokens_that_survive_a_restart() {
    let mut stack = LocalStack::start().await;
    let http = stack.client();
    let token: Value = http
        .get(format!("{}/local/token?user=alice", stack.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let status = |req: reqwest::RequestBuilder| async move { req.send().await.unwrap().status() };
    let list = |stack: &LocalStack| format!("{}/conversations", stack.api);

    assert_eq!(
        status(http.get(list(&stack)).bearer_auth(&token)).await,
        200
    );
    assert_eq!(
        status(http.get(list(&stack)).header("x-dev-user", "bob")).await,
        200
    );
    assert_eq!(status(http.get(list(&stack))).await, 401);
    assert_eq!(
        status(http.get(list(&stack)).bearer_auth("x.y.z")).await,
        401
    );

    stack.crash_server_and_restart().await;
    let http = stack.client();
    assert_eq!(
        status(http.get(list(&stack)).bearer_auth(&token)).await,
        200
    );
}
