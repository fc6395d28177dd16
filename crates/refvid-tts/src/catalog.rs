//! Which voices exist and loading them on first use.
//!
//! Voices are Piper `NAME.onnx` files with `NAME.onnx.json` beside them, found in the runtime
//! folder's `voices/` (the default voice, installed from its PyPI package) and in any
//! `--voices-dir`. A voice id is `NAME`, or `NAME:SPEAKER` for a speaker of a multi-speaker
//! voice (its name in the config's `speaker_id_map`, or its number). A later folder's voice
//! replaces an earlier one of the same name. The default voice is `en_US-joe-medium` where
//! installed, else the first by name.

use crate::config::VoiceConfig;
use crate::{SpeechRuntime, TtsError, Voice};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The voice refvid prefers as its default.
pub const PREFERRED_DEFAULT: &str = "en_US-joe-medium";

/// A parsed voice id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceId {
    pub name: String,
    pub speaker: Option<String>,
}

impl VoiceId {
    /// `NAME` or `NAME:SPEAKER`.
    pub fn parse(id: &str) -> Self {
        match id.split_once(':') {
            Some((name, speaker)) => Self {
                name: name.to_string(),
                speaker: Some(speaker.to_string()),
            },
            None => Self {
                name: id.to_string(),
                speaker: None,
            },
        }
    }
}

/// A voice on disk.
#[derive(Debug, Clone)]
pub struct VoiceEntry {
    pub name: String,
    pub model: PathBuf,
    pub config: VoiceConfig,
}

impl VoiceEntry {
    /// Speaker names (or numbers where the config names none), in id order.
    pub fn speakers(&self) -> Vec<String> {
        if self.config.num_speakers <= 1 {
            return Vec::new();
        }
        let mut by_id: BTreeMap<u32, String> = (0..self.config.num_speakers)
            .map(|i| (i, i.to_string()))
            .collect();
        for (name, id) in &self.config.speaker_id_map {
            by_id.insert(*id, name.clone());
        }
        by_id.into_values().collect()
    }
}

/// The voices a process can speak with.
pub struct Catalog {
    runtime: Option<SpeechRuntime>,
    entries: Vec<VoiceEntry>,
    /// Why there is no runtime, when there is none.
    missing: Option<String>,
    loaded: Mutex<HashMap<String, Arc<Loading>>>,
}

/// A voice loaded once, or why it could not be.
type Loading = OnceLock<Result<Arc<Voice>, String>>;

impl Catalog {
    /// The voices of the runtime in `speech_dir` and of `voices_dirs`. A missing runtime is not
    /// an error: the catalog is then empty and [`Catalog::unavailable`] says why. Unreadable
    /// voice configs are.
    pub fn open(
        speech_dir: &Path,
        voices_dirs: &[PathBuf],
        threads: usize,
    ) -> Result<Self, TtsError> {
        let runtime = match SpeechRuntime::open(speech_dir, threads) {
            Ok(runtime) => runtime,
            Err(e) => return Ok(Self::unavailable_because(e.to_string())),
        };
        let mut by_name = BTreeMap::new();
        let installed = runtime.voices_dir();
        for dir in std::iter::once(&installed).chain(voices_dirs) {
            for entry in scan(dir, dir != &installed)? {
                by_name.insert(entry.name.clone(), entry);
            }
        }
        Ok(Self {
            runtime: Some(runtime),
            entries: by_name.into_values().collect(),
            missing: None,
            loaded: Mutex::default(),
        })
    }

    /// A catalog without voices, saying why.
    pub fn unavailable_because(reason: String) -> Self {
        Self {
            runtime: None,
            entries: Vec::new(),
            missing: Some(reason),
            loaded: Mutex::default(),
        }
    }

    /// Every voice, by name.
    pub fn entries(&self) -> &[VoiceEntry] {
        &self.entries
    }

    /// Why nothing can be spoken (no runtime, or no voice), if so.
    pub fn unavailable(&self) -> Option<String> {
        match (&self.missing, self.entries.is_empty()) {
            (Some(reason), _) => Some(reason.clone()),
            (None, true) => Some("no voice is installed; install one with scripts/install-speech.sh or add --voices-dir".into()),
            (None, false) => None,
        }
    }

    /// The default voice.
    pub fn default_entry(&self) -> Option<&VoiceEntry> {
        self.entry(PREFERRED_DEFAULT)
            .or_else(|| self.entries.first())
    }

    pub fn entry(&self, name: &str) -> Option<&VoiceEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The voice and speaker an id means, or why it means none.
    pub fn resolve(&self, id: &str) -> Result<(&VoiceEntry, Option<u32>), TtsError> {
        let parsed = VoiceId::parse(id);
        let entry = self.entry(&parsed.name).ok_or_else(|| {
            TtsError::UnknownVoice(format!("no voice is named {:?}", parsed.name))
        })?;
        let speaker = match parsed.speaker {
            Some(which) => Some(entry.config.speaker(&which)?),
            None => (entry.config.num_speakers > 1).then_some(entry.config.default_speaker_id),
        };
        Ok((entry, speaker))
    }

    /// The loaded voice `name` (loaded on first use, then shared).
    pub fn voice(&self, name: &str) -> Result<Arc<Voice>, TtsError> {
        let entry = self
            .entry(name)
            .ok_or_else(|| TtsError::UnknownVoice(format!("no voice is named {name:?}")))?;
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| TtsError::Runtime(self.unavailable().unwrap_or_default()))?;
        let cell = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_string())
            .or_default()
            .clone();
        let loaded = cell.get_or_init(|| {
            let started = std::time::Instant::now();
            let voice = Voice::load(&entry.model, runtime)
                .map(Arc::new)
                .map_err(|e| e.to_string());
            tracing::info!(
                voice = name,
                ms = started.elapsed().as_millis() as u64,
                ok = voice.is_ok(),
                "voice loaded"
            );
            voice
        });
        loaded.clone().map_err(TtsError::Model)
    }
}

/// The voices in `dir`: every `NAME.onnx` with a `NAME.onnx.json`. A missing folder is empty
/// for the installed one and an error for one the user named.
fn scan(dir: &Path, named_by_user: bool) -> Result<Vec<VoiceEntry>, TtsError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(_) if !named_by_user => return Ok(Vec::new()),
        Err(e) => {
            return Err(TtsError::Config(format!(
                "reading the voices folder {}: {e}",
                dir.display()
            )));
        }
    };
    let mut entries = Vec::new();
    for item in listing.flatten() {
        let path = item.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".onnx"))
        else {
            continue;
        };
        let config_path = path.with_extension("onnx.json");
        if !config_path.exists() {
            tracing::warn!(model = %path.display(), "voice model without its .onnx.json is skipped");
            continue;
        }
        entries.push(VoiceEntry {
            name: name.to_string(),
            model: path.clone(),
            config: VoiceConfig::load(&config_path)?,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_at_the_colon() {
        assert_eq!(
            VoiceId::parse("en_US-joe-medium"),
            VoiceId {
                name: "en_US-joe-medium".into(),
                speaker: None
            }
        );
        assert_eq!(
            VoiceId::parse("libritts:p225").speaker.as_deref(),
            Some("p225")
        );
    }

    #[test]
    fn without_a_runtime_the_catalog_is_empty_and_says_why() {
        let dir = std::env::temp_dir().join("refvid-tts-no-runtime-here");
        let catalog = Catalog::open(&dir, &[], 1).unwrap();
        assert!(catalog.entries().is_empty());
        assert!(catalog.default_entry().is_none());
        assert!(catalog.unavailable().unwrap().contains("install-speech.sh"));
        assert!(matches!(catalog.voice("x"), Err(TtsError::UnknownVoice(_))));
    }
}
