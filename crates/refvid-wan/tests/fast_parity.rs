//! Parity of the few-step paths with their references, on fixtures from
//! `scripts/make_fast_fixtures.py` (see `tests/fixtures/README.md`, "Fast"):
//!
//! - explicit step lists on diffusers' UniPC and flow-match Euler schedulers
//!   (`set_timesteps(sigmas=t/1000)`): sigmas and timesteps bit-identical;
//! - the tiny reference-to-video pipeline with the list `1000,750,500,250` set on diffusers'
//!   scheduler, guidance 1 (one transformer pass per step), UniPC and Euler: latents after every
//!   step within 1e-4 · max |reference|, frames within 1e-4 (also through the parity command's
//!   `timesteps` input);
//! - the x0-then-renoise loop of LightX2V's `WanStepDistillScheduler` with the same fresh noise:
//!   timesteps within 1e-3 (their table is a torch linspace), latents after every step within
//!   1e-4 · max |reference|, frames within 1e-4.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use refvid_wan::pipeline::check::request_from_inputs;
use refvid_wan::pipeline::{EncodedRequest, Sampling, StepState, WanVacePipeline};
use refvid_wan::scheduler::{
    EulerConfig, NoiseSource, SamplerKind, SchedulerConfig, UniPcConfig, from_config,
};
use refvid_wan::vae::WanVae;

const F32_REL_TOL: f32 = 1e-4;
const VIDEO_ABS_TOL: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join(name), &Device::Cpu).expect(name)
}

/// `(max abs error, max |reference|)`.
fn compare(ours: &Tensor, reference: &Tensor) -> (f32, f32) {
    assert_eq!(ours.dims(), reference.dims(), "shape");
    let ours = ours.to_dtype(DType::F32).unwrap();
    let reference = reference.to_dtype(DType::F32).unwrap();
    let err = (&ours - &reference).unwrap().abs().unwrap();
    let err = err.max_all().unwrap().to_scalar::<f32>().unwrap();
    let scale = reference.abs().unwrap().max_all().unwrap();
    (err, scale.to_scalar().unwrap())
}

fn assert_rel(what: &str, ours: &Tensor, reference: &Tensor) {
    let (err, scale) = compare(ours, reference);
    eprintln!("{what}: max abs err {err:.3e}, scale {scale:.3e}");
    assert!(
        err <= F32_REL_TOL * scale,
        "{what}: {err} > {F32_REL_TOL} · {scale}"
    );
}

fn assert_abs(what: &str, ours: &Tensor, reference: &Tensor, tol: f32) {
    let (err, _) = compare(ours, reference);
    eprintln!("{what}: max abs err {err:.3e}");
    assert!(err <= tol, "{what}: {err} > {tol}");
}

fn to_f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec1().unwrap()
}

#[derive(serde::Deserialize)]
struct ListCase {
    name: String,
    kind: String,
    shift: f64,
    timesteps: Vec<f64>,
}

#[test]
fn step_lists_match_diffusers_bit_for_bit() {
    let text = std::fs::read_to_string(fixtures().join("fast/step_lists.json")).unwrap();
    let cases: Vec<ListCase> = serde_json::from_str(&text).unwrap();
    let reference = load("fast/step_lists.safetensors");
    assert_eq!(cases.len(), 16);
    for c in cases {
        let cfg = match c.kind.as_str() {
            "unipc" => SchedulerConfig::UniPc(UniPcConfig::wan(c.shift)),
            _ => SchedulerConfig::Euler(EulerConfig::with_shift(c.shift)),
        };
        let mut s = from_config(&cfg);
        // The timesteps as the parity command reads them: f32.
        let steps: Vec<f64> = c.timesteps.iter().map(|&t| f64::from(t as f32)).collect();
        s.set_custom_timesteps(&steps).unwrap();
        let sigmas: Vec<f32> = reference[&format!("{}.sigmas", c.name)].to_vec1().unwrap();
        let timesteps = to_f64s(&reference[&format!("{}.timesteps", c.name)]);
        assert_eq!(s.sigmas(), sigmas.as_slice(), "{} sigmas", c.name);
        assert_eq!(s.timesteps(), timesteps.as_slice(), "{} timesteps", c.name);
    }
}

fn pipeline(scheduler_dir: Option<&Path>) -> WanVacePipeline {
    let dir = fixtures().join("tiny-vace-r2v");
    let dev = Device::Cpu;
    match scheduler_dir {
        None => WanVacePipeline::load(&dir, DType::F32, &dev).unwrap(),
        Some(s) => {
            let vae = Box::new(WanVae::load(&dir, DType::F32, &dev).unwrap());
            let mut pipe = WanVacePipeline::load_with_vae(&dir, DType::F32, &dev, vae).unwrap();
            pipe.set_scheduler_config(SchedulerConfig::load(s).unwrap());
            pipe
        }
    }
}

/// The parity command's inputs for the few-step runs: the pipeline case with guidance 1 and the
/// step list.
fn few_step_inputs() -> HashMap<String, Tensor> {
    let fast = load("fast/few_step.safetensors");
    let mut inputs = load("pipeline_inputs.safetensors");
    let dev = Device::Cpu;
    inputs.insert("guidance_scale".into(), Tensor::new(1f32, &dev).unwrap());
    inputs.insert(
        "num_inference_steps".into(),
        Tensor::new(4i64, &dev).unwrap(),
    );
    inputs.insert("timesteps".into(), fast["timesteps"].clone());
    inputs.insert("flow_shift".into(), fast["flow_shift"].clone());
    inputs.remove("negative_prompt_embeds");
    inputs
}

/// Runs a request, returning the latents after every step (and their timesteps) and the frames.
fn run_recorded(
    pipe: &WanVacePipeline,
    req: &EncodedRequest,
    noise: NoiseSource,
) -> (Vec<(f64, Tensor)>, Tensor) {
    let canvases = pipe
        .reference_canvases(&req.references, req.width, req.height)
        .unwrap();
    let context = pipe
        .vace_context(&canvases, req.width, req.height, req.num_frames)
        .unwrap();
    let mut scheduler = pipe.scheduler_for(req, noise).unwrap();
    let mut steps = Vec::new();
    let mut record = |s: &StepState<'_>| {
        steps.push((s.timestep, s.latents.clone()));
        true
    };
    let latents = pipe
        .denoise_with_scheduler(req, &context, scheduler.as_mut(), &mut record)
        .unwrap();
    let video = pipe.decode(&latents, req.references.len()).unwrap();
    (steps, video)
}

fn check_few_step(name: &str, pipe: &WanVacePipeline) {
    let reference = load("fast/few_step.safetensors");
    let req = request_from_inputs(&few_step_inputs()).unwrap();
    assert!(req.negative_prompt_embeds.is_none());
    let (steps, video) = run_recorded(pipe, &req, NoiseSource::Seeded(0));
    assert_eq!(steps.len(), 4);
    for (i, (t, latents)) in steps.iter().enumerate() {
        let t_ref = reference[&format!("{name}.timestep.{i}")]
            .to_scalar::<f64>()
            .unwrap();
        assert_eq!(*t, t_ref, "{name} timestep {i}");
        let want = &reference[&format!("{name}.latents.{i}")];
        assert_rel(
            &format!("{name} latents after step {}", i + 1),
            latents,
            want,
        );
    }
    assert_abs(
        &format!("{name} frames"),
        &video,
        &reference[&format!("{name}.video")],
        VIDEO_ABS_TOL,
    );
}

#[test]
fn four_step_list_with_unipc_matches_diffusers() {
    check_few_step("unipc", &pipeline(None));
}

#[test]
fn four_step_list_with_euler_matches_diffusers() {
    let dir = fixtures().join("fast/euler_scheduler");
    check_few_step("euler", &pipeline(Some(&dir)));
}

#[test]
fn the_parity_command_takes_the_step_list() {
    let dir = tempfile::tempdir().unwrap();
    let inputs_path = dir.path().join("in.safetensors");
    let out = dir.path().join("out.safetensors");
    candle_core::safetensors::save(&few_step_inputs(), &inputs_path).unwrap();
    let args = refvid_wan::CheckArgs {
        model: fixtures().join("tiny-vace-r2v"),
        module: refvid_wan::Module::Pipeline,
        inputs: inputs_path.clone(),
        out: out.clone(),
        dtype: Default::default(),
        device: Default::default(),
    };
    refvid_wan::run_check(&args).unwrap();
    let video = &candle_core::safetensors::load(&out, &Device::Cpu).unwrap()["video"];
    let reference = load("fast/few_step.safetensors");
    assert_abs(
        "check frames",
        video,
        &reference["unipc.video"],
        VIDEO_ABS_TOL,
    );

    // A step count that disagrees with the list is refused, naming both.
    let mut bad = few_step_inputs();
    bad.insert(
        "num_inference_steps".into(),
        Tensor::new(3i64, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&bad, &inputs_path).unwrap();
    let e = refvid_wan::run_check(&args).unwrap_err().to_string();
    assert!(
        e.contains("num_inference_steps is 3 but 4 timesteps"),
        "{e}"
    );
}

#[test]
fn renoise_sampler_matches_lightx2v_step_distill_loop() {
    let reference = load("fast/renoise.safetensors");
    let pipe = pipeline(None);
    let mut req = request_from_inputs(&few_step_inputs()).unwrap();
    req.sampling = Sampling {
        sampler: SamplerKind::Renoise,
        timesteps: Some(to_f64s(&reference["timesteps_in"])),
    };
    let noises = (0..3)
        .map(|i| reference[&format!("noise.{i}")].clone())
        .collect();
    let (steps, video) = run_recorded(&pipe, &req, NoiseSource::Given(noises));
    let t_ref = to_f64s(&reference["timesteps"]);
    for (i, (t, latents)) in steps.iter().enumerate() {
        assert!(
            (t - t_ref[i]).abs() < 1e-3,
            "timestep {i}: {t} vs {}",
            t_ref[i]
        );
        let want = &reference[&format!("latents.{i}")];
        assert_rel(
            &format!("renoise latents after step {}", i + 1),
            latents,
            want,
        );
    }
    assert_abs("renoise frames", &video, &reference["video"], VIDEO_ABS_TOL);
}

#[test]
fn renoise_with_a_seed_is_reproducible_and_seed_dependent() {
    let pipe = pipeline(None);
    let mut req = request_from_inputs(&few_step_inputs()).unwrap();
    req.sampling.sampler = SamplerKind::Renoise;
    let run = |seed: u64| {
        let mut r = req.clone();
        r.seed = seed;
        pipe.denoise(&r, &mut |_| true).unwrap()
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(compare(&a, &b).0, 0.0);
    assert!(compare(&a, &c).0 > 1e-3);
    req.sampling.sampler = SamplerKind::Default;
    let d = pipe.denoise(&req, &mut |_| true).unwrap();
    assert!(
        compare(&a, &d).0 > 1e-3,
        "the renoise sampler differs from UniPC"
    );
}
