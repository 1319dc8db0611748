//! TF1's RMSProp: its first steps against values worked out by hand from TF1's update rule.
//!
//! With w = [1, -2], a constant gradient g = [0.5, -4], lr 0.01 and decay 0.9:
//! step 1: ms = 0.9 * 1 + 0.1 * g^2 = [0.925, 2.5];
//!         w -= 0.01 * g / sqrt(ms) = [0.0051988, -0.0252982] -> [0.9948012, -1.9747018]
//! step 2: ms = 0.9 * [0.925, 2.5] + 0.1 * g^2 = [0.8575, 3.85];
//!         w -= 0.01 * g / sqrt(ms) = [0.0053995, -0.0203859] -> [0.9894018, -1.9543159]

use burn::optim::{GradientsParams, Optimizer, SimpleOptimizer};
use burn::prelude::*;
use mnist_autoencoder::model::Init;
use mnist_autoencoder::model::{Autoencoder, AutoencoderConfig};
use mnist_autoencoder::optim::{RmsPropSettings, Tf1RmsPropConfig};

type B = mnist_autoencoder::backend::Backend;
type AB = mnist_autoencoder::backend::TrainingBackend;

/// Runs `steps` updates of a simple optimiser on w = [1, -2] with gradient [0.5, -4].
fn steps<O: SimpleOptimizer<B>>(optim: &O, steps: usize) -> Vec<Vec<f32>> {
    let device = Default::default();
    let mut w = Tensor::<B, 1>::from_floats([1.0, -2.0], &device);
    let grad = Tensor::<B, 1>::from_floats([0.5, -4.0], &device);
    let mut state: Option<O::State<1>> = None;
    let mut seen = Vec::new();
    for _ in 0..steps {
        let (next, next_state) = optim.step(0.01, w, grad.clone(), state);
        seen.push(next.clone().into_data().to_vec::<f32>().unwrap());
        (w, state) = (next, next_state);
    }
    seen
}

fn assert_close(got: &[Vec<f32>], want: &[[f64; 2]]) {
    for (g, w) in got.iter().zip(want) {
        for (a, b) in g.iter().zip(w) {
            assert!(
                (f64::from(*a) - b).abs() < 2e-6,
                "got {got:?}, want {want:?}"
            );
        }
    }
}

fn defaults_are_tf1s() {
    let config = Tf1RmsPropConfig::new();
    assert_eq!(
        (
            config.decay,
            config.momentum,
            config.epsilon,
            config.centered
        ),
        (0.9, 0.0, 1e-10, false)
    );
}

fn first_steps_match_tf1_by_hand() {
    let got = steps(&Tf1RmsPropConfig::new().build(), 2);
    assert_close(
        &got,
        &[
            [0.9948012475511806, -1.974701778719159],
            [0.989401755079935, -1.9543158910619187],
        ],
    );
}

fn momentum_accumulates_the_scaled_steps() {
    // mom2 = 0.5 * step1 + step2
    let got = steps(&Tf1RmsPropConfig::new().with_momentum(0.5).build(), 2);
    assert_close(
        &got,
        &[
            [0.9948012475511806, -1.974701778719159],
            [0.9868023788555254, -1.9416667804214982],
        ],
    );
}

fn centered_subtracts_the_squared_mean_gradient() {
    // step 1: mg = 0.1 * g = [0.05, -0.4]; denominator ms - mg^2 = [0.9225, 2.34]
    let got = steps(&Tf1RmsPropConfig::new().with_centered(true).build(), 2);
    assert_close(
        &got,
        &[
            [0.9947942079373286, -1.9738511819821343],
            [0.9893660749515815, -1.95173924442225],
        ],
    );
}

/// A large epsilon shows where it goes: TF1 adds it inside the root.
/// decay 0.5, epsilon 1: step 1: ms = 0.5 * 1 + 0.5 * g^2 = [0.625, 8.5];
///   w -= 0.01 * g / sqrt(ms + 1) = [0.0039223, -0.0129777] -> [0.9960777, -1.9870223]
/// (outside the root, as Burn places it, the first step would be [0.0027847, ...]).
/// step 2: ms = 0.5 * ms + 0.5 * g^2 = [0.4375, 12.25]; w -= 0.01 * g / sqrt(ms + 1).
fn a_large_epsilon_goes_inside_the_root() {
    let got = steps(
        &Tf1RmsPropConfig::new()
            .with_decay(0.5)
            .with_epsilon(1.0)
            .build(),
        2,
    );
    assert_close(
        &got,
        &[
            [0.9960776772972363, -1.987022286309539],
            [0.9919073890160948, -1.976033441193644],
        ],
    );
}

/// Every setting away from its default at once: decay 0.5, momentum 0.5, epsilon 0.25, centred.
/// step 1: ms = [0.625, 8.5], mg = 0.5 * g = [0.25, -2], denominator ms - mg^2 + eps =
///   [0.8125, 4.75]; mom = 0.01 * g / sqrt(..) = [0.0055470, -0.0183533].
/// step 2: ms = [0.4375, 12.25], mg = [0.375, -3], ms - mg^2 + eps = [0.546875, 3.5];
///   mom = 0.5 * mom + 0.01 * g / sqrt(..).
fn every_tf1_setting_at_once_matches_the_rule_by_hand() {
    let settings = RmsPropSettings {
        alpha: 0.5,
        momentum: 0.5,
        epsilon: 0.25,
        centered: true,
    };
    assert_close(
        &steps(&settings.tf1().build(), 2),
        &[
            [0.9944529980377477, -1.9816467412903551],
            [0.9849182630187934, -1.9510892125825388],
        ],
    );
}

/// Burn's update with the same settings (alpha 0.5, epsilon 1): mean square from zero, epsilon
/// outside the root. step 1: sq = 0.5 * g^2 = [0.125, 8]; w -= 0.01 * g / (sqrt(sq) + 1).
/// step 2: sq = 0.5 * sq + 0.5 * g^2 = [0.1875, 12].
fn burns_update_keeps_epsilon_outside_and_starts_from_zero() {
    let settings = RmsPropSettings {
        alpha: 0.5,
        momentum: 0.0,
        epsilon: 1.0,
        centered: false,
    };
    assert_close(
        &steps(&settings.burn().build(), 2),
        &[
            [0.9963060193748187, -1.9895518450014504],
            [0.9928168667710785, -1.9805914754918585],
        ],
    );
}

/// Burn's update with every setting away from its default: alpha 0.5, momentum 0.5, epsilon
/// 0.25, centred. step 1: sq = [0.125, 8], mean g = [0.25, -2], sq - mean^2 = [0.0625, 4];
/// d = g / (sqrt(..) + 0.25) = [1, -1.7777778]; buf = d; w -= 0.01 * buf.
/// step 2: sq = [0.1875, 12], mean = [0.375, -3], sq - mean^2 = [0.046875, 3];
/// buf = 0.5 * buf + g / (sqrt(..) + 0.25).
fn every_burn_setting_at_once_matches_the_rule_by_hand() {
    let settings = RmsPropSettings {
        alpha: 0.5,
        momentum: 0.5,
        epsilon: 0.25,
        centered: true,
    };
    assert_close(
        &steps(&settings.burn().build(), 2),
        &[
            [0.99, -1.9822222222222223],
            [0.9742820323027551, -1.953152215953672],
        ],
    );
}

fn a_step_through_the_learner_adaptor_lowers_the_loss() {
    let device = Default::default();
    AB::seed(&device, 3);
    let model: Autoencoder<AB> = AutoencoderConfig::from_settings(64, Init::Normal).init(&device);
    let batch = Tensor::<AB, 2>::random(
        [16, 784],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &device,
    );
    let mut optim = Tf1RmsPropConfig::new().init();
    let loss = model.loss(batch.clone());
    let before = loss.clone().into_scalar().elem::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optim.step(0.01, model, grads);
    let after = model.loss(batch.clone()).into_scalar().elem::<f32>();
    assert!(after < before, "loss went from {before} to {after}");
    // The state persists across steps (a record of four parameter states).
    let record = optim.to_record();
    assert_eq!(record.len(), 4);
}

crate::trials![
    plain defaults_are_tf1s,
    plain first_steps_match_tf1_by_hand,
    plain momentum_accumulates_the_scaled_steps,
    plain centered_subtracts_the_squared_mean_gradient,
    plain a_large_epsilon_goes_inside_the_root,
    plain every_tf1_setting_at_once_matches_the_rule_by_hand,
    plain burns_update_keeps_epsilon_outside_and_starts_from_zero,
    plain every_burn_setting_at_once_matches_the_rule_by_hand,
    plain a_step_through_the_learner_adaptor_lowers_the_loss,
];
