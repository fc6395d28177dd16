//! Where outputs live: the [`BlobStore`] trait, the local-disk store with signed URLs and the S3
//! store (AWS, MinIO, R2, …) with presigned URLs; one [`conformance`] suite for both.
//!
//! Keys are relative paths such as `videos/<task>.mp4`. Download URLs are minted per request and
//! expire: for local disk they point at the server's `/files/` route and carry an HMAC-SHA256
//! signature over the key and the expiry, checked by [`UrlSigner::verify`]; for S3 they are the
//! bucket's own presigned GET URLs.

pub mod conformance;
mod local;
mod s3;
mod signer;
#[doc(hidden)]
pub mod testing;

pub use local::LocalBlobStore;
pub use s3::{S3BlobStore, parse_s3_url};
pub use signer::{SignatureError, UrlSigner};

use async_trait::async_trait;

/// Errors of a blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The key is not a safe relative path.
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
    /// No blob under this key.
    #[error("blob not found")]
    NotFound,
    /// The store is misconfigured (bad URL, missing credentials).
    #[error("blob store configuration: {0}")]
    Config(String),
    /// The storage failed (disk full, permissions, network).
    #[error("blob storage failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Output storage as the worker and server see it.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` under `key`, atomically (readers never see a partial blob).
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError>;
    /// Reads a whole blob.
    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError>;
    /// A URL that downloads the blob without an API key until `ttl_secs` from now.
    async fn signed_url(&self, key: &str, ttl_secs: u64) -> Result<String, BlobError>;
}

/// Refuses keys that could escape the store's root.
pub(crate) fn check_key(key: &str) -> Result<(), BlobError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(BlobError::InvalidKey(key.to_string()))
    }
}
