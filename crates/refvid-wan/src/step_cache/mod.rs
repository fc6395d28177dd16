//! Training-free step caches for the many-step path: a transformer pass whose first block (or
//! whose accumulated magnitude estimate) says little has changed since the last full pass reuses
//! the residual of the remaining blocks instead of running them.
//!
//! - [`first_block`]: diffusers' `hooks/first_block_cache.py` (`FirstBlockCacheConfig`).
//! - [`mag`]: diffusers' `hooks/mag_cache.py` (`MagCacheConfig`), its calibration, and the
//!   magnitude ratios of Wan 2.1 ([`mag::WAN21_T2V_1_3B_RATIOS`]).
//!
//! Both hook the main blocks only, through [`BlockHook`] in the transformer's block loop: the
//! first block is the head, the last the tail. A VACE model's VACE blocks always run and its loop
//! adds every hint after its block whether the block ran or not (exactly what diffusers' hooked
//! `WanVACETransformer3DModel` does). Each guidance pass (conditional, unconditional) has its own
//! state, as diffusers' `cache_context("cond")` / `("uncond")` give it; [`StepCache`] holds them
//! for one run and counts what was skipped ([`CacheStats`]).

pub mod first_block;
pub mod mag;

use std::fmt;
use std::str::FromStr;

use crate::error::{Result, WanError};
use crate::transformer::BlockHook;
use first_block::FirstBlockCache;
use mag::{MagCache, MagSettings};

/// Which cache a run uses (`--cache none|first_block:T|mag:T[,K]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum CacheConfig {
    /// Every block of every pass runs.
    #[default]
    None,
    /// First-Block-Cache with this threshold on the relative change of the first block's
    /// residual.
    FirstBlock { threshold: f64 },
    /// MagCache.
    Mag(MagSettings),
}

impl CacheConfig {
    /// Whether a cache is on.
    pub fn is_on(&self) -> bool {
        !matches!(self, CacheConfig::None)
    }
}

impl fmt::Display for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheConfig::None => f.write_str("none"),
            CacheConfig::FirstBlock { threshold } => write!(f, "first_block:{threshold}"),
            CacheConfig::Mag(m) => write!(f, "mag:{},{}", m.threshold, m.max_skip_steps),
        }
    }
}

fn parse_number<T: FromStr>(text: &str, what: &str, spec: &str) -> Result<T> {
    text.trim().parse().map_err(|_| {
        WanError::Input(format!(
            "cache `{spec}`: the {what} `{text}` is not a valid number"
        ))
    })
}

impl FromStr for CacheConfig {
    type Err = WanError;

    /// `none`, `first_block:T` or `mag:T[,K]` (T a non-negative threshold, K the most
    /// consecutive skipped steps, default 3 as diffusers').
    fn from_str(spec: &str) -> Result<Self> {
        let (kind, args) = spec.split_once(':').unwrap_or((spec, ""));
        let config = match (kind.trim(), args) {
            ("none", "") => CacheConfig::None,
            ("first_block", a) if !a.is_empty() => CacheConfig::FirstBlock {
                threshold: parse_number(a, "threshold", spec)?,
            },
            ("mag", a) if !a.is_empty() => {
                let (t, k) = a.split_once(',').unwrap_or((a, ""));
                let mut m = MagSettings::new(parse_number(t, "threshold", spec)?);
                if !k.is_empty() {
                    m.max_skip_steps = parse_number(k, "max skip steps", spec)?;
                }
                CacheConfig::Mag(m)
            }
            _ => {
                return Err(WanError::Input(format!(
                    "unknown cache `{spec}` (expected none, first_block:THRESHOLD or \
                     mag:THRESHOLD[,MAX_SKIP_STEPS])"
                )));
            }
        };
        config.validate()?;
        Ok(config)
    }
}

impl CacheConfig {
    /// Gives a MagCache config the ratios of a file (see [`mag::load_ratios`]); a file with any
    /// other cache is an error.
    pub fn with_ratio_file(self, file: Option<&std::path::Path>) -> Result<Self> {
        match (self, file) {
            (config, None) => Ok(config),
            (CacheConfig::Mag(m), Some(path)) => Ok(CacheConfig::Mag(MagSettings {
                ratios: Some(mag::load_ratios(path)?),
                ..m
            })),
            (other, Some(_)) => Err(WanError::Input(format!(
                "MagCache ratios were given but the cache is `{other}`, not mag:THRESHOLD"
            ))),
        }
    }

    /// Checks the numbers: thresholds finite and non-negative.
    pub fn validate(&self) -> Result<()> {
        let threshold = match self {
            CacheConfig::None => return Ok(()),
            CacheConfig::FirstBlock { threshold } => *threshold,
            CacheConfig::Mag(m) => m.threshold,
        };
        if threshold.is_finite() && threshold >= 0.0 {
            Ok(())
        } else {
            Err(WanError::Input(format!(
                "cache `{self}`: the threshold must be a non-negative number"
            )))
        }
    }
}

/// What one pass state decided, pass by pass: `true` where every block ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PassLog {
    pub(crate) stats: CacheStats,
    pub(crate) history: Vec<bool>,
}

impl PassLog {
    /// Records one pass of `count` blocks of which `skipped` were skipped.
    pub(crate) fn record(&mut self, count: usize, skipped: usize) {
        self.history.push(skipped == 0);
        self.stats.record(count, skipped);
    }
}

/// What a run's transformer passes did (summed over the guidance passes), with or without a
/// cache: without one every pass runs every block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Transformer passes so far (a cached pass counts: its head block ran).
    pub passes: usize,
    /// Passes that reused cached residuals instead of running all blocks.
    pub skipped_passes: usize,
    /// Main-block forwards that ran.
    pub blocks_run: usize,
    /// Main-block forwards that were skipped.
    pub blocks_skipped: usize,
}

impl CacheStats {
    /// Records one pass of `count` blocks of which `skipped` were skipped.
    pub(crate) fn record(&mut self, count: usize, skipped: usize) {
        self.passes += 1;
        self.skipped_passes += usize::from(skipped > 0);
        self.blocks_run += count - skipped;
        self.blocks_skipped += skipped;
    }
}

impl std::ops::Add for CacheStats {
    type Output = CacheStats;

    /// The sum of two tallies.
    fn add(self, o: CacheStats) -> CacheStats {
        CacheStats {
            passes: self.passes + o.passes,
            skipped_passes: self.skipped_passes + o.skipped_passes,
            blocks_run: self.blocks_run + o.blocks_run,
            blocks_skipped: self.blocks_skipped + o.blocks_skipped,
        }
    }
}

/// The state of one guidance pass.
enum PassCache {
    FirstBlock(FirstBlockCache),
    Mag(MagCache),
}

impl PassCache {
    fn hook(&mut self) -> &mut dyn BlockHook {
        match self {
            PassCache::FirstBlock(c) => c,
            PassCache::Mag(c) => c,
        }
    }

    fn log(&self) -> &PassLog {
        match self {
            PassCache::FirstBlock(c) => c.log(),
            PassCache::Mag(c) => c.log(),
        }
    }
}

/// The caches of one run: one state per guidance pass, made on first use; it counts every
/// transformer pass of the run, cached or not ([`stats`](Self::stats)).
pub struct StepCache {
    config: CacheConfig,
    steps: usize,
    /// Main blocks of the transformer.
    blocks: usize,
    passes: Vec<PassCache>,
    /// The passes run without a cache (all blocks each).
    uncached: CacheStats,
}

impl StepCache {
    /// A cache for a run of `steps` steps of a transformer with `blocks` main blocks; refuses
    /// models with fewer than two blocks (the head and the tail must differ) and MagCache
    /// ratios that are empty.
    pub fn new(config: &CacheConfig, steps: usize, blocks: usize) -> Result<Self> {
        config.validate()?;
        if config.is_on() && blocks < 2 {
            return Err(WanError::Input(format!(
                "cache `{config}` needs a transformer with at least 2 blocks, this one has {blocks}"
            )));
        }
        if let CacheConfig::Mag(m) = config {
            m.check()?;
        }
        Ok(Self {
            config: config.clone(),
            steps,
            blocks,
            passes: Vec::new(),
            uncached: CacheStats::default(),
        })
    }

    /// Whether the cache is on (its hooks decide per pass; off, every block runs).
    pub fn is_on(&self) -> bool {
        self.config.is_on()
    }

    /// The hook for guidance pass `pass` (0 conditional, 1 unconditional, …), or `None` when
    /// the cache is off. Called once per transformer pass: without a cache the pass is counted
    /// here as running all blocks, with one the hook counts what it did.
    pub fn hook(&mut self, pass: usize) -> Option<&mut dyn BlockHook> {
        while self.passes.len() <= pass {
            let state = match &self.config {
                CacheConfig::None => {
                    self.uncached.record(self.blocks, 0);
                    return None;
                }
                CacheConfig::FirstBlock { threshold } => {
                    PassCache::FirstBlock(FirstBlockCache::new(*threshold))
                }
                CacheConfig::Mag(m) => {
                    PassCache::Mag(MagCache::for_pass(m, self.steps, self.passes.len()))
                }
            };
            self.passes.push(state);
        }
        Some(self.passes[pass].hook())
    }

    /// Counts `passes` guidance passes that ran as one batch ([`crate::batch`]), every block of
    /// each: the tally is what the passes run one by one give. Refused with a cache on, whose
    /// hooks decide per pass (such passes never share a batch).
    pub fn record_batched(&mut self, passes: usize) -> Result<()> {
        if self.is_on() {
            return Err(WanError::Input(format!(
                "cache `{}` decides per guidance pass: its passes cannot run as one batch",
                self.config
            )));
        }
        for _ in 0..passes {
            self.uncached.record(self.blocks, 0);
        }
        Ok(())
    }

    /// The passes so far and what was skipped, all guidance passes together.
    pub fn stats(&self) -> CacheStats {
        self.passes
            .iter()
            .fold(self.uncached, |acc, p| acc + p.log().stats)
    }

    /// How many guidance passes have a state (those that ran at least once).
    pub fn pass_count(&self) -> usize {
        self.passes.len()
    }

    /// The decisions of guidance pass `pass`, one per transformer pass in order: `true` where
    /// every block ran, `false` where the cache stood in.
    pub fn decisions(&self, pass: usize) -> &[bool] {
        self.passes
            .get(pass)
            .map(|p| p.log().history.as_slice())
            .unwrap_or_default()
    }

    /// MagCache calibration: the magnitude ratios measured per pass (empty unless the config is
    /// MagCache with `calibrate`).
    pub fn calibration(&self) -> Vec<Vec<f32>> {
        self.passes
            .iter()
            .filter_map(|p| match p {
                PassCache::Mag(m) => Some(m.calibration().to_vec()),
                PassCache::FirstBlock(_) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print() {
        assert_eq!("none".parse::<CacheConfig>().unwrap(), CacheConfig::None);
        assert_eq!(
            "first_block:0.05".parse::<CacheConfig>().unwrap(),
            CacheConfig::FirstBlock { threshold: 0.05 }
        );
        let CacheConfig::Mag(m) = "mag:0.12,2".parse::<CacheConfig>().unwrap() else {
            panic!("mag")
        };
        assert_eq!((m.threshold, m.max_skip_steps), (0.12, 2));
        let CacheConfig::Mag(m) = "mag:0.06".parse::<CacheConfig>().unwrap() else {
            panic!("mag")
        };
        assert_eq!((m.max_skip_steps, m.retention_ratio), (3, 0.2));
        assert_eq!(CacheConfig::Mag(m).to_string(), "mag:0.06,3");
        assert_eq!(
            CacheConfig::FirstBlock { threshold: 0.1 }.to_string(),
            "first_block:0.1"
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, needle) in [
            ("tea:0.1", "unknown cache"),
            ("first_block", "unknown cache"),
            ("first_block:x", "threshold `x`"),
            ("first_block:-1", "non-negative"),
            ("mag:0.1,two", "max skip steps `two`"),
            ("none:1", "unknown cache"),
        ] {
            let e = spec.parse::<CacheConfig>().unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }

    #[test]
    fn one_block_models_are_refused() {
        let fbc = CacheConfig::FirstBlock { threshold: 0.1 };
        let e = StepCache::new(&fbc, 10, 1).err().unwrap().to_string();
        assert!(e.contains("at least 2 blocks"), "{e}");
        assert!(StepCache::new(&CacheConfig::None, 10, 1).is_ok());
    }

    #[test]
    fn stats_add_up() {
        let mut s = CacheStats::default();
        s.record(4, 0);
        s.record(4, 3);
        assert_eq!(
            s,
            CacheStats {
                passes: 2,
                skipped_passes: 1,
                blocks_run: 5,
                blocks_skipped: 3
            }
        );
        let mut off = StepCache::new(&CacheConfig::None, 3, 4).unwrap();
        assert_eq!(off.stats(), CacheStats::default());
        assert!(off.hook(0).is_none());
        assert!(off.hook(1).is_none());
        assert_eq!(
            off.stats(),
            CacheStats {
                passes: 2,
                skipped_passes: 0,
                blocks_run: 8,
                blocks_skipped: 0
            }
        );
        assert_eq!(off.pass_count(), 0);
        // Passes run as one batch count as many passes.
        off.record_batched(3).unwrap();
        assert_eq!(off.stats().passes, 5);
        assert_eq!(off.stats().blocks_run, 20);
        let mut on = StepCache::new(&CacheConfig::FirstBlock { threshold: 0.1 }, 3, 4).unwrap();
        assert!(on.record_batched(2).is_err());
        assert_eq!(on.stats(), CacheStats::default());
    }
}
