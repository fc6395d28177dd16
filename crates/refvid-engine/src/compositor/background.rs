//! Painting the backdrop: sky and ground gradients, soft clouds, a sun glow and ground texture.
//!
//! It is painted once per clip at world resolution (frame plus camera margin) from a
//! [`Palette`] and seeded value noise. When the first subject is a photograph rather than a
//! cut-out, a blurred, enlarged copy of it is washed over the scene so the clip borrows the
//! photo's surroundings.

use image::{RgbImage, RgbaImage};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::palette::{Palette, Rgb};
use super::resample::{FloatImage, blur_image, resize, shrink_to};

/// How much of the blurred photo shows through the painted scene.
const PHOTO_WASH: f32 = 0.45;

/// Seeded scene features.
struct Features {
    horizon: f32,
    sun: (f32, f32, f32),
    cloud_scale: f32,
    noise_seed: u32,
}

fn features(w: f32, h: f32, rng: &mut ChaCha8Rng) -> Features {
    let horizon = h * rng.random_range(0.36..0.5);
    Features {
        horizon,
        sun: (
            w * rng.random_range(0.1..0.9),
            horizon * rng.random_range(0.25..0.6),
            w.min(h) * 0.05,
        ),
        cloud_scale: w.min(h) * rng.random_range(0.18..0.3),
        noise_seed: rng.random(),
    }
}

/// Paints a `w × h` backdrop.
pub fn paint(
    w: u32,
    h: u32,
    pal: &Palette,
    rng: &mut ChaCha8Rng,
    photo: Option<&RgbaImage>,
) -> RgbImage {
    let f = features(w as f32, h as f32, rng);
    let wash = photo.map(|p| blurred_photo(p, w as usize, h as usize));
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let mut c = scene_colour(fx, fy, h as f32, pal, &f);
        if let Some(img) = &wash {
            let p = img.px[y as usize * img.width + x as usize];
            c = mix(c, [p[0] * 255.0, p[1] * 255.0, p[2] * 255.0], PHOTO_WASH);
        }
        image::Rgb(c.map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}

fn scene_colour(x: f32, y: f32, h: f32, pal: &Palette, f: &Features) -> Rgb {
    // A soft horizon band instead of a hard line.
    let band = h * 0.02;
    let t = smoothstep(f.horizon - band, f.horizon + band, y);
    if t <= 0.0 {
        sky(x, y, pal, f)
    } else if t >= 1.0 {
        ground(x, y, h, pal, f)
    } else {
        mix(sky(x, y, pal, f), ground(x, y, h, pal, f), t)
    }
}

fn sky(x: f32, y: f32, pal: &Palette, f: &Features) -> Rgb {
    let t = (y / f.horizon).clamp(0.0, 1.0).powf(0.8);
    let mut c = mix(pal.sky_top, pal.sky_horizon, t);
    let (sx, sy, sr) = f.sun;
    let d = (x - sx).hypot(y - sy) / sr;
    let glow = if d < 1.0 {
        1.0
    } else {
        0.45 * (-(d - 1.0) * 0.9).exp()
    };
    c = mix(c, pal.sun, glow);
    // Clouds: stretched noise, thresholded, thinning towards the horizon.
    let n = fbm(
        x / (f.cloud_scale * 1.8),
        y / f.cloud_scale,
        f.noise_seed,
        3,
    );
    let cover = smoothstep(0.55, 0.78, n) * (1.0 - t * 0.7);
    mix(c, pal.cloud, cover * 0.8)
}

fn ground(x: f32, y: f32, h: f32, pal: &Palette, f: &Features) -> Rgb {
    let depth = ((y - f.horizon) / (h - f.horizon).max(1.0)).clamp(0.0, 1.0);
    let c = mix(pal.ground_far, pal.ground_near, depth);
    // Texture gets coarser towards the viewer, a cheap perspective cue.
    let scale = f.cloud_scale * (0.08 + 0.25 * depth);
    let n = fbm(x / (scale * 2.5), y / scale, f.noise_seed ^ 0x9e37_79b9, 2);
    let shade = 0.9 + 0.2 * n;
    c.map(|v| v * shade)
}

/// The photo shrunk to a few dozen pixels, blurred and enlarged: only its colours survive.
fn blurred_photo(photo: &RgbaImage, w: usize, h: usize) -> FloatImage {
    let src = FloatImage::from_rgba(&shrink_to(photo, 256));
    let long = src.width.max(src.height) as f32;
    let k = 32.0 / long;
    let mut small = resize(
        &src,
        (src.width as f32 * k).ceil() as usize,
        (src.height as f32 * k).ceil() as usize,
    );
    blur_image(&mut small, 2);
    // Cover the backdrop (crop rather than letterbox): scale the short way to fit.
    let cover = (w as f32 / small.width as f32).max(h as f32 / small.height as f32);
    let (cw, ch) = ((w as f32 / cover).max(1.0), (h as f32 / cover).max(1.0));
    let crop = crop_centre(&small, cw.round() as usize, ch.round() as usize);
    let mut big = resize(&crop, w, h);
    for p in &mut big.px {
        // Photos may be partly transparent: un-premultiply, treating clear as mid grey.
        let grey = (1.0 - p[3]) * 0.5;
        *p = [p[0] + grey, p[1] + grey, p[2] + grey, 1.0];
    }
    big
}

fn crop_centre(img: &FloatImage, w: usize, h: usize) -> FloatImage {
    let (w, h) = (w.clamp(1, img.width), h.clamp(1, img.height));
    let (x0, y0) = ((img.width - w) / 2, (img.height - h) / 2);
    let px = (y0..y0 + h)
        .flat_map(|y| img.px[y * img.width + x0..][..w].iter().copied())
        .collect();
    FloatImage {
        width: w,
        height: h,
        px,
    }
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t)
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// A pseudo-random value in `0..1` for a lattice point (an integer hash, no tables).
fn lattice(ix: i32, iy: i32, seed: u32) -> f32 {
    let mut h =
        (ix as u32).wrapping_mul(0x8da6_b343) ^ (iy as u32).wrapping_mul(0xd816_3841) ^ seed;
    h = (h ^ (h >> 15)).wrapping_mul(0x2c1b_3c6d);
    h = (h ^ (h >> 12)).wrapping_mul(0x297a_2d39);
    (h ^ (h >> 15)) as f32 / u32::MAX as f32
}

fn value_noise(x: f32, y: f32, seed: u32) -> f32 {
    let (ix, iy) = (x.floor(), y.floor());
    let (tx, ty) = (smoothstep(0.0, 1.0, x - ix), smoothstep(0.0, 1.0, y - iy));
    let (ix, iy) = (ix as i32, iy as i32);
    let top = lattice(ix, iy, seed) + (lattice(ix + 1, iy, seed) - lattice(ix, iy, seed)) * tx;
    let bottom = lattice(ix, iy + 1, seed)
        + (lattice(ix + 1, iy + 1, seed) - lattice(ix, iy + 1, seed)) * tx;
    top + (bottom - top) * ty
}

/// Fractal noise in `0..1`: octaves of value noise at doubling frequency, halving weight.
fn fbm(x: f32, y: f32, seed: u32, octaves: u32) -> f32 {
    let (mut sum, mut weight, mut total, mut freq) = (0.0, 0.5, 0.0, 1.0);
    for o in 0..octaves {
        sum += weight * value_noise(x * freq, y * freq, seed.wrapping_add(o * 7919));
        total += weight;
        weight *= 0.5;
        freq *= 2.0;
    }
    sum / total
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn pal() -> Palette {
        super::super::palette::choose("@cat on the lawn", &mut ChaCha8Rng::seed_from_u64(1))
    }

    #[test]
    fn sky_above_ground_below() {
        let img = paint(160, 90, &pal(), &mut ChaCha8Rng::seed_from_u64(2), None);
        let top = img.get_pixel(80, 1).0;
        let bottom = img.get_pixel(80, 88).0;
        assert!(top[2] > top[1] && top[2] > 150, "blue sky {top:?}");
        assert!(
            bottom[1] > bottom[0] && bottom[1] > bottom[2],
            "green ground {bottom:?}"
        );
    }

    #[test]
    fn a_photo_tints_the_backdrop() {
        let photo = RgbaImage::from_pixel(50, 30, image::Rgba([255, 0, 0, 255]));
        let plain = paint(64, 64, &pal(), &mut ChaCha8Rng::seed_from_u64(2), None);
        let washed = paint(
            64,
            64,
            &pal(),
            &mut ChaCha8Rng::seed_from_u64(2),
            Some(&photo),
        );
        let red = |img: &RgbImage| img.pixels().map(|p| p.0[0] as u64).sum::<u64>();
        assert!(red(&washed) > red(&plain) + 64 * 64 * 60);
    }

    #[test]
    fn noise_stays_in_range() {
        for i in 0..1000 {
            let v = fbm(i as f32 * 0.37 - 50.0, i as f32 * 0.11, 99, 3);
            assert!((0.0..=1.0).contains(&v));
        }
    }
}
