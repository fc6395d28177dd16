//! The virtual camera: a slow seeded pan and zoom over the scene.
//!
//! The scene is laid out in "world" pixels equal to frame pixels at zoom 1, and the backdrop
//! extends [`PAD`] beyond the frame on every side. The camera only zooms in (zoom ≥ 1) and pans
//! less than the padding, so the view never leaves the backdrop.

use rand_chacha::ChaCha8Rng;

use super::scene::MotionProfile;
use super::wave::Wander;

/// Backdrop margin beyond the frame on each side, as a fraction of the frame's size; larger
/// than any [`MotionProfile::pan`].
pub const PAD: f64 = 0.12;

/// What the camera sees at one instant: the world point at the frame centre and the zoom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub cx: f64,
    pub cy: f64,
    pub zoom: f64,
}

impl View {
    /// Frame coordinates of a world point.
    pub fn to_frame(self, x: f64, y: f64, frame: (f64, f64)) -> (f64, f64) {
        (
            (x - self.cx) * self.zoom + frame.0 / 2.0,
            (y - self.cy) * self.zoom + frame.1 / 2.0,
        )
    }
}

#[derive(Debug, Clone)]
pub struct Camera {
    frame: (f64, f64),
    profile: MotionProfile,
    pan_x: Wander,
    pan_y: Wander,
    zoom: Wander,
}

impl Camera {
    pub fn new(frame: (f64, f64), profile: MotionProfile, rng: &mut ChaCha8Rng) -> Self {
        // Camera moves are slower than the subjects': a lazy operator, not a shaky one.
        Camera {
            frame,
            profile,
            pan_x: Wander::random(rng, (0.04, 0.1), profile.speed),
            pan_y: Wander::random(rng, (0.03, 0.08), profile.speed),
            zoom: Wander::random(rng, (0.05, 0.12), profile.speed),
        }
    }

    /// The largest zoom this camera reaches.
    pub fn max_zoom(&self) -> f64 {
        1.0 + self.profile.zoom
    }

    /// The share of the frame, on each side, that may be out of view at the camera's extremes
    /// (full zoom and full pan at once).
    pub fn crop_margin(&self) -> f64 {
        (0.5 - 0.5 / self.max_zoom() + self.profile.pan).max(0.0)
    }

    pub fn at(&self, t: f64) -> View {
        let (w, h) = self.frame;
        View {
            cx: w / 2.0 + self.profile.pan * w * self.pan_x.at(t),
            // Tilt less than pan: vertical camera moves feel unnatural when large.
            cy: h / 2.0 + 0.6 * self.profile.pan * h * self.pan_y.at(t),
            zoom: 1.0 + self.profile.zoom * (0.5 + 0.5 * self.zoom.at(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Motion;
    use rand::SeedableRng;

    #[test]
    fn the_view_never_leaves_the_padded_backdrop() {
        let (w, h) = (1280.0, 720.0);
        for motion in [Motion::Small, Motion::Medium, Motion::High] {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let cam = Camera::new((w, h), MotionProfile::of(motion), &mut rng);
            for i in 0..2400 {
                let v = cam.at(i as f64 / 24.0);
                assert!(v.zoom >= 1.0 && v.zoom <= cam.max_zoom());
                let (hw, hh) = (w / 2.0 / v.zoom, h / 2.0 / v.zoom);
                assert!(v.cx - hw >= -PAD * w && v.cx + hw <= w * (1.0 + PAD));
                assert!(v.cy - hh >= -PAD * h && v.cy + hh <= h * (1.0 + PAD));
            }
        }
    }
}
