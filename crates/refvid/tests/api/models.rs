//! `refvid models pull|list` against the fake Hub, and `--model NAME` resolving to the pulled
//! folder (or saying how to pull it).

use refvid_models::fake_hub::{Content, FakeFile, FakeHub, FakeRepo};
use std::path::Path;
use std::process::{Command, Output};

fn refvid(args: &[&str], endpoint: &str, dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args(args)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_TOKEN", "hf_test")
        .env("REFVID_MODELS_DIR", dir)
        .env_remove("REFVID_MODEL")
        .env_remove("REFVID_MODEL_DIR")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn run(args: &[&str], endpoint: &str, dir: &Path) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (endpoint, dir) = (endpoint.to_string(), dir.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refvid(&args, &endpoint, &dir)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn pull_then_list_then_use_by_name() {
    let mut repo = FakeRepo::new(
        "org/tiny",
        vec![
            FakeFile::small("model_index.json", b"{}"),
            FakeFile::lfs(
                "weights.safetensors",
                Content::Pattern {
                    len: 300_000,
                    seed: 1,
                },
            ),
            FakeFile::small("README.md", b"# tiny"),
        ],
    );
    repo.token = Some("hf_test".into());
    let hub = FakeHub::start(vec![repo]).await;
    let dir = tempfile::tempdir().unwrap();
    let name = "org/tiny:model_index.json,weights.safetensors";

    let pulled = run(
        &["models", "pull", name, "--quiet"],
        &hub.endpoint,
        dir.path(),
    )
    .await;
    assert!(pulled.status.success(), "{}", text(&pulled.stderr));
    let stdout = text(&pulled.stdout);
    let folder = stdout.lines().last().unwrap().to_string();
    assert!(
        stdout.contains("2 files") && stdout.contains("2 fetched"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(Path::new(&folder).join("model_index.json")).unwrap(),
        b"{}"
    );

    let listed = run(&["models", "list"], &hub.endpoint, dir.path()).await;
    let listing = text(&listed.stdout);
    assert!(
        listing.contains("wan2.1-vace-1.3b") && listing.contains("not pulled"),
        "{listing}"
    );
    let line = listing
        .lines()
        .find(|l| l.starts_with(name))
        .expect(&listing);
    assert!(
        line.contains("293.0 KiB") && line.contains(&folder),
        "{line}"
    );

    let used = run(
        &[
            "generate",
            "missing.json",
            "--engine",
            "wan",
            "--model",
            name,
        ],
        &hub.endpoint,
        dir.path(),
    )
    .await;
    let err = text(&used.stderr);
    assert!(!used.status.success());
    assert!(
        err.contains(&format!("loading the wan engine from {folder}")),
        "{err}"
    );
}

#[tokio::test]
async fn a_name_not_pulled_says_how_to_pull_it_and_hub_errors_are_plain() {
    let hub = FakeHub::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let used = run(
        &[
            "generate",
            "missing.json",
            "--engine",
            "wan",
            "--model",
            "wan2.1-vace-1.3b",
        ],
        &hub.endpoint,
        dir.path(),
    )
    .await;
    let err = text(&used.stderr);
    assert!(err.contains("refvid models pull wan2.1-vace-1.3b"), "{err}");
    let pulled = run(
        &["models", "pull", "org/none", "-q"],
        &hub.endpoint,
        dir.path(),
    )
    .await;
    let err = text(&pulled.stderr);
    assert!(!pulled.status.success());
    assert!(
        err.contains("org/none") && err.contains("was not found"),
        "{err}"
    );
}

#[tokio::test]
async fn a_pulled_distill_lora_is_used_by_name_and_allows_the_fast_preset() {
    let tiny = FakeRepo::new("org/tiny", vec![FakeFile::small("model_index.json", b"{}")]);
    let kijai = FakeRepo::new(
        "Kijai/WanVideo_comfy",
        vec![FakeFile::lfs(
            "Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors",
            Content::Pattern {
                len: 200_000,
                seed: 2,
            },
        )],
    );
    let hub = FakeHub::start(vec![tiny, kijai]).await;
    let dir = tempfile::tempdir().unwrap();
    for name in ["org/tiny", "causvid-t2v-1.3b"] {
        let pulled = run(&["models", "pull", name, "-q"], &hub.endpoint, dir.path()).await;
        assert!(pulled.status.success(), "{}", text(&pulled.stderr));
    }
    let listing = text(
        &run(&["models", "list"], &hub.endpoint, dir.path())
            .await
            .stdout,
    );
    for entry in ["lightx2v-t2v-14b-4step", "causvid-t2v-14b"] {
        assert!(listing.contains(entry), "{listing}");
    }
    let line = listing
        .lines()
        .find(|l| l.starts_with("causvid-t2v-1.3b"))
        .expect(&listing);
    assert!(line.contains("195.3 KiB"), "{line}");

    let generate = |lora: &'static str| {
        let args = [
            "generate",
            "missing.json",
            "--engine",
            "wan",
            "--model",
            "org/tiny",
            "--lora",
            lora,
            "--preset",
            "fast",
        ];
        let (endpoint, dir) = (hub.endpoint.clone(), dir.path().to_path_buf());
        async move { run(&args, &endpoint, &dir).await }
    };
    // The name resolves to the pulled file, whose name marks it step-distilled: the fast preset
    // is accepted and loading goes on to the (incomplete) model folder.
    let used = generate("causvid-t2v-1.3b:0.8").await;
    let err = text(&used.stderr);
    assert!(!used.status.success());
    assert!(
        err.contains("loading the wan engine from") && !err.contains("--lora"),
        "{err}"
    );
    let unknown = generate("causvid-t2v-14b").await;
    let err = text(&unknown.stderr);
    assert!(
        err.contains("--lora causvid-t2v-14b: neither a file nor a pulled LoRA")
            && err.contains("refvid models pull causvid-t2v-14b"),
        "{err}"
    );
}
