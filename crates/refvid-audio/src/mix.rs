//! Mixing music and ambience without clipping.

/// Music at 0.8, ambience at 0.7, then scaled so the peak is at most 0.95 (never louder).
pub fn mix(music: Option<Vec<f32>>, ambience: Option<Vec<f32>>, frames: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; frames * 2];
    for (track, gain) in [(music, 0.8f32), (ambience, 0.7)] {
        for (o, s) in out.iter_mut().zip(track.iter().flatten()) {
            *o += s * gain;
        }
    }
    let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if peak > 0.95 {
        let scale = 0.95 / peak;
        out.iter_mut().for_each(|s| *s *= scale);
    }
    out
}
