//! Wan's 3-axis rotary position embedding.
//!
//! Mirrors `WanRotaryPosEmbed` in diffusers' `transformer_wan.py`: the head dimension `D` is split
//! into a time part of `D − 2·(2·⌊D/6⌋)` dims and height and width parts of `2·⌊D/6⌋` dims each.
//! Each part rotates interleaved pairs `(x[2i], x[2i+1])` by `pos · θ^(−2i/d)` with `θ = 10000`,
//! where `pos` is the token's frame, row or column index in the patch grid. Angles are computed in
//! f64 as upstream does, then rounded to the compute dtype.

use candle_core::{DType, Device, Result, Tensor};

/// The per-axis split of the head dimension: `(time, height, width)`, each even.
pub fn axis_dims(head_dim: usize) -> (usize, usize, usize) {
    let hw = 2 * (head_dim / 6);
    (head_dim - 2 * hw, hw, hw)
}

/// The cos and sin tables, each `[F·H·W, D/2]`, for a grid of `f × h × w` patches (tokens in
/// frame-major, then row, then column order).
pub fn rope_tables(
    head_dim: usize,
    theta: f64,
    grid: (usize, usize, usize),
    dtype: DType,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let (dt, dh, dw) = axis_dims(head_dim);
    let inv = |d: usize| -> Vec<f64> {
        (0..d / 2)
            .map(|i| 1.0 / theta.powf((2 * i) as f64 / d as f64))
            .collect()
    };
    let (ft, fh, fw) = (inv(dt), inv(dh), inv(dw));
    let (f, h, w) = grid;
    let n = f * h * w;
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(n * half);
    let mut sin = Vec::with_capacity(n * half);
    for ti in 0..f {
        for hi in 0..h {
            for wi in 0..w {
                let angles = ft
                    .iter()
                    .map(|fr| ti as f64 * fr)
                    .chain(fh.iter().map(|fr| hi as f64 * fr))
                    .chain(fw.iter().map(|fr| wi as f64 * fr));
                for a in angles {
                    cos.push(a.cos() as f32);
                    sin.push(a.sin() as f32);
                }
            }
        }
    }
    let cos = Tensor::from_vec(cos, (n, half), device)?.to_dtype(dtype)?;
    let sin = Tensor::from_vec(sin, (n, half), device)?.to_dtype(dtype)?;
    Ok((cos, sin))
}

/// Rotates `x` (`[B, H, N, D]`) by the tables of [`rope_tables`] (interleaved pairs). The
/// rotation runs in the tables' dtype (f32 for Wan, as upstream rotates in f64) and the result is
/// returned in `x`'s dtype.
pub fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let xr = x.to_dtype(cos.dtype())?.contiguous()?;
    candle_nn::rotary_emb::rope_i(&xr, cos, sin)?.to_dtype(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_of_128_is_44_42_42() {
        assert_eq!(axis_dims(128), (44, 42, 42));
    }

    #[test]
    fn rope_rotates_pairs() -> Result<()> {
        let dev = Device::Cpu;
        let (cos, sin) = rope_tables(12, 10000.0, (2, 1, 1), DType::F32, &dev)?;
        let x = Tensor::ones((1, 1, 2, 12), DType::F32, &dev)?;
        let y = apply_rope(&x, &cos, &sin)?;
        // Token 1 is frame 1: the first pair rotates by 1 radian.
        let v: Vec<f32> = y.get(0)?.get(0)?.get(1)?.to_vec1()?;
        assert!((v[0] - (1f32.cos() - 1f32.sin())).abs() < 1e-6);
        assert!((v[1] - (1f32.sin() + 1f32.cos())).abs() < 1e-6);
        Ok(())
    }
}
