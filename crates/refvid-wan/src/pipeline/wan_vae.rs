//! [`WanVacePipeline::load`]: the pipeline with the crate's Wan VAE (which implements
//! [`super::VaeCodec`] in `crate::vae`).

use std::path::Path;

use candle_core::{DType, Device};

use super::WanVacePipeline;
use crate::error::Result;
use crate::lora::LoraSpec;
use crate::vae::WanVae;

impl WanVacePipeline {
    /// Loads a diffusers `WanVACEPipeline` folder: tokenizer, text encoder and transformer in
    /// `dtype`, the VAE in f32 (as diffusers advises for Wan), the scheduler config.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        Self::load_with_loras(dir, dtype, device, &[])
    }

    /// [`load`](Self::load) with LoRAs merged into the transformer (see [`crate::lora`]).
    pub fn load_with_loras(
        dir: &Path,
        dtype: DType,
        device: &Device,
        loras: &[LoraSpec],
    ) -> Result<Self> {
        let vae = WanVae::load(dir, DType::F32, device)?;
        Self::load_with(dir, dtype, device, Box::new(vae), loras)
    }
}
