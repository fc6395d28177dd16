//! Blobs as files under a root directory, served by the API server's `/files/` route.

use crate::{BlobError, BlobStore, UrlSigner, check_key};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A [`BlobStore`] on local disk.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
    signer: UrlSigner,
    /// Public base URL of the server, e.g. `http://127.0.0.1:8080`, without a trailing slash.
    public_base: String,
}

impl LocalBlobStore {
    pub fn new(root: impl Into<PathBuf>, signer: UrlSigner, public_base: &str) -> Self {
        let public_base = public_base.trim_end_matches('/').to_string();
        Self {
            root: root.into(),
            signer,
            public_base,
        }
    }

    /// The file that holds `key`.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    pub fn signer(&self) -> &UrlSigner {
        &self.signer
    }
}

/// Writes to a temporary file beside the target, syncs it, then renames it into place.
///
/// Plain blocking I/O on a blocking thread: tokio's buffered `File` can report a failed write
/// (a full disk) only on a later call, and a lost error here would mean a truncated video
/// marked as finished.
async fn write_atomically(path: &Path, bytes: Vec<u8>) -> std::io::Result<()> {
    let path = path.to_path_buf();
    let joined = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
        let result = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    })
    .await;
    joined.unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        write_atomically(&self.path_of(key)?, bytes).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        match tokio::fs::read(self.path_of(key)?).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound),
            other => Ok(other?),
        }
    }

    async fn signed_url(&self, key: &str, ttl_secs: u64) -> Result<String, BlobError> {
        check_key(key)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let expires = now + ttl_secs;
        let sig = self.signer.sign(key, expires);
        Ok(format!(
            "{}/files/{key}?expires={expires}&sig={sig}",
            self.public_base
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_round_trip_and_keys_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::new(dir.path(), UrlSigner::new(vec![1; 32]), "http://h:1/");
        store.put("videos/a.mp4", vec![1, 2, 3]).await.unwrap();
        assert_eq!(store.get("videos/a.mp4").await.unwrap(), vec![1, 2, 3]);
        assert!(matches!(
            store.get("videos/b.mp4").await,
            Err(BlobError::NotFound)
        ));
        for bad in ["../x", "/etc/passwd", "a//b", "a/./b", "", "a b"] {
            assert!(
                matches!(store.put(bad, vec![]).await, Err(BlobError::InvalidKey(_))),
                "{bad}"
            );
        }
        let url = store.signed_url("videos/a.mp4", 60).await.unwrap();
        assert!(
            url.starts_with("http://h:1/files/videos/a.mp4?expires="),
            "{url}"
        );
    }
}
