//! Verifying a client's JWT ourselves, where no API Gateway JWT authorizer can: the WebSocket
//! API's `$connect` (a Lambda REQUEST authorizer, `functions/ws-authorizer`). Feature `token`.
//!
//! The rules are the HTTP API's JWT authorizer's (template.yaml `HttpApi` Auth), so one token
//! works on both APIs:
//!
//! * signed by a key of the issuer's JWKS (`JWKS_URL`, else the `jwks_uri` of the issuer's
//!   discovery document `{issuer}/.well-known/openid-configuration`, as API Gateway finds it),
//!   picked by the header's `kid`; RS256 or ES256 only, and the key's type must be the
//!   algorithm's (no `none`, no HMAC, no RSA key used as an HMAC secret);
//! * `iss` equal to `JWT_ISSUER`; `exp` present and not passed; `nbf`, when present, reached;
//! * `aud` holds one of `JWT_AUDIENCE` (comma-separated), or, for a token without `aud`, its
//!   `client_id` is one of them (Cognito access tokens carry the app client there);
//! * the caller is `sub`, which must be a usable id ([`ids::is_valid_id`], as in
//!   [`crate::edge::identity`]).
//!
//! The JWKS is fetched on first use and kept for [`DEFAULT_JWKS_TTL`]; a `kid` it does not hold
//! makes one refetch (key rotation), at most once per [`DEFAULT_MIN_REFETCH_INTERVAL`], so
//! tokens with made-up `kid`s cannot make the function hammer the issuer.
//!
//! A failed refresh keeps the keys fetched before: they go on verifying for up to
//! [`DEFAULT_MAX_STALE`] past their TTL (stale-while-error), so an identity-provider blip does
//! not fail every connect, and the issuer is asked again at most once per
//! `min_refetch_interval` meanwhile. Without usable keys a failure is not remembered: the next
//! verification tries again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::ConfigError;
use crate::domain::ids;

/// How long a fetched JWKS is used before it is fetched again.
pub const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(3600);
/// How long past its TTL a JWKS still verifies while refreshing it fails. Bounded: a key the
/// issuer revoked during an outage stops being trusted at the latest this long after.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(3600);
/// The least time between two fetches caused by an unknown `kid`, or retried after a failed
/// refresh while stale keys are served.
pub const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// The whole JWKS fetch (connect, TLS, response, body): API Gateway gives an authorizer 29 s
/// at most, and a client waits on its `$connect` meanwhile.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A JWKS is a few keys; anything much larger is not one.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// What the verifier checks against, from the function's environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenConfig {
    /// `iss` every token must carry (`JWT_ISSUER`).
    pub issuer: String,
    /// Accepted `aud` / `client_id` values (`JWT_AUDIENCE`, comma-separated).
    pub audiences: Vec<String>,
    /// Where the issuer's keys are (`JWKS_URL`), or, with `discover`, its discovery document
    /// (`{issuer}/.well-known/openid-configuration`), whose `jwks_uri` says where they are.
    pub jwks_url: String,
    /// `jwks_url` is the discovery document. Providers keep their keys in different places
    /// (Cognito `/.well-known/jwks.json`, Keycloak `/protocol/openid-connect/certs`, Entra ID
    /// `/discovery/v2.0/keys`); API Gateway's JWT authorizer reads the discovery document, and
    /// so does this one, so one token works on both APIs with any provider.
    pub discover: bool,
    pub jwks_ttl: Duration,
    pub max_stale: Duration,
    pub min_refetch_interval: Duration,
}

impl TokenConfig {
    /// `audiences` is a comma-separated list; without `jwks_url` the keys are found through the
    /// issuer's discovery document. URLs must be `https://`, or `http://` to a loopback host.
    pub fn new(issuer: &str, audiences: &str, jwks_url: Option<&str>) -> Result<Self, ConfigError> {
        let issuer = issuer.trim();
        if issuer.is_empty() {
            return Err(ConfigError("JWT_ISSUER is not set".into()));
        }
        let audiences: Vec<String> = audiences
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        if audiences.is_empty() {
            return Err(ConfigError(
                "JWT_AUDIENCE is not set: no token could be accepted".into(),
            ));
        }
        let (jwks_url, discover) = match jwks_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => (url.to_string(), false),
            None => {
                let issuer = issuer.trim_end_matches('/');
                (format!("{issuer}/.well-known/openid-configuration"), true)
            }
        };
        check_jwks_url(&jwks_url)?;
        Ok(Self {
            issuer: issuer.to_string(),
            audiences,
            jwks_url,
            discover,
            jwks_ttl: DEFAULT_JWKS_TTL,
            max_stale: DEFAULT_MAX_STALE,
            min_refetch_interval: DEFAULT_MIN_REFETCH_INTERVAL,
        })
    }

    /// `JWT_ISSUER` (required), `JWT_AUDIENCE` (required), `JWKS_URL` (optional).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// As [`from_env`](Self::from_env), from any key lookup (a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::new(
            &get("JWT_ISSUER").unwrap_or_default(),
            &get("JWT_AUDIENCE").unwrap_or_default(),
            get("JWKS_URL").as_deref(),
        )
    }
}

/// `https://` anywhere; plain `http://` only to this machine (a test's JWKS server): keys
/// fetched in the clear could be swapped on the way.
fn check_jwks_url(url: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| ConfigError(format!("JWKS URL {url:?}: {why}"));
    let uri: hyper::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(bad("plain http is only allowed to a loopback host")),
        _ => Err(bad("must be https")),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A token that holds: who it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The `sub` claim.
    pub user_id: String,
}

/// Why a token was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Missing, malformed, forged, expired, or not for this API: the client's fault (401).
    /// The reason is for logs; it never contains the token.
    Invalid(&'static str),
    /// The issuer's keys could not be had (unreachable, not a JWKS): ours (500).
    KeysUnavailable(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(reason) => write!(f, "invalid token: {reason}"),
            Self::KeysUnavailable(why) => write!(f, "signing keys unavailable: {why}"),
        }
    }
}

impl std::error::Error for TokenError {}

/// A verification key from the JWKS, with the one algorithm it may verify.
#[derive(Clone, Debug)]
pub struct Key {
    pub alg: Algorithm,
    pub decoding: DecodingKey,
}

/// The usable keys of a JWKS document, by `kid`. Keys without a `kid`, of another type than
/// RSA or P-256, marked for encryption, or naming another algorithm than the one their type
/// allows are left out: a token can only be checked against RS256 and ES256 keys.
pub fn parse_jwks(json: &[u8]) -> Result<HashMap<String, Key>, String> {
    let set: JwkSet = serde_json::from_slice(json).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.as_deref().filter(|k| !k.is_empty()) else {
            continue;
        };
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let (alg, declared) = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                (Algorithm::ES256, KeyAlgorithm::ES256)
            }
            _ => continue,
        };
        if jwk.common.key_algorithm.is_some_and(|a| a != declared) {
            continue;
        }
        if let Ok(decoding) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid.to_string(), Key { alg, decoding });
        }
    }
    Ok(keys)
}

/// The claims the rules read. `iss` and `sub` must be strings (an array `iss` is refused).
#[derive(Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    client_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// API Gateway's audience rule: `aud` names one of ours; only a token without `aud` is judged
/// by its `client_id`.
fn audience_ok(aud: Option<&Audience>, client_id: Option<&str>, accepted: &[String]) -> bool {
    let ours = |v: &str| accepted.iter().any(|a| a == v);
    match aud {
        Some(Audience::One(a)) => ours(a),
        Some(Audience::Many(list)) => list.iter().any(|a| ours(a)),
        None => client_id.is_some_and(ours),
    }
}

/// Checks `token` against `key` and the claim rules of `config` (no fetching).
pub fn verify_with_key(
    token: &str,
    key: &Key,
    config: &TokenConfig,
) -> Result<Verified, TokenError> {
    ring_provider::install().map_err(|e| TokenError::KeysUnavailable(e.0))?;
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("malformed token"))?;
    if header.alg != key.alg {
        return Err(TokenError::Invalid("algorithm does not match the key"));
    }
    let mut validation = Validation::new(key.alg);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    validation.set_issuer(&[&config.issuer]);
    // API Gateway's rules have no grace: expired means expired.
    validation.leeway = 0;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    // Checked below, as API Gateway does (jsonwebtoken has no `client_id` fallback).
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
        .map_err(|e| TokenError::Invalid(refusal(e.kind())))?
        .claims;
    if claims.iss != config.issuer {
        return Err(TokenError::Invalid("wrong issuer"));
    }
    if !audience_ok(
        claims.aud.as_ref(),
        claims.client_id.as_deref(),
        &config.audiences,
    ) {
        return Err(TokenError::Invalid("wrong audience"));
    }
    if !ids::is_valid_id(&claims.sub) {
        return Err(TokenError::Invalid("sub is not a usable user id"));
    }
    Ok(Verified {
        user_id: claims.sub,
    })
}

/// The claims of a JWT, read without verifying anything: for a token that [`verify_with_key`]
/// or [`Verifier::verify`] has just accepted (to pass its claims on, as API Gateway's JWT
/// authorizer does), or to pick which issuer's rules a token is to be checked by. Never a
/// basis for trusting the token.
pub fn unverified_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn refusal(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not valid yet (nbf)",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::MissingRequiredClaim(_) => "missing a required claim",
        ErrorKind::InvalidAlgorithm => "algorithm not allowed",
        ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => "malformed claims",
        _ => "malformed token",
    }
}

mod jwks;
pub use jwks::Verifier;
mod ring_provider;
#[cfg(any(test, feature = "token-testing"))]
pub mod testing;

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    use ring::signature::{self as sig, RsaKeyPair};
    use serde_json::{json, Value};

    /// Test-only key (tests/fixtures), never used anywhere else.
    const RSA_PEM: &str = include_str!("../../../../tests/fixtures/ws-authorizer-test-rsa.pem");

    const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_test";

    fn config() -> TokenConfig {
        TokenConfig::new(ISSUER, "app-client, other-client", None).unwrap()
    }

    fn rsa() -> RsaKeyPair {
        rsa_from_pem(RSA_PEM)
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn claims() -> Value {
        json!({"sub": "alice", "iss": ISSUER, "aud": "app-client", "exp": now() + 600})
    }

    fn keys(jwks: Value) -> HashMap<String, Key> {
        parse_jwks(jwks.to_string().as_bytes()).unwrap()
    }

    fn check(token: &str, keys: &HashMap<String, Key>) -> Result<Verified, TokenError> {
        let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
        verify_with_key(token, &keys[&kid], &config())
    }

    #[test]
    fn valid_rs256_and_es256_tokens_give_their_sub() {
        let (r, e) = (rsa(), p256());
        let keys = keys(json!({"keys": [rsa_jwk(&r, "r1"), ec_jwk(&e, "e1")]}));
        assert_eq!(keys["r1"].alg, Algorithm::RS256);
        assert_eq!(keys["e1"].alg, Algorithm::ES256);
        let alice = Ok(Verified {
            user_id: "alice".into(),
        });
        assert_eq!(check(&rs256(&r, "r1", &claims()), &keys), alice);
        assert_eq!(check(&es256(&e, "e1", &claims()), &keys), alice);
        // aud as a list naming one of ours.
        let listed = with(claims(), json!({"aud": ["someone-else", "other-client"]}));
        assert_eq!(check(&rs256(&r, "r1", &listed), &keys), alice);
    }

    #[test]
    fn claim_rules_mirror_api_gateway() {
        let r = rsa();
        let keys = keys(json!({"keys": [rsa_jwk(&r, "r1")]}));
        let refused = |changes: Value| check(&rs256(&r, "r1", &with(claims(), changes)), &keys);
        let invalid = |why| Err(TokenError::Invalid(why));
        assert_eq!(refused(json!({"exp": now() - 1})), invalid("expired"));
        assert_eq!(
            refused(json!({"exp": null})),
            invalid("missing a required claim")
        );
        assert_eq!(
            refused(json!({"nbf": now() + 60})),
            invalid("not valid yet (nbf)")
        );
        assert_eq!(
            refused(json!({"iss": "https://evil.example"})),
            invalid("wrong issuer")
        );
        assert_eq!(
            refused(json!({"iss": [ISSUER, "x"]})),
            invalid("malformed claims")
        );
        assert_eq!(refused(json!({"aud": "nope"})), invalid("wrong audience"));
        assert_eq!(refused(json!({"aud": ["nope"]})), invalid("wrong audience"));
        // No aud: client_id decides (Cognito access tokens); aud present: client_id is ignored.
        assert!(refused(json!({"aud": null, "client_id": "app-client"})).is_ok());
        assert_eq!(
            refused(json!({"aud": null, "client_id": "nope"})),
            invalid("wrong audience")
        );
        assert_eq!(refused(json!({"aud": null})), invalid("wrong audience"));
        assert_eq!(
            refused(json!({"aud": "nope", "client_id": "app-client"})),
            invalid("wrong audience")
        );
        assert_eq!(
            refused(json!({"sub": "a b"})),
            invalid("sub is not a usable user id")
        );
        assert_eq!(refused(json!({"sub": null})), invalid("malformed claims"));
        assert!(refused(json!({"nbf": now() - 5})).is_ok());
    }

    #[test]
    fn signatures_and_algorithms_are_checked() {
        let (r, e) = (rsa(), p256());
        let keys = keys(json!({"keys": [rsa_jwk(&r, "r1"), ec_jwk(&e, "e1")]}));
        // A valid signature over other claims.
        let token = rs256(&r, "r1", &claims());
        let forged_claims = B64.encode(with(claims(), json!({"sub": "mallory"})).to_string());
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = &forged_claims;
        assert_eq!(
            check(&parts.join("."), &keys),
            Err(TokenError::Invalid("bad signature"))
        );
        // Signed by the right algorithm but another key under the same kid.
        let other = p256();
        assert_eq!(
            check(&es256(&other, "e1", &claims()), &keys),
            Err(TokenError::Invalid("bad signature"))
        );
        // An ES256 token naming an RSA key (and the reverse): the key's type decides.
        assert_eq!(
            check(&es256(&e, "r1", &claims()), &keys),
            Err(TokenError::Invalid("algorithm does not match the key"))
        );
        // HS256 keyed with the RSA public key's bytes (the classic confusion).
        let n = sig::RsaPublicKeyComponents::<Vec<u8>>::from(r.public()).n;
        let input = signing_input(&json!({"alg": "HS256", "kid": "r1"}), &claims());
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &n),
            input.as_bytes(),
        );
        let hs = format!("{input}.{}", B64.encode(mac.as_ref()));
        assert_eq!(
            check(&hs, &keys),
            Err(TokenError::Invalid("algorithm does not match the key"))
        );
        // The provider itself refuses HMAC even if asked directly.
        let hmac_key = DecodingKey::from_secret(&n);
        let key = Key {
            alg: Algorithm::HS256,
            decoding: hmac_key,
        };
        assert!(verify_with_key(&hs, &key, &config()).is_err());
        // alg none: not even a header jsonwebtoken accepts.
        let none = format!(
            "{}.",
            signing_input(&json!({"alg": "none", "kid": "r1"}), &claims())
        );
        assert!(jsonwebtoken::decode_header(&none).is_err());
    }

    #[test]
    fn jwks_keeps_only_signing_keys_it_can_use() {
        let (r, e) = (rsa(), p256());
        let keys = keys(json!({"keys": [
            rsa_jwk(&r, "r1"),
            with(rsa_jwk(&r, "wrong-alg"), json!({"alg": "RS512"})),
            with(rsa_jwk(&r, "enc"), json!({"use": "enc"})),
            with(rsa_jwk(&r, ""), json!({})),
            with(rsa_jwk(&r, "x"), json!({"kid": null})),
            with(ec_jwk(&e, "p384"), json!({"crv": "P-384"})),
            with(ec_jwk(&e, "e1"), json!({"alg": "ES256"})),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AAAA"},
        ]}));
        let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
        kids.sort();
        assert_eq!(kids, ["e1", "r1"]);
        assert!(parse_jwks(b"{\"nokeys\": 1}").is_err());
        assert!(parse_jwks(b"<html>").is_err());
    }

    #[test]
    fn config_from_the_environment() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            TokenConfig::from_lookup(move |k| map.get(k).cloned())
        };
        let c = env(&[
            ("JWT_ISSUER", "https://issuer.example/"),
            ("JWT_AUDIENCE", "a, b,,"),
        ])
        .unwrap();
        let discovery = "https://issuer.example/.well-known/openid-configuration";
        assert_eq!((c.jwks_url.as_str(), c.discover), (discovery, true));
        assert_eq!(c.audiences, ["a", "b"]);
        assert_eq!(c.jwks_ttl, DEFAULT_JWKS_TTL);
        let c = env(&[
            ("JWT_ISSUER", "https://issuer.example"),
            ("JWT_AUDIENCE", "a"),
            ("JWKS_URL", "http://127.0.0.1:8080/jwks"),
        ])
        .unwrap();
        assert_eq!(
            (c.jwks_url.as_str(), c.discover),
            ("http://127.0.0.1:8080/jwks", false)
        );
        let err = env(&[("JWT_AUDIENCE", "a")]).unwrap_err();
        assert!(err.0.contains("JWT_ISSUER"), "{err}");
        assert!(env(&[("JWT_ISSUER", "https://i.example")]).is_err());
        for url in [
            "http://issuer.example/jwks",
            "http://10.0.0.1/jwks",
            "ftp://127.0.0.1/jwks",
            "not a url",
        ] {
            let c = env(&[
                ("JWT_ISSUER", "https://i.example"),
                ("JWT_AUDIENCE", "a"),
                ("JWKS_URL", url),
            ]);
            assert!(c.is_err(), "{url} was allowed");
        }
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            let c = env(&[
                ("JWT_ISSUER", "https://i.example"),
                ("JWT_AUDIENCE", "a"),
                ("JWKS_URL", &format!("http://{host}:9/jwks")),
            ]);
            assert!(c.is_ok(), "{host}");
        }
    }
}
