//! `bgm` and `audio`: an AAC track exactly when asked for, the clip's length, audible and not
//! clipped; music follows the prompt; the same request twice gives the same bytes.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

async fn video(app: &TestApp, body: &Value) -> Vec<u8> {
    let id = app.submit_ok(body).await;
    let last = app.wait(&id, Duration::from_secs(120)).await.pop().unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
    app.download(last["videos"][0]["video_url"].as_str().unwrap())
        .await
}

fn body(prompt: &str, bgm: bool, audio: bool) -> Value {
    let mut body = two_subject_body();
    body["prompt"] = json!(prompt);
    body["duration"] = json!(2);
    body["bgm"] = json!(bgm);
    body["audio"] = json!(audio);
    body
}

#[tokio::test]
async fn an_audio_track_exists_exactly_when_asked_for() {
    let app = spawn_app().await;
    for (bgm, audio) in [(false, false), (true, false), (false, true), (true, true)] {
        let bytes = video(&app, &body("@cat chases @ball across the lawn", bgm, audio)).await;
        let probe = refvid_media::probe_mp4(&bytes).unwrap();
        assert_eq!(
            probe.audio.is_some(),
            bgm || audio,
            "bgm={bgm} audio={audio}"
        );
        let Some((rate, channels, pcm)) = decode_audio(&bytes) else {
            continue;
        };
        assert_eq!((rate, channels), (48_000, 2));
        let seconds = pcm.len() as f64 / 2.0 / 48_000.0;
        assert!(
            (seconds - 2.0).abs() < 0.05,
            "audio lasts {seconds} s for a 2 s clip"
        );
        let track = probe.audio.unwrap();
        assert!(
            (track.duration_secs - 2.0).abs() < 0.05,
            "track duration {}",
            track.duration_secs
        );
        assert!(
            rms(&pcm) > 0.02,
            "bgm={bgm} audio={audio}: too quiet ({})",
            rms(&pcm)
        );
        let clipped = pcm.iter().filter(|s| s.abs() >= 0.999).count();
        assert!(
            clipped as f64 / pcm.len() as f64 <= 0.001,
            "{clipped} clipped samples"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn music_differs_between_prompts_and_repeats_for_the_same_seed() {
    let app = spawn_app().await;
    let calm = video(&app, &body("@cat naps on a calm night", true, false)).await;
    let calm_again = video(&app, &body("@cat naps on a calm night", true, false)).await;
    assert!(
        calm == calm_again,
        "the same request and seed gave different bytes"
    );
    let fast = video(
        &app,
        &body("@cat and @ball race fast down the street", true, false),
    )
    .await;
    let (_, _, a) = decode_audio(&calm).unwrap();
    let (_, _, b) = decode_audio(&fast).unwrap();
    let n = a.len().min(b.len());
    let dot: f64 = a[..n]
        .iter()
        .zip(&b[..n])
        .map(|(x, y)| *x as f64 * *y as f64)
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let correlation = dot / (norm(&a[..n]) * norm(&b[..n]));
    assert!(
        correlation.abs() < 0.5,
        "two prompts gave nearly the same music ({correlation})"
    );
    app.stop().await;
}
