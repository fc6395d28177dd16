//! `/metrics` in the Prometheus text format: tasks by status and queue depth (from the store,
//! so the same on every API node), and this server's request counts and latency histogram.

use refvid_store::TaskStore;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Process-wide counters of the API server.
#[derive(Debug, Default)]
pub struct Metrics {
    submitted: AtomicU64,
    latency: Mutex<Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn task_submitted(&self) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one request's latency.
    pub fn request_done(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let mut h = self.latency.lock().expect("metrics lock");
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The text exposition; store figures are left out if the store does not answer.
    pub async fn render(&self, store: &dyn TaskStore) -> String {
        let mut out = String::new();
        if let Ok(counts) = store.count_by_state().await {
            out.push_str(
                "# HELP refvid_tasks Tasks in the store by status.\n# TYPE refvid_tasks gauge\n",
            );
            for state in ["QUEUED", "PROCESSING", "SUCCEED", "FAILED"] {
                let n = counts
                    .iter()
                    .find(|(s, _)| s.as_str() == state)
                    .map_or(0, |(_, n)| *n);
                out.push_str(&format!(
                    "refvid_tasks{{status=\"TASK_STATUS_{state}\"}} {n}\n"
                ));
            }
        }
        if let Ok(depth) = store.queue_depth().await {
            out.push_str(&format!("# HELP refvid_queue_depth Runnable queued tasks.\n# TYPE refvid_queue_depth gauge\nrefvid_queue_depth {depth}\n"));
        }
        out.push_str(&format!(
            "# HELP refvid_tasks_submitted_total Tasks accepted by this server.\n# TYPE refvid_tasks_submitted_total counter\nrefvid_tasks_submitted_total {}\n",
            self.submitted.load(Ordering::Relaxed)
        ));
        out.push_str(&self.latency_text());
        out
    }

    fn latency_text(&self) -> String {
        let h = self.latency.lock().expect("metrics lock");
        let mut out = String::from(
            "# HELP refvid_http_request_duration_seconds HTTP request latency.\n# TYPE refvid_http_request_duration_seconds histogram\n",
        );
        for (bound, n) in BUCKETS.iter().zip(h.counts) {
            out.push_str(&format!(
                "refvid_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {n}\n"
            ));
        }
        out.push_str(&format!(
            "refvid_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
            h.count
        ));
        out.push_str(&format!("refvid_http_request_duration_seconds_sum {}\nrefvid_http_request_duration_seconds_count {}\n", h.sum, h.count));
        out
    }
}
