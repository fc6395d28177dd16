//! Scaled dot-product attention, plain and query-chunked.
//!
//! Tensors are laid out `[B, H, N, D]`. The chunked form computes the scores of a bounded number
//! of (head, query) rows at a time, so its extra memory is `O(rows · N_k)` instead of
//! `O(H · N_q · N_k)`: at 480p × 81 frames (~32k tokens, 12 heads) the full score matrix would be
//! ~50 GB in f32, one chunk of the default size is 64 MiB. Softmax runs in f32 whatever the input
//! dtype.
//!
//! [`multi_head_attention`] is what the transformer calls: with the `flash-attn` feature it runs
//! the fused flash-attention kernel on CUDA for bf16/f16 at head dimension 128 (Wan's), and the
//! chunked form everywhere else.

use candle_core::{DType, Result, Tensor};

/// Default bound on the score elements of one chunk (2^24 f32 = 64 MiB).
pub const DEFAULT_MAX_SCORE_ELEMENTS: usize = 1 << 24;

/// Attention over the whole matrix at once, with an optional additive bias broadcastable to
/// `[B, H, N_q, N_k]` (used by UMT5 for its position bias and padding mask).
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let dtype = q.dtype();
    // Scale the queries rather than the (larger) score matrix; the matrix product reads the
    // keys transposed in place (no copy).
    let q = if scale != 1.0 {
        (q * scale)?
    } else {
        q.contiguous()?
    };
    let scores = q.matmul(&k.contiguous()?.t()?)?;
    let mut scores = scores.to_dtype(DType::F32)?;
    if let Some(b) = bias {
        scores = scores.broadcast_add(&b.to_dtype(DType::F32)?)?;
    }
    let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(dtype)?;
    probs.matmul(&v.contiguous()?)
}

/// Attention without bias of `[B, H, N_q, D]` queries over `[B, H, N_k, D]` keys and values,
/// returned as `[B, N_q, H, D]` (heads next to their features, ready to merge): the fused kernel
/// when [`uses_flash`] says so, else [`chunked_attention`] bounded by `max_score_elements`.
pub fn multi_head_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    max_score_elements: usize,
) -> Result<Tensor> {
    #[cfg(feature = "flash-attn")]
    if uses_flash(q) {
        // The kernel wants `[B, N, H, D]` with the last dimension contiguous.
        let bnhd = |t: &Tensor| t.transpose(1, 2)?.contiguous();
        return candle_flash_attn::flash_attn(&bnhd(q)?, &bnhd(k)?, &bnhd(v)?, scale as f32, false);
    }
    chunked_attention(q, k, v, scale, max_score_elements)?.transpose(1, 2)
}

/// Whether [`multi_head_attention`] takes the fused kernel for these queries: a build with the
/// `flash-attn` feature, a CUDA tensor, bf16 or f16, head dimension 128.
pub fn uses_flash(q: &Tensor) -> bool {
    cfg!(feature = "flash-attn")
        && q.device().is_cuda()
        && matches!(q.dtype(), DType::BF16 | DType::F16)
        && q.dims().last() == Some(&128)
}

/// Memory-bounded attention without bias: the `(B·H)` heads and the queries are processed in
/// chunks whose score matrix holds at most `max_score_elements` values (at least one query row).
pub fn chunked_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    max_score_elements: usize,
) -> Result<Tensor> {
    let (b, h, n_q, d) = q.dims4()?;
    let n_k = k.dim(2)?;
    if b * h * n_q * n_k <= max_score_elements {
        return attention(q, k, v, scale, None);
    }
    let dv = v.dim(3)?;
    let bh = b * h;
    let q = q.reshape((bh, n_q, d))?;
    let k = k.reshape((bh, n_k, d))?;
    let v = v.reshape((bh, n_k, dv))?;
    let rows = (max_score_elements / n_k).max(1);
    // Chunks are written straight into the output: no list of parts to concatenate.
    let out = Tensor::zeros((bh * n_q, dv), v.dtype(), v.device())?;
    for i in 0..bh {
        let kt = k.get(i)?.t()?.contiguous()?;
        let vi = v.get(i)?.contiguous()?;
        let qi = q.get(i)?;
        let mut start = 0;
        while start < n_q {
            let len = rows.min(n_q - start);
            // Scale the query chunk rather than its (larger) score matrix.
            let qc = (qi.narrow(0, start, len)? * scale)?;
            let y = softmax_times_v(&qc, &kt, &vi)?.contiguous()?;
            out.slice_set(&y, 0, i * n_q + start)?;
            start += len;
        }
    }
    out.reshape((b, h, n_q, dv))
}

/// `softmax(q · kᵀ) · v` for one chunk (`q` already scaled, `kt` already transposed).
fn softmax_times_v(q: &Tensor, kt: &Tensor, v: &Tensor) -> Result<Tensor> {
    let dtype = q.dtype();
    let scores = q.matmul(kt)?.to_dtype(DType::F32)?;
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    drop(scores);
    probs.to_dtype(dtype)?.matmul(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn chunked_matches_full() -> Result<()> {
        let dev = Device::Cpu;
        let q = Tensor::randn(0f32, 1., (2, 3, 37, 8), &dev)?;
        let k = Tensor::randn(0f32, 1., (2, 3, 29, 8), &dev)?;
        let v = Tensor::randn(0f32, 1., (2, 3, 29, 8), &dev)?;
        let full = attention(&q, &k, &v, 0.35, None)?;
        let chunked = chunked_attention(&q, &k, &v, 0.35, 29 * 5)?;
        let diff = (full - chunked)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "max diff {diff}");
        Ok(())
    }

    #[test]
    fn multi_head_is_chunked_with_heads_second_to_last_on_cpu() -> Result<()> {
        let dev = Device::Cpu;
        let q = Tensor::randn(0f32, 1., (1, 2, 9, 128), &dev)?.to_dtype(DType::BF16)?;
        let k = Tensor::randn(0f32, 1., (1, 2, 7, 128), &dev)?.to_dtype(DType::BF16)?;
        let v = Tensor::randn(0f32, 1., (1, 2, 7, 128), &dev)?.to_dtype(DType::BF16)?;
        // A CPU tensor never takes the fused kernel, whatever the build.
        assert!(!uses_flash(&q));
        let y = multi_head_attention(&q, &k, &v, 0.1, 7 * 4)?;
        assert_eq!(y.dims(), &[1, 9, 2, 128]);
        let want = chunked_attention(&q, &k, &v, 0.1, 7 * 4)?.transpose(1, 2)?;
        let diff = (y.to_dtype(DType::F32)? - want.to_dtype(DType::F32)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert_eq!(diff, 0.0);
        Ok(())
    }
}
