//! `WanResidualBlock`: two RMS-norm → SiLU → causal 3×3×3 conv steps plus a shortcut.
//!
//! `y = conv2(silu(norm2(conv1(silu(norm1(x)))))) + shortcut(x)`, the shortcut being a 1×1×1
//! convolution when the channel count changes (`conv_shortcut`) and the identity otherwise.
//! Dropout is the identity at inference. Both 3×3×3 convolutions are cached call sites.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::causal_conv::{CausalConv3d, TimeCache};
use super::norm::{RmsNorm, silu};

/// One residual block (`norm1`, `conv1`, `norm2`, `conv2`, optional `conv_shortcut`).
#[derive(Debug, Clone)]
pub struct ResidualBlock {
    norm1: RmsNorm,
    conv1: CausalConv3d,
    norm2: RmsNorm,
    conv2: CausalConv3d,
    shortcut: Option<CausalConv3d>,
}

impl ResidualBlock {
    /// Loads a block mapping `in_dim` to `out_dim` channels.
    pub fn new(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        let shortcut = if in_dim != out_dim {
            Some(CausalConv3d::cube(
                in_dim,
                out_dim,
                1,
                0,
                vb.pp("conv_shortcut"),
            )?)
        } else {
            None
        };
        Ok(Self {
            norm1: RmsNorm::new(in_dim, false, vb.pp("norm1"))?,
            conv1: CausalConv3d::cube(in_dim, out_dim, 3, 1, vb.pp("conv1"))?,
            norm2: RmsNorm::new(out_dim, false, vb.pp("norm2"))?,
            conv2: CausalConv3d::cube(out_dim, out_dim, 3, 1, vb.pp("conv2"))?,
            shortcut,
        })
    }

    /// One chunk `[B, C, T, H, W]` through the block, using two cache slots.
    pub fn forward(&self, x: &Tensor, cache: &mut TimeCache) -> Result<Tensor> {
        let h = match &self.shortcut {
            Some(conv) => conv.forward(x, None)?,
            None => x.clone(),
        };
        let y = silu(&self.norm1.forward(x)?)?;
        let y = self.conv1.forward_cached(&y, cache.slot())?;
        let y = silu(&self.norm2.forward(&y)?)?;
        let y = self.conv2.forward_cached(&y, cache.slot())?;
        y + h
    }
}
