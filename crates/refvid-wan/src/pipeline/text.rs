//! [`PromptEncoder`]: prompt text → `prompt_embeds` `[1, 512, d]`, as the Wan pipelines encode
//! it (`prompt_clean`, 512 tokens with the mask, UMT5, rows past the prompt's length zeroed).
//! With offload the encoder is on the device only while prompts are encoded
//! ([`crate::offload`]).

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::prompt::clean_prompt;
use crate::error::Result;
use crate::offload::{Placement, Staged, load};
use crate::tokenizer::{PromptTokenizer, TEXT_LEN};
use crate::umt5::Umt5Encoder;

/// The tokenizer and UMT5 encoder of a model.
pub struct PromptEncoder {
    tokenizer: PromptTokenizer,
    encoder: Staged<Umt5Encoder>,
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
        Self::staged(tokenizer, Staged::resident(encoder), dtype, device)
    }

    /// With an encoder that may be built only while prompts are encoded.
    pub fn staged(
        tokenizer: PromptTokenizer,
        encoder: Staged<Umt5Encoder>,
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
        Self::load_placed(dir, &Placement::new(dtype, device))
    }

    /// [`load`](Self::load) with the encoder placed as `at` says (offloaded or not).
    pub fn load_placed(dir: &Path, at: &Placement) -> Result<Self> {
        Ok(Self::staged(
            PromptTokenizer::from_model_dir(dir, TEXT_LEN)?,
            load::text_encoder(dir, at)?,
            at.dtype,
            at.device.clone(),
        ))
    }

    /// `prompt_embeds` `[1, 512, d]` of one prompt (cleaned, tokenized, encoded, zero-padded).
    pub fn encode(&self, prompt: &str) -> Result<Tensor> {
        let encoder = self.encoder.get()?;
        self.encode_with(&encoder, prompt)
    }

    /// [`encode`](Self::encode) for several prompts, with the encoder built once for all.
    pub fn encode_all(&self, prompts: &[&str]) -> Result<Vec<Tensor>> {
        let encoder = self.encoder.get()?;
        prompts
            .iter()
            .map(|p| self.encode_with(&encoder, p))
            .collect()
    }

    fn encode_with(&self, encoder: &Umt5Encoder, prompt: &str) -> Result<Tensor> {
        let cleaned = clean_prompt(prompt);
        let (ids, mask) = self.tokenizer.encode_batch(&[&cleaned], &self.device)?;
        Ok(encoder.encode_padded(&ids, &mask)?.to_dtype(self.dtype)?)
    }
}
