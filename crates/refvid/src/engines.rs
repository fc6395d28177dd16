//! Choosing the engine workers run: the CPU compositor (the default, no weights needed) or the
//! Wan 2.1 VACE model from a diffusers folder.

use anyhow::Context;
use refvid_engine::Engine;
use refvid_engine::compositor::CompositorEngine;
use refvid_wan::check::{DeviceKind, Precision};
use refvid_wan::engine::{WanEngine, WanEngineOptions};
use std::path::PathBuf;
use std::sync::Arc;

/// Which engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// The deterministic CPU compositor.
    #[default]
    Compositor,
    /// Wan 2.1 VACE (reference-to-video) on candle.
    Wan,
}

/// The engine and, for `wan`, how to run the model.
#[derive(Debug, Clone, Default)]
pub struct EngineChoice {
    pub kind: EngineKind,
    /// A diffusers `WanVACEPipeline` folder (`wan` only).
    pub model_dir: Option<PathBuf>,
    /// Denoising steps; the model's default (50) when `None`.
    pub steps: Option<usize>,
    /// Guidance scale; the model's default (5.0) when `None`.
    pub guidance: Option<f64>,
    /// The landscape native size; 832×480 when `None`.
    pub native_size: Option<(usize, usize)>,
    /// Precision of the text encoder and transformer.
    pub precision: Precision,
    /// cpu or cuda:N.
    pub device: DeviceKind,
    /// The negative prompt used with guidance.
    pub negative_prompt: Option<String>,
}

/// Loads the chosen engine; for `wan`, fails naming what the model folder lacks.
pub fn build_engine(choice: &EngineChoice) -> anyhow::Result<Arc<dyn Engine>> {
    match choice.kind {
        EngineKind::Compositor => Ok(Arc::new(CompositorEngine::new())),
        EngineKind::Wan => Ok(Arc::new(load_wan(choice)?)),
    }
}

fn load_wan(choice: &EngineChoice) -> anyhow::Result<WanEngine> {
    let dir = choice
        .model_dir
        .as_ref()
        .context("--engine wan needs --model-dir DIR (a diffusers Wan2.1-VACE folder)")?;
    let defaults = WanEngineOptions::default();
    let options = WanEngineOptions {
        steps: choice.steps.unwrap_or(defaults.steps),
        guidance: choice.guidance.unwrap_or(defaults.guidance),
        native_size: choice.native_size.unwrap_or(defaults.native_size),
        negative_prompt: choice.negative_prompt.clone().unwrap_or_default(),
        dtype: choice.precision.dtype(),
        device: choice.device.open().context("opening the model's device")?,
        ..defaults
    };
    WanEngine::load(dir, options)
        .with_context(|| format!("loading the wan engine from {}", dir.display()))
}

/// Parses `WxH` (e.g. `832x480`).
pub fn parse_size(text: &str) -> Result<(usize, usize), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, got {text:?}"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("expected WIDTHxHEIGHT, got {text:?}"))
    };
    Ok((parse(w)?, parse(h)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("832x480"), Ok((832, 480)));
        assert_eq!(parse_size("64X48"), Ok((64, 48)));
        assert!(parse_size("832").is_err());
        assert!(parse_size("ax4").is_err());
    }

    #[test]
    fn wan_without_a_folder_says_what_to_pass() {
        let choice = EngineChoice {
            kind: EngineKind::Wan,
            ..Default::default()
        };
        let err = build_engine(&choice).err().expect("refused").to_string();
        assert!(err.contains("--model-dir"), "{err}");
    }

    #[test]
    fn an_incomplete_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let choice = EngineChoice {
            kind: EngineKind::Wan,
            model_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let err = format!("{:#}", build_engine(&choice).err().expect("refused"));
        assert!(err.contains("missing model_index.json"), "{err}");
        assert!(err.contains("transformer"), "{err}");
    }
}
