//! MagCache calibration of a checkpoint: one full generation (no step skipped) recording, for
//! each guidance pass and step, the magnitude ratio of the block stack's residual to the previous
//! step's (see [`crate::step_cache::mag`]). What `refvid wan calibrate-mag` runs and writes.

use serde::Serialize;

use super::{GenerateParams, WanVacePipeline};
use crate::error::{Result, WanError};
use crate::scheduler::NoiseSource;
use crate::step_cache::mag::MagSettings;
use crate::step_cache::{CacheConfig, StepCache};

/// The calibrated ratios and the run they were measured on (the JSON file
/// `step_cache::mag::load_ratios` reads back).
#[derive(Debug, Clone, Serialize)]
pub struct MagCalibration {
    /// One list per guidance pass (conditional first), one ratio per step; the first is 1.
    pub ratios: Vec<Vec<f32>>,
    pub steps: usize,
    pub guidance: f64,
    /// The flow shift in force (the folder's unless overridden).
    pub shift: f64,
    pub width: usize,
    pub height: usize,
    pub num_frames: usize,
    pub seed: u64,
    pub prompt: String,
}

impl WanVacePipeline {
    /// Runs `p` without skipping and returns the magnitude ratios of every guidance pass
    /// (`p.sampling.cache` is replaced by the calibration; nothing is decoded).
    pub fn calibrate_mag(
        &self,
        p: &GenerateParams,
        on_step: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<MagCalibration> {
        let mut p = p.clone();
        p.sampling.cache = CacheConfig::Mag(MagSettings::calibration());
        let req = self.encode_request(&p)?;
        let context = self.context_for(&req)?;
        let mut scheduler = self.scheduler_for(&req, NoiseSource::Seeded(req.seed))?;
        let mut cache: StepCache = self.step_cache_for(&req)?;
        self.denoise_with_scheduler(&req, &context, scheduler.as_mut(), &mut cache, &mut |s| {
            on_step(s.step, s.total)
        })?;
        let ratios = cache.calibration();
        if ratios.iter().any(|r| r.len() != p.steps) {
            return Err(WanError::Input(format!(
                "calibration recorded {:?} ratios per pass for {} steps",
                ratios.iter().map(Vec::len).collect::<Vec<_>>(),
                p.steps
            )));
        }
        let mut shifted = self.scheduler_config().clone();
        if let Some(s) = p.shift {
            shifted.set_shift(s)?;
        }
        Ok(MagCalibration {
            ratios,
            steps: p.steps,
            guidance: p.guidance,
            shift: shifted.shift(),
            width: p.width,
            height: p.height,
            num_frames: p.num_frames,
            seed: p.seed,
            prompt: p.prompt.clone(),
        })
    }
}
