//! The image rules of the contract, checked from the header before any pixel is decoded.

use image::{ImageFormat, ImageReader, Limits, RgbaImage};
use std::io::Cursor;

const MAX_BYTES: usize = 20 * 1024 * 1024;
const MAX_PIXELS: u64 = 40_000_000;
const MIN_SIDE: u32 = 128;
const MAX_RATIO: u64 = 4;

/// A reference image's container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefFormat {
    Png,
    Jpeg,
    WebP,
}

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    pub format: RefFormat,
    pub width: u32,
    pub height: u32,
}

/// A broken image rule, as a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImageRuleError(pub String);

fn rule(message: impl Into<String>) -> ImageRuleError {
    ImageRuleError(message.into())
}

fn sniff(bytes: &[u8]) -> Option<RefFormat> {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => Some(RefFormat::Png),
        [0xFF, 0xD8, 0xFF, ..] => Some(RefFormat::Jpeg),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some(RefFormat::WebP),
        _ => None,
    }
}

fn image_format(format: RefFormat) -> ImageFormat {
    match format {
        RefFormat::Png => ImageFormat::Png,
        RefFormat::Jpeg => ImageFormat::Jpeg,
        RefFormat::WebP => ImageFormat::WebP,
    }
}

/// Checks size, format, declared pixels, minimum size and ratio from the header alone.
pub fn inspect_reference(bytes: &[u8]) -> Result<ImageHeader, ImageRuleError> {
    if bytes.len() > MAX_BYTES {
        return Err(rule(format!(
            "image is {} bytes; at most 20 MiB ({MAX_BYTES} bytes) is allowed",
            bytes.len()
        )));
    }
    let format = sniff(bytes).ok_or_else(|| rule("image is not a PNG, JPEG or WebP file"))?;
    let reader = ImageReader::with_format(Cursor::new(bytes), image_format(format));
    let (width, height) = reader
        .into_dimensions()
        .map_err(|_| rule("image header could not be read"))?;
    check_dimensions(width, height)?;
    Ok(ImageHeader {
        format,
        width,
        height,
    })
}

fn check_dimensions(width: u32, height: u32) -> Result<(), ImageRuleError> {
    if width as u64 * height as u64 > MAX_PIXELS {
        return Err(rule(format!(
            "image declares {width}×{height} pixels ({:.1} megapixels); at most 40 megapixels is allowed",
            width as f64 * height as f64 / 1e6
        )));
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(rule(format!(
            "image is {width}×{height} pixels; at least 128×128 is required"
        )));
    }
    if width as u64 > MAX_RATIO * height as u64 || height as u64 > MAX_RATIO * width as u64 {
        return Err(rule(format!(
            "image is {width}×{height} pixels; its aspect ratio must be within 1:4 and 4:1"
        )));
    }
    Ok(())
}

/// Inspects, then decodes under limits, then checks the decoded size again.
pub fn decode_reference(bytes: &[u8]) -> Result<RgbaImage, ImageRuleError> {
    let header = inspect_reference(bytes)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format(header.format));
    let mut limits = Limits::default();
    limits.max_image_width = Some(header.width.max(MIN_SIDE));
    limits.max_image_height = Some(header.height.max(MIN_SIDE));
    limits.max_alloc = Some(MAX_PIXELS * 8);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| rule(format!("image could not be decoded: {e}")))?;
    check_dimensions(image.width(), image.height())?;
    Ok(image.to_rgba8())
}
