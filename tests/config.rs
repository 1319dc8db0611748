//! The configuration: shipped files, layering, and every rejection naming its key.

use std::path::Path;

use mnist_autoencoder::config::{Config, ConfigError, Dashboard, Origin};
use mnist_autoencoder::data::{DatasetKind, NoiseKind};
use mnist_autoencoder::model::Init;
use mnist_autoencoder::optim::OptimizerKind;
use mnist_autoencoder::render::chart::Scale;

fn sets(flags: &[&str]) -> Vec<String> {
    flags.iter().map(|s| s.to_string()).collect()
}

fn load_err(file: Option<&str>, flags: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("my.toml");
    if let Some(text) = file {
        std::fs::write(&path, text).unwrap();
    }
    let error = Config::load(file.map(|_| path.as_path()), &sets(flags)).unwrap_err();
    let message = error.to_string();
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    message
}

fn the_shipped_default_holds_the_tutorials_settings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let config = Config::load(Some(&path), &[]).unwrap();
    assert_eq!(config.model.hidden_size, 256);
    assert_eq!(config.model.init, Init::Normal);
    assert_eq!(config.training.epochs, 20);
    assert_eq!(config.training.batch_size, 100);
    assert_eq!(config.training.learning_rate, 0.01);
    assert_eq!(config.training.optimizer, OptimizerKind::Tf1Rmsprop);
    assert_eq!(config.training.rmsprop.alpha, 0.9);
    assert_eq!(config.training.rmsprop.epsilon, 1e-10);
    assert_eq!(config.training.rmsprop.momentum, 0.0);
    assert_eq!(config.data.validation_size, 5000);
    assert_eq!(config.data.train_limit, 0);
    assert_eq!(config.output.dashboard, Dashboard::Auto);
    assert!(!config.training.rmsprop.centered);
    assert_eq!(config.training.seed, 42);
    assert_eq!(config.training.noise, NoiseKind::None);
    assert_eq!(config.data.dataset, DatasetKind::Mnist);
    assert_eq!(config.data.dir, Path::new("data/mnist"));
    assert!(config.data.download);
    assert_eq!(config.output.dir, Path::new("runs/default"));
    assert_eq!(config.output.samples, 10);
    assert_eq!(config.output.loss_scale, Scale::Log);
}

fn shipped(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name);
    Config::load(Some(&path), &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// The modern settings: Xavier and Burn's RMSProp (alpha 0.99, momentum 0.9, lr 3e-4), the
/// tutorial's model, data, batch and epochs otherwise.
fn assert_modern(config: &Config) {
    let t = &config.training;
    assert_eq!(config.model.init, Init::Xavier);
    assert_eq!(config.model.hidden_size, 256);
    assert_eq!(t.optimizer, OptimizerKind::BurnRmsprop);
    assert_eq!(t.learning_rate, 0.0003);
    assert_eq!(
        (t.rmsprop.alpha, t.rmsprop.momentum, t.rmsprop.epsilon),
        (0.99, 0.9, 1e-10)
    );
    assert!(!t.rmsprop.centered);
    assert_eq!((t.epochs, t.batch_size, t.seed), (20, 100, 42));
}

fn the_shipped_variants_hold_their_documented_settings() {
    let modern = shipped("modern.toml");
    assert_modern(&modern);
    assert_eq!(modern.training.noise, NoiseKind::None);
    assert_eq!(modern.output.dir, Path::new("runs/modern"));
    assert_eq!(modern.data.dataset, DatasetKind::Mnist);

    let fashion = shipped("fashion.toml");
    assert_modern(&fashion);
    assert_eq!(fashion.data.dataset, DatasetKind::FashionMnist);
    assert_eq!(fashion.data.dir, Path::new("data/fashion-mnist"));
    assert_eq!(fashion.data.url, DatasetKind::FashionMnist.default_url());
    assert_eq!(fashion.output.dir, Path::new("runs/fashion"));

    let denoising = shipped("denoising.toml");
    assert_modern(&denoising);
    assert_eq!(denoising.training.noise, NoiseKind::Gaussian);
    assert_eq!(denoising.training.noise_level, 0.3);
    assert_eq!(denoising.output.dir, Path::new("runs/denoising"));
}

/// One of the Keras tutorial's models as its config should give it.
struct Blog {
    name: &'static str,
    kind: mnist_autoencoder::model::ModelKind,
    layers: &'static [usize],
    /// The code's units, or the convolutions' channels.
    code: &'static [usize],
    l1: f64,
    epochs: usize,
    batch: usize,
    noise: NoiseKind,
}

/// The Keras tutorial's models and schedules, as config/keras-*.toml give them.
fn the_keras_configs_hold_the_blogs_models() {
    use mnist_autoencoder::fused::Activation;
    use mnist_autoencoder::model::{Loss, ModelKind};
    let simple = Blog {
        name: "simple",
        kind: ModelKind::Dense,
        layers: &[],
        code: &[32],
        l1: 0.0,
        epochs: 50,
        batch: 256,
        noise: NoiseKind::None,
    };
    let blog = [
        Blog {
            l1: 1e-4,
            epochs: 100,
            name: "sparse",
            ..simple
        },
        Blog {
            layers: &[128, 64],
            epochs: 100,
            name: "deep",
            ..simple
        },
        Blog {
            kind: ModelKind::Conv,
            code: &[16, 8, 8],
            batch: 128,
            name: "conv",
            ..simple
        },
        Blog {
            kind: ModelKind::Conv,
            code: &[32, 32],
            batch: 128,
            epochs: 100,
            noise: NoiseKind::Gaussian,
            name: "denoising",
            ..simple
        },
        Blog {
            kind: ModelKind::Vae,
            layers: &[64],
            code: &[2],
            epochs: 100,
            batch: 32,
            name: "vae",
            ..simple
        },
        simple,
    ];
    for Blog {
        name,
        kind,
        layers,
        code,
        l1,
        epochs,
        batch,
        noise,
    } in blog
    {
        let config = shipped(&format!("keras-{name}.toml"));
        let (m, t) = (&config.model, &config.training);
        assert_eq!(m.kind, kind, "{name}");
        assert_eq!(m.hidden_layers, layers, "{name}");
        if kind == ModelKind::Conv {
            assert_eq!(m.conv_channels, code, "{name}");
        } else {
            assert_eq!([m.hidden_size], code, "{name}");
        }
        assert_eq!(m.activation, Activation::Relu, "{name}");
        assert_eq!(m.init, Init::Keras, "{name}");
        assert_eq!(m.code_l1, l1, "{name}");
        assert_eq!(
            (t.epochs, t.batch_size, t.noise),
            (epochs, batch, noise),
            "{name}"
        );
        assert_eq!(t.loss, Loss::Bce, "{name}");
        assert_eq!(t.optimizer, OptimizerKind::Adam, "{name}");
        assert_eq!(t.learning_rate, 0.001, "{name}");
        assert_eq!(
            (t.adam.beta_1, t.adam.beta_2, t.adam.epsilon),
            (0.9, 0.999, 1e-7)
        );
        if noise == NoiseKind::Gaussian {
            assert_eq!(t.noise_level, 0.5, "{name}");
        }
        assert_eq!(
            config.output.dir,
            Path::new("runs").join(format!("keras-{name}"))
        );
    }
}

fn every_shipped_config_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Config::load(Some(&path), &[]).unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
    }
    assert!(
        seen >= 2,
        "expected default.toml and modern.toml, found {seen} files"
    );
}

fn a_partial_file_and_flags_are_laid_over_the_defaults_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.toml");
    std::fs::write(&path, "[training]\nepochs = 3\nbatch_size = 50\n").unwrap();
    let flags = sets(&[
        "training.epochs=5",
        "data.dir=/some where/mnist",
        "output.dashboard=plain",
        "training.learning_rate=1",
        "model.init=\"xavier\"",
        "training.optimizer=burn-rmsprop",
    ]);
    let config = Config::load(Some(&path), &flags).unwrap();
    assert_eq!(config.training.epochs, 5);
    assert_eq!(config.training.batch_size, 50);
    assert_eq!(config.training.learning_rate, 1.0);
    assert_eq!(config.data.dir, Path::new("/some where/mnist"));
    assert_eq!(config.output.dashboard, Dashboard::Plain);
    assert_eq!(config.model.init, Init::Xavier);
    assert_eq!(config.training.optimizer, OptimizerKind::BurnRmsprop);
    assert_eq!(config.model.hidden_size, 256);
}

fn the_resolved_config_round_trips_through_toml() {
    let config = Config::load(
        None,
        &sets(&[
            "training.seed=9",
            "data.train_limit=100",
            "backend.device=discrete:1",
        ]),
    )
    .unwrap();
    let again = Config::from_toml(&config.to_toml(), Origin::Default).unwrap();
    assert_eq!(again, config);
}

fn a_typo_in_a_file_is_named_with_a_suggestion() {
    let message = load_err(Some("[training]\nepoch = 3\n"), &[]);
    assert!(message.contains("my.toml"), "{message}");
    assert!(
        message.contains("unknown key 'training.epoch'"),
        "{message}"
    );
    assert!(
        message.contains("did you mean 'training.epochs'"),
        "{message}"
    );
}

fn a_typo_in_a_flag_is_named_with_the_flag() {
    let message = load_err(None, &["trainig.batch_size=10"]);
    assert!(
        message.starts_with("--set trainig.batch_size=10: unknown key"),
        "{message}"
    );
    assert!(
        message.contains("did you mean 'training.batch_size'"),
        "{message}"
    );
}

fn bad_values_are_rejected_by_key_and_value() {
    for (flag, needle) in [
        (
            "training.batch_size=0",
            "training.batch_size = 0: must be 1 to 60000",
        ),
        (
            "training.learning_rate=-0.5",
            "training.learning_rate = -0.5: must be a positive number",
        ),
        (
            "model.hidden_size=0",
            "model.hidden_size = 0: must be 1 to 12544",
        ),
        (
            "training.epochs=0",
            "training.epochs = 0: must be at least 1",
        ),
        (
            "output.samples=500",
            "output.samples = 500: must be 1 to 100",
        ),
        ("data.validation_size=60000", "data.validation_size = 60000"),
        ("training.rmsprop.alpha=1.5", "training.rmsprop.alpha = 1.5"),
        (
            "data.url=ftp://x",
            "data.url = ftp://x: must start with http",
        ),
    ] {
        let message = load_err(None, &[flag]);
        assert!(message.starts_with(&format!("--set {flag}: ")), "{message}");
        assert!(message.contains(needle), "{flag}: {message}");
    }
}

/// A bad value of each key of the other kinds of model, and of the loss and Adam: one line
/// naming the key, the value and what it takes (the last flag is the one at fault).
fn the_keys_of_the_other_kinds_are_checked() {
    for (flags, needle) in [
        (&["model.kind=cnn"][..], "model.kind"),
        (
            &["model.hidden_layers=[128, 0]"],
            "model.hidden_layers = [128, 0]: each layer must have 1 to 12544 units",
        ),
        (
            &["model.kind=conv", "model.hidden_layers=[64]"],
            "model.hidden_layers = [64]: applies to kind \"dense\" and \"vae\"",
        ),
        (&["model.activation=tanh"], "model.activation"),
        (
            &["model.code_l1=-1"],
            "model.code_l1 = -1: must be 0 (none) or a positive number",
        ),
        (
            &["model.kind=vae", "model.code_l1=0.001"],
            "model.code_l1 = 0.001: applies to kind \"dense\" only",
        ),
        (
            &["model.kind=conv", "model.conv_channels=[]"],
            "model.conv_channels = []: must list 1 to 5 convolutions",
        ),
        (
            &["model.conv_channels=[16, 0]"],
            "model.conv_channels = [16, 0]: each convolution must have 1 to 1024 channels",
        ),
        (&["model.init=glorot"], "model.init"),
        (&["training.loss=l2"], "training.loss"),
        (&["training.optimizer=sgd"], "training.optimizer"),
        (&["training.adam.beta_1=1"], "training.adam.beta_1 = 1"),
        (
            &["training.adam.beta_2=-0.1"],
            "training.adam.beta_2 = -0.1",
        ),
        (&["training.adam.epsilon=0"], "training.adam.epsilon = 0"),
    ] {
        let message = load_err(None, flags);
        let last = flags[flags.len() - 1];
        assert!(message.starts_with(&format!("--set {last}: ")), "{message}");
        assert!(message.contains(needle), "{flags:?}: {message}");
    }
}

/// The noise level's bounds depend on the kind of noise: a standard deviation in (0, 1] for
/// Gaussian noise, a share in (0, 1) for masking, and anything when there is no noise.
fn the_noise_level_is_checked_against_its_kind() {
    let ok = |flags: &[&str]| {
        Config::load(None, &sets(flags)).unwrap_or_else(|e| panic!("{flags:?}: {e}"));
    };
    ok(&["training.noise=\"gaussian\"", "training.noise_level=1.0"]);
    ok(&["training.noise=\"gaussian\"", "training.noise_level=0.001"]);
    ok(&["training.noise=\"masking\"", "training.noise_level=0.999"]);
    ok(&["training.noise=\"masking\"", "training.noise_level=0.001"]);
    ok(&["training.noise=\"none\"", "training.noise_level=5.0"]);
    for (kind, level) in [
        ("gaussian", "0.0"),
        ("gaussian", "-0.1"),
        ("gaussian", "1.001"),
        ("gaussian", "nan"),
        ("gaussian", "inf"),
        ("masking", "0.0"),
        ("masking", "1.0"),
        ("masking", "-0.5"),
    ] {
        let needle = match kind {
            "gaussian" => "standard deviation: above 0, at most 1",
            _ => "share of pixels zeroed: above 0, below 1",
        };
        let noise = format!("training.noise=\"{kind}\"");
        let level = format!("training.noise_level={level}");
        let message = load_err(None, &[&noise, &level]);
        assert!(
            message.starts_with(&format!("--set {level}: training.noise_level = "))
                && message.contains(needle),
            "{kind} {level}: {message}"
        );
    }
}

fn a_bad_value_in_a_file_names_the_file() {
    let message = load_err(Some("[training]\nbatch_size = 0\n"), &[]);
    assert!(
        message.contains("my.toml': training.batch_size = 0"),
        "{message}"
    );
}

fn wrong_types_name_the_key() {
    let message = load_err(None, &["training.batch_size=many"]);
    assert!(
        message.contains("training.batch_size: invalid type: string \"many\""),
        "{message}"
    );
    let message = load_err(Some("[training]\nepochs = -3\n"), &[]);
    assert!(message.contains("training.epochs"), "{message}");
    let message = load_err(None, &["backend.device=gpu"]);
    assert!(
        message.contains("backend.device: must be \"default\", \"cpu\""),
        "{message}"
    );
    let message = load_err(None, &["model.init=gaussian"]);
    assert!(
        message.contains("model.init: unknown variant `gaussian`"),
        "{message}"
    );
}

fn malformed_toml_and_flags_are_reported_on_one_line() {
    let message = load_err(Some("[training\nepochs = 3\n"), &[]);
    assert!(message.contains("my.toml': line 1:"), "{message}");
    let message = load_err(None, &["training.epochs"]);
    assert!(message.contains("expected KEY=VALUE"), "{message}");
    let message = load_err(None, &["training=3"]);
    assert!(message.contains("training: is a section"), "{message}");
    // The hint names a real key of the section.
    assert!(message.ends_with("e.g. training.batch_size"), "{message}");
}

fn a_missing_config_file_names_the_path() {
    let error = Config::load(Some(Path::new("no/such.toml")), &[]).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(error.to_string().contains("'no/such.toml'"));
}

crate::trials![
    plain the_shipped_default_holds_the_tutorials_settings,
    plain every_shipped_config_parses,
    plain the_shipped_variants_hold_their_documented_settings,
    plain a_partial_file_and_flags_are_laid_over_the_defaults_in_order,
    plain the_resolved_config_round_trips_through_toml,
    plain a_typo_in_a_file_is_named_with_a_suggestion,
    plain a_typo_in_a_flag_is_named_with_the_flag,
    plain bad_values_are_rejected_by_key_and_value,
    plain the_keys_of_the_other_kinds_are_checked,
    plain the_keras_configs_hold_the_blogs_models,
    plain the_noise_level_is_checked_against_its_kind,
    plain a_bad_value_in_a_file_names_the_file,
    plain wrong_types_name_the_key,
    plain malformed_toml_and_flags_are_reported_on_one_line,
    plain a_missing_config_file_names_the_path,
];
