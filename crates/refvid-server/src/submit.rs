//! `POST /v3/async/viduq2-pro-fast`: check, store durably, answer the task id.

use crate::{AppState, HttpError, auth, now_ms};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header::CONTENT_TYPE};
use rand::Rng;
use refvid_api::responses::SubmitAccepted;
use refvid_api::{
    ErrorCode, FieldError, ImageSource, MAX_IMAGE_BYTES, TaskSpec, data_uri, parse_submit,
};
use refvid_store::NewTask;

/// The submit handler.
#[utoipa::path(
    post,
    path = "/v3/async/viduq2-pro-fast",
    tag = "v3",
    request_body = refvid_api::request::SubmitRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The task is stored and queued", body = refvid_api::responses::SubmitAccepted),
        refvid_api::responses::V3CommonErrors,
        (status = 413, description = "The body is larger than 20 MiB", body = refvid_api::ErrorEnvelope),
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SubmitAccepted>, HttpError> {
    let key = auth::authenticate(&state, &headers).await?;
    check_content_type(&headers)?;
    let body = body.map_err(body_rejection)?;
    let spec = parse_submit(&body)?;
    let task = accept(&state, &key.id, &spec).await?;
    Ok(Json(SubmitAccepted { task_id: task.id }))
}

/// Stores a checked request of this key as a new queued task (both dialects end here): inline
/// images checked, queue and quota limits applied, an in-process worker woken.
pub async fn accept(state: &AppState, key_id: &str, spec: &TaskSpec) -> Result<NewTask, HttpError> {
    check_inline_images(spec)?;
    let seed = spec.seed.unwrap_or_else(random_seed);
    crate::voices::check_dialogue(state, spec, seed).await?;
    let task = NewTask {
        id: uuid::Uuid::new_v4().to_string(),
        key_id: key_id.to_string(),
        spec_json: serde_json::to_string(spec).expect("a TaskSpec always serialises"),
        seed,
        submit_ms: now_ms(),
        max_attempts: state.settings.max_attempts,
        webhook_url: spec.webhook.as_ref().map(|w| w.url.clone()),
        mock_status: mock_status(spec),
        max_active_for_key: Some(state.settings.max_active_per_key),
    };
    if state.store.queue_depth().await? >= state.settings.max_queue_depth {
        return Err(HttpError::new(
            ErrorCode::ServiceNotAvailable,
            "the queue is full; try again later",
        )
        .retry_after(30));
    }
    if !state.store.submit(&task).await? {
        let limit = state.settings.max_active_per_key;
        return Err(HttpError::new(
            ErrorCode::RateLimitExceeded,
            format!(
                "this API key already has {limit} tasks queued or running; submit again when one has finished"
            ),
        ));
    }
    state.metrics.task_submitted();
    state.wake.notify_waiters();
    tracing::info!(task_id = %task.id, "task accepted");
    Ok(task)
}

/// With `extra.webhook.test_mode.enabled`, the status the mock event reports.
fn mock_status(spec: &TaskSpec) -> Option<String> {
    let test = spec.webhook.as_ref()?.test_mode.as_ref()?;
    test.enabled.then(|| test.return_task_status.clone())
}

/// A seed for requests that did not give one (1 ..= 2^31-1, never 0, which means "random").
fn random_seed() -> u32 {
    rand::rng().random_range(1..=i32::MAX as u32)
}

pub fn check_content_type(headers: &HeaderMap) -> Result<(), HttpError> {
    let value = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = value.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(HttpError::field(
        "Content-Type",
        format!("Content-Type must be application/json, got {value:?}"),
    ))
}

pub fn body_rejection(rejection: BytesRejection) -> HttpError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return HttpError::new(
            ErrorCode::RequestTooLarge,
            format!(
                "request body is larger than {} MiB",
                refvid_api::MAX_BODY_BYTES >> 20
            ),
        );
    }
    HttpError::field(
        "",
        format!("request body could not be read: {}", rejection.body_text()),
    )
}

/// Inline (data URI) images are checked here, so the client hears at once; URL images are
/// fetched and checked by the worker.
fn check_inline_images(spec: &TaskSpec) -> Result<(), HttpError> {
    for (path, source) in spec.image_paths() {
        let ImageSource::DataUri(uri) = source else {
            continue;
        };
        let bytes = data_uri::decode(uri, MAX_IMAGE_BYTES)
            .map_err(|rule| FieldError::new(&path, format!("{path} data URI {rule}")))?;
        refvid_media::inspect_reference(&bytes)
            .map_err(|rule| FieldError::new(&path, format!("{path}: {rule}")))?;
    }
    Ok(())
}
