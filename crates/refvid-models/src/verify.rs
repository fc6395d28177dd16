//! Checking a file on disk against what the Hub says it is: the LFS sha256 for large files, the
//! git blob id (sha1 of `blob <len>\0<bytes>`) for files kept in git, the size for both.

use crate::hub::RemoteFile;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// How a file on disk compares with the Hub's description of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Same size and checksum.
    Good,
    /// Not there (or a dangling link).
    Missing,
    /// There, but different.
    Bad {
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
}

/// Compares `path` with `remote`, reading the whole file when its size is right.
pub fn check(path: &Path, remote: &RemoteFile) -> std::io::Result<Check> {
    let len = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Check::Missing),
        Err(e) => return Err(e),
    };
    if len != remote.size {
        return Ok(Check::Bad {
            algorithm: "size",
            expected: remote.size.to_string(),
            actual: len.to_string(),
        });
    }
    let (algorithm, expected, actual) = match (&remote.sha256, &remote.git_oid) {
        (Some(sha), _) => ("sha256", sha.clone(), sha256_of(path)?),
        (None, Some(oid)) => ("git blob sha1", oid.clone(), git_blob_sha1_of(path, len)?),
        (None, None) => return Ok(Check::Good),
    };
    Ok(if actual.eq_ignore_ascii_case(&expected) {
        Check::Good
    } else {
        Check::Bad {
            algorithm,
            expected,
            actual,
        }
    })
}

/// The sha256 of a file, hex.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    feed(path, |chunk| hasher.update(chunk))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Git's object id of a file of `len` bytes, hex.
fn git_blob_sha1_of(path: &Path, len: u64) -> std::io::Result<String> {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {len}\0").as_bytes());
    feed(path, |chunk| hasher.update(chunk))?;
    Ok(hex::encode(hasher.finalize()))
}

fn feed(path: &Path, mut take: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        take(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(size: u64, sha256: Option<&str>, git_oid: Option<&str>) -> RemoteFile {
        RemoteFile {
            path: "f".into(),
            size,
            sha256: sha256.map(str::to_string),
            git_oid: git_oid.map(str::to_string),
        }
    }

    #[test]
    fn git_and_lfs_checksums_match_known_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello\n").unwrap();
        // `git hash-object` and `sha256sum` of "hello\n".
        let oid = "ce013625030ba8dba906f756967f9e9ca394464a";
        let sha = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        assert_eq!(
            check(&path, &remote(6, None, Some(oid))).unwrap(),
            Check::Good
        );
        assert_eq!(
            check(&path, &remote(6, Some(sha), None)).unwrap(),
            Check::Good
        );
        let wrong = check(&path, &remote(6, Some(&"0".repeat(64)), None)).unwrap();
        assert!(
            matches!(
                wrong,
                Check::Bad {
                    algorithm: "sha256",
                    ..
                }
            ),
            "{wrong:?}"
        );
        let short = check(&path, &remote(7, Some(sha), None)).unwrap();
        assert!(matches!(
            short,
            Check::Bad {
                algorithm: "size",
                ..
            }
        ));
        let gone = check(&dir.path().join("none"), &remote(6, None, None)).unwrap();
        assert_eq!(gone, Check::Missing);
    }
}
