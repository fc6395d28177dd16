//! Time and peak memory of the Wan VAE on random inputs.
//!
//! `cargo run --release -p refvid-wan --example vae_bench -- VAE_DIR decode|encode T H W [TILE]`
//!
//! `decode` takes latents `[1, z, T, H, W]`, `encode` pixels `[1, 3, T, H, W]`; `TILE` (pixels)
//! enables tiling with that tile size and a stride of three quarters of it. Prints the shape, the
//! wall time and the process's peak resident memory (`VmHWM`) before and after the call.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use refvid_wan::vae::{VaeTiling, WanVae};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> refvid_wan::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: vae_bench VAE_DIR decode|encode T H W [TILE]");
        std::process::exit(2);
    }
    let num = |i: usize| args[i].parse::<usize>().expect("a number");
    let (t, h, w) = (num(3), num(4), num(5));
    let tiling = args.get(6).map(|s| {
        let tile: usize = s.parse().expect("a tile size");
        VaeTiling {
            tile_sample_min_height: tile,
            tile_sample_min_width: tile,
            tile_sample_stride_height: tile * 3 / 4,
            tile_sample_stride_width: tile * 3 / 4,
        }
    });
    let dev = Device::Cpu;
    let vae = WanVae::load(args[1].as_ref(), DType::F32, &dev)?.with_tiling(tiling);
    let before = peak_rss_mib();
    let start = Instant::now();
    let out = match args[2].as_str() {
        "decode" => vae.decode(&Tensor::randn(
            0f32,
            1.,
            (1, vae.config().z_dim, t, h, w),
            &dev,
        )?)?,
        _ => vae.encode(&Tensor::rand(-1f32, 1., (1, 3, t, h, w), &dev)?)?,
    };
    println!(
        "{} [T={t}, {h}x{w}] -> {:?}: {:.2} s, peak RSS {before:.0} -> {:.0} MiB",
        args[2],
        out.dims(),
        start.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
    Ok(())
}
