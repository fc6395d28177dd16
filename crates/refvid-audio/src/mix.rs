//! Mixing music, ambience and speech without clipping; speech ducks the rest.

/// Gain of the music and of the ambience under speech (about -12 dB).
pub const DUCKED_GAIN: f32 = 0.25;
/// Gain of the speech track.
const SPEECH_GAIN: f32 = 0.9;

/// Music at 0.8 and ambience at 0.7, both ducked to [`DUCKED_GAIN`] of that where `speech`
/// (mono, one sample per frame) sounds, speech at 0.9 in both channels; then scaled so the peak
/// is at most 0.95 (never louder).
pub fn mix(
    music: Option<Vec<f32>>,
    ambience: Option<Vec<f32>>,
    speech: Option<&[f32]>,
    frames: usize,
) -> Vec<f32> {
    let duck = speech.map(|s| duck_gains(s, frames));
    let mut out = vec![0.0f32; frames * 2];
    for (track, gain) in [(music, 0.8f32), (ambience, 0.7)] {
        for (i, (o, s)) in out.iter_mut().zip(track.iter().flatten()).enumerate() {
            let ducked = duck.as_ref().map_or(1.0, |d| d[i / 2]);
            *o += s * gain * ducked;
        }
    }
    if let Some(speech) = speech {
        for (frame, s) in out.chunks_exact_mut(2).zip(speech) {
            frame[0] += s * SPEECH_GAIN;
            frame[1] += s * SPEECH_GAIN;
        }
    }
    let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if peak > 0.95 {
        let scale = 0.95 / peak;
        out.iter_mut().for_each(|s| *s *= scale);
    }
    out
}

/// Per frame, the gain of the other tracks: 1 where nothing is said, [`DUCKED_GAIN`] under
/// speech, reached 40 ms before it starts and released over 300 ms after it ends (speech is
/// "on" in a 10 ms block whose RMS is above 0.01).
pub fn duck_gains(speech: &[f32], frames: usize) -> Vec<f32> {
    const BLOCK: usize = 480; // 10 ms at 48 kHz
    const BEFORE: usize = 4;
    const AFTER: usize = 30;
    let blocks = frames.div_ceil(BLOCK);
    if blocks == 0 {
        return Vec::new();
    }
    let on: Vec<bool> = (0..blocks)
        .map(|b| {
            let lo = (b * BLOCK).min(speech.len());
            let hi = ((b + 1) * BLOCK).min(speech.len());
            crate::rms(&speech[lo..hi]) > 0.01
        })
        .collect();
    let mut target = vec![0.0f32; blocks];
    for (b, _) in on.iter().enumerate().filter(|(_, on)| **on) {
        let lo = b.saturating_sub(BEFORE);
        let hi = (b + AFTER).min(blocks - 1);
        for t in &mut target[lo..=hi] {
            *t = 1.0;
        }
    }
    // Ramp between block targets so the gain never steps.
    (0..frames)
        .map(|i| {
            let pos = i as f32 / BLOCK as f32 - 0.5;
            let b = pos.floor().max(0.0) as usize;
            let next = (b + 1).min(blocks - 1);
            let f = (pos - b as f32).clamp(0.0, 1.0);
            let amount = target[b.min(blocks - 1)] * (1.0 - f) + target[next] * f;
            1.0 - (1.0 - DUCKED_GAIN) * amount
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_ducks_music_where_it_sounds_only() {
        let frames = 48_000;
        let music: Vec<f32> = (0..frames * 2)
            .map(|i| ((i / 2) as f32 * 0.05).sin() * 0.5)
            .collect();
        let mut speech = vec![0.0f32; frames];
        for (i, s) in speech[20_000..30_000].iter_mut().enumerate() {
            *s = (i as f32 * 0.3).sin() * 0.5;
        }
        let gains = duck_gains(&speech, frames);
        assert_eq!(gains[5_000], 1.0);
        assert!((gains[25_000] - DUCKED_GAIN).abs() < 1e-6);
        assert!(gains[19_000] < 1.0, "the duck starts before the speech");
        assert_eq!(gains[47_000], 1.0);
        let mixed = mix(Some(music.clone()), None, Some(&speech), frames);
        let plain = mix(Some(music), None, None, frames);
        assert_eq!(mixed[..10_000], plain[..10_000]);
    }
}
