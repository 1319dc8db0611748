use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use mnist_autoencoder::backend::{self, Backend, DeviceSpec, TrainingBackend};
use mnist_autoencoder::cli::{Cli, Command};
use mnist_autoencoder::config::Config;
use mnist_autoencoder::training;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::FAILURE;
        }
        Err(e) => {
            // clap's first line names the flag; its usage block follows on later lines.
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("error: bad arguments");
            eprintln!("{first} (see --help)");
            return ExitCode::FAILURE;
        }
    };
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Train { config, sets } => {
            let config = Config::load(config.as_deref(), &sets)?;
            let device = backend::device(config.backend.device)?;
            let report = training::train::<TrainingBackend>(&config, &device)?;
            println!(
                "Test MSE = {:.6} ({} test images)",
                report.test_mse, report.test_images
            );
            println!(
                "Saved model.mpk, config.toml, metrics.csv and reconstruction.png in '{}'",
                report.output_dir.display()
            );
            if !report.completed {
                eprintln!(
                    "error: training stopped after {} of {} epochs; the artifacts hold the model as it was then",
                    report.rows.len(),
                    config.training.epochs
                );
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Reconstruct {
            model,
            output,
            samples,
            data_dir,
        } => {
            let device = backend::device(DeviceSpec::Default)?;
            let path = training::reconstruct::<Backend>(
                &model,
                output.as_deref(),
                samples.map(usize::from),
                data_dir.as_deref(),
                &device,
            )?;
            println!("Wrote {}", path.display());
        }
        Command::Evaluate { model, data_dir } => {
            let device = backend::device(DeviceSpec::Default)?;
            let (mse, images) =
                training::evaluate::<Backend>(&model, data_dir.as_deref(), &device)?;
            println!(
                "Test MSE = {mse:.6} ({images} test images, model '{}')",
                model.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
