//! Every file this program writes, written atomically: a temporary file in the same folder,
//! flushed and synced, renamed over the final name, and the folder synced. A crash or a full
//! disk leaves the previous file or none, never half of one. And the errors of reading and
//! writing them.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
    #[error("'{}' is damaged ({reason}); put a good copy back to draw the run's curve", path.display())]
    BadMetrics { path: PathBuf, reason: String },
    #[error("cannot draw '{}': {reason}", path.display())]
    Plot { path: PathBuf, reason: String },
    #[error("{what} '{}' already holds a run ('{marker}' exists); choose a new folder, e.g. {suggestion}", dir.display())]
    HoldsRun {
        /// How the folder was named: `output.dir =` or `--output`.
        what: &'static str,
        dir: PathBuf,
        marker: &'static str,
        /// The flag that names a free folder instead, ready to paste.
        suggestion: String,
    },
    #[error(
        "'{}' is in use: another training (process {pid}) is writing to it; wait for it to end, or train into another folder",
        dir.display()
    )]
    InUse { dir: PathBuf, pid: String },
    #[error(
        "{what} '{}' is {role} of the run in '{}'; only `train` writes a run's own files: name another path",
        path.display(),
        run.display()
    )]
    RunFile {
        /// The flag or key that named it.
        what: &'static str,
        path: PathBuf,
        /// What it is to the run: "its model.mpk", "inside its checkpoint folder".
        role: String,
        run: PathBuf,
    },
    #[error("{}", vanished_message(dir, moved_to.as_deref()))]
    Vanished {
        dir: PathBuf,
        /// Where the folder is now, when it was moved (and the system can tell).
        moved_to: Option<PathBuf>,
    },
    #[error(
        "'{}' has no {file} yet: it is still training (process {pid}); wait until it finishes",
        dir.display()
    )]
    StillTraining {
        dir: PathBuf,
        file: &'static str,
        pid: String,
    },
}

fn vanished_message(dir: &Path, moved_to: Option<&Path>) -> String {
    match moved_to {
        Some(to) => format!(
            "the run folder '{}' was moved to '{}' while training",
            dir.display(),
            to.display()
        ),
        None => format!(
            "the run folder '{}' was removed or moved while training",
            dir.display()
        ),
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
    let mut file = Temporary::new(dir, &name, ".tmp").map_err(error)?;
    write(file.file_mut()).map_err(error)?;
    file.file_mut().flush().map_err(error)?;
    file.file_mut().sync_all().map_err(error)?;
    file.persist(path).map_err(error)?;
    sync_dir(dir).map_err(error)
}

/// The temporary files being written now, removed by [`remove_pending`] when a signal ends
/// the process before they are renamed into place.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A temporary file `.{name}.XXXXXX{suffix}` in a folder, to be renamed over `name`: deleted
/// if dropped before [`Temporary::persist`], and on a stop by [`remove_pending`].
pub(crate) struct Temporary {
    file: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl Temporary {
    pub(crate) fn new(dir: &Path, name: &str, suffix: &str) -> io::Result<Self> {
        // Made under the lock: a stop's `remove_pending` waits for the file to be listed.
        let mut pending = lock_pending();
        let file = temporary_sibling(dir, name, suffix)?;
        let path = file.path().to_owned();
        pending.push(path.clone());
        drop(pending);
        Ok(Self {
            file: Some(file),
            path,
        })
    }

    pub(crate) fn file_mut(&mut self) -> &mut fs::File {
        self.file.as_mut().expect("not persisted yet").as_file_mut()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file to `path`.
    pub(crate) fn persist(mut self, path: &Path) -> io::Result<()> {
        let file = self.file.take().expect("persisted once");
        file.persist(path).map(drop).map_err(|e| e.error)
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        // An unpersisted file is deleted by `NamedTempFile`'s own drop, after this.
        lock_pending().retain(|p| *p != self.path);
    }
}

fn lock_pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Deletes every temporary file being written: for a process about to end on a signal, which
/// runs no destructor. The files they were to replace are untouched. The list stays locked to
/// the end, so that no thread makes another in the meantime.
pub(crate) fn remove_pending() {
    let mut pending = lock_pending();
    for path in pending.drain(..) {
        let _ = fs::remove_file(path);
    }
    std::mem::forget(pending);
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
fn temporary_sibling(dir: &Path, name: &str, suffix: &str) -> io::Result<tempfile::NamedTempFile> {
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
    remove_leftovers_of(dir, ".tmp", |_| true);
}

/// Removes the temporary files a killed process left in `path`'s folder while it wrote `path`
/// (`.{name}.XXXXXX{suffix}`), except those this process is writing.
pub(crate) fn remove_leftovers_for(path: &Path, suffix: &str) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(name) = path.file_name() else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    remove_leftovers_of(dir, suffix, |file| {
        file.strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|random| !random.is_empty() && !random.contains('.'))
    });
}

fn remove_leftovers_of(dir: &Path, suffix: &str, matches: impl Fn(&str) -> bool) {
    let pending = lock_pending().clone();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with('.')
            && name.ends_with(suffix)
            && matches(&name)
            && path.is_file()
            && !pending.contains(&path)
        {
            let _ = fs::remove_file(path);
        }
    }
}

/// `word` as one word of a POSIX shell command: as it is when it needs no quoting, else in
/// single quotes. For the commands error messages suggest.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A path as one shell word.
pub fn shell_path(path: &Path) -> String {
    shell_word(&path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("runs/default"), "runs/default");
        assert_eq!(shell_word("output.dir=runs/x-2"), "output.dir=runs/x-2");
        assert_eq!(shell_word("my runs/x"), "'my runs/x'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("$HOME"), "'$HOME'");
    }
}
