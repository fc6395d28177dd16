//! The shapes a benchmark builds: the published Wan 2.1 models by name (`1.3b`, `14b`), a
//! JSON file of configs, or a diffusers model folder (its modules' `config.json`, no weights read).
//!
//! Named shapes (diffusers' `convert_wan_to_diffusers.py`, see `docs/` research anchors):
//! - transformer: VACE-1.3B — 12 × 128 heads, 30 layers, FFN 8960, VACE blocks after layers
//!   0, 2, …, 28 (15), 96 control channels; VACE-14B — 40 × 128 heads, 40 layers, FFN 13824,
//!   VACE blocks after 0, 5, …, 35 (8). Phantom-Wan runs the Wan2.1-T2V transformer of the
//!   same size, which is the VACE one without its VACE blocks.
//! - text encoder: UMT5-XXL's encoder (d_model 4096, 24 layers, 64 heads × 64, gated-GELU FFN
//!   10240, vocabulary 256384): about 5.7 B parameters, the same for both sizes.
//! - VAE: the Wan 2.1 VAE (diffusers' defaults).
//!
//! A file holds `{"transformer": {...}, "text_encoder": {...}, "vae": {...}}` with each
//! module's `config.json` keys (`vae` may be left out: the Wan 2.1 VAE); a folder holds them as
//! `transformer/config.json`, `text_encoder/config.json` and (optionally) `vae/config.json`. The
//! transformer needs
//! `vace_layers` and `vace_in_channels` for the VACE engine; for Phantom they are dropped.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Result, WanError};
use crate::transformer::WanConfig;
use crate::umt5::Umt5Config;
use crate::vae::VaeConfig;

/// The engine whose pipeline a benchmark runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BenchEngine {
    /// Wan2.1-VACE reference-to-video (`refvid`'s `wan` engine): 2 passes per step.
    #[default]
    Vace,
    /// Phantom-Wan subject-to-video: 3 passes per step.
    Phantom,
}

impl BenchEngine {
    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            BenchEngine::Vace => "vace",
            BenchEngine::Phantom => "phantom",
        }
    }
}

impl fmt::Display for BenchEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BenchEngine {
    type Err = WanError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "vace" | "wan" => Ok(BenchEngine::Vace),
            "phantom" => Ok(BenchEngine::Phantom),
            _ => Err(WanError::Input(format!(
                "unknown engine `{s}` (expected vace or phantom)"
            ))),
        }
    }
}

/// `--shapes`: a published size, a config file or a model folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapesArg {
    /// Wan 2.1 at 1.3 B parameters.
    Wan1_3B,
    /// Wan 2.1 at 14 B parameters.
    Wan14B,
    /// A JSON file of configs (see the module docs).
    File(PathBuf),
    /// A diffusers model folder, for its modules' configs.
    Folder(PathBuf),
}

impl fmt::Display for ShapesArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapesArg::Wan1_3B => f.write_str("1.3b"),
            ShapesArg::Wan14B => f.write_str("14b"),
            ShapesArg::File(p) | ShapesArg::Folder(p) => write!(f, "{}", p.display()),
        }
    }
}

impl FromStr for ShapesArg {
    type Err = WanError;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "1.3b" => ShapesArg::Wan1_3B,
            "14b" => ShapesArg::Wan14B,
            _ if s.ends_with(".json") || Path::new(s).is_file() => ShapesArg::File(s.into()),
            _ if Path::new(s).is_dir() => ShapesArg::Folder(s.into()),
            _ => {
                return Err(WanError::Input(format!(
                    "unknown shapes `{s}` (expected 1.3b, 14b, a CONFIG.json file or a model folder)"
                )));
            }
        })
    }
}

/// The configs of the three modules a benchmark builds.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ModelShapes {
    pub transformer: WanConfig,
    pub text_encoder: Umt5Config,
    #[serde(default)]
    pub vae: VaeConfig,
}

impl ModelShapes {
    /// The shapes `arg` names, for `engine` (VACE keeps the VACE blocks, Phantom drops them).
    pub fn resolve(arg: &ShapesArg, engine: BenchEngine) -> Result<Self> {
        let mut shapes = match arg {
            ShapesArg::Wan1_3B => Self::wan(12, 30, 8960, 2),
            ShapesArg::Wan14B => Self::wan(40, 40, 13824, 5),
            ShapesArg::File(path) => crate::loading::read_json::<Self>(path)?,
            ShapesArg::Folder(dir) => Self::of_folder(dir)?,
        };
        let t = &mut shapes.transformer;
        match engine {
            BenchEngine::Vace if t.vace_layers.is_none() || t.vace_in_channels.is_none() => {
                return Err(WanError::Input(format!(
                    "{arg}: the transformer config has no vace_layers/vace_in_channels, which \
                     the VACE engine needs"
                )));
            }
            BenchEngine::Vace => {}
            BenchEngine::Phantom => {
                t.vace_layers = None;
                t.vace_in_channels = None;
            }
        }
        t.validate()
            .map_err(|e| WanError::Input(format!("{arg}: transformer config: {e}")))?;
        shapes
            .vae
            .validate()
            .map_err(|e| WanError::Input(format!("{arg}: vae config: {e}")))?;
        if shapes.transformer.text_dim != shapes.text_encoder.d_model {
            return Err(WanError::Input(format!(
                "{arg}: the transformer's text_dim {} is not the text encoder's d_model {}",
                shapes.transformer.text_dim, shapes.text_encoder.d_model
            )));
        }
        Ok(shapes)
    }

    /// The configs of a diffusers model folder's modules (the VAE's may be missing).
    fn of_folder(dir: &Path) -> Result<Self> {
        use crate::loading::read_config;
        let vae_dir = dir.join("vae");
        Ok(Self {
            transformer: read_config(&dir.join("transformer"))?,
            text_encoder: read_config(&dir.join("text_encoder"))?,
            vae: if vae_dir.join("config.json").is_file() {
                read_config(&vae_dir)?
            } else {
                VaeConfig::default()
            },
        })
    }

    /// Wan 2.1 with `heads` × 128, `layers` blocks, FFN `ffn`, a VACE block every `vace_every`
    /// layers; UMT5-XXL; the Wan 2.1 VAE.
    fn wan(heads: usize, layers: usize, ffn: usize, vace_every: usize) -> Self {
        let transformer = WanConfig {
            patch_size: vec![1, 2, 2],
            num_attention_heads: heads,
            attention_head_dim: 128,
            in_channels: 16,
            out_channels: Some(16),
            text_dim: 4096,
            freq_dim: 256,
            ffn_dim: ffn,
            num_layers: layers,
            cross_attn_norm: true,
            eps: 1e-6,
            image_dim: None,
            added_kv_proj_dim: None,
            rope_max_seq_len: 1024,
            vace_layers: Some((0..layers).step_by(vace_every).collect()),
            vace_in_channels: Some(96),
        };
        let text_encoder = Umt5Config {
            vocab_size: 256_384,
            d_model: 4096,
            d_kv: 64,
            d_ff: 10240,
            num_layers: 24,
            num_heads: 64,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
            layer_norm_epsilon: 1e-6,
            feed_forward_proj: "gated-gelu".into(),
        };
        Self {
            transformer,
            text_encoder,
            vae: VaeConfig::default(),
        }
    }

    /// A one-line summary of the shapes.
    pub fn describe(&self) -> String {
        let t = &self.transformer;
        format!(
            "transformer {}x{} heads, {} layers{}; UMT5 {} layers of {}; VAE base {}",
            t.num_attention_heads,
            t.attention_head_dim,
            t.num_layers,
            t.vace_layers
                .as_ref()
                .map_or(String::new(), |v| format!(", {} VACE blocks", v.len())),
            self.text_encoder.num_layers,
            self.text_encoder.d_model,
            self.vae.base_dim
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_shapes_are_the_published_ones() -> Result<()> {
        let small = ModelShapes::resolve(&"1.3b".parse()?, BenchEngine::Vace)?;
        assert_eq!(small.transformer.dim(), 1536);
        assert_eq!(
            small.transformer.vace_layers.as_deref(),
            Some(&(0..30).step_by(2).collect::<Vec<_>>()[..])
        );
        let big = ModelShapes::resolve(&"14B".parse()?, BenchEngine::Phantom)?;
        assert_eq!(
            (big.transformer.dim(), big.transformer.num_layers),
            (5120, 40)
        );
        assert_eq!(big.transformer.vace_layers, None);
        let vace14 = ModelShapes::resolve(&ShapesArg::Wan14B, BenchEngine::Vace)?;
        assert_eq!(
            vace14.transformer.vace_layers,
            Some(vec![0, 5, 10, 15, 20, 25, 30, 35])
        );
        assert_eq!(vace14.text_encoder.vocab_size, 256_384);
        assert!("7b".parse::<ShapesArg>().is_err());
        assert_eq!(
            "x.json".parse::<ShapesArg>()?,
            ShapesArg::File("x.json".into())
        );
        assert_eq!("phantom".parse::<BenchEngine>()?, BenchEngine::Phantom);
        Ok(())
    }

    #[test]
    fn a_model_folder_gives_its_modules_configs() -> Result<()> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-vace-r2v");
        let arg: ShapesArg = dir.parse()?;
        assert_eq!(arg, ShapesArg::Folder(dir.into()));
        let shapes = ModelShapes::resolve(&arg, BenchEngine::Vace)?;
        let read = |module: &str| -> serde_json::Value {
            let path = Path::new(dir).join(module).join("config.json");
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let t = read("transformer");
        assert_eq!(shapes.transformer.num_layers as u64, t["num_layers"]);
        assert_eq!(
            shapes.text_encoder.d_model as u64,
            read("text_encoder")["d_model"]
        );
        assert_eq!(shapes.vae.base_dim as u64, read("vae")["base_dim"]);
        Ok(())
    }
}
