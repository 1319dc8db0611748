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
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use burn::record::{
    BurnRecord, FileRecorder, FullPrecisionSettings, Record, Recorder, RecorderError,
};
use burn::tensor::backend::Backend;
use burn::train::checkpoint::{CheckpointingAction, CheckpointingStrategy};
use burn::train::metric::store::EventStoreClient;
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::artifacts::{ArtifactError, shell_path, shell_word};
use crate::fused::FusedOps;
use crate::metrics::{EpochRow, parse_metrics_csv};
use crate::model::{Autoencoder, AutoencoderConfig};
use crate::run_dir::record::{
    recorder, recorder_reason, unseal, upgrade_tutorial_record, write_sealed,
};
use crate::run_dir::{
    CHECKPOINT_DIR, CONFIG_FILE, DirWatch, FINAL_FILES, METRICS_FILE, RunDir, model_from_record,
};
use crate::train::stop::Failure;

/// The folder of a run that holds Burn's checkpoints.
/// The three records Burn saves per epoch.
pub(crate) const CHECKPOINT_PARTS: [&str; 3] = ["model", "optim", "scheduler"];
/// How many epochs' checkpoints are kept.
pub(crate) const KEPT_CHECKPOINTS: usize = 3;

/// Keeps the last `kept` epochs' checkpoints, as Burn's `KeepLastNCheckpoints`, but deletes the
/// oldest *before* saving the new one. The order matters: each of Burn's three checkpointers
/// (model, optimiser, scheduler) is a thread fed through a channel that holds nothing, so a
/// message waits until that thread is free. Saved first, epoch N's records keep their threads
/// busy until [`CheckpointRecorder`] has seen epoch N + 1's first step (or waited 100 ms for it),
/// and the deletions sent after the saves held training up for that wait, then for each record
/// copied and written: 0.12 s more at the end of every epoch from the fourth on (15 % of an
/// epoch, measured, docs/results.md). Deleted first, the deletions go to idle threads, and the
/// saves wait for the next epoch's step while training takes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeleteThenSave {
    kept: usize,
}

impl DeleteThenSave {
    pub(crate) fn keeping(kept: usize) -> Self {
        Self { kept }
    }
}

impl CheckpointingStrategy for DeleteThenSave {
    fn checkpointing(&mut self, epoch: usize, _: &EventStoreClient) -> Vec<CheckpointingAction> {
        let oldest = epoch
            .checked_sub(self.kept)
            .filter(|&old| old > 0)
            .map(CheckpointingAction::Delete);
        oldest
            .into_iter()
            .chain([CheckpointingAction::Save])
            .collect()
    }
}

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("cannot read '{}': {reason}; the run cannot resume from it", path.display())]
    Damaged { path: PathBuf, reason: String },
    #[error(
        "cannot read '{}': {reason}; a run resumes only with the rows of its epochs: put a good copy back, or start the run over in a new folder: mnist-autoencoder train --config {} --set {}",
        path.display(),
        shell_path(config),
        shell_word(&format!("output.dir={}", fresh.display()))
    )]
    Metrics {
        path: PathBuf,
        reason: String,
        config: PathBuf,
        fresh: PathBuf,
    },
    #[error(
        "'{}' already finished its {epochs} epochs; to train further raise the count, e.g. --set training.epochs={}",
        dir.display(),
        epochs + 10
    )]
    Finished { dir: PathBuf, epochs: usize },
    #[error(
        "training.epochs = {asked}: the run in '{}' has trained {done} epochs already; to finish it, ask for at least that many, e.g. --set training.epochs={done}",
        dir.display()
    )]
    FewerEpochs {
        dir: PathBuf,
        asked: usize,
        done: usize,
    },
}

/// The latest epoch a training step has been taken in, as the metric logger hears of it (after
/// the step's optimiser update), for the checkpointer to wait on.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    epoch: Mutex<usize>,
    stepped: Condvar,
}

impl Progress {
    /// A training step of `epoch` has been taken.
    pub fn stepped_in(&self, epoch: usize) {
        let mut latest = self
            .epoch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if epoch > *latest {
            *latest = epoch;
            self.stepped.notify_all();
        }
    }

    /// Returns once a step of an epoch after `epoch` has been taken (`true`), or after `limit`
    /// (`false`).
    pub(crate) fn wait_past(&self, epoch: usize, limit: Duration) -> bool {
        let latest = self
            .epoch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.stepped
            .wait_timeout_while(latest, limit, |latest| *latest <= epoch)
            .is_ok_and(|(_, waited)| !waited.timed_out())
    }
}

/// How long a checkpoint waits for the next epoch's first step (see [`CheckpointRecorder`]):
/// far longer than a step, short enough not to be felt where no step comes (a stop).
const NEXT_STEP_WAIT: Duration = Duration::from_millis(100);

/// Burn's named MessagePack format at full precision, sealed with a checksum
/// (see `run_dir::record`) and written atomically. A failed write is kept in `failure` as well as returned:
/// Burn's checkpointer turns it into a bare stop, and the run reports it from there.
///
/// Burn hands its checkpointer a clone of the model and of the optimiser's state, which share
/// their arrays with the ones training goes on with; converted while shared, every array is
/// copied value by value (burn-ndarray's `into_data`), tens of milliseconds of a core taken
/// from training each epoch. Training replaces those arrays at its next step (the update
/// writes new ones: the Learner holds the old). So before epoch N's records are converted,
/// this recorder waits until `progress` says a step of epoch N + 1 was taken, then takes the
/// arrays as they are: the same values, no copy. Not for the last epoch, and never longer than
/// [`NEXT_STEP_WAIT`].
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckpointRecorder {
    failure: Failure,
    /// The run folder, checked before each write: a folder moved or removed is reported, not
    /// made again.
    watch: Option<Arc<DirWatch>>,
    /// Training's progress, and the run's last epoch (see above).
    progress: Option<(Arc<Progress>, usize)>,
}

impl CheckpointRecorder {
    /// A recorder that keeps its first failed write in `failure`, for a run whose last epoch
    /// is `last_epoch`.
    pub fn new(
        failure: Failure,
        watch: Arc<DirWatch>,
        progress: Arc<Progress>,
        last_epoch: usize,
    ) -> Self {
        Self {
            failure,
            watch: Some(watch),
            progress: Some((progress, last_epoch)),
        }
    }

    /// Waits, before the record saved at `path` (`{part}-{epoch}`), for training to move past
    /// its arrays (see [`CheckpointRecorder`]), at most `limit`.
    fn wait_for_next_step(&self, path: &Path, limit: Duration) {
        let epoch = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| {
                let (_, epoch) = name.rsplit_once('-')?;
                epoch.parse::<usize>().ok()
            });
        if let (Some((progress, last_epoch)), Some(epoch)) = (&self.progress, epoch)
            && epoch < *last_epoch
            && !progress.wait_past(epoch, limit)
        {
            // Normal at a stop; during training it means training was held up (see
            // `DeleteThenSave`). Said in experiment.log.
            log::info!(
                "checkpoint '{}': no step of epoch {} within {limit:?}; its arrays are copied",
                path.display(),
                epoch + 1
            );
        }
    }
}

impl<B: Backend> Recorder<B> for CheckpointRecorder {
    type Settings = FullPrecisionSettings;
    type RecordArgs = PathBuf;
    type RecordOutput = ();
    type LoadArgs = PathBuf;

    /// Burn's own `record` (the record as an item, then `save_item`), after the wait.
    fn record<R: Record<B>>(&self, record: R, path: PathBuf) -> Result<(), RecorderError> {
        self.wait_for_next_step(&path, NEXT_STEP_WAIT);
        let item = BurnRecord::<_, B>::new::<Self>(record.into_item::<Self::Settings>());
        Recorder::<B>::save_item(self, item, path)
    }

    fn save_item<I: Serialize>(&self, item: I, mut file: PathBuf) -> Result<(), RecorderError> {
        file.set_extension(<Self as FileRecorder<B>>::file_extension());
        let record = Recorder::<B>::save_item(&recorder(), item, ());
        let present = self.watch.as_ref().map_or(Ok(()), |watch| watch.check());
        present
            .and_then(|()| create_folder(file.parent()))
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
        Recorder::<B>::load_item(&recorder(), &mut payload.to_vec()).or_else(|error| {
            // A model checkpoint of a run made before `model.kind`, or the error.
            let mut upgraded = upgrade_tutorial_record::<B>(payload).ok_or(error)?;
            Recorder::<B>::load_item(&recorder(), &mut upgraded)
        })
    }
}

impl<B: Backend> FileRecorder<B> for CheckpointRecorder {
    fn file_extension() -> &'static str {
        "mpk"
    }
}

/// Makes the folder `dir` (checkpoint/, a log's epoch folder) if it is missing, but never its
/// parent, the run folder: one that vanished is not made again.
pub(crate) fn create_folder(dir: Option<&Path>) -> Result<(), ArtifactError> {
    let Some(dir) = dir else { return Ok(()) };
    match fs::create_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(ArtifactError::Write {
            path: dir.to_owned(),
            source: e,
        }),
        _ => Ok(()),
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

/// Where a resumed run starts: after `epoch` (0: from its initial weights), with the rows of
/// the epochs before it, and the later checkpoints it could not use.
#[derive(Debug)]
pub struct ResumePoint {
    pub epoch: usize,
    pub rows: Vec<EpochRow>,
    /// Checkpoints after `epoch` found damaged, newest first: the run goes on from the one
    /// before them.
    pub skipped: Vec<CheckpointError>,
}

impl ResumePoint {
    /// The start of a new run.
    pub fn start() -> Self {
        Self {
            epoch: 0,
            rows: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

/// The rows of `metrics.csv` in `run_dir` (none when it is not there).
fn read_rows(run_dir: &Path) -> Result<Vec<EpochRow>, CheckpointError> {
    let path = run_dir.join(METRICS_FILE);
    let damaged = |reason: String| CheckpointError::Metrics {
        path: path.clone(),
        reason,
        config: run_dir.join(CONFIG_FILE),
        fresh: RunDir::new(run_dir).free_sibling(),
    };
    match fs::read_to_string(&path) {
        Ok(text) => parse_metrics_csv(&text).map_err(|e| damaged(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(damaged(e.to_string())),
    }
}

/// The epochs of `rows` a resume could continue after: those numbered 1, 2, 3, ... from the
/// start whose three checkpoint files exist, newest first.
fn candidates(run_dir: &Path, rows: &[EpochRow]) -> Vec<usize> {
    let in_order = rows
        .iter()
        .enumerate()
        .take_while(|(i, row)| row.epoch == i + 1)
        .count();
    let mut epochs: Vec<usize> = saved_epochs(run_dir)
        .into_iter()
        .filter(|&epoch| epoch <= in_order)
        .collect();
    epochs.reverse();
    epochs
}

/// The last epoch of the run in `run_dir` complete on disk (its row in `metrics.csv` and its
/// three checkpoint files), and the rows up to it. The files are not read.
pub fn last_complete(run_dir: &Path) -> Result<ResumePoint, CheckpointError> {
    let mut rows = read_rows(run_dir)?;
    let epoch = candidates(run_dir, &rows).first().copied().unwrap_or(0);
    rows.truncate(epoch);
    Ok(ResumePoint {
        epoch,
        rows,
        skipped: Vec::new(),
    })
}

/// Where a resumed run of `epochs` epochs in all, of the model `spec` describes, starts: after the
/// last epoch complete on disk whose checkpoint reads back whole, unless the run has finished.
/// An epoch whose checkpoint is damaged is skipped (and said so): the run redoes it.
pub(crate) fn resume_point<B: FusedOps>(
    run_dir: &Path,
    epochs: usize,
    spec: &AutoencoderConfig,
    device: &B::Device,
) -> Result<ResumePoint, CheckpointError> {
    let mut rows = read_rows(run_dir)?;
    let mut skipped = Vec::new();
    let mut epoch = 0;
    for candidate in candidates(run_dir, &rows) {
        match verify::<B>(run_dir, candidate, spec, device) {
            Ok(()) => {
                epoch = candidate;
                break;
            }
            Err(damaged) => skipped.push(damaged),
        }
    }
    rows.truncate(epoch);
    let dir = RunDir::new(run_dir);
    if epoch >= epochs && FINAL_FILES.iter().all(|f| dir.file(f).is_file()) {
        return Err(CheckpointError::Finished {
            dir: run_dir.to_owned(),
            epochs: epoch,
        });
    }
    if epoch > epochs {
        return Err(CheckpointError::FewerEpochs {
            dir: run_dir.to_owned(),
            asked: epochs,
            done: epoch,
        });
    }
    Ok(ResumePoint {
        epoch,
        rows,
        skipped,
    })
}

/// Reads the three records of checkpoint `epoch` (seals, and the model's shape and values).
fn verify<B: FusedOps>(
    run_dir: &Path,
    epoch: usize,
    spec: &AutoencoderConfig,
    device: &B::Device,
) -> Result<(), CheckpointError> {
    for part in ["optim", "scheduler"] {
        let path = checkpoint_path(run_dir, part, epoch);
        let damaged = |reason: String| CheckpointError::Damaged {
            path: path.clone(),
            reason,
        };
        let bytes = fs::read(&path).map_err(|e| damaged(e.to_string()))?;
        unseal(&bytes).map_err(damaged)?;
    }
    load_model::<B>(run_dir, epoch, spec, device).map(drop)
}

/// The model of checkpoint `epoch`, checked to be `spec`'s and to be finite.
pub(crate) fn load_model<B: FusedOps>(
    run_dir: &Path,
    epoch: usize,
    spec: &AutoencoderConfig,
    device: &B::Device,
) -> Result<Autoencoder<B>, CheckpointError> {
    let path = checkpoint_path(run_dir, "model", epoch);
    let damaged = |reason: String| CheckpointError::Damaged {
        path: path.clone(),
        reason,
    };
    let record = Recorder::<B>::load(&CheckpointRecorder::default(), path.clone(), device)
        .map_err(|e| damaged(recorder_reason(&e)))?;
    model_from_record(record, spec, device).map_err(damaged)
}

/// Removes the checkpoint files of epochs after `epoch`: those of an epoch cut short.
pub(crate) fn remove_after(run_dir: &Path, epoch: usize) {
    for (path, _, saved) in checkpoint_files(run_dir) {
        if saved > epoch {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::thread;
    use std::time::Instant;

    use super::*;

    /// A recorder of a run of `last_epoch` epochs, told of training's steps by `progress`.
    fn recorder_of(progress: &Arc<Progress>, last_epoch: usize) -> CheckpointRecorder {
        CheckpointRecorder {
            progress: Some((progress.clone(), last_epoch)),
            ..CheckpointRecorder::default()
        }
    }

    /// Epoch 2's records wait for a step of epoch 3, not for one of epoch 2; the last
    /// epoch's records do not wait at all.
    #[test]
    fn a_checkpoint_waits_for_the_next_epochs_first_step_only() {
        let progress = Arc::new(Progress::default());
        let recorder = recorder_of(&progress, 3);
        let long = Duration::from_secs(20);
        let started = Instant::now();
        recorder.wait_for_next_step(Path::new("checkpoint/model-3"), long);
        assert!(started.elapsed() < long / 4, "the last epoch waited");

        let steps = {
            let progress = progress.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(100));
                progress.stepped_in(2);
                thread::sleep(Duration::from_millis(100));
                progress.stepped_in(3);
            })
        };
        let started = Instant::now();
        recorder.wait_for_next_step(Path::new("checkpoint/optim-2"), long);
        let waited = started.elapsed();
        steps.join().expect("the stepping thread");
        assert!(
            waited >= Duration::from_millis(190),
            "returned after {waited:?}, before epoch 3's step"
        );
        assert!(waited < long / 4, "missed epoch 3's step: {waited:?}");

        // Past it already: no wait.
        let started = Instant::now();
        recorder.wait_for_next_step(Path::new("checkpoint/scheduler-2"), long);
        assert!(
            started.elapsed() < long / 4,
            "waited for a step taken already"
        );
    }

    /// With no step to come (a run stopped between epochs), the wait ends at its limit.
    #[test]
    fn a_checkpoint_waits_no_longer_than_its_limit() {
        let recorder = recorder_of(&Arc::new(Progress::default()), 10);
        let limit = Duration::from_millis(50);
        let started = Instant::now();
        recorder.wait_for_next_step(Path::new("checkpoint/model-4"), limit);
        let waited = started.elapsed();
        assert!(waited >= limit, "returned after {waited:?}");
        assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    }
}
