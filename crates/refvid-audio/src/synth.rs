//! Small building blocks: a stable hash, oscillators, envelopes, noise and one-pole filters.

use std::f32::consts::TAU;

/// FNV-1a over the seed and the prompt: the same on every platform and run.
pub fn stable_hash(seed: u64, prompt: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.to_le_bytes().iter().chain(prompt.as_bytes()) {
        h ^= *byte as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Frequency of a MIDI note.
pub fn midi_hz(note: f32) -> f32 {
    440.0 * 2f32.powf((note - 69.0) / 12.0)
}

pub fn sine(phase: f32) -> f32 {
    (phase * TAU).sin()
}

pub fn triangle(phase: f32) -> f32 {
    let p = phase.fract();
    4.0 * (p - 0.5).abs() - 1.0
}

/// A softened sawtooth (fewer harsh harmonics than a naive one).
pub fn saw(phase: f32) -> f32 {
    let p = phase.fract();
    (2.0 * p - 1.0) * 0.7 + 0.3 * sine(phase)
}

pub fn square(phase: f32, width: f32) -> f32 {
    if phase.fract() < width { 0.8 } else { -0.8 }
}

/// Attack-decay-sustain-release level at `t` seconds into a note of `length` seconds.
pub fn adsr(t: f32, length: f32, a: f32, d: f32, s: f32, r: f32) -> f32 {
    if t < 0.0 || t > length + r {
        return 0.0;
    }
    let held = if t < a {
        t / a
    } else if t < a + d {
        1.0 - (1.0 - s) * (t - a) / d
    } else {
        s
    };
    if t <= length {
        held
    } else {
        held * (1.0 - (t - length) / r)
    }
}

/// A fast deterministic white-noise source in -1..1.
#[derive(Debug, Clone)]
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next(&mut self) -> f32 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// A one-pole low-pass filter; `high()` gives the matching high-pass.
#[derive(Debug, Clone, Default)]
pub struct OnePole {
    state: f32,
}

impl OnePole {
    /// Low-pass at `cutoff` Hz.
    pub fn low(&mut self, x: f32, cutoff: f32, rate: f32) -> f32 {
        let a = 1.0 - (-TAU * cutoff / rate).exp();
        self.state += a * (x - self.state);
        self.state
    }

    /// High-pass at `cutoff` Hz.
    pub fn high(&mut self, x: f32, cutoff: f32, rate: f32) -> f32 {
        x - self.low(x, cutoff, rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable_and_sensitive() {
        assert_eq!(stable_hash(1, "a"), stable_hash(1, "a"));
        assert_ne!(stable_hash(1, "a"), stable_hash(2, "a"));
        assert_ne!(stable_hash(1, "a"), stable_hash(1, "b"));
    }

    #[test]
    fn envelopes_and_oscillators_stay_in_range() {
        for i in 0..1000 {
            let p = i as f32 / 97.0;
            for v in [sine(p), triangle(p), saw(p), square(p, 0.3)] {
                assert!((-1.0..=1.0).contains(&v));
            }
            let e = adsr(i as f32 / 500.0, 1.0, 0.05, 0.1, 0.6, 0.3);
            assert!((0.0..=1.0).contains(&e));
        }
        let mut n = Noise::new(3);
        let avg: f32 = (0..10_000).map(|_| n.next()).sum::<f32>() / 10_000.0;
        assert!(avg.abs() < 0.05);
        assert!((midi_hz(69.0) - 440.0).abs() < 1e-3);
    }
}
