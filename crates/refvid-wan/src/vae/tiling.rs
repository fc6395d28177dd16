//! Spatial tiling (diffusers' `enable_tiling`): large frames are encoded or decoded as
//! overlapping tiles whose seams are blended linearly.
//!
//! Tiles start every `stride` pixels and are `tile_sample_min` pixels wide (smaller at the right
//! and bottom edges). Each tile runs through the whole chunked encoder or decoder with its own
//! time cache. In output space a tile is blended with the tile above and the tile to its left
//! (each already blended, in row-major order) over `blend` rows/columns, weights going linearly
//! from the neighbour to itself, then cropped to the output stride; the rows are joined and
//! cropped to the output size. Encode works with latent sizes (`size / 8`, so a blend of
//! `min/8 − stride/8` latents), decode with pixel sizes (a blend of `min − stride` pixels).
//!
//! Only the previous row of tiles is kept while a row is processed, so besides the output the
//! memory is that of two rows of tiles; one tile at a time goes through the network.

use candle_core::{Result, Tensor};

use crate::error::WanError;

/// Tile sizes in pixels (diffusers' `tile_sample_*` attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaeTiling {
    /// Tile height; frames taller than this are tiled.
    pub tile_sample_min_height: usize,
    /// Tile width; frames wider than this are tiled.
    pub tile_sample_min_width: usize,
    /// Vertical distance between tile starts.
    pub tile_sample_stride_height: usize,
    /// Horizontal distance between tile starts.
    pub tile_sample_stride_width: usize,
}

impl Default for VaeTiling {
    /// diffusers' defaults: 256-pixel tiles every 192 pixels (a 64-pixel overlap).
    fn default() -> Self {
        Self {
            tile_sample_min_height: 256,
            tile_sample_min_width: 256,
            tile_sample_stride_height: 192,
            tile_sample_stride_width: 192,
        }
    }
}

impl VaeTiling {
    /// Checks that tiles cover the frame: `spatial ≤ stride ≤ min` each way.
    pub fn validate(&self, spatial: usize) -> crate::Result<()> {
        for (what, min, stride) in [
            (
                "height",
                self.tile_sample_min_height,
                self.tile_sample_stride_height,
            ),
            (
                "width",
                self.tile_sample_min_width,
                self.tile_sample_stride_width,
            ),
        ] {
            if stride < spatial || stride > min {
                return Err(WanError::Input(format!(
                    "tiling: tile_sample_stride_{what} {stride} must be between the spatial \
                     scale {spatial} and tile_sample_min_{what} {min}"
                )));
            }
        }
        Ok(())
    }

    /// Whether a `h × w` pixel frame is encoded in tiles.
    pub fn tiles_encode(&self, h: usize, w: usize) -> bool {
        w > self.tile_sample_min_width || h > self.tile_sample_min_height
    }

    /// Whether a `h × w` latent frame is decoded in tiles.
    pub fn tiles_decode(&self, h: usize, w: usize, spatial: usize) -> bool {
        w > self.tile_sample_min_width / spatial || h > self.tile_sample_min_height / spatial
    }

    /// The geometry of tiled encoding for a `h × w` pixel frame: (rows, columns).
    pub(crate) fn encode_axes(&self, h: usize, w: usize, spatial: usize) -> (Axis, Axis) {
        let axis = |len: usize, min: usize, stride: usize| Axis {
            len,
            tile: min,
            stride,
            out_stride: stride / spatial,
            blend: min / spatial - stride / spatial,
            out_len: len / spatial,
        };
        (
            axis(
                h,
                self.tile_sample_min_height,
                self.tile_sample_stride_height,
            ),
            axis(w, self.tile_sample_min_width, self.tile_sample_stride_width),
        )
    }

    /// The geometry of tiled decoding for a `h × w` latent frame: (rows, columns).
    pub(crate) fn decode_axes(&self, h: usize, w: usize, spatial: usize) -> (Axis, Axis) {
        let axis = |len: usize, min: usize, stride: usize| Axis {
            len,
            tile: min / spatial,
            stride: stride / spatial,
            out_stride: stride,
            blend: min - stride,
            out_len: len * spatial,
        };
        (
            axis(
                h,
                self.tile_sample_min_height,
                self.tile_sample_stride_height,
            ),
            axis(w, self.tile_sample_min_width, self.tile_sample_stride_width),
        )
    }
}

/// How one spatial axis is tiled: input tiles of `tile` every `stride`, output tiles blended over
/// `blend` and cropped to `out_stride`, the whole cropped to `out_len`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Axis {
    len: usize,
    tile: usize,
    stride: usize,
    out_stride: usize,
    blend: usize,
    out_len: usize,
}

impl Axis {
    /// `(start, length)` of each input tile.
    fn tiles(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.len)
            .step_by(self.stride)
            .map(|s| (s, self.tile.min(self.len - s)))
    }
}

/// Runs `run` on every tile of `x` (`[B, C, T, H, W]`) and assembles the blended result.
pub(crate) fn run_tiled(
    x: &Tensor,
    rows: Axis,
    cols: Axis,
    mut run: impl FnMut(&Tensor) -> crate::Result<Tensor>,
) -> crate::Result<Tensor> {
    let mut prev_row: Vec<Tensor> = Vec::new();
    let mut joined_rows = Vec::new();
    for (i, (y0, th)) in rows.tiles().enumerate() {
        let mut row: Vec<Tensor> = Vec::new();
        let mut cropped = Vec::new();
        for (j, (x0, tw)) in cols.tiles().enumerate() {
            let mut tile = run(&x.narrow(3, y0, th)?.narrow(4, x0, tw)?)?;
            if i > 0 {
                tile = blend(&prev_row[j], &tile, 3, rows.blend)?;
            }
            if j > 0 {
                tile = blend(&row[j - 1], &tile, 4, cols.blend)?;
            }
            cropped.push(crop(&crop(&tile, 3, rows.out_stride)?, 4, cols.out_stride)?);
            row.push(tile);
        }
        joined_rows.push(Tensor::cat(&cropped, 4)?);
        prev_row = row;
    }
    drop(prev_row);
    let out = Tensor::cat(&joined_rows, 3)?;
    Ok(crop(&crop(&out, 3, rows.out_len)?, 4, cols.out_len)?)
}

/// The first `n` entries of axis `dim` (all of them if fewer).
fn crop(t: &Tensor, dim: usize, n: usize) -> Result<Tensor> {
    t.narrow(dim, 0, n.min(t.dim(dim)?))
}

/// diffusers' `blend_v` / `blend_h`: the first `e` entries of `b` along `dim` become
/// `a[len − e + k]·(1 − k/e) + b[k]·(k/e)`, with `e = min(extent, len(a), len(b))`.
fn blend(a: &Tensor, b: &Tensor, dim: usize, extent: usize) -> Result<Tensor> {
    let (la, lb) = (a.dim(dim)?, b.dim(dim)?);
    let e = extent.min(la).min(lb);
    if e == 0 {
        return Ok(b.clone());
    }
    let ramp: Vec<f32> = (0..e).map(|k| (k as f64 / e as f64) as f32).collect();
    let keep: Vec<f32> = (0..e).map(|k| (1.0 - k as f64 / e as f64) as f32).collect();
    let mut shape = vec![1; b.rank()];
    shape[dim] = e;
    let ramp = Tensor::from_vec(ramp, shape.clone(), b.device())?.to_dtype(b.dtype())?;
    let keep = Tensor::from_vec(keep, shape, b.device())?.to_dtype(b.dtype())?;
    let mixed = (a.narrow(dim, la - e, e)?.broadcast_mul(&keep)?
        + b.narrow(dim, 0, e)?.broadcast_mul(&ramp)?)?;
    if e == lb {
        return Ok(mixed);
    }
    Tensor::cat(&[&mixed, &b.narrow(dim, e, lb - e)?], dim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn blend_ramps_from_the_neighbour() {
        let dev = Device::Cpu;
        let a = Tensor::from_vec(vec![10f32, 20., 30., 40.], (1, 1, 1, 1, 4), &dev).unwrap();
        let b = Tensor::from_vec(vec![0f32, 0., 0., 7.], (1, 1, 1, 1, 4), &dev).unwrap();
        let y: Vec<f32> = blend(&a, &b, 4, 2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // k = 0: all of a[2] = 30; k = 1: half of a[3] = 20; then b as it was.
        assert_eq!(y, vec![30.0, 20.0, 0.0, 7.0]);
    }

    #[test]
    fn tiles_cover_the_axis() {
        let t = VaeTiling {
            tile_sample_min_height: 32,
            tile_sample_min_width: 32,
            tile_sample_stride_height: 16,
            tile_sample_stride_width: 16,
        };
        let (rows, cols) = t.encode_axes(40, 48, 8);
        assert_eq!(
            rows.tiles().collect::<Vec<_>>(),
            vec![(0, 32), (16, 24), (32, 8)]
        );
        assert_eq!(cols.tiles().count(), 3);
        assert_eq!((rows.blend, rows.out_stride, rows.out_len), (2, 2, 5));
        let (rows, _) = t.decode_axes(5, 6, 8);
        assert_eq!(
            rows.tiles().collect::<Vec<_>>(),
            vec![(0, 4), (2, 3), (4, 1)]
        );
        assert_eq!((rows.blend, rows.out_stride, rows.out_len), (16, 16, 40));
        assert!(t.validate(8).is_ok());
        let bad = VaeTiling {
            tile_sample_stride_width: 4,
            ..t
        };
        assert!(bad.validate(8).unwrap_err().to_string().contains("width"));
    }
}
