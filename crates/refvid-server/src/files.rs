//! `GET /files/<key>?expires=&sig=`: downloads of local-disk outputs through signed URLs.
//!
//! No API key is needed: the signature is the permission. Range requests are served, so
//! browsers can seek in the video.

use crate::{AppState, HttpError};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use refvid_api::ErrorCode;
use refvid_blob::SignatureError;
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// The query of a signed link; anything unreadable counts as "no signature".
#[derive(Debug, Deserialize)]
pub struct Signed {
    expires: Option<String>,
    sig: Option<String>,
}

fn forbidden(reason: &'static str, message: &str) -> Response {
    let body =
        serde_json::json!({"code": 403, "reason": reason, "message": message, "metadata": {}});
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

/// The download handler.
#[utoipa::path(
    get,
    path = "/files/{key}",
    tag = "files",
    params(
        ("key" = String, Path, description = "The output's key, e.g. `videos/<task>.mp4`"),
        ("expires" = i64, Query, description = "Expiry, Unix seconds"),
        ("sig" = String, Query, description = "HMAC-SHA256 signature of the key and expiry"),
    ),
    responses(
        (status = 200, description = "The file (`video/mp4` or `image/jpeg`; ranges supported)"),
        (status = 403, description = "`URL_EXPIRED` or `URL_SIGNATURE_INVALID`", body = refvid_api::ErrorEnvelope),
        (status = 404, description = "No such file", body = refvid_api::ErrorEnvelope),
    )
)]
pub async fn download(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(signed): Query<Signed>,
    request: Request<Body>,
) -> Response {
    let Some(files) = state.local_files.as_ref() else {
        return HttpError::new(ErrorCode::TaskNotFound, "no such file").into_response();
    };
    let expires = signed
        .expires
        .as_deref()
        .and_then(|e| e.parse::<u64>().ok());
    let (Some(expires), Some(sig)) = (expires, signed.sig.as_deref()) else {
        return forbidden("URL_SIGNATURE_INVALID", "the link is missing its signature");
    };
    let now = (crate::now_ms() / 1000) as u64;
    match files.signer.verify(&key, expires, sig, now) {
        Err(SignatureError::Expired) => {
            return forbidden(
                "URL_EXPIRED",
                "the link has expired; ask task-result for a fresh one",
            );
        }
        Err(SignatureError::Invalid) => {
            return forbidden("URL_SIGNATURE_INVALID", "the link's signature is not valid");
        }
        Ok(()) => {}
    }
    serve(files.root.join(&key), request).await
}

async fn serve(path: std::path::PathBuf, request: Request<Body>) -> Response {
    let mime = if path.extension().is_some_and(|e| e == "jpg") {
        "image/jpeg"
    } else {
        "video/mp4"
    };
    let service = ServeFile::new_with_mime(&path, &mime.parse().expect("a valid mime"));
    match service.oneshot(request).await {
        Ok(response) if response.status() == StatusCode::NOT_FOUND => {
            HttpError::new(ErrorCode::TaskNotFound, "the file no longer exists").into_response()
        }
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}
