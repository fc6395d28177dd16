//! Parity with diffusers/transformers on the tiny random-weight fixtures of
//! `tests/fixtures/` (made by `scripts/make_fixtures.py`).
//!
//! Tolerance (f32): max |ours − reference| ≤ 1e-4 · max |reference|.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use refvid_wan::loading::load_transformer;
use refvid_wan::loading::{module_dir, read_config, var_builder};
use refvid_wan::runtime::{DeviceKind, Precision};
use refvid_wan::tokenizer::{PromptTokenizer, TEXT_LEN};
use refvid_wan::umt5::{Umt5Config, Umt5Encoder};
use refvid_wan::vace::VaceInput;
use refvid_wan::{CheckArgs, Module, run_check};

mod common;
use common::fixtures;

/// Relative tolerance for f32, as stated in the fixtures README.
const F32_REL_TOL: f32 = 1e-4;

fn load(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join(name), &Device::Cpu).expect(name)
}

/// Returns `(max abs error, max |reference|)` after checking the shapes agree.
fn compare(ours: &Tensor, reference: &Tensor) -> (f32, f32) {
    assert_eq!(ours.dims(), reference.dims(), "shape");
    let ours = ours.to_dtype(DType::F32).unwrap();
    let reference = reference.to_dtype(DType::F32).unwrap();
    let err = (&ours - &reference)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    let scale = reference.abs().unwrap().max_all().unwrap();
    (err.to_scalar().unwrap(), scale.to_scalar().unwrap())
}

fn assert_close(what: &str, ours: &Tensor, reference: &Tensor, rel_tol: f32) {
    let (err, scale) = compare(ours, reference);
    eprintln!(
        "{what}: max abs err {err:.3e}, scale {scale:.3e}, relative {:.3e}",
        err / scale
    );
    assert!(scale > 0.0, "{what}: reference is all zeros");
    assert!(
        err <= rel_tol * scale,
        "{what}: max abs err {err} > {rel_tol} x {scale}"
    );
}

#[test]
fn umt5_encoder_matches_transformers() {
    let dir = module_dir(&fixtures().join("tiny-vace"), "text_encoder").unwrap();
    let cfg: Umt5Config = read_config(&dir).unwrap();
    let model =
        Umt5Encoder::new(&cfg, var_builder(&dir, DType::F32, &Device::Cpu).unwrap()).unwrap();
    let inputs = load("text_encoder_inputs.safetensors");
    let reference = load("text_encoder_outputs.safetensors");
    let (ids, mask) = (&inputs["input_ids"], &inputs["attention_mask"]);
    let h = model.forward(ids, Some(mask)).unwrap();
    assert_close(
        "last_hidden_state",
        &h,
        &reference["last_hidden_state"],
        F32_REL_TOL,
    );
    let padded = model.encode_padded(ids, mask).unwrap();
    assert_close(
        "prompt_embeds",
        &padded,
        &reference["prompt_embeds"],
        F32_REL_TOL,
    );
}

#[test]
fn prompts_encode_to_the_pipeline_context() {
    let pipe = fixtures().join("tiny-vace");
    let tok = PromptTokenizer::from_model_dir(&pipe, TEXT_LEN).unwrap();
    let enc = refvid_wan::loading::load_text_encoder(&pipe, DType::F32, &Device::Cpu).unwrap();
    let embeds = refvid_wan::loading::encode_prompts(&tok, &enc, &prompts(), &Device::Cpu).unwrap();
    let reference = load("text_encoder_outputs.safetensors");
    assert_close(
        "prompt_embeds from text",
        &embeds,
        &reference["prompt_embeds"],
        F32_REL_TOL,
    );
}

fn prompts() -> Vec<&'static str> {
    let text = std::fs::read_to_string(fixtures().join("tokenizer_prompts.json")).unwrap();
    let v: Vec<String> = serde_json::from_str(&text).unwrap();
    v.into_iter().map(|s| &*s.leak()).collect()
}

#[test]
fn tokenizer_matches_t5_tokenizer_fast() {
    let tok = PromptTokenizer::from_model_dir(&fixtures().join("tiny-vace"), TEXT_LEN).unwrap();
    let prompts: Vec<String> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("tokenizer_prompts.json")).unwrap(),
    )
    .unwrap();
    let prompts: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let (ids, mask) = tok.encode_batch(&prompts, &Device::Cpu).unwrap();
    let reference = load("text_encoder_inputs.safetensors");
    assert_eq!(ids.dims(), &[2, TEXT_LEN]);
    assert_eq!(
        ids.to_vec2::<i64>().unwrap(),
        reference["input_ids"].to_vec2::<i64>().unwrap()
    );
    assert_eq!(
        mask.to_vec2::<i64>().unwrap(),
        reference["attention_mask"].to_vec2::<i64>().unwrap()
    );
}

fn run_transformer(model_dir: &Path, inputs: &HashMap<String, Tensor>, dtype: DType) -> Tensor {
    let model = load_transformer(model_dir, dtype, &Device::Cpu).unwrap();
    let scale: Option<Vec<f32>> = inputs
        .get("control_hidden_states_scale")
        .map(|s| s.to_vec1().unwrap());
    let control = inputs
        .get("control_hidden_states")
        .map(|c| c.to_dtype(dtype).unwrap());
    let vace = control.as_ref().map(|c| VaceInput {
        control: c,
        scale: scale.as_deref(),
    });
    model
        .forward(
            &inputs["hidden_states"].to_dtype(dtype).unwrap(),
            &inputs["timestep"].to_dtype(DType::F32).unwrap(),
            &inputs["encoder_hidden_states"].to_dtype(dtype).unwrap(),
            vace,
        )
        .unwrap()
}

#[test]
fn vace_transformer_matches_diffusers() {
    let inputs = load("vace_inputs.safetensors");
    let y = run_transformer(&fixtures().join("tiny-vace"), &inputs, DType::F32);
    let reference = load("vace_outputs.safetensors");
    assert_close("vace sample", &y, &reference["sample"], F32_REL_TOL);
}

#[test]
fn vace_transformer_chunked_attention_matches() {
    // A tiny chunk bound forces the query-chunked path (60 tokens, 3 query rows per chunk).
    let inputs = load("vace_inputs.safetensors");
    let mut model =
        load_transformer(&fixtures().join("tiny-vace"), DType::F32, &Device::Cpu).unwrap();
    model.set_max_score_elements(180);
    let scale: Vec<f32> = inputs["control_hidden_states_scale"].to_vec1().unwrap();
    let y = model
        .forward(
            &inputs["hidden_states"],
            &inputs["timestep"].to_dtype(DType::F32).unwrap(),
            &inputs["encoder_hidden_states"],
            Some(VaceInput {
                control: &inputs["control_hidden_states"],
                scale: Some(&scale),
            }),
        )
        .unwrap();
    assert_close(
        "vace sample (chunked)",
        &y,
        &load("vace_outputs.safetensors")["sample"],
        F32_REL_TOL,
    );
}

#[test]
fn vace_transformer_runs_in_bf16() {
    // bf16 weights and activations (f32 norms and modulation): a loose sanity bound only.
    let inputs = load("vace_inputs.safetensors");
    let y = run_transformer(&fixtures().join("tiny-vace"), &inputs, DType::BF16);
    assert_close(
        "vace sample (bf16)",
        &y,
        &load("vace_outputs.safetensors")["sample"],
        5e-2,
    );
}

#[test]
fn t2v_transformer_with_two_tap_patch_matches_diffusers() {
    let inputs = load("t2v_inputs.safetensors");
    let y = run_transformer(
        &fixtures().join("tiny-wan-t2v-transformer"),
        &inputs,
        DType::F32,
    );
    assert_close(
        "t2v sample",
        &y,
        &load("t2v_outputs.safetensors")["sample"],
        F32_REL_TOL,
    );
}

fn tmp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("refvid-wan-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn run_check_writes_reference_outputs() {
    let out = tmp_path("vace_out.safetensors");
    run_check(&CheckArgs {
        model: fixtures().join("tiny-vace"),
        module: Module::Transformer,
        inputs: fixtures().join("vace_inputs.safetensors"),
        out: out.clone(),
        dtype: Precision::F32,
        device: DeviceKind::Cpu,
        cache: Default::default(),
        loras: Vec::new(),
    })
    .unwrap();
    let ours = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    assert_close(
        "check sample",
        &ours["sample"],
        &load("vace_outputs.safetensors")["sample"],
        F32_REL_TOL,
    );

    let out = tmp_path("te_out.safetensors");
    run_check(&CheckArgs {
        model: fixtures().join("tiny-vace/text_encoder"),
        module: "text_encoder".parse().unwrap(),
        inputs: fixtures().join("text_encoder_inputs.safetensors"),
        out: out.clone(),
        dtype: "f32".parse().unwrap(),
        device: "cpu".parse().unwrap(),
        cache: Default::default(),
        loras: Vec::new(),
    })
    .unwrap();
    let ours = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    assert_close(
        "check last_hidden_state",
        &ours["last_hidden_state"],
        &load("text_encoder_outputs.safetensors")["last_hidden_state"],
        F32_REL_TOL,
    );
}

#[test]
fn run_check_names_a_missing_input() {
    let dir = std::env::temp_dir().join(format!("refvid-wan-noinput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut inputs = load("vace_inputs.safetensors");
    inputs.remove("control_hidden_states");
    let path = dir.join("in.safetensors");
    candle_core::safetensors::save(&inputs, &path).unwrap();
    let err = run_check(&CheckArgs {
        model: fixtures().join("tiny-vace"),
        module: Module::Transformer,
        inputs: path,
        out: dir.join("out.safetensors"),
        dtype: Precision::F32,
        device: DeviceKind::Cpu,
        cache: Default::default(),
        loras: Vec::new(),
    })
    .unwrap_err();
    assert!(err.to_string().contains("control_hidden_states"), "{err}");
}
