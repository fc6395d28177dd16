//! `/metrics` in the OpenMetrics text format (which Prometheus scrapes): tasks by status and
//! queue depth (read from the store at scrape time, so the same on every API node), this
//! server's accepted tasks and request latency histogram, and whatever else the process
//! registered (the in-process workers' stage durations).

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use refvid_store::TaskStore;
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The statuses `refvid_tasks` is broken down by.
const STATES: [&str; 4] = ["QUEUED", "PROCESSING", "SUCCEED", "FAILED"];

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type StatusLabel = [(&'static str, String); 1];

/// The process's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// This server's own metrics and what others registered.
    process: Registry,
    /// The store's figures; left out of a scrape when the store does not answer.
    store: Registry,
    submitted: Counter,
    latency: Histogram,
    tasks: Family<StatusLabel, Gauge>,
    queue_depth: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(|_| {})
    }
}

impl Metrics {
    /// The server's metrics; `extra` registers more (e.g. the workers' stage durations).
    pub fn new(extra: impl FnOnce(&mut Registry)) -> Self {
        let submitted = Counter::default();
        let latency = Histogram::new(BUCKETS);
        let mut process = Registry::default();
        process.register(
            "refvid_tasks_submitted",
            "Tasks accepted by this server.",
            submitted.clone(),
        );
        process.register_with_unit(
            "refvid_http_request_duration",
            "HTTP request latency.",
            Unit::Seconds,
            latency.clone(),
        );
        extra(&mut process);
        let tasks = Family::<StatusLabel, Gauge>::default();
        let queue_depth = Gauge::default();
        let mut store = Registry::default();
        store.register(
            "refvid_tasks",
            "Tasks in the store by status.",
            tasks.clone(),
        );
        store.register(
            "refvid_queue_depth",
            "Runnable queued tasks.",
            queue_depth.clone(),
        );
        Self {
            process,
            store,
            submitted,
            latency,
            tasks,
            queue_depth,
        }
    }

    pub fn task_submitted(&self) {
        self.submitted.inc();
    }

    /// Records one request's latency.
    pub fn request_done(&self, took: Duration) {
        self.latency.observe(took.as_secs_f64());
    }

    /// The text exposition; store figures are left out if the store does not answer.
    pub async fn render(&self, store: &dyn TaskStore) -> String {
        let mut out = String::new();
        if self.read_store(store).await {
            encode_registry(&mut out, &self.store).expect("writing to a String");
        }
        encode_registry(&mut out, &self.process).expect("writing to a String");
        encode_eof(&mut out).expect("writing to a String");
        out
    }

    /// Copies the store's counts into the gauges; `false` when the store did not answer.
    async fn read_store(&self, store: &dyn TaskStore) -> bool {
        let (Ok(counts), Ok(depth)) = (store.count_by_state().await, store.queue_depth().await)
        else {
            return false;
        };
        for state in STATES {
            let n = counts
                .iter()
                .find(|(s, _)| s.as_str() == state)
                .map_or(0, |(_, n)| *n);
            self.tasks
                .get_or_create(&[("status", format!("TASK_STATUS_{state}"))])
                .set(n as i64);
        }
        self.queue_depth.set(depth as i64);
        true
    }
}
