//! The installed speech runtime and default voice, which these tests need.

use refvid_tts::{Catalog, Voice};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// `$REFVID_SPEECH_DIR` or the default install folder; fails the test, saying what to run,
/// when the runtime is not installed.
pub fn speech_dir() -> PathBuf {
    let dir = refvid_tts::runtime::default_dir();
    assert!(
        dir.join("runtime").is_dir() && dir.join("voices/en_US-joe-medium.onnx").is_file(),
        "the speech runtime and en_US-joe-medium are not installed in {}; run scripts/install-speech.sh \
         (scripts/test-deps.sh does) or set REFVID_SPEECH_DIR",
        dir.display()
    );
    dir
}

/// The joe voice, loaded once per test binary.
pub fn joe() -> Arc<Voice> {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    let catalog = CATALOG.get_or_init(|| Catalog::open(&speech_dir(), &[], 2).expect("catalog"));
    catalog
        .voice("en_US-joe-medium")
        .expect("the joe voice loads")
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}
