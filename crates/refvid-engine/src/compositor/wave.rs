//! Seeded sine waves, the building block of every smooth path in the scene.
//!
//! Sums of a few sines with unrelated frequencies never repeat visibly within a clip, have
//! continuous velocity (no jerks between frames) and are cheap to evaluate at any time, so a
//! frame can be rendered from its timestamp alone.

use std::f64::consts::TAU;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy)]
pub struct Wave {
    /// Angular frequency in radians per second.
    omega: f64,
    phase: f64,
    weight: f64,
}

impl Wave {
    /// A wave of `weight` with a frequency drawn from `hz` (cycles per second) times `speed`
    /// and a random phase.
    pub fn random(rng: &mut ChaCha8Rng, hz: (f64, f64), speed: f64, weight: f64) -> Self {
        Wave {
            omega: TAU * rng.random_range(hz.0..hz.1) * speed,
            phase: rng.random_range(0.0..TAU),
            weight,
        }
    }

    /// The wave's value at `t` seconds, within `-weight..=weight`.
    pub fn at(&self, t: f64) -> f64 {
        self.weight * (self.omega * t + self.phase).sin()
    }
}

/// A main wave plus a faster, weaker one: within `-1..=1`, less regular than a single sine.
#[derive(Debug, Clone, Copy)]
pub struct Wander([Wave; 2]);

impl Wander {
    pub fn random(rng: &mut ChaCha8Rng, hz: (f64, f64), speed: f64) -> Self {
        let slow = Wave::random(rng, hz, speed, 0.7);
        let fast = Wave::random(rng, (hz.0 * 2.3, hz.1 * 2.3), speed, 0.3);
        Wander([slow, fast])
    }

    pub fn at(&self, t: f64) -> f64 {
        self.0[0].at(t) + self.0[1].at(t)
    }
}
