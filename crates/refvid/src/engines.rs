//! Choosing the engine workers run: the CPU compositor (the default, no weights needed) or a
//! Wan-family video model from a model folder (`wan`: Wan2.1-VACE; `phantom`: Phantom-Wan).
//!
//! The flags come in groups: [`EngineChoice`] picks the engine, [`ModelFlags`] are shared by
//! every model engine (folder, steps, native size, precision, device, negative prompt), and each
//! model has its own group ([`VaceFlags`], [`PhantomFlags`]). Every flag has an environment variable, so each can
//! also be set in the `--config` file.

use anyhow::Context;
use refvid_engine::Engine;
use refvid_engine::compositor::CompositorEngine;
use refvid_wan::batch::PassBatching;
use refvid_wan::engine::ModelEngine;
use refvid_wan::models::ModelPlace;
use refvid_wan::models::phantom::{PhantomModel, PhantomOptions};
use refvid_wan::models::vace::{VaceModel, VaceOptions};
use refvid_wan::offload::{Offload, TilingChoice};
use refvid_wan::preset::{self, Plan, Preset, SamplingFlags};
use refvid_wan::runtime::{DeviceKind, Precision};
use refvid_wan::scheduler::SamplerKind;
use refvid_wan::scheduler::step_list::StepList;
use refvid_wan::step_cache::CacheConfig;
use refvid_wan::step_cache::mag::MagSettings;
use std::path::PathBuf;
use std::sync::Arc;

/// Which engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// The deterministic CPU compositor.
    #[default]
    Compositor,
    /// Wan2.1-VACE (reference-to-video) on candle.
    Wan,
    /// Phantom-Wan (subject-to-video: keeps the references' faces and looks) on candle.
    Phantom,
}

/// The engine and how to run it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EngineChoice {
    /// `compositor` (CPU, no weights), `wan` (Wan2.1-VACE from --model-dir) or `phantom`
    /// (Phantom-Wan from --model-dir).
    #[arg(
        long = "engine",
        env = "REFVID_ENGINE",
        value_enum,
        default_value = "compositor"
    )]
    pub kind: EngineKind,
    #[command(flatten)]
    pub model: ModelFlags,
    #[command(flatten)]
    pub vace: VaceFlags,
    #[command(flatten)]
    pub phantom: PhantomFlags,
    #[command(flatten)]
    pub speed: SpeedFlags,
}

/// How fast a model engine samples: the preset and the settings that override it.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Speed (wan, phantom)")]
pub struct SpeedFlags {
    /// quality (the model's 50 steps with guidance), balanced (the same with MagCache) or fast
    /// (4 steps 1000,750,500,250 without guidance, the renoise sampler; needs step-distilled
    /// weights, see --distilled).
    #[arg(long, env = "REFVID_PRESET", default_value = "quality")]
    pub preset: Preset,
    /// The sampler: default (the folder's scheduler), euler, unipc or renoise (default: the
    /// preset's).
    #[arg(long, env = "REFVID_SAMPLER")]
    pub sampler: Option<SamplerKind>,
    /// Unshifted timesteps replacing the schedule, e.g. 1000,750,500,250 (the flow shift
    /// applies; --steps must then be their number).
    #[arg(long, env = "REFVID_TIMESTEPS")]
    pub timesteps: Option<StepList>,
    /// Step cache: none, first_block:THRESHOLD or mag:THRESHOLD[,MAX_SKIP_STEPS] (default: the
    /// preset's).
    #[arg(long, env = "REFVID_CACHE")]
    pub cache: Option<CacheConfig>,
    /// MagCache ratios (JSON, e.g. from `refvid wan calibrate-mag`); default: MagCache's
    /// Wan2.1-T2V-1.3B ratios.
    #[arg(long, env = "REFVID_MAG_RATIOS")]
    pub mag_ratios: Option<PathBuf>,
    /// The weights are step-distilled (a distilled checkpoint or LoRA whose file name does not
    /// say so): allows --preset fast.
    #[arg(long, env = "REFVID_DISTILLED")]
    pub distilled: bool,
}

impl SpeedFlags {
    /// The explicit settings, with the MagCache ratios read.
    fn explicit(&self, steps: Option<usize>) -> anyhow::Result<SamplingFlags> {
        let ratios = match &self.mag_ratios {
            Some(path) => Some(refvid_wan::step_cache::mag::load_ratios(path)?),
            None => None,
        };
        let cache = match (&self.cache, &ratios) {
            (Some(CacheConfig::Mag(m)), Some(r)) => Some(CacheConfig::Mag(MagSettings {
                ratios: Some(r.clone()),
                ..m.clone()
            })),
            (other, _) => other.clone(),
        };
        Ok(SamplingFlags {
            steps,
            sampler: self.sampler,
            timesteps: self.timesteps.clone().map(|t| t.0),
            cache,
            mag_ratios: ratios,
        })
    }

    /// The plan for a model: its preset, with the explicit flags winning.
    fn plan(
        &self,
        flags: &ModelFlags,
        checkpoint: Option<&std::path::Path>,
        default_steps: usize,
    ) -> anyhow::Result<Plan> {
        let dir = flags.model_dir.clone().unwrap_or_default();
        let distillation = preset::detect(self.distilled, &dir, checkpoint, &flags.lora_files()?);
        Ok(preset::plan(
            self.preset,
            &self.explicit(flags.steps)?,
            default_steps,
            distillation,
        )?)
    }
}

/// Flags every model engine shares.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Model engines (wan, phantom)")]
pub struct ModelFlags {
    /// The model folder: a diffusers pipeline folder (model_index.json, scheduler/,
    /// text_encoder/, tokenizer/, transformer/, vae/) or the original Wan release's folder.
    #[arg(long, env = "REFVID_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// A pulled model by name instead of --model-dir (`refvid models pull NAME`, `refvid models
    /// list`).
    #[arg(long, env = "REFVID_MODEL", conflicts_with = "model_dir")]
    pub model: Option<String>,
    /// Where pulled models live (default: models/ under the data directory).
    #[arg(long, env = "REFVID_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// Denoising steps (default: the model's 50).
    #[arg(long, env = "REFVID_STEPS")]
    pub steps: Option<usize>,
    /// Landscape size the model renders at before scaling to the output (default 832x480;
    /// portrait jobs use its transpose).
    #[arg(long, env = "REFVID_WAN_SIZE", value_parser = parse_size)]
    pub wan_size: Option<(usize, usize)>,
    /// Precision of the text encoder and transformer: f32, bf16 or f16.
    #[arg(long, env = "REFVID_WAN_DTYPE", default_value = "f32")]
    pub wan_dtype: Precision,
    /// Device: cpu, cuda or cuda:N (the CUDA device of ordinal N; needs a build with
    /// --features cuda). `--device` is the same option.
    #[arg(
        long,
        visible_alias = "device",
        env = "REFVID_WAN_DEVICE",
        default_value = "cpu",
        value_parser = DeviceKind::parse_available
    )]
    pub wan_device: DeviceKind,
    /// Negative prompt (default: the model's: empty for wan, as diffusers; Wan's default
    /// negative prompt for phantom, as its reference code).
    #[arg(long, env = "REFVID_NEGATIVE_PROMPT")]
    pub negative_prompt: Option<String>,
    /// A LoRA merged into the transformer at load: FILE[:SCALE] (scale 1 by default), FILE
    /// also a pulled LoRA's name (`refvid models list`); repeat for several (`;` separates them
    /// in REFVID_LORA). Diffusers/PEFT, original Wan (CausVid, lightx2v) and musubi-tuner keys.
    #[arg(long = "lora", env = "REFVID_LORA", value_delimiter = ';')]
    pub loras: Vec<refvid_wan::lora::LoraSpec>,
    /// What stays on the device between uses: none; model (the text encoder, transformer and
    /// VAE each on the device only while they run); blocks (as model, and the transformer's and
    /// text encoder's blocks streamed one at a time, the next one loading meanwhile).
    #[arg(long, env = "REFVID_OFFLOAD", default_value = "none")]
    pub offload: Offload,
    /// VAE decoding in 256-pixel tiles (bounds its memory by the tile): auto (on with --offload
    /// model or blocks), on or off.
    #[arg(long, env = "REFVID_VAE_TILING", default_value = "auto")]
    pub vae_tiling: TilingChoice,
    /// The guidance passes of a step as one batch (each weight read once per step; their
    /// activations alive at once): auto (when no step cache is on and, on the CPU, the extra
    /// activations fit in half the available memory; never on other devices), on or off.
    #[arg(long, env = "REFVID_PASS_BATCHING", default_value = "auto")]
    pub pass_batching: PassBatching,
}

impl ModelFlags {
    /// The `--lora` files: a value that is no file is a pulled name (`refvid models pull
    /// causvid-t2v-1.3b`) and stands for its one file.
    fn lora_files(&self) -> anyhow::Result<Vec<refvid_wan::lora::LoraSpec>> {
        let models = crate::models_cmd::models_dir(self.models_dir.as_deref());
        self.loras
            .iter()
            .map(|spec| {
                if spec.path.exists() {
                    return Ok(spec.clone());
                }
                let name = spec.path.to_string_lossy();
                let path = models
                    .resolve_file(&name)
                    .with_context(|| format!("--lora {name}: neither a file nor a pulled LoRA"))?;
                Ok(refvid_wan::lora::LoraSpec {
                    path,
                    scale: spec.scale,
                })
            })
            .collect()
    }
}

/// Flags of the `wan` engine (Wan2.1-VACE).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "wan engine (Wan2.1-VACE)")]
pub struct VaceFlags {
    /// Classifier-free guidance scale of the wan engine (default: the model's 5.0).
    #[arg(long, env = "REFVID_GUIDANCE")]
    pub guidance: Option<f64>,
}

/// Flags of the `phantom` engine (Phantom-Wan).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "phantom engine (Phantom-Wan)")]
pub struct PhantomFlags {
    /// The Phantom transformer checkpoint (e.g. Phantom-Wan-1.3B.pth); default: the file named
    /// *phantom* in --model-dir (an original Wan2.1-T2V folder), or transformer/ of a diffusers
    /// WanPipeline folder.
    #[arg(long, env = "REFVID_PHANTOM_CKPT")]
    pub phantom_ckpt: Option<PathBuf>,
    /// Image guidance scale (default 5.0, Phantom's).
    #[arg(long, env = "REFVID_PHANTOM_GUIDANCE_IMAGE")]
    pub phantom_guidance_image: Option<f64>,
    /// Text guidance scale (default 7.5, Phantom's).
    #[arg(long, env = "REFVID_PHANTOM_GUIDANCE_TEXT")]
    pub phantom_guidance_text: Option<f64>,
    /// Flow shift of the UniPC scheduler (default 5.0, Phantom's).
    #[arg(long, env = "REFVID_PHANTOM_SHIFT")]
    pub phantom_shift: Option<f64>,
}

/// Loads the chosen engine; for a model engine, fails naming what the model folder lacks.
pub fn build_engine(choice: &EngineChoice) -> anyhow::Result<Arc<dyn Engine>> {
    match choice.kind {
        EngineKind::Compositor => Ok(Arc::new(CompositorEngine::new())),
        EngineKind::Wan => Ok(Arc::new(load_vace(choice)?)),
        EngineKind::Phantom => Ok(Arc::new(load_phantom(choice)?)),
    }
}

/// Where the model is and how it runs, from the shared flags.
fn place(flags: &ModelFlags, engine: &str, what: &str) -> anyhow::Result<ModelPlace> {
    let dir = match (&flags.model_dir, &flags.model) {
        (Some(dir), _) => dir.clone(),
        (None, Some(name)) => crate::models_cmd::models_dir(flags.models_dir.as_deref())
            .resolve(name)
            .with_context(|| format!("--engine {engine} --model {name}"))?,
        (None, None) => anyhow::bail!(
            "--engine {engine} needs --model-dir DIR ({what}) or --model NAME (a pulled model)"
        ),
    };
    let mut place = ModelPlace::new(dir);
    if let Some(size) = flags.wan_size {
        place.native_size = size;
    }
    place.precision = flags.wan_dtype;
    place.device = flags.wan_device;
    place.loras = flags.lora_files()?;
    place.offload = flags.offload;
    place.vae_tiling = flags.vae_tiling;
    place.pass_batching = flags.pass_batching;
    Ok(place)
}

fn load_vace(choice: &EngineChoice) -> anyhow::Result<ModelEngine> {
    let flags = &choice.model;
    let place = place(flags, "wan", "a Wan2.1-VACE folder")?;
    let defaults = VaceOptions::default();
    let plan = choice.speed.plan(flags, None, defaults.steps)?;
    let guidance = match (choice.vace.guidance, plan.guidance_off) {
        (Some(g), _) => g,
        (None, true) => 1.0,
        (None, false) => defaults.guidance,
    };
    let options = VaceOptions {
        steps: plan.steps,
        guidance,
        negative_prompt: flags
            .negative_prompt
            .clone()
            .unwrap_or(defaults.negative_prompt),
        shift: plan.shift,
        sampling: plan.sampling,
        preset: plan.preset,
        distillation: plan.distillation,
    };
    let dir = place.dir.clone();
    let model = VaceModel::load(place, options)
        .with_context(|| format!("loading the wan engine from {}", dir.display()))?;
    Ok(ModelEngine::new(model))
}

fn load_phantom(choice: &EngineChoice) -> anyhow::Result<ModelEngine> {
    let (flags, own) = (&choice.model, &choice.phantom);
    let what = "the original Wan2.1-T2V-1.3B folder with Phantom-Wan-1.3B.pth, or a diffusers \
                WanPipeline folder of Phantom";
    let place = place(flags, "phantom", what)?;
    let d = PhantomOptions::default();
    let plan = choice
        .speed
        .plan(flags, own.phantom_ckpt.as_deref(), d.steps)?;
    let off = |explicit: Option<f64>, default: f64| match (explicit, plan.guidance_off) {
        (Some(g), _) => g,
        (None, true) => 1.0,
        (None, false) => default,
    };
    let options = PhantomOptions {
        steps: plan.steps,
        scales: refvid_wan::models::phantom::GuidanceScales {
            image: off(own.phantom_guidance_image, d.scales.image),
            text: off(own.phantom_guidance_text, d.scales.text),
        },
        shift: own.phantom_shift.or(plan.shift).unwrap_or(d.shift),
        negative_prompt: flags.negative_prompt.clone().unwrap_or(d.negative_prompt),
        checkpoint: own.phantom_ckpt.clone(),
        sampling: plan.sampling,
        preset: plan.preset,
        distillation: plan.distillation,
    };
    let dir = place.dir.clone();
    let model = PhantomModel::load(place, options)
        .with_context(|| format!("loading the phantom engine from {}", dir.display()))?;
    Ok(ModelEngine::new(model))
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
    fn phantom_without_its_checkpoint_says_what_to_pass() {
        let dir = tempfile::tempdir().unwrap();
        let choice = EngineChoice {
            kind: EngineKind::Phantom,
            ..Default::default()
        };
        let err = build_engine(&choice).err().expect("refused").to_string();
        assert!(err.contains("--model-dir"), "{err}");
        let choice = EngineChoice {
            kind: EngineKind::Phantom,
            model: ModelFlags {
                model_dir: Some(dir.path().to_path_buf()),
                ..Default::default()
            },
            phantom: PhantomFlags {
                phantom_ckpt: Some(dir.path().join("Phantom-Wan-1.3B.pth")),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = format!("{:#}", build_engine(&choice).err().expect("refused"));
        assert!(err.contains("WanPipeline"), "{err}");
    }

    #[test]
    fn an_incomplete_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let choice = EngineChoice {
            kind: EngineKind::Wan,
            model: ModelFlags {
                model_dir: Some(dir.path().to_path_buf()),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = format!("{:#}", build_engine(&choice).err().expect("refused"));
        assert!(err.contains("missing model_index.json"), "{err}");
        assert!(err.contains("transformer"), "{err}");
    }

    /// The groups parse from one command line, each flag into its group.
    #[test]
    fn flags_land_in_their_groups() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            engine: EngineChoice,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "x",
            "--engine",
            "wan",
            "--model-dir",
            "/m",
            "--steps",
            "4",
            "--guidance",
            "3.5",
            "--wan-dtype",
            "bf16",
            "--phantom-guidance-text",
            "6",
            "--offload",
            "blocks",
            "--vae-tiling",
            "off",
            "--pass-batching",
            "off",
        ])
        .unwrap();
        let e = cli.engine;
        assert_eq!(e.model.pass_batching, PassBatching::Off);
        assert_eq!(e.model.offload, Offload::Blocks);
        assert_eq!(e.model.vae_tiling, TilingChoice::Off);
        assert_eq!(e.kind, EngineKind::Wan);
        assert_eq!(e.model.steps, Some(4));
        assert_eq!(e.model.wan_dtype, Precision::Bf16);
        assert_eq!(e.vace.guidance, Some(3.5));
        assert_eq!(e.phantom.phantom_guidance_text, Some(6.0));
        let plain = <Cli as clap::Parser>::try_parse_from(["x"])
            .unwrap()
            .engine
            .model;
        assert_eq!(
            (plain.offload, plain.vae_tiling),
            (Offload::None, TilingChoice::Auto)
        );
        assert_eq!(plain.pass_batching, PassBatching::Auto);
        let bad = <Cli as clap::Parser>::try_parse_from(["x", "--offload", "layers"]);
        let err = bad.err().expect("refused").to_string();
        assert!(err.contains("none, model or blocks"), "{err}");
        let bad = <Cli as clap::Parser>::try_parse_from(["x", "--pass-batching", "yes"]);
        let err = bad.err().expect("refused").to_string();
        assert!(err.contains("auto, on or off"), "{err}");
    }
}
