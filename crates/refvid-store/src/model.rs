//! Records exchanged with the store.

/// A key to store: only its digest.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    pub created_ms: i64,
}

/// A stored, live API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
}

/// A task to enqueue.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub id: String,
    pub key_id: String,
    /// The checked request as JSON.
    pub spec_json: String,
    pub seed: u32,
    pub submit_ms: i64,
    pub max_attempts: u32,
    /// `extra.webhook.url`: where the terminal event is sent.
    pub webhook_url: Option<String>,
    /// Test mode: the task is not run; a mock event with this status is sent at once.
    pub mock_status: Option<String>,
    /// Refuse the task when its key already has this many tasks queued or running.
    pub max_active_for_key: Option<u32>,
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Queued,
    Processing,
    Succeed,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Processing => "PROCESSING",
            Self::Succeed => "SUCCEED",
            Self::Failed => "FAILED",
        }
    }

    /// Parses the contract's spelling, e.g. `TASK_STATUS_SUCCEED`.
    pub fn parse_wire(s: &str) -> Option<Self> {
        Self::parse(s.strip_prefix("TASK_STATUS_")?)
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Processing, Self::Succeed, Self::Failed]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// A task's state as task-result reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub id: String,
    pub key_id: String,
    pub seed: u32,
    pub state: State,
    pub reason: String,
    pub progress: u32,
    pub eta_s: u64,
    pub submit_ms: i64,
    pub execute_ms: Option<i64>,
    pub complete_ms: Option<i64>,
    pub attempts: u32,
    pub output_key: Option<String>,
    /// The JPEG cover frame of a finished task.
    pub cover_key: Option<String>,
    /// What rendered the task (engine, model, notes) as a compact JSON object string; `""`
    /// until the task ends, and for a task cancelled or failed before a worker reported.
    pub request_info: String,
}

/// The blobs a finished task produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub video_key: String,
    pub cover_key: Option<String>,
    /// What rendered the task, as a compact JSON object string (see [`TaskRecord::request_info`]).
    pub request_info: String,
}

/// A task handed to a worker.
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    pub record: TaskRecord,
    pub spec_json: String,
    pub lease_until_ms: i64,
}

/// What a worker reports while it runs a task.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    pub lease_until_ms: i64,
    pub progress: u32,
    pub eta_s: u64,
}

/// How a worker ends a task that did not succeed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// A sentence a person can act on.
    pub reason: String,
    pub now_ms: i64,
    /// `Some(time)`: a transient fault, try again from then if attempts remain.
    pub retry_at_ms: Option<i64>,
    /// What was rendering the task, stored when this failure ends it (see
    /// [`TaskRecord::request_info`]); dropped when the task is queued again.
    pub request_info: String,
}

/// A webhook delivery handed to a deliverer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub task_id: String,
    pub url: String,
    /// Set for test-mode events: the status the mock event reports.
    pub mock_status: Option<String>,
    /// Attempts made so far, this one included.
    pub attempts: u32,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Try again at this time.
    Retry { at_ms: i64, error: String },
    /// No more attempts.
    GaveUp { error: String },
}

/// A delivery's state, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub state: String,
    pub attempts: u32,
    pub last_error: String,
}
