//! Train, evaluate and look at a 784 -> 256 -> 784 MNIST autoencoder with Burn.
//!
//! The library behind the `mnist-autoencoder` binary: [`model`] holds the Burn module,
//! [`data`] the IDX reader and the Burn `Dataset`, [`training`] the `Learner` wiring.

pub mod artifacts;
pub mod backend;
pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod data;
pub mod epoch_log;
pub mod evaluate;
pub mod explore;
pub mod figure;
pub mod fused;
pub mod interop;
pub mod model;
pub mod optim;
pub mod plots;
pub mod stop;
pub mod training;

use thiserror::Error;

/// Side of an MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels in an MNIST image, the model's input and output width.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// Everything that can stop a command, each with a message a user can act on.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error(transparent)]
    Download(#[from] data::download::DownloadError),
    #[error(transparent)]
    Artifact(#[from] artifacts::ArtifactError),
    #[error(transparent)]
    Dashboard(#[from] dashboard::NoTerminal),
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error(transparent)]
    Explore(#[from] explore::ExploreError),
    #[error(transparent)]
    Device(#[from] backend::DeviceError),
    #[error(transparent)]
    Interop(#[from] interop::InteropError),
    #[error("{key} = {value}: {reason}")]
    Setting {
        key: &'static str,
        value: String,
        reason: String,
    },
}
