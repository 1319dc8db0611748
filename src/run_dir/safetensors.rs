//! The weights in and out as safetensors, the format PyTorch, NumPy and TensorFlow read.
//!
//! `export` writes every parameter in PyTorch's layout (a Linear weight as `[out, in]`; a
//! convolution's is `[out, in, 3, 3]` in both), named as PyTorch would name the same model: a
//! stack of one layer as a module field (`encoder.weight`, `decoder.bias`: the tutorial's), of
//! several as an `nn.ModuleList` of them (`encoder.0.weight`, `encoder.1.weight`, ...), the
//! VAE's heads `mean` and `log_variance`, the convolutional decoder's last layer `output`. The
//! file's metadata says what the run was and which model it holds, so that `import` rebuilds it.
//! Reading takes that layout or Burn's own (`[in, out]`), every tensor checked first for its
//! name, type and shape, so a wrong file is one line, not a panic or a half-loaded model.

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use burn::store::{IdentityAdapter, ModuleSnapshot, SafetensorsStore};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use thiserror::Error;

use crate::artifacts::{ArtifactError, write_atomic};
use crate::config::Config;
use crate::data::IMAGE_PIXELS;
use crate::fused::FusedOps;
use crate::model::{Autoencoder, AutoencoderConfig, ModelKind};

/// The layout of the weight matrices in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[out, in]`, as `torch.nn.Linear` keeps them (what `export` writes).
    PyTorch,
    /// `[in, out]`, as Burn's `Linear` keeps them.
    Burn,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::PyTorch => "pytorch",
            Layout::Burn => "burn",
        })
    }
}

#[derive(Debug, Error)]
pub enum InteropError {
    #[error("cannot read '{}': {source}; pass a safetensors file", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "'{}' is not a whole safetensors file ({reason}); pass one written by `export` or by safetensors' save_file",
        path.display()
    )]
    NotSafetensors { path: PathBuf, reason: String },
    #[error("'{}' has no tensor '{name}'; {model} needs {needed}", path.display())]
    Missing {
        path: PathBuf,
        name: String,
        model: String,
        needed: String,
    },
    #[error("'{}': tensor '{name}' is {dtype}; float32 (F32) is needed", path.display())]
    WrongType {
        path: PathBuf,
        name: String,
        dtype: String,
    },
    #[error(
        "'{}': tensor '{name}' has shape {found:?}; {expected}",
        path.display()
    )]
    WrongShape {
        path: PathBuf,
        name: String,
        found: Vec<usize>,
        expected: String,
    },
    #[error(
        "'{}' has a tensor '{name}' that {model} does not have; it takes exactly {needed} (set the [model] keys of the model the file holds with --config or --set)",
        path.display()
    )]
    Extra {
        path: PathBuf,
        name: String,
        model: String,
        needed: String,
    },
    #[error(
        "'{}': tensor '{name}' holds {bad} non-finite values (NaN or infinite) of {of}; pass weights that are all finite numbers",
        path.display()
    )]
    NonFinite {
        path: PathBuf,
        name: String,
        bad: usize,
        of: usize,
    },
    #[error("'{}': {reason}", path.display())]
    Store { path: PathBuf, reason: String },
}

/// The keys of a run's config that say which model it is: what `export` writes into a file's
/// metadata, and `import` reads back.
const MODEL_KEYS: [&str; 7] = [
    "model.kind",
    "model.hidden_size",
    "model.hidden_layers",
    "model.activation",
    "model.code_l1",
    "model.conv_channels",
    "training.loss",
];

/// A safetensors file, read whole and parsed once.
#[derive(Debug, Clone)]
pub struct SafetensorsFile {
    pub path: PathBuf,
    bytes: Vec<u8>,
    pub metadata: HashMap<String, String>,
}

impl SafetensorsFile {
    pub fn open(path: &Path) -> Result<Self, InteropError> {
        let bytes = std::fs::read(path).map_err(|source| InteropError::Read {
            path: path.to_owned(),
            source,
        })?;
        let not_safetensors = |e: safetensors::SafeTensorError| InteropError::NotSafetensors {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        SafeTensors::deserialize(&bytes).map_err(not_safetensors)?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(not_safetensors)?;
        let metadata = header.metadata().clone().unwrap_or_default();
        Ok(Self {
            path: path.to_owned(),
            bytes,
            metadata,
        })
    }

    fn tensors(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("parsed when opened")
    }

    /// `--set` flags for the model the file says it holds (a file `export` wrote names it in
    /// its metadata); for a file of the tutorial's two layers without that, its hidden size.
    pub fn model_settings(&self) -> Vec<String> {
        let named: Vec<String> = MODEL_KEYS
            .iter()
            .filter_map(|key| Some(format!("{key}={}", self.metadata.get(*key)?)))
            .collect();
        if !named.is_empty() {
            return named;
        }
        let tensors = self.tensors();
        let hidden = match tensors.tensor("encoder.weight").map(|t| t.shape().to_vec()) {
            Ok(shape) => match shape[..] {
                [h, IMAGE_PIXELS] | [IMAGE_PIXELS, h] => Some(h),
                _ => None,
            },
            Err(_) => None,
        };
        hidden
            .map(|h| format!("model.hidden_size={h}"))
            .into_iter()
            .collect()
    }

    /// The weights of the model `spec` describes, every tensor checked: present (and nothing
    /// else), float32, finite, and shaped for that model in one layout.
    pub fn weights(&self, spec: &AutoencoderConfig) -> Result<Weights, InteropError> {
        let tensors = self.tensors();
        let expected: Vec<(String, Vec<usize>)> = file_names(spec.parameters());
        let model = format!("the model {}", spec.describe());
        let needed = expected
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(name) = tensors
            .names()
            .into_iter()
            .find(|n| !expected.iter().any(|(e, _)| e == *n))
        {
            return Err(InteropError::Extra {
                path: self.path.clone(),
                name: name.to_owned(),
                model,
                needed,
            });
        }
        let mut views = Vec::with_capacity(expected.len());
        for (name, _) in &expected {
            let view = tensors.tensor(name).map_err(|_| InteropError::Missing {
                path: self.path.clone(),
                name: name.clone(),
                model: model.clone(),
                needed: needed.clone(),
            })?;
            self.check_values(name, &view)?;
            views.push(view);
        }
        let layout = self.layout(spec, &expected, &views)?;
        let mut burn = Vec::with_capacity(views.len());
        for ((name, want), view) in expected.iter().zip(&views) {
            self.check_shape(spec, name, want, view.shape(), layout)?;
            burn.push((name.clone(), in_burn_layout(view, layout)));
        }
        Ok(Weights {
            path: self.path.clone(),
            tensors: burn,
            layout,
            spec: spec.clone(),
        })
    }

    /// Float32 and finite.
    fn check_values(&self, name: &str, view: &TensorView<'_>) -> Result<(), InteropError> {
        if view.dtype() != Dtype::F32 {
            return Err(InteropError::WrongType {
                path: self.path.clone(),
                name: name.to_owned(),
                dtype: format!("{:?}", view.dtype()),
            });
        }
        let values = view.data().chunks_exact(4);
        let of = values.len();
        let bad = values
            .filter(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
            .count();
        if bad > 0 {
            return Err(InteropError::NonFinite {
                path: self.path.clone(),
                name: name.to_owned(),
                bad,
                of,
            });
        }
        Ok(())
    }

    /// The layout of the file's weight matrices: its metadata's word, else what its first
    /// matrix's shape says (a square one says nothing: PyTorch's).
    fn layout(
        &self,
        spec: &AutoencoderConfig,
        expected: &[(String, Vec<usize>)],
        views: &[TensorView<'_>],
    ) -> Result<Layout, InteropError> {
        if let Some(layout) = self.metadata.get("layout") {
            return Ok(if layout == "burn" {
                Layout::Burn
            } else {
                Layout::PyTorch
            });
        }
        let first = expected.iter().zip(views).find(|((_, s), _)| s.len() == 2);
        let Some(((name, want), view)) = first else {
            return Ok(Layout::PyTorch);
        };
        let found = view.shape();
        if found == [want[1], want[0]] {
            Ok(Layout::PyTorch)
        } else if found == &want[..] {
            Ok(Layout::Burn)
        } else {
            let wrong = |expected: String| InteropError::WrongShape {
                path: self.path.clone(),
                name: name.clone(),
                found: found.to_vec(),
                expected,
            };
            Err(wrong(match *found {
                [_, IMAGE_PIXELS] | [IMAGE_PIXELS, _] if is_tutorial(spec) => format!(
                    "model.hidden_size = {h} needs [{h}, 784] ({} layout) or [784, {h}] ({} layout)",
                    Layout::PyTorch,
                    Layout::Burn,
                    h = spec.hidden_size,
                ),
                _ if is_tutorial(spec) => "a weight matrix has 784 rows or 784 columns".to_owned(),
                _ => format!(
                    "{} needs [{}, {}] ({} layout) or {want:?} ({} layout)",
                    spec.shape_keys(),
                    want[1],
                    want[0],
                    Layout::PyTorch,
                    Layout::Burn
                ),
            }))
        }
    }

    /// The shape `want` (Burn's layout) has in `layout`.
    fn check_shape(
        &self,
        spec: &AutoencoderConfig,
        name: &str,
        want: &[usize],
        found: &[usize],
        layout: Layout,
    ) -> Result<(), InteropError> {
        let wanted = match (layout, want) {
            (Layout::PyTorch, [rows, cols]) => vec![*cols, *rows],
            _ => want.to_vec(),
        };
        if found == wanted {
            return Ok(());
        }
        Err(InteropError::WrongShape {
            path: self.path.clone(),
            name: name.to_owned(),
            found: found.to_vec(),
            expected: format!("{} needs {wanted:?} ({layout} layout)", spec.shape_keys()),
        })
    }
}

/// The tutorial's kind of model: two layers, one each side of the code.
fn is_tutorial(spec: &AutoencoderConfig) -> bool {
    spec.kind == ModelKind::Dense && spec.hidden_layers.is_empty()
}

/// Parameters under the names a file gives them: a stack of one layer as a plain field
/// (`encoder.0.weight` -> `encoder.weight`).
fn file_names(parameters: Vec<(String, Vec<usize>)>) -> Vec<(String, Vec<usize>)> {
    let single = |stack: &str| {
        !parameters
            .iter()
            .any(|(name, _)| name.starts_with(&format!("{stack}.1.")))
    };
    let renamed: Vec<String> = parameters
        .iter()
        .map(|(name, _)| match name.split_once(".0.") {
            Some((stack, rest)) if !stack.contains('.') && single(stack) => {
                format!("{stack}.{rest}")
            }
            _ => name.clone(),
        })
        .collect();
    renamed
        .into_iter()
        .zip(parameters)
        .map(|(name, (_, shape))| (name, shape))
        .collect()
}

/// A tensor's values in Burn's layout: a matrix in `layout` PyTorch's transposed.
fn in_burn_layout(view: &TensorView<'_>, layout: Layout) -> (Vec<usize>, Vec<f32>) {
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    match (layout, view.shape()) {
        (Layout::PyTorch, &[rows, cols]) => (vec![cols, rows], transposed(rows, cols, &values)),
        (_, shape) => (shape.to_vec(), values),
    }
}

/// `[rows, cols]` row-major values, transposed.
fn transposed(rows: usize, cols: usize, values: &[f32]) -> Vec<f32> {
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| values[r * cols + c]))
        .collect()
}

/// A tensor under its file name: its shape and values.
type Named = (String, (Vec<usize>, Vec<f32>));

/// The weights of a file, checked, in Burn's layout.
#[derive(Debug, Clone)]
pub struct Weights {
    pub path: PathBuf,
    /// Each parameter under the file's name for it, in the model's order: shape and values.
    tensors: Vec<Named>,
    /// The layout the file was in.
    pub layout: Layout,
    /// The model they are the weights of.
    pub spec: AutoencoderConfig,
}

impl Weights {
    /// `model` (the one [`Weights::spec`] describes) with these weights.
    pub(crate) fn load_into<B: FusedOps>(
        &self,
        mut model: Autoencoder<B>,
    ) -> Result<Autoencoder<B>, InteropError> {
        let failed = |reason: String| InteropError::Store {
            path: self.path.clone(),
            reason,
        };
        // Under the model's own names, in its layout, for Burn's store to apply.
        let names = self.spec.parameters();
        let bytes = safetensors_bytes(
            names
                .iter()
                .zip(&self.tensors)
                .map(|((name, _), (_, tensor))| (name.as_str(), tensor)),
            None,
        )
        .map_err(failed)?;
        let mut store = SafetensorsStore::from_bytes(Some(bytes))
            .with_from_adapter(IdentityAdapter)
            .skip_enum_variants(true);
        let result = model
            .load_from(&mut store)
            .map_err(|e| failed(e.to_string()))?;
        if !result.errors.is_empty() || !result.missing.is_empty() {
            return Err(failed(format!("{result}").replace('\n', " ")));
        }
        Ok(model)
    }
}

/// Named tensors (shape, values) as the bytes of a safetensors file.
fn safetensors_bytes<'a>(
    tensors: impl Iterator<Item = (&'a str, &'a (Vec<usize>, Vec<f32>))>,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, String> {
    let owned: Vec<(&str, Vec<usize>, Vec<u8>)> = tensors
        .map(|(name, (shape, values))| {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, shape.clone(), bytes)
        })
        .collect();
    let views = owned
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes).map(|view| (*name, view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    safetensors::serialize(views, metadata).map_err(|e| e.to_string())
}

/// What `export` writes into a file's metadata, besides the layout.
#[derive(Debug, Clone, Default)]
pub struct ExportInfo {
    pub init: String,
    pub dataset: String,
    /// Epochs trained, where the run's `metrics.csv` tells.
    pub epochs: Option<usize>,
    pub test_mse: Option<f64>,
}

/// The values of [`MODEL_KEYS`] in `config`, as TOML writes them (`"dense"`, `[128, 64]`).
pub(crate) fn model_keys(config: &Config) -> Vec<(&'static str, String)> {
    let table = toml::Value::try_from(config).expect("a config is TOML");
    MODEL_KEYS
        .iter()
        .filter_map(|key| {
            let value = key
                .split('.')
                .try_fold(&table, |value, part| value.get(part))?;
            Some((*key, value.to_string()))
        })
        .collect()
}

/// Writes `model`'s weights to `path` as safetensors, PyTorch layout, with what `config` says
/// of it and `info`; returns the tensors' names.
pub fn export<B: FusedOps>(
    model: &Autoencoder<B>,
    config: &Config,
    info: &ExportInfo,
    path: &Path,
) -> Result<Vec<String>, ArtifactError> {
    let mut metadata: HashMap<String, String> = model_keys(config)
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    let extra = [
        ("layout", Some(Layout::PyTorch.to_string())),
        ("model", Some(config.autoencoder().describe())),
        ("hidden_size", Some(config.model.hidden_size.to_string())),
        ("init", Some(info.init.clone())),
        ("dataset", Some(info.dataset.clone())),
        ("epochs", info.epochs.map(|e| e.to_string())),
        ("test_mse", info.test_mse.map(|mse| mse.to_string())),
    ];
    for (key, value) in extra {
        if let Some(value) = value {
            metadata.insert(key.to_owned(), value);
        }
    }
    let names = file_names(model.parameter_shapes());
    let tensors: Vec<Named> = names
        .into_iter()
        .zip(model.named_parameters())
        .map(|((name, shape), (_, values))| match shape[..] {
            [rows, cols] => (name, (vec![cols, rows], transposed(rows, cols, &values))),
            _ => (name, (shape, values)),
        })
        .collect();
    let bytes = safetensors_bytes(
        tensors.iter().map(|(name, tensor)| (name.as_str(), tensor)),
        Some(metadata),
    )
    .map_err(|reason| ArtifactError::Write {
        path: path.to_owned(),
        source: std::io::Error::other(reason),
    })?;
    write_atomic(path, |f| f.write_all(&bytes))?;
    Ok(tensors.into_iter().map(|(name, _)| name).collect())
}
