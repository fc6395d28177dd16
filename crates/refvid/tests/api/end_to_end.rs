//! Submit, generate, poll, download, decode: the whole path of one request.

use crate::helpers::*;
use refvid_media::probe_mp4;
use serde_json::{Value, json};
use std::time::Duration;

async fn render_and_check(
    app: &TestApp,
    body: Value,
    width: u32,
    height: u32,
    seconds: u32,
) -> Vec<u8> {
    let id = app.submit_ok(&body).await;
    let seen = app.wait(&id, Duration::from_secs(240)).await;
    let last = seen.last().unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
    assert_eq!(last["task"]["progress_percent"], 100);
    assert_eq!(last["task"]["eta"], 0);
    let debug = &last["extra"]["debug_info"];
    let times: Vec<u64> = ["submit_time_ms", "execute_time_ms", "complete_time_ms"]
        .iter()
        .map(|k| debug[k].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times[0] <= times[1] && times[1] <= times[2], "{debug}");
    let video = &last["videos"][0];
    assert_eq!(video["video_type"], "mp4");
    assert_eq!(video["video_url_ttl"], "3600");
    let bytes = app.download(video["video_url"].as_str().unwrap()).await;
    let probe = probe_mp4(&bytes).unwrap();
    assert_eq!((probe.width, probe.height), (width, height));
    assert_eq!(probe.frame_count, seconds * 24);
    assert!(
        (probe.duration_secs - seconds as f64).abs() <= 1.0 / 24.0 + 1e-6,
        "{}",
        probe.duration_secs
    );
    assert!(probe.fast_start, "moov must precede mdat");
    bytes
}

#[tokio::test]
async fn a_two_subject_request_becomes_a_720p_landscape_video() {
    let app = spawn_app().await;
    let mut body = two_subject_body();
    body["duration"] = json!(2);
    let id = app.submit_ok(&body).await;
    let seen = app.wait(&id, Duration::from_secs(240)).await;
    let statuses: Vec<&str> = seen
        .iter()
        .map(|d| d["task"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(*statuses.last().unwrap(), "TASK_STATUS_SUCCEED");
    let progress: Vec<u64> = seen
        .iter()
        .map(|d| d["task"]["progress_percent"].as_u64().unwrap())
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress went backwards: {progress:?}"
    );
    render_and_check(&app, body, 1280, 720, 2).await;
    let cover = app.data_dir.path().join(format!("outputs/covers/{id}.jpg"));
    let cover = image::open(&cover).expect("a JPEG cover frame is stored beside the video");
    assert_eq!((cover.width(), cover.height()), (1280, 720));
    app.stop().await;
}

#[tokio::test]
async fn a_1080p_portrait_request_has_the_portrait_geometry() {
    let app = spawn_app().await;
    let mut body = two_subject_body();
    body["resolution"] = json!("1080p");
    body["aspect_ratio"] = json!("9:16");
    render_and_check(&app, body, 1080, 1920, 1).await;
    app.stop().await;
}

#[tokio::test]
async fn non_subject_mode_and_odd_ratios_render() {
    let app = spawn_app().await;
    let body = json!({
        "prompt": "@1 meets @2", "duration": 1, "aspect_ratio": "21:9",
        "images": [disc_uri([250, 0, 0]), disc_uri([0, 250, 0])]
    });
    render_and_check(&app, body, 1680, 720, 1).await;
    app.stop().await;
}

#[tokio::test]
async fn the_same_seed_gives_the_same_video() {
    let app = spawn_app().await;
    let first = render_and_check(&app, two_subject_body(), 1280, 720, 1).await;
    let second = render_and_check(&app, two_subject_body(), 1280, 720, 1).await;
    assert!(
        first == second,
        "same request and seed gave different bytes"
    );
    let mut other = two_subject_body();
    other["seed"] = json!(124);
    let third = render_and_check(&app, other, 1280, 720, 1).await;
    assert!(first != third, "a different seed gave the same video");
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_tasks_by_status_and_requests_by_latency() {
    let app = spawn_app().await;
    let id = app.submit_ok(&two_subject_body()).await;
    app.wait(&id, Duration::from_secs(120)).await;
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("refvid_tasks{status=\"TASK_STATUS_SUCCEED\"} 1"),
        "{text}"
    );
    assert!(text.contains("refvid_queue_depth 0"), "{text}");
    assert!(text.contains("refvid_tasks_submitted_total 1"), "{text}");
    let count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("refvid_http_request_duration_seconds_count "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(count >= 2, "{text}");
    for stage in ["fetch", "generate", "encode", "upload"] {
        let line = format!("refvid_task_stage_duration_seconds_count{{stage=\"{stage}\"}} 1");
        assert!(text.contains(&line), "{line} missing in\n{text}");
    }
    assert!(
        text.contains("refvid_worker_tasks_total{outcome=\"succeeded\"} 1"),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_extreme_ratios_render_at_both_resolutions() {
    let app = spawn_app().await;
    for (resolution, ratio, w, h) in [
        ("720p", "1:4", 720, 2880),
        ("720p", "4:1", 2880, 720),
        ("1080p", "4:1", 4320, 1080),
        ("1080p", "1:4", 1080, 4320),
    ] {
        let mut body = two_subject_body();
        body["resolution"] = json!(resolution);
        body["aspect_ratio"] = json!(ratio);
        render_and_check(&app, body, w, h, 1).await;
    }
    app.stop().await;
}
