//! `--offload` and `--vae-tiling` on the tiny Wan 2.1 VACE pipeline of `refvid-wan`'s fixtures:
//! a served model with its transformer's blocks streamed renders the same video as the one kept
//! in memory and says so in `request_info`; `refvid generate` takes the mode from its flags and
//! from the config file, with the same video; a mode it does not know is refused naming the
//! known ones. (The tiny frames are smaller than one VAE tile, so the tiling that offload implies
//! decodes them exactly as whole frames; tiles themselves are tested in `refvid-wan`.)

use crate::helpers::*;
use refvid::engines::{EngineChoice, EngineKind, build_engine};
use refvid_wan::offload::{Offload, TilingChoice};
use serde_json::{Value, json};
use std::process::Command;

fn tiny_choice(offload: Offload, vae_tiling: TilingChoice) -> EngineChoice {
    tiny_engine(EngineKind::Wan, "tiny-vace-r2v", |m| {
        m.offload = offload;
        m.vae_tiling = vae_tiling;
    })
}

/// Renders one 1-second task; returns its request_info and the video.
async fn render(app: &TestApp) -> (Value, Vec<u8>) {
    let mut body = two_subject_body();
    body["duration"] = json!(1);
    body["seed"] = json!(3);
    app.finished(&app.submit_ok(&body).await).await
}

#[tokio::test]
async fn streamed_blocks_render_the_in_memory_video_and_say_so() {
    let mut runs = Vec::new();
    for (offload, tiling) in [
        (Offload::None, TilingChoice::Auto),
        (Offload::Blocks, TilingChoice::Auto),
        (Offload::Model, TilingChoice::Off),
    ] {
        let engine = build_engine(&tiny_choice(offload, tiling)).unwrap();
        let app = spawn_app_with(|c| c.engine = Some(engine)).await;
        runs.push(render(&app).await);
        app.stop().await;
    }
    let (plain, blocks, model) = (&runs[0], &runs[1], &runs[2]);
    assert!(plain.0.get("offload").is_none(), "{}", plain.0);
    assert!(plain.0.get("vae_tiling").is_none(), "{}", plain.0);
    assert_eq!(blocks.0["offload"], "blocks", "{}", blocks.0);
    assert_eq!(blocks.0["vae_tiling"], "on", "{}", blocks.0);
    assert_eq!(model.0["offload"], "model", "{}", model.0);
    assert!(model.0.get("vae_tiling").is_none(), "{}", model.0);
    assert!(!plain.1.is_empty());
    assert!(plain.1 == blocks.1, "--offload blocks changed the video");
    assert!(plain.1 == model.1, "--offload model changed the video");
}

#[test]
fn generate_takes_the_offload_mode_from_flags_and_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let request = cat_request(dir.path());
    let config = dir.path().join("refvid.toml");
    std::fs::write(&config, "offload = \"blocks\"\nvae_tiling = \"on\"\n").unwrap();
    let model = wan_fixture("tiny-vace-r2v").display().to_string();
    let generate = |name: &str, extra: &[&str]| {
        let out = dir.path().join(format!("{name}.mp4"));
        let output = Command::new(env!("CARGO_BIN_EXE_refvid"))
            .args(["generate", request.to_str().unwrap(), "-q", "-o"])
            .arg(&out)
            .args(["--engine", "wan", "--model-dir", &model])
            .args(["--steps", "2", "--wan-size", "64x48"])
            .args(extra)
            .env_remove("REFVID_OFFLOAD")
            .env_remove("REFVID_VAE_TILING")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        (output.status.success(), stderr, std::fs::read(&out).ok())
    };
    let (ok, err, plain) = generate("plain", &[]);
    assert!(ok, "{err}");
    let (ok, err, flagged) = generate("flag", &["--offload", "blocks"]);
    assert!(ok, "{err}");
    let (ok, err, configured) = generate("config", &["--config", config.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        plain.is_some() && plain == flagged,
        "--offload blocks changed the video"
    );
    assert!(
        plain == configured,
        "offload from the config file changed the video"
    );

    let (ok, err, _) = generate("bad", &["--offload", "layers"]);
    assert!(!ok);
    assert!(err.contains("none, model or blocks"), "{err}");
    std::fs::write(&config, "offload = \"disk\"\n").unwrap();
    let (ok, err, _) = generate("bad-config", &["--config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("disk") && err.contains("none, model or blocks"),
        "{err}"
    );
}
