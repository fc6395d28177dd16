//! API keys: required, checked, stored hashed, usable at once by a running server; tasks are
//! private to the key that made them.

use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn requests_without_a_valid_key_are_401() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let body = serde_json::to_vec(&two_subject_body()).unwrap();
    for key in [None, Some("rv_wrong"), Some("")] {
        let response = app.post_raw(body.clone(), "application/json", key).await;
        assert_eq!(response.status(), 401);
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["reason"], "FAILED_TO_AUTH");
        assert_eq!(doc["code"], 401);
    }
    let response = app.result_with("whatever", "rv_wrong").await;
    assert_eq!(response.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn keys_are_stored_only_as_digests() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let db = std::fs::read(app.data_dir.path().join("refvid.db")).unwrap();
    let wal = std::fs::read(app.data_dir.path().join("refvid.db-wal")).unwrap_or_default();
    let secret = app.key.trim_start_matches("rv_").as_bytes();
    use sha2::Digest as _;
    let unpeppered = hex::encode(sha2::Sha256::digest(app.key.as_bytes()));
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "the key is stored in clear"
        );
        let plain = unpeppered.as_bytes();
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain),
            "an unpeppered digest is stored"
        );
    }
    let pepper = std::fs::metadata(app.data_dir.path().join("key-pepper")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        pepper.permissions().mode() & 0o077,
        0,
        "the pepper is readable by the owner only"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_key_created_by_the_cli_works_on_a_running_server() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args(["keys", "create", "--name", "second", "--data-dir"])
        .arg(app.data_dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let key = stdout.lines().last().unwrap().trim().to_string();
    assert!(key.starts_with("rv_"));
    let response = app
        .post_raw(
            serde_json::to_vec(&two_subject_body()).unwrap(),
            "application/json",
            Some(&key),
        )
        .await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn unknown_and_foreign_task_ids_are_404() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let id = app.submit_ok(&two_subject_body()).await;
    let store = refvid::open_store(app.data_dir.path()).await.unwrap();
    let other = refvid::keys_cmd::create_key(&store, app.data_dir.path(), "other")
        .await
        .unwrap();
    for (task, key) in [
        (id.as_str(), other.as_str()),
        ("00000000-0000-0000-0000-000000000000", app.key.as_str()),
    ] {
        let response = app.result_with(task, key).await;
        assert_eq!(response.status(), 404);
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["reason"], "TASK_NOT_FOUND");
        assert_eq!(doc["code"], 404);
    }
    let missing = app
        .client
        .get(format!("{}/v3/async/task-result", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let doc: Value = missing.json().await.unwrap();
    assert_eq!(doc["metadata"]["field"], "task_id");
    app.stop().await;
}

#[tokio::test]
async fn a_queued_task_reports_the_full_document() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let id = app.submit_ok(&two_subject_body()).await;
    let doc = app.result(&id).await;
    assert_eq!(doc["task"]["task_id"], id.as_str());
    assert_eq!(doc["task"]["status"], "TASK_STATUS_QUEUED");
    assert_eq!(
        doc["task"]["task_type"],
        "VIDUQ2_PRO_FAST_REFERENCE_TO_VIDEO"
    );
    assert_eq!(doc["task"]["reason"], "");
    assert_eq!(doc["task"]["progress_percent"], 0);
    assert!(doc["task"]["eta"].is_u64());
    assert_eq!(doc["extra"]["seed"], "123");
    assert_eq!(doc["extra"]["enable_nsfw_detection"], false);
    assert!(
        doc["extra"]["debug_info"]["submit_time_ms"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 1_700_000_000_000
    );
    assert_eq!(doc["extra"]["debug_info"]["execute_time_ms"], "0");
    assert_eq!(doc["extra"]["debug_info"]["complete_time_ms"], "0");
    for key in ["images", "videos", "audios"] {
        assert_eq!(doc[key], Value::Array(vec![]), "{key}");
    }
    assert_eq!(doc.as_object().unwrap().len(), 5);
    app.stop().await;
}

#[tokio::test]
async fn a_missing_seed_is_replaced_by_a_reported_random_one() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let mut body = two_subject_body();
    body["seed"] = serde_json::json!(0);
    let id = app.submit_ok(&body).await;
    let seed: u64 = app.result(&id).await["extra"]["seed"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2147483647).contains(&seed));
    app.stop().await;
}

#[tokio::test]
async fn a_key_over_its_active_task_quota_gets_429() {
    let app = spawn_app_with(|c| {
        c.workers = 0;
        c.max_active_per_key = 2;
    })
    .await;
    app.submit_ok(&two_subject_body()).await;
    let second = app.submit_ok(&two_subject_body()).await;
    let response = app.submit(&two_subject_body()).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["reason"], "RATE_LIMIT_EXCEEDED");
    let cancel = app
        .client
        .post(format!("{}/v3/async/task-cancel", app.base))
        .query(&[("task_id", second.as_str())])
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    let doc: Value = cancel.json().await.unwrap();
    assert_eq!(doc["task"]["status"], "TASK_STATUS_FAILED");
    assert_eq!(doc["task"]["reason"], "cancelled");
    app.submit_ok(&two_subject_body()).await;
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args(["keys", "revoke", "test", "--data-dir"])
        .arg(app.data_dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let response = app.submit(&two_subject_body()).await;
    assert_eq!(response.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_key_over_its_request_rate_gets_429_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.workers = 0;
        c.rate_limit = refvid_server::rate_limit::RateLimit {
            per_minute: 60,
            burst: 5,
        };
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.result_with("nope", &app.key).await);
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(&codes[..5], &[404; 5]);
    let limited = statuses.pop().unwrap();
    assert_eq!(limited.status(), 429);
    assert!(
        limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let doc: Value = limited.json().await.unwrap();
    assert_eq!(doc["reason"], "RATE_LIMIT_EXCEEDED");
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let response = app.submit(&two_subject_body()).await;
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
    let echoed = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "client-chosen-1")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-chosen-1");
    app.stop().await;
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.workers = 0;
        c.max_queue_depth = 2;
    })
    .await;
    app.submit_ok(&two_subject_body()).await;
    app.submit_ok(&two_subject_body()).await;
    let response = app.submit(&two_subject_body()).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["reason"], "SERVICE_NOT_AVAILABLE");
    app.stop().await;
}
