//! The checked task: what a worker needs to render one request, stored as JSON with the task.

use crate::geometry::{AspectRatio, Geometry, Resolution};
use serde::{Deserialize, Serialize};

/// A reference image as the request gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ImageSource {
    /// An `http(s)://` URL, fetched by the worker behind the address guard.
    Url(String),
    /// A `data:image/...;base64,` URI, kept as given (already checked to decode).
    DataUri(String),
}

/// One subject: a name the prompt can refer to, its images, and an optional voice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectSpec {
    pub name: String,
    pub images: Vec<ImageSource>,
    pub voice_id: Option<String>,
}

/// Motion strength from `movement_amplitude` (`large` is read as `high`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    Auto,
    Small,
    Medium,
    High,
}

/// `extra.webhook.test_mode`: send a mock event at once instead of running the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestMode {
    pub enabled: bool,
    /// The status the mock event reports (`TASK_STATUS_SUCCEED` when absent).
    pub return_task_status: String,
}

/// `extra.webhook`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSpec {
    pub url: String,
    pub test_mode: Option<TestMode>,
}

/// A fully checked request. Constructed only by [`crate::parse_submit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub prompt: String,
    /// Clip length in whole seconds, 1 to 10.
    pub duration_secs: u32,
    /// Subjects; in non-subject mode each image is a subject named `1`, `2`, ...
    pub subjects: Vec<SubjectSpec>,
    /// True when the request used `subjects`, false for top-level `images`.
    pub subject_mode: bool,
    pub bgm: bool,
    pub audio: bool,
    pub watermark: bool,
    /// The seed the request asked for; `None` means "pick one" (absent or 0).
    pub seed: Option<u32>,
    pub resolution: Resolution,
    pub aspect_ratio: AspectRatio,
    pub movement: Movement,
    pub webhook: Option<WebhookSpec>,
    /// Set for tasks submitted in Vidu's own dialect (`/ent/v2`); absent in older stored specs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
}

/// What a task submitted in the upstream dialect (`/ent/v2`) keeps besides the checked request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Upstream {
    pub model: String,
    pub payload: String,
    pub off_peak: bool,
    pub meta_data: String,
    /// The task's webhook is a `callback_url`: deliveries carry the creations document.
    pub callback: bool,
}

impl TaskSpec {
    /// The exact output frame size.
    pub fn geometry(&self) -> Geometry {
        Geometry::of(self.resolution, self.aspect_ratio)
    }

    /// Every image of the request with its field path, in order.
    pub fn image_paths(&self) -> Vec<(String, &ImageSource)> {
        let mut out = Vec::new();
        for (si, subject) in self.subjects.iter().enumerate() {
            for (ii, image) in subject.images.iter().enumerate() {
                let path = if self.subject_mode {
                    format!("subjects[{si}].images[{ii}]")
                } else {
                    format!("images[{si}]")
                };
                out.push((path, image));
            }
        }
        out
    }
}
