//! Where the time of a 5 s 1080p task goes: render, encode, watermark, sound, AAC, mux; and,
//! when the speech runtime is installed (scripts/install-speech.sh), what two spoken lines add
//! (the voice loaded once before, as in a running worker).
//!
//! `cargo run --release -p refvid --example stage_bench`

use refvid_audio::{AudioEngine, AudioRequest, Speaker, SpokenLine, SynthAudio, encode_aac_lc};
use refvid_engine::compositor::CompositorEngine;
use refvid_engine::{Control, Engine, FrameSink, Motion, RenderJob, SinkError, SubjectRefs};
use refvid_media::watermark::{Watermark, WatermarkSource};
use refvid_media::{AacAudio, Mp4VideoWriter};
use std::time::{Duration, Instant};

fn disc(color: [u8; 3]) -> image::RgbaImage {
    image::RgbaImage::from_fn(400, 400, |x, y| {
        let d = ((x as f32 - 200.0).powi(2) + (y as f32 - 200.0).powi(2)).sqrt();
        if d < 150.0 {
            image::Rgba([color[0], color[1], color[2], 255])
        } else {
            image::Rgba([255, 255, 255, 255])
        }
    })
}

/// Encodes every frame, watermarking first (timed apart).
struct Timed {
    writer: Mp4VideoWriter,
    mark: Watermark,
    scratch: image::RgbImage,
    watermark_time: Duration,
}

impl FrameSink for Timed {
    fn push(&mut self, frame: &image::RgbImage) -> Result<(), SinkError> {
        let start = Instant::now();
        self.scratch.clone_from(frame);
        self.mark.apply(&mut self.scratch);
        self.watermark_time += start.elapsed();
        self.writer
            .push_frame(&self.scratch)
            .map_err(|e| SinkError(e.to_string()))
    }
}

fn main() {
    let (w, h, frames) = (1920, 1080, 120);
    let job = RenderJob {
        prompt: "@cat chases @ball across the lawn".into(),
        subjects: vec![
            SubjectRefs {
                name: "cat".into(),
                images: vec![disc([200, 120, 40])],
            },
            SubjectRefs {
                name: "ball".into(),
                images: vec![disc([30, 60, 220])],
            },
        ],
        width: w,
        height: h,
        fps: 24,
        frame_count: frames,
        seed: 7,
        motion: Motion::Auto,
    };
    let mark = Watermark::new(&WatermarkSource::default(), w, h).unwrap();
    let mut sink = Timed {
        writer: Mp4VideoWriter::new(w, h, 24).unwrap(),
        mark,
        scratch: image::RgbImage::new(0, 0),
        watermark_time: Duration::ZERO,
    };
    let start = Instant::now();
    CompositorEngine::new()
        .render(&job, &mut sink, &mut |_| Control::Continue)
        .unwrap();
    let render_encode_watermark = start.elapsed();
    let encode = sink.writer.stats().encode_time;
    let watermark = sink.watermark_time;
    let request = AudioRequest {
        prompt: job.prompt.clone(),
        seed: 7,
        duration_secs: 5.0,
        bgm: true,
        audio: true,
        motion: vec![0.2; 120],
        fps: 24,
        lines: Vec::new(),
        speakers: Vec::new(),
    };
    let start = Instant::now();
    let pcm = SynthAudio.render(&request).unwrap().unwrap();
    let synth = start.elapsed();
    let start = Instant::now();
    let track = encode_aac_lc(&pcm, 128_000).unwrap();
    let aac = start.elapsed();
    let audio = AacAudio {
        sample_rate: track.sample_rate,
        channels: track.channels,
        adts_frames: track.adts,
    };
    let (_, stats) = sink.writer.finish_with_audio(Some(&audio)).unwrap();
    let total = render_encode_watermark + synth + aac + stats.mux_time;
    let render = render_encode_watermark - encode - watermark;
    let share = |d: Duration| 100.0 * d.as_secs_f64() / total.as_secs_f64();
    println!(
        "5 s 1080p, bgm+audio+watermark, total {:.2} s:",
        total.as_secs_f64()
    );
    for (name, d) in [
        ("compositor render", render),
        ("H.264 encode", encode),
        ("watermark", watermark),
        ("audio synthesis", synth),
        ("AAC encode", aac),
        ("MP4 mux", stats.mux_time),
    ] {
        println!(
            "  {name:<18} {:>7.3} s  {:>5.1} %",
            d.as_secs_f64(),
            share(d)
        );
    }
    speech_share(&request, total);
}

/// The same sound with two lines spoken (`@cat says "…" @ball: "…"`): the time speech adds to
/// the task, and its share of the task with it.
fn speech_share(plain: &AudioRequest, total: Duration) {
    let dir = refvid_tts::runtime::default_dir();
    let catalog = refvid_tts::Catalog::open(&dir, &[], 2).unwrap();
    if let Some(why) = catalog.unavailable() {
        println!("  (speech not measured: {why})");
        return;
    }
    let speech = std::sync::Arc::new(refvid::speech::SpeechService::new(catalog));
    let voiced = refvid::speech::VoicedAudio::new(speech);
    let mut request = plain.clone();
    request.lines = vec![
        SpokenLine {
            subject: 0,
            text: "Hello there, little ball.".into(),
        },
        SpokenLine {
            subject: 1,
            text: "Catch me if you can!".into(),
        },
    ];
    request.speakers = ["cat", "ball"]
        .map(|name| Speaker {
            name: name.into(),
            voice_id: None,
        })
        .to_vec();
    voiced.render(&request).unwrap(); // loads the voice, as a worker's first task does
    let runs = 3;
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        voiced.render(&request).unwrap().unwrap();
        let without = Instant::now();
        SynthAudio.render(plain).unwrap().unwrap();
        let synth = without.elapsed();
        best = best.min((without - start).saturating_sub(synth));
    }
    let with = total + best;
    println!(
        "  two spoken lines add {:.3} s (best of {runs}): {:.1} % of the task with them ({:.2} s)",
        best.as_secs_f64(),
        100.0 * best.as_secs_f64() / with.as_secs_f64(),
        with.as_secs_f64()
    );
}
