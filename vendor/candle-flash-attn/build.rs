// Builds the flash-attention kernels refvid uses (head dim 128, bf16 and f16, no causal mask) into
// libflashattention.a. Trimmed from candle-flash-attn 0.11.1's build script:
// - three kernel files instead of 53, and the ALiBi, soft-capping, local-window, dropout and
//   uneven-head-dim variants compiled out (FLASHATTENTION_DISABLE_*), so one build takes minutes;
// - CUTLASS's headers come from $CUTLASS_DIR (scripts/cuda/cutlass.sh unpacks PyPI's
//   nvidia-cutlass 3.5.1.0 there) instead of a git clone from GitHub;
// - kernels/cu13shim.h is included first: CUDA 13 dropped the unversioned PFN_cuTensorMapEncode*
//   typedefs CUTLASS 3.5 uses.
// CANDLE_FLASH_ATTN_BUILD_DIR keeps the compiled objects between builds, as upstream.
use cudaforge::{KernelBuilder, Result};
use std::{fs, path::PathBuf};

const KERNEL_FILES: [&str; 3] = [
    "kernels/flash_api.cu",
    "kernels/flash_fwd_hdim128_bf16_sm80.cu",
    "kernels/flash_fwd_hdim128_fp16_sm80.cu",
];

const HEADER_FILES: [&str; 19] = [
    "kernels/alibi.h",
    "kernels/block_info.h",
    "kernels/cu13shim.h",
    "kernels/dropout.h",
    "kernels/error.h",
    "kernels/flash.h",
    "kernels/flash_fwd_kernel.h",
    "kernels/flash_fwd_launch_template.h",
    "kernels/hardware_info.h",
    "kernels/kernel_helpers.h",
    "kernels/kernel_traits.h",
    "kernels/kernel_traits_sm90.h",
    "kernels/kernels.h",
    "kernels/mask.h",
    "kernels/philox.cuh",
    "kernels/rotary.h",
    "kernels/softmax.h",
    "kernels/static_switch.h",
    "kernels/utils.h",
];

fn update_hash(hash: &mut u64, bytes: &[u8]) {
    const FNV_PRIME: u64 = 1099511628211;
    for &byte in bytes {
        *hash ^= u64::from(byte);
        *hash = hash.wrapping_mul(FNV_PRIME);
    }
}

fn header_hash() -> Result<u64> {
    let mut hash = 14695981039346656037;
    for file in HEADER_FILES {
        update_hash(&mut hash, file.as_bytes());
        update_hash(&mut hash, &fs::read(file)?);
    }
    Ok(hash)
}

/// `$CUTLASS_DIR`, checked to hold CUTLASS's `include/` and `tools/util/include/`.
fn cutlass_dir() -> PathBuf {
    let dir = std::env::var_os("CUTLASS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        panic!("CUTLASS_DIR is not set: run scripts/cuda/cutlass.sh and source the env.sh it names")
    });
    for sub in [
        "include/cutlass/cutlass.h",
        "tools/util/include/cutlass/util/debug.h",
    ] {
        assert!(
            dir.join(sub).is_file(),
            "CUTLASS_DIR={} lacks {sub} (scripts/cuda/cutlass.sh unpacks the headers)",
            dir.display()
        );
    }
    dir
}

fn main() -> Result<()> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CUTLASS_DIR");
    for file in KERNEL_FILES.iter().chain(HEADER_FILES.iter()) {
        println!("cargo::rerun-if-changed={file}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR not set"));
    let build_dir = match std::env::var("CANDLE_FLASH_ATTN_BUILD_DIR") {
        Err(_) => out_dir,
        Ok(dir) => PathBuf::from(&dir)
            .canonicalize()
            .unwrap_or_else(|e| panic!("CANDLE_FLASH_ATTN_BUILD_DIR={dir}: {e}")),
    };
    let cutlass = cutlass_dir();
    let shim = fs::canonicalize("kernels/cu13shim.h")?;

    let header_hash_arg = format!("-DCANDLE_FLASH_ATTN_HEADER_HASH=0x{:016x}", header_hash()?);
    let builder = KernelBuilder::new()
        .source_files(KERNEL_FILES.to_vec())
        .out_dir(&build_dir)
        .include_path(cutlass.join("include"))
        .include_path(cutlass.join("tools/util/include"))
        .arg("-include")
        .arg(shim.to_str().expect("utf-8 path"))
        .arg("-std=c++17")
        .arg("-O3")
        .arg("-U__CUDA_NO_HALF_OPERATORS__")
        .arg("-U__CUDA_NO_HALF_CONVERSIONS__")
        .arg("-U__CUDA_NO_HALF2_OPERATORS__")
        .arg("-U__CUDA_NO_BFLOAT16_CONVERSIONS__")
        .arg("-DFLASHATTENTION_DISABLE_ALIBI")
        .arg("-DFLASHATTENTION_DISABLE_SOFTCAP")
        .arg("-DFLASHATTENTION_DISABLE_LOCAL")
        .arg("-DFLASHATTENTION_DISABLE_DROPOUT")
        .arg("-DFLASHATTENTION_DISABLE_UNEVEN_K")
        .arg("--expt-relaxed-constexpr")
        .arg("--expt-extended-lambda")
        .arg("--use_fast_math")
        .arg(&header_hash_arg)
        .thread_percentage(0.5);

    let out_file = build_dir.join("libflashattention.a");
    builder.build_lib(out_file)?;

    println!("cargo::rustc-link-search={}", build_dir.display());
    println!("cargo::rustc-link-lib=flashattention");
    println!("cargo::rustc-link-lib=dylib=cudart");
    println!("cargo::rustc-link-lib=dylib=stdc++");
    Ok(())
}
