//! The refvid application: wiring the store, blob store, engine, worker and HTTP server
//! together from a [`ServeConfig`]. The binary's subcommands are thin layers over this.

pub mod calibrate_cmd;
pub mod client;
pub mod config_file;
pub mod engines;
pub mod generate;
pub mod keys_cmd;
pub mod models_cmd;
pub mod speech;
pub mod tts_cmd;

use anyhow::Context;
use refvid_audio::{AudioEngine, SynthAudio};
use refvid_blob::{BlobStore, LocalBlobStore, S3BlobStore, UrlSigner};
use refvid_engine::Engine;
use refvid_engine::compositor::CompositorEngine;
use refvid_media::watermark::WatermarkSource;
use refvid_media::{FetchPolicy, GuardedHttp};
use refvid_server::linger::{Linger, LingeringListener};
use refvid_server::metrics::Metrics;
use refvid_server::{AppState, LocalFiles, ServerSettings};
use refvid_store::{PgStore, SqliteStore, TaskStore};
use refvid_worker::{Deliverer, DeliverySettings, StageMetrics, Worker, WorkerSettings};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Everything `refvid serve` can be told.
#[derive(Clone)]
pub struct ServeConfig {
    /// Directory holding the SQLite database, the outputs and the URL-signing secret.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://<file>`; `None` means `<data_dir>/refvid.db`.
    pub database_url: Option<String>,
    /// `s3://bucket/prefix` (with the AWS environment variables); `None` means local disk.
    pub blob_url: Option<String>,
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Base of the URLs handed to clients; defaults to `http://<listen address>`.
    pub public_url: Option<String>,
    /// Turns the address guard off so references and webhooks may point at private networks.
    pub allow_private_networks: bool,
    /// Lifetime of `video_url`s, seconds.
    pub url_ttl_secs: u64,
    /// Tasks one API key may have queued or running at once.
    pub max_active_per_key: u32,
    /// Queued tasks beyond which submits get 503.
    pub max_queue_depth: u64,
    /// Requests per minute (and burst) one API key may make to one server.
    pub rate_limit: refvid_server::rate_limit::RateLimit,
    /// Number of in-process workers (0 for an API-only node).
    pub workers: usize,
    /// A worker's lease on a task; a task whose worker died runs again after this.
    pub lease: Duration,
    /// How often a busy worker renews its lease and reports progress.
    pub heartbeat: Duration,
    /// Secret for the `X-Refvid-Signature` HMAC header on webhook events (none: unsigned).
    pub webhook_secret: Option<String>,
    /// Delay before the first webhook retry (doubles per attempt).
    pub webhook_backoff: Duration,
    /// What `watermark: true` draws: text (default "AI generated") or an operator's PNG.
    pub watermark: WatermarkSource,
    /// Longest a task may run before it is stopped and failed.
    pub task_timeout: Duration,
    /// First delay before a task that hit a transient fault (storage) runs again; doubles.
    pub retry_backoff: Duration,
    /// The engine workers run; `None` means the CPU compositor.
    pub engine: Option<Arc<dyn Engine>>,
    /// Where a worker-only process (`refvid worker`) serves its own `/metrics`; `None`: nowhere.
    pub worker_metrics_listen: Option<SocketAddr>,
    /// The voices: `GET /v3/voices`, the dialogue check at submit and the workers' spoken
    /// lines. `None`: no speech (dialogue is refused at submit).
    pub speech: Option<Arc<speech::SpeechService>>,
}

impl ServeConfig {
    /// The embedded defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            blob_url: None,
            listen: "127.0.0.1:8080".parse().expect("a valid address"),
            public_url: None,
            allow_private_networks: false,
            url_ttl_secs: 3600,
            max_active_per_key: 32,
            max_queue_depth: 10_000,
            rate_limit: ServerSettings::default().rate_limit,
            workers: 1,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(2),
            webhook_secret: None,
            webhook_backoff: Duration::from_secs(2),
            watermark: WatermarkSource::default(),
            task_timeout: Duration::from_secs(30 * 60),
            retry_backoff: Duration::from_secs(5),
            engine: None,
            worker_metrics_listen: None,
            speech: None,
        }
    }
}

/// A running server: its address and the means to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting requests, lets workers finish their task, and waits for all of it.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Waits until the server stops (after a signal handled elsewhere sends shutdown).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// A handle that asks the server to stop.
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Opens the data directory's store.
pub async fn open_store(data_dir: &Path) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    Ok(SqliteStore::open(&data_dir.join("refvid.db")).await?)
}

/// Reads the URL-signing secret, creating it (readable by the owner only) on first use.
fn signing_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    secret_file(&data_dir.join("signing.key")).context("reading or writing the URL-signing secret")
}

/// Reads a 32-byte secret from `path`, creating it (mode 0600) with random bytes if absent.
pub(crate) fn secret_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(secret) = std::fs::read(path)
        && secret.len() >= 32
    {
        return Ok(secret);
    }
    let secret: [u8; 32] = rand::random();
    write_private(path, &secret)?;
    Ok(secret.to_vec())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The shared parts every role needs: the store and the output storage.
struct Components {
    store: Arc<dyn TaskStore>,
    blob: Arc<dyn BlobStore>,
    /// Set when outputs are on local disk (then this server serves `/files/`).
    local_files: Option<LocalFiles>,
}

async fn components(config: &ServeConfig, public_url: &str) -> anyhow::Result<Components> {
    let store = connect_store(config.database_url.as_deref(), &config.data_dir).await?;
    if let Some(url) = &config.blob_url {
        let blob = Arc::new(S3BlobStore::from_url(url).context("opening the S3 blob store")?);
        return Ok(Components {
            store,
            blob,
            local_files: None,
        });
    }
    let signer = UrlSigner::new(signing_secret(&config.data_dir)?);
    let outputs = config.data_dir.join("outputs");
    let blob = Arc::new(LocalBlobStore::new(&outputs, signer.clone(), public_url));
    Ok(Components {
        store,
        blob,
        local_files: Some(LocalFiles {
            root: outputs,
            signer,
        }),
    })
}

/// Opens the store a database URL names (`postgres://…`, `sqlite://<file>`), or the data
/// directory's SQLite file when there is none.
pub async fn connect_store(
    url: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<Arc<dyn TaskStore>> {
    match url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(
                PgStore::connect(url, None)
                    .await
                    .context("connecting to PostgreSQL")?,
            ))
        }
        Some(url) => {
            let path = url
                .strip_prefix("sqlite://")
                .context("--database-url must start with postgres:// or sqlite://")?;
            Ok(Arc::new(SqliteStore::open(Path::new(path)).await?))
        }
        None => Ok(Arc::new(open_store(data_dir).await?)),
    }
}

/// Starts the HTTP server, the in-process workers and the webhook deliverer.
pub async fn start(config: ServeConfig) -> anyhow::Result<RunningServer> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let parts = components(&config, &public_url).await?;
    let wake = Arc::new(Notify::new());
    let settings = ServerSettings {
        url_ttl_secs: config.url_ttl_secs,
        max_active_per_key: config.max_active_per_key,
        max_queue_depth: config.max_queue_depth,
        rate_limit: config.rate_limit,
        ..Default::default()
    };
    let mut state = AppState::new(
        parts.store.clone(),
        parts.blob.clone(),
        parts.local_files.clone(),
        settings,
        wake.clone(),
        keys_cmd::key_hasher(&config.data_dir)?,
    );
    let stages = StageMetrics::default();
    state.metrics = Arc::new(Metrics::new(|registry| stages.register(registry)));
    if let Some(speech) = &config.speech {
        state.speech = speech.clone();
    }
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = vec![tokio::spawn(serve_http(
        listener,
        state,
        shutdown_rx.clone(),
    ))];
    tasks.extend(spawn_workers(&config, &parts, wake, &stages, &shutdown_rx)?);
    tracing::info!(%addr, "refvid listening");
    Ok(RunningServer {
        addr,
        shutdown,
        tasks,
    })
}

/// Starts workers and the webhook deliverer without an HTTP server (`refvid worker`).
pub async fn start_workers(config: ServeConfig) -> anyhow::Result<RunningServer> {
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let parts = components(&config, &public_url).await?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let stages = StageMetrics::default();
    let mut tasks = spawn_workers(
        &config,
        &parts,
        Arc::new(Notify::new()),
        &stages,
        &shutdown_rx,
    )?;
    if let Some(addr) = config.worker_metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening for /metrics on {addr}"))?;
        tracing::info!(addr = %listener.local_addr()?, "worker metrics listening");
        tasks.push(tokio::spawn(serve_worker_metrics(
            listener,
            stages,
            shutdown_rx.clone(),
        )));
    }
    Ok(RunningServer {
        addr: config.listen,
        shutdown,
        tasks,
    })
}

fn spawn_workers(
    config: &ServeConfig,
    parts: &Components,
    wake: Arc<Notify>,
    stages: &StageMetrics,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for n in 0..config.workers {
        let worker = Worker {
            store: parts.store.clone(),
            blob: parts.blob.clone(),
            engine: config
                .engine
                .clone()
                .unwrap_or_else(|| Arc::new(CompositorEngine::new())),
            audio: audio_engine(config),
            http: GuardedHttp::new(fetch_policy(config))?,
            settings: worker_settings(config, n),
            wake: wake.clone(),
            metrics: stages.clone(),
        };
        tasks.push(tokio::spawn(worker.run(shutdown.clone())));
    }
    let deliverer = deliverer(config, parts.store.clone(), parts.blob.clone())?;
    tasks.push(tokio::spawn(deliverer.run(shutdown.clone())));
    Ok(tasks)
}

/// The workers' sound: music and ambience, with the subjects' lines when speech is configured.
pub fn audio_engine(config: &ServeConfig) -> Arc<dyn AudioEngine> {
    match &config.speech {
        Some(speech) => Arc::new(speech::VoicedAudio::new(speech.clone())),
        None => Arc::new(SynthAudio),
    }
}

fn deliverer(
    config: &ServeConfig,
    store: Arc<dyn TaskStore>,
    blob: Arc<dyn BlobStore>,
) -> anyhow::Result<Deliverer> {
    let settings = DeliverySettings {
        backoff: config.webhook_backoff,
        url_ttl_secs: config.url_ttl_secs,
        secret: config
            .webhook_secret
            .as_ref()
            .map(|s| s.as_bytes().to_vec()),
        ..DeliverySettings::default()
    };
    Ok(Deliverer {
        store,
        blob,
        http: GuardedHttp::new(fetch_policy(config))?,
        settings,
    })
}

fn fetch_policy(config: &ServeConfig) -> FetchPolicy {
    FetchPolicy {
        allow_private_networks: config.allow_private_networks,
        ..FetchPolicy::default()
    }
}

fn worker_settings(config: &ServeConfig, n: usize) -> WorkerSettings {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    let mut settings = WorkerSettings::with_id(format!("{host}-{}-{n}", std::process::id()));
    settings.lease = config.lease;
    settings.heartbeat = config.heartbeat;
    settings.watermark = config.watermark.clone();
    settings.task_timeout = config.task_timeout;
    settings.retry_backoff = config.retry_backoff;
    settings
}

/// `GET /metrics` of a worker-only process: its tasks' stage durations and outcomes.
async fn serve_worker_metrics(
    listener: tokio::net::TcpListener,
    stages: StageMetrics,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut registry = prometheus_client::registry::Registry::default();
    stages.register(&mut registry);
    let registry = Arc::new(registry);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = registry.clone();
            async move {
                let mut text = String::new();
                prometheus_client::encoding::text::encode(&mut text, &registry)
                    .expect("writing to a String");
                (
                    [("content-type", refvid_server::metrics::CONTENT_TYPE)],
                    text,
                )
            }
        }),
    );
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "worker metrics server stopped with an error");
    }
}

async fn serve_http(
    listener: tokio::net::TcpListener,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = refvid_server::router(state);
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    // Connections drain what the client still sends before closing, so a client that writes a
    // whole oversized body first reads the 413 instead of a reset.
    let listener = LingeringListener::new(listener, Linger::default());
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "HTTP server stopped with an error");
    }
}
