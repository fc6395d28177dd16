//! Seconds per denoising step of the two engines' models on CPU, back to back in one run: the
//! tiny fixture models `tiny-vace-r2v` (VACE: 2 transformer passes per step, 4 blocks + 3 VACE
//! blocks) and `tiny-phantom` (Phantom: 3 passes per step, 3 blocks), both 2 heads × 16 wide,
//! at the same size, frame count and 2 references.
//!
//! `cargo run -p refvid-wan --example bench_engines -- [WxH] [FRAMES] [STEPS]`
//! (defaults 320x192, 17, 4; the dev profile builds refvid-wan and its dependencies at
//! opt-level 2).
//!
//! Prints, per model, the mean seconds of the steps after the first (the first step warms the
//! allocator) and the whole call.

use std::path::PathBuf;
use std::time::Instant;

use refvid_wan::engine::{NativeRequest, VideoModel};
use refvid_wan::models::ModelPlace;
use refvid_wan::models::phantom::{PhantomModel, PhantomOptions};
use refvid_wan::models::vace::{VaceModel, VaceOptions};
use refvid_wan::pipeline::Reference;

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn reference(w: usize, h: usize, k: usize) -> Reference {
    let data = (0..w * h)
        .flat_map(|i| {
            [
                (i % w * 255 / w) as u8,
                (i / w * 255 / h) as u8,
                (40 * k) as u8,
            ]
        })
        .collect();
    Reference::Rgb8 {
        width: w,
        height: h,
        data,
    }
}

/// Times one render: `(mean seconds per step after the first, total seconds)`.
fn time(model: &dyn VideoModel, request: &NativeRequest) -> refvid_wan::Result<(f64, f64)> {
    let start = Instant::now();
    let mut marks = vec![start];
    model.render(request, &mut |_| {
        marks.push(Instant::now());
        true
    })?;
    let total = start.elapsed().as_secs_f64();
    let steps: Vec<f64> = marks
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    let later = &steps[1.min(steps.len() - 1)..];
    Ok((later.iter().sum::<f64>() / later.len() as f64, total))
}

fn main() -> refvid_wan::Result<()> {
    let size: String = arg(1, "320x192".to_string());
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .expect("WxH");
    let (frames, steps): (usize, usize) = (arg(2, 17), arg(3, 4));
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let request = NativeRequest {
        prompt: "a red fox walks in the snow".into(),
        references: vec![reference(96, 64, 1), reference(50, 80, 2)],
        width: w,
        height: h,
        num_frames: frames,
        seed: 1,
    };
    let place = |dir: &str| ModelPlace::new(fixtures.join(dir)).with_native_size((w, h));
    let vace = VaceModel::load(
        place("tiny-vace-r2v"),
        VaceOptions {
            steps,
            ..Default::default()
        },
    )?;
    let phantom = PhantomModel::load(
        place("tiny-phantom"),
        PhantomOptions {
            steps,
            ..Default::default()
        },
    )?;
    println!("{w}x{h}, {frames} frames, 2 references, {steps} steps, CPU");
    for (name, passes, model) in [
        ("vace (wan)", 2, &vace as &dyn VideoModel),
        ("phantom", 3, &phantom as &dyn VideoModel),
    ] {
        let (per_step, total) = time(model, &request)?;
        println!("{name}: {passes} passes/step, {per_step:.3} s/step, {total:.2} s in all");
    }
    Ok(())
}
