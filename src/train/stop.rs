//! Stopping a training run cleanly: Ctrl-C / SIGTERM, a diverging loss, or the dashboard's quit
//! menu all go through Burn's [`Interrupter`], which the Learner checks after every step.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use burn::train::Interrupter;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use signal_hook::low_level::emulate_default_handler;

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
    pub fn failure(&self) -> Failure {
        self.failure.clone()
    }

    /// The interrupter's message, when something other than [`Stop::request`] stopped it.
    pub fn message(&self) -> Option<String> {
        self.interrupter.get_message()
    }
}

/// Turns SIGINT and SIGTERM into [`Stop::request`] while it lives. Afterwards they act as they
/// would without it (the process ends): signal-hook cannot put the default handler back.
pub(crate) struct SignalWatch {
    active: Arc<AtomicBool>,
}

impl SignalWatch {
    pub fn start(stop: Stop) -> std::io::Result<Self> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let active = Arc::new(AtomicBool::new(true));
        let watching = active.clone();
        std::thread::Builder::new()
            .name("signal-watch".to_owned())
            .spawn(move || {
                for signal in signals.forever() {
                    if watching.load(Ordering::SeqCst) {
                        stop.request(StopReason::Signal(signal));
                    } else {
                        let _ = emulate_default_handler(signal);
                    }
                }
            })?;
        Ok(Self { active })
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        self.active.store(false, Ordering::SeqCst);
    }
}
