//! The Wan transformer's keys: original (`wan/modules/model.py`, `vace_model.py`) → diffusers
//! (`transformer_wan.py`, `transformer_wan_vace.py`).
//!
//! The same renaming as diffusers' `convert_wan_transformer_to_diffusers`. Note the swap of the
//! block norms: the original `norm3` is the affine norm before cross-attention (diffusers'
//! `norm2`) and the original `norm2` the one before the feed-forward (diffusers' `norm3`).
//! [`original_to_diffusers`] takes full parameter names (`blocks.3.self_attn.q.weight`) and
//! module paths (`blocks.3.self_attn.q`) alike, so LoRA keys can be mapped through it.

use super::{Rename, indexed, rename};

/// Modules outside the blocks.
const TOP: &[Rename] = &[
    ("patch_embedding", "patch_embedding"),
    ("vace_patch_embedding", "vace_patch_embedding"),
    (
        "text_embedding.0",
        "condition_embedder.text_embedder.linear_1",
    ),
    (
        "text_embedding.2",
        "condition_embedder.text_embedder.linear_2",
    ),
    (
        "time_embedding.0",
        "condition_embedder.time_embedder.linear_1",
    ),
    (
        "time_embedding.2",
        "condition_embedder.time_embedder.linear_2",
    ),
    ("time_projection.1", "condition_embedder.time_proj"),
    ("head.head", "proj_out"),
    ("head.modulation", "scale_shift_table"),
    // Image-to-video models (not run by this crate, but named correctly).
    ("img_emb.proj.0", "condition_embedder.image_embedder.norm1"),
    (
        "img_emb.proj.1",
        "condition_embedder.image_embedder.ff.net.0.proj",
    ),
    (
        "img_emb.proj.3",
        "condition_embedder.image_embedder.ff.net.2",
    ),
    ("img_emb.proj.4", "condition_embedder.image_embedder.norm2"),
];

/// Modules inside `blocks.N` and `vace_blocks.N`.
const BLOCK: &[Rename] = &[
    ("self_attn.q", "attn1.to_q"),
    ("self_attn.k", "attn1.to_k"),
    ("self_attn.v", "attn1.to_v"),
    ("self_attn.o", "attn1.to_out.0"),
    ("self_attn.norm_q", "attn1.norm_q"),
    ("self_attn.norm_k", "attn1.norm_k"),
    ("cross_attn.q", "attn2.to_q"),
    ("cross_attn.k", "attn2.to_k"),
    ("cross_attn.v", "attn2.to_v"),
    ("cross_attn.o", "attn2.to_out.0"),
    ("cross_attn.norm_q", "attn2.norm_q"),
    ("cross_attn.norm_k", "attn2.norm_k"),
    ("cross_attn.k_img", "attn2.add_k_proj"),
    ("cross_attn.v_img", "attn2.add_v_proj"),
    ("cross_attn.norm_k_img", "attn2.norm_added_k"),
    ("norm3", "norm2"),
    ("norm2", "norm3"),
    ("ffn.0", "ffn.net.0.proj"),
    ("ffn.2", "ffn.net.2"),
    ("modulation", "scale_shift_table"),
    // VACE blocks.
    ("before_proj", "proj_in"),
    ("after_proj", "proj_out"),
];

/// The diffusers name of an original-layout transformer key (without any `model.` style prefix),
/// or `None` for a key the table does not know.
///
/// ```
/// use refvid_wan::layout::transformer::original_to_diffusers;
/// assert_eq!(original_to_diffusers("blocks.0.self_attn.o.weight").unwrap(), "blocks.0.attn1.to_out.0.weight");
/// assert_eq!(original_to_diffusers("vace_blocks.2.after_proj").unwrap(), "vace_blocks.2.proj_out");
/// ```
pub fn original_to_diffusers(key: &str) -> Option<String> {
    for list in ["blocks", "vace_blocks"] {
        if let Some((n, rest)) = indexed(key, list) {
            return Some(format!("{list}.{n}.{}", rename(BLOCK, rest)?));
        }
    }
    rename(TOP, key)
}

/// The original-layout key of a diffusers transformer key: the inverse of
/// [`original_to_diffusers`] (used to write checkpoints in the original layout, e.g. random
/// weights at a model's shapes), or `None` for a key the table does not know.
///
/// ```
/// use refvid_wan::layout::transformer::diffusers_to_original;
/// assert_eq!(diffusers_to_original("blocks.0.norm2.weight").unwrap(), "blocks.0.norm3.weight");
/// assert_eq!(diffusers_to_original("vace_blocks.1.proj_out.bias").unwrap(), "vace_blocks.1.after_proj.bias");
/// assert_eq!(diffusers_to_original("proj_out.weight").unwrap(), "head.head.weight");
/// ```
pub fn diffusers_to_original(key: &str) -> Option<String> {
    let back = |table: &[Rename], key: &str| {
        let reversed: Vec<Rename> = table.iter().map(|&(from, to)| (to, from)).collect();
        rename(&reversed, key)
    };
    for list in ["blocks", "vace_blocks"] {
        if let Some((n, rest)) = indexed(key, list) {
            return Some(format!("{list}.{n}.{}", back(BLOCK, rest)?));
        }
    }
    back(TOP, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_key_is_renamed() {
        let cases = [
            ("patch_embedding.weight", "patch_embedding.weight"),
            (
                "text_embedding.2.bias",
                "condition_embedder.text_embedder.linear_2.bias",
            ),
            (
                "time_embedding.0.weight",
                "condition_embedder.time_embedder.linear_1.weight",
            ),
            (
                "time_projection.1.weight",
                "condition_embedder.time_proj.weight",
            ),
            ("head.head.weight", "proj_out.weight"),
            ("head.modulation", "scale_shift_table"),
            ("blocks.29.modulation", "blocks.29.scale_shift_table"),
            (
                "blocks.0.self_attn.norm_k.weight",
                "blocks.0.attn1.norm_k.weight",
            ),
            ("blocks.1.cross_attn.v.bias", "blocks.1.attn2.to_v.bias"),
            ("blocks.1.norm3.weight", "blocks.1.norm2.weight"),
            ("blocks.1.ffn.2.weight", "blocks.1.ffn.net.2.weight"),
            (
                "vace_blocks.0.before_proj.weight",
                "vace_blocks.0.proj_in.weight",
            ),
            ("vace_blocks.3.cross_attn.q", "vace_blocks.3.attn2.to_q"),
            ("vace_patch_embedding.bias", "vace_patch_embedding.bias"),
        ];
        for (from, to) in cases {
            assert_eq!(original_to_diffusers(from).as_deref(), Some(to), "{from}");
        }
        assert_eq!(original_to_diffusers("freqs"), None);
        assert_eq!(original_to_diffusers("blocks.x.norm3.weight"), None);
        assert_eq!(original_to_diffusers("blocks.0.unknown.weight"), None);
    }

    #[test]
    fn diffusers_keys_go_back_to_the_original_ones() {
        for list in [TOP, BLOCK] {
            for (from, _) in list {
                for key in [format!("{from}.weight"), format!("blocks.4.{from}.bias")] {
                    let Some(d) = original_to_diffusers(&key) else {
                        continue;
                    };
                    assert_eq!(
                        diffusers_to_original(&d).as_deref(),
                        Some(key.as_str()),
                        "{d}"
                    );
                }
            }
        }
        assert_eq!(diffusers_to_original("blocks.0.attn1.unknown"), None);
        assert_eq!(diffusers_to_original("freqs"), None);
    }
}
