//! Flow-matching schedulers: the sigma/timestep schedules and the update rules of diffusers'
//! `UniPCMultistepScheduler` (with `use_flow_sigmas`, as shipped with the Wan checkpoints) and
//! `FlowMatchEulerDiscreteScheduler`.
//!
//! - [`config`]: `scheduler/scheduler_config.json`; `_class_name` picks the scheduler, options we
//!   do not implement are errors naming the key.
//! - [`unipc`]: [`UniPcScheduler`], the multistep predictor-corrector (`bh1`/`bh2`, any order).
//! - [`euler`]: [`FlowEulerScheduler`], one Euler step along the flow.
//! - [`renoise`]: [`RenoiseSampler`], the x0-then-renoise sampler of step-distilled (DMD /
//!   Self-Forcing / LightX2V) models.
//! - [`step_list`]: explicit step lists (`1000,750,500,250`): parsing, checks, the shift.
//! - [`sampler`]: [`SamplerKind`], which of the above a run uses, built from the folder's config.
//! - [`numeric`]: numpy's `linspace` and a small linear solver, reproduced bit for bit where
//!   diffusers' schedule depends on them.
//!
//! Both keep diffusers' arithmetic: schedules in f64 (numpy) and stored as f32 sigmas, the scalar
//! coefficients of a step in f32 (torch 0-d tensors), the tensors in f32. Samples and model outputs
//! of any dtype are converted to f32; steps return f32.
//!
//! ```no_run
//! # fn main() -> refvid_wan::Result<()> {
//! use refvid_wan::scheduler::{FlowScheduler, load_scheduler};
//! let mut sched = load_scheduler(std::path::Path::new("Wan2.1-VACE-1.3B-diffusers"), None)?;
//! sched.set_timesteps(50)?;
//! # Ok(()) }
//! ```

pub mod config;
pub mod euler;
pub mod numeric;
pub mod renoise;
pub mod sampler;
pub mod step_list;
pub mod unipc;

use std::path::Path;

use candle_core::Tensor;

pub use config::{EulerConfig, SchedulerConfig, UniPcConfig};
pub use euler::FlowEulerScheduler;
pub use renoise::{NoiseSource, RenoiseSampler};
pub use sampler::{SamplerKind, build_sampler};
pub use unipc::UniPcScheduler;

use crate::error::Result;

/// A flow-matching sampler: the schedule of timesteps and the update from one to the next.
///
/// Use: [`set_timesteps`](FlowScheduler::set_timesteps) (or
/// [`set_custom_timesteps`](FlowScheduler::set_custom_timesteps)), then for each `i` in
/// `0..timesteps().len()` evaluate the model at `timesteps()[i]` and call
/// [`step`](FlowScheduler::step) with that `i`, in order.
pub trait FlowScheduler: Send {
    /// Builds the schedule for `n` inference steps and resets the step state.
    fn set_timesteps(&mut self, n: usize) -> Result<()>;
    /// Builds the schedule from an explicit list of unshifted timesteps (see [`step_list`]:
    /// checked there, shifted here, a final sigma of 0 appended) and resets the step state.
    fn set_custom_timesteps(&mut self, timesteps: &[f64]) -> Result<()>;
    /// The model timesteps (what the transformer receives), one per step.
    fn timesteps(&self) -> &[f64];
    /// The sigmas, one per step plus the final one (`timesteps().len() + 1` values).
    fn sigmas(&self) -> &[f32];
    /// Advances `sample` by step `step_index` given the model's (flow) prediction at
    /// `timesteps()[step_index]`; returns the sample for the next timestep (f32).
    fn step(&mut self, model_output: &Tensor, step_index: usize, sample: &Tensor)
    -> Result<Tensor>;
}

/// Builds the scheduler a config describes.
pub fn from_config(cfg: &SchedulerConfig) -> Box<dyn FlowScheduler> {
    match cfg {
        SchedulerConfig::UniPc(c) => Box::new(UniPcScheduler::new(c.clone())),
        SchedulerConfig::Euler(c) => Box::new(FlowEulerScheduler::new(c.clone())),
    }
}

/// Reads `scheduler_config.json` from a pipeline folder (its `scheduler/` subfolder), a
/// scheduler folder, or the file itself, optionally overriding the shift (`flow_shift` of UniPC,
/// `shift` of Euler, as `Scheduler.from_config(config, flow_shift=...)` does), and builds the
/// scheduler.
pub fn load_scheduler(path: &Path, shift: Option<f64>) -> Result<Box<dyn FlowScheduler>> {
    let mut cfg = SchedulerConfig::load(path)?;
    if let Some(s) = shift {
        cfg.set_shift(s)?;
    }
    Ok(from_config(&cfg))
}
