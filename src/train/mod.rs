//! Training: Burn's `Learner` driven from a config, into a run folder. [`train`] prepares the
//! folder and the data, launches the Learner (`learner`) and finishes with the artifacts, or
//! with a stop that says what is kept. Its helpers: the per-epoch log ([`epoch_log`]), the stops
//! ([`stop`]), the dashboard ([`dashboard`]) and checkpoints ([`checkpoint`]).

pub(crate) mod checkpoint;
pub(crate) mod dashboard;
pub(crate) mod epoch_log;
mod experiment_log;
mod learner;
pub mod stop;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::data::dataloader::DataLoader;
use burn::data::dataset::Dataset;

use self::checkpoint::ResumePoint;
use self::epoch_log::EpochLogger;
use self::learner::Run;
use self::stop::{Cleanup, OnSignal, Stop, StopReason, on_signal};
use crate::artifacts::{ArtifactError, shell_path};
use crate::assess::{curve_title, mean_squared_error, write_reconstruction_figure};
use crate::backend::{self, Kernels};
use crate::config::Config;
use crate::data::NoiseKind;
use crate::data::{EpochLoader, MnistBatch, MnistSplits};
use crate::fused::FusedAutodiff;
use crate::fused::plan::KernelChoice;
use crate::metrics::EpochRow;
use crate::model::{Autoencoder, ModelKind};
use crate::optim::OptimizerKind;
use crate::render::chart::save_loss_chart;
use crate::run_dir::safetensors::SafetensorsFile;
use crate::run_dir::{
    DirWatch, LOCK_FILE, LOSS_FILE, RECONSTRUCTION_FILE, RunDir, RunLock, check_output,
};

/// Everything that can stop `train` before it trains, each with a message a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    RunDir(#[from] crate::run_dir::RunDirError),
    #[error(transparent)]
    Dashboard(#[from] dashboard::NoTerminal),
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error(transparent)]
    Weights(#[from] crate::run_dir::safetensors::InteropError),
    #[error("cannot watch for Ctrl-C and SIGTERM: {0}")]
    Signals(#[source] std::io::Error),
}

/// What a finished training run produced.
#[derive(Debug)]
pub struct TrainReport {
    pub rows: Vec<EpochRow>,
    pub test_mse: f64,
    pub test_images: usize,
    pub output_dir: PathBuf,
    /// A signal that came after the last file was written: the run is whole, and the command
    /// ends as that signal asks.
    pub late_signal: Option<StopReason>,
}

/// The message of the stop Burn's dashboard asks for when the user quits it.
const DASHBOARD_QUIT: &str = "Stopping training from user input.";

/// Why a run stopped before its last epoch.
#[derive(Debug)]
pub enum StopCause {
    /// A signal or a diverging loss.
    Asked(StopReason),
    /// The dashboard's quit menu.
    Dashboard,
    /// A file of the run could not be written (a full disk, say), or its folder vanished.
    Failed(ArtifactError),
    /// Burn's Learner stopped on an error of its own, with its message.
    Learner(String),
}

/// A run stopped before it wrote all of its files; its checkpoints let `train --resume`
/// continue it.
#[derive(Debug)]
pub struct Stopped {
    pub cause: StopCause,
    /// Epochs complete on disk (their row and their checkpoint): a resumed run continues after
    /// the last of them.
    pub epochs_done: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    /// `training.rmsprop.epsilon`: 0 can divide by zero, which no resume can change.
    pub epsilon: f32,
    /// Where the run is now: its folder, or where that folder was moved to.
    pub output_dir: PathBuf,
    /// The run's folder is gone (removed, or moved where this system cannot follow it).
    pub gone: bool,
}

#[derive(Debug)]
pub enum TrainOutcome {
    Finished(TrainReport),
    Stopped(Stopped),
}

/// Trains the autoencoder as `config` says and writes its artifacts to `output.dir`. With
/// `resume`, `output.dir` holds an earlier run, which continues after its last complete epoch
/// (or, when all its epochs are done, writes the final files it lacks).
///
/// From its start to its end a SIGINT or SIGTERM ends it with a state `train --resume` (or,
/// before anything of the run is written, a new `train`) accepts: see [`stop::OnSignal`].
pub fn train<B: FusedAutodiff>(
    config: &Config,
    resume: bool,
    device: &B::Device,
) -> Result<TrainOutcome, Error> {
    stop::watch_signals().map_err(Error::Signals)?;
    let folder = open_folder::<B>(config, resume, device)?;
    let (dir, start) = (&folder.dir, &folder.start);
    // Checked before the data is read, so a wrong file fails at once.
    let init = initial_weights::<B>(dir, config, resume, start.epoch, device)?;
    let tui = dashboard::use_tui(config.output.dashboard)?;
    let (data, reading) = read_data(config)?;
    let (config, kernels) = &plan_kernels::<B>(config, &data);
    let model = initial_model::<B>(config, init.weights, device)?;

    // From here the run's files are written: a signal asks it to stop at the next check.
    let stop = Stop::default();
    on_signal(OnSignal::Stop(stop.clone()));
    if init.save {
        dir.save_init(&model)?;
    }
    dir.save_config(config)?;
    let finishing = start.epoch >= config.training.epochs;
    if !tui || finishing {
        println!("{}", banner(config, &data, &reading));
        // The plan is for the dense layers' products; a convolutional model has none.
        if config.model.kind != ModelKind::Conv {
            println!("Kernels ({}): {}", kernels.source, kernels.plan);
        }
        if resume {
            print_resumed(dir, start, finishing);
        }
    }
    let watch = &folder.watch;
    let run = Finish {
        config,
        dir,
        watch,
        stop: &stop,
        tui,
    };
    if stop.requested() {
        return Ok(run.stopped(folder.start.rows));
    }
    let (model, rows) = if finishing {
        let (epoch, spec) = (start.epoch, &config.autoencoder());
        let model = checkpoint::load_model::<B::InnerBackend>(dir.path(), epoch, spec, device)?;
        (model, folder.start.rows)
    } else {
        let start = folder.start;
        train_epochs(config, dir, watch, &stop, tui, &data, start, model, device)?
    };
    Ok(run.finish::<B>(&model, rows, &data, device))
}

/// The run folder a training holds: locked, watched, and where in it the run starts.
struct HeldFolder {
    dir: RunDir,
    /// Held until training returns: a second trainer on this folder stops at it.
    _lock: RunLock,
    watch: Arc<DirWatch>,
    start: ResumePoint,
    /// Dropped after the lock: the folders this command made go again if nothing was written
    /// in them (a training that failed before its first file).
    _made: MadeFolders,
}

/// The folders a command made for its run folder (the run folder first, then its parents up to
/// the first that existed): when dropped, each that is still empty is removed, so that a
/// command that fails before it writes anything leaves no empty folders behind.
struct MadeFolders(Vec<PathBuf>);

impl MadeFolders {
    /// The folders of `path` that do not exist yet, deepest first.
    fn missing(path: &Path) -> Self {
        Self(
            path.ancestors()
                .take_while(|folder| !folder.as_os_str().is_empty() && !folder.exists())
                .map(Path::to_owned)
                .collect(),
        )
    }
}

impl Drop for MadeFolders {
    fn drop(&mut self) {
        // `remove_dir` removes empty folders only: a folder with the run's files stays, and so
        // do its parents.
        for folder in &self.0 {
            if fs::remove_dir(folder).is_err() {
                break;
            }
        }
    }
}

/// Makes or opens the run folder of `config` (an earlier run's when `resume`), locks it and
/// finds where the run starts, removing what a killed run left; until training starts a
/// signal ends the command at once, leaving no lock and no folder it made.
fn open_folder<B: FusedAutodiff>(
    config: &Config,
    resume: bool,
    device: &B::Device,
) -> Result<HeldFolder, Error> {
    let dir = RunDir::new(&config.output.dir);
    if !resume {
        check_output(dir.path(), "output.dir =")?;
    }
    let made = !dir.path().exists();
    let made_folders = MadeFolders::missing(dir.path());
    on_signal(exit_before_training(&dir, resume, None, made, false));
    dir.prepare()?;
    let lock = dir.lock()?;
    on_signal(exit_before_training(&dir, resume, None, made, true));
    let watch = Arc::new(dir.watch()?);
    let start = starting_point::<B>(&dir, config, resume, device)?;
    // A run killed while it wrote a file left that file's temporary copy.
    dir.remove_leftovers();
    let epoch = Some(start.epoch);
    on_signal(exit_before_training(&dir, resume, epoch, made, true));
    for skipped in &start.skipped {
        eprintln!("warning: {skipped}; continuing from the epoch before it");
    }
    Ok(HeldFolder {
        dir,
        _lock: lock,
        watch,
        start,
        _made: made_folders,
    })
}

/// Makes a signal end `train` at once, with its line, until it knows its run folder: for the
/// moments in which its config is read. `resume`: the folder of a run to resume.
pub fn stop_at_once_before_training(resume: Option<&Path>) {
    let dir = RunDir::new(resume.unwrap_or(Path::new(".")));
    on_signal(exit_before_training(
        &dir,
        resume.is_some(),
        None,
        false,
        false,
    ));
}

/// The kernels of the step's products (`backend.kernels`), made the backend's (and, for a
/// convolutional model, the allocator kept from returning its arrays), and the config as the
/// run records it: with the plan `auto` chose, so that a resume computes alike.
fn plan_kernels<B: FusedAutodiff>(config: &Config, data: &MnistSplits) -> (Config, Kernels) {
    let batch = config.training.batch_size.min(data.train.len());
    let images = || {
        let mut pixels = Vec::new();
        for index in 0..(8 * batch).min(data.train.len()) {
            data.train.push_scaled(index, &mut pixels);
        }
        pixels
    };
    let kernels = backend::prepare_kernels(
        config.backend.kernels,
        batch,
        config.model.hidden_size,
        images,
    );
    B::use_plan(kernels.plan);
    if config.model.kind == ModelKind::Conv {
        backend::keep_freed_memory();
    }
    let mut config = config.clone();
    if config.backend.kernels == KernelChoice::Auto {
        config.backend.kernels = KernelChoice::Forced(kernels.plan);
    }
    (config, kernels)
}

/// What a signal does before training starts: nothing of the run is written yet (beyond what
/// an earlier run left), so the command ends at once, leaving no lock (when it holds it) and
/// no folder it made.
fn exit_before_training(
    dir: &RunDir,
    resume: bool,
    epochs_done: Option<usize>,
    made: bool,
    locked: bool,
) -> OnSignal {
    let path = dir.path().to_owned();
    let message = move |reason: StopReason| {
        if resume {
            let kept = match epochs_done {
                Some(0) => "no epoch is checkpointed".to_owned(),
                Some(n) => format!("epochs 1-{n} are checkpointed"),
                None => "nothing in it changed".to_owned(),
            };
            format!(
                "Stopped by {reason} before training resumed; {kept}; continue with: mnist-autoencoder train --resume {}",
                shell_path(&path)
            )
        } else {
            format!(
                "Stopped by {reason} before training started; nothing of the run was written; start it again with the same command"
            )
        }
    };
    OnSignal::Exit {
        message: Box::new(message),
        cleanup: Cleanup {
            files: locked.then(|| dir.file(LOCK_FILE)).into_iter().collect(),
            empty_dir: made.then(|| dir.path().to_owned()),
        },
    }
}

/// The weights a run starts from when not from the seed's draw, and whether to keep a copy in
/// the run folder (`init.mpk`).
struct InitialWeights<B: FusedAutodiff> {
    weights: Option<Autoencoder<B>>,
    save: bool,
}

/// A new run's `model.init_from`; a run resumed before its first checkpoint, the weights it
/// started from (`init.mpk`, or its `model.init_from` file for a run made before that file
/// was kept).
fn initial_weights<B: FusedAutodiff>(
    dir: &RunDir,
    config: &Config,
    resume: bool,
    epoch: usize,
    device: &B::Device,
) -> Result<InitialWeights<B>, Error> {
    let spec = &config.autoencoder();
    let from_file = || -> Result<Option<Autoencoder<B>>, Error> {
        let path = &config.model.init_from;
        if path.as_os_str().is_empty() {
            return Ok(None);
        }
        let weights = SafetensorsFile::open(path)?.weights(spec)?;
        Ok(Some(weights.load_into(spec.init(device))?))
    };
    if epoch > 0 {
        return Ok(InitialWeights {
            weights: None,
            save: false,
        });
    }
    let kept = if resume {
        dir.load_init::<B>(spec, device)?
    } else {
        None
    };
    let save = kept.is_none();
    let weights = match kept {
        Some(weights) => Some(weights),
        None => from_file()?,
    };
    Ok(InitialWeights {
        save: save && weights.is_some(),
        weights,
    })
}

/// The seed's draw, or `weights`: the seed is drawn from either way, so that anything after
/// it draws the same numbers.
fn initial_model<B: FusedAutodiff>(
    config: &Config,
    weights: Option<Autoencoder<B>>,
    device: &B::Device,
) -> Result<Autoencoder<B>, Error> {
    B::seed(device, config.training.seed);
    let model = config.autoencoder().init(device);
    Ok(weights.unwrap_or(model))
}

/// The epochs after `start`, through Burn's Learner: the model as training left it and the
/// rows of every epoch done.
#[allow(clippy::too_many_arguments)]
fn train_epochs<B: FusedAutodiff>(
    config: &Config,
    dir: &RunDir,
    watch: &Arc<DirWatch>,
    stop: &Stop,
    tui: bool,
    data: &MnistSplits,
    start: ResumePoint,
    model: Autoencoder<B>,
    device: &B::Device,
) -> Result<(Autoencoder<B::InnerBackend>, Vec<EpochRow>), Error> {
    let logger = EpochLogger::new(
        dir.path().into(),
        watch.clone(),
        !tui,
        start.rows.clone(),
        stop.clone(),
    );
    let (epoch_logger, history) = logger;
    let (train_loader, valid_loader) = loaders::<B>(config, data, start.epoch, device);
    let run = Run {
        dir: dir.path(),
        train_loader,
        valid_loader,
        epoch_logger,
        epochs: config.training.epochs,
        learning_rate: config.training.learning_rate,
        spec: &config.autoencoder(),
        resume_epoch: start.epoch,
        stop: stop.clone(),
        watch: watch.clone(),
        tui,
        device,
    };
    let model = launch(run, model, config)?;
    let rows = std::mem::take(&mut history.lock().expect("epoch history lock").rows);
    if tui {
        // The dashboard has closed: the tutorial's lines on the normal screen.
        rows.iter()
            .for_each(|row| println!("{}", row.tutorial_line()));
    }
    Ok((model, rows))
}

/// Launches the Learner with the configured optimiser.
fn launch<B: FusedAutodiff>(
    run: Run<'_, B>,
    model: Autoencoder<B>,
    config: &Config,
) -> Result<Autoencoder<B::InnerBackend>, Error> {
    let rmsprop = &config.training.rmsprop;
    Ok(match config.training.optimizer {
        OptimizerKind::Tf1Rmsprop => run.launch(model, rmsprop.tf1().init())?,
        OptimizerKind::BurnRmsprop => run.launch(model, rmsprop.burn().init())?,
        OptimizerKind::Adam => run.launch(model, config.training.adam.burn().init())?,
    })
}

/// Where a run starts: after the last complete epoch of the run in `dir` when resuming,
/// else at the beginning of a folder that must not hold a run.
fn starting_point<B: FusedAutodiff>(
    dir: &RunDir,
    config: &Config,
    resume: bool,
    device: &B::Device,
) -> Result<ResumePoint, Error> {
    if resume {
        Ok(checkpoint::resume_point::<B::InnerBackend>(
            dir.path(),
            config.training.epochs,
            &config.autoencoder(),
            device,
        )?)
    } else {
        dir.refuse_existing_run("output.dir =", "--set output.dir=")?;
        Ok(ResumePoint::start())
    }
}

/// Where a resumed run continues, and the epochs it keeps.
fn print_resumed(dir: &RunDir, start: &ResumePoint, finishing: bool) {
    let (dir, epoch) = (dir.path().display(), start.epoch);
    if finishing {
        println!("Finishing '{dir}': its {epoch} epochs are done; writing the files it lacks");
    } else {
        println!("Resuming '{dir}' after epoch {epoch}");
    }
    for row in &start.rows {
        println!("{}", row.tutorial_line());
    }
}

/// How long the data took to read, and then to move onto huge pages.
struct Reading {
    seconds: f64,
    huge_bytes: usize,
    huge_seconds: f64,
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "data read in {:.2} s", self.seconds)?;
        if self.huge_bytes > 0 {
            let mb = self.huge_bytes as f64 / 1e6;
            write!(
                f,
                ", {mb:.0} MB onto huge pages in {:.2} s",
                self.huge_seconds
            )?;
        }
        Ok(())
    }
}

/// Reads the configured data, then moves the training images onto huge pages (see
/// `MnistDataset::onto_huge_pages`), timing each.
fn read_data(config: &Config) -> Result<(MnistSplits, Reading), Error> {
    let started = Instant::now();
    let data = config
        .data
        .source()
        .read_splits(config.data.validation_size, config.data.train_limit)?;
    let seconds = started.elapsed().as_secs_f64();
    let moving = Instant::now();
    let huge_bytes = data.train.onto_huge_pages();
    let reading = Reading {
        seconds,
        huge_bytes,
        huge_seconds: moving.elapsed().as_secs_f64(),
    };
    Ok((data, reading))
}

/// The first line of a plain run: the model, the data and the settings.
fn banner(config: &Config, data: &MnistSplits, reading: &Reading) -> String {
    let t = &config.training;
    format!(
        "Training {} on {} {} images ({} validate; {reading}) for {} epochs, batch {}, {} lr {}{}, backend {}",
        config.autoencoder().describe(),
        data.train.len(),
        config.data.dataset,
        data.valid.len(),
        t.epochs,
        t.batch_size,
        t.optimizer,
        crate::config::short_number(t.learning_rate),
        match t.noise {
            NoiseKind::None => String::new(),
            kind => format!(", {kind:?} noise {}", t.noise_level).to_lowercase(),
        },
        crate::backend::BACKEND_NAME,
    )
}

type TrainLoader<B> = Arc<dyn DataLoader<B, MnistBatch<B>>>;
type ValidLoader<B> = Arc<
    dyn DataLoader<
            <B as burn::tensor::backend::AutodiffBackend>::InnerBackend,
            MnistBatch<<B as burn::tensor::backend::AutodiffBackend>::InnerBackend>,
        >,
>;

/// The training loader (its order from the seed and epoch, or file order) and the validation
/// loader, both with the configured noise; training continues after `start_epoch`.
fn loaders<B: FusedAutodiff>(
    config: &Config,
    data: &MnistSplits,
    start_epoch: usize,
    device: &B::Device,
) -> (TrainLoader<B>, ValidLoader<B>) {
    let t = &config.training;
    let noise = t.noise();
    let seed = Some(t.seed);
    let train = EpochLoader::new(
        data.train.clone(),
        t.batch_size,
        seed,
        start_epoch + 1,
        device,
    )
    .with_noise(noise);
    let train = match config.model.kind {
        ModelKind::Vae => train.with_latent_noise(config.model.hidden_size),
        _ => train,
    };
    let train: TrainLoader<B> = if config.data.shuffle {
        Arc::new(train)
    } else {
        Arc::new(train.in_file_order())
    };
    let valid =
        EpochLoader::new(data.valid.clone(), t.batch_size, None, 1, device).with_noise(noise);
    (train, Arc::new(valid))
}

/// The end of a run: its final files, or a stop that says what is kept.
struct Finish<'a> {
    config: &'a Config,
    dir: &'a RunDir,
    watch: &'a DirWatch,
    stop: &'a Stop,
    tui: bool,
}

impl Finish<'_> {
    /// After the epochs: a finished run's model, curve, test MSE and figure, each written only
    /// while no stop was asked for and the folder is still there; or, for a run cut short, the
    /// curve so far and why it stopped.
    fn finish<B: FusedAutodiff>(
        &self,
        model: &Autoencoder<B::InnerBackend>,
        rows: Vec<EpochRow>,
        data: &MnistSplits,
        device: &B::Device,
    ) -> TrainOutcome {
        if rows.len() < self.config.training.epochs || self.stop.requested() {
            return self.stopped(rows);
        }
        // Each file only while no stop was asked for and the folder is still the run's.
        let write = |step: &dyn Fn() -> Result<(), ArtifactError>| {
            if self.stop.requested() {
                return false;
            }
            match self.watch.check().and_then(|()| step()) {
                Ok(()) => true,
                Err(error) => {
                    self.stop.fail(error);
                    false
                }
            }
        };
        let figure = self.dir.file(RECONSTRUCTION_FILE);
        let (noise, samples) = (self.config.training.noise(), self.config.output.samples);
        let mut test_mse = f64::NAN;
        let done = write(&|| self.dir.save_model(model)) && write(&|| self.draw_curve(&rows)) && {
            test_mse = mean_squared_error(model, &data.test, device);
            write(&|| {
                write_reconstruction_figure(model, &data.test, samples, noise, &figure, device)
            })
        };
        if !done {
            return self.stopped(rows);
        }
        // The files are whole: a signal that came after the last of them ends the command
        // as it asks, with nothing left to do.
        TrainOutcome::Finished(TrainReport {
            rows,
            test_mse,
            test_images: data.test.len(),
            output_dir: self.dir.path().to_owned(),
            late_signal: self.stop.reason(),
        })
    }

    fn draw_curve(&self, rows: &[EpochRow]) -> Result<(), ArtifactError> {
        let title = curve_title(self.config);
        let path = self.dir.file(LOSS_FILE);
        save_loss_chart(&path, rows, self.config.output.loss_scale, &title)
    }

    /// A run that stopped before it wrote all its files: what is kept, where, and why.
    fn stopped(&self, rows: Vec<EpochRow>) -> TrainOutcome {
        let failure = self.stop.failure().take();
        let vanished = self.watch.check().err();
        // Where the run is now: here, where it was moved, or nowhere.
        let here = match &vanished {
            None => Some(self.dir.path().to_owned()),
            Some(ArtifactError::Vanished { moved_to, .. }) => moved_to.clone(),
            Some(_) => None,
        };
        // What the disk holds whole, not what the epoch counter says: with a full disk an
        // epoch can have its row and not all of its checkpoint.
        let kept = here.as_deref().map_or(0, |dir| {
            checkpoint::last_complete(dir).map_or(0, |point| point.epoch)
        });
        if let Some(dir) = &here {
            // The checkpoints after it hold a partial, diverged or missing state.
            checkpoint::remove_after(dir, kept);
        }
        if vanished.is_none() && !rows.is_empty() {
            // The curve so far; a failure to draw it must not hide why training stopped.
            let _ = self.draw_curve(&rows);
        }
        let cause = match vanished {
            // The vanished folder explains any write that failed.
            Some(vanished) => StopCause::Failed(vanished),
            None => stop_cause(self.stop, failure, self.tui),
        };
        TrainOutcome::Stopped(Stopped {
            cause,
            epochs_done: kept,
            epochs: self.config.training.epochs,
            learning_rate: self.config.training.learning_rate,
            epsilon: self.config.training.rmsprop.epsilon,
            gone: here.is_none(),
            output_dir: here.unwrap_or_else(|| self.dir.path().to_owned()),
        })
    }
}

/// Why a run ended before its last epoch: a failed write first, then a stop asked for, then
/// the dashboard's quit menu, then whatever Burn's Learner said.
fn stop_cause(stop: &Stop, failure: Option<ArtifactError>, tui: bool) -> StopCause {
    match (failure, stop.reason(), stop.message()) {
        (Some(error), _, _) => StopCause::Failed(error),
        (None, Some(reason), _) => StopCause::Asked(reason),
        (None, None, Some(message)) if tui && message == DASHBOARD_QUIT => StopCause::Dashboard,
        (None, None, message) => StopCause::Learner(
            message.unwrap_or_else(|| "Burn's Learner stopped without a reason".to_owned()),
        ),
    }
}
