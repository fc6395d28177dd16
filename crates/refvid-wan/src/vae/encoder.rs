//! `WanEncoder3d`: pixels → `2·z_dim` channels (the posterior's mean and log-variance), one
//! chunk at a time.
//!
//! `conv_in` (3×3×3), then per level `num_res_blocks` residual blocks and, except at the last
//! level, a downsampler (`downsample3d` where `temperal_downsample` says so, else `downsample2d`),
//! all numbered consecutively as `down_blocks.{i}`; then the mid block, `norm_out`, SiLU and
//! `conv_out` (3×3×3). A chunk of 1 frame stays 1 frame; a chunk of 4 becomes 1.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::attention::MidBlock;
use super::causal_conv::{CausalConv3d, TimeCache};
use super::config::VaeConfig;
use super::norm::{RmsNorm, silu};
use super::resample::{Resample, ResampleMode};
use super::residual::ResidualBlock;

/// One entry of `down_blocks`.
#[derive(Debug, Clone)]
enum DownLayer {
    Residual(ResidualBlock),
    Resample(Resample),
}

/// The encoder.
#[derive(Debug, Clone)]
pub struct Encoder {
    conv_in: CausalConv3d,
    down: Vec<DownLayer>,
    mid: MidBlock,
    norm_out: RmsNorm,
    conv_out: CausalConv3d,
}

impl Encoder {
    /// Loads `encoder.*` (`vb` is already at `encoder`).
    pub fn new(cfg: &VaeConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.base_dim;
        let dims: Vec<usize> = std::iter::once(1)
            .chain(cfg.dim_mult.iter().copied())
            .map(|m| m * dim)
            .collect();
        let levels = cfg.dim_mult.len();
        let mut down = Vec::new();
        let dvb = vb.pp("down_blocks");
        for i in 0..levels {
            let (mut in_dim, out_dim) = (dims[i], dims[i + 1]);
            for _ in 0..cfg.num_res_blocks {
                let block = ResidualBlock::new(in_dim, out_dim, dvb.pp(down.len()))?;
                down.push(DownLayer::Residual(block));
                in_dim = out_dim;
            }
            if i + 1 < levels {
                let mode = if cfg.temperal_downsample[i] {
                    ResampleMode::Down3d
                } else {
                    ResampleMode::Down2d
                };
                let resample = Resample::new(out_dim, mode, out_dim, dvb.pp(down.len()))?;
                down.push(DownLayer::Resample(resample));
            }
        }
        let top = dims[levels];
        Ok(Self {
            conv_in: CausalConv3d::cube(cfg.in_channels, dims[0], 3, 1, vb.pp("conv_in"))?,
            down,
            mid: MidBlock::new(top, vb.pp("mid_block"))?,
            norm_out: RmsNorm::new(top, false, vb.pp("norm_out"))?,
            conv_out: CausalConv3d::cube(top, 2 * cfg.z_dim, 3, 1, vb.pp("conv_out"))?,
        })
    }

    /// One chunk `[B, C, T, H, W]` through the encoder; `cache` carries the history between chunks
    /// (call [`TimeCache::rewind`] before each chunk).
    pub fn forward(&self, x: &Tensor, cache: &mut TimeCache) -> Result<Tensor> {
        let mut x = self.conv_in.forward_cached(x, cache.slot())?;
        for layer in &self.down {
            x = match layer {
                DownLayer::Residual(block) => block.forward(&x, cache)?,
                DownLayer::Resample(resample) => resample.forward(&x, cache)?,
            };
        }
        let x = self.mid.forward(&x, cache)?;
        let x = silu(&self.norm_out.forward(&x)?)?;
        self.conv_out.forward_cached(&x, cache.slot())
    }
}
