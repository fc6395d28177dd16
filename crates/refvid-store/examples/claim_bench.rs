//! Queue throughput and wake-up latency of the task stores, with a no-op engine.
//!
//! `cargo run --release -p refvid-store --example claim_bench [postgres-url]`
//!
//! For 1, 4 and 16 workers: tasks claimed and completed per second (each worker loops
//! claim → complete). Then the time from submit to claim for one idle worker, woken by
//! `LISTEN/NOTIFY` (PostgreSQL) versus plain polling every 500 ms.

use refvid_store::{NewTask, Outputs, PgStore, SqliteStore, TaskStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TASKS: usize = 2000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn task(i: usize) -> NewTask {
    NewTask {
        id: format!("bench-{i}-{}", now_ms()),
        key_id: "bench".into(),
        spec_json: "{}".into(),
        seed: 1,
        submit_ms: now_ms(),
        max_attempts: 3,
        webhook_url: None,
        mock_status: None,
        max_active_for_key: None,
    }
}

async fn throughput(store: Arc<dyn TaskStore>, workers: usize) -> f64 {
    for i in 0..TASKS {
        store.submit(&task(i)).await.unwrap();
    }
    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let name = format!("w{w}");
            let out = Outputs {
                video_key: "v".into(),
                cover_key: None,
                request_info: String::new(),
            };
            while let Some(t) = store
                .claim(&name, now_ms(), now_ms() + 60_000)
                .await
                .unwrap()
            {
                store
                    .complete(&t.record.id, &name, &out, now_ms())
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    TASKS as f64 / start.elapsed().as_secs_f64()
}

/// Median time from submit to claim for an idle worker; `notify` uses `wait_for_work`.
async fn wake_latency(store: Arc<dyn TaskStore>, notify: bool) -> Duration {
    let mut samples = Vec::new();
    for i in 0..10 {
        let worker = {
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    if let Some(t) = store
                        .claim("idle", now_ms(), now_ms() + 60_000)
                        .await
                        .unwrap()
                    {
                        return (Instant::now(), t.record.id);
                    }
                    if notify {
                        store.wait_for_work(Duration::from_millis(500)).await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(120 + 37 * i as u64)).await;
        let submitted = Instant::now();
        store.submit(&task(100_000 + i)).await.unwrap();
        let (claimed, _) = worker.await.unwrap();
        samples.push(claimed - submitted);
    }
    samples.sort();
    samples[samples.len() / 2]
}

async fn report(name: &str, make: impl AsyncFn() -> Arc<dyn TaskStore>) {
    for workers in [1, 4, 16] {
        let rate = throughput(make().await, workers).await;
        println!("{name}: {workers:>2} workers: {rate:>8.0} tasks claimed+completed per second");
    }
    let polled = wake_latency(make().await, false).await;
    let notified = wake_latency(make().await, true).await;
    println!(
        "{name}: submit-to-claim at idle, median of 10: polling {polled:?}, wait_for_work {notified:?}"
    );
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    report("sqlite", async || {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Arc::new(
            SqliteStore::open(&dir.path().join(format!("b{n}.db")))
                .await
                .unwrap(),
        ) as Arc<dyn TaskStore>
    })
    .await;
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    report("postgres", async || {
        let schema = format!("bench_{}", now_ms());
        Arc::new(PgStore::connect(&url, Some(&schema)).await.unwrap()) as Arc<dyn TaskStore>
    })
    .await;
}
