//! [`PromptEncoder`]: prompt text → `prompt_embeds` `[1, 512, d]`, as the Wan pipelines encode
//! it (`prompt_clean`, 512 tokens with the mask, UMT5, rows past the prompt's length zeroed).

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::prompt::clean_prompt;
use crate::error::Result;
use crate::loading::load_text_encoder;
use crate::tokenizer::{PromptTokenizer, TEXT_LEN};
use crate::umt5::Umt5Encoder;

/// The tokenizer and UMT5 encoder of a model.
pub struct PromptEncoder {
    tokenizer: PromptTokenizer,
    encoder: Umt5Encoder,
    dtype: DType,
    device: Device,
}

impl PromptEncoder {
    /// From loaded parts; embeddings come out in `dtype`.
    pub fn new(
        tokenizer: PromptTokenizer,
        encoder: Umt5Encoder,
        dtype: DType,
        device: Device,
    ) -> Self {
        Self {
            tokenizer,
            encoder,
            dtype,
            device,
        }
    }

    /// Loads the tokenizer and the encoder (in `dtype`) of a model folder or original Wan folder.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        Ok(Self::new(
            PromptTokenizer::from_model_dir(dir, TEXT_LEN)?,
            load_text_encoder(dir, dtype, device)?,
            dtype,
            device.clone(),
        ))
    }

    /// `prompt_embeds` `[1, 512, d]` of one prompt (cleaned, tokenized, encoded, zero-padded).
    pub fn encode(&self, prompt: &str) -> Result<Tensor> {
        let cleaned = clean_prompt(prompt);
        let (ids, mask) = self.tokenizer.encode_batch(&[&cleaned], &self.device)?;
        Ok(self
            .encoder
            .encode_padded(&ids, &mask)?
            .to_dtype(self.dtype)?)
    }
}
