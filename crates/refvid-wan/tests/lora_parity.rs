//! LoRAs merged at load against diffusers' `load_lora_weights` + `fuse_lora(lora_scale=…)` on the
//! tiny VACE, T2V and Phantom transformers (fixtures from `scripts/make_fast_fixtures.py`, `fast/lora/`):
//! the transformer's output on the parity inputs within 1e-4 · max |reference| (f32), for each
//! key format, two LoRAs at once, and full `.diff` deltas (merged by hand in the script, since
//! diffusers skips them). Bad files are refused naming the keys.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use refvid_wan::lora::LoraSpec;
use refvid_wan::{CheckArgs, Module, run_check};

mod common;
use common::fixtures;

const F32_REL_TOL: f32 = 1e-4;

fn load(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).expect("safetensors")
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    model: String,
    loras: Vec<(String, f64)>,
}

fn specs(loras: &[(String, f64)]) -> Vec<LoraSpec> {
    loras
        .iter()
        .map(|(f, s)| LoraSpec {
            path: fixtures().join("fast/lora").join(f),
            scale: *s,
        })
        .collect()
}

/// Runs a module with LoRAs; returns its outputs.
fn check(
    model: &Path,
    module: Module,
    inputs: &Path,
    loras: Vec<LoraSpec>,
) -> refvid_wan::Result<HashMap<String, Tensor>> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    run_check(&CheckArgs {
        model: model.to_path_buf(),
        module,
        inputs: inputs.to_path_buf(),
        out: out.clone(),
        dtype: Default::default(),
        device: Default::default(),
        cache: Default::default(),
        loras,
    })?;
    Ok(load(&out))
}

fn max_abs(t: &Tensor) -> f32 {
    t.abs().unwrap().max_all().unwrap().to_scalar().unwrap()
}

#[test]
fn every_format_merges_like_diffusers_fuse_lora() {
    let text = std::fs::read_to_string(fixtures().join("fast/loras.json")).unwrap();
    let cases: Vec<Case> = serde_json::from_str(&text).unwrap();
    let reference = load(&fixtures().join("fast/loras.safetensors"));
    assert_eq!(cases.len(), 7);
    for case in cases {
        let (model, inputs) = match case.model.as_str() {
            "vace" => ("tiny-vace", "vace_inputs.safetensors"),
            "phantom" => (
                "tiny-phantom",
                "fast/phantom_transformer_inputs.safetensors",
            ),
            _ => ("tiny-wan-t2v-transformer", "t2v_inputs.safetensors"),
        };
        let got = check(
            &fixtures().join(model),
            Module::Transformer,
            &fixtures().join(inputs),
            specs(&case.loras),
        )
        .unwrap();
        let want = &reference[&format!("{}.sample", case.name)];
        let err = max_abs(&(&got["sample"] - want).unwrap());
        let scale = max_abs(want);
        eprintln!(
            "lora {}: max abs err {err:.3e}, scale {scale:.3e}",
            case.name
        );
        assert!(
            err <= F32_REL_TOL * scale,
            "{}: {err} > {F32_REL_TOL} · {scale}",
            case.name
        );
    }
}

#[test]
fn a_lora_changes_the_pipeline_through_the_parity_command() {
    let r2v = fixtures().join("tiny-vace-r2v");
    let inputs = fixtures().join("pipeline_inputs.safetensors");
    let plain = check(&r2v, Module::Pipeline, &inputs, vec![]).unwrap();
    let musubi = specs(&[("musubi_vace.safetensors".into(), 1.3)]);
    let with = check(&r2v, Module::Pipeline, &inputs, musubi).unwrap();
    let moved = max_abs(&(&with["video"] - &plain["video"]).unwrap());
    assert!(moved > 1e-3, "the LoRA moved the frames by {moved}");
    // The original-layout file also patches the output projection, whose shape differs here.
    let original = specs(&[("original_vace.safetensors".into(), 1.0)]);
    let e = check(&r2v, Module::Pipeline, &inputs, original)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("head.head.lora_up.weight") && e.contains("do not fit"),
        "{e}"
    );
    let e = check(
        &r2v,
        Module::VaeDecode,
        &inputs,
        specs(&[("x".into(), 1.0)]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("--lora applies"), "{e}");
}

#[test]
fn a_lora_changes_phantom_through_the_parity_command() {
    let phantom = fixtures().join("tiny-phantom");
    let inputs = fixtures().join("phantom_check_inputs.safetensors");
    let plain = check(&phantom, Module::Phantom, &inputs, vec![]).unwrap();
    let lora = specs(&[("original_phantom.safetensors".into(), 0.9)]);
    let with = check(&phantom, Module::Phantom, &inputs, lora).unwrap();
    let moved = max_abs(&(&with["video"] - &plain["video"]).unwrap());
    assert!(moved > 1e-3, "the LoRA moved the frames by {moved}");
}

/// Writes a LoRA file with the given tensors; returns its spec.
fn write_lora(dir: &Path, name: &str, tensors: &[(&str, &[usize])]) -> LoraSpec {
    let map: HashMap<String, Tensor> = tensors
        .iter()
        .map(|(k, s)| {
            (
                k.to_string(),
                Tensor::ones(*s, DType::F32, &Device::Cpu).unwrap(),
            )
        })
        .collect();
    let path = dir.join(name);
    candle_core::safetensors::save(&map, &path).unwrap();
    LoraSpec { path, scale: 1.0 }
}

#[test]
fn files_that_do_not_fit_are_refused_naming_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        (
            write_lora(d, "none.safetensors", &[("text_encoder.x.weight", &[2, 2])]),
            vec!["no LoRA keys", "text_encoder.x.weight"],
        ),
        (
            write_lora(
                d,
                "far.safetensors",
                &[
                    ("transformer.blocks.9.attn1.to_q.lora_A.weight", &[4, 32]),
                    ("transformer.blocks.9.attn1.to_q.lora_B.weight", &[32, 4]),
                ],
            ),
            vec!["match no tensor", "blocks.9.attn1.to_q.lora_A.weight"],
        ),
        (
            write_lora(
                d,
                "shape.safetensors",
                &[
                    (
                        "diffusion_model.blocks.0.self_attn.q.lora_down.weight",
                        &[4, 7],
                    ),
                    (
                        "diffusion_model.blocks.0.self_attn.q.lora_up.weight",
                        &[32, 4],
                    ),
                ],
            ),
            vec!["do not fit", "self_attn.q.lora_down.weight", "[4, 7]"],
        ),
        (
            write_lora(
                d,
                "half.safetensors",
                &[("lora_unet_blocks_0_ffn_0.lora_down.weight", &[2, 32])],
            ),
            vec!["no matching up (B) half", "lora_unet_blocks_0_ffn_0"],
        ),
    ];
    let inputs = fixtures().join("vace_inputs.safetensors");
    for (spec, needles) in cases {
        let e = check(
            &fixtures().join("tiny-vace"),
            Module::Transformer,
            &inputs,
            vec![spec.clone()],
        )
        .unwrap_err()
        .to_string();
        for n in needles {
            assert!(e.contains(n), "{}: `{n}` not in: {e}", spec.path.display());
        }
        assert!(e.contains(&spec.path.display().to_string()), "{e}");
    }
}
