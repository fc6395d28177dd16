//! Who speaks with which voice, and a line spoken into a clip's sample rate.
//!
//! A subject whose `voice_id` names an installed voice speaks with it. Every other subject —
//! no `voice_id`, or one this server does not have (a hosted-service id) — speaks with the
//! default voice, and such subjects get **distinct variants** of it in subject order: with a
//! multi-speaker default voice, its speakers in turn; with a single-speaker one (the installed
//! `en_US-joe-medium`), a pitch from [`DEFAULT_PITCHES`] in turn (the first subject at the
//! voice's own pitch). A pitch `p` is made by asking the model for speech `p` times slower
//! (`length_scale × p`) and resampling it `p` times faster, so the tempo stays the voice's and
//! the formants move with the pitch, as a different (smaller or larger) speaker's would.
//!
//! [`Role::samples`] tells, without making audio, exactly how many samples
//! [`Role::speak`] will return (the durations-only graph with the same seed and ids).

use crate::{Catalog, SpeakOptions, TtsError, Voice};
use std::sync::Arc;

/// Pitch factors of the default voice's variants, in subject order (×1 = the voice's own).
pub const DEFAULT_PITCHES: &[f32] = &[1.0, 1.26, 0.82, 1.12, 0.9, 1.4, 0.74];

/// How one subject sounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// The voice's name in the catalog.
    pub voice: String,
    /// The speaker, for a multi-speaker voice.
    pub speaker: Option<u32>,
    /// Pitch factor (1 = the voice's own).
    pub pitch: f32,
    /// The `voice_id` the subject asked for, when this server has no such voice.
    pub unknown_voice_id: Option<String>,
}

impl Role {
    /// How this role is described in `request_info`: `en_US-joe-medium`, `libritts:3`,
    /// `en_US-joe-medium pitch x1.26`.
    pub fn describe(&self) -> String {
        let mut text = self.voice.clone();
        if let Some(speaker) = self.speaker {
            text.push_str(&format!(":{speaker}"));
        }
        if self.pitch != 1.0 {
            text.push_str(&format!(" pitch x{:.2}", self.pitch));
        }
        text
    }

    /// The options this role speaks line `line` of a task with seed `seed` with.
    fn options(&self, voice: &Voice, seed: u64, line: usize) -> SpeakOptions {
        let mut options = voice.default_options();
        options.scales.length_scale *= self.pitch;
        options.speaker = self.speaker.or(options.speaker);
        options.seed = seed ^ (line as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        options
    }

    /// Exactly how many samples at `rate` [`Role::speak`] returns for `text`.
    pub fn samples(
        &self,
        catalog: &Catalog,
        text: &str,
        seed: u64,
        line: usize,
        rate: u32,
    ) -> Result<usize, TtsError> {
        let voice = catalog.voice(&self.voice)?;
        let options = self.options(&voice, seed, line);
        let secs = voice.duration_secs(text, &options)?;
        let native = (secs * voice.config().sample_rate as f64).round() as usize;
        Ok(resampled_len(
            native,
            voice.config().sample_rate,
            rate,
            self.pitch,
        ))
    }

    /// `text` spoken as line `line` of a task with seed `seed`: mono, at `rate`, peak 1.
    pub fn speak(
        &self,
        catalog: &Catalog,
        text: &str,
        seed: u64,
        line: usize,
        rate: u32,
    ) -> Result<Vec<f32>, TtsError> {
        let voice: Arc<Voice> = catalog.voice(&self.voice)?;
        let options = self.options(&voice, seed, line);
        let speech = voice.speak(text, &options)?;
        Ok(resample(
            &speech.samples,
            speech.sample_rate,
            rate,
            self.pitch,
        ))
    }
}

/// The role of each subject, given the `voice_id` each asked for (see the module docs).
pub fn cast(catalog: &Catalog, voice_ids: &[Option<&str>]) -> Result<Vec<Role>, TtsError> {
    let default = catalog.default_entry().ok_or_else(|| {
        TtsError::Runtime(catalog.unavailable().unwrap_or_else(|| "no voice".into()))
    })?;
    let speakers = default.config.num_speakers.max(1);
    let mut variant = 0usize;
    let mut roles = Vec::with_capacity(voice_ids.len());
    for id in voice_ids {
        if let Some(id) = id
            && let Ok((entry, speaker)) = catalog.resolve(id)
        {
            roles.push(Role {
                voice: entry.name.clone(),
                speaker,
                pitch: 1.0,
                unknown_voice_id: None,
            });
            continue;
        }
        let (speaker, pitch) = if speakers > 1 {
            let round = variant / speakers as usize;
            (
                Some((variant % speakers as usize) as u32),
                DEFAULT_PITCHES[round % DEFAULT_PITCHES.len()],
            )
        } else {
            (None, DEFAULT_PITCHES[variant % DEFAULT_PITCHES.len()])
        };
        variant += 1;
        roles.push(Role {
            voice: default.name.clone(),
            speaker,
            pitch,
            unknown_voice_id: id.map(str::to_string),
        });
    }
    Ok(roles)
}

/// Samples [`resample`] returns for `n` input samples.
pub fn resampled_len(n: usize, from: u32, to: u32, pitch: f32) -> usize {
    if n == 0 {
        return 0;
    }
    let step = step(from, to, pitch);
    ((n - 1) as f64 / step).floor() as usize + 1
}

fn step(from: u32, to: u32, pitch: f32) -> f64 {
    from as f64 * pitch as f64 / to as f64
}

/// `samples` at `from` Hz played `pitch` times faster, at `to` Hz (Catmull-Rom interpolation;
/// meant for upsampling, as from a 16–22 kHz voice to 48 kHz, where nothing aliases).
pub fn resample(samples: &[f32], from: u32, to: u32, pitch: f32) -> Vec<f32> {
    let len = resampled_len(samples.len(), from, to, pitch);
    let step = step(from, to, pitch);
    let at = |i: isize| samples[i.clamp(0, samples.len() as isize - 1) as usize];
    (0..len)
        .map(|j| {
            let pos = j as f64 * step;
            let i = pos.floor() as isize;
            let t = (pos - i as f64) as f32;
            let (p0, p1, p2, p3) = (at(i - 1), at(i), at(i + 1), at(i + 2));
            let a = -0.5 * p0 + 1.5 * p1 - 1.5 * p2 + 0.5 * p3;
            let b = p0 - 2.5 * p1 + 2.0 * p2 - 0.5 * p3;
            let c = -0.5 * p0 + 0.5 * p2;
            ((a * t + b) * t + c) * t + p1
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_a_tone_and_moves_it_by_the_pitch() {
        let from = 22_050;
        let tone: Vec<f32> = (0..from)
            .map(|i| (2.0 * std::f32::consts::PI * 220.0 * i as f32 / from as f32).sin())
            .collect();
        for pitch in [1.0f32, 1.26, 0.82] {
            let out = resample(&tone, from, 48_000, pitch);
            assert_eq!(out.len(), resampled_len(tone.len(), from, 48_000, pitch));
            let expected = (48_000.0 / pitch as f64).round() as i64;
            assert!((out.len() as i64 - expected).abs() <= 3, "{}", out.len());
            // Zero crossings give the frequency: 220 Hz × pitch.
            let crossings = out.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
            let seconds = out.len() as f32 / 48_000.0;
            let hz = crossings as f32 / seconds;
            assert!((hz - 220.0 * pitch).abs() < 3.0, "pitch {pitch}: {hz} Hz");
        }
        assert!(resample(&[], from, 48_000, 1.0).is_empty());
    }
}
