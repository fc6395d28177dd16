//! Where and in which precision a model runs: [`Precision`] (`f32`, `bf16`, `f16`) and
//! [`DeviceKind`] (`cpu`, `cuda`, `cuda:N`), as the command line spells them. Shared by the
//! engines, the parity command and the benchmarks.

use std::str::FromStr;

use candle_core::{DType, Device};

use crate::error::{Result, WanError};

/// The compute dtype (`--dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Precision {
    /// The candle dtype.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
            Precision::F16 => DType::F16,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        })
    }
}

impl FromStr for Precision {
    type Err = WanError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match crate::loading::parse_dtype(s)? {
            DType::BF16 => Precision::Bf16,
            DType::F16 => Precision::F16,
            _ => Precision::F32,
        })
    }
}

/// The device (`--device`): `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceKind {
    #[default]
    Cpu,
    Cuda(usize),
}

/// Whether this build has the CUDA kernels (the `cuda` feature).
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

impl DeviceKind {
    /// The device if this build can use it; a CUDA device in a build without the `cuda`
    /// feature is refused, saying how to get one.
    pub fn available(self) -> Result<Self> {
        match self {
            DeviceKind::Cuda(_) if !CUDA_BUILT => Err(WanError::Input(format!(
                "device {self}: this refvid was built without CUDA; build it with \
                 `--features cuda` (README \"Building with CUDA\") or use --device cpu"
            ))),
            _ => Ok(self),
        }
    }

    /// Parses a device name (`cpu`, `cuda`, `cuda:N`) that this build can use: the value
    /// parser of every `--device` option, so a CPU-only binary refuses `cuda` up front.
    pub fn parse_available(s: &str) -> Result<Self> {
        s.parse::<Self>()?.available()
    }

    /// Opens the device: `cuda:N` is the CUDA device of ordinal N (refused without the `cuda`
    /// feature, see [`DeviceKind::available`]).
    pub fn open(self) -> Result<Device> {
        match self.available()? {
            DeviceKind::Cpu => Ok(Device::Cpu),
            DeviceKind::Cuda(i) => Ok(Device::new_cuda(i)?),
        }
    }
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceKind::Cpu => f.write_str("cpu"),
            DeviceKind::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl FromStr for DeviceKind {
    type Err = WanError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(DeviceKind::Cpu),
            "cuda" => Ok(DeviceKind::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceKind::Cuda)
                .ok_or_else(|| {
                    WanError::Input(format!(
                        "unknown device `{s}` (expected cpu, cuda or cuda:N)"
                    ))
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::Bf16);
        assert_eq!("float16".parse::<Precision>().unwrap(), Precision::F16);
        assert!("f64".parse::<Precision>().is_err());
        assert_eq!("cuda:1".parse::<DeviceKind>().unwrap(), DeviceKind::Cuda(1));
        assert_eq!("cpu".parse::<DeviceKind>().unwrap(), DeviceKind::Cpu);
        assert!("gpu".parse::<DeviceKind>().is_err());
        for p in [Precision::F32, Precision::Bf16, Precision::F16] {
            assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
        }
        assert_eq!(DeviceKind::Cuda(2).to_string(), "cuda:2");
        assert_eq!("cuda".parse::<DeviceKind>().unwrap(), DeviceKind::Cuda(0));
        assert_eq!(
            "cuda:12".parse::<DeviceKind>().unwrap(),
            DeviceKind::Cuda(12)
        );
        for bad in ["cuda:", "cuda:-1", "cuda:x", "cuda0", "CPU"] {
            assert!(bad.parse::<DeviceKind>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cuda_needs_the_feature() {
        assert_eq!(DeviceKind::parse_available("cpu").unwrap(), DeviceKind::Cpu);
        assert!(DeviceKind::Cpu.open().is_ok());
        let parsed = DeviceKind::parse_available("cuda:1");
        if CUDA_BUILT {
            assert_eq!(parsed.unwrap(), DeviceKind::Cuda(1));
        } else {
            let msg = parsed.unwrap_err().to_string();
            assert!(
                msg.contains("cuda:1") && msg.contains("--features cuda"),
                "{msg}"
            );
            let msg = DeviceKind::Cuda(0).open().unwrap_err().to_string();
            assert!(msg.contains("built without CUDA"), "{msg}");
        }
    }
}
