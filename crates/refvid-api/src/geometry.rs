//! Output geometry: resolution and aspect ratio to exact pixel sizes.

use serde::{Deserialize, Serialize};

/// The requested output resolution, naming the short side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    #[serde(rename = "720p")]
    P720,
    #[serde(rename = "1080p")]
    P1080,
}

impl Resolution {
    /// Pixels of the frame's short side.
    pub fn short_side(self) -> u32 {
        match self {
            Self::P720 => 720,
            Self::P1080 => 1080,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::P720 => "720p",
            Self::P1080 => "1080p",
        }
    }
}

/// An aspect ratio `W:H` with positive integers, within 1:4 and 4:1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AspectRatio {
    pub w: u32,
    pub h: u32,
}

impl AspectRatio {
    /// Parses `W:H`; the error is the rule that was broken.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (w, h) = text
            .split_once(':')
            .ok_or_else(|| format!("must look like W:H (e.g. 16:9), got {text:?}"))?;
        let parse = |s: &str| s.trim().parse::<u32>().ok().filter(|v| *v > 0);
        let (Some(w), Some(h)) = (parse(w), parse(h)) else {
            return Err(format!(
                "must be two positive integers W:H (e.g. 16:9), got {text:?}"
            ));
        };
        if (w as u64) > 4 * h as u64 || (h as u64) > 4 * w as u64 {
            return Err(format!("must be within 1:4 and 4:1, got {w}:{h}"));
        }
        Ok(Self { w, h })
    }
}

impl Default for AspectRatio {
    fn default() -> Self {
        Self { w: 16, h: 9 }
    }
}

/// Exact output frame size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub width: u32,
    pub height: u32,
}

impl Geometry {
    /// The short side is the resolution's; the long side follows the ratio, rounded to even.
    pub fn of(resolution: Resolution, aspect: AspectRatio) -> Self {
        let short = resolution.short_side();
        let (long_num, short_num) = (aspect.w.max(aspect.h) as f64, aspect.w.min(aspect.h) as f64);
        let long = ((short as f64 * long_num / short_num) / 2.0).round() as u32 * 2;
        if aspect.w >= aspect.h {
            Self {
                width: long,
                height: short,
            }
        } else {
            Self {
                width: short,
                height: long,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(r: Resolution, a: &str) -> (u32, u32) {
        let g = Geometry::of(r, AspectRatio::parse(a).unwrap());
        (g.width, g.height)
    }

    #[test]
    fn spec_examples_give_the_spec_sizes() {
        assert_eq!(geo(Resolution::P720, "16:9"), (1280, 720));
        assert_eq!(geo(Resolution::P1080, "16:9"), (1920, 1080));
        assert_eq!(geo(Resolution::P720, "9:16"), (720, 1280));
        assert_eq!(geo(Resolution::P1080, "9:16"), (1080, 1920));
        assert_eq!(geo(Resolution::P720, "1:1"), (720, 720));
        assert_eq!(geo(Resolution::P1080, "1:1"), (1080, 1080));
    }

    #[test]
    fn odd_long_sides_round_to_even() {
        assert_eq!(geo(Resolution::P720, "21:9"), (1680, 720));
        assert_eq!(geo(Resolution::P1080, "4:3"), (1440, 1080));
        let (w, _) = geo(Resolution::P720, "7:5");
        assert_eq!(w % 2, 0);
        assert_eq!(geo(Resolution::P720, "4:1"), (2880, 720));
    }

    #[test]
    fn ratios_outside_one_to_four_are_refused() {
        assert!(AspectRatio::parse("5:1").is_err());
        assert!(AspectRatio::parse("1:5").is_err());
        assert!(AspectRatio::parse("0:1").is_err());
        assert!(AspectRatio::parse("16x9").is_err());
        assert!(AspectRatio::parse("-16:9").is_err());
        assert!(AspectRatio::parse("1:4").is_ok());
    }
}
