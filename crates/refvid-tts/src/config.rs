//! A Piper voice's `.onnx.json`: sample rate, phonemizer, id map, speakers and the default
//! synthesis scales.

use crate::TtsError;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What refvid reads from a voice config.
#[derive(Debug, Clone)]
pub struct VoiceConfig {
    pub sample_rate: u32,
    /// The espeak-ng voice that phonemizes text for this model (e.g. `en-us`).
    pub espeak_voice: String,
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
    /// How many ids the model embeds (when the config says).
    pub num_symbols: Option<i64>,
    /// Runs of phonemes this voice treats as one.
    pub vowel_clusters: Option<Vec<Vec<String>>>,
    pub num_speakers: u32,
    /// Speaker names to ids (multi-speaker voices).
    pub speaker_id_map: BTreeMap<String, u32>,
    pub default_speaker_id: u32,
    pub scales: Scales,
    /// Audio samples per model frame.
    pub hop_length: u32,
}

/// The model's three synthesis knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scales {
    /// How much noise the prior gets (0 = its mean).
    pub noise_scale: f32,
    /// Phoneme length multiplier (>1 is slower).
    pub length_scale: f32,
    /// How much noise the duration predictor gets.
    pub noise_w: f32,
}

#[derive(Deserialize)]
struct Raw {
    audio: RawAudio,
    #[serde(default)]
    espeak: Option<RawEspeak>,
    #[serde(default)]
    phoneme_type: Option<String>,
    #[serde(default)]
    inference: RawInference,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    num_symbols: Option<i64>,
    #[serde(default)]
    vowel_clusters: Option<Vec<Vec<String>>>,
    #[serde(default = "one")]
    num_speakers: u32,
    #[serde(default)]
    speaker_id_map: BTreeMap<String, u32>,
    #[serde(default)]
    default_speaker_id: u32,
    #[serde(default = "hop")]
    hop_length: u32,
}

#[derive(Deserialize)]
struct RawAudio {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct RawEspeak {
    voice: String,
}

#[derive(Deserialize)]
struct RawInference {
    #[serde(default = "noise")]
    noise_scale: f32,
    #[serde(default = "length")]
    length_scale: f32,
    #[serde(default = "noise_w")]
    noise_w: f32,
}

impl Default for RawInference {
    fn default() -> Self {
        Self {
            noise_scale: noise(),
            length_scale: length(),
            noise_w: noise_w(),
        }
    }
}

// Piper's defaults where a config leaves a value out.
fn one() -> u32 {
    1
}
fn hop() -> u32 {
    256
}
fn noise() -> f32 {
    0.667
}
fn length() -> f32 {
    1.0
}
fn noise_w() -> f32 {
    0.8
}

impl VoiceConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, TtsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TtsError::Config(format!("reading {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| match e {
            TtsError::Config(m) => TtsError::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parses and checks config text: only espeak-phonemized voices are supported.
    pub fn parse(text: &str) -> Result<Self, TtsError> {
        let raw: Raw = serde_json::from_str(text)
            .map_err(|e| TtsError::Config(format!("not a Piper voice config: {e}")))?;
        let kind = raw.phoneme_type.as_deref().unwrap_or("espeak");
        if kind != "espeak" {
            return Err(TtsError::Config(format!(
                "phoneme_type {kind:?} is not supported; refvid phonemizes with espeak-ng only"
            )));
        }
        let espeak_voice = raw
            .espeak
            .map(|e| e.voice)
            .ok_or_else(|| TtsError::Config("the config names no espeak voice".into()))?;
        if raw.audio.sample_rate == 0 || raw.num_speakers == 0 {
            return Err(TtsError::Config(
                "sample_rate and num_speakers must be positive".into(),
            ));
        }
        Ok(Self {
            sample_rate: raw.audio.sample_rate,
            espeak_voice,
            phoneme_id_map: raw.phoneme_id_map,
            num_symbols: raw.num_symbols,
            vowel_clusters: raw.vowel_clusters.filter(|c| !c.is_empty()),
            num_speakers: raw.num_speakers,
            speaker_id_map: raw.speaker_id_map,
            default_speaker_id: raw.default_speaker_id,
            scales: Scales {
                noise_scale: raw.inference.noise_scale,
                length_scale: raw.inference.length_scale,
                noise_w: raw.inference.noise_w,
            },
            hop_length: raw.hop_length,
        })
    }

    /// The speaker id for a name or number given by a user, checked against this voice.
    pub fn speaker(&self, which: &str) -> Result<u32, TtsError> {
        let id = match self.speaker_id_map.get(which) {
            Some(id) => *id,
            None => which.parse::<u32>().map_err(|_| {
                TtsError::UnknownSpeaker(format!(
                    "{which:?} is not a speaker of this voice ({} speakers{})",
                    self.num_speakers,
                    self.speaker_names_hint()
                ))
            })?,
        };
        if id >= self.num_speakers {
            return Err(TtsError::UnknownSpeaker(format!(
                "speaker {id} is out of range; this voice has {} speaker(s)",
                self.num_speakers
            )));
        }
        Ok(id)
    }

    fn speaker_names_hint(&self) -> String {
        let names: Vec<&str> = self
            .speaker_id_map
            .keys()
            .take(5)
            .map(|s| s.as_str())
            .collect();
        match names.is_empty() {
            true => String::new(),
            false => format!(", e.g. {}", names.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"audio":{"sample_rate":22050},"espeak":{"voice":"en-us"},
        "phoneme_id_map":{"_":[0],"^":[1],"$":[2]},"num_speakers":3,
        "speaker_id_map":{"ann":0,"bob":2}}"#;

    #[test]
    fn defaults_are_pipers() {
        let c = VoiceConfig::parse(MINIMAL).unwrap();
        assert_eq!(c.scales.noise_scale, 0.667);
        assert_eq!(c.scales.length_scale, 1.0);
        assert_eq!(c.scales.noise_w, 0.8);
        assert_eq!(c.hop_length, 256);
    }

    #[test]
    fn speakers_by_name_or_number_are_checked() {
        let c = VoiceConfig::parse(MINIMAL).unwrap();
        assert_eq!(c.speaker("bob").unwrap(), 2);
        assert_eq!(c.speaker("1").unwrap(), 1);
        let err = c.speaker("3").unwrap_err().to_string();
        assert!(err.contains("3 speaker"), "{err}");
        let err = c.speaker("carl").unwrap_err().to_string();
        assert!(err.contains("ann, bob"), "{err}");
    }

    #[test]
    fn other_phonemizers_are_refused_by_name() {
        let text = MINIMAL.replace(
            r#""num_speakers""#,
            r#""phoneme_type":"pinyin","num_speakers""#,
        );
        let err = VoiceConfig::parse(&text).unwrap_err().to_string();
        assert!(err.contains("pinyin"), "{err}");
    }
}
