//! The `phantom` engine (Phantom-Wan through the [`ModelEngine`] seam) on the tiny fixture
//! model, in its diffusers folder and as the original release lays it out: frames of the job's
//! size and count, progress per step, cancellation between steps, seeds, more references than
//! Phantom was trained with, and which transformer an original folder gives.

use std::path::{Path, PathBuf};

use image::{RgbImage, RgbaImage};
use refvid_engine::{
    Control, Engine, EngineError, FrameSink, Motion, RenderJob, SinkError, SubjectRefs,
};
use refvid_wan::engine::ModelEngine;
use refvid_wan::models::ModelPlace;
use refvid_wan::models::phantom::{PhantomModel, PhantomOptions, transformer_path};

struct Frames(Vec<RgbImage>);

impl FrameSink for Frames {
    fn push(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
        self.0.push(frame.clone());
        Ok(())
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn engine(dir: &Path, steps: usize) -> ModelEngine {
    let place = ModelPlace::new(dir).with_native_size((64, 48));
    let options = PhantomOptions {
        steps,
        ..Default::default()
    };
    ModelEngine::new(PhantomModel::load(place, options).unwrap())
}

fn job(seed: u64, images: usize) -> RenderJob {
    let card = |k: u32| {
        RgbaImage::from_fn(40 + 7 * k, 30, move |x, y| {
            image::Rgba([(x * 6) as u8, (y * 8) as u8, (30 * k) as u8, 255])
        })
    };
    RenderJob {
        prompt: "@cat waves at @1".into(),
        subjects: vec![SubjectRefs {
            name: "cat".into(),
            images: (0..images as u32).map(card).collect(),
        }],
        width: 96,
        height: 54,
        fps: 24,
        frame_count: 24,
        seed,
        motion: Motion::Auto,
    }
}

fn render(engine: &ModelEngine, job: &RenderJob) -> Vec<RgbImage> {
    let mut frames = Frames(Vec::new());
    engine
        .render(job, &mut frames, &mut |_| Control::Continue)
        .unwrap();
    frames.0
}

#[test]
fn renders_the_jobs_frames_with_a_report_per_step() {
    let engine = engine(&fixture("tiny-phantom"), 3);
    let mut frames = Frames(Vec::new());
    let mut seen = Vec::new();
    engine
        .render(&job(1, 2), &mut frames, &mut |p| {
            seen.push(p);
            Control::Continue
        })
        .unwrap();
    assert_eq!(frames.0.len(), 24);
    assert!(frames.0.iter().all(|f| f.dimensions() == (96, 54)));
    assert_eq!(seen.iter().filter(|&&p| p <= 0.9).count(), 3, "{seen:?}");
    assert_eq!(*seen.last().unwrap(), 1.0);
    assert!(
        render(&engine, &job(1, 2)) == frames.0,
        "same seed, same frames"
    );
    assert!(
        render(&engine, &job(2, 2)) != frames.0,
        "another seed, other frames"
    );
    assert!(
        render(&engine, &job(1, 1)) != frames.0,
        "the references count"
    );
    let info = engine.describe();
    assert_eq!(info[0], ("engine", "phantom".to_string()));
    assert_eq!(info[1], ("model", "tiny-phantom".to_string()));
    assert!(
        info.contains(&("guidance_text", "7.5".to_string())),
        "{info:?}"
    );
}

#[test]
fn seven_references_render_and_eight_are_refused() {
    let engine = engine(&fixture("tiny-phantom"), 1);
    assert_eq!(render(&engine, &job(3, 7)).len(), 24);
    let err = engine
        .render(&job(3, 8), &mut Frames(Vec::new()), &mut |_| {
            Control::Continue
        })
        .unwrap_err();
    assert!(
        matches!(err, EngineError::InvalidJob(ref m) if m.contains("at most 7")),
        "{err}"
    );
}

#[test]
fn a_stop_between_steps_cancels() {
    let engine = engine(&fixture("tiny-phantom"), 4);
    let mut frames = Frames(Vec::new());
    let mut calls = 0;
    let result = engine.render(&job(1, 1), &mut frames, &mut |_| {
        calls += 1;
        Control::Stop
    });
    assert!(matches!(result, Err(EngineError::Cancelled)), "{result:?}");
    assert_eq!(calls, 1);
    assert!(frames.0.is_empty());
}

#[test]
fn the_original_layout_renders_the_same_video() {
    let diffusers = engine(&fixture("tiny-phantom"), 2);
    let original = engine(&fixture("tiny-phantom-original"), 2);
    assert!(render(&diffusers, &job(5, 2)) == render(&original, &job(5, 2)));
    assert_eq!(
        original.describe()[1],
        ("model", "Phantom-Wan-tiny.pth".to_string())
    );
}

/// An original Wan2.1-T2V folder holds its own T2V transformer too: the Phantom file is the one
/// named `*phantom*`, or the one passed explicitly; without one the engine refuses.
#[test]
fn an_original_folder_gives_its_phantom_file() {
    let src = fixture("tiny-phantom-original");
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "config.json",
        "models_t5_umt5-tiny-enc.pth",
        "Wan2.1_VAE.pth",
    ] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let tok = dir.path().join("google/umt5-xxl");
    std::fs::create_dir_all(&tok).unwrap();
    std::fs::copy(
        src.join("google/umt5-xxl/tokenizer.json"),
        tok.join("tokenizer.json"),
    )
    .unwrap();
    let decoy = fixture("original-layout/t2v/diffusion_pytorch_model.safetensors");
    std::fs::copy(
        &decoy,
        dir.path().join("diffusion_pytorch_model.safetensors"),
    )
    .unwrap();

    let err = transformer_path(dir.path(), None).unwrap_err().to_string();
    assert!(err.contains("no Phantom checkpoint"), "{err}");
    let explicit = src.join("Phantom-Wan-tiny.pth");
    let place = ModelPlace::new(dir.path()).with_native_size((64, 48));
    let options = PhantomOptions {
        steps: 1,
        checkpoint: Some(explicit.clone()),
        ..Default::default()
    };
    PhantomModel::load(place, options).unwrap();

    std::fs::copy(&explicit, dir.path().join("Phantom-Wan-tiny.pth")).unwrap();
    assert_eq!(
        transformer_path(dir.path(), None).unwrap(),
        dir.path().join("Phantom-Wan-tiny.pth")
    );
    engine(dir.path(), 1);
}
