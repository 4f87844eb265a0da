//! Who is calling.
//!
//! In production the caller is the `sub` claim that API Gateway's JWT authorizer verified and
//! put in the request context. Builds with the `dev-identity` feature (local stack and tests
//! only) also accept an `X-Dev-User` header. The feature is a compile-time switch: the SAM build
//! never enables it, so no setting of the deployed template can turn the shortcut on.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::{ids, ApiError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
}

/// Header accepted as the caller's identity by `dev-identity` builds.
pub const DEV_USER_HEADER: &str = "x-dev-user";

/// Whether this build accepts `X-Dev-User` (false in every deployed build).
pub const DEV_IDENTITY_ENABLED: bool = cfg!(feature = "dev-identity");

pub fn caller(req: &Request) -> Result<Caller, ApiError> {
    let user_id = jwt_subject(req)
        .or_else(|| dev_user(req))
        .ok_or_else(ApiError::unauthenticated)?;
    if !ids::is_valid_id(&user_id) {
        // A subject we cannot use as a key is not an identity we can serve.
        return Err(ApiError::unauthenticated());
    }
    Ok(Caller { user_id })
}

fn jwt_subject(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .as_ref()?
            .jwt
            .as_ref()?
            .claims
            .get("sub")
            .filter(|s| !s.is_empty())
            .cloned(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

#[cfg(feature = "dev-identity")]
fn dev_user(req: &Request) -> Option<String> {
    req.headers()
        .get(DEV_USER_HEADER)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(not(feature = "dev-identity"))]
fn dev_user(_req: &Request) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(with_claims: bool) -> Request {
        let authorizer = if with_claims {
            r#","authorizer":{"jwt":{"claims":{"sub":"alice"},"scopes":null}}"#
        } else {
            ""
        };
        let json = format!(
            r#"{{"version":"2.0","routeKey":"$default","rawPath":"/config","rawQueryString":"",
            "headers":{{"x-dev-user":"mallory"}},
            "requestContext":{{"accountId":"1","apiId":"a","domainName":"localhost","domainPrefix":"l",
            "http":{{"method":"GET","path":"/config","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"t"}},
            "requestId":"r","routeKey":"$default","stage":"$default","time":"","timeEpoch":0{authorizer}}},
            "isBase64Encoded":false}}"#
        );
        lambda_http::request::from_str(&json).expect("valid API Gateway v2 event")
    }

    #[test]
    fn jwt_subject_wins_over_the_dev_header() {
        assert_eq!(caller(&event(true)).unwrap().user_id, "alice");
    }

    /// The deployed build: `X-Dev-User` alone is no identity.
    #[cfg(not(feature = "dev-identity"))]
    #[test]
    fn production_build_ignores_dev_header() {
        assert!(!DEV_IDENTITY_ENABLED);
        assert_eq!(caller(&event(false)).unwrap_err().status, 401);
    }

    #[cfg(feature = "dev-identity")]
    #[test]
    fn dev_build_accepts_dev_header() {
        assert_eq!(caller(&event(false)).unwrap().user_id, "mallory");
    }
}
