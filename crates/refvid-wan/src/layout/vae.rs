//! The Wan 2.1 VAE's keys: original (`wan/modules/vae.py`, `WanVAE_`) → diffusers
//! (`AutoencoderKLWan`).
//!
//! Most modules are renamed one to one ([`TOP`], [`RESIDUAL`]). The decoder is the exception: the
//! original keeps its residual blocks and upsamplers in one flat list (`decoder.upsamples.N`),
//! diffusers groups them per level (`decoder.up_blocks.L.resnets.J`, `…upsamplers.0`). Where a
//! level ends depends on the model (each level ends with an upsampler, except the last), so
//! [`VaeRenamer`] reads the grouping off the checkpoint's own keys instead of assuming the 2
//! residual blocks per level that diffusers' converter hard-codes.

use std::collections::{BTreeMap, BTreeSet};

use super::{Rename, indexed, rename};

/// Modules outside the down/up lists.
const TOP: &[Rename] = &[
    ("encoder.conv1", "encoder.conv_in"),
    ("encoder.middle.0", "encoder.mid_block.resnets.0"),
    ("encoder.middle.1", "encoder.mid_block.attentions.0"),
    ("encoder.middle.2", "encoder.mid_block.resnets.1"),
    ("encoder.head.0", "encoder.norm_out"),
    ("encoder.head.2", "encoder.conv_out"),
    ("decoder.conv1", "decoder.conv_in"),
    ("decoder.middle.0", "decoder.mid_block.resnets.0"),
    ("decoder.middle.1", "decoder.mid_block.attentions.0"),
    ("decoder.middle.2", "decoder.mid_block.resnets.1"),
    ("decoder.head.0", "decoder.norm_out"),
    ("decoder.head.2", "decoder.conv_out"),
    ("conv1", "quant_conv"),
    ("conv2", "post_quant_conv"),
];

/// Inside a residual block (`ResidualBlock.residual` is `[norm, SiLU, conv, norm, SiLU,
/// dropout, conv]`); resamplers (`resample.1`, `time_conv`) and the attention (`norm`,
/// `to_qkv`, `proj`) keep their names.
const RESIDUAL: &[Rename] = &[
    ("residual.0", "norm1"),
    ("residual.2", "conv1"),
    ("residual.3", "norm2"),
    ("residual.6", "conv2"),
    ("shortcut", "conv_shortcut"),
    ("resample", "resample"),
    ("time_conv", "time_conv"),
    ("norm", "norm"),
    ("to_qkv", "to_qkv"),
    ("proj", "proj"),
];

/// Where a `decoder.upsamples.N` entry goes in diffusers' grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// `decoder.up_blocks.{level}.resnets.{index}`.
    Resnet { level: usize, index: usize },
    /// `decoder.up_blocks.{level}.upsamplers.0`.
    Upsampler { level: usize },
}

/// Renames original VAE keys, knowing the decoder's grouping from the whole key list.
#[derive(Debug, Clone)]
pub struct VaeRenamer {
    slots: BTreeMap<usize, Slot>,
}

impl VaeRenamer {
    /// Reads the decoder's grouping from the checkpoint's keys (without any prefix).
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        let mut entries = BTreeSet::new();
        let mut upsamplers = BTreeSet::new();
        for key in keys {
            if let Some((n, rest)) = indexed(key, "decoder.upsamples") {
                entries.insert(n);
                if rest.starts_with("resample.") || rest.starts_with("time_conv.") {
                    upsamplers.insert(n);
                }
            }
        }
        let (mut level, mut index) = (0, 0);
        let mut slots = BTreeMap::new();
        for n in entries {
            if upsamplers.contains(&n) {
                slots.insert(n, Slot::Upsampler { level });
                (level, index) = (level + 1, 0);
            } else {
                slots.insert(n, Slot::Resnet { level, index });
                index += 1;
            }
        }
        Self { slots }
    }

    /// The diffusers name of an original VAE key, or `None` for an unknown key.
    pub fn original_to_diffusers(&self, key: &str) -> Option<String> {
        if let Some((n, rest)) = indexed(key, "encoder.downsamples") {
            return Some(format!(
                "encoder.down_blocks.{n}.{}",
                rename(RESIDUAL, rest)?
            ));
        }
        if let Some((n, rest)) = indexed(key, "decoder.upsamples") {
            let inner = rename(RESIDUAL, rest)?;
            return Some(match self.slots.get(&n)? {
                Slot::Resnet { level, index } => {
                    format!("decoder.up_blocks.{level}.resnets.{index}.{inner}")
                }
                Slot::Upsampler { level } => {
                    format!("decoder.up_blocks.{level}.upsamplers.0.{inner}")
                }
            });
        }
        let renamed = rename(TOP, key)?;
        // Inside the mid blocks the residual names change too.
        match renamed.split_once(".resnets.") {
            Some((head, tail)) if renamed.contains("mid_block") => {
                let (j, rest) = tail.split_once('.')?;
                Some(format!("{head}.resnets.{j}.{}", rename(RESIDUAL, rest)?))
            }
            _ => Some(renamed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoder list of the real Wan 2.1 VAE: levels of 3 residual blocks, upsamplers after
    /// the first three levels.
    fn wan21_decoder_keys() -> Vec<String> {
        let mut keys = Vec::new();
        for n in 0..15 {
            if n == 3 || n == 7 || n == 11 {
                keys.push(format!("decoder.upsamples.{n}.resample.1.weight"));
                if n != 11 {
                    keys.push(format!("decoder.upsamples.{n}.time_conv.weight"));
                }
            } else {
                keys.push(format!("decoder.upsamples.{n}.residual.0.gamma"));
            }
        }
        keys.push("decoder.upsamples.4.shortcut.weight".into());
        keys
    }

    #[test]
    fn decoder_levels_follow_the_upsamplers() {
        let keys = wan21_decoder_keys();
        let r = VaeRenamer::new(keys.iter().map(String::as_str));
        let name = |k: &str| r.original_to_diffusers(k).unwrap();
        assert_eq!(
            name("decoder.upsamples.0.residual.0.gamma"),
            "decoder.up_blocks.0.resnets.0.norm1.gamma"
        );
        assert_eq!(
            name("decoder.upsamples.3.time_conv.weight"),
            "decoder.up_blocks.0.upsamplers.0.time_conv.weight"
        );
        assert_eq!(
            name("decoder.upsamples.4.shortcut.weight"),
            "decoder.up_blocks.1.resnets.0.conv_shortcut.weight"
        );
        assert_eq!(
            name("decoder.upsamples.11.resample.1.weight"),
            "decoder.up_blocks.2.upsamplers.0.resample.1.weight"
        );
        assert_eq!(
            name("decoder.upsamples.14.residual.6.bias"),
            "decoder.up_blocks.3.resnets.2.conv2.bias"
        );
    }

    #[test]
    fn flat_and_top_level_keys_are_renamed() {
        let r = VaeRenamer::new(std::iter::empty());
        let cases = [
            ("conv1.weight", "quant_conv.weight"),
            ("conv2.bias", "post_quant_conv.bias"),
            ("encoder.conv1.weight", "encoder.conv_in.weight"),
            (
                "encoder.downsamples.2.resample.1.weight",
                "encoder.down_blocks.2.resample.1.weight",
            ),
            (
                "encoder.downsamples.5.time_conv.bias",
                "encoder.down_blocks.5.time_conv.bias",
            ),
            (
                "encoder.downsamples.3.residual.3.gamma",
                "encoder.down_blocks.3.norm2.gamma",
            ),
            (
                "encoder.downsamples.3.shortcut.bias",
                "encoder.down_blocks.3.conv_shortcut.bias",
            ),
            (
                "encoder.middle.2.residual.6.weight",
                "encoder.mid_block.resnets.1.conv2.weight",
            ),
            (
                "decoder.middle.1.to_qkv.weight",
                "decoder.mid_block.attentions.0.to_qkv.weight",
            ),
            (
                "decoder.middle.1.norm.gamma",
                "decoder.mid_block.attentions.0.norm.gamma",
            ),
            ("encoder.head.0.gamma", "encoder.norm_out.gamma"),
            ("decoder.head.2.weight", "decoder.conv_out.weight"),
        ];
        for (from, to) in cases {
            assert_eq!(r.original_to_diffusers(from).as_deref(), Some(to), "{from}");
        }
        assert_eq!(
            r.original_to_diffusers("decoder.upsamples.0.residual.0.gamma"),
            None
        );
        assert_eq!(
            r.original_to_diffusers("encoder.middle.0.residual.1.x"),
            None
        );
    }
}
