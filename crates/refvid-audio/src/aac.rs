//! AAC-LC encoding (pure Rust, `rusty_aac`) into ADTS frames for the MP4 muxer.
//!
//! The encoder works in frames of 1024 samples per channel; the last frame is padded with
//! silence, so the encoded track covers the whole clip (up to 1023 samples more).

use crate::{AudioError, Pcm};
use rusty_aac::{AacEncoder, AacEncoderConfig, AdtsHeader, write_adts_header};

/// An encoded track: one AAC access unit per 1024 samples, with and without ADTS headers.
#[derive(Debug, Clone)]
pub struct AacTrack {
    pub sample_rate: u32,
    pub channels: u16,
    /// Raw access units.
    pub frames: Vec<Vec<u8>>,
    /// The same frames each behind a 7-byte ADTS header.
    pub adts: Vec<Vec<u8>>,
}

/// Encodes `pcm` as AAC-LC at `bitrate` bits per second.
pub fn encode_aac_lc(pcm: &Pcm, bitrate: u32) -> Result<AacTrack, AudioError> {
    let config = AacEncoderConfig {
        bitrate_bps: bitrate,
        ..AacEncoderConfig::default()
    };
    let mut encoder = AacEncoder::new(config);
    let fail = |e: rusty_aac::Error| AudioError::Encode(e.to_string());
    encoder
        .push_pcm(&pcm.samples, pcm.channels, pcm.sample_rate)
        .map_err(fail)?;
    encoder.finish();
    let mut frames = Vec::new();
    loop {
        match encoder.next_packet() {
            Ok(packet) => frames.push(packet.data),
            Err(rusty_aac::Error::Eof) => break,
            Err(e) => return Err(fail(e)),
        }
    }
    let adts = frames
        .iter()
        .map(|f| with_adts(f, pcm.sample_rate, pcm.channels))
        .collect();
    Ok(AacTrack {
        sample_rate: pcm.sample_rate,
        channels: pcm.channels,
        frames,
        adts,
    })
}

fn with_adts(frame: &[u8], sample_rate: u32, channels: u16) -> Vec<u8> {
    let header = AdtsHeader {
        object_type: 2,
        sample_rate,
        channels,
        frame_length: frame.len() + 7,
        header_len: 7,
    };
    let mut out = write_adts_header(&header);
    out.extend_from_slice(frame);
    out
}
