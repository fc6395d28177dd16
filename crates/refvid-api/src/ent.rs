//! Vidu's own API dialect (`/ent/v2`), mapped onto the same checked task.
//!
//! `POST /ent/v2/reference2video` takes the upstream model's fields; [`parse_reference2video`]
//! rewrites them into a v3 body (`subjects[].id` → `name`, `duration`/`seed` 0 → default/random,
//! `callback_url` → the webhook) and runs the v3 validator on it, so both dialects obey the same
//! rules. What only the dialect knows (model, `payload`, `off_peak`, `meta_data`, the callback)
//! travels with the task as [`Upstream`]. [`creations_document`] is the
//! `GET /ent/v2/tasks/{id}/creations` answer, also the body of the callback.

use crate::error::{ErrorCode, FieldError};
use crate::request::{EntSubjectIn, Field, Reference2VideoRequest, SubmitRequest};
use crate::result::TaskStatus;
use crate::spec::{TaskSpec, Upstream};
use crate::validate::{check_submit, read_body};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// The models the dialect accepts; all run on this server's one engine.
pub const MODELS: [&str; 9] = [
    "viduq2-pro-fast",
    "viduq2-pro",
    "viduq2-turbo",
    "viduq2",
    "viduq1",
    "vidu2.0",
    "viduq3",
    "viduq3-turbo",
    "viduq3-pro",
];

/// Longest `payload` (upstream: 1 048 576 characters).
pub const MAX_PAYLOAD_CHARS: usize = 1_048_576;

/// Checks a `reference2video` body; the spec carries its [`Upstream`] part.
pub fn parse_reference2video(body: &[u8]) -> Result<TaskSpec, FieldError> {
    let req: Reference2VideoRequest = read_body(body)?;
    let upstream = upstream_of(&req)?;
    let mut spec = check_submit(&to_v3(&req)?)?;
    spec.upstream = Some(upstream);
    Ok(spec)
}

fn upstream_of(req: &Reference2VideoRequest) -> Result<Upstream, FieldError> {
    let model = match &req.model {
        None => {
            return Err(FieldError::new("model", "model is required"));
        }
        Some(Value::String(m)) if MODELS.contains(&m.as_str()) => m.clone(),
        Some(other) => {
            return Err(FieldError::new(
                "model",
                format!("model must be one of {}, got {other}", MODELS.join(", ")),
            ));
        }
    };
    let payload = string_field(&req.payload, "payload")?;
    let chars = payload.chars().count();
    if chars > MAX_PAYLOAD_CHARS {
        return Err(FieldError::new(
            "payload",
            format!("payload must be at most {MAX_PAYLOAD_CHARS} characters, got {chars}"),
        ));
    }
    let off_peak = match &req.off_peak {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(FieldError::new("off_peak", "off_peak must be a boolean")),
    };
    let meta_data = string_field(&req.meta_data, "meta_data")?;
    let callback = !string_field(&req.callback_url, "callback_url")?.is_empty();
    Ok(Upstream {
        model,
        payload,
        off_peak,
        meta_data,
        callback,
    })
}

fn string_field(v: &Field, key: &str) -> Result<String, FieldError> {
    match v {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(FieldError::new(key, format!("{key} must be a string"))),
    }
}

/// The same request in the v3 dialect.
fn to_v3(req: &Reference2VideoRequest) -> Result<SubmitRequest, FieldError> {
    if let Some(subjects) = &req.subjects {
        refuse_videos(subjects)?;
    }
    // 0 means "auto" (duration) or "random" (seed) upstream: our default in both cases.
    let unless_zero = |v: &Field| v.clone().filter(|v| v.as_i64() != Some(0));
    if req.resolution.as_ref().is_some_and(|r| r == "540p") {
        return Err(FieldError::new(
            "resolution",
            "resolution must be 720p or 1080p (viduq2-pro-fast offers no 540p), got \"540p\"",
        ));
    }
    let callback = req
        .callback_url
        .as_ref()
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty());
    Ok(SubmitRequest {
        prompt: req.prompt.clone(),
        duration: unless_zero(&req.duration),
        subjects: req.subjects.clone(),
        images: req.images.clone(),
        bgm: req.bgm.clone(),
        audio: req.audio.clone(),
        watermark: req.watermark.clone(),
        seed: unless_zero(&req.seed),
        resolution: req.resolution.clone(),
        aspect_ratio: req.aspect_ratio.clone(),
        movement_amplitude: req.movement_amplitude.clone(),
        extra: callback.map(|url| json!({"webhook": {"url": url}})),
    })
}

/// Video subjects are refused; everything else about `subjects` is the v3 rules' (which read
/// `id`, the older upstream spelling, as `name`).
fn refuse_videos(subjects: &Value) -> Result<(), FieldError> {
    for (i, s) in subjects.as_array().into_iter().flatten().enumerate() {
        let Ok(subject) = serde_json::from_value::<EntSubjectIn>(s.clone()) else {
            continue; // not an object: the v3 rules say so
        };
        if subject.videos.is_some() {
            return Err(FieldError::new(
                format!("subjects[{i}].videos"),
                format!("subjects[{i}].videos: video subjects are not supported; use images"),
            ));
        }
    }
    Ok(())
}

/// The answer to `reference2video`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reference2VideoCreated {
    pub task_id: String,
    /// Always `created`.
    pub state: &'static str,
    pub model: String,
    pub prompt: String,
    /// The URLs given (data URIs shortened to `data:…`).
    pub images: Vec<String>,
    pub duration: u32,
    pub seed: u32,
    pub aspect_ratio: String,
    pub resolution: &'static str,
    pub bgm: bool,
    pub audio: bool,
    pub movement_amplitude: &'static str,
    pub payload: String,
    pub off_peak: bool,
    /// Always 0.
    pub credits: u32,
    pub watermark: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// `GET /ent/v2/tasks/{id}/creations` (also the `callback_url` body).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Creations {
    pub id: String,
    /// `queueing`, `processing`, `success` or `failed`.
    pub state: &'static str,
    /// Empty unless failed: `UserCancelled`, `ImageDownloadFailure`, `InternalServiceFailure`.
    pub err_code: &'static str,
    pub credits: u32,
    pub payload: String,
    pub bgm: bool,
    pub off_peak: bool,
    pub creations: Vec<Creation>,
}

/// A finished task's output.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Creation {
    pub id: String,
    /// Signed, expiring link to the MP4.
    pub url: String,
    /// Signed, expiring link to the JPEG cover.
    pub cover_url: String,
    /// Always empty: with `watermark: true` the video itself carries the mark.
    pub watermarked_url: String,
}

/// The upstream `state` of a task.
pub fn state_of(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Queued => "queueing",
        TaskStatus::Processing => "processing",
        TaskStatus::Succeed => "success",
        TaskStatus::Failed => "failed",
    }
}

/// The upstream `err_code` of a failed task (empty otherwise).
pub fn err_code_of(status: TaskStatus, reason: &str) -> &'static str {
    match status {
        TaskStatus::Failed if reason == "cancelled" => "UserCancelled",
        TaskStatus::Failed if reason.contains("image") || reason.contains("download") => {
            "ImageDownloadFailure"
        }
        TaskStatus::Failed => "InternalServiceFailure",
        _ => "",
    }
}

/// A finished task's output links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreationLinks {
    pub url: String,
    pub cover_url: String,
}

/// The task as `GET /ent/v2/tasks/{id}/creations` shows it (and as its callback sends it).
pub fn creations_document(
    task_id: &str,
    status: TaskStatus,
    reason: &str,
    spec: &TaskSpec,
    links: Option<CreationLinks>,
) -> Value {
    let upstream = spec.upstream.clone().unwrap_or_default();
    let creations = links
        .into_iter()
        .map(|l| Creation {
            id: format!("{task_id}-0"),
            url: l.url,
            cover_url: l.cover_url,
            watermarked_url: String::new(),
        })
        .collect();
    to_json(Creations {
        id: task_id.to_string(),
        state: state_of(status),
        err_code: err_code_of(status, reason),
        credits: 0,
        payload: upstream.payload,
        bgm: spec.bgm,
        off_peak: upstream.off_peak,
        creations,
    })
}

/// The answer to `POST /ent/v2/reference2video`.
pub fn created_document(task_id: &str, spec: &TaskSpec, seed: u32, created_at: &str) -> Value {
    let upstream = spec.upstream.clone().unwrap_or_default();
    let images = spec
        .subjects
        .iter()
        .flat_map(|s| &s.images)
        .map(|i| match i {
            crate::spec::ImageSource::Url(u) => u.clone(),
            crate::spec::ImageSource::DataUri(_) => "data:…".to_string(),
        })
        .collect();
    to_json(Reference2VideoCreated {
        task_id: task_id.to_string(),
        state: "created",
        model: upstream.model,
        prompt: spec.prompt.clone(),
        images,
        duration: spec.duration_secs,
        seed,
        aspect_ratio: format!("{}:{}", spec.aspect_ratio.w, spec.aspect_ratio.h),
        resolution: spec.resolution.as_str(),
        bgm: spec.bgm,
        audio: spec.audio,
        movement_amplitude: movement_name(spec.movement),
        payload: upstream.payload,
        off_peak: upstream.off_peak,
        credits: 0,
        watermark: spec.watermark,
        created_at: created_at.to_string(),
    })
}

fn to_json(document: impl Serialize) -> Value {
    serde_json::to_value(document).expect("documents serialise")
}

fn movement_name(m: crate::spec::Movement) -> &'static str {
    match m {
        crate::spec::Movement::Auto => "auto",
        crate::spec::Movement::Small => "small",
        crate::spec::Movement::Medium => "medium",
        crate::spec::Movement::High => "large",
    }
}

/// The upstream `reason` and HTTP status for one of our error codes.
pub fn error_reason(code: ErrorCode, message: &str) -> (u16, &'static str) {
    match code {
        ErrorCode::InvalidRequestBody if message.contains("is required") => (400, "FieldLacking"),
        ErrorCode::InvalidRequestBody => (400, "FieldInvalid"),
        ErrorCode::FailedToAuth => (401, "Unauthorized"),
        ErrorCode::TaskNotFound => (404, "TaskNotFound"),
        ErrorCode::NotFound => (404, "NotFound"),
        ErrorCode::RequestTooLarge => (413, "BadRequest"),
        ErrorCode::RateLimitExceeded if message.contains("tasks queued or running") => {
            (429, "QuotaExceeded")
        }
        ErrorCode::RateLimitExceeded => (429, "TooManyRequests"),
        ErrorCode::ServiceNotAvailable => (429, "SystemThrottling"),
        ErrorCode::InternalError => (500, "InternalServiceFailure"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    const IMG: &str = "https://example.com/cat.png";

    #[test]
    fn upstream_fields_map_onto_the_task() {
        let spec = parse_reference2video(&body(json!({
            "model": "viduq2-pro", "prompt": "@cat runs", "duration": 0, "seed": 0,
            "subjects": [{"id": "cat", "images": [IMG], "voice_id": ""}],
            "movement_amplitude": "large", "payload": "p-1", "off_peak": true,
            "callback_url": "https://example.com/hook", "audio_type": "all", "wm_position": 2
        })))
        .unwrap();
        assert_eq!(spec.subjects[0].name, "cat");
        assert_eq!(spec.duration_secs, 5);
        assert_eq!(spec.seed, None);
        assert_eq!(spec.movement, crate::spec::Movement::High);
        assert_eq!(
            spec.webhook.as_ref().unwrap().url,
            "https://example.com/hook"
        );
        let up = spec.upstream.unwrap();
        assert_eq!(
            (
                up.model.as_str(),
                up.payload.as_str(),
                up.off_peak,
                up.callback
            ),
            ("viduq2-pro", "p-1", true, true)
        );
    }

    #[test]
    fn dialect_rules_name_their_fields() {
        let cases = [
            (
                json!({"prompt": "x", "images": [IMG]}),
                "model",
                "FieldLacking",
            ),
            (
                json!({"model": "sora", "prompt": "x", "images": [IMG]}),
                "model",
                "FieldInvalid",
            ),
            (
                json!({"model": "viduq2", "prompt": "x", "images": [IMG], "resolution": "540p"}),
                "resolution",
                "FieldInvalid",
            ),
            (
                json!({"model": "viduq2", "prompt": "x", "payload": 5, "images": [IMG]}),
                "payload",
                "FieldInvalid",
            ),
            (
                json!({"model": "viduq2", "prompt": "@a x", "subjects": [{"name": "a", "videos": ["https://e.com/v.mp4"]}]}),
                "subjects[0].videos",
                "FieldInvalid",
            ),
            (
                json!({"model": "viduq2", "images": [IMG]}),
                "prompt",
                "FieldLacking",
            ),
            (
                json!({"model": "viduq2", "prompt": "x", "images": [IMG], "duration": 11}),
                "duration",
                "FieldInvalid",
            ),
        ];
        for (b, field, reason) in cases {
            let err = parse_reference2video(&body(b.clone())).unwrap_err();
            assert_eq!(err.field, field, "{b}");
            assert_eq!(
                error_reason(ErrorCode::InvalidRequestBody, &err.message).1,
                reason,
                "{b}: {}",
                err.message
            );
        }
    }

    #[test]
    fn creations_show_the_upstream_states() {
        let spec = parse_reference2video(&body(
            json!({"model": "viduq2", "prompt": "x", "images": [IMG], "payload": "abc"}),
        ))
        .unwrap();
        let links = CreationLinks {
            url: "u".into(),
            cover_url: "c".into(),
        };
        let doc = creations_document("t1", TaskStatus::Succeed, "", &spec, Some(links));
        assert_eq!(doc["state"], "success");
        assert_eq!(doc["payload"], "abc");
        assert_eq!(doc["creations"][0]["url"], "u");
        assert_eq!(doc["creations"][0]["cover_url"], "c");
        let failed = creations_document("t1", TaskStatus::Failed, "cancelled", &spec, None);
        assert_eq!(
            (failed["state"].as_str(), failed["err_code"].as_str()),
            (Some("failed"), Some("UserCancelled"))
        );
        assert_eq!(failed["creations"], json!([]));
        assert_eq!(state_of(TaskStatus::Queued), "queueing");
    }
}
