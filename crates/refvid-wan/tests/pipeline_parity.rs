//! Parity of the reference-to-video pipeline with diffusers' `WanVACEPipeline` on the tiny
//! random-weight pipeline `tests/fixtures/tiny-vace-r2v/` (fixtures from
//! `scripts/make_pipeline_fixtures.py`; the case is in `pipeline_case.json`: 64×48, 9 frames,
//! 2 references, 3 UniPC steps, guidance 5, fixed initial noise).
//!
//! Tolerances:
//! - reference preprocessing (Pillow's Lanczos resize to multiples of 8, normalisation): exact;
//! - canvas placement (torch bilinear): max abs error ≤ 1e-6;
//! - the 64-channel mask: exact;
//! - prompt embeddings, and the latents after every denoising step (transformer with CFG and
//!   the UniPC scheduler, from diffusers' conditioning): max abs error ≤ 1e-4 · max |reference|
//!   (as `tests/parity.rs`); the same for the VACE context (VAE encodings of the references and
//!   the grey video, and the mask);
//! - the decoded frames (0..1): max abs error ≤ `VIDEO_ABS_TOL` (1e-4).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use refvid_wan::pipeline::check::request_from_inputs;
use refvid_wan::pipeline::conditioning::{place_on_canvas, preprocess_reference, vace_mask};
use refvid_wan::pipeline::prompt::clean_prompt;
use refvid_wan::pipeline::{GenerateParams, VaeCodec, WanVacePipeline};
use refvid_wan::tokenizer::{PromptTokenizer, TEXT_LEN};

mod common;
use common::{fixtures, rgb8};

/// Relative tolerance of f32 model outputs.
const F32_REL_TOL: f32 = 1e-4;

fn load(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join(name), &Device::Cpu).expect(name)
}

#[derive(serde::Deserialize)]
struct Case {
    prompt: String,
    negative_prompt: String,
    width: usize,
    height: usize,
    num_frames: usize,
    steps: usize,
    guidance: f64,
    reference_sizes: Vec<(usize, usize)>,
}

fn case() -> Case {
    let text = std::fs::read_to_string(fixtures().join("pipeline_case.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `(max abs error, max |reference|)`.
fn compare(ours: &Tensor, reference: &Tensor) -> (f32, f32) {
    assert_eq!(ours.dims(), reference.dims(), "shape");
    let ours = ours.to_dtype(DType::F32).unwrap();
    let reference = reference.to_dtype(DType::F32).unwrap();
    let err = (&ours - &reference)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    let scale = reference.abs().unwrap().max_all().unwrap();
    (err.to_scalar().unwrap(), scale.to_scalar().unwrap())
}

fn assert_close(what: &str, ours: &Tensor, reference: &Tensor, abs_tol: f32) {
    let (err, scale) = compare(ours, reference);
    eprintln!("{what}: max abs err {err:.3e}, scale {scale:.3e}");
    assert!(err <= abs_tol, "{what}: max abs err {err} > {abs_tol}");
}

#[test]
fn references_preprocess_like_video_processor() {
    let inputs = load("pipeline_inputs.safetensors");
    let c = case();
    for (i, (w, h)) in c.reference_sizes.iter().enumerate() {
        let ours = preprocess_reference(&rgb8(&inputs, i), &Device::Cpu).unwrap();
        assert_eq!(ours.dims(), &[3, h - h % 8, w - w % 8]);
        assert_close(
            &format!("reference {i} ({w}x{h})"),
            &ours,
            &inputs[&format!("reference_image.{i}")],
            0.0,
        );
    }
}

#[test]
fn references_land_on_white_canvases_like_diffusers() {
    let inputs = load("pipeline_inputs.safetensors");
    let canvases = &load("pipeline_outputs.safetensors")["reference_canvas"];
    let c = case();
    for i in 0..c.reference_sizes.len() {
        let ours =
            place_on_canvas(&inputs[&format!("reference_image.{i}")], c.height, c.width).unwrap();
        assert_close(
            &format!("canvas {i}"),
            &ours,
            &canvases.get(i).unwrap(),
            1e-6,
        );
    }
}

#[test]
fn mask_matches_prepare_masks() {
    let c = case();
    let ones = Tensor::ones((c.num_frames, c.height, c.width), DType::F32, &Device::Cpu).unwrap();
    let ours = vace_mask(&ones, c.reference_sizes.len())
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    assert_close(
        "mask",
        &ours,
        &load("pipeline_outputs.safetensors")["mask"],
        0.0,
    );
}

#[test]
fn prompts_encode_like_the_pipeline() {
    let pipe = fixtures().join("tiny-vace-r2v");
    let tok = PromptTokenizer::from_model_dir(&pipe, TEXT_LEN).unwrap();
    let enc = refvid_wan::loading::load_text_encoder(&pipe, DType::F32, &Device::Cpu).unwrap();
    let inputs = load("pipeline_inputs.safetensors");
    let c = case();
    for (text, name) in [
        (&c.prompt, "prompt_embeds"),
        (&c.negative_prompt, "negative_prompt_embeds"),
    ] {
        let cleaned = clean_prompt(text);
        let ours =
            refvid_wan::loading::encode_prompts(&tok, &enc, &[&cleaned], &Device::Cpu).unwrap();
        let (err, scale) = compare(&ours, &inputs[name]);
        eprintln!("{name}: max abs err {err:.3e}, scale {scale:.3e}");
        assert!(
            err <= F32_REL_TOL * scale,
            "{name}: {err} > {F32_REL_TOL} x {scale}"
        );
    }
}

/// A VAE that only knows its statistics: for running the denoising loop on diffusers'
/// conditioning without a VAE.
struct StatsOnlyVae {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl VaeCodec for StatsOnlyVae {
    fn z_dim(&self) -> usize {
        self.mean.len()
    }
    fn latents_mean(&self) -> Vec<f64> {
        self.mean.clone()
    }
    fn latents_std(&self) -> Vec<f64> {
        self.std.clone()
    }
    fn encode(&self, _: &Tensor) -> refvid_wan::Result<Tensor> {
        Err(refvid_wan::WanError::Input(
            "stats-only VAE cannot encode".into(),
        ))
    }
    fn decode(&self, _: &Tensor) -> refvid_wan::Result<Tensor> {
        Err(refvid_wan::WanError::Input(
            "stats-only VAE cannot decode".into(),
        ))
    }
}

fn pipeline_with(vae: Box<dyn VaeCodec>) -> WanVacePipeline {
    let dir = fixtures().join("tiny-vace-r2v");
    WanVacePipeline::load_with_vae(&dir, DType::F32, &Device::Cpu, vae).unwrap()
}

fn stats_only_vae() -> Box<dyn VaeCodec> {
    #[derive(serde::Deserialize)]
    struct Stats {
        latents_mean: Vec<f64>,
        latents_std: Vec<f64>,
    }
    let s: Stats =
        refvid_wan::loading::read_json(&fixtures().join("tiny-vace-r2v/vae/config.json")).unwrap();
    Box::new(StatsOnlyVae {
        mean: s.latents_mean,
        std: s.latents_std,
    })
}

#[test]
fn denoising_matches_diffusers_after_every_step() {
    // diffusers' own conditioning (VAE latents + mask) in, so this needs no VAE.
    let pipe = pipeline_with(stats_only_vae());
    let inputs = load("pipeline_inputs.safetensors");
    let outputs = load("pipeline_outputs.safetensors");
    let req = request_from_inputs(&inputs).unwrap();
    assert_eq!(
        (req.width, req.height, req.num_frames, req.steps),
        (64, 48, 9, 3)
    );
    let context = Tensor::cat(&[&outputs["conditioning_latents"], &outputs["mask"]], 1).unwrap();
    let mut seen = Vec::new();
    let last = pipe
        .denoise_with_context(&req, &context, &mut |s| {
            seen.push(s.latents.clone());
            true
        })
        .unwrap();
    assert_eq!(seen.len(), 3);
    for (i, ours) in seen.iter().enumerate() {
        let reference = &outputs[&format!("latents.{i}")];
        let (err, scale) = compare(ours, reference);
        eprintln!("latents after step {i}: max abs err {err:.3e}, scale {scale:.3e}");
        assert!(
            err <= F32_REL_TOL * scale,
            "step {i}: {err} > {F32_REL_TOL} x {scale}"
        );
    }
    assert_eq!(compare(&last, &seen[2]).0, 0.0);
}

#[test]
fn denoising_can_be_cancelled_and_checks_shapes() {
    let pipe = pipeline_with(stats_only_vae());
    let inputs = load("pipeline_inputs.safetensors");
    let outputs = load("pipeline_outputs.safetensors");
    let req = request_from_inputs(&inputs).unwrap();
    let context = Tensor::cat(&[&outputs["conditioning_latents"], &outputs["mask"]], 1).unwrap();
    let r = pipe.denoise_with_context(&req, &context, &mut |s| s.step < 1);
    assert!(
        matches!(
            r,
            Err(refvid_wan::WanError::Cancelled { step: 1, total: 3 })
        ),
        "{r:?}"
    );
    let short = context.narrow(2, 1, 4).unwrap();
    let e = pipe
        .denoise_with_context(&req, &short, &mut |_| true)
        .unwrap_err();
    assert!(e.to_string().contains("VACE context"), "{e}");
}

// ---- With the Wan VAE ------------------------------------------------------------------------

/// Frames are in 0..1; the decoded video's error bound.
const VIDEO_ABS_TOL: f32 = 1e-4;

fn loaded() -> WanVacePipeline {
    WanVacePipeline::load(&fixtures().join("tiny-vace-r2v"), DType::F32, &Device::Cpu).unwrap()
}

fn params() -> GenerateParams {
    let c = case();
    let inputs = load("pipeline_inputs.safetensors");
    GenerateParams {
        prompt: c.prompt,
        negative_prompt: c.negative_prompt,
        references: (0..c.reference_sizes.len())
            .map(|i| rgb8(&inputs, i))
            .collect(),
        width: c.width,
        height: c.height,
        num_frames: c.num_frames,
        steps: c.steps,
        guidance: c.guidance,
        seed: 0,
        initial_noise: Some(inputs["latents"].clone()),
        shift: None,
        sampling: Default::default(),
    }
}

#[test]
fn vace_context_matches_diffusers() {
    let pipe = loaded();
    let inputs = load("pipeline_inputs.safetensors");
    let outputs = load("pipeline_outputs.safetensors");
    let c = case();
    let refs: Vec<Tensor> = (0..c.reference_sizes.len())
        .map(|i| inputs[&format!("reference_image.{i}")].clone())
        .collect();
    let canvases = pipe.reference_canvases(&refs, c.width, c.height).unwrap();
    let ours = pipe
        .vace_context(&canvases, c.width, c.height, c.num_frames)
        .unwrap();
    let reference = Tensor::cat(&[&outputs["conditioning_latents"], &outputs["mask"]], 1).unwrap();
    let (err, scale) = compare(&ours, &reference);
    eprintln!("VACE context: max abs err {err:.3e}, scale {scale:.3e}");
    assert!(
        err <= F32_REL_TOL * scale,
        "{err} > {F32_REL_TOL} x {scale}"
    );
}

#[test]
fn whole_pipeline_matches_diffusers_from_text_and_images() {
    // Prompt text, RGB8 references (one Pillow-resized), fixed noise: latents after every step
    // and the decoded frames.
    let pipe = loaded();
    let outputs = load("pipeline_outputs.safetensors");
    let mut seen = Vec::new();
    let video = pipe
        .generate_with(&params(), &mut |s| {
            seen.push(s.latents.clone());
            true
        })
        .unwrap();
    assert_eq!(seen.len(), 3);
    for (i, ours) in seen.iter().enumerate() {
        let (err, scale) = compare(ours, &outputs[&format!("latents.{i}")]);
        eprintln!("latents after step {i}: max abs err {err:.3e}, scale {scale:.3e}");
        assert!(
            err <= F32_REL_TOL * scale,
            "step {i}: {err} > {F32_REL_TOL} x {scale}"
        );
    }
    assert_close("video", &video, &outputs["video"], VIDEO_ABS_TOL);
}

#[test]
fn check_module_pipeline_writes_the_video() {
    let dir = std::env::temp_dir().join(format!("refvid-wan-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("video.safetensors");
    refvid_wan::run_check(&refvid_wan::CheckArgs {
        model: fixtures().join("tiny-vace-r2v"),
        module: "pipeline".parse().unwrap(),
        inputs: fixtures().join("pipeline_inputs.safetensors"),
        out: out.clone(),
        dtype: refvid_wan::runtime::Precision::F32,
        device: refvid_wan::runtime::DeviceKind::Cpu,
        cache: Default::default(),
        loras: Vec::new(),
    })
    .unwrap();
    let ours = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    assert_close(
        "check video",
        &ours["video"],
        &load("pipeline_outputs.safetensors")["video"],
        VIDEO_ABS_TOL,
    );
}

#[test]
fn seeded_generation_is_deterministic() {
    let pipe = loaded();
    let p = GenerateParams {
        initial_noise: None,
        seed: 3,
        steps: 1,
        guidance: 1.0,
        references: vec![],
        ..params()
    };
    let a = pipe.generate(&p, &mut |_, _| true).unwrap();
    let b = pipe.generate(&p, &mut |_, _| true).unwrap();
    assert_eq!(a.dims(), &[9, 48, 64, 3]);
    assert_eq!(compare(&a, &b).0, 0.0);
    let c = pipe
        .generate(
            &GenerateParams {
                seed: 4,
                ..p.clone()
            },
            &mut |_, _| true,
        )
        .unwrap();
    assert!(compare(&a, &c).0 > 0.0);
    let mut calls = 0;
    let r = pipe.generate(&GenerateParams { steps: 2, ..p }, &mut |done, total| {
        calls += 1;
        assert_eq!((done, total), (1, 2));
        false
    });
    assert!(matches!(
        r,
        Err(refvid_wan::WanError::Cancelled { step: 1, total: 2 })
    ));
    assert_eq!(calls, 1);
}
