//! HTTP plumbing every handler shares: routing, identity, query parsing, JSON responses, the
//! error mapping and one structured log line per request.

use crate::ErrorCode;
use std::future::Future;
use std::time::{Duration, Instant};

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::Paging;
use crate::domain::caller::Caller;
use crate::domain::cursor::{self, After, Before, Position};
use crate::edge::identity;
use crate::edge::route::Route;
use crate::infra::store::MessageRange;
use crate::{ApiError, App};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A function's `main`: logging, configuration and SDK clients once per execution environment
/// (cold start), then `handler` for every request.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    crate::edge::logging::init();
    // Lives as long as the process; leaking it spares every request a reference count.
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    lambda_http::run(lambda_http::service_fn(move |req| {
        let response = crate::edge::events::erased(handler(app, req));
        async move { Ok::<_, std::convert::Infallible>(response.await) }
    }))
    .await
}

/// What a handler gets once the request is routed and the caller known.
#[derive(Debug)]
pub struct Ctx {
    pub route: Route,
    pub caller: Caller,
    pub query: Query,
    /// When the request's answer is due (the function's timeout less a margin): work after a
    /// committed write that may not finish in time (removing bytes) stops here, so the answer
    /// reports the commit instead of a 503.
    pub deadline: Instant,
}

/// Routes, authenticates and answers one request. `handler` maps domain results to a response;
/// every `ApiError` becomes the JSON error body. Logs method, route template, caller, status and
/// latency; never the path (ids), query (cursors) or anything returned.
pub async fn serve<F, Fut>(req: Request, handler: F) -> Response<Body>
where
    F: FnOnce(Ctx, Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let started = Instant::now();
    let request_id = request_id(&req);
    let gzip_ok = accepts_gzip(&req);
    let method = req.method().as_str().to_string();
    let resolved = crate::edge::route::resolve(&method, &route_path(&req));
    let route_template = resolved
        .as_ref()
        .map(|(spec, _)| spec.template)
        .unwrap_or("unmatched");
    let caller = identity::caller(&req);
    let caller_id = caller
        .as_ref()
        .map(|c| c.user_id.clone())
        .unwrap_or_default();

    // No such route (404/405) first, as API Gateway answers it; then who is calling, so an
    // unauthenticated caller learns nothing from the ids' checks (400); then the ids, the query.
    let checked = resolved.and_then(|(_, route)| {
        let caller = caller?;
        Ok((
            route?,
            caller,
            Query::parse(req.uri().query().unwrap_or(""))?,
        ))
    });
    let result = match checked {
        Err(e) => Err(e),
        Ok((route, caller, query)) => {
            let budget = time_left(&req);
            let ctx = Ctx {
                route,
                caller,
                query,
                deadline: Instant::now() + budget,
            };
            // Answer inside the function's timeout whatever storage does: a JSON 503 from us,
            // never the gateway's bare timeout. A write already sent when the deadline passes
            // may still commit behind this 503; every creating write carries a key
            // (`client_msg_id`, `client_request_id`) so its retry finds what committed.
            let answered = tokio::time::timeout(budget, handler(ctx, req)).await;
            answered.unwrap_or_else(|_| {
                tracing::error!(%request_id, route = route_template, "request deadline reached");
                Err(ApiError::unavailable())
            })
        }
    };
    let mut response = result.unwrap_or_else(|e| {
        // The one place a request's underlying fault is logged, with its request id.
        e.log(&request_id);
        error_response(&e)
    });
    compress_json(&mut response, gzip_ok);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(%request_id, %method, route = route_template, caller = %caller_id, status, latency_ms, "request failed");
    } else {
        tracing::info!(%request_id, %method, route = route_template, caller = %caller_id, status, latency_ms, "request");
    }
    response
}

/// The id a caller can quote: API Gateway's request id, else the Lambda invocation id.
pub fn request_id(req: &Request) -> String {
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref()
    {
        if let Some(id) = ctx.request_id.as_deref().filter(|s| !s.is_empty()) {
            return id.to_string();
        }
    }
    if let Some(ctx) = req.lambda_context_ref() {
        return ctx.request_id.clone();
    }
    crate::domain::ids::new_id()
}

/// The path to route on: the request path as the client sent it (API Gateway's `rawPath` when
/// present) without the stage prefix that a named API Gateway stage (anything but `$default`)
/// puts in front. The stage comes from the request context, never from guessing at the path,
/// so `/evil/conversations` is not `/conversations`.
pub fn route_path(req: &Request) -> std::borrow::Cow<'_, str> {
    let raw = match req.raw_http_path() {
        "" => req.uri().path(),
        raw => raw,
    };
    let stage = match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.stage.as_deref(),
        _ => None,
    };
    match stage {
        Some(stage) if stage != "$default" && !stage.is_empty() => {
            match raw.strip_prefix('/').and_then(|r| r.strip_prefix(stage)) {
                Some(rest) if rest.starts_with('/') => rest.to_string().into(),
                // Without its stage the path is not one of ours.
                _ => "".into(),
            }
        }
        _ => raw.into(),
    }
}

/// Time the handler may take: the Lambda deadline less a margin for the response (locally,
/// with no Lambda context, the deployed function timeout's worth).
fn time_left(req: &Request) -> Duration {
    const MARGIN: Duration = Duration::from_millis(1500);
    const LOCAL: Duration = Duration::from_secs(10);
    let budget = req
        .lambda_context_ref()
        .map(|ctx| crate::domain::time::until(ctx.deadline))
        .filter(|d| !d.is_zero())
        .unwrap_or(LOCAL);
    budget
        .saturating_sub(MARGIN)
        .max(Duration::from_millis(100))
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A decoded query string. Repeated keys are refused: `?limit=1&limit=100` has no one meaning.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        // Bounded before any per-parameter work: the most a route takes is 9 (a group's file
        // search with every filter, paging and thumbnails).
        const MAX_PARAMS: usize = 12;
        const MAX_QUERY_BYTES: usize = 8192;
        if raw.len() > MAX_QUERY_BYTES
            || raw
                .split('&')
                .filter(|p| !p.is_empty())
                .nth(MAX_PARAMS)
                .is_some()
        {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("at most {MAX_PARAMS} query parameters and {MAX_QUERY_BYTES} bytes"),
            ));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let (k, v) = (decode_component(k)?, decode_component(v)?);
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("query parameter `{}` is given more than once", clip(&k)),
                ));
            }
            pairs.push((k, v));
        }
        Ok(Self(pairs))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The cursor of listing `P` given as parameter `name`, which must belong to `scope`.
    pub fn cursor<P: Position>(&self, name: &str, scope: &str) -> Result<Option<P>, ApiError> {
        self.get(name).map(|c| cursor::decode(scope, c)).transpose()
    }

    /// Which slice of history `before`/`after` (at most one) ask for.
    pub fn history_range(&self, scope: &str) -> Result<MessageRange, ApiError> {
        if self.get("before").is_some() && self.get("after").is_some() {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                "give at most one of `before` and `after`",
            ));
        }
        if let Some(Before(seq)) = self.cursor("before", scope)? {
            return Ok(MessageRange::Before(seq));
        }
        if let Some(After(seq)) = self.cursor("after", scope)? {
            return Ok(MessageRange::After(seq));
        }
        Ok(MessageRange::Newest)
    }

    /// The page of listing `P` asked for: [`Self::limit`], and `cursor`, which must belong to
    /// `scope`.
    pub fn page<P: Position>(&self, scope: &str) -> Result<Paging<P>, ApiError> {
        let limit = self.limit()?;
        let after = self.cursor("cursor", scope)?;
        Ok(Paging { limit, after })
    }

    /// `limit`, defaulting and bounded as every listing is.
    pub fn limit(&self) -> Result<u32, ApiError> {
        self.limit_up_to(crate::config::MAX_PAGE_LIMIT)
    }

    /// `limit`, defaulting as every listing does, up to `max`.
    pub fn limit_up_to(&self, max: u32) -> Result<u32, ApiError> {
        let Some(limit) = self.get("limit") else {
            return Ok(crate::config::DEFAULT_PAGE_LIMIT);
        };
        match limit.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::new(
                ErrorCode::InvalidLimit,
                format!("limit must be a whole number from 1 to {max}"),
            )),
        }
    }
}

fn decode_component(s: &str) -> Result<String, ApiError> {
    form_decode(s)
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "query string is not valid UTF-8"))
}

/// Form-style decoding (`+` is a space, then percent escapes), as query strings and S3 event
/// keys are written; `None` if the result is not UTF-8.
pub fn form_decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Largest JSON body any route accepts. The biggest legitimate one is a text message of
/// `MAX_TEXT_BYTES` with every character escaped (`\uXXXX`, 6 bytes each).
pub const MAX_BODY_BYTES: usize = crate::config::MAX_TEXT_BYTES * 6 + 4096;
/// Error messages quote at most this much of what the caller sent.
const MAX_ECHO_CHARS: usize = 120;

/// Parses a JSON request body into `T`; any problem is a 400 that says what is wrong. The size
/// is checked before any parsing, so no body costs more than a bounded, linear parse.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "a JSON body is required",
        ));
    }
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        ));
    }
    // Every body is an object: serde's derived structs would also take their fields by
    // position from an array, a form the API does not document.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidBody,
            format!("invalid JSON body: {}", clip(&e.to_string())),
        )
    })
}

/// At most [`MAX_ECHO_CHARS`] of `text`, marked when cut: errors name bad input, never
/// carry it back whole.
pub fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        None => text.into(),
        Some((at, _)) => format!("{}…", &text[..at]).into(),
    }
}

/// JSON bodies smaller than this go as they are: gzip's header and the CPU are not worth it.
const COMPRESS_FROM_BYTES: usize = 1024;

/// Whether the client takes gzip: named in `Accept-Encoding` with a q-value above 0, or left
/// to a `*` above 0 (see [`crate::edge::negotiate`]).
fn accepts_gzip(req: &Request) -> bool {
    crate::edge::negotiate::accepts_coding(header(req, "accept-encoding"), "gzip")
}

/// flate2's default. scripts/bench measures its CPU per history page against other levels.
pub const GZIP_LEVEL: u32 = 6;

/// What [`serve`] does to a JSON body a client takes gzipped (public for scripts/bench).
pub fn gzip(bytes: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::new(level),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Gzips a JSON body above the threshold for a client that takes it. API Gateway passes a
/// binary body (base64 in the Lambda response) through as bytes. Every JSON response says it
/// varies by `Accept-Encoding`, compressed or not, so no cache mixes the two.
fn compress_json(response: &mut Response<Body>, gzip_ok: bool) {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json {
        return;
    }
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let Body::Text(text) = response.body() else {
        return;
    };
    if !gzip_ok || text.len() < COMPRESS_FROM_BYTES {
        return;
    }
    let Ok(gzipped) = gzip(text.as_bytes(), GZIP_LEVEL) else {
        return;
    };
    *response.body_mut() = Body::Binary(gzipped);
    response
        .headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
}

/// A JSON response. Everything this API returns is private to the caller: never cached.
pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response<Body>, ApiError> {
    let body = serde_json::to_string(value)
        .map_err(|e| ApiError::internal().with_fault("http.json", e))?;
    Ok(base_response(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body))
        .expect("static headers are valid"))
}

pub fn empty(status: u16) -> Response<Body> {
    base_response(status)
        .body(Body::Empty)
        .expect("static headers are valid")
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    base_response(err.status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(err.to_json()))
        .expect("static headers are valid")
}

pub fn base_response(status: u16) -> lambda_http::http::response::Builder {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CACHE_CONTROL, "no-store")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stage: &str, raw_path: &str) -> Request {
        let json = format!(
            r#"{{"version":"2.0","routeKey":"$default","rawPath":"{raw_path}","rawQueryString":"",
            "headers":{{}},
            "requestContext":{{"accountId":"1","apiId":"a","domainName":"localhost","domainPrefix":"l",
            "http":{{"method":"GET","path":"{raw_path}","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"t"}},
            "requestId":"r","routeKey":"$default","stage":"{stage}","time":"","timeEpoch":0}},
            "isBase64Encoded":false}}"#
        );
        lambda_http::request::from_str(&json).expect("valid API Gateway v2 event")
    }

    #[test]
    fn gzip_is_taken_only_when_offered() {
        let with = |value: &str| {
            let mut req = event("$default", "/config");
            req.headers_mut()
                .insert("accept-encoding", value.parse().unwrap());
            accepts_gzip(&req)
        };
        assert!(with("gzip"));
        assert!(with("br, gzip;q=0.5, deflate"));
        assert!(with("*"));
        assert!(with("GZIP"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br, deflate"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&event("$default", "/config")));
    }

    /// RFC 9110 §12.5.3: `*` stands for the codings the header does not name, so a coding
    /// refused by name (`q=0`) stays refused.
    #[test]
    fn gzip_refused_by_name_is_not_taken_through_a_wildcard() {
        let with = |value: &str| {
            let mut req = event("$default", "/config");
            req.headers_mut()
                .insert("accept-encoding", value.parse().unwrap());
            accepts_gzip(&req)
        };
        assert!(!with("gzip;q=0, *"));
        assert!(!with("*, gzip;q=0"));
        assert!(!with("GZIP;Q=0.000, br, *;q=1"));
        assert!(!with("*;q=0"));
        assert!(!with("gzip;q=0.0, *;q=0.5"));
        assert!(with("br;q=0, *;q=0.5"));
        assert!(with("gzip;q=0.001, *;q=0"));
        // A malformed weight is no preference for gzip.
        assert!(!with("gzip;q=2"));
        assert!(!with("gzip;q=abc"));
    }

    #[test]
    fn large_json_is_gzipped_small_json_and_other_bodies_are_not() {
        use std::io::Read;
        let big = serde_json::json!({ "messages": vec!["hello, group"; 500] });
        let mut response = json(200, &big).unwrap();
        compress_json(&mut response, true);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(response.headers()[header::VARY], "accept-encoding");
        let Body::Binary(bytes) = response.body() else {
            panic!("a gzipped body is binary")
        };
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            big
        );
        assert!(
            bytes.len() * 10 < text.len(),
            "{} -> {}",
            text.len(),
            bytes.len()
        );

        let mut small = json(200, &serde_json::json!({"ok": true})).unwrap();
        compress_json(&mut small, true);
        assert!(small.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(small.headers()[header::VARY], "accept-encoding");

        let mut not_asked = json(200, &big).unwrap();
        compress_json(&mut not_asked, false);
        assert!(not_asked.headers().get(header::CONTENT_ENCODING).is_none());

        let mut redirect = empty(302);
        compress_json(&mut redirect, true);
        assert!(redirect.headers().get(header::VARY).is_none());
    }

    /// The stage prefix goes only when the request context names that stage.
    #[test]
    fn route_path_removes_the_named_stage_only() {
        assert_eq!(
            route_path(&event("prod", "/prod/conversations")),
            "/conversations"
        );
        assert_eq!(route_path(&event("prod", "/conversations")), "");
        assert_eq!(route_path(&event("prod", "/production/x")), "");
        assert_eq!(
            route_path(&event("$default", "/prod/conversations")),
            "/prod/conversations"
        );
        assert_eq!(route_path(&event("$default", "/config")), "/config");
    }

    #[test]
    fn query_decodes_and_refuses_repeats() {
        let q = Query::parse("ids=a%2Cb,c&limit=5&x=a+b").unwrap();
        assert_eq!(q.get("ids"), Some("a,b,c"));
        assert_eq!(q.get("x"), Some("a b"));
        assert_eq!(q.limit().unwrap(), 5);
        assert_eq!(
            Query::parse("limit=1&limit=2").unwrap_err().code,
            "invalid_query"
        );
    }

    #[test]
    fn limit_bounds() {
        assert_eq!(Query::parse("").unwrap().limit().unwrap(), 50);
        assert_eq!(Query::parse("limit=100").unwrap().limit().unwrap(), 100);
        for bad in ["limit=0", "limit=101", "limit=-1", "limit=abc", "limit="] {
            assert_eq!(
                Query::parse(bad).unwrap().limit().unwrap_err().code,
                "invalid_limit"
            );
        }
    }
}
