//! Webhook events: delivered once terminal, retried after failures, resumed after a restart,
//! signed when a secret is set, sent at once in test mode, and guarded like image URLs.

use crate::helpers::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback HTTP receiver that answers with the given statuses in turn (then 200).
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    raw: Arc<Mutex<Vec<Vec<u8>>>>,
    plan: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    pub(crate) async fn start(plan: Vec<u16>) -> (Self, String) {
        let receiver = Receiver {
            seen: Default::default(),
            raw: Default::default(),
            plan: Arc::new(Mutex::new(plan)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let r = receiver.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let r = r.clone();
                tokio::spawn(async move { r.handle(socket).await });
            }
        });
        (receiver, url)
    }

    async fn handle(&self, mut socket: tokio::net::TcpStream) {
        let mut data = Vec::new();
        let mut buf = [0u8; 65536];
        let (head, body) = loop {
            let n = socket.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            data.extend_from_slice(&buf[..n]);
            if let Some(split) = find(&data, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..split]).to_string();
                let len = content_length(&head);
                while data.len() < split + 4 + len {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buf[..n]);
                }
                break (head, data[split + 4..split + 4 + len].to_vec());
            }
        };
        let status = {
            let mut p = self.plan.lock().unwrap();
            if p.is_empty() { 200 } else { p.remove(0) }
        };
        if status == 200 {
            let value: Value = serde_json::from_slice(&body).unwrap();
            let signature = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("x-refvid-signature:")
                        .map(|v| v.trim().to_string())
                })
                .unwrap_or_default();
            self.seen.lock().unwrap().push((signature, value));
            self.raw.lock().unwrap().push(body);
        }
        let reply =
            format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = socket.write_all(reply.as_bytes()).await;
    }

    pub(crate) async fn wait_events(&self, n: usize, limit: Duration) -> Vec<(String, Value)> {
        let start = Instant::now();
        loop {
            let seen = self.seen.lock().unwrap().clone();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                start.elapsed() < limit,
                "only {} webhook events after {limit:?}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn hooked_body(url: &str) -> Value {
    let mut body = two_subject_body();
    body["extra"] = json!({"webhook": {"url": url}});
    body
}

#[tokio::test]
async fn a_finished_task_posts_its_signed_result_after_a_failed_first_try() {
    let (receiver, url) = Receiver::start(vec![500]).await;
    let app = spawn_app_with(|c| {
        c.allow_private_networks = true;
        c.webhook_secret = Some("s3cret".into());
        c.webhook_backoff = Duration::from_millis(200);
    })
    .await;
    let id = app.submit_ok(&hooked_body(&url)).await;
    let events = receiver.wait_events(1, Duration::from_secs(120)).await;
    let (signature, event) = &events[0];
    assert_eq!(event["event_type"], "ASYNC_TASK_RESULT");
    assert_eq!(event["payload"]["task"]["task_id"], id.as_str());
    assert_eq!(event["payload"]["task"]["status"], "TASK_STATUS_SUCCEED");
    assert!(
        event["payload"]["videos"][0]["video_url"]
            .as_str()
            .unwrap()
            .contains("/files/")
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(&receiver.raw.lock().unwrap()[0]);
    assert_eq!(
        signature,
        &format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        receiver.seen.lock().unwrap().len(),
        1,
        "delivered exactly once"
    );
    app.stop().await;
}

#[tokio::test]
async fn pending_deliveries_resume_after_a_restart() {
    let (receiver, url) = Receiver::start(vec![503, 503, 503, 503]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.allow_private_networks = true;
    config.webhook_backoff = Duration::from_secs(30);
    let store = refvid::open_store(dir.path()).await.unwrap();
    let key = refvid::keys_cmd::create_key(&store, dir.path(), "t")
        .await
        .unwrap();
    store.close().await;
    let server = refvid::start(config.clone()).await.unwrap();
    let client = http_client();
    let base = format!("http://{}", server.addr);
    let response = client
        .post(format!("{base}/v3/async/viduq2-pro-fast"))
        .bearer_auth(&key)
        .json(&hooked_body(&url))
        .send()
        .await
        .unwrap();
    let id = response.json::<Value>().await.unwrap()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(Duration::from_secs(120), &client, &base, &key, &id).await;
    // The first attempt fails (503); the next is 30 s away when the server stops.
    let start = Instant::now();
    while receiver.plan.lock().unwrap().len() == 4 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no first attempt"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
    receiver.plan.lock().unwrap().clear();
    config.webhook_backoff = Duration::from_millis(100);
    let store = refvid::open_store(dir.path()).await.unwrap();
    let pending = refvid_store::TaskStore::deliveries_of(&store, &id)
        .await
        .unwrap();
    assert_eq!(pending[0].state, "PENDING");
    assert!(pending[0].last_error.contains("503"), "{:?}", pending[0]);
    // Make the stored retry due now, as if the 30 s had passed while the server was down.
    store.close().await;
    let db = dir.path().join("refvid.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_ms = 0")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let server = refvid::start(config).await.unwrap();
    let events = receiver.wait_events(1, Duration::from_secs(30)).await;
    assert_eq!(events[0].1["payload"]["task"]["task_id"], id.as_str());
    server.stop().await;
}

#[tokio::test]
async fn test_mode_sends_the_mock_event_at_once_without_running_the_task() {
    let (receiver, url) = Receiver::start(vec![]).await;
    let app = spawn_app_with(|c| {
        c.allow_private_networks = true;
        c.workers = 0;
    })
    .await;
    let mut body = two_subject_body();
    body["extra"] = json!({"webhook": {"url": url, "test_mode": {"enabled": true, "return_task_status": "TASK_STATUS_FAILED"}}});
    let id = app.submit_ok(&body).await;
    let events = receiver.wait_events(1, Duration::from_secs(10)).await;
    assert_eq!(events[0].1["payload"]["task"]["task_id"], id.as_str());
    assert_eq!(
        events[0].1["payload"]["task"]["status"],
        "TASK_STATUS_FAILED"
    );
    assert_eq!(
        app.result(&id).await["task"]["status"],
        "TASK_STATUS_FAILED"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_address_guard_applies_to_webhook_urls() {
    let (receiver, url) = Receiver::start(vec![]).await;
    let app = spawn_app_with(|c| c.webhook_backoff = Duration::from_millis(50)).await;
    let mut body = two_subject_body();
    body["extra"] = json!({"webhook": {"url": url, "test_mode": {"enabled": true}}});
    let id = app.submit_ok(&body).await;
    let store = refvid::open_store(app.data_dir.path()).await.unwrap();
    let start = Instant::now();
    loop {
        let records = refvid_store::TaskStore::deliveries_of(&store, &id)
            .await
            .unwrap();
        if records
            .first()
            .is_some_and(|r| r.attempts >= 1 && !r.last_error.is_empty())
        {
            assert!(!records[0].last_error.is_empty());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{records:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        receiver.seen.lock().unwrap().is_empty(),
        "a guarded webhook reached loopback"
    );
    app.stop().await;
}
