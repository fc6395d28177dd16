//! `refvid models pull`: a name's files from the Hub into the models directory, each checked
//! against the Hub's checksum (a corrupt one is fetched again), resuming what an earlier pull
//! left half-done, and the name's manifest written last.

use crate::catalogue;
use crate::error::ModelsError;
use crate::hub::{Hub, HubConfig, RemoteFile};
use crate::layout::{Manifest, ModelsDir, PulledFile, PulledPart};
use crate::progress::Bars;
use crate::target::{self, Include, PartSpec, Target};
use crate::verify::{self, Check};
use std::path::{Path, PathBuf};

/// How to pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Branch, tag or commit for every part (default: the catalogue's, or `main`).
    pub revision: Option<String>,
    /// Draw progress bars on stderr.
    pub show_progress: bool,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    /// Already there and correct.
    Kept,
    /// Downloaded (or finished downloading).
    Fetched,
    /// Was there but wrong; downloaded again.
    Repaired,
}

/// One file of a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub repo: String,
    pub path: String,
    pub size: u64,
    pub action: FileAction,
}

/// A finished pull.
#[derive(Debug, Clone)]
pub struct PullReport {
    pub name: String,
    /// The folder to load (`--model-dir`), also what `--model NAME` resolves to.
    pub folder: PathBuf,
    pub files: Vec<FileReport>,
}

/// One repository's files at one commit.
struct Plan {
    part: PartSpec,
    commit: String,
    files: Vec<RemoteFile>,
}

/// Pulls `name` (a catalogue name or `org/repo[:files]`) into `models`.
pub async fn pull(
    models: &ModelsDir,
    name: &str,
    hub: &HubConfig,
    options: &PullOptions,
) -> Result<PullReport, ModelsError> {
    let target = target::parse(name, options.revision.as_deref())?;
    let client = Hub::new(hub, models.root())?;
    let mut plans = Vec::new();
    for part in &target.parts {
        let snapshot = client.snapshot(&part.repo, &part.revision).await?;
        let files = select(part, snapshot.files)?;
        plans.push(Plan {
            part: part.clone(),
            commit: snapshot.commit,
            files,
        });
    }
    check_space(models, &plans)?;
    let total = plans.iter().flat_map(|p| &p.files).map(|f| f.size).sum();
    let bars = Bars::new(total, options.show_progress);
    let mut files = Vec::new();
    for plan in &plans {
        for file in &plan.files {
            files.push(fetch_one(&client, models, plan, file, &bars).await?);
        }
    }
    bars.finish();
    let folder = folder_of(models, &target, &plans)?;
    models.write_manifest(&manifest_of(&target, &plans, &folder))?;
    Ok(PullReport {
        name: target.name,
        folder,
        files,
    })
}

/// The part's files out of the repository's, in the repository's order.
fn select(part: &PartSpec, files: Vec<RemoteFile>) -> Result<Vec<RemoteFile>, ModelsError> {
    let wanted: Vec<String> = match &part.include {
        Include::All => return Ok(files),
        Include::Files(wanted) | Include::Patterns(wanted) => wanted.clone(),
    };
    let exact = matches!(part.include, Include::Files(_));
    let takes = |pattern: &str, path: &str| match exact {
        true => pattern == path,
        false => catalogue::selects(pattern, path),
    };
    if let Some(missing) = wanted
        .iter()
        .find(|w| !files.iter().any(|f| takes(w, &f.path)))
    {
        return Err(match exact {
            true => ModelsError::FileNotFound {
                repo: part.repo.clone(),
                file: missing.clone(),
                revision: part.revision.clone(),
            },
            false => ModelsError::NothingMatches {
                repo: part.repo.clone(),
                pattern: missing.clone(),
            },
        });
    }
    Ok(files
        .into_iter()
        .filter(|f| wanted.iter().any(|w| takes(w, &f.path)))
        .collect())
}

/// Refuses to start a pull whose missing files do not fit on the disk.
fn check_space(models: &ModelsDir, plans: &[Plan]) -> Result<(), ModelsError> {
    let mut needed = 0u64;
    for plan in plans {
        let snapshot = models.snapshot_dir(&plan.part.repo, &plan.commit);
        for file in &plan.files {
            if !snapshot.join(&file.path).exists() {
                needed += file.size.saturating_sub(partial_bytes(&snapshot, file));
            }
        }
    }
    match models.free_bytes() {
        Some(available) if needed > available => Err(ModelsError::NoSpace {
            dir: models.root().to_path_buf(),
            needed,
            available,
        }),
        _ => Ok(()),
    }
}

/// Bytes already on disk in the `.sync.part` an interrupted download of `file` left.
fn partial_bytes(snapshot: &Path, file: &RemoteFile) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Some(id) = file.sha256.as_ref().or(file.git_oid.as_ref()) else {
        return 0;
    };
    let blobs = snapshot.join("../../blobs");
    std::fs::metadata(blobs.join(format!("{id}.sync.part")))
        .map(|m| m.blocks() * 512)
        .unwrap_or(0)
}

/// Makes one file correct in the snapshot: keeps it, fetches it, or fetches it again.
async fn fetch_one(
    hub: &Hub,
    models: &ModelsDir,
    plan: &Plan,
    file: &RemoteFile,
    bars: &Bars,
) -> Result<FileReport, ModelsError> {
    let repo = &plan.part.repo;
    let path = models.snapshot_dir(repo, &plan.commit).join(&file.path);
    let mut action = match check(&path, file).await? {
        Check::Good => {
            bars.skip(file.size);
            return Ok(report(repo, file, FileAction::Kept));
        }
        Check::Missing => FileAction::Fetched,
        Check::Bad { .. } => {
            discard(&path)?;
            FileAction::Repaired
        }
    };
    let bar = bars.file(&file.path);
    // A resumed download may have kept bad bytes from before; one fresh try settles it.
    for attempt in 0..2 {
        hub.download(repo, &plan.commit, &file.path, bar.clone())
            .await?;
        match check(&path, file).await? {
            Check::Good => return Ok(report(repo, file, action)),
            Check::Missing => {
                return Err(ModelsError::Protocol {
                    repo: repo.clone(),
                    detail: format!("{} was downloaded but is not in the snapshot", file.path),
                });
            }
            Check::Bad {
                algorithm,
                expected,
                actual,
            } => {
                discard(&path)?;
                bar.undo();
                action = FileAction::Repaired;
                if attempt == 1 {
                    return Err(ModelsError::Corrupt {
                        repo: repo.clone(),
                        file: file.path.clone(),
                        algorithm,
                        expected,
                        actual,
                    });
                }
            }
        }
    }
    unreachable!("the loop returns on its second try")
}

fn report(repo: &str, file: &RemoteFile, action: FileAction) -> FileReport {
    FileReport {
        repo: repo.into(),
        path: file.path.clone(),
        size: file.size,
        action,
    }
}

/// Hashes on a blocking thread (files run to many gigabytes).
async fn check(path: &Path, file: &RemoteFile) -> Result<Check, ModelsError> {
    let (owned, remote) = (path.to_path_buf(), file.clone());
    tokio::task::spawn_blocking(move || verify::check(&owned, &remote))
        .await
        .expect("hashing does not panic")
        .map_err(|e| ModelsError::io(path, e))
}

/// Removes a snapshot file and the blob it links to.
fn discard(path: &Path) -> Result<(), ModelsError> {
    if let Ok(blob) = std::fs::canonicalize(path)
        && blob != path
    {
        std::fs::remove_file(&blob).map_err(|e| ModelsError::io(&blob, e))?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ModelsError::io(path, e)),
        _ => Ok(()),
    }
}

/// The folder engines load: a lone part's snapshot, or a folder assembled from links to every
/// part's files (made anew each pull).
fn folder_of(models: &ModelsDir, target: &Target, plans: &[Plan]) -> Result<PathBuf, ModelsError> {
    if let [plan] = plans
        && plan.part.subdir.is_empty()
    {
        return Ok(models.snapshot_dir(&plan.part.repo, &plan.commit));
    }
    let folder = models.assembled_dir(&target.name);
    match std::fs::remove_dir_all(&folder) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(ModelsError::io(&folder, e));
        }
        _ => {}
    }
    for plan in plans {
        let snapshot = models.snapshot_dir(&plan.part.repo, &plan.commit);
        for file in &plan.files {
            let link = folder.join(&plan.part.subdir).join(&file.path);
            link_file(&snapshot.join(&file.path), &link)?;
        }
    }
    Ok(folder)
}

/// A symbolic link at `link` to `target`, making the folders it needs.
fn link_file(target: &Path, link: &Path) -> Result<(), ModelsError> {
    let parent = link.parent().expect("a file inside the folder");
    std::fs::create_dir_all(parent).map_err(|e| ModelsError::io(parent, e))?;
    std::os::unix::fs::symlink(target, link).map_err(|e| ModelsError::io(link, e))
}

fn manifest_of(target: &Target, plans: &[Plan], folder: &Path) -> Manifest {
    let parts = plans
        .iter()
        .map(|plan| PulledPart {
            repo: plan.part.repo.clone(),
            revision: plan.part.revision.clone(),
            commit: plan.commit.clone(),
            subdir: plan.part.subdir.clone(),
            files: plan
                .files
                .iter()
                .map(|f| PulledFile {
                    path: f.path.clone(),
                    size: f.size,
                })
                .collect(),
        })
        .collect();
    Manifest {
        name: target.name.clone(),
        folder: folder.to_path_buf(),
        parts,
    }
}
