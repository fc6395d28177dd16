//! Reference images given as URLs: fetched behind the address guard.

use crate::helpers::*;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `png` to every request on a loopback port; returns the URL.
async fn serve_png(png: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let png = png.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    png.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&png).await;
            });
        }
    });
    format!("http://{addr}/ref.png")
}

fn body_with_url(url: &str) -> serde_json::Value {
    let mut body = two_subject_body();
    body["subjects"][1]["images"] = json!([url]);
    body
}

#[tokio::test]
async fn the_address_guard_refuses_a_loopback_url() {
    let app = spawn_app().await;
    let url = serve_png(disc_png(200, 200, [0, 0, 255])).await;
    let id = app.submit_ok(&body_with_url(&url)).await;
    let last = app.wait(&id, Duration::from_secs(60)).await.pop().unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_FAILED");
    let reason = last["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("subjects[1].images[0]"), "{reason}");
    assert!(
        reason.to_lowercase().contains("not public")
            || reason.to_lowercase().contains("blocked")
            || reason.to_lowercase().contains("private"),
        "{reason}"
    );
    assert_eq!(last["videos"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn urls_are_fetched_when_private_networks_are_allowed() {
    let app = spawn_app_with(|c| c.allow_private_networks = true).await;
    let url = serve_png(disc_png(200, 200, [0, 0, 255])).await;
    let id = app.submit_ok(&body_with_url(&url)).await;
    let last = app.wait(&id, Duration::from_secs(120)).await.pop().unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
    app.stop().await;
}

#[tokio::test]
async fn a_fetched_image_that_breaks_a_rule_fails_the_task_naming_it() {
    let app = spawn_app_with(|c| c.allow_private_networks = true).await;
    let url = serve_png(disc_png(64, 64, [0, 0, 255])).await;
    let id = app.submit_ok(&body_with_url(&url)).await;
    let last = app.wait(&id, Duration::from_secs(60)).await.pop().unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_FAILED");
    let reason = last["task"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("subjects[1].images[0]") && reason.contains("128"),
        "{reason}"
    );
    app.stop().await;
}
