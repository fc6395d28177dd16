//! The deterministic CPU compositor engine: a stand-in for a video model.
//!
//! [`CompositorEngine`] turns a [`RenderJob`] into a small animated scene: each subject's first
//! reference is cut out of its backdrop (or kept as a rounded photo card), placed over a
//! painted backdrop whose colours come from the prompt's words and the seed, and moved along a
//! smooth seeded path while a virtual camera pans and zooms as strongly as [`Motion`] asks.
//!
//! Everything expensive (cut-outs, scaled sprites, the backdrop) is prepared once per clip; a
//! frame is then one bilinear pass over the backdrop plus one over each sprite and its shadow,
//! all in fixed-point integers. Randomness comes only from `ChaCha8Rng` seeded with the job's
//! seed (on separate streams per purpose, so e.g. adding a subject does not change the camera),
//! and frame `i` depends only on its timestamp, so renders are bit-identical run to run.
//! (The paths use `f64::sin`, which may differ in the last bit between platforms' maths
//! libraries; on one platform results are exact.)

mod background;
mod camera;
mod cutout;
mod palette;
mod raster;
mod resample;
mod scene;
mod sprite;
mod wave;

use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{Control, Engine, EngineError, FrameSink, Progress, RenderJob};
use camera::{Camera, PAD, View};
use cutout::Matte;
use raster::Placement;
use scene::{Layout, MotionProfile, Pose, SubjectPath};
use sprite::Sprite;

/// Largest accepted frame side: beyond this a frame buffer alone is hundreds of megabytes.
pub const MAX_SIDE: u32 = 8192;

/// RNG streams, one per purpose.
const STREAM_LAYOUT: u64 = 1;
const STREAM_CAMERA: u64 = 2;
const STREAM_BACKDROP: u64 = 3;

/// Drop shadow strength (of 256).
const SHADOW_OPACITY: u32 = 110;

/// The deterministic CPU compositor. Stateless; one value can render many jobs concurrently.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompositorEngine;

impl CompositorEngine {
    pub fn new() -> Self {
        CompositorEngine
    }
}

impl Engine for CompositorEngine {
    fn name(&self) -> &'static str {
        "compositor"
    }

    fn render(
        &self,
        job: &RenderJob,
        sink: &mut dyn FrameSink,
        progress: &mut Progress<'_>,
    ) -> Result<(), EngineError> {
        validate(job)?;
        let scene = Scene::build(job);
        let mut frame = RgbImage::new(job.width, job.height);
        for i in 0..job.frame_count {
            scene.draw(i as f64 / job.fps as f64, &mut frame);
            sink.push(&frame)?;
            if progress((i + 1) as f32 / job.frame_count as f32) == Control::Stop {
                return Err(EngineError::Cancelled);
            }
        }
        Ok(())
    }
}

/// Rejects jobs that cannot be rendered, with a reason a user can act on.
fn validate(job: &RenderJob) -> Result<(), EngineError> {
    let invalid = |msg: String| Err(EngineError::InvalidJob(msg));
    if job.width == 0 || job.height == 0 || job.width > MAX_SIDE || job.height > MAX_SIDE {
        return invalid(format!(
            "frame size {}x{} must be 1..={MAX_SIDE} on each side",
            job.width, job.height
        ));
    }
    if job.fps == 0 || job.frame_count == 0 {
        return invalid("fps and frame count must be positive".into());
    }
    if job.subjects.is_empty() {
        return invalid("at least one subject with a reference image is required".into());
    }
    for s in &job.subjects {
        match s.images.first() {
            None => return invalid(format!("subject {:?} has no reference image", s.name)),
            Some(img) if img.width() == 0 || img.height() == 0 => {
                return invalid(format!("subject {:?} has an empty reference image", s.name));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

struct Subject {
    sprite: Sprite,
    path: SubjectPath,
    /// Frame pixels per sprite pixel at pose scale 1 and zoom 1.
    base_scale: f64,
}

/// Everything prepared once per clip.
struct Scene {
    frame: (f64, f64),
    backdrop: RgbImage,
    shadow_colour: [u8; 3],
    camera: Camera,
    subjects: Vec<Subject>,
}

impl Scene {
    fn build(job: &RenderJob) -> Scene {
        let frame = (job.width as f64, job.height as f64);
        let profile = MotionProfile::of(job.motion);
        let camera = Camera::new(frame, profile, &mut rng(job.seed, STREAM_CAMERA));
        // Half the camera's worst-case crop: subjects are rarely cut and still fill the frame.
        let inset = camera.crop_margin() / 2.0;
        let layout = scene::lay_out(
            frame.0,
            frame.1,
            inset,
            job.subjects.len(),
            &profile,
            &mut rng(job.seed, STREAM_LAYOUT),
        );
        let subjects = build_subjects(job, layout, scene::max_pose_scale() * camera.max_zoom());
        let (backdrop, shadow_colour) = paint_backdrop(job, &subjects);
        Scene {
            frame,
            backdrop,
            shadow_colour,
            camera,
            subjects,
        }
    }

    fn draw(&self, t: f64, out: &mut RgbImage) {
        let view = self.camera.at(t);
        let (cx, cy) = view.to_frame(self.frame.0 / 2.0, self.frame.1 / 2.0, self.frame);
        raster::draw_opaque(
            out,
            &self.backdrop,
            Placement {
                cx,
                cy,
                scale: view.zoom,
            },
        );
        let mut poses: Vec<(usize, Pose)> = self
            .subjects
            .iter()
            .map(|s| s.path.at(t))
            .enumerate()
            .collect();
        // Nearer (lower) subjects are drawn last; ties keep subject order.
        poses.sort_by(|a, b| a.1.y.total_cmp(&b.1.y).then(a.0.cmp(&b.0)));
        for (i, pose) in poses {
            self.draw_subject(&self.subjects[i], pose, &view, out);
        }
    }

    fn draw_subject(&self, s: &Subject, pose: Pose, view: &View, out: &mut RgbImage) {
        let (cx, cy) = view.to_frame(pose.x, pose.y, self.frame);
        let scale = s.base_scale * pose.scale * view.zoom;
        let (dx, dy) = s.sprite.shadow_offset;
        let shadow = Placement {
            cx: cx + dx * scale,
            cy: cy + dy * scale,
            scale,
        };
        raster::draw_mask(
            out,
            &s.sprite.shadow,
            shadow,
            self.shadow_colour,
            SHADOW_OPACITY,
        );
        raster::draw_sprite(out, &s.sprite.image, Placement { cx, cy, scale });
    }
}

/// Pairs each subject's sprite with its path. `max_scale` is the largest on-screen size relative
/// to the layout size: sprites are prepared that large so drawing only ever shrinks them.
fn build_subjects(job: &RenderJob, layout: Layout, max_scale: f64) -> Vec<Subject> {
    let longest = (layout.size * max_scale).ceil() as usize;
    let base_scale = layout.size / longest.max(1) as f64;
    job.subjects
        .iter()
        .zip(layout.paths)
        .map(|(s, path)| Subject {
            sprite: sprite::build(&s.images[0], longest),
            path,
            base_scale,
        })
        .collect()
}

/// The backdrop (frame plus camera margin) and the colour shadows take on it.
fn paint_backdrop(job: &RenderJob, subjects: &[Subject]) -> (RgbImage, [u8; 3]) {
    let words = palette::words(&job.prompt);
    // The palette depends on the prompt too, so mix its words into this stream's seed.
    let mut rng = rng(job.seed ^ palette::words_hash(&words), STREAM_BACKDROP);
    let pal = palette::choose(&job.prompt, &mut rng);
    let pad = |side: u32| (side as f64 * PAD).ceil() as u32;
    let (w, h) = (
        job.width + 2 * pad(job.width),
        job.height + 2 * pad(job.height),
    );
    let photo = (subjects[0].sprite.matte == Matte::Card).then(|| &job.subjects[0].images[0]);
    let backdrop = background::paint(w.max(2), h.max(2), &pal, &mut rng, photo);
    let shadow = pal.ground_near.map(|c| (c * 0.3) as u8);
    (backdrop, shadow)
}
