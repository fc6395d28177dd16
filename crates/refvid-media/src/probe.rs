//! Reading an MP4 back: tracks, durations, box order, and every video frame decoded.
//!
//! Tests use this to check videos by decoding them, not by their size.

use mp4::{Mp4Reader, TrackType};
use openh264::decoder::{DecodedYUV, Decoder};
use openh264::formats::YUVSource;
use std::io::Cursor;

/// Why a file could not be probed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("not a readable MP4: {0}")]
    Container(String),
    #[error("the file has no video track")]
    NoVideo,
    #[error("H.264 decoding failed at frame {frame}: {message}")]
    Decode { frame: u32, message: String },
}

/// An audio track's description.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioTrackInfo {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub duration_secs: f64,
}

/// What a video file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Mp4Probe {
    pub width: u32,
    pub height: u32,
    /// Frames that decoded.
    pub frame_count: u32,
    /// The video track's duration from its timescale.
    pub duration_secs: f64,
    pub fps: f64,
    /// `moov` comes before `mdat` (playback can start before the download ends).
    pub fast_start: bool,
    pub video_codec: String,
    pub audio: Option<AudioTrackInfo>,
}

/// Top-level box types in file order.
pub fn top_level_boxes(bytes: &[u8]) -> Vec<String> {
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as u64;
        let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).to_string();
        let size = match size {
            1 if at + 16 <= bytes.len() => {
                u64::from_be_bytes(bytes[at + 8..at + 16].try_into().expect("8 bytes"))
            }
            0 => (bytes.len() - at) as u64,
            s => s,
        };
        boxes.push(kind);
        if size < 8 {
            break;
        }
        at += size as usize;
    }
    boxes
}

fn reader(bytes: &[u8]) -> Result<Mp4Reader<Cursor<&[u8]>>, ProbeError> {
    Mp4Reader::read_header(Cursor::new(bytes), bytes.len() as u64)
        .map_err(|e| ProbeError::Container(e.to_string()))
}

/// Describes the file and decodes every video frame (to count them).
pub fn probe_mp4(bytes: &[u8]) -> Result<Mp4Probe, ProbeError> {
    let boxes = top_level_boxes(bytes);
    let position = |k: &str| boxes.iter().position(|b| b == k);
    let fast_start = matches!((position("moov"), position("mdat")), (Some(m), Some(d)) if m < d);
    let mp4 = reader(bytes)?;
    let video = mp4
        .tracks()
        .values()
        .find(|t| matches!(t.track_type(), Ok(TrackType::Video)))
        .ok_or(ProbeError::NoVideo)?;
    let duration_secs = video.duration().as_secs_f64();
    let video_codec = video.box_type().map(|b| b.to_string()).unwrap_or_default();
    let audio = mp4
        .tracks()
        .values()
        .find(|t| matches!(t.track_type(), Ok(TrackType::Audio)))
        .map(|t| AudioTrackInfo {
            codec: t.box_type().map(|b| b.to_string()).unwrap_or_default(),
            sample_rate: t.sample_freq_index().map(|f| f.freq()).unwrap_or(0),
            channels: t.channel_config().map(|c| c as u16).unwrap_or(0),
            duration_secs: t.duration().as_secs_f64(),
        });
    // Count decoded frames without keeping them: 240 frames of 1080p would be 1.5 GB of RGB.
    let mut first_size = None;
    let frame_count = for_each_frame(bytes, |yuv| {
        first_size.get_or_insert(yuv.dimensions());
    })?;
    let (width, height) = first_size.map_or((0, 0), |(w, h)| (w as u32, h as u32));
    let fps = if duration_secs > 0.0 {
        frame_count as f64 / duration_secs
    } else {
        0.0
    };
    Ok(Mp4Probe {
        width,
        height,
        frame_count,
        duration_secs,
        fps,
        fast_start,
        video_codec,
        audio,
    })
}

/// Every frame of the video track, decoded to RGB.
pub fn decode_frames(bytes: &[u8]) -> Result<Vec<image::RgbImage>, ProbeError> {
    let mut frames = Vec::new();
    for_each_frame(bytes, |yuv| frames.push(to_rgb(yuv)))?;
    Ok(frames)
}

/// Decodes every sample of the video track in order, handing each picture to `on_frame`;
/// returns how many pictures the decoder produced.
fn for_each_frame(
    bytes: &[u8],
    mut on_frame: impl FnMut(&DecodedYUV<'_>),
) -> Result<u32, ProbeError> {
    let mut mp4 = reader(bytes)?;
    let track = mp4
        .tracks()
        .values()
        .find(|t| matches!(t.track_type(), Ok(TrackType::Video)))
        .ok_or(ProbeError::NoVideo)?;
    let (id, count) = (track.track_id(), track.sample_count());
    let mut parameter_sets = Vec::new();
    for set in [
        track.sequence_parameter_set(),
        track.picture_parameter_set(),
    ] {
        let set = set.map_err(|e| ProbeError::Container(e.to_string()))?;
        parameter_sets.extend_from_slice(&[0, 0, 0, 1]);
        parameter_sets.extend_from_slice(set);
    }
    let mut decoder = Decoder::new().map_err(|e| ProbeError::Decode {
        frame: 0,
        message: e.to_string(),
    })?;
    let mut decoded = 0u32;
    for sample_id in 1..=count {
        let sample = mp4
            .read_sample(id, sample_id)
            .map_err(|e| ProbeError::Container(e.to_string()))?;
        let Some(sample) = sample else { continue };
        let mut annex_b = if sample_id == 1 {
            parameter_sets.clone()
        } else {
            Vec::new()
        };
        length_prefixed_to_annex_b(&sample.bytes, &mut annex_b);
        let fail = |e: openh264::Error| ProbeError::Decode {
            frame: sample_id - 1,
            message: e.to_string(),
        };
        if let Some(yuv) = decoder.decode(&annex_b).map_err(fail)? {
            on_frame(&yuv);
            decoded += 1;
        }
    }
    for yuv in decoder.flush_remaining().map_err(|e| ProbeError::Decode {
        frame: count,
        message: e.to_string(),
    })? {
        on_frame(&yuv);
        decoded += 1;
    }
    Ok(decoded)
}

fn to_rgb(yuv: &DecodedYUV<'_>) -> image::RgbImage {
    let (w, h) = yuv.dimensions();
    let mut rgb = vec![0u8; w * h * 3];
    yuv.write_rgb8(&mut rgb);
    image::RgbImage::from_raw(w as u32, h as u32, rgb).expect("buffer of the right size")
}

/// MP4 samples hold NAL units with 4-byte length prefixes; the decoder wants start codes.
fn length_prefixed_to_annex_b(data: &[u8], out: &mut Vec<u8>) {
    let mut at = 0;
    while at + 4 <= data.len() {
        let len = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        at += 4;
        let end = (at + len).min(data.len());
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&data[at..end]);
        at = end;
    }
}
