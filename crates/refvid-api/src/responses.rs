//! Small answer bodies the handlers build ([`SubmitAccepted`], [`Empty`], Vidu's error envelope
//! [`EntError`]), and the error responses handlers share for the OpenAPI document: one set per
//! dialect, so a table of statuses is written once.

use crate::ErrorEnvelope;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{IntoResponses, ToSchema};

/// The answer to a submit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubmitAccepted {
    pub task_id: String,
}

/// `{}`: the cancel went through.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Empty {}

/// Vidu's error envelope.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntError {
    pub code: u16,
    /// e.g. `FieldInvalid`, `FieldLacking`, `Unauthorized`, `TaskNotFound`.
    pub reason: &'static str,
    pub message: String,
    /// `trace_id` (the request id) and, for field errors, `field`.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

/// The error responses every v3 endpoint can give, in the hosted service's envelope.
#[derive(IntoResponses)]
pub enum V3CommonErrors {
    #[response(
        status = 400,
        description = "A field breaks a rule (`metadata.field` names it)"
    )]
    Invalid(ErrorEnvelope),
    #[response(status = 401, description = "Missing or unknown API key")]
    Unauthorized(ErrorEnvelope),
    #[response(
        status = 429,
        description = "Too many requests, or too many active tasks for the key"
    )]
    Throttled(ErrorEnvelope),
    #[response(
        status = 503,
        description = "The store is briefly unavailable or the queue is full"
    )]
    Unavailable(ErrorEnvelope),
}

/// The error responses every `/ent/v2` endpoint can give, in Vidu's envelope.
#[derive(IntoResponses)]
pub enum EntCommonErrors {
    #[response(
        status = 400,
        description = "`FieldInvalid` / `FieldLacking` naming the field"
    )]
    Invalid(EntError),
    #[response(status = 401, description = "`Unauthorized`")]
    Unauthorized(EntError),
    #[response(
        status = 429,
        description = "`TooManyRequests`, `QuotaExceeded` or `SystemThrottling`"
    )]
    Throttled(EntError),
}
