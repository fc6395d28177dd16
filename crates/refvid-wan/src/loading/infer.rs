//! Configs inferred from tensor shapes, for checkpoints published without a diffusers
//! `config.json` (the original Wan release, single-file checkpoints).
//!
//! The shapes are looked up by diffusers name (after [`crate::layout`] renamed the keys). What
//! shapes cannot tell comes from the Wan 2.1 family's constants: attention heads of 128 channels
//! (unless an original `config.json` gives `num_heads`), VACE layers evenly spaced from block 0
//! (unless it gives `vace_layers`), the UMT5 relative-position distance of 128, ε = 1e-6, and
//! the Wan 2.1 VAE's latent statistics.

use std::collections::{BTreeSet, HashMap};

use crate::transformer::WanConfig;
use crate::umt5::Umt5Config;
use crate::vae::VaeConfig;

/// Tensor shapes by diffusers name.
pub type Shapes = HashMap<String, Vec<usize>>;

/// The head width of every Wan 2.1 transformer (1.3B: 12 × 128, 14B: 40 × 128).
pub const WAN_HEAD_DIM: usize = 128;

/// The keys of the original Wan `config.json` (`WanModel` / `VaceWanModel`) that shapes cannot
/// tell, plus two that are checked against them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct OriginalWanConfig {
    pub num_heads: Option<usize>,
    pub vace_layers: Option<Vec<usize>>,
    pub eps: Option<f64>,
    pub dim: Option<usize>,
    pub num_layers: Option<usize>,
}

impl OriginalWanConfig {
    /// From a parsed `config.json` (unknown keys ignored; a config of another kind gives no hints).
    pub fn from_json(v: Option<&serde_json::Value>) -> Self {
        v.and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

/// The shape of a tensor the inference needs, or an error naming it.
fn shape<'a>(shapes: &'a Shapes, name: &str) -> Result<&'a [usize], String> {
    shapes
        .get(name)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("cannot infer the config: no tensor `{name}`"))
}

/// Dimension `i` of a tensor, or an error naming it.
fn dim(shapes: &Shapes, name: &str, i: usize) -> Result<usize, String> {
    let s = shape(shapes, name)?;
    s.get(i)
        .copied()
        .ok_or_else(|| format!("cannot infer the config: `{name}` has shape {s:?}"))
}

/// How many `{list}.N.` entries the names have (the highest N plus one).
fn count(shapes: &Shapes, list: &str) -> usize {
    shapes
        .keys()
        .filter_map(|k| crate::layout::indexed(k, list).map(|(n, _)| n + 1))
        .max()
        .unwrap_or(0)
}

/// The transformer's config from its shapes and the original config's hints.
pub fn transformer_config(shapes: &Shapes, hints: &OriginalWanConfig) -> Result<WanConfig, String> {
    let patch = shape(shapes, "patch_embedding.weight")?;
    let [d, in_channels, pt, ph, pw] = patch[..] else {
        return Err(format!(
            "`patch_embedding.weight` has shape {patch:?}, expected 5 dims"
        ));
    };
    let num_layers = count(shapes, "blocks");
    check_hint("dim", hints.dim, d)?;
    check_hint("num_layers", hints.num_layers, num_layers)?;
    let heads = match hints.num_heads {
        Some(h) => h,
        None if d.is_multiple_of(WAN_HEAD_DIM) => d / WAN_HEAD_DIM,
        None => {
            return Err(format!(
                "cannot tell the attention heads of width {d}; add the original config.json (num_heads)"
            ));
        }
    };
    if heads == 0 || d % heads != 0 {
        return Err(format!("num_heads {heads} does not divide the width {d}"));
    }
    let out_channels = dim(shapes, "proj_out.weight", 0)? / (pt * ph * pw);
    let image = shapes.contains_key("condition_embedder.image_embedder.norm1.weight");
    let (vace_layers, vace_in_channels) = vace_of(shapes, num_layers, hints)?;
    Ok(WanConfig {
        patch_size: vec![pt, ph, pw],
        num_attention_heads: heads,
        attention_head_dim: d / heads,
        in_channels,
        out_channels: Some(out_channels),
        text_dim: dim(
            shapes,
            "condition_embedder.text_embedder.linear_1.weight",
            1,
        )?,
        freq_dim: dim(
            shapes,
            "condition_embedder.time_embedder.linear_1.weight",
            1,
        )?,
        ffn_dim: dim(shapes, "blocks.0.ffn.net.0.proj.weight", 0)?,
        num_layers,
        cross_attn_norm: shapes.contains_key("blocks.0.norm2.weight"),
        eps: hints.eps.unwrap_or(1e-6),
        image_dim: image
            .then(|| dim(shapes, "condition_embedder.image_embedder.norm1.weight", 0))
            .transpose()?,
        added_kv_proj_dim: image.then_some(d),
        rope_max_seq_len: 1024,
        vace_layers,
        vace_in_channels,
    })
}

/// A config value that must agree with the shapes.
fn check_hint(key: &str, hint: Option<usize>, actual: usize) -> Result<(), String> {
    match hint {
        Some(h) if h != actual => Err(format!(
            "config.json has {key} {h} but the checkpoint has {actual} (a config of another model?)"
        )),
        _ => Ok(()),
    }
}

/// `(vace_layers, vace_in_channels)` of a VACE checkpoint, `(None, None)` otherwise.
fn vace_of(
    shapes: &Shapes,
    num_layers: usize,
    hints: &OriginalWanConfig,
) -> Result<(Option<Vec<usize>>, Option<usize>), String> {
    let n = count(shapes, "vace_blocks");
    if n == 0 {
        return Ok((None, None));
    }
    let in_ch = dim(shapes, "vace_patch_embedding.weight", 1)?;
    let layers = match &hints.vace_layers {
        Some(l) if l.len() == n => l.clone(),
        Some(l) => {
            return Err(format!(
                "config.json lists {} vace_layers, the checkpoint has {n} VACE blocks",
                l.len()
            ));
        }
        None if num_layers.is_multiple_of(n) => (0..n).map(|j| j * num_layers / n).collect(),
        None => {
            return Err(format!(
                "cannot place {n} VACE blocks among {num_layers} layers; add the original \
                 config.json (vace_layers)"
            ));
        }
    };
    Ok((Some(layers), Some(in_ch)))
}

/// The UMT5 encoder's config from its (transformers-named) shapes.
pub fn umt5_config(shapes: &Shapes) -> Result<Umt5Config, String> {
    let att = "encoder.block.0.layer.0.SelfAttention";
    let [buckets, heads] = shape(shapes, &format!("{att}.relative_attention_bias.weight"))?[..]
    else {
        return Err("relative_attention_bias must be 2-d".into());
    };
    let ff = "encoder.block.0.layer.1.DenseReluDense";
    let gated = shapes.contains_key(&format!("{ff}.wi_1.weight"));
    let wi = if gated { "wi_0" } else { "wi" };
    Ok(Umt5Config {
        vocab_size: dim(shapes, "shared.weight", 0)?,
        d_model: dim(shapes, "shared.weight", 1)?,
        d_kv: dim(shapes, &format!("{att}.q.weight"), 0)? / heads.max(1),
        d_ff: dim(shapes, &format!("{ff}.{wi}.weight"), 0)?,
        num_layers: count(shapes, "encoder.block"),
        num_heads: heads,
        relative_attention_num_buckets: buckets,
        relative_attention_max_distance: 128,
        layer_norm_epsilon: 1e-6,
        feed_forward_proj: if gated { "gated-gelu" } else { "relu" }.into(),
    })
}

/// The VAE's config from its (diffusers-named) shapes: widths from the convolutions, levels,
/// residual blocks per level and time downsampling from the encoder's flat block list.
pub fn vae_config(shapes: &Shapes) -> Result<VaeConfig, String> {
    let base_dim = dim(shapes, "encoder.conv_in.weight", 0)?;
    let mut cfg = VaeConfig {
        base_dim,
        z_dim: dim(shapes, "post_quant_conv.weight", 0)?,
        in_channels: dim(shapes, "encoder.conv_in.weight", 1)?,
        out_channels: dim(shapes, "decoder.conv_out.weight", 0)?,
        ..VaeConfig::default()
    };
    let entries: BTreeSet<usize> = shapes
        .keys()
        .filter_map(|k| crate::layout::indexed(k, "encoder.down_blocks").map(|(n, _)| n))
        .collect();
    let (mut dim_mult, mut downsample, mut per_level) = (Vec::new(), Vec::new(), Vec::new());
    let mut in_level = 0;
    let mut last_out = base_dim;
    for n in entries {
        let block = format!("encoder.down_blocks.{n}");
        if shapes.contains_key(&format!("{block}.resample.1.weight")) {
            dim_mult.push(last_out / base_dim);
            downsample.push(shapes.contains_key(&format!("{block}.time_conv.weight")));
            per_level.push(std::mem::take(&mut in_level));
        } else {
            last_out = dim(shapes, &format!("{block}.conv1.weight"), 0)?;
            in_level += 1;
        }
    }
    dim_mult.push(last_out / base_dim);
    per_level.push(in_level);
    if per_level.iter().any(|&r| r != per_level[0]) || per_level[0] == 0 {
        return Err(format!(
            "uneven residual blocks per encoder level: {per_level:?}"
        ));
    }
    cfg.num_res_blocks = per_level[0];
    cfg.dim_mult = dim_mult;
    cfg.temperal_downsample = downsample;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(list: &[(&str, &[usize])]) -> Shapes {
        list.iter()
            .map(|(n, s)| (n.to_string(), s.to_vec()))
            .collect()
    }

    /// The tensors of the published Wan2.1-T2V-1.3B that the inference reads.
    fn t2v_1_3b() -> Shapes {
        let mut s = shapes(&[
            ("patch_embedding.weight", &[1536, 16, 1, 2, 2]),
            ("proj_out.weight", &[64, 1536]),
            (
                "condition_embedder.text_embedder.linear_1.weight",
                &[1536, 4096],
            ),
            (
                "condition_embedder.time_embedder.linear_1.weight",
                &[1536, 256],
            ),
            ("blocks.0.ffn.net.0.proj.weight", &[8960, 1536]),
            ("blocks.0.norm2.weight", &[1536]),
        ]);
        s.insert("blocks.29.norm2.weight".into(), vec![1536]);
        s
    }

    #[test]
    fn the_1_3b_shapes_give_the_published_config() {
        let cfg = transformer_config(&t2v_1_3b(), &OriginalWanConfig::default()).unwrap();
        assert_eq!((cfg.num_attention_heads, cfg.attention_head_dim), (12, 128));
        assert_eq!(
            (cfg.num_layers, cfg.ffn_dim, cfg.text_dim, cfg.freq_dim),
            (30, 8960, 4096, 256)
        );
        assert_eq!(
            (cfg.in_channels, cfg.out_ch(), cfg.patch()),
            (16, 16, (1, 2, 2))
        );
        assert!(cfg.cross_attn_norm && cfg.vace_layers.is_none());
        cfg.validate().unwrap();
    }

    #[test]
    fn vace_layers_are_spaced_evenly_or_taken_from_the_config() {
        let mut s = t2v_1_3b();
        s.insert(
            "vace_patch_embedding.weight".into(),
            vec![1536, 96, 1, 2, 2],
        );
        s.insert("vace_blocks.14.proj_out.weight".into(), vec![1536, 1536]);
        let cfg = transformer_config(&s, &OriginalWanConfig::default()).unwrap();
        let even: Vec<usize> = (0..30).step_by(2).collect();
        assert_eq!(cfg.vace_layers.as_deref(), Some(even.as_slice()));
        assert_eq!(cfg.vace_in_channels, Some(96));
        let hints = OriginalWanConfig {
            vace_layers: Some((0..15).collect()),
            ..Default::default()
        };
        let cfg = transformer_config(&s, &hints).unwrap();
        assert_eq!(cfg.vace_layers.unwrap()[14], 14);
    }

    #[test]
    fn a_config_of_another_model_is_refused() {
        let hints = OriginalWanConfig {
            dim: Some(5120),
            ..Default::default()
        };
        let err = transformer_config(&t2v_1_3b(), &hints).unwrap_err();
        assert!(err.contains("dim 5120"), "{err}");
        let mut s = t2v_1_3b();
        s.insert("patch_embedding.weight".into(), vec![100, 16, 1, 2, 2]);
        let err = transformer_config(&s, &OriginalWanConfig::default()).unwrap_err();
        assert!(err.contains("num_heads"), "{err}");
    }

    #[test]
    fn umt5_xxl_shapes_give_its_config() {
        let s = shapes(&[
            ("shared.weight", &[256384, 4096]),
            (
                "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                &[32, 64],
            ),
            (
                "encoder.block.0.layer.0.SelfAttention.q.weight",
                &[4096, 4096],
            ),
            (
                "encoder.block.0.layer.1.DenseReluDense.wi_0.weight",
                &[10240, 4096],
            ),
            (
                "encoder.block.0.layer.1.DenseReluDense.wi_1.weight",
                &[10240, 4096],
            ),
            ("encoder.block.23.layer.0.layer_norm.weight", &[4096]),
        ]);
        let c = umt5_config(&s).unwrap();
        assert_eq!(
            (c.vocab_size, c.d_model, c.d_kv, c.d_ff),
            (256384, 4096, 64, 10240)
        );
        assert_eq!(
            (c.num_layers, c.num_heads, c.relative_attention_num_buckets),
            (24, 64, 32)
        );
        assert_eq!(c.feed_forward_proj, "gated-gelu");
    }
}
