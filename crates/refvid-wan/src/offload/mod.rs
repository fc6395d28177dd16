//! Where a model's weights are while it is not using them: `--offload none|model|blocks`.
//!
//! - [`Offload::None`]: every module (text encoder, transformer, VAE) is built on the compute
//!   device when the model loads and stays there.
//! - [`Offload::Model`]: each module is built on the device only for the stage that uses it
//!   (prompt encoding, denoising, VAE encoding/decoding) and dropped right after ([`Staged`]);
//!   the VAE decodes in spatial tiles.
//! - [`Offload::Blocks`]: as `model`, and inside the transformer (main and VACE blocks) and the
//!   text encoder (its layers) only the block that runs is on the device, with the next one
//!   being loaded meanwhile by a prefetch thread ([`blocks::BlockStream`]).
//!
//! Between uses the weights live in a *home* ([`home`]): on the CPU that is the checkpoint
//! itself — safetensors are read tensor by tensor into owned buffers
//! ([`crate::loading::safetensors_file`]; the page cache keeps the files warm without counting in
//! the process's memory), so building a block costs one read and the process keeps only what is
//! built —;
//! on CUDA it is a host copy in the compute dtype (LoRAs already merged), recorded once at load,
//! from which a module or block is one host-to-device copy.
//!
//! Outputs are the same in every mode: the same weights go through the same code in the same
//! order (tested exactly on the CPU in `tests/offload.rs`). The only difference is the VAE's
//! tiling, which blends tile seams (see [`Offload::vae_tiling`]).

pub mod blocks;
pub mod home;
pub mod load;
pub mod staged;

use std::fmt;
use std::str::FromStr;

pub use blocks::{BlockRef, BlockStream, Blocks, StreamStats};
pub use load::Placement;
pub use staged::{Staged, StagedRef};

use crate::error::{Result, WanError};
use crate::vae::VaeTiling;

/// What stays on the compute device between uses (`--offload`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Offload {
    /// Everything stays on the device (fastest; needs room for all weights at once).
    #[default]
    None,
    /// Each module is on the device only while its stage runs.
    Model,
    /// As `Model`, and the transformer's and text encoder's blocks are streamed one at a time.
    Blocks,
}

impl Offload {
    /// Every value, in the order the command line lists them.
    pub const ALL: [Offload; 3] = [Offload::None, Offload::Model, Offload::Blocks];

    /// Whether modules are built for their stage and dropped after it.
    pub fn per_stage(self) -> bool {
        self != Offload::None
    }

    /// Whether the repeated blocks are streamed.
    pub fn streams_blocks(self) -> bool {
        self == Offload::Blocks
    }

    /// The VAE tiling this mode decodes with: diffusers' 256-pixel tiles every 192 pixels when
    /// modules are offloaded (it bounds the decoder's activations by the tile instead of the
    /// frame), none otherwise. Frames of at most one tile decode exactly as without tiling;
    /// larger ones differ by the blending of the 64-pixel overlaps, as in diffusers.
    pub fn vae_tiling(self) -> Option<VaeTiling> {
        self.per_stage().then(VaeTiling::default)
    }

    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Offload::None => "none",
            Offload::Model => "model",
            Offload::Blocks => "blocks",
        }
    }
}

impl fmt::Display for Offload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Offload {
    type Err = WanError;

    fn from_str(s: &str) -> Result<Self> {
        Offload::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| {
                WanError::Input(format!(
                    "unknown offload mode `{s}` (expected none, model or blocks)"
                ))
            })
    }
}

/// Whether the VAE decodes in tiles (`--vae-tiling`): as the offload mode implies (`auto`:
/// tiles with `model` and `blocks`, none without offload), or always (`on`) or never (`off`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TilingChoice {
    /// The offload mode's tiling ([`Offload::vae_tiling`]).
    #[default]
    Auto,
    /// Diffusers' default tiles whatever the offload mode.
    On,
    /// Whole frames whatever the offload mode.
    Off,
}

impl TilingChoice {
    /// Every value, in the order the command line lists them.
    pub const ALL: [TilingChoice; 3] = [TilingChoice::Auto, TilingChoice::On, TilingChoice::Off];

    /// The tiling the VAE decodes with under `offload`.
    pub fn tiling(self, offload: Offload) -> Option<VaeTiling> {
        match self {
            TilingChoice::Auto => offload.vae_tiling(),
            TilingChoice::On => Some(VaeTiling::default()),
            TilingChoice::Off => None,
        }
    }

    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            TilingChoice::Auto => "auto",
            TilingChoice::On => "on",
            TilingChoice::Off => "off",
        }
    }
}

impl fmt::Display for TilingChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TilingChoice {
    type Err = WanError;

    fn from_str(s: &str) -> Result<Self> {
        TilingChoice::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| {
                WanError::Input(format!(
                    "unknown VAE tiling `{s}` (expected auto, on or off)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_named() {
        for o in Offload::ALL {
            assert_eq!(o.to_string().parse::<Offload>().unwrap(), o);
        }
        let e = "layers".parse::<Offload>().unwrap_err().to_string();
        assert!(e.contains("`layers`") && e.contains("blocks"), "{e}");
        assert_eq!(Offload::None.vae_tiling(), None);
        assert!(Offload::Blocks.vae_tiling().is_some() && Offload::Blocks.per_stage());
        assert!(!Offload::Model.streams_blocks());
    }

    #[test]
    fn tiling_follows_the_offload_mode_unless_told() {
        for c in TilingChoice::ALL {
            assert_eq!(c.to_string().parse::<TilingChoice>().unwrap(), c);
        }
        assert!(
            "yes"
                .parse::<TilingChoice>()
                .unwrap_err()
                .to_string()
                .contains("auto, on")
        );
        assert_eq!(TilingChoice::Auto.tiling(Offload::None), None);
        assert_eq!(
            TilingChoice::Auto.tiling(Offload::Model),
            Some(VaeTiling::default())
        );
        assert_eq!(
            TilingChoice::On.tiling(Offload::None),
            Some(VaeTiling::default())
        );
        assert_eq!(TilingChoice::Off.tiling(Offload::Blocks), None);
    }
}
