//! [`RandomWeights`]: a weight source that makes up every tensor a module asks for, at the shape
//! it asks for, on the device and in the dtype it asks for, so that a model can be built at its
//! real shapes without a checkpoint.
//!
//! Drawing billions of normal numbers would take longer than the run it serves (minutes on a
//! CPU for UMT5-XXL alone), so a *pool* of 2²⁴ standard-normal values is drawn once per device
//! (in f32 on that device — curand on CUDA —, converted there to each dtype asked for) and every
//! weight is a copy of a window of it, scaled by `1/√fan_in` (fan-in: the product of every
//! dimension but the first), at an offset given by a hash of the tensor's name. Tensors larger
//! than the pool repeat it. Tensors with one non-unit dimension are norm scales (`…weight`,
//! `gamma`: ones) or biases (`…bias`: zeros). A weight is its own storage (a copy, never a view
//! of the pool), so memory use is the model's; building one is an element-wise kernel (no BLAS),
//! which the block prefetch thread of [`crate::offload::blocks`] requires.
//!
//! The values are meaningless; only shapes, dtypes and where the tensors live are real.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, DeviceLocation, Result, Shape, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;

/// Values in a pool.
pub const POOL_LEN: usize = 1 << 24;

type Pools = Arc<Mutex<HashMap<(DType, DeviceLocation), Tensor>>>;

/// The weight source (see the module docs). Cloning shares the pools.
#[derive(Clone, Default)]
pub struct RandomWeights {
    pools: Pools,
}

impl RandomWeights {
    /// A source whose pools are drawn for `dtypes` on each of `devices` now (later dtypes are
    /// converted from the f32 pool of their device).
    pub fn new(devices: &[&Device], dtypes: &[DType]) -> Result<Self> {
        let source = Self::default();
        for device in devices {
            for &dtype in dtypes {
                source.pool(dtype, device)?;
            }
        }
        Ok(source)
    }

    /// A builder of compute dtype `dtype` on `device` over this source.
    pub fn builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), dtype, device.clone())
    }

    /// The pool of `dtype` on `device`, drawn (f32) or converted on first use.
    fn pool(&self, dtype: DType, device: &Device) -> Result<Tensor> {
        let key = (dtype, device.location());
        if let Some(p) = self.pools.lock().expect("weight pools poisoned").get(&key) {
            return Ok(p.clone());
        }
        let pool = if dtype == DType::F32 {
            Tensor::randn(0f32, 1f32, POOL_LEN, device)?
        } else {
            self.pool(DType::F32, device)?.to_dtype(dtype)?
        };
        let mut pools = self.pools.lock().expect("weight pools poisoned");
        Ok(pools.entry(key).or_insert(pool).clone())
    }

    /// The tensor `name` of `shape` (see the module docs for the values).
    pub fn draw(&self, shape: &Shape, name: &str, dtype: DType, device: &Device) -> Result<Tensor> {
        let dims = shape.dims();
        let numel = shape.elem_count();
        let vector_like = dims.iter().filter(|&&d| d > 1).count() <= 1;
        if vector_like && dims.len() <= 4 && !dims.is_empty() && numel == dims[0] {
            return if name.ends_with("bias") {
                Tensor::zeros(shape, dtype, device)
            } else {
                Tensor::ones(shape, dtype, device)
            };
        }
        let fan_in: usize = dims.iter().skip(1).product::<usize>().max(1);
        let std = 1.0 / (fan_in as f64).sqrt();
        let pool = self.pool(dtype, device)?;
        let flat = if numel <= POOL_LEN {
            let start = (fnv1a(name) % (POOL_LEN - numel + 1) as u64) as usize;
            pool.narrow(0, start, numel)?
        } else {
            let mut pieces = vec![pool.clone(); numel / POOL_LEN];
            if numel % POOL_LEN != 0 {
                pieces.push(pool.narrow(0, 0, numel % POOL_LEN)?);
            }
            Tensor::cat(&pieces, 0)?
        };
        flat.affine(std, 0.0)?.reshape(shape)
    }
}

/// The 64-bit FNV-1a hash (stable across runs and platforms).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl SimpleBackend for RandomWeights {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> Result<Tensor> {
        self.draw(&s, name, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        candle_core::bail!("random weights need a shape: `{name}` was asked for without one")
    }

    /// Every tensor exists (it is made when asked for).
    fn contains_tensor(&self, _name: &str) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_have_the_asked_shape_dtype_and_scale_and_norms_are_ones() -> Result<()> {
        let dev = Device::Cpu;
        let w = RandomWeights::new(&[&dev], &[DType::F32])?;
        let vb = w.builder(DType::BF16, &dev);
        let lin = vb.get((256, 1024), "blocks.0.attn1.to_q.weight")?;
        assert_eq!((lin.dims(), lin.dtype()), (&[256, 1024][..], DType::BF16));
        let std = lin
            .to_dtype(DType::F32)?
            .sqr()?
            .mean_all()?
            .to_scalar::<f32>()?
            .sqrt();
        assert!((std - 1.0 / 32.0).abs() < 0.002, "std {std}");
        // Same name, same values; another name, other values.
        let again = vb.get((256, 1024), "blocks.0.attn1.to_q.weight")?;
        let other = vb.get((256, 1024), "blocks.0.attn1.to_k.weight")?;
        let diff = |a: &Tensor, b: &Tensor| -> Result<f32> {
            (a.to_dtype(DType::F32)? - b.to_dtype(DType::F32)?)?
                .abs()?
                .max_all()?
                .to_scalar::<f32>()
        };
        assert_eq!(diff(&lin, &again)?, 0.0);
        assert!(diff(&lin, &other)? > 0.0);
        let norm = vb.get((8, 1, 1, 1), "decoder.norm.gamma")?;
        let bias = vb.set_dtype(DType::F32).get(8, "proj.bias")?;
        assert_eq!(
            norm.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?,
            [1.0; 8]
        );
        assert_eq!(
            (bias.to_vec1::<f32>()?, bias.dtype()),
            (vec![0.0; 8], DType::F32)
        );
        Ok(())
    }

    #[test]
    fn tensors_larger_than_the_pool_repeat_it() -> Result<()> {
        let dev = Device::Cpu;
        let w = RandomWeights::new(&[&dev], &[DType::F32])?;
        let rows = POOL_LEN / 1024 + 3;
        let big = w.draw(
            &Shape::from((rows, 1024)),
            "shared.weight",
            DType::F32,
            &dev,
        )?;
        assert_eq!(big.dims(), [rows, 1024]);
        let head = big.flatten_all()?.narrow(0, 0, 1024)?;
        let wrapped = big.flatten_all()?.narrow(0, POOL_LEN, 1024)?;
        let d: f32 = (head - wrapped)?.abs()?.max_all()?.to_scalar()?;
        assert_eq!(d, 0.0);
        Ok(())
    }
}
