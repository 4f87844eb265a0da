//! The WebSocket `$connect` authorizer end to end: `ws_authorizer::handle` with real tokens,
//! against a JWKS served over HTTP by this test (the requests it answers are counted).

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use ring::signature::{self as sig, EcdsaKeyPair, RsaKeyPair};
use serde_json::{json, Value};
use shared::edge::token::testing::{
    self, es256, p256, rs256, rsa_from_pem, rsa_jwk, signing_input, with,
};
use shared::edge::token::{TokenConfig, Verifier};
use ws_authorizer::{handle, AuthorizerError};

const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_wsTest";
const CLIENT_ID: &str = "groupshare-app";
const SAMPLE_EVENT: &str = include_str!("../../events/ws-connect-authorizer.json");
/// Test-only keys, generated for these tests and used nowhere else.
const RSA_1: &str = include_str!("../fixtures/ws-authorizer-test-rsa.pem");
const RSA_2: &str = include_str!("../fixtures/ws-authorizer-test-rsa-2.pem");

// --- test keys and tokens --------------------------------------------------------------

fn rsa(pem: &str) -> RsaKeyPair {
    rsa_from_pem(pem)
}

/// The shared P-256 JWK with the `use` and `alg` an issuer's JWKS carries.
fn ec_jwk(key: &EcdsaKeyPair, kid: &str) -> Value {
    with(
        testing::ec_jwk(key, kid),
        json!({"use": "sig", "alg": "ES256"}),
    )
}

fn hs256(secret: &[u8], kid: &str, claims: &Value) -> String {
    let input = signing_input(&json!({"alg": "HS256", "typ": "JWT", "kid": kid}), claims);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mac = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", B64.encode(mac.as_ref()))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An ID-token-like claim set for `sub`.
fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": CLIENT_ID, "token_use": "id",
           "iat": now() - 5, "exp": now() + 3600})
}

// --- the issuer's JWKS endpoint --------------------------------------------------------

struct Jwks {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    requests: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl Jwks {
    /// Serves `{"keys": keys}` at `/.well-known/jwks.json` on a loopback port.
    async fn serve(keys: Vec<Value>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let keys = Arc::new(Mutex::new(keys));
        let requests = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let (k, r, f) = (keys.clone(), requests.clone(), failing.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (k, r, f) = (k.clone(), r.clone(), f.clone());
                let service = hyper::service::service_fn(move |req| {
                    r.fetch_add(1, Ordering::SeqCst);
                    let response = if f.load(Ordering::SeqCst) {
                        Response::builder()
                            .status(StatusCode::SERVICE_UNAVAILABLE)
                            .body(Full::new(Bytes::from("down")))
                    } else if req.uri().path() != "/.well-known/jwks.json" {
                        Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::new(Bytes::new()))
                    } else {
                        let body = json!({"keys": *k.lock().unwrap()}).to_string();
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(body)))
                    };
                    async move { Ok::<_, Infallible>(response.unwrap()) }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Self {
            url,
            keys,
            requests,
            failing,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn rotate(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }

    /// A verifier of this issuer's tokens with the defaults the function runs with.
    fn verifier(&self) -> Verifier {
        self.verifier_with(|_| {})
    }

    fn verifier_with(&self, change: impl FnOnce(&mut TokenConfig)) -> Verifier {
        let mut config =
            TokenConfig::new(ISSUER, &format!("other-app,{CLIENT_ID}"), Some(&self.url)).unwrap();
        change(&mut config);
        Verifier::new(config).unwrap()
    }
}

// --- events ----------------------------------------------------------------------------

const METHOD_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:ws123abc/production/$connect";

/// The sample `$connect` event with `token` as its query parameter (none: no query string).
fn connect(token: Option<&str>) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    let mut v: Value = serde_json::from_str(SAMPLE_EVENT).unwrap();
    v["queryStringParameters"] = token.map_or(json!({}), |t| json!({ "token": t }));
    v["multiValueQueryStringParameters"] = token.map_or(json!({}), |t| json!({ "token": [t] }));
    serde_json::from_value(v).unwrap()
}

fn connect_with_header(authorization: &str) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    let mut v: Value = serde_json::from_str(SAMPLE_EVENT).unwrap();
    v["queryStringParameters"] = json!({});
    v["multiValueQueryStringParameters"] = json!({});
    v["headers"]["Authorization"] = json!(authorization);
    v["multiValueHeaders"]["Authorization"] = json!([authorization]);
    serde_json::from_value(v).unwrap()
}

/// The response as API Gateway reads it.
fn allowed(result: Result<ApiGatewayCustomAuthorizerResponse, AuthorizerError>) -> Value {
    serde_json::to_value(result.expect("the connection was refused")).unwrap()
}

/// Refused with the one message that makes API Gateway answer 401.
#[track_caller]
fn assert_unauthorized(result: Result<ApiGatewayCustomAuthorizerResponse, AuthorizerError>) {
    let error = result.expect_err("the connection was allowed");
    assert_eq!(error, AuthorizerError::Unauthorized);
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_message, "Unauthorized");
}

fn assert_allows(response: &Value, user: &str) {
    assert_eq!(response["principalId"], user);
    assert_eq!(response["context"], json!({"user_id": user}));
    assert_eq!(
        response["policyDocument"]["Statement"],
        json!([{"Action": ["execute-api:Invoke"], "Effect": "Allow", "Resource": [METHOD_ARN]}])
    );
}

// --- tests -----------------------------------------------------------------------------

#[tokio::test]
async fn a_valid_rs256_token_connects_as_its_sub() {
    let key = rsa(RSA_1);
    let jwks = Jwks::serve(vec![rsa_jwk(&key, "rsa-1")]).await;
    let verifier = jwks.verifier();
    let token = rs256(&key, "rsa-1", &claims("alice"));
    let response = allowed(handle(&verifier, connect(Some(&token))).await);
    assert_allows(&response, "alice");
    assert_eq!(jwks.requests(), 1);

    // The keys are cached: a second connection does not fetch them again.
    let token = rs256(&key, "rsa-1", &claims("bob"));
    assert_allows(
        &allowed(handle(&verifier, connect(Some(&token))).await),
        "bob",
    );
    assert_eq!(jwks.requests(), 1);
}

#[tokio::test]
async fn a_valid_es256_token_connects() {
    let key = p256();
    let rsa_key = rsa(RSA_1);
    let jwks = Jwks::serve(vec![rsa_jwk(&rsa_key, "rsa-1"), ec_jwk(&key, "ec-1")]).await;
    let verifier = jwks.verifier();
    let token = es256(&key, "ec-1", &claims("carol"));
    assert_allows(
        &allowed(handle(&verifier, connect(Some(&token))).await),
        "carol",
    );
    // An ES256 token naming the RSA key is refused: the key's type must be the algorithm's.
    let confused = es256(&key, "rsa-1", &claims("carol"));
    assert_unauthorized(handle(&verifier, connect(Some(&confused))).await);
}

#[tokio::test]
async fn a_bearer_header_works_when_there_is_no_query_token() {
    let key = rsa(RSA_1);
    let jwks = Jwks::serve(vec![rsa_jwk(&key, "rsa-1")]).await;
    let verifier = jwks.verifier();
    let token = rs256(&key, "rsa-1", &claims("dave"));
    let response =
        allowed(handle(&verifier, connect_with_header(&format!("Bearer {token}"))).await);
    assert_allows(&response, "dave");
    // The query parameter wins over the header.
    let mut event = connect_with_header("Bearer not-a-token");
    event.query_string_parameters = connect(Some(&token)).query_string_parameters;
    assert_allows(&allowed(handle(&verifier, event).await), "dave");
}

#[tokio::test]
async fn no_token_is_refused_without_fetching_keys() {
    let key = rsa(RSA_1);
    let jwks = Jwks::serve(vec![rsa_jwk(&key, "rsa-1")]).await;
    let verifier = jwks.verifier();
    assert_unauthorized(handle(&verifier, connect(None)).await);
    assert_unauthorized(handle(&verifier, connect(Some(""))).await);
    assert_unauthorized(handle(&verifier, connect_with_header("Basic YWxpY2U6cHc=")).await);
    assert_unauthorized(handle(&verifier, connect(Some("garbage"))).await);
    assert_eq!(jwks.requests(), 0);
}

#[tokio::test]
async fn claims_that_do_not_hold_are_refused() {
    let key = rsa(RSA_1);
    let jwks = Jwks::serve(vec![rsa_jwk(&key, "rsa-1")]).await;
    let verifier = jwks.verifier();
    for (what, changes) in [
        ("expired", json!({"exp": now() - 1})),
        ("no exp", json!({"exp": null})),
        ("not yet valid", json!({"nbf": now() + 300})),
        (
            "wrong issuer",
            json!({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other"}),
        ),
        ("no issuer", json!({"iss": null})),
        ("wrong audience", json!({"aud": "someone-else"})),
        (
            "wrong audiences",
            json!({"aud": ["someone-else", "a-third"]}),
        ),
        ("no audience, no client_id", json!({"aud": null})),
        (
            "no audience, wrong client_id",
            json!({"aud": null, "client_id": "someone-else"}),
        ),
        (
            "aud decides over client_id",
            json!({"aud": "someone-else", "client_id": CLIENT_ID}),
        ),
        ("no sub", json!({"sub": null})),
        ("unusable sub", json!({"sub": "alice/../bob"})),
    ] {
        let token = rs256(&key, "rsa-1", &with(claims("alice"), changes));
        let result = handle(&verifier, connect(Some(&token))).await;
        assert!(
            matches!(result, Err(AuthorizerError::Unauthorized)),
            "{what}: {result:?}"
        );
    }
    // Tampered claims under a valid signature.
    let token = rs256(&key, "rsa-1", &claims("alice"));
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = B64.encode(claims("mallory").to_string());
    assert_unauthorized(handle(&verifier, connect(Some(&parts.join(".")))).await);
    // Signed by a key the issuer does not have, under its kid.
    let stranger = rsa(RSA_2);
    let forged = rs256(&stranger, "rsa-1", &claims("alice"));
    assert_unauthorized(handle(&verifier, connect(Some(&forged))).await);
    // One fetch served them all.
    assert_eq!(jwks.requests(), 1);
}

#[tokio::test]
async fn a_cognito_access_token_is_judged_by_its_client_id() {
    let key = rsa(RSA_1);
    let jwks = Jwks::serve(vec![rsa_jwk(&key, "rsa-1")]).await;
    let verifier = jwks.verifier();
    let access = json!({"sub": "erin", "iss": ISSUER, "client_id": CLIENT_ID,
                        "token_use": "access", "scope": "aws.cognito.signin.user.admin",
                        "iat": now() - 5, "exp": now() + 3600});
    let token = rs256(&key, "rsa-1", &access);
    assert_allows(
        &allowed(handle(&verifier, connect(Some(&token))).await),
        "erin",
    );
}

#[tokio::test]
async fn unsigned_and_hmac_tokens_are_refused() {
    let key = rsa(RSA_1);
    let jwk = rsa_jwk(&key, "rsa-1");
    let jwks = Jwks::serve(vec![jwk.clone()]).await;
    let verifier = jwks.verifier();
    // Make sure the keys are in the cache, so the refusals below are about the tokens.
    let good = rs256(&key, "rsa-1", &claims("alice"));
    allowed(handle(&verifier, connect(Some(&good))).await);

    let none = format!(
        "{}.",
        signing_input(&json!({"alg": "none", "kid": "rsa-1"}), &claims("alice"))
    );
    assert_unauthorized(handle(&verifier, connect(Some(&none))).await);
    let none_signed = format!("{none}{}", good.rsplit('.').next().unwrap());
    assert_unauthorized(handle(&verifier, connect(Some(&none_signed))).await);
    // HS256 keyed with what an attacker knows of the public key.
    let modulus = sig::RsaPublicKeyComponents::<Vec<u8>>::from(key.public()).n;
    for secret in [
        modulus,
        jwk.to_string().into_bytes(),
        key.public().as_ref().to_vec(),
    ] {
        let token = hs256(&secret, "rsa-1", &claims("alice"));
        assert_unauthorized(handle(&verifier, connect(Some(&token))).await);
    }
    assert_eq!(jwks.requests(), 1);
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_and_finds_the_rotated_key() {
    let (old, new) = (rsa(RSA_1), rsa(RSA_2));
    let jwks = Jwks::serve(vec![rsa_jwk(&old, "rsa-1")]).await;
    // No rate limit here; the next test checks it.
    let verifier = jwks.verifier_with(|c| c.min_refetch_interval = Duration::ZERO);
    let token = rs256(&old, "rsa-1", &claims("alice"));
    allowed(handle(&verifier, connect(Some(&token))).await);
    assert_eq!(jwks.requests(), 1);

    // The issuer rotates: the new key signs, the old one is gone.
    jwks.rotate(vec![rsa_jwk(&new, "rsa-2")]);
    let token = rs256(&new, "rsa-2", &claims("alice"));
    assert_allows(
        &allowed(handle(&verifier, connect(Some(&token))).await),
        "alice",
    );
    assert_eq!(jwks.requests(), 2, "one refetch for the unknown kid");
    allowed(handle(&verifier, connect(Some(&token))).await);
    assert_eq!(jwks.requests(), 2, "the rotated keys are cached");

    // The old key is no longer trusted once the set no longer holds it.
    let stale = rs256(&old, "rsa-1", &claims("alice"));
    assert_unauthorized(handle(&verifier, connect(Some(&stale))).await);
    assert_eq!(jwks.requests(), 3, "exactly one refetch, then refused");
}

#[tokio::test]
async fn refetches_for_unknown_kids_are_rate_limited() {
    let (old, new) = (rsa(RSA_1), rsa(RSA_2));
    let jwks = Jwks::serve(vec![rsa_jwk(&old, "rsa-1")]).await;
    let verifier = jwks.verifier(); // the function's default interval (30 s)
    allowed(
        handle(
            &verifier,
            connect(Some(&rs256(&old, "rsa-1", &claims("a")))),
        )
        .await,
    );
    assert_eq!(jwks.requests(), 1);
    jwks.rotate(vec![rsa_jwk(&old, "rsa-1"), rsa_jwk(&new, "rsa-2")]);
    for kid in ["rsa-2", "made-up-1", "made-up-2", "made-up-3"] {
        let token = rs256(&new, kid, &claims("a"));
        assert_unauthorized(handle(&verifier, connect(Some(&token))).await);
    }
    assert_eq!(
        jwks.requests(),
        1,
        "a flood of unknown kids fetched nothing"
    );
}

#[tokio::test]
async fn keys_are_refetched_when_their_ttl_passes() {
    let key = rsa(RSA_1);
    let jwks = Jwks::serve(vec![rsa_jwk(&key, "rsa-1")]).await;
    let verifier = jwks.verifier_with(|c| c.jwks_ttl = Duration::ZERO);
    let token = rs256(&key, "rsa-1", &claims("alice"));
    for expected in 1..=3 {
        allowed(handle(&verifier, connect(Some(&token))).await);
        assert_eq!(jwks.requests(), expected);
    }
}

/// An identity-provider blip must not fail every connect: while a refresh fails, the keys
/// fetched before keep verifying (stale-while-error), and the issuer is not asked again on
/// every connect meanwhile.
#[tokio::test]
async fn a_failed_refresh_keeps_serving_the_cached_keys() {
    let key = rsa(RSA_1);
    let jwks = Jwks::serve(vec![rsa_jwk(&key, "rsa-1")]).await;
    // Every verification wants a refresh.
    let verifier = jwks.verifier_with(|c| c.jwks_ttl = Duration::ZERO);
    let token = rs256(&key, "rsa-1", &claims("alice"));
    allowed(handle(&verifier, connect(Some(&token))).await);
    assert_eq!(jwks.requests(), 1);

    jwks.failing.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        assert_allows(
            &allowed(handle(&verifier, connect(Some(&token))).await),
            "alice",
        );
    }
    assert_eq!(
        jwks.requests(),
        2,
        "one failed refresh, then the cache alone"
    );
    // A kid the stale keys lack may be one the issuer added since: not a verdict on the token.
    let unknown = rs256(&key, "rsa-new", &claims("alice"));
    let error = handle(&verifier, connect(Some(&unknown)))
        .await
        .unwrap_err();
    assert_eq!(error, AuthorizerError::KeysUnavailable);

    // Bounded: keys past their TTL plus `max_stale` no longer verify anything.
    let bounded = jwks.verifier_with(|c| {
        c.jwks_ttl = Duration::ZERO;
        c.max_stale = Duration::ZERO;
    });
    jwks.failing.store(false, Ordering::SeqCst);
    allowed(handle(&bounded, connect(Some(&token))).await);
    jwks.failing.store(true, Ordering::SeqCst);
    let error = handle(&bounded, connect(Some(&token))).await.unwrap_err();
    assert_eq!(error, AuthorizerError::KeysUnavailable);
}

#[tokio::test]
async fn an_unreachable_jwks_is_an_error_but_not_a_401_and_not_remembered() {
    let key = rsa(RSA_1);
    let jwks = Jwks::serve(vec![rsa_jwk(&key, "rsa-1")]).await;
    let verifier = jwks.verifier();
    let token = rs256(&key, "rsa-1", &claims("alice"));
    jwks.failing.store(true, Ordering::SeqCst);
    let error = handle(&verifier, connect(Some(&token))).await.unwrap_err();
    assert_eq!(error, AuthorizerError::KeysUnavailable);
    assert_ne!(
        lambda_runtime::Diagnostic::from(error).error_message,
        "Unauthorized"
    );
    // Back up: the next connection fetches again and gets in.
    jwks.failing.store(false, Ordering::SeqCst);
    assert_allows(
        &allowed(handle(&verifier, connect(Some(&token))).await),
        "alice",
    );
    assert_eq!(jwks.requests(), 2);

    // Nobody listening at all.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", closed.local_addr().unwrap());
    drop(closed);
    let nowhere = Verifier::new(TokenConfig::new(ISSUER, CLIENT_ID, Some(&url)).unwrap()).unwrap();
    assert_eq!(
        handle(&nowhere, connect(Some(&token))).await.unwrap_err(),
        AuthorizerError::KeysUnavailable
    );
}

/// An issuer whose keys are not at `{issuer}/.well-known/jwks.json` (Keycloak's
/// `/protocol/openid-connect/certs`, Entra ID's `/discovery/v2.0/keys`; docs/deploy.md names
/// both as your own provider) publishes where they are in its discovery document, which is what
/// the HTTP API's JWT authorizer reads. The push authorizer, configured as the template
/// configures it (`JWT_ISSUER`, `JWT_AUDIENCE`, no `JWKS_URL`), must find them too, or the same
/// token that works on the HTTP API fails every `$connect` with a 500.
#[tokio::test]
async fn an_issuer_whose_keys_are_where_its_discovery_says_connects() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/realms/acme", listener.local_addr().unwrap());
    let key = rsa(RSA_1);
    let discovery = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
    })
    .to_string();
    let certs = json!({"keys": [rsa_jwk(&key, "rsa-1")]}).to_string();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (discovery, certs) = (discovery.clone(), certs.clone());
            let service = hyper::service::service_fn(move |req| {
                let body = match req.uri().path() {
                    "/realms/acme/.well-known/openid-configuration" => Some(discovery.clone()),
                    "/realms/acme/protocol/openid-connect/certs" => Some(certs.clone()),
                    _ => None,
                };
                let response = match body {
                    Some(body) => Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body))),
                    None => Response::builder()
                        .status(StatusCode::NOT_FOUND)
                        .body(Full::new(Bytes::new())),
                };
                async move { Ok::<_, Infallible>(response.unwrap()) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    let env = [
        ("JWT_ISSUER", issuer.clone()),
        ("JWT_AUDIENCE", CLIENT_ID.to_string()),
    ];
    let config = TokenConfig::from_lookup(|k| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let verifier = Verifier::new(config).unwrap();
    let mut claims = claims("alice");
    claims["iss"] = json!(issuer);
    let token = rs256(&key, "rsa-1", &claims);
    let response = allowed(handle(&verifier, connect(Some(&token))).await);
    assert_allows(&response, "alice");
}
