//! The reference-image rules, on images generated here in every accepted format.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use refvid_media::{RefFormat, decode_reference, inspect_reference};

fn picture(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    })
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(picture(w, h).as_raw(), w, h, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(picture(w, h).as_raw(), w, h, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn webp(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(picture(w, h).as_raw(), w, h, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// CRC-32 (IEEE) for patching PNG chunks.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid small PNG whose IHDR is rewritten to declare `w × h` (with a correct CRC).
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = png(128, 128);
    assert_eq!(&bytes[12..16], b"IHDR");
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

#[test]
fn accepted_formats_report_format_and_size() {
    for (bytes, format) in [
        (png(300, 200), RefFormat::Png),
        (jpeg(200, 300), RefFormat::Jpeg),
        (webp(256, 128), RefFormat::WebP),
    ] {
        let header = inspect_reference(&bytes).unwrap();
        assert_eq!(header.format, format);
        let decoded = decode_reference(&bytes).unwrap();
        assert_eq!(
            (decoded.width(), decoded.height()),
            (header.width, header.height)
        );
    }
    assert_eq!(inspect_reference(&png(300, 200)).unwrap().width, 300);
    assert_eq!(inspect_reference(&jpeg(200, 300)).unwrap().height, 300);
}

#[test]
fn decoded_pixels_are_the_encoded_ones() {
    let decoded = decode_reference(&png(130, 140)).unwrap();
    assert_eq!(decoded.get_pixel(129, 139).0, [129, 139, 128, 255]);
    let decoded = decode_reference(&webp(200, 150)).unwrap();
    assert_eq!(decoded.get_pixel(10, 20).0, [10, 20, 128, 255]);
}

#[test]
fn a_header_declaring_100_megapixels_is_refused_without_decoding() {
    let bomb = png_declaring(10_000, 10_000);
    let err = inspect_reference(&bomb).unwrap_err().to_string();
    assert_eq!(
        err,
        "image declares 10000×10000 pixels (100.0 megapixels); at most 40 megapixels is allowed"
    );
    let err = decode_reference(&bomb).unwrap_err().to_string();
    assert!(err.contains("40 megapixels"), "{err}");
    // Just under the limit is accepted by the header check (the pixels are not there, so decoding fails).
    let header = inspect_reference(&png_declaring(8000, 5000)).unwrap();
    assert_eq!((header.width, header.height), (8000, 5000));
    assert!(decode_reference(&png_declaring(8000, 5000)).is_err());
}

#[test]
fn too_small_images_are_refused_with_the_numbers() {
    let err = inspect_reference(&png(100, 90)).unwrap_err().to_string();
    assert_eq!(err, "image is 100×90 pixels; at least 128×128 is required");
    assert!(inspect_reference(&jpeg(128, 127)).is_err());
    assert!(inspect_reference(&webp(127, 128)).is_err());
    assert!(inspect_reference(&png(128, 128)).is_ok());
}

#[test]
fn aspect_ratio_must_be_within_1_to_4_and_4_to_1_inclusive() {
    assert!(inspect_reference(&png(512, 128)).is_ok());
    assert!(inspect_reference(&png(128, 512)).is_ok());
    let err = inspect_reference(&png(514, 128)).unwrap_err().to_string();
    assert!(err.contains("514×128") && err.contains("1:4"), "{err}");
    assert!(inspect_reference(&jpeg(128, 520)).is_err());
}

#[test]
fn garbage_gif_and_truncated_files_are_refused() {
    assert!(inspect_reference(b"hello, this is not an image at all").is_err());
    assert!(inspect_reference(&[]).is_err());
    let gif = b"GIF89a\x80\x00\x80\x00\x00\x00\x00;".to_vec();
    let err = inspect_reference(&gif).unwrap_err().to_string();
    assert!(err.contains("PNG, JPEG or WebP"), "{err}");
    let truncated = &png(300, 300)[..20];
    assert!(inspect_reference(truncated).is_err());
    // Header intact, pixel data cut off: inspection passes, decoding fails.
    let mut broken = png(300, 300);
    broken.truncate(broken.len() * 2 / 3);
    assert!(inspect_reference(&broken).is_ok());
    assert!(decode_reference(&broken).is_err());
}

#[test]
fn files_over_20_mib_are_refused_before_anything_else() {
    let mut big = png(300, 300);
    big.resize(20 * 1024 * 1024 + 1, 0);
    let err = inspect_reference(&big).unwrap_err().to_string();
    assert_eq!(
        err,
        "image is 20971521 bytes; at most 20 MiB (20971520 bytes) is allowed"
    );
}
