//! Preparation-time image processing: high-quality resizing and blurring, in floating point
//! (after an 8-bit halving of very large images).
//!
//! This runs once per clip (sprites, backdrop), never per frame, so it favours quality over
//! speed: a separable tent filter whose support widens with the reduction ratio averages every
//! source pixel when shrinking a large reference (no aliasing), and is plain bilinear when
//! enlarging. Pixels are premultiplied so transparent areas never bleed their colour.

use image::RgbaImage;

use super::raster::PremulImage;

/// A premultiplied RGBA image with channels in `0.0..=1.0`.
#[derive(Debug, Clone)]
pub struct FloatImage {
    pub width: usize,
    pub height: usize,
    pub px: Vec<[f32; 4]>,
}

impl FloatImage {
    pub fn from_rgba(img: &RgbaImage) -> Self {
        let px = img
            .pixels()
            .map(|p| {
                let [r, g, b, a] = p.0.map(|v| v as f32 / 255.0);
                [r * a, g * a, b * a, a]
            })
            .collect();
        FloatImage {
            width: img.width() as usize,
            height: img.height() as usize,
            px,
        }
    }

    /// Back to straight (non-premultiplied) 8-bit RGBA.
    pub fn to_rgba(&self) -> RgbaImage {
        RgbaImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let p = self.px[y as usize * self.width + x as usize];
            let inv = if p[3] > 0.0 { 1.0 / p[3] } else { 0.0 };
            image::Rgba([
                to_u8(p[0] * inv),
                to_u8(p[1] * inv),
                to_u8(p[2] * inv),
                to_u8(p[3]),
            ])
        })
    }

    /// 8-bit premultiplied copy with `pad` transparent pixels on every side.
    pub fn to_premul(&self, pad: usize) -> PremulImage {
        let (w, h) = (self.width + 2 * pad, self.height + 2 * pad);
        let mut px = vec![[0u8; 4]; w * h];
        for y in 0..self.height {
            let row = &self.px[y * self.width..(y + 1) * self.width];
            let out = &mut px[(y + pad) * w + pad..][..self.width];
            for (o, p) in out.iter_mut().zip(row) {
                // Round colour no higher than alpha so the premultiplied invariant holds.
                let a = to_u8(p[3]);
                *o = [
                    to_u8(p[0]).min(a),
                    to_u8(p[1]).min(a),
                    to_u8(p[2]).min(a),
                    a,
                ];
            }
        }
        PremulImage {
            width: w,
            height: h,
            px,
        }
    }

    /// The alpha channel with `pad` zero pixels on every side: `(plane, width, height)`.
    pub fn alpha_plane(&self, pad: usize) -> (Vec<f32>, usize, usize) {
        let (w, h) = (self.width + 2 * pad, self.height + 2 * pad);
        let mut plane = vec![0.0; w * h];
        for y in 0..self.height {
            for x in 0..self.width {
                plane[(y + pad) * w + x + pad] = self.px[y * self.width + x][3];
            }
        }
        (plane, w, h)
    }
}

pub fn to_u8(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

/// A copy no larger than `limit` on its longer side.
pub fn shrink_to(img: &RgbaImage, limit: usize) -> RgbaImage {
    // Halve huge references in 8 bits first: a float copy of a 50-megapixel photo is 800 MB.
    let mut halved: Option<RgbaImage> = None;
    loop {
        let current = halved.as_ref().unwrap_or(img);
        if (current.width().max(current.height()) as usize) < 2 * limit.max(1) {
            break;
        }
        halved = Some(halve(current));
    }
    let img = halved.as_ref().unwrap_or(img);
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w.max(h) <= limit {
        return img.clone();
    }
    let (nw, nh) = fit_longest(w, h, limit);
    resize(&FloatImage::from_rgba(img), nw, nh).to_rgba()
}

/// Half size by averaging 2×2 blocks, colours weighted by alpha (an odd last row or column is
/// dropped).
fn halve(img: &RgbaImage) -> RgbaImage {
    RgbaImage::from_fn(
        (img.width() / 2).max(1),
        (img.height() / 2).max(1),
        |x, y| {
            let (mut sum, mut alpha) = ([0u32; 3], 0u32);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let p = img
                    .get_pixel(
                        (2 * x + dx).min(img.width() - 1),
                        (2 * y + dy).min(img.height() - 1),
                    )
                    .0;
                (0..3).for_each(|c| sum[c] += p[c] as u32 * p[3] as u32);
                alpha += p[3] as u32;
            }
            let colour = sum.map(|s| (s + alpha / 2).checked_div(alpha).unwrap_or(0) as u8);
            image::Rgba([colour[0], colour[1], colour[2], ((alpha + 2) / 4) as u8])
        },
    )
}

/// `w × h` scaled so the longer side is `longest`, each side at least 1.
pub fn fit_longest(w: usize, h: usize, longest: usize) -> (usize, usize) {
    let k = longest as f64 / w.max(h).max(1) as f64;
    (
        ((w as f64 * k).round() as usize).max(1),
        ((h as f64 * k).round() as usize).max(1),
    )
}

/// The source pixels one output pixel averages and their weights (summing to 1).
struct Kernel {
    start: usize,
    weights: Vec<f32>,
}

fn kernels(src_len: usize, dst_len: usize) -> Vec<Kernel> {
    let ratio = src_len as f64 / dst_len as f64;
    let support = ratio.max(1.0);
    (0..dst_len)
        .map(|o| {
            let centre = (o as f64 + 0.5) * ratio - 0.5;
            let lo = ((centre - support).floor() + 1.0).max(0.0) as usize;
            let hi = ((centre + support).ceil() as usize)
                .min(src_len)
                .max(lo + 1);
            let raw: Vec<f64> = (lo..hi)
                .map(|i| (1.0 - (i as f64 - centre).abs() / support).max(1e-6))
                .collect();
            let sum: f64 = raw.iter().sum();
            Kernel {
                start: lo,
                weights: raw.iter().map(|w| (w / sum) as f32).collect(),
            }
        })
        .collect()
}

/// Resizes to `width × height` (each at least 1).
pub fn resize(src: &FloatImage, width: usize, height: usize) -> FloatImage {
    let (width, height) = (width.max(1), height.max(1));
    let (kx, ky) = (kernels(src.width, width), kernels(src.height, height));
    let mut tmp = vec![[0.0f32; 4]; width * src.height];
    for y in 0..src.height {
        let row = &src.px[y * src.width..(y + 1) * src.width];
        for (out, k) in tmp[y * width..(y + 1) * width].iter_mut().zip(&kx) {
            for (w, p) in k.weights.iter().zip(&row[k.start..]) {
                (0..4).for_each(|c| out[c] += w * p[c]);
            }
        }
    }
    let mut px = vec![[0.0f32; 4]; width * height];
    for (y, k) in ky.iter().enumerate() {
        let out = &mut px[y * width..(y + 1) * width];
        for (j, w) in k.weights.iter().enumerate() {
            let row = &tmp[(k.start + j) * width..][..width];
            for (o, p) in out.iter_mut().zip(row) {
                (0..4).for_each(|c| o[c] += w * p[c]);
            }
        }
    }
    FloatImage { width, height, px }
}

/// Approximately Gaussian blur of a plane: three box passes each way, edges clamped.
pub fn blur_plane(plane: &mut [f32], width: usize, height: usize, radius: usize) {
    if radius == 0 || width == 0 || height == 0 {
        return;
    }
    let mut line = Vec::new();
    for _ in 0..3 {
        for row in plane.chunks_mut(width) {
            box_line(row, &mut line, radius);
        }
        let mut t = transpose(plane, width, height);
        for col in t.chunks_mut(height) {
            box_line(col, &mut line, radius);
        }
        plane.copy_from_slice(&transpose(&t, height, width));
    }
}

fn box_line(data: &mut [f32], scratch: &mut Vec<f32>, r: usize) {
    scratch.clear();
    scratch.extend_from_slice(data);
    let n = data.len() as isize;
    let at = |i: isize| scratch[i.clamp(0, n - 1) as usize];
    let norm = 1.0 / (2 * r + 1) as f32;
    let r = r as isize;
    let mut sum: f32 = (-r..=r).map(at).sum();
    for (i, out) in data.iter_mut().enumerate() {
        *out = sum * norm;
        let i = i as isize;
        sum += at(i + r + 1) - at(i - r);
    }
}

fn transpose(plane: &[f32], width: usize, height: usize) -> Vec<f32> {
    let mut out = vec![0.0; plane.len()];
    for y in 0..height {
        for x in 0..width {
            out[x * height + y] = plane[y * width + x];
        }
    }
    out
}

/// Blurs every channel of an image.
pub fn blur_image(img: &mut FloatImage, radius: usize) {
    for c in 0..4 {
        let mut plane: Vec<f32> = img.px.iter().map(|p| p[c]).collect();
        blur_plane(&mut plane, img.width, img.height, radius);
        img.px.iter_mut().zip(plane).for_each(|(p, v)| p[c] = v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(w: usize, h: usize, v: [f32; 4]) -> FloatImage {
        FloatImage {
            width: w,
            height: h,
            px: vec![v; w * h],
        }
    }

    #[test]
    fn resizing_a_flat_image_keeps_it_flat() {
        for (w, h) in [(1, 1), (3, 200), (640, 7)] {
            let out = resize(&flat(37, 23, [0.2, 0.4, 0.6, 1.0]), w, h);
            assert_eq!((out.width, out.height), (w, h));
            for p in &out.px {
                assert!(
                    (p[1] - 0.4).abs() < 1e-4 && (p[3] - 1.0).abs() < 1e-4,
                    "{p:?}"
                );
            }
        }
    }

    #[test]
    fn shrinking_averages_fine_detail_instead_of_aliasing() {
        let mut img = flat(64, 64, [0.0; 4]);
        for (i, p) in img.px.iter_mut().enumerate() {
            let v = ((i % 64 + i / 64) % 2) as f32;
            *p = [v, v, v, 1.0];
        }
        let out = resize(&img, 8, 8);
        assert!(out.px.iter().all(|p| (p[0] - 0.5).abs() < 0.05));
    }

    #[test]
    fn huge_references_are_halved_then_resized_to_the_limit() {
        let img = RgbaImage::from_pixel(5000, 120, image::Rgba([10, 200, 30, 255]));
        let out = shrink_to(&img, 600);
        assert_eq!(out.width(), 600);
        assert!(out.pixels().all(|p| p.0 == [10, 200, 30, 255]));
        let halved = halve(&RgbaImage::from_fn(2, 2, |x, _| {
            image::Rgba([200, 0, 0, if x == 0 { 255 } else { 0 }])
        }));
        assert_eq!(halved.get_pixel(0, 0).0, [200, 0, 0, 128]);
    }

    #[test]
    fn blur_preserves_the_mean_of_an_interior_spot() {
        let (w, h) = (41, 41);
        let mut plane = vec![0.0; w * h];
        plane[20 * w + 20] = 1.0;
        blur_plane(&mut plane, w, h, 3);
        let sum: f32 = plane.iter().sum();
        assert!((sum - 1.0).abs() < 1e-3, "{sum}");
        assert!(plane[20 * w + 20] < 0.1 && plane[20 * w + 20] > plane[20 * w + 25]);
    }
}
