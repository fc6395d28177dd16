//! The parity command (`refvid wan check`) as a library function.
//!
//! Runs one module of a diffusers-format checkpoint on tensors read from a safetensors file and
//! writes its outputs to another, with the tensor names of `docs/PARITY.md`:
//!
//! | module | inputs | output |
//! |---|---|---|
//! | `text_encoder` | `input_ids` i64 `[B, L]`, `attention_mask` i64 `[B, L]` (optional) | `last_hidden_state` |
//! | `transformer` | `hidden_states`, `timestep`, `encoder_hidden_states`, for VACE `control_hidden_states` and optionally `control_hidden_states_scale` | `sample` |
//! | `vae_encode` | `sample` `[B, 3, F, H, W]` in −1..1 | `latent_mean` (un-normalised posterior mean) |
//! | `vae_decode` | `z` `[B, z, F', h, w]` (un-normalised latents) | `sample` |
//! | `pipeline` | `prompt_embeds`, `negative_prompt_embeds`, `latents` (initial noise), `reference_images`, scalars `num_inference_steps`, `guidance_scale`, `flow_shift` (see [`crate::pipeline::check`]) | `video` |
//! | `phantom` | `prompt_embeds`, `negative_prompt_embeds`, `latents` (noise of all T + N frames), `reference_images` at the video size, scalars `num_inference_steps`, `guidance_scale_image`, `guidance_scale_text`, `flow_shift` (see [`crate::models::phantom::check`]) | `video` |
//!
//! Outputs are written as f32 whatever the compute dtype. With a step cache (`cache`, pipeline
//! and phantom modules) the output file also holds what the cache did: `cache_passes`,
//! `cache_skipped_passes`, `cache_blocks_run`, `cache_blocks_skipped` (i64 scalars) and
//! `cache_decisions.{pass}` (u8, 1 where every block ran; pipeline: pass 0 conditional,
//! 1 unconditional; phantom: 0 prompt and references, 1 negative prompt and references,
//! 2 negative prompt alone). LoRAs (`loras`) apply to the modules that load a transformer.
//!
//! [`run_check_placed`] takes `--offload` and `--vae-tiling` ([`CheckPlacement`]) and places the
//! modules as the engines do ([`crate::offload`]): the text
//! encoder and transformer are built for their run only (`model`) or streamed block by block
//! (`blocks`); the pipelines stage every module. A VAE module runs once either way, so for
//! `vae_encode`/`vae_decode` the mode only decides the decoder's tiling (`vae_tiling`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor};

use crate::error::{Result, WanError};
pub use crate::loading::load_transformer;
use crate::models::phantom::{self, PhantomPipeline};
use crate::offload::{Offload, Placement, TilingChoice, load};
pub use crate::runtime::{DeviceKind, Precision};
use crate::vace::VaceInput;
use crate::vae::WanVae;

/// Which module to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    /// The UMT5 encoder (`text_encoder/`).
    TextEncoder,
    /// The Wan or Wan-VACE transformer (`transformer/`).
    Transformer,
    /// The VAE's encoder (`vae/`): pixels → posterior mean.
    VaeEncode,
    /// The VAE's decoder (`vae/`): latents → pixels.
    VaeDecode,
    /// The whole reference-to-video pipeline (a `WanVACEPipeline` folder).
    Pipeline,
    /// The Phantom-Wan pipeline (a `WanPipeline` folder, or the original layout).
    Phantom,
}

impl Module {
    /// The diffusers subfolder name (`.` for the pipeline: the folder itself).
    pub fn folder(self) -> &'static str {
        match self {
            Module::TextEncoder => "text_encoder",
            Module::Transformer => "transformer",
            Module::VaeEncode | Module::VaeDecode => "vae",
            Module::Pipeline | Module::Phantom => ".",
        }
    }

    /// The `--module` value.
    pub fn name(self) -> &'static str {
        match self {
            Module::TextEncoder => "text_encoder",
            Module::Transformer => "transformer",
            Module::VaeEncode => "vae_encode",
            Module::VaeDecode => "vae_decode",
            Module::Pipeline => "pipeline",
            Module::Phantom => "phantom",
        }
    }
}

impl FromStr for Module {
    type Err = WanError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "text_encoder" => Ok(Module::TextEncoder),
            "transformer" => Ok(Module::Transformer),
            "vae_encode" => Ok(Module::VaeEncode),
            "vae_decode" => Ok(Module::VaeDecode),
            "pipeline" => Ok(Module::Pipeline),
            "phantom" => Ok(Module::Phantom),
            other => Err(WanError::Input(format!(
                "unknown module `{other}` (expected text_encoder, transformer, vae_encode, \
                 vae_decode, pipeline or phantom)"
            ))),
        }
    }
}

/// Arguments of [`run_check`], one field per command-line option.
#[derive(Debug, Clone)]
pub struct CheckArgs {
    /// `--model`: a diffusers pipeline folder or the module's own folder.
    pub model: PathBuf,
    /// `--module`.
    pub module: Module,
    /// `--inputs`: safetensors file with the input tensors.
    pub inputs: PathBuf,
    /// `--out`: safetensors file to write.
    pub out: PathBuf,
    /// `--dtype` (default f32).
    pub dtype: Precision,
    /// `--device` (default cpu).
    pub device: DeviceKind,
    /// `--cache` (pipeline module only; default none).
    pub cache: crate::step_cache::CacheConfig,
    /// `--lora FILE[:SCALE]`, repeatable (modules that load a transformer).
    pub loras: Vec<crate::lora::LoraSpec>,
}

/// Where the modules of a check wait between uses (`--offload`, `--vae-tiling`; the defaults
/// keep everything on the device and decode whole frames).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckPlacement {
    /// `--offload` (default none).
    pub offload: Offload,
    /// `--vae-tiling` (default: as `offload` implies).
    pub vae_tiling: TilingChoice,
}

/// How the modules of `args` run under `place` on `device`.
fn placing(args: &CheckArgs, place: CheckPlacement, device: &Device) -> Placement {
    Placement::new(args.dtype.dtype(), device)
        .with_offload(place.offload)
        .with_vae_tiling(place.vae_tiling.tiling(place.offload))
}

/// Runs the module on the inputs and writes the outputs (see the module docs for the names),
/// everything kept on the device.
pub fn run_check(args: &CheckArgs) -> Result<()> {
    run_check_placed(args, CheckPlacement::default())
}

/// [`run_check`] with the modules placed as `place` says.
pub fn run_check_placed(args: &CheckArgs, place: CheckPlacement) -> Result<()> {
    if args.cache.is_on() && !matches!(args.module, Module::Pipeline | Module::Phantom) {
        return Err(WanError::Input(format!(
            "--cache {} applies to the pipeline and phantom modules, not {}",
            args.cache,
            args.module.name()
        )));
    }
    let loads_transformer = matches!(
        args.module,
        Module::Transformer | Module::Pipeline | Module::Phantom
    );
    if !args.loras.is_empty() && !loads_transformer {
        return Err(WanError::Input(format!(
            "--lora applies to the modules that load a transformer, not {}",
            args.module.name()
        )));
    }
    let device = args.device.open()?;
    let inputs = read_inputs(&args.inputs, &device)?;
    let outputs = match args.module {
        Module::TextEncoder => run_text_encoder(args, place, &inputs, &device)?,
        Module::Transformer => run_transformer(args, place, &inputs, &device)?,
        Module::VaeEncode => run_vae_encode(args, place, &inputs, &device)?,
        Module::VaeDecode => run_vae_decode(args, place, &inputs, &device)?,
        Module::Pipeline => {
            let pipe = crate::pipeline::WanVacePipeline::load_placed(
                &args.model,
                &placing(args, place, &device),
                &args.loras,
            )?;
            crate::pipeline::check::run(&pipe, &inputs, &args.cache)?
        }
        Module::Phantom => {
            let transformer = phantom_transformer(&args.model)?;
            let pipe = PhantomPipeline::load_placed(
                &args.model,
                &transformer,
                &placing(args, place, &device),
                false,
                &args.loras,
            )?;
            phantom::check::run(&pipe, &inputs, &args.cache)?
        }
    };
    candle_core::safetensors::save(&outputs, &args.out).map_err(|e| match e {
        candle_core::Error::Io(source) => WanError::Io {
            path: args.out.clone(),
            source,
        },
        other => other.into(),
    })
}

/// The Phantom transformer of a model folder; in an original folder without a file named
/// `*phantom*`, its only transformer checkpoint (the parity command was told it is Phantom).
fn phantom_transformer(model: &std::path::Path) -> Result<PathBuf> {
    match phantom::transformer_path(model, None) {
        Ok(path) => Ok(path),
        Err(_) if crate::loading::transformer_candidates(model).is_ok_and(|c| c.len() == 1) => {
            Ok(model.to_path_buf())
        }
        Err(e) => Err(e),
    }
}

fn read_inputs(path: &std::path::Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        return Err(WanError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such input file"),
        });
    }
    Ok(candle_core::safetensors::load(path, device)?)
}

fn input<'a>(inputs: &'a HashMap<String, Tensor>, name: &str) -> Result<&'a Tensor> {
    inputs
        .get(name)
        .ok_or_else(|| WanError::Input(format!("input file has no tensor `{name}`")))
}

fn run_text_encoder(
    args: &CheckArgs,
    place: CheckPlacement,
    inputs: &HashMap<String, Tensor>,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let model = load::text_encoder(&args.model, &placing(args, place, device))?;
    let model = model.get()?;
    let ids = input(inputs, "input_ids")?;
    let mask = inputs.get("attention_mask");
    let h = model.forward(ids, mask)?;
    Ok(HashMap::from([(
        "last_hidden_state".to_string(),
        h.to_dtype(DType::F32)?,
    )]))
}

fn run_transformer(
    args: &CheckArgs,
    place: CheckPlacement,
    inputs: &HashMap<String, Tensor>,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let dtype = args.dtype.dtype();
    let (_, model) = load::transformer(&args.model, &placing(args, place, device), &args.loras)?;
    let model = model.get()?;
    let x = input(inputs, "hidden_states")?.to_dtype(dtype)?;
    let t = input(inputs, "timestep")?.to_dtype(DType::F32)?;
    let text = input(inputs, "encoder_hidden_states")?.to_dtype(dtype)?;
    let control = match inputs.get("control_hidden_states") {
        Some(c) if model.is_vace() => Some(c.to_dtype(dtype)?),
        Some(_) => {
            return Err(WanError::Input(
                "control_hidden_states given but the model has no VACE layers".into(),
            ));
        }
        None if model.is_vace() => {
            return Err(WanError::Input(
                "input file has no tensor `control_hidden_states` (VACE model)".into(),
            ));
        }
        None => None,
    };
    let scale: Option<Vec<f32>> = match inputs.get("control_hidden_states_scale") {
        Some(s) => Some(s.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?),
        None => None,
    };
    let vace = control.as_ref().map(|c| VaceInput {
        control: c,
        scale: scale.as_deref(),
    });
    let y = model.forward(&x, &t, &text, vace)?;
    Ok(HashMap::from([(
        "sample".to_string(),
        y.to_dtype(DType::F32)?,
    )]))
}

fn run_vae_encode(
    args: &CheckArgs,
    place: CheckPlacement,
    inputs: &HashMap<String, Tensor>,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let sample = input(inputs, "sample")?;
    let tiling = placing(args, place, device).vae_tiling;
    let vae = WanVae::load(&args.model, args.dtype.dtype(), device)?.with_tiling(tiling);
    let mean = vae.encode(sample)?;
    Ok(HashMap::from([(
        "latent_mean".to_string(),
        mean.to_dtype(DType::F32)?,
    )]))
}

fn run_vae_decode(
    args: &CheckArgs,
    place: CheckPlacement,
    inputs: &HashMap<String, Tensor>,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let z = input(inputs, "z")?;
    let tiling = placing(args, place, device).vae_tiling;
    let vae = WanVae::load(&args.model, args.dtype.dtype(), device)?.with_tiling(tiling);
    let sample = vae.decode(z)?;
    Ok(HashMap::from([(
        "sample".to_string(),
        sample.to_dtype(DType::F32)?,
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_parse() {
        assert_eq!(
            "text_encoder".parse::<Module>().unwrap(),
            Module::TextEncoder
        );
        assert_eq!(
            "transformer".parse::<Module>().unwrap(),
            Module::Transformer
        );
        assert!("vae".parse::<Module>().is_err());
        for m in [Module::VaeEncode, Module::VaeDecode] {
            assert_eq!(m.name().parse::<Module>().unwrap(), m);
            assert_eq!(m.folder(), "vae");
        }
        for m in [Module::Pipeline, Module::Phantom] {
            assert_eq!(m.name().parse::<Module>().unwrap(), m);
        }
    }
}
