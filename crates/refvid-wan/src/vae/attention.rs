//! The mid block of the encoder and decoder: residual block, per-frame self-attention, residual
//! block (`WanMidBlock` with `WanAttentionBlock`).
//!
//! The attention is single-headed over the `H·W` positions of each frame separately (frames are
//! folded into the batch): RMS norm, a 1×1 convolution to q, k, v, softmax attention with scale
//! `1/√C`, a 1×1 output projection, plus the input; computed in f32. It runs through the crate's query-chunked
//! [`chunked_attention`], so a large frame never materialises its whole score matrix.

use candle_core::{DType, Result, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder};

use super::causal_conv::TimeCache;
use super::conv2d::Conv2dF32;
use super::norm::RmsNorm;
use super::residual::ResidualBlock;
use crate::attention::{DEFAULT_MAX_SCORE_ELEMENTS, chunked_attention};

/// `WanAttentionBlock`: `norm`, `to_qkv`, `proj`.
#[derive(Debug, Clone)]
pub struct AttentionBlock {
    norm: RmsNorm,
    to_qkv: Conv2dF32,
    proj: Conv2dF32,
    dim: usize,
}

impl AttentionBlock {
    /// Loads the block for `dim` channels.
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        let cfg = Conv2dConfig::default();
        Ok(Self {
            norm: RmsNorm::new(dim, true, vb.pp("norm").to_dtype(DType::F32))?,
            to_qkv: Conv2dF32::new(dim, 3 * dim, 1, cfg, vb.pp("to_qkv"))?,
            proj: Conv2dF32::new(dim, dim, 1, cfg, vb.pp("proj"))?,
            dim,
        })
    }

    /// `[B, C, T, H, W]` → same shape.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, t, h, w) = x.dims5()?;
        let n = b * t;
        // In f32 throughout (candle's CPU matmul has no bf16); back to x's dtype at the end.
        let frames = x
            .permute((0, 2, 1, 3, 4))?
            .reshape((n, c, h, w))?
            .to_dtype(DType::F32)?;
        let qkv = self.to_qkv.forward(&self.norm.forward(&frames)?)?;
        // [N, 3C, H, W] → [N, 1, HW, 3C]: one head whose features are q | k | v.
        let qkv = qkv
            .reshape((n, 3 * c, h * w))?
            .transpose(1, 2)?
            .unsqueeze(1)?;
        let part = |i: usize| qkv.narrow(3, i * c, c)?.contiguous();
        let scale = 1.0 / (self.dim as f64).sqrt();
        let y = chunked_attention(
            &part(0)?,
            &part(1)?,
            &part(2)?,
            scale,
            DEFAULT_MAX_SCORE_ELEMENTS,
        )?;
        let y = y.squeeze(1)?.transpose(1, 2)?.reshape((n, c, h, w))?;
        let y = self.proj.forward(&y)?;
        y.reshape((b, t, c, h, w))?
            .permute((0, 2, 1, 3, 4))?
            .to_dtype(x.dtype())?
            + x
    }
}

/// `WanMidBlock` with one attention layer: `resnets.0`, `attentions.0`, `resnets.1`.
#[derive(Debug, Clone)]
pub struct MidBlock {
    first: ResidualBlock,
    attention: AttentionBlock,
    second: ResidualBlock,
}

impl MidBlock {
    /// Loads the block for `dim` channels.
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            first: ResidualBlock::new(dim, dim, vb.pp("resnets.0"))?,
            attention: AttentionBlock::new(dim, vb.pp("attentions.0"))?,
            second: ResidualBlock::new(dim, dim, vb.pp("resnets.1"))?,
        })
    }

    /// One chunk through the block (four cache slots; the attention needs none).
    pub fn forward(&self, x: &Tensor, cache: &mut TimeCache) -> Result<Tensor> {
        let x = self.first.forward(x, cache)?;
        let x = self.attention.forward(&x)?;
        self.second.forward(&x, cache)
    }
}
