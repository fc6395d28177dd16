//! First-Block-Cache, as diffusers' `hooks/first_block_cache.py` does it for one cache context.
//!
//! Every pass runs the first (head) block and measures how much its residual `out − in` moved
//! since the last pass that ran everything: `mean|r − r_prev| / mean|r_prev|`. Above the
//! threshold (or on the first pass) every block runs, and the head's output and residual and the
//! tail residual `tail_out − head_out` are stored; at or below it the other blocks are skipped
//! and the pass continues from `head_out + tail_residual`.

use candle_core::{DType, Result, Tensor};

use super::{CacheStats, PassLog};
use crate::transformer::BlockHook;

/// The First-Block-Cache state of one guidance pass.
#[derive(Debug)]
pub struct FirstBlockCache {
    threshold: f64,
    head_output: Option<Tensor>,
    head_residual: Option<Tensor>,
    tail_residual: Option<Tensor>,
    should_compute: bool,
    log: PassLog,
}

/// `mean|a − b| / mean|b|`, computed in f32.
fn relative_change(current: &Tensor, previous: &Tensor) -> Result<f64> {
    let c = current.to_dtype(DType::F32)?;
    let p = previous.to_dtype(DType::F32)?;
    let diff = (c - &p)?.abs()?.mean_all()?.to_scalar::<f32>()?;
    let base = p.abs()?.mean_all()?.to_scalar::<f32>()?;
    Ok(f64::from(diff / base))
}

impl FirstBlockCache {
    /// A fresh state (the first pass runs every block).
    pub fn new(threshold: f64) -> Self {
        Self {
            threshold,
            head_output: None,
            head_residual: None,
            tail_residual: None,
            should_compute: true,
            log: PassLog::default(),
        }
    }

    /// What this pass state skipped so far.
    pub fn stats(&self) -> CacheStats {
        self.log.stats
    }

    pub(crate) fn log(&self) -> &PassLog {
        &self.log
    }

    /// The head block: runs it, decides, and either stores its output or applies the tail
    /// residual.
    fn head(
        &mut self,
        x: &Tensor,
        run: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let out = run(x)?;
        let residual = (&out - x)?;
        self.should_compute = match &self.head_residual {
            None => true,
            Some(previous) => relative_change(&residual, previous)? > self.threshold,
        };
        if self.should_compute {
            self.head_output = Some(out.clone());
            self.head_residual = Some(residual);
            return Ok(out);
        }
        let tail = self.tail_residual.as_ref().ok_or_else(|| {
            candle_core::Error::Msg("first-block cache: no tail residual stored yet".into())
        })?;
        out + tail
    }
}

impl BlockHook for FirstBlockCache {
    fn block(
        &mut self,
        index: usize,
        count: usize,
        x: &Tensor,
        run: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        if index == 0 {
            return self.head(x, run);
        }
        let last = index + 1 == count;
        if !self.should_compute {
            if last {
                self.log.record(count, count - 1);
            }
            return Ok(x.clone());
        }
        let out = run(x)?;
        if last {
            let head = self.head_output.as_ref().ok_or_else(|| {
                candle_core::Error::Msg("first-block cache: the head block did not run".into())
            })?;
            self.tail_residual = Some((&out - head)?);
            self.log.record(count, 0);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f32]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    /// Runs one pass of 3 "blocks" that add `adds[i]` each; returns the output and the blocks run.
    fn pass(cache: &mut FirstBlockCache, x: &Tensor, adds: [f32; 3]) -> (Vec<f32>, Vec<usize>) {
        let mut ran = Vec::new();
        let mut x = x.clone();
        for (i, a) in adds.iter().enumerate() {
            let mut run = |x: &Tensor| {
                ran.push(i);
                x.affine(1.0, f64::from(*a))
            };
            x = cache.block(i, 3, &x, &mut run).unwrap();
        }
        (x.to_vec1().unwrap(), ran)
    }

    #[test]
    fn small_head_changes_reuse_the_tail_residual() {
        let mut c = FirstBlockCache::new(0.3);
        let x = t(&[0.0, 0.0]);
        // First pass: everything runs; head residual 1, tail residual (1+2+3) − 1 = 5.
        assert_eq!(
            pass(&mut c, &x, [1.0, 2.0, 3.0]),
            (vec![6.0, 6.0], vec![0, 1, 2])
        );
        // Head residual 1.25: a 25 % change ≤ 30 %: only the head runs, then + 5.
        assert_eq!(
            pass(&mut c, &x, [1.25, 20.0, 30.0]),
            (vec![6.25, 6.25], vec![0])
        );
        // Against the last computed residual (1), 1.5 is a 50 % change: all run.
        assert_eq!(
            pass(&mut c, &x, [1.5, 2.0, 3.0]),
            (vec![6.5, 6.5], vec![0, 1, 2])
        );
        let s = c.stats();
        assert_eq!((s.passes, s.skipped_passes, s.blocks_skipped), (3, 1, 2));
    }
}
