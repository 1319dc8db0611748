use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use mnist_autoencoder::artifacts::ArtifactError;
use mnist_autoencoder::artifacts::{shell_path, shell_word};
use mnist_autoencoder::backend::{self, Backend, Device, DeviceSpec, TrainingBackend};
use mnist_autoencoder::cli::{
    Cli, Command, ConfigArgs, EvaluateArgs, ExportArgs, Format, GenerateArgs, ImportArgs,
    InterpolateArgs, LatentArgs, ReconstructArgs, TrainArgs,
};
use mnist_autoencoder::config::{Config, short_number};
use mnist_autoencoder::inspect::{self, RunRef};
use mnist_autoencoder::run_dir::{RunDir, RunLock};
use mnist_autoencoder::train::stop::{self, StopReason};
use mnist_autoencoder::train::{self, StopCause, Stopped, TrainOutcome};

fn main() -> ExitCode {
    backend::before_threads();
    // A closed stdout (`train | head -1`) ends the process quietly, as it does other Unix tools,
    // instead of panicking in `println!`. Every file is written atomically, so none is half done.
    #[cfg(unix)]
    // SAFETY: restores the default action of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
    // From here a Ctrl-C or SIGTERM ends any command with a line and no partial file;
    // `train` takes them over to stop cleanly once it writes its run.
    if let Err(e) = stop::watch_signals() {
        eprintln!("error: cannot watch for Ctrl-C and SIGTERM: {e}");
        return ExitCode::FAILURE;
    }
    match backend::run_on_compute_thread(|| run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            // One line, whatever a library's message holds.
            let message = e.to_string();
            let line: Vec<&str> = message.split_whitespace().collect();
            eprintln!("error: {}", line.join(" "));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Train(args) => train(args),
        Command::Reconstruct(args) => reconstruct(args),
        Command::Evaluate(args) => evaluate(args),
        Command::Curves(args) => {
            let run = RunRef {
                dir: &args.model,
                data_dir: None,
            };
            let path = inspect::curves(run, args.scale, args.output.as_deref())?;
            println!("Wrote {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Latent(args) => latent(args),
        Command::Export(args) => export(args),
        Command::Import(args) => import(args),
        Command::Generate(args) => generate(args),
        Command::Interpolate(args) => interpolate(args),
    }
}

/// The inference device of the commands that read a run.
fn device() -> anyhow::Result<Device> {
    Ok(backend::device(DeviceSpec::Default)?)
}

fn train(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let TrainArgs {
        config: ConfigArgs { config, mut sets },
        resume,
        init_from,
    } = args;
    train::stop_at_once_before_training(resume.as_deref());
    if let Some(file) = init_from {
        sets.push(format!("model.init_from={}", inspect::toml_string(&file)));
    }
    let config = match &resume {
        Some(dir) if config.is_some() => anyhow::bail!(
            "--config cannot go with --resume: the run in '{}' keeps its config.toml",
            dir.display()
        ),
        Some(dir) => {
            // Before its config: a run just started may not have written it yet.
            RunLock::check_free(dir)?;
            RunDir::new(dir).resume_config(&sets)?
        }
        None => Config::load(config.as_deref(), &sets)?,
    };
    let device = backend::device(config.backend.device)?;
    match train::train::<TrainingBackend>(&config, resume.is_some(), &device)? {
        TrainOutcome::Finished(report) => {
            println!(
                "Test MSE = {:.6} ({} test images)",
                report.test_mse, report.test_images
            );
            println!(
                "Saved model.mpk, config.toml, metrics.csv, loss.png and reconstruction.png in '{}'",
                report.output_dir.display()
            );
            if let Some(reason) = report.late_signal {
                eprintln!("Stopped by {reason} after every file of the run was written");
                return Ok(ExitCode::from(reason.exit_code()));
            }
            Ok(ExitCode::SUCCESS)
        }
        TrainOutcome::Stopped(stopped) => {
            eprintln!("{}", stopped_message(&stopped));
            let code = match &stopped.cause {
                StopCause::Asked(reason) => reason.exit_code(),
                _ => 1,
            };
            Ok(ExitCode::from(code))
        }
    }
}

fn reconstruct(args: ReconstructArgs) -> anyhow::Result<ExitCode> {
    let (run, output) = (args.run.to_ref(), args.output.as_deref());
    let path = if args.images.is_empty() {
        let samples = args.samples.map(usize::from);
        inspect::reconstruct::<Backend>(run, samples, output, &device()?)?
    } else {
        inspect::reconstruct_images::<Backend>(run, &args.images, output, &device()?)?
    };
    println!("Wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn evaluate(args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let EvaluateArgs { run, worst, output } = args;
    let evaluation = inspect::evaluate::<Backend>(
        run.to_ref(),
        usize::from(worst),
        output.as_deref(),
        &device()?,
    )?;
    println!(
        "Test MSE = {:.6}, PSNR = {:.2} dB ({} test images, model '{}')",
        evaluation.mse,
        evaluation.psnr,
        evaluation.images,
        run.model.display()
    );
    if let Some((value, name)) = &evaluation.objective {
        println!("Test loss = {value:.6} (the training objective: {name})");
    }
    if let Some(path) = &evaluation.worst_figure {
        let list: Vec<String> = evaluation
            .worst
            .iter()
            .map(|(index, label, mse)| format!("#{index} ({label}) {mse:.4}"))
            .collect();
        println!("Worst reconstructed: {}", list.join(", "));
        println!("Wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn latent(args: LatentArgs) -> anyhow::Result<ExitCode> {
    let LatentArgs { run, output, csv } = args;
    let (png, csv, report) =
        inspect::latent::<Backend>(run.to_ref(), output.as_deref(), csv.as_deref(), &device()?)?;
    match report.explained {
        Some([a, b]) => println!(
            "Encoded {} test images; the first two principal components hold {:.1}% and {:.1}% of the codes' variance",
            report.images,
            a * 100.0,
            b * 100.0
        ),
        None => println!(
            "Encoded {} test images; the map shows the means of their two-dimensional codes",
            report.images
        ),
    }
    println!("Wrote {} and {}", png.display(), csv.display());
    Ok(ExitCode::SUCCESS)
}

fn interpolate(args: InterpolateArgs) -> anyhow::Result<ExitCode> {
    let InterpolateArgs {
        run,
        from,
        to,
        steps,
        output,
    } = args;
    let path = inspect::interpolate::<Backend>(
        run.to_ref(),
        [from, to],
        usize::from(steps),
        output.as_deref(),
        &device()?,
    )?;
    println!("Wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let GenerateArgs {
        run,
        steps,
        span,
        output,
    } = args;
    let path = inspect::generate::<Backend>(
        run.to_ref(),
        usize::from(steps),
        span,
        output.as_deref(),
        &device()?,
    )?;
    println!("Wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let ExportArgs {
        run,
        format: Format::Safetensors,
        output,
    } = args;
    let exported = inspect::export::<Backend>(run.to_ref(), output.as_deref(), &device()?)?;
    match (exported.info.test_mse, &exported.no_mse) {
        (Some(mse), _) => println!("Test MSE = {mse:.6} (in the file's metadata)"),
        (None, Some(why)) => println!("No test MSE in the metadata: {why}"),
        (None, None) => {}
    }
    println!(
        "Wrote {} ({} as [out, in], PyTorch's layout)",
        exported.path.display(),
        exported.tensors.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let ImportArgs {
        from,
        output,
        config: ConfigArgs { config, sets },
    } = args;
    let weights = inspect::import::<Backend>(&from, &output, config.as_deref(), &sets, &device()?)?;
    println!(
        "Imported {} weights ({} layout) from '{}' into '{}'; try: mnist-autoencoder evaluate --model {}",
        weights.spec.describe(),
        weights.layout,
        from.display(),
        output.display(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One line: why training stopped, what is kept, and the command that continues it.
fn stopped_message(stopped: &Stopped) -> String {
    let resume = format!(
        "mnist-autoencoder train --resume {}",
        shell_path(&stopped.output_dir)
    );
    if let StopCause::Failed(vanished @ ArtifactError::Vanished { .. }) = &stopped.cause
        && stopped.gone
    {
        return format!(
            "error: training stopped: {vanished}; nothing more was written; start the run again with the same command, or, if you moved the folder, continue it with: mnist-autoencoder train --resume NEW-FOLDER"
        );
    }
    let (kept, then) = match stopped.epochs_done {
        0 => (
            "no epoch is checkpointed, so resuming starts from the first".to_owned(),
            "continue with",
        ),
        n if n >= stopped.epochs => (
            format!("all {n} epochs are checkpointed"),
            "write the final files with",
        ),
        n => (
            format!("epochs 1-{n} of {} are checkpointed", stopped.epochs),
            "continue with",
        ),
    };
    match &stopped.cause {
        StopCause::Asked(reason @ StopReason::Diverged { .. }) => {
            format!(
                "error: training diverged: {reason}; {}",
                divergence_advice(stopped, &kept, &resume)
            )
        }
        StopCause::Asked(reason) => format!("Stopped by {reason}; {kept}; {then}: {resume}"),
        StopCause::Dashboard => {
            format!("Stopped from the dashboard; {kept}; {then}: {resume}")
        }
        StopCause::Failed(ArtifactError::Write { path, source }) => {
            let what = if source.kind() == std::io::ErrorKind::StorageFull {
                "the disk is full; free space on it"
            } else {
                "make it writable again"
            };
            format!(
                "error: training stopped: cannot write '{}': {source}; {kept}; {what}, then {then}: {resume}",
                path.display()
            )
        }
        StopCause::Failed(error) => {
            format!("error: training stopped: {error}; {kept}; {then}: {resume}")
        }
        StopCause::Learner(message) => format!(
            "error: training stopped: {message} (see {}/experiment.log); {kept}; {then}: {resume}",
            stopped.output_dir.display()
        ),
    }
}

/// What to do about a loss that diverged: with no epsilon, a new run with one (a resume keeps
/// it); else a lower rate for the resume, the tutorial's 0.01 or a tenth of one at most that.
fn divergence_advice(stopped: &Stopped, kept: &str, resume: &str) -> String {
    if stopped.epsilon == 0.0 {
        let config = shell_path(&stopped.output_dir.join("config.toml"));
        let fresh = RunDir::new(&stopped.output_dir).free_sibling();
        let fresh = shell_word(&format!("output.dir={}", fresh.display()));
        return format!(
            "training.rmsprop.epsilon = 0 divides by zero where a gradient stays zero, and a resumed run keeps it: start over with a small one: mnist-autoencoder train --config {config} --set {fresh} --set training.rmsprop.epsilon=1e-10"
        );
    }
    let rate = stopped.learning_rate;
    let lower = if rate > 0.01 { 0.01 } else { rate / 10.0 };
    format!(
        "lower training.learning_rate (now {}); {kept}: {resume} --set training.learning_rate={}",
        short_number(rate),
        short_number(lower)
    )
}
