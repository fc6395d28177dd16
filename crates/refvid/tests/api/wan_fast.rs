//! The fast paths on the tiny Wan 2.1 VACE pipeline of `refvid-wan`'s fixtures:
//! `refvid wan calibrate-mag` writes ratios that `refvid wan check --cache mag:… --mag-ratios`
//! reads, and the check reports what the cache skipped in its output file; `--lora` reaches the
//! served model (recorded in `request_info`), from flags and from the config file, and a LoRA
//! that does not fit stops the start naming its keys.

use crate::helpers::*;
use refvid::engines::{EngineChoice, EngineKind, ModelFlags, SpeedFlags, build_engine};
use refvid_wan::lora::LoraSpec;
use refvid_wan::preset::Preset;
use refvid_wan::step_cache::CacheConfig;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn refvid(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The scalar i64 tensors of a safetensors file, by name (the format: an 8-byte header length,
/// a JSON header with dtypes and data offsets, the data).
fn i64_scalars(path: &Path) -> std::collections::HashMap<String, i64> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v["dtype"] == "I64" && v["shape"].as_array().is_some_and(|s| s.is_empty()))
        .map(|(k, v)| {
            let start = v["data_offsets"][0].as_u64().unwrap() as usize;
            let value = i64::from_le_bytes(data[start..start + 8].try_into().unwrap());
            (k.clone(), value)
        })
        .collect()
}

#[test]
fn calibrated_ratios_drive_the_mag_cache_of_the_parity_command() {
    let dir = tempfile::tempdir().unwrap();
    let ratios = dir.path().join("ratios.json");
    let model = wan_fixture("tiny-vace-r2v");
    let model = model.to_str().unwrap();
    let ratios_arg = ratios.to_str().unwrap();
    ok(&refvid(&[
        "wan",
        "calibrate-mag",
        "--model",
        model,
        "--size",
        "64x48",
        "--frames",
        "9",
        "--steps",
        "6",
        "-o",
        ratios_arg,
    ]));
    let file: Value = serde_json::from_slice(&std::fs::read(&ratios).unwrap()).unwrap();
    let lists = file["ratios"].as_array().unwrap();
    assert_eq!(lists.len(), 2, "conditional and unconditional passes");
    for list in lists {
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 6);
        assert_eq!(list[0], 1.0);
        assert!(list.iter().all(|r| r.as_f64().unwrap() > 0.0));
    }
    assert_eq!(
        (file["steps"].as_u64(), file["width"].as_u64()),
        (Some(6), Some(64))
    );

    // The 6 ratios are interpolated onto the fixture's 3 steps with guidance.
    let out = dir.path().join("out.safetensors");
    let inputs = wan_fixture("pipeline_inputs.safetensors");
    ok(&refvid(&[
        "wan",
        "check",
        "--model",
        model,
        "--module",
        "pipeline",
        "--inputs",
        inputs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--cache",
        "mag:0.5,2",
        "--mag-ratios",
        ratios_arg,
    ]));
    let counts = i64_scalars(&out);
    assert_eq!(counts["cache_passes"], 6, "{counts:?}");
    assert_eq!(
        counts["cache_blocks_run"] + counts["cache_blocks_skipped"],
        6 * 4,
        "{counts:?}"
    );
    assert_eq!(
        counts["cache_blocks_skipped"],
        4 * counts["cache_skipped_passes"]
    );
}

#[test]
fn cache_flags_that_do_not_fit_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ratios = dir.path().join("r.json");
    std::fs::write(&ratios, "[1.0, 0.9]").unwrap();
    let model = wan_fixture("tiny-vace-r2v");
    let inputs = wan_fixture("pipeline_inputs.safetensors");
    let out = dir.path().join("out.safetensors");
    let base = [
        "wan",
        "check",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    for (extra, needle) in [
        (
            &[
                "--module",
                "pipeline",
                "--cache",
                "first_block:0.1",
                "--mag-ratios",
                ratios.to_str().unwrap(),
            ][..],
            "not mag:THRESHOLD",
        ),
        (
            &["--module", "pipeline", "--cache", "tea:0.2"][..],
            "unknown cache `tea:0.2`",
        ),
        (
            &["--module", "transformer", "--cache", "first_block:0.1"][..],
            "applies to the pipeline and phantom modules",
        ),
    ] {
        let output = refvid(&[&base[..], extra].concat());
        assert!(!output.status.success(), "{extra:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{extra:?}: {stderr}");
    }
}

fn lora(name: &str) -> PathBuf {
    wan_fixture("fast/lora").join(name)
}

fn tiny_choice(loras: Vec<LoraSpec>) -> EngineChoice {
    tiny_engine(EngineKind::Wan, "tiny-vace-r2v", |m| m.loras = loras)
}

/// Renders one 1-second task; returns its request_info and the video.
async fn render(app: &TestApp) -> (Value, Vec<u8>) {
    render_moving(app, "auto").await
}

/// The same with a `movement_amplitude`.
async fn render_moving(app: &TestApp, movement: &str) -> (Value, Vec<u8>) {
    let mut body = two_subject_body();
    body["duration"] = json!(1);
    body["seed"] = json!(3);
    body["movement_amplitude"] = json!(movement);
    app.finished(&app.submit_ok(&body).await).await
}

#[tokio::test]
async fn a_lora_reaches_the_served_model_and_request_info() {
    let spec = LoraSpec {
        path: lora("musubi_vace.safetensors"),
        scale: 1.3,
    };
    let plain = build_engine(&tiny_choice(vec![])).unwrap();
    let with = build_engine(&tiny_choice(vec![spec])).unwrap();
    let app = spawn_app_with(|c| c.engine = Some(plain)).await;
    let (info_plain, video_plain) = render(&app).await;
    app.stop().await;
    let app = spawn_app_with(|c| c.engine = Some(with)).await;
    let (info, video) = render(&app).await;
    app.stop().await;
    assert_eq!(info["loras"], "musubi_vace.safetensors:1.3", "{info}");
    assert!(info_plain.get("loras").is_none(), "{info_plain}");
    // 2 steps with guidance: 2 passes each, counted by the pipeline.
    for (key, want) in [("transformer_passes", "4"), ("cached_passes", "0")] {
        assert_eq!(info_plain[key], want, "{key} in {info_plain}");
    }
    assert_ne!(video, video_plain, "the LoRA changes the video");
}

#[test]
fn a_lora_that_does_not_fit_stops_the_start_from_flags_or_the_config_file() {
    let data = tempfile::tempdir().unwrap();
    let model = wan_fixture("tiny-vace-r2v");
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--engine", "wan"];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_refvid"))
            .args(&args)
            .arg("--model-dir")
            .arg(&model)
            .arg("--data-dir")
            .arg(data.path())
            .env_remove("REFVID_LORA")
            .output()
            .unwrap()
    };
    // The original-layout file patches the output projection, whose shape differs here.
    let bad = format!("{}:0.5", lora("original_vace.safetensors").display());
    let good = format!("{}:1.3", lora("musubi_vace.safetensors").display());
    let output = serve(&["--lora", &good, "--lora", &bad]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("original_vace.safetensors") && stderr.contains("head.head.lora_up.weight"),
        "{stderr}"
    );
    let config = data.path().join("c.toml");
    std::fs::write(&config, format!("lora = [{good:?}, {bad:?}]\n")).unwrap();
    let output = serve(&["--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("head.head.lora_up.weight"), "{stderr}");
}

fn speed(preset: Preset, distilled: bool) -> SpeedFlags {
    SpeedFlags {
        preset,
        distilled,
        ..Default::default()
    }
}

#[tokio::test]
async fn the_fast_preset_renders_four_single_pass_steps_and_says_so() {
    let mut choice = tiny_choice(vec![]);
    choice.model.steps = None;
    choice.speed = speed(Preset::Fast, false);
    let e = build_engine(&choice).err().expect("refused").to_string();
    let e = format!("{e:#}");
    assert!(
        e.contains("step-distilled") && e.contains("--distilled"),
        "{e}"
    );

    choice.speed = speed(Preset::Fast, true);
    let engine = build_engine(&choice).unwrap();
    let app = spawn_app_with(|c| c.engine = Some(engine)).await;
    let (info, video) = render(&app).await;
    app.stop().await;
    for (key, want) in [
        ("preset", "fast"),
        ("steps", "4"),
        ("guidance", "1"),
        ("sampler", "renoise"),
        ("timesteps", "1000,750,500,250"),
        ("shift", "5"),
        ("distilled", "declared"),
        ("transformer_passes", "4"),
        ("cached_passes", "0"),
    ] {
        assert_eq!(info[key], want, "{key} in {info}");
    }
    let probe = refvid_media::probe_mp4(&video).unwrap();
    assert_eq!(
        (probe.width, probe.height, probe.frame_count),
        (1280, 720, 24)
    );
}

#[tokio::test]
async fn what_the_step_cache_skipped_is_in_request_info() {
    // A First-Block-Cache threshold no change reaches: after its first pass each guidance pass
    // runs only its head block (1 of the tiny model's 4).
    let mut choice = tiny_choice(vec![]);
    choice.model.steps = Some(4);
    choice.speed.cache = Some(CacheConfig::FirstBlock { threshold: 1e9 });
    let engine = build_engine(&choice).unwrap();
    let app = spawn_app_with(|c| c.engine = Some(engine)).await;
    let (info, _) = render(&app).await;
    app.stop().await;
    for (key, want) in [
        ("cache", "first_block:1000000000"),
        ("transformer_passes", "8"),
        ("cached_passes", "6"),
        ("blocks_skipped", "18"),
    ] {
        assert_eq!(info[key], want, "{key} in {info}");
    }
}

#[test]
fn presets_name_their_settings_for_both_models() {
    let mut choice = tiny_choice(vec![]);
    choice.model.steps = None;
    choice.speed = speed(Preset::Balanced, false);
    let info = build_engine(&choice).unwrap().describe();
    assert!(info.contains(&("preset", "balanced".into())), "{info:?}");
    assert!(info.contains(&("cache", "mag:0.12,2".into())), "{info:?}");
    assert!(info.contains(&("steps", "50".into())), "{info:?}");

    // A LoRA whose name marks a distillation allows the fast preset; Phantom then runs its
    // prompt-and-references pass alone (both guidance scales 1).
    let dir = tempfile::tempdir().unwrap();
    let marked = dir.path().join("tiny_lightx2v_4step_lora.safetensors");
    std::fs::copy(lora("original_phantom.safetensors"), &marked).unwrap();
    let choice = EngineChoice {
        kind: EngineKind::Phantom,
        model: ModelFlags {
            model_dir: Some(wan_fixture("tiny-phantom")),
            wan_size: Some((64, 48)),
            loras: vec![LoraSpec {
                path: marked,
                scale: 1.0,
            }],
            ..Default::default()
        },
        speed: speed(Preset::Fast, false),
        ..Default::default()
    };
    let info = build_engine(&choice).unwrap().describe();
    for pair in [
        ("engine", "phantom"),
        ("preset", "fast"),
        ("steps", "4"),
        ("guidance_image", "1"),
        ("guidance_text", "1"),
        ("distilled", "tiny_lightx2v_4step_lora.safetensors"),
    ] {
        assert!(
            info.contains(&(pair.0, pair.1.to_string())),
            "{pair:?} in {info:?}"
        );
    }
}

#[tokio::test]
async fn movement_amplitude_changes_what_the_model_renders() {
    let engine = build_engine(&tiny_choice(vec![])).unwrap();
    let app = spawn_app_with(|c| c.engine = Some(engine)).await;
    let mut videos = Vec::new();
    for movement in ["auto", "small", "large"] {
        videos.push(render_moving(&app, movement).await.1);
    }
    let again = render_moving(&app, "small").await.1;
    app.stop().await;
    assert_eq!(
        videos[1], again,
        "the same level and seed give the same video"
    );
    assert_ne!(videos[0], videos[1]);
    assert_ne!(videos[1], videos[2]);
    assert_ne!(videos[0], videos[2]);
}
