//! MagCache, as diffusers' `hooks/mag_cache.py` does it for one cache context, its calibration,
//! and the magnitude ratios of Wan 2.1.
//!
//! The residual of the whole block stack, `tail_out − head_in`, changes in magnitude from step to
//! step by a ratio that depends on the checkpoint and the step but hardly on the content
//! (Ma et al., "MagCache", 2025). From step `⌊retention·S + 0.5⌋` on, each pass multiplies the
//! step's ratio into an accumulated ratio `Π r`, adds `|1 − Π r|` to an accumulated error and
//! counts the step; while the error is at most the threshold and at most `K` steps were
//! accumulated, the pass skips every block and continues from `head_in + previous residual`;
//! otherwise the accumulators reset and all blocks run, storing the new residual. Like diffusers
//! this arithmetic is in f32 (the ratios are an f32 tensor there).
//!
//! Ratios come per step (`S` values; a list of another length is mapped onto the steps by
//! nearest-neighbour interpolation, as `nearest_interp` does), one list for every guidance pass
//! (diffusers' semantics) or one list per pass (MagCache's own Wan code keeps separate
//! conditional and unconditional lists). [`WAN21_T2V_1_3B_RATIOS`] are MagCache's published
//! ratios for Wan2.1-T2V-1.3B; `refvid wan calibrate-mag` measures them for any checkpoint: a run
//! that never skips and records, for each pass after the first, the mean over tokens of
//! `‖r_t‖ / (‖r_{t−1}‖ + 1e-8)` (diffusers' calibration formula; the first entry is 1).

use std::path::Path;

use candle_core::{D, DType, Result, Tensor};

use super::{CacheStats, PassLog};
use crate::error::WanError;
use crate::transformer::BlockHook;

/// MagCache's magnitude ratios of Wan2.1-T2V-1.3B at 50 steps (conditional pass, then
/// unconditional pass), from `MagCache4Wan2.1/magcache_generate.py` of
/// github.com/Zehong-Ma/MagCache (the `T2V-1.3B` list, de-interleaved; its leading 1.0 pads the
/// first step, which has no previous residual). Measured with UniPC, shift 5, 50 steps, CFG.
pub const WAN21_T2V_1_3B_RATIOS: [[f32; 50]; 2] = [
    [
        1.0, 1.0124, 1.00166, 0.99791, 0.99682, 0.99634, 0.99567, 0.99416, 0.99578, 0.9957,
        0.99511, 0.99535, 0.99552, 0.99541, 0.9954, 0.99489, 0.99518, 0.99484, 0.99481, 0.99415,
        0.99419, 0.99396, 0.99388, 0.99349, 0.99309, 0.9927, 0.99228, 0.99171, 0.99137, 0.99068,
        0.99005, 0.98944, 0.98849, 0.98758, 0.98644, 0.98504, 0.9836, 0.98202, 0.97977, 0.97717,
        0.9741, 0.97003, 0.96538, 0.9593, 0.95086, 0.94013, 0.92402, 0.90241, 0.86821, 0.81838,
    ],
    [
        1.0, 1.02213, 1.0041, 1.00061, 0.99762, 0.99685, 0.99586, 0.99422, 0.99575, 0.99563,
        0.99506, 0.99531, 0.99549, 0.99539, 0.99536, 0.99485, 0.99514, 0.99478, 0.99479, 0.99413,
        0.99416, 0.99393, 0.99386, 0.99349, 0.99304, 0.9927, 0.99226, 0.9917, 0.99135, 0.99063,
        0.99003, 0.98942, 0.98849, 0.98757, 0.98643, 0.98503, 0.98359, 0.98201, 0.97978, 0.97718,
        0.97411, 0.97002, 0.96541, 0.95933, 0.95089, 0.94019, 0.92414, 0.9026, 0.86868, 0.81939,
    ],
];

/// The settings of `mag:T[,K]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MagSettings {
    /// The bound on the accumulated error (diffusers' `threshold`).
    pub threshold: f64,
    /// `K`: at most this many consecutive steps are skipped (diffusers' `max_skip_steps`, 3).
    pub max_skip_steps: usize,
    /// The share of the first steps never skipped (diffusers' `retention_ratio`, 0.2).
    pub retention_ratio: f64,
    /// Ratio lists: one for all passes, or one per guidance pass (the last list serves any
    /// further pass). `None`: [`WAN21_T2V_1_3B_RATIOS`].
    pub ratios: Option<Vec<Vec<f32>>>,
    /// Calibration: never skip; record the ratios (see [`MagCache::calibration`]).
    pub calibrate: bool,
}

impl MagSettings {
    /// diffusers' defaults with the given threshold.
    pub fn new(threshold: f64) -> Self {
        Self {
            threshold,
            max_skip_steps: 3,
            retention_ratio: 0.2,
            ratios: None,
            calibrate: false,
        }
    }

    /// Calibration settings (no skipping, ratios recorded).
    pub fn calibration() -> Self {
        Self {
            calibrate: true,
            ..Self::new(0.0)
        }
    }

    /// Checks the ratio lists: at least one, none empty, every value finite.
    pub fn check(&self) -> std::result::Result<(), WanError> {
        match &self.ratios {
            Some(lists) if !ratios_usable(lists) => {
                Err(WanError::Input(format!("MagCache ratios: {RATIOS_NEEDED}")))
            }
            _ => Ok(()),
        }
    }

    /// The ratios of guidance pass `pass`, mapped onto `steps` steps.
    fn ratios_for(&self, pass: usize, steps: usize) -> Vec<f32> {
        let list: Vec<f32> = match &self.ratios {
            Some(lists) => lists[pass.min(lists.len() - 1)].clone(),
            None => WAN21_T2V_1_3B_RATIOS[pass.min(1)].to_vec(),
        };
        nearest_interp(&list, steps)
    }
}

const RATIOS_NEEDED: &str = "need one or more non-empty lists of finite numbers";

fn ratios_usable(lists: &[Vec<f32>]) -> bool {
    !lists.is_empty()
        && lists
            .iter()
            .all(|l| !l.is_empty() && l.iter().all(|r| r.is_finite()))
}

/// Reads MagCache ratios from a JSON file: a list of numbers (one list for every pass), a list
/// of lists (one per guidance pass), or the object `refvid wan calibrate-mag` writes
/// (`{"ratios": [[…], […]], …}`).
pub fn load_ratios(path: &Path) -> std::result::Result<Vec<Vec<f32>>, WanError> {
    let value: serde_json::Value = crate::loading::read_json(path)?;
    let value = value.get("ratios").cloned().unwrap_or(value);
    let bad = |msg: &str| WanError::Config {
        path: path.to_path_buf(),
        msg: format!("MagCache ratios: {msg}"),
    };
    let parse = |v: &serde_json::Value| -> std::result::Result<Vec<f32>, WanError> {
        let list = v
            .as_array()
            .ok_or_else(|| bad("expected a list of numbers"))?;
        list.iter()
            .map(|x| x.as_f64().map(|x| x as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| bad("expected only numbers in the list"))
    };
    let lists = match value.as_array() {
        Some(items) if items.iter().all(|i| i.is_array()) && !items.is_empty() => items
            .iter()
            .map(parse)
            .collect::<std::result::Result<_, _>>()?,
        _ => vec![parse(&value)?],
    };
    if !ratios_usable(&lists) {
        return Err(bad(RATIOS_NEEDED));
    }
    Ok(lists)
}

/// diffusers' `nearest_interp`: `src[round(i · (len − 1)/(n − 1))]` for `i < n` (f32 indices,
/// rounding half to even as `torch.round`), the last entry alone for `n = 1`.
pub fn nearest_interp(src: &[f32], n: usize) -> Vec<f32> {
    if src.len() == n {
        return src.to_vec();
    }
    if n <= 1 {
        return src.last().map(|&r| vec![r; n]).unwrap_or_default();
    }
    let scale = ((src.len() - 1) as f64 / (n - 1) as f64) as f32;
    (0..n)
        .map(|i| src[((i as f32) * scale).round_ties_even() as usize])
        .collect()
}

/// The MagCache state of one guidance pass.
#[derive(Debug)]
pub struct MagCache {
    threshold: f32,
    max_skip_steps: usize,
    retention_step: usize,
    calibrate: bool,
    ratios: Vec<f32>,
    previous_residual: Option<Tensor>,
    head_input: Option<Tensor>,
    should_compute: bool,
    accumulated_ratio: f32,
    accumulated_err: f32,
    accumulated_steps: usize,
    step: usize,
    calibration: Vec<f32>,
    log: PassLog,
}

impl MagCache {
    /// A fresh state for a run of `steps` steps; `pass` picks the ratio list.
    pub fn for_pass(settings: &MagSettings, steps: usize, pass: usize) -> Self {
        Self {
            threshold: settings.threshold as f32,
            max_skip_steps: settings.max_skip_steps,
            retention_step: (settings.retention_ratio * steps as f64 + 0.5) as usize,
            calibrate: settings.calibrate,
            ratios: settings.ratios_for(pass, steps),
            previous_residual: None,
            head_input: None,
            should_compute: true,
            accumulated_ratio: 1.0,
            accumulated_err: 0.0,
            accumulated_steps: 0,
            step: 0,
            calibration: Vec::new(),
            log: PassLog::default(),
        }
    }

    /// What this pass state skipped so far.
    pub fn stats(&self) -> CacheStats {
        self.log.stats
    }

    pub(crate) fn log(&self) -> &PassLog {
        &self.log
    }

    /// The ratios recorded in calibration mode, one per pass taken.
    pub fn calibration(&self) -> &[f32] {
        &self.calibration
    }

    /// The head hook's decision for the current step (updates the accumulators).
    fn decide(&mut self) -> bool {
        if self.calibrate || self.step < self.retention_step {
            return true;
        }
        let ratio = self.ratios.get(self.step).copied().unwrap_or(1.0);
        self.accumulated_ratio *= ratio;
        self.accumulated_steps += 1;
        self.accumulated_err += (1.0 - self.accumulated_ratio).abs();
        if self.previous_residual.is_some()
            && self.accumulated_err <= self.threshold
            && self.accumulated_steps <= self.max_skip_steps
        {
            return false;
        }
        self.accumulated_ratio = 1.0;
        self.accumulated_steps = 0;
        self.accumulated_err = 0.0;
        true
    }

    /// The tail of a full pass: the new residual (and its calibration ratio).
    fn store_residual(&mut self, out: &Tensor) -> Result<()> {
        let head = self.head_input.as_ref().ok_or_else(|| {
            candle_core::Error::Msg("MagCache: the head block did not run".into())
        })?;
        let residual = (out - head)?;
        if self.calibrate {
            let ratio = match &self.previous_residual {
                None => 1.0,
                Some(previous) => magnitude_ratio(&residual, previous)?,
            };
            self.calibration.push(ratio);
        }
        self.previous_residual = Some(residual);
        Ok(())
    }
}

/// `mean(‖current‖ / (‖previous‖ + 1e-8))` over tokens (norms along the last axis), in f32.
fn magnitude_ratio(current: &Tensor, previous: &Tensor) -> Result<f32> {
    let norm =
        |t: &Tensor| -> Result<Tensor> { t.to_dtype(DType::F32)?.sqr()?.sum(D::Minus1)?.sqrt() };
    let ratio = norm(current)?.div(&(norm(previous)? + 1e-8)?)?;
    ratio.mean_all()?.to_scalar::<f32>()
}

impl BlockHook for MagCache {
    fn block(
        &mut self,
        index: usize,
        count: usize,
        x: &Tensor,
        run: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let last = index + 1 == count;
        if index == 0 {
            self.head_input = Some(x.clone());
            self.should_compute = self.decide();
            if !self.should_compute {
                let residual = self.previous_residual.as_ref().expect("checked in decide");
                return x + residual;
            }
            return run(x);
        }
        if !self.should_compute {
            if last {
                self.log.record(count, count);
                self.step += 1;
            }
            return Ok(x.clone());
        }
        let out = run(x)?;
        if last {
            self.store_residual(&out)?;
            self.log.record(count, 0);
            self.step += 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn interpolation_matches_diffusers_nearest_interp() {
        let src: Vec<f32> = (0..12).map(|i| i as f32).collect();
        // round(i · 11/9) with half to even: 0, 1.22, 2.44, 3.67, 4.89, 6.11, 7.33, 8.56, 9.78, 11.
        assert_eq!(
            nearest_interp(&src, 10),
            vec![0.0, 1.0, 2.0, 4.0, 5.0, 6.0, 7.0, 9.0, 10.0, 11.0]
        );
        // 3 → 5: i · 0.5 rounds 0.5 → 0 and 1.5 → 2 (half to even).
        assert_eq!(
            nearest_interp(&[1.0, 2.0, 3.0], 5),
            vec![1.0, 1.0, 2.0, 3.0, 3.0]
        );
        assert_eq!(nearest_interp(&[1.0, 2.0], 1), vec![2.0]);
        assert_eq!(nearest_interp(&src, 12), src);
    }

    #[test]
    fn ratio_files_in_every_form() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let flat = load_ratios(&write("a.json", "[1.0, 0.99, 0.98]")).unwrap();
        assert_eq!(flat, vec![vec![1.0, 0.99, 0.98]]);
        let two = load_ratios(&write("b.json", "[[1.0, 0.9], [1.0, 0.8]]")).unwrap();
        assert_eq!(two.len(), 2);
        let obj = load_ratios(&write("c.json", r#"{"steps": 2, "ratios": [[1.0, 0.9]]}"#));
        assert_eq!(obj.unwrap(), vec![vec![1.0, 0.9]]);
        for bad in ["[]", "[1, \"x\"]", "{\"ratios\": 3}", "[[1.0], []]"] {
            let e = load_ratios(&write("d.json", bad)).unwrap_err().to_string();
            assert!(e.contains("MagCache ratios"), "{bad}: {e}");
        }
    }

    #[test]
    fn built_in_ratios_serve_fifty_steps_per_pass() {
        let s = MagSettings::new(0.1);
        assert_eq!(s.ratios_for(0, 50)[1], 1.0124);
        assert_eq!(s.ratios_for(1, 50)[1], 1.02213);
        assert_eq!(s.ratios_for(0, 25).len(), 25);
        let bad = MagSettings {
            ratios: Some(vec![vec![]]),
            ..s
        };
        assert!(bad.check().is_err());
    }

    /// Steps of a 2-block "model" whose blocks each add 1; returns the blocks run per step.
    fn run_steps(cache: &mut MagCache, steps: usize) -> Vec<usize> {
        let x = Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap();
        (0..steps)
            .map(|_| {
                let mut ran = 0;
                let mut h = x.clone();
                for i in 0..2 {
                    let mut run = |t: &Tensor| {
                        ran += 1;
                        t.affine(1.0, 1.0)
                    };
                    h = cache.block(i, 2, &h, &mut run).unwrap();
                }
                assert_eq!(h.to_vec1::<f32>().unwrap(), vec![2.0; 4], "same output");
                ran
            })
            .collect()
    }

    #[test]
    fn skips_while_the_accumulated_error_is_small_and_at_most_k_steps() {
        let settings = MagSettings {
            max_skip_steps: 2,
            ratios: Some(vec![vec![1.0, 0.9, 0.98, 0.97, 0.99, 0.99, 0.5, 0.99]]),
            ..MagSettings::new(0.05)
        };
        let mut c = MagCache::for_pass(&settings, 8, 0);
        // Retention: ⌊0.2·8 + 0.5⌋ = 2 steps always run. Step 2: err 0.02, skip. Step 3:
        // Π r = 0.9506, err 0.02 + 0.0494 > 0.05: run, reset. Step 4: err 0.01, skip; step 5:
        // 0.01 + 0.0199, skip; step 6: a third step would exceed K = 2: run. Step 7: skip.
        assert_eq!(run_steps(&mut c, 8), vec![2, 2, 0, 2, 0, 0, 2, 0]);
        let s = c.stats();
        assert_eq!((s.passes, s.skipped_passes, s.blocks_skipped), (8, 4, 8));
    }

    #[test]
    fn calibration_never_skips_and_records_ratios() {
        let mut c = MagCache::for_pass(&MagSettings::calibration(), 3, 0);
        assert_eq!(run_steps(&mut c, 3), vec![2, 2, 2]);
        // The residual is the same every step: ratios 1 (first), then ‖r‖/(‖r‖ + 1e-8) ≈ 1.
        let r = c.calibration();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], 1.0);
        assert!(
            (r[1] - 1.0).abs() < 1e-6 && (r[2] - 1.0).abs() < 1e-6,
            "{r:?}"
        );
    }
}
