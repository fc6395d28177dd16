//! Phantom-Wan against a reference run of its algorithm built from diffusers' modules
//! (`scripts/make_phantom_fixtures.py`, following `phantom_wan/subject2video.py` step by step):
//! the reference preparation, the reference latents, the reference-frame replacement and the
//! three-pass combination each on their own, every model pass, the latents after every step and
//! the frames, from embeddings (the parity command, in both checkpoint layouts) and from text.
//!
//! Tolerances (f32): reference preparation exact; replacement exact; combination 1e-6 ·
//! max|ref|; model passes, reference latents and latents after each step 1e-4 · max|ref|; frames
//! 1e-4 abs (the parity contract asks 1e-3).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use refvid_wan::models::phantom::guidance::{GuidanceScales, combine, with_references};
use refvid_wan::models::phantom::reference::prepare;
use refvid_wan::models::phantom::{PhantomParams, PhantomPipeline, check};
use refvid_wan::pipeline::Reference;
use refvid_wan::runtime::{DeviceKind, Precision};
use refvid_wan::{CheckArgs, Module, run_check};

mod common;
use common::fixtures;

const REL_TOL: f32 = 1e-4;
const FRAME_TOL: f32 = 1e-4;

fn load(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join(name), &Device::Cpu).unwrap()
}

/// The inputs of one case under the parity command's names.
fn case_inputs(case: &str) -> HashMap<String, Tensor> {
    let prefix = format!("{case}.");
    load("phantom_inputs.safetensors")
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v)))
        .collect()
}

fn outputs(case: &str, name: &str) -> Tensor {
    load("phantom_outputs.safetensors")
        .remove(&format!("{case}.{name}"))
        .unwrap_or_else(|| panic!("{case}.{name}"))
}

fn max_abs(t: &Tensor) -> f32 {
    t.abs().unwrap().max_all().unwrap().to_scalar().unwrap()
}

fn max_err(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes");
    max_abs(&(a.to_dtype(DType::F32).unwrap() - b.to_dtype(DType::F32).unwrap()).unwrap())
}

fn assert_rel(what: &str, ours: &Tensor, reference: &Tensor, tol: f32) {
    let (err, scale) = (max_err(ours, reference), max_abs(reference));
    eprintln!("{what}: max abs err {err:.3e}, scale {scale:.3e}");
    assert!(
        scale > 0.0 && err <= tol * scale,
        "{what}: {err} > {tol} x {scale}"
    );
}

fn assert_abs(what: &str, ours: &Tensor, reference: &Tensor, tol: f32) {
    let err = max_err(ours, reference);
    eprintln!("{what}: max abs err {err:.3e}");
    assert!(
        max_abs(reference) > 0.0 && err <= tol,
        "{what}: {err} > {tol}"
    );
}

fn pipeline(with_text: bool) -> PhantomPipeline {
    let dir = fixtures().join("tiny-phantom");
    PhantomPipeline::load(&dir, &dir, DType::F32, &Device::Cpu, with_text).unwrap()
}

fn rgb8(t: &Tensor) -> Reference {
    let (height, width, _) = t.dims3().unwrap();
    Reference::Rgb8 {
        width,
        height,
        data: t.flatten_all().unwrap().to_vec1::<u8>().unwrap(),
    }
}

fn rgb8_references(inputs: &HashMap<String, Tensor>) -> Vec<Reference> {
    (0..)
        .map_while(|i| inputs.get(&format!("reference_rgb8.{i}")))
        .map(rgb8)
        .collect()
}

#[test]
fn references_are_fitted_and_padded_exactly_as_phantom_does() {
    for case in ["a", "b"] {
        let inputs = case_inputs(case);
        let prepared = &inputs["reference_images"];
        for (i, r) in rgb8_references(&inputs).iter().enumerate() {
            let ours = prepare(r, 64, 48, &Device::Cpu).unwrap();
            let err = max_err(&ours, &prepared.get(i).unwrap());
            assert_eq!(err, 0.0, "case {case}, reference {i}");
        }
    }
}

#[test]
fn reference_latents_replacement_and_combination_each_match() {
    let pipe = pipeline(false);
    let inputs = case_inputs("a");
    let prepared = &inputs["reference_images"];
    let refs: Vec<Tensor> = (0..2).map(|i| prepared.get(i).unwrap()).collect();
    let ref_latents = pipe.reference_latents(&refs, 64, 48).unwrap();
    assert_rel(
        "reference latents",
        &ref_latents,
        &outputs("a", "reference_latents"),
        REL_TOL,
    );

    // Replacement, on the reference's own reference latents: exact.
    let noise = &inputs["latents"];
    let reference = outputs("a", "reference_latents");
    let x_ref = with_references(noise, &reference).unwrap();
    assert_eq!(max_err(&x_ref, &outputs("a", "step0.x_ref")), 0.0);
    let x_zero = with_references(noise, &reference.zeros_like().unwrap()).unwrap();
    assert_eq!(max_err(&x_zero, &outputs("a", "step0.x_zero")), 0.0);

    // Combination, on the reference's own three passes.
    let scales = GuidanceScales {
        image: 5.0,
        text: 7.5,
    };
    let (pos_it, pos_i, neg) = (
        outputs("a", "step0.pos_it"),
        outputs("a", "step0.pos_i"),
        outputs("a", "step0.neg"),
    );
    let pred = combine(&pos_it, &pos_i, &neg, scales).unwrap();
    assert_rel(
        "combination",
        &pred,
        &outputs("a", "step0.noise_pred"),
        1e-6,
    );
}

#[test]
fn each_of_the_three_passes_matches_the_transformer() {
    let dir = fixtures().join("tiny-phantom");
    let model = refvid_wan::loading::load_transformer(&dir, DType::F32, &Device::Cpu).unwrap();
    let inputs = case_inputs("a");
    let t = outputs("a", "timestep.0").to_dtype(DType::F32).unwrap();
    let (pos, neg) = (&inputs["prompt_embeds"], &inputs["negative_prompt_embeds"]);
    let (x_ref, x_zero) = (outputs("a", "step0.x_ref"), outputs("a", "step0.x_zero"));
    for (name, x, text) in [
        ("pos_it", &x_ref, pos),
        ("pos_i", &x_ref, neg),
        ("neg", &x_zero, neg),
    ] {
        let y = model.forward(x, &t, text, None).unwrap();
        assert_rel(name, &y, &outputs("a", &format!("step0.{name}")), REL_TOL);
    }
}

#[test]
fn every_step_and_the_frames_match_from_embeddings() {
    let pipe = pipeline(false);
    for (case, steps) in [("a", 3), ("b", 2)] {
        let req = check::request_from_inputs(&case_inputs(case)).unwrap();
        let mut seen = Vec::new();
        let latents = pipe
            .denoise(&req, &mut |s| {
                seen.push(s.latents.clone());
                true
            })
            .unwrap();
        assert_eq!(seen.len(), steps);
        for (i, l) in seen.iter().enumerate() {
            assert_rel(
                &format!("{case} latents {i}"),
                l,
                &outputs(case, &format!("latents.{i}")),
                REL_TOL,
            );
        }
        let video = pipe.decode(&latents, req.references.len()).unwrap();
        assert_abs(
            &format!("{case} video"),
            &video,
            &outputs(case, "video"),
            FRAME_TOL,
        );
    }
}

#[test]
fn the_parity_command_matches_in_both_layouts() {
    let dir = std::env::temp_dir().join(format!("refvid-phantom-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inputs = fixtures().join("phantom_check_inputs.safetensors");
    let mut videos = Vec::new();
    for model in ["tiny-phantom", "tiny-phantom-original"] {
        let out = dir.join(format!("{model}.safetensors"));
        run_check(&CheckArgs {
            model: fixtures().join(model),
            module: Module::Phantom,
            inputs: inputs.clone(),
            out: out.clone(),
            dtype: Precision::F32,
            device: DeviceKind::Cpu,
            cache: Default::default(),
            loras: Vec::new(),
        })
        .unwrap();
        let video = candle_core::safetensors::load(&out, &Device::Cpu)
            .unwrap()
            .remove("video")
            .unwrap();
        assert_abs(
            &format!("{model} video"),
            &video,
            &outputs("a", "video"),
            1e-3,
        );
        videos.push(video);
    }
    assert_eq!(
        max_err(&videos[0], &videos[1]),
        0.0,
        "both layouts give the same frames"
    );
}

#[test]
fn generating_from_text_and_images_matches() {
    let pipe = pipeline(true);
    let inputs = case_inputs("a");
    let cases: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("phantom_cases.json")).unwrap(),
    )
    .unwrap();
    let a = &cases["a"];
    let p = PhantomParams {
        prompt: a["prompt"].as_str().unwrap().into(),
        negative_prompt: a["negative"].as_str().unwrap().into(),
        references: rgb8_references(&inputs),
        width: 64,
        height: 48,
        num_frames: 9,
        steps: 3,
        scales: GuidanceScales {
            image: 5.0,
            text: 7.5,
        },
        shift: 5.0,
        seed: 0,
        initial_noise: Some(inputs["latents"].clone()),
        sampling: Default::default(),
    };
    assert_rel(
        "prompt embeds",
        &pipe.encode_prompt(&p.prompt).unwrap(),
        &inputs["prompt_embeds"],
        REL_TOL,
    );
    let video = pipe.generate(&p, &mut |_| true).unwrap();
    assert_abs("video from text", &video, &outputs("a", "video"), FRAME_TOL);
}
