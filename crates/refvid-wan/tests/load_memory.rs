//! Loading keeps no more than the loaded weights resident (Linux: reads `/proc/self`).
//!
//! A sharded 256 MiB f32 checkpoint is loaded tensor by tensor, as a model load does, once
//! into f32 and once into bf16, with every tensor kept. The weight files must never be mapped
//! into the process (a map keeps every page it was read through resident: loading used to cost
//! twice the weights), and the peak resident memory of each load (`VmHWM`, reset before it
//! through `/proc/self/clear_refs`) must stay within 1.2× what the loaded tensors hold plus one
//! tensor of transient conversion buffer and 32 MiB for everything else. With the files mapped
//! the f32 peak would be about 2× and the bf16 one about 3× the bf16 tensors, far outside the
//! bounds. The test owns its process (one test in this binary) so no other test's allocations
//! count.

#![cfg(target_os = "linux")]

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use refvid_wan::loading::Checkpoint;

const MIB: usize = 1 << 20;
/// Tensors per shard and their size: 2 shards × 4 tensors × 32 MiB = 256 MiB of f32.
const SHARDS: usize = 2;
const PER_SHARD: usize = 4;
const TENSOR_BYTES: usize = 32 * MIB;

/// A kB field of `/proc/self/status`, in bytes.
fn status(field: &str) -> usize {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kb: usize = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

/// Resets the peak resident size to the current one.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting VmHWM");
}

/// Writes one shard without holding it in memory: rows of `[1024, 8192]` f32 values.
fn write_shard(path: &Path, shard: usize) {
    let cols = 8192;
    let rows = TENSOR_BYTES / 4 / cols;
    let mut header = serde_json::Map::new();
    for i in 0..PER_SHARD {
        let start = i * TENSOR_BYTES;
        header.insert(
            format!("w.{shard}.{i}"),
            serde_json::json!({ "dtype": "F32", "shape": [rows, cols],
                                "data_offsets": [start, start + TENSOR_BYTES] }),
        );
    }
    let mut text = serde_json::to_string(&header).unwrap().into_bytes();
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    w.write_all(&(text.len() as u64).to_le_bytes()).unwrap();
    w.write_all(&text).unwrap();
    let row: Vec<u8> = (0..cols)
        .flat_map(|c| (c as f32 * 0.001 + shard as f32).to_le_bytes())
        .collect();
    for _ in 0..PER_SHARD * rows {
        w.write_all(&row).unwrap();
    }
    w.flush().unwrap();
}

/// Whether a file is mapped into this process.
fn mapped(files: &[PathBuf]) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    files.iter().any(|f| maps.contains(f.to_str().unwrap()))
}

/// Loads every tensor in `dtype`, keeping them; returns the peak growth of resident memory over
/// the load and the bytes the tensors hold.
fn load_all(files: &[PathBuf], dtype: DType) -> (usize, usize, Vec<Tensor>) {
    let before = status("VmRSS:");
    reset_peak();
    let ckpt = Checkpoint::open(files).unwrap();
    let mut kept = Vec::new();
    for name in ckpt.names() {
        kept.push(ckpt.load(&name, dtype, &Device::Cpu).unwrap());
        assert!(
            !mapped(files),
            "a weight file is mapped while loading {name}"
        );
    }
    let peak = status("VmHWM:").saturating_sub(before);
    let held = kept
        .iter()
        .map(|t| t.elem_count() * t.dtype().size_in_bytes())
        .sum();
    drop(ckpt);
    (peak, held, kept)
}

#[test]
fn loading_keeps_only_the_loaded_weights_resident() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..SHARDS)
        .map(|s| {
            let path = dir.path().join(format!("model-{s:05}.safetensors"));
            write_shard(&path, s);
            path
        })
        .collect();
    let total = SHARDS * PER_SHARD * TENSOR_BYTES;
    for dtype in [DType::F32, DType::BF16] {
        let (peak, held, kept) = load_all(&files, dtype);
        assert_eq!(held, total / 4 * dtype.size_in_bytes(), "{dtype:?}");
        // The values arrived (the last tensor of the last shard: its first row).
        let first: Vec<f32> = kept
            .last()
            .unwrap()
            .get(0)
            .unwrap()
            .narrow(0, 0, 3)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec1()
            .unwrap();
        let want = [0usize, 1, 2].map(|c| {
            let v = c as f32 * 0.001 + (SHARDS - 1) as f32;
            Tensor::new(&[v], &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()[0]
        });
        assert_eq!(first, want, "{dtype:?}");
        let bound = held * 12 / 10 + TENSOR_BYTES + 32 * MIB;
        eprintln!(
            "{dtype:?}: loaded {} MiB, peak growth {} MiB (bound {} MiB)",
            held / MIB,
            peak / MIB,
            bound / MIB
        );
        assert!(
            peak <= bound,
            "{dtype:?}: resident memory grew by {} MiB loading {} MiB of tensors (bound {} MiB)",
            peak / MIB,
            held / MIB,
            bound / MIB
        );
        drop(kept);
    }
}
