//! `refvid wan bench`: one generation at a model's real shapes with random weights, timed stage
//! by stage, with its peak memory (contract: `docs/PARITY.md`, "Bench").
//!
//! Nothing is downloaded or read: every weight is made where it is needed
//! ([`random::RandomWeights`]: copies of a pool of normal values drawn once on the device, in
//! the compute dtype; the VAE in f32 as in the real pipeline). The modules are the pipeline's
//! own, staged by the real loader's code ([`crate::offload::load`]) for the `--offload` mode,
//! with the random source standing in for the checkpoint:
//! - `none`: everything is built on the device before the clock starts;
//! - `model`/`blocks`: as for a checkpoint, each module is built for its stage from its weights'
//!   home — on the CPU that is the random source itself (a build copies out of the pool, as a
//!   real one copies out of the memory map), on CUDA a host copy in the compute dtype recorded
//!   once at start (what the real loader keeps, so the host memory reported is the real one);
//!   `blocks` streams the transformer's and the text encoder's blocks.
//!
//! So the UMT5-XXL encoder (5.7 B parameters, 11.4 GB in bf16) is resident only without offload;
//! with `model` it exists during prompt encoding only, with `blocks` one layer at a time (plus
//! its 1 B-parameter embedding table), which is what keeps a CPU run at the 1.3B shapes small.
//!
//! The run is the pipeline's: prompts through the tokenizer (a built-in word-level one: every
//! word is one token) and the encoder, one reference image (by default) preprocessed and
//! VAE-encoded, the denoising loop with guidance (VACE: 2 passes per step; Phantom: 3), VAE
//! decoding. The clock: `init_s` (building or recording the modules) is apart; `text_encode_s`,
//! `vae_encode_s` (VACE's control latents; Phantom encodes its references inside the loop),
//! each step, `vae_decode_s`, and `total_s` from the first prompt to the last frame. The device
//! is synchronised at every stage and step end. `step_s` is the mean of the steps after the
//! first when there are several (the first also builds an offloaded transformer and warms the
//! device up; it is reported as `first_step_s`).

pub mod memory;
pub mod random;
pub mod shapes;

use std::cell::{Cell, RefCell};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};

use crate::error::{Result, WanError};
use crate::models::phantom::{GuidanceScales, PHANTOM_SHIFT, PhantomPipeline, PhantomRequest};
use crate::offload::{Offload, Placement, load};
use crate::pipeline::conditioning::preprocess_reference;
use crate::pipeline::{
    EncodedRequest, PromptEncoder, Reference, Sampling, StepState, WAN_FLOW_SHIFT, WanVacePipeline,
    noise, validate_size,
};
use crate::runtime::{DeviceKind, Precision};
use crate::scheduler::SchedulerConfig;
use crate::scheduler::config::UniPcConfig;
use crate::tokenizer::{PromptTokenizer, TEXT_LEN};
use memory::DevicePeak;
use random::RandomWeights;
pub use shapes::{BenchEngine, ModelShapes, ShapesArg};

/// The prompt every run encodes (its length does not change the work: UMT5 runs on 512
/// positions whatever the prompt).
pub const BENCH_PROMPT: &str = "A young woman in a red raincoat walks her golden retriever \
    along a wet cobblestone street at dusk, shop windows glowing warm yellow, reflections \
    shimmering in the puddles, the camera tracking beside them at walking pace, soft rain, \
    cinematic lighting, shallow depth of field";

/// The VACE guidance scale (diffusers' default).
pub const VACE_GUIDANCE: f64 = 5.0;

/// A word-level tokenizer with UMT5's special ids (`<pad>` 0, `</s>` 1, `<unk>` 2): every word
/// becomes `<unk>`, the end-of-sequence token is appended.
const BENCH_TOKENIZER: &str = r#"{
  "version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [
    {"id": 0, "content": "<pad>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 2, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "Whitespace"},
  "post_processor": {
    "type": "TemplateProcessing",
    "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
    "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
             {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
    "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}
  },
  "decoder": null,
  "model": {"type": "WordLevel", "vocab": {"<pad>": 0, "</s>": 1, "<unk>": 2}, "unk_token": "<unk>"}
}"#;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub shapes: ShapesArg,
    pub engine: BenchEngine,
    pub width: usize,
    pub height: usize,
    /// `4k + 1`.
    pub frames: usize,
    pub steps: usize,
    pub precision: Precision,
    pub device: DeviceKind,
    pub offload: Offload,
    /// Reference images (each adds one latent frame).
    pub references: usize,
}

impl Default for BenchOptions {
    /// VACE-1.3B at 832×480, 81 frames, 3 steps, bf16 on the CPU, no offload, one reference.
    fn default() -> Self {
        Self {
            shapes: ShapesArg::Wan1_3B,
            engine: BenchEngine::Vace,
            width: 832,
            height: 480,
            frames: 81,
            steps: 3,
            precision: Precision::Bf16,
            device: DeviceKind::Cpu,
            offload: Offload::None,
            references: 1,
        }
    }
}

/// What a run measured (the JSON line of `--json`; times in seconds).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub shapes: String,
    pub engine: String,
    pub device: String,
    pub dtype: String,
    pub offload: String,
    pub width: usize,
    pub height: usize,
    pub frames: usize,
    pub steps: usize,
    pub references: usize,
    /// Transformer tokens per pass (latent frames, references included, × latent patches).
    pub tokens: usize,
    /// Transformer passes the pipeline ran (its step cache's tally), per step.
    pub passes_per_step: usize,
    /// Building (or recording the homes of) the modules; not part of `total_s`.
    pub init_s: f64,
    pub text_encode_s: f64,
    /// VACE's control latents (the zero video and the references); `None` for Phantom, which
    /// encodes its references inside the denoising stage.
    pub vae_encode_s: Option<f64>,
    /// Mean of the steps after the first (of the only step when there is one).
    pub step_s: f64,
    /// The first step, with what the denoising stage does before it (building an offloaded
    /// transformer; Phantom's reference encoding).
    pub first_step_s: f64,
    pub step_times_s: Vec<f64>,
    pub denoise_s: f64,
    pub vae_decode_s: f64,
    /// From the first prompt to the decoded frames.
    pub total_s: f64,
    /// The process's resident high-water mark (`VmHWM`), drawing included.
    pub peak_host_bytes: Option<u64>,
    /// The device's peak use (see [`memory`]); `None` on the CPU.
    pub peak_device_bytes: Option<u64>,
    /// Whether every decoded value is a number (random weights can overflow in f16).
    pub output_finite: bool,
}

/// The pipeline a run drives.
enum Pipe {
    Vace(WanVacePipeline),
    Phantom(PhantomPipeline),
}

/// Runs one benchmark (see the module docs).
pub fn run(o: &BenchOptions) -> Result<BenchReport> {
    if o.steps == 0 {
        return Err(WanError::Input("steps must be at least 1".into()));
    }
    let shapes = ModelShapes::resolve(&o.shapes, o.engine)?;
    validate_size(o.width, o.height, o.frames, shapes.transformer.patch().1)?;
    let device = o.device.open()?;
    let dtype = o.precision.dtype();
    let at = Placement::new(dtype, &device).with_offload(o.offload);
    let peak = DevicePeak::start(&device);

    let clock = Instant::now();
    let pipe = build(&shapes, o.engine, &at)?;
    device.synchronize()?;
    peak.sample();
    let init_s = clock.elapsed().as_secs_f64();

    let references: Vec<Reference> = (0..o.references)
        .map(|i| reference_image(o.width, o.height, i))
        .collect();
    let stage = Stage::new(&device, &peak);
    let stamps = RefCell::new(Vec::with_capacity(o.steps));
    let sync_error = RefCell::new(None);
    let passes_done = Cell::new(0);
    let mut on_step = |s: &StepState<'_>| match stage.end() {
        Ok(t) => {
            stamps.borrow_mut().push(t);
            passes_done.set(s.cache.passes);
            true
        }
        Err(e) => {
            *sync_error.borrow_mut() = Some(e);
            false
        }
    };
    let start = Instant::now();
    let (text_encode_s, vae_encode_s, denoise_start, video) = match &pipe {
        Pipe::Vace(p) => {
            let mut embeds = p.encode_prompts(&[BENCH_PROMPT, ""])?.into_iter();
            let text_done = stage.end()?;
            let refs = references
                .iter()
                .map(|r| preprocess_reference(r, &device))
                .collect::<Result<Vec<_>>>()?;
            let shape = p.noise_shape(o.width, o.height, o.frames, refs.len());
            let req = EncodedRequest {
                prompt_embeds: embeds.next().expect("two prompts"),
                negative_prompt_embeds: embeds.next(),
                references: refs,
                width: o.width,
                height: o.height,
                num_frames: o.frames,
                steps: o.steps,
                guidance: VACE_GUIDANCE,
                noise: noise::seeded_randn(0, shape, &device)?,
                shift: None,
                sampling: Sampling::default(),
                seed: 0,
            };
            let context = p.context_for(&req)?;
            let encoded = stage.end()?;
            let latents = p.denoise_with_context(&req, &context, &mut on_step);
            let latents = checked(latents, &sync_error)?;
            let video = p.decode(&latents, req.references.len())?;
            (
                secs(start, text_done),
                Some(secs(text_done, encoded)),
                encoded,
                video,
            )
        }
        Pipe::Phantom(p) => {
            let mut embeds = p.encode_prompts(&[BENCH_PROMPT, ""])?.into_iter();
            let text_done = stage.end()?;
            let refs = references
                .iter()
                .map(|r| crate::models::phantom::reference::prepare(r, o.width, o.height, &device))
                .collect::<Result<Vec<_>>>()?;
            let shape = p.noise_shape(o.width, o.height, o.frames, refs.len());
            let scales = GuidanceScales::default();
            let req = PhantomRequest {
                prompt_embeds: embeds.next().expect("two prompts"),
                negative_prompt_embeds: embeds.next().expect("two prompts"),
                references: refs,
                noise: noise::seeded_randn(0, shape, &device)?,
                steps: o.steps,
                scales,
                shift: None,
                sampling: Sampling::default(),
                seed: 0,
            };
            let latents = checked(p.denoise(&req, &mut on_step), &sync_error)?;
            let video = p.decode(&latents, req.references.len())?;
            (secs(start, text_done), None, text_done, video)
        }
    };
    let decoded = stage.end()?;
    let total_s = secs(start, decoded);
    let output_finite = video
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?
        .is_finite();

    let stamps = stamps.into_inner();
    let last_step = *stamps.last().expect("at least one step ran");
    let mut step_times_s = Vec::with_capacity(stamps.len());
    let mut prev = denoise_start;
    for &t in &stamps {
        step_times_s.push(secs(prev, t));
        prev = t;
    }
    let first_step_s = step_times_s[0];
    let steady = if step_times_s.len() > 1 {
        &step_times_s[1..]
    } else {
        &step_times_s[..]
    };
    let step_s = steady.iter().sum::<f64>() / steady.len() as f64;
    let latent = crate::pipeline::conditioning::latent_shape(
        shapes.vae.z_dim,
        o.width,
        o.height,
        o.frames,
        o.references,
    );
    let (pt, ph, pw) = shapes.transformer.patch();
    Ok(BenchReport {
        shapes: o.shapes.to_string(),
        engine: o.engine.to_string(),
        device: o.device.to_string(),
        dtype: o.precision.to_string(),
        offload: o.offload.to_string(),
        width: o.width,
        height: o.height,
        frames: o.frames,
        steps: o.steps,
        references: o.references,
        tokens: (latent.2 / pt) * (latent.3 / ph) * (latent.4 / pw),
        passes_per_step: passes_done.get() / o.steps,
        init_s,
        text_encode_s,
        vae_encode_s,
        step_s,
        first_step_s,
        step_times_s,
        denoise_s: secs(denoise_start, last_step),
        vae_decode_s: secs(last_step, decoded),
        total_s,
        peak_host_bytes: memory::peak_host_bytes(),
        peak_device_bytes: peak.finish(),
        output_finite,
    })
}

/// The denoising result, or the synchronisation error that stopped it.
fn checked(
    latents: Result<Tensor>,
    sync_error: &RefCell<Option<candle_core::Error>>,
) -> Result<Tensor> {
    match (latents, sync_error.borrow_mut().take()) {
        (_, Some(e)) => Err(e.into()),
        (r, None) => r,
    }
}

/// Seconds from `a` to `b`.
fn secs(a: Instant, b: Instant) -> f64 {
    b.duration_since(a).as_secs_f64()
}

/// Stage ends: the device synchronised, its memory sampled, the time taken.
struct Stage<'a> {
    device: &'a Device,
    peak: &'a DevicePeak,
}

impl<'a> Stage<'a> {
    fn new(device: &'a Device, peak: &'a DevicePeak) -> Self {
        Self { device, peak }
    }

    fn end(&self) -> candle_core::Result<Instant> {
        self.device.synchronize()?;
        self.peak.sample();
        Ok(Instant::now())
    }
}

/// The pipeline of `engine` with random weights of `shapes`, placed as `at` says.
fn build(shapes: &ModelShapes, engine: BenchEngine, at: &Placement) -> Result<Pipe> {
    // Drawn on the compute device now; the CPU's pool (the homes of offloaded modules on CUDA)
    // when first needed.
    let weights = RandomWeights::new(&[&at.device], &[DType::F32, at.dtype])?;
    let host = weights.builder(at.dtype, &Device::Cpu);
    let tokenizer = PromptTokenizer::from_json(BENCH_TOKENIZER, TEXT_LEN)?;
    let encoder = load::text_encoder_from(&shapes.text_encoder, host.clone(), at)?;
    let text = PromptEncoder::staged(tokenizer, encoder, at.dtype, at.device.clone());
    let transformer = load::transformer_from(&shapes.transformer, host, at)?;
    let vae = load::vae_from(
        shapes.vae.clone(),
        weights.builder(DType::F32, &Device::Cpu),
        at,
    )?;
    let config = shapes.transformer.clone();
    let (dtype, device) = (at.dtype, at.device.clone());
    Ok(match engine {
        BenchEngine::Vace => {
            let scheduler = SchedulerConfig::UniPc(UniPcConfig::wan(WAN_FLOW_SHIFT));
            Pipe::Vace(WanVacePipeline::assemble(
                text,
                config,
                transformer,
                vae,
                scheduler,
                dtype,
                device,
            )?)
        }
        BenchEngine::Phantom => {
            let scheduler = SchedulerConfig::UniPc(UniPcConfig::wan(PHANTOM_SHIFT));
            Pipe::Phantom(PhantomPipeline::assemble(
                Some(text),
                config,
                transformer,
                vae,
                scheduler,
                dtype,
                device,
            )?)
        }
    })
}

/// A `width`×`height` RGB test card (diagonal gradients, different per index).
fn reference_image(width: usize, height: usize, index: usize) -> Reference {
    let mut data = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let (r, g) = (
                (x * 255 / width.max(1)) as u8,
                (y * 255 / height.max(1)) as u8,
            );
            data.extend([r, g, (index * 97 % 256) as u8]);
        }
    }
    Reference::Rgb8 {
        width,
        height,
        data,
    }
}

impl BenchReport {
    /// The short table printed without `--json`.
    pub fn table(&self) -> String {
        let gib = |b: Option<u64>| {
            b.map_or("n/a".to_string(), |b| {
                format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
            })
        };
        let mut out = format!(
            "refvid wan bench: {} {} on {} in {}, offload {}, {}x{}x{} ({} ref, {} tokens), {} \
             steps x {} passes\n",
            self.engine,
            self.shapes,
            self.device,
            self.dtype,
            self.offload,
            self.width,
            self.height,
            self.frames,
            self.references,
            self.tokens,
            self.steps,
            self.passes_per_step
        );
        let rows = [
            ("init (weights, not in total)", Some(self.init_s)),
            ("text encoding", Some(self.text_encode_s)),
            ("VAE encoding", self.vae_encode_s),
            ("first step", Some(self.first_step_s)),
            ("step (mean after the first)", Some(self.step_s)),
            ("denoising", Some(self.denoise_s)),
            ("VAE decoding", Some(self.vae_decode_s)),
            ("total", Some(self.total_s)),
        ];
        for (name, s) in rows {
            if let Some(s) = s {
                out += &format!("  {name:<30} {s:>10.3} s\n");
            }
        }
        out += &format!("  {:<30} {:>12}\n", "peak host", gib(self.peak_host_bytes));
        out += &format!(
            "  {:<30} {:>12}\n",
            "peak device",
            gib(self.peak_device_bytes)
        );
        if !self.output_finite {
            out += "  (the decoded frames hold NaN/inf: random weights overflowed)\n";
        }
        out
    }
}
