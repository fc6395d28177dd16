//! The `wan` engine behind the real server and behind `refvid generate`, on the tiny
//! random-weight Wan 2.1 VACE pipeline of `refvid-wan`'s fixtures (64×48 native, 2 steps):
//! the pictures are noise, but every stage of the real path runs (UMT5, the VACE transformer
//! with CFG, the UniPC scheduler, the Wan VAE, the fitting to 24 fps and the output geometry).

use crate::helpers::*;
use refvid::engines::{EngineChoice, EngineKind, build_engine};
use refvid_media::probe_mp4;
use serde_json::json;
use std::process::Command;

fn tiny_choice() -> EngineChoice {
    tiny_engine(EngineKind::Wan, "tiny-vace-r2v", |_| {})
}

#[tokio::test]
async fn the_server_renders_with_the_wan_engine() {
    let engine = build_engine(&tiny_choice()).unwrap();
    assert_eq!(engine.name(), "wan");
    let app = spawn_app_with(|c| c.engine = Some(engine)).await;
    let mut body = two_subject_body();
    body["duration"] = json!(1);
    body["seed"] = json!(11);
    body["aspect_ratio"] = json!("9:16");
    let first = app.submit_ok(&body).await;
    let second = app.submit_ok(&body).await;
    body["seed"] = json!(12);
    let other = app.submit_ok(&body).await;
    let mut videos = Vec::new();
    for id in [&first, &second, &other] {
        let (info, video) = app.finished(id).await;
        assert_eq!(info["engine"], "wan", "{info}");
        assert_eq!(info["model"], "tiny-vace-r2v", "{info}");
        videos.push(video);
    }
    let probe = probe_mp4(&videos[0]).unwrap();
    assert_eq!(
        (probe.width, probe.height, probe.frame_count),
        (720, 1280, 24)
    );
    assert_eq!(videos[0], videos[1], "the same seed gives the same video");
    assert_ne!(videos[0], videos[2], "another seed gives another video");
    app.stop().await;
}

#[tokio::test]
async fn generate_renders_a_request_file_with_either_engine() {
    let dir = tempfile::tempdir().unwrap();
    let request = cat_request(dir.path());
    let model = wan_fixture("tiny-vace-r2v").display().to_string();
    let wan_args = [
        "--engine",
        "wan",
        "--model-dir",
        &model,
        "--steps",
        "2",
        "--wan-size",
        "64x48",
    ];
    for (name, extra) in [("compositor", &[][..]), ("wan", &wan_args[..])] {
        let out = dir.path().join(format!("{name}.mp4"));
        let output = Command::new(env!("CARGO_BIN_EXE_refvid"))
            .args(["generate", request.to_str().unwrap(), "-q", "-o"])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("720x720, 24 frames, seed 3"), "{stdout}");
        let probe = probe_mp4(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(
            (probe.width, probe.height, probe.frame_count),
            (720, 720, 24),
            "{name}"
        );
    }
}

#[test]
fn an_incomplete_model_folder_stops_the_server_from_starting() {
    let empty = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--engine",
            "wan",
            "--model-dir",
        ])
        .arg(empty.path())
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is incomplete: missing model_index.json"),
        "{stderr}"
    );
}

#[test]
fn the_engine_can_be_chosen_in_a_config_file() {
    let empty = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("refvid.toml");
    let serve = |config: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_refvid"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data.path())
            .env_remove("REFVID_ENGINE")
            .env_remove("REFVID_MODEL_DIR")
            .output()
            .unwrap()
    };
    std::fs::write(
        &config,
        format!(
            "engine = \"wan\"\nmodel_dir = '{}'\nsteps = 4\n",
            empty.path().display()
        ),
    )
    .unwrap();
    let output = serve(&config);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is incomplete: missing model_index.json"),
        "{stderr}"
    );

    std::fs::write(&config, "engin = \"wan\"\n").unwrap();
    let output = serve(&config);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown setting `engin`"), "{stderr}");
}
