//! Crashes lose nothing: the real binary, killed with SIGKILL, then started again.

use crate::helpers::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `refvid serve` on a free port; returns the child and its base URL.
#[allow(clippy::zombie_processes)] // the caller kills and waits for the child
fn start_binary(data_dir: &Path, workers: u32) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--lease-secs",
            "2",
            "--heartbeat-ms",
            "200",
        ])
        .args(["--workers", &workers.to_string(), "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("refvid listening on ") {
            return (child, url.trim().to_string());
        }
    }
    panic!("the server did not report its address");
}

fn kill_hard(mut child: Child) {
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

async fn create_key(data_dir: &Path) -> String {
    let store = refvid::open_store(data_dir).await.unwrap();
    let key = refvid::keys_cmd::create_key(&store, data_dir, "restart")
        .await
        .unwrap();
    store.close().await;
    key
}

async fn submit(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    body: &serde_json::Value,
) -> String {
    let response = client
        .post(format!("{base}/v3/async/viduq2-pro-fast"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<serde_json::Value>().await.unwrap()["task_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_accepted_task_survives_a_kill_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path()).await;
    let client = http_client();
    let (child, base) = start_binary(dir.path(), 0);
    let id = submit(&client, &base, &key, &two_subject_body()).await;
    kill_hard(child);
    let (child, base) = start_binary(dir.path(), 1);
    let last = wait_for(Duration::from_secs(120), &client, &base, &key, &id)
        .await
        .pop()
        .unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
    kill_hard(child);
}

#[tokio::test]
async fn a_task_whose_worker_is_killed_mid_render_runs_again_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path()).await;
    let client = http_client();
    let (child, base) = start_binary(dir.path(), 1);
    let mut body = two_subject_body();
    body["duration"] = serde_json::json!(10);
    let id = submit(&client, &base, &key, &body).await;
    let start = Instant::now();
    loop {
        let doc = wait_status(&client, &base, &key, &id).await;
        if doc["task"]["status"] == "TASK_STATUS_PROCESSING"
            && doc["task"]["progress_percent"].as_u64() > Some(5)
        {
            break;
        }
        assert_ne!(
            doc["task"]["status"], "TASK_STATUS_SUCCEED",
            "finished before the kill; make the task longer"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never started: {doc}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill_hard(child);
    let (child, base) = start_binary(dir.path(), 1);
    let last = wait_for(Duration::from_secs(300), &client, &base, &key, &id)
        .await
        .pop()
        .unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
    let url = last["videos"][0]["video_url"].as_str().unwrap();
    let bytes = client.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(refvid_media::probe_mp4(&bytes).unwrap().frame_count, 240);
    kill_hard(child);
}

async fn wait_status(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
) -> serde_json::Value {
    client
        .get(format!("{base}/v3/async/task-result"))
        .query(&[("task_id", id)])
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_first_start_prints_a_key_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "0",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut key = None;
    let base = loop {
        let line = lines
            .next()
            .expect("the server prints its address")
            .unwrap();
        if line.starts_with("rv_") {
            key = Some(line.trim().to_string());
        }
        if let Some(url) = line.strip_prefix("refvid listening on ") {
            break url.trim().to_string();
        }
    };
    let key = key.expect("a key is printed on the first start");
    let client = http_client();
    let id = submit(&client, &base, &key, &two_subject_body()).await;
    assert!(!id.is_empty());
    kill_hard(child);
    // A second start prints no key: there is one already.
    let (child, _) = start_binary(dir.path(), 0);
    kill_hard(child);
}

#[tokio::test]
async fn sigterm_lets_the_task_in_flight_finish_before_exiting() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path()).await;
    let client = http_client();
    let (mut child, base) = start_binary(dir.path(), 1);
    let mut body = two_subject_body();
    body["duration"] = serde_json::json!(6);
    let id = submit(&client, &base, &key, &body).await;
    let start = Instant::now();
    while wait_status(&client, &base, &key, &id).await["task"]["status"] != "TASK_STATUS_PROCESSING"
    {
        assert!(start.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "graceful exit, got {exit:?}");
    let store = refvid::open_store(dir.path()).await.unwrap();
    let record = refvid_store::TaskStore::get(&store, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.state,
        refvid_store::State::Succeed,
        "the task in flight was finished, not dropped"
    );
    assert_eq!(record.attempts, 1, "and it ran once");
}
