//! Peak memory of one chunked attention call at the Wan2.1-1.3B width.
//!
//! `cargo run -p refvid-wan --example attn_mem -- [TOKENS] [HEADS] [HEAD_DIM]`
//! (defaults 32760 = 21·30·52 tokens of 480×832×81 frames, 12 heads × 128). Prints the process's
//! peak resident memory (VmHWM) after building Q, K, V and after the attention, and the time.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use refvid_wan::attention::{DEFAULT_MAX_SCORE_ELEMENTS, chunked_attention};

fn vm_hwm_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() -> candle_core::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(32760);
    let heads = args.get(1).copied().unwrap_or(12);
    let d = args.get(2).copied().unwrap_or(128);
    let dev = Device::Cpu;
    let q = Tensor::randn(0f32, 1., (1, heads, n, d), &dev)?;
    let k = Tensor::randn(0f32, 1., (1, heads, n, d), &dev)?;
    let v = Tensor::randn(0f32, 1., (1, heads, n, d), &dev)?;
    let qkv_mib = 3.0 * (heads * n * d * 4) as f64 / (1024.0 * 1024.0);
    let before = vm_hwm_mib();
    println!("tokens {n}, heads {heads}, head_dim {d}, f32; q+k+v = {qkv_mib:.0} MiB");
    println!("VmHWM after q, k, v: {before:.0} MiB");
    let t0 = Instant::now();
    let y = chunked_attention(
        &q,
        &k,
        &v,
        1.0 / (d as f64).sqrt(),
        DEFAULT_MAX_SCORE_ELEMENTS,
    )?;
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(y.dtype(), DType::F32);
    let after = vm_hwm_mib();
    let full_gib = (heads * n * n * 4) as f64 / (1024.0 * 1024.0 * 1024.0);
    println!(
        "VmHWM after attention: {after:.0} MiB (+{:.0} MiB for the call)",
        after - before
    );
    println!("a materialised f32 score matrix would be {full_gib:.1} GiB");
    println!("attention time: {secs:.1} s");
    Ok(())
}
