//! The error responses handlers share, for the OpenAPI document: one set per dialect, so a
//! table of statuses is written once.

use crate::ErrorEnvelope;
use crate::schema::EntError;
use utoipa::IntoResponses;

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
