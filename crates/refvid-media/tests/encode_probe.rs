//! Encodes synthetic moving patterns and checks them by decoding them back.

use image::{Rgb, RgbImage};
use refvid_media::{Mp4VideoWriter, decode_frames, probe_mp4, top_level_boxes};

/// A smooth gradient with a bright square that moves with `t`: easy to compress, and the
/// motion makes every frame differ.
fn pattern(width: u32, height: u32, t: u32) -> RgbImage {
    let side = width.min(height) / 5;
    let sx = (t * 13) % (width - side);
    let sy = (t * 7) % (height - side);
    RgbImage::from_fn(width, height, |x, y| {
        if (sx..sx + side).contains(&x) && (sy..sy + side).contains(&y) {
            return Rgb([240, 220, 40]);
        }
        let r = (x * 255 / width) as u8;
        let g = (y * 255 / height) as u8;
        let b = ((x + y + t * 4) % 256) as u8 / 2 + 64;
        Rgb([r, g, b])
    })
}

fn encode(width: u32, height: u32, fps: u32, frames: u32) -> Vec<u8> {
    let mut writer = Mp4VideoWriter::new(width, height, fps).unwrap();
    for t in 0..frames {
        writer.push_frame(&pattern(width, height, t)).unwrap();
    }
    let stats = writer.stats();
    assert_eq!(stats.frames, frames);
    assert!(stats.encode_time.as_secs_f64() > 0.0);
    writer.finish().unwrap()
}

fn mean_abs_error(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

/// Mean absolute error per channel (0..255) allowed between an encoded and a decoded frame.
/// Colour conversion to limited-range yuv420p and back plus chroma subsampling at the square's
/// edges account for about 1.5; H.264 at our bit rate adds little (measured 1.5 to 2.0).
const MAX_MEAN_ABS_ERROR: f64 = 3.0;

fn check(width: u32, height: u32, frames: u32) {
    let fps = 24;
    let bytes = encode(width, height, fps, frames);
    let probe = probe_mp4(&bytes).unwrap();
    assert_eq!((probe.width, probe.height), (width, height));
    assert_eq!(probe.frame_count, frames);
    let expected = f64::from(frames) / f64::from(fps);
    assert!(
        (probe.duration_secs - expected).abs() < 1e-3,
        "duration {} vs {expected}",
        probe.duration_secs
    );
    assert!((probe.fps - 24.0).abs() < 0.01, "fps {}", probe.fps);
    assert!(probe.fast_start, "moov must precede mdat");
    let boxes = top_level_boxes(&bytes);
    let moov = boxes.iter().position(|b| b == "moov").unwrap();
    let mdat = boxes.iter().position(|b| b == "mdat").unwrap();
    assert!(moov < mdat, "{boxes:?}");
    assert_eq!(probe.video_codec, "avc1");
    assert!(probe.audio.is_none());

    let decoded = decode_frames(&bytes).unwrap();
    assert_eq!(decoded.len(), frames as usize);
    for index in [0, frames / 2, frames - 1] {
        let error = mean_abs_error(&decoded[index as usize], &pattern(width, height, index));
        eprintln!("{width}x{height} frame {index}: mean abs error {error:.2}");
        assert!(
            error < MAX_MEAN_ABS_ERROR,
            "frame {index}: mean abs error {error}"
        );
    }
    // A different frame must not match: the check can fail.
    let wrong = mean_abs_error(&decoded[0], &pattern(width, height, frames / 2));
    assert!(
        wrong > MAX_MEAN_ABS_ERROR,
        "frames 0 and {} look alike ({wrong})",
        frames / 2
    );
}

#[test]
fn landscape_720p_48_frames() {
    check(1280, 720, 48);
}

#[test]
fn portrait_1080x1920_24_frames() {
    check(1080, 1920, 24);
}

#[test]
fn garbage_is_not_an_mp4() {
    assert!(probe_mp4(b"definitely not a video").is_err());
    assert!(decode_frames(&[0u8; 64]).is_err());
}

/// 1080p at the spec's widest ratio, 4:1: beyond the 3840 pixels the `openh264` crate's own
/// encoder wrapper takes, inside H.264 level 5.2 which the library encodes.
#[test]
fn widest_1080p_4_to_1_12_frames() {
    check(4320, 1080, 12);
}

#[test]
fn tallest_1080p_1_to_4_12_frames() {
    check(1080, 4320, 12);
}
