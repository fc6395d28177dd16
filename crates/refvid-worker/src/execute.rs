//! Running one claimed task: references, engine, encoder, upload, and the task's end.

use crate::request_info::{Note, request_info};
use crate::sink::{EncoderSink, WatermarkSink, encode_cover};
use crate::sound::{Sound, SoundPlan, sound_track};
use crate::stage_metrics::{Outcome, Stage};
use crate::task_error::TaskError;
use crate::{Worker, now_ms, references};
use refvid_api::{Movement, OUTPUT_FPS, TaskSpec};
use refvid_audio::{AudioEngine, Speaker, SpokenLine};
use refvid_engine::{Control, Engine, EngineError, Motion, RenderJob, SubjectRefs};
use refvid_media::GuardedHttp;
use refvid_media::Mp4VideoWriter;
use refvid_media::watermark::Watermark;
use refvid_media::watermark::WatermarkSource;
use refvid_store::{ClaimedTask, Failure, Heartbeat, Outputs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Progress shared between the engine thread and the heartbeat, in per-mille.
#[derive(Default)]
struct Shared {
    permille: AtomicU32,
    cancel: AtomicBool,
    /// Set with `cancel` when the task ran past the worker's time limit.
    timed_out: AtomicBool,
}

// Progress bands: references, rendering and encoding, uploading.
const RENDER_START: u32 = 50;
const RENDER_END: u32 = 950;
const UPLOAD_START: u32 = 970;

impl Worker {
    /// Runs one task to its end and records the outcome.
    /// Everything it logs is inside a `task` span carrying the task id, the same id the API
    /// server logs when it accepts the task.
    pub(crate) async fn run_task(&self, task: ClaimedTask) {
        let id = task.record.id.clone();
        let span = tracing::info_span!("task", task_id = %id, worker = %self.settings.id);
        async {
            tracing::info!(task_id = %id, attempt = task.record.attempts, "task started");
            let shared = Arc::new(Shared::default());
            let beat = tokio::spawn(
                self.clone()
                    .heartbeat(id.clone(), shared.clone())
                    .instrument(tracing::Span::current()),
            );
            let outcome = self.execute(&task, &shared).await;
            beat.abort();
            self.record_outcome(&id, task.record.attempts, outcome)
                .await;
        }
        .instrument(span)
        .await
    }

    async fn execute(
        &self,
        task: &ClaimedTask,
        shared: &Arc<Shared>,
    ) -> Result<Outputs, TaskError> {
        let spec: TaskSpec = serde_json::from_str(&task.spec_json).map_err(|_| {
            TaskError::Final("the stored request could not be read; submit it again".into())
        })?;
        let fetching = Instant::now();
        let subjects = references::load(&spec, &self.http).await?;
        self.metrics.observe(Stage::Fetch, fetching.elapsed());
        shared.permille.store(RENDER_START, Ordering::Relaxed);
        let seed = task.record.seed as u64;
        let job = job_of(&spec, subjects, seed);
        let post = post_plan(&spec, seed, &self.settings.watermark, &self.audio)?;
        let mut rendered = self.render(job, post, shared.clone()).await?;
        self.metrics
            .observe(Stage::Generate, rendered.generate_time);
        self.metrics.observe(Stage::Encode, rendered.encode_time);
        shared.permille.store(UPLOAD_START, Ordering::Relaxed);
        let uploading = Instant::now();
        let info = self.request_info(std::mem::take(&mut rendered.notes));
        let outputs = self.upload(&task.record.id, rendered, info).await?;
        self.metrics.observe(Stage::Upload, uploading.elapsed());
        Ok(outputs)
    }

    /// The task's `request_info`: the engine's description, then the stages' notes.
    fn request_info(&self, notes: Vec<Note>) -> String {
        request_info(self.engine.describe().into_iter().chain(notes))
    }

    /// Stores the video and its cover; storage faults are transient (the task runs again).
    async fn upload(
        &self,
        id: &str,
        rendered: Rendered,
        request_info: String,
    ) -> Result<Outputs, TaskError> {
        let storing = |e: refvid_blob::BlobError| {
            TaskError::Transient(format!("storing the video failed: {e}"))
        };
        let video_key = format!("videos/{id}.mp4");
        self.blob
            .put(&video_key, rendered.video)
            .await
            .map_err(storing)?;
        let cover_key = match rendered.cover {
            Some(jpeg) => {
                let key = format!("covers/{id}.jpg");
                self.blob.put(&key, jpeg).await.map_err(storing)?;
                Some(key)
            }
            None => None,
        };
        Ok(Outputs {
            video_key,
            cover_key,
            request_info,
        })
    }

    /// Runs the engine and the encoder on a blocking thread; a panic there fails the task only.
    async fn render(
        &self,
        job: RenderJob,
        post: Post,
        shared: Arc<Shared>,
    ) -> Result<Rendered, TaskError> {
        let engine = self.engine.clone();
        let span = tracing::Span::current();
        let joined = tokio::task::spawn_blocking(move || {
            span.in_scope(|| render_blocking(engine.as_ref(), &job, post, &shared))
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(_) => Err(TaskError::Final(
                "the video engine failed unexpectedly while rendering; try again or change the request".into(),
            )),
        }
    }

    /// Renews the lease and records progress until aborted; flags cancellation if the lease is lost.
    async fn heartbeat(self, id: String, shared: Arc<Shared>) {
        let started = Instant::now();
        let mut ticker = tokio::time::interval(self.settings.heartbeat);
        loop {
            ticker.tick().await;
            if started.elapsed() > self.settings.task_timeout {
                shared.timed_out.store(true, Ordering::Relaxed);
                shared.cancel.store(true, Ordering::Relaxed);
            }
            let permille = shared.permille.load(Ordering::Relaxed);
            let beat = Heartbeat {
                lease_until_ms: now_ms() + self.settings.lease.as_millis() as i64,
                progress: permille / 10,
                eta_s: eta_secs(started.elapsed().as_secs_f64(), permille),
            };
            match self.store.heartbeat(&id, &self.settings.id, &beat).await {
                Ok(true) => {}
                Ok(false) => shared.cancel.store(true, Ordering::Relaxed),
                Err(e) => tracing::warn!(task_id = %id, error = %e, "heartbeat failed"),
            }
        }
    }

    async fn record_outcome(&self, id: &str, attempt: u32, outcome: Result<Outputs, TaskError>) {
        let worker = &self.settings.id;
        self.metrics.finished(outcome_label(&outcome));
        let result = match outcome {
            Ok(outputs) => self.store.complete(id, worker, &outputs, now_ms()).await,
            Err(TaskError::LostLease) => Ok(false),
            Err(TaskError::Final(reason)) => {
                let failure = Failure {
                    reason,
                    now_ms: now_ms(),
                    retry_at_ms: None,
                    request_info: self.request_info(Vec::new()),
                };
                self.store.fail(id, worker, &failure).await
            }
            Err(TaskError::Transient(reason)) => {
                let delay = self.settings.retry_backoff.as_millis() as i64 * (1 << attempt.min(6));
                let failure = Failure {
                    reason,
                    now_ms: now_ms(),
                    retry_at_ms: Some(now_ms() + delay),
                    request_info: self.request_info(Vec::new()),
                };
                self.store.fail(id, worker, &failure).await
            }
        };
        match result {
            Ok(true) => tracing::info!(task_id = %id, "task ended"),
            Ok(false) => tracing::warn!(task_id = %id, "task was taken over by another worker"),
            Err(e) => {
                tracing::error!(task_id = %id, error = %e, "recording the task's end failed; its lease will expire and it will run again")
            }
        }
    }
}

fn outcome_label(outcome: &Result<Outputs, TaskError>) -> Outcome {
    match outcome {
        Ok(_) => Outcome::Succeeded,
        Err(TaskError::Final(_)) => Outcome::Failed,
        Err(TaskError::Transient(_)) => Outcome::Retried,
        Err(TaskError::LostLease) => Outcome::LostLease,
    }
}

/// What the blocking render produced: the MP4, the cover JPEG and how long making them took.
struct Rendered {
    video: Vec<u8>,
    cover: Option<Vec<u8>>,
    /// The engine (and the watermark), without the encoder's share.
    generate_time: Duration,
    /// H.264, sound synthesis, AAC and muxing.
    encode_time: Duration,
    /// The engine's notes on this render, then the post-processing stages', for
    /// `request_info`.
    notes: Vec<Note>,
}

fn render_blocking(
    engine: &dyn Engine,
    job: &RenderJob,
    post: Post,
    shared: &Shared,
) -> Result<Rendered, TaskError> {
    let writer = Mp4VideoWriter::new(job.width, job.height, job.fps)
        .map_err(|e| TaskError::Final(format!("the video encoder could not start: {e}")))?;
    let mut sink = EncoderSink::new(writer, job.frame_count);
    let mut progress = |fraction: f32| {
        let span = (RENDER_END - RENDER_START) as f32;
        let permille = RENDER_START + (fraction.clamp(0.0, 1.0) * span) as u32;
        shared.permille.store(permille, Ordering::Relaxed);
        if shared.cancel.load(Ordering::Relaxed) {
            Control::Stop
        } else {
            Control::Continue
        }
    };
    let started = Instant::now();
    let rendered = match post.mark {
        Some(mark) => {
            engine.render_noted(job, &mut WatermarkSink::new(&mut sink, mark), &mut progress)
        }
        None => engine.render_noted(job, &mut sink, &mut progress),
    };
    let mut notes = rendered.map_err(|e| engine_failure(e, shared))?;
    let render_time = started.elapsed();
    let sound = match &post.sound {
        Some(plan) => sound_track(plan, job.frame_count, job.fps, &sink.motion)?,
        None => Sound::default(),
    };
    let sound_time = sound.timings;
    let cover = sink
        .cover
        .as_ref()
        .and_then(|frame| encode_cover(frame).ok());
    let (video, stats) = sink
        .writer
        .finish_with_audio(sound.track.as_ref())
        .map_err(|e| TaskError::Final(format!("encoding the video failed: {e}")))?;
    tracing::info!(
        render_and_encode_ms = render_time.as_millis() as u64,
        encode_ms = stats.encode_time.as_millis() as u64,
        audio_synth_ms = sound_time.synth.as_millis() as u64,
        aac_ms = sound_time.aac.as_millis() as u64,
        mux_ms = stats.mux_time.as_millis() as u64,
        "stages"
    );
    let encode_time = stats.encode_time + sound_time.synth + sound_time.aac + stats.mux_time;
    notes.extend(sound.notes);
    Ok(Rendered {
        video,
        cover,
        generate_time: render_time.saturating_sub(stats.encode_time),
        encode_time,
        notes,
    })
}

fn engine_failure(e: EngineError, shared: &Shared) -> TaskError {
    match e {
        EngineError::Cancelled if shared.timed_out.load(Ordering::Relaxed) => TaskError::Final(
            "generating the video took longer than this server allows and was stopped; try a shorter clip".into(),
        ),
        EngineError::Cancelled => TaskError::LostLease,
        other => TaskError::Final(other.to_string()),
    }
}

/// The engine's job for a request: its geometry at 24 fps, its references, seed and motion.
fn job_of(spec: &TaskSpec, subjects: Vec<SubjectRefs>, seed: u64) -> RenderJob {
    let geometry = spec.geometry();
    RenderJob {
        prompt: spec.prompt.clone(),
        subjects,
        width: geometry.width,
        height: geometry.height,
        fps: OUTPUT_FPS,
        frame_count: spec.duration_secs * OUTPUT_FPS,
        seed,
        motion: motion_of(spec.movement),
    }
}

/// The watermark and sound the request asked for.
fn post_plan(
    spec: &TaskSpec,
    seed: u64,
    watermark: &WatermarkSource,
    audio: &Arc<dyn AudioEngine>,
) -> Result<Post, TaskError> {
    let geometry = spec.geometry();
    let mark = match spec.watermark {
        true => Some(
            Watermark::new(watermark, geometry.width, geometry.height).map_err(|e| {
                TaskError::Final(format!("the operator's watermark is unusable: {e}"))
            })?,
        ),
        false => None,
    };
    let sound = (spec.bgm || spec.audio).then(|| SoundPlan {
        engine: audio.clone(),
        prompt: spec.prompt.clone(),
        seed,
        bgm: spec.bgm,
        audio: spec.audio,
        lines: spec
            .spoken_lines()
            .into_iter()
            .map(|line| SpokenLine {
                subject: line.subject,
                text: line.text,
            })
            .collect(),
        speakers: spec
            .subjects
            .iter()
            .map(|s| Speaker {
                name: s.name.clone(),
                voice_id: s.voice_id.clone(),
            })
            .collect(),
    });
    Ok(Post { mark, sound })
}

/// A request rendered without a store or blob store (`refvid generate`).
#[derive(Debug)]
pub struct LocalVideo {
    /// The MP4.
    pub video: Vec<u8>,
    /// The JPEG cover frame.
    pub cover: Option<Vec<u8>>,
    /// What rendered it, as a served task's `debug_info.request_info` would say.
    pub request_info: String,
}

/// What a one-shot render needs besides the request.
pub struct LocalRender<'a> {
    pub engine: Arc<dyn Engine>,
    pub audio: Arc<dyn AudioEngine>,
    pub watermark: &'a WatermarkSource,
    pub http: &'a GuardedHttp,
}

/// Renders one validated request to an MP4 the way a worker does (references, engine,
/// watermark, sound, encoder), calling `progress` with 0..=1 about ten times a second.
/// The error is a sentence for the user.
pub async fn render_request(
    spec: &TaskSpec,
    seed: u64,
    with: LocalRender<'_>,
    progress: &mut (dyn FnMut(f32) + Send),
) -> Result<LocalVideo, String> {
    let describe = |e: TaskError| match e {
        TaskError::Final(m) | TaskError::Transient(m) => m,
        TaskError::LostLease => "cancelled".to_string(),
    };
    let subjects = references::load(spec, with.http).await.map_err(describe)?;
    let job = job_of(spec, subjects, seed);
    let post = post_plan(spec, seed, with.watermark, &with.audio).map_err(describe)?;
    let shared = Arc::new(Shared::default());
    let engine = with.engine.clone();
    let state = shared.clone();
    let mut rendering =
        tokio::task::spawn_blocking(move || render_blocking(engine.as_ref(), &job, post, &state));
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let joined = loop {
        tokio::select! {
            joined = &mut rendering => break joined,
            _ = ticker.tick() => progress(shared.permille.load(Ordering::Relaxed) as f32 / 1000.0),
        }
    };
    let rendered = joined
        .map_err(|_| "the video engine failed unexpectedly while rendering".to_string())?
        .map_err(describe)?;
    progress(1.0);
    let pairs = with.engine.describe().into_iter().chain(rendered.notes);
    Ok(LocalVideo {
        video: rendered.video,
        cover: rendered.cover,
        request_info: request_info(pairs),
    })
}

/// What happens to the frames besides encoding: the watermark and the sound track.
struct Post {
    mark: Option<Watermark>,
    sound: Option<SoundPlan>,
}

fn motion_of(movement: Movement) -> Motion {
    match movement {
        Movement::Auto => Motion::Auto,
        Movement::Small => Motion::Small,
        Movement::Medium => Motion::Medium,
        Movement::High => Motion::High,
    }
}

/// Seconds left, extrapolated from the time spent so far.
fn eta_secs(elapsed: f64, permille: u32) -> u64 {
    if permille == 0 {
        return 0;
    }
    let left = elapsed * (1000 - permille.min(1000)) as f64 / permille as f64;
    left.ceil() as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn eta_extrapolates_linearly() {
        assert_eq!(super::eta_secs(10.0, 500), 10);
        assert_eq!(super::eta_secs(10.0, 1000), 0);
        assert_eq!(super::eta_secs(10.0, 0), 0);
    }
}
