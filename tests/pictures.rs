//! The pictures: the training curve, the latent map, interpolations, the user's own images,
//! the worst reconstructions; Fashion-MNIST and the denoising variant end to end. Each picture
//! is checked for its size and for not being blank.

use std::fs;
use std::path::{Path, PathBuf};

use image::{GenericImageView, ImageFormat};
use mnist_autoencoder::data::{LabeledImages, MnistPart};
use mnist_autoencoder::inspect::explore::load_own_image;
use mnist_autoencoder::inspect::latent::Pca;
use mnist_autoencoder::render::grid::{GAP, SCALE, grid_size};

use crate::common::{assert_one_line_error, run_in, stderr, stdout, train_ok};
use crate::pen::draw_digit;

const QUICK: [&str; 4] = [
    "data.download=false",
    "data.train_limit=3000",
    "data.validation_size=500",
    "training.epochs=3",
];

/// Settings that learn a recognisable reconstruction from QUICK's 90 steps (the tutorial's
/// N(0, 1) start needs epochs to leave saturation).
const LEARNS_QUICKLY: [&str; 5] = [
    "model.init=xavier",
    "training.optimizer=burn-rmsprop",
    "training.learning_rate=0.002",
    "training.rmsprop.alpha=0.99",
    "training.rmsprop.momentum=0.9",
];

/// Trains a quick run on real MNIST into `dir/run`.
fn quick_run(mnist: &Path, dir: &Path, extra: &[&str]) -> PathBuf {
    let run = dir.join("run");
    train_ok(dir, mnist, &run, &[&QUICK[..], extra].concat());
    run
}

/// Asserts `path` is a PNG of `size` with a picture on it: many distinct shades, and a fair
/// share of pixels away from the most common one.
fn assert_picture(path: &Path, size: (u32, u32)) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(image.dimensions(), size, "{}", path.display());
    let rgb = image.to_rgb8();
    let mut counts = std::collections::HashMap::new();
    for pixel in rgb.pixels() {
        *counts.entry(pixel.0).or_insert(0usize) += 1;
    }
    let total = rgb.pixels().len();
    let commonest = counts.values().max().copied().unwrap_or(0);
    assert!(
        counts.len() >= 16,
        "{}: only {} shades",
        path.display(),
        counts.len()
    );
    assert!(
        commonest < total * 97 / 100,
        "{}: {commonest} of {total} pixels are one colour",
        path.display()
    );
}

/// The digits of a grid figure (`figure::render_grid`), row by row, each 784 pixel values in
/// [0, 1] read back from the PNG.
fn read_grid(path: &Path) -> Vec<Vec<Vec<f32>>> {
    let image = image::open(path).unwrap().to_luma8();
    let cell = 28 * SCALE;
    let columns = (image.width() - GAP) / (cell + GAP);
    let rows = (image.height() - GAP) / (cell + GAP);
    (0..rows)
        .map(|r| {
            (0..columns)
                .map(|c| {
                    let (left, top) = (GAP + c * (cell + GAP), GAP + r * (cell + GAP));
                    (0..784u32)
                        .map(|i| {
                            let (x, y) = (left + i % 28 * SCALE, top + i / 28 * SCALE);
                            f32::from(image.get_pixel(x, y)[0]) / 255.0
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn mean_squared(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>() / a.len() as f32
}

/// Test image `index` as the figures draw it.
fn test_image(mnist: &Path, index: usize) -> Vec<f32> {
    let test = LabeledImages::load(mnist, MnistPart::Test)
        .unwrap()
        .dataset();
    test.raw_pixels(index)
        .unwrap()
        .iter()
        .map(|&b| f32::from(b) / 255.0)
        .collect()
}

/// Asserts the top row of a figure is exactly `originals` and the bottom row reconstructs
/// them: its error is below `margin` times that of a blank row, and of the same reconstructions
/// shifted by one (each compared with another digit).
fn assert_reconstructs(path: &Path, originals: &[Vec<f32>], margin: f32) {
    let grid = read_grid(path);
    assert_eq!(grid[0].len(), originals.len(), "{}", path.display());
    for (drawn, original) in grid[0].iter().zip(originals) {
        let off = drawn
            .iter()
            .zip(original)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            off < 0.5 / 255.0,
            "{}: top row is not the originals",
            path.display()
        );
    }
    let rows = &grid[grid.len() - 1];
    let n = originals.len();
    let own: f32 = (0..n).map(|i| mean_squared(&rows[i], &originals[i])).sum();
    let blank: f32 = originals
        .iter()
        .map(|o| mean_squared(o, &vec![0.0; 784]))
        .sum();
    let shifted: f32 = (0..n)
        .map(|i| mean_squared(&rows[(i + 1) % n], &originals[i]))
        .sum();
    // An 8-bit reconstruction is never the original itself: a figure drawing its input twice
    // would pass the comparisons below.
    assert!(
        own > 1e-4 * n as f32,
        "{}: the bottom row repeats the top",
        path.display()
    );
    assert!(
        own < margin * blank && own < margin * shifted,
        "{}: reconstructions are off by {own}, a blank by {blank}, the shifted row by {shifted}",
        path.display()
    );
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn training_draws_its_curve_and_curves_redraws_it_from_metrics_csv(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let run = quick_run(mnist, tmp.path(), &[]);
    assert_picture(&run.join("loss.png"), (900, 560));
    // Both curves are drawn, each in its colour: the training cost and the validation cost.
    let chart = image::open(run.join("loss.png")).unwrap().to_rgb8();
    for (name, colour) in [("train", [31, 119, 180]), ("validation", [255, 127, 14])] {
        let drawn = chart.pixels().filter(|p| p.0 == colour).count();
        assert!(drawn > 300, "the {name} curve has {drawn} pixels");
    }

    let linear = tmp.path().join("linear.png");
    let output = run_in(
        tmp.path(),
        &[
            "curves",
            "--model",
            arg(&run),
            "--scale",
            "linear",
            "--output",
            arg(&linear),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_picture(&linear, (900, 560));
    assert_ne!(
        fs::read(&linear).unwrap(),
        fs::read(run.join("loss.png")).unwrap()
    );

    fs::remove_file(run.join("loss.png")).unwrap();
    let output = run_in(tmp.path(), &["curves", "--model", arg(&run)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_picture(&run.join("loss.png"), (900, 560));

    fs::write(run.join("metrics.csv"), "epoch,cost\n1,2\n").unwrap();
    let output = run_in(tmp.path(), &["curves", "--model", arg(&run)]);
    assert_one_line_error(&output, &["metrics.csv", "damaged"]);
}

fn latent_maps_the_test_codes_and_exports_them_with_labels(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let run = quick_run(mnist, tmp.path(), &["model.hidden_size=32"]);
    let output = run_in(tmp.path(), &["latent", "--model", arg(&run)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("principal components hold"));
    assert_picture(&run.join("latent.png"), (1000, 820));

    let csv = fs::read_to_string(run.join("codes.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..5], ["index", "label", "pc1", "pc2", "code_0"]);
    assert_eq!(header.len(), 4 + 32);
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 10_000);
    // The first test labels of MNIST are 7 2 1 0 4; codes are sigmoids.
    let labels: Vec<f64> = rows.iter().take(5).map(|r| r[1]).collect();
    assert_eq!(labels, [7.0, 2.0, 1.0, 0.0, 4.0]);
    assert!(
        rows.iter()
            .all(|r| r[4..].iter().all(|c| (0.0..=1.0).contains(c)))
    );
    // The projection is centred: its mean is zero up to rounding.
    let mean_pc1 = rows.iter().map(|r| r[2]).sum::<f64>() / rows.len() as f64;
    assert!(mean_pc1.abs() < 1e-3, "{mean_pc1}");
}

fn pca_finds_the_directions_of_largest_variance() {
    // Points spread 10 along (1, 1, 0)/sqrt2, 3 along z, 0.1 along (1, -1, 0)/sqrt2.
    let mut rows = Vec::new();
    for i in 0..400 {
        let (a, b, c) = (
            ((i * 37 % 101) as f32 - 50.0) / 5.0,
            ((i * 53 % 97) as f32 - 48.0) / 16.0,
            ((i * 29 % 89) as f32 - 44.0) / 440.0,
        );
        let s = std::f32::consts::FRAC_1_SQRT_2;
        rows.extend([s * (a + c), s * (a - c), b]);
    }
    let pca = Pca::fit(&rows, 3);
    let [first, second] = &pca.components;
    let diagonal = std::f64::consts::FRAC_1_SQRT_2;
    assert!((first[0].abs() - diagonal).abs() < 1e-3 && (first[0] - first[1]).abs() < 1e-3);
    assert!((second[2].abs() - 1.0).abs() < 1e-3);
    assert!(pca.explained[0] > 0.8 && pca.explained[1] > 0.05);
}

fn the_reconstruction_figure_shows_test_digits_over_their_reconstructions(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let run = quick_run(mnist, tmp.path(), &LEARNS_QUICKLY);
    let originals: Vec<Vec<f32>> = (0..10).map(|i| test_image(mnist, i)).collect();
    assert_reconstructs(&run.join("reconstruction.png"), &originals, 0.5);
}

fn interpolate_draws_the_walk_between_two_test_images(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let run = quick_run(mnist, tmp.path(), &LEARNS_QUICKLY);
    let output = run_in(
        tmp.path(),
        &[
            "interpolate",
            "--model",
            arg(&run),
            "--from",
            "3",
            "--to",
            "2",
            "--steps",
            "6",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_picture(&run.join("interpolation.png"), grid_size(6 + 2, 2));
    // Both rows start at test image 3 and end at 2; the bottom row blends them in pixel space,
    // in steps of 1/5.
    let grid = read_grid(&run.join("interpolation.png"));
    let (a, b) = (test_image(mnist, 3), test_image(mnist, 2));
    for row in &grid {
        assert!(mean_squared(&row[0], &a) < 1e-5 && mean_squared(&row[7], &b) < 1e-5);
    }
    for (step, drawn) in grid[1][1..7].iter().enumerate() {
        let t = step as f32 / 5.0;
        let blend: Vec<f32> = a
            .iter()
            .zip(&b)
            .map(|(x, y)| x * (1.0 - t) + y * t)
            .collect();
        assert!(
            mean_squared(drawn, &blend) < 1e-5,
            "blend {step} is not at {t}"
        );
    }
    // The decoded walk moves from one end towards the other.
    let decoded = &grid[0][1..7];
    assert!(mean_squared(&decoded[0], &a) < mean_squared(&decoded[0], &b));
    assert!(mean_squared(&decoded[5], &b) < mean_squared(&decoded[5], &a));

    let output = run_in(
        tmp.path(),
        &["interpolate", "--model", arg(&run), "--to", "10000"],
    );
    assert_one_line_error(&output, &["--to 10000", "0 to 9999"]);
}

fn evaluate_reports_psnr_and_draws_the_worst_reconstructions(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let run = quick_run(mnist, tmp.path(), &LEARNS_QUICKLY);
    let output = run_in(
        tmp.path(),
        &["evaluate", "--model", arg(&run), "--worst", "8"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let field = |name: &str| -> f64 {
        let start = text.find(name).unwrap() + name.len();
        text[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches(',')
            .parse()
            .unwrap()
    };
    let (mse, psnr) = (field("Test MSE = "), field("PSNR = "));
    assert!((psnr - 10.0 * (1.0 / mse).log10()).abs() < 0.01, "{text}");
    // The listed errors come worst first.
    let worst: Vec<f64> = text
        .lines()
        .find(|l| l.starts_with("Worst reconstructed:"))
        .unwrap()
        .split(", ")
        .map(|item| item.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(worst.len(), 8);
    assert!(worst.windows(2).all(|w| w[0] >= w[1]), "{worst:?}");
    assert!(worst[7] > mse, "the worst are worse than the mean");
    assert_picture(&run.join("worst.png"), grid_size(8, 2));
    // "#index (label) mse" each.
    let indices: Vec<usize> = text
        .lines()
        .find_map(|l| l.strip_prefix("Worst reconstructed: "))
        .unwrap()
        .split(", ")
        .map(|item| item[1..].split(' ').next().unwrap().parse().unwrap())
        .collect();
    let originals: Vec<Vec<f32>> = indices.iter().map(|&i| test_image(mnist, i)).collect();
    // The worst of 10,000 are poor reconstructions, yet still of their own digits.
    assert_reconstructs(&run.join("worst.png"), &originals, 0.85);
}

fn reconstruct_takes_the_users_own_pictures(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let run = quick_run(mnist, tmp.path(), &[]);
    // Dark ink on light paper in PNG and JPEG, and light ink on black, each its own size.
    let pictures = [
        (
            tmp.path().join("three.png"),
            draw_digit(3, 300, 360, [30, 30, 60], [235, 230, 215]),
            ImageFormat::Png,
        ),
        (
            tmp.path().join("seven.jpg"),
            draw_digit(7, 123, 97, [20, 20, 20], [250, 250, 250]),
            ImageFormat::Jpeg,
        ),
        (
            tmp.path().join("zero.png"),
            draw_digit(0, 64, 64, [255, 255, 255], [0, 0, 0]),
            ImageFormat::Png,
        ),
    ];
    for (path, image, format) in &pictures {
        image.save_with_format(path, *format).unwrap();
    }
    let mut args = vec!["reconstruct", "--model", arg(&run)];
    for (path, _, _) in &pictures {
        args.extend(["--image", arg(path)]);
    }
    let output = run_in(tmp.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_picture(&run.join("own-images.png"), grid_size(3, 2));

    // Each is prepared as MNIST's digits are: light stroke on black, centred by mass.
    for (path, _, _) in &pictures {
        let pixels = load_own_image(path).unwrap();
        let mass: f32 = pixels.iter().sum();
        let (mx, my) = pixels
            .iter()
            .enumerate()
            .fold((0.0, 0.0), |(x, y), (i, &v)| {
                (x + v * (i % 28) as f32, y + v * (i / 28) as f32)
            });
        let (cx, cy) = (mx / mass, my / mass);
        assert!(
            (12.5..15.5).contains(&cx) && (12.5..15.5).contains(&cy),
            "{cx} {cy}"
        );
        // The corners are background; a digit may reach an edge after centring by mass.
        let corners: f32 = [(0, 0), (0, 25), (25, 0), (25, 25)]
            .iter()
            .flat_map(|&(y, x)| {
                (0..3).flat_map(move |dy| (0..3).map(move |dx| (y + dy) * 28 + x + dx))
            })
            .map(|i| pixels[i])
            .sum();
        assert!(
            corners < 0.5,
            "{}: the background is not black",
            path.display()
        );
        assert!(
            pixels.iter().any(|&v| v > 0.9),
            "{}: no stroke",
            path.display()
        );
    }

    let missing = tmp.path().join("missing.png");
    let output = run_in(
        tmp.path(),
        &[
            "reconstruct",
            "--model",
            arg(&run),
            "--image",
            arg(&missing),
        ],
    );
    assert_one_line_error(&output, &["missing.png", "PNG or JPEG"]);
    let text = tmp.path().join("notes.png");
    fs::write(&text, "not a picture").unwrap();
    let output = run_in(
        tmp.path(),
        &["reconstruct", "--model", arg(&run), "--image", arg(&text)],
    );
    assert_one_line_error(&output, &["notes.png", "PNG or JPEG"]);
    let blank = tmp.path().join("blank.png");
    image::GrayImage::from_pixel(50, 50, image::Luma([200]))
        .save(&blank)
        .unwrap();
    let output = run_in(
        tmp.path(),
        &["reconstruct", "--model", arg(&run), "--image", arg(&blank)],
    );
    assert_one_line_error(&output, &["blank.png", "blank"]);
}

fn fashion_mnist_trains_end_to_end(fashion: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let printed = train_ok(
        tmp.path(),
        fashion,
        &run,
        &[&QUICK[..], &["data.dataset=fashion-mnist"]].concat(),
    );
    assert!(
        printed.contains("on 3000 Fashion-MNIST images"),
        "{printed}"
    );
    assert_picture(&run.join("reconstruction.png"), grid_size(10, 2));
    let output = run_in(tmp.path(), &["latent", "--model", arg(&run)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_picture(&run.join("latent.png"), (1000, 820));
    // Fashion-MNIST's first test image is an ankle boot (9), MNIST's a 7.
    let csv = fs::read_to_string(run.join("codes.csv")).unwrap();
    assert!(csv.lines().nth(1).unwrap().starts_with("0,9,"));
}

fn the_denoising_variant_trains_on_noisy_inputs_and_shows_them(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/denoising.toml");
    let run = tmp.path().join("run");
    let data = format!("data.dir={}", mnist.display());
    let out = format!("output.dir={}", run.display());
    let mut args = vec!["train", "--config", arg(&config)];
    for flag in QUICK
        .iter()
        .copied()
        .chain([data.as_str(), out.as_str(), "output.dashboard=plain"])
    {
        args.extend(["--set", flag]);
    }
    let output = run_in(tmp.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("gaussian noise 0.3"),
        "{}",
        stdout(&output)
    );
    // Originals, noisy inputs, reconstructions.
    assert_picture(&run.join("reconstruction.png"), grid_size(10, 3));

    for (level, needle) in [("0", "standard deviation"), ("1.5", "standard deviation")] {
        let flag = format!("training.noise_level={level}");
        let output = run_in(
            tmp.path(),
            &["train", "--config", arg(&config), "--set", &flag],
        );
        assert_one_line_error(&output, &["training.noise_level", needle]);
    }
    let output = run_in(
        tmp.path(),
        &[
            "train",
            "--set",
            "training.noise=masking",
            "--set",
            "training.noise_level=1",
        ],
    );
    assert_one_line_error(&output, &["training.noise_level", "share of pixels"]);
}

fn denoising_noise_is_reproducible_and_stays_in_range() {
    use mnist_autoencoder::data::Noise;
    use mnist_autoencoder::data::NoiseKind;
    let clean: Vec<f32> = (0..7840).map(|i| (i % 256) as f32 / 255.0).collect();
    for (kind, level) in [(NoiseKind::Gaussian, 0.3), (NoiseKind::Masking, 0.25)] {
        let noise = Noise { kind, level };
        let a = noise.apply(&clean, 7).unwrap();
        assert_eq!(
            a,
            noise.apply(&clean, 7).unwrap(),
            "same stream, same noise"
        );
        assert_ne!(
            a,
            noise.apply(&clean, 8).unwrap(),
            "another stream, other noise"
        );
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        let changed = a.iter().zip(&clean).filter(|(x, y)| x != y).count();
        assert!(changed > clean.len() / 5, "{kind:?}: {changed} changed");
        if kind == NoiseKind::Masking {
            let zeroed = a
                .iter()
                .zip(&clean)
                .filter(|(x, y)| **x == 0.0 && **y != 0.0)
                .count();
            let share = zeroed as f32 / clean.iter().filter(|v| **v != 0.0).count() as f32;
            assert!((share - 0.25).abs() < 0.03, "{share}");
        }
    }
    assert_eq!(Noise::none().apply(&clean, 7), None);
}

crate::trials![
    mnist training_draws_its_curve_and_curves_redraws_it_from_metrics_csv,
    mnist latent_maps_the_test_codes_and_exports_them_with_labels,
    plain pca_finds_the_directions_of_largest_variance,
    mnist the_reconstruction_figure_shows_test_digits_over_their_reconstructions,
    mnist interpolate_draws_the_walk_between_two_test_images,
    mnist evaluate_reports_psnr_and_draws_the_worst_reconstructions,
    mnist reconstruct_takes_the_users_own_pictures,
    fashion fashion_mnist_trains_end_to_end,
    mnist the_denoising_variant_trains_on_noisy_inputs_and_shows_them,
    plain denoising_noise_is_reproducible_and_stays_in_range,
];
