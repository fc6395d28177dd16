//! Submit body (JSON) to [`TaskSpec`], rule by rule, naming the field of the first failure.
//!
//! The body is deserialized into [`SubmitRequest`] (every field as the JSON value sent, `null`
//! read as absent, unknown fields ignored) and each field is then checked by hand, so that every
//! error can say which field broke which rule. The limits are the constants of
//! [`crate::request`], which the OpenAPI schemas of the same types show.

use crate::error::FieldError;
use crate::geometry::{AspectRatio, Resolution};
use crate::request::{
    DEFAULT_DURATION_SECS, DURATION_SECS, ExtraIn, Field, MAX_IMAGES_PER_SUBJECT, MAX_IMAGES_TOTAL,
    MAX_NAME_CHARS, MAX_PROMPT_CHARS, MAX_SEED, MAX_SUBJECTS, MAX_URL_CHARS, MAX_VOICE_ID_CHARS,
    SubjectIn, SubmitRequest, TEST_MODE_STATUSES, TestModeIn, WebhookIn,
};
use crate::spec::{ImageSource, Movement, SubjectSpec, TaskSpec, TestMode, WebhookSpec};
use crate::{MAX_IMAGE_BYTES, data_uri};
use serde::de::DeserializeOwned;
use serde_json::Value;

type Result<T> = std::result::Result<T, FieldError>;

/// Parses and checks a submit body. Images given as data URIs are base64-decoded here; checks
/// that need the pixels (format, size, ratio) are the caller's.
pub fn parse_submit(body: &[u8]) -> Result<TaskSpec> {
    check_submit(&read_body(body)?)
}

/// A JSON object body as the request type `T`.
pub(crate) fn read_body<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| FieldError::new("", format!("request body is not valid JSON: {e}")))?;
    object_as(value, "", "request body")
}

/// A JSON object as the request type `T` (any object is one: its fields are loose).
fn object_as<T: DeserializeOwned>(value: Value, field: &str, what: &str) -> Result<T> {
    if !value.is_object() {
        return Err(match field {
            "" => FieldError::new("", format!("{what} must be a JSON object")),
            _ => wrong_type(field, "an object", &value),
        });
    }
    serde_json::from_value(value).map_err(|e| FieldError::new(field, format!("{what}: {e}")))
}

/// Checks a submit request (also the v3 form of Vidu's dialect).
pub(crate) fn check_submit(req: &SubmitRequest) -> Result<TaskSpec> {
    let (subjects, subject_mode) = subjects_or_images(req)?;
    let spec = TaskSpec {
        prompt: prompt(req.prompt.as_ref(), &subjects)?,
        duration_secs: opt_int(&req.duration, "duration", DURATION_SECS)?
            .map_or(DEFAULT_DURATION_SECS, |d| d as u32),
        subjects,
        subject_mode,
        bgm: opt_bool(&req.bgm, "bgm")?.unwrap_or(false),
        audio: opt_bool(&req.audio, "audio")?.unwrap_or(false),
        watermark: opt_bool(&req.watermark, "watermark")?.unwrap_or(false),
        seed: opt_int(&req.seed, "seed", (0, MAX_SEED))?
            .filter(|s| *s != 0)
            .map(|s| s as u32),
        resolution: resolution(&req.resolution)?,
        aspect_ratio: aspect_ratio(&req.aspect_ratio)?,
        movement: movement(&req.movement_amplitude)?,
        webhook: webhook(&req.extra)?,
        upstream: None,
    };
    Ok(spec)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, want: &str, got: &Value) -> FieldError {
    FieldError::new(
        field,
        format!("{field} must be {want}, got {}", type_name(got)),
    )
}

fn opt_bool(v: &Field, field: &str) -> Result<Option<bool>> {
    v.as_ref()
        .map(|v| v.as_bool().ok_or_else(|| wrong_type(field, "a boolean", v)))
        .transpose()
}

fn opt_int(v: &Field, field: &str, (min, max): (i64, i64)) -> Result<Option<i64>> {
    let Some(v) = v else {
        return Ok(None);
    };
    let n = v.as_i64().ok_or_else(|| match v {
        Value::Number(_) => {
            FieldError::new(field, format!("{field} must be a whole number, got {v}"))
        }
        _ => wrong_type(field, "an integer", v),
    })?;
    if n < min || n > max {
        return Err(FieldError::new(
            field,
            format!("{field} must be between {min} and {max}, got {n}"),
        ));
    }
    Ok(Some(n))
}

fn opt_str<'a>(v: &'a Field, field: &str) -> Result<Option<&'a str>> {
    v.as_ref()
        .map(|v| v.as_str().ok_or_else(|| wrong_type(field, "a string", v)))
        .transpose()
}

fn prompt(v: Option<&Value>, subjects: &[SubjectSpec]) -> Result<String> {
    let text = v
        .map(|v| {
            v.as_str()
                .ok_or_else(|| wrong_type("prompt", "a string", v))
        })
        .transpose()?
        .ok_or_else(|| {
            FieldError::new(
                "prompt",
                format!("prompt is required (a string of 0 to {MAX_PROMPT_CHARS} characters)"),
            )
        })?;
    let chars = text.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(FieldError::new(
            "prompt",
            format!("prompt must be at most {MAX_PROMPT_CHARS} characters, got {chars}"),
        ));
    }
    let names: Vec<&str> = subjects.iter().map(|s| s.name.as_str()).collect();
    let mentions = refvid_prompt::mentions(text, &names);
    if let Some(unknown) = mentions.iter().find(|m| m.subject().is_none()) {
        let list: Vec<String> = names.iter().map(|n| format!("@{n}")).collect();
        return Err(FieldError::new(
            "prompt",
            format!(
                "prompt refers to @{}, which matches no subject; use one of {} or @1..@{}",
                unknown.word(text),
                list.join(", "),
                names.len()
            ),
        ));
    }
    Ok(text.to_string())
}

fn subjects_or_images(req: &SubmitRequest) -> Result<(Vec<SubjectSpec>, bool)> {
    let parsed = match (&req.subjects, &req.images) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                "subjects",
                "give either subjects or images, not both",
            ));
        }
        (None, None) => {
            return Err(FieldError::new(
                "subjects",
                format!(
                    "subjects is required (1 to {MAX_SUBJECTS} subjects), or images in \
                     non-subject mode"
                ),
            ));
        }
        (Some(s), None) => (parse_subjects(s)?, true),
        (None, Some(i)) => (parse_image_mode(i)?, false),
    };
    let total: usize = parsed.0.iter().map(|s| s.images.len()).sum();
    if total > MAX_IMAGES_TOTAL {
        let field = if parsed.1 { "subjects" } else { "images" };
        return Err(FieldError::new(
            field,
            format!(
                "{field} hold {total} images in all; at most {MAX_IMAGES_TOTAL} are allowed in the whole request"
            ),
        ));
    }
    Ok(parsed)
}

fn array_of<'a>(v: &'a Value, field: &str, max: usize, what: &str) -> Result<&'a Vec<Value>> {
    let items = v
        .as_array()
        .ok_or_else(|| wrong_type(field, "an array", v))?;
    if items.is_empty() || items.len() > max {
        return Err(FieldError::new(
            field,
            format!("{field} must hold 1 to {max} {what}, got {}", items.len()),
        ));
    }
    Ok(items)
}

fn parse_subjects(v: &Value) -> Result<Vec<SubjectSpec>> {
    let items = array_of(v, "subjects", MAX_SUBJECTS, "subjects")?;
    let mut out: Vec<SubjectSpec> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("subjects[{i}]");
        let subject = parse_subject(&object_as(item.clone(), &path, &path)?, &path)?;
        if out
            .iter()
            .any(|s| refvid_prompt::same_name(&s.name, &subject.name))
        {
            return Err(FieldError::new(
                format!("{path}.name"),
                format!(
                    "{path}.name {:?} is used by another subject; names must be unique",
                    subject.name
                ),
            ));
        }
        out.push(subject);
    }
    Ok(out)
}

fn parse_subject(subject: &SubjectIn, path: &str) -> Result<SubjectSpec> {
    let name = subject_name(subject, path)?;
    let images_path = format!("{path}.images");
    let images_value = subject.images.as_ref().ok_or_else(|| {
        FieldError::new(
            &images_path,
            format!("{images_path} is required (1 to {MAX_IMAGES_PER_SUBJECT} images)"),
        )
    })?;
    let items = array_of(images_value, &images_path, MAX_IMAGES_PER_SUBJECT, "images")?;
    let images = items
        .iter()
        .enumerate()
        .map(|(j, img)| image_source(img, &format!("{images_path}[{j}]")))
        .collect::<Result<Vec<_>>>()?;
    let voice_path = format!("{path}.voice_id");
    let voice_id = opt_str(&subject.voice_id, &voice_path)?.map(str::to_string);
    if voice_id
        .as_ref()
        .is_some_and(|v| v.chars().count() > MAX_VOICE_ID_CHARS)
    {
        return Err(FieldError::new(
            &voice_path,
            format!("{voice_path} must be at most {MAX_VOICE_ID_CHARS} characters"),
        ));
    }
    Ok(SubjectSpec {
        name,
        images,
        voice_id,
    })
}

/// `name`, or its alias `id`.
fn subject_name(subject: &SubjectIn, path: &str) -> Result<String> {
    let (key, value) = match (&subject.name, &subject.id) {
        (Some(name), _) => ("name", name),
        (None, Some(id)) => ("id", id),
        (None, None) => {
            return Err(FieldError::new(
                format!("{path}.name"),
                format!("{path}.name is required (1 to {MAX_NAME_CHARS} characters)"),
            ));
        }
    };
    let field = format!("{path}.{key}");
    let name = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) if key == "id" => n.to_string(),
        v => return Err(wrong_type(&field, "a string", v)),
    };
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(FieldError::new(
            &field,
            format!("{field} must be 1 to {MAX_NAME_CHARS} characters, got {chars}"),
        ));
    }
    Ok(name)
}

fn parse_image_mode(v: &Value) -> Result<Vec<SubjectSpec>> {
    let items = array_of(v, "images", MAX_IMAGES_TOTAL, "images")?;
    items
        .iter()
        .enumerate()
        .map(|(i, img)| {
            Ok(SubjectSpec {
                name: (i + 1).to_string(),
                images: vec![image_source(img, &format!("images[{i}]"))?],
                voice_id: None,
            })
        })
        .collect()
}

fn image_source(v: &Value, field: &str) -> Result<ImageSource> {
    let text = v
        .as_str()
        .ok_or_else(|| wrong_type(field, "a string (an http(s) URL or a data URI)", v))?;
    if text.starts_with("data:") {
        data_uri::decode(text, MAX_IMAGE_BYTES)
            .map_err(|rule| FieldError::new(field, format!("{field} data URI {rule}")))?;
        return Ok(ImageSource::DataUri(text.to_string()));
    }
    http_url(text, field).map(ImageSource::Url)
}

fn http_url(text: &str, field: &str) -> Result<String> {
    let bad = |rule: &str| FieldError::new(field, format!("{field} {rule}"));
    if text.len() > MAX_URL_CHARS {
        return Err(bad(&format!("must be at most {MAX_URL_CHARS} characters")));
    }
    let url = url::Url::parse(text)
        .map_err(|_| bad("must be an http(s) URL or a data:image/(png|jpeg|webp);base64 URI"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad(
            "must be an http(s) URL with a host, or a data:image/(png|jpeg|webp);base64 URI",
        ));
    }
    Ok(text.to_string())
}

fn resolution(v: &Field) -> Result<Resolution> {
    match opt_str(v, "resolution")? {
        None => Ok(Resolution::P720),
        Some(s) if s.eq_ignore_ascii_case("720p") => Ok(Resolution::P720),
        Some(s) if s.eq_ignore_ascii_case("1080p") => Ok(Resolution::P1080),
        Some(s) => Err(FieldError::new(
            "resolution",
            format!("resolution must be 720p or 1080p, got {s:?}"),
        )),
    }
}

fn aspect_ratio(v: &Field) -> Result<AspectRatio> {
    match opt_str(v, "aspect_ratio")? {
        None => Ok(AspectRatio::default()),
        Some(s) => AspectRatio::parse(s)
            .map_err(|rule| FieldError::new("aspect_ratio", format!("aspect_ratio {rule}"))),
    }
}

fn movement(v: &Field) -> Result<Movement> {
    let Some(s) = opt_str(v, "movement_amplitude")? else {
        return Ok(Movement::Auto);
    };
    match s.to_ascii_lowercase().as_str() {
        "auto" => Ok(Movement::Auto),
        "small" => Ok(Movement::Small),
        "medium" => Ok(Movement::Medium),
        "high" | "large" => Ok(Movement::High),
        _ => Err(FieldError::new(
            "movement_amplitude",
            format!("movement_amplitude must be auto, small, medium or high, got {s:?}"),
        )),
    }
}

fn webhook(v: &Field) -> Result<Option<WebhookSpec>> {
    let Some(extra) = v else {
        return Ok(None);
    };
    let extra: ExtraIn = object_as(extra.clone(), "extra", "extra")?;
    let Some(hook) = extra.webhook else {
        return Ok(None);
    };
    let hook: WebhookIn = object_as(hook, "extra.webhook", "extra.webhook")?;
    let url = opt_str(&hook.url, "extra.webhook.url")?.ok_or_else(|| {
        FieldError::new(
            "extra.webhook.url",
            "extra.webhook.url is required when extra.webhook is given",
        )
    })?;
    let url = http_url(url, "extra.webhook.url")?;
    Ok(Some(WebhookSpec {
        url,
        test_mode: test_mode(&hook.test_mode)?,
    }))
}

fn test_mode(v: &Field) -> Result<Option<TestMode>> {
    let Some(tm) = v else {
        return Ok(None);
    };
    let field = "extra.webhook.test_mode";
    let tm: TestModeIn = object_as(tm.clone(), field, field)?;
    let enabled = opt_bool(&tm.enabled, "extra.webhook.test_mode.enabled")?;
    let status_field = "extra.webhook.test_mode.return_task_status";
    let status = opt_str(&tm.return_task_status, status_field)?.unwrap_or("TASK_STATUS_SUCCEED");
    if !TEST_MODE_STATUSES.contains(&status) {
        return Err(FieldError::new(
            status_field,
            format!(
                "{status_field} must be one of {}, got {status:?}",
                TEST_MODE_STATUSES.join(", ")
            ),
        ));
    }
    Ok(Some(TestMode {
        enabled: enabled.unwrap_or(false),
        return_task_status: status.to_string(),
    }))
}
