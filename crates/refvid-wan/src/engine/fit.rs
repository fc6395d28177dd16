//! Fitting a model's native video to a job: the native size and frame count a job is rendered
//! at, and the blending in time and Lanczos scaling of the native frames to the job's geometry
//! and frame rate. Written once for every [`super::VideoModel`].
//!
//! - **Native size** ([`native_size`]): the model's landscape size for landscape jobs and its
//!   transpose for portrait ones when the job's aspect is within [`SNAP_TOLERANCE`] of it;
//!   otherwise the same pixel area with the job's aspect, in multiples of 16 (8 for the VAE × 2
//!   for the patch).
//! - **Frames** ([`native_frame_count`]): `fps·d + 1` at the model's rate for a job of `d`
//!   seconds, rounded up to the `4k + 1` counts the VAE decodes.
//! - **Fitting** ([`fit_frames`]): each output frame at `i / fps` blends the two nearest native
//!   frames linearly in time ([`time_taps`]) and is resized with a Lanczos-3 filter.
//! - **References** ([`references_of`]): every image of every subject, in request order,
//!   flattened over white.

use candle_core::{DType, Tensor};
use image::{RgbImage, RgbaImage, imageops::FilterType};
use refvid_engine::{Control, EngineError, FrameSink, Progress, RenderJob};

use crate::error::WanError;
use crate::pipeline::Reference;

/// How far (relative) a job's aspect may be from the native size's and still use it as is.
pub const SNAP_TOLERANCE: f64 = 0.05;

/// The size the model renders a `width × height` job at (see the module docs).
pub fn native_size(width: u32, height: u32, landscape: (usize, usize)) -> (usize, usize) {
    let (lw, lh) = landscape;
    let native = if width >= height { (lw, lh) } else { (lh, lw) };
    let job_aspect = width as f64 / height as f64;
    let native_aspect = native.0 as f64 / native.1 as f64;
    if (job_aspect / native_aspect - 1.0).abs() <= SNAP_TOLERANCE {
        return native;
    }
    let area = (lw * lh) as f64;
    let w = (area * job_aspect).sqrt();
    let h = (area / job_aspect).sqrt();
    (round16(w), round16(h))
}

fn round16(x: f64) -> usize {
    ((x / 16.0).round() as usize).max(1) * 16
}

/// `native_fps·d + 1` frames for a job of `d = frame_count / fps` seconds, rounded up to the
/// `4k + 1` counts the VAE decodes.
pub fn native_frame_count(frame_count: u32, fps: u32, native_fps: u32) -> usize {
    let seconds = frame_count as f64 / fps.max(1) as f64;
    let frames = (native_fps as f64 * seconds).ceil() as usize + 1;
    frames + (5 - frames % 4) % 4
}

/// For output frame `index` at `fps`, the native frames around its time and the weight of the
/// second: `(a, b, w)` with the frame `(1 − w)·a + w·b`.
pub fn time_taps(
    index: u32,
    fps: u32,
    native_fps: u32,
    native_count: usize,
) -> (usize, usize, f32) {
    let position = index as f64 * native_fps as f64 / fps.max(1) as f64;
    let last = native_count.saturating_sub(1);
    let a = (position.floor() as usize).min(last);
    let b = (a + 1).min(last);
    let w = if a == b {
        0.0
    } else {
        (position - a as f64) as f32
    };
    (a, b, w)
}

/// Every reference image of the job, flattened over white, in request order; more than `max`
/// is a job error.
pub fn references_of(job: &RenderJob, max: usize) -> Result<Vec<Reference>, EngineError> {
    let images: Vec<&RgbaImage> = job.subjects.iter().flat_map(|s| &s.images).collect();
    if images.len() > max {
        return Err(EngineError::InvalidJob(format!(
            "the model takes at most {max} reference images, got {}",
            images.len()
        )));
    }
    Ok(images.into_iter().map(over_white).collect())
}

/// An RGBA image composited over white, as an RGB8 reference.
pub fn over_white(image: &RgbaImage) -> Reference {
    let mut data = Vec::with_capacity(image.width() as usize * image.height() as usize * 3);
    for p in image.pixels() {
        let [r, g, b, a] = p.0;
        let a = a as u32;
        for c in [r, g, b] {
            data.push(((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8);
        }
    }
    Reference::Rgb8 {
        width: image.width() as usize,
        height: image.height() as usize,
        data,
    }
}

/// The decoded native video as RGB8 frames.
pub struct NativeFrames {
    frames: Vec<RgbImage>,
}

impl NativeFrames {
    /// From a model's `[F, H, W, 3]` in 0..1, one frame at a time (bounded memory).
    pub fn new(video: &Tensor) -> Result<Self, WanError> {
        let (f, h, w, _) = video.dims4()?;
        let mut frames = Vec::with_capacity(f);
        for i in 0..f {
            let bytes = video
                .narrow(0, i, 1)?
                .affine(255.0, 0.0)?
                .round()?
                .clamp(0f32, 255f32)?
                .to_dtype(DType::U8)?
                .flatten_all()?
                .to_vec1::<u8>()?;
            let frame = RgbImage::from_raw(w as u32, h as u32, bytes)
                .ok_or_else(|| WanError::Input("decoded frame has the wrong size".into()))?;
            frames.push(frame);
        }
        Ok(Self { frames })
    }

    /// Number of native frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// Pushes `job.frame_count` frames of the job's size, blended in time and resized; progress
/// runs from `start` to 1.
pub fn fit_frames(
    native: &NativeFrames,
    job: &RenderJob,
    native_fps: u32,
    start: f32,
    sink: &mut dyn FrameSink,
    progress: &mut Progress<'_>,
) -> Result<(), EngineError> {
    if native.is_empty() {
        return Err(EngineError::Internal("the model returned no frames".into()));
    }
    for i in 0..job.frame_count {
        let (a, b, w) = time_taps(i, job.fps, native_fps, native.len());
        let blended = blend(&native.frames[a], &native.frames[b], w);
        let frame = image::imageops::resize(&blended, job.width, job.height, FilterType::Lanczos3);
        sink.push(&frame)?;
        let done = start + (1.0 - start) * (i + 1) as f32 / job.frame_count as f32;
        if progress(done) == Control::Stop {
            return Err(EngineError::Cancelled);
        }
    }
    Ok(())
}

/// `(1 − w)·a + w·b`, per channel, rounded.
fn blend(a: &RgbImage, b: &RgbImage, w: f32) -> RgbImage {
    if w <= 0.0 {
        return a.clone();
    }
    let mut out = a.clone();
    for (o, q) in out.iter_mut().zip(b.iter()) {
        *o = ((1.0 - w) * *o as f32 + w * *q as f32).round() as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_ratios_use_the_native_size_and_others_keep_the_area() {
        let native = (832, 480);
        assert_eq!(native_size(1280, 720, native), (832, 480));
        assert_eq!(native_size(1920, 1080, native), (832, 480));
        assert_eq!(native_size(720, 1280, native), (480, 832));
        assert_eq!(native_size(720, 720, native), (624, 624));
        let (w, h) = native_size(2880, 720, native);
        assert_eq!((w % 16, h % 16), (0, 0));
        assert!((w as f64 / h as f64 - 4.0).abs() < 0.2, "{w}x{h}");
        assert_eq!(native_size(64, 48, (64, 48)), (64, 48));
    }

    #[test]
    fn frame_counts_are_sixteen_per_second_plus_one() {
        for d in 1..=10 {
            let n = native_frame_count(24 * d, 24, 16);
            assert_eq!(n, 16 * d as usize + 1, "{d} s");
            assert_eq!(n % 4, 1);
        }
        // Rates that do not give 4k + 1 round up to the next count the VAE decodes.
        assert_eq!(native_frame_count(24, 24, 10), 13);
        assert_eq!(native_frame_count(24, 24, 8), 9);
    }

    #[test]
    fn time_taps_walk_the_native_frames() {
        assert_eq!(time_taps(0, 24, 16, 17), (0, 1, 0.0));
        let (a, b, w) = time_taps(1, 24, 16, 17);
        assert_eq!((a, b), (0, 1));
        assert!((w - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(time_taps(3, 24, 16, 17), (2, 3, 0.0));
        // The last output frame of a second (23/24 s) lies between native frames 15 and 16.
        let (a, b, _) = time_taps(23, 24, 16, 17);
        assert_eq!((a, b), (15, 16));
        assert_eq!(time_taps(100, 24, 16, 17), (16, 16, 0.0));
    }

    #[test]
    fn transparent_pixels_become_white() {
        let mut img = RgbaImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        img.put_pixel(1, 0, image::Rgba([10, 20, 30, 255]));
        let Reference::Rgb8 { data, .. } = over_white(&img) else {
            panic!("an RGB8 reference");
        };
        assert_eq!(data, vec![255, 255, 255, 10, 20, 30]);
    }

    #[test]
    fn blending_weights_the_second_frame() {
        let a = RgbImage::from_pixel(1, 1, image::Rgb([0, 100, 200]));
        let b = RgbImage::from_pixel(1, 1, image::Rgb([100, 100, 0]));
        assert_eq!(blend(&a, &b, 0.25).get_pixel(0, 0).0, [25, 100, 150]);
        assert_eq!(blend(&a, &b, 0.0), a);
    }
}
