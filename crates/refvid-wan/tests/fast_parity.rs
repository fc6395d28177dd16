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
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use refvid_wan::models::phantom::PhantomPipeline;
use refvid_wan::pipeline::check::request_from_inputs;
use refvid_wan::pipeline::{
    EncodedRequest, GenerateParams, Reference, Sampling, StepState, WanVacePipeline,
};
use refvid_wan::scheduler::{
    EulerConfig, NoiseSource, SamplerKind, SchedulerConfig, UniPcConfig, from_config,
};
use refvid_wan::step_cache::mag::{MagSettings, load_ratios};
use refvid_wan::step_cache::{CacheConfig, StepCache};
use refvid_wan::vae::WanVae;

mod common;
use common::fixtures;

const F32_REL_TOL: f32 = 1e-4;
const VIDEO_ABS_TOL: f32 = 1e-4;

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

/// What a recorded run gives: the timestep and latents after every step, the frames, and the
/// step cache (its decisions and counts).
struct Recorded {
    steps: Vec<(f64, Tensor)>,
    video: Tensor,
    cache: StepCache,
}

/// Runs a request, recording the latents after every step.
fn run_recorded(pipe: &WanVacePipeline, req: &EncodedRequest, noise: NoiseSource) -> Recorded {
    let context = pipe.context_for(req).unwrap();
    let mut scheduler = pipe.scheduler_for(req, noise).unwrap();
    let mut cache = pipe.step_cache_for(req).unwrap();
    let mut steps = Vec::new();
    let mut record = |s: &StepState<'_>| {
        steps.push((s.timestep, s.latents.clone()));
        true
    };
    let latents = pipe
        .denoise_with_scheduler(req, &context, scheduler.as_mut(), &mut cache, &mut record)
        .unwrap();
    let video = pipe.decode(&latents, req.references.len()).unwrap();
    Recorded {
        steps,
        video,
        cache,
    }
}

fn check_few_step(name: &str, pipe: &WanVacePipeline) {
    let reference = load("fast/few_step.safetensors");
    let req = request_from_inputs(&few_step_inputs()).unwrap();
    assert!(req.negative_prompt_embeds.is_none());
    let Recorded { steps, video, .. } = run_recorded(pipe, &req, NoiseSource::Seeded(0));
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
        cache: Default::default(),
        loras: Vec::new(),
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
        ..Sampling::default()
    };
    let noises = (0..3)
        .map(|i| reference[&format!("noise.{i}")].clone())
        .collect();
    let Recorded { steps, video, .. } = run_recorded(&pipe, &req, NoiseSource::Given(noises));
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

#[derive(serde::Deserialize)]
struct CacheCase {
    name: String,
    steps: usize,
    guidance: f64,
    #[serde(default)]
    cache: Option<String>,
    #[serde(default)]
    ratios: Option<Vec<f32>>,
    #[serde(default)]
    decisions: Vec<u8>,
}

fn cache_cases() -> Vec<CacheCase> {
    let text = std::fs::read_to_string(fixtures().join("fast/caches.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The pipeline case of `pipeline_inputs.safetensors` with a cache case's steps and guidance.
fn cache_request(case: &CacheCase) -> EncodedRequest {
    let mut inputs = load("pipeline_inputs.safetensors");
    let dev = Device::Cpu;
    inputs.insert(
        "num_inference_steps".into(),
        Tensor::new(case.steps as i64, &dev).unwrap(),
    );
    inputs.insert(
        "guidance_scale".into(),
        Tensor::new(case.guidance as f32, &dev).unwrap(),
    );
    if case.guidance <= 1.0 {
        inputs.remove("negative_prompt_embeds");
    }
    let mut req = request_from_inputs(&inputs).unwrap();
    // diffusers' pipeline ran with the folder's scheduler as it is (shift 3).
    req.shift = None;
    req.sampling.cache = cache_config(case);
    req
}

fn cache_config(case: &CacheCase) -> CacheConfig {
    let spec = case.cache.as_deref().unwrap_or("none");
    match spec.parse::<CacheConfig>().unwrap() {
        CacheConfig::Mag(mut m) => {
            m.ratios = case.ratios.clone().map(|r| vec![r]);
            CacheConfig::Mag(m)
        }
        other => other,
    }
}

/// Our decisions in diffusers' call order (conditional, unconditional, conditional, …).
fn interleaved_decisions(cache: &StepCache, passes: usize) -> Vec<u8> {
    let per_pass: Vec<&[bool]> = (0..passes).map(|p| cache.decisions(p)).collect();
    let steps = per_pass[0].len();
    (0..steps)
        .flat_map(|i| per_pass.iter().map(move |d| u8::from(d[i])))
        .collect()
}

#[test]
fn step_caches_make_diffusers_decisions_and_outputs() {
    let reference = load("fast/caches.safetensors");
    let pipe = pipeline(None);
    let blocks = 4;
    let cases: Vec<CacheCase> = cache_cases()
        .into_iter()
        .filter(|c| c.cache.is_some())
        .collect();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let req = cache_request(&case);
        let run = run_recorded(&pipe, &req, NoiseSource::Seeded(0));
        let passes = if case.guidance > 1.0 { 2 } else { 1 };
        let decisions = interleaved_decisions(&run.cache, passes);
        let want: Vec<u8> = reference[&format!("{}.decisions", case.name)]
            .to_vec1()
            .unwrap();
        assert_eq!(decisions, want, "{}: decisions", case.name);
        assert_eq!(
            want, case.decisions,
            "{}: fixture json and tensors",
            case.name
        );
        let skipped = want.iter().filter(|&&d| d == 0).count();
        let stats = run.cache.stats();
        let per_skip = if case.name.starts_with("mag") {
            blocks
        } else {
            blocks - 1
        };
        assert_eq!(stats.passes, want.len(), "{}", case.name);
        assert_eq!(stats.skipped_passes, skipped, "{}", case.name);
        assert_eq!(stats.blocks_skipped, skipped * per_skip, "{}", case.name);
        assert_eq!(stats.blocks_run + stats.blocks_skipped, want.len() * blocks);
        for (i, (_, latents)) in run.steps.iter().enumerate() {
            let want = &reference[&format!("{}.latents.{i}", case.name)];
            assert_rel(
                &format!("{} latents after step {}", case.name, i + 1),
                latents,
                want,
            );
        }
        let want = &reference[&format!("{}.video", case.name)];
        assert_abs(
            &format!("{} frames", case.name),
            &run.video,
            want,
            VIDEO_ABS_TOL,
        );
    }
}

#[test]
fn the_parity_command_runs_first_block_cache_and_reports_it() {
    let case = cache_cases()
        .into_iter()
        .find(|c| c.name == "fbc_cfg")
        .unwrap();
    let reference = load("fast/caches.safetensors");
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = load("pipeline_inputs.safetensors");
    inputs.insert(
        "num_inference_steps".into(),
        Tensor::new(case.steps as i64, &Device::Cpu).unwrap(),
    );
    inputs.remove("flow_shift");
    let (inputs_path, out) = (dir.path().join("in.st"), dir.path().join("out.st"));
    candle_core::safetensors::save(&inputs, &inputs_path).unwrap();
    let mut args = refvid_wan::CheckArgs {
        model: fixtures().join("tiny-vace-r2v"),
        module: refvid_wan::Module::Pipeline,
        inputs: inputs_path,
        out: out.clone(),
        dtype: Default::default(),
        device: Default::default(),
        cache: case.cache.as_deref().unwrap().parse().unwrap(),
        loras: Vec::new(),
    };
    refvid_wan::run_check(&args).unwrap();
    let got = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    assert_abs(
        "check fbc frames",
        &got["video"],
        &reference["fbc_cfg.video"],
        VIDEO_ABS_TOL,
    );
    let want: Vec<u8> = reference["fbc_cfg.decisions"].to_vec1().unwrap();
    let cond: Vec<u8> = got["cache_decisions.0"].to_vec1().unwrap();
    let uncond: Vec<u8> = got["cache_decisions.1"].to_vec1().unwrap();
    let even: Vec<u8> = want.iter().step_by(2).copied().collect();
    let odd: Vec<u8> = want.iter().skip(1).step_by(2).copied().collect();
    assert_eq!((cond, uncond), (even, odd));
    let skipped = want.iter().filter(|&&d| d == 0).count() as i64;
    let scalar = |n: &str| got[n].to_scalar::<i64>().unwrap();
    assert_eq!(scalar("cache_passes"), want.len() as i64);
    assert_eq!(scalar("cache_skipped_passes"), skipped);
    assert_eq!(scalar("cache_blocks_skipped"), 3 * skipped);

    // A cache on another module is refused.
    args.module = refvid_wan::Module::Transformer;
    let e = refvid_wan::run_check(&args).unwrap_err().to_string();
    assert!(
        e.contains("applies to the pipeline and phantom modules"),
        "{e}"
    );
}

#[test]
fn mag_calibration_measures_diffusers_ratios() {
    let reference = load("fast/caches.safetensors");
    let case = cache_cases()
        .into_iter()
        .find(|c| c.name == "calibration")
        .unwrap();
    let pipe = pipeline(None);
    let mut req = cache_request(&case);
    req.sampling.cache = CacheConfig::Mag(MagSettings::calibration());
    let run = run_recorded(&pipe, &req, NoiseSource::Seeded(0));
    assert_eq!(run.cache.stats().skipped_passes, 0);
    let ours = run.cache.calibration();
    assert_eq!(ours.len(), 2);
    for (pass, name) in ["cond", "uncond"].iter().enumerate() {
        let want: Vec<f32> = reference[&format!("calibration.{name}")].to_vec1().unwrap();
        assert_eq!(ours[pass].len(), want.len());
        let err = ours[pass]
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!("calibration {name}: max abs err {err:.3e}");
        assert!(err <= 1e-4, "calibration {name}: {err}");
    }
}

#[derive(serde::Deserialize)]
struct PipelineCase {
    prompt: String,
    negative_prompt: String,
    width: usize,
    height: usize,
    num_frames: usize,
}

/// The calibration as `refvid wan calibrate-mag` runs it: from the prompt text and the RGB8
/// references, with the fixture's initial noise; written as JSON and read back as ratios.
#[test]
fn mag_calibration_from_text_round_trips_through_its_file() {
    let reference = load("fast/caches.safetensors");
    let text = std::fs::read_to_string(fixtures().join("pipeline_case.json")).unwrap();
    let c: PipelineCase = serde_json::from_str(&text).unwrap();
    let inputs = load("pipeline_inputs.safetensors");
    let mut p = GenerateParams::new(c.prompt);
    p.negative_prompt = c.negative_prompt;
    (p.width, p.height, p.num_frames) = (c.width, c.height, c.num_frames);
    (p.steps, p.guidance) = (12, 5.0);
    p.initial_noise = Some(inputs["latents"].clone());
    p.references = (0..2)
        .map(|i| {
            let t = &inputs[&format!("reference_rgb8.{i}")];
            let (height, width, _) = t.dims3().unwrap();
            Reference::Rgb8 {
                width,
                height,
                data: t.flatten_all().unwrap().to_vec1().unwrap(),
            }
        })
        .collect();
    let mut steps_seen = 0;
    let cal = pipeline(None)
        .calibrate_mag(&p, &mut |done, _| {
            steps_seen = done;
            true
        })
        .unwrap();
    assert_eq!((steps_seen, cal.steps, cal.shift), (12, 12, 3.0));
    for (pass, name) in ["cond", "uncond"].iter().enumerate() {
        let want: Vec<f32> = reference[&format!("calibration.{name}")].to_vec1().unwrap();
        let err = cal.ratios[pass]
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!("calibration from text, {name}: max abs err {err:.3e}");
        assert!(err <= 1e-4, "{name}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ratios.json");
    std::fs::write(&file, serde_json::to_string(&cal).unwrap()).unwrap();
    assert_eq!(load_ratios(&file).unwrap(), cal.ratios);
}

#[derive(serde::Deserialize)]
struct PhantomCacheCase {
    name: String,
    cache: String,
    steps: usize,
    ratios: Option<Vec<f32>>,
    decisions: Vec<u8>,
}

/// Phantom's three passes each keep their own cache state, as three diffusers cache contexts do:
/// the same decisions, latents after every step and frames, through the library and through the
/// parity command.
#[test]
fn step_caches_on_phantom_make_diffusers_decisions() {
    let text = std::fs::read_to_string(fixtures().join("fast/phantom_caches.json")).unwrap();
    let cases: Vec<PhantomCacheCase> = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.len(), 2);
    let reference = load("fast/phantom_caches.safetensors");
    let dir = fixtures().join("tiny-phantom");
    let pipe = PhantomPipeline::load(&dir, &dir, DType::F32, &Device::Cpu, false).unwrap();
    let mut inputs = load("phantom_check_inputs.safetensors");
    for case in cases {
        inputs.insert(
            "num_inference_steps".into(),
            Tensor::new(case.steps as f32, &Device::Cpu).unwrap(),
        );
        let cache = match case.cache.parse::<CacheConfig>().unwrap() {
            CacheConfig::Mag(mut m) => {
                m.ratios = case.ratios.clone().map(|r| vec![r]);
                CacheConfig::Mag(m)
            }
            other => other,
        };
        let mut req = refvid_wan::models::phantom::check::request_from_inputs(&inputs).unwrap();
        req.sampling.cache = cache.clone();
        let mut step_cache = pipe.step_cache_for(&req).unwrap();
        let mut latents = Vec::new();
        pipe.denoise_with_cache(&req, &mut step_cache, &mut |s| {
            latents.push(s.latents.clone());
            true
        })
        .unwrap();
        assert_eq!(
            interleaved_decisions(&step_cache, 3),
            case.decisions,
            "{}",
            case.name
        );
        for (i, l) in latents.iter().enumerate() {
            let want = &reference[&format!("{}.latents.{i}", case.name)];
            assert_rel(
                &format!("{} latents after step {}", case.name, i + 1),
                l,
                want,
            );
        }
        // The parity command: the same frames and decisions in its outputs.
        let out = phantom_check(&inputs, cache);
        let want = &reference[&format!("{}.video", case.name)];
        assert_abs(
            &format!("{} frames", case.name),
            &out["video"],
            want,
            VIDEO_ABS_TOL,
        );
        for pass in 0..3 {
            let d: Vec<u8> = out[&format!("cache_decisions.{pass}")].to_vec1().unwrap();
            let want: Vec<u8> = case
                .decisions
                .iter()
                .skip(pass)
                .step_by(3)
                .copied()
                .collect();
            assert_eq!(d, want, "{} pass {pass}", case.name);
        }
    }
}

fn phantom_check(inputs: &HashMap<String, Tensor>, cache: CacheConfig) -> HashMap<String, Tensor> {
    let dir = tempfile::tempdir().unwrap();
    let (inputs_path, out) = (dir.path().join("in.st"), dir.path().join("out.st"));
    candle_core::safetensors::save(inputs, &inputs_path).unwrap();
    refvid_wan::run_check(&refvid_wan::CheckArgs {
        model: fixtures().join("tiny-phantom"),
        module: refvid_wan::Module::Phantom,
        inputs: inputs_path,
        out: out.clone(),
        dtype: Default::default(),
        device: Default::default(),
        cache,
        loras: Vec::new(),
    })
    .unwrap();
    candle_core::safetensors::load(&out, &Device::Cpu).unwrap()
}
