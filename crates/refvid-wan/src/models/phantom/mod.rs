//! The `phantom` engine's model: Phantom-Wan subject-to-video (phantom-video/Phantom,
//! `phantom_wan/subject2video.py`) as a [`VideoModel`].
//!
//! Phantom-Wan is the Wan 2.1 text-to-video transformer with its own weights; the reference
//! images enter as extra latent frames after the video's. Per step it runs the transformer
//! three times (prompt + references, negative prompt + references, negative prompt + zero
//! references) and combines them with two guidance scales ([`guidance`]). Defaults are the
//! reference code's: 50 UniPC steps, flow shift 5, image guidance 5.0, text guidance 7.5, and
//! Wan's default negative prompt ([`WAN_NEGATIVE_PROMPT`]).
//!
//! **Model folder.** Phantom-Wan is published as one file in the original Wan key layout
//! (`Phantom-Wan-1.3B.pth`), used with the text encoder, tokenizer and VAE of Wan2.1-T2V-1.3B.
//! The engine loads either
//! - the original `Wan2.1-T2V-1.3B` folder (`models_t5_umt5-xxl-enc-bf16.pth`,
//!   `google/umt5-xxl/`, `Wan2.1_VAE.pth`, `config.json`, its own T2V
//!   `diffusion_pytorch_model.safetensors`) with the Phantom checkpoint either dropped into it
//!   (the one weight file whose name contains `phantom`) or named by [`PhantomOptions::checkpoint`];
//! - or a diffusers `WanPipeline` folder whose `transformer/` holds the Phantom weights (in
//!   either key layout).
//!
//! **References.** Up to 7 (the API's limit). Phantom was trained with at most 4 ("the number of
//! reference images should be within 4", its README); beyond that the pipeline runs the same
//! way — every reference is one more latent frame after the video, its tokens attend and are
//! attended like the others, the 3-D RoPE just counts further in time — but the model never saw
//! such inputs, so how faithfully it keeps 5–7 subjects is untested upstream and here. Each
//! reference costs one latent frame of tokens (1,560 at 832×480) in all three passes.

pub mod check;
pub mod guidance;
pub mod pipeline;
pub mod reference;

use std::path::{Path, PathBuf};

use candle_core::Tensor;

use super::ModelPlace;
use crate::engine::{
    NativeFormat, NativeRequest, OnStep, StepReport, VideoModel, check_model_dir,
    check_native_size, model_name,
};
use crate::error::WanError;
use crate::loading::transformer_candidates;
use crate::pipeline::Sampling;
use crate::preset::{self, Distillation, Preset};
pub use guidance::GuidanceScales;
pub use pipeline::{PHANTOM_SHIFT, PhantomParams, PhantomPipeline, PhantomRequest};

/// Wan 2.1's default negative prompt (`sample_neg_prompt` of the Wan configs), which Phantom's
/// pipeline uses when none is given.
pub const WAN_NEGATIVE_PROMPT: &str = "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

/// How the Phantom model samples, and where its transformer is.
#[derive(Debug, Clone, PartialEq)]
pub struct PhantomOptions {
    /// Denoising steps (50).
    pub steps: usize,
    /// Image and text guidance (5.0 and 7.5).
    pub scales: GuidanceScales,
    /// Flow shift of the UniPC scheduler (5.0).
    pub shift: f64,
    /// The negative prompt ([`WAN_NEGATIVE_PROMPT`]).
    pub negative_prompt: String,
    /// The Phantom transformer checkpoint (`Phantom-Wan-1.3B.pth`); `None`: the model folder's
    /// (see the [module docs](self)).
    pub checkpoint: Option<PathBuf>,
    /// Sampler, step list and step cache.
    pub sampling: Sampling,
    /// The speed preset these options come from (reported in `request_info`).
    pub preset: Preset,
    /// Whether the weights are known to be step-distilled (reported when they are).
    pub distillation: Distillation,
}

impl Default for PhantomOptions {
    fn default() -> Self {
        Self {
            steps: 50,
            scales: GuidanceScales::default(),
            shift: PHANTOM_SHIFT,
            negative_prompt: WAN_NEGATIVE_PROMPT.to_string(),
            checkpoint: None,
            sampling: Sampling::default(),
            preset: Preset::Quality,
            distillation: Distillation::No,
        }
    }
}

/// Phantom-Wan, loaded.
pub struct PhantomModel {
    pipeline: PhantomPipeline,
    place: ModelPlace,
    options: PhantomOptions,
    transformer: PathBuf,
}

/// Where the Phantom transformer of `dir` is: `explicit` when given, the folder itself for a
/// diffusers folder (its `transformer/`), else the one weight file whose name contains `phantom`.
pub fn transformer_path(dir: &Path, explicit: Option<&Path>) -> Result<PathBuf, WanError> {
    if let Some(file) = explicit {
        if !file.exists() {
            return Err(WanError::Input(format!(
                "the Phantom checkpoint {} does not exist",
                file.display()
            )));
        }
        return Ok(file.to_path_buf());
    }
    if dir.join("model_index.json").is_file() {
        return Ok(dir.to_path_buf());
    }
    let is_phantom = |p: &PathBuf| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().to_lowercase().contains("phantom"))
    };
    let found: Vec<PathBuf> = transformer_candidates(dir)?
        .into_iter()
        .flatten()
        .filter(is_phantom)
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(WanError::Input(format!(
            "no Phantom checkpoint in {}: put Phantom-Wan-1.3B.pth there or name it (--phantom-ckpt)",
            dir.display()
        ))),
        several => Err(WanError::Input(format!(
            "several Phantom checkpoints in {} ({}); name the one to use (--phantom-ckpt)",
            dir.display(),
            several
                .iter()
                .map(|p| model_name(p))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

impl PhantomModel {
    /// Loads the folder of `place` and the Phantom transformer; fails naming what is missing.
    pub fn load(place: ModelPlace, options: PhantomOptions) -> Result<Self, WanError> {
        check_model_dir(&place.dir, "WanPipeline", options.checkpoint.is_some())?;
        if options.steps == 0 {
            return Err(WanError::Input("steps must be at least 1".into()));
        }
        check_native_size(place.native_size)?;
        let transformer = transformer_path(&place.dir, options.checkpoint.as_deref())?;
        let mut pipeline = PhantomPipeline::load_placed(
            &place.dir,
            &transformer,
            &place.placement()?,
            true,
            &place.loras,
        )?;
        pipeline.set_pass_batching(place.pass_batching);
        Ok(Self {
            pipeline,
            place,
            options,
            transformer,
        })
    }

    /// The options it samples with.
    pub fn options(&self) -> &PhantomOptions {
        &self.options
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &PhantomPipeline {
        &self.pipeline
    }

    /// The pipeline call for a native request.
    pub fn params(&self, request: &NativeRequest) -> PhantomParams {
        PhantomParams {
            prompt: request.prompt.clone(),
            negative_prompt: self.options.negative_prompt.clone(),
            references: request.references.clone(),
            width: request.width,
            height: request.height,
            num_frames: request.num_frames,
            steps: self.options.steps,
            scales: self.options.scales,
            shift: self.options.shift,
            seed: request.seed,
            initial_noise: None,
            sampling: self.options.sampling.clone(),
        }
    }
}

impl VideoModel for PhantomModel {
    fn name(&self) -> &'static str {
        "phantom"
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let o = &self.options;
        let mut out = vec![
            ("model", model_name(&self.transformer)),
            ("steps", o.steps.to_string()),
            ("guidance_image", o.scales.image.to_string()),
            ("guidance_text", o.scales.text.to_string()),
            ("shift", o.shift.to_string()),
        ];
        out.extend(self.place.describe());
        out.extend(preset::describe(o.preset, &o.sampling, &o.distillation));
        out
    }

    fn native_format(&self) -> NativeFormat {
        self.place.format()
    }

    fn render(
        &self,
        request: &NativeRequest,
        on_step: &mut OnStep<'_>,
    ) -> Result<Tensor, WanError> {
        self.pipeline
            .generate(&self.params(request), &mut |s| on_step(&StepReport::of(s)))
    }
}
