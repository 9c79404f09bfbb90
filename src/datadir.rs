//! A real data directory for the driver: the exclusive backup's `backup_label`, option 2's
//! temporary label files and the backup history files in `pg_wal/`, written for real, made
//! exactly as durable as the design under test says ([`FileSync`], from the core's rules).
//!
//! A file is never replaced: its text goes to `<name>.tmp` (created new), which is fsynced
//! where the design fsyncs, then linked to its final name (a link fails if the name exists,
//! unlike a rename), the temporary name is removed, and the directory is fsynced where the
//! design makes names durable. A failed write leaves neither a partial file nor the temporary
//! one. A removal fsyncs its directory where the design's removal is durable.
//!
//! Every operation goes through one seam, [`FileSystem`]: [`RealFileSystem`] is `std::fs`;
//! [`PowerLossFileSystem`] keeps the files in memory with what is durable and what is not
//! (POSIX: a file's content is durable after its fsync, a name after an fsync of its
//! directory) and can lose power, so tests can hold this layer to the core's account of which
//! steps make which files durable.

use crate::variant::FileSync;
use crate::walfile::{HistoryFileName, HISTORY_FILE_SUFFIX};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
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

/// The file-system calls the data directory makes, one method per system call.
pub trait FileSystem: Send + Sync + std::fmt::Debug {
    /// Creates a new file (fails if it exists) holding `bytes` (`open(O_CREAT|O_EXCL)`,
    /// `write`), without any fsync.
    fn create_new(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// `fsync` of a file's content.
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// `fsync` of a directory: its entries as they are now become durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// `link`: a second name for a file; fails if `to` exists.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// `rename`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// `unlink`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// The whole file as text; `NotFound` if it does not exist.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Whether a name exists.
    fn exists(&self, path: &Path) -> bool;
    /// The names in a directory.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// `mkdir -p`.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
}

/// `std::fs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFileSystem;

impl FileSystem for RealFileSystem {
    fn create_new(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        file.write_all(bytes)
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        OpenOptions::new().write(true).open(path)?.sync_all()
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn read(&self, path: &Path) -> io::Result<String> {
        fs::read_to_string(path)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }
}

/// An in-memory file system that can lose power: a file's content survives only once it was
/// fsynced, a name (created, linked, renamed or removed) only once its directory was fsynced.
#[derive(Debug, Default)]
pub struct PowerLossFileSystem {
    state: Mutex<PowerLossState>,
}

#[derive(Debug, Default)]
struct PowerLossState {
    /// Inode contents: (current bytes, bytes as of the last fsync of the file).
    inodes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Directory entries as they are: path -> inode.
    names: BTreeMap<PathBuf, usize>,
    /// Directory entries as of each directory's last fsync.
    durable_names: BTreeMap<PathBuf, BTreeMap<PathBuf, usize>>,
    /// Directories.
    dirs: Vec<PathBuf>,
}

impl PowerLossFileSystem {
    /// An empty file system.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn with<T>(&self, f: impl FnOnce(&mut PowerLossState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The power fails: every directory's entries become what its last fsync saw, and every
    /// file whose content was never fsynced comes back empty.
    pub fn lose_power(&self) {
        self.with(|st| {
            let mut names = BTreeMap::new();
            for dir in st.dirs.clone() {
                if let Some(entries) = st.durable_names.get(&dir) {
                    names.extend(entries.iter().map(|(p, i)| (p.clone(), *i)));
                }
            }
            st.names = names;
            for inode in &mut st.inodes {
                inode.0 = inode.1.clone().unwrap_or_default();
            }
        });
    }

    fn not_found(path: &Path) -> io::Error {
        io::Error::new(io::ErrorKind::NotFound, path.display().to_string())
    }
}

impl FileSystem for PowerLossFileSystem {
    fn create_new(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.with(|st| {
            if st.names.contains_key(path) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    path.display().to_string(),
                ));
            }
            st.inodes.push((bytes.to_vec(), None));
            st.names.insert(path.to_path_buf(), st.inodes.len() - 1);
            Ok(())
        })
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        self.with(|st| {
            let inode = *st.names.get(path).ok_or_else(|| Self::not_found(path))?;
            st.inodes[inode].1 = Some(st.inodes[inode].0.clone());
            Ok(())
        })
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.with(|st| {
            let entries = st
                .names
                .iter()
                .filter(|(p, _)| p.parent() == Some(dir))
                .map(|(p, i)| (p.clone(), *i))
                .collect();
            st.durable_names.insert(dir.to_path_buf(), entries);
            Ok(())
        })
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.with(|st| {
            let inode = *st.names.get(from).ok_or_else(|| Self::not_found(from))?;
            if st.names.contains_key(to) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    to.display().to_string(),
                ));
            }
            st.names.insert(to.to_path_buf(), inode);
            Ok(())
        })
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.with(|st| {
            let inode = st.names.remove(from).ok_or_else(|| Self::not_found(from))?;
            st.names.insert(to.to_path_buf(), inode);
            Ok(())
        })
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.with(|st| {
            st.names
                .remove(path)
                .map(|_| ())
                .ok_or_else(|| Self::not_found(path))
        })
    }
    fn read(&self, path: &Path) -> io::Result<String> {
        self.with(|st| {
            let inode = *st.names.get(path).ok_or_else(|| Self::not_found(path))?;
            String::from_utf8(st.inodes[inode].0.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        })
    }
    fn exists(&self, path: &Path) -> bool {
        self.with(|st| st.names.contains_key(path))
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.with(|st| {
            Ok(st
                .names
                .keys()
                .filter(|p| p.parent() == Some(dir))
                .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
                .collect())
        })
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.with(|st| {
            for ancestor in dir.ancestors() {
                if !st.dirs.iter().any(|d| d == ancestor) {
                    st.dirs.push(ancestor.to_path_buf());
                }
            }
            Ok(())
        })
    }
}

/// A data directory.
#[derive(Clone, Debug)]
pub struct DataDirectory {
    root: PathBuf,
    fs: Arc<dyn FileSystem>,
}

impl DataDirectory {
    /// Opens (creating if needed) a data directory on disk with its `pg_wal/` subdirectory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, DataDirError> {
        Self::open_on(root, Arc::new(RealFileSystem))
    }

    /// The same on another file system.
    pub fn open_on(
        root: impl Into<PathBuf>,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Self, DataDirError> {
        let root = root.into();
        let wal = root.join("pg_wal");
        fs.create_dir_all(&wal)
            .map_err(io_error("create directory", &wal))?;
        Ok(DataDirectory { root, fs })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `pg_wal/` directory.
    pub fn wal_dir(&self) -> PathBuf {
        self.root.join("pg_wal")
    }

    /// Creates `backup_label`, as durable as `sync` says; an existing one is an error.
    pub fn create_backup_label(&self, text: &str, sync: FileSync) -> Result<(), DataDirError> {
        self.create_new(&self.root, BACKUP_LABEL, text, sync)
    }

    /// Reads `backup_label`, if there is one.
    pub fn read_backup_label(&self) -> Result<Option<String>, DataDirError> {
        self.read_if_exists(&self.root.join(BACKUP_LABEL))
    }

    /// Removes `backup_label`; `durable`: then fsyncs the data directory (`durable_unlink`).
    pub fn remove_backup_label(&self, durable: bool) -> Result<(), DataDirError> {
        self.remove(&self.root, BACKUP_LABEL, durable)
    }

    /// Crash recovery: renames `backup_label` to `backup_label.old` (replacing an older one)
    /// and fsyncs the directory, as `durable_rename` does. Returns whether there was a label.
    pub fn rename_backup_label_old(&self) -> Result<bool, DataDirError> {
        let from = self.root.join(BACKUP_LABEL);
        if !self.fs.exists(&from) {
            return Ok(false);
        }
        let to = self.root.join(BACKUP_LABEL_OLD);
        self.fs
            .rename(&from, &to)
            .map_err(io_error("rename file", &from))?;
        self.sync_dir(&self.root)?;
        Ok(true)
    }

    /// Creates option 2's temporary label file `name`; an existing one is an error.
    pub fn create_temp_label(
        &self,
        name: &str,
        text: &str,
        sync: FileSync,
    ) -> Result<(), DataDirError> {
        self.create_new(&self.root, name, text, sync)
    }

    /// Reads option 2's temporary label file `name`.
    pub fn read_temp_label(&self, name: &str) -> Result<String, DataDirError> {
        let path = self.root.join(name);
        self.read_if_exists(&path)?
            .ok_or(DataDirError::Missing { path })
    }

    /// Removes option 2's temporary label file `name` (durably).
    pub fn remove_temp_label(&self, name: &str) -> Result<(), DataDirError> {
        self.remove(&self.root, name, true)
    }

    /// Restart: removes every temporary label file. Returns how many there were.
    pub fn remove_temp_labels(&self) -> Result<usize, DataDirError> {
        let names = self.list(&self.root, TEMP_LABEL_PREFIX)?;
        for name in &names {
            self.remove(&self.root, name, true)?;
        }
        Ok(names.len())
    }

    /// Creates a backup history file in `pg_wal/`, as durable as `sync` says; an existing one
    /// is an error.
    pub fn create_history_file(
        &self,
        name: &HistoryFileName,
        text: &str,
        sync: FileSync,
    ) -> Result<(), DataDirError> {
        self.create_new(&self.wal_dir(), &name.to_string(), text, sync)
    }

    /// Reads a backup history file.
    pub fn read_history_file(&self, name: &HistoryFileName) -> Result<String, DataDirError> {
        let path = self.wal_dir().join(name.to_string());
        self.read_if_exists(&path)?
            .ok_or(DataDirError::Missing { path })
    }

    /// The backup history files in `pg_wal/`, by name (sorted).
    pub fn history_file_names(&self) -> Result<Vec<String>, DataDirError> {
        let mut names = self.list(&self.wal_dir(), "")?;
        names.retain(|name| name.ends_with(HISTORY_FILE_SUFFIX));
        Ok(names)
    }

    /// `pg_wal/archive_status/`.
    pub fn archive_status_dir(&self) -> PathBuf {
        self.wal_dir().join("archive_status")
    }

    /// The archiver's bookkeeping once `archive_command` succeeded for every history file
    /// marked ready: each `<name>.ready` becomes `<name>.done`. Returns their names.
    pub fn mark_history_files_archived(&self) -> Result<Vec<String>, DataDirError> {
        let status = self.archive_status_dir();
        let mut archived = Vec::new();
        if !self.fs.exists(&status) {
            return Ok(archived);
        }
        for name in self.history_file_names()? {
            let ready = status.join(format!("{name}.ready"));
            if self.fs.exists(&ready) {
                let done = status.join(format!("{name}.done"));
                self.fs
                    .rename(&ready, &done)
                    .map_err(io_error("rename file", &ready))?;
                archived.push(name);
            }
        }
        Ok(archived)
    }

    /// `CleanupBackupHistory`, run by every stop after it wrote its history file: removes
    /// each history file in `pg_wal/` whose archiving is done (`<name>.done`), or every one
    /// when `archiving` is off, with its status files (`XLogArchiveCleanup`); a file that has
    /// no status file yet is marked ready for the archiver (`XLogArchiveNotify`) and kept.
    /// The removals are not made durable (PostgreSQL does not fsync `pg_wal/` here). Returns
    /// the names removed.
    pub fn cleanup_backup_history(&self, archiving: bool) -> Result<Vec<String>, DataDirError> {
        let wal = self.wal_dir();
        let status = self.archive_status_dir();
        let mut removed = Vec::new();
        for name in self.history_file_names()? {
            let done = status.join(format!("{name}.done"));
            let ready = status.join(format!("{name}.ready"));
            if !archiving || self.fs.exists(&done) {
                self.remove(&wal, &name, false)?;
                for flag in [&done, &ready] {
                    if self.fs.exists(flag) {
                        self.fs
                            .remove(flag)
                            .map_err(io_error("remove file", flag))?;
                    }
                }
                removed.push(name);
            } else if !self.fs.exists(&ready) {
                self.fs
                    .create_dir_all(&status)
                    .map_err(io_error("create directory", &status))?;
                self.create_new(&status, &format!("{name}.ready"), "", FileSync::None)?;
            }
        }
        Ok(removed)
    }

    /// The names in `dir` that start with `prefix` (temporary `.tmp` names excepted), sorted.
    pub fn list(&self, dir: &Path, prefix: &str) -> Result<Vec<String>, DataDirError> {
        let mut names: Vec<String> = self
            .fs
            .list(dir)
            .map_err(io_error("read directory", dir))?
            .into_iter()
            .filter(|name| name.starts_with(prefix) && !name.ends_with(".tmp"))
            .collect();
        names.sort();
        Ok(names)
    }

    fn read_if_exists(&self, path: &Path) -> Result<Option<String>, DataDirError> {
        match self.fs.read(path) {
            Ok(text) => Ok(Some(text)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_error("read file", path)(err)),
        }
    }

    fn sync_dir(&self, dir: &Path) -> Result<(), DataDirError> {
        self.fs
            .sync_dir(dir)
            .map_err(io_error("fsync directory", dir))
    }

    fn remove(&self, dir: &Path, name: &str, durable: bool) -> Result<(), DataDirError> {
        let path = dir.join(name);
        self.fs
            .remove(&path)
            .map_err(io_error("remove file", &path))?;
        if durable {
            self.sync_dir(dir)?;
        }
        Ok(())
    }

    /// Creates `dir/name` holding `text`, never replacing a file, as durable as `sync` says.
    fn create_new(
        &self,
        dir: &Path,
        name: &str,
        text: &str,
        sync: FileSync,
    ) -> Result<(), DataDirError> {
        let path = dir.join(name);
        if self.fs.exists(&path) {
            return Err(DataDirError::Exists { path });
        }
        let tmp = dir.join(format!("{name}.tmp"));
        self.fs
            .create_new(&tmp, text.as_bytes())
            .map_err(io_error("create file", &tmp))?;
        let synced = match sync {
            FileSync::None => Ok(()),
            FileSync::File | FileSync::FileAndDirectory => self.fs.sync_file(&tmp),
        };
        let linked = synced.map_err(io_error("write file", &tmp)).and_then(|()| {
            self.fs
                .hard_link(&tmp, &path)
                .map_err(io_error("create file", &path))
        });
        let removed = self.fs.remove(&tmp).map_err(io_error("remove file", &tmp));
        linked?;
        removed?;
        if sync == FileSync::FileAndDirectory {
            self.sync_dir(dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DURABLE: FileSync = FileSync::FileAndDirectory;

    #[test]
    fn files_are_created_once_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDirectory::open(dir.path()).unwrap();
        data.create_backup_label("first\n", DURABLE).unwrap();
        let again = data.create_backup_label("second\n", DURABLE);
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
    fn crash_recovery_renames_the_label_and_clears_temporary_labels() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDirectory::open(dir.path()).unwrap();
        data.create_backup_label("label\n", DURABLE).unwrap();
        data.create_temp_label(
            "pgsql_tmp.backup_label.000000010000000000000002.00000028",
            "x\n",
            DURABLE,
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
            data.remove_backup_label(true),
            Err(DataDirError::Missing { .. })
        ));
    }

    /// What survives a power loss is what each [`FileSync`] promises: only content and name
    /// made durable keep the file whole.
    #[test]
    fn a_power_loss_keeps_exactly_what_the_sync_policy_makes_durable() {
        for sync in [FileSync::None, FileSync::File, FileSync::FileAndDirectory] {
            let fs = PowerLossFileSystem::new();
            let data = DataDirectory::open_on("/pgdata", fs.clone()).unwrap();
            data.create_backup_label("label\n", sync).unwrap();
            let name = HistoryFileName::new(
                crate::lsn::TimeLineId(1),
                crate::lsn::Lsn(0x0200_0028),
                crate::lsn::WalSegmentSize::DEFAULT,
            );
            data.create_history_file(&name, "history\n", sync).unwrap();
            fs.lose_power();
            let label = data.read_backup_label().unwrap();
            let history = data.read_history_file(&name).ok();
            assert_eq!(
                label.as_deref() == Some("label\n"),
                sync.durable(),
                "{sync:?}: {label:?}"
            );
            assert_eq!(
                history.as_deref() == Some("history\n"),
                sync.durable(),
                "{sync:?}: {history:?}"
            );
            assert!(!fs.exists(Path::new("/pgdata/backup_label.tmp")));
        }
    }

    /// `durable_unlink` keeps a removed `backup_label` removed; a plain `unlink` may not.
    #[test]
    fn only_a_durable_removal_stays_removed_after_a_power_loss() {
        for durable in [false, true] {
            let fs = PowerLossFileSystem::new();
            let data = DataDirectory::open_on("/pgdata", fs.clone()).unwrap();
            data.create_backup_label("label\n", FileSync::FileAndDirectory)
                .unwrap();
            data.remove_backup_label(durable).unwrap();
            fs.lose_power();
            assert_eq!(
                data.read_backup_label().unwrap().is_none(),
                durable,
                "durable removal: {durable}"
            );
        }
    }
}
