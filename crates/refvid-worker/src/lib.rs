//! The worker: claims tasks from the store and turns each into an MP4 in the blob store.
//!
//! One [`Worker`] runs one task at a time: it loads the references, runs the engine on a
//! blocking thread while a heartbeat renews the lease and records progress, uploads the video
//! and completes the task. It meets the API server only through the store and the blob store.

mod execute;
mod references;
pub mod request_info;
mod sink;
mod sound;
pub mod stage_metrics;
mod task_error;
pub mod webhook;

pub use execute::{LocalRender, LocalVideo, render_request};
pub use stage_metrics::StageMetrics;
pub use webhook::{Deliverer, DeliverySettings};

use refvid_audio::AudioEngine;
use refvid_blob::BlobStore;
use refvid_engine::Engine;
use refvid_media::GuardedHttp;
use refvid_media::watermark::WatermarkSource;
use refvid_store::TaskStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Name recorded as the lease owner; unique per worker.
    pub id: String,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// How often the lease is renewed and progress recorded.
    pub heartbeat: Duration,
    /// How long an idle worker waits before looking at the queue again.
    pub poll: Duration,
    /// First delay before a transient failure is retried (doubles per attempt).
    pub retry_backoff: Duration,
    /// What `watermark: true` draws.
    pub watermark: WatermarkSource,
    /// Longest a task may run on this worker before it is stopped and failed.
    pub task_timeout: Duration,
}

impl WorkerSettings {
    pub fn with_id(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(2),
            poll: Duration::from_millis(500),
            retry_backoff: Duration::from_secs(5),
            watermark: WatermarkSource::default(),
            task_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// What a worker works with.
#[derive(Clone)]
pub struct Worker {
    pub store: Arc<dyn TaskStore>,
    pub blob: Arc<dyn BlobStore>,
    pub engine: Arc<dyn Engine>,
    /// Makes `bgm` and `audio` tracks.
    pub audio: Arc<dyn AudioEngine>,
    pub http: GuardedHttp,
    pub settings: WorkerSettings,
    /// Woken by the API server after a submit (in-process only; polling covers the rest).
    pub wake: Arc<Notify>,
    /// Stage durations and outcomes, for `/metrics`.
    pub metrics: StageMetrics,
}

impl Worker {
    /// Claims and runs tasks until `shutdown` turns true. A task in flight is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.settings.id, engine = self.engine.name(), "worker started");
        while !*shutdown.borrow() {
            let wake = self.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            match self.claim_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "task store error; retrying"),
            }
            tokio::select! {
                _ = &mut wake => {}
                _ = self.store.wait_for_work(self.settings.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.settings.id, "worker stopped");
    }

    /// Re-queues dead workers' tasks, then claims and runs one task; `false` when none waits.
    async fn claim_one(&self) -> Result<bool, refvid_store::StoreError> {
        let now = now_ms();
        let reclaimed = self.store.reclaim_expired(now).await?;
        if reclaimed > 0 {
            tracing::warn!(reclaimed, "re-queued tasks whose worker stopped");
        }
        let lease_until = now + self.settings.lease.as_millis() as i64;
        let Some(task) = self
            .store
            .claim(&self.settings.id, now, lease_until)
            .await?
        else {
            return Ok(false);
        };
        self.run_task(task).await;
        Ok(true)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
