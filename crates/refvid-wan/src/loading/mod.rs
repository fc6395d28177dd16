//! Finding and loading checkpoints: diffusers folders and the original Wan release.
//!
//! A model argument may be:
//! - a **diffusers pipeline folder** (`model_index.json` plus one subfolder per module:
//!   `transformer/`, `text_encoder/`, `tokenizer/`, `vae/`, `scheduler/`);
//! - a **module folder** (`config.json` plus `*.safetensors`, optionally sharded with a
//!   `*.safetensors.index.json`), or a folder holding one as a subfolder;
//! - an **original Wan folder** (`Wan2.1-T2V-1.3B`: `diffusion_pytorch_model*.safetensors` and
//!   `config.json` of the transformer, `models_t5_umt5-xxl-enc-bf16.pth`, `Wan2.1_VAE.pth`,
//!   `google/umt5-xxl/tokenizer.json`), where each module's files are told apart by name
//!   ([`module_source`]);
//! - **one weight file** (`.safetensors` or `.pth`), e.g. `Phantom-Wan-1.3B.pth` or a
//!   ComfyUI single-file checkpoint.
//!
//! Keys may be in either layout and carry a `model.diffusion_model.` style prefix
//! ([`crate::layout`], [`Checkpoint`]); a module without its diffusers config gets one inferred
//! from the tensor shapes ([`infer`]). Weights are converted to the requested dtype as they are
//! read. A tensor the model asks for that is absent, or present with another shape, is an error
//! naming it ([`WanError::MissingTensor`], [`WanError::ShapeMismatch`]).

pub mod checkpoint;
pub mod infer;
pub mod safetensors_file;
pub mod source;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::de::DeserializeOwned;

pub use checkpoint::{Checkpoint, is_pickle};
pub use source::{ModuleSource, module_source, tokenizer_file, transformer_candidates};

use crate::error::{Result, WanError};
use crate::layout::Component;
use crate::lora::{LoraSpec, MergedCheckpoint};
use crate::tokenizer::PromptTokenizer;
use crate::transformer::{WanConfig, WanTransformer};
use crate::umt5::{Umt5Config, Umt5Encoder};
use crate::vae::VaeConfig;

/// Finds the folder of one module (`transformer`, `text_encoder`, `tokenizer`, …) in `dir`.
///
/// `dir` may be a pipeline folder (has `model_index.json`; the module is its subfolder), a folder
/// holding the module as a subfolder, or the module's own folder (has `config.json` or, for the
/// tokenizer, `tokenizer.json`).
pub fn module_dir(dir: &Path, module: &str) -> Result<PathBuf> {
    let sub = dir.join(module);
    if dir.join("model_index.json").is_file() {
        if sub.is_dir() {
            return Ok(sub);
        }
        return Err(WanError::Config {
            path: dir.join("model_index.json"),
            msg: format!("pipeline folder has no `{module}` subfolder"),
        });
    }
    let own_marker = if module == "tokenizer" {
        "tokenizer.json"
    } else {
        "config.json"
    };
    if dir.join(own_marker).is_file() {
        return Ok(dir.to_path_buf());
    }
    if sub.join(own_marker).is_file() {
        return Ok(sub);
    }
    Err(WanError::Config {
        path: dir.to_path_buf(),
        msg: format!(
            "neither a pipeline folder (model_index.json) nor a module folder ({own_marker}) for `{module}`"
        ),
    })
}

/// Reads a JSON file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| WanError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| WanError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a module's `config.json`.
pub fn read_config<T: DeserializeOwned>(module_dir: &Path) -> Result<T> {
    read_json(&module_dir.join("config.json"))
}

/// The shard index file (`*.safetensors.index.json`).
#[derive(Debug, serde::Deserialize)]
struct ShardIndex {
    weight_map: std::collections::BTreeMap<String, String>,
}

/// The shards an index file names, checked to exist.
fn shards_of(index: &Path) -> Result<Vec<PathBuf>> {
    let idx: ShardIndex = read_json(index)?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let shards: BTreeSet<&String> = idx.weight_map.values().collect();
    let files: Vec<PathBuf> = shards.into_iter().map(|s| dir.join(s)).collect();
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        return Err(WanError::Config {
            path: index.to_path_buf(),
            msg: format!("shard {} does not exist", missing.display()),
        });
    }
    Ok(files)
}

/// Lists the weight files of a module folder: the shards named by a `*.safetensors.index.json`
/// if there is one, otherwise every `*.safetensors` file, sorted.
pub fn weight_files(module_dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = list_dir(module_dir)?;
    if let Some(index) = entries
        .iter()
        .find(|p| file_name(p).ends_with(".safetensors.index.json"))
    {
        return shards_of(index);
    }
    let files: Vec<PathBuf> = entries
        .into_iter()
        .filter(|p| file_name(p).ends_with(".safetensors"))
        .collect();
    if files.is_empty() {
        return Err(WanError::Config {
            path: module_dir.to_path_buf(),
            msg: "no *.safetensors weight files".into(),
        });
    }
    Ok(files)
}

fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| WanError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        out.push(entry.map_err(io)?.path());
    }
    out.sort();
    Ok(out)
}

/// Parses a dtype name as the parity command spells it (`f32`, `bf16`, `f16`; the torch names
/// `float32`, `bfloat16`, `float16` are accepted too).
pub fn parse_dtype(s: &str) -> Result<DType> {
    match s {
        "f32" | "float32" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        "f16" | "float16" => Ok(DType::F16),
        other => Err(WanError::Input(format!(
            "unknown dtype `{other}` (expected f32, bf16 or f16)"
        ))),
    }
}

/// A [`VarBuilder`] over a diffusers module folder's weights, converting them to `dtype` on
/// `device`.
pub fn var_builder(
    module_dir: &Path,
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>> {
    let files = weight_files(module_dir)?;
    Ok(from_checkpoint(Checkpoint::open(&files)?, dtype, device))
}

/// A [`VarBuilder`] reading from a [`Checkpoint`].
pub fn from_checkpoint(ckpt: Checkpoint, dtype: DType, device: &Device) -> VarBuilder<'static> {
    VarBuilder::from_backend(Box::new(ckpt), dtype, device.clone())
}

/// A module's checkpoint (renamed to diffusers names) and where it came from.
fn open_module(model: &Path, component: Component) -> Result<(ModuleSource, Checkpoint)> {
    let source = module_source(model, component)?;
    let ckpt = Checkpoint::open_component(&source.files, component)?;
    Ok((source, ckpt))
}

/// The error for a config that does not fit, pointing at the config file or the weights.
fn config_error(source: &ModuleSource, msg: String) -> WanError {
    WanError::Config {
        path: source.origin(),
        msg,
    }
}

/// The transformer's config: the diffusers `config.json` when the source has one, otherwise
/// inferred from the tensor shapes (with the original `config.json`'s `num_heads` and
/// `vace_layers` when present).
pub fn transformer_config(source: &ModuleSource, ckpt: &Checkpoint) -> Result<WanConfig> {
    let json = source.config_json()?;
    let cfg = match &json {
        Some(v) if v.get("num_attention_heads").is_some() => {
            serde_json::from_value(v.clone()).map_err(|e| config_error(source, e.to_string()))?
        }
        other => {
            let hints = infer::OriginalWanConfig::from_json(other.as_ref());
            infer::transformer_config(&ckpt.shapes(), &hints)
                .map_err(|msg| config_error(source, msg))?
        }
    };
    cfg.validate().map_err(|msg| config_error(source, msg))?;
    Ok(cfg)
}

/// Loads the transformer (`WanTransformer3DModel` or `WanVACETransformer3DModel`, either layout)
/// from anything [`module_source`] understands; the config is checked first (errors name the
/// key), then every tensor (errors name the tensor).
pub fn load_transformer(model: &Path, dtype: DType, device: &Device) -> Result<WanTransformer> {
    load_transformer_with_loras(model, dtype, device, &[])
}

/// [`load_transformer`] with LoRAs merged into the weights as they are read (see
/// [`crate::lora`]); a LoRA that does not fit the checkpoint is an error before anything loads.
pub fn load_transformer_with_loras(
    model: &Path,
    dtype: DType,
    device: &Device,
    loras: &[LoraSpec],
) -> Result<WanTransformer> {
    let (cfg, vb) = transformer_weights(model, dtype, device, loras)?;
    Ok(WanTransformer::new(&cfg, vb)?)
}

/// The transformer's config and a builder over its weights (in `dtype` on `device`, LoRAs
/// merged as they are read), from anything [`module_source`] understands.
pub fn transformer_weights(
    model: &Path,
    dtype: DType,
    device: &Device,
    loras: &[LoraSpec],
) -> Result<(WanConfig, VarBuilder<'static>)> {
    let (source, ckpt) = open_module(model, Component::Transformer)?;
    let cfg = transformer_config(&source, &ckpt)?;
    let vb = if loras.is_empty() {
        from_checkpoint(ckpt, dtype, device)
    } else {
        let merged = MergedCheckpoint::new(ckpt, loras)?;
        VarBuilder::from_backend(Box::new(merged), dtype, device.clone())
    };
    Ok((cfg, vb))
}

/// The UMT5 encoder's config: transformers' `config.json` when the source has one, otherwise
/// inferred from the tensor shapes.
pub fn text_encoder_config(source: &ModuleSource, ckpt: &Checkpoint) -> Result<Umt5Config> {
    match source.config_json()? {
        Some(v) if v.get("d_model").is_some() => {
            serde_json::from_value(v).map_err(|e| config_error(source, e.to_string()))
        }
        _ => infer::umt5_config(&ckpt.shapes()).map_err(|msg| config_error(source, msg)),
    }
}

/// Loads the UMT5 encoder (either layout) from anything [`module_source`] understands.
pub fn load_text_encoder(model: &Path, dtype: DType, device: &Device) -> Result<Umt5Encoder> {
    let (source, ckpt) = open_module(model, Component::TextEncoder)?;
    let cfg = text_encoder_config(&source, &ckpt)?;
    Ok(Umt5Encoder::new(
        &cfg,
        from_checkpoint(ckpt, dtype, device),
    )?)
}

/// The VAE's config: diffusers' `config.json` (`AutoencoderKLWan`) when the source has one,
/// otherwise inferred from the tensor shapes with the Wan 2.1 latent statistics.
pub fn vae_config(source: &ModuleSource, ckpt: &Checkpoint) -> Result<VaeConfig> {
    let cfg = match source.config_json()? {
        Some(v) if is_vae_config(&v) => {
            serde_json::from_value(v).map_err(|e| config_error(source, e.to_string()))?
        }
        _ => infer::vae_config(&ckpt.shapes()).map_err(|msg| config_error(source, msg))?,
    };
    cfg.validate().map_err(|msg| config_error(source, msg))?;
    Ok(cfg)
}

/// Whether a `config.json` describes an `AutoencoderKLWan` (and not, say, the transformer of an
/// original folder).
fn is_vae_config(v: &serde_json::Value) -> bool {
    v.get("_class_name").and_then(|c| c.as_str()) == Some("AutoencoderKLWan")
        || v.get("z_dim").is_some()
}

/// The VAE's checkpoint (diffusers names) and config, from anything [`module_source`]
/// understands.
pub fn open_vae(model: &Path) -> Result<(VaeConfig, Checkpoint)> {
    let (source, ckpt) = open_module(model, Component::Vae)?;
    Ok((vae_config(&source, &ckpt)?, ckpt))
}

/// Tokenizes and encodes prompts as `WanVACEPipeline` does: 512 tokens, run with the mask, rows
/// past each prompt's length zeroed. Returns `prompt_embeds` `[B, 512, d_model]`.
pub fn encode_prompts(
    tokenizer: &PromptTokenizer,
    encoder: &Umt5Encoder,
    prompts: &[&str],
    device: &Device,
) -> Result<Tensor> {
    let (ids, mask) = tokenizer.encode_batch(prompts, device)?;
    Ok(encoder.encode_padded(&ids, &mask)?)
}
