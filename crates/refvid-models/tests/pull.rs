//! `pull` against the fake Hub on loopback: selection, checksums, resume, repair, errors.

use refvid_models::fake_hub::{Content, FakeFile, FakeHub, FakeRepo};
use refvid_models::{FileAction, HubConfig, ModelsDir, ModelsError, PullOptions, pull};
use std::path::Path;

const MIB: u64 = 1 << 20;
const WEIGHTS: &str = "transformer/diffusion_pytorch_model.safetensors";

/// A diffusers-like repository with extras a catalogue entry leaves out.
fn wan_like(id: &str, weights_len: u64) -> FakeRepo {
    FakeRepo::new(
        id,
        vec![
            FakeFile::small(".gitattributes", b"*.safetensors filter=lfs\n"),
            FakeFile::small("README.md", b"# a model\n"),
            FakeFile::small(
                "model_index.json",
                b"{\"_class_name\": \"WanVACEPipeline\"}",
            ),
            FakeFile::small("scheduler/scheduler_config.json", b"{}"),
            FakeFile::small("text_encoder/config.json", b"{\"d_model\": 8}"),
            FakeFile::lfs(
                "text_encoder/model.safetensors",
                Content::Pattern { len: MIB, seed: 3 },
            ),
            FakeFile::small("tokenizer/tokenizer.json", b"{\"model\": {}}"),
            FakeFile::small("transformer/config.json", b"{\"num_layers\": 1}"),
            FakeFile::lfs(
                WEIGHTS,
                Content::Pattern {
                    len: weights_len,
                    seed: 5,
                },
            ),
            FakeFile::small("vae/config.json", b"{\"z_dim\": 16}"),
            FakeFile::lfs(
                "vae/diffusion_pytorch_model.safetensors",
                Content::Pattern {
                    len: 2 * MIB + 3,
                    seed: 7,
                },
            ),
            FakeFile::lfs(
                "assets/demo.mp4",
                Content::Pattern {
                    len: 3 * MIB,
                    seed: 11,
                },
            ),
        ],
    )
}

/// A weights file of `len` pattern bytes.
fn lfs(path: &str, len: u64, seed: u64) -> FakeFile {
    FakeFile::lfs(path, Content::Pattern { len, seed })
}

fn config(hub: &FakeHub) -> HubConfig {
    HubConfig {
        chunk_size: MIB as usize,
        parallel: 1,
        ..HubConfig::with_endpoint(&hub.endpoint)
    }
}

fn quiet() -> PullOptions {
    PullOptions::default()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn a_catalogue_name_pulls_exactly_its_files_checked_and_resolvable() {
    let hub = FakeHub::start(vec![wan_like("Wan-AI/Wan2.1-VACE-1.3B-diffusers", 3 * MIB)]).await;
    let dir = tempfile::tempdir().unwrap();
    let models = ModelsDir::new(dir.path());
    let report = pull(&models, "wan2.1-vace-1.3b", &config(&hub), &quiet())
        .await
        .unwrap();
    assert_eq!(
        files_under(&report.folder),
        [
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "tokenizer/tokenizer.json",
            "transformer/config.json",
            WEIGHTS,
            "vae/config.json",
            "vae/diffusion_pytorch_model.safetensors",
        ]
    );
    assert!(report.files.iter().all(|f| f.action == FileAction::Fetched));
    let weights = std::fs::read(report.folder.join(WEIGHTS)).unwrap();
    let expected = Content::Pattern {
        len: 3 * MIB,
        seed: 5,
    }
    .slice(0, 3 * MIB);
    assert!(weights == expected, "the weights arrive byte for byte");
    assert_eq!(
        hub.served_bytes("assets/demo.mp4"),
        0,
        "extras are not fetched"
    );
    assert_eq!(models.resolve("wan2.1-vace-1.3b").unwrap(), report.folder);

    let served = hub.served_bytes(WEIGHTS);
    let again = pull(&models, "wan2.1-vace-1.3b", &config(&hub), &quiet())
        .await
        .unwrap();
    assert!(again.files.iter().all(|f| f.action == FileAction::Kept));
    assert_eq!(
        hub.served_bytes(WEIGHTS),
        served,
        "a complete pull fetches nothing again"
    );
}

#[tokio::test]
async fn an_interrupted_pull_resumes_where_it_stopped() {
    let len = 6 * MIB + 12_345;
    let repo = wan_like("org/model", len);
    let commit = repo.commit.clone();
    let hub = FakeHub::start(vec![repo]).await;
    let dir = tempfile::tempdir().unwrap();
    let models = ModelsDir::new(dir.path());
    let name = format!("org/model:{WEIGHTS}");
    hub.cut_at(WEIGHTS, 3 * MIB + MIB / 2);
    let err = pull(&models, &name, &config(&hub), &quiet())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelsError::Interrupted { .. }), "{err}");
    assert!(err.to_string().contains("run the same pull again"), "{err}");
    let final_name = models.snapshot_dir("org/model", &commit).join(WEIGHTS);
    assert!(
        !final_name.exists(),
        "nothing half-written under the final name"
    );
    assert!(models.resolve(&name).is_err());
    let first = hub.served_bytes(WEIGHTS);
    hub.heal();
    let report = pull(&models, &name, &config(&hub), &quiet()).await.unwrap();
    assert_eq!(report.files[0].action, FileAction::Fetched);
    let refetched = hub.served_bytes(WEIGHTS) - len - 2;
    eprintln!(
        "interrupted at 3.5 MiB of {len} bytes: first try served {first}, re-fetched {refetched}"
    );
    assert!(refetched <= MIB, "at most one chunk again, got {refetched}");
    let bytes = std::fs::read(report.folder.join(WEIGHTS)).unwrap();
    assert!(bytes == Content::Pattern { len, seed: 5 }.slice(0, len));
}

#[tokio::test]
async fn a_corrupted_file_is_fetched_again() {
    let hub = FakeHub::start(vec![wan_like("org/model", 2 * MIB)]).await;
    let dir = tempfile::tempdir().unwrap();
    let models = ModelsDir::new(dir.path());
    let name = format!("org/model:{WEIGHTS},vae/config.json");
    let report = pull(&models, &name, &config(&hub), &quiet()).await.unwrap();
    let path = report.folder.join(WEIGHTS);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[MIB as usize] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let before = hub.served_bytes(WEIGHTS);
    let again = pull(&models, &name, &config(&hub), &quiet()).await.unwrap();
    let actions: Vec<_> = again
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.action))
        .collect();
    assert_eq!(
        actions,
        [
            (WEIGHTS, FileAction::Repaired),
            ("vae/config.json", FileAction::Kept)
        ]
    );
    assert_eq!(hub.served_bytes(WEIGHTS) - before, 2 * MIB + 1);
    let repaired = std::fs::read(&path).unwrap();
    assert!(
        repaired
            == Content::Pattern {
                len: 2 * MIB,
                seed: 5
            }
            .slice(0, 2 * MIB)
    );
}

/// Pulls the weights of a repository whose metadata claims `size` bytes hashing to `sha256`.
async fn pull_weights_claiming(
    size: u64,
    sha256: String,
) -> (FakeHub, tempfile::TempDir, String, ModelsError) {
    let mut repo = wan_like("org/model", MIB);
    repo.claimed.insert(WEIGHTS.into(), (size, sha256));
    let commit = repo.commit.clone();
    let hub = FakeHub::start(vec![repo]).await;
    let dir = tempfile::tempdir().unwrap();
    let err = pull(
        &ModelsDir::new(dir.path()),
        &format!("org/model:{WEIGHTS}"),
        &config(&hub),
        &quiet(),
    )
    .await
    .unwrap_err();
    (hub, dir, commit, err)
}

#[tokio::test]
async fn bytes_that_never_match_the_hub_checksum_are_refused_and_not_kept() {
    let (hub, dir, commit, err) = pull_weights_claiming(MIB, "ab".repeat(32)).await;
    let models = ModelsDir::new(dir.path());
    assert!(matches!(err, ModelsError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&"ab".repeat(32)), "{err}");
    assert_eq!(
        hub.served_bytes(WEIGHTS),
        2 * (MIB + 1),
        "one fresh try after the first"
    );
    assert!(
        !models
            .snapshot_dir("org/model", &commit)
            .join(WEIGHTS)
            .exists()
    );
    assert!(models.resolve(&format!("org/model:{WEIGHTS}")).is_err());
}

#[tokio::test]
async fn gated_and_missing_things_fail_with_what_to_do() {
    let mut gated = wan_like("org/gated", MIB);
    gated.token = Some("hf_secret".into());
    let hub = FakeHub::start(vec![gated, wan_like("org/model", MIB)]).await;
    let dir = tempfile::tempdir().unwrap();
    let models = ModelsDir::new(dir.path());
    let err = pull(
        &models,
        "org/gated:vae/config.json",
        &config(&hub),
        &quiet(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ModelsError::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("HF_TOKEN"), "{err}");
    let with_token = HubConfig {
        token: Some("hf_secret".into()),
        ..config(&hub)
    };
    pull(&models, "org/gated:vae/config.json", &with_token, &quiet())
        .await
        .unwrap();

    let err = pull(&models, "org/nothing", &config(&hub), &quiet())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelsError::RepoNotFound { .. }), "{err}");
    assert!(err.to_string().contains(&hub.endpoint), "{err}");
    let err = pull(&models, "org/model:nope.bin", &config(&hub), &quiet())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("has no file \"nope.bin\""),
        "{err}"
    );
    let revision = PullOptions {
        revision: Some("v9".into()),
        ..quiet()
    };
    let err = pull(
        &models,
        "org/model:vae/config.json",
        &config(&hub),
        &revision,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("\"v9\""), "{err}");
    let err = pull(&models, "not-a-model", &config(&hub), &quiet())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelsError::UnknownName { .. }), "{err}");
}

#[tokio::test]
async fn a_pull_that_cannot_fit_is_refused_before_downloading() {
    let (hub, _dir, _, err) = pull_weights_claiming(1 << 50, "00".repeat(32)).await;
    assert!(matches!(err, ModelsError::NoSpace { .. }), "{err}");
    assert!(err.to_string().contains("1024.0 TiB"), "{err}");
    assert_eq!(hub.served_bytes(WEIGHTS), 0);
}

#[tokio::test]
async fn a_disk_that_fills_up_mid_download_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mount)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    }
    let mut repo = wan_like("org/model", 4 * MIB);
    repo.claimed.insert(WEIGHTS.into(), (MIB, "00".repeat(32)));
    let hub = FakeHub::start(vec![repo]).await;
    let models = ModelsDir::new(&mount);
    let outcome = pull(
        &models,
        &format!("org/model:{WEIGHTS}"),
        &config(&hub),
        &quiet(),
    )
    .await;
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(&mount)
        .status();
    let err = outcome.unwrap_err();
    assert!(matches!(err, ModelsError::DiskFilledUp { .. }), "{err}");
    assert!(err.to_string().contains("free some space"), "{err}");
}

#[tokio::test]
async fn list_shows_the_catalogue_and_what_is_on_disk() {
    let hub = FakeHub::start(vec![wan_like("org/model", MIB)]).await;
    let dir = tempfile::tempdir().unwrap();
    let models = ModelsDir::new(dir.path());
    pull(
        &models,
        "org/model:vae/config.json",
        &config(&hub),
        &quiet(),
    )
    .await
    .unwrap();
    let lines = refvid_models::list(&models);
    let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
    assert!(
        names.starts_with(&["wan2.1-vace-1.3b", "wan2.1-vace-14b"]),
        "{names:?}"
    );
    assert_eq!(names.last(), Some(&"org/model:vae/config.json"));
    let pulled = lines.last().unwrap().pulled.as_ref().unwrap();
    assert_eq!(pulled.on_disk(), (13, 0));
    assert!(lines[0].pulled.is_none() && lines[0].about.is_some());
}

#[tokio::test]
async fn a_two_repository_entry_is_assembled_into_one_folder() {
    let base = FakeRepo::new(
        "Wan-AI/Wan2.1-T2V-1.3B",
        vec![
            FakeFile::small("README.md", b"# Wan"),
            FakeFile::small("config.json", b"{\"dim\": 1536}"),
            lfs("diffusion_pytorch_model.safetensors", MIB, 1),
            lfs("models_t5_umt5-xxl-enc-bf16.pth", MIB, 2),
            lfs("Wan2.1_VAE.pth", MIB / 2, 3),
            FakeFile::small("google/umt5-xxl/tokenizer.json", b"{}"),
        ],
    );
    let phantom = FakeRepo::new(
        "bytedance-research/Phantom",
        vec![
            lfs("Phantom-Wan-1.3B.pth", MIB, 4),
            lfs("Phantom-Wan-14B.pth", 2 * MIB, 5),
        ],
    );
    let hub = FakeHub::start(vec![base, phantom]).await;
    let dir = tempfile::tempdir().unwrap();
    let models = ModelsDir::new(dir.path());
    let report = pull(&models, "phantom-wan-1.3b", &config(&hub), &quiet())
        .await
        .unwrap();
    assert_eq!(
        files_under(&report.folder),
        [
            "Phantom-Wan-1.3B.pth",
            "Wan2.1_VAE.pth",
            "config.json",
            "google/umt5-xxl/tokenizer.json",
            "models_t5_umt5-xxl-enc-bf16.pth",
        ]
    );
    let phantom_weights = std::fs::read(report.folder.join("Phantom-Wan-1.3B.pth")).unwrap();
    assert!(phantom_weights == Content::Pattern { len: MIB, seed: 4 }.slice(0, MIB));
    for unused in ["diffusion_pytorch_model.safetensors", "Phantom-Wan-14B.pth"] {
        assert_eq!(hub.served_bytes(unused), 0, "{unused} is not needed");
    }
    assert_eq!(models.resolve("phantom-wan-1.3b").unwrap(), report.folder);
    let again = pull(&models, "phantom-wan-1.3b", &config(&hub), &quiet())
        .await
        .unwrap();
    assert!(again.files.iter().all(|f| f.action == FileAction::Kept));
}

#[tokio::test]
async fn a_fast_preset_lora_is_pulled_alone_and_resolves_to_its_file() {
    let kijai = FakeRepo::new(
        "Kijai/WanVideo_comfy",
        vec![
            FakeFile::small("README.md", b"# loras"),
            lfs(
                "Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors",
                MIB,
                8,
            ),
            lfs(
                "Wan21_CausVid_14B_T2V_lora_rank32_v2.safetensors",
                2 * MIB,
                9,
            ),
        ],
    );
    let hub = FakeHub::start(vec![kijai]).await;
    let dir = tempfile::tempdir().unwrap();
    let models = ModelsDir::new(dir.path());
    let report = pull(&models, "causvid-t2v-1.3b", &config(&hub), &quiet())
        .await
        .unwrap();
    let file = "Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors";
    assert_eq!(files_under(&report.folder), [file]);
    assert_eq!(
        models.resolve_file("causvid-t2v-1.3b").unwrap(),
        report.folder.join(file)
    );
    assert_eq!(
        hub.served_bytes("Wan21_CausVid_14B_T2V_lora_rank32_v2.safetensors"),
        0
    );
    let listed = refvid_models::list(&models);
    let line = listed
        .iter()
        .find(|l| l.name == "causvid-t2v-1.3b")
        .unwrap();
    assert_eq!(line.pulled.as_ref().unwrap().on_disk(), (MIB, 0));
    // A name not pulled says how to pull it.
    let err = models.resolve_file("causvid-t2v-14b").unwrap_err();
    assert!(matches!(err, ModelsError::NotPulled { .. }), "{err}");
}
