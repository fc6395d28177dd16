//! 16-bit PCM mono WAV, the format `refvid tts` writes (and piper-tts does).

/// Float samples to 16-bit the way piper-tts does: scaled by 32767, clipped, truncated
/// toward zero.
pub fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|s| (s * 32767.0).clamp(-32767.0, 32767.0) as i16)
        .collect()
}

/// A whole WAV file (RIFF header and data) for mono 16-bit samples at `sample_rate`.
pub fn encode(samples: &[i16], sample_rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_convert_like_piper() {
        assert_eq!(
            to_i16(&[0.0, 1.0, -1.0, 2.0, 0.5, -0.99999]),
            vec![0, 32767, -32767, 32767, 16383, -32766]
        );
    }

    #[test]
    fn the_header_describes_the_data() {
        let wav = encode(&[1, -2, 3], 22050);
        assert_eq!(wav.len(), 44 + 6);
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 22050);
        assert_eq!(u32::from_le_bytes(wav[40..44].try_into().unwrap()), 6);
        assert_eq!(i16::from_le_bytes([wav[46], wav[47]]), -2);
    }
}
