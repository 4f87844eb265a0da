//! The error contract: every failure becomes `{"error": {"code", "message"}}` with a fitting
//! status. Codes are stable and machine-readable; messages are for humans.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(401, "unauthenticated", "a signed-in caller is required")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }

    /// The one answer for "does not exist" and "not yours": callers cannot probe for ids.
    pub fn not_found() -> Self {
        Self::new(404, "not_found", "no such resource")
    }

    pub fn route_not_found() -> Self {
        Self::new(404, "route_not_found", "no such route")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "method_not_allowed",
            "method not allowed on this route",
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    pub fn too_large(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(413, code, message)
    }

    pub fn unavailable() -> Self {
        Self::new(503, "unavailable", "storage is unavailable, retry later")
    }

    pub fn internal() -> Self {
        Self::new(500, "internal", "internal error")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        })
        .expect("error body serializes")
    }

    /// Maps an AWS SDK failure: throttling, timeouts and unreachable endpoints are the caller's
    /// cue to retry (503); anything else is our bug (500). Both are logged with the operation.
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let retryable = match &err {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
            SdkError::ServiceError(e) => matches!(
                e.err().code(),
                Some(
                    "ProvisionedThroughputExceededException"
                        | "ThrottlingException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                        | "SlowDown"
                        | "TransactionConflictException"
                )
            ),
            _ => false,
        };
        let code = err.code().unwrap_or("none").to_string();
        let detail = aws_smithy_types::error::display::DisplayErrorContext(&err);
        if retryable {
            tracing::warn!(operation, aws_error_code = %code, error = %detail, "storage unavailable");
            Self::unavailable()
        } else {
            tracing::error!(operation, aws_error_code = %code, error = %detail, "storage call failed");
            Self::internal()
        }
    }

    /// A stored item that does not have the shape the code expects: a server-side fault.
    pub fn corrupt(what: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(item = what, %detail, "stored item is malformed");
        Self::internal()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_stable() {
        let body: serde_json::Value =
            serde_json::from_str(&ApiError::not_found().to_json()).unwrap();
        assert_eq!(body["error"]["code"], "not_found");
        assert!(body["error"]["message"].is_string());
    }
}
