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
}
