//! `refvid generate`: one request file rendered to an MP4 on this machine, without a server or a
//! store, through the same path a worker takes (references, engine, watermark, sound, encoder).

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use refvid_audio::SynthAudio;
use refvid_engine::Engine;
use refvid_media::watermark::WatermarkSource;
use refvid_media::{FetchPolicy, GuardedHttp};
use refvid_worker::{LocalRender, render_request};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one local render did.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The seed used (the request's, or a random one when it gave none).
    pub seed: u64,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub took: Duration,
}

/// How to render.
pub struct GenerateOptions<'a> {
    pub engine: Arc<dyn Engine>,
    pub watermark: WatermarkSource,
    /// Reference URLs may point at loopback/private addresses.
    pub allow_private_networks: bool,
    /// Draw a progress bar on stderr.
    pub show_progress: bool,
    /// Where the cover JPEG goes, if wanted.
    pub cover_out: Option<&'a Path>,
    /// The voices for spoken lines (`None`: lines are not spoken).
    pub speech: Option<Arc<crate::speech::SpeechService>>,
}

/// Validates `body` as a v3 submit request and renders it to `out`.
pub async fn generate(
    body: &Value,
    out: &Path,
    options: GenerateOptions<'_>,
) -> anyhow::Result<Generated> {
    let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
    let spec = refvid_api::parse_submit(&bytes)
        .map_err(|e| anyhow::anyhow!("the request is not valid: {e} (field `{}`)", e.field))?;
    let seed = spec.seed.map_or_else(random_seed, u64::from);
    if let Some(speech) = &options.speech {
        use refvid_server::voices::{Speech, SpeechRefusal};
        match speech.check(&spec, seed as u32) {
            Ok(()) => {}
            Err(SpeechRefusal::Request(why) | SpeechRefusal::Unavailable(why)) => {
                anyhow::bail!("the request cannot be spoken: {why}")
            }
        }
    }
    let http = GuardedHttp::new(FetchPolicy {
        allow_private_networks: options.allow_private_networks,
        ..FetchPolicy::default()
    })?;
    let bar = progress_bar(options.show_progress, options.engine.name());
    let started = Instant::now();
    let mut on_progress = |fraction: f32| bar.set_position((fraction * 100.0).round() as u64);
    let with = LocalRender {
        engine: options.engine.clone(),
        audio: match &options.speech {
            Some(speech) => Arc::new(crate::speech::VoicedAudio::new(speech.clone())),
            None => Arc::new(SynthAudio),
        },
        watermark: &options.watermark,
        http: &http,
    };
    let rendered = render_request(&spec, seed, with, &mut on_progress).await;
    bar.finish_and_clear();
    let video = rendered.map_err(|reason| anyhow::anyhow!("generating failed: {reason}"))?;
    std::fs::write(out, &video.video).with_context(|| format!("writing {}", out.display()))?;
    if let (Some(path), Some(jpeg)) = (options.cover_out, &video.cover) {
        std::fs::write(path, jpeg).with_context(|| format!("writing {}", path.display()))?;
    }
    let geometry = spec.geometry();
    Ok(Generated {
        seed,
        width: geometry.width,
        height: geometry.height,
        frames: spec.duration_secs * refvid_api::OUTPUT_FPS,
        took: started.elapsed(),
    })
}

fn progress_bar(visible: bool, engine: &str) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos:>3}% {elapsed}")
            .expect("a valid template"),
    );
    bar.set_message(format!("rendering ({engine})"));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A seed for requests that gave none (1 ..= 2^31-1, as the server picks them).
fn random_seed() -> u64 {
    use rand::Rng;
    rand::rng().random_range(1..=i32::MAX as u64)
}
