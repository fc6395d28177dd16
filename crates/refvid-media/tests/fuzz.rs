//! Property tests over the image gate: arbitrary and corrupted PNG/JPEG/WebP bytes are refused
//! or decoded, never a panic, and whatever decodes obeys the rules.
//! CI runs a small case count; `scripts/fuzz.sh` runs many more.

use image::{ImageFormat, RgbaImage};
use proptest::prelude::*;
use refvid_media::{decode_reference, inspect_reference};
use std::io::Cursor;

fn encoded(format: ImageFormat) -> Vec<u8> {
    let img = RgbaImage::from_fn(160, 140, |x, y| {
        image::Rgba([(x * 3) as u8, (y * 5) as u8, ((x + y) * 2) as u8, 255])
    });
    let mut out = Cursor::new(Vec::new());
    match format {
        ImageFormat::Jpeg => image::DynamicImage::ImageRgba8(img)
            .to_rgb8()
            .write_to(&mut out, format)
            .unwrap(),
        _ => img.write_to(&mut out, format).unwrap(),
    }
    out.into_inner()
}

fn check(bytes: &[u8]) {
    let _ = inspect_reference(bytes);
    if let Ok(img) = decode_reference(bytes) {
        let (w, h) = img.dimensions();
        assert!(w >= 128 && h >= 128 && (w as u64) * (h as u64) <= 40_000_000);
        assert!(w as u64 <= 4 * h as u64 && h as u64 <= 4 * w as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes);
    }

    #[test]
    fn corrupted_images_never_panic(
        format in prop::sample::select(vec![ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP]),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = encoded(format);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        check(&bytes);
    }
}
