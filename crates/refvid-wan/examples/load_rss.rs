//! Loads a transformer (any layout `refvid wan check --model` takes) on the CPU in a dtype and
//! prints the size of its weights and the process's peak resident memory (`VmHWM`), for the
//! loading-memory figures of the README:
//!
//! ```text
//! cargo run -p refvid-wan --example random_weights -- /tmp/vace13b diffusers f32
//! cargo run -p refvid-wan --example load_rss -- /tmp/vace13b/model f32
//! ```

use candle_core::{DType, Device};

fn status(field: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| {
            l[field.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .map_or(f64::NAN, |kb: f64| kb * 1024.0)
}

fn main() -> refvid_wan::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args.first().expect("usage: load_rss MODEL [f32|bf16]");
    let dtype = match args.get(1).map(String::as_str).unwrap_or("f32") {
        "bf16" => DType::BF16,
        _ => DType::F32,
    };
    let start = std::time::Instant::now();
    let model = refvid_wan::loading::load_transformer(model.as_ref(), dtype, &Device::Cpu)?;
    let secs = start.elapsed().as_secs_f64();
    let peak = status("VmHWM:");
    drop(model);
    // The files hold f32 (as `random_weights` writes them by default).
    let weights = f32_files_bytes(args[0].as_ref()) / 4.0 * dtype.size_in_bytes() as f64;
    let gib = (1u64 << 30) as f64;
    println!(
        "{dtype:?}: weights {:.2} GiB, peak RSS {:.2} GiB ({:.2}x), load {secs:.1} s",
        weights / gib,
        peak / gib,
        peak / weights
    );
    Ok(())
}

/// Bytes of the weight files under `dir` (not the check's `inputs.safetensors`).
fn f32_files_bytes(dir: &std::path::Path) -> f64 {
    let mut total = 0.0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            total += f32_files_bytes(&path);
        } else if name.ends_with(".safetensors") && name != "inputs.safetensors" {
            total += entry.metadata().map_or(0.0, |m| m.len() as f64);
        }
    }
    total
}
