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
use refvid_wan::pipeline::conditioning::preprocess_reference;
use refvid_wan::pipeline::{EncodedRequest, GenerateParams, Reference, WanVacePipeline};

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
        sampling: Default::default(),
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
    stages(&pipe, &params, runs)
}

/// Time per stage: VAE encodings (references + grey video), denoising (transformer with CFG and
/// scheduler), VAE decoding.
fn stages(pipe: &WanVacePipeline, p: &GenerateParams, runs: usize) -> refvid_wan::Result<()> {
    let device = pipe.device().clone();
    let refs = p
        .references
        .iter()
        .map(|r| preprocess_reference(r, &device))
        .collect::<refvid_wan::Result<Vec<_>>>()?;
    let req = EncodedRequest {
        prompt_embeds: pipe.encode_prompt(&p.prompt)?,
        negative_prompt_embeds: Some(pipe.encode_prompt(&p.negative_prompt)?),
        references: refs.clone(),
        width: p.width,
        height: p.height,
        num_frames: p.num_frames,
        steps: p.steps,
        guidance: p.guidance,
        noise: p.initial_noise.clone().expect("noise"),
        shift: p.shift,
        sampling: p.sampling.clone(),
        seed: p.seed,
    };
    let mut ms = [0f64; 3];
    for _ in 0..runs {
        let t0 = Instant::now();
        pipe.clear_cache();
        let canvases = pipe.reference_canvases(&refs, p.width, p.height)?;
        let ctx = pipe.vace_context(&canvases, p.width, p.height, p.num_frames)?;
        let t1 = Instant::now();
        let latents = pipe.denoise_with_context(&req, &ctx, &mut |_| true)?;
        let t2 = Instant::now();
        std::hint::black_box(pipe.decode(&latents, refs.len())?);
        let t3 = Instant::now();
        for (m, d) in ms.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2]) {
            *m += d.as_secs_f64() * 1e3 / runs as f64;
        }
    }
    println!(
        "stages: VAE encodings {:.1} ms, denoising {:.1} ms, VAE decoding {:.1} ms",
        ms[0], ms[1], ms[2]
    );
    Ok(())
}
