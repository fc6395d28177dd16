//! The durable task store: tasks, the queue they form, and API keys.
//!
//! [`TaskStore`] is the only way the API server and the workers meet. A task is stored before the
//! client gets its id; workers claim queued tasks with a lease they renew by heartbeat; a lease
//! that runs out (the worker died) puts the task back in the queue; a terminal task is never
//! claimed again. [`SqliteStore`] is the embedded default; [`PgStore`] (PostgreSQL, claims with
//! `FOR UPDATE SKIP LOCKED` and `LISTEN/NOTIFY` wake-ups) serves many nodes. Both pass the one
//! [`conformance`] suite.

pub mod conformance;
mod document;
mod model;
pub mod postgres;
mod rows;
pub mod sqlite;

pub use document::{result_document, status_of};
pub use model::*;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;

/// Errors of the store. Messages never carry secrets or request bodies.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an error.
    #[error("task store unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("task store migration failed: {0}")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// A stored row could not be understood.
    #[error("corrupt task row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Unavailable(e)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The store as the server and workers see it.
#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Checks that the store answers (readiness).
    async fn ping(&self) -> Result<()>;

    /// Stores a new API key record.
    async fn insert_key(&self, key: &NewKey) -> Result<()>;
    /// The live (not revoked) key with this digest.
    async fn find_key(&self, key_hash: &str) -> Result<Option<KeyRecord>>;
    /// Number of live keys.
    async fn count_keys(&self) -> Result<u64>;
    /// Revokes the live keys with this id or name; returns how many.
    async fn revoke_key(&self, id_or_name: &str, now_ms: i64) -> Result<u64>;
    /// How many tasks are in each state (states with none are left out).
    async fn count_by_state(&self) -> Result<Vec<(State, u64)>>;
    /// Number of runnable queued tasks (test-mode tasks excluded).
    async fn queue_depth(&self) -> Result<u64>;

    /// Durably stores a new queued task. `false` (nothing stored) when the key already has
    /// `task.max_active_for_key` tasks queued or running; the check and the insert are atomic
    /// across every node sharing the store.
    async fn submit(&self, task: &NewTask) -> Result<bool>;
    /// Cancels a task of this key that has not ended: it becomes FAILED with reason
    /// `cancelled`, and a worker running it loses its lease (and stops at its next heartbeat).
    /// Returns the task as it is afterwards, `None` when the key has no such task.
    async fn cancel(&self, id: &str, key_id: &str, now_ms: i64) -> Result<Option<TaskRecord>>;
    /// A task's state (without its spec).
    async fn get(&self, id: &str) -> Result<Option<TaskRecord>>;
    /// A task's stored request (the JSON given at submit).
    async fn get_spec(&self, id: &str) -> Result<Option<String>>;

    /// Claims the oldest runnable queued task for `worker` until `lease_until_ms`.
    async fn claim(
        &self,
        worker: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<ClaimedTask>>;
    /// Renews the lease and records progress. `false` when the worker no longer owns the task
    /// (its lease was taken over or the task ended): it must stop.
    async fn heartbeat(&self, id: &str, worker: &str, beat: &Heartbeat) -> Result<bool>;
    /// Marks an owned task succeeded. `false` if the worker no longer owns it.
    async fn complete(
        &self,
        id: &str,
        worker: &str,
        outputs: &Outputs,
        now_ms: i64,
    ) -> Result<bool>;
    /// Ends an owned task: re-queued after `retry_at_ms` if given and attempts remain,
    /// otherwise failed with `reason`. `false` if the worker no longer owns it.
    async fn fail(&self, id: &str, worker: &str, failure: &Failure) -> Result<bool>;
    /// Re-queues (or fails, when out of attempts) tasks whose lease ran out; returns how many.
    async fn reclaim_expired(&self, now_ms: i64) -> Result<u64>;

    /// Claims the oldest due webhook delivery until `lease_until_ms` (so that two deliverers
    /// never send it at once, and a crashed one's delivery is picked up again).
    async fn claim_delivery(&self, now_ms: i64, lease_until_ms: i64) -> Result<Option<Delivery>>;
    /// Records how a delivery attempt ended.
    async fn finish_delivery(&self, id: i64, outcome: &DeliveryOutcome) -> Result<()>;
    /// Every delivery of a task, oldest first.
    async fn deliveries_of(&self, task_id: &str) -> Result<Vec<DeliveryRecord>>;

    /// Waits up to `max` for a hint that work was queued (PostgreSQL: `LISTEN`). The default
    /// just sleeps: callers always poll as well, so a missed hint only costs latency.
    async fn wait_for_work(&self, max: std::time::Duration) {
        tokio::time::sleep(max).await;
    }
}

/// The reason of a cancelled task.
pub const CANCELLED_REASON: &str = "cancelled";

/// The reason of a task failed because its workers kept dying.
pub(crate) const INTERRUPTED_REASON: &str =
    "The task was interrupted too many times (its worker stopped); submit it again.";

/// Status, first run time and reason of a new task. A test-mode task is never run: it is
/// stored in the state its mock event reports, out of the queue's reach.
pub(crate) fn initial_state(task: &NewTask) -> (&'static str, i64, &'static str) {
    match task.mock_status.as_deref().and_then(State::parse_wire) {
        None => ("QUEUED", task.submit_ms, ""),
        Some(State::Failed) => ("FAILED", i64::MAX, "test mode: the task was not run"),
        Some(state) => (state.as_str(), i64::MAX, ""),
    }
}

/// The columns a delivery outcome writes: state, next attempt time, last error.
pub(crate) fn delivery_update(outcome: &DeliveryOutcome) -> (&'static str, Option<i64>, &str) {
    match outcome {
        DeliveryOutcome::Delivered => ("DELIVERED", None, ""),
        DeliveryOutcome::Retry { at_ms, error } => ("PENDING", Some(*at_ms), error.as_str()),
        DeliveryOutcome::GaveUp { error } => ("GAVE_UP", None, error.as_str()),
    }
}
