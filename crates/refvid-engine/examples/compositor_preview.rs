//! Writes a few frames of several scenarios as PNG, for looking at the compositor's output.
//!
//! ```sh
//! cargo run --release -p refvid-engine --example compositor_preview -- OUT_DIR
//! ```

use std::path::Path;

use image::{RgbImage, Rgba, RgbaImage};
use refvid_engine::compositor::CompositorEngine;
use refvid_engine::{Control, Engine, FrameSink, Motion, RenderJob, SinkError, SubjectRefs};

struct Keep(Vec<RgbImage>);

impl FrameSink for Keep {
    fn push(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
        self.0.push(frame.clone());
        Ok(())
    }
}

/// A shaded disc of `colour` on an off-white backdrop.
fn disc(colour: [f32; 3], w: u32, h: u32) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, y| {
        let d =
            (x as f32 - w as f32 / 2.0).hypot(y as f32 - h as f32 / 2.0) / (w.min(h) as f32 * 0.4);
        if d < 1.0 {
            let s = 1.0 - 0.35 * d * d;
            Rgba([
                (colour[0] * s) as u8,
                (colour[1] * s) as u8,
                (colour[2] * s) as u8,
                255,
            ])
        } else {
            Rgba([248, 247, 244, 255])
        }
    })
}

fn scenario(prompt: &str, w: u32, h: u32, n: usize, motion: Motion) -> RenderJob {
    let colours = [
        [230.0, 40.0, 40.0],
        [40.0, 90.0, 230.0],
        [250.0, 200.0, 30.0],
        [40.0, 180.0, 90.0],
    ];
    let subjects = (0..n)
        .map(|i| SubjectRefs {
            name: format!("s{i}"),
            images: vec![disc(
                colours[i % 4],
                200 + 37 * i as u32,
                200 + 23 * (i as u32 % 3),
            )],
        })
        .collect();
    RenderJob {
        prompt: prompt.into(),
        subjects,
        width: w,
        height: h,
        fps: 24,
        frame_count: 48,
        seed: 7,
        motion,
    }
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "compositor_preview".into());
    let out = Path::new(&out);
    std::fs::create_dir_all(out).expect("create output dir");
    let jobs = [
        (
            "beach",
            scenario("@a and @b on the beach", 640, 360, 2, Motion::High),
        ),
        (
            "portrait",
            scenario("@a at night", 360, 640, 3, Motion::Medium),
        ),
        (
            "wide",
            scenario("@a @b @c @d in the city", 800, 200, 7, Motion::Small),
        ),
        (
            "tall",
            scenario("@a in the snow", 200, 800, 4, Motion::High),
        ),
    ];
    for (name, job) in jobs {
        let mut keep = Keep(Vec::new());
        CompositorEngine::new()
            .render(&job, &mut keep, &mut |_| Control::Continue)
            .expect("render");
        for i in [0, 47] {
            keep.0[i]
                .save(out.join(format!("{name}_{i:02}.png")))
                .expect("save");
        }
    }
}
