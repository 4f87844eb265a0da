//! The WebSocket API's Lambda REQUEST authorizer on `$connect`. WebSocket APIs have no JWT
//! authorizer, so this verifies the client's token as the HTTP API's does
//! ([`shared::edge::token`]) and answers API Gateway with an IAM policy: `execute-api:Invoke` on the
//! connect route, `principalId` = the `sub`, and `context.user_id` = the `sub`, which the
//! connection handler reads as `requestContext.authorizer.user_id`.
//!
//! The token is the `token` query parameter (a browser cannot set headers on a WebSocket; the
//! template's identity source is `route.request.querystring.token`), else an
//! `Authorization: Bearer` header (other clients). A missing or refused token fails the
//! invocation with the message `Unauthorized`, which API Gateway answers with 401; keys that
//! cannot be fetched fail it otherwise (500). The token itself is never logged.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use shared::edge::token::{TokenConfig, TokenError, Verifier};

/// The query parameter a browser sends its token in.
pub const TOKEN_PARAM: &str = "token";
/// The message that makes API Gateway answer 401.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// Why a connection is not authorized. Its message is what Lambda reports and API Gateway
/// reads: exactly [`UNAUTHORIZED`] for a token problem, anything else means 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizerError {
    Unauthorized,
    /// The issuer's keys could not be fetched (details are in the log).
    KeysUnavailable,
    /// Not a REQUEST authorizer event API Gateway would send (no `methodArn`).
    MalformedEvent,
}

impl std::fmt::Display for AuthorizerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unauthorized => f.write_str(UNAUTHORIZED),
            Self::KeysUnavailable => f.write_str("the issuer's signing keys are unavailable"),
            Self::MalformedEvent => f.write_str("the authorizer event has no methodArn"),
        }
    }
}

impl std::error::Error for AuthorizerError {}

impl From<AuthorizerError> for Diagnostic {
    fn from(e: AuthorizerError) -> Self {
        let error_type = match e {
            AuthorizerError::Unauthorized => "Unauthorized",
            AuthorizerError::KeysUnavailable => "KeysUnavailable",
            AuthorizerError::MalformedEvent => "MalformedEvent",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// The function's `main`: logging, the verifier from `JWT_ISSUER` / `JWT_AUDIENCE` /
/// `JWKS_URL` (no storage clients: this function needs none), then one event at a time.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    shared::edge::logging::init();
    // Lives as long as the process, and with it the JWKS cache.
    let verifier: &'static Verifier = Box::leak(Box::new(Verifier::new(TokenConfig::from_env()?)?));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| {
            handle(verifier, event.payload)
        },
    ))
    .await
}

/// Authorizes one `$connect`.
pub async fn handle(
    verifier: &Verifier,
    request: ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<ApiGatewayCustomAuthorizerResponse, AuthorizerError> {
    let Some(method_arn) = request.method_arn.as_deref().filter(|a| !a.is_empty()) else {
        tracing::error!("the authorizer event has no methodArn");
        return Err(AuthorizerError::MalformedEvent);
    };
    let Some(token) = token(&request) else {
        tracing::info!(reason = "no token", "connection refused");
        return Err(AuthorizerError::Unauthorized);
    };
    match verifier.verify(token).await {
        Ok(verified) => Ok(allow(&verified.user_id, method_arn)),
        Err(TokenError::Invalid(reason)) => {
            tracing::info!(reason, "connection refused");
            Err(AuthorizerError::Unauthorized)
        }
        Err(TokenError::KeysUnavailable(why)) => {
            tracing::error!(error = %why, "cannot authorize: the issuer's keys are unavailable");
            Err(AuthorizerError::KeysUnavailable)
        }
    }
}

/// The `token` query parameter, else the `Authorization: Bearer` header's token.
pub fn token(request: &ApiGatewayCustomAuthorizerRequestTypeRequest) -> Option<&str> {
    if let Some(token) = request.query_string_parameters.first(TOKEN_PARAM) {
        return Some(token.trim()).filter(|t| !t.is_empty());
    }
    let value = request.headers.get("authorization")?.to_str().ok()?;
    match value.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Some(token.trim()).filter(|t| !t.is_empty())
        }
        _ => None,
    }
}

/// Allow `execute-api:Invoke` on the connect route for `user_id`, with `user_id` in the context.
pub fn allow(user_id: &str, method_arn: &str) -> ApiGatewayCustomAuthorizerResponse {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![method_arn.into()];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".into());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(user_id.into());
    response.policy_document = policy;
    response.context = serde_json::json!({ "user_id": user_id });
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use shared::edge::token::TokenConfig;

    const SAMPLE: &str = include_str!("../../../events/ws-connect-authorizer.json");

    fn event(change: impl FnOnce(&mut Value)) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
        let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
        change(&mut v);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_token_comes_from_the_query_else_a_bearer_header() {
        let sample = event(|_| {});
        assert_eq!(
            token(&sample),
            Some("eyJhbGciOiJSUzI1NiIsImtpZCI6ImRlbW8ifQ.demo.signature")
        );
        let header_only = event(|v| {
            v["queryStringParameters"] = json!({});
            v["multiValueQueryStringParameters"] = json!({});
            v["headers"]["Authorization"] = json!("Bearer a.b.c");
        });
        assert_eq!(token(&header_only), Some("a.b.c"));
        let both = event(|v| v["headers"]["authorization"] = json!("bearer x.y.z"));
        assert_eq!(
            token(&both),
            Some("eyJhbGciOiJSUzI1NiIsImtpZCI6ImRlbW8ifQ.demo.signature")
        );
        for (query, header) in [
            (json!(null), json!(null)),
            (json!({"token": ""}), json!("Bearer a.b.c")),
            (json!({}), json!("Basic YTpi")),
            (json!({}), json!("Bearer ")),
        ] {
            let e = event(|v| {
                v["queryStringParameters"] = query.clone();
                v["multiValueQueryStringParameters"] = json!(null);
                if !header.is_null() {
                    v["headers"]["Authorization"] = header.clone();
                }
            });
            assert_eq!(token(&e), None, "{query} {header}");
        }
    }

    #[test]
    fn allowed_connections_get_a_policy_on_the_method_and_the_user_id() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:ws123abc/production/$connect";
        let response = serde_json::to_value(allow("alice", arn)).unwrap();
        assert_eq!(response["principalId"], "alice");
        assert_eq!(response["context"], json!({"user_id": "alice"}));
        assert_eq!(
            response["policyDocument"]["Statement"],
            json!([{"Action": ["execute-api:Invoke"], "Effect": "Allow", "Resource": [arn]}])
        );
    }

    #[test]
    fn refusals_say_unauthorized_to_api_gateway() {
        let d = Diagnostic::from(AuthorizerError::Unauthorized);
        assert_eq!(d.error_message, "Unauthorized");
        let d = Diagnostic::from(AuthorizerError::KeysUnavailable);
        assert_ne!(d.error_message, "Unauthorized");
    }

    /// Refusals that need no keys (so no fetch): no token, not a JWT, an algorithm never allowed.
    #[tokio::test]
    async fn tokens_refused_before_any_key_is_fetched() {
        let config = TokenConfig::new(
            "https://issuer.invalid",
            "app",
            Some("https://issuer.invalid/jwks"),
        )
        .unwrap();
        let verifier = Verifier::new(config).unwrap();
        let none_alg = "eyJhbGciOiJub25lIiwia2lkIjoiayJ9.eyJzdWIiOiJhbGljZSJ9.";
        let hs256 = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJhbGljZSJ9.c2ln";
        for token in [None, Some("not-a-jwt"), Some(none_alg), Some(hs256)] {
            let e = event(|v| {
                v["queryStringParameters"] = token.map_or(json!({}), |t| json!({ "token": t }));
                v["multiValueQueryStringParameters"] = json!({});
            });
            assert_eq!(
                handle(&verifier, e).await.unwrap_err(),
                AuthorizerError::Unauthorized,
                "{token:?}"
            );
        }
        let no_arn = event(|v| v["methodArn"] = json!(null));
        assert_eq!(
            handle(&verifier, no_arn).await.unwrap_err(),
            AuthorizerError::MalformedEvent
        );
    }
}
