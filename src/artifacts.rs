//! Every file this program writes, written atomically: a temporary file in the same folder,
//! flushed and synced, renamed over the final name, and the folder synced. A crash or a full
//! disk leaves the previous file or none, never half of one. And the errors of reading and
//! writing them.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ArtifactError {
    #[error("cannot write '{}': {source}; write where you can (train: output.dir; the other commands: --output)", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read '{}': {source}; pass --model a folder written by `train`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot load '{}': {reason}; pass --model a folder written by `train`", path.display())]
    BadModel { path: PathBuf, reason: String },
    #[error("'{}' is damaged ({reason}); it is rewritten by `train` after each epoch", path.display())]
    BadMetrics { path: PathBuf, reason: String },
    #[error("cannot draw '{}': {reason}", path.display())]
    Plot { path: PathBuf, reason: String },
    #[error(
        "output.dir = \"{}\": already holds a run ('{marker}' exists); choose a new folder, e.g. --set output.dir={}-2",
        dir.display(),
        dir.display()
    )]
    HoldsRun { dir: PathBuf, marker: &'static str },
    #[error(
        "'{}' is in use: another training (process {pid}) is writing to it; wait for it to end, or train into another folder",
        dir.display()
    )]
    InUse { dir: PathBuf, pid: String },
}

impl ArtifactError {
    /// Whether this is a write that failed for want of space.
    pub fn disk_full(&self) -> bool {
        matches!(self, ArtifactError::Write { source, .. } if source.kind() == io::ErrorKind::StorageFull)
    }
}

/// Writes `path` atomically with `write`; on any error the final path is untouched.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> Result<(), ArtifactError> {
    let error = |source| ArtifactError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut file = temporary_sibling(dir, &name, ".tmp").map_err(error)?;
    write(file.as_file_mut()).map_err(error)?;
    file.as_file_mut().flush().map_err(error)?;
    file.as_file().sync_all().map_err(error)?;
    file.persist(path).map_err(|e| error(e.error))?;
    sync_dir(dir).map_err(error)
}

/// Makes a rename in `dir` durable: until the folder itself is synced, a power cut may undo it.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    match fs::File::open(dir).and_then(|d| d.sync_all()) {
        // Some file systems cannot sync a folder; there is nothing more to do on them.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// A temporary file `.{name}.XXXX{suffix}` in `dir`, to be renamed over `dir/name`.
///
/// Made read-write for everyone before the umask, as `File::create` would: tempfile's own default
/// is owner-only, which would leave artifacts unreadable to other users.
pub(crate) fn temporary_sibling(
    dir: &Path,
    name: &str,
    suffix: &str,
) -> io::Result<tempfile::NamedTempFile> {
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Removes the temporary files a killed process left in `dir` (those of [`write_atomic`]:
/// `.{name}.XXXXXX.tmp`); the files they were to replace are untouched.
pub(crate) fn remove_leftovers(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") && entry.path().is_file() {
            let _ = fs::remove_file(entry.path());
        }
    }
}
