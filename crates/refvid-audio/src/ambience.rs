//! The generated sound track: a bed of ambience chosen by the prompt's place words, with
//! effects that follow the picture's motion (a whoosh that swells when the scene moves fast).

use crate::SAMPLE_RATE;
use crate::synth::{Noise, OnePole, sine};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The kinds of place the prompt may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Outdoors,
    City,
    Water,
    Room,
}

const OUTDOORS: [&str; 10] = [
    "lawn", "park", "forest", "garden", "field", "meadow", "grass", "tree", "mountain", "farm",
];
const CITY: [&str; 7] = ["city", "street", "road", "car", "traffic", "town", "market"];
const WATER: [&str; 8] = [
    "sea", "beach", "water", "rain", "river", "ocean", "lake", "wave",
];

/// The first kind of place the prompt mentions.
pub fn place_of(prompt: &str) -> Place {
    let lower = prompt.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&WATER) {
        Place::Water
    } else if has(&CITY) {
        Place::City
    } else if has(&OUTDOORS) {
        Place::Outdoors
    } else {
        Place::Room
    }
}

/// Motion energy at time `t`, from the per-frame values.
fn motion_at(motion: &[f32], fps: u32, t: f32) -> f32 {
    if motion.is_empty() || fps == 0 {
        return 0.0;
    }
    let i = ((t * fps as f32) as usize).min(motion.len() - 1);
    motion[i].clamp(0.0, 1.0)
}

/// Renders `frames` stereo frames, interleaved.
pub fn render(prompt: &str, seed: u64, frames: usize, motion: &[f32], fps: u32) -> Vec<f32> {
    let place = place_of(prompt);
    let rate = SAMPLE_RATE as f32;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut nl, mut nr) = (Noise::new(seed), Noise::new(seed ^ 0x5555));
    let (mut fl, mut fr, mut wl, mut wr) = (
        OnePole::default(),
        OnePole::default(),
        OnePole::default(),
        OnePole::default(),
    );
    let chirps = chirp_times(&mut rng, frames as f32 / rate, place);
    let swell = rng.random_range(0.07..0.15);
    let mut out = Vec::with_capacity(frames * 2);
    for i in 0..frames {
        let t = i as f32 / rate;
        let (bed_l, bed_r) = bed(place, t, swell, (nl.next(), nr.next()), (&mut fl, &mut fr));
        let m = motion_at(motion, fps, t);
        // The whoosh: brighter and louder noise as the motion rises.
        let cutoff = 300.0 + 3000.0 * m;
        let whoosh = 0.6 * m * m;
        let (wsl, wsr) = (
            wl.low(nl.next(), cutoff, rate) * whoosh,
            wr.low(nr.next(), cutoff, rate) * whoosh,
        );
        let chirp = chirp_sample(&chirps, t);
        out.push(bed_l + wsl + chirp * 0.7);
        out.push(bed_r + wsr + chirp * 0.3);
    }
    out
}

/// The continuous bed: wind, rumble, surf or room tone.
fn bed(
    place: Place,
    t: f32,
    swell: f32,
    noise: (f32, f32),
    filters: (&mut OnePole, &mut OnePole),
) -> (f32, f32) {
    let rate = SAMPLE_RATE as f32;
    let (cutoff, level, lfo) = match place {
        Place::Outdoors => (700.0, 0.22, 0.55 + 0.45 * sine(0.13 * t)),
        Place::City => (180.0, 0.35, 0.8 + 0.2 * sine(0.4 * t)),
        Place::Water => (1200.0, 0.25, (0.5 + 0.5 * sine(swell * t)).powi(2) + 0.15),
        Place::Room => (400.0, 0.1, 1.0),
    };
    let left = filters.0.low(noise.0, cutoff, rate) * level * lfo;
    let right = filters.1.low(noise.1, cutoff, rate) * level * lfo;
    (left * 4.5, right * 4.5)
}

/// Start times of bird chirps (outdoors) or horn/bell blips (city); none elsewhere.
fn chirp_times(rng: &mut ChaCha8Rng, total: f32, place: Place) -> Vec<(f32, f32)> {
    let per_second = match place {
        Place::Outdoors => 1.6,
        Place::City => 0.3,
        _ => 0.0,
    };
    let count = (total * per_second) as usize;
    let mut times: Vec<(f32, f32)> = (0..count)
        .map(|_| {
            (
                rng.random_range(0.0..total),
                if place == Place::City {
                    420.0
                } else {
                    rng.random_range(2500.0..4200.0)
                },
            )
        })
        .collect();
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    times
}

fn chirp_sample(chirps: &[(f32, f32)], t: f32) -> f32 {
    let mut sum = 0.0;
    for &(start, hz) in chirps.iter().filter(|(s, _)| t >= *s && t < *s + 0.12) {
        let dt = t - start;
        let sweep = hz * (1.0 + 0.35 * (dt / 0.12));
        sum += sine(sweep * dt) * (1.0 - dt / 0.12) * (dt * 80.0).min(1.0) * 0.12;
    }
    sum
}
