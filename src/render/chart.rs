//! Charts: the training curve and the latent map, drawn with plotters into a pixel buffer and
//! written as PNG atomically. The font (DejaVu Sans, `assets/`) is compiled in, so charts look
//! the same on machines without fonts.

use std::path::Path;
use std::sync::Once;

use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::artifacts::ArtifactError;
use crate::metrics::EpochRow;
use crate::render::grid::save_png;

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// The y axis of a plot.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Linear,
    Log,
}

/// Ten colours that stay apart (Tableau 10), one per class.
pub(crate) const CLASS_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws with `paint` on a white `width x height` canvas.
fn render(
    width: u32,
    height: u32,
    paint: impl FnOnce(&Area) -> DrawResult,
) -> Result<RgbImage, String> {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        if register_font(FAMILY, FontStyle::Normal, FONT).is_err() {
            unreachable!("the bundled font parses");
        }
    });
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        area.fill(&WHITE).map_err(|e| e.to_string())?;
        paint(&area).map_err(|e| e.to_string())?;
        area.present().map_err(|e| e.to_string())?;
    }
    RgbImage::from_raw(width, height, buffer).ok_or_else(|| "buffer size".to_owned())
}

fn plot_error(path: &Path, reason: String) -> ArtifactError {
    ArtifactError::Plot {
        path: path.to_owned(),
        reason,
    }
}

/// The y value drawn for a cost on `scale`.
fn scaled(scale: Scale, value: f64) -> f64 {
    match scale {
        Scale::Log => value.max(f64::MIN_POSITIVE).log10(),
        Scale::Linear => value,
    }
}

/// The y range of the finite costs of `rows` on `scale`, padded.
fn cost_range(rows: &[EpochRow], scale: Scale) -> std::ops::Range<f64> {
    let values = rows
        .iter()
        .flat_map(|r| [Some(r.train_cost), r.valid_cost])
        .flatten()
        .filter(|v| v.is_finite())
        .map(|v| scaled(scale, v));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.08).max(1e-3);
    match scale {
        Scale::Linear => (lo - pad).max(0.0)..hi + pad,
        Scale::Log => lo - pad..hi + pad,
    }
}

/// `loss.png`: train and validation cost per epoch.
pub(crate) fn loss_chart(rows: &[EpochRow], scale: Scale, title: &str) -> Result<RgbImage, String> {
    if rows.is_empty() {
        return Err("metrics.csv holds no epoch yet".to_owned());
    }
    let costs = cost_range(rows, scale);
    let last = rows.last().map_or(1, |r| r.epoch).max(2);
    let first = rows.first().map_or(1, |r| r.epoch);
    let epochs = first as f64 - 0.5..last as f64 + 0.5;
    render(900, 560, |area| {
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FAMILY, 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(epochs, costs)?;
        let y_label = match scale {
            Scale::Log => "cost (mean squared error, log scale)",
            Scale::Linear => "cost (mean squared error)",
        };
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(y_label)
            .x_labels((last - first + 1).min(12))
            .x_label_formatter(&|x| {
                // Whole epochs only: plotters may place ticks between them.
                if (x - x.round()).abs() < 1e-6 {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| match scale {
                Scale::Log => format!("{:.2e}", 10f64.powf(*v)),
                Scale::Linear => format!("{v:.3}"),
            })
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 16))
            .draw()?;
        draw_cost_series(&mut chart, rows, scale)
    })
}

type CostChart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The training and validation curves (the latter where there was validation), with a legend.
fn draw_cost_series<'a, 'b: 'a>(
    chart: &mut CostChart<'a, 'b>,
    rows: &[EpochRow],
    scale: Scale,
) -> DrawResult {
    let series = [
        ("train (Avg.cost)", CLASS_COLOURS[0], 0),
        ("validation", CLASS_COLOURS[1], 1),
    ];
    for (name, colour, which) in series {
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| Some((r.epoch as f64, [Some(r.train_cost), r.valid_cost][which]?)))
            .filter(|(_, v)| v.is_finite())
            .map(|(e, v)| (e, scaled(scale, v)))
            .collect();
        if points.is_empty() {
            // No validation images, or nothing finite to draw.
            continue;
        }
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(3)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FAMILY, 16))
        .draw()?;
    Ok(())
}

/// Writes [`loss_chart`] to `path`.
pub(crate) fn save_loss_chart(
    path: &Path,
    rows: &[EpochRow],
    scale: Scale,
    title: &str,
) -> Result<(), ArtifactError> {
    let image = loss_chart(rows, scale, title).map_err(|e| plot_error(path, e))?;
    save_png(path, &image.into())
}

/// One point of the latent map.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapPoint {
    pub x: f32,
    pub y: f32,
    pub label: u8,
}

/// The latent map: each code projected to 2-D, coloured by class, with a legend.
pub(crate) fn latent_chart(
    points: &[MapPoint],
    class_names: &[&str; 10],
    axes: [&str; 2],
    title: &str,
) -> Result<RgbImage, String> {
    if points.is_empty() {
        return Err("no points to draw".to_owned());
    }
    // An axis over NaN or infinity has no ticks to find: plotters would search for them forever.
    let bad = points
        .iter()
        .filter(|p| !(p.x.is_finite() && p.y.is_finite()))
        .count();
    if bad > 0 {
        return Err(format!(
            "{bad} of the {} points are not finite numbers (NaN or infinite)",
            points.len()
        ));
    }
    let (xs, ys) = (padded_range(points, |p| p.x), padded_range(points, |p| p.y));
    render(1000, 820, |area| {
        let (plot, legend) = area.split_horizontally(820);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, (FAMILY, 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(xs, ys)?;
        chart
            .configure_mesh()
            .x_desc(axes[0])
            .y_desc(axes[1])
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 15))
            .draw()?;
        chart.draw_series(points.iter().map(|p| {
            let colour = CLASS_COLOURS[usize::from(p.label) % 10];
            Circle::new(
                (f64::from(p.x), f64::from(p.y)),
                2,
                colour.mix(0.6).filled(),
            )
        }))?;
        draw_class_legend(&legend, class_names)
    })
}

/// The range of one coordinate of `points`, padded by 4% of its extent.
fn padded_range(points: &[MapPoint], coordinate: fn(&MapPoint) -> f32) -> std::ops::Range<f64> {
    let (lo, hi) = points
        .iter()
        .map(coordinate)
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let pad = ((hi - lo) * 0.04).max(1e-3);
    f64::from(lo - pad)..f64::from(hi + pad)
}

/// A dot of each class's colour and its name, one under the other.
fn draw_class_legend(legend: &Area, class_names: &[&str; 10]) -> DrawResult {
    for (i, name) in class_names.iter().enumerate() {
        let top = 60 + i as i32 * 34;
        legend.draw(&Circle::new((16, top), 8, CLASS_COLOURS[i].filled()))?;
        legend.draw(&Text::new(
            name.to_string(),
            (32, top - 9),
            (FAMILY, 17).into_font().color(&BLACK),
        ))?;
    }
    Ok(())
}

/// Writes [`latent_chart`] to `path`.
pub(crate) fn save_latent_chart(
    path: &Path,
    points: &[MapPoint],
    class_names: &[&str; 10],
    axes: [&str; 2],
    title: &str,
) -> Result<(), ArtifactError> {
    let image = latent_chart(points, class_names, axes, title).map_err(|e| plot_error(path, e))?;
    save_png(path, &image.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_of_non_finite_points_is_refused_not_searched_for_ticks() {
        let names = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
        let point = |x: f32, y: f32| MapPoint { x, y, label: 1 };
        let points = [
            point(0.5, 0.25),
            point(f32::NAN, 1.0),
            point(2.0, f32::INFINITY),
        ];
        let err = latent_chart(&points, &names, ["x", "y"], "t").unwrap_err();
        assert!(err.contains("2 of the 3 points are not finite"), "{err}");
        assert!(latent_chart(&points[..1], &names, ["x", "y"], "t").is_ok());
    }

    #[test]
    fn a_curve_without_validation_draws_the_training_cost() {
        let row = |epoch, valid_cost| EpochRow {
            epoch,
            train_cost: 0.1 / epoch as f64,
            valid_cost,
            seconds: 1.0,
        };
        for rows in [vec![row(1, None), row(2, None)], vec![row(1, Some(0.2))]] {
            assert!(loss_chart(&rows, Scale::Log, "t").is_ok(), "{rows:?}");
        }
    }
}
