//! The guidance passes of a step in one batch (`PassBatching::On`) against one forward per
//! pass (`Off`), on the tiny random-weight models (f32, CPU): the transformer alone (its blocks
//! kept or streamed), the VACE pipeline (two passes) and the Phantom pipeline (three passes, two
//! on the same latents), in every offload mode; the passes are counted one per guidance pass
//! either way.
//!
//! Tolerance: **1e-5 · max |sequential|**. The batch entries never mix (every operation of the
//! transformer works per entry), so the only difference is the order in which the matrix
//! products sum over taller inputs; measured: see the asserts' messages (0 or a few ulp).

use candle_core::{Device, Tensor};
use refvid_wan::batch::PassBatching;
use refvid_wan::models::phantom::PhantomPipeline;
use refvid_wan::offload::Offload;
use refvid_wan::pipeline::{GenerateParams, WanVacePipeline};
use refvid_wan::step_cache::CacheStats;
use refvid_wan::vace::VaceInput;

mod common;
use common::{fixtures, load_tensors, phantom_params, placement, tiny_vace, vace_case};

/// Asserts `got` is `want` within 1e-5 of `want`'s largest magnitude; returns the difference.
fn assert_close(what: &str, got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes");
    let scale = want
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let diff = (got - want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(
        diff <= 1e-5 * scale,
        "{what}: max abs difference {diff:e} (scale {scale})"
    );
    eprintln!("{what}: max abs difference {diff:e} (scale {scale})");
    diff
}

#[test]
fn forward_passes_equal_one_forward_per_pass() {
    let inputs = load_tensors("vace_inputs.safetensors");
    let scale: Vec<f32> = inputs["control_hidden_states_scale"].to_vec1().unwrap();
    // Entry 0 of the fixture's batch, with the texts of both entries: two passes.
    let x = inputs["hidden_states"].narrow(0, 0, 1).unwrap();
    let control = inputs["control_hidden_states"].narrow(0, 0, 1).unwrap();
    let texts: Vec<Tensor> = (0..2)
        .map(|i| inputs["encoder_hidden_states"].narrow(0, i, 1).unwrap())
        .collect();
    let vace = VaceInput {
        control: &control,
        scale: Some(&scale),
    };
    let ts = Tensor::new(&[321f32], &Device::Cpu).unwrap();
    let passes: Vec<_> = texts.iter().map(|text| (&x, text)).collect();
    for offload in [Offload::None, Offload::Blocks] {
        let model = tiny_vace(offload);
        let batched = model.forward_passes(&passes, &ts, Some(vace)).unwrap();
        assert_eq!(batched.len(), 2);
        if let Some(stream) = model.block_stream() {
            // 3 VACE + 4 main blocks, each streamed once for both passes (+ one prefetch).
            assert_eq!(stream.stats().loads, 7 + 1, "{:?}", stream.stats());
        }
        for (i, text) in texts.iter().enumerate() {
            let one = model.forward(&x, &ts, text, Some(vace)).unwrap();
            assert_close(
                &format!("transformer pass {i}, --offload {offload}"),
                &batched[i],
                &one,
            );
        }
        // The two texts differ, so the two predictions do too: the entries were not mixed up.
        let apart = (&batched[0] - &batched[1])
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(apart > 1e-3, "{apart}");
    }
}

/// The case of `pipeline_case.json`, 3 steps.
fn vace_params() -> GenerateParams {
    vace_case(3, 5)
}

/// The video and the transformer passes counted after the last step.
fn vace_video(
    batching: PassBatching,
    offload: Offload,
    p: &GenerateParams,
) -> (Tensor, CacheStats) {
    let mut pipe =
        WanVacePipeline::load_placed(&fixtures().join("tiny-vace-r2v"), &placement(offload), &[])
            .unwrap();
    assert_eq!(pipe.pass_batching(), PassBatching::Auto);
    pipe.set_pass_batching(batching);
    let mut seen = Vec::new();
    let video = pipe
        .generate_with(p, &mut |s| {
            seen.push(s.cache);
            true
        })
        .unwrap();
    assert_eq!(seen.len(), p.steps);
    (video, *seen.last().unwrap())
}

#[test]
fn vace_video_batched_equals_sequential() {
    let p = vace_params();
    let (sequential, passes) = vace_video(PassBatching::Off, Offload::None, &p);
    assert_eq!(passes.passes, 2 * p.steps);
    // `auto` batches a model this small (on a machine that reports its memory).
    for (batching, offload) in [
        (PassBatching::On, Offload::None),
        (PassBatching::Auto, Offload::None),
        (PassBatching::On, Offload::Model),
        (PassBatching::On, Offload::Blocks),
    ] {
        let (video, counted) = vace_video(batching, offload, &p);
        assert_close(
            &format!("vace video, --pass-batching {batching} --offload {offload}"),
            &video,
            &sequential,
        );
        assert_eq!(
            counted, passes,
            "{batching}, {offload}: one pass per guidance pass"
        );
    }
}

#[test]
fn a_step_cache_turns_batching_off() {
    // A step cache decides per pass, so the passes run one by one and the switch changes
    // nothing.
    let mut cached = vace_params();
    cached.sampling.cache = "first_block:0.5".parse().unwrap();
    let (a, a_passes) = vace_video(PassBatching::Off, Offload::None, &cached);
    let (b, b_passes) = vace_video(PassBatching::On, Offload::None, &cached);
    assert_eq!(assert_close("vace video with a step cache", &b, &a), 0.0);
    assert_eq!(a_passes, b_passes);
}

/// The video and the transformer passes counted after the last step.
fn phantom_video(batching: PassBatching, offload: Offload) -> (Tensor, usize) {
    let dir = fixtures().join("tiny-phantom");
    let mut pipe =
        PhantomPipeline::load_placed(&dir, &dir, &placement(offload), true, &[]).unwrap();
    assert_eq!(pipe.pass_batching(), PassBatching::Auto);
    pipe.set_pass_batching(batching);
    let mut passes = 0;
    let video = pipe
        .generate(&phantom_params(), &mut |s| {
            passes = s.cache.passes;
            true
        })
        .unwrap();
    (video, passes)
}

#[test]
fn phantom_video_batched_equals_sequential() {
    let (sequential, passes) = phantom_video(PassBatching::Off, Offload::None);
    assert_eq!(passes, 3 * phantom_params().steps);
    for offload in [Offload::None, Offload::Blocks] {
        let (video, counted) = phantom_video(PassBatching::On, offload);
        assert_close(
            &format!("phantom video, three passes batched, --offload {offload}"),
            &video,
            &sequential,
        );
        assert_eq!(counted, passes, "--offload {offload}");
    }
}
