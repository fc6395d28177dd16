//! Times one whole reference-to-video call on CPU, the same call
//! `scripts/make_pipeline_fixtures.py --bench` times in PyTorch: prompt and negative prompt as
//! text, the RGB8 reference images, the fixed initial noise, then encoding, denoising with CFG
//! and decoding.
//!
//! `cargo run --release -p refvid-wan --example bench_pipeline -- [RUNS]`
//! (the tiny fixture pipeline `tests/fixtures/tiny-vace-r2v` and `pipeline_case.json`).
//!
//! Prints the time per video with the zero-video VAE encoding recomputed every call (as
//! diffusers does, which encodes it twice) and with it cached (what a server's later calls get),
//! and the largest difference from diffusers' frames.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use refvid_wan::pipeline::{GenerateParams, Reference, WanVacePipeline};

#[derive(serde::Deserialize)]
struct Case {
    prompt: String,
    negative_prompt: String,
    width: usize,
    height: usize,
    num_frames: usize,
    steps: usize,
    guidance: f64,
    flow_shift: f64,
}

fn main() -> refvid_wan::Result<()> {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let device = Device::Cpu;
    let case: Case = refvid_wan::loading::read_json(&fixtures.join("pipeline_case.json"))?;
    let inputs =
        candle_core::safetensors::load(fixtures.join("pipeline_inputs.safetensors"), &device)?;
    let reference_video =
        candle_core::safetensors::load(fixtures.join("pipeline_outputs.safetensors"), &device)?
            .remove("video")
            .expect("video");

    let mut references = Vec::new();
    while let Some(t) = inputs.get(&format!("reference_rgb8.{}", references.len())) {
        let (height, width, _) = t.dims3()?;
        let data = t.flatten_all()?.to_vec1::<u8>()?;
        references.push(Reference::Rgb8 {
            width,
            height,
            data,
        });
    }
    let params = GenerateParams {
        prompt: case.prompt,
        negative_prompt: case.negative_prompt,
        references,
        width: case.width,
        height: case.height,
        num_frames: case.num_frames,
        steps: case.steps,
        guidance: case.guidance,
        seed: 0,
        initial_noise: Some(inputs["latents"].clone()),
        shift: Some(case.flow_shift),
    };

    let pipe = WanVacePipeline::load(&fixtures.join("tiny-vace-r2v"), DType::F32, &device)?;
    let video = pipe.generate(&params, &mut |_, _| true)?;
    let err: f32 = (&video - &reference_video)?.abs()?.max_all()?.to_scalar()?;
    let time = |clear: bool| -> refvid_wan::Result<f64> {
        let t0 = Instant::now();
        for _ in 0..runs {
            if clear {
                pipe.clear_cache();
            }
            let v: Tensor = pipe.generate(&params, &mut |_, _| true)?;
            std::hint::black_box(v);
        }
        Ok(t0.elapsed().as_secs_f64() / runs as f64 * 1e3)
    };
    let uncached = time(true)?;
    let cached = time(false)?;
    println!(
        "tiny pipeline (candle, {}x{}, {} frames, {} refs, {} steps, CFG): {uncached:.1} ms per \
         video, {cached:.1} ms with the zero-video encoding cached; max |frames − diffusers| \
         {err:.2e}",
        params.width,
        params.height,
        params.num_frames,
        params.references.len(),
        params.steps
    );
    Ok(())
}
