//! The clip's sound: asks the audio engine for music and/or a sound track, encodes it as AAC.

use crate::request_info::Note;
use crate::task_error::TaskError;
use refvid_audio::{AudioEngine, AudioRequest, Speaker, SpokenLine, encode_aac_lc};
use refvid_media::AacAudio;
use std::time::{Duration, Instant};

/// AAC bit rate for the stereo track.
const AAC_BITRATE: u32 = 128_000;

/// What the request asked for.
#[derive(Clone)]
pub struct SoundPlan {
    pub engine: std::sync::Arc<dyn AudioEngine>,
    pub prompt: String,
    pub seed: u64,
    pub bgm: bool,
    pub audio: bool,
    /// The lines subjects say (empty unless `audio`).
    pub lines: Vec<SpokenLine>,
    /// Every subject, with the voice it asked for.
    pub speakers: Vec<Speaker>,
}

/// Time spent making the sound.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoundTimings {
    pub synth: Duration,
    pub aac: Duration,
}

/// What the sound stage made.
#[derive(Default)]
pub struct Sound {
    /// The AAC track; `None` when the audio engine made none.
    pub track: Option<AacAudio>,
    pub timings: SoundTimings,
    /// The audio engine's notes for `request_info` (e.g. a voice fallback).
    pub notes: Vec<Note>,
}

/// The AAC track for a clip of `frames` frames at `fps`, shaped by the per-frame `motion`.
pub fn sound_track(
    plan: &SoundPlan,
    frames: u32,
    fps: u32,
    motion: &[f32],
) -> Result<Sound, TaskError> {
    let request = AudioRequest {
        prompt: plan.prompt.clone(),
        seed: plan.seed,
        duration_secs: frames as f64 / fps as f64,
        bgm: plan.bgm,
        audio: plan.audio,
        motion: motion.to_vec(),
        fps,
        lines: plan.lines.clone(),
        speakers: plan.speakers.clone(),
    };
    let started = Instant::now();
    let failed = |e: refvid_audio::AudioError| {
        TaskError::Final(format!("making the sound track failed: {e}"))
    };
    let Some(pcm) = plan.engine.render(&request).map_err(failed)? else {
        return Ok(Sound::default());
    };
    let notes = plan.engine.notes(&request);
    let synth = started.elapsed();
    let track = encode_aac_lc(&pcm, AAC_BITRATE).map_err(failed)?;
    let aac = AacAudio {
        sample_rate: track.sample_rate,
        channels: track.channels,
        adts_frames: track.adts,
    };
    Ok(Sound {
        track: Some(aac),
        timings: SoundTimings {
            synth,
            aac: started.elapsed() - synth,
        },
        notes,
    })
}
