//! `WanResample`: the spatial (and optionally temporal) down- and upsamplers.
//!
//! Spatial work is per frame (frames folded into the batch):
//! - down: pad one zero column on the right and one row at the bottom, 3×3 conv with stride 2
//!   (`resample.1`);
//! - up: nearest 2× (`nearest-exact` at exactly 2× is plain pixel doubling), 3×3 conv with
//!   padding 1 to `out_dim` channels (`resample.1`).
//!
//! Time work uses a cache slot (`time_conv`):
//! - `downsample3d` (encoder), *after* the spatial step: the first chunk passes through untouched
//!   and is remembered; later chunks get the previous chunk's last frame prepended and go through
//!   a 3×1×1 conv with time stride 2 (4 frames → 2, 2 → 1).
//! - `upsample3d` (decoder), *before* the spatial step: the first chunk passes through untouched
//!   (the slot becomes [`Slot::Rep`]); later chunks go through a causal 3×1×1 conv to twice the
//!   channels, whose two halves become two consecutive frames (1 frame → 2, 2 → 4).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::causal_conv::{CausalConv3d, Slot, TimeCache};
use super::gather_conv::GatherConv;

/// Which resampling a level does (diffusers' `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResampleMode {
    /// Halve height and width.
    Down2d,
    /// Halve height, width and time.
    Down3d,
    /// Double height and width.
    Up2d,
    /// Double height, width and time.
    Up3d,
}

/// One resampler (`resample.1`, and `time_conv` for the 3-D modes).
#[derive(Debug, Clone)]
pub struct Resample {
    mode: ResampleMode,
    spatial: GatherConv,
    time_conv: Option<CausalConv3d>,
}

impl Resample {
    /// Loads a resampler on `dim` channels; the upsamplers' spatial conv outputs `up_out_dim`.
    pub fn new(dim: usize, mode: ResampleMode, up_out_dim: usize, vb: VarBuilder) -> Result<Self> {
        let conv_vb = vb.pp("resample").pp("1");
        let spatial = match mode {
            ResampleMode::Down2d | ResampleMode::Down3d => {
                GatherConv::new_2d(dim, dim, 3, 2, 0, conv_vb)?
            }
            ResampleMode::Up2d | ResampleMode::Up3d => {
                GatherConv::new_2d(dim, up_out_dim, 3, 1, 1, conv_vb)?
            }
        };
        let tvb = vb.pp("time_conv");
        let time_conv = match mode {
            ResampleMode::Down3d => Some(CausalConv3d::new(
                dim,
                dim,
                (3, 1, 1),
                (2, 1, 1),
                (0, 0),
                tvb,
            )?),
            ResampleMode::Up3d => Some(CausalConv3d::new(
                dim,
                2 * dim,
                (3, 1, 1),
                (1, 1, 1),
                (1, 0),
                tvb,
            )?),
            _ => None,
        };
        Ok(Self {
            mode,
            spatial,
            time_conv,
        })
    }

    /// The resampling this level does.
    pub fn mode(&self) -> ResampleMode {
        self.mode
    }

    /// One chunk `[B, C, T, H, W]` through the resampler (one cache slot for the 3-D modes).
    pub fn forward(&self, x: &Tensor, cache: &mut TimeCache) -> Result<Tensor> {
        match (self.mode, &self.time_conv) {
            (ResampleMode::Up3d, Some(tc)) => {
                let x = upsample_time(tc, x, cache.slot())?;
                self.per_frame(&x)
            }
            (ResampleMode::Down3d, Some(tc)) => {
                let x = self.per_frame(x)?;
                downsample_time(tc, &x, cache.slot())
            }
            _ => self.per_frame(x),
        }
    }

    /// The spatial step on every frame (the convolution has a single time tap).
    fn per_frame(&self, x: &Tensor) -> Result<Tensor> {
        let x = match self.mode {
            ResampleMode::Down2d | ResampleMode::Down3d => {
                x.pad_with_zeros(4, 0, 1)?.pad_with_zeros(3, 0, 1)?
            }
            ResampleMode::Up2d | ResampleMode::Up3d => upsample_nearest_2x(x)?,
        };
        self.spatial.forward(&x)
    }
}

/// Doubles height and width by repeating pixels (`nearest-exact` at exactly 2×).
fn upsample_nearest_2x(x: &Tensor) -> Result<Tensor> {
    let (b, c, t, h, w) = x.dims5()?;
    let frames = x.permute((0, 2, 1, 3, 4))?.reshape((b * t, c, h, w))?;
    frames
        .upsample_nearest2d(2 * h, 2 * w)?
        .reshape((b, t, c, 2 * h, 2 * w))?
        .permute((0, 2, 1, 3, 4))
}

/// The decoder's time doubling (see the module docs).
fn upsample_time(tc: &CausalConv3d, x: &Tensor, slot: &mut Slot) -> Result<Tensor> {
    if matches!(slot, Slot::Empty) {
        *slot = Slot::Rep;
        return Ok(x.clone());
    }
    let (b, c, t, h, w) = x.dims5()?;
    // After `Rep` the conv sees zeros on the left, and the history is [zero frame, x].
    let y = tc.forward_cached(x, slot)?;
    // [B, 2C, T, H, W] → [B, 2, C, T, H, W] → [B, C, T, 2, H, W] → [B, C, 2T, H, W].
    y.reshape((b, 2, c, t, h, w))?
        .permute((0, 2, 3, 1, 4, 5))?
        .reshape((b, c, 2 * t, h, w))
}

/// The encoder's time halving (see the module docs).
fn downsample_time(tc: &CausalConv3d, x: &Tensor, slot: &mut Slot) -> Result<Tensor> {
    let t = x.dim(2)?;
    let Some(prev) = slot.frames() else {
        *slot = Slot::Frames(x.copy()?);
        return Ok(x.clone());
    };
    let last = prev.narrow(2, prev.dim(2)? - 1, 1)?;
    let y = tc.forward(&Tensor::cat(&[&last, x], 2)?, None)?;
    *slot = Slot::Frames(x.narrow(2, t - 1, 1)?.copy()?);
    Ok(y)
}
