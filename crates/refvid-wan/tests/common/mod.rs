//! What the model tests share: the fixtures folder, its tensors, a reference image out of them,
//! the VACE case of `pipeline_case.json`, the Phantom case of `phantom_inputs.safetensors` and
//! the tiny VACE transformer kept or streamed (each test binary uses its own part of it).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use refvid_wan::models::phantom::{GuidanceScales, PhantomParams};
use refvid_wan::offload::{Offload, Placement, load};
use refvid_wan::pipeline::{GenerateParams, Reference};
use refvid_wan::transformer::WanTransformer;

/// `tests/fixtures` (made by `scripts/make_fixtures.py`, see its README).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every tensor of the fixture file `name`, on the CPU.
pub fn load_tensors(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join(name), &Device::Cpu).expect(name)
}

/// Reference image `i` of a fixture's inputs (`reference_rgb8.{i}`, `[H, W, 3]` u8).
pub fn rgb8(inputs: &HashMap<String, Tensor>, i: usize) -> Reference {
    let t = &inputs[&format!("reference_rgb8.{i}")];
    let (height, width, _) = t.dims3().unwrap();
    Reference::Rgb8 {
        width,
        height,
        data: t.flatten_all().unwrap().to_vec1::<u8>().unwrap(),
    }
}

/// The case of `pipeline_case.json` (64×48, 9 frames, its 2 references, guidance 5) with
/// `steps` and `seed`.
pub fn vace_case(steps: usize, seed: u64) -> GenerateParams {
    let case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("pipeline_case.json")).unwrap(),
    )
    .unwrap();
    let inputs = load_tensors("pipeline_inputs.safetensors");
    let mut p = GenerateParams::new(case["prompt"].as_str().unwrap());
    p.negative_prompt = case["negative_prompt"].as_str().unwrap().into();
    p.references = (0..2).map(|i| rgb8(&inputs, i)).collect();
    (p.width, p.height, p.num_frames, p.steps) = (64, 48, 9, steps);
    p.seed = seed;
    p
}

/// Case `a` of `phantom_inputs.safetensors`: 64×48, 9 frames, 3 steps, two references.
pub fn phantom_params() -> PhantomParams {
    let inputs: HashMap<String, Tensor> = load_tensors("phantom_inputs.safetensors")
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("a.").map(|k| (k.to_string(), v)))
        .collect();
    PhantomParams {
        prompt: "A red fox walks in the snow".into(),
        negative_prompt: "blurry, low quality".into(),
        references: (0..2).map(|i| rgb8(&inputs, i)).collect(),
        width: 64,
        height: 48,
        num_frames: 9,
        steps: 3,
        scales: GuidanceScales {
            image: 5.0,
            text: 7.5,
        },
        shift: 5.0,
        seed: 11,
        initial_noise: None,
        sampling: Default::default(),
    }
}

/// f32 on the CPU, with the transformer's blocks placed as `offload` says.
pub fn placement(offload: Offload) -> Placement {
    Placement::new(DType::F32, &Device::Cpu).with_offload(offload)
}

/// The tiny VACE transformer (`tiny-vace`) with its blocks kept or streamed.
pub fn tiny_vace(offload: Offload) -> WanTransformer {
    let (_, staged) =
        load::transformer(&fixtures().join("tiny-vace"), &placement(offload), &[]).unwrap();
    let built = staged.get().unwrap();
    (*built).clone()
}
