//! Parity of the Wan VAE with diffusers' `AutoencoderKLWan` on the tiny random-weight VAE
//! `tests/fixtures/tiny-vace/vae/` (fixtures from `scripts/make_vae_fixtures.py`).
//!
//! Tolerance (f32): max |ours − reference| ≤ 1e-4 · max |reference| (measured errors are in the
//! fixtures README).

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use refvid_wan::runtime::{DeviceKind, Precision};
use refvid_wan::vae::{VaeTiling, WanVae};
use refvid_wan::{CheckArgs, Module, WanError, run_check};

mod common;
use common::fixtures;

/// Relative tolerance for f32.
const F32_REL_TOL: f32 = 1e-4;

fn load(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join(name), &Device::Cpu).expect(name)
}

fn vae() -> WanVae {
    WanVae::load(&fixtures().join("tiny-vace"), DType::F32, &Device::Cpu).unwrap()
}

/// The tile sizes the fixture script gave diffusers (`vae_tiling.json`).
fn fixture_tiling() -> VaeTiling {
    #[derive(serde::Deserialize)]
    struct Tiling {
        tile_sample_min_height: usize,
        tile_sample_min_width: usize,
        tile_sample_stride_height: usize,
        tile_sample_stride_width: usize,
    }
    let text = std::fs::read_to_string(fixtures().join("vae_tiling.json")).unwrap();
    let t: Tiling = serde_json::from_str(&text).unwrap();
    VaeTiling {
        tile_sample_min_height: t.tile_sample_min_height,
        tile_sample_min_width: t.tile_sample_min_width,
        tile_sample_stride_height: t.tile_sample_stride_height,
        tile_sample_stride_width: t.tile_sample_stride_width,
    }
}

fn assert_close(what: &str, ours: &Tensor, reference: &Tensor) {
    assert_eq!(ours.dims(), reference.dims(), "{what}: shape");
    let ours = ours.to_dtype(DType::F32).unwrap();
    let reference = reference.to_dtype(DType::F32).unwrap();
    let err: f32 = (&ours - &reference)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    let scale: f32 = reference
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    eprintln!(
        "{what}: max abs err {err:.3e}, scale {scale:.3e}, relative {:.3e}",
        err / scale
    );
    assert!(scale > 0.0, "{what}: reference is all zeros");
    assert!(
        err <= F32_REL_TOL * scale,
        "{what}: max abs err {err} > {F32_REL_TOL} x {scale}"
    );
}

#[test]
fn config_is_read() {
    let vae = vae();
    let cfg = vae.config();
    assert_eq!(cfg.z_dim, 16);
    assert_eq!(cfg.latents_mean.len(), 16);
    assert!((cfg.latents_std[0] - 0.6537542343139648).abs() < 1e-12);
    assert_eq!(
        (cfg.scale_factor_temporal, cfg.scale_factor_spatial),
        (4, 8)
    );
}

#[test]
fn encode_matches_diffusers() {
    let vae = vae();
    let inputs = load("vae_encode_inputs.safetensors");
    let mean = vae.encode(&inputs["sample"]).unwrap();
    assert_eq!(mean.dims(), &[2, 16, 2, 4, 6]);
    assert_close(
        "encode T=5, B=2",
        &mean,
        &load("vae_encode_outputs.safetensors")["latent_mean"],
    );
    let cases = load("vae_cases.safetensors");
    for case in ["encode_t1", "encode_t9"] {
        let mean = vae.encode(&cases[&format!("{case}.sample")]).unwrap();
        assert_close(case, &mean, &cases[&format!("{case}.latent_mean")]);
    }
}

#[test]
fn trailing_frames_short_of_a_chunk_are_dropped() {
    // As in diffusers: 1 + (T − 1) / 4 latent frames; frames past the last full chunk are unused.
    let vae = vae();
    let x = &load("vae_cases.safetensors")["encode_t9.sample"];
    let seven = vae.encode(&x.narrow(2, 0, 7).unwrap()).unwrap();
    let five = vae.encode(&x.narrow(2, 0, 5).unwrap()).unwrap();
    assert_eq!(seven.dims(), &[1, 16, 2, 2, 3]);
    assert_eq!(
        seven.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        five.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
}

#[test]
fn decode_matches_diffusers() {
    let vae = vae();
    let z = &load("vae_decode_inputs.safetensors")["z"];
    let y = vae.decode(z).unwrap();
    assert_eq!(y.dims(), &[1, 3, 9, 32, 48]);
    assert_close(
        "decode t=3",
        &y,
        &load("vae_decode_outputs.safetensors")["sample"],
    );
    let cases = load("vae_cases.safetensors");
    let y = vae.decode(&cases["decode_t1.z"]).unwrap();
    assert_close("decode t=1, B=2", &y, &cases["decode_t1.sample"]);
}

#[test]
fn tiled_encode_and_decode_match_diffusers() {
    let vae = vae().with_tiling(Some(fixture_tiling()));
    let cases = load("vae_cases.safetensors");
    let mean = vae.encode(&cases["tiled_encode.sample"]).unwrap();
    assert_close("tiled encode", &mean, &cases["tiled_encode.latent_mean"]);
    let y = vae.decode(&cases["tiled_decode.z"]).unwrap();
    assert_close("tiled decode", &y, &cases["tiled_decode.sample"]);
}

#[test]
fn small_frames_are_not_tiled() {
    // The default 256-pixel tiles leave a 32 x 48 frame whole: same result as without tiling.
    let vae = vae().with_tiling(Some(VaeTiling::default()));
    let z = &load("vae_decode_inputs.safetensors")["z"];
    assert_close(
        "decode with default tiling",
        &vae.decode(z).unwrap(),
        &load("vae_decode_outputs.safetensors")["sample"],
    );
}

#[test]
fn bad_inputs_are_refused() {
    let vae = vae();
    let dev = Device::Cpu;
    let four_d = Tensor::zeros((1, 3, 8, 8), DType::F32, &dev).unwrap();
    assert!(matches!(vae.encode(&four_d), Err(WanError::Input(_))));
    let wrong_z = Tensor::zeros((1, 4, 1, 2, 2), DType::F32, &dev).unwrap();
    let err = vae.decode(&wrong_z).unwrap_err();
    assert!(err.to_string().contains("16"), "{err}");
}

fn tmp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("refvid-wan-vae-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn run_check_encodes_and_decodes() {
    let dir = tmp_dir("check");
    let out = dir.join("enc.safetensors");
    run_check(&CheckArgs {
        model: fixtures().join("tiny-vace"),
        module: "vae_encode".parse().unwrap(),
        inputs: fixtures().join("vae_encode_inputs.safetensors"),
        out: out.clone(),
        dtype: Precision::F32,
        device: DeviceKind::Cpu,
        cache: Default::default(),
        loras: Vec::new(),
    })
    .unwrap();
    let ours = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    assert_close(
        "check latent_mean",
        &ours["latent_mean"],
        &load("vae_encode_outputs.safetensors")["latent_mean"],
    );

    let out = dir.join("dec.safetensors");
    run_check(&CheckArgs {
        model: fixtures().join("tiny-vace/vae"),
        module: Module::VaeDecode,
        inputs: fixtures().join("vae_decode_inputs.safetensors"),
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
        &load("vae_decode_outputs.safetensors")["sample"],
    );
}

#[test]
fn run_check_names_the_missing_vae_input() {
    let dir = tmp_dir("noinput");
    let err = run_check(&CheckArgs {
        model: fixtures().join("tiny-vace"),
        module: Module::VaeDecode,
        // Has `sample`, not `z`.
        inputs: fixtures().join("vae_encode_inputs.safetensors"),
        out: dir.join("out.safetensors"),
        dtype: Precision::F32,
        device: DeviceKind::Cpu,
        cache: Default::default(),
        loras: Vec::new(),
    })
    .unwrap_err();
    assert!(err.to_string().contains("`z`"), "{err}");
}

/// A copy of the tiny VAE folder whose tensors went through `edit`.
fn edited_vae(tag: &str, edit: impl FnOnce(&mut HashMap<String, Tensor>)) -> PathBuf {
    let src = fixtures().join("tiny-vace/vae");
    let dir = tmp_dir(tag);
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let file = "diffusion_pytorch_model.safetensors";
    let mut tensors = candle_core::safetensors::load(src.join(file), &Device::Cpu).unwrap();
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, dir.join(file)).unwrap();
    dir
}

#[test]
fn missing_vae_tensor_is_named() {
    let name = "decoder.up_blocks.1.upsamplers.0.time_conv.weight";
    let dir = edited_vae("missing", |t| {
        t.remove(name).unwrap();
    });
    match WanVae::load(&dir, DType::F32, &Device::Cpu) {
        Err(e @ WanError::MissingTensor { .. }) => {
            assert!(e.to_string().contains(name), "{e}");
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn wrong_vae_config_is_named() {
    let dir = edited_vae("config", |_| {});
    let path = dir.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cfg["latents_std"] = serde_json::json!([1.0, 2.0]);
    std::fs::write(&path, cfg.to_string()).unwrap();
    let err = WanVae::load(&dir, DType::F32, &Device::Cpu).unwrap_err();
    assert!(matches!(err, WanError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("latents_std"), "{err}");
}

#[test]
fn runs_in_bf16() {
    // bf16 activations (convolutions, norms and attention in f32): a sanity bound only. diffusers
    // itself, run in bf16, differs from its f32 output here by 0.15 (max) and 0.011 (mean).
    let vae = WanVae::load(&fixtures().join("tiny-vace"), DType::BF16, &Device::Cpu).unwrap();
    let z = &load("vae_decode_inputs.safetensors")["z"];
    let y = vae.decode(z).unwrap();
    assert_eq!(y.dtype(), DType::BF16);
    let reference = &load("vae_decode_outputs.safetensors")["sample"];
    let diff = (y.to_dtype(DType::F32).unwrap() - reference)
        .unwrap()
        .abs()
        .unwrap();
    let max: f32 = diff.max_all().unwrap().to_scalar().unwrap();
    let mean: f32 = diff.mean_all().unwrap().to_scalar().unwrap();
    eprintln!("decode bf16: max abs err {max:.3e}, mean abs err {mean:.3e}");
    assert!(max < 0.3 && mean < 0.03, "bf16 decode error {max} / {mean}");
}
