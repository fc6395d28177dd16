//! Fused elementwise kernels for the CPU.
//!
//! candle runs its elementwise operations on one thread, one operation per pass over memory.
//! The feed-forward layer's hidden activations are the largest tensors of a block
//! (`tokens × ffn_dim`, 8,960 wide at the 1.3B shapes), and `gelu(x·Wᵀ + b)` took two such passes
//! (bias, then GELU-tanh with a scalar `tanh` per element) on one core. [`bias_gelu`] does both
//! in one pass on every core, with candle's GELU-tanh formula in f32 and a branch-free `tanh`
//! ([`tanh`]: one exponential by range reduction and a polynomial) that the compiler vectorises,
//! where glibc's `tanhf` is a scalar call per element (within 2.5e-7 of it; for bf16/f16 the bias
//! and GELU are computed in f32 and rounded once, as PyTorch does). On other devices it is the two
//! candle operations.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use half::{bf16, f16};
use rayon::prelude::*;

/// `√(2/π)`, as candle's GELU spells it.
const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;

/// GELU with the tanh approximation (`gelu-approximate` / candle's `gelu`).
#[inline(always)]
fn gelu(v: f32) -> f32 {
    0.5 * v * (1.0 + tanh(SQRT_TWO_OVER_PI * v * (1.0 + 0.044715 * v * v)))
}

/// `tanh(y)` without branches or library calls, so that a loop of it vectorises:
/// `(1 − e) / (1 + e)` with `e = exp(−2|y|)` and the sign of `y` put back. The exponential is
/// `2ⁿ · exp(r)` with `n` the nearest integer to `−2|y| / ln 2` (rounded by adding and taking
/// away 1.5·2²³), `r = −2|y| − n ln 2` (ln 2 in two parts, so `r` is exact enough) in
/// `[−ln 2 / 2, ln 2 / 2]`, and `exp(r)` its Taylor series to degree 7 (error below 2e-9 there).
/// `|y|` is capped at 9, where `tanh` is 1 in f32. Absolute error below 2.5e-7 everywhere.
#[inline(always)]
pub(crate) fn tanh(y: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let t = -2.0 * y.abs().min(9.0);
    let n = (t * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = t - n * LN2_HI - n * LN2_LO;
    let taylor = [
        1.0 / 5040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ];
    let p = taylor.iter().fold(0.0f32, |acc, c| acc * r + c);
    let two_n = f32::from_bits((((n as i32) + 127) << 23) as u32);
    let e = p * two_n;
    ((1.0 - e) / (1.0 + e)).copysign(y)
}

/// Rows of `x` (each as wide as `bias`) → `gelu(row + bias)`, the rows split among the threads.
fn bias_gelu_rows<T: Copy + Send + Sync>(
    x: &[T],
    bias: &[T],
    to_f32: impl Fn(T) -> f32 + Sync,
    from_f32: impl Fn(f32) -> T + Sync,
    zero: T,
) -> Vec<T> {
    let width = bias.len();
    let bias: Vec<f32> = bias.iter().map(|&b| to_f32(b)).collect();
    let mut out = vec![zero; x.len()];
    // A few rows per task: enough work per task, enough tasks to balance the threads.
    let rows_per_task = (1 << 16) / width.max(1) + 1;
    out.par_chunks_mut(width * rows_per_task)
        .zip(x.par_chunks(width * rows_per_task))
        .for_each(|(o, x)| {
            for (o, x) in o.chunks_mut(width).zip(x.chunks(width)) {
                for ((o, &x), &b) in o.iter_mut().zip(x).zip(&bias) {
                    *o = from_f32(gelu(to_f32(x) + b));
                }
            }
        });
    out
}

struct BiasGelu;

impl CustomOp2 for BiasGelu {
    fn name(&self) -> &'static str {
        "bias-gelu"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (Some((x0, x1)), Some((b0, b1))) = (xl.contiguous_offsets(), bl.contiguous_offsets())
        else {
            candle_core::bail!("bias-gelu needs contiguous inputs");
        };
        let out = match (xs, bs) {
            (CpuStorage::F32(x), CpuStorage::F32(b)) => {
                CpuStorage::F32(bias_gelu_rows(&x[x0..x1], &b[b0..b1], |v| v, |v| v, 0.0))
            }
            (CpuStorage::BF16(x), CpuStorage::BF16(b)) => CpuStorage::BF16(bias_gelu_rows(
                &x[x0..x1],
                &b[b0..b1],
                bf16::to_f32,
                bf16::from_f32,
                bf16::ZERO,
            )),
            (CpuStorage::F16(x), CpuStorage::F16(b)) => CpuStorage::F16(bias_gelu_rows(
                &x[x0..x1],
                &b[b0..b1],
                f16::to_f32,
                f16::from_f32,
                f16::ZERO,
            )),
            _ => candle_core::bail!("bias-gelu: unsupported dtypes"),
        };
        Ok((out, xl.shape().clone()))
    }
}

/// `gelu(x + bias)` (GELU-tanh) for `x` `[…, F]` and `bias` `[F]` of the same dtype.
pub fn bias_gelu(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let fits = x.device().is_cpu()
        && x.elem_count() > 0
        && matches!(x.dtype(), DType::F32 | DType::BF16 | DType::F16)
        && x.dtype() == bias.dtype()
        && bias.rank() == 1
        && x.dims().last() == Some(&bias.dim(0)?)
        && x.is_contiguous()
        && bias.is_contiguous();
    if fits {
        x.apply_op2_no_bwd(bias, &BiasGelu)
    } else {
        x.broadcast_add(bias)?.gelu()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn bias_gelu_is_candles_bias_then_gelu() -> Result<()> {
        let dev = Device::Cpu;
        let x = (Tensor::randn(0f32, 2.0, (3, 37, 29), &dev)? - 0.5)?;
        let b = Tensor::randn(0f32, 1.0, 29, &dev)?;
        let want = x.broadcast_add(&b)?.gelu()?;
        let got = bias_gelu(&x, &b)?;
        assert_eq!(got.dims(), want.dims());
        let diff = (got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6, "f32: {diff} from candle's bias then gelu");

        // bf16: computed in f32, rounded once.
        let (xh, bh) = (x.to_dtype(DType::BF16)?, b.to_dtype(DType::BF16)?);
        let got = bias_gelu(&xh, &bh)?.to_dtype(DType::F32)?;
        let exact = xh
            .to_dtype(DType::F32)?
            .broadcast_add(&bh.to_dtype(DType::F32)?)?
            .gelu()?;
        let diff = (got - exact)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 0.05, "bf16 {diff}");

        // A strided input takes candle's path and gives candle's values.
        let xt = x.transpose(0, 1)?;
        let bt = Tensor::randn(0f32, 1.0, 29, &dev)?;
        let want = xt.broadcast_add(&bt)?.gelu()?;
        let diff = (bias_gelu(&xt, &bt)? - want)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert_eq!(diff, 0.0);
        Ok(())
    }

    #[test]
    fn tanh_is_within_2_5e_7_of_libm_everywhere() {
        let mut worst = (0.0f32, 0.0f32);
        for i in -2_000_000..=2_000_000 {
            let y = i as f32 * 1e-5;
            let err = (tanh(y) - y.tanh()).abs();
            if err > worst.1 {
                worst = (y, err);
            }
        }
        for y in [
            0.0,
            -0.0,
            1e-30,
            -1e-8,
            8.99,
            9.0,
            50.0,
            -50.0,
            f32::MAX,
            f32::MIN,
        ] {
            let err = (tanh(y) - y.tanh()).abs();
            if err > worst.1 {
                worst = (y, err);
            }
        }
        assert!(worst.1 < 2.5e-7, "tanh({}) off by {}", worst.0, worst.1);
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
    }
}
