//! Model weights for refvid: the catalogue of what it runs, pulling from the Hugging Face Hub,
//! and the models directory. Engines never see any of this: they receive a resolved folder.
//!
//! - [`catalogue`]: short names (`wan2.1-vace-1.3b`, …) with their repositories and exactly the
//!   files each needs.
//! - [`pull`]: downloads a catalogue name or `org/repo[:file1,file2]` through the `hf-hub`
//!   crate (honouring `HF_ENDPOINT` and `HF_TOKEN`), resumable, every file checked against the
//!   Hub's sha256 (LFS) or git blob id, a corrupt one fetched again, progress per file and in
//!   total, clear errors for 401/404 and a full disk.
//! - [`ModelsDir`]: where it all lives (`REFVID_MODELS_DIR`, default `<data dir>/models`), in
//!   the Hub's cache layout, and [`ModelsDir::resolve`] for `--model NAME`.
//! - [`list`]: the catalogue and what is on disk, with sizes.

pub mod catalogue;
mod error;
#[cfg(feature = "fake-hub")]
pub mod fake_hub;
mod hub;
mod layout;
mod progress;
mod pull;
pub mod target;
mod verify;

pub use error::{ModelsError, human};
pub use hub::HubConfig;
pub use layout::{Manifest, ModelsDir, PulledFile, PulledPart};
pub use pull::{FileAction, FileReport, PullOptions, PullReport, pull};

/// One line of `refvid models list`.
#[derive(Debug, Clone)]
pub struct Listing {
    pub name: String,
    /// The catalogue's description (`None` for a repository pulled by id).
    pub about: Option<&'static str>,
    /// Set once the name was pulled.
    pub pulled: Option<Manifest>,
}

/// The catalogue, then any other pulled names, each with what is on disk.
pub fn list(models: &ModelsDir) -> Vec<Listing> {
    let mut pulled = models.manifests();
    let mut lines: Vec<Listing> = catalogue::CATALOGUE
        .iter()
        .map(|entry| Listing {
            name: entry.name.into(),
            about: Some(entry.about),
            pulled: take(&mut pulled, entry.name),
        })
        .collect();
    lines.extend(pulled.into_iter().map(|m| Listing {
        name: m.name.clone(),
        about: None,
        pulled: Some(m),
    }));
    lines
}

fn take(manifests: &mut Vec<Manifest>, name: &str) -> Option<Manifest> {
    let at = manifests.iter().position(|m| m.name == name)?;
    Some(manifests.remove(at))
}
