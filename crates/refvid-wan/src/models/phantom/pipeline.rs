//! [`PhantomPipeline`]: the Phantom-Wan subject-to-video pipeline on the crate's modules.
//!
//! One call: the prompt and the negative prompt UMT5-encoded; each reference prepared
//! ([`super::reference`]), VAE-encoded alone to one latent frame and normalised; noise
//! `[1, z, T + N, h, w]`; the three-pass loop ([`super::guidance`]) with the UniPC scheduler
//! (the folder's config, or Wan's shipped one, with Phantom's shift 5); the last N frames
//! dropped, the rest de-normalised and decoded to `[F, H, W, 3]` in 0..1. With offload
//! ([`PhantomPipeline::load_placed`]) each module is on the device only for its stage
//! ([`crate::offload`]).

use std::cell::RefCell;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::guidance::{self, GuidanceScales, Pass, Texts};
use super::reference;
use crate::batch::{PassBatching, PassShape};
use crate::error::{Result, WanError};
use crate::lora::LoraSpec;
use crate::offload::{Placement, Staged, load};
use crate::pipeline::conditioning::{
    self, LatentStats, VAE_SCALE_SPATIAL, VAE_SCALE_TEMPORAL, frames_to_unit_range,
};
use crate::pipeline::denoise::StepTimesteps;
use crate::pipeline::{
    PromptEncoder, Reference, Sampling, StepState, VaeCodec, noise, prepared_sampler, validate_size,
};
use crate::scheduler::{NoiseSource, SchedulerConfig};
use crate::step_cache::StepCache;
use crate::transformer::{WanConfig, WanTransformer};

/// Phantom's default flow shift (`generate.py`: `sample_shift` 5.0).
pub const PHANTOM_SHIFT: f64 = 5.0;

/// What to generate.
#[derive(Debug, Clone)]
pub struct PhantomParams {
    pub prompt: String,
    pub negative_prompt: String,
    /// Prepared as Phantom prepares them (any size, or tensors already at the video size).
    pub references: Vec<Reference>,
    /// Multiple of 16.
    pub width: usize,
    /// Multiple of 16.
    pub height: usize,
    /// `4k + 1`.
    pub num_frames: usize,
    pub steps: usize,
    pub scales: GuidanceScales,
    pub shift: f64,
    pub seed: u64,
    /// `[1, z, T + N, H/8, W/8]` f32; replaces the seeded noise when given.
    pub initial_noise: Option<Tensor>,
    pub sampling: Sampling,
}

/// A run from encoded prompts and prepared references (what the parity command feeds).
#[derive(Debug, Clone)]
pub struct PhantomRequest {
    /// `[1, L, text_dim]`.
    pub prompt_embeds: Tensor,
    /// `[1, L, text_dim]`.
    pub negative_prompt_embeds: Tensor,
    /// Each `[3, H, W]` in −1..1 at the video size.
    pub references: Vec<Tensor>,
    /// `[1, z, T + N, H/8, W/8]`: the size of the video follows from it.
    pub noise: Tensor,
    pub steps: usize,
    pub scales: GuidanceScales,
    pub shift: Option<f64>,
    pub sampling: Sampling,
    /// Seeds the fresh noise of the renoise sampler's steps (unused by the others).
    pub seed: u64,
}

/// The loaded pipeline; the text side is optional (the parity command starts from embeddings).
pub struct PhantomPipeline {
    text: Option<PromptEncoder>,
    /// The transformer's config (known without building it).
    config: WanConfig,
    transformer: Staged<WanTransformer>,
    vae: Box<dyn VaeCodec>,
    scheduler: SchedulerConfig,
    stats: LatentStats,
    dtype: DType,
    device: Device,
    /// Whether the three passes of a step run as one batch.
    batching: PassBatching,
}

impl PhantomPipeline {
    /// Assembles a pipeline; the transformer must be a plain Wan T2V model on the VAE's latents.
    pub fn from_parts(
        text: Option<PromptEncoder>,
        transformer: WanTransformer,
        vae: Box<dyn VaeCodec>,
        scheduler: SchedulerConfig,
        dtype: DType,
        device: Device,
    ) -> Result<Self> {
        let config = transformer.config().clone();
        let transformer = Staged::resident(transformer);
        Self::assemble(text, config, transformer, vae, scheduler, dtype, device)
    }

    /// [`from_parts`](Self::from_parts) with a staged transformer (see [`crate::offload`]);
    /// `config` is its config.
    pub fn assemble(
        text: Option<PromptEncoder>,
        config: WanConfig,
        transformer: Staged<WanTransformer>,
        vae: Box<dyn VaeCodec>,
        scheduler: SchedulerConfig,
        dtype: DType,
        device: Device,
    ) -> Result<Self> {
        let cfg = &config;
        let z = vae.z_dim();
        if cfg.vace_layers.is_some() {
            return Err(WanError::Input(
                "the transformer has VACE layers; Phantom is a plain Wan text-to-video model"
                    .into(),
            ));
        }
        if cfg.in_channels != z || cfg.out_ch() != z {
            return Err(WanError::Input(format!(
                "transformer in/out channels are {}/{}, the VAE z_dim is {z}",
                cfg.in_channels,
                cfg.out_ch()
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
            batching: PassBatching::default(),
        })
    }

    /// Whether the three passes of a step run as one batch ([`crate::batch`]; `auto` by
    /// default).
    pub fn set_pass_batching(&mut self, batching: PassBatching) {
        self.batching = batching;
    }

    /// The passes' batching (see [`set_pass_batching`](Self::set_pass_batching)).
    pub fn pass_batching(&self) -> PassBatching {
        self.batching
    }

    /// Loads a model folder (diffusers `WanPipeline` or original Wan folder) with the
    /// transformer from `transformer` (a file or the folder itself); without `with_text`, the
    /// tokenizer and text encoder are not loaded.
    pub fn load(
        dir: &Path,
        transformer: &Path,
        dtype: DType,
        device: &Device,
        with_text: bool,
    ) -> Result<Self> {
        Self::load_placed(
            dir,
            transformer,
            &Placement::new(dtype, device),
            with_text,
            &[],
        )
    }

    /// [`load`](Self::load) with LoRAs merged into the transformer (see [`crate::lora`]).
    pub fn load_with_loras(
        dir: &Path,
        transformer: &Path,
        dtype: DType,
        device: &Device,
        with_text: bool,
        loras: &[LoraSpec],
    ) -> Result<Self> {
        let at = Placement::new(dtype, device);
        Self::load_placed(dir, transformer, &at, with_text, loras)
    }

    /// [`load_with_loras`](Self::load_with_loras) with the modules placed as `at` says: kept on
    /// the device, or offloaded per stage or per block ([`crate::offload`]); the VAE in f32,
    /// decoding in tiles when offloaded.
    pub fn load_placed(
        dir: &Path,
        transformer: &Path,
        at: &Placement,
        with_text: bool,
        loras: &[LoraSpec],
    ) -> Result<Self> {
        let text = if with_text {
            Some(PromptEncoder::load_placed(dir, at)?)
        } else {
            None
        };
        let (config, staged) = load::transformer(transformer, at, loras)?;
        Self::assemble(
            text,
            config,
            staged,
            load::vae(dir, at)?,
            SchedulerConfig::load_or_wan(dir, PHANTOM_SHIFT)?,
            at.dtype,
            at.device.clone(),
        )
    }

    /// The transformer's config.
    pub fn transformer_config(&self) -> &WanConfig {
        &self.config
    }

    /// The device everything runs on.
    pub fn device(&self) -> &Device {
        &self.device
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

    /// `prompt_embeds` of one prompt; an error when the text encoder was not loaded.
    pub fn encode_prompt(&self, prompt: &str) -> Result<Tensor> {
        Ok(self.encode_prompts(&[prompt])?.remove(0))
    }

    /// `prompt_embeds` of several prompts, the text encoder built once for all.
    pub fn encode_prompts(&self, prompts: &[&str]) -> Result<Vec<Tensor>> {
        match &self.text {
            Some(t) => t.encode_all(prompts),
            None => Err(WanError::Input(
                "this pipeline was loaded without its text encoder".into(),
            )),
        }
    }

    /// The normalised latents `[1, z, N, h, w]` of prepared references `[3, H, W]`, each
    /// VAE-encoded alone as one frame.
    pub fn reference_latents(
        &self,
        references: &[Tensor],
        width: usize,
        height: usize,
    ) -> Result<Tensor> {
        let mut frames = Vec::with_capacity(references.len());
        for r in references {
            if r.dims() != [3, height, width] {
                return Err(WanError::Input(format!(
                    "reference image must be [3, {height}, {width}] (the video size), got {:?}",
                    r.dims()
                )));
            }
            let x = r.to_dtype(DType::F32)?.unsqueeze(0)?.unsqueeze(2)?;
            frames.push(self.stats.normalize(&self.vae.encode(&x)?)?);
        }
        if frames.is_empty() {
            let (_, z, _, h, w) = self.noise_shape(width, height, 1, 0);
            return Ok(Tensor::zeros((1, z, 0, h, w), DType::F32, &self.device)?);
        }
        Ok(Tensor::cat(&frames, 2)?)
    }

    /// Generates a video `[F, H, W, 3]` in 0..1; `on_step` returning `false` stops with
    /// [`WanError::Cancelled`].
    pub fn generate(
        &self,
        p: &PhantomParams,
        on_step: &mut dyn FnMut(&StepState<'_>) -> bool,
    ) -> Result<Tensor> {
        validate_size(p.width, p.height, p.num_frames, self.patch())?;
        let references = p
            .references
            .iter()
            .map(|r| reference::prepare(r, p.width, p.height, &self.device))
            .collect::<Result<Vec<_>>>()?;
        let shape = self.noise_shape(p.width, p.height, p.num_frames, references.len());
        let noise = match &p.initial_noise {
            Some(n) => n.to_device(&self.device)?,
            None => noise::seeded_randn(p.seed, shape, &self.device)?,
        };
        let mut embeds = self.encode_prompts(&[&p.prompt, &p.negative_prompt])?;
        let negative_prompt_embeds = embeds.pop().expect("two prompts");
        let req = PhantomRequest {
            prompt_embeds: embeds.pop().expect("two prompts"),
            negative_prompt_embeds,
            references,
            noise,
            steps: p.steps,
            scales: p.scales,
            shift: Some(p.shift),
            sampling: p.sampling.clone(),
            seed: p.seed,
        };
        self.run(&req, on_step)
    }

    fn patch(&self) -> usize {
        self.config.patch().1
    }

    /// The video size `(width, height, num_frames)` a request's noise and references describe.
    pub fn request_size(&self, req: &PhantomRequest) -> Result<(usize, usize, usize)> {
        let (_, z, t, h, w) = req.noise.dims5().map_err(|_| {
            WanError::Input(format!(
                "the noise must be [1, z, T + N, h, w], got {:?}",
                req.noise.dims()
            ))
        })?;
        let n = req.references.len();
        if z != self.z_dim() || t <= n {
            return Err(WanError::Input(format!(
                "the noise {:?} needs z = {} channels and more than the {n} reference frames",
                req.noise.dims(),
                self.z_dim()
            )));
        }
        let s = VAE_SCALE_SPATIAL;
        Ok((w * s, h * s, VAE_SCALE_TEMPORAL * (t - n - 1) + 1))
    }

    /// Denoises and decodes an encoded request: `[F, H, W, 3]` in 0..1.
    pub fn run(
        &self,
        req: &PhantomRequest,
        on_step: &mut dyn FnMut(&StepState<'_>) -> bool,
    ) -> Result<Tensor> {
        let latents = self.denoise(req, on_step)?;
        self.decode(&latents, req.references.len())
    }

    /// The denoising part of [`run`](Self::run): the final latents of all T + N frames (f32).
    pub fn denoise(
        &self,
        req: &PhantomRequest,
        on_step: &mut dyn FnMut(&StepState<'_>) -> bool,
    ) -> Result<Tensor> {
        let mut cache = self.step_cache_for(req)?;
        self.denoise_with_cache(req, &mut cache, on_step)
    }

    /// The step cache a request asks for: one state per pass (three), sized for its steps.
    pub fn step_cache_for(&self, req: &PhantomRequest) -> Result<StepCache> {
        StepCache::new(&req.sampling.cache, req.steps, self.config.num_layers)
    }

    /// [`denoise`](Self::denoise) with a given step cache (read its stats and decisions
    /// afterwards); the passes are cache passes 0 (prompt and references), 1 (negative prompt
    /// and references) and 2 (negative prompt, zero references).
    pub fn denoise_with_cache(
        &self,
        req: &PhantomRequest,
        cache: &mut StepCache,
        on_step: &mut dyn FnMut(&StepState<'_>) -> bool,
    ) -> Result<Tensor> {
        let (width, height, num_frames) = self.request_size(req)?;
        validate_size(width, height, num_frames, self.patch())?;
        let references = self.reference_latents(&req.references, width, height)?;
        let mut scheduler = prepared_sampler(
            &self.scheduler,
            req.steps,
            req.shift,
            &req.sampling,
            NoiseSource::Seeded(req.seed),
        )?;
        // Built (offload) or borrowed for this loop; an offloaded one is dropped at its end.
        let transformer = self.transformer.get()?;
        let cached = cache.is_on();
        let cache = RefCell::new(cache);
        let step_ts = StepTimesteps::new(scheduler.timesteps(), &self.device)?;
        let model = |pass: Pass, x: &Tensor, t: f64, text: &Tensor| -> Result<Tensor> {
            let ts = step_ts.get(t)?;
            let mut cache = cache.borrow_mut();
            let y = transformer.forward_hooked(
                &x.to_dtype(self.dtype)?,
                &ts,
                &text.to_dtype(self.dtype)?,
                None,
                cache.hook(pass.index()),
            )?;
            Ok(y.to_dtype(DType::F32)?)
        };
        // The three passes in one forward, counted as three passes.
        let batched = |passes: &[(&Tensor, &Tensor)], t: f64| -> Result<Vec<Tensor>> {
            cache.borrow_mut().record_batched(passes.len())?;
            let cast = passes
                .iter()
                .map(|(x, text)| Ok((x.to_dtype(self.dtype)?, text.to_dtype(self.dtype)?)))
                .collect::<Result<Vec<_>>>()?;
            let pairs: Vec<_> = cast.iter().map(|(x, text)| (x, text)).collect();
            transformer
                .forward_passes(&pairs, &step_ts.get(t)?, None)?
                .into_iter()
                .map(|y| Ok(y.to_dtype(DType::F32)?))
                .collect()
        };
        let texts = Texts {
            prompt: &req.prompt_embeds,
            negative: &req.negative_prompt_embeds,
        };
        let shape = PassShape::of(
            &transformer,
            &req.noise,
            req.prompt_embeds.dim(1)?,
            self.dtype,
        )?;
        let batch = req.prompt_embeds.dims() == req.negative_prompt_embeds.dims()
            && self.batching.batches(3, cached, &shape, &self.device);
        let batched: Option<&guidance::PhantomBatchedFn<'_>> =
            if batch { Some(&batched) } else { None };
        let mut report = |s: &StepState<'_>| {
            let stats = cache.borrow().stats();
            on_step(&StepState { cache: stats, ..*s })
        };
        guidance::denoise(
            &model,
            batched,
            scheduler.as_mut(),
            req.noise.clone(),
            &references,
            texts,
            req.scales,
            &mut report,
        )
    }

    /// Drops the last `n_ref` frames, de-normalises and decodes: `[F, H, W, 3]` in 0..1.
    pub fn decode(&self, latents: &Tensor, n_ref: usize) -> Result<Tensor> {
        let t = latents.dim(2)?;
        let video = latents.narrow(2, 0, t - n_ref)?;
        let frames = self.vae.decode(&self.stats.denormalize(&video)?)?;
        frames_to_unit_range(&frames)
    }
}
