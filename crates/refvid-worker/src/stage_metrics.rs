//! How long each stage of a task took on this process, and how its tasks ended, as Prometheus
//! metrics: `refvid_task_stage_duration_seconds{stage}` (fetch, generate, encode, upload) and
//! `refvid_worker_tasks_total{outcome}`.
//!
//! The metrics live in shared handles; [`StageMetrics::register`] adds them to the registry
//! that `/metrics` encodes (the API server's when the worker runs in-process, the worker's own
//! when it runs alone).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;

/// Upper bounds of the stage histogram, in seconds: from a quick fetch to a long GPU render.
const STAGE_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0, 600.0,
];

/// A part of running one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Loading and decoding the reference images.
    Fetch,
    /// The engine making frames (with the watermark drawn on them).
    Generate,
    /// H.264, the sound track, AAC and the MP4 container.
    Encode,
    /// Storing the video and its cover in the blob store.
    Upload,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::Generate => "generate",
            Stage::Encode => "encode",
            Stage::Upload => "upload",
        }
    }
}

/// How a task run on this worker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    /// A transient fault: the task goes back to the queue for another attempt.
    Retried,
    /// Another worker owns the task now.
    LostLease,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Retried => "retried",
            Outcome::LostLease => "lost_lease",
        }
    }
}

type Labels = [(&'static str, &'static str); 1];

fn stage_histogram() -> Histogram {
    Histogram::new(STAGE_BUCKETS)
}

/// Stage durations and task outcomes; cheap to clone (clones share the same metrics).
#[derive(Debug, Clone)]
pub struct StageMetrics {
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    outcomes: Family<Labels, Counter>,
}

impl Default for StageMetrics {
    fn default() -> Self {
        Self {
            durations: Family::new_with_constructor(stage_histogram),
            outcomes: Family::default(),
        }
    }
}

impl StageMetrics {
    /// Records how long one stage of one task took.
    pub fn observe(&self, stage: Stage, took: Duration) {
        self.durations
            .get_or_create(&[("stage", stage.label())])
            .observe(took.as_secs_f64());
    }

    /// Counts one task's end.
    pub fn finished(&self, outcome: Outcome) {
        self.outcomes
            .get_or_create(&[("outcome", outcome.label())])
            .inc();
    }

    /// Adds these metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "refvid_task_stage_duration",
            "Time spent in each stage of a task (fetch, generate, encode, upload).",
            Unit::Seconds,
            self.durations.clone(),
        );
        registry.register(
            "refvid_worker_tasks",
            "Tasks this process ran, by how they ended.",
            self.outcomes.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_outcomes_appear_in_the_exposition() {
        let metrics = StageMetrics::default();
        metrics.observe(Stage::Generate, Duration::from_millis(700));
        metrics.observe(Stage::Upload, Duration::from_millis(20));
        metrics.finished(Outcome::Succeeded);
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                "refvid_task_stage_duration_seconds_bucket{le=\"1.0\",stage=\"generate\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "refvid_task_stage_duration_seconds_bucket{le=\"0.5\",stage=\"generate\"} 0"
            ),
            "{text}"
        );
        assert!(
            text.contains("refvid_task_stage_duration_seconds_count{stage=\"upload\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("refvid_worker_tasks_total{outcome=\"succeeded\"} 1"),
            "{text}"
        );
    }
}
