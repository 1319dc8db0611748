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

pub(crate) use self::lock::LOCK_FILE;
pub use self::lock::RunLock;
use self::record::{recorder, recorder_reason, unseal, upgrade_tutorial_record, write_sealed};
use crate::artifacts::ArtifactError;
use crate::config::{Config, ConfigError, Origin};
use crate::fused::FusedOps;
pub(crate) use crate::metrics::METRICS_FILE;
use crate::model::{Autoencoder, AutoencoderConfig};

/// The resolved config a run folder keeps beside its model.
pub(crate) const CONFIG_FILE: &str = "config.toml";
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
pub(crate) const GENERATED_FILE: &str = "generated.png";
pub(crate) const WORST_FILE: &str = "worst.png";
pub(crate) const OWN_IMAGES_FILE: &str = "own-images.png";
/// The weights a run started from, when they did not come from the seed (`train --init-from`,
/// `import`): a resume before the first checkpoint starts from them again.
pub(crate) const INIT_FILE: &str = "init.mpk";
/// Burn's own log of a training run.
pub(crate) const EXPERIMENT_LOG: &str = "experiment.log";
/// What `export` writes.
pub(crate) const SAFETENSORS_FILE: &str = "model.safetensors";
/// What a finished run has written besides its epochs: a run missing any of them is finished
/// by `train --resume`.
pub(crate) const FINAL_FILES: [&str; 3] = [MODEL_FILE, LOSS_FILE, RECONSTRUCTION_FILE];
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

/// The files of a run that only `train` on that run writes: no other command's output may
/// name them.
const KEPT_FILES: [&str; 6] = [
    CONFIG_FILE,
    MODEL_FILE,
    METRICS_FILE,
    INIT_FILE,
    LOCK_FILE,
    EXPERIMENT_LOG,
];
/// The folders of a run whose contents only `train` on that run writes.
const KEPT_FOLDERS: [&str; 3] = [CHECKPOINT_DIR, TRAIN_LOG_DIR, VALID_LOG_DIR];

/// Why a run could not be opened: its files, or its config.
#[derive(Debug, Error)]
pub enum RunDirError {
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("--resume '{}': cannot read its config.toml ({source}); pass the output.dir of an earlier `train`", dir.display())]
    NoRun {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
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

    /// `given` (by the flag `what`), or else `name` inside the folder: where a command writes
    /// its output, checked not to be a file the run keeps ([`check_output`]). The temporary
    /// copies of it that a killed command left are removed.
    pub fn output(
        &self,
        given: Option<&Path>,
        name: &str,
        what: &'static str,
    ) -> Result<PathBuf, ArtifactError> {
        let path = given.map_or_else(|| self.file(name), Path::to_owned);
        check_output(&path, what)?;
        crate::artifacts::remove_leftovers_for(&path, ".tmp");
        Ok(path)
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

    /// A run's files are never overwritten by another run. `what` is how the folder was named
    /// (`output.dir =`, `--output`), `flag` the flag that names another one (`--set
    /// output.dir=`, `--output `), for the suggestion: the first free `DIR-N`.
    pub(crate) fn refuse_existing_run(
        &self,
        what: &'static str,
        flag: &str,
    ) -> Result<(), ArtifactError> {
        let Some(marker) = self.marker() else {
            return Ok(());
        };
        let free = self.free_sibling();
        Err(ArtifactError::HoldsRun {
            what,
            dir: self.path.clone(),
            marker,
            // `--set output.dir=` + the folder: the last word is what may need quoting.
            suggestion: match flag.rsplit_once(' ') {
                Some((head, tail)) => format!(
                    "{head} {}",
                    crate::artifacts::shell_word(&format!("{tail}{}", free.display()))
                ),
                None => crate::artifacts::shell_word(&format!("{flag}{}", free.display())),
            },
        })
    }

    /// The first `DIR-2`, `DIR-3`, ... beside this folder that holds no run: a new folder to
    /// suggest.
    pub fn free_sibling(&self) -> PathBuf {
        (2..)
            .map(|n| PathBuf::from(format!("{}-{n}", self.path.display())))
            .find(|dir| RunDir::new(dir).marker().is_none())
            .expect("some DIR-N is free")
    }

    /// The first file or folder that marks this folder as holding a run.
    fn marker(&self) -> Option<&'static str> {
        RUN_MARKERS.into_iter().find(|m| self.file(m).exists())
    }

    /// Whether the folder holds a run: a `config.toml` this program can read.
    fn is_run(&self) -> bool {
        self.config_text()
            .is_ok_and(|text| Config::from_toml(&text, Origin::Default).is_ok())
    }

    /// The text of `config.toml`.
    fn config_text(&self) -> std::io::Result<String> {
        fs::read_to_string(self.file(CONFIG_FILE))
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
        let text = self.config_text().map_err(|source| ArtifactError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(Config::from_toml(&text, Origin::File(path))?)
    }

    /// The config of a run to resume: its `config.toml`, then `--set` flags for the keys a
    /// resumed run may change; `output.dir` becomes this folder.
    pub fn resume_config(&self, sets: &[String]) -> Result<Config, RunDirError> {
        let text = self.config_text().map_err(|source| RunDirError::NoRun {
            dir: self.path.clone(),
            source,
        })?;
        let mut config = Config::for_resume(&text, &self.file(CONFIG_FILE), sets)?;
        config.output.dir = self.path.clone();
        Ok(config)
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
        save_record(&self.file(MODEL_FILE), model)
    }

    /// Saves the weights a run starts from to `init.mpk`.
    pub(crate) fn save_init<B: FusedOps>(
        &self,
        model: &Autoencoder<B>,
    ) -> Result<(), ArtifactError> {
        save_record(&self.file(INIT_FILE), model)
    }

    /// The weights in `init.mpk`, if the run has that file.
    pub(crate) fn load_init<B: FusedOps>(
        &self,
        spec: &AutoencoderConfig,
        device: &B::Device,
    ) -> Result<Option<Autoencoder<B>>, ArtifactError> {
        let path = self.file(INIT_FILE);
        if !path.exists() {
            return Ok(None);
        }
        load_record(&path, spec, device).map(Some)
    }

    /// Loads `config.toml` and `model.mpk`, checking the weights fit the configured shape and
    /// are finite.
    pub fn load<B: FusedOps>(&self, device: &B::Device) -> Result<SavedRun<B>, RunDirError> {
        let config = self.load_config()?;
        let path = self.file(MODEL_FILE);
        if !path.exists()
            && let Some(pid) = RunLock::holder(&self.path)
        {
            return Err(ArtifactError::StillTraining {
                dir: self.path.clone(),
                file: MODEL_FILE,
                pid,
            }
            .into());
        }
        let model = load_record(&path, &config.autoencoder(), device)?;
        Ok(SavedRun { model, config })
    }

    /// Watches the folder from now on (see [`DirWatch`]).
    pub(crate) fn watch(&self) -> Result<DirWatch, ArtifactError> {
        DirWatch::new(&self.path).map_err(|source| ArtifactError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// Writes `model`'s record to `path`, sealed.
fn save_record<B: FusedOps>(path: &Path, model: &Autoencoder<B>) -> Result<(), ArtifactError> {
    let record = Recorder::<B>::record(&recorder(), model.clone().into_record(), ());
    write_sealed(path, record)
}

/// The model of the sealed record at `path`, checked to be `spec`'s and to be finite.
fn load_record<B: FusedOps>(
    path: &Path,
    spec: &AutoencoderConfig,
    device: &B::Device,
) -> Result<Autoencoder<B>, ArtifactError> {
    let bytes = fs::read(path).map_err(|source| ArtifactError::Read {
        path: path.to_owned(),
        source,
    })?;
    let bad = |reason: String| ArtifactError::BadModel {
        path: path.to_owned(),
        reason,
    };
    let payload = unseal(&bytes).map_err(bad)?.to_vec();
    let payload = upgrade_tutorial_record::<B>(&payload).unwrap_or(payload);
    let record =
        Recorder::<B>::load(&recorder(), payload, device).map_err(|e| bad(recorder_reason(&e)))?;
    model_from_record(record, spec, device).map_err(bad)
}

/// Refuses `path` as the output of a command (named by `what`: `--output`, `output.dir =`)
/// when it is, or lies inside, a file or folder that a run keeps ([`KEPT_FILES`],
/// [`KEPT_FOLDERS`]): no command but `train` on that run writes over them. Links are resolved
/// first.
pub(crate) fn check_output(path: &Path, what: &'static str) -> Result<(), ArtifactError> {
    let resolved = resolve(path);
    let mut child = resolved.as_path();
    while let Some(parent) = child.parent() {
        let name = child.file_name().unwrap_or_default().to_string_lossy();
        let whole = child == resolved;
        let role = if whole && KEPT_FILES.contains(&&*name) {
            Some(format!("the {name}"))
        } else if KEPT_FOLDERS.contains(&&*name) {
            Some(if whole {
                format!("the {name} folder")
            } else {
                format!("inside the {name} folder")
            })
        } else {
            None
        };
        if let Some(role) = role
            && RunDir::new(parent).is_run()
        {
            return Err(ArtifactError::RunFile {
                what,
                path: path.to_owned(),
                role,
                run: parent.to_owned(),
            });
        }
        child = parent;
    }
    Ok(())
}

/// `path` with its links resolved: the path itself when it exists, else its folder.
fn resolve(path: &Path) -> PathBuf {
    if let Ok(real) = fs::canonicalize(path) {
        return real;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (fs::canonicalize(parent), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_owned(),
    }
}

/// A run folder watched while a run writes to it: whether the folder at its path is still the
/// one the run started in, and where it went if it was moved.
#[derive(Debug)]
pub(crate) struct DirWatch {
    dir: PathBuf,
    /// The folder itself, held open: it follows a move.
    #[cfg(unix)]
    held: fs::File,
}

impl DirWatch {
    fn new(dir: &Path) -> std::io::Result<Self> {
        Ok(Self {
            dir: dir.to_owned(),
            #[cfg(unix)]
            held: fs::File::open(dir)?,
        })
    }

    /// `Ok` while the folder at the run's path is the one it started in.
    pub(crate) fn check(&self) -> Result<(), ArtifactError> {
        if self.present() {
            Ok(())
        } else {
            Err(ArtifactError::Vanished {
                dir: self.dir.clone(),
                moved_to: self.moved_to(),
            })
        }
    }

    #[cfg(unix)]
    fn present(&self) -> bool {
        same_folder(&self.held, &self.dir)
    }

    #[cfg(not(unix))]
    fn present(&self) -> bool {
        self.dir.is_dir()
    }

    /// Where the folder is now, if it was moved and this system can tell (Linux).
    fn moved_to(&self) -> Option<PathBuf> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let link = fs::read_link(format!("/proc/self/fd/{}", self.held.as_raw_fd())).ok()?;
            (link != self.dir && same_folder(&self.held, &link)).then_some(link)
        }
        #[cfg(not(target_os = "linux"))]
        None
    }
}

/// Whether `held` is the folder at `path`.
#[cfg(unix)]
fn same_folder(held: &fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (held.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The model a record holds, if it is the model `spec` describes (Burn's `load_record` takes
/// tensors of any shape) and its weights are all finite.
pub(crate) fn model_from_record<B: FusedOps>(
    record: <Autoencoder<B> as Module<B>>::Record,
    spec: &AutoencoderConfig,
    device: &B::Device,
) -> Result<Autoencoder<B>, String> {
    let template = spec.init(device);
    let expected = template.parameter_shapes();
    let model = template.load_checked(record)?;
    let found = model.parameter_shapes();
    if let Some(((name, want), (_, shape))) = expected
        .iter()
        .zip(&found)
        .find(|((_, want), (_, shape))| want != shape)
    {
        return Err(format!(
            "{name} has shape {shape:?}; the config's {} needs {want:?} (check the [model] keys of its config.toml)",
            spec.shape_keys()
        ));
    }
    if let Some((name, bad, of)) = model.non_finite() {
        return Err(format!(
            "{name} holds {bad} non-finite values (NaN or infinite) of {of}; it cannot be used"
        ));
    }
    Ok(model)
}
