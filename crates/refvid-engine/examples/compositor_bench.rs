//! Times the compositor engine on 5-second clips (120 frames at 24 fps).
//!
//! ```sh
//! cargo run --release -p refvid-engine --example compositor_bench [-- --dump DIR]
//! ```
//!
//! With `--dump DIR`, a few frames of each clip are written there as PNG for a visual check.

use std::path::PathBuf;
use std::time::Instant;

use image::{RgbImage, Rgba, RgbaImage};
use refvid_engine::compositor::CompositorEngine;
use refvid_engine::{Control, Engine, FrameSink, Motion, RenderJob, SinkError, SubjectRefs};

/// Keeps a copy of the frames it is asked to, drops the rest.
struct Sink {
    keep: Vec<u32>,
    index: u32,
    kept: Vec<(u32, RgbImage)>,
}

impl FrameSink for Sink {
    fn push(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
        if self.keep.contains(&self.index) {
            self.kept.push((self.index, frame.clone()));
        }
        self.index += 1;
        Ok(())
    }
}

/// A red ball on a white studio backdrop (a cut-out case), 1000×800.
fn ball() -> RgbaImage {
    RgbaImage::from_fn(1000, 800, |x, y| {
        let d = (x as f32 - 500.0).hypot(y as f32 - 400.0);
        if d < 300.0 {
            let shade = 1.0 - d / 900.0;
            Rgba([
                (230.0 * shade) as u8,
                (30.0 * shade) as u8,
                (40.0 * shade) as u8,
                255,
            ])
        } else {
            Rgba([252, 252, 250, 255])
        }
    })
}

/// A busy "photograph" (kept as a card), 1200×900.
fn photo() -> RgbaImage {
    RgbaImage::from_fn(1200, 900, |x, y| {
        let v = ((x / 40 + y / 40) % 2) as u8 * 60;
        Rgba([(x / 6) as u8 + v / 2, (y / 4) as u8, 160 - v, 255])
    })
}

fn job(width: u32, height: u32) -> RenderJob {
    let subject = |name: &str, img: RgbaImage| SubjectRefs {
        name: name.into(),
        images: vec![img],
    };
    RenderJob {
        prompt: "@cat chases @ball across the lawn".into(),
        subjects: vec![subject("cat", photo()), subject("ball", ball())],
        width,
        height,
        fps: 24,
        frame_count: 120,
        seed: 42,
        motion: Motion::Medium,
    }
}

/// Times a one-frame 1080p render with three 12-megapixel references: the one-off preparation
/// (cut-outs, sprite scaling, backdrop) dominates it.
fn time_preparation(engine: &CompositorEngine) {
    let big = |tint: u8| {
        RgbaImage::from_fn(4000, 3000, |x, y| {
            Rgba([(x / 16) as u8, (y / 12) as u8, tint, 255])
        })
    };
    let mut job = job(1920, 1080);
    job.frame_count = 1;
    job.subjects = (0..3)
        .map(|i| SubjectRefs {
            name: format!("s{i}"),
            images: vec![big(40 * i)],
        })
        .collect();
    let mut sink = Sink {
        keep: Vec::new(),
        index: 0,
        kept: Vec::new(),
    };
    let start = Instant::now();
    engine
        .render(&job, &mut sink, &mut |_| Control::Continue)
        .expect("render");
    println!(
        "1920x1080, three 4000x3000 references, 1 frame: {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    let dump: Option<PathBuf> = std::env::args()
        .skip_while(|a| a != "--dump")
        .nth(1)
        .map(PathBuf::from);
    let engine = CompositorEngine::new();
    for (w, h) in [(1280, 720), (1920, 1080)] {
        let job = job(w, h);
        let mut sink = Sink {
            keep: vec![0, 40, 80, 119],
            index: 0,
            kept: Vec::new(),
        };
        let start = Instant::now();
        engine
            .render(&job, &mut sink, &mut |_| Control::Continue)
            .expect("render");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{w}x{h}: {} frames in {secs:.2} s ({:.1} ms/frame)",
            sink.index,
            secs * 1000.0 / sink.index as f64
        );
        if let Some(dir) = &dump {
            std::fs::create_dir_all(dir).expect("create dump dir");
            for (i, frame) in &sink.kept {
                frame
                    .save(dir.join(format!("{w}x{h}_{i:03}.png")))
                    .expect("save frame");
            }
        }
    }
    time_preparation(&engine);
}
