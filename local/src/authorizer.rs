//! The local stack's API Gateway JWT authorizer.
//!
//! Deployed, API Gateway's HTTP API authorizer verifies `Authorization: Bearer <jwt>` on every
//! route, answers `401` itself when it is missing or invalid, and otherwise hands the function a
//! request context with the token's claims (`requestContext.authorizer.jwt.claims`). Function
//! code reads the caller from there and from nowhere else (`shared::edge::identity`). Locally this
//! module plays that part, so the handlers get the same shape as in AWS:
//!
//! * `Authorization: Bearer <jwt>` from the OpenID provider the stack is configured with
//!   (`scripts/local` runs one, local/oidc): verified through that issuer's JWKS by
//!   `shared::edge::token`, the code the deployed WebSocket authorizer runs, with the HTTP API's
//!   rules (signature, `exp`, `nbf`, `iss`, `aud` = the web client's id). This is how the web
//!   client signs in, locally as deployed.
//! * `Authorization: Bearer <jwt>` issued by this stack (`/local/token`, for curl and scripts):
//!   ES256 with a key kept in the data directory, checked by the same code and rules with
//!   `iss` [`ISSUER`] and `aud` [`AUDIENCE`]. Anything else is a `401` and the function is not
//!   called.
//! * `X-Dev-User: alice` (no `Authorization` header): shorthand for curl and scripts, mapped to
//!   the claims of a freshly issued token for `alice`. This exists only here: the deployed
//!   functions never look at the header.
//! * neither: `401` on every route.
//!
//! Tokens come from the local-only route `POST /local/token` (`{"user_id": "bob"}`) or
//! `GET /local/token?user=bob`, which is not in the function route table.

use shared::ErrorCode;
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::http::{header, HeaderMap, HeaderValue, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{Map, Value};
use shared::config::ConfigError;
use shared::edge::token::{Key, TokenConfig, TokenError, Verifier};
use shared::ApiError;

/// `iss` of every token the local stack issues and accepts (the template's `JwtIssuer`).
pub const ISSUER: &str = "groupshare-local";
/// `aud` of every token the local stack issues and accepts (the template's `JwtAudience`).
pub const AUDIENCE: &str = "groupshare-app";
/// The local stack's shorthand identity header (never read by function code).
pub const DEV_USER_HEADER: &str = "x-dev-user";
/// The local-only token route.
pub const TOKEN_PATH: &str = "/local/token";
/// Lifetime of issued tokens (an identity provider's usual hour).
pub const TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Where the signing key lives inside the data directory (PKCS#8, hex).
pub const KEY_FILE: &str = "local-jwt-key";
/// The `kid` of the stack's own signing key.
const KID: &str = "groupshare-local";

pub struct Authorizer {
    signing: EcdsaKeyPair,
    /// The public half of `signing`, as `shared::edge::token` verifies with it.
    key: Key,
    /// The rules for the stack's own tokens: [`ISSUER`], [`AUDIENCE`].
    rules: TokenConfig,
    /// The OpenID provider whose tokens are accepted too (its issuer, the client id, its JWKS).
    issuer: Option<Verifier>,
}

impl Authorizer {
    /// An authorizer that signs and verifies its own tokens with the P-256 key `pkcs8`.
    pub fn new(pkcs8: &[u8]) -> Result<Self, String> {
        let signing = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| format!("not a P-256 PKCS#8 key: {e}"))?;
        // The key goes through the JWKS parser the deployed authorizer uses, so the stack's
        // own tokens meet exactly the checks an issuer's do.
        let point = signing.public_key().as_ref();
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": KID, "use": "sig", "alg": "ES256",
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
        }]});
        let key = shared::edge::token::parse_jwks(jwks.to_string().as_bytes())?
            .remove(KID)
            .ok_or("the local key is not a usable JWK")?;
        let rules = TokenConfig {
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            // Never fetched: the key is in hand.
            jwks_url: String::new(),
            discover: false,
            jwks_ttl: shared::edge::token::DEFAULT_JWKS_TTL,
            min_refetch_interval: shared::edge::token::DEFAULT_MIN_REFETCH_INTERVAL,
            max_stale: shared::edge::token::DEFAULT_MAX_STALE,
        };
        Ok(Self {
            signing,
            key,
            rules,
            issuer: None,
        })
    }

    /// An authorizer with a fresh random key that lives as long as the process.
    pub fn ephemeral() -> Self {
        Self::new(&new_key()).expect("a freshly generated key is usable")
    }

    /// Also accepts the tokens of an OpenID provider (`config`: its issuer, the web client's
    /// id as the audience, its JWKS URL), verified as the deployed authorizers verify them.
    pub fn with_issuer(mut self, config: TokenConfig) -> Result<Self, ConfigError> {
        self.issuer = Some(Verifier::new(config)?);
        Ok(self)
    }

    /// The OpenID provider's rules, when one is configured.
    pub fn issuer(&self) -> Option<&TokenConfig> {
        self.issuer.as_ref().map(Verifier::config)
    }

    /// The authorizer of a data directory: its key is read from `dir/local-jwt-key`, or made
    /// and written there (mode 0600) on first use, so tokens survive restarts of the stack and
    /// stop working when its data is thrown away.
    pub fn for_data_dir(dir: &Path) -> std::io::Result<Self> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(dir)?;
        let path = dir.join(KEY_FILE);
        if !path.exists() {
            // Written whole under a temporary name, then linked into place: a second process
            // sees either no key or all of it, and the first one to link wins.
            let tmp = dir.join(format!("{KEY_FILE}.{}", std::process::id()));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(hex::encode(new_key()).as_bytes())?;
            f.sync_all()?;
            let linked = std::fs::hard_link(&tmp, &path);
            std::fs::remove_file(&tmp)?;
            match linked {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        let text = std::fs::read_to_string(&path)?;
        hex::decode(text.trim())
            .map_err(|e| e.to_string())
            .and_then(|pkcs8| Self::new(&pkcs8))
            .map_err(|why| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {why}", path.display()),
                )
            })
    }

    /// Signs any claims with this stack's key (tests use it to make expired or foreign tokens).
    pub fn sign<T: serde::Serialize>(&self, claims: &T) -> String {
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": KID});
        let claims = serde_json::to_vec(claims).expect("claims serialize to JSON");
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims));
        let signature = self
            .signing
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("signing with an in-memory key does not fail");
        format!("{input}.{}", B64.encode(signature.as_ref()))
    }

    /// The claims of a token for `user_id` issued now: `sub`, `iss`, `aud`, `iat`, `exp`.
    pub fn claims_for(&self, user_id: &str) -> Map<String, Value> {
        let now = now_secs();
        let claims = serde_json::json!({
            "sub": user_id,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + TOKEN_TTL.as_secs(),
            "token_use": "access",
        });
        match claims {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        }
    }

    /// A token for `user_id`, and when it expires (seconds since the epoch).
    pub fn issue(&self, user_id: &str) -> (String, u64) {
        let claims = self.claims_for(user_id);
        let exp = claims["exp"].as_u64().unwrap_or_default();
        (self.sign(&claims), exp)
    }

    /// Verifies a token as API Gateway's JWT authorizer does: signature, `exp`, `nbf`, `iss`,
    /// `aud`. A token whose `iss` is the OpenID provider's is checked against that provider's
    /// keys (fetched from its JWKS), any other against this stack's own key and issuer.
    /// Returns its claims, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<Map<String, Value>, &'static str> {
        let issued_by = shared::edge::token::unverified_claims(token).and_then(|claims| {
            claims
                .get("iss")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let verified = match &self.issuer {
            Some(verifier) if issued_by.as_deref() == Some(verifier.config().issuer.as_str()) => {
                verifier.verify(token).await.map(drop)
            }
            // Neither issuer's: refused for what it is, before any key is tried.
            _ if issued_by.as_deref().is_some_and(|iss| iss != ISSUER) => {
                Err(TokenError::Invalid("wrong issuer"))
            }
            _ => shared::edge::token::verify_with_key(token, &self.key, &self.rules).map(drop),
        };
        // The claims of the token that holds, handed on as the gateway does.
        let claims = verified.and_then(|()| {
            shared::edge::token::unverified_claims(token)
                .ok_or(TokenError::Invalid("malformed claims"))
        });
        claims.map_err(|e| match e {
            TokenError::Invalid(reason) => explain(reason),
            // API Gateway answers 401 when it cannot get the issuer's keys, too.
            TokenError::KeysUnavailable(_) => "the issuer's signing keys are unavailable",
        })
    }

    /// Decides the caller of `req` and fills its API Gateway v2 request context, or answers
    /// `401` as the gateway would (without calling any function).
    pub async fn authorize(&self, req: Request) -> Decision {
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let route = shared::edge::route::resolve(&method, &path)
            .ok()
            .map(|(spec, _)| spec);
        let request_id = shared::domain::ids::new_id();
        let claims = match self.credentials(req.headers()).await {
            Ok(claims) => claims,
            // Routes that do not exist answer 404 before any authorizer runs (API Gateway
            // matches the route first), so only matched routes are refused here.
            Err(reason) if route.is_some() => {
                return Decision::Deny(unauthorized(&request_id, reason))
            }
            Err(_) => None,
        };
        if claims.is_none() && route.is_some() {
            return Decision::Deny(unauthorized(&request_id, None));
        }
        let route_key = route
            .map(|spec| format!("{method} {}", spec.template))
            .unwrap_or_else(|| "$default".into());
        let context = request_context(&req, request_id, route_key, claims.as_ref());
        Decision::Forward(req.with_request_context(RequestContext::ApiGatewayV2(context)))
    }

    /// `Ok(None)`: no credentials. `Err`: credentials that do not hold (a reason when a
    /// bearer token was refused).
    async fn credentials(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Map<String, Value>>, Option<&'static str>> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| Some("malformed Authorization"))?;
            let token = match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                _ => value.trim(),
            };
            return self.verify(token).await.map(Some).map_err(Some);
        }
        match headers.get(DEV_USER_HEADER).map(HeaderValue::to_str) {
            None => Ok(None),
            Some(Ok(user)) if !user.trim().is_empty() => Ok(Some(self.claims_for(user.trim()))),
            Some(_) => Err(None),
        }
    }

    /// `POST /local/token` (`{"user_id": "bob"}`) or `GET /local/token?user=bob`: a token for
    /// that user. `None` for every other path.
    pub fn token_route(&self, req: &Request) -> Option<Response<Body>> {
        if req.uri().path() != TOKEN_PATH {
            return None;
        }
        let user = match *req.method() {
            Method::POST => shared::edge::http::json_body::<Value>(req).and_then(|body| {
                body.get("user_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        ApiError::new(ErrorCode::InvalidBody, "expected {\"user_id\": \"...\"}")
                    })
            }),
            Method::GET => shared::edge::http::Query::parse(req.uri().query().unwrap_or(""))
                .and_then(|q| {
                    q.get("user")
                        .map(str::to_string)
                        .ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "expected ?user=..."))
                }),
            _ => Err(ApiError::method_not_allowed()),
        };
        let response = user
            .and_then(|user| shared::domain::ids::UserId::parse(&user))
            .and_then(|user| {
                let (token, exp) = self.issue(&user);
                shared::edge::http::json(
                    200,
                    &serde_json::json!({
                        "token": token,
                        "expires_at": shared::domain::time::rfc3339(exp as i64 * 1000),
                    }),
                )
            });
        Some(response.unwrap_or_else(|e| shared::edge::http::error_response(&e)))
    }
}

/// What the authorizer makes of a request.
pub enum Decision {
    /// On to the function, with the request context filled in.
    Forward(Request),
    /// Refused: the gateway's answer (401), no function called.
    Deny(Response<Body>),
}

static GLOBAL: OnceLock<Authorizer> = OnceLock::new();

/// Makes `authorizer` the one [`global`] returns; `groupshare-local serve` installs the data
/// directory's before serving. False if one was in use already (and nothing changed).
#[must_use]
pub fn install(authorizer: Authorizer) -> bool {
    GLOBAL.set(authorizer).is_ok()
}

/// The authorizer `router::dispatch` runs: the installed one, else (in-process tests) one with
/// a secret of this process.
pub fn global() -> &'static Authorizer {
    GLOBAL.get_or_init(Authorizer::ephemeral)
}

/// The 401 API Gateway's JWT authorizer answers itself, as deployed clients get it (see
/// [`gateway_answer`]), with why in the `WWW-Authenticate` challenge.
fn unauthorized(request_id: &str, reason: Option<&str>) -> Response<Body> {
    let challenge = match reason {
        Some(reason) => format!("Bearer error=\"invalid_token\" error_description=\"{reason}\""),
        None => "Bearer".to_string(),
    };
    let mut response = gateway_answer(401, "Unauthorized", request_id);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// An answer API Gateway makes itself, before any function runs: its own body
/// (`{"message": …}`, not the API's error shape; docs/openapi.yaml's `GatewayError`) and its
/// request id header rather than the functions' `x-request-id`.
pub fn gateway_answer(status: u16, message: &str, request_id: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("static parts");
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(GATEWAY_REQUEST_ID_HEADER, v);
    }
    response
}

/// The request id header API Gateway (HTTP APIs) puts on every answer, its own included.
pub const GATEWAY_REQUEST_ID_HEADER: &str = "apigw-requestid";

/// The `requestContext` of an HTTP API (payload 2.0) event for `req`.
fn request_context(
    req: &Request,
    request_id: String,
    route_key: String,
    claims: Option<&Map<String, Value>>,
) -> ApiGatewayV2httpRequestContext {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = req.method().clone();
    http.path = Some(req.uri().path().to_string());
    http.protocol = Some(format!("{:?}", req.version()));
    http.source_ip = Some("127.0.0.1".into());
    http.user_agent = header(header::USER_AGENT);

    let now_ms = shared::domain::time::now_ms();
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.route_key = Some(route_key);
    ctx.account_id = Some("000000000000".into());
    ctx.stage = Some("$default".into());
    ctx.request_id = Some(request_id);
    ctx.apiid = Some("local".into());
    ctx.domain_name = header(header::HOST).or_else(|| Some("localhost".into()));
    ctx.domain_prefix = ctx
        .domain_name
        .as_deref()
        .map(|d| d.split('.').next().unwrap_or(d).to_string());
    ctx.time = Some(gateway_time(now_ms));
    ctx.time_epoch = now_ms;
    ctx.http = http;
    ctx.authorizer = claims.map(|claims| {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = gateway_claims(claims);
        jwt.scopes = scopes(claims);
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        authorizer
    });
    ctx
}

/// Claims as API Gateway passes them: every value a string (numbers as digits, lists as
/// `[a b]`).
fn gateway_claims(claims: &Map<String, Value>) -> HashMap<String, String> {
    fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Array(items) => {
                format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(" "))
            }
            other => other.to_string(),
        }
    }
    claims.iter().map(|(k, v)| (k.clone(), text(v))).collect()
}

/// The token's scopes (`scope`, space-separated, or `scp`), as API Gateway lists them.
fn scopes(claims: &Map<String, Value>) -> Option<Vec<String>> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => Some(s.split_whitespace().map(str::to_string).collect()),
        (_, Some(Value::Array(items))) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

/// `25/Nov/2026:15:44:59 +0000`, API Gateway's `requestContext.time`.
fn gateway_time(ms: i64) -> String {
    use aws_smithy_types::date_time::{DateTime, Format};
    // HTTP date: `Wed, 25 Nov 2026 15:44:59 GMT`.
    let http = DateTime::from_millis(ms)
        .fmt(Format::HttpDate)
        .unwrap_or_default();
    match http.split_whitespace().collect::<Vec<_>>()[..] {
        [_, day, month, year, time, _] => format!("{day}/{month}/{year}:{time} +0000"),
        _ => http,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn new_key() -> Vec<u8> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .expect("the system's random source works")
        .as_ref()
        .to_vec()
}

/// `shared::edge::token`'s reasons (written for logs) as the sentence a client reads in the 401.
fn explain(reason: &'static str) -> &'static str {
    match reason {
        "expired" => "the token has expired",
        "not valid yet (nbf)" => "the token is not valid yet",
        "wrong issuer" => "the token's issuer is not accepted",
        "wrong audience" => "the token's audience is not accepted",
        "bad signature" => "the token's signature does not verify",
        "algorithm not allowed" | "algorithm does not match the key" => {
            "the token's algorithm is not accepted"
        }
        "missing a required claim" => "the token lacks a required claim",
        "sub is not a usable user id" => "the token's subject is not a usable user id",
        "unknown kid" => "the token's signing key is not the issuer's",
        _ => "the token is not a valid JWT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(headers: &[(&str, &str)]) -> Request {
        let mut b = lambda_http::http::Request::builder().uri("http://localhost/config");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::Empty).unwrap()
    }

    fn forwarded(decision: Decision) -> Request {
        match decision {
            Decision::Forward(req) => req,
            Decision::Deny(r) => panic!("refused: {}", r.status()),
        }
    }

    /// The caller as the functions will see it (the same code reads it).
    fn sub(req: &Request) -> Option<String> {
        shared::edge::identity::caller(req).ok().map(|c| c.user_id)
    }

    #[tokio::test]
    async fn issued_tokens_verify_and_fill_the_context() {
        let a = Authorizer::ephemeral();
        let (token, exp) = a.issue("bob");
        let req = forwarded(
            a.authorize(get(&[("authorization", &format!("Bearer {token}"))]))
                .await,
        );
        assert_eq!(sub(&req).as_deref(), Some("bob"));
        let RequestContext::ApiGatewayV2(ctx) = req.request_context_ref().unwrap() else {
            panic!("an HTTP API context")
        };
        assert_eq!(ctx.stage.as_deref(), Some("$default"));
        assert_eq!(ctx.route_key.as_deref(), Some("GET /config"));
        let claims = &ctx
            .authorizer
            .as_ref()
            .unwrap()
            .jwt
            .as_ref()
            .unwrap()
            .claims;
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["aud"], AUDIENCE);
        assert_eq!(claims["exp"], exp.to_string());
    }

    #[tokio::test]
    async fn dev_header_maps_to_sub_and_bearer_wins() {
        let a = Authorizer::ephemeral();
        let req = forwarded(a.authorize(get(&[("x-dev-user", "alice")])).await);
        assert_eq!(sub(&req).as_deref(), Some("alice"));
        let (token, _) = a.issue("bob");
        let both = get(&[
            ("x-dev-user", "alice"),
            ("authorization", &format!("bearer {token}")),
        ]);
        assert_eq!(
            sub(&forwarded(a.authorize(both).await)).as_deref(),
            Some("bob")
        );
    }

    #[tokio::test]
    async fn refusals() {
        let a = Authorizer::ephemeral();
        let other = Authorizer::ephemeral();
        let (foreign, _) = other.issue("bob");
        for headers in [
            vec![],
            vec![("x-dev-user", " ")],
            vec![("authorization", "Bearer nope")],
            vec![("authorization", foreign.as_str())],
        ] {
            let Decision::Deny(denied) = a.authorize(get(&headers)).await else {
                panic!("{headers:?} was let through")
            };
            assert_eq!(denied.status(), 401, "{headers:?}");
            assert!(denied.headers().contains_key("www-authenticate"));
        }
    }

    /// API Gateway refuses a token before its `nbf`; so does the local stack.
    #[tokio::test]
    async fn a_token_not_yet_valid_is_refused() {
        let a = Authorizer::ephemeral();
        let with_nbf = |nbf: u64| {
            let mut claims = a.claims_for("bob");
            claims.insert("nbf".into(), nbf.into());
            a.sign(&claims)
        };
        let early = with_nbf(now_secs() + 60);
        assert!(a.verify(&early).await.is_err());
        let bearer = format!("Bearer {early}");
        let Decision::Deny(denied) = a.authorize(get(&[("authorization", &bearer)])).await else {
            panic!("a token before its nbf was let through")
        };
        assert_eq!(denied.status(), 401);
        // From its nbf on, it holds.
        assert!(a.verify(&with_nbf(now_secs() - 1)).await.is_ok());
    }

    #[tokio::test]
    async fn keys_persist_per_data_dir() {
        let dir = std::env::temp_dir().join(format!("gs-authz-{}", shared::domain::ids::new_id()));
        let (token, _) = Authorizer::for_data_dir(&dir).unwrap().issue("carol");
        assert!(Authorizer::for_data_dir(&dir)
            .unwrap()
            .verify(&token)
            .await
            .is_ok());
        let other = dir.join("other");
        assert!(Authorizer::for_data_dir(&other)
            .unwrap()
            .verify(&token)
            .await
            .is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn time_is_in_api_gateway_format() {
        assert_eq!(
            gateway_time(1_795_621_499_000),
            "25/Nov/2026:15:44:59 +0000"
        );
    }
}
