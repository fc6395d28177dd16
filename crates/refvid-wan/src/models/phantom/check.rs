//! The `phantom` module of the parity command (`docs/PARITY.md`, "Phantom"): a whole
//! Phantom-Wan run from encoded prompts, references already at the video size and fixed noise.
//!
//! | input | dtype, shape |
//! |---|---|
//! | `prompt_embeds`, `negative_prompt_embeds` | f32 `[1, L, D]` |
//! | `latents` | f32 `[1, z, T + N, h, w]`: the initial noise of all frames, the last N the references' |
//! | `reference_images` | f32 `[N, 3, 8h, 8w]` in −1..1 (or `reference_image.{i}` `[3, 8h, 8w]`) |
//! | `num_inference_steps`, `guidance_scale_image`, `guidance_scale_text`, `flow_shift` | 0-d scalars (`flow_shift` optional: Phantom's 5.0) |
//! | `timesteps` | f32 `[S]` (optional): unshifted timesteps replacing the schedule |
//!
//! Output: `video` f32 `[F, 8h, 8w, 3]` in 0..1, `F = 4(T − 1) + 1`, the reference frames dropped.

use std::collections::HashMap;

use candle_core::{DType, Tensor};

use super::guidance::GuidanceScales;
use super::pipeline::{PHANTOM_SHIFT, PhantomPipeline, PhantomRequest};
use crate::error::Result;
use crate::pipeline::Sampling;
use crate::pipeline::check::{
    cache_outputs, input, references, required_scalar, scalar, steps, timesteps,
};
use crate::step_cache::CacheConfig;

/// The request the inputs describe.
pub fn request_from_inputs(inputs: &HashMap<String, Tensor>) -> Result<PhantomRequest> {
    Ok(PhantomRequest {
        prompt_embeds: input(inputs, "prompt_embeds")?.clone(),
        negative_prompt_embeds: input(inputs, "negative_prompt_embeds")?.clone(),
        references: references(inputs)?,
        noise: input(inputs, "latents")?.to_dtype(DType::F32)?,
        steps: steps(inputs)?,
        scales: GuidanceScales {
            image: required_scalar(inputs, "guidance_scale_image")?,
            text: required_scalar(inputs, "guidance_scale_text")?,
        },
        shift: Some(scalar(inputs, "flow_shift")?.unwrap_or(PHANTOM_SHIFT)),
        sampling: Sampling {
            timesteps: timesteps(inputs)?,
            ..Sampling::default()
        },
        seed: 0,
    })
}

/// Runs the pipeline on the inputs with a step cache: `{"video": [F, H, W, 3]}` and, with a
/// cache, what it did (as the `pipeline` module; passes 0, 1, 2 are Phantom's three).
pub fn run(
    pipe: &PhantomPipeline,
    inputs: &HashMap<String, Tensor>,
    cache: &CacheConfig,
) -> Result<HashMap<String, Tensor>> {
    let mut req = request_from_inputs(inputs)?;
    req.sampling.cache = cache.clone();
    let mut step_cache = pipe.step_cache_for(&req)?;
    let latents = pipe.denoise_with_cache(&req, &mut step_cache, &mut |_| true)?;
    let video = pipe.decode(&latents, req.references.len())?;
    let mut out = HashMap::from([("video".to_string(), video)]);
    if cache.is_on() {
        out.extend(cache_outputs(&step_cache, pipe.device())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn base() -> HashMap<String, Tensor> {
        let dev = Device::Cpu;
        let s = |v: f32| Tensor::new(v, &dev).unwrap();
        let z = |shape: &[usize]| Tensor::zeros(shape, DType::F32, &dev).unwrap();
        HashMap::from([
            ("prompt_embeds".into(), z(&[1, 4, 2])),
            ("negative_prompt_embeds".into(), z(&[1, 4, 2])),
            ("latents".into(), z(&[1, 2, 5, 3, 4])),
            ("reference_images".into(), z(&[2, 3, 24, 32])),
            ("num_inference_steps".into(), s(3.0)),
            ("guidance_scale_image".into(), s(5.0)),
            ("guidance_scale_text".into(), s(7.5)),
        ])
    }

    #[test]
    fn inputs_become_a_request_and_missing_ones_are_named() {
        let r = request_from_inputs(&base()).unwrap();
        assert_eq!((r.steps, r.references.len(), r.shift), (3, 2, Some(5.0)));
        assert_eq!(
            r.scales,
            GuidanceScales {
                image: 5.0,
                text: 7.5
            }
        );
        for name in ["negative_prompt_embeds", "guidance_scale_text", "latents"] {
            let mut inputs = base();
            inputs.remove(name);
            let e = request_from_inputs(&inputs).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }
}
