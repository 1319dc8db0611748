//! Train, evaluate and look at a 784 -> 256 -> 784 MNIST autoencoder with Burn.
//!
//! How data flows, layer by layer, each importing only from those above it in this list
//! (`.ci/checks/layers.py` holds it to that; `docs/layers.png` draws it):
//!
//! - [`artifacts`] writes every file atomically; [`simd`] picks the widest vector instructions
//!   the processor has for the hand-written loops; [`metrics`] is the per-epoch `metrics.csv`.
//! - [`data`] reads the IDX files (downloading them when allowed) into a Burn `Dataset`, and
//!   serves the Learner its batches in a per-epoch order, with optional noise.
//! - [`fused`] is the backend extension: the step's fused operations, hand-written kernels
//!   for ndarray (with the plan of which matrix product runs each product) and Burn's own
//!   ops composed for every other backend.
//! - [`model`] is the Burn `Module` (two Linear + Sigmoid stages) and its loss on them;
//!   [`optim`] holds TF1's and Burn's RMSProp.
//! - [`render`] draws grids of digits and charts.
//! - [`backend`] picks the backend type and the device; [`config`] gathers the settings of all
//!   of these from TOML and `--set` flags.
//! - [`run_dir`] is a run folder on disk: its files, lock, sealed records and safetensors.
//! - [`assess`] is what both commands report of a model: its test error and the tutorial's
//!   figure.
//! - [`inspect`] reads a run folder and evaluates, draws or exports what the model learned;
//!   [`train`] drives Burn's `Learner`: config -> data -> model <- optim, into a run folder.
//!   Neither imports the other.
//! - [`cli`] is the command line, which `main.rs` dispatches to `train` and `inspect`.

pub mod artifacts;
pub mod assess;
pub mod backend;
pub mod cli;
pub mod config;
pub mod data;
pub mod fused;
pub mod inspect;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod render;
pub mod run_dir;
pub mod simd;
pub mod train;
