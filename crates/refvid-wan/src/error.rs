//! The crate's error type.
//!
//! Loading errors name the tensor or the config key that is wrong, so a user pointing the parity
//! command at a checkpoint sees at once what does not fit.

use std::path::PathBuf;

/// Everything that can go wrong when loading or running a Wan module.
#[derive(Debug, thiserror::Error)]
pub enum WanError {
    /// A tensor the model needs is not in the checkpoint (or the input file).
    #[error("missing tensor `{name}`")]
    MissingTensor { name: String },
    /// A tensor is present with a shape other than the one the config implies.
    #[error("tensor `{name}` has shape {got:?}, expected {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    /// A config file is missing a key, has a bad value, or describes something we do not support.
    #[error("config {path}: {msg}")]
    Config { path: PathBuf, msg: String },
    /// A LoRA file that cannot be applied: unknown keys, modules the model lacks, shapes that
    /// do not fit.
    #[error("LoRA {path}: {msg}")]
    Lora { path: PathBuf, msg: String },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON file did not parse.
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The tokenizer failed to load or to encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An input tensor has the wrong rank, dtype or shape for the module.
    #[error("input: {0}")]
    Input(String),
    /// The progress callback asked to stop after `step` of `total` denoising steps.
    #[error("cancelled after step {step} of {total}")]
    Cancelled { step: usize, total: usize },
    /// Any other tensor-library error.
    #[error(transparent)]
    Candle(candle_core::Error),
}

/// The shape error our checkpoint backend raises (wrapped in a [`candle_core::Error`]) when a
/// tensor does not have the shape the model asks for; [`WanError`]'s conversion turns it back into
/// [`WanError::ShapeMismatch`].
#[derive(Debug, thiserror::Error)]
#[error("tensor `{name}` has shape {got:?}, expected {expected:?}")]
pub struct TensorShapeError {
    pub name: String,
    pub expected: Vec<usize>,
    pub got: Vec<usize>,
}

impl From<TensorShapeError> for candle_core::Error {
    fn from(e: TensorShapeError) -> Self {
        candle_core::Error::WrappedContext {
            wrapped: Box::new(e),
            context: "loading a checkpoint".into(),
        }
    }
}

impl From<candle_core::Error> for WanError {
    /// Recognises the "missing tensor" and "wrong shape" errors raised while building a model from
    /// a [`candle_nn::VarBuilder`] (possibly wrapped in context or backtrace layers) and turns them
    /// into the structured variants; every other error stays a [`WanError::Candle`].
    fn from(e: candle_core::Error) -> Self {
        match innermost(&e) {
            candle_core::Error::CannotFindTensor { path } => {
                WanError::MissingTensor { name: path.clone() }
            }
            candle_core::Error::WrappedContext { wrapped, .. } => {
                match wrapped.downcast_ref::<TensorShapeError>() {
                    Some(s) => WanError::ShapeMismatch {
                        name: s.name.clone(),
                        expected: s.expected.clone(),
                        got: s.got.clone(),
                    },
                    None => WanError::Candle(e),
                }
            }
            _ => WanError::Candle(e),
        }
    }
}

/// Strips candle's wrapping layers (backtrace, context, path) off an error.
fn innermost(e: &candle_core::Error) -> &candle_core::Error {
    match e {
        candle_core::Error::WithBacktrace { inner, .. }
        | candle_core::Error::Context { inner, .. }
        | candle_core::Error::WithPath { inner, .. } => innermost(inner),
        other => other,
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, WanError>;
