//! The Wan 2.1 / VACE model family on candle.
//!
//! - [`umt5`]: the UMT5 text encoder; [`tokenizer`]: prompt → 512 padded ids and mask.
//! - [`transformer`]: `WanTransformer3DModel`, with the [`vace`] branch of
//!   `WanVACETransformer3DModel`; built from [`rope`], [`attention`], [`conv3d`] and the
//!   [`fused`] CPU kernels.
//! - [`vae`]: the Wan 2.1 video VAE (`AutoencoderKLWan`): chunked causal encode/decode, tiling.
//! - [`loading`]: finding checkpoints (diffusers folders, the original Wan release, single
//!   files, `.pth` and `.safetensors`), sharded safetensors, dtypes, named errors;
//!   [`layout`]: the original ↔ diffusers key tables.
//! - [`lora`]: LoRAs (three key formats) merged into the transformer's weights at load.
//! - [`scheduler`]: the flow-matching UniPC and Euler schedulers (`scheduler_config.json`), step
//!   lists and the x0-then-renoise sampler of step-distilled models.
//! - [`step_cache`]: First-Block-Cache and MagCache for the many-step path.
//! - [`preset`]: the speed presets (quality, balanced, fast) and how distilled weights are known.
//! - [`pipeline`]: `WanVACEPipeline` for reference-to-video (prompt, references → frames).
//! - [`engine`]: the seam to refvid's `Engine` trait — [`engine::VideoModel`] (a model that
//!   renders at its own size and rate) and [`engine::ModelEngine`] (the fitting to the job,
//!   written once); [`models`]: the models behind it, one folder each.
//! - [`offload`]: `--offload none|model|blocks` — modules built per stage, blocks streamed to
//!   the device one at a time with the next prefetched.
//! - [`batch`]: the guidance passes of a step in one batch (`--pass-batching`).
//! - [`runtime`]: precision and device as the command line spells them.
//! - [`bench`]: `refvid wan bench` — a generation at a model's real shapes with random weights,
//!   timed per stage, with peak memory.
//! - [`check`]: the parity command (`refvid wan check`) as a library function.
//!
//! Everything is checked against diffusers/transformers on tiny random-weight models; see
//! `tests/fixtures/README.md`.

pub mod attention;
pub mod batch;
pub mod bench;
pub mod check;
pub mod conv3d;
pub mod engine;
pub mod error;
pub mod fused;
pub mod layout;
pub mod loading;
pub mod lora;
pub mod models;
pub mod offload;
pub mod pipeline;
pub mod preset;
pub mod rope;
pub mod runtime;
pub mod scheduler;
pub mod step_cache;
pub mod tokenizer;
pub mod transformer;
pub mod umt5;
pub mod vace;
pub mod vae;

pub use check::{CheckArgs, CheckPlacement, Module, run_check, run_check_placed};
pub use error::{Result, WanError};
