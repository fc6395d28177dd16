//! The HTTP API: the v3 dialect (submit, task-result; our task-cancel and voices), Vidu's
//! `/ent/v2` dialect (reference2video, creations, cancel), signed downloads (`/files/`), the web
//! console, `/openapi.json`, health, readiness and metrics; and the listener's lingering close
//! ([`linger`]).
//!
//! The server only talks to the [`TaskStore`](refvid_store::TaskStore) and the
//! [`BlobStore`](refvid_blob::BlobStore); it never runs an engine. Workers pick tasks up from
//! the store, wherever they run.

mod auth;
mod console;
mod ent;
mod error;
mod files;
pub mod keys;
pub mod linger;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
mod result_doc;
mod routes;
mod submit;
pub mod voices;

pub use error::HttpError;
pub use routes::router;

use refvid_blob::{BlobStore, UrlSigner};
use refvid_store::TaskStore;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Notify;

/// Server settings that handlers read.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Lifetime of minted `video_url`s, in seconds.
    pub url_ttl_secs: u64,
    /// How many times a task may be started before it fails for good.
    pub max_attempts: u32,
    /// Tasks one key may have queued or running at once (checked in the store, so it holds
    /// across API servers).
    pub max_active_per_key: u32,
    /// Runnable queued tasks beyond which submits get 503 (the whole service is saturated).
    pub max_queue_depth: u64,
    /// Requests per minute and burst per key, per server.
    pub rate_limit: rate_limit::RateLimit,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            url_ttl_secs: 3600,
            max_attempts: 3,
            max_active_per_key: 32,
            max_queue_depth: 10_000,
            rate_limit: rate_limit::RateLimit {
                per_minute: 600,
                burst: 120,
            },
        }
    }
}

/// Local-disk downloads served by `/files/`: the blob root and the URL signer.
#[derive(Debug, Clone)]
pub struct LocalFiles {
    pub root: PathBuf,
    pub signer: UrlSigner,
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn TaskStore>,
    pub blob: Arc<dyn BlobStore>,
    /// Set when outputs are on local disk and this server serves them.
    pub local_files: Option<LocalFiles>,
    pub settings: ServerSettings,
    /// Notified after each submit, so an in-process worker wakes at once.
    pub wake: Arc<Notify>,
    pub metrics: Arc<metrics::Metrics>,
    pub limiter: Arc<rate_limit::RateLimiter>,
    /// Turns presented keys into stored digests.
    pub key_hasher: keys::KeyHasher,
    /// The voices and the dialogue check ([`voices::NoSpeech`] unless set after `new`).
    pub speech: Arc<dyn voices::Speech>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn TaskStore>,
        blob: Arc<dyn BlobStore>,
        local_files: Option<LocalFiles>,
        settings: ServerSettings,
        wake: Arc<Notify>,
        key_hasher: keys::KeyHasher,
    ) -> Self {
        let limiter = Arc::new(rate_limit::RateLimiter::new(settings.rate_limit));
        Self {
            store,
            blob,
            local_files,
            settings,
            wake,
            metrics: Default::default(),
            limiter,
            key_hasher,
            speech: Arc::new(voices::NoSpeech),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
