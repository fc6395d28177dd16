//! Checkpoint key layouts: the diffusers/transformers names the model code uses, and the names of
//! the original Wan 2.1 release (`Wan2.1_VAE.pth`, `models_t5_umt5-xxl-enc-bf16.pth`,
//! `Phantom-Wan-1.3B.pth`, the original `diffusion_pytorch_model*.safetensors` and the
//! single-file checkpoints ComfyUI users have).
//!
//! One renaming table per module maps an original key to its diffusers name:
//! [`transformer`] (Wan T2V and VACE), [`umt5`] (the T5 encoder) and [`vae`] (the Wan 2.1 VAE).
//! [`detect`] finds which layout a checkpoint uses and the prefix its keys carry
//! (`model.diffusion_model.`, `diffusion_model.`, `model.`, …); [`diffusers_names`] renames a
//! whole key list. The loader ([`crate::loading::Checkpoint`]) applies this when a checkpoint is
//! opened, so model code asks for tensors by their diffusers names only.

pub mod transformer;
pub mod umt5;
pub mod vae;

/// Which naming a checkpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// diffusers (transformer, VAE) or transformers (UMT5) names.
    Diffusers,
    /// The names of the original Wan 2.1 code (`wan/modules/model.py`, `t5.py`, `vae.py`).
    Original,
}

/// The model a checkpoint holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The Wan transformer, with or without the VACE branch.
    Transformer,
    /// The UMT5 text encoder.
    TextEncoder,
    /// The Wan 2.1 video VAE.
    Vae,
}

impl Component {
    /// A key only this component's checkpoints have, in each layout: its position in a key
    /// gives the prefix.
    fn markers(self) -> [(&'static str, Layout); 2] {
        match self {
            Component::Transformer => [
                ("head.modulation", Layout::Original),
                ("condition_embedder.time_proj.weight", Layout::Diffusers),
            ],
            Component::TextEncoder => [
                ("token_embedding.weight", Layout::Original),
                ("encoder.final_layer_norm.weight", Layout::Diffusers),
            ],
            Component::Vae => [
                ("decoder.middle.0.residual.0.gamma", Layout::Original),
                ("decoder.mid_block.resnets.0.norm1.gamma", Layout::Diffusers),
            ],
        }
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Component::Transformer => "transformer",
            Component::TextEncoder => "text encoder",
            Component::Vae => "VAE",
        }
    }
}

/// The layout of a checkpoint and the prefix in front of every key of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub layout: Layout,
    /// Empty, or ends with `.` (e.g. `model.diffusion_model.`).
    pub prefix: String,
}

/// Finds the layout and key prefix of a `component` checkpoint from its key names; `None` when
/// no key marks either layout.
pub fn detect<'a>(
    component: Component,
    keys: impl IntoIterator<Item = &'a str>,
) -> Option<Detected> {
    let markers = component.markers();
    let mut best: Option<Detected> = None;
    for key in keys {
        for (marker, layout) in markers {
            let Some(prefix) = key.strip_suffix(marker) else {
                continue;
            };
            if !(prefix.is_empty() || prefix.ends_with('.')) {
                continue;
            }
            // The shortest prefix wins (a VACE key `vace_blocks.…` never ends in a marker).
            if best.as_ref().is_none_or(|b| prefix.len() < b.prefix.len()) {
                best = Some(Detected {
                    layout,
                    prefix: prefix.to_string(),
                });
            }
        }
    }
    best
}

/// The diffusers name of each key (already stripped of its prefix), `None` for keys the layout
/// does not know (they are ignored, as `load_state_dict(strict=False)` would).
pub fn diffusers_names(component: Component, layout: Layout, keys: &[&str]) -> Vec<Option<String>> {
    match layout {
        Layout::Diffusers => keys.iter().map(|k| Some(k.to_string())).collect(),
        Layout::Original => match component {
            Component::Transformer => keys
                .iter()
                .map(|k| transformer::original_to_diffusers(k))
                .collect(),
            Component::TextEncoder => keys
                .iter()
                .map(|k| umt5::original_to_diffusers(k))
                .collect(),
            Component::Vae => {
                let renamer = vae::VaeRenamer::new(keys.iter().copied());
                keys.iter()
                    .map(|k| renamer.original_to_diffusers(k))
                    .collect()
            }
        },
    }
}

/// One row of a renaming table: a module path in the original layout and its diffusers path.
pub(crate) type Rename = (&'static str, &'static str);

/// Renames `key` by the first row whose original path is `key` itself or a whole-segment prefix
/// of it (`ffn.0` matches `ffn.0.weight`, not `ffn.00`); the rest of the key is kept.
pub(crate) fn rename(table: &[Rename], key: &str) -> Option<String> {
    table.iter().find_map(|(from, to)| {
        let rest = key.strip_prefix(from)?;
        if rest.is_empty() || rest.starts_with('.') {
            Some(format!("{to}{rest}"))
        } else {
            None
        }
    })
}

/// Splits `blocks.7.rest` into `(7, "rest")` for the given list name (`blocks`).
pub(crate) fn indexed<'a>(key: &'a str, list: &str) -> Option<(usize, &'a str)> {
    let rest = key.strip_prefix(list)?.strip_prefix('.')?;
    let (index, rest) = rest.split_once('.').unwrap_or((rest, ""));
    Some((index.parse().ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_layouts_are_found() {
        let keys = [
            "model.diffusion_model.blocks.0.self_attn.q.weight",
            "model.diffusion_model.head.modulation",
        ];
        let d = detect(Component::Transformer, keys).unwrap();
        assert_eq!(d.layout, Layout::Original);
        assert_eq!(d.prefix, "model.diffusion_model.");
        let d = detect(
            Component::Transformer,
            ["condition_embedder.time_proj.weight"],
        )
        .unwrap();
        assert_eq!((d.layout, d.prefix.as_str()), (Layout::Diffusers, ""));
        assert!(detect(Component::Transformer, ["xhead.modulation"]).is_none());
        assert!(detect(Component::Vae, keys).is_none());
        let d = detect(Component::TextEncoder, ["te.token_embedding.weight"]).unwrap();
        assert_eq!(d.prefix, "te.");
    }

    #[test]
    fn renaming_matches_whole_segments() {
        let table: &[Rename] = &[("ffn.0", "ffn.net.0.proj"), ("ffn.2", "ffn.net.2")];
        assert_eq!(
            rename(table, "ffn.0.weight").as_deref(),
            Some("ffn.net.0.proj.weight")
        );
        assert_eq!(rename(table, "ffn.2").as_deref(), Some("ffn.net.2"));
        assert_eq!(rename(table, "ffn.00.weight"), None);
        assert_eq!(
            indexed("blocks.12.norm3.weight", "blocks"),
            Some((12, "norm3.weight"))
        );
        assert_eq!(indexed("vace_blocks.1.x", "blocks"), None);
    }
}
