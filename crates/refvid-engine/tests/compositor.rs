//! Behaviour of the compositor engine through the public `Engine` API.

use image::{Rgb, RgbImage, Rgba, RgbaImage};
use refvid_engine::compositor::CompositorEngine;
use refvid_engine::{
    Control, Engine, EngineError, FrameSink, Motion, RenderJob, SinkError, SubjectRefs,
};

/// Collects every frame.
#[derive(Default)]
struct Frames(Vec<RgbImage>);

impl FrameSink for Frames {
    fn push(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
        self.0.push(frame.clone());
        Ok(())
    }
}

/// Checks the geometry of every frame and hashes them all, keeping no copies.
struct Hasher {
    size: (u32, u32),
    count: u32,
    hash: u64,
}

impl FrameSink for Hasher {
    fn push(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
        assert_eq!(
            frame.dimensions(),
            self.size,
            "frame {} has the wrong size",
            self.count
        );
        self.count += 1;
        for &b in frame.as_raw() {
            self.hash = (self.hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Ok(())
    }
}

/// A red disc on a white backdrop.
fn red_disc(w: u32, h: u32) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, y| {
        let d = (x as f32 + 0.5 - w as f32 / 2.0).hypot(y as f32 + 0.5 - h as f32 / 2.0);
        if d < w.min(h) as f32 * 0.4 {
            Rgba([220, 0, 0, 255])
        } else {
            Rgba([255, 255, 255, 255])
        }
    })
}

/// A busy, photograph-like image with no plain border.
fn busy(w: u32, h: u32, tint: u8) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, y| {
        let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) as u8;
        Rgba([v, tint, v.wrapping_add(77), 255])
    })
}

fn subject(name: &str, images: Vec<RgbaImage>) -> SubjectRefs {
    SubjectRefs {
        name: name.into(),
        images,
    }
}

fn job(width: u32, height: u32, frame_count: u32, seed: u64, motion: Motion) -> RenderJob {
    RenderJob {
        prompt: "@cat chases @ball across the lawn".into(),
        subjects: vec![
            subject("cat", vec![busy(90, 70, 40)]),
            subject("ball", vec![red_disc(64, 64)]),
        ],
        width,
        height,
        fps: 24,
        frame_count,
        seed,
        motion,
    }
}

fn render(job: &RenderJob) -> Vec<RgbImage> {
    let mut frames = Frames::default();
    CompositorEngine::new()
        .render(job, &mut frames, &mut |_| Control::Continue)
        .expect("render");
    frames.0
}

fn render_hash(job: &RenderJob) -> (u32, u64) {
    let mut sink = Hasher {
        size: (job.width, job.height),
        count: 0,
        hash: 0xcbf2_9ce4_8422_2325,
    };
    CompositorEngine::new()
        .render(job, &mut sink, &mut |_| Control::Continue)
        .expect("render");
    (sink.count, sink.hash)
}

#[test]
fn is_named_compositor() {
    assert_eq!(CompositorEngine::new().name(), "compositor");
}

#[test]
fn every_frame_has_the_job_geometry() {
    for (w, h, n) in [
        (256, 144, 24),
        (144, 256, 5),
        (400, 100, 3),
        (100, 400, 3),
        (255, 143, 2),
        (2, 2, 2),
        (1080, 1920, 2),
    ] {
        let (count, _) = render_hash(&job(w, h, n, 1, Motion::Auto));
        assert_eq!(count, n, "{w}x{h}");
    }
}

#[test]
fn long_clips_render_every_frame() {
    let (count, _) = render_hash(&job(64, 36, 240, 5, Motion::High));
    assert_eq!(count, 240);
}

#[test]
fn same_job_and_seed_give_identical_frames() {
    let j = job(256, 144, 12, 77, Motion::High);
    assert_eq!(render_hash(&j), render_hash(&j));
}

#[test]
fn different_seeds_give_different_clips() {
    let a = render(&job(256, 144, 1, 1, Motion::Medium));
    let b = render(&job(256, 144, 1, 2, Motion::Medium));
    assert!(mean_abs_diff(&a[0], &b[0]) > 5.0);
}

#[test]
fn frames_change_over_time() {
    let frames = render(&job(256, 144, 24, 3, Motion::Medium));
    assert!(mean_abs_diff(&frames[0], &frames[23]) > 1.0);
}

fn is_red(p: &Rgb<u8>) -> bool {
    p.0[0] > 180 && p.0[1] < 50 && p.0[2] < 50
}

fn is_white(p: &Rgb<u8>) -> bool {
    p.0.iter().all(|&c| c >= 245)
}

#[test]
fn the_subject_appears_and_its_white_backdrop_is_cut_away() {
    let mut j = job(256, 144, 6, 9, Motion::Medium);
    j.subjects = vec![subject("ball", vec![red_disc(120, 120)])];
    for frame in render(&j) {
        let red = frame.pixels().filter(|p| is_red(p)).count();
        let white = frame.pixels().filter(|p| is_white(p)).count();
        // The disc covers half the sprite (about 40% of 144 px): thousands of red pixels;
        // its white square, had it been kept, would add thousands of white ones.
        assert!(red > 1500, "red pixels: {red}");
        assert!(white < 50, "white pixels: {white}");
    }
}

#[test]
fn photographs_are_kept_whole() {
    let mut j = job(256, 144, 1, 9, Motion::Small);
    j.subjects = vec![subject("photo", vec![busy(80, 60, 250)])];
    let frame = &render(&j)[0];
    // The photo's green channel is 250 everywhere: a large block of it survives.
    let green = frame.pixels().filter(|p| p.0[1] >= 200).count();
    assert!(green > 3000, "{green}");
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| x.abs_diff(y) as u64)
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

fn motion_energy(motion: Motion) -> f64 {
    let frames = render(&job(256, 144, 48, 11, motion));
    frames
        .windows(2)
        .map(|w| mean_abs_diff(&w[0], &w[1]))
        .sum::<f64>()
        / 47.0
}

#[test]
fn high_motion_moves_more_than_small() {
    let (small, medium, high) = (
        motion_energy(Motion::Small),
        motion_energy(Motion::Medium),
        motion_energy(Motion::High),
    );
    assert!(small > 0.0);
    assert!(high > small * 1.5, "small {small}, high {high}");
    assert!(
        medium > small && high > medium,
        "small {small}, medium {medium}, high {high}"
    );
    assert_eq!(motion_energy(Motion::Auto), medium);
}

#[test]
fn stopping_cancels_after_exactly_that_many_frames() {
    for stop_after in [1, 3] {
        let mut frames = Frames::default();
        let mut calls = 0;
        let result = CompositorEngine::new().render(
            &job(128, 72, 10, 1, Motion::Auto),
            &mut frames,
            &mut |_| {
                calls += 1;
                if calls == stop_after {
                    Control::Stop
                } else {
                    Control::Continue
                }
            },
        );
        assert!(matches!(result, Err(EngineError::Cancelled)), "{result:?}");
        assert_eq!(frames.0.len(), stop_after);
    }
}

#[test]
fn progress_rises_once_per_frame_to_one() {
    let mut seen = Vec::new();
    let j = job(64, 36, 17, 1, Motion::Auto);
    CompositorEngine::new()
        .render(&j, &mut Frames::default(), &mut |f| {
            seen.push(f);
            Control::Continue
        })
        .unwrap();
    assert_eq!(seen.len(), 17);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(seen[0] > 0.0 && seen.iter().all(|f| (0.0..=1.0).contains(f)));
    assert_eq!(*seen.last().unwrap(), 1.0);
}

#[test]
fn many_odd_subjects_render() {
    let mut j = job(256, 144, 3, 4, Motion::High);
    j.subjects = (0..7)
        .map(|i| {
            let img = match i % 4 {
                0 => red_disc(33 + i, 91),
                1 => busy(7, 200, 9),
                2 => busy(1, 1, 200),
                _ => red_disc(301, 17),
            };
            subject(&format!("s{i}"), vec![img, busy(5, 5, 5)])
        })
        .collect();
    for (w, h) in [(256, 144), (400, 100), (100, 400)] {
        j.width = w;
        j.height = h;
        assert_eq!(render_hash(&j).0, 3);
    }
}

#[test]
fn transparent_references_are_used_as_they_are() {
    let mut ball = red_disc(64, 64);
    ball.pixels_mut()
        .filter(|p| p.0[1] == 255)
        .for_each(|p| *p = Rgba([0, 0, 0, 0]));
    let mut j = job(256, 144, 1, 2, Motion::Small);
    j.subjects = vec![subject("ball", vec![ball])];
    let frame = &render(&j)[0];
    assert!(frame.pixels().filter(|p| is_red(p)).count() > 1500);
    // Transparent black must not show as a dark square.
    assert!(
        frame
            .pixels()
            .filter(|p| p.0.iter().all(|&c| c < 20))
            .count()
            < 50
    );
}

fn expect_invalid(j: &RenderJob) {
    let result =
        CompositorEngine::new().render(j, &mut Frames::default(), &mut |_| Control::Continue);
    assert!(
        matches!(result, Err(EngineError::InvalidJob(_))),
        "{result:?}"
    );
}

#[test]
fn unrenderable_jobs_are_invalid() {
    let base = job(64, 36, 2, 1, Motion::Auto);
    expect_invalid(&RenderJob {
        subjects: vec![],
        ..base.clone()
    });
    expect_invalid(&RenderJob {
        width: 0,
        ..base.clone()
    });
    expect_invalid(&RenderJob {
        height: 0,
        ..base.clone()
    });
    expect_invalid(&RenderJob {
        frame_count: 0,
        ..base.clone()
    });
    expect_invalid(&RenderJob {
        fps: 0,
        ..base.clone()
    });
    expect_invalid(&RenderJob {
        subjects: vec![subject("x", vec![])],
        ..base.clone()
    });
    expect_invalid(&RenderJob {
        subjects: vec![subject("x", vec![RgbaImage::new(0, 5)])],
        ..base
    });
}

struct FailingSink;

impl FrameSink for FailingSink {
    fn push(&mut self, _: &RgbImage) -> Result<(), SinkError> {
        Err(SinkError("disk full".into()))
    }
}

#[test]
fn sink_failures_end_the_render() {
    let mut calls = 0;
    let result = CompositorEngine::new().render(
        &job(64, 36, 5, 1, Motion::Auto),
        &mut FailingSink,
        &mut |_| {
            calls += 1;
            Control::Continue
        },
    );
    assert!(matches!(result, Err(EngineError::Sink(_))), "{result:?}");
    assert_eq!(calls, 0);
}
