//! The pipelines count their transformer passes: after every step the callback's
//! `StepState::cache` holds the passes so far and what a step cache skipped, with or without a
//! cache, for VACE (2 passes per step with guidance, 1 without) and Phantom (3, or 1 with guidance
//! off). These counts are what `examples/bench_presets.rs` reports per preset.

use candle_core::{DType, Device};
use refvid_wan::models::phantom::{GuidanceScales, PhantomParams, PhantomPipeline};
use refvid_wan::pipeline::{GenerateParams, Reference, WanVacePipeline};
use refvid_wan::step_cache::{CacheConfig, CacheStats};

mod common;
use common::fixtures;

fn reference() -> Reference {
    Reference::Rgb8 {
        width: 8,
        height: 8,
        data: (0..8 * 8 * 3).map(|i| (i * 5 % 256) as u8).collect(),
    }
}

/// The stats after every step of a VACE run.
fn vace_steps(guidance: f64, steps: usize, cache: CacheConfig) -> Vec<CacheStats> {
    let pipe =
        WanVacePipeline::load(&fixtures().join("tiny-vace-r2v"), DType::F32, &Device::Cpu).unwrap();
    let mut p = GenerateParams::new("a red fox");
    p.negative_prompt = "blurry".into();
    p.references = vec![reference()];
    (p.width, p.height, p.num_frames, p.steps, p.guidance) = (32, 32, 5, steps, guidance);
    p.sampling.cache = cache;
    let mut seen = Vec::new();
    pipe.generate_with(&p, &mut |s| {
        assert_eq!(s.step, seen.len() + 1);
        seen.push(s.cache);
        true
    })
    .unwrap();
    seen
}

/// Passes and main blocks run of `passes` uncached passes of the 4-block tiny VACE model.
fn full(passes: usize) -> CacheStats {
    CacheStats {
        passes,
        skipped_passes: 0,
        blocks_run: 4 * passes,
        blocks_skipped: 0,
    }
}

#[test]
fn vace_counts_two_passes_per_step_with_guidance_and_one_without() {
    let with = vace_steps(5.0, 3, CacheConfig::None);
    assert_eq!(with, vec![full(2), full(4), full(6)]);
    let without = vace_steps(1.0, 3, CacheConfig::None);
    assert_eq!(without, vec![full(1), full(2), full(3)]);
}

#[test]
fn vace_reports_what_the_cache_skipped_after_every_step() {
    // A threshold no change reaches: each guidance pass runs in full once, then only its head
    // block (1 of 4) runs.
    let cache = CacheConfig::FirstBlock { threshold: 1e9 };
    let seen = vace_steps(5.0, 4, cache);
    assert_eq!(seen[0], full(2));
    let last = seen[3];
    assert_eq!(
        last,
        CacheStats {
            passes: 8,
            skipped_passes: 6,
            blocks_run: 2 * 4 + 6,
            blocks_skipped: 6 * 3,
        }
    );
}

#[test]
fn phantom_counts_three_passes_per_step_and_one_with_guidance_off() {
    let dir = fixtures().join("tiny-phantom");
    let pipe = PhantomPipeline::load(&dir, &dir, DType::F32, &Device::Cpu, true).unwrap();
    let run = |scales: GuidanceScales| {
        let p = PhantomParams {
            prompt: "a red fox".into(),
            negative_prompt: "blurry".into(),
            references: vec![reference()],
            width: 32,
            height: 32,
            num_frames: 5,
            steps: 2,
            scales,
            shift: 5.0,
            seed: 3,
            initial_noise: None,
            sampling: Default::default(),
        };
        let mut seen = Vec::new();
        pipe.generate(&p, &mut |s| {
            seen.push(s.cache.passes);
            true
        })
        .unwrap();
        seen
    };
    assert_eq!(run(GuidanceScales::default()), vec![3, 6]);
    assert_eq!(run(GuidanceScales::OFF), vec![1, 2]);
}
