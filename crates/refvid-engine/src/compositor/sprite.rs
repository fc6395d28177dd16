//! Turning a reference image into a ready-to-draw sprite, once per clip.
//!
//! The reference is shrunk to a working size, cut out of its backdrop, trimmed to the subject,
//! scaled to the largest size it will ever be drawn at (so per-frame sampling only shrinks it
//! slightly and never blurs it up) and premultiplied. Its blurred silhouette becomes the drop
//! shadow.

use image::RgbaImage;

use super::cutout::{self, Matte};
use super::raster::{Mask, PremulImage};
use super::resample::{FloatImage, blur_plane, fit_longest, resize, shrink_to};

/// Cutting out at twice the final size keeps outlines smooth without wasting time on
/// multi-megapixel references.
const WORK_OVERSIZE: usize = 2;
/// Alpha above which a pixel counts as part of the subject when trimming.
const TRIM_ALPHA: u8 = 8;

#[derive(Debug, Clone)]
pub struct Sprite {
    pub image: PremulImage,
    /// The silhouette, blurred, centred on the same point as `image`.
    pub shadow: Mask,
    /// Shadow offset from the sprite centre, in sprite pixels.
    pub shadow_offset: (f64, f64),
    pub matte: Matte,
}

/// Builds a sprite whose longer side is `longest` pixels (at least 1).
pub fn build(reference: &RgbaImage, longest: usize) -> Sprite {
    let longest = longest.max(1);
    let work = shrink_to(reference, longest * WORK_OVERSIZE);
    let (cut, matte) = cutout::cut_out(&work);
    let cut = trim(&cut);
    let (w, h) = fit_longest(cut.width() as usize, cut.height() as usize, longest);
    let scaled = resize(&FloatImage::from_rgba(&cut), w, h);
    let (shadow, shadow_offset) = drop_shadow(&scaled, longest);
    Sprite {
        image: scaled.to_premul(1),
        shadow,
        shadow_offset,
        matte,
    }
}

/// Crops to the bounding box of the visible pixels (the whole image if none are).
fn trim(img: &RgbaImage) -> RgbaImage {
    let visible = img
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0[3] > TRIM_ALPHA);
    let bounds = visible.fold(None, |b: Option<(u32, u32, u32, u32)>, (x, y, _)| {
        Some(b.map_or((x, y, x, y), |(x0, y0, x1, y1)| {
            (x0.min(x), y0.min(y), x1.max(x), y1.max(y))
        }))
    });
    match bounds {
        Some((x0, y0, x1, y1)) => {
            image::imageops::crop_imm(img, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image()
        }
        None => img.clone(),
    }
}

/// The silhouette blurred by a few percent of the sprite size, offset down and to the right
/// as if lit from the upper left.
fn drop_shadow(sprite: &FloatImage, longest: usize) -> (Mask, (f64, f64)) {
    let radius = (longest / 30).max(1);
    let pad = 3 * radius + 1;
    let (mut plane, w, h) = sprite.alpha_plane(pad);
    blur_plane(&mut plane, w, h, radius);
    let a = plane
        .iter()
        .map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
        .collect();
    let offset = (longest as f64 * 0.04, longest as f64 * 0.07);
    (
        Mask {
            width: w,
            height: h,
            a,
        },
        offset,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc_on_white(w: u32, h: u32) -> RgbaImage {
        RgbaImage::from_fn(w, h, |x, y| {
            let (dx, dy) = (x as f32 - w as f32 * 0.3, y as f32 - h as f32 * 0.5);
            if dx.hypot(dy) < h as f32 * 0.2 {
                image::Rgba([200, 0, 0, 255])
            } else {
                image::Rgba([255, 255, 255, 255])
            }
        })
    }

    #[test]
    fn sprites_are_trimmed_to_the_subject_and_sized() {
        let s = build(&disc_on_white(400, 200), 50);
        assert_eq!(s.matte, Matte::Cutout);
        // The disc is (nearly) square once trimmed: 50 px plus the one-pixel border.
        let (w, h) = (s.image.width, s.image.height);
        assert_eq!(w.max(h), 52);
        assert!(w.min(h) >= 49, "{w}x{h}");
        assert_eq!(s.image.px[0][3], 0);
        assert_eq!(s.image.px[h / 2 * w + w / 2], [200, 0, 0, 255]);
    }

    #[test]
    fn shadows_are_centred_with_the_sprite() {
        let s = build(&disc_on_white(300, 300), 60);
        assert_eq!(
            s.shadow.width - s.image.width,
            s.shadow.height - s.image.height
        );
        assert_eq!((s.shadow.width - s.image.width) % 2, 0);
    }

    #[test]
    fn degenerate_references_still_make_sprites() {
        for (w, h) in [(1, 1), (1, 300), (300, 1)] {
            let s = build(
                &RgbaImage::from_pixel(w, h, image::Rgba([9, 9, 9, 255])),
                40,
            );
            assert!(s.image.width >= 3 && s.image.height >= 3);
        }
    }
}
