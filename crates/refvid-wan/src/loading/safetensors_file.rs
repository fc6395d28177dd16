//! [`SafetensorsFile`]: a `.safetensors` file read tensor by tensor with positioned reads into
//! owned buffers, without a memory map.
//!
//! Why not a map (candle's `MmapedSafetensors`): every page of a mapped file that a load touches
//! counts in the process's resident memory for as long as the map lives, so loading a checkpoint
//! kept the whole file resident beside the tensors made from it — 2× the weights (16.1 GiB for
//! VACE-1.3B's 8.6 GB of f32), 3× when converting f32 files to bf16. Here each tensor is read
//! straight into a buffer of its file dtype (one `pread`, no intermediate byte copy), which
//! becomes the tensor; converting to the compute dtype then costs one transient copy of that one
//! tensor. What the reads bring into the page cache is the kernel's to reclaim and never counts
//! in the process's RSS. Only the header (names, dtypes, shapes, offsets) stays in memory.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, WithDType};

/// One tensor's place in the file.
#[derive(Debug, Clone)]
struct Entry {
    dtype: DType,
    shape: Vec<usize>,
    /// Absolute byte offset of the data in the file.
    start: u64,
    len: usize,
}

/// A safetensors file opened for positioned reads (see the module docs).
pub struct SafetensorsFile {
    path: PathBuf,
    file: File,
    entries: HashMap<String, Entry>,
}

/// The header of one tensor as safetensors writes it.
#[derive(serde::Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

fn dtype_of(name: &str) -> Option<DType> {
    Some(match name {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        "I64" => DType::I64,
        "I32" => DType::I32,
        "I16" => DType::I16,
        "U32" => DType::U32,
        "U8" => DType::U8,
        _ => return None,
    })
}

fn bad(path: &Path, msg: impl Into<String>) -> candle_core::Error {
    candle_core::Error::Msg(format!("{}: {}", path.display(), msg.into()))
}

impl SafetensorsFile {
    /// Opens a file and reads its header (checked: known dtypes, sizes that match the shapes,
    /// data inside the file).
    pub fn open(path: &Path) -> candle_core::Result<Self> {
        let file = File::open(path).map_err(|e| bad(path, e.to_string()))?;
        let file_len = file.metadata().map_err(|e| bad(path, e.to_string()))?.len();
        let mut len_bytes = [0u8; 8];
        read_at(&file, &mut len_bytes, 0).map_err(|e| bad(path, format!("header: {e}")))?;
        let header_len = u64::from_le_bytes(len_bytes);
        if header_len > 100 << 20 || 8 + header_len > file_len {
            return Err(bad(path, format!("header of {header_len} bytes")));
        }
        let mut header = vec![0u8; header_len as usize];
        read_at(&file, &mut header, 8).map_err(|e| bad(path, format!("header: {e}")))?;
        let raw: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| bad(path, format!("header: {e}")))?;
        let data_start = 8 + header_len;
        let mut entries = HashMap::with_capacity(raw.len());
        for (name, value) in raw {
            if name == "__metadata__" {
                continue;
            }
            let e: RawEntry = serde_json::from_value(value)
                .map_err(|e| bad(path, format!("tensor {name}: {e}")))?;
            let dtype = dtype_of(&e.dtype).ok_or_else(|| {
                bad(
                    path,
                    format!("tensor {name}: dtype {} unsupported", e.dtype),
                )
            })?;
            let (begin, end) = e.data_offsets;
            let numel: usize = e.shape.iter().product();
            let len = numel * dtype.size_in_bytes();
            if end < begin || (end - begin) as usize != len || data_start + end > file_len {
                return Err(bad(
                    path,
                    format!("tensor {name}: offsets {begin}..{end} do not fit {numel} values"),
                ));
            }
            let entry = Entry {
                dtype,
                shape: e.shape,
                start: data_start + begin,
                len,
            };
            entries.insert(name, entry);
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            entries,
        })
    }

    /// Every tensor's name and shape.
    pub fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.entries
            .iter()
            .map(|(n, e)| (n.clone(), e.shape.clone()))
            .collect()
    }

    /// Reads one tensor, in the file's dtype, onto `dev` (through one host buffer of its size).
    pub fn load(&self, name: &str, dev: &Device) -> candle_core::Result<Tensor> {
        let e = self
            .entries
            .get(name)
            .ok_or_else(|| candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            })?;
        let host = match e.dtype {
            DType::F32 => self.read::<f32>(e),
            DType::F16 => self.read::<half::f16>(e),
            DType::BF16 => self.read::<half::bf16>(e),
            DType::F64 => self.read::<f64>(e),
            DType::I64 => self.read::<i64>(e),
            DType::I32 => self.read::<i32>(e),
            DType::I16 => self.read::<i16>(e),
            DType::U32 => self.read::<u32>(e),
            DType::U8 => self.read::<u8>(e),
            other => Err(bad(&self.path, format!("{name}: dtype {other:?}"))),
        }?;
        host.to_device(dev)
    }

    /// The tensor of `e`, read straight into a vector of its element type.
    fn read<T: WithDType>(&self, e: &Entry) -> candle_core::Result<Tensor> {
        let numel = e.len / std::mem::size_of::<T>();
        let mut values = vec![T::from_f64(0.0); numel];
        // SAFETY: `values` owns `e.len` initialised bytes; every element type read here (floats
        // and integers) is valid for any bit pattern. Safetensors data is little-endian, as is
        // every target this crate builds for (checked below).
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), e.len) };
        read_at(&self.file, bytes, e.start)
            .map_err(|err| bad(&self.path, format!("reading {} bytes: {err}", e.len)))?;
        Tensor::from_vec(values, e.shape.as_slice(), &Device::Cpu)
    }
}

#[cfg(not(target_endian = "little"))]
compile_error!("safetensors data is little-endian; SafetensorsFile reads it as native values");

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = file.seek_read(buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_read_back_as_saved_in_every_dtype() -> candle_core::Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let a = Tensor::new(&[[1.5f32, -2.0, 3.25], [0.0, 7.0, -0.5]], &Device::Cpu)?;
        let tensors = HashMap::from([
            ("a".to_string(), a.clone()),
            ("b".to_string(), a.to_dtype(DType::BF16)?),
            ("c".to_string(), a.to_dtype(DType::F16)?),
            ("d".to_string(), Tensor::new(&[3i64, -4], &Device::Cpu)?),
            (
                "e".to_string(),
                Tensor::zeros((0, 4), DType::F32, &Device::Cpu)?,
            ),
        ]);
        candle_core::safetensors::save(&tensors, &path)?;
        let f = SafetensorsFile::open(&path)?;
        assert_eq!(f.shapes().len(), 5);
        for (name, want) in &tensors {
            let got = f.load(name, &Device::Cpu)?;
            assert_eq!(got.dtype(), want.dtype(), "{name}");
            assert_eq!(got.dims(), want.dims(), "{name}");
            let (g, w) = (got.to_dtype(DType::F64)?, want.to_dtype(DType::F64)?);
            assert_eq!(
                g.flatten_all()?.to_vec1::<f64>()?,
                w.flatten_all()?.to_vec1::<f64>()?,
                "{name}"
            );
        }
        let e = f.load("nope", &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        Ok(())
    }

    #[test]
    fn truncated_and_inconsistent_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let t = Tensor::new(&[1f32, 2., 3., 4.], &Device::Cpu).unwrap();
        candle_core::safetensors::save(&HashMap::from([("t".to_string(), t)]), &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let e = SafetensorsFile::open(&path).err().unwrap().to_string();
        assert!(e.contains("tensor t"), "{e}");
        std::fs::write(&path, [0u8; 4]).unwrap();
        assert!(SafetensorsFile::open(&path).is_err());
    }
}
