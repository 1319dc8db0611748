//! The TOML configuration: schema, loading with `--set` overrides, and validation.
//!
//! `config/default.toml` is compiled in and is the single source of the defaults: a user's file
//! and `--set` flags are laid over it key by key. Because it lists every key, it also tells
//! typos apart from real keys before serde sees them.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::backend::DeviceSpec;
use crate::data::{self, DatasetKind, IMAGE_PIXELS, Noise, NoiseKind};
use crate::fused::Activation;
use crate::fused::plan::KernelChoice;
use crate::model::{AutoencoderConfig, Init, Loss, ModelKind, last_conv_trims, pooled_sides};
use crate::optim::{AdamSettings, OptimizerKind, RmsPropSettings};
use crate::render::chart::Scale;

/// The keys `train --resume` lets `--set` change: they do not change what the saved
/// checkpoints mean.
pub(crate) const RESUME_KEYS: [&str; 4] = [
    "training.epochs",
    "training.learning_rate",
    "output.dashboard",
    "backend.device",
];

/// The key of the kernel plan, which a run's `config.toml` records.
const KERNELS_KEY: &str = "backend.kernels";

/// The shipped defaults, `config/default.toml`.
pub(crate) const DEFAULT_CONFIG_TOML: &str = include_str!("../config/default.toml");

/// Where a config value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "the built-in defaults"),
            Origin::File(path) => write!(f, "config file '{}'", path.display()),
            Origin::Flag(flag) => write!(f, "--set {flag}"),
        }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file '{}': {source}; check the --config path", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Syntax { origin: Origin, message: String },
    #[error("{origin}: unknown key '{key}'{hint}")]
    UnknownKey {
        origin: Origin,
        key: String,
        hint: String,
    },
    #[error("--set {flag}: expected KEY=VALUE, e.g. --set training.epochs=5")]
    BadFlag { flag: String },
    #[error("{origin}: {key}: {message}")]
    Type {
        origin: Origin,
        key: String,
        message: String,
    },
    #[error(
        "--set {flag}: a resumed run keeps its settings; only {} can change with --resume",
        RESUME_KEYS.join(", ")
    )]
    NotOnResume { flag: String },
    #[error("{origin}: {key} = {value}: {reason}")]
    Invalid {
        origin: Origin,
        key: &'static str,
        value: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data: DataConfig,
    pub model: ModelSettings,
    pub training: TrainingConfig,
    pub backend: BackendSettings,
    pub output: OutputConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    /// `default`, `cpu`, `discrete:N` or `integrated:N`.
    pub device: DeviceSpec,
    /// How the step's products are computed (see [`KernelChoice`]).
    pub kernels: KernelChoice,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub dataset: DatasetKind,
    pub dir: PathBuf,
    pub download: bool,
    pub url: String,
    pub validation_size: usize,
    pub train_limit: usize,
    pub shuffle: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    pub kind: ModelKind,
    pub hidden_size: usize,
    pub hidden_layers: Vec<usize>,
    pub activation: Activation,
    pub code_l1: f64,
    pub conv_channels: Vec<usize>,
    pub init: Init,
    /// A safetensors file of initial weights; empty for none.
    pub init_from: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    pub loss: Loss,
    pub optimizer: OptimizerKind,
    pub noise: NoiseKind,
    pub noise_level: f32,
    pub rmsprop: RmsPropSettings,
    pub adam: AdamSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub dir: PathBuf,
    pub dashboard: Dashboard,
    pub samples: usize,
    pub loss_scale: Scale,
}

/// The most digits `reconstruction.png` shows.
pub(crate) const MAX_SAMPLES: usize = 100;
/// The most images `data.validation_size` may take: one must be left to train on.
pub(crate) const MAX_VALIDATION_SIZE: usize = MNIST_TRAIN_IMAGES - 1;
/// The widest code layer: 16 times the image.
pub(crate) const MAX_HIDDEN_SIZE: usize = 16 * IMAGE_PIXELS;
/// The most convolutions (and poolings) down to the code: five take 28 to 1.
pub(crate) const MAX_CONV_LAYERS: usize = 5;
/// The most channels of a convolution.
pub(crate) const MAX_CHANNELS: usize = 1024;

/// One rule of [`Config::validate`]: the key, whether the config breaks it, and why.
struct Check {
    key: &'static str,
    failed: bool,
    value: String,
    reason: String,
}

impl Check {
    fn new(key: &'static str, failed: bool, value: impl fmt::Display, reason: &str) -> Self {
        Self {
            key,
            failed,
            value: value.to_string(),
            reason: reason.to_owned(),
        }
    }
}

/// Images in MNIST's training part.
pub(crate) const MNIST_TRAIN_IMAGES: usize = data::MnistPart::Train.images();

impl Default for Config {
    fn default() -> Self {
        Self::load(None, &[]).expect("config/default.toml is valid")
    }
}

/// How training shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dashboard {
    /// Burn's dashboard when stdout is a terminal, plain lines otherwise.
    Auto,
    /// Burn's dashboard (needs a terminal).
    Tui,
    /// One line per epoch.
    Plain,
}

impl DataConfig {
    /// Where the configured dataset is read from (and downloaded from, when allowed).
    pub(crate) fn source(&self) -> data::Source<'_> {
        data::Source {
            dir: &self.dir,
            dataset: self.dataset,
            download_from: self.download.then_some(self.url.as_str()),
        }
    }
}

impl Config {
    /// The model `model` and `training.loss` describe.
    pub fn autoencoder(&self) -> AutoencoderConfig {
        let m = &self.model;
        AutoencoderConfig::new()
            .with_kind(m.kind)
            .with_hidden_size(m.hidden_size)
            .with_hidden_layers(m.hidden_layers.clone())
            .with_activation(m.activation)
            .with_conv_channels(m.conv_channels.clone())
            .with_loss(self.training.loss)
            .with_code_l1(m.code_l1)
            .with_init(m.init)
    }
}

impl TrainingConfig {
    /// The noise `training.noise` and `training.noise_level` ask for.
    pub fn noise(&self) -> Noise {
        Noise {
            kind: self.noise,
            level: self.noise_level,
        }
    }
}

impl Config {
    /// The defaults, then the file at `path` (if any), then each `--set KEY=VALUE` in order.
    pub fn load(path: Option<&Path>, sets: &[String]) -> Result<Self, ConfigError> {
        let mut layers = Layers::new();
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            layers.apply_file(&text, Origin::File(path.to_owned()))?;
        }
        for flag in sets {
            layers.apply_flag(flag)?;
        }
        layers.finish()
    }

    /// A run's config (the text of its `config.toml`, read from `path`), then `--set` flags
    /// for the keys a resumed run may change ([`RESUME_KEYS`]).
    pub(crate) fn for_resume(
        text: &str,
        path: &Path,
        sets: &[String],
    ) -> Result<Self, ConfigError> {
        for flag in sets {
            let key = flag.split_once('=').map_or("", |(key, _)| key.trim());
            if !RESUME_KEYS.contains(&key) {
                return Err(ConfigError::NotOnResume { flag: flag.clone() });
            }
        }
        Self::of_run(text, Origin::File(path.to_owned()), sets)
    }

    /// Parses a whole config text (as written to `config.toml` next to a model).
    pub fn from_toml(text: &str, origin: Origin) -> Result<Self, ConfigError> {
        Self::of_run(text, origin, &[])
    }

    /// A run's config text, then `sets`. A run's config without `backend.kernels` was written
    /// before kernels were chosen: its run computed with the reference plan.
    fn of_run(text: &str, origin: Origin, sets: &[String]) -> Result<Self, ConfigError> {
        let mut layers = Layers::new();
        layers.apply_file(text, origin)?;
        let planned = layers.origins.contains_key(KERNELS_KEY);
        for flag in sets {
            layers.apply_flag(flag)?;
        }
        let mut config = layers.finish()?;
        if !planned {
            config.backend.kernels = KernelChoice::Reference;
        }
        Ok(config)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises to TOML")
    }

    fn validate(&self, origin_of: impl Fn(&str) -> Origin) -> Result<(), ConfigError> {
        match self.checks().into_iter().find(|check| check.failed) {
            Some(check) => Err(ConfigError::Invalid {
                origin: origin_of(check.key),
                key: check.key,
                value: check.value,
                reason: check.reason,
            }),
            None => Ok(()),
        }
    }

    /// Every rule a config must keep, in the order they are reported.
    fn checks(&self) -> Vec<Check> {
        let (d, m, o) = (&self.data, &self.model, &self.output);
        let web = d.url.starts_with("http://") || d.url.starts_with("https://");
        let mut checks = vec![
            Check::new(
                "data.dir",
                d.dir.as_os_str().is_empty(),
                "\"\"",
                "must name a folder",
            ),
            Check::new(
                "data.url",
                d.download && !web,
                &d.url,
                "must start with http:// or https://",
            ),
            Check::new(
                "data.validation_size",
                d.validation_size > MAX_VALIDATION_SIZE,
                d.validation_size,
                &format!("must leave training images: at most {MAX_VALIDATION_SIZE}"),
            ),
            Check::new(
                "model.hidden_size",
                !(1..=MAX_HIDDEN_SIZE).contains(&m.hidden_size),
                m.hidden_size,
                &format!("must be 1 to {MAX_HIDDEN_SIZE}"),
            ),
        ];
        checks.extend(m.checks());
        checks.extend(self.training.checks());
        checks.extend([
            Check::new(
                "output.dir",
                o.dir.as_os_str().is_empty(),
                "\"\"",
                "must name a folder",
            ),
            Check::new(
                "output.samples",
                !(1..=MAX_SAMPLES).contains(&o.samples),
                o.samples,
                &format!("must be 1 to {MAX_SAMPLES}"),
            ),
        ]);
        checks
    }
}

/// A list as TOML writes it: `[128, 64]`.
fn toml_list(values: &[usize]) -> String {
    let items: Vec<String> = values.iter().map(usize::to_string).collect();
    format!("[{}]", items.join(", "))
}

impl ModelSettings {
    /// The rules of the `model` keys of each kind, in the order they are reported.
    fn checks(&self) -> Vec<Check> {
        let (kind, layers, channels) = (self.kind, &self.hidden_layers, &self.conv_channels);
        let pools = channels.len();
        let mirrored = (1..=MAX_CONV_LAYERS).contains(&pools)
            && pooled_sides(pools)
                .last()
                .is_some_and(|&side| last_conv_trims(side, pools).is_some());
        vec![
            Check::new(
                "model.hidden_layers",
                layers.iter().any(|n| !(1..=MAX_HIDDEN_SIZE).contains(n)),
                toml_list(layers),
                &format!("each layer must have 1 to {MAX_HIDDEN_SIZE} units"),
            ),
            Check::new(
                "model.hidden_layers",
                kind == ModelKind::Conv && !layers.is_empty(),
                toml_list(layers),
                "applies to kind \"dense\" and \"vae\"; a \"conv\" model takes model.conv_channels: set it to []",
            ),
            Check::new(
                "model.code_l1",
                !(self.code_l1.is_finite() && self.code_l1 >= 0.0),
                short_number(self.code_l1),
                "must be 0 (none) or a positive number, e.g. 1e-4",
            ),
            Check::new(
                "model.code_l1",
                kind != ModelKind::Dense && self.code_l1 != 0.0,
                short_number(self.code_l1),
                "applies to kind \"dense\" only: set it to 0",
            ),
            Check::new(
                "model.conv_channels",
                kind == ModelKind::Conv && !mirrored,
                toml_list(channels),
                &format!("must list 1 to {MAX_CONV_LAYERS} convolutions, e.g. [16, 8, 8]"),
            ),
            Check::new(
                "model.conv_channels",
                channels.iter().any(|c| !(1..=MAX_CHANNELS).contains(c)),
                toml_list(channels),
                &format!("each convolution must have 1 to {MAX_CHANNELS} channels"),
            ),
        ]
    }
}

impl TrainingConfig {
    /// The rules of the `training` keys, in the order they are reported.
    fn checks(&self) -> Vec<Check> {
        let t = self;
        let level = t.noise_level;
        let bad_noise = match t.noise {
            NoiseKind::None => None,
            NoiseKind::Gaussian => (!(level.is_finite() && level > 0.0 && level <= 1.0)).then_some(
                "with noise = \"gaussian\" it is the standard deviation: above 0, at most 1",
            ),
            NoiseKind::Masking => (!(level > 0.0 && level < 1.0)).then_some(
                "with noise = \"masking\" it is the share of pixels zeroed: above 0, below 1",
            ),
        };
        vec![
            Check::new(
                "training.epochs",
                t.epochs == 0,
                t.epochs,
                "must be at least 1",
            ),
            Check::new(
                "training.batch_size",
                !(1..=MNIST_TRAIN_IMAGES).contains(&t.batch_size),
                t.batch_size,
                &format!("must be 1 to {MNIST_TRAIN_IMAGES}"),
            ),
            Check::new(
                "training.learning_rate",
                !(t.learning_rate.is_finite() && t.learning_rate > 0.0),
                short_number(t.learning_rate),
                "must be a positive number, e.g. 0.01",
            ),
            Check::new(
                "training.noise_level",
                bad_noise.is_some(),
                short_number(level),
                bad_noise.unwrap_or_default(),
            ),
        ]
        .into_iter()
        .chain(self.optimizer_checks())
        .collect()
    }

    /// The rules of the `training.rmsprop` and `training.adam` keys.
    fn optimizer_checks(&self) -> Vec<Check> {
        let (r, a) = (&self.rmsprop, &self.adam);
        let below_one = "must be at least 0 and below 1";
        vec![
            Check::new(
                "training.rmsprop.alpha",
                !(0.0..1.0).contains(&r.alpha),
                short_number(r.alpha),
                below_one,
            ),
            Check::new(
                "training.rmsprop.momentum",
                !(0.0..1.0).contains(&r.momentum),
                short_number(r.momentum),
                below_one,
            ),
            Check::new(
                "training.rmsprop.epsilon",
                !(r.epsilon.is_finite() && r.epsilon >= 0.0),
                short_number(r.epsilon),
                "must be 0 or a small positive number",
            ),
            Check::new(
                "training.adam.beta_1",
                !(0.0..1.0).contains(&a.beta_1),
                short_number(a.beta_1),
                below_one,
            ),
            Check::new(
                "training.adam.beta_2",
                !(0.0..1.0).contains(&a.beta_2),
                short_number(a.beta_2),
                below_one,
            ),
            Check::new(
                "training.adam.epsilon",
                !(a.epsilon.is_finite() && a.epsilon > 0.0),
                short_number(a.epsilon),
                "must be a small positive number, e.g. 1e-7 (0 divides by zero where a gradient is 0)",
            ),
        ]
    }
}

/// A number as a person would type it: `0.001`, and `1e-7` or `1e308` where plain digits would
/// run long.
pub fn short_number<F>(value: F) -> String
where
    F: Copy + fmt::Display + fmt::LowerExp + Into<f64>,
{
    let magnitude = value.into().abs();
    if magnitude != 0.0 && magnitude.is_finite() && !(1e-4..1e6).contains(&magnitude) {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

/// The defaults with the user's layers applied, remembering which layer set each key.
struct Layers {
    schema: toml::Table,
    merged: toml::Table,
    origins: HashMap<String, Origin>,
}

impl Layers {
    fn new() -> Self {
        let schema: toml::Table =
            toml::from_str(DEFAULT_CONFIG_TOML).expect("config/default.toml is valid TOML");
        Self {
            merged: schema.clone(),
            schema,
            origins: HashMap::new(),
        }
    }

    fn apply_file(&mut self, text: &str, origin: Origin) -> Result<(), ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            origin: origin.clone(),
            message: one_line_toml_error(&e, text),
        })?;
        let mut leaves = Vec::new();
        flatten("", &table, &mut leaves);
        for (key, value) in leaves {
            self.set(&key, value, &origin)?;
        }
        Ok(())
    }

    fn apply_flag(&mut self, flag: &str) -> Result<(), ConfigError> {
        let bad_flag = || ConfigError::BadFlag {
            flag: flag.to_owned(),
        };
        let (key, raw) = flag.split_once('=').ok_or_else(bad_flag)?;
        let key = key.trim();
        if key.is_empty() {
            return Err(bad_flag());
        }
        // A TOML value when it parses as one (`5`, `0.01`, `true`, `"x"`), else the text itself.
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
        let digits = raw.trim().trim_start_matches(['+', '-']);
        if matches!(value, toml::Value::String(_))
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            // Digits TOML could not take: past the range of its integers.
            return Err(ConfigError::Type {
                origin: Origin::Flag(flag.to_owned()),
                key: key.to_owned(),
                message: format!(
                    "{} is out of range: TOML integers run from {} to {}",
                    raw.trim(),
                    i64::MIN,
                    i64::MAX
                ),
            });
        }
        self.set(key, value, &Origin::Flag(flag.to_owned()))
    }

    fn set(&mut self, key: &str, value: toml::Value, origin: &Origin) -> Result<(), ConfigError> {
        let parts: Vec<&str> = key.split('.').collect();
        let (last, sections) = parts.split_last().expect("split yields one part at least");
        let mut schema = &self.schema;
        let mut merged = &mut self.merged;
        for section in sections {
            match (schema.get(*section), merged.get_mut(*section)) {
                (Some(toml::Value::Table(s)), Some(toml::Value::Table(m))) => {
                    schema = s;
                    merged = m;
                }
                _ => return Err(unknown_key(&self.schema, key, origin)),
            }
        }
        match schema.get(*last) {
            Some(toml::Value::Table(_)) => Err(ConfigError::Type {
                origin: origin.clone(),
                key: key.to_owned(),
                message: "is a section; set the keys inside it, e.g. ".to_owned()
                    + &format!("{key}.{}", first_key(schema, last)),
            }),
            Some(_) => {
                merged.insert((*last).to_owned(), value);
                self.origins.insert(key.to_owned(), origin.clone());
                Ok(())
            }
            None => Err(unknown_key(&self.schema, key, origin)),
        }
    }

    fn finish(self) -> Result<Config, ConfigError> {
        let origin_of = |key: &str| self.origins.get(key).cloned().unwrap_or(Origin::Default);
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(
            self.merged.clone(),
        ))
        .map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Type {
                origin: origin_of(&key),
                key,
                // toml adds "in `key`" on a second line; the key leads the message already.
                message: e
                    .into_inner()
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            }
        })?;
        let mut config = config;
        // Fashion-MNIST has its own folder and mirror, unless the user named them.
        if origin_of("data.dir") == Origin::Default {
            config.data.dir = PathBuf::from(config.data.dataset.default_dir());
        }
        if origin_of("data.url") == Origin::Default {
            config.data.url = config.data.dataset.default_url().to_owned();
        }
        config.validate(origin_of)?;
        Ok(config)
    }
}

fn first_key(schema: &toml::Table, section: &str) -> String {
    match schema.get(section) {
        Some(toml::Value::Table(t)) => t
            .iter()
            .find(|(_, value)| !value.is_table())
            .map(|(name, _)| name.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// Every leaf of `table` as (`dotted.key`, value).
fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}

fn unknown_key(schema: &toml::Table, key: &str, origin: &Origin) -> ConfigError {
    let mut known = Vec::new();
    flatten("", schema, &mut known);
    let closest = known
        .iter()
        .map(|(k, _)| (strsim::levenshtein(k, key), k))
        .min()
        .filter(|(d, _)| *d <= 3);
    let hint = match closest {
        Some((_, k)) => format!("; did you mean '{k}'? (config/default.toml lists every key)"),
        None => "; config/default.toml lists every key".to_owned(),
    };
    ConfigError::UnknownKey {
        origin: origin.clone(),
        key: key.to_owned(),
        hint,
    }
}

/// toml's errors span several lines with a source excerpt; keep the line number and message.
fn one_line_toml_error(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(flag: &str) -> String {
        Config::load(None, &[flag.to_owned()])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_typo_is_answered_with_the_closest_key() {
        let err = unknown("training.epoch=3");
        assert!(err.contains("did you mean 'training.epochs'?"), "{err}");
        let err = unknown("modle.hidden_size=3");
        assert!(err.contains("did you mean 'model.hidden_size'?"), "{err}");
    }

    #[test]
    fn a_key_far_from_all_gets_no_guess() {
        let err = unknown("completely.unrelated=1");
        assert!(!err.contains("did you mean"), "{err}");
        assert!(err.contains("config/default.toml lists every key"), "{err}");
    }

    #[test]
    fn each_limit_is_the_one_its_message_names() {
        let at = |key: &str, value: usize| Config::load(None, &[format!("{key}={value}")]);
        assert!(at("data.validation_size", MAX_VALIDATION_SIZE).is_ok());
        let err = at("data.validation_size", MAX_VALIDATION_SIZE + 1).unwrap_err();
        assert!(
            err.to_string().contains(&MAX_VALIDATION_SIZE.to_string()),
            "{err}"
        );
        assert!(at("model.hidden_size", MAX_HIDDEN_SIZE).is_ok());
        let err = at("model.hidden_size", MAX_HIDDEN_SIZE + 1).unwrap_err();
        assert!(
            err.to_string().contains(&MAX_HIDDEN_SIZE.to_string()),
            "{err}"
        );
        assert!(at("output.samples", MAX_SAMPLES).is_ok());
        assert!(at("output.samples", MAX_SAMPLES + 1).is_err());
        assert!(at("training.batch_size", MNIST_TRAIN_IMAGES).is_ok());
        assert!(at("training.batch_size", MNIST_TRAIN_IMAGES + 1).is_err());
    }
}
