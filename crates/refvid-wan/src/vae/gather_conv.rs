//! Convolution as one gather and one matrix product per chunk (im2col), in f32.
//!
//! candle's CPU convolution works on small tiles and spends most of its time outside the matrix
//! kernel (about 4× slower than a plain matmul of the same size here). This computes a 3-D (or,
//! with one time tap, 2-D) convolution by gathering, for a chunk of output positions, the `K =
//! kt·kh·kw·C` input values each one sees (`index_select` on the channels-last input, one
//! contiguous row of `C` values per tap) into a `[positions, K]` matrix and multiplying it by the
//! `[K, O]` kernel. Chunks hold at most [`MAX_GATHER_ELEMENTS`] gathered values, so the extra
//! memory is bounded whatever the frame size. Works on any device (`index_select` + `matmul`).

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

/// Bound on the values gathered for one chunk (2^24 f32 = 64 MiB).
pub const MAX_GATHER_ELEMENTS: usize = 1 << 24;

/// A convolution with bias: kernel `(kt, kh, kw)`, stride `(st, sh, sw)`, zero padding of height
/// and width on both sides (time is padded by the caller).
#[derive(Debug, Clone)]
pub struct GatherConv {
    /// `[kt·kh·kw·C, O]`, rows ordered (time tap, row tap, column tap, channel).
    weight: Tensor,
    bias: Tensor,
    kernel: (usize, usize, usize),
    stride: (usize, usize, usize),
    padding: (usize, usize),
}

impl GatherConv {
    /// Loads a `Conv3d` (`weight` `[O, C, kt, kh, kw]`, `bias` `[O]`).
    pub fn new_3d(
        in_ch: usize,
        out_ch: usize,
        kernel: (usize, usize, usize),
        stride: (usize, usize, usize),
        padding: (usize, usize),
        vb: VarBuilder,
    ) -> Result<Self> {
        let (kt, kh, kw) = kernel;
        let w = vb.get((out_ch, in_ch, kt, kh, kw), "weight")?;
        Self::from_weight(w, vb.get(out_ch, "bias")?, stride, padding)
    }

    /// Loads a square `Conv2d` (`weight` `[O, C, k, k]`, `bias` `[O]`), run on every frame.
    pub fn new_2d(
        in_ch: usize,
        out_ch: usize,
        k: usize,
        stride: usize,
        padding: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let w = vb.get((out_ch, in_ch, k, k), "weight")?.unsqueeze(2)?;
        Self::from_weight(
            w,
            vb.get(out_ch, "bias")?,
            (1, stride, stride),
            (padding, padding),
        )
    }

    fn from_weight(
        w: Tensor,
        bias: Tensor,
        stride: (usize, usize, usize),
        padding: (usize, usize),
    ) -> Result<Self> {
        let (o, c, kt, kh, kw) = w.dims5()?;
        let weight = w
            .to_dtype(DType::F32)?
            .permute((2, 3, 4, 1, 0))?
            .reshape((kt * kh * kw * c, o))?;
        Ok(Self {
            weight,
            bias: bias.to_dtype(DType::F32)?,
            kernel: (kt, kh, kw),
            stride,
            padding,
        })
    }

    /// `[B, C, T, H, W]` → `[B, O, T', H', W']`, computed in f32, returned in `x`'s dtype.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let (b, c, t, h, w) = x.dims5()?;
        let (kt, kh, kw) = self.kernel;
        let (st, sh, sw) = self.stride;
        let (ph, pw) = self.padding;
        let (hp, wp) = (h + 2 * ph, w + 2 * pw);
        if t < kt || hp < kh || wp < kw {
            candle_core::bail!(
                "conv: input {:?} (padded {hp}x{wp}) is smaller than the kernel {:?}",
                x.dims(),
                self.kernel
            );
        }
        let out_dims = OutDims {
            b,
            t: (t - kt) / st + 1,
            h: (hp - kh) / sh + 1,
            w: (wp - kw) / sw + 1,
        };
        let rows = b * t * hp * wp;
        if u32::try_from(rows).is_err() {
            candle_core::bail!("conv: input of {rows} positions is too large to index");
        }
        // Channels last, padded: one row of C values per input position.
        let mut table = x.to_dtype(DType::F32)?.permute((0, 2, 3, 4, 1))?;
        if ph > 0 {
            table = table.pad_with_zeros(2, ph, ph)?;
        }
        if pw > 0 {
            table = table.pad_with_zeros(3, pw, pw)?;
        }
        let table = table.contiguous()?.reshape((rows, c))?;

        let taps = kt * kh * kw;
        let k = taps * c;
        let o = self.weight.dim(1)?;
        let positions = out_dims.b * out_dims.t * out_dims.h * out_dims.w;
        let chunk = (MAX_GATHER_ELEMENTS / k).max(1).min(positions);
        let out = Tensor::zeros((positions, o), DType::F32, x.device())?;
        let mut ids = Vec::with_capacity(chunk * taps);
        for start in (0..positions).step_by(chunk) {
            let n = chunk.min(positions - start);
            ids.clear();
            for p in start..start + n {
                self.push_taps(&mut ids, out_dims.split(p), (t, hp, wp));
            }
            let ids = Tensor::from_slice(&ids, ids.len(), x.device())?;
            let cols = table.index_select(&ids, 0)?.reshape((n, k))?;
            out.slice_set(&cols.matmul(&self.weight)?, 0, start)?;
        }
        out.broadcast_add(&self.bias)?
            .reshape((out_dims.b, out_dims.t, out_dims.h, out_dims.w, o))?
            .permute((0, 4, 1, 2, 3))?
            .to_dtype(dtype)
    }

    /// Appends the table rows that output position `(b, j, y, x)` sees, in weight-row order.
    fn push_taps(
        &self,
        ids: &mut Vec<u32>,
        (b, j, y, x): (usize, usize, usize, usize),
        (t, hp, wp): (usize, usize, usize),
    ) {
        let (kt, kh, kw) = self.kernel;
        let (st, sh, sw) = self.stride;
        for tau in 0..kt {
            let frame = b * t + j * st + tau;
            for dy in 0..kh {
                let row = (frame * hp + y * sh + dy) * wp + x * sw;
                // The size check in `forward` keeps every row index within u32.
                ids.extend((0..kw).map(|dx| (row + dx) as u32));
            }
        }
    }
}

/// Output extents.
#[derive(Debug, Clone, Copy)]
struct OutDims {
    b: usize,
    t: usize,
    h: usize,
    w: usize,
}

impl OutDims {
    /// Flat output position → `(b, t, y, x)`.
    fn split(&self, p: usize) -> (usize, usize, usize, usize) {
        let x = p % self.w;
        let y = (p / self.w) % self.h;
        let j = (p / (self.w * self.h)) % self.t;
        (p / (self.w * self.h * self.t), j, y, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use std::collections::HashMap;

    fn vb(w: Tensor, b: Tensor) -> VarBuilder<'static> {
        VarBuilder::from_tensors(
            HashMap::from([("weight".to_string(), w), ("bias".to_string(), b)]),
            DType::F32,
            &Device::Cpu,
        )
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    /// Same result as candle's conv2d summed over the time taps, with strides and padding.
    #[test]
    fn matches_tapwise_conv2d() {
        let dev = Device::Cpu;
        let (o, c, kt, k) = (5, 3, 2, 3);
        let w = Tensor::randn(0f32, 1., (o, c, kt, k, k), &dev).unwrap();
        let bias = Tensor::randn(0f32, 1., o, &dev).unwrap();
        let x = Tensor::randn(0f32, 1., (2, c, 5, 7, 6), &dev).unwrap();
        for (stride, pad) in [((1, 1, 1), 1), ((2, 2, 2), 0), ((1, 2, 2), 1)] {
            let conv = GatherConv::new_3d(
                c,
                o,
                (kt, k, k),
                stride,
                (pad, pad),
                vb(w.clone(), bias.clone()),
            )
            .unwrap();
            let y = conv.forward(&x).unwrap();
            let (st, s) = (stride.0, stride.1);
            let t_out = (5 - kt) / st + 1;
            let frames: Vec<Tensor> = (0..t_out)
                .map(|j| {
                    let mut acc = None::<Tensor>;
                    for tau in 0..kt {
                        let f = x.narrow(2, j * st + tau, 1).unwrap().squeeze(2).unwrap();
                        let kk = w.narrow(2, tau, 1).unwrap().squeeze(2).unwrap();
                        let r = f.conv2d(&kk, pad, s, 1, 1).unwrap();
                        acc = Some(match acc {
                            None => r,
                            Some(a) => (a + r).unwrap(),
                        });
                    }
                    acc.unwrap()
                        .broadcast_add(&bias.reshape((1, o, 1, 1)).unwrap())
                        .unwrap()
                })
                .collect();
            let want = Tensor::stack(&frames, 2).unwrap();
            assert_eq!(y.dims(), want.dims());
            assert!(max_diff(&y, &want) < 1e-4, "{stride:?}");
        }
    }
}
