//! `extra.debug_info.request_info`: `""` until a task ends, then what rendered it as a JSON
//! object string (here the compositor engine's own description).

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

fn request_info(doc: &Value) -> &str {
    doc["extra"]["debug_info"]["request_info"].as_str().unwrap()
}

#[tokio::test]
async fn a_finished_task_says_which_engine_rendered_it() {
    let app = spawn_app().await;
    let id = app.submit_ok(&two_subject_body()).await;
    let seen = app.wait(&id, Duration::from_secs(120)).await;
    let (last, before) = seen.split_last().unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
    assert!(
        before.iter().all(|doc| request_info(doc).is_empty()),
        "empty until the task ends: {before:?}"
    );
    assert_eq!(request_info(last), r#"{"engine":"compositor"}"#);
    let parsed: Value = serde_json::from_str(request_info(last)).unwrap();
    assert_eq!(parsed, json!({"engine": "compositor"}));
    app.stop().await;
}

#[tokio::test]
async fn a_failed_task_says_so_too_and_a_cancelled_queued_one_stays_empty() {
    let app = spawn_app().await;
    let mut body = two_subject_body();
    body["subjects"][1]["images"] = json!(["http://127.0.0.1:9/ball.png"]);
    let id = app.submit_ok(&body).await;
    let last = app.wait(&id, Duration::from_secs(60)).await.pop().unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_FAILED", "{last}");
    assert_eq!(request_info(&last), r#"{"engine":"compositor"}"#);
    app.stop().await;

    let idle = spawn_app_with(|c| c.workers = 0).await;
    let id = idle.submit_ok(&two_subject_body()).await;
    let cancelled = idle
        .client
        .post(format!("{}/v3/async/task-cancel", idle.base))
        .query(&[("task_id", id.as_str())])
        .bearer_auth(&idle.key)
        .send()
        .await
        .unwrap();
    let doc: Value = cancelled.json().await.unwrap();
    assert_eq!(doc["task"]["reason"], "cancelled");
    assert_eq!(request_info(&doc), "", "no worker ever described it");
    idle.stop().await;
}
