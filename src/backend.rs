//! The one place backends are named. Everything else is generic over `B: Backend`.
//!
//! `ndarray` (CPU) is the default feature; `--no-default-features --features wgpu` selects the
//! GPU backend (Vulkan, Metal or DirectX 12 through wgpu). If both are enabled, wgpu wins, so
//! `--features wgpu` alone also selects it.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::fused::FusedOps;
use crate::fused::plan::{KernelChoice, Plan};

#[cfg(not(any(feature = "ndarray", feature = "wgpu")))]
compile_error!("enable a backend feature: `ndarray` (the default) or `wgpu`");

#[cfg(feature = "wgpu")]
mod selected {
    pub type Backend = burn::backend::Wgpu;
    pub(crate) const NAME: &str = "wgpu";
}

#[cfg(all(feature = "ndarray", not(feature = "wgpu")))]
mod selected {
    pub type Backend = burn::backend::NdArray<f32>;
    pub(crate) const NAME: &str = "ndarray";
}

/// The backend for inference and evaluation.
pub type Backend = selected::Backend;
/// The backend for training: the inference backend with automatic differentiation.
pub type TrainingBackend = burn::backend::Autodiff<Backend>;
/// The cargo feature that picked [`Backend`].
pub(crate) const BACKEND_NAME: &str = selected::NAME;
/// A device of [`Backend`].
pub type Device = burn::tensor::Device<Backend>;

/// Settles what the backend's libraries read from the environment, before any thread starts:
/// `matrixmultiply` splits each product over threads of its own unless `MATMUL_NUM_THREADS`
/// says 1, and the step's kernels split their products over the compute pool themselves.
/// `MNIST_AUTOENCODER_SIMD=avx2` (or `baseline`) keeps this crate's kernels to those
/// instructions, for benchmarks of the paths of processors without AVX-512.
pub fn before_threads() {
    #[cfg(all(feature = "ndarray", not(feature = "wgpu")))]
    {
        use crate::simd::{Simd, cap_simd};
        if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
            // SAFETY: called first thing in `main`, while no other thread reads the environment.
            unsafe { std::env::set_var("MATMUL_NUM_THREADS", "1") };
        }
        match std::env::var("MNIST_AUTOENCODER_SIMD").as_deref() {
            Ok("avx2") => cap_simd(Simd::Avx2),
            Ok("baseline") => cap_simd(Simd::Baseline),
            _ => {}
        }
    }
}

/// Has glibc's allocator keep large freed arrays in the heap, to hand them out again the next
/// step, rather than returning them to the system and faulting in (and zeroing) fresh pages
/// every step: by default an array over 128 KiB at first (32 MiB at most, as the threshold
/// adapts) is a mapping of its own. For the convolutional models, whose activations are
/// megabytes a batch. Measured on an AVX-512 Xeon: an epoch of `config/keras-denoising.toml`
/// on 8,000 images 4.4-5.1 s with these settings, 5.7-6.5 s without; the tutorial's epoch was
/// 10 % slower with them, so it runs without.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MAPPED_ABOVE: i32 = 64 << 20;
        const TRIMMED_ABOVE: i32 = 512 << 20;
        // SAFETY: glibc's `mallopt` takes the allocator's lock; these settings change where
        // it takes memory from, not what it hands out.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MAPPED_ABOVE);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIMMED_ABOVE);
        }
    }
}

/// Runs `work` where this backend computes fastest.
///
/// For ndarray, that is inside a rayon pool with a thread per core, named `compute`: the
/// fused operations ([`crate::fused`]) split their matrix products and passes over it, and
/// Burn's own ndarray operations, which start each product in `rayon::scope`, run inside it
/// instead of handing the work to a pool of their own and waiting.
pub fn run_on_compute_thread<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    #[cfg(all(feature = "ndarray", not(feature = "wgpu")))]
    if let Ok(pool) = rayon::ThreadPoolBuilder::new()
        .thread_name(|_| "compute".to_owned())
        // The main thread's stack size, which the work would otherwise have had.
        .stack_size(8 << 20)
        .build()
    {
        return pool.install(work);
    }
    work()
}

/// The plan of the step's products `backend.kernels` gives a run of `batch` images through
/// `hidden` units, made the backend's (see [`crate::fused::plan`]): timed here on
/// `images` the first time this machine runs that shape (`auto`), then the same plan from
/// its cache; or forced. Backends without kernels of their own ignore it.
#[derive(Debug, Clone)]
pub struct Kernels {
    pub plan: Plan,
    /// Where the plan came from, for the banner: "measured here", "this machine's", ...
    pub source: &'static str,
    /// The timings behind a plan measured now.
    pub timings: Vec<Timing>,
}

#[cfg(all(feature = "ndarray", not(feature = "wgpu")))]
pub use crate::fused::cpu::tune::Timing;

/// The timings of a product's candidates (no backend here has kernels to time).
#[cfg(feature = "wgpu")]
#[derive(Debug, Clone)]
pub struct Timing;

/// Resolves `choice` for a run of `batch` and `hidden` (see [`Kernels`]); `images` gives the
/// images to time with, when timing is needed.
pub(crate) fn prepare_kernels(
    choice: KernelChoice,
    batch: usize,
    hidden: usize,
    images: impl FnOnce() -> Vec<f32>,
) -> Kernels {
    let (plan, source, timings) = match choice {
        KernelChoice::Reference => (Plan::REFERENCE, "the reference plan", Vec::new()),
        KernelChoice::Forced(plan) => (plan, "as configured", Vec::new()),
        KernelChoice::Auto => auto_plan(batch, hidden, images),
    };
    Backend::use_plan(plan);
    Kernels {
        plan,
        source,
        timings,
    }
}

#[cfg(feature = "wgpu")]
fn auto_plan(
    _batch: usize,
    _hidden: usize,
    _images: impl FnOnce() -> Vec<f32>,
) -> (Plan, &'static str, Vec<Timing>) {
    (Plan::REFERENCE, "not used by wgpu", Vec::new())
}

#[cfg(all(feature = "ndarray", not(feature = "wgpu")))]
fn auto_plan(
    batch: usize,
    hidden: usize,
    images: impl FnOnce() -> Vec<f32>,
) -> (Plan, &'static str, Vec<Timing>) {
    use crate::fused::cpu::tune;
    let key = plan_cache::key(batch, hidden);
    if let Some(plan) = plan_cache::get(&key) {
        return (plan, "this machine's, measured before", Vec::new());
    }
    let timings = tune::measure_several(batch, hidden, &images());
    let measured = tune::choose(&timings);
    // Another run may have measured the same shape meanwhile: the first plan stored is the
    // machine's, so that every run of a seed here computes alike.
    match plan_cache::put(&key, measured) {
        Some(plan) if plan != measured => (plan, "this machine's, measured before", timings),
        Some(_) => (measured, "measured here now", timings),
        None => (
            measured,
            "measured here now (no cache folder to keep it)",
            timings,
        ),
    }
}

/// The plans measured on this machine, in the user's cache folder
/// (`$XDG_CACHE_HOME/mnist-autoencoder/kernels.toml`, or `~/.cache/...`), one per shape of run
/// and processor: the planner's memory, as FFTW's wisdom.
#[cfg(all(feature = "ndarray", not(feature = "wgpu")))]
mod plan_cache {
    use std::fs;
    use std::io::{Read, Seek, Write};
    use std::path::PathBuf;

    use crate::fused::plan::Plan;

    fn path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .or_else(|| std::env::var_os("LOCALAPPDATA").map(PathBuf::from))?;
        Some(base.join("mnist-autoencoder").join("kernels.toml"))
    }

    /// This build's kernels: a hash of their code (see `build.rs`), the last part of each key.
    const REVISION: &str = concat!("; kernels ", env!("KERNELS_REVISION"));

    /// What a plan depends on: the processor, its instruction sets, the threads, the shape, and
    /// the kernels' code (plans timed by a build with other kernels are not reused).
    pub(super) fn key(batch: usize, hidden: usize) -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        format!(
            "{cpu}; {:?}; {} threads; batch {batch}; hidden {hidden}{REVISION}",
            crate::simd::simd(),
            crate::fused::cpu::team::threads()
        )
    }

    pub(super) fn get(key: &str) -> Option<Plan> {
        let text = fs::read_to_string(path()?).ok()?;
        let table: toml::Table = toml::from_str(&text).ok()?;
        table.get(key)?.as_str()?.parse().ok()
    }

    /// Stores `plan` for `key` unless a plan is there already, and drops the plans of builds
    /// with other kernels; returns the plan stored, or `None` when there is no cache to store
    /// it in.
    pub(super) fn put(key: &str, plan: Plan) -> Option<Plan> {
        let path = path()?;
        fs::create_dir_all(path.parent()?).ok()?;
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .ok()?;
        file.lock().ok()?;
        let mut text = String::new();
        file.read_to_string(&mut text).ok()?;
        // A damaged cache is only a cache: started again.
        let mut table: toml::Table = toml::from_str(&text).unwrap_or_default();
        if let Some(stored) = table.get(key).and_then(|v| v.as_str()?.parse().ok()) {
            return Some(stored);
        }
        table.retain(|stored, _| stored.ends_with(REVISION));
        table.insert(key.to_owned(), toml::Value::String(plan.to_string()));
        let text = toml::to_string(&table).ok()?;
        file.set_len(0).ok()?;
        file.rewind().ok()?;
        file.write_all(text.as_bytes()).ok()?;
        file.sync_all().ok()?;
        Some(plan)
    }
}

/// Which device `backend.device` asks for; read and written as its text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// The backend's choice: the CPU for ndarray, the most capable adapter for wgpu.
    Default,
    /// A CPU (for wgpu: a software adapter such as Mesa's lavapipe).
    Cpu,
    /// The Nth discrete GPU (wgpu).
    Discrete(usize),
    /// The Nth integrated GPU (wgpu).
    Integrated(usize),
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let indexed = |rest: &str| {
            rest.parse::<usize>()
                .map_err(|_| format!("'{rest}' is not a device index"))
        };
        match text {
            "default" => Ok(Self::Default),
            "cpu" => Ok(Self::Cpu),
            _ => match text.split_once(':') {
                Some(("discrete", n)) => indexed(n).map(Self::Discrete),
                Some(("integrated", n)) => indexed(n).map(Self::Integrated),
                _ => Err(
                    "must be \"default\", \"cpu\", \"discrete:N\" or \"integrated:N\"".to_owned(),
                ),
            },
        }
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(spec: DeviceSpec) -> String {
        spec.to_string()
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => write!(f, "default"),
            Self::Cpu => write!(f, "cpu"),
            Self::Discrete(n) => write!(f, "discrete:{n}"),
            Self::Integrated(n) => write!(f, "integrated:{n}"),
        }
    }
}

#[derive(Debug, Error)]
#[error("backend.device = \"{spec}\": {reason}")]
pub struct DeviceError {
    pub spec: DeviceSpec,
    pub reason: String,
}

/// The device `spec` names, checked to work: a missing GPU driver is an error, not a panic
/// deep inside the first kernel.
pub fn device(spec: DeviceSpec) -> Result<Device, DeviceError> {
    let device = select(spec)?;
    if !probe(&device) {
        return Err(DeviceError {
            spec,
            reason: format!(
                "the {BACKEND_NAME} backend found no usable adapter; install a GPU driver (on Linux a Vulkan driver, e.g. Debian's mesa-vulkan-drivers), choose another backend.device, or build the default ndarray backend"
            ),
        });
    }
    Ok(device)
}

#[cfg(feature = "wgpu")]
fn select(spec: DeviceSpec) -> Result<Device, DeviceError> {
    use burn::backend::wgpu::WgpuDevice;
    Ok(match spec {
        DeviceSpec::Default => WgpuDevice::DefaultDevice,
        DeviceSpec::Cpu => WgpuDevice::Cpu,
        DeviceSpec::Discrete(n) => WgpuDevice::DiscreteGpu(n),
        DeviceSpec::Integrated(n) => WgpuDevice::IntegratedGpu(n),
    })
}

#[cfg(all(feature = "ndarray", not(feature = "wgpu")))]
fn select(spec: DeviceSpec) -> Result<Device, DeviceError> {
    match spec {
        DeviceSpec::Default | DeviceSpec::Cpu => Ok(burn::backend::ndarray::NdArrayDevice::Cpu),
        _ => Err(DeviceError {
            spec,
            reason: "GPUs need the wgpu backend; this build has ndarray (build with --no-default-features --features wgpu)".to_owned(),
        }),
    }
}

/// Whether one tiny operation runs on `device`. Backends report a missing adapter by panicking
/// (wgpu on its device thread, which leaves this one a bare `RecvError`, so the message carries
/// nothing worth showing); the panic is caught here and its report silenced.
fn probe(device: &Device) -> bool {
    use burn::tensor::Tensor;
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(|| {
        Tensor::<Backend, 1>::zeros([1], device).into_data();
    });
    std::panic::set_hook(previous_hook);
    outcome.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specs_parse_and_print_back() {
        for (text, spec) in [
            ("default", DeviceSpec::Default),
            ("cpu", DeviceSpec::Cpu),
            ("discrete:1", DeviceSpec::Discrete(1)),
            ("integrated:0", DeviceSpec::Integrated(0)),
        ] {
            assert_eq!(text.parse::<DeviceSpec>(), Ok(spec));
            assert_eq!(String::from(spec), text);
        }
    }

    #[test]
    fn a_bad_device_spec_says_what_is_accepted() {
        assert!(
            "gpu"
                .parse::<DeviceSpec>()
                .unwrap_err()
                .contains("discrete:N")
        );
        let err = "discrete:x".parse::<DeviceSpec>().unwrap_err();
        assert!(err.contains("'x' is not a device index"), "{err}");
    }
}
