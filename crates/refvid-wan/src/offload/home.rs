//! Where an offloaded module's weights wait between uses, as a [`VarBuilder`] on the compute
//! device that modules and blocks are built from again and again.
//!
//! - On the **CPU** the home is the checkpoint's own builder: every build reads the tensors out
//!   of the files with positioned reads (converting the dtype, merging LoRAs); no map is kept,
//!   so nothing but what is built stays resident.
//! - On **CUDA** it is a host copy: the module is built once on the CPU through a recording
//!   backend ([`HostCopy`]) that keeps every tensor the model asked for, in the dtype it asked
//!   for (LoRAs merged); building on the device is then one host-to-device copy per tensor, with
//!   no file access, no dtype conversion and no arithmetic (which the prefetch thread of
//!   [`super::blocks`] relies on). It costs host memory of the module's size in compute dtype.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;

use crate::error::Result;

/// The tensors a [`HostCopy`] recorded, by name.
pub type Recording = Arc<Mutex<HashMap<String, Tensor>>>;

/// Records what a module asks of an inner builder (see the module docs).
pub struct HostCopy {
    inner: VarBuilder<'static>,
    kept: Recording,
}

impl HostCopy {
    /// A recorder over a host (CPU) builder rooted at the module.
    pub fn new(inner: VarBuilder<'static>) -> Self {
        Self {
            inner,
            kept: Recording::default(),
        }
    }

    /// The recording (shared: it fills while the recorder is used behind a builder).
    pub fn recording(&self) -> Recording {
        self.kept.clone()
    }

    fn keep(&self, name: &str, t: &Tensor) {
        self.kept
            .lock()
            .expect("host copy poisoned")
            .insert(name.to_string(), t.clone());
    }
}

impl SimpleBackend for HostCopy {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: candle_nn::Init,
        dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = self.inner.get_with_hints_dtype(s, name, h, dtype)?;
        self.keep(name, &t);
        Ok(t)
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = self.inner.get_unchecked_dtype(name, dtype)?;
        self.keep(name, &t);
        Ok(t)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.inner.contains_tensor(name)
    }
}

/// The home of a module whose weights `host` reads on the CPU (a checkpoint's builder), for
/// modules built on `device`: `host` itself on the CPU; on another device a [`HostCopy`]
/// recorded by building the module once with `build` (whose result is dropped).
pub fn home_for<M>(
    host: VarBuilder<'static>,
    device: &Device,
    build: impl FnOnce(VarBuilder<'static>) -> Result<M>,
) -> Result<VarBuilder<'static>> {
    if device.is_cpu() {
        return Ok(host);
    }
    let dtype = host.dtype();
    let recorder = HostCopy::new(host.set_device(Device::Cpu));
    let recording = recorder.recording();
    drop(build(VarBuilder::from_backend(
        Box::new(recorder),
        dtype,
        Device::Cpu,
    ))?);
    let tensors = std::mem::take(&mut *recording.lock().expect("host copy poisoned"));
    Ok(VarBuilder::from_tensors(tensors, dtype, device))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all()
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.to_vec1())
            .unwrap()
    }

    #[test]
    fn the_recording_keeps_exactly_what_was_asked_in_its_dtype() -> Result<()> {
        let dev = Device::Cpu;
        let a = Tensor::new(&[1.5f32, -2.0], &dev)?;
        let b = Tensor::new(&[[0.25f32]], &dev)?;
        let source = HashMap::from([
            ("m.a".to_string(), a.clone()),
            ("m.b".to_string(), b),
            ("unused".to_string(), a),
        ]);
        let recorder = HostCopy::new(VarBuilder::from_tensors(source, DType::BF16, &dev));
        let recording = recorder.recording();
        let vb = VarBuilder::from_backend(Box::new(recorder), DType::BF16, dev.clone());
        let got_a = vb.pp("m").get(2, "a")?;
        let got_b = vb.pp("m").set_dtype(DType::F32).get((1, 1), "b")?;
        assert!(vb.contains_tensor("m.a") && !vb.contains_tensor("nope"));
        let kept = recording.lock().unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept["m.a"].dtype(), DType::BF16);
        assert_eq!(kept["m.b"].dtype(), DType::F32);
        assert_eq!(values(&kept["m.a"]), values(&got_a));
        assert_eq!(values(&kept["m.b"]), values(&got_b));
        Ok(())
    }
}
