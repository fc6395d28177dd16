//! LoRAs merged into the transformer's weights at load (`--lora FILE[:SCALE]`), so a step costs
//! nothing extra: for each patched weight `W += SCALE · (alpha / rank) · B·A`, plus full deltas
//! (`W += SCALE · diff`, `bias += SCALE · diff_b`), with the arithmetic in f32 whatever the
//! checkpoint's dtype, as diffusers' `load_lora_weights` followed by
//! `fuse_lora(lora_scale=SCALE)` does (`docs/PARITY.md`, "Fast").
//!
//! - [`keys`]: the three published key formats (diffusers/PEFT, the original Wan layout of
//!   CausVid and lightx2v extractions, musubi-tuner) → diffusers module names.
//! - [`merge`]: [`MergedCheckpoint`], a weight store that adds the patches to each tensor as the
//!   model reads it.
//!
//! `alpha` comes from the file's `.alpha` keys (original, musubi), else from a diffusers file's
//! `lora_adapter_metadata` (`lora_alpha`), else it is the rank (scale 1). A file none of whose
//! keys is a LoRA key, a key of no known form, a module the model does not have, or factors whose
//! shapes do not fit the weight, is an error naming the first such keys. Unlike diffusers (which
//! skips them) `.diff` deltas are applied, as ComfyUI and LightX2V apply them.

pub mod keys;
pub mod merge;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Result, WanError};
use crate::loading::Checkpoint;
pub use keys::{Format, Part};
pub use merge::MergedCheckpoint;

/// `FILE[:SCALE]` (scale 1 by default).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraSpec {
    pub path: PathBuf,
    pub scale: f64,
}

impl FromStr for LoraSpec {
    type Err = WanError;

    /// `FILE` or `FILE:SCALE`; a `:` followed by something that is not a number is part of the
    /// path.
    fn from_str(s: &str) -> Result<Self> {
        let (path, scale) = match s.rsplit_once(':') {
            Some((p, n)) if !p.is_empty() => match n.trim().parse::<f64>() {
                Ok(v) => (p, v),
                Err(_) => (s, 1.0),
            },
            _ => (s, 1.0),
        };
        if path.is_empty() || !scale.is_finite() {
            return Err(WanError::Input(format!(
                "--lora `{s}`: expected FILE or FILE:SCALE with a finite SCALE"
            )));
        }
        Ok(Self {
            path: PathBuf::from(path),
            scale,
        })
    }
}

impl fmt::Display for LoraSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.scale)
    }
}

/// The keys of one module in one file.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModuleKeys {
    pub(crate) down: Option<String>,
    pub(crate) up: Option<String>,
    pub(crate) alpha: Option<String>,
    pub(crate) diff: Option<String>,
    pub(crate) diff_bias: Option<String>,
}

/// One opened LoRA file: its tensors and its keys by diffusers module.
pub struct LoraFile {
    pub(crate) spec: LoraSpec,
    pub(crate) format: Format,
    pub(crate) tensors: Checkpoint,
    /// `lora_alpha` of a diffusers file's metadata.
    pub(crate) metadata_alpha: Option<f64>,
    pub(crate) modules: BTreeMap<String, ModuleKeys>,
}

/// Up to five keys for a message.
fn first_keys(keys: &[String]) -> String {
    let shown: Vec<&str> = keys.iter().take(5).map(String::as_str).collect();
    let more = keys.len().saturating_sub(5);
    if more > 0 {
        format!("{} (and {more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

pub(crate) fn lora_error(path: &Path, msg: String) -> WanError {
    WanError::Lora {
        path: path.to_path_buf(),
        msg,
    }
}

impl LoraFile {
    /// Opens a LoRA (`.safetensors`, or a `.pth` state dict) and sorts its keys by module;
    /// keys of no known form are an error naming them.
    pub fn open(spec: &LoraSpec) -> Result<Self> {
        let tensors = Checkpoint::open(std::slice::from_ref(&spec.path))?;
        let names = tensors.names();
        let format = keys::detect(names.iter().map(String::as_str));
        let mut modules: BTreeMap<String, ModuleKeys> = BTreeMap::new();
        let mut unknown = Vec::new();
        for key in &names {
            let Some((module, part)) = keys::parse(format, key) else {
                unknown.push(key.clone());
                continue;
            };
            let m = modules.entry(module).or_default();
            let slot = match part {
                Part::Down => &mut m.down,
                Part::Up => &mut m.up,
                Part::Alpha => &mut m.alpha,
                Part::Diff => &mut m.diff,
                Part::DiffBias => &mut m.diff_bias,
            };
            *slot = Some(key.clone());
        }
        if modules.is_empty() || !unknown.is_empty() {
            let what = if modules.is_empty() {
                "no LoRA keys"
            } else {
                "keys of no known LoRA form"
            };
            return Err(lora_error(
                &spec.path,
                format!(
                    "{what} ({} format assumed): {}",
                    format.name(),
                    first_keys(if unknown.is_empty() { &names } else { &unknown })
                ),
            ));
        }
        Ok(Self {
            metadata_alpha: metadata_alpha(&spec.path)?,
            spec: spec.clone(),
            format,
            tensors,
            modules,
        })
    }

    /// The file's key format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The diffusers modules it patches.
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }
}

/// `lora_alpha` from a safetensors file's `lora_adapter_metadata` (diffusers writes it with a
/// `transformer.` prefix); per-module `alpha_pattern`s and DoRA are refused.
fn metadata_alpha(path: &Path) -> Result<Option<f64>> {
    let Some(meta) = safetensors_metadata(path)? else {
        return Ok(None);
    };
    let Some(text) = meta.get("lora_adapter_metadata").and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| lora_error(path, format!("lora_adapter_metadata is not JSON: {e}")))?;
    let get = |k: &str| {
        json.get(format!("transformer.{k}"))
            .or_else(|| json.get(k))
            .filter(|v| !v.is_null())
    };
    let patterned =
        get("alpha_pattern").is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()));
    if patterned || get("use_dora").and_then(|v| v.as_bool()) == Some(true) {
        return Err(lora_error(
            path,
            "per-module alpha_pattern and DoRA adapters are not supported".into(),
        ));
    }
    Ok(get("lora_alpha").and_then(|v| v.as_f64()))
}

/// The `__metadata__` object of a safetensors header (`None` for other files).
fn safetensors_metadata(path: &Path) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
    use std::io::Read;
    if crate::loading::is_pickle(path) {
        return Ok(None);
    }
    let io = |source| WanError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(io)?;
    let mut header = vec![0u8; u64::from_le_bytes(len) as usize];
    file.read_exact(&mut header).map_err(io)?;
    let json: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| lora_error(path, format!("bad safetensors header: {e}")))?;
    Ok(json
        .get("__metadata__")
        .and_then(|m| m.as_object())
        .cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_and_without_a_scale() {
        let s: LoraSpec = "a/b.safetensors:0.8".parse().unwrap();
        assert_eq!((s.path, s.scale), (PathBuf::from("a/b.safetensors"), 0.8));
        let s: LoraSpec = "b.safetensors".parse().unwrap();
        assert_eq!(s.scale, 1.0);
        let s: LoraSpec = "C:/x/b.safetensors".parse().unwrap();
        assert_eq!(
            (s.path, s.scale),
            (PathBuf::from("C:/x/b.safetensors"), 1.0)
        );
        let s: LoraSpec = "b.safetensors:-1.5".parse().unwrap();
        assert_eq!(s.scale, -1.5);
        assert!("".parse::<LoraSpec>().is_err());
        assert!("x:inf".parse::<LoraSpec>().is_err());
        assert_eq!(
            LoraSpec {
                path: "a".into(),
                scale: 0.5
            }
            .to_string(),
            "a:0.5"
        );
    }
}
