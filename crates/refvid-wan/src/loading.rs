//! Loading diffusers-format checkpoints.
//!
//! A model folder is either a pipeline folder (`model_index.json` plus one subfolder per module,
//! e.g. `transformer/`, `text_encoder/`, `tokenizer/`) or a module's own folder (`config.json` plus
//! `*.safetensors`, optionally sharded with a `*.safetensors.index.json` naming the shard of every
//! tensor). Weights are memory-mapped and converted to the requested dtype as they are read.
//! A tensor the model asks for that is absent, or present with another shape, is an error naming it
//! ([`WanError::MissingTensor`], [`WanError::ShapeMismatch`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;
use serde::de::DeserializeOwned;

use crate::error::{Result, WanError};
use crate::tokenizer::PromptTokenizer;
use crate::transformer::{WanConfig, WanTransformer};
use crate::umt5::{Umt5Config, Umt5Encoder};

/// Prefix of the message of the shape error our backend raises; [`WanError`]'s conversion reads
/// the tensor name after it.
pub(crate) const SHAPE_MSG_PREFIX: &str = "refvid-wan shape mismatch for tensor ";

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

/// Lists the weight files of a module folder: the shards named by a `*.safetensors.index.json`
/// if there is one, otherwise every `*.safetensors` file, sorted.
pub fn weight_files(module_dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = list_dir(module_dir)?;
    if let Some(index) = entries
        .iter()
        .find(|p| file_name(p).ends_with(".safetensors.index.json"))
    {
        let idx: ShardIndex = read_json(index)?;
        let shards: BTreeSet<&String> = idx.weight_map.values().collect();
        let files: Vec<PathBuf> = shards.into_iter().map(|s| module_dir.join(s)).collect();
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            return Err(WanError::Config {
                path: index.clone(),
                msg: format!("shard {} does not exist", missing.display()),
            });
        }
        return Ok(files);
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

/// Memory-mapped safetensors files seen as one tensor store whose errors name the tensor.
pub struct Checkpoint {
    inner: MmapedSafetensors,
}

impl Checkpoint {
    /// Memory-maps the given files.
    pub fn open(files: &[PathBuf]) -> Result<Self> {
        // SAFETY: the files are mapped read-only; like every safetensors loader we assume they are
        // not modified while the model holds them.
        let inner = unsafe { MmapedSafetensors::multi(files) }?;
        Ok(Self { inner })
    }

    /// Names of all tensors in the checkpoint.
    pub fn names(&self) -> Vec<String> {
        self.inner.tensors().into_iter().map(|(n, _)| n).collect()
    }

    fn load(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        if self.inner.get(name).is_err() {
            return Err(candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            });
        }
        self.inner.load(name, dev)?.to_dtype(dtype)
    }
}

impl SimpleBackend for Checkpoint {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = self.load(name, dtype, dev)?;
        if t.shape() != &s {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!("{SHAPE_MSG_PREFIX}{name}"),
                expected: s,
                got: t.shape().clone(),
            });
        }
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.load(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.inner.get(name).is_ok()
    }
}

/// A [`VarBuilder`] over a module folder's weights, converting them to `dtype` on `device`.
pub fn var_builder(
    module_dir: &Path,
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>> {
    let files = weight_files(module_dir)?;
    let ckpt = Checkpoint::open(&files)?;
    Ok(VarBuilder::from_backend(
        Box::new(ckpt),
        dtype,
        device.clone(),
    ))
}

/// Loads the transformer (`WanTransformer3DModel` or `WanVACETransformer3DModel`) of a pipeline
/// folder or a transformer folder; the config is checked first (errors name the key), then every
/// tensor (errors name the tensor).
pub fn load_transformer(model: &Path, dtype: DType, device: &Device) -> Result<WanTransformer> {
    let dir = module_dir(model, "transformer")?;
    let cfg: WanConfig = read_config(&dir)?;
    cfg.validate().map_err(|msg| WanError::Config {
        path: dir.join("config.json"),
        msg,
    })?;
    Ok(WanTransformer::new(
        &cfg,
        var_builder(&dir, dtype, device)?,
    )?)
}

/// Loads the UMT5 encoder of a pipeline folder or a `text_encoder` folder.
pub fn load_text_encoder(model: &Path, dtype: DType, device: &Device) -> Result<Umt5Encoder> {
    let dir = module_dir(model, "text_encoder")?;
    let cfg: Umt5Config = read_config(&dir)?;
    Ok(Umt5Encoder::new(&cfg, var_builder(&dir, dtype, device)?)?)
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
