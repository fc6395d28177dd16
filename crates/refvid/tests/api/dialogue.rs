//! Dialogue (docs/API.md "Dialogue") over HTTP with the installed en_US-joe-medium voice: lines
//! spoken where the timeline puts them, in two voices, music ducked under them, nothing spoken
//! with `audio: false`, too-long dialogue refused at submit with its length, unknown voice ids
//! noted in `request_info`, `GET /v3/voices`, and the lines never in the logs.
//!
//! Without the speech runtime (scripts/install-speech.sh) these tests skip, saying so, unless
//! `REFVID_REQUIRE_SPEECH` is set (scripts/test.sh sets it): then they fail.

use crate::helpers::*;
use refvid::speech::SpeechService;
use refvid_audio::{SAMPLE_RATE, dialogue};
use refvid_tts::Catalog;
use refvid_tts::cast::cast;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, OnceLock};

const SEED: u64 = 4242;
const CAT_LINE: &str = "Hello there, little ball.";
const BALL_LINE: &str = "Catch me if you can!";

/// The installed voices, or `None` (skip) when the runtime is missing and not required.
fn speech() -> Option<Arc<SpeechService>> {
    let dir = refvid_tts::runtime::default_dir();
    let catalog = Catalog::open(&dir, &[], 2).unwrap();
    match catalog.unavailable() {
        None => Some(Arc::new(SpeechService::new(catalog))),
        Some(why) if std::env::var_os("REFVID_REQUIRE_SPEECH").is_some() => {
            panic!("REFVID_REQUIRE_SPEECH is set and there is no speech: {why}")
        }
        Some(why) => {
            eprintln!("skipped: no speech runtime ({why}); run scripts/install-speech.sh");
            None
        }
    }
}

async fn speech_app() -> Option<(TestApp, Arc<SpeechService>)> {
    let speech = speech()?;
    let for_app = speech.clone();
    let app = spawn_app_with(move |c| c.speech = Some(for_app)).await;
    Some((app, speech))
}

fn dialogue_body(prompt: &str, duration: u32, bgm: bool, audio: bool) -> Value {
    let mut body = two_subject_body();
    body["prompt"] = json!(prompt);
    body["duration"] = json!(duration);
    body["seed"] = json!(SEED);
    body["bgm"] = json!(bgm);
    body["audio"] = json!(audio);
    // A hosted-service voice id this server does not have.
    body["subjects"][0]["voice_id"] = json!("english_voice_hosted_1");
    body["subjects"][1]
        .as_object_mut()
        .unwrap()
        .remove("voice_id");
    body
}

fn two_lines() -> String {
    format!(r#"@cat says "{CAT_LINE}" and @ball: "{BALL_LINE}""#)
}

/// (start, end) sample of each line in the 48 kHz track, as the worker lays them out.
fn windows(speech: &SpeechService, lines: &[(usize, &str)]) -> Vec<(usize, usize)> {
    let catalog = speech.catalog();
    let roles = cast(catalog, &[Some("english_voice_hosted_1"), None]).unwrap();
    let lengths: Vec<usize> = lines
        .iter()
        .enumerate()
        .map(|(i, (s, text))| {
            roles[*s]
                .samples(catalog, text, SEED, i, SAMPLE_RATE)
                .unwrap()
        })
        .collect();
    let (starts, _) = dialogue::place(&lengths, SAMPLE_RATE);
    starts
        .iter()
        .zip(&lengths)
        .map(|(s, l)| (*s, s + l))
        .collect()
}

async fn finished(app: &TestApp, body: &Value) -> (Vec<f32>, Value) {
    let (info, video) = app.finished(&app.submit_ok(body).await).await;
    let (rate, channels, pcm) = decode_audio(&video).expect("an audio track");
    assert_eq!((rate, channels), (48_000, 2));
    let mono = pcm.chunks(2).map(|f| (f[0] + f[1]) / 2.0).collect();
    (mono, info)
}

/// `[start, end)` shrunk by 60 ms at both ends (AAC delay, ramps).
fn inner(track: &[f32], (start, end): (usize, usize)) -> &[f32] {
    let margin = 2_880;
    &track[(start + margin).min(track.len())..(end.saturating_sub(margin)).min(track.len())]
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// How much of `reference` is in `mix` (least-squares gain).
fn gain_of(mix: &[f32], reference: &[f32]) -> f64 {
    dot(mix, reference) / dot(reference, reference)
}

/// Median fundamental frequency of the voiced 40 ms frames (normalised autocorrelation > 0.6,
/// 70..400 Hz).
fn median_f0(samples: &[f32]) -> f64 {
    let frame = 1_920;
    let mut found = Vec::new();
    for chunk in samples.chunks_exact(frame) {
        let energy = dot(chunk, chunk);
        if energy < 1e-3 {
            continue;
        }
        let (mut best, mut best_lag) = (0.0, 0);
        for lag in 120..=686 {
            let r = dot(&chunk[..frame - lag], &chunk[lag..])
                / (dot(&chunk[..frame - lag], &chunk[..frame - lag]).sqrt()
                    * dot(&chunk[lag..], &chunk[lag..]).sqrt()
                    + 1e-12);
            if r > best {
                (best, best_lag) = (r, lag);
            }
        }
        if best > 0.6 {
            found.push(48_000.0 / best_lag as f64);
        }
    }
    assert!(found.len() >= 3, "too few voiced frames ({})", found.len());
    found.sort_by(f64::total_cmp);
    found[found.len() / 2]
}

#[tokio::test]
async fn two_subjects_speak_their_lines_in_two_voices_over_ducked_music() {
    let Some((app, speech)) = speech_app().await else {
        return;
    };
    let prompt = two_lines();
    let (mix, info) = finished(&app, &dialogue_body(&prompt, 5, true, true)).await;
    let (music, plain_info) = finished(&app, &dialogue_body(&prompt, 5, true, false)).await;
    let lines = windows(&speech, &[(0, CAT_LINE), (1, BALL_LINE)]);
    let end = lines[1].1;
    assert!(end < 4 * 48_000, "the lines end at {end}");
    let after = (end + 24_000, 5 * 48_000 - 4_800);

    // Music alone (audio: false) has no speech: as loud in the line windows as after them.
    let level = |track: &[f32], w| rms(inner(track, w));
    for w in &lines {
        let ratio = level(&music, *w) / level(&music, after);
        assert!(
            (0.4..2.5).contains(&ratio),
            "music-only level ratio {ratio}"
        );
    }
    assert!(plain_info.get("voices").is_none(), "{plain_info}");

    // The same music is in the dialogue clip, ducked under the lines only.
    let outside = gain_of(inner(&mix, after), inner(&music, after));
    assert!(outside > 0.6, "music gain outside the lines {outside}");
    for w in &lines {
        let under = gain_of(inner(&mix, *w), inner(&music, *w));
        assert!(
            under / outside < 0.5,
            "music under a line at {under} vs {outside} outside"
        );
    }

    // What is not music is speech in the windows and the ambience (on with `audio`) outside
    // them. The ambience is ducked under the lines too, so without speech the windows would be
    // quieter than outside; with it they are louder by more than 6 dB.
    let rest_after = {
        let m = inner(&mix, after);
        let b = inner(&music, after);
        let g = gain_of(m, b) as f32;
        rms(&m.iter().zip(b).map(|(x, y)| x - g * y).collect::<Vec<_>>())
    };
    let mut speech_tracks = Vec::new();
    for w in &lines {
        let m = inner(&mix, *w);
        let b = inner(&music, *w);
        let g = gain_of(m, b) as f32;
        let voice: Vec<f32> = m.iter().zip(b).map(|(x, y)| x - g * y).collect();
        let loud = rms(&voice);
        assert!(
            loud > 2.0 * rest_after,
            "speech {loud} vs {rest_after} outside the lines"
        );
        speech_tracks.push(voice);
    }

    // Two voices: the second subject's default variant is pitched up.
    let (cat, ball) = (median_f0(&speech_tracks[0]), median_f0(&speech_tracks[1]));
    assert!(
        ball / cat > 1.12,
        "the two subjects' voices are too alike: {cat:.0} Hz and {ball:.0} Hz"
    );

    // The unknown voice id fell back to the default voice, and request_info says so.
    let fallback = info["voice_fallback"].as_str().unwrap_or_default();
    assert!(
        fallback.contains("english_voice_hosted_1") && fallback.contains("en_US-joe-medium"),
        "{info}"
    );
    assert!(
        info["voices"]
            .as_str()
            .unwrap_or_default()
            .contains("ball: en_US-joe-medium pitch x1.26"),
        "{info}"
    );
    app.stop().await;
}

#[tokio::test]
async fn dialogue_longer_than_the_clip_is_refused_at_submit_with_its_length() {
    let Some((app, speech)) = speech_app().await else {
        return;
    };
    let long = "This is a rather long sentence that the cat says, and it goes on and on.";
    let prompt = format!(r#"@cat says "{long}" then @2: "{long}""#);
    let response = app.submit(&dialogue_body(&prompt, 2, false, true)).await;
    assert_eq!(response.status(), 400);
    let envelope: Value = response.json().await.unwrap();
    let message = envelope.to_string();
    let needed = windows(&speech, &[(0, long), (1, long)])[1].1 as f64 / 48_000.0;
    assert!(
        message.contains(&format!("would take {needed:.2} s to say"))
            && message.contains("longer than the 2 s clip"),
        "{envelope} (expected {needed:.2} s)"
    );
    // Nothing is spoken with audio off, so the same prompt is accepted then.
    let id = app
        .submit_ok(&dialogue_body(&prompt, 2, false, false))
        .await;
    assert!(!id.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn voices_are_listed_with_the_default_first_among_equals() {
    let Some((app, _speech)) = speech_app().await else {
        return;
    };
    let response = app
        .client
        .get(format!("{}/v3/voices", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.unwrap();
    let joe = list["voices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "en_US-joe-medium")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(joe["language"], "en-us");
    assert_eq!(joe["sample_rate"], 22_050);
    assert_eq!(joe["speakers"], json!([]));
    assert_eq!(joe["default"], true);
    assert!(list.get("unavailable").is_none());
    let anonymous = app
        .client
        .get(format!("{}/v3/voices", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn without_speech_voices_are_empty_and_dialogue_is_refused() {
    let app = spawn_app().await;
    let list: Value = app
        .client
        .get(format!("{}/v3/voices", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["voices"], json!([]));
    assert!(list["unavailable"].as_str().unwrap().contains("speech"));
    let response = app
        .submit(&dialogue_body(&two_lines(), 5, false, true))
        .await;
    assert_eq!(response.status(), 503);
    app.submit_ok(&dialogue_body(&two_lines(), 5, false, false))
        .await;
    app.stop().await;
}

/// Everything logged in this test binary, from the first call on.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other test installs a global subscriber");
        buffer
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn spoken_lines_never_reach_the_logs() {
    let logs = captured_logs();
    let Some((app, _speech)) = speech_app().await else {
        return;
    };
    let secret = "Marmalade zeppelins whisper quietly";
    let prompt = format!(r#"@cat says "{secret}""#);
    let (_, info) = finished(&app, &dialogue_body(&prompt, 4, true, true)).await;
    assert!(info["voices"].is_string(), "{info}");
    let too_long = format!(r#"@cat says "{secret} {secret} {secret} {secret}""#);
    let refused = app.submit(&dialogue_body(&too_long, 1, false, true)).await;
    assert_eq!(refused.status(), 400);
    app.stop().await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains("lines spoken") && text.contains("task accepted"),
        "the capture saw the task: {} bytes",
        text.len()
    );
    for word in ["Marmalade", "zeppelins"] {
        assert!(!text.contains(word), "the line reached the logs");
    }
}
