//! A 2-D convolution whose weights and arithmetic stay in f32 whatever the model dtype (candle's
//! CPU convolution and matmul have no bf16), returning the input's dtype: the 1×1 projections of
//! the mid-block attention (candle runs 1×1 convolutions as one matmul).

use candle_core::{DType, Result, Tensor};
use candle_nn::{Conv2dConfig, Module, VarBuilder};

/// `nn.Conv2d(in, out, k, stride, padding)` with bias, computed in f32.
#[derive(Debug, Clone)]
pub struct Conv2dF32 {
    inner: candle_nn::Conv2d,
}

impl Conv2dF32 {
    /// Loads `weight` `[out, in, k, k]` and `bias` `[out]` as f32.
    pub fn new(
        in_ch: usize,
        out_ch: usize,
        k: usize,
        cfg: Conv2dConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        let inner = candle_nn::conv2d(in_ch, out_ch, k, cfg, vb.to_dtype(DType::F32))?;
        Ok(Self { inner })
    }

    /// `[N, C, H, W]` → `[N, O, H', W']` in `x`'s dtype.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.inner
            .forward(&x.to_dtype(DType::F32)?)?
            .to_dtype(x.dtype())
    }
}
