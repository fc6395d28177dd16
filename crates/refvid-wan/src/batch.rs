//! The guidance passes of a step in one batch (`--pass-batching auto|on|off`).
//!
//! Every denoising step runs the transformer once per guidance pass on the same latents (VACE:
//! prompt and negative prompt; Phantom: three passes, two of them on the same latents) at the
//! same timestep. Stacked along the batch axis they become one forward of batch 2 (or 3): every
//! weight is read once per step instead of once per pass (with `--offload blocks` each block is
//! streamed once per step instead of once per pass), every operation is launched once, and the
//! matrix products are taller. The batch entries do not interact (every operation of the
//! transformer is per entry), so the predictions are those of the separate passes up to float
//! summation order (tested in `tests/batch_passes.rs`). A batched step still counts one
//! transformer pass per guidance pass ([`crate::step_cache::StepCache::record_batched`]).
//!
//! The cost is memory: the activations of every pass are alive at once. [`PassBatching::Auto`]
//! batches when the estimate of what the extra passes add ([`pass_activation_bytes`]) fits in
//! half of the memory the system reports available (CPU); on other devices it keeps the passes
//! separate unless told `on`. A step cache ([`crate::step_cache`]) decides per pass whether the
//! blocks run, so with a cache on the passes always run separately.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor};

use crate::error::{Result, WanError};
use crate::transformer::{WanConfig, WanTransformer};

/// Whether the guidance passes of a step run as one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PassBatching {
    /// In one batch when the extra activations fit (see the module docs).
    #[default]
    Auto,
    /// Always in one batch (unless a step cache is on).
    On,
    /// One forward per pass.
    Off,
}

impl PassBatching {
    /// Every value, in the order the command line lists them.
    pub const ALL: [PassBatching; 3] = [PassBatching::Auto, PassBatching::On, PassBatching::Off];

    /// Whether `passes` passes of `shape` run as one batch on `device` (`cached`: a step cache
    /// is on).
    pub fn batches(
        self,
        passes: usize,
        cached: bool,
        shape: &PassShape<'_>,
        device: &Device,
    ) -> bool {
        if passes < 2 || cached {
            return false;
        }
        match self {
            PassBatching::Off => false,
            PassBatching::On => true,
            PassBatching::Auto => {
                let extra = (passes as u64 - 1) * pass_activation_bytes(shape);
                match (device, available_memory()) {
                    (Device::Cpu, Some(available)) => extra <= available / 2,
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for PassBatching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PassBatching::Auto => "auto",
            PassBatching::On => "on",
            PassBatching::Off => "off",
        })
    }
}

impl FromStr for PassBatching {
    type Err = WanError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "auto" => Ok(PassBatching::Auto),
            "on" => Ok(PassBatching::On),
            "off" => Ok(PassBatching::Off),
            other => Err(WanError::Input(format!(
                "pass batching `{other}`: expected auto, on or off"
            ))),
        }
    }
}

/// What one pass's activations depend on.
#[derive(Debug, Clone, Copy)]
pub struct PassShape<'a> {
    /// The transformer's config.
    pub config: &'a WanConfig,
    /// Latent tokens of one pass (`F·H·W` of the patch grid).
    pub tokens: usize,
    /// Text tokens (512 for Wan).
    pub text_len: usize,
    /// Compute dtype.
    pub dtype: DType,
    /// The attention chunk bound (score elements at once, f32).
    pub max_score_elements: usize,
}

impl<'a> PassShape<'a> {
    /// The passes of `transformer` over latents `[1, C, F, H, W]` with `text_len` text tokens in
    /// `dtype`.
    pub fn of(
        transformer: &'a WanTransformer,
        latents: &Tensor,
        text_len: usize,
        dtype: DType,
    ) -> Result<Self> {
        let config = transformer.config();
        let (_, _, f, h, w) = latents.dims5()?;
        let (pt, ph, pw) = config.patch();
        Ok(Self {
            config,
            tokens: (f / pt) * (h / ph) * (w / pw),
            text_len,
            dtype,
            max_score_elements: transformer.max_score_elements(),
        })
    }
}

/// An upper estimate of the memory one more batch entry needs at the peak of a forward pass:
/// the block's live activations (stream, normed and modulated copies, Q/K/V, the attention
/// output, the FFN's hidden layer before and after GELU), the VACE hints kept until their
/// block, the text context and one attention chunk's scores and probabilities in f32.
pub fn pass_activation_bytes(shape: &PassShape<'_>) -> u64 {
    let cfg = shape.config;
    let (d, n) = (cfg.dim() as u64, shape.tokens as u64);
    let hints = cfg.vace_layers.as_ref().map_or(0, Vec::len) as u64;
    let elems = n * (10 * d + 2 * cfg.ffn_dim as u64 + hints * d)
        + shape.text_len as u64 * (d + cfg.text_dim as u64);
    let bytes = elems * shape.dtype.size_in_bytes() as u64;
    bytes + 2 * 4 * shape.max_score_elements as u64
}

/// `MemAvailable` of `/proc/meminfo` in bytes (None where there is none).
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_1_3b() -> WanConfig {
        serde_json::from_value(serde_json::json!({
            "num_attention_heads": 12, "attention_head_dim": 128, "in_channels": 16,
            "text_dim": 4096, "ffn_dim": 8960, "num_layers": 30,
            "vace_layers": [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28],
            "vace_in_channels": 96
        }))
        .unwrap()
    }

    #[test]
    fn the_switch_parses_and_prints() {
        for b in PassBatching::ALL {
            assert_eq!(b.to_string().parse::<PassBatching>().unwrap(), b);
        }
        assert!("yes".parse::<PassBatching>().is_err());
    }

    #[test]
    fn the_estimate_at_832x480x81_is_a_few_gib() {
        let cfg = config_1_3b();
        let shape = PassShape {
            config: &cfg,
            tokens: 21 * 30 * 52,
            text_len: 512,
            dtype: DType::F32,
            max_score_elements: 1 << 24,
        };
        let gib = pass_activation_bytes(&shape) as f64 / (1u64 << 30) as f64;
        // 32,760 tokens: the FFN's hidden layer alone is 1.1 GiB twice, the hints 2.8 GiB.
        assert!((5.0..8.0).contains(&gib), "{gib}");
        let bf16 = PassShape {
            dtype: DType::BF16,
            ..shape
        };
        assert!(pass_activation_bytes(&bf16) < pass_activation_bytes(&shape));
    }

    #[test]
    fn one_pass_a_cache_or_off_never_batch() {
        let cfg = config_1_3b();
        let shape = PassShape {
            config: &cfg,
            tokens: 60,
            text_len: 512,
            dtype: DType::F32,
            max_score_elements: 1 << 24,
        };
        let cpu = Device::Cpu;
        assert!(!PassBatching::On.batches(1, false, &shape, &cpu));
        assert!(!PassBatching::On.batches(2, true, &shape, &cpu));
        assert!(!PassBatching::Off.batches(2, false, &shape, &cpu));
        assert!(PassBatching::On.batches(3, false, &shape, &cpu));
        // A tiny pass fits anywhere with memory to report.
        assert_eq!(
            PassBatching::Auto.batches(2, false, &shape, &cpu),
            available_memory().is_some()
        );
        let huge = PassShape {
            tokens: 1 << 40,
            ..shape
        };
        assert!(!PassBatching::Auto.batches(2, false, &huge, &cpu));
    }
}
