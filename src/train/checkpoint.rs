//! Per-epoch checkpoints and where a resumed run starts.
//!
//! Burn's Learner saves `checkpoint/{model,optim,scheduler}-N.mpk` after epoch N through the
//! recorder it is given. Its own file recorder deletes the old file and then writes the new one
//! in place; [`CheckpointRecorder`] writes a temporary file and renames it, so every checkpoint
//! file on disk is whole. An epoch counts as complete when its three files exist and
//! `metrics.csv` holds its row: the row is written only for an epoch that ran to its end, not
//! one cut short by a stop (see [`EpochLogger`](crate::train::epoch_log::EpochLogger)).

use std::fs;
use std::path::{Path, PathBuf};

use burn::record::{FileRecorder, FullPrecisionSettings, Recorder, RecorderError};
use burn::tensor::backend::Backend;
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::artifacts::ArtifactError;
use crate::metrics::{EpochRow, parse_metrics_csv};
use crate::run_dir::record::{recorder, unseal, write_sealed};
use crate::run_dir::{CHECKPOINT_DIR, METRICS_FILE, MODEL_FILE};
use crate::train::stop::Failure;

/// The folder of a run that holds Burn's checkpoints.
/// The three records Burn saves per epoch.
pub(crate) const CHECKPOINT_PARTS: [&str; 3] = ["model", "optim", "scheduler"];
/// How many epochs' checkpoints are kept.
pub(crate) const KEPT_CHECKPOINTS: usize = 3;

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error(
        "cannot read '{}': {reason}; the run cannot resume from it (delete the run's checkpoint folder to start over)",
        path.display()
    )]
    Damaged { path: PathBuf, reason: String },
    #[error(
        "'{}' already finished its {epochs} epochs; to train further raise the count, e.g. --set training.epochs={}",
        dir.display(),
        epochs + 10
    )]
    Finished { dir: PathBuf, epochs: usize },
}

/// Burn's named MessagePack format at full precision, sealed with a checksum
/// (see `run_dir::record`) and written atomically. A failed write is kept in `failure` as well as returned:
/// Burn's checkpointer turns it into a bare stop, and the run reports it from there.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckpointRecorder {
    failure: Failure,
}

impl CheckpointRecorder {
    /// A recorder that keeps its first failed write in `failure`.
    pub fn new(failure: Failure) -> Self {
        Self { failure }
    }
}

impl<B: Backend> Recorder<B> for CheckpointRecorder {
    type Settings = FullPrecisionSettings;
    type RecordArgs = PathBuf;
    type RecordOutput = ();
    type LoadArgs = PathBuf;

    fn save_item<I: Serialize>(&self, item: I, mut file: PathBuf) -> Result<(), RecorderError> {
        file.set_extension(<Self as FileRecorder<B>>::file_extension());
        let record = Recorder::<B>::save_item(&recorder(), item, ());
        let written = match file.parent() {
            Some(dir) => fs::create_dir_all(dir).map_err(|source| ArtifactError::Write {
                path: dir.to_owned(),
                source,
            }),
            None => Ok(()),
        };
        written
            .and_then(|()| write_sealed(&file, record))
            .map_err(|error| {
                let message = error.to_string();
                self.failure.record(error);
                RecorderError::Unknown(message)
            })
    }

    fn load_item<I: DeserializeOwned>(&self, file: &mut PathBuf) -> Result<I, RecorderError> {
        file.set_extension(<Self as FileRecorder<B>>::file_extension());
        let bytes = fs::read(&*file).map_err(|e| RecorderError::FileNotFound(e.to_string()))?;
        let payload = unseal(&bytes).map_err(RecorderError::DeserializeError)?;
        Recorder::<B>::load_item(&recorder(), &mut payload.to_vec())
    }
}

impl<B: Backend> FileRecorder<B> for CheckpointRecorder {
    fn file_extension() -> &'static str {
        "mpk"
    }
}

/// The path of one checkpoint file.
pub(crate) fn checkpoint_path(run_dir: &Path, part: &str, epoch: usize) -> PathBuf {
    run_dir
        .join(CHECKPOINT_DIR)
        .join(format!("{part}-{epoch}.mpk"))
}

/// The checkpoint files in `run_dir`: (path, part, epoch) for each `{part}-{epoch}.mpk`.
fn checkpoint_files(run_dir: &Path) -> Vec<(PathBuf, &'static str, usize)> {
    let Ok(entries) = fs::read_dir(run_dir.join(CHECKPOINT_DIR)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let (part, epoch) = name.strip_suffix(".mpk")?.rsplit_once('-')?;
            let part = CHECKPOINT_PARTS.into_iter().find(|p| *p == part)?;
            Some((entry.path(), part, epoch.parse().ok()?))
        })
        .collect()
}

/// Epochs whose three checkpoint files all exist, ascending.
pub(crate) fn saved_epochs(run_dir: &Path) -> Vec<usize> {
    let files = checkpoint_files(run_dir);
    let mut epochs: Vec<usize> = files
        .iter()
        .map(|(_, _, epoch)| *epoch)
        .filter(|&epoch| {
            CHECKPOINT_PARTS
                .iter()
                .all(|part| files.iter().any(|(_, p, e)| p == part && *e == epoch))
        })
        .collect();
    epochs.sort_unstable();
    epochs.dedup();
    epochs
}

/// Where a resumed run starts: after `epoch` (0: from the seed's initial weights), with the
/// rows of the epochs before it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumePoint {
    pub epoch: usize,
    pub rows: Vec<EpochRow>,
}

/// The last epoch of the run in `run_dir` complete on disk (its row in `metrics.csv` and its
/// three checkpoint files), and the rows up to it.
pub fn last_complete(run_dir: &Path) -> Result<ResumePoint, CheckpointError> {
    let csv_path = run_dir.join(METRICS_FILE);
    let mut rows = match fs::read_to_string(&csv_path) {
        Ok(text) => parse_metrics_csv(&text).map_err(|e| CheckpointError::Damaged {
            path: csv_path.clone(),
            reason: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(CheckpointError::Damaged {
                path: csv_path,
                reason: e.to_string(),
            });
        }
    };
    // Rows are 1, 2, 3, ...: keep the leading run of them that a checkpoint backs.
    let in_order = rows
        .iter()
        .enumerate()
        .take_while(|(i, row)| row.epoch == i + 1)
        .count();
    let epoch = saved_epochs(run_dir)
        .into_iter()
        .filter(|&epoch| epoch <= in_order)
        .max()
        .unwrap_or(0);
    rows.truncate(epoch);
    Ok(ResumePoint { epoch, rows })
}

/// Where a resumed run of `epochs` epochs in all starts: after [`last_complete`], unless the
/// run has finished them.
pub(crate) fn resume_point(run_dir: &Path, epochs: usize) -> Result<ResumePoint, CheckpointError> {
    let point = last_complete(run_dir)?;
    let finished = point.epoch >= epochs && run_dir.join(MODEL_FILE).is_file();
    if finished {
        return Err(CheckpointError::Finished {
            dir: run_dir.to_owned(),
            epochs: point.epoch,
        });
    }
    Ok(point)
}

/// Removes the checkpoint files of epochs after `epoch`: those of an epoch cut short.
pub(crate) fn remove_after(run_dir: &Path, epoch: usize) {
    for (path, _, saved) in checkpoint_files(run_dir) {
        if saved > epoch {
            let _ = fs::remove_file(path);
        }
    }
}
