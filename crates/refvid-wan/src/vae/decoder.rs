//! `WanDecoder3d`: latents (after `post_quant_conv`) → pixels, one latent frame at a time.
//!
//! `conv_in` (3×3×3), the mid block, then per level (`up_blocks.{i}`) `num_res_blocks + 1`
//! residual blocks and, except at the last level, an upsampler (`upsamplers.0`: `upsample3d`
//! where the reversed `temperal_downsample` says so, else `upsample2d`) that halves the channels;
//! then `norm_out`, SiLU and `conv_out` (3×3×3). The channels are the encoder's reversed:
//! level `i` maps `dims[i]` (halved after the first level, by the previous upsampler) to
//! `dims[i + 1]`, with `dims = decoder_dim · [m_last, m_last, …, m_0]`.
//!
//! The first latent frame decodes to 1 frame (the time upsamplers pass their first chunk
//! through); every later one to `4` frames.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::attention::MidBlock;
use super::causal_conv::{CausalConv3d, TimeCache};
use super::config::VaeConfig;
use super::norm::{RmsNorm, silu};
use super::resample::{Resample, ResampleMode};
use super::residual::ResidualBlock;

/// One `up_blocks.{i}` (`WanUpBlock`).
#[derive(Debug, Clone)]
struct UpBlock {
    resnets: Vec<ResidualBlock>,
    upsampler: Option<Resample>,
}

impl UpBlock {
    fn forward(&self, x: &Tensor, cache: &mut TimeCache) -> Result<Tensor> {
        let mut x = x.clone();
        for block in &self.resnets {
            x = block.forward(&x, cache)?;
        }
        match &self.upsampler {
            Some(up) => up.forward(&x, cache),
            None => Ok(x),
        }
    }
}

/// The decoder.
#[derive(Debug, Clone)]
pub struct Decoder {
    conv_in: CausalConv3d,
    mid: MidBlock,
    up: Vec<UpBlock>,
    norm_out: RmsNorm,
    conv_out: CausalConv3d,
}

impl Decoder {
    /// Loads `decoder.*` (`vb` is already at `decoder`).
    pub fn new(cfg: &VaeConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.decoder_dim();
        let levels = cfg.dim_mult.len();
        let last = cfg.dim_mult[levels - 1];
        let dims: Vec<usize> = std::iter::once(last)
            .chain(cfg.dim_mult.iter().rev().copied())
            .map(|m| m * dim)
            .collect();
        let temperal_upsample = cfg.temperal_upsample();
        let mut up = Vec::with_capacity(levels);
        for i in 0..levels {
            let bvb = vb.pp("up_blocks").pp(i);
            let in_dim = if i > 0 { dims[i] / 2 } else { dims[i] };
            let out_dim = dims[i + 1];
            let resnets = (0..=cfg.num_res_blocks)
                .map(|j| {
                    let d = if j == 0 { in_dim } else { out_dim };
                    ResidualBlock::new(d, out_dim, bvb.pp("resnets").pp(j))
                })
                .collect::<Result<Vec<_>>>()?;
            let upsampler = if i + 1 < levels {
                let mode = if temperal_upsample[i] {
                    ResampleMode::Up3d
                } else {
                    ResampleMode::Up2d
                };
                let uvb = bvb.pp("upsamplers").pp(0);
                Some(Resample::new(out_dim, mode, out_dim / 2, uvb)?)
            } else {
                None
            };
            up.push(UpBlock { resnets, upsampler });
        }
        let out_dim = dims[levels];
        Ok(Self {
            conv_in: CausalConv3d::cube(cfg.z_dim, dims[0], 3, 1, vb.pp("conv_in"))?,
            mid: MidBlock::new(dims[0], vb.pp("mid_block"))?,
            up,
            norm_out: RmsNorm::new(out_dim, false, vb.pp("norm_out"))?,
            conv_out: CausalConv3d::cube(out_dim, cfg.out_channels, 3, 1, vb.pp("conv_out"))?,
        })
    }

    /// Frames decoded from each latent frame after the first: 2 per time upsampler.
    pub fn frames_per_latent(&self) -> usize {
        let doublings = self
            .up
            .iter()
            .filter_map(|b| b.upsampler.as_ref())
            .filter(|u| u.mode() == ResampleMode::Up3d)
            .count();
        1 << doublings
    }

    /// One latent frame `[B, z, 1, h, w]` through the decoder; `cache` carries the history between
    /// frames (call [`TimeCache::rewind`] before each).
    pub fn forward(&self, x: &Tensor, cache: &mut TimeCache) -> Result<Tensor> {
        let x = self.conv_in.forward_cached(x, cache.slot())?;
        let mut x = self.mid.forward(&x, cache)?;
        for block in &self.up {
            x = block.forward(&x, cache)?;
        }
        let x = silu(&self.norm_out.forward(&x)?)?;
        self.conv_out.forward_cached(&x, cache.slot())
    }
}
