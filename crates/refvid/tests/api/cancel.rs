//! Cancelling a running task: it ends FAILED "cancelled", the worker stops and moves on.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_running_task_can_be_cancelled_and_the_worker_moves_on() {
    let app = spawn_app().await;
    let mut long = two_subject_body();
    long["duration"] = json!(10);
    long["resolution"] = json!("1080p");
    let id = app.submit_ok(&long).await;
    let start = Instant::now();
    while app.result(&id).await["task"]["status"] != "TASK_STATUS_PROCESSING" {
        assert!(start.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = app
        .client
        .post(format!("{}/v3/async/task-cancel", app.base))
        .query(&[("task_id", id.as_str())])
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(
        (
            doc["task"]["status"].as_str(),
            doc["task"]["reason"].as_str()
        ),
        (Some("TASK_STATUS_FAILED"), Some("cancelled"))
    );
    let next = app.submit_ok(&two_subject_body()).await;
    let last = app
        .wait(&next, Duration::from_secs(120))
        .await
        .pop()
        .unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
    let cancelled = app.result(&id).await;
    assert_eq!(
        cancelled["task"]["reason"], "cancelled",
        "the worker must not overwrite a cancellation"
    );
    assert_eq!(cancelled["videos"], json!([]));
    app.stop().await;
}
