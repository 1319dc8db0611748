//! The per-epoch record of a run: a Burn [`MetricLogger`] that sees every batch loss and the end
//! of every epoch, keeps the tutorial's `Avg.cost` (the mean of the epoch's batch losses), prints
//! the tutorial's line in plain mode and rewrites `metrics.csv` after each epoch.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};

use crate::artifacts::{ArtifactError, write_atomic};
use crate::metrics::{EpochRow, METRICS_FILE, metrics_csv};
use crate::run_dir::DirWatch;
use crate::train::checkpoint::{Progress, create_folder};
use crate::train::stop::{Stop, StopReason};

/// The name Burn's `LossMetric` registers under.
const LOSS_METRIC: &str = "Loss";
/// What the logger has recorded, shared with the code that launched training.
#[derive(Debug, Default)]
pub(crate) struct EpochHistory {
    pub rows: Vec<EpochRow>,
}

/// Where the logger writes: `metrics.csv`, and each epoch's batch losses as Burn's own file
/// logger lays them out (`train/epoch-N/Loss.log`, `value,count` a line).
pub(crate) struct EpochLogger {
    history: Arc<Mutex<EpochHistory>>,
    run_dir: PathBuf,
    /// The run folder, checked before each file is made: one moved or removed is reported,
    /// not made again.
    watch: Arc<DirWatch>,
    print_lines: bool,
    stop: Stop,
    /// The epoch each split is in. Burn's metric store numbers a resumed run's first epoch 1
    /// until it ends; these count from the epoch the run starts at.
    epochs: HashMap<Split, usize>,
    first_epoch: usize,
    /// The open batch log of each split, with its epoch.
    batch_logs: HashMap<Split, (usize, BufWriter<File>, PathBuf)>,
    /// Training batches seen in the current epoch.
    step: usize,
    loss_id: Option<MetricId>,
    train: Mean,
    valid: Mean,
    train_cost: f64,
    epoch_start: Instant,
    /// Told of each training step, for the checkpointer.
    progress: Arc<Progress>,
}

impl EpochLogger {
    /// A logger of the run in `run_dir`, after the epochs in `rows` (those of a resumed run);
    /// with `print_lines` it prints the tutorial's line per epoch. A non-finite training loss
    /// asks `stop` to stop, a failed write fails it; an epoch during which a stop was asked for
    /// gets no row.
    pub fn new(
        run_dir: PathBuf,
        watch: Arc<DirWatch>,
        print_lines: bool,
        rows: Vec<EpochRow>,
        stop: Stop,
    ) -> (Self, Arc<Mutex<EpochHistory>>) {
        let first_epoch = rows.len() + 1;
        let history = Arc::new(Mutex::new(EpochHistory { rows }));
        let logger = Self {
            history: history.clone(),
            run_dir,
            watch,
            print_lines,
            stop,
            epochs: HashMap::new(),
            first_epoch,
            batch_logs: HashMap::new(),
            step: 0,
            loss_id: None,
            train: Mean::default(),
            valid: Mean::default(),
            train_cost: f64::NAN,
            epoch_start: Instant::now(),
            progress: Arc::default(),
        };
        (logger, history)
    }

    /// What the logger tells of training's steps (see `CheckpointRecorder`).
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    fn finish_epoch(&mut self, epoch: usize) {
        if self.stop.requested() {
            // Cut short: its validation (and maybe training) is partial. A resumed run redoes it.
            return;
        }
        let row = EpochRow {
            epoch,
            train_cost: self.train_cost,
            valid_cost: self.valid.take_any(),
            seconds: self.epoch_start.elapsed().as_secs_f64(),
        };
        self.epoch_start = Instant::now();
        if self.print_lines {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", row.tutorial_line());
            let _ = out.flush();
        }
        let mut history = self.history.lock().expect("epoch history lock");
        history.rows.push(row);
        let csv = metrics_csv(&history.rows);
        drop(history);
        let written = self.watch.check().and_then(|()| {
            write_atomic(&self.run_dir.join(METRICS_FILE), |f| {
                f.write_all(csv.as_bytes())
            })
        });
        if let Err(error) = written {
            self.stop.fail(error);
        }
    }

    /// Appends `line` to the batch log of `split` in `epoch` (a new log for a new epoch).
    fn log_batch(&mut self, split: &Split, epoch: usize, line: &str) -> Result<(), ArtifactError> {
        let log = match self.batch_logs.get_mut(split) {
            Some((open, log, path)) if *open == epoch => (log, &*path),
            _ => {
                self.close_batch_log(split)?;
                let split_dir = self.run_dir.join(split.to_string());
                let dir = split_dir.join(format!("epoch-{epoch}"));
                let path = dir.join(format!("{LOSS_METRIC}.log"));
                self.watch.check()?;
                create_folder(Some(&split_dir))?;
                create_folder(Some(&dir))?;
                let file = File::create(&path).map_err(|source| ArtifactError::Write {
                    path: path.clone(),
                    source,
                })?;
                self.batch_logs
                    .insert(split.clone(), (epoch, BufWriter::new(file), path));
                let (_, log, path) = self.batch_logs.get_mut(split).expect("just opened");
                (log, &*path)
            }
        };
        writeln!(log.0, "{line}").map_err(|source| ArtifactError::Write {
            path: log.1.to_owned(),
            source,
        })
    }

    /// Writes out and closes the open batch log of `split`, if any.
    fn close_batch_log(&mut self, split: &Split) -> Result<(), ArtifactError> {
        match self.batch_logs.remove(split) {
            Some((_, mut log, path)) => log
                .flush()
                .map_err(|source| ArtifactError::Write { path, source }),
            None => Ok(()),
        }
    }
}

impl MetricLogger for EpochLogger {
    fn log(&mut self, update: MetricsUpdate, _epoch: usize, split: &Split) {
        let epoch = *self.epochs.entry(split.clone()).or_insert(self.first_epoch);
        match split {
            Split::Train => {
                self.step += 1;
                self.progress.stepped_in(epoch);
            }
            Split::Valid => {}
            Split::Test(_) => return,
        }
        for numeric in &update.entries_numeric {
            if Some(&numeric.entry.metric_id) != self.loss_id.as_ref() {
                continue;
            }
            let mean = if *split == Split::Train {
                &mut self.train
            } else {
                &mut self.valid
            };
            mean.add(&numeric.numeric_entry);
            let loss = numeric.numeric_entry.current();
            if *split == Split::Train && !loss.is_finite() {
                self.stop.request(StopReason::Diverged {
                    epoch,
                    step: self.step,
                    loss,
                });
            }
            let line = numeric.entry.serialized_entry.serialized.clone();
            if let Err(error) = self.log_batch(split, epoch, &line) {
                self.stop.fail(error);
            }
        }
    }

    fn read_numeric(
        &mut self,
        _name: &str,
        _epoch: usize,
        _split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        Err("the epoch logger keeps no per-batch history in memory".to_owned())
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        // Definitions arrive when training starts: the first epoch's clock starts here.
        if definition.name == LOSS_METRIC {
            self.loss_id = Some(definition.metric_id);
            self.epoch_start = Instant::now();
        }
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        if let Err(error) = self.close_batch_log(&summary.split) {
            self.stop.fail(error);
        }
        self.epochs
            .insert(summary.split.clone(), summary.epoch_number + 1);
        match summary.split {
            Split::Train => {
                self.train_cost = self.train.take();
                self.step = 0;
            }
            Split::Valid => self.finish_epoch(summary.epoch_number),
            Split::Test(_) => {}
        }
    }
}

/// A running mean of numeric entries, each weighted by its count.
#[derive(Debug, Default)]
struct Mean {
    sum: f64,
    count: usize,
}

impl Mean {
    fn add(&mut self, entry: &NumericEntry) {
        let (sum, count) = match *entry {
            NumericEntry::Value(value) => (value, 1),
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } => (aggregated_value * count as f64, count),
        };
        self.sum += sum;
        self.count += count;
    }

    /// The mean so far, none when nothing was added, and a fresh start.
    fn take_any(&mut self) -> Option<f64> {
        (self.count > 0).then(|| self.take())
    }

    /// The mean so far (NaN when empty), and a fresh start.
    fn take(&mut self) -> f64 {
        let mean = if self.count == 0 {
            f64::NAN
        } else {
            self.sum / self.count as f64
        };
        *self = Self::default();
        mean
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::run_dir::RunDir;

    /// Each training step is passed on to the checkpointer's progress, numbered from the
    /// epoch the run starts at (here a resumed run's third); validation steps are not.
    #[test]
    fn training_steps_tell_the_checkpointer_their_epoch() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let watch = Arc::new(RunDir::new(dir.path()).watch().expect("a watched folder"));
        let rows: Vec<EpochRow> = (1..=2)
            .map(|epoch| EpochRow {
                epoch,
                train_cost: 0.1,
                valid_cost: Some(0.1),
                seconds: 1.0,
            })
            .collect();
        let (mut logger, _) =
            EpochLogger::new(dir.path().into(), watch, false, rows, Stop::default());
        let progress = logger.progress();
        let update = || MetricsUpdate {
            entries: Vec::new(),
            entries_numeric: Vec::new(),
        };
        // Whether a step after `epoch` has been passed on: the wait ends before its limit.
        let past = |epoch, limit: Duration| progress.wait_past(epoch, limit);
        let (short, long) = (Duration::from_millis(100), Duration::from_secs(20));
        logger.log(update(), 1, &Split::Valid);
        assert!(!past(0, short), "a validation step counted");
        logger.log(update(), 1, &Split::Train);
        assert!(past(2, long), "a step of epoch 3 not passed on");
        assert!(!past(3, short), "passed on as a later epoch");
    }

    #[test]
    fn the_mean_weighs_each_entry_by_its_count() {
        let mut mean = Mean::default();
        mean.add(&NumericEntry::Aggregated {
            aggregated_value: 2.0,
            count: 3,
        });
        mean.add(&NumericEntry::Value(6.0));
        assert_eq!(mean.take(), 3.0);
        assert!(mean.take().is_nan(), "take starts afresh");
    }
}
