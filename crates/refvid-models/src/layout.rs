//! The models directory: the Hub's own cache layout (`models--org--repo/` with `blobs/`,
//! `snapshots/<commit>/` and `refs/`), so other Hugging Face tools can share it, plus one
//! manifest per pulled name under `refvid/`, through which `--model NAME` finds its folder.

use crate::error::ModelsError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One pulled file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledFile {
    pub path: String,
    pub size: u64,
}

/// What one repository contributed to a pulled name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledPart {
    pub repo: String,
    pub revision: String,
    pub commit: String,
    /// Its folder inside the name's folder (`""`: the name's folder is this snapshot).
    pub subdir: String,
    pub files: Vec<PulledFile>,
}

/// A pulled name: where its folder is and what is in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    /// The folder engines load (`--model-dir`).
    pub folder: PathBuf,
    pub parts: Vec<PulledPart>,
}

impl Manifest {
    /// Bytes of its files present on disk, and how many files are missing.
    pub fn on_disk(&self) -> (u64, usize) {
        let mut bytes = 0;
        let mut missing = 0;
        for part in &self.parts {
            let base = self.folder.join(&part.subdir);
            for file in &part.files {
                match std::fs::metadata(base.join(&file.path)) {
                    Ok(meta) => bytes += meta.len(),
                    Err(_) => missing += 1,
                }
            }
        }
        (bytes, missing)
    }
}

/// A models directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelsDir {
    root: PathBuf,
}

impl ModelsDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `REFVID_MODELS_DIR` if set, else `models/` under the data directory.
    pub fn from_env_or(data_dir: &Path) -> Self {
        match std::env::var_os("REFVID_MODELS_DIR") {
            Some(dir) if !dir.is_empty() => Self::new(dir),
            _ => Self::new(data_dir.join("models")),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Hub cache's snapshot folder of `repo` at `commit`.
    pub fn snapshot_dir(&self, repo: &str, commit: &str) -> PathBuf {
        let folder = format!("models--{}", repo.replace('/', "--"));
        self.root.join(folder).join("snapshots").join(commit)
    }

    /// The folder assembled for a multi-part name (links to each part's files).
    pub fn assembled_dir(&self, name: &str) -> PathBuf {
        self.root.join("refvid").join(slug(name))
    }

    fn manifest_path(&self, name: &str) -> PathBuf {
        self.root
            .join("refvid")
            .join(format!("{}.json", slug(name)))
    }

    /// Records a finished pull (written whole, then renamed into place).
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<(), ModelsError> {
        let path = self.manifest_path(&manifest.name);
        let dir = path.parent().expect("under the root");
        std::fs::create_dir_all(dir).map_err(|e| ModelsError::io(dir, e))?;
        let text = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text).map_err(|e| ModelsError::io(&partial, e))?;
        std::fs::rename(&partial, &path).map_err(|e| ModelsError::io(&path, e))
    }

    /// The manifest of a pulled name.
    pub fn manifest(&self, name: &str) -> Option<Manifest> {
        let text = std::fs::read(self.manifest_path(name)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Every pulled name, sorted.
    pub fn manifests(&self) -> Vec<Manifest> {
        let Ok(entries) = std::fs::read_dir(self.root.join("refvid")) else {
            return Vec::new();
        };
        let mut found: Vec<Manifest> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    /// The folder of a pulled name, every file in place; the error says how to pull it.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, ModelsError> {
        let not_pulled = || ModelsError::NotPulled {
            name: name.into(),
            dir: self.root.clone(),
        };
        let manifest = self.manifest(name).ok_or_else(not_pulled)?;
        match manifest.on_disk() {
            (_, 0) => Ok(manifest.folder),
            _ => Err(not_pulled()),
        }
    }

    /// The one file of a pulled name (a LoRA: `--lora NAME`), every file in place.
    pub fn resolve_file(&self, name: &str) -> Result<PathBuf, ModelsError> {
        let folder = self.resolve(name)?;
        let manifest = self.manifest(name).expect("resolve read it");
        let mut files = manifest.parts.iter().flat_map(|part| {
            part.files
                .iter()
                .map(|f| folder.join(&part.subdir).join(&f.path))
        });
        match (files.next(), files.count()) {
            (Some(file), 0) => Ok(file),
            (first, rest) => Err(ModelsError::NotOneFile {
                name: name.into(),
                count: usize::from(first.is_some()) + rest,
            }),
        }
    }

    /// Free bytes on the file system holding the models directory (or its nearest parent).
    pub fn free_bytes(&self) -> Option<u64> {
        let mut dir = self.root.as_path();
        while !dir.exists() {
            dir = dir.parent()?;
        }
        free_bytes_at(dir)
    }
}

/// A name as a file name: letters, digits, `.`, `_`, `-` kept, `/` as `--`, anything else `_`.
fn slug(name: &str) -> String {
    name.replace('/', "--")
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect()
}

fn free_bytes_at(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stats` is written by statvfs on success.
    let done = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if done != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    // The fields' widths differ between platforms; u64 holds them all.
    #[allow(clippy::unnecessary_cast)]
    Some(stats.f_bavail as u64 * stats.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_safe_file_names() {
        assert_eq!(slug("org/repo:a.json,b"), "org--repo_a.json_b");
        assert_eq!(slug("wan2.1-vace-1.3b"), "wan2.1-vace-1.3b");
    }

    #[test]
    fn an_unpulled_name_says_how_to_pull_it() {
        let dir = tempfile::tempdir().unwrap();
        let models = ModelsDir::new(dir.path());
        let err = models.resolve("wan2.1-vace-1.3b").unwrap_err().to_string();
        assert!(err.contains("refvid models pull wan2.1-vace-1.3b"), "{err}");
        assert!(models.free_bytes().unwrap() > 0);
    }

    #[test]
    fn a_manifest_resolves_only_while_its_files_are_there() {
        let dir = tempfile::tempdir().unwrap();
        let models = ModelsDir::new(dir.path().join("m"));
        let folder = dir.path().join("snap");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("a.json"), b"{}").unwrap();
        let manifest = Manifest {
            name: "org/repo".into(),
            folder: folder.clone(),
            parts: vec![PulledPart {
                repo: "org/repo".into(),
                revision: "main".into(),
                commit: "c".into(),
                subdir: String::new(),
                files: vec![PulledFile {
                    path: "a.json".into(),
                    size: 2,
                }],
            }],
        };
        models.write_manifest(&manifest).unwrap();
        assert_eq!(models.resolve("org/repo").unwrap(), folder);
        assert_eq!(models.manifests(), vec![manifest.clone()]);
        assert_eq!(manifest.on_disk(), (2, 0));
        assert_eq!(
            models.resolve_file("org/repo").unwrap(),
            folder.join("a.json")
        );
        let mut two = Manifest {
            name: "org/two".into(),
            ..manifest.clone()
        };
        two.parts[0].files.push(PulledFile {
            path: "a.json".into(),
            size: 2,
        });
        models.write_manifest(&two).unwrap();
        let err = models.resolve_file("org/two").unwrap_err();
        assert!(err.to_string().contains("holds 2 files"), "{err}");
        std::fs::remove_file(folder.join("a.json")).unwrap();
        assert!(models.resolve("org/repo").is_err());
        assert!(models.resolve_file("org/repo").is_err());
    }
}
