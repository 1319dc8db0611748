//! The plan of the step's kernels: timed once per machine and shape, kept with each run so that
//! a resume and a repeat compute alike, or forced; and the choice among timings.

use std::fs;

use mnist_autoencoder::fused::cpu::tune::{self, Timing};
use mnist_autoencoder::fused::plan::{Kernel, Plan, Product};

use crate::common::{
    SMALL, assert_one_line_error, command_in, cost_bits, run_in, stderr, stdout, synthetic_run,
    train, train_ok, weight_bits,
};

/// The plan a run's `config.toml` records.
fn recorded(dir: &std::path::Path) -> String {
    let config = fs::read_to_string(dir.join("config.toml")).unwrap();
    let line = config
        .lines()
        .find(|l| l.starts_with("kernels = "))
        .unwrap();
    line.trim_start_matches("kernels = ")
        .trim_matches('"')
        .to_owned()
}

/// `auto` times the kernels the first time a shape runs on this machine and keeps the plan in
/// the cache folder; later runs of that shape use it, and every run records its plan, which a
/// resume follows whatever the cache says.
fn auto_times_once_per_machine_and_shape_and_every_run_keeps_its_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let cache = tmp.path().join("cache");
    let with_cache = |args: &[&str]| {
        let mut command = command_in(tmp.path(), args);
        command.env("XDG_CACHE_HOME", &cache);
        command.output().unwrap()
    };
    let train_args = |out: &str, epochs: &str| {
        let mut args = vec!["train".to_owned()];
        let flags = [
            format!("data.dir={}", data.display()),
            format!("output.dir={}", tmp.path().join(out).display()),
            "output.dashboard=plain".to_owned(),
            format!("training.epochs={epochs}"),
        ];
        for flag in SMALL[..4].iter().map(|s| s.to_string()).chain(flags) {
            args.extend(["--set".to_owned(), flag]);
        }
        args
    };
    let run = |out: &str, epochs: &str| {
        let args = train_args(out, epochs);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = with_cache(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let first = run("first", "2");
    assert!(first.contains("Kernels (measured here now): "), "{first}");
    let plan: Plan = recorded(&tmp.path().join("first")).parse().unwrap();
    assert!(
        plan.flush_subnormals,
        "a measured plan computes as TensorFlow does"
    );
    let kept = fs::read_to_string(cache.join("mnist-autoencoder/kernels.toml")).unwrap();
    assert!(kept.contains(&plan.to_string()), "{kept}");
    let second = run("second", "2");
    assert!(
        second.contains("Kernels (this machine's, measured before): "),
        "{second}"
    );
    assert_eq!(recorded(&tmp.path().join("second")), plan.to_string());
    // Same seed, same machine, same plan: the same run.
    let (first_dir, second_dir) = (tmp.path().join("first"), tmp.path().join("second"));
    assert_eq!(cost_bits(&first_dir), cost_bits(&second_dir));
    assert!(weight_bits(&first_dir) == weight_bits(&second_dir));

    // Another plan in the cache, or none: a resume keeps the run's own.
    fs::write(
        cache.join("mnist-autoencoder/kernels.toml"),
        "not toml at all [",
    )
    .unwrap();
    let more = with_cache(&[
        "train",
        "--resume",
        first_dir.to_str().unwrap(),
        "--set",
        "training.epochs=3",
    ]);
    assert!(more.status.success(), "{}", stderr(&more));
    assert!(
        stdout(&more).contains("Kernels (as configured): "),
        "{}",
        stdout(&more)
    );
    assert_eq!(recorded(&first_dir), plan.to_string());
    // A damaged cache is measured into again, not an error.
    let third = run("third", "1");
    assert!(third.contains("Kernels (measured here now): "), "{third}");
}

/// A plan in the cache timed by a build with other kernels (another `KERNELS_REVISION`, see
/// build.rs) is not used: the run times the kernels again, and the stale plans are dropped.
fn plans_timed_by_a_build_with_other_kernels_are_timed_again() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let cache = tmp.path().join("cache");
    let kept = cache.join("mnist-autoencoder/kernels.toml");
    let run = |out: &str| {
        let mut args = vec!["train".to_owned()];
        let flags = [
            format!("data.dir={}", data.display()),
            format!("output.dir={}", tmp.path().join(out).display()),
            "output.dashboard=plain".to_owned(),
            "training.epochs=1".to_owned(),
        ];
        for flag in SMALL[..4].iter().map(|s| s.to_string()).chain(flags) {
            args.extend(["--set".to_owned(), flag]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = command_in(tmp.path(), &args);
        let output = command.env("XDG_CACHE_HOME", &cache).output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let first = run("first");
    assert!(first.contains("Kernels (measured here now): "), "{first}");
    let ours = fs::read_to_string(&kept).unwrap();
    let (key, plan) = ours
        .trim()
        .split_once(" = ")
        .expect("one plan, `key = plan`");
    let (shape, revision) = key
        .rsplit_once("; kernels ")
        .expect("the kernels' revision");
    assert_eq!(revision.len(), 17, "a 16-digit hash and the quote: {key}");
    // The same machine and shape, as an older build of other kernels would have kept it.
    let stale = format!("{shape}; kernels 0123456789abcdef\" = {plan}\n");
    fs::write(&kept, &stale).unwrap();
    let second = run("second");
    assert!(second.contains("Kernels (measured here now): "), "{second}");
    let now = fs::read_to_string(&kept).unwrap();
    assert!(
        now.contains(key) && !now.contains("0123456789abcdef"),
        "{now}"
    );
}

/// A forced plan is the run's plan, and a plan that is not one is one line naming the key.
fn a_forced_plan_is_used_and_a_wrong_one_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let plan = "x.W1=gemm h.W2=matrixmultiply-1 hT.dz2=gemm-avx512-1 dz2.W2T=matrixmultiply xT.dz1=skip-zeros subnormals=flush";
    let flag = format!("backend.kernels={plan}");
    let out = train_ok(
        tmp.path(),
        &data,
        &tmp.path().join("forced"),
        &[&SMALL[..], &["training.epochs=1", &flag]].concat(),
    );
    assert!(
        out.contains(&format!("Kernels (as configured): {plan}")),
        "{out}"
    );
    assert_eq!(recorded(&tmp.path().join("forced")), plan);
    let reference = train_ok(
        tmp.path(),
        &data,
        &tmp.path().join("reference"),
        &[
            &SMALL[..],
            &["training.epochs=1", "backend.kernels=reference"],
        ]
        .concat(),
    );
    assert!(
        reference.contains("Kernels (the reference plan): "),
        "{reference}"
    );
    assert_eq!(recorded(&tmp.path().join("reference")), "reference");

    let bad = train(
        tmp.path(),
        &data,
        &tmp.path().join("bad"),
        &["backend.kernels=h.W2=skip-zeros"],
    );
    assert_one_line_error(
        &bad,
        &[
            "backend.kernels",
            "\"auto\", \"reference\" or a plan such as",
        ],
    );
    let forced = tmp.path().join("forced");
    let output = run_in(
        tmp.path(),
        &[
            "train",
            "--resume",
            forced.to_str().unwrap(),
            "--set",
            &flag,
        ],
    );
    assert_one_line_error(&output, &["a resumed run keeps its settings"]);
}

/// The fastest kernel wins; the reference plan's keeps its product unless another is faster
/// by more than the margin.
fn the_fastest_kernel_wins_by_more_than_the_margin() {
    // The median says the opposite of the undisturbed seconds the choice goes by.
    let timing = |undisturbed: &[(Kernel, f64)]| Timing {
        product: Product::CodeWeights,
        seconds: undisturbed.iter().map(|(k, s)| (*k, 2.0 - s)).collect(),
        undisturbed: undisturbed.to_vec(),
    };
    let close = timing(&[(Kernel::Gemm, 1.0), (Kernel::Matrixmultiply, 0.99)]);
    assert_eq!(close.fastest().0, Kernel::Gemm, "within the margin");
    let clear = timing(&[(Kernel::Gemm, 1.0), (Kernel::Matrixmultiply, 0.9)]);
    assert_eq!(clear.fastest().0, Kernel::Matrixmultiply);
    let plan = tune::choose(&[clear]);
    assert_eq!(plan.kernel(Product::CodeWeights), Kernel::Matrixmultiply);
    assert_eq!(
        plan.kernel(Product::ImagesWeights),
        Plan::REFERENCE.kernel(Product::ImagesWeights),
        "an untimed product keeps the reference kernel"
    );
    // Timed for real: every candidate of every product, a finite time each.
    let images: Vec<f32> = (0..4 * 8 * 784)
        .map(|i| if i % 5 < 3 { 0.0 } else { 0.5 })
        .collect();
    let timings = tune::measure(8, 16, &images);
    assert_eq!(timings.len(), 5);
    for timing in &timings {
        let expected = tune::candidates()
            .into_iter()
            .filter(|k| k.computes(timing.product))
            .count();
        for seconds in [&timing.seconds, &timing.undisturbed] {
            assert_eq!(seconds.len(), expected, "{:?}", timing.product);
            assert!(seconds.iter().all(|(_, s)| s.is_finite() && *s > 0.0));
        }
    }
}

crate::trials![
    plain auto_times_once_per_machine_and_shape_and_every_run_keeps_its_plan,
    plain plans_timed_by_a_build_with_other_kernels_are_timed_again,
    plain a_forced_plan_is_used_and_a_wrong_one_is_one_line,
    plain the_fastest_kernel_wins_by_more_than_the_margin,
];
