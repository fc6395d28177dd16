//! The causal 3-D convolution of the Wan VAE (`WanCausalConv3d`) and its time cache.
//!
//! A causal convolution with time padding `p` pads `2·p` frames on the *left* only, so an output
//! frame never sees a later input frame. The VAE runs videos in chunks (encode: the first frame,
//! then 4 frames at a time; decode: one latent frame at a time), and each convolution keeps the
//! last [`CACHE_T`] frames of its input in a [`TimeCache`] slot: the next chunk is padded with
//! those frames instead of zeros, which makes the chunked result that of one causal pass over the
//! whole video while only a chunk is ever in memory.
//!
//! Slots are taken in call order ([`TimeCache::slot`]); [`TimeCache::rewind`] starts the next
//! chunk at the first slot again, as diffusers' `feat_idx = [0]` does.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::gather_conv::GatherConv;

/// Frames of history kept per cached convolution.
pub const CACHE_T: usize = 2;

/// What one cached call site remembers between chunks.
#[derive(Debug, Clone, Default)]
pub enum Slot {
    /// Nothing yet: the first chunk is being run.
    #[default]
    Empty,
    /// The time upsampler skipped its first chunk (diffusers' `"Rep"` marker).
    Rep,
    /// The last frames of the previous chunk(s), `[B, C, ≤ CACHE_T, H, W]`.
    Frames(Tensor),
}

impl Slot {
    /// The cached frames, if any.
    pub fn frames(&self) -> Option<&Tensor> {
        match self {
            Slot::Frames(t) => Some(t),
            _ => None,
        }
    }

    /// The history to keep after a chunk `x`: its last [`CACHE_T`] frames, completed on the left
    /// with the last frame of this slot (or a zero frame after [`Slot::Rep`]) when `x` is shorter.
    /// The result is its own copy, so a chunk's activations are not kept alive by the cache.
    pub fn next_history(&self, x: &Tensor) -> Result<Tensor> {
        let t = x.dim(2)?;
        let keep = t.min(CACHE_T);
        let tail = x.narrow(2, t - keep, keep)?;
        if keep >= CACHE_T {
            return tail.copy();
        }
        let tail = tail.contiguous()?;
        match self {
            Slot::Frames(prev) => {
                let last = prev.narrow(2, prev.dim(2)? - 1, 1)?;
                Tensor::cat(&[&last, &tail], 2)
            }
            Slot::Rep => Tensor::cat(&[&tail.zeros_like()?, &tail], 2),
            Slot::Empty => Ok(tail),
        }
    }
}

/// The cache slots of one encoder or decoder pass over a video.
#[derive(Debug, Default)]
pub struct TimeCache {
    slots: Vec<Slot>,
    next: usize,
}

impl TimeCache {
    /// An empty cache (every slot [`Slot::Empty`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new chunk: the next [`slot`](Self::slot) call returns the first slot again.
    pub fn rewind(&mut self) {
        self.next = 0;
    }

    /// The slot of the next cached call site.
    pub fn slot(&mut self) -> &mut Slot {
        if self.next == self.slots.len() {
            self.slots.push(Slot::Empty);
        }
        self.next += 1;
        &mut self.slots[self.next - 1]
    }
}

/// `WanCausalConv3d`: a 3-D convolution padded causally in time and symmetrically in space.
#[derive(Debug, Clone)]
pub struct CausalConv3d {
    conv: GatherConv,
    /// Frames of left padding: twice the time padding.
    time_pad: usize,
}

impl CausalConv3d {
    /// Loads `weight` `[out, in, kt, kh, kw]` and `bias`; `padding` is `(time, space)` as given
    /// to diffusers (time is padded `2·padding.0` on the left, space `padding.1` on each side).
    pub fn new(
        in_ch: usize,
        out_ch: usize,
        kernel: (usize, usize, usize),
        stride: (usize, usize, usize),
        padding: (usize, usize),
        vb: VarBuilder,
    ) -> Result<Self> {
        let conv = GatherConv::new_3d(in_ch, out_ch, kernel, stride, (padding.1, padding.1), vb)?;
        Ok(Self {
            conv,
            time_pad: 2 * padding.0,
        })
    }

    /// A `k×k×k` convolution with padding `p` everywhere (diffusers' `kernel_size=k, padding=p`).
    pub fn cube(in_ch: usize, out_ch: usize, k: usize, p: usize, vb: VarBuilder) -> Result<Self> {
        Self::new(in_ch, out_ch, (k, k, k), (1, 1, 1), (p, p), vb)
    }

    /// `[B, C, T, H, W]` → `[B, O, T', H', W']`; the time padding is `history` (the previous
    /// chunk's last frames) completed with zeros on the left. Without time padding the history
    /// is ignored, as in diffusers.
    pub fn forward(&self, x: &Tensor, history: Option<&Tensor>) -> Result<Tensor> {
        if self.time_pad == 0 {
            return self.conv.forward(x);
        }
        let history = match history {
            Some(h) => {
                let n = h.dim(2)?;
                // A longer history than the padding is cropped from the left (a negative pad).
                Some(h.narrow(2, n.saturating_sub(self.time_pad), n.min(self.time_pad))?)
            }
            None => None,
        };
        let used = history.as_ref().map_or(Ok(0), |h| h.dim(2))?;
        let zeros = self.time_pad - used;
        let mut parts = Vec::with_capacity(3);
        if zeros > 0 {
            let (b, c, _, h, w) = x.dims5()?;
            parts.push(Tensor::zeros((b, c, zeros, h, w), x.dtype(), x.device())?);
        }
        if let Some(h) = history {
            parts.push(h.to_dtype(x.dtype())?);
        }
        parts.push(x.clone());
        self.conv.forward(&Tensor::cat(&parts, 2)?)
    }

    /// One chunk through a cached call site: padded with the slot's history, which is then
    /// replaced by this chunk's ([`Slot::next_history`]).
    pub fn forward_cached(&self, x: &Tensor, slot: &mut Slot) -> Result<Tensor> {
        let history = slot.next_history(x)?;
        let y = self.forward(x, slot.frames())?;
        *slot = Slot::Frames(history);
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    fn frames(values: &[f32]) -> Tensor {
        Tensor::from_vec(values.to_vec(), (1, 1, values.len(), 1, 1), &Device::Cpu).unwrap()
    }

    fn to_vec(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// Kernel taps [1, 10, 100] over time: output t = x[t-2] + 10·x[t-1] + 100·x[t].
    fn time_conv() -> CausalConv3d {
        let w = Tensor::from_vec(vec![1f32, 10., 100.], (1, 1, 3, 1, 1), &Device::Cpu).unwrap();
        let b = Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap();
        let vb = VarBuilder::from_tensors(
            HashMap::from([("weight".to_string(), w), ("bias".to_string(), b)]),
            DType::F32,
            &Device::Cpu,
        );
        CausalConv3d::new(1, 1, (3, 1, 1), (1, 1, 1), (1, 0), vb).unwrap()
    }

    #[test]
    fn chunks_with_the_cache_equal_one_causal_pass() {
        let conv = time_conv();
        let whole = to_vec(
            &conv
                .forward(&frames(&[1., 2., 3., 4., 5., 6.]), None)
                .unwrap(),
        );
        assert_eq!(whole[0], 100.0);
        assert_eq!(whole[1], 210.0);
        assert_eq!(whole[5], 1.0 * 4. + 10. * 5. + 100. * 6.);
        let mut cache = TimeCache::new();
        let mut got = Vec::new();
        for chunk in [&[1f32][..], &[2., 3., 4., 5.], &[6.]] {
            cache.rewind();
            got.extend(to_vec(
                &conv.forward_cached(&frames(chunk), cache.slot()).unwrap(),
            ));
        }
        assert_eq!(got, whole);
    }

    #[test]
    fn history_after_rep_starts_with_a_zero_frame() {
        let h = Slot::Rep.next_history(&frames(&[7.])).unwrap();
        assert_eq!(to_vec(&h), vec![0.0, 7.0]);
        let h = Slot::Frames(frames(&[1., 2.]))
            .next_history(&frames(&[3.]))
            .unwrap();
        assert_eq!(to_vec(&h), vec![2.0, 3.0]);
        let h = Slot::Empty.next_history(&frames(&[4., 5., 6.])).unwrap();
        assert_eq!(to_vec(&h), vec![5.0, 6.0]);
    }
}
