//! refvid-tts against piper-tts 1.8.0 on the real en_US-joe-medium voice (fixtures made by
//! `scripts/make_tts_fixtures.py`): the same text gives the same phoneme ids, the same ids and
//! noise give the same waveform as ONNX Runtime in Python, and `refvid tts`'s 16-bit samples are
//! piper's CLI's.
//!
//! Tolerances: ids must be identical. Waveforms: largest difference of any compared sample at
//! most 1e-4 (of a peak near 0.5), lengths identical — the same ONNX Runtime build runs both
//! sides, so here they agree exactly; the slack covers other CPUs' kernels. 16-bit samples: at
//! most 2 steps apart.

mod common;

use refvid_tts::config::Scales;
use refvid_tts::vits::{Noise, Request};
use serde_json::Value;

fn ids_of(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_i64().unwrap())
        .collect()
}

#[test]
fn the_same_text_gives_the_same_ids_as_piper() {
    let voice = common::joe();
    let fixture = common::fixture("phoneme_ids.json");
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let mut sentences = 0;
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<Vec<i64>> = case["ids"].as_array().unwrap().iter().map(ids_of).collect();
        let got = voice.phoneme_ids(text).unwrap();
        assert_eq!(got, expected, "{text:?} (piper: {})", case["phonemes"]);
        sentences += expected.len();
    }
    println!(
        "{} texts, {sentences} sentences: ids identical",
        cases.len()
    );
}

/// The closed-form stand-ins for the noise that the fixture script feeds too.
fn formula(kind: Noise, count: usize) -> Vec<f32> {
    (0..count)
        .map(|i| match kind {
            Noise::Duration => (0.37 * i as f64 + 0.1).sin() as f32,
            Noise::Prior => (0.11 * i as f64).cos() as f32,
        })
        .collect()
}

#[test]
fn the_same_ids_give_onnxruntimes_waveform() {
    let voice = common::joe();
    let fixture = common::fixture("waveforms.json");
    let mut worst = 0.0f32;
    for wave in fixture["waves"].as_array().unwrap() {
        let name = wave["name"].as_str().unwrap();
        let s: Vec<f32> = wave["scales"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let ids = ids_of(&wave["ids"]);
        let request = Request {
            ids: &ids,
            scales: Scales {
                noise_scale: s[0],
                length_scale: s[1],
                noise_w: s[2],
            },
            speaker: None,
            seed: 1,
        };
        let audio = match wave["noise"].as_str().unwrap() {
            "zero" => voice.model().audio(&request).unwrap(),
            _ => voice.model().audio_with(&request, &formula).unwrap(),
        };
        assert_eq!(
            audio.len() as u64,
            wave["samples"].as_u64().unwrap(),
            "{name}: length"
        );
        let step = wave["step"].as_u64().unwrap() as usize;
        for (i, expected) in wave["decimated"].as_array().unwrap().iter().enumerate() {
            let diff = (audio[i * step] - expected.as_f64().unwrap() as f32).abs();
            worst = worst.max(diff);
            assert!(
                diff <= 1e-4,
                "{name}: sample {} differs by {diff}",
                i * step
            );
        }
        let peak = audio.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            (peak - wave["peak"].as_f64().unwrap() as f32).abs() <= 1e-4,
            "{name}: peak {peak}"
        );
    }
    println!("largest sample difference: {worst:e}");
}

#[test]
fn normalised_16_bit_speech_matches_the_piper_cli() {
    let voice = common::joe();
    let fixture = common::fixture("piper_cli.json");
    let mut options = voice.default_options();
    options.scales.noise_scale = 0.0;
    options.scales.noise_w = 0.0;
    let speech = voice
        .speak(fixture["text"].as_str().unwrap(), &options)
        .unwrap();
    let pcm = refvid_tts::wav::to_i16(&speech.samples);
    assert_eq!(
        speech.sample_rate as u64,
        fixture["sample_rate"].as_u64().unwrap()
    );
    assert_eq!(pcm.len() as u64, fixture["samples"].as_u64().unwrap());
    let step = fixture["step"].as_u64().unwrap() as usize;
    let mut worst = 0;
    for (i, expected) in fixture["decimated"].as_array().unwrap().iter().enumerate() {
        let diff = (pcm[i * step] as i64 - expected.as_i64().unwrap()).abs();
        worst = worst.max(diff);
        assert!(diff <= 2, "sample {} differs by {diff}", i * step);
    }
    println!("largest 16-bit difference: {worst}");
}
