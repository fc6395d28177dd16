//! The same random weights saved in the original Wan key layout (as `.safetensors` and `.pth`,
//! f32 and bf16, with and without a `model.diffusion_model.` style prefix) load into the same
//! models as the diffusers-layout fixtures and give **identical** outputs.
//!
//! The original-layout files are written by `scripts/make_layout_fixtures.py`, which checks them
//! against diffusers' own converters. A bf16 file is compared with the diffusers weights rounded
//! to bf16 (the rounding is the same round-to-nearest-even on both sides), so equality stays exact.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use refvid_wan::layout::{Component, Layout};
use refvid_wan::loading::{
    Checkpoint, load_text_encoder, load_transformer, module_source, open_vae, tokenizer_file,
    weight_files,
};
use refvid_wan::vace::VaceInput;
use refvid_wan::vae::WanVae;

mod common;
use common::fixtures;

fn original(path: &str) -> PathBuf {
    fixtures().join("original-layout").join(path)
}

fn inputs(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join(name), &Device::Cpu).unwrap()
}

fn assert_identical(what: &str, a: &Tensor, b: &Tensor) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let diff: f32 = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert_eq!(diff, 0.0, "{what}: outputs differ by up to {diff}");
    let scale: f32 = a.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    assert!(scale > 0.0, "{what}: output is all zeros");
}

/// A copy of a diffusers module folder with every weight rounded through bf16 (kept as f32).
fn rounded_to_bf16(module: &Path, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("refvid-wan-bf16-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(module.join("config.json"), dir.join("config.json")).unwrap();
    let mut all = HashMap::new();
    for file in weight_files(module).unwrap() {
        for (name, t) in candle_core::safetensors::load(&file, &Device::Cpu).unwrap() {
            let r = t
                .to_dtype(DType::BF16)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap();
            all.insert(name, r);
        }
    }
    candle_core::safetensors::save(&all, dir.join("model.safetensors")).unwrap();
    dir
}

/// The diffusers names a checkpoint offers, in a set.
fn names(files: &[PathBuf], component: Component) -> BTreeSet<String> {
    Checkpoint::open_component(files, component)
        .unwrap()
        .names()
        .into_iter()
        .collect()
}

fn t2v_forward(model: &Path) -> Tensor {
    let x = inputs("t2v_inputs.safetensors");
    load_transformer(model, DType::F32, &Device::Cpu)
        .unwrap()
        .forward(
            &x["hidden_states"],
            &x["timestep"],
            &x["encoder_hidden_states"],
            None,
        )
        .unwrap()
}

#[test]
fn t2v_transformer_in_an_original_folder_matches_diffusers() {
    let reference = t2v_forward(&fixtures().join("tiny-wan-t2v-transformer"));
    assert_identical("t2v folder", &t2v_forward(&original("t2v")), &reference);
    let file = original("t2v/diffusion_pytorch_model.safetensors");
    assert_identical("t2v file", &t2v_forward(&file), &reference);
    let ours = names(&[file], Component::Transformer);
    let theirs = names(
        &weight_files(&fixtures().join("tiny-wan-t2v-transformer")).unwrap(),
        Component::Transformer,
    );
    assert_eq!(ours, theirs, "every original key maps onto a diffusers key");
}

#[test]
fn bf16_pth_with_a_prefix_matches_the_rounded_weights() {
    let file = original("t2v-single/model_bf16.pth");
    let ckpt =
        Checkpoint::open_component(std::slice::from_ref(&file), Component::Transformer).unwrap();
    assert_eq!(ckpt.layout(), Layout::Original);
    assert_eq!(ckpt.prefix(), "model.diffusion_model.");
    let rounded = rounded_to_bf16(&fixtures().join("tiny-wan-t2v-transformer"), "t2v");
    assert_identical("bf16 .pth", &t2v_forward(&file), &t2v_forward(&rounded));
    // Loaded in bf16 too, both give the same bf16 computation.
    let x = inputs("t2v_inputs.safetensors");
    let run = |m: &Path| {
        load_transformer(m, DType::BF16, &Device::Cpu)
            .unwrap()
            .forward(
                &x["hidden_states"].to_dtype(DType::BF16).unwrap(),
                &x["timestep"],
                &x["encoder_hidden_states"].to_dtype(DType::BF16).unwrap(),
                None,
            )
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
    };
    assert_identical("bf16 compute", &run(&file), &run(&rounded));
}

#[test]
fn vace_transformer_with_a_prefix_matches_diffusers() {
    let x = inputs("vace_inputs.safetensors");
    let scale: Vec<f32> = x["control_hidden_states_scale"].to_vec1().unwrap();
    let run = |m: &Path| {
        let model = load_transformer(m, DType::F32, &Device::Cpu).unwrap();
        assert!(model.is_vace());
        assert_eq!(model.config().vace_layers.as_deref(), Some(&[0, 2, 3][..]));
        let vace = VaceInput {
            control: &x["control_hidden_states"],
            scale: Some(&scale),
        };
        model
            .forward(
                &x["hidden_states"],
                &x["timestep"],
                &x["encoder_hidden_states"],
                Some(vace),
            )
            .unwrap()
    };
    assert_identical(
        "vace",
        &run(&original("vace")),
        &run(&fixtures().join("tiny-vace")),
    );
    let source = module_source(&original("vace"), Component::Transformer).unwrap();
    let ckpt = Checkpoint::open_component(&source.files, Component::Transformer).unwrap();
    assert_eq!(ckpt.prefix(), "diffusion_model.");
    let theirs = names(
        &weight_files(&fixtures().join("tiny-vace/transformer")).unwrap(),
        Component::Transformer,
    );
    assert_eq!(ckpt.names().into_iter().collect::<BTreeSet<_>>(), theirs);
}

#[test]
fn umt5_bf16_pth_matches_the_rounded_transformers_weights() {
    let x = inputs("text_encoder_inputs.safetensors");
    let run = |m: &Path| {
        load_text_encoder(m, DType::F32, &Device::Cpu)
            .unwrap()
            .forward(&x["input_ids"], Some(&x["attention_mask"]))
            .unwrap()
    };
    let rounded = rounded_to_bf16(&fixtures().join("tiny-vace/text_encoder"), "t5");
    // The folder holds the file; the file's name (`…t5…`) marks it as the text encoder.
    assert_identical("umt5 folder", &run(&original("umt5")), &run(&rounded));
    let file = original("umt5/models_t5_umt5-tiny-enc-bf16.pth");
    assert_eq!(
        names(&[file], Component::TextEncoder),
        names(&[rounded.join("model.safetensors")], Component::TextEncoder)
    );
}

#[test]
fn vae_pth_matches_diffusers_and_its_config_is_inferred() {
    let file = original("vae/Wan2.1_VAE.pth");
    let (inferred, _) = open_vae(&file).unwrap();
    let (published, _) = open_vae(&fixtures().join("tiny-vace")).unwrap();
    assert_eq!(
        (
            inferred.base_dim,
            inferred.z_dim,
            &inferred.dim_mult,
            inferred.num_res_blocks
        ),
        (
            published.base_dim,
            published.z_dim,
            &published.dim_mult,
            published.num_res_blocks
        )
    );
    assert_eq!(inferred.temperal_downsample, published.temperal_downsample);
    let ours = WanVae::load(&original("vae"), DType::F32, &Device::Cpu).unwrap();
    let theirs = WanVae::load(&fixtures().join("tiny-vace"), DType::F32, &Device::Cpu).unwrap();
    let video = &inputs("vae_encode_inputs.safetensors")["sample"];
    assert_identical(
        "vae encode",
        &ours.encode(video).unwrap(),
        &theirs.encode(video).unwrap(),
    );
    let z = &inputs("vae_decode_inputs.safetensors")["z"];
    assert_identical(
        "vae decode",
        &ours.decode(z).unwrap(),
        &theirs.decode(z).unwrap(),
    );
    let diffusers_files = weight_files(&fixtures().join("tiny-vace/vae")).unwrap();
    assert_eq!(
        names(&[file], Component::Vae),
        names(&diffusers_files, Component::Vae)
    );
}

#[test]
fn an_original_folder_with_two_transformers_asks_which() {
    let dir = std::env::temp_dir().join(format!("refvid-wan-two-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "diffusion_pytorch_model.safetensors"] {
        std::fs::copy(original("t2v").join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(
        original("t2v-single/model_bf16.pth"),
        dir.join("Phantom-Wan-tiny.pth"),
    )
    .unwrap();
    let err = load_transformer(&dir, DType::F32, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Phantom-Wan-tiny.pth"), "{err}");
    assert!(err.contains("diffusion_pytorch_model.safetensors"), "{err}");
    // Naming the file settles it.
    load_transformer(&dir.join("Phantom-Wan-tiny.pth"), DType::F32, &Device::Cpu).unwrap();
}

#[test]
fn a_checkpoint_of_another_module_is_named() {
    let err = load_transformer(&original("vae/Wan2.1_VAE.pth"), DType::F32, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not look like a Wan transformer"),
        "{err}"
    );
    let err = tokenizer_file(&original("vae")).unwrap_err().to_string();
    assert!(err.contains("google/umt5-xxl/tokenizer.json"), "{err}");
}
