//! The seam between the worker and whatever makes pictures.
//!
//! An [`Engine`] turns a [`RenderJob`] (prompt, decoded subject references, geometry, seed,
//! motion strength) into frames pushed one at a time into a [`FrameSink`], reporting progress
//! through a [`Progress`] callback that may also ask it to stop. Engines are synchronous: the
//! worker runs them on a thread of their own, so they may block and use the CPU or GPU freely.
//! Nothing outside this crate knows which engine it talks to.

pub mod compositor;

use image::{RgbImage, RgbaImage};

/// How strongly the camera and subjects move, from the request's `movement_amplitude`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    Auto,
    Small,
    Medium,
    High,
}

/// One subject of the request with its decoded reference images (1 to 3).
#[derive(Debug, Clone)]
pub struct SubjectRefs {
    /// The subject's name as written in the request (`@name` in the prompt).
    pub name: String,
    /// Decoded reference images, in request order.
    pub images: Vec<RgbaImage>,
}

/// Everything an engine needs to render one clip.
#[derive(Debug, Clone)]
pub struct RenderJob {
    /// The prompt, with `@name` references as the user wrote them.
    pub prompt: String,
    /// The subjects; in non-subject mode each image is its own subject named `1`, `2`, ...
    pub subjects: Vec<SubjectRefs>,
    /// Output width in pixels (even).
    pub width: u32,
    /// Output height in pixels (even).
    pub height: u32,
    /// Frames per second of the output.
    pub fps: u32,
    /// Number of frames to produce.
    pub frame_count: u32,
    /// The seed; the same job with the same seed gives the same frames.
    pub seed: u64,
    /// Motion strength.
    pub motion: Motion,
}

/// What the progress callback tells the engine to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// Receives progress in `0.0..=1.0`; returning [`Control::Stop`] asks the engine to end early
/// with [`EngineError::Cancelled`].
pub type Progress<'a> = dyn FnMut(f32) -> Control + 'a;

/// Where an engine puts the frames it renders, in order.
pub trait FrameSink {
    /// Takes one RGB frame of the job's width and height.
    fn push(&mut self, frame: &RgbImage) -> Result<(), SinkError>;
}

/// A frame sink failed (encoder error, disk full, ...); the message is safe to show a user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Why an engine did not finish.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The progress callback asked to stop.
    #[error("cancelled")]
    Cancelled,
    /// The job cannot be rendered (a reason a user can act on).
    #[error("{0}")]
    InvalidJob(String),
    /// The frame sink refused a frame.
    #[error("writing frames failed: {0}")]
    Sink(#[from] SinkError),
    /// Anything else that went wrong inside the engine.
    #[error("engine failure: {0}")]
    Internal(String),
}

/// A video generator. Implementations must be deterministic for a given job and seed.
pub trait Engine: Send + Sync {
    /// A short stable name, e.g. `compositor` or `wan`.
    fn name(&self) -> &'static str;

    /// What this engine is, as `(key, value)` pairs for the task's `debug_info.request_info`
    /// (the worker writes them as one JSON object, in this order). An engine overrides it to add
    /// e.g. `("model", …)` or `("preset", …)`; keep `("engine", name)` first.
    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![("engine", self.name().to_string())]
    }

    /// Renders `job.frame_count` frames into `sink`, calling `progress` as it goes.
    fn render(
        &self,
        job: &RenderJob,
        sink: &mut dyn FrameSink,
        progress: &mut Progress<'_>,
    ) -> Result<(), EngineError>;

    /// [`render`](Self::render), answering what this one render did as `(key, value)` notes
    /// for the task's `debug_info.request_info` (after [`describe`](Self::describe)'s pairs),
    /// e.g. how many transformer passes ran. Engines without such notes keep the default: none.
    fn render_noted(
        &self,
        job: &RenderJob,
        sink: &mut dyn FrameSink,
        progress: &mut Progress<'_>,
    ) -> Result<Vec<(&'static str, String)>, EngineError> {
        self.render(job, sink, progress).map(|()| Vec::new())
    }
}
