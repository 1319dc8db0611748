//! The per-epoch record of a run: a Burn [`MetricLogger`] that sees every batch loss and the end
//! of every epoch, keeps the tutorial's `Avg.cost` (the mean of the epoch's batch losses), prints
//! the tutorial's line in plain mode and rewrites `metrics.csv` after each epoch.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};

use crate::artifacts::{ArtifactError, write_atomic};
use crate::stop::{Stop, StopReason};

/// The name Burn's `LossMetric` registers under.
const LOSS_METRIC: &str = "Loss";
/// The header of `metrics.csv`.
pub const METRICS_HEADER: &str = "epoch,train_cost,valid_cost,seconds";

/// One finished epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRow {
    pub epoch: usize,
    /// Mean of the epoch's training batch losses (the tutorial's `Avg.cost`).
    pub train_cost: f64,
    /// Mean of the validation batch losses after the epoch.
    pub valid_cost: f64,
    /// Wall-clock seconds of the epoch, training and validation.
    pub seconds: f64,
}

impl EpochRow {
    /// `Epoch: 0001 Avg.cost = 0.2053 valid = 0.0581 secs = 1.23`
    pub fn tutorial_line(&self) -> String {
        format!(
            "Epoch: {:04} Avg.cost = {:.4} valid = {:.4} secs = {:.2}",
            self.epoch, self.train_cost, self.valid_cost, self.seconds
        )
    }
}

/// `metrics.csv` for `rows`, full precision.
pub fn metrics_csv(rows: &[EpochRow]) -> String {
    let mut csv = format!("{METRICS_HEADER}\n");
    for row in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{:.3}",
            row.epoch, row.train_cost, row.valid_cost, row.seconds
        );
    }
    csv
}

/// Parses a `metrics.csv` written by [`metrics_csv`].
pub fn parse_metrics_csv(text: &str) -> Result<Vec<EpochRow>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(METRICS_HEADER) {
        return Err(format!("the first line is not '{METRICS_HEADER}'"));
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            let bad = || format!("line {}: '{line}' is not epoch,cost,cost,seconds", i + 2);
            let fields: Vec<&str> = line.split(',').collect();
            let [epoch, train, valid, seconds] = fields[..] else {
                return Err(bad());
            };
            Ok(EpochRow {
                epoch: epoch.parse().map_err(|_| bad())?,
                train_cost: train.parse().map_err(|_| bad())?,
                valid_cost: valid.parse().map_err(|_| bad())?,
                seconds: seconds.parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// What the logger has recorded, shared with the code that launched training.
#[derive(Debug, Default)]
pub struct EpochHistory {
    pub rows: Vec<EpochRow>,
    /// The first failure to write `metrics.csv`, reported once training returns.
    pub write_error: Option<ArtifactError>,
}

pub struct EpochLogger {
    history: Arc<Mutex<EpochHistory>>,
    csv_path: PathBuf,
    print_lines: bool,
    stop: Stop,
    /// Training batches seen in the current epoch.
    step: usize,
    loss_id: Option<MetricId>,
    train: Mean,
    valid: Mean,
    train_cost: f64,
    epoch_start: Instant,
}

impl EpochLogger {
    /// A logger writing `csv_path` after the epochs in `rows` (those of a resumed run); with
    /// `print_lines` it prints the tutorial's line per epoch. A non-finite training loss asks
    /// `stop` to stop; an epoch during which a stop was asked for gets no row.
    pub fn new(
        csv_path: PathBuf,
        print_lines: bool,
        rows: Vec<EpochRow>,
        stop: Stop,
    ) -> (Self, Arc<Mutex<EpochHistory>>) {
        let history = Arc::new(Mutex::new(EpochHistory {
            rows,
            write_error: None,
        }));
        let logger = Self {
            history: history.clone(),
            csv_path,
            print_lines,
            stop,
            step: 0,
            loss_id: None,
            train: Mean::default(),
            valid: Mean::default(),
            train_cost: f64::NAN,
            epoch_start: Instant::now(),
        };
        (logger, history)
    }

    fn finish_epoch(&mut self, epoch: usize) {
        if self.stop.requested() {
            // Cut short: its validation (and maybe training) is partial. A resumed run redoes it.
            return;
        }
        let row = EpochRow {
            epoch,
            train_cost: self.train_cost,
            valid_cost: self.valid.take(),
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
        if let Err(error) = write_atomic(&self.csv_path, |f| f.write_all(csv.as_bytes()))
            && history.write_error.is_none()
        {
            history.write_error = Some(error);
        }
    }
}

impl MetricLogger for EpochLogger {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        let mean = match split {
            Split::Train => {
                self.step += 1;
                &mut self.train
            }
            Split::Valid => &mut self.valid,
            Split::Test(_) => return,
        };
        for numeric in &update.entries_numeric {
            if Some(&numeric.entry.metric_id) != self.loss_id.as_ref() {
                continue;
            }
            mean.add(&numeric.numeric_entry);
            let loss = numeric.numeric_entry.current();
            if *split == Split::Train && !loss.is_finite() {
                self.stop.request(StopReason::Diverged {
                    epoch,
                    step: self.step,
                    loss,
                });
            }
        }
    }

    fn read_numeric(
        &mut self,
        _name: &str,
        _epoch: usize,
        _split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        Err("the epoch logger keeps no per-batch history".to_owned())
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        // Definitions arrive when training starts: the first epoch's clock starts here.
        if definition.name == LOSS_METRIC {
            self.loss_id = Some(definition.metric_id);
            self.epoch_start = Instant::now();
        }
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
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

/// Gives a Burn [`MetricLogger`] the true epoch number of every batch.
///
/// Burn 0.21's metric store numbers the epochs of each process from 1 until its first epoch
/// ends, also in a resumed run: the first resumed epoch's batches would be logged as epoch 1,
/// and Burn's file logger would overwrite `train/epoch-1/` with them. This wrapper counts from
/// the epoch the run starts at and moves on at each epoch's summary, as the store does after.
pub struct TrueEpochs<L> {
    inner: L,
    first: usize,
    current: HashMap<Split, usize>,
}

impl<L: MetricLogger> TrueEpochs<L> {
    /// `inner`, in a run whose first epoch is `first` (1 for a fresh run).
    pub fn new(inner: L, first: usize) -> Self {
        Self {
            inner,
            first,
            current: HashMap::new(),
        }
    }
}

impl<L: MetricLogger> MetricLogger for TrueEpochs<L> {
    fn log(&mut self, update: MetricsUpdate, _epoch: usize, split: &Split) {
        let epoch = *self.current.entry(split.clone()).or_insert(self.first);
        self.inner.log(update, epoch, split);
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        self.inner.read_numeric(name, epoch, split)
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.inner.log_metric_definition(definition);
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        self.current
            .insert(summary.split.clone(), summary.epoch_number + 1);
        self.inner.log_epoch_summary(summary);
    }
}
