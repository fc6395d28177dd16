//! `GET /v3/voices` and the dialogue check at submit, through the [`Speech`] seam: the server
//! never runs a voice model itself (the `refvid` crate plugs in one that does).

use crate::{AppState, HttpError, auth};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use refvid_api::TaskSpec;
use refvid_api::voices::VoiceList;

/// Why a request's dialogue cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeechRefusal {
    /// The client's fault (e.g. the lines take longer than the clip): 400, the sentence says why.
    Request(String),
    /// This server cannot speak (no speech runtime): 503.
    Unavailable(String),
}

/// What the API server knows about speech.
pub trait Speech: Send + Sync {
    /// The voices `voice_id` may name.
    fn voices(&self) -> VoiceList;
    /// Whether the dialogue of `spec` (run with `seed`) can be spoken in its clip; may take tens
    /// of milliseconds (it times the lines with the voices), so it is called off the runtime.
    fn check(&self, spec: &TaskSpec, seed: u32) -> Result<(), SpeechRefusal>;
}

/// A server without speech: no voices; dialogue is refused.
pub struct NoSpeech;

const NO_SPEECH: &str = "this server has no speech runtime configured";

impl Speech for NoSpeech {
    fn voices(&self) -> VoiceList {
        VoiceList {
            voices: Vec::new(),
            unavailable: Some(NO_SPEECH.into()),
        }
    }

    fn check(&self, _spec: &TaskSpec, _seed: u32) -> Result<(), SpeechRefusal> {
        Err(SpeechRefusal::Unavailable(NO_SPEECH.into()))
    }
}

/// The voices a subject's `voice_id` may name (refvid's own endpoint; the hosted service's
/// voice ids are not among them and speak with the default voice).
#[utoipa::path(
    get,
    path = "/v3/voices",
    tag = "v3",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The installed voices (empty, with `unavailable` saying why, when this server cannot speak)", body = VoiceList),
        refvid_api::responses::V3CommonErrors,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<VoiceList>, HttpError> {
    auth::authenticate(&state, &headers).await?;
    Ok(Json(state.speech.voices()))
}

/// Refuses, before anything is stored, dialogue that cannot be spoken in the clip.
pub async fn check_dialogue(state: &AppState, spec: &TaskSpec, seed: u32) -> Result<(), HttpError> {
    if spec.spoken_lines().is_empty() {
        return Ok(());
    }
    let speech = state.speech.clone();
    let owned = spec.clone();
    let checked = tokio::task::spawn_blocking(move || speech.check(&owned, seed))
        .await
        .map_err(|_| {
            HttpError::new(
                refvid_api::ErrorCode::InternalError,
                "timing the dialogue failed",
            )
        })?;
    match checked {
        Ok(()) => Ok(()),
        Err(SpeechRefusal::Request(why)) => Err(HttpError::field("prompt", why)),
        Err(SpeechRefusal::Unavailable(why)) => Err(HttpError::new(
            refvid_api::ErrorCode::ServiceNotAvailable,
            format!("the prompt has spoken lines and audio is on, but {why}"),
        )),
    }
}
