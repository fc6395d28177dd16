//! The task-result document: always the five top-level keys, typed exactly as the contract says.

use serde::{Deserialize, Serialize};

/// The four task statuses of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum TaskStatus {
    #[serde(rename = "TASK_STATUS_QUEUED")]
    Queued,
    #[serde(rename = "TASK_STATUS_PROCESSING")]
    Processing,
    #[serde(rename = "TASK_STATUS_SUCCEED")]
    Succeed,
    #[serde(rename = "TASK_STATUS_FAILED")]
    Failed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "TASK_STATUS_QUEUED",
            Self::Processing => "TASK_STATUS_PROCESSING",
            Self::Succeed => "TASK_STATUS_SUCCEED",
            Self::Failed => "TASK_STATUS_FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Processing, Self::Succeed, Self::Failed]
            .into_iter()
            .find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeed | Self::Failed)
    }
}

/// `task`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskInfo {
    pub task_id: String,
    pub task_type: String,
    pub status: TaskStatus,
    pub reason: String,
    pub eta: u64,
    pub progress_percent: u32,
}

/// `extra.debug_info`: Unix-epoch millisecond timestamps as integer strings, `"0"` for a moment
/// not reached yet (never `""`: the hosted service's typed clients parse them as integers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DebugInfo {
    /// `""` until the task ends; then what rendered it as a compact JSON object string, e.g.
    /// `{"engine":"wan","model":"Wan2.1-VACE-1.3B-diffusers"}` (`engine` always, other keys
    /// where they apply).
    #[schema(example = "{\"engine\":\"compositor\"}")]
    pub request_info: String,
    /// When the task was accepted.
    #[schema(pattern = "^[0-9]+$", example = "1764000000000")]
    pub submit_time_ms: String,
    /// When a worker first started it; `"0"` while queued.
    #[schema(pattern = "^[0-9]+$", example = "1764000000100")]
    pub execute_time_ms: String,
    /// When it ended (succeeded, failed or cancelled); `"0"` before.
    #[schema(pattern = "^[0-9]+$", example = "1764000004000")]
    pub complete_time_ms: String,
}

/// `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Extra {
    /// The seed used, as an integer string.
    #[schema(pattern = "^[0-9]+$", example = "123")]
    pub seed: String,
    pub enable_nsfw_detection: bool,
    pub debug_info: DebugInfo,
}

/// One entry of `videos`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VideoOut {
    pub video_url: String,
    /// Seconds the URL stays valid, as an integer string.
    #[schema(pattern = "^[0-9]+$", example = "3600")]
    pub video_url_ttl: String,
    pub video_type: String,
}

/// The whole task-result document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskResultDoc {
    pub task: TaskInfo,
    pub extra: Extra,
    /// Always empty for this model.
    #[schema(value_type = Vec<Object>)]
    pub images: Vec<serde_json::Value>,
    pub videos: Vec<VideoOut>,
    /// Always empty for this model.
    #[schema(value_type = Vec<Object>)]
    pub audios: Vec<serde_json::Value>,
}
