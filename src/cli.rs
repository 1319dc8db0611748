//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::render::chart::Scale;

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
    Train(TrainArgs),
    /// Draw test digits, or your own images (--image), over their reconstructions
    Reconstruct(ReconstructArgs),
    /// Report a trained model's test error (MSE, PSNR) and draw its worst reconstructions
    Evaluate(EvaluateArgs),
    /// Draw the training curve (train and validation cost per epoch) from a run's metrics.csv
    Curves(CurvesArgs),
    /// Map the test set's codes in 2-D (PCA), coloured by class; also export the codes as CSV
    Latent(LatentArgs),
    /// Write a run's weights as safetensors (PyTorch's layout: encoder.weight [hidden, 784],
    /// encoder.bias, decoder.weight [784, hidden], decoder.bias), with the run's facts as
    /// metadata
    Export(ExportArgs),
    /// Make a run folder from a safetensors file of weights, for reconstruct, evaluate, latent,
    /// interpolate and export
    Import(ImportArgs),
    /// Decode the straight line between the codes of two test images
    Interpolate(InterpolateArgs),
    /// Decode a grid over a variational model's latent plane (model.kind = "vae")
    Generate(GenerateArgs),
}

/// A config: the defaults, a file over them, flags over both.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// A TOML config; keys it leaves out keep the defaults of config/default.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one config key, e.g. --set training.epochs=5 (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// A trained run, and where its test images are.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Output directory of a `train` run
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// MNIST folder [default: data.dir of the run]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl RunArgs {
    /// The run these flags name.
    pub fn to_ref(&self) -> crate::inspect::RunRef<'_> {
        crate::inspect::RunRef {
            dir: &self.model,
            data_dir: self.data_dir.as_deref(),
        }
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Continue the run in DIR after its last complete epoch, with its saved config
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Start from the weights in a safetensors file (PyTorch's [out, in] layout, as
    /// `export` writes, or Burn's [in, out]); the same as --set model.init_from=FILE
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReconstructArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Where to write the PNG [default: DIR/reconstruction.png, or DIR/own-images.png]
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// How many test digits to show [default: output.samples of the run]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
    pub samples: Option<u16>,
    /// PNG or JPEG pictures of digits (any size; a light background is inverted) to
    /// reconstruct instead of test digits
    #[arg(long = "image", value_name = "FILE", num_args = 1.., conflicts_with_all = ["samples", "data_dir"])]
    pub images: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// How many of the worst-reconstructed test images to draw (0: none)
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(0..=100))]
    pub worst: u16,
    /// Where to draw them [default: DIR/worst.png]
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CurvesArgs {
    /// Output directory of a `train` run
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// The y axis [default: output.loss_scale of the run]
    #[arg(long, value_enum)]
    pub scale: Option<Scale>,
    /// Where to write the PNG [default: DIR/loss.png]
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LatentArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Where to write the PNG [default: DIR/latent.png]
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Where to write the codes [default: DIR/codes.csv]
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The file format
    #[arg(long, value_enum, default_value_t = Format::Safetensors)]
    pub format: Format,
    /// Where to write it [default: DIR/model.safetensors]
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The weights (PyTorch's layout or Burn's)
    #[arg(long = "from", value_name = "FILE")]
    pub from: PathBuf,
    /// The run folder to make (it must not hold a run)
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// A config for the run (data.dir and the like); model.hidden_size comes from the file
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Digits per side of the grid
    #[arg(long, value_name = "N", default_value_t = 15, value_parser = clap::value_parser!(u16).range(2..=30))]
    pub steps: u16,
    /// The grid runs from -SPAN to SPAN on each axis (the prior is N(0, 1))
    #[arg(long, value_name = "SPAN", default_value_t = 2.0, value_parser = span)]
    pub span: f32,
    /// Where to write the PNG [default: DIR/generated.png]
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// A grid's half-width: a positive number up to 10.
fn span(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if v > 0.0 && v <= 10.0 => Ok(v),
        _ => Err("must be a number above 0 and at most 10, e.g. 2".to_owned()),
    }
}

#[derive(Debug, Args)]
pub struct InterpolateArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Test image to start from (its index in the test set)
    #[arg(long, value_name = "INDEX", default_value_t = 0)]
    pub from: usize,
    /// Test image to end at
    #[arg(long, value_name = "INDEX", default_value_t = 1)]
    pub to: usize,
    /// Decoded images along the line, both ends included
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(2..=30))]
    pub steps: u16,
    /// Where to write the PNG [default: DIR/interpolation.png]
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}
