//! The `refvid` command: `serve` (API + in-process worker), `worker`, `generate` (one local
//! render), `migrate`, `keys`, the client commands and the model port's tools.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use refvid::{ServeConfig, connect_store, keys_cmd};
use refvid_media::watermark::WatermarkSource;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// mimalloc instead of glibc's malloc: the model path allocates and frees tensors of tens to
/// hundreds of MiB on every operation, which glibc serves with fresh `mmap`s and hands back with
/// `munmap` each time, so every page is faulted in and zeroed again. mimalloc reuses freed memory
/// (README "Measured" compares the two; the `system-alloc` feature builds with glibc's for that).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Self-hosted reference-to-video generation speaking the VIDU Q2 Pro Fast API.
#[derive(Debug, Parser)]
#[command(name = "refvid", version)]
struct Cli {
    /// Log lines as `text` or `json` (one object per line, for log collectors).
    #[arg(long, global = true, env = "REFVID_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// A TOML file of settings, one key per flag (`engine = "wan"`, `model_dir = "…"`); flags
    /// and environment variables override it.
    #[arg(long, global = true, env = "REFVID_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API with in-process workers.
    Serve(ServeArgs),
    /// Run workers only (no HTTP), sharing the store and the outputs with API servers.
    Worker(WorkerArgs),
    /// Render one request file to an MP4 on this machine (no server, no store), with a progress bar.
    Generate(GenerateArgs),
    /// Apply database migrations and exit (they also run at every start).
    Migrate(StoreArgs),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The Wan model port's tools.
    #[command(subcommand)]
    Wan(WanCommand),
    /// Model weights: pull them from the Hugging Face Hub, list what is on disk.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Submit a request to a server, follow its progress and download the video.
    Submit(SubmitArgs),
    /// Speak text with a Piper voice into a WAV file, or print the phoneme ids it becomes.
    Tts(refvid::tts_cmd::TtsArgs),
    /// Print a task's result document.
    Status {
        #[command(flatten)]
        endpoint: EndpointArgs,
        task_id: String,
    },
    /// Follow a task until it ends and download its video.
    Wait {
        #[command(flatten)]
        endpoint: EndpointArgs,
        task_id: String,
        /// Where to write the MP4 (default: <task_id>.mp4).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum WanCommand {
    /// Run one module of a checkpoint on named input tensors and write its outputs, for
    /// comparison with the reference implementation (see docs/PARITY.md).
    Check {
        /// A diffusers pipeline folder, the module's own folder, an original Wan folder or one
        /// weight file (.safetensors or .pth, either key layout).
        #[arg(long)]
        model: PathBuf,
        /// text_encoder, transformer, vae_encode, vae_decode, pipeline or phantom.
        #[arg(long)]
        module: refvid_wan::Module,
        /// Input tensors (safetensors) named as the module's forward arguments.
        #[arg(long)]
        inputs: PathBuf,
        /// Where to write the outputs (safetensors).
        #[arg(long)]
        out: PathBuf,
        /// Computation precision: f32, bf16 or f16.
        #[arg(long, default_value = "f32")]
        dtype: refvid_wan::runtime::Precision,
        /// cpu, cuda or cuda:N (the CUDA device of ordinal N; needs a build with --features cuda).
        #[arg(long, default_value = "cpu", value_parser = refvid_wan::runtime::DeviceKind::parse_available)]
        device: refvid_wan::runtime::DeviceKind,
        /// Step cache of the pipeline module: none, first_block:THRESHOLD or
        /// mag:THRESHOLD[,MAX_SKIP_STEPS]; what it skipped is written to the outputs too.
        #[arg(long, default_value = "none")]
        cache: refvid_wan::step_cache::CacheConfig,
        /// MagCache ratios (JSON: one list, one list per guidance pass, or the file
        /// `wan calibrate-mag` writes); default: MagCache's Wan2.1-T2V-1.3B ratios.
        #[arg(long)]
        mag_ratios: Option<PathBuf>,
        /// A LoRA merged into the transformer before the run: FILE[:SCALE] (scale 1 by
        /// default); repeat for several. Diffusers/PEFT, original Wan and musubi-tuner keys.
        #[arg(long = "lora")]
        loras: Vec<refvid_wan::lora::LoraSpec>,
        /// none, model (each module built for its run) or blocks (the transformer's and text
        /// encoder's blocks streamed, the next one prefetched).
        #[arg(long, default_value = "none")]
        offload: refvid_wan::offload::Offload,
        /// VAE decoding in tiles: auto (on with --offload model or blocks), on or off.
        #[arg(long, default_value = "auto")]
        vae_tiling: refvid_wan::offload::TilingChoice,
    },
    /// Measure a checkpoint's MagCache magnitude ratios (one full generation that skips
    /// nothing) and write them as JSON for --mag-ratios.
    CalibrateMag(CalibrateMagArgs),
    /// Time one generation at a model's real shapes with random weights (nothing downloaded):
    /// text encoding, each denoising step (all guidance passes), VAE decoding, peak memory.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// 1.3b, 14b, a JSON file {"transformer": {...}, "text_encoder": {...}, "vae": {...}}
    /// of the modules' config.json keys, or a diffusers model folder (its modules' configs).
    #[arg(long)]
    shapes: refvid_wan::bench::ShapesArg,
    /// vace (Wan2.1-VACE, 2 passes per step) or phantom (Phantom-Wan on the T2V transformer,
    /// 3 passes per step).
    #[arg(long, default_value = "vace")]
    engine: refvid_wan::bench::BenchEngine,
    /// Video size WIDTHxHEIGHT (multiples of 16).
    #[arg(long, default_value = "832x480", value_parser = refvid::engines::parse_size)]
    size: (usize, usize),
    /// Frames (4k + 1).
    #[arg(long, default_value_t = 81)]
    frames: usize,
    /// Denoising steps (step_s is the mean of those after the first).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// f32, bf16 or f16 (text encoder and transformer; the VAE runs in f32).
    #[arg(long, default_value = "bf16")]
    dtype: refvid_wan::runtime::Precision,
    /// cpu, cuda or cuda:N (cuda needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: refvid_wan::runtime::DeviceKind,
    /// What stays on the device between uses: none, model (each module only for its stage)
    /// or blocks (also the transformer's and text encoder's blocks streamed one at a time).
    #[arg(long, default_value = "none")]
    offload: refvid_wan::offload::Offload,
    /// Reference images (each adds one latent frame).
    #[arg(long, default_value_t = 1)]
    references: usize,
    /// Print one JSON line instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CalibrateMagArgs {
    /// A diffusers Wan2.1-VACE pipeline folder.
    #[arg(long)]
    model: PathBuf,
    /// Where to write the ratios (JSON).
    #[arg(long, short)]
    out: PathBuf,
    /// The prompt of the calibration run (the ratios hardly depend on it).
    #[arg(
        long,
        default_value = "A person walks through a sunny park, cinematic lighting"
    )]
    prompt: String,
    #[arg(long, default_value = "")]
    negative_prompt: String,
    /// The steps the ratios are for (other step counts interpolate them).
    #[arg(long, default_value_t = 50)]
    steps: usize,
    #[arg(long, default_value_t = 5.0)]
    guidance: f64,
    /// Flow shift (default: the folder's scheduler config).
    #[arg(long)]
    shift: Option<f64>,
    /// Video size WIDTHxHEIGHT.
    #[arg(long, default_value = "832x480", value_parser = refvid::engines::parse_size)]
    size: (usize, usize),
    /// Frames (4k + 1).
    #[arg(long, default_value_t = 81)]
    frames: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    dtype: refvid_wan::runtime::Precision,
    /// cpu, cuda or cuda:N (the CUDA device of ordinal N; needs a build with --features cuda).
    #[arg(long, default_value = "cpu", value_parser = refvid_wan::runtime::DeviceKind::parse_available)]
    device: refvid_wan::runtime::DeviceKind,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Download a model (a catalogue name from `refvid models list`, or a Hub repository
    /// `org/repo`, optionally `org/repo:file1,file2`) with its checksums checked; resumes an
    /// interrupted pull. Honours HF_ENDPOINT and HF_TOKEN. The last line printed is the folder.
    Pull {
        name: String,
        /// The models directory (default: models/ under the data directory).
        #[arg(long, env = "REFVID_MODELS_DIR")]
        dir: Option<PathBuf>,
        /// Branch, tag or commit (default: the catalogue's, or main).
        #[arg(long)]
        revision: Option<String>,
        /// No progress bars.
        #[arg(long, short)]
        quiet: bool,
    },
    /// The catalogue and every pulled model, with sizes on disk and folders.
    List {
        /// The models directory (default: models/ under the data directory).
        #[arg(long, env = "REFVID_MODELS_DIR")]
        dir: Option<PathBuf>,
    },
}

/// Which server, and the key to use there.
#[derive(Debug, Args, Clone)]
struct EndpointArgs {
    /// Base URL of the API.
    #[arg(long, env = "REFVID_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// API key (Bearer).
    #[arg(long, env = "REFVID_API_KEY", hide_env_values = true)]
    api_key: String,
}

impl EndpointArgs {
    fn endpoint(&self) -> refvid::client::Endpoint {
        refvid::client::Endpoint {
            server: self.server.clone(),
            api_key: self.api_key.clone(),
        }
    }
}

#[derive(Debug, Args)]
struct SubmitArgs {
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// A JSON request body; the flags below override its fields.
    request: Option<PathBuf>,
    #[arg(long)]
    prompt: Option<String>,
    /// A subject: name=image1,image2 (local files or URLs); repeat for more subjects.
    #[arg(long = "subject")]
    subjects: Vec<String>,
    /// A reference image for non-subject mode; repeat for more.
    #[arg(long = "image")]
    images: Vec<String>,
    #[arg(long)]
    duration: Option<u32>,
    #[arg(long)]
    resolution: Option<String>,
    #[arg(long)]
    aspect_ratio: Option<String>,
    #[arg(long)]
    movement_amplitude: Option<String>,
    #[arg(long)]
    seed: Option<u32>,
    #[arg(long)]
    bgm: bool,
    #[arg(long)]
    audio: bool,
    #[arg(long)]
    watermark: bool,
    /// Only print the task id; don't wait.
    #[arg(long)]
    no_wait: bool,
    /// Where to write the MP4 (default: <task_id>.mp4).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// Where tasks and outputs live.
#[derive(Debug, Args, Clone)]
struct StoreArgs {
    /// Directory for the SQLite database, local outputs and secrets.
    #[arg(long, env = "REFVID_DATA_DIR", default_value = "./refvid-data")]
    data_dir: PathBuf,
    /// Task store: postgres://user@host/db or sqlite://<file> (default: <data-dir>/refvid.db).
    #[arg(long, env = "REFVID_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Output storage: s3://bucket/prefix (credentials and endpoint from the AWS_* variables);
    /// default: <data-dir>/outputs on local disk.
    #[arg(long, env = "REFVID_BLOB_URL")]
    blob_url: Option<String>,
}

/// What workers need.
#[derive(Debug, Args, Clone)]
struct WorkerOptions {
    /// Allow reference and webhook URLs that resolve to loopback/private addresses (testing only).
    #[arg(long, env = "REFVID_ALLOW_PRIVATE_NETWORKS")]
    allow_private_networks: bool,
    /// Lifetime of video_url links, in seconds.
    #[arg(long, env = "REFVID_URL_TTL_SECS", default_value_t = 3600)]
    url_ttl_secs: u64,
    /// Seconds a worker's claim on a task lasts without a heartbeat.
    #[arg(long, env = "REFVID_LEASE_SECS", default_value_t = 30)]
    lease_secs: u64,
    /// Milliseconds between a busy worker's heartbeats.
    #[arg(long, env = "REFVID_HEARTBEAT_MS", default_value_t = 2000)]
    heartbeat_ms: u64,
    /// Secret for signing webhook events (X-Refvid-Signature: sha256=<HMAC-SHA256 of the body>).
    #[arg(long, env = "REFVID_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Base URL clients reach the API server at (used in video_url); defaults to http://<listen>.
    #[arg(long, env = "REFVID_PUBLIC_URL")]
    public_url: Option<String>,
    /// Text of the visible watermark drawn for `watermark: true`.
    #[arg(long, env = "REFVID_WATERMARK_TEXT", default_value = "AI generated")]
    watermark_text: String,
    /// A PNG drawn as the watermark instead of the text.
    #[arg(long, env = "REFVID_WATERMARK_IMAGE")]
    watermark_image: Option<PathBuf>,
    /// Longest a task may run before it is stopped and failed, in seconds.
    #[arg(long, env = "REFVID_TASK_TIMEOUT_SECS", default_value_t = 1800)]
    task_timeout_secs: u64,
    #[command(flatten)]
    speech: refvid::tts_cmd::SpeechArgs,
    #[command(flatten)]
    engine: refvid::engines::EngineChoice,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// The request: a v3 submit body as JSON (image entries may be local file paths).
    request: PathBuf,
    /// Where to write the MP4.
    #[arg(long, short, default_value = "refvid.mp4")]
    out: PathBuf,
    /// Also write the cover frame (JPEG) here.
    #[arg(long)]
    cover: Option<PathBuf>,
    /// Overrides the request's seed.
    #[arg(long)]
    seed: Option<u32>,
    /// Allow reference URLs that resolve to loopback/private addresses.
    #[arg(long)]
    allow_private_networks: bool,
    /// Text of the visible watermark drawn for `watermark: true`.
    #[arg(long, default_value = "AI generated")]
    watermark_text: String,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    speech: refvid::tts_cmd::SpeechArgs,
    #[command(flatten)]
    engine: refvid::engines::EngineChoice,
}

impl WorkerOptions {
    fn watermark(&self) -> anyhow::Result<WatermarkSource> {
        match &self.watermark_image {
            Some(path) => {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                Ok(WatermarkSource::Png(bytes))
            }
            None => Ok(WatermarkSource::Text(self.watermark_text.clone())),
        }
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "REFVID_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Number of in-process workers.
    #[arg(long, env = "REFVID_WORKERS", default_value_t = 1)]
    workers: usize,
    /// Run no worker here (an API-only node).
    #[arg(long)]
    no_worker: bool,
    /// Tasks one API key may have queued or running at once (429 beyond).
    #[arg(long, env = "REFVID_MAX_ACTIVE_TASKS_PER_KEY", default_value_t = 32)]
    max_active_tasks_per_key: u32,
    /// Queued tasks (all keys) beyond which submits get 503.
    #[arg(long, env = "REFVID_MAX_QUEUE_DEPTH", default_value_t = 10_000)]
    max_queue_depth: u64,
    /// Requests per minute one API key may make to this server (429 beyond).
    #[arg(long, env = "REFVID_RATE_LIMIT_PER_MINUTE", default_value_t = 1200)]
    rate_limit_per_minute: u32,
    /// Requests one API key may make in a burst before the per-minute rate applies.
    #[arg(long, env = "REFVID_RATE_LIMIT_BURST", default_value_t = 240)]
    rate_limit_burst: u32, // Last: the engine's flag groups (inside) set help headings that would carry over.
    #[command(flatten)]
    options: WorkerOptions,
}

#[derive(Debug, Args)]
struct WorkerArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Tasks run at the same time by this process.
    #[arg(long, env = "REFVID_CONCURRENCY", default_value_t = 1)]
    concurrency: usize,
    /// Serve this worker's Prometheus `/metrics` (stage durations, outcomes) on this address.
    #[arg(long, env = "REFVID_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>, // Last: the engine's flag groups (inside) set help headings that would carry over.
    #[command(flatten)]
    options: WorkerOptions,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an API key; its value is printed once, as the last line.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// A label for the key.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Revoke the keys with this id or name; they stop working at once.
    Revoke {
        #[command(flatten)]
        store: StoreArgs,
        /// The key's id or name.
        id_or_name: String,
    },
}

fn main() -> anyhow::Result<()> {
    apply_config_file()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(Cli::parse()))
}

/// Turns `--config FILE` into environment variables the flags read (see `refvid::config_file`).
fn apply_config_file() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = refvid::config_file::path_from(&args, std::env::var("REFVID_CONFIG").ok())
    else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let known = env_names(&<Cli as clap::CommandFactory>::command());
    let settings = refvid::config_file::settings_of(&text, std::path::Path::new(&path), &known)?;
    for (var, value) in settings {
        if std::env::var_os(&var).is_none() {
            // SAFETY: this runs first in `main`, before the runtime or any other thread exists,
            // so nothing can read the environment concurrently.
            unsafe { std::env::set_var(&var, value) };
        }
    }
    Ok(())
}

/// Every environment variable a flag of any subcommand reads.
fn env_names(command: &clap::Command) -> Vec<String> {
    let mut names: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .filter(|e| e != "REFVID_CONFIG")
        .collect();
    for sub in command.get_subcommands() {
        names.extend(env_names(sub));
    }
    names.sort();
    names.dedup();
    names
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Worker(args) => worker(args).await,
        Command::Generate(args) => generate(args).await,
        Command::Migrate(store) => {
            connect_store(store.database_url.as_deref(), &store.data_dir).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Keys(KeysCommand::Create { store, name }) => {
            let store_handle =
                connect_store(store.database_url.as_deref(), &store.data_dir).await?;
            let key = keys_cmd::create_key(store_handle.as_ref(), &store.data_dir, &name).await?;
            println!("Created API key {name:?} (store it now; it is not shown again):");
            println!("{key}");
            Ok(())
        }
        Command::Submit(args) => submit(args).await,
        Command::Models(ModelsCommand::Pull {
            name,
            dir,
            revision,
            quiet,
        }) => {
            let dir = refvid::models_cmd::models_dir(dir.as_deref());
            refvid::models_cmd::pull(&name, &dir, revision, quiet).await
        }
        Command::Models(ModelsCommand::List { dir }) => {
            refvid::models_cmd::list(&refvid::models_cmd::models_dir(dir.as_deref()));
            Ok(())
        }
        Command::Tts(args) => refvid::tts_cmd::run(&args),
        Command::Wan(WanCommand::Check {
            model,
            module,
            inputs,
            out,
            dtype,
            device,
            cache,
            mag_ratios,
            loras,
            offload,
            vae_tiling,
        }) => {
            let models = refvid::models_cmd::models_dir(None);
            let args = refvid_wan::CheckArgs {
                model: refvid::models_cmd::folder_of(&model, &models)?,
                module,
                inputs,
                out,
                dtype,
                device,
                cache: cache.with_ratio_file(mag_ratios.as_deref())?,
                loras,
            };
            let place = refvid_wan::CheckPlacement {
                offload,
                vae_tiling,
            };
            Ok(refvid_wan::run_check_placed(&args, place)?)
        }
        Command::Wan(WanCommand::Bench(a)) => {
            let report = refvid_wan::bench::run(&refvid_wan::bench::BenchOptions {
                shapes: a.shapes,
                engine: a.engine,
                width: a.size.0,
                height: a.size.1,
                frames: a.frames,
                steps: a.steps,
                precision: a.dtype,
                device: a.device,
                offload: a.offload,
                references: a.references,
            })?;
            if a.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.table());
            }
            Ok(())
        }
        Command::Wan(WanCommand::CalibrateMag(a)) => {
            let ratios =
                refvid::calibrate_cmd::calibrate_mag(&refvid::calibrate_cmd::CalibrateOptions {
                    model: refvid::models_cmd::folder_of(
                        &a.model,
                        &refvid::models_cmd::models_dir(None),
                    )?,
                    out: a.out.clone(),
                    prompt: a.prompt,
                    negative_prompt: a.negative_prompt,
                    steps: a.steps,
                    guidance: a.guidance,
                    shift: a.shift,
                    size: a.size,
                    frames: a.frames,
                    seed: a.seed,
                    precision: a.dtype,
                    device: a.device,
                })?;
            println!(
                "wrote {} ({} passes x {} steps)",
                a.out.display(),
                ratios.len(),
                ratios.first().map_or(0, Vec::len)
            );
            Ok(())
        }
        Command::Status { endpoint, task_id } => {
            let doc = refvid::client::status(&endpoint.endpoint(), &task_id).await?;
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(())
        }
        Command::Wait {
            endpoint,
            task_id,
            out,
        } => {
            let path = refvid::client::wait(&endpoint.endpoint(), &task_id, out).await?;
            println!("{}", path.display());
            Ok(())
        }
        Command::Keys(KeysCommand::Revoke { store, id_or_name }) => {
            let store = connect_store(store.database_url.as_deref(), &store.data_dir).await?;
            let revoked = store
                .revoke_key(&id_or_name, refvid_server::now_ms())
                .await?;
            anyhow::ensure!(revoked > 0, "no live key has the id or name {id_or_name:?}");
            println!("revoked {revoked} key(s)");
            Ok(())
        }
    }
}

async fn submit(args: SubmitArgs) -> anyhow::Result<()> {
    let fields = refvid::client::RequestFields {
        prompt: args.prompt,
        subjects: args.subjects,
        images: args.images,
        duration: args.duration,
        resolution: args.resolution,
        aspect_ratio: args.aspect_ratio,
        movement_amplitude: args.movement_amplitude,
        seed: args.seed,
        bgm: args.bgm,
        audio: args.audio,
        watermark: args.watermark,
    };
    let body = refvid::client::build_request(args.request.as_deref(), &fields)?;
    let endpoint = args.endpoint.endpoint();
    let task_id = refvid::client::submit(&endpoint, &body).await?;
    eprintln!("task {task_id} accepted");
    if args.no_wait {
        println!("{task_id}");
        return Ok(());
    }
    let path = refvid::client::wait(&endpoint, &task_id, args.out).await?;
    println!("{}", path.display());
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn config_of(
    store: StoreArgs,
    options: WorkerOptions,
    listen: SocketAddr,
    workers: usize,
) -> anyhow::Result<ServeConfig> {
    Ok(ServeConfig {
        speech: Some(std::sync::Arc::new(refvid::speech::SpeechService::open(
            &options.speech,
        )?)),
        watermark: options.watermark()?,
        task_timeout: Duration::from_secs(options.task_timeout_secs),
        retry_backoff: Duration::from_secs(5),
        engine: None,
        worker_metrics_listen: None,
        data_dir: store.data_dir,
        database_url: store.database_url,
        blob_url: store.blob_url,
        listen,
        public_url: options.public_url,
        allow_private_networks: options.allow_private_networks,
        url_ttl_secs: options.url_ttl_secs,
        max_active_per_key: 32,
        max_queue_depth: 10_000,
        rate_limit: refvid_server::ServerSettings::default().rate_limit,
        workers,
        lease: Duration::from_secs(options.lease_secs),
        heartbeat: Duration::from_millis(options.heartbeat_ms),
        webhook_secret: options.webhook_secret,
        webhook_backoff: Duration::from_secs(2),
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let workers = if args.no_worker { 0 } else { args.workers };
    let store = connect_store(args.store.database_url.as_deref(), &args.store.data_dir).await?;
    if let Some(key) = keys_cmd::ensure_initial_key(store.as_ref(), &args.store.data_dir).await? {
        println!("No API key existed, so one was created (store it now; it is not shown again):");
        println!("{key}");
    }
    let mut choice = args.options.engine.clone();
    choice
        .model
        .models_dir
        .get_or_insert_with(|| args.store.data_dir.join("models"));
    let engine = (workers > 0)
        .then(|| refvid::engines::build_engine(&choice))
        .transpose()?;
    let mut config = config_of(args.store, args.options, args.listen, workers)?;
    config.engine = engine;
    config.max_active_per_key = args.max_active_tasks_per_key;
    config.max_queue_depth = args.max_queue_depth;
    config.rate_limit = refvid_server::rate_limit::RateLimit {
        per_minute: args.rate_limit_per_minute,
        burst: args.rate_limit_burst,
    };
    let server = refvid::start(config).await?;
    println!("refvid listening on http://{}", server.addr);
    run_until_signal(server).await
}

async fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let engine = refvid::engines::build_engine(&args.engine)?;
    let fields = refvid::client::RequestFields {
        seed: args.seed,
        ..Default::default()
    };
    let body = refvid::client::build_request(Some(&args.request), &fields)?;
    let options = refvid::generate::GenerateOptions {
        engine,
        watermark: WatermarkSource::Text(args.watermark_text.clone()),
        allow_private_networks: args.allow_private_networks,
        show_progress: !args.quiet,
        cover_out: args.cover.as_deref(),
        speech: Some(std::sync::Arc::new(refvid::speech::SpeechService::open(
            &args.speech,
        )?)),
    };
    let done = refvid::generate::generate(&body, &args.out, options).await?;
    println!(
        "wrote {} ({}x{}, {} frames, seed {}) in {:.1} s",
        args.out.display(),
        done.width,
        done.height,
        done.frames,
        done.seed,
        done.took.as_secs_f64()
    );
    Ok(())
}

async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let listen = "127.0.0.1:8080".parse().expect("a valid address");
    let mut choice = args.options.engine.clone();
    choice
        .model
        .models_dir
        .get_or_insert_with(|| args.store.data_dir.join("models"));
    let engine = refvid::engines::build_engine(&choice)?;
    let mut config = config_of(args.store, args.options, listen, args.concurrency)?;
    config.engine = Some(engine);
    config.worker_metrics_listen = args.metrics_listen;
    let running = refvid::start_workers(config).await?;
    println!(
        "refvid worker started ({} concurrent tasks)",
        args.concurrency
    );
    run_until_signal(running).await
}

/// Waits for SIGINT/SIGTERM, then stops taking work and lets tasks in flight finish.
async fn run_until_signal(running: refvid::RunningServer) -> anyhow::Result<()> {
    let stop = running.shutdown_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing tasks in flight");
        let _ = stop.send(true);
    });
    running.wait().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
