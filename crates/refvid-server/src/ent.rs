//! Vidu's own API dialect on the same core: `POST /ent/v2/reference2video`,
//! `GET /ent/v2/tasks/{id}/creations`, `POST /ent/v2/tasks/{id}/cancel`, with
//! `Authorization: Token <key>` and the upstream error envelope
//! `{"code", "reason", "message", "metadata": {"trace_id"}}`. The request rules, the store, the
//! workers and the outputs are the v3 dialect's; `refvid_api::ent` does the translating.

use crate::{AppState, HttpError, auth, submit};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use refvid_api::ent::{self, CreationLinks};
use refvid_api::{ErrorCode, TaskSpec, TaskStatus};
use refvid_store::{State as StoreState, TaskRecord};
use serde_json::{Value, json};

/// An error in the upstream envelope; `trace_id` is the request id.
pub struct EntError {
    error: HttpError,
    trace_id: String,
}

impl IntoResponse for EntError {
    fn into_response(self) -> Response {
        let api = &self.error.0;
        let (status, reason) = ent::error_reason(api.code, &api.message);
        let mut metadata = api.metadata.clone();
        metadata.insert("trace_id".into(), json!(self.trace_id));
        let body = refvid_api::responses::EntError {
            code: status,
            reason,
            message: api.message.clone(),
            metadata,
        };
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self
            .error
            .1
            .or((status == StatusCode::TOO_MANY_REQUESTS).then_some(1))
        {
            response
                .headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("digits"));
        }
        response
    }
}

fn trace_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Runs a handler body, turning its error into the upstream envelope.
async fn in_dialect<F>(headers: &HeaderMap, work: F) -> Result<Json<Value>, EntError>
where
    F: std::future::Future<Output = Result<Value, HttpError>>,
{
    work.await.map(Json).map_err(|error| EntError {
        error,
        trace_id: trace_id(headers),
    })
}

/// `POST /ent/v2/reference2video`.
#[utoipa::path(
    post,
    path = "/ent/v2/reference2video",
    tag = "ent",
    request_body = refvid_api::request::Reference2VideoRequest,
    security(("token" = [])),
    responses(
        (status = 200, description = "The task is stored and queued", body = refvid_api::ent::Reference2VideoCreated),
        refvid_api::responses::EntCommonErrors,
        (status = 413, description = "The body is larger than 20 MiB", body = refvid_api::responses::EntError),
    )
)]
pub async fn reference2video(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, EntError> {
    in_dialect(&headers, async {
        let key = auth::authenticate(&state, &headers).await?;
        submit::check_content_type(&headers)?;
        let body = body.map_err(submit::body_rejection)?;
        let spec = ent::parse_reference2video(&body)?;
        let task = submit::accept(&state, &key.id, &spec).await?;
        Ok(ent::created_document(
            &task.id,
            &spec,
            task.seed,
            &rfc3339(task.submit_ms),
        ))
    })
    .await
}

/// `GET /ent/v2/tasks/{id}/creations`.
#[utoipa::path(
    get,
    path = "/ent/v2/tasks/{id}/creations",
    tag = "ent",
    params(("id" = String, Path, description = "The task id")),
    security(("token" = [])),
    responses(
        (status = 200, description = "The task and its outputs", body = refvid_api::ent::Creations),
        refvid_api::responses::EntCommonErrors,
        (status = 404, description = "`TaskNotFound`", body = refvid_api::responses::EntError),
    )
)]
pub async fn creations(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, EntError> {
    in_dialect(&headers, async {
        let key = auth::authenticate(&state, &headers).await?;
        let record = state
            .store
            .get(&id)
            .await?
            .filter(|r| r.key_id == key.id)
            .ok_or_else(HttpError::task_not_found)?;
        document(&state, &record).await
    })
    .await
}

/// `POST /ent/v2/tasks/{id}/cancel`: `{}` once the task is cancelled; a 400 naming its state
/// when it had already ended otherwise.
#[utoipa::path(
    post,
    path = "/ent/v2/tasks/{id}/cancel",
    tag = "ent",
    params(("id" = String, Path, description = "The task id")),
    security(("token" = [])),
    responses(
        (status = 200, description = "Cancelled", body = refvid_api::responses::Empty),
        refvid_api::responses::EntCommonErrors,
        (status = 404, description = "`TaskNotFound`", body = refvid_api::responses::EntError),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, EntError> {
    in_dialect(&headers, async {
        let key = auth::authenticate(&state, &headers).await?;
        let record = state
            .store
            .cancel(&id, &key.id, crate::now_ms())
            .await?
            .ok_or_else(HttpError::task_not_found)?;
        if record.state == StoreState::Failed && record.reason == "cancelled" {
            return Ok(json!(refvid_api::responses::Empty {}));
        }
        let status = refvid_store::status_of(record.state);
        Err(HttpError::field(
            "id",
            format!("task state is {}, can not cancel", ent::state_of(status)),
        ))
    })
    .await
}

/// The creations document of a stored task.
async fn document(state: &AppState, record: &TaskRecord) -> Result<Value, HttpError> {
    let spec = stored_spec(state, &record.id).await?;
    let links = links_of(state, record).await?;
    let status: TaskStatus = refvid_store::status_of(record.state);
    Ok(ent::creations_document(
        &record.id,
        status,
        &record.reason,
        &spec,
        links,
    ))
}

async fn stored_spec(state: &AppState, id: &str) -> Result<TaskSpec, HttpError> {
    let json = state
        .store
        .get_spec(id)
        .await?
        .ok_or_else(HttpError::task_not_found)?;
    serde_json::from_str(&json).map_err(|e| {
        tracing::error!(task_id = %id, error = %e, "a stored request could not be read");
        HttpError::new(ErrorCode::InternalError, "the task could not be read")
    })
}

/// Signed links to a finished task's video and cover.
async fn links_of(
    state: &AppState,
    record: &TaskRecord,
) -> Result<Option<CreationLinks>, HttpError> {
    let (StoreState::Succeed, Some(video)) = (record.state, record.output_key.as_deref()) else {
        return Ok(None);
    };
    let ttl = state.settings.url_ttl_secs;
    let sign = |key: String| async move {
        state.blob.signed_url(&key, ttl).await.map_err(|e| {
            tracing::error!(error = %e, "signing an output URL failed");
            HttpError::new(
                ErrorCode::ServiceNotAvailable,
                "the output store is unavailable; try again shortly",
            )
        })
    };
    let url = sign(video.to_string()).await?;
    let cover_url = match record.cover_key.clone() {
        Some(key) => sign(key).await?,
        None => String::new(),
    };
    Ok(Some(CreationLinks { url, cover_url }))
}

/// Milliseconds since the epoch as RFC 3339 (UTC, microseconds, as upstream writes it).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let micros = ms.rem_euclid(1000) * 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_735_746_091_968), "2025-01-01T15:41:31.968000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000000Z");
    }
}
