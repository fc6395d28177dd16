//! `vae/config.json` of diffusers' `AutoencoderKLWan`.
//!
//! Keys that are absent take diffusers' defaults (the Wan 2.1 VAE), so the published configs,
//! which omit `scale_factor_*`, `in_channels`, `patch_size` and others, parse as they are. What we
//! do not implement (the Wan 2.2 residual VAE, patchified input, attention in the down blocks) is
//! refused by [`VaeConfig::validate`] with the key named.

use serde::{Deserialize, Deserializer};

/// The Wan 2.1 `latents_mean` (diffusers' default).
const WAN21_LATENTS_MEAN: [f64; 16] = [
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517,
    -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
];

/// The Wan 2.1 `latents_std` (diffusers' default).
const WAN21_LATENTS_STD: [f64; 16] = [
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579,
    1.6382, 1.1253, 2.8251, 1.9160,
];

/// The configuration of `AutoencoderKLWan` (keys as in `config.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct VaeConfig {
    /// Channels of the first encoder level.
    #[serde(default = "default_base_dim")]
    pub base_dim: usize,
    /// Channels of the decoder's last level; `base_dim` when absent or null.
    #[serde(default)]
    pub decoder_base_dim: Option<usize>,
    /// Latent channels.
    #[serde(default = "default_z_dim")]
    pub z_dim: usize,
    /// Channel multiplier of each level.
    #[serde(default = "default_dim_mult")]
    pub dim_mult: Vec<usize>,
    /// Residual blocks per encoder level (the decoder has one more).
    #[serde(default = "default_num_res_blocks")]
    pub num_res_blocks: usize,
    /// Levels with attention in the down path; must be empty.
    #[serde(default)]
    pub attn_scales: Vec<f64>,
    /// Whether each downsampling level also halves time (diffusers' spelling).
    #[serde(default = "default_temperal_downsample")]
    pub temperal_downsample: Vec<bool>,
    /// Per-channel mean of the latents (the pipeline normalises with it; not applied here).
    #[serde(default = "default_latents_mean")]
    pub latents_mean: Vec<f64>,
    /// Per-channel standard deviation of the latents (likewise).
    #[serde(default = "default_latents_std")]
    pub latents_std: Vec<f64>,
    /// The Wan 2.2 residual VAE; must be false.
    #[serde(default)]
    pub is_residual: bool,
    /// Pixel channels in.
    #[serde(default = "default_channels")]
    pub in_channels: usize,
    /// Pixel channels out.
    #[serde(default = "default_channels")]
    pub out_channels: usize,
    /// Spatial patchify of the pixels (Wan 2.2); must be null or 1.
    #[serde(default)]
    pub patch_size: Option<usize>,
    /// Frames per latent frame (after the first): 4.
    #[serde(default = "default_temporal", deserialize_with = "temporal_or_default")]
    pub scale_factor_temporal: usize,
    /// Pixels per latent pixel, each way: 8.
    #[serde(default = "default_spatial", deserialize_with = "spatial_or_default")]
    pub scale_factor_spatial: usize,
}

fn default_base_dim() -> usize {
    96
}
fn default_z_dim() -> usize {
    16
}
fn default_dim_mult() -> Vec<usize> {
    vec![1, 2, 4, 4]
}
fn default_num_res_blocks() -> usize {
    2
}
fn default_temperal_downsample() -> Vec<bool> {
    vec![false, true, true]
}
fn default_latents_mean() -> Vec<f64> {
    WAN21_LATENTS_MEAN.to_vec()
}
fn default_latents_std() -> Vec<f64> {
    WAN21_LATENTS_STD.to_vec()
}
fn default_channels() -> usize {
    3
}
fn default_temporal() -> usize {
    4
}
fn default_spatial() -> usize {
    8
}

/// `scale_factor_temporal` may be written as null: the default then applies.
fn temporal_or_default<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(Option::<usize>::deserialize(d)?.unwrap_or_else(default_temporal))
}

/// `scale_factor_spatial` may be written as null: the default then applies.
fn spatial_or_default<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(Option::<usize>::deserialize(d)?.unwrap_or_else(default_spatial))
}

impl Default for VaeConfig {
    /// The Wan 2.1 VAE.
    fn default() -> Self {
        serde_json::from_str("{}").expect("every key has a default")
    }
}

impl VaeConfig {
    /// Checks that the config describes a VAE we implement; the message names the key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.is_residual {
            return Err("is_residual: the Wan 2.2 residual VAE is not supported".into());
        }
        if self.patch_size.is_some_and(|p| p != 1) {
            return Err(format!(
                "patch_size: {:?} is not supported (only null: the Wan 2.1 VAE)",
                self.patch_size
            ));
        }
        if !self.attn_scales.is_empty() {
            return Err("attn_scales: attention in the down blocks is not supported".into());
        }
        for (key, v) in [
            ("base_dim", self.base_dim),
            ("z_dim", self.z_dim),
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("scale_factor_temporal", self.scale_factor_temporal),
            ("scale_factor_spatial", self.scale_factor_spatial),
        ] {
            if v == 0 {
                return Err(format!("{key}: must be positive"));
            }
        }
        if self.dim_mult.is_empty() || self.dim_mult.contains(&0) {
            return Err(format!(
                "dim_mult: {:?} must be non-empty and positive",
                self.dim_mult
            ));
        }
        if self.temperal_downsample.len() + 1 < self.dim_mult.len() {
            return Err(format!(
                "temperal_downsample: {} values for {} levels (needs one per downsampling level)",
                self.temperal_downsample.len(),
                self.dim_mult.len()
            ));
        }
        for (key, v) in [
            ("latents_mean", &self.latents_mean),
            ("latents_std", &self.latents_std),
        ] {
            if v.len() != self.z_dim {
                return Err(format!(
                    "{key}: {} values for z_dim {}",
                    v.len(),
                    self.z_dim
                ));
            }
        }
        Ok(())
    }

    /// Channels of the decoder's last level.
    pub fn decoder_dim(&self) -> usize {
        self.decoder_base_dim.unwrap_or(self.base_dim)
    }

    /// Whether each decoder level doubles time: `temperal_downsample` reversed.
    pub fn temperal_upsample(&self) -> Vec<bool> {
        self.temperal_downsample.iter().rev().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `vae/config.json` of the published Wan2.1 diffusers checkpoints (no scale factors).
    #[test]
    fn published_config_parses_with_defaults() {
        let json = serde_json::json!({
            "_class_name": "AutoencoderKLWan",
            "_diffusers_version": "0.33.0.dev0",
            "attn_scales": [],
            "base_dim": 96,
            "dim_mult": [1, 2, 4, 4],
            "dropout": 0.0,
            "latents_mean": WAN21_LATENTS_MEAN,
            "latents_std": WAN21_LATENTS_STD,
            "num_res_blocks": 2,
            "temperal_downsample": [false, true, true],
            "z_dim": 16
        });
        let cfg: VaeConfig = serde_json::from_value(json).unwrap();
        cfg.validate().unwrap();
        assert_eq!(
            (cfg.scale_factor_temporal, cfg.scale_factor_spatial),
            (4, 8)
        );
        assert_eq!(cfg.decoder_dim(), 96);
        assert_eq!(cfg.temperal_upsample(), vec![true, true, false]);
        assert_eq!(cfg.latents_std[8], 3.2687);
    }

    #[test]
    fn null_scale_factors_take_the_defaults() {
        let cfg: VaeConfig = serde_json::from_value(serde_json::json!({
            "scale_factor_temporal": null,
            "scale_factor_spatial": null
        }))
        .unwrap();
        assert_eq!(
            (cfg.scale_factor_temporal, cfg.scale_factor_spatial),
            (4, 8)
        );
    }

    #[test]
    fn unsupported_keys_are_named() {
        let bad = |json: serde_json::Value| {
            serde_json::from_value::<VaeConfig>(json)
                .unwrap()
                .validate()
                .unwrap_err()
        };
        assert!(bad(serde_json::json!({"is_residual": true})).starts_with("is_residual"));
        assert!(bad(serde_json::json!({"patch_size": 2})).starts_with("patch_size"));
        assert!(bad(serde_json::json!({"attn_scales": [0.5]})).starts_with("attn_scales"));
        assert!(bad(serde_json::json!({"z_dim": 48})).starts_with("latents_mean"));
        assert!(
            bad(serde_json::json!({"temperal_downsample": [false]}))
                .starts_with("temperal_downsample")
        );
    }
}
