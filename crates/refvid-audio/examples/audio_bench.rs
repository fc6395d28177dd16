//! Times synthesis (both flags) of 5 s and 10 s clips and AAC-LC encoding of each.
//!
//! `cargo run --release -p refvid-audio --example audio_bench [-- out.wav]`
//! With a path, the 10 s track is also written as a 16-bit WAV so a person can listen.

use refvid_audio::{AudioEngine, AudioRequest, Pcm, SynthAudio, encode_aac_lc};
use std::time::Instant;

/// Best of a few runs: the machine is shared, so the minimum is the least noisy figure.
const RUNS: usize = 3;

fn request(secs: f64) -> AudioRequest {
    AudioRequest {
        prompt: "@cat chases @ball across the lawn".into(),
        seed: 42,
        duration_secs: secs,
        bgm: true,
        audio: true,
        motion: (0..(secs * 24.0) as usize)
            .map(|i| (i as f32 / 24.0).sin().abs())
            .collect(),
        fps: 24,
        lines: Vec::new(),
        speakers: Vec::new(),
    }
}

fn best_ms<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        last = Some(f());
        best = best.min(start.elapsed().as_secs_f64() * 1e3);
    }
    (best, last.expect("RUNS > 0"))
}

/// A canonical 44-byte RIFF/WAVE header followed by 16-bit little-endian PCM.
fn wav_bytes(pcm: &Pcm) -> Vec<u8> {
    let data_len = (pcm.samples.len() * 2) as u32;
    let block_align = pcm.channels * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // integer PCM
    out.extend_from_slice(&pcm.channels.to_le_bytes());
    out.extend_from_slice(&pcm.sample_rate.to_le_bytes());
    out.extend_from_slice(&(pcm.sample_rate * block_align as u32).to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in &pcm.samples {
        let v = (s.clamp(-1.0, 1.0) * i16::MAX as f32) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn main() {
    let wav_path = std::env::args().nth(1);
    for secs in [5.0, 10.0] {
        let req = request(secs);
        let (synth_ms, pcm) = best_ms(|| SynthAudio.render(&req).unwrap().unwrap());
        let (aac_ms, track) = best_ms(|| encode_aac_lc(&pcm, 128_000).unwrap());
        println!(
            "{secs:>4} s: synth {synth_ms:7.1} ms, aac {aac_ms:7.1} ms ({} frames, {} bytes), rms {:.3}, peak {:.3}",
            track.adts.len(),
            track.adts.iter().map(Vec::len).sum::<usize>(),
            pcm.rms(),
            pcm.peak(),
        );
        if let (10.0, Some(path)) = (secs, &wav_path) {
            std::fs::write(path, wav_bytes(&pcm)).unwrap();
            println!("wrote {path}");
        }
    }
}
