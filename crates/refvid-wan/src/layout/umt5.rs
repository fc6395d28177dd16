//! The UMT5 encoder's keys: original (`wan/modules/t5.py`, `T5Encoder`) → transformers
//! (`UMT5EncoderModel`).
//!
//! In the original, every block has its own relative position table (`pos_embedding`), the gated
//! feed-forward is `fc2(fc1(x) · gelu(gate(x)))` (so `gate.0` is transformers' activated `wi_0`
//! and `fc1` the linear `wi_1`), and the final norm is `norm`.

use super::{Rename, indexed, rename};

/// Modules outside the blocks.
const TOP: &[Rename] = &[
    ("token_embedding", "shared"),
    ("norm", "encoder.final_layer_norm"),
];

/// Modules inside `blocks.N` (→ `encoder.block.N`).
const BLOCK: &[Rename] = &[
    ("norm1", "layer.0.layer_norm"),
    ("attn.q", "layer.0.SelfAttention.q"),
    ("attn.k", "layer.0.SelfAttention.k"),
    ("attn.v", "layer.0.SelfAttention.v"),
    ("attn.o", "layer.0.SelfAttention.o"),
    (
        "pos_embedding.embedding",
        "layer.0.SelfAttention.relative_attention_bias",
    ),
    ("norm2", "layer.1.layer_norm"),
    ("ffn.gate.0", "layer.1.DenseReluDense.wi_0"),
    ("ffn.fc1", "layer.1.DenseReluDense.wi_1"),
    ("ffn.fc2", "layer.1.DenseReluDense.wo"),
];

/// The transformers name of an original-layout T5 encoder key, or `None` for an unknown key.
pub fn original_to_diffusers(key: &str) -> Option<String> {
    if let Some((n, rest)) = indexed(key, "blocks") {
        return Some(format!("encoder.block.{n}.{}", rename(BLOCK, rest)?));
    }
    rename(TOP, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_renamed() {
        let cases = [
            ("token_embedding.weight", "shared.weight"),
            ("norm.weight", "encoder.final_layer_norm.weight"),
            (
                "blocks.3.norm1.weight",
                "encoder.block.3.layer.0.layer_norm.weight",
            ),
            (
                "blocks.0.attn.o.weight",
                "encoder.block.0.layer.0.SelfAttention.o.weight",
            ),
            (
                "blocks.23.pos_embedding.embedding.weight",
                "encoder.block.23.layer.0.SelfAttention.relative_attention_bias.weight",
            ),
            (
                "blocks.1.ffn.gate.0.weight",
                "encoder.block.1.layer.1.DenseReluDense.wi_0.weight",
            ),
            (
                "blocks.1.ffn.fc1.weight",
                "encoder.block.1.layer.1.DenseReluDense.wi_1.weight",
            ),
            (
                "blocks.1.ffn.fc2.weight",
                "encoder.block.1.layer.1.DenseReluDense.wo.weight",
            ),
        ];
        for (from, to) in cases {
            assert_eq!(original_to_diffusers(from).as_deref(), Some(to), "{from}");
        }
        assert_eq!(original_to_diffusers("blocks.0.ffn.gate.1.weight"), None);
    }
}
