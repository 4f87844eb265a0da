//! AWS SDK failures as API errors: what may succeed on retry is 503, the rest our fault (500).

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::retry::ProvideErrorKind;

use crate::domain::error::{ApiError, Fault};

impl ApiError {
    /// Maps an AWS SDK failure: what the SDK itself would retry (throttling and transient
    /// errors, by its own code lists and the service model), any 5xx from the service,
    /// timeouts and unreachable endpoints are the caller's cue to retry (503); anything else
    /// is our bug (500). The SDK error travels as the fault.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + 'static,
    {
        let base = if is_retryable(&err) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
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
}
