//! The VACE conditioning of a reference-to-video call, as `WanVACEPipeline` builds it without an
//! input video: reference images placed on white canvases, the 64-channel mask, and latent
//! normalisation.
//!
//! - [`Reference`] → [`preprocess_reference`]: an RGB8 image becomes `[3, H', W']` in −1..1 with
//!   `H'`, `W'` rounded down to multiples of 8 (`VideoProcessor.preprocess`; PIL's Lanczos resize,
//!   reproduced by [`crate::pipeline::resample`], when a side is not a multiple of 8).
//! - [`place_on_canvas`]: bilinear resize (torch `interpolate(..., "bilinear",
//!   align_corners=False)`, no antialias) to fit `(H, W)` keeping the aspect ratio, centred on a
//!   canvas of ones (white).
//! - [`vace_mask`]: a `[F, H, W]` pixel mask becomes `[64, T, H/8, W/8]`: a space-to-depth of the
//!   8×8 pixel blocks, resized in time to the latent frame count with `nearest-exact`, and `n_ref`
//!   zero frames prepended for the references.
//! - [`LatentStats`]: `(z − mean) / std` and back, with `1/std` rounded to f32 as diffusers does.

use candle_core::{DType, Device, Tensor};

use crate::error::{Result, WanError};

/// The spatial (8) and temporal (4) compression of the Wan 2.1 VAE.
pub const VAE_SCALE_SPATIAL: usize = 8;
/// See [`VAE_SCALE_SPATIAL`].
pub const VAE_SCALE_TEMPORAL: usize = 4;

/// The latent shape `[1, z, T + n_ref, H/8, W/8]` of a `width × height` video of `num_frames`
/// frames (`T = (F − 1)/4 + 1`) with `n_ref` reference frames.
pub fn latent_shape(
    z: usize,
    width: usize,
    height: usize,
    num_frames: usize,
    n_ref: usize,
) -> (usize, usize, usize, usize, usize) {
    let t = (num_frames - 1) / VAE_SCALE_TEMPORAL + 1 + n_ref;
    let s = VAE_SCALE_SPATIAL;
    (1, z, t, height / s, width / s)
}

/// A reference image.
#[derive(Debug, Clone)]
pub enum Reference {
    /// Interleaved RGB bytes, `height` rows of `width` pixels.
    Rgb8 {
        width: usize,
        height: usize,
        data: Vec<u8>,
    },
    /// `[3, H, W]` in −1..1, as `VideoProcessor.preprocess` returns it (used as given).
    Tensor(Tensor),
}

/// The reference as `[3, H', W']` f32 in −1..1 (see the module docs).
pub fn preprocess_reference(r: &Reference, device: &Device) -> Result<Tensor> {
    match r {
        Reference::Tensor(t) => {
            let (c, _, _) = t.dims3().map_err(|_| {
                WanError::Input(format!(
                    "reference image tensor must be [3, H, W], got {:?}",
                    t.dims()
                ))
            })?;
            if c != 3 {
                return Err(WanError::Input(format!(
                    "reference image tensor must have 3 channels, got {:?}",
                    t.dims()
                )));
            }
            Ok(t.to_dtype(DType::F32)?.to_device(device)?)
        }
        Reference::Rgb8 {
            width,
            height,
            data,
        } => {
            if data.len() != width * height * 3 || *width < 8 || *height < 8 {
                return Err(WanError::Input(format!(
                    "reference image {width}x{height} needs {} RGB bytes and sides of at least 8, \
                     got {} bytes",
                    width * height * 3,
                    data.len()
                )));
            }
            let (w8, h8) = (width - width % 8, height - height % 8);
            let rgb = if (w8, h8) == (*width, *height) {
                data.clone()
            } else {
                super::resample::lanczos_rgb8(data, *width, *height, w8, h8)
            };
            // pil_to_numpy (/255 in f32), then normalize (2x − 1).
            let planar: Vec<f32> = (0..3)
                .flat_map(|c| rgb.iter().skip(c).step_by(3))
                .map(|&v| 2.0 * (f32::from(v) / 255.0) - 1.0)
                .collect();
            Ok(Tensor::from_vec(planar, (3, h8, w8), device)?)
        }
    }
}

/// Index and weights of one output position of torch's bilinear interpolation
/// (`align_corners=False`): `src = max(scale·(i + ½) − ½, 0)`, `scale = in/out` in f32.
fn linear_taps(out: usize, inp: usize) -> Vec<(usize, usize, f32, f32)> {
    let scale = inp as f32 / out as f32;
    (0..out)
        .map(|i| {
            let src = (scale * (i as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(inp - 1);
            let lambda = (src - i0 as f32).clamp(0.0, 1.0);
            let i1 = if i0 < inp - 1 { i0 + 1 } else { i0 };
            (i0, i1, 1.0 - lambda, lambda)
        })
        .collect()
}

/// Bilinear resize of one `[h, w]` plane to `[oh, ow]`, summing as torch's CPU kernel does:
/// `(a·w0 + b·w1)·h0 + (c·w0 + d·w1)·h1`.
fn bilinear_plane(src: &[f32], (h, w): (usize, usize), (oh, ow): (usize, usize)) -> Vec<f32> {
    let ys = linear_taps(oh, h);
    let xs = linear_taps(ow, w);
    let mut out = Vec::with_capacity(oh * ow);
    for &(y0, y1, hy0, hy1) in &ys {
        for &(x0, x1, wx0, wx1) in &xs {
            let top = src[y0 * w + x0] * wx0 + src[y0 * w + x1] * wx1;
            let bottom = src[y1 * w + x0] * wx0 + src[y1 * w + x1] * wx1;
            out.push(top * hy0 + bottom * hy1);
        }
    }
    out
}

/// The size the reference is resized to: `⌊h·s⌋ × ⌊w·s⌋` with `s = min(H/h, W/w)`.
pub fn fitted_size((h, w): (usize, usize), (big_h, big_w): (usize, usize)) -> (usize, usize) {
    let s = (big_h as f64 / h as f64).min(big_w as f64 / w as f64);
    ((h as f64 * s) as usize, (w as f64 * s) as usize)
}

/// Resizes `image` `[3, h, w]` to fit `(height, width)` keeping its aspect ratio and centres it
/// on a white (1.0) canvas `[3, height, width]`.
pub fn place_on_canvas(image: &Tensor, height: usize, width: usize) -> Result<Tensor> {
    let (c, h, w) = image.dims3()?;
    let (nh, nw) = fitted_size((h, w), (height, width));
    if nh == 0 || nw == 0 {
        return Err(WanError::Input(format!(
            "reference image {w}x{h} is too thin for a {width}x{height} canvas"
        )));
    }
    let src: Vec<f32> = image.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let (top, left) = ((height - nh) / 2, (width - nw) / 2);
    let mut canvas = vec![1f32; c * height * width];
    for ch in 0..c {
        let plane = bilinear_plane(&src[ch * h * w..(ch + 1) * h * w], (h, w), (nh, nw));
        for (y, row) in plane.chunks(nw).enumerate() {
            let start = ch * height * width + (top + y) * width + left;
            canvas[start..start + nw].copy_from_slice(row);
        }
    }
    Ok(Tensor::from_vec(
        canvas,
        (c, height, width),
        image.device(),
    )?)
}

/// `nearest-exact` source indices for resizing `inp` positions to `out`:
/// `min(⌊(i + ½)·inp/out⌋, inp − 1)`.
pub fn nearest_exact_indices(out: usize, inp: usize) -> Vec<u32> {
    let scale = inp as f32 / out as f32;
    (0..out)
        .map(|i| (((i as f32 + 0.5) * scale).floor() as usize).min(inp - 1) as u32)
        .collect()
}

/// The VACE mask `[64, T + n_ref, H/8, W/8]` of a pixel mask `[F, H, W]` (1 = generate), with
/// `T = ⌈F / 4⌉` (diffusers' `prepare_masks`).
pub fn vace_mask(mask: &Tensor, n_ref: usize) -> Result<Tensor> {
    let (f, h, w) = mask.dims3()?;
    let s = VAE_SCALE_SPATIAL;
    if h % s != 0 || w % s != 0 {
        return Err(WanError::Input(format!(
            "mask {w}x{h} is not a multiple of {s} pixels"
        )));
    }
    let (lh, lw) = (h / s, w / s);
    let t = f.div_ceil(VAE_SCALE_TEMPORAL);
    let blocks = mask
        .reshape((f, lh, s, lw, s))?
        .permute((2, 4, 0, 1, 3))?
        .reshape((s * s, f, lh, lw))?;
    let idx = Tensor::new(nearest_exact_indices(t, f), mask.device())?;
    let resized = blocks.index_select(&idx, 1)?;
    Ok(resized.pad_with_zeros(1, n_ref, 0)?)
}

/// `latents_mean` and `latents_std` of the VAE, for (de)normalising latents `[B, z, T, h, w]`.
#[derive(Debug, Clone)]
pub struct LatentStats {
    /// `[1, z, 1, 1, 1]` f32.
    mean: Tensor,
    /// `1/std` `[1, z, 1, 1, 1]` f32 (diffusers stores the reciprocal).
    inv_std: Tensor,
}

impl LatentStats {
    /// From the config's vectors (`mean.len() == std.len() == z_dim`).
    pub fn new(mean: &[f64], std: &[f64], device: &Device) -> Result<Self> {
        if mean.len() != std.len() || mean.is_empty() {
            return Err(WanError::Input(format!(
                "latents_mean has {} entries, latents_std {}",
                mean.len(),
                std.len()
            )));
        }
        let z = mean.len();
        let m: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
        let inv: Vec<f32> = std.iter().map(|&v| 1.0 / v as f32).collect();
        Ok(Self {
            mean: Tensor::from_vec(m, (1, z, 1, 1, 1), device)?,
            inv_std: Tensor::from_vec(inv, (1, z, 1, 1, 1), device)?,
        })
    }

    /// `(z − mean) · (1/std)`, in f32.
    pub fn normalize(&self, z: &Tensor) -> Result<Tensor> {
        Ok(z.to_dtype(DType::F32)?
            .broadcast_sub(&self.mean)?
            .broadcast_mul(&self.inv_std)?)
    }

    /// `z / (1/std) + mean`, in f32.
    pub fn denormalize(&self, z: &Tensor) -> Result<Tensor> {
        Ok(z.to_dtype(DType::F32)?
            .broadcast_div(&self.inv_std)?
            .broadcast_add(&self.mean)?)
    }
}

/// Frames `[B, 3, F, H, W]` in −1..1 → `[F, H, W, 3]` in 0..1 (first batch item), as
/// `postprocess_video(output_type="np")`: `(x/2 + ½)` clamped.
pub fn frames_to_unit_range(video: &Tensor) -> Result<Tensor> {
    let v = video.get(0)?.to_dtype(DType::F32)?;
    let v = v.affine(0.5, 0.5)?.clamp(0f32, 1f32)?;
    Ok(v.permute((1, 2, 3, 0))?.contiguous()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_size_keeps_aspect() {
        assert_eq!(fitted_size((24, 40), (48, 64)), (38, 64));
        assert_eq!(fitted_size((48, 32), (48, 64)), (48, 32));
        assert_eq!(fitted_size((48, 64), (48, 64)), (48, 64));
    }

    #[test]
    fn canvas_is_white_around_a_centred_image() -> Result<()> {
        // A 2x2 black image on a 4x8 canvas: scaled to 4x4, columns 2..6.
        let img = Tensor::full(-1f32, (3, 2, 2), &Device::Cpu)?;
        let c = place_on_canvas(&img, 4, 8)?;
        let row: Vec<f32> = c.get(0)?.get(1)?.to_vec1()?;
        assert_eq!(row, vec![1., 1., -1., -1., -1., -1., 1., 1.]);
        Ok(())
    }

    #[test]
    fn bilinear_matches_torch_on_a_ramp() {
        // Upscaling 4 → 8: src = 0.5·(i + ½) − ½, clamped at 0; torch gives
        // [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3].
        let out = bilinear_plane(&[0., 1., 2., 3.], (1, 4), (1, 8));
        assert_eq!(out, vec![0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]);
    }

    #[test]
    fn nearest_exact_picks_centres() {
        assert_eq!(nearest_exact_indices(3, 9), vec![1, 4, 7]);
        assert_eq!(nearest_exact_indices(21, 81)[..3], [1, 5, 9]);
        assert_eq!(nearest_exact_indices(4, 2), vec![0, 0, 1, 1]);
    }

    #[test]
    fn mask_is_space_to_depth_with_zero_reference_frames() -> Result<()> {
        // 5 frames of 8x16 pixels; mark one pixel of the last frame's second block.
        let mut data = vec![0f32; 5 * 8 * 16];
        data[4 * 128 + 3 * 16 + 8 + 5] = 1.0; // frame 4, y = 3, x = 13 → block (0, 1), (3, 5)
        let m = Tensor::from_vec(data, (5, 8, 16), &Device::Cpu)?;
        let v = vace_mask(&m, 2)?;
        assert_eq!(v.dims(), &[64, 2 + 2, 1, 2]);
        // T = ceil(5/4) = 2 latent frames; nearest-exact picks frames 1 and 3 → the mark (frame
        // 4) is dropped; with an all-ones mask everything past the reference frames is one.
        assert_eq!(v.sum_all()?.to_scalar::<f32>()?, 0.0);
        let ones = vace_mask(&Tensor::ones((5, 8, 16), DType::F32, &Device::Cpu)?, 2)?;
        assert_eq!(ones.sum_all()?.to_scalar::<f32>()?, (64 * 2 * 2) as f32);
        assert_eq!(ones.narrow(1, 0, 2)?.sum_all()?.to_scalar::<f32>()?, 0.0);
        // Channel order: (row-in-block, column-in-block) = 3·8 + 5.
        let m9 = {
            let mut d = vec![0f32; 8 * 16];
            d[3 * 16 + 8 + 5] = 1.0;
            Tensor::from_vec(d, (1, 8, 16), &Device::Cpu)?
        };
        let v9 = vace_mask(&m9, 0)?;
        assert_eq!(v9.get(29)?.flatten_all()?.to_vec1::<f32>()?, vec![0.0, 1.0]);
        Ok(())
    }

    #[test]
    fn rgb8_references_are_normalised() -> Result<()> {
        let data: Vec<u8> = (0..8 * 8).flat_map(|_| [0u8, 255, 51]).collect();
        let t = preprocess_reference(
            &Reference::Rgb8 {
                width: 8,
                height: 8,
                data,
            },
            &Device::Cpu,
        )?;
        assert_eq!(t.dims(), &[3, 8, 8]);
        let first: Vec<f32> = (0..3)
            .map(|c| t.get(c)?.get(0)?.get(0)?.to_scalar::<f32>())
            .collect::<candle_core::Result<_>>()?;
        assert_eq!(first, vec![-1.0, 1.0, 2.0 * (51.0 / 255.0) - 1.0]);
        let bad = Reference::Rgb8 {
            width: 8,
            height: 8,
            data: vec![0; 5],
        };
        assert!(preprocess_reference(&bad, &Device::Cpu).is_err());
        Ok(())
    }

    #[test]
    fn latent_stats_round_trip() -> Result<()> {
        let s = LatentStats::new(&[0.5, -1.0], &[2.0, 0.25], &Device::Cpu)?;
        let z = Tensor::new(&[1f32, 3.0], &Device::Cpu)?.reshape((1, 2, 1, 1, 1))?;
        let n = s.normalize(&z)?;
        assert_eq!(n.flatten_all()?.to_vec1::<f32>()?, vec![0.25, 16.0]);
        let back = s.denormalize(&n)?;
        assert_eq!(back.flatten_all()?.to_vec1::<f32>()?, vec![1.0, 3.0]);
        Ok(())
    }
}
