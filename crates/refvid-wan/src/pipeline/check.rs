//! The `pipeline` module of the parity command: a whole reference-to-video run from encoded
//! prompts, preprocessed references and fixed initial noise (`docs/PARITY.md`).
//!
//! | input | dtype, shape |
//! |---|---|
//! | `prompt_embeds` | f32 `[1, L, D]` |
//! | `negative_prompt_embeds` | f32 `[1, L, D]` (needed when `guidance_scale > 1`) |
//! | `latents` | f32 `[1, z, T + N, h, w]`, the initial noise |
//! | `reference_images` | f32 `[N, 3, H', W']` in −1..1 (optional); references of different sizes may come as `reference_image.0`, `reference_image.1`, … `[3, H'_i, W'_i]` instead |
//! | `num_inference_steps`, `guidance_scale`, `flow_shift` | 0-d scalars (`flow_shift` optional: the folder's scheduler config otherwise) |
//! | `timesteps` | f32 `[S]` (optional): unshifted timesteps replacing the scheduler's schedule; `S` must equal `num_inference_steps` (see [`crate::scheduler::step_list`]) |
//!
//! The video size follows from `latents`: `W = 8w`, `H = 8h`, `F = 4(T − 1) + 1`. Output: `video`
//! f32 `[F, H, W, 3]` in 0..1.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use super::{EncodedRequest, Sampling, WanVacePipeline};
use crate::error::{Result, WanError};
use crate::scheduler::NoiseSource;
use crate::step_cache::{CacheConfig, StepCache};

/// A named input tensor, or an error naming it.
pub(crate) fn input<'a>(inputs: &'a HashMap<String, Tensor>, name: &str) -> Result<&'a Tensor> {
    inputs
        .get(name)
        .ok_or_else(|| WanError::Input(format!("input file has no tensor `{name}`")))
}

/// A 0-d (or one-element) tensor of any dtype as f64.
pub(crate) fn scalar(inputs: &HashMap<String, Tensor>, name: &str) -> Result<Option<f64>> {
    let Some(t) = inputs.get(name) else {
        return Ok(None);
    };
    if t.elem_count() != 1 {
        return Err(WanError::Input(format!(
            "`{name}` must be a scalar, got shape {:?}",
            t.dims()
        )));
    }
    let v = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?[0];
    Ok(Some(v))
}

/// A scalar input that must be present.
pub(crate) fn required_scalar(inputs: &HashMap<String, Tensor>, name: &str) -> Result<f64> {
    scalar(inputs, name)?
        .ok_or_else(|| WanError::Input(format!("input file has no tensor `{name}`")))
}

/// The references, from `reference_images` `[N, 3, H, W]` or `reference_image.{i}`.
pub(crate) fn references(inputs: &HashMap<String, Tensor>) -> Result<Vec<Tensor>> {
    if let Some(t) = inputs.get("reference_images") {
        let (n, c, _, _) = t.dims4().map_err(|_| {
            WanError::Input(format!(
                "`reference_images` must be [N, 3, H, W], got {:?}",
                t.dims()
            ))
        })?;
        if c != 3 {
            return Err(WanError::Input(format!(
                "`reference_images` must have 3 channels, got {:?}",
                t.dims()
            )));
        }
        return (0..n).map(|i| Ok(t.get(i)?)).collect();
    }
    let mut refs = Vec::new();
    while let Some(t) = inputs.get(&format!("reference_image.{}", refs.len())) {
        refs.push(t.clone());
    }
    Ok(refs)
}

/// The optional `timesteps` input as a step list.
pub(crate) fn timesteps(inputs: &HashMap<String, Tensor>) -> Result<Option<Vec<f64>>> {
    let Some(t) = inputs.get("timesteps") else {
        return Ok(None);
    };
    if t.rank() != 1 {
        return Err(WanError::Input(format!(
            "`timesteps` must be a 1-D list, got shape {:?}",
            t.dims()
        )));
    }
    Ok(Some(t.to_dtype(DType::F64)?.to_vec1::<f64>()?))
}

/// `num_inference_steps`, a positive integer.
pub(crate) fn steps(inputs: &HashMap<String, Tensor>) -> Result<usize> {
    let steps = required_scalar(inputs, "num_inference_steps")?;
    if steps < 1.0 || steps.fract() != 0.0 {
        return Err(WanError::Input(format!(
            "`num_inference_steps` must be a positive integer, got {steps}"
        )));
    }
    Ok(steps as usize)
}

/// The request the inputs describe.
pub fn request_from_inputs(inputs: &HashMap<String, Tensor>) -> Result<EncodedRequest> {
    let noise = input(inputs, "latents")?.to_dtype(DType::F32)?;
    let (_, _, t, h, w) = noise.dims5().map_err(|_| {
        WanError::Input(format!(
            "`latents` must be [1, z, T, h, w], got {:?}",
            noise.dims()
        ))
    })?;
    let references = references(inputs)?;
    let n_ref = references.len();
    if t <= n_ref {
        return Err(WanError::Input(format!(
            "`latents` has {t} frames, not more than the {} references",
            references.len()
        )));
    }
    let steps = steps(inputs)?;
    Ok(EncodedRequest {
        prompt_embeds: input(inputs, "prompt_embeds")?.clone(),
        negative_prompt_embeds: inputs.get("negative_prompt_embeds").cloned(),
        references,
        width: w * 8,
        height: h * 8,
        num_frames: 4 * (t - 1 - n_ref) + 1,
        steps,
        guidance: required_scalar(inputs, "guidance_scale")?,
        noise,
        shift: scalar(inputs, "flow_shift")?,
        sampling: Sampling {
            timesteps: timesteps(inputs)?,
            ..Sampling::default()
        },
        seed: 0,
    })
}

/// Runs the pipeline on the inputs with a step cache: `{"video": [F, H, W, 3]}` and, with a
/// cache, what it did (see [`crate::check`]).
pub fn run(
    pipe: &WanVacePipeline,
    inputs: &HashMap<String, Tensor>,
    cache: &CacheConfig,
) -> Result<HashMap<String, Tensor>> {
    let mut req = request_from_inputs(inputs)?;
    req.sampling.cache = cache.clone();
    let context = pipe.context_for(&req)?;
    let mut scheduler = pipe.scheduler_for(&req, NoiseSource::Seeded(req.seed))?;
    let mut step_cache = pipe.step_cache_for(&req)?;
    let latents = pipe.denoise_with_scheduler(
        &req,
        &context,
        scheduler.as_mut(),
        &mut step_cache,
        &mut |_| true,
    )?;
    let video = pipe.decode(&latents, req.references.len())?;
    let mut out = HashMap::from([("video".to_string(), video)]);
    if cache.is_on() {
        out.extend(cache_outputs(&step_cache, pipe.device())?);
    }
    Ok(out)
}

/// The cache's counts and per-pass decisions as output tensors.
pub(crate) fn cache_outputs(cache: &StepCache, device: &Device) -> Result<HashMap<String, Tensor>> {
    let s = cache.stats();
    let mut out = HashMap::new();
    for (name, v) in [
        ("cache_passes", s.passes),
        ("cache_skipped_passes", s.skipped_passes),
        ("cache_blocks_run", s.blocks_run),
        ("cache_blocks_skipped", s.blocks_skipped),
    ] {
        out.insert(name.to_string(), Tensor::new(v as i64, device)?);
    }
    for pass in 0..cache.pass_count() {
        let d: Vec<u8> = cache.decisions(pass).iter().map(|&b| u8::from(b)).collect();
        out.insert(format!("cache_decisions.{pass}"), Tensor::new(d, device)?);
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
        HashMap::from([
            (
                "prompt_embeds".into(),
                Tensor::zeros((1, 4, 2), DType::F32, &dev).unwrap(),
            ),
            (
                "latents".into(),
                Tensor::zeros((1, 2, 5, 3, 4), DType::F32, &dev).unwrap(),
            ),
            ("num_inference_steps".into(), s(3.0)),
            ("guidance_scale".into(), s(1.0)),
        ])
    }

    #[test]
    fn sizes_follow_from_the_latents_and_references() {
        let mut inputs = base();
        inputs.insert(
            "reference_images".into(),
            Tensor::zeros((2, 3, 8, 8), DType::F32, &Device::Cpu).unwrap(),
        );
        let r = request_from_inputs(&inputs).unwrap();
        assert_eq!((r.width, r.height, r.num_frames), (32, 24, 9));
        assert_eq!((r.steps, r.references.len(), r.shift), (3, 2, None));
        inputs.remove("reference_images");
        let r = request_from_inputs(&inputs).unwrap();
        assert_eq!((r.num_frames, r.references.len()), (17, 0));
        assert_eq!(r.sampling.timesteps, None);
        inputs.insert(
            "timesteps".into(),
            Tensor::new(&[1000f32, 500.0, 250.0], &Device::Cpu).unwrap(),
        );
        let r = request_from_inputs(&inputs).unwrap();
        assert_eq!(r.sampling.timesteps, Some(vec![1000.0, 500.0, 250.0]));
    }

    #[test]
    fn bad_inputs_are_named() {
        let mut inputs = base();
        inputs.remove("guidance_scale");
        let e = request_from_inputs(&inputs).unwrap_err().to_string();
        assert!(e.contains("guidance_scale"), "{e}");
        let mut inputs = base();
        inputs.insert(
            "num_inference_steps".into(),
            Tensor::new(2.5f32, &Device::Cpu).unwrap(),
        );
        let e = request_from_inputs(&inputs).unwrap_err().to_string();
        assert!(e.contains("num_inference_steps"), "{e}");
        let mut inputs = base();
        inputs.insert(
            "reference_images".into(),
            Tensor::zeros((2, 4, 8, 8), DType::F32, &Device::Cpu).unwrap(),
        );
        let e = request_from_inputs(&inputs).unwrap_err().to_string();
        assert!(e.contains("reference_images"), "{e}");
        let mut inputs = base();
        inputs.insert(
            "timesteps".into(),
            Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap(),
        );
        let e = request_from_inputs(&inputs).unwrap_err().to_string();
        assert!(e.contains("timesteps"), "{e}");
    }
}
