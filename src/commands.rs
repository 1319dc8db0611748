//! The commands that use a trained run: evaluate, reconstruct, curves, latent, interpolate,
//! export; and import, which makes a run from a file of weights.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;

use crate::Error;
use crate::artifacts::{
    self, ArtifactError, CONFIG_FILE, METRICS_FILE, RECONSTRUCTION_FILE, RunLock,
};
use crate::config::{Config, Scale};
use crate::data::{MnistPart, Noise};
use crate::epoch_log::parse_metrics_csv;
use crate::evaluate::{mean_of, per_image_mse, write_reconstruction_figure};
use crate::explore::{self, LatentReport};
use crate::fused::FusedOps;
use crate::interop::{self, ExportInfo, Weights};
use crate::model::{Autoencoder, AutoencoderConfig};
use crate::plots::save_loss_chart;
use crate::training::{load_part, refuse_existing_run};

/// The training curve of a run.
pub const LOSS_FILE: &str = "loss.png";
/// The latent map and the codes behind it.
pub const LATENT_FILE: &str = "latent.png";
pub const CODES_FILE: &str = "codes.csv";
pub const INTERPOLATION_FILE: &str = "interpolation.png";
pub const WORST_FILE: &str = "worst.png";
pub const OWN_IMAGES_FILE: &str = "own-images.png";
/// What `export` writes by default.
pub const SAFETENSORS_FILE: &str = "model.safetensors";

/// What `evaluate` measured.
#[derive(Debug)]
pub struct Evaluation {
    pub mse: f64,
    /// 10 log10(1 / mse), pixels in [0, 1].
    pub psnr: f64,
    pub images: usize,
    /// The worst reconstructions, worst first: (test index, label, mse), and their picture.
    pub worst: Vec<(usize, u8, f32)>,
    pub worst_figure: Option<PathBuf>,
}

/// `evaluate`: test-set MSE and PSNR of the run in `model_dir`, and a picture of its `worst`
/// reconstructions (none when 0).
pub fn evaluate<B: FusedOps>(
    model_dir: &Path,
    data_dir: Option<&Path>,
    worst: usize,
    output: Option<&Path>,
    device: &B::Device,
) -> Result<Evaluation, Error> {
    let (model, config) = open_run::<B>(model_dir, data_dir, device)?;
    let test = load_part(&config.data, MnistPart::Test)?.dataset();
    let errors = per_image_mse(&model, &test, device);
    let mse = mean_of(&errors);
    let mut evaluation = Evaluation {
        mse,
        psnr: explore::psnr(mse),
        images: test.len(),
        worst: Vec::new(),
        worst_figure: None,
    };
    if worst > 0 {
        evaluation.worst = explore::worst(&errors, &test, worst);
        let indices: Vec<usize> = evaluation.worst.iter().map(|w| w.0).collect();
        let path = output.map_or_else(|| model_dir.join(WORST_FILE), Path::to_owned);
        explore::save_reconstructions_of(&model, &test, &indices, &path, device)?;
        evaluation.worst_figure = Some(path);
    }
    Ok(evaluation)
}

/// `reconstruct`: the tutorial's figure from the run in `model_dir`; returns the PNG's path.
pub fn reconstruct<B: FusedOps>(
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
    let noise = Noise::of(&config.training);
    write_reconstruction_figure(&model, &test, samples, noise, &path, device)?;
    Ok(path)
}

/// `reconstruct --image`: the user's pictures over their reconstructions; returns the path.
pub fn reconstruct_images<B: FusedOps>(
    model_dir: &Path,
    images: &[PathBuf],
    output: Option<&Path>,
    device: &B::Device,
) -> Result<PathBuf, Error> {
    let (model, _) = open_run::<B>(model_dir, None, device)?;
    let path = output.map_or_else(|| model_dir.join(OWN_IMAGES_FILE), Path::to_owned);
    explore::reconstruct_own_images(&model, images, &path, device)?;
    Ok(path)
}

/// `curves`: draws `metrics.csv` of the run in `dir`; returns the PNG's path.
pub fn curves(dir: &Path, scale: Option<Scale>, output: Option<&Path>) -> Result<PathBuf, Error> {
    let config = artifacts::load_config(dir)?;
    let csv = dir.join(METRICS_FILE);
    let text = fs::read_to_string(&csv).map_err(|source| ArtifactError::Read {
        path: csv.clone(),
        source,
    })?;
    let rows = parse_metrics_csv(&text).map_err(|reason| ArtifactError::BadMetrics {
        path: csv.clone(),
        reason,
    })?;
    let path = output.map_or_else(|| dir.join(LOSS_FILE), Path::to_owned);
    save_loss_chart(
        &path,
        &rows,
        scale.unwrap_or(config.output.loss_scale),
        &curve_title(&config),
    )?;
    Ok(path)
}

/// The title of a run's `loss.png`.
pub fn curve_title(config: &Config) -> String {
    let t = &config.training;
    format!(
        "{} {}-{}-{}: {}, lr {}, batch {}",
        config.data.dataset,
        crate::IMAGE_PIXELS,
        config.model.hidden_size,
        crate::IMAGE_PIXELS,
        t.optimizer,
        t.learning_rate,
        t.batch_size
    )
}

/// `latent`: the latent map and the codes of the test set; returns the two paths.
pub fn latent<B: FusedOps>(
    model_dir: &Path,
    output: Option<&Path>,
    csv: Option<&Path>,
    data_dir: Option<&Path>,
    device: &B::Device,
) -> Result<(PathBuf, PathBuf, LatentReport), Error> {
    let (model, config) = open_run::<B>(model_dir, data_dir, device)?;
    let test = load_part(&config.data, MnistPart::Test)?.dataset();
    let png = output.map_or_else(|| model_dir.join(LATENT_FILE), Path::to_owned);
    let csv = csv.map_or_else(|| model_dir.join(CODES_FILE), Path::to_owned);
    let report = explore::latent_map(&model, &test, config.data.dataset, &png, &csv, device)?;
    Ok((png, csv, report))
}

/// `interpolate`: the walk between test images `from` and `to`; returns the PNG's path.
pub fn interpolate<B: FusedOps>(
    model_dir: &Path,
    ends: [usize; 2],
    steps: usize,
    output: Option<&Path>,
    data_dir: Option<&Path>,
    device: &B::Device,
) -> Result<PathBuf, Error> {
    let (model, config) = open_run::<B>(model_dir, data_dir, device)?;
    let test = load_part(&config.data, MnistPart::Test)?.dataset();
    let path = output.map_or_else(|| model_dir.join(INTERPOLATION_FILE), Path::to_owned);
    explore::interpolation(&model, &test, ends, steps, &path, device)?;
    Ok(path)
}

/// The model and config of a run, its data directory replaced by `data_dir` when given.
fn open_run<B: FusedOps>(
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

/// What `export` wrote.
#[derive(Debug)]
pub struct Exported {
    pub path: PathBuf,
    pub info: ExportInfo,
    /// Why the test MSE is not in the file, when it is not.
    pub no_mse: Option<String>,
}

/// `export`: the weights of the run in `model_dir` as safetensors, PyTorch layout, with the
/// run's facts (and its test MSE, when the test images can be read) in the metadata.
pub fn export<B: FusedOps>(
    model_dir: &Path,
    output: Option<&Path>,
    data_dir: Option<&Path>,
    device: &B::Device,
) -> Result<Exported, Error> {
    let (model, mut config) = open_run::<B>(model_dir, data_dir, device)?;
    // Only what is already there: an export does not download.
    config.data.download = false;
    let (test_mse, no_mse) = match load_part(&config.data, MnistPart::Test) {
        Ok(test) => {
            let test = test.dataset();
            (Some(mean_of(&per_image_mse(&model, &test, device))), None)
        }
        Err(_) => (
            None,
            Some(format!(
                "no test images in '{}' (pass --data-dir)",
                config.data.dir.display()
            )),
        ),
    };
    let epochs = fs::read_to_string(model_dir.join(METRICS_FILE))
        .ok()
        .and_then(|text| parse_metrics_csv(&text).ok())
        .map(|rows| rows.len());
    let init = match &config.model.init_from {
        path if path.as_os_str().is_empty() => config.model.init.to_string(),
        path => format!("from {}", path.display()),
    };
    let info = ExportInfo {
        init,
        dataset: config.data.dataset.to_string(),
        epochs,
        test_mse,
    };
    let path = output.map_or_else(|| model_dir.join(SAFETENSORS_FILE), Path::to_owned);
    interop::export(&model, &info, &path)?;
    Ok(Exported { path, info, no_mse })
}

/// `import`: a run folder `output` holding the weights of `from` (a safetensors file) and a
/// config (`config` and `sets` over the defaults; `model.hidden_size` from the file), for
/// `evaluate`, `reconstruct`, `latent`, `interpolate` and `export`. Returns the weights read.
pub fn import<B: FusedOps>(
    from: &Path,
    output: &Path,
    config: Option<&Path>,
    sets: &[String],
    device: &B::Device,
) -> Result<Weights, Error> {
    let weights = Weights::read(from, None)?;
    let mut sets = sets.to_vec();
    sets.push(format!("model.hidden_size={}", weights.hidden_size));
    sets.push(format!("model.init_from={}", toml_string(from)));
    sets.push(format!("output.dir={}", toml_string(output)));
    let config = Config::load(config, &sets)?;
    artifacts::prepare_output_dir(output)?;
    let _lock = RunLock::acquire(output)?;
    refuse_existing_run(output)?;
    let model =
        AutoencoderConfig::from_settings(weights.hidden_size, config.model.init).init(device);
    let model: Autoencoder<B> = weights.load_into(model)?;
    // The config first: a folder with a model but no config would not open.
    artifacts::write_atomic(&output.join(CONFIG_FILE), |f| {
        f.write_all(config.to_toml().as_bytes())
    })?;
    artifacts::save_model(&model, output)?;
    Ok(weights)
}

/// A path as a TOML string value for `--set`.
fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}
