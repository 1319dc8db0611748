//! Training with Burn's `Learner`, and the commands that use a trained model.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::data::dataset::Dataset;
use burn::optim::Optimizer;
use burn::prelude::*;
use burn::record::{Record, Recorder};
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::LossMetric;
use burn::train::{Learner, SupervisedTraining};

use crate::artifacts::{
    self, ArtifactError, CONFIG_FILE, METRICS_FILE, MODEL_FILE, RECONSTRUCTION_FILE, RunLock,
    write_atomic,
};
use crate::checkpoint::{self, CheckpointError, CheckpointRecorder, KEPT_CHECKPOINTS, ResumePoint};
use crate::commands::{LOSS_FILE, curve_title};
use crate::config::{Config, DataConfig, NoiseKind, OptimizerKind};
use crate::dashboard::{self, PlainRenderer};
use crate::data::{
    EpochLoader, LabeledImages, MnistBatch, MnistDataset, MnistPart, Noise, download,
    split_train_valid,
};
use crate::epoch_log::{EpochLogger, EpochRow};
use crate::evaluate::{mean_squared_error, write_reconstruction_figure};
use crate::fused::{FusedAutodiff, FusedOps};
use crate::interop::Weights;
use crate::model::{Autoencoder, AutoencoderConfig};
use crate::plots::save_loss_chart;
use crate::stop::{SignalWatch, Stop, StopReason};
use crate::{Error, IMAGE_PIXELS};

/// Files and folders that mark a directory as holding a run.
const RUN_MARKERS: [&str; 6] = [
    CONFIG_FILE,
    MODEL_FILE,
    METRICS_FILE,
    "checkpoint",
    "train",
    "valid",
];

/// MNIST as the tutorial splits it.
pub struct MnistSplits {
    pub train: MnistDataset,
    pub valid: MnistDataset,
    pub test: MnistDataset,
}

/// Makes sure the files are in `data.dir` (downloading what is missing when allowed) and
/// reads them, split as the tutorial does.
pub fn load_mnist(data: &DataConfig) -> Result<MnistSplits, Error> {
    let train = load_part(data, MnistPart::Train)?;
    if data.validation_size >= train.len() {
        return Err(Error::Setting {
            key: "data.validation_size",
            value: data.validation_size.to_string(),
            reason: format!(
                "must be below the {} training images in '{}'",
                train.len(),
                data.dir.display()
            ),
        });
    }
    let test = load_part(data, MnistPart::Test)?;
    let (train, valid) = split_train_valid(&train, data.validation_size, data.train_limit);
    Ok(MnistSplits {
        train,
        valid,
        test: test.dataset(),
    })
}

/// Reads one part of MNIST, downloading missing files first when `data.download` is set.
pub fn load_part(data: &DataConfig, part: MnistPart) -> Result<LabeledImages, Error> {
    if data.download {
        let fetched = download::download_missing(&data.dir, &data.url, data.dataset)?;
        if !fetched.is_empty() {
            eprintln!(
                "Downloaded {} into '{}'",
                fetched.join(", "),
                data.dir.display()
            );
        }
    }
    Ok(LabeledImages::load_dataset(
        &data.dir,
        part,
        Some(data.dataset),
    )?)
}

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
    let out = config.output.dir.clone();
    let t = &config.training;
    artifacts::prepare_output_dir(&out)?;
    // Held until training returns: a second trainer on this folder stops here.
    let _lock = RunLock::acquire(&out)?;
    let start = if resume {
        // A run killed while it wrote a file left that file's temporary copy.
        artifacts::remove_leftovers(&out);
        artifacts::remove_leftovers(&out.join(checkpoint::CHECKPOINT_DIR));
        checkpoint::resume_point(&out, t.epochs)?
    } else {
        refuse_existing_run(&out)?;
        ResumePoint {
            epoch: 0,
            rows: Vec::new(),
        }
    };
    // Checked before the data is read, so a wrong file fails at once.
    let init_weights = match &config.model.init_from {
        path if !resume && !path.as_os_str().is_empty() => {
            Some(Weights::read(path, Some(config.model.hidden_size))?)
        }
        _ => None,
    };
    let tui = dashboard::use_tui(config.output.dashboard)?;
    let reading = std::time::Instant::now();
    let data = load_mnist(&config.data)?;
    let read_seconds = reading.elapsed().as_secs_f64();
    write_atomic(&out.join(CONFIG_FILE), |f| {
        f.write_all(config.to_toml().as_bytes())
    })?;

    if !tui {
        println!(
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
        );
        if resume {
            println!("Resuming '{}' after epoch {}", out.display(), start.epoch);
            for row in &start.rows {
                println!("{}", row.tutorial_line());
            }
        }
    }

    B::seed(device, t.seed);
    let mut model: Autoencoder<B> =
        AutoencoderConfig::from_settings(config.model.hidden_size, config.model.init).init(device);
    if let Some(weights) = &init_weights {
        model = weights.load_into(model)?;
    }
    let noise = Noise::of(t);
    let train_loader = EpochLoader::new(
        data.train,
        t.batch_size,
        Some(t.seed),
        start.epoch + 1,
        device,
    )
    .with_noise(noise);
    let train_loader: Arc<dyn DataLoader<B, MnistBatch<B>>> = if config.data.shuffle {
        Arc::new(train_loader)
    } else {
        Arc::new(train_loader.in_file_order())
    };
    let valid_loader: Arc<dyn DataLoader<B::InnerBackend, MnistBatch<B::InnerBackend>>> =
        Arc::new(EpochLoader::new(data.valid, t.batch_size, None, 1, device).with_noise(noise));
    let stop = Stop::default();
    let signals = SignalWatch::start(stop.clone()).map_err(|e| Error::Setting {
        key: "training",
        value: String::new(),
        reason: format!("cannot watch for Ctrl-C: {e}"),
    })?;
    let (epoch_logger, history) =
        EpochLogger::new(out.clone(), !tui, start.rows.clone(), stop.clone());
    let run = Run {
        dir: &out,
        train_loader,
        valid_loader,
        epoch_logger,
        epochs: t.epochs,
        learning_rate: t.learning_rate,
        hidden_size: config.model.hidden_size,
        resume_epoch: start.epoch,
        stop: stop.clone(),
        tui,
        device,
    };

    let r = &t.rmsprop;
    let model = match t.optimizer {
        OptimizerKind::Tf1Rmsprop => run.launch(model, r.tf1().init())?,
        OptimizerKind::BurnRmsprop => run.launch(model, r.burn().init())?,
    };
    drop(signals);

    let rows = std::mem::take(&mut history.lock().expect("epoch history lock").rows);
    if tui {
        for row in &rows {
            println!("{}", row.tutorial_line());
        }
    }
    let loss_chart = out.join(LOSS_FILE);
    let draw_curve = || {
        save_loss_chart(
            &loss_chart,
            &rows,
            config.output.loss_scale,
            &curve_title(config),
        )
    };
    let failure = stop.failure().take();
    if rows.len() < t.epochs || failure.is_some() {
        // What the disk holds whole, not what the epoch counter says: with a full disk an
        // epoch can have its row and not all of its checkpoint.
        let kept = checkpoint::last_complete(&out).map_or(0, |point| point.epoch);
        // The checkpoints after it hold a partial, diverged or missing state.
        checkpoint::remove_after(&out, kept);
        if !rows.is_empty() {
            // The curve so far; a failure to draw it must not hide why training stopped.
            let _ = draw_curve();
        }
        let cause = match (failure, stop.reason(), stop.message()) {
            (Some(error), _, _) => StopCause::Failed(error),
            (None, Some(reason), _) => StopCause::Asked(reason),
            (None, None, Some(message)) if tui && message == DASHBOARD_QUIT => StopCause::Dashboard,
            (None, None, message) => StopCause::Learner(
                message.unwrap_or_else(|| "Burn's Learner stopped without a reason".to_owned()),
            ),
        };
        return Ok(TrainOutcome::Stopped(Stopped {
            cause,
            epochs_done: kept,
            epochs: t.epochs,
            learning_rate: t.learning_rate,
            output_dir: out,
        }));
    }

    artifacts::save_model(&model, &out)?;
    draw_curve()?;
    let test_mse = mean_squared_error(&model, &data.test, device);
    write_reconstruction_figure(
        &model,
        &data.test,
        config.output.samples,
        noise,
        &out.join(RECONSTRUCTION_FILE),
        device,
    )?;
    Ok(TrainOutcome::Finished(TrainReport {
        rows,
        test_mse,
        test_images: data.test.len(),
        output_dir: out,
    }))
}

/// Everything a Learner launch needs besides the model and its optimiser.
struct Run<'a, B: FusedAutodiff> {
    dir: &'a Path,
    train_loader: Arc<dyn DataLoader<B, MnistBatch<B>>>,
    valid_loader: Arc<dyn DataLoader<B::InnerBackend, MnistBatch<B::InnerBackend>>>,
    epoch_logger: EpochLogger,
    epochs: usize,
    learning_rate: f64,
    hidden_size: usize,
    /// The checkpointed epoch to continue after; 0 for a fresh run.
    resume_epoch: usize,
    stop: Stop,
    tui: bool,
    device: &'a B::Device,
}

impl<B: FusedAutodiff> Run<'_, B> {
    /// Trains with `optimizer`, on Burn's dashboard or plain; returns the model as training left
    /// it (finished or stopped).
    fn launch<O>(
        self,
        model: Autoencoder<B>,
        optimizer: O,
    ) -> Result<Autoencoder<B::InnerBackend>, Error>
    where
        O: Optimizer<Autoencoder<B>, B> + 'static,
    {
        let interrupter = self.stop.interrupter();
        let mut training = SupervisedTraining::new(self.dir, self.train_loader, self.valid_loader)
            .metrics((LossMetric::<B::InnerBackend>::new(),))
            .with_metric_logger(self.epoch_logger)
            .num_epochs(self.epochs)
            .with_file_checkpointer(CheckpointRecorder::new(self.stop.failure()))
            .with_checkpointing_strategy(KeepLastNCheckpoints::new(KEPT_CHECKPOINTS))
            .with_interrupter(interrupter.clone());
        let resumed = (self.resume_epoch > 0).then_some(self.resume_epoch);
        if let Some(epoch) = resumed {
            // Burn panics on a checkpoint it cannot load: read each one here first.
            check_checkpoint::<B, O>(self.dir, epoch, self.hidden_size, self.device)?;
            training = training.checkpoint(epoch);
        }
        let training = if self.tui {
            training.renderer(dashboard::tui(interrupter, resumed))
        } else {
            training.renderer(PlainRenderer)
        };
        let result = training.launch(Learner::new(model, optimizer, self.learning_rate));
        // Closes the dashboard, so that what follows is printed on the normal screen.
        drop(result.renderer);
        Ok(result.model)
    }
}

/// Loads the three records of checkpoint `epoch`, so that a damaged one is an error message.
fn check_checkpoint<B: FusedAutodiff, O: Optimizer<Autoencoder<B>, B>>(
    dir: &Path,
    epoch: usize,
    hidden_size: usize,
    device: &B::Device,
) -> Result<(), CheckpointError> {
    fn load<B: FusedOps, R: Record<B>>(
        path: PathBuf,
        device: &B::Device,
    ) -> Result<R, CheckpointError> {
        Recorder::<B>::load(&CheckpointRecorder::default(), path.clone(), device).map_err(|e| {
            CheckpointError::Damaged {
                path,
                reason: artifacts::recorder_reason(&e),
            }
        })
    }
    let model_path = checkpoint::checkpoint_path(dir, "model", epoch);
    let record = load::<B, <Autoencoder<B> as Module<B>>::Record>(model_path.clone(), device)?;
    artifacts::model_from_record(record, hidden_size, device).map_err(|reason| {
        CheckpointError::Damaged {
            path: model_path,
            reason,
        }
    })?;
    load::<B, O::Record>(checkpoint::checkpoint_path(dir, "optim", epoch), device)?;
    load::<B, ()>(checkpoint::checkpoint_path(dir, "scheduler", epoch), device)?;
    Ok(())
}

/// A run's files are never overwritten by another run.
pub(crate) fn refuse_existing_run(dir: &Path) -> Result<(), Error> {
    if let Some(marker) = RUN_MARKERS.iter().find(|m| dir.join(m).exists()) {
        return Err(Error::Setting {
            key: "output.dir",
            value: format!("\"{}\"", dir.display()),
            reason: format!(
                "already holds a run ('{marker}' exists); choose a new folder, e.g. --set output.dir={}-2",
                dir.display()
            ),
        });
    }
    Ok(())
}
