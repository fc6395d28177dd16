//! `refvid wan bench --json` at tiny shapes on the CPU: one JSON line with every field of the
//! contract (`docs/PARITY.md`, "Bench"), of the right types and plausible; the table without
//! `--json`; clear refusals.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The tiny VACE fixture: `--shapes` reads its modules' config files.
fn tiny_shapes() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../refvid-wan/tests/fixtures/tiny-vace-r2v")
}

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args(["wan", "bench"])
        .args(args)
        .output()
        .unwrap()
}

fn json_line(shapes: &Path, engine: &str, offload: &str) -> Value {
    let out = bench(&[
        "--shapes",
        shapes.to_str().unwrap(),
        "--engine",
        engine,
        "--size",
        "64x32",
        "--frames",
        "5",
        "--steps",
        "2",
        "--dtype",
        "f32",
        "--device",
        "cpu",
        "--offload",
        offload,
        "--json",
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {stdout}");
    serde_json::from_str(lines[0]).unwrap()
}

fn number(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number: {v}"))
}

#[test]
fn json_has_every_contract_field_with_plausible_values() {
    let shapes = tiny_shapes();
    for (engine, passes, offload) in [("vace", 2, "none"), ("phantom", 3, "blocks")] {
        let v = json_line(&shapes, engine, offload);
        assert_eq!(v["shapes"], shapes.to_str().unwrap());
        assert_eq!(v["engine"], engine);
        assert_eq!(v["device"], "cpu");
        assert_eq!(v["dtype"], "f32");
        assert_eq!(v["offload"], offload);
        for (key, want) in [("width", 64), ("height", 32), ("frames", 5), ("steps", 2)] {
            assert_eq!(v[key].as_u64(), Some(want), "{key}: {v}");
        }
        assert_eq!(v["passes_per_step"].as_u64(), Some(passes), "{v}");
        for key in ["text_encode_s", "step_s", "vae_decode_s", "total_s"] {
            assert!(number(&v, key) > 0.0, "{key}: {v}");
        }
        let stages =
            number(&v, "text_encode_s") + number(&v, "step_s") + number(&v, "vae_decode_s");
        assert!(stages < number(&v, "total_s"), "{v}");
        let host = v["peak_host_bytes"]
            .as_u64()
            .expect("peak_host_bytes: an integer");
        assert!(host > 1 << 20 && host < 1 << 34, "{v}");
        assert!(v["peak_device_bytes"].is_null(), "{v}");
        assert_eq!(v["step_times_s"].as_array().map(Vec::len), Some(2), "{v}");
        assert!(number(&v, "init_s") > 0.0);
    }
}

#[test]
fn the_table_and_the_refusals() {
    let shapes = tiny_shapes();
    let shapes = shapes.to_str().unwrap();
    let small = ["--size", "64x32", "--frames", "5", "--steps", "1"];
    let out = bench(&[&["--shapes", shapes, "--dtype", "f32"][..], &small].concat());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{table}");
    for row in [
        "text encoding",
        "step",
        "VAE decoding",
        "total",
        "peak host",
    ] {
        assert!(table.contains(row), "{row}: {table}");
    }
    let out = bench(&[&["--shapes", "7b"][..], &small].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("1.3b, 14b"), "{err}");
    let out = bench(&[&["--shapes", shapes, "--offload", "layers"][..], &small].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("none, model or blocks"),
        "{err}"
    );
}
