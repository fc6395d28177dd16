//! Background music: chords, bass, a melody and drums, in a key and tempo taken from the seed
//! and the prompt's mood.

use crate::SAMPLE_RATE;
use crate::synth::{Noise, OnePole, adsr, midi_hz, saw, sine, square, triangle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MAJOR: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
const MINOR: [i32; 7] = [0, 2, 3, 5, 7, 8, 10];
/// Chord roots as scale degrees, one chord per bar.
const PROGRESSIONS: [[usize; 4]; 5] = [
    [0, 4, 5, 3],
    [0, 5, 3, 4],
    [5, 3, 0, 4],
    [0, 3, 4, 4],
    [0, 5, 1, 4],
];
const CALM: [&str; 9] = [
    "calm", "slow", "sleep", "naps", "gentle", "peace", "quiet", "float", "drift",
];
const DARK: [&str; 8] = [
    "night", "sad", "dark", "rain", "storm", "alone", "moon", "fog",
];
const ENERGETIC: [&str; 10] = [
    "chase", "run", "race", "fast", "dance", "jump", "fight", "fly", "party", "rush",
];

/// The musical choices for one piece.
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    pub tempo_bpm: f32,
    pub root: i32,
    pub minor: bool,
    pub progression: [usize; 4],
    /// 0 sine, 1 triangle, 2 square, 3 saw.
    pub lead: u8,
    pub pad_saw: bool,
    pub four_on_floor: bool,
}

fn mentions(prompt: &str, words: &[&str]) -> bool {
    let lower = prompt.to_lowercase();
    words.iter().any(|w| lower.contains(w))
}

/// Picks the style: mood words steer tempo and mode, the seed the rest.
pub fn style(prompt: &str, rng: &mut ChaCha8Rng) -> Style {
    let (lo, hi) = if mentions(prompt, &ENERGETIC) {
        (124.0, 150.0)
    } else if mentions(prompt, &CALM) {
        (68.0, 88.0)
    } else {
        (92.0, 122.0)
    };
    Style {
        tempo_bpm: rng.random_range(lo..hi),
        root: 45 + rng.random_range(0..12),
        minor: mentions(prompt, &DARK) || rng.random_bool(0.3),
        progression: PROGRESSIONS[rng.random_range(0..PROGRESSIONS.len())],
        lead: rng.random_range(0..4),
        pad_saw: rng.random_bool(0.5),
        four_on_floor: mentions(prompt, &ENERGETIC) || rng.random_bool(0.3),
    }
}

/// A stereo buffer with helpers to add voices.
struct Track {
    left: Vec<f32>,
    right: Vec<f32>,
}

impl Track {
    fn add(&mut self, start: f32, length: f32, pan: f32, mut voice: impl FnMut(f32) -> f32) {
        let rate = SAMPLE_RATE as f32;
        let first = (start * rate) as usize;
        let last = (((start + length) * rate) as usize).min(self.left.len());
        let (gl, gr) = ((1.0 - pan) * 0.5, (1.0 + pan) * 0.5);
        for i in first..last {
            let v = voice((i - first) as f32 / rate);
            self.left[i] += v * gl;
            self.right[i] += v * gr;
        }
    }
}

fn scale_note(style: &Style, degree: i32) -> f32 {
    let scale = if style.minor { MINOR } else { MAJOR };
    let octave = degree.div_euclid(7);
    (style.root + 12 * octave + scale[degree.rem_euclid(7) as usize]) as f32
}

fn lead_wave(kind: u8, phase: f32) -> f32 {
    match kind {
        0 => sine(phase),
        1 => triangle(phase),
        2 => square(phase, 0.25) * 0.6,
        _ => saw(phase) * 0.7,
    }
}

/// Renders `frames` stereo frames, interleaved.
pub fn render(prompt: &str, seed: u64, frames: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let style = style(prompt, &mut rng);
    let mut track = Track {
        left: vec![0.0; frames],
        right: vec![0.0; frames],
    };
    let beat = 60.0 / style.tempo_bpm;
    let total = frames as f32 / SAMPLE_RATE as f32;
    let mut noise = Noise::new(seed);
    let mut melody_degree = 7;
    let bars = (total / (4.0 * beat)).ceil() as usize;
    for bar in 0..bars {
        let start = bar as f32 * 4.0 * beat;
        let chord = style.progression[bar % 4] as i32;
        pad(&mut track, &style, start, 4.0 * beat, chord);
        bass(&mut track, &style, start, beat, chord);
        melody(
            &mut track,
            &style,
            start,
            beat,
            chord,
            &mut rng,
            &mut melody_degree,
        );
        drums(&mut track, &style, start, beat, &mut noise);
    }
    echo(&mut track, beat * 0.75);
    fade(&mut track, total);
    track
        .left
        .iter()
        .zip(&track.right)
        .flat_map(|(l, r)| [*l, *r])
        .collect()
}

fn pad(track: &mut Track, style: &Style, start: f32, length: f32, chord: i32) {
    for (i, offset) in [0, 2, 4].into_iter().enumerate() {
        let hz = midi_hz(scale_note(style, chord + offset) + 12.0);
        let pan = [-0.5, 0.0, 0.5][i];
        let saw_pad = style.pad_saw;
        track.add(start, length + 0.4, pan, |t| {
            let env = adsr(t, length, 0.35, 0.4, 0.7, 0.4);
            let (a, b) = (hz * t, hz * 1.004 * t);
            let v = if saw_pad {
                saw(a) + saw(b)
            } else {
                triangle(a) + triangle(b)
            };
            v * env * 0.035
        });
    }
}

fn bass(track: &mut Track, style: &Style, start: f32, beat: f32, chord: i32) {
    let hz = midi_hz(scale_note(style, chord) - 12.0);
    for step in 0..4 {
        let length = beat * 0.9;
        track.add(start + step as f32 * beat, length + 0.1, 0.0, |t| {
            let env = adsr(t, length, 0.01, 0.2, 0.5, 0.1);
            (sine(hz * t) * 0.8 + square(hz * t, 0.5) * 0.15) * env * 0.22
        });
    }
}

fn melody(
    track: &mut Track,
    style: &Style,
    start: f32,
    beat: f32,
    chord: i32,
    rng: &mut ChaCha8Rng,
    degree: &mut i32,
) {
    for eighth in 0..8 {
        if !rng.random_bool(if eighth % 2 == 0 { 0.75 } else { 0.4 }) {
            continue;
        }
        *degree = if eighth % 4 == 0 {
            chord + 7 + [0, 2, 4][rng.random_range(0..3)] // chord tones on strong beats
        } else {
            (*degree + rng.random_range(-2..=2)).clamp(5, 13)
        };
        let hz = midi_hz(scale_note(style, *degree) + 12.0);
        let length = beat * 0.45;
        let kind = style.lead;
        track.add(
            start + eighth as f32 * beat * 0.5,
            length + 0.15,
            0.2,
            |t| {
                let vibrato = 1.0 + 0.003 * sine(5.0 * t);
                lead_wave(kind, hz * vibrato * t) * adsr(t, length, 0.01, 0.12, 0.5, 0.15) * 0.12
            },
        );
    }
}

fn drums(track: &mut Track, style: &Style, start: f32, beat: f32, noise: &mut Noise) {
    for step in 0..8 {
        let at = start + step as f32 * beat * 0.5;
        let on_beat = step % 2 == 0;
        if on_beat && (style.four_on_floor || step % 4 == 0) {
            track.add(at, 0.25, 0.0, |t| {
                sine(50.0 * t + 120.0 * (1.0 - (-t * 30.0).exp()) / 30.0) * (-t * 14.0).exp() * 0.45
            });
        }
        if step == 2 || step == 6 {
            let mut n = noise.clone();
            let mut filter = OnePole::default();
            track.add(at, 0.2, -0.1, |t| {
                filter.high(n.next(), 1200.0, SAMPLE_RATE as f32) * (-t * 22.0).exp() * 0.25
            });
        }
        let mut n = noise.clone();
        let mut filter = OnePole::default();
        track.add(at, 0.05, 0.3, |t| {
            filter.high(n.next(), 6000.0, SAMPLE_RATE as f32) * (-t * 80.0).exp() * 0.08
        });
        noise.next();
    }
}

/// A stereo echo a fraction of a beat later, for space.
fn echo(track: &mut Track, delay: f32) {
    let d = (delay * SAMPLE_RATE as f32) as usize;
    for i in d..track.left.len() {
        let (l, r) = (track.right[i - d] * 0.28, track.left[i - d] * 0.28);
        track.left[i] += l;
        track.right[i] += r;
    }
}

/// 0.3 s fade-in, and a fade-out over the last second (or third of a short clip).
fn fade(track: &mut Track, total: f32) {
    let rate = SAMPLE_RATE as f32;
    let out = (total / 3.0).min(1.0);
    for i in 0..track.left.len() {
        let t = i as f32 / rate;
        let gain = (t / 0.3).min(1.0) * ((total - t) / out).clamp(0.0, 1.0);
        track.left[i] *= gain;
        track.right[i] *= gain;
    }
}
