//! MNIST on disk: the IDX reader, the standard files and their download, and the Burn
//! `Dataset` + `Batcher` that feed the Learner.

pub mod download;
pub mod idx;
mod kind;
mod loader;
mod mnist;

pub use kind::DatasetKind;
pub use loader::{EpochLoader, Noise, epoch_order};
pub use mnist::*;
