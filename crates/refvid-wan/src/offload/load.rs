//! Loading a model's modules for an [`Offload`] mode: each one [`Staged`] — built now and kept
//! (`none`), or built from its weights' [`home`](super::home) for every stage (`model`), with
//! the blocks streamed (`blocks`).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::home::home_for;
use super::{Offload, Staged};
use crate::error::Result;
use crate::layout::Component;
use crate::loading::{
    Checkpoint, from_checkpoint, module_source, open_vae, text_encoder_config, transformer_weights,
};
use crate::lora::LoraSpec;
use crate::pipeline::VaeCodec;
use crate::transformer::{WanConfig, WanTransformer};
use crate::umt5::{Umt5Config, Umt5Encoder};
use crate::vae::{VaeConfig, VaeTiling, WanVae};

/// Where and how a model's modules run.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Compute dtype of the text encoder and transformer (the VAE runs in f32).
    pub dtype: DType,
    /// The compute device.
    pub device: Device,
    /// What stays on the device between uses.
    pub offload: Offload,
    /// The VAE's spatial tiling (by default the offload mode's, [`Offload::vae_tiling`]).
    pub vae_tiling: Option<VaeTiling>,
}

impl Placement {
    /// Everything kept on `device` in `dtype` (no offload, no VAE tiling).
    pub fn new(dtype: DType, device: &Device) -> Self {
        Self {
            dtype,
            device: device.clone(),
            offload: Offload::None,
            vae_tiling: None,
        }
    }

    /// The same with another offload mode and that mode's VAE tiling.
    pub fn with_offload(mut self, offload: Offload) -> Self {
        self.offload = offload;
        self.vae_tiling = offload.vae_tiling();
        self
    }

    /// The same with another VAE tiling.
    pub fn with_vae_tiling(mut self, tiling: Option<VaeTiling>) -> Self {
        self.vae_tiling = tiling;
        self
    }
}

/// A module's checkpoint opened for `component`.
fn open(model: &Path, component: Component) -> Result<(crate::loading::ModuleSource, Checkpoint)> {
    let source = module_source(model, component)?;
    let ckpt = Checkpoint::open_component(&source.files, component)?;
    Ok((source, ckpt))
}

/// Stages a module whose weights `host` reads on the CPU: kept (built on the device) without
/// offload; otherwise built for each stage from its home, by `build` (`model`) or `streamed`
/// (`blocks`).
pub fn stage<M: 'static>(
    host: VarBuilder<'static>,
    at: &Placement,
    build: impl Fn(VarBuilder<'static>) -> Result<M> + Send + Sync + 'static,
    streamed: impl Fn(VarBuilder<'static>) -> Result<M> + Send + Sync + 'static,
) -> Result<Staged<M>> {
    if at.offload == Offload::None {
        return Ok(Staged::resident(build(host.set_device(at.device.clone()))?));
    }
    let home = home_for(host, &at.device, &build)?;
    Ok(match at.offload {
        Offload::Blocks => Staged::per_stage(move || streamed(home.clone())),
        _ => Staged::per_stage(move || build(home.clone())),
    })
}

/// The UMT5 text encoder of `model` (either layout), staged.
pub fn text_encoder(model: &Path, at: &Placement) -> Result<Staged<Umt5Encoder>> {
    let (source, ckpt) = open(model, Component::TextEncoder)?;
    let cfg = text_encoder_config(&source, &ckpt)?;
    text_encoder_from(&cfg, from_checkpoint(ckpt, at.dtype, &Device::Cpu), at)
}

/// A UMT5 encoder of `cfg` whose weights `host` (a CPU builder in the compute dtype) holds,
/// staged as `at` says.
pub fn text_encoder_from(
    cfg: &Umt5Config,
    host: VarBuilder<'static>,
    at: &Placement,
) -> Result<Staged<Umt5Encoder>> {
    let (c, s) = (cfg.clone(), cfg.clone());
    stage(
        host,
        at,
        move |vb| Ok(Umt5Encoder::new(&c, vb)?),
        move |vb| Ok(Umt5Encoder::new_streamed(&s, vb)?),
    )
}

/// The transformer of `model` (either layout, T2V or VACE) with `loras` merged, and its config,
/// staged. Offloaded on the CPU, every build merges the LoRAs again as the weights are read.
pub fn transformer(
    model: &Path,
    at: &Placement,
    loras: &[LoraSpec],
) -> Result<(WanConfig, Staged<WanTransformer>)> {
    let (cfg, host) = transformer_weights(model, at.dtype, &Device::Cpu, loras)?;
    let staged = transformer_from(&cfg, host, at)?;
    Ok((cfg, staged))
}

/// A transformer of `cfg` whose weights `host` (a CPU builder in the compute dtype) holds,
/// staged as `at` says.
pub fn transformer_from(
    cfg: &WanConfig,
    host: VarBuilder<'static>,
    at: &Placement,
) -> Result<Staged<WanTransformer>> {
    let (c, s) = (cfg.clone(), cfg.clone());
    stage(
        host,
        at,
        move |vb| Ok(WanTransformer::new(&c, vb)?),
        move |vb| Ok(WanTransformer::new_streamed(&s, vb)?),
    )
}

/// The VAE of `model` in f32, staged (the VAE has no blocks to stream: `blocks` stages it as
/// `model` does), with the placement's tiling.
pub fn vae(model: &Path, at: &Placement) -> Result<Box<dyn VaeCodec>> {
    let (config, ckpt) = open_vae(model)?;
    vae_from(config, from_checkpoint(ckpt, DType::F32, &Device::Cpu), at)
}

/// A VAE of `config` whose weights `host` (a CPU builder in f32) holds, staged as `at` says.
pub fn vae_from(
    config: VaeConfig,
    host: VarBuilder<'static>,
    at: &Placement,
) -> Result<Box<dyn VaeCodec>> {
    let tiling = at.vae_tiling;
    let c = config.clone();
    let build = move |vb| Ok(WanVae::new(c.clone(), vb)?.with_tiling(tiling));
    let staged = stage(host, at, build.clone(), build)?;
    Ok(Box::new(StagedVae {
        config,
        vae: staged,
    }))
}

/// The Wan VAE behind the pipelines' [`VaeCodec`], kept or built per call.
pub struct StagedVae {
    config: VaeConfig,
    vae: Staged<WanVae>,
}

impl VaeCodec for StagedVae {
    fn z_dim(&self) -> usize {
        self.config.z_dim
    }

    fn latents_mean(&self) -> Vec<f64> {
        self.config.latents_mean.clone()
    }

    fn latents_std(&self) -> Vec<f64> {
        self.config.latents_std.clone()
    }

    fn encode(&self, video: &Tensor) -> Result<Tensor> {
        self.vae.get()?.encode(video)
    }

    fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        self.vae.get()?.decode(latents)
    }
}
