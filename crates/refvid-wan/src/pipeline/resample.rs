//! Pillow's `Image.resize(size, Image.LANCZOS)` for RGB8 images, reproduced to the byte.
//!
//! `VideoProcessor.preprocess` resizes each reference image with Pillow to sides rounded down to
//! multiples of 8 before anything else. Pillow's algorithm (`libImaging/Resample.c`): a separable
//! Lanczos-3 filter widened by the downscale factor, coefficients normalised per output pixel,
//! converted to 22-bit fixed point, a horizontal pass over the rows the vertical pass needs, then
//! a vertical pass, each rounding and clipping to 8 bits.

/// Fixed-point precision of the 8-bit coefficients (`32 − 8 − 2`).
const PRECISION_BITS: u32 = 22;
/// Lanczos support (a = 3).
const SUPPORT: f64 = 3.0;

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

fn lanczos(x: f64) -> f64 {
    if (-SUPPORT..SUPPORT).contains(&x) {
        sinc(x) * sinc(x / SUPPORT)
    } else {
        0.0
    }
}

/// Per output position: the first input index and the fixed-point weights.
struct Taps {
    start: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for resizing `in_size` → `out_size`.
fn taps(in_size: usize, out_size: usize) -> Taps {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = SUPPORT * filterscale;
    let mut start = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let k: Vec<f64> = (xmin..xmax)
            .map(|x| lanczos((x as f64 - center + 0.5) * ss))
            .collect();
        let ww: f64 = k.iter().sum();
        let fixed = k
            .iter()
            .map(|&w| {
                let w = if ww != 0.0 { w / ww } else { w };
                let v = w * f64::from(1u32 << PRECISION_BITS);
                (if v < 0.0 { v - 0.5 } else { v + 0.5 }) as i32
            })
            .collect();
        start.push(xmin);
        weights.push(fixed);
    }
    Taps { start, weights }
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// One filtered 8-bit value from `n` samples at `get(i)`.
fn filtered(weights: &[i32], get: impl Fn(usize) -> u8) -> u8 {
    let mut acc: i32 = 1 << (PRECISION_BITS - 1);
    for (i, &w) in weights.iter().enumerate() {
        acc = acc.wrapping_add(i32::from(get(i)).wrapping_mul(w));
    }
    clip8(acc)
}

/// Resizes interleaved RGB8 `src` (`w × h`) to `ow × oh` as Pillow's LANCZOS does.
pub fn lanczos_rgb8(src: &[u8], w: usize, h: usize, ow: usize, oh: usize) -> Vec<u8> {
    let horiz = taps(w, ow);
    let vert = taps(h, oh);
    // Rows the vertical pass reads.
    let first = vert.start[0];
    let last = vert.start[oh - 1] + vert.weights[oh - 1].len();
    let (tmp, tw, row0) = if ow != w {
        let mut tmp = vec![0u8; (last - first) * ow * 3];
        for y in first..last {
            for (x, (&x0, k)) in horiz.start.iter().zip(&horiz.weights).enumerate() {
                for c in 0..3 {
                    tmp[((y - first) * ow + x) * 3 + c] =
                        filtered(k, |i| src[(y * w + x0 + i) * 3 + c]);
                }
            }
        }
        (tmp, ow, first)
    } else {
        (src.to_vec(), w, 0)
    };
    if oh == h {
        return tmp;
    }
    let mut out = vec![0u8; oh * tw * 3];
    for (y, (&y0, k)) in vert.start.iter().zip(&vert.weights).enumerate() {
        for x in 0..tw {
            for c in 0..3 {
                out[(y * tw + x) * 3 + c] =
                    filtered(k, |i| tmp[((y0 - row0 + i) * tw + x) * 3 + c]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_images_stay_constant() {
        let src = vec![77u8; 13 * 11 * 3];
        let out = lanczos_rgb8(&src, 13, 11, 8, 8);
        assert_eq!(out.len(), 8 * 8 * 3);
        assert!(out.iter().all(|&v| v == 77), "{out:?}");
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        let t = taps(37, 32);
        for k in &t.weights {
            let s: i64 = k.iter().map(|&w| i64::from(w)).sum();
            assert!((s - (1 << PRECISION_BITS)).abs() <= k.len() as i64, "{s}");
        }
        // Downscaling widens the filter beyond 6 taps.
        assert!(t.weights.iter().any(|k| k.len() > 6));
    }
}
