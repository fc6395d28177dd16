//! The video models behind the engines, one folder each: [`vace`] (Wan2.1-VACE, engine `wan`)
//! and [`phantom`] (Phantom-Wan, engine `phantom`). Each implements
//! [`crate::engine::VideoModel`]; a new model is a new folder here plus one arm in the binary's
//! engine choice.

pub mod phantom;
pub mod vace;

use std::path::PathBuf;

use candle_core::Device;

use crate::batch::PassBatching;
use crate::error::WanError;
use crate::lora::LoraSpec;
use crate::offload::{Offload, Placement, TilingChoice};
use crate::runtime::{DeviceKind, Precision};

/// What every Wan-family model needs besides its own options: the folder, where and in which
/// precision it runs, and its native geometry.
#[derive(Debug, Clone)]
pub struct ModelPlace {
    /// The model folder (diffusers or original layout, see [`crate::loading`]).
    pub dir: PathBuf,
    /// Precision of the text encoder and transformer (the VAE always runs in f32).
    pub precision: Precision,
    /// Where the model runs.
    pub device: DeviceKind,
    /// The landscape native size `(width, height)`; portrait jobs use its transpose.
    pub native_size: (usize, usize),
    /// The model's frame rate (16 for Wan 2.1).
    pub fps: u32,
    /// LoRAs merged into the transformer at load (see [`crate::lora`]).
    pub loras: Vec<LoraSpec>,
    /// What stays on the device between uses (`--offload`, see [`crate::offload`]).
    pub offload: Offload,
    /// Whether the VAE decodes in tiles (`--vae-tiling`; by default as `offload` implies).
    pub vae_tiling: TilingChoice,
    /// Whether the guidance passes of a step run as one batch (`--pass-batching`, see
    /// [`crate::batch`]).
    pub pass_batching: PassBatching,
}

impl ModelPlace {
    /// A folder on the CPU in f32 at Wan 2.1's 832×480, 16 fps.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            precision: Precision::F32,
            device: DeviceKind::Cpu,
            native_size: (832, 480),
            fps: 16,
            loras: Vec::new(),
            offload: Offload::None,
            vae_tiling: TilingChoice::Auto,
            pass_batching: PassBatching::Auto,
        }
    }

    /// The same, at another native size.
    pub fn with_native_size(mut self, size: (usize, usize)) -> Self {
        self.native_size = size;
        self
    }

    /// The native geometry.
    pub fn format(&self) -> crate::engine::NativeFormat {
        crate::engine::NativeFormat {
            landscape: self.native_size,
            fps: self.fps,
        }
    }

    /// Opens the device (CUDA needs the crate's `cuda` feature).
    pub fn open_device(&self) -> Result<Device, WanError> {
        self.device.open()
    }

    /// Opens the device and says how the modules are placed on it.
    pub fn placement(&self) -> Result<Placement, WanError> {
        Ok(Placement::new(self.precision.dtype(), &self.open_device()?)
            .with_offload(self.offload)
            .with_vae_tiling(self.vae_tiling.tiling(self.offload)))
    }

    /// `("dtype", …)`, `("device", …)`, with LoRAs `("loras", "file:scale,…")` (file names
    /// only), when offloading `("offload", …)`, when the VAE decodes in tiles
    /// `("vae_tiling", "on")` and when the passes' batching is not `auto`
    /// `("pass_batching", …)`, for `request_info`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("dtype", self.precision.to_string()),
            ("device", self.device.to_string()),
        ];
        if !self.loras.is_empty() {
            let names: Vec<String> = self
                .loras
                .iter()
                .map(|l| {
                    let name = l.path.file_name().unwrap_or_default().to_string_lossy();
                    format!("{name}:{}", l.scale)
                })
                .collect();
            out.push(("loras", names.join(",")));
        }
        if self.offload != Offload::None {
            out.push(("offload", self.offload.to_string()));
        }
        if self.vae_tiling.tiling(self.offload).is_some() {
            out.push(("vae_tiling", "on".to_string()));
        }
        if self.pass_batching != PassBatching::Auto {
            out.push(("pass_batching", self.pass_batching.to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_batching_is_described_unless_auto() {
        let mut place = ModelPlace::new("/models/wan");
        assert!(place.describe().iter().all(|(k, _)| *k != "pass_batching"));
        place.pass_batching = PassBatching::Off;
        assert!(
            place
                .describe()
                .contains(&("pass_batching", "off".to_string()))
        );
    }
}
