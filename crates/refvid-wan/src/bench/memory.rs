//! Peak memory of a benchmark run.
//!
//! - Host: the process's resident high-water mark, `VmHWM` of `/proc/self/status` (Linux; `None`
//!   elsewhere). It covers the whole process life, weight drawing included.
//! - Device (CUDA): the memory in use on the whole device (`total − free` of `cuMemGetInfo`,
//!   so the CUDA context and other processes on the same GPU count too), sampled every
//!   [`SAMPLE_EVERY`] by a thread and at every stage end; the peak is the largest sample, so a
//!   transient shorter than the interval can be missed. `None` on the CPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use candle_core::Device;

/// How often the device sampler reads the device's memory.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// The process's peak resident memory in bytes (`VmHWM`), when the system reports it.
pub fn peak_host_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, "VmHWM:").map(|kib| kib * 1024)
}

/// A `Name:   123 kB` line's number.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Bytes in use on `device` now (`None` on the CPU, or when the driver does not say).
pub fn device_used_bytes(device: &Device) -> Option<u64> {
    cuda_used_bytes(device)
}

#[cfg(feature = "cuda")]
fn cuda_used_bytes(device: &Device) -> Option<u64> {
    let cuda = device.as_cuda_device().ok()?;
    let (free, total) = cuda.cuda_stream().context().mem_get_info().ok()?;
    Some(total.saturating_sub(free) as u64)
}

#[cfg(not(feature = "cuda"))]
fn cuda_used_bytes(_device: &Device) -> Option<u64> {
    None
}

/// The device's peak use, sampled on a thread while it lives (see the module docs).
pub struct DevicePeak {
    device: Device,
    peak: Arc<AtomicU64>,
    seen: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<()>>,
}

impl DevicePeak {
    /// Starts sampling `device` (no thread on the CPU).
    pub fn start(device: &Device) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = (!device.is_cpu()).then(|| {
            let (device, peak, seen, stop) =
                (device.clone(), peak.clone(), seen.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(b) = device_used_bytes(&device) {
                        peak.fetch_max(b, Ordering::Relaxed);
                        seen.store(true, Ordering::Relaxed);
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
        });
        Self {
            device: device.clone(),
            peak,
            seen,
            stop,
            sampler,
        }
    }

    /// Takes a sample now (call at stage ends, after synchronising the device).
    pub fn sample(&self) {
        if let Some(b) = device_used_bytes(&self.device) {
            self.peak.fetch_max(b, Ordering::Relaxed);
            self.seen.store(true, Ordering::Relaxed);
        }
    }

    /// The largest sample so far (`None` on the CPU or without any sample).
    pub fn peak(&self) -> Option<u64> {
        self.seen
            .load(Ordering::Relaxed)
            .then(|| self.peak.load(Ordering::Relaxed))
    }

    /// Stops the sampler and returns the peak.
    pub fn finish(mut self) -> Option<u64> {
        self.stop_sampler();
        self.sample();
        self.peak()
    }

    fn stop_sampler(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.sampler.take() {
            let _ = h.join();
        }
    }
}

impl Drop for DevicePeak {
    fn drop(&mut self) {
        self.stop_sampler();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_peak_is_read_and_the_cpu_has_no_device_peak() {
        let status = "Name:\tx\nVmPeak:\t  900 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        if cfg!(target_os = "linux") {
            let peak = peak_host_bytes().expect("VmHWM on Linux");
            assert!(peak > 1 << 20, "{peak}");
        }
        let cpu = DevicePeak::start(&Device::Cpu);
        cpu.sample();
        assert_eq!(cpu.finish(), None);
    }
}
