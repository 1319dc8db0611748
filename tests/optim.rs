//! TF1's RMSProp: its first steps against values worked out by hand from TF1's update rule.
//!
//! With w = [1, -2], a constant gradient g = [0.5, -4], lr 0.01 and decay 0.9:
//! step 1: ms = 0.9 * 1 + 0.1 * g^2 = [0.925, 2.5];
//!         w -= 0.01 * g / sqrt(ms) = [0.0051988, -0.0252982] -> [0.9948012, -1.9747018]
//! step 2: ms = 0.9 * [0.925, 2.5] + 0.1 * g^2 = [0.8575, 3.85];
//!         w -= 0.01 * g / sqrt(ms) = [0.0053995, -0.0203859] -> [0.9894018, -1.9543159]

use burn::optim::{GradientsParams, Optimizer, SimpleOptimizer};
use burn::prelude::*;
use mnist_autoencoder::config::Init;
use mnist_autoencoder::model::{Autoencoder, AutoencoderConfig};
use mnist_autoencoder::optim::{Tf1RmsProp, Tf1RmsPropConfig, Tf1RmsPropState};

type B = mnist_autoencoder::backend::Backend;
type AB = mnist_autoencoder::backend::TrainingBackend;

/// Runs `steps` updates of the simple optimiser on w = [1, -2] with gradient [0.5, -4].
fn steps(optim: &Tf1RmsProp, steps: usize) -> Vec<Vec<f32>> {
    let device = Default::default();
    let mut w = Tensor::<B, 1>::from_floats([1.0, -2.0], &device);
    let grad = Tensor::<B, 1>::from_floats([0.5, -4.0], &device);
    let mut state: Option<Tf1RmsPropState<B, 1>> = None;
    let mut seen = Vec::new();
    for _ in 0..steps {
        let (next, next_state) = SimpleOptimizer::<B>::step(optim, 0.01, w, grad.clone(), state);
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
    plain a_step_through_the_learner_adaptor_lowers_the_loss,
];
