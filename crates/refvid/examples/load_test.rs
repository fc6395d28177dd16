//! Load test: 64 concurrent clients against one `refvid serve` (SQLite, API only), mixing
//! submits and task-result polls, for a fixed time. Prints requests per second, p50/p99
//! latency, the count of each status, and the server's peak memory.
//!
//! `cargo build --release -p refvid && cargo run --release -p refvid --example load_test [SECONDS]`

use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const CLIENTS: usize = 64;

fn body() -> Value {
    let img = image::RgbaImage::from_pixel(256, 256, image::Rgba([200, 40, 40, 255]));
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let uri = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png.into_inner())
    );
    json!({"prompt": "@cat naps", "duration": 5, "subjects": [{"name": "cat", "images": [uri]}]})
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or("VmHWM: 0 kB");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("refvid");
    let mut server = Command::new(&binary)
        .args([
            "serve",
            "--no-worker",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit-per-minute",
            "600000",
        ])
        .args([
            "--rate-limit-burst",
            "10000",
            "--max-active-tasks-per-key",
            "100000000",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("build the binary first: cargo build --release -p refvid");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut key = String::new();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if line.starts_with("rv_") {
            key = line.trim().to_string();
        }
        if let Some(url) = line.strip_prefix("refvid listening on ") {
            break url.trim().to_string();
        }
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let body = Arc::new(body());
    let ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    for c in 0..CLIENTS {
        let (client, base, key, body, ids) = (
            client.clone(),
            base.clone(),
            key.clone(),
            body.clone(),
            ids.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut statuses = BTreeMap::<u16, u64>::new();
            let mut n = 0usize;
            while Instant::now() < deadline {
                let submit = (n + c).is_multiple_of(4);
                let start = Instant::now();
                let status = if submit {
                    let r = client
                        .post(format!("{base}/v3/async/viduq2-pro-fast"))
                        .bearer_auth(&key)
                        .json(&*body)
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    if let Some(id) = r
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|v| v["task_id"].as_str().map(String::from))
                    {
                        ids.lock().await.push(id);
                    }
                    status
                } else {
                    let Some(id) = ids.lock().await.last().cloned() else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    };
                    let r = client
                        .get(format!("{base}/v3/async/task-result"))
                        .query(&[("task_id", &id)])
                        .bearer_auth(&key)
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let _ = r.bytes().await;
                    status
                };
                samples.push((submit, start.elapsed()));
                *statuses.entry(status).or_default() += 1;
                n += 1;
            }
            (samples, statuses)
        }));
    }
    let (mut submit_lat, mut poll_lat, mut statuses) =
        (Vec::new(), Vec::new(), BTreeMap::<u16, u64>::new());
    for h in handles {
        let (samples, st) = h.await.unwrap();
        for (is_submit, d) in samples {
            if is_submit {
                submit_lat.push(d)
            } else {
                poll_lat.push(d)
            }
        }
        for (k, v) in st {
            *statuses.entry(k).or_default() += v;
        }
    }
    let total = submit_lat.len() + poll_lat.len();
    println!(
        "{CLIENTS} clients, {seconds} s: {total} requests, {:.0} requests/s",
        total as f64 / seconds as f64
    );
    for (name, lat) in [("submit", &mut submit_lat), ("task-result", &mut poll_lat)] {
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        println!(
            "{name}: {} requests, p50 {:?}, p99 {:?}",
            lat.len(),
            pct(0.5),
            pct(0.99)
        );
    }
    println!("statuses: {statuses:?}");
    println!(
        "server peak memory (VmHWM): {} MiB",
        peak_rss_kib(server.id()) / 1024
    );
    let _ = server.kill();
    let _ = server.wait();
}
