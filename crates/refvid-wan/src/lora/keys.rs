//! LoRA key formats → the diffusers module a key patches and what the key holds.
//!
//! | format | example key |
//! |---|---|
//! | diffusers / PEFT | `transformer.blocks.0.attn1.to_q.lora_A.weight`, `….lora_B.weight`, `….lora_B.bias` |
//! | original Wan layout (CausVid, lightx2v extractions) | `diffusion_model.blocks.0.self_attn.q.lora_down.weight`, `….lora_up.weight`, `….alpha`, `….diff`, `….diff_b` (also `lora_A`/`lora_B`) |
//! | musubi-tuner | `lora_unet_blocks_0_self_attn_q.lora_down.weight`, `….lora_up.weight`, `….alpha` |
//!
//! Original module paths go through the transformer's key table
//! ([`crate::layout::transformer::original_to_diffusers`]; a path it does not know is kept, for
//! files that pair diffusers names with `lora_down`/`lora_up`); musubi's underscores are turned
//! back into the original dots first.

use crate::layout::transformer::original_to_diffusers;

/// What one LoRA tensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `A` / `lora_down`: `[rank, in, …]`.
    Down,
    /// `B` / `lora_up`: `[out, rank, …]`.
    Up,
    /// The scalar `alpha` (scale `alpha / rank`).
    Alpha,
    /// A full delta of the module's weight (or of the parameter itself).
    Diff,
    /// A full delta of the module's bias (`diff_b`, PEFT's `lora_B.bias`).
    DiffBias,
}

/// The key format of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Diffusers,
    Original,
    Musubi,
}

impl Format {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Diffusers => "diffusers/PEFT",
            Format::Original => "original Wan layout",
            Format::Musubi => "musubi-tuner",
        }
    }
}

/// Prefixes the original layout is published with.
const ORIGINAL_PREFIXES: [&str; 3] = ["model.diffusion_model.", "diffusion_model.", "model."];

/// Which format a file's keys are in: musubi when a key starts with `lora_unet_`, original when
/// a key has `lora_down`/`.diff`/`.alpha` or an original module name, diffusers otherwise.
pub fn detect<'a>(keys: impl IntoIterator<Item = &'a str>) -> Format {
    let keys: Vec<&str> = keys.into_iter().collect();
    if keys.iter().any(|k| k.starts_with("lora_unet_")) {
        return Format::Musubi;
    }
    let original = keys.iter().any(|k| {
        k.starts_with("diffusion_model.")
            || k.contains(".self_attn.")
            || k.contains(".cross_attn.")
            || k.contains(".lora_down.")
    });
    if original {
        Format::Original
    } else {
        Format::Diffusers
    }
}

/// Splits `module.suffix` into the module path and its part.
fn split_part(key: &str) -> Option<(&str, Part)> {
    const SUFFIXES: [(&str, Part); 10] = [
        (".lora_A.weight", Part::Down),
        (".lora_B.weight", Part::Up),
        (".lora_B.bias", Part::DiffBias),
        (".lora_down.weight", Part::Down),
        (".lora_up.weight", Part::Up),
        (".lora_A.default.weight", Part::Down),
        (".lora_B.default.weight", Part::Up),
        (".alpha", Part::Alpha),
        (".diff_b", Part::DiffBias),
        (".diff", Part::Diff),
    ];
    SUFFIXES
        .iter()
        .find_map(|(s, p)| key.strip_suffix(s).map(|m| (m, *p)))
}

/// The diffusers module a key patches and its part, or `None` when the key is not one the format
/// knows.
pub fn parse(format: Format, key: &str) -> Option<(String, Part)> {
    let (module, part) = split_part(key)?;
    let module = match format {
        Format::Diffusers => module
            .strip_prefix("transformer.")
            .unwrap_or(module)
            .to_string(),
        Format::Original => {
            let bare = ORIGINAL_PREFIXES
                .iter()
                .find_map(|p| module.strip_prefix(p))
                .unwrap_or(module);
            // A name the table does not know is kept as it is: some files use diffusers
            // module names with `lora_down`/`lora_up`; a name the model lacks is refused later.
            original_to_diffusers(bare).unwrap_or_else(|| bare.to_string())
        }
        Format::Musubi => {
            original_to_diffusers(&musubi_to_original(module.strip_prefix("lora_unet_")?)?)?
        }
    };
    Some((module, part))
}

/// Sub-module names inside an original block, longest first (underscores in them are real).
const BLOCK_MODULES: [&str; 5] = ["self_attn_", "cross_attn_", "ffn_", "norm", "modulation"];

/// `blocks_3_cross_attn_k_img` → `blocks.3.cross_attn.k_img`; `time_projection_1` →
/// `time_projection.1`; `head_head` → `head.head`.
pub fn musubi_to_original(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("blocks_") {
        let (index, rest) = rest.split_once('_')?;
        index.parse::<usize>().ok()?;
        let inner = BLOCK_MODULES.iter().find_map(|m| {
            let tail = rest.strip_prefix(m)?;
            Some(match m.strip_suffix('_') {
                Some(head) => format!("{head}.{tail}"),
                None => format!("{m}{tail}"),
            })
        })?;
        return Some(format!("blocks.{index}.{inner}"));
    }
    if name == "head_head" {
        return Some("head.head".into());
    }
    let (head, tail) = name.rsplit_once('_')?;
    tail.parse::<usize>().ok()?;
    Some(format!("{head}.{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_formats_name_the_same_module() {
        let cases = [
            "transformer.blocks.2.attn1.to_out.0.lora_A.weight",
            "diffusion_model.blocks.2.self_attn.o.lora_down.weight",
            "lora_unet_blocks_2_self_attn_o.lora_down.weight",
        ];
        for key in cases {
            let format = detect([key]);
            assert_eq!(
                parse(format, key),
                Some(("blocks.2.attn1.to_out.0".to_string(), Part::Down)),
                "{key}"
            );
        }
        assert_eq!(detect(cases[..1].iter().copied()), Format::Diffusers);
        assert_eq!(detect(cases[1..2].iter().copied()), Format::Original);
        assert_eq!(detect(cases[2..].iter().copied()), Format::Musubi);
    }

    #[test]
    fn original_parts_and_modules_map() {
        let f = Format::Original;
        let p = |k: &str| parse(f, k);
        assert_eq!(
            p("diffusion_model.blocks.0.ffn.2.diff_b"),
            Some(("blocks.0.ffn.net.2".into(), Part::DiffBias))
        );
        assert_eq!(
            p("diffusion_model.blocks.1.norm3.diff"),
            Some(("blocks.1.norm2".into(), Part::Diff))
        );
        assert_eq!(
            p("blocks.1.cross_attn.k.alpha"),
            Some(("blocks.1.attn2.to_k".into(), Part::Alpha))
        );
        assert_eq!(
            p("diffusion_model.time_projection.1.lora_up.weight"),
            Some(("condition_embedder.time_proj".into(), Part::Up))
        );
        assert_eq!(
            p("diffusion_model.head.head.lora_B.weight"),
            Some(("proj_out".into(), Part::Up))
        );
        assert_eq!(p("diffusion_model.blocks.0.self_attn.q.weight"), None);
        assert_eq!(
            p("blocks.0.attn1.to_q.lora_down.weight"),
            Some(("blocks.0.attn1.to_q".into(), Part::Down))
        );
    }

    #[test]
    fn musubi_names_become_original_names() {
        assert_eq!(
            musubi_to_original("blocks_11_cross_attn_k_img").as_deref(),
            Some("blocks.11.cross_attn.k_img")
        );
        assert_eq!(
            musubi_to_original("blocks_0_ffn_0").as_deref(),
            Some("blocks.0.ffn.0")
        );
        assert_eq!(
            musubi_to_original("blocks_0_norm3").as_deref(),
            Some("blocks.0.norm3")
        );
        assert_eq!(
            musubi_to_original("time_projection_1").as_deref(),
            Some("time_projection.1")
        );
        assert_eq!(
            musubi_to_original("head_head").as_deref(),
            Some("head.head")
        );
        assert_eq!(musubi_to_original("blocks_x_ffn_0"), None);
        assert_eq!(musubi_to_original("blocks_0_mystery"), None);
    }
}
