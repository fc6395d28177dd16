//! Writes a Wan-VACE transformer with random weights at a model's real shapes to `OUT_DIR/model`,
//! in the diffusers layout (a module folder with sharded safetensors and their index) or in the
//! original Wan layout (a folder with the original `config.json` and
//! `diffusion_pytorch_model.safetensors`), plus a small input file `OUT_DIR/inputs.safetensors`
//! for `refvid wan check --module transformer`. Used to measure what
//! loading costs in memory (README "Measured") without downloading the weights.
//!
//! ```text
//! cargo run -p refvid-wan --example random_weights -- OUT_DIR diffusers|original [f32|bf16] [LAYERS]
//! refvid wan check --module transformer --model OUT_DIR/model --inputs OUT_DIR/inputs.safetensors \
//!     --out /tmp/out.safetensors --dtype bf16
//! ```
//!
//! `LAYERS` (optional) writes only that many blocks (VACE blocks at every other one) of the
//! same width, for a smaller checkpoint. The shapes are Wan2.1-VACE-1.3B's (`transformer/config.json` of
//! `Wan-AI/Wan2.1-VACE-1.3B-diffusers`: 30 blocks of width 1536, 15 VACE blocks; 8.6 GB in f32).
//! The tensor names and shapes are the ones the crate's own model asks for (it is built once
//! through a recording builder that allocates nothing), so the files load exactly as a real
//! checkpoint. Values are uniform in ±0.05 from a fixed-seed xorshift; memory stays at one
//! 1 MiB write buffer whatever the model's size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;
use refvid_wan::layout::transformer::diffusers_to_original;
use refvid_wan::transformer::{WanConfig, WanTransformer};

/// `transformer/config.json` of Wan2.1-VACE-1.3B (diffusers).
const VACE_1_3B: &str = include_str!("../tests/fixtures/published/vace-1.3b-transformer.json");

/// `config.json` of the original Wan2.1-VACE-1.3B release.
const VACE_1_3B_ORIGINAL: &str =
    include_str!("../tests/fixtures/published/vace-1.3b-original.json");

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn err(msg: String) -> Box<dyn std::error::Error> {
    msg.into()
}

/// Diffusers' default largest shard.
const SHARD_BYTES: usize = 5_000_000_000;

type Names = Arc<Mutex<Vec<(String, Vec<usize>)>>>;

/// Records every tensor the model asks for and hands back a broadcast scalar (no memory).
struct Recorder(Names);

impl SimpleBackend for Recorder {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0
            .lock()
            .unwrap()
            .push((name.to_string(), s.dims().to_vec()));
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("{name}: the recorder needs shapes")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        false
    }
}

/// Every tensor of the model `cfg` describes, by diffusers name, in the order it is built.
fn tensors_of(cfg: &WanConfig) -> Result<Vec<(String, Vec<usize>)>> {
    let names = Names::default();
    let vb = VarBuilder::from_backend(Box::new(Recorder(names.clone())), DType::F32, Device::Cpu);
    drop(WanTransformer::new(cfg, vb)?);
    let mut out = std::mem::take(&mut *names.lock().unwrap());
    out.sort();
    out.dedup();
    Ok(out)
}

/// Fixed-seed xorshift64* values, uniform in ±0.05.
struct Values(u64);

impl Values {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        (bits as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
    }
}

/// Writes one safetensors file of `tensors` (name in the file, shape) in `dtype`.
fn write_file(
    path: &Path,
    tensors: &[(String, Vec<usize>)],
    dtype: DType,
    values: &mut Values,
) -> Result<()> {
    let size = dtype.size_in_bytes();
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({ "format": "pt" }));
    let mut offset = 0usize;
    for (name, shape) in tensors {
        let len = shape.iter().product::<usize>() * size;
        let dt = if dtype == DType::BF16 { "BF16" } else { "F32" };
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": dt, "shape": shape, "data_offsets": [offset, offset + len] }),
        );
        offset += len;
    }
    let mut text = serde_json::to_string(&header)?.into_bytes();
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    w.write_all(&(text.len() as u64).to_le_bytes())?;
    w.write_all(&text)?;
    for (_, shape) in tensors {
        for _ in 0..shape.iter().product::<usize>() {
            let v = values.next();
            if dtype == DType::BF16 {
                w.write_all(&((v.to_bits() >> 16) as u16).to_le_bytes())?;
            } else {
                w.write_all(&v.to_le_bytes())?;
            }
        }
    }
    w.flush()?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: random_weights OUT_DIR diffusers|original [f32|bf16] [LAYERS]";
    let out = PathBuf::from(args.first().ok_or_else(|| err(usage.to_string()))?);
    let layout = args.get(1).map(String::as_str).unwrap_or("diffusers");
    let dtype = match args.get(2).map(String::as_str).unwrap_or("f32") {
        "f32" => DType::F32,
        "bf16" => DType::BF16,
        other => return Err(err(format!("dtype {other}: {usage}"))),
    };
    // Fewer blocks (a smaller checkpoint of the same width) when LAYERS is given: VACE blocks
    // at every other one, as in the model.
    let layers: Option<usize> = args.get(3).map(|n| n.parse()).transpose()?;
    let configure = |text: &str| -> Result<String> {
        let mut v: serde_json::Value = serde_json::from_str(text)?;
        if let Some(n) = layers {
            v["num_layers"] = n.into();
            v["vace_layers"] = (0..n).step_by(2).collect::<Vec<_>>().into();
        }
        Ok(serde_json::to_string_pretty(&v)?)
    };
    let (diffusers_config, original_config) =
        (configure(VACE_1_3B)?, configure(VACE_1_3B_ORIGINAL)?);
    let cfg: WanConfig = serde_json::from_str(&diffusers_config)?;
    let mut tensors = tensors_of(&cfg)?;
    let total: usize = tensors
        .iter()
        .map(|(_, s)| s.iter().product::<usize>() * dtype.size_in_bytes())
        .sum();
    let root = out;
    let out = root.join("model");
    std::fs::create_dir_all(&out)?;
    let mut values = Values(0x9e37_79b9_7f4a_7c15);
    match layout {
        "diffusers" => {
            std::fs::write(out.join("config.json"), &diffusers_config)?;
            let mut shards: Vec<Vec<(String, Vec<usize>)>> = vec![Vec::new()];
            let mut bytes = 0;
            for t in tensors {
                let len = t.1.iter().product::<usize>() * dtype.size_in_bytes();
                if bytes + len > SHARD_BYTES && !shards.last().unwrap().is_empty() {
                    shards.push(Vec::new());
                    bytes = 0;
                }
                bytes += len;
                shards.last_mut().unwrap().push(t);
            }
            let n = shards.len();
            let mut weight_map = serde_json::Map::new();
            for (i, shard) in shards.iter().enumerate() {
                let file = format!("diffusion_pytorch_model-{:05}-of-{n:05}.safetensors", i + 1);
                write_file(&out.join(&file), shard, dtype, &mut values)?;
                for (name, _) in shard {
                    weight_map.insert(name.clone(), file.clone().into());
                }
            }
            let index = serde_json::json!({
                "metadata": { "total_size": total },
                "weight_map": weight_map,
            });
            std::fs::write(
                out.join("diffusion_pytorch_model.safetensors.index.json"),
                serde_json::to_string_pretty(&index)?,
            )?;
        }
        "original" => {
            std::fs::write(out.join("config.json"), &original_config)?;
            for t in &mut tensors {
                t.0 = diffusers_to_original(&t.0)
                    .ok_or_else(|| err(format!("no original name for {}", t.0)))?;
            }
            tensors.sort();
            write_file(
                &out.join("diffusion_pytorch_model.safetensors"),
                &tensors,
                dtype,
                &mut values,
            )?;
        }
        other => return Err(err(format!("layout {other}: {usage}"))),
    }
    // A small input: one latent frame of 8x8 (16 tokens after the 2x2 patches), 8 text tokens.
    let dev = Device::Cpu;
    let inputs = HashMap::from([
        (
            "hidden_states".to_string(),
            Tensor::randn(0f32, 1., (1, 16, 1, 8, 8), &dev)?,
        ),
        ("timestep".to_string(), Tensor::new(&[500f32], &dev)?),
        (
            "encoder_hidden_states".to_string(),
            Tensor::randn(0f32, 1., (1, 8, 4096), &dev)?,
        ),
        (
            "control_hidden_states".to_string(),
            Tensor::randn(0f32, 1., (1, 96, 1, 8, 8), &dev)?,
        ),
    ]);
    candle_core::safetensors::save(&inputs, root.join("inputs.safetensors"))?;
    println!(
        "{}: {} layout, {} tensors, {:.2} GB of {dtype:?}",
        out.display(),
        layout,
        tensors_count(&out)?,
        total as f64 / 1e9
    );
    Ok(())
}

/// Tensors written (read back from the files' headers).
fn tensors_count(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().and_then(|x| x.to_str()) == Some("safetensors") {
            let f = refvid_wan::loading::safetensors_file::SafetensorsFile::open(&p)?;
            n += f.shapes().len();
        }
    }
    Ok(n)
}
