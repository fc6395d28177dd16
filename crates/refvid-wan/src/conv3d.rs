//! A 3-D convolution built from 2-D ones (candle has no conv3d).
//!
//! Mirrors `torch.nn.Conv3d` without padding or dilation, as used by the transformer's patch
//! embeddings (`patch_embedding`, `vace_patch_embedding`: `kernel = stride = patch_size`). The
//! VAE's causal convolutions have their own implementation (`crate::vae::gather_conv`).
//! The kernel is split into its `kt` time taps; tap `τ` is a 2-D convolution over the frames
//! `τ, τ + st, τ + 2·st, …` folded into the batch, and the output is the sum of the taps plus the
//! bias. The kernel is kept in f32.

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

/// `Conv3d(in, out, kernel, stride)` with bias, no padding.
#[derive(Debug, Clone)]
pub struct Conv3d {
    /// One `[out, in, kh, kw]` kernel per time tap.
    taps: Vec<Tensor>,
    bias: Tensor,
    stride: (usize, usize, usize),
}

impl Conv3d {
    /// Loads `weight` `[out, in, kt, kh, kw]` and `bias` `[out]`.
    pub fn new(
        in_ch: usize,
        out_ch: usize,
        kernel: (usize, usize, usize),
        stride: (usize, usize, usize),
        vb: VarBuilder,
    ) -> Result<Self> {
        if stride.1 != stride.2 {
            candle_core::bail!("conv3d: height and width strides must be equal, got {stride:?}");
        }
        let (kt, kh, kw) = kernel;
        let w = vb.get((out_ch, in_ch, kt, kh, kw), "weight")?;
        let taps = (0..kt)
            .map(|t| {
                w.narrow(2, t, 1)?
                    .squeeze(2)?
                    .to_dtype(DType::F32)?
                    .contiguous()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            taps,
            bias: vb.get(out_ch, "bias")?.to_dtype(DType::F32)?,
            stride,
        })
    }

    /// `[B, C, F, H, W]` → `[B, O, F', H', W']`, computed in f32 (candle's CPU conv has no bf16)
    /// and returned in `x`'s dtype.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let x = &x.to_dtype(DType::F32)?;
        let (b, c, f, h, w) = x.dims5()?;
        let kt = self.taps.len();
        let st = self.stride.0;
        if f < kt {
            candle_core::bail!("conv3d: {f} frames is fewer than the {kt}-tap kernel");
        }
        let f_out = (f - kt) / st + 1;
        // Frames first, once: a tap's frames are then a slice (stride 1) or a gather of it.
        let frames_first = x.permute((0, 2, 1, 3, 4))?.contiguous()?;
        let mut acc: Option<Tensor> = None;
        for (tau, kernel) in self.taps.iter().enumerate() {
            let frames = if st == 1 {
                frames_first.narrow(1, tau, f_out)?
            } else {
                let idx: Vec<u32> = (0..f_out).map(|j| (tau + j * st) as u32).collect();
                let idx = Tensor::from_vec(idx, f_out, x.device())?;
                frames_first.index_select(&idx, 1)?
            };
            let frames = frames.reshape((b * f_out, c, h, w))?;
            let y = frames.conv2d(kernel, 0, self.stride.1, 1, 1)?;
            acc = Some(match acc {
                None => y,
                Some(a) => (a + y)?,
            });
        }
        let y = acc.expect("kernel has at least one tap");
        let (_, o, ho, wo) = y.dims4()?;
        let y = y.broadcast_add(&self.bias.reshape((1, o, 1, 1))?)?;
        y.reshape((b, f_out, o, ho, wo))?
            .permute((0, 2, 1, 3, 4))?
            .to_dtype(dtype)
    }
}
