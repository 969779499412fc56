//! Opening the database file: clear reasons when it cannot be opened, and an
//! exclusive lock while it is in use.
//!
//! Two cronhooks writing one file would fire every slot twice and deliver
//! every message twice: the timer of each knows only its own arming. The
//! lock is an advisory `flock` on the database file itself, held for the
//! life of the process and released by the kernel when it ends, also on
//! `kill -9`. (SQLite's own locks are `fcntl` locks, which do not interact
//! with `flock`.)

use std::fs::{File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::StoreError;

/// Why the database could not be opened. `Display` says why, in words; the
/// caller names the path.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("it is a directory; give the path of a database file")]
    IsDirectory,
    #[error("its folder {} does not exist; create it first", .0.display())]
    MissingFolder(PathBuf),
    #[error("permission denied: cronhook may not read and write it ({0})")]
    PermissionDenied(std::io::Error),
    #[error(
        "another cronhook is using it; stop that one first, or give this one another --db \
         (two writers on one database would fire every slot twice)"
    )]
    InUse,
    #[error("{0}")]
    Io(std::io::Error),
    /// PostgreSQL: the server could not be reached or refused the login.
    #[error("cannot connect to it: {0}")]
    Connect(String),
    #[error(transparent)]
    Store(StoreError),
}

/// Opens (creating) `path` and takes the exclusive lock, with a reason
/// for each way that fails.
pub(super) fn acquire(path: &Path) -> Result<File, OpenError> {
    if path.is_dir() {
        return Err(OpenError::IsDirectory);
    }
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !folder.is_dir() {
        return Err(OpenError::MissingFolder(folder.to_path_buf()));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| match e.kind() {
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
                OpenError::PermissionDenied(e)
            }
            _ => OpenError::Io(e),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(OpenError::InUse),
        Err(TryLockError::Error(e)) => Err(OpenError::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_a_locked_file_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.db");
        let first = acquire(&path).unwrap();
        assert!(matches!(acquire(&path), Err(OpenError::InUse)));
        drop(first);
        acquire(&path).expect("free again once the first is dropped");
    }

    #[test]
    fn each_way_of_failing_says_why() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(acquire(dir.path()), Err(OpenError::IsDirectory)));
        let missing = dir.path().join("no/such/folder/x.db");
        match acquire(&missing) {
            Err(e @ OpenError::MissingFolder(_)) => {
                assert!(e.to_string().contains("no/such/folder"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
}
