//! Stopping a training run cleanly: Ctrl-C / SIGTERM, a diverging loss, or the dashboard's quit
//! menu all go through Burn's [`Interrupter`], which the Learner checks after every step. Signals
//! are watched from the start of every command: before training they end it at once, with a
//! line and nothing half written ([`OnSignal`]).

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use burn::train::Interrupter;
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::artifacts::ArtifactError;

/// Why training stopped before its last epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    /// SIGINT or SIGTERM.
    Signal(i32),
    /// The training loss of a batch was not finite.
    Diverged {
        epoch: usize,
        step: usize,
        loss: f64,
    },
    /// A file of the run could not be written (the error is kept in [`Failure`]).
    Failed,
}

impl StopReason {
    /// The exit code the shell convention gives a process ended by this signal (128 + n).
    pub fn exit_code(self) -> u8 {
        match self {
            StopReason::Signal(signal) => 128u8.saturating_add(signal as u8),
            StopReason::Diverged { .. } | StopReason::Failed => 1,
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            StopReason::Signal(SIGINT) => write!(f, "SIGINT (Ctrl-C)"),
            StopReason::Signal(SIGTERM) => write!(f, "SIGTERM"),
            StopReason::Signal(other) => write!(f, "signal {other}"),
            StopReason::Diverged { epoch, step, loss } => {
                write!(f, "a loss of {loss} in epoch {epoch} at step {step}")
            }
            StopReason::Failed => write!(f, "a file of the run could not be written"),
        }
    }
}

/// The first failure to write a file of the run, shared by the parts that write them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Failure(Arc<Mutex<Option<ArtifactError>>>);

impl Failure {
    /// Keeps `error` unless an earlier one is kept already.
    pub fn record(&self, error: ArtifactError) {
        let mut slot = self.0.lock().expect("failure lock");
        if slot.is_none() {
            *slot = Some(error);
        }
    }

    /// The failure kept, if any.
    pub fn take(&self) -> Option<ArtifactError> {
        self.0.lock().expect("failure lock").take()
    }
}

/// The run's interrupter, the first reason it was asked to stop for, and the first failure.
#[derive(Clone, Default)]
pub(crate) struct Stop {
    interrupter: Interrupter,
    reason: Arc<Mutex<Option<StopReason>>>,
    failure: Failure,
}

impl Stop {
    pub(crate) fn interrupter(&self) -> Interrupter {
        self.interrupter.clone()
    }

    /// Asks the Learner to stop after its current step; the first reason given is kept.
    pub fn request(&self, reason: StopReason) {
        let mut slot = self.reason.lock().expect("stop reason lock");
        if slot.is_none() {
            *slot = Some(reason);
        }
        drop(slot);
        self.interrupter.stop(Some(&reason.to_string()));
    }

    /// Whether a stop was asked for, by [`Stop::request`] or from the dashboard.
    pub(crate) fn requested(&self) -> bool {
        self.reason().is_some() || self.interrupter.should_stop()
    }

    pub fn reason(&self) -> Option<StopReason> {
        *self.reason.lock().expect("stop reason lock")
    }

    /// Keeps `error` and asks the Learner to stop.
    pub(crate) fn fail(&self, error: ArtifactError) {
        self.failure.record(error);
        self.request(StopReason::Failed);
    }

    /// Where write failures are kept: given to the checkpoint recorder, which Burn stops by
    /// itself when it fails.
    pub(crate) fn failure(&self) -> Failure {
        self.failure.clone()
    }

    /// The interrupter's message, when something other than [`Stop::request`] stopped it.
    pub fn message(&self) -> Option<String> {
        self.interrupter.get_message()
    }
}

/// What a SIGINT or SIGTERM does at this moment of the command (see [`watch_signals`]).
pub(crate) enum OnSignal {
    /// Ends the process at once: removes the temporary files being written and `cleanup`,
    /// prints the line `message` gives for the signal, and exits with 128 + its number. For
    /// the moments when there is nothing to save: before training starts, and in the commands
    /// other than `train`.
    Exit {
        message: Box<dyn Fn(StopReason) -> String + Send>,
        cleanup: Cleanup,
    },
    /// Asks the run to stop at its next check ([`Stop::request`]): while it trains and writes
    /// its files.
    Stop(Stop),
}

/// What an [`OnSignal::Exit`] removes besides the temporary files.
#[derive(Debug, Default, Clone)]
pub(crate) struct Cleanup {
    /// Files to remove (a run's lock).
    pub files: Vec<std::path::PathBuf>,
    /// A folder to remove if it is empty (one the command made).
    pub empty_dir: Option<std::path::PathBuf>,
}

impl OnSignal {
    /// The exit of a command that leaves nothing half written.
    pub(crate) fn exit_plainly() -> Self {
        OnSignal::Exit {
            message: Box::new(|reason| {
                format!("Stopped by {reason} before the command finished; no partial file is left")
            }),
            cleanup: Cleanup::default(),
        }
    }
}

static HANDLER: Mutex<Option<OnSignal>> = Mutex::new(None);
static WATCHING: OnceLock<Result<(), String>> = OnceLock::new();

fn handler() -> std::sync::MutexGuard<'static, Option<OnSignal>> {
    HANDLER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes `on_signal` what SIGINT and SIGTERM do from now on.
pub(crate) fn on_signal(on_signal: OnSignal) {
    *handler() = Some(on_signal);
}

/// Starts watching SIGINT and SIGTERM (once per process; later calls do nothing) and makes them
/// do what [`on_signal`] last said, [`OnSignal::exit_plainly`] until it is called.
pub fn watch_signals() -> std::io::Result<()> {
    WATCHING
        .get_or_init(|| start_watch().map_err(|e| e.to_string()))
        .clone()
        .map_err(std::io::Error::other)
}

fn start_watch() -> std::io::Result<()> {
    let mut next_signal = signals()?;
    std::thread::Builder::new()
        .name("signal-watch".to_owned())
        .spawn(move || {
            while let Some(signal) = next_signal() {
                let reason = StopReason::Signal(signal);
                // Held to the end: the command cannot switch to another handler meanwhile.
                let mut guard = handler();
                match guard.get_or_insert_with(OnSignal::exit_plainly) {
                    OnSignal::Stop(stop) => stop.request(reason),
                    OnSignal::Exit { message, cleanup } => {
                        crate::artifacts::remove_pending();
                        for file in &cleanup.files {
                            let _ = std::fs::remove_file(file);
                        }
                        if let Some(dir) = &cleanup.empty_dir {
                            let _ = std::fs::remove_dir(dir);
                        }
                        eprintln!("{}", message(reason));
                        std::process::exit(i32::from(reason.exit_code()));
                    }
                }
            }
        })?;
    Ok(())
}

/// The SIGINT and SIGTERM this process receives from now on, one at a time, as they come.
type NextSignal = Box<dyn FnMut() -> Option<i32> + Send>;

/// On Unix, signal-hook's iterator: a thread that sleeps until a signal comes.
#[cfg(unix)]
fn signals() -> std::io::Result<NextSignal> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    Ok(Box::new(move || signals.forever().next()))
}

/// Elsewhere (Windows, where signal-hook has no iterator), a flag per signal, looked at every
/// 20 ms.
#[cfg(not(unix))]
fn signals() -> std::io::Result<NextSignal> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let flags = [SIGINT, SIGTERM].map(|signal| (signal, Arc::new(AtomicBool::new(false))));
    for (signal, flag) in &flags {
        signal_hook::flag::register(*signal, flag.clone())?;
    }
    Ok(Box::new(move || {
        loop {
            if let Some((signal, _)) = flags.iter().find(|(_, f)| f.swap(false, Ordering::SeqCst)) {
                return Some(*signal);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }))
}
