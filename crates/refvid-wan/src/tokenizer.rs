//! Prompt tokenization for the UMT5 encoder.
//!
//! Reads the pipeline's `tokenizer/tokenizer.json` (a `T5TokenizerFast` export) with the
//! `tokenizers` crate and reproduces the pipeline's call `tokenizer(prompt, padding="max_length",
//! max_length=512, truncation=True, add_special_tokens=True)`: ids with the end-of-sequence token,
//! truncated to 512 including it, right-padded with the pad id, and a 1/0 attention mask.

use std::path::Path;

use candle_core::{Device, Tensor};
use tokenizers::{Tokenizer, TruncationParams};

use crate::error::{Result, WanError};

/// The text length Wan pipelines pad to.
pub const TEXT_LEN: usize = 512;

/// A tokenizer producing fixed-length ids and masks.
pub struct PromptTokenizer {
    inner: Tokenizer,
    max_len: usize,
    pad_id: u32,
}

impl PromptTokenizer {
    /// Loads a `tokenizer.json`; `max_len` is the padded length (use [`TEXT_LEN`]).
    pub fn from_file(path: &Path, max_len: usize) -> Result<Self> {
        let inner = Tokenizer::from_file(path)
            .map_err(|e| WanError::Tokenizer(format!("{}: {e}", path.display())))?;
        Self::from_tokenizer(inner, max_len)
    }

    /// A tokenizer from the text of a `tokenizer.json`.
    pub fn from_json(json: &str, max_len: usize) -> Result<Self> {
        let inner = json
            .parse::<Tokenizer>()
            .map_err(|e| WanError::Tokenizer(format!("tokenizer.json: {e}")))?;
        Self::from_tokenizer(inner, max_len)
    }

    fn from_tokenizer(mut inner: Tokenizer, max_len: usize) -> Result<Self> {
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("<pad>"))
            .unwrap_or(0);
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| WanError::Tokenizer(e.to_string()))?;
        Ok(Self {
            inner,
            max_len,
            pad_id,
        })
    }

    /// Loads `tokenizer.json` from a pipeline folder (its `tokenizer/` subfolder), a tokenizer
    /// folder, or an original Wan folder (`google/umt5-xxl/`).
    pub fn from_model_dir(dir: &Path, max_len: usize) -> Result<Self> {
        Self::from_file(&crate::loading::tokenizer_file(dir)?, max_len)
    }

    /// `(ids, mask)` of one prompt, each `max_len` long.
    pub fn encode(&self, prompt: &str) -> Result<(Vec<u32>, Vec<u32>)> {
        let enc = self
            .inner
            .encode(prompt, true)
            .map_err(|e| WanError::Tokenizer(e.to_string()))?;
        let mut ids: Vec<u32> = enc.get_ids().iter().copied().take(self.max_len).collect();
        let mut mask = vec![1u32; ids.len()];
        ids.resize(self.max_len, self.pad_id);
        mask.resize(self.max_len, 0);
        Ok((ids, mask))
    }

    /// `input_ids` and `attention_mask`, both i64 `[B, max_len]`, for a batch of prompts.
    pub fn encode_batch(&self, prompts: &[&str], device: &Device) -> Result<(Tensor, Tensor)> {
        let mut ids = Vec::with_capacity(prompts.len() * self.max_len);
        let mut mask = Vec::with_capacity(prompts.len() * self.max_len);
        for p in prompts {
            let (i, m) = self.encode(p)?;
            ids.extend(i.into_iter().map(i64::from));
            mask.extend(m.into_iter().map(i64::from));
        }
        let shape = (prompts.len(), self.max_len);
        Ok((
            Tensor::from_vec(ids, shape, device)?,
            Tensor::from_vec(mask, shape, device)?,
        ))
    }
}

/// The whitespace part of the pipeline's `prompt_clean`: runs of whitespace become one space and
/// the ends are trimmed (the `ftfy` text repair is not reproduced).
pub fn clean_prompt(prompt: &str) -> String {
    prompt.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn clean_prompt_collapses_whitespace() {
        assert_eq!(super::clean_prompt("  a\tred \n\n fox  "), "a red fox");
    }
}
