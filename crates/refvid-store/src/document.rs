//! A stored task as the contract's task-result document (also the webhook payload).

use crate::{State as StoreState, TaskRecord};
use refvid_api::result::{DebugInfo, Extra, TaskInfo, VideoOut};
use refvid_api::{TASK_TYPE, TaskResultDoc, TaskStatus};

/// The contract's status of a stored state.
pub fn status_of(state: StoreState) -> TaskStatus {
    match state {
        StoreState::Queued => TaskStatus::Queued,
        StoreState::Processing => TaskStatus::Processing,
        StoreState::Succeed => TaskStatus::Succeed,
        StoreState::Failed => TaskStatus::Failed,
    }
}

/// A moment as the contract's integer string; `"0"` until it happens, never `""` (the hosted
/// service's typed clients parse these fields as integers on every poll).
fn ms(value: Option<i64>) -> String {
    value.unwrap_or(0).to_string()
}

/// Builds the document; pure, so the shape is tested without a server.
pub fn result_document(record: &TaskRecord, videos: Vec<VideoOut>) -> TaskResultDoc {
    let status = status_of(record.state);
    let progress = match status {
        TaskStatus::Succeed => 100,
        TaskStatus::Queued => 0,
        _ => record.progress.min(100),
    };
    TaskResultDoc {
        task: TaskInfo {
            task_id: record.id.clone(),
            task_type: TASK_TYPE.into(),
            status,
            reason: if status == TaskStatus::Failed {
                record.reason.clone()
            } else {
                String::new()
            },
            eta: if status.is_terminal() {
                0
            } else {
                record.eta_s
            },
            progress_percent: progress,
        },
        extra: Extra {
            seed: record.seed.to_string(),
            enable_nsfw_detection: false,
            debug_info: DebugInfo {
                request_info: record.request_info.clone(),
                submit_time_ms: ms(Some(record.submit_ms)),
                execute_time_ms: ms(record.execute_ms),
                complete_time_ms: ms(record.complete_ms),
            },
        },
        images: Vec::new(),
        videos,
        audios: Vec::new(),
    }
}
