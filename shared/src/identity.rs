//! Who is calling.
//!
//! The caller is the `sub` claim that API Gateway's JWT authorizer verified and put in the
//! request context (`requestContext.authorizer.jwt.claims.sub`), and nothing else: no header,
//! no build feature and no setting makes function code trust anything the client sent. The
//! local stack (`groupshare-local`) plays the authorizer and fills the same context.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::{ids, ApiError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
}

pub fn caller(req: &Request) -> Result<Caller, ApiError> {
    let user_id = jwt_subject(req).ok_or_else(ApiError::unauthenticated)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(authorizer: &str) -> Request {
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
    fn the_caller_is_the_verified_sub_claim() {
        let with_claims = r#","authorizer":{"jwt":{"claims":{"sub":"alice"},"scopes":null}}"#;
        assert_eq!(caller(&event(with_claims)).unwrap().user_id, "alice");
    }

    /// A client-sent `X-Dev-User` header is no identity: only the authorizer's claims are.
    #[test]
    fn a_dev_header_alone_is_no_identity() {
        assert_eq!(caller(&event("")).unwrap_err().status, 401);
        let no_sub = r#","authorizer":{"jwt":{"claims":{"iss":"x"},"scopes":null}}"#;
        assert_eq!(caller(&event(no_sub)).unwrap_err().status, 401);
        let unusable = r#","authorizer":{"jwt":{"claims":{"sub":"a b"},"scopes":null}}"#;
        assert_eq!(caller(&event(unusable)).unwrap_err().status, 401);
    }
}
