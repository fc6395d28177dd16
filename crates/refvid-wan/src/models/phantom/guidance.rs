//! Phantom's denoising loop (`phantom_wan/subject2video.py`): the reference latents written
//! over the last N latent frames before every model call, three passes per step, and their
//! combination.
//!
//! Per step, with `x` the latents of all T + N frames:
//! - `pos_it = model(x with the references, prompt)`,
//! - `pos_i = model(x with the references, negative prompt)`,
//! - `neg = model(x with zeros, negative prompt)`,
//! - prediction `neg + s_img·(pos_i − neg) + s_text·(pos_it − pos_i)` over all T + N frames, and
//!   one scheduler step of all of them (what the reference positions become does not matter:
//!   they are overwritten before every call and dropped at the end).

use candle_core::{DType, Tensor};

use crate::error::{Result, WanError};
use crate::pipeline::StepState;
use crate::scheduler::FlowScheduler;

/// The two guidance scales (the reference defaults: image 5.0, text 7.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuidanceScales {
    /// `s_img`: how strongly the references pull (pos_i against neg).
    pub image: f64,
    /// `s_text`: how strongly the prompt pulls (pos_it against pos_i).
    pub text: f64,
}

impl Default for GuidanceScales {
    fn default() -> Self {
        Self {
            image: 5.0,
            text: 7.5,
        }
    }
}

impl GuidanceScales {
    /// Both scales 1: the combination is the prompt-and-references pass alone
    /// (`neg + (pos_i − neg) + (pos_it − pos_i) = pos_it`), so only that pass runs.
    pub fn is_off(&self) -> bool {
        self.image == 1.0 && self.text == 1.0
    }

    /// Guidance off (see [`is_off`](Self::is_off)).
    pub const OFF: GuidanceScales = GuidanceScales {
        image: 1.0,
        text: 1.0,
    };
}

/// Which of the three passes a model call is (callers may keep per-pass state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Prompt and references.
    PromptAndImages,
    /// Negative prompt and references.
    Images,
    /// Negative prompt and zero references.
    Negative,
}

impl Pass {
    /// The pass's index among the three (what a step cache keeps one state per).
    pub fn index(self) -> usize {
        match self {
            Pass::PromptAndImages => 0,
            Pass::Images => 1,
            Pass::Negative => 2,
        }
    }
}

/// `latents` `[B, z, T + N, h, w]` with its last N frames replaced by `references`
/// `[B, z, N, h, w]`.
pub fn with_references(latents: &Tensor, references: &Tensor) -> Result<Tensor> {
    let t = latents.dim(2)?;
    let n = references.dim(2)?;
    if n > t
        || latents.dims()[..2] != references.dims()[..2]
        || latents.dims()[3..] != references.dims()[3..]
    {
        return Err(WanError::Input(format!(
            "reference latents {:?} do not fit the latents {:?}",
            references.dims(),
            latents.dims()
        )));
    }
    let video = latents.narrow(2, 0, t - n)?;
    Ok(Tensor::cat(
        &[&video, &references.to_dtype(latents.dtype())?],
        2,
    )?)
}

/// `neg + s_img·(pos_i − neg) + s_text·(pos_it − pos_i)`.
pub fn combine(
    pos_it: &Tensor,
    pos_i: &Tensor,
    neg: &Tensor,
    scales: GuidanceScales,
) -> Result<Tensor> {
    let image = (pos_i - neg)?.affine(scales.image, 0.0)?;
    let text = (pos_it - pos_i)?.affine(scales.text, 0.0)?;
    Ok(((neg + image)? + text)?)
}

/// The model as the loop sees it: `(pass, latents, timestep, text embeddings) → velocity`.
pub type PhantomModelFn<'m> = dyn Fn(Pass, &Tensor, f64, &Tensor) -> Result<Tensor> + 'm;

/// The three passes of a step in one batch ([`crate::batch`]): `((latents, text) per pass in
/// the order prompt-and-images, images, negative; timestep) → one velocity per pass`.
pub type PhantomBatchedFn<'m> = dyn Fn(&[(&Tensor, &Tensor)], f64) -> Result<Vec<Tensor>> + 'm;

/// The text conditioning of a run.
#[derive(Debug, Clone, Copy)]
pub struct Texts<'a> {
    pub prompt: &'a Tensor,
    pub negative: &'a Tensor,
}

/// Runs every step of `scheduler` (already set) from `latents` (all T + N frames, f32) with the
/// reference latents `references` `[1, z, N, h, w]`; returns the final latents of all frames.
/// With guidance, `batched` (when given) runs the three passes of each step at once instead of
/// `model` three times. `on_step` returning `false` stops with [`WanError::Cancelled`].
#[allow(clippy::too_many_arguments)]
pub fn denoise(
    model: &PhantomModelFn<'_>,
    batched: Option<&PhantomBatchedFn<'_>>,
    scheduler: &mut dyn FlowScheduler,
    latents: Tensor,
    references: &Tensor,
    texts: Texts<'_>,
    scales: GuidanceScales,
    on_step: &mut dyn FnMut(&StepState<'_>) -> bool,
) -> Result<Tensor> {
    let timesteps = scheduler.timesteps().to_vec();
    let total = timesteps.len();
    let zeros = references.zeros_like()?;
    let mut latents = latents.to_dtype(DType::F32)?;
    for (i, &t) in timesteps.iter().enumerate() {
        let x_ref = with_references(&latents, references)?;
        let pred = match (scales.is_off(), batched) {
            (true, _) => model(Pass::PromptAndImages, &x_ref, t, texts.prompt)?,
            (false, Some(batched)) => {
                let x_zero = with_references(&latents, &zeros)?;
                let passes = [
                    (&x_ref, texts.prompt),
                    (&x_ref, texts.negative),
                    (&x_zero, texts.negative),
                ];
                let out = batched(&passes, t)?;
                let [pos_it, pos_i, neg] = out.as_slice() else {
                    return Err(WanError::Input(format!(
                        "the batched model gave {} predictions for 3 passes",
                        out.len()
                    )));
                };
                combine(pos_it, pos_i, neg, scales)?
            }
            (false, None) => {
                let pos_it = model(Pass::PromptAndImages, &x_ref, t, texts.prompt)?;
                let pos_i = model(Pass::Images, &x_ref, t, texts.negative)?;
                let x_zero = with_references(&latents, &zeros)?;
                let neg = model(Pass::Negative, &x_zero, t, texts.negative)?;
                combine(&pos_it, &pos_i, &neg, scales)?
            }
        };
        latents = scheduler.step(&pred, i, &latents)?;
        let state = StepState {
            step: i + 1,
            total,
            timestep: t,
            latents: &latents,
            cache: Default::default(),
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
    use std::cell::RefCell;

    fn t(v: &[f32], frames: usize) -> Tensor {
        Tensor::from_vec(v.to_vec(), (1, 1, frames, 1, 1), &Device::Cpu).unwrap()
    }

    fn values(x: &Tensor) -> Vec<f32> {
        x.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn the_last_frames_are_replaced() {
        let x = t(&[1., 2., 3., 4., 5.], 5);
        let r = t(&[8., 9.], 2);
        assert_eq!(
            values(&with_references(&x, &r).unwrap()),
            [1., 2., 3., 8., 9.]
        );
        assert!(with_references(&t(&[1.], 1), &r).is_err());
    }

    #[test]
    fn the_three_passes_combine_with_both_scales() {
        let (pos_it, pos_i, neg) = (t(&[4.], 1), t(&[2.], 1), t(&[1.], 1));
        let scales = GuidanceScales {
            image: 5.0,
            text: 7.5,
        };
        // 1 + 5·(2 − 1) + 7.5·(4 − 2) = 21.
        assert_eq!(
            values(&combine(&pos_it, &pos_i, &neg, scales).unwrap()),
            [21.]
        );
    }

    /// The loop calls the three passes on the right inputs: the model here returns the sum of
    /// its input's reference frames plus the text value, so each pass is told apart.
    #[test]
    fn each_pass_sees_its_references_and_text() -> Result<()> {
        let calls = RefCell::new(Vec::new());
        let model = |pass: Pass, x: &Tensor, _t: f64, text: &Tensor| -> Result<Tensor> {
            let refs = x.narrow(2, 2, 1)?.sum_all()?.to_scalar::<f32>()?;
            calls
                .borrow_mut()
                .push((pass, refs, text.to_scalar::<f32>()?));
            Ok(x.zeros_like()?)
        };
        let mut s = FlowEulerScheduler::new(EulerConfig::default());
        s.set_timesteps(2)?;
        let (prompt, negative) = (
            Tensor::new(1f32, &Device::Cpu)?,
            Tensor::new(0f32, &Device::Cpu)?,
        );
        let texts = Texts {
            prompt: &prompt,
            negative: &negative,
        };
        let out = denoise(
            &model,
            None,
            &mut s,
            t(&[0., 0., 0.], 3),
            &t(&[7.], 1),
            texts,
            GuidanceScales::default(),
            &mut |_| true,
        )?;
        assert_eq!(out.dims(), &[1, 1, 3, 1, 1]);
        let seen = calls.into_inner();
        assert_eq!(
            &seen[..3],
            &[
                (Pass::PromptAndImages, 7.0, 1.0),
                (Pass::Images, 7.0, 0.0),
                (Pass::Negative, 0.0, 0.0)
            ]
        );
        assert_eq!(seen.len(), 6);
        Ok(())
    }

    /// A batched model gets the three passes of a step at once, in the sequential order and
    /// with the same inputs, and the run ends where the sequential one does.
    #[test]
    fn a_batched_model_takes_the_three_passes_at_once() -> Result<()> {
        let model = |_pass: Pass, x: &Tensor, _t: f64, text: &Tensor| -> Result<Tensor> {
            Ok((x.narrow(2, 2, 1)?.sum_all()?.broadcast_add(text)? * 0.1)?
                .broadcast_as(x.shape())?
                .contiguous()?)
        };
        let seen = RefCell::new(Vec::new());
        let batched = |passes: &[(&Tensor, &Tensor)], t: f64| -> Result<Vec<Tensor>> {
            let mut out = Vec::new();
            for (i, (x, text)) in passes.iter().enumerate() {
                let refs = x.narrow(2, 2, 1)?.sum_all()?.to_scalar::<f32>()?;
                seen.borrow_mut().push((refs, text.to_scalar::<f32>()?));
                let pass = [Pass::PromptAndImages, Pass::Images, Pass::Negative][i];
                out.push(model(pass, x, t, text)?);
            }
            Ok(out)
        };
        let (prompt, negative) = (
            Tensor::new(1f32, &Device::Cpu)?,
            Tensor::new(0f32, &Device::Cpu)?,
        );
        let texts = Texts {
            prompt: &prompt,
            negative: &negative,
        };
        let run = |batched: Option<&PhantomBatchedFn<'_>>| -> Result<Tensor> {
            let mut s = FlowEulerScheduler::new(EulerConfig::default());
            s.set_timesteps(2)?;
            denoise(
                &model,
                batched,
                &mut s,
                t(&[0.5, 0.25, 0.], 3),
                &t(&[7.], 1),
                texts,
                GuidanceScales::default(),
                &mut |_| true,
            )
        };
        let one_batch = run(Some(&batched))?;
        let seen = seen.into_inner();
        assert_eq!(seen.len(), 6);
        assert_eq!(&seen[..3], &[(7.0, 1.0), (7.0, 0.0), (0.0, 0.0)]);
        assert_eq!(values(&one_batch), values(&run(None)?));
        Ok(())
    }

    /// Guidance off (both scales 1) runs the prompt-and-references pass alone, and its output is
    /// what the three-pass combination would give.
    #[test]
    fn guidance_off_runs_one_pass() -> Result<()> {
        let calls = RefCell::new(Vec::new());
        let model = |pass: Pass, x: &Tensor, _t: f64, text: &Tensor| -> Result<Tensor> {
            calls.borrow_mut().push(pass);
            Ok((x.ones_like()? * f64::from(text.to_scalar::<f32>()? + 2.0))?)
        };
        let (prompt, negative) = (
            Tensor::new(1f32, &Device::Cpu)?,
            Tensor::new(0f32, &Device::Cpu)?,
        );
        let texts = Texts {
            prompt: &prompt,
            negative: &negative,
        };
        let mut s = FlowEulerScheduler::new(EulerConfig::default());
        s.set_timesteps(2)?;
        let run = |scales, s: &mut FlowEulerScheduler| {
            denoise(
                &model,
                None,
                s,
                t(&[0., 0., 0.], 3),
                &t(&[7.], 1),
                texts,
                scales,
                &mut |_| true,
            )
        };
        let off = run(GuidanceScales::OFF, &mut s)?;
        assert_eq!(*calls.borrow(), vec![Pass::PromptAndImages; 2]);
        let one = GuidanceScales {
            image: 1.0,
            text: 1.0 + 1e-9,
        };
        s.set_timesteps(2)?;
        let three = run(one, &mut s)?;
        assert_eq!(calls.borrow().len(), 2 + 6);
        let diff = (off - three)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{diff}");
        Ok(())
    }
}
