//! The integration tests: one binary, so Burn is linked once, with libtest-mimic as its harness,
//! so that a test whose real dataset is missing is reported as ignored (and why), not as passed.

use std::process::ExitCode;

// These train, for a second or two each on ndarray: not on lavapipe.
#[cfg(not(feature = "wgpu"))]
mod advice;
#[cfg(all(feature = "ndarray", feature = "wgpu"))]
mod backends;
mod cli;
mod common;
mod config;
mod data;
mod download;
mod end_to_end;
#[cfg(not(feature = "wgpu"))]
mod faults;
mod fused;
mod interop;
#[cfg(not(feature = "wgpu"))]
mod kernels;
#[cfg(not(feature = "wgpu"))]
mod kinds;
mod model;
#[cfg(not(feature = "wgpu"))]
mod nothing_lost;
mod optim;
mod reference;
// These train for seconds per test: on ndarray only (on lavapipe they would take minutes;
// bit-identical resume is an ndarray promise).
#[cfg(not(feature = "wgpu"))]
mod pen;
#[cfg(not(feature = "wgpu"))]
mod pictures;
#[cfg(not(feature = "wgpu"))]
mod resume;

fn main() -> ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let mut trials = Vec::new();
    #[cfg(all(feature = "ndarray", feature = "wgpu"))]
    trials.extend(backends::trials());
    trials.extend(cli::trials());
    trials.extend(config::trials());
    trials.extend(data::trials());
    trials.extend(download::trials());
    trials.extend(end_to_end::trials());
    trials.extend(fused::trials());
    trials.extend(interop::trials());
    trials.extend(model::trials());
    trials.extend(optim::trials());
    trials.extend(reference::trials());
    #[cfg(not(feature = "wgpu"))]
    {
        trials.extend(advice::trials());
        trials.extend(faults::trials());
        trials.extend(kernels::trials());
        trials.extend(kinds::trials());
        trials.extend(nothing_lost::trials());
        trials.extend(pictures::trials());
        trials.extend(resume::trials());
    }
    let conclusion = libtest_mimic::run(&args, trials);
    common::remove_test_cache();
    conclusion.exit_code()
}
