//! Files a run leaves in its output directory, each written atomically: a temporary file in the
//! same directory, flushed, then renamed over the final name. A crash or a full disk leaves the
//! previous file or none, never half of one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder, RecorderError};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::config::{Config, Origin};
use crate::fused::FusedOps;
use crate::model::{Autoencoder, AutoencoderConfig};

/// The trained weights, full precision (named MessagePack, as Burn's `DefaultRecorder`).
pub const MODEL_FILE: &str = "model.mpk";
/// The resolved configuration the model was trained with.
pub const CONFIG_FILE: &str = "config.toml";
/// Per-epoch costs and times.
pub const METRICS_FILE: &str = "metrics.csv";
/// The tutorial's figure: test digits over their reconstructions.
pub const RECONSTRUCTION_FILE: &str = "reconstruction.png";

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
        "'{}' is in use: another training (process {pid}) is writing to it; wait for it to end, or train into another folder",
        dir.display()
    )]
    InUse { dir: PathBuf, pid: String },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

impl ArtifactError {
    /// Whether this is a write that failed for want of space.
    pub fn disk_full(&self) -> bool {
        matches!(self, ArtifactError::Write { source, .. } if source.kind() == io::ErrorKind::StorageFull)
    }
}

/// Writes `path` atomically with `write`; on any error the final path is untouched.
pub fn write_atomic(
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
pub fn sync_dir(dir: &Path) -> io::Result<()> {
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

/// The file a training run holds locked in its folder.
pub const LOCK_FILE: &str = ".lock";

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
    pub fn acquire(dir: &Path) -> Result<Self, ArtifactError> {
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
pub fn remove_leftovers(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") && entry.path().is_file() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Creates `dir` if needed and proves a file can be written there, so that a bad output
/// directory fails before training rather than after it.
pub fn prepare_output_dir(dir: &Path) -> Result<(), ArtifactError> {
    let error = |source| ArtifactError::Write {
        path: dir.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(error)?;
    tempfile::Builder::new()
        .prefix(".write-probe.")
        .tempfile_in(dir)
        .map_err(error)?;
    Ok(())
}

fn recorder() -> NamedMpkBytesRecorder<FullPrecisionSettings> {
    NamedMpkBytesRecorder::default()
}

/// Marks the end of a record this program wrote: `SEAL_MAGIC` then the SHA-256 of what comes
/// before. MessagePack readers (Burn's `NamedMpkFileRecorder` too) stop after the record and
/// never see it; a truncated or altered file fails the check instead of loading wrong weights.
const SEAL_MAGIC: &[u8; 8] = b"MNAE-SHA";
const SEAL_LEN: usize = SEAL_MAGIC.len() + 32;

/// `payload` followed by its seal.
pub fn seal(mut payload: Vec<u8>) -> Vec<u8> {
    let digest = Sha256::digest(&payload);
    payload.extend_from_slice(SEAL_MAGIC);
    payload.extend_from_slice(&digest);
    payload
}

/// The payload of a sealed file, if the seal is there and matches.
pub fn unseal(bytes: &[u8]) -> Result<&[u8], String> {
    let body_len = bytes.len().checked_sub(SEAL_LEN).ok_or_else(|| {
        format!(
            "only {} bytes, too short to be a record (truncated?)",
            bytes.len()
        )
    })?;
    let (payload, seal) = bytes.split_at(body_len);
    if &seal[..SEAL_MAGIC.len()] != SEAL_MAGIC {
        return Err("it does not end with this program's checksum (truncated, or written by something else)".to_owned());
    }
    if Sha256::digest(payload).as_slice() != &seal[SEAL_MAGIC.len()..] {
        return Err(
            "its checksum does not match its contents (the file was altered or damaged)".to_owned(),
        );
    }
    Ok(payload)
}

/// The message of a Burn recorder error, without its enum wrapping.
pub fn recorder_reason(error: &RecorderError) -> String {
    match error {
        RecorderError::FileNotFound(m)
        | RecorderError::DeserializeError(m)
        | RecorderError::Unknown(m) => m.lines().next().unwrap_or_default().to_owned(),
    }
}

/// Saves the model's weights to `dir/model.mpk` at full precision.
pub fn save_model<B: FusedOps>(model: &Autoencoder<B>, dir: &Path) -> Result<(), ArtifactError> {
    let path = dir.join(MODEL_FILE);
    let bytes =
        Recorder::<B>::record(&recorder(), model.clone().into_record(), ()).map_err(|e| {
            ArtifactError::Write {
                path: path.clone(),
                source: io::Error::other(e.to_string()),
            }
        })?;
    let bytes = seal(bytes);
    write_atomic(&path, |file| file.write_all(&bytes))
}

/// A trained model and the configuration it was trained with.
pub struct SavedRun<B: FusedOps> {
    pub model: Autoencoder<B>,
    pub config: Config,
}

/// Loads `dir/config.toml`.
pub fn load_config(dir: &Path) -> Result<Config, ArtifactError> {
    let config_path = dir.join(CONFIG_FILE);
    let text = fs::read_to_string(&config_path).map_err(|source| ArtifactError::Read {
        path: config_path.clone(),
        source,
    })?;
    Ok(Config::from_toml(&text, Origin::File(config_path))?)
}

/// Loads `dir/config.toml` and `dir/model.mpk`, checking the weights fit the configured shape.
pub fn load_run<B: FusedOps>(dir: &Path, device: &B::Device) -> Result<SavedRun<B>, ArtifactError> {
    let config = load_config(dir)?;

    let model_path = dir.join(MODEL_FILE);
    let bytes = fs::read(&model_path).map_err(|source| ArtifactError::Read {
        path: model_path.clone(),
        source,
    })?;
    let bad = |reason: String| ArtifactError::BadModel {
        path: model_path.clone(),
        reason,
    };
    let payload = unseal(&bytes).map_err(&bad)?.to_vec();
    let record =
        Recorder::<B>::load(&recorder(), payload, device).map_err(|e| bad(recorder_reason(&e)))?;
    let model = model_from_record(record, config.model.hidden_size, device).map_err(bad)?;
    Ok(SavedRun { model, config })
}

/// The model a record holds, if its weights fit `hidden_size` (Burn's `load_record` takes
/// tensors of any shape).
pub fn model_from_record<B: FusedOps>(
    record: <Autoencoder<B> as Module<B>>::Record,
    hidden_size: usize,
    device: &B::Device,
) -> Result<Autoencoder<B>, String> {
    let template = AutoencoderConfig::new()
        .with_hidden_size(hidden_size)
        .init(device);
    let expected = shapes(&template);
    let model = template.load_record(record);
    let found = shapes(&model);
    if found != expected {
        return Err(format!(
            "weight shapes {found:?} do not match model.hidden_size = {hidden_size}, which needs {expected:?}"
        ));
    }
    Ok(model)
}

fn shapes<B: FusedOps>(model: &Autoencoder<B>) -> Vec<Vec<usize>> {
    let bias = |linear: &burn::nn::Linear<B>| {
        linear
            .bias
            .as_ref()
            .map(|b| b.dims().to_vec())
            .unwrap_or_default()
    };
    vec![
        model.encoder.weight.dims().to_vec(),
        bias(&model.encoder),
        model.decoder.weight.dims().to_vec(),
        bias(&model.decoder),
    ]
}
