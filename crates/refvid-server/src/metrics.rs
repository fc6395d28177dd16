//! Counters exposed at `/metrics` in the Prometheus text format.

use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide counters of the API server.
#[derive(Debug, Default)]
pub struct Metrics {
    submitted: AtomicU64,
    requests: AtomicU64,
}

impl Metrics {
    pub fn task_submitted(&self) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_seen(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        format!(
            "# HELP refvid_tasks_submitted_total Tasks accepted by this server.\n\
             # TYPE refvid_tasks_submitted_total counter\n\
             refvid_tasks_submitted_total {}\n\
             # HELP refvid_http_requests_total HTTP requests handled by this server.\n\
             # TYPE refvid_http_requests_total counter\n\
             refvid_http_requests_total {}\n",
            self.submitted.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
        )
    }
}
