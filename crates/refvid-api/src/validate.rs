//! Submit body (JSON) to [`TaskSpec`], rule by rule, naming the field of the first failure.
//!
//! Parsing goes through `serde_json::Value` by hand rather than a derive so that every error can
//! say which field broke which rule. Unknown fields are ignored; `null` counts as absent for
//! optional fields, as lenient clients send it.

use crate::error::FieldError;
use crate::geometry::{AspectRatio, Resolution};
use crate::spec::{ImageSource, Movement, SubjectSpec, TaskSpec, TestMode, WebhookSpec};
use crate::{MAX_IMAGE_BYTES, data_uri};
use serde_json::{Map, Value};

const MAX_PROMPT_CHARS: usize = 2000;
const MAX_SUBJECTS: usize = 7;
const MAX_IMAGES_TOTAL: usize = 7;
const MAX_IMAGES_PER_SUBJECT: usize = 3;
const MAX_NAME_CHARS: usize = 64;
const MAX_VOICE_ID_CHARS: usize = 256;
const MAX_URL_CHARS: usize = 4096;
const MAX_SEED: i64 = (1 << 31) - 1;
const STATUSES: [&str; 4] = [
    "TASK_STATUS_QUEUED",
    "TASK_STATUS_PROCESSING",
    "TASK_STATUS_SUCCEED",
    "TASK_STATUS_FAILED",
];

type Result<T> = std::result::Result<T, FieldError>;

/// Parses and checks a submit body. Images given as data URIs are base64-decoded here; checks
/// that need the pixels (format, size, ratio) are the caller's.
pub fn parse_submit(body: &[u8]) -> Result<TaskSpec> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| FieldError::new("", format!("request body is not valid JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| FieldError::new("", "request body must be a JSON object"))?;
    let (subjects, subject_mode) = subjects_or_images(obj)?;
    let spec = TaskSpec {
        prompt: prompt(obj, &subjects)?,
        duration_secs: opt_int(obj, "duration", 1, 10)?.unwrap_or(5) as u32,
        subjects,
        subject_mode,
        bgm: opt_bool(obj, "bgm")?.unwrap_or(false),
        audio: opt_bool(obj, "audio")?.unwrap_or(false),
        watermark: opt_bool(obj, "watermark")?.unwrap_or(false),
        seed: opt_int(obj, "seed", 0, MAX_SEED)?
            .filter(|s| *s != 0)
            .map(|s| s as u32),
        resolution: resolution(obj)?,
        aspect_ratio: aspect_ratio(obj)?,
        movement: movement(obj)?,
        webhook: webhook(obj)?,
        upstream: None,
    };
    Ok(spec)
}

fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
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

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    present(obj, key)
        .map(|v| v.as_bool().ok_or_else(|| wrong_type(key, "a boolean", v)))
        .transpose()
}

fn opt_int(obj: &Map<String, Value>, key: &str, min: i64, max: i64) -> Result<Option<i64>> {
    let Some(v) = present(obj, key) else {
        return Ok(None);
    };
    let n = v.as_i64().ok_or_else(|| match v {
        Value::Number(_) => FieldError::new(key, format!("{key} must be a whole number, got {v}")),
        _ => wrong_type(key, "an integer", v),
    })?;
    if n < min || n > max {
        return Err(FieldError::new(
            key,
            format!("{key} must be between {min} and {max}, got {n}"),
        ));
    }
    Ok(Some(n))
}

fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str, field: &str) -> Result<Option<&'a str>> {
    present(obj, key)
        .map(|v| v.as_str().ok_or_else(|| wrong_type(field, "a string", v)))
        .transpose()
}

fn prompt(obj: &Map<String, Value>, subjects: &[SubjectSpec]) -> Result<String> {
    let text = opt_str(obj, "prompt", "prompt")?.ok_or_else(|| {
        FieldError::new(
            "prompt",
            "prompt is required (a string of 0 to 2000 characters)",
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

fn subjects_or_images(obj: &Map<String, Value>) -> Result<(Vec<SubjectSpec>, bool)> {
    let (subjects, images) = (present(obj, "subjects"), present(obj, "images"));
    let parsed = match (subjects, images) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                "subjects",
                "give either subjects or images, not both",
            ));
        }
        (None, None) => {
            return Err(FieldError::new(
                "subjects",
                "subjects is required (1 to 7 subjects), or images in non-subject mode",
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

fn array_of<'a>(
    v: &'a Value,
    field: &str,
    min: usize,
    max: usize,
    what: &str,
) -> Result<&'a Vec<Value>> {
    let items = v
        .as_array()
        .ok_or_else(|| wrong_type(field, "an array", v))?;
    if items.len() < min || items.len() > max {
        return Err(FieldError::new(
            field,
            format!(
                "{field} must hold {min} to {max} {what}, got {}",
                items.len()
            ),
        ));
    }
    Ok(items)
}

fn parse_subjects(v: &Value) -> Result<Vec<SubjectSpec>> {
    let items = array_of(v, "subjects", 1, MAX_SUBJECTS, "subjects")?;
    let mut out: Vec<SubjectSpec> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let subject = parse_subject(item, &format!("subjects[{i}]"))?;
        if out
            .iter()
            .any(|s| refvid_prompt::same_name(&s.name, &subject.name))
        {
            return Err(FieldError::new(
                format!("subjects[{i}].name"),
                format!(
                    "subjects[{i}].name {:?} is used by another subject; names must be unique",
                    subject.name
                ),
            ));
        }
        out.push(subject);
    }
    Ok(out)
}

fn parse_subject(v: &Value, path: &str) -> Result<SubjectSpec> {
    let obj = v
        .as_object()
        .ok_or_else(|| wrong_type(path, "an object", v))?;
    let name = subject_name(obj, path)?;
    let images_path = format!("{path}.images");
    let images_value = present(obj, "images").ok_or_else(|| {
        FieldError::new(
            &images_path,
            format!("{images_path} is required (1 to {MAX_IMAGES_PER_SUBJECT} images)"),
        )
    })?;
    let items = array_of(
        images_value,
        &images_path,
        1,
        MAX_IMAGES_PER_SUBJECT,
        "images",
    )?;
    let images = items
        .iter()
        .enumerate()
        .map(|(j, img)| image_source(img, &format!("{images_path}[{j}]")))
        .collect::<Result<Vec<_>>>()?;
    let voice_path = format!("{path}.voice_id");
    let voice_id = opt_str(obj, "voice_id", &voice_path)?.map(str::to_string);
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
fn subject_name(obj: &Map<String, Value>, path: &str) -> Result<String> {
    let key = if present(obj, "name").is_some() {
        "name"
    } else {
        "id"
    };
    let field = format!("{path}.{key}");
    let name = match present(obj, key) {
        None => {
            return Err(FieldError::new(
                format!("{path}.name"),
                format!("{path}.name is required (1 to {MAX_NAME_CHARS} characters)"),
            ));
        }
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) if key == "id" => n.to_string(),
        Some(v) => return Err(wrong_type(&field, "a string", v)),
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
    let items = array_of(v, "images", 1, MAX_IMAGES_TOTAL, "images")?;
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

fn resolution(obj: &Map<String, Value>) -> Result<Resolution> {
    match opt_str(obj, "resolution", "resolution")? {
        None => Ok(Resolution::P720),
        Some(s) if s.eq_ignore_ascii_case("720p") => Ok(Resolution::P720),
        Some(s) if s.eq_ignore_ascii_case("1080p") => Ok(Resolution::P1080),
        Some(s) => Err(FieldError::new(
            "resolution",
            format!("resolution must be 720p or 1080p, got {s:?}"),
        )),
    }
}

fn aspect_ratio(obj: &Map<String, Value>) -> Result<AspectRatio> {
    match opt_str(obj, "aspect_ratio", "aspect_ratio")? {
        None => Ok(AspectRatio::default()),
        Some(s) => AspectRatio::parse(s)
            .map_err(|rule| FieldError::new("aspect_ratio", format!("aspect_ratio {rule}"))),
    }
}

fn movement(obj: &Map<String, Value>) -> Result<Movement> {
    let Some(s) = opt_str(obj, "movement_amplitude", "movement_amplitude")? else {
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

fn webhook(obj: &Map<String, Value>) -> Result<Option<WebhookSpec>> {
    let Some(extra) = present(obj, "extra") else {
        return Ok(None);
    };
    let extra = extra
        .as_object()
        .ok_or_else(|| wrong_type("extra", "an object", extra))?;
    let Some(hook) = present(extra, "webhook") else {
        return Ok(None);
    };
    let hook = hook
        .as_object()
        .ok_or_else(|| wrong_type("extra.webhook", "an object", hook))?;
    let url = opt_str(hook, "url", "extra.webhook.url")?.ok_or_else(|| {
        FieldError::new(
            "extra.webhook.url",
            "extra.webhook.url is required when extra.webhook is given",
        )
    })?;
    let url = http_url(url, "extra.webhook.url")?;
    Ok(Some(WebhookSpec {
        url,
        test_mode: test_mode(hook)?,
    }))
}

fn test_mode(hook: &Map<String, Value>) -> Result<Option<TestMode>> {
    let Some(tm) = present(hook, "test_mode") else {
        return Ok(None);
    };
    let tm = tm
        .as_object()
        .ok_or_else(|| wrong_type("extra.webhook.test_mode", "an object", tm))?;
    let enabled = opt_bool(tm, "enabled").map_err(|e| {
        FieldError::new(
            "extra.webhook.test_mode.enabled",
            e.message
                .replace("enabled", "extra.webhook.test_mode.enabled"),
        )
    })?;
    let status = opt_str(
        tm,
        "return_task_status",
        "extra.webhook.test_mode.return_task_status",
    )?
    .unwrap_or("TASK_STATUS_SUCCEED");
    if !STATUSES.contains(&status) {
        return Err(FieldError::new(
            "extra.webhook.test_mode.return_task_status",
            format!(
                "extra.webhook.test_mode.return_task_status must be one of {}, got {status:?}",
                STATUSES.join(", ")
            ),
        ));
    }
    Ok(Some(TestMode {
        enabled: enabled.unwrap_or(false),
        return_task_status: status.to_string(),
    }))
}
