//! A run folder on disk: the names of its files, making it, refusing to overwrite one, its
//! lock, its sealed records, and loading the model and config a run left.

mod lock;
pub(crate) mod record;
pub mod safetensors;

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::record::Recorder;
use thiserror::Error;

pub use self::lock::{LOCK_FILE, RunLock};
use self::record::{recorder, recorder_reason, unseal, write_sealed};
use crate::artifacts::ArtifactError;
pub use crate::config::CONFIG_FILE;
use crate::config::{Config, ConfigError, Origin};
pub use crate::metrics::METRICS_FILE;
use crate::model::fused::FusedOps;
use crate::model::{Autoencoder, AutoencoderConfig};

/// The trained weights, full precision (named MessagePack, as Burn's `DefaultRecorder`).
pub(crate) const MODEL_FILE: &str = "model.mpk";
/// The tutorial's figure: test digits over their reconstructions.
pub(crate) const RECONSTRUCTION_FILE: &str = "reconstruction.png";
/// The training curve.
pub(crate) const LOSS_FILE: &str = "loss.png";
/// The latent map and the codes behind it.
pub(crate) const LATENT_FILE: &str = "latent.png";
pub(crate) const CODES_FILE: &str = "codes.csv";
pub(crate) const INTERPOLATION_FILE: &str = "interpolation.png";
pub(crate) const WORST_FILE: &str = "worst.png";
pub(crate) const OWN_IMAGES_FILE: &str = "own-images.png";
/// What `export` writes.
pub(crate) const SAFETENSORS_FILE: &str = "model.safetensors";
/// The checkpoints Burn's Learner saves after each epoch.
pub(crate) const CHECKPOINT_DIR: &str = "checkpoint";
/// Burn's per-epoch batch logs of each split.
pub(crate) const TRAIN_LOG_DIR: &str = "train";
pub(crate) const VALID_LOG_DIR: &str = "valid";

/// Files and folders that mark a directory as holding a run.
const RUN_MARKERS: [&str; 6] = [
    CONFIG_FILE,
    MODEL_FILE,
    METRICS_FILE,
    CHECKPOINT_DIR,
    TRAIN_LOG_DIR,
    VALID_LOG_DIR,
];

/// Why a run could not be opened: its files, or its config.
#[derive(Debug, Error)]
pub enum RunDirError {
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// A trained model and the configuration it was trained with.
pub struct SavedRun<B: FusedOps> {
    pub model: Autoencoder<B>,
    pub config: Config,
}

/// A run folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` inside the folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// `given`, or else `name` inside the folder: where a command writes its output.
    pub fn output(&self, given: Option<&Path>, name: &str) -> PathBuf {
        given.map_or_else(|| self.file(name), Path::to_owned)
    }

    /// Creates the folder if needed and proves a file can be written there, so that a bad
    /// output folder fails before training rather than after it.
    pub(crate) fn prepare(&self) -> Result<(), ArtifactError> {
        let error = |source| ArtifactError::Write {
            path: self.path.clone(),
            source,
        };
        fs::create_dir_all(&self.path).map_err(error)?;
        tempfile::Builder::new()
            .prefix(".write-probe.")
            .tempfile_in(&self.path)
            .map_err(error)?;
        Ok(())
    }

    /// Holds the folder for as long as the lock lives (see [`RunLock`]).
    pub fn lock(&self) -> Result<RunLock, ArtifactError> {
        RunLock::acquire(&self.path)
    }

    /// A run's files are never overwritten by another run.
    pub(crate) fn refuse_existing_run(&self) -> Result<(), ArtifactError> {
        match RUN_MARKERS.iter().find(|m| self.file(m).exists()) {
            Some(marker) => Err(ArtifactError::HoldsRun {
                dir: self.path.clone(),
                marker,
            }),
            None => Ok(()),
        }
    }

    /// Removes the temporary files a killed process left (see
    /// [`remove_leftovers`](crate::artifacts::remove_leftovers)).
    pub(crate) fn remove_leftovers(&self) {
        crate::artifacts::remove_leftovers(&self.path);
        crate::artifacts::remove_leftovers(&self.file(CHECKPOINT_DIR));
    }

    /// Loads `config.toml`.
    pub(crate) fn load_config(&self) -> Result<Config, RunDirError> {
        let path = self.file(CONFIG_FILE);
        let text = fs::read_to_string(&path).map_err(|source| ArtifactError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(Config::from_toml(&text, Origin::File(path))?)
    }

    /// Writes `config.toml`.
    pub(crate) fn save_config(&self, config: &Config) -> Result<(), ArtifactError> {
        crate::artifacts::write_atomic(&self.file(CONFIG_FILE), |f| {
            std::io::Write::write_all(f, config.to_toml().as_bytes())
        })
    }

    /// Saves the model's weights to `model.mpk` at full precision, sealed.
    pub(crate) fn save_model<B: FusedOps>(
        &self,
        model: &Autoencoder<B>,
    ) -> Result<(), ArtifactError> {
        let record = Recorder::<B>::record(&recorder(), model.clone().into_record(), ());
        write_sealed(&self.file(MODEL_FILE), record)
    }

    /// Loads `config.toml` and `model.mpk`, checking the weights fit the configured shape.
    pub fn load<B: FusedOps>(&self, device: &B::Device) -> Result<SavedRun<B>, RunDirError> {
        let config = self.load_config()?;
        let path = self.file(MODEL_FILE);
        let bytes = fs::read(&path).map_err(|source| ArtifactError::Read {
            path: path.clone(),
            source,
        })?;
        let bad = |reason: String| ArtifactError::BadModel {
            path: path.clone(),
            reason,
        };
        let payload = unseal(&bytes).map_err(bad)?.to_vec();
        let record = Recorder::<B>::load(&recorder(), payload, device)
            .map_err(|e| bad(recorder_reason(&e)))?;
        let model = model_from_record(record, config.model.hidden_size, device).map_err(bad)?;
        Ok(SavedRun { model, config })
    }
}

/// The model a record holds, if its weights fit `hidden_size` (Burn's `load_record` takes
/// tensors of any shape).
pub(crate) fn model_from_record<B: FusedOps>(
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
