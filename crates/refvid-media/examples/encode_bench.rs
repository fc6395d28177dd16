//! Encode speed: frames per second of H.264 + MP4 for 720p, 1080p and 1080p 4:1 (4320×1080).
//!
//! `cargo run --release -p refvid-media --example encode_bench`

use image::{Rgb, RgbImage};
use refvid_media::Mp4VideoWriter;
use std::time::Instant;

/// A moving gradient with a moving disc: compressible but never static.
fn frame(w: u32, h: u32, t: u32) -> RgbImage {
    let (cx, cy, r) = ((t * 9 % w) as i64, (h / 2) as i64, (h / 5) as i64);
    RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as i64 - cx, y as i64 - cy);
        if dx * dx + dy * dy < r * r {
            Rgb([220, 60, 40])
        } else {
            Rgb([
                ((x + t * 3) % 256) as u8,
                (y % 256) as u8,
                ((x + y) / 8 % 256) as u8,
            ])
        }
    })
}

fn main() {
    for (w, h) in [(1280, 720), (1920, 1080), (4320, 1080)] {
        let frames: Vec<RgbImage> = (0..120).map(|t| frame(w, h, t)).collect();
        let start = Instant::now();
        let mut writer = Mp4VideoWriter::new(w, h, 24).unwrap();
        for f in &frames {
            writer.push_frame(f).unwrap();
        }
        let encode = writer.stats().encode_time;
        let (bytes, stats) = writer.finish_with_audio(None).unwrap();
        let total = start.elapsed();
        println!(
            "{w}x{h}: 120 frames, encode {:.1} fps ({:.2} s), mux {:.3} s, total {:.2} s, {} KiB",
            120.0 / encode.as_secs_f64(),
            encode.as_secs_f64(),
            stats.mux_time.as_secs_f64(),
            total.as_secs_f64(),
            bytes.len() / 1024
        );
    }
}
