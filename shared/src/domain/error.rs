//! The error contract: every failure becomes `{"error": {"code", "message"}}` with a fitting
//! status. Codes are a type ([`ErrorCode`]) whose wire name and status live in one place;
//! messages are for humans. A server fault keeps what went wrong underneath ([`Fault`]) so
//! `http::serve` can log it once, with the request it failed.

use serde::{Deserialize, Serialize};

/// Every code a caller can receive. Stable: clients branch on these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::EnumIter, strum::IntoStaticStr, strum::Display)]
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
    TooManyGroups,
    InvalidFilter,
    QueryTooShort,
    QueryTooLong,
    SameConversation,
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
            | TooManyMembers
            | InvalidFilter
            | QueryTooShort
            | QueryTooLong
            | SameConversation => 400,
            Unauthenticated => 401,
            Forbidden | RecallWindowPassed | NotDeletable => 403,
            NotFound | RouteNotFound | NoPreview => 404,
            MethodNotAllowed => 405,
            FileNotReady | PreviewNotReady | ClientMsgIdReused | UploadCompleted
            | UploadMissing | SizeMismatch | ChecksumMismatch | ChecksumUnverified
            | UploadIncomplete | NotMultipart | LastOwner | TooManyGroups => 409,
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
        serde_json::json!({ "error": { "code": self.code, "message": self.message } }).to_string()
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
    use strum::IntoEnumIterator;

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
        for code in ErrorCode::iter() {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
            assert!((400..600).contains(&code.status()));
        }
    }

    #[test]
    fn faults_never_reach_the_wire() {
        let e = ApiError::internal().with_fault("files.get", "secret detail");
        assert!(!e.to_json().contains("secret"));
    }
}
