//! The x0-then-renoise sampler of step-distilled models (DMD-style: FastVideo's `DmdStrategy`,
//! Self-Forcing's `BidirectionalInferencePipeline`, LightX2V's `WanStepDistillScheduler`).
//!
//! Schedule: a step list `t_i` (by default `N·(1 − i/S)`, i.e. `1000,750,500,250` for four
//! steps) shifted like the flow-match Euler scheduler's custom list (f32: `σ_i = shift(t_i/N)`,
//! model timesteps `σ_i·N`, a final σ of 0), which is what LightX2V and Self-Forcing (with
//! `warp_denoising_step`) do by indexing their 1000-step shifted table at `N − t_i`.
//!
//! A step at `σ_i` with the model's velocity `v`:
//! 1. the data prediction `x0 = x − σ_i·v`;
//! 2. unless it is the last step, fresh Gaussian noise `ε_i` and the next sample
//!    `(1 − σ_{i+1})·x0 + σ_{i+1}·ε_i` (the flow-match `add_noise`); the last step returns `x0`.
//!
//! The references draw `ε_i` from their torch generator; ours comes from a [`NoiseSource`]:
//! seeded ([`step_seed`], our own generator as for the initial noise) or given (parity tests).

use candle_core::{DType, Tensor};

use super::FlowScheduler;
use super::step_list::{self, shift_f32};
use crate::error::{Result, WanError};
use crate::pipeline::noise::{SplitMix64, seeded_randn};

/// Where the fresh noise of each renoising step comes from.
#[derive(Debug, Clone)]
pub enum NoiseSource {
    /// Drawn with [`seeded_randn`] from [`step_seed`]`(seed, i)` for step `i`.
    Seeded(u64),
    /// `noises[i]` for step `i` (`S − 1` tensors shaped like the latents).
    Given(Vec<Tensor>),
}

/// The seed of step `i`'s fresh noise: a SplitMix64 hash of the request seed and the step, so
/// that the streams of different steps (and of the initial noise, seeded with `seed` itself) do
/// not overlap.
pub fn step_seed(seed: u64, step: usize) -> u64 {
    let salt = (step as u64 + 1).wrapping_mul(0xd1b5_4a32_d192_ed03);
    SplitMix64::new(seed ^ salt).next_u64()
}

/// The x0-then-renoise sampler.
#[derive(Debug, Clone)]
pub struct RenoiseSampler {
    shift: f64,
    num_train_timesteps: usize,
    noise: NoiseSource,
    timesteps: Vec<f64>,
    sigmas: Vec<f32>,
}

impl RenoiseSampler {
    /// A sampler with the flow `shift` (as the folder's scheduler config has it).
    pub fn new(shift: f64, num_train_timesteps: usize, noise: NoiseSource) -> Self {
        Self {
            shift,
            num_train_timesteps,
            noise,
            timesteps: Vec::new(),
            sigmas: Vec::new(),
        }
    }

    /// The fresh noise for step `i`, shaped like `like`.
    fn noise_for(&self, i: usize, like: &Tensor) -> Result<Tensor> {
        match &self.noise {
            NoiseSource::Seeded(seed) => {
                seeded_randn(step_seed(*seed, i), like.shape().clone(), like.device())
            }
            NoiseSource::Given(noises) => {
                let n = noises.get(i).ok_or_else(|| {
                    WanError::Input(format!(
                        "renoise: no noise given for step {i} ({} given)",
                        noises.len()
                    ))
                })?;
                if n.dims() != like.dims() {
                    return Err(WanError::Input(format!(
                        "renoise: noise {i} has shape {:?}, the latents {:?}",
                        n.dims(),
                        like.dims()
                    )));
                }
                Ok(n.to_dtype(DType::F32)?)
            }
        }
    }
}

impl FlowScheduler for RenoiseSampler {
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(WanError::Input(
                "num_inference_steps must be at least 1".into(),
            ));
        }
        self.set_custom_timesteps(&step_list::even(n, self.num_train_timesteps))
    }

    fn set_custom_timesteps(&mut self, timesteps: &[f64]) -> Result<()> {
        let big_n = self.num_train_timesteps;
        step_list::check(timesteps, big_n)?;
        let mut sigmas: Vec<f32> = timesteps
            .iter()
            .map(|&t| shift_f32(self.shift, (t / big_n as f64) as f32))
            .collect();
        self.timesteps = sigmas
            .iter()
            .map(|&s| f64::from(s * big_n as f32))
            .collect();
        sigmas.push(0.0);
        self.sigmas = sigmas;
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
        let n = self.timesteps.len();
        if step_index >= n {
            return Err(WanError::Input(format!(
                "step {step_index} is past the {n} steps of the schedule (call set_timesteps)"
            )));
        }
        let sigma = f64::from(self.sigmas[step_index]);
        let v = model_output.to_dtype(DType::F32)?;
        let x0 = (sample.to_dtype(DType::F32)? - v.affine(sigma, 0.0)?)?;
        if step_index + 1 == n {
            return Ok(x0);
        }
        let next = f64::from(self.sigmas[step_index + 1]);
        let eps = self.noise_for(step_index, &x0)?;
        Ok((x0.affine(1.0 - next, 0.0)? + eps.affine(next, 0.0)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn scalar(v: f32) -> Tensor {
        Tensor::new(&[v], &Device::Cpu).unwrap()
    }

    #[test]
    fn default_schedule_is_the_even_list_shifted() -> Result<()> {
        let mut s = RenoiseSampler::new(5.0, 1000, NoiseSource::Seeded(0));
        s.set_timesteps(4)?;
        assert_eq!(s.timesteps()[0], 1000.0);
        assert!((s.sigmas()[1] - 0.9375).abs() < 1e-7);
        assert_eq!(s.sigmas().len(), 5);
        assert_eq!(s.sigmas()[4], 0.0);
        Ok(())
    }

    #[test]
    fn steps_predict_x0_then_renoise_with_the_given_noise() -> Result<()> {
        let noises = vec![scalar(10.0), scalar(-10.0)];
        let mut s = RenoiseSampler::new(1.0, 1000, NoiseSource::Given(noises));
        s.set_custom_timesteps(&[1000.0, 500.0, 250.0])?;
        // σ = 1, 0.5, 0.25 (shift 1). x0 = 3 − 1·2 = 1; next = 0.5·1 + 0.5·10 = 5.5.
        let x = s.step(&scalar(2.0), 0, &scalar(3.0))?;
        assert_eq!(x.to_vec1::<f32>()?, vec![5.5]);
        // x0 = 5.5 − 0.5·1 = 5; next = 0.75·5 + 0.25·(−10) = 1.25.
        let x = s.step(&scalar(1.0), 1, &x)?;
        assert_eq!(x.to_vec1::<f32>()?, vec![1.25]);
        // The last step returns x0 = 1.25 − 0.25·1 = 1 and draws no noise.
        let x = s.step(&scalar(1.0), 2, &x)?;
        assert_eq!(x.to_vec1::<f32>()?, vec![1.0]);
        assert!(s.step(&scalar(1.0), 3, &x).is_err());
        Ok(())
    }

    #[test]
    fn seeded_noise_differs_per_step_and_repeats_per_seed() -> Result<()> {
        assert_ne!(step_seed(7, 0), step_seed(7, 1));
        assert_ne!(step_seed(7, 0), step_seed(8, 0));
        assert_ne!(step_seed(7, 0), 7);
        let run = |seed| -> Result<Vec<f32>> {
            let mut s = RenoiseSampler::new(3.0, 1000, NoiseSource::Seeded(seed));
            s.set_timesteps(2)?;
            let x = Tensor::zeros(8, DType::F32, &Device::Cpu)?;
            Ok(s.step(&x, 0, &x)?.to_vec1()?)
        };
        assert_eq!(run(1)?, run(1)?);
        assert_ne!(run(1)?, run(2)?);
        Ok(())
    }

    #[test]
    fn missing_or_misshapen_noise_is_an_error() -> Result<()> {
        let mut s = RenoiseSampler::new(1.0, 1000, NoiseSource::Given(vec![]));
        s.set_timesteps(2)?;
        let e = s.step(&scalar(0.0), 0, &scalar(0.0)).unwrap_err();
        assert!(e.to_string().contains("no noise given for step 0"), "{e}");
        let two = Tensor::zeros(2, DType::F32, &Device::Cpu)?;
        let mut s = RenoiseSampler::new(1.0, 1000, NoiseSource::Given(vec![two]));
        s.set_timesteps(2)?;
        let e = s.step(&scalar(0.0), 0, &scalar(0.0)).unwrap_err();
        assert!(e.to_string().contains("shape"), "{e}");
        Ok(())
    }
}
