//! [`Staged`]: a module (text encoder, transformer, VAE) that is either kept on the device or
//! built for each stage that uses it and dropped when the stage ends.

use std::fmt;
use std::ops::Deref;

use crate::error::Result;

type Build<M> = dyn Fn() -> Result<M> + Send + Sync;

/// A module kept, or built on demand (see the module docs).
pub struct Staged<M> {
    kind: Kind<M>,
}

enum Kind<M> {
    Resident(M),
    PerStage(Box<Build<M>>),
}

impl<M> fmt::Debug for Staged<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Resident(_) => "Staged::Resident",
            Kind::PerStage(_) => "Staged::PerStage",
        })
    }
}

impl<M> Staged<M> {
    /// A module built once and kept.
    pub fn resident(module: M) -> Self {
        Self {
            kind: Kind::Resident(module),
        }
    }

    /// A module `build` makes afresh for every stage.
    pub fn per_stage(build: impl Fn() -> Result<M> + Send + Sync + 'static) -> Self {
        Self {
            kind: Kind::PerStage(Box::new(build)),
        }
    }

    /// Whether the module is kept between stages.
    pub fn is_resident(&self) -> bool {
        matches!(self.kind, Kind::Resident(_))
    }

    /// The module for one stage: the kept one, or one built now (dropped with the guard).
    pub fn get(&self) -> Result<StagedRef<'_, M>> {
        Ok(match &self.kind {
            Kind::Resident(m) => StagedRef::Kept(m),
            Kind::PerStage(build) => StagedRef::Built(build()?),
        })
    }

    /// The kept module, if any.
    pub fn resident_mut(&mut self) -> Option<&mut M> {
        match &mut self.kind {
            Kind::Resident(m) => Some(m),
            Kind::PerStage(_) => None,
        }
    }
}

/// A module for the duration of one stage.
pub enum StagedRef<'a, M> {
    Kept(&'a M),
    Built(M),
}

impl<M> Deref for StagedRef<'_, M> {
    type Target = M;

    fn deref(&self) -> &M {
        match self {
            StagedRef::Kept(m) => m,
            StagedRef::Built(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn per_stage_modules_are_built_for_every_use() -> Result<()> {
        let builds = Arc::new(AtomicUsize::new(0));
        let b = builds.clone();
        let staged = Staged::per_stage(move || Ok(b.fetch_add(1, Ordering::Relaxed) + 10));
        assert_eq!(*staged.get()?, 10);
        assert_eq!(*staged.get()?, 11);
        assert!(!staged.is_resident());
        let kept = Staged::resident(5);
        assert_eq!((*kept.get()?, *kept.get()?), (5, 5));
        assert!(kept.is_resident());
        Ok(())
    }
}
