//! The VACE branch of `WanVACETransformer3DModel`.
//!
//! Mirrors diffusers' `models/transformers/transformer_wan_vace.py`. The control latents
//! `[B, vace_in_channels, F, H, W]` go through their own patch embedding (`vace_patch_embedding`)
//! and are zero-padded along the tokens up to the main sequence length. The VACE blocks
//! (`vace_blocks.j`, one per entry of `vace_layers`) are base blocks with a `proj_in` on block 0
//! (`c = proj_in(c) + x`, with `x` the patch-embedded main tokens) and a `proj_out` on every
//! block; block `j`'s `proj_out` output is the hint added (times `control_hidden_states_scale[j]`)
//! to the main stream after the `j`-th base block listed in `vace_layers` (in block order).
//! With `--offload blocks` the VACE blocks are the first positions of the transformer's block
//! stream ([`crate::offload::blocks`]).

use std::sync::Arc;

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::conv3d::Conv3d;
use crate::offload::blocks::{BlockStream, Blocks};
use crate::transformer::{Rope, WanBlock, WanConfig, tokens};

/// The VACE inputs of one forward call.
#[derive(Debug, Clone, Copy)]
pub struct VaceInput<'a> {
    /// `control_hidden_states` `[B, vace_in_channels, F, H, W]`.
    pub control: &'a Tensor,
    /// `control_hidden_states_scale`, one factor per VACE layer (all 1.0 when `None`).
    pub scale: Option<&'a [f32]>,
}

/// A hint for one base layer.
#[derive(Debug, Clone)]
pub struct Hint {
    /// The base block after which it is added.
    pub layer: usize,
    pub hint: Tensor,
    pub scale: f32,
}

impl Hint {
    /// `hint · scale`.
    pub fn scaled(&self) -> Result<Tensor> {
        self.hint.affine(f64::from(self.scale), 0.0)
    }
}

/// `WanVACETransformerBlock`: a base block with input/output projections.
#[derive(Debug, Clone)]
pub(crate) struct VaceBlock {
    proj_in: Option<Linear>,
    pub(crate) block: WanBlock,
    proj_out: Linear,
}

impl VaceBlock {
    /// `vace_blocks.j` (`first`: j = 0, the one with `proj_in`).
    pub(crate) fn new(cfg: &WanConfig, first: bool, vb: VarBuilder) -> Result<Self> {
        let d = cfg.dim();
        let proj_in = if first {
            Some(candle_nn::linear(d, d, vb.pp("proj_in"))?)
        } else {
            None
        };
        Ok(Self {
            proj_in,
            block: WanBlock::new(cfg, vb.clone())?,
            proj_out: candle_nn::linear(d, d, vb.pp("proj_out"))?,
        })
    }

    /// Returns `(hint, new control stream)`.
    fn forward(
        &self,
        x: &Tensor,
        control: &Tensor,
        context: &Tensor,
        temb6: &Tensor,
        rope: &Rope,
    ) -> Result<(Tensor, Tensor)> {
        let c = match &self.proj_in {
            Some(p) => (p.forward(control)? + x)?,
            None => control.clone(),
        };
        let c = self.block.forward(&c, context, temb6, rope)?;
        Ok((self.proj_out.forward(&c)?, c))
    }
}

/// The control patch embedding and the VACE blocks.
#[derive(Debug, Clone)]
pub struct VaceBranch {
    patch_embedding: Conv3d,
    blocks: Blocks<VaceBlock>,
    /// `vace_layers` sorted ascending: hint `j` goes after base block `layers[j]`.
    layers: Vec<usize>,
}

impl VaceBranch {
    /// Loads `vace_patch_embedding.*` and `vace_blocks.*` from the model's root `vb`.
    pub(crate) fn new(cfg: &WanConfig, vb: VarBuilder) -> Result<Self> {
        let n = cfg.vace_layers.as_ref().map_or(0, Vec::len);
        let blocks = (0..n)
            .map(|j| VaceBlock::new(cfg, j == 0, vb.pp(format!("vace_blocks.{j}"))))
            .collect::<Result<Vec<_>>>()?;
        Self::with_blocks(cfg, vb, Blocks::Resident(blocks))
    }

    /// The branch with its blocks streamed: positions `0..n_vace` of `stream`.
    pub(crate) fn streamed(
        cfg: &WanConfig,
        vb: VarBuilder,
        stream: Arc<BlockStream>,
    ) -> Result<Self> {
        let count = cfg.vace_layers.as_ref().map_or(0, Vec::len);
        let blocks = Blocks::Streamed {
            stream,
            first: 0,
            count,
        };
        Self::with_blocks(cfg, vb, blocks)
    }

    fn with_blocks(cfg: &WanConfig, vb: VarBuilder, blocks: Blocks<VaceBlock>) -> Result<Self> {
        let (Some(layers), Some(in_ch)) = (&cfg.vace_layers, cfg.vace_in_channels) else {
            candle_core::bail!("not a VACE config (vace_layers / vace_in_channels missing)");
        };
        let patch = cfg.patch();
        let mut sorted = layers.clone();
        sorted.sort_unstable();
        Ok(Self {
            patch_embedding: Conv3d::new(
                in_ch,
                cfg.dim(),
                patch,
                patch,
                vb.pp("vace_patch_embedding"),
            )?,
            blocks,
            layers: sorted,
        })
    }

    /// The kept blocks' bodies (none when streamed).
    pub(crate) fn blocks_mut(&mut self) -> impl Iterator<Item = &mut WanBlock> {
        self.blocks.resident_mut().iter_mut().map(|b| &mut b.block)
    }

    /// Runs the VACE blocks on the control stream, given the main tokens `x` `[B, N, D]` before
    /// the first base block.
    pub(crate) fn hints(
        &self,
        x: &Tensor,
        input: &VaceInput<'_>,
        context: &Tensor,
        temb6: &Tensor,
        rope: &Rope,
    ) -> Result<Vec<Hint>> {
        let n_layers = self.blocks.len();
        let scales: Vec<f32> = match input.scale {
            Some(s) if s.len() == n_layers => s.to_vec(),
            Some(s) => candle_core::bail!(
                "control_hidden_states_scale has {} entries, the model has {n_layers} VACE layers",
                s.len()
            ),
            None => vec![1.0; n_layers],
        };
        let c = tokens(&self.patch_embedding.forward(input.control)?)?.to_dtype(x.dtype())?;
        let (n, n_c) = (x.dim(1)?, c.dim(1)?);
        if n_c > n {
            candle_core::bail!("control has {n_c} tokens, more than the {n} latent tokens");
        }
        let mut c = c.pad_with_zeros(1, 0, n - n_c)?;
        let mut hints = Vec::with_capacity(n_layers);
        for (j, (&layer, &scale)) in self.layers.iter().zip(&scales).enumerate() {
            let (hint, next) = self.blocks.get(j)?.forward(x, &c, context, temb6, rope)?;
            c = next;
            hints.push(Hint { layer, hint, scale });
        }
        Ok(hints)
    }
}
