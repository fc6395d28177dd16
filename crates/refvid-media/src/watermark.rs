//! The visible watermark: "AI generated" text (or an operator's PNG) in a corner of every
//! frame, semi-transparent and scaled to the frame, drawn before encoding.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{RgbImage, Rgba, RgbaImage};

/// The bundled font for text marks (DejaVu Sans Bold, Bitstream Vera licence; see `assets/`).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans-Bold.ttf");
/// The text drawn when the operator gave no image.
pub const DEFAULT_TEXT: &str = "AI generated";
/// How opaque the mark is over the picture.
const OPACITY: f32 = 0.65;

/// What the mark shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatermarkSource {
    Text(String),
    /// PNG bytes supplied by the operator (transparency respected).
    Png(Vec<u8>),
}

impl Default for WatermarkSource {
    fn default() -> Self {
        Self::Text(DEFAULT_TEXT.to_string())
    }
}

/// Why a mark could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum WatermarkError {
    #[error("the watermark image could not be decoded: {0}")]
    Image(#[from] image::ImageError),
    #[error("the watermark text has nothing to draw")]
    Empty,
}

/// A mark prepared for one frame size: rendered once, blended into every frame.
#[derive(Debug, Clone)]
pub struct Watermark {
    mark: RgbaImage,
    x: u32,
    y: u32,
}

impl Watermark {
    /// Renders `source` for `width × height` frames, placed in the bottom-right corner.
    pub fn new(source: &WatermarkSource, width: u32, height: u32) -> Result<Self, WatermarkError> {
        let short = width.min(height) as f32;
        let mark = match source {
            WatermarkSource::Text(text) => render_text(text, (short * 0.045).max(10.0))?,
            WatermarkSource::Png(bytes) => {
                scale_png(bytes, (width as f32 * 0.18).max(16.0) as u32)?
            }
        };
        let margin = (short * 0.03) as u32;
        let x = width.saturating_sub(mark.width() + margin);
        let y = height.saturating_sub(mark.height() + margin);
        Ok(Self { mark, x, y })
    }

    /// The frame area the mark covers: `(x, y, width, height)`.
    pub fn region(&self) -> (u32, u32, u32, u32) {
        (self.x, self.y, self.mark.width(), self.mark.height())
    }

    /// Blends the mark into `frame`.
    pub fn apply(&self, frame: &mut RgbImage) {
        for (mx, my, px) in self.mark.enumerate_pixels() {
            let (fx, fy) = (self.x + mx, self.y + my);
            if fx >= frame.width() || fy >= frame.height() || px[3] == 0 {
                continue;
            }
            let alpha = px[3] as f32 / 255.0 * OPACITY;
            let dst = frame.get_pixel_mut(fx, fy);
            for c in 0..3 {
                dst[c] = (dst[c] as f32 * (1.0 - alpha) + px[c] as f32 * alpha).round() as u8;
            }
        }
    }
}

/// White text with a dark shadow, so it reads on light and dark pictures alike.
fn render_text(text: &str, px: f32) -> Result<RgbaImage, WatermarkError> {
    let font = FontRef::try_from_slice(FONT).expect("the bundled font parses");
    let scaled = font.as_scaled(PxScale::from(px));
    let shadow = (px / 14.0).ceil().max(1.0) as u32;
    let width = text
        .chars()
        .map(|c| scaled.h_advance(font.glyph_id(c)))
        .sum::<f32>()
        .ceil() as u32;
    let height = (scaled.ascent() - scaled.descent()).ceil() as u32;
    if width == 0 || text.trim().is_empty() {
        return Err(WatermarkError::Empty);
    }
    let mut coverage = vec![0f32; (width * height) as usize];
    let mut caret = 0.0;
    for c in text.chars() {
        let glyph = font
            .glyph_id(c)
            .with_scale_and_position(px, ab_glyph::point(caret, scaled.ascent()));
        caret += scaled.h_advance(font.glyph_id(c));
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, v| {
            let (x, y) = (
                bounds.min.x as i32 + gx as i32,
                bounds.min.y as i32 + gy as i32,
            );
            if x >= 0 && y >= 0 && (x as u32) < width && (y as u32) < height {
                let cell = &mut coverage[(y as u32 * width + x as u32) as usize];
                *cell = (*cell + v).min(1.0);
            }
        });
    }
    Ok(compose_with_shadow(&coverage, width, height, shadow))
}

fn compose_with_shadow(coverage: &[f32], width: u32, height: u32, shadow: u32) -> RgbaImage {
    let mut out = RgbaImage::new(width + shadow, height + shadow);
    for y in 0..height {
        for x in 0..width {
            let v = coverage[(y * width + x) as usize];
            if v > 0.0 {
                blend_over(&mut out, x + shadow, y + shadow, [0, 0, 0], v * 0.6);
            }
        }
    }
    for y in 0..height {
        for x in 0..width {
            let v = coverage[(y * width + x) as usize];
            if v > 0.0 {
                blend_over(&mut out, x, y, [255, 255, 255], v);
            }
        }
    }
    out
}

/// Porter-Duff "over" of a colour with coverage `a` onto an RGBA pixel.
fn blend_over(img: &mut RgbaImage, x: u32, y: u32, rgb: [u8; 3], a: f32) {
    let dst = img.get_pixel_mut(x, y);
    let da = dst[3] as f32 / 255.0;
    let oa = a + da * (1.0 - a);
    let mix =
        |s: u8, d: u8| ((s as f32 * a + d as f32 * da * (1.0 - a)) / oa.max(1e-6)).round() as u8;
    *dst = Rgba([
        mix(rgb[0], dst[0]),
        mix(rgb[1], dst[1]),
        mix(rgb[2], dst[2]),
        (oa * 255.0).round() as u8,
    ]);
}

fn scale_png(bytes: &[u8], target_width: u32) -> Result<RgbaImage, WatermarkError> {
    let image = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)?.to_rgba8();
    let target_height =
        ((image.height() as f32 * target_width as f32 / image.width().max(1) as f32).round()
            as u32)
            .max(1);
    Ok(image::imageops::resize(
        &image,
        target_width,
        target_height,
        image::imageops::FilterType::Lanczos3,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(w: u32, h: u32) -> RgbImage {
        RgbImage::from_pixel(w, h, image::Rgb([90, 110, 130]))
    }

    #[test]
    fn the_mark_changes_the_corner_and_nothing_else() {
        for (w, h) in [(1280, 720), (1080, 1920), (720, 720)] {
            let mark = Watermark::new(&WatermarkSource::default(), w, h).unwrap();
            let mut frame = grey(w, h);
            mark.apply(&mut frame);
            let (x, y, mw, mh) = mark.region();
            assert!(x > w / 2 && y > h / 2, "bottom-right corner");
            assert!(mh as f32 >= w.min(h) as f32 * 0.04, "scaled to the frame");
            let changed: Vec<(u32, u32)> = frame
                .enumerate_pixels()
                .filter(|(_, _, p)| p.0 != [90, 110, 130])
                .map(|(x, y, _)| (x, y))
                .collect();
            assert!(changed.len() > 200, "the mark is visible");
            assert!(
                changed
                    .iter()
                    .all(|&(cx, cy)| cx >= x && cx < x + mw && cy >= y && cy < y + mh)
            );
            let brightest = frame.pixels().map(|p| p[0]).max().unwrap();
            assert!(
                brightest > 150 && brightest < 255,
                "semi-transparent white, got {brightest}"
            );
        }
    }

    #[test]
    fn an_operator_png_is_scaled_and_used() {
        let logo = RgbaImage::from_pixel(100, 50, Rgba([255, 0, 0, 255]));
        let mut png = std::io::Cursor::new(Vec::new());
        logo.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let mark = Watermark::new(&WatermarkSource::Png(png.into_inner()), 1920, 1080).unwrap();
        let (_, _, mw, mh) = mark.region();
        assert_eq!((mw, mh), (345, 173));
        let mut frame = grey(1920, 1080);
        mark.apply(&mut frame);
        let (x, y, _, _) = mark.region();
        let p = frame.get_pixel(x + 10, y + 10);
        assert!(p[0] > 180 && p[1] < 80, "red at 65% over grey: {p:?}");
    }

    #[test]
    fn empty_text_is_an_error() {
        assert!(Watermark::new(&WatermarkSource::Text("  ".into()), 640, 360).is_err());
    }
}
