//! Cutting a subject out of its reference image.
//!
//! Product shots and clip art usually sit on a plain backdrop. When the image border is nearly
//! one colour, everything connected to the border within a colour tolerance of it is backdrop:
//! a flood fill from the edges finds it (so a white belly inside a cat on white stays opaque,
//! being enclosed), and a small inward blur of the resulting mask gives a soft edge without a
//! halo of backdrop colour. Images that already carry transparency are kept as they are;
//! photographs (busy borders) become a card with rounded corners instead.

use image::RgbaImage;

/// Largest RGB distance from the border colour still counted as backdrop. Generous enough for
/// JPEG noise and faint vignetting, tight enough to stop at pastel subjects.
const TOLERANCE: f32 = 48.0;
/// Share of border pixels that must be near the border colour for it to count as a backdrop.
const UNIFORM_SHARE: f32 = 0.85;
/// Border pixels more transparent than this mean the reference is already cut out.
const CLEAR_ALPHA: u8 = 128;

/// How the sprite's outline was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matte {
    /// The reference had its own transparency.
    Own,
    /// A plain backdrop was removed.
    Cutout,
    /// Kept whole, with rounded corners (a photograph).
    Card,
}

/// Returns the reference with its alpha channel set to the subject's outline.
pub fn cut_out(img: &RgbaImage) -> (RgbaImage, Matte) {
    let border = border_pixels(img);
    let clear = border.iter().filter(|p| p[3] < CLEAR_ALPHA).count();
    if clear * 4 >= border.len() {
        return (img.clone(), Matte::Own);
    }
    if let Some(backdrop) = uniform_colour(&border) {
        let mask = flood_backdrop(img, backdrop);
        let share = mask.iter().filter(|&&b| b).count() as f32 / mask.len() as f32;
        // Nearly nothing or nearly everything removed means the guess was wrong.
        if (0.02..0.97).contains(&share) {
            return (soft_matte(img, &mask, backdrop), Matte::Cutout);
        }
    }
    (rounded_card(img), Matte::Card)
}

fn border_pixels(img: &RgbaImage) -> Vec<[u8; 4]> {
    let (w, h) = img.dimensions();
    let mut out = Vec::with_capacity(2 * (w + h) as usize);
    for x in 0..w {
        out.push(img.get_pixel(x, 0).0);
        out.push(img.get_pixel(x, h - 1).0);
    }
    for y in 1..h.saturating_sub(1) {
        out.push(img.get_pixel(0, y).0);
        out.push(img.get_pixel(w - 1, y).0);
    }
    out
}

/// The per-channel median of the border if most of the border is close to it.
fn uniform_colour(border: &[[u8; 4]]) -> Option<[u8; 3]> {
    let median = [0, 1, 2].map(|c| {
        let mut v: Vec<u8> = border.iter().map(|p| p[c]).collect();
        v.sort_unstable();
        v[v.len() / 2]
    });
    let near = border
        .iter()
        .filter(|p| distance(p, median) <= TOLERANCE)
        .count();
    (near as f32 >= UNIFORM_SHARE * border.len() as f32).then_some(median)
}

fn distance(p: &[u8; 4], c: [u8; 3]) -> f32 {
    let sq: f32 = (0..3).map(|i| (p[i] as f32 - c[i] as f32).powi(2)).sum();
    sq.sqrt()
}

/// Marks the pixels connected to the border whose colour is within tolerance of `backdrop`.
fn flood_backdrop(img: &RgbaImage, backdrop: [u8; 3]) -> Vec<bool> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px = |i: usize| img.get_pixel((i % w) as u32, (i / w) as u32).0;
    let is_bg = |i: usize| distance(&px(i), backdrop) <= TOLERANCE;
    let mut mask = vec![false; w * h];
    let mut stack = edge_indices(w, h);
    while let Some(i) = stack.pop() {
        if mask[i] || !is_bg(i) {
            continue;
        }
        mask[i] = true;
        let (x, y) = (i % w, i / w);
        if x > 0 {
            stack.push(i - 1)
        }
        if x + 1 < w {
            stack.push(i + 1)
        }
        if y > 0 {
            stack.push(i - w)
        }
        if y + 1 < h {
            stack.push(i + w)
        }
    }
    mask
}

/// Indices of the pixels on the image's edges (corners may repeat).
fn edge_indices(w: usize, h: usize) -> Vec<usize> {
    let rows = (0..w).flat_map(|x| [x, (h - 1) * w + x]);
    let cols = (0..h).flat_map(|y| [y * w, y * w + w - 1]);
    rows.chain(cols).collect()
}

/// Alpha from the backdrop mask: zero on the backdrop, blurred inwards at the outline. Pixels
/// in that edge band are also part backdrop colour (anti-aliasing, or blending when the
/// reference was shrunk), so each is un-mixed: no light rim around the subject.
fn soft_matte(img: &RgbaImage, backdrop: &[bool], colour: [u8; 3]) -> RgbaImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut plane: Vec<f32> = backdrop
        .iter()
        .map(|&b| if b { 0.0 } else { 1.0 })
        .collect();
    let radius = (w.min(h) / 200).max(1);
    super::resample::blur_plane(&mut plane, w, h, radius);
    let mut out = img.clone();
    for (i, p) in out.pixels_mut().enumerate() {
        let soft = if backdrop[i] {
            0.0
        } else {
            plane[i].clamp(0.0, 1.0)
        };
        let alpha = if soft > 0.0 && soft < 0.999 {
            let pure = subject_distance(img, backdrop, colour, (i % w, i / w), radius + 3);
            unmix_edge(&mut p.0, colour, pure).min(soft)
        } else {
            soft
        };
        p.0[3] = (p.0[3] as f32 * alpha).round() as u8;
    }
    out
}

/// How far the subject's own colour near `at` is from the backdrop: the largest distance among
/// the subject pixels within `r`. An edge pixel's share of that distance is its coverage.
fn subject_distance(
    img: &RgbaImage,
    backdrop: &[bool],
    colour: [u8; 3],
    at: (usize, usize),
    r: usize,
) -> f32 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut best = TOLERANCE * 1.5;
    for y in at.1.saturating_sub(r)..(at.1 + r + 1).min(h) {
        for x in at.0.saturating_sub(r)..(at.0 + r + 1).min(w) {
            if !backdrop[y * w + x] {
                best = best.max(distance(&img.get_pixel(x as u32, y as u32).0, colour));
            }
        }
    }
    best
}

/// Treats an edge pixel as `subject * a + backdrop * (1 - a)`, where the pure subject lies
/// `pure` away from the backdrop; recovers the subject colour in place and returns `a`.
fn unmix_edge(p: &mut [u8; 4], backdrop: [u8; 3], pure: f32) -> f32 {
    let a = (distance(p, backdrop) / pure).clamp(0.0, 1.0);
    if a > 0.02 {
        for c in 0..3 {
            let b = backdrop[c] as f32;
            p[c] = (b + (p[c] as f32 - b) / a).round().clamp(0.0, 255.0) as u8;
        }
    }
    a
}

/// The whole image with anti-aliased rounded corners.
fn rounded_card(img: &RgbaImage) -> RgbaImage {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let r = (w.min(h) * 0.08).max(1.0);
    let mut out = img.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (cx, cy) = (x as f32 + 0.5, y as f32 + 0.5);
        // Distance past the rounded corner's arc; zero along the straight edges and inside.
        let dx = (r - cx).max(cx - (w - r)).max(0.0);
        let dy = (r - cy).max(cy - (h - r)).max(0.0);
        let outside = (dx * dx + dy * dy).sqrt() - r;
        let cover = (0.5 - outside).clamp(0.0, 1.0);
        p.0[3] = (p.0[3] as f32 * cover).round() as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc(w: u32, h: u32) -> RgbaImage {
        RgbaImage::from_fn(w, h, |x, y| {
            let (dx, dy) = (x as f32 - w as f32 / 2.0, y as f32 - h as f32 / 2.0);
            if dx.hypot(dy) < w.min(h) as f32 * 0.35 {
                image::Rgba([220, 20, 30, 255])
            } else {
                image::Rgba([250, 250, 248, 255])
            }
        })
    }

    fn noise(w: u32, h: u32) -> RgbaImage {
        RgbaImage::from_fn(w, h, |x, y| {
            let v = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)).wrapping_mul(97) as u8;
            image::Rgba([v, v.wrapping_mul(3), v.wrapping_add(90), 255])
        })
    }

    #[test]
    fn plain_backdrop_is_removed_and_subject_kept() {
        let (out, matte) = cut_out(&disc(120, 80));
        assert_eq!(matte, Matte::Cutout);
        assert_eq!(out.get_pixel(0, 0).0[3], 0);
        assert_eq!(out.get_pixel(5, 40).0[3], 0);
        assert_eq!(out.get_pixel(60, 40).0[3], 255);
    }

    #[test]
    fn enclosed_backdrop_coloured_regions_stay_opaque() {
        let mut img = disc(100, 100);
        for y in 45..55 {
            for x in 45..55 {
                img.put_pixel(x, y, image::Rgba([250, 250, 248, 255]));
            }
        }
        let (out, _) = cut_out(&img);
        assert_eq!(out.get_pixel(50, 50).0[3], 255);
    }

    #[test]
    fn anti_aliased_edges_keep_the_subject_colour_not_the_backdrop() {
        // A red disc blended into white over a 4-pixel ramp, as a shrunk photo would be.
        let img = RgbaImage::from_fn(100, 100, |x, y| {
            let d = (x as f32 - 50.0).hypot(y as f32 - 50.0);
            let t = ((d - 30.0) / 4.0).clamp(0.0, 1.0);
            let mix = |s: f32| (s + (255.0 - s) * t) as u8;
            image::Rgba([mix(220.0), mix(0.0), mix(0.0), 255])
        });
        let (out, matte) = cut_out(&img);
        assert_eq!(matte, Matte::Cutout);
        let edge: Vec<_> = out
            .pixels()
            .filter(|p| p.0[3] > 0 && p.0[3] < 255)
            .collect();
        assert!(!edge.is_empty());
        for p in edge {
            assert!(p.0[1] < 60 && p.0[0] > 150, "pinkish edge pixel {p:?}");
        }
    }

    #[test]
    fn busy_photo_becomes_a_rounded_card() {
        let (out, matte) = cut_out(&noise(90, 60));
        assert_eq!(matte, Matte::Card);
        assert_eq!(out.get_pixel(0, 0).0[3], 0);
        assert_eq!(out.get_pixel(45, 0).0[3], 255);
        assert_eq!(out.get_pixel(45, 30).0[3], 255);
    }

    #[test]
    fn existing_transparency_is_kept() {
        let mut img = disc(40, 40);
        img.pixels_mut()
            .filter(|p| p.0[0] > 240)
            .for_each(|p| p.0[3] = 0);
        let (out, matte) = cut_out(&img);
        assert_eq!(matte, Matte::Own);
        assert_eq!(out, img);
    }

    #[test]
    fn tiny_references_do_not_panic() {
        for (w, h) in [(1, 1), (1, 9), (9, 1), (2, 2)] {
            let _ = cut_out(&disc(w, h));
            let _ = cut_out(&noise(w, h));
        }
    }
}
