//! The client side of the CLI: `refvid submit`, `refvid status`, `refvid wait`.
//!
//! Talks to any server speaking the API (ours or the hosted one). Local image files become data
//! URIs; URLs are passed on. Progress is drawn from `progress_percent`; errors are printed from
//! the error envelope with the field they name.

use anyhow::{Context, bail};
use base64::Engine as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the server is and who we are.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub server: String,
    pub api_key: String,
}

impl Endpoint {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// A request body from a JSON file (or none) plus command-line fields; files become data URIs.
pub fn build_request(file: Option<&Path>, fields: &RequestFields) -> anyhow::Result<Value> {
    let mut body = match file {
        Some(path) => serde_json::from_slice(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{} is not JSON", path.display()))?,
        None => json!({}),
    };
    fields.apply(&mut body)?;
    inline_local_images(&mut body)?;
    Ok(body)
}

/// Request fields given as flags.
#[derive(Debug, Clone, Default)]
pub struct RequestFields {
    pub prompt: Option<String>,
    /// `name=img1,img2`
    pub subjects: Vec<String>,
    pub images: Vec<String>,
    pub duration: Option<u32>,
    pub resolution: Option<String>,
    pub aspect_ratio: Option<String>,
    pub movement_amplitude: Option<String>,
    pub seed: Option<u32>,
    pub bgm: bool,
    pub audio: bool,
    pub watermark: bool,
}

impl RequestFields {
    fn apply(&self, body: &mut Value) -> anyhow::Result<()> {
        let set = |body: &mut Value, key: &str, value: Value| body[key] = value;
        if let Some(p) = &self.prompt {
            set(body, "prompt", json!(p));
        }
        if let Some(d) = self.duration {
            set(body, "duration", json!(d));
        }
        if let Some(r) = &self.resolution {
            set(body, "resolution", json!(r));
        }
        if let Some(a) = &self.aspect_ratio {
            set(body, "aspect_ratio", json!(a));
        }
        if let Some(m) = &self.movement_amplitude {
            set(body, "movement_amplitude", json!(m));
        }
        if let Some(s) = self.seed {
            set(body, "seed", json!(s));
        }
        for (flag, key) in [
            (self.bgm, "bgm"),
            (self.audio, "audio"),
            (self.watermark, "watermark"),
        ] {
            if flag {
                set(body, key, json!(true));
            }
        }
        if !self.subjects.is_empty() {
            let subjects: anyhow::Result<Vec<Value>> =
                self.subjects.iter().map(|s| parse_subject(s)).collect();
            set(body, "subjects", Value::Array(subjects?));
        }
        if !self.images.is_empty() {
            set(body, "images", json!(self.images));
        }
        Ok(())
    }
}

fn parse_subject(text: &str) -> anyhow::Result<Value> {
    let (name, images) = text
        .split_once('=')
        .context("--subject takes name=image1,image2")?;
    let images: Vec<&str> = images.split(',').filter(|s| !s.is_empty()).collect();
    Ok(json!({"name": name, "images": images}))
}

/// Replaces image entries that are local files by data URIs.
fn inline_local_images(body: &mut Value) -> anyhow::Result<()> {
    let Some(obj) = body.as_object_mut() else {
        return Ok(());
    };
    for (key, value) in obj.iter_mut() {
        match key.as_str() {
            "images" => inline_list(value)?,
            "subjects" => {
                for subject in value.as_array_mut().into_iter().flatten() {
                    if let Some(images) = subject.get_mut("images") {
                        inline_list(images)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn inline_list(list: &mut Value) -> anyhow::Result<()> {
    for image in list.as_array_mut().into_iter().flatten() {
        if let Some(path) = image
            .as_str()
            .filter(|s| !s.starts_with("data:") && !s.contains("://"))
        {
            *image = json!(data_uri(Path::new(path))?);
        }
    }
    Ok(())
}

fn data_uri(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading image {}", path.display()))?;
    let mime = match bytes.get(..4) {
        Some([0x89, b'P', b'N', b'G']) => "image/png",
        Some([0xFF, 0xD8, _, _]) => "image/jpeg",
        Some([b'R', b'I', b'F', b'F']) => "image/webp",
        _ => bail!("{} is not a PNG, JPEG or WebP image", path.display()),
    };
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Turns an error answer into a message naming the reason and field.
async fn check(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let field = body["metadata"]["field"]
        .as_str()
        .filter(|f| !f.is_empty())
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    bail!(
        "the server refused the request: {} {}{field}: {}",
        status.as_u16(),
        body["reason"].as_str().unwrap_or("ERROR"),
        body["message"].as_str().unwrap_or("no message")
    )
}

/// Submits a request; returns the task id.
pub async fn submit(endpoint: &Endpoint, body: &Value) -> anyhow::Result<String> {
    let response = client()?
        .post(endpoint.url("/v3/async/viduq2-pro-fast"))
        .bearer_auth(&endpoint.api_key)
        .json(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", endpoint.server))?;
    let doc = check(response).await?;
    Ok(doc["task_id"]
        .as_str()
        .context("the answer has no task_id")?
        .to_string())
}

/// The task-result document.
pub async fn status(endpoint: &Endpoint, task_id: &str) -> anyhow::Result<Value> {
    let response = client()?
        .get(endpoint.url("/v3/async/task-result"))
        .query(&[("task_id", task_id)])
        .bearer_auth(&endpoint.api_key)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", endpoint.server))?;
    check(response).await
}

/// Polls with a progress bar until the task ends; downloads the video to `out` on success.
pub async fn wait(
    endpoint: &Endpoint,
    task_id: &str,
    out: Option<PathBuf>,
) -> anyhow::Result<PathBuf> {
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:<24} [{bar:40}] {pos:>3}%")
            .expect("a valid template"),
    );
    let doc = loop {
        let doc = status(endpoint, task_id).await?;
        let state = doc["task"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        bar.set_position(doc["task"]["progress_percent"].as_u64().unwrap_or(0));
        bar.set_message(format!(
            "{} eta {}s",
            state.trim_start_matches("TASK_STATUS_"),
            doc["task"]["eta"]
        ));
        if state == "TASK_STATUS_SUCCEED" || state == "TASK_STATUS_FAILED" {
            break doc;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    if doc["task"]["status"] == "TASK_STATUS_FAILED" {
        bail!(
            "task {task_id} failed: {}",
            doc["task"]["reason"].as_str().unwrap_or("")
        );
    }
    let url = doc["videos"][0]["video_url"]
        .as_str()
        .context("the finished task has no video")?;
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{task_id}.mp4")));
    let bytes = client()?
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}
