//! Owns the checks that every place a command will write (`--json`, `--jsonl`, `--out`) can
//! be written, made before the run starts, so that a run of hours never ends with its
//! findings lost to a path it could not use. Each check creates nothing the user would see:
//! it probes the nearest existing directory with a temporary file that is removed at once.

use std::path::{Path, PathBuf};

/// Why a destination cannot be used, as one line naming the flag.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// `-` (standard output) given where a file is needed.
    #[error(
        "{flag} -: the report is written to a file; give a path (the summary is on stdout already)"
    )]
    Stdout {
        /// The flag.
        flag: &'static str,
    },
    /// A path that names a directory where a file is needed.
    #[error("{flag} {path}: is a directory; give a file path")]
    IsDirectory {
        /// The flag.
        flag: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A path that exists and is not a regular file (a device, a socket).
    #[error("{flag} {path}: not a regular file")]
    NotRegular {
        /// The flag.
        flag: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A path one of whose ancestors exists and is not a directory.
    #[error("{flag} {path}: {ancestor} is not a directory")]
    AncestorNotDirectory {
        /// The flag.
        flag: &'static str,
        /// The path.
        path: PathBuf,
        /// The ancestor in the way.
        ancestor: PathBuf,
    },
    /// The directory that would hold the output cannot be written.
    #[error("{flag} {path}: cannot write in {dir}: {source}")]
    NotWritable {
        /// The flag.
        flag: &'static str,
        /// The path.
        path: PathBuf,
        /// The directory probed.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Checks that `path` can be written as a file (its missing parent directories created): it
/// is not `-`, not a directory or special file, and its nearest existing ancestor is a
/// writable directory.
pub fn check_file(flag: &'static str, path: &Path) -> Result<(), OutputError> {
    if path.as_os_str() == "-" {
        return Err(OutputError::Stdout { flag });
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(OutputError::IsDirectory {
                flag,
                path: path.to_path_buf(),
            })
        }
        Ok(meta) if !meta.is_file() => {
            return Err(OutputError::NotRegular {
                flag,
                path: path.to_path_buf(),
            })
        }
        _ => {}
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    check_writable_dir(flag, path, parent)
}

/// Checks that `path` can be used as a directory to save files in (created if missing): it is
/// not `-`, it is a directory if it exists, and its nearest existing ancestor is a writable
/// directory.
pub fn check_dir(flag: &'static str, path: &Path) -> Result<(), OutputError> {
    if path.as_os_str() == "-" {
        return Err(OutputError::Stdout { flag });
    }
    check_writable_dir(flag, path, path)
}

/// `dir` (or, where it does not exist, its nearest existing ancestor) is a directory a file
/// can be created in.
fn check_writable_dir(flag: &'static str, path: &Path, dir: &Path) -> Result<(), OutputError> {
    let mut at = dir.to_path_buf();
    loop {
        match std::fs::metadata(&at) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => {
                return Err(OutputError::AncestorNotDirectory {
                    flag,
                    path: path.to_path_buf(),
                    ancestor: at,
                })
            }
            Err(_) => match at.parent() {
                Some(p) if !p.as_os_str().is_empty() => at = p.to_path_buf(),
                _ => {
                    at = PathBuf::from(".");
                    break;
                }
            },
        }
    }
    tempfile::Builder::new()
        .prefix(".backup-check-probe")
        .tempfile_in(&at)
        .map(drop)
        .map_err(|source| OutputError::NotWritable {
            flag,
            path: path.to_path_buf(),
            dir: at,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_destinations_are_refused_before_anything_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(check_file("--json", Path::new("-")).is_err());
        assert!(check_dir("--out", Path::new("-")).is_err());
        assert!(matches!(
            check_file("--json", tmp.path()),
            Err(OutputError::IsDirectory { .. })
        ));
        assert!(matches!(
            check_dir("--out", &file.join("sub")),
            Err(OutputError::AncestorNotDirectory { .. })
        ));
        assert!(matches!(
            check_file("--json", &file.join("r.json")),
            Err(OutputError::AncestorNotDirectory { .. })
        ));
        assert!(matches!(
            check_dir("--out", &file),
            Err(OutputError::AncestorNotDirectory { .. })
        ));
        assert!(matches!(
            check_file("--json", Path::new("/dev/null")),
            Err(OutputError::NotRegular { .. })
        ));
        // Usable: a new file in new directories, an existing file, an existing directory.
        check_file("--json", &tmp.path().join("a/b/r.json")).unwrap();
        check_file("--json", &file).unwrap();
        check_dir("--out", &tmp.path().join("a/b")).unwrap();
        check_dir("--out", tmp.path()).unwrap();
        // Nothing was left behind by the probes.
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(left.len(), 1);
    }
}
