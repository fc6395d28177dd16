//! Starting a server for a test and talking to it; the tiny random-weight models of
//! `refvid-wan`'s fixtures and the request file that `refvid generate` tests render.

use base64::Engine as _;
use image::{Rgba, RgbaImage};
use refvid::engines::{EngineChoice, EngineKind, ModelFlags};
use refvid::{RunningServer, ServeConfig};
use serde_json::{Value, json};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct TestApp {
    pub base: String,
    pub key: String,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    server: Option<RunningServer>,
}

pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub fn test_config(dir: &std::path::Path) -> ServeConfig {
    let mut config = ServeConfig::new(dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.lease = Duration::from_secs(3);
    config.heartbeat = Duration::from_millis(200);
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = test_config(data_dir.path());
    adjust(&mut config);
    let store = refvid::open_store(data_dir.path()).await.unwrap();
    let key = refvid::keys_cmd::create_key(&store, data_dir.path(), "test")
        .await
        .unwrap();
    store.close().await;
    let server = refvid::start(config).await.unwrap();
    TestApp {
        base: format!("http://{}", server.addr),
        key,
        client: http_client(),
        data_dir,
        server: Some(server),
    }
}

impl TestApp {
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    pub async fn post_raw(
        &self,
        body: Vec<u8>,
        content_type: &str,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/v3/async/viduq2-pro-fast", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap()
    }

    pub async fn submit(&self, body: &Value) -> reqwest::Response {
        self.post_raw(
            serde_json::to_vec(body).unwrap(),
            "application/json",
            Some(&self.key),
        )
        .await
    }

    /// Submits and returns the task id, asserting success.
    pub async fn submit_ok(&self, body: &Value) -> String {
        let response = self.submit(body).await;
        let status = response.status();
        let doc: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{doc}");
        doc["task_id"].as_str().unwrap().to_string()
    }

    pub async fn result_with(&self, id: &str, key: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/v3/async/task-result", self.base))
            .query(&[("task_id", id)])
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    pub async fn result(&self, id: &str) -> Value {
        let response = self.result_with(id, &self.key).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Polls until the task is terminal; returns every document seen, the last one terminal.
    pub async fn wait(&self, id: &str, limit: Duration) -> Vec<Value> {
        wait_for(limit, &self.client, &self.base, &self.key, id).await
    }

    pub async fn download(&self, url: &str) -> Vec<u8> {
        let response = self.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200, "downloading {url}");
        response.bytes().await.unwrap().to_vec()
    }

    /// Waits for task `id` to succeed (asserting it does); its `request_info` and its video.
    pub async fn finished(&self, id: &str) -> (Value, Vec<u8>) {
        let seen = self.wait(id, Duration::from_secs(300)).await;
        let last = seen.last().unwrap();
        assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
        let info = last["extra"]["debug_info"]["request_info"]
            .as_str()
            .unwrap();
        let url = last["videos"][0]["video_url"].as_str().unwrap();
        (
            serde_json::from_str(info).unwrap(),
            self.download(url).await,
        )
    }
}

/// A folder of `refvid-wan`'s test fixtures (tiny random-weight models and their inputs).
pub fn wan_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../refvid-wan/tests/fixtures")
        .join(name)
}

/// Engine `kind` on the tiny fixture model `name` at its native 64×48 with 2 steps; `adjust`
/// sets the rest of the flags.
pub fn tiny_engine(
    kind: EngineKind,
    name: &str,
    adjust: impl FnOnce(&mut ModelFlags),
) -> EngineChoice {
    let mut model = ModelFlags {
        model_dir: Some(wan_fixture(name)),
        steps: Some(2),
        wan_size: Some((64, 48)),
        ..Default::default()
    };
    adjust(&mut model);
    EngineChoice {
        kind,
        model,
        ..Default::default()
    }
}

/// Writes `request.json` (a 1-second, 1:1, seed-3 "@cat waves" with one local image) into
/// `dir` for `refvid generate`; returns its path.
pub fn cat_request(dir: &Path) -> PathBuf {
    let cat = dir.join("cat.png");
    std::fs::write(&cat, disc_png(200, 160, [200, 90, 40])).unwrap();
    let request = dir.join("request.json");
    let body = json!({
        "prompt": "@cat waves", "duration": 1, "seed": 3, "aspect_ratio": "1:1",
        "subjects": [{"name": "cat", "images": [cat]}]
    });
    std::fs::write(&request, body.to_string()).unwrap();
    request
}

pub async fn wait_for(
    limit: Duration,
    client: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
) -> Vec<Value> {
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        let response = client
            .get(format!("{base}/v3/async/task-result"))
            .query(&[("task_id", id)])
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let doc: Value = response.json().await.unwrap();
        let status = doc["task"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        seen.push(doc);
        if status == "TASK_STATUS_SUCCEED" || status == "TASK_STATUS_FAILED" {
            return seen;
        }
        assert!(
            start.elapsed() < limit,
            "task {id} not done after {limit:?}: {}",
            seen.last().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `w×h` PNG of a filled disc of `color` on white, as bytes.
pub fn disc_png(w: u32, h: u32, color: [u8; 3]) -> Vec<u8> {
    let (cx, cy, r) = (w as f32 / 2.0, h as f32 / 2.0, w.min(h) as f32 * 0.4);
    let image = RgbaImage::from_fn(w, h, |x, y| {
        let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
        if d < r {
            Rgba([color[0], color[1], color[2], 255])
        } else {
            Rgba([255, 255, 255, 255])
        }
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

pub fn data_uri(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

pub fn disc_uri(color: [u8; 3]) -> String {
    data_uri(&disc_png(160, 160, color))
}

/// The seed's request shape with two subjects given as data URIs.
pub fn two_subject_body() -> Value {
    json!({
        "prompt": "@cat chases @ball across the lawn",
        "duration": 1,
        "seed": 123,
        "subjects": [
            {"name": "cat", "images": [disc_uri([200, 120, 40])]},
            {"name": "ball", "images": [disc_uri([30, 60, 220])], "voice_id": "v1"}
        ],
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "movement_amplitude": "auto"
    })
}

/// The audio track of an MP4 decoded to interleaved PCM: `(sample_rate, channels, samples)`,
/// or `None` when the file has no audio track.
pub fn decode_audio(bytes: &[u8]) -> Option<(u32, u16, Vec<f32>)> {
    let mut reader = mp4::Mp4Reader::read_header(Cursor::new(bytes), bytes.len() as u64).unwrap();
    let track = reader
        .tracks()
        .values()
        .find(|t| matches!(t.track_type(), Ok(mp4::TrackType::Audio)))?;
    let (id, count) = (track.track_id(), track.sample_count());
    let rate = track.sample_freq_index().unwrap().freq();
    let channels = track.channel_config().unwrap() as u16;
    let mut decoder = rusty_aac::AacDecoder::new();
    let mut pcm = Vec::new();
    for sample_id in 1..=count {
        let sample = reader.read_sample(id, sample_id).unwrap().unwrap();
        let header = rusty_aac::AdtsHeader {
            object_type: 2,
            sample_rate: rate,
            channels,
            frame_length: sample.bytes.len() + 7,
            header_len: 7,
        };
        let mut frame = rusty_aac::write_adts_header(&header);
        frame.extend_from_slice(&sample.bytes);
        pcm.extend(decoder.decode(&frame, None).unwrap().samples);
    }
    Some((rate, channels, pcm))
}

pub fn rms(samples: &[f32]) -> f32 {
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
}
