//! Where the subjects are and how they move.
//!
//! The frame is divided into a grid of slots shaped to the frame's aspect ratio (a row for wide
//! frames, a column for tall ones); each subject gets a seeded slot, a jittered home point in
//! it and a wandering path around that home that never leaves the frame. Paths stay within
//! their slot's share of the frame, so two subjects may overlap as they pass but never
//! sit on top of each other. Subjects lower in the frame are drawn a little larger (and later),
//! which reads as depth.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::wave::{Wander, Wave};
use crate::Motion;

/// How far and fast things move for a [`Motion`] setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionProfile {
    /// Camera pan amplitude as a fraction of the frame size.
    pub pan: f64,
    /// Largest camera zoom-in beyond 1.0.
    pub zoom: f64,
    /// Subject path amplitude as a fraction of half the subject's slot.
    pub travel: f64,
    /// Hop height as a fraction of the subject size.
    pub hop: f64,
    /// Multiplier on every frequency.
    pub speed: f64,
}

impl MotionProfile {
    pub fn of(motion: Motion) -> Self {
        match motion {
            Motion::Small => MotionProfile {
                pan: 0.02,
                zoom: 0.03,
                travel: 0.2,
                hop: 0.015,
                speed: 0.7,
            },
            Motion::Medium | Motion::Auto => MotionProfile {
                pan: 0.05,
                zoom: 0.09,
                travel: 0.45,
                hop: 0.04,
                speed: 1.0,
            },
            Motion::High => MotionProfile {
                pan: 0.09,
                zoom: 0.2,
                travel: 0.65,
                hop: 0.07,
                speed: 1.4,
            },
        }
    }
}

/// Size change from top (smaller, farther) to bottom (larger, nearer) of the frame.
const PERSPECTIVE: f64 = 0.2;
/// Amplitude of the slow "breathing" scale change.
const BREATHE: f64 = 0.03;

/// The largest [`Pose::scale`] a path can produce; sprites are prepared at this size so they
/// are only ever shrunk when drawn.
pub fn max_pose_scale() -> f64 {
    (1.0 + PERSPECTIVE / 2.0) * (1.0 + BREATHE)
}

/// A subject's position (its centre, in frame pixels at zoom 1) and size multiplier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    pub x: f64,
    pub y: f64,
    pub scale: f64,
}

#[derive(Debug, Clone)]
pub struct SubjectPath {
    home: (f64, f64),
    amp: (f64, f64),
    x: Wander,
    y: Wander,
    hop: Wave,
    breathe: Wave,
    frame_h: f64,
}

impl SubjectPath {
    pub fn at(&self, t: f64) -> Pose {
        let x = self.home.0 + self.amp.0 * self.x.at(t);
        // |sin| is a bounce: it touches the ground with a kink, like a hop.
        let y = self.home.1 + self.amp.1 * self.y.at(t) - self.hop.at(t).abs();
        let depth = (y / self.frame_h).clamp(0.0, 1.0);
        let scale = (1.0 - PERSPECTIVE / 2.0 + PERSPECTIVE * depth) * (1.0 + self.breathe.at(t));
        Pose { x, y, scale }
    }
}

/// The subjects' common size (longest side, in frame pixels at zoom 1) and their paths.
#[derive(Debug, Clone)]
pub struct Layout {
    pub size: f64,
    pub paths: Vec<SubjectPath>,
}

/// The area subject centres stay in: `x0..x1`, `y0..y1` in frame pixels.
#[derive(Debug, Clone, Copy)]
struct Stage {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

/// Lays out `n` subjects on a `w × h` frame, keeping `inset` (a fraction of the frame on each
/// side) clear so the camera's pan and zoom rarely crop a subject.
pub fn lay_out(
    w: f64,
    h: f64,
    inset: f64,
    n: usize,
    profile: &MotionProfile,
    rng: &mut ChaCha8Rng,
) -> Layout {
    let stage = Stage {
        x0: w * inset,
        y0: h * inset,
        x1: w * (1.0 - inset),
        y1: h * (1.0 - inset),
    };
    let (cols, rows) = grid(n, w / h);
    let slot = (
        (stage.x1 - stage.x0) / cols as f64,
        (stage.y1 - stage.y0) / rows as f64,
    );
    let size = subject_size(n, w.min(h), slot);
    let mut slots: Vec<usize> = (0..cols * rows).collect();
    slots.shuffle(rng);
    let paths = slots[..n]
        .iter()
        .map(|&s| {
            let x = stage.x0 + ((s % cols) as f64 + 0.5) * slot.0;
            let y = stage.y0 + ((s / cols) as f64 + 0.5) * slot.1;
            subject_path((x, y), slot, size, stage, h, profile, rng)
        })
        .collect();
    Layout { size, paths }
}

/// Columns and rows for `n` slots whose shape is close to square on a frame of `aspect`.
fn grid(n: usize, aspect: f64) -> (usize, usize) {
    let cols = ((n as f64 * aspect).sqrt().round() as usize).clamp(1, n);
    let rows = n.div_ceil(cols);
    (n.div_ceil(rows), rows)
}

/// 30–45% of the frame's short side, smaller with more subjects, and never more than fits a slot.
fn subject_size(n: usize, short: f64, slot: (f64, f64)) -> f64 {
    let share = match n {
        1 => 0.45,
        2 => 0.4,
        3 => 0.36,
        _ => 0.32,
    };
    (short * share).min(0.92 * slot.0.min(slot.1)).max(1.0)
}

fn subject_path(
    centre: (f64, f64),
    slot: (f64, f64),
    size: f64,
    stage: Stage,
    frame_h: f64,
    profile: &MotionProfile,
    rng: &mut ChaCha8Rng,
) -> SubjectPath {
    let jitter = |rng: &mut ChaCha8Rng, s: f64| rng.random_range(-0.08..0.08) * s;
    let hop = profile.hop * size;
    // Keep the whole subject (half its size, plus the hop above it) on the stage.
    let margin = size * 0.5;
    let (lo_x, hi_x) = (stage.x0 + margin, stage.x1 - margin);
    let (lo_y, hi_y) = (stage.y0 + margin + hop, stage.y1 - margin);
    let home_x = clamp_mid(centre.0 + jitter(rng, slot.0), lo_x, hi_x);
    let home_y = clamp_mid(centre.1 + jitter(rng, slot.1), lo_y, hi_y);
    let room_x = (home_x - lo_x).min(hi_x - home_x).max(0.0);
    let room_y = (home_y - lo_y).min(hi_y - home_y).max(0.0);
    let speed = profile.speed;
    SubjectPath {
        home: (home_x, home_y),
        amp: (
            room_x.min(profile.travel * slot.0 / 2.0),
            room_y.min(profile.travel * slot.1 / 2.0),
        ),
        x: Wander::random(rng, (0.08, 0.2), speed),
        y: Wander::random(rng, (0.08, 0.2), speed),
        hop: Wave::random(rng, (0.35, 0.7), speed, hop),
        breathe: Wave::random(rng, (0.2, 0.5), speed, BREATHE),
        frame_h,
    }
}

/// `v` clamped into `lo..=hi`, or the midpoint when the range is empty.
fn clamp_mid(v: f64, lo: f64, hi: f64) -> f64 {
    if lo > hi {
        (lo + hi) / 2.0
    } else {
        v.clamp(lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn layout(w: f64, h: f64, n: usize, seed: u64) -> Layout {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        lay_out(w, h, 0.05, n, &MotionProfile::of(Motion::High), &mut rng)
    }

    #[test]
    fn grids_follow_the_frame_shape() {
        assert_eq!(grid(1, 16.0 / 9.0), (1, 1));
        assert_eq!(grid(2, 16.0 / 9.0), (2, 1));
        assert_eq!(grid(3, 0.25), (1, 3));
        assert_eq!(grid(4, 4.0), (4, 1));
        let (c, r) = grid(7, 1.0);
        assert!(c * r >= 7 && c <= 3 && r <= 3);
    }

    #[test]
    fn few_subjects_take_30_to_45_percent_of_the_short_side() {
        for n in 1..=3 {
            let l = layout(1280.0, 720.0, n, 1);
            assert!((0.3..=0.45).contains(&(l.size / 720.0)), "{n}: {}", l.size);
        }
    }

    #[test]
    fn subjects_stay_in_frame_and_apart() {
        for (w, h, n) in [
            (256.0, 144.0, 2),
            (400.0, 100.0, 7),
            (100.0, 400.0, 5),
            (1080.0, 1920.0, 3),
        ] {
            for seed in 0..5 {
                let l = layout(w, h, n, seed);
                for step in 0..240 {
                    let t = step as f64 / 24.0;
                    let poses: Vec<Pose> = l.paths.iter().map(|p| p.at(t)).collect();
                    for p in &poses {
                        assert!(p.x >= 0.0 && p.x <= w && p.y >= 0.0 && p.y <= h, "{p:?}");
                    }
                    for (i, a) in poses.iter().enumerate() {
                        for b in &poses[i + 1..] {
                            assert!((a.x - b.x).hypot(a.y - b.y) > l.size * 0.15);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn seeds_change_the_layout() {
        let (a, b) = (layout(256.0, 144.0, 2, 1), layout(256.0, 144.0, 2, 2));
        assert_ne!(a.paths[0].at(0.0), b.paths[0].at(0.0));
    }
}
