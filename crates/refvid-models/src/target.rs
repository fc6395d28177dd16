//! What a `NAME` means: a catalogue entry, or a Hub repository (`org/repo`, optionally with
//! files: `org/repo:file1,file2`).

use crate::catalogue::{self, Entry};
use crate::error::ModelsError;

/// What to take from one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Include {
    /// Every file of the repository.
    All,
    /// Exactly these paths; each must exist.
    Files(Vec<String>),
    /// Catalogue patterns (paths and `folder/`s); each must match something.
    Patterns(Vec<String>),
}

/// One repository to pull from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartSpec {
    pub repo: String,
    pub revision: String,
    pub include: Include,
    /// Folder of this part inside a multi-part entry's folder (`""` otherwise).
    pub subdir: String,
}

/// A parsed `NAME` with its parts (the revision applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The name as given (the key of its manifest).
    pub name: String,
    /// The catalogue entry, when the name is one.
    pub entry: Option<&'static Entry>,
    pub parts: Vec<PartSpec>,
}

/// Parses `name`; `revision` overrides every part's revision.
pub fn parse(name: &str, revision: Option<&str>) -> Result<Target, ModelsError> {
    if let Some(entry) = catalogue::find(name) {
        let parts = entry
            .parts
            .iter()
            .map(|p| PartSpec {
                repo: p.repo.into(),
                revision: revision.unwrap_or(p.revision).into(),
                include: Include::Patterns(p.include.iter().map(|s| s.to_string()).collect()),
                subdir: p.subdir.into(),
            })
            .collect();
        return Ok(Target {
            name: name.into(),
            entry: Some(entry),
            parts,
        });
    }
    let unknown = || ModelsError::UnknownName { name: name.into() };
    let (repo, files) = match name.split_once(':') {
        Some((repo, files)) => (repo, parse_files(files).ok_or_else(unknown)?),
        None => (name, Include::All),
    };
    if !is_repo_id(repo) {
        return Err(unknown());
    }
    Ok(Target {
        name: name.into(),
        entry: None,
        parts: vec![PartSpec {
            repo: repo.into(),
            revision: revision.unwrap_or("main").into(),
            include: files,
            subdir: String::new(),
        }],
    })
}

/// `org/repo`: two non-empty segments of letters, digits, `-`, `_` and `.`.
fn is_repo_id(text: &str) -> bool {
    let segment = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(text.split_once('/'), Some((org, repo)) if segment(org) && segment(repo))
}

/// `file1,file2` (relative paths without `..`).
fn parse_files(text: &str) -> Option<Include> {
    let files: Vec<String> = text.split(',').map(|f| f.trim().to_string()).collect();
    let safe = |f: &String| {
        !f.is_empty() && !f.starts_with('/') && f.split('/').all(|s| !s.is_empty() && s != "..")
    };
    files.iter().all(safe).then_some(Include::Files(files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_come_first() {
        let target = parse("wan2.1-vace-1.3b", Some("v1")).unwrap();
        assert!(target.entry.is_some());
        assert_eq!(target.parts[0].repo, "Wan-AI/Wan2.1-VACE-1.3B-diffusers");
        assert_eq!(target.parts[0].revision, "v1");
    }

    #[test]
    fn repo_ids_with_and_without_files() {
        let all = parse("org/repo", None).unwrap();
        assert_eq!(all.parts[0].include, Include::All);
        assert_eq!(all.parts[0].revision, "main");
        let some = parse("org/repo:a.json, sub/b.bin", None).unwrap();
        assert_eq!(
            some.parts[0].include,
            Include::Files(vec!["a.json".into(), "sub/b.bin".into()])
        );
    }

    #[test]
    fn anything_else_is_refused_by_name() {
        for bad in [
            "nope",
            "a/b/c",
            "/repo",
            "org/",
            "org/repo:",
            "org/repo:../x",
            "o r/g",
        ] {
            let err = parse(bad, None).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }
}
