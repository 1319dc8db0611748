//! MNIST on disk: the IDX reader, the standard files and their download, and the Burn
//! `Dataset` + `Batcher` that feed the Learner.

pub mod download;
pub mod idx;
mod mnist;

pub use mnist::*;
