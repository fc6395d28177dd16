//! A model's repeated blocks, either built once and kept ([`Blocks::Resident`]) or streamed:
//! built from their weights' home each time they run, the next one loading on a prefetch
//! thread meanwhile ([`BlockStream`]).
//!
//! A [`BlockStream`] knows the order in which one forward pass asks for its blocks (for the VACE
//! transformer: the VACE blocks, then the main blocks; the order wraps round to the next pass).
//! Asking for block `i` hands over block `i` — the prefetched one when it is `i`, otherwise one
//! loaded now — and starts loading block `i + 1` on a new thread. So at most two blocks exist at
//! a time: the one running and the one loading. A block that is never asked for (a step cache
//! skipped it) is never loaded, except as a prefetch, which is then waited for and dropped.
//!
//! What overlaps what: on the CPU the prefetch thread's copy out of the memory map (and dtype
//! conversion) runs beside the block's compute. On CUDA, candle issues a thread's work on that
//! thread's *per-thread default stream* (candle's `CudaDevice` uses `CU_STREAM_PER_THREAD`), so
//! the prefetch thread's host-to-device copy is on another stream than the compute and the GPU
//! runs both at once; the prefetch thread waits for its own stream before handing the block
//! over (`Device::synchronize` on that thread), so the compute stream never sees a half-copied
//! block, and the compute stream is never made to wait. The loader must therefore do copies
//! (and elementwise kernels) only — no cuBLAS call, whose handle candle shares between threads —
//! which holds for the host copies of [`super::home`]. Host memory is candle's ordinary
//! (pageable) memory, so the driver stages each copy through its own pinned buffer: the copy
//! runs at pageable-copy speed and costs the prefetch thread, not the compute thread.

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use candle_core::{Device, Result};

/// A block as the loader returns it (its concrete type is the caller's).
pub type LoadedBlock = Box<dyn Any + Send>;

/// Builds the block at a position of the stream's order on the compute device.
pub type LoadBlock = dyn Fn(usize) -> Result<LoadedBlock> + Send + Sync;

/// How a stream has been used (for tests and logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Blocks built in all (prefetched or not).
    pub loads: usize,
    /// Requests served by the prefetched block.
    pub prefetch_hits: usize,
    /// Prefetched blocks nobody asked for (dropped).
    pub discarded: usize,
}

/// A load running on the prefetch thread.
struct Pending {
    index: usize,
    handle: JoinHandle<Result<LoadedBlock>>,
}

/// Blocks built one at a time from their home, with the next one prefetched (see the module
/// docs).
pub struct BlockStream {
    count: usize,
    load: Arc<LoadBlock>,
    device: Device,
    pending: Mutex<Option<Pending>>,
    loads: AtomicUsize,
    hits: AtomicUsize,
    discarded: AtomicUsize,
}

impl fmt::Debug for BlockStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockStream")
            .field("count", &self.count)
            .field("stats", &self.stats())
            .finish()
    }
}

impl BlockStream {
    /// A stream of `count` blocks built by `load` (position → block) on `device`.
    pub fn new(
        count: usize,
        device: Device,
        load: impl Fn(usize) -> Result<LoadedBlock> + Send + Sync + 'static,
    ) -> Self {
        Self {
            count,
            load: Arc::new(load),
            device,
            pending: Mutex::new(None),
            loads: AtomicUsize::new(0),
            hits: AtomicUsize::new(0),
            discarded: AtomicUsize::new(0),
        }
    }

    /// Blocks in one pass.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the stream has no blocks.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How the stream has been used so far.
    pub fn stats(&self) -> StreamStats {
        StreamStats {
            loads: self.loads.load(Ordering::Relaxed),
            prefetch_hits: self.hits.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
        }
    }

    /// Block `index`, built for the caller to run and drop; starts prefetching the next one.
    pub fn take(&self, index: usize) -> Result<LoadedBlock> {
        if index >= self.count {
            candle_core::bail!("block {index} asked of a stream of {} blocks", self.count);
        }
        let mut pending = self.pending.lock().expect("block stream poisoned");
        let ready = match pending.take() {
            Some(p) if p.index == index => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(join(p)?)
            }
            Some(other) => {
                // Wait for it rather than detach it: at most two blocks ever exist.
                self.discarded.fetch_add(1, Ordering::Relaxed);
                drop(join(other));
                None
            }
            None => None,
        };
        *pending = Some(self.spawn((index + 1) % self.count)?);
        match ready {
            Some(block) => Ok(block),
            None => {
                self.loads.fetch_add(1, Ordering::Relaxed);
                (self.load)(index)
            }
        }
    }

    /// Starts loading block `index` on a new thread, which waits for its own device stream
    /// before returning the block.
    fn spawn(&self, index: usize) -> Result<Pending> {
        let load = self.load.clone();
        let device = self.device.clone();
        self.loads.fetch_add(1, Ordering::Relaxed);
        let handle = std::thread::Builder::new()
            .name(format!("refvid-prefetch-{index}"))
            .spawn(move || {
                let block = load(index)?;
                device.synchronize()?;
                Ok(block)
            })
            .map_err(candle_core::Error::wrap)?;
        Ok(Pending { index, handle })
    }
}

impl Drop for BlockStream {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.pending.lock()
            && let Some(p) = pending.take()
        {
            drop(join(p));
        }
    }
}

fn join(p: Pending) -> Result<LoadedBlock> {
    p.handle
        .join()
        .unwrap_or_else(|_| candle_core::bail!("the loader of block {} panicked", p.index))
}

/// A block for one use: borrowed from a resident list or owned (and dropped after use).
pub enum BlockRef<'a, B> {
    Kept(&'a B),
    Loaded(Box<B>),
}

impl<B> Deref for BlockRef<'_, B> {
    type Target = B;

    fn deref(&self) -> &B {
        match self {
            BlockRef::Kept(b) => b,
            BlockRef::Loaded(b) => b,
        }
    }
}

/// One kind of block of a model, kept or streamed.
pub enum Blocks<B> {
    /// Built once, kept on the device.
    Resident(Vec<B>),
    /// Positions `first .. first + count` of a shared stream.
    Streamed {
        stream: Arc<BlockStream>,
        first: usize,
        count: usize,
    },
}

impl<B: Clone> Clone for Blocks<B> {
    fn clone(&self) -> Self {
        match self {
            Blocks::Resident(v) => Blocks::Resident(v.clone()),
            Blocks::Streamed {
                stream,
                first,
                count,
            } => Blocks::Streamed {
                stream: stream.clone(),
                first: *first,
                count: *count,
            },
        }
    }
}

impl<B> fmt::Debug for Blocks<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocks::Resident(v) => write!(f, "Blocks::Resident({} blocks)", v.len()),
            Blocks::Streamed { first, count, .. } => {
                write!(f, "Blocks::Streamed({count} blocks from {first})")
            }
        }
    }
}

impl<B: Send + 'static> Blocks<B> {
    /// Number of blocks.
    pub fn len(&self) -> usize {
        match self {
            Blocks::Resident(v) => v.len(),
            Blocks::Streamed { count, .. } => *count,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Block `i` for one use.
    pub fn get(&self, i: usize) -> Result<BlockRef<'_, B>> {
        match self {
            Blocks::Resident(v) => v
                .get(i)
                .map(BlockRef::Kept)
                .ok_or_else(|| candle_core::Error::Msg(format!("block {i} of {}", v.len())).bt()),
            Blocks::Streamed {
                stream,
                first,
                count,
            } => {
                if i >= *count {
                    candle_core::bail!("block {i} of {count}");
                }
                stream
                    .take(first + i)?
                    .downcast::<B>()
                    .map(BlockRef::Loaded)
                    .map_err(|_| candle_core::Error::Msg(format!("block {i}: wrong type")).bt())
            }
        }
    }

    /// The kept blocks (none when streamed).
    pub fn resident_mut(&mut self) -> &mut [B] {
        match self {
            Blocks::Resident(v) => v,
            Blocks::Streamed { .. } => &mut [],
        }
    }

    /// The stream, when streamed.
    pub fn stream(&self) -> Option<&Arc<BlockStream>> {
        match self {
            Blocks::Resident(_) => None,
            Blocks::Streamed { stream, .. } => Some(stream),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    /// A stream of `n` blocks that are their own index, recording which were loaded.
    fn counting(n: usize) -> (Arc<BlockStream>, Arc<StdMutex<Vec<usize>>>) {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let l = log.clone();
        let stream = BlockStream::new(n, Device::Cpu, move |i| {
            l.lock().unwrap().push(i);
            Ok(Box::new(i) as LoadedBlock)
        });
        (Arc::new(stream), log)
    }

    #[test]
    fn blocks_come_in_order_with_the_next_prefetched() -> Result<()> {
        let (stream, _) = counting(3);
        let blocks: Blocks<usize> = Blocks::Streamed {
            stream: stream.clone(),
            first: 0,
            count: 3,
        };
        for _pass in 0..2 {
            for i in 0..3 {
                assert_eq!(*blocks.get(i)?, i);
            }
        }
        let s = stream.stats();
        // The first block is loaded on demand; every later one was prefetched, and the
        // prefetch after the last request (block 0 again) is still pending.
        assert_eq!(s.prefetch_hits, 5);
        assert_eq!(s.loads, 7);
        assert_eq!(s.discarded, 0);
        Ok(())
    }

    #[test]
    fn skipped_blocks_cost_one_discarded_prefetch() -> Result<()> {
        let (stream, log) = counting(4);
        let main: Blocks<usize> = Blocks::Streamed {
            stream: stream.clone(),
            first: 1,
            count: 3,
        };
        assert_eq!(*main.get(0)?, 1);
        // A cache skips main blocks 1 and 2: the next request is position 1 again.
        assert_eq!(*main.get(0)?, 1);
        let s = stream.stats();
        assert_eq!((s.prefetch_hits, s.discarded), (0, 1));
        drop(main);
        drop(stream);
        let mut loaded = log.lock().unwrap().clone();
        loaded.sort_unstable();
        assert_eq!(loaded, vec![1, 1, 2, 2]);
        Ok(())
    }

    #[test]
    fn errors_name_the_block_and_types_are_checked() {
        let stream = Arc::new(BlockStream::new(2, Device::Cpu, |i| {
            if i == 1 {
                candle_core::bail!("no weights for block {i}")
            }
            Ok(Box::new(i) as LoadedBlock)
        }));
        let blocks: Blocks<usize> = Blocks::Streamed {
            stream: stream.clone(),
            first: 0,
            count: 2,
        };
        assert!(blocks.get(0).is_ok());
        let e = blocks.get(1).err().unwrap().to_string();
        assert!(e.contains("no weights for block 1"), "{e}");
        assert!(blocks.get(2).is_err());
        let wrong: Blocks<String> = Blocks::Streamed {
            stream,
            first: 0,
            count: 1,
        };
        assert!(wrong.get(0).is_err());
        let kept = Blocks::Resident(vec![7usize]);
        assert_eq!(*kept.get(0).unwrap(), 7);
        assert!(kept.get(1).is_err());
    }
}
