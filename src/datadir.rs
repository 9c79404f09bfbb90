//! A real data directory for the driver: the exclusive backup's `backup_label`, option 2's
//! temporary label files and the backup history files in `pg_wal/`, written for real.
//!
//! Every file is created durably and never replaces another: the text goes to `<name>.tmp`
//! (created new), is fsynced, then linked to its final name (a link fails if the name exists,
//! so nothing is ever overwritten, unlike a rename), the temporary name is removed and the
//! directory fsynced. A failed write leaves neither a partial file nor the temporary one.
//! Removals and renames fsync the directory too.

use crate::walfile::HistoryFileName;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The exclusive backup's label file name.
pub const BACKUP_LABEL: &str = "backup_label";
/// What crash recovery renames it to.
pub const BACKUP_LABEL_OLD: &str = "backup_label.old";
/// The prefix of option 2's temporary label files (and of every file base backups skip).
pub const TEMP_LABEL_PREFIX: &str = "pgsql_tmp.backup_label.";

/// A failed data-directory operation.
#[derive(Debug, Error)]
pub enum DataDirError {
    /// The file to create exists already.
    #[error("could not create file \"{}\": it already exists", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file to read or remove does not exist.
    #[error("could not open file \"{}\": it does not exist", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// Any other I/O error.
    #[error("could not {op} \"{}\": {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DataDirError + 'a {
    move |source| match source.kind() {
        io::ErrorKind::AlreadyExists => DataDirError::Exists {
            path: path.to_path_buf(),
        },
        io::ErrorKind::NotFound => DataDirError::Missing {
            path: path.to_path_buf(),
        },
        _ => DataDirError::Io {
            op,
            path: path.to_path_buf(),
            source,
        },
    }
}

/// A data directory on disk.
#[derive(Clone, Debug)]
pub struct DataDirectory {
    root: PathBuf,
}

impl DataDirectory {
    /// Opens (creating if needed) a data directory with its `pg_wal/` subdirectory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, DataDirError> {
        let root = root.into();
        let wal = root.join("pg_wal");
        fs::create_dir_all(&wal).map_err(io_error("create directory", &wal))?;
        Ok(DataDirectory { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `pg_wal/` directory.
    pub fn wal_dir(&self) -> PathBuf {
        self.root.join("pg_wal")
    }

    /// Creates `backup_label`; an existing one is an error.
    pub fn create_backup_label(&self, text: &str) -> Result<(), DataDirError> {
        create_new_durably(&self.root, BACKUP_LABEL, |file| {
            file.write_all(text.as_bytes())
        })
    }

    /// Reads `backup_label`, if there is one.
    pub fn read_backup_label(&self) -> Result<Option<String>, DataDirError> {
        read_if_exists(&self.root.join(BACKUP_LABEL))
    }

    /// Removes `backup_label`.
    pub fn remove_backup_label(&self) -> Result<(), DataDirError> {
        remove_durably(&self.root, BACKUP_LABEL)
    }

    /// Crash recovery: renames `backup_label` to `backup_label.old` (replacing an older one,
    /// as `durable_rename` does). Returns whether there was a label.
    pub fn rename_backup_label_old(&self) -> Result<bool, DataDirError> {
        let from = self.root.join(BACKUP_LABEL);
        if !from.exists() {
            return Ok(false);
        }
        let to = self.root.join(BACKUP_LABEL_OLD);
        fs::rename(&from, &to).map_err(io_error("rename file", &from))?;
        sync_dir(&self.root)?;
        Ok(true)
    }

    /// Creates option 2's temporary label file `name`; an existing one is an error.
    pub fn create_temp_label(&self, name: &str, text: &str) -> Result<(), DataDirError> {
        create_new_durably(&self.root, name, |file| file.write_all(text.as_bytes()))
    }

    /// Reads option 2's temporary label file `name`.
    pub fn read_temp_label(&self, name: &str) -> Result<String, DataDirError> {
        let path = self.root.join(name);
        read_if_exists(&path)?.ok_or(DataDirError::Missing { path })
    }

    /// Removes option 2's temporary label file `name`.
    pub fn remove_temp_label(&self, name: &str) -> Result<(), DataDirError> {
        remove_durably(&self.root, name)
    }

    /// Restart: removes every temporary label file. Returns how many there were.
    pub fn remove_temp_labels(&self) -> Result<usize, DataDirError> {
        let names = self.list(&self.root, TEMP_LABEL_PREFIX)?;
        for name in &names {
            remove_durably(&self.root, name)?;
        }
        Ok(names.len())
    }

    /// Creates a backup history file in `pg_wal/`; an existing one is an error.
    pub fn create_history_file(
        &self,
        name: &HistoryFileName,
        text: &str,
    ) -> Result<(), DataDirError> {
        create_new_durably(&self.wal_dir(), &name.to_string(), |file| {
            file.write_all(text.as_bytes())
        })
    }

    /// Reads a backup history file.
    pub fn read_history_file(&self, name: &HistoryFileName) -> Result<String, DataDirError> {
        let path = self.wal_dir().join(name.to_string());
        read_if_exists(&path)?.ok_or(DataDirError::Missing { path })
    }

    /// The names in the data directory's root that start with `prefix`, sorted.
    pub fn list(&self, dir: &Path, prefix: &str) -> Result<Vec<String>, DataDirError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_error("read directory", dir))? {
            let entry = entry.map_err(io_error("read directory", dir))?;
            if let Some(name) = entry.file_name().to_str() {
                if name.starts_with(prefix) && !name.ends_with(".tmp") {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }
}

fn read_if_exists(path: &Path) -> Result<Option<String>, DataDirError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error("read file", path)(err)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), DataDirError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync directory", dir))
}

fn remove_durably(dir: &Path, name: &str) -> Result<(), DataDirError> {
    let path = dir.join(name);
    fs::remove_file(&path).map_err(io_error("remove file", &path))?;
    sync_dir(dir)
}

/// Creates `dir/name` with what `write` writes, durably and without ever replacing a file.
fn create_new_durably(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), DataDirError> {
    let path = dir.join(name);
    if path.exists() {
        return Err(DataDirError::Exists { path });
    }
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_error("create file", &tmp))?;
    let written = write(&mut file).and_then(|()| file.sync_all());
    drop(file);
    let linked = written
        .map_err(io_error("write file", &tmp))
        .and_then(|()| fs::hard_link(&tmp, &path).map_err(io_error("create file", &path)));
    let removed = fs::remove_file(&tmp).map_err(io_error("remove file", &tmp));
    linked?;
    removed?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_created_once_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDirectory::open(dir.path()).unwrap();
        data.create_backup_label("first\n").unwrap();
        let again = data.create_backup_label("second\n");
        assert!(
            matches!(again, Err(DataDirError::Exists { .. })),
            "{again:?}"
        );
        assert_eq!(
            data.read_backup_label().unwrap().as_deref(),
            Some("first\n")
        );
        assert!(!dir.path().join("backup_label.tmp").exists());
    }

    #[test]
    fn failed_write_leaves_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let failing = create_new_durably(dir.path(), "history", |file| {
            file.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(
            matches!(
                failing,
                Err(DataDirError::Io {
                    op: "write file",
                    ..
                })
            ),
            "{failing:?}"
        );
        assert!(!dir.path().join("history").exists());
        assert!(!dir.path().join("history.tmp").exists());
    }

    #[test]
    fn crash_recovery_renames_the_label_and_clears_temporary_labels() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDirectory::open(dir.path()).unwrap();
        data.create_backup_label("label\n").unwrap();
        data.create_temp_label(
            "pgsql_tmp.backup_label.000000010000000000000002.00000028",
            "x\n",
        )
        .unwrap();
        assert!(data.rename_backup_label_old().unwrap());
        assert_eq!(data.read_backup_label().unwrap(), None);
        assert_eq!(
            fs::read_to_string(dir.path().join(BACKUP_LABEL_OLD)).unwrap(),
            "label\n"
        );
        assert_eq!(data.remove_temp_labels().unwrap(), 1);
        assert_eq!(
            data.list(data.root(), TEMP_LABEL_PREFIX).unwrap(),
            Vec::<String>::new()
        );
        assert!(!data.rename_backup_label_old().unwrap());
    }

    #[test]
    fn reading_a_missing_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDirectory::open(dir.path()).unwrap();
        assert!(matches!(
            data.read_temp_label("nope"),
            Err(DataDirError::Missing { .. })
        ));
        assert!(matches!(
            data.remove_backup_label(),
            Err(DataDirError::Missing { .. })
        ));
    }
}
