//! One trainer per run folder: an OS lock on `DIR/.lock`.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::artifacts::ArtifactError;

/// The file a training run holds locked in its folder.
pub(crate) const LOCK_FILE: &str = ".lock";

/// An exclusive hold on a run folder, for as long as it lives: the OS lock of `DIR/.lock`,
/// which holds the process id. The OS releases the lock when the process ends, however it ends,
/// so a killed run leaves no stale lock; the file goes when the hold is dropped.
#[derive(Debug)]
pub struct RunLock {
    file: fs::File,
    path: PathBuf,
}

impl RunLock {
    /// Holds `dir` (which must exist), or says which process does.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, ArtifactError> {
        let path = dir.join(LOCK_FILE);
        let error = |source| ArtifactError::Write {
            path: path.clone(),
            source,
        };
        // Another run may remove the file between our open and our lock: then the lock is on a
        // file no longer there, and the next run would make a new one. Retry until the locked
        // file is the one at the path.
        loop {
            let mut file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(error)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    let mut pid = String::new();
                    let _ = io::Read::read_to_string(&mut file, &mut pid);
                    let pid = pid.trim();
                    return Err(ArtifactError::InUse {
                        dir: dir.to_owned(),
                        pid: if pid.is_empty() {
                            "unknown".to_owned()
                        } else {
                            pid.to_owned()
                        },
                    });
                }
                Err(fs::TryLockError::Error(source)) => return Err(error(source)),
            }
            if !same_file(&file, &path) {
                continue;
            }
            file.set_len(0).map_err(error)?;
            writeln!(file, "{}", std::process::id()).map_err(error)?;
            return Ok(Self { file, path });
        }
    }
}

impl RunLock {
    /// Fails with [`ArtifactError::InUse`] if another process holds `dir`; anything else that
    /// stops a hold (no such folder, say) is for the caller's own checks to report.
    pub fn check_free(dir: &Path) -> Result<(), ArtifactError> {
        match Self::acquire(dir) {
            Err(busy @ ArtifactError::InUse { .. }) => Err(busy),
            _ => Ok(()),
        }
    }
}

impl RunLock {
    /// The process id of the training that holds `dir`, if one does; looks without writing.
    pub(crate) fn holder(dir: &Path) -> Option<String> {
        let mut file = fs::File::open(dir.join(LOCK_FILE)).ok()?;
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                None
            }
            Err(fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = io::Read::read_to_string(&mut file, &mut pid);
                Some(match pid.trim() {
                    "" => "unknown".to_owned(),
                    pid => pid.to_owned(),
                })
            }
            Err(fs::TryLockError::Error(_)) => None,
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked, so that no other run takes a file about to vanish.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Whether the open `file` is the file now at `path`.
fn same_file(file: &fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}
