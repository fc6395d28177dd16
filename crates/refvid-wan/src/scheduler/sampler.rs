//! Which sampler a run uses: the model folder's scheduler, or flow Euler, UniPC or the
//! x0-then-renoise sampler with the folder's shift and training length.

use std::fmt;
use std::str::FromStr;

use super::config::{EulerConfig, SchedulerConfig, UniPcConfig};
use super::renoise::{NoiseSource, RenoiseSampler};
use super::{FlowScheduler, from_config};
use crate::error::WanError;

/// The sampler of a run (`--sampler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SamplerKind {
    /// The folder's `scheduler/scheduler_config.json` as it is (UniPC for the Wan checkpoints).
    #[default]
    Default,
    /// `FlowMatchEulerDiscreteScheduler` with the folder's shift.
    Euler,
    /// `UniPCMultistepScheduler` as the Wan checkpoints ship it, with the folder's shift (the
    /// folder's own UniPC options when it is a UniPC folder).
    UniPc,
    /// The x0-then-renoise sampler of step-distilled models ([`RenoiseSampler`]).
    Renoise,
}

impl SamplerKind {
    /// The `--sampler` value.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Default => "default",
            SamplerKind::Euler => "euler",
            SamplerKind::UniPc => "unipc",
            SamplerKind::Renoise => "renoise",
        }
    }
}

impl fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SamplerKind {
    type Err = WanError;
    fn from_str(s: &str) -> Result<Self, WanError> {
        match s {
            "default" => Ok(SamplerKind::Default),
            "euler" => Ok(SamplerKind::Euler),
            "unipc" => Ok(SamplerKind::UniPc),
            "renoise" => Ok(SamplerKind::Renoise),
            other => Err(WanError::Input(format!(
                "unknown sampler `{other}` (expected default, euler, unipc or renoise)"
            ))),
        }
    }
}

/// Builds the sampler of `kind` from the folder's (shift-adjusted) config; `noise` feeds the
/// renoising steps of [`SamplerKind::Renoise`] and is unused otherwise.
pub fn build_sampler(
    cfg: &SchedulerConfig,
    kind: SamplerKind,
    noise: NoiseSource,
) -> Box<dyn FlowScheduler> {
    let shift = cfg.shift();
    let n_train = cfg.num_train_timesteps();
    match (kind, cfg) {
        (SamplerKind::Default, _) | (SamplerKind::UniPc, SchedulerConfig::UniPc(_)) => {
            from_config(cfg)
        }
        (SamplerKind::Euler, SchedulerConfig::Euler(_)) => from_config(cfg),
        (SamplerKind::Euler, _) => from_config(&SchedulerConfig::Euler(EulerConfig {
            num_train_timesteps: n_train,
            ..EulerConfig::with_shift(shift)
        })),
        (SamplerKind::UniPc, _) => from_config(&SchedulerConfig::UniPc(UniPcConfig {
            num_train_timesteps: n_train,
            ..UniPcConfig::wan(shift)
        })),
        (SamplerKind::Renoise, _) => Box::new(RenoiseSampler::new(shift, n_train, noise)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_named() {
        for k in [
            SamplerKind::Default,
            SamplerKind::Euler,
            SamplerKind::UniPc,
            SamplerKind::Renoise,
        ] {
            assert_eq!(k.name().parse::<SamplerKind>().unwrap(), k);
        }
        let e = "ddim".parse::<SamplerKind>().unwrap_err().to_string();
        assert!(e.contains("`ddim`"), "{e}");
    }

    #[test]
    fn samplers_keep_the_folder_shift() {
        let folder = SchedulerConfig::UniPc(UniPcConfig::wan(3.0));
        let noise = || NoiseSource::Seeded(0);
        let mut euler = build_sampler(&folder, SamplerKind::Euler, noise());
        euler.set_custom_timesteps(&[500.0]).unwrap();
        // shift 3 at 0.5: 1.5 / 2 = 0.75.
        assert_eq!(euler.sigmas(), &[0.75, 0.0]);
        assert_eq!(euler.timesteps(), &[750.0]);
        let mut unipc = build_sampler(&folder, SamplerKind::Default, noise());
        unipc.set_custom_timesteps(&[500.0]).unwrap();
        assert_eq!(unipc.timesteps(), &[750.0]);
        let mut renoise = build_sampler(&folder, SamplerKind::Renoise, noise());
        renoise.set_timesteps(2).unwrap();
        assert_eq!(renoise.timesteps()[1], 750.0);
    }
}
