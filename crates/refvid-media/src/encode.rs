//! H.264 (yuv420p, OpenH264 built from source, driven by [`crate::h264`]) in MP4 (muxide, index
//! at the front).
//!
//! Frames are encoded as they arrive; only the compressed stream is kept, so memory stays small
//! even for 1080p × 240 frames. The MP4 is assembled at [`Mp4VideoWriter::finish`], which is also
//! where an AAC track joins the video.

use crate::h264::{H264Encoder, H264Error, H264Settings, frame_size_supported};
use muxide::api::{AudioCodec, MuxerBuilder, VideoCodec};
use openh264::formats::{RgbSliceU8, YUVBuffer};
use std::time::{Duration, Instant};

/// Why a video could not be encoded; the message is safe to show a user.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(
        "the frame size {0}×{1} cannot be encoded (both sides must be even and at least 16, at \
         most 36 864 macroblocks of 16×16 in all and 543 along a side: H.264 level 5.2)"
    )]
    BadSize(u32, u32),
    #[error("a frame of {got_w}×{got_h} was given to a {want_w}×{want_h} video")]
    FrameSize {
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },
    #[error("the H.264 encoder failed: {0}")]
    Encoder(String),
    #[error("the MP4 could not be written: {0}")]
    Mux(String),
    #[error("no frames were given")]
    NoFrames,
}

/// One encoded access unit.
struct Sample {
    annex_b: Vec<u8>,
    keyframe: bool,
}

/// An AAC-LC track to put beside the video: ADTS frames of 1024 samples each.
#[derive(Debug, Clone)]
pub struct AacAudio {
    pub sample_rate: u32,
    pub channels: u16,
    pub adts_frames: Vec<Vec<u8>>,
}

/// Time spent and frames done.
#[derive(Debug, Clone, Copy, Default)]
pub struct EncodeStats {
    pub frames: u32,
    pub encode_time: Duration,
    pub mux_time: Duration,
}

/// Streams RGB frames into an H.264 MP4.
pub struct Mp4VideoWriter {
    width: u32,
    height: u32,
    fps: u32,
    encoder: H264Encoder,
    yuv: YUVBuffer,
    samples: Vec<Sample>,
    stats: EncodeStats,
}

/// Logs OpenH264's own message (internals) and gives the user a plain sentence.
fn encoder_failed(e: H264Error, frame: u32) -> EncodeError {
    tracing::error!(error = %e, frame, "OpenH264 failed");
    EncodeError::Encoder(format!("frame {frame} could not be encoded"))
}

/// About 0.2 bit per pixel per frame (4.4 Mbit/s at 720p24, 10 Mbit/s at 1080p24): OpenH264
/// writes Constrained Baseline only (no B-frames, no CABAC), so it needs about twice the rate
/// of a High-profile encoder to stay free of visible blocking on moving scenes.
fn bitrate_for(width: u32, height: u32, fps: u32) -> u32 {
    ((width as u64 * height as u64 * fps as u64) / 5).clamp(1_000_000, 16_000_000) as u32
}

impl Mp4VideoWriter {
    pub fn new(width: u32, height: u32, fps: u32) -> Result<Self, EncodeError> {
        if !frame_size_supported(width, height) {
            return Err(EncodeError::BadSize(width, height));
        }
        let encoder = H264Encoder::new(H264Settings {
            width,
            height,
            fps,
            bitrate: bitrate_for(width, height, fps),
            // A key frame every second, so players can seek.
            intra_period: fps,
        })
        .map_err(|e| encoder_failed(e, 0))?;
        let yuv = YUVBuffer::new(width as usize, height as usize);
        Ok(Self {
            width,
            height,
            fps,
            encoder,
            yuv,
            samples: Vec::new(),
            stats: EncodeStats::default(),
        })
    }

    /// Encodes one frame.
    pub fn push_frame(&mut self, frame: &image::RgbImage) -> Result<(), EncodeError> {
        if frame.dimensions() != (self.width, self.height) {
            let (got_w, got_h) = frame.dimensions();
            return Err(EncodeError::FrameSize {
                got_w,
                got_h,
                want_w: self.width,
                want_h: self.height,
            });
        }
        let start = Instant::now();
        let dims = (self.width as usize, self.height as usize);
        self.yuv.read_rgb8(RgbSliceU8::new(frame.as_raw(), dims));
        let picture = self
            .encoder
            .encode(&self.yuv)
            .map_err(|e| encoder_failed(e, self.stats.frames))?;
        let (annex_b, keyframe) = (picture.annex_b, picture.keyframe);
        if annex_b.is_empty() {
            return Err(EncodeError::Encoder(format!(
                "frame {} came out empty",
                self.stats.frames
            )));
        }
        self.samples.push(Sample { annex_b, keyframe });
        self.stats.frames += 1;
        self.stats.encode_time += start.elapsed();
        Ok(())
    }

    pub fn stats(&self) -> EncodeStats {
        self.stats
    }

    /// The MP4 with the video only.
    pub fn finish(self) -> Result<Vec<u8>, EncodeError> {
        self.finish_with_audio(None).map(|(bytes, _)| bytes)
    }

    /// The MP4, with an AAC track when given, and the final stats.
    pub fn finish_with_audio(
        self,
        audio: Option<&AacAudio>,
    ) -> Result<(Vec<u8>, EncodeStats), EncodeError> {
        if self.samples.is_empty() {
            return Err(EncodeError::NoFrames);
        }
        let start = Instant::now();
        let mux = |e: muxide::api::MuxerError| EncodeError::Mux(e.to_string());
        let mut out = Vec::new();
        let mut builder = MuxerBuilder::new(&mut out)
            .video(VideoCodec::H264, self.width, self.height, self.fps as f64)
            .with_fast_start(true);
        if let Some(a) = audio {
            builder = builder.audio(
                AudioCodec::Aac(muxide::api::AacProfile::Lc),
                a.sample_rate,
                a.channels,
            );
        }
        let mut muxer = builder.build().map_err(mux)?;
        for (i, sample) in self.samples.iter().enumerate() {
            muxer
                .write_video(i as f64 / self.fps as f64, &sample.annex_b, sample.keyframe)
                .map_err(mux)?;
        }
        if let Some(a) = audio {
            for (i, frame) in a.adts_frames.iter().enumerate() {
                muxer
                    .write_audio(i as f64 * 1024.0 / a.sample_rate as f64, frame)
                    .map_err(mux)?;
            }
        }
        muxer.finish().map_err(mux)?;
        let mut stats = self.stats;
        stats.mux_time = start.elapsed();
        Ok((out, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_or_tiny_sizes_are_refused() {
        for (w, h) in [
            (1281, 720),
            (1280, 721),
            (8, 720),
            (0, 0),
            (8704, 1080),
            (4112, 2304),
        ] {
            assert!(
                matches!(Mp4VideoWriter::new(w, h, 24), Err(EncodeError::BadSize(..))),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn a_frame_of_another_size_is_refused() {
        let mut writer = Mp4VideoWriter::new(64, 64, 24).unwrap();
        let err = writer
            .push_frame(&image::RgbImage::new(32, 64))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a frame of 32×64 was given to a 64×64 video"
        );
    }

    #[test]
    fn finishing_without_frames_is_an_error() {
        let writer = Mp4VideoWriter::new(64, 64, 24).unwrap();
        assert!(matches!(writer.finish(), Err(EncodeError::NoFrames)));
    }

    #[test]
    fn bitrate_follows_frame_size() {
        assert_eq!(bitrate_for(1280, 720, 24), 4_423_680);
        assert_eq!(bitrate_for(1920, 1080, 24), 9_953_280);
        assert_eq!(bitrate_for(64, 64, 24), 1_000_000);
    }
}
