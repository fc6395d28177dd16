//! Sound for a clip: background music (`bgm`) and a generated sound track (`audio`), mixed
//! without clipping, and AAC-LC encoding for the MP4.
//!
//! Audio engines meet the worker only through [`AudioEngine`], as video engines do through
//! `Engine`. The built-in [`SynthAudio`] synthesizes in-process and deterministically: music
//! whose key, tempo, progression and instruments follow the seed and the prompt, and an
//! ambience shaped by the prompt's place words and the clip's motion. Speech is made elsewhere
//! (refvid-tts, wired in by the `refvid` crate) and mixed here: [`SynthAudio::render_with_speech`]
//! lays the spoken lines over the clip ([`dialogue`]) and ducks music and ambience under them
//! ([`mix`]). An operator who wants other sound (a music model) implements [`AudioEngine`] —
//! `render` gets the prompt, seed, length, flags, per-frame motion and the lines to speak, and
//! returns 48 kHz stereo PCM — and hands it to the worker.

pub mod aac;
mod ambience;
pub mod dialogue;
pub mod mix;
mod music;
mod synth;

pub use aac::{AacTrack, encode_aac_lc};

/// Output sample rate of every track.
pub const SAMPLE_RATE: u32 = 48_000;

/// What to make.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioRequest {
    pub prompt: String,
    pub seed: u64,
    pub duration_secs: f64,
    /// Background music.
    pub bgm: bool,
    /// The generated sound track (ambience and effects).
    pub audio: bool,
    /// How much the picture moves at each video frame, 0..1 (may be empty).
    pub motion: Vec<f32>,
    /// Video frames per second (to place `motion` in time).
    pub fps: u32,
    /// The lines subjects say, in prompt order (only with `audio`).
    pub lines: Vec<SpokenLine>,
    /// The request's subjects, by index, with the voice each asked for.
    pub speakers: Vec<Speaker>,
}

/// A line a subject says.
#[derive(Clone, PartialEq)]
pub struct SpokenLine {
    /// Index into [`AudioRequest::speakers`].
    pub subject: usize,
    pub text: String,
}

/// What is said never reaches a log: its `Debug` shows only its length.
impl std::fmt::Debug for SpokenLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpokenLine")
            .field("subject", &self.subject)
            .field("chars", &self.text.chars().count())
            .finish()
    }
}

/// A subject that may speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speaker {
    pub name: String,
    /// The `voice_id` the request gave.
    pub voice_id: Option<String>,
}

/// Interleaved PCM, samples in -1..1.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcm {
    pub sample_rate: u32,
    pub channels: u16,
    pub samples: Vec<f32>,
}

impl Pcm {
    /// Samples per channel.
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1) as usize
    }

    pub fn duration_secs(&self) -> f64 {
        self.frames() as f64 / self.sample_rate as f64
    }

    /// Root mean square over all samples.
    pub fn rms(&self) -> f32 {
        rms(&self.samples)
    }

    /// Largest absolute sample.
    pub fn peak(&self) -> f32 {
        self.samples.iter().fold(0.0, |m, s| m.max(s.abs()))
    }
}

/// Root mean square of a slice.
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
}

/// Why audio could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("the clip length {0} s cannot have a sound track")]
    BadDuration(f64),
    #[error("AAC encoding failed: {0}")]
    Encode(String),
    /// The lines could not be spoken (a sentence for the user, without the lines' text).
    #[error("{0}")]
    Speech(String),
}

/// A maker of sound tracks.
pub trait AudioEngine: Send + Sync {
    fn name(&self) -> &'static str;
    /// The track for `req`, or `None` when neither `bgm` nor `audio` is asked for.
    fn render(&self, req: &AudioRequest) -> Result<Option<Pcm>, AudioError>;

    /// What the user should know about how `req` was voiced or scored (e.g. a `voice_id`
    /// replaced by a default voice), as `(key, value)` pairs for the task's
    /// `debug_info.request_info`. Asked after a successful [`render`](Self::render).
    fn notes(&self, _req: &AudioRequest) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// The built-in synthesizer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SynthAudio;

impl AudioEngine for SynthAudio {
    fn name(&self) -> &'static str {
        "synth"
    }

    fn render(&self, req: &AudioRequest) -> Result<Option<Pcm>, AudioError> {
        self.render_with_speech(req, None)
    }
}

impl SynthAudio {
    /// [`AudioEngine::render`] with a speech track mixed in: mono at [`SAMPLE_RATE`], laid out
    /// over the clip (see [`dialogue::lay_out`]); music and ambience duck under it.
    pub fn render_with_speech(
        &self,
        req: &AudioRequest,
        speech: Option<&[f32]>,
    ) -> Result<Option<Pcm>, AudioError> {
        if !req.bgm && !req.audio {
            return Ok(None);
        }
        if !(req.duration_secs > 0.0 && req.duration_secs <= 600.0) {
            return Err(AudioError::BadDuration(req.duration_secs));
        }
        let frames = (req.duration_secs * SAMPLE_RATE as f64).round() as usize;
        let seed = synth::stable_hash(req.seed, &req.prompt);
        let music = req.bgm.then(|| music::render(&req.prompt, seed, frames));
        let ambience = req
            .audio
            .then(|| ambience::render(&req.prompt, seed ^ 0xA5A5, frames, &req.motion, req.fps));
        let samples = mix::mix(music, ambience, speech, frames);
        Ok(Some(Pcm {
            sample_rate: SAMPLE_RATE,
            channels: 2,
            samples,
        }))
    }
}
