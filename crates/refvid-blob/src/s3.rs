//! Outputs in S3-compatible object storage, downloaded through presigned URLs.
//!
//! Configured by `s3://bucket/prefix` plus the usual AWS environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, and `AWS_ENDPOINT_URL` for
//! MinIO, Ceph, R2 and the like).

use crate::{BlobError, BlobStore, check_key};
use async_trait::async_trait;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{ObjectStoreExt, PutPayload};
use std::time::Duration;

/// A [`BlobStore`] on an S3 bucket.
#[derive(Debug)]
pub struct S3BlobStore {
    store: AmazonS3,
    prefix: String,
}

/// Splits `s3://bucket/some/prefix` into the bucket and the prefix (without slashes at the ends).
pub fn parse_s3_url(url: &str) -> Result<(String, String), BlobError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| BlobError::Config(format!("{url} is not an s3:// URL")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(BlobError::Config(format!("{url} names no bucket")));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

impl S3BlobStore {
    /// Builds the store from `s3://bucket/prefix` and the AWS environment variables.
    pub fn from_url(url: &str) -> Result<Self, BlobError> {
        let (bucket, prefix) = parse_s3_url(url)?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|e| e.starts_with("http://")) {
            builder = builder.with_allow_http(true);
        }
        let store = builder
            .build()
            .map_err(|e| BlobError::Config(e.to_string()))?;
        Ok(Self { store, prefix })
    }

    fn path(&self, key: &str) -> Result<ObjectPath, BlobError> {
        check_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        Ok(ObjectPath::from(full))
    }
}

fn storage_error(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::Io(std::io::Error::other(other.to_string())),
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        let path = self.path(key)?;
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.path(key)?;
        let result = self.store.get(&path).await.map_err(storage_error)?;
        Ok(result.bytes().await.map_err(storage_error)?.to_vec())
    }

    async fn signed_url(&self, key: &str, ttl_secs: u64) -> Result<String, BlobError> {
        let path = self.path(key)?;
        let url = self
            .store
            .signed_url(http::Method::GET, &path, Duration::from_secs(ttl_secs))
            .await
            .map_err(storage_error)?;
        Ok(url.to_string())
    }
}
