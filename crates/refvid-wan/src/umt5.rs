//! The UMT5 text encoder (the encoder stack of `UMT5EncoderModel`).
//!
//! Mirrors transformers' `models/umt5/modeling_umt5.py`. Unlike T5 (and candle's `t5.rs`), **every**
//! layer owns a relative-position bias table (`relative_attention_bias`, `[num_buckets, heads]`)
//! and computes its own bias. Attention has no `1/√d` scaling; the norms are RMS norms without
//! mean subtraction or bias; the feed-forward is gated (`gelu_new(wi_0 x) · wi_1 x → wo`).
//! Padding tokens are masked out of the keys with an additive `f32::MIN` like the reference.
//! The layers are kept on the device ([`Umt5Encoder::new`]) or streamed to it one at a time
//! ([`Umt5Encoder::new_streamed`], `--offload blocks`, see [`crate::offload`]).

use std::sync::Arc;

use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};

use crate::attention::attention;
use crate::offload::blocks::{BlockStream, Blocks, LoadedBlock};

/// `config.json` of a UMT5 encoder (transformers' `UMT5Config`; unused keys are ignored).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Umt5Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    #[serde(default = "default_buckets")]
    pub relative_attention_num_buckets: usize,
    #[serde(default = "default_max_distance")]
    pub relative_attention_max_distance: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_ff_proj")]
    pub feed_forward_proj: String,
}

fn default_buckets() -> usize {
    32
}
fn default_max_distance() -> usize {
    128
}
fn default_eps() -> f64 {
    1e-6
}
fn default_ff_proj() -> String {
    "gated-gelu".into()
}

/// The feed-forward activation named by `feed_forward_proj`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    /// `gelu_new`: the tanh approximation.
    GeluTanh,
    Relu,
}

impl Umt5Config {
    /// `(gated, activation)` from `feed_forward_proj` (`"gated-gelu"`, `"relu"`, …).
    fn ff_kind(&self) -> Result<(bool, Act)> {
        let (gated, name) = match self.feed_forward_proj.strip_prefix("gated-") {
            Some(rest) => (true, rest),
            None => (false, self.feed_forward_proj.as_str()),
        };
        let act = match name {
            "gelu" | "gelu_new" => Act::GeluTanh,
            "relu" => Act::Relu,
            other => candle_core::bail!("unsupported feed_forward_proj activation `{other}`"),
        };
        Ok((gated, act))
    }
}

/// T5-style RMS norm: `w · x / √(mean(x²) + ε)`, statistics in f32.
#[derive(Debug, Clone)]
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get(dim, "weight")?,
            eps,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let xf = x.to_dtype(DType::F32)?;
        let var = xf.sqr()?.mean_keepdim(D::Minus1)?;
        let y = xf.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        y.to_dtype(dtype)?.broadcast_mul(&self.weight)
    }
}

fn linear_no_bias(i: usize, o: usize, vb: VarBuilder) -> Result<Linear> {
    candle_nn::linear_no_bias(i, o, vb)
}

/// The bucket of a relative position (`key − query`) for a bidirectional encoder.
fn relative_bucket(rel: i64, num_buckets: usize, max_distance: usize) -> u32 {
    let half = (num_buckets / 2) as i64;
    let mut bucket = if rel > 0 { half } else { 0 };
    let n = rel.abs();
    let max_exact = half / 2;
    if n < max_exact {
        bucket += n;
    } else {
        // Same float path as the reference: log in f32, truncation towards zero.
        let ratio = ((n as f32 / max_exact as f32).ln()
            / (max_distance as f32 / max_exact as f32).ln())
            * (half - max_exact) as f32;
        let large = (max_exact + ratio as i64).min(half - 1);
        bucket += large;
    }
    bucket as u32
}

/// Self-attention with its own relative-position bias (`layer.0.SelfAttention`).
#[derive(Debug, Clone)]
struct Umt5Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    relative_attention_bias: Embedding,
    heads: usize,
    d_kv: usize,
    num_buckets: usize,
    max_distance: usize,
}

impl Umt5Attention {
    fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        let inner = cfg.num_heads * cfg.d_kv;
        Ok(Self {
            q: linear_no_bias(cfg.d_model, inner, vb.pp("q"))?,
            k: linear_no_bias(cfg.d_model, inner, vb.pp("k"))?,
            v: linear_no_bias(cfg.d_model, inner, vb.pp("v"))?,
            o: linear_no_bias(inner, cfg.d_model, vb.pp("o"))?,
            relative_attention_bias: candle_nn::embedding(
                cfg.relative_attention_num_buckets,
                cfg.num_heads,
                vb.pp("relative_attention_bias"),
            )?,
            heads: cfg.num_heads,
            d_kv: cfg.d_kv,
            num_buckets: cfg.relative_attention_num_buckets,
            max_distance: cfg.relative_attention_max_distance,
        })
    }

    /// The position bias `[1, H, L, L]`.
    fn position_bias(&self, len: usize, device: &Device) -> Result<Tensor> {
        let mut buckets = Vec::with_capacity(len * len);
        for qi in 0..len as i64 {
            for ki in 0..len as i64 {
                buckets.push(relative_bucket(
                    ki - qi,
                    self.num_buckets,
                    self.max_distance,
                ));
            }
        }
        let buckets = Tensor::from_vec(buckets, (len, len), device)?;
        self.relative_attention_bias
            .forward(&buckets)?
            .permute((2, 0, 1))?
            .unsqueeze(0)
    }

    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        x.reshape((b, l, self.heads, self.d_kv))?.transpose(1, 2)
    }

    /// `mask_bias` is `[B, 1, 1, L]`, 0 for real tokens and `f32::MIN` for padding.
    fn forward(&self, x: &Tensor, mask_bias: &Tensor) -> Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let q = self.split_heads(&self.q.forward(x)?)?;
        let k = self.split_heads(&self.k.forward(x)?)?;
        let v = self.split_heads(&self.v.forward(x)?)?;
        let bias = self
            .position_bias(l, x.device())?
            .to_dtype(DType::F32)?
            .broadcast_add(mask_bias)?;
        let y = attention(&q, &k, &v, 1.0, Some(&bias))?;
        let y = y.transpose(1, 2)?.reshape((b, l, self.heads * self.d_kv))?;
        self.o.forward(&y)
    }
}

/// The feed-forward (`layer.1.DenseReluDense`), gated or not.
#[derive(Debug, Clone)]
struct DenseActDense {
    wi_0: Linear,
    wi_1: Option<Linear>,
    wo: Linear,
    act: Act,
}

impl DenseActDense {
    fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        let (gated, act) = cfg.ff_kind()?;
        let (wi_0, wi_1) = if gated {
            (
                linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("wi_0"))?,
                Some(linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("wi_1"))?),
            )
        } else {
            (linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("wi"))?, None)
        };
        Ok(Self {
            wi_0,
            wi_1,
            wo: linear_no_bias(cfg.d_ff, cfg.d_model, vb.pp("wo"))?,
            act,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.wi_0.forward(x)?;
        let h = match self.act {
            Act::GeluTanh => h.gelu()?,
            Act::Relu => h.relu()?,
        };
        let h = match &self.wi_1 {
            Some(wi_1) => (h * wi_1.forward(x)?)?,
            None => h,
        };
        self.wo.forward(&h)
    }
}

/// One encoder block (`encoder.block.N`).
#[derive(Debug, Clone)]
struct Umt5Block {
    attn_norm: RmsNorm,
    attn: Umt5Attention,
    ff_norm: RmsNorm,
    ff: DenseActDense,
}

impl Umt5Block {
    fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        let (l0, l1) = (vb.pp("layer.0"), vb.pp("layer.1"));
        Ok(Self {
            attn_norm: RmsNorm::new(cfg.d_model, cfg.layer_norm_epsilon, l0.pp("layer_norm"))?,
            attn: Umt5Attention::new(cfg, l0.pp("SelfAttention"))?,
            ff_norm: RmsNorm::new(cfg.d_model, cfg.layer_norm_epsilon, l1.pp("layer_norm"))?,
            ff: DenseActDense::new(cfg, l1.pp("DenseReluDense"))?,
        })
    }

    fn forward(&self, x: &Tensor, mask_bias: &Tensor) -> Result<Tensor> {
        let x = (x + self.attn.forward(&self.attn_norm.forward(x)?, mask_bias)?)?;
        &x + self.ff.forward(&self.ff_norm.forward(&x)?)?
    }
}

/// The UMT5 encoder: token embedding, blocks, final norm.
#[derive(Debug, Clone)]
pub struct Umt5Encoder {
    embed: Embedding,
    blocks: Blocks<Umt5Block>,
    final_norm: RmsNorm,
}

impl Umt5Encoder {
    /// Builds the encoder from a `UMT5EncoderModel` state dict (`shared.weight`, or the tied copy
    /// `encoder.embed_tokens.weight`, and `encoder.*`).
    pub fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        let enc = vb.pp("encoder");
        let blocks = (0..cfg.num_layers)
            .map(|i| Umt5Block::new(cfg, enc.pp(format!("block.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Self::assemble(cfg, &vb, Blocks::Resident(blocks))
    }

    /// The encoder with its layers streamed (`--offload blocks`): the embedding and final norm
    /// are built now, each layer from `vb` (its weights' home) when the pass reaches it.
    pub fn new_streamed(cfg: &Umt5Config, vb: VarBuilder<'static>) -> Result<Self> {
        let enc = vb.pp("encoder");
        let layer_cfg = cfg.clone();
        let stream = BlockStream::new(cfg.num_layers, vb.device().clone(), move |i| {
            let block = Umt5Block::new(&layer_cfg, enc.pp(format!("block.{i}")))?;
            Ok(Box::new(block) as LoadedBlock)
        });
        let blocks = Blocks::Streamed {
            stream: Arc::new(stream),
            first: 0,
            count: cfg.num_layers,
        };
        Self::assemble(cfg, &vb, blocks)
    }

    /// The stream the layers come from, when they are streamed.
    pub fn block_stream(&self) -> Option<&Arc<BlockStream>> {
        self.blocks.stream()
    }

    fn assemble(cfg: &Umt5Config, vb: &VarBuilder, blocks: Blocks<Umt5Block>) -> Result<Self> {
        let emb_vb = if vb.contains_tensor("shared.weight") {
            vb.pp("shared")
        } else {
            vb.pp("encoder.embed_tokens")
        };
        let embed = candle_nn::embedding(cfg.vocab_size, cfg.d_model, emb_vb)?;
        let enc = vb.pp("encoder");
        let final_norm = RmsNorm::new(
            cfg.d_model,
            cfg.layer_norm_epsilon,
            enc.pp("final_layer_norm"),
        )?;
        Ok(Self {
            embed,
            blocks,
            final_norm,
        })
    }

    /// `last_hidden_state` `[B, L, D]` for `input_ids` `[B, L]` (integer) and an optional
    /// `attention_mask` `[B, L]` (1 for tokens, 0 for padding).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, l) = input_ids.dims2()?;
        let dev = input_ids.device();
        let mask_bias = match attention_mask {
            Some(m) => {
                let keep = m.to_dtype(DType::F32)?;
                // (1 − m) · f32::MIN, shaped to broadcast over heads and queries.
                ((keep.affine(-1.0, 1.0)?) * f64::from(f32::MIN))?.reshape((b, 1, 1, l))?
            }
            None => Tensor::zeros((b, 1, 1, l), DType::F32, dev)?,
        };
        let mut x = self.embed.forward(&input_ids.to_dtype(DType::U32)?)?;
        for i in 0..self.blocks.len() {
            x = self.blocks.get(i)?.forward(&x, &mask_bias)?;
        }
        self.final_norm.forward(&x)
    }

    /// Encodes prompts the way `WanVACEPipeline._get_t5_prompt_embeds` does: run with the mask,
    /// keep each prompt's first `len` rows (its real tokens) and zero the rest.
    pub fn encode_padded(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let h = self.forward(input_ids, Some(attention_mask))?;
        let keep = attention_mask.to_dtype(h.dtype())?.unsqueeze(D::Minus1)?;
        h.broadcast_mul(&keep)
    }
}

#[cfg(test)]
mod tests {
    use super::relative_bucket;

    #[test]
    fn buckets_match_t5_for_small_and_large_distances() {
        // 32 buckets, max distance 128: exact up to 7, then logarithmic up to 15 (+16 for keys after).
        assert_eq!(relative_bucket(0, 32, 128), 0);
        assert_eq!(relative_bucket(3, 32, 128), 19);
        assert_eq!(relative_bucket(-3, 32, 128), 3);
        assert_eq!(relative_bucket(-8, 32, 128), 8);
        assert_eq!(relative_bucket(-1000, 32, 128), 15);
        assert_eq!(relative_bucket(1000, 32, 128), 31);
    }
}
