//! [`Checkpoint`]: weight files (safetensors or PyTorch pickles, one or many) seen as one store of
//! tensors named the diffusers way, whatever layout and key prefix the files use.
//!
//! Safetensors files are read tensor by tensor into owned buffers, without a memory map
//! ([`SafetensorsFile`]: a map would keep every page it was read through resident); `.pth`/`.pt` files (zip-format `torch.save` of a state
//! dict, as the original Wan release ships them) are read tensor by tensor with
//! [`candle_core::pickle`]. When a checkpoint is opened for a [`Component`], its layout and key
//! prefix are detected ([`crate::layout::detect`]) and every key is renamed to the name the
//! model code asks for; tensors are converted to the requested dtype as they are read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::pickle::PthTensors;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;

use super::safetensors_file::SafetensorsFile;
use crate::error::{Result, TensorShapeError, WanError};
use crate::layout::{self, Component, Layout};

/// State-dict keys under which some `.pth` files nest the weights.
const NESTED_STATE_DICT_KEYS: [&str; 3] = ["state_dict", "model", "module"];

/// One weight file.
enum WeightFile {
    Safetensors(SafetensorsFile),
    Pth(PthTensors),
}

impl WeightFile {
    fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(WanError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such weight file"),
            });
        }
        if is_pickle(path) {
            return open_pth(path).map(WeightFile::Pth);
        }
        let st = SafetensorsFile::open(path).map_err(|e| file_error(path, e))?;
        Ok(WeightFile::Safetensors(st))
    }

    /// Every tensor's name and shape.
    fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        match self {
            WeightFile::Safetensors(st) => st.shapes(),
            WeightFile::Pth(p) => p
                .tensor_infos()
                .iter()
                .map(|(n, info)| (n.clone(), info.layout.dims().to_vec()))
                .collect(),
        }
    }

    fn load(&self, name: &str, dev: &Device) -> candle_core::Result<Tensor> {
        match self {
            WeightFile::Safetensors(st) => st.load(name, dev),
            WeightFile::Pth(p) => match p.get(name)? {
                Some(t) => t.to_device(dev),
                None => Err(candle_core::Error::CannotFindTensor {
                    path: name.to_string(),
                }),
            },
        }
    }
}

/// Whether a weight file is a PyTorch pickle (by extension).
pub fn is_pickle(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("pth" | "pt" | "ckpt" | "bin")
    )
}

/// Opens a `.pth`, looking inside a nested `state_dict`/`model`/`module` entry when the top level
/// holds no tensors.
fn open_pth(path: &Path) -> Result<PthTensors> {
    let top = PthTensors::new(path, None).map_err(|e| file_error(path, e))?;
    if !top.tensor_infos().is_empty() {
        return Ok(top);
    }
    for key in NESTED_STATE_DICT_KEYS {
        if let Ok(nested) = PthTensors::new(path, Some(key))
            && !nested.tensor_infos().is_empty()
        {
            return Ok(nested);
        }
    }
    Err(WanError::Config {
        path: path.to_path_buf(),
        msg: "no tensors found (expected a torch.save of a state dict)".into(),
    })
}

fn file_error(path: &Path, e: candle_core::Error) -> WanError {
    WanError::Config {
        path: path.to_path_buf(),
        msg: format!("cannot read the weights: {e}"),
    }
}

/// Weight files seen as one tensor store with diffusers names.
pub struct Checkpoint {
    files: Vec<WeightFile>,
    /// Model name → (file, name in the file, shape).
    index: HashMap<String, (usize, String, Vec<usize>)>,
    layout: Layout,
    prefix: String,
}

impl Checkpoint {
    /// Opens files whose keys are already the model's names (a diffusers folder).
    pub fn open(files: &[PathBuf]) -> Result<Self> {
        let opened = open_all(files)?;
        let mut index = HashMap::new();
        for (i, file) in opened.iter().enumerate() {
            for (name, shape) in file.shapes() {
                index.insert(name.clone(), (i, name, shape));
            }
        }
        Ok(Self {
            files: opened,
            index,
            layout: Layout::Diffusers,
            prefix: String::new(),
        })
    }

    /// Opens the files of one `component` in either layout, with or without a key prefix, and
    /// renames the keys to diffusers names.
    pub fn open_component(files: &[PathBuf], component: Component) -> Result<Self> {
        let opened = open_all(files)?;
        let all: Vec<(usize, String, Vec<usize>)> = opened
            .iter()
            .enumerate()
            .flat_map(|(i, f)| f.shapes().into_iter().map(move |(n, s)| (i, n, s)))
            .collect();
        let detected = layout::detect(component, all.iter().map(|(_, n, _)| n.as_str()))
            .ok_or_else(|| not_a(component, files))?;
        let own: Vec<&(usize, String, Vec<usize>)> = all
            .iter()
            .filter(|(_, n, _)| n.starts_with(&detected.prefix))
            .collect();
        let stripped: Vec<&str> = own
            .iter()
            .map(|(_, n, _)| &n[detected.prefix.len()..])
            .collect();
        let renamed = layout::diffusers_names(component, detected.layout, &stripped);
        let mut index = HashMap::new();
        for ((file, name, shape), new) in own.into_iter().zip(renamed) {
            if let Some(new) = new {
                index.insert(new, (*file, name.clone(), shape.clone()));
            }
        }
        Ok(Self {
            files: opened,
            index,
            layout: detected.layout,
            prefix: detected.prefix,
        })
    }

    /// The layout the files use.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The prefix stripped from the keys (empty when none).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The (diffusers) names of all tensors, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.index.keys().cloned().collect();
        names.sort();
        names
    }

    /// The shape of a tensor, by its diffusers name.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.index.get(name).map(|(_, _, s)| s.as_slice())
    }

    /// Every tensor's shape, by diffusers name (what config inference reads).
    pub fn shapes(&self) -> HashMap<String, Vec<usize>> {
        self.index
            .iter()
            .map(|(n, (_, _, s))| (n.clone(), s.clone()))
            .collect()
    }

    /// Reads a tensor by its diffusers name, converted to `dtype` on `dev`.
    pub fn load(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let Some((file, key, _)) = self.index.get(name) else {
            return Err(candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            });
        };
        self.files[*file].load(key, dev)?.to_dtype(dtype)
    }
}

fn open_all(files: &[PathBuf]) -> Result<Vec<WeightFile>> {
    files.iter().map(|f| WeightFile::open(f)).collect()
}

fn not_a(component: Component, files: &[PathBuf]) -> WanError {
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    WanError::Config {
        path: files.first().cloned().unwrap_or_default(),
        msg: format!(
            "{} does not look like a Wan {} checkpoint (in the diffusers or the original layout)",
            shown.join(", "),
            component.name()
        ),
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
            return Err(TensorShapeError {
                name: name.to_string(),
                expected: s.dims().to_vec(),
                got: t.dims().to_vec(),
            }
            .into());
        }
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.load(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }
}
