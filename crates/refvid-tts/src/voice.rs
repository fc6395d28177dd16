//! One Piper voice: its config, its model and the phonemizer; text in, waveform out.
//!
//! As piper-tts does, each sentence is synthesized on its own and (by default) scaled so its
//! peak is full scale; the sentences follow each other without a gap.

use crate::config::{Scales, VoiceConfig};
use crate::espeak::Espeak;
use crate::phonemes::{phonemize, to_ids};
use crate::vits::{Request, VitsModel};
use crate::{SpeechRuntime, TtsError};
use std::path::Path;
use std::sync::Arc;

/// How to speak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeakOptions {
    pub scales: Scales,
    /// For multi-speaker voices.
    pub speaker: Option<u32>,
    /// Seeds the model's noise (sentence `i` uses a seed derived from this and `i`).
    pub seed: u64,
    /// Scale each sentence to full-scale peak, as piper-tts does by default.
    pub normalize: bool,
}

/// Speech made from text.
#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    pub sample_rate: u32,
    /// Mono samples in -1..1.
    pub samples: Vec<f32>,
    /// Where each sentence's samples start.
    pub sentence_starts: Vec<usize>,
}

impl Speech {
    pub fn duration_secs(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate as f64
    }
}

/// Text to ids for one voice (its config and espeak-ng; no model needed).
pub struct Phonemizer {
    config: VoiceConfig,
    espeak: Arc<Espeak>,
}

impl Phonemizer {
    /// The phonemizer of the voice whose model is `model` (its config is `model` + `.json`).
    pub fn load(model: &Path, runtime: &SpeechRuntime) -> Result<Self, TtsError> {
        let config = VoiceConfig::load(&model.with_extension("onnx.json"))?;
        Ok(Self {
            config,
            espeak: runtime.espeak().clone(),
        })
    }

    pub fn config(&self) -> &VoiceConfig {
        &self.config
    }

    /// The ids of each sentence of `text` (with start, pad and end ids), as piper-tts makes them.
    pub fn phoneme_ids(&self, text: &str) -> Result<Vec<Vec<i64>>, TtsError> {
        let sentences = phonemize(&self.espeak, &self.config, text)?;
        let mut all = Vec::with_capacity(sentences.len());
        for sentence in &sentences {
            let (ids, missing) = to_ids(&self.config, sentence)?;
            if !missing.is_empty() {
                // The phonemes themselves are not logged: they spell out the user's text.
                tracing::warn!(
                    skipped = missing.len(),
                    "phonemes the voice has no id for were skipped"
                );
            }
            all.push(ids);
        }
        Ok(all)
    }
}

/// A loaded voice.
pub struct Voice {
    phonemizer: Phonemizer,
    model: VitsModel,
}

impl Voice {
    /// Loads `model` (a `.onnx` file) with its config beside it (`model` + `.json`).
    pub fn load(model: &Path, runtime: &SpeechRuntime) -> Result<Self, TtsError> {
        let phonemizer = Phonemizer::load(model, runtime)?;
        let model = VitsModel::load(model, runtime.threads())?;
        Ok(Self { phonemizer, model })
    }

    pub fn config(&self) -> &VoiceConfig {
        &self.phonemizer.config
    }

    /// The model, for callers that bring their own ids and noise.
    pub fn model(&self) -> &VitsModel {
        &self.model
    }

    /// The options a plain call uses: the config's scales and default speaker, normalised.
    pub fn default_options(&self) -> SpeakOptions {
        SpeakOptions {
            scales: self.config().scales,
            speaker: (self.config().num_speakers > 1).then_some(self.config().default_speaker_id),
            seed: 0,
            normalize: true,
        }
    }

    /// The ids of each sentence of `text`, as piper-tts makes them.
    pub fn phoneme_ids(&self, text: &str) -> Result<Vec<Vec<i64>>, TtsError> {
        self.phonemizer.phoneme_ids(text)
    }

    /// Speaks `text`.
    pub fn speak(&self, text: &str, options: &SpeakOptions) -> Result<Speech, TtsError> {
        let sentences = self.phoneme_ids(text)?;
        self.speak_ids(&sentences, options)
    }

    /// Speaks sentences given as ids.
    pub fn speak_ids(
        &self,
        sentences: &[Vec<i64>],
        options: &SpeakOptions,
    ) -> Result<Speech, TtsError> {
        check(options)?;
        self.check_ids(sentences)?;
        let mut speech = Speech {
            sample_rate: self.config().sample_rate,
            samples: Vec::new(),
            sentence_starts: Vec::with_capacity(sentences.len()),
        };
        for (i, ids) in sentences.iter().enumerate() {
            let mut audio = self.model.audio(&request(ids, options, i))?;
            if options.normalize {
                normalize(&mut audio);
            }
            speech.sentence_starts.push(speech.samples.len());
            speech.samples.extend(audio);
        }
        Ok(speech)
    }

    /// Refuses ids the model has no embedding for (a clear error instead of the runtime's).
    fn check_ids(&self, sentences: &[Vec<i64>]) -> Result<(), TtsError> {
        let symbols = self.config().num_symbols;
        match sentences
            .iter()
            .flatten()
            .find(|&&id| id < 0 || symbols.is_some_and(|n| id >= n))
        {
            Some(id) => Err(TtsError::BadRequest(format!(
                "phoneme id {id} is not one of this voice's {} symbols",
                symbols.unwrap_or(0)
            ))),
            None if sentences.iter().any(|s| s.is_empty()) => {
                Err(TtsError::BadRequest("a sentence has no phoneme ids".into()))
            }
            None => Ok(()),
        }
    }

    /// How long [`Voice::speak`] would take to say `text`, in seconds, without making audio.
    pub fn duration_secs(&self, text: &str, options: &SpeakOptions) -> Result<f64, TtsError> {
        check(options)?;
        let sentences = self.phoneme_ids(text)?;
        let mut frames = 0usize;
        for (i, ids) in sentences.iter().enumerate() {
            frames += self.model.timing(&request(ids, options, i))?.total_frames();
        }
        let samples = frames * self.config().hop_length as usize;
        Ok(samples as f64 / self.config().sample_rate as f64)
    }
}

fn request<'a>(ids: &'a [i64], options: &SpeakOptions, sentence: usize) -> Request<'a> {
    Request {
        ids,
        scales: options.scales,
        speaker: options.speaker,
        seed: options
            .seed
            .wrapping_add((sentence as u64).wrapping_mul(0xA24B_AED4_963E_E407)),
    }
}

fn check(options: &SpeakOptions) -> Result<(), TtsError> {
    let s = options.scales;
    let fine = |v: f32, lo: f32, hi: f32| v.is_finite() && (lo..=hi).contains(&v);
    if !fine(s.noise_scale, 0.0, 2.0)
        || !fine(s.noise_w, 0.0, 2.0)
        || !fine(s.length_scale, 0.1, 10.0)
    {
        return Err(TtsError::BadRequest(format!(
            "noise scales must be within 0..2 and the length scale within 0.1..10 (got {}, {}, {})",
            s.noise_scale, s.length_scale, s.noise_w
        )));
    }
    Ok(())
}

/// Scales to a peak of 1 (silence stays silence), as piper-tts does per sentence.
fn normalize(audio: &mut [f32]) {
    let peak = audio.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if peak < 1e-8 {
        audio.iter_mut().for_each(|s| *s = 0.0);
        return;
    }
    audio
        .iter_mut()
        .for_each(|s| *s = (*s / peak).clamp(-1.0, 1.0));
}
