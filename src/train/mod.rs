//! Training: Burn's `Learner` driven from a config, into a run folder. [`train`] prepares the
//! folder and the data, launches the Learner (`learner`) and finishes with the artifacts, or
//! with a stop that says what is kept. Its helpers: the per-epoch log ([`epoch_log`]), the stops
//! ([`stop`]), the dashboard ([`dashboard`]) and checkpoints ([`checkpoint`]).

pub mod checkpoint;
pub mod dashboard;
pub mod epoch_log;
mod learner;
pub mod stop;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::data::dataloader::DataLoader;
use burn::data::dataset::Dataset;

use self::checkpoint::ResumePoint;
use self::epoch_log::EpochLogger;
use self::learner::Run;
use self::stop::{SignalWatch, Stop, StopReason};
use crate::artifacts::ArtifactError;
use crate::config::{Config, NoiseKind, OptimizerKind};
use crate::data::{EpochLoader, MnistBatch, MnistSplits};
use crate::inspect::curve_title;
use crate::inspect::evaluate::{mean_squared_error, write_reconstruction_figure};
use crate::metrics::EpochRow;
use crate::model::fused::FusedAutodiff;
use crate::model::{Autoencoder, AutoencoderConfig};
use crate::render::chart::save_loss_chart;
use crate::run_dir::safetensors::Weights;
use crate::run_dir::{LOSS_FILE, RECONSTRUCTION_FILE, RunDir};
use crate::{Error, IMAGE_PIXELS};

/// What a finished training run produced.
#[derive(Debug)]
pub struct TrainReport {
    pub rows: Vec<EpochRow>,
    pub test_mse: f64,
    pub test_images: usize,
    pub output_dir: PathBuf,
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
    /// A file of the run could not be written (a full disk, say).
    Failed(ArtifactError),
    /// Burn's Learner stopped on an error of its own, with its message.
    Learner(String),
}

/// A run stopped before its last epoch; its checkpoints let `train --resume` continue it.
#[derive(Debug)]
pub struct Stopped {
    pub cause: StopCause,
    /// Epochs complete on disk (their row and their checkpoint): a resumed run continues after
    /// the last of them.
    pub epochs_done: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    pub output_dir: PathBuf,
}

#[derive(Debug)]
pub enum TrainOutcome {
    Finished(TrainReport),
    Stopped(Stopped),
}

/// Trains the autoencoder as `config` says and writes its artifacts to `output.dir`. With
/// `resume`, `output.dir` holds an earlier run, which continues after its last complete epoch.
pub fn train<B: FusedAutodiff>(
    config: &Config,
    resume: bool,
    device: &B::Device,
) -> Result<TrainOutcome, Error> {
    let dir = RunDir::new(&config.output.dir);
    dir.prepare()?;
    // Held until training returns: a second trainer on this folder stops here.
    let _lock = dir.lock()?;
    let start = starting_point(&dir, config, resume)?;
    // Checked before the data is read, so a wrong file fails at once.
    let init_weights = match &config.model.init_from {
        path if resume || path.as_os_str().is_empty() => None,
        path => Some(Weights::read(path, Some(config.model.hidden_size))?),
    };
    let tui = dashboard::use_tui(config.output.dashboard)?;
    let reading = Instant::now();
    let data = config.data.read_splits()?;
    let read_seconds = reading.elapsed().as_secs_f64();
    dir.save_config(config)?;
    if !tui {
        println!("{}", banner(config, &data, read_seconds));
        if resume {
            print_resumed(&dir, &start);
        }
    }
    let model = initial_model::<B>(config, init_weights.as_ref(), device)?;
    let stop = Stop::default();
    let signals = SignalWatch::start(stop.clone()).map_err(Error::Signals)?;
    let logger = EpochLogger::new(dir.path().into(), !tui, start.rows.clone(), stop.clone());
    let (epoch_logger, history) = logger;
    let (train_loader, valid_loader) = loaders::<B>(config, &data, start.epoch, device);
    let run = Run {
        dir: dir.path(),
        train_loader,
        valid_loader,
        epoch_logger,
        epochs: config.training.epochs,
        learning_rate: config.training.learning_rate,
        hidden_size: config.model.hidden_size,
        resume_epoch: start.epoch,
        stop: stop.clone(),
        tui,
        device,
    };
    let model = launch(run, model, config)?;
    drop(signals);
    let rows = std::mem::take(&mut history.lock().expect("epoch history lock").rows);
    if tui {
        // The dashboard has closed: the tutorial's lines on the normal screen.
        rows.iter()
            .for_each(|row| println!("{}", row.tutorial_line()));
    }
    finish::<B>(config, &dir, &model, rows, &stop, tui, &data, device)
}

/// The seed's draw, or the weights of `model.init_from`.
fn initial_model<B: FusedAutodiff>(
    config: &Config,
    init_weights: Option<&Weights>,
    device: &B::Device,
) -> Result<Autoencoder<B>, Error> {
    B::seed(device, config.training.seed);
    let model = AutoencoderConfig::from_settings(config.model.hidden_size, config.model.init);
    let model = model.init(device);
    Ok(match init_weights {
        Some(weights) => weights.load_into(model)?,
        None => model,
    })
}

/// Launches the Learner with the configured optimiser.
fn launch<B: FusedAutodiff>(
    run: Run<'_, B>,
    model: Autoencoder<B>,
    config: &Config,
) -> Result<Autoencoder<B::InnerBackend>, Error> {
    let rmsprop = &config.training.rmsprop;
    match config.training.optimizer {
        OptimizerKind::Tf1Rmsprop => run.launch(model, rmsprop.tf1().init()),
        OptimizerKind::BurnRmsprop => run.launch(model, rmsprop.burn().init()),
    }
}

/// Where a run starts: after the last complete epoch of the run in `dir` when resuming,
/// else at the beginning of a folder that must not hold a run.
fn starting_point(dir: &RunDir, config: &Config, resume: bool) -> Result<ResumePoint, Error> {
    if resume {
        // A run killed while it wrote a file left that file's temporary copy.
        dir.remove_leftovers();
        Ok(checkpoint::resume_point(
            dir.path(),
            config.training.epochs,
        )?)
    } else {
        dir.refuse_existing_run()?;
        Ok(ResumePoint {
            epoch: 0,
            rows: Vec::new(),
        })
    }
}

/// Where a resumed run continues, and the epochs it keeps.
fn print_resumed(dir: &RunDir, start: &ResumePoint) {
    let (dir, epoch) = (dir.path().display(), start.epoch);
    println!("Resuming '{dir}' after epoch {epoch}");
    for row in &start.rows {
        println!("{}", row.tutorial_line());
    }
}

/// The first line of a plain run: the model, the data and the settings.
fn banner(config: &Config, data: &MnistSplits, read_seconds: f64) -> String {
    let t = &config.training;
    format!(
        "Training {IMAGE_PIXELS}-{}-{IMAGE_PIXELS} on {} {} images ({} validate; data read in {read_seconds:.2} s) for {} epochs, batch {}, {} lr {}{}, backend {}",
        config.model.hidden_size,
        data.train.len(),
        config.data.dataset,
        data.valid.len(),
        t.epochs,
        t.batch_size,
        t.optimizer,
        t.learning_rate,
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
    let train: TrainLoader<B> = if config.data.shuffle {
        Arc::new(train)
    } else {
        Arc::new(train.in_file_order())
    };
    let valid =
        EpochLoader::new(data.valid.clone(), t.batch_size, None, 1, device).with_noise(noise);
    (train, Arc::new(valid))
}

/// After the Learner returns: a finished run's model, curve, test MSE and figure; or, for a
/// run cut short, the curve so far and why it stopped.
#[allow(clippy::too_many_arguments)]
fn finish<B: FusedAutodiff>(
    config: &Config,
    dir: &RunDir,
    model: &Autoencoder<B::InnerBackend>,
    rows: Vec<EpochRow>,
    stop: &Stop,
    tui: bool,
    data: &MnistSplits,
    device: &B::Device,
) -> Result<TrainOutcome, Error> {
    let draw_curve = || {
        let title = curve_title(config);
        save_loss_chart(
            &dir.file(LOSS_FILE),
            &rows,
            config.output.loss_scale,
            &title,
        )
    };
    let failure = stop.failure().take();
    if rows.len() < config.training.epochs || failure.is_some() {
        // What the disk holds whole, not what the epoch counter says: with a full disk an
        // epoch can have its row and not all of its checkpoint.
        let kept = checkpoint::last_complete(dir.path()).map_or(0, |point| point.epoch);
        // The checkpoints after it hold a partial, diverged or missing state.
        checkpoint::remove_after(dir.path(), kept);
        if !rows.is_empty() {
            // The curve so far; a failure to draw it must not hide why training stopped.
            let _ = draw_curve();
        }
        return Ok(TrainOutcome::Stopped(Stopped {
            cause: stop_cause(stop, failure, tui),
            epochs_done: kept,
            epochs: config.training.epochs,
            learning_rate: config.training.learning_rate,
            output_dir: dir.path().to_owned(),
        }));
    }
    dir.save_model(model)?;
    draw_curve()?;
    let test_mse = mean_squared_error(model, &data.test, device);
    let figure = dir.file(RECONSTRUCTION_FILE);
    let noise = config.training.noise();
    write_reconstruction_figure(
        model,
        &data.test,
        config.output.samples,
        noise,
        &figure,
        device,
    )?;
    Ok(TrainOutcome::Finished(TrainReport {
        rows,
        test_mse,
        test_images: data.test.len(),
        output_dir: dir.path().to_owned(),
    }))
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
