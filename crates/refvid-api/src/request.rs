//! The request bodies of both dialects, described once.
//!
//! A body is deserialized into these types first and checked second (`validate.rs` for v3,
//! [`crate::ent`] for Vidu's dialect). Every field is read loosely, as whatever JSON value was
//! sent ([`Field`]), so that the checks can give each rule its own sentence naming the field.
//! The OpenAPI schemas are derived from the same types: the field names, which fields exist and
//! which are required come from the structs, and every limit (lengths, counts, ranges, accepted
//! values) from the constants below, which the checks use too.

use crate::MAX_IMAGE_BYTES;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

/// Longest prompt, in characters (Unicode scalar values).
pub const MAX_PROMPT_CHARS: usize = 2000;
/// Clip length in seconds: the range and the default.
pub const DURATION_SECS: (i64, i64) = (1, 10);
pub const DEFAULT_DURATION_SECS: u32 = 5;
/// Subjects in one request.
pub const MAX_SUBJECTS: usize = 7;
/// Images in one request, all subjects together (also the length of `images`).
pub const MAX_IMAGES_TOTAL: usize = 7;
/// Images of one subject.
pub const MAX_IMAGES_PER_SUBJECT: usize = 3;
/// Longest subject name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest `voice_id`, in characters.
pub const MAX_VOICE_ID_CHARS: usize = 256;
/// Longest image or webhook URL, in bytes.
pub const MAX_URL_CHARS: usize = 4096;
/// Largest seed (`0` or none: random).
pub const MAX_SEED: i64 = (1 << 31) - 1;
/// What `extra.webhook.test_mode.return_task_status` may say.
pub const TEST_MODE_STATUSES: [&str; 4] = [
    "TASK_STATUS_QUEUED",
    "TASK_STATUS_PROCESSING",
    "TASK_STATUS_SUCCEED",
    "TASK_STATUS_FAILED",
];

/// A field as it was sent: `None` when it is absent or `null` (lenient clients send `null` for
/// "absent"), otherwise any JSON value, checked by the validator.
pub type Field = Option<Value>;

/// `POST /v3/async/viduq2-pro-fast`: exactly one of `subjects` and `images`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SubmitRequest {
    #[schema(schema_with = prompt_schema, required = true)]
    pub prompt: Field,
    #[schema(schema_with = duration_schema, required = false)]
    pub duration: Field,
    #[schema(schema_with = subjects_schema, required = false)]
    pub subjects: Field,
    #[schema(schema_with = images_schema, required = false)]
    pub images: Field,
    /// Background music.
    #[schema(value_type = Option<bool>)]
    pub bgm: Field,
    /// A generated sound track.
    #[schema(value_type = Option<bool>)]
    pub audio: Field,
    /// A visible "AI generated" mark.
    #[schema(value_type = Option<bool>)]
    pub watermark: Field,
    #[schema(schema_with = seed_schema, required = false)]
    pub seed: Field,
    /// `720p` (default) or `1080p`.
    #[schema(value_type = Option<String>, examples("720p"))]
    pub resolution: Field,
    /// `W:H` within 1:4 and 4:1 (default `16:9`).
    #[schema(value_type = Option<String>, examples("16:9"))]
    pub aspect_ratio: Field,
    /// `auto` (default), `small`, `medium`, `high` (`large` is read as `high`).
    #[schema(value_type = Option<String>)]
    pub movement_amplitude: Field,
    #[schema(value_type = Option<ExtraIn>)]
    pub extra: Field,
}

/// One subject of the request.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SubjectIn {
    #[schema(schema_with = name_schema, required = false)]
    pub name: Field,
    /// The older spelling of `name`, read when `name` is absent (a number is read as its
    /// digits).
    #[schema(value_type = Option<String>)]
    pub id: Field,
    #[schema(schema_with = subject_images_schema, required = true)]
    pub images: Field,
    #[schema(schema_with = voice_id_schema, required = false)]
    pub voice_id: Field,
}

/// `extra`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ExtraIn {
    #[schema(value_type = Option<WebhookIn>)]
    pub webhook: Field,
}

/// `extra.webhook`: POSTed `{"event_type": "ASYNC_TASK_RESULT", "payload": <task result>}` when
/// the task ends.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct WebhookIn {
    #[schema(schema_with = webhook_url_schema, required = true)]
    pub url: Field,
    #[schema(value_type = Option<TestModeIn>)]
    pub test_mode: Field,
}

/// `extra.webhook.test_mode`: a mock event at once instead of running the task.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct TestModeIn {
    /// Send the mock event (default `false`).
    #[schema(value_type = Option<bool>)]
    pub enabled: Field,
    #[schema(schema_with = return_task_status_schema, required = false)]
    pub return_task_status: Field,
}

/// `POST /ent/v2/reference2video` (Vidu's own dialect): exactly one of `subjects` and `images`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct Reference2VideoRequest {
    #[schema(schema_with = model_schema, required = true)]
    pub model: Field,
    #[schema(schema_with = prompt_schema, required = true)]
    pub prompt: Field,
    #[schema(schema_with = ent_subjects_schema, required = false)]
    pub subjects: Field,
    #[schema(schema_with = images_schema, required = false)]
    pub images: Field,
    #[schema(schema_with = ent_duration_schema, required = false)]
    pub duration: Field,
    #[schema(schema_with = seed_schema, required = false)]
    pub seed: Field,
    /// `W:H` within 1:4 and 4:1 (default `16:9`).
    #[schema(value_type = Option<String>)]
    pub aspect_ratio: Field,
    /// `720p` or `1080p`.
    #[schema(value_type = Option<String>)]
    pub resolution: Field,
    /// `auto`, `small`, `medium` or `large`.
    #[schema(value_type = Option<String>)]
    pub movement_amplitude: Field,
    #[schema(value_type = Option<bool>)]
    pub bgm: Field,
    #[schema(value_type = Option<bool>)]
    pub audio: Field,
    #[schema(value_type = Option<bool>)]
    pub watermark: Field,
    #[schema(schema_with = payload_schema, required = false)]
    pub payload: Field,
    /// Accepted; no effect.
    #[schema(value_type = Option<bool>)]
    pub off_peak: Field,
    /// Accepted; no effect.
    #[schema(value_type = Option<String>)]
    pub meta_data: Field,
    /// Receives the creations document when the task ends.
    #[schema(value_type = Option<String>)]
    pub callback_url: Field,
}

/// One subject in Vidu's dialect: a v3 subject, and `videos`, which is refused.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct EntSubjectIn {
    #[serde(flatten)]
    pub subject: SubjectIn,
    /// Video subjects are not supported: a subject with videos is refused.
    #[schema(value_type = Option<Vec<String>>)]
    pub videos: Field,
}

fn nullable(t: Type) -> SchemaType {
    [t, Type::Null].into_iter().collect()
}

fn int32(t: impl Into<SchemaType>, (min, max): (i64, i64), description: String) -> Schema {
    ObjectBuilder::new()
        .schema_type(t)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
        .into()
}

fn string_list(t: impl Into<SchemaType>, max: usize, description: String) -> Schema {
    ArrayBuilder::new()
        .schema_type(t)
        .items(ObjectBuilder::new().schema_type(Type::String))
        .min_items(Some(1))
        .max_items(Some(max))
        .description(Some(description))
        .into()
}

fn list_of(component: &str, max: usize, description: &str) -> Schema {
    ArrayBuilder::new()
        .schema_type(nullable(Type::Array))
        .items(RefOr::Ref(Ref::from_schema_name(component)))
        .min_items(Some(1))
        .max_items(Some(max))
        .description(Some(description))
        .into()
}

fn prompt_schema() -> Schema {
    text(
        Type::String,
        MAX_PROMPT_CHARS,
        format!(
            "0 to {MAX_PROMPT_CHARS} characters; `@name` (or `@1`, `@2`, …) refers to a subject \
             (the rule: docs/API.md)."
        ),
    )
    .examples(["@cat chases @ball across the lawn"])
    .into()
}

fn duration_schema() -> Schema {
    let (min, max) = DURATION_SECS;
    int32(
        nullable(Type::Integer),
        DURATION_SECS,
        format!("Seconds, {min} to {max} (default {DEFAULT_DURATION_SECS})."),
    )
}

fn ent_duration_schema() -> Schema {
    let (min, max) = DURATION_SECS;
    int32(
        nullable(Type::Integer),
        (0, max),
        format!("0 (the default {DEFAULT_DURATION_SECS}) or {min} to {max}."),
    )
}

fn seed_schema() -> Schema {
    int32(
        nullable(Type::Integer),
        (0, MAX_SEED),
        format!("0 or absent: random; at most {MAX_SEED}."),
    )
}

fn subjects_schema() -> Schema {
    list_of(
        "SubjectIn",
        MAX_SUBJECTS,
        &format!(
            "Subject mode: 1 to {MAX_SUBJECTS} subjects, 1 to {MAX_IMAGES_PER_SUBJECT} images \
             each, at most {MAX_IMAGES_TOTAL} images in all."
        ),
    )
}

fn ent_subjects_schema() -> Schema {
    list_of(
        "EntSubjectIn",
        MAX_SUBJECTS,
        &format!(
            "1 to {MAX_SUBJECTS} subjects, 1 to {MAX_IMAGES_PER_SUBJECT} images each, at most \
             {MAX_IMAGES_TOTAL} images in all."
        ),
    )
}

fn images_schema() -> Schema {
    string_list(
        nullable(Type::Array),
        MAX_IMAGES_TOTAL,
        format!("Non-subject mode: 1 to {MAX_IMAGES_TOTAL} images, referred to as `@1`, `@2`, …."),
    )
}

fn subject_images_schema() -> Schema {
    string_list(
        Type::Array,
        MAX_IMAGES_PER_SUBJECT,
        format!(
            "1 to {MAX_IMAGES_PER_SUBJECT} images: `https://` URLs (at most {MAX_URL_CHARS} \
             characters) or `data:image/(png|jpeg|webp);base64,` URIs; PNG, JPEG or WebP, at \
             least 128×128, ratio within 1:4..4:1, at most {} MiB.",
            MAX_IMAGE_BYTES / (1024 * 1024)
        ),
    )
}

fn name_schema() -> Schema {
    text(
        nullable(Type::String),
        MAX_NAME_CHARS,
        format!(
            "1 to {MAX_NAME_CHARS} characters (spaces around it are trimmed), required unless \
             `id` is given; unique in the request, compared case-insensitively; `@name` in the \
             prompt refers to it."
        ),
    )
    .min_length(Some(1))
    .into()
}

fn voice_id_schema() -> Schema {
    text(
        nullable(Type::String),
        MAX_VOICE_ID_CHARS,
        "The voice this subject speaks its lines in (`GET /v3/voices`); an unknown id speaks \
         with the default voice, and `debug_info.request_info` says so."
            .into(),
    )
    .into()
}

fn webhook_url_schema() -> Schema {
    text(
        Type::String,
        MAX_URL_CHARS,
        "`https://` (or `http://`) URL of a public host.".into(),
    )
    .into()
}

fn return_task_status_schema() -> Schema {
    let values = TEST_MODE_STATUSES.iter().copied().map(Value::from);
    one_of(
        nullable(Type::String),
        values.chain([Value::Null]),
        "The status the mock event reports (default `TASK_STATUS_SUCCEED`).",
    )
    .into()
}

fn model_schema() -> Schema {
    one_of(
        Type::String,
        crate::ent::MODELS.map(Value::from),
        "The Vidu model; all of them run on this server's one engine.",
    )
    .examples(["viduq2-pro-fast"])
    .into()
}

fn payload_schema() -> Schema {
    let max = crate::ent::MAX_PAYLOAD_CHARS;
    text(
        nullable(Type::String),
        max,
        format!("Returned as given; at most {max} characters."),
    )
    .into()
}

/// A string of at most `max` characters.
fn text(t: impl Into<SchemaType>, max: usize, description: String) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(t)
        .max_length(Some(max))
        .description(Some(description))
}

/// One of a list of values.
fn one_of(
    t: impl Into<SchemaType>,
    values: impl IntoIterator<Item = Value>,
    description: &str,
) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(t)
        .enum_values(Some(values))
        .description(Some(description))
}
