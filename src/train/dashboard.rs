//! How training shows its progress: Burn's dashboard (its TUI) or plain lines.

use std::io::IsTerminal;

use burn::train::Interrupter;
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};
use burn::train::{LearnerSummary, metric::MetricDefinition};
use thiserror::Error;

use crate::config::Dashboard;

#[derive(Debug, Error)]
#[error(
    "output.dashboard = \"tui\" needs a terminal, but stdout is not one; set output.dashboard to \"plain\" or \"auto\""
)]
pub struct NoTerminal;

/// Whether to show Burn's dashboard: `auto` does when stdout is a terminal.
pub(crate) fn use_tui(setting: Dashboard) -> Result<bool, NoTerminal> {
    let terminal = std::io::stdout().is_terminal();
    match setting {
        Dashboard::Auto => Ok(terminal),
        Dashboard::Tui if terminal => Ok(true),
        Dashboard::Tui => Err(NoTerminal),
        Dashboard::Plain => Ok(false),
    }
}

/// Burn's dashboard (showing `checkpoint` as the epoch a resumed run starts from), with Ctrl-C
/// kept as a signal.
pub fn tui(interrupter: Interrupter, checkpoint: Option<usize>) -> TuiMetricsRendererWrapper {
    let renderer = TuiMetricsRendererWrapper::new(interrupter, checkpoint);
    keep_ctrl_c_a_signal();
    renderer
}

/// The dashboard puts the terminal in raw mode, where Ctrl-C is a key press that it ignores
/// (its quit menu is on `q`). Turning the terminal's ISIG flag back on makes Ctrl-C raise
/// SIGINT again, which stops training cleanly (see [`crate::train::stop`]).
#[cfg(unix)]
fn keep_ctrl_c_a_signal() {
    use std::os::fd::AsRawFd;
    let Ok(tty) = std::fs::File::open("/dev/tty") else {
        return;
    };
    let fd = tty.as_raw_fd();
    // Raw mode is switched on by the dashboard's thread as it starts: wait for it.
    for _ in 0..400 {
        // SAFETY: termios is plain data; tcgetattr/tcsetattr only read and write it for `fd`,
        // which stays open for the whole loop.
        unsafe {
            let mut termios: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut termios) != 0 {
                return;
            }
            if termios.c_lflag & libc::ICANON == 0 {
                termios.c_lflag |= libc::ISIG;
                libc::tcsetattr(fd, libc::TCSANOW, &termios);
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[cfg(not(unix))]
fn keep_ctrl_c_a_signal() {}

/// Draws nothing: in plain mode the epoch lines come from
/// [`EpochLogger`](crate::train::epoch_log::EpochLogger), and Burn's own `CliMetricsRenderer` would
/// print a debug dump of every batch.
pub(crate) struct PlainRenderer;

impl MetricsRendererTraining for PlainRenderer {
    fn update_train(&mut self, _state: MetricState) {}
    fn update_valid(&mut self, _state: MetricState) {}
    fn render_train(&mut self, _item: TrainingProgress, _indicators: Vec<ProgressType>) {}
    fn render_valid(&mut self, _item: TrainingProgress, _indicators: Vec<ProgressType>) {}
    fn on_train_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

impl MetricsRendererEvaluation for PlainRenderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
    fn render_test(&mut self, _item: EvaluationProgress, _indicators: Vec<ProgressType>) {}
}

impl MetricsRenderer for PlainRenderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _definition: MetricDefinition) {}
}
