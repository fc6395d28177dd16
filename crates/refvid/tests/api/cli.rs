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

/// `--module phantom` on the tiny Phantom model's original-layout folder (the values are
/// checked against the reference run in refvid-wan's `phantom_parity` tests).
#[test]
fn wan_check_runs_the_phantom_pipeline() {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../refvid-wan/tests/fixtures");
    let out = tempfile::tempdir().unwrap().keep().join("out.safetensors");
    let output = Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args(["wan", "check", "--module", "phantom", "--model"])
        .arg(fixtures.join("tiny-phantom-original"))
        .arg("--inputs")
        .arg(fixtures.join("phantom_check_inputs.safetensors"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&out).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(
        header["video"]["shape"],
        serde_json::json!([9, 48, 64, 3]),
        "{header}"
    );
}

#[test]
fn wan_check_runs_a_module_of_a_diffusers_folder() {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../refvid-wan/tests/fixtures");
    let out = tempfile::tempdir().unwrap().keep().join("out.safetensors");
    let output = Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args(["wan", "check", "--module", "transformer", "--model"])
        .arg(fixtures.join("tiny-vace"))
        .arg("--inputs")
        .arg(fixtures.join("vace_inputs.safetensors"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stdout.is_empty(),
        "nothing but the output file on success"
    );
    let bytes = std::fs::read(&out).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8_lossy(&bytes[8..8 + header_len]);
    assert!(header.contains("\"sample\""), "{header}");
    let missing = Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args([
            "wan",
            "check",
            "--module",
            "transformer",
            "--model",
            "/nonexistent",
            "--out",
            "y",
            "--inputs",
        ])
        .arg(fixtures.join("vace_inputs.safetensors"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nonexistent"));
}

#[tokio::test]
async fn json_logs_carry_request_ids_and_never_the_key_or_images() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args([
            "serve",
            "--log-format",
            "json",
            "--workers",
            "0",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut key = String::new();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if line.starts_with("rv_") {
            key = line.clone();
        }
        if let Some(url) = line.strip_prefix("refvid listening on ") {
            break url.trim().to_string();
        }
    };
    let client = http_client();
    let body = two_subject_body();
    let image = body["subjects"][0]["images"][0].as_str().unwrap()[30..90].to_string();
    let response = client
        .post(format!("{base}/v3/async/viduq2-pro-fast"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let _ = client
        .get(format!("{base}/v3/async/task-result?task_id=x"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = child.kill();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let _ = child.wait();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("[OpenH264]"))
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(parsed.is_object());
    }
    assert!(stderr.contains("request_id"), "{stderr}");
    assert!(!stderr.contains(&key[3..]), "the API key was logged");
    assert!(!stderr.contains(&image), "image data was logged");
}

/// A binary built without the `cuda` feature refuses a CUDA device on every command that takes
/// one (`--device`, its alias `--wan-device`, REFVID_WAN_DEVICE), naming the feature, before it
/// loads anything.
#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_devices_are_refused_without_the_cuda_feature() {
    let check = [
        "wan",
        "check",
        "--model",
        "m",
        "--module",
        "vae_decode",
        "--inputs",
        "i",
        "--out",
        "o",
    ];
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            [&check[..], &["--device", "cuda:1"]].concat(),
            None,
            "cuda:1",
        ),
        (
            vec![
                "wan",
                "calibrate-mag",
                "--model",
                "m",
                "-o",
                "r.json",
                "--device",
                "cuda",
            ],
            None,
            "cuda:0",
        ),
        (vec!["generate", "--device", "cuda:3"], None, "cuda:3"),
        (vec!["serve", "--wan-device", "cuda:0"], None, "cuda:0"),
        (vec!["worker", "--device", "cuda:2"], None, "cuda:2"),
        (vec!["worker"], Some("cuda:1"), "cuda:1"),
    ];
    for (args, env, device) in cases {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_refvid"));
        cmd.args(&args).env_remove("REFVID_WAN_DEVICE");
        if let Some(v) = env {
            cmd.env("REFVID_WAN_DEVICE", v);
        }
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "device {device}: this refvid was built without CUDA"
            )) && stderr.contains("--features cuda"),
            "{args:?}: {stderr}"
        );
    }
}
