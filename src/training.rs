//! Training with Burn's `Learner`, and the commands that use a trained model.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::data::dataset::Dataset;
use burn::optim::{Optimizer, RmsPropConfig};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::AutodiffBackend;
use burn::train::logger::FileMetricLogger;
use burn::train::metric::LossMetric;
use burn::train::{Interrupter, Learner, SupervisedTraining};

use crate::artifacts::{
    self, CONFIG_FILE, METRICS_FILE, MODEL_FILE, RECONSTRUCTION_FILE, write_atomic,
};
use crate::config::{Config, DataConfig, OptimizerKind};
use crate::dashboard::{self, PlainRenderer};
use crate::data::{
    LabeledImages, MnistBatch, MnistBatcher, MnistDataset, MnistPart, download, split_train_valid,
};
use crate::epoch_log::{EpochLogger, EpochRow};
use crate::evaluate::{mean_squared_error, write_reconstruction_figure};
use crate::model::{Autoencoder, AutoencoderConfig};
use crate::optim::Tf1RmsPropConfig;
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
        let fetched = download::download_missing(&data.dir, &data.url)?;
        if !fetched.is_empty() {
            eprintln!(
                "Downloaded {} into '{}'",
                fetched.join(", "),
                data.dir.display()
            );
        }
    }
    Ok(LabeledImages::load(&data.dir, part)?)
}

/// What a finished (or stopped) training run produced.
#[derive(Debug)]
pub struct TrainReport {
    pub rows: Vec<EpochRow>,
    pub test_mse: f64,
    pub test_images: usize,
    /// False when training was stopped before its last epoch.
    pub completed: bool,
    pub output_dir: PathBuf,
}

/// Trains the autoencoder as `config` says and writes its artifacts to `output.dir`.
pub fn train<B: AutodiffBackend>(
    config: &Config,
    device: &B::Device,
) -> Result<TrainReport, Error> {
    let out = config.output.dir.clone();
    refuse_existing_run(&out)?;
    artifacts::prepare_output_dir(&out)?;
    let tui = dashboard::use_tui(config.output.dashboard)?;
    let data = load_mnist(&config.data)?;
    write_atomic(&out.join(CONFIG_FILE), |f| {
        f.write_all(config.to_toml().as_bytes())
    })?;

    let t = &config.training;
    if !tui {
        println!(
            "Training {IMAGE_PIXELS}-{}-{IMAGE_PIXELS} on {} MNIST images ({} validate) for {} epochs, batch {}, {} lr {}, backend {}",
            config.model.hidden_size,
            data.train.len(),
            data.valid.len(),
            t.epochs,
            t.batch_size,
            t.optimizer,
            t.learning_rate,
            crate::backend::BACKEND_NAME,
        );
    }

    B::seed(device, t.seed);
    let model: Autoencoder<B> =
        AutoencoderConfig::from_settings(config.model.hidden_size, config.model.init).init(device);
    let train_loader = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(t.batch_size)
        .shuffle(t.seed)
        .build(data.train);
    let valid_loader = DataLoaderBuilder::<B::InnerBackend, _, _>::new(MnistBatcher)
        .batch_size(t.batch_size)
        .build(data.valid);
    let (epoch_logger, history) = EpochLogger::new(out.join(METRICS_FILE), !tui);
    let run = Run {
        dir: &out,
        train_loader,
        valid_loader,
        epoch_logger,
        epochs: t.epochs,
        learning_rate: t.learning_rate,
        tui,
    };

    let r = &t.rmsprop;
    let (model, stopped) = match t.optimizer {
        OptimizerKind::Tf1Rmsprop => {
            let optimizer = Tf1RmsPropConfig::new()
                .with_decay(r.alpha)
                .with_momentum(r.momentum)
                .with_epsilon(r.epsilon)
                .with_centered(r.centered)
                .init();
            run.launch(model, optimizer)
        }
        OptimizerKind::BurnRmsprop => {
            let optimizer = RmsPropConfig::new()
                .with_alpha(r.alpha)
                .with_momentum(r.momentum)
                .with_epsilon(r.epsilon)
                .with_centered(r.centered)
                .init();
            run.launch(model, optimizer)
        }
    };

    // The trained weights first: whatever fails after this, the training is not lost.
    artifacts::save_model(&model, &out)?;
    let (rows, write_error) = {
        let mut history = history.lock().expect("epoch history lock");
        (
            std::mem::take(&mut history.rows),
            history.write_error.take(),
        )
    };
    if let Some(error) = write_error {
        return Err(error.into());
    }
    if tui {
        for row in &rows {
            println!("{}", row.tutorial_line());
        }
    }

    let test_mse = mean_squared_error(&model, &data.test, device);
    write_reconstruction_figure(
        &model,
        &data.test,
        config.output.samples,
        &out.join(RECONSTRUCTION_FILE),
        device,
    )?;
    Ok(TrainReport {
        completed: rows.len() == t.epochs && !stopped,
        rows,
        test_mse,
        test_images: data.test.len(),
        output_dir: out,
    })
}

/// Everything a Learner launch needs besides the model and its optimiser.
struct Run<'a, B: AutodiffBackend> {
    dir: &'a Path,
    train_loader: Arc<dyn DataLoader<B, MnistBatch<B>>>,
    valid_loader: Arc<dyn DataLoader<B::InnerBackend, MnistBatch<B::InnerBackend>>>,
    epoch_logger: EpochLogger,
    epochs: usize,
    learning_rate: f64,
    tui: bool,
}

impl<B: AutodiffBackend> Run<'_, B> {
    /// Trains with `optimizer`, on Burn's dashboard or plain; returns the trained model and
    /// whether training was stopped before its last epoch.
    fn launch<O>(self, model: Autoencoder<B>, optimizer: O) -> (Autoencoder<B::InnerBackend>, bool)
    where
        O: Optimizer<Autoencoder<B>, B> + 'static,
    {
        let interrupter = Interrupter::new();
        let training = SupervisedTraining::new(self.dir, self.train_loader, self.valid_loader)
            .metrics((LossMetric::<B::InnerBackend>::new(),))
            .with_metric_logger(FileMetricLogger::new(self.dir))
            .with_metric_logger(self.epoch_logger)
            .num_epochs(self.epochs)
            .with_file_checkpointer(NamedMpkFileRecorder::<FullPrecisionSettings>::new())
            .with_interrupter(interrupter.clone());
        let training = if self.tui {
            training.renderer(dashboard::tui(interrupter.clone()))
        } else {
            training.renderer(PlainRenderer)
        };
        let result = training.launch(Learner::new(model, optimizer, self.learning_rate));
        // Closes the dashboard, so that what follows is printed on the normal screen.
        drop(result.renderer);
        (result.model, interrupter.should_stop())
    }
}

/// A run's files are never overwritten by another run.
fn refuse_existing_run(dir: &Path) -> Result<(), Error> {
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

/// `evaluate`: the test-set MSE of the run in `model_dir`.
pub fn evaluate<B: Backend>(
    model_dir: &Path,
    data_dir: Option<&Path>,
    device: &B::Device,
) -> Result<(f64, usize), Error> {
    let (model, config) = open_run::<B>(model_dir, data_dir, device)?;
    let test = load_part(&config.data, MnistPart::Test)?.dataset();
    Ok((mean_squared_error(&model, &test, device), test.len()))
}

/// `reconstruct`: the tutorial's figure from the run in `model_dir`; returns the PNG's path.
pub fn reconstruct<B: Backend>(
    model_dir: &Path,
    output: Option<&Path>,
    samples: Option<usize>,
    data_dir: Option<&Path>,
    device: &B::Device,
) -> Result<PathBuf, Error> {
    let (model, config) = open_run::<B>(model_dir, data_dir, device)?;
    let samples = samples.unwrap_or(config.output.samples);
    let test = load_part(&config.data, MnistPart::Test)?.dataset();
    let path = output.map_or_else(|| model_dir.join(RECONSTRUCTION_FILE), Path::to_owned);
    write_reconstruction_figure(&model, &test, samples, &path, device)?;
    Ok(path)
}

/// The model and config of a run, its data directory replaced by `data_dir` when given.
fn open_run<B: Backend>(
    model_dir: &Path,
    data_dir: Option<&Path>,
    device: &B::Device,
) -> Result<(Autoencoder<B>, Config), Error> {
    let mut saved = artifacts::load_run::<B>(model_dir, device)?;
    if let Some(dir) = data_dir {
        saved.config.data.dir = dir.to_owned();
    }
    Ok((saved.model, saved.config))
}
