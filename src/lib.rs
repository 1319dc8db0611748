//! Train, evaluate and look at a 784 -> 256 -> 784 MNIST autoencoder with Burn.
//!
//! The library behind the `mnist-autoencoder` binary: [`model`] holds the Burn module,
//! [`data`] the IDX reader and the Burn `Dataset`, [`training`] the `Learner` wiring.

pub mod artifacts;
pub mod backend;
pub mod cli;
pub mod config;
pub mod data;
pub mod inspect;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod render;
pub mod run_dir;
pub mod train;

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
    Artifact(#[from] artifacts::ArtifactError),
    #[error(transparent)]
    Dashboard(#[from] train::dashboard::NoTerminal),
    #[error(transparent)]
    Checkpoint(#[from] train::checkpoint::CheckpointError),
    #[error(transparent)]
    Explore(#[from] inspect::explore::ExploreError),
    #[error(transparent)]
    Device(#[from] backend::DeviceError),
    #[error(transparent)]
    Interop(#[from] run_dir::safetensors::InteropError),
    #[error("cannot watch for Ctrl-C and SIGTERM: {0}")]
    Signals(#[source] std::io::Error),
    #[error(transparent)]
    RunDir(#[from] run_dir::RunDirError),
    #[error("{key} = {value}: {reason}")]
    Setting {
        key: &'static str,
        value: String,
        reason: String,
    },
}
