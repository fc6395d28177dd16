//! A Piper VITS model on ONNX Runtime: phoneme ids → frames per phoneme → waveform.
//!
//! ONNX Runtime is the library piper-tts itself runs voices with; refvid loads the build from
//! the `onnxruntime` wheel (installed by `scripts/install-speech.sh`, never downloaded at build
//! time) through the `ort` crate. Each model is loaded twice from one file, prepared by
//! [`crate::onnx_graph`]: the whole graph with its noises as inputs, and the durations-only
//! graph. Noise comes from a generator seeded per call, so a call is reproducible.

use crate::TtsError;
use crate::config::Scales;
use crate::onnx_graph::{GraphNames, prepare};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// What to synthesize.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// One sentence's ids, with the start, pad and end ids.
    pub ids: &'a [i64],
    pub scales: Scales,
    /// For multi-speaker voices (ignored by single-speaker ones).
    pub speaker: Option<u32>,
    /// Seeds both noises.
    pub seed: u64,
}

/// Frames per phoneme and the prior's shape, from the durations graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Model frames (of `hop_length` samples) for each id.
    pub frames: Vec<f32>,
    /// `[1, channels, total frames]`.
    pub prior_shape: Vec<i64>,
}

impl Timing {
    /// Total model frames.
    pub fn total_frames(&self) -> usize {
        self.prior_shape.last().copied().unwrap_or(0).max(0) as usize
    }
}

/// A loaded voice model.
pub struct VitsModel {
    full: Mutex<Session>,
    durations: Mutex<Session>,
    names: GraphNames,
}

static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads ONNX Runtime from `library` (once per process; later calls reuse the first).
pub fn init_runtime(library: &Path) -> Result<(), TtsError> {
    let loaded = RUNTIME.get_or_init(|| {
        if !library.exists() {
            return Err(format!(
                "{} is missing; install the speech runtime with scripts/install-speech.sh",
                library.display()
            ));
        }
        let builder =
            ort::init_from(library).map_err(|e| format!("loading {}: {e}", library.display()))?;
        builder
            .with_name("refvid-tts")
            .build()
            .map_err(|e| e.to_string())
    });
    loaded
        .as_ref()
        .map(|_| ())
        .map_err(|e| TtsError::Runtime(e.clone()))
}

fn environment() -> Result<&'static ort::environment::Environment, TtsError> {
    match RUNTIME.get() {
        Some(Ok(environment)) => Ok(environment),
        Some(Err(e)) => Err(TtsError::Runtime(e.clone())),
        None => Err(TtsError::Runtime("ONNX Runtime was not loaded".into())),
    }
}

impl VitsModel {
    /// Loads `path` (a Piper `.onnx` file) with `threads` threads per call.
    /// [`init_runtime`] must have succeeded first.
    pub fn load(path: &Path, threads: usize) -> Result<Self, TtsError> {
        let bytes = std::fs::read(path)
            .map_err(|e| TtsError::Model(format!("reading {}: {e}", path.display())))?;
        let prepared = prepare(&bytes)?;
        drop(bytes);
        let environment = environment()?;
        let open = |graph: &[u8]| {
            session(environment, graph, threads)
                .map_err(|e| TtsError::Model(format!("{}: {e}", path.display())))
        };
        Ok(Self {
            full: Mutex::new(open(&prepared.full)?),
            durations: Mutex::new(open(&prepared.durations)?),
            names: prepared.names,
        })
    }

    /// Frames per phoneme without making audio (a seventh of the work).
    pub fn timing(&self, request: &Request) -> Result<Timing, TtsError> {
        let seed = request.seed;
        self.timing_with(request, &move |kind, count| seeded_noise(seed, kind, count))
    }

    /// The waveform for one sentence, as the model makes it (not normalised).
    pub fn audio(&self, request: &Request) -> Result<Vec<f32>, TtsError> {
        let seed = request.seed;
        self.audio_with(request, &move |kind, count| seeded_noise(seed, kind, count))
    }

    /// [`VitsModel::timing`] with the noise given by `noise` (`count` values of `kind`).
    pub fn timing_with(&self, request: &Request, noise: &NoiseSource) -> Result<Timing, TtsError> {
        let mut session = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let mut inputs = base_inputs(&session, request)?;
        let n = request.ids.len();
        if wants(&session, &self.names.duration_noise) {
            let values = noise(Noise::Duration, 2 * n);
            inputs.push((
                self.names.duration_noise.clone().into(),
                tensor_f32(vec![1, 2, n as i64], values)?,
            ));
        }
        let outputs = session.run(inputs).map_err(failed)?;
        let (_, frames) = outputs[self.names.frames.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(failed)?;
        let (shape, _) = outputs[self.names.prior_template.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(failed)?;
        Ok(Timing {
            frames: frames.to_vec(),
            prior_shape: shape.iter().copied().collect(),
        })
    }

    /// [`VitsModel::audio`] with the noise given by `noise`.
    pub fn audio_with(&self, request: &Request, noise: &NoiseSource) -> Result<Vec<f32>, TtsError> {
        let timing = self.timing_with(request, noise)?;
        let mut session = self.full.lock().unwrap_or_else(|e| e.into_inner());
        let mut inputs = base_inputs(&session, request)?;
        let n = request.ids.len() as i64;
        let prior_count = timing
            .prior_shape
            .iter()
            .map(|d| (*d).max(0) as usize)
            .product();
        for (name, kind, shape, count) in [
            (
                &self.names.duration_noise,
                Noise::Duration,
                vec![1, 2, n],
                2 * n as usize,
            ),
            (
                &self.names.prior_noise,
                Noise::Prior,
                timing.prior_shape.clone(),
                prior_count,
            ),
        ] {
            if wants(&session, name) {
                inputs.push((name.clone().into(), tensor_f32(shape, noise(kind, count))?));
            }
        }
        let outputs = session.run(inputs).map_err(failed)?;
        let (_, audio) = outputs[self.names.audio.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(failed)?;
        Ok(audio.to_vec())
    }
}

/// Which of the model's two noises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noise {
    /// The duration predictor's, `[1, 2, ids]`.
    Duration,
    /// The prior's, `[1, channels, frames]`.
    Prior,
}

/// Gives `count` noise values of a kind.
pub type NoiseSource = dyn Fn(Noise, usize) -> Vec<f32>;

/// Standard normal noise from `seed`; each kind has its own stream, so the durations never
/// depend on how long the prior is.
pub fn seeded_noise(seed: u64, kind: Noise, count: usize) -> Vec<f32> {
    match kind {
        Noise::Duration => normal(seed, count),
        Noise::Prior => normal(seed ^ 0x9E37_79B9_7F4A_7C15, count),
    }
}

type Inputs = Vec<(
    std::borrow::Cow<'static, str>,
    ort::session::SessionInputValue<'static>,
)>;

/// `input`, `input_lengths`, `scales` and, where the model takes it, `sid`.
fn base_inputs(session: &Session, request: &Request) -> Result<Inputs, TtsError> {
    let n = request.ids.len();
    let s = request.scales;
    let mut inputs: Inputs = vec![
        (
            "input".into(),
            tensor_i64(vec![1, n as i64], request.ids.to_vec())?,
        ),
        ("input_lengths".into(), tensor_i64(vec![1], vec![n as i64])?),
        (
            "scales".into(),
            tensor_f32(vec![3], vec![s.noise_scale, s.length_scale, s.noise_w])?,
        ),
    ];
    if wants(session, "sid") {
        let sid = request.speaker.unwrap_or(0) as i64;
        inputs.push(("sid".into(), tensor_i64(vec![1], vec![sid])?));
    }
    Ok(inputs)
}

fn wants(session: &Session, name: &str) -> bool {
    session.inputs().iter().any(|i| i.name() == name)
}

/// `count` standard normal samples (Box–Muller over a seeded ChaCha stream).
pub fn normal(seed: u64, count: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(count + 1);
    while out.len() < count {
        let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
        let u2: f64 = rng.random();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        out.push((radius * angle.cos()) as f32);
        out.push((radius * angle.sin()) as f32);
    }
    out.truncate(count);
    out
}

fn tensor_i64(
    shape: Vec<i64>,
    values: Vec<i64>,
) -> Result<ort::session::SessionInputValue<'static>, TtsError> {
    Ok(Tensor::from_array((shape, values)).map_err(failed)?.into())
}

fn tensor_f32(
    shape: Vec<i64>,
    values: Vec<f32>,
) -> Result<ort::session::SessionInputValue<'static>, TtsError> {
    Ok(Tensor::from_array((shape, values)).map_err(failed)?.into())
}

/// A session on one graph: all optimisations, `threads` intra-op threads that sleep rather
/// than spin between calls (the video engine shares the CPU).
fn session(
    environment: &ort::environment::Environment,
    graph: &[u8],
    threads: usize,
) -> Result<Session, ort::Error> {
    let mut builder = Session::builder(environment)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(ort::Error::<()>::from)?
        .with_intra_threads(threads.max(1))
        .map_err(ort::Error::<()>::from)?
        .with_intra_op_spinning(false)
        .map_err(ort::Error::<()>::from)?;
    builder.commit_from_memory(graph)
}

fn failed(e: ort::Error) -> TtsError {
    TtsError::Model(format!("ONNX Runtime: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_standard_normal_and_seeded() {
        let a = normal(7, 20_001);
        assert_eq!(a.len(), 20_001);
        assert_eq!(a, normal(7, 20_001));
        assert_ne!(a[..10], normal(8, 10)[..]);
        let mean = a.iter().map(|v| *v as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
        // A prefix does not depend on how many samples are drawn.
        assert_eq!(normal(7, 5)[..], a[..5]);
    }
}
