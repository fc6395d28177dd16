//! `GET /v3/async/task-result` and our `POST /v3/async/task-cancel`: a stored task as the
//! contract's document (the cancel answers the document as it is afterwards).

use crate::{AppState, HttpError, auth};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use refvid_api::TaskResultDoc;
use refvid_api::result::VideoOut;
use refvid_store::{State as StoreState, TaskRecord, result_document};
use std::collections::HashMap;

/// The task-result handler.
#[utoipa::path(
    get,
    path = "/v3/async/task-result",
    tag = "v3",
    params(("task_id" = String, Query, description = "The id a submit answered")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The task's state and outputs", body = refvid_api::TaskResultDoc),
        refvid_api::responses::V3CommonErrors,
        (status = 404, description = "No such task for this key", body = refvid_api::ErrorEnvelope),
    )
)]
pub async fn task_result(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<TaskResultDoc>, HttpError> {
    let key = auth::authenticate(&state, &headers).await?;
    let record = state.store.get(task_id(&query)?).await?;
    let record = record
        .filter(|r| r.key_id == key.id)
        .ok_or_else(HttpError::task_not_found)?;
    let videos = videos_of(&state, &record).await?;
    Ok(Json(result_document(&record, videos)))
}

/// `POST /v3/async/task-cancel?task_id=` (ours): ends a queued or running task as FAILED with
/// reason `cancelled` and answers its result document; an ended task is left as it is.
#[utoipa::path(
    post,
    path = "/v3/async/task-cancel",
    tag = "v3",
    params(("task_id" = String, Query, description = "The task to cancel")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The task as it is now (FAILED, reason `cancelled`, unless it had ended)", body = refvid_api::TaskResultDoc),
        refvid_api::responses::V3CommonErrors,
        (status = 404, description = "No such task for this key", body = refvid_api::ErrorEnvelope),
    )
)]
pub async fn task_cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<TaskResultDoc>, HttpError> {
    let key = auth::authenticate(&state, &headers).await?;
    let record = state
        .store
        .cancel(task_id(&query)?, &key.id, crate::now_ms())
        .await?;
    let record = record.ok_or_else(HttpError::task_not_found)?;
    let videos = videos_of(&state, &record).await?;
    Ok(Json(result_document(&record, videos)))
}

fn task_id(query: &HashMap<String, String>) -> Result<&str, HttpError> {
    query
        .get("task_id")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| HttpError::field("task_id", "task_id is required as a query parameter"))
}

async fn videos_of(state: &AppState, record: &TaskRecord) -> Result<Vec<VideoOut>, HttpError> {
    let (StoreState::Succeed, Some(key)) = (record.state, record.output_key.as_deref()) else {
        return Ok(Vec::new());
    };
    let ttl = state.settings.url_ttl_secs;
    let url = state.blob.signed_url(key, ttl).await.map_err(|e| {
        tracing::error!(error = %e, "signing an output URL failed");
        HttpError::new(
            refvid_api::ErrorCode::ServiceNotAvailable,
            "the output store is unavailable; try again shortly",
        )
    })?;
    Ok(vec![VideoOut {
        video_url: url,
        video_url_ttl: ttl.to_string(),
        video_type: "mp4".into(),
    }])
}
