//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mnist-autoencoder",
    version,
    about = "Train and use an MNIST autoencoder (Burn)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train the autoencoder; writes the model, config.toml, metrics.csv and reconstruction.png
    /// to output.dir
    Train {
        /// A TOML config; keys it leaves out keep the defaults of config/default.toml
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Override one config key, e.g. --set training.epochs=5 (repeatable)
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Continue the run in DIR after its last complete epoch, with its saved config
        #[arg(long, value_name = "DIR")]
        resume: Option<PathBuf>,
    },
    /// Draw test digits over their reconstructions with a trained model
    Reconstruct {
        /// Output directory of a `train` run
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// Where to write the PNG [default: DIR/reconstruction.png]
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// How many test digits to show [default: output.samples of the run]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
        samples: Option<u16>,
        /// MNIST folder [default: data.dir of the run]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Report a trained model's mean squared error on the 10,000 test images
    Evaluate {
        /// Output directory of a `train` run
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// MNIST folder [default: data.dir of the run]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}
