//! The `wan` engine's model: Wan2.1-VACE reference-to-video ([`WanVacePipeline`]) as a
//! [`VideoModel`].
//!
//! One render is one `WanVACEPipeline` call without an input video: the references are placed
//! on white canvases of the video size and enter as VACE context frames, two transformer passes
//! per step (classifier-free guidance, 5.0 by default), the folder's UniPC scheduler, 50 steps.
//! The model folder is a diffusers `WanVACEPipeline` folder or the original Wan2.1-VACE release
//! (whose missing scheduler config becomes the shipped Wan UniPC config, shift 3).

use candle_core::Tensor;

use super::ModelPlace;
use crate::engine::{
    NativeFormat, NativeRequest, OnStep, StepReport, VideoModel, check_model_dir,
    check_native_size, model_name,
};
use crate::error::WanError;
use crate::pipeline::{GenerateParams, Sampling, WanVacePipeline};
use crate::preset::{self, Distillation, Preset};

/// How the VACE model samples.
#[derive(Debug, Clone, PartialEq)]
pub struct VaceOptions {
    /// Denoising steps (Wan's default: 50).
    pub steps: usize,
    /// Classifier-free guidance scale (Wan's default: 5.0; ≤ 1 skips the unconditional pass).
    pub guidance: f64,
    /// The negative prompt used with guidance (diffusers' default: empty).
    pub negative_prompt: String,
    /// The flow shift; `None`: the folder's scheduler config (3 for Wan2.1-VACE 480p).
    pub shift: Option<f64>,
    /// Sampler, step list and step cache.
    pub sampling: Sampling,
    /// The speed preset these options come from (reported in `request_info`).
    pub preset: Preset,
    /// Whether the weights are known to be step-distilled (reported when they are).
    pub distillation: Distillation,
}

impl Default for VaceOptions {
    fn default() -> Self {
        Self {
            steps: 50,
            guidance: 5.0,
            negative_prompt: String::new(),
            shift: None,
            sampling: Sampling::default(),
            preset: Preset::Quality,
            distillation: Distillation::No,
        }
    }
}

/// Wan2.1-VACE, loaded.
pub struct VaceModel {
    pipeline: WanVacePipeline,
    place: ModelPlace,
    options: VaceOptions,
}

impl VaceModel {
    /// Loads the folder of `place`; fails naming what is missing or mismatched.
    pub fn load(place: ModelPlace, options: VaceOptions) -> Result<Self, WanError> {
        check_model_dir(&place.dir, "WanVACEPipeline", false)?;
        if options.steps == 0 {
            return Err(WanError::Input("steps must be at least 1".into()));
        }
        check_native_size(place.native_size)?;
        let mut pipeline =
            WanVacePipeline::load_placed(&place.dir, &place.placement()?, &place.loras)?;
        pipeline.set_pass_batching(place.pass_batching);
        Ok(Self {
            pipeline,
            place,
            options,
        })
    }

    /// The options it samples with.
    pub fn options(&self) -> &VaceOptions {
        &self.options
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &WanVacePipeline {
        &self.pipeline
    }

    /// The pipeline call for a native request.
    pub fn params(&self, request: &NativeRequest) -> GenerateParams {
        GenerateParams {
            prompt: request.prompt.clone(),
            negative_prompt: self.options.negative_prompt.clone(),
            references: request.references.clone(),
            width: request.width,
            height: request.height,
            num_frames: request.num_frames,
            steps: self.options.steps,
            guidance: self.options.guidance,
            seed: request.seed,
            initial_noise: None,
            shift: self.options.shift,
            sampling: self.options.sampling.clone(),
        }
    }
}

impl VideoModel for VaceModel {
    fn name(&self) -> &'static str {
        "wan"
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let o = &self.options;
        let mut out = vec![
            ("model", model_name(&self.place.dir)),
            ("steps", o.steps.to_string()),
            ("guidance", o.guidance.to_string()),
        ];
        if let Some(shift) = o.shift {
            out.push(("shift", shift.to_string()));
        }
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
            .generate_with(&self.params(request), &mut |s| on_step(&StepReport::of(s)))
    }
}
