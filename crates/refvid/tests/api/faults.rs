//! Faults: an engine that panics or hangs fails its task with a reason and the worker lives on;
//! deeply nested JSON is refused cleanly.

use crate::helpers::*;
use refvid_engine::{Engine, EngineError, FrameSink, Progress, RenderJob};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Panics on its first task, hangs (until stopped) on its second, renders a plain clip after.
#[derive(Default)]
struct Troublesome {
    calls: AtomicU32,
}

impl Engine for Troublesome {
    fn name(&self) -> &'static str {
        "troublesome"
    }

    fn render(
        &self,
        job: &RenderJob,
        sink: &mut dyn FrameSink,
        progress: &mut Progress<'_>,
    ) -> Result<(), EngineError> {
        match self.calls.fetch_add(1, Ordering::SeqCst) {
            0 => panic!("simulated engine bug"),
            1 => loop {
                if progress(0.1) == refvid_engine::Control::Stop {
                    return Err(EngineError::Cancelled);
                }
                std::thread::sleep(Duration::from_millis(20));
            },
            _ => {
                let frame =
                    image::RgbImage::from_pixel(job.width, job.height, image::Rgb([40, 90, 160]));
                for i in 0..job.frame_count {
                    sink.push(&frame)?;
                    progress((i + 1) as f32 / job.frame_count as f32);
                }
                Ok(())
            }
        }
    }
}

#[tokio::test]
async fn a_panicking_or_hanging_engine_fails_the_task_and_the_worker_goes_on() {
    let app = spawn_app_with(|c| {
        c.engine = Some(Arc::new(Troublesome::default()));
        c.task_timeout = Duration::from_secs(2);
    })
    .await;
    let mut reasons = Vec::new();
    for _ in 0..2 {
        let id = app.submit_ok(&two_subject_body()).await;
        let last = app.wait(&id, Duration::from_secs(60)).await.pop().unwrap();
        assert_eq!(last["task"]["status"], "TASK_STATUS_FAILED", "{last}");
        reasons.push(last["task"]["reason"].as_str().unwrap().to_string());
    }
    assert!(
        reasons[0].contains("failed unexpectedly") && !reasons[0].contains("simulated"),
        "no internals: {}",
        reasons[0]
    );
    assert!(reasons[1].contains("longer than"), "{}", reasons[1]);
    let id = app.submit_ok(&two_subject_body()).await;
    let last = app.wait(&id, Duration::from_secs(60)).await.pop().unwrap();
    assert_eq!(
        last["task"]["status"], "TASK_STATUS_SUCCEED",
        "the worker survived: {last}"
    );
    app.stop().await;
}

#[tokio::test]
async fn deeply_nested_json_is_a_400_not_a_crash() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let mut body = "[".repeat(10_000);
    body.push_str(&"]".repeat(10_000));
    let wrapped = format!("{{\"prompt\": \"x\", \"extra\": {body}}}");
    let response = app
        .post_raw(wrapped.into_bytes(), "application/json", Some(&app.key))
        .await;
    assert_eq!(response.status(), 400);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["reason"], "INVALID_REQUEST_BODY");
    assert_eq!(
        app.submit(&json!({"prompt": "still alive", "images": [disc_uri([1, 2, 3])]}))
            .await
            .status(),
        200
    );
    app.stop().await;
}

/// Mounts a tiny tmpfs at `dir`; `None` when this machine does not allow mounts.
fn tiny_disk(dir: &std::path::Path, size: &str) -> Option<()> {
    std::fs::create_dir_all(dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
    }
    ok.then_some(())
}

#[tokio::test]
async fn a_full_disk_fails_the_task_clearly_and_the_server_keeps_serving() {
    let app = spawn_app_with(|c| c.retry_backoff = Duration::from_millis(100)).await;
    let outputs = app.data_dir.path().join("outputs");
    if tiny_disk(&outputs, "8k").is_none() {
        return app.stop().await;
    }
    let id = app.submit_ok(&two_subject_body()).await;
    let last = app.wait(&id, Duration::from_secs(120)).await.pop().unwrap();
    let _ = std::process::Command::new("umount").arg(&outputs).status();
    assert_eq!(last["task"]["status"], "TASK_STATUS_FAILED", "{last}");
    let reason = last["task"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("storing the video failed") && reason.contains("No space left"),
        "{reason}"
    );
    let id = app.submit_ok(&two_subject_body()).await;
    let last = app.wait(&id, Duration::from_secs(120)).await.pop().unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_store_is_503_and_recovers_without_a_restart() {
    let admin_url = std::env::var("REFVID_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let Ok(admin) = sqlx::PgPool::connect(&admin_url).await else {
        assert_eq!(
            std::env::var("REFVID_SKIP_POSTGRES").as_deref(),
            Ok("1"),
            "no PostgreSQL; set REFVID_SKIP_POSTGRES=1 to skip"
        );
        return;
    };
    let name = format!("refvid_fault_{}", std::process::id());
    let sql = |s: String| sqlx::raw_sql(sqlx::AssertSqlSafe(s));
    sql(format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&admin)
        .await
        .unwrap();
    sql(format!("DROP DATABASE IF EXISTS {name}_off"))
        .execute(&admin)
        .await
        .unwrap();
    sql(format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let db_url = format!("{}/{name}", &admin_url[..admin_url.rfind('/').unwrap()]);
    let app = spawn_app_with(|c| {
        c.workers = 0;
        c.database_url = Some(db_url.clone());
    })
    .await;
    let store = refvid::connect_store(Some(&db_url), app.data_dir.path())
        .await
        .unwrap();
    let key = refvid::keys_cmd::create_key(store.as_ref(), app.data_dir.path(), "pg")
        .await
        .unwrap();
    let submit = |key: String| {
        let (client, base) = (app.client.clone(), app.base.clone());
        async move {
            client
                .post(format!("{base}/v3/async/viduq2-pro-fast"))
                .bearer_auth(key)
                .json(&two_subject_body())
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(submit(key.clone()).await.status(), 200);
    // Take the database away: end its sessions and rename it, retrying if a connection races in.
    let mut renamed = false;
    for _ in 0..50 {
        sql(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .execute(&admin)
        .await
        .unwrap();
        if sql(format!("ALTER DATABASE {name} RENAME TO {name}_off"))
            .execute(&admin)
            .await
            .is_ok()
        {
            renamed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(renamed, "could not take the database away");
    let down = submit(key.clone()).await;
    assert_eq!(down.status(), 503);
    assert!(down.headers().contains_key("retry-after"));
    let doc: serde_json::Value = down.json().await.unwrap();
    assert_eq!(doc["reason"], "SERVICE_NOT_AVAILABLE");
    assert!(
        !doc["message"].as_str().unwrap().contains(&name),
        "no internals in a 5xx: {doc}"
    );
    assert_eq!(
        app.client
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    sql(format!("ALTER DATABASE {name}_off RENAME TO {name}"))
        .execute(&admin)
        .await
        .unwrap();
    assert_eq!(
        submit(key.clone()).await.status(),
        200,
        "recovered without a restart"
    );
    assert_eq!(
        app.client
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop().await;
}
