//! Per-frame drawing: a source image is mapped onto the frame by a scale-and-translate
//! transform, sampled bilinearly and blended in.
//!
//! Everything here runs once per frame, so it is integer-only: coordinates are turned into
//! fixed-point taps with 8-bit fractions once per row and column (the transform has no rotation,
//! so a row shares its vertical tap and a column its horizontal one). Integer arithmetic also
//! makes the frames bit-identical on every platform.

use std::ops::Range;

use image::RgbImage;

/// A premultiplied RGBA image, row-major. Sprites are stored with a one-pixel transparent
/// border so bilinear sampling fades their edges out instead of clamping to a hard edge.
#[derive(Debug, Clone)]
pub struct PremulImage {
    pub width: usize,
    pub height: usize,
    pub px: Vec<[u8; 4]>,
}

/// A single-channel coverage mask (the soft drop shadow under a sprite).
#[derive(Debug, Clone)]
pub struct Mask {
    pub width: usize,
    pub height: usize,
    pub a: Vec<u8>,
}

/// Where a source image lands on the frame: its centre at `(cx, cy)` in frame pixels, each
/// source pixel `scale` frame pixels wide.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub cx: f64,
    pub cy: f64,
    pub scale: f64,
}

/// One bilinear tap along an axis: the lower source index and the weight of the next one
/// (`0..=256`).
#[derive(Debug, Clone, Copy)]
struct Tap {
    src: usize,
    frac: u32,
}

/// The output pixels `first..first + taps.len()` along one axis and where each samples.
struct AxisMap {
    first: usize,
    taps: Vec<Tap>,
}

/// Maps one axis. With `cover`, every output pixel gets a tap (clamped to the source's edge);
/// without it, only the pixels whose sample falls inside the source.
fn axis_map(out_len: usize, src_len: usize, centre: f64, scale: f64, cover: bool) -> AxisMap {
    if src_len < 2 || scale <= 0.0 || !scale.is_finite() {
        return AxisMap {
            first: 0,
            taps: Vec::new(),
        };
    }
    let step = 1.0 / scale;
    // Source coordinate of output pixel x (pixel centres at +0.5 on both sides).
    let origin = (0.5 - centre) * step + src_len as f64 * 0.5 - 0.5;
    let last = (src_len - 1) as f64;
    let range = if cover {
        0..out_len
    } else {
        inside(out_len, origin, step, last)
    };
    let taps = range
        .clone()
        .map(|x| tap_at((origin + x as f64 * step).clamp(0.0, last), src_len))
        .collect();
    AxisMap {
        first: range.start,
        taps,
    }
}

/// The output pixels whose source coordinate `origin + x * step` lies in `0..=last`.
fn inside(out_len: usize, origin: f64, step: f64, last: f64) -> Range<usize> {
    let lo = (-origin / step).ceil().max(0.0);
    let hi = (((last - origin) / step).floor() + 1.0).min(out_len as f64);
    if hi <= lo {
        return 0..0;
    }
    lo as usize..hi as usize
}

fn tap_at(u: f64, src_len: usize) -> Tap {
    let fixed = (u * 256.0).floor() as usize;
    // The last pixel is reached as "the one before it, fully weighted" so `src + 1` stays valid.
    let src = (fixed >> 8).min(src_len - 2);
    Tap {
        src,
        frac: (fixed - src * 256) as u32,
    }
}

/// Calls `f(frame_index, source_index, fx, fy)` for every frame pixel the placed source covers;
/// `source_index` is the top-left of the 2×2 bilinear neighbourhood.
fn for_each_sample(
    frame: (usize, usize),
    src: (usize, usize),
    p: Placement,
    cover: bool,
    mut f: impl FnMut(usize, usize, u32, u32),
) {
    let cols = axis_map(frame.0, src.0, p.cx, p.scale, cover);
    let rows = axis_map(frame.1, src.1, p.cy, p.scale, cover);
    for (j, row) in rows.taps.iter().enumerate() {
        let out_row = (rows.first + j) * frame.0 + cols.first;
        let src_row = row.src * src.0;
        for (i, col) in cols.taps.iter().enumerate() {
            f(out_row + i, src_row + col.src, col.frac, row.frac);
        }
    }
}

#[inline(always)]
fn bilerp(p00: u8, p10: u8, p01: u8, p11: u8, fx: u32, fy: u32) -> u32 {
    let top = p00 as u32 * (256 - fx) + p10 as u32 * fx;
    let bottom = p01 as u32 * (256 - fx) + p11 as u32 * fx;
    (top * (256 - fy) + bottom * fy + 32768) >> 16
}

fn dims(img: &RgbImage) -> (usize, usize) {
    (img.width() as usize, img.height() as usize)
}

/// Overwrites every frame pixel with the opaque `src` (the backdrop); pixels the source does
/// not reach take its nearest edge, so no stale pixels survive from the previous frame.
pub fn draw_opaque(frame: &mut RgbImage, src: &RgbImage, p: Placement) {
    let (fsize, ssize) = (dims(frame), dims(src));
    let (s, w) = (src.as_raw(), ssize.0);
    let out: &mut [u8] = frame;
    for_each_sample(fsize, ssize, p, true, |o, i, fx, fy| {
        let (a, b, c, d) = (i * 3, (i + 1) * 3, (i + w) * 3, (i + w + 1) * 3);
        for ch in 0..3 {
            let v = bilerp(s[a + ch], s[b + ch], s[c + ch], s[d + ch], fx, fy);
            out[o * 3 + ch] = v as u8;
        }
    });
}

/// Blends a premultiplied sprite over the frame ("over" operator).
pub fn draw_sprite(frame: &mut RgbImage, img: &PremulImage, p: Placement) {
    let fsize = dims(frame);
    let (px, w) = (&img.px, img.width);
    let out: &mut [u8] = frame;
    for_each_sample(fsize, (img.width, img.height), p, false, |o, i, fx, fy| {
        let (a, b, c, d) = (px[i], px[i + 1], px[i + w], px[i + w + 1]);
        let alpha = bilerp(a[3], b[3], c[3], d[3], fx, fy);
        if alpha == 0 {
            return;
        }
        let keep = 255 - alpha;
        for ch in 0..3 {
            let src = bilerp(a[ch], b[ch], c[ch], d[ch], fx, fy);
            let dst = &mut out[o * 3 + ch];
            *dst = (src + (*dst as u32 * keep + 127) / 255).min(255) as u8;
        }
    });
}

/// Tints the frame towards `colour` where the mask covers it, `opacity` in `0..=256`.
pub fn draw_mask(frame: &mut RgbImage, mask: &Mask, p: Placement, colour: [u8; 3], opacity: u32) {
    let fsize = dims(frame);
    let (a, w) = (&mask.a, mask.width);
    let out: &mut [u8] = frame;
    for_each_sample(
        fsize,
        (mask.width, mask.height),
        p,
        false,
        |o, i, fx, fy| {
            let k = (bilerp(a[i], a[i + 1], a[i + w], a[i + w + 1], fx, fy) * opacity) >> 8;
            if k == 0 {
                return;
            }
            for (ch, &c) in colour.iter().enumerate() {
                let dst = &mut out[o * 3 + ch];
                *dst = ((*dst as u32 * (255 - k) + c as u32 * k + 127) / 255) as u8;
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 11) as u8, ((x + y) % 2 * 255) as u8])
        })
    }

    #[test]
    fn identity_placement_copies_exactly() {
        let src = checker(9, 5);
        let mut frame = RgbImage::new(9, 5);
        draw_opaque(
            &mut frame,
            &src,
            Placement {
                cx: 4.5,
                cy: 2.5,
                scale: 1.0,
            },
        );
        assert_eq!(frame, src);
    }

    #[test]
    fn opaque_draw_covers_every_pixel_even_past_the_source() {
        let src = RgbImage::from_pixel(4, 4, image::Rgb([10, 20, 30]));
        let mut frame = RgbImage::from_pixel(16, 8, image::Rgb([255, 255, 255]));
        draw_opaque(
            &mut frame,
            &src,
            Placement {
                cx: 8.0,
                cy: 4.0,
                scale: 1.0,
            },
        );
        assert!(frame.pixels().all(|p| p.0 == [10, 20, 30]));
    }

    #[test]
    fn sprite_blends_only_inside_its_footprint() {
        let mut px = vec![[0u8; 4]; 5 * 5];
        for y in 1..4 {
            for x in 1..4 {
                px[y * 5 + x] = [200, 0, 0, 200];
            }
        }
        let sprite = PremulImage {
            width: 5,
            height: 5,
            px,
        };
        let mut frame = RgbImage::from_pixel(20, 20, image::Rgb([0, 0, 100]));
        draw_sprite(
            &mut frame,
            &sprite,
            Placement {
                cx: 10.0,
                cy: 10.0,
                scale: 2.0,
            },
        );
        let centre = frame.get_pixel(10, 10).0;
        assert_eq!(centre[0], 200);
        assert!(centre[2] < 30, "{centre:?}");
        assert_eq!(frame.get_pixel(0, 0).0, [0, 0, 100]);
        assert_eq!(frame.get_pixel(19, 19).0, [0, 0, 100]);
    }

    #[test]
    fn off_frame_placements_draw_nothing() {
        let sprite = PremulImage {
            width: 3,
            height: 3,
            px: vec![[255; 4]; 9],
        };
        let mut frame = RgbImage::new(8, 8);
        draw_sprite(
            &mut frame,
            &sprite,
            Placement {
                cx: -50.0,
                cy: 4.0,
                scale: 1.0,
            },
        );
        draw_sprite(
            &mut frame,
            &sprite,
            Placement {
                cx: 4.0,
                cy: 90.0,
                scale: 1.0,
            },
        );
        assert!(frame.pixels().all(|p| p.0 == [0, 0, 0]));
    }
}
