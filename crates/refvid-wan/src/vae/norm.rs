//! `WanRMS_norm`: L2 normalisation over the channel axis, scaled by `√C · γ`.
//!
//! diffusers computes `F.normalize(x, dim=1) · √C · γ` (no bias in the Wan 2.1 VAE), i.e.
//! `x / max(‖x‖₂, 1e-12)` per position, in f32 for half-precision inputs. Works on any rank with
//! channels at axis 1 (`[B, C, T, H, W]` in the blocks, `[N, C, H, W]` in the attention).

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

/// `F.normalize`'s lower bound on the norm.
const NORM_EPS: f64 = 1e-12;

/// RMS norm over channels with a learned per-channel scale `gamma`.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    /// `√C · γ`, shaped `[C, 1, …]` to broadcast over the trailing axes, in the model dtype.
    scale: Tensor,
}

impl RmsNorm {
    /// Loads `gamma`, stored as `[C, 1, 1, 1]` for video (`images == false`) or `[C, 1, 1]` for
    /// frames (`images == true`), as in diffusers.
    pub fn new(dim: usize, images: bool, vb: VarBuilder) -> Result<Self> {
        let gamma = if images {
            vb.get((dim, 1, 1), "gamma")?
        } else {
            vb.get((dim, 1, 1, 1), "gamma")?
        };
        Ok(Self {
            scale: (gamma * (dim as f64).sqrt())?,
        })
    }

    /// Normalises `x` (`[B, C, …]`) over axis 1.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let xf = x.to_dtype(DType::F32)?;
        let norm = xf.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(NORM_EPS)?;
        // `[C, 1, …]` broadcasts against `[B, C, …]` from the right.
        xf.broadcast_div(&norm)?
            .to_dtype(dtype)?
            .broadcast_mul(&self.scale)
    }
}

/// SiLU, `x · σ(x)`.
pub fn silu(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::silu(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn normalises_each_position_over_channels() {
        let dev = Device::Cpu;
        let gamma = Tensor::from_vec(vec![1f32, 2.0], (2, 1, 1, 1), &dev).unwrap();
        let vb = VarBuilder::from_tensors(
            std::collections::HashMap::from([("gamma".to_string(), gamma)]),
            DType::F32,
            &dev,
        );
        let norm = RmsNorm::new(2, false, vb).unwrap();
        // One position (3, 4): norm 5; and an all-zero position, which stays zero.
        let x = Tensor::from_vec(vec![3f32, 0.0, 4.0, 0.0], (1, 2, 1, 1, 2), &dev).unwrap();
        let y: Vec<f32> = norm
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let r2 = 2f32.sqrt();
        let want = [0.6 * r2, 0.0, 0.8 * r2 * 2.0, 0.0];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
    }
}
