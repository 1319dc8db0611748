//! The one place backends are named. Everything else is generic over `B: Backend`.
//!
//! `ndarray` (CPU) is the default feature; `--no-default-features --features wgpu` selects the
//! GPU backend (Vulkan, Metal or DirectX 12 through wgpu). If both are enabled, wgpu wins, so
//! `--features wgpu` alone also selects it.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

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

/// Runs `work` where this backend computes fastest.
///
/// For ndarray, that is inside a rayon pool with a thread per core, named `compute`: the
/// fused operations ([`crate::model::fused`]) split their matrix products and passes over it, and
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
