//! The kinds beyond the tutorial's model (Keras's simple, sparse, deep, convolutional,
//! denoising and variational autoencoders): their shapes, a bit-exact resume of each, and a
//! safetensors round trip of each.

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use mnist_autoencoder::model::{Autoencoder, ModelKind};
use mnist_autoencoder::render::grid::{grid_size, render_grid};
use mnist_autoencoder::run_dir::RunDir;

use crate::common::{cost_bits, run_in, stderr, stdout, synthetic_run, train_ok};

type B = mnist_autoencoder::backend::Backend;

/// Each kind, small enough to train in a second on synthetic data, with the settings of its
/// shipped config otherwise; and the `--set` flags that choose it.
const KINDS: [(&str, &[&str]); 5] = [
    (
        "deep sparse",
        &[
            "model.hidden_layers=[24, 12]",
            "model.hidden_size=6",
            "model.activation=relu",
            "model.code_l1=1e-4",
            "model.init=keras",
            "training.loss=bce",
            "training.optimizer=adam",
            "training.learning_rate=0.001",
        ],
    ),
    (
        "conv",
        &[
            "model.kind=conv",
            "model.conv_channels=[3, 2, 2]",
            "model.activation=relu",
            "model.init=keras",
            "training.loss=bce",
            "training.optimizer=adam",
            "training.learning_rate=0.001",
        ],
    ),
    (
        "conv denoising",
        &[
            "model.kind=conv",
            "model.conv_channels=[2, 2]",
            "model.activation=relu",
            "training.noise=gaussian",
            "training.noise_level=0.5",
            "training.loss=bce",
            "training.optimizer=adam",
        ],
    ),
    (
        "vae",
        &[
            "model.kind=vae",
            "model.hidden_layers=[16]",
            "model.hidden_size=2",
            "model.activation=relu",
            "model.init=keras",
            "training.loss=bce",
            "training.optimizer=adam",
            "training.learning_rate=0.001",
        ],
    ),
    (
        "vae mse rmsprop",
        &[
            "model.kind=vae",
            "model.hidden_size=3",
            "model.hidden_layers=[]",
        ],
    ),
];

/// Two epochs of 20 steps on 1,000 synthetic images.
const RUN: [&str; 4] = [
    "data.validation_size=200",
    "data.train_limit=1000",
    "training.batch_size=50",
    "training.epochs=2",
];

fn images(batch: usize) -> Tensor<B, 2> {
    Tensor::random(
        [batch, 784],
        Distribution::Uniform(0.0, 1.0),
        &Default::default(),
    )
}

/// The model's tensors, by name, as bits.
fn model_bits(dir: &Path) -> Vec<(String, Vec<u32>)> {
    let model = RunDir::new(dir)
        .load::<B>(&Default::default())
        .unwrap()
        .model;
    model
        .named_parameters()
        .into_iter()
        .map(|(name, values)| (name, values.iter().map(|v| v.to_bits()).collect()))
        .collect()
}

fn each_kind_has_the_shapes_its_config_gives() {
    let keras = crate::common::keras_model;
    let cases = [
        // 784-32-784: 25,120 + 25,872 parameters.
        (keras(ModelKind::Dense).with_hidden_size(32), 32, 50_992),
        (
            keras(ModelKind::Dense)
                .with_hidden_layers(vec![128, 64])
                .with_hidden_size(32),
            32,
            222_384,
        ),
        // Keras's: 16, 8 and 8 channels to a 4x4x8 code; 4,385 parameters in Keras's summary.
        (keras(ModelKind::Conv), 128, 4_385),
        // Keras's denoising model: 32 and 32 channels to a 7x7x32 code, 28,353 parameters.
        (
            keras(ModelKind::Conv).with_conv_channels(vec![32, 32]),
            1568,
            28_353,
        ),
        // 784-64-(2 means, 2 log-variances), 2-64-784: 50,240 + 260 + 192 + 50,960.
        (
            keras(ModelKind::Vae)
                .with_hidden_layers(vec![64])
                .with_hidden_size(2),
            2,
            101_652,
        ),
    ];
    for (config, code, count) in cases {
        let what = config.describe();
        let model: Autoencoder<B> = config.init(&Default::default());
        assert_eq!(model.kind(), config.kind, "{what}");
        assert_eq!(model.code_size(), code, "{what}");
        assert_eq!(model.num_params(), count, "{what}");
        let x = images(3);
        let codes = model.encode(x.clone());
        assert_eq!(codes.dims(), [3, code], "{what}");
        assert_eq!(model.decode(codes).dims(), [3, 784], "{what}");
        let y = model.forward(x.clone());
        assert_eq!(y.dims(), [3, 784], "{what}");
        let y: Vec<f32> = y.into_data().to_vec().unwrap();
        assert!(
            y.iter().all(|v| (0.0..=1.0).contains(v)),
            "{what}: a sigmoid"
        );
        let loss: f32 = model.loss(x).into_scalar().elem();
        assert!(loss.is_finite() && loss > 0.0, "{what}: loss {loss}");
        // What the config says of the parameters is what the module holds.
        let held: Vec<(String, Vec<usize>)> = model
            .named_parameters()
            .into_iter()
            .map(|(name, values)| (name, vec![values.len()]))
            .collect();
        let said: Vec<(String, Vec<usize>)> = config
            .parameters()
            .into_iter()
            .map(|(name, shape)| (name, vec![shape.iter().product()]))
            .collect();
        assert_eq!(held, said, "{what}");
    }
}

/// Each kind stopped after its first epoch and resumed gives the run that was never stopped:
/// costs and every weight, bit for bit (the VAE's draws and the denoising noise included).
fn each_kind_resumes_bit_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    for (name, flags) in KINDS {
        let whole = tmp.path().join(format!("{name} whole"));
        let part = tmp.path().join(format!("{name} part"));
        let settings = [&RUN[..], flags].concat();
        train_ok(tmp.path(), &data, &whole, &settings);
        let first = [&settings[..], &["training.epochs=1"]].concat();
        train_ok(tmp.path(), &data, &part, &first);
        assert_ne!(
            cost_bits(&whole),
            cost_bits(&part),
            "{name}: one epoch, not two"
        );
        let part_arg = part.to_str().unwrap();
        let resumed = run_in(
            tmp.path(),
            &["train", "--resume", part_arg, "--set", "training.epochs=2"],
        );
        assert!(resumed.status.success(), "{name}: {}", stderr(&resumed));
        assert_eq!(cost_bits(&whole), cost_bits(&part), "{name}");
        assert!(model_bits(&whole) == model_bits(&part), "{name}: weights");
    }
}

/// Each kind exported to safetensors and imported back is the same model: the same tensors,
/// the same test MSE; a file of one kind does not load as another.
fn each_kind_round_trips_through_safetensors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let data_flag = format!("data.dir={}", data.display());
    for (name, flags) in KINDS {
        let run = tmp.path().join(format!("{name} run"));
        let back = tmp.path().join(format!("{name} back"));
        // One plan of kernels for both: `auto` may measure another for the imported run (a
        // parallel test timing the same shape), and other kernels round differently.
        let forced = ["training.epochs=1", "backend.kernels=reference"];
        let settings = [&RUN[..], flags, &forced].concat();
        train_ok(tmp.path(), &data, &run, &settings);
        let file = tmp.path().join(format!("{name}.safetensors"));
        let (run_arg, file_arg) = (run.to_str().unwrap(), file.to_str().unwrap());
        let export = run_in(
            tmp.path(),
            &["export", "--model", run_arg, "--output", file_arg],
        );
        assert!(export.status.success(), "{name}: {}", stderr(&export));
        // The file's metadata names its kind and shapes: only the data is set.
        let import = [
            "import",
            "--from",
            file_arg,
            "--output",
            back.to_str().unwrap(),
            "--set",
            &data_flag,
            "--set",
            "backend.kernels=reference",
        ];
        let imported = run_in(tmp.path(), &import);
        assert!(imported.status.success(), "{name}: {}", stderr(&imported));
        assert!(model_bits(&run) == model_bits(&back), "{name}: tensors");
        let evaluate = |dir: &Path| {
            let output = run_in(tmp.path(), &["evaluate", "--model", dir.to_str().unwrap()]);
            assert!(output.status.success(), "{name}: {}", stderr(&output));
            // The MSE and, as each of these kinds minimises something else, its own loss.
            let text = stdout(&output);
            let figures: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("Test MSE = ") || l.starts_with("Test loss = "))
                .filter_map(|l| l.split(" (").next())
                .collect();
            assert_eq!(figures.len(), 2, "{name}: {text}");
            figures.join("; ")
        };
        assert_eq!(evaluate(&run), evaluate(&back), "{name}");
    }
    // A VAE's file into a dense model: one line, and no run folder.
    let vae = tmp.path().join("vae.safetensors");
    let wrong = run_in(
        tmp.path(),
        &[
            "import",
            "--from",
            vae.to_str().unwrap(),
            "--output",
            tmp.path().join("wrong").to_str().unwrap(),
            "--set",
            "model.kind=dense",
        ],
    );
    assert_eq!(wrong.status.code(), Some(1), "{}", stdout(&wrong));
    assert_eq!(stderr(&wrong).lines().count(), 1, "{}", stderr(&wrong));
    assert!(!tmp.path().join("wrong").exists());
}

/// `generate` decodes the latent plane of a VAE on a grid: -span to span, the first dimension
/// left to right and the second bottom to top; a model of another kind is one line.
fn generate_draws_the_vae_latent_plane_and_refuses_other_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let vae = tmp.path().join("vae");
    let (_, flags) = KINDS[3];
    train_ok(
        tmp.path(),
        &data,
        &vae,
        &[&RUN[..], flags, &["training.epochs=1"]].concat(),
    );
    let out = tmp.path().join("grid.png");
    let output = run_in(
        tmp.path(),
        &[
            "generate",
            "--model",
            vae.to_str().unwrap(),
            "--steps",
            "3",
            "--span",
            "1.5",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let model = RunDir::new(&vae)
        .load::<B>(&Default::default())
        .unwrap()
        .model;
    let at = [-1.5f32, 0.0, 1.5];
    let mut codes = Vec::new();
    for row in 0..3 {
        for column in 0..3 {
            codes.extend([at[column], at[2 - row]]);
        }
    }
    let codes = Tensor::<B, 2>::from_data(TensorData::new(codes, [9, 2]), &Default::default());
    let pixels: Vec<f32> = model.decode(codes).into_data().to_vec().unwrap();
    let digits: Vec<Vec<f32>> = pixels.chunks(784).map(<[f32]>::to_vec).collect();
    let rows: Vec<Vec<Vec<f32>>> = digits.chunks(3).map(<[_]>::to_vec).collect();
    let want = render_grid(&rows);
    let got = image::open(&out).unwrap().into_luma8();
    assert_eq!(got.dimensions(), grid_size(3, 3));
    assert!(
        got == want,
        "the grid is the decoded plane, rows from the top"
    );
    assert_ne!(digits[0], digits[8], "corners differ");

    let dense = tmp.path().join("dense");
    train_ok(
        tmp.path(),
        &data,
        &dense,
        &[&RUN[..], &["training.epochs=1"]].concat(),
    );
    let output = run_in(
        tmp.path(),
        &["generate", "--model", dense.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("model.kind = \"vae\""), "{message}");
    assert!(!dense.join("generated.png").exists());
}

crate::trials![
    plain generate_draws_the_vae_latent_plane_and_refuses_other_kinds,
    plain each_kind_has_the_shapes_its_config_gives,
    plain each_kind_resumes_bit_exactly,
    plain each_kind_round_trips_through_safetensors,
];
