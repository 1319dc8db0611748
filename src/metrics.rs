//! `metrics.csv`: one row per finished epoch, its costs and time, at full precision.

use std::fmt::Write as _;

use thiserror::Error;

/// The file in a run folder.
pub(crate) const METRICS_FILE: &str = "metrics.csv";
/// The header of `metrics.csv`.
pub(crate) const METRICS_HEADER: &str = "epoch,train_cost,valid_cost,seconds";

/// One finished epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRow {
    pub epoch: usize,
    /// Mean of the epoch's training batch losses (the tutorial's `Avg.cost`).
    pub train_cost: f64,
    /// Mean of the validation batch losses after the epoch; none without validation images
    /// (`data.validation_size = 0`).
    pub valid_cost: Option<f64>,
    /// Wall-clock seconds of the epoch, training and validation.
    pub seconds: f64,
}

impl EpochRow {
    /// `Epoch: 0001 Avg.cost = 0.2053 valid = 0.0581 secs = 1.23`, without `valid` when
    /// there is no validation.
    pub(crate) fn tutorial_line(&self) -> String {
        let valid = self
            .valid_cost
            .map_or_else(String::new, |cost| format!(" valid = {cost:.4}"));
        format!(
            "Epoch: {:04} Avg.cost = {:.4}{valid} secs = {:.2}",
            self.epoch, self.train_cost, self.seconds
        )
    }
}

/// `metrics.csv` for `rows`, full precision.
pub(crate) fn metrics_csv(rows: &[EpochRow]) -> String {
    let mut csv = format!("{METRICS_HEADER}\n");
    for row in rows {
        let valid = row
            .valid_cost
            .map_or_else(String::new, |cost| cost.to_string());
        let _ = writeln!(
            csv,
            "{},{},{valid},{:.3}",
            row.epoch, row.train_cost, row.seconds
        );
    }
    csv
}

/// What is wrong with a `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{0}")]
pub struct MetricsError(String);

/// Parses a `metrics.csv` written by [`metrics_csv`].
pub fn parse_metrics_csv(text: &str) -> Result<Vec<EpochRow>, MetricsError> {
    let mut lines = text.lines();
    if lines.next() != Some(METRICS_HEADER) {
        return Err(MetricsError(format!(
            "the first line is not '{METRICS_HEADER}'"
        )));
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            let bad = || {
                MetricsError(format!(
                    "line {}: '{line}' is not epoch,cost,cost,seconds",
                    i + 2
                ))
            };
            let fields: Vec<&str> = line.split(',').collect();
            let [epoch, train, valid, seconds] = fields[..] else {
                return Err(bad());
            };
            Ok(EpochRow {
                epoch: epoch.parse().map_err(|_| bad())?,
                train_cost: train.parse().map_err(|_| bad())?,
                valid_cost: match valid {
                    "" => None,
                    cost => Some(cost.parse().map_err(|_| bad())?),
                },
                seconds: seconds.parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_a_round_trip_at_full_precision() {
        let rows = vec![
            EpochRow {
                epoch: 1,
                train_cost: 0.205_312_345_678_9,
                valid_cost: Some(1.0 / 3.0),
                seconds: 0.791,
            },
            EpochRow {
                epoch: 2,
                train_cost: 5e-324,
                valid_cost: None,
                seconds: 12.5,
            },
        ];
        assert_eq!(parse_metrics_csv(&metrics_csv(&rows)), Ok(rows));
    }

    #[test]
    fn a_wrong_header_or_row_is_named() {
        let err = parse_metrics_csv("epoch,cost\n").unwrap_err().to_string();
        assert!(err.contains("first line"), "{err}");
        let text = format!("{METRICS_HEADER}\n1,0.2,0.1,1.0\n2,x,0.1,1.0\n");
        let err = parse_metrics_csv(&text).unwrap_err().to_string();
        assert!(err.starts_with("line 3: '2,x,0.1,1.0'"), "{err}");
        let text = format!("{METRICS_HEADER}\n1,0.2,0.1\n");
        assert!(parse_metrics_csv(&text).is_err());
    }

    #[test]
    fn the_tutorial_line_has_its_layout() {
        let row = EpochRow {
            epoch: 7,
            train_cost: 0.20534,
            valid_cost: Some(0.05806),
            seconds: 1.234,
        };
        assert_eq!(
            row.tutorial_line(),
            "Epoch: 0007 Avg.cost = 0.2053 valid = 0.0581 secs = 1.23"
        );
        let unvalidated = EpochRow {
            valid_cost: None,
            ..row
        };
        assert_eq!(
            unvalidated.tutorial_line(),
            "Epoch: 0007 Avg.cost = 0.2053 secs = 1.23"
        );
    }
}
