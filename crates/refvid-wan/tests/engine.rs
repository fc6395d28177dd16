//! The `wan` engine (Wan2.1-VACE through the [`ModelEngine`] seam) on the tiny fixture
//! pipeline: frames of the job's size and count, progress per step, cancellation between steps,
//! the same seed giving the same frames.

use std::path::PathBuf;

use image::{RgbImage, RgbaImage};
use refvid_engine::{
    Control, Engine, EngineError, FrameSink, Motion, RenderJob, SinkError, SubjectRefs,
};
use refvid_wan::engine::ModelEngine;
use refvid_wan::models::ModelPlace;
use refvid_wan::models::vace::{VaceModel, VaceOptions};

struct Frames(Vec<RgbImage>);

impl FrameSink for Frames {
    fn push(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
        self.0.push(frame.clone());
        Ok(())
    }
}

fn engine(steps: usize) -> ModelEngine {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-vace-r2v");
    let place = ModelPlace::new(dir).with_native_size((64, 48));
    let options = VaceOptions {
        steps,
        ..Default::default()
    };
    ModelEngine::new(VaceModel::load(place, options).unwrap())
}

fn job(seed: u64) -> RenderJob {
    let card = RgbaImage::from_fn(40, 30, |x, y| {
        image::Rgba([(x * 6) as u8, (y * 8) as u8, 90, 255])
    });
    RenderJob {
        prompt: "@cat waves at @1".into(),
        subjects: vec![SubjectRefs {
            name: "cat".into(),
            images: vec![card],
        }],
        width: 96,
        height: 54,
        fps: 24,
        frame_count: 24,
        seed,
        motion: Motion::Auto,
    }
}

#[test]
fn renders_the_jobs_frames_and_reports_every_step() {
    let engine = engine(3);
    let mut frames = Frames(Vec::new());
    let mut seen = Vec::new();
    engine
        .render(&job(1), &mut frames, &mut |p| {
            seen.push(p);
            Control::Continue
        })
        .unwrap();
    assert_eq!(frames.0.len(), 24);
    assert!(frames.0.iter().all(|f| f.dimensions() == (96, 54)));
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(
        seen.iter().filter(|&&p| p <= 0.9).count() >= 3,
        "one report per step: {seen:?}"
    );
    assert_eq!(*seen.last().unwrap(), 1.0);

    let mut again = Frames(Vec::new());
    engine
        .render(&job(1), &mut again, &mut |_| Control::Continue)
        .unwrap();
    assert!(frames.0 == again.0, "the same seed gives the same frames");
    let mut other = Frames(Vec::new());
    engine
        .render(&job(2), &mut other, &mut |_| Control::Continue)
        .unwrap();
    assert!(frames.0 != other.0, "another seed gives other frames");
}

#[test]
fn describe_names_the_engine_and_the_model() {
    let info = engine(2).describe();
    assert_eq!(info[0], ("engine", "wan".to_string()));
    assert_eq!(info[1], ("model", "tiny-vace-r2v".to_string()));
    assert!(info.contains(&("steps", "2".to_string())), "{info:?}");
}

#[test]
fn a_stop_between_steps_cancels() {
    let engine = engine(4);
    let mut frames = Frames(Vec::new());
    let mut calls = 0;
    let result = engine.render(&job(1), &mut frames, &mut |_| {
        calls += 1;
        Control::Stop
    });
    assert!(matches!(result, Err(EngineError::Cancelled)), "{result:?}");
    assert_eq!(calls, 1, "stopped after the first step");
    assert!(frames.0.is_empty());
}
