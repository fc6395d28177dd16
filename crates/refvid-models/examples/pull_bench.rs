//! Times pulling one large file from the fake Hub on loopback (metadata, ranged download through
//! the CDN redirect, sha256 check), then interrupts a second pull part-way and counts the bytes
//! the resumed pull fetches again. Default settings (10 MiB chunks, 4 at a time).
//!
//! `cargo run -p refvid-models --features fake-hub --example pull_bench [-- SIZE_MIB CUT_MIB]`
//! (dependencies are optimised in the dev profile; defaults 1024 and 600).

use refvid_models::fake_hub::{Content, FakeFile, FakeHub, FakeRepo};
use refvid_models::{HubConfig, ModelsDir, PullOptions, pull};
use std::time::Instant;

const MIB: u64 = 1 << 20;
const FILE: &str = "weights.safetensors";

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let len = args.first().copied().unwrap_or(1024) * MIB;
    let cut = args.get(1).copied().unwrap_or(600) * MIB;
    let started = Instant::now();
    let file = FakeFile::lfs(FILE, Content::Pattern { len, seed: 42 });
    let hub = FakeHub::start(vec![FakeRepo::new("bench/model", vec![file])]).await;
    println!(
        "fake hub ready (hashing {} MiB) in {:.1} s",
        len / MIB,
        started.elapsed().as_secs_f64()
    );
    let config = HubConfig::with_endpoint(&hub.endpoint);
    let name = format!("bench/model:{FILE}");

    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    pull(
        &ModelsDir::new(dir.path()),
        &name,
        &config,
        &PullOptions::default(),
    )
    .await
    .unwrap();
    let took = started.elapsed().as_secs_f64();
    println!(
        "pull of {} MiB: {took:.2} s ({:.0} MiB/s, download and sha256 check)",
        len / MIB,
        len as f64 / MIB as f64 / took
    );
    drop(dir);

    let dir = tempfile::tempdir().unwrap();
    let models = ModelsDir::new(dir.path());
    let before = hub.served_bytes(FILE);
    hub.cut_at(FILE, cut);
    let err = pull(&models, &name, &config, &PullOptions::default())
        .await
        .unwrap_err();
    println!("interrupted at {} MiB: {err}", cut / MIB);
    let first = hub.served_bytes(FILE) - before;
    println!(
        "first try: {:.1} MiB served, {:.1} MiB kept as done",
        first as f64 / MIB as f64,
        kept(dir.path()) as f64 / MIB as f64
    );
    hub.heal();
    let started = Instant::now();
    pull(&models, &name, &config, &PullOptions::default())
        .await
        .unwrap();
    let second = hub.served_bytes(FILE) - before - first;
    let refetched = (first + second).saturating_sub(len + 2);
    println!(
        "resumed pull: {:.2} s, {:.1} MiB served; bytes fetched twice: {refetched} ({:.1} MiB)",
        started.elapsed().as_secs_f64(),
        second as f64 / MIB as f64,
        refetched as f64 / MIB as f64
    );
}

/// What the interrupted download recorded as done (the trailer of its `.sync.part`).
fn kept(dir: &std::path::Path) -> u64 {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            let found = kept(&path);
            if found > 0 {
                return found;
            }
        } else if path.to_string_lossy().ends_with(".sync.part") {
            let bytes = std::fs::read(&path).unwrap();
            let tail: [u8; 8] = bytes[bytes.len() - 8..].try_into().unwrap();
            return u64::from_le_bytes(tail);
        }
    }
    0
}
