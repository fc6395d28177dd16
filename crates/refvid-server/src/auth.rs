//! `Authorization: Bearer <key>` (or `Token <key>`, the `/ent/v2` spelling) to the key's record.

use crate::{AppState, HttpError};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use refvid_api::ErrorCode;
use refvid_store::KeyRecord;

/// The caller's key, or 401; 429 when the key is over its request rate.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<KeyRecord, HttpError> {
    let key = bearer(headers).ok_or_else(HttpError::unauthorized)?;
    let record = state
        .store
        .find_key(&state.key_hasher.digest(key))
        .await?
        .ok_or_else(HttpError::unauthorized)?;
    if let Err(wait) = state.limiter.check(&record.id, std::time::Instant::now()) {
        let message = format!("too many requests for this API key; retry in {wait} s");
        return Err(HttpError::new(ErrorCode::RateLimitExceeded, message).retry_after(wait));
    }
    Ok(record)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    // `Bearer` (the v3 dialect) or `Token` (Vidu's own `/ent/v2` dialect): the same keys.
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    (known && !key.is_empty()).then_some(key)
}
