//! `refvid wan calibrate-mag`: measures the MagCache magnitude ratios of a checkpoint (one full
//! generation that skips nothing) and writes them as JSON for `--mag-ratios`.

use anyhow::Context;
use refvid_wan::pipeline::{GenerateParams, WanVacePipeline};
use refvid_wan::runtime::{DeviceKind, Precision};
use std::path::PathBuf;

/// What to calibrate on.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    /// A diffusers `WanVACEPipeline` folder.
    pub model: PathBuf,
    /// Where to write the JSON.
    pub out: PathBuf,
    pub prompt: String,
    pub negative_prompt: String,
    /// The steps the ratios are for (a run with another count interpolates them).
    pub steps: usize,
    pub guidance: f64,
    /// The flow shift; the folder's when `None`.
    pub shift: Option<f64>,
    pub size: (usize, usize),
    pub frames: usize,
    pub seed: u64,
    pub precision: Precision,
    pub device: DeviceKind,
}

/// Loads the pipeline, runs the calibration and writes the file; returns the ratios per pass.
pub fn calibrate_mag(o: &CalibrateOptions) -> anyhow::Result<Vec<Vec<f32>>> {
    let device = o.device.open().context("opening the device")?;
    let pipe = WanVacePipeline::load(&o.model, o.precision.dtype(), &device)
        .with_context(|| format!("loading {}", o.model.display()))?;
    let mut p = GenerateParams::new(o.prompt.clone());
    p.negative_prompt = o.negative_prompt.clone();
    (p.width, p.height) = o.size;
    p.num_frames = o.frames;
    p.steps = o.steps;
    p.guidance = o.guidance;
    p.shift = o.shift;
    p.seed = o.seed;
    let calibration = pipe.calibrate_mag(&p, &mut |done, total| {
        eprint!("\rcalibrating: step {done}/{total}");
        true
    })?;
    eprintln!();
    let json = serde_json::to_string_pretty(&calibration)?;
    std::fs::write(&o.out, json + "\n").with_context(|| format!("writing {}", o.out.display()))?;
    Ok(calibration.ratios)
}
