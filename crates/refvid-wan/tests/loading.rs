//! Loader errors name what is wrong: the missing tensor, the tensor with the wrong shape, the
//! missing shard or subfolder.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use refvid_wan::WanError;
use refvid_wan::loading::load_transformer;
use refvid_wan::loading::{module_dir, weight_files};

mod common;
use common::fixtures;

/// A fresh copy of the tiny T2V transformer folder whose tensors went through `edit`.
fn edited_t2v(tag: &str, edit: impl FnOnce(&mut HashMap<String, Tensor>)) -> PathBuf {
    let src = fixtures().join("tiny-wan-t2v-transformer");
    let dir = std::env::temp_dir().join(format!("refvid-wan-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let mut tensors = candle_core::safetensors::load(
        src.join("diffusion_pytorch_model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, dir.join("diffusion_pytorch_model.safetensors"))
        .unwrap();
    dir
}

#[test]
fn missing_tensor_is_named() {
    let name = "blocks.1.attn2.to_k.bias";
    let dir = edited_t2v("missing", |t| {
        t.remove(name).unwrap();
    });
    match load_transformer(&dir, DType::F32, &Device::Cpu) {
        Err(WanError::MissingTensor { name: got }) => assert_eq!(got, name),
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn wrong_shape_is_named() {
    let name = "blocks.0.ffn.net.0.proj.weight";
    let dir = edited_t2v("shape", |t| {
        t.insert(
            name.into(),
            Tensor::zeros((7, 24), DType::F32, &Device::Cpu).unwrap(),
        );
    });
    match load_transformer(&dir, DType::F32, &Device::Cpu) {
        Err(e @ WanError::ShapeMismatch { .. }) => {
            let WanError::ShapeMismatch {
                name: got,
                expected,
                got: shape,
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(got, name);
            assert_eq!(expected, &vec![40, 24]);
            assert_eq!(shape, &vec![7, 24]);
            assert!(e.to_string().contains(name), "{e}");
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
}

#[test]
fn sharded_index_is_followed() {
    let files = weight_files(&fixtures().join("tiny-vace/transformer")).unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
}

#[test]
fn missing_shard_is_named() {
    let src = fixtures().join("tiny-vace/transformer");
    let dir = std::env::temp_dir().join(format!("refvid-wan-shard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "config.json",
        "diffusion_pytorch_model.safetensors.index.json",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let err = weight_files(&dir).unwrap_err();
    assert!(
        err.to_string()
            .contains("diffusion_pytorch_model-00001-of-00003.safetensors"),
        "{err}"
    );
}

#[test]
fn pipeline_without_the_module_is_an_error() {
    let err = module_dir(&fixtures().join("tiny-vace"), "image_encoder").unwrap_err();
    assert!(matches!(err, WanError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("`image_encoder`"), "{err}");
}

#[test]
fn bf16_and_f16_weights_load() {
    for dtype in [DType::BF16, DType::F16] {
        load_transformer(&fixtures().join("tiny-vace"), dtype, &Device::Cpu).unwrap();
    }
}

/// The published Wan2.1-VACE-1.3B diffusers transformer config (`tests/fixtures/published`,
/// values from the conversion script; `random_weights` writes it) parses and validates.
#[test]
fn vace_1_3b_config_parses() {
    let json: serde_json::Value = serde_json::from_str(include_str!(
        "fixtures/published/vace-1.3b-transformer.json"
    ))
    .unwrap();
    let cfg: refvid_wan::transformer::WanConfig = serde_json::from_value(json).unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.dim(), 1536);
    assert_eq!(cfg.vace_layers.as_ref().unwrap().len(), 15);
}
