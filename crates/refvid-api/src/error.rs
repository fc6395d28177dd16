//! The error envelope `{code, reason, message, metadata}` and the table of reason codes.
//!
//! Every rejected request in the whole server ends up as one [`ApiError`]; the HTTP layer maps
//! it to a status and this JSON body and nothing else.

use serde::Serialize;
use serde_json::{Map, Value};

/// The stable reason codes of the contract, each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequestBody,
    FailedToAuth,
    TaskNotFound,
    RequestTooLarge,
    RateLimitExceeded,
    ServiceNotAvailable,
    /// Not in the spec's table: an unknown path.
    NotFound,
    /// Not in the spec's table: an unexpected fault, reported without internals.
    InternalError,
}

impl ErrorCode {
    /// The HTTP status code for this reason.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequestBody => 400,
            Self::FailedToAuth => 401,
            Self::TaskNotFound | Self::NotFound => 404,
            Self::RequestTooLarge => 413,
            Self::RateLimitExceeded => 429,
            Self::ServiceNotAvailable => 503,
            Self::InternalError => 500,
        }
    }

    /// The `reason` string of the envelope.
    pub fn reason(self) -> &'static str {
        match self {
            Self::InvalidRequestBody => "INVALID_REQUEST_BODY",
            Self::FailedToAuth => "FAILED_TO_AUTH",
            Self::TaskNotFound => "TASK_NOT_FOUND",
            Self::NotFound => "NOT_FOUND",
            Self::RequestTooLarge => "REQUEST_TOO_LARGE",
            Self::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            Self::ServiceNotAvailable => "SERVICE_NOT_AVAILABLE",
            Self::InternalError => "INTERNAL_ERROR",
        }
    }
}

/// A validation failure: which field (a path like `subjects[1].images[0]`) and which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// The JSON path of the offending field; empty for the body as a whole.
    pub field: String,
    /// A sentence naming the field and the rule it broke.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error as the client will see it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}: {message}", reason = code.reason())]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub metadata: Map<String, Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            metadata: Map::new(),
        }
    }

    /// Adds one `metadata` entry.
    pub fn with_meta(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.to_string(), value.into());
        self
    }

    /// The envelope body.
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            code: self.code.status(),
            reason: self.code.reason(),
            message: self.message.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::new(ErrorCode::InvalidRequestBody, e.message).with_meta("field", e.field)
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    /// The HTTP status.
    pub code: u16,
    /// A stable reason code, e.g. `INVALID_REQUEST_BODY`.
    pub reason: &'static str,
    /// A sentence naming the field and the rule.
    pub message: String,
    /// `field`: the JSON path of the offending field, when there is one.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}
