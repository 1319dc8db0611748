//! The run's `experiment.log`: Burn's own file logger (`FileApplicationLoggerInstaller`) less
//! its line per training step. That line (`Iteration 412`, 550 an epoch at batch 100) was a
//! timestamp, a format and a write to the file on the training thread every step: 13 µs of a
//! step of about a millisecond (measured, see docs/results.md#speed). Everything else Burn and
//! its crates log at INFO or above is kept, the start of each training and validation epoch
//! among it.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use burn::train::ApplicationLoggerInstaller;
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Level, LevelFilter, Metadata};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry;

/// The module of Burn's training loop, which logs the per-step line.
const EPOCH_LOOP: &str = "burn_train::learner::supervised::strategies::single::epoch";
/// How that line starts.
const STEP_LINE: &str = "Iteration ";

/// Installs the process's logger: INFO and above into the file at `path`.
pub(super) struct ExperimentLog {
    path: PathBuf,
}

impl ExperimentLog {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }
}

impl ApplicationLoggerInstaller for ExperimentLog {
    fn install(&self) -> Result<(), String> {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return Err(format!("'{}' names no file", self.path.display()));
        };
        let writer = tracing_appender::rolling::never(dir, name);
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer)
            .with_filter(Kept);
        // One per process: a second training in the same process logs to the first's file, as
        // with Burn's logger (which then warns that it could not install another).
        registry().with(layer).try_init().map_err(|error| {
            format!(
                "installing the logger of '{}': {error}",
                self.path.display()
            )
        })?;
        // As Burn's logger does: a panic is recorded in the file too.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            log::error!("PANIC => {info}");
            previous(info);
        }));
        Ok(())
    }
}

/// Which events reach the file: as Burn's file logger (INFO and above, wgpu's below WARN
/// left out), less the training loop's per-step line.
struct Kept;

impl<S> Filter<S> for Kept {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        let level = *meta.level();
        level <= Level::INFO && !(meta.target().starts_with("wgpu") && level >= Level::INFO)
    }

    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        if *event.metadata().level() != Level::INFO {
            return true;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        // A `log` record (Burn logs through `log`) carries its target as a field.
        let target = fields
            .log_target
            .as_deref()
            .unwrap_or(event.metadata().target());
        !(target == EPOCH_LOOP && fields.message.starts_with(STEP_LINE))
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::INFO)
    }
}

/// The two fields of an event that tell the per-step line.
#[derive(Default)]
struct Fields {
    message: String,
    log_target: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "log.target" {
            self.log_target = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        }
    }
}
