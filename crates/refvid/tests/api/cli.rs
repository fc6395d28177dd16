//! The client CLI against a spawned server: submit with local files, progress, download; clear
//! messages for refused requests.

use crate::helpers::*;
use std::process::Command;

fn refvid(args: &[&str], server: &str, key: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args(args)
        .env("REFVID_SERVER", server)
        .env("REFVID_API_KEY", key)
        .output()
        .unwrap()
}

#[tokio::test]
async fn submit_with_local_files_downloads_a_playable_video() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("cat.png");
    std::fs::write(&cat, disc_png(200, 200, [200, 100, 30])).unwrap();
    let out = dir.path().join("clip.mp4");
    let (server, key) = (app.base.clone(), app.key.clone());
    let cat_arg = format!("cat={}", cat.display());
    let out_arg = out.display().to_string();
    let output = tokio::task::spawn_blocking(move || {
        refvid(
            &[
                "submit",
                "--prompt",
                "@cat waves",
                "--subject",
                &cat_arg,
                "--duration",
                "1",
                "--seed",
                "5",
                "-o",
                &out_arg,
            ],
            &server,
            &key,
        )
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let probe = refvid_media::probe_mp4(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        (probe.width, probe.height, probe.frame_count),
        (1280, 720, 24)
    );
    app.stop().await;
}

#[tokio::test]
async fn refused_requests_print_the_reason_and_field() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let (server, key) = (app.base.clone(), app.key.clone());
    let output = tokio::task::spawn_blocking(move || {
        refvid(
            &[
                "submit",
                "--prompt",
                "@dog runs",
                "--subject",
                "cat=https://example.com/c.png",
                "--no-wait",
            ],
            &server,
            &key,
        )
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("400 INVALID_REQUEST_BODY (prompt)") && stderr.contains("@dog"),
        "{stderr}"
    );
    let (server, key) = (app.base.clone(), "rv_wrong".to_string());
    let output = tokio::task::spawn_blocking(move || refvid(&["status", "some-id"], &server, &key))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("401 FAILED_TO_AUTH"));
    app.stop().await;
}
