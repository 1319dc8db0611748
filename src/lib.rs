//! Train, evaluate and look at a 784 -> 256 -> 784 MNIST autoencoder with Burn.
//!
//! How data flows, layer by layer, each importing only from those above it in this list:
//!
//! - [`artifacts`] writes every file atomically; [`metrics`] is the per-epoch `metrics.csv`.
//! - [`data`] reads the IDX files (downloading them when allowed) into a Burn `Dataset`, and
//!   serves the Learner its batches in a per-epoch order, with optional noise.
//! - [`model`] is the Burn `Module` (two Linear + Sigmoid stages) and its loss, on any backend
//!   that implements the fused operations of [`fused`] (ndarray's are hand-written, every
//!   other backend composes Burn's own ops); [`optim`] holds TF1's and Burn's RMSProp on them.
//! - [`render`] draws grids of digits and charts.
//! - [`backend`] picks the backend type and the device; [`config`] gathers the settings of all
//!   of these from TOML and `--set` flags.
//! - [`run_dir`] is a run folder on disk: its files, lock, sealed records and safetensors.
//! - [`inspect`] reads a run folder and evaluates, draws or exports what the model learned.
//! - [`train`] drives Burn's `Learner`: config -> data -> model <- optim, into a run folder,
//!   and ends with `inspect`'s test error and figure.
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
pub mod train;
