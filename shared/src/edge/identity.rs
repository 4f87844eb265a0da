//! Who is calling.
//!
//! The caller is the `sub` claim that API Gateway's JWT authorizer verified and put in the
//! request context (`requestContext.authorizer.jwt.claims.sub`), and nothing else: no header,
//! no build feature and no setting makes function code trust anything the client sent. The
//! local stack (`groupshare-local`) plays the authorizer and fills the same context.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::domain::caller::Caller;
use crate::ApiError;

pub fn caller(req: &Request) -> Result<Caller, ApiError> {
    let claims = jwt_claims(req).ok_or_else(ApiError::unauthenticated)?;
    Caller::from_claims(|name| claims.get(name).map(String::as_str))
}

fn jwt_claims(req: &Request) -> Option<&std::collections::HashMap<String, String>> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => Some(&ctx.authorizer.as_ref()?.jwt.as_ref()?.claims),
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

    /// The provider's name and email are hints for the profile: `name` first, then
    /// `preferred_username`, then the email; a name that breaks the rules is not taken.
    #[test]
    fn name_and_email_claims_are_read_as_hints() {
        let c = caller(&event(r#","authorizer":{"jwt":{"claims":{"sub":"u1","preferred_username":"ali","email":"a@example.com"},"scopes":null}}"#)).unwrap();
        assert_eq!(
            (c.name_hint.as_deref(), c.email.as_deref()),
            (Some("ali"), Some("a@example.com"))
        );
        let c = caller(&event(r#","authorizer":{"jwt":{"claims":{"sub":"u1","name":"Alice Liddell","preferred_username":"ali"},"scopes":null}}"#)).unwrap();
        assert_eq!(c.name_hint.as_deref(), Some("Alice Liddell"));
        let c = caller(&event(r#","authorizer":{"jwt":{"claims":{"sub":"u1","name":"evil\u202egnp.exe"},"scopes":null}}"#)).unwrap();
        assert_eq!(c.name_hint, None);
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
