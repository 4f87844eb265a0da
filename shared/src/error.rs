//! The error contract: every failure becomes `{"error": {"code", "message"}}` with a fitting
//! status. Codes are a type ([`ErrorCode`]) whose wire name and status live in one place;
//! messages are for humans. A server fault keeps what went wrong underneath ([`Fault`]) so
//! `http::serve` can log it once, with the request it failed.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::retry::ProvideErrorKind;
use serde::{Deserialize, Serialize};

/// Every code a caller can receive. Stable: clients branch on these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    InvalidQuery,
    InvalidLimit,
    InvalidCursor,
    InvalidBody,
    InvalidConversationId,
    InvalidFileId,
    InvalidUserId,
    InvalidClientMsgId,
    InvalidText,
    InvalidTitle,
    InvalidName,
    InvalidDisplayName,
    InvalidContentType,
    InvalidSha256,
    InvalidDisposition,
    InvalidSeq,
    InvalidParts,
    InvalidPreviewSize,
    TooManyIds,
    TooManyMembers,
    Unauthenticated,
    Forbidden,
    RecallWindowPassed,
    NotDeletable,
    NotFound,
    RouteNotFound,
    MethodNotAllowed,
    FileNotReady,
    PreviewNotReady,
    NoPreview,
    ClientMsgIdReused,
    UploadCompleted,
    UploadMissing,
    SizeMismatch,
    ChecksumMismatch,
    ChecksumUnverified,
    UploadIncomplete,
    NotMultipart,
    LastOwner,
    FileGone,
    InviteGone,
    TextTooLong,
    FileTooLarge,
    BodyTooLarge,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// Every code, for the OpenAPI agreement test and documentation.
    pub fn all() -> impl Iterator<Item = ErrorCode> {
        <Self as strum::IntoEnumIterator>::iter()
    }

    /// The HTTP status every error with this code gets.
    pub const fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidQuery
            | InvalidLimit
            | InvalidCursor
            | InvalidBody
            | InvalidConversationId
            | InvalidFileId
            | InvalidUserId
            | InvalidClientMsgId
            | InvalidText
            | InvalidTitle
            | InvalidName
            | InvalidDisplayName
            | InvalidContentType
            | InvalidSha256
            | InvalidDisposition
            | InvalidSeq
            | InvalidParts
            | InvalidPreviewSize
            | TooManyIds
            | TooManyMembers => 400,
            Unauthenticated => 401,
            Forbidden | RecallWindowPassed | NotDeletable => 403,
            NotFound | RouteNotFound | NoPreview => 404,
            MethodNotAllowed => 405,
            FileNotReady | PreviewNotReady | ClientMsgIdReused | UploadCompleted
            | UploadMissing | SizeMismatch | ChecksumMismatch | ChecksumUnverified
            | UploadIncomplete | NotMultipart | LastOwner => 409,
            FileGone | InviteGone => 410,
            TextTooLong | FileTooLarge | BodyTooLarge => 413,
            Internal => 500,
            Unavailable => 503,
        }
    }

    /// The wire name (`snake_case`, as serde writes it).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets tests and logs compare with the wire name.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What failed underneath a server fault: logged by `serve`, never sent to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The storage operation (`messages.append`), or what was being done.
    pub operation: &'static str,
    /// The AWS error code, when there is one.
    pub aws_code: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Always `code.status()`; kept as a field so callers read it without a call.
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    pub fault: Option<Fault>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: ErrorCode,
    message: &'a str,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: code.status(),
            code,
            message: message.into(),
            fault: None,
        }
    }

    pub fn unauthenticated() -> Self {
        Self::new(ErrorCode::Unauthenticated, "a signed-in caller is required")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// The one answer for "does not exist" and "not yours": callers cannot probe for ids.
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such resource")
    }

    pub fn route_not_found() -> Self {
        Self::new(ErrorCode::RouteNotFound, "no such route")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            "method not allowed on this route",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::Unavailable,
            "storage is unavailable, retry later",
        )
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// A server fault with what went wrong underneath, for the log.
    pub fn with_fault(mut self, operation: &'static str, detail: impl std::fmt::Display) -> Self {
        self.fault = Some(Fault {
            operation,
            aws_code: None,
            detail: detail.to_string(),
        });
        self
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

    /// Maps an AWS SDK failure: what the SDK itself would retry (throttling and transient
    /// errors, by its own code lists and the service model), any 5xx from the service,
    /// timeouts and unreachable endpoints are the caller's cue to retry (503); anything else
    /// is our bug (500). The SDK error travels as the fault.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + 'static,
    {
        let retryable = is_retryable(&err);
        let base = if retryable {
            Self::unavailable()
        } else {
            Self::internal()
        };
        Self {
            fault: Some(Fault {
                operation,
                aws_code: err.code().map(str::to_string),
                detail: aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
            }),
            ..base
        }
    }

    /// A stored item that does not have the shape the code expects: a server-side fault.
    pub fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::internal().with_fault(what, format!("stored item is malformed: {detail}"))
    }

    /// Logs the fault underneath (if any) once, with the caller's context. `serve` calls it
    /// for every request; background functions call it before returning an error.
    pub fn log(&self, request_id: &str) {
        let Some(fault) = &self.fault else { return };
        let aws_error_code = fault.aws_code.as_deref().unwrap_or("none");
        if self.status >= 500 && self.code != ErrorCode::Unavailable {
            tracing::error!(%request_id, operation = fault.operation, aws_error_code, error = %fault.detail, "server fault");
        } else {
            tracing::warn!(%request_id, operation = fault.operation, aws_error_code, error = %fault.detail, "storage unavailable");
        }
    }
}

/// Whether the same request may succeed later. The code lists are the SDK's own (its retry
/// classifiers use them), so a code it learns to retry is retried here too, instead of a list
/// of ours that missed S3's `InternalError`/`RequestTimeout` and DynamoDB's
/// `TransactionInProgressException`.
fn is_retryable<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata + ProvideErrorKind,
{
    let service_failed = err
        .raw_response()
        .is_some_and(|raw| raw.status().is_server_error());
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ResponseError(_) => service_failed,
        SdkError::ServiceError(e) => {
            let code = ProvideErrorMetadata::code(e.err());
            service_failed
                // Errors the service model marks retryable.
                || e.err().retryable_error_kind().is_some()
                || code.is_some_and(|code| {
                    THROTTLING_ERRORS.contains(&code)
                        || TRANSIENT_ERRORS.contains(&code)
                        // DynamoDB's answer to a write on an item a transaction holds (a 400 the
                        // SDK does not retry): its documentation says to retry it.
                        || code == "TransactionConflictException"
                })
        }
        // ConstructionFailure: a request we built wrong.
        _ => false,
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)?;
        if let Some(fault) = &self.fault {
            write!(f, " ({}: {})", fault.operation, fault.detail)?;
        }
        Ok(())
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

    /// The hand-written wire names agree with serde's, so `as_str` and the JSON never differ.
    #[test]
    fn wire_names_agree_with_serde() {
        for code in ErrorCode::all() {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
            assert!((400..600).contains(&code.status()));
        }
    }

    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
    }

    fn s3(code: &str, status: u16) -> ApiError {
        let err = aws_sdk_s3::operation::get_object::GetObjectError::generic(
            ErrorMetadata::builder().code(code).build(),
        );
        ApiError::from_sdk(
            "s3.get_object",
            SdkError::service_error(err, response(status)),
        )
    }

    fn dynamodb(code: &str, status: u16) -> ApiError {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let err = TransactWriteItemsError::generic(ErrorMetadata::builder().code(code).build());
        let err = SdkError::service_error(err, response(status));
        ApiError::from_sdk("messages.append", err)
    }

    /// Throttling, transient errors and the service's own 5xx are the caller's cue to retry,
    /// whatever name the service gives them (codes as S3 and DynamoDB send them).
    #[test]
    fn outages_and_throttling_answer_503() {
        let outages = [
            s3("InternalError", 500),
            s3("RequestTimeout", 400),
            s3("SlowDown", 503),
            s3("ServiceUnavailable", 503),
            // A code no list knows, from a gateway in front of the service.
            s3("BadGateway", 502),
            dynamodb("TransactionInProgressException", 400),
            dynamodb("ThrottlingException", 400),
            dynamodb("ProvisionedThroughputExceededException", 400),
            dynamodb("RequestLimitExceeded", 400),
            dynamodb("TransactionConflictException", 400),
            dynamodb("InternalServerError", 500),
        ];
        for e in outages {
            let fault = e.fault.as_ref().unwrap();
            assert_eq!(e.code, ErrorCode::Unavailable, "{fault:?}");
        }
        // An answer the SDK could not read, with a 5xx status: also an outage.
        let garbled: SdkError<aws_sdk_s3::operation::get_object::GetObjectError, _> =
            SdkError::response_error("not XML", response(502));
        let e = ApiError::from_sdk("s3.get_object", garbled);
        assert_eq!(e.code, ErrorCode::Unavailable);
    }

    /// What retrying cannot fix stays a server fault (500): our requests or our permissions.
    #[test]
    fn client_side_sdk_errors_stay_internal() {
        for e in [
            s3("AccessDenied", 403),
            s3("InvalidArgument", 400),
            dynamodb("ValidationException", 400),
            dynamodb("ResourceNotFoundException", 400),
        ] {
            let fault = e.fault.as_ref().unwrap();
            assert_eq!(e.code, ErrorCode::Internal, "{fault:?}");
            assert!(fault.aws_code.is_some());
        }
        let garbled: SdkError<aws_sdk_s3::operation::get_object::GetObjectError, _> =
            SdkError::response_error("not XML", response(200));
        assert_eq!(
            ApiError::from_sdk("s3.get_object", garbled).code,
            ErrorCode::Internal
        );
    }

    #[test]
    fn faults_never_reach_the_wire() {
        let e = ApiError::internal().with_fault("files.get", "secret detail");
        assert!(!e.to_json().contains("secret"));
    }
}
