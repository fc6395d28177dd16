//! The Hugging Face Hub, through the `hf-hub` crate: a repository's file list with sizes and
//! checksums at one commit, and resumable downloads into the Hub's cache layout.
//!
//! Why `hf-hub` 0.4.3 and not 1.0.0: 0.4.3 reads a file's metadata (commit, ETag) from the Hub's
//! first answer, not from the CDN it redirects to, and its download resumes from the last
//! committed chunk of a `.sync.part` file. 1.0.0's `get_file_metadata` follows the CDN redirect
//! and loses those headers, its tree types drop the LFS sha256 (the Hub spells it `oid`), its
//! repository info cannot ask for `blobs=true`, and its plain download starts over.

use crate::error::ModelsError;
use hf_hub::api::tokio::{Api, ApiBuilder, ApiError, ApiRepo, Progress};
use hf_hub::{Repo, RepoType};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The Hub this process talks to, and how it downloads.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Base URL (`HF_ENDPOINT`, default `https://huggingface.co`).
    pub endpoint: String,
    /// Bearer token (`HF_TOKEN`, else the token file `hf auth login` writes).
    pub token: Option<String>,
    /// Bytes per ranged request; a resume re-fetches at most one chunk per parallel request.
    pub chunk_size: usize,
    /// Chunks of one file fetched at once.
    pub parallel: usize,
}

impl HubConfig {
    /// From `HF_ENDPOINT` and `HF_TOKEN` (or the Hugging Face token file under `HF_HOME`).
    pub fn from_env() -> Self {
        let token = std::env::var("HF_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| hf_hub::Cache::from_env().token());
        Self {
            endpoint: std::env::var("HF_ENDPOINT")
                .unwrap_or_else(|_| "https://huggingface.co".into()),
            token,
            ..Self::with_endpoint("")
        }
    }

    /// Defaults with this endpoint and no token.
    pub fn with_endpoint(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').into(),
            token: None,
            chunk_size: 10 * 1024 * 1024,
            parallel: 4,
        }
    }
}

/// One file of a repository as the Hub describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub path: String,
    pub size: u64,
    /// The LFS object's sha256 (large files).
    pub sha256: Option<String>,
    /// The git blob id (sha1 of `blob <len>\0<bytes>`) of a file kept in git itself.
    pub git_oid: Option<String>,
}

/// A repository at one commit.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub commit: String,
    pub files: Vec<RemoteFile>,
}

#[derive(Deserialize)]
struct InfoBody {
    sha: String,
    siblings: Vec<SiblingBody>,
}

#[derive(Deserialize)]
struct SiblingBody {
    rfilename: String,
    size: Option<u64>,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    lfs: Option<LfsBody>,
}

#[derive(Deserialize)]
struct LfsBody {
    sha256: String,
    size: u64,
}

/// A Hub client writing into one models directory (the Hub's cache layout).
pub(crate) struct Hub {
    api: Api,
    config: HubConfig,
    endpoint: String,
    /// The models directory (named when the disk fills up).
    root: PathBuf,
}

impl Hub {
    pub(crate) fn new(config: &HubConfig, cache_root: &Path) -> Result<Self, ModelsError> {
        Ok(Self {
            api: build_api(config, cache_root)?,
            config: config.clone(),
            endpoint: config.endpoint.clone(),
            root: cache_root.to_path_buf(),
        })
    }

    fn repo(&self, repo: &str, revision: &str) -> ApiRepo {
        self.api.repo(Repo::with_revision(
            repo.into(),
            RepoType::Model,
            revision.into(),
        ))
    }

    /// The repository at `revision`: its commit and every file with size and checksum.
    pub(crate) async fn snapshot(
        &self,
        repo: &str,
        revision: &str,
    ) -> Result<Snapshot, ModelsError> {
        let response = self
            .repo(repo, revision)
            .info_request()
            .query(&[("blobs", "true")])
            .send()
            .await
            .map_err(|e| self.request_failed(repo, revision, "", None, full_chain(&e)))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(self.refused(repo, revision, "", status));
        }
        let body: InfoBody = response.json().await.map_err(|e| ModelsError::Protocol {
            repo: repo.into(),
            detail: format!("repository info: {e}"),
        })?;
        Ok(Snapshot {
            commit: body.sha,
            files: body.siblings.into_iter().map(remote_file).collect(),
        })
    }

    /// Downloads `file` at `commit` (resuming a `.sync.part` left by an earlier try); returns
    /// its path in the snapshot folder.
    pub(crate) async fn download(
        &self,
        repo: &str,
        commit: &str,
        file: &str,
        progress: impl Progress + Clone + Send + Sync + 'static,
    ) -> Result<PathBuf, ModelsError> {
        // `hf-hub` spawns one task per chunk and records only the contiguous prefix as done.
        // On a current-thread runtime the chunks start in order (so that prefix is nearly all
        // that was fetched), and dropping the runtime after a failure stops every chunk still
        // running instead of leaving them writing. A client of its own keeps that runtime's
        // connections out of the main client's pool.
        let (config, root) = (self.config.clone(), self.root.clone());
        let target = Repo::with_revision(repo.into(), RepoType::Model, commit.into());
        let name = file.to_string();
        let (done, result) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = done.send(download_on_own_runtime(
                &config, &root, target, &name, progress,
            ));
        });
        let fetched = result.await.expect("the download thread always answers")?;
        fetched.map_err(|e| self.download_failed(repo, commit, file, e))
    }

    fn download_failed(&self, repo: &str, commit: &str, file: &str, e: ApiError) -> ModelsError {
        match e {
            ApiError::RequestError(e) => {
                let status = e.status().map(|s| s.as_u16());
                self.request_failed(repo, commit, file, status, full_chain(&e))
            }
            ApiError::IoError(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                ModelsError::DiskFilledUp {
                    dir: self.root.clone(),
                    file: file.into(),
                }
            }
            ApiError::LockAcquisition(_) => ModelsError::Busy {
                repo: repo.into(),
                file: file.into(),
            },
            ApiError::TooManyRetries(inner) => self.download_failed(repo, commit, file, *inner),
            other => ModelsError::Interrupted {
                repo: repo.into(),
                file: file.into(),
                detail: other.to_string(),
            },
        }
    }

    /// A request that failed with `status` (when the server answered) or on the way.
    fn request_failed(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        status: Option<u16>,
        detail: String,
    ) -> ModelsError {
        match status {
            Some(status) => self.refused(repo, revision, file, status),
            None => ModelsError::Interrupted {
                repo: repo.into(),
                file: what(file),
                detail,
            },
        }
    }

    /// A non-success status as the error a person can act on.
    fn refused(&self, repo: &str, revision: &str, file: &str, status: u16) -> ModelsError {
        match status {
            401 | 403 => ModelsError::Unauthorized {
                repo: repo.into(),
                status,
            },
            404 if file.is_empty() => ModelsError::RepoNotFound {
                repo: repo.into(),
                revision: revision.into(),
                endpoint: self.endpoint.clone(),
            },
            404 => ModelsError::FileNotFound {
                repo: repo.into(),
                file: file.into(),
                revision: revision.into(),
            },
            _ => ModelsError::Interrupted {
                repo: repo.into(),
                file: what(file),
                detail: format!("the Hub answered HTTP {status}"),
            },
        }
    }
}

/// Runs one `hf-hub` download to its end on a current-thread runtime of its own.
fn download_on_own_runtime(
    config: &HubConfig,
    root: &Path,
    target: Repo,
    file: &str,
    progress: impl Progress + Clone + Send + Sync + 'static,
) -> Result<Result<PathBuf, ApiError>, ModelsError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ModelsError::io(root, e))?;
    let api = build_api(config, root)?;
    Ok(runtime.block_on(api.repo(target).download_with_progress(file, progress)))
}

/// An `hf-hub` client for `config` writing into `cache_root`.
fn build_api(config: &HubConfig, cache_root: &Path) -> Result<Api, ModelsError> {
    ApiBuilder::new()
        .with_endpoint(config.endpoint.clone())
        .with_cache_dir(cache_root.to_path_buf())
        .with_token(config.token.clone())
        .with_progress(false)
        .with_chunk_size(Some(config.chunk_size.max(1)))
        .with_max_files(config.parallel.max(1))
        .build()
        .map_err(|e| ModelsError::Protocol {
            repo: config.endpoint.clone(),
            detail: e.to_string(),
        })
}

/// The file a message is about (`""` is the repository's file list).
fn what(file: &str) -> String {
    if file.is_empty() {
        "the file list".into()
    } else {
        file.into()
    }
}

/// An error with its sources, `a: b: c`.
fn full_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn remote_file(body: SiblingBody) -> RemoteFile {
    let size = body.lfs.as_ref().map(|l| l.size).or(body.size).unwrap_or(0);
    RemoteFile {
        path: body.rfilename,
        size,
        sha256: body.lfs.map(|l| l.sha256.to_ascii_lowercase()),
        git_oid: body.blob_id,
    }
}
