//! [`MergedCheckpoint`]: a base checkpoint with LoRA patches added to each tensor as the model
//! reads it (so no merged copy of the whole model is ever held besides the model itself).
//!
//! For a weight `W` of shape `[out, …]` and a low-rank pair `A` `[r, …]`, `B` `[out, r, …]`:
//! `W += scale · (alpha / r) · reshape(B[out, r] · A[r, ∏…])`; a `.diff` adds `scale · diff`
//! to `W` (or to the parameter itself, e.g. a modulation table), a `.diff_b` / `lora_B.bias`
//! adds `scale · diff_b` to the bias. Everything in f32, then cast to the requested dtype.

use std::collections::HashMap;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;

use super::{LoraFile, LoraSpec, ModuleKeys, first_keys, lora_error};
use crate::error::{Result, TensorShapeError};
use crate::loading::Checkpoint;

/// One patch of one tensor.
#[derive(Debug, Clone)]
enum Patch {
    /// `scale · factor · B·A` (`factor` = alpha / rank).
    LowRank {
        file: usize,
        down: String,
        up: String,
        factor: f64,
    },
    /// `scale · t` for a full delta.
    Full { file: usize, key: String },
}

/// A checkpoint whose tensors come out with the LoRAs merged in.
pub struct MergedCheckpoint {
    base: Checkpoint,
    files: Vec<LoraFile>,
    /// Model tensor name → its patches.
    patches: HashMap<String, Vec<Patch>>,
}

impl MergedCheckpoint {
    /// Opens the LoRA files and checks every patch against the base checkpoint's tensors.
    pub fn new(base: Checkpoint, specs: &[LoraSpec]) -> Result<Self> {
        let files = specs
            .iter()
            .map(LoraFile::open)
            .collect::<Result<Vec<_>>>()?;
        let mut patches: HashMap<String, Vec<Patch>> = HashMap::new();
        for (i, file) in files.iter().enumerate() {
            for (target, patch) in plan_file(i, file, &base)? {
                patches.entry(target).or_default().push(patch);
            }
        }
        Ok(Self {
            base,
            files,
            patches,
        })
    }

    /// How many model tensors the LoRAs change.
    pub fn patched_tensors(&self) -> usize {
        self.patches.len()
    }

    /// A tensor of the base with its patches added, in f32.
    fn merged_f32(&self, name: &str, dev: &Device) -> candle_core::Result<Tensor> {
        let mut w = self.base.load(name, DType::F32, dev)?;
        for patch in self.patches.get(name).into_iter().flatten() {
            w = (&w + self.delta(patch, dev)?.reshape(w.shape())?)?;
        }
        Ok(w)
    }

    /// One patch's delta, in f32, shaped like the target.
    fn delta(&self, patch: &Patch, dev: &Device) -> candle_core::Result<Tensor> {
        let load = |file: usize, key: &str| self.files[file].tensors.load(key, DType::F32, dev);
        match patch {
            Patch::Full { file, key } => {
                load(*file, key)?.affine(self.files[*file].spec.scale, 0.0)
            }
            Patch::LowRank {
                file,
                down,
                up,
                factor,
            } => {
                let (a, b) = (load(*file, down)?, load(*file, up)?);
                let (out, r) = (b.dim(0)?, b.dim(1)?);
                let rest = a.elem_count() / r;
                let ba = b.reshape((out, r))?.matmul(&a.reshape((r, rest))?)?;
                ba.affine(self.files[*file].spec.scale * factor, 0.0)
            }
        }
    }
}

/// The patches one file makes, by target tensor, checked against the base.
fn plan_file(i: usize, file: &LoraFile, base: &Checkpoint) -> Result<Vec<(String, Patch)>> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (module, k) in &file.modules {
        match module_patches(i, file, module, k, base)? {
            Some(p) => out.extend(p),
            None => missing.push(first_key(k)),
        }
    }
    if !missing.is_empty() {
        return Err(lora_error(
            &file.spec.path,
            format!(
                "keys match no tensor of the model ({} format): {}",
                file.format.name(),
                first_keys(&missing)
            ),
        ));
    }
    Ok(out)
}

fn first_key(k: &ModuleKeys) -> String {
    [&k.down, &k.up, &k.alpha, &k.diff, &k.diff_bias]
        .into_iter()
        .flatten()
        .next()
        .cloned()
        .unwrap_or_default()
}

/// A module's patches, or `None` when the model has no tensor for one of them.
fn module_patches(
    i: usize,
    file: &LoraFile,
    module: &str,
    k: &ModuleKeys,
    base: &Checkpoint,
) -> Result<Option<Vec<(String, Patch)>>> {
    let weight = format!("{module}.weight");
    let mut out = Vec::new();
    match (&k.down, &k.up) {
        (Some(down), Some(up)) => {
            let Some(shape) = base.shape(&weight) else {
                return Ok(None);
            };
            let factor = low_rank_factor(file, k, down, up, shape)?;
            out.push((
                weight.clone(),
                Patch::LowRank {
                    file: i,
                    down: down.clone(),
                    up: up.clone(),
                    factor,
                },
            ));
        }
        (None, None) => {}
        (d, u) => {
            let present = d.as_ref().or(u.as_ref()).cloned().unwrap_or_default();
            return Err(lora_error(
                &file.spec.path,
                format!(
                    "`{present}` has no matching {} half",
                    if d.is_some() { "up (B)" } else { "down (A)" }
                ),
            ));
        }
    }
    if let Some(key) = &k.diff {
        let target = if base.shape(&weight).is_some() {
            weight
        } else {
            module.to_string()
        };
        let Some(p) = full_patch(i, file, key, &target, base)? else {
            return Ok(None);
        };
        out.push(p);
    }
    if let Some(key) = &k.diff_bias {
        let Some(p) = full_patch(i, file, key, &format!("{module}.bias"), base)? else {
            return Ok(None);
        };
        out.push(p);
    }
    Ok(Some(out))
}

/// `alpha / rank` for a pair whose shapes fit `target` (`[out, …]`).
fn low_rank_factor(
    file: &LoraFile,
    k: &ModuleKeys,
    down: &str,
    up: &str,
    target: &[usize],
) -> Result<f64> {
    let shape_of = |key: &str| file.tensors.shape(key).unwrap_or_default().to_vec();
    let (a, b) = (shape_of(down), shape_of(up));
    let r = a.first().copied().unwrap_or(0);
    let target_n: usize = target.iter().product();
    let fits = b.len() >= 2
        && r > 0
        && b[0] == target[0]
        && b[1] == r
        && b[2..].iter().all(|&d| d == 1)
        && a.iter().product::<usize>() / r == target_n / target[0];
    if !fits {
        return Err(lora_error(
            &file.spec.path,
            format!(
                "`{down}` {a:?} and `{up}` {b:?} do not fit the weight {target:?} (B·A must be [out, in])"
            ),
        ));
    }
    let alpha = match &k.alpha {
        Some(key) => file
            .tensors
            .load(key, DType::F64, &Device::Cpu)?
            .flatten_all()?
            .to_vec1::<f64>()?
            .first()
            .copied()
            .ok_or_else(|| lora_error(&file.spec.path, format!("`{key}` is empty")))?,
        None => file.metadata_alpha.unwrap_or(r as f64),
    };
    Ok(alpha / r as f64)
}

/// A full delta `key` onto `target`, or `None` when the model has no such tensor.
fn full_patch(
    i: usize,
    file: &LoraFile,
    key: &str,
    target: &str,
    base: &Checkpoint,
) -> Result<Option<(String, Patch)>> {
    let Some(shape) = base.shape(target) else {
        return Ok(None);
    };
    let got = file.tensors.shape(key).unwrap_or_default();
    if got.iter().product::<usize>() != shape.iter().product::<usize>() {
        return Err(lora_error(
            &file.spec.path,
            format!("`{key}` has shape {got:?}, the model's `{target}` {shape:?}"),
        ));
    }
    Ok(Some((
        target.to_string(),
        Patch::Full {
            file: i,
            key: key.to_string(),
        },
    )))
}

impl SimpleBackend for MergedCheckpoint {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = self.get_unchecked(name, dtype, dev)?;
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
        if !self.patches.contains_key(name) {
            return self.base.load(name, dtype, dev);
        }
        self.merged_f32(name, dev)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.base.contains_tensor(name)
    }
}
