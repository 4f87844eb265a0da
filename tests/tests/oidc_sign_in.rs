//! The local authorizer with an OpenID provider configured (what `scripts/local` runs): ID
//! tokens signed by a key of the provider's JWKS, served over HTTP by this test, are verified
//! through that JWKS with API Gateway's rules and their claims handed to the functions; tokens
//! that break a rule are refused with a 401 before any function runs. The stack's own tokens
//! (`/local/token`) keep working beside them.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use groupshare_local::authorizer::{Authorizer, Decision};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::Response;
use hyper_util::rt::TokioIo;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{json, Value};
use shared::edge::token::testing::{rs256, rsa_from_pem, rsa_jwk, with};
use shared::edge::token::TokenConfig;

/// The web client's id at the provider: the ID token's `aud`.
const CLIENT_ID: &str = "groupshare-web";
/// Test-only keys (tests/fixtures), used nowhere else.
const RSA_1: &str = include_str!("../fixtures/ws-authorizer-test-rsa.pem");
const RSA_2: &str = include_str!("../fixtures/ws-authorizer-test-rsa-2.pem");

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A provider on a loopback port whose issuer is its own URL, whose discovery document names its
/// JWKS (at Cognito's path, `{issuer}/.well-known/jwks.json`, as local/oidc serves it), which
/// holds the first test key. Returns the issuer and a count of JWKS requests.
async fn provider() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let jwks = json!({"keys": [rsa_jwk(&rsa_from_pem(RSA_1), "k1")]}).to_string();
    let discovery =
        json!({"issuer": issuer, "jwks_uri": format!("{issuer}/.well-known/jwks.json")});
    let discovery = discovery.to_string();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (jwks, discovery, counted) = (jwks.clone(), discovery.clone(), counted.clone());
            let service = hyper::service::service_fn(move |req| {
                let body = match req.uri().path() {
                    "/.well-known/jwks.json" => {
                        counted.fetch_add(1, Ordering::SeqCst);
                        Some(jwks.clone())
                    }
                    "/.well-known/openid-configuration" => Some(discovery.clone()),
                    _ => None,
                };
                let response = Response::builder()
                    .status(if body.is_some() { 200 } else { 404 })
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body.unwrap_or_default())))
                    .unwrap();
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (issuer, requests)
}

/// The local authorizer as `groupshare-local serve` builds it with `GROUPSHARE_OIDC_ISSUER`.
fn authorizer(issuer: &str) -> Authorizer {
    Authorizer::ephemeral()
        .with_issuer(TokenConfig::new(issuer, CLIENT_ID, None).unwrap())
        .unwrap()
}

/// The ID token the provider issues to bob at sign-in.
fn id_token_claims(issuer: &str) -> Value {
    json!({
        "sub": "bob", "iss": issuer, "aud": CLIENT_ID, "iat": now() - 5, "exp": now() + 3600,
        "name": "Bob", "email": "bob@example.com", "email_verified": true,
        "nonce": "n-0S6_WzA2Mj", "auth_time": now() - 5,
    })
}

fn get(token: &str) -> Request {
    lambda_http::http::Request::builder()
        .uri("http://localhost/conversations")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::Empty)
        .unwrap()
}

/// The claims the functions get (`requestContext.authorizer.jwt.claims`), or the 401's message.
async fn authorized(
    authz: &Authorizer,
    token: &str,
) -> Result<std::collections::HashMap<String, String>, String> {
    match authz.authorize(get(token)).await {
        Decision::Forward(req) => {
            // The caller as every function reads it.
            let caller = shared::edge::identity::caller(&req).expect("a caller");
            let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
                panic!("an HTTP API request context");
            };
            let claims = ctx
                .authorizer
                .as_ref()
                .unwrap()
                .jwt
                .as_ref()
                .unwrap()
                .claims
                .clone();
            assert_eq!(claims["sub"], caller.user_id);
            Ok(claims)
        }
        Decision::Deny(response) => {
            // API Gateway's own answer: its body, and why in the challenge.
            assert_eq!(response.status(), 401);
            let body: Value = match response.body() {
                Body::Text(t) => serde_json::from_str(t).unwrap(),
                Body::Binary(b) => serde_json::from_slice(b).unwrap(),
                Body::Empty => Value::Null,
                _ => unreachable!(),
            };
            assert_eq!(body, json!({"message": "Unauthorized"}));
            let challenge = response.headers()["www-authenticate"].to_str().unwrap();
            let why = challenge
                .split("error_description=\"")
                .nth(1)
                .unwrap_or_default();
            Err(why.trim_end_matches('"').to_string())
        }
    }
}

#[tokio::test]
async fn a_provider_id_token_is_verified_through_its_jwks_and_its_claims_forwarded() {
    let (issuer, jwks_requests) = provider().await;
    let authz = authorizer(&issuer);
    let key = rsa_from_pem(RSA_1);

    let claims = authorized(&authz, &rs256(&key, "k1", &id_token_claims(&issuer)))
        .await
        .expect("bob's ID token is accepted");
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["name"], "Bob");
    assert_eq!(claims["email"], "bob@example.com");
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(
        jwks_requests.load(Ordering::SeqCst),
        1,
        "the JWKS was fetched"
    );

    // The WebSocket handshake's check (local/src/push.rs) is the same verification.
    let token = rs256(&key, "k1", &id_token_claims(&issuer));
    assert_eq!(authz.verify(&token).await.unwrap()["sub"], "bob");
    assert_eq!(
        jwks_requests.load(Ordering::SeqCst),
        1,
        "the keys are cached"
    );

    // The stack's own tokens (curl, scripts) still work beside the provider's.
    let (local, _) = authz.issue("alice");
    assert_eq!(authorized(&authz, &local).await.unwrap()["sub"], "alice");
}

#[tokio::test]
async fn provider_tokens_that_break_a_rule_are_refused() {
    let (issuer, _) = provider().await;
    let authz = authorizer(&issuer);
    let key = rsa_from_pem(RSA_1);
    let token = |changes: Value| rs256(&key, "k1", &with(id_token_claims(&issuer), changes));

    for (what, bad, message) in [
        (
            "another client's token",
            token(json!({"aud": "someone-else"})),
            "the token's audience is not accepted",
        ),
        (
            // Another issuer's token is judged by the stack's own rules: not its key either.
            "another issuer",
            token(json!({"iss": "https://evil.example"})),
            "the token's issuer is not accepted",
        ),
        (
            "expired",
            token(json!({"iat": now() - 7200, "exp": now() - 1})),
            "the token has expired",
        ),
        (
            "not valid yet",
            token(json!({"nbf": now() + 300})),
            "the token is not valid yet",
        ),
        (
            "no exp",
            token(json!({"exp": null})),
            "the token lacks a required claim",
        ),
        (
            "signed by a key outside the JWKS",
            rs256(&rsa_from_pem(RSA_2), "k2", &id_token_claims(&issuer)),
            "the token's signing key is not the issuer's",
        ),
        (
            "another key under the JWKS key's kid",
            rs256(&rsa_from_pem(RSA_2), "k1", &id_token_claims(&issuer)),
            "the token's signature does not verify",
        ),
    ] {
        assert_eq!(
            authorized(&authz, &bad).await.err().as_deref(),
            Some(message),
            "{what}"
        );
    }
}

#[tokio::test]
async fn without_a_provider_its_tokens_are_refused() {
    // The stack as the Rust tests and the `local` browser tests run it: no provider configured.
    let (issuer, requests) = provider().await;
    let token = rs256(&rsa_from_pem(RSA_1), "k1", &id_token_claims(&issuer));
    let authz = Authorizer::ephemeral();
    assert_eq!(
        authorized(&authz, &token).await.err().as_deref(),
        Some("the token's issuer is not accepted")
    );
    assert_eq!(requests.load(Ordering::SeqCst), 0, "nothing was fetched");
}
