//! `refvid tts` (docs/PARITY.md, "Speech") on the installed en_US-joe-medium voice: the ids it
//! prints and the WAV it writes are piper-tts's (fixtures of crates/refvid-tts).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The installed speech runtime; fails saying what to run when it is missing.
pub fn speech_dir() -> PathBuf {
    let dir = refvid_tts::runtime::default_dir();
    assert!(
        dir.join("voices/en_US-joe-medium.onnx").is_file(),
        "the speech runtime is not installed in {}; run scripts/install-speech.sh (scripts/test-deps.sh does)",
        dir.display()
    );
    dir
}

fn tts(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_refvid"))
        .arg("tts")
        .args(args)
        .env("REFVID_SPEECH_DIR", speech_dir())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn fixture(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../refvid-tts/tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (sample rate, channels, bits, samples) of a PCM WAV.
fn read_wav(bytes: &[u8]) -> (u32, u16, u16, Vec<i16>) {
    assert_eq!(
        (&bytes[0..4], &bytes[8..16]),
        (&b"RIFF"[..], &b"WAVEfmt "[..])
    );
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let rate = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
    let samples = bytes[44..]
        .chunks(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    (rate, u16_at(22), u16_at(34), samples)
}

#[test]
fn printed_ids_are_pipers_one_sentence_a_line() {
    let fixture = fixture("phoneme_ids.json");
    for case in fixture["cases"].as_array().unwrap().iter().take(12) {
        let out = tts(&[
            "--voice",
            "en_US-joe-medium",
            "--text",
            case["text"].as_str().unwrap(),
            "--print-phoneme-ids",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected: Vec<String> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ids| {
                ids.as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            stdout.lines().collect::<Vec<_>>(),
            expected,
            "{}",
            case["text"]
        );
    }
}

#[test]
fn the_wav_is_the_piper_clis_and_ids_speak_like_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture("piper_cli.json");
    let wav = dir.path().join("out.wav");
    let text = fixture["text"].as_str().unwrap();
    let out = tts(&[
        "--voice",
        "en_US-joe-medium",
        "--text",
        text,
        "--noise-scale",
        "0",
        "--noise-w",
        "0",
        "-o",
        wav.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (rate, channels, bits, samples) = read_wav(&std::fs::read(&wav).unwrap());
    assert_eq!((rate, channels, bits), (22050, 1, 16));
    assert_eq!(samples.len() as u64, fixture["samples"].as_u64().unwrap());
    let step = fixture["step"].as_u64().unwrap() as usize;
    for (i, v) in fixture["decimated"].as_array().unwrap().iter().enumerate() {
        assert!(
            (samples[i * step] as i64 - v.as_i64().unwrap()).abs() <= 2,
            "sample {}",
            i * step
        );
    }
    // One sentence as ids gives the same samples as its text (a path to the .onnx works too).
    let printed = tts(&[
        "--voice",
        "en_US-joe-medium",
        "--text",
        "Run!",
        "--print-phoneme-ids",
    ]);
    let ids = String::from_utf8(printed.stdout)
        .unwrap()
        .trim()
        .to_string();
    let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let model = speech_dir().join("voices/en_US-joe-medium.onnx");
    assert!(
        tts(&[
            "--voice",
            "en_US-joe-medium",
            "--text",
            "Run!",
            "--seed",
            "3",
            "-o",
            a.to_str().unwrap()
        ])
        .status
        .success()
    );
    assert!(
        tts(&[
            "--voice",
            model.to_str().unwrap(),
            "--phoneme-ids",
            &ids,
            "--seed",
            "3",
            "-o",
            b.to_str().unwrap()
        ])
        .status
        .success()
    );
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn unknown_voices_speakers_and_ids_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("x.wav");
    let wav = wav.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--voice", "female_1", "--text", "hi", "-o", wav],
            "installed: en_US-joe-medium",
        ),
        (
            &["--voice", "en_US-joe-medium:2", "--text", "hi", "-o", wav],
            "1 speaker",
        ),
        (
            &[
                "--voice",
                "en_US-joe-medium",
                "--phoneme-ids",
                "1,0,999,2",
                "-o",
                wav,
            ],
            "999",
        ),
    ];
    for (args, says) in cases {
        let out = tts(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(says),
            "{args:?}: {stderr}"
        );
    }
}
