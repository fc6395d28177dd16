//! The route table and the layers around it.

use crate::{AppState, HttpError, ent, files, result_doc, submit};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use refvid_api::{ErrorCode, MAX_BODY_BYTES};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v3/async/viduq2-pro-fast", post(submit::submit))
        .route("/v3/async/task-result", get(result_doc::task_result))
        .route("/v3/async/task-cancel", post(result_doc::task_cancel))
        .route("/v3/voices", get(crate::voices::list))
        .route("/ent/v2/reference2video", post(ent::reference2video))
        .route("/ent/v2/tasks/{id}/creations", get(ent::creations))
        .route("/ent/v2/tasks/{id}/cancel", post(ent::cancel))
        .route("/files/{*key}", get(files::download))
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(crate::openapi::serve))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/", get(crate::console::index))
        .route("/console/{file}", get(crate::console::file))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(request_log())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// One log line per request with its id, method, path (never the query: it may carry a
/// signature) and status; bodies, images and keys are never logged.
fn request_log() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&Request) -> tracing::Span + Clone,
> {
    TraceLayer::new_for_http().make_span_with(|request: &Request| {
        let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
    })
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "`{\"status\": \"ready\"}`"),
    (status = 503, description = "The store is unreachable", body = refvid_api::ErrorEnvelope),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, HttpError> {
    state.store.ping().await?;
    Ok(Json(serde_json::json!({"status": "ready"})))
}

/// Prometheus / OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text exposition", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [("content-type", crate::metrics::CONTENT_TYPE)],
        state.metrics.render(state.store.as_ref()).await,
    )
}

async fn not_found() -> HttpError {
    HttpError::new(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> Response {
    let body = serde_json::json!({
        "code": 405, "reason": "METHOD_NOT_ALLOWED",
        "message": "this endpoint does not take that HTTP method", "metadata": {}
    });
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state.metrics.request_done(started.elapsed());
    response
}
