//! The espeak-ng phonemizer, exactly the build piper-tts 1.8.0 uses.
//!
//! piper-tts does not use the system's espeak-ng: its wheel carries espeak-ng 1.52.0.1 linked
//! statically into `piper/espeakbridge.so`, with its own `espeak-ng-data`. Older or newer
//! espeak-ng builds phonemize some words differently (Debian bookworm's 1.51 says `fˈoːɹ` for
//! "four" where piper says `fˈɔːɹ`), and a voice was trained on piper's phonemes, so refvid
//! loads that very library and data (installed from the wheel by `scripts/install-speech.sh`)
//! and calls its C API, `espeak_TextToPhonemesWithTerminator` included.
//!
//! The library is a CPython extension module: it names a few Python symbols that its host
//! process normally provides. A tiny stub library (`host_stub.c`, built by `build.rs`) provides
//! them; it is loaded first, from memory, with global visibility. None of them is ever used.
//!
//! espeak-ng keeps its state in globals, so a process has one runtime (one data folder), and
//! calls are serialised behind a lock.

use crate::TtsError;
use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_LOCAL, RTLD_NOW, Symbol};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::io::Write;
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The stub that stands in for the Python host (see the module docs).
static HOST_STUB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libpiper_host_stub.so"));

/// The file of the library inside an espeak runtime folder.
pub const LIBRARY_FILE: &str = "espeakbridge.so";
/// The data folder inside an espeak runtime folder.
pub const DATA_DIR: &str = "espeak-ng-data";

// espeak-ng's C API constants (speak_lib.h).
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
const ESPEAK_CHARS_AUTO: c_int = 0;
const ESPEAK_PHONEMES_IPA: c_int = 0x02;
// Clause kinds as TranslateClause reports them (translate.h), masked to their low 20 bits.
const CLAUSE_TYPE_SENTENCE: c_int = 0x0008_0000;
const CLAUSE_PERIOD: c_int = 40 | CLAUSE_TYPE_SENTENCE;
const CLAUSE_COMMA: c_int = 20 | 0x1000 | 0x0004_0000;
const CLAUSE_QUESTION: c_int = 40 | 0x2000 | CLAUSE_TYPE_SENTENCE;
const CLAUSE_EXCLAMATION: c_int = 45 | 0x3000 | CLAUSE_TYPE_SENTENCE;
const CLAUSE_COLON: c_int = 30 | 0x0004_0000;
const CLAUSE_SEMICOLON: c_int = 30 | 0x1000 | 0x0004_0000;

type InitializeFn = unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int;
type SetVoiceFn = unsafe extern "C" fn(*const c_char) -> c_int;
type ToPhonemesFn =
    unsafe extern "C" fn(*mut *const c_void, c_int, c_int, *mut c_int) -> *const c_char;

/// One clause as espeak-ng splits the text: its IPA phonemes, the punctuation that ended it
/// and whether it ends a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub phonemes: String,
    /// `.`, `?`, `!`, `,`, `:` or `;`; `None` when the clause ended otherwise.
    pub terminator: Option<char>,
    pub end_of_sentence: bool,
}

/// A loaded espeak-ng (one per process).
pub struct Espeak {
    folder: PathBuf,
    calls: Mutex<Calls>,
}

/// The library's entry points; only used with the lock held.
struct Calls {
    set_voice: Symbol<SetVoiceFn>,
    to_phonemes: Symbol<ToPhonemesFn>,
    /// The voice set last, so switching is skipped when it did not change.
    voice: Option<String>,
    _library: Library,
    _stub: Library,
}

static RUNTIME: OnceLock<Arc<Espeak>> = OnceLock::new();

impl Espeak {
    /// Loads the runtime in `folder` (holding `espeakbridge.so` and `espeak-ng-data/`), or
    /// returns the one this process loaded already (it must be the same folder).
    pub fn load(folder: &Path) -> Result<Arc<Espeak>, TtsError> {
        static LOADING: Mutex<()> = Mutex::new(());
        let _guard = LOADING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(loaded) = RUNTIME.get() {
            return match loaded.folder == folder {
                true => Ok(loaded.clone()),
                false => Err(TtsError::Espeak(format!(
                    "this process already uses the espeak-ng runtime in {}; it cannot load a second one from {}",
                    loaded.folder.display(),
                    folder.display()
                ))),
            };
        }
        let loaded = Arc::new(open(folder)?);
        let _ = RUNTIME.set(loaded.clone());
        Ok(loaded)
    }

    /// The folder this runtime was loaded from.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Splits `text` into clauses and phonemizes each with the espeak-ng voice `voice`
    /// (e.g. `en-us`), as piper-tts does.
    pub fn clauses(&self, voice: &str, text: &str) -> Result<Vec<Clause>, TtsError> {
        // A NUL would end the C string early; espeak-ng reads it as a space anyway.
        let text = CString::new(text.replace('\0', " ")).expect("NULs were replaced");
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.select_voice(voice)?;
        let mut clauses = Vec::new();
        let mut cursor: *const c_void = text.as_ptr().cast();
        while !cursor.is_null() {
            let mut terminator: c_int = 0;
            // SAFETY: `cursor` points into `text`, which outlives the loop; espeak-ng advances
            // it clause by clause and sets it to null at the end. The returned string is
            // espeak-ng's own buffer, copied before the next call.
            let phonemes = unsafe {
                let out = (calls.to_phonemes)(
                    &mut cursor,
                    ESPEAK_CHARS_AUTO,
                    ESPEAK_PHONEMES_IPA,
                    &mut terminator,
                );
                match out.is_null() {
                    true => String::new(),
                    false => CStr::from_ptr(out).to_string_lossy().into_owned(),
                }
            };
            clauses.push(clause(phonemes, terminator));
        }
        Ok(clauses)
    }
}

impl Calls {
    fn select_voice(&mut self, voice: &str) -> Result<(), TtsError> {
        if self.voice.as_deref() == Some(voice) {
            return Ok(());
        }
        let name = CString::new(voice)
            .map_err(|_| TtsError::Espeak(format!("bad espeak voice name {voice:?}")))?;
        // SAFETY: a valid C string; espeak-ng copies what it needs.
        let status = unsafe { (self.set_voice)(name.as_ptr()) };
        if status != 0 {
            return Err(TtsError::Espeak(format!(
                "espeak-ng has no voice {voice:?} (status {status})"
            )));
        }
        self.voice = Some(voice.to_string());
        Ok(())
    }
}

fn clause(phonemes: String, terminator: c_int) -> Clause {
    let kind = terminator & 0x000F_FFFF;
    let terminator = match kind {
        CLAUSE_PERIOD => Some('.'),
        CLAUSE_QUESTION => Some('?'),
        CLAUSE_EXCLAMATION => Some('!'),
        CLAUSE_COMMA => Some(','),
        CLAUSE_COLON => Some(':'),
        CLAUSE_SEMICOLON => Some(';'),
        _ => None,
    };
    Clause {
        phonemes,
        terminator,
        end_of_sentence: kind & CLAUSE_TYPE_SENTENCE == CLAUSE_TYPE_SENTENCE,
    }
}

/// Loads the stub, then the library, and initialises espeak-ng with the data folder.
fn open(folder: &Path) -> Result<Espeak, TtsError> {
    let library_path = folder.join(LIBRARY_FILE);
    let data = folder.join(DATA_DIR);
    for needed in [&library_path, &data] {
        if !needed.exists() {
            return Err(TtsError::Espeak(format!(
                "{} is missing; install the speech runtime with scripts/install-speech.sh",
                needed.display()
            )));
        }
    }
    let stub = load_stub()?;
    // SAFETY: loading a library runs its initialisers; the wheel's module has none beyond
    // the C runtime's. Its Python entry points are never called.
    let library = unsafe { Library::open(Some(&library_path), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| TtsError::Espeak(format!("loading {}: {e}", library_path.display())))?;
    let symbol = |name: &str| TtsError::Espeak(format!("{} lacks {name}", library_path.display()));
    // SAFETY: the signatures are those of speak_lib.h for these names.
    let (initialize, set_voice, to_phonemes) = unsafe {
        (
            library
                .get::<InitializeFn>(b"espeak_Initialize")
                .map_err(|_| symbol("espeak_Initialize"))?,
            library
                .get::<SetVoiceFn>(b"espeak_SetVoiceByName")
                .map_err(|_| symbol("espeak_SetVoiceByName"))?,
            library
                .get::<ToPhonemesFn>(b"espeak_TextToPhonemesWithTerminator")
                .map_err(|_| symbol("espeak_TextToPhonemesWithTerminator"))?,
        )
    };
    initialise(*initialize, &data)?;
    Ok(Espeak {
        folder: folder.to_path_buf(),
        calls: Mutex::new(Calls {
            set_voice,
            to_phonemes,
            voice: None,
            _library: library,
            _stub: stub,
        }),
    })
}

fn initialise(initialize: InitializeFn, data: &Path) -> Result<(), TtsError> {
    // The data folder itself, as piper passes it (espeak-ng also accepts its parent).
    let path = CString::new(data.as_os_str().as_encoded_bytes())
        .map_err(|_| TtsError::Espeak(format!("bad path {}", data.display())))?;
    // SAFETY: espeak_Initialize copies the path; no callbacks are registered.
    let rate = unsafe { initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, path.as_ptr(), 0) };
    if rate < 0 {
        return Err(TtsError::Espeak(format!(
            "espeak-ng could not start with the data in {} (status {rate})",
            data.display()
        )));
    }
    Ok(())
}

/// Writes the embedded stub into an anonymous memory file and loads it from there.
fn load_stub() -> Result<Library, TtsError> {
    let failed = |what: &str, e: std::io::Error| TtsError::Espeak(format!("{what}: {e}"));
    // SAFETY: a plain system call with a valid, NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"refvid-python-host-stub".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(failed(
            "creating the host stub",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` was just created and is owned here alone.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(HOST_STUB)
        .map_err(|e| failed("writing the host stub", e))?;
    let path = format!("/proc/self/fd/{fd}");
    // SAFETY: the stub has no initialisers; it only defines inert symbols.
    let stub = unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_GLOBAL) }
        .map_err(|e| TtsError::Espeak(format!("loading the host stub: {e}")))?;
    drop(file);
    Ok(stub)
}
