//! Times the transformer forward on CPU.
//!
//! `cargo run -p refvid-wan --example bench_forward -- MODEL_DIR INPUTS.safetensors [RUNS]`
//! (inputs named as in docs/PARITY.md; the fixtures script's `--bench` writes a larger model and inputs).

use std::time::Instant;

use candle_core::{DType, Device};
use refvid_wan::loading::load_transformer;
use refvid_wan::vace::VaceInput;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model_dir, inputs) = match (args.first(), args.get(1)) {
        (Some(m), Some(i)) => (m, i),
        _ => return Err("usage: bench_forward MODEL_DIR INPUTS.safetensors [RUNS]".into()),
    };
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(20);
    let dev = Device::Cpu;
    let model = load_transformer(model_dir.as_ref(), DType::F32, &dev)?;
    let t = candle_core::safetensors::load(inputs, &dev)?;
    let scale: Option<Vec<f32>> = t
        .get("control_hidden_states_scale")
        .map(|s| s.to_vec1())
        .transpose()?;
    let ts = t["timestep"].to_dtype(DType::F32)?;
    let run = || {
        let vace = t.get("control_hidden_states").map(|c| VaceInput {
            control: c,
            scale: scale.as_deref(),
        });
        model.forward(&t["hidden_states"], &ts, &t["encoder_hidden_states"], vace)
    };
    for _ in 0..3 {
        run()?;
    }
    let t0 = Instant::now();
    for _ in 0..runs {
        run()?;
    }
    let ms = t0.elapsed().as_secs_f64() * 1e3 / runs as f64;
    println!("forward: {ms:.3} ms (mean of {runs})");
    Ok(())
}
