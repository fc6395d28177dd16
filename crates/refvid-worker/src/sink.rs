//! The MP4 writer as an engine's frame sink, keeping one frame aside as the cover, and the
//! watermark as a sink in front of it.

use refvid_engine::{FrameSink, SinkError};
use refvid_media::Mp4VideoWriter;
use refvid_media::watermark::Watermark;

/// Feeds engine frames straight into the encoder, so raw frames are never all in memory.
pub struct EncoderSink {
    pub writer: Mp4VideoWriter,
    index: u32,
    cover_at: u32,
    /// The frame kept for the cover image (a third into the clip, once the scene has moved).
    pub cover: Option<image::RgbImage>,
    /// How much the picture changed at each frame, 0..1 (shapes the generated sound).
    pub motion: Vec<f32>,
    previous: Option<Vec<u8>>,
}

/// Every this-many bytes of a frame are compared to measure motion: cheap, and enough.
const MOTION_STRIDE: usize = 61;
/// A mean change of this many levels per sampled byte counts as full motion.
const FULL_MOTION: f32 = 24.0;

impl EncoderSink {
    pub fn new(writer: Mp4VideoWriter, frame_count: u32) -> Self {
        Self {
            writer,
            index: 0,
            cover_at: frame_count / 3,
            cover: None,
            motion: Vec::with_capacity(frame_count as usize),
            previous: None,
        }
    }

    fn track_motion(&mut self, frame: &image::RgbImage) {
        let sample: Vec<u8> = frame
            .as_raw()
            .iter()
            .step_by(MOTION_STRIDE)
            .copied()
            .collect();
        let energy = self.previous.as_ref().map_or(0.0, |prev| {
            let total: u64 = prev
                .iter()
                .zip(&sample)
                .map(|(a, b)| a.abs_diff(*b) as u64)
                .sum();
            (total as f32 / sample.len().max(1) as f32 / FULL_MOTION).min(1.0)
        });
        self.motion.push(energy);
        self.previous = Some(sample);
    }
}

impl FrameSink for EncoderSink {
    fn push(&mut self, frame: &image::RgbImage) -> Result<(), SinkError> {
        if self.index == self.cover_at {
            self.cover = Some(frame.clone());
        }
        self.index += 1;
        self.track_motion(frame);
        self.writer
            .push_frame(frame)
            .map_err(|e| SinkError(e.to_string()))
    }
}

/// The cover as JPEG bytes.
pub fn encode_cover(frame: &image::RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    frame.write_with_encoder(encoder)?;
    Ok(out)
}

/// Draws the watermark on each frame, then passes it on.
pub struct WatermarkSink<'a> {
    pub inner: &'a mut dyn FrameSink,
    pub mark: Watermark,
    scratch: image::RgbImage,
}

impl<'a> WatermarkSink<'a> {
    pub fn new(inner: &'a mut dyn FrameSink, mark: Watermark) -> Self {
        Self {
            inner,
            mark,
            scratch: image::RgbImage::new(0, 0),
        }
    }
}

impl FrameSink for WatermarkSink<'_> {
    fn push(&mut self, frame: &image::RgbImage) -> Result<(), SinkError> {
        self.scratch.clone_from(frame);
        self.mark.apply(&mut self.scratch);
        self.inner.push(&self.scratch)
    }
}
