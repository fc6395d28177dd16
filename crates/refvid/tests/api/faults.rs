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
