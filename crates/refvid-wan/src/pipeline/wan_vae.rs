//! [`WanVacePipeline::load`]: the pipeline with the crate's Wan VAE (which implements
//! [`super::VaeCodec`] in `crate::vae`).

use std::path::Path;

use candle_core::{DType, Device};

use super::WanVacePipeline;
use crate::error::Result;
use crate::lora::LoraSpec;
use crate::offload::{Placement, load};

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
        Self::load_placed(dir, &Placement::new(dtype, device), loras)
    }

    /// [`load_with_loras`](Self::load_with_loras) with the modules placed as `at` says: kept on
    /// the device, or offloaded per stage or per block ([`crate::offload`]); the VAE in f32,
    /// decoding in tiles when offloaded.
    pub fn load_placed(dir: &Path, at: &Placement, loras: &[LoraSpec]) -> Result<Self> {
        let vae = load::vae(dir, at)?;
        Self::load_placed_with_vae(dir, at, vae, loras)
    }
}
