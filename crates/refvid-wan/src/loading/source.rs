//! Where one module's weights and config are: [`module_source`] and [`tokenizer_file`].
//!
//! In an original Wan folder the modules share one directory and are told apart by file name:
//! the VAE's file names contain `vae` (`Wan2.1_VAE.pth`), the text encoder's `t5`
//! (`models_t5_umt5-xxl-enc-bf16.pth`), and every other weight file belongs to the transformer
//! (`diffusion_pytorch_model*.safetensors`, `Phantom-Wan-1.3B.pth`); the folder's `config.json`
//! is the transformer's.

use std::path::{Path, PathBuf};

use super::{file_name, list_dir, shards_of, weight_files};
use crate::error::{Result, WanError};
use crate::layout::Component;

/// Extensions of weight files.
const WEIGHT_EXTENSIONS: [&str; 4] = [".safetensors", ".pth", ".pt", ".ckpt"];

/// The weight files of one module and the `config.json` describing it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSource {
    /// One file, or the shards of one checkpoint.
    pub files: Vec<PathBuf>,
    /// The module's diffusers/transformers `config.json`, or (transformer only) the original
    /// Wan `config.json` of the folder.
    pub config: Option<PathBuf>,
}

impl ModuleSource {
    /// The file errors about the module point at: its config, else its first weight file.
    pub fn origin(&self) -> PathBuf {
        self.config
            .clone()
            .or_else(|| self.files.first().cloned())
            .unwrap_or_default()
    }

    /// The parsed `config.json`, if any.
    pub fn config_json(&self) -> Result<Option<serde_json::Value>> {
        self.config.as_deref().map(super::read_json).transpose()
    }
}

/// The subfolder name of a component in a diffusers pipeline.
fn folder(component: Component) -> &'static str {
    match component {
        Component::Transformer => "transformer",
        Component::TextEncoder => "text_encoder",
        Component::Vae => "vae",
    }
}

/// Which component a weight file of an original folder belongs to, by its name.
fn role_of(path: &Path) -> Component {
    let name = file_name(path).to_ascii_lowercase();
    if name.contains("vae") {
        Component::Vae
    } else if name.contains("t5") || name.contains("text_encoder") {
        Component::TextEncoder
    } else {
        Component::Transformer
    }
}

fn is_weight_file(path: &Path) -> bool {
    let name = file_name(path);
    path.is_file() && WEIGHT_EXTENSIONS.iter().any(|ext| name.ends_with(ext))
}

/// Finds the weights of `component` in `model` (see the [module docs](super)).
pub fn module_source(model: &Path, component: Component) -> Result<ModuleSource> {
    if model.is_file() {
        return Ok(single_file(model, component));
    }
    if !model.is_dir() {
        return Err(WanError::Io {
            path: model.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        });
    }
    let sub = model.join(folder(component));
    if model.join("model_index.json").is_file() {
        if !sub.is_dir() {
            return Err(WanError::Config {
                path: model.join("model_index.json"),
                msg: format!("pipeline folder has no `{}` subfolder", folder(component)),
            });
        }
        return module_folder(&sub);
    }
    if sub.join("config.json").is_file() {
        return module_folder(&sub);
    }
    if own_config(model, component)?.is_some() {
        return module_folder(model);
    }
    original_folder(model, component)
}

/// A single weight file; a `config.json` beside it is used as the module's when it describes it.
fn single_file(file: &Path, component: Component) -> ModuleSource {
    let dir = file.parent().unwrap_or(Path::new("."));
    let config = dir.join("config.json");
    let keep = config.is_file()
        && (component == Component::Transformer
            || matches!(own_config(dir, component), Ok(Some(_))));
    ModuleSource {
        files: vec![file.to_path_buf()],
        config: keep.then_some(config),
    }
}

/// `dir/config.json` when it is the component's own diffusers/transformers config.
fn own_config(dir: &Path, component: Component) -> Result<Option<PathBuf>> {
    let path = dir.join("config.json");
    if !path.is_file() {
        return Ok(None);
    }
    let v: serde_json::Value = super::read_json(&path)?;
    let class = v.get("_class_name").and_then(|c| c.as_str()).unwrap_or("");
    let own = match component {
        Component::Transformer => v.get("num_attention_heads").is_some(),
        Component::TextEncoder => v.get("d_model").is_some(),
        Component::Vae => class == "AutoencoderKLWan" || v.get("z_dim").is_some(),
    };
    Ok(own.then_some(path))
}

/// A diffusers module folder: its safetensors (sharded or not) and its config.
fn module_folder(dir: &Path) -> Result<ModuleSource> {
    let config = dir.join("config.json");
    Ok(ModuleSource {
        files: weight_files(dir)?,
        config: config.is_file().then_some(config),
    })
}

/// The checkpoints of the transformer in an original folder: one entry per checkpoint (the
/// shards of an index file count as one), sorted by file name.
pub fn transformer_candidates(dir: &Path) -> Result<Vec<Vec<PathBuf>>> {
    let entries = list_dir(dir)?;
    let mut groups: Vec<Vec<PathBuf>> = Vec::new();
    let mut sharded: Vec<PathBuf> = Vec::new();
    for index in entries
        .iter()
        .filter(|p| file_name(p).ends_with(".safetensors.index.json"))
        .filter(|p| role_of(p) == Component::Transformer)
    {
        let shards = shards_of(index)?;
        sharded.extend(shards.iter().cloned());
        groups.push(shards);
    }
    for file in entries.iter().filter(|p| is_weight_file(p)) {
        if role_of(file) == Component::Transformer && !sharded.contains(file) {
            groups.push(vec![file.clone()]);
        }
    }
    Ok(groups)
}

/// A module of an original Wan folder, found by file name.
fn original_folder(dir: &Path, component: Component) -> Result<ModuleSource> {
    let groups: Vec<Vec<PathBuf>> = match component {
        Component::Transformer => transformer_candidates(dir)?,
        other => list_dir(dir)?
            .into_iter()
            .filter(|p| is_weight_file(p) && role_of(p) == other)
            .map(|p| vec![p])
            .collect(),
    };
    let config = dir.join("config.json");
    match groups.as_slice() {
        [one] => Ok(ModuleSource {
            files: one.clone(),
            config: (component == Component::Transformer && config.is_file()).then_some(config),
        }),
        [] => Err(WanError::Config {
            path: dir.to_path_buf(),
            msg: format!(
                "no {} weights: neither a diffusers folder (model_index.json, {}/) nor an original \
                 Wan folder with {}",
                component.name(),
                folder(component),
                expected_file(component)
            ),
        }),
        several => {
            let names: Vec<&str> = several.iter().map(|g| file_name(&g[0])).collect();
            Err(WanError::Config {
                path: dir.to_path_buf(),
                msg: format!(
                    "several {} checkpoints ({}); name the file to use",
                    component.name(),
                    names.join(", ")
                ),
            })
        }
    }
}

/// What an original folder's file for a component is called, for messages.
fn expected_file(component: Component) -> &'static str {
    match component {
        Component::Transformer => {
            "a transformer checkpoint (e.g. diffusion_pytorch_model.safetensors)"
        }
        Component::TextEncoder => "a T5 checkpoint (e.g. models_t5_umt5-xxl-enc-bf16.pth)",
        Component::Vae => "a VAE checkpoint (e.g. Wan2.1_VAE.pth)",
    }
}

/// Places a tokenizer may be, relative to a model folder.
const TOKENIZER_PLACES: [&str; 3] = [
    "tokenizer/tokenizer.json",
    "tokenizer.json",
    "google/umt5-xxl/tokenizer.json",
];

/// The `tokenizer.json` of a model: a pipeline's `tokenizer/`, a tokenizer folder, or the
/// `google/umt5-xxl/` folder of an original Wan folder; `model` may also be the file itself.
pub fn tokenizer_file(model: &Path) -> Result<PathBuf> {
    if model.is_file() {
        return Ok(model.to_path_buf());
    }
    TOKENIZER_PLACES
        .iter()
        .map(|p| model.join(p))
        .find(|p| p.is_file())
        .ok_or_else(|| WanError::Config {
            path: model.to_path_buf(),
            msg: format!("no tokenizer: looked for {}", TOKENIZER_PLACES.join(", ")),
        })
}
