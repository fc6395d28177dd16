//! `refvid models pull|list`, and turning `--model NAME` into the folder engines load.

use anyhow::Context;
use refvid_models::{FileAction, HubConfig, ModelsDir, PullOptions, human};
use std::path::{Path, PathBuf};

/// Where models live when nothing says otherwise: `REFVID_MODELS_DIR`, else `models/` under the
/// data directory (`REFVID_DATA_DIR`, default `./refvid-data`).
pub fn models_dir(dir: Option<&Path>) -> ModelsDir {
    match dir {
        Some(dir) => ModelsDir::new(dir),
        None => {
            let data = std::env::var_os("REFVID_DATA_DIR")
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "./refvid-data".into());
            ModelsDir::from_env_or(Path::new(&data))
        }
    }
}

/// `refvid models pull NAME`: downloads it with progress bars, prints a summary and, as the last
/// line, the folder to load.
pub async fn pull(
    name: &str,
    dir: &ModelsDir,
    revision: Option<String>,
    quiet: bool,
) -> anyhow::Result<()> {
    let hub = HubConfig::from_env();
    let options = PullOptions {
        revision,
        show_progress: !quiet,
    };
    let report = refvid_models::pull(dir, name, &hub, &options).await?;
    let count = |action| report.files.iter().filter(|f| f.action == action).count();
    let bytes: u64 = report.files.iter().map(|f| f.size).sum();
    println!(
        "{name}: {} files, {} ({} fetched, {} already there, {} repaired), all checked",
        report.files.len(),
        human(bytes),
        count(FileAction::Fetched),
        count(FileAction::Kept),
        count(FileAction::Repaired),
    );
    println!("{}", report.folder.display());
    Ok(())
}

/// `refvid models list`: the catalogue and anything else pulled, with what is on disk.
pub fn list(dir: &ModelsDir) {
    println!("models directory: {}", dir.root().display());
    for line in refvid_models::list(dir) {
        let status = match &line.pulled {
            None => "not pulled".to_string(),
            Some(manifest) => match manifest.on_disk() {
                (bytes, 0) => format!("{:>10}  {}", human(bytes), manifest.folder.display()),
                (bytes, missing) => format!(
                    "{:>10}  {} ({missing} files missing: pull it again)",
                    human(bytes),
                    manifest.folder.display()
                ),
            },
        };
        println!("{:<20} {status}", line.name);
        if let Some(about) = line.about {
            println!("{:<20} {about}", "");
        }
    }
}

/// The folder a `--model` value names: an existing path as it is, else a pulled model's folder.
pub fn folder_of(value: &Path, dir: &ModelsDir) -> anyhow::Result<PathBuf> {
    if value.exists() {
        return Ok(value.to_path_buf());
    }
    let name = value.to_string_lossy();
    dir.resolve(&name).with_context(|| {
        format!("{name:?} is neither a folder nor a pulled model (`refvid models list` shows them)")
    })
}
