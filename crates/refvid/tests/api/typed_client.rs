//! A client typed like the hosted service's SDKs reads every task-result document refvid sends:
//! queued, running, succeeded, failed, cancelled while queued and cancelled while running.
//!
//! The types follow the hosted contract and its SDKs (Novita's Python SDK types `eta` and
//! `progress_percent` as `int`, `video_url_ttl` as `int`; clients parse the `debug_info`
//! timestamps and `extra.seed` as integers on every poll). Nothing is lenient: an unknown field,
//! a missing one, a float where an integer belongs or an empty string where an integer string
//! belongs fails the parse.

use crate::helpers::*;
use refvid_engine::{Control, Engine, EngineError, FrameSink, Progress, RenderJob};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A string holding a base-10 integer, parsed the way a typed client does (`int(s)`).
fn int_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an integer string")))
}

#[derive(Debug, Deserialize, PartialEq, Clone, Copy)]
enum Status {
    #[serde(rename = "TASK_STATUS_QUEUED")]
    Queued,
    #[serde(rename = "TASK_STATUS_PROCESSING")]
    Processing,
    #[serde(rename = "TASK_STATUS_SUCCEED")]
    Succeed,
    #[serde(rename = "TASK_STATUS_FAILED")]
    Failed,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskResult {
    task: Task,
    extra: Extra,
    images: Vec<ImageOut>,
    videos: Vec<VideoOut>,
    audios: Vec<AudioOut>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Task {
    task_id: String,
    status: Status,
    reason: String,
    task_type: String,
    eta: u64,
    progress_percent: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Extra {
    #[serde(deserialize_with = "int_string")]
    seed: i64,
    enable_nsfw_detection: bool,
    debug_info: DebugInfo,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DebugInfo {
    request_info: String,
    #[serde(deserialize_with = "int_string")]
    submit_time_ms: i64,
    #[serde(deserialize_with = "int_string")]
    execute_time_ms: i64,
    #[serde(deserialize_with = "int_string")]
    complete_time_ms: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageOut {
    #[allow(dead_code)]
    image_url: String,
    #[allow(dead_code)]
    image_url_ttl: i64,
    #[allow(dead_code)]
    image_type: String,
}

#[derive(Debug, Deserialize, PartialEq)]
enum VideoType {
    #[serde(rename = "mp4")]
    Mp4,
    #[serde(rename = "gif")]
    Gif,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VideoOut {
    video_url: String,
    #[serde(deserialize_with = "int_string")]
    video_url_ttl: i64,
    video_type: VideoType,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AudioOut {
    #[allow(dead_code)]
    audio_url: String,
    #[allow(dead_code)]
    audio_url_ttl: String,
    #[allow(dead_code)]
    audio_type: String,
}

/// Holds every job while `hold` is set (stopping when asked), fails a prompt containing
/// `please fail`, and otherwise renders a plain clip.
#[derive(Default)]
struct Gate {
    hold: AtomicBool,
}

impl Engine for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![("engine", "gate".into()), ("model", "gate-v1".into())]
    }

    fn render(
        &self,
        job: &RenderJob,
        sink: &mut dyn FrameSink,
        progress: &mut Progress<'_>,
    ) -> Result<(), EngineError> {
        if job.prompt.contains("please fail") {
            return Err(EngineError::InvalidJob("the prompt asked to fail".into()));
        }
        while self.hold.load(Ordering::SeqCst) {
            if progress(0.25) == Control::Stop {
                return Err(EngineError::Cancelled);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let frame = image::RgbImage::from_pixel(job.width, job.height, image::Rgb([90, 40, 160]));
        for i in 0..job.frame_count {
            sink.push(&frame)?;
            progress((i + 1) as f32 / job.frame_count as f32);
        }
        Ok(())
    }
}

/// Reads the document as a typed client would; the raw text is in the panic message.
async fn typed_result(app: &TestApp, id: &str) -> TaskResult {
    let response = app.result_with(id, &app.key).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let doc: TaskResult = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("a typed client cannot read {text}: {e}"));
    assert_eq!(doc.task.task_id, id);
    assert_eq!(doc.task.task_type, "VIDUQ2_PRO_FAST_REFERENCE_TO_VIDEO");
    assert_eq!(doc.extra.seed, 123);
    assert!(!doc.extra.enable_nsfw_detection);
    assert!(doc.extra.debug_info.submit_time_ms > 1_700_000_000_000);
    assert!(doc.images.is_empty() && doc.audios.is_empty());
    doc
}

/// Polls (typed) until the task reaches `status`.
async fn typed_until(app: &TestApp, id: &str, status: Status) -> TaskResult {
    let start = Instant::now();
    loop {
        let doc = typed_result(app, id).await;
        if doc.task.status == status {
            return doc;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{id} never reached {status:?}: {doc:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn cancel(app: &TestApp, id: &str) {
    let response = app
        .client
        .post(format!("{}/v3/async/task-cancel", app.base))
        .query(&[("task_id", id)])
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn body(prompt: &str) -> Value {
    let mut body = two_subject_body();
    body["prompt"] = json!(prompt);
    body
}

fn assert_not_started(doc: &TaskResult) {
    assert_eq!(doc.extra.debug_info.execute_time_ms, 0, "{doc:?}");
}

fn assert_ended(doc: &TaskResult) {
    let info = &doc.extra.debug_info;
    assert!(info.complete_time_ms >= info.submit_time_ms, "{doc:?}");
    assert_eq!(doc.task.eta, 0);
}

#[tokio::test]
async fn a_typed_client_reads_the_document_in_every_state() {
    let gate = Arc::new(Gate::default());
    gate.hold.store(true, Ordering::SeqCst);
    let app = spawn_app_with(|c| c.engine = Some(gate.clone())).await;

    let running = app.submit_ok(&body("@cat chases @ball")).await;
    let doc = typed_until(&app, &running, Status::Processing).await;
    let info = &doc.extra.debug_info;
    assert!(info.execute_time_ms >= info.submit_time_ms, "{doc:?}");
    assert_eq!(info.complete_time_ms, 0, "running: {doc:?}");
    assert!(doc.videos.is_empty() && doc.task.reason.is_empty());

    let queued = app.submit_ok(&body("@cat waits for @ball")).await;
    let doc = typed_until(&app, &queued, Status::Queued).await;
    assert_not_started(&doc);
    assert_eq!(doc.extra.debug_info.complete_time_ms, 0, "queued: {doc:?}");
    assert_eq!(
        (doc.task.progress_percent, doc.task.reason.as_str()),
        (0, "")
    );
    assert_eq!(doc.extra.debug_info.request_info, "", "queued: {doc:?}");

    cancel(&app, &queued).await;
    let doc = typed_until(&app, &queued, Status::Failed).await;
    assert_eq!(doc.task.reason, "cancelled");
    assert_not_started(&doc);
    assert_ended(&doc);

    gate.hold.store(false, Ordering::SeqCst);
    let doc = typed_until(&app, &running, Status::Succeed).await;
    assert_ended(&doc);
    assert_eq!(doc.task.progress_percent, 100);
    let [video] = doc.videos.as_slice() else {
        panic!("one video: {doc:?}")
    };
    assert_eq!(
        (video.video_type == VideoType::Mp4, video.video_url_ttl),
        (true, 3600)
    );
    assert!(!app.download(&video.video_url).await.is_empty());
    let info: Value = serde_json::from_str(&doc.extra.debug_info.request_info).unwrap();
    assert_eq!(info, json!({"engine": "gate", "model": "gate-v1"}));

    let failing = app.submit_ok(&body("@cat please fail @ball")).await;
    let doc = typed_until(&app, &failing, Status::Failed).await;
    assert!(doc.task.reason.contains("asked to fail"), "{doc:?}");
    assert!(doc.extra.debug_info.execute_time_ms > 0);
    assert_ended(&doc);

    gate.hold.store(true, Ordering::SeqCst);
    let stopped = app.submit_ok(&body("@cat runs from @ball")).await;
    typed_until(&app, &stopped, Status::Processing).await;
    cancel(&app, &stopped).await;
    let doc = typed_until(&app, &stopped, Status::Failed).await;
    assert_eq!(doc.task.reason, "cancelled");
    assert!(doc.extra.debug_info.execute_time_ms > 0);
    assert_ended(&doc);
    gate.hold.store(false, Ordering::SeqCst);
    app.stop().await;
}
