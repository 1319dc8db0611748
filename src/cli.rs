//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Scale;

/// The formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// safetensors, as PyTorch, NumPy and TensorFlow read it.
    Safetensors,
}

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
        /// Start from the weights in a safetensors file (PyTorch's [out, in] layout, as
        /// `export` writes, or Burn's [in, out]); the same as --set model.init_from=FILE
        #[arg(long, value_name = "FILE", conflicts_with = "resume")]
        init_from: Option<PathBuf>,
    },
    /// Draw test digits, or your own images (--image), over their reconstructions
    Reconstruct {
        /// Output directory of a `train` run
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// Where to write the PNG [default: DIR/reconstruction.png, or DIR/own-images.png]
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// How many test digits to show [default: output.samples of the run]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
        samples: Option<u16>,
        /// MNIST folder [default: data.dir of the run]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// PNG or JPEG pictures of digits (any size; a light background is inverted) to
        /// reconstruct instead of test digits
        #[arg(long = "image", value_name = "FILE", num_args = 1.., conflicts_with_all = ["samples", "data_dir"])]
        images: Vec<PathBuf>,
    },
    /// Report a trained model's test error (MSE, PSNR) and draw its worst reconstructions
    Evaluate {
        /// Output directory of a `train` run
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// MNIST folder [default: data.dir of the run]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// How many of the worst-reconstructed test images to draw (0: none)
        #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(0..=100))]
        worst: u16,
        /// Where to draw them [default: DIR/worst.png]
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Draw the training curve (train and validation cost per epoch) from a run's metrics.csv
    Curves {
        /// Output directory of a `train` run
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// The y axis [default: output.loss_scale of the run]
        #[arg(long, value_enum)]
        scale: Option<Scale>,
        /// Where to write the PNG [default: DIR/loss.png]
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Map the test set's codes in 2-D (PCA), coloured by class; also export the codes as CSV
    Latent {
        /// Output directory of a `train` run
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// Where to write the PNG [default: DIR/latent.png]
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Where to write the codes [default: DIR/codes.csv]
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// MNIST folder [default: data.dir of the run]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Write a run's weights as safetensors (PyTorch's layout: encoder.weight [hidden, 784],
    /// encoder.bias, decoder.weight [784, hidden], decoder.bias), with the run's facts as
    /// metadata
    Export {
        /// Output directory of a `train` run
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// The file format
        #[arg(long, value_enum, default_value_t = Format::Safetensors)]
        format: Format,
        /// Where to write it [default: DIR/model.safetensors]
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// MNIST folder, for the test MSE in the metadata [default: data.dir of the run]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Make a run folder from a safetensors file of weights, for reconstruct, evaluate, latent,
    /// interpolate and export
    Import {
        /// The weights (PyTorch's layout or Burn's)
        #[arg(long = "from", value_name = "FILE")]
        from: PathBuf,
        /// The run folder to make (it must not hold a run)
        #[arg(long, value_name = "DIR")]
        output: PathBuf,
        /// A TOML config for the run (data.dir and the like); model.hidden_size comes from the file
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Override one config key (repeatable)
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Decode the straight line between the codes of two test images
    Interpolate {
        /// Output directory of a `train` run
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// Test image to start from (its index in the test set)
        #[arg(long, value_name = "INDEX", default_value_t = 0)]
        from: usize,
        /// Test image to end at
        #[arg(long, value_name = "INDEX", default_value_t = 1)]
        to: usize,
        /// Decoded images along the line, both ends included
        #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(2..=30))]
        steps: u16,
        /// Where to write the PNG [default: DIR/interpolation.png]
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// MNIST folder [default: data.dir of the run]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}
