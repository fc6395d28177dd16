//! The denoising loop: classifier-free guidance around a model, one scheduler step per timestep,
//! and a progress/cancel callback between steps (diffusers' loop in `WanVACEPipeline.__call__`).

use candle_core::{DType, Device, Tensor};

use crate::error::{Result, WanError};
use crate::scheduler::FlowScheduler;
use crate::step_cache::CacheStats;

/// What the callback sees after each step.
#[derive(Debug, Clone, Copy)]
pub struct StepState<'a> {
    /// Steps done so far (1 after the first step).
    pub step: usize,
    /// Steps in all.
    pub total: usize,
    /// The timestep the step just evaluated the model at.
    pub timestep: f64,
    /// The latents after the step (f32, reference frames included).
    pub latents: &'a Tensor,
    /// The transformer passes so far and what the step cache skipped (filled in by the
    /// pipelines, which own the cache; zero as [`denoise`] reports it).
    pub cache: CacheStats,
}

/// The text conditioning of a run.
#[derive(Debug, Clone, Copy)]
pub struct Guidance<'a> {
    pub prompt_embeds: &'a Tensor,
    /// Needed when `scale > 1`.
    pub negative_prompt_embeds: Option<&'a Tensor>,
    /// `guidance_scale`; at most 1 means no unconditional pass.
    pub scale: f64,
}

impl Guidance<'_> {
    /// Whether the unconditional pass runs (`guidance_scale > 1`, as diffusers decides).
    pub fn uses_cfg(&self) -> bool {
        self.scale > 1.0
    }
}

/// The conditional (text) pass of a step.
pub const COND_PASS: usize = 0;
/// The unconditional (negative prompt) pass of a step.
pub const UNCOND_PASS: usize = 1;

/// The model as the loop sees it: `(latents, timestep, text embeddings, pass) → velocity`, with
/// `pass` [`COND_PASS`] or [`UNCOND_PASS`] (step caches keep one state per pass).
pub type Model<'m> = dyn Fn(&Tensor, f64, &Tensor, usize) -> Result<Tensor> + 'm;

/// Both guidance passes of a step in one batch ([`crate::batch`]): `(latents, timestep,
/// [prompt, negative]) → [cond, uncond]`.
pub type BatchedModel<'m> = dyn Fn(&Tensor, f64, &[&Tensor]) -> Result<Vec<Tensor>> + 'm;

/// The schedule's timesteps as `[1]` f32 tensors, put on the device before the loop so that a
/// step transfers nothing between host and device for them.
#[derive(Debug)]
pub struct StepTimesteps {
    device: Device,
    timesteps: Vec<(f64, Tensor)>,
}

impl StepTimesteps {
    /// One tensor per timestep of the schedule.
    pub fn new(timesteps: &[f64], device: &Device) -> Result<Self> {
        let timesteps = timesteps
            .iter()
            .map(|&t| Ok((t, Tensor::new(&[t as f32], device)?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            device: device.clone(),
            timesteps,
        })
    }

    /// The tensor of timestep `t` (made on the spot for a `t` outside the schedule).
    pub fn get(&self, t: f64) -> Result<Tensor> {
        match self.timesteps.iter().find(|(v, _)| *v == t) {
            Some((_, ts)) => Ok(ts.clone()),
            None => Ok(Tensor::new(&[t as f32], &self.device)?),
        }
    }
}

/// `uncond + g·(cond − uncond)`.
pub fn combine_cfg(cond: &Tensor, uncond: &Tensor, scale: f64) -> Result<Tensor> {
    Ok((uncond + (cond - uncond)?.affine(scale, 0.0)?)?)
}

/// Runs every step of `scheduler` (already `set_timesteps`) from `latents`; returns the final
/// latents (f32). With guidance, `batched` (when given) runs both passes of each step at once
/// instead of `model` twice. `on_step` returning `false` stops with [`WanError::Cancelled`]
/// (after the last step too: the caller then skips decoding).
pub fn denoise(
    model: &Model<'_>,
    batched: Option<&BatchedModel<'_>>,
    scheduler: &mut dyn FlowScheduler,
    latents: Tensor,
    guidance: &Guidance<'_>,
    on_step: &mut dyn FnMut(&StepState<'_>) -> bool,
) -> Result<Tensor> {
    let negative = match (guidance.uses_cfg(), guidance.negative_prompt_embeds) {
        (true, Some(n)) => Some(n),
        (true, None) => {
            return Err(WanError::Input(
                "guidance_scale > 1 needs negative_prompt_embeds".into(),
            ));
        }
        (false, _) => None,
    };
    let timesteps = scheduler.timesteps().to_vec();
    let total = timesteps.len();
    let mut latents = latents.to_dtype(DType::F32)?;
    for (i, &t) in timesteps.iter().enumerate() {
        let pred = match (negative, batched) {
            (Some(neg), Some(batched)) => {
                let out = batched(&latents, t, &[guidance.prompt_embeds, neg])?;
                let [cond, uncond] = out.as_slice() else {
                    return Err(WanError::Input(format!(
                        "the batched model gave {} predictions for 2 passes",
                        out.len()
                    )));
                };
                combine_cfg(cond, uncond, guidance.scale)?
            }
            (Some(neg), None) => {
                let cond = model(&latents, t, guidance.prompt_embeds, COND_PASS)?;
                let uncond = model(&latents, t, neg, UNCOND_PASS)?;
                combine_cfg(&cond, &uncond, guidance.scale)?
            }
            (None, _) => model(&latents, t, guidance.prompt_embeds, COND_PASS)?,
        };
        latents = scheduler.step(&pred, i, &latents)?;
        let state = StepState {
            step: i + 1,
            total,
            timestep: t,
            latents: &latents,
            cache: CacheStats::default(),
        };
        if !on_step(&state) {
            return Err(WanError::Cancelled { step: i + 1, total });
        }
    }
    Ok(latents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::{EulerConfig, FlowEulerScheduler};
    use candle_core::Device;
    use std::cell::Cell;

    fn euler(n: usize) -> FlowEulerScheduler {
        let mut s = FlowEulerScheduler::new(EulerConfig::default());
        s.set_timesteps(n).unwrap();
        s
    }

    #[test]
    fn step_timesteps_are_the_schedule_as_tensors() -> Result<()> {
        let ts = StepTimesteps::new(&[999.0, 500.5, 1.0], &Device::Cpu)?;
        assert_eq!(ts.timesteps.len(), 3);
        for t in [999.0, 500.5, 1.0, 42.0] {
            assert_eq!(ts.get(t)?.to_vec1::<f32>()?, vec![t as f32]);
        }
        Ok(())
    }

    #[test]
    fn cfg_runs_two_passes_and_combines() -> Result<()> {
        let dev = Device::Cpu;
        let pos = Tensor::new(&[1f32], &dev)?;
        let neg = Tensor::new(&[0f32], &dev)?;
        let calls = Cell::new(0);
        // The "velocity" is the text embedding itself: cond 1, uncond 0 → guided 3.
        let passes = std::cell::RefCell::new(Vec::new());
        let model = |_x: &Tensor, _t: f64, text: &Tensor, pass: usize| {
            calls.set(calls.get() + 1);
            passes.borrow_mut().push(pass);
            Ok(text.clone())
        };
        let mut s = euler(2);
        let g = Guidance {
            prompt_embeds: &pos,
            negative_prompt_embeds: Some(&neg),
            scale: 3.0,
        };
        let x0 = Tensor::new(&[0f32], &dev)?;
        let out = denoise(&model, None, &mut s, x0, &g, &mut |_| true)?;
        assert_eq!(calls.get(), 4);
        assert_eq!(
            *passes.borrow(),
            vec![COND_PASS, UNCOND_PASS, COND_PASS, UNCOND_PASS]
        );
        // x += Σ dt·3 with Σ dt = σ_end − σ_start = −1.
        assert!((out.to_vec1::<f32>()?[0] + 3.0).abs() < 1e-6);
        Ok(())
    }

    /// With a batched model both passes go to it in one call, prompt first, and the result is
    /// the sequential one.
    #[test]
    fn a_batched_model_takes_both_passes_at_once() -> Result<()> {
        let dev = Device::Cpu;
        let pos = Tensor::new(&[1f32], &dev)?;
        let neg = Tensor::new(&[0f32], &dev)?;
        let single = |_x: &Tensor, _t: f64, _text: &Tensor, _pass: usize| -> Result<Tensor> {
            panic!("the single-pass model must not run")
        };
        let calls = std::cell::RefCell::new(Vec::new());
        let batched = |x: &Tensor, _t: f64, texts: &[&Tensor]| -> Result<Vec<Tensor>> {
            calls.borrow_mut().push(
                texts
                    .iter()
                    .map(|t| t.to_vec1::<f32>().map(|v| v[0]))
                    .collect::<candle_core::Result<Vec<_>>>()?,
            );
            texts.iter().map(|t| Ok((x + *t)?)).collect()
        };
        let g = Guidance {
            prompt_embeds: &pos,
            negative_prompt_embeds: Some(&neg),
            scale: 3.0,
        };
        let x0 = Tensor::new(&[0.5f32], &dev)?;
        let out = denoise(
            &single,
            Some(&batched),
            &mut euler(2),
            x0.clone(),
            &g,
            &mut |_| true,
        )?;
        assert_eq!(*calls.borrow(), vec![vec![1.0, 0.0], vec![1.0, 0.0]]);
        let sequential = |x: &Tensor, _t: f64, text: &Tensor, _pass: usize| Ok((x + text)?);
        let want = denoise(&sequential, None, &mut euler(2), x0, &g, &mut |_| true)?;
        assert_eq!(out.to_vec1::<f32>()?, want.to_vec1::<f32>()?);
        // Without guidance the batched model is not used.
        let g1 = Guidance {
            negative_prompt_embeds: None,
            scale: 1.0,
            ..g
        };
        denoise(
            &sequential,
            Some(&batched),
            &mut euler(2),
            pos.clone(),
            &g1,
            &mut |_| true,
        )?;
        assert_eq!(calls.borrow().len(), 2);
        Ok(())
    }

    #[test]
    fn guidance_one_skips_the_unconditional_pass() -> Result<()> {
        let dev = Device::Cpu;
        let pos = Tensor::new(&[1f32], &dev)?;
        let calls = Cell::new(0);
        let model = |_x: &Tensor, _t: f64, text: &Tensor, _pass: usize| {
            calls.set(calls.get() + 1);
            Ok(text.clone())
        };
        let g = Guidance {
            prompt_embeds: &pos,
            negative_prompt_embeds: None,
            scale: 1.0,
        };
        denoise(&model, None, &mut euler(3), pos.clone(), &g, &mut |_| true)?;
        assert_eq!(calls.get(), 3);
        let g = Guidance { scale: 2.0, ..g };
        assert!(denoise(&model, None, &mut euler(3), pos.clone(), &g, &mut |_| true).is_err());
        Ok(())
    }

    #[test]
    fn callback_reports_progress_and_can_cancel() -> Result<()> {
        let dev = Device::Cpu;
        let pos = Tensor::new(&[1f32], &dev)?;
        let model = |_x: &Tensor, _t: f64, text: &Tensor, _pass: usize| Ok(text.clone());
        let g = Guidance {
            prompt_embeds: &pos,
            negative_prompt_embeds: None,
            scale: 1.0,
        };
        let mut seen = Vec::new();
        let r = denoise(&model, None, &mut euler(4), pos.clone(), &g, &mut |s| {
            seen.push((s.step, s.total));
            s.step < 2
        });
        assert_eq!(seen, vec![(1, 4), (2, 4)]);
        assert!(
            matches!(r, Err(WanError::Cancelled { step: 2, total: 4 })),
            "{r:?}"
        );
        Ok(())
    }
}
