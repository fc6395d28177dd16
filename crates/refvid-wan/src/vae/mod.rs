//! The Wan 2.1 video VAE: diffusers' `AutoencoderKLWan` (`autoencoder_kl_wan.py`).
//!
//! Pixels `[B, 3, T, H, W]` in −1..1 ↔ latents `[B, 16, 1 + (T−1)/4, H/8, W/8]`. Everything is
//! causal in time, and both directions run in chunks with a per-convolution [`TimeCache`]:
//! - [`WanVae::encode`]: the first frame alone, then 4 frames at a time (trailing frames that do
//!   not fill a chunk are dropped, as in diffusers), `quant_conv`, and the posterior's mean (the
//!   first `z_dim` of the `2·z_dim` channels), *not* normalised with `latents_mean/std`;
//! - [`WanVae::decode`]: `post_quant_conv`, then one latent frame at a time (the first gives one
//!   frame, every later one four), clamped to −1..1. Memory is bounded by one chunk's
//!   activations plus the output.
//!
//! With [`WanVae::with_tiling`] frames larger than a tile are processed as blended spatial tiles
//! ([`tiling`]), which bounds the activations by the tile size.
//!
//! Files: [`config`] (`config.json`), [`causal_conv`] (the causal conv and its cache), [`norm`],
//! [`residual`], [`attention`] (mid block), [`gather_conv`] (convolution as gather + matmul),
//! [`conv2d`] (1×1 f32 convs), [`resample`] (spatial/temporal down- and upsampling),
//! [`encoder`], [`decoder`], [`tiling`]. Weight names are those of the diffusers checkpoint
//! (`encoder.down_blocks.3.conv1.weight`, `decoder.up_blocks.1.upsamplers.0.time_conv.bias`, …).
//!
//! ```no_run
//! # fn main() -> refvid_wan::Result<()> {
//! use candle_core::{DType, Device};
//! use refvid_wan::vae::{VaeTiling, WanVae};
//! let vae = WanVae::load("Wan2.1-VACE-1.3B-diffusers".as_ref(), DType::F32, &Device::Cpu)?
//!     .with_tiling(Some(VaeTiling::default()));
//! let video = candle_core::Tensor::zeros((1, 3, 5, 480, 832), DType::F32, &Device::Cpu)?;
//! let latents = vae.encode(&video)?; // [1, 16, 2, 60, 104]
//! let frames = vae.decode(&latents)?; // [1, 3, 5, 480, 832]
//! # Ok(()) }
//! ```

pub mod attention;
pub mod causal_conv;
pub mod config;
pub mod conv2d;
pub mod decoder;
pub mod encoder;
pub mod gather_conv;
pub mod norm;
pub mod resample;
pub mod residual;
pub mod tiling;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

pub use causal_conv::{CACHE_T, TimeCache};
pub use config::VaeConfig;
pub use tiling::VaeTiling;

use crate::error::{Result, WanError};
use causal_conv::CausalConv3d;
use decoder::Decoder;
use encoder::Encoder;

/// Frames per encoder chunk after the first (diffusers' hard-coded 4).
const ENCODE_CHUNK: usize = 4;

/// `AutoencoderKLWan` with its weights.
#[derive(Debug, Clone)]
pub struct WanVae {
    config: VaeConfig,
    encoder: Encoder,
    decoder: Decoder,
    quant_conv: CausalConv3d,
    post_quant_conv: CausalConv3d,
    tiling: Option<VaeTiling>,
    dtype: DType,
}

impl WanVae {
    /// Loads the VAE of `dir`: the VAE folder (config.json + diffusion_pytorch_model*.safetensors,
    /// sharded or not), a pipeline folder with `vae/`, an original Wan folder (`Wan2.1_VAE.pth`)
    /// or one weight file in either key layout (see [`crate::loading`]). The config is checked
    /// first (errors name the key), then every tensor (errors name the tensor).
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let (config, ckpt) = crate::loading::open_vae(dir)?;
        Self::new(config, crate::loading::from_checkpoint(ckpt, dtype, device))
    }

    /// Builds the VAE from a checked config and a weight source at the model's root.
    pub fn new(config: VaeConfig, vb: VarBuilder) -> Result<Self> {
        let z = config.z_dim;
        Ok(Self {
            encoder: Encoder::new(&config, vb.pp("encoder"))?,
            decoder: Decoder::new(&config, vb.pp("decoder"))?,
            quant_conv: CausalConv3d::cube(2 * z, 2 * z, 1, 0, vb.pp("quant_conv"))?,
            post_quant_conv: CausalConv3d::cube(z, z, 1, 0, vb.pp("post_quant_conv"))?,
            dtype: vb.dtype(),
            config,
            tiling: None,
        })
    }

    /// The configuration (`z_dim`, `latents_mean`, `latents_std`, scale factors, …).
    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    /// The dtype the VAE computes in (its convolutions always run in f32).
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Enables (`Some`) or disables (`None`) spatial tiling for [`encode`](Self::encode) and
    /// [`decode`](Self::decode); it applies when a frame is larger than one tile.
    pub fn with_tiling(mut self, tiling: Option<VaeTiling>) -> Self {
        self.tiling = tiling;
        self
    }

    /// The tiling in use, if any.
    pub fn tiling(&self) -> Option<&VaeTiling> {
        self.tiling.as_ref()
    }

    /// `[B, 3, T, H, W]` pixels in −1..1 → the posterior mean `[B, z, 1 + (T−1)/4, H/8, W/8]`,
    /// un-normalised, in the VAE's dtype.
    pub fn encode(&self, video: &Tensor) -> Result<Tensor> {
        let (_, c, t, h, w) = dims5(video, "video")?;
        if c != self.config.in_channels || t == 0 {
            return Err(WanError::Input(format!(
                "video: expected [B, {}, T ≥ 1, H, W], got {:?}",
                self.config.in_channels,
                video.dims()
            )));
        }
        let x = video.to_dtype(self.dtype)?;
        let s = self.config.scale_factor_spatial;
        let moments = match self.tiling {
            Some(tiling) if tiling.tiles_encode(h, w) => {
                tiling.validate(s)?;
                let (rows, cols) = tiling.encode_axes(h, w, s);
                tiling::run_tiled(&x, rows, cols, |tile| self.encode_moments(tile))?
            }
            _ => self.encode_moments(&x)?,
        };
        Ok(moments.narrow(1, 0, self.config.z_dim)?)
    }

    /// The encoder's `2·z` output channels (mean, log-variance) after `quant_conv`.
    fn encode_moments(&self, x: &Tensor) -> Result<Tensor> {
        let frames = x.dim(2)?;
        let chunks = 1 + (frames - 1) / ENCODE_CHUNK;
        let mut cache = TimeCache::new();
        let mut out = Vec::with_capacity(chunks);
        for i in 0..chunks {
            let (start, len) = match i {
                0 => (0, 1),
                _ => (1 + ENCODE_CHUNK * (i - 1), ENCODE_CHUNK),
            };
            cache.rewind();
            out.push(
                self.encoder
                    .forward(&x.narrow(2, start, len)?, &mut cache)?,
            );
        }
        Ok(self.quant_conv.forward(&Tensor::cat(&out, 2)?, None)?)
    }

    /// `[B, z, t, h, w]` un-normalised latents → `[B, 3, 1 + (t−1)·4, 8h, 8w]` clamped to −1..1,
    /// in the VAE's dtype.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let (_, c, t, h, w) = dims5(z, "latents")?;
        if c != self.config.z_dim || t == 0 {
            return Err(WanError::Input(format!(
                "latents: expected [B, {}, t ≥ 1, h, w], got {:?}",
                self.config.z_dim,
                z.dims()
            )));
        }
        let z = z.to_dtype(self.dtype)?;
        let s = self.config.scale_factor_spatial;
        let out = match self.tiling {
            Some(tiling) if tiling.tiles_decode(h, w, s) => {
                tiling.validate(s)?;
                let (rows, cols) = tiling.decode_axes(h, w, s);
                tiling::run_tiled(&z, rows, cols, |tile| self.decode_unclamped(tile))?
            }
            _ => self.decode_unclamped(&z)?,
        };
        Ok(out.clamp(-1f32, 1f32)?)
    }

    /// `post_quant_conv`, then the decoder one latent frame at a time; the frames are written
    /// into one preallocated output.
    fn decode_unclamped(&self, z: &Tensor) -> Result<Tensor> {
        let x = self.post_quant_conv.forward(z, None)?;
        let latent_frames = x.dim(2)?;
        let mut cache = TimeCache::new();
        let mut out: Option<Tensor> = None;
        let mut written = 0;
        for i in 0..latent_frames {
            cache.rewind();
            let y = self
                .decoder
                .forward(&x.narrow(2, i, 1)?, &mut cache)?
                .contiguous()?;
            let out = match &out {
                Some(o) => o,
                None => {
                    let (b, c, _, h, w) = y.dims5()?;
                    let total = 1 + (latent_frames - 1) * self.decoder.frames_per_latent();
                    out.insert(Tensor::zeros((b, c, total, h, w), y.dtype(), y.device())?)
                }
            };
            out.slice_set(&y, 2, written)?;
            written += y.dim(2)?;
        }
        let out = out.expect("at least one latent frame");
        if written != out.dim(2)? {
            return Err(WanError::Input(format!(
                "decoder produced {written} frames, expected {}",
                out.dim(2)?
            )));
        }
        Ok(out)
    }
}

/// The five dimensions of a video-shaped input, or an error naming it.
fn dims5(t: &Tensor, what: &str) -> Result<(usize, usize, usize, usize, usize)> {
    t.dims5().map_err(|_| {
        WanError::Input(format!(
            "{what}: expected a 5-d tensor [B, C, T, H, W], got {:?}",
            t.dims()
        ))
    })
}

impl crate::pipeline::VaeCodec for WanVae {
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
        WanVae::encode(self, video)
    }

    fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        WanVae::decode(self, latents)
    }
}
