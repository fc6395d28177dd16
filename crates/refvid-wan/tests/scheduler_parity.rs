//! Parity of the flow-matching schedulers with diffusers (fixtures from
//! `scripts/make_pipeline_fixtures.py`).
//!
//! Tolerances:
//! - schedules: sigmas (f32) and timesteps **bit-identical** to diffusers' for every case;
//! - multi-step runs: after every step, max |ours − diffusers| ≤ `RUN_REL_TOL` · max |diffusers|
//!   (the scalar coefficients are f32 like torch's 0-d tensors, but the 2×2/3×3 solves and the
//!   weighted sums are not the same floating-point operations).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use refvid_wan::scheduler::{FlowScheduler, SchedulerConfig, from_config};
use serde::Deserialize;

mod common;
use common::fixtures;

/// Relative tolerance of every intermediate sample of a run.
const RUN_REL_TOL: f32 = 2e-6;

fn load(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join(name), &Device::Cpu).expect(name)
}

#[derive(Deserialize)]
struct Case {
    name: String,
    kind: String,
    n: usize,
    config: serde_json::Value,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("scheduler_cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn scheduler(case: &Case) -> Box<dyn FlowScheduler> {
    let cfg = SchedulerConfig::from_json(&case.config, Path::new(&case.name)).unwrap();
    let mut s = from_config(&cfg);
    s.set_timesteps(case.n).unwrap();
    s
}

#[test]
fn schedules_are_bit_identical() {
    let reference = load("scheduler_schedules.safetensors");
    let mut checked = 0;
    for case in cases().iter().filter(|c| c.kind == "schedule") {
        let s = scheduler(case);
        let sigmas: Vec<f32> = reference[&format!("{}.sigmas", case.name)]
            .to_vec1()
            .unwrap();
        let ts = &reference[&format!("{}.timesteps", case.name)];
        let timesteps: Vec<f64> = ts.to_dtype(DType::F64).unwrap().to_vec1().unwrap();
        assert_eq!(s.sigmas(), &sigmas[..], "{}: sigmas", case.name);
        assert_eq!(s.timesteps(), &timesteps[..], "{}: timesteps", case.name);
        assert_eq!(s.timesteps().len(), case.n, "{}", case.name);
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} schedule cases");
}

#[test]
fn runs_match_step_by_step() {
    let reference = load("scheduler_runs.safetensors");
    let runs: Vec<Case> = cases().into_iter().filter(|c| c.kind == "run").collect();
    assert_eq!(runs.len(), 3);
    for case in &runs {
        let mut s = scheduler(case);
        let mut x = reference[&format!("{}.sample", case.name)].clone();
        let mut worst = 0f32;
        for i in 0..case.n {
            let v = &reference[&format!("{}.model_output.{i}", case.name)];
            x = s.step(v, i, &x).unwrap();
            let r = &reference[&format!("{}.prev_sample.{i}", case.name)];
            let err: f32 = (&x - r)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            let scale: f32 = r.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
            assert!(scale > 0.0);
            worst = worst.max(err / scale);
            assert!(
                err <= RUN_REL_TOL * scale,
                "{} step {i}: max abs err {err:e} > {RUN_REL_TOL} x {scale}",
                case.name
            );
        }
        eprintln!(
            "{}: worst relative error over {} steps {worst:.3e}",
            case.name, case.n
        );
    }
}

#[test]
fn pipeline_folder_scheduler_is_the_wan_config() {
    let cfg = SchedulerConfig::load(&fixtures().join("tiny-vace")).unwrap();
    assert_eq!(
        cfg,
        SchedulerConfig::UniPc(refvid_wan::scheduler::UniPcConfig::wan(3.0))
    );
}
