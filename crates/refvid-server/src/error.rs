//! The one mapping from every failure in the server to the contract's error envelope.
//!
//! 5xx answers carry a fixed sentence, never the underlying error; that is logged instead.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use refvid_api::{ApiError, ErrorCode, FieldError};
use refvid_store::StoreError;

/// An error on its way to the client.
#[derive(Debug)]
pub struct HttpError(pub ApiError, pub Option<u64>);

impl HttpError {
    /// Sets the `Retry-After` seconds (429 and 503 default to 1).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.1 = Some(secs);
        self
    }

    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ApiError::new(code, message), None)
    }

    /// A 400 naming the field and the rule.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self(FieldError::new(field, message).into(), None)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::FailedToAuth,
            "missing or invalid API key; send Authorization: Bearer <key>",
        )
    }

    pub fn task_not_found() -> Self {
        Self::new(
            ErrorCode::TaskNotFound,
            "no task with this task_id for this API key",
        )
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        Self(e, None)
    }
}

impl From<FieldError> for HttpError {
    fn from(e: FieldError) -> Self {
        Self(e.into(), None)
    }
}

impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "task store error");
        Self::new(
            ErrorCode::ServiceNotAvailable,
            "the task store is unavailable; try again shortly",
        )
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.0.envelope())).into_response();
        if matches!(
            self.0.code,
            ErrorCode::RateLimitExceeded | ErrorCode::ServiceNotAvailable
        ) {
            let secs = self.1.unwrap_or(1).to_string();
            let value = HeaderValue::from_str(&secs).unwrap_or(HeaderValue::from_static("1"));
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
