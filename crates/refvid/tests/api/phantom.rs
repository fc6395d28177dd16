//! The `phantom` engine behind the real server and behind `refvid generate`, on the tiny
//! random-weight Phantom-Wan model of `refvid-wan`'s fixtures (64×48 native, 2 steps) in both
//! its folder forms: the pictures are noise, but every stage of the real path runs (UMT5, the
//! references prepared and VAE-encoded as extra latent frames, three transformer passes per
//! step, UniPC, the VAE, the fitting to 24 fps and the output geometry).

use crate::helpers::*;
use refvid::engines::{EngineKind, build_engine};
use refvid_media::probe_mp4;
use serde_json::json;
use std::process::Command;

#[tokio::test]
async fn the_server_renders_with_the_phantom_engine() {
    let engine = build_engine(&tiny_engine(EngineKind::Phantom, "tiny-phantom", |_| {})).unwrap();
    assert_eq!(engine.name(), "phantom");
    let app = spawn_app_with(|c| c.engine = Some(engine)).await;
    let mut body = two_subject_body();
    body["duration"] = json!(1);
    body["seed"] = json!(21);
    body["aspect_ratio"] = json!("16:9");
    let first = app.submit_ok(&body).await;
    body["seed"] = json!(22);
    let other = app.submit_ok(&body).await;
    let mut videos = Vec::new();
    for id in [&first, &other] {
        let (info, video) = app.finished(id).await;
        assert_eq!(info["engine"], "phantom", "{info}");
        assert_eq!(info["model"], "tiny-phantom", "{info}");
        // Three passes per step, counted by the pipeline.
        assert_eq!(info["transformer_passes"], "6", "{info}");
        videos.push(video);
    }
    let probe = probe_mp4(&videos[0]).unwrap();
    assert_eq!(
        (probe.width, probe.height, probe.frame_count),
        (1280, 720, 24)
    );
    assert_ne!(videos[0], videos[1], "another seed gives another video");
    app.stop().await;
}

#[test]
fn generate_and_the_config_file_take_the_phantom_engine() {
    let dir = tempfile::tempdir().unwrap();
    let request = cat_request(dir.path());
    let config = dir.path().join("refvid.toml");
    std::fs::write(
        &config,
        format!(
            "engine = \"phantom\"\nmodel_dir = '{}'\nsteps = 2\nwan_size = \"64x48\"\nphantom_guidance_text = 6.5\n",
            wan_fixture("tiny-phantom-original").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("phantom.mp4");
    let output = Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args(["generate", request.to_str().unwrap(), "-q", "-o"])
        .arg(&out)
        .arg("--config")
        .arg(&config)
        .env_remove("REFVID_ENGINE")
        .env_remove("REFVID_MODEL_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("720x720, 24 frames, seed 3"), "{stdout}");
    let probe = probe_mp4(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        (probe.width, probe.height, probe.frame_count),
        (720, 720, 24)
    );
}
