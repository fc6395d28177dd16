//! The Wan 2.1 video transformer (`WanTransformer3DModel`, optionally with the VACE branch of
//! `WanVACETransformer3DModel`).
//!
//! Mirrors diffusers' `models/transformers/transformer_wan.py` (and `transformer_wan_vace.py` for
//! the config keys `vace_layers`/`vace_in_channels`). Data flow for latents `[B, C, F, H, W]`:
//! patch embedding (a strided 3-D conv) → tokens `[B, N, D]`; sinusoidal timestep → `temb`
//! `[B, D]` → shared modulation `[B, 6, D]`; text `[B, L, text_dim]` → `[B, L, D]`; blocks
//! (AdaLN self-attention with 3-axis RoPE, cross-attention to the text, gated GELU-tanh FFN);
//! head (AdaLN with `temb`, linear to `C·pt·ph·pw`) → unpatchify to `[B, C, F, H, W]`.
//! Modules diffusers keeps in f32 (`time_embedder`, `scale_shift_table`, the norms) are loaded and
//! run in f32 whatever the compute dtype, and the gated residual sums run in f32 as upstream.
//!
//! The blocks (main and VACE) are kept on the device ([`WanTransformer::new`]) or streamed to it
//! one at a time from their weights' home ([`WanTransformer::new_streamed`], `--offload blocks`,
//! see [`crate::offload`]); the rest of the model is small and always kept.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Linear, RmsNorm, VarBuilder};

use crate::attention::{DEFAULT_MAX_SCORE_ELEMENTS, multi_head_attention};
use crate::conv3d::Conv3d;
use crate::fused::bias_gelu;
use crate::offload::blocks::{BlockStream, Blocks, LoadedBlock};
use crate::rope::{apply_rope, rope_tables};
use crate::vace::{VaceBlock, VaceBranch, VaceInput};

/// `config.json` of `WanTransformer3DModel` / `WanVACETransformer3DModel`
/// (diffusers `transformer_wan.py`, `transformer_wan_vace.py`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct WanConfig {
    #[serde(default = "default_patch")]
    pub patch_size: Vec<usize>,
    pub num_attention_heads: usize,
    pub attention_head_dim: usize,
    pub in_channels: usize,
    #[serde(default)]
    pub out_channels: Option<usize>,
    pub text_dim: usize,
    #[serde(default = "default_freq_dim")]
    pub freq_dim: usize,
    pub ffn_dim: usize,
    pub num_layers: usize,
    #[serde(default = "default_true")]
    pub cross_attn_norm: bool,
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// I2V image conditioning; not supported yet (must be absent or null).
    #[serde(default)]
    pub image_dim: Option<usize>,
    /// I2V added key/value projections; not supported yet (must be absent or null).
    #[serde(default)]
    pub added_kv_proj_dim: Option<usize>,
    #[serde(default = "default_rope_len")]
    pub rope_max_seq_len: usize,
    /// VACE only: the base blocks after which a hint is added.
    #[serde(default)]
    pub vace_layers: Option<Vec<usize>>,
    /// VACE only: channels of the control latents.
    #[serde(default)]
    pub vace_in_channels: Option<usize>,
}

fn default_patch() -> Vec<usize> {
    vec![1, 2, 2]
}
fn default_freq_dim() -> usize {
    256
}
fn default_true() -> bool {
    true
}
fn default_eps() -> f64 {
    1e-6
}
fn default_rope_len() -> usize {
    1024
}

impl WanConfig {
    /// Inner width `heads × head_dim`.
    pub fn dim(&self) -> usize {
        self.num_attention_heads * self.attention_head_dim
    }

    /// `(pt, ph, pw)`.
    pub fn patch(&self) -> (usize, usize, usize) {
        (self.patch_size[0], self.patch_size[1], self.patch_size[2])
    }

    /// Output channels (defaults to the input channels).
    pub fn out_ch(&self) -> usize {
        self.out_channels.unwrap_or(self.in_channels)
    }

    /// Checks the keys we rely on; the error names the offending key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.patch_size.len() != 3 {
            return Err(format!(
                "patch_size must have 3 entries, got {:?}",
                self.patch_size
            ));
        }
        if self.image_dim.is_some() || self.added_kv_proj_dim.is_some() {
            return Err("image_dim/added_kv_proj_dim (I2V) are not supported".into());
        }
        if let Some(layers) = &self.vace_layers {
            if self.vace_in_channels.is_none() {
                return Err("vace_layers is set but vace_in_channels is missing".into());
            }
            if let Some(&bad) = layers.iter().find(|&&l| l >= self.num_layers) {
                return Err(format!(
                    "vace_layers entry {bad} >= num_layers {}",
                    self.num_layers
                ));
            }
        }
        Ok(())
    }
}

/// LayerNorm computed in f32 (diffusers' `FP32LayerNorm`), with or without affine parameters.
#[derive(Debug, Clone)]
pub(crate) struct Fp32LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl Fp32LayerNorm {
    pub(crate) fn new(dim: usize, eps: f64, affine: bool, vb: VarBuilder) -> Result<Self> {
        let (weight, bias) = if affine {
            let vb = vb.set_dtype(DType::F32);
            (vb.get(dim, "weight")?, vb.get(dim, "bias")?)
        } else {
            (
                Tensor::ones(dim, DType::F32, vb.device())?,
                Tensor::zeros(dim, DType::F32, vb.device())?,
            )
        };
        Ok(Self {
            weight,
            bias,
            eps: eps as f32,
        })
    }

    /// Normalises `x` in f32 and returns f32.
    pub(crate) fn forward_f32(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.to_dtype(DType::F32)?.contiguous()?;
        candle_nn::ops::layer_norm(&x, &self.weight, &self.bias, self.eps)
    }
}

/// The 3-axis rotary tables for one token grid.
#[derive(Debug, Clone)]
pub struct Rope {
    pub cos: Tensor,
    pub sin: Tensor,
}

/// `WanAttention`: projections with bias, RMS norm of Q and K across all heads, optional RoPE.
#[derive(Debug, Clone)]
pub(crate) struct WanAttention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    norm_q: RmsNorm,
    norm_k: RmsNorm,
    heads: usize,
    max_score_elements: usize,
}

impl WanAttention {
    pub(crate) fn new(cfg: &WanConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.dim();
        Ok(Self {
            to_q: candle_nn::linear(d, d, vb.pp("to_q"))?,
            to_k: candle_nn::linear(d, d, vb.pp("to_k"))?,
            to_v: candle_nn::linear(d, d, vb.pp("to_v"))?,
            to_out: candle_nn::linear(d, d, vb.pp("to_out.0"))?,
            norm_q: candle_nn::rms_norm(d, cfg.eps, vb.pp("norm_q"))?,
            norm_k: candle_nn::rms_norm(d, cfg.eps, vb.pp("norm_k"))?,
            heads: cfg.num_attention_heads,
            max_score_elements: DEFAULT_MAX_SCORE_ELEMENTS,
        })
    }

    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        x.reshape((b, n, self.heads, d / self.heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Self-attention when `context` is `None`, cross-attention to `context` otherwise.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        context: Option<&Tensor>,
        rope: Option<&Rope>,
    ) -> Result<Tensor> {
        let ctx = context.unwrap_or(x);
        let q = self.split_heads(&self.norm_q.forward(&self.to_q.forward(x)?)?)?;
        let k = self.split_heads(&self.norm_k.forward(&self.to_k.forward(ctx)?)?)?;
        let v = self.split_heads(&self.to_v.forward(ctx)?)?;
        let (q, k) = match rope {
            Some(r) => (
                apply_rope(&q, &r.cos, &r.sin)?,
                apply_rope(&k, &r.cos, &r.sin)?,
            ),
            None => (q, k),
        };
        let head_dim = q.dim(3)?;
        let y = multi_head_attention(
            &q,
            &k,
            &v,
            1.0 / (head_dim as f64).sqrt(),
            self.max_score_elements,
        )?;
        let (b, n, h, hd) = y.dims4()?;
        let y = y.reshape((b, n, h * hd))?;
        self.to_out.forward(&y)
    }
}

/// `FeedForward(dim, ffn_dim, activation_fn="gelu-approximate")`: `net.0.proj`, GELU-tanh, `net.2`.
#[derive(Debug, Clone)]
pub(crate) struct FeedForward {
    proj_in: Linear,
    proj_out: Linear,
}

impl FeedForward {
    pub(crate) fn new(dim: usize, ffn_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            proj_in: candle_nn::linear(dim, ffn_dim, vb.pp("net.0.proj"))?,
            proj_out: candle_nn::linear(ffn_dim, dim, vb.pp("net.2"))?,
        })
    }

    /// `net.2(gelu(net.0.proj(x)))`, the bias and GELU in one pass ([`bias_gelu`]).
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.proj_in.weight();
        let h = match (x.dims(), self.proj_in.bias()) {
            (&[b, n, k], Some(bias)) if x.is_contiguous() => {
                let h = x.reshape((b * n, k))?.matmul(&w.t()?)?;
                bias_gelu(&h, bias)?.reshape((b, n, ()))?
            }
            _ => self.proj_in.forward(x)?.gelu()?,
        };
        self.proj_out.forward(&h)
    }
}

/// `norm(x) · (1 + scale) + shift` in f32, cast back to `dtype`.
fn modulate(normed_f32: &Tensor, shift: &Tensor, scale: &Tensor, dtype: DType) -> Result<Tensor> {
    normed_f32
        .broadcast_mul(&(scale + 1.0)?)?
        .broadcast_add(shift)?
        .to_dtype(dtype)
}

/// `x + y · gate` in f32, cast back to `x`'s dtype.
fn gated_residual(x: &Tensor, y: &Tensor, gate: &Tensor) -> Result<Tensor> {
    let sum = x
        .to_dtype(DType::F32)?
        .add(&y.to_dtype(DType::F32)?.broadcast_mul(gate)?)?;
    sum.to_dtype(x.dtype())
}

/// `WanTransformerBlock` (also the body of a VACE block).
#[derive(Debug, Clone)]
pub(crate) struct WanBlock {
    norm1: Fp32LayerNorm,
    attn1: WanAttention,
    norm2: Option<Fp32LayerNorm>,
    attn2: WanAttention,
    norm3: Fp32LayerNorm,
    ffn: FeedForward,
    /// `[1, 6, D]`, f32.
    scale_shift_table: Tensor,
}

impl WanBlock {
    pub(crate) fn new(cfg: &WanConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.dim();
        let norm2 = if cfg.cross_attn_norm {
            Some(Fp32LayerNorm::new(d, cfg.eps, true, vb.pp("norm2"))?)
        } else {
            None
        };
        Ok(Self {
            norm1: Fp32LayerNorm::new(d, cfg.eps, false, vb.pp("norm1"))?,
            attn1: WanAttention::new(cfg, vb.pp("attn1"))?,
            norm2,
            attn2: WanAttention::new(cfg, vb.pp("attn2"))?,
            norm3: Fp32LayerNorm::new(d, cfg.eps, false, vb.pp("norm3"))?,
            ffn: FeedForward::new(d, cfg.ffn_dim, vb.pp("ffn"))?,
            scale_shift_table: vb
                .set_dtype(DType::F32)
                .get((1, 6, d), "scale_shift_table")?,
        })
    }

    /// Sets the attention chunk bound of both attention layers.
    pub(crate) fn set_max_score_elements(&mut self, n: usize) {
        self.attn1.max_score_elements = n;
        self.attn2.max_score_elements = n;
    }

    /// `x` `[B, N, D]`, `context` `[B, L, D]`, `temb6` `[B, 6, D]` (the shared timestep projection).
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        context: &Tensor,
        temb6: &Tensor,
        rope: &Rope,
    ) -> Result<Tensor> {
        let dtype = x.dtype();
        let mods = self
            .scale_shift_table
            .broadcast_add(&temb6.to_dtype(DType::F32)?)?
            .chunk(6, 1)?;
        let (shift, scale, gate) = (&mods[0], &mods[1], &mods[2]);
        let (c_shift, c_scale, c_gate) = (&mods[3], &mods[4], &mods[5]);

        let h = modulate(&self.norm1.forward_f32(x)?, shift, scale, dtype)?;
        let a = self.attn1.forward(&h, None, Some(rope))?;
        let x = gated_residual(x, &a, gate)?;

        let h = match &self.norm2 {
            Some(n) => n.forward_f32(&x)?.to_dtype(dtype)?,
            None => x.clone(),
        };
        let x = (&x + self.attn2.forward(&h, Some(context), None)?)?;

        let h = modulate(&self.norm3.forward_f32(&x)?, c_shift, c_scale, dtype)?;
        let f = self.ffn.forward(&h)?;
        gated_residual(&x, &f, c_gate)
    }
}

/// Sinusoidal timestep features (`Timesteps(freq_dim, flip_sin_to_cos=True, shift=0)`): `[cos, sin]`
/// of `t · exp(−ln(10000) · i / (dim/2))`, computed in f32.
pub fn timestep_features(t: &Tensor, dim: usize) -> Result<Tensor> {
    timestep_features_with(t, &timestep_freqs(dim, t.device())?, dim)
}

/// The `[1, dim/2]` frequencies of [`timestep_features`] on `device`.
fn timestep_freqs(dim: usize, device: &Device) -> Result<Tensor> {
    let half = dim / 2;
    let ln = -(10000f32).ln();
    let freqs: Vec<f32> = (0..half)
        .map(|i| (ln * i as f32 / half as f32).exp())
        .collect();
    Tensor::from_vec(freqs, (1, half), device)
}

/// [`timestep_features`] with its frequencies already on the device.
fn timestep_features_with(t: &Tensor, freqs: &Tensor, dim: usize) -> Result<Tensor> {
    let args = t
        .to_dtype(DType::F32)?
        .unsqueeze(1)?
        .broadcast_mul(&freqs)?;
    let emb = Tensor::cat(&[args.cos()?, args.sin()?], 1)?;
    if dim % 2 == 1 {
        emb.pad_with_zeros(1, 0, 1)
    } else {
        Ok(emb)
    }
}

/// A value derived from constants, computed on the host once and kept on the device it was last
/// asked for: the step loop then uploads nothing for it (shared by the clones of a model).
#[derive(Debug, Clone)]
struct DeviceMemo<K, V> {
    slot: Arc<Mutex<Option<(K, V)>>>,
}

impl<K, V> Default for DeviceMemo<K, V> {
    fn default() -> Self {
        Self {
            slot: Arc::new(Mutex::new(None)),
        }
    }
}

impl<K: PartialEq + Copy, V: Clone> DeviceMemo<K, V> {
    /// The value for `key` on `device`, made by `make` unless the last one is still good.
    fn get(
        &self,
        key: K,
        device: &Device,
        on: impl Fn(&V) -> &Device,
        make: impl FnOnce() -> Result<V>,
    ) -> Result<V> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, v)) = slot.as_ref()
            && *k == key
            && on(v).same_device(device)
        {
            return Ok(v.clone());
        }
        let v = make()?;
        *slot = Some((key, v.clone()));
        Ok(v)
    }
}

/// `WanTimeTextImageEmbedding` without the image part.
#[derive(Debug, Clone)]
struct ConditionEmbedder {
    time_linear_1: Linear,
    time_linear_2: Linear,
    time_proj: Linear,
    text_linear_1: Linear,
    text_linear_2: Linear,
    freq_dim: usize,
    freqs: DeviceMemo<usize, Tensor>,
}

impl ConditionEmbedder {
    fn new(cfg: &WanConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.dim();
        let te = vb.pp("time_embedder").set_dtype(DType::F32);
        Ok(Self {
            time_linear_1: candle_nn::linear(cfg.freq_dim, d, te.pp("linear_1"))?,
            time_linear_2: candle_nn::linear(d, d, te.pp("linear_2"))?,
            time_proj: candle_nn::linear(d, 6 * d, vb.pp("time_proj"))?,
            text_linear_1: candle_nn::linear(cfg.text_dim, d, vb.pp("text_embedder.linear_1"))?,
            text_linear_2: candle_nn::linear(d, d, vb.pp("text_embedder.linear_2"))?,
            freq_dim: cfg.freq_dim,
            freqs: DeviceMemo::default(),
        })
    }

    /// Returns `(temb [B, D], timestep_proj [B, 6, D], context [B, L, D])`.
    fn forward(&self, timestep: &Tensor, text: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let dtype = text.dtype();
        let dim = self.freq_dim;
        let freqs = self.freqs.get(dim, timestep.device(), Tensor::device, || {
            timestep_freqs(dim, timestep.device())
        })?;
        let f = timestep_features_with(timestep, &freqs, dim)?;
        let temb = self
            .time_linear_2
            .forward(&self.time_linear_1.forward(&f)?.silu()?)?
            .to_dtype(dtype)?;
        let proj = self.time_proj.forward(&temb.silu()?)?;
        let (b, six_d) = proj.dims2()?;
        let proj = proj.reshape((b, 6, six_d / 6))?;
        let ctx = self
            .text_linear_2
            .forward(&self.text_linear_1.forward(text)?.gelu()?)?;
        Ok((temb, proj, ctx))
    }
}

/// Stands in for the main blocks of one forward pass: a step cache
/// ([`crate::step_cache`]) decides, block by block, to run a block or to reuse what it stored.
pub trait BlockHook {
    /// Block `index` of `count` applied to `x`: call `run(x)` to run it, or return a stand-in.
    fn block(
        &mut self,
        index: usize,
        count: usize,
        x: &Tensor,
        run: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor>;
}

/// Per-call options of [`WanTransformer::forward`].
#[derive(Debug, Clone, Copy)]
pub struct ForwardOptions {
    /// Bound on the attention score elements computed at once (see [`crate::attention`]).
    pub max_score_elements: usize,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        Self {
            max_score_elements: DEFAULT_MAX_SCORE_ELEMENTS,
        }
    }
}

/// The whole transformer, with the VACE branch when the config has `vace_layers`.
#[derive(Debug, Clone)]
pub struct WanTransformer {
    cfg: WanConfig,
    patch_embedding: Conv3d,
    condition_embedder: ConditionEmbedder,
    blocks: Blocks<WanBlock>,
    vace: Option<VaceBranch>,
    norm_out: Fp32LayerNorm,
    proj_out: Linear,
    /// `[1, 2, D]`, f32.
    scale_shift_table: Tensor,
    /// The attention chunk bound, also read by the loader of streamed blocks.
    max_score_elements: Arc<AtomicUsize>,
    /// The rotary tables of the last token grid (the same at every step of a run).
    rope: DeviceMemo<(usize, usize, usize), Rope>,
}

/// Checks a config before anything is built.
fn checked(cfg: &WanConfig) -> Result<()> {
    if let Err(msg) = cfg.validate() {
        candle_core::bail!("transformer config: {msg}");
    }
    Ok(())
}

/// The blocks of a transformer in the order one forward pass runs them — the VACE blocks
/// (`vace_blocks.j`), then the main ones (`blocks.i`) — each built from `vb` when it is asked
/// for, with the attention chunk bound in force then.
fn block_stream(cfg: &WanConfig, vb: VarBuilder<'static>, limit: Arc<AtomicUsize>) -> BlockStream {
    let n_vace = cfg.vace_layers.as_ref().map_or(0, Vec::len);
    let device = vb.device().clone();
    let cfg = cfg.clone();
    BlockStream::new(n_vace + cfg.num_layers, device, move |i| {
        let n = limit.load(Ordering::Relaxed);
        if i < n_vace {
            let mut b = VaceBlock::new(&cfg, i == 0, vb.pp(format!("vace_blocks.{i}")))?;
            b.block.set_max_score_elements(n);
            Ok(Box::new(b) as LoadedBlock)
        } else {
            let mut b = WanBlock::new(&cfg, vb.pp(format!("blocks.{}", i - n_vace)))?;
            b.set_max_score_elements(n);
            Ok(Box::new(b) as LoadedBlock)
        }
    })
}

impl WanTransformer {
    /// Builds the model from a diffusers state dict (names as in `transformer_wan.py`).
    pub fn new(cfg: &WanConfig, vb: VarBuilder) -> Result<Self> {
        checked(cfg)?;
        let blocks = (0..cfg.num_layers)
            .map(|i| WanBlock::new(cfg, vb.pp(format!("blocks.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let vace = match &cfg.vace_layers {
            Some(_) => Some(VaceBranch::new(cfg, vb.clone())?),
            None => None,
        };
        let limit = Arc::new(AtomicUsize::new(DEFAULT_MAX_SCORE_ELEMENTS));
        Self::assemble(cfg, &vb, Blocks::Resident(blocks), vace, limit)
    }

    /// The model with its blocks streamed (`--offload blocks`): everything but the blocks is
    /// built now; each block is built from `vb` (its weights' home, see
    /// [`crate::offload::home`]) when a forward pass reaches it and dropped after it ran, the
    /// next one loading meanwhile ([`BlockStream`]). A missing or misshapen block tensor is
    /// reported when that block is first built.
    pub fn new_streamed(cfg: &WanConfig, vb: VarBuilder<'static>) -> Result<Self> {
        checked(cfg)?;
        let limit = Arc::new(AtomicUsize::new(DEFAULT_MAX_SCORE_ELEMENTS));
        let stream = Arc::new(block_stream(cfg, vb.clone(), limit.clone()));
        let n_vace = cfg.vace_layers.as_ref().map_or(0, Vec::len);
        let blocks = Blocks::Streamed {
            stream: stream.clone(),
            first: n_vace,
            count: cfg.num_layers,
        };
        let vace = match &cfg.vace_layers {
            Some(_) => Some(VaceBranch::streamed(cfg, vb.clone(), stream)?),
            None => None,
        };
        Self::assemble(cfg, &vb, blocks, vace, limit)
    }

    /// The model around its blocks: embeddings and head built from `vb`.
    fn assemble(
        cfg: &WanConfig,
        vb: &VarBuilder,
        blocks: Blocks<WanBlock>,
        vace: Option<VaceBranch>,
        max_score_elements: Arc<AtomicUsize>,
    ) -> Result<Self> {
        let d = cfg.dim();
        let patch = cfg.patch();
        Ok(Self {
            cfg: cfg.clone(),
            patch_embedding: Conv3d::new(
                cfg.in_channels,
                d,
                patch,
                patch,
                vb.pp("patch_embedding"),
            )?,
            condition_embedder: ConditionEmbedder::new(cfg, vb.pp("condition_embedder"))?,
            blocks,
            vace,
            norm_out: Fp32LayerNorm::new(d, cfg.eps, false, vb.pp("norm_out"))?,
            proj_out: candle_nn::linear(
                d,
                cfg.out_ch() * patch.0 * patch.1 * patch.2,
                vb.pp("proj_out"),
            )?,
            scale_shift_table: vb
                .clone()
                .set_dtype(DType::F32)
                .get((1, 2, d), "scale_shift_table")?,
            max_score_elements,
            rope: DeviceMemo::default(),
        })
    }

    /// The stream the blocks come from, when they are streamed (its stats say what was loaded).
    pub fn block_stream(&self) -> Option<&Arc<BlockStream>> {
        self.blocks.stream()
    }

    /// The config the model was built from.
    pub fn config(&self) -> &WanConfig {
        &self.cfg
    }

    /// Whether the model has the VACE branch.
    pub fn is_vace(&self) -> bool {
        self.vace.is_some()
    }

    /// The attention chunk bound in force (see [`set_max_score_elements`](Self::set_max_score_elements)).
    pub fn max_score_elements(&self) -> usize {
        self.max_score_elements.load(Ordering::Relaxed)
    }

    /// Sets the attention chunk bound of every attention layer (streamed blocks take it when
    /// they are built).
    pub fn set_max_score_elements(&mut self, n: usize) {
        self.max_score_elements.store(n, Ordering::Relaxed);
        let blocks = self
            .blocks
            .resident_mut()
            .iter_mut()
            .chain(self.vace.iter_mut().flat_map(|v| v.blocks_mut()));
        for b in blocks {
            b.set_max_score_elements(n);
        }
    }

    /// The prediction `sample` `[B, C_out, F, H, W]` for latents `hidden_states` `[B, C, F, H, W]`,
    /// `timestep` `[B]` and text `encoder_hidden_states` `[B, L, text_dim]`; `vace` is required
    /// for a VACE model and must be `None` otherwise.
    pub fn forward(
        &self,
        hidden_states: &Tensor,
        timestep: &Tensor,
        encoder_hidden_states: &Tensor,
        vace: Option<VaceInput<'_>>,
    ) -> Result<Tensor> {
        self.forward_hooked(hidden_states, timestep, encoder_hidden_states, vace, None)
    }

    /// Several passes at one timestep as one batch ([`crate::batch`]): `passes` are
    /// `(hidden_states [1, C, F, H, W], encoder_hidden_states [1, L, text_dim])` pairs of equal
    /// shapes, `timestep` `[1]` (repeated on its device for every pass), `vace` the VACE input of
    /// one entry (used by every pass). Returns one prediction `[1, C_out, F, H, W]` per pass,
    /// what [`forward`](Self::forward) gives for each.
    pub fn forward_passes(
        &self,
        passes: &[(&Tensor, &Tensor)],
        timestep: &Tensor,
        vace: Option<VaceInput<'_>>,
    ) -> Result<Vec<Tensor>> {
        let n = passes.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let (latents, texts): (Vec<&Tensor>, Vec<&Tensor>) = passes.iter().copied().unzip();
        let x = Tensor::cat(&latents, 0)?;
        let text = Tensor::cat(&texts, 0)?;
        if x.dim(0)? != n || text.dim(0)? != n {
            candle_core::bail!("forward_passes takes one batch entry per pass");
        }
        let ts = timestep.reshape(1)?.repeat(n)?;
        let control = vace
            .map(|v| Tensor::cat(&vec![v.control; n], 0))
            .transpose()?;
        let vace = vace.zip(control.as_ref()).map(|(v, control)| VaceInput {
            control,
            scale: v.scale,
        });
        let y = self.forward(&x, &ts, &text, vace)?;
        (0..n).map(|i| y.narrow(0, i, 1)).collect()
    }

    /// [`forward`](Self::forward) with a [`BlockHook`] deciding block by block whether the main
    /// blocks run (a step cache); the VACE blocks always run and every hint is added after its
    /// block whatever the hook did, as diffusers' hooked VACE transformer does.
    pub fn forward_hooked(
        &self,
        hidden_states: &Tensor,
        timestep: &Tensor,
        encoder_hidden_states: &Tensor,
        vace: Option<VaceInput<'_>>,
        mut hook: Option<&mut dyn BlockHook>,
    ) -> Result<Tensor> {
        let (b, _c, f, h, w) = hidden_states.dims5()?;
        let (pt, ph, pw) = self.cfg.patch();
        let grid = (f / pt, h / ph, w / pw);
        let device = hidden_states.device();
        let rope = self.rope.get(
            grid,
            device,
            |r| r.cos.device(),
            || {
                let head_dim = self.cfg.attention_head_dim;
                let (cos, sin) = rope_tables(head_dim, 10000.0, grid, DType::F32, device)?;
                Ok(Rope { cos, sin })
            },
        )?;

        let x = tokens(&self.patch_embedding.forward(hidden_states)?)?;
        let (temb, temb6, context) = self
            .condition_embedder
            .forward(timestep, encoder_hidden_states)?;

        let hints = match (&self.vace, vace) {
            (Some(branch), Some(input)) => branch.hints(&x, &input, &context, &temb6, &rope)?,
            (Some(_), None) => candle_core::bail!("VACE model needs control_hidden_states"),
            (None, Some(_)) => {
                candle_core::bail!("control_hidden_states given to a non-VACE model")
            }
            (None, None) => Vec::new(),
        };

        let mut x = x;
        let count = self.blocks.len();
        for i in 0..count {
            // A streamed block is loaded only if the hook runs it.
            let mut run = |x: &Tensor| self.blocks.get(i)?.forward(x, &context, &temb6, &rope);
            x = match hook.as_deref_mut() {
                Some(hook) => hook.block(i, count, &x, &mut run)?,
                None => run(&x)?,
            };
            if let Some(hint) = hints.iter().find(|hint| hint.layer == i) {
                x = (x + hint.scaled()?)?;
            }
        }
        self.head(&x, &temb, b, grid)
    }

    /// Output norm with the `temb` modulation, projection and unpatchify.
    fn head(
        &self,
        x: &Tensor,
        temb: &Tensor,
        b: usize,
        grid: (usize, usize, usize),
    ) -> Result<Tensor> {
        let mods = self
            .scale_shift_table
            .broadcast_add(&temb.to_dtype(DType::F32)?.unsqueeze(1)?)?
            .chunk(2, 1)?;
        let h = modulate(
            &self.norm_out.forward_f32(x)?,
            &mods[0],
            &mods[1],
            x.dtype(),
        )?;
        let y = self.proj_out.forward(&h)?;
        unpatchify(&y, b, grid, self.cfg.patch(), self.cfg.out_ch())
    }
}

/// `[B, D, F, H, W]` → `[B, F·H·W, D]`.
pub(crate) fn tokens(x: &Tensor) -> Result<Tensor> {
    let (b, d, f, h, w) = x.dims5()?;
    x.reshape((b, d, f * h * w))?.transpose(1, 2)?.contiguous()
}

/// `[B, N, pt·ph·pw·C]` → `[B, C, F·pt, H·ph, W·pw]` (diffusers' permute `(0, 7, 1, 4, 2, 5, 3, 6)`).
fn unpatchify(
    y: &Tensor,
    b: usize,
    grid: (usize, usize, usize),
    patch: (usize, usize, usize),
    c: usize,
) -> Result<Tensor> {
    let (f, h, w) = grid;
    let (pt, ph, pw) = patch;
    y.reshape(vec![b, f, h, w, pt, ph, pw, c])?
        .permute(vec![0, 7, 1, 4, 2, 5, 3, 6])?
        .contiguous()?
        .reshape((b, c, f * pt, h * ph, w * pw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn timestep_features_are_cos_then_sin() -> Result<()> {
        let t = Tensor::new(&[0f32, 1.0], &Device::Cpu)?;
        let e = timestep_features(&t, 4)?.to_vec2::<f32>()?;
        assert_eq!(e[0], vec![1.0, 1.0, 0.0, 0.0]);
        assert!((e[1][0] - 1f32.cos()).abs() < 1e-6);
        assert!((e[1][1] - 0.01f32.cos()).abs() < 1e-6);
        assert!((e[1][2] - 1f32.sin()).abs() < 1e-6);
        Ok(())
    }

    #[test]
    fn unpatchify_inverts_the_patch_layout() -> Result<()> {
        // One token, patch (1, 2, 2), 1 channel: values land in row-major order of the patch.
        let y = Tensor::new(&[[[0f32, 1., 2., 3.]]], &Device::Cpu)?;
        let x = unpatchify(&y, 1, (1, 1, 1), (1, 2, 2), 1)?;
        assert_eq!(x.flatten_all()?.to_vec1::<f32>()?, vec![0., 1., 2., 3.]);
        Ok(())
    }
}
