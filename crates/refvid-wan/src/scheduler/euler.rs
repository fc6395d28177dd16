//! `FlowMatchEulerDiscreteScheduler` (static `shift`, no stochastic sampling).
//!
//! Schedule, as diffusers computes it:
//! 1. At construction (f32, torch): `σ_train = shift(t/N)` for `t = N, N−1, …, 1`; keep
//!    `σ_max = σ_train[0]` and `σ_min = σ_train[N−1]`.
//! 2. `set_timesteps(n)` (f64, numpy): `t = linspace(σ_max·N, σ_min·N, n)`, `σ = shift(t/N)`
//!    (the shift is applied a second time, as in diffusers), stored as f32; timesteps `σ·N` in
//!    f32; a final σ of 0 is appended.
//!
//! with `shift(σ) = s·σ / (1 + (s − 1)·σ)`. A step is `x + (σ_{i+1} − σ_i)·v`.
//!
//! An explicit step list (`set_custom_timesteps`, diffusers' `set_timesteps(sigmas=t/N)`): the
//! unshifted sigmas `t/N` are rounded to f32 and shifted in f32 (numpy on an f32 array), the
//! timesteps are `σ·N` in f32, and a final σ of 0 is appended.

use candle_core::{DType, Tensor};

use super::FlowScheduler;
use super::config::EulerConfig;
use super::numeric::linspace;
use super::step_list::{self, shift_f32};
use crate::error::{Result, WanError};

/// The flow-matching Euler scheduler.
#[derive(Debug, Clone)]
pub struct FlowEulerScheduler {
    cfg: EulerConfig,
    sigma_max: f32,
    sigma_min: f32,
    timesteps: Vec<f64>,
    sigmas: Vec<f32>,
}

impl FlowEulerScheduler {
    /// A scheduler for a validated config (see [`EulerConfig::validate`]).
    pub fn new(cfg: EulerConfig) -> Self {
        let n = cfg.num_train_timesteps;
        // torch: timesteps 1..N as f32 (descending), σ = t / N in f32, then shifted.
        let sigma_at = |t: usize| shift_f32(cfg.shift, t as f32 / n as f32);
        Self {
            sigma_max: sigma_at(n),
            sigma_min: sigma_at(1),
            cfg,
            timesteps: Vec::new(),
            sigmas: Vec::new(),
        }
    }

    /// The config in use.
    pub fn config(&self) -> &EulerConfig {
        &self.cfg
    }

    /// Stores shifted sigmas: timesteps `σ·N` in f32, then the final σ of 0.
    fn store(&mut self, mut sigmas: Vec<f32>) {
        let big_n = self.cfg.num_train_timesteps as f32;
        self.timesteps = sigmas.iter().map(|&x| f64::from(x * big_n)).collect();
        sigmas.push(0.0);
        self.sigmas = sigmas;
    }
}

impl FlowScheduler for FlowEulerScheduler {
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(WanError::Input(
                "num_inference_steps must be at least 1".into(),
            ));
        }
        let big_n = self.cfg.num_train_timesteps as f64;
        let s = self.cfg.shift;
        let t = linspace(
            f64::from(self.sigma_max) * big_n,
            f64::from(self.sigma_min) * big_n,
            n,
        );
        let sigmas: Vec<f32> = t
            .iter()
            .map(|&t| step_list::shift_f64(s, t / big_n) as f32)
            .collect();
        self.store(sigmas);
        Ok(())
    }

    fn set_custom_timesteps(&mut self, timesteps: &[f64]) -> Result<()> {
        let big_n = self.cfg.num_train_timesteps;
        step_list::check(timesteps, big_n)?;
        let sigmas = timesteps
            .iter()
            .map(|&t| shift_f32(self.cfg.shift, (t / big_n as f64) as f32))
            .collect();
        self.store(sigmas);
        Ok(())
    }

    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    fn step(
        &mut self,
        model_output: &Tensor,
        step_index: usize,
        sample: &Tensor,
    ) -> Result<Tensor> {
        if step_index >= self.timesteps.len() {
            return Err(WanError::Input(format!(
                "step {step_index} is past the {} steps of the schedule (call set_timesteps)",
                self.timesteps.len()
            )));
        }
        let dt = self.sigmas[step_index + 1] - self.sigmas[step_index];
        let v = model_output.to_dtype(DType::F32)?;
        Ok((sample.to_dtype(DType::F32)? + v.affine(f64::from(dt), 0.0)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshifted_schedule_is_linear() {
        let mut s = FlowEulerScheduler::new(EulerConfig::default());
        s.set_timesteps(4).unwrap();
        let expected = [1000.0, 667.0, 334.0, 1.0];
        for (t, e) in s.timesteps().iter().zip(expected) {
            assert!((t - e).abs() < 1e-3, "{t} vs {e}");
        }
        assert_eq!(s.sigmas().len(), 5);
        assert_eq!(s.sigmas()[4], 0.0);
        assert!(s.set_timesteps(0).is_err());
    }

    #[test]
    fn step_moves_along_the_velocity() -> Result<()> {
        let mut s = FlowEulerScheduler::new(EulerConfig::with_shift(3.0));
        s.set_timesteps(2)?;
        let dev = candle_core::Device::Cpu;
        let x = Tensor::new(&[1f32, 2.0], &dev)?;
        let v = Tensor::new(&[1f32, -1.0], &dev)?;
        let y = s.step(&v, 1, &x)?.to_vec1::<f32>()?;
        let dt = -s.sigmas()[1];
        assert_eq!(y, vec![1.0 + dt, 2.0 - dt]);
        assert!(s.step(&v, 2, &x).is_err());
        Ok(())
    }

    #[test]
    fn custom_lists_are_shifted_and_end_at_zero() -> Result<()> {
        let mut s = FlowEulerScheduler::new(EulerConfig::with_shift(5.0));
        s.set_custom_timesteps(&[1000.0, 750.0, 500.0, 250.0])?;
        assert_eq!(s.sigmas().len(), 5);
        assert_eq!(s.sigmas()[0], 1.0);
        assert_eq!(s.timesteps()[0], 1000.0);
        assert!((s.sigmas()[1] - 0.9375).abs() < 1e-7, "{:?}", s.sigmas());
        assert!(
            (s.timesteps()[3] - 625.0).abs() < 1e-4,
            "{:?}",
            s.timesteps()
        );
        assert_eq!(s.sigmas()[4], 0.0);
        assert!(s.set_custom_timesteps(&[250.0, 500.0]).is_err());
        Ok(())
    }
}
