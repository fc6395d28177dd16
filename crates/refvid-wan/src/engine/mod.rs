//! The seam between refvid's [`Engine`] trait and the video models of this crate.
//!
//! A [`VideoModel`] renders at its own size and rate: prompt, references and seed in
//! ([`NativeRequest`]), frames `[F, H, W, 3]` in 0..1 out, with a callback after every denoising
//! step that may stop it. [`ModelEngine`] adapts any such model to a [`RenderJob`], once for all:
//!
//! 1. **Prompt**: mentions rewritten into the subjects' names ([`rewrite_mentions`]: `@red_fox` →
//!    `red fox`, `@1` → the first subject's name, `the first subject` when names are numbers), and the request's `movement_amplitude` as a sentence after it
//!    ([`motion`]).
//! 2. **References**: every image of every subject, in request order, flattened over white, at
//!    most [`VideoModel::max_references`] ([`fit::references_of`]).
//! 3. **Native size and frame count** from the job's geometry and duration ([`fit`]).
//! 4. **Fitting**: the native frames blended in time to the job's frame rate and scaled to its
//!    geometry ([`fit::fit_frames`]).
//!
//! Progress is reported after every denoising step (to 90 %) and per output frame (the last
//! 10 %); a [`Control::Stop`] between steps ends the render with [`EngineError::Cancelled`].
//! Renders take a lock in turn: one model serves every worker thread of the process (the GPU,
//! or the CPU's cores, are used by one render at a time, and the weights are loaded once).
//!
//! The models: [`crate::models::vace`] (`wan`) and [`crate::models::phantom`] (`phantom`).
//! [`folder`] checks a model folder before loading.

pub mod fit;
pub mod folder;
pub mod motion;

use std::sync::Mutex;

use candle_core::Tensor;
use refvid_engine::{Control, Engine, EngineError, FrameSink, Progress, RenderJob};

pub use folder::{FolderKind, REQUIRED_PARTS, check_model_dir};

use crate::error::WanError;
use crate::pipeline::prompt::rewrite_mentions;
use crate::pipeline::{Reference, StepState};
use crate::step_cache::CacheStats;

/// Reference images the API sends at most (and the engines accept).
pub const MAX_REFERENCES: usize = 7;

/// Share of the progress bar for denoising; decoding and fitting the frames take the rest.
const DENOISE_SHARE: f32 = 0.9;

/// A model's own geometry: the size it renders landscape videos at (portrait ones use the
/// transpose) and its frame rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeFormat {
    /// `(width, height)`, multiples of 16.
    pub landscape: (usize, usize),
    /// Frames per second.
    pub fps: u32,
}

/// One render at the model's own size and rate.
#[derive(Debug, Clone)]
pub struct NativeRequest {
    /// The prompt, mentions already rewritten into words.
    pub prompt: String,
    /// The reference images, flattened over white, in request order.
    pub references: Vec<Reference>,
    /// Multiples of 16.
    pub width: usize,
    pub height: usize,
    /// `4k + 1`.
    pub num_frames: usize,
    pub seed: u64,
}

/// What a model reports after each denoising step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepReport {
    /// Steps done (1 after the first).
    pub done: usize,
    /// Steps in all.
    pub total: usize,
    /// The transformer passes so far and what a step cache skipped.
    pub passes: CacheStats,
}

/// Called after each denoising step; `false` stops the render.
pub type OnStep<'a> = dyn FnMut(&StepReport) -> bool + 'a;

/// `request_info` notes of a render's passes: `transformer_passes`, `cached_passes` (those
/// whose main blocks a step cache skipped) and `blocks_skipped` (main-block forwards skipped).
pub fn pass_notes(passes: &CacheStats) -> Vec<(&'static str, String)> {
    vec![
        ("transformer_passes", passes.passes.to_string()),
        ("cached_passes", passes.skipped_passes.to_string()),
        ("blocks_skipped", passes.blocks_skipped.to_string()),
    ]
}

impl StepReport {
    /// The report of a pipeline's step.
    pub fn of(state: &StepState<'_>) -> Self {
        Self {
            done: state.step,
            total: state.total,
            passes: state.cache,
        }
    }
}

/// A video model that renders at its own size and rate from a prompt and references.
pub trait VideoModel: Send + Sync {
    /// The engine name it is chosen by (`wan`, `phantom`).
    fn name(&self) -> &'static str;
    /// What it is and how it runs, for the task's `debug_info.request_info` (`("model", …)`
    /// first; the engine's name is added in front).
    fn describe(&self) -> Vec<(&'static str, String)>;
    /// Its native size and frame rate.
    fn native_format(&self) -> NativeFormat;
    /// How many references it takes at most.
    fn max_references(&self) -> usize {
        MAX_REFERENCES
    }
    /// Renders `[F, H, W, 3]` in 0..1 at the request's size, reporting every step to
    /// `on_step`; `on_step` returning `false` ends it with [`WanError::Cancelled`].
    fn render(&self, request: &NativeRequest, on_step: &mut OnStep<'_>)
    -> Result<Tensor, WanError>;
}

/// Any [`VideoModel`] behind refvid's [`Engine`] trait.
pub struct ModelEngine {
    model: Box<dyn VideoModel>,
    turn: Mutex<()>,
}

impl std::fmt::Debug for ModelEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelEngine")
            .field("engine", &self.model.name())
            .field("describe", &self.model.describe())
            .finish_non_exhaustive()
    }
}

impl ModelEngine {
    /// Wraps a loaded model.
    pub fn new(model: impl VideoModel + 'static) -> Self {
        Self {
            model: Box::new(model),
            turn: Mutex::new(()),
        }
    }

    /// The model.
    pub fn model(&self) -> &dyn VideoModel {
        self.model.as_ref()
    }

    /// The native render a job asks for.
    pub fn native_request(&self, job: &RenderJob) -> Result<NativeRequest, EngineError> {
        let format = self.model.native_format();
        let (width, height) = fit::native_size(job.width, job.height, format.landscape);
        let names: Vec<&str> = job.subjects.iter().map(|s| s.name.as_str()).collect();
        Ok(NativeRequest {
            prompt: motion::with_motion(&rewrite_mentions(&job.prompt, &names), job.motion),
            references: fit::references_of(job, self.model.max_references())?,
            width,
            height,
            num_frames: fit::native_frame_count(job.frame_count, job.fps, format.fps),
            seed: job.seed,
        })
    }
}

impl Engine for ModelEngine {
    fn name(&self) -> &'static str {
        self.model.name()
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("engine", self.model.name().to_string())];
        out.extend(self.model.describe());
        out
    }

    fn render(
        &self,
        job: &RenderJob,
        sink: &mut dyn FrameSink,
        progress: &mut Progress<'_>,
    ) -> Result<(), EngineError> {
        self.render_noted(job, sink, progress).map(drop)
    }

    /// Renders, noting the transformer passes of the clip ([`pass_notes`]).
    fn render_noted(
        &self,
        job: &RenderJob,
        sink: &mut dyn FrameSink,
        progress: &mut Progress<'_>,
    ) -> Result<Vec<(&'static str, String)>, EngineError> {
        let request = self.native_request(job)?;
        let mut passes = CacheStats::default();
        let video = {
            let _turn = self
                .turn
                .lock()
                .map_err(|_| EngineError::Internal("the model is unusable after a panic".into()))?;
            let mut on_step = |s: &StepReport| {
                passes = s.passes;
                let done = DENOISE_SHARE * s.done as f32 / s.total.max(1) as f32;
                progress(done) == Control::Continue
            };
            self.model
                .render(&request, &mut on_step)
                .map_err(engine_error)?
        };
        let native = fit::NativeFrames::new(&video).map_err(engine_error)?;
        let fps = self.model.native_format().fps;
        fit::fit_frames(&native, job, fps, DENOISE_SHARE, sink, progress)?;
        Ok(pass_notes(&passes))
    }
}

/// Maps the crate's errors onto the engine's: cancellation, bad jobs, the rest internal.
pub fn engine_error(e: WanError) -> EngineError {
    match e {
        WanError::Cancelled { .. } => EngineError::Cancelled,
        WanError::Input(msg) => EngineError::InvalidJob(msg),
        other => EngineError::Internal(other.to_string()),
    }
}

/// Checks a configured native size: positive multiples of 16.
pub fn check_native_size((w, h): (usize, usize)) -> Result<(), WanError> {
    if w == 0 || h == 0 || !w.is_multiple_of(16) || !h.is_multiple_of(16) {
        return Err(WanError::Input(format!(
            "the native size must be positive multiples of 16, got {w}x{h}"
        )));
    }
    Ok(())
}

/// The name a model is known by in `request_info`: the folder's or file's last component.
pub fn model_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use image::{RgbImage, RgbaImage};
    use refvid_engine::{Motion, SinkError, SubjectRefs};
    use std::sync::{Arc, Mutex as StdMutex};

    /// A model whose frame `i` is grey level `i / (F − 1)`, recording what it was asked.
    struct Ramp {
        steps: usize,
        seen: Arc<StdMutex<Vec<NativeRequest>>>,
    }

    impl VideoModel for Ramp {
        fn name(&self) -> &'static str {
            "ramp"
        }
        fn describe(&self) -> Vec<(&'static str, String)> {
            vec![("model", "ramp-1".into())]
        }
        fn native_format(&self) -> NativeFormat {
            NativeFormat {
                landscape: (64, 48),
                fps: 16,
            }
        }
        fn max_references(&self) -> usize {
            2
        }
        fn render(&self, r: &NativeRequest, on_step: &mut OnStep<'_>) -> Result<Tensor, WanError> {
            self.seen.lock().unwrap().push(r.clone());
            for step in 1..=self.steps {
                let report = StepReport {
                    done: step,
                    total: self.steps,
                    passes: CacheStats {
                        passes: 2 * step,
                        ..Default::default()
                    },
                };
                if !on_step(&report) {
                    return Err(WanError::Cancelled {
                        step,
                        total: self.steps,
                    });
                }
            }
            let f = r.num_frames;
            let levels: Vec<f32> = (0..f).map(|i| i as f32 / (f - 1) as f32).collect();
            let t = Tensor::from_vec(levels, (f, 1, 1, 1), &Device::Cpu)?;
            Ok(t.broadcast_as((f, r.height, r.width, 3))?.contiguous()?)
        }
    }

    struct Frames(Vec<RgbImage>);
    impl FrameSink for Frames {
        fn push(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
            self.0.push(frame.clone());
            Ok(())
        }
    }

    fn engine() -> (ModelEngine, Arc<StdMutex<Vec<NativeRequest>>>) {
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let ramp = Ramp {
            steps: 3,
            seen: seen.clone(),
        };
        (ModelEngine::new(ramp), seen)
    }

    fn job(images: usize) -> RenderJob {
        RenderJob {
            prompt: "@red_fox meets @1".into(),
            subjects: vec![SubjectRefs {
                name: "red_fox".into(),
                images: vec![RgbaImage::new(8, 8); images],
            }],
            width: 90,
            height: 160,
            fps: 24,
            frame_count: 24,
            seed: 9,
            motion: Motion::Auto,
        }
    }

    #[test]
    fn the_adapter_asks_the_model_at_its_own_size_and_fits_the_frames() {
        let (engine, seen) = engine();
        let mut frames = Frames(Vec::new());
        let mut progress = Vec::new();
        let notes = engine
            .render_noted(&job(2), &mut frames, &mut |p| {
                progress.push(p);
                Control::Continue
            })
            .unwrap();
        // The passes of the last step's report (the ramp reports two per step).
        assert_eq!(
            notes,
            vec![
                ("transformer_passes", "6".into()),
                ("cached_passes", "0".into()),
                ("blocks_skipped", "0".into()),
            ]
        );
        let r = seen.lock().unwrap()[0].clone();
        // 9:16 is not the native 3:4: the same area at the job's aspect, in multiples of 16.
        assert_eq!((r.width, r.height, r.num_frames, r.seed), (48, 80, 17, 9));
        assert_eq!(r.prompt, "red fox meets red fox");
        assert_eq!(r.references.len(), 2);
        assert_eq!(frames.0.len(), 24);
        assert!(frames.0.iter().all(|f| f.dimensions() == (90, 160)));
        // Output frame 12 is at 0.5 s: native frame 8 of 0..=16, grey 0.5.
        let mid = frames.0[12].get_pixel(45, 80).0[0];
        assert!((i32::from(mid) - 128).abs() <= 1, "{mid}");
        for (got, want) in progress.iter().zip([0.3, 0.6, 0.9]) {
            assert!((got - want).abs() < 1e-6, "{progress:?}");
        }
        assert_eq!(*progress.last().unwrap(), 1.0);
        assert_eq!(engine.name(), "ramp");
        assert_eq!(
            engine.describe(),
            vec![("engine", "ramp".into()), ("model", "ramp-1".into())]
        );
    }

    #[test]
    fn motion_levels_reach_the_prompt() {
        let (engine, seen) = engine();
        for motion in [Motion::Auto, Motion::Small, Motion::Medium, Motion::High] {
            let job = RenderJob { motion, ..job(1) };
            engine
                .render(&job, &mut Frames(Vec::new()), &mut |_| Control::Continue)
                .unwrap();
        }
        let prompts: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.prompt.clone())
            .collect();
        assert_eq!(prompts[0], "red fox meets red fox");
        assert_eq!(
            prompts[3],
            format!("red fox meets red fox. {}", motion::HIGH)
        );
        let distinct: std::collections::HashSet<&String> = prompts.iter().collect();
        assert_eq!(distinct.len(), 4, "{prompts:?}");
    }

    #[test]
    fn too_many_references_and_a_stop_are_reported() {
        let (engine, _) = engine();
        let mut frames = Frames(Vec::new());
        let err = engine
            .render(&job(3), &mut frames, &mut |_| Control::Continue)
            .unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidJob(ref m) if m.contains("at most 2")),
            "{err}"
        );
        let err = engine
            .render(&job(1), &mut frames, &mut |_| Control::Stop)
            .unwrap_err();
        assert!(matches!(err, EngineError::Cancelled), "{err}");
        assert!(frames.0.is_empty());
    }
}
