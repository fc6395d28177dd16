//! Dialogue in the clip: the Piper voices of refvid-tts behind the API server's
//! [`Speech`](refvid_server::voices::Speech) seam (`GET /v3/voices`, the length check at
//! submit) and the worker's [`AudioEngine`] (lines spoken, laid out, mixed under ducking).
//!
//! The check at submit and the synthesis agree to the sample: both cast the subjects the same
//! way ([`refvid_tts::cast`]) and time each line with the voice's durations graph on the same
//! ids and noise seed (the task's seed) that the synthesis then uses; the worker still fails a
//! task whose lines do not fit (e.g. the voices changed between submit and run) rather than
//! cut a word.

use crate::tts_cmd::SpeechArgs;
use refvid_api::TaskSpec;
use refvid_api::voices::{VoiceInfo, VoiceList};
use refvid_audio::{AudioEngine, AudioError, AudioRequest, Pcm, SAMPLE_RATE, SynthAudio, dialogue};
use refvid_server::voices::{Speech, SpeechRefusal};
use refvid_tts::cast::{Role, cast};
use refvid_tts::{Catalog, TtsError};
use std::sync::Arc;

/// The voices of this process.
pub struct SpeechService {
    catalog: Catalog,
}

impl SpeechService {
    pub fn new(catalog: Catalog) -> Self {
        Self { catalog }
    }

    /// The runtime and voices `args` name; without a runtime, a service that says why.
    pub fn open(args: &SpeechArgs) -> anyhow::Result<Self> {
        let catalog = args.catalog()?;
        if let Some(why) = catalog.unavailable() {
            tracing::warn!(reason = %why, "no speech: spoken lines will be refused");
        }
        Ok(Self::new(catalog))
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn roles(&self, voice_ids: &[Option<&str>]) -> Result<Vec<Role>, TtsError> {
        if let Some(why) = self.catalog.unavailable() {
            return Err(TtsError::Runtime(why));
        }
        cast(&self.catalog, voice_ids)
    }

    /// Samples at 48 kHz of each line (`(subject, text)`), without making audio.
    fn line_lengths(
        &self,
        roles: &[Role],
        lines: &[(usize, &str)],
        seed: u64,
    ) -> Result<Vec<usize>, TtsError> {
        lines
            .iter()
            .enumerate()
            .map(|(i, (subject, text))| {
                roles[*subject].samples(&self.catalog, text, seed, i, SAMPLE_RATE)
            })
            .collect()
    }
}

impl Speech for SpeechService {
    fn voices(&self) -> VoiceList {
        let default = self.catalog.default_entry().map(|e| e.name.clone());
        VoiceList {
            voices: self
                .catalog
                .entries()
                .iter()
                .map(|e| VoiceInfo {
                    id: e.name.clone(),
                    language: e.config.espeak_voice.clone(),
                    sample_rate: e.config.sample_rate,
                    speakers: e.speakers(),
                    default: Some(&e.name) == default.as_ref(),
                })
                .collect(),
            unavailable: self.catalog.unavailable(),
        }
    }

    fn check(&self, spec: &TaskSpec, seed: u32) -> Result<(), SpeechRefusal> {
        let lines = spec.spoken_lines();
        if lines.is_empty() {
            return Ok(());
        }
        let voice_ids: Vec<Option<&str>> = spec
            .subjects
            .iter()
            .map(|s| s.voice_id.as_deref())
            .collect();
        let roles = self
            .roles(&voice_ids)
            .map_err(|e| SpeechRefusal::Unavailable(e.to_string()))?;
        let pairs: Vec<(usize, &str)> =
            lines.iter().map(|l| (l.subject, l.text.as_str())).collect();
        let lengths = self
            .line_lengths(&roles, &pairs, seed as u64)
            .map_err(refusal)?;
        let frames = spec.duration_secs as usize * SAMPLE_RATE as usize;
        let (_, end) = dialogue::place(&lengths, SAMPLE_RATE);
        if end > frames {
            return Err(SpeechRefusal::Request(too_long(
                lines.len(),
                end as f64 / SAMPLE_RATE as f64,
                spec.duration_secs as f64,
            )));
        }
        Ok(())
    }
}

fn refusal(e: TtsError) -> SpeechRefusal {
    match e {
        TtsError::BadRequest(why) => {
            SpeechRefusal::Request(format!("a spoken line cannot be spoken: {why}"))
        }
        other => SpeechRefusal::Unavailable(other.to_string()),
    }
}

/// The sentence for dialogue that does not fit its clip.
fn too_long(lines: usize, needed: f64, clip: f64) -> String {
    let what = if lines == 1 {
        "the prompt's spoken line".to_string()
    } else {
        format!("the prompt's {lines} spoken lines")
    };
    format!(
        "{what} would take {needed:.2} s to say (starting at {:.2} s, {:.2} s between lines), longer than the {clip:.0} s clip; shorten the lines or ask for a longer duration",
        dialogue::LEAD_IN_SECS,
        dialogue::PAUSE_SECS,
    )
}

/// The built-in music and ambience with the subjects' lines spoken over them.
pub struct VoicedAudio {
    speech: Arc<SpeechService>,
}

impl VoicedAudio {
    pub fn new(speech: Arc<SpeechService>) -> Self {
        Self { speech }
    }

    fn roles_of(&self, req: &AudioRequest) -> Result<Vec<Role>, TtsError> {
        let voice_ids: Vec<Option<&str>> =
            req.speakers.iter().map(|s| s.voice_id.as_deref()).collect();
        self.speech.roles(&voice_ids)
    }
}

impl AudioEngine for VoicedAudio {
    fn name(&self) -> &'static str {
        "synth+piper"
    }

    fn render(&self, req: &AudioRequest) -> Result<Option<Pcm>, AudioError> {
        if !req.audio || req.lines.is_empty() {
            return SynthAudio.render(req);
        }
        let failed = |e: TtsError| AudioError::Speech(format!("speaking the lines failed: {e}"));
        let roles = self.roles_of(req).map_err(failed)?;
        let catalog = self.speech.catalog();
        let mut spoken = Vec::with_capacity(req.lines.len());
        let started = std::time::Instant::now();
        for (i, line) in req.lines.iter().enumerate() {
            let role = roles.get(line.subject).ok_or_else(|| {
                AudioError::Speech(format!(
                    "a line names subject {}, which does not exist",
                    line.subject + 1
                ))
            })?;
            spoken.push(
                role.speak(catalog, &line.text, req.seed, i, SAMPLE_RATE)
                    .map_err(failed)?,
            );
        }
        let frames = (req.duration_secs * SAMPLE_RATE as f64).round() as usize;
        let track = dialogue::lay_out(&spoken, SAMPLE_RATE, frames).map_err(|needed| {
            AudioError::Speech(too_long(spoken.len(), needed, req.duration_secs))
        })?;
        tracing::info!(
            lines = spoken.len(),
            ms = started.elapsed().as_millis() as u64,
            "lines spoken"
        );
        SynthAudio.render_with_speech(req, Some(&track))
    }

    /// `voices`: who spoke with which voice; `voice_fallback`: subjects whose `voice_id` this
    /// server does not have, and the voice they spoke with instead.
    fn notes(&self, req: &AudioRequest) -> Vec<(&'static str, String)> {
        if !req.audio || req.lines.is_empty() {
            return Vec::new();
        }
        let Ok(roles) = self.roles_of(req) else {
            return Vec::new();
        };
        let mut speaking: Vec<usize> = req.lines.iter().map(|l| l.subject).collect();
        speaking.sort_unstable();
        speaking.dedup();
        let name = |i: usize| req.speakers.get(i).map_or("?", |s| s.name.as_str());
        let voices: Vec<String> = speaking
            .iter()
            .filter_map(|&i| Some(format!("{}: {}", name(i), roles.get(i)?.describe())))
            .collect();
        let fallbacks: Vec<String> = speaking
            .iter()
            .filter_map(|&i| {
                let role = roles.get(i)?;
                let asked = role.unknown_voice_id.as_ref()?;
                Some(format!(
                    "{}: voice_id {asked:?} is not installed here; spoke with {}",
                    name(i),
                    role.describe()
                ))
            })
            .collect();
        let mut notes = vec![("voices", voices.join("; "))];
        if !fallbacks.is_empty() {
            notes.push(("voice_fallback", fallbacks.join("; ")));
        }
        notes
    }
}
