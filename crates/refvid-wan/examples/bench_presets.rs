//! Transformer passes per clip and wall time per speed preset (`quality`, `balanced`, `fast`),
//! one run each, with the ratios to `quality`. The passes are counted by the pipeline (the
//! `StepState::cache` tally after the last step), not computed here.
//!
//! `cargo run -p refvid-wan --example bench_presets -- tiny|1.3b [WxH] [FRAMES] [TEXT]`
//! (defaults: `tiny` 320x192, 17 frames; `1.3b` 32x32, 5 frames, TEXT 512 prompt-embedding
//! positions; the dev profile builds refvid-wan and its dependencies at opt-level 2).
//!
//! Columns: the transformer passes of the clip and, in brackets, how many of them the step cache
//! served (the main blocks skipped, their cached residual added); the main-block forwards that
//! ran, of all the passes would have run (VACE blocks run on every pass, cached or not); the
//! wall time; the ratios of main-block runs and of time to `quality`'s.
//!
//! Each preset's settings come from [`preset::plan`] exactly as the `wan` engine takes them
//! (50 UniPC steps with guidance 5 for `quality`; the same with MagCache `mag:0.12,2` and its
//! published Wan2.1-T2V-1.3B ratios for `balanced`; 4 renoise steps `1000,750,500,250`, shift 5,
//! guidance off for `fast`, the weights declared distilled since they are random).
//!
//! - `tiny`: the `wan` engine's model on the tiny fixture pipeline `tests/fixtures/tiny-vace-r2v`
//!   (4 + 3 blocks, 2 heads × 16), the whole call: prompt encoding, VAE encoding, denoising,
//!   decoding, one reference image.
//! - `1.3b`: the pipeline with a Wan2.1-VACE-1.3B transformer of random weights (f32: width
//!   1536, 30 blocks, 12 heads × 128, FFN 8960, 15 VACE blocks on every other layer, text width
//!   4096); the prompt embeddings are random `[1, TEXT, 4096]` tensors (UMT5-XXL's output is
//!   `[1, 512, 4096]`: the text encoder runs once per prompt whatever the preset, and the
//!   5.7 B-parameter encoder would take longer on a CPU than the comparison it serves). At a
//!   toy spatial size the cross-attention's key/value projections of 512 text positions are
//!   most of a pass (≈ 217 GFLOP of ≈ 270 at 32×32×5), unlike at 832×480×81 where they are
//!   under 1 %; a shorter TEXT keeps the toy's cost where the real one is, in the blocks run
//!   over the video tokens, and makes a 50-step run fit a CPU. The VAE is the tiny fixture's
//!   (z 16, as Wan's). The time is the denoising loop plus the tiny VAE's encoding and decoding.
//!   MagCache's skip decisions follow from its ratios and threshold alone, so the passes
//!   `balanced` skips here are the ones it skips with real weights at 50 steps.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;
use refvid_wan::engine::NativeRequest;
use refvid_wan::models::ModelPlace;
use refvid_wan::models::vace::{VaceModel, VaceOptions};
use refvid_wan::offload::{Placement, Staged, load};
use refvid_wan::pipeline::conditioning::preprocess_reference;
use refvid_wan::pipeline::{
    EncodedRequest, PromptEncoder, Reference, StepState, WAN_FLOW_SHIFT, WanVacePipeline, noise,
};
use refvid_wan::preset::{self, Distillation, Plan, Preset, SamplingFlags};
use refvid_wan::scheduler::SchedulerConfig;
use refvid_wan::step_cache::CacheStats;
use refvid_wan::tokenizer::TEXT_LEN;
use refvid_wan::transformer::{WanConfig, WanTransformer};

/// The model's own step count and guidance (Wan2.1-VACE's, the engine's defaults).
const STEPS: usize = 50;
const PRESETS: [Preset; 3] = [Preset::Quality, Preset::Balanced, Preset::Fast];

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The plan of a preset as the `wan` engine makes it without other flags.
fn plan(preset: Preset) -> refvid_wan::Result<Plan> {
    preset::plan(
        preset,
        &SamplingFlags::default(),
        STEPS,
        Distillation::Declared,
    )
}

/// The engine's options for a plan (`refvid`'s `load_vace` with no explicit flag).
fn options(plan: Plan) -> VaceOptions {
    let d = VaceOptions::default();
    VaceOptions {
        steps: plan.steps,
        guidance: if plan.guidance_off { 1.0 } else { d.guidance },
        shift: plan.shift,
        sampling: plan.sampling,
        preset: plan.preset,
        distillation: plan.distillation,
        ..d
    }
}

fn reference(w: usize, h: usize) -> Reference {
    let data = (0..w * h)
        .flat_map(|i| [(i % w * 255 / w) as u8, (i / w * 255 / h) as u8, 90])
        .collect();
    Reference::Rgb8 {
        width: w,
        height: h,
        data,
    }
}

/// One clip: its pass tally (from the last step's state) and its seconds.
struct Clip {
    stats: CacheStats,
    steps: usize,
    seconds: f64,
}

/// Runs `render` with a callback recording the last step's tally.
fn timed(
    render: impl FnOnce(&mut dyn FnMut(&StepState<'_>) -> bool) -> refvid_wan::Result<Tensor>,
) -> refvid_wan::Result<Clip> {
    let mut last = (CacheStats::default(), 0);
    let start = Instant::now();
    render(&mut |s| {
        last = (s.cache, s.step);
        if s.step % 10 == 0 {
            let secs = start.elapsed().as_secs_f64();
            eprintln!("  step {}/{}: {secs:.1} s", s.step, s.total);
        }
        true
    })?;
    Ok(Clip {
        stats: last.0,
        steps: last.1,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The tiny fixture pipeline through the `wan` engine's model, the whole call.
fn tiny(w: usize, h: usize, frames: usize, preset: Preset) -> refvid_wan::Result<Clip> {
    let place = ModelPlace::new(fixtures().join("tiny-vace-r2v")).with_native_size((w, h));
    let model = VaceModel::load(place, options(plan(preset)?))?;
    let request = NativeRequest {
        prompt: "a red fox walks in the snow".into(),
        references: vec![reference(96, 64)],
        width: w,
        height: h,
        num_frames: frames,
        seed: 1,
    };
    let params = model.params(&request);
    timed(|on_step| model.pipeline().generate_with(&params, on_step))
}

/// Wan2.1-VACE-1.3B's transformer config (diffusers `Wan2.1-VACE-1.3B-diffusers`).
fn vace_1_3b() -> WanConfig {
    WanConfig {
        patch_size: vec![1, 2, 2],
        num_attention_heads: 12,
        attention_head_dim: 128,
        in_channels: 16,
        out_channels: Some(16),
        text_dim: 4096,
        freq_dim: 256,
        ffn_dim: 8960,
        num_layers: 30,
        cross_attn_norm: true,
        eps: 1e-6,
        image_dim: None,
        added_kv_proj_dim: None,
        rope_max_seq_len: 1024,
        vace_layers: Some((0..30).step_by(2).collect()),
        vace_in_channels: Some(96),
    }
}

/// Random weights: normal with std `1/√fan_in` for matrices, ones for norm scales, zeros for
/// biases. Only the shapes are real.
struct RandomWeights;

impl SimpleBackend for RandomWeights {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let dims = shape.dims();
        if dims.len() == 1 {
            return match name.ends_with("bias") {
                true => Tensor::zeros(shape, dtype, dev),
                false => Tensor::ones(shape, dtype, dev),
            };
        }
        let fan_in: usize = dims[1..].iter().product();
        let std = 1.0 / (fan_in.max(1) as f32).sqrt();
        Tensor::randn(0f32, std, shape, dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("random weights need a shape for `{name}`")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// The pipeline with the 1.3B-shaped random transformer, the tiny fixture's tokenizer, text
/// encoder (unused: embeddings are given) and VAE, and Wan's UniPC config.
fn pipeline_1_3b() -> refvid_wan::Result<WanVacePipeline> {
    let (dev, dir) = (Device::Cpu, fixtures().join("tiny-vace-r2v"));
    let cfg = vace_1_3b();
    let vb = VarBuilder::from_backend(Box::new(RandomWeights), DType::F32, dev.clone());
    let transformer = WanTransformer::new(&cfg, vb)?;
    let at = Placement::new(DType::F32, &dev);
    WanVacePipeline::assemble(
        PromptEncoder::load(&dir, DType::F32, &dev)?,
        cfg,
        Staged::resident(transformer),
        load::vae(&dir, &at)?,
        SchedulerConfig::load_or_wan(&dir, WAN_FLOW_SHIFT)?,
        DType::F32,
        dev,
    )
}

/// One clip of the 1.3B-shaped pipeline: random prompt embeddings, one reference, denoising
/// and decoding.
fn wide(
    pipe: &WanVacePipeline,
    (w, h, frames): (usize, usize, usize),
    text_len: usize,
    preset: Preset,
) -> refvid_wan::Result<Clip> {
    let o = options(plan(preset)?);
    let dev = pipe.device();
    let text_dim = pipe.transformer_config().text_dim;
    let embeds = |seed: u64| noise::seeded_randn(seed, (1, text_len, text_dim), dev);
    let references = vec![preprocess_reference(&reference(96, 64), dev)?];
    let req = EncodedRequest {
        prompt_embeds: embeds(11)?,
        negative_prompt_embeds: (o.guidance > 1.0).then(|| embeds(12)).transpose()?,
        noise: noise::seeded_randn(1, pipe.noise_shape(w, h, frames, references.len()), dev)?,
        references,
        width: w,
        height: h,
        num_frames: frames,
        steps: o.steps,
        guidance: o.guidance,
        shift: o.shift,
        sampling: o.sampling,
        seed: 1,
    };
    timed(|on_step| pipe.run(&req, on_step))
}

fn main() -> refvid_wan::Result<()> {
    let which: String = arg(1, "tiny".to_string());
    let default_size = if which == "tiny" { "320x192" } else { "32x32" };
    let size: String = arg(2, default_size.to_string());
    let (w, h): (usize, usize) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .expect("WxH");
    let frames: usize = arg(3, if which == "tiny" { 17 } else { 5 });
    let text_len: usize = arg(4, TEXT_LEN);
    let pipe = match which.as_str() {
        "tiny" => None,
        "1.3b" => {
            let start = Instant::now();
            let pipe = pipeline_1_3b()?;
            println!(
                "random VACE-1.3B transformer drawn in {:.1} s",
                start.elapsed().as_secs_f64()
            );
            Some(pipe)
        }
        other => panic!("expected tiny or 1.3b, got {other}"),
    };
    match &pipe {
        None => println!("{which}: {w}x{h}, {frames} frames, 1 reference, CPU f32"),
        Some(_) => println!(
            "{which}: {w}x{h}, {frames} frames, 1 reference, {text_len} text positions, CPU f32"
        ),
    }
    println!(
        "| preset | steps | transformer passes (cached) | main-block runs | wall s | \
         main-block runs / quality | time / quality |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut quality: Option<(usize, f64)> = None;
    for preset in PRESETS {
        eprintln!("{preset}:");
        let clip = match &pipe {
            None => tiny(w, h, frames, preset)?,
            Some(pipe) => wide(pipe, (w, h, frames), text_len, preset)?,
        };
        let s = clip.stats;
        let (q_blocks, q_secs) = *quality.get_or_insert((s.blocks_run, clip.seconds));
        println!(
            "| {preset} | {} | {} ({}) | {} of {} | {:.2} | {:.3} | {:.3} |",
            clip.steps,
            s.passes,
            s.skipped_passes,
            s.blocks_run,
            s.blocks_run + s.blocks_skipped,
            clip.seconds,
            s.blocks_run as f64 / q_blocks as f64,
            clip.seconds / q_secs,
        );
    }
    Ok(())
}
