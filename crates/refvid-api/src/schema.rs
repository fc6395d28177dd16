//! The request and answer bodies as OpenAPI schemas (`utoipa`), for `/openapi.json`.
//!
//! The server reads requests with its own validator ([`crate::parse_submit`],
//! [`crate::ent::parse_reference2video`]) so that every rule gets a sentence of its own; these
//! types describe the same bodies for clients and tools. Answers that are built as structs
//! ([`crate::TaskResultDoc`], [`crate::ErrorEnvelope`]) carry their own schemas.
#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// `POST /v3/async/viduq2-pro-fast`: exactly one of `subjects` and `images`.
#[derive(Serialize, ToSchema)]
pub struct SubmitRequest {
    /// 0 to 2000 characters; `@name` (or `@1`, `@2`, …) refers to a subject.
    #[schema(max_length = 2000, example = "@cat chases @ball across the lawn")]
    pub prompt: String,
    /// Seconds, 1 to 10 (default 5).
    #[schema(minimum = 1, maximum = 10)]
    pub duration: Option<u32>,
    /// Subject mode: 1 to 7 subjects, 1 to 3 images each, at most 7 images in all.
    #[schema(min_items = 1, max_items = 7)]
    pub subjects: Option<Vec<SubjectIn>>,
    /// Non-subject mode: 1 to 7 images, referred to as `@1`, `@2`, ….
    #[schema(min_items = 1, max_items = 7)]
    pub images: Option<Vec<String>>,
    /// Background music.
    pub bgm: Option<bool>,
    /// A generated sound track.
    pub audio: Option<bool>,
    /// A visible "AI generated" mark.
    pub watermark: Option<bool>,
    /// 0 or absent: random; at most 2147483647.
    #[schema(minimum = 0, maximum = 2147483647)]
    pub seed: Option<u32>,
    /// `720p` (default) or `1080p`.
    #[schema(example = "720p")]
    pub resolution: Option<String>,
    /// `W:H` within 1:4 and 4:1 (default `16:9`).
    #[schema(example = "16:9")]
    pub aspect_ratio: Option<String>,
    /// `auto` (default), `small`, `medium`, `high` (`large` is read as `high`).
    pub movement_amplitude: Option<String>,
    pub extra: Option<ExtraIn>,
}

/// One subject of the request.
#[derive(Serialize, ToSchema)]
pub struct SubjectIn {
    /// 1 to 64 characters of letters, digits, `_` and `-`; unique in the request.
    pub name: String,
    /// 1 to 3 images: `https://` URLs or `data:image/(png|jpeg|webp);base64,` URIs; PNG, JPEG or
    /// WebP, at least 128×128, ratio within 1:4..4:1, at most 50 MB.
    #[schema(min_items = 1, max_items = 3)]
    pub images: Vec<String>,
    /// Accepted and stored; the built-in audio has no speech.
    pub voice_id: Option<String>,
}

/// `extra`.
#[derive(Serialize, ToSchema)]
pub struct ExtraIn {
    pub webhook: Option<WebhookIn>,
}

/// `extra.webhook`: POSTed `{"event_type": "ASYNC_TASK_RESULT", "payload": <task result>}` when
/// the task ends.
#[derive(Serialize, ToSchema)]
pub struct WebhookIn {
    /// `https://` (or `http://`) URL of a public host.
    pub url: String,
    pub test_mode: Option<TestModeIn>,
}

/// `extra.webhook.test_mode`: a mock event at once instead of running the task.
#[derive(Serialize, ToSchema)]
pub struct TestModeIn {
    pub enabled: bool,
    /// `TASK_STATUS_SUCCEED` (default) or `TASK_STATUS_FAILED`.
    pub return_task_status: Option<String>,
}

/// The answer to a submit.
#[derive(Serialize, ToSchema)]
pub struct SubmitAccepted {
    pub task_id: String,
}

/// `POST /ent/v2/reference2video` (Vidu's own dialect): exactly one of `subjects` and `images`.
#[derive(Serialize, ToSchema)]
pub struct Reference2VideoRequest {
    /// `viduq2-pro-fast`, `viduq2-pro`, `viduq2-turbo`, `viduq2`, `viduq1`, `vidu2.0`, `viduq3`,
    /// `viduq3-turbo` or `viduq3-pro`.
    #[schema(example = "viduq2-pro-fast")]
    pub model: String,
    #[schema(max_length = 2000)]
    pub prompt: String,
    #[schema(min_items = 1, max_items = 7)]
    pub subjects: Option<Vec<EntSubjectIn>>,
    #[schema(min_items = 1, max_items = 7)]
    pub images: Option<Vec<String>>,
    /// 0 (the default 5) or 1 to 10.
    #[schema(minimum = 0, maximum = 10)]
    pub duration: Option<u32>,
    /// 0 or absent: random.
    #[schema(minimum = 0, maximum = 2147483647)]
    pub seed: Option<u32>,
    pub aspect_ratio: Option<String>,
    /// `720p` or `1080p`.
    pub resolution: Option<String>,
    /// `auto`, `small`, `medium` or `large`.
    pub movement_amplitude: Option<String>,
    pub bgm: Option<bool>,
    pub audio: Option<bool>,
    pub watermark: Option<bool>,
    /// Returned as given; at most 1 048 576 characters.
    pub payload: Option<String>,
    /// Accepted; no effect.
    pub off_peak: Option<bool>,
    /// Accepted; no effect.
    pub meta_data: Option<String>,
    /// Receives the creations document when the task ends.
    pub callback_url: Option<String>,
}

/// One subject in Vidu's dialect (`id` is the older spelling of `name`).
#[derive(Serialize, ToSchema)]
pub struct EntSubjectIn {
    pub name: Option<String>,
    pub id: Option<String>,
    #[schema(min_items = 1, max_items = 3)]
    pub images: Vec<String>,
    pub voice_id: Option<String>,
}

/// The answer to `reference2video`.
#[derive(Serialize, ToSchema)]
pub struct Reference2VideoCreated {
    pub task_id: String,
    /// Always `created`.
    pub state: String,
    pub model: String,
    pub prompt: String,
    /// The URLs given (data URIs shortened to `data:…`).
    pub images: Vec<String>,
    pub duration: u32,
    pub seed: u32,
    pub aspect_ratio: String,
    pub resolution: String,
    pub bgm: bool,
    pub audio: bool,
    pub movement_amplitude: String,
    pub payload: String,
    pub off_peak: bool,
    /// Always 0.
    pub credits: u32,
    pub watermark: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// `GET /ent/v2/tasks/{id}/creations` (also the `callback_url` body).
#[derive(Serialize, ToSchema)]
pub struct Creations {
    pub id: String,
    /// `queueing`, `processing`, `success` or `failed`.
    pub state: String,
    /// Empty unless failed: `UserCancelled`, `ImageDownloadFailure`, `InternalServiceFailure`.
    pub err_code: String,
    pub credits: u32,
    pub payload: String,
    pub bgm: bool,
    pub off_peak: bool,
    pub creations: Vec<Creation>,
}

/// A finished task's output.
#[derive(Serialize, ToSchema)]
pub struct Creation {
    pub id: String,
    /// Signed, expiring link to the MP4.
    pub url: String,
    /// Signed, expiring link to the JPEG cover.
    pub cover_url: String,
    /// Always empty: with `watermark: true` the video itself carries the mark.
    pub watermarked_url: String,
}

/// Vidu's error envelope.
#[derive(Serialize, ToSchema)]
pub struct EntError {
    pub code: u16,
    /// e.g. `FieldInvalid`, `FieldLacking`, `Unauthorized`, `TaskNotFound`.
    pub reason: String,
    pub message: String,
    /// `trace_id` (the request id) and, for field errors, `field`.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// `{}`: the cancel went through.
#[derive(Serialize, ToSchema)]
pub struct Empty {}
