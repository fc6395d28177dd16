//! Times the transformer forward on CPU.
//!
//! `cargo run --release -p refvid-wan --example bench_forward -- MODEL_DIR INPUTS.safetensors [RUNS] [BATCH]`
//! (inputs named as in docs/PARITY.md; the fixtures script's `--bench` and `scripts/bench_wide.py`
//! write larger models and inputs). With `BATCH` > 1 the inputs are repeated `BATCH` times along
//! the batch axis (what running the guidance passes in one batch does); the time of one forward
//! of the whole batch is printed with the time per batch entry.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use refvid_wan::loading::load_transformer;
use refvid_wan::vace::VaceInput;

/// `t` repeated `n` times along the batch axis.
fn repeat(t: &Tensor, n: usize) -> candle_core::Result<Tensor> {
    if n == 1 {
        return Ok(t.clone());
    }
    Tensor::cat(&vec![t; n], 0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model_dir, inputs) = match (args.first(), args.get(1)) {
        (Some(m), Some(i)) => (m, i),
        _ => return Err("usage: bench_forward MODEL_DIR INPUTS.safetensors [RUNS] [BATCH]".into()),
    };
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(20);
    let batch: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(1);
    let dev = Device::Cpu;
    let model = load_transformer(model_dir.as_ref(), DType::F32, &dev)?;
    let t = candle_core::safetensors::load(inputs, &dev)?;
    let scale: Option<Vec<f32>> = t
        .get("control_hidden_states_scale")
        .map(|s| s.to_vec1())
        .transpose()?;
    let hidden = repeat(&t["hidden_states"], batch)?;
    let text = repeat(&t["encoder_hidden_states"], batch)?;
    let ts = repeat(&t["timestep"].to_dtype(DType::F32)?, batch)?;
    let control = t
        .get("control_hidden_states")
        .map(|c| repeat(c, batch))
        .transpose()?;
    let run = || {
        let vace = control.as_ref().map(|c| VaceInput {
            control: c,
            scale: scale.as_deref(),
        });
        model.forward(&hidden, &ts, &text, vace)
    };
    for _ in 0..3 {
        run()?;
    }
    let t0 = Instant::now();
    for _ in 0..runs {
        run()?;
    }
    let ms = t0.elapsed().as_secs_f64() * 1e3 / runs as f64;
    let entries = hidden.dim(0)?;
    println!(
        "forward of batch {entries}: {ms:.3} ms, {:.3} ms per entry (mean of {runs})",
        ms / entries as f64
    );
    Ok(())
}
