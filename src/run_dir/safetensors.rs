//! The weights in and out as safetensors, the format PyTorch, NumPy and TensorFlow read.
//!
//! `export` writes the four tensors through Burn's own `burn-store` in PyTorch's layout (a
//! Linear weight as `[out, in]`), named as a reader would guess: `encoder.weight`,
//! `encoder.bias`, `decoder.weight`, `decoder.bias`, with what the run was in the file's
//! metadata. Reading takes that layout or Burn's own (`[in, out]`), every tensor checked first
//! for its name, type and shape, so a wrong file is one line, not a panic or a half-loaded model.

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use burn::store::{
    BurnToPyTorchAdapter, IdentityAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore,
};
use safetensors::{Dtype, SafeTensors};
use thiserror::Error;

use crate::artifacts::{ArtifactError, write_atomic};
use crate::data::IMAGE_PIXELS;
use crate::fused::FusedOps;
use crate::model::Autoencoder;

/// The tensors of a model, in the order they are listed to the user.
pub const TENSORS: [&str; 4] = [
    "encoder.weight",
    "encoder.bias",
    "decoder.weight",
    "decoder.bias",
];

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
    #[error(
        "'{}' has no tensor '{name}'; it needs {}",
        path.display(),
        TENSORS.join(", ")
    )]
    Missing { path: PathBuf, name: &'static str },
    #[error("'{}': tensor '{name}' is {dtype}; float32 (F32) is needed", path.display())]
    WrongType {
        path: PathBuf,
        name: &'static str,
        dtype: String,
    },
    #[error(
        "'{}': tensor '{name}' has shape {found:?}; {expected}",
        path.display()
    )]
    WrongShape {
        path: PathBuf,
        name: &'static str,
        found: Vec<usize>,
        expected: String,
    },
    #[error(
        "'{}' has a tensor '{name}' this model does not have; it takes exactly {}",
        path.display(),
        TENSORS.join(", ")
    )]
    Extra { path: PathBuf, name: String },
    #[error(
        "'{}': tensor '{name}' holds {bad} non-finite values (NaN or infinite) of {of}; pass weights that are all finite numbers",
        path.display()
    )]
    NonFinite {
        path: PathBuf,
        name: &'static str,
        bad: usize,
        of: usize,
    },
    #[error("'{}': {reason}", path.display())]
    Store { path: PathBuf, reason: String },
}

/// What a file of weights holds, once checked.
#[derive(Debug, Clone)]
pub struct Weights {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub hidden_size: usize,
    pub layout: Layout,
    pub metadata: HashMap<String, String>,
}

impl Weights {
    /// Reads `path` and checks its four tensors: present and alone, float32, finite, and shaped
    /// for one hidden size in one layout (`hidden_size`, when given, must be that size).
    pub fn read(path: &Path, hidden_size: Option<usize>) -> Result<Self, InteropError> {
        let bytes = std::fs::read(path).map_err(|source| InteropError::Read {
            path: path.to_owned(),
            source,
        })?;
        let not_safetensors = |e: safetensors::SafeTensorError| InteropError::NotSafetensors {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let file = SafeTensors::deserialize(&bytes).map_err(not_safetensors)?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(not_safetensors)?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let shapes = tensor_shapes(path, &file)?;
        let (hidden, layout) = hidden_and_layout(path, &shapes[0], &metadata, hidden_size)?;
        check_shapes(path, &shapes, hidden, layout)?;
        Ok(Self {
            path: path.to_owned(),
            bytes,
            hidden_size: hidden,
            layout,
            metadata,
        })
    }

    /// `model` (of [`Weights::hidden_size`] units) with these weights.
    pub(crate) fn load_into<B: FusedOps>(
        &self,
        mut model: Autoencoder<B>,
    ) -> Result<Autoencoder<B>, InteropError> {
        let store = SafetensorsStore::from_bytes(Some(self.bytes.clone()));
        let mut store = match self.layout {
            Layout::PyTorch => store.with_from_adapter(PyTorchToBurnAdapter),
            Layout::Burn => store.with_from_adapter(IdentityAdapter),
        };
        let result = model
            .load_from(&mut store)
            .map_err(|e| InteropError::Store {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        if !result.errors.is_empty() || !result.missing.is_empty() {
            return Err(InteropError::Store {
                path: self.path.clone(),
                reason: format!("{result}").replace('\n', " "),
            });
        }
        Ok(model)
    }
}

/// The shapes of the four tensors of `file`, in [`TENSORS`]' order, once each is found to be
/// there (and nothing else), float32, and finite.
fn tensor_shapes(path: &Path, file: &SafeTensors<'_>) -> Result<Vec<Vec<usize>>, InteropError> {
    if let Some(name) = file.names().into_iter().find(|n| !TENSORS.contains(n)) {
        return Err(InteropError::Extra {
            path: path.to_owned(),
            name: name.to_owned(),
        });
    }
    let mut shapes = Vec::new();
    for name in TENSORS {
        let tensor = file.tensor(name).map_err(|_| InteropError::Missing {
            path: path.to_owned(),
            name,
        })?;
        if tensor.dtype() != Dtype::F32 {
            return Err(InteropError::WrongType {
                path: path.to_owned(),
                name,
                dtype: format!("{:?}", tensor.dtype()),
            });
        }
        let values = tensor.data().chunks_exact(4);
        let of = values.len();
        let bad = values
            .filter(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
            .count();
        if bad > 0 {
            return Err(InteropError::NonFinite {
                path: path.to_owned(),
                name,
                bad,
                of,
            });
        }
        shapes.push(tensor.shape().to_vec());
    }
    Ok(shapes)
}

/// The hidden size and layout the encoder's weight `encoder` says (a square one says nothing
/// of its layout: the file's own word, else PyTorch's), checked against `wanted`.
fn hidden_and_layout(
    path: &Path,
    encoder: &[usize],
    metadata: &HashMap<String, String>,
    wanted: Option<usize>,
) -> Result<(usize, Layout), InteropError> {
    let wrong = |expected: String| InteropError::WrongShape {
        path: path.to_owned(),
        name: TENSORS[0],
        found: encoder.to_vec(),
        expected,
    };
    let (hidden, layout) = match *encoder {
        [IMAGE_PIXELS, IMAGE_PIXELS]
            if metadata.get("layout").map(String::as_str) == Some("burn") =>
        {
            (IMAGE_PIXELS, Layout::Burn)
        }
        [h, IMAGE_PIXELS] => (h, Layout::PyTorch),
        [IMAGE_PIXELS, h] => (h, Layout::Burn),
        _ => {
            return Err(wrong(
                "a weight matrix has 784 rows or 784 columns".to_owned(),
            ));
        }
    };
    match wanted {
        Some(wanted) if wanted != hidden => Err(wrong(format!(
            "model.hidden_size = {wanted} needs [{wanted}, 784] ({} layout) or [784, {wanted}] ({} layout)",
            Layout::PyTorch,
            Layout::Burn
        ))),
        _ => Ok((hidden, layout)),
    }
}

/// Checks the four shapes are those of `hidden` units in `layout`.
fn check_shapes(
    path: &Path,
    shapes: &[Vec<usize>],
    hidden: usize,
    layout: Layout,
) -> Result<(), InteropError> {
    let (encoder, decoder) = match layout {
        Layout::PyTorch => (vec![hidden, IMAGE_PIXELS], vec![IMAGE_PIXELS, hidden]),
        Layout::Burn => (vec![IMAGE_PIXELS, hidden], vec![hidden, IMAGE_PIXELS]),
    };
    let expected = [encoder, vec![hidden], decoder, vec![IMAGE_PIXELS]];
    for ((name, found), wanted) in TENSORS.into_iter().zip(shapes).zip(expected) {
        if *found != wanted {
            return Err(InteropError::WrongShape {
                path: path.to_owned(),
                name,
                found: found.clone(),
                expected: format!(
                    "with {} {:?} ({layout} layout) it must be {wanted:?}",
                    TENSORS[0], shapes[0]
                ),
            });
        }
    }
    Ok(())
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

/// Writes `model`'s weights to `path` as safetensors, PyTorch layout, with `info`.
pub fn export<B: FusedOps>(
    model: &Autoencoder<B>,
    info: &ExportInfo,
    path: &Path,
) -> Result<(), ArtifactError> {
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .metadata("layout", Layout::PyTorch.to_string())
        .metadata(
            "model",
            format!(
                "{IMAGE_PIXELS}-{}-{IMAGE_PIXELS} autoencoder, sigmoid after each Linear",
                model.hidden_size()
            ),
        )
        .metadata("hidden_size", model.hidden_size().to_string())
        .metadata("init", &info.init)
        .metadata("dataset", &info.dataset);
    if let Some(epochs) = info.epochs {
        store = store.metadata("epochs", epochs.to_string());
    }
    if let Some(mse) = info.test_mse {
        store = store.metadata("test_mse", mse.to_string());
    }
    let failed = |reason: String| ArtifactError::Write {
        path: path.to_owned(),
        source: std::io::Error::other(reason),
    };
    model
        .save_into(&mut store)
        .map_err(|e| failed(e.to_string()))?;
    let bytes = store.get_bytes().map_err(|e| failed(e.to_string()))?;
    write_atomic(path, |f| f.write_all(&bytes))
}
