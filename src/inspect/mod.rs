//! What uses a trained run: `evaluate`, `reconstruct`, `curves`, `latent`, `interpolate`,
//! `generate` and `export`; and `import`, which makes a run from a file of weights. Each opens the run folder
//! ([`Opened`]) and writes its picture or file there unless told where.

pub mod evaluate;
pub mod explore;
pub mod latent;

use std::fs;
use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;

use crate::artifacts::ArtifactError;
use crate::assess::{
    curve_title, mean_objective, mean_of, per_image_mse, write_reconstruction_figure,
};
use crate::config::Config;
use crate::data::{MnistDataset, MnistPart};
use crate::fused::FusedOps;
use crate::inspect::latent::LatentReport;
use crate::metrics::parse_metrics_csv;
use crate::model::{Autoencoder, Loss, ModelKind};
use crate::render::chart::Scale;
use crate::render::chart::save_loss_chart;
use crate::run_dir::safetensors::{self, ExportInfo, SafetensorsFile, Weights};
use crate::run_dir::{
    CODES_FILE, GENERATED_FILE, INTERPOLATION_FILE, LATENT_FILE, LOSS_FILE, METRICS_FILE,
    OWN_IMAGES_FILE, RECONSTRUCTION_FILE, RunDir, SAFETENSORS_FILE, WORST_FILE, check_output,
};

/// Everything that can stop a command that reads a run, each with a message a user can act on.
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
    Explore(#[from] explore::ExploreError),
    #[error(transparent)]
    Weights(#[from] safetensors::InteropError),
}

/// The run a command reads: its folder, and the data folder it was given instead of the run's
/// own (`--data-dir`), if any. Every command that reads a run takes it first.
#[derive(Debug, Clone, Copy)]
pub struct RunRef<'a> {
    pub dir: &'a Path,
    pub data_dir: Option<&'a Path>,
}

/// A run folder opened for a command: its model, and its config with the data folder the
/// command was given (`--data-dir`), if any.
pub(crate) struct Opened<B: FusedOps> {
    pub dir: RunDir,
    pub model: Autoencoder<B>,
    pub config: Config,
}

impl<B: FusedOps> Opened<B> {
    pub fn open(run: RunRef<'_>, device: &B::Device) -> Result<Self, Error> {
        let (dir, data_dir) = (RunDir::new(run.dir), run.data_dir);
        let mut saved = dir.load::<B>(device)?;
        // The run's own kernels, where it recorded them; no timing for a command that reads.
        B::use_plan(saved.config.backend.kernels.plan());
        if let Some(data_dir) = data_dir {
            saved.config.data.dir = data_dir.to_owned();
        }
        Ok(Self {
            dir,
            model: saved.model,
            config: saved.config,
        })
    }

    /// The test images of the run's dataset.
    pub fn test_set(&self) -> Result<MnistDataset, Error> {
        Ok(self
            .config
            .data
            .source()
            .read_part(MnistPart::Test)?
            .dataset())
    }
}

/// What `evaluate` measured.
#[derive(Debug)]
pub struct Evaluation {
    pub mse: f64,
    /// 10 log10(1 / mse), pixels in [0, 1].
    pub psnr: f64,
    pub images: usize,
    /// The model's own objective (what training minimised), where it is not the MSE, and
    /// what it is.
    pub objective: Option<(f64, String)>,
    /// The worst reconstructions, worst first: (test index, label, mse), and their picture.
    pub worst: Vec<(usize, u8, f32)>,
    pub worst_figure: Option<PathBuf>,
}

/// `evaluate`: test-set MSE and PSNR of `run`, and a picture of its `worst` reconstructions
/// (none when 0).
pub fn evaluate<B: FusedOps>(
    run: RunRef<'_>,
    worst: usize,
    output: Option<&Path>,
    device: &B::Device,
) -> Result<Evaluation, Error> {
    let run = Opened::<B>::open(run, device)?;
    let test = run.test_set()?;
    let errors = per_image_mse(&run.model, &test, device);
    let mse = mean_of(&errors);
    let mut evaluation = Evaluation {
        mse,
        psnr: evaluate::psnr(mse),
        images: test.len(),
        objective: objective_name(&run.config).map(|name| {
            let value = mean_objective(&run.model, &test, device);
            (value, name)
        }),
        worst: Vec::new(),
        worst_figure: None,
    };
    if worst > 0 {
        evaluation.worst = evaluate::worst(&errors, &test, worst);
        let indices: Vec<usize> = evaluation.worst.iter().map(|w| w.0).collect();
        let path = run.dir.output(output, WORST_FILE, "--output")?;
        evaluate::save_reconstructions_of(&run.model, &test, &indices, &path, device)?;
        evaluation.worst_figure = Some(path);
    }
    Ok(evaluation)
}

/// What the model of `config` minimised, in words, unless it is the mean squared error.
fn objective_name(config: &Config) -> Option<String> {
    let model = &config.model;
    let loss = match config.training.loss {
        Loss::Mse => "mean squared error",
        Loss::Bce => "binary cross-entropy",
    };
    match model.kind {
        ModelKind::Vae => Some(format!("{loss} summed over the pixels, plus KL divergence")),
        _ if model.code_l1 > 0.0 => Some(format!("{loss}, plus L1 of the code")),
        _ if config.training.loss == Loss::Mse => None,
        _ => Some(loss.to_owned()),
    }
}

/// `reconstruct`: the tutorial's figure of `run` for `samples` test digits (default: the run's
/// `output.samples`); returns the PNG's path.
pub fn reconstruct<B: FusedOps>(
    run: RunRef<'_>,
    samples: Option<usize>,
    output: Option<&Path>,
    device: &B::Device,
) -> Result<PathBuf, Error> {
    let run = Opened::<B>::open(run, device)?;
    let samples = samples.unwrap_or(run.config.output.samples);
    let path = run.dir.output(output, RECONSTRUCTION_FILE, "--output")?;
    let noise = run.config.training.noise();
    write_reconstruction_figure(&run.model, &run.test_set()?, samples, noise, &path, device)?;
    Ok(path)
}

/// `reconstruct --image`: the user's pictures over `run`'s reconstructions; returns the path.
pub fn reconstruct_images<B: FusedOps>(
    run: RunRef<'_>,
    images: &[PathBuf],
    output: Option<&Path>,
    device: &B::Device,
) -> Result<PathBuf, Error> {
    let run = Opened::<B>::open(run, device)?;
    let path = run.dir.output(output, OWN_IMAGES_FILE, "--output")?;
    explore::reconstruct_own_images(&run.model, images, &path, device)?;
    Ok(path)
}

/// `curves`: draws `run`'s `metrics.csv` on `scale` (default: the run's `output.loss_scale`);
/// returns the PNG's path.
pub fn curves(
    run: RunRef<'_>,
    scale: Option<Scale>,
    output: Option<&Path>,
) -> Result<PathBuf, Error> {
    let dir = RunDir::new(run.dir);
    let config = dir.load_config()?;
    let csv = dir.file(METRICS_FILE);
    let text = fs::read_to_string(&csv).map_err(|source| ArtifactError::Read {
        path: csv.clone(),
        source,
    })?;
    let rows = parse_metrics_csv(&text).map_err(|e| ArtifactError::BadMetrics {
        path: csv.clone(),
        reason: e.to_string(),
    })?;
    let path = dir.output(output, LOSS_FILE, "--output")?;
    let scale = scale.unwrap_or(config.output.loss_scale);
    save_loss_chart(&path, &rows, scale, &curve_title(&config))?;
    Ok(path)
}

/// `latent`: the latent map of `run` and the codes of the test set; returns the two paths.
pub fn latent<B: FusedOps>(
    run: RunRef<'_>,
    output: Option<&Path>,
    csv: Option<&Path>,
    device: &B::Device,
) -> Result<(PathBuf, PathBuf, LatentReport), Error> {
    let run = Opened::<B>::open(run, device)?;
    let png = run.dir.output(output, LATENT_FILE, "--output")?;
    let csv = run.dir.output(csv, CODES_FILE, "--csv")?;
    let dataset = run.config.data.dataset;
    let report = latent::latent_map(&run.model, &run.test_set()?, dataset, &png, &csv, device)?;
    Ok((png, csv, report))
}

/// `interpolate`: `run`'s walk between the test images `ends`; returns the PNG's path.
pub fn interpolate<B: FusedOps>(
    run: RunRef<'_>,
    ends: [usize; 2],
    steps: usize,
    output: Option<&Path>,
    device: &B::Device,
) -> Result<PathBuf, Error> {
    let run = Opened::<B>::open(run, device)?;
    let path = run.dir.output(output, INTERPOLATION_FILE, "--output")?;
    explore::interpolation(&run.model, &run.test_set()?, ends, steps, &path, device)?;
    Ok(path)
}

/// `generate`: a variational `run`'s latent plane decoded on a `steps` x `steps` grid from
/// `-span` to `span`; returns the PNG's path.
pub fn generate<B: FusedOps>(
    run: RunRef<'_>,
    steps: usize,
    span: f32,
    output: Option<&Path>,
    device: &B::Device,
) -> Result<PathBuf, Error> {
    let opened = Opened::<B>::open(run, device)?;
    if opened.model.kind() != ModelKind::Vae {
        return Err(explore::ExploreError::NotVariational {
            dir: run.dir.to_owned(),
            kind: opened.config.model.kind.to_string(),
        }
        .into());
    }
    let path = opened.dir.output(output, GENERATED_FILE, "--output")?;
    explore::latent_grid(&opened.model, steps, span, &path, device)?;
    Ok(path)
}

/// What `export` wrote.
#[derive(Debug)]
pub struct Exported {
    pub path: PathBuf,
    pub info: ExportInfo,
    /// Why the test MSE is not in the file, when it is not.
    pub no_mse: Option<String>,
    /// The names of the tensors written.
    pub tensors: Vec<String>,
}

/// `export`: the weights of `run` as safetensors, PyTorch layout, with the run's facts (and
/// its test MSE, when the test images can be read) in the metadata.
pub fn export<B: FusedOps>(
    run: RunRef<'_>,
    output: Option<&Path>,
    device: &B::Device,
) -> Result<Exported, Error> {
    let mut run = Opened::<B>::open(run, device)?;
    // Only what is already there: an export does not download.
    run.config.data.download = false;
    let (test_mse, no_mse) = match run.test_set() {
        Ok(test) => (
            Some(mean_of(&per_image_mse(&run.model, &test, device))),
            None,
        ),
        Err(_) => {
            let dir = run.config.data.dir.display();
            (
                None,
                Some(format!("no test images in '{dir}' (pass --data-dir)")),
            )
        }
    };
    let epochs = fs::read_to_string(run.dir.file(METRICS_FILE))
        .ok()
        .and_then(|text| parse_metrics_csv(&text).ok())
        .map(|rows| rows.len());
    let init = match &run.config.model.init_from {
        path if path.as_os_str().is_empty() => run.config.model.init.to_string(),
        path => format!("from {}", path.display()),
    };
    let info = ExportInfo {
        init,
        dataset: run.config.data.dataset.to_string(),
        epochs,
        test_mse,
    };
    let path = run.dir.output(output, SAFETENSORS_FILE, "--output")?;
    let tensors = safetensors::export(&run.model, &run.config, &info, &path)?;
    Ok(Exported {
        path,
        info,
        no_mse,
        tensors,
    })
}

/// `import`: a run folder `output` holding the weights of `from` (a safetensors file) and a
/// config (`config`, then the model the file names in its metadata or, for the tutorial's two
/// layers, its hidden size, then `sets`, over the defaults), for `evaluate`, `reconstruct`,
/// `latent`, `interpolate`, `generate` and `export`. Returns the weights read.
pub fn import<B: FusedOps>(
    from: &Path,
    output: &Path,
    config: Option<&Path>,
    sets: &[String],
    device: &B::Device,
) -> Result<Weights, Error> {
    let file = SafetensorsFile::open(from)?;
    let mut layers = file.model_settings();
    layers.extend(sets.iter().cloned());
    layers.push(format!("model.init_from={}", toml_string(from)));
    layers.push(format!("output.dir={}", toml_string(output)));
    let config = Config::load(config, &layers)?;
    let weights = file.weights(&config.autoencoder())?;
    let dir = RunDir::new(output);
    check_output(output, "--output")?;
    dir.refuse_existing_run("--output", "--output ")?;
    dir.prepare()?;
    let _lock = dir.lock()?;
    dir.refuse_existing_run("--output", "--output ")?;
    dir.remove_leftovers();
    let model: Autoencoder<B> = weights.load_into(weights.spec.init(device))?;
    // The weights it starts from, for `train --resume`, then the config: a folder with a model
    // but no config would not open.
    dir.save_init(&model)?;
    dir.save_config(&config)?;
    dir.save_model(&model)?;
    Ok(weights)
}

/// A path as a TOML string value for `--set`.
pub fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}
