//! What can go wrong finding, pulling and resolving models; every message says what to do.

use std::path::PathBuf;

/// Errors of the catalogue, the Hub client and the models directory.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    /// The name is neither in the catalogue nor a repository id.
    #[error(
        "unknown model {name:?}: not a catalogue name (see `refvid models list`) nor a Hub \
         repository id (`org/repo`, optionally with files: `org/repo:file1,file2`)"
    )]
    UnknownName { name: String },
    /// 401 or 403 from the Hub.
    #[error(
        "the Hub refused access to {repo} (HTTP {status}): set HF_TOKEN to a token that can read \
         it (a gated model also needs its licence accepted on the Hub first)"
    )]
    Unauthorized { repo: String, status: u16 },
    /// 404 for the repository (or a revision of it).
    #[error(
        "{repo} at revision {revision:?} was not found on the Hub at {endpoint} (check the name, the revision and HF_ENDPOINT)"
    )]
    RepoNotFound {
        repo: String,
        revision: String,
        endpoint: String,
    },
    /// A file asked for is not in the repository.
    #[error("{repo} has no file {file:?} at revision {revision:?}")]
    FileNotFound {
        repo: String,
        file: String,
        revision: String,
    },
    /// A catalogue pattern matched nothing (the repository changed under the catalogue).
    #[error("{repo} has no file matching {pattern:?} any more; the catalogue entry needs updating")]
    NothingMatches { repo: String, pattern: String },
    /// Checked before downloading: the files do not fit.
    #[error(
        "not enough disk space under {}: the pull needs {} more, {} is free",
        dir.display(), human(*needed), human(*available)
    )]
    NoSpace {
        dir: PathBuf,
        needed: u64,
        available: u64,
    },
    /// The disk filled up while writing.
    #[error(
        "the disk under {} filled up while downloading {file}; free some space and run the same \
         pull again (it resumes)", dir.display()
    )]
    DiskFilledUp { dir: PathBuf, file: String },
    /// The connection broke or the Hub failed mid-download.
    #[error(
        "downloading {file} from {repo} was interrupted ({detail}); run the same pull again: it \
         resumes where it stopped"
    )]
    Interrupted {
        repo: String,
        file: String,
        detail: String,
    },
    /// A freshly downloaded file does not hash to what the Hub says.
    #[error(
        "{file} from {repo} does not match the Hub's checksum even after a fresh download \
         ({algorithm} {actual}, expected {expected}); a proxy or mirror may be serving other bytes"
    )]
    Corrupt {
        repo: String,
        file: String,
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
    /// Another process holds the download lock of this file.
    #[error("another pull is downloading {file} from {repo} right now; wait for it or stop it")]
    Busy { repo: String, file: String },
    /// The Hub's answer could not be understood.
    #[error("the Hub's answer for {repo} could not be understood: {detail}")]
    Protocol { repo: String, detail: String },
    /// Reading or writing the models directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `--model NAME` names something that has not been pulled.
    #[error("{name} is not pulled into {}: run `refvid models pull {name}` first", dir.display())]
    NotPulled { name: String, dir: PathBuf },
    /// A single file (`--lora NAME`) was asked of a name pulled with several.
    #[error("{name} holds {count} files, not one: give the file's path instead")]
    NotOneFile { name: String, count: usize },
}

impl ModelsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// A byte count for people: `1.5 GiB`, `300 MiB`, `12 KiB`, `7 B`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(super::human(7), "7 B");
        assert_eq!(super::human(1536), "1.5 KiB");
        assert_eq!(super::human(3 << 30), "3.0 GiB");
    }
}
