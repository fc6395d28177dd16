//! `WanVACEPipeline` for reference-to-video without an input video (diffusers
//! `pipelines/wan/pipeline_wan_vace.py`).
//!
//! One [`WanVacePipeline::generate`] call:
//! 1. the prompt (and, with guidance, the negative prompt) is cleaned ([`prompt::clean_prompt`]),
//!    tokenized to 512 ids and UMT5-encoded, rows past the real length zeroed;
//! 2. each reference is preprocessed ([`conditioning::preprocess_reference`]), resized keeping its
//!    aspect ratio and centred on a white canvas of the video size, VAE-encoded and normalised
//!    with `latents_mean`/`latents_std`, padded with `z` zero channels, and **prepended** in time
//!    (so the last reference comes first, as in diffusers);
//! 3. the all-grey video (zeros) with an all-ones mask gives the inactive and reactive latents
//!    (both the VAE encoding of zeros, cached per size) and the 64-channel mask with zero frames
//!    for the references: the `2z + 64` channel VACE context;
//! 4. noise latents `[1, z, T + n_ref, H/8, W/8]` (`T = (F − 1)/4 + 1`) are drawn
//!    ([`noise::seeded_randn`]) or taken from `initial_noise`;
//! 5. the scheduler steps with classifier-free guidance ([`denoise`]), calling back after each;
//! 6. the reference frames are dropped, the latents de-normalised and VAE-decoded to
//!    `[F, H, W, 3]` in 0..1.
//!
//! Step caches ([`Sampling::cache`]) hook the transformer's main blocks per guidance pass;
//! [`calibrate`] measures the MagCache ratios of a checkpoint.
//!
//! The VAE is reached through [`VaeCodec`], which `crate::vae::WanVae` implements; tests can plug
//! in others.
//!
//! With offload ([`WanVacePipeline::load_placed`], [`crate::offload`]) the text encoder is on the
//! device only while step 1 runs, the transformer only during the denoising loop (with its
//! blocks streamed in `blocks` mode) and the VAE only while it encodes or decodes.

pub mod calibrate;
pub mod check;
pub mod conditioning;
pub mod denoise;
pub mod noise;
pub mod prompt;
pub mod resample;
pub mod text;
pub mod wan_vae;

use std::cell::RefCell;
use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};

use crate::batch::{PassBatching, PassShape};
use crate::error::{Result, WanError};
use crate::lora::LoraSpec;
use crate::offload::{Placement, Staged, load};
use crate::scheduler::{FlowScheduler, NoiseSource, SamplerKind, SchedulerConfig, build_sampler};
use crate::step_cache::{CacheConfig, StepCache};
use crate::tokenizer::{PromptTokenizer, TEXT_LEN};
use crate::transformer::{WanConfig, WanTransformer};
use crate::umt5::Umt5Encoder;
use crate::vace::VaceInput;
pub use conditioning::Reference;
use conditioning::{LatentStats, VAE_SCALE_SPATIAL, VAE_SCALE_TEMPORAL};
pub use denoise::{COND_PASS, Guidance, StepState, UNCOND_PASS};
pub use text::PromptEncoder;

/// The VAE as the pipeline uses it.
pub trait VaeCodec: Send + Sync {
    /// Latent channels.
    fn z_dim(&self) -> usize;
    /// `latents_mean` (`z_dim` values).
    fn latents_mean(&self) -> Vec<f64>;
    /// `latents_std` (`z_dim` values).
    fn latents_std(&self) -> Vec<f64>;
    /// `[B, 3, F, H, W]` in −1..1 → the posterior mean `[B, z, (F−1)/4+1, H/8, W/8]`,
    /// un-normalised.
    fn encode(&self, video: &Tensor) -> Result<Tensor>;
    /// Un-normalised latents `[B, z, t, h, w]` → `[B, 3, 1+(t−1)·4, 8h, 8w]` in −1..1.
    fn decode(&self, latents: &Tensor) -> Result<Tensor>;
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    pub prompt: String,
    /// Used when `guidance > 1` (diffusers' default is the empty string).
    pub negative_prompt: String,
    pub references: Vec<Reference>,
    /// Multiple of 16.
    pub width: usize,
    /// Multiple of 16.
    pub height: usize,
    /// `4k + 1`.
    pub num_frames: usize,
    pub steps: usize,
    /// Classifier-free guidance scale; ≤ 1 skips the unconditional pass.
    pub guidance: f64,
    /// Seed of the initial noise (our generator: not PyTorch's; see [`noise`]).
    pub seed: u64,
    /// `[1, z, T + n_ref, H/8, W/8]` f32; replaces the seeded noise when given.
    pub initial_noise: Option<Tensor>,
    /// Overrides the scheduler's `flow_shift` / `shift` when given.
    pub shift: Option<f64>,
    /// The sampler and its step list.
    pub sampling: Sampling,
}

/// How the denoising steps are taken: which sampler, on which timesteps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampling {
    /// The sampler (the folder's scheduler by default).
    pub sampler: SamplerKind,
    /// Unshifted timesteps replacing the sampler's own schedule (`1000,750,500,250`); the
    /// step count must then equal their number (see [`crate::scheduler::step_list`]).
    pub timesteps: Option<Vec<f64>>,
    /// A step cache for the many-step path (none by default).
    pub cache: CacheConfig,
}

impl GenerateParams {
    /// Diffusers' defaults (832×480, 81 frames, 50 steps, guidance 5, seed 0) for a prompt.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            negative_prompt: String::new(),
            references: Vec::new(),
            width: 832,
            height: 480,
            num_frames: 81,
            steps: 50,
            guidance: 5.0,
            seed: 0,
            initial_noise: None,
            shift: None,
            sampling: Sampling::default(),
        }
    }
}

/// A run from already encoded text and preprocessed references (what the parity command feeds).
#[derive(Debug, Clone)]
pub struct EncodedRequest {
    /// `[1, 512, text_dim]`.
    pub prompt_embeds: Tensor,
    /// `[1, 512, text_dim]`; needed when `guidance > 1`.
    pub negative_prompt_embeds: Option<Tensor>,
    /// Each `[3, h, w]` in −1..1 (before the canvas placement).
    pub references: Vec<Tensor>,
    pub width: usize,
    pub height: usize,
    pub num_frames: usize,
    pub steps: usize,
    pub guidance: f64,
    /// `[1, z, T + n_ref, H/8, W/8]`.
    pub noise: Tensor,
    pub shift: Option<f64>,
    pub sampling: Sampling,
    /// Seeds the fresh noise of the renoise sampler's steps (unused by the others).
    pub seed: u64,
}

/// The flow shift of the scheduler config the diffusers Wan checkpoints ship, used for a folder
/// without one (the original release).
pub const WAN_FLOW_SHIFT: f64 = 3.0;

/// The sampler of a run: the folder's scheduler config `cfg` with the run's `shift` (when given),
/// of the kind `sampling` asks for, its schedule set to `sampling.timesteps` (whose count must
/// be `steps`) or to `steps` steps. `noise` feeds the renoise sampler's steps.
pub fn prepared_sampler(
    cfg: &SchedulerConfig,
    steps: usize,
    shift: Option<f64>,
    sampling: &Sampling,
    noise: NoiseSource,
) -> Result<Box<dyn FlowScheduler>> {
    if steps == 0 {
        return Err(WanError::Input("steps must be at least 1".into()));
    }
    let mut cfg = cfg.clone();
    if let Some(s) = shift {
        cfg.set_shift(s)?;
    }
    let mut scheduler = build_sampler(&cfg, sampling.sampler, noise);
    match &sampling.timesteps {
        Some(ts) if ts.len() != steps => {
            return Err(WanError::Input(format!(
                "num_inference_steps is {steps} but {} timesteps were given; they must agree",
                ts.len()
            )));
        }
        Some(ts) => scheduler.set_custom_timesteps(ts)?,
        None => scheduler.set_timesteps(steps)?,
    }
    Ok(scheduler)
}

/// `(frames, height, width)` of a video.
type FrameSize = (usize, usize, usize);

/// The loaded pipeline.
pub struct WanVacePipeline {
    text: PromptEncoder,
    /// The transformer's config (known without building it).
    config: WanConfig,
    transformer: Staged<WanTransformer>,
    vae: Box<dyn VaeCodec>,
    scheduler: SchedulerConfig,
    stats: LatentStats,
    dtype: DType,
    device: Device,
    /// The normalised VAE encoding of the all-zero video, per `(F, H, W)`.
    zero_video: Mutex<Option<(FrameSize, Tensor)>>,
    /// Whether the two guidance passes of a step run as one batch.
    batching: PassBatching,
}

/// Checks the sizes diffusers requires (it rounds `num_frames` with a warning; we refuse).
pub fn validate_size(width: usize, height: usize, num_frames: usize, patch: usize) -> Result<()> {
    let base = VAE_SCALE_SPATIAL * patch;
    if width == 0 || height == 0 || !width.is_multiple_of(base) || !height.is_multiple_of(base) {
        return Err(WanError::Input(format!(
            "width and height must be positive multiples of {base}, got {width}x{height}"
        )));
    }
    if num_frames % VAE_SCALE_TEMPORAL != 1 {
        return Err(WanError::Input(format!(
            "num_frames must be 4k + 1 (1, 5, …, 81), got {num_frames}"
        )));
    }
    Ok(())
}

impl WanVacePipeline {
    /// Assembles a pipeline from loaded parts; the transformer must have the VACE branch and
    /// `vace_in_channels = 2·z_dim + 64`.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        tokenizer: PromptTokenizer,
        text_encoder: Umt5Encoder,
        transformer: WanTransformer,
        vae: Box<dyn VaeCodec>,
        scheduler: SchedulerConfig,
        dtype: DType,
        device: Device,
    ) -> Result<Self> {
        Self::assemble(
            PromptEncoder::new(tokenizer, text_encoder, dtype, device.clone()),
            transformer.config().clone(),
            Staged::resident(transformer),
            vae,
            scheduler,
            dtype,
            device,
        )
    }

    /// [`from_parts`](Self::from_parts) with staged modules (see [`crate::offload`]); `config`
    /// is the transformer's.
    #[allow(clippy::too_many_arguments)]
    pub fn assemble(
        text: PromptEncoder,
        config: WanConfig,
        transformer: Staged<WanTransformer>,
        vae: Box<dyn VaeCodec>,
        scheduler: SchedulerConfig,
        dtype: DType,
        device: Device,
    ) -> Result<Self> {
        let cfg = &config;
        let z = vae.z_dim();
        let want = 2 * z + VAE_SCALE_SPATIAL * VAE_SCALE_SPATIAL;
        if cfg.vace_in_channels != Some(want) {
            return Err(WanError::Input(format!(
                "transformer vace_in_channels is {:?}, the VAE (z_dim {z}) needs {want}",
                cfg.vace_in_channels
            )));
        }
        if cfg.in_channels != z {
            return Err(WanError::Input(format!(
                "transformer in_channels is {}, the VAE z_dim is {z}",
                cfg.in_channels
            )));
        }
        let stats = LatentStats::new(&vae.latents_mean(), &vae.latents_std(), &device)?;
        Ok(Self {
            text,
            config,
            transformer,
            vae,
            scheduler,
            stats,
            dtype,
            device,
            zero_video: Mutex::new(None),
            batching: PassBatching::default(),
        })
    }

    /// Loads the tokenizer, text encoder, transformer (in `dtype`) and scheduler config of a
    /// diffusers pipeline folder or an original Wan folder (no scheduler config there: the
    /// shipped Wan UniPC config with [`WAN_FLOW_SHIFT`]), with the given VAE.
    pub fn load_with_vae(
        dir: &Path,
        dtype: DType,
        device: &Device,
        vae: Box<dyn VaeCodec>,
    ) -> Result<Self> {
        Self::load_with(dir, dtype, device, vae, &[])
    }

    /// [`load_with_vae`](Self::load_with_vae) with LoRAs merged into the transformer (see
    /// [`crate::lora`]).
    pub fn load_with(
        dir: &Path,
        dtype: DType,
        device: &Device,
        vae: Box<dyn VaeCodec>,
        loras: &[LoraSpec],
    ) -> Result<Self> {
        Self::load_placed_with_vae(dir, &Placement::new(dtype, device), vae, loras)
    }

    /// [`load_placed`](Self::load_placed) with the given VAE.
    pub fn load_placed_with_vae(
        dir: &Path,
        at: &Placement,
        vae: Box<dyn VaeCodec>,
        loras: &[LoraSpec],
    ) -> Result<Self> {
        let text = PromptEncoder::staged(
            PromptTokenizer::from_model_dir(dir, TEXT_LEN)?,
            load::text_encoder(dir, at)?,
            at.dtype,
            at.device.clone(),
        );
        let (config, transformer) = load::transformer(dir, at, loras)?;
        Self::assemble(
            text,
            config,
            transformer,
            vae,
            SchedulerConfig::load_or_wan(dir, WAN_FLOW_SHIFT)?,
            at.dtype,
            at.device.clone(),
        )
    }

    /// Whether the guidance passes of a step run as one batch ([`crate::batch`]; `auto` by
    /// default).
    pub fn set_pass_batching(&mut self, batching: PassBatching) {
        self.batching = batching;
    }

    /// The guidance passes' batching (see [`set_pass_batching`](Self::set_pass_batching)).
    pub fn pass_batching(&self) -> PassBatching {
        self.batching
    }

    /// The device everything runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The transformer's config.
    pub fn transformer_config(&self) -> &WanConfig {
        &self.config
    }

    /// The scheduler config from the folder.
    pub fn scheduler_config(&self) -> &SchedulerConfig {
        &self.scheduler
    }

    /// Replaces the scheduler config (e.g. by another folder's `scheduler/`).
    pub fn set_scheduler_config(&mut self, scheduler: SchedulerConfig) {
        self.scheduler = scheduler;
    }

    /// Latent channels.
    pub fn z_dim(&self) -> usize {
        self.vae.z_dim()
    }

    /// The shape of the initial noise for a size and reference count.
    pub fn noise_shape(
        &self,
        width: usize,
        height: usize,
        num_frames: usize,
        n_ref: usize,
    ) -> (usize, usize, usize, usize, usize) {
        conditioning::latent_shape(self.vae.z_dim(), width, height, num_frames, n_ref)
    }

    /// `prompt_embeds` `[1, 512, d]` of one prompt (cleaned, tokenized, encoded, zero-padded).
    pub fn encode_prompt(&self, prompt: &str) -> Result<Tensor> {
        self.text.encode(prompt)
    }

    /// `prompt_embeds` of several prompts, the text encoder built once for all.
    pub fn encode_prompts(&self, prompts: &[&str]) -> Result<Vec<Tensor>> {
        self.text.encode_all(prompts)
    }

    /// Forgets the cached VAE encoding of the all-grey video.
    pub fn clear_cache(&self) {
        *self.zero_video.lock().expect("zero-video cache poisoned") = None;
    }

    /// The normalised latents of the all-zero video of this size (cached).
    fn zero_video_latents(&self, f: usize, h: usize, w: usize) -> Result<Tensor> {
        let mut cache = self.zero_video.lock().expect("zero-video cache poisoned");
        if let Some((key, t)) = cache.as_ref()
            && *key == (f, h, w)
        {
            return Ok(t.clone());
        }
        let video = Tensor::zeros((1, 3, f, h, w), DType::F32, &self.device)?;
        let z = self.stats.normalize(&self.vae.encode(&video)?)?;
        *cache = Some(((f, h, w), z.clone()));
        Ok(z)
    }

    /// The reference canvases `[3, H, W]` of preprocessed references.
    pub fn reference_canvases(
        &self,
        references: &[Tensor],
        width: usize,
        height: usize,
    ) -> Result<Vec<Tensor>> {
        references
            .iter()
            .map(|r| conditioning::place_on_canvas(r, height, width))
            .collect()
    }

    /// The VACE context `[1, 2z + 64, T + n_ref, H/8, W/8]` (in the model dtype) for reference
    /// canvases.
    pub fn vace_context(
        &self,
        canvases: &[Tensor],
        width: usize,
        height: usize,
        num_frames: usize,
    ) -> Result<Tensor> {
        let video = self.zero_video_latents(num_frames, height, width)?;
        // Inactive (video·(1−m)) and reactive (video·m) are both the zero video here.
        let mut latents = Tensor::cat(&[&video, &video], 1)?;
        for canvas in canvases {
            let x = canvas.to_dtype(DType::F32)?.unsqueeze(0)?.unsqueeze(2)?;
            let r = self.stats.normalize(&self.vae.encode(&x)?)?;
            let r = Tensor::cat(&[&r, &r.zeros_like()?], 1)?;
            latents = Tensor::cat(&[&r, &latents], 2)?;
        }
        let ones = Tensor::ones((num_frames, height, width), DType::F32, &self.device)?;
        let mask = conditioning::vace_mask(&ones, canvases.len())?.unsqueeze(0)?;
        Ok(Tensor::cat(&[&latents, &mask], 1)?.to_dtype(self.dtype)?)
    }

    /// Generates a video: `[F, H, W, 3]` f32 in 0..1. `on_step(done, total)` runs after every
    /// denoising step; returning `false` stops with [`WanError::Cancelled`].
    pub fn generate(
        &self,
        p: &GenerateParams,
        on_step: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Tensor> {
        self.generate_with(p, &mut |s: &StepState<'_>| on_step(s.step, s.total))
    }

    /// [`generate`](Self::generate) with the latents visible to the callback.
    pub fn generate_with(
        &self,
        p: &GenerateParams,
        on_step: &mut dyn FnMut(&StepState<'_>) -> bool,
    ) -> Result<Tensor> {
        let req = self.encode_request(p)?;
        self.run(&req, on_step)
    }

    /// The encoded request of a call: prompts encoded, references preprocessed, the initial
    /// noise drawn (or taken from `initial_noise`).
    pub fn encode_request(&self, p: &GenerateParams) -> Result<EncodedRequest> {
        validate_size(p.width, p.height, p.num_frames, self.patch())?;
        let mut prompts = vec![p.prompt.as_str()];
        if p.guidance > 1.0 {
            prompts.push(&p.negative_prompt);
        }
        let mut embeds = self.text.encode_all(&prompts)?.into_iter();
        let prompt_embeds = embeds.next().expect("one embedding per prompt");
        let negative_prompt_embeds = embeds.next();
        let references = p
            .references
            .iter()
            .map(|r| conditioning::preprocess_reference(r, &self.device))
            .collect::<Result<Vec<_>>>()?;
        let shape = self.noise_shape(p.width, p.height, p.num_frames, references.len());
        let noise = match &p.initial_noise {
            Some(n) => n.to_device(&self.device)?,
            None => noise::seeded_randn(p.seed, shape, &self.device)?,
        };
        Ok(EncodedRequest {
            prompt_embeds,
            negative_prompt_embeds,
            references,
            width: p.width,
            height: p.height,
            num_frames: p.num_frames,
            steps: p.steps,
            guidance: p.guidance,
            noise,
            shift: p.shift,
            sampling: p.sampling.clone(),
            seed: p.seed,
        })
    }

    fn patch(&self) -> usize {
        self.config.patch().1
    }

    /// The denoising and decoding of an encoded request: `[F, H, W, 3]` in 0..1.
    pub fn run(
        &self,
        req: &EncodedRequest,
        on_step: &mut dyn FnMut(&StepState<'_>) -> bool,
    ) -> Result<Tensor> {
        let latents = self.denoise(req, on_step)?;
        self.decode(&latents, req.references.len())
    }

    /// The denoising part of [`run`](Self::run): the final latents `[1, z, T + n_ref, h, w]` f32.
    pub fn denoise(
        &self,
        req: &EncodedRequest,
        on_step: &mut dyn FnMut(&StepState<'_>) -> bool,
    ) -> Result<Tensor> {
        let context = self.context_for(req)?;
        self.denoise_with_context(req, &context, on_step)
    }

    /// Checks a request's sizes and noise and builds its VACE context from its references.
    pub fn context_for(&self, req: &EncodedRequest) -> Result<Tensor> {
        validate_size(req.width, req.height, req.num_frames, self.patch())?;
        let (b, z, t, h, w) =
            self.noise_shape(req.width, req.height, req.num_frames, req.references.len());
        if req.noise.dims() != [b, z, t, h, w] {
            return Err(WanError::Input(format!(
                "initial noise `latents` has shape {:?}, expected {:?}",
                req.noise.dims(),
                [b, z, t, h, w]
            )));
        }
        let canvases = self.reference_canvases(&req.references, req.width, req.height)?;
        self.vace_context(&canvases, req.width, req.height, req.num_frames)
    }

    /// The denoising loop with a given VACE context `[1, 2z + 64, T + n_ref, h, w]` (what
    /// [`vace_context`](Self::vace_context) builds); the references of `req` are not used.
    pub fn denoise_with_context(
        &self,
        req: &EncodedRequest,
        context: &Tensor,
        on_step: &mut dyn FnMut(&StepState<'_>) -> bool,
    ) -> Result<Tensor> {
        let noise = NoiseSource::Seeded(req.seed);
        let mut scheduler = self.scheduler_for(req, noise)?;
        let mut cache = self.step_cache_for(req)?;
        self.denoise_with_scheduler(req, context, scheduler.as_mut(), &mut cache, on_step)
    }

    /// The step cache a request asks for, sized for its steps and this transformer.
    pub fn step_cache_for(&self, req: &EncodedRequest) -> Result<StepCache> {
        StepCache::new(&req.sampling.cache, req.steps, self.config.num_layers)
    }

    /// The sampler a request asks for (the folder's config with the request's shift), with its
    /// schedule set: the request's step list if it has one, else `req.steps` steps. `noise`
    /// feeds the renoise sampler's steps.
    pub fn scheduler_for(
        &self,
        req: &EncodedRequest,
        noise: NoiseSource,
    ) -> Result<Box<dyn FlowScheduler>> {
        prepared_sampler(&self.scheduler, req.steps, req.shift, &req.sampling, noise)
    }

    /// The denoising loop with a given VACE context, a sampler whose schedule is set (see
    /// [`scheduler_for`](Self::scheduler_for)) and a step cache (see
    /// [`step_cache_for`](Self::step_cache_for); read its stats or calibration afterwards).
    pub fn denoise_with_scheduler(
        &self,
        req: &EncodedRequest,
        context: &Tensor,
        scheduler: &mut dyn FlowScheduler,
        cache: &mut StepCache,
        on_step: &mut dyn FnMut(&StepState<'_>) -> bool,
    ) -> Result<Tensor> {
        let (_, _, t, h, w) = req.noise.dims5()?;
        let (_, c, ct, ch, cw) = context.dims5()?;
        let want_c = self.config.vace_in_channels.unwrap_or(0);
        if (c, ct, ch, cw) != (want_c, t, h, w) {
            return Err(WanError::Input(format!(
                "VACE context has shape {:?}, expected [1, {want_c}, {t}, {h}, {w}]",
                context.dims()
            )));
        }
        let context = context.to_dtype(self.dtype)?;
        // Built (offload) or borrowed for this loop; an offloaded one is dropped at its end.
        let transformer = self.transformer.get()?;
        let cached = cache.is_on();
        let cache = RefCell::new(cache);
        let step_ts = denoise::StepTimesteps::new(scheduler.timesteps(), &self.device)?;
        let model = |x: &Tensor, t: f64, text: &Tensor, pass: usize| -> Result<Tensor> {
            let ts = step_ts.get(t)?;
            let vace = VaceInput {
                control: &context,
                scale: None,
            };
            let mut cache = cache.borrow_mut();
            Ok(transformer.forward_hooked(
                &x.to_dtype(self.dtype)?,
                &ts,
                &text.to_dtype(self.dtype)?,
                Some(vace),
                cache.hook(pass),
            )?)
        };
        // Both guidance passes in one forward, counted as two passes.
        let batched = |x: &Tensor, t: f64, texts: &[&Tensor]| -> Result<Vec<Tensor>> {
            cache.borrow_mut().record_batched(texts.len())?;
            let x = x.to_dtype(self.dtype)?;
            let texts = texts
                .iter()
                .map(|text| text.to_dtype(self.dtype))
                .collect::<candle_core::Result<Vec<_>>>()?;
            let passes: Vec<_> = texts.iter().map(|text| (&x, text)).collect();
            let vace = VaceInput {
                control: &context,
                scale: None,
            };
            Ok(transformer.forward_passes(&passes, &step_ts.get(t)?, Some(vace))?)
        };
        let guidance = Guidance {
            prompt_embeds: &req.prompt_embeds,
            negative_prompt_embeds: req.negative_prompt_embeds.as_ref(),
            scale: req.guidance,
        };
        let same_text = req
            .negative_prompt_embeds
            .as_ref()
            .is_none_or(|n| n.dims() == req.prompt_embeds.dims());
        let shape = PassShape::of(
            &transformer,
            &req.noise,
            req.prompt_embeds.dim(1)?,
            self.dtype,
        )?;
        let batch = same_text && self.batching.batches(2, cached, &shape, &self.device);
        let batched: Option<&denoise::BatchedModel<'_>> = if batch { Some(&batched) } else { None };
        let mut report = |s: &StepState<'_>| {
            let stats = cache.borrow().stats();
            on_step(&StepState { cache: stats, ..*s })
        };
        denoise::denoise(
            &model,
            batched,
            scheduler,
            req.noise.clone(),
            &guidance,
            &mut report,
        )
    }

    /// Drops the `n_ref` reference frames, de-normalises and decodes: `[F, H, W, 3]` in 0..1.
    pub fn decode(&self, latents: &Tensor, n_ref: usize) -> Result<Tensor> {
        let t = latents.dim(2)?;
        let video = latents.narrow(2, n_ref, t - n_ref)?;
        let frames = self.vae.decode(&self.stats.denormalize(&video)?)?;
        conditioning::frames_to_unit_range(&frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked() {
        assert!(validate_size(832, 480, 81, 2).is_ok());
        assert!(validate_size(64, 48, 9, 2).is_ok());
        assert!(validate_size(840, 480, 81, 2).is_err());
        assert!(validate_size(832, 480, 80, 2).is_err());
        assert!(validate_size(0, 480, 81, 2).is_err());
    }
}
