//! Checking a Wan-family model folder before loading it, naming what is missing.
//!
//! Two forms are accepted: a diffusers pipeline folder (`model_index.json`, `scheduler/`,
//! `text_encoder/`, `tokenizer/`, `transformer/`, `vae/`) and an original Wan folder
//! (`Wan2.1-T2V-1.3B` as published: a transformer checkpoint, `models_t5_umt5-xxl-enc-bf16.pth`,
//! `Wan2.1_VAE.pth`, `google/umt5-xxl/tokenizer.json`; see [`crate::loading`]).

use std::path::Path;

use crate::error::WanError;
use crate::layout::Component;
use crate::loading::{module_source, tokenizer_file, transformer_candidates};

/// The parts of a diffusers pipeline folder the engines load.
pub const REQUIRED_PARTS: [&str; 6] = [
    "model_index.json",
    "scheduler",
    "text_encoder",
    "tokenizer",
    "transformer",
    "vae",
];

/// Which form a model folder has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderKind {
    /// A diffusers pipeline folder.
    Diffusers,
    /// The original Wan release's folder.
    Original,
}

/// Checks that `dir` holds a loadable model in either form; `pipeline` names the diffusers
/// class in messages (`WanVACEPipeline`). With `own_transformer`, the transformer comes from
/// elsewhere and the folder need not have one.
pub fn check_model_dir(
    dir: &Path,
    pipeline: &str,
    own_transformer: bool,
) -> Result<FolderKind, WanError> {
    if !dir.is_dir() {
        return Err(WanError::Input(format!(
            "the model folder {} does not exist",
            dir.display()
        )));
    }
    if !dir.join("model_index.json").is_file() && has_weight_files(dir) {
        return check_original(dir, own_transformer).map(|()| FolderKind::Original);
    }
    let missing: Vec<&str> = REQUIRED_PARTS
        .iter()
        .copied()
        .filter(|part| !dir.join(part).exists())
        .filter(|part| !(own_transformer && *part == "transformer"))
        .collect();
    if missing.is_empty() {
        return Ok(FolderKind::Diffusers);
    }
    Err(WanError::Input(format!(
        "the model folder {} is incomplete: missing {} (a diffusers {pipeline} folder has {}; an \
         original Wan folder has a transformer checkpoint, a *t5* and a *vae* weight file and \
         google/umt5-xxl/tokenizer.json)",
        dir.display(),
        missing.join(", "),
        REQUIRED_PARTS.join(", ")
    )))
}

fn has_weight_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.ends_with(".pth") || name.ends_with(".safetensors")
        })
    })
}

/// Every problem of an original folder, in one message.
fn check_original(dir: &Path, own_transformer: bool) -> Result<(), WanError> {
    let mut problems = Vec::new();
    for component in [Component::TextEncoder, Component::Vae] {
        if let Err(e) = module_source(dir, component) {
            problems.push(e.to_string());
        }
    }
    if let Err(e) = tokenizer_file(dir) {
        problems.push(e.to_string());
    }
    if !own_transformer && transformer_candidates(dir).map_or(true, |c| c.is_empty()) {
        problems.push("no transformer checkpoint".into());
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(WanError::Input(format!(
        "the original Wan folder {} is incomplete: {}",
        dir.display(),
        problems.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_folder_is_refused_naming_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model_index.json"), "{}").unwrap();
        std::fs::create_dir(dir.path().join("transformer")).unwrap();
        let err = check_model_dir(dir.path(), "WanPipeline", false)
            .unwrap_err()
            .to_string();
        for part in ["scheduler", "text_encoder", "tokenizer", "vae"] {
            assert!(err.contains(part), "{err}");
        }
        assert!(!err.contains("missing model_index.json"), "{err}");
        assert!(err.contains("WanPipeline"), "{err}");
        let gone = check_model_dir(&dir.path().join("nope"), "WanPipeline", false).unwrap_err();
        assert!(gone.to_string().contains("does not exist"));
    }

    #[test]
    fn an_original_folder_names_its_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Wan2.1_VAE.pth"), b"").unwrap();
        let err = check_model_dir(dir.path(), "WanPipeline", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("original Wan folder"), "{err}");
        assert!(err.contains("no text encoder weights"), "{err}");
        assert!(err.contains("google/umt5-xxl/tokenizer.json"), "{err}");
        assert!(err.contains("no transformer checkpoint"), "{err}");
        assert!(!err.contains("VAE"), "{err}");
    }
}
