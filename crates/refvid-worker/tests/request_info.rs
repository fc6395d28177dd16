//! The worker's render path builds `request_info` from the engine's description and the sound
//! stage's notes (here an audio engine that reports a voice fallback).

use base64::Engine as _;
use refvid_audio::{AudioEngine, AudioError, AudioRequest, Pcm, SynthAudio};
use refvid_engine::compositor::CompositorEngine;
use refvid_media::watermark::WatermarkSource;
use refvid_media::{FetchPolicy, GuardedHttp};
use refvid_worker::{LocalRender, render_request};
use std::io::Cursor;
use std::sync::Arc;

/// The built-in synthesizer, plus a note saying which voice it used.
struct NotingAudio;

impl AudioEngine for NotingAudio {
    fn name(&self) -> &'static str {
        "noting"
    }

    fn render(&self, req: &AudioRequest) -> Result<Option<Pcm>, AudioError> {
        SynthAudio.render(req)
    }

    fn notes(&self, _req: &AudioRequest) -> Vec<(&'static str, String)> {
        vec![("voice_fallback", "v-unknown -> default".into())]
    }
}

fn request(bgm: bool) -> refvid_api::TaskSpec {
    let png = image::RgbaImage::from_pixel(160, 160, image::Rgba([200, 40, 40, 255]));
    let mut bytes = Cursor::new(Vec::new());
    png.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    let uri = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes.into_inner())
    );
    let body = serde_json::json!({
        "prompt": "@cat sits", "duration": 1, "bgm": bgm,
        "subjects": [{"name": "cat", "images": [uri]}]
    });
    refvid_api::parse_submit(&serde_json::to_vec(&body).unwrap()).unwrap()
}

async fn info_of(bgm: bool) -> String {
    let http = GuardedHttp::new(FetchPolicy::default()).unwrap();
    let with = LocalRender {
        engine: Arc::new(CompositorEngine::new()),
        audio: Arc::new(NotingAudio),
        watermark: &WatermarkSource::default(),
        http: &http,
    };
    let video = render_request(&request(bgm), 5, with, &mut |_| {})
        .await
        .unwrap();
    video.request_info
}

#[tokio::test]
async fn the_sound_stage_notes_follow_the_engine_description() {
    assert_eq!(
        info_of(true).await,
        r#"{"engine":"compositor","voice_fallback":"v-unknown -> default"}"#
    );
    assert_eq!(
        info_of(false).await,
        r#"{"engine":"compositor"}"#,
        "no sound made, no sound notes"
    );
}
