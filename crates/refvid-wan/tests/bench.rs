//! `refvid wan bench` as a library call: tiny shapes (the tiny fixtures' configs) on the CPU,
//! both engines, every offload mode; the report's fields and their plausibility.

use std::path::PathBuf;

use refvid_wan::bench::{BenchEngine, BenchOptions, BenchReport, ShapesArg, run};
use refvid_wan::offload::Offload;
use refvid_wan::runtime::{DeviceKind, Precision};

/// The tiny VACE fixture: `--shapes` reads its modules' config files.
fn tiny_shapes() -> ShapesArg {
    ShapesArg::Folder(fixture("tiny-vace-r2v"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn options(shapes: ShapesArg, engine: BenchEngine, offload: Offload) -> BenchOptions {
    BenchOptions {
        shapes,
        engine,
        width: 64,
        height: 32,
        frames: 5,
        steps: 2,
        precision: Precision::F32,
        device: DeviceKind::Cpu,
        offload,
        references: 1,
    }
}

fn check_plausible(r: &BenchReport, passes: usize) {
    assert_eq!(r.passes_per_step, passes);
    assert_eq!((r.width, r.height, r.frames, r.steps), (64, 32, 5, 2));
    assert_eq!((r.device.as_str(), r.dtype.as_str()), ("cpu", "f32"));
    // (5 − 1)/4 + 1 = 2 latent frames + 1 reference, 32/16 × 64/16 patches.
    assert_eq!(r.tokens, 3 * 2 * 4);
    assert_eq!(r.step_times_s.len(), 2);
    assert!(r.step_times_s.iter().all(|&t| t > 0.0));
    assert!(r.step_s > 0.0 && r.step_s == r.step_times_s[1]);
    assert_eq!(r.first_step_s, r.step_times_s[0]);
    assert!(r.init_s > 0.0 && r.text_encode_s > 0.0 && r.vae_decode_s > 0.0);
    let parts = r.text_encode_s + r.vae_encode_s.unwrap_or(0.0) + r.denoise_s + r.vae_decode_s;
    assert!(
        parts <= r.total_s + 1e-9 && r.total_s < parts * 1.5 + 0.05,
        "{r:?}"
    );
    let steps: f64 = r.step_times_s.iter().sum();
    assert!((steps - r.denoise_s).abs() < 1e-9, "{r:?}");
    assert!(r.peak_host_bytes.unwrap() > 1 << 20);
    assert_eq!(r.peak_device_bytes, None);
    assert!(r.output_finite);
}

#[test]
fn vace_and_phantom_run_at_tiny_shapes_in_every_offload_mode() {
    for offload in Offload::ALL {
        let vace = run(&options(tiny_shapes(), BenchEngine::Vace, offload)).unwrap();
        check_plausible(&vace, 2);
        assert!(vace.vae_encode_s.is_some_and(|s| s > 0.0), "{vace:?}");
        assert_eq!(
            (vace.engine.as_str(), vace.offload.clone()),
            ("vace", offload.to_string())
        );
        let phantom = run(&options(tiny_shapes(), BenchEngine::Phantom, offload)).unwrap();
        check_plausible(&phantom, 3);
        assert_eq!(phantom.vae_encode_s, None);
        assert_eq!(phantom.engine, "phantom");
    }
}

#[test]
fn bad_requests_are_refused_with_the_reason() {
    let mut o = options(tiny_shapes(), BenchEngine::Vace, Offload::None);
    o.frames = 6;
    let e = run(&o).unwrap_err().to_string();
    assert!(e.contains("4k + 1"), "{e}");
    // A model without the VACE blocks (Phantom's text-to-video transformer) serves Phantom but
    // not VACE.
    let t2v = ShapesArg::Folder(fixture("tiny-phantom"));
    let e = run(&options(t2v.clone(), BenchEngine::Vace, Offload::None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("vace_layers"), "{e}");
    check_plausible(
        &run(&options(t2v, BenchEngine::Phantom, Offload::None)).unwrap(),
        3,
    );
    let missing = options(
        ShapesArg::File(fixture("none.json")),
        BenchEngine::Vace,
        Offload::None,
    );
    assert!(run(&missing).is_err());
}
