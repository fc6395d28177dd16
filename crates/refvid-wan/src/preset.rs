//! Speed presets (`--preset quality|balanced|fast`) and how a model is known to be step-distilled.
//!
//! | preset | steps | guidance | sampler | cache | passes per clip (VACE / Phantom) |
//! |---|---|---|---|---|---|
//! | `quality` (the default) | the model's (50) | the model's | the folder's scheduler (UniPC) | none | 100 / 150 |
//! | `balanced` | the model's (50) | the model's | the folder's scheduler | MagCache `mag:0.12,2` (MagCache's Wan 2.1 setting; ratios from `--mag-ratios`, else its Wan2.1-T2V-1.3B ones) | fewer: about 2× skipped on Wan 2.1 per MagCache |
//! | `fast` | 4: `1000,750,500,250` | off (one pass) | x0-then-renoise (LightX2V's `WanStepDistillScheduler`), shift 5 | none | 4 / 4 |
//!
//! Explicit flags (`--steps`, `--sampler`, `--timesteps`, `--cache`, `--guidance`) win over the
//! preset's choice. `fast` is only for step-distilled weights: without them four steps give a blur,
//! so it is refused unless the model is [`Distillation::Declared`] (`--distilled`) or a file name
//! carries a distillation marker ([`DISTILL_MARKERS`], [`detect`]): the model folder, the
//! transformer checkpoint or a LoRA (`Wan21_CausVid_14B_T2V_lora_rank32.safetensors`,
//! `lightx2v_T2V_14B_cfg_step_distill_v2_lora_rank64_bf16.safetensors`, `FastWan2.1-T2V-1.3B-Diffusers`).
//! A cache with `fast` is refused too (LightX2V refuses caching on distilled schedules: the
//! steps are too far apart for residuals to be reused).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Result, WanError};
use crate::lora::LoraSpec;
use crate::pipeline::Sampling;
use crate::scheduler::SamplerKind;
use crate::step_cache::CacheConfig;
use crate::step_cache::mag::MagSettings;

/// The published 4-step list of the LightX2V / Self-Forcing / CausVid distillations.
pub const FAST_TIMESTEPS: [f64; 4] = [1000.0, 750.0, 500.0, 250.0];
/// The flow shift the LightX2V 4-step Wan 2.1 configs sample with.
pub const FAST_SHIFT: f64 = 5.0;
/// The most steps the fast preset takes (so at most 8 transformer passes per clip without
/// guidance), from `--steps` or a `--timesteps` list.
pub const FAST_MAX_STEPS: usize = 8;
/// MagCache's settings for Wan 2.1 (`magcache_thresh` 0.12, `magcache_K` 2).
pub const BALANCED_MAG: (f64, usize) = (0.12, 2);

/// Lower-case substrings of file names that mark step-distilled weights.
pub const DISTILL_MARKERS: [&str; 9] = [
    "distill",
    "lightx2v",
    "causvid",
    "fastwan",
    "self-forcing",
    "self_forcing",
    "selfforcing",
    "dmd",
    "4step",
];

/// A speed preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preset {
    /// The model's own sampling: 50 steps with guidance.
    #[default]
    Quality,
    /// The same with a step cache.
    Balanced,
    /// Four steps without guidance, for step-distilled weights.
    Fast,
}

impl Preset {
    /// The `--preset` value.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Quality => "quality",
            Preset::Balanced => "balanced",
            Preset::Fast => "fast",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = WanError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "quality" => Ok(Preset::Quality),
            "balanced" => Ok(Preset::Balanced),
            "fast" => Ok(Preset::Fast),
            other => Err(WanError::Input(format!(
                "unknown preset `{other}` (expected quality, balanced or fast)"
            ))),
        }
    }
}

/// Whether the weights are step-distilled, and how we know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distillation {
    /// Nothing says so.
    No,
    /// The operator said so (`--distilled`).
    Declared,
    /// A file name carries a [`DISTILL_MARKERS`] entry (the name is kept).
    Marker(String),
}

impl Distillation {
    /// Whether the weights can take the fast preset.
    pub fn is_distilled(&self) -> bool {
        !matches!(self, Distillation::No)
    }

    /// For `request_info`: `declared` or the marked file's name.
    pub fn describe(&self) -> Option<String> {
        match self {
            Distillation::No => None,
            Distillation::Declared => Some("declared".into()),
            Distillation::Marker(name) => Some(name.clone()),
        }
    }
}

/// Whether `declared`, or the name of the model folder, the transformer checkpoint or a LoRA
/// carries a distillation marker.
pub fn detect(
    declared: bool,
    model: &Path,
    checkpoint: Option<&Path>,
    loras: &[LoraSpec],
) -> Distillation {
    if declared {
        return Distillation::Declared;
    }
    let paths = std::iter::once(model)
        .chain(checkpoint)
        .chain(loras.iter().map(|l| l.path.as_path()));
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lower = name.to_lowercase();
        if DISTILL_MARKERS.iter().any(|m| lower.contains(m)) {
            return Distillation::Marker(name);
        }
    }
    Distillation::No
}

/// What the operator set explicitly; `None` leaves the choice to the preset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingFlags {
    pub steps: Option<usize>,
    pub sampler: Option<SamplerKind>,
    pub timesteps: Option<Vec<f64>>,
    pub cache: Option<CacheConfig>,
    /// MagCache ratios for the balanced preset's cache (see [`crate::step_cache::mag`]).
    pub mag_ratios: Option<Vec<Vec<f32>>>,
}

/// How a model samples under a preset.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub preset: Preset,
    pub steps: usize,
    /// Guidance off: one pass per step (unless `--guidance` says otherwise).
    pub guidance_off: bool,
    /// A flow shift the preset asks for (`None`: the model's).
    pub shift: Option<f64>,
    pub sampling: Sampling,
    pub distillation: Distillation,
}

/// The sampling of `preset` for a model whose default is `default_steps` steps, with the
/// explicit `flags` winning; `fast` is refused for weights that are not known to be distilled
/// and with a cache, naming the reason.
pub fn plan(
    preset: Preset,
    flags: &SamplingFlags,
    default_steps: usize,
    distillation: Distillation,
) -> Result<Plan> {
    let sampling =
        |cache: CacheConfig, sampler: SamplerKind, timesteps: Option<Vec<f64>>| Sampling {
            sampler: flags.sampler.unwrap_or(sampler),
            timesteps: flags.timesteps.clone().or(timesteps),
            cache: flags.cache.clone().unwrap_or(cache),
        };
    let many_steps = |cache| {
        let sampling = sampling(cache, SamplerKind::Default, None);
        let steps = flags.steps.unwrap_or(match &sampling.timesteps {
            Some(t) => t.len(),
            None => default_steps,
        });
        (steps, sampling)
    };
    let (steps, sampling, guidance_off, shift) = match preset {
        Preset::Quality => {
            let (steps, s) = many_steps(CacheConfig::None);
            (steps, s, false, None)
        }
        Preset::Balanced => {
            let (steps, s) = many_steps(balanced_cache(flags));
            (steps, s, false, None)
        }
        Preset::Fast => {
            check_fast(flags, &distillation)?;
            let s = sampling(
                CacheConfig::None,
                SamplerKind::Renoise,
                Some(FAST_TIMESTEPS.to_vec()),
            );
            let listed = s.timesteps.as_ref().map_or(FAST_TIMESTEPS.len(), Vec::len);
            let steps = flags.steps.unwrap_or(listed);
            if steps.max(listed) > FAST_MAX_STEPS {
                return Err(WanError::Input(format!(
                    "the fast preset is for at most {FAST_MAX_STEPS} steps, {} were asked for; use \
                     quality or balanced for more",
                    steps.max(listed)
                )));
            }
            (steps, s, true, Some(FAST_SHIFT))
        }
    };
    if let Some(t) = &sampling.timesteps
        && t.len() != steps
    {
        return Err(WanError::Input(format!(
            "--steps {steps} disagrees with the {} timesteps given",
            t.len()
        )));
    }
    Ok(Plan {
        preset,
        steps,
        guidance_off,
        shift,
        sampling,
        distillation,
    })
}

/// MagCache with MagCache's Wan 2.1 settings and the given (or built-in) ratios.
fn balanced_cache(flags: &SamplingFlags) -> CacheConfig {
    let (threshold, k) = BALANCED_MAG;
    CacheConfig::Mag(MagSettings {
        max_skip_steps: k,
        ratios: flags.mag_ratios.clone(),
        ..MagSettings::new(threshold)
    })
}

/// The fast preset's refusals, with their reasons.
fn check_fast(flags: &SamplingFlags, distillation: &Distillation) -> Result<()> {
    if !distillation.is_distilled() {
        return Err(WanError::Input(format!(
            "the fast preset (4 steps, no guidance) needs step-distilled weights, and nothing says \
             these are: pass --distilled, or use a checkpoint or LoRA whose file name says so \
             (one of: {})",
            DISTILL_MARKERS.join(", ")
        )));
    }
    if flags.cache.as_ref().is_some_and(CacheConfig::is_on) {
        return Err(WanError::Input(
            "the fast preset takes no step cache: its four steps are too far apart for cached \
             residuals (use the balanced preset for a cache)"
                .into(),
        ));
    }
    Ok(())
}

/// `request_info` pairs of a model's speed settings: the preset, and what differs from the
/// model's own sampling.
pub fn describe(
    preset: Preset,
    sampling: &Sampling,
    distillation: &Distillation,
) -> Vec<(&'static str, String)> {
    let mut out = vec![("preset", preset.to_string())];
    if sampling.sampler != SamplerKind::Default {
        out.push(("sampler", sampling.sampler.to_string()));
    }
    if let Some(t) = &sampling.timesteps {
        let list: Vec<String> = t.iter().map(|v| v.to_string()).collect();
        out.push(("timesteps", list.join(",")));
    }
    if sampling.cache.is_on() {
        out.push(("cache", sampling.cache.to_string()));
    }
    if let Some(d) = distillation.describe() {
        out.push(("distilled", d));
    }
    out
}

impl Plan {
    /// [`describe`] of this plan.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        describe(self.preset, &self.sampling, &self.distillation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lora(name: &str) -> LoraSpec {
        LoraSpec {
            path: format!("/loras/{name}").into(),
            scale: 1.0,
        }
    }

    #[test]
    fn presets_parse() {
        for p in [Preset::Quality, Preset::Balanced, Preset::Fast] {
            assert_eq!(p.name().parse::<Preset>().unwrap(), p);
        }
        let e = "turbo".parse::<Preset>().unwrap_err().to_string();
        assert!(e.contains("`turbo`"), "{e}");
    }

    #[test]
    fn distillation_is_declared_or_read_from_names() {
        let m = Path::new("/models/Wan2.1-VACE-1.3B-diffusers");
        assert_eq!(detect(false, m, None, &[]), Distillation::No);
        assert_eq!(detect(true, m, None, &[]), Distillation::Declared);
        let l = lora("Wan21_CausVid_14B_T2V_lora_rank32.safetensors");
        assert_eq!(
            detect(false, m, None, &[lora("style.safetensors"), l]),
            Distillation::Marker("Wan21_CausVid_14B_T2V_lora_rank32.safetensors".into())
        );
        let fastwan = Path::new("/models/FastWan2.1-T2V-1.3B-Diffusers");
        assert!(detect(false, fastwan, None, &[]).is_distilled());
        let ckpt = Path::new("/m/lightx2v_4step.safetensors");
        assert!(detect(false, m, Some(ckpt), &[]).is_distilled());
    }

    #[test]
    fn quality_is_the_models_own_sampling() {
        let p = plan(
            Preset::Quality,
            &SamplingFlags::default(),
            50,
            Distillation::No,
        )
        .unwrap();
        assert_eq!((p.steps, p.guidance_off, p.shift), (50, false, None));
        assert_eq!(p.sampling, Sampling::default());
        assert_eq!(p.describe(), vec![("preset", "quality".to_string())]);
    }

    #[test]
    fn balanced_adds_magcache_and_flags_win() {
        let p = plan(
            Preset::Balanced,
            &SamplingFlags::default(),
            50,
            Distillation::No,
        )
        .unwrap();
        assert_eq!(p.steps, 50);
        let CacheConfig::Mag(m) = &p.sampling.cache else {
            panic!("{:?}", p.sampling.cache)
        };
        assert_eq!(
            (m.threshold, m.max_skip_steps, m.ratios.clone()),
            (0.12, 2, None)
        );
        let flags = SamplingFlags {
            cache: Some(CacheConfig::FirstBlock { threshold: 0.1 }),
            steps: Some(30),
            ..Default::default()
        };
        let p = plan(Preset::Balanced, &flags, 50, Distillation::No).unwrap();
        assert_eq!(p.steps, 30);
        assert_eq!(p.sampling.cache, CacheConfig::FirstBlock { threshold: 0.1 });
        assert!(
            p.describe()
                .contains(&("cache", "first_block:0.1".to_string()))
        );
    }

    #[test]
    fn fast_is_four_renoise_steps_without_guidance() {
        let p = plan(
            Preset::Fast,
            &SamplingFlags::default(),
            50,
            Distillation::Declared,
        )
        .unwrap();
        assert_eq!((p.steps, p.guidance_off, p.shift), (4, true, Some(5.0)));
        assert_eq!(p.sampling.sampler, SamplerKind::Renoise);
        assert_eq!(p.sampling.timesteps, Some(FAST_TIMESTEPS.to_vec()));
        assert_eq!(
            p.describe(),
            vec![
                ("preset", "fast".to_string()),
                ("sampler", "renoise".to_string()),
                ("timesteps", "1000,750,500,250".to_string()),
                ("distilled", "declared".to_string()),
            ]
        );
        let euler = SamplingFlags {
            sampler: Some(SamplerKind::Euler),
            timesteps: Some(vec![1000.0, 757.0, 522.0]),
            ..Default::default()
        };
        let p = plan(Preset::Fast, &euler, 50, Distillation::Declared).unwrap();
        assert_eq!((p.steps, p.sampling.sampler), (3, SamplerKind::Euler));
    }

    #[test]
    fn fast_is_refused_with_the_reason() {
        let e = plan(
            Preset::Fast,
            &SamplingFlags::default(),
            50,
            Distillation::No,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("step-distilled") && e.contains("--distilled"),
            "{e}"
        );
        let cached = SamplingFlags {
            cache: Some(CacheConfig::FirstBlock { threshold: 0.1 }),
            ..Default::default()
        };
        let e = plan(Preset::Fast, &cached, 50, Distillation::Declared).unwrap_err();
        assert!(e.to_string().contains("no step cache"), "{e}");
        let many = SamplingFlags {
            steps: Some(20),
            ..Default::default()
        };
        let e = plan(Preset::Fast, &many, 50, Distillation::Declared).unwrap_err();
        assert!(e.to_string().contains("at most 8 steps, 20"), "{e}");
        let long_list = SamplingFlags {
            timesteps: Some((1..=10).rev().map(|i| 100.0 * i as f64).collect()),
            ..Default::default()
        };
        let e = plan(Preset::Fast, &long_list, 50, Distillation::Declared).unwrap_err();
        assert!(e.to_string().contains("at most 8 steps, 10"), "{e}");
        let eight = SamplingFlags {
            timesteps: Some((1..=8).rev().map(|i| 125.0 * i as f64).collect()),
            ..Default::default()
        };
        assert_eq!(
            plan(Preset::Fast, &eight, 50, Distillation::Declared)
                .unwrap()
                .steps,
            8
        );
        let mismatch = SamplingFlags {
            steps: Some(3),
            ..Default::default()
        };
        let e = plan(Preset::Fast, &mismatch, 50, Distillation::Declared).unwrap_err();
        assert!(e.to_string().contains("disagrees"), "{e}");
    }
}
