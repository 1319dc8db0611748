//! The one place backends are named. Everything else is generic over `B: Backend`.
//!
//! `ndarray` (CPU) is the default feature; `--no-default-features --features wgpu` selects the
//! GPU backend (Vulkan, Metal or DirectX 12 through wgpu). If both are enabled, wgpu wins, so
//! `--features wgpu` alone also selects it.

#[cfg(not(any(feature = "ndarray", feature = "wgpu")))]
compile_error!("enable a backend feature: `ndarray` (the default) or `wgpu`");

#[cfg(feature = "wgpu")]
mod selected {
    pub type Backend = burn::backend::Wgpu;
    pub const NAME: &str = "wgpu";
}

#[cfg(all(feature = "ndarray", not(feature = "wgpu")))]
mod selected {
    pub type Backend = burn::backend::NdArray<f32>;
    pub const NAME: &str = "ndarray";
}

/// The backend for inference and evaluation.
pub type Backend = selected::Backend;
/// The backend for training: the inference backend with automatic differentiation.
pub type TrainingBackend = burn::backend::Autodiff<Backend>;
/// The cargo feature that picked [`Backend`].
pub const BACKEND_NAME: &str = selected::NAME;
