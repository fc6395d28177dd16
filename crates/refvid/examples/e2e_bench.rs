//! Wall time of whole tasks through the real server: submit, render, encode, store, poll.
//!
//! `cargo run --release -p refvid --example e2e_bench`

use base64::Engine as _;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn disc(color: [u8; 3]) -> String {
    let img = image::RgbaImage::from_fn(400, 400, |x, y| {
        let d = ((x as f32 - 200.0).powi(2) + (y as f32 - 200.0).powi(2)).sqrt();
        if d < 150.0 {
            image::Rgba([color[0], color[1], color[2], 255])
        } else {
            image::Rgba([255, 255, 255, 255])
        }
    });
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png.into_inner())
    )
}

async fn run(client: &reqwest::Client, base: &str, key: &str, body: &Value) -> (Duration, Value) {
    let start = Instant::now();
    let response = client
        .post(format!("{base}/v3/async/viduq2-pro-fast"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    let answer = response.json::<Value>().await.unwrap();
    let id = answer["task_id"]
        .as_str()
        .unwrap_or_else(|| panic!("refused: {answer}"))
        .to_string();
    loop {
        let doc: Value = client
            .get(format!("{base}/v3/async/task-result"))
            .query(&[("task_id", &id)])
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if doc["task"]["status"] == "TASK_STATUS_SUCCEED"
            || doc["task"]["status"] == "TASK_STATUS_FAILED"
        {
            return (start.elapsed(), doc);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let store = refvid::open_store(dir.path()).await.unwrap();
    let key = refvid::keys_cmd::create_key(&store, dir.path(), "bench")
        .await
        .unwrap();
    let mut config = refvid::ServeConfig::new(dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.heartbeat = Duration::from_millis(100);
    let server = refvid::start(config).await.unwrap();
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let cases = [
        (
            "5 s 720p 16:9",
            json!({"resolution": "720p", "duration": 5}),
        ),
        (
            "5 s 1080p 16:9",
            json!({"resolution": "1080p", "duration": 5}),
        ),
        (
            "5 s 1080p bgm+audio+watermark",
            json!({"resolution": "1080p", "duration": 5, "bgm": true, "audio": true, "watermark": true}),
        ),
        (
            "10 s 1080p 9:16",
            json!({"resolution": "1080p", "duration": 10, "aspect_ratio": "9:16"}),
        ),
    ];
    for (name, extra) in cases {
        let mut body = json!({
            "prompt": "@cat chases @ball across the lawn", "seed": 7,
            "subjects": [{"name": "cat", "images": [disc([200, 120, 40])]}, {"name": "ball", "images": [disc([30, 60, 220])]}]
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (wall, doc) = run(&client, &base, &key, &body).await;
        let debug = &doc["extra"]["debug_info"];
        let ms = |k: &str| debug[k].as_str().unwrap_or("0").parse::<i64>().unwrap_or(0);
        println!(
            "{name}: {} in {:.2} s wall (queue {} ms, execute {} ms)",
            doc["task"]["status"].as_str().unwrap(),
            wall.as_secs_f64(),
            ms("execute_time_ms") - ms("submit_time_ms"),
            ms("complete_time_ms") - ms("execute_time_ms")
        );
    }
    server.stop().await;
}
