//! `--offload model` and `--offload blocks` against the in-memory run (`none`), on the tiny
//! random-weight pipelines (`tiny-vace-r2v`, `tiny-phantom`; f32, CPU).
//!
//! Tolerance: **exact**. Offloading changes where the weights wait between uses, not the
//! weights (the same tensors are read from the same checkpoint into the same dtype) nor the
//! computation (the same code runs the blocks in the same order); on the CPU the prefetch thread
//! only builds the next block. So every output is compared bit for bit, with and without a step
//! cache and with the VAE tiled the same way on both sides. The streaming itself is checked by
//! its counters: every block is loaded once per pass, blocks a step cache skips are not loaded,
//! per-stage modules are built for every stage.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{DType, Device, Tensor};
use refvid_wan::lora::LoraSpec;
use refvid_wan::models::phantom::{PhantomParams, PhantomPipeline};
use refvid_wan::offload::{Offload, Placement, Staged, load};
use refvid_wan::pipeline::{GenerateParams, PromptEncoder, WanVacePipeline};
use refvid_wan::scheduler::{NoiseSource, SchedulerConfig};
use refvid_wan::step_cache::{CacheConfig, CacheStats};
use refvid_wan::tokenizer::{PromptTokenizer, TEXT_LEN};
use refvid_wan::transformer::{BlockHook, WanTransformer};
use refvid_wan::vace::VaceInput;
use refvid_wan::vae::VaeTiling;

mod common;
use common::{fixtures, load_tensors, phantom_params, placement, tiny_vace, vace_case};

/// Asserts two tensors are equal bit for bit.
fn assert_identical(what: &str, a: &Tensor, b: &Tensor) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
    let differing = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x.to_bits() != y.to_bits())
        .count();
    assert_eq!(
        differing,
        0,
        "{what}: {differing} of {} values differ",
        a.len()
    );
}

// ---- VACE ------------------------------------------------------------------------------------

/// The case of `pipeline_case.json` with `steps` and a step cache.
fn vace_params(steps: usize, cache: CacheConfig) -> GenerateParams {
    let mut p = vace_case(steps, 7);
    p.sampling.cache = cache;
    p
}

/// The video and what the step cache skipped, generating through the pipeline's stages.
fn vace_run(pipe: &WanVacePipeline, p: &GenerateParams) -> (Tensor, CacheStats) {
    let req = pipe.encode_request(p).unwrap();
    let context = pipe.context_for(&req).unwrap();
    let mut scheduler = pipe
        .scheduler_for(&req, NoiseSource::Seeded(req.seed))
        .unwrap();
    let mut cache = pipe.step_cache_for(&req).unwrap();
    let latents = pipe
        .denoise_with_scheduler(&req, &context, scheduler.as_mut(), &mut cache, &mut |_| {
            true
        })
        .unwrap();
    let video = pipe.decode(&latents, req.references.len()).unwrap();
    (video, cache.stats())
}

fn vace_pipeline(at: &Placement) -> WanVacePipeline {
    WanVacePipeline::load_placed(&fixtures().join("tiny-vace-r2v"), at, &[]).unwrap()
}

#[test]
fn vace_video_is_identical_in_every_offload_mode() {
    let p = vace_params(3, CacheConfig::None);
    let (reference, _) = vace_run(&vace_pipeline(&placement(Offload::None)), &p);
    for offload in [Offload::Model, Offload::Blocks] {
        let pipe = vace_pipeline(&placement(offload));
        let (video, _) = vace_run(&pipe, &p);
        assert_identical(
            &format!("vace video, --offload {offload}"),
            &video,
            &reference,
        );
        // And through the one-call entry point the engines use.
        let again = pipe.generate(&p, &mut |_, _| true).unwrap();
        assert_identical(
            &format!("vace generate, --offload {offload}"),
            &again,
            &reference,
        );
    }
}

#[test]
fn vace_with_a_step_cache_is_identical_in_every_offload_mode() {
    // The fbc_cfg case of fast/caches.json: First-Block-Cache 0.5 skips passes here.
    let p = vace_params(12, "first_block:0.5".parse().unwrap());
    let (reference, stats) = vace_run(&vace_pipeline(&placement(Offload::None)), &p);
    assert!(
        stats.skipped_passes > 0,
        "the cache skipped nothing: {stats:?}"
    );
    for offload in [Offload::Model, Offload::Blocks] {
        let (video, s) = vace_run(&vace_pipeline(&placement(offload)), &p);
        assert_identical(
            &format!("cached vace video, --offload {offload}"),
            &video,
            &reference,
        );
        assert_eq!(s, stats, "--offload {offload}");
    }
}

#[test]
fn tiled_decoding_is_identical_offloaded_or_not() {
    // Tiles smaller than the 64×48 frames, so the VAE really tiles on both sides.
    let tiles = Some(VaeTiling {
        tile_sample_min_height: 32,
        tile_sample_min_width: 32,
        tile_sample_stride_height: 16,
        tile_sample_stride_width: 16,
    });
    let p = vace_params(2, CacheConfig::None);
    let kept = placement(Offload::None).with_vae_tiling(tiles);
    let (reference, _) = vace_run(&vace_pipeline(&kept), &p);
    let (untiled, _) = vace_run(&vace_pipeline(&placement(Offload::None)), &p);
    let streamed = placement(Offload::Blocks).with_vae_tiling(tiles);
    let (video, _) = vace_run(&vace_pipeline(&streamed), &p);
    assert_identical("tiled video, --offload blocks", &video, &reference);
    let seams = (&reference - &untiled).unwrap().abs().unwrap();
    let seams: f32 = seams.max_all().unwrap().to_scalar().unwrap();
    assert!(seams > 0.0, "the tiles were not used");
}

// ---- Phantom ---------------------------------------------------------------------------------

/// The video and what the step cache skipped.
fn phantom_run(offload: Offload, p: &PhantomParams, loras: &[LoraSpec]) -> (Tensor, CacheStats) {
    let dir = fixtures().join("tiny-phantom");
    let pipe = PhantomPipeline::load_placed(&dir, &dir, &placement(offload), true, loras).unwrap();
    let mut stats = CacheStats::default();
    let video = pipe
        .generate(p, &mut |s| {
            stats = s.cache;
            true
        })
        .unwrap();
    (video, stats)
}

fn phantom_video(offload: Offload, p: &PhantomParams, loras: &[LoraSpec]) -> Tensor {
    phantom_run(offload, p, loras).0
}

#[test]
fn phantom_video_is_identical_in_every_offload_mode() {
    let p = phantom_params();
    let reference = phantom_video(Offload::None, &p, &[]);
    for offload in [Offload::Model, Offload::Blocks] {
        let video = phantom_video(offload, &p, &[]);
        assert_identical(
            &format!("phantom video, --offload {offload}"),
            &video,
            &reference,
        );
    }
}

#[test]
fn phantom_with_a_step_cache_and_a_lora_is_identical_streamed() {
    // The phantom_fbc case of fast/phantom_caches.json (First-Block-Cache 0.6, 10 steps, which
    // skips passes) and the original_phantom LoRA of fast/loras.json, merged as each streamed
    // block is built.
    let mut p = phantom_params();
    p.steps = 10;
    p.sampling.cache = "first_block:0.6".parse().unwrap();
    let lora = [LoraSpec {
        path: fixtures().join("fast/lora/original_phantom.safetensors"),
        scale: 0.9,
    }];
    let (reference, stats) = phantom_run(Offload::None, &p, &lora);
    assert!(
        stats.skipped_passes > 0,
        "the cache skipped nothing: {stats:?}"
    );
    let (video, streamed_stats) = phantom_run(Offload::Blocks, &p, &lora);
    assert_eq!(streamed_stats, stats);
    assert_identical(
        "cached phantom video with a LoRA, --offload blocks",
        &video,
        &reference,
    );
    let plain = phantom_video(Offload::None, &p, &[]);
    let moved: f32 = (&plain - &reference)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(moved > 0.0, "the LoRA changed nothing");
}

// ---- What streams, and when ------------------------------------------------------------------

/// The VACE transformer case of `vace_inputs.safetensors` (4 main blocks, 3 VACE blocks).
fn vace_forward(model: &WanTransformer, hook: Option<&mut dyn BlockHook>) -> Tensor {
    let inputs = load_tensors("vace_inputs.safetensors");
    let scale: Vec<f32> = inputs["control_hidden_states_scale"].to_vec1().unwrap();
    let vace = VaceInput {
        control: &inputs["control_hidden_states"],
        scale: Some(&scale),
    };
    model
        .forward_hooked(
            &inputs["hidden_states"],
            &inputs["timestep"].to_dtype(DType::F32).unwrap(),
            &inputs["encoder_hidden_states"],
            Some(vace),
            hook,
        )
        .unwrap()
}

#[test]
fn streamed_blocks_are_loaded_once_per_pass_and_match() {
    let kept = tiny_vace(Offload::None);
    assert!(kept.block_stream().is_none());
    let streamed = tiny_vace(Offload::Blocks);
    let reference = vace_forward(&kept, None);
    for pass in 1..=2 {
        assert_identical(
            "streamed forward",
            &vace_forward(&streamed, None),
            &reference,
        );
        let s = streamed.block_stream().unwrap().stats();
        // 3 VACE + 4 main blocks per pass; all but the very first come from the prefetch, and
        // one prefetch (the next pass's first block) is in flight.
        assert_eq!(s.loads, 7 * pass + 1, "pass {pass}: {s:?}");
        assert_eq!(s.prefetch_hits, 7 * pass - 1, "pass {pass}: {s:?}");
        assert_eq!(s.discarded, 0);
    }
}

/// Runs block 0 and stands in for every later block with its input.
struct SkipAfterFirst;

impl BlockHook for SkipAfterFirst {
    fn block(
        &mut self,
        index: usize,
        _count: usize,
        x: &Tensor,
        run: &mut dyn FnMut(&Tensor) -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Tensor> {
        if index == 0 { run(x) } else { Ok(x.clone()) }
    }
}

#[test]
fn blocks_a_hook_skips_are_not_loaded() {
    let kept = tiny_vace(Offload::None);
    let streamed = tiny_vace(Offload::Blocks);
    let reference = vace_forward(&kept, Some(&mut SkipAfterFirst));
    let ours = vace_forward(&streamed, Some(&mut SkipAfterFirst));
    assert_identical("forward with skipped blocks", &ours, &reference);
    let s = streamed.block_stream().unwrap().stats();
    // 3 VACE blocks and main block 0 asked for; the prefetch of main block 1 went unused and
    // the next request (none yet) would discard it: 4 used + 1 prefetched = 5 loads.
    assert_eq!((s.loads, s.prefetch_hits), (5, 3), "{s:?}");
}

#[test]
fn per_stage_transformers_are_built_for_each_denoising_loop() {
    let dir = fixtures().join("tiny-vace-r2v");
    let at = placement(Offload::Blocks);
    let (config, staged) = load::transformer(&dir, &at, &[]).unwrap();
    let builds = Arc::new(AtomicUsize::new(0));
    let counted = {
        let builds = builds.clone();
        Staged::per_stage(move || {
            builds.fetch_add(1, Ordering::Relaxed);
            Ok((*staged.get()?).clone())
        })
    };
    let text = PromptEncoder::staged(
        PromptTokenizer::from_model_dir(&dir, TEXT_LEN).unwrap(),
        load::text_encoder(&dir, &at).unwrap(),
        DType::F32,
        Device::Cpu,
    );
    let pipe = WanVacePipeline::assemble(
        text,
        config,
        counted,
        load::vae(&dir, &at).unwrap(),
        SchedulerConfig::load_or_wan(&dir, 3.0).unwrap(),
        DType::F32,
        Device::Cpu,
    )
    .unwrap();
    let p = vace_params(2, CacheConfig::None);
    let (video, _) = vace_run(&pipe, &p);
    assert_eq!(builds.load(Ordering::Relaxed), 1);
    let (reference, _) = vace_run(&vace_pipeline(&placement(Offload::None)), &p);
    assert_identical("assembled blocks pipeline", &video, &reference);
    vace_run(&pipe, &p);
    assert_eq!(builds.load(Ordering::Relaxed), 2);
}

#[test]
fn streamed_text_encoder_matches_and_streams_its_layers() {
    let dir = fixtures().join("tiny-vace-r2v");
    let kept = load::text_encoder(&dir, &placement(Offload::None)).unwrap();
    let streamed = load::text_encoder(&dir, &placement(Offload::Blocks)).unwrap();
    let inputs = load_tensors("text_encoder_inputs.safetensors");
    let (ids, mask) = (&inputs["input_ids"], &inputs["attention_mask"]);
    let reference = kept.get().unwrap().forward(ids, Some(mask)).unwrap();
    let encoder = streamed.get().unwrap();
    let ours = encoder.forward(ids, Some(mask)).unwrap();
    assert_identical("streamed text encoder", &ours, &reference);
    let s = encoder.block_stream().unwrap().stats();
    assert_eq!((s.loads, s.prefetch_hits), (4, 2), "3 layers: {s:?}");
}

/// `wan check` with `--offload blocks` (and `model`) writes the same outputs as without, for
/// every module that loads a model.
#[test]
fn the_check_command_gives_the_same_outputs_in_every_offload_mode() {
    use refvid_wan::offload::TilingChoice;
    use refvid_wan::runtime::{DeviceKind, Precision};
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("transformer", "tiny-vace", "vace_inputs.safetensors"),
        (
            "text_encoder",
            "tiny-vace/text_encoder",
            "text_encoder_inputs.safetensors",
        ),
        ("vae_decode", "tiny-vace", "vae_decode_inputs.safetensors"),
        ("pipeline", "tiny-vace-r2v", "pipeline_inputs.safetensors"),
    ];
    for (module, model, inputs) in cases {
        let run = |offload: Offload| {
            let out = dir.path().join(format!("{module}-{offload}.safetensors"));
            let args = refvid_wan::CheckArgs {
                model: fixtures().join(model),
                module: module.parse().unwrap(),
                inputs: fixtures().join(inputs),
                out: out.clone(),
                dtype: Precision::F32,
                device: DeviceKind::Cpu,
                cache: Default::default(),
                loras: Vec::new(),
            };
            // Tiles only where the frames are larger than one (not here): exact either way.
            let place = refvid_wan::check::CheckPlacement {
                offload,
                vae_tiling: TilingChoice::Auto,
            };
            refvid_wan::check::run_check_placed(&args, place)
                .unwrap_or_else(|e| panic!("{module} --offload {offload}: {e}"));
            candle_core::safetensors::load(&out, &Device::Cpu).unwrap()
        };
        let reference = run(Offload::None);
        for offload in [Offload::Model, Offload::Blocks] {
            let got = run(offload);
            assert_eq!(got.len(), reference.len(), "{module}");
            for (name, want) in &reference {
                assert_identical(
                    &format!("{module} {name}, --offload {offload}"),
                    &got[name],
                    want,
                );
            }
        }
    }
}
